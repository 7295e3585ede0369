/* SPDX-License-Identifier: MIT */
/*
 * Save and load of a virtqueue: one required section 'VQUE', schema 1:
 *   'RING' section  the configuration and ring indices (field table below)
 *   'INFL' section  one 'REQ ' bytes record per request not yet published,
 *                   oldest pop first:
 *       u16 id, u16 ndesc, u8 state, u8 0, u16 0, u32 written, u32 nseg,
 *       then nseg x { u64 gpa, u32 len, u32 flags (bit 0: device-writable) }
 *     state 0: in flight (its buffers, readable then writable, as guest
 *              addresses: the device's iovecs reverse-mapped);
 *     state 1: completed with `written` bytes but not yet in the used ring
 *              (a remote completion not reaped, or held for IN_ORDER).
 *
 * A stream is untrusted: load checks every value against the ring rules
 * and the destination's memory map before it changes anything. After a
 * load, pops return the state-0 requests first, in their original order;
 * state-1 ones wait as remote completions (the wake hook runs) and are
 * published by the next vdev_vq_reap(). A broken queue is saved as broken,
 * without requests: it stays broken until reset.
 */
#include <errno.h>
#include <stdlib.h>

#include "virtio/vq_internal.h"

#define TAG_VQUE VDEV_STATE_TAG('V', 'Q', 'U', 'E')
#define TAG_RING VDEV_STATE_TAG('R', 'I', 'N', 'G')
#define TAG_INFL VDEV_STATE_TAG('I', 'N', 'F', 'L')
#define TAG_REQ VDEV_STATE_TAG('R', 'E', 'Q', ' ')
#define VQ_STATE_VERSION 1

#define REQ_HDR 16u
#define REQ_SEG 16u
#define SEG_F_WRITE 1u

struct vq_saved {
	uint8_t started, broken, notify_on, pending;
	uint8_t avail_wrap, used_wrap, flushed_wrap;
	uint16_t last_avail, avail_shadow, used_idx, used_flushed, avail_event;
	uint16_t avail_pos, used_pos, flushed_pos, first_flags;
	uint32_t size, flags, max_segments, dev_event, nreq;
	uint64_t desc, driver, device, features;
};

#define F(tag, name, type, member, lo, hi) \
	{ name, tag, type, 0, 0, offsetof(struct vq_saved, member), 0, lo, hi }
#define T(a, b, c, d) VDEV_STATE_TAG(a, b, c, d)

static const struct vdev_state_field ring_fields[] = {
	F(T('S', 'T', 'R', 'T'), "started", VDEV_STATE_U8, started, 0, 1),
	F(T('B', 'R', 'K', 'N'), "broken", VDEV_STATE_U8, broken, 0, 1),
	F(T('N', 'T', 'F', 'Y'), "notify_on", VDEV_STATE_U8, notify_on, 0, 1),
	F(T('S', 'I', 'Z', 'E'), "size", VDEV_STATE_U32, size, 0, VDEV_VQ_MAX_SIZE),
	F(T('F', 'L', 'A', 'G'), "flags", VDEV_STATE_U32, flags, 0, 0),
	F(T('M', 'S', 'E', 'G'), "max_segments", VDEV_STATE_U32, max_segments, 0,
	  VQ_MAX_SEGMENTS),
	F(T('D', 'E', 'S', 'C'), "desc_addr", VDEV_STATE_U64, desc, 0, 0),
	F(T('D', 'R', 'V', 'A'), "driver_addr", VDEV_STATE_U64, driver, 0, 0),
	F(T('D', 'E', 'V', 'A'), "device_addr", VDEV_STATE_U64, device, 0, 0),
	F(T('F', 'E', 'A', 'T'), "features", VDEV_STATE_U64, features, 0, 0),
	F(T('L', 'A', 'V', 'L'), "last_avail", VDEV_STATE_U16, last_avail, 0, 0),
	F(T('S', 'A', 'V', 'L'), "avail_shadow", VDEV_STATE_U16, avail_shadow, 0, 0),
	F(T('U', 'I', 'D', 'X'), "used_idx", VDEV_STATE_U16, used_idx, 0, 0),
	F(T('U', 'F', 'L', 'S'), "used_flushed", VDEV_STATE_U16, used_flushed, 0, 0),
	F(T('A', 'E', 'V', 'T'), "avail_event", VDEV_STATE_U16, avail_event, 0, 0),
	F(T('A', 'P', 'O', 'S'), "avail_pos", VDEV_STATE_U16, avail_pos, 0, 0x7fff),
	F(T('A', 'W', 'R', 'P'), "avail_wrap", VDEV_STATE_U8, avail_wrap, 0, 1),
	F(T('U', 'P', 'O', 'S'), "used_pos", VDEV_STATE_U16, used_pos, 0, 0x7fff),
	F(T('U', 'W', 'R', 'P'), "used_wrap", VDEV_STATE_U8, used_wrap, 0, 1),
	F(T('F', 'P', 'O', 'S'), "flushed_pos", VDEV_STATE_U16, flushed_pos, 0, 0x7fff),
	F(T('F', 'W', 'R', 'P'), "flushed_wrap", VDEV_STATE_U8, flushed_wrap, 0, 1),
	F(T('F', 'F', 'L', 'G'), "first_flags", VDEV_STATE_U16, first_flags, 0, 0),
	F(T('P', 'E', 'N', 'D'), "pending", VDEV_STATE_U8, pending, 0, 1),
	F(T('D', 'E', 'V', 'T'), "dev_event", VDEV_STATE_U32, dev_event, 0, 0),
	F(T('N', 'R', 'E', 'Q'), "requests", VDEV_STATE_U32, nreq, 0, VDEV_VQ_MAX_SIZE),
};

/* ---- save ---------------------------------------------------------------- */

struct age_id {
	uint32_t age;
	uint16_t id;
};

static int cmp_oldest_first(const void *a, const void *b)
{
	const struct age_id *x = a, *y = b;

	return (x->age < y->age) - (x->age > y->age);
}

static void saved_from(const struct vdev_vq *vq, struct vq_saved *s, uint32_t nreq)
{
	memset(s, 0, sizeof(*s));
	if (vq->slow & VQ_SLOW_STOPPED)
		return;
	s->started = 1;
	s->broken = (vq->slow & VQ_SLOW_BROKEN) != 0;
	s->notify_on = vq->notify_on;
	s->size = vq->cfg.size;
	s->flags = vq->cfg.flags;
	s->max_segments = vq->cfg.max_segments;
	s->desc = vq->cfg.desc_addr;
	s->driver = vq->cfg.driver_addr;
	s->device = vq->cfg.device_addr;
	s->features = vq->cfg.features;
	s->last_avail = vq->last_avail;
	s->avail_shadow = vq->avail_shadow;
	s->used_idx = vq->used_idx;
	s->used_flushed = vq->used_flushed;
	s->avail_event = vq->avail_event;
	s->avail_pos = vq->avail_pos;
	s->avail_wrap = vq->avail_wrap;
	s->used_pos = vq->used_pos;
	s->used_wrap = vq->used_wrap;
	s->flushed_pos = vq->flushed_pos;
	s->flushed_wrap = vq->flushed_wrap;
	s->first_flags = vq->first_flags;
	s->pending = vq->pending;
	s->dev_event = vq->dev_event;
	s->nreq = nreq;
}

/* Encode one segment. */
static void put_seg(uint8_t *p, uint64_t gpa, uint64_t len, bool write)
{
	vdev__put_le64(p, gpa);
	vdev__put_le32(p + 8, (uint32_t)len);
	vdev__put_le32(p + 12, write ? SEG_F_WRITE : 0);
}

static int save_req(struct vdev_vq *vq, vdev_state_writer *w, uint16_t id,
		    const uint32_t *replay_of, uint8_t **buf, size_t *cap)
{
	const struct vq_slot *s = &vq->slots[id];
	uint32_t state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
	const struct vdev_vq_req *req = s->req;
	uint32_t nseg = 0, written = 0;
	uint8_t st = 0;
	size_t need;

	if (state == VQ_SLOT_INFLIGHT) {
		nseg = req->out_num + req->in_num;
		if (nseg > req->iov_cap || nseg < req->out_num)
			return -EINVAL;
	} else if (state == VQ_SLOT_RESERVED) {
		nseg = vq->replay[replay_of[id]].nseg;
	} else {
		/* REMOTE (not reaped) or HELD (IN_ORDER): completed, unpublished. */
		st = 1;
		written = (uint32_t)VDEV__MIN((uint64_t)s->written, s->in_len);
	}
	need = REQ_HDR + (size_t)nseg * REQ_SEG;
	if (need > *cap) {
		uint8_t *nb = realloc(*buf, need);

		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = need;
	}
	memset(*buf, 0, REQ_HDR);
	vdev__put_le16(*buf, id);
	vdev__put_le16(*buf + 2, vq->packed ? s->ndesc : 1);
	(*buf)[4] = st;
	vdev__put_le32(*buf + 8, written);
	vdev__put_le32(*buf + 12, nseg);
	for (uint32_t i = 0; i < nseg; i++) {
		uint8_t *p = *buf + REQ_HDR + (size_t)i * REQ_SEG;

		if (state == VQ_SLOT_RESERVED) {
			const struct vq_seg *sg =
				&vq->rsegs[vq->replay[replay_of[id]].seg + i];

			put_seg(p, sg->gpa, sg->len, sg->write);
		} else {
			const struct iovec *v = &req->iov[i];
			uint64_t gpa;

			if (!v->iov_len || v->iov_len > UINT32_MAX ||
			    vdev__mem_hva_to_gpa(vq->ctx, v->iov_base, v->iov_len, &gpa)) {
				vdev_log(vq->ctx, VDEV_LOG_ERROR,
					 "virtqueue (desc 0x%" PRIx64 "): cannot save buffer %u: "
					 "iovec %u no longer points into guest RAM",
					 vq->cfg.desc_addr, id, i);
				return -EFAULT;
			}
			put_seg(p, gpa, v->iov_len, i >= req->out_num);
		}
	}
	return vdev_state_put_bytes(w, TAG_REQ, *buf, need);
}

int vdev_vq_save(vdev_vq *vq, vdev_state_writer *w)
{
	struct age_id *list = NULL;
	uint32_t *replay_of = NULL;
	struct vq_saved sv;
	uint32_t n = 0;
	uint8_t *buf = NULL;
	size_t cap = 0;
	int rc = 0;

	if (!vq || !w)
		return -EINVAL;
	if (!(vq->slow & (VQ_SLOW_STOPPED | VQ_SLOW_BROKEN)) && vq->size) {
		list = calloc(vq->size, sizeof(*list));
		replay_of = calloc(vq->size, sizeof(*replay_of));
		if (!list || !replay_of) {
			rc = -ENOMEM;
			goto out;
		}
		for (uint32_t i = vq->replay_next; i < vq->replay_n; i++)
			replay_of[vq->replay[i].id] = i;
		for (uint32_t id = 0; id < vq->size; id++) {
			const struct vq_slot *s = &vq->slots[id];

			if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != VQ_SLOT_FREE)
				list[n++] = (struct age_id){ vq->pop_seq - s->seq, (uint16_t)id };
		}
		qsort(list, n, sizeof(*list), cmp_oldest_first);
	}
	saved_from(vq, &sv, n);
	rc = vdev_state_begin(w, TAG_VQUE, VQ_STATE_VERSION, VDEV_STATE_F_REQUIRED);
	if (!rc)
		rc = vdev_state_begin(w, TAG_RING, VQ_STATE_VERSION, VDEV_STATE_F_REQUIRED);
	if (!rc)
		rc = vdev_state_save_fields(w, ring_fields, VDEV__ARRAY_SIZE(ring_fields), &sv);
	if (!rc)
		rc = vdev_state_end(w);
	if (!rc)
		rc = vdev_state_begin(w, TAG_INFL, VQ_STATE_VERSION, VDEV_STATE_F_REQUIRED);
	for (uint32_t i = 0; !rc && i < n; i++)
		rc = save_req(vq, w, list[i].id, replay_of, &buf, &cap);
	if (!rc)
		rc = vdev_state_end(w);
	if (!rc)
		rc = vdev_state_end(w);
out:
	free(buf);
	free(list);
	free(replay_of);
	return rc;
}

/* ---- load ----------------------------------------------------------------- */

struct load_req {
	const uint8_t *rec;   /* the record payload */
	uint32_t len;
	uint16_t id, ndesc;
	uint8_t state;
	uint32_t written, nseg;
	uint64_t in_len;
};

struct load {
	struct vq_saved sv;
	bool have_ring, have_infl;
	struct load_req *reqs;
	uint32_t nreqs;
	uint64_t nsegs;
};

static int parse_infl(vdev_state_reader *r, struct load *ld)
{
	struct vdev_state_record rec;
	int rc;

	while ((rc = vdev_state_next(r, &rec)) > 0) {
		struct load_req *q;

		if (rec.tag != TAG_REQ) {
			if (rec.flags & VDEV_STATE_F_REQUIRED)
				return vdev_state_fail(r, -EPROTONOSUPPORT,
						       "virtqueue: unknown required in-flight "
						       "record 0x%08" PRIx32, rec.tag);
			continue;
		}
		if (rec.type != VDEV_STATE_BYTES || rec.len < REQ_HDR)
			return vdev_state_fail(r, -EBADMSG, "virtqueue: malformed request record");
		if (ld->nreqs == VDEV_VQ_MAX_SIZE)
			return vdev_state_fail(r, -EBADMSG, "virtqueue: more than %u requests",
					       VDEV_VQ_MAX_SIZE);
		q = &ld->reqs[ld->nreqs++];
		q->rec = rec.data;
		q->len = rec.len;
		q->id = vdev__le16(q->rec);
		q->ndesc = vdev__le16(q->rec + 2);
		q->state = q->rec[4];
		q->written = vdev__le32(q->rec + 8);
		q->nseg = vdev__le32(q->rec + 12);
		if (q->rec[5] || vdev__le16(q->rec + 6) ||
		    (uint64_t)q->nseg * REQ_SEG != rec.len - REQ_HDR)
			return vdev_state_fail(r, -EBADMSG,
					       "virtqueue: request %u: %u segments in %u bytes",
					       q->id, q->nseg, rec.len);
		ld->nsegs += q->nseg;
	}
	return rc;
}

static int parse(vdev_state_reader *r, struct load *ld)
{
	struct vdev_state_record rec;
	int rc;

	rc = vdev_state_next(r, &rec);
	if (rc < 0)
		return rc;
	if (!rc || rec.tag != TAG_VQUE || rec.type != VDEV_STATE_SECTION)
		return vdev_state_fail(r, -EBADMSG, "virtqueue: no virtqueue section");
	if (rec.version != VQ_STATE_VERSION)
		return vdev_state_fail(r, -EBADMSG, "virtqueue: schema version %u, expected %u",
				       rec.version, VQ_STATE_VERSION);
	rc = vdev_state_enter(r);
	while (!rc && (rc = vdev_state_next(r, &rec)) > 0) {
		bool *seen = rec.tag == TAG_RING ? &ld->have_ring
			     : rec.tag == TAG_INFL ? &ld->have_infl : NULL;

		if (!seen) {
			if (rec.flags & VDEV_STATE_F_REQUIRED)
				return vdev_state_fail(r, -EPROTONOSUPPORT,
						       "virtqueue: unknown required record "
						       "0x%08" PRIx32, rec.tag);
			rc = 0;
			continue;
		}
		if (*seen || rec.type != VDEV_STATE_SECTION)
			return vdev_state_fail(r, -EBADMSG,
					       "virtqueue: duplicate or malformed 0x%08" PRIx32,
					       rec.tag);
		*seen = true;
		rc = vdev_state_enter(r);
		if (!rc)
			rc = rec.tag == TAG_RING
				     ? vdev_state_load_fields(r, ring_fields,
							      VDEV__ARRAY_SIZE(ring_fields), &ld->sv)
				     : parse_infl(r, ld);
		if (!rc)
			rc = vdev_state_leave(r);
	}
	if (rc < 0)
		return rc;
	if (!ld->have_ring || !ld->have_infl)
		return vdev_state_fail(r, -EBADMSG, "virtqueue: ring or in-flight section missing");
	return vdev_state_leave(r);
}

/* Is [gpa, gpa + len) (len >= 1) RAM, writable if @write? Any number of regions. */
static int seg_check(vdev_ctx *ctx, uint64_t gpa, uint64_t len, bool write)
{
	while (len) {
		struct vdev__mem_region_info ri;
		uint64_t piece;

		if (vdev__mem_region_find(ctx, gpa, &ri))
			return -EFAULT;
		if (write && (ri.flags & VDEV_MEM_READONLY))
			return -EFAULT;
		piece = VDEV__MIN(len, ri.size - (gpa - ri.gpa));
		len -= piece;
		if (len && piece > UINT64_MAX - gpa)
			return -EFAULT;
		gpa += piece;
	}
	return 0;
}

/* Distance from lap position of (p1, w1) forward to (p2, w2), modulo two laps. */
static uint32_t lap_dist(uint32_t size, uint32_t p1, uint32_t w1, uint32_t p2, uint32_t w2)
{
	uint32_t a = p1 + (w1 ? 0 : size), b = p2 + (w2 ? 0 : size);

	return b >= a ? b - a : b + 2 * size - a;
}

static int check_indices(vdev_state_reader *r, const struct load *ld, bool packed)
{
	const struct vq_saved *s = &ld->sv;
	uint32_t size = s->size, ring = 0;

	if (!packed) {
		if ((uint16_t)(s->avail_shadow - s->last_avail) > size ||
		    (uint16_t)(s->used_idx - s->used_flushed) > size ||
		    (uint16_t)(s->last_avail - s->used_idx) != ld->nreqs)
			return vdev_state_fail(r, -ERANGE,
					       "virtqueue: split indices avail %u/%u used %u/%u "
					       "do not fit %u requests", s->last_avail,
					       s->avail_shadow, s->used_idx, s->used_flushed,
					       ld->nreqs);
		return 0;
	}
	if (s->avail_pos >= size || s->used_pos >= size || s->flushed_pos >= size)
		return vdev_state_fail(r, -ERANGE, "virtqueue: packed position past size %u",
				       size);
	/* The flags flush will write: a used descriptor of the flushed lap. */
	if (s->pending && (s->first_flags & ~VQ_DESC_F_WRITE) !=
			  (s->flushed_wrap ? VQ_DESC_F_AVAIL | VQ_DESC_F_USED : 0))
		return vdev_state_fail(r, -ERANGE, "virtqueue: staged used flags 0x%x",
				       s->first_flags);
	/*
	 * The descriptors between used and avail are the requests' (mod two
	 * laps: a driver that overran the ring can make them more than one).
	 */
	for (uint32_t i = 0; i < ld->nreqs; i++)
		ring += ld->reqs[i].ndesc;
	if (lap_dist(size, s->used_pos, s->used_wrap, s->avail_pos, s->avail_wrap) !=
	    ring % (2 * size))
		return vdev_state_fail(r, -ERANGE,
				       "virtqueue: packed positions avail %u/%u used %u/%u "
				       "flushed %u/%u do not fit %u descriptors in flight",
				       s->avail_pos, s->avail_wrap, s->used_pos, s->used_wrap,
				       s->flushed_pos, s->flushed_wrap, ring);
	return 0;
}

static int check_reqs(vdev_ctx *ctx, vdev_state_reader *r, struct load *ld, bool packed)
{
	uint32_t size = ld->sv.size;
	uint8_t *seen = calloc(size, 1);
	int rc = 0;

	if (!seen)
		return -ENOMEM;
	for (uint32_t i = 0; !rc && i < ld->nreqs; i++) {
		struct load_req *q = &ld->reqs[i];
		uint64_t out = 0, in = 0;

		if (q->id >= size || seen[q->id]) {
			rc = vdev_state_fail(r, -ERANGE, "virtqueue: request id %u repeated or "
					     ">= size %u", q->id, size);
			break;
		}
		seen[q->id] = 1;
		if (q->state > 1 || (q->state == 1 && q->nseg) ||
		    (packed ? !q->ndesc || q->ndesc > size : q->ndesc != 1)) {
			rc = vdev_state_fail(r, -ERANGE, "virtqueue: request %u: state %u, %u "
					     "descriptors, %u segments", q->id, q->state,
					     q->ndesc, q->nseg);
			break;
		}
		for (uint32_t k = 0; k < q->nseg; k++) {
			const uint8_t *p = q->rec + REQ_HDR + (size_t)k * REQ_SEG;
			uint64_t gpa = vdev__le64(p);
			uint32_t len = vdev__le32(p + 8), fl = vdev__le32(p + 12);
			bool write = fl & SEG_F_WRITE;

			if (!len || (fl & ~SEG_F_WRITE) || (!write && in)) {
				rc = vdev_state_fail(r, -ERANGE, "virtqueue: request %u segment "
						     "%u: length %u flags 0x%x", q->id, k, len,
						     fl);
				break;
			}
			if (seg_check(ctx, gpa, len, write)) {
				rc = vdev_state_fail(r, -EFAULT, "virtqueue: request %u segment "
						     "[0x%" PRIx64 ", +%u) is not %sRAM", q->id,
						     gpa, len, write ? "writable " : "");
				break;
			}
			*(write ? &in : &out) += len;
		}
		if (!rc && out + in > (1ull << 32))
			rc = vdev_state_fail(r, -ERANGE, "virtqueue: request %u over 4 GiB", q->id);
		q->in_len = in;
	}
	free(seen);
	return rc;
}

/* Everything checked: replace the queue's state. Nothing here may fail. */
static void commit(struct vdev_vq *vq, const struct load *ld, const struct vdev_vq_config *c,
		   uint8_t *desc, uint8_t *drv, uint8_t *dev, struct vq_replay *replay,
		   struct vq_seg *rsegs)
{
	const struct vq_saved *s = &ld->sv;
	uint32_t nrep = 0, nseg = 0;
	bool remote = false;

	vdev__vq_setup(vq, c, desc, drv, dev);
	vq->notify_on = s->notify_on;
	vq->last_avail = s->last_avail;
	vq->avail_shadow = s->avail_shadow;
	vq->used_idx = s->used_idx;
	vq->used_flushed = s->used_flushed;
	vq->avail_event = s->avail_event;
	vq->avail_pos = s->avail_pos;
	vq->avail_wrap = s->avail_wrap;
	vq->used_pos = s->used_pos;
	vq->used_wrap = s->used_wrap;
	vq->flushed_pos = s->flushed_pos;
	vq->flushed_wrap = s->flushed_wrap;
	vq->avail_expect = s->avail_wrap ? VQ_DESC_F_AVAIL : VQ_DESC_F_USED;
	vq->used_flags = s->used_wrap ? VQ_DESC_F_AVAIL | VQ_DESC_F_USED : 0;
	vq->first_flags = s->first_flags;
	vq->dev_event = s->dev_event;
	vq->pending = s->pending;
	for (uint32_t i = 0; i < ld->nreqs; i++) {
		const struct load_req *q = &ld->reqs[i];
		struct vq_slot *sl = &vq->slots[q->id];

		sl->seq = i;
		sl->ndesc = q->ndesc;
		if (vq->in_order)
			vq->order[i] = q->id;
		if (q->state == 1) {
			sl->in_len = UINT32_MAX; /* the source clamped it */
			vdev__vq_queue_remote(vq, q->id, q->written);
			remote = true;
			continue;
		}
		sl->in_len = q->in_len;
		__atomic_store_n(&sl->state, VQ_SLOT_RESERVED, __ATOMIC_RELAXED);
		replay[nrep] = (struct vq_replay){ q->id, nseg, q->nseg };
		for (uint32_t k = 0; k < q->nseg; k++) {
			const uint8_t *p = q->rec + REQ_HDR + (size_t)k * REQ_SEG;

			rsegs[nseg++] = (struct vq_seg){ vdev__le64(p), vdev__le32(p + 8),
							 vdev__le32(p + 12) & SEG_F_WRITE };
		}
		nrep++;
	}
	vq->order_count = vq->in_order ? ld->nreqs : 0;
	vq->pop_seq = ld->nreqs;
	if (nrep) {
		vq->replay = replay;
		vq->rsegs = rsegs;
		vq->replay_n = nrep;
		vq->slow |= VQ_SLOW_REPLAY;
	} else {
		free(replay);
		free(rsegs);
	}
	if (remote && vq->ops.wake)
		vq->ops.wake(vq->opaque, vq);
}

static int load_checked(struct vdev_vq *vq, vdev_state_reader *r, struct load *ld)
{
	const struct vq_saved *s = &ld->sv;
	struct vdev_vq_config c = {
		.struct_size = sizeof(c),
		.size = s->size,
		.flags = s->flags,
		.desc_addr = s->desc,
		.driver_addr = s->driver,
		.device_addr = s->device,
		.features = s->features,
		.max_segments = s->max_segments,
	};
	struct vq_replay *replay = NULL;
	struct vq_seg *rsegs = NULL;
	uint8_t *desc = NULL, *drv = NULL, *dev = NULL;
	bool packed = (s->features >> VDEV_VIRTIO_F_RING_PACKED) & 1;
	int rc;

	if (s->nreq != ld->nreqs)
		return vdev_state_fail(r, -EBADMSG, "virtqueue: %u requests announced, %u found",
				       s->nreq, ld->nreqs);
	if (!s->started) {
		if (ld->nreqs || s->broken)
			return vdev_state_fail(r, -ERANGE, "virtqueue: stopped with requests");
		vdev_vq_stop(vq);
		return 0;
	}
	if (vdev__vq_cfg_check(&c))
		return vdev_state_fail(r, -ERANGE, "virtqueue: invalid configuration (size %u, "
				       "flags 0x%x, features 0x%" PRIx64 ", alignment)",
				       s->size, s->flags, s->features);
	if (s->broken) {
		if (ld->nreqs)
			return vdev_state_fail(r, -ERANGE, "virtqueue: broken with requests");
		rc = vdev__vq_reserve(vq, c.size);
		if (rc)
			return rc;
		/* Never touches the rings again: no pointers. */
		vdev__vq_setup(vq, &c, NULL, NULL, NULL);
		vq->slow |= VQ_SLOW_BROKEN;
		return 0;
	}
	rc = vdev__vq_rings_resolve(vq->ctx, &c, &desc, &drv, &dev);
	if (rc)
		return vdev_state_fail(r, rc, "virtqueue: rings at 0x%" PRIx64 "/0x%" PRIx64
				       "/0x%" PRIx64 " are not %s", s->desc, s->driver, s->device,
				       rc == -EFAULT ? "in RAM" : "host-aligned");
	rc = check_indices(r, ld, packed);
	if (!rc)
		rc = check_reqs(vq->ctx, r, ld, packed);
	if (rc)
		return rc;
	if (ld->nreqs) {
		replay = calloc(ld->nreqs, sizeof(*replay));
		rsegs = calloc(ld->nsegs ? ld->nsegs : 1, sizeof(*rsegs));
	}
	/* Reserving last: once it succeeds, nothing can fail. */
	if ((ld->nreqs && (!replay || !rsegs)) || vdev__vq_reserve(vq, c.size)) {
		free(replay);
		free(rsegs);
		return -ENOMEM;
	}
	commit(vq, ld, &c, desc, drv, dev, replay, rsegs);
	return 0;
}

int vdev_vq_load(vdev_vq *vq, vdev_state_reader *r)
{
	struct load ld;
	int rc;

	if (!vq || !r)
		return -EINVAL;
	memset(&ld, 0, sizeof(ld));
	ld.reqs = calloc(VDEV_VQ_MAX_SIZE, sizeof(*ld.reqs));
	if (!ld.reqs)
		return -ENOMEM;
	rc = parse(r, &ld);
	if (!rc)
		rc = load_checked(vq, r, &ld);
	free(ld.reqs);
	return rc;
}
