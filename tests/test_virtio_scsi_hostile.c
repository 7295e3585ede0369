/* SPDX-License-Identifier: MIT */
/*
 * virtio-scsi requests a driver should not send, or lays out unusually:
 * header, response and data cut at arbitrary points and sharing buffers,
 * no writable part, a response area too small (nothing written, not one
 * byte past the buffers), a header too short (FAILURE), data-in or
 * data-out too small for the CDB (OVERRUN with the residual),
 * bidirectional requests without VIRTIO_SCSI_F_INOUT, more segments than
 * seg_max, absurd cdb_size/sense_size, chains the device cannot hold.
 */
#include "test_virtio_scsi_util.h"

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 29u) ^ (seed * 13u) ^ (i >> 8));
}

static struct vt *up_with_disk(const char *spec, uint64_t features)
{
	struct vt *t = vt_new(spec);

	vt_disk(t, 0, 0, 256, 512);
	vt_up(t, features, 0);
	vt_clear_ua(t, 0, 0);
	return t;
}

/* Write a command header (cdb 32) at host address @p. */
static void put_header(uint8_t *p, unsigned int target, unsigned int lun, const uint8_t *cdb)
{
	memset(p, 0, 51);
	vt_lun(p, target, lun);
	vt_put64(p + 8, 0x77);
	memcpy(p + 19, cdb, 16);
}

static void rw10_cdb(uint8_t *cdb, int write, uint32_t lba, uint16_t blocks)
{
	memset(cdb, 0, 16);
	cdb[0] = write ? 0x2a : 0x28;
	vt_be32(cdb + 2, lba);
	cdb[7] = (uint8_t)(blocks >> 8);
	cdb[8] = (uint8_t)blocks;
}

/*
 * Header + data-out in one buffer and response + data-in in another, both
 * cut into @piece-byte segments so that boundaries fall inside segments.
 */
static void shared_buffers(struct vt *t, uint32_t piece, unsigned int flags)
{
	uint8_t cdb[16], data[1024];
	struct vdrv_seg s[200];
	struct vt_res r;
	uint64_t g, w;
	unsigned int n;

	fill_pattern(data, sizeof(data), piece);
	g = vt_alloc(t, 51 + 1024, 0);
	rw10_cdb(cdb, 1, 10, 2);
	put_header(vdrv_host(&t->mem, g), 0, 0, cdb);
	memcpy((uint8_t *)vdrv_host(&t->mem, g) + 51, data, 1024);
	w = vt_alloc(t, 108, 0xee);
	n = vt_segs(s, 0, g, 51 + 1024, 0, piece);
	n = vt_segs(s, n, w, 108, 1, piece);
	vt_add(t, 2, s, n, flags, w, 108, 0, 0, 1);
	vt_poll(t);
	assert_int_equal(vt_collect(t, 2, &r), 1);
	assert_int_equal(r.response, S_OK);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	assert_int_equal(r.used, 108);

	g = vt_alloc(t, 51, 0);
	rw10_cdb(cdb, 0, 10, 2);
	put_header(vdrv_host(&t->mem, g), 0, 0, cdb);
	w = vt_alloc(t, 108 + 1024, 0xee);
	n = vt_segs(s, 0, g, 51, 0, piece);
	n = vt_segs(s, n, w, 108 + 1024, 1, piece);
	vt_add(t, 2, s, n, flags, w, 108, w + 108, 1024, 1);
	vt_poll(t);
	assert_int_equal(vt_collect(t, 2, &r), 1);
	assert_int_equal(r.response, S_OK);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	assert_int_equal(r.used, 108 + 1024);
	assert_memory_equal(r.din, data, 1024);
}

static void test_split_layouts(void **state)
{
	struct vt *t = up_with_disk("virtio-scsi-pci", F_INDIRECT);
	static const uint32_t pieces[] = { 1024 + 51, 100, 50, 33, 17 };

	(void)state;
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++)
		shared_buffers(t, pieces[i], 0);
	/* 1-byte header segments, through an indirect table. */
	{
		struct vdrv_seg s[128];
		uint8_t cdb[16] = { 0x12, 0, 0, 0, 36 }; /* INQUIRY */
		uint64_t g = vt_alloc(t, 51, 0), w = vt_alloc(t, 108 + 36, 0xee);
		struct vt_res r;
		unsigned int n;

		put_header(vdrv_host(&t->mem, g), 0, 0, cdb);
		n = vt_segs(s, 0, g, 51, 0, 1);
		n = vt_segs(s, n, w, 108 + 36, 1, 5);
		assert_true(n <= 126 + 2);
		vt_add(t, 2, s, n, VDRV_ADD_INDIRECT, w, 108, w + 108, 36, 1);
		vt_poll(t);
		assert_int_equal(vt_collect(t, 2, &r), 1);
		assert_int_equal(r.status, VDEV_SCSI_GOOD);
		assert_int_equal(r.used, 108 + 36);
		assert_memory_equal(r.din + 8, "LIBVDEV ", 8);
	}
	vt_free(t);
}

/* A request the device cannot answer properly, then a good one: the queue goes on. */
static void test_short_requests(void **state)
{
	struct vt *t = up_with_disk("virtio-scsi-pci", 0);
	uint8_t cdb[16] = { 0 };
	struct vdrv_seg s[4];
	struct vt_res r;
	struct vt_cmd c;
	uint64_t g, w;
	uint8_t *wp;

	(void)state;
	/* No writable part at all: completed with 0 bytes. */
	g = vt_alloc(t, 51, 0);
	put_header(vdrv_host(&t->mem, g), 0, 0, cdb);
	s[0] = (struct vdrv_seg){ g, 51, 0 };
	vt_add(t, 2, s, 1, 0, g, 0, 0, 0, 1);
	assert_int_equal(vt_collect(t, 2, &r), 1);
	assert_int_equal(r.used, 0);

	/* A response area one byte short, with guard bytes after it: nothing written. */
	w = vt_alloc(t, 107 + 64, 0xee);
	wp = vdrv_host(&t->mem, w);
	s[0] = (struct vdrv_seg){ g, 51, 0 };
	s[1] = (struct vdrv_seg){ w, 60, 1 };
	s[2] = (struct vdrv_seg){ w + 60, 47, 1 };
	vt_add(t, 2, s, 3, 0, w, 0, 0, 0, 1);
	assert_int_equal(vt_collect(t, 2, &r), 1);
	assert_int_equal(r.used, 0);
	for (int i = 0; i < 107 + 64; i++)
		assert_int_equal(wp[i], 0xee);

	/* A header one byte short: FAILURE in a full response. */
	w = vt_alloc(t, 108, 0xee);
	s[0] = (struct vdrv_seg){ g, 50, 0 };
	s[1] = (struct vdrv_seg){ w, 108, 1 };
	vt_add(t, 2, s, 2, 0, w, 108, 0, 0, 1);
	assert_int_equal(vt_collect(t, 2, &r), 1);
	assert_int_equal(r.used, 108);
	assert_int_equal(r.response, S_FAILURE);
	assert_int_equal(r.sense_len, 0);
	/* Nothing readable at all. */
	w = vt_alloc(t, 108, 0xee);
	s[0] = (struct vdrv_seg){ w, 108, 1 };
	vt_add(t, 2, s, 1, 0, w, 108, 0, 0, 1);
	assert_int_equal(vt_collect(t, 2, &r), 1);
	assert_int_equal(r.used, 108);
	assert_int_equal(r.response, S_FAILURE);

	/* Still working. */
	vt_cmd_init(&c, 0, 0);
	vt_inquiry(&c, 36);
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	vt_free(t);
}

static void test_overrun(void **state)
{
	struct vt *t = up_with_disk("virtio-scsi-mmio", 0);
	uint8_t data[4096];
	struct vt_cmd c;
	struct vt_res r;

	(void)state;
	memset(data, 0x5a, sizeof(data));
	/* READ(10) of 8 blocks into 1 KiB of data-in. */
	vt_cmd_init(&c, 0, 0);
	vt_rw10(&c, 0, 0, 8);
	c.din_len = 1024;
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.response, S_OVERRUN);
	assert_int_equal(r.resid, 4096 - 1024);
	assert_true(r.used >= 108 && r.used <= 108 + 1024);
	/* WRITE(10) of 8 blocks with 512 bytes of data-out. */
	vt_cmd_init(&c, 0, 0);
	vt_rw10(&c, 1, 0, 8);
	c.dout = data;
	c.dout_len = 512;
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.response, S_OVERRUN);
	assert_int_equal(r.resid, 4096 - 512);
	assert_int_equal(r.used, 108);
	/* More buffer than the command wants is fine: an underrun residual. */
	vt_cmd_init(&c, 0, 0);
	vt_rw10(&c, 0, 0, 1);
	c.din_len = 2048;
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.response, S_OK);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	assert_int_equal(r.used, 108 + 512);
	assert_int_equal(r.resid, 2048 - 512);
	vt_free(t);
}

static void test_bidirectional(void **state)
{
	uint8_t data[512];
	struct vt_cmd c;
	struct vt_res r;
	struct vt *t;

	(void)state;
	memset(data, 0x11, sizeof(data));
	for (int inout = 0; inout < 2; inout++) {
		t = up_with_disk("virtio-scsi-pci", inout ? F_INOUT : 0);
		assert_int_equal(!!(t->d.features & F_INOUT), inout);
		vt_cmd_init(&c, 0, 0);
		vt_rw10(&c, 1, 5, 1);
		c.dout = data;
		c.dout_len = 512;
		c.din_len = 64;
		vt_run(t, 2, &c, &r);
		if (!inout) {
			/* §5.6.6.1.1: both directions without INOUT fail at once. */
			assert_int_equal(r.response, S_FAILURE);
			assert_int_equal(r.used, 108);
		} else {
			assert_int_equal(r.response, S_OK);
			assert_int_equal(r.status, VDEV_SCSI_GOOD);
			assert_int_equal(r.resid, 64); /* nothing came back */
			assert_int_equal(r.used, 108);
		}
		vt_free(t);
	}
}

/* seg_max 2 (slots hold 10 iovecs): a 14-segment request is answered, not stalled. */
static void test_oversized(void **state)
{
	struct vt *t = vt_new("virtio-scsi-pci,queue-size=16,seg-max=2");
	uint8_t cdb[16] = { 0x12, 0, 0, 0, 36 };
	struct vdrv_seg s[16];
	struct vt_res r;
	struct vt_cmd c;
	uint64_t g, w;
	unsigned int n;

	(void)state;
	vt_disk(t, 0, 0, 64, 512);
	vt_up(t, F_INDIRECT, 0);
	assert_int_equal(vt_config32(t, C_SEG_MAX), 2);
	g = vt_alloc(t, 51, 0);
	put_header(vdrv_host(&t->mem, g), 0, 0, cdb);
	w = vt_alloc(t, 108 + 36, 0xee);
	n = vt_segs(s, 0, g, 51, 0, 5);   /* 11 */
	n = vt_segs(s, n, w, 108, 1, 108);
	n = vt_segs(s, n, w + 108, 36, 1, 18);
	assert_int_equal(n, 14);
	vt_add(t, 2, s, n, VDRV_ADD_INDIRECT, w, 108, w + 108, 36, 1);
	assert_int_equal(vt_collect(t, 2, &r), 1);
	assert_int_equal(r.response, S_FAILURE);
	assert_int_equal(r.used, 108);
	/* Beyond seg_max but within the slot's spare iovecs: served. */
	n = vt_segs(s, 0, g, 51, 0, 17);  /* 3 */
	n = vt_segs(s, n, w, 108, 1, 54); /* 2 */
	n = vt_segs(s, n, w + 108, 36, 1, 9);
	assert_int_equal(n, 9);
	vt_add(t, 2, s, n, VDRV_ADD_INDIRECT, w, 108, w + 108, 36, 1);
	assert_int_equal(vt_collect(t, 2, &r), 1);
	assert_int_equal(r.response, S_OK);
	assert_int_equal(r.used, 108 + 36);
	/* And the queue goes on. */
	vt_cmd_init(&c, 0, 0);
	vt_inquiry(&c, 36);
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	assert_int_equal(vdev_virtio_status(t->vd) & VDEV_VIRTIO_STATUS_NEEDS_RESET, 0);
	vt_free(t);
}

/*
 * RAM in 4 KiB regions: every 16 KiB buffer becomes 4 iovecs, so a
 * 16-descriptor chain can need 61 — more than even the scratch array (48
 * with queue size 16): the device asks for a reset rather than stalling
 * or overflowing.
 */
static void test_too_many_iovecs(void **state)
{
	struct vt *t = calloc(1, sizeof(*t));
	struct vdrv_seg s[16];
	uint8_t cdb[16] = { 0x12, 0, 0, 0, 36 };
	uint64_t g, w;
	struct vt_res r;
	unsigned int n;

	(void)state;
	assert_non_null(t);
	assert_int_equal(mock_vmm_init(&t->mv, 1u << 20, 256), 0);
	assert_int_equal(vdev_device_create_kv(t->mv.ctx, "virtio-scsi-mmio,queue-size=16",
					       &t->dev), 0);
	t->vd = vdev_device_virtio(t->dev);
	t->bus = vdev_virtio_scsi_bus(t->dev);
	assert_int_equal(vio_mmio_init(&t->d, t->vd), 0);
	vdrv_mem_init(&t->mem, t->mv.ram, 0x1000, 1u << 20);
	t->cdb_size = 32;
	t->sense_size = 96;
	vt_disk(t, 0, 0, 64, 512);
	vt_up(t, 0, 0); /* three queues' rings fit in the first page: no region crossing */
	/* A request whose buffers span regions but fits: served. */
	g = vt_alloc(t, 51 + 8192, 0);
	g = (g + 4095) & ~4095ull;
	g += 4070; /* the header straddles a region boundary */
	put_header(vdrv_host(&t->mem, g), 0, 0, cdb);
	w = vt_alloc(t, 4096, 0xee);
	s[0] = (struct vdrv_seg){ g, 51, 0 };
	s[1] = (struct vdrv_seg){ w, 108 + 36, 1 };
	vt_add(t, 2, s, 2, 0, w, 108, w + 108, 36, 1);
	assert_int_equal(vt_collect(t, 2, &r), 1);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	assert_int_equal(r.used, 108 + 36);
	/* 1 + 15 descriptors of 16 KiB each: 2 + 60 iovecs. */
	w = vt_alloc(t, 16 * 16384, 0xee);
	w = (w + 4095) & ~4095ull;
	s[0] = (struct vdrv_seg){ g, 51, 0 };
	n = vt_segs(s, 1, w, 15 * 16384, 1, 16384);
	assert_int_equal(n, 16);
	vt_add(t, 2, s, n, 0, w, 108, 0, 0, 1);
	assert_true(vdev_virtio_status(t->vd) & VDEV_VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(vt_collect(t, 2, &r), 0);
	/* A reset brings it back. */
	vio_reset(&t->d);
	t->mem.next = (t->mem.next + 4095) & ~4095ull;
	vt_up(t, 0, 0);
	{
		struct vt_cmd c;

		vt_cmd_init(&c, 0, 0);
		vt_inquiry(&c, 36);
		vt_run(t, 2, &c, &r);
		assert_int_equal(r.status, VDEV_SCSI_GOOD);
	}
	vt_free(t);
}

static void test_absurd_sizes(void **state)
{
	struct vt *t = up_with_disk("virtio-scsi-pci", 0);
	struct vt_cmd c;
	struct vt_res r;
	struct vdrv_seg s[2];
	uint64_t w;
	uint8_t *wp;

	(void)state;
	/* A header of 4 GiB: never there; the response still fits: FAILURE. */
	vt_config_write32(t, C_CDB_SIZE, 0xffffffffu);
	vt_cmd_init(&c, 0, 0);
	vt_inquiry(&c, 36);
	t->cdb_size = 32;
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.response, S_FAILURE);
	assert_int_equal(r.used, 108);
	vt_config_write32(t, C_CDB_SIZE, 32);
	/* A 4 GiB sense area: no response fits: 0 bytes, nothing written. */
	vt_config_write32(t, C_SENSE_SIZE, 0xfffffff0u);
	w = vt_alloc(t, 4096, 0xee);
	wp = vdrv_host(&t->mem, w);
	s[0] = (struct vdrv_seg){ vt_alloc(t, 51, 0), 51, 0 };
	memcpy(vdrv_host(&t->mem, s[0].gpa), c.lun, 8);
	s[1] = (struct vdrv_seg){ w, 4096, 1 };
	vt_add(t, 2, s, 2, 0, w, 0, 0, 0, 1);
	vt_poll(t);
	assert_int_equal(vt_collect(t, 2, &r), 1);
	assert_int_equal(r.used, 0);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(wp[i], 0xee);
	vt_config_write32(t, C_SENSE_SIZE, 96);
	/* An unknown task attribute is taken as SIMPLE. */
	vt_cmd_init(&c, 0, 0);
	vt_inquiry(&c, 36);
	c.attr = 0xff;
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.response, S_OK);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	vt_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_layouts),
		cmocka_unit_test(test_short_requests),
		cmocka_unit_test(test_overrun),
		cmocka_unit_test(test_bidirectional),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_too_many_iovecs),
		cmocka_unit_test(test_absurd_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
