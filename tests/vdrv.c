/* SPDX-License-Identifier: MIT */
/*
 * vdrv: driver side of split and packed virtqueues, from VIRTIO 1.2
 * §2.7 (split), §2.8 (packed) and §2.9 (driver notifications). See vdrv.h.
 */
#include "vdrv.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F(bit) (1ull << (bit))

/* ---- little-endian accessors ------------------------------------------ */

static uint16_t ld16(const void *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static uint32_t ld32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t ld64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static void st16(void *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static void st32(void *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static void st64(void *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

/* Ordered 16-bit accesses for the fields that publish or consume (naturally aligned). */
static uint16_t ld16_acquire(const void *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE));
}

static void st16_release(void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, htole16(v), __ATOMIC_RELEASE);
}

/* ---- guest memory ------------------------------------------------------ */

void vdrv_mem_init(struct vdrv_mem *m, void *base, uint64_t lo, uint64_t hi)
{
	m->base = base;
	m->lo = lo;
	m->hi = hi;
	m->next = lo;
}

uint64_t vdrv_alloc(struct vdrv_mem *m, uint64_t len, uint64_t align)
{
	uint64_t at;

	if (!align || (align & (align - 1)))
		return VDRV_NOMEM;
	at = (m->next + align - 1) & ~(align - 1);
	if (at < m->next || at > m->hi || len > m->hi - at)
		return VDRV_NOMEM;
	m->next = at + len;
	memset(m->base + at, 0, len);
	return at;
}

void *vdrv_host(const struct vdrv_mem *m, uint64_t gpa)
{
	return m->base + gpa;
}

/* ---- layout ------------------------------------------------------------- */

uint64_t vdrv_desc_bytes(uint32_t size)
{
	return 16ull * size;
}

uint64_t vdrv_driver_bytes(int packed, uint32_t size)
{
	return packed ? 4 : 6 + 2ull * size;
}

uint64_t vdrv_device_bytes(int packed, uint32_t size)
{
	return packed ? 4 : 6 + 8ull * size;
}

static uint8_t *desc_at(const struct vdrv_vq *vq, uint32_t i)
{
	return (uint8_t *)vdrv_host(vq->mem, vq->desc_gpa) + 16ull * i;
}

static uint8_t *drv_area(const struct vdrv_vq *vq)
{
	return vdrv_host(vq->mem, vq->driver_gpa);
}

static uint8_t *dev_area(const struct vdrv_vq *vq)
{
	return vdrv_host(vq->mem, vq->device_gpa);
}

/* Split avail ring: flags @0, idx @2, ring[] @4, used_event after the ring. */
static uint8_t *avail_ring_at(const struct vdrv_vq *vq, uint16_t pos)
{
	return drv_area(vq) + 4 + 2u * (pos % vq->size);
}

static uint8_t *used_event_at(const struct vdrv_vq *vq)
{
	return drv_area(vq) + 4 + 2u * vq->size;
}

/* Split used ring: flags @0, idx @2, ring[] of {id, len} @4, avail_event after it. */
static uint8_t *used_elem_at(const struct vdrv_vq *vq, uint16_t pos)
{
	return dev_area(vq) + 4 + 8u * (pos % vq->size);
}

static uint8_t *avail_event_at(const struct vdrv_vq *vq)
{
	return dev_area(vq) + 4 + 8u * vq->size;
}

static int fail(struct vdrv_vq *vq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct vdrv_vq *vq, const char *fmt, ...)
{
	va_list ap;

	if (!vq->err[0]) {
		va_start(ap, fmt);
		vsnprintf(vq->err, sizeof(vq->err), fmt, ap);
		va_end(ap);
	}
	return -EPROTO;
}

const char *vdrv_error(const struct vdrv_vq *vq)
{
	return vq->err;
}

/* ---- setup ------------------------------------------------------------ */

/* The driver's private state back to that of a fresh queue. */
static void reset_state(struct vdrv_vq *vq)
{
	uint32_t n = vq->size;

	for (uint32_t i = 0; i < n; i++) {
		vq->bufs[i].busy = 0;
		vq->next_free[i] = (uint16_t)(i + 1 < n ? i + 1 : 0);
		vq->id_next[i] = (uint16_t)(i + 1 < n ? i + 1 : 0);
	}
	vq->inflight = 0;
	vq->num_free = n;
	vq->avail_idx = vq->avail_pub = vq->last_used = 0;
	vq->free_head = 0;
	vq->next_desc = 0;
	vq->next_avail = vq->next_used = vq->pub_pos = 0;
	vq->avail_wrap = vq->used_wrap = vq->pub_wrap = 1; /* §2.8.1: start at 1 */
	vq->free_id = 0;
	vq->npend = vq->pend_descs = 0;
	vq->fifo_head = vq->fifo_len = 0;
	vq->batch_left = vq->batch_len = 0;
	vq->kick_old = 0;
	vq->kick_added = 0;
	vq->err[0] = '\0';
}

void vdrv_vq_reset(struct vdrv_vq *vq)
{
	memset(vdrv_host(vq->mem, vq->desc_gpa), 0, vdrv_desc_bytes(vq->size));
	memset(drv_area(vq), 0, vdrv_driver_bytes(vq->packed, vq->size));
	memset(dev_area(vq), 0, vdrv_device_bytes(vq->packed, vq->size));
	reset_state(vq);
}

int vdrv_vq_init_at(struct vdrv_vq *vq, struct vdrv_mem *mem, uint32_t size, uint64_t features,
		    uint64_t desc_gpa, uint64_t driver_gpa, uint64_t device_gpa)
{
	int packed = !!(features & F(VDEV_VIRTIO_F_RING_PACKED));

	memset(vq, 0, sizeof(*vq));
	if (!size || size > VDEV_VQ_MAX_SIZE)
		return -EINVAL;
	vq->mem = mem;
	vq->size = size;
	vq->packed = packed;
	vq->features = features;
	vq->event_idx = !!(features & F(VDEV_VIRTIO_F_EVENT_IDX));
	vq->in_order = !!(features & F(VDEV_VIRTIO_F_IN_ORDER));
	vq->desc_gpa = desc_gpa;
	vq->driver_gpa = driver_gpa;
	vq->device_gpa = device_gpa;
	vq->bufs = calloc(size, sizeof(*vq->bufs));
	vq->next_free = calloc(size, sizeof(uint16_t));
	vq->id_next = calloc(size, sizeof(uint16_t));
	vq->pend_pos = calloc(size, sizeof(uint16_t));
	vq->pend_flags = calloc(size, sizeof(uint16_t));
	vq->fifo = calloc(size, sizeof(uint16_t));
	if (!vq->bufs || !vq->next_free || !vq->id_next || !vq->pend_pos || !vq->pend_flags ||
	    !vq->fifo) {
		vdrv_vq_fini(vq);
		return -ENOMEM;
	}
	reset_state(vq);
	return 0;
}

int vdrv_vq_init(struct vdrv_vq *vq, struct vdrv_mem *mem, uint32_t size, uint64_t features)
{
	int packed = !!(features & F(VDEV_VIRTIO_F_RING_PACKED));
	uint64_t d, a, u;

	if (!size || size > VDEV_VQ_MAX_SIZE || (!packed && (size & (size - 1))))
		return -EINVAL;
	/*
	 * Use exactly the minimum alignments (split: 16/2/4, packed: 16/4/4)
	 * and no more, so a device that assumes wider alignment is caught.
	 */
	d = vdrv_alloc(mem, vdrv_desc_bytes(size), 16);
	a = vdrv_alloc(mem, vdrv_driver_bytes(packed, size) + 4, 8);
	u = vdrv_alloc(mem, vdrv_device_bytes(packed, size) + 4, 8);
	if (d == VDRV_NOMEM || a == VDRV_NOMEM || u == VDRV_NOMEM)
		return -ENOMEM;
	a += packed ? 4 : 2; /* 2- (split) or 4-aligned (packed), never 8 */
	u += 4;
	return vdrv_vq_init_at(vq, mem, size, features, d, a, u);
}

void vdrv_vq_fini(struct vdrv_vq *vq)
{
	free(vq->bufs);
	free(vq->next_free);
	free(vq->id_next);
	free(vq->pend_pos);
	free(vq->pend_flags);
	free(vq->fifo);
	vq->bufs = NULL;
	vq->next_free = vq->id_next = vq->pend_pos = vq->pend_flags = vq->fifo = NULL;
}

void vdrv_vq_config(const struct vdrv_vq *vq, struct vdev_vq_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->struct_size = sizeof(*cfg);
	cfg->size = vq->size;
	cfg->desc_addr = vq->desc_gpa;
	cfg->driver_addr = vq->driver_gpa;
	cfg->device_addr = vq->device_gpa;
	cfg->features = vq->features;
}

/* ---- descriptors ---------------------------------------------------------- */

void vdrv_put_split_desc(void *p, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *b = p;

	st64(b, addr);
	st32(b + 8, len);
	st16(b + 12, flags);
	st16(b + 14, next);
}

void vdrv_put_packed_desc(void *p, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags)
{
	uint8_t *b = p;

	st64(b, addr);
	st32(b + 8, len);
	st16(b + 12, id);
	st16(b + 14, flags);
}

void vdrv_desc_set(struct vdrv_vq *vq, uint32_t i, uint64_t addr, uint32_t len, uint16_t flags,
		   uint16_t next_or_id)
{
	if (vq->packed)
		vdrv_put_packed_desc(desc_at(vq, i), addr, len, next_or_id, flags);
	else
		vdrv_put_split_desc(desc_at(vq, i), addr, len, flags, next_or_id);
}

void vdrv_desc_get(const struct vdrv_vq *vq, uint32_t i, uint64_t *addr, uint32_t *len,
		   uint16_t *flags, uint16_t *next_or_id)
{
	const uint8_t *b = desc_at(vq, i);

	*addr = ld64(b);
	*len = ld32(b + 8);
	if (vq->packed) {
		*next_or_id = ld16(b + 12);
		*flags = ld16(b + 14);
	} else {
		*flags = ld16(b + 12);
		*next_or_id = ld16(b + 14);
	}
}

void vdrv_desc_flags_release(struct vdrv_vq *vq, uint32_t i, uint16_t flags)
{
	st16_release(desc_at(vq, i) + 14, flags);
}

/* ---- adding buffers ---------------------------------------------------- */

/* Make sure buffer @id owns an indirect table of at least @n entries. */
static int itab_reserve(struct vdrv_vq *vq, uint16_t id, uint32_t n)
{
	struct vdrv_buf *b = &vq->bufs[id];
	uint32_t cap = 4;
	uint64_t gpa;

	if (b->itab_cap >= n)
		return 0;
	while (cap < n)
		cap <<= 1;
	gpa = vdrv_alloc(vq->mem, 16ull * cap, 16);
	if (gpa == VDRV_NOMEM)
		return -ENOMEM;
	b->itab_gpa = gpa;
	b->itab_cap = cap;
	return 0;
}

static void itab_fill(struct vdrv_vq *vq, uint16_t id, const struct vdrv_seg *segs, uint32_t n)
{
	uint8_t *t = vdrv_host(vq->mem, vq->bufs[id].itab_gpa);

	for (uint32_t k = 0; k < n; k++) {
		uint16_t fl = segs[k].write ? VDRV_DESC_F_WRITE : 0;

		if (vq->packed) {
			/* §2.8.7: only WRITE is valid in a packed indirect table; id reserved. */
			vdrv_put_packed_desc(t + 16ull * k, segs[k].gpa, segs[k].len, 0, fl);
		} else {
			/* §2.7.5.3: chained by next from 0, sequentially (IN_ORDER-proof) */
			if (k + 1 < n)
				fl |= VDRV_DESC_F_NEXT;
			vdrv_put_split_desc(t + 16ull * k, segs[k].gpa, segs[k].len, fl,
					    (uint16_t)(k + 1 < n ? k + 1 : 0));
		}
	}
}

static uint64_t in_bytes_of(const struct vdrv_seg *segs, unsigned int nseg)
{
	uint64_t in = 0;

	for (unsigned int k = 0; k < nseg; k++)
		if (segs[k].write)
			in += segs[k].len;
	return in;
}

static int add_split(struct vdrv_vq *vq, const struct vdrv_seg *segs, unsigned int nseg,
		     unsigned int ndirect, int tab, uint64_t token)
{
	unsigned int nring = ndirect + (tab ? 1 : 0);
	uint16_t head = vq->in_order ? vq->next_desc : vq->free_head;
	uint16_t i = head, last = head;
	int rc;

	if (nring > vq->num_free)
		return -ENOSPC;
	if (tab) {
		rc = itab_reserve(vq, head, nseg - ndirect);
		if (rc)
			return rc;
		itab_fill(vq, head, segs + ndirect, nseg - ndirect);
	}
	for (unsigned int k = 0; k < nring; k++) {
		/* §2.7.5: IN_ORDER drivers use descriptors in ring order, next = x + 1. */
		uint16_t next = vq->in_order ? (uint16_t)((i + 1u) % vq->size) : vq->next_free[i];
		uint16_t fl;
		uint64_t addr;
		uint32_t len;

		if (k < ndirect) {
			addr = segs[k].gpa;
			len = segs[k].len;
			fl = segs[k].write ? VDRV_DESC_F_WRITE : 0;
		} else {
			addr = vq->bufs[head].itab_gpa;
			len = 16u * (nseg - ndirect);
			fl = VDRV_DESC_F_INDIRECT;
		}
		if (k + 1 < nring)
			fl |= VDRV_DESC_F_NEXT;
		vdrv_put_split_desc(desc_at(vq, i), addr, len, fl, k + 1 < nring ? next : 0);
		last = i;
		i = next;
	}
	if (vq->in_order)
		vq->next_desc = i;
	else
		vq->free_head = i;
	vq->num_free -= nring;
	vq->bufs[head].token = token;
	vq->bufs[head].in_bytes = in_bytes_of(segs, nseg);
	vq->bufs[head].ndesc = (uint16_t)nring;
	vq->bufs[head].last = last;
	vq->bufs[head].busy = 1;
	st16(avail_ring_at(vq, vq->avail_idx), head);
	vq->avail_idx++;
	return head;
}

static int add_packed(struct vdrv_vq *vq, const struct vdrv_seg *segs, unsigned int nseg,
		      int tab, uint64_t token)
{
	unsigned int nring = tab ? 1 : nseg;
	uint16_t pos = vq->next_avail;
	uint8_t wrap = vq->avail_wrap;
	uint16_t id;
	int rc;

	if (nring > vq->num_free || vq->inflight >= vq->size)
		return -ENOSPC;
	id = vq->free_id;
	if (vq->bufs[id].busy)
		return -ENOSPC;
	if (tab) {
		rc = itab_reserve(vq, id, nseg);
		if (rc)
			return rc;
		itab_fill(vq, id, segs, nseg);
	}
	vq->free_id = vq->id_next[id];
	for (unsigned int k = 0; k < nring; k++) {
		uint16_t fl = wrap ? VDRV_DESC_F_AVAIL : VDRV_DESC_F_USED;
		uint16_t did = id;
		uint64_t addr;
		uint32_t len;

		if (tab) {
			addr = vq->bufs[id].itab_gpa;
			len = 16u * nseg;
			fl |= VDRV_DESC_F_INDIRECT;
		} else {
			addr = segs[k].gpa;
			len = segs[k].len;
			fl |= segs[k].write ? VDRV_DESC_F_WRITE : 0;
		}
		if (k + 1 < nring) {
			fl |= VDRV_DESC_F_NEXT;
			/* §2.8.6: the Buffer ID is in the last descriptor of the list. */
			if (vq->id_last_only)
				did = 0xffff;
		}
		if (k == 0) {
			/* The head becomes available last, at vdrv_publish(). */
			vdrv_put_packed_desc(desc_at(vq, pos), addr, len, did,
					     ld16(desc_at(vq, pos) + 14));
			vq->pend_pos[vq->npend] = pos;
			vq->pend_flags[vq->npend] = fl;
			vq->npend++;
		} else {
			vdrv_put_packed_desc(desc_at(vq, pos), addr, len, did, fl);
		}
		if (++pos == vq->size) {
			pos = 0;
			wrap ^= 1;
		}
	}
	vq->next_avail = pos;
	vq->avail_wrap = wrap;
	vq->pend_descs += nring;
	vq->num_free -= nring;
	vq->bufs[id].token = token;
	vq->bufs[id].in_bytes = in_bytes_of(segs, nseg);
	vq->bufs[id].ndesc = (uint16_t)nring;
	vq->bufs[id].busy = 1;
	return id;
}

static int add_common(struct vdrv_vq *vq, const struct vdrv_seg *segs, unsigned int nseg,
		      unsigned int ndirect, int tab, uint64_t token)
{
	int id;

	if (!nseg || nseg > 0xffffu || vq->err[0])
		return -EINVAL;
	if (tab && !(vq->features & F(VDEV_VIRTIO_F_INDIRECT_DESC)))
		return -EINVAL;
	id = vq->packed ? add_packed(vq, segs, nseg, tab, token)
			: add_split(vq, segs, nseg, ndirect, tab, token);
	if (id < 0)
		return id;
	vq->inflight++;
	if (vq->in_order)
		vq->fifo[(vq->fifo_head + vq->fifo_len++) % vq->size] = (uint16_t)id;
	return id;
}

int vdrv_add(struct vdrv_vq *vq, const struct vdrv_seg *segs, unsigned int nseg, unsigned int flags,
	     uint64_t token)
{
	int tab = !!(flags & VDRV_ADD_INDIRECT);

	return add_common(vq, segs, nseg, tab ? 0 : nseg, tab, token);
}

int vdrv_add_mixed(struct vdrv_vq *vq, const struct vdrv_seg *segs, unsigned int nseg,
		   unsigned int ndirect, uint64_t token)
{
	if (vq->packed || ndirect >= nseg)
		return -EINVAL;
	return add_common(vq, segs, nseg, ndirect, 1, token);
}

unsigned int vdrv_publish(struct vdrv_vq *vq)
{
	unsigned int n;

	if (vq->packed) {
		/* Each head's flags are stored last, with release ordering (§2.8.21). */
		n = vq->npend;
		for (uint32_t k = 0; k < vq->npend; k++)
			st16_release(desc_at(vq, vq->pend_pos[k]) + 14, vq->pend_flags[k]);
		vq->kick_added += vq->pend_descs;
		vq->npend = vq->pend_descs = 0;
		vq->pub_pos = vq->next_avail;
		vq->pub_wrap = vq->avail_wrap;
		return n;
	}
	n = (uint16_t)(vq->avail_idx - vq->avail_pub);
	/* §2.7.13.3.1: ring entries before idx; the release store orders them. */
	st16_release(drv_area(vq) + 2, vq->avail_idx);
	vq->avail_pub = vq->avail_idx;
	return n;
}

int vdrv_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

int vdrv_need_kick(struct vdrv_vq *vq)
{
	/* §2.7.13.4.1, §2.8.21.3.1: a full barrier between publishing and reading suppression */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->packed) {
		uint32_t added = vq->kick_added;
		uint16_t off_wrap, flags, event;

		vq->kick_added = 0;
		if (!added)
			return 0;
		off_wrap = ld16_acquire(dev_area(vq));
		flags = ld16_acquire(dev_area(vq) + 2) & 3;
		if (flags == VDRV_EVENT_DESC && vq->event_idx) {
			event = off_wrap & 0x7fff;
			if ((off_wrap >> 15) != vq->pub_wrap)
				event = (uint16_t)(event - vq->size);
			return vdrv_need_event(event, vq->pub_pos,
					       (uint16_t)(vq->pub_pos - added));
		}
		return flags != VDRV_EVENT_DISABLE;
	} else {
		uint16_t new_idx = vq->avail_pub, old_idx = vq->kick_old;

		vq->kick_old = new_idx;
		if (new_idx == old_idx)
			return 0;
		if (vq->event_idx)
			return vdrv_need_event(ld16_acquire(avail_event_at(vq)), new_idx, old_idx);
		return !(ld16_acquire(dev_area(vq)) & VDRV_USED_F_NO_NOTIFY);
	}
}

uint32_t vdrv_notify_data(const struct vdrv_vq *vq)
{
	if (vq->packed)
		return vq->pub_pos | ((uint32_t)vq->pub_wrap << 15);
	/* Split: next_off = idx bits 0..14, next_wrap = bit 15, i.e. the idx itself. */
	return vq->avail_pub;
}

/* ---- used buffers ------------------------------------------------------ */

static void release_buf(struct vdrv_vq *vq, uint16_t id, struct vdrv_used *u, uint32_t len,
			int skipped)
{
	struct vdrv_buf *b = &vq->bufs[id];

	u->id = id;
	u->len = len;
	u->token = b->token;
	u->skipped = skipped;
	b->busy = 0;
	vq->inflight--;
	vq->num_free += b->ndesc;
	if (vq->packed) {
		vq->id_next[id] = vq->free_id;
		vq->free_id = id;
	} else if (!vq->in_order) {
		vq->next_free[b->last] = vq->free_head;
		vq->free_head = id;
	}
}

/* IN_ORDER: hand out the next buffer of the batch a used entry covered. */
static int batch_next(struct vdrv_vq *vq, struct vdrv_used *u)
{
	uint16_t id = vq->fifo[vq->fifo_head];
	int last = vq->batch_left == 1;

	vq->fifo_head = (vq->fifo_head + 1) % vq->size;
	vq->fifo_len--;
	vq->batch_left--;
	/* §2.7.9 / §2.8.8: skipped buffers count as wholly used. */
	release_buf(vq, id, u, last ? vq->batch_len : (uint32_t)vq->bufs[id].in_bytes, !last);
	return 1;
}

/* IN_ORDER: position (1-based) of @id in the avail-order FIFO, 0 if absent. */
static uint32_t fifo_find(const struct vdrv_vq *vq, uint16_t id)
{
	for (uint32_t k = 0; k < vq->fifo_len; k++)
		if (vq->fifo[(vq->fifo_head + k) % vq->size] == id)
			return k + 1;
	return 0;
}

static int get_used_split(struct vdrv_vq *vq, struct vdrv_used *u)
{
	uint16_t uidx = vdrv_used_idx(vq);
	uint16_t n = (uint16_t)(uidx - vq->last_used);
	uint32_t id, len;

	if (!n)
		return 0;
	if (n > vq->inflight)
		return fail(vq, "used idx %u moved %u past %u with %u in flight", uidx, n,
			    vq->last_used, vq->inflight);
	vdrv_used_elem(vq, vq->last_used, &id, &len);
	if (id >= vq->size)
		return fail(vq, "used id %u >= queue size %u", id, vq->size);
	if (vq->in_order) {
		uint32_t k = fifo_find(vq, (uint16_t)id);

		if (!k)
			return fail(vq, "IN_ORDER used id %u not in flight", id);
		if (k > n)
			return fail(vq, "IN_ORDER used id %u covers %u buffers, idx moved %u", id,
				    k, n);
		if (len > vq->bufs[id].in_bytes)
			return fail(vq, "used len %u > writable %llu (id %u)", len,
				    (unsigned long long)vq->bufs[id].in_bytes, id);
		vq->last_used = (uint16_t)(vq->last_used + k);
		vq->batch_left = k;
		vq->batch_len = len;
		return batch_next(vq, u);
	}
	if (!vq->bufs[id].busy)
		return fail(vq, "used id %u is not in flight", id);
	if (len > vq->bufs[id].in_bytes)
		return fail(vq, "used len %u > writable %llu (id %u)", len,
			    (unsigned long long)vq->bufs[id].in_bytes, id);
	vq->last_used++;
	release_buf(vq, (uint16_t)id, u, len, 0);
	return 1;
}

static void used_advance(struct vdrv_vq *vq, uint32_t ndesc)
{
	uint32_t pos = vq->next_used + ndesc;

	while (pos >= vq->size) {
		pos -= vq->size;
		vq->used_wrap ^= 1;
	}
	vq->next_used = (uint16_t)pos;
}

static int get_used_packed(struct vdrv_vq *vq, struct vdrv_used *u)
{
	const uint8_t *d = desc_at(vq, vq->next_used);
	uint16_t flags = ld16_acquire(d + 14), id;
	int used = !!(flags & VDRV_DESC_F_USED), avail = !!(flags & VDRV_DESC_F_AVAIL);
	uint32_t len;

	/*
	 * §2.8.1: used means AVAIL == USED == the used wrap counter. USED alone
	 * matching is not enough: the tail of a list the device skipped still
	 * holds an available descriptor of the previous lap (AVAIL != USED).
	 */
	if (used != vq->used_wrap || avail != used)
		return 0;
	if (!vq->inflight)
		return fail(vq, "used descriptor at %u with nothing in flight", vq->next_used);
	id = ld16(d + 12);
	/* §2.8.4: the length is reserved unless WRITE says the device wrote. */
	len = (flags & VDRV_DESC_F_WRITE) ? ld32(d + 8) : 0;
	if (id >= vq->size)
		return fail(vq, "used id %u >= queue size %u", id, vq->size);
	if (vq->in_order) {
		uint32_t k = fifo_find(vq, id), skip = 0;

		if (!k)
			return fail(vq, "IN_ORDER used id %u not in flight", id);
		if (len > vq->bufs[id].in_bytes)
			return fail(vq, "used len %u > writable %llu (id %u)", len,
				    (unsigned long long)vq->bufs[id].in_bytes, id);
		for (uint32_t j = 0; j < k; j++)
			skip += vq->bufs[vq->fifo[(vq->fifo_head + j) % vq->size]].ndesc;
		used_advance(vq, skip);
		vq->batch_left = k;
		vq->batch_len = len;
		return batch_next(vq, u);
	}
	if (!vq->bufs[id].busy)
		return fail(vq, "used id %u is not in flight", id);
	if (len > vq->bufs[id].in_bytes)
		return fail(vq, "used len %u > writable %llu (id %u)", len,
			    (unsigned long long)vq->bufs[id].in_bytes, id);
	/* §2.8.6: the next used descriptor follows this buffer's whole list. */
	used_advance(vq, vq->bufs[id].ndesc);
	release_buf(vq, id, u, len, 0);
	return 1;
}

int vdrv_get_used(struct vdrv_vq *vq, struct vdrv_used *u)
{
	if (vq->err[0])
		return -EPROTO;
	if (vq->batch_left)
		return batch_next(vq, u);
	return vq->packed ? get_used_packed(vq, u) : get_used_split(vq, u);
}

uint32_t vdrv_inflight(const struct vdrv_vq *vq)
{
	return vq->inflight;
}

/* ---- used-buffer notification suppression (driver side) ------------------ */

static int used_pending(struct vdrv_vq *vq)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->batch_left)
		return 1;
	if (vq->packed) {
		uint16_t flags = ld16_acquire(desc_at(vq, vq->next_used) + 14);

		return !!(flags & VDRV_DESC_F_USED) == vq->used_wrap &&
		       !!(flags & VDRV_DESC_F_AVAIL) == vq->used_wrap;
	}
	return vdrv_used_idx(vq) != vq->last_used;
}

int vdrv_interrupts_enable(struct vdrv_vq *vq)
{
	if (vq->packed)
		vdrv_driver_event_set(vq, 0, VDRV_EVENT_ENABLE);
	else if (vq->event_idx)
		vdrv_used_event_set(vq, vq->last_used);
	else
		vdrv_avail_flags_set(vq, 0);
	return used_pending(vq);
}

void vdrv_interrupts_disable(struct vdrv_vq *vq)
{
	if (vq->packed)
		vdrv_driver_event_set(vq, 0, VDRV_EVENT_DISABLE);
	else if (vq->event_idx)
		vdrv_used_event_set(vq, (uint16_t)(vq->last_used - 1));
	else
		vdrv_avail_flags_set(vq, VDRV_AVAIL_F_NO_INTERRUPT);
}

int vdrv_interrupt_after(struct vdrv_vq *vq, uint32_t n)
{
	if (!vq->event_idx || !n || n > vq->size)
		return -EINVAL;
	if (vq->packed) {
		uint32_t pos = vq->next_used + n - 1;
		uint16_t wrap = vq->used_wrap;

		while (pos >= vq->size) {
			pos -= vq->size;
			wrap ^= 1;
		}
		vdrv_driver_event_set(vq, (uint16_t)(pos | (uint32_t)wrap << 15), VDRV_EVENT_DESC);
	} else {
		vdrv_used_event_set(vq, (uint16_t)(vq->last_used + n - 1));
	}
	return 0;
}

/* ---- raw ring accessors ------------------------------------------------- */

void vdrv_avail_flags_set(struct vdrv_vq *vq, uint16_t flags)
{
	st16_release(drv_area(vq), flags);
}

void vdrv_avail_ring_set(struct vdrv_vq *vq, uint16_t pos, uint16_t head)
{
	st16(avail_ring_at(vq, pos), head);
}

void vdrv_avail_idx_set(struct vdrv_vq *vq, uint16_t idx)
{
	st16_release(drv_area(vq) + 2, idx);
}

void vdrv_used_event_set(struct vdrv_vq *vq, uint16_t ev)
{
	st16_release(used_event_at(vq), ev);
}

uint16_t vdrv_used_flags(const struct vdrv_vq *vq)
{
	return ld16_acquire(dev_area(vq));
}

uint16_t vdrv_used_idx(const struct vdrv_vq *vq)
{
	return ld16_acquire(dev_area(vq) + 2);
}

void vdrv_used_elem(const struct vdrv_vq *vq, uint16_t pos, uint32_t *id, uint32_t *len)
{
	const uint8_t *e = used_elem_at(vq, pos);

	*id = ld32(e);
	*len = ld32(e + 4);
}

uint16_t vdrv_avail_event(const struct vdrv_vq *vq)
{
	return ld16_acquire(avail_event_at(vq));
}

void vdrv_driver_event_set(struct vdrv_vq *vq, uint16_t off_wrap, uint16_t flags)
{
	st16_release(drv_area(vq), off_wrap);
	st16_release(drv_area(vq) + 2, flags);
}

void vdrv_device_event(const struct vdrv_vq *vq, uint16_t *off_wrap, uint16_t *flags)
{
	*off_wrap = ld16_acquire(dev_area(vq));
	*flags = ld16_acquire(dev_area(vq) + 2);
}
