/* SPDX-License-Identifier: MIT */
/*
 * Shared fixture for the virtqueue tests (test_vq_driver.c,
 * test_vq_hostile.c): a mock VMM, the test driver (vdrv.h) on its RAM and a
 * device-side queue (vdev/virtqueue.h) with recording hooks, plus a trivial
 * "device" that checks every iovec and moves patterned data.
 * Header-only (static functions) because tests/ builds one program per
 * test_*.c file.
 */
#ifndef VDEV_TESTS_VQ_COMMON_H
#define VDEV_TESTS_VQ_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vdev/virtqueue.h>

#include "mock_vmm.h"
#include "vdrv.h"

#define FEAT(bit) (1ull << (bit))
#define MAXSEG 80
#define MAXIOV 160

struct fx {
	struct mock_vmm mv;
	struct vdrv_mem mem;
	struct vdrv_vq d;
	vdev_vq *vq;
	uint8_t *base;          /* host address of gpa 0 */
	struct { uint64_t gpa, size; } reg[4]; /* registered RAM, for iovec checks */
	unsigned int nreg;
	uint64_t features;
	unsigned int notifies;
	unsigned int errors;
	unsigned int wakes; /* atomic */
	char reason[256];
};

static inline void fx_notify(void *opaque, vdev_vq *vq)
{
	struct fx *f = opaque;

	assert_ptr_equal(vq, f->vq);
	f->notifies++;
}

static inline void fx_error(void *opaque, vdev_vq *vq, const char *reason)
{
	struct fx *f = opaque;

	(void)vq;
	f->errors++;
	snprintf(f->reason, sizeof(f->reason), "%s", reason ? reason : "(null)");
}

static inline void fx_wake(void *opaque, vdev_vq *vq)
{
	struct fx *f = opaque;

	(void)vq;
	__atomic_add_fetch(&f->wakes, 1, __ATOMIC_RELAXED);
}

static const struct vdev_vq_ops fx_ops = {
	.struct_size = sizeof(struct vdev_vq_ops),
	.notify = fx_notify,
	.error = fx_error,
	.wake = fx_wake,
};

static inline uint64_t fx_features(int packed, uint64_t extra)
{
	return FEAT(VDEV_VIRTIO_F_VERSION_1) | (packed ? FEAT(VDEV_VIRTIO_F_RING_PACKED) : 0) |
	       extra;
}

/* Start the device queue on the driver's rings, with queue flags and a segment limit. */
static inline int fx_start(struct fx *f, uint32_t qflags, uint32_t max_segments)
{
	struct vdev_vq_config cfg;

	vdrv_vq_config(&f->d, &cfg);
	cfg.flags = qflags;
	cfg.max_segments = max_segments;
	return vdev_vq_start(f->vq, &cfg);
}

/*
 * A fixture with @ram bytes of RAM at gpa 0 in @nregions regions; the driver
 * allocates from 64 KiB up. The queue is created but not started when
 * @size is 0.
 */
static inline struct fx *fx_new_ram(int packed, uint32_t size, uint64_t extra, size_t ram,
			     unsigned int nregions)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(mock_vmm_init(&f->mv, ram, nregions), 0);
	vdrv_mem_init(&f->mem, f->mv.ram, 0x10000, ram);
	f->base = f->mv.ram;
	f->reg[0].gpa = 0;
	f->reg[0].size = ram;
	f->nreg = 1;
	f->features = fx_features(packed, extra);
	assert_int_equal(vdev_vq_new(f->mv.ctx, &fx_ops, f, &f->vq), 0);
	if (size) {
		assert_int_equal(vdrv_vq_init(&f->d, &f->mem, size, f->features), 0);
		assert_int_equal(fx_start(f, 0, 0), 0);
		assert_int_equal(vdev_vq_started(f->vq), 1);
	}
	return f;
}

static inline struct fx *fx_new(int packed, uint32_t size, uint64_t extra)
{
	return fx_new_ram(packed, size, extra, 16u << 20, 1);
}

static inline void fx_free(struct fx *f)
{
	vdev_vq_free(f->vq);
	f->vq = NULL;
	vdrv_vq_fini(&f->d);
	mock_vmm_fini(&f->mv);
	free(f);
}

/* ---- patterned data --------------------------------------------------------- */

static inline uint8_t pat(uint32_t seed, uint64_t off)
{
	uint32_t x = seed * 2654435761u + (uint32_t)off * 40503u + (uint32_t)(off >> 16);

	return (uint8_t)(x >> 24 ^ x >> 7);
}

/* FNV-1a, continued over several pieces. */
static inline uint32_t fnv(uint32_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

#define FNV0 2166136261u

/* ---- driver-side requests ----------------------------------------------------- */

struct rq {
	struct vdrv_seg seg[MAXSEG];
	unsigned int nseg;
	uint32_t sum;      /* FNV of the readable bytes, in order */
	uint64_t out_bytes;
	uint64_t in_bytes;
	int id;
};

/* Allocate segments: len[i] bytes, writable if wr[i]; byte alignment @align. */
static inline void rq_alloc(struct fx *f, struct rq *r, const uint32_t *len, const uint8_t *wr,
		     unsigned int n, uint64_t align)
{
	assert_true(n <= MAXSEG);
	memset(r, 0, sizeof(*r));
	r->nseg = n;
	for (unsigned int i = 0; i < n; i++) {
		uint64_t g = vdrv_alloc(&f->mem, len[i] + 1, align);

		assert_true(g != VDRV_NOMEM);
		/* Odd alignment on request: start one byte in. */
		r->seg[i].gpa = align == 1 ? g + 1 : g;
		r->seg[i].len = len[i];
		r->seg[i].write = wr[i];
		if (wr[i])
			r->in_bytes += len[i];
		else
			r->out_bytes += len[i];
	}
}

/* Fill readable segments with the seed's pattern, clear writable ones. */
static inline void rq_fill(struct fx *f, struct rq *r, uint32_t seed)
{
	uint64_t off = 0;

	r->sum = FNV0;
	for (unsigned int i = 0; i < r->nseg; i++) {
		uint8_t *p = vdrv_host(&f->mem, r->seg[i].gpa);

		if (r->seg[i].write) {
			memset(p, 0, r->seg[i].len);
			continue;
		}
		for (uint32_t k = 0; k < r->seg[i].len; k++)
			p[k] = pat(seed, off++);
		r->sum = fnv(r->sum, p, r->seg[i].len);
	}
}

/* The device wrote @len bytes: they must be pat(sum, .), the rest untouched (0). */
static inline void rq_check(struct fx *f, const struct rq *r, uint32_t len)
{
	uint64_t off = 0;

	for (unsigned int i = 0; i < r->nseg; i++) {
		const uint8_t *p = vdrv_host(&f->mem, r->seg[i].gpa);

		if (!r->seg[i].write)
			continue;
		for (uint32_t k = 0; k < r->seg[i].len; k++, off++) {
			uint8_t want = off < len ? pat(r->sum, off) : 0;

			if (p[k] != want)
				fail_msg("writable byte %llu (seg %u +%u): %#x, want %#x",
					 (unsigned long long)off, i, k, p[k], want);
		}
	}
}

/* ---- the trivial device --------------------------------------------------- */

struct dq {
	struct vdev_vq_req r;
	struct iovec iov[MAXIOV];
};

static inline void dq_prep(struct dq *q)
{
	memset(&q->r, 0, sizeof(q->r));
	q->r.iov = q->iov;
	q->r.iov_cap = MAXIOV;
}

static inline int dev_pop(struct fx *f, struct dq *q)
{
	dq_prep(q);
	return vdev_vq_pop(f->vq, &q->r);
}

/* @return 1 if host range [b, b + l) is wholly inside one registered region. */
static inline int fx_in_ram(const struct fx *f, const void *b, size_t l)
{
	uint64_t g = (uint64_t)((const uint8_t *)b - f->base);

	if ((const uint8_t *)b < f->base)
		return 0;
	for (unsigned int i = 0; i < f->nreg; i++)
		if (g >= f->reg[i].gpa && g - f->reg[i].gpa <= f->reg[i].size &&
		    l <= f->reg[i].size - (g - f->reg[i].gpa))
			return 1;
	return 0;
}

/* Every iovec lies in registered RAM and the totals add up. */
static inline void dev_check_iov(struct fx *f, const struct vdev_vq_req *r)
{
	uint64_t out = 0, in = 0;

	assert_true(r->out_num + r->in_num <= r->iov_cap);
	for (uint32_t i = 0; i < r->out_num + r->in_num; i++) {
		size_t l = r->iov[i].iov_len;

		if (l && !fx_in_ram(f, r->iov[i].iov_base, l))
			fail_msg("iovec %u (%p + %zu) is outside registered RAM", i,
				 r->iov[i].iov_base, l);
		if (i < r->out_num)
			out += l;
		else
			in += l;
	}
	assert_int_equal(out, r->out_len);
	assert_int_equal(in, r->in_len);
}

/*
 * Serve a popped request: check its iovecs, hash the readable bytes and
 * write min(in_len, max_write) bytes of pat(hash, .) into the writable ones.
 * @return the bytes written.
 */
static inline uint32_t dev_serve(struct fx *f, const struct vdev_vq_req *r, uint64_t max_write)
{
	uint32_t h = FNV0;
	uint64_t want = r->in_len < max_write ? r->in_len : max_write, off = 0;

	dev_check_iov(f, r);
	for (uint32_t i = 0; i < r->out_num; i++)
		h = fnv(h, r->iov[i].iov_base, r->iov[i].iov_len);
	for (uint32_t i = r->out_num; i < r->out_num + r->in_num && off < want; i++) {
		uint8_t *p = r->iov[i].iov_base;

		for (size_t k = 0; k < r->iov[i].iov_len && off < want; k++)
			p[k] = pat(h, off++);
	}
	return (uint32_t)want;
}

/* Driver: add a buffer, failing the test with the driver's reason if it cannot. */
static inline int drv_add(struct fx *f, const struct vdrv_seg *segs, unsigned int n,
			  unsigned int flags, uint64_t token)
{
	int id = vdrv_add(&f->d, segs, n, flags, token);

	if (id < 0)
		fail_msg("vdrv_add: %d (%s)", id, vdrv_error(&f->d));
	return id;
}

/* Driver: add + publish one request; returns its id. */
static inline int drv_submit(struct fx *f, struct rq *r, unsigned int flags, uint64_t token)
{
	r->id = drv_add(f, r->seg, r->nseg, flags, token);
	assert_int_equal(vdrv_publish(&f->d), 1);
	return r->id;
}

/* Driver: collect exactly one used buffer. */
static inline struct vdrv_used drv_get(struct fx *f)
{
	struct vdrv_used u;
	int rc = vdrv_get_used(&f->d, &u);

	if (rc != 1)
		fail_msg("vdrv_get_used: %d (%s)", rc, vdrv_error(&f->d));
	return u;
}

static inline void drv_none(struct fx *f)
{
	struct vdrv_used u;
	int rc = vdrv_get_used(&f->d, &u);

	if (rc != 0)
		fail_msg("vdrv_get_used: %d, want 0 (%s)", rc, vdrv_error(&f->d));
}

/* Log lines at WARN or more severe since the last clear. */
static inline unsigned int warn_lines(const struct fx *f)
{
	size_t n = f->mv.n_log < MOCK_LOG_LINES ? f->mv.n_log : MOCK_LOG_LINES;
	unsigned int c = 0;

	for (size_t i = 0; i < n; i++)
		if (f->mv.log_level[i] <= VDEV_LOG_WARN)
			c++;
	return c;
}

#endif
