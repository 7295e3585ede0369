/* SPDX-License-Identifier: MIT */
/*
 * virtio-scsi control and event queues (§5.6.6.2, §5.6.6.3): task
 * management aborting real in-flight commands (their completions used
 * before the TMF's answer), QUERY TASK, LUN and I_T nexus resets,
 * rejected and malformed TMFs, asynchronous-notification queries;
 * hot-plug events (RESCAN / REMOVED), also for 130 LUNs on a queue of 8
 * event buffers, capacity-change events, EVENTS_MISSED when the event
 * queue was empty, and the features gating them. (AN subscriptions and
 * media events: test_virtio_scsi_an.c.)
 */
#include "test_virtio_scsi_util.h"

static struct vt *up(const char *spec, uint64_t features, int msix)
{
	struct vt *t = vt_new(spec);

	t->msix = msix;
	vt_disk(t, 0, 0, 256, 512);
	vt_disk(t, 0, 1, 256, 512);
	vt_up(t, features, 0);
	vt_clear_ua(t, 0, 0);
	vt_clear_ua(t, 0, 1);
	return t;
}

static uint64_t write_async(struct vt *t, unsigned int lun, uint64_t tag, uint32_t lba)
{
	static uint8_t data[512];
	struct vt_cmd c;

	memset(data, 0x6b, sizeof(data));
	vt_cmd_init(&c, 0, lun);
	c.tag = tag;
	vt_rw10(&c, 1, lba, 1);
	c.dout = data;
	c.dout_len = sizeof(data);
	return vt_submit(t, 2, &c);
}

/* Index of the first recorded MSI with @data, or -1. */
static int msi_index(const struct mock_vmm *mv, uint32_t data)
{
	for (size_t i = 0; i < mv->n_msi; i++)
		if (mv->msi[i].data == data)
			return (int)i;
	return -1;
}

static void test_abort_task(void **state)
{
	struct vt *t = up("virtio-scsi-pci", 0, 1);
	struct vt_res r;
	uint64_t tk;

	(void)state;
	tk = write_async(t, 0, 0x55, 7);
	assert_int_equal(vt_collect(t, 2, &r), 0); /* in flight at the backend */
	assert_int_equal(vt_tmf(t, TMF_QUERY_TASK, 0, 0, 0x55), S_FUNCTION_SUCCEEDED);
	assert_int_equal(vt_tmf(t, TMF_QUERY_TASK, 0, 0, 0x56), S_OK);
	assert_int_equal(vt_tmf(t, TMF_QUERY_TASK_SET, 0, 0, 0), S_FUNCTION_SUCCEEDED);
	assert_int_equal(vt_tmf(t, TMF_QUERY_TASK_SET, 0, 1, 0), S_OK);
	assert_int_equal(vt_collect(t, 2, &r), 0);

	mock_vmm_clear_events(&t->mv);
	assert_int_equal(vt_tmf(t, TMF_ABORT_TASK, 0, 0, 0x55), S_OK);
	/* The aborted command was used, and its interrupt sent, before the TMF's. */
	assert_true(msi_index(&t->mv, 0x102) >= 0);
	assert_true(msi_index(&t->mv, 0x102) < msi_index(&t->mv, 0x100));
	assert_int_equal(vt_collect(t, 2, &r), 1);
	assert_int_equal(r.token, tk);
	assert_int_equal(r.response, S_ABORTED);
	assert_int_equal(r.used, 108);
	/* Exactly once: the backend's late completion changes nothing. */
	vt_poll(t);
	assert_int_equal(vt_collect(t, 2, &r), 0);
	assert_int_equal(vt_tmf(t, TMF_QUERY_TASK, 0, 0, 0x55), S_OK);
	/* Aborting a task that is not there completes too. */
	assert_int_equal(vt_tmf(t, TMF_ABORT_TASK, 0, 0, 0x55), S_OK);

	/* ABORT TASK SET and CLEAR TASK SET take every task of their LUN only. */
	write_async(t, 0, 1, 1);
	write_async(t, 0, 2, 2);
	write_async(t, 1, 3, 3);
	assert_int_equal(vt_tmf(t, TMF_ABORT_TASK_SET, 0, 0, 0), S_OK);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(vt_collect(t, 2, &r), 1);
		assert_int_equal(r.response, S_ABORTED);
	}
	assert_int_equal(vt_collect(t, 2, &r), 0);
	assert_int_equal(vt_tmf(t, TMF_CLEAR_TASK_SET, 0, 1, 0), S_OK);
	assert_int_equal(vt_collect(t, 2, &r), 1);
	assert_int_equal(r.response, S_ABORTED);
	vt_poll(t);
	assert_int_equal(vt_collect(t, 2, &r), 0);
	vt_free(t);
}

static void test_resets(void **state)
{
	struct vt *t = up("virtio-scsi-pci", 0, 0);
	struct vt_cmd c;
	struct vt_res r;

	(void)state;
	/* LUN reset: the command ends with RESET, the LUN reports the reset. */
	write_async(t, 0, 9, 9);
	write_async(t, 1, 10, 9);
	assert_int_equal(vt_tmf(t, TMF_LUN_RESET, 0, 0, 0), S_OK);
	assert_int_equal(vt_collect(t, 2, &r), 1);
	assert_int_equal(r.response, S_RESET);
	assert_int_equal(vt_collect(t, 2, &r), 0);
	vt_poll(t);
	assert_int_equal(vt_collect(t, 2, &r), 1); /* LUN 1's write was not touched */
	assert_int_equal(r.response, S_OK);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	vt_cmd_init(&c, 0, 0);
	vt_tur(&c);
	vt_run(t, 2, &c, &r);
	vt_expect_sense(&r, VDEV_SCSI_SK_UNIT_ATTENTION, 0x29);

	/* I_T nexus reset: every LUN of the target. */
	write_async(t, 0, 11, 9);
	write_async(t, 1, 12, 9);
	assert_int_equal(vt_tmf(t, TMF_I_T_NEXUS_RESET, 0, 0, 0), S_OK);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(vt_collect(t, 2, &r), 1);
		assert_int_equal(r.response, S_RESET);
	}
	vt_poll(t);
	assert_int_equal(vt_collect(t, 2, &r), 0);
	vt_free(t);
}

static void test_tmf_errors(void **state)
{
	struct vt *t = up("virtio-scsi-mmio", 0, 0);
	uint8_t b[32];
	struct vt_res r;

	(void)state;
	assert_int_equal(vt_tmf(t, TMF_CLEAR_ACA, 0, 0, 0), S_FUNCTION_REJECTED);
	assert_int_equal(vt_tmf(t, 99, 0, 0, 0), S_FUNCTION_REJECTED);
	assert_int_equal(vt_tmf(t, TMF_LUN_RESET, 9, 0, 0), S_BAD_TARGET);     /* no target 9 */
	assert_int_equal(vt_tmf(t, TMF_I_T_NEXUS_RESET, 9, 0, 0), S_BAD_TARGET);
	assert_int_equal(vt_tmf(t, TMF_LUN_RESET, 0, 5, 0), S_INCORRECT_LUN);  /* no LUN 5 */
	/* Malformed LUN field. */
	vt_tmf_req(b, TMF_LUN_RESET, 0, 0, 0);
	b[8] = 3;
	vt_ctrl(t, b, 24, 1, 1);
	assert_int_equal(vt_collect(t, 0, &r), 1);
	assert_int_equal(r.used, 1);
	assert_int_equal(r.resp[0], S_BAD_TARGET);
	/* A TMF request cut short: FAILURE. */
	vt_tmf_req(b, TMF_LUN_RESET, 0, 0, 0);
	vt_ctrl(t, b, 20, 1, 1);
	assert_int_equal(vt_collect(t, 0, &r), 1);
	assert_int_equal(r.used, 1);
	assert_int_equal(r.resp[0], S_FAILURE);
	/* No room for an answer: 0 bytes. */
	vt_ctrl(t, b, 24, 0, 1);
	assert_int_equal(vt_collect(t, 0, &r), 1);
	assert_int_equal(r.used, 0);
	/* An unknown request type, and one too short to have a type. */
	memset(b, 0, sizeof(b));
	vt_put32(b, 77);
	vt_ctrl(t, b, 32, 8, 1);
	assert_int_equal(vt_collect(t, 0, &r), 1);
	assert_int_equal(r.used, 0);
	vt_ctrl(t, b, 3, 8, 1);
	assert_int_equal(vt_collect(t, 0, &r), 1);
	assert_int_equal(r.used, 0);
	/* Several in one kick, answered in order. */
	vt_tmf_req(b, TMF_CLEAR_ACA, 0, 0, 0);
	vt_ctrl(t, b, 24, 1, 0);
	vt_tmf_req(b, TMF_ABORT_TASK, 0, 0, 5);
	vt_ctrl(t, b, 24, 1, 1);
	assert_int_equal(vt_collect(t, 0, &r), 1);
	assert_int_equal(r.resp[0], S_FUNCTION_REJECTED);
	assert_int_equal(vt_collect(t, 0, &r), 1);
	assert_int_equal(r.resp[0], S_OK);
	vt_free(t);
}

static void test_async_notify(void **state)
{
	struct vt *t = up("virtio-scsi-pci", 0, 0);
	uint8_t b[16];
	struct vt_res r;

	(void)state;
	for (uint32_t type = T_AN_QUERY; type <= T_AN_SUBSCRIBE; type++) {
		memset(b, 0, sizeof(b));
		vt_put32(b, type);
		vt_lun(b + 4, 0, 1);
		vt_put32(b + 12, 0x7e); /* every event class */
		vt_ctrl(t, b, 16, 5, 1);
		assert_int_equal(vt_collect(t, 0, &r), 1);
		assert_int_equal(r.used, 5);
		assert_int_equal(vt_le32(r.resp), 0); /* a disk reports no class */
		assert_int_equal(r.resp[4], S_OK);
		/* A LUN nobody has. */
		vt_lun(b + 4, 3, 0);
		vt_ctrl(t, b, 16, 5, 1);
		assert_int_equal(vt_collect(t, 0, &r), 1);
		assert_int_equal(r.resp[4], S_BAD_TARGET);
		/* Cut short, and no room for the answer. */
		vt_ctrl(t, b, 12, 5, 1);
		assert_int_equal(vt_collect(t, 0, &r), 1);
		assert_int_equal(r.used, 5);
		assert_int_equal(r.resp[4], S_FAILURE);
		vt_ctrl(t, b, 16, 4, 1);
		assert_int_equal(vt_collect(t, 0, &r), 1);
		assert_int_equal(r.used, 0);
	}
	vt_free(t);
}

/* Collect one event; check its fields. */
static void expect_event(struct vt *t, uint32_t event, unsigned int target, unsigned int lun,
			 uint32_t reason)
{
	struct vt_res r;
	uint8_t l[8];

	assert_int_equal(vt_collect(t, 1, &r), 1);
	assert_int_equal(r.used, 16);
	assert_int_equal(vt_le32(r.resp), event);
	vt_event_lun(l, target, lun);
	if ((event & ~EV_MISSED) != EV_NO_EVENT)
		assert_memory_equal(r.resp + 4, l, 8);
	assert_int_equal(vt_le32(r.resp + 12), reason);
}

static void test_hotplug_events(void **state)
{
	struct vt *t = up("virtio-scsi-pci", F_HOTPLUG | F_CHANGE, 0);
	struct vt_res r;
	vdev_blk *b;

	(void)state;
	vt_event_buf(t, 16, 0);
	vt_event_buf(t, 16, 1);
	assert_int_equal(vt_collect(t, 1, &r), 0); /* buffers are kept until an event */

	b = vt_disk(t, 0, 5, 64, 512);
	expect_event(t, EV_TRANSPORT_RESET, 0, 5, EV_RESCAN);
	assert_int_equal(vdev_scsi_lun_remove(t->bus, 0, 5), 0);
	vt_forget_blk(t, b);
	expect_event(t, EV_TRANSPORT_RESET, 0, 5, EV_REMOVED);
	assert_int_equal(vt_collect(t, 1, &r), 0);

	/* No buffer: two events are missed... */
	b = vt_disk(t, 3, 300, 64, 512);
	assert_int_equal(vdev_scsi_lun_remove(t->bus, 3, 300), 0);
	vt_forget_blk(t, b);
	/* ...and reported as soon as the driver adds a buffer. */
	vt_event_buf(t, 16, 1);
	expect_event(t, EV_NO_EVENT | EV_MISSED, 0, 0, 0);
	vt_event_buf(t, 16, 1);
	assert_int_equal(vt_collect(t, 1, &r), 0); /* nothing more to say */

	/* The buffer left over takes the next event. */
	vt_disk(t, 0, 6, 64, 512);
	expect_event(t, EV_TRANSPORT_RESET, 0, 6, EV_RESCAN);
	/* Missed again; a buffer comes without a kick: the next event carries the bit. */
	assert_int_equal(vdev_scsi_lun_capacity_changed(vdev_scsi_lun_find(t->bus, 0, 6)), 0);
	vt_event_buf(t, 16, 0);
	assert_int_equal(vdev_scsi_lun_capacity_changed(vdev_scsi_lun_find(t->bus, 0, 6)), 0);
	expect_event(t, EV_PARAM_CHANGE | EV_MISSED, 0, 6, 0x2a | (0x09 << 8));

	/* A buffer too small for an event is given back unused; the next one gets it. */
	vt_event_buf(t, 8, 0);
	vt_event_buf(t, 16, 1);
	assert_int_equal(vdev_scsi_lun_capacity_changed(vdev_scsi_lun_find(t->bus, 0, 6)), 0);
	assert_int_equal(vt_collect(t, 1, &r), 1);
	assert_int_equal(r.used, 0);
	expect_event(t, EV_PARAM_CHANGE, 0, 6, 0x2a | (0x09 << 8));

	/* A device reset forgets missed events. */
	assert_int_equal(vdev_scsi_lun_capacity_changed(vdev_scsi_lun_find(t->bus, 0, 6)), 0);
	vio_reset(&t->d);
	vt_up(t, F_HOTPLUG | F_CHANGE, 0);
	vt_event_buf(t, 16, 1);
	assert_int_equal(vt_collect(t, 1, &r), 0);
	vt_free(t);
}

/*
 * Hot-plug at scale: 130 LUNs added at run time on target 2 with only 8
 * event buffers posted. The first 8 LUNs are announced (RESCAN, in order,
 * no EVENTS_MISSED); the rest are missed and the next buffer says so; the
 * driver's rescan (REPORT LUNS) then finds every LUN.
 */
static void test_hotplug_many(void **state)
{
	struct vt *t = up("virtio-scsi-pci", F_HOTPLUG, 1);
	enum { N = 130, NBUF = 8 };
	uint32_t alloc = 8 + 8 * (N + 1);
	struct vt_cmd c;
	struct vt_res r;

	(void)state;
	for (int i = 0; i < NBUF; i++)
		vt_event_buf(t, 16, i == NBUF - 1);
	for (unsigned int l = 0; l < N; l++) {
		struct vdev_blk_opts bo = {
			.struct_size = sizeof(bo),
			.driver = "null",
			.size = 64 * 512,
		};
		struct vdev_scsi_lun_opts lo = {
			.struct_size = sizeof(lo),
			.type = VDEV_SCSI_LUN_DISK,
		};

		assert_int_equal(vdev_blk_open(t->mv.ctx, &bo, &lo.blk), 0);
		/* LUN numbers above 255 too: flat space addressing. */
		assert_int_equal(vdev_scsi_lun_add(t->bus, 2, (uint16_t)(l * 97), &lo, NULL), 0);
	}
	for (unsigned int l = 0; l < NBUF; l++)
		expect_event(t, EV_TRANSPORT_RESET, 2, l * 97, EV_RESCAN);
	assert_int_equal(vt_collect(t, 1, &r), 0);
	vt_event_buf(t, 16, 1);
	expect_event(t, EV_NO_EVENT | EV_MISSED, 0, 0, 0);
	vt_event_buf(t, 16, 1);
	assert_int_equal(vt_collect(t, 1, &r), 0);

	/* The rescan: REPORT LUNS of target 2 (through its LUN 0) lists all of them. */
	vt_cmd_init(&c, 2, 0);
	c.cdb[0] = 0xa0;
	vt_be32(c.cdb + 6, alloc);
	c.din_len = alloc;
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.response, S_OK);
	assert_int_equal(r.status, 0);
	assert_int_equal(vt_get_be32(r.din), 8 * N);
	for (unsigned int l = 0; l < N; l++) {
		unsigned int want = l * 97, k; /* < 16384 */

		for (k = 0; k < N; k++) {
			const uint8_t *e = r.din + 8 + 8 * k;
			unsigned int got = ((e[0] & 0x3fu) << 8) | e[1];

			if (got == want)
				break;
		}
		if (k == N)
			fail_msg("LUN %u missing from REPORT LUNS", want);
	}
	/* A new LUN after the rescan is announced again, with a buffer to spare. */
	vt_disk(t, 2, 16383, 64, 512);
	expect_event(t, EV_TRANSPORT_RESET, 2, 16383, EV_RESCAN);
	vt_free(t);
}

static void test_event_features(void **state)
{
	struct vt *t = up("virtio-scsi-mmio", 0, 0);
	struct vt_res r;

	(void)state;
	/* Neither feature: no events, and nothing counts as missed. */
	vt_event_buf(t, 16, 1);
	vt_disk(t, 0, 2, 64, 512);
	assert_int_equal(vdev_scsi_lun_capacity_changed(vdev_scsi_lun_find(t->bus, 0, 0)), 0);
	assert_int_equal(vt_collect(t, 1, &r), 0);
	vt_event_buf(t, 16, 1);
	assert_int_equal(vt_collect(t, 1, &r), 0);
	vt_free(t);

	/* CHANGE only. */
	t = up("virtio-scsi-mmio", F_CHANGE, 0);
	vt_event_buf(t, 16, 1);
	vt_disk(t, 0, 2, 64, 512);
	assert_int_equal(vt_collect(t, 1, &r), 0);
	assert_int_equal(vdev_scsi_lun_capacity_changed(vdev_scsi_lun_find(t->bus, 0, 1)), 0);
	expect_event(t, EV_PARAM_CHANGE, 0, 1, 0x2a | (0x09 << 8));
	vt_free(t);

	/* Before DRIVER_OK: the driver scans when it starts; nothing is missed. */
	t = vt_new("virtio-scsi-pci");
	vt_disk(t, 0, 0, 64, 512);
	vt_up(t, F_HOTPLUG, 0);
	vt_event_buf(t, 16, 1);
	assert_int_equal(vt_collect(t, 1, &r), 0);
	vt_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abort_task),
		cmocka_unit_test(test_resets),
		cmocka_unit_test(test_tmf_errors),
		cmocka_unit_test(test_async_notify),
		cmocka_unit_test(test_hotplug_events),
		cmocka_unit_test(test_hotplug_many),
		cmocka_unit_test(test_event_features),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
