/* SPDX-License-Identifier: MIT */
/*
 * The virtqueue engine (vdev/virtqueue.h) with rings laid out by hand in
 * mock guest RAM: split and packed layouts, every guest-violation rule,
 * notification suppression decisions, IN_ORDER, remote completion (also
 * from several threads; run it under ThreadSanitizer too), dirty logging,
 * save/load with requests in flight, and the memory map changing under a
 * started queue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <vdev/virtqueue.h>

#include "mock_vmm.h"
#include "virtio/vq_internal.h"

#define RAM_SIZE (4u << 20)
#define DESC 0x10000u
#define AVAIL 0x20000u /* packed: driver event suppression */
#define USED 0x30000u  /* packed: device event suppression */
#define BUF 0x100000u

#define F(bit) (1ull << (bit))
#define BASE_FEATURES F(VDEV_VIRTIO_F_VERSION_1)

#define D_NEXT 1u
#define D_WRITE 2u
#define D_INDIRECT 4u
#define D_AVAIL (1u << 7)
#define D_USED (1u << 15)

struct t {
	struct mock_vmm mv;
	vdev_vq *vq;
	uint32_t size;
	bool packed;
	int notifies, errors, wakes;
	char reason[64];
	/* split driver */
	uint16_t avail_idx;
	/* packed driver */
	uint16_t pnext;
	int pwrap;
};

static void on_notify(void *opaque, vdev_vq *vq)
{
	struct t *t = opaque;

	(void)vq;
	t->notifies++;
}

static void on_error(void *opaque, vdev_vq *vq, const char *reason)
{
	struct t *t = opaque;

	(void)vq;
	t->errors++;
	snprintf(t->reason, sizeof(t->reason), "%s", reason);
}

static void on_wake(void *opaque, vdev_vq *vq)
{
	struct t *t = opaque;

	(void)vq;
	__atomic_fetch_add(&t->wakes, 1, __ATOMIC_RELAXED);
}

static const struct vdev_vq_ops ops = {
	.struct_size = sizeof(ops),
	.notify = on_notify,
	.error = on_error,
	.wake = on_wake,
};

/* ---- guest memory helpers ------------------------------------------------- */

static void w16(struct t *t, uint64_t gpa, uint16_t v)
{
	t->mv.ram[gpa] = (uint8_t)v;
	t->mv.ram[gpa + 1] = (uint8_t)(v >> 8);
}

static void w32(struct t *t, uint64_t gpa, uint32_t v)
{
	w16(t, gpa, (uint16_t)v);
	w16(t, gpa + 2, (uint16_t)(v >> 16));
}

static void w64(struct t *t, uint64_t gpa, uint64_t v)
{
	w32(t, gpa, (uint32_t)v);
	w32(t, gpa + 4, (uint32_t)(v >> 32));
}

static uint16_t r16(struct t *t, uint64_t gpa)
{
	return (uint16_t)(t->mv.ram[gpa] | t->mv.ram[gpa + 1] << 8);
}

static uint32_t r32(struct t *t, uint64_t gpa)
{
	return r16(t, gpa) | (uint32_t)r16(t, gpa + 2) << 16;
}

static void *hva(struct t *t, uint64_t gpa)
{
	return t->mv.ram + gpa;
}

/* ---- split driver side ------------------------------------------------------ */

static void sdesc(struct t *t, unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
		  uint16_t next)
{
	uint64_t d = DESC + 16ull * i;

	w64(t, d, addr);
	w32(t, d + 8, len);
	w16(t, d + 12, flags);
	w16(t, d + 14, next);
}

/* Put @head in the next available entry and expose it. */
static void savail(struct t *t, uint16_t head)
{
	w16(t, AVAIL + 4 + 2 * (t->avail_idx % t->size), head);
	t->avail_idx++;
	w16(t, AVAIL + 2, t->avail_idx);
}

static uint16_t used_idx(struct t *t)
{
	return r16(t, USED + 2);
}

static uint32_t used_id(struct t *t, uint16_t i)
{
	return r32(t, USED + 4 + 8 * (i % t->size));
}

static uint32_t used_len(struct t *t, uint16_t i)
{
	return r32(t, USED + 8 + 8 * (i % t->size));
}

/* ---- packed driver side ----------------------------------------------------- */

struct seg {
	uint64_t addr;
	uint32_t len;
	uint16_t flags; /* D_WRITE, D_INDIRECT */
};

static void pdesc_write(struct t *t, uint16_t pos, uint64_t addr, uint32_t len, uint16_t id,
			uint16_t flags)
{
	uint64_t d = DESC + 16ull * pos;

	w64(t, d, addr);
	w32(t, d + 8, len);
	w16(t, d + 12, id);
	w16(t, d + 14, flags);
}

/* Make a list of @n descriptors available with buffer @id (head flags last). */
static void padd(struct t *t, const struct seg *s, unsigned int n, uint16_t id)
{
	uint16_t head = t->pnext, head_flags = 0;

	for (unsigned int i = 0; i < n; i++) {
		uint16_t f = s[i].flags | (i + 1 < n ? D_NEXT : 0) |
			     (t->pwrap ? D_AVAIL : D_USED);

		if (i == 0) {
			/* The head's flags last: until then they still say "not available". */
			uint64_t d = DESC + 16ull * t->pnext;

			head_flags = f;
			w64(t, d, s[i].addr);
			w32(t, d + 8, s[i].len);
			w16(t, d + 12, id);
		} else {
			pdesc_write(t, t->pnext, s[i].addr, s[i].len, id, f);
		}
		if (++t->pnext == t->size) {
			t->pnext = 0;
			t->pwrap ^= 1;
		}
	}
	w16(t, DESC + 16ull * head + 14, head_flags);
}

/* ---- setup -------------------------------------------------------------------- */

static struct t *new_t(unsigned int nregions)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	assert_int_equal(mock_vmm_init(&t->mv, RAM_SIZE, nregions), 0);
	assert_int_equal(vdev_vq_new(t->mv.ctx, &ops, t, &t->vq), 0);
	t->pwrap = 1;
	return t;
}

static void free_t(struct t *t)
{
	vdev_vq_free(t->vq);
	mock_vmm_fini(&t->mv);
	free(t);
}

static struct vdev_vq_config cfg_of(uint32_t size, uint64_t features, uint32_t flags)
{
	struct vdev_vq_config c = {
		.struct_size = sizeof(c),
		.size = size,
		.flags = flags,
		.desc_addr = DESC,
		.driver_addr = AVAIL,
		.device_addr = USED,
		.features = BASE_FEATURES | features,
	};

	return c;
}

static struct t *start(uint32_t size, uint64_t features, uint32_t flags)
{
	struct t *t = new_t(1);
	struct vdev_vq_config c = cfg_of(size, features, flags);

	t->size = size;
	t->packed = features & F(VDEV_VIRTIO_F_RING_PACKED);
	assert_int_equal(vdev_vq_start(t->vq, &c), 0);
	return t;
}

#define NIOV 16

struct rq {
	struct vdev_vq_req r;
	struct iovec iov[NIOV];
};

static int pop(struct t *t, struct rq *q)
{
	memset(q, 0, sizeof(*q));
	q->r.iov = q->iov;
	q->r.iov_cap = NIOV;
	return vdev_vq_pop(t->vq, &q->r);
}

/* The queue broke on @rule: one error call, one log line, -EIO from then on. */
static void expect_broken(struct t *t, const char *rule)
{
	struct rq q;
	size_t logs = t->mv.n_log;

	assert_true(vdev_vq_broken(t->vq));
	assert_int_equal(t->errors, 1);
	assert_string_equal(t->reason, rule);
	assert_true(mock_vmm_log_contains(&t->mv, rule));
	assert_int_equal(pop(t, &q), -EIO);
	assert_int_equal(pop(t, &q), -EIO);
	assert_int_equal(t->errors, 1);
	assert_int_equal(t->mv.n_log, logs);
}

/* ---- configuration ------------------------------------------------------------- */

static void test_start_checks(void **state)
{
	struct t *t = new_t(1);
	struct vdev_vq_config c;
	struct rq q;

	(void)state;
	assert_false(vdev_vq_started(t->vq));
	assert_int_equal(vdev_vq_size(t->vq), 0);
	assert_int_equal(pop(t, &q), -ENODEV);
	assert_int_equal(vdev_vq_flush(t->vq), -ENODEV);
	assert_int_equal(vdev_vq_reap(t->vq), -ENODEV);
	assert_int_equal(vdev_vq_notify_enable(t->vq, 1), -ENODEV);
	q.r.id = 0;
	assert_int_equal(vdev_vq_push(t->vq, &q.r, 0), -ENODEV);

	c = cfg_of(0, 0, 0);
	assert_int_equal(vdev_vq_start(t->vq, &c), -EINVAL);
	c = cfg_of(3, 0, 0); /* split: power of two */
	assert_int_equal(vdev_vq_start(t->vq, &c), -EINVAL);
	c = cfg_of(65536, 0, 0);
	assert_int_equal(vdev_vq_start(t->vq, &c), -EINVAL);
	c = cfg_of(65536, F(VDEV_VIRTIO_F_RING_PACKED), 0);
	assert_int_equal(vdev_vq_start(t->vq, &c), -EINVAL);
	c = cfg_of(8, 0, 0x80); /* unknown flag */
	assert_int_equal(vdev_vq_start(t->vq, &c), -EINVAL);
	c = cfg_of(8, 0, 0);
	c.features = 0; /* legacy rings are not supported */
	assert_int_equal(vdev_vq_start(t->vq, &c), -EINVAL);
	c = cfg_of(8, 0, 0);
	c.max_segments = 65537;
	assert_int_equal(vdev_vq_start(t->vq, &c), -EINVAL);
	/* Alignment: split desc 16, avail 2, used 4; packed 16, 4, 4. */
	c = cfg_of(8, 0, 0);
	c.desc_addr += 8;
	assert_int_equal(vdev_vq_start(t->vq, &c), -EINVAL);
	c = cfg_of(8, 0, 0);
	c.driver_addr += 1;
	assert_int_equal(vdev_vq_start(t->vq, &c), -EINVAL);
	c = cfg_of(8, 0, 0);
	c.device_addr += 2;
	assert_int_equal(vdev_vq_start(t->vq, &c), -EINVAL);
	c = cfg_of(8, F(VDEV_VIRTIO_F_RING_PACKED), 0);
	c.driver_addr += 2;
	assert_int_equal(vdev_vq_start(t->vq, &c), -EINVAL);
	c = cfg_of(8, 0, 0);
	c.driver_addr = AVAIL + 2; /* 2-aligned is fine for split */
	assert_int_equal(vdev_vq_start(t->vq, &c), 0);
	vdev_vq_stop(t->vq);
	/* Rings outside RAM, or straddling its end. */
	c = cfg_of(8, 0, 0);
	c.desc_addr = RAM_SIZE;
	assert_int_equal(vdev_vq_start(t->vq, &c), -EFAULT);
	c = cfg_of(8, 0, 0);
	c.device_addr = RAM_SIZE - 8;
	assert_int_equal(vdev_vq_start(t->vq, &c), -EFAULT);
	c = cfg_of(8, 0, 0);
	c.struct_size = 4; /* smaller than its size_t */
	assert_int_equal(vdev_vq_start(t->vq, &c), -EINVAL);

	/* Packed sizes need not be powers of two; up to 32768. */
	c = cfg_of(5, F(VDEV_VIRTIO_F_RING_PACKED), 0);
	assert_int_equal(vdev_vq_start(t->vq, &c), 0);
	assert_true(vdev_vq_started(t->vq));
	assert_int_equal(vdev_vq_size(t->vq), 5);
	assert_int_equal(vdev_vq_start(t->vq, &c), -EBUSY);
	vdev_vq_stop(t->vq);
	c = cfg_of(32768, 0, 0);
	c.device_addr = 0x200000; /* 6 + 8 * 32768 bytes */
	assert_int_equal(vdev_vq_start(t->vq, &c), 0);
	assert_int_equal(vdev_vq_size(t->vq), 32768);
	vdev_vq_stop(t->vq);
	assert_false(vdev_vq_started(t->vq));
	free_t(t);
}

static void test_new_checks(void **state)
{
	struct mock_vmm mv;
	struct vdev_vq_ops o = ops;
	vdev_vq *vq = NULL;

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 1 << 16, 1), 0);
	o.notify = NULL;
	assert_int_equal(vdev_vq_new(mv.ctx, &o, NULL, &vq), -EINVAL);
	assert_int_equal(vdev_vq_new(mv.ctx, NULL, NULL, &vq), -EINVAL);
	assert_int_equal(vdev_vq_new(NULL, &ops, NULL, &vq), -EINVAL);
	/* An older caller's ops (only notify) works; later fields read as zero. */
	o = ops;
	o.struct_size = offsetof(struct vdev_vq_ops, error);
	assert_int_equal(vdev_vq_new(mv.ctx, &o, NULL, &vq), 0);
	vdev_vq_free(vq);
	vdev_vq_free(NULL);
	mock_vmm_fini(&mv);
}

/* ---- split rings ------------------------------------------------------------------ */

static void test_split_basic(void **state)
{
	struct t *t = start(8, F(VDEV_VIRTIO_F_EVENT_IDX), 0);
	struct rq a, b;

	(void)state;
	assert_int_equal(pop(t, &a), 0);
	/* One readable descriptor; then a 51 B header, 108 B + 4 KiB writable. */
	sdesc(t, 0, BUF, 512, 0, 0);
	sdesc(t, 1, BUF + 0x1000, 51, D_NEXT, 2);
	sdesc(t, 2, BUF + 0x2000, 108, D_NEXT | D_WRITE, 5);
	sdesc(t, 5, BUF + 0x3000, 4096, D_WRITE, 0);
	savail(t, 0);
	savail(t, 1);
	assert_int_equal(pop(t, &a), 1);
	assert_int_equal(a.r.id, 0);
	assert_int_equal(a.r.out_num, 1);
	assert_int_equal(a.r.in_num, 0);
	assert_int_equal(a.r.out_len, 512);
	assert_int_equal(a.r.in_len, 0);
	assert_ptr_equal(a.iov[0].iov_base, hva(t, BUF));
	assert_int_equal(a.iov[0].iov_len, 512);
	assert_int_equal(pop(t, &b), 1);
	assert_int_equal(b.r.id, 1);
	assert_int_equal(b.r.out_num, 1);
	assert_int_equal(b.r.in_num, 2);
	assert_int_equal(b.r.out_len, 51);
	assert_int_equal(b.r.in_len, 108 + 4096);
	assert_ptr_equal(b.iov[0].iov_base, hva(t, BUF + 0x1000));
	assert_ptr_equal(b.iov[1].iov_base, hva(t, BUF + 0x2000));
	assert_int_equal(b.iov[1].iov_len, 108);
	assert_ptr_equal(b.iov[2].iov_base, hva(t, BUF + 0x3000));
	assert_int_equal(b.iov[2].iov_len, 4096);
	assert_int_equal(vdev_vq_inflight(t->vq), 2);
	assert_int_equal(pop(t, &a), 0);

	/* Out of order; nothing visible before the flush. */
	assert_int_equal(vdev_vq_push(t->vq, &b.r, 200), 0);
	assert_int_equal(used_idx(t), 0);
	assert_int_equal(vdev_vq_push(t->vq, &b.r, 200), -EINVAL); /* twice */
	assert_int_equal(vdev_vq_push(t->vq, &a.r, 0), 0);
	assert_int_equal(vdev_vq_inflight(t->vq), 0);
	assert_int_equal(vdev_vq_flush(t->vq), 1); /* used_event 0: notify */
	assert_int_equal(t->notifies, 1);
	assert_int_equal(used_idx(t), 2);
	assert_int_equal(used_id(t, 0), 1);
	assert_int_equal(used_len(t, 0), 200);
	assert_int_equal(used_id(t, 1), 0);
	assert_int_equal(used_len(t, 1), 0);
	assert_int_equal(vdev_vq_flush(t->vq), 0); /* nothing new */

	/* A device claiming more than the writable bytes is clamped (and logged once). */
	savail(t, 1);
	assert_int_equal(pop(t, &b), 1);
	assert_int_equal(vdev_vq_push(t->vq, &b.r, 99999), 0);
	assert_int_equal(vdev_vq_flush(t->vq), 0);
	assert_int_equal(used_len(t, 2), 108 + 4096);
	assert_true(mock_vmm_log_contains(&t->mv, "clamped"));
	/* A request struct that was not popped is refused. */
	memset(&a, 0, sizeof(a));
	assert_int_equal(vdev_vq_push(t->vq, &a.r, 0), -EINVAL);
	a.r.id = 8;
	assert_int_equal(vdev_vq_push(t->vq, &a.r, 0), -EINVAL);
	assert_int_equal(t->errors, 0);
	free_t(t);
}

static void test_split_batch(void **state)
{
	struct t *t = start(64, F(VDEV_VIRTIO_F_EVENT_IDX), 0);
	struct vdev_vq_req reqs[40];
	struct iovec iov[40][2];

	(void)state;
	for (int i = 0; i < 40; i++) {
		sdesc(t, i, BUF + 0x1000 * i, 100 + i, D_WRITE, 0);
		savail(t, (uint16_t)i);
		reqs[i] = (struct vdev_vq_req){ .iov = iov[i], .iov_cap = 2 };
	}
	assert_int_equal(vdev_vq_pop_batch(t->vq, reqs, 32), 32);
	assert_int_equal(vdev_vq_pop_batch(t->vq, reqs + 32, 8), 8);
	assert_int_equal(vdev_vq_pop_batch(t->vq, reqs, 8), 0);
	for (int i = 39; i >= 0; i--) {
		assert_int_equal(reqs[i].id, i);
		assert_int_equal(reqs[i].in_len, 100 + i);
		assert_int_equal(vdev_vq_push(t->vq, &reqs[i], (uint32_t)i), 0);
	}
	/* One flush, one notification for the batch (used_event is 0: crossed). */
	assert_int_equal(vdev_vq_flush(t->vq), 1);
	assert_int_equal(t->notifies, 1);
	assert_int_equal(used_idx(t), 40);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(used_id(t, (uint16_t)i), 39 - i);
		assert_int_equal(used_len(t, (uint16_t)i), 39 - i);
	}
	/* A violation in the middle of a batch: what came before is returned. */
	savail(t, 0);
	savail(t, 1);
	savail(t, 64);
	savail(t, 2);
	assert_int_equal(vdev_vq_pop_batch(t->vq, reqs, 4), 2);
	assert_int_equal(vdev_vq_pop_batch(t->vq, reqs + 2, 2), -EIO);
	assert_string_equal(t->reason, "desc-index-range");
	free_t(t);
}

/* Zero-length descriptors are valid and describe no memory: no iovec. */
static void test_split_zero_length(void **state)
{
	struct t *t = start(8, 0, VDEV_VQ_F_READ_BEFORE_WRITE);
	struct rq q;

	(void)state;
	sdesc(t, 0, BUF, 16, D_NEXT, 1);
	sdesc(t, 1, 0xdead0000000ull, 0, D_NEXT, 2); /* not RAM, but zero bytes */
	sdesc(t, 2, BUF + 64, 32, D_WRITE | D_NEXT, 3);
	sdesc(t, 3, 0, 0, 0, 0); /* zero-length readable after writable: not an order issue */
	savail(t, 0);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(q.r.out_num, 1);
	assert_int_equal(q.r.in_num, 1);
	assert_int_equal(q.r.out_len, 16);
	assert_int_equal(q.r.in_len, 32);
	assert_ptr_equal(q.iov[1].iov_base, hva(t, BUF + 64));
	/* A chain of only zero-length descriptors is a request with no iovecs. */
	sdesc(t, 4, 0, 0, 0, 0);
	savail(t, 4);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(q.r.out_num + q.r.in_num, 0);
	assert_int_equal(vdev_vq_complete(t->vq, &q.r, 0), 1);
	assert_false(vdev_vq_broken(t->vq));
	free_t(t);
}

/*
 * Readable after writable breaks §2.7.4.2's framing rule: without
 * VDEV_VQ_F_READ_BEFORE_WRITE the chain is still returned, sorted.
 */
static void test_split_mixed_order(void **state)
{
	struct t *t = start(8, 0, 0);
	struct rq q;

	(void)state;
	sdesc(t, 0, BUF + 0x000, 10, D_WRITE | D_NEXT, 1);
	sdesc(t, 1, BUF + 0x100, 11, D_NEXT, 2);
	sdesc(t, 2, BUF + 0x200, 12, D_WRITE | D_NEXT, 3);
	sdesc(t, 3, BUF + 0x300, 13, 0, 0);
	savail(t, 0);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(q.r.out_num, 2);
	assert_int_equal(q.r.in_num, 2);
	assert_int_equal(q.r.out_len, 24);
	assert_int_equal(q.r.in_len, 22);
	assert_ptr_equal(q.iov[0].iov_base, hva(t, BUF + 0x100));
	assert_ptr_equal(q.iov[1].iov_base, hva(t, BUF + 0x300));
	assert_ptr_equal(q.iov[2].iov_base, hva(t, BUF + 0x000));
	assert_ptr_equal(q.iov[3].iov_base, hva(t, BUF + 0x200));
	assert_int_equal(q.iov[3].iov_len, 12);
	/* Exactly as many iovecs as needed still fits. */
	savail(t, 0);
	assert_int_equal(vdev_vq_push(t->vq, &q.r, 0), 0);
	memset(&q, 0, sizeof(q));
	q.r.iov = q.iov;
	q.r.iov_cap = 4;
	assert_int_equal(vdev_vq_pop(t->vq, &q.r), 1);
	assert_ptr_equal(q.iov[1].iov_base, hva(t, BUF + 0x300));
	assert_ptr_equal(q.iov[2].iov_base, hva(t, BUF + 0x000));
	free_t(t);

	t = start(8, 0, VDEV_VQ_F_READ_BEFORE_WRITE);
	sdesc(t, 0, BUF, 10, D_WRITE | D_NEXT, 1);
	sdesc(t, 1, BUF + 0x100, 11, 0, 0);
	savail(t, 0);
	assert_int_equal(pop(t, &q), -EIO);
	expect_broken(t, "readable-after-writable");
	free_t(t);
}

/* The same sorting inside indirect tables and packed lists. */
static void test_mixed_order_tables(void **state)
{
	struct t *t = start(8, F(VDEV_VIRTIO_F_INDIRECT_DESC), 0);
	const uint64_t tab = 0x50000;
	const uint16_t fl[] = { D_WRITE, 0, D_WRITE, 0 };
	struct rq q;

	(void)state;
	for (int i = 0; i < 4; i++) {
		w64(t, tab + 16 * i, BUF + 0x100 * i);
		w32(t, tab + 16 * i + 8, 10 + i);
		w16(t, tab + 16 * i + 12, fl[i] | (i < 3 ? D_NEXT : 0));
		w16(t, tab + 16 * i + 14, (uint16_t)(i + 1));
	}
	/* A direct readable descriptor first, then the table. */
	sdesc(t, 0, BUF + 0x800, 5, D_NEXT, 1);
	sdesc(t, 1, tab, 64, D_INDIRECT, 0);
	savail(t, 0);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(q.r.out_num, 3);
	assert_int_equal(q.r.in_num, 2);
	assert_ptr_equal(q.iov[0].iov_base, hva(t, BUF + 0x800));
	assert_ptr_equal(q.iov[1].iov_base, hva(t, BUF + 0x100));
	assert_ptr_equal(q.iov[2].iov_base, hva(t, BUF + 0x300));
	assert_ptr_equal(q.iov[3].iov_base, hva(t, BUF + 0x000));
	assert_ptr_equal(q.iov[4].iov_base, hva(t, BUF + 0x200));
	assert_int_equal(q.r.out_len, 5 + 11 + 13);
	assert_int_equal(q.r.in_len, 10 + 12);
	free_t(t);

	t = start(8, F(VDEV_VIRTIO_F_RING_PACKED) | F(VDEV_VIRTIO_F_INDIRECT_DESC), 0);
	{
		const struct seg s[] = {
			{ BUF, 10, D_WRITE }, { BUF + 0x100, 11, 0 }, { BUF + 0x200, 12, D_WRITE },
		};
		const struct seg ind = { tab, 64, D_INDIRECT };

		padd(t, s, 3, 5);
		assert_int_equal(pop(t, &q), 1);
		assert_int_equal(q.r.id, 5);
		assert_int_equal(q.r.out_num, 1);
		assert_int_equal(q.r.in_num, 2);
		assert_ptr_equal(q.iov[0].iov_base, hva(t, BUF + 0x100));
		assert_ptr_equal(q.iov[1].iov_base, hva(t, BUF));
		assert_ptr_equal(q.iov[2].iov_base, hva(t, BUF + 0x200));
		assert_int_equal(vdev_vq_complete(t->vq, &q.r, 0), 1);
		/* A packed table (flags at offset 14): W R W R, all entries in order. */
		for (int i = 0; i < 4; i++) {
			w64(t, tab + 16 * i, BUF + 0x100 * i);
			w32(t, tab + 16 * i + 8, 10 + i);
			w16(t, tab + 16 * i + 12, 0);
			w16(t, tab + 16 * i + 14, fl[i] | D_NEXT /* ignored */);
		}
		padd(t, &ind, 1, 6);
		assert_int_equal(pop(t, &q), 1);
		assert_int_equal(q.r.out_num, 2);
		assert_int_equal(q.r.in_num, 2);
		assert_ptr_equal(q.iov[0].iov_base, hva(t, BUF + 0x100));
		assert_ptr_equal(q.iov[1].iov_base, hva(t, BUF + 0x300));
		assert_ptr_equal(q.iov[2].iov_base, hva(t, BUF + 0x000));
		assert_ptr_equal(q.iov[3].iov_base, hva(t, BUF + 0x200));
	}
	assert_false(vdev_vq_broken(t->vq));
	free_t(t);
}

static void test_split_enobufs(void **state)
{
	struct t *t = start(8, 0, 0);
	struct rq q;

	(void)state;
	sdesc(t, 0, BUF, 10, D_NEXT, 1);
	sdesc(t, 1, BUF + 0x100, 11, D_NEXT | D_WRITE, 2);
	sdesc(t, 2, BUF + 0x200, 12, D_WRITE, 0);
	savail(t, 0);
	memset(&q, 0, sizeof(q));
	q.r.iov = q.iov;
	q.r.iov_cap = 2;
	assert_int_equal(vdev_vq_pop(t->vq, &q.r), -ENOBUFS);
	assert_int_equal(vdev_vq_pop(t->vq, &q.r), -ENOBUFS); /* still there */
	assert_int_equal(vdev_vq_inflight(t->vq), 0);
	q.r.iov_cap = 0;
	assert_int_equal(vdev_vq_pop(t->vq, &q.r), -ENOBUFS);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(q.r.out_num + q.r.in_num, 3);
	assert_false(vdev_vq_broken(t->vq));
	free_t(t);
}

/* A buffer crossing two regions becomes two iovecs; a table crossing them is read too. */
static void test_split_cross_region(void **state)
{
	struct t *t = new_t(2); /* regions [0, 2 MiB) and [2 MiB, 4 MiB) */
	struct vdev_vq_config c = cfg_of(8, F(VDEV_VIRTIO_F_INDIRECT_DESC), 0);
	uint64_t mid = RAM_SIZE / 2, tab = mid - 16;
	struct rq q;

	(void)state;
	t->size = 8;
	assert_int_equal(vdev_vq_start(t->vq, &c), 0);
	sdesc(t, 0, mid - 100, 300, D_WRITE, 0);
	savail(t, 0);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(q.r.in_num, 2);
	assert_int_equal(q.r.in_len, 300);
	assert_ptr_equal(q.iov[0].iov_base, hva(t, mid - 100));
	assert_int_equal(q.iov[0].iov_len, 100);
	assert_ptr_equal(q.iov[1].iov_base, hva(t, mid));
	assert_int_equal(q.iov[1].iov_len, 200);
	/* An indirect table of two entries, one on each side of the boundary. */
	w64(t, tab, BUF);
	w32(t, tab + 8, 7);
	w16(t, tab + 12, D_NEXT);
	w16(t, tab + 14, 1);
	w64(t, mid, BUF + 64);
	w32(t, mid + 8, 9);
	w16(t, mid + 12, D_WRITE);
	w16(t, mid + 14, 0);
	sdesc(t, 1, tab, 32, D_INDIRECT, 0);
	savail(t, 1);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(q.r.out_len, 7);
	assert_int_equal(q.r.in_len, 9);
	assert_ptr_equal(q.iov[1].iov_base, hva(t, BUF + 64));
	assert_false(vdev_vq_broken(t->vq));
	free_t(t);
}

static void test_packed_cross_region(void **state)
{
	struct t *t = new_t(2);
	struct vdev_vq_config c = cfg_of(4, F(VDEV_VIRTIO_F_RING_PACKED) |
					    F(VDEV_VIRTIO_F_INDIRECT_DESC), 0);
	uint64_t mid = RAM_SIZE / 2, tab = mid - 16;
	const struct seg ind = { tab, 32, D_INDIRECT };
	struct rq q;

	(void)state;
	t->size = 4;
	t->packed = true;
	assert_int_equal(vdev_vq_start(t->vq, &c), 0);
	w64(t, tab, BUF);
	w32(t, tab + 8, 7);
	w64(t, mid, mid - 4);
	w32(t, mid + 8, 9);
	w16(t, mid + 14, D_WRITE);
	padd(t, &ind, 1, 2);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(q.r.out_num, 1);
	assert_int_equal(q.r.in_num, 2); /* the writable buffer crosses too */
	assert_ptr_equal(q.iov[1].iov_base, hva(t, mid - 4));
	assert_int_equal(q.iov[1].iov_len, 4);
	assert_ptr_equal(q.iov[2].iov_base, hva(t, mid));
	assert_int_equal(q.iov[2].iov_len, 5);
	assert_false(vdev_vq_broken(t->vq));
	free_t(t);
}

static void test_split_indirect(void **state)
{
	struct t *t = start(8, F(VDEV_VIRTIO_F_INDIRECT_DESC), 0);
	uint64_t tab = 0x50000;
	struct rq q;

	(void)state;
	/* Two direct descriptors, then one indirect table of three (§2.7.5.3.2). */
	for (int i = 0; i < 3; i++) {
		w64(t, tab + 16 * i, BUF + 0x1000 * (i + 2));
		w32(t, tab + 16 * i + 8, 20 + i);
		w16(t, tab + 16 * i + 12, (i ? D_WRITE : 0) | (i < 2 ? D_NEXT : 0));
		w16(t, tab + 16 * i + 14, (uint16_t)(i + 1));
	}
	sdesc(t, 3, BUF, 5, D_NEXT, 6);
	sdesc(t, 6, BUF + 0x1000, 6, D_NEXT, 7);
	sdesc(t, 7, tab, 48, D_INDIRECT | D_WRITE /* ignored */, 0);
	savail(t, 3);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(q.r.id, 3);
	assert_int_equal(q.r.out_num, 3);
	assert_int_equal(q.r.in_num, 2);
	assert_int_equal(q.r.out_len, 5 + 6 + 20);
	assert_int_equal(q.r.in_len, 21 + 22);
	assert_ptr_equal(q.iov[2].iov_base, hva(t, BUF + 0x2000));
	assert_ptr_equal(q.iov[4].iov_base, hva(t, BUF + 0x4000));
	assert_int_equal(vdev_vq_complete(t->vq, &q.r, 43), 1);
	assert_int_equal(used_len(t, 0), 43);
	free_t(t);
}

/* ---- violations, one rule each ------------------------------------------------------ */

typedef void (*ring_setup)(struct t *t);

static void check_split_rule(uint32_t size, uint64_t features, uint32_t max_segments,
			     ring_setup setup, const char *rule)
{
	struct t *t = new_t(1);
	struct vdev_vq_config c = cfg_of(size, features, 0);
	struct rq q;

	c.max_segments = max_segments;
	t->size = size;
	assert_int_equal(vdev_vq_start(t->vq, &c), 0);
	setup(t);
	assert_int_equal(pop(t, &q), -EIO);
	expect_broken(t, rule);
	/* Completing is harmless and changes no ring; reset works. */
	assert_int_equal(vdev_vq_flush(t->vq), 0);
	assert_int_equal(vdev_vq_notify_enable(t->vq, 1), 0);
	assert_int_equal(vdev_vq_kick_data(t->vq, 0), 0);
	vdev_vq_stop(t->vq);
	assert_false(vdev_vq_broken(t->vq));
	free_t(t);
}

static void s_avail_jump(struct t *t)
{
	sdesc(t, 0, BUF, 8, 0, 0);
	w16(t, AVAIL + 2, (uint16_t)(t->size + 1));
}

static void s_head_range(struct t *t)
{
	savail(t, (uint16_t)t->size);
}

static void s_next_range(struct t *t)
{
	sdesc(t, 0, BUF, 8, D_NEXT, (uint16_t)t->size);
	savail(t, 0);
}

static void s_loop(struct t *t)
{
	sdesc(t, 0, BUF, 8, D_NEXT, 1);
	sdesc(t, 1, BUF, 8, D_NEXT, 0);
	savail(t, 0);
}

static void s_too_many(struct t *t)
{
	for (int i = 0; i < 4; i++)
		sdesc(t, i, BUF, 8, i < 3 ? D_NEXT : 0, (uint16_t)(i + 1));
	savail(t, 0);
}

static void s_in_flight(struct t *t)
{
	struct rq q;

	sdesc(t, 0, BUF, 8, 0, 0);
	savail(t, 0);
	savail(t, 0);
	assert_int_equal(pop(t, &q), 1);
}

static void s_indirect_feature(struct t *t)
{
	sdesc(t, 0, 0x50000, 16, D_INDIRECT, 0);
	savail(t, 0);
}

static void s_indirect_zero(struct t *t)
{
	sdesc(t, 0, 0x50000, 0, D_INDIRECT, 0);
	savail(t, 0);
}

static void s_indirect_odd(struct t *t)
{
	sdesc(t, 0, 0x50000, 24, D_INDIRECT, 0);
	savail(t, 0);
}

static void s_indirect_big(struct t *t)
{
	sdesc(t, 0, 0x50000, 16 * (t->size + 1), D_INDIRECT, 0);
	savail(t, 0);
}

static void s_indirect_nested(struct t *t)
{
	w64(t, 0x50000, 0x60000);
	w32(t, 0x50008, 16);
	w16(t, 0x5000c, D_INDIRECT);
	sdesc(t, 0, 0x50000, 16, D_INDIRECT, 0);
	savail(t, 0);
}

static void s_indirect_next(struct t *t)
{
	sdesc(t, 0, 0x50000, 16, D_INDIRECT | D_NEXT, 1);
	sdesc(t, 1, BUF, 8, 0, 0);
	savail(t, 0);
}

static void s_indirect_next_range(struct t *t)
{
	w64(t, 0x50000, BUF);
	w32(t, 0x50008, 16);
	w16(t, 0x5000c, D_NEXT);
	w16(t, 0x5000e, 2); /* the table has 2 entries */
	sdesc(t, 0, 0x50000, 32, D_INDIRECT, 0);
	savail(t, 0);
}

static void s_indirect_loop(struct t *t)
{
	w64(t, 0x50000, BUF);
	w32(t, 0x50008, 16);
	w16(t, 0x5000c, D_NEXT);
	w16(t, 0x5000e, 0);
	sdesc(t, 0, 0x50000, 32, D_INDIRECT, 0);
	savail(t, 0);
}

static void s_indirect_not_ram(struct t *t)
{
	sdesc(t, 0, RAM_SIZE - 16, 32, D_INDIRECT, 0);
	savail(t, 0);
}

static void s_not_ram(struct t *t)
{
	sdesc(t, 0, RAM_SIZE - 8, 16, 0, 0);
	savail(t, 0);
}

static void s_wraps(struct t *t)
{
	sdesc(t, 0, UINT64_MAX - 3, 16, 0, 0);
	savail(t, 0);
}

static void test_split_rules(void **state)
{
	const uint64_t ind = F(VDEV_VIRTIO_F_INDIRECT_DESC);

	(void)state;
	check_split_rule(8, 0, 0, s_avail_jump, "avail-idx-jump");
	check_split_rule(8, 0, 0, s_head_range, "desc-index-range");
	check_split_rule(8, 0, 0, s_next_range, "desc-index-range");
	check_split_rule(8, 0, 0, s_loop, "chain-too-long");
	check_split_rule(8, 0, 3, s_too_many, "chain-too-long");
	check_split_rule(8, 0, 0, s_in_flight, "buffer-id-in-flight");
	check_split_rule(8, 0, 0, s_indirect_feature, "indirect-not-negotiated");
	check_split_rule(8, ind, 0, s_indirect_zero, "indirect-table-size");
	check_split_rule(8, ind, 0, s_indirect_odd, "indirect-table-size");
	check_split_rule(8, ind, 0, s_indirect_big, "indirect-table-size");
	check_split_rule(8, ind, 0, s_indirect_nested, "indirect-nested");
	check_split_rule(8, ind, 0, s_indirect_next, "indirect-with-next");
	check_split_rule(8, ind, 0, s_indirect_next_range, "desc-index-range");
	check_split_rule(8, ind, 0, s_indirect_loop, "chain-too-long");
	check_split_rule(8, ind, 0, s_indirect_not_ram, "buffer-not-in-ram");
	check_split_rule(8, 0, 0, s_not_ram, "buffer-not-in-ram");
	check_split_rule(8, 0, 0, s_wraps, "buffer-not-in-ram");
}

/* A long loop in a big queue is cut at the queue size, not spun. */
static void test_split_long_loop(void **state)
{
	struct t *t = new_t(1);
	struct vdev_vq_config c = cfg_of(32768, 0, 0);
	struct rq q;

	(void)state;
	c.device_addr = 0x200000;
	t->size = 32768;
	assert_int_equal(vdev_vq_start(t->vq, &c), 0);
	/* 0 -> 1 -> ... -> 32767 -> 0: each descriptor only 0 bytes (no iovecs). */
	for (unsigned int i = 0; i < 32768; i++)
		sdesc(t, i, BUF, 0, D_NEXT, (uint16_t)((i + 1) % 32768));
	savail(t, 0);
	assert_int_equal(pop(t, &q), -EIO);
	assert_string_equal(t->reason, "chain-too-long");
	free_t(t);
}

static void test_split_read_only(void **state)
{
	struct t *t = new_t(0);
	struct vdev_vq_config c = cfg_of(8, 0, 0);
	static uint8_t rom[4096];
	struct rq q;

	(void)state;
	t->size = 8;
	assert_int_equal(vdev_mem_region_add(t->mv.ctx, 0, RAM_SIZE, t->mv.ram, 0), 0);
	assert_int_equal(vdev_mem_region_add(t->mv.ctx, RAM_SIZE, 4096, rom, VDEV_MEM_READONLY),
			 0);
	/* A used ring in ROM is refused at start. */
	c.device_addr = RAM_SIZE;
	assert_int_equal(vdev_vq_start(t->vq, &c), -EFAULT);
	c = cfg_of(8, 0, 0);
	assert_int_equal(vdev_vq_start(t->vq, &c), 0);
	/* Reading from ROM is fine; writing into it is not. */
	sdesc(t, 0, RAM_SIZE, 64, 0, 0);
	savail(t, 0);
	assert_int_equal(pop(t, &q), 1);
	assert_ptr_equal(q.iov[0].iov_base, rom);
	sdesc(t, 1, RAM_SIZE + 64, 64, D_WRITE, 0);
	savail(t, 1);
	assert_int_equal(pop(t, &q), -EIO);
	expect_broken(t, "writable-buffer-read-only");
	free_t(t);
}

/* Chains up to 2^32 bytes in total are fine; one byte more is not (§2.7.5.2). */
static void test_chain_bytes(void **state)
{
	struct t *t = new_t(1);
	struct vdev_vq_config c = cfg_of(8, 0, 0);
	uint64_t big = 8ull << 30, gpa = 1ull << 40;
	void *map = mmap(NULL, big, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	struct rq q;

	(void)state;
	assert_true(map != MAP_FAILED);
	/* Never touched: pop only translates addresses. */
	assert_int_equal(vdev_mem_region_add(t->mv.ctx, gpa, big, map, 0), 0);
	t->size = 8;
	assert_int_equal(vdev_vq_start(t->vq, &c), 0);
	sdesc(t, 0, gpa, 0xffffffffu, D_NEXT, 1);
	sdesc(t, 1, gpa, 1, D_WRITE, 0);
	savail(t, 0);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(q.r.out_len + q.r.in_len, 1ull << 32);
	sdesc(t, 2, gpa, 0xffffffffu, D_NEXT | D_WRITE, 3);
	sdesc(t, 3, gpa, 2, D_WRITE, 0);
	savail(t, 2);
	assert_int_equal(pop(t, &q), -EIO);
	expect_broken(t, "chain-over-4gib");
	free_t(t);
	munmap(map, big);
}

/* ---- the fast walk and its fallback to the checked walk ------------------------------ */

/* Expect iovec @i of @q at guest @gpa, @len bytes. */
static void expect_iov(struct t *t, const struct rq *q, unsigned int i, uint64_t gpa, size_t len)
{
	assert_ptr_equal(q->iov[i].iov_base, hva(t, gpa));
	assert_int_equal(q->iov[i].iov_len, len);
}

/*
 * Buffers in different regions, request after request and within one
 * chain, and indirect tables in another region than their buffers: the
 * region caches follow, every iovec lands where the guest said.
 */
static void test_fast_regions(void **state)
{
	struct t *t = new_t(2); /* regions [0, 2 MiB) and [2 MiB, 4 MiB) */
	struct vdev_vq_config c = cfg_of(16, F(VDEV_VIRTIO_F_INDIRECT_DESC), 0);
	uint64_t hi = RAM_SIZE / 2 + 0x10000, tab = RAM_SIZE / 2 + 0x80000;
	struct rq q;

	(void)state;
	t->size = 16;
	assert_int_equal(vdev_vq_start(t->vq, &c), 0);
	for (int round = 0; round < 3; round++) {
		/* One-descriptor requests alternating between the regions. */
		sdesc(t, 0, BUF, 100, D_WRITE, 0);
		savail(t, 0);
		sdesc(t, 1, hi, 200, D_WRITE, 0);
		savail(t, 1);
		assert_int_equal(pop(t, &q), 1);
		expect_iov(t, &q, 0, BUF, 100);
		assert_int_equal(vdev_vq_complete(t->vq, &q.r, 1), 1);
		assert_int_equal(pop(t, &q), 1);
		expect_iov(t, &q, 0, hi, 200);
		assert_int_equal(vdev_vq_complete(t->vq, &q.r, 1), 1);
		/* A chain going back and forth. */
		sdesc(t, 2, hi + 64, 10, D_NEXT, 3);
		sdesc(t, 3, BUF + 64, 20, D_NEXT | D_WRITE, 4);
		sdesc(t, 4, hi + 128, 30, D_WRITE, 0);
		savail(t, 2);
		assert_int_equal(pop(t, &q), 1);
		assert_int_equal(q.r.out_num, 1);
		assert_int_equal(q.r.in_num, 2);
		assert_int_equal(q.r.out_len, 10);
		assert_int_equal(q.r.in_len, 50);
		expect_iov(t, &q, 0, hi + 64, 10);
		expect_iov(t, &q, 1, BUF + 64, 20);
		expect_iov(t, &q, 2, hi + 128, 30);
		assert_int_equal(vdev_vq_complete(t->vq, &q.r, 50), 1);
		/* A table in the high region, its buffers in the low one, then the other way. */
		for (int k = 0; k < 2; k++) {
			uint64_t tb = k ? BUF + 0x8000 : tab, b = k ? hi : BUF;

			w64(t, tb, b + 0x100);
			w32(t, tb + 8, 51);
			w16(t, tb + 12, D_NEXT);
			w16(t, tb + 14, 1);
			w64(t, tb + 16, b + 0x200);
			w32(t, tb + 24, 108);
			w16(t, tb + 28, D_WRITE);
			w16(t, tb + 30, 0);
			sdesc(t, 5, tb, 32, D_INDIRECT, 0);
			savail(t, 5);
			assert_int_equal(pop(t, &q), 1);
			assert_int_equal(q.r.out_num, 1);
			assert_int_equal(q.r.in_num, 1);
			expect_iov(t, &q, 0, b + 0x100, 51);
			expect_iov(t, &q, 1, b + 0x200, 108);
			assert_int_equal(vdev_vq_complete(t->vq, &q.r, 108), 1);
		}
	}
	assert_int_equal(used_idx(t), 15);
	assert_int_equal(used_id(t, 14), 5);
	assert_int_equal(used_len(t, 14), 108);
	assert_false(vdev_vq_broken(t->vq));
	free_t(t);
}

/*
 * Exactly iov_cap iovecs fit, one more is -ENOBUFS (the request stays
 * available), whether the descriptors are direct, in a table, or in a
 * packed list running over the ring's end.
 */
static void test_fast_iov_cap(void **state)
{
	const uint64_t ind = F(VDEV_VIRTIO_F_INDIRECT_DESC);
	uint64_t tab = 0x50000;
	struct rq q;

	(void)state;
	for (int packed = 0; packed < 2; packed++) {
		uint64_t features = ind | (packed ? F(VDEV_VIRTIO_F_RING_PACKED) : 0);
		struct t *t = start(packed ? 5 : 8, features, 0);

		for (int i = 0; i < 3; i++) {
			w64(t, tab + 16 * i, BUF + 0x100 * i);
			w32(t, tab + 16 * i + 8, 10 + i);
			w16(t, tab + 16 * i + 12, (i ? D_WRITE : 0) | (i < 2 ? D_NEXT : 0));
			w16(t, tab + 16 * i + 14, (uint16_t)(i + 1));
		}
		for (int round = 0; round < 4; round++) {
			const struct seg list[] = {
				{ BUF, 10, 0 },
				{ BUF + 0x100, 11, D_WRITE },
				{ BUF + 0x200, 12, D_WRITE },
			};
			const struct seg table = { tab, 48, D_INDIRECT };

			for (int indirect = 0; indirect < 2; indirect++) {
				if (packed) {
					padd(t, indirect ? &table : list, indirect ? 1 : 3,
					     (uint16_t)indirect);
				} else if (indirect) {
					sdesc(t, 3, tab, 48, D_INDIRECT, 0);
					savail(t, 3);
				} else {
					sdesc(t, 0, BUF, 10, D_NEXT, 1);
					sdesc(t, 1, BUF + 0x100, 11, D_NEXT | D_WRITE, 2);
					sdesc(t, 2, BUF + 0x200, 12, D_WRITE, 0);
					savail(t, 0);
				}
				memset(&q, 0, sizeof(q));
				q.r.iov = q.iov;
				q.r.iov_cap = 2;
				assert_int_equal(vdev_vq_pop(t->vq, &q.r), -ENOBUFS);
				q.r.iov_cap = 3;
				assert_int_equal(vdev_vq_pop(t->vq, &q.r), 1);
				assert_int_equal(q.r.out_num, 1);
				assert_int_equal(q.r.in_num, 2);
				assert_int_equal(q.r.out_len, 10);
				assert_int_equal(q.r.in_len, 23);
				expect_iov(t, &q, 0, BUF, 10);
				expect_iov(t, &q, 1, BUF + 0x100, 11);
				expect_iov(t, &q, 2, BUF + 0x200, 12);
				assert_int_equal(vdev_vq_complete(t->vq, &q.r, 23), 1);
			}
		}
		assert_int_equal(vdev_vq_inflight(t->vq), 0);
		assert_false(vdev_vq_broken(t->vq));
		free_t(t);
	}
}

/*
 * One batch of requests of every shape, some of which the fast walk hands
 * over to the checked one part-way (an empty descriptor, readable after
 * writable, a buffer crossing regions, an indirect descriptor ending a
 * chain): each comes out as if popped alone, and in order.
 */
static void test_fast_mixed_batch(void **state)
{
	struct t *t = new_t(2);
	struct vdev_vq_config c = cfg_of(32, F(VDEV_VIRTIO_F_INDIRECT_DESC), 0);
	uint64_t mid = RAM_SIZE / 2, tab = 0x50000;
	struct vdev_vq_req reqs[8];
	struct iovec iov[8][4];

	(void)state;
	t->size = 32;
	assert_int_equal(vdev_vq_start(t->vq, &c), 0);
	w64(t, tab, BUF + 0x900);
	w32(t, tab + 8, 9);
	w16(t, tab + 12, D_WRITE);
	/* 0: one writable descriptor */
	sdesc(t, 0, BUF, 100, D_WRITE, 0);
	/* 1: readable, writable, empty readable */
	sdesc(t, 1, BUF + 0x100, 10, D_NEXT, 2);
	sdesc(t, 2, BUF + 0x200, 20, D_NEXT | D_WRITE, 3);
	sdesc(t, 3, 0, 0, 0, 0);
	/* 4: writable then readable (sorted: readable first) */
	sdesc(t, 4, BUF + 0x300, 30, D_NEXT | D_WRITE, 5);
	sdesc(t, 5, BUF + 0x400, 40, 0, 0);
	/* 6: readable, then writable across the region boundary */
	sdesc(t, 6, BUF + 0x500, 50, D_NEXT, 7);
	sdesc(t, 7, mid - 8, 24, D_WRITE, 0);
	/* 8: one readable descriptor, then an indirect one ending the chain */
	sdesc(t, 8, BUF + 0x600, 60, D_NEXT, 9);
	sdesc(t, 9, tab, 16, D_INDIRECT, 0);
	/* 10: one readable descriptor */
	sdesc(t, 10, BUF + 0x700, 70, 0, 0);
	/* 11: a table alone */
	sdesc(t, 11, tab, 16, D_INDIRECT, 0);
	for (uint16_t h = 0; h <= 11; h++)
		if (h != 2 && h != 3 && h != 5 && h != 7 && h != 9)
			savail(t, h);
	for (int i = 0; i < 8; i++)
		reqs[i] = (struct vdev_vq_req){ .iov = iov[i], .iov_cap = 4 };
	assert_int_equal(vdev_vq_pop_batch(t->vq, reqs, 8), 7);
	assert_int_equal(reqs[0].id, 0);
	assert_int_equal(reqs[0].out_num, 0);
	assert_int_equal(reqs[0].in_num, 1);
	assert_int_equal(reqs[0].in_len, 100);
	assert_int_equal(reqs[1].id, 1);
	assert_int_equal(reqs[1].out_num, 1);
	assert_int_equal(reqs[1].in_num, 1);
	assert_int_equal(reqs[1].out_len, 10);
	assert_int_equal(reqs[1].in_len, 20);
	assert_ptr_equal(iov[1][1].iov_base, hva(t, BUF + 0x200));
	assert_int_equal(reqs[2].id, 4);
	assert_int_equal(reqs[2].out_num, 1);
	assert_int_equal(reqs[2].in_num, 1);
	assert_ptr_equal(iov[2][0].iov_base, hva(t, BUF + 0x400));
	assert_int_equal(iov[2][0].iov_len, 40);
	assert_ptr_equal(iov[2][1].iov_base, hva(t, BUF + 0x300));
	assert_int_equal(reqs[3].id, 6);
	assert_int_equal(reqs[3].out_num, 1);
	assert_int_equal(reqs[3].in_num, 2);
	assert_int_equal(reqs[3].in_len, 24);
	assert_ptr_equal(iov[3][1].iov_base, hva(t, mid - 8));
	assert_int_equal(iov[3][1].iov_len, 8);
	assert_ptr_equal(iov[3][2].iov_base, hva(t, mid));
	assert_int_equal(iov[3][2].iov_len, 16);
	assert_int_equal(reqs[4].id, 8);
	assert_int_equal(reqs[4].out_num, 1);
	assert_int_equal(reqs[4].in_num, 1);
	assert_int_equal(reqs[4].in_len, 9);
	assert_ptr_equal(iov[4][1].iov_base, hva(t, BUF + 0x900));
	assert_int_equal(reqs[5].id, 10);
	assert_int_equal(reqs[5].out_len, 70);
	assert_int_equal(reqs[6].id, 11);
	assert_int_equal(reqs[6].out_num, 0);
	assert_int_equal(reqs[6].in_len, 9);
	assert_int_equal(vdev_vq_inflight(t->vq), 7);
	for (int i = 6; i >= 0; i--)
		assert_int_equal(vdev_vq_push(t->vq, &reqs[i], (uint32_t)reqs[i].in_len), 0);
	assert_int_equal(vdev_vq_flush(t->vq), 1);
	assert_int_equal(used_idx(t), 7);
	assert_int_equal(used_id(t, 0), 11);
	assert_int_equal(used_id(t, 6), 0);
	assert_int_equal(used_len(t, 6), 100);
	assert_false(vdev_vq_broken(t->vq));
	free_t(t);
}

/* ---- packed rings ---------------------------------------------------------------------- */

static void pused(struct t *t, uint16_t pos, uint16_t *id, uint32_t *len, uint16_t *flags)
{
	*len = r32(t, DESC + 16ull * pos + 8);
	*id = r16(t, DESC + 16ull * pos + 12);
	*flags = r16(t, DESC + 16ull * pos + 14);
}

static void test_packed_basic(void **state)
{
	struct t *t = start(5, F(VDEV_VIRTIO_F_RING_PACKED), 0);
	const struct seg one = { BUF, 100, 0 };
	const struct seg three[] = {
		{ BUF + 0x1000, 51, 0 }, { BUF + 0x2000, 108, D_WRITE }, { BUF + 0x3000, 4096, D_WRITE },
	};
	struct rq a, b, c;
	uint16_t id, fl;
	uint32_t len;

	(void)state;
	assert_int_equal(pop(t, &a), 0);
	padd(t, &one, 1, 3);
	padd(t, three, 3, 1);
	assert_int_equal(pop(t, &a), 1);
	assert_int_equal(a.r.id, 3);
	assert_int_equal(a.r.out_num, 1);
	assert_ptr_equal(a.iov[0].iov_base, hva(t, BUF));
	assert_int_equal(pop(t, &b), 1);
	assert_int_equal(b.r.id, 1);
	assert_int_equal(b.r.out_num, 1);
	assert_int_equal(b.r.in_num, 2);
	assert_int_equal(b.r.in_len, 108 + 4096);
	assert_int_equal(pop(t, &c), 0);
	/* Complete the 3-descriptor one first: its used descriptor goes at 0. */
	assert_int_equal(vdev_vq_push(t->vq, &b.r, 150), 0);
	assert_int_equal(vdev_vq_push(t->vq, &a.r, 0), 0);
	/* Before the flush the batch's first used descriptor is not marked used. */
	pused(t, 0, &id, &len, &fl);
	assert_int_equal(fl & (D_AVAIL | D_USED), D_AVAIL);
	assert_int_equal(vdev_vq_flush(t->vq), 1);
	pused(t, 0, &id, &len, &fl);
	assert_int_equal(id, 1);
	assert_int_equal(len, 150);
	assert_int_equal(fl, D_AVAIL | D_USED | D_WRITE);
	/* The next used descriptor skips the chain's 3 slots. */
	pused(t, 3, &id, &len, &fl);
	assert_int_equal(id, 3);
	assert_int_equal(len, 0);
	assert_int_equal(fl, D_AVAIL | D_USED); /* nothing written: no WRITE */

	/* Many rounds through the 5-entry ring: chains wrap around its end. */
	for (int round = 0; round < 20; round++) {
		uint16_t at = t->pnext;
		int w = t->pwrap;

		padd(t, three, 3, (uint16_t)(round % 5));
		assert_int_equal(pop(t, &b), 1);
		assert_int_equal(b.r.id, round % 5);
		assert_int_equal(b.r.in_len, 108 + 4096);
		assert_ptr_equal(b.iov[2].iov_base, hva(t, BUF + 0x3000));
		assert_int_equal(vdev_vq_complete(t->vq, &b.r, (uint32_t)round), 1);
		pused(t, at, &id, &len, &fl);
		assert_int_equal(id, round % 5);
		assert_int_equal(len, round);
		assert_int_equal(fl & (D_AVAIL | D_USED), w ? D_AVAIL | D_USED : 0);
	}
	assert_int_equal(t->errors, 0);
	free_t(t);
}

static void test_packed_indirect(void **state)
{
	struct t *t = start(8, F(VDEV_VIRTIO_F_RING_PACKED) | F(VDEV_VIRTIO_F_INDIRECT_DESC), 0);
	uint64_t tab = 0x50000;
	const struct seg ind = { tab, 48, D_INDIRECT };
	struct rq q;

	(void)state;
	for (int i = 0; i < 3; i++) {
		w64(t, tab + 16 * i, BUF + 0x1000 * i);
		w32(t, tab + 16 * i + 8, 30 + i);
		/* Only WRITE counts in a table; NEXT and the id are ignored. */
		w16(t, tab + 16 * i + 12, 0x7777);
		w16(t, tab + 16 * i + 14, (i ? D_WRITE : 0) | D_NEXT);
	}
	padd(t, &ind, 1, 6);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(q.r.id, 6);
	assert_int_equal(q.r.out_num, 1);
	assert_int_equal(q.r.in_num, 2);
	assert_int_equal(q.r.in_len, 31 + 32);
	assert_int_equal(vdev_vq_complete(t->vq, &q.r, 5), 1);
	/* One ring descriptor for the whole table: the next list starts at 1. */
	assert_int_equal(r16(t, DESC + 12), 6);
	free_t(t);
}

static void check_packed_rule(uint64_t features, void (*setup)(struct t *t), const char *rule)
{
	struct t *t = start(8, F(VDEV_VIRTIO_F_RING_PACKED) | features, 0);
	struct rq q;

	setup(t);
	assert_int_equal(pop(t, &q), -EIO);
	expect_broken(t, rule);
	free_t(t);
}

static void p_id_range(struct t *t)
{
	const struct seg s = { BUF, 8, 0 };

	padd(t, &s, 1, 8);
}

static void p_id_in_flight(struct t *t)
{
	const struct seg s = { BUF, 8, 0 };
	struct rq q;

	padd(t, &s, 1, 2);
	padd(t, &s, 1, 2);
	assert_int_equal(pop(t, &q), 1);
}

static void p_loop(struct t *t)
{
	/* Every descriptor says NEXT: the list runs around the whole ring. */
	for (unsigned int i = 0; i < t->size; i++)
		pdesc_write(t, (uint16_t)i, BUF, 8, 0, D_NEXT | D_AVAIL);
}

static void p_not_avail(struct t *t)
{
	/* The second descriptor still carries the state before it was made available. */
	pdesc_write(t, 1, BUF + 64, 8, 0, D_WRITE);
	pdesc_write(t, 0, BUF, 8, 0, D_NEXT | D_AVAIL);
}

static void p_not_avail_wrapped(struct t *t)
{
	const struct seg s = { BUF, 8, 0 };
	struct rq q;

	/* Go round once so the next list starts at 7 and wraps to 0 (lap 0 there). */
	for (int i = 0; i < 7; i++) {
		padd(t, &s, 1, 0);
		assert_int_equal(pop(t, &q), 1);
		assert_int_equal(vdev_vq_complete(t->vq, &q.r, 0), 1);
	}
	/* Slot 0 keeps lap 1's used flags: not available in lap 0. */
	pdesc_write(t, 7, BUF, 8, 0, D_NEXT | D_AVAIL);
}

static void p_indirect_chained(struct t *t)
{
	const struct seg s[] = { { BUF, 8, 0 }, { 0x50000, 16, D_INDIRECT } };

	padd(t, s, 2, 0);
}

static void p_indirect_next(struct t *t)
{
	pdesc_write(t, 1, BUF, 8, 0, D_AVAIL);
	pdesc_write(t, 0, 0x50000, 16, 0, D_INDIRECT | D_NEXT | D_AVAIL);
}

static void p_indirect_feature(struct t *t)
{
	const struct seg s = { 0x50000, 16, D_INDIRECT };

	padd(t, &s, 1, 0);
}

static void p_indirect_size(struct t *t)
{
	const struct seg s = { 0x50000, 20, D_INDIRECT };

	padd(t, &s, 1, 0);
}

static void p_not_ram(struct t *t)
{
	const struct seg s[] = { { BUF, 8, 0 }, { RAM_SIZE, 8, D_WRITE } };

	padd(t, s, 2, 0);
}

static void test_packed_rules(void **state)
{
	const uint64_t ind = F(VDEV_VIRTIO_F_INDIRECT_DESC);

	(void)state;
	check_packed_rule(0, p_id_range, "buffer-id-range");
	check_packed_rule(0, p_id_in_flight, "buffer-id-in-flight");
	check_packed_rule(0, p_loop, "chain-too-long");
	check_packed_rule(0, p_not_avail, "chain-desc-not-available");
	check_packed_rule(0, p_not_avail_wrapped, "chain-desc-not-available");
	check_packed_rule(ind, p_indirect_chained, "indirect-in-chain");
	check_packed_rule(ind, p_indirect_next, "indirect-with-next");
	check_packed_rule(0, p_indirect_feature, "indirect-not-negotiated");
	check_packed_rule(ind, p_indirect_size, "indirect-table-size");
	check_packed_rule(0, p_not_ram, "buffer-not-in-ram");
}

/* ---- notifications ------------------------------------------------------------------------ */

static void complete_one(struct t *t, uint16_t head)
{
	struct rq q;

	savail(t, head);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(vdev_vq_push(t->vq, &q.r, 0), 0);
}

static void test_split_notify_flags(void **state)
{
	struct t *t = start(8, 0, 0);

	(void)state;
	sdesc(t, 0, BUF, 8, 0, 0);
	complete_one(t, 0);
	assert_int_equal(vdev_vq_flush(t->vq), 1);
	w16(t, AVAIL, 1); /* NO_INTERRUPT */
	complete_one(t, 0);
	assert_int_equal(vdev_vq_flush(t->vq), 0);
	w16(t, AVAIL, 0);
	complete_one(t, 0);
	assert_int_equal(vdev_vq_flush(t->vq), 1);
	assert_int_equal(t->notifies, 2);

	/* Device side: used->flags NO_NOTIFY while disabled; enable re-checks the ring. */
	assert_int_equal(vdev_vq_notify_enable(t->vq, 0), 0);
	assert_int_equal(r16(t, USED), 1);
	assert_int_equal(vdev_vq_notify_enable(t->vq, 1), 0);
	assert_int_equal(r16(t, USED), 0);
	vdev_vq_notify_enable(t->vq, 0);
	savail(t, 0);
	assert_int_equal(vdev_vq_notify_enable(t->vq, 1), 1);
	free_t(t);
}

static void test_split_notify_event_idx(void **state)
{
	struct t *t = start(8, F(VDEV_VIRTIO_F_EVENT_IDX), 0);
	uint64_t used_event = AVAIL + 4 + 2 * 8, avail_event = USED + 4 + 8 * 8;
	struct rq q[4];

	(void)state;
	sdesc(t, 0, BUF, 8, 0, 0);
	for (int i = 1; i < 4; i++)
		sdesc(t, i, BUF, 8, 0, 0);
	/* The flags field is ignored with EVENT_IDX. */
	w16(t, AVAIL, 1);
	/* used_event = 2: notify when entry 2 is written, i.e. idx passes 2. */
	w16(t, used_event, 2);
	complete_one(t, 0);
	assert_int_equal(vdev_vq_flush(t->vq), 0); /* idx 0 -> 1 */
	complete_one(t, 1);
	assert_int_equal(vdev_vq_flush(t->vq), 0); /* 1 -> 2 */
	complete_one(t, 2);
	assert_int_equal(vdev_vq_flush(t->vq), 1); /* 2 -> 3 crosses */
	complete_one(t, 3);
	assert_int_equal(vdev_vq_flush(t->vq), 0);
	/* A batch crossing the event notifies once. */
	w16(t, used_event, 5);
	for (int i = 0; i < 3; i++) {
		savail(t, (uint16_t)i);
		assert_int_equal(pop(t, &q[i]), 1);
	}
	for (int i = 0; i < 3; i++)
		assert_int_equal(vdev_vq_push(t->vq, &q[i].r, 0), 0);
	assert_int_equal(vdev_vq_flush(t->vq), 1); /* 4 -> 7 covers 5 */
	assert_int_equal(t->notifies, 2);

	/* Emptying the ring moves avail_event to the next entry (rearm). */
	assert_int_equal(pop(t, &q[0]), 0);
	assert_int_equal(r16(t, avail_event), t->avail_idx);
	/* Disabled: avail_event parked behind; enabling puts it at the next entry. */
	assert_int_equal(vdev_vq_notify_enable(t->vq, 0), 0);
	assert_int_equal(r16(t, avail_event), (uint16_t)(t->avail_idx - 1));
	assert_int_equal(pop(t, &q[0]), 0);
	assert_int_equal(r16(t, avail_event), (uint16_t)(t->avail_idx - 1)); /* no rearm */
	assert_int_equal(vdev_vq_notify_enable(t->vq, 1), 0);
	assert_int_equal(r16(t, avail_event), t->avail_idx);
	/* kick_data: the advisory next index; the ring decides. */
	assert_int_equal(vdev_vq_kick_data(t->vq, t->avail_idx), 0);
	savail(t, 0);
	assert_int_equal(vdev_vq_kick_data(t->vq, t->avail_idx), 1);
	assert_int_equal(vdev_vq_kick_data(t->vq, 0x12345), 1); /* implausible: logged, ignored */
	assert_true(mock_vmm_log_contains(&t->mv, "implausible"));
	free_t(t);
}

static void test_packed_notify(void **state)
{
	struct t *t = start(8, F(VDEV_VIRTIO_F_RING_PACKED) | F(VDEV_VIRTIO_F_EVENT_IDX), 0);
	const struct seg s = { BUF, 8, 0 };
	struct rq q;

	(void)state;
	/* Start writes the device event area: DESC at offset 0, wrap 1. */
	assert_int_equal(r16(t, USED + 2), 2);
	assert_int_equal(r16(t, USED), 0x8000);
	/* Driver: DISABLE. */
	w16(t, AVAIL + 2, 1);
	padd(t, &s, 1, 0);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(vdev_vq_complete(t->vq, &q.r, 0), 0);
	/* ENABLE. */
	w16(t, AVAIL + 2, 0);
	padd(t, &s, 1, 0);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(vdev_vq_complete(t->vq, &q.r, 0), 1);
	/* DESC: notify when the used descriptor at offset 4 (wrap 1) is written. */
	w16(t, AVAIL + 2, 2);
	w16(t, AVAIL, 4 | 0x8000);
	for (int i = 2; i < 8; i++) {
		padd(t, &s, 1, 0);
		assert_int_equal(pop(t, &q), 1);
		assert_int_equal(vdev_vq_complete(t->vq, &q.r, 0), i == 4);
	}
	/* Position 0 of the next lap (wrap 0). */
	w16(t, AVAIL, 0);
	padd(t, &s, 1, 0);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(vdev_vq_complete(t->vq, &q.r, 0), 1);
	/* The ring emptied: the device event area names the next descriptor. */
	assert_int_equal(pop(t, &q), 0);
	assert_int_equal(r16(t, USED), 1); /* offset 1, wrap 0 */
	assert_int_equal(vdev_vq_notify_enable(t->vq, 0), 0);
	assert_int_equal(r16(t, USED + 2), 1); /* DISABLE */
	assert_int_equal(vdev_vq_kick_data(t->vq, 1), 0);
	padd(t, &s, 1, 0);
	assert_int_equal(vdev_vq_kick_data(t->vq, 2), 1);
	assert_int_equal(vdev_vq_notify_enable(t->vq, 1), 1);
	assert_int_equal(r16(t, USED + 2), 2);
	assert_int_equal(t->notifies, 3);
	free_t(t);

	/* Without EVENT_IDX: ENABLE / DISABLE only, DESC is treated as ENABLE. */
	t = start(4, F(VDEV_VIRTIO_F_RING_PACKED), 0);
	assert_int_equal(r16(t, USED + 2), 0);
	w16(t, AVAIL + 2, 2);
	w16(t, AVAIL, 3);
	padd(t, &s, 1, 0);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(vdev_vq_complete(t->vq, &q.r, 0), 1);
	free_t(t);
}

/* ---- IN_ORDER ---------------------------------------------------------------------------------- */

static void test_in_order(void **state)
{
	struct t *t = start(8, F(VDEV_VIRTIO_F_IN_ORDER), 0);
	struct rq q[4];

	(void)state;
	for (int i = 0; i < 4; i++) {
		sdesc(t, i, BUF + 0x100 * i, 64, D_WRITE, 0);
		savail(t, (uint16_t)i);
		assert_int_equal(pop(t, &q[i]), 1);
	}
	/* Completed 2, 3, then 0, then 1: published as 0, then 1 2 3. */
	assert_int_equal(vdev_vq_push(t->vq, &q[2].r, 2), 0);
	assert_int_equal(vdev_vq_push(t->vq, &q[3].r, 3), 0);
	assert_int_equal(vdev_vq_push(t->vq, &q[3].r, 3), -EINVAL); /* held, not in flight */
	assert_int_equal(vdev_vq_flush(t->vq), 0);
	assert_int_equal(used_idx(t), 0);
	assert_int_equal(vdev_vq_inflight(t->vq), 2);
	assert_int_equal(vdev_vq_push(t->vq, &q[0].r, 10), 0);
	assert_int_equal(vdev_vq_flush(t->vq), 1);
	assert_int_equal(used_idx(t), 1);
	assert_int_equal(vdev_vq_complete(t->vq, &q[1].r, 11), 1);
	assert_int_equal(used_idx(t), 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(used_id(t, (uint16_t)i), i);
	assert_int_equal(used_len(t, 0), 10);
	assert_int_equal(used_len(t, 1), 11);
	assert_int_equal(used_len(t, 3), 3);
	free_t(t);
}

/* ---- remote completion --------------------------------------------------------------------- */

static void test_remote_basic(void **state)
{
	struct t *t = start(8, F(VDEV_VIRTIO_F_IN_ORDER), 0);
	struct rq q[3];

	(void)state;
	for (int i = 0; i < 3; i++) {
		sdesc(t, i, BUF + 0x100 * i, 64, D_WRITE, 0);
		savail(t, (uint16_t)i);
		assert_int_equal(pop(t, &q[i]), 1);
	}
	assert_int_equal(vdev_vq_complete_remote(t->vq, 1, 5), 0);
	assert_int_equal(t->wakes, 1);
	assert_int_equal(vdev_vq_complete_remote(t->vq, 1, 5), -EINVAL); /* double */
	assert_int_equal(vdev_vq_push(t->vq, &q[1].r, 5), -EINVAL);      /* and locally */
	assert_int_equal(vdev_vq_complete_remote(t->vq, 7, 5), -EINVAL); /* never popped */
	assert_int_equal(vdev_vq_complete_remote(t->vq, 100, 5), -EINVAL);
	assert_int_equal(vdev_vq_complete_remote(t->vq, 2, 500), 0);     /* clamped at reap */
	/* IN_ORDER: 1 and 2 wait for 0. */
	assert_int_equal(vdev_vq_reap(t->vq), 2);
	assert_int_equal(used_idx(t), 0);
	assert_int_equal(vdev_vq_push(t->vq, &q[0].r, 1), 0);
	assert_int_equal(vdev_vq_reap(t->vq), 0); /* flushes */
	assert_int_equal(used_idx(t), 3);
	assert_int_equal(used_len(t, 1), 5);
	assert_int_equal(used_len(t, 2), 64);
	assert_int_equal(t->notifies, 1);
	/* Stop discards pending remote completions. */
	savail(t, 0);
	assert_int_equal(pop(t, &q[0]), 1);
	assert_int_equal(vdev_vq_complete_remote(t->vq, 0, 0), 0);
	vdev_vq_stop(t->vq);
	assert_int_equal(vdev_vq_complete_remote(t->vq, 0, 0), -EINVAL);
	free_t(t);
}

#define REMOTE_THREADS 3
#define REMOTE_ROUNDS 3000

struct handoff {
	struct t *t;
	pthread_mutex_t lock;
	uint16_t ids[REMOTE_THREADS][64];
	unsigned int head[REMOTE_THREADS], tail[REMOTE_THREADS];
	int done;
	unsigned int failures;
};

static void *completer(void *arg)
{
	struct handoff *h = ((void **)arg)[0];
	unsigned int me = (unsigned int)(uintptr_t)((void **)arg)[1];

	for (;;) {
		int have = 0, stop;
		uint16_t id = 0;

		pthread_mutex_lock(&h->lock);
		if (h->head[me] != h->tail[me]) {
			id = h->ids[me][h->head[me]++ % 64];
			have = 1;
		}
		stop = h->done;
		pthread_mutex_unlock(&h->lock);
		if (have) {
			if (vdev_vq_complete_remote(h->t->vq, id, id))
				__atomic_fetch_add(&h->failures, 1, __ATOMIC_RELAXED);
		} else if (stop) {
			return NULL;
		}
	}
}

/* The test driver takes back the buffers the device used. */
static unsigned int consume_used(struct t *t, uint16_t *last, int *uwrap, bool *busy)
{
	unsigned int n = 0;

	if (!t->packed) {
		uint16_t idx = __atomic_load_n((uint16_t *)hva(t, USED + 2), __ATOMIC_ACQUIRE);

		for (; *last != idx; (*last)++, n++)
			busy[used_id(t, *last)] = false;
		return n;
	}
	for (;;) {
		uint16_t f = __atomic_load_n((uint16_t *)hva(t, DESC + 16ull * *last + 14),
					     __ATOMIC_ACQUIRE);

		if (!!(f & D_USED) != *uwrap || !!(f & D_AVAIL) != *uwrap)
			return n;
		busy[r16(t, DESC + 16ull * *last + 12)] = false;
		n++;
		if (++*last == t->size) {
			*last = 0;
			*uwrap ^= 1;
		}
	}
}

/* 3 completer threads against the queue thread reaping; clean under TSan. */
static void run_remote_threads(uint64_t features)
{
	struct t *t = start(64, F(VDEV_VIRTIO_F_EVENT_IDX) | features, 0);
	struct handoff *h = calloc(1, sizeof(*h));
	pthread_t th[REMOTE_THREADS];
	void *args[REMOTE_THREADS][2];
	struct rq *q = calloc(64, sizeof(*q));
	unsigned int popped = 0, published = 0, seen = 0, next = 0;
	bool busy[64] = { false };
	uint16_t last = 0;
	int uwrap = 1;

	assert_non_null(h);
	assert_non_null(q);
	h->t = t;
	pthread_mutex_init(&h->lock, NULL);
	for (unsigned int i = 0; i < 64; i++) {
		if (t->packed)
			continue;
		sdesc(t, i, BUF + 0x100 * i, 64, D_WRITE, 0);
	}
	for (unsigned int i = 0; i < REMOTE_THREADS; i++) {
		args[i][0] = h;
		args[i][1] = (void *)(uintptr_t)i;
		assert_int_equal(pthread_create(&th[i], NULL, completer, args[i]), 0);
	}
	while (published < REMOTE_ROUNDS) {
		/* Keep up to 48 requests in flight, each id used once at a time. */
		while (popped - seen < 48 && popped < REMOTE_ROUNDS) {
			uint16_t id;
			int rc;

			while (busy[next % 64])
				next++;
			id = (uint16_t)(next++ % 64);
			busy[id] = true;
			if (t->packed) {
				const struct seg s = { BUF + 0x100 * id, 64, D_WRITE };

				padd(t, &s, 1, id);
			} else {
				savail(t, id);
			}
			rc = pop(t, &q[id]);
			assert_int_equal(rc, 1);
			assert_int_equal(q[id].r.id, id);
			popped++;
			pthread_mutex_lock(&h->lock);
			h->ids[id % REMOTE_THREADS][h->tail[id % REMOTE_THREADS]++ % 64] = id;
			pthread_mutex_unlock(&h->lock);
		}
		published += (unsigned int)vdev_vq_reap(t->vq);
		seen += consume_used(t, &last, &uwrap, busy);
	}
	pthread_mutex_lock(&h->lock);
	h->done = 1;
	pthread_mutex_unlock(&h->lock);
	for (unsigned int i = 0; i < REMOTE_THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(h->failures, 0);
	assert_int_equal(published, REMOTE_ROUNDS);
	assert_int_equal(seen, REMOTE_ROUNDS);
	assert_int_equal(vdev_vq_inflight(t->vq), 0);
	assert_false(vdev_vq_broken(t->vq));
	pthread_mutex_destroy(&h->lock);
	free(q);
	free(h);
	free_t(t);
}

static void test_remote_threads(void **state)
{
	(void)state;
	run_remote_threads(0);
	run_remote_threads(F(VDEV_VIRTIO_F_IN_ORDER));
	run_remote_threads(F(VDEV_VIRTIO_F_RING_PACKED));
}

/* ---- dirty logging -------------------------------------------------------------------------- */

static int dirty_page(struct t *t, uint64_t gpa)
{
	uint64_t bm[RAM_SIZE / 4096 / 64];

	assert_true(vdev_mem_dirty_bitmap(t->mv.ctx, 0, bm, VDEV__ARRAY_SIZE(bm), 0) >= 0);
	return (bm[gpa / 4096 / 64] >> (gpa / 4096 % 64)) & 1;
}

static void test_dirty_logging(void **state)
{
	struct t *t = start(8, 0, 0);
	struct rq q;
	uint64_t bm[RAM_SIZE / 4096 / 64];

	(void)state;
	sdesc(t, 0, BUF, 16, D_NEXT, 1);
	sdesc(t, 1, BUF + 0x10000 - 100, 0x3000, D_WRITE, 0); /* 4 pages */
	savail(t, 0);
	assert_int_equal(vdev_mem_dirty_log_enable(t->mv.ctx, 1), 0);
	assert_int_equal(pop(t, &q), 1);
	/* Popping writes nothing. */
	assert_int_equal(vdev_mem_dirty_bitmap(t->mv.ctx, 0, bm, VDEV__ARRAY_SIZE(bm), 0), 0);
	/* 200 bytes written: the two pages they touch, plus the used ring. */
	assert_int_equal(vdev_vq_complete(t->vq, &q.r, 200), 1);
	assert_true(dirty_page(t, BUF + 0x10000 - 100));
	assert_true(dirty_page(t, BUF + 0x10000));
	assert_false(dirty_page(t, BUF + 0x11000));
	assert_false(dirty_page(t, BUF)); /* readable */
	assert_true(dirty_page(t, USED));
	assert_int_equal(vdev_mem_dirty_bitmap(t->mv.ctx, 0, bm, VDEV__ARRAY_SIZE(bm), 1), 3);
	/* Remote completions mark on the completing thread. */
	savail(t, 0);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(vdev_vq_complete_remote(t->vq, 0, 0x3000), 0);
	assert_int_equal(vdev_mem_dirty_bitmap(t->mv.ctx, 0, bm, VDEV__ARRAY_SIZE(bm), 1), 4);
	assert_int_equal(vdev_vq_reap(t->vq), 1);
	assert_true(dirty_page(t, USED));
	/* Off again: the fast path. */
	assert_int_equal(vdev_mem_dirty_log_enable(t->mv.ctx, 0), 0);
	savail(t, 0);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(vdev_vq_complete(t->vq, &q.r, 1), 1);
	assert_int_equal(used_idx(t), 3);
	free_t(t);

	/* Packed: the used descriptor slot is marked. */
	t = start(4, F(VDEV_VIRTIO_F_RING_PACKED), 0);
	{
		const struct seg s = { BUF, 64, D_WRITE };

		padd(t, &s, 1, 1);
	}
	assert_int_equal(vdev_mem_dirty_log_enable(t->mv.ctx, 1), 0);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(vdev_vq_complete(t->vq, &q.r, 64), 1);
	assert_true(dirty_page(t, DESC));
	assert_true(dirty_page(t, BUF));
	free_t(t);
}

/* ---- the memory map changing under a started queue -------------------------------------- */

static void test_region_removed(void **state)
{
	struct t *t = new_t(2);
	struct vdev_vq_config c = cfg_of(8, 0, 0);
	struct rq q;

	(void)state;
	t->size = 8;
	c.device_addr = RAM_SIZE / 2 + 0x1000; /* used ring in the second region */
	assert_int_equal(vdev_vq_start(t->vq, &c), 0);
	sdesc(t, 0, BUF, 16, 0, 0);
	savail(t, 0);
	assert_int_equal(pop(t, &q), 1);
	/* Adding a region moves nothing. */
	assert_int_equal(vdev_mem_region_add(t->mv.ctx, RAM_SIZE, 4096, t->mv.ram, 0), 0);
	assert_int_equal(vdev_vq_push(t->vq, &q.r, 0), 0);
	assert_int_equal(vdev_vq_flush(t->vq), 1);
	/* Removing the used ring's region: the queue stops using it. */
	savail(t, 0);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(vdev_mem_region_remove(t->mv.ctx, RAM_SIZE / 2), 0);
	assert_int_equal(vdev_vq_push(t->vq, &q.r, 0), 0);
	assert_true(vdev_vq_broken(t->vq));
	assert_string_equal(t->reason, "ring-not-in-ram");
	assert_int_equal(vdev_vq_flush(t->vq), 0);
	assert_int_equal(pop(t, &q), -EIO);
	free_t(t);
}

/* ---- save / load ----------------------------------------------------------------------------- */

static vdev_state_reader *save_reader(struct t *t, vdev_state_writer **w)
{
	vdev_state_reader *r;
	const void *blob;
	size_t len;

	assert_int_equal(vdev_state_writer_new(w), 0);
	assert_int_equal(vdev_vq_save(t->vq, *w), 0);
	assert_int_equal(vdev_state_writer_finish(*w, &blob, &len), 0);
	assert_int_equal(vdev_state_reader_new(blob, len, &r), 0);
	return r;
}

/* A second queue on the same guest memory, as the destination would have. */
static vdev_vq *dest_vq(struct t *t)
{
	vdev_vq *vq;

	assert_int_equal(vdev_vq_new(t->mv.ctx, &ops, t, &vq), 0);
	return vq;
}

static void test_save_load_split(void **state)
{
	struct t *t = start(8, F(VDEV_VIRTIO_F_EVENT_IDX), 0);
	vdev_state_writer *w;
	vdev_state_reader *r;
	struct rq q[4], n;
	vdev_vq *dst;

	(void)state;
	for (int i = 0; i < 4; i++) {
		sdesc(t, 2 * i, BUF + 0x1000 * i, 10 + i, D_NEXT, (uint16_t)(2 * i + 1));
		sdesc(t, 2 * i + 1, BUF + 0x1000 * i + 0x800, 100 + i, D_WRITE, 0);
		savail(t, (uint16_t)(2 * i));
	}
	for (int i = 0; i < 3; i++)
		assert_int_equal(pop(t, &q[i]), 1);
	/* 0 done and flushed, 1 pushed but not flushed, 2 in flight, 3 not popped. */
	assert_int_equal(vdev_vq_complete(t->vq, &q[0].r, 1), 1);
	assert_int_equal(vdev_vq_push(t->vq, &q[1].r, 2), 0);
	r = save_reader(t, &w);

	dst = dest_vq(t);
	assert_int_equal(vdev_vq_load(dst, r), 0);
	assert_true(vdev_vq_started(dst));
	assert_int_equal(vdev_vq_inflight(dst), 1);
	/* The source's request 2 comes back first, then 3 from the ring. */
	vdev_vq_free(t->vq);
	t->vq = dst;
	assert_int_equal(pop(t, &n), 1);
	assert_int_equal(n.r.id, 4);
	assert_int_equal(n.r.out_num, 1);
	assert_int_equal(n.r.in_num, 1);
	assert_int_equal(n.r.out_len, 12);
	assert_int_equal(n.r.in_len, 102);
	assert_ptr_equal(n.iov[0].iov_base, hva(t, BUF + 0x2000));
	assert_ptr_equal(n.iov[1].iov_base, hva(t, BUF + 0x2800));
	assert_int_equal(pop(t, &q[3]), 1);
	assert_int_equal(q[3].r.id, 6);
	assert_int_equal(pop(t, &q[0]), 0);
	/* Flushing publishes the source's staged entry too. */
	assert_int_equal(vdev_vq_push(t->vq, &n.r, 3), 0);
	assert_int_equal(vdev_vq_push(t->vq, &q[3].r, 4), 0);
	vdev_vq_flush(t->vq);
	assert_int_equal(used_idx(t), 4);
	assert_int_equal(used_id(t, 1), 2);
	assert_int_equal(used_id(t, 2), 4);
	assert_int_equal(used_len(t, 2), 3);
	assert_int_equal(used_id(t, 3), 6);
	assert_int_equal(t->errors, 0);
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);
	free_t(t);
}

static void test_save_load_packed(void **state)
{
	struct t *t = start(6, F(VDEV_VIRTIO_F_RING_PACKED) | F(VDEV_VIRTIO_F_IN_ORDER), 0);
	const struct seg two[] = { { BUF, 10, 0 }, { BUF + 0x800, 20, D_WRITE } };
	const struct seg one = { BUF + 0x1000, 30, D_WRITE };
	vdev_state_writer *w, *w2;
	vdev_state_reader *r, *r2;
	struct rq a, b, c;
	uint16_t id, fl;
	uint32_t len;
	vdev_vq *dst;

	(void)state;
	padd(t, two, 2, 4);
	padd(t, &one, 1, 2);
	padd(t, two, 2, 0);
	assert_int_equal(pop(t, &a), 1);
	assert_int_equal(pop(t, &b), 1);
	assert_int_equal(pop(t, &c), 1);
	/* IN_ORDER: b (2) completes first and is held; c (0) completes remotely. */
	assert_int_equal(vdev_vq_push(t->vq, &b.r, 7), 0);
	assert_int_equal(vdev_vq_complete_remote(t->vq, 0, 9), 0);
	r = save_reader(t, &w);
	dst = dest_vq(t);
	t->wakes = 0;
	assert_int_equal(vdev_vq_load(dst, r), 0);
	assert_int_equal(t->wakes, 1); /* the remote completion waits for a reap */
	vdev_vq_free(t->vq);
	t->vq = dst;
	/* Save again before anything moved: the replay state survives a second trip. */
	r2 = save_reader(t, &w2);
	dst = dest_vq(t);
	assert_int_equal(vdev_vq_load(dst, r2), 0);
	vdev_vq_free(t->vq);
	t->vq = dst;
	assert_int_equal(vdev_vq_reap(t->vq), 2); /* both completed, held behind a */
	assert_int_equal(pop(t, &a), 1);
	assert_int_equal(a.r.id, 4);
	assert_int_equal(a.r.in_len, 20);
	assert_int_equal(pop(t, &b), 0);
	assert_int_equal(vdev_vq_complete(t->vq, &a.r, 20), 1);
	/* Published in pop order at the positions the chains took: 0, 2, 3. */
	pused(t, 0, &id, &len, &fl);
	assert_int_equal(id, 4);
	assert_int_equal(len, 20);
	assert_int_equal(fl, D_AVAIL | D_USED | D_WRITE);
	pused(t, 2, &id, &len, &fl);
	assert_int_equal(id, 2);
	assert_int_equal(len, 7);
	pused(t, 3, &id, &len, &fl);
	assert_int_equal(id, 0);
	assert_int_equal(len, 9);
	assert_int_equal(vdev_vq_inflight(t->vq), 0);
	/* The ring continues: the next list goes at 5 and wraps. */
	padd(t, two, 2, 1);
	assert_int_equal(pop(t, &a), 1);
	assert_int_equal(a.r.id, 1);
	assert_int_equal(vdev_vq_complete(t->vq, &a.r, 0), 1);
	pused(t, 5, &id, &len, &fl);
	assert_int_equal(id, 1);
	assert_int_equal(t->errors, 0);
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);
	vdev_state_reader_free(r2);
	vdev_state_writer_free(w2);
	free_t(t);
}

static void test_save_load_stopped_broken(void **state)
{
	struct t *t = new_t(1);
	vdev_state_writer *w;
	vdev_state_reader *r;
	vdev_vq *dst = dest_vq(t);
	struct rq q;

	(void)state;
	/* Stopped saves as stopped, and loading it stops a started queue. */
	r = save_reader(t, &w);
	{
		struct vdev_vq_config c = cfg_of(8, 0, 0);

		assert_int_equal(vdev_vq_start(dst, &c), 0);
	}
	assert_int_equal(vdev_vq_load(dst, r), 0);
	assert_false(vdev_vq_started(dst));
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);
	vdev_vq_free(dst);
	free_t(t);

	/* Broken stays broken, with no requests. */
	t = start(8, 0, 0);
	sdesc(t, 0, BUF, 8, 0, 0);
	savail(t, 0);
	assert_int_equal(pop(t, &q), 1);
	savail(t, 9);
	assert_int_equal(pop(t, &q), -EIO);
	r = save_reader(t, &w);
	dst = dest_vq(t);
	assert_int_equal(vdev_vq_load(dst, r), 0);
	assert_true(vdev_vq_broken(dst));
	assert_int_equal(vdev_vq_inflight(dst), 0);
	assert_int_equal(vdev_vq_flush(dst), 0);
	vdev_vq_free(dst);
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);
	free_t(t);
}

/* Build a VQUE blob by hand: ring fields as given, then the request records. */
struct ring_vals {
	uint32_t size, nreq;
	uint64_t features, desc;
	uint16_t last_avail, avail_shadow, used_idx;
	uint8_t broken;
};

static void put_blob(vdev_state_writer *w, const struct ring_vals *v, const uint8_t *reqs,
		     const size_t *lens, unsigned int n)
{
#define T4(s) VDEV_STATE_TAG(s[0], s[1], s[2], s[3])
	assert_int_equal(vdev_state_begin(w, T4("VQUE"), 1, VDEV_STATE_F_REQUIRED), 0);
	assert_int_equal(vdev_state_begin(w, T4("RING"), 1, VDEV_STATE_F_REQUIRED), 0);
	vdev_state_put_u8(w, T4("STRT"), 1);
	vdev_state_put_u8(w, T4("BRKN"), v->broken);
	vdev_state_put_u8(w, T4("NTFY"), 1);
	vdev_state_put_u8(w, T4("PEND"), 0);
	vdev_state_put_u32(w, T4("SIZE"), v->size);
	vdev_state_put_u32(w, T4("FLAG"), 0);
	vdev_state_put_u32(w, T4("MSEG"), 0);
	vdev_state_put_u64(w, T4("DESC"), v->desc);
	vdev_state_put_u64(w, T4("DRVA"), AVAIL);
	vdev_state_put_u64(w, T4("DEVA"), USED);
	vdev_state_put_u64(w, T4("FEAT"), BASE_FEATURES | v->features);
	vdev_state_put_u16(w, T4("LAVL"), v->last_avail);
	vdev_state_put_u16(w, T4("SAVL"), v->avail_shadow);
	vdev_state_put_u16(w, T4("UIDX"), v->used_idx);
	vdev_state_put_u16(w, T4("UFLS"), v->used_idx);
	vdev_state_put_u16(w, T4("AEVT"), 0);
	vdev_state_put_u16(w, T4("APOS"), 0);
	vdev_state_put_u8(w, T4("AWRP"), 1);
	vdev_state_put_u16(w, T4("UPOS"), 0);
	vdev_state_put_u8(w, T4("UWRP"), 1);
	vdev_state_put_u16(w, T4("FPOS"), 0);
	vdev_state_put_u8(w, T4("FWRP"), 1);
	vdev_state_put_u16(w, T4("FFLG"), 0);
	vdev_state_put_u32(w, T4("DEVT"), 0);
	vdev_state_put_u32(w, T4("NREQ"), v->nreq);
	assert_int_equal(vdev_state_end(w), 0);
	assert_int_equal(vdev_state_begin(w, T4("INFL"), 1, VDEV_STATE_F_REQUIRED), 0);
	for (unsigned int i = 0; i < n; i++) {
		assert_int_equal(vdev_state_put_bytes(w, T4("REQ "), reqs, lens[i]), 0);
		reqs += lens[i];
	}
	assert_int_equal(vdev_state_end(w), 0);
	assert_int_equal(vdev_state_end(w), 0);
#undef T4
}

/* A request record: id, ndesc, state, written, then (gpa, len, write) segments. */
static size_t req_rec(uint8_t *p, uint16_t id, uint16_t ndesc, uint8_t st, uint32_t nseg,
		      const uint64_t *gpa, const uint32_t *len, const uint32_t *wr)
{
	memset(p, 0, 16);
	vdev__put_le16(p, id);
	vdev__put_le16(p + 2, ndesc);
	p[4] = st;
	vdev__put_le32(p + 12, nseg);
	for (uint32_t i = 0; i < nseg; i++) {
		vdev__put_le64(p + 16 + 16 * i, gpa[i]);
		vdev__put_le32(p + 24 + 16 * i, len[i]);
		vdev__put_le32(p + 28 + 16 * i, wr[i]);
	}
	return 16 + 16 * (size_t)nseg;
}

/* Load a hand-made blob into a started queue; expect @err and the queue untouched. */
static void expect_load(const struct ring_vals *v, const uint8_t *reqs, const size_t *lens,
			unsigned int n, int err)
{
	struct t *t = start(8, 0, 0);
	vdev_state_writer *w;
	vdev_state_reader *r;
	const void *blob;
	size_t blen;
	struct rq q;

	sdesc(t, 0, BUF, 8, 0, 0);
	savail(t, 0);
	assert_int_equal(pop(t, &q), 1);
	assert_int_equal(vdev_state_writer_new(&w), 0);
	put_blob(w, v, reqs, lens, n);
	assert_int_equal(vdev_state_writer_finish(w, &blob, &blen), 0);
	assert_int_equal(vdev_state_reader_new(blob, blen, &r), 0);
	assert_int_equal(vdev_vq_load(t->vq, r), err);
	if (err) {
		assert_true(strlen(vdev_state_reader_error(r)) > 0);
		/* Unchanged: the request is still in flight and completes. */
		assert_int_equal(vdev_vq_size(t->vq), 8);
		assert_int_equal(vdev_vq_inflight(t->vq), 1);
		assert_int_equal(vdev_vq_complete(t->vq, &q.r, 0), 1);
		assert_int_equal(used_idx(t), 1);
	}
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);
	free_t(t);
}

static void test_load_validation(void **state)
{
	uint8_t buf[256];
	size_t lens[2];
	const uint64_t g1[] = { BUF, BUF + 64 }, gbad[] = { RAM_SIZE - 8 };
	const uint32_t l1[] = { 16, 32 }, w1[] = { 0, 1 }, wbad[] = { 1, 0 }, w2[] = { 0, 2 };
	struct ring_vals ok = { .size = 8, .nreq = 1, .desc = DESC, .last_avail = 1,
				.avail_shadow = 1 };
	struct ring_vals v;

	(void)state;
	/* The good one loads. */
	lens[0] = req_rec(buf, 3, 1, 0, 2, g1, l1, w1);
	expect_load(&ok, buf, lens, 1, 0);
	/* Sizes, alignment, RAM. */
	v = ok;
	v.size = 6;
	expect_load(&v, buf, lens, 1, -ERANGE);
	v = ok;
	v.size = 40000;
	expect_load(&v, buf, lens, 1, -ERANGE);
	v = ok;
	v.desc = DESC + 4;
	expect_load(&v, buf, lens, 1, -ERANGE);
	v = ok;
	v.desc = RAM_SIZE;
	expect_load(&v, buf, lens, 1, -EFAULT);
	/* Indices that do not fit the requests. */
	v = ok;
	v.nreq = 2;
	expect_load(&v, buf, lens, 1, -EBADMSG);
	v = ok;
	v.last_avail = 2;
	v.avail_shadow = 2;
	expect_load(&v, buf, lens, 1, -ERANGE);
	v = ok;
	v.avail_shadow = 20;
	expect_load(&v, buf, lens, 1, -ERANGE);
	/* Requests: id range, duplicates, segments. */
	lens[0] = req_rec(buf, 8, 1, 0, 2, g1, l1, w1);
	expect_load(&ok, buf, lens, 1, -ERANGE);
	v = ok;
	v.nreq = 2;
	v.last_avail = v.avail_shadow = 2;
	lens[0] = req_rec(buf, 3, 1, 0, 2, g1, l1, w1);
	lens[1] = req_rec(buf + lens[0], 3, 1, 0, 2, g1, l1, w1);
	expect_load(&v, buf, lens, 2, -ERANGE);
	lens[0] = req_rec(buf, 3, 1, 0, 1, gbad, l1, w1);
	expect_load(&ok, buf, lens, 1, -EFAULT);
	lens[0] = req_rec(buf, 3, 1, 0, 2, g1, l1, wbad); /* writable then readable */
	expect_load(&ok, buf, lens, 1, -ERANGE);
	lens[0] = req_rec(buf, 3, 1, 0, 2, g1, l1, w2); /* unknown segment flag */
	expect_load(&ok, buf, lens, 1, -ERANGE);
	lens[0] = req_rec(buf, 3, 2, 0, 2, g1, l1, w1); /* split: one ring descriptor */
	expect_load(&ok, buf, lens, 1, -ERANGE);
	lens[0] = req_rec(buf, 3, 1, 7, 0, g1, l1, w1); /* unknown state */
	expect_load(&ok, buf, lens, 1, -ERANGE);
	lens[0] = req_rec(buf, 3, 1, 1, 2, g1, l1, w1); /* completed, with segments */
	expect_load(&ok, buf, lens, 1, -ERANGE);
	lens[0] = req_rec(buf, 3, 1, 0, 2, g1, l1, w1) - 1; /* truncated */
	expect_load(&ok, buf, lens, 1, -EBADMSG);
	/* Broken with requests. */
	v = ok;
	v.broken = 1;
	lens[0] = req_rec(buf, 3, 1, 0, 2, g1, l1, w1);
	expect_load(&v, buf, lens, 1, -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_checks),
		cmocka_unit_test(test_new_checks),
		cmocka_unit_test(test_split_basic),
		cmocka_unit_test(test_split_batch),
		cmocka_unit_test(test_split_zero_length),
		cmocka_unit_test(test_split_mixed_order),
		cmocka_unit_test(test_mixed_order_tables),
		cmocka_unit_test(test_split_enobufs),
		cmocka_unit_test(test_split_cross_region),
		cmocka_unit_test(test_split_indirect),
		cmocka_unit_test(test_packed_cross_region),
		cmocka_unit_test(test_split_rules),
		cmocka_unit_test(test_split_long_loop),
		cmocka_unit_test(test_split_read_only),
		cmocka_unit_test(test_chain_bytes),
		cmocka_unit_test(test_fast_regions),
		cmocka_unit_test(test_fast_iov_cap),
		cmocka_unit_test(test_fast_mixed_batch),
		cmocka_unit_test(test_packed_basic),
		cmocka_unit_test(test_packed_indirect),
		cmocka_unit_test(test_packed_rules),
		cmocka_unit_test(test_split_notify_flags),
		cmocka_unit_test(test_split_notify_event_idx),
		cmocka_unit_test(test_packed_notify),
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_remote_basic),
		cmocka_unit_test(test_remote_threads),
		cmocka_unit_test(test_dirty_logging),
		cmocka_unit_test(test_region_removed),
		cmocka_unit_test(test_save_load_split),
		cmocka_unit_test(test_save_load_packed),
		cmocka_unit_test(test_save_load_stopped_broken),
		cmocka_unit_test(test_load_validation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
