/* SPDX-License-Identifier: MIT */
/*
 * virtio-scsi asynchronous notification (VIRTIO 1.2 §5.6.6.2.2, §5.6.6.3):
 * AN_QUERY and AN_SUBSCRIBE answer the requested classes a LUN supports
 * (media, 10h, for a CD-ROM; nothing for a disk); a subscribed CD-ROM sends
 * VIRTIO_SCSI_T_ASYNC_NOTIFY with reason "media" when the VMM inserts or
 * removes a medium, when the guest ejects it, and when the guest's lock
 * refuses a VMM eject (GET EVENT STATUS NOTIFICATION then says which);
 * none without a subscription, after it was cancelled, after the LUN went
 * or after a device reset; an empty event queue turns events into
 * EVENTS_MISSED; subscriptions survive save/load (and a stream naming a
 * LUN the destination lacks is refused); hostile control requests are
 * answered without harm.
 */
#include "test_virtio_scsi_util.h"

#define EV_ASYNC_NOTIFY 2u
#define AN_MEDIA 0x10u
#define AN_ALL 0x7eu
#define CD_BLOCKS 64u

/* GESN media event codes (MMC-6 Table 155). */
#define GESN_EJECT_REQUEST 1
#define GESN_NEW_MEDIA 2
#define GESN_MEDIA_REMOVAL 3

static vdev_blk *medium(struct vt *t)
{
	struct vdev_blk_opts bo = {
		.struct_size = sizeof(bo),
		.driver = "memory",
		.size = CD_BLOCKS * 2048,
	};
	vdev_blk *b;

	assert_int_equal(vdev_blk_open(t->mv.ctx, &bo, &b), 0);
	return b;
}

/*
 * A CD-ROM at (target, lun) with a medium. Not in t->blk: the tests send
 * it no command that reads the medium, and the VMM's removals close it.
 */
static void cdrom(struct vt *t, unsigned int target, unsigned int lun)
{
	struct vdev_scsi_lun_opts lo = {
		.struct_size = sizeof(lo),
		.type = VDEV_SCSI_LUN_CDROM,
	};

	lo.blk = medium(t);
	assert_int_equal(vdev_scsi_lun_add(t->bus, (uint16_t)target, (uint16_t)lun, &lo, NULL), 0);
}

/* Disk 0:0, CD-ROM 0:2, CD-ROM 1:3. */
static struct vt *up(const char *spec, uint64_t features)
{
	struct vt *t = vt_new(spec);

	vt_disk(t, 0, 0, 64, 512);
	cdrom(t, 0, 2);
	cdrom(t, 1, 3);
	vt_up(t, features, 0);
	vt_clear_ua(t, 0, 0);
	vt_clear_ua(t, 0, 2);
	vt_clear_ua(t, 1, 3);
	return t;
}

/* Send an AN request; @return response byte, *actual = event_actual. */
static uint8_t an(struct vt *t, uint32_t type, unsigned int target, unsigned int lun,
		  uint32_t requested, uint32_t *actual)
{
	uint8_t b[16];
	struct vt_res r;

	vt_put32(b, type);
	vt_lun(b + 4, target, lun);
	vt_put32(b + 12, requested);
	vt_ctrl(t, b, 16, 5, 1);
	assert_int_equal(vt_collect(t, 0, &r), 1);
	assert_int_equal(r.used, 5);
	*actual = vt_le32(r.resp);
	return r.resp[4];
}

static void subscribe(struct vt *t, unsigned int target, unsigned int lun)
{
	uint32_t actual;

	assert_int_equal(an(t, T_AN_SUBSCRIBE, target, lun, AN_ALL, &actual), S_OK);
	assert_int_equal(actual, AN_MEDIA);
}

static void expect_event(struct vt *t, uint32_t event, unsigned int target, unsigned int lun,
			 uint32_t reason)
{
	struct vt_res r;
	uint8_t l[8];

	assert_int_equal(vt_collect(t, 1, &r), 1);
	assert_int_equal(r.used, 16);
	assert_int_equal(vt_le32(r.resp), event);
	if ((event & ~EV_MISSED) != EV_NO_EVENT) {
		vt_event_lun(l, target, lun);
		assert_memory_equal(r.resp + 4, l, 8);
	}
	assert_int_equal(vt_le32(r.resp + 12), reason);
}

static void no_event(struct vt *t)
{
	struct vt_res r;

	assert_int_equal(vt_collect(t, 1, &r), 0);
}

/* GET EVENT STATUS NOTIFICATION, polled, media class: @return the media event code. */
static uint8_t gesn_media(struct vt *t, unsigned int target, unsigned int lun)
{
	struct vt_cmd c;
	struct vt_res r;

	vt_cmd_init(&c, target, lun);
	c.cdb[0] = 0x4a;
	c.cdb[1] = 0x01;
	c.cdb[4] = AN_MEDIA;
	c.cdb[8] = 8;
	c.din_len = 8;
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.response, S_OK);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.din[2] & 0x07, 4); /* media class */
	return r.din[4] & 0x0f;
}

/* A command on the CD; @return its SAM status. */
static uint8_t cd_cmd(struct vt *t, unsigned int target, unsigned int lun, uint8_t op,
		      uint8_t b4)
{
	struct vt_cmd c;
	struct vt_res r;

	vt_cmd_init(&c, target, lun);
	c.cdb[0] = op;
	c.cdb[4] = b4;
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.response, S_OK);
	return r.status;
}

static void test_query_subscribe(void **state)
{
	struct vt *t = up("virtio-scsi-pci", 0);
	uint32_t actual;

	(void)state;
	/* Query: the requested classes the LUN can report. */
	assert_int_equal(an(t, T_AN_QUERY, 0, 2, AN_ALL, &actual), S_OK);
	assert_int_equal(actual, AN_MEDIA);
	assert_int_equal(an(t, T_AN_QUERY, 0, 2, 0xffffffffu, &actual), S_OK);
	assert_int_equal(actual, AN_MEDIA);
	assert_int_equal(an(t, T_AN_QUERY, 0, 2, 0x2e, &actual), S_OK);
	assert_int_equal(actual, 0);
	assert_int_equal(an(t, T_AN_QUERY, 0, 0, AN_ALL, &actual), S_OK); /* a disk */
	assert_int_equal(actual, 0);
	/* A query subscribes to nothing. */
	assert_int_equal(vdev_scsi_lun_set_medium(vdev_scsi_lun_find(t->bus, 0, 2), NULL, 0), 0);
	vt_event_buf(t, 16, 1);
	no_event(t);

	/* Subscribe: the subset we support; a disk gets nothing. */
	assert_int_equal(an(t, T_AN_SUBSCRIBE, 0, 0, AN_ALL, &actual), S_OK);
	assert_int_equal(actual, 0);
	assert_int_equal(an(t, T_AN_SUBSCRIBE, 0, 2, AN_MEDIA | 0x04, &actual), S_OK);
	assert_int_equal(actual, AN_MEDIA);
	/* Missing LUN, missing target: BAD_TARGET, event_actual 0. */
	assert_int_equal(an(t, T_AN_SUBSCRIBE, 0, 7, AN_ALL, &actual), S_BAD_TARGET);
	assert_int_equal(actual, 0);
	assert_int_equal(an(t, T_AN_QUERY, 9, 0, AN_ALL, &actual), S_BAD_TARGET);
	assert_int_equal(actual, 0);
	/* Now 0:2 is subscribed: its next change is announced. */
	assert_int_equal(vdev_scsi_lun_set_medium(vdev_scsi_lun_find(t->bus, 0, 2), medium(t), 0),
			 0);
	expect_event(t, EV_ASYNC_NOTIFY, 0, 2, AN_MEDIA);
	vt_free(t);
}

static void test_media_events(void **state)
{
	struct vt *t = up("virtio-scsi-pci", 0);
	vdev_scsi_lun *cd = vdev_scsi_lun_find(t->bus, 0, 2);
	vdev_blk *m;

	(void)state;
	subscribe(t, 0, 2);
	for (int i = 0; i < 8; i++)
		vt_event_buf(t, 16, i == 7);
	no_event(t);

	/* The VMM removes the medium. */
	assert_int_equal(vdev_scsi_lun_set_medium(cd, NULL, 0), 0);
	expect_event(t, EV_ASYNC_NOTIFY, 0, 2, AN_MEDIA);
	no_event(t);
	assert_int_equal(gesn_media(t, 0, 2), GESN_MEDIA_REMOVAL);
	assert_int_equal(gesn_media(t, 0, 2), 0); /* reported once */

	/* ...and inserts one. */
	m = medium(t);
	assert_int_equal(vdev_scsi_lun_set_medium(cd, m, 0), 0);
	expect_event(t, EV_ASYNC_NOTIFY, 0, 2, AN_MEDIA);
	assert_int_equal(gesn_media(t, 0, 2), GESN_NEW_MEDIA);
	vt_clear_ua(t, 0, 2);

	/* The guest ejects it (START STOP UNIT, LoEj). */
	assert_int_equal(cd_cmd(t, 0, 2, 0x1b, 0x02), 0);
	expect_event(t, EV_ASYNC_NOTIFY, 0, 2, AN_MEDIA);
	assert_int_equal(gesn_media(t, 0, 2), GESN_MEDIA_REMOVAL);
	/* ...and loads it again. */
	assert_int_equal(cd_cmd(t, 0, 2, 0x1b, 0x03), 0);
	expect_event(t, EV_ASYNC_NOTIFY, 0, 2, AN_MEDIA);
	assert_int_equal(gesn_media(t, 0, 2), GESN_NEW_MEDIA);

	/* The guest locks the tray; the VMM's eject is refused, the guest is asked. */
	assert_int_equal(cd_cmd(t, 0, 2, 0x1e, 0x01), 0);
	assert_int_equal(vdev_scsi_lun_set_medium(cd, NULL, 0), -EBUSY);
	expect_event(t, EV_ASYNC_NOTIFY, 0, 2, AN_MEDIA);
	assert_int_equal(gesn_media(t, 0, 2), GESN_EJECT_REQUEST);
	/* A guest eject of a locked tray is refused: nothing changed, no event. */
	assert_int_equal(cd_cmd(t, 0, 2, 0x1b, 0x02), VDEV_SCSI_CHECK_CONDITION);
	no_event(t);

	/* The other CD-ROM is not subscribed: its changes are not announced. */
	assert_int_equal(vdev_scsi_lun_set_medium(vdev_scsi_lun_find(t->bus, 1, 3), NULL, 0), 0);
	no_event(t);
	assert_int_equal(gesn_media(t, 1, 3), GESN_MEDIA_REMOVAL); /* GESN still says it */

	/* An empty subscription cancels. */
	{
		uint32_t actual;

		assert_int_equal(an(t, T_AN_SUBSCRIBE, 0, 2, 0, &actual), S_OK);
		assert_int_equal(actual, 0);
	}
	assert_int_equal(cd_cmd(t, 0, 2, 0x1e, 0x00), 0);
	assert_int_equal(vdev_scsi_lun_set_medium(cd, NULL, 0), 0);
	no_event(t);
	vt_free(t);
}

/* No event buffer: EVENTS_MISSED; LUN removal and device reset end subscriptions. */
static void test_missed_and_lifetime(void **state)
{
	struct vt *t = up("virtio-scsi-mmio", F_HOTPLUG);
	vdev_scsi_lun *cd;
	struct vt_res r;

	(void)state;
	subscribe(t, 0, 2);
	subscribe(t, 1, 3);
	cd = vdev_scsi_lun_find(t->bus, 0, 2);
	assert_int_equal(vdev_scsi_lun_set_medium(cd, NULL, 0), 0);
	assert_int_equal(vdev_scsi_lun_set_medium(vdev_scsi_lun_find(t->bus, 1, 3), NULL, 0), 0);
	vt_event_buf(t, 16, 1);
	expect_event(t, EV_NO_EVENT | EV_MISSED, 0, 0, 0);
	vt_event_buf(t, 16, 1);
	no_event(t);
	/* Both drives tell what happened when asked. */
	assert_int_equal(gesn_media(t, 0, 2), GESN_MEDIA_REMOVAL);
	assert_int_equal(gesn_media(t, 1, 3), GESN_MEDIA_REMOVAL);

	/* The LUN goes and another CD-ROM comes at its address: not subscribed. */
	assert_int_equal(vdev_scsi_lun_remove(t->bus, 0, 2), 0);
	expect_event(t, EV_TRANSPORT_RESET, 0, 2, EV_REMOVED);
	vt_event_buf(t, 16, 1);
	cdrom(t, 0, 2);
	expect_event(t, EV_TRANSPORT_RESET, 0, 2, EV_RESCAN);
	vt_event_buf(t, 16, 1);
	assert_int_equal(vdev_scsi_lun_set_medium(vdev_scsi_lun_find(t->bus, 0, 2), NULL, 0), 0);
	no_event(t);
	/* 1:3 still is. */
	assert_int_equal(vdev_scsi_lun_set_medium(vdev_scsi_lun_find(t->bus, 1, 3), medium(t), 0),
			 0);
	expect_event(t, EV_ASYNC_NOTIFY, 1, 3, AN_MEDIA);

	/* A device reset forgets subscriptions. */
	vio_reset(&t->d);
	vt_up(t, F_HOTPLUG, 0);
	vt_event_buf(t, 16, 1);
	assert_int_equal(vdev_scsi_lun_set_medium(vdev_scsi_lun_find(t->bus, 1, 3), NULL, 0), 0);
	assert_int_equal(vt_collect(t, 1, &r), 0);
	vt_free(t);
}

/* ---- save/load ---- */

/* The same LUNs as up() made, on a fresh device. */
static struct vt *dest(const char *spec, int with_cd02)
{
	struct vt *t = vt_new(spec);

	vt_disk(t, 0, 0, 64, 512);
	if (with_cd02)
		cdrom(t, 0, 2);
	cdrom(t, 1, 3);
	return t;
}

/* Find @pat in @b; @return its offset or -1. */
static long find(const uint8_t *b, size_t len, const void *pat, size_t plen)
{
	for (size_t i = 0; i + plen <= len; i++)
		if (!memcmp(b + i, pat, plen))
			return (long)i;
	return -1;
}

static void test_save_load(void **state)
{
	struct vt *t = up("virtio-scsi-pci", 0), *t2;
	uint8_t *blob, *nosub;
	size_t len, nlen;
	uint32_t actual;
	long at;

	(void)state;
	nosub = vt_save_dev(t->dev, &nlen); /* no subscription: the old layout */
	subscribe(t, 0, 2);
	blob = vt_save_dev(t->dev, &len);
	assert_true(len > nlen);
	assert_int_equal(find(nosub, nlen, "ANSB", 4), -1);
	at = find(blob, len, "ANSB", 4);
	assert_true(at > 0);

	/* The destination announces 0:2's changes, not 1:3's. */
	t2 = dest("virtio-scsi-pci", 1);
	assert_int_equal(vt_load_dev(t2->dev, blob, len), 0);
	vt_adopt(t2, t);
	mock_vmm_set_time(&t2->mv, t2->mv.now_ns + 1);
	vt_event_buf(t2, 16, 1);
	assert_int_equal(vdev_scsi_lun_set_medium(vdev_scsi_lun_find(t2->bus, 1, 3), NULL, 0), 0);
	no_event(t2);
	assert_int_equal(vdev_scsi_lun_set_medium(vdev_scsi_lun_find(t2->bus, 0, 2), NULL, 0), 0);
	expect_event(t2, EV_ASYNC_NOTIFY, 0, 2, AN_MEDIA);
	vt_free(t2);
	/* The stream without subscriptions loads as before. */
	t2 = dest("virtio-scsi-pci", 1);
	assert_int_equal(vt_load_dev(t2->dev, nosub, nlen), 0);
	vt_free(t2);

	/* A destination without that CD-ROM refuses the stream and keeps working. */
	t2 = dest("virtio-scsi-pci", 0);
	assert_int_not_equal(vt_load_dev(t2->dev, blob, len), 0);
	vt_up(t2, 0, 0);
	assert_int_equal(an(t2, T_AN_QUERY, 1, 3, AN_ALL, &actual), S_OK);
	assert_int_equal(actual, AN_MEDIA);
	vt_free(t2);

	/* Hostile streams: classes we do not support; a LUN beyond the range; a short record. */
	{
		/* ANSB: tag(4) type(1) flags(1) version(2) len(4), then target lun classes. */
		uint8_t *bad = malloc(len);
		size_t p = (size_t)at + 12;

		assert_non_null(bad);
		assert_int_equal(blob[at + 4], VDEV_STATE_BYTES);
		assert_int_equal(vt_le32(blob + at + 8), 8);
		assert_int_equal(vt_le32(blob + p + 4), AN_MEDIA);
		for (int k = 0; k < 4; k++) {
			memcpy(bad, blob, len);
			if (k == 0)
				vt_put32(bad + p + 4, AN_MEDIA | 0x02);
			else if (k == 1)
				vt_put32(bad + p + 4, 0);
			else if (k == 2)
				bad[p + 3] = 0x40; /* LUN 16386 */
			else
				bad[p] = 1; /* 1:2, which does not exist */
			t2 = dest("virtio-scsi-pci", 1);
			assert_int_not_equal(vt_load_dev(t2->dev, bad, len), 0);
			vt_free(t2);
		}
		free(bad);
	}
	free(blob);
	free(nosub);
	vt_free(t);
}

/* Hostile control requests: answered as far as they can be, nothing else happens. */
static void test_hostile_ctrl(void **state)
{
	struct vt *t = up("virtio-scsi-pci", 0);
	uint8_t b[64];
	struct vt_res r;
	uint32_t actual;

	(void)state;
	memset(b, 0, sizeof(b));
	vt_put32(b, T_AN_SUBSCRIBE);
	vt_lun(b + 4, 0, 2);
	vt_put32(b + 12, AN_ALL);
	/* Cut short: FAILURE, nothing subscribed. */
	for (uint32_t n = 4; n < 16; n += 3) {
		vt_ctrl(t, b, n, 5, 1);
		assert_int_equal(vt_collect(t, 0, &r), 1);
		assert_int_equal(r.used, 5);
		assert_int_equal(r.resp[4], S_FAILURE);
		assert_int_equal(vt_le32(r.resp), 0);
	}
	/* No room for the answer, or no type at all: nothing written. */
	vt_ctrl(t, b, 16, 4, 1);
	assert_int_equal(vt_collect(t, 0, &r), 1);
	assert_int_equal(r.used, 0);
	vt_ctrl(t, b, 3, 5, 1);
	assert_int_equal(vt_collect(t, 0, &r), 1);
	assert_int_equal(r.used, 0);
	vt_event_buf(t, 16, 1);
	assert_int_equal(vdev_scsi_lun_set_medium(vdev_scsi_lun_find(t->bus, 0, 2), NULL, 0), 0);
	no_event(t);
	/* Unknown types. */
	for (uint32_t type = 3; type < 6; type++) {
		vt_put32(b, type == 5 ? 0x80000002u : type);
		vt_ctrl(t, b, 16, 5, 1);
		assert_int_equal(vt_collect(t, 0, &r), 1);
		assert_int_equal(r.used, 0);
	}
	/* Garbage in the LUN field: BAD_TARGET. */
	vt_put32(b, T_AN_SUBSCRIBE);
	for (int k = 0; k < 5; k++) {
		vt_lun(b + 4, 0, 2);
		if (k == 0)
			b[4] = 2;              /* not a single-level LUN */
		else if (k == 1)
			b[9] = 0x55;           /* lun[5] */
		else if (k == 2)
			b[11] = 0xff;          /* lun[7] */
		else if (k == 3)
			b[6] = 0x80;           /* extended addressing */
		else
			b[6] = 0x01;           /* peripheral, bus 1 */
		vt_ctrl(t, b, 16, 5, 1);
		assert_int_equal(vt_collect(t, 0, &r), 1);
		assert_int_equal(r.used, 5);
		assert_int_equal(r.resp[4], S_BAD_TARGET);
		assert_int_equal(vt_le32(r.resp), 0);
	}
	/* The REPORT LUNS well-known LUN has no events to offer. */
	vt_lun(b + 4, 0, 0);
	b[6] = 0xc1;
	b[7] = 0x01;
	vt_ctrl(t, b, 16, 5, 1);
	assert_int_equal(vt_collect(t, 0, &r), 1);
	assert_int_equal(vt_le32(r.resp), 0);
	/* Spread over many small segments and with a huge response buffer: still right. */
	{
		struct vdrv_seg s[20];
		uint64_t g = vt_alloc(t, 16, 0), resp = vt_alloc(t, 4096, 0xee);
		unsigned int n = 0;

		vt_put32(vdrv_host(&t->mem, g), T_AN_SUBSCRIBE);
		vt_lun(vdrv_host(&t->mem, g + 4), 0, 2);
		vt_put32(vdrv_host(&t->mem, g + 12), AN_ALL);
		n = vt_segs(s, n, g, 16, 0, 1);
		s[n++] = (struct vdrv_seg){ resp, 2, 1 };
		s[n++] = (struct vdrv_seg){ resp + 2, 4094, 1 };
		vt_add(t, 0, s, n, 0, resp, 4096, 0, 0, 1);
		assert_int_equal(vt_collect(t, 0, &r), 1);
		assert_int_equal(r.used, 5);
		assert_int_equal(vt_le32(r.resp), AN_MEDIA);
		assert_int_equal(r.resp[4], S_OK);
		assert_int_equal(r.resp[5], 0xee); /* nothing beyond the answer */
	}
	assert_int_equal(vdev_scsi_lun_set_medium(vdev_scsi_lun_find(t->bus, 0, 2), medium(t), 0),
			 0);
	expect_event(t, EV_ASYNC_NOTIFY, 0, 2, AN_MEDIA);
	assert_int_equal(an(t, T_AN_QUERY, 0, 2, AN_ALL, &actual), S_OK);
	assert_int_equal(actual, AN_MEDIA);
	vt_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_subscribe),
		cmocka_unit_test(test_media_events),
		cmocka_unit_test(test_missed_and_lifetime),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_hostile_ctrl),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
