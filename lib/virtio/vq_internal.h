/* SPDX-License-Identifier: MIT */
/*
 * Private to lib/virtio's virtqueue engine (vq.c, vq_split.c, vq_packed.c):
 * the queue object, the in-flight table, the guest-violation rules and the
 * chain-walking helpers both ring layouts share. Tests may include it.
 *
 * Guest memory holds the rings and is shared with running vCPUs. Every
 * ring field is read exactly once per use, through __atomic loads on the
 * host pointers translated at start (one region per ring area), with the
 * barriers VIRTIO 1.2 §2.7.13/§2.8.21 ask for; values are copied into
 * locals before they are validated, so a vCPU rewriting the ring meanwhile
 * can at worst make the request it describes invalid.
 */
#ifndef VDEV_VIRTIO_VQ_INTERNAL_H
#define VDEV_VIRTIO_VQ_INTERNAL_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <vdev/virtqueue.h>

#include "core/core.h"

#define VQ_LIKELY(x) __builtin_expect(!!(x), 1)
#define VQ_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Ring layout constants (§2.7.5, §2.7.6, §2.7.8, §2.8.1, §2.8.10). */
#define VQ_DESC_SIZE 16u
#define VQ_DESC_F_NEXT 1u
#define VQ_DESC_F_WRITE 2u
#define VQ_DESC_F_INDIRECT 4u
#define VQ_DESC_F_AVAIL (1u << 7)
#define VQ_DESC_F_USED (1u << 15)
#define VQ_AVAIL_F_NO_INTERRUPT 1u
#define VQ_USED_F_NO_NOTIFY 1u
#define VQ_EVENT_ENABLE 0u
#define VQ_EVENT_DISABLE 1u
#define VQ_EVENT_DESC 2u
#define VQ_EVENT_WRAP (1u << 15)

/* Split ring offsets. */
#define VQ_AVAIL_IDX 2u
#define VQ_AVAIL_RING 4u
#define VQ_USED_IDX 2u
#define VQ_USED_RING 4u
#define VQ_USED_ELEM 8u

/* Most descriptors one chain may have, whatever max_segments says. */
#define VQ_MAX_SEGMENTS 65536u

/* Little-endian ring values. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define vq_le16(x) __builtin_bswap16(x)
#define vq_le32(x) __builtin_bswap32(x)
#define vq_le64(x) __builtin_bswap64(x)
#else
#define vq_le16(x) ((uint16_t)(x))
#define vq_le32(x) ((uint32_t)(x))
#define vq_le64(x) ((uint64_t)(x))
#endif

static inline uint16_t vq_ld16(const uint8_t *p, int order)
{
	return vq_le16(__atomic_load_n((const uint16_t *)(const void *)p, order));
}
static inline uint32_t vq_ld32(const uint8_t *p, int order)
{
	return vq_le32(__atomic_load_n((const uint32_t *)(const void *)p, order));
}
static inline uint64_t vq_ld64(const uint8_t *p)
{
	return vq_le64(__atomic_load_n((const uint64_t *)(const void *)p, __ATOMIC_RELAXED));
}
static inline uint64_t vq_ld64_acquire(const uint8_t *p)
{
	return vq_le64(__atomic_load_n((const uint64_t *)(const void *)p, __ATOMIC_ACQUIRE));
}
static inline void vq_st16(uint8_t *p, uint16_t v, int order)
{
	__atomic_store_n((uint16_t *)(void *)p, vq_le16(v), order);
}
static inline void vq_st32(uint8_t *p, uint32_t v, int order)
{
	__atomic_store_n((uint32_t *)(void *)p, vq_le32(v), order);
}

/*
 * The rules a guest can break. Each has one name, used in the log line and
 * as the error hook's reason.
 */
enum vq_rule {
	VQ_RULE_AVAIL_IDX,        /* avail idx moved more than the queue size ahead */
	VQ_RULE_DESC_INDEX,       /* a head/next index >= queue (or indirect table) size */
	VQ_RULE_ID_RANGE,         /* packed: buffer id >= queue size */
	VQ_RULE_ID_IN_FLIGHT,     /* a buffer id (split: head) made available while in flight */
	VQ_RULE_CHAIN_LENGTH,     /* more descriptors than queue size / max_segments (loops) */
	VQ_RULE_INDIRECT_FEATURE, /* INDIRECT without VIRTIO_F_INDIRECT_DESC */
	VQ_RULE_INDIRECT_SIZE,    /* indirect table length 0, not a multiple of 16, too big */
	VQ_RULE_INDIRECT_NESTED,  /* split: INDIRECT inside an indirect table */
	VQ_RULE_INDIRECT_NEXT,    /* INDIRECT together with NEXT in one descriptor */
	VQ_RULE_INDIRECT_CHAINED, /* packed: INDIRECT in a NEXT-linked list */
	VQ_RULE_NOT_AVAIL,        /* packed: a list descriptor after the head not available */
	VQ_RULE_BUFFER_NOT_RAM,   /* a buffer or indirect table not wholly in guest RAM */
	VQ_RULE_BUFFER_READ_ONLY, /* a device-writable buffer in read-only memory */
	VQ_RULE_CHAIN_BYTES,      /* chain longer than 2^32 bytes in total */
	VQ_RULE_WRITE_ORDER,      /* readable after writable (VDEV_VQ_F_READ_BEFORE_WRITE) */
	VQ_RULE_RING_NOT_RAM,     /* a ring area is no longer RAM (region removed) */
	VQ_RULE_REMOTE_IO,        /* remote guest memory (core.h) could not be read */
	VQ_RULE__COUNT
};

/* The rule's name, e.g. "desc-index-range". */
const char *vdev__vq_rule_name(enum vq_rule rule);

/* In-flight table slot states. */
enum vq_slot_state {
	VQ_SLOT_FREE = 0,     /* not in flight */
	VQ_SLOT_INFLIGHT = 1, /* popped by the device */
	VQ_SLOT_REMOTE = 2,   /* completed by vdev_vq_complete_remote(), not reaped */
	VQ_SLOT_HELD = 3,     /* claimed by the queue thread to publish, or waiting for
			       * earlier ones (IN_ORDER) */
	VQ_SLOT_RESERVED = 4, /* loaded from a saved state, not popped again yet */
};

/* "No slot" in remote completion links (ids are < VDEV_VQ_MAX_SIZE). */
#define VQ_NIL 0xffffu

/* One entry of the in-flight table, indexed by buffer id. 32 bytes. */
struct vq_slot {
	struct vdev_vq_req *req; /* the request the device popped into (INFLIGHT) */
	uint64_t in_len;         /* device-writable bytes: `written` is clamped to it */
	uint32_t state;          /* enum vq_slot_state; __atomic (remote completions) */
	uint32_t written;        /* REMOTE/HELD: bytes written */
	uint32_t seq;            /* pop order */
	uint16_t ndesc;          /* packed: ring descriptors the buffer took */
	uint16_t next;           /* remote completion stack link */
};

/* The last RAM region a buffer hit: one compare pair per descriptor. */
struct vq_rcache {
	uint64_t gpa;
	uint64_t size;  /* 0: empty, never hits */
	uint64_t wsize; /* size, or 0 if read-only: the limit for device-writable buffers */
	uint8_t *hva;
};

/* A saved request waiting to be popped again after a load. */
struct vq_replay {
	uint16_t id;
	uint32_t seg;   /* first entry in vq->rsegs */
	uint32_t nseg;
};

struct vq_seg {
	uint64_t gpa;
	uint32_t len;
	uint32_t write;
};

/* vq->slow bits: pop/push/flush leave the fast path when any is set. */
#define VQ_SLOW_STOPPED (1u << 0)
#define VQ_SLOW_BROKEN (1u << 1)
#define VQ_SLOW_REPLAY (1u << 2)
#define VQ_SLOW_PAUSED (1u << 3)   /* vdev_vq_pause(): pop finds nothing */
#define VQ_SLOW_INFLIGHT (1u << 4) /* inflight region tracked (vq_inflight.c) */
/*
 * The memory map has remote regions (core.h): what the driver wrote is
 * read through pulls that may have to wait (pop_remote() in vq.c), and
 * every ring write is pushed by the dirty marking that follows it.
 */
#define VQ_SLOW_REMOTE (1u << 5)

struct vdev_vq {
	/* ---- hot: read on every pop/push ---- */
	uint32_t slow;          /* VQ_SLOW_* */
	uint32_t size;          /* queue size; 0 when stopped */
	uint32_t mask;          /* split: size - 1 */
	uint32_t ring_limit;    /* most ring descriptors in one chain: min(size, seg_limit) */
	uint32_t seg_limit;     /* most buffer descriptors in one chain */
	uint32_t table_max;     /* most bytes in an indirect table: 16 * seg_limit */
	uint32_t mem_gen;       /* memory map generation the pointers below are valid for */
	uint8_t *desc;          /* descriptor table / packed descriptor ring */
	uint8_t *drv;           /* split: available ring; packed: driver event suppression */
	uint8_t *dev;           /* split: used ring; packed: device event suppression */
	struct vq_slot *slots;
	const struct vdev__mem_hot *mhot;
	vdev_ctx *ctx;
	struct vq_rcache rc;    /* for buffers */
	struct vq_rcache tc;    /* for indirect tables (wsize unused): often elsewhere */
	/*
	 * vdev_vq_push() takes its fast path while this equals the memory
	 * map's key (nothing moved, logging off): (mem_gen << 1), or
	 * UINT64_MAX (never equal) when the queue is stopped, broken or
	 * IN_ORDER.
	 */
	uint64_t push_key;
	uint32_t pop_seq;
	bool packed;
	bool event_idx;
	bool indirect;
	bool in_order;
	bool read_before_write;
	bool notify_on;         /* the device wants available-buffer notifications */

	/* split */
	uint16_t last_avail;    /* next avail ring entry to pop */
	uint16_t avail_shadow;  /* avail->idx as last read */
	uint16_t used_idx;      /* next used ring entry to write */
	uint16_t used_flushed;  /* used->idx as last published */
	uint16_t avail_event;   /* what we last wrote to avail_event */

	/* packed */
	uint16_t avail_pos;     /* next descriptor to pop */
	uint16_t used_pos;      /* next descriptor to write used */
	uint16_t flushed_pos;   /* used_pos at the last flush */
	uint8_t avail_wrap, used_wrap, flushed_wrap;
	uint16_t avail_expect;  /* AVAIL|USED bits of an available descriptor this lap */
	uint16_t used_flags;    /* AVAIL|USED bits of a used descriptor this lap */
	uint16_t first_flags;   /* flags of the batch's first used descriptor, written at flush */
	bool pending;           /* used descriptors written since the last flush */
	uint32_t dev_event;     /* what we last wrote to the device event suppression area */

	/* IN_ORDER: ids in pop order, from order_head, order_count of them */
	uint16_t *order;
	uint32_t order_head, order_count;

	/* remote completions: a Treiber stack of slot ids (VQ_NIL: empty) */
	uint32_t remote_head;

	/* requests loaded from saved state, popped first */
	struct vq_replay *replay;
	struct vq_seg *rsegs;
	uint32_t replay_n, replay_next;

	/* inflight tracking (vq_inflight.c): the region, NULL if none */
	uint8_t *ifl;
	size_t ifl_len;
	uint64_t ifl_counter;   /* the next pop's counter */
	bool ifl_recovered;     /* the region placed the ring at start: set_base defers */

	/*
	 * Remote memory (VQ_SLOW_REMOTE, pop_remote()): the sequence point of
	 * the current look at the ring (0: none), of what the driver's last
	 * seen index covers (split: taken after seeing avail idx chain_idx;
	 * packed: after seeing the head available), whether a pull is
	 * waiting for data (vdev__vq_take_remote_wait()), and whether the
	 * driver kicked since the look began.
	 */
	uint64_t look, chain_look;
	uint16_t chain_idx;     /* split: the avail idx chain_look was taken for */
	bool rwait;
	bool guest_kick;
	bool rings_remote;      /* a ring area is in a remote region */

	uint32_t alloc_size;    /* entries in slots and order */
	bool warned_clamp;
	bool warned_kick;
	struct vdev_vq_config cfg;
	struct vdev_vq_ops ops;
	void *opaque;
};

/* ---- vq.c ---------------------------------------------------------- */

/*
 * Report a violation: mark the queue broken, log one line, call the
 * error hook (all only the first time). @return -EIO.
 */
int vdev__vq_violation(struct vdev_vq *vq, enum vq_rule rule, const char *fmt, ...)
	VDEV_PRINTF(3, 4) __attribute__((cold));

/* Mark [gpa, gpa + len) of a ring dirty (logging on). */
void vdev__vq_ring_dirty(struct vdev_vq *vq, uint64_t gpa, uint64_t len);

/*
 * Make the shadow of guest range [gpa, gpa + len) fresh where it is
 * remote (core.h): since the packed chain's point if one is set, else the
 * look's (started now if none). @return 0; -EAGAIN (asked: vq->rwait set,
 * the caller gives up leaving no trace); -EIO with the queue broken (the
 * memory cannot be reached, so nothing it says can be trusted).
 */
int vdev__vq_pull(struct vdev_vq *vq, uint64_t gpa, uint64_t len);
/* The same since sequence point @since. */
int vdev__vq_pull_since(struct vdev_vq *vq, uint64_t gpa, uint64_t len, uint64_t since);
/* Start a new look at a remote ring: a new sequence point, no kick seen yet. */
void vdev__vq_new_look(struct vdev_vq *vq);
/* The driver kicked @vq (virtio_dev.c): a look at remote memory must look again. */
void vdev__vq_note_kick(struct vdev_vq *vq);
/* Did @vq give up waiting for remote memory since the last call? (Clears it.) */
bool vdev__vq_take_remote_wait(struct vdev_vq *vq);

/* Check a configuration (size, flags, features, alignment). @return 0 or -EINVAL. */
int vdev__vq_cfg_check(const struct vdev_vq_config *c);

/* Host pointers of the three ring areas of a checked config. @return 0, -EFAULT, -EINVAL. */
int vdev__vq_rings_resolve(vdev_ctx *ctx, const struct vdev_vq_config *c, uint8_t **desc,
			   uint8_t **drv, uint8_t **dev);

/* Make room for a queue of @size. @return 0 or -ENOMEM (nothing changed). */
int vdev__vq_reserve(struct vdev_vq *vq, uint32_t size);

/* Stop, then take on checked config @c with fresh ring state (reserve first). */
void vdev__vq_setup(struct vdev_vq *vq, const struct vdev_vq_config *c, uint8_t *desc,
		    uint8_t *drv, uint8_t *dev);

/* Queue a loaded completion as if completed remotely (call in completion order). */
void vdev__vq_queue_remote(struct vdev_vq *vq, uint16_t id, uint32_t written);

/* ---- chain walking (shared by vq_split.c and vq_packed.c) ------------ */

/*
 * Walking a chain fills the request directly: while walking, out_num
 * counts every iovec so far (it may pass iov_cap: then they are only
 * counted) and in_num the device-writable ones; vq_commit_pop() turns
 * out_num into the readable count. A failed pop leaves these undefined.
 *
 * from_end (a constant argument of the helpers, so the common walk
 * compiles without it): place writable iovecs from the end of the array,
 * reversed, so a chain with a readable descriptor after a writable one can
 * still be returned readable-then-writable; vq_walk_finish() puts them in
 * order.
 */

/* vq_desc() result: a readable descriptor followed a writable one; walk again from_end. */
#define VQ_WALK_MIXED 1

#define VQ_INLINE static inline __attribute__((always_inline))

VQ_INLINE void vq_walk_init(struct vdev_vq_req *r)
{
	r->out_num = r->in_num = 0;
	r->out_len = r->in_len = 0;
}

VQ_INLINE void vq_walk_put(struct vdev_vq_req *r, uint8_t *base, uint64_t len, bool write,
			   bool from_end)
{
	uint32_t n = r->out_num, nin = r->in_num;

	/*
	 * in_num first, out_num after the iovec: two adjacent increments
	 * would be merged into vector code by some compilers.
	 */
	if (write)
		r->in_num = nin + 1;
	/* The device promises iov has iov_cap entries (vdev_vq_req). */
	if (VQ_LIKELY(n < r->iov_cap)) {
		struct iovec *v = !from_end ? &r->iov[n]
				  : write   ? &r->iov[r->iov_cap - 1 - nin]
					    : &r->iov[n - nin];

		v->iov_base = base;
		v->iov_len = (size_t)len;
	}
	r->out_num = n + 1;
}

/*
 * Map a buffer that missed the region cache (or crosses regions) into the
 * iovecs of @r. @return 0 or -EIO.
 */
int vdev__vq_map_slow(struct vdev_vq *vq, struct vdev_vq_req *r, uint64_t addr, uint32_t len,
		      bool write, bool from_end);

/* A readable descriptor after a writable one (not from_end). */
int vdev__vq_mixed(struct vdev_vq *vq, uint64_t addr);

/*
 * One buffer descriptor of a chain: check order, count, translate.
 * @return 0, VQ_WALK_MIXED, or -EIO (violation reported).
 */
VQ_INLINE int vq_desc(struct vdev_vq *vq, struct vdev_vq_req *r, uint64_t addr, uint32_t len,
		      bool write, bool from_end)
{
	const struct vq_rcache *c = &vq->rc;
	uint64_t off = addr - c->gpa, end;

	/*
	 * A zero-length descriptor is valid (VIRTIO 1.2 does not forbid one)
	 * and describes no memory: no iovec, no address check, no ordering.
	 */
	if (VQ_UNLIKELY(!len))
		return 0;
	/* Two copies of the fast path, so each put knows its direction. */
	if (write) {
		r->in_len += len;
		/* Inside the cached region: [off, off + len) within it, no wrap. */
		if (VQ_LIKELY(!__builtin_add_overflow(off, (uint64_t)len, &end) &&
			      end <= c->wsize)) {
			vq_walk_put(r, c->hva + off, len, true, from_end);
			return 0;
		}
	} else {
		if (!from_end && VQ_UNLIKELY(r->in_num))
			return vdev__vq_mixed(vq, addr);
		r->out_len += len;
		if (VQ_LIKELY(!__builtin_add_overflow(off, (uint64_t)len, &end) &&
			      end <= c->size)) {
			vq_walk_put(r, c->hva + off, len, false, from_end);
			return 0;
		}
	}
	return vdev__vq_map_slow(vq, r, addr, len, write, from_end);
}

/* The unusual endings of vq_walk_finish(). */
int vdev__vq_walk_finish_slow(struct vdev_vq *vq, struct vdev_vq_req *r, bool from_end);

/*
 * Finish a walk: check the byte total (§2.7.5.2: at most 2^32 bytes, the
 * readable and writable parts together), check the capacity and put
 * from_end iovecs in order. @return 0, -EIO, -ENOBUFS.
 */
VQ_INLINE int vq_walk_finish(struct vdev_vq *vq, struct vdev_vq_req *r, bool from_end)
{
	if (VQ_LIKELY(r->out_len + r->in_len <= (1ull << 32) && r->out_num <= r->iov_cap &&
		      !from_end))
		return 0;
	return vdev__vq_walk_finish_slow(vq, r, from_end);
}

/* An indirect table being read: a host pointer if it lies in one region. */
struct vq_table {
	const uint8_t *hva;     /* NULL: read entries through vdev_mem_read() */
	uint64_t gpa;
	uint32_t n;             /* entries */
};

/* vq_table_open() beyond the region cache: other regions, violations. */
int vdev__vq_table_open_slow(struct vdev_vq *vq, uint64_t addr, uint32_t len,
			     struct vq_table *t);

/*
 * Check and locate an indirect table of @len bytes at @addr (§2.7.5.3,
 * §2.8.7): length a non-zero multiple of 16, at most seg_limit entries,
 * wholly in RAM. @return 0 or -EIO.
 */
VQ_INLINE int vq_table_open(struct vdev_vq *vq, uint64_t addr, uint32_t len, struct vq_table *t)
{
	uint64_t off = addr - vq->rc.gpa, end;

	/* len - 1 < table_max: non-zero and at most seg_limit entries (a multiple of 16). */
	if (VQ_LIKELY(!(len % VQ_DESC_SIZE) && len - 1 < vq->table_max &&
		      !__builtin_add_overflow(off, (uint64_t)len, &end) && end <= vq->rc.size)) {
		t->hva = vq->rc.hva + off;
		t->n = len / VQ_DESC_SIZE;
		return 0;
	}
	return vdev__vq_table_open_slow(vq, addr, len, t);
}

/*
 * Read entry @i of an opened table as the two little-endian words of a
 * descriptor. @direct: the caller checked t->hva (a constant, so the
 * common loop has no per-entry test).
 */
VQ_INLINE void vq_table_read(struct vdev_vq *vq, const struct vq_table *t, uint32_t i,
			     uint64_t *w0, uint64_t *w1, bool direct)
{
	uint64_t d[2];

	if (direct) {
		/* Any alignment: the driver may place the table anywhere. */
		__builtin_memcpy(d, t->hva + (size_t)i * VQ_DESC_SIZE, sizeof(d));
	} else if (vdev_mem_read(vq->ctx, t->gpa + (uint64_t)i * VQ_DESC_SIZE, d, sizeof(d))) {
		/* Checked to be RAM at open; unreachable unless the map changed. */
		d[0] = d[1] = 0;
	}
	*w0 = vq_le64(d[0]);
	*w1 = vq_le64(d[1]);
}

/* ---- the fast walk ------------------------------------------------------ */

/*
 * Most requests are plain: every descriptor non-empty and inside a cached
 * region, readable ones first, no more of them than the request has
 * iovecs, no loop. The fast walk handles only those, on a lean path: one
 * budget compare covers both the chain limit and the iovec capacity (every
 * descriptor takes exactly one iovec), the iovec pointer stays in a
 * register, and the walk keeps few values alive (the build uses
 * -fno-strict-aliasing: anything in memory is reloaded after each iovec
 * store, and a loop that spills pays for it per descriptor).
 *
 * On anything else it gives up (returns false) before deciding anything,
 * and the checked walk above (vq_desc() and friends) does the request
 * again from its head, applying every rule and reporting any violation.
 * The fast walk never refuses a request, so the two cannot disagree; a
 * guest rewriting the chain meanwhile gets the checked walk's verdict on
 * what it reads then. What the fast walk wrote into the request and its
 * iovecs before giving up is overwritten.
 */
struct vq_fast {
	struct iovec *v;        /* the next iovec to fill */
	struct vdev_vq_req *r;  /* counts and byte totals go straight to the request */
};

/* Start a fast walk into @r: out_num is set at the end, from the iovec pointer. */
VQ_INLINE void vq_fast_init(struct vq_fast *f, struct vdev_vq_req *r)
{
	f->v = r->iov;
	f->r = r;
	r->in_num = 0;
	r->out_len = r->in_len = 0;
}

/*
 * Cache the region holding all of [addr, addr + len) (len > 0), if one
 * does (and is writable, for @write). @return true if it did.
 */
bool vdev__vq_rc_fill(struct vdev_vq *vq, uint64_t addr, uint32_t len, bool write);

/*
 * One buffer descriptor: the caller checked there is an iovec left.
 * @return false: leave the request to the checked walk.
 */
VQ_INLINE bool vq_fast_desc(struct vdev_vq *vq, struct vq_fast *f, uint64_t addr, uint32_t len,
			    bool write)
{
	uint64_t off = addr - vq->rc.gpa, end = off + len;

	/*
	 * end > off: len is not zero (an empty descriptor has its own rule)
	 * and [off, end) does not wrap; end within the cached region.
	 */
	if (write) {
		if (VQ_UNLIKELY(end <= off || end > vq->rc.wsize)) {
			if (!vdev__vq_rc_fill(vq, addr, len, true))
				return false;
			off = addr - vq->rc.gpa;
		}
		f->r->in_len += len;
		f->r->in_num++;
	} else {
		/* Readable after writable: the checked walk sorts or refuses it. */
		if (VQ_UNLIKELY(f->r->in_num))
			return false;
		if (VQ_UNLIKELY(end <= off || end > vq->rc.size)) {
			if (!vdev__vq_rc_fill(vq, addr, len, false))
				return false;
			off = addr - vq->rc.gpa;
		}
		f->r->out_len += len;
	}
	f->v->iov_base = vq->rc.hva + off;
	f->v->iov_len = len;
	f->v++;
	return true;
}

/*
 * Cache the region holding all of indirect table [addr, addr + len) in
 * vq->tc, if one does. @return true if it did.
 */
bool vdev__vq_tc_fill(struct vdev_vq *vq, uint64_t addr, uint32_t len);

/*
 * Locate an indirect table of @len bytes at @addr that passes every check
 * of vq_table_open(): *t is its host address, *n its entries (>= 1).
 * @return false: leave it to the checked walk. Tables have their own
 * region cache: drivers often allocate them apart from the buffers, and
 * one cache for both would thrash.
 */
VQ_INLINE bool vq_fast_table(struct vdev_vq *vq, uint64_t addr, uint32_t len,
			     const uint8_t **t, uint32_t *n)
{
	uint64_t off = addr - vq->tc.gpa, end = off + len;

	/* len - 1 < table_max: non-zero and at most seg_limit entries (a multiple of 16). */
	if (VQ_UNLIKELY(len % VQ_DESC_SIZE || len - 1 >= vq->table_max))
		return false;
	if (VQ_UNLIKELY(end <= off || end > vq->tc.size)) {
		if (!vdev__vq_tc_fill(vq, addr, len))
			return false;
		off = addr - vq->tc.gpa;
	}
	*t = vq->tc.hva + off;
	*n = len / VQ_DESC_SIZE;
	return true;
}

/* Entry @i of a table at host address @t, as its two little-endian words. */
VQ_INLINE void vq_fast_entry(const uint8_t *t, uint32_t i, uint64_t *w0, uint64_t *w1)
{
	uint64_t d[2];

	/* Any alignment: the driver may place the table anywhere. */
	__builtin_memcpy(d, t + (size_t)i * VQ_DESC_SIZE, sizeof(d));
	*w0 = vq_le64(d[0]);
	*w1 = vq_le64(d[1]);
}

/*
 * End a fast walk: check the byte total (§2.7.5.2) and fill in @r.
 * @return false: leave the request to the checked walk.
 */
VQ_INLINE bool vq_fast_finish(const struct vq_fast *f)
{
	struct vdev_vq_req *r = f->r;

	if (VQ_UNLIKELY(r->out_len + r->in_len > (1ull << 32)))
		return false;
	r->out_num = (uint32_t)(f->v - r->iov) - r->in_num;
	return true;
}

/*
 * The fast walk of a chain of one buffer descriptor, into @r: the same
 * rules as vq_fast_desc(), each request field written once.
 * @return false: walk it checked.
 */
VQ_INLINE bool vq_fast_one(struct vdev_vq *vq, struct vdev_vq_req *r, uint64_t addr,
			   uint32_t len, bool write)
{
	uint64_t off = addr - vq->rc.gpa, end = off + len;
	struct iovec *v = r->iov;

	if (VQ_UNLIKELY(!r->iov_cap))
		return false;
	if (write) {
		if (VQ_UNLIKELY(end <= off || end > vq->rc.wsize)) {
			if (!vdev__vq_rc_fill(vq, addr, len, true))
				return false;
			off = addr - vq->rc.gpa;
		}
		r->out_num = 0;
		r->in_num = 1;
		r->out_len = 0;
		r->in_len = len;
	} else {
		if (VQ_UNLIKELY(end <= off || end > vq->rc.size)) {
			if (!vdev__vq_rc_fill(vq, addr, len, false))
				return false;
			off = addr - vq->rc.gpa;
		}
		r->out_num = 1;
		r->in_num = 0;
		r->out_len = len;
		r->in_len = 0;
	}
	v->iov_base = vq->rc.hva + off;
	v->iov_len = len;
	return true;
}

/*
 * Record a walked request in slot @s of the in-flight table under @id,
 * with @in_len writable bytes, pop order @seq and (packed) @ndesc ring
 * descriptors.
 */
VQ_INLINE void vq_commit(struct vdev_vq *vq, struct vq_slot *s, struct vdev_vq_req *req,
			 uint16_t id, uint64_t in_len, uint32_t seq, uint16_t ndesc, bool packed,
			 bool in_order)
{
	req->id = id;
	s->req = req;
	s->in_len = in_len;
	s->seq = seq;
	if (packed)
		s->ndesc = ndesc; /* split: always 1, never read */
	/* Release: a remote completer that sees INFLIGHT sees req and in_len. */
	__atomic_store_n(&s->state, VQ_SLOT_INFLIGHT, __ATOMIC_RELEASE);
	if (VQ_UNLIKELY(in_order)) {
		uint32_t t = vq->order_head + vq->order_count++;

		vq->order[t >= vq->size ? t - vq->size : t] = id;
	}
}

/* ---- vq_inflight.c ---------------------------------------------------- */

/*
 * At start (split rings, a region attached): take the region over - fresh:
 * initialise it; used: finish a flush a crash interrupted and queue what
 * is still marked to be popped again first. Sets VQ_SLOW_INFLIGHT.
 * @return 0 (also when the guest's chains broke the queue); -ENOMEM.
 */
int vdev__vq_ifl_start(struct vdev_vq *vq);
/* Mark @n just-popped requests in flight (before the device sees them). */
void vdev__vq_ifl_popped(struct vdev_vq *vq, const struct vdev_vq_req *reqs, unsigned int n);
/* A used entry for @id was written (not yet published): link it into the batch. */
void vdev__vq_ifl_used(struct vdev_vq *vq, uint16_t id);
/* used->idx went from @old to @now (published): the batch is done. */
void vdev__vq_ifl_flushed(struct vdev_vq *vq, uint16_t old, uint16_t now);

/* ---- vq_split.c / vq_packed.c --------------------------------------- */

/* The checked walk of the chain at @head into @req. @return 0, -EIO, -ENOBUFS. */
int vdev__vq_split_walk(struct vdev_vq *vq, uint16_t head, struct vdev_vq_req *req);

/* Pop up to @n requests (n >= 1). @return the number popped, or the first pop's error. */
int vdev__vq_split_pop(struct vdev_vq *vq, struct vdev_vq_req *reqs, unsigned int n);
/* Remote split ring: refresh avail->flags and idx, and what a moved idx covers. */
int vdev__vq_split_pull(struct vdev_vq *vq);
int vdev__vq_packed_pop(struct vdev_vq *vq, struct vdev_vq_req *reqs, unsigned int n);
/* Remote packed ring: refresh the descriptor at avail_pos, and if the driver made it
 * available, the ring its chain lies in. @return 0 or -EIO (queue broken). */
int vdev__vq_packed_pull_head(struct vdev_vq *vq);

/*
 * Write one used entry, not yet visible to the driver (see *_flush).
 * @return the byte offset written, from the used ring (split) or the
 * descriptor ring (packed), for dirty logging.
 */
VQ_INLINE uint32_t vq_split_publish(struct vdev_vq *vq, uint16_t id, uint32_t written)
{
	uint16_t idx = vq->used_idx;
	uint32_t off = VQ_USED_RING + (idx & vq->mask) * VQ_USED_ELEM;
	/* A local: each ring store would otherwise reload vq->dev. */
	uint8_t *dev = vq->dev;

	vq->used_idx = idx + 1;
	/* 4-byte aligned only (§2.7: used ring alignment 4): two stores. */
	vq_st32(dev + off, id, __ATOMIC_RELAXED);
	vq_st32(dev + off + 4, written, __ATOMIC_RELAXED);
	return off;
}

VQ_INLINE uint32_t vq_packed_publish(struct vdev_vq *vq, uint16_t id, uint16_t ndesc,
				     uint32_t written)
{
	uint32_t pos = vq->used_pos, off = pos * VQ_DESC_SIZE, next = pos + ndesc;
	uint8_t *d = vq->desc + off;
	uint16_t flags = vq->used_flags;

	/* WRITE in a used descriptor: the device wrote something (§2.8.3). */
	if (VQ_LIKELY(written))
		flags |= VQ_DESC_F_WRITE;
	vq_st32(d + 8, written, __ATOMIC_RELAXED);
	vq_st16(d + 12, id, __ATOMIC_RELAXED);
	if (VQ_LIKELY(vq->pending)) {
		vq_st16(d + 14, flags, __ATOMIC_RELAXED);
	} else {
		vq->first_flags = flags; /* stored at flush, with release */
		vq->pending = true;
	}
	if (VQ_UNLIKELY(next >= vq->size)) {
		next -= vq->size;
		vq->used_wrap ^= 1;
		vq->used_flags ^= VQ_DESC_F_AVAIL | VQ_DESC_F_USED;
	}
	vq->used_pos = (uint16_t)next;
	return off;
}

/* Make written used entries visible; notify if the driver wants it. @return 1 if notified. */
int vdev__vq_split_flush(struct vdev_vq *vq);
int vdev__vq_packed_flush(struct vdev_vq *vq);

/* Device-side notification suppression; @return 1 if buffers are available (enable). */
int vdev__vq_split_notify_enable(struct vdev_vq *vq, int enable);
int vdev__vq_packed_notify_enable(struct vdev_vq *vq, int enable);

/* @return 1 if a buffer is available, 0 if not, -EIO (violation). */
int vdev__vq_split_avail(struct vdev_vq *vq);
int vdev__vq_packed_avail(struct vdev_vq *vq);

#endif /* VDEV_VIRTIO_VQ_INTERNAL_H */
