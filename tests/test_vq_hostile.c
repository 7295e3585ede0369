/* SPDX-License-Identifier: MIT */
/*
 * A hostile driver against the virtqueue engine: one test per validation
 * rule of the ring (VIRTIO 1.2 §2.7, §2.8). Each violating pop must return
 * -EIO, run the error hook once with a reason naming the rule, log exactly
 * one line, write nothing (outside the device-written ring area, and never
 * outside registered RAM: guard bytes around the RAM and in the gap
 * between its two regions are checked), and leave the queue broken until
 * it is stopped and started again.
 *
 * Not covered: a driver rewriting a descriptor while the device validates
 * it (TOCTOU) needs a second thread racing the pop; it is left to fuzzing
 * and review.
 */
#include "test_vq_common.h"

#include <strings.h>
#include <sys/mman.h>

#define KiB 1024u
#define MiB (1024u * 1024u)
#define GUARD (64 * KiB)
#define RAM_A (1 * MiB)               /* region A: gpa [0, 1 MiB) */
#define GAP (64 * KiB)                /* gpa [1 MiB, 1 MiB + 64 KiB): not RAM */
#define B_GPA (RAM_A + GAP)           /* region B: 1 MiB of RAM after the gap */
#define RAM_B (1 * MiB)
#define TOP (B_GPA + RAM_B)           /* end of the highest region */
#define CANARY 0xa5

#define D_NEXT VDRV_DESC_F_NEXT
#define D_W VDRV_DESC_F_WRITE
#define D_IND VDRV_DESC_F_INDIRECT
#define D_AV VDRV_DESC_F_AVAIL
#define D_US VDRV_DESC_F_USED

#define IND FEAT(VDEV_VIRTIO_F_INDIRECT_DESC)

struct hx {
	struct fx f;
	uint8_t *buf;       /* GUARD | region A | gap | region B | GUARD */
	uint8_t *snap;      /* copy of [0, TOP) before the violating pop */
	uint16_t avail;     /* raw split avail idx */
	uint32_t qflags;
	uint32_t max_segments;
	uint64_t data;      /* a scratch data area in region A */
};

static uint8_t *hx_base(struct hx *h)
{
	return h->buf + GUARD;
}

static void hx_canaries(struct hx *h)
{
	memset(h->buf, CANARY, GUARD);
	memset(hx_base(h) + RAM_A, CANARY, GAP);
	memset(hx_base(h) + TOP, CANARY, GUARD);
}

static void check_canaries(struct hx *h)
{
	const uint8_t *areas[3] = { h->buf, hx_base(h) + RAM_A, hx_base(h) + TOP };
	const size_t lens[3] = { GUARD, GAP, GUARD };

	for (int a = 0; a < 3; a++)
		for (size_t i = 0; i < lens[a]; i++)
			if (areas[a][i] != CANARY)
				fail_msg("byte outside RAM written: area %d offset %zu", a, i);
}

static struct hx *hx_new_flags(int packed, uint32_t size, uint64_t extra, uint32_t qflags,
			       uint32_t max_segments)
{
	struct hx *h = calloc(1, sizeof(*h));
	struct fx *f;

	assert_non_null(h);
	f = &h->f;
	h->buf = calloc(1, GUARD + TOP + GUARD);
	h->snap = malloc(TOP);
	assert_true(h->buf && h->snap);
	hx_canaries(h);
	assert_int_equal(mock_vmm_init(&f->mv, 0, 0), 0);
	assert_int_equal(vdev_mem_region_add(f->mv.ctx, 0, RAM_A, hx_base(h), 0), 0);
	assert_int_equal(vdev_mem_region_add(f->mv.ctx, B_GPA, RAM_B, hx_base(h) + B_GPA, 0), 0);
	f->base = hx_base(h);
	f->reg[0].gpa = 0;
	f->reg[0].size = RAM_A;
	f->reg[1].gpa = B_GPA;
	f->reg[1].size = RAM_B;
	f->nreg = 2;
	vdrv_mem_init(&f->mem, hx_base(h), 0x1000, RAM_A);
	f->features = fx_features(packed, extra);
	h->qflags = qflags;
	h->max_segments = max_segments;
	assert_int_equal(vdev_vq_new(f->mv.ctx, &fx_ops, f, &f->vq), 0);
	if (size) {
		assert_int_equal(vdrv_vq_init(&f->d, &f->mem, size, f->features), 0);
		assert_int_equal(fx_start(f, qflags, max_segments), 0);
	}
	h->data = vdrv_alloc(&f->mem, 64 * KiB, 4096);
	assert_true(h->data != VDRV_NOMEM);
	return h;
}

static struct hx *hx_new(int packed, uint32_t size, uint64_t extra)
{
	return hx_new_flags(packed, size, extra, 0, 0);
}

static void hx_free(struct hx *h)
{
	check_canaries(h);
	vdev_vq_free(h->f.vq);
	vdrv_vq_fini(&h->f.d);
	mock_vmm_fini(&h->f.mv);
	free(h->buf);
	free(h->snap);
	free(h);
}

/* ---- raw ring writers ------------------------------------------------------------ */

/* Split: make head @head available (raw: ring slot, then idx with release). */
static void split_publish(struct hx *h, uint16_t head)
{
	vdrv_avail_ring_set(&h->f.d, h->avail, head);
	h->avail++;
	vdrv_avail_idx_set(&h->f.d, h->avail);
}

static void sdesc(struct hx *h, uint32_t i, uint64_t addr, uint32_t len, uint16_t flags,
		  uint16_t next)
{
	vdrv_desc_set(&h->f.d, i, addr, len, flags, next);
}

/* Packed, first lap (wrap counter 1): an available descriptor; the head's flags go last. */
static void pdesc(struct hx *h, uint32_t pos, uint64_t addr, uint32_t len, uint16_t flags,
		  uint16_t id)
{
	vdrv_desc_set(&h->f.d, pos, addr, len, 0, id);
	vdrv_desc_flags_release(&h->f.d, pos, (uint16_t)(flags | D_AV));
}

/* An indirect table entry (split layout) at guest address @gpa, index @i. */
static void itab_split(struct hx *h, uint64_t gpa, uint32_t i, uint64_t addr, uint32_t len,
		       uint16_t flags, uint16_t next)
{
	vdrv_put_split_desc(vdrv_host(&h->f.mem, gpa + 16ull * i), addr, len, flags, next);
}

static void itab_packed(struct hx *h, uint64_t gpa, uint32_t i, uint64_t addr, uint32_t len,
			uint16_t flags)
{
	vdrv_put_packed_desc(vdrv_host(&h->f.mem, gpa + 16ull * i), addr, len, 0, flags);
}

/* ---- the checks --------------------------------------------------------------------- */

/* The device-written ring area: split used ring, packed device event suppression. */
static void device_area(struct hx *h, uint64_t *gpa, uint64_t *len)
{
	*gpa = h->f.d.device_gpa;
	*len = vdrv_device_bytes(h->f.d.packed, h->f.d.size);
}

static void snap_take(struct hx *h)
{
	memcpy(h->snap, hx_base(h), TOP);
}

/* The first byte of [from, to) that differs from the snapshot, or @to. */
static uint64_t snap_diff(struct hx *h, uint64_t from, uint64_t to)
{
	if (from >= to || !memcmp(hx_base(h) + from, h->snap + from, to - from))
		return to;
	while (hx_base(h)[from] == h->snap[from])
		from++;
	return from;
}

/* Nothing in [0, TOP) changed except the device-written ring area. */
static void snap_check(struct hx *h)
{
	uint64_t dg, dl, g;

	device_area(h, &dg, &dl);
	g = snap_diff(h, 0, dg);
	if (g == dg)
		g = snap_diff(h, dg + dl, TOP);
	if (g < TOP && (g < dg || g >= dg + dl))
		fail_msg("guest memory at gpa %#llx changed: %#x -> %#x", (unsigned long long)g,
			 h->snap[g], hx_base(h)[g]);
	check_canaries(h);
}

/* Does the reason mention one of @words (NULL-terminated), case-insensitively? */
static int names_rule(const char *reason, const char *const *words)
{
	for (; *words; words++)
		if (strcasestr(reason, *words))
			return 1;
	return 0;
}

/*
 * Pop; expect the violation as described in the file comment. @words name
 * the rule (any one may appear in the reason). Then check the queue stays
 * broken, and recovers after stop + start on reset rings.
 */
static void expect_violation_words(struct hx *h, const char *const *words)
{
	struct fx *f = &h->f;
	struct dq q;
	struct vdev_vq_req batch[2];
	struct iovec iov[2][8];
	unsigned int errors = f->errors;
	struct rq r;

	snap_take(h);
	mock_vmm_clear_events(&f->mv);
	assert_int_equal(dev_pop(f, &q), -EIO);
	assert_int_equal(f->errors, errors + 1);
	if (!names_rule(f->reason, words))
		fail_msg("error reason \"%s\" does not name the rule (%s, ...)", f->reason,
			 words[0]);
	if (warn_lines(f) != 1)
		fail_msg("%u warning/error log lines for one violation, want 1 (reason \"%s\")",
			 warn_lines(f), f->reason);
	assert_int_equal(vdev_vq_broken(f->vq), 1);
	snap_check(h);

	/* Broken until stopped: pops fail without new reports. */
	assert_int_equal(dev_pop(f, &q), -EIO);
	for (int i = 0; i < 2; i++) {
		memset(&batch[i], 0, sizeof(batch[i]));
		batch[i].iov = iov[i];
		batch[i].iov_cap = 8;
	}
	assert_int_equal(vdev_vq_pop_batch(f->vq, batch, 2), -EIO);
	/* Nothing is poppable: notifications and kicks say so. */
	assert_int_equal(vdev_vq_kick_data(f->vq, vdrv_notify_data(&f->d)), 0);
	assert_int_equal(vdev_vq_kick_data(f->vq, 1), 0);
	assert_int_equal(vdev_vq_notify_enable(f->vq, 1), 0);
	assert_int_equal(f->errors, errors + 1);
	assert_int_equal(warn_lines(f), 1);
	snap_check(h);

	/* Queue reset: a fresh ring works again. */
	vdev_vq_stop(f->vq);
	assert_int_equal(vdev_vq_broken(f->vq), 0);
	vdrv_vq_reset(&f->d);
	h->avail = 0;
	assert_int_equal(fx_start(f, h->qflags, h->max_segments), 0);
	assert_int_equal(vdev_vq_broken(f->vq), 0);
	f->mem.next = h->data + 32 * KiB;
	rq_alloc(f, &r, (const uint32_t[]){ 8, 8 }, (const uint8_t[]){ 0, 1 }, 2, 8);
	rq_fill(f, &r, 1);
	r.id = vdrv_add(&f->d, r.seg, 2, 0, 1);
	assert_true(r.id >= 0);
	vdrv_publish(&f->d);
	assert_int_equal(dev_pop(f, &q), 1);
	assert_int_equal(q.r.id, r.id);
	assert_true(vdev_vq_complete(f->vq, &q.r, dev_serve(f, &q.r, 8)) >= 0);
	assert_int_equal(drv_get(f).token, 1);
	rq_check(f, &r, 8);
	assert_int_equal(f->errors, errors + 1);
	check_canaries(h);
}

#define expect_violation(h, ...) \
	expect_violation_words((h), (const char *const[]){ __VA_ARGS__, NULL })

/* Words that name the "outside RAM" rule. */
#define W_RAM "ram", "memory", "outside", "fault", "map", "address", "region"

/* ---- descriptor indices and chains (split) ---------------------------------------- */

static void test_head_index_ge_size(void **state)
{
	struct hx *h = hx_new(0, 8, 0);

	(void)state;
	sdesc(h, 0, h->data, 16, 0, 0);
	split_publish(h, 8);
	expect_violation(h, "index", "range", "size", "head");
	hx_free(h);
}

static void test_next_index_ge_size(void **state)
{
	static const uint16_t bad[] = { 8, 9, 0xffff };

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct hx *h = hx_new(0, 8, 0);

		(void)state;
		sdesc(h, 0, h->data, 16, D_NEXT, 1);
		sdesc(h, 1, h->data + 16, 16, D_NEXT, bad[k]);
		split_publish(h, 0);
		expect_violation(h, "index", "range", "size", "next");
		hx_free(h);
	}
}

static void test_desc_loop(void **state)
{
	struct hx *h = hx_new(0, 8, 0);

	(void)state;
	sdesc(h, 0, h->data, 16, D_NEXT, 1);
	sdesc(h, 1, h->data + 16, 16, D_NEXT, 2);
	sdesc(h, 2, h->data + 32, 16, D_NEXT, 0);
	split_publish(h, 0);
	expect_violation(h, "loop", "cycle", "long", "chain");
	hx_free(h);
}

static void test_desc_self_loop(void **state)
{
	struct hx *h = hx_new(0, 32768, 0);

	(void)state;
	sdesc(h, 5, h->data, 16, D_NEXT, 5);
	split_publish(h, 5);
	expect_violation(h, "loop", "cycle", "long", "chain");
	hx_free(h);
}

/* More descriptors than the device's segment limit (the queue's max_segments). */
static void test_chain_longer_than_max_segments(void **state)
{
	struct hx *h = hx_new_flags(0, 16, 0, 0, 4);

	(void)state;
	for (uint16_t i = 0; i < 5; i++)
		sdesc(h, i, h->data + 16u * i, 16, i < 4 ? D_NEXT : 0, (uint16_t)(i + 1));
	split_publish(h, 0);
	expect_violation(h, "segment", "long", "max", "chain", "limit", "many");
	hx_free(h);
}

/* ---- indirect tables ------------------------------------------------------------------ */

static void test_indirect_len_zero(void **state)
{
	for (int packed = 0; packed <= 1; packed++) {
		struct hx *h = hx_new(packed, 8, IND);

		(void)state;
		if (packed) {
			pdesc(h, 0, h->data, 0, D_IND, 0);
		} else {
			sdesc(h, 0, h->data, 0, D_IND, 0);
			split_publish(h, 0);
		}
		expect_violation(h, "indirect", "table");
		hx_free(h);
	}
}

static void test_indirect_len_not_multiple_of_16(void **state)
{
	for (int packed = 0; packed <= 1; packed++) {
		struct hx *h = hx_new(packed, 8, IND);
		uint64_t t = h->data;

		(void)state;
		if (packed) {
			itab_packed(h, t, 0, h->data + 4096, 8, 0);
			itab_packed(h, t, 1, h->data + 4096 + 8, 8, D_W);
			pdesc(h, 0, t, 24, D_IND, 0);
		} else {
			itab_split(h, t, 0, h->data + 4096, 8, D_NEXT, 1);
			itab_split(h, t, 1, h->data + 4096 + 8, 8, D_W, 0);
			sdesc(h, 0, t, 24, D_IND, 0);
			split_publish(h, 0);
		}
		expect_violation(h, "indirect", "table");
		hx_free(h);
	}
}

/* A table with more entries than the queue has: a chain longer than the queue (§2.7.5.3.1). */
static void test_indirect_longer_than_queue(void **state)
{
	for (int packed = 0; packed <= 1; packed++) {
		struct hx *h = hx_new(packed, 8, IND);
		uint64_t t = h->data;

		(void)state;
		for (uint16_t i = 0; i < 9; i++) {
			if (packed)
				itab_packed(h, t, i, h->data + 4096 + 8u * i, 8, 0);
			else
				itab_split(h, t, i, h->data + 4096 + 8u * i, 8, i < 8 ? D_NEXT : 0,
					   (uint16_t)(i + 1));
		}
		if (packed) {
			pdesc(h, 0, t, 9 * 16, D_IND, 0);
		} else {
			sdesc(h, 0, t, 9 * 16, D_IND, 0);
			split_publish(h, 0);
		}
		expect_violation(h, "indirect", "table", "long", "large", "big", "size", "limit");
		hx_free(h);
	}
}

/* The queue's segment limit applies to indirect tables too. */
static void test_indirect_more_than_max_segments(void **state)
{
	for (int packed = 0; packed <= 1; packed++) {
		struct hx *h = hx_new_flags(packed, 64, IND, 0, 4);
		uint64_t t = h->data;

		(void)state;
		for (uint16_t i = 0; i < 5; i++) {
			if (packed)
				itab_packed(h, t, i, h->data + 4096 + 8u * i, 8, 0);
			else
				itab_split(h, t, i, h->data + 4096 + 8u * i, 8, i < 4 ? D_NEXT : 0,
					   (uint16_t)(i + 1));
		}
		if (packed) {
			pdesc(h, 0, t, 5 * 16, D_IND, 0);
		} else {
			sdesc(h, 0, t, 5 * 16, D_IND, 0);
			split_publish(h, 0);
		}
		expect_violation(h, "segment", "long", "max", "chain", "limit", "many", "indirect",
				 "table");
		hx_free(h);
	}
}

/* The limits are inclusive: a table of exactly the queue size, or of max_segments, is fine. */
static void test_indirect_at_limits_ok(void **state)
{
	for (int packed = 0; packed <= 1; packed++) {
		for (uint32_t maxseg = 0; maxseg <= 5; maxseg += 5) {
			struct hx *h = hx_new_flags(packed, 8, IND, 0, maxseg);
			uint32_t n = maxseg ? maxseg : 8;
			struct vdrv_seg s[8];
			struct dq q;

			(void)state;
			for (uint32_t i = 0; i < n; i++)
				s[i] = (struct vdrv_seg){ h->data + 64 * i, 8, i + 1 == n };
			assert_true(vdrv_add(&h->f.d, s, n, VDRV_ADD_INDIRECT, 1) >= 0);
			/* and a direct chain of the same length */
			assert_true(vdrv_add(&h->f.d, s, maxseg ? n : n / 2, 0, 2) >= 0);
			vdrv_publish(&h->f.d);
			assert_int_equal(dev_pop(&h->f, &q), 1);
			assert_int_equal(q.r.out_len, 8 * (n - 1));
			assert_int_equal(vdev_vq_complete(h->f.vq, &q.r, 8), 1);
			assert_int_equal(dev_pop(&h->f, &q), 1);
			assert_int_equal(vdev_vq_complete(h->f.vq, &q.r, 8), 1);
			assert_int_equal(h->f.errors, 0);
			assert_int_equal(drv_get(&h->f).token, 1);
			assert_int_equal(drv_get(&h->f).token, 2);
			hx_free(h);
		}
	}
}

/* An enormous table length: refused before anything is read from it. */
static void test_indirect_len_huge(void **state)
{
	struct hx *h = hx_new(0, 8, IND);

	(void)state;
	sdesc(h, 0, h->data, 0xfffffff0u, D_IND, 0);
	split_publish(h, 0);
	expect_violation(h, "indirect", "table", W_RAM);
	hx_free(h);
}

static void test_indirect_next_out_of_table(void **state)
{
	static const uint16_t bad[] = { 2, 3, 0xffff };

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct hx *h = hx_new(0, 8, IND);
		uint64_t t = h->data;

		(void)state;
		itab_split(h, t, 0, h->data + 4096, 8, D_NEXT, 1);
		/* the table has 2 entries */
		itab_split(h, t, 1, h->data + 4096 + 8, 8, D_NEXT, bad[k]);
		sdesc(h, 0, t, 32, D_IND, 0);
		split_publish(h, 0);
		expect_violation(h, "index", "range", "next", "indirect", "table");
		hx_free(h);
	}
}

static void test_indirect_loop(void **state)
{
	struct hx *h = hx_new(0, 8, IND);
	uint64_t t = h->data;

	(void)state;
	itab_split(h, t, 0, h->data + 4096, 8, D_NEXT, 1);
	itab_split(h, t, 1, h->data + 4096 + 8, 8, D_NEXT, 2);
	itab_split(h, t, 2, h->data + 4096 + 16, 8, D_NEXT, 0);
	sdesc(h, 0, t, 48, D_IND, 0);
	split_publish(h, 0);
	expect_violation(h, "loop", "cycle", "long", "chain", "indirect");
	hx_free(h);
}

static void test_nested_indirect(void **state)
{
	struct hx *h = hx_new(0, 8, IND);
	uint64_t t = h->data, t2 = h->data + 1024;

	(void)state;
	itab_split(h, t2, 0, h->data + 4096, 8, 0, 0);
	itab_split(h, t, 0, h->data + 4096, 8, D_NEXT, 1);
	itab_split(h, t, 1, t2, 16, D_IND, 0);
	sdesc(h, 0, t, 32, D_IND, 0);
	split_publish(h, 0);
	expect_violation(h, "nested", "indirect");
	hx_free(h);
}

/*
 * Packed: in an indirect table only WRITE is valid; the other flags (INDIRECT
 * and NEXT included) are reserved and ignored by the device (§2.8.7). A
 * "nested" table entry is then a plain 16-byte readable buffer.
 */
static void test_packed_indirect_table_flags_ignored(void **state)
{
	struct hx *h = hx_new(1, 8, IND);
	uint64_t t = h->data, t2 = h->data + 1024;
	struct fx *f = &h->f;
	struct dq q;

	(void)state;
	itab_packed(h, t2, 0, h->data + 4096, 8, 0);
	itab_packed(h, t, 0, h->data + 4096, 8, D_NEXT);
	itab_packed(h, t, 1, t2, 16, D_IND);
	itab_packed(h, t, 2, h->data + 4096 + 64, 32, D_W | D_NEXT | D_AV | D_US);
	pdesc(h, 0, t, 48, D_IND, 5);
	snap_take(h);
	assert_int_equal(dev_pop(f, &q), 1);
	dev_check_iov(f, &q.r);
	assert_int_equal(q.r.id, 5);
	assert_int_equal(q.r.out_len, 8 + 16);
	assert_int_equal(q.r.in_len, 32);
	assert_int_equal(f->errors, 0);
	snap_check(h);
	assert_int_equal(vdev_vq_complete(f->vq, &q.r, 32), 1);
	{
		uint64_t addr;
		uint32_t len;
		uint16_t fl, id;

		/* The used descriptor, read raw (the buffer bypassed the driver). */
		vdrv_desc_get(&f->d, 0, &addr, &len, &fl, &id);
		assert_int_equal(fl & (D_AV | D_US | D_W), D_AV | D_US | D_W);
		assert_int_equal(id, 5);
		assert_int_equal(len, 32);
	}
	hx_free(h);
}

static void test_indirect_with_next(void **state)
{
	struct hx *h = hx_new(0, 8, IND);
	uint64_t t = h->data;

	(void)state;
	itab_split(h, t, 0, h->data + 4096, 8, 0, 0);
	sdesc(h, 0, t, 16, D_IND | D_NEXT, 1);
	sdesc(h, 1, h->data + 4096 + 64, 8, D_W, 0);
	split_publish(h, 0);
	expect_violation(h, "indirect", "next");
	hx_free(h);
}

/* Packed: an INDIRECT descriptor inside a NEXT-linked list (§2.8.19). */
static void test_packed_indirect_in_chain(void **state)
{
	struct hx *h = hx_new(1, 8, IND);
	uint64_t t = h->data;

	(void)state;
	itab_packed(h, t, 0, h->data + 4096, 8, D_W);
	vdrv_desc_set(&h->f.d, 1, t, 16, D_IND | D_AV, 0);
	pdesc(h, 0, h->data + 4096 + 64, 8, D_NEXT, 0);
	expect_violation(h, "indirect");
	hx_free(h);
}

/* The INDIRECT flag without the feature negotiated (§2.7.5.3.1). */
static void test_indirect_not_negotiated(void **state)
{
	for (int packed = 0; packed <= 1; packed++) {
		struct hx *h = hx_new(packed, 8, 0);
		uint64_t t = h->data;

		(void)state;
		if (packed) {
			itab_packed(h, t, 0, h->data + 4096, 8, 0);
			pdesc(h, 0, t, 16, D_IND, 0);
		} else {
			itab_split(h, t, 0, h->data + 4096, 8, 0, 0);
			sdesc(h, 0, t, 16, D_IND, 0);
			split_publish(h, 0);
		}
		expect_violation(h, "indirect", "feature", "negotiat");
		hx_free(h);
	}
}

/* ---- buffers outside RAM -------------------------------------------------------------- */

/* One request whose segment @bad (of 3) is at [addr, addr + len). */
static void bad_buffer_case(int packed, int indirect, unsigned int bad, uint64_t addr,
			    uint32_t len)
{
	struct hx *h = hx_new(packed, 8, IND);
	uint64_t a[3] = { h->data, h->data + 256, h->data + 512 };
	uint32_t l[3] = { 51, 108, 200 };
	uint16_t w[3] = { 0, D_W, D_W };
	uint64_t t = h->data + 2048;

	a[bad] = addr;
	l[bad] = len;
	for (uint16_t i = 0; i < 3; i++) {
		uint16_t fl = (uint16_t)(w[i] | (i < 2 ? D_NEXT : 0));

		if (indirect && packed)
			itab_packed(h, t, i, a[i], l[i], w[i]);
		else if (indirect)
			itab_split(h, t, i, a[i], l[i], fl, (uint16_t)(i + 1));
		else if (packed && i)
			vdrv_desc_set(&h->f.d, i, a[i], l[i], (uint16_t)(fl | D_AV), 0);
		else if (!packed)
			sdesc(h, i, a[i], l[i], fl, (uint16_t)(i + 1));
	}
	if (packed && indirect)
		pdesc(h, 0, t, 48, D_IND, 0);
	else if (packed)
		pdesc(h, 0, a[0], l[0], D_NEXT, 0);
	if (!packed) {
		if (indirect)
			sdesc(h, 7, t, 48, D_IND, 0);
		split_publish(h, indirect ? 7 : 0);
	}
	expect_violation(h, W_RAM);
	hx_free(h);
}

static void bad_buffer_all(uint64_t addr, uint32_t len)
{
	for (int packed = 0; packed <= 1; packed++)
		for (int indirect = 0; indirect <= 1; indirect++)
			for (unsigned int bad = 0; bad < 3; bad++)
				bad_buffer_case(packed, indirect, bad, addr, len);
}

static void test_buffer_outside_ram(void **state)
{
	(void)state;
	bad_buffer_all(TOP + 0x10000, 64);
	bad_buffer_all(64ull << 30, 4096);
}

static void test_buffer_straddles_region_end(void **state)
{
	(void)state;
	bad_buffer_all(RAM_A - 16, 32);  /* region A into the gap */
	bad_buffer_all(TOP - 1, 2);      /* past the last region */
	bad_buffer_all(B_GPA - 4, 8);    /* from the gap into region B */
}

static void test_buffer_in_gap(void **state)
{
	(void)state;
	bad_buffer_all(RAM_A + 0x100, 64);
}

static void test_buffer_address_wraps(void **state)
{
	(void)state;
	bad_buffer_all(0xfffffffffffffff0ull, 0x20);
	bad_buffer_all(0xffffffffffffffffull, 1);
}

static void test_indirect_table_outside_ram(void **state)
{
	for (int packed = 0; packed <= 1; packed++) {
		static const uint64_t where[] = { RAM_A + 0x40, RAM_A - 16, TOP - 16 };

		for (size_t k = 0; k < 3; k++) {
			struct hx *h = hx_new(packed, 8, IND);

			(void)state;
			if (packed) {
				pdesc(h, 0, where[k], 32, D_IND, 0);
			} else {
				sdesc(h, 0, where[k], 32, D_IND, 0);
				split_publish(h, 0);
			}
			expect_violation(h, W_RAM, "indirect", "table");
			hx_free(h);
		}
	}
}

/* ---- chain length in bytes ------------------------------------------------------------ */

#define BIG_GPA (8ull << 30)
#define BIG_LEN (1ull << 31)

/* A 2 GiB region at gpa 8 GiB, reserved but never touched (zero-copy). */
static void *big_region(struct hx *h)
{
	void *p = mmap(NULL, BIG_LEN + 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	assert_true(p != MAP_FAILED);
	assert_int_equal(vdev_mem_region_add(h->f.mv.ctx, BIG_GPA, BIG_LEN + 4096, p, 0), 0);
	return p;
}

/* Two descriptors over the same 2 GiB: exactly 2^32 bytes is legal (§2.7.5.2). */
static void test_chain_total_exactly_4g_ok(void **state)
{
	for (int packed = 0; packed <= 1; packed++) {
		struct hx *h = hx_new(packed, 8, 0);
		void *big = big_region(h);
		struct dq q;
		struct vdrv_used u;
		struct vdrv_seg s[2] = { { BIG_GPA, (uint32_t)BIG_LEN, 0 },
					 { BIG_GPA, (uint32_t)BIG_LEN, 1 } };

		(void)state;
		/* 2^31 fits a u32 length; the pair sums to exactly 2^32. */
		assert_true(vdrv_add(&h->f.d, s, 2, 0, 3) >= 0);
		vdrv_publish(&h->f.d);
		assert_int_equal(dev_pop(&h->f, &q), 1);
		assert_int_equal(q.r.out_len, BIG_LEN);
		assert_int_equal(q.r.in_len, BIG_LEN);
		for (uint32_t i = 0; i < q.r.out_num + q.r.in_num; i++)
			assert_true((uint8_t *)q.r.iov[i].iov_base >= (uint8_t *)big &&
				    (uint8_t *)q.r.iov[i].iov_base + q.r.iov[i].iov_len <=
					    (uint8_t *)big + BIG_LEN + 4096);
		assert_true(vdev_vq_complete(h->f.vq, &q.r, 0) >= 0);
		assert_int_equal(vdrv_get_used(&h->f.d, &u), 1);
		assert_int_equal(u.token, 3);
		assert_int_equal(h->f.errors, 0);
		vdev_vq_free(h->f.vq);
		h->f.vq = NULL;
		hx_free(h);
		munmap(big, BIG_LEN + 4096);
	}
}

static void test_chain_total_over_4g(void **state)
{
	for (int packed = 0; packed <= 1; packed++) {
		struct hx *h = hx_new(packed, 8, 0);
		void *big = big_region(h);

		(void)state;
		if (packed) {
			vdrv_desc_set(&h->f.d, 1, BIG_GPA, (uint32_t)BIG_LEN, D_NEXT | D_AV, 0);
			vdrv_desc_set(&h->f.d, 2, BIG_GPA + 4096, 1, D_AV, 0);
			pdesc(h, 0, BIG_GPA, (uint32_t)BIG_LEN, D_NEXT, 0);
		} else {
			sdesc(h, 0, BIG_GPA, (uint32_t)BIG_LEN, D_NEXT, 1);
			sdesc(h, 1, BIG_GPA, (uint32_t)BIG_LEN, D_NEXT, 2);
			sdesc(h, 2, BIG_GPA + 4096, 1, 0, 0);
			split_publish(h, 0);
		}
		expect_violation(h, "total", "length", "large", "2^32", "4g", "4 gib", "overflow",
				 "exceed", "long", "big");
		vdev_vq_free(h->f.vq);
		h->f.vq = NULL;
		hx_free(h);
		munmap(big, BIG_LEN + 4096);
	}
}

/* ---- ordering and indices ---------------------------------------------------------- */

/* VDEV_VQ_F_READ_BEFORE_WRITE: a readable descriptor after a writable one (§2.7.4.2). */
static void test_write_before_read(void **state)
{
	for (int packed = 0; packed <= 1; packed++) {
		for (int indirect = 0; indirect <= 1; indirect++) {
			struct hx *h = hx_new_flags(packed, 8, IND, VDEV_VQ_F_READ_BEFORE_WRITE, 0);
			struct vdrv_seg s[3] = { { h->data, 16, 0 }, { h->data + 64, 16, 1 },
						 { h->data + 128, 16, 0 } };

			(void)state;
			unsigned int fl = indirect ? VDRV_ADD_INDIRECT : 0;

			assert_true(vdrv_add(&h->f.d, s, 3, fl, 1) >= 0);
			vdrv_publish(&h->f.d);
			expect_violation(h, "order", "writable", "readable", "before", "after",
					 "write", "read");
			hx_free(h);
		}
	}
}

/*
 * Without VDEV_VQ_F_READ_BEFORE_WRITE a device may take a chain that mixes
 * the order (§2.7.4.2 binds the driver). If it does, each kind keeps its
 * chain order: the readable bytes in sequence, the writable ones too.
 */
static void test_mixed_order_without_flag(void **state)
{
	for (int packed = 0; packed <= 1; packed++) {
		for (int indirect = 0; indirect <= 1; indirect++) {
			struct hx *h = hx_new(packed, 8, IND);
			struct fx *f = &h->f;
			uint32_t len[5] = { 8, 16, 32, 24, 5 };
			uint8_t wr[5] = { 1, 0, 1, 0, 1 };
			struct rq r;
			struct dq q;
			int rc;

			(void)state;
			f->mem.next = h->data + 8192;
			rq_alloc(f, &r, len, wr, 5, 1);
			rq_fill(f, &r, 11);
			r.id = drv_add(f, r.seg, 5, indirect ? VDRV_ADD_INDIRECT : 0, 4);
			vdrv_publish(&f->d);
			rc = dev_pop(f, &q);
			if (rc == 1) {
				assert_int_equal(q.r.out_len, 40);
				assert_int_equal(q.r.in_len, 45);
				assert_int_equal(vdev_vq_complete(f->vq, &q.r,
								  dev_serve(f, &q.r, 45)), 1);
				assert_int_equal(drv_get(f).len, 45);
				rq_check(f, &r, 45);
				assert_int_equal(f->errors, 0);
			} else {
				assert_int_equal(rc, -EIO);
				assert_int_equal(f->errors, 1);
			}
			hx_free(h);
		}
	}
}

static void test_avail_idx_jump(void **state)
{
	static const uint16_t jumps[] = { 9, 100, 0x8000, 0xffff };

	for (size_t k = 0; k < sizeof(jumps) / sizeof(jumps[0]); k++) {
		struct hx *h = hx_new(0, 8, 0);

		(void)state;
		for (uint16_t i = 0; i < 8; i++) {
			sdesc(h, i, h->data + 16u * i, 16, 0, 0);
			vdrv_avail_ring_set(&h->f.d, i, i);
		}
		vdrv_avail_idx_set(&h->f.d, jumps[k]);
		expect_violation(h, "idx", "index", "avail", "jump", "size", "many");
		hx_free(h);
	}
}

/* The avail idx jumps after some buffers were already taken. */
static void test_avail_idx_jump_later(void **state)
{
	struct hx *h = hx_new(0, 8, 0);
	struct dq q;

	(void)state;
	for (uint16_t i = 0; i < 8; i++) {
		sdesc(h, i, h->data + 16u * i, 16, 0, 0);
		vdrv_avail_ring_set(&h->f.d, i, i);
	}
	vdrv_avail_idx_set(&h->f.d, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(dev_pop(&h->f, &q), 1);
	/* 3 in flight, idx moves 3 -> 12: 12 - 3 (last seen) > 8. */
	vdrv_avail_idx_set(&h->f.d, 12);
	expect_violation(h, "idx", "index", "avail", "jump", "size", "many");
	hx_free(h);
}

/* ---- packed-specific rules ------------------------------------------------------------ */

static void test_packed_id_ge_size(void **state)
{
	struct hx *h = hx_new(1, 8, 0);

	(void)state;
	pdesc(h, 0, h->data, 16, 0, 8);
	expect_violation(h, "id");
	hx_free(h);
}

static void test_packed_id_reused_in_flight(void **state)
{
	struct hx *h = hx_new(1, 8, 0);
	struct dq q;

	(void)state;
	pdesc(h, 0, h->data, 16, 0, 3);
	assert_int_equal(dev_pop(&h->f, &q), 1);
	assert_int_equal(q.r.id, 3);
	pdesc(h, 1, h->data + 16, 16, 0, 3);
	expect_violation(h, "id", "flight", "use", "duplicate", "busy");
	hx_free(h);
}

/* A list whose second descriptor is not marked available (§2.8.6: all flags in all). */
static void test_packed_chain_desc_not_available(void **state)
{
	static const uint16_t bad[] = { 0, D_AV | D_US, D_US };

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct hx *h = hx_new(1, 8, 0);

		(void)state;
		vdrv_desc_set(&h->f.d, 1, h->data + 64, 16, (uint16_t)(D_W | bad[k]), 0);
		pdesc(h, 0, h->data, 16, D_NEXT, 0);
		/* §2.8.15: the device MUST NOT use a descriptor it has not seen made available. */
		if (dev_pop(&h->f, &(struct dq){ 0 }) == 1)
			fail_msg("second descriptor with flags %#x used", bad[k]);
		vdev_vq_stop(h->f.vq);
		vdrv_vq_reset(&h->f.d);
		assert_int_equal(fx_start(&h->f, 0, 0), 0);
		vdrv_desc_set(&h->f.d, 1, h->data + 64, 16, (uint16_t)(D_W | bad[k]), 0);
		pdesc(h, 0, h->data, 16, D_NEXT, 0);
		expect_violation(h, "avail", "flag", "wrap");
		hx_free(h);
	}
}

/* NEXT on every descriptor all the way round the ring. */
static void test_packed_chain_longer_than_queue(void **state)
{
	struct hx *h = hx_new(1, 8, 0);

	(void)state;
	for (uint32_t i = 1; i < 8; i++)
		vdrv_desc_set(&h->f.d, i, h->data + 16u * i, 16, D_NEXT | D_AV, 0);
	pdesc(h, 0, h->data, 16, D_NEXT, 0);
	expect_violation(h, "long", "chain", "list", "avail", "flag", "size", "segment", "wrap");
	hx_free(h);
}

/* ---- zero-length buffers -------------------------------------------------------------- */

/* Zero-length elements are legal (no rule forbids them): skipped, nothing breaks. */
static void test_zero_length_buffers_ok(void **state)
{
	for (int packed = 0; packed <= 1; packed++) {
		for (int indirect = 0; indirect <= 1; indirect++) {
			struct hx *h = hx_new(packed, 8, IND);
			struct fx *f = &h->f;
			struct vdrv_seg s[5] = { { h->data, 0, 0 }, { h->data + 64, 16, 0 },
						 { h->data + 128, 0, 1 }, { h->data + 192, 8, 1 },
						 { h->data + 256, 0, 1 } };
			struct vdrv_seg z[1] = { { h->data + 512, 0, 0 } };
			struct dq q;
			struct vdrv_used u;

			(void)state;
			unsigned int fl = indirect ? VDRV_ADD_INDIRECT : 0;

			assert_true(vdrv_add(&f->d, s, 5, fl, 1) >= 0);
			assert_true(vdrv_add(&f->d, z, 1, fl, 2) >= 0);
			vdrv_publish(&f->d);
			assert_int_equal(dev_pop(f, &q), 1);
			dev_check_iov(f, &q.r);
			assert_int_equal(q.r.out_len, 16);
			assert_int_equal(q.r.in_len, 8);
			assert_int_equal(vdev_vq_complete(f->vq, &q.r, 8), 1);
			assert_int_equal(dev_pop(f, &q), 1);
			dev_check_iov(f, &q.r);
			assert_int_equal(q.r.out_len, 0);
			assert_int_equal(q.r.in_len, 0);
			assert_int_equal(vdev_vq_complete(f->vq, &q.r, 0), 1);
			assert_int_equal(vdrv_get_used(&f->d, &u), 1);
			assert_int_equal(u.len, 8);
			assert_int_equal(vdrv_get_used(&f->d, &u), 1);
			assert_int_equal(u.len, 0);
			assert_int_equal(f->errors, 0);
			assert_int_equal(vdev_vq_broken(f->vq), 0);
			hx_free(h);
		}
	}
}

/*
 * A zero-length element whose address is not RAM: no byte of it is
 * accessed, so accepting it is fine; refusing it as "not in RAM" is too.
 * What must not happen: an iovec outside RAM, a crash, a silent break.
 */
static void test_zero_length_outside_ram(void **state)
{
	static const uint64_t where[] = { RAM_A + 0x40, TOP + 4096, 0xfffffffffffffff8ull };

	for (int packed = 0; packed <= 1; packed++) {
		for (size_t k = 0; k < 3; k++) {
			struct hx *h = hx_new(packed, 8, 0);
			struct fx *f = &h->f;
			struct vdrv_seg s[3] = { { h->data, 16, 0 }, { where[k], 0, 1 },
						 { h->data + 64, 8, 1 } };
			struct dq q;
			int rc;

			(void)state;
			assert_true(vdrv_add(&f->d, s, 3, 0, 1) >= 0);
			vdrv_publish(&f->d);
			snap_take(h);
			rc = dev_pop(f, &q);
			if (rc == 1) {
				dev_check_iov(f, &q.r);
				assert_int_equal(q.r.in_len, 8);
				assert_int_equal(f->errors, 0);
				assert_int_equal(vdev_vq_complete(f->vq, &q.r, 8), 1);
				assert_int_equal(drv_get(f).len, 8);
			} else {
				assert_int_equal(rc, -EIO);
				assert_int_equal(f->errors, 1);
				assert_int_equal(vdev_vq_broken(f->vq), 1);
				snap_check(h);
			}
			hx_free(h);
		}
	}
}

/* ---- ring addresses at start ----------------------------------------------------------- */

/* Start with the three areas at the given gpas: must fail with @err and touch nothing. */
static void start_fails(int packed, uint32_t size, uint64_t d, uint64_t a, uint64_t u, int err)
{
	struct hx *h = hx_new(packed, 0, 0);
	struct fx *f = &h->f;
	struct dq q;

	assert_int_equal(vdrv_vq_init_at(&f->d, &f->mem, size, f->features, d, a, u), 0);
	snap_take(h);
	mock_vmm_clear_events(&f->mv);
	if (fx_start(f, 0, 0) != err)
		fail_msg("start(%s, size %u, desc %#llx, driver %#llx, device %#llx): want %d",
			 packed ? "packed" : "split", size, (unsigned long long)d,
			 (unsigned long long)a, (unsigned long long)u, err);
	assert_int_equal(vdev_vq_started(f->vq), 0);
	assert_int_equal(dev_pop(f, &q), -ENODEV);
	/* Nothing written anywhere, not even the device area. */
	if (snap_diff(h, 0, TOP) != TOP)
		fail_msg("start wrote gpa %#llx", (unsigned long long)snap_diff(h, 0, TOP));
	check_canaries(h);
	hx_free(h);
}

static void start_ok(int packed, uint32_t size, uint64_t d, uint64_t a, uint64_t u)
{
	struct hx *h = hx_new(packed, 0, 0);

	assert_int_equal(vdrv_vq_init_at(&h->f.d, &h->f.mem, size, h->f.features, d, a, u), 0);
	assert_int_equal(fx_start(&h->f, 0, 0), 0);
	vdev_vq_stop(h->f.vq);
	hx_free(h);
}

static void test_start_misaligned_rings(void **state)
{
	const uint64_t d = 0x40000, a = 0x50000, u = 0x60000;

	(void)state;
	/* Split: 16 / 2 / 4 (§2.7). */
	start_ok(0, 8, d, a + 2, u + 4);
	start_fails(0, 8, d + 8, a, u, -EINVAL);
	start_fails(0, 8, d + 1, a, u, -EINVAL);
	start_fails(0, 8, d, a + 1, u, -EINVAL);
	start_fails(0, 8, d, a, u + 2, -EINVAL);
	/* Packed: 16 / 4 / 4 (§2.8.10.1). */
	start_ok(1, 8, d, a + 4, u + 4);
	start_fails(1, 8, d + 4, a, u, -EINVAL);
	start_fails(1, 8, d, a + 2, u, -EINVAL);
	start_fails(1, 8, d, a, u + 2, -EINVAL);
}

static void test_start_rings_outside_ram(void **state)
{
	const uint64_t d = 0x40000, a = 0x50000, u = 0x60000;
	const uint64_t dl = 16 * 8, al = 6 + 2 * 8, ul = 6 + 8 * 8;

	(void)state;
	for (int packed = 0; packed <= 1; packed++) {
		/* Aligned starts whose last bytes cross a region's end (packed areas cannot). */
		uint64_t a_cross = packed ? RAM_A : RAM_A - al + 2;
		uint64_t u_cross = packed ? RAM_A : RAM_A - ul + 2;
		uint64_t u_top = packed ? TOP : TOP - ul + 2;

		/* In the gap, beyond the top, straddling region A's end, from the gap into B. */
		start_fails(packed, 8, RAM_A + 0x100, a, u, -EFAULT);
		start_fails(packed, 8, d, RAM_A + 0x100, u, -EFAULT);
		start_fails(packed, 8, d, a, RAM_A + 0x100, -EFAULT);
		start_fails(packed, 8, TOP + 0x1000, a, u, -EFAULT);
		start_fails(packed, 8, RAM_A - dl + 16, a, u, -EFAULT);
		start_fails(packed, 8, d, a_cross, u, -EFAULT);
		start_fails(packed, 8, d, a, u_cross, -EFAULT);
		start_fails(packed, 8, d, a, B_GPA - 4, -EFAULT);
		start_fails(packed, 8, d, a, u_top, -EFAULT);
		start_fails(packed, 8, 0xfffffffffffffff0ull, a, u, -EFAULT);
		/* Up to a region's end, or starting a region, is fine. */
		start_ok(packed, 8, RAM_A - dl, a, u);
		start_ok(packed, 8, d, RAM_A - (packed ? 4 : al), u);
		start_ok(packed, 8, d, a, TOP - (packed ? 4 : ul + 2));
		start_ok(packed, 8, B_GPA, B_GPA + 0x1000, B_GPA + 0x2000);
	}
}

static void test_start_bad_size(void **state)
{
	(void)state;
	start_fails(0, 3, 0x40000, 0x50000, 0x60000, -EINVAL);
	start_fails(0, 24, 0x40000, 0x50000, 0x60000, -EINVAL);
	start_ok(1, 3, 0x40000, 0x50000, 0x60000);
	start_ok(1, 24, 0x40000, 0x50000, 0x60000);
	{
		struct hx *h = hx_new(0, 0, 0);
		struct vdev_vq_config cfg;

		assert_int_equal(vdrv_vq_init_at(&h->f.d, &h->f.mem, 8, h->f.features, 0x40000,
						 0x50000, 0x60000), 0);
		vdrv_vq_config(&h->f.d, &cfg);
		cfg.size = 0;
		assert_int_equal(vdev_vq_start(h->f.vq, &cfg), -EINVAL);
		cfg.size = 65536;
		assert_int_equal(vdev_vq_start(h->f.vq, &cfg), -EINVAL);
		cfg.size = 32769;
		cfg.features |= FEAT(VDEV_VIRTIO_F_RING_PACKED);
		assert_int_equal(vdev_vq_start(h->f.vq, &cfg), -EINVAL);
		cfg.size = 8;
		cfg.struct_size = 4;
		assert_int_equal(vdev_vq_start(h->f.vq, &cfg), -EINVAL);
		assert_int_equal(vdev_vq_started(h->f.vq), 0);
		hx_free(h);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head_index_ge_size),
		cmocka_unit_test(test_next_index_ge_size),
		cmocka_unit_test(test_desc_loop),
		cmocka_unit_test(test_desc_self_loop),
		cmocka_unit_test(test_chain_longer_than_max_segments),
		cmocka_unit_test(test_indirect_len_zero),
		cmocka_unit_test(test_indirect_len_not_multiple_of_16),
		cmocka_unit_test(test_indirect_longer_than_queue),
		cmocka_unit_test(test_indirect_more_than_max_segments),
		cmocka_unit_test(test_indirect_at_limits_ok),
		cmocka_unit_test(test_indirect_len_huge),
		cmocka_unit_test(test_indirect_next_out_of_table),
		cmocka_unit_test(test_indirect_loop),
		cmocka_unit_test(test_nested_indirect),
		cmocka_unit_test(test_packed_indirect_table_flags_ignored),
		cmocka_unit_test(test_indirect_with_next),
		cmocka_unit_test(test_packed_indirect_in_chain),
		cmocka_unit_test(test_indirect_not_negotiated),
		cmocka_unit_test(test_buffer_outside_ram),
		cmocka_unit_test(test_buffer_straddles_region_end),
		cmocka_unit_test(test_buffer_in_gap),
		cmocka_unit_test(test_buffer_address_wraps),
		cmocka_unit_test(test_indirect_table_outside_ram),
		cmocka_unit_test(test_chain_total_exactly_4g_ok),
		cmocka_unit_test(test_chain_total_over_4g),
		cmocka_unit_test(test_write_before_read),
		cmocka_unit_test(test_mixed_order_without_flag),
		cmocka_unit_test(test_avail_idx_jump),
		cmocka_unit_test(test_avail_idx_jump_later),
		cmocka_unit_test(test_packed_id_ge_size),
		cmocka_unit_test(test_packed_id_reused_in_flight),
		cmocka_unit_test(test_packed_chain_desc_not_available),
		cmocka_unit_test(test_packed_chain_longer_than_queue),
		cmocka_unit_test(test_zero_length_buffers_ok),
		cmocka_unit_test(test_zero_length_outside_ram),
		cmocka_unit_test(test_start_misaligned_rings),
		cmocka_unit_test(test_start_rings_outside_ram),
		cmocka_unit_test(test_start_bad_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
