/* SPDX-License-Identifier: MIT */
/*
 * virtio-scsi state: save with commands in flight at the backends, load
 * into a fresh device (same LUNs), and every command completes exactly
 * once there, after the destination's timers run; the driver-written
 * configuration and missed events survive; loads the device must refuse
 * (different configuration, a bus that does not match) leave it working,
 * its own in-flight commands included; a device reset or destroy with
 * commands in flight writes nothing to the guest.
 */
#include "test_virtio_scsi_util.h"

static void blk_done(struct vdev_blk_req *req, int64_t result)
{
	*(int64_t *)req->user = result;
}

/* Write @len bytes at @off of a backend directly (shared storage, as both ends see it). */
static void disk_write(vdev_blk *b, uint64_t off, const void *data, size_t len)
{
	struct iovec v = { (void *)data, len };
	int64_t res = -1000;
	struct vdev_blk_req req = {
		.op = VDEV_BLK_WRITE,
		.offset = off,
		.iov = &v,
		.iovcnt = 1,
		.done = blk_done,
		.user = &res,
	};

	assert_int_equal(vdev_blk_submit(b, &req), 0);
	while (res == -1000)
		assert_true(vdev_blk_poll(b) >= 0);
	assert_int_equal(res, (int64_t)len);
}

static void run_timers(struct vt *t)
{
	mock_vmm_set_time(&t->mv, t->mv.now_ns + 1);
}

static void save_load_inflight(const char *spec, uint64_t ring)
{
	struct vt *t = vt_new(spec), *t2;
	uint8_t a[1024], b[512], *blob;
	uint64_t tw, tr, tq, used_before;
	struct vt_cmd c;
	struct vt_res r;
	size_t len;
	int seen = 0;

	memset(a, 0xa1, sizeof(a));
	memset(b, 0xb2, sizeof(b));
	vt_disk(t, 0, 0, 256, 512);
	disk_write(vt_disk(t, 0, 1, 256, 512), 30 * 512, b, 512);
	vt_up(t, F_EVIDX | F_HOTPLUG | ring, 0);
	/* A LUN appears while the event queue is empty: a missed event. */
	vt_disk(t, 0, 2, 64, 512);
	vt_clear_ua(t, 0, 0);
	vt_clear_ua(t, 0, 1);
	/* The driver's own sense size. */
	vt_config_write32(t, C_SENSE_SIZE, 64);
	t->sense_size = 64;

	/* In flight: a WRITE and a READ at the backends, one buffer not kicked yet. */
	vt_cmd_init(&c, 0, 0);
	vt_rw10(&c, 1, 20, 2);
	c.dout = a;
	c.dout_len = sizeof(a);
	tw = vt_submit(t, 2, &c);
	vt_cmd_init(&c, 0, 1);
	vt_rw10(&c, 0, 30, 1);
	c.din_len = 512;
	tr = vt_submit(t, 2, &c);
	vt_cmd_init(&c, 0, 1);
	vt_inquiry(&c, 36);
	{
		uint8_t *h;
		struct vdrv_seg s[3];
		uint64_t hg = vt_alloc(t, 51, 0), rg = vt_alloc(t, 76 + 36, 0xee);

		h = vdrv_host(&t->mem, hg);
		memcpy(h, c.lun, 8);
		memcpy(h + 19, c.cdb, 32);
		s[0] = (struct vdrv_seg){ hg, 51, 0 };
		s[1] = (struct vdrv_seg){ rg, 76, 1 };
		s[2] = (struct vdrv_seg){ rg + 76, 36, 1 };
		tq = vt_add(t, 2, s, 3, 0, rg, 76, rg + 76, 36, 0);
	}
	assert_int_equal(vt_collect(t, 2, &r), 0);
	blob = vt_save_dev(t->dev, &len);

	/* The destination: same options, same LUNs, the same storage contents. */
	t2 = vt_new(spec);
	vt_disk(t2, 0, 0, 256, 512);
	disk_write(vt_disk(t2, 0, 1, 256, 512), 30 * 512, b, 512);
	vt_disk(t2, 0, 2, 64, 512);
	vt_adopt(t2, t);
	used_before = ring ? 0 : vdrv_used_idx(&t2->vq[2]);
	assert_int_equal(vt_load_dev(t2->dev, blob, len), 0);
	assert_int_equal(vdev_virtio_status(t2->vd), 0x0f);
	assert_int_equal(vt_config32(t2, C_SENSE_SIZE), 64);
	/* A load writes nothing to the guest; the commands run when the VM does. */
	if (!ring)
		assert_int_equal(vdrv_used_idx(&t2->vq[2]), used_before);
	assert_int_equal(vt_collect(t2, 2, &r), 0);
	run_timers(t2);
	vt_poll(t2);
	while (vt_collect(t2, 2, &r)) {
		assert_int_equal(r.response, S_OK);
		assert_int_equal(r.status, VDEV_SCSI_GOOD);
		if (r.token == tw) {
			assert_int_equal(r.used, 76);
		} else if (r.token == tr) {
			assert_int_equal(r.used, 76 + 512);
			assert_memory_equal(r.din, b, 512);
		} else {
			assert_int_equal(r.token, tq);
			assert_int_equal(r.used, 76 + 36);
			assert_memory_equal(r.din + 8, "LIBVDEV ", 8);
		}
		seen++;
	}
	assert_int_equal(seen, 3);
	/* Exactly once. */
	run_timers(t2);
	vt_poll(t2);
	assert_int_equal(vt_collect(t2, 2, &r), 0);
	/* The WRITE reached the destination's disk. */
	vt_cmd_init(&c, 0, 0);
	vt_rw10(&c, 0, 20, 2);
	c.din_len = sizeof(a);
	vt_run(t2, 2, &c, &r);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	assert_memory_equal(r.din, a, sizeof(a));
	/* The missed event is reported once the driver gives a buffer. */
	vt_event_buf(t2, 16, 1);
	assert_int_equal(vt_collect(t2, 1, &r), 1);
	assert_int_equal(vt_le32(r.resp), EV_NO_EVENT | EV_MISSED);

	/* The source's backends finishing late change nothing at the destination. */
	vt_poll(t);
	assert_int_equal(vt_collect(t2, 2, &r), 0);
	free(blob);
	vt_free(t2);
	vt_free(t);
}

static void test_save_load_pci(void **state)
{
	(void)state;
	save_load_inflight("virtio-scsi-pci,num-queues=2", 0);
}

static void test_save_load_mmio_packed(void **state)
{
	(void)state;
	save_load_inflight("virtio-scsi-mmio", F_PACKED);
}

/* Loads that must fail leave the device as it was, its commands included. */
static void test_load_refused(void **state)
{
	struct vt *t = vt_new("virtio-scsi-pci"), *o;
	uint8_t *blob, *blob2;
	size_t len, len2;
	struct vt_cmd c;
	struct vt_res r;
	uint64_t tk;
	uint8_t data[512];

	(void)state;
	memset(data, 0x3c, sizeof(data));
	vt_disk(t, 0, 0, 64, 512);
	vt_disk(t, 0, 1, 64, 512);
	vt_up(t, 0, 0);
	blob = vt_save_dev(t->dev, &len);

	/* A device with another seg_max: refused, untouched. */
	o = vt_new("virtio-scsi-pci,seg-max=100");
	vt_disk(o, 0, 0, 64, 512);
	vt_disk(o, 0, 1, 64, 512);
	assert_int_not_equal(vt_load_dev(o->dev, blob, len), 0);
	assert_int_equal(vdev_virtio_status(o->vd), 0);
	vt_free(o);
	/* The other transport: refused. */
	o = vt_new("virtio-scsi-mmio");
	assert_int_not_equal(vt_load_dev(o->dev, blob, len), 0);
	vt_free(o);

	/* A busy device with other LUNs: the bus refuses; its own write still completes once. */
	o = vt_new("virtio-scsi-pci");
	vt_disk(o, 0, 0, 64, 512);
	vt_up(o, 0, 0);
	vt_clear_ua(o, 0, 0);
	vt_cmd_init(&c, 0, 0);
	vt_rw10(&c, 1, 3, 1);
	c.dout = data;
	c.dout_len = sizeof(data);
	tk = vt_submit(o, 2, &c);
	blob2 = vt_save_dev(o->dev, &len2);
	assert_int_not_equal(vt_load_dev(o->dev, blob, len), 0);
	assert_int_equal(vdev_virtio_status(o->vd), 0x0f);
	assert_int_equal(vt_collect(o, 2, &r), 0);
	run_timers(o);
	vt_poll(o);
	assert_int_equal(vt_collect(o, 2, &r), 1);
	assert_int_equal(r.token, tk);
	assert_int_equal(r.response, S_OK);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	run_timers(o);
	vt_poll(o);
	assert_int_equal(vt_collect(o, 2, &r), 0);

	/* Its own state loads into itself with a command in flight: completes once. */
	tk = vt_submit(o, 2, &c);
	free(blob2);
	blob2 = vt_save_dev(o->dev, &len2);
	assert_int_equal(vt_load_dev(o->dev, blob2, len2), 0);
	vt_poll(o); /* the old submission was taken back: nothing to complete */
	assert_int_equal(vt_collect(o, 2, &r), 0);
	run_timers(o);
	vt_poll(o);
	assert_int_equal(vt_collect(o, 2, &r), 1);
	assert_int_equal(r.token, tk);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	vt_poll(o);
	assert_int_equal(vt_collect(o, 2, &r), 0);

	free(blob2);
	free(blob);
	vt_free(o);
	vt_free(t);
}

static void reset_midflight(int how)
{
	struct vt *t = vt_new("virtio-scsi-pci,num-queues=2");
	uint8_t data[512];
	struct vt_cmd c;
	struct vt_res r;
	uint16_t u2, u3;
	uint64_t tk[2];
	uint8_t *resp[2];

	memset(data, 0x42, sizeof(data));
	vt_disk(t, 0, 0, 64, 512);
	vt_disk(t, 1, 0, 64, 512);
	vt_up(t, 0, 0);
	vt_clear_ua(t, 0, 0);
	vt_clear_ua(t, 1, 0);
	vt_cmd_init(&c, 0, 0);
	vt_rw10(&c, 1, 1, 1);
	c.dout = data;
	c.dout_len = sizeof(data);
	tk[0] = vt_submit(t, 2, &c);
	vt_cmd_init(&c, 1, 0);
	vt_rw10(&c, 0, 1, 1);
	c.din_len = 512;
	tk[1] = vt_submit(t, 3, &c);
	for (int i = 0; i < 2; i++)
		resp[i] = vdrv_host(&t->mem, t->tok[tk[i]].resp);
	u2 = vdrv_used_idx(&t->vq[2]);
	u3 = vdrv_used_idx(&t->vq[3]);

	if (how == 0) {
		vio_reset(&t->d);
	} else {
		vdev_device_reset(t->dev);
		vio_pci_enable(&t->d);
	}
	assert_int_equal(vdev_virtio_status(t->vd), 0);
	vt_poll(t);
	run_timers(t);
	/* Nothing was written to the guest after the reset. */
	assert_int_equal(vdrv_used_idx(&t->vq[2]), u2);
	assert_int_equal(vdrv_used_idx(&t->vq[3]), u3);
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < 108; k++)
			assert_int_equal(resp[i][k], 0xee);

	/* It comes back, with the reset's unit attention. */
	vt_up(t, 0, 0);
	vt_cmd_init(&c, 1, 0);
	vt_tur(&c);
	vt_run(t, 3, &c, &r);
	vt_expect_sense(&r, VDEV_SCSI_SK_UNIT_ATTENTION, 0x29);
	vt_clear_ua(t, 0, 0);
	vt_cmd_init(&c, 0, 0);
	vt_rw10(&c, 0, 1, 1);
	c.din_len = 512;
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);

	/* And it can go away with commands in flight. */
	vt_submit(t, 2, &c);
	vt_free(t);
}

static void test_reset_status_midflight(void **state)
{
	(void)state;
	reset_midflight(0);
}

static void test_reset_device_midflight(void **state)
{
	(void)state;
	reset_midflight(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_save_load_pci),
		cmocka_unit_test(test_save_load_mmio_packed),
		cmocka_unit_test(test_load_refused),
		cmocka_unit_test(test_reset_status_midflight),
		cmocka_unit_test(test_reset_device_midflight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
