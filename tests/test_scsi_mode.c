/* SPDX-License-Identifier: MIT */
/*
 * MODE SENSE / MODE SELECT (6 and 10) of the SCSI target: the exact bytes
 * of the read-write error recovery, caching and control pages with and
 * without block descriptors (short and long LBA), current, changeable and
 * default values, saved values refused, allocation-length truncation;
 * MODE SELECT changing WCE (writes become FUA) and D_SENSE (sense switches
 * format), and every parameter-list error with its field pointer, with
 * nothing applied from a list that fails anywhere.
 */
#include "scsi_test_util.h"
#include "scsi/scsi_internal.h"

#define MB (1024u * 1024u)

static const uint8_t page01[12] = { 0x01, 0x0a, 0x80 };
static const uint8_t page08[20] = { 0x08, 0x12, 0x04 };
static const uint8_t page0a[12] = { 0x0a, 0x0a, 0x00, 0x10, 0, 0, 0, 0, 0xff, 0xff, 0, 0 };

static int setup(void **state)
{
	struct st *s = st_new();

	st_add_disk(s, 0, 0, 8 * MB, 512);
	st_clear_ua(s, 0, 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	st_free(*state);
	return 0;
}

static struct sreq *sense6(struct st *s, uint8_t dbd, uint8_t pcpage, uint8_t sub, uint8_t alloc)
{
	uint8_t cdb[6] = { 0x1a, dbd, pcpage, sub, alloc, 0 };

	return st_cmd(s, 0, 0, cdb, 6, NULL, 0, 255);
}

static struct sreq *sense10(struct st *s, uint8_t flags, uint8_t pcpage, uint16_t alloc)
{
	uint8_t cdb[10] = { 0x5a, flags, pcpage, 0, 0, 0, 0, 0, 0, 0 };

	st_put_be(cdb + 7, alloc, 2);
	return st_cmd(s, 0, 0, cdb, 10, NULL, 0, 512);
}

static void test_sense_all(void **state)
{
	struct st *s = *state;
	struct sreq *q = sense6(s, 0, 0x3f, 0, 255);

	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 56);
	assert_int_equal(q->in[0], 55);
	assert_int_equal(q->in[1], 0);
	assert_int_equal(q->in[2], 0x10); /* DPOFUA */
	assert_int_equal(q->in[3], 8);
	assert_int_equal(st_get_be(q->in + 4, 4), 16384);
	assert_int_equal(st_get_be(q->in + 8, 4), 512);
	assert_memory_equal(q->in + 12, page01, 12);
	assert_memory_equal(q->in + 24, page08, 20);
	assert_memory_equal(q->in + 44, page0a, 12);
	sreq_free(q);

	/* All pages and subpages: the same (no subpages). */
	q = sense6(s, 0x08, 0x3f, 0xff, 255);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 48);
	assert_int_equal(q->in[3], 0);
	assert_memory_equal(q->in + 4, page01, 12);
	sreq_free(q);

	/* MODE SENSE(10) with a long LBA block descriptor. */
	q = sense10(s, 0x10, 0x08, 512);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 8 + 16 + 20);
	assert_int_equal(st_get_be(q->in, 2), 8 + 16 + 20 - 2);
	assert_int_equal(q->in[3], 0x10);
	assert_int_equal(q->in[4], 0x01); /* LONGLBA */
	assert_int_equal(st_get_be(q->in + 6, 2), 16);
	assert_int_equal(st_get_be(q->in + 8, 8), 16384);
	assert_int_equal(st_get_be(q->in + 20, 4), 512);
	assert_memory_equal(q->in + 24, page08, 20);
	sreq_free(q);
	/* Short descriptor; DBD. */
	q = sense10(s, 0x00, 0x0a, 512);
	assert_int_equal(q->r.data_in_len, 8 + 8 + 12);
	assert_int_equal(q->in[4], 0);
	assert_int_equal(st_get_be(q->in + 6, 2), 8);
	assert_memory_equal(q->in + 16, page0a, 12);
	sreq_free(q);
	q = sense10(s, 0x18, 0x01, 512);
	assert_int_equal(q->r.data_in_len, 8 + 12);
	assert_int_equal(st_get_be(q->in + 6, 2), 0);
	assert_int_equal(q->in[4], 0);
	sreq_free(q);

	/* Truncation keeps the full MODE DATA LENGTH. */
	q = sense6(s, 0, 0x3f, 0, 10);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 10);
	assert_int_equal(q->in[0], 55);
	assert_int_equal(q->in[10], 0xa5);
	sreq_free(q);
}

static void test_sense_pc(void **state)
{
	struct st *s = *state;
	static const uint8_t chg08[20] = { 0x08, 0x12, 0x04 };
	static const uint8_t chg0a[12] = { 0x0a, 0x0a, 0x04 };
	static const uint8_t chg01[12] = { 0x01, 0x0a };
	struct sreq *q;

	q = sense6(s, 0x08, 0x40 | 0x3f, 0, 255); /* changeable */
	st_expect_good(q);
	assert_memory_equal(q->in + 4, chg01, 12);
	assert_memory_equal(q->in + 16, chg08, 20);
	assert_memory_equal(q->in + 36, chg0a, 12);
	sreq_free(q);
	q = sense6(s, 0x08, 0x80 | 0x3f, 0, 255); /* default */
	st_expect_good(q);
	assert_memory_equal(q->in + 4, page01, 12);
	assert_memory_equal(q->in + 16, page08, 20);
	assert_memory_equal(q->in + 36, page0a, 12);
	sreq_free(q);
	q = sense6(s, 0x08, 0xc0 | 0x08, 0, 255); /* saved */
	st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x39, 0x00);
	sreq_free(q);
	q = sense6(s, 0x08, 0x1c, 0, 255);
	st_expect_bad_cdb(q, 2, 5);
	sreq_free(q);
	q = sense6(s, 0x08, 0x08, 0x01, 255);
	st_expect_bad_cdb(q, 3, 7);
	sreq_free(q);
	q = sense6(s, 0x10, 0x08, 0, 255); /* LLBAA is not in MODE SENSE(6) */
	st_expect_bad_cdb(q, 1, 4);
	sreq_free(q);
}

static struct sreq *select6(struct st *s, uint8_t flags, const uint8_t *list, uint8_t plen,
			    size_t sent)
{
	uint8_t cdb[6] = { 0x15, flags, 0, 0, plen, 0 };

	return st_cmd(s, 0, 0, cdb, 6, list, sent, 0);
}

static struct sreq *select10(struct st *s, const uint8_t *list, uint16_t plen)
{
	uint8_t cdb[10] = { 0x55, 0x10 };

	st_put_be(cdb + 7, plen, 2);
	return st_cmd(s, 0, 0, cdb, 10, list, plen, 0);
}

static uint8_t current_byte2(struct st *s, uint8_t page)
{
	struct sreq *q = sense6(s, 0x08, page, 0, 255);
	uint8_t v = q->in[6];

	st_expect_good(q);
	sreq_free(q);
	return v;
}

static void test_select_wce_dsense(void **state)
{
	struct st *s = *state;
	vdev_scsi_lun *l = vdev_scsi_lun_find(s->bus, 0, 0);
	uint8_t list[64];
	uint8_t rd[16];
	struct sreq *q;

	/* WCE off (MODE SELECT(10), with a short block descriptor restating the values). */
	memset(list, 0, sizeof(list));
	st_put_be(list + 6, 8, 2);
	st_put_be(list + 8 + 5, 512, 3);
	memcpy(list + 16, page08, 20);
	list[16 + 2] = 0;
	q = select10(s, list, 36);
	st_expect_good(q);
	assert_int_equal(q->r.data_out_len, 36);
	sreq_free(q);
	assert_int_equal(current_byte2(s, 0x08), 0);
	assert_int_equal(vdev__scsi_write_flags(l, false), VDEV_BLK_F_FUA);
	q = sense6(s, 0x08, 0x80 | 0x08, 0, 255);
	assert_int_equal(q->in[6], 0x04); /* default unchanged */
	sreq_free(q);
	/* And on again (PS set as MODE SENSE returned it: ignored). */
	memset(list, 0, sizeof(list));
	memcpy(list + 4, page08, 20);
	list[4] |= 0x80;
	q = select6(s, 0x10, list, 24, 24);
	st_expect_good(q);
	sreq_free(q);
	assert_int_equal(current_byte2(s, 0x08), 0x04);
	assert_int_equal(vdev__scsi_write_flags(l, false), 0);
	assert_int_equal(vdev__scsi_write_flags(l, true), VDEV_BLK_F_FUA);

	/* D_SENSE on: errors come in descriptor format, with the field pointer. */
	memset(list, 0, sizeof(list));
	memcpy(list + 4, page0a, 12);
	list[4 + 2] = 0x04;
	q = select6(s, 0x10, list, 16, 16);
	st_expect_good(q);
	sreq_free(q);
	assert_int_equal(current_byte2(s, 0x0a), 0x04);
	q = st_cmd(s, 0, 0, rd, st_cdb_rw(rd, 0x88, 0, 65537), NULL, 0, 0);
	st_expect_bad_cdb(q, 10, 7);
	assert_int_equal(q->sense[0], 0x72);
	assert_true(st_decode(q).desc);
	sreq_free(q);
	list[4 + 2] = 0;
	q = select6(s, 0x10, list, 16, 16);
	st_expect_good(q);
	sreq_free(q);
	q = st_cmd(s, 0, 0, rd, st_cdb_rw(rd, 0x88, 0, 65537), NULL, 0, 0);
	assert_int_equal(q->sense[0], 0x70);
	sreq_free(q);
}

static void test_select_write_cache_option(void **state)
{
	struct st *s = *state;
	struct vdev_scsi_lun_opts o = {
		.struct_size = sizeof(o),
		.type = VDEV_SCSI_LUN_DISK,
		.blk = st_blk_open(s, "memory", MB, 0),
		.write_cache = -1,
	};
	uint8_t cdb[6] = { 0x1a, 0x08, 0x08, 0, 255, 0 };
	struct sreq *q;

	st_add(s, 0, 1, &o);
	st_clear_ua(s, 0, 1);
	q = st_cmd(s, 0, 1, cdb, 6, NULL, 0, 255);
	assert_int_equal(q->in[6], 0);
	sreq_free(q);
	cdb[2] = 0x88;
	q = st_cmd(s, 0, 1, cdb, 6, NULL, 0, 255);
	assert_int_equal(q->in[6], 0);
	sreq_free(q);
	assert_int_equal(vdev__scsi_write_flags(vdev_scsi_lun_find(s->bus, 0, 1), false),
			 VDEV_BLK_F_FUA);
}

static void test_select_errors(void **state)
{
	struct st *s = *state;
	uint8_t list[64];
	struct sreq *q;

	memset(list, 0, sizeof(list));
	memcpy(list + 4, page08, 20);
	list[4 + 2] = 0; /* a valid change (WCE off), for the cases below to not apply */

	q = select6(s, 0x11, list, 24, 24); /* SP */
	st_expect_bad_cdb(q, 1, 0);
	sreq_free(q);
	q = select6(s, 0x00, list, 24, 24); /* PF 0 */
	st_expect_bad_cdb(q, 1, 4);
	sreq_free(q);
	q = select6(s, 0x00, list, 0, 0); /* nothing to select: fine even without PF */
	st_expect_good(q);
	sreq_free(q);
	q = select6(s, 0x10, list, 3, 3);
	st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	sreq_free(q);
	q = select6(s, 0x10, list, 24, 20); /* the initiator sent less */
	st_expect_sense(q, VDEV_SCSI_SK_ABORTED_COMMAND, 0x4b, 0x00);
	sreq_free(q);
	q = select6(s, 0x10, list, 23, 23); /* the page runs past the list */
	st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	sreq_free(q);
	q = select6(s, 0x10, list, 5, 5);
	st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
	sreq_free(q);

	list[1] = 0x05; /* medium type */
	q = select6(s, 0x10, list, 24, 24);
	st_expect_bad_param(q, 1, 7);
	sreq_free(q);
	list[1] = 0;
	list[4 + 3] = 0x01; /* caching byte 3 bit 0: not changeable */
	q = select6(s, 0x10, list, 24, 24);
	st_expect_bad_param(q, 7, 0);
	sreq_free(q);
	list[4 + 3] = 0;
	list[4 + 2] = 0x01; /* RCD, next to WCE */
	q = select6(s, 0x10, list, 24, 24);
	st_expect_bad_param(q, 6, 0);
	sreq_free(q);
	list[4 + 2] = 0;
	list[4 + 1] = 0x11; /* page length */
	q = select6(s, 0x10, list, 24, 24);
	st_expect_bad_param(q, 5, 7);
	sreq_free(q);
	list[4 + 1] = 0x12;
	list[4] = 0x19; /* unknown page */
	q = select6(s, 0x10, list, 24, 24);
	st_expect_bad_param(q, 4, 5);
	sreq_free(q);
	list[4] = 0x48; /* SPF */
	q = select6(s, 0x10, list, 24, 24);
	st_expect_bad_param(q, 4, 6);
	sreq_free(q);
	list[4] = 0x08;

	/* Error recovery page: AWRE is not changeable. */
	{
		uint8_t l1[16] = { 0 };

		memcpy(l1 + 4, page01, 12);
		l1[6] = 0;
		q = select6(s, 0x10, l1, 16, 16);
		st_expect_bad_param(q, 6, 7);
		sreq_free(q);
		l1[6] = 0x80;
		q = select6(s, 0x10, l1, 16, 16);
		st_expect_good(q);
		sreq_free(q);
	}
	/* Block descriptors: the length, and they may only restate the current values. */
	{
		uint8_t lb[32] = { 0, 0, 0, 8 };

		st_put_be(lb + 4, 16384, 4);
		st_put_be(lb + 9, 4096, 3);
		q = select6(s, 0x10, lb, 12, 12);
		st_expect_bad_param(q, 9, 7);
		sreq_free(q);
		st_put_be(lb + 9, 512, 3);
		st_put_be(lb + 4, 100, 4);
		q = select6(s, 0x10, lb, 12, 12);
		st_expect_bad_param(q, 4, 7);
		sreq_free(q);
		st_put_be(lb + 4, 0, 4);
		lb[8] = 1; /* density code */
		q = select6(s, 0x10, lb, 12, 12);
		st_expect_bad_param(q, 8, 7);
		sreq_free(q);
		lb[8] = 0;
		q = select6(s, 0x10, lb, 12, 12);
		st_expect_good(q);
		sreq_free(q);
		lb[3] = 7;
		q = select6(s, 0x10, lb, 12, 12);
		st_expect_bad_param(q, 3, 7);
		sreq_free(q);
		lb[3] = 16;
		q = select6(s, 0x10, lb, 12, 12);
		st_expect_bad_param(q, 3, 7);
		sreq_free(q);
		lb[3] = 8; /* the descriptor runs past the list */
		q = select6(s, 0x10, lb, 10, 10);
		st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x1a, 0x00);
		sreq_free(q);
	}
	/* MODE SELECT(10) header: reserved LONGLBA neighbours; long descriptor length. */
	{
		uint8_t l10[40] = { 0 };

		l10[4] = 0x02;
		q = select10(s, l10, 8);
		st_expect_bad_param(q, 4, 1);
		sreq_free(q);
		l10[4] = 0x01;
		st_put_be(l10 + 6, 16, 2);
		st_put_be(l10 + 8, 16384, 8);
		st_put_be(l10 + 20, 512, 4);
		q = select10(s, l10, 24);
		st_expect_good(q);
		sreq_free(q);
		st_put_be(l10 + 6, 8, 2);
		q = select10(s, l10, 24);
		st_expect_bad_param(q, 6, 7);
		sreq_free(q);
	}

	/* A good page then a bad one: nothing applied. */
	memset(list, 0, sizeof(list));
	memcpy(list + 4, page08, 20);
	list[4 + 2] = 0;
	memcpy(list + 24, page0a, 12);
	list[24 + 3] = 0x00; /* QAM: not changeable */
	q = select6(s, 0x10, list, 36, 36);
	st_expect_bad_param(q, 27, 4);
	sreq_free(q);
	assert_int_equal(current_byte2(s, 0x08), 0x04);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sense_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sense_pc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_select_wce_dsense, setup, teardown),
		cmocka_unit_test_setup_teardown(test_select_write_cache_option, setup, teardown),
		cmocka_unit_test_setup_teardown(test_select_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
