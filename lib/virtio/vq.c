/* SPDX-License-Identifier: MIT */
/*
 * The virtqueue engine, layout-independent part: queue life cycle and
 * configuration checks, the in-flight table, completion (local, in order,
 * remote), guest-violation reporting, buffer translation and the shared
 * chain helpers. The ring layouts live in vq_split.c and vq_packed.c,
 * save/load in vq_state.c.
 *
 * In-flight table: one slot per buffer id (split: head index; packed:
 * buffer id), sized at start, never allocated per request. Its state
 * moves FREE -> INFLIGHT (pop) -> HELD (claimed by push, or reaped) ->
 * FREE (published), or INFLIGHT -> REMOTE (vdev_vq_complete_remote()) ->
 * HELD at reap. Every claim of an INFLIGHT slot is a compare-and-swap, so
 * a double completion, local or remote, is refused. Another thread only
 * ever touches a slot it has claimed (state, then written and next).
 *
 * Remote completions: the completer claims the slot (INFLIGHT -> REMOTE),
 * stores `written`, and pushes the id on a Treiber stack linked through
 * the slots (release). vdev_vq_reap() takes the whole stack with one
 * exchange (acquire) and publishes it oldest first. Push-only plus
 * take-all has no ABA hazard: a stale head read by a pusher only makes its
 * CAS fail and retry.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "virtio/vq_internal.h"

static const char *const rule_names[VQ_RULE__COUNT] = {
	[VQ_RULE_AVAIL_IDX] = "avail-idx-jump",
	[VQ_RULE_DESC_INDEX] = "desc-index-range",
	[VQ_RULE_ID_RANGE] = "buffer-id-range",
	[VQ_RULE_ID_IN_FLIGHT] = "buffer-id-in-flight",
	[VQ_RULE_CHAIN_LENGTH] = "chain-too-long",
	[VQ_RULE_INDIRECT_FEATURE] = "indirect-not-negotiated",
	[VQ_RULE_INDIRECT_SIZE] = "indirect-table-size",
	[VQ_RULE_INDIRECT_NESTED] = "indirect-nested",
	[VQ_RULE_INDIRECT_NEXT] = "indirect-with-next",
	[VQ_RULE_INDIRECT_CHAINED] = "indirect-in-chain",
	[VQ_RULE_NOT_AVAIL] = "chain-desc-not-available",
	[VQ_RULE_BUFFER_NOT_RAM] = "buffer-not-in-ram",
	[VQ_RULE_BUFFER_READ_ONLY] = "writable-buffer-read-only",
	[VQ_RULE_CHAIN_BYTES] = "chain-over-4gib",
	[VQ_RULE_WRITE_ORDER] = "readable-after-writable",
	[VQ_RULE_RING_NOT_RAM] = "ring-not-in-ram",
	[VQ_RULE_REMOTE_IO] = "guest-memory-unreachable",
};

const char *vdev__vq_rule_name(enum vq_rule rule)
{
	return (unsigned int)rule < VQ_RULE__COUNT ? rule_names[rule] : "unknown";
}

int vdev__vq_violation(struct vdev_vq *vq, enum vq_rule rule, const char *fmt, ...)
{
	const char *name = vdev__vq_rule_name(rule);
	char detail[192];
	va_list ap;

	/* One report per start: a broken queue is not polled again. */
	if (vq->slow & VQ_SLOW_BROKEN)
		return -EIO;
	vq->slow |= VQ_SLOW_BROKEN;
	vq->push_key = UINT64_MAX;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	vdev_log(vq->ctx, VDEV_LOG_WARN,
		 "virtqueue (desc 0x%" PRIx64 ", size %u): guest broke rule %s: %s; "
		 "queue disabled until reset", vq->cfg.desc_addr, vq->cfg.size, name, detail);
	if (vq->ops.error)
		vq->ops.error(vq->opaque, vq, name);
	return -EIO;
}

void vdev__vq_ring_dirty(struct vdev_vq *vq, uint64_t gpa, uint64_t len)
{
	vdev_mem_mark_dirty(vq->ctx, gpa, len);
}

int vdev__vq_pull_since(struct vdev_vq *vq, uint64_t gpa, uint64_t len, uint64_t since)
{
	int rc = vdev__mem_pull(vq->ctx, gpa, len, since);

	if (VQ_LIKELY(!rc))
		return 0;
	if (rc == -EAGAIN) {
		vq->rwait = true;
		return rc;
	}
	return vdev__vq_violation(vq, VQ_RULE_REMOTE_IO,
				  "guest memory [0x%" PRIx64 ", +%" PRIu64 ") could not be read "
				  "(error %d)", gpa, len, -rc);
}

int vdev__vq_pull(struct vdev_vq *vq, uint64_t gpa, uint64_t len)
{
	if (!vq->look)
		vdev__vq_new_look(vq);
	return vdev__vq_pull_since(vq, gpa, len, vq->chain_look ? vq->chain_look : vq->look);
}

void vdev__vq_new_look(struct vdev_vq *vq)
{
	vq->look = vdev__mem_remote_now(vq->ctx);
	vq->chain_look = 0;
	vq->guest_kick = false;
}

void vdev__vq_note_kick(struct vdev_vq *vq)
{
	vq->guest_kick = true;
}

bool vdev__vq_take_remote_wait(struct vdev_vq *vq)
{
	bool w = vq->rwait;

	vq->rwait = false;
	return w;
}

/* Is @gpa in a remote region? */
static bool gpa_remote(vdev_ctx *ctx, uint64_t gpa)
{
	struct vdev__mem_region_info r;

	return !vdev__mem_region_find(ctx, gpa, &r) && (r.flags & VDEV__MEM_REMOTE);
}

/*
 * Any remote region in the map (the rings, or only buffers, may be in
 * one): pops go through pop_remote(), which keeps the sequence points
 * every pull needs. Whether the rings themselves are remote decides only
 * what cannot be read without waiting (the driver's notification
 * suppression, at flush): a client often shares RAM but not its ROMs.
 */
static void note_remote(struct vdev_vq *vq)
{
	vq->slow &= ~VQ_SLOW_REMOTE;
	vq->rings_remote = false;
	if (!vq->mhot->remote)
		return;
	vq->slow |= VQ_SLOW_REMOTE;
	vq->rings_remote = gpa_remote(vq->ctx, vq->cfg.desc_addr) ||
			   gpa_remote(vq->ctx, vq->cfg.driver_addr) ||
			   gpa_remote(vq->ctx, vq->cfg.device_addr);
}

/* ---- buffers and chains ------------------------------------------------ */

int vdev__vq_map_slow(struct vdev_vq *vq, struct vdev_vq_req *w, uint64_t addr, uint32_t len,
		      bool write, bool from_end)
{
	uint64_t left = len, at = addr;

	/* A buffer may cross regions: one iovec per region, like vdev_mem_translate(). */
	while (left) {
		struct vdev__mem_region_info r;
		uint64_t off, piece;

		if (vdev__mem_region_find(vq->ctx, at, &r))
			return vdev__vq_violation(vq, VQ_RULE_BUFFER_NOT_RAM,
						  "%s buffer [0x%" PRIx64 ", +%u) is not RAM",
						  write ? "writable" : "readable", addr, len);
		if (write && (r.flags & VDEV_MEM_READONLY))
			return vdev__vq_violation(vq, VQ_RULE_BUFFER_READ_ONLY,
						  "writable buffer [0x%" PRIx64
						  ", +%u) is in read-only memory", addr, len);
		off = at - r.gpa;
		piece = VDEV__MIN(left, r.size - off);
		if (r.flags & VDEV__MEM_REMOTE) {
			/* Never cached (the fast walk would skip the pull); writes push at completion. */
			int rc = write ? 0 : vdev__vq_pull(vq, at, piece);

			if (rc)
				return rc;
		} else {
			vq->rc = (struct vq_rcache){
				.gpa = r.gpa,
				.size = r.size,
				.wsize = (r.flags & VDEV_MEM_READONLY) ? 0 : r.size,
				.hva = r.hva,
			};
		}
		if (from_end)
			vq_walk_put(w, r.hva + off, piece, write, true);
		else
			vq_walk_put(w, r.hva + off, piece, write, false);
		left -= piece;
		if (left && piece > UINT64_MAX - at)
			return vdev__vq_violation(vq, VQ_RULE_BUFFER_NOT_RAM,
						  "buffer [0x%" PRIx64 ", +%u) wraps past 2^64",
						  addr, len);
		at += piece;
	}
	return 0;
}

int vdev__vq_mixed(struct vdev_vq *vq, uint64_t addr)
{
	if (vq->read_before_write)
		return vdev__vq_violation(vq, VQ_RULE_WRITE_ORDER,
					  "readable buffer at 0x%" PRIx64 " after a writable one",
					  addr);
	return VQ_WALK_MIXED;
}

int vdev__vq_walk_finish_slow(struct vdev_vq *vq, struct vdev_vq_req *r, bool from_end)
{
	uint64_t total = r->out_len + r->in_len;
	uint32_t nin = r->in_num, cap = r->iov_cap;

	if (total > (1ull << 32))
		return vdev__vq_violation(vq, VQ_RULE_CHAIN_BYTES,
					  "chain of %" PRIu64 " bytes (%" PRIu64 " readable)",
					  total, r->out_len);
	if (r->out_num > cap)
		return -ENOBUFS;
	if (from_end && nin) {
		/* Writable iovecs sit reversed at the end: reverse, then slide down. */
		struct iovec *lo = &r->iov[cap - nin], *hi = &r->iov[cap - 1];

		while (lo < hi) {
			struct iovec t = *lo;

			*lo++ = *hi;
			*hi-- = t;
		}
		memmove(&r->iov[r->out_num - nin], &r->iov[cap - nin], nin * sizeof(*r->iov));
	}
	return 0;
}

bool vdev__vq_rc_fill(struct vdev_vq *vq, uint64_t addr, uint32_t len, bool write)
{
	struct vdev__mem_region_info r;

	if (!len || vdev__mem_region_find(vq->ctx, addr, &r) || len > r.size - (addr - r.gpa))
		return false;
	if ((write && (r.flags & VDEV_MEM_READONLY)) || (r.flags & VDEV__MEM_REMOTE))
		return false;
	vq->rc = (struct vq_rcache){
		.gpa = r.gpa,
		.size = r.size,
		.wsize = (r.flags & VDEV_MEM_READONLY) ? 0 : r.size,
		.hva = r.hva,
	};
	return true;
}

bool vdev__vq_tc_fill(struct vdev_vq *vq, uint64_t addr, uint32_t len)
{
	struct vdev__mem_region_info r;

	if (!len || vdev__mem_region_find(vq->ctx, addr, &r) || len > r.size - (addr - r.gpa) ||
	    (r.flags & VDEV__MEM_REMOTE))
		return false;
	vq->tc = (struct vq_rcache){ .gpa = r.gpa, .size = r.size, .hva = r.hva };
	return true;
}

int vdev__vq_table_open_slow(struct vdev_vq *vq, uint64_t addr, uint32_t len,
			     struct vq_table *t)
{
	struct vdev__mem_region_info r;
	uint64_t at, left;

	if (!len || len % VQ_DESC_SIZE || len / VQ_DESC_SIZE > vq->seg_limit)
		return vdev__vq_violation(vq, VQ_RULE_INDIRECT_SIZE,
					  "indirect table at 0x%" PRIx64 " of %u bytes (limit %u "
					  "descriptors)", addr, len, vq->seg_limit);
	t->n = len / VQ_DESC_SIZE;
	t->gpa = addr;
	if (!vdev__mem_region_find(vq->ctx, addr, &r) && len <= r.size - (addr - r.gpa)) {
		if (r.flags & VDEV__MEM_REMOTE) {
			int rc = vdev__vq_pull(vq, addr, len);

			if (rc)
				return rc;
		}
		t->hva = r.hva + (addr - r.gpa);
		return 0;
	}
	/* Rare: the table crosses regions. Check it all, then read entry by entry. */
	for (at = addr, left = len; left;) {
		uint64_t piece;

		if (vdev__mem_region_find(vq->ctx, at, &r))
			return vdev__vq_violation(vq, VQ_RULE_BUFFER_NOT_RAM,
						  "indirect table [0x%" PRIx64 ", +%u) is not RAM",
						  addr, len);
		piece = VDEV__MIN(left, r.size - (at - r.gpa));
		left -= piece;
		if (left && piece > UINT64_MAX - at)
			return vdev__vq_violation(vq, VQ_RULE_BUFFER_NOT_RAM,
						  "indirect table at 0x%" PRIx64 " wraps", addr);
		at += piece;
	}
	t->hva = NULL;
	return 0;
}

/* ---- configuration and rings ------------------------------------------- */

static bool cfg_packed(const struct vdev_vq_config *c)
{
	return (c->features >> VDEV_VIRTIO_F_RING_PACKED) & 1;
}

/* Sizes of the three ring areas (§2.7 table; §2.8.10.1). */
static void ring_sizes(const struct vdev_vq_config *c, uint64_t len[3], uint32_t align[3])
{
	uint64_t n = c->size;

	len[0] = VQ_DESC_SIZE * n;
	align[0] = 16;
	if (cfg_packed(c)) {
		len[1] = len[2] = 4;
		align[1] = align[2] = 4;
	} else {
		len[1] = 6 + 2 * n;
		len[2] = 6 + VQ_USED_ELEM * n;
		align[1] = 2;
		align[2] = 4;
	}
}

int vdev__vq_cfg_check(const struct vdev_vq_config *c)
{
	bool packed = cfg_packed(c);
	uint64_t len[3];
	uint32_t align[3];

	if (!c->size || c->size > VDEV_VQ_MAX_SIZE)
		return -EINVAL;
	if (!packed && (c->size & (c->size - 1)))
		return -EINVAL;
	if (c->flags & ~(uint32_t)VDEV_VQ_F_READ_BEFORE_WRITE)
		return -EINVAL;
	/* Modern (1.x) rings only: legacy rings are guest-endian. */
	if (!((c->features >> VDEV_VIRTIO_F_VERSION_1) & 1))
		return -EINVAL;
	if (c->max_segments > VQ_MAX_SEGMENTS)
		return -EINVAL;
	ring_sizes(c, len, align);
	if (c->desc_addr % align[0] || c->driver_addr % align[1] || c->device_addr % align[2])
		return -EINVAL;
	return 0;
}

/* Locate one ring area: wholly inside one region (writable if @write), host-aligned. */
static int ring_area(vdev_ctx *ctx, uint64_t gpa, uint64_t len, uint32_t align, bool write,
		     uint8_t **hva)
{
	struct vdev__mem_region_info r;
	uint8_t *p;

	if (vdev__mem_region_find(ctx, gpa, &r) || len > r.size - (gpa - r.gpa))
		return -EFAULT;
	if (write && (r.flags & VDEV_MEM_READONLY))
		return -EFAULT;
	p = r.hva + (gpa - r.gpa);
	/* Atomic ring accesses need the host side aligned as well. */
	if ((uintptr_t)p % align)
		return -EINVAL;
	*hva = p;
	return 0;
}

int vdev__vq_rings_resolve(vdev_ctx *ctx, const struct vdev_vq_config *c, uint8_t **desc,
			   uint8_t **drv, uint8_t **dev)
{
	bool packed = cfg_packed(c);
	uint64_t len[3];
	uint32_t align[3];
	int rc;

	ring_sizes(c, len, align);
	/* The device writes the packed descriptor ring and both used-side areas. */
	rc = ring_area(ctx, c->desc_addr, len[0], align[0], packed, desc);
	if (!rc)
		rc = ring_area(ctx, c->driver_addr, len[1], align[1], false, drv);
	if (!rc)
		rc = ring_area(ctx, c->device_addr, len[2], align[2], true, dev);
	return rc;
}

static void update_push_key(struct vdev_vq *vq)
{
	/* Inflight tracking links every used entry: push takes the slow path. */
	vq->push_key = (vq->slow & (VQ_SLOW_STOPPED | VQ_SLOW_BROKEN | VQ_SLOW_INFLIGHT)) ||
			       vq->in_order
			       ? UINT64_MAX
			       : (uint64_t)(vq->mem_gen << 1);
}

/* The map changed: find the rings again (or break the queue), drop the region cache. */
static int vq_refresh(struct vdev_vq *vq)
{
	uint8_t *desc, *drv, *dev;

	vq->mem_gen = vq->mhot->gen;
	vq->rc.size = vq->tc.size = 0;
	update_push_key(vq);
	if (vq->slow & (VQ_SLOW_STOPPED | VQ_SLOW_BROKEN))
		return 0;
	if (vdev__vq_rings_resolve(vq->ctx, &vq->cfg, &desc, &drv, &dev)) {
		/* Nothing may touch the old pointers again. */
		vq->desc = vq->drv = vq->dev = NULL;
		return vdev__vq_violation(vq, VQ_RULE_RING_NOT_RAM,
					  "a ring area left guest RAM (region removed)");
	}
	vq->desc = desc;
	vq->drv = drv;
	vq->dev = dev;
	note_remote(vq);
	return 0;
}

static inline int vq_check_mem(struct vdev_vq *vq)
{
	if (VQ_UNLIKELY(vq->mem_gen != vq->mhot->gen))
		return vq_refresh(vq);
	return 0;
}

/* Make room for a queue of @size (slots and the IN_ORDER list). */
int vdev__vq_reserve(struct vdev_vq *vq, uint32_t size)
{
	struct vq_slot *slots;
	uint16_t *order;

	if (vq->alloc_size >= size)
		return 0;
	slots = calloc(size, sizeof(*slots));
	order = calloc(size, sizeof(*order));
	if (!slots || !order) {
		free(slots);
		free(order);
		return -ENOMEM;
	}
	free(vq->slots);
	free(vq->order);
	vq->slots = slots;
	vq->order = order;
	vq->alloc_size = size;
	return 0;
}

static void replay_free(struct vdev_vq *vq)
{
	free(vq->replay);
	free(vq->rsegs);
	vq->replay = NULL;
	vq->rsegs = NULL;
	vq->replay_n = vq->replay_next = 0;
	vq->slow &= ~VQ_SLOW_REPLAY;
}

void vdev_vq_stop(vdev_vq *vq)
{
	if (!vq)
		return;
	__atomic_store_n(&vq->remote_head, VQ_NIL, __ATOMIC_RELAXED);
	if (vq->slots)
		memset(vq->slots, 0, vq->alloc_size * sizeof(*vq->slots));
	replay_free(vq);
	vq->slow = VQ_SLOW_STOPPED;
	__atomic_store_n(&vq->size, 0, __ATOMIC_RELAXED);
	vq->mask = 0;
	vq->desc = vq->drv = vq->dev = NULL;
	vq->rc = vq->tc = (struct vq_rcache){ 0 };
	vq->pop_seq = 0;
	vq->push_key = UINT64_MAX;
	vq->last_avail = vq->avail_shadow = vq->used_idx = vq->used_flushed = 0;
	vq->avail_event = 0;
	vq->avail_pos = vq->used_pos = vq->flushed_pos = 0;
	vq->avail_wrap = vq->used_wrap = vq->flushed_wrap = 1;
	vq->avail_expect = VQ_DESC_F_AVAIL;
	vq->used_flags = VQ_DESC_F_AVAIL | VQ_DESC_F_USED;
	vq->first_flags = 0;
	vq->pending = false;
	vq->dev_event = 0;
	vq->order_head = vq->order_count = 0;
	vq->warned_clamp = vq->warned_kick = false;
	vq->notify_on = true;
	vq->look = vq->chain_look = 0;
	vq->rwait = vq->guest_kick = false;
	vq->ifl_recovered = false;
}

/* Take on configuration @c (checked, rings resolved, room reserved): fresh ring state. */
void vdev__vq_setup(struct vdev_vq *vq, const struct vdev_vq_config *c, uint8_t *desc,
		    uint8_t *drv, uint8_t *dev)
{
	vdev_vq_stop(vq);
	vq->cfg = *c;
	vq->packed = cfg_packed(c);
	vq->event_idx = (c->features >> VDEV_VIRTIO_F_EVENT_IDX) & 1;
	vq->indirect = (c->features >> VDEV_VIRTIO_F_INDIRECT_DESC) & 1;
	vq->in_order = (c->features >> VDEV_VIRTIO_F_IN_ORDER) & 1;
	vq->read_before_write = (c->flags & VDEV_VQ_F_READ_BEFORE_WRITE) != 0;
	vq->seg_limit = c->max_segments ? c->max_segments : c->size;
	vq->ring_limit = VDEV__MIN(vq->seg_limit, c->size);
	vq->table_max = vq->seg_limit * VQ_DESC_SIZE; /* <= 2^20 */
	vq->mask = vq->packed ? 0 : c->size - 1;
	vq->desc = desc;
	vq->drv = drv;
	vq->dev = dev;
	vq->mem_gen = vq->mhot->gen;
	__atomic_store_n(&vq->size, c->size, __ATOMIC_RELAXED);
	vq->slow = 0;
	note_remote(vq);
	update_push_key(vq);
}

int vdev_vq_start(vdev_vq *vq, const struct vdev_vq_config *ucfg)
{
	struct vdev_vq_config c;
	uint8_t *desc, *drv, *dev;
	int rc;

	if (!vq || !ucfg)
		return -EINVAL;
	if (!(vq->slow & VQ_SLOW_STOPPED))
		return -EBUSY;
	rc = vdev__copy_sized(&c, sizeof(c), ucfg);
	if (!rc)
		rc = vdev__vq_cfg_check(&c);
	if (!rc)
		rc = vdev__vq_rings_resolve(vq->ctx, &c, &desc, &drv, &dev);
	if (!rc)
		rc = vdev__vq_reserve(vq, c.size);
	if (rc)
		return rc;
	vdev__vq_setup(vq, &c, desc, drv, dev);
	/*
	 * The device-written suppression fields start as "notify me" (the
	 * driver zeroed them, but they are ours to write, so be sure).
	 */
	if (vq->packed) {
		vq->dev_event = vq->event_idx ? (VQ_EVENT_DESC << 16) | VQ_EVENT_WRAP
					      : VQ_EVENT_ENABLE << 16;
		vq_st32(vq->dev, vq->dev_event, __ATOMIC_RELAXED);
		vdev__vq_ring_dirty(vq, c.device_addr, 4);
	} else {
		vq_st16(vq->dev, 0, __ATOMIC_RELAXED);
		vdev__vq_ring_dirty(vq, c.device_addr, 2);
		if (vq->event_idx) {
			vq_st16(vq->dev + VQ_USED_RING + VQ_USED_ELEM * c.size, 0,
				__ATOMIC_RELAXED);
			vdev__vq_ring_dirty(vq, c.device_addr + VQ_USED_RING +
						    VQ_USED_ELEM * (uint64_t)c.size, 2);
		}
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (VQ_UNLIKELY(vq->ifl)) {
		/* -EIO: a resubmitted chain broke a rule; the queue reports it, as a pop would. */
		rc = vdev__vq_ifl_start(vq);
		if (rc && rc != -EIO) {
			vdev_vq_stop(vq);
			return rc;
		}
		update_push_key(vq);
	}
	return 0;
}

int vdev_vq_new(vdev_ctx *ctx, const struct vdev_vq_ops *ops, void *opaque, vdev_vq **out)
{
	struct vdev_vq *vq;
	int rc;

	if (!ctx || !ops || !out)
		return -EINVAL;
	vq = calloc(1, sizeof(*vq));
	if (!vq)
		return -ENOMEM;
	rc = vdev__copy_sized(&vq->ops, sizeof(vq->ops), ops);
	if (rc || !vq->ops.notify) {
		free(vq);
		return -EINVAL;
	}
	vq->ctx = ctx;
	vq->mhot = vdev__mem_hot(ctx);
	vq->opaque = opaque;
	vdev_vq_stop(vq);
	*out = vq;
	return 0;
}

void vdev_vq_free(vdev_vq *vq)
{
	if (!vq)
		return;
	vdev_vq_stop(vq);
	free(vq->slots);
	free(vq->order);
	free(vq);
}

int vdev_vq_started(const vdev_vq *vq)
{
	return vq && !(vq->slow & VQ_SLOW_STOPPED);
}

int vdev_vq_broken(const vdev_vq *vq)
{
	return vq && (vq->slow & VQ_SLOW_BROKEN) != 0;
}

uint32_t vdev_vq_size(const vdev_vq *vq)
{
	return vq ? vq->size : 0;
}

unsigned int vdev_vq_inflight(const vdev_vq *vq)
{
	unsigned int n = 0;

	/* Counted on demand, so pop and push do not keep a counter. */
	if (!vq || (vq->slow & VQ_SLOW_STOPPED))
		return 0;
	for (uint32_t id = 0; id < vq->size; id++) {
		uint32_t st = __atomic_load_n(&vq->slots[id].state, __ATOMIC_RELAXED);

		n += st == VQ_SLOT_INFLIGHT || st == VQ_SLOT_REMOTE || st == VQ_SLOT_RESERVED;
	}
	return n;
}

/* ---- pop ---------------------------------------------------------------- */

/* Pop the next request loaded from a saved state. */
static int pop_replay(struct vdev_vq *vq, struct vdev_vq_req *req)
{
	const struct vq_replay *r = &vq->replay[vq->replay_next];
	struct vq_slot *s = &vq->slots[r->id];
	int rc;

	vq_walk_init(req);
	for (uint32_t i = 0; i < r->nseg; i++) {
		const struct vq_seg *sg = &vq->rsegs[r->seg + i];

		/* Checked at load (order included); RAM may have changed since. */
		rc = vq_desc(vq, req, sg->gpa, sg->len, sg->write, false);
		if (rc)
			return rc < 0 ? rc : -EIO;
	}
	rc = vq_walk_finish(vq, req, false);
	if (rc)
		return rc;
	/* Already in the in-flight table (and the IN_ORDER list) since the load. */
	req->out_num -= req->in_num;
	req->id = r->id;
	s->req = req;
	s->in_len = req->in_len;
	__atomic_store_n(&s->state, VQ_SLOT_INFLIGHT, __ATOMIC_RELEASE);
	if (++vq->replay_next == vq->replay_n)
		replay_free(vq);
	return 1;
}

static inline int pop_ring(struct vdev_vq *vq, struct vdev_vq_req *reqs, unsigned int n)
{
	return vq->packed ? vdev__vq_packed_pop(vq, reqs, n) : vdev__vq_split_pop(vq, reqs, n);
}

/*
 * Remote memory (VQ_SLOW_REMOTE): nothing the driver wrote is read
 * without a pull, and a pull may have to wait for the client. A pop that
 * would wait gives up, leaving no trace, with vq->rwait set; the memory's
 * owner kicks the queue again when data arrives (vdev__virtio_remote_ready()).
 *
 * A "look" is one sequence point (core.h) and what is read since it: the
 * driver's index (split) or each head descriptor (packed), then the
 * entries, descriptors, tables and buffers they make available. A look
 * ends when it finds nothing more; if the driver kicked meanwhile (its
 * new buffers may postdate the index we read), a new look starts at once.
 * A split ring is pulled once per look (the index covers every entry up to
 * it). A packed ring has no index: each head is pulled, and once it is
 * seen available its chain is pulled again since a later point (written
 * before the head's flags, §2.8.21.1), so one request at a time.
 */
static int pop_remote_once(struct vdev_vq *vq, struct vdev_vq_req *reqs, unsigned int n)
{
	unsigned int i;
	int rc;

	if (!vq->packed) {
		rc = vdev__vq_split_pull(vq);
		return rc ? rc : vdev__vq_split_pop(vq, reqs, n);
	}
	for (i = 0; i < n; i++) {
		rc = vdev__vq_packed_pull_head(vq);
		if (!rc)
			rc = vdev__vq_packed_pop(vq, reqs + i, 1);
		if (rc <= 0)
			return i ? (int)i : rc;
		vq->chain_look = 0;
	}
	return (int)n;
}

static int pop_remote(struct vdev_vq *vq, struct vdev_vq_req *reqs, unsigned int n)
{
	for (int looks = 0; looks < 2; looks++) {
		int rc;

		vq->rwait = false;
		if (!vq->look)
			vdev__vq_new_look(vq);
		rc = pop_remote_once(vq, reqs, n);
		if (rc == -EAGAIN)
			return 0;
		if (rc || vq->rwait)
			return rc;
		/* Nothing more under this look. */
		if (!vq->guest_kick) {
			vq->look = 0;
			return 0;
		}
		vq->look = 0;   /* a kick came meanwhile: look again */
	}
	return 0;
}

static int pop_slow_inner(struct vdev_vq *vq, struct vdev_vq_req *reqs, unsigned int n)
{
	unsigned int i = 0;
	int rc;

	if (vq->slow & VQ_SLOW_STOPPED)
		return -ENODEV;
	rc = vq_check_mem(vq);
	if (vq->slow & VQ_SLOW_BROKEN)
		return -EIO;
	if (rc)
		return rc;
	if (vq->slow & VQ_SLOW_PAUSED)
		return 0;
	while (i < n && (vq->slow & VQ_SLOW_REPLAY)) {
		rc = pop_replay(vq, &reqs[i]);
		if (rc < 0)   /* -EAGAIN: its remote buffers are on their way (rwait set) */
			return i ? (int)i : rc == -EAGAIN ? 0 : rc;
		i++;
	}
	if (i == n)
		return (int)i;
	if (vq->slow & VQ_SLOW_REMOTE)
		rc = pop_remote(vq, reqs + i, n - i);
	else
		rc = pop_ring(vq, reqs + i, n - i);
	if (rc < 0)
		return i ? (int)i : rc;
	return (int)i + rc;
}

static int pop_slow(struct vdev_vq *vq, struct vdev_vq_req *reqs, unsigned int n)
{
	int rc = pop_slow_inner(vq, reqs, n);

	/* Marked before the device sees them (a crash after this resubmits them). */
	if (rc > 0 && (vq->slow & VQ_SLOW_INFLIGHT))
		vdev__vq_ifl_popped(vq, reqs, (unsigned int)rc);
	return rc;
}

int vdev_vq_pop_batch(vdev_vq *vq, struct vdev_vq_req *reqs, unsigned int n)
{
	if (VQ_UNLIKELY(!vq || !reqs))
		return -EINVAL;
	if (VQ_UNLIKELY(vq->slow))
		return pop_slow(vq, reqs, n);
	if (VQ_UNLIKELY(!n))
		return 0;
	if (VQ_UNLIKELY(vq->mem_gen != vq->mhot->gen) && vq_refresh(vq))
		return -EIO;
	return pop_ring(vq, reqs, n);
}

int vdev_vq_pop(vdev_vq *vq, struct vdev_vq_req *req)
{
	return vdev_vq_pop_batch(vq, req, 1);
}

/* ---- completion ---------------------------------------------------------- */

/* Write the used entry for @id (any state of logging and memory map). */
static void publish(struct vdev_vq *vq, uint16_t id, uint32_t written)
{
	uint32_t off;

	if (VQ_UNLIKELY(vq->slow & VQ_SLOW_BROKEN))
		return; /* the rings are not to be trusted (or gone): drop it */
	if (vq->packed) {
		off = vq_packed_publish(vq, id, vq->slots[id].ndesc, written);
		if (VQ_UNLIKELY(vq->mhot->logging))
			vdev__vq_ring_dirty(vq, vq->cfg.desc_addr + off, VQ_DESC_SIZE);
	} else {
		off = vq_split_publish(vq, id, written);
		if (VQ_UNLIKELY(vq->mhot->logging))
			vdev__vq_ring_dirty(vq, vq->cfg.device_addr + off, VQ_USED_ELEM);
		if (VQ_UNLIKELY(vq->slow & VQ_SLOW_INFLIGHT))
			vdev__vq_ifl_used(vq, id);
	}
}

/*
 * IN_ORDER (§2.7.9 / §2.8.8, "used in the order made available"): the
 * completion waits in its slot (HELD) until every request popped before it
 * has completed; then the run at the head of the pop order is published.
 */
static void complete_in_order(struct vdev_vq *vq, uint16_t id, uint32_t written)
{
	vq->slots[id].written = written;
	if (vq->order[vq->order_head] != id)
		return;
	while (vq->order_count) {
		uint16_t h = vq->order[vq->order_head];
		struct vq_slot *s = &vq->slots[h];

		if (__atomic_load_n(&s->state, __ATOMIC_RELAXED) != VQ_SLOT_HELD)
			break;
		publish(vq, h, s->written);
		__atomic_store_n(&s->state, VQ_SLOT_FREE, __ATOMIC_RELAXED);
		if (++vq->order_head == vq->size)
			vq->order_head = 0;
		vq->order_count--;
	}
}

/* Slot @id is HELD by the queue thread: publish it (or hold it, IN_ORDER). */
static void complete_slot(struct vdev_vq *vq, uint16_t id, uint32_t written)
{
	if (VQ_UNLIKELY(vq->in_order)) {
		complete_in_order(vq, id, written);
		return;
	}
	publish(vq, id, written);
	__atomic_store_n(&vq->slots[id].state, VQ_SLOT_FREE, __ATOMIC_RELAXED);
}

static uint32_t clamp_written(struct vdev_vq *vq, uint16_t id, uint32_t written, uint64_t max)
{
	if (!vq->warned_clamp) {
		vq->warned_clamp = true;
		vdev_log(vq->ctx, VDEV_LOG_WARN,
			 "virtqueue (desc 0x%" PRIx64 "): device completed buffer %u with %u "
			 "bytes written but it has %" PRIu64 " writable bytes; clamped (device bug)",
			 vq->cfg.desc_addr, id, written, max);
	}
	return (uint32_t)max;
}

/* Mark the first @written bytes of @req's writable iovecs dirty. */
static void dirty_req(vdev_ctx *ctx, const struct vdev_vq_req *req, uint32_t written)
{
	uint32_t end = req->out_num + req->in_num;

	if (end > req->iov_cap || end < req->out_num)
		end = req->iov_cap;
	for (uint32_t i = req->out_num; written && i < end; i++) {
		size_t n = VDEV__MIN(req->iov[i].iov_len, (size_t)written);

		vdev__mem_mark_dirty_hva(ctx, req->iov[i].iov_base, n);
		written -= (uint32_t)n;
	}
}

/* Everything push's fast path does not: clamping, logging, a moved map, IN_ORDER, broken. */
static __attribute__((noinline)) int push_slow(struct vdev_vq *vq, const struct vdev_vq_req *req,
					       uint16_t id, uint32_t written)
{
	struct vq_slot *s = &vq->slots[id];

	if (written > s->in_len)
		written = clamp_written(vq, id, written, s->in_len);
	if (vq->mhot->logging)
		dirty_req(vq->ctx, req, written);
	vq_check_mem(vq);
	complete_slot(vq, id, written);
	return 0;
}

int vdev_vq_push(vdev_vq *vq, const struct vdev_vq_req *req, uint32_t written)
{
	uint32_t expect = VQ_SLOT_INFLIGHT;
	struct vq_slot *s;
	uint16_t id;

	if (VQ_UNLIKELY(!vq || !req))
		return -EINVAL;
	id = req->id;
	if (VQ_UNLIKELY(id >= vq->size))
		return vq->size ? -EINVAL : -ENODEV;
	s = &vq->slots[id];
	/* The CAS claims the slot against a concurrent remote completion. */
	if (VQ_UNLIKELY(s->req != req) ||
	    VQ_UNLIKELY(!__atomic_compare_exchange_n(&s->state, &expect, VQ_SLOT_HELD, false,
						     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)))
		return -EINVAL;
	/* One compare covers: map unchanged, logging off, not IN_ORDER/broken. */
	if (VQ_UNLIKELY(written > s->in_len || vq->mhot->key != vq->push_key))
		return push_slow(vq, req, id, written);
	if (vq->packed)
		vq_packed_publish(vq, id, s->ndesc, written);
	else
		vq_split_publish(vq, id, written);
	__atomic_store_n(&s->state, VQ_SLOT_FREE, __ATOMIC_RELAXED);
	return 0;
}

/* A flush with inflight tracking (split): publish, then retire the batch in the region. */
static __attribute__((noinline)) int flush_tracked(struct vdev_vq *vq)
{
	uint16_t old = vq->used_flushed;
	int rc;

	if (VQ_UNLIKELY(vq->mem_gen != vq->mhot->gen) && vq_refresh(vq))
		return 0;
	rc = vdev__vq_split_flush(vq);
	if (vq->used_flushed != old)
		vdev__vq_ifl_flushed(vq, old, vq->used_flushed);
	return rc;
}

int vdev_vq_flush(vdev_vq *vq)
{
	if (VQ_UNLIKELY(!vq))
		return -EINVAL;
	if (VQ_UNLIKELY(vq->slow & (VQ_SLOW_STOPPED | VQ_SLOW_BROKEN | VQ_SLOW_INFLIGHT))) {
		if (vq->slow & (VQ_SLOW_STOPPED | VQ_SLOW_BROKEN))
			return vq->slow & VQ_SLOW_STOPPED ? -ENODEV : 0;
		return flush_tracked(vq);
	}
	if (VQ_UNLIKELY(vq->mem_gen != vq->mhot->gen) && vq_refresh(vq))
		return 0;
	return vq->packed ? vdev__vq_packed_flush(vq) : vdev__vq_split_flush(vq);
}

int vdev_vq_complete(vdev_vq *vq, const struct vdev_vq_req *req, uint32_t written)
{
	int rc = vdev_vq_push(vq, req, written);

	return rc ? rc : vdev_vq_flush(vq);
}

int vdev_vq_complete_remote(vdev_vq *vq, uint16_t id, uint32_t written)
{
	uint32_t expect = VQ_SLOT_INFLIGHT, head;
	struct vq_slot *s;

	if (!vq || id >= __atomic_load_n(&vq->size, __ATOMIC_RELAXED))
		return -EINVAL;
	s = &vq->slots[id];
	/* Acquire pairs with the pop's release: req and in_len are valid. */
	if (!__atomic_compare_exchange_n(&s->state, &expect, VQ_SLOT_REMOTE, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return -EINVAL;
	/*
	 * The request may be gone once this returns, so its written buffers
	 * are marked dirty here (the map allows this from any thread).
	 */
	if (vq->mhot->logging && s->req)
		dirty_req(vq->ctx, s->req, (uint32_t)VDEV__MIN((uint64_t)written, s->in_len));
	s->written = written;
	head = __atomic_load_n(&vq->remote_head, __ATOMIC_RELAXED);
	do {
		s->next = (uint16_t)head;
	} while (!__atomic_compare_exchange_n(&vq->remote_head, &head, id, true, __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
	if (vq->ops.wake)
		vq->ops.wake(vq->opaque, vq);
	return 0;
}

/* Queue loaded completions as remote ones, in this call order (vq_state.c). */
void vdev__vq_queue_remote(struct vdev_vq *vq, uint16_t id, uint32_t written)
{
	struct vq_slot *s = &vq->slots[id];

	s->written = written;
	__atomic_store_n(&s->state, VQ_SLOT_REMOTE, __ATOMIC_RELAXED);
	s->next = (uint16_t)vq->remote_head;
	__atomic_store_n(&vq->remote_head, id, __ATOMIC_RELEASE);
}

int vdev_vq_reap(vdev_vq *vq)
{
	uint32_t head, prev = VQ_NIL;
	int count = 0;

	if (!vq)
		return -EINVAL;
	if (vq->slow & VQ_SLOW_STOPPED)
		return -ENODEV;
	head = __atomic_exchange_n(&vq->remote_head, VQ_NIL, __ATOMIC_ACQUIRE);
	/* The stack is newest first: reverse it to publish in completion order. */
	while (head != VQ_NIL) {
		uint32_t next = vq->slots[head].next;

		vq->slots[head].next = (uint16_t)prev;
		prev = head;
		head = next;
	}
	vq_check_mem(vq);
	for (uint32_t id = prev; id != VQ_NIL;) {
		struct vq_slot *s = &vq->slots[id];
		uint32_t next = s->next, written = s->written;

		if (written > s->in_len)
			written = clamp_written(vq, (uint16_t)id, written, s->in_len);
		s->req = NULL;
		__atomic_store_n(&s->state, VQ_SLOT_HELD, __ATOMIC_RELAXED);
		complete_slot(vq, (uint16_t)id, written);
		count++;
		id = next;
	}
	vdev_vq_flush(vq);
	return count;
}

/* ---- notifications --------------------------------------------------------- */

int vdev_vq_notify_enable(vdev_vq *vq, int enable)
{
	int rc;

	if (!vq)
		return -EINVAL;
	if (vq->slow & VQ_SLOW_STOPPED)
		return -ENODEV;
	if (vq_check_mem(vq) || (vq->slow & (VQ_SLOW_BROKEN | VQ_SLOW_PAUSED)))
		return 0;
	rc = vq->packed ? vdev__vq_packed_notify_enable(vq, !!enable)
			: vdev__vq_split_notify_enable(vq, !!enable);
	if (rc < 0)
		return 0; /* broken now: the next pop says so */
	if (enable && (vq->slow & VQ_SLOW_REPLAY))
		return 1;
	return rc;
}

int vdev_vq_kick_data(vdev_vq *vq, uint32_t data)
{
	bool plausible;
	int rc;

	if (!vq || (vq->slow & (VQ_SLOW_STOPPED | VQ_SLOW_BROKEN)))
		return 0;
	if (vq_check_mem(vq))
		return 0;
	/*
	 * §4.1.5.2 / §2.9: the driver's next available index (split), or
	 * offset and wrap counter (packed). Advisory: a value that cannot be
	 * right is logged once and ignored; the ring itself is the truth.
	 */
	if (vq->packed)
		plausible = data <= 0xffff && (data & 0x7fff) < vq->size;
	else
		plausible = data <= 0xffff &&
			    (uint16_t)((uint16_t)data - vq->last_avail) <= vq->size;
	if (!plausible && !vq->warned_kick) {
		vq->warned_kick = true;
		vdev_log(vq->ctx, VDEV_LOG_DEBUG,
			 "virtqueue (desc 0x%" PRIx64 "): implausible notification data 0x%x "
			 "ignored", vq->cfg.desc_addr, data);
	}
	if (vq->slow & VQ_SLOW_REPLAY)
		return 1;
	rc = vq->packed ? vdev__vq_packed_avail(vq) : vdev__vq_split_avail(vq);
	return rc > 0;
}

/* ---- external transports: pause and ring base ---------------------------- */

int vdev_vq_pause(vdev_vq *vq, int pause)
{
	if (!vq)
		return -EINVAL;
	if (vq->slow & VQ_SLOW_STOPPED)
		return -ENODEV;
	if (pause)
		vq->slow |= VQ_SLOW_PAUSED;
	else
		vq->slow &= ~VQ_SLOW_PAUSED;
	return 0;
}

int vdev_vq_paused(const vdev_vq *vq)
{
	return vq && (vq->slow & VQ_SLOW_PAUSED) != 0;
}

int vdev_vq_set_base(vdev_vq *vq, uint32_t base)
{
	uint16_t a, u;

	if (!vq)
		return -EINVAL;
	if (vq->slow & VQ_SLOW_STOPPED)
		return -ENODEV;
	/* A used inflight region placed the ring at start: it knows better (vq_inflight.c). */
	if (vq->ifl_recovered) {
		/* After a crash the front end only knows the used index: that is fine. */
		if (base != vq->last_avail && base != vq->used_idx)
			vdev_log(vq->ctx, VDEV_LOG_DEBUG,
				 "virtqueue (desc 0x%" PRIx64 "): base %u ignored: the inflight "
				 "region resumes at %u", vq->cfg.desc_addr, base, vq->last_avail);
		return 0;
	}
	if (vq->pop_seq || (vq->slow & VQ_SLOW_REPLAY) || vdev_vq_inflight(vq))
		return -EBUSY;
	if (vq_check_mem(vq) || (vq->slow & VQ_SLOW_BROKEN))
		return -EIO;
	if (!vq->packed) {
		if (base > 0xffff)
			return -EINVAL;
		/*
		 * The used index is the ring's own (the driver has seen every
		 * entry up to it); the available side resumes where told.
		 */
		u = vq_ld16(vq->dev + VQ_USED_IDX, __ATOMIC_ACQUIRE);
		a = (uint16_t)base;
		if ((uint16_t)(a - u) > vq->size)
			return -ERANGE;
		vq->last_avail = vq->avail_shadow = a;
		vq->used_idx = vq->used_flushed = u;
		return 0;
	}
	a = base & 0x7fff;
	u = (base >> 16) & 0x7fff;
	if (a >= vq->size || u >= vq->size)
		return -ERANGE;
	vq->avail_pos = a;
	vq->avail_wrap = (base >> 15) & 1;
	vq->avail_expect = vq->avail_wrap ? VQ_DESC_F_AVAIL : VQ_DESC_F_USED;
	vq->used_pos = vq->flushed_pos = u;
	vq->used_wrap = vq->flushed_wrap = (base >> 31) & 1;
	vq->used_flags = vq->used_wrap ? VQ_DESC_F_AVAIL | VQ_DESC_F_USED : 0;
	return 0;
}

uint32_t vdev_vq_base(const vdev_vq *vq)
{
	if (!vq || (vq->slow & VQ_SLOW_STOPPED))
		return 0;
	if (!vq->packed)
		return vq->last_avail;
	return (uint32_t)vq->avail_pos | ((uint32_t)vq->avail_wrap << 15) |
	       ((uint32_t)vq->used_pos << 16) | ((uint32_t)vq->used_wrap << 31);
}
