/* SPDX-License-Identifier: MIT */
/*
 * Packed virtqueues (VIRTIO 1.2 §2.8), device side.
 *
 * One descriptor ring shared both ways. A descriptor is available when its
 * AVAIL bit equals the driver's wrap counter and its USED bit does not
 * (§2.8.1); the device keeps both wrap counters (avail_wrap for the next
 * descriptor to pop, used_wrap for the next used descriptor to write).
 *
 * Memory ordering:
 *  - the head descriptor's flags are read with acquire, then the rest of
 *    the list (the driver exposes the head last, §2.8.6);
 *  - a batch of used descriptors is written with the first one's flags
 *    held back; flush stores them with release, so the driver never sees a
 *    partial batch (§2.8.6, §2.8.21);
 *  - a full barrier separates that store from reading the driver event
 *    suppression area, and writing the device area from re-checking the
 *    ring.
 */
#include <errno.h>

#include "virtio/vq_internal.h"

#define DESC_FLAGS 14u

static inline const uint8_t *desc_at(const struct vdev_vq *vq, uint32_t pos)
{
	return vq->desc + (size_t)pos * VQ_DESC_SIZE;
}

/* Available in the lap whose driver wrap counter is @wrap? */
static inline bool is_avail(uint16_t flags, uint8_t wrap)
{
	return (flags & (VQ_DESC_F_AVAIL | VQ_DESC_F_USED)) ==
	       (wrap ? VQ_DESC_F_AVAIL : VQ_DESC_F_USED);
}

static inline uint16_t head_flags(const struct vdev_vq *vq)
{
	return vq_ld16(desc_at(vq, vq->avail_pos) + DESC_FLAGS, __ATOMIC_ACQUIRE);
}

static void remote_relook(struct vdev_vq *vq);

static void set_dev_event(struct vdev_vq *vq, uint32_t v)
{
	/* le16 off_wrap, then le16 flags: one 32-bit store (§2.8.10). */
	vq_st32(vq->dev, v, __ATOMIC_RELAXED);
	vq->dev_event = v;
	if (VQ_UNLIKELY(vq->mhot->logging)) {
		vdev__vq_ring_dirty(vq, vq->cfg.device_addr, 4);
		/*
		 * Remote: pushed; if it asks for kicks, a head the driver made
		 * available before it saw it must be seen now.
		 */
		if ((vq->slow & VQ_SLOW_REMOTE) && vq->notify_on)
			remote_relook(vq);
	}
}

static inline uint32_t event_at_avail(const struct vdev_vq *vq)
{
	return (VQ_EVENT_DESC << 16) | vq->avail_pos | (vq->avail_wrap ? VQ_EVENT_WRAP : 0);
}

/*
 * Nothing available. With EVENT_IDX the device area names the descriptor
 * whose arrival should kick; move it to the next one, then look again.
 * Only when it changes: once per drain.
 */
static int rearm(struct vdev_vq *vq)
{
	uint32_t want;

	if (!vq->notify_on || !vq->event_idx)
		return 0;
	want = event_at_avail(vq);
	if (vq->dev_event == want)
		return 0;
	set_dev_event(vq, want);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return is_avail(head_flags(vq), vq->avail_wrap);
}

/* The entries of an opened indirect table, in order (§2.8.7). */
VQ_INLINE int walk_table(struct vdev_vq *vq, struct vdev_vq_req *r, const struct vq_table *t,
			 bool direct, bool from_end)
{
	for (uint32_t i = 0; i < t->n; i++) {
		uint64_t a, w1;
		int rc;

		vq_table_read(vq, t, i, &a, &w1, direct);
		/* Only WRITE is meaningful in a table; the rest is ignored (§2.8.7). */
		rc = vq_desc(vq, r, a, (uint32_t)w1, (w1 >> 48) & VQ_DESC_F_WRITE, from_end);
		if (VQ_UNLIKELY(rc))
			return rc;
	}
	return 0;
}

/* An indirect descriptor: the whole list is its table. */
VQ_INLINE int walk_indirect(struct vdev_vq *vq, struct vdev_vq_req *r,
						   uint64_t addr, uint32_t len, uint16_t flags,
						   bool from_end)
{
	struct vq_table t;
	int rc;

	if (!vq->indirect)
		return vdev__vq_violation(vq, VQ_RULE_INDIRECT_FEATURE,
					  "descriptor %u is indirect", vq->avail_pos);
	if (flags & VQ_DESC_F_NEXT)
		return vdev__vq_violation(vq, VQ_RULE_INDIRECT_NEXT,
					  "descriptor %u: indirect with NEXT", vq->avail_pos);
	/* The table size is checked against seg_limit: no loop is possible. */
	rc = vq_table_open(vq, addr, len, &t);
	if (rc)
		return rc;
	if (from_end)
		return t.hva ? walk_table(vq, r, &t, true, true) : walk_table(vq, r, &t, false, true);
	return t.hva ? walk_table(vq, r, &t, true, false) : walk_table(vq, r, &t, false, false);
}

/* walk_rest() success: the list's buffer id and length, above any error code. */
#define REST_OK (1ll << 48)

/*
 * The descriptors after the head of a NEXT-linked list. @return REST_OK |
 * ndesc << 16 | id, or VQ_WALK_MIXED, or -EIO (one value: no outputs
 * through pointers, which would keep the callers' locals out of registers).
 */
VQ_INLINE int64_t walk_rest(struct vdev_vq *vq, struct vdev_vq_req *r, bool from_end)
{
	uint32_t pos = vq->avail_pos, n = 1, expect = vq->avail_expect;

	for (;;) {
		const uint8_t *d;
		uint64_t addr, w1;
		uint16_t flags;
		int rc;

		if (VQ_UNLIKELY(++n > vq->ring_limit))
			return vdev__vq_violation(vq, VQ_RULE_CHAIN_LENGTH,
						  "list at %u: more than %u descriptors",
						  vq->avail_pos, vq->ring_limit);
		if (++pos == vq->size) {
			pos = 0;
			expect ^= VQ_DESC_F_AVAIL | VQ_DESC_F_USED; /* the next lap */
		}
		d = desc_at(vq, pos);
		addr = vq_ld64(d);
		w1 = vq_ld64(d + 8);
		flags = (uint16_t)(w1 >> 48);
		/*
		 * §2.8.6/§2.8.15: every descriptor of the list is marked available,
		 * not only the head (which the driver writes last), and the device
		 * uses none it has not seen made available. No INDIRECT in a list.
		 */
		if (VQ_UNLIKELY((flags & (VQ_DESC_F_AVAIL | VQ_DESC_F_USED | VQ_DESC_F_INDIRECT)) !=
				expect)) {
			if ((flags & (VQ_DESC_F_AVAIL | VQ_DESC_F_USED)) != expect)
				return vdev__vq_violation(vq, VQ_RULE_NOT_AVAIL,
							  "list at %u: descriptor %u (flags 0x%x) "
							  "is not available", vq->avail_pos, pos,
							  flags);
			return vdev__vq_violation(vq, VQ_RULE_INDIRECT_CHAINED,
						  "list at %u: descriptor %u is INDIRECT",
						  vq->avail_pos, pos);
		}
		rc = vq_desc(vq, r, addr, (uint32_t)w1, flags & VQ_DESC_F_WRITE, from_end);
		if (VQ_UNLIKELY(rc))
			return rc;
		/* The buffer id is in the last descriptor (§2.8.6). */
		if (!(flags & VQ_DESC_F_NEXT))
			return REST_OK | (int64_t)n << 16 | (uint16_t)(w1 >> 32);
	}
}

/*
 * Walk the list whose head @d (at avail_pos) has second half @w1 (length,
 * id, flags). @return 0, VQ_WALK_MIXED, -EIO.
 */
VQ_INLINE int walk(struct vdev_vq *vq, const uint8_t *d, uint64_t w1, struct vdev_vq_req *r,
		   uint16_t *id, uint32_t *ndesc, bool from_end)
{
	uint16_t flags = (uint16_t)(w1 >> 48);
	/* The caller read the head's second half with acquire; the address after it. */
	uint64_t addr = vq_ld64(d);
	int64_t v;
	int rc;

	*id = (uint16_t)(w1 >> 32);
	*ndesc = 1;
	if (VQ_UNLIKELY(flags & VQ_DESC_F_INDIRECT))
		return walk_indirect(vq, r, addr, (uint32_t)w1, flags, from_end);
	rc = vq_desc(vq, r, addr, (uint32_t)w1, flags & VQ_DESC_F_WRITE, from_end);
	if (VQ_LIKELY(rc || !(flags & VQ_DESC_F_NEXT)))
		return rc;
	v = walk_rest(vq, r, from_end);
	if (v < REST_OK)
		return (int)v;
	*id = (uint16_t)v;
	*ndesc = (uint32_t)(v >> 16) & 0xffff;
	return 0;
}

/* Readable after writable (allowed unless VDEV_VQ_F_READ_BEFORE_WRITE): walk again, sorting. */
static __attribute__((noinline)) int pop_mixed(struct vdev_vq *vq, const uint8_t *d,
					       uint64_t w1, struct vdev_vq_req *req,
					       uint16_t *id, uint32_t *ndesc)
{
	int rc;

	vq_walk_init(req);
	rc = walk(vq, d, w1, req, id, ndesc, true);
	return rc ? rc : vq_walk_finish(vq, req, true);
}

/*
 * The checked walk of the list at avail_pos (second half of the head @w1),
 * every rule applied. @return ndesc << 16 | buffer id, -EIO or -ENOBUFS.
 */
static __attribute__((noinline)) int64_t pop_checked(struct vdev_vq *vq, uint64_t w1,
						     struct vdev_vq_req *req)
{
	const uint8_t *d = desc_at(vq, vq->avail_pos);
	uint32_t ndesc = 0;
	uint16_t id = 0;
	int rc;

	vq_walk_init(req);
	rc = walk(vq, d, w1, req, &id, &ndesc, false);
	if (VQ_LIKELY(!rc))
		rc = vq_walk_finish(vq, req, false);
	else if (rc > 0)
		rc = pop_mixed(vq, d, w1, req, &id, &ndesc);
	if (rc)
		return rc;
	if (VQ_UNLIKELY(id >= vq->size))
		return vdev__vq_violation(vq, VQ_RULE_ID_RANGE,
					  "list at %u: buffer id %u >= queue size %u",
					  vq->avail_pos, id, vq->size);
	if (VQ_UNLIKELY(__atomic_load_n(&vq->slots[id].state, __ATOMIC_RELAXED) !=
			VQ_SLOT_FREE))
		return vdev__vq_violation(vq, VQ_RULE_ID_IN_FLIGHT,
					  "list at %u: buffer id %u is already in flight",
					  vq->avail_pos, id);
	req->out_num -= req->in_num;
	return (int64_t)ndesc << 16 | id;
}

/*
 * The fast walk (vq_internal.h) of an indirect descriptor's table: every
 * entry (its size bounds the walk), at most @cap of them.
 */
VQ_INLINE bool fast_table(struct vdev_vq *vq, struct vq_fast *f, uint64_t addr, uint32_t len,
			  uint16_t flags, uint32_t cap)
{
	const uint8_t *t, *e;
	uint32_t n;

	if (!vq->indirect || (flags & VQ_DESC_F_NEXT) || !vq_fast_table(vq, addr, len, &t, &n) ||
	    n > cap)
		return false;
	e = t + (size_t)n * VQ_DESC_SIZE;
	do {
		uint64_t a, w1;

		vq_fast_entry(t, 0, &a, &w1);
		/* Only WRITE is meaningful in a table (§2.8.7). */
		if (!vq_fast_desc(vq, f, a, (uint32_t)w1, (w1 >> 48) & VQ_DESC_F_WRITE))
			return false;
		t += VQ_DESC_SIZE;
	} while (t != e);
	return true;
}

/* Ring descriptors a list may take: min(ring_limit, iov_cap), every one an iovec. */
static inline uint32_t fast_budget(const struct vdev_vq *vq, const struct vdev_vq_req *req)
{
	return VDEV__MIN(req->iov_cap, vq->ring_limit);
}

/*
 * The fast walk of the list at avail_pos (head @d, second half @w1), at
 * most fast_budget() ring descriptors. On success *id is the buffer id and
 * *ndesc the ring descriptors the list took. What only the rare paths
 * need is recomputed there, not kept in registers across the loop.
 */
VQ_INLINE bool fast_walk(struct vdev_vq *vq, const uint8_t *d, uint64_t w1, struct vq_fast *f,
			 uint16_t *id, uint32_t *ndesc)
{
	const uint8_t *stop;
	uint16_t flags = (uint16_t)(w1 >> 48), expect;
	/* The caller read the head's second half with acquire; the address after it. */
	uint64_t addr = vq_ld64(d);
	uint32_t n = 1;
	size_t budget;

	if (flags & VQ_DESC_F_INDIRECT) {
		*id = (uint16_t)(w1 >> 32);
		*ndesc = 1;
		return fast_table(vq, f, addr, (uint32_t)w1, flags, f->r->iov_cap);
	}
	budget = (size_t)fast_budget(vq, f->r) * VQ_DESC_SIZE;
	if (!budget)
		return false;
	/* One compare per descriptor: stop is the ring's end or the budget's, the nearer. */
	stop = d + VDEV__MIN((size_t)(desc_at(vq, vq->size) - d), budget);
	expect = vq->avail_expect;
	for (;;) {
		if (!vq_fast_desc(vq, f, addr, (uint32_t)w1, flags & VQ_DESC_F_WRITE))
			return false;
		/* The buffer id is in the last descriptor (§2.8.6). */
		if (!(flags & VQ_DESC_F_NEXT)) {
			*id = (uint16_t)(w1 >> 32);
			*ndesc = n;
			return true;
		}
		n++;
		d += VQ_DESC_SIZE;
		if (VQ_UNLIKELY(d == stop)) {
			/* Bytes from the head to the ring's end, and the budget. */
			size_t room = (size_t)(vq->size - vq->avail_pos) * VQ_DESC_SIZE;

			budget = (size_t)fast_budget(vq, f->r) * VQ_DESC_SIZE;
			if (d != desc_at(vq, vq->size) || budget <= room)
				return false;
			/* The ring's end: on into the next lap, with what is left of the budget. */
			d = vq->desc;
			stop = d + (budget - room);
			expect ^= VQ_DESC_F_AVAIL | VQ_DESC_F_USED;
		}
		addr = vq_ld64(d);
		w1 = vq_ld64(d + 8);
		flags = (uint16_t)(w1 >> 48);
		/* Available in this lap and not INDIRECT (§2.8.6, §2.8.7). */
		if ((flags & (VQ_DESC_F_AVAIL | VQ_DESC_F_USED | VQ_DESC_F_INDIRECT)) != expect)
			return false;
	}
}

/*
 * Walk the list at avail_pos (head @d, second half @w1) into @req, fast or
 * else checked. @return 0 with *id and *ndesc set, -EIO or -ENOBUFS.
 */
VQ_INLINE int pop_chain(struct vdev_vq *vq, struct vdev_vq_req *req, const uint8_t *d,
			uint64_t w1, uint16_t *id, uint32_t *ndesc)
{
	struct vq_fast f;
	int64_t v;

	vq_fast_init(&f, req);
	if (VQ_LIKELY(fast_walk(vq, d, w1, &f, id, ndesc) &&
		      *id < vq->size &&
		      __atomic_load_n(&vq->slots[*id].state, __ATOMIC_RELAXED) == VQ_SLOT_FREE &&
		      vq_fast_finish(&f)))
		return 0;
	v = pop_checked(vq, w1, req);
	if (v < 0)
		return (int)v;
	*id = (uint16_t)v;
	*ndesc = (uint32_t)(v >> 16);
	return 0;
}

/* Move avail_pos past the @ndesc descriptors just popped and record the request. */
VQ_INLINE void pop_commit(struct vdev_vq *vq, struct vdev_vq_req *req, uint16_t id,
			  uint32_t ndesc)
{
	uint32_t pos = vq->avail_pos + ndesc;

	if (pos >= vq->size) {
		pos -= vq->size;
		vq->avail_wrap ^= 1;
		vq->avail_expect ^= VQ_DESC_F_AVAIL | VQ_DESC_F_USED;
	}
	vq->avail_pos = (uint16_t)pos;
	vq_commit(vq, &vq->slots[id], req, id, req->in_len, vq->pop_seq++, (uint16_t)ndesc, true,
		  vq->in_order);
}

/*
 * Pop one request. One descriptor, the common case, has a path of its own;
 * the rest goes to pop_chain(). Little is kept in locals across the walk
 * (it wants the registers): positions are re-read from vq after it.
 */
VQ_INLINE int pop_one(struct vdev_vq *vq, struct vdev_vq_req *req)
{
	const uint8_t *d = desc_at(vq, vq->avail_pos);
	/*
	 * len, id and flags in one aligned 8-byte load with acquire: the
	 * flags decide availability, and what they guard is read after them
	 * (the driver writes them last, §2.8.21.1).
	 */
	uint64_t w1 = vq_ld64_acquire(d + 8);
	uint32_t ndesc = 0;
	/* cid: pop_chain()'s own output, so that id need not live across it. */
	uint16_t flags, id, cid = 0;
	int rc;

	if (((w1 >> 48) & (VQ_DESC_F_AVAIL | VQ_DESC_F_USED)) != vq->avail_expect) {
		rc = rearm(vq);
		if (rc <= 0)
			return rc;
		w1 = vq_ld64_acquire(d + 8);
	}
	flags = (uint16_t)(w1 >> 48);
	id = (uint16_t)(w1 >> 32);
	if (VQ_LIKELY(!(flags & (VQ_DESC_F_NEXT | VQ_DESC_F_INDIRECT))) &&
	    VQ_LIKELY(vq_fast_one(vq, req, vq_ld64(d), (uint32_t)w1, flags & VQ_DESC_F_WRITE)) &&
	    VQ_LIKELY(id < vq->size) &&
	    VQ_LIKELY(__atomic_load_n(&vq->slots[id].state, __ATOMIC_RELAXED) == VQ_SLOT_FREE)) {
		pop_commit(vq, req, id, 1);
		return 1;
	}
	rc = pop_chain(vq, req, d, w1, &cid, &ndesc);
	if (rc)   /* -EAGAIN: remote memory on its way (pop_remote() in vq.c) */
		return rc == -EAGAIN ? 0 : rc;
	pop_commit(vq, req, cid, ndesc);
	return 1;
}

int vdev__vq_packed_pull_head(struct vdev_vq *vq)
{
	uint64_t ring = vq->cfg.desc_addr;
	int rc;

	if (!vq->look)
		vdev__vq_new_look(vq);
	rc = vdev__vq_pull_since(vq, ring + (uint64_t)vq->avail_pos * VQ_DESC_SIZE, VQ_DESC_SIZE,
				 vq->look);
	if (rc || !is_avail(head_flags(vq), vq->avail_wrap))
		return rc;
	/*
	 * The driver wrote the chain before the head's flags (§2.8.21.1), so
	 * a read sent after we saw the flags sees all of it; the read that
	 * saw them may have caught the chain half written.
	 */
	if (!vq->chain_look)
		vq->chain_look = vdev__mem_remote_now(vq->ctx);
	return vdev__vq_pull(vq, ring, (uint64_t)vq->size * VQ_DESC_SIZE);
}

/* Remote: we just asked the driver to kick (pushed): look again, since now. */
static void remote_relook(struct vdev_vq *vq)
{
	vdev__vq_new_look(vq);
	(void)vdev__vq_packed_pull_head(vq);
}

int vdev__vq_packed_pop(struct vdev_vq *vq, struct vdev_vq_req *reqs, unsigned int n)
{
	struct vdev_vq_req *r = reqs, *end = reqs + n;

	do {
		int rc = pop_one(vq, r);

		if (rc <= 0)
			return r != reqs ? (int)(r - reqs) : rc;
	} while (++r != end);
	return (int)n;
}

/* Lap position: [0, size) in a lap with wrap counter 1, [size, 2 size) with 0. */
static inline uint32_t lap_pos(const struct vdev_vq *vq, uint32_t pos, uint32_t wrap)
{
	return pos + (wrap ? 0 : vq->size);
}

/*
 * EVENT_IDX (§2.8.10): the driver asked for a notification once the
 * descriptor at off_wrap is used. Notify if it lies among the slots this
 * flush made used, [old, now) in lap positions, modulo two laps.
 */
static bool event_passed(const struct vdev_vq *vq, uint16_t off_wrap, uint32_t old)
{
	uint32_t laps = 2 * vq->size, off = off_wrap & 0x7fff;
	uint32_t now = lap_pos(vq, vq->used_pos, vq->used_wrap), ev, done, dist;

	if (off >= vq->size)
		return true; /* nonsense: a spurious notification is harmless */
	ev = lap_pos(vq, off, off_wrap >> 15);
	done = now >= old ? now - old : now + laps - old;
	dist = ev >= old ? ev - old : ev + laps - old;
	return dist < done;
}

int vdev__vq_packed_flush(struct vdev_vq *vq)
{
	uint32_t old, ev;
	bool need, remote = false;

	if (!vq->pending)
		return 0;
	old = lap_pos(vq, vq->flushed_pos, vq->flushed_wrap);
	vq_st16(vq->desc + (size_t)vq->flushed_pos * VQ_DESC_SIZE + DESC_FLAGS, vq->first_flags,
		__ATOMIC_RELEASE);
	if (VQ_UNLIKELY(vq->mhot->logging)) {
		/* Its own mark: a dirty sync since publish() marked the descriptor must see it. */
		vdev__vq_ring_dirty(vq, vq->cfg.desc_addr +
					     (uint64_t)vq->flushed_pos * VQ_DESC_SIZE + DESC_FLAGS,
				    2);
		remote = vq->rings_remote;
	}
	vq->pending = false;
	vq->flushed_pos = vq->used_pos;
	vq->flushed_wrap = vq->used_wrap;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/* Remote: the driver's event area cannot be read without waiting: always notify. */
	if (VQ_UNLIKELY(remote)) {
		vq->ops.notify(vq->opaque, vq);
		return 1;
	}
	ev = vq_ld32(vq->drv, __ATOMIC_RELAXED);
	switch ((ev >> 16) & 3) {
	case VQ_EVENT_DISABLE:
		need = false;
		break;
	case VQ_EVENT_DESC:
		/* Without EVENT_IDX the value is invalid: notify, to be safe. */
		need = !vq->event_idx || event_passed(vq, (uint16_t)ev, old);
		break;
	default: /* ENABLE, or the reserved 3 */
		need = true;
		break;
	}
	if (!need)
		return 0;
	vq->ops.notify(vq->opaque, vq);
	return 1;
}

int vdev__vq_packed_avail(struct vdev_vq *vq)
{
	if (VQ_UNLIKELY(vq->slow & VQ_SLOW_REMOTE)) {
		int rc = vdev__vq_packed_pull_head(vq);

		/* Not known yet: the arrival kicks the queue (rwait). */
		if (rc)
			return rc == -EAGAIN ? 0 : rc;
	}
	return is_avail(head_flags(vq), vq->avail_wrap);
}

int vdev__vq_packed_notify_enable(struct vdev_vq *vq, int enable)
{
	vq->notify_on = enable;
	if (!enable)
		set_dev_event(vq, VQ_EVENT_DISABLE << 16);
	else
		set_dev_event(vq, vq->event_idx ? event_at_avail(vq) : VQ_EVENT_ENABLE << 16);
	if (!enable)
		return 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return is_avail(head_flags(vq), vq->avail_wrap);
}
