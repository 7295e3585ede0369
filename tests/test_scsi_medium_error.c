/* SPDX-License-Identifier: MIT */
/*
 * A failing medium end to end: a disk LUN whose backend has an injected
 * error range (vdev_blk_inject_error()) answers the commands that touch
 * it with CHECK CONDITION, MEDIUM ERROR, and the additional sense code of
 * the direction (SBC-4 §4.18 and SPC-5 Table 71): UNRECOVERED READ ERROR
 * (11h/00h) for READ(6/10/12/16) and VERIFY, WRITE ERROR (0Ch/00h) for
 * WRITE(10/16). Blocks outside the range keep working, nothing of a
 * failed WRITE reaches the medium, and clearing the range heals the LUN.
 */
#include "scsi_test_util.h"

#define BS 512u
#define BLOCKS 4096u
#define BAD_LBA 2048u
#define BAD_N 64u

static int setup(void **state)
{
	struct st *s = st_new();

	st_add_disk(s, 0, 2, (uint64_t)BLOCKS * BS, BS);
	st_clear_ua(s, 0, 2);
	assert_int_equal(vdev_blk_inject_error(st_blk(s, 0, 2), (uint64_t)BAD_LBA * BS,
					       (uint64_t)BAD_N * BS, VDEV_BLK_OPS_RW, -EIO), 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	st_free(*state);
	return 0;
}

static void test_read_medium_error(void **state)
{
	/* Inside, the first and the last block, and straddling either end. */
	static const struct {
		uint32_t lba, n;
	} bad[] = {
		{ BAD_LBA, BAD_N }, { BAD_LBA, 1 }, { BAD_LBA + BAD_N - 1, 1 },
		{ BAD_LBA - 8, 9 }, { BAD_LBA + BAD_N - 1, 8 }, { BAD_LBA - 1, BAD_N + 2 },
	};
	static const uint8_t ops[] = { 0x28, 0xa8, 0x88 }; /* READ(10), (12), (16) */
	struct st *s = *state;
	uint8_t cdb[16];

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (unsigned int k = 0; k < sizeof(ops); k++) {
			struct sreq *q = st_cmd(s, 0, 2, cdb, st_cdb_rw(cdb, ops[k], bad[i].lba,
									bad[i].n),
						NULL, 0, (size_t)bad[i].n * BS);

			assert_int_equal(q->r.status, VDEV_SCSI_CHECK_CONDITION);
			st_expect_sense(q, VDEV_SCSI_SK_MEDIUM_ERROR, 0x11, 0x00);
			assert_int_equal(q->r.data_in_len, 0);
			sreq_free(q);
		}
	}
	/* READ(6) reaches LBA 2048 too (21-bit LBA). */
	st_cmd_sense(s, 0, 2, cdb, st_cdb_rw(cdb, 0x08, BAD_LBA, 4), VDEV_SCSI_SK_MEDIUM_ERROR,
		     0x11, 0x00);
	/* VERIFY(10) without BYTCHK reads the medium: the same error. */
	st_cmd_sense(s, 0, 2, cdb, st_cdb_rw(cdb, 0x2f, BAD_LBA + 4, 4),
		     VDEV_SCSI_SK_MEDIUM_ERROR, 0x11, 0x00);
	/* Just outside, on both sides: GOOD. */
	st_cmd_good(s, 0, 2, cdb, st_cdb_rw(cdb, 0x28, BAD_LBA - 8, 8));
	st_cmd_good(s, 0, 2, cdb, st_cdb_rw(cdb, 0x28, BAD_LBA + BAD_N, 8));
	st_cmd_good(s, 0, 2, cdb, st_cdb_rw(cdb, 0x28, 0, 64));
}

static void test_write_medium_error(void **state)
{
	struct st *s = *state;
	uint8_t cdb[16], data[16 * BS], back[16 * BS];
	struct sreq *q;

	memset(data, 0x5a, sizeof(data));
	/* WRITE(10) straddling the start of the range: WRITE ERROR, and nothing written. */
	q = st_cmd(s, 0, 2, cdb, st_cdb_rw(cdb, 0x2a, BAD_LBA - 8, 16), data, sizeof(data), 0);
	assert_int_equal(q->r.status, VDEV_SCSI_CHECK_CONDITION);
	st_expect_sense(q, VDEV_SCSI_SK_MEDIUM_ERROR, 0x0c, 0x00);
	sreq_free(q);
	q = st_cmd(s, 0, 2, cdb, st_cdb_rw(cdb, 0x8a, BAD_LBA + BAD_N - 1, 1), data, BS, 0);
	st_expect_sense(q, VDEV_SCSI_SK_MEDIUM_ERROR, 0x0c, 0x00);
	sreq_free(q);
	st_read(s, 0, 2, BAD_LBA - 8, back, 8, BS);
	for (unsigned int i = 0; i < 8 * BS; i++)
		assert_int_equal(back[i], 0);
	/* Writes outside the range work and read back. */
	st_write(s, 0, 2, BAD_LBA - 16, data, 16, BS);
	st_read(s, 0, 2, BAD_LBA - 16, back, 16, BS);
	assert_memory_equal(back, data, sizeof(data));

	/* Cleared: the whole range works again; the failed writes left no trace. */
	assert_int_equal(vdev_blk_inject_error(st_blk(s, 0, 2), 0, 0, 0, 0), 0);
	st_read(s, 0, 2, BAD_LBA, back, 16, BS);
	for (unsigned int i = 0; i < 16 * BS; i++)
		assert_int_equal(back[i], 0);
	st_write(s, 0, 2, BAD_LBA, data, 16, BS);
	st_read(s, 0, 2, BAD_LBA, back, 16, BS);
	assert_memory_equal(back, data, sizeof(data));
}

/* Another errno through the same path: -ENOSPC on writes is the thin-provisioning one. */
static void test_other_errno(void **state)
{
	struct st *s = *state;
	uint8_t cdb[16], data[BS] = { 1 };
	struct sreq *q;

	assert_int_equal(vdev_blk_inject_error(st_blk(s, 0, 2), 0, BS,
					       VDEV_BLK_OP_BIT(VDEV_BLK_WRITE), -ENOSPC), 0);
	q = st_cmd(s, 0, 2, cdb, st_cdb_rw(cdb, 0x2a, 0, 1), data, BS, 0);
	st_expect_sense(q, VDEV_SCSI_SK_DATA_PROTECT, 0x27, 0x07);
	sreq_free(q);
	st_cmd_good(s, 0, 2, cdb, st_cdb_rw(cdb, 0x28, 0, 1)); /* reads are not in its mask */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_medium_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_medium_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_errno, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
