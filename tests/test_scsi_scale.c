/* SPDX-License-Identifier: MIT */
/*
 * Scale of the SCSI target: 16384 LUNs on one target, and 256 targets x
 * 64 LUNs, on "null" backends. Measures and prints (for the record):
 * attach time, memory per LUN (mallinfo2, split into the backend's share
 * and the target's), file descriptors per LUN, lookup cost, the cost of a
 * command that completes at once (TEST UNIT READY) on a random LUN,
 * REPORT LUNS of the whole inventory (contents checked entry by entry,
 * truncation), and removal time. Checks the lookups and the inventory
 * exactly and bounds the target's memory per idle LUN.
 */
#include <dirent.h>
#include <malloc.h>
#include <time.h>

#include "scsi_test_util.h"

#define BLK_SIZE (1u << 20)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void check_report_luns(struct st *s, uint16_t t, unsigned int nluns,
			      uint16_t (*lun_at)(unsigned int i))
{
	uint8_t cdb[12] = { 0xa0 };
	size_t cap = 8 + 8 * (size_t)nluns, trunc;
	struct sreq *q;
	double t0;

	st_put_be(cdb + 6, cap, 4);
	t0 = now_s();
	q = st_cmd(s, t, lun_at(0), cdb, 12, NULL, 0, cap);
	print_message("  REPORT LUNS of %u LUNs: %.3f ms\n", nluns, (now_s() - t0) * 1e3);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, cap);
	assert_int_equal(st_get_be(q->in, 4), 8 * (uint64_t)nluns);
	for (unsigned int i = 0; i < nluns; i++) {
		const uint8_t *e = q->in + 8 + 8 * (size_t)i;
		uint16_t l = lun_at(i);
		uint8_t b0 = l < 256 ? 0 : (uint8_t)(0x40 | (l >> 8));

		if (e[0] != b0 || e[1] != (uint8_t)l || st_get_be(e + 2, 6))
			fail_msg("entry %u: %02x %02x, want LUN %u", i, e[0], e[1], l);
	}
	sreq_free(q);
	/* Truncated (to 4 KiB, or half the list): the length still says the whole list. */
	trunc = cap > 8192 ? 4096 : 16 + 8 * (nluns / 2);
	st_put_be(cdb + 6, trunc, 4);
	q = st_cmd(s, t, lun_at(0), cdb, 12, NULL, 0, cap);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, trunc);
	assert_int_equal(st_get_be(q->in, 4), 8 * (uint64_t)nluns);
	sreq_free(q);
}

static uint16_t lun_dense(unsigned int i)
{
	return (uint16_t)i;
}


/* Add @ntargets x @nper LUNs (LUN numbers from @lun_at), measure, check, remove. */
static void scale(unsigned int ntargets, unsigned int nper, uint16_t (*lun_at)(unsigned int i))
{
	unsigned int total = ntargets * nper;
	struct st *s;
	vdev_blk **blks = calloc(total, sizeof(*blks));
	struct vdev_blk_opts bo = {
		.struct_size = sizeof(bo), .driver = "null", .size = BLK_SIZE, .queue_depth = 4,
	};
	struct vdev_blk_loop_opts lpo = { .struct_size = sizeof(lpo),
					  .engine = VDEV_BLK_ENGINE_INLINE };
	vdev_blk_loop *loop;
	struct vdev_scsi_lun_opts lo = { .struct_size = sizeof(lo), .type = VDEV_SCSI_LUN_DISK };
	size_t h0, h1, h2;
	int fd0, fd1;
	double t0, t_attach, t_lookup, t_tur, t_remove;
	uint64_t rnd = 0x9e3779b97f4a7c15ull;
	const unsigned int lookups = 4000000, turs = 200000;
	unsigned int found = 0;

	s = st_new();
	print_message("%u target(s) x %u LUNs = %u LUNs, one completion loop\n", ntargets, nper,
		      total);
	fd0 = open_fds();
	/* Every backend on one loop: one event fd for the whole bus, no RLIMIT_NOFILE raise. */
	assert_int_equal(vdev_blk_loop_new(s->mv.ctx, &lpo, &loop), 0);
	bo.loop = loop;
	h0 = heap_used();
	for (unsigned int i = 0; i < total; i++)
		assert_int_equal(vdev_blk_open(s->mv.ctx, &bo, &blks[i]), 0);
	h1 = heap_used();
	fd1 = open_fds();
	t0 = now_s();
	for (unsigned int t = 0; t < ntargets; t++) {
		for (unsigned int i = 0; i < nper; i++) {
			lo.blk = blks[t * nper + i];
			int rc = vdev_scsi_lun_add(s->bus, (uint16_t)t, lun_at(i), &lo, NULL);

			assert_int_equal(rc, 0);
		}
	}
	t_attach = now_s() - t0;
	h2 = heap_used();
	assert_int_equal(vdev_scsi_lun_count(s->bus), total);
	print_message("  attach: %.3f ms total, %.2f us per LUN\n", t_attach * 1e3,
		      t_attach * 1e6 / total);
	if (h2 > h0) {
		print_message("  memory per LUN: backend (null, queue depth 4) %zu B, "
			      "target %zu B\n", (h1 - h0) / total, (h2 - h1) / total);
		/* The target's share for an idle LUN stays small. */
		assert_true((h2 - h1) / total < 512);
	} else {
		print_message("  memory per LUN: not measurable here (mallinfo2 shows nothing: "
			      "a sanitizer's allocator?)\n");
	}
	print_message("  file descriptors: %d for the loop and %u LUNs (%.5f per LUN)\n",
		      fd1 - fd0, total, (double)(fd1 - fd0) / total);
	assert_int_equal(fd1 - fd0, 1); /* the loop's event fd, whatever the LUN count */

	/* Lookups: every address, then random ones (half of them absent). */
	for (unsigned int t = 0; t < ntargets; t++)
		for (unsigned int i = 0; i < nper; i++)
			assert_non_null(vdev_scsi_lun_find(s->bus, (uint16_t)t, lun_at(i)));
	t0 = now_s();
	for (unsigned int k = 0; k < lookups; k++) {
		uint64_t r = xorshift(&rnd);

		found += vdev_scsi_lun_find(s->bus, (uint16_t)(r % ntargets),
					    (uint16_t)((r >> 16) % VDEV_SCSI_MAX_LUNS)) != NULL;
	}
	t_lookup = now_s() - t0;
	print_message("  lookup: %.1f ns (%u of %u random addresses present)\n",
		      t_lookup * 1e9 / lookups, found, lookups);

	/* A command that completes inside submit, on random LUNs (after their UA). */
	{
		uint8_t tur[6] = { 0 };
		struct sreq *q = sreq_new(0, 0, tur, 6, NULL, 0, 0);
		unsigned int good = 0;

		t0 = now_s();
		for (unsigned int k = 0; k < turs; k++) {
			uint64_t r = xorshift(&rnd);

			q->r.target = (uint16_t)(r % ntargets);
			q->r.lun = lun_at((unsigned int)((r >> 16) % nper));
			q->ndone = 0;
			assert_int_equal(vdev_scsi_submit(s->bus, &q->r), 0);
			assert_int_equal(q->ndone, 1);
			good += q->r.status == VDEV_SCSI_GOOD;
		}
		t_tur = now_s() - t0;
		print_message("  TEST UNIT READY on a random LUN: %.1f ns (%u GOOD)\n",
			      t_tur * 1e9 / turs, good);
		sreq_free(q);
	}

	check_report_luns(s, 0, nper, lun_at);
	if (ntargets > 1)
		check_report_luns(s, (uint16_t)(ntargets - 1), nper, lun_at);

	t0 = now_s();
	for (unsigned int t = 0; t < ntargets; t++)
		for (unsigned int i = 0; i < nper; i++)
			assert_int_equal(vdev_scsi_lun_remove(s->bus, (uint16_t)t, lun_at(i)), 0);
	t_remove = now_s() - t0;
	print_message("  remove: %.3f ms total, %.2f us per LUN\n", t_remove * 1e3,
		      t_remove * 1e6 / total);
	assert_int_equal(vdev_scsi_lun_count(s->bus), 0);
	vdev_blk_loop_free(loop); /* the bus closed every backend */
	assert_int_equal(open_fds(), fd0);
	free(blks);
	st_free(s);
}

static void test_16384_luns(void **state)
{
	(void)state;
	scale(1, VDEV_SCSI_MAX_LUNS, lun_dense);
}

static void test_256_targets(void **state)
{
	(void)state;
	scale(VDEV_SCSI_MAX_TARGETS, 64, lun_dense);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_16384_luns),
		cmocka_unit_test(test_256_targets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
