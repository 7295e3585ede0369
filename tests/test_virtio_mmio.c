/* SPDX-License-Identifier: MIT */
/*
 * virtio-mmio version 2 transport: every register, access widths and
 * alignment, the window bounds, the init sequence, InterruptStatus /
 * InterruptACK with the level interrupt, config generation, QueueReady,
 * QueueReset, device reset, NOTIFICATION_DATA, doorbells, save/load.
 */
#include "test_virtio_model.h"

#define NQ 2

static uint32_t rd(struct tv *t, uint32_t off)
{
	uint8_t b[4];

	assert_int_equal(vdev_virtio_mmio_read(t->vd, off, b, 4), 0);
	return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
	       ((uint32_t)b[3] << 24);
}

static void wr(struct tv *t, uint32_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	assert_int_equal(vdev_virtio_mmio_write(t->vd, off, b, 4), 0);
}

static int level(struct tv *t)
{
	return mock_vmm_intx_level(&t->mv, TV_SRC, 1);
}

static void test_registers(void **state)
{
	struct tv *t = tv_new(0, NQ, 1);
	uint64_t df;

	(void)state;
	assert_int_equal(rd(t, VIO_MMIO_MAGIC), 0x74726976);
	assert_int_equal(rd(t, VIO_MMIO_VERSION), 2);
	assert_int_equal(rd(t, VIO_MMIO_DEVICE_ID), 0x1f);
	assert_int_equal(rd(t, VIO_MMIO_VENDOR_ID), 0x1af4);

	/* Feature words through the selector. */
	df = vio_device_features(&t->d);
	assert_true(df & F_V1);
	assert_true(df & BIT(TM_FEATURE_A));
	assert_true(df & F_RESET);
	wr(t, VIO_MMIO_DEV_FEATURES_SEL, 5);
	assert_int_equal(rd(t, VIO_MMIO_DEV_FEATURES), 0);

	/* Queues: QueueNumMax per queue, 0 past the last. */
	assert_int_equal(vio_num_queues(&t->d), NQ);
	wr(t, VIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(rd(t, VIO_MMIO_QUEUE_NUM_MAX), TM_QSIZE);
	assert_int_equal(rd(t, VIO_MMIO_QUEUE_READY), 0);
	wr(t, VIO_MMIO_QUEUE_SEL, NQ);
	assert_int_equal(rd(t, VIO_MMIO_QUEUE_NUM_MAX), 0);
	assert_int_equal(rd(t, VIO_MMIO_QUEUE_READY), 0);

	/* No shared memory regions: length (and base) -1 for any SHMSel. */
	for (uint32_t sel = 0; sel < 3; sel++) {
		wr(t, VIO_MMIO_SHM_SEL, sel);
		assert_int_equal(rd(t, VIO_MMIO_SHM_LEN_LO), 0xffffffffu);
		assert_int_equal(rd(t, VIO_MMIO_SHM_LEN_HI), 0xffffffffu);
		assert_int_equal(rd(t, VIO_MMIO_SHM_BASE_LO), 0xffffffffu);
		assert_int_equal(rd(t, VIO_MMIO_SHM_BASE_HI), 0xffffffffu);
	}

	/* Write-only registers read 0; read-only ones ignore writes. */
	wr(t, VIO_MMIO_QUEUE_SEL, 0);
	wr(t, VIO_MMIO_QUEUE_NUM, 8);
	wr(t, VIO_MMIO_QUEUE_DESC_LO, 0x1000);
	assert_int_equal(rd(t, VIO_MMIO_QUEUE_NUM), 0);
	assert_int_equal(rd(t, VIO_MMIO_QUEUE_DESC_LO), 0);
	assert_int_equal(rd(t, VIO_MMIO_DRV_FEATURES), 0);
	assert_int_equal(rd(t, VIO_MMIO_QUEUE_NOTIFY), 0);
	assert_int_equal(rd(t, VIO_MMIO_INT_ACK), 0);
	assert_int_equal(rd(t, VIO_MMIO_QUEUE_RESET), 0);
	wr(t, VIO_MMIO_MAGIC, 0);
	wr(t, VIO_MMIO_VERSION, 1);
	wr(t, VIO_MMIO_QUEUE_NUM_MAX, 1);
	wr(t, VIO_MMIO_INT_STATUS, 3);
	wr(t, VIO_MMIO_CONFIG_GEN, 9);
	assert_int_equal(rd(t, VIO_MMIO_MAGIC), 0x74726976);
	assert_int_equal(rd(t, VIO_MMIO_VERSION), 2);
	assert_int_equal(rd(t, VIO_MMIO_QUEUE_NUM_MAX), TM_QSIZE);
	assert_int_equal(rd(t, VIO_MMIO_INT_STATUS), 0);
	assert_int_equal(rd(t, VIO_MMIO_CONFIG_GEN), 0);
	/* Reserved offsets read 0. */
	assert_int_equal(rd(t, 0x018), 0);
	assert_int_equal(rd(t, 0x0f8), 0);

	/* The queue registers land where the device keeps them. */
	vio_reset(&t->d);
	vio_set_status(&t->d, 3);
	wr(t, VIO_MMIO_QUEUE_SEL, 1);
	wr(t, VIO_MMIO_QUEUE_NUM, 8);
	wr(t, VIO_MMIO_QUEUE_DESC_LO, 0x11111000);
	wr(t, VIO_MMIO_QUEUE_DESC_HI, 0x1);
	wr(t, VIO_MMIO_QUEUE_DRIVER_LO, 0x22222000);
	wr(t, VIO_MMIO_QUEUE_DRIVER_HI, 0x2);
	wr(t, VIO_MMIO_QUEUE_DEVICE_LO, 0x33333000);
	wr(t, VIO_MMIO_QUEUE_DEVICE_HI, 0x3);
	{
		struct vdev_virtio_doorbell db;
		uint8_t *blob;
		size_t len;

		/* Observe them through saved state: the queue section holds them. */
		blob = tv_save(t->vd, &len);
		assert_non_null(memmem(blob, len, "\x00\x10\x11\x11\x01\x00\x00\x00", 8));
		assert_non_null(memmem(blob, len, "\x00\x20\x22\x22\x02\x00\x00\x00", 8));
		assert_non_null(memmem(blob, len, "\x00\x30\x33\x33\x03\x00\x00\x00", 8));
		free(blob);
		assert_int_equal(vdev_virtio_get_doorbell(t->vd, 1, &db), 0);
		assert_int_equal(db.bar, -1);
		assert_int_equal(db.offset, VIO_MMIO_QUEUE_NOTIFY);
		assert_int_equal(db.size, 4);
		assert_int_equal(db.datamatch, 1);
		assert_int_equal(db.has_datamatch, 1);
	}
	tv_free(t);
}

static void test_widths(void **state)
{
	struct tv *t = tv_new(0, NQ, 1);
	uint8_t b[8];
	uint64_t v;

	(void)state;
	/* Registers: 32-bit aligned only. */
	memset(b, 0x5a, sizeof(b));
	assert_int_equal(vdev_virtio_mmio_read(t->vd, VIO_MMIO_MAGIC, b, 1), -EINVAL);
	assert_int_equal(b[0], 0);
	memset(b, 0x5a, sizeof(b));
	assert_int_equal(vdev_virtio_mmio_read(t->vd, VIO_MMIO_MAGIC, b, 2), -EINVAL);
	assert_int_equal(b[0] | b[1], 0);
	assert_int_equal(vdev_virtio_mmio_read(t->vd, VIO_MMIO_MAGIC, b, 8), -EINVAL);
	assert_int_equal(vdev_virtio_mmio_read(t->vd, VIO_MMIO_MAGIC + 2, b, 4), -EINVAL);
	assert_int_equal(vdev_virtio_mmio_read(t->vd, VIO_MMIO_MAGIC, b, 0), -EINVAL);
	/* A refused status write changes nothing. */
	b[0] = 1;
	assert_int_equal(vdev_virtio_mmio_write(t->vd, VIO_MMIO_STATUS, b, 1), -EINVAL);
	assert_int_equal(vdev_virtio_mmio_write(t->vd, VIO_MMIO_STATUS, b, 2), -EINVAL);
	assert_int_equal(vdev_virtio_mmio_write(t->vd, VIO_MMIO_STATUS + 1, b, 4), -EINVAL);
	assert_int_equal(vdev_virtio_status(t->vd), 0);
	assert_true(mock_vmm_log_contains(&t->mv, "refused"));
	/* Status bits above 7 do not exist: 0x100 is not "write 0" (a reset). */
	wr(t, VIO_MMIO_STATUS, 1);
	t->tm.resets = 0;
	wr(t, VIO_MMIO_STATUS, 0x100);
	assert_int_equal(t->tm.resets, 0);
	assert_int_equal(rd(t, VIO_MMIO_STATUS), 1);

	/* Outside the window: all-ones and -ERANGE. */
	memset(b, 0, sizeof(b));
	assert_int_equal(vdev_virtio_mmio_read(t->vd, 0x200, b, 4), -ERANGE);
	assert_int_equal(b[0] & b[1] & b[2] & b[3], 0xff);
	assert_int_equal(vdev_virtio_mmio_read(t->vd, 0x1fe, b, 4), -ERANGE);
	assert_int_equal(vdev_virtio_mmio_read(t->vd, UINT64_MAX - 1, b, 4), -ERANGE);
	assert_int_equal(vdev_virtio_mmio_write(t->vd, 0x200, b, 4), -ERANGE);
	assert_int_equal(vdev_virtio_mmio_read(t->vd, 0, NULL, 4), -EINVAL);
	assert_int_equal(vdev_virtio_mmio_read(NULL, 0, b, 4), -EINVAL);

	/* Config: 1, 2, 4, 8 bytes, naturally aligned. */
	assert_int_equal(vdev_virtio_mmio_read(t->vd, VIO_MMIO_CONFIG + 1, b, 1), 0);
	assert_int_equal(b[0], 0x11);
	assert_int_equal(vdev_virtio_mmio_read(t->vd, VIO_MMIO_CONFIG + 2, b, 2), 0);
	assert_int_equal(b[0], 0x12);
	assert_int_equal(b[1], 0x13);
	assert_int_equal(vdev_virtio_mmio_read(t->vd, VIO_MMIO_CONFIG, b, 8), 0);
	memcpy(&v, b, 8);
	assert_int_equal(v, 0x1716151413121110ull);
	assert_int_equal(vdev_virtio_mmio_read(t->vd, VIO_MMIO_CONFIG + 2, b, 4), -EINVAL);
	assert_int_equal(vdev_virtio_mmio_read(t->vd, VIO_MMIO_CONFIG, b, 3), -EINVAL);
	/* Past config_size: reads 0, writes go nowhere. */
	assert_int_equal(vdev_virtio_mmio_read(t->vd, VIO_MMIO_CONFIG + 8, b, 4), 0);
	assert_int_equal(b[0] | b[1] | b[2] | b[3], 0);
	b[0] = 0xee;
	b[1] = 0xdd;
	assert_int_equal(vdev_virtio_mmio_write(t->vd, VIO_MMIO_CONFIG + 6, b, 2), 0);
	assert_int_equal(t->tm.config[6], 0xee);
	assert_int_equal(t->tm.config[7], 0xdd);
	assert_int_equal(vdev_virtio_mmio_write(t->vd, VIO_MMIO_CONFIG + 0xf8, b, 8), 0);
	assert_int_equal(t->tm.config_writes, 1);
	tv_free(t);

	/* A device whose config does not fit the window cannot attach. */
	{
		struct mock_vmm mv;
		struct vdev_virtio_ops o = tm_ops(1, 0);
		struct vdev_virtio_mmio_opts mo = { .struct_size = sizeof(mo) };
		struct tmodel tm = { 0 };
		vdev_virtio *vd;

		o.config_size = 0x101;
		assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
		assert_int_equal(vdev_virtio_new(mv.ctx, &o, &tm, &vd), 0);
		assert_int_equal(vdev_virtio_mmio_attach(vd, &mo), -EINVAL);
		o.config_size = 0x100;
		vdev_virtio_free(vd);
		assert_int_equal(vdev_virtio_new(mv.ctx, &o, &tm, &vd), 0);
		assert_int_equal(vdev_virtio_mmio_attach(vd, NULL), -EINVAL);
		assert_int_equal(vdev_virtio_mmio_attach(vd, &mo), 0);
		assert_int_equal(vdev_virtio_mmio_attach(vd, &mo), -EBUSY);
		vdev_virtio_free(vd);
		mock_vmm_fini(&mv);
	}
}

static void init_sequence(uint64_t ring)
{
	struct tv *t = tv_new(0, NQ, 1);
	uint64_t want = F_V1 | F_EVIDX | F_INDIRECT | BIT(TM_FEATURE_B) | ring;

	tv_bringup(t, want);
	assert_int_equal(rd(t, VIO_MMIO_STATUS), 0x0f);
	assert_int_equal(vdev_virtio_features(t->vd), want);
	assert_int_equal(t->tm.starts, 1);
	for (uint32_t q = 0; q < NQ; q++) {
		wr(t, VIO_MMIO_QUEUE_SEL, q);
		assert_int_equal(rd(t, VIO_MMIO_QUEUE_READY), 1);
	}
	mock_vmm_clear_events(&t->mv);

	tv_request(t, 0, 10, 300, 1);
	vio_kick(&t->d, 0, &t->vq[0]);
	assert_int_equal(tv_collect(t, 0, 300), 1);
	assert_int_equal(rd(t, VIO_MMIO_INT_STATUS), 1);
	assert_int_equal(level(t), 1);
	/* ACK clears the bits written; the level follows. */
	wr(t, VIO_MMIO_INT_ACK, 2);
	assert_int_equal(rd(t, VIO_MMIO_INT_STATUS), 1);
	assert_int_equal(level(t), 1);
	wr(t, VIO_MMIO_INT_ACK, 1);
	assert_int_equal(rd(t, VIO_MMIO_INT_STATUS), 0);
	assert_int_equal(level(t), 0);
	assert_int_equal(t->mv.n_intx, 2);
	assert_int_equal(t->mv.intx[0].source_id, TV_SRC);
	assert_int_equal(t->mv.intx[0].pin, 1);
	tv_free(t);
}

static void test_init_sequence_split(void **state)
{
	(void)state;
	init_sequence(0);
}

static void test_init_sequence_packed(void **state)
{
	(void)state;
	init_sequence(F_PACKED);
}

static void test_config_interrupt(void **state)
{
	struct tv *t = tv_new(0, NQ, 1);
	uint32_t g;

	(void)state;
	g = rd(t, VIO_MMIO_CONFIG_GEN);
	vdev_virtio_config_changed(t->vd);
	assert_int_equal(rd(t, VIO_MMIO_CONFIG_GEN), g + 1);
	assert_int_equal(rd(t, VIO_MMIO_INT_STATUS), 0);
	tv_bringup(t, F_V1);
	vdev_virtio_config_changed(t->vd);
	assert_int_equal(rd(t, VIO_MMIO_CONFIG_GEN), g + 2);
	assert_int_equal(rd(t, VIO_MMIO_INT_STATUS), 2);
	assert_int_equal(level(t), 1);
	/* Both causes, acknowledged together. */
	tv_request(t, 1, 0, 4, 1);
	vio_kick(&t->d, 1, &t->vq[1]);
	assert_int_equal(vio_isr(&t->d), 3);
	assert_int_equal(level(t), 0);

	/* NEEDS_RESET from a hostile ring: the config interrupt. */
	vdrv_avail_ring_set(&t->vq[0], 0, 0xffff);
	vdrv_avail_idx_set(&t->vq[0], 1);
	vio_kick(&t->d, 0, NULL);
	assert_int_equal(t->tm.last_pop_rc, -EIO);
	assert_true(rd(t, VIO_MMIO_STATUS) & VDEV_VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(rd(t, VIO_MMIO_INT_STATUS), 2);
	assert_int_equal(level(t), 1);
	tv_free(t);
}

static void test_queue_ready_and_reset(void **state)
{
	struct tv *t = tv_new(0, NQ, 1);

	(void)state;
	tv_bringup(t, F_V1 | F_RESET);
	t->tm.hold = 1;
	tv_request(t, 0, 4, 4, 1);
	vio_kick(&t->d, 0, &t->vq[0]);
	tv_request(t, 1, 4, 4, 2);
	vio_kick(&t->d, 1, &t->vq[1]);
	assert_int_equal(tm_live(&t->tm), 2);

	/* QueueReset (RING_RESET). */
	assert_int_equal(vio_queue_reset(&t->d, 0), 0);
	assert_int_equal(t->tm.queue_resets[0], 1);
	assert_int_equal(tm_live(&t->tm), 1);
	assert_false(vdev_vq_started(vdev_virtio_queue(t->vd, 0)));
	vdrv_vq_reset(&t->vq[0]);
	assert_int_equal(vio_queue_setup(&t->d, 0, &t->vq[0], VIO_NO_VECTOR), 0);

	/* QueueReady 0: the queue is taken down through the model's queue reset. */
	wr(t, VIO_MMIO_QUEUE_SEL, 1);
	wr(t, VIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(rd(t, VIO_MMIO_QUEUE_READY), 0);
	assert_int_equal(t->tm.queue_resets[1], 1);
	assert_int_equal(tm_live(&t->tm), 0);
	assert_false(vdev_vq_started(vdev_virtio_queue(t->vd, 1)));
	/* ...and set up again. */
	vdrv_vq_reset(&t->vq[1]);
	assert_int_equal(vio_queue_setup(&t->d, 1, &t->vq[1], VIO_NO_VECTOR), 0);
	t->tm.hold = 0;
	tv_request(t, 1, 4, 12, 3);
	vio_kick(&t->d, 1, &t->vq[1]);
	assert_int_equal(tv_collect(t, 1, 12), 1);
	tv_free(t);

	/* A model without queue_reset: an idle queue can be taken down, a busy one not. */
	t = tv_new(0, NQ, 0);
	tv_bringup(t, F_V1);
	wr(t, VIO_MMIO_QUEUE_SEL, 0);
	wr(t, VIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(rd(t, VIO_MMIO_QUEUE_READY), 0);
	t->tm.hold = 1;
	tv_request(t, 1, 4, 4, 1);
	vio_kick(&t->d, 1, &t->vq[1]);
	wr(t, VIO_MMIO_QUEUE_SEL, 1);
	wr(t, VIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(rd(t, VIO_MMIO_QUEUE_READY), 1);
	assert_true(mock_vmm_log_contains(&t->mv, "in flight"));
	/* QueueReset without the feature: ignored. */
	wr(t, VIO_MMIO_QUEUE_RESET, 1);
	assert_int_equal(rd(t, VIO_MMIO_QUEUE_READY), 1);
	tm_complete_held(&t->tm);
	assert_int_equal(tv_collect(t, 1, 4), 1);
	tv_free(t);
}

static void test_device_reset(void **state)
{
	struct tv *t = tv_new(0, NQ, 1);

	(void)state;
	tv_bringup(t, F_V1);
	t->tm.hold = 1;
	tv_request(t, 0, 4, 4, 1);
	vio_kick(&t->d, 0, &t->vq[0]);
	vdev_virtio_config_changed(t->vd);
	assert_int_equal(level(t), 1);
	t->tm.resets = 0;
	wr(t, VIO_MMIO_STATUS, 0);
	assert_int_equal(t->tm.resets, 1);
	assert_int_equal(t->tm.nheld, 0);
	assert_int_equal(rd(t, VIO_MMIO_STATUS), 0);
	assert_int_equal(rd(t, VIO_MMIO_INT_STATUS), 0);
	assert_int_equal(level(t), 0);
	for (uint32_t q = 0; q < NQ; q++) {
		wr(t, VIO_MMIO_QUEUE_SEL, q);
		assert_int_equal(rd(t, VIO_MMIO_QUEUE_READY), 0);
		assert_false(vdev_vq_started(vdev_virtio_queue(t->vd, q)));
	}
	/* Registers work exactly as before afterwards. */
	t->tm.hold = 0;
	tv_bringup(t, F_V1);
	tv_request(t, 0, 4, 4, 2);
	vio_kick(&t->d, 0, &t->vq[0]);
	assert_int_equal(tv_collect(t, 0, 4), 1);
	tv_free(t);
}

static void test_notification_data(void **state)
{
	struct tv *t = tv_new(0, NQ, 1);
	struct vdev_virtio_doorbell db;

	(void)state;
	tv_bringup(t, F_V1 | F_NDATA);
	assert_int_equal(vdev_virtio_get_doorbell(t->vd, 1, &db), 0);
	assert_int_equal(db.has_datamatch, 0);
	memset(t->tm.notifies, 0, sizeof(t->tm.notifies));
	tv_request(t, 1, 4, 4, 1);
	vio_kick(&t->d, 1, &t->vq[1]); /* 1 | next index << 16 */
	assert_int_equal(t->tm.notifies[1], 1);
	assert_int_equal(t->tm.notifies[0], 0);
	assert_int_equal(tv_collect(t, 1, 4), 1);

	/* Without NOTIFICATION_DATA the value is the plain index; a bad one is ignored. */
	tv_bringup(t, F_V1);
	memset(t->tm.notifies, 0, sizeof(t->tm.notifies));
	wr(t, VIO_MMIO_QUEUE_NOTIFY, 0x10001);
	wr(t, VIO_MMIO_QUEUE_NOTIFY, NQ);
	assert_int_equal(t->tm.notifies[0] + t->tm.notifies[1], 0);
	assert_true(mock_vmm_log_contains(&t->mv, "does not exist"));
	wr(t, VIO_MMIO_QUEUE_NOTIFY, 1);
	assert_int_equal(t->tm.notifies[1], 1);
	tv_free(t);
}

static void test_save_load(void **state)
{
	struct tv *t = tv_new(0, NQ, 1), *t2, *t3;
	uint8_t *blob, *blob2, *bad;
	size_t len, len2;
	int refused = 0;

	(void)state;
	tv_bringup(t, F_V1 | F_PACKED | F_EVIDX);
	t->tm.hold = 1;
	tv_request(t, 0, 8, 64, 1);
	tv_request(t, 0, 8, 64, 2);
	vio_kick(&t->d, 0, &t->vq[0]);
	vdev_virtio_config_changed(t->vd); /* InterruptStatus 2 pending */
	wr(t, VIO_MMIO_SHM_SEL, 3);
	t->tm.config[0] = 0x42;
	blob = tv_save(t->vd, &len);

	t2 = tv_new(0, NQ, 1);
	memcpy(t2->mv.ram, t->mv.ram, TM_RAM);
	assert_int_equal(tv_load(t2->vd, blob, len), 0);
	assert_int_equal(rd(t2, VIO_MMIO_STATUS), 0x0f);
	assert_int_equal(rd(t2, VIO_MMIO_INT_STATUS), 2);
	assert_int_equal(level(t2), 1); /* the level is re-driven */
	assert_int_equal(t2->tm.config[0], 0x42);
	blob2 = tv_save(t2->vd, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(blob, blob2, len);
	free(blob2);
	/* The requests in flight at the source complete at the destination. */
	t->mem.base = t2->mv.ram;
	assert_int_equal(vdev_virtio_kick(t2->vd, 0), 0);
	assert_int_equal(tv_collect(t, 0, 64), 2);
	tv_request(t, 0, 8, 32, 3);
	vio_kick(&t2->d, 0, &t->vq[0]);
	assert_int_equal(tv_collect(t, 0, 32), 1);
	t->mem.base = t->mv.ram;

	/* Corruptions are refused without a trace (or are some other valid state). */
	t3 = tv_new(0, NQ, 1);
	memcpy(t3->mv.ram, t->mv.ram, TM_RAM);
	bad = malloc(len);
	assert_non_null(bad);
	for (size_t i = 0; i < len; i++) {
		uint8_t *before, *after;
		size_t lb, la;
		int rc;

		memcpy(bad, blob, len);
		bad[i] ^= 0x80;
		before = tv_save(t3->vd, &lb);
		rc = tv_load(t3->vd, bad, len);
		if (rc) {
			refused++;
			after = tv_save(t3->vd, &la);
			assert_int_equal(lb, la);
			assert_memory_equal(before, after, lb);
			free(after);
		} else {
			assert_int_equal(tv_load(t3->vd, blob, len), 0);
		}
		free(before);
	}
	assert_true(refused > 0);
	/* InterruptStatus with a bit that does not exist: -ERANGE. */
	{
		uint8_t *ista = memmem(blob, len, "ISTA", 4);

		assert_non_null(ista);
		memcpy(bad, blob, len);
		bad[ista - blob + 12] = 4; /* the u32 payload after the 12-byte record header */
		assert_int_equal(tv_load(t3->vd, bad, len), -ERANGE);
	}
	/* The model refusing its state fails the load. */
	t3->tm.fail_load = 1;
	assert_int_equal(tv_load(t3->vd, blob, len), -EBADMSG);
	free(bad);
	free(blob);
	tv_free(t3);
	tv_free(t2);
	tv_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registers),
		cmocka_unit_test(test_widths),
		cmocka_unit_test(test_init_sequence_split),
		cmocka_unit_test(test_init_sequence_packed),
		cmocka_unit_test(test_config_interrupt),
		cmocka_unit_test(test_queue_ready_and_reset),
		cmocka_unit_test(test_device_reset),
		cmocka_unit_test(test_notification_data),
		cmocka_unit_test(test_save_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
