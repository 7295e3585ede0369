/* SPDX-License-Identifier: MIT */
/*
 * SBC-4 data path of the SCSI target on memory-backed disks: READ/WRITE
 * 6/10/12/16 round trips (512 and 4096-byte blocks, scattered buffers),
 * range checks including LBA wrap, MAXIMUM TRANSFER LENGTH, short data-out
 * and data-in buffers, read-only LUNs, READ CAPACITY 10/16, SYNCHRONIZE
 * CACHE, GET LBA STATUS, and the backend error → sense mapping.
 */
#include "scsi_test_util.h"
#include "scsi/scsi_internal.h"

#define MB (1024u * 1024u)

static int setup(void **state)
{
	struct st *s = st_new();

	st_add_disk(s, 0, 0, 8 * MB, 512);     /* 16384 blocks */
	st_add_disk(s, 0, 1, 8 * MB, 4096);    /* 2048 blocks */
	st_clear_ua(s, 0, 0);
	st_clear_ua(s, 0, 1);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	st_free(*state);
	return 0;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 131u + seed * 7u + (i >> 9)) ^ seed);
}

static void test_rw_roundtrip(void **state)
{
	struct st *s = *state;
	static const uint8_t wops[] = { 0x0a, 0x2a, 0xaa, 0x8a };
	static const uint8_t rops[] = { 0x08, 0x28, 0xa8, 0x88 };
	uint8_t *data = malloc(256 * 4096), *back = malloc(256 * 4096);

	for (unsigned int l = 0; l < 2; l++) {
		uint32_t bs = l ? 4096 : 512;

		for (unsigned int i = 0; i < 4; i++) {
			uint8_t cdb[16];
			uint64_t lba = 100 + i * 37;
			uint32_t n = 3 + i;
			struct sreq *q;

			fill(data, (size_t)n * bs, i + 10 * l);
			q = st_cmd(s, 0, (uint16_t)l, cdb, st_cdb_rw(cdb, wops[i], lba, n), data,
				   (size_t)n * bs, 0);
			st_expect_good(q);
			assert_int_equal(q->r.data_out_len, (uint64_t)n * bs);
			assert_int_equal(q->r.residual, 0);
			sreq_free(q);
			/* Read back with every read opcode. */
			for (unsigned int k = 0; k < 4; k++) {
				q = st_cmd(s, 0, (uint16_t)l, cdb, st_cdb_rw(cdb, rops[k], lba, n),
					   NULL, 0, (size_t)n * bs + 100);
				st_expect_good(q);
				assert_int_equal(q->r.data_in_len, (uint64_t)n * bs);
				assert_int_equal(q->r.residual, 100);
				assert_memory_equal(q->in, data, (size_t)n * bs);
				assert_int_equal(q->in[n * bs], 0xa5);
				sreq_free(q);
			}
		}
	}

	/* READ(6)/WRITE(6) with length 0 move 256 blocks. */
	{
		uint8_t cdb[16];
		struct sreq *q;

		fill(data, 256 * 512, 99);
		q = st_cmd(s, 0, 0, cdb, st_cdb_rw(cdb, 0x0a, 1000, 0), data, 256 * 512, 0);
		st_expect_good(q);
		sreq_free(q);
		st_read(s, 0, 0, 1000, back, 256, 512);
		assert_memory_equal(back, data, 256 * 512);
		q = st_cmd(s, 0, 0, cdb, st_cdb_rw(cdb, 0x08, 1000, 0), NULL, 0, 256 * 512);
		st_expect_good(q);
		assert_int_equal(q->r.data_in_len, 256 * 512);
		assert_memory_equal(q->in, data, 256 * 512);
		sreq_free(q);
		/* READ(6) reaches LBA 0x1fffff at most: 21 bits. */
		cdb[1] = 0x20;
		st_cmd_bad_cdb(s, 0, 0, cdb, 6, 1, 5);
	}
	free(data);
	free(back);
}

/* Buffers in many small pieces, data-in bigger than the transfer. */
static void test_scattered_buffers(void **state)
{
	struct st *s = *state;
	uint8_t data[8 * 512], *pieces[7];
	struct iovec iov[7];
	static const size_t sizes[7] = { 1, 511, 1000, 24, 2000, 560, 1000 };
	uint8_t cdb[16];
	struct sreq *q;
	size_t off = 0;

	fill(data, sizeof(data), 5);
	for (int i = 0; i < 7; i++) {
		pieces[i] = malloc(sizes[i]);
		memset(pieces[i], 0x5a, sizes[i]);
		iov[i] = (struct iovec){ pieces[i], sizes[i] };
	}
	/* 5096 bytes of buffers; write the first 8 blocks = 4096 from the pieces. */
	for (int i = 0; i < 7 && off < sizeof(data); i++) {
		size_t n = sizes[i] < sizeof(data) - off ? sizes[i] : sizeof(data) - off;

		memcpy(pieces[i], data + off, n);
		off += n;
	}
	q = sreq_new(0, 0, cdb, st_cdb_rw(cdb, 0x2a, 40, 8), NULL, 0, 0);
	q->r.data_out = iov;
	q->r.data_out_cnt = 7;
	st_submit(s, q);
	st_wait(s, q);
	st_expect_good(q);
	assert_int_equal(q->r.data_out_len, 4096);
	assert_int_equal(q->r.residual, 5096 - 4096);
	sreq_free(q);

	for (int i = 0; i < 7; i++)
		memset(pieces[i], 0xee, sizes[i]);
	q = sreq_new(0, 0, cdb, st_cdb_rw(cdb, 0x28, 40, 8), NULL, 0, 0);
	q->r.data_in = iov;
	q->r.data_in_cnt = 7;
	st_submit(s, q);
	st_wait(s, q);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 4096);
	off = 0;
	for (int i = 0; i < 7; i++) {
		size_t n = off < 4096 ? (sizes[i] < 4096 - off ? sizes[i] : 4096 - off) : 0;

		assert_memory_equal(pieces[i], data + off, n);
		for (size_t k = n; k < sizes[i]; k++)
			assert_int_equal(pieces[i][k], 0xee); /* untouched beyond the transfer */
		off += n;
	}
	sreq_free(q);
	for (int i = 0; i < 7; i++)
		free(pieces[i]);
}

static void test_ranges(void **state)
{
	struct st *s = *state;
	uint8_t cdb[16];
	struct sreq *q;

	/* 512-byte LUN: 16384 blocks. */
	st_cmd_sense(s, 0, 0, cdb, st_cdb_rw(cdb, 0x88, 16384, 1), VDEV_SCSI_SK_ILLEGAL_REQUEST,
		     0x21, 0x00);
	st_cmd_sense(s, 0, 0, cdb, st_cdb_rw(cdb, 0x88, 16383, 2), VDEV_SCSI_SK_ILLEGAL_REQUEST,
		     0x21, 0x00);
	st_cmd_sense(s, 0, 0, cdb, st_cdb_rw(cdb, 0x8a, UINT64_MAX, 2),
		     VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	st_cmd_sense(s, 0, 0, cdb, st_cdb_rw(cdb, 0x88, UINT64_MAX - 1, 4),
		     VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	st_cmd_sense(s, 0, 0, cdb, st_cdb_rw(cdb, 0x28, 0xffffffffu, 1),
		     VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	/* The last block, and zero-length transfers, are fine. */
	q = st_cmd(s, 0, 0, cdb, st_cdb_rw(cdb, 0x88, 16383, 1), NULL, 0, 512);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 512);
	sreq_free(q);
	q = st_cmd(s, 0, 0, cdb, st_cdb_rw(cdb, 0x88, 16384, 0), NULL, 0, 512);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 0);
	assert_int_equal(q->in[0], 0xa5);
	sreq_free(q);
	st_cmd_good(s, 0, 0, cdb, st_cdb_rw(cdb, 0x2a, 5, 0));
	st_cmd_sense(s, 0, 0, cdb, st_cdb_rw(cdb, 0x28, 16385, 0), VDEV_SCSI_SK_ILLEGAL_REQUEST,
		     0x21, 0x00);

	/* MAXIMUM TRANSFER LENGTH: 32 MiB. */
	st_cmd_bad_cdb(s, 0, 0, cdb, st_cdb_rw(cdb, 0x88, 0, 65537), 10, 7);
	st_cmd_bad_cdb(s, 0, 0, cdb, st_cdb_rw(cdb, 0xa8, 0, 65537), 6, 7);
	st_cmd_bad_cdb(s, 0, 1, cdb, st_cdb_rw(cdb, 0x28, 0, 8193), 7, 7);
	st_cmd_bad_cdb(s, 0, 1, cdb, st_cdb_rw(cdb, 0xaa, 0, 0xffffffffu), 6, 7);
	/* 4096-byte LUN: 2048 blocks. */
	st_cmd_sense(s, 0, 1, cdb, st_cdb_rw(cdb, 0x28, 2047, 2), VDEV_SCSI_SK_ILLEGAL_REQUEST,
		     0x21, 0x00);

	/* Protection information is not supported: RDPROTECT/WRPROTECT are reserved. */
	st_cdb_rw(cdb, 0x28, 0, 1);
	cdb[1] = 0x20;
	st_cmd_bad_cdb(s, 0, 0, cdb, 10, 1, 5);
	st_cdb_rw(cdb, 0x8a, 0, 1);
	cdb[1] = 0xe0;
	st_cmd_bad_cdb(s, 0, 0, cdb, 16, 1, 7);
	st_cdb_rw(cdb, 0x88, 0, 1);
	cdb[14] = 0x80; /* DLD1 */
	st_cmd_bad_cdb(s, 0, 0, cdb, 16, 14, 7);
	/* DPO, FUA, RARC and group numbers are accepted. */
	st_cdb_rw(cdb, 0x88, 0, 1);
	cdb[1] = 0x1c;
	cdb[14] = 0x3f;
	st_cmd_good(s, 0, 0, cdb, 16);
}

static void test_short_buffers(void **state)
{
	struct st *s = *state;
	uint8_t cdb[16], data[4 * 512], back[4 * 512];
	struct sreq *q;

	fill(data, sizeof(data), 3);
	st_write(s, 0, 0, 10, data, 4, 512);
	/* Data-out shorter than the transfer: fails, writes nothing. */
	memset(back, 0x77, sizeof(back));
	q = st_cmd(s, 0, 0, cdb, st_cdb_rw(cdb, 0x2a, 10, 4), back, 1024, 0);
	st_expect_sense(q, VDEV_SCSI_SK_ABORTED_COMMAND, 0x4b, 0x00);
	assert_int_equal(q->r.data_out_len, 0);
	assert_int_equal(q->r.residual, 1024 - 2048);
	sreq_free(q);
	st_read(s, 0, 0, 10, back, 4, 512);
	assert_memory_equal(back, data, sizeof(data));
	/* No data-out at all. */
	q = st_cmd(s, 0, 0, cdb, st_cdb_rw(cdb, 0x8a, 10, 1), NULL, 0, 0);
	st_expect_sense(q, VDEV_SCSI_SK_ABORTED_COMMAND, 0x4b, 0x00);
	sreq_free(q);

	/* Data-in shorter: what fits, and an overflow residual. */
	q = st_cmd(s, 0, 0, cdb, st_cdb_rw(cdb, 0x28, 10, 4), NULL, 0, 1024);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 1024);
	assert_int_equal(q->r.residual, -1024);
	assert_memory_equal(q->in, data, 1024);
	sreq_free(q);
	q = st_cmd(s, 0, 0, cdb, st_cdb_rw(cdb, 0x28, 10, 4), NULL, 0, 0);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 0);
	assert_int_equal(q->r.residual, -2048);
	sreq_free(q);
}

static void test_readonly(void **state)
{
	struct st *s = *state;
	struct vdev_scsi_lun_opts o = {
		.struct_size = sizeof(o),
		.type = VDEV_SCSI_LUN_DISK,
		.blk = st_blk_open(s, "memory", MB, 0),
		.readonly = 1,
	};
	uint8_t cdb[16], block[1024] = { 1 };
	uint8_t unmap[24] = { 0, 22, 0, 16 };
	static const uint8_t ms[6] = { 0x1a, 0, 0x3f, 0, 255, 0 };
	struct sreq *q;

	st_add(s, 1, 0, &o);
	st_clear_ua(s, 1, 0);
	q = st_cmd(s, 1, 0, cdb, st_cdb_rw(cdb, 0x2a, 0, 1), block, 512, 0);
	st_expect_sense(q, VDEV_SCSI_SK_DATA_PROTECT, 0x27, 0x00);
	sreq_free(q);
	q = st_cmd(s, 1, 0, cdb, st_cdb_rw(cdb, 0x0a, 0, 1), block, 512, 0);
	st_expect_sense(q, VDEV_SCSI_SK_DATA_PROTECT, 0x27, 0x00);
	sreq_free(q);
	st_cdb_rw(cdb, 0x93, 0, 4);
	q = st_cmd(s, 1, 0, cdb, 16, block, 512, 0);
	st_expect_sense(q, VDEV_SCSI_SK_DATA_PROTECT, 0x27, 0x00);
	sreq_free(q);
	memset(cdb, 0, 16);
	cdb[0] = 0x42;
	cdb[8] = 24;
	q = st_cmd(s, 1, 0, cdb, 10, unmap, 24, 0);
	st_expect_sense(q, VDEV_SCSI_SK_DATA_PROTECT, 0x27, 0x00);
	sreq_free(q);
	memset(cdb, 0, 16);
	cdb[0] = 0x89;
	cdb[13] = 1;
	q = st_cmd(s, 1, 0, cdb, 16, block, 1024, 0);
	st_expect_sense(q, VDEV_SCSI_SK_DATA_PROTECT, 0x27, 0x00);
	sreq_free(q);
	/* Reads work; MODE SENSE shows WP. */
	q = st_cmd(s, 1, 0, cdb, st_cdb_rw(cdb, 0x28, 0, 1), NULL, 0, 512);
	st_expect_good(q);
	sreq_free(q);
	q = st_cmd(s, 1, 0, ms, 6, NULL, 0, 255);
	st_expect_good(q);
	assert_int_equal(q->in[2], 0x80 | 0x10);
	sreq_free(q);
	/* A read-only backend makes a read-only LUN. */
	{
		struct vdev_blk_opts bo = { .struct_size = sizeof(bo), .driver = "null",
					    .size = MB, .readonly = 1 };

		o.readonly = 0;
		assert_int_equal(vdev_blk_open(s->mv.ctx, &bo, &o.blk), 0);
		st_add(s, 1, 1, &o);
		st_clear_ua(s, 1, 1);
		q = st_cmd(s, 1, 1, cdb, st_cdb_rw(cdb, 0x2a, 0, 1), block, 512, 0);
		st_expect_sense(q, VDEV_SCSI_SK_DATA_PROTECT, 0x27, 0x00);
		sreq_free(q);
	}
}

static void test_read_capacity(void **state)
{
	struct st *s = *state;
	uint8_t rc10[10] = { 0x25 };
	uint8_t rc16[16] = { 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0 };
	struct vdev_scsi_lun_opts o = { .struct_size = sizeof(o), .type = VDEV_SCSI_LUN_DISK };
	struct sreq *q;

	q = st_cmd(s, 0, 0, rc10, 10, NULL, 0, 64);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 8);
	assert_int_equal(st_get_be(q->in, 4), 16383);
	assert_int_equal(st_get_be(q->in + 4, 4), 512);
	sreq_free(q);
	q = st_cmd(s, 0, 1, rc16, 16, NULL, 0, 64);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 32);
	assert_int_equal(st_get_be(q->in, 8), 2047);
	assert_int_equal(st_get_be(q->in + 8, 4), 4096);
	assert_int_equal(q->in[13], 0);
	assert_int_equal(q->in[14], 0x80); /* LBPME, LBPRZ 0 */
	assert_int_equal(q->in[15], 0);
	sreq_free(q);
	/* Allocation length 12. */
	rc16[13] = 12;
	q = st_cmd(s, 0, 1, rc16, 16, NULL, 0, 64);
	assert_int_equal(q->r.data_in_len, 12);
	assert_int_equal(q->in[12], 0xa5);
	sreq_free(q);
	rc16[13] = 32;

	/* Obsolete LBA without PMI; with PMI. */
	rc10[5] = 1;
	st_cmd_bad_cdb(s, 0, 0, rc10, 10, 2, 7);
	rc10[8] = 1;
	st_cmd_good(s, 0, 0, rc10, 10);
	rc16[9] = 1;
	st_cmd_bad_cdb(s, 0, 0, rc16, 16, 2, 7);
	rc16[14] = 1;
	st_cmd_good(s, 0, 0, rc16, 16);
	rc16[14] = 2; /* reserved */
	st_cmd_bad_cdb(s, 0, 0, rc16, 16, 14, 1);
	rc16[9] = 0;
	rc16[14] = 0;
	rc10[5] = 0;
	rc10[8] = 0;

	/* 4 TiB: READ CAPACITY(10) says FFFFFFFFh, (16) the truth. */
	o.blk = st_blk_open(s, "null", 4ull << 40, 0);
	st_add(s, 2, 0, &o);
	st_clear_ua(s, 2, 0);
	q = st_cmd(s, 2, 0, rc10, 10, NULL, 0, 8);
	st_expect_good(q);
	assert_int_equal(st_get_be(q->in, 4), 0xffffffffu);
	sreq_free(q);
	q = st_cmd(s, 2, 0, rc16, 16, NULL, 0, 32);
	st_expect_good(q);
	assert_int_equal(st_get_be(q->in, 8), (4ull << 40) / 512 - 1);
	sreq_free(q);
	/* Reading its last block works; past it does not. */
	{
		uint8_t cdb[16];

		st_cmd_good(s, 2, 0, cdb, st_cdb_rw(cdb, 0x88, (4ull << 40) / 512 - 1, 1));
		st_cmd_sense(s, 2, 0, cdb, st_cdb_rw(cdb, 0x88, (4ull << 40) / 512, 1),
			     VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	}
}

static void test_sync_cache(void **state)
{
	struct st *s = *state;
	uint8_t sc10[10] = { 0x35 };
	uint8_t sc16[16] = { 0x91 };

	st_cmd_good(s, 0, 0, sc10, 10);
	st_cmd_good(s, 0, 0, sc16, 16);
	sc10[1] = 0x02; /* IMMED */
	st_cmd_good(s, 0, 0, sc10, 10);
	sc10[1] = 0x04; /* obsolete SYNC_NV: reserved */
	st_cmd_bad_cdb(s, 0, 0, sc10, 10, 1, 2);
	sc10[1] = 0;
	st_put_be(sc10 + 2, 16380, 4);
	st_put_be(sc10 + 7, 4, 2);
	st_cmd_good(s, 0, 0, sc10, 10);
	st_put_be(sc10 + 7, 5, 2);
	st_cmd_sense(s, 0, 0, sc10, 10, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	st_put_be(sc16 + 2, UINT64_MAX, 8);
	st_put_be(sc16 + 10, 2, 4);
	st_cmd_sense(s, 0, 0, sc16, 16, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
}

static void test_get_lba_status(void **state)
{
	struct st *s = *state;
	uint8_t cdb[16] = { 0x9e, 0x12 };
	struct sreq *q;

	st_put_be(cdb + 2, 100, 8);
	st_put_be(cdb + 10, 64, 4);
	q = st_cmd(s, 0, 0, cdb, 16, NULL, 0, 64);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 24);
	assert_int_equal(st_get_be(q->in, 4), 20);
	assert_int_equal(st_get_be(q->in + 8, 8), 100);
	assert_int_equal(st_get_be(q->in + 16, 4), 16384 - 100);
	assert_int_equal(q->in[20] & 0x0f, 0);
	sreq_free(q);
	st_put_be(cdb + 10, 8, 4);
	q = st_cmd(s, 0, 0, cdb, 16, NULL, 0, 64);
	assert_int_equal(q->r.data_in_len, 8);
	sreq_free(q);
	st_put_be(cdb + 2, 16384, 8);
	st_cmd_sense(s, 0, 0, cdb, 16, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	st_put_be(cdb + 2, 0, 8);
	cdb[14] = 1;
	st_cmd_bad_cdb(s, 0, 0, cdb, 16, 14, 0);
}

/* The backend error → sense mapping, one errno at a time. */
static void test_error_mapping(void **state)
{
	static const uint8_t rd10[10] = { 0x28 };
	struct st *s = *state;
	static const struct {
		int err;
		bool is_read;
		uint8_t key, asc, ascq;
	} cases[] = {
		{ -EIO, true, VDEV_SCSI_SK_MEDIUM_ERROR, 0x11, 0x00 },
		{ -EIO, false, VDEV_SCSI_SK_MEDIUM_ERROR, 0x0c, 0x00 },
		{ -ENOSPC, false, VDEV_SCSI_SK_DATA_PROTECT, 0x27, 0x07 },
		{ -EDQUOT, false, VDEV_SCSI_SK_DATA_PROTECT, 0x27, 0x07 },
		{ -EROFS, false, VDEV_SCSI_SK_DATA_PROTECT, 0x27, 0x00 },
		{ -EINVAL, true, VDEV_SCSI_SK_HARDWARE_ERROR, 0x44, 0x00 },
		{ -EFBIG, false, VDEV_SCSI_SK_HARDWARE_ERROR, 0x44, 0x00 },
	};

	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sreq *q = sreq_new(0, 0, rd10, 10, NULL, 0, 0);
		struct vdev__scsi_task t;

		memset(&t, 0, sizeof(t));
		t.req = &q->r;
		t.bus = s->bus;
		vdev__scsi_blk_error(&t, cases[i].err, cases[i].is_read);
		st_expect_sense(q, cases[i].key, cases[i].asc, cases[i].ascq);
		assert_int_equal(t.abort_resp, 0);
		sreq_free(q);
	}
	{
		struct sreq *q = sreq_new(0, 0, rd10, 10, NULL, 0, 0);
		struct vdev__scsi_task t;

		memset(&t, 0, sizeof(t));
		t.req = &q->r;
		t.bus = s->bus;
		vdev__scsi_blk_error(&t, -ECANCELED, true);
		assert_int_equal(t.abort_resp, VDEV_SCSI_RESP_ABORTED);
		assert_int_equal(q->r.sense_len, 0);
		sreq_free(q);
	}
}

/* A small sense buffer truncates; descriptor sense fits in the header's size. */
static void test_sense_truncation(void **state)
{
	struct st *s = *state;
	uint8_t cdb[16];
	struct sreq *q;

	q = sreq_new(0, 0, cdb, st_cdb_rw(cdb, 0x88, 0, 65537), NULL, 0, 0);
	q->r.sense_cap = 14;
	memset(q->sense, 0xcc, sizeof(q->sense));
	st_submit(s, q);
	st_wait(s, q);
	assert_int_equal(q->r.status, VDEV_SCSI_CHECK_CONDITION);
	assert_int_equal(q->r.sense_len, 14);
	assert_int_equal(q->sense[12], 0x24);
	assert_int_equal(q->sense[14], 0xcc);
	sreq_free(q);
	q = sreq_new(0, 0, cdb, st_cdb_rw(cdb, 0x88, 0, 65537), NULL, 0, 0);
	q->r.sense_cap = 0;
	q->r.sense = NULL;
	st_submit(s, q);
	st_wait(s, q);
	assert_int_equal(q->r.status, VDEV_SCSI_CHECK_CONDITION);
	assert_int_equal(q->r.sense_len, 0);
	sreq_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rw_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scattered_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_capacity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_lba_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_mapping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sense_truncation, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
