/* SPDX-License-Identifier: MIT */
/*
 * Device-side cost per request of the virtqueue engine, driven by the test
 * driver (tests/vdrv.h): split and packed rings, 1-descriptor (one 4 KiB
 * device-writable buffer) and 3-descriptor virtio-scsi-shaped requests
 * (51 B readable header, 108 B writable response, 4 KiB writable data),
 * direct or through an indirect table, in batches of 1 or 32.
 *
 * One batch: the driver adds B requests and publishes them (and asks
 * whether to kick); the device pops them (vdev_vq_pop_batch for B > 1),
 * pushes each with its full writable length and flushes once (one
 * interrupt: the driver re-arms EVENT_IDX every batch); the driver
 * collects the used buffers. The device never touches the data.
 *
 * Usage: bench_vq [requests-per-case] [case-name-substring]
 * Prints, per case, ns/request for the whole loop and for the device side
 * alone (timed around it). The device side is the non-inlined function
 * device_side(); for instruction counts run under callgrind and divide its
 * inclusive cost by the request count (bench/run_vq_bench.sh does that).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vdev/vdev.h>
#include <vdev/virtqueue.h>

#include "vdrv.h"

#define QSIZE 256u
#define MAXB 32u
#define RAM_SIZE (4u << 20)
#define F(bit) (1ull << (bit))

struct bcase {
	const char *name;
	int packed;
	int three;     /* 3-descriptor scsi shape, else 1 x 4 KiB writable */
	int indirect;
	unsigned int batch;
};

struct bench {
	vdev_ctx *ctx;
	uint8_t *ram;
	struct vdrv_mem mem;
	struct vdrv_vq d;
	vdev_vq *vq;
	unsigned long notifies;
	struct vdev_vq_req reqs[MAXB];
	struct iovec iov[MAXB][4];
	struct vdrv_seg segs[QSIZE][3];
	unsigned int nseg;
	unsigned int addflags;
	unsigned long kicks;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A cheap timestamp for bracketing short sections: the TSC on x86-64. */
static uint64_t stamp(void)
{
#if defined(__x86_64__)
	return __builtin_ia32_rdtsc();
#else
	return now_ns();
#endif
}

static void on_notify(void *opaque, vdev_vq *vq)
{
	(void)vq;
	((struct bench *)opaque)->notifies++;
}

/* The driver: add and publish @n requests. */
static __attribute__((noinline)) void driver_add(struct bench *b, unsigned int n,
						 unsigned long tok)
{
	for (unsigned int i = 0; i < n; i++) {
		unsigned long t = tok + i;

		if (vdrv_add(&b->d, b->segs[t % QSIZE], b->nseg, b->addflags, t) < 0)
			abort();
	}
	vdrv_publish(&b->d);
	b->kicks += (unsigned long)vdrv_need_kick(&b->d);
}

/* The driver: collect @n used buffers and re-arm the interrupt. */
static __attribute__((noinline)) void driver_collect(struct bench *b, unsigned int n)
{
	struct vdrv_used u;

	for (unsigned int i = 0; i < n; i++)
		if (vdrv_get_used(&b->d, &u) != 1)
			abort();
	vdrv_interrupts_enable(&b->d);
}

/* The device: pop @n, push each with its full writable length, flush once. */
static __attribute__((noinline)) int device_side(struct bench *b, unsigned int n)
{
	int got;

	if (n == 1)
		got = vdev_vq_pop(b->vq, &b->reqs[0]);
	else
		got = vdev_vq_pop_batch(b->vq, b->reqs, n);
	if (got != (int)n)
		return got < 0 ? got : -EPROTO;
	for (unsigned int i = 0; i < n; i++)
		if (vdev_vq_push(b->vq, &b->reqs[i], (uint32_t)b->reqs[i].in_len))
			return -EPROTO;
	return vdev_vq_flush(b->vq) == 1 ? 0 : -EPROTO;
}

static int setup(struct bench *b, const struct bcase *c)
{
	const struct vdev_vq_ops ops = {
		.struct_size = sizeof(ops),
		.notify = on_notify,
	};
	uint64_t features = F(VDEV_VIRTIO_F_VERSION_1) | F(VDEV_VIRTIO_F_EVENT_IDX) |
			    F(VDEV_VIRTIO_F_INDIRECT_DESC);
	struct vdev_vq_config cfg;
	int rc;

	if (c->packed)
		features |= F(VDEV_VIRTIO_F_RING_PACKED);
	memset(b->ram, 0, RAM_SIZE);
	vdrv_mem_init(&b->mem, b->ram, 0x10000, RAM_SIZE);
	rc = vdrv_vq_init(&b->d, &b->mem, QSIZE, features);
	if (rc)
		return rc;
	b->nseg = c->three ? 3 : 1;
	b->addflags = c->indirect ? VDRV_ADD_INDIRECT : 0;
	for (unsigned int s = 0; s < QSIZE; s++) {
		uint64_t hdr = vdrv_alloc(&b->mem, 64, 64);
		uint64_t resp = vdrv_alloc(&b->mem, 128, 64);
		uint64_t data = vdrv_alloc(&b->mem, 4096, 4096);

		if (data == VDRV_NOMEM)
			return -ENOMEM;
		if (c->three) {
			b->segs[s][0] = (struct vdrv_seg){ hdr, 51, 0 };
			b->segs[s][1] = (struct vdrv_seg){ resp, 108, 1 };
			b->segs[s][2] = (struct vdrv_seg){ data, 4096, 1 };
		} else {
			b->segs[s][0] = (struct vdrv_seg){ data, 4096, 1 };
		}
	}
	for (unsigned int i = 0; i < MAXB; i++) {
		b->reqs[i].iov = b->iov[i];
		b->reqs[i].iov_cap = 4;
	}
	rc = vdev_vq_new(b->ctx, &ops, b, &b->vq);
	if (rc)
		return rc;
	vdrv_vq_config(&b->d, &cfg);
	return vdev_vq_start(b->vq, &cfg);
}

static void teardown(struct bench *b)
{
	vdev_vq_free(b->vq);
	b->vq = NULL;
	vdrv_vq_fini(&b->d);
}

static int run_case(struct bench *b, const struct bcase *c, unsigned long requests)
{
	unsigned long batches = (requests + c->batch - 1) / c->batch, tok = 0;
	uint64_t t0, t1, dev = 0, s0, s1, tsc_per_us;
	int rc = setup(b, c);

	if (rc)
		return rc;
	/* TSC rate, for the device-side bracket. */
	t0 = now_ns();
	s0 = stamp();
	while (now_ns() - t0 < 2000000)
		;
	tsc_per_us = (stamp() - s0) * 1000 / (now_ns() - t0);
	if (!tsc_per_us)
		tsc_per_us = 1;

	t0 = now_ns();
	for (unsigned long i = 0; i < batches; i++) {
		driver_add(b, c->batch, tok);
		s0 = stamp();
		rc = device_side(b, c->batch);
		s1 = stamp();
		if (rc)
			break;
		dev += s1 - s0;
		driver_collect(b, c->batch);
		tok += c->batch;
	}
	t1 = now_ns();
	if (!rc && vdev_vq_broken(b->vq))
		rc = -EIO;
	if (!rc)
		printf("%-30s %8.1f ns/req total %8.1f ns/req device (%lu req %lu irq %lu kick)\n",
		       c->name, (double)(t1 - t0) / (double)tok,
		       (double)dev * 1000.0 / (double)tsc_per_us / (double)tok, tok, b->notifies,
		       b->kicks);
	b->notifies = 0;
	b->kicks = 0;
	teardown(b);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct bcase cases[] = {
		{ "split-1desc-direct-batch1", 0, 0, 0, 1 },
		{ "split-1desc-direct-batch32", 0, 0, 0, 32 },
		{ "split-1desc-indirect-batch1", 0, 0, 1, 1 },
		{ "split-1desc-indirect-batch32", 0, 0, 1, 32 },
		{ "split-3desc-direct-batch1", 0, 1, 0, 1 },
		{ "split-3desc-direct-batch32", 0, 1, 0, 32 },
		{ "split-3desc-indirect-batch1", 0, 1, 1, 1 },
		{ "split-3desc-indirect-batch32", 0, 1, 1, 32 },
		{ "packed-1desc-direct-batch1", 1, 0, 0, 1 },
		{ "packed-1desc-direct-batch32", 1, 0, 0, 32 },
		{ "packed-1desc-indirect-batch1", 1, 0, 1, 1 },
		{ "packed-1desc-indirect-batch32", 1, 0, 1, 32 },
		{ "packed-3desc-direct-batch1", 1, 1, 0, 1 },
		{ "packed-3desc-direct-batch32", 1, 1, 0, 32 },
		{ "packed-3desc-indirect-batch1", 1, 1, 1, 1 },
		{ "packed-3desc-indirect-batch32", 1, 1, 1, 32 },
	};
	static struct bench b;
	unsigned long requests = 2000000;
	const char *filter = argc > 2 ? argv[2] : NULL;
	int rc = 0, exact = 0;

	if (argc > 1) {
		char *end;

		requests = strtoul(argv[1], &end, 0);
		if (*end || end == argv[1] || !requests) {
			fprintf(stderr, "usage: %s [requests-per-case] [case-name-substring]\n",
				argv[0]);
			return 2;
		}
	}
	b.ram = aligned_alloc(4096, RAM_SIZE);
	if (!b.ram || vdev_ctx_new(NULL, &b.ctx))
		return 1;
	rc = vdev_mem_region_add(b.ctx, 0, RAM_SIZE, b.ram, 0);
	/* A full case name selects that case only; anything else is a substring. */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && filter; i++)
		exact |= !strcmp(cases[i].name, filter);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && !rc; i++)
		if (!filter || (exact ? !strcmp(cases[i].name, filter) :
					!!strstr(cases[i].name, filter)))
			rc = run_case(&b, &cases[i], requests);
	vdev_ctx_free(b.ctx);
	free(b.ram);
	if (rc) {
		fprintf(stderr, "bench_vq: %s\n", vdev_strerror(rc));
		return 1;
	}
	return 0;
}
