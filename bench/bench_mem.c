/* SPDX-License-Identifier: MIT */
/*
 * Guest-memory map lookups: vdev_mem_translate() and vdev_mem_read() over
 * 1, 16 and 512 regions, with the last-hit cache hitting (same region
 * every time) and missing (a different region every time: binary search).
 *
 * Usage: bench_mem [iterations]   (default 10000000 per case)
 * Prints ns/op. Wall-clock numbers are noisy on shared machines; for
 * stable comparisons count instructions instead:
 *   valgrind --tool=callgrind ./bench_mem 100000
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <vdev/vdev.h>

#define REGION_STRIDE (1u << 20)               /* gpa distance between regions */
#define REGION_SIZE (REGION_STRIDE - VDEV_PAGE_SIZE) /* leaves a hole after each */
#define NADDRS 4096u                           /* precomputed addresses, a power of 2 */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

enum bench_op { OP_TRANSLATE, OP_TRANSLATE_WRITE_LOG, OP_READ };

static const char *const op_names[] = {
	[OP_TRANSLATE] = "translate read 512B",
	[OP_TRANSLATE_WRITE_LOG] = "translate write 512B, dirty log on",
	[OP_READ] = "read 64B",
};

/*
 * Run one case; returns 0 or a negative errno. @spread: pick addresses
 * from every region (cache misses) or from region 0 only (cache hits).
 */
static int run_case(vdev_ctx *ctx, unsigned int nregions, enum bench_op op, int spread,
		    const uint64_t *addrs, unsigned long iters)
{
	struct iovec iov[2];
	uint8_t buf[64];
	uint64_t t0, t1, sink = 0;
	int rc;

	rc = vdev_mem_dirty_log_enable(ctx, op == OP_TRANSLATE_WRITE_LOG);
	if (rc)
		return rc;
	t0 = now_ns();
	for (unsigned long i = 0; i < iters; i++) {
		uint64_t gpa = addrs[i & (NADDRS - 1)];

		switch (op) {
		case OP_TRANSLATE:
			rc = vdev_mem_translate(ctx, gpa, 512, VDEV_MEM_READ, iov, 2);
			break;
		case OP_TRANSLATE_WRITE_LOG:
			rc = vdev_mem_translate(ctx, gpa, 512, VDEV_MEM_WRITE, iov, 2);
			break;
		case OP_READ:
			rc = vdev_mem_read(ctx, gpa, buf, sizeof(buf));
			break;
		}
		if (rc < 0)
			return rc;
		sink += (uint64_t)rc + buf[0];
	}
	t1 = now_ns();
	printf("%-36s regions=%-4u %-6s %8.2f ns/op  (sink %llu)\n", op_names[op], nregions,
	       spread ? "random" : "same", iters ? (double)(t1 - t0) / (double)iters : 0.0,
	       (unsigned long long)(sink & 1));
	return 0;
}

static int bench_regions(unsigned int nregions, uint8_t *backing, unsigned long iters)
{
	static uint64_t addrs[NADDRS];
	uint64_t seed = 0x1234567887654321ull;
	vdev_ctx *ctx;
	int rc;

	rc = vdev_ctx_new(NULL, &ctx);
	if (rc)
		return rc;
	/* Every region is backed by the same buffer: lookups never care. */
	for (unsigned int i = 0; i < nregions && !rc; i++)
		rc = vdev_mem_region_add(ctx, (uint64_t)i * REGION_STRIDE, REGION_SIZE, backing, 0);
	for (int spread = 0; spread <= 1 && !rc; spread++) {
		for (unsigned int k = 0; k < NADDRS; k++) {
			uint64_t region = spread ? rng_next(&seed) % nregions : 0;

			addrs[k] = region * REGION_STRIDE + rng_next(&seed) % (REGION_SIZE - 512);
		}
		for (int op = OP_TRANSLATE; op <= OP_READ && !rc; op++)
			rc = run_case(ctx, nregions, (enum bench_op)op, spread, addrs, iters);
	}
	vdev_ctx_free(ctx);
	return rc;
}

int main(int argc, char **argv)
{
	static const unsigned int counts[] = { 1, 16, 512 };
	unsigned long iters = 10000000;
	uint8_t *backing;
	int rc = 0;

	if (argc > 1) {
		char *end;

		iters = strtoul(argv[1], &end, 0);
		if (*end || end == argv[1]) {
			fprintf(stderr, "usage: %s [iterations]\n", argv[0]);
			return 2;
		}
	}
	backing = calloc(1, REGION_SIZE);
	if (!backing)
		return 1;
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]) && !rc; i++)
		rc = bench_regions(counts[i], backing, iters);
	free(backing);
	if (rc) {
		fprintf(stderr, "bench_mem: %s\n", vdev_strerror(rc));
		return 1;
	}
	return 0;
}
