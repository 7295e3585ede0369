/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues (VIRTIO 1.2 §2.7), device side.
 *
 * Memory ordering, against vCPUs running the driver concurrently:
 *  - avail->idx is read with acquire, then the ring entries and the
 *    descriptors it covers (§2.7.13.3.1: the driver's barrier before idx);
 *    it is read once per batch: the shadow covers every entry up to it;
 *  - used entries are written plainly and published by a release store
 *    of used->idx (flush);
 *  - a full barrier separates publishing used->idx from reading
 *    used_event / avail->flags (§2.7.7.2), and writing avail_event /
 *    used->flags from re-reading avail->idx, so that neither side can miss
 *    a notification.
 */
#include <errno.h>

#include "virtio/vq_internal.h"

static inline uint8_t *avail_event_ptr(const struct vdev_vq *vq)
{
	return vq->dev + VQ_USED_RING + (size_t)VQ_USED_ELEM * vq->size;
}

/*
 * Remote memory (VQ_SLOW_REMOTE): refresh avail->flags and idx since the
 * look's point, then, if idx moved, the ring entries and descriptors it
 * covers - and later the tables and buffers (vdev__vq_pull() uses
 * chain_look) - since a point taken after that idx was seen: the driver
 * wrote them before idx (§2.7.13.3.1), so only reads sent after seeing
 * idx are sure to see them. (Reads from earlier in the look may predate
 * it: the index can be fetched again in one look when its fetch was
 * dropped from the core's table.)
 */
static __attribute__((noinline)) int remote_pull_avail(struct vdev_vq *vq)
{
	uint64_t n = vq->size;
	uint16_t idx;
	int rc;

	if (!vq->look)
		vdev__vq_new_look(vq);
	rc = vdev__vq_pull_since(vq, vq->cfg.driver_addr, VQ_AVAIL_RING, vq->look);
	if (rc)
		return rc;
	idx = vq_ld16(vq->drv + VQ_AVAIL_IDX, __ATOMIC_ACQUIRE);
	if (idx == vq->last_avail)
		return 0;
	if (!vq->chain_look || idx != vq->chain_idx) {
		vq->chain_look = vdev__mem_remote_now(vq->ctx);
		vq->chain_idx = idx;
	}
	rc = vdev__vq_pull(vq, vq->cfg.driver_addr + VQ_AVAIL_RING, 2 * n);
	return rc ? rc : vdev__vq_pull(vq, vq->cfg.desc_addr, VQ_DESC_SIZE * n);
}

int vdev__vq_split_pull(struct vdev_vq *vq)
{
	return remote_pull_avail(vq);
}

/* Remote: we just asked the driver to kick (pushed): look again, since now. */
static void remote_relook(struct vdev_vq *vq)
{
	vdev__vq_new_look(vq);
	(void)remote_pull_avail(vq);
}

/*
 * Read avail->idx. @return 1 if entries are waiting, 0 if not, -EIO.
 * Remote rings: the callers pulled (a batch starts with a pull, and every
 * device write that asks the driver for a kick is followed by one).
 */
static int refill(struct vdev_vq *vq)
{
	uint16_t idx = vq_ld16(vq->drv + VQ_AVAIL_IDX, __ATOMIC_ACQUIRE);
	uint16_t ahead = (uint16_t)(idx - vq->last_avail);

	if (VQ_UNLIKELY(ahead > vq->size))
		return vdev__vq_violation(vq, VQ_RULE_AVAIL_IDX,
					  "avail idx %u is %u entries past the last seen %u",
					  idx, ahead, vq->last_avail);
	vq->avail_shadow = idx;
	return ahead != 0;
}

static void set_avail_event(struct vdev_vq *vq, uint16_t v)
{
	vq_st16(avail_event_ptr(vq), v, __ATOMIC_RELAXED);
	vq->avail_event = v;
	if (VQ_UNLIKELY(vq->mhot->logging)) {
		vdev__vq_ring_dirty(vq, vq->cfg.device_addr + VQ_USED_RING +
					     (uint64_t)VQ_USED_ELEM * vq->size, 2);
		/*
		 * Remote: pushed; if it asks for kicks, what the driver added
		 * before it saw it must be seen now.
		 */
		if ((vq->slow & VQ_SLOW_REMOTE) && vq->notify_on)
			remote_relook(vq);
	}
}

/*
 * The ring is empty. With EVENT_IDX, a device that wants kicks must
 * have avail_event at the next entry, or the driver's next add does not
 * kick (§2.7.10): move it there, then look again. Done only when the
 * value changes, so once per drain.
 */
static int rearm(struct vdev_vq *vq)
{
	if (!vq->notify_on || !vq->event_idx || vq->avail_event == vq->last_avail)
		return 0;
	set_avail_event(vq, vq->last_avail);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return refill(vq);
}

/* The entries of an opened indirect table; at most @limit of them (loops end there). */
VQ_INLINE int walk_table(struct vdev_vq *vq, struct vdev_vq_req *r, uint16_t head,
			 const struct vq_table *t, uint32_t limit, bool direct, bool from_end)
{
	uint32_t i = 0;

	for (;;) {
		uint64_t a, w1;
		uint16_t f;
		int rc;

		vq_table_read(vq, t, i, &a, &w1, direct);
		f = (uint16_t)(w1 >> 32);
		if (VQ_UNLIKELY(!limit--))
			return vdev__vq_violation(vq, VQ_RULE_CHAIN_LENGTH,
						  "chain %u: more than %u descriptors (indirect "
						  "table of %u)", head, vq->seg_limit, t->n);
		if (VQ_UNLIKELY(f & VQ_DESC_F_INDIRECT))
			return vdev__vq_violation(vq, VQ_RULE_INDIRECT_NESTED,
						  "chain %u: indirect entry %u is INDIRECT", head, i);
		rc = vq_desc(vq, r, a, (uint32_t)w1, f & VQ_DESC_F_WRITE, from_end);
		if (VQ_UNLIKELY(rc))
			return rc;
		if (!(f & VQ_DESC_F_NEXT))
			return 0;
		i = (uint16_t)(w1 >> 48);
		if (VQ_UNLIKELY(i >= t->n))
			return vdev__vq_violation(vq, VQ_RULE_DESC_INDEX,
						  "chain %u: indirect next %u >= table size %u",
						  head, i, t->n);
	}
}

/* An indirect descriptor after @nbuf direct ones: its table ends the chain. */
VQ_INLINE int walk_indirect(struct vdev_vq *vq, struct vdev_vq_req *r,
						   uint16_t head, uint64_t addr, uint32_t len,
						   uint16_t flags, uint32_t nbuf, bool from_end)
{
	struct vq_table t;
	uint32_t limit;
	int rc;

	if (!vq->indirect)
		return vdev__vq_violation(vq, VQ_RULE_INDIRECT_FEATURE,
					  "chain %u uses an indirect table", head);
	if (flags & VQ_DESC_F_NEXT)
		return vdev__vq_violation(vq, VQ_RULE_INDIRECT_NEXT,
					  "chain %u: indirect descriptor with NEXT", head);
	rc = vq_table_open(vq, addr, len, &t);
	if (rc)
		return rc;
	/*
	 * More entries walked than the table has means a loop; more than
	 * seg_limit in all (nbuf < seg_limit here) is too long.
	 */
	limit = VDEV__MIN(t.n, vq->seg_limit - nbuf);
	if (from_end)
		return t.hva ? walk_table(vq, r, head, &t, limit, true, true)
			     : walk_table(vq, r, head, &t, limit, false, true);
	return t.hva ? walk_table(vq, r, head, &t, limit, true, false)
		     : walk_table(vq, r, head, &t, limit, false, false);
}

/* The same for an indirect descriptor at the end of a direct chain (rare). */
static __attribute__((noinline)) int walk_indirect_tail(struct vdev_vq *vq,
							struct vdev_vq_req *r, uint16_t head,
							uint64_t addr, uint32_t len, uint16_t flags,
							uint32_t nbuf, bool from_end)
{
	return from_end ? walk_indirect(vq, r, head, addr, len, flags, nbuf, true)
			: walk_indirect(vq, r, head, addr, len, flags, nbuf, false);
}

/*
 * Walk the chain at @head into @r. Zero or more direct descriptors may end
 * in one indirect descriptor (§2.7.5.3.2). @return 0, VQ_WALK_MIXED, -EIO.
 */
VQ_INLINE int walk(struct vdev_vq *vq, uint16_t head, struct vdev_vq_req *r, bool from_end)
{
	const uint8_t *d = vq->desc + (size_t)head * VQ_DESC_SIZE;
	/* One read of each half; everything below uses the copies. */
	uint64_t addr = vq_ld64(d), w1 = vq_ld64(d + 8);
	uint16_t flags = (uint16_t)(w1 >> 32);
	uint32_t idx, n = 1;

	/* A lone indirect descriptor: what drivers send when they use tables. */
	if (VQ_UNLIKELY(flags & VQ_DESC_F_INDIRECT))
		return walk_indirect(vq, r, head, addr, (uint32_t)w1, flags, 0, from_end);
	for (;;) {
		int rc = vq_desc(vq, r, addr, (uint32_t)w1, flags & VQ_DESC_F_WRITE, from_end);

		if (VQ_UNLIKELY(rc))
			return rc;
		if (!(flags & VQ_DESC_F_NEXT))
			return 0;
		idx = (uint16_t)(w1 >> 48);
		if (VQ_UNLIKELY(idx >= vq->size))
			return vdev__vq_violation(vq, VQ_RULE_DESC_INDEX,
						  "chain %u: next %u >= queue size %u", head, idx,
						  vq->size);
		/* Counting bounds the walk: a loop ends here, never spins. */
		if (VQ_UNLIKELY(++n > vq->ring_limit))
			return vdev__vq_violation(vq, VQ_RULE_CHAIN_LENGTH,
						  "chain %u: more than %u descriptors%s", head,
						  vq->ring_limit,
						  n > vq->size ? " (a loop)" : "");
		d = vq->desc + (size_t)idx * VQ_DESC_SIZE;
		addr = vq_ld64(d);
		w1 = vq_ld64(d + 8);
		flags = (uint16_t)(w1 >> 32);
		if (VQ_UNLIKELY(flags & VQ_DESC_F_INDIRECT))
			return walk_indirect_tail(vq, r, head, addr, (uint32_t)w1, flags, n - 1,
						  from_end);
	}
}

/*
 * A chain with a readable descriptor after a writable one (allowed unless
 * VDEV_VQ_F_READ_BEFORE_WRITE): walk it again, sorting as it goes.
 */
static __attribute__((noinline)) int pop_mixed(struct vdev_vq *vq, uint16_t head,
					       struct vdev_vq_req *req)
{
	int rc;

	vq_walk_init(req);
	rc = walk(vq, head, req, true);
	return rc ? rc : vq_walk_finish(vq, req, true);
}

/* The checked walk of the chain at @head, every rule applied. @return 0, -EIO, -ENOBUFS. */
static __attribute__((noinline)) int pop_checked(struct vdev_vq *vq, uint16_t head,
						 struct vdev_vq_req *req)
{
	int rc;

	vq_walk_init(req);
	rc = walk(vq, head, req, false);
	if (VQ_LIKELY(!rc))
		rc = vq_walk_finish(vq, req, false);
	else if (rc > 0)
		rc = pop_mixed(vq, head, req);
	if (!rc)
		req->out_num -= req->in_num;
	return rc;
}

int vdev__vq_split_walk(struct vdev_vq *vq, uint16_t head, struct vdev_vq_req *req)
{
	return pop_checked(vq, head, req);
}

/*
 * The fast walk (vq_internal.h) of a lone indirect descriptor's table:
 * at most its own length in entries (more is a loop) and @cap iovecs.
 */
VQ_INLINE bool fast_table(struct vdev_vq *vq, struct vq_fast *f, uint64_t addr, uint32_t len,
			  uint16_t flags, uint32_t cap)
{
	uint32_t n, i = 0, left;
	const uint8_t *t;

	if (!vq->indirect || (flags & VQ_DESC_F_NEXT) || !vq_fast_table(vq, addr, len, &t, &n))
		return false;
	left = VDEV__MIN(n, cap);
	for (;;) {
		uint64_t a, w1;
		uint16_t fl;

		if (!left--)
			return false;
		vq_fast_entry(t, i, &a, &w1);
		fl = (uint16_t)(w1 >> 32);
		if ((fl & VQ_DESC_F_INDIRECT) ||
		    !vq_fast_desc(vq, f, a, (uint32_t)w1, fl & VQ_DESC_F_WRITE))
			return false;
		if (!(fl & VQ_DESC_F_NEXT))
			return true;
		i = (uint16_t)(w1 >> 48);
		if (i >= n)
			return false;
	}
}

/*
 * The fast walk of the chain whose first descriptor is @addr, @w1: direct
 * descriptors, at most @left of them (min(ring_limit, iov_cap)), or one
 * indirect descriptor.
 */
VQ_INLINE bool fast_walk(struct vdev_vq *vq, const uint8_t *desc, uint32_t size, uint64_t addr,
			 uint64_t w1, struct vq_fast *f, uint32_t left, uint32_t cap)
{
	uint16_t flags = (uint16_t)(w1 >> 32);

	if (flags & VQ_DESC_F_INDIRECT)
		return fast_table(vq, f, addr, (uint32_t)w1, flags, cap);
	for (;;) {
		const uint8_t *d;
		uint32_t idx;

		if (!left-- || !vq_fast_desc(vq, f, addr, (uint32_t)w1, flags & VQ_DESC_F_WRITE))
			return false;
		if (!(flags & VQ_DESC_F_NEXT))
			return true;
		idx = (uint16_t)(w1 >> 48);
		if (idx >= size)
			return false;
		d = desc + (size_t)idx * VQ_DESC_SIZE;
		addr = vq_ld64(d);
		w1 = vq_ld64(d + 8);
		flags = (uint16_t)(w1 >> 32);
		/* An indirect descriptor ending a direct chain: rare, left to the checked walk. */
		if (flags & VQ_DESC_F_INDIRECT)
			return false;
	}
}

/*
 * Walk the chain at @head (its first descriptor @addr, @w1) into @req,
 * fast or else checked. @return 0, -EIO, -ENOBUFS.
 */
VQ_INLINE int pop_chain(struct vdev_vq *vq, uint16_t head, uint64_t addr, uint64_t w1,
			struct vdev_vq_req *req)
{
	uint32_t cap = req->iov_cap;
	struct vq_fast f;

	vq_fast_init(&f, req);
	if (VQ_LIKELY(fast_walk(vq, vq->desc, vq->size, addr, w1, &f,
				VDEV__MIN(cap, vq->ring_limit), cap) &&
		      vq_fast_finish(&f)))
		return 0;
	return pop_checked(vq, head, req);
}

/* Move past the avail entry just popped and record the request. */
VQ_INLINE void pop_commit(struct vdev_vq *vq, struct vdev_vq_req *req, uint16_t head)
{
	vq->last_avail++;
	vq_commit(vq, &vq->slots[head], req, head, req->in_len, vq->pop_seq++, 1, false,
		  vq->in_order);
}

/*
 * Pop one request. Little is kept in locals across the walk (pop_chain()
 * wants the registers): what is needed after it is re-read from vq.
 */
VQ_INLINE int pop_one(struct vdev_vq *vq, struct vdev_vq_req *req)
{
	uint16_t la = vq->last_avail, head, flags;
	const uint8_t *d;
	uint64_t addr, w1;
	int rc;

	if (la == vq->avail_shadow) {
		rc = refill(vq);
		if (!rc)
			rc = rearm(vq);
		if (rc <= 0)
			return rc;
	}
	head = vq_ld16(vq->drv + VQ_AVAIL_RING + 2 * (size_t)(la & vq->mask), __ATOMIC_RELAXED);
	if (VQ_UNLIKELY(head >= vq->size))
		return vdev__vq_violation(vq, VQ_RULE_DESC_INDEX,
					  "avail entry %u: head %u >= queue size %u", la, head,
					  vq->size);
	if (VQ_UNLIKELY(__atomic_load_n(&vq->slots[head].state, __ATOMIC_RELAXED) !=
			VQ_SLOT_FREE))
		return vdev__vq_violation(vq, VQ_RULE_ID_IN_FLIGHT,
					  "avail entry %u: head %u is already in flight", la, head);
	/* One read of each half; everything below uses the copies. */
	d = vq->desc + (size_t)head * VQ_DESC_SIZE;
	addr = vq_ld64(d);
	w1 = vq_ld64(d + 8);
	flags = (uint16_t)(w1 >> 32);
	/* One descriptor, the common case, on its own path; chains and tables below. */
	if (VQ_LIKELY(!(flags & (VQ_DESC_F_NEXT | VQ_DESC_F_INDIRECT))) &&
	    VQ_LIKELY(vq_fast_one(vq, req, addr, (uint32_t)w1, flags & VQ_DESC_F_WRITE))) {
		pop_commit(vq, req, head);
		return 1;
	}
	rc = pop_chain(vq, head, addr, w1, req);
	if (rc)   /* -EAGAIN: remote memory on its way (pop_remote() in vq.c) */
		return rc == -EAGAIN ? 0 : rc;
	pop_commit(vq, req, head);
	return 1;
}

int vdev__vq_split_pop(struct vdev_vq *vq, struct vdev_vq_req *reqs, unsigned int n)
{
	struct vdev_vq_req *r = reqs, *end = reqs + n;

	do {
		int rc = pop_one(vq, r);

		if (rc <= 0)
			return r != reqs ? (int)(r - reqs) : rc;
	} while (++r != end);
	return (int)n;
}

int vdev__vq_split_flush(struct vdev_vq *vq)
{
	uint16_t old = vq->used_flushed, now = vq->used_idx;
	bool need;

	if (old == now)
		return 0;
	vq_st16(vq->dev + VQ_USED_IDX, now, __ATOMIC_RELEASE);
	vq->used_flushed = now;
	if (VQ_UNLIKELY(vq->mhot->logging)) {
		vdev__vq_ring_dirty(vq, vq->cfg.device_addr + VQ_USED_IDX, 2);
		/*
		 * Remote: what the driver asks (used_event, flags) cannot be
		 * read without waiting: always notify (a spurious interrupt
		 * is harmless; the owner holds it until our writes landed).
		 */
		if (vq->rings_remote) {
			vq->ops.notify(vq->opaque, vq);
			return 1;
		}
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		/* §2.7.7.2: notify if used_event lies in [old, now). */
		uint16_t ev = vq_ld16(vq->drv + VQ_AVAIL_RING + 2 * (size_t)vq->size,
				      __ATOMIC_RELAXED);

		need = (uint16_t)(now - ev - 1) < (uint16_t)(now - old);
	} else {
		need = !(vq_ld16(vq->drv, __ATOMIC_RELAXED) & VQ_AVAIL_F_NO_INTERRUPT);
	}
	if (!need)
		return 0;
	vq->ops.notify(vq->opaque, vq);
	return 1;
}

/* Anything to pop? Without a pull: notify_enable() pulled with its write. */
static int avail_now(struct vdev_vq *vq)
{
	if (vq->last_avail != vq->avail_shadow)
		return 1;
	return refill(vq);
}

int vdev__vq_split_avail(struct vdev_vq *vq)
{
	if (vq->last_avail == vq->avail_shadow && VQ_UNLIKELY(vq->slow & VQ_SLOW_REMOTE)) {
		int rc = remote_pull_avail(vq);

		/* Not known yet: the arrival kicks the queue (rwait). */
		if (rc)
			return rc == -EAGAIN ? 0 : rc;
	}
	return avail_now(vq);
}

int vdev__vq_split_notify_enable(struct vdev_vq *vq, int enable)
{
	vq->notify_on = enable;
	if (vq->event_idx) {
		/*
		 * Enable: kick when the next unseen entry is added. Disable:
		 * park avail_event just behind the driver, 65535 adds away.
		 */
		set_avail_event(vq, enable ? vq->avail_shadow : (uint16_t)(vq->avail_shadow - 1));
	} else {
		vq_st16(vq->dev, enable ? 0 : VQ_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
		if (VQ_UNLIKELY(vq->mhot->logging)) {
			vdev__vq_ring_dirty(vq, vq->cfg.device_addr, 2);
			if ((vq->slow & VQ_SLOW_REMOTE) && enable)
				remote_relook(vq);
		}
	}
	if (!enable)
		return 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return avail_now(vq);
}
