/* SPDX-License-Identifier: MIT */
/*
 * WRITE SAME, UNMAP, VERIFY and COMPARE AND WRITE of the SCSI target on
 * memory-backed disks (whose DISCARD zeroes): results read back, every
 * parameter-list and CDB error with its exact sense and field pointer,
 * miscompare offsets in the INFORMATION field (fixed and descriptor
 * format), and COMPARE AND WRITE atomic against overlapping writes.
 */
#include "scsi_test_util.h"

#define MB (1024u * 1024u)

static int setup(void **state)
{
	struct st *s = st_new();

	st_add_disk(s, 0, 0, 8 * MB, 512);
	st_add_disk(s, 0, 1, 8 * MB, 4096);
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
		p[i] = (uint8_t)(i * 7u + seed + (i >> 8));
}

static size_t cdb_ws(uint8_t *cdb, bool sixteen, uint64_t lba, uint32_t n, uint8_t flags)
{
	memset(cdb, 0, 16);
	cdb[0] = sixteen ? 0x93 : 0x41;
	cdb[1] = flags;
	if (sixteen) {
		st_put_be(cdb + 2, lba, 8);
		st_put_be(cdb + 10, n, 4);
		return 16;
	}
	st_put_be(cdb + 2, lba, 4);
	st_put_be(cdb + 7, n, 2);
	return 10;
}

static void expect_blocks(struct st *s, uint16_t l, uint64_t lba, uint32_t n, uint32_t bs,
			  const uint8_t *block)
{
	uint8_t *back = malloc((size_t)n * bs);

	st_read(s, 0, l, lba, back, n, bs);
	for (uint32_t i = 0; i < n; i++)
		assert_memory_equal(back + (size_t)i * bs, block, bs);
	free(back);
}

static void test_write_same(void **state)
{
	struct st *s = *state;
	uint8_t cdb[16], block[4096], zero[4096] = { 0 }, old[4096];
	struct sreq *q;

	for (unsigned int l = 0; l < 2; l++) {
		uint32_t bs = l ? 4096 : 512;

		/* Neighbours keep their data. */
		fill(old, bs, 1);
		st_write(s, 0, (uint16_t)l, 19, old, 1, bs);
		st_write(s, 0, (uint16_t)l, 25, old, 1, bs);
		fill(block, bs, 42);
		q = st_cmd(s, 0, (uint16_t)l, cdb, cdb_ws(cdb, false, 20, 5, 0), block, bs, 0);
		st_expect_good(q);
		assert_int_equal(q->r.data_out_len, bs);
		sreq_free(q);
		expect_blocks(s, (uint16_t)l, 20, 5, bs, block);
		expect_blocks(s, (uint16_t)l, 19, 1, bs, old);
		expect_blocks(s, (uint16_t)l, 25, 1, bs, old);

		/* Zero block with UNMAP: reads back zero. */
		q = st_cmd(s, 0, (uint16_t)l, cdb, cdb_ws(cdb, true, 20, 5, 0x08), zero, bs, 0);
		st_expect_good(q);
		sreq_free(q);
		expect_blocks(s, (uint16_t)l, 20, 5, bs, zero);
		expect_blocks(s, (uint16_t)l, 25, 1, bs, old);

	}
}

static void test_write_same_big(void **state)
{
	struct st *s = *state;
	uint8_t cdb[16], block[512], zero[512] = { 0 };
	struct sreq *q;

	/* 1500 blocks = 750 KiB: several bounce chunks. */
	fill(block, 512, 9);
	q = st_cmd(s, 0, 0, cdb, cdb_ws(cdb, true, 1000, 1500, 0), block, 512, 0);
	st_expect_good(q);
	sreq_free(q);
	expect_blocks(s, 0, 1000, 1500, 512, block);
	/* NDOB with UNMAP: no data-out buffer, the range reads as zeroes. */
	q = st_cmd(s, 0, 0, cdb, cdb_ws(cdb, true, 1100, 100, 0x09), NULL, 0, 0);
	st_expect_good(q);
	assert_int_equal(q->r.data_out_len, 0);
	sreq_free(q);
	expect_blocks(s, 0, 1100, 100, 512, zero);
	expect_blocks(s, 0, 1000, 100, 512, block);
	expect_blocks(s, 0, 1200, 300, 512, block);
	/* The whole disk at once (all-zero: one WRITE_ZEROES). */
	q = st_cmd(s, 0, 0, cdb, cdb_ws(cdb, true, 0, 16384, 0), zero, 512, 0);
	st_expect_good(q);
	sreq_free(q);
	expect_blocks(s, 0, 1000, 1500, 512, zero);
}

static void test_write_same_errors(void **state)
{
	struct st *s = *state;
	uint8_t cdb[16], block[512] = { 1 };
	struct sreq *q;

	/* WSNZ: zero blocks is invalid; so is past MAXIMUM WRITE SAME LENGTH. */
	q = st_cmd(s, 0, 0, cdb, cdb_ws(cdb, false, 0, 0, 0), block, 512, 0);
	st_expect_bad_cdb(q, 7, 7);
	sreq_free(q);
	q = st_cmd(s, 0, 0, cdb, cdb_ws(cdb, true, 0, 0, 0), block, 512, 0);
	st_expect_bad_cdb(q, 10, 7);
	sreq_free(q);
	q = st_cmd(s, 0, 0, cdb, cdb_ws(cdb, true, 0, (1u << 21) + 1, 0), block, 512, 0);
	st_expect_bad_cdb(q, 10, 7);
	sreq_free(q);
	q = st_cmd(s, 0, 1, cdb, cdb_ws(cdb, true, 0, (1u << 18) + 1, 0), block, 512, 0);
	st_expect_bad_cdb(q, 10, 7);
	sreq_free(q);
	/* Range, wrap. */
	q = st_cmd(s, 0, 0, cdb, cdb_ws(cdb, true, 16380, 5, 0), block, 512, 0);
	st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	sreq_free(q);
	q = st_cmd(s, 0, 0, cdb, cdb_ws(cdb, true, UINT64_MAX, 2, 0), block, 512, 0);
	st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	sreq_free(q);
	/* No data-out, or less than a block. */
	q = st_cmd(s, 0, 0, cdb, cdb_ws(cdb, true, 0, 4, 0), NULL, 0, 0);
	st_expect_sense(q, VDEV_SCSI_SK_ABORTED_COMMAND, 0x4b, 0x00);
	sreq_free(q);
	q = st_cmd(s, 0, 1, cdb, cdb_ws(cdb, true, 0, 4, 0), block, 512, 0);
	st_expect_sense(q, VDEV_SCSI_SK_ABORTED_COMMAND, 0x4b, 0x00);
	sreq_free(q);
	/* ANCHOR, obsolete PBDATA/LBDATA, NDOB in the 10-byte CDB. */
	q = st_cmd(s, 0, 0, cdb, cdb_ws(cdb, true, 0, 4, 0x10), block, 512, 0);
	st_expect_bad_cdb(q, 1, 4);
	sreq_free(q);
	q = st_cmd(s, 0, 0, cdb, cdb_ws(cdb, false, 0, 4, 0x04), block, 512, 0);
	st_expect_bad_cdb(q, 1, 2);
	sreq_free(q);
	q = st_cmd(s, 0, 0, cdb, cdb_ws(cdb, false, 0, 4, 0x01), block, 512, 0);
	st_expect_bad_cdb(q, 1, 0);
	sreq_free(q);
}

/* ---- UNMAP ---- */

static size_t unmap_list(uint8_t *p, const uint64_t (*d)[2], unsigned int n)
{
	size_t len = 8 + 16 * (size_t)n;

	memset(p, 0, len);
	st_put_be(p, len - 2, 2);
	st_put_be(p + 2, 16 * (size_t)n, 2);
	for (unsigned int i = 0; i < n; i++) {
		st_put_be(p + 8 + 16 * i, d[i][0], 8);
		st_put_be(p + 8 + 16 * i + 8, d[i][1], 4);
	}
	return len;
}

static struct sreq *unmap(struct st *s, uint16_t l, const uint8_t *list, size_t plen,
			  size_t sent)
{
	uint8_t cdb[10] = { 0x42 };

	st_put_be(cdb + 7, plen, 2);
	return st_cmd(s, 0, l, cdb, 10, list, sent, 0);
}

static void test_unmap(void **state)
{
	struct st *s = *state;
	uint8_t data[20 * 512], zero[512] = { 0 }, list[8 + 16 * 4];
	static const uint64_t d[3][2] = { { 50, 10 }, { 70, 0 }, { 80, 2 } };
	struct sreq *q;
	size_t len;

	fill(data, sizeof(data), 3);
	st_write(s, 0, 0, 50, data, 20, 512);
	st_write(s, 0, 0, 80, data, 2, 512);
	len = unmap_list(list, d, 3);
	q = unmap(s, 0, list, len, len);
	st_expect_good(q);
	assert_int_equal(q->r.data_out_len, len);
	sreq_free(q);
	expect_blocks(s, 0, 50, 10, 512, zero);
	expect_blocks(s, 0, 80, 2, 512, zero);
	{
		uint8_t back[10 * 512];

		st_read(s, 0, 0, 60, back, 10, 512);
		assert_memory_equal(back, data + 10 * 512, 10 * 512);
	}
	/* Parameter list length 0: nothing to do. */
	q = unmap(s, 0, list, 0, 0);
	st_expect_good(q);
	sreq_free(q);
	/* A trailing partial descriptor is ignored. */
	st_put_be(list + 2, 16 + 4, 2);
	st_put_be(list, 6 + 20, 2);
	q = unmap(s, 0, list, 28, 28);
	st_expect_good(q);
	sreq_free(q);
}

static void test_unmap_errors(void **state)
{
	struct st *s = *state;
	uint8_t data[512], list[8 + 16 * 300], cdb[10] = { 0x42 };
	static const uint64_t ok[2][2] = { { 10, 1 }, { 20, 1 } };
	static const uint64_t bad[2][2] = { { 10, 1 }, { 16383, 2 } };
	struct sreq *q;
	size_t len;

	fill(data, 512, 77);
	st_write(s, 0, 0, 10, data, 1, 512);

	len = unmap_list(list, ok, 2);
	q = unmap(s, 0, list, 7, 7);
	st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	sreq_free(q);
	/* The initiator sends less than the CDB says. */
	q = unmap(s, 0, list, len, len - 1);
	st_expect_sense(q, VDEV_SCSI_SK_ABORTED_COMMAND, 0x4b, 0x00);
	sreq_free(q);
	/* UNMAP DATA LENGTH / BLOCK DESCRIPTOR DATA LENGTH past the list. */
	st_put_be(list, len - 1, 2);
	q = unmap(s, 0, list, len, len);
	st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	sreq_free(q);
	len = unmap_list(list, ok, 2);
	st_put_be(list + 2, 48, 2);
	q = unmap(s, 0, list, len, len);
	st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	sreq_free(q);
	/* UNMAP DATA LENGTH too small for the descriptors it announces. */
	len = unmap_list(list, ok, 2);
	st_put_be(list, 6 + 16, 2);
	q = unmap(s, 0, list, len, len);
	st_expect_bad_param(q, 0, 7);
	sreq_free(q);
	/* Reserved header bytes, reserved descriptor bytes. */
	len = unmap_list(list, ok, 2);
	list[5] = 1;
	q = unmap(s, 0, list, len, len);
	st_expect_bad_param(q, 5, 7);
	sreq_free(q);
	len = unmap_list(list, ok, 2);
	list[8 + 16 + 12] = 1;
	q = unmap(s, 0, list, len, len);
	st_expect_bad_param(q, 8 + 16 + 12, 7);
	sreq_free(q);
	/* A descriptor out of range: nothing is unmapped, not even the good one before. */
	len = unmap_list(list, bad, 2);
	q = unmap(s, 0, list, len, len);
	st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	sreq_free(q);
	{
		uint8_t back[512];

		st_read(s, 0, 0, 10, back, 1, 512);
		assert_memory_equal(back, data, 512);
	}
	/* More descriptors than MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT. */
	{
		static uint64_t many[257][2];

		for (int i = 0; i < 257; i++) {
			many[i][0] = (uint64_t)i;
			many[i][1] = 1;
		}
		len = unmap_list(list, (const uint64_t(*)[2])many, 257);
		q = unmap(s, 0, list, len, len);
		st_expect_bad_param(q, 2, 7);
		sreq_free(q);
	}
	/* ANCHOR; reserved CDB bytes. */
	len = unmap_list(list, ok, 2);
	cdb[1] = 1;
	st_put_be(cdb + 7, len, 2);
	q = st_cmd(s, 0, 0, cdb, 10, list, len, 0);
	st_expect_bad_cdb(q, 1, 0);
	sreq_free(q);
	cdb[1] = 0;
	cdb[3] = 0x40;
	q = st_cmd(s, 0, 0, cdb, 10, list, len, 0);
	st_expect_bad_cdb(q, 3, 6);
	sreq_free(q);
}

/* The sum of the descriptors' blocks past MAXIMUM UNMAP LBA COUNT (on a 4 TiB disk). */
static void test_unmap_total(void **state)
{
	struct st *s = *state;
	struct vdev_scsi_lun_opts o = { .struct_size = sizeof(o), .type = VDEV_SCSI_LUN_DISK };
	static const uint64_t big[2][2] = { { 0, 0xffffffffu }, { 0x100000000ull, 1 } };
	uint8_t list[40];
	struct sreq *q;
	size_t len;

	o.blk = st_blk_open(s, "null", 4ull << 40, 0);
	st_add(s, 0, 2, &o);
	st_clear_ua(s, 0, 2);
	len = unmap_list(list, big, 2);
	q = unmap(s, 2, list, len, len);
	st_expect_bad_param(q, 8 + 16 + 8, 7);
	sreq_free(q);
	len = unmap_list(list, big, 1);
	q = unmap(s, 2, list, len, len);
	st_expect_good(q);
	sreq_free(q);
}

/* ---- VERIFY ---- */

static size_t cdb_verify(uint8_t *cdb, bool sixteen, uint64_t lba, uint32_t n, uint8_t bytchk)
{
	size_t len = st_cdb_rw(cdb, sixteen ? 0x8f : 0x2f, lba, n);

	cdb[1] = (uint8_t)(bytchk << 1);
	return len;
}

static void test_verify(void **state)
{
	struct st *s = *state;
	uint8_t cdb[16], *data = malloc(1024 * 512);
	struct sreq *q;

	fill(data, 1024 * 512, 11);
	st_write(s, 0, 0, 2000, data, 1024, 512);
	/* BYTCHK 0: medium check only. */
	st_cmd_good(s, 0, 0, cdb, cdb_verify(cdb, false, 2000, 1024, 0));
	st_cmd_good(s, 0, 0, cdb, cdb_verify(cdb, true, 0, 0, 0));
	st_cmd_sense(s, 0, 0, cdb, cdb_verify(cdb, true, 16000, 385, 0),
		     VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	/* BYTCHK 1: equal. */
	q = st_cmd(s, 0, 0, cdb, cdb_verify(cdb, true, 2000, 1024, 1), data, 1024 * 512, 0);
	st_expect_good(q);
	assert_int_equal(q->r.data_out_len, 1024 * 512);
	sreq_free(q);
	/* A difference in the second bounce chunk: its offset in INFORMATION. */
	data[300000] ^= 0x40;
	q = st_cmd(s, 0, 0, cdb, cdb_verify(cdb, true, 2000, 1024, 1), data, 1024 * 512, 0);
	st_expect_sense(q, VDEV_SCSI_SK_MISCOMPARE, 0x1d, 0x00);
	assert_true(st_decode(q).info_valid);
	assert_int_equal(st_decode(q).info, 300000);
	sreq_free(q);
	data[300000] ^= 0x40;
	data[777] ^= 1;
	q = st_cmd(s, 0, 0, cdb, cdb_verify(cdb, false, 2000, 3, 1), data, 3 * 512, 0);
	st_expect_sense(q, VDEV_SCSI_SK_MISCOMPARE, 0x1d, 0x00);
	assert_int_equal(st_decode(q).info, 777);
	sreq_free(q);
	/* Short data-out; BYTCHK 10b and 11b; VRPROTECT. */
	q = st_cmd(s, 0, 0, cdb, cdb_verify(cdb, false, 2000, 3, 1), data, 2 * 512, 0);
	st_expect_sense(q, VDEV_SCSI_SK_ABORTED_COMMAND, 0x4b, 0x00);
	sreq_free(q);
	st_cmd_bad_cdb(s, 0, 0, cdb, cdb_verify(cdb, false, 2000, 3, 2), 1, 2);
	st_cmd_bad_cdb(s, 0, 0, cdb, cdb_verify(cdb, true, 2000, 3, 3), 1, 2);
	cdb_verify(cdb, false, 2000, 3, 0);
	cdb[1] = 0x20;
	st_cmd_bad_cdb(s, 0, 0, cdb, 10, 1, 5);
	st_cmd_bad_cdb(s, 0, 0, cdb, cdb_verify(cdb, true, 0, 65537, 0), 10, 7);
	free(data);
}

/* ---- COMPARE AND WRITE ---- */

static size_t cdb_caw(uint8_t *cdb, uint64_t lba, uint8_t n, uint8_t flags)
{
	memset(cdb, 0, 16);
	cdb[0] = 0x89;
	cdb[1] = flags;
	st_put_be(cdb + 2, lba, 8);
	cdb[13] = n;
	return 16;
}

static void test_caw(void **state)
{
	struct st *s = *state;
	uint8_t cdb[16], old[2 * 512], neu[2 * 512], buf[4 * 512], back[2 * 512];
	struct sreq *q;

	fill(old, sizeof(old), 1);
	fill(neu, sizeof(neu), 2);
	st_write(s, 0, 0, 300, old, 2, 512);
	memcpy(buf, old, sizeof(old));
	memcpy(buf + sizeof(old), neu, sizeof(neu));
	q = st_cmd(s, 0, 0, cdb, cdb_caw(cdb, 300, 2, 0x08), buf, sizeof(buf), 0);
	st_expect_good(q);
	assert_int_equal(q->r.data_out_len, sizeof(buf));
	sreq_free(q);
	st_read(s, 0, 0, 300, back, 2, 512);
	assert_memory_equal(back, neu, sizeof(neu));

	/* Miscompare at byte 600 of the verify data: nothing written. */
	memcpy(buf, neu, sizeof(neu));
	buf[600] ^= 0xff;
	memcpy(buf + sizeof(neu), old, sizeof(old));
	q = st_cmd(s, 0, 0, cdb, cdb_caw(cdb, 300, 2, 0), buf, sizeof(buf), 0);
	st_expect_sense(q, VDEV_SCSI_SK_MISCOMPARE, 0x1d, 0x00);
	assert_true(st_decode(q).info_valid);
	assert_int_equal(st_decode(q).info, 600);
	sreq_free(q);
	st_read(s, 0, 0, 300, back, 2, 512);
	assert_memory_equal(back, neu, sizeof(neu));

	/* The same in descriptor format (D_SENSE on). */
	{
		uint8_t ms[24] = { 0, 0, 0, 0, 0x0a, 0x0a, 0x04, 0x10, 0, 0, 0, 0, 0xff, 0xff };
		uint8_t sel[6] = { 0x15, 0x10, 0, 0, 16, 0 };
		struct sreq *m = st_cmd(s, 0, 0, sel, 6, ms, 16, 0);

		st_expect_good(m);
		sreq_free(m);
		q = st_cmd(s, 0, 0, cdb, cdb_caw(cdb, 300, 2, 0), buf, sizeof(buf), 0);
		st_expect_sense(q, VDEV_SCSI_SK_MISCOMPARE, 0x1d, 0x00);
		assert_true(st_decode(q).desc);
		assert_true(st_decode(q).info_valid);
		assert_int_equal(st_decode(q).info, 600);
		sreq_free(q);
	}

	/* No blocks: nothing, GOOD. Too many; range; short data; reserved bytes. */
	q = st_cmd(s, 0, 0, cdb, cdb_caw(cdb, 300, 0, 0), NULL, 0, 0);
	st_expect_good(q);
	sreq_free(q);
	q = st_cmd(s, 0, 0, cdb, cdb_caw(cdb, 300, 65, 0), buf, sizeof(buf), 0);
	st_expect_bad_cdb(q, 13, 7);
	sreq_free(q);
	q = st_cmd(s, 0, 0, cdb, cdb_caw(cdb, 16383, 2, 0), buf, sizeof(buf), 0);
	st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
	sreq_free(q);
	q = st_cmd(s, 0, 0, cdb, cdb_caw(cdb, 300, 2, 0), buf, 2 * 512 + 511, 0);
	st_expect_sense(q, VDEV_SCSI_SK_ABORTED_COMMAND, 0x4b, 0x00);
	sreq_free(q);
	cdb_caw(cdb, 300, 2, 0);
	cdb[11] = 0x02;
	q = st_cmd(s, 0, 0, cdb, 16, buf, sizeof(buf), 0);
	st_expect_bad_cdb(q, 11, 1);
	sreq_free(q);
}

/*
 * Atomicity: a write overlapping a running COMPARE AND WRITE waits for it
 * (and a COMPARE AND WRITE waits for an overlapping write in flight),
 * while a write elsewhere goes on at once.
 */
static void test_caw_atomic(void **state)
{
	struct st *s = *state;
	vdev_blk *blk = st_blk(s, 0, 0);
	uint8_t cdb[16], a[512], b[512], c[512], buf[1024], back[512];
	struct sreq *caw, *w1, *w2;
	int seq = 0;

	fill(a, 512, 1);
	fill(b, 512, 2);
	fill(c, 512, 3);
	st_write(s, 0, 0, 500, a, 1, 512);

	/* CAW a→b, then an overlapping write of c: c must land after b. */
	memcpy(buf, a, 512);
	memcpy(buf + 512, b, 512);
	caw = sreq_new(0, 0, cdb, cdb_caw(cdb, 500, 1, 0), buf, 1024, 0);
	caw->r.user = &seq;
	w1 = sreq_new(0, 0, cdb, st_cdb_rw(cdb, 0x2a, 500, 1), c, 512, 0);
	w1->r.user = &seq;
	w2 = sreq_new(0, 0, cdb, st_cdb_rw(cdb, 0x2a, 900, 1), c, 512, 0);
	w2->r.user = &seq;
	st_submit(s, caw);
	assert_int_equal(vdev_blk_inflight(blk), 1);      /* the CAW's read */
	st_submit(s, w1);
	assert_int_equal(vdev_blk_inflight(blk), 1);      /* w1 held */
	st_submit(s, w2);
	assert_int_equal(vdev_blk_inflight(blk), 2);      /* w2 elsewhere: went */
	while (!caw->ndone || !w1->ndone || !w2->ndone)
		assert_true(vdev_blk_wait(blk, 1000) >= 0);
	st_expect_good(caw);
	st_expect_good(w1);
	st_expect_good(w2);
	assert_true(caw->order < w1->order);
	st_read(s, 0, 0, 500, back, 1, 512);
	assert_memory_equal(back, c, 512);
	sreq_free(caw);
	sreq_free(w1);
	sreq_free(w2);

	/* A write of a in flight, then CAW a→b: the CAW sees a, so it succeeds. */
	seq = 0;
	w1 = sreq_new(0, 0, cdb, st_cdb_rw(cdb, 0x2a, 500, 1), a, 512, 0);
	w1->r.user = &seq;
	caw = sreq_new(0, 0, cdb, cdb_caw(cdb, 500, 1, 0), buf, 1024, 0);
	caw->r.user = &seq;
	st_submit(s, w1);
	st_submit(s, caw);
	assert_int_equal(vdev_blk_inflight(blk), 1);      /* the CAW waits for w1 */
	while (!caw->ndone || !w1->ndone)
		assert_true(vdev_blk_wait(blk, 1000) >= 0);
	st_expect_good(w1);
	st_expect_good(caw);
	assert_true(w1->order < caw->order);
	st_read(s, 0, 0, 500, back, 1, 512);
	assert_memory_equal(back, b, 512);
	sreq_free(caw);
	sreq_free(w1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_same, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_same_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_same_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmap_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmap_total, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_caw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_caw_atomic, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
