/* SPDX-License-Identifier: MIT */
/*
 * The virtqueue engine (vdev/virtqueue.h) driven by an independent test
 * driver (vdrv.h), split and packed: requests of every shape, data
 * integrity both ways, out-of-order and batched completion, notification
 * suppression counts, IN_ORDER, NOTIFICATION_DATA, 16-bit index and wrap
 * counter wrap-around, queue reset, remote completion from threads,
 * save/load with requests in flight, dirty logging.
 */
#include "test_vq_common.h"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#define EI FEAT(VDEV_VIRTIO_F_EVENT_IDX)
#define IND FEAT(VDEV_VIRTIO_F_INDIRECT_DESC)
#define INO FEAT(VDEV_VIRTIO_F_IN_ORDER)
#define NDATA FEAT(VDEV_VIRTIO_F_NOTIFICATION_DATA)
#define RRESET FEAT(VDEV_VIRTIO_F_RING_RESET)

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* A request of @nr readable segments of @rl bytes and @nw writable ones of @wl. */
static void rq_simple(struct fx *f, struct rq *r, unsigned int nr, uint32_t rl, unsigned int nw,
		      uint32_t wl)
{
	uint32_t len[MAXSEG];
	uint8_t wr[MAXSEG];

	for (unsigned int i = 0; i < nr + nw; i++) {
		len[i] = i < nr ? rl : wl;
		wr[i] = i >= nr;
	}
	rq_alloc(f, r, len, wr, nr + nw, 8);
}

/* Pop one request and check it is @r. */
static void dev_expect(struct fx *f, struct dq *q, const struct rq *r)
{
	assert_int_equal(dev_pop(f, q), 1);
	assert_int_equal(q->r.id, r->id);
	assert_int_equal(q->r.out_len, r->out_bytes);
	assert_int_equal(q->r.in_len, r->in_bytes);
	dev_check_iov(f, &q->r);
}

/* ---- request shapes ------------------------------------------------------ */

struct shape {
	const char *name;
	unsigned int n;
	uint32_t len[MAXSEG];
	uint8_t wr[MAXSEG];
	uint64_t align;
};

static const struct shape shapes[] = {
	{ "1 readable", 1, { 64 }, { 0 }, 8 },
	{ "1 writable", 1, { 512 }, { 1 }, 8 },
	{ "virtio-scsi 51R+108W+4KW", 3, { 51, 108, 4096 }, { 0, 1, 1 }, 8 },
	{ "odd sizes and addresses", 4, { 1, 3, 7, 1 }, { 0, 0, 1, 1 }, 1 },
	{ "zero-length readable inside", 4, { 16, 0, 16, 32 }, { 0, 0, 0, 1 }, 8 },
	{ "zero-length writable inside", 4, { 16, 32, 0, 8 }, { 0, 1, 1, 1 }, 8 },
	{ "page crossing", 2, { 6000, 9000 }, { 0, 1 }, 8 },
	{ "readable only, 20 segments", 20,
	  { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 },
	  { 0 }, 4 },
};

/* Build a 64-segment shape: 32 readable then 32 writable. */
static void shape_many(struct shape *s)
{
	memset(s, 0, sizeof(*s));
	s->name = "64 segments";
	s->n = 64;
	s->align = 2;
	for (unsigned int i = 0; i < 64; i++) {
		s->len[i] = i < 32 ? 1 + i * 3 : 2 + (i - 32) * 5;
		s->wr[i] = i >= 32;
	}
}

static void run_shape(struct fx *f, const struct shape *s, unsigned int flags, uint32_t seed,
		      int mixed)
{
	struct rq r;
	struct dq q;
	struct vdrv_used u;
	uint32_t half, w;

	rq_alloc(f, &r, s->len, s->wr, s->n, s->align);
	/* Full write, then a partial one (the rest must stay untouched). */
	for (int pass = 0; pass < 2; pass++) {
		rq_fill(f, &r, seed + (uint32_t)pass);
		if (mixed)
			r.id = vdrv_add_mixed(&f->d, r.seg, r.nseg, r.nseg / 2, 77);
		else
			r.id = drv_add(f, r.seg, r.nseg, flags, 77);
		assert_true(r.id >= 0);
		assert_int_equal(vdrv_publish(&f->d), 1);
		dev_expect(f, &q, &r);
		assert_int_equal(vdev_vq_inflight(f->vq), 1);
		half = (uint32_t)(r.in_bytes / 2);
		w = dev_serve(f, &q.r, pass ? half : UINT64_MAX);
		assert_int_equal(w, pass ? half : r.in_bytes);
		assert_int_equal(vdev_vq_push(f->vq, &q.r, w), 0);
		assert_int_equal(vdev_vq_inflight(f->vq), 0);
		assert_true(vdev_vq_flush(f->vq) >= 0);
		u = drv_get(f);
		if (u.id != r.id || u.len != w || u.token != 77)
			fail_msg("%s: used id %u len %u, want %d %u", s->name, u.id, u.len, r.id,
				 w);
		rq_check(f, &r, w);
		drv_none(f);
		assert_int_equal(dev_pop(f, &q), 0);
	}
}

static void shapes_case(int packed, unsigned int flags)
{
	struct fx *f = fx_new(packed, 128, IND);
	struct shape many;

	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		run_shape(f, &shapes[i], flags, (uint32_t)i * 7 + 1, 0);
	shape_many(&many);
	run_shape(f, &many, flags, 99, 0);
	/* Normal operation logs no warnings (not even for written == in_len). */
	assert_int_equal(warn_lines(f), 0);
	assert_int_equal(f->errors, 0);
	assert_int_equal(vdev_vq_broken(f->vq), 0);
	fx_free(f);
}

static void test_shapes_split(void **state)
{
	(void)state;
	shapes_case(0, 0);
}

static void test_shapes_split_indirect(void **state)
{
	(void)state;
	shapes_case(0, VDRV_ADD_INDIRECT);
}

static void test_shapes_packed(void **state)
{
	(void)state;
	shapes_case(1, 0);
}

static void test_shapes_packed_indirect(void **state)
{
	(void)state;
	shapes_case(1, VDRV_ADD_INDIRECT);
}

/* §2.7.5.3.2: chained ring descriptors followed by one INDIRECT descriptor are valid. */
static void test_split_direct_then_indirect(void **state)
{
	struct fx *f = fx_new(0, 64, IND);
	struct shape many;

	(void)state;
	run_shape(f, &shapes[2], 0, 5, 1);
	run_shape(f, &shapes[3], 0, 6, 1);
	shape_many(&many);
	run_shape(f, &many, 0, 7, 1);
	assert_int_equal(f->errors, 0);
	fx_free(f);
}

/* §2.8.6: the packed Buffer ID is read from the LAST descriptor of a list. */
static void test_packed_id_in_last_desc(void **state)
{
	struct fx *f = fx_new(1, 16, 0);

	(void)state;
	f->d.id_last_only = 1; /* the other descriptors carry id 0xffff */
	run_shape(f, &shapes[2], 0, 8, 0);
	run_shape(f, &shapes[3], 0, 9, 0);
	assert_int_equal(f->errors, 0);
	fx_free(f);
}

/* A buffer crossing the boundary of two adjacent RAM regions: one iovec per region. */
static void test_buffer_spans_regions(void **state)
{
	for (int packed = 0; packed <= 1; packed++) {
		struct fx *f = fx_new_ram(packed, 8, 0, 12u << 20, 3);
		uint32_t len[2] = { 300, 700 };
		uint8_t wr[2] = { 0, 1 };
		struct rq r;
		struct dq q;
		uint32_t w;

		(void)state;
		for (unsigned int i = 0; i < 3; i++) {
			f->reg[i].gpa = (uint64_t)i << 22;
			f->reg[i].size = 4u << 20;
		}
		f->nreg = 3;
		rq_alloc(f, &r, len, wr, 2, 8);
		/* The readable segment straddles gpa 4 MiB, the writable one 8 MiB. */
		r.seg[0].gpa = (4u << 20) - 99;
		r.seg[1].gpa = (8u << 20) - 200;
		rq_fill(f, &r, 3);
		drv_submit(f, &r, 0, 1);
		dev_expect(f, &q, &r);
		assert_int_equal(q.r.out_num, 2);
		assert_int_equal(q.r.in_num, 2);
		w = dev_serve(f, &q.r, UINT64_MAX);
		assert_int_equal(vdev_vq_complete(f->vq, &q.r, w), 1);
		assert_int_equal(drv_get(f).len, 700);
		rq_check(f, &r, 700);
		fx_free(f);
	}
}

/* ---- lifecycle ------------------------------------------------------------ */

static void test_lifecycle(void **state)
{
	struct fx *f = fx_new(0, 0, 0);
	struct vdev_vq_ops ops = fx_ops;
	struct dq q;
	vdev_vq *v = NULL;

	(void)state;
	ops.notify = NULL;
	assert_int_equal(vdev_vq_new(f->mv.ctx, &ops, f, &v), -EINVAL);
	assert_null(v);
	assert_int_equal(vdev_vq_started(f->vq), 0);
	assert_int_equal(vdev_vq_size(f->vq), 0);
	assert_int_equal(dev_pop(f, &q), -ENODEV);
	assert_int_equal(vdev_vq_flush(f->vq), -ENODEV);
	assert_int_equal(vdev_vq_reap(f->vq), -ENODEV);
	assert_int_equal(vdev_vq_notify_enable(f->vq, 1), -ENODEV);
	assert_int_equal(vdrv_vq_init(&f->d, &f->mem, 8, f->features), 0);
	assert_int_equal(fx_start(f, 0, 0), 0);
	assert_int_equal(fx_start(f, 0, 0), -EBUSY);
	assert_int_equal(vdev_vq_size(f->vq), 8);
	assert_int_equal(dev_pop(f, &q), 0);
	assert_int_equal(vdev_vq_flush(f->vq), 0);
	assert_int_equal(f->notifies, 0);
	vdev_vq_stop(f->vq);
	vdev_vq_stop(f->vq);
	assert_int_equal(vdev_vq_started(f->vq), 0);
	vdev_vq_free(NULL);
	fx_free(f);
}

/* ---- queue sizes and ring wrap ------------------------------------------- */

/*
 * Fill the ring with chains of 1..3 descriptors (the last one writable),
 * pop all, complete all in one flush, collect: four rounds, so packed
 * chains straddle the ring end and split free lists get shuffled.
 */
static void sizes_case(int packed, uint32_t size)
{
	struct fx *f = fx_new_ram(packed, size, 0, 24u << 20, 1);
	uint64_t data = vdrv_alloc(&f->mem, 64ull * size, 64);
	struct vdev_vq_req *reqs = calloc(size, sizeof(*reqs));
	struct iovec *iov = calloc(4ull * size, sizeof(*iov));
	uint8_t *seen = calloc(size, 1);

	assert_true(reqs && iov && seen && data != VDRV_NOMEM);
	assert_int_equal(vdev_vq_size(f->vq), size);
	for (unsigned int round = 0; round < 4; round++) {
		unsigned int len = 1 + (round % 3), n;
		struct vdrv_seg s[3];
		struct vdrv_used u;
		struct dq q;

		if (len > size)
			len = size;
		n = size / len;
		for (unsigned int i = 0; i <= n; i++) {
			for (unsigned int k = 0; k < len; k++) {
				s[k].gpa = data + 64ull * (i % size) + 16 * k;
				s[k].len = 16;
				s[k].write = k + 1 == len;
			}
			/* One more chain than fits must be refused by the driver. */
			if (i == n)
				assert_int_equal(vdrv_add(&f->d, s, len, 0, i), -ENOSPC);
			else
				assert_true(drv_add(f, s, len, 0, i) >= 0);
		}
		assert_int_equal(vdrv_publish(&f->d), n);
		for (unsigned int i = 0; i < n; i++) {
			memset(&reqs[i], 0, sizeof(reqs[i]));
			reqs[i].iov = iov + 4ull * i;
			reqs[i].iov_cap = 4;
			assert_int_equal(vdev_vq_pop(f->vq, &reqs[i]), 1);
			assert_int_equal(reqs[i].out_len, 16 * (len - 1));
			assert_int_equal(reqs[i].in_len, 16);
		}
		assert_int_equal(dev_pop(f, &q), 0);
		assert_int_equal(vdev_vq_inflight(f->vq), n);
		for (unsigned int i = 0; i < n; i++)
			assert_int_equal(vdev_vq_push(f->vq, &reqs[i], 8), 0);
		assert_int_equal(vdev_vq_flush(f->vq), 1);
		memset(seen, 0, size);
		for (unsigned int i = 0; i < n; i++) {
			u = drv_get(f);
			assert_true(u.token < n && !seen[u.token]);
			seen[u.token] = 1;
			assert_int_equal(u.len, 8);
		}
		drv_none(f);
		assert_int_equal(vdrv_inflight(&f->d), 0);
	}
	assert_int_equal(f->errors, 0);
	free(reqs);
	free(iov);
	free(seen);
	fx_free(f);
}

static void test_sizes_split(void **state)
{
	static const uint32_t sizes[] = { 1, 2, 4, 256, 32768 };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		sizes_case(0, sizes[i]);
}

static void test_sizes_packed(void **state)
{
	static const uint32_t sizes[] = { 1, 2, 3, 7, 255, 1000, 32768 };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		sizes_case(1, sizes[i]);
}

/* ---- completion order and batching ----------------------------------------- */

static void shuffle(unsigned int *a, unsigned int n, uint64_t *seed)
{
	for (unsigned int i = 0; i < n; i++)
		a[i] = i;
	for (unsigned int i = n; i > 1; i--) {
		unsigned int j = (unsigned int)(rng_next(seed) % i), t = a[i - 1];

		a[i - 1] = a[j];
		a[j] = t;
	}
}

static void ooo_case(int packed)
{
	enum { N = 20 };
	struct fx *f = fx_new(packed, 128, IND);
	static struct rq r[N];
	static struct dq q[N];
	unsigned int perm[N], before;
	uint64_t seed = 42;
	struct vdrv_used u;

	for (unsigned int i = 0; i < N; i++) {
		rq_simple(f, &r[i], 1 + i % 2, 24 + i, 1 + i % 3, 100 + 3 * i);
		rq_fill(f, &r[i], i);
		r[i].id = drv_add(f, r[i].seg, r[i].nseg, i % 4 == 3 ? VDRV_ADD_INDIRECT : 0,
				   i);
	}
	assert_int_equal(vdrv_publish(&f->d), N);
	/* The device takes them in ring order (§2.7.13, §2.8.12). */
	for (unsigned int i = 0; i < N; i++)
		dev_expect(f, &q[i], &r[i]);
	shuffle(perm, N, &seed);
	/* Half completed one by one, in a random order. */
	for (unsigned int k = 0; k < N / 2; k++) {
		unsigned int j = perm[k];
		uint32_t w = dev_serve(f, &q[j].r, r[j].in_bytes - k);

		before = f->notifies;
		assert_int_equal(vdev_vq_complete(f->vq, &q[j].r, w), 1);
		assert_int_equal(f->notifies, before + 1);
		assert_int_equal(vdrv_interrupts_enable(&f->d), 1);
		u = drv_get(f);
		assert_int_equal(u.id, r[j].id);
		assert_int_equal(u.token, j);
		assert_int_equal(u.len, w);
		rq_check(f, &r[j], w);
		drv_none(f);
	}
	/* The other half pushed in a random order, one flush. */
	for (unsigned int k = N / 2; k < N; k++) {
		unsigned int j = perm[k];

		uint32_t w = dev_serve(f, &q[j].r, UINT64_MAX);

		assert_int_equal(vdev_vq_push(f->vq, &q[j].r, w), 0);
	}
	assert_int_equal(vdrv_interrupts_enable(&f->d), 0);
	before = f->notifies;
	assert_int_equal(vdev_vq_flush(f->vq), 1);
	assert_int_equal(f->notifies, before + 1);
	for (unsigned int k = N / 2; k < N; k++) {
		unsigned int j = perm[k];

		u = drv_get(f);
		assert_int_equal(u.token, j);
		assert_int_equal(u.len, r[j].in_bytes);
		rq_check(f, &r[j], u.len);
	}
	drv_none(f);
	assert_int_equal(vdev_vq_inflight(f->vq), 0);
	fx_free(f);
}

static void test_out_of_order_split(void **state)
{
	(void)state;
	ooo_case(0);
}

static void test_out_of_order_packed(void **state)
{
	(void)state;
	ooo_case(1);
}

static void batch_case(int packed)
{
	enum { N = 40 };
	struct fx *f = fx_new(packed, 128, 0);
	static struct rq r[N];
	struct vdev_vq_req reqs[32];
	struct iovec iov[32][8];
	unsigned int got = 0;
	int n;

	for (unsigned int i = 0; i < N; i++) {
		rq_simple(f, &r[i], 1, 16, 1, 32);
		rq_fill(f, &r[i], i);
		r[i].id = drv_add(f, r[i].seg, r[i].nseg, 0, i);
	}
	assert_int_equal(vdrv_publish(&f->d), N);
	for (int pass = 0; pass < 3; pass++) {
		for (unsigned int i = 0; i < 32; i++) {
			memset(&reqs[i], 0, sizeof(reqs[i]));
			reqs[i].iov = iov[i];
			reqs[i].iov_cap = 8;
		}
		n = vdev_vq_pop_batch(f->vq, reqs, 32);
		assert_int_equal(n, pass == 0 ? 32 : pass == 1 ? N - 32 : 0);
		for (int i = 0; i < n; i++) {
			struct rq *x = &r[got + (unsigned int)i];

			assert_int_equal(reqs[i].id, x->id);
			assert_int_equal(vdev_vq_push(f->vq, &reqs[i],
						      dev_serve(f, &reqs[i], UINT64_MAX)), 0);
		}
		got += (unsigned int)n;
	}
	/* 40 completions, one flush: one interrupt. */
	assert_int_equal(vdev_vq_flush(f->vq), 1);
	assert_int_equal(f->notifies, 1);
	assert_int_equal(vdev_vq_flush(f->vq), 0);
	for (unsigned int i = 0; i < N; i++) {
		struct vdrv_used u = drv_get(f);

		assert_int_equal(u.token, i);
		rq_check(f, &r[i], u.len);
	}
	drv_none(f);

	/* A batch stops before a request that does not fit its iovecs. */
	rq_simple(f, &r[0], 1, 8, 0, 0);
	rq_simple(f, &r[1], 0, 0, 1, 8);
	rq_simple(f, &r[2], 2, 8, 3, 8);
	for (unsigned int i = 0; i < 3; i++)
		r[i].id = drv_add(f, r[i].seg, r[i].nseg, 0, i);
	vdrv_publish(&f->d);
	for (unsigned int i = 0; i < 3; i++) {
		memset(&reqs[i], 0, sizeof(reqs[i]));
		reqs[i].iov = iov[i];
		reqs[i].iov_cap = 2;
	}
	assert_int_equal(vdev_vq_pop_batch(f->vq, reqs, 3), 2);
	assert_int_equal(vdev_vq_pop_batch(f->vq, reqs + 2, 1), -ENOBUFS);
	reqs[2].iov_cap = 8;
	assert_int_equal(vdev_vq_pop_batch(f->vq, reqs + 2, 1), 1);
	assert_int_equal(reqs[2].id, r[2].id);
	for (unsigned int i = 0; i < 3; i++)
		assert_int_equal(vdev_vq_push(f->vq, &reqs[i], 0), 0);
	assert_int_equal(vdev_vq_flush(f->vq), 1);
	for (unsigned int i = 0; i < 3; i++)
		assert_int_equal(drv_get(f).token, i);
	assert_int_equal(f->errors, 0);
	fx_free(f);
}

static void test_batch_split(void **state)
{
	(void)state;
	batch_case(0);
}

static void test_batch_packed(void **state)
{
	(void)state;
	batch_case(1);
}

/* -ENOBUFS leaves the request available and the queue healthy. */
static void enobufs_case(int packed, unsigned int flags)
{
	struct fx *f = fx_new(packed, 8, IND);
	struct rq r;
	struct dq q;

	rq_simple(f, &r, 2, 10, 2, 20);
	rq_fill(f, &r, 1);
	drv_submit(f, &r, flags, 5);
	for (uint32_t cap = 0; cap < 4; cap++) {
		dq_prep(&q);
		q.r.iov_cap = cap;
		assert_int_equal(vdev_vq_pop(f->vq, &q.r), -ENOBUFS);
	}
	assert_int_equal(vdev_vq_broken(f->vq), 0);
	assert_int_equal(vdev_vq_inflight(f->vq), 0);
	dq_prep(&q);
	q.r.iov_cap = 4;
	assert_int_equal(vdev_vq_pop(f->vq, &q.r), 1);
	assert_int_equal(q.r.id, r.id);
	assert_int_equal(vdev_vq_complete(f->vq, &q.r, dev_serve(f, &q.r, UINT64_MAX)), 1);
	assert_int_equal(drv_get(f).token, 5);
	rq_check(f, &r, 40);
	assert_int_equal(f->errors, 0);
	fx_free(f);
}

static void test_pop_enobufs(void **state)
{
	(void)state;
	enobufs_case(0, 0);
	enobufs_case(0, VDRV_ADD_INDIRECT);
	enobufs_case(1, 0);
	enobufs_case(1, VDRV_ADD_INDIRECT);
}

static void push_errors_case(int packed)
{
	struct fx *f = fx_new(packed, 8, 0);
	struct rq r[2];
	struct dq q[2], fake;

	for (unsigned int i = 0; i < 2; i++) {
		rq_simple(f, &r[i], 1, 8, 1, 100);
		rq_fill(f, &r[i], i);
		drv_submit(f, &r[i], 0, i);
		dev_expect(f, &q[i], &r[i]);
	}
	assert_int_equal(vdev_vq_push(f->vq, &q[0].r, 10), 0);
	assert_int_equal(vdev_vq_push(f->vq, &q[0].r, 10), -EINVAL);
	fake = q[1];
	fake.r.iov = fake.iov;
	fake.r.id = (uint16_t)(r[1].id ^ 4); /* never made available */
	assert_int_equal(vdev_vq_push(f->vq, &fake.r, 1), -EINVAL);
	assert_int_equal(vdev_vq_inflight(f->vq), 1);
	/* More than the writable bytes: a device bug, clamped and logged. */
	mock_vmm_clear_events(&f->mv);
	dev_serve(f, &q[1].r, UINT64_MAX);
	assert_int_equal(vdev_vq_push(f->vq, &q[1].r, 1000), 0);
	assert_true(f->mv.n_log >= 1);
	assert_int_equal(vdev_vq_flush(f->vq), 1);
	assert_int_equal(drv_get(f).len, 10);
	assert_int_equal(drv_get(f).len, 100);
	assert_int_equal(vdev_vq_complete_remote(f->vq, (uint16_t)r[0].id, 1), -EINVAL);
	/* Ids beyond the queue. */
	fake.r.id = 8;
	assert_int_equal(vdev_vq_push(f->vq, &fake.r, 1), -EINVAL);
	fake.r.id = 0xffff;
	assert_int_equal(vdev_vq_push(f->vq, &fake.r, 1), -EINVAL);
	assert_int_equal(vdev_vq_complete_remote(f->vq, 8, 1), -EINVAL);
	assert_int_equal(vdev_vq_complete_remote(f->vq, 0xffff, 1), -EINVAL);
	assert_int_equal(f->errors, 0);
	assert_int_equal(vdev_vq_broken(f->vq), 0);
	vdev_vq_stop(f->vq);
	assert_int_equal(vdev_vq_push(f->vq, &q[1].r, 1), -ENODEV);
	fx_free(f);
}

static void test_push_errors(void **state)
{
	(void)state;
	push_errors_case(0);
	push_errors_case(1);
}

/* ---- notification suppression ------------------------------------------------- */

/* A pool of 1-writable-segment requests for counting tests. */
struct pool {
	uint64_t data;
	struct dq q[65]; /* 64 requests and the pop that finds none */
};

static void pool_init(struct fx *f, struct pool *p)
{
	p->data = vdrv_alloc(&f->mem, 64 * 64, 64);
	assert_true(p->data != VDRV_NOMEM);
}

/* Driver adds and publishes @n one-segment buffers (writable 32 B), tokens from @tok. */
static void pool_submit(struct fx *f, struct pool *p, unsigned int n, uint64_t tok)
{
	for (unsigned int i = 0; i < n; i++) {
		struct vdrv_seg s = { p->data + 64 * ((tok + i) % 64), 32, 1 };

		assert_true(drv_add(f, &s, 1, 0, tok + i) >= 0);
	}
	assert_int_equal(vdrv_publish(&f->d), n);
}

/* Device pops everything available into p->q; returns how many. */
static unsigned int pool_pop_all(struct fx *f, struct pool *p)
{
	unsigned int n = 0;
	int rc;

	while ((rc = dev_pop(f, &p->q[n])) == 1)
		n++;
	assert_int_equal(rc, 0);
	return n;
}

/* Driver collects @n buffers. */
static void pool_collect(struct fx *f, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(drv_get(f).len, 4);
	drv_none(f);
}

/*
 * Complete q[0..n) one at a time (push + flush); @return a bitmask of
 * the completions whose flush sent an interrupt (bit i = i-th), checking
 * the flush return value against the notify hook.
 */
static uint64_t complete_each(struct fx *f, struct dq *q, unsigned int n)
{
	uint64_t mask = 0;

	for (unsigned int i = 0; i < n; i++) {
		unsigned int before = f->notifies;
		int rc;

		assert_int_equal(vdev_vq_push(f->vq, &q[i].r, 4), 0);
		rc = vdev_vq_flush(f->vq);
		assert_true(rc == 0 || rc == 1);
		assert_int_equal(f->notifies, before + (unsigned int)rc);
		if (rc)
			mask |= 1ull << i;
	}
	return mask;
}

/* Push q[0..n) then flush once; @return the flush result. */
static int complete_batch(struct fx *f, struct dq *q, unsigned int n)
{
	unsigned int before = f->notifies;
	int rc;

	for (unsigned int i = 0; i < n; i++) {
		rc = vdev_vq_push(f->vq, &q[i].r, 4);
		if (rc)
			fail_msg("push %u of %u (id %u): %d", i, n, q[i].r.id, rc);
	}
	rc = vdev_vq_flush(f->vq);
	assert_int_equal(f->notifies, before + (unsigned int)rc);
	return rc;
}

static void irq_case(int packed, int ei)
{
	struct fx *f = fx_new(packed, 64, ei ? EI : 0);
	static struct pool p;
	uint64_t tok = 0;

	pool_init(f, &p);
	/* Enabled (the initial state): a batch of 32 and one flush: one interrupt. */
	pool_submit(f, &p, 32, tok);
	tok += 32;
	assert_int_equal(pool_pop_all(f, &p), 32);
	assert_int_equal(complete_batch(f, p.q, 32), 1);
	pool_collect(f, 32);

	/* Enabled and re-armed after each collect: one interrupt per completion. */
	assert_int_equal(vdrv_interrupts_enable(&f->d), 0);
	pool_submit(f, &p, 8, tok);
	tok += 8;
	assert_int_equal(pool_pop_all(f, &p), 8);
	for (unsigned int i = 0; i < 8; i++) {
		unsigned int before = f->notifies;

		assert_int_equal(vdev_vq_complete(f->vq, &p.q[i].r, 4), 1);
		assert_int_equal(f->notifies, before + 1);
		pool_collect(f, 1);
		assert_int_equal(vdrv_interrupts_enable(&f->d), 0);
	}

	/* Disabled (NO_INTERRUPT, used_event behind, or DISABLE): none at all. */
	vdrv_interrupts_disable(&f->d);
	pool_submit(f, &p, 32, tok);
	tok += 32;
	assert_int_equal(pool_pop_all(f, &p), 32);
	assert_int_equal(complete_each(f, p.q, 16), 0);
	assert_int_equal(complete_batch(f, p.q + 16, 16), 0);
	/* Re-enabling sees the waiting buffers (the driver re-checks, §2.7.14). */
	assert_int_equal(vdrv_interrupts_enable(&f->d), 1);
	pool_collect(f, 32);

	if (ei) {
		/* used_event / DESC event 16 entries ahead: exactly the 16th interrupts. */
		pool_submit(f, &p, 32, tok);
		tok += 32;
		assert_int_equal(pool_pop_all(f, &p), 32);
		assert_int_equal(vdrv_interrupt_after(&f->d, 16), 0);
		assert_int_equal(complete_each(f, p.q, 32), 1ull << 15);
		pool_collect(f, 32);
		/* ... and a batch that crosses the event interrupts once. */
		pool_submit(f, &p, 32, tok);
		tok += 32;
		assert_int_equal(pool_pop_all(f, &p), 32);
		assert_int_equal(vdrv_interrupt_after(&f->d, 20), 0);
		assert_int_equal(complete_batch(f, p.q, 10), 0);
		assert_int_equal(complete_batch(f, p.q + 10, 22), 1);
		pool_collect(f, 32);
	}
	assert_int_equal(f->errors, 0);
	fx_free(f);
}

static void test_irq_split(void **state)
{
	(void)state;
	irq_case(0, 0);
}

static void test_irq_split_event_idx(void **state)
{
	(void)state;
	irq_case(0, 1);
}

static void test_irq_packed(void **state)
{
	(void)state;
	irq_case(1, 0);
}

static void test_irq_packed_desc_event(void **state)
{
	(void)state;
	irq_case(1, 1);
}

/* Available-buffer notifications as the driver decides them (§2.7.10, §2.8.10). */
static void kick_case(int packed, int ei)
{
	struct fx *f = fx_new(packed, 64, ei ? EI : 0);
	static struct pool p;
	unsigned int kicks = 0, n;
	uint64_t tok = 0;

	pool_init(f, &p);
	/* A fresh queue wants the first kick. */
	pool_submit(f, &p, 1, tok++);
	assert_int_equal(vdrv_need_kick(&f->d), 1);
	/* Published again before the device looked: EVENT_IDX suppresses it. */
	pool_submit(f, &p, 1, tok++);
	if (packed && ei) {
		uint16_t off_wrap, flags;

		/* Packed: DESC mode is the device's choice; ENABLE is valid too. */
		vdrv_device_event(&f->d, &off_wrap, &flags);
		assert_int_equal(vdrv_need_kick(&f->d), (flags & 3) == VDRV_EVENT_DESC ? 0 : 1);
	} else {
		assert_int_equal(vdrv_need_kick(&f->d), ei ? 0 : 1);
	}
	assert_int_equal(pool_pop_all(f, &p), 2);
	assert_int_equal(complete_batch(f, p.q, 2), 1);
	pool_collect(f, 2);
	/* The device drained the ring: the next buffer must be kicked (no lost wake-up). */
	for (unsigned int round = 0; round < 5; round++) {
		pool_submit(f, &p, 1 + round, tok);
		tok += 1 + round;
		assert_int_equal(vdrv_need_kick(&f->d), 1);
		assert_int_equal(pool_pop_all(f, &p), 1 + round);
		complete_batch(f, p.q, 1 + round);
		pool_collect(f, 1 + round);
	}
	/* The device polls: it asks not to be kicked. */
	assert_int_equal(vdev_vq_notify_enable(f->vq, 0), 0);
	for (unsigned int i = 0; i < 10; i++) {
		pool_submit(f, &p, 1, tok++);
		kicks += (unsigned int)vdrv_need_kick(&f->d);
	}
	/*
	 * Flags-based suppression (NO_NOTIFY, DISABLE) stops them all. With
	 * EVENT_IDX the spec would let one through if avail_event stayed where
	 * it was; a device that parks it behind (as ours must) sends none.
	 */
	assert_int_equal(kicks, 0);
	assert_int_equal(n = pool_pop_all(f, &p), 10);
	complete_batch(f, p.q, n);
	pool_collect(f, n);
	/* Still polling: draining the ring must not re-arm the kicks. */
	kicks = 0;
	for (unsigned int i = 0; i < 10; i++) {
		pool_submit(f, &p, 1, tok++);
		kicks += (unsigned int)vdrv_need_kick(&f->d);
		assert_int_equal(pool_pop_all(f, &p), 1);
		complete_batch(f, p.q, 1);
		pool_collect(f, 1);
	}
	assert_int_equal(kicks, 0);
	for (unsigned int i = 0; i < 10; i++) {
		pool_submit(f, &p, 1, tok++);
		kicks += (unsigned int)vdrv_need_kick(&f->d);
	}
	/* Re-enabling reports what arrived meanwhile. */
	assert_int_equal(vdev_vq_notify_enable(f->vq, 1), 1);
	assert_int_equal(n = pool_pop_all(f, &p), 10);
	assert_int_equal(vdev_vq_notify_enable(f->vq, 1), 0);
	complete_batch(f, p.q, n);
	pool_collect(f, n);
	pool_submit(f, &p, 1, tok++);
	assert_int_equal(vdrv_need_kick(&f->d), 1);
	assert_int_equal(pool_pop_all(f, &p), 1);
	complete_batch(f, p.q, 1);
	pool_collect(f, 1);
	assert_int_equal(f->errors, 0);
	fx_free(f);
}

static void test_kick_split(void **state)
{
	(void)state;
	kick_case(0, 0);
}

static void test_kick_split_event_idx(void **state)
{
	(void)state;
	kick_case(0, 1);
}

static void test_kick_packed(void **state)
{
	(void)state;
	kick_case(1, 0);
}

static void test_kick_packed_event_idx(void **state)
{
	(void)state;
	kick_case(1, 1);
}

/* ---- IN_ORDER and NOTIFICATION_DATA ------------------------------------------- */

/*
 * VIRTIO_F_IN_ORDER: the driver hands out descriptors in ring order; the
 * device uses buffers in order and may cover a batch with one used entry
 * (§2.7.9, §2.8.8) - the driver accepts both.
 */
static void inorder_case(int packed)
{
	enum { N = 10 };
	struct fx *f = fx_new(packed, 32, INO | IND);
	static struct rq r[N];
	static struct dq q[N];

	for (unsigned int round = 0; round < 12; round++) {
		int each = round % 3 == 2;

		for (unsigned int i = 0; i < N; i++) {
			unsigned int k = round * N + i;

			rq_simple(f, &r[i], k % 3, 20 + k % 7, 1 + k % 2, 40 + k % 5);
			rq_fill(f, &r[i], k);
			r[i].id = drv_add(f, r[i].seg, r[i].nseg,
					   k % 4 == 1 ? VDRV_ADD_INDIRECT : 0, k);
		}
		assert_int_equal(vdrv_publish(&f->d), N);
		for (unsigned int i = 0; i < N; i++)
			dev_expect(f, &q[i], &r[i]);
		/* In order: in a batch with one flush (full lengths), or one by one (any). */
		for (unsigned int i = 0; i < N; i++) {
			uint32_t w = dev_serve(f, &q[i].r, each ? 1 + i : UINT64_MAX);

			if (each) {
				struct vdrv_used u;

				assert_true(vdev_vq_complete(f->vq, &q[i].r, w) >= 0);
				u = drv_get(f);
				assert_int_equal(u.token, round * N + i);
				assert_int_equal(u.len, w);
				assert_int_equal(u.skipped, 0);
				rq_check(f, &r[i], w);
			} else {
				assert_int_equal(vdev_vq_push(f->vq, &q[i].r, w), 0);
			}
		}
		if (!each) {
			assert_int_equal(vdev_vq_flush(f->vq), 1);
			for (unsigned int i = 0; i < N; i++) {
				struct vdrv_used u = drv_get(f);

				assert_int_equal(u.token, round * N + i);
				assert_int_equal(u.len, r[i].in_bytes);
				rq_check(f, &r[i], u.len);
			}
		}
		drv_none(f);
	}
	assert_int_equal(f->errors, 0);
	fx_free(f);
}

static void test_in_order_split(void **state)
{
	(void)state;
	inorder_case(0);
}

static void test_in_order_packed(void **state)
{
	(void)state;
	inorder_case(1);
}

/* VIRTIO_F_NOTIFICATION_DATA (§2.9): the kick says where the driver is. */
static void ndata_case(int packed)
{
	struct fx *f = fx_new(packed, 16, NDATA);
	static struct pool p;
	uint32_t stale;

	pool_init(f, &p);
	for (unsigned int round = 0; round < 20; round++) {
		unsigned int n = 1 + round % 5;

		stale = vdrv_notify_data(&f->d);
		assert_int_equal(vdev_vq_kick_data(f->vq, stale), 0);
		pool_submit(f, &p, n, round * 8);
		assert_true(vdrv_notify_data(&f->d) != stale);
		assert_int_equal(vdev_vq_kick_data(f->vq, vdrv_notify_data(&f->d)), 1);
		assert_int_equal(pool_pop_all(f, &p), n);
		assert_int_equal(vdev_vq_kick_data(f->vq, vdrv_notify_data(&f->d)), 0);
		complete_batch(f, p.q, n);
		pool_collect(f, n);
	}
	/* Implausible data (ahead of anything published) is not trusted. */
	assert_true(vdev_vq_kick_data(f->vq, (vdrv_notify_data(&f->d) + 5) & 0xffff) >= 0);
	assert_true(vdev_vq_kick_data(f->vq, 0xffffffffu) >= 0);
	assert_int_equal(pool_pop_all(f, &p), 0);
	assert_int_equal(vdev_vq_broken(f->vq), 0);
	pool_submit(f, &p, 3, 500);
	assert_int_equal(pool_pop_all(f, &p), 3);
	complete_batch(f, p.q, 3);
	pool_collect(f, 3);
	assert_int_equal(f->errors, 0);
	fx_free(f);
}

static void test_notification_data_split(void **state)
{
	(void)state;
	ndata_case(0);
}

static void test_notification_data_packed(void **state)
{
	(void)state;
	ndata_case(1);
}

/* ---- index wrap-around ---------------------------------------------------------- */

/*
 * More than 65536 requests in rounds of random size, chains of 1..3
 * descriptors, completed out of order with one flush per round: the
 * 16-bit indices (split) and the wrap counters (packed) go round many
 * times, and every flush must interrupt the armed driver.
 */
static void wrap_case(int packed, int ei, uint32_t size)
{
	enum { TOTAL = 70000 };
	struct fx *f = fx_new(packed, size, ei ? EI : 0);
	uint64_t data = vdrv_alloc(&f->mem, 64ull * size, 64);
	/* One more than the ring holds: the last pop of a round finds nothing. */
	struct vdev_vq_req *reqs = calloc(size + 1, sizeof(*reqs));
	struct iovec *iov = calloc(4ull * (size + 1), sizeof(*iov));
	uint32_t *sums = calloc(size, sizeof(*sums));
	uint8_t *seen = calloc(size, 1), *lens = calloc(size, 1);
	unsigned int *perm = calloc(size, sizeof(*perm));
	uint64_t seed = 7 + size, tok = 0;
	unsigned int flips = 0, rounds = 0;

	assert_true(reqs && iov && sums && seen && lens && perm && data != VDRV_NOMEM);
	while (tok < TOTAL) {
		unsigned int want = 1 + (unsigned int)(rng_next(&seed) % (size < 48 ? size : 48));
		unsigned int n = 0, m = 0;
		uint8_t wrap0 = f->d.avail_wrap;
		uint64_t tok0 = tok;
		int rc;

		while (n < want) {
			unsigned int len = 1 + (unsigned int)(rng_next(&seed) % 3);
			unsigned int slot = (unsigned int)(tok % size);
			struct vdrv_seg s[3];
			uint32_t h = FNV0;

			for (unsigned int k = 0; k < len; k++) {
				uint8_t *p = vdrv_host(&f->mem, data + 64ull * slot + 16 * k);

				s[k].gpa = data + 64ull * slot + 16 * k;
				s[k].len = 16;
				s[k].write = k + 1 == len;
				if (s[k].write) {
					memset(p, 0, 16);
				} else {
					for (unsigned int b = 0; b < 16; b++)
						p[b] = pat((uint32_t)tok, b + 16 * k);
					h = fnv(h, p, 16);
				}
			}
			rc = vdrv_add(&f->d, s, len, 0, tok);
			if (rc == -ENOSPC)
				break;
			assert_true(rc >= 0);
			sums[slot] = h;
			lens[slot] = (uint8_t)len;
			tok++;
			n++;
		}
		assert_true(n > 0);
		assert_int_equal(vdrv_publish(&f->d), n);
		if (packed && ei)
			assert_int_equal(vdrv_interrupt_after(&f->d, 1), 0);
		else
			vdrv_interrupts_enable(&f->d);
		for (;;) {
			memset(&reqs[m], 0, sizeof(reqs[m]));
			reqs[m].iov = iov + 4ull * m;
			reqs[m].iov_cap = 4;
			rc = vdev_vq_pop(f->vq, &reqs[m]);
			if (rc != 1)
				break;
			m++;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(m, n);
		shuffle(perm, m, &seed);
		for (unsigned int i = 0; i < m; i++)
			assert_int_equal(vdev_vq_push(f->vq, &reqs[perm[i]],
						      dev_serve(f, &reqs[perm[i]], 4)), 0);
		if (vdev_vq_flush(f->vq) != 1)
			fail_msg("round %u (token %llu): flush did not interrupt", rounds,
				 (unsigned long long)tok0);
		memset(seen, 0, size);
		for (unsigned int i = 0; i < m; i++) {
			struct vdrv_used u = drv_get(f);
			unsigned int slot = u.token % size;
			const uint8_t *w;

			assert_true(u.token >= tok0 && u.token < tok);
			assert_false(seen[slot]);
			seen[slot] = 1;
			assert_int_equal(u.len, 4);
			/* The writable segment is the last one of the slot's chain. */
			w = vdrv_host(&f->mem, data + 64ull * slot + 16 * (lens[slot] - 1));
			for (unsigned int b = 0; b < 4; b++)
				assert_int_equal(w[b], pat(sums[slot], b));
		}
		drv_none(f);
		flips += f->d.avail_wrap != wrap0;
		rounds++;
	}
	if (packed)
		assert_true(flips > 100);
	else
		assert_true(tok > 65536 && f->d.avail_idx == (uint16_t)tok);
	assert_int_equal(f->errors, 0);
	free(reqs);
	free(iov);
	free(sums);
	free(seen);
	free(lens);
	free(perm);
	fx_free(f);
}

static void test_wrap_split(void **state)
{
	(void)state;
	wrap_case(0, 0, 256);
	wrap_case(0, 1, 8);
}

static void test_wrap_split_event_idx(void **state)
{
	(void)state;
	wrap_case(0, 1, 256);
	wrap_case(0, 0, 4);
}

static void test_wrap_packed(void **state)
{
	(void)state;
	wrap_case(1, 0, 250);
	wrap_case(1, 1, 5);
}

static void test_wrap_packed_event_idx(void **state)
{
	(void)state;
	wrap_case(1, 1, 250);
	wrap_case(1, 0, 3);
}

/* ---- queue reset --------------------------------------------------------------- */

/* VIRTIO_F_RING_RESET (§2.6.1): stop forgets everything; the re-enabled queue starts fresh. */
static void reset_case(int packed)
{
	struct fx *f = fx_new(packed, 16, RRESET);
	static struct rq r[5];
	static struct dq q[5];

	for (unsigned int i = 0; i < 5; i++) {
		rq_simple(f, &r[i], 1, 8, 1, 8);
		rq_fill(f, &r[i], i);
		r[i].id = drv_add(f, r[i].seg, r[i].nseg, 0, i);
	}
	vdrv_publish(&f->d);
	for (unsigned int i = 0; i < 3; i++)
		dev_expect(f, &q[i], &r[i]);
	assert_int_equal(vdev_vq_complete(f->vq, &q[0].r, 8), 1);
	assert_int_equal(vdev_vq_inflight(f->vq), 2);
	assert_int_equal(vdev_vq_push(f->vq, &q[1].r, 8), 0); /* staged, never flushed */

	vdev_vq_stop(f->vq);
	assert_int_equal(vdev_vq_started(f->vq), 0);
	assert_int_equal(vdev_vq_size(f->vq), 0);
	assert_int_equal(vdev_vq_inflight(f->vq), 0);
	assert_int_equal(dev_pop(f, &q[3]), -ENODEV);
	assert_true(vdev_vq_complete_remote(f->vq, (uint16_t)r[2].id, 8) < 0);
	assert_int_equal(vdev_vq_push(f->vq, &q[2].r, 8), -ENODEV);

	/* The driver re-enables the queue with fresh rings (same addresses). */
	vdrv_vq_reset(&f->d);
	assert_int_equal(fx_start(f, 0, 0), 0);
	assert_int_equal(dev_pop(f, &q[3]), 0);
	assert_int_equal(vdev_vq_inflight(f->vq), 0);
	for (unsigned int i = 0; i < 5; i++) {
		rq_fill(f, &r[i], 100 + i);
		r[i].id = drv_add(f, r[i].seg, r[i].nseg, 0, 10 + i);
	}
	vdrv_publish(&f->d);
	for (unsigned int i = 0; i < 5; i++)
		dev_expect(f, &q[i], &r[i]);
	assert_int_equal(dev_pop(f, &q[0]), 0);
	for (unsigned int i = 0; i < 5; i++)
		assert_int_equal(vdev_vq_push(f->vq, &q[i].r, dev_serve(f, &q[i].r, 8)), 0);
	assert_int_equal(vdev_vq_flush(f->vq), 1);
	for (unsigned int i = 0; i < 5; i++) {
		struct vdrv_used u = drv_get(f);

		assert_int_equal(u.token, 10 + i);
		rq_check(f, &r[i], u.len);
	}
	drv_none(f);
	assert_int_equal(f->errors, 0);
	fx_free(f);
}

static void test_ring_reset_split(void **state)
{
	(void)state;
	reset_case(0);
}

static void test_ring_reset_packed(void **state)
{
	(void)state;
	reset_case(1);
}

/* ---- remote completion --------------------------------------------------------- */

struct worker {
	struct fx *f;
	struct vdev_vq_req *reqs;
	unsigned int n, w, nw;
	int write;          /* write data before completing */
	unsigned int ok, bad;
};

/* A backend thread: serve its share in reverse order and complete remotely. */
static void *worker_main(void *arg)
{
	struct worker *wk = arg;

	for (int i = (int)wk->n - 1 - (int)wk->w; i >= 0; i -= (int)wk->nw) {
		const struct vdev_vq_req *r = &wk->reqs[i];
		uint32_t h = FNV0, written = 0;

		if (wk->write) {
			/* No cmocka here: assertions are not thread-safe. */
			for (uint32_t k = 0; k < r->out_num; k++)
				h = fnv(h, r->iov[k].iov_base, r->iov[k].iov_len);
			for (uint32_t k = r->out_num; k < r->out_num + r->in_num; k++)
				for (size_t b = 0; b < r->iov[k].iov_len; b++)
					((uint8_t *)r->iov[k].iov_base)[b] = pat(h, written++);
		}
		if (vdev_vq_complete_remote(wk->f->vq, r->id, written) == 0)
			wk->ok++;
		else
			wk->bad++;
	}
	return NULL;
}

static void remote_case(int packed)
{
	enum { N = 128, NW = 4 };
	struct fx *f = fx_new(packed, 2 * N, 0);
	static struct rq r[N];
	static struct vdev_vq_req reqs[N];
	static struct iovec iov[N][4];
	struct worker wk[NW];
	pthread_t th[NW];

	for (unsigned int i = 0; i < N; i++)
		rq_simple(f, &r[i], 1, 16, 1, 64);
	for (unsigned int round = 0; round < 10; round++) {
		int published = 0;
		long spins = 0;

		for (unsigned int i = 0; i < N; i++) {
			rq_fill(f, &r[i], round * N + i);
			r[i].id = drv_add(f, r[i].seg, r[i].nseg, 0, i);
		}
		assert_int_equal(vdrv_publish(&f->d), N);
		for (unsigned int i = 0; i < N; i++) {
			memset(&reqs[i], 0, sizeof(reqs[i]));
			reqs[i].iov = iov[i];
			reqs[i].iov_cap = 4;
			assert_int_equal(vdev_vq_pop(f->vq, &reqs[i]), 1);
		}
		__atomic_store_n(&f->wakes, 0, __ATOMIC_RELAXED);
		for (unsigned int w = 0; w < NW; w++) {
			wk[w] = (struct worker){ f, reqs, N, w, NW, 1, 0, 0 };
			assert_int_equal(pthread_create(&th[w], NULL, worker_main, &wk[w]), 0);
		}
		/* The queue thread publishes while the backends are still completing. */
		while (published < N) {
			int rc = vdev_vq_reap(f->vq);

			assert_true(rc >= 0);
			published += rc;
			if (!rc)
				sched_yield();
			if (++spins > 50000000L)
				fail_msg("reap stalled at %d of %d", published, N);
		}
		for (unsigned int w = 0; w < NW; w++) {
			assert_int_equal(pthread_join(th[w], NULL), 0);
			assert_int_equal(wk[w].bad, 0);
			assert_int_equal(wk[w].ok, N / NW);
		}
		assert_int_equal(published, N);
		assert_int_equal(vdev_vq_reap(f->vq), 0);
		assert_true(__atomic_load_n(&f->wakes, __ATOMIC_RELAXED) >= 1);
		assert_int_equal(vdev_vq_inflight(f->vq), 0);
		for (unsigned int i = 0; i < N; i++) {
			struct vdrv_used u = drv_get(f);

			assert_int_equal(u.len, 64);
			rq_check(f, &r[u.token], 64);
		}
		drv_none(f);
	}
	/* Not in flight any more. */
	assert_int_equal(vdev_vq_complete_remote(f->vq, reqs[0].id, 0), -EINVAL);
	assert_int_equal(f->errors, 0);
	fx_free(f);
}

static void test_remote_threads_split(void **state)
{
	(void)state;
	remote_case(0);
}

static void test_remote_threads_packed(void **state)
{
	(void)state;
	remote_case(1);
}

/* Two threads race to complete the same 64 ids: each id succeeds exactly once. */
static void test_remote_double_completion(void **state)
{
	enum { N = 64 };
	struct fx *f = fx_new(0, N, 0);
	static struct pool p;
	static struct vdev_vq_req reqs[N];
	struct worker wk[2];
	pthread_t th[2];
	unsigned int n;

	(void)state;
	pool_init(f, &p);
	pool_submit(f, &p, N, 0);
	n = pool_pop_all(f, &p);
	assert_int_equal(n, N);
	for (unsigned int i = 0; i < N; i++)
		reqs[i] = p.q[i].r;
	for (unsigned int w = 0; w < 2; w++) {
		wk[w] = (struct worker){ f, reqs, N, 0, 1, 0, 0, 0 };
		assert_int_equal(pthread_create(&th[w], NULL, worker_main, &wk[w]), 0);
	}
	for (unsigned int w = 0; w < 2; w++)
		assert_int_equal(pthread_join(th[w], NULL), 0);
	assert_int_equal(wk[0].ok + wk[1].ok, N);
	assert_int_equal(wk[0].bad + wk[1].bad, N);
	assert_int_equal(vdev_vq_reap(f->vq), N);
	for (unsigned int i = 0; i < N; i++)
		assert_int_equal(drv_get(f).len, 0);
	drv_none(f);
	fx_free(f);
}

/* ---- save / load ------------------------------------------------------------------ */

static int save_blob(vdev_vq *vq, vdev_state_writer **w, const void **blob, size_t *len)
{
	int rc = vdev_state_writer_new(w);

	if (rc)
		return rc;
	rc = vdev_vq_save(vq, *w);
	return rc ? rc : vdev_state_writer_finish(*w, blob, len);
}

static int load_blob(vdev_vq *vq, const void *blob, size_t len)
{
	vdev_state_reader *rd;
	int rc = vdev_state_reader_new(blob, len, &rd);

	if (rc)
		return rc;
	rc = vdev_vq_load(vq, rd);
	vdev_state_reader_free(rd);
	return rc;
}

/*
 * Ten requests popped, three completed, one maybe only staged (pushed, not
 * flushed), four more published but not popped; save; load into a fresh
 * queue (same context, or a new context with a copy of RAM); the
 * destination pops the in-flight ones first, then the new ones, and the
 * driver sees every request completed exactly once.
 */
static void saveload_case(int packed, int fresh, int staged, unsigned int warm)
{
	enum { N = 14 };
	struct fx *f = fx_new(packed, 32, IND);
	static struct rq r[N];
	static struct dq q[N];
	unsigned int done[N] = { 0 }, repop = 0, fresh_pops = 0, inflight_src;
	struct mock_vmm *dst = NULL;
	vdev_state_writer *w;
	const void *blob;
	size_t len;
	struct vdrv_used u;
	uint64_t wdata = vdrv_alloc(&f->mem, 64, 64);

	/* Move the indices first: 20 two-descriptor requests put a packed ring in lap 2. */
	for (unsigned int k = 0; k < warm; k++) {
		struct vdrv_seg s[2] = { { wdata, 16, 0 }, { wdata + 16, 16, 1 } };

		drv_add(f, s, 2, 0, 100 + k);
		vdrv_publish(&f->d);
		assert_int_equal(dev_pop(f, &q[0]), 1);
		assert_true(vdev_vq_complete(f->vq, &q[0].r, 16) >= 0);
		assert_int_equal(drv_get(f).token, 100 + k);
	}
	for (unsigned int i = 0; i < N; i++) {
		rq_simple(f, &r[i], 1 + i % 2, 30 + i, 1 + i % 2, 50 + i);
		rq_fill(f, &r[i], 1000 + i);
	}
	for (unsigned int i = 0; i < 10; i++) {
		unsigned int fl = i % 3 == 2 ? VDRV_ADD_INDIRECT : 0;

		r[i].id = drv_add(f, r[i].seg, r[i].nseg, fl, i);
	}
	vdrv_publish(&f->d);
	for (unsigned int i = 0; i < 10; i++)
		dev_expect(f, &q[i], &r[i]);
	for (unsigned int i = 0; i < 10; i += 4) { /* 0, 4, 8 */
		unsigned int j = i == 8 ? 7 : i;

		assert_true(vdev_vq_complete(f->vq, &q[j].r, dev_serve(f, &q[j].r, 20)) >= 0);
		u = drv_get(f);
		assert_int_equal(u.token, j);
		done[j]++;
		rq_check(f, &r[j], u.len);
	}
	if (staged)
		assert_int_equal(vdev_vq_push(f->vq, &q[8].r, dev_serve(f, &q[8].r, 20)), 0);
	inflight_src = vdev_vq_inflight(f->vq);
	assert_int_equal(inflight_src, staged ? 6 : 7);
	for (unsigned int i = 10; i < N; i++) {
		r[i].id = drv_add(f, r[i].seg, r[i].nseg, 0, i);
	}
	vdrv_publish(&f->d);

	assert_int_equal(save_blob(f->vq, &w, &blob, &len), 0);
	vdev_vq_free(f->vq);
	f->vq = NULL;
	if (fresh) {
		dst = calloc(1, sizeof(*dst));
		assert_non_null(dst);
		assert_int_equal(mock_vmm_init(dst, f->mv.ram_size, 1), 0);
		memcpy(dst->ram, f->mv.ram, f->mv.ram_size);
		memset(f->mv.ram, 0xee, f->mv.ram_size); /* the source is gone */
		f->base = dst->ram;
		f->mem.base = dst->ram;
	}
	assert_int_equal(vdev_vq_new(fresh ? dst->ctx : f->mv.ctx, &fx_ops, f, &f->vq), 0);
	assert_int_equal(load_blob(f->vq, blob, len), 0);
	vdev_state_writer_free(w);
	assert_int_equal(vdev_vq_started(f->vq), 1);
	assert_int_equal(vdev_vq_size(f->vq), 32);

	/* Pop everything: in-flight first, then the new ones in ring order. */
	for (unsigned int k = 0;; k++) {
		unsigned int t = N;
		int rc = dev_pop(f, &q[10]);

		assert_true(rc == 0 || rc == 1);
		if (!rc)
			break;
		/* Outstanding requests have distinct ids; finished ones may share theirs. */
		for (unsigned int i = 0; i < N; i++)
			if (r[i].id == q[10].r.id && !done[i])
				t = i;
		if (t == N)
			fail_msg("pop %u: id %u is not an outstanding request", k, q[10].r.id);
		if (t < 10) {
			if (fresh_pops)
				fail_msg("in-flight request %u re-popped after a new one", t);
			repop++;
		} else {
			assert_int_equal(t, 10 + fresh_pops);
			fresh_pops++;
		}
		assert_int_equal(q[10].r.out_len, r[t].out_bytes);
		assert_int_equal(q[10].r.in_len, r[t].in_bytes);
		assert_int_equal(vdev_vq_complete(f->vq, &q[10].r,
						  dev_serve(f, &q[10].r, UINT64_MAX)) >= 0, 1);
		done[t] += 10; /* completed by the destination */
	}
	assert_int_equal(fresh_pops, 4);
	assert_true(repop == 7 || (staged && repop == 6));
	assert_int_equal(vdev_vq_flush(f->vq) >= 0, 1);
	while (vdrv_get_used(&f->d, &u) == 1) {
		assert_true(u.token < N);
		assert_true(done[u.token] == 10 || (staged && u.token == 8 && !done[8]));
		done[u.token] = 1;
		rq_check(f, &r[u.token], u.len);
	}
	assert_string_equal(vdrv_error(&f->d), "");
	for (unsigned int i = 0; i < N; i++)
		if (done[i] != 1)
			fail_msg("request %u: completion state %u", i, done[i]);
	assert_int_equal(f->errors, 0);
	vdev_vq_free(f->vq);
	f->vq = NULL;
	if (dst) {
		mock_vmm_fini(dst);
		free(dst);
	}
	fx_free(f);
}

static void test_save_load_split(void **state)
{
	(void)state;
	saveload_case(0, 0, 0, 0);
	saveload_case(0, 1, 0, 0);
	saveload_case(0, 1, 0, 20);
}

static void test_save_load_packed(void **state)
{
	(void)state;
	saveload_case(1, 0, 0, 0);
	saveload_case(1, 1, 0, 0);
	/* Saved in the second lap (wrap counters 0), lists crossing the ring end. */
	saveload_case(1, 1, 0, 20);
	saveload_case(1, 0, 0, 27);
}

/* A completion pushed but not flushed when the state is saved is not lost. */
static void test_save_load_staged_push(void **state)
{
	(void)state;
	saveload_case(0, 1, 1, 0);
	saveload_case(1, 1, 1, 0);
	saveload_case(1, 1, 1, 21);
}

/* A load that fails leaves the destination queue as it was. */
static void test_load_rejects(void **state)
{
	for (int packed = 0; packed <= 1; packed++) {
		struct fx *a = fx_new_ram(packed, 0, 0, 16u << 20, 1);
		struct fx *b = fx_new_ram(packed, 8, 0, 8u << 20, 1);
		vdev_state_writer *w, *junk;
		const void *blob;
		size_t len;
		struct rq r;
		struct dq q;

		(void)state;
		/* The source's rings sit above the destination's RAM. */
		a->mem.next = 12u << 20;
		assert_int_equal(vdrv_vq_init(&a->d, &a->mem, 8, a->features), 0);
		assert_int_equal(fx_start(a, 0, 0), 0);
		assert_int_equal(save_blob(a->vq, &w, &blob, &len), 0);

		rq_simple(b, &r, 1, 8, 1, 8);
		rq_fill(b, &r, 1);
		drv_submit(b, &r, 0, 1);
		assert_int_equal(load_blob(b->vq, blob, len), -EFAULT);
		assert_int_equal(vdev_vq_started(b->vq), 1);
		assert_int_equal(vdev_vq_size(b->vq), 8);

		/* A stream that is not a queue's state. */
		assert_int_equal(vdev_state_writer_new(&junk), 0);
		assert_int_equal(vdev_state_put_u32(junk, VDEV_STATE_TAG('J', 'U', 'N', 'K'), 5),
				 0);
		assert_int_equal(vdev_state_writer_finish(junk, &blob, &len), 0);
		assert_true(load_blob(b->vq, blob, len) < 0);
		assert_int_equal(vdev_vq_started(b->vq), 1);

		dev_expect(b, &q, &r);
		assert_int_equal(vdev_vq_complete(b->vq, &q.r, dev_serve(b, &q.r, 8)), 1);
		assert_int_equal(drv_get(b).token, 1);
		assert_int_equal(b->errors, 0);
		vdev_state_writer_free(w);
		vdev_state_writer_free(junk);
		fx_free(a);
		fx_free(b);
	}
}

/* ---- the VMM changes the memory map while queues run ------------------------------- */

#define MM_SPACE (64u << 20)
#define MM_DATA_GPA 0                   /* region: data, from the start */
#define MM_DATA_SIZE (16u << 20)
#define MM_NEW_GPA (32u << 20)          /* region added after start */
#define MM_NEW_SIZE (8u << 20)
#define MM_RING_GPA (48u << 20)         /* region holding the rings */
#define MM_RING_SIZE (1u << 20)

/*
 * Regions added after start are usable at once; a buffer in a removed
 * region is refused; and when the region holding the rings goes away
 * (its host memory made inaccessible), the queue stops touching it.
 */
static void mm_case(int packed)
{
	struct fx *f = calloc(1, sizeof(*f));
	uint8_t *space = mmap(NULL, MM_SPACE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	vdev_ctx *ctx;
	struct rq r;
	struct dq q;
	struct vdrv_mem rings;
	uint32_t len[2] = { 100, 200 };
	uint8_t wr[2] = { 0, 1 };

	assert_non_null(f);
	assert_true(space != MAP_FAILED);
	assert_int_equal(mock_vmm_init(&f->mv, 0, 0), 0);
	ctx = f->mv.ctx;
	assert_int_equal(vdev_mem_region_add(ctx, MM_DATA_GPA, MM_DATA_SIZE, space, 0), 0);
	assert_int_equal(vdev_mem_region_add(ctx, MM_RING_GPA, MM_RING_SIZE, space + MM_RING_GPA,
					     0), 0);
	f->base = space;
	f->reg[0].gpa = MM_DATA_GPA;
	f->reg[0].size = MM_DATA_SIZE;
	f->reg[1].gpa = MM_NEW_GPA;
	f->reg[1].size = MM_NEW_SIZE;
	f->nreg = 2;
	f->features = fx_features(packed, 0);
	vdrv_mem_init(&rings, space, MM_RING_GPA, MM_RING_GPA + MM_RING_SIZE);
	vdrv_mem_init(&f->mem, space, 0x1000, MM_DATA_SIZE);
	assert_int_equal(vdrv_vq_init(&f->d, &rings, 16, f->features), 0);
	assert_int_equal(vdev_vq_new(ctx, &fx_ops, f, &f->vq), 0);
	assert_int_equal(fx_start(f, 0, 0), 0);

	/* A region added while the queue runs. */
	assert_int_equal(vdev_mem_region_add(ctx, MM_NEW_GPA, MM_NEW_SIZE, space + MM_NEW_GPA, 0),
			 0);
	f->mem.next = MM_NEW_GPA + 4096;
	f->mem.hi = MM_NEW_GPA + MM_NEW_SIZE;
	rq_alloc(f, &r, len, wr, 2, 8);
	rq_fill(f, &r, 5);
	drv_submit(f, &r, 0, 1);
	dev_expect(f, &q, &r);
	for (uint32_t i = 0; i < q.r.out_num + q.r.in_num; i++)
		assert_true((uint8_t *)q.r.iov[i].iov_base >= space + MM_NEW_GPA &&
			    (uint8_t *)q.r.iov[i].iov_base < space + MM_NEW_GPA + MM_NEW_SIZE);
	assert_int_equal(vdev_vq_complete(f->vq, &q.r, dev_serve(f, &q.r, 200)), 1);
	rq_check(f, &r, drv_get(f).len);

	/* That region removed again (its memory gone) before the next request is popped. */
	rq_fill(f, &r, 6);
	drv_submit(f, &r, 0, 2);
	assert_int_equal(vdev_mem_region_remove(ctx, MM_NEW_GPA), 0);
	assert_int_equal(mprotect(space + MM_NEW_GPA, MM_NEW_SIZE, PROT_NONE), 0);
	assert_int_equal(dev_pop(f, &q), -EIO);
	assert_int_equal(f->errors, 1);
	vdev_vq_stop(f->vq);
	vdrv_vq_reset(&f->d);
	assert_int_equal(fx_start(f, 0, 0), 0);

	/* The rings' region removed and made inaccessible while started. */
	f->mem.next = 0x1000;
	f->mem.hi = MM_DATA_SIZE;
	rq_alloc(f, &r, len, wr, 2, 8);
	rq_fill(f, &r, 7);
	drv_submit(f, &r, 0, 3);
	dev_expect(f, &q, &r);
	assert_int_equal(vdev_mem_region_remove(ctx, MM_RING_GPA), 0);
	assert_int_equal(mprotect(space + MM_RING_GPA, MM_RING_SIZE, PROT_NONE), 0);
	assert_true(dev_pop(f, &q) < 0);
	assert_true(vdev_vq_flush(f->vq) <= 0);
	assert_true(vdev_vq_kick_data(f->vq, 0) <= 0);
	assert_true(vdev_vq_notify_enable(f->vq, 1) <= 0);
	(void)vdev_vq_reap(f->vq);
	/* Back again: a queue reset makes it usable. */
	assert_int_equal(mprotect(space + MM_RING_GPA, MM_RING_SIZE, PROT_READ | PROT_WRITE), 0);
	assert_int_equal(vdev_mem_region_add(ctx, MM_RING_GPA, MM_RING_SIZE, space + MM_RING_GPA,
					     0), 0);
	vdev_vq_stop(f->vq);
	vdrv_vq_reset(&f->d);
	assert_int_equal(fx_start(f, 0, 0), 0);
	rq_fill(f, &r, 8);
	drv_submit(f, &r, 0, 4);
	dev_expect(f, &q, &r);
	assert_int_equal(vdev_vq_complete(f->vq, &q.r, dev_serve(f, &q.r, 200)), 1);
	assert_int_equal(drv_get(f).token, 4);
	rq_check(f, &r, 200);

	vdev_vq_free(f->vq);
	vdrv_vq_fini(&f->d);
	mock_vmm_fini(&f->mv);
	munmap(space, MM_SPACE);
	free(f);
}

static void test_mem_map_changes_split(void **state)
{
	(void)state;
	mm_case(0);
}

static void test_mem_map_changes_packed(void **state)
{
	(void)state;
	mm_case(1);
}

/* ---- dirty logging -------------------------------------------------------------- */

#define PG VDEV_PAGE_SIZE

static int page_dirty(const uint64_t *bm, uint64_t gpa)
{
	uint64_t pg = gpa / PG;

	return !!(bm[pg / 64] & (1ull << (pg % 64)));
}

static void dirty_case(int packed)
{
	struct fx *f = fx_new(packed, 0, 0);
	const uint64_t desc = 0x20000, drv = 0x30000, dev = 0x40000;
	const uint64_t rd = 0x50000, w1 = 0x60000, w2 = 0x80000 - 0x800;
	uint32_t len[3] = { 100, 108, 4096 };
	uint8_t wr[3] = { 0, 1, 1 };
	static uint64_t bm[(16u << 20) / PG / 64];
	struct rq r;
	struct dq q;

	assert_int_equal(vdrv_vq_init_at(&f->d, &f->mem, 16, f->features, desc, drv, dev), 0);
	assert_int_equal(fx_start(f, 0, 0), 0);
	rq_alloc(f, &r, len, wr, 3, 8);
	r.seg[0].gpa = rd;
	r.seg[1].gpa = w1;
	r.seg[2].gpa = w2;
	rq_fill(f, &r, 4);
	assert_int_equal(vdev_mem_dirty_log_enable(f->mv.ctx, 1), 0);
	for (int pass = 0; pass < 2; pass++) {
		uint32_t want = pass ? 10 : (uint32_t)r.in_bytes;

		drv_submit(f, &r, 0, 9);
		dev_expect(f, &q, &r);
		assert_int_equal(vdev_vq_complete(f->vq, &q.r, dev_serve(f, &q.r, want)), 1);
		assert_int_equal(drv_get(f).len, want);
		memset(bm, 0, sizeof(bm));
		assert_true(vdev_mem_dirty_bitmap(f->mv.ctx, 0, bm, sizeof(bm) / 8, 1) >= 0);
		/* Written: the used ring (packed: the descriptor ring) and the written buffers. */
		assert_true(page_dirty(bm, packed ? desc : dev));
		assert_true(page_dirty(bm, w1));
		if (!pass) {
			assert_true(page_dirty(bm, w2));
			assert_true(page_dirty(bm, w2 + 0x800));
		}
		/* Only read by the device. */
		assert_false(page_dirty(bm, rd));
		assert_false(page_dirty(bm, drv));
		if (!packed)
			assert_false(page_dirty(bm, desc));
	}
	assert_int_equal(vdev_mem_dirty_log_enable(f->mv.ctx, 0), 0);
	fx_free(f);
}

static void test_dirty_log_split(void **state)
{
	(void)state;
	dirty_case(0);
}

static void test_dirty_log_packed(void **state)
{
	(void)state;
	dirty_case(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_shapes_split),
		cmocka_unit_test(test_shapes_split_indirect),
		cmocka_unit_test(test_shapes_packed),
		cmocka_unit_test(test_shapes_packed_indirect),
		cmocka_unit_test(test_split_direct_then_indirect),
		cmocka_unit_test(test_packed_id_in_last_desc),
		cmocka_unit_test(test_buffer_spans_regions),
		cmocka_unit_test(test_sizes_split),
		cmocka_unit_test(test_sizes_packed),
		cmocka_unit_test(test_out_of_order_split),
		cmocka_unit_test(test_out_of_order_packed),
		cmocka_unit_test(test_batch_split),
		cmocka_unit_test(test_batch_packed),
		cmocka_unit_test(test_pop_enobufs),
		cmocka_unit_test(test_push_errors),
		cmocka_unit_test(test_irq_split),
		cmocka_unit_test(test_irq_split_event_idx),
		cmocka_unit_test(test_irq_packed),
		cmocka_unit_test(test_irq_packed_desc_event),
		cmocka_unit_test(test_kick_split),
		cmocka_unit_test(test_kick_split_event_idx),
		cmocka_unit_test(test_kick_packed),
		cmocka_unit_test(test_kick_packed_event_idx),
		cmocka_unit_test(test_in_order_split),
		cmocka_unit_test(test_in_order_packed),
		cmocka_unit_test(test_notification_data_split),
		cmocka_unit_test(test_notification_data_packed),
		cmocka_unit_test(test_wrap_split),
		cmocka_unit_test(test_wrap_split_event_idx),
		cmocka_unit_test(test_wrap_packed),
		cmocka_unit_test(test_wrap_packed_event_idx),
		cmocka_unit_test(test_ring_reset_split),
		cmocka_unit_test(test_ring_reset_packed),
		cmocka_unit_test(test_remote_threads_split),
		cmocka_unit_test(test_remote_threads_packed),
		cmocka_unit_test(test_remote_double_completion),
		cmocka_unit_test(test_save_load_split),
		cmocka_unit_test(test_save_load_packed),
		cmocka_unit_test(test_save_load_staged_push),
		cmocka_unit_test(test_load_rejects),
		cmocka_unit_test(test_mem_map_changes_split),
		cmocka_unit_test(test_mem_map_changes_packed),
		cmocka_unit_test(test_dirty_log_split),
		cmocka_unit_test(test_dirty_log_packed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
