/* SPDX-License-Identifier: MIT */
/*
 * Unit attentions and hot-plug of the SCSI target: the power-on UA
 * reported once and cleared, INQUIRY / REPORT LUNS / REQUEST SENSE not
 * blocked; LUN add and remove at run time with events and REPORTED LUNS
 * DATA HAS CHANGED on the other LUNs of the target (cleared target-wide
 * once reported, and by REPORT LUNS); capacity change; the reset UAs and
 * their priorities; removal with requests in flight; calls that are
 * refused from inside a done callback.
 */
#include "scsi_test_util.h"

#define MB (1024u * 1024u)

static int setup(void **state)
{
	*state = st_new();
	return 0;
}

static int teardown(void **state)
{
	st_free(*state);
	return 0;
}

static const uint8_t tur[6];

static void expect_ua(struct st *s, uint16_t t, uint16_t l, uint8_t asc, uint8_t ascq)
{
	st_cmd_sense(s, t, l, tur, 6, VDEV_SCSI_SK_UNIT_ATTENTION, asc, ascq);
}

static void test_power_on_ua(void **state)
{
	struct st *s = *state;
	uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
	uint8_t rl[12] = { 0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 };
	uint8_t rd[16];
	struct sreq *q;

	st_add_disk(s, 0, 0, MB, 512);
	assert_int_equal(s->nevents, 1);
	assert_int_equal(s->events[0].ev, VDEV_SCSI_EV_LUN_ADDED);
	/* Not blocked, not cleared. */
	st_cmd_good(s, 0, 0, inq, 6);
	st_cmd_good(s, 0, 0, rl, 12);
	/* A READ gets the UA instead of data. */
	q = st_cmd(s, 0, 0, rd, st_cdb_rw(rd, 0x28, 0, 1), NULL, 0, 512);
	st_expect_sense(q, VDEV_SCSI_SK_UNIT_ATTENTION, 0x29, 0x00);
	assert_int_equal(q->r.data_in_len, 0);
	assert_int_equal(q->in[0], 0xa5);
	sreq_free(q);
	/* Reported once. */
	st_cmd_good(s, 0, 0, tur, 6);
	st_cmd_good(s, 0, 0, rd, 10);
}

static void test_hotplug(void **state)
{
	struct st *s = *state;
	uint8_t rl[12] = { 0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 };
	struct sreq *q;

	st_add_disk(s, 0, 0, MB, 512);
	st_add_disk(s, 1, 0, MB, 512);
	st_clear_ua(s, 0, 0);
	st_clear_ua(s, 1, 0);
	s->nevents = 0;

	st_add_disk(s, 0, 1, MB, 512);
	assert_int_equal(s->nevents, 1);
	assert_int_equal(s->events[0].t, 0);
	assert_int_equal(s->events[0].l, 1);
	assert_int_equal(s->events[0].ev, VDEV_SCSI_EV_LUN_ADDED);
	/* The old LUN learns the inventory changed; the new one powered on. */
	expect_ua(s, 0, 0, 0x3f, 0x0e);
	st_cmd_good(s, 0, 0, tur, 6);
	/* Reported on 0:0, so cleared for 0:1 too: it has only its power-on UA. */
	expect_ua(s, 0, 1, 0x29, 0x00);
	st_cmd_good(s, 0, 1, tur, 6);
	/* Another target is not involved. */
	st_cmd_good(s, 1, 0, tur, 6);

	/* REPORT LUNS clears it as well. */
	st_add_disk(s, 0, 2, MB, 512);
	q = st_cmd(s, 0, 1, rl, 12, NULL, 0, 256);
	st_expect_good(q);
	assert_int_equal(st_get_be(q->in, 4), 24);
	sreq_free(q);
	st_cmd_good(s, 0, 0, tur, 6);
	st_cmd_good(s, 0, 1, tur, 6);
	expect_ua(s, 0, 2, 0x29, 0x00);

	/* Remove: event, UA on the others, the LUN is gone. */
	s->nevents = 0;
	assert_int_equal(vdev_scsi_lun_remove(s->bus, 0, 1), 0);
	st_untrack(s, 0, 1);
	assert_int_equal(s->nevents, 1);
	assert_int_equal(s->events[0].ev, VDEV_SCSI_EV_LUN_REMOVED);
	assert_int_equal(s->events[0].l, 1);
	assert_int_equal(vdev_scsi_lun_count(s->bus), 3);
	assert_null(vdev_scsi_lun_find(s->bus, 0, 1));
	assert_int_equal(vdev_scsi_lun_remove(s->bus, 0, 1), -ENOENT);
	st_cmd_sense(s, 0, 1, tur, 6, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x25, 0x00);
	expect_ua(s, 0, 2, 0x3f, 0x0e);
	st_cmd_good(s, 0, 0, tur, 6);
	q = st_cmd(s, 0, 0, rl, 12, NULL, 0, 256);
	assert_int_equal(st_get_be(q->in, 4), 16);
	assert_int_equal(q->in[9], 0);
	assert_int_equal(q->in[17], 2);
	sreq_free(q);

	/* Re-adding the address works; the last LUN of a target takes the target. */
	st_add_disk(s, 0, 1, MB, 512);
	assert_int_equal(vdev_scsi_lun_remove(s->bus, 1, 0), 0);
	st_untrack(s, 1, 0);
	q = st_cmd(s, 1, 0, tur, 6, NULL, 0, 0);
	assert_int_equal(q->r.response, VDEV_SCSI_RESP_BAD_TARGET);
	sreq_free(q);
	assert_int_equal(vdev_scsi_lun_count(s->bus), 3);
}

static void test_capacity_and_priority(void **state)
{
	struct st *s = *state;
	vdev_scsi_lun *l;

	l = st_add_disk(s, 0, 0, MB, 512);
	st_add_disk(s, 0, 1, MB, 512); /* 0:0 gets REPORTED LUNS DATA HAS CHANGED */
	s->nevents = 0;
	assert_int_equal(vdev_scsi_lun_capacity_changed(l), 0);
	assert_int_equal(s->nevents, 1);
	assert_int_equal(s->events[0].ev, VDEV_SCSI_EV_CAPACITY_CHANGED);
	assert_int_equal(vdev_scsi_lun_capacity_changed(NULL), -EINVAL);
	/* Highest priority first: reset, capacity, inventory. */
	expect_ua(s, 0, 0, 0x29, 0x00);
	expect_ua(s, 0, 0, 0x2a, 0x09);
	expect_ua(s, 0, 0, 0x3f, 0x0e);
	st_cmd_good(s, 0, 0, tur, 6);
	/* The same UA twice is one UA. */
	vdev_scsi_lun_capacity_changed(l);
	vdev_scsi_lun_capacity_changed(l);
	expect_ua(s, 0, 0, 0x2a, 0x09);
	st_cmd_good(s, 0, 0, tur, 6);
}

static void test_reset_uas(void **state)
{
	struct st *s = *state;

	st_add_disk(s, 0, 0, MB, 512);
	st_add_disk(s, 0, 1, MB, 512);
	st_add_disk(s, 2, 0, MB, 512);
	st_clear_ua(s, 0, 0);
	st_clear_ua(s, 0, 1);
	st_clear_ua(s, 2, 0);

	assert_int_equal(vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_LUN_RESET, 0, 1, 0),
			 VDEV_SCSI_TMF_COMPLETE);
	st_cmd_good(s, 0, 0, tur, 6);
	expect_ua(s, 0, 1, 0x29, 0x03);
	st_cmd_good(s, 0, 1, tur, 6);

	assert_int_equal(vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_I_T_NEXUS_RESET, 0, 0, 0),
			 VDEV_SCSI_TMF_COMPLETE);
	expect_ua(s, 0, 0, 0x29, 0x07);
	expect_ua(s, 0, 1, 0x29, 0x07);
	st_cmd_good(s, 2, 0, tur, 6);

	/* A newer reset replaces the older qualifier; bus reset reaches everyone. */
	vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_LUN_RESET, 0, 0, 0);
	vdev_scsi_bus_reset(s->bus);
	expect_ua(s, 0, 0, 0x29, 0x00);
	st_cmd_good(s, 0, 0, tur, 6);
	expect_ua(s, 0, 1, 0x29, 0x00);
	expect_ua(s, 2, 0, 0x29, 0x00);

	/* TMF answers for wrong addresses and functions. */
	assert_int_equal(vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_LUN_RESET, 0, 9, 0),
			 VDEV_SCSI_TMF_INCORRECT_LUN);
	assert_int_equal(vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_LUN_RESET, 7, 0, 0),
			 VDEV_SCSI_TMF_INCORRECT_LUN);
	assert_int_equal(vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_I_T_NEXUS_RESET, 7, 0, 0),
			 VDEV_SCSI_TMF_INCORRECT_LUN);
	assert_int_equal(vdev_scsi_tmf(s->bus, (enum vdev_scsi_tmf)99, 0, 0, 0),
			 VDEV_SCSI_TMF_REJECTED);
	assert_int_equal(vdev_scsi_tmf(NULL, VDEV_SCSI_TMF_LUN_RESET, 0, 0, 0), -EINVAL);
	assert_int_equal(vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_QUERY_TASK_SET, 0, 0, 0),
			 VDEV_SCSI_TMF_COMPLETE);
}

/* A removal with requests in flight: they complete ABORTED before it returns. */
static void test_remove_inflight(void **state)
{
	struct st *s = *state;
	struct sreq *q[8];
	uint8_t cdb[16];

	st_add_disk(s, 0, 0, MB, 512);
	st_add_disk(s, 0, 3, MB, 512);
	st_clear_ua(s, 0, 3);
	for (int i = 0; i < 8; i++) {
		q[i] = sreq_new(0, 3, cdb, st_cdb_rw(cdb, 0x28, (uint64_t)i, 1), NULL, 0, 512);
		st_submit(s, q[i]);
		assert_int_equal(q[i]->ndone, 0);
	}
	assert_int_equal(vdev_scsi_lun_remove(s->bus, 0, 3), 0);
	st_untrack(s, 0, 3);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(q[i]->ndone, 1);
		assert_int_equal(q[i]->r.response, VDEV_SCSI_RESP_ABORTED);
		assert_int_equal(q[i]->r.data_in_len, 0);
		sreq_free(q[i]);
	}
	st_poll(s);
}

struct reentry {
	struct st *s;
	int remove_rc, tmf_rc, submit_rc;
	struct sreq *next;
};

static void reentrant_done(struct vdev_scsi_req *r)
{
	struct sreq *q = (struct sreq *)r;
	struct reentry *re = q->r.user;

	q->ndone++;
	re->remove_rc = vdev_scsi_lun_remove(re->s->bus, 0, 0);
	re->tmf_rc = vdev_scsi_tmf(re->s->bus, VDEV_SCSI_TMF_LUN_RESET, 0, 0, 0);
	/* Submitting from a done hook is fine. */
	re->submit_rc = vdev_scsi_submit(re->s->bus, &re->next->r);
}

static void test_reentry(void **state)
{
	struct st *s = *state;
	struct reentry re = { .s = s };
	uint8_t cdb[16];
	struct sreq *q;

	st_add_disk(s, 0, 0, MB, 512);
	st_clear_ua(s, 0, 0);
	re.next = sreq_new(0, 0, cdb, st_cdb_rw(cdb, 0x28, 0, 1), NULL, 0, 512);
	q = sreq_new(0, 0, cdb, st_cdb_rw(cdb, 0x28, 0, 1), NULL, 0, 512);
	q->r.done = reentrant_done;
	q->r.user = &re;
	st_submit(s, q);
	st_wait(s, q);
	assert_int_equal(re.remove_rc, -EBUSY);
	assert_int_equal(re.tmf_rc, -EBUSY);
	assert_int_equal(re.submit_rc, 0);
	st_wait(s, re.next);
	st_expect_good(re.next);
	assert_non_null(vdev_scsi_lun_find(s->bus, 0, 0));
	sreq_free(q);
	sreq_free(re.next);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_power_on_ua, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hotplug, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capacity_and_priority, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_uas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_inflight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reentry, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
