/* SPDX-License-Identifier: MIT */
/*
 * Block backends (vdev/block.h); run by bench/run_blk_bench.sh.
 *
 *   bench_blk file PATH ENGINE QD SECONDS [plug]
 *       4 KiB random reads, O_DIRECT, queue depth QD, for SECONDS, through
 *       the "file" driver on ENGINE (io_uring or threads). Prints
 *       "iops N". The loop keeps QD requests in flight: each completion
 *       resubmits its request at a new random offset, at once (as fio
 *       does by default), or with "plug" all the resubmissions of one
 *       poll together (plug/unplug: one io_uring_submit per batch).
 *
 *   bench_blk null OP COUNT [BATCH]
 *       COUNT 4 KiB requests (OP read or write) through the "null" driver,
 *       BATCH (default 32) submitted, then one poll. Prints "ns/req N".
 *       For instructions per request run it under callgrind and divide
 *       null_loop()'s inclusive count by COUNT.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vdev/block.h>
#include <vdev/vdev.h>

#define BS 4096u
#define MAX_QD 256u

struct bench {
	vdev_blk *b;
	uint64_t blocks;        /* the file's size in BS blocks */
	uint64_t rng;
	uint64_t done;
	int stopping;
	int errors;
};

struct breq {
	struct vdev_blk_req r;
	struct iovec iov;
	struct bench *bench;
};

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

static void read_done(struct vdev_blk_req *req, int64_t result)
{
	struct breq *q = req->user;
	struct bench *bn = q->bench;

	if (result != BS)
		bn->errors++;
	bn->done++;
	if (bn->stopping)
		return;
	req->offset = (rng_next(&bn->rng) % bn->blocks) * BS;
	if (vdev_blk_submit(bn->b, req))
		bn->errors++;
}

static int bench_file(vdev_ctx *ctx, const char *path, const char *engine, unsigned int qd,
		      unsigned int seconds, int plug)
{
	struct vdev_blk_opts o = { .struct_size = sizeof(o), .driver = "file", .path = path,
				   .direct = 1, .queue_depth = qd };
	struct bench bn = { .rng = 0x9e3779b97f4a7c15ull };
	struct breq *q;
	uint8_t *bufs;
	uint64_t t0, t1, end, counted;
	int rc;

	if (!strcmp(engine, "io_uring"))
		o.engine = VDEV_BLK_ENGINE_IO_URING;
	else if (!strcmp(engine, "threads"))
		o.engine = VDEV_BLK_ENGINE_THREADS;
	else
		return -EINVAL;
	rc = vdev_blk_open(ctx, &o, &bn.b);
	if (rc)
		return rc;
	bn.blocks = vdev_blk_size(bn.b) / BS;
	q = calloc(qd, sizeof(*q));
	if (!q || !bn.blocks || posix_memalign((void **)&bufs, BS, (size_t)qd * BS)) {
		vdev_blk_close(bn.b);
		free(q);
		return -ENOMEM;
	}
	memset(bufs, 0, (size_t)qd * BS);
	vdev_blk_plug(bn.b);
	for (unsigned int i = 0; i < qd; i++) {
		q[i].bench = &bn;
		q[i].iov = (struct iovec){ bufs + (size_t)i * BS, BS };
		q[i].r = (struct vdev_blk_req){ .op = VDEV_BLK_READ, .iov = &q[i].iov, .iovcnt = 1,
						.done = read_done, .user = &q[i] };
		q[i].r.offset = (rng_next(&bn.rng) % bn.blocks) * BS;
		rc = vdev_blk_submit(bn.b, &q[i].r);
		if (rc)
			break;
	}
	vdev_blk_unplug(bn.b);
	t0 = now_ns();
	end = t0 + (uint64_t)seconds * 1000000000u;
	while (!rc && now_ns() < end) {
		if (plug)
			vdev_blk_plug(bn.b);
		rc = vdev_blk_wait(bn.b, -1);
		if (plug)
			vdev_blk_unplug(bn.b);
		rc = rc < 0 ? rc : 0;
	}
	t1 = now_ns();
	counted = bn.done;
	bn.stopping = 1;
	vdev_blk_close(bn.b); /* the last completions run in here */
	free(bufs);
	free(q);
	if (rc)
		return rc;
	if (bn.errors) {
		fprintf(stderr, "bench_blk: %d requests failed\n", bn.errors);
		return -EIO;
	}
	printf("iops %.0f\n", (double)counted * 1e9 / (double)(t1 - t0));
	return 0;
}

static void null_done(struct vdev_blk_req *req, int64_t result)
{
	struct bench *bn = req->user;

	if (result != BS)
		bn->errors++;
	bn->done++;
}

/* The measured section: submit + poll, BATCH at a time. */
static __attribute__((noinline)) void null_loop(struct bench *bn, struct vdev_blk_req *reqs,
						unsigned int batch, unsigned long count)
{
	for (unsigned long n = 0; n < count; n += batch) {
		for (unsigned int i = 0; i < batch; i++) {
			reqs[i].offset = (rng_next(&bn->rng) % bn->blocks) * BS;
			if (vdev_blk_submit(bn->b, &reqs[i]))
				bn->errors++;
		}
		if (vdev_blk_poll(bn->b) != (int)batch)
			bn->errors++;
	}
}

static int bench_null(vdev_ctx *ctx, const char *op, unsigned long count, unsigned int batch)
{
	struct vdev_blk_opts o = { .struct_size = sizeof(o), .driver = "null", .size = 1ull << 30,
				   .queue_depth = batch };
	struct bench bn = { .rng = 12345 };
	struct vdev_blk_req reqs[MAX_QD];
	static uint8_t buf[BS] __attribute__((aligned(4096)));
	struct iovec iov = { buf, BS };
	uint64_t t0, t1;
	int rc;

	rc = vdev_blk_open(ctx, &o, &bn.b);
	if (rc)
		return rc;
	bn.blocks = (1ull << 30) / BS;
	for (unsigned int i = 0; i < batch; i++)
		reqs[i] = (struct vdev_blk_req){
			.op = strcmp(op, "write") ? VDEV_BLK_READ : VDEV_BLK_WRITE,
			.iov = &iov, .iovcnt = 1, .done = null_done, .user = &bn };
	count = (count + batch - 1) / batch * batch;
	t0 = now_ns();
	null_loop(&bn, reqs, batch, count);
	t1 = now_ns();
	vdev_blk_close(bn.b);
	if (bn.errors || bn.done != count) {
		fprintf(stderr, "bench_blk: null: %d errors, %llu of %lu done\n", bn.errors,
			(unsigned long long)bn.done, count);
		return -EIO;
	}
	printf("ns/req %.1f\n", (double)(t1 - t0) / (double)count);
	return 0;
}

static unsigned long arg_num(const char *s, unsigned long max)
{
	char *end;
	unsigned long v = strtoul(s, &end, 0);

	return (*end || end == s || !v || v > max) ? 0 : v;
}

int main(int argc, char **argv)
{
	vdev_ctx *ctx;
	int rc = -EINVAL;

	if (vdev_ctx_new(NULL, &ctx))
		return 1;
	vdev_ctx_set_log_level(ctx, VDEV_LOG_WARN);
	if ((argc == 6 || argc == 7) && !strcmp(argv[1], "file")) {
		unsigned long qd = arg_num(argv[4], MAX_QD), secs = arg_num(argv[5], 3600);
		int plug = argc == 7 && !strcmp(argv[6], "plug");

		if (qd && secs && (argc == 6 || plug))
			rc = bench_file(ctx, argv[2], argv[3], (unsigned int)qd, (unsigned int)secs,
					plug);
	} else if ((argc == 4 || argc == 5) && !strcmp(argv[1], "null")) {
		unsigned long count = arg_num(argv[3], 1ul << 40);
		unsigned long batch = argc == 5 ? arg_num(argv[4], MAX_QD) : 32;

		if (count && batch)
			rc = bench_null(ctx, argv[2], count, (unsigned int)batch);
	} else {
		fprintf(stderr, "usage: %s file PATH io_uring|threads QD SECONDS [plug]\n"
				"       %s null read|write COUNT [BATCH]\n", argv[0], argv[0]);
		vdev_ctx_free(ctx);
		return 2;
	}
	vdev_ctx_free(ctx);
	if (rc) {
		fprintf(stderr, "bench_blk: %s\n", vdev_strerror(rc));
		return 1;
	}
	return 0;
}
