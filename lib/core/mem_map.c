/* SPDX-License-Identifier: MIT */
/*
 * The guest-memory map: a sorted array of RAM regions, the checked DMA
 * accessors built on it, and dirty-page logging for live migration.
 *
 * Address arithmetic: a region or range is kept as [first, last] with an
 * inclusive last byte, so one that ends exactly at 2^64 (last byte
 * UINT64_MAX) is representable and nothing computes "end = gpa + size".
 *
 * Concurrency: the map belongs to the device thread, but vdev/mem.h lets
 * any thread translate/read/write/mark while the VMM keeps the map still
 * (no add/remove, no change of the logging state). Those paths only read
 * the array; the two things they write are atomic: the last-hit hint
 * (relaxed: any value is a valid hint, it is re-checked on use) and the
 * dirty bits (relaxed fetch_or, so two threads dirtying pages in the same
 * word cannot lose each other's bit).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/mem_internal.h"

static inline uint64_t region_pages(const struct mem_region *r)
{
	return ((r->last - r->gpa) >> MEM_PAGE_SHIFT) + 1;
}

static inline uint64_t pages_words(uint64_t pages)
{
	return (pages + 63) / 64;
}

/* Allocate a clean bitmap for @r. */
static int region_dirty_alloc(struct mem_region *r)
{
	uint64_t words = pages_words(region_pages(r));

	if (words > SIZE_MAX / sizeof(uint64_t))
		return -ENOMEM;
	r->dirty = calloc((size_t)words, sizeof(uint64_t));
	return r->dirty ? 0 : -ENOMEM;
}

static void region_dirty_free(struct mem_region *r)
{
	free((void *)r->dirty);
	r->dirty = NULL;
}

/* Set bits [first, last] (inclusive page indices) of @bm. */
static void bits_set(_Atomic uint64_t *bm, uint64_t first, uint64_t last)
{
	uint64_t w = first / 64, wl = last / 64;

	for (; w <= wl; w++) {
		uint64_t mask = ~(uint64_t)0;
		uint64_t old;

		if (w == first / 64)
			mask &= ~(uint64_t)0 << (first % 64);
		if (w == wl)
			mask &= ~(uint64_t)0 >> (63 - last % 64);
		/* Re-dirtying is the common case: skip the locked op then. */
		old = atomic_load_explicit(&bm[w], memory_order_relaxed);
		if ((old & mask) != mask)
			atomic_fetch_or_explicit(&bm[w], mask, memory_order_relaxed);
	}
}

/* Set the external log's bits for guest pages [first, last]. */
static void ext_mark(struct vdev__mem_map *m, uint64_t first, uint64_t last)
{
	uint64_t pages = m->ext_bytes * 8;

	if (first >= pages)
		return;
	last = VDEV__MIN(last, pages - 1);
	for (uint64_t p = first; p <= last; p++) {
		uint8_t bit = (uint8_t)(1u << (p % 8));

		/* Byte-wise: the front end reads and clears the log concurrently. */
		if (!(atomic_load_explicit(&m->ext_log[p / 8], memory_order_relaxed) & bit))
			atomic_fetch_or_explicit(&m->ext_log[p / 8], bit, memory_order_relaxed);
	}
}

/*
 * Mark the part of [gpa, last] that lies in @r dirty (logging must be on)
 * and, with @push, write that part of a remote region's shadow back to
 * the guest. A failed write-back is the hook owner's to report: the
 * connection behind it is gone, and nothing here can retry.
 */
static void region_mark(struct vdev__mem_map *m, const struct mem_region *r, uint64_t gpa,
			uint64_t last, bool push)
{
	uint64_t lo = VDEV__MAX(gpa, r->gpa);
	uint64_t hi = VDEV__MIN(last, r->last);

	if (lo > hi)
		return;
	if (r->dirty)
		bits_set(r->dirty, (lo - r->gpa) >> MEM_PAGE_SHIFT,
			 (hi - r->gpa) >> MEM_PAGE_SHIFT);
	if (m->ext_log)
		ext_mark(m, lo >> MEM_PAGE_SHIFT, hi >> MEM_PAGE_SHIFT);
	if (push && (r->flags & VDEV__MEM_REMOTE))
		(void)r->remote.write(r->remote.opaque, lo, r->hva + (lo - r->gpa),
				      (size_t)(hi - lo + 1));
}

/*
 * Index of the first region whose gpa is greater than @gpa. Branch-free
 * halving (a conditional move, not a branch): a miss in the last-hit cache
 * is a random probe, where a branchy search mispredicts about every other
 * step (bench_mem, 512 regions, random: ~3x faster this way).
 */
static unsigned int upper_bound(const struct vdev__mem_map *m, uint64_t gpa)
{
	const struct mem_region *base = m->r;
	unsigned int n = m->n;

	if (!n)
		return 0;
	while (n > 1) {
		unsigned int half = n / 2;

		base = base[half].gpa <= gpa ? base + half : base;
		n -= half;
	}
	/* base is the last region starting at or below gpa, or r[0]. */
	return (unsigned int)(base - m->r) + (base->gpa <= gpa);
}

unsigned int vdev__mem_first_at(const struct vdev__mem_map *m, uint64_t gpa)
{
	unsigned int i = upper_bound(m, gpa);

	return i > 0 && m->r[i - 1].last >= gpa ? i - 1 : i;
}

/*
 * Index of the region holding @gpa, or -1. The hint is only a guess: it
 * is re-checked against the current array, so a hint left over from a
 * removed region can never resolve to it.
 */
static inline int map_lookup(struct vdev__mem_map *m, uint64_t gpa)
{
	unsigned int h = atomic_load_explicit(&m->hint, memory_order_relaxed);
	unsigned int i;

	if (h < m->n && m->r[h].gpa <= gpa && gpa <= m->r[h].last)
		return (int)h;
	i = upper_bound(m, gpa);
	if (i == 0 || gpa > m->r[i - 1].last)
		return -1;
	atomic_store_explicit(&m->hint, i - 1, memory_order_relaxed);
	return (int)(i - 1);
}

/*
 * Check that every byte of [gpa, last] is RAM (and writable if @write).
 * On success *first is the region holding gpa and *count the number of
 * consecutive regions the range crosses. A hole beats a read-only
 * region: -EFAULT is reported even if a read-only region comes first.
 */
static int map_walk(struct vdev__mem_map *m, uint64_t gpa, uint64_t last, bool write,
		    unsigned int *first, unsigned int *count)
{
	int i = map_lookup(m, gpa);
	uint32_t flags = 0;
	unsigned int j;

	if (i < 0)
		return -EFAULT;
	for (j = (unsigned int)i;; j++) {
		const struct mem_region *r = &m->r[j];

		flags |= r->flags;
		if (r->last >= last)
			break;
		/* r->last < last <= UINT64_MAX, so r->last + 1 cannot wrap. */
		if (j + 1 == m->n || m->r[j + 1].gpa != r->last + 1)
			return -EFAULT;
	}
	if (write && (flags & VDEV_MEM_READONLY))
		return -EACCES;
	*first = (unsigned int)i;
	*count = j - (unsigned int)i + 1;
	return 0;
}

/* Piece @k of @count of [gpa, last] as walked from region @first. */
static inline size_t map_piece(const struct vdev__mem_map *m, unsigned int first, unsigned int k,
			       unsigned int count, uint64_t gpa, uint64_t last, uint8_t **hva)
{
	const struct mem_region *r = &m->r[first + k];
	uint64_t lo = k == 0 ? gpa : r->gpa;
	uint64_t hi = k + 1 == count ? last : r->last;

	*hva = r->hva + (lo - r->gpa);
	/* Fits: region_add bounds size - 1 by the host address space. */
	return (size_t)(hi - lo + 1);
}

static void map_mark_walked(struct vdev__mem_map *m, unsigned int first, unsigned int count,
			    uint64_t gpa, uint64_t last, bool push)
{
	if (!m->hot.logging)
		return;
	for (unsigned int k = 0; k < count; k++)
		region_mark(m, &m->r[first + k], gpa, last, push);
}

/* Logging or remote regions changed: recompute what hot paths compare. */
static void hot_update(struct vdev__mem_map *m)
{
	m->hot.remote = m->nremote != 0;
	m->hot.logging = m->own_log || m->ext_log || m->hot.remote;
	m->hot.key = (m->hot.gen << 1) | m->hot.logging;
}

/* Regions changed: update what hot paths compare. */
static void mem_moved(struct vdev__mem_map *m)
{
	m->hot.gen++;
	hot_update(m);
}

/* True if a range of @len bytes at @gpa runs past 2^64. */
static inline bool range_wraps(uint64_t gpa, uint64_t len)
{
	return len && len - 1 > UINT64_MAX - gpa;
}

int vdev__mem_init(vdev_ctx *ctx)
{
	ctx->mem = calloc(1, sizeof(*ctx->mem));
	return ctx->mem ? 0 : -ENOMEM;
}

void vdev__mem_fini(vdev_ctx *ctx)
{
	struct vdev__mem_map *m = ctx->mem;

	if (!m)
		return;
	for (unsigned int i = 0; i < m->n; i++)
		region_dirty_free(&m->r[i]);
	vdev__mem_fetches_free(m);
	free(m->r);
	free(m);
	ctx->mem = NULL;
}

static int region_add(vdev_ctx *ctx, uint64_t gpa, uint64_t size, void *hva, uint32_t flags,
		      const struct vdev__mem_remote *remote)
{
	struct vdev__mem_map *m = ctx->mem;
	struct mem_region nr;
	unsigned int pos;
	int rc;

	if (!size || !hva || (flags & ~(uint32_t)MEM_KNOWN_FLAGS))
		return -EINVAL;
	if (remote && (!remote->fetch || !remote->write))
		return -EINVAL;
	/* The last byte, gpa + size - 1, must not pass 2^64 - 1; same for the host side. */
	if (size - 1 > UINT64_MAX - gpa || size - 1 > UINTPTR_MAX - (uintptr_t)hva)
		return -EINVAL;
	nr = (struct mem_region){
		.gpa = gpa,
		.last = gpa + (size - 1),
		.hva = hva,
		.flags = flags | (remote ? VDEV__MEM_REMOTE : 0),
	};
	if (remote)
		nr.remote = *remote;

	pos = upper_bound(m, gpa);
	if (pos > 0 && m->r[pos - 1].last >= gpa)
		return -EEXIST;
	if (pos < m->n && m->r[pos].gpa <= nr.last)
		return -EEXIST;
	if (m->n == VDEV_MEM_MAX_REGIONS)
		return -ENOSPC;

	if (m->n == m->cap) {
		unsigned int cap = m->cap ? m->cap * 2 : MEM_INITIAL_CAP;
		struct mem_region *r;

		cap = VDEV__MIN(cap, (unsigned int)VDEV_MEM_MAX_REGIONS);
		r = realloc(m->r, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		m->r = r;
		m->cap = cap;
	}
	if (m->own_log) {
		rc = region_dirty_alloc(&nr);
		if (rc)
			return rc;
	}
	memmove(&m->r[pos + 1], &m->r[pos], (m->n - pos) * sizeof(*m->r));
	m->r[pos] = nr;
	m->n++;
	m->nremote += remote != NULL;
	mem_moved(m);
	atomic_store_explicit(&m->hint, pos, memory_order_relaxed);
	return 0;
}

int vdev_mem_region_add(vdev_ctx *ctx, uint64_t gpa, uint64_t size, void *hva, uint32_t flags)
{
	return region_add(ctx, gpa, size, hva, flags, NULL);
}

int vdev__mem_region_add_remote(vdev_ctx *ctx, uint64_t gpa, uint64_t size, void *shadow,
				uint32_t flags, const struct vdev__mem_remote *ops)
{
	return ops ? region_add(ctx, gpa, size, shadow, flags, ops) : -EINVAL;
}

int vdev_mem_region_remove(vdev_ctx *ctx, uint64_t gpa)
{
	struct vdev__mem_map *m = ctx->mem;
	unsigned int i = upper_bound(m, gpa);

	if (i == 0 || m->r[i - 1].gpa != gpa)
		return -ENOENT;
	i--;
	region_dirty_free(&m->r[i]);
	if (m->r[i].flags & VDEV__MEM_REMOTE) {
		vdev__mem_fetches_forget(m, m->r[i].gpa, m->r[i].last);
		m->nremote--;
	}
	memmove(&m->r[i], &m->r[i + 1], (m->n - i - 1) * sizeof(*m->r));
	m->n--;
	mem_moved(m);
	/* Indices shifted; map_lookup re-checks anyway, but start clean. */
	atomic_store_explicit(&m->hint, 0, memory_order_relaxed);
	return 0;
}

unsigned int vdev_mem_region_count(vdev_ctx *ctx)
{
	return ctx->mem->n;
}

int vdev_mem_translate(vdev_ctx *ctx, uint64_t gpa, uint64_t len, enum vdev_mem_access access,
		       struct iovec *iov, int iovcnt)
{
	struct vdev__mem_map *m = ctx->mem;
	unsigned int first, count;
	uint64_t last;
	int rc;

	if (range_wraps(gpa, len))
		return -EOVERFLOW;
	if (access != VDEV_MEM_READ && access != VDEV_MEM_WRITE)
		return -EINVAL;
	if (!len)
		return 0;
	last = gpa + (len - 1);
	rc = map_walk(m, gpa, last, access == VDEV_MEM_WRITE, &first, &count);
	if (rc)
		return rc;
	if (!iov || iovcnt < 0 || count > (unsigned int)iovcnt)
		return -ENOBUFS;
	for (unsigned int k = 0; k < count; k++) {
		uint8_t *hva;

		iov[k].iov_len = map_piece(m, first, k, count, gpa, last, &hva);
		iov[k].iov_base = hva;
	}
	/*
	 * A write range is only marked: the device has written nothing yet,
	 * and pushing a remote shadow now would overwrite guest bytes the
	 * device may never write. It pushes with vdev_mem_mark_dirty().
	 */
	if (access == VDEV_MEM_WRITE)
		map_mark_walked(m, first, count, gpa, last, false);
	else if (m->nremote && (rc = vdev__mem_pull_sync(ctx, gpa, last)))
		return rc;
	return (int)count;
}

/* Copy between @buf and guest [gpa, gpa + len), all or nothing; a write marks dirty. */
static int mem_copy(vdev_ctx *ctx, uint64_t gpa, uint8_t *buf, size_t len, bool write)
{
	struct vdev__mem_map *m = ctx->mem;
	unsigned int first, count;
	uint64_t last;
	int rc;

	if (range_wraps(gpa, len))
		return -EOVERFLOW;
	if (!len)
		return 0;
	last = gpa + (len - 1);
	rc = map_walk(m, gpa, last, write, &first, &count);
	if (rc)
		return rc;
	if (!write && m->nremote && (rc = vdev__mem_pull_sync(ctx, gpa, last)))
		return rc;
	for (unsigned int k = 0; k < count; k++) {
		uint8_t *hva;
		size_t n = map_piece(m, first, k, count, gpa, last, &hva);

		if (write)
			memcpy(hva, buf, n);
		else
			memcpy(buf, hva, n);
		buf += n;
	}
	if (write)
		map_mark_walked(m, first, count, gpa, last, true);
	return 0;
}

int vdev_mem_read(vdev_ctx *ctx, uint64_t gpa, void *buf, size_t len)
{
	return mem_copy(ctx, gpa, buf, len, false);
}

int vdev_mem_write(vdev_ctx *ctx, uint64_t gpa, const void *buf, size_t len)
{
	/* mem_copy() only reads from buf when writing. */
	return mem_copy(ctx, gpa, (uint8_t *)(uintptr_t)buf, len, true);
}

void vdev_mem_mark_dirty(vdev_ctx *ctx, uint64_t gpa, uint64_t len)
{
	struct vdev__mem_map *m = ctx->mem;
	uint64_t last;
	unsigned int i;

	if (!m->hot.logging || !len)
		return;
	/* Bytes past 2^64 are not RAM either: clamp rather than wrap. */
	last = range_wraps(gpa, len) ? UINT64_MAX : gpa + (len - 1);
	/* Start at the region holding gpa, or else the first one after it. */
	i = upper_bound(m, gpa);
	if (i > 0 && m->r[i - 1].last >= gpa)
		i--;
	for (; i < m->n && m->r[i].gpa <= last; i++)
		region_mark(m, &m->r[i], gpa, last, true);
}

int vdev_mem_dirty_log_enable(vdev_ctx *ctx, int enable)
{
	struct vdev__mem_map *m = ctx->mem;
	unsigned int i;
	int rc;

	if (!enable) {
		for (i = 0; i < m->n; i++)
			region_dirty_free(&m->r[i]);
		m->own_log = false;
		hot_update(m);
		return 0;
	}
	if (m->own_log) {
		/* Already on: "turning it on clears every bitmap". */
		for (i = 0; i < m->n; i++) {
			uint64_t words = pages_words(region_pages(&m->r[i]));

			for (uint64_t w = 0; w < words; w++)
				atomic_store_explicit(&m->r[i].dirty[w], 0, memory_order_relaxed);
		}
		return 0;
	}
	for (i = 0; i < m->n; i++) {
		rc = region_dirty_alloc(&m->r[i]);
		if (rc) {
			/* All or nothing: leave logging off and nothing allocated. */
			while (i--)
				region_dirty_free(&m->r[i]);
			return rc;
		}
	}
	m->own_log = true;
	hot_update(m);
	return 0;
}

void vdev__mem_dirty_log_external(vdev_ctx *ctx, void *log, uint64_t bytes)
{
	struct vdev__mem_map *m = ctx->mem;

	m->ext_log = log && bytes ? (_Atomic uint8_t *)log : NULL;
	m->ext_bytes = m->ext_log ? bytes : 0;
	hot_update(m);
}

int64_t vdev_mem_dirty_bitmap(vdev_ctx *ctx, uint64_t region_gpa, uint64_t *bitmap, size_t nwords,
			      int clear)
{
	struct vdev__mem_map *m = ctx->mem;
	unsigned int i = upper_bound(m, region_gpa);
	const struct mem_region *r;
	uint64_t words, w;
	int64_t dirty = 0;

	if (i == 0 || m->r[i - 1].gpa != region_gpa)
		return -ENOENT;
	r = &m->r[i - 1];
	if (!m->own_log)
		return -ENODATA;
	words = pages_words(region_pages(r));
	if (!bitmap || nwords < words)
		return -ENOBUFS;
	/*
	 * Only the region's words are written. Exchange, not load + store,
	 * so a page dirtied by another thread between the two is not lost.
	 */
	for (w = 0; w < words; w++) {
		uint64_t v = clear ? atomic_exchange_explicit(&r->dirty[w], 0, memory_order_relaxed)
				   : atomic_load_explicit(&r->dirty[w], memory_order_relaxed);

		bitmap[w] = v;
		dirty += __builtin_popcountll(v);
	}
	return dirty;
}

/* Last byte of page @p of @r (the region's last page may be short; no wrap at 2^64). */
static inline uint64_t page_last(const struct mem_region *r, uint64_t p)
{
	uint64_t plo = r->gpa + (p << MEM_PAGE_SHIFT);

	return r->last - plo < VDEV_PAGE_SIZE - 1 ? r->last : plo + VDEV_PAGE_SIZE - 1;
}

/* Report (and clear what lies wholly inside [lo, hi]) the dirty pages of @r there. */
static int64_t region_take(const struct mem_region *r, uint64_t lo, uint64_t hi,
			   void (*fn)(void *opaque, uint64_t lo, uint64_t hi), void *opaque)
{
	uint64_t p0 = (lo - r->gpa) >> MEM_PAGE_SHIFT, p1 = (hi - r->gpa) >> MEM_PAGE_SHIFT;
	int64_t n = 0;

	for (uint64_t w = p0 / 64; w <= p1 / 64; w++) {
		uint64_t mask = ~(uint64_t)0, clr, v;

		if (w == p0 / 64)
			mask &= ~(uint64_t)0 << (p0 % 64);
		if (w == p1 / 64)
			mask &= ~(uint64_t)0 >> (63 - p1 % 64);
		v = atomic_load_explicit(&r->dirty[w], memory_order_relaxed) & mask;
		if (!v)
			continue;
		clr = mask;
		/* The end pages stay dirty if they stick out of [lo, hi]. */
		if (w == p0 / 64 && r->gpa + (p0 << MEM_PAGE_SHIFT) < lo)
			clr &= ~((uint64_t)1 << (p0 % 64));
		if (w == p1 / 64 && page_last(r, p1) > hi)
			clr &= ~((uint64_t)1 << (p1 % 64));
		/* Fetch-and, not load + store: a page dirtied meanwhile is not lost. */
		if (clr)
			v = (atomic_fetch_and_explicit(&r->dirty[w], ~clr, memory_order_relaxed) |
			     v) & mask;
		while (v) {
			uint64_t p = w * 64 + (uint64_t)__builtin_ctzll(v);
			uint64_t plo = r->gpa + (p << MEM_PAGE_SHIFT);

			v &= v - 1;
			fn(opaque, VDEV__MAX(plo, lo), VDEV__MIN(page_last(r, p), hi));
			n++;
		}
	}
	return n;
}

int64_t vdev__mem_dirty_take(vdev_ctx *ctx, uint64_t gpa, uint64_t last,
			     void (*fn)(void *opaque, uint64_t lo, uint64_t hi), void *opaque)
{
	struct vdev__mem_map *m = ctx->mem;
	unsigned int i;
	int64_t n = 0;

	if (!m->own_log)
		return -ENODATA;
	if (last < gpa)
		return -EINVAL;
	i = upper_bound(m, gpa);
	if (i > 0 && m->r[i - 1].last >= gpa)
		i--;
	for (; i < m->n && m->r[i].gpa <= last; i++) {
		const struct mem_region *r = &m->r[i];

		if (r->last < gpa || !r->dirty)
			continue;
		n += region_take(r, VDEV__MAX(gpa, r->gpa), VDEV__MIN(last, r->last), fn, opaque);
	}
	return n;
}

int vdev__mem_region_find(vdev_ctx *ctx, uint64_t gpa, struct vdev__mem_region_info *out)
{
	struct vdev__mem_map *m = ctx->mem;
	int i = map_lookup(m, gpa);
	const struct mem_region *r;

	if (i < 0)
		return -EFAULT;
	r = &m->r[i];
	*out = (struct vdev__mem_region_info){
		.gpa = r->gpa,
		.size = r->last - r->gpa + 1, /* cannot wrap: see vdev__mem_region_info */
		.hva = r->hva,
		.flags = r->flags,
	};
	return 0;
}

/* True if host range [p, p + len) (len >= 1) lies inside region @r. */
static inline bool region_holds_hva(const struct mem_region *r, uintptr_t p, size_t len)
{
	uintptr_t base = (uintptr_t)r->hva;
	uint64_t span = r->last - r->gpa; /* bytes - 1 */

	return p >= base && p - base <= span && len - 1 <= span - (p - base);
}

int vdev__mem_hva_to_gpa(vdev_ctx *ctx, const void *hva, size_t len, uint64_t *gpa)
{
	struct vdev__mem_map *m = ctx->mem;
	unsigned int h = atomic_load_explicit(&m->rhint, memory_order_relaxed);
	uintptr_t p = (uintptr_t)hva;

	if (!len)
		len = 1;
	/* Host addresses are not sorted: a linear scan, the hint first. */
	if (h < m->n && region_holds_hva(&m->r[h], p, len)) {
		*gpa = m->r[h].gpa + (p - (uintptr_t)m->r[h].hva);
		return 0;
	}
	for (unsigned int i = 0; i < m->n; i++) {
		if (region_holds_hva(&m->r[i], p, len)) {
			atomic_store_explicit(&m->rhint, i, memory_order_relaxed);
			*gpa = m->r[i].gpa + (p - (uintptr_t)m->r[i].hva);
			return 0;
		}
	}
	return -EFAULT;
}

void vdev__mem_mark_dirty_hva(vdev_ctx *ctx, const void *hva, size_t len)
{
	struct vdev__mem_map *m = ctx->mem;
	uintptr_t p = (uintptr_t)hva, last;

	if (!m->hot.logging || !len)
		return;
	last = len - 1 > UINTPTR_MAX - p ? UINTPTR_MAX : p + (len - 1);
	/* Every alias: which guest address the device meant is unknowable. */
	for (unsigned int i = 0; i < m->n; i++) {
		const struct mem_region *r = &m->r[i];
		uintptr_t base = (uintptr_t)r->hva;
		uintptr_t rlast = base + (uintptr_t)(r->last - r->gpa); /* no wrap: region_add */

		if (last < base || p > rlast)
			continue;
		region_mark(m, r, r->gpa + (VDEV__MAX(p, base) - base),
			    r->gpa + (VDEV__MIN(last, rlast) - base), true);
	}
}
