/* SPDX-License-Identifier: MIT */
/*
 * Inflight tracking for split rings: the layout and the update order of
 * QEMU docs/interop/vhost-user.rst, "Inflight I/O tracking", so that a
 * device process killed at any instant leaves, in memory that outlives it
 * (the front end's inflight memfd), enough to resubmit exactly the
 * requests it had taken and not answered.
 *
 * Region of one queue (native byte order; the spec's QueueRegionSplit):
 *   0  u64 features (0)        8  u16 version (1; 0 = never used)
 *  10  u16 desc_num            12 u16 last_batch_head     14 u16 used_idx
 *  16  desc[desc_num], 16 bytes each (DescStateSplit):
 *      0 u8 inflight, 1 u8 padding[5], 6 u16 next, 8 u64 counter
 *
 * Order of updates (each a single aligned store, so a crash between any
 * two leaves one of the states below):
 *  - pop: desc[head].counter = counter++, then desc[head].inflight = 1,
 *    before the request reaches the device model;
 *  - a used entry written (push; not visible yet): desc[id].next =
 *    last_batch_head, last_batch_head = id;
 *  - flush: used->idx published, then inflight = 0 for each entry of the
 *    batch (walking from last_batch_head), then used_idx = used->idx.
 * At start, used_idx != used->idx means a crash inside a flush: the first
 * (used->idx - used_idx) entries of the batch list reached the guest, so
 * they are cleared. Whatever is still marked inflight was taken and not
 * answered: it is popped again first, in counter order, and the ring
 * resumes at used->idx + (number of those), whatever base the transport
 * gives (the front end's own idea after a crash is just used->idx).
 *
 * The region is shared with the front end, so nothing read from it is
 * trusted: indexes are bounds-checked, walks bounded, and a region that
 * makes no sense is reinitialised (with a warning) rather than obeyed; a
 * head that names a bad chain is caught by the normal checked walk.
 */
#include <errno.h>
#include <stdlib.h>

#include "virtio/vq_internal.h"

#define IFL_HDR 16u
#define IFL_DESC 16u
#define IFL_VERSION 1u
#define IFL_OFF_VERSION 8u
#define IFL_OFF_DESC_NUM 10u
#define IFL_OFF_BATCH_HEAD 12u
#define IFL_OFF_USED_IDX 14u
#define IFL_D_INFLIGHT 0u
#define IFL_D_NEXT 6u
#define IFL_D_COUNTER 8u

static inline uint8_t *ifl_desc(const struct vdev_vq *vq, uint32_t i)
{
	return vq->ifl + IFL_HDR + (size_t)i * IFL_DESC;
}

static inline uint16_t ifl_ld16(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED);
}

/*
 * Stores are atomic (a compiler may not split, merge or reorder them
 * across each other): release orders each after the ones before it, which
 * is what a crash observes - the process image dies, the shared pages stay.
 */
static inline void ifl_st16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, v, __ATOMIC_RELEASE);
}

static inline void ifl_st8(uint8_t *p, uint8_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline void ifl_st64(uint8_t *p, uint64_t v)
{
	__atomic_store_n((uint64_t *)(void *)p, v, __ATOMIC_RELEASE);
}

int vdev_vq_set_inflight(vdev_vq *vq, void *region, size_t len)
{
	if (!vq)
		return -EINVAL;
	if (!(vq->slow & VQ_SLOW_STOPPED))
		return -EBUSY;
	if (!region) {
		vq->ifl = NULL;
		vq->ifl_len = 0;
		return 0;
	}
	if ((uintptr_t)region % 8 || len < IFL_HDR + IFL_DESC)
		return -EINVAL;
	vq->ifl = region;
	vq->ifl_len = len;
	return 0;
}

/* A fresh (or refused) region: nothing in flight, the ring at @used. */
static void ifl_init(struct vdev_vq *vq, uint16_t used)
{
	uint8_t *r = vq->ifl;

	ifl_st16(r + IFL_OFF_VERSION, 0);
	memset(r + IFL_HDR, 0, (size_t)vq->size * IFL_DESC);
	ifl_st64(r, 0);
	ifl_st16(r + IFL_OFF_DESC_NUM, (uint16_t)vq->size);
	ifl_st16(r + IFL_OFF_BATCH_HEAD, 0);
	ifl_st16(r + IFL_OFF_USED_IDX, used);
	ifl_st16(r + IFL_OFF_VERSION, IFL_VERSION);
	vq->ifl_counter = 1;
}

/* Crash inside a flush: the first @batch entries of the batch list are answered. */
static int ifl_finish_batch(struct vdev_vq *vq, uint16_t batch)
{
	uint16_t h = ifl_ld16(vq->ifl + IFL_OFF_BATCH_HEAD);

	for (uint16_t k = 0; k < batch; k++) {
		if (h >= vq->size)
			return -EINVAL;
		ifl_st8(ifl_desc(vq, h) + IFL_D_INFLIGHT, 0);
		h = ifl_ld16(ifl_desc(vq, h) + IFL_D_NEXT);
	}
	return 0;
}

struct ifl_ent {
	uint64_t counter;
	uint16_t id;
};

static int ent_cmp(const void *a, const void *b)
{
	const struct ifl_ent *x = a, *y = b;

	if (x->counter != y->counter)
		return x->counter < y->counter ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * Walk the chain at @head again and keep it as guest-physical segments
 * (the form vq_state.c's replay entries take, so save/load and pop treat
 * it like a loaded request). @return 0, -EIO (the guest's chain is bad:
 * the queue is broken), -ENOMEM.
 */
static int ifl_segments(struct vdev_vq *vq, uint16_t head, struct vq_seg **segs,
			uint32_t *nsegs, uint32_t *cap, uint32_t *nseg)
{
	uint32_t icap = vq->seg_limit + 16;
	struct vdev_vq_req req;
	int rc;

	for (;;) {
		req = (struct vdev_vq_req){ .iov = calloc(icap, sizeof(struct iovec)),
					    .iov_cap = icap };
		if (!req.iov)
			return -ENOMEM;
		rc = vdev__vq_split_walk(vq, head, &req);
		if (rc != -ENOBUFS || icap > (1u << 20))
			break;
		/* Buffers crossing regions take more iovecs than descriptors. */
		free(req.iov);
		icap *= 4;
	}
	if (rc) {
		free(req.iov);
		return rc == -ENOBUFS ? -EIO : rc;
	}
	*nseg = req.out_num + req.in_num;
	if (*nsegs + *nseg > *cap) {
		uint32_t ncap = (*nsegs + *nseg) * 2;
		struct vq_seg *ns = realloc(*segs, (size_t)ncap * sizeof(**segs));

		if (!ns) {
			free(req.iov);
			return -ENOMEM;
		}
		*segs = ns;
		*cap = ncap;
	}
	for (uint32_t i = 0; i < *nseg; i++) {
		struct vq_seg *sg = &(*segs)[*nsegs + i];

		/* Just translated from guest addresses: the reverse lookup finds them. */
		if (vdev__mem_hva_to_gpa(vq->ctx, req.iov[i].iov_base, req.iov[i].iov_len,
					 &sg->gpa)) {
			free(req.iov);
			return -EIO;
		}
		sg->len = (uint32_t)req.iov[i].iov_len;
		sg->write = i >= req.out_num;
	}
	*nsegs += *nseg;
	free(req.iov);
	return 0;
}

/* Queue the recovered heads @e[0..n) (counter order) to be popped again first. */
static int ifl_resubmit(struct vdev_vq *vq, const struct ifl_ent *e, uint32_t n)
{
	struct vq_replay *rep = calloc(n, sizeof(*rep));
	struct vq_seg *segs = NULL;
	uint32_t nsegs = 0, cap = 0;
	int rc = rep ? 0 : -ENOMEM;

	for (uint32_t i = 0; i < n && !rc; i++) {
		uint32_t nseg = 0;

		rep[i].id = e[i].id;
		rep[i].seg = nsegs;
		rc = ifl_segments(vq, e[i].id, &segs, &nsegs, &cap, &nseg);
		rep[i].nseg = nseg;
	}
	if (rc) {
		free(rep);
		free(segs);
		return rc;
	}
	for (uint32_t i = 0; i < n; i++) {
		__atomic_store_n(&vq->slots[e[i].id].state, VQ_SLOT_RESERVED, __ATOMIC_RELAXED);
		if (vq->in_order)
			vq->order[i] = e[i].id;
	}
	vq->order_head = 0;
	vq->order_count = vq->in_order ? n : 0;
	vq->replay = rep;
	vq->rsegs = segs;
	vq->replay_n = n;
	vq->replay_next = 0;
	vq->slow |= VQ_SLOW_REPLAY;
	return 0;
}

int vdev__vq_ifl_start(struct vdev_vq *vq)
{
	uint8_t *r = vq->ifl;
	uint16_t used, iu, version, dn;
	struct ifl_ent *e;
	uint32_t n = 0;
	int rc;

	if (!r)
		return 0;
	if (vq->packed) {
		vdev_log(vq->ctx, VDEV_LOG_WARN, "virtqueue (desc 0x%" PRIx64 "): inflight "
			 "tracking is for split rings only: not tracked", vq->cfg.desc_addr);
		return 0;
	}
	if (vq->ifl_len < IFL_HDR + (size_t)vq->size * IFL_DESC) {
		vdev_log(vq->ctx, VDEV_LOG_WARN, "virtqueue (desc 0x%" PRIx64 "): inflight "
			 "region of %zu bytes too small for %u descriptors: not tracked",
			 vq->cfg.desc_addr, vq->ifl_len, vq->size);
		return 0;
	}
	vq->slow |= VQ_SLOW_INFLIGHT;
	used = vq_ld16(vq->dev + VQ_USED_IDX, __ATOMIC_ACQUIRE);
	version = ifl_ld16(r + IFL_OFF_VERSION);
	dn = ifl_ld16(r + IFL_OFF_DESC_NUM);
	if (version != IFL_VERSION || dn != vq->size) {
		if (version)
			vdev_log(vq->ctx, VDEV_LOG_WARN, "virtqueue (desc 0x%" PRIx64 "): inflight "
				 "region version %u for %u descriptors (ring: %u): reinitialised",
				 vq->cfg.desc_addr, version, dn, vq->size);
		ifl_init(vq, used);
		return 0;
	}
	iu = ifl_ld16(r + IFL_OFF_USED_IDX);
	if (iu != used) {
		if ((uint16_t)(used - iu) > vq->size ||
		    ifl_finish_batch(vq, (uint16_t)(used - iu))) {
			vdev_log(vq->ctx, VDEV_LOG_WARN, "virtqueue (desc 0x%" PRIx64 "): inflight "
				 "region inconsistent with the used ring (used_idx %u, ring %u): "
				 "reinitialised, nothing resubmitted", vq->cfg.desc_addr, iu, used);
			ifl_init(vq, used);
			return 0;
		}
		ifl_st16(r + IFL_OFF_USED_IDX, used);
	}
	e = calloc(vq->size, sizeof(*e));
	if (!e)
		return -ENOMEM;
	vq->ifl_counter = 1;
	for (uint32_t i = 0; i < vq->size; i++) {
		const uint8_t *d = ifl_desc(vq, i);
		uint64_t c;

		if (!__atomic_load_n(d + IFL_D_INFLIGHT, __ATOMIC_RELAXED))
			continue;
		c = __atomic_load_n((const uint64_t *)(const void *)(d + IFL_D_COUNTER),
				    __ATOMIC_RELAXED);
		e[n++] = (struct ifl_ent){ .counter = c, .id = (uint16_t)i };
		if (c >= vq->ifl_counter)
			vq->ifl_counter = c == UINT64_MAX ? c : c + 1;
	}
	qsort(e, n, sizeof(*e), ent_cmp);
	rc = n ? ifl_resubmit(vq, e, n) : 0;
	free(e);
	if (rc)
		return rc;
	/* Every request taken is either in the used ring or still marked. */
	vq->used_idx = vq->used_flushed = used;
	vq->last_avail = vq->avail_shadow = (uint16_t)(used + n);
	vq->ifl_recovered = true;
	if (n)
		vdev_log(vq->ctx, VDEV_LOG_INFO, "virtqueue (desc 0x%" PRIx64 "): %u request(s) "
			 "in flight at the last stop resubmitted (used idx %u)", vq->cfg.desc_addr,
			 n, used);
	return 0;
}

void vdev__vq_ifl_popped(struct vdev_vq *vq, const struct vdev_vq_req *reqs, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *d = ifl_desc(vq, reqs[i].id);

		ifl_st64(d + IFL_D_COUNTER, vq->ifl_counter++);
		ifl_st8(d + IFL_D_INFLIGHT, 1);
	}
}

void vdev__vq_ifl_used(struct vdev_vq *vq, uint16_t id)
{
	uint8_t *r = vq->ifl;

	ifl_st16(ifl_desc(vq, id) + IFL_D_NEXT, ifl_ld16(r + IFL_OFF_BATCH_HEAD));
	ifl_st16(r + IFL_OFF_BATCH_HEAD, id);
}

void vdev__vq_ifl_flushed(struct vdev_vq *vq, uint16_t old, uint16_t now)
{
	/* Our own list, unless the front end scribbled on it: bounded, checked. */
	if (ifl_finish_batch(vq, (uint16_t)(now - old)))
		vdev_log(vq->ctx, VDEV_LOG_WARN, "virtqueue (desc 0x%" PRIx64 "): inflight "
			 "batch list damaged", vq->cfg.desc_addr);
	ifl_st16(vq->ifl + IFL_OFF_USED_IDX, now);
}
