/* SPDX-License-Identifier: MIT */
/*
 * virtio-scsi request path cost (issue 4, benchmark 1): 4 KiB random
 * READ(10)s through a "virtio-scsi-pci" device — request parsing, the SCSI
 * bus, the "null" block backend, completion, response and used ring —
 * driven by the test drivers (tests/vio_driver.h for the transport,
 * tests/vdrv.h for the ring).
 *
 * One batch: the driver adds B READ(10) requests (51-byte header, 108-byte
 * response, 4 KiB data-in; random 4 KiB-aligned LBAs on a 1 GiB disk) and
 * publishes them; the device side is the doorbell (vdev_virtio_kick(),
 * as a VMM's ioeventfd handler calls it: pop, parse, submit) and one
 * vdev_blk_poll() of the backend (completions: response, push) then the
 * library timers (one flush and the MSI-X interrupt for the batch, as the
 * VMM's loop runs vdev_timers_run() after polling); the
 * driver collects the used buffers, checks each response and re-arms its
 * interrupt for the next used buffer, as Linux does.
 *
 * Usage: bench_virtio_scsi [requests-per-case] [case-name]
 * Prints, per case, ns/request for the whole loop and for the device side
 * alone, and requests/s on one core. The device side is the non-inlined
 * function device_side(): for instructions per request run under callgrind
 * and divide its inclusive cost by the request count (see bench/RESULTS.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vdev/block.h>
#include <vdev/scsi.h>
#include <vdev/timer.h>
#include <vdev/vdev.h>
#include <vdev/virtio.h>
#include <vdev/virtio_scsi.h>

#include "vdrv.h"
#include "vio_driver.h"

#define QSIZE 128u
#define MAXB 32u
#define RAM_SIZE (8u << 20)
#define DISK_SIZE (1ull << 30)
#define F(bit) (1ull << (bit))

struct bcase {
	const char *name;
	int packed;
	int indirect;
	unsigned int batch;
};

struct bench {
	vdev_ctx *ctx;
	uint8_t *ram;
	vdev_device *dev;
	vdev_virtio *vd;
	vdev_blk *blk;
	struct vio_dev d;
	struct vdrv_mem mem;
	struct vdrv_vq vq[3];
	struct vdrv_seg segs[QSIZE][3];
	uint64_t rng;
	unsigned long irqs;
	unsigned long kicks;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int on_msi(void *opaque, uint32_t source_id, uint64_t addr, uint32_t data)
{
	(void)source_id;
	(void)addr;
	(void)data;
	((struct bench *)opaque)->irqs++;
	return 0;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

/* The driver: lay out and publish @n READ(10)s. */
static __attribute__((noinline)) void driver_add(struct bench *b, unsigned int n,
						 unsigned long tok, unsigned int flags)
{
	for (unsigned int i = 0; i < n; i++) {
		unsigned long t = tok + i;
		struct vdrv_seg *s = b->segs[t % QSIZE];
		uint8_t *cdb = (uint8_t *)vdrv_host(&b->mem, s[0].gpa) + 19;
		uint32_t lba = (uint32_t)(xorshift(&b->rng) % (DISK_SIZE / 4096)) * 8;

		cdb[2] = (uint8_t)(lba >> 24);
		cdb[3] = (uint8_t)(lba >> 16);
		cdb[4] = (uint8_t)(lba >> 8);
		cdb[5] = (uint8_t)lba;
		if (vdrv_add(&b->vq[2], s, 3, flags, t) < 0)
			abort();
	}
	vdrv_publish(&b->vq[2]);
	b->kicks += (unsigned long)vdrv_need_kick(&b->vq[2]);
}

/* The driver: collect @n used buffers, check them, re-arm the interrupt. */
static __attribute__((noinline)) void driver_collect(struct bench *b, unsigned int n)
{
	struct vdrv_used u;

	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *resp;

		if (vdrv_get_used(&b->vq[2], &u) != 1 || u.len != 108 + 4096)
			abort();
		resp = vdrv_host(&b->mem, b->segs[u.token % QSIZE][1].gpa);
		if (resp[11] != 0 || resp[10] != 0) /* VIRTIO_SCSI_S_OK, GOOD */
			abort();
	}
	/* As Linux does with EVENT_IDX (split used_event, packed DESC mode). */
	vdrv_interrupt_after(&b->vq[2], 1);
}

/* The device: the doorbell, then the backend's completions. */
static __attribute__((noinline)) int device_side(struct bench *b, unsigned int n)
{
	int done = 0;

	vdev_virtio_kick(b->vd, 2);
	while (done < (int)n) {
		int k = vdev_blk_poll(b->blk);

		if (k <= 0)
			return -EPROTO;
		done += k;
	}
	vdev_timers_run(b->ctx);
	return 0;
}

static int setup(struct bench *b, const struct bcase *c)
{
	struct vdev_blk_opts bo = {
		.struct_size = sizeof(bo),
		.driver = "null",
		.size = DISK_SIZE,
	};
	struct vdev_scsi_lun_opts lo = {
		.struct_size = sizeof(lo),
		.type = VDEV_SCSI_LUN_DISK,
	};
	uint64_t features = F(VDEV_VIRTIO_F_VERSION_1) | F(VDEV_VIRTIO_F_EVENT_IDX) |
			    F(VDEV_VIRTIO_F_INDIRECT_DESC);
	int rc;

	if (c->packed)
		features |= F(VDEV_VIRTIO_F_RING_PACKED);
	memset(b->ram, 0, RAM_SIZE);
	vdrv_mem_init(&b->mem, b->ram, 0x10000, RAM_SIZE);
	rc = vdev_device_create_kv(b->ctx, "virtio-scsi-pci,queue-size=128", &b->dev);
	if (rc)
		return rc;
	b->vd = vdev_device_virtio(b->dev);
	rc = vdev_blk_open(b->ctx, &bo, &b->blk);
	if (rc)
		return rc;
	lo.blk = b->blk;
	rc = vdev_scsi_lun_add(vdev_virtio_scsi_bus(b->dev), 0, 0, &lo, NULL);
	if (rc)
		return rc;
	if (vio_pci_init(&b->d, vdev_device_pci(b->dev), 0))
		return -EIO;
	vio_pci_enable(&b->d);
	if (vio_negotiate(&b->d, features))
		return -EIO;
	for (unsigned int v = 0; v < 4; v++)
		vio_msix_vector(&b->d, v, 0xfee00000u, v);
	vio_msix_enable(&b->d, 1);
	for (unsigned int q = 0; q < 3; q++) {
		rc = vdrv_vq_init(&b->vq[q], &b->mem, QSIZE, b->d.features);
		if (!rc)
			rc = vio_queue_setup(&b->d, q, &b->vq[q], (uint16_t)q);
		if (rc)
			return rc;
	}
	vio_driver_ok(&b->d);
	for (unsigned int s = 0; s < QSIZE; s++) {
		uint64_t hdr = vdrv_alloc(&b->mem, 64, 64);
		uint64_t resp = vdrv_alloc(&b->mem, 128, 64);
		uint64_t data = vdrv_alloc(&b->mem, 4096, 4096);
		uint8_t *h;

		if (data == VDRV_NOMEM)
			return -ENOMEM;
		h = vdrv_host(&b->mem, hdr);
		h[0] = 1;    /* target 0, LUN 0, flat space */
		h[2] = 0x40;
		h[19] = 0x28; /* READ(10), 8 blocks */
		h[19 + 8] = 8;
		b->segs[s][0] = (struct vdrv_seg){ hdr, 51, 0 };
		b->segs[s][1] = (struct vdrv_seg){ resp, 108, 1 };
		b->segs[s][2] = (struct vdrv_seg){ data, 4096, 1 };
	}
	b->rng = 0x9e3779b97f4a7c15ull;
	return 0;
}

static void teardown(struct bench *b)
{
	for (unsigned int q = 0; q < 3; q++)
		vdrv_vq_fini(&b->vq[q]);
	vdev_device_destroy(b->dev); /* closes the LUN's backend */
	b->dev = NULL;
}

/* A TEST UNIT READY until GOOD: the LUN's power-on unit attention goes first. */
static int clear_ua(struct bench *b)
{
	for (int i = 0; i < 4; i++) {
		uint8_t *h = vdrv_host(&b->mem, b->segs[0][0].gpa);
		uint8_t save[10];
		struct vdrv_seg s[2] = { b->segs[0][0], b->segs[0][1] };
		struct vdrv_used u;
		const uint8_t *resp = vdrv_host(&b->mem, s[1].gpa);

		memcpy(save, h + 19, 10);
		memset(h + 19, 0, 10);
		if (vdrv_add(&b->vq[2], s, 2, 0, 0) < 0)
			return -EIO;
		vdrv_publish(&b->vq[2]);
		vdev_virtio_kick(b->vd, 2);
		while (vdev_blk_poll(b->blk) > 0)
			;
		vdev_timers_run(b->ctx);
		memcpy(h + 19, save, 10);
		if (vdrv_get_used(&b->vq[2], &u) != 1)
			return -EIO;
		if (resp[11] == 0 && resp[10] == 0)
			return 0;
	}
	return -EIO;
}

static int run_case(struct bench *b, const struct bcase *c, unsigned long requests)
{
	unsigned long batches = (requests + c->batch - 1) / c->batch, tok = 0;
	uint64_t t0, t1, dev = 0, s0;
	unsigned int flags = c->indirect ? VDRV_ADD_INDIRECT : 0;
	int rc = setup(b, c);

	if (!rc)
		rc = clear_ua(b);
	if (rc)
		return rc;
	b->irqs = 0;
	b->kicks = 0;
	vdrv_interrupt_after(&b->vq[2], 1);
	t0 = now_ns();
	for (unsigned long i = 0; i < batches && !rc; i++) {
		driver_add(b, c->batch, tok, flags);
		s0 = now_ns();
		rc = device_side(b, c->batch);
		dev += now_ns() - s0;
		driver_collect(b, c->batch);
		tok += c->batch;
	}
	t1 = now_ns();
	if (!rc)
		printf("%-24s %8.1f ns/req total %8.1f ns/req device %10.0f req/s device "
		       "(%lu req, %lu irq, %lu kick)\n",
		       c->name, (double)(t1 - t0) / (double)tok, (double)dev / (double)tok,
		       1e9 * (double)tok / (double)dev, tok, b->irqs, b->kicks);
	teardown(b);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct bcase cases[] = {
		{ "split-batch32", 0, 0, 32 },
		{ "split-indirect-batch32", 0, 1, 32 },
		{ "packed-batch32", 1, 0, 32 },
		{ "split-batch1", 0, 0, 1 },
	};
	static struct bench b;
	struct vdev_host_ops ops = {
		.struct_size = sizeof(ops),
		.opaque = &b,
		.msi_send = on_msi,
	};
	unsigned long requests = 1000000;
	const char *filter = argc > 2 ? argv[2] : NULL;
	int rc = 0;

	if (argc > 1) {
		char *end;

		requests = strtoul(argv[1], &end, 0);
		if (*end || end == argv[1] || !requests) {
			fprintf(stderr, "usage: %s [requests-per-case] [case-name]\n", argv[0]);
			return 2;
		}
	}
	b.ram = aligned_alloc(4096, RAM_SIZE);
	if (!b.ram || vdev_ctx_new(&ops, &b.ctx))
		return 1;
	rc = vdev_mem_region_add(b.ctx, 0, RAM_SIZE, b.ram, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && !rc; i++)
		if (!filter || !strcmp(cases[i].name, filter))
			rc = run_case(&b, &cases[i], requests);
	vdev_ctx_free(b.ctx);
	free(b.ram);
	if (rc) {
		fprintf(stderr, "bench_virtio_scsi: %s\n", vdev_strerror(rc));
		return 1;
	}
	return 0;
}
