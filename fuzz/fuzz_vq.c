/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the virtqueue engine (vdev/virtqueue.h) as a hostile driver would:
 * the input lays out the rings in guest RAM (two regions with a gap between
 * them) and then runs a sequence of driver writes (descriptors, indirect
 * tables, avail ring and idx, packed flags, event suppression areas, raw
 * bytes) interleaved with device operations (pop, batched pop, push with a
 * chosen length, flush, complete, remote completion + reap, kick with
 * notification data, notify enable, stop/start, save + load into a second
 * queue with or without a corrupted byte).
 *
 * Input: an 8-byte header (see struct fz_hdr), an initial RAM image for
 * the ring area, then operations: an opcode byte and its operands. Missing
 * bytes read as zero.
 *
 * Oracles (a broken one traps):
 *  - every iovec a pop returns lies wholly inside one registered region,
 *    out_len / in_len equal the iovec sums, out_num + in_num <= iov_cap;
 *  - pop results are 1, 0, -ENOBUFS, -EIO (then the queue is broken and
 *    the error hook ran) or -ENODEV;
 *  - an engine call writes guest RAM only where the device may (split:
 *    the used ring; packed: the descriptor ring and the device event
 *    area), and never the gap or the guard bytes around RAM;
 *  - a used length the engine writes never exceeds the writable bytes of
 *    the request it completes.
 *
 * Remote mode (header bit H_REMOTE): region B is a remote region
 * (lib/core/core.h "Remote regions"), as vfio-user's fd-less DMA regions
 * are: the library sees only a shadow buffer (its own allocation, guard
 * bytes around it), reads it through an asynchronous fetch hook and
 * writes back through a write hook. The harness is the client: a fetch
 * snapshots the guest (harness RAM) into a bounded pending list (-EAGAIN
 * when full), OP_DELIVER hands pending data in (all, the first, the first
 * failed with -EIO, a piece of the first), writes land in guest RAM at
 * once. Further oracles there:
 *  - region B iovecs lie in the shadow (not in RAM); a pop may give up
 *    with 0 and "remote wait" (only in this mode); a failed fetch breaks
 *    the queue with "guest-memory-unreachable" (that reason only after a
 *    failed fetch);
 *  - the write hook writes only inside region B, data only within the
 *    first written bytes of the writable buffers of the request being
 *    pushed; ring writes are checked by the RAM comparison above;
 *  - nothing touches the shadow's guard bytes.
 * Public headers, plus core/core.h and virtio/vq_internal.h for the
 * remote-region hooks (internal: what vfio-user's DMA uses).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vdev/host.h>
#include <vdev/mem.h>
#include <vdev/state.h>
#include <vdev/virtqueue.h>

#include "core/core.h"
#include "virtio/vq_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                        \
	do {                               \
		if (!(cond))               \
			__builtin_trap();  \
	} while (0)

/* Guest memory: region A, a gap, region B; guard bytes around it all. */
#define RA_GPA 0x0000u
#define RA_SIZE 0x4000u
#define RB_GPA 0x5000u
#define RB_SIZE 0x4000u
#define SPAN (RB_GPA + RB_SIZE)
#define GUARD 0x1000u
#define CANARY 0x5a

/* Default ring layout (region A), data after it. */
#define DESC_GPA 0x0000u
#define DRV_GPA 0x0800u
#define DEV_GPA 0x0c00u
#define IMAGE_MAX 0x1000u

#define MAX_SLOTS 64
#define MAX_IOV 16
#define MAX_OPS 1024
#define MAX_STAGED 256
#define MAX_RING 512
#define MAX_PEND 16             /* remote mode: fetches on their way */
#define MAX_ALLOW MAX_IOV       /* remote mode: data ranges a push may write */

#define F(bit) (1ull << (bit))

enum {
	OP_POP,          /* u8 iov_cap */
	OP_POP_BATCH,    /* u8 n, u8 iov_cap */
	OP_PUSH,         /* u8 slot, u32 written */
	OP_FLUSH,
	OP_COMPLETE,     /* u8 slot, u32 written */
	OP_REMOTE,       /* u8 slot, u32 written: vdev_vq_complete_remote */
	OP_REAP,
	OP_KICK_DATA,    /* u32 data */
	OP_NOTIFY_EN,    /* u8 enable */
	OP_SAVE_LOAD,    /* u8 corrupt, u16 pos, u8 xor */
	OP_STOP_START,
	OP_DESC,         /* u8 index, u16 addr sel, u16 len sel, u8 flags, u8 next/id */
	OP_AVAIL,        /* split: u8 head; packed: u8 count */
	OP_AVAIL_IDX,    /* split: u16 idx; packed: u8 pos, u16 flags */
	OP_ITAB,         /* u16 gpa sel, u8 n, n x (u16 addr sel, u16 len sel, u8 flags, u8 next) */
	OP_EVENT,        /* u8 which, u16 value */
	OP_RAM,          /* u16 gpa sel, u8 len, len bytes */
	OP_DELIVER,      /* u8 mode (DLV_*); DLV_PIECE: u8 cut */
	OP_COUNT,
};

/* Header bits. */
#define H_PACKED 0x01
#define H_INDIRECT 0x02
#define H_EVENT_IDX 0x04
#define H_IN_ORDER 0x08
#define H_NDATA 0x10
#define H_RBW 0x20      /* VDEV_VQ_F_READ_BEFORE_WRITE */
#define H_RESET 0x40
#define H_REMOTE 0x80   /* region B is remote (see the top comment) */

/* OP_DELIVER modes: how the client answers its pending fetches. */
enum {
	DLV_ALL,        /* every pending fetch, oldest first */
	DLV_FIRST,      /* the oldest only */
	DLV_FAIL,       /* the oldest fails (-EIO) */
	DLV_PIECE,      /* a piece of the oldest; the rest stays pending */
	DLV_COUNT,
};

/* A fetch the client has taken (a snapshot of the guest then), not yet answered. */
struct fz_fetch {
	uint64_t gpa, seq;
	size_t len, off;        /* [off, len) not yet delivered */
	uint8_t *snap;
};

/* A guest range the device may write (remote mode, during a push). */
struct fz_range {
	uint64_t gpa, len;
};

struct fz_in {
	const uint8_t *p;
	size_t n;
};

struct fz {
	struct fz_in in;
	vdev_ctx *ctx;
	uint8_t *buf;           /* GUARD | SPAN | GUARD */
	uint8_t *ram;           /* host address of gpa 0 */
	uint8_t *snap;          /* SPAN bytes */
	uint8_t canary[GUARD];  /* CANARY bytes, to compare with */
	vdev_vq *q[2];
	int cur;
	struct vdev_vq_config cfg;
	int strict;             /* ring addresses known: check where the engine writes */
	int loaded_broken;      /* the current queue was loaded in the broken state */
	unsigned int errors;    /* error hook calls */
	unsigned int notifies;
	/* Popped requests, kept unchanged until completed (contiguous for batches). */
	struct vdev_vq_req reqs[MAX_SLOTS];
	struct iovec iov[MAX_SLOTS][MAX_IOV];
	uint8_t busy[MAX_SLOTS];
	/*
	 * Per buffer id: completed at least once, and the writable bytes of the
	 * request(s) completed under that id whose used entries may still be
	 * written (a hostile driver can reuse an id before the completion is
	 * published, so staged ones count too).
	 */
	uint64_t pushed_in[1u << 16];
	uint8_t pushed[1u << 16];
	uint8_t staged[1u << 16];
	uint16_t staged_ids[MAX_STAGED];
	unsigned int nstaged;
	uint32_t seq;                /* operation counter */
	uint32_t drv_seq[MAX_RING];  /* packed: last operation the driver wrote descriptor k */
	uint32_t eng_seq[MAX_RING];  /* packed: last engine call that changed its id or len */
	uint16_t avail;         /* split: the driver's avail idx */
	uint16_t pk_pos;        /* packed: next position to make available */
	uint8_t pk_wrap;
	/* Remote mode (H_REMOTE): region B's shadow and the client's state. */
	int remote;
	uint8_t *sbuf;          /* GUARD | RB_SIZE | GUARD */
	uint8_t *shadow;        /* host address of gpa RB_GPA as the library sees it */
	struct fz_fetch pend[MAX_PEND];
	unsigned int npend;
	unsigned int fetch_failed;      /* fetches answered with an error */
	struct fz_range allow[MAX_ALLOW];
	unsigned int nallow;
};

static uint8_t in_u8(struct fz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint64_t in_uint(struct fz_in *in, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes; i++)
		v |= (uint64_t)in_u8(in) << (8 * i);
	return v;
}

static void host_log(void *opaque, enum vdev_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	CHECK(msg != NULL);
}

static void vq_notify(void *opaque, vdev_vq *vq)
{
	struct fz *z = opaque;

	CHECK(vq == z->q[0] || vq == z->q[1]);
	z->notifies++;
}

static void vq_error(void *opaque, vdev_vq *vq, const char *reason)
{
	struct fz *z = opaque;

	CHECK(vq == z->q[0] || vq == z->q[1]);
	CHECK(reason != NULL && reason[0] != '\0');
	/* Only a failed fetch makes guest memory unreachable. */
	if (!strcmp(reason, "guest-memory-unreachable"))
		CHECK(z->remote && z->fetch_failed);
	z->errors++;
}

static void vq_wake(void *opaque, vdev_vq *vq)
{
	(void)opaque;
	(void)vq;
}

/* ---- guest memory -------------------------------------------------------------- */

static int in_region(uint64_t gpa, uint64_t len)
{
	if (gpa + len < gpa)
		return 0;
	/* Region A starts at gpa 0. */
	return gpa + len <= RA_GPA + RA_SIZE || (gpa >= RB_GPA && gpa + len <= RB_GPA + RB_SIZE);
}

static uint64_t get_le(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/*
 * Packed: the driver writes [gpa, gpa + n). Note which descriptors it
 * touched and when: a used descriptor whose id and length the driver
 * rewrote after the engine last wrote them (a hostile driver scribbling
 * over a descriptor the device owns) does not hold the engine's values.
 */
static void note_driver_write(struct fz *z, uint64_t gpa, size_t n)
{
	uint64_t d = z->cfg.desc_addr, size = z->cfg.size;

	if (!(z->cfg.features & F(VDEV_VIRTIO_F_RING_PACKED)) || !n || size > MAX_RING)
		return;
	for (uint64_t k = 0; k < size; k++) {
		uint64_t at = d + 16 * k;

		if (at + 16 > gpa && at < gpa + n)
			z->drv_seq[k] = z->seq;
	}
}

/* The driver writes guest RAM (never the gap). */
static void ram_write(struct fz *z, uint64_t gpa, const void *p, size_t n)
{
	if (!in_region(gpa, n))
		return;
	note_driver_write(z, gpa, n);
	memcpy(z->ram + gpa, p, n);
}

static void put16(struct fz *z, uint64_t gpa, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	if (in_region(gpa, 2) && !(gpa & 1)) {
		note_driver_write(z, gpa, 2);
		__atomic_store_n((uint16_t *)(z->ram + gpa), v, __ATOMIC_RELEASE);
	} else {
		ram_write(z, gpa, b, 2);
	}
}

/* A compact address: mostly RAM and the gap, sometimes far away or wrapping. */
static uint64_t addr_sel(uint16_t sel)
{
	if (sel == 0xffff)
		return 0xfffffffffffff000ull;
	if (sel >= 0xff00)
		return (uint64_t)(sel & 0xff) << 32;
	return (uint64_t)sel * 4;
}

static uint32_t len_sel(uint16_t sel)
{
	return sel == 0xffff ? 0xffffffffu : sel;
}

/* Host iovec inside one region? */
static int iov_in_ram(struct fz *z, const struct iovec *v)
{
	const uint8_t *b = v->iov_base;
	uint64_t off;

	if (!v->iov_len)
		return 1;
	if (z->remote && b >= z->shadow && b < z->shadow + RB_SIZE)
		return v->iov_len <= (size_t)(z->shadow + RB_SIZE - b);
	if (b < z->ram || b >= z->ram + SPAN)
		return 0;
	off = (uint64_t)(b - z->ram);
	/* Remote region B is reached through the shadow only. */
	if (z->remote && off >= RB_GPA)
		return 0;
	return in_region(off, v->iov_len);
}

static void canaries(struct fz *z)
{
	memset(z->canary, CANARY, GUARD);
	memset(z->buf, CANARY, GUARD);
	memset(z->ram + RA_GPA + RA_SIZE, CANARY, RB_GPA - (RA_GPA + RA_SIZE));
	memset(z->ram + SPAN, CANARY, GUARD);
	if (z->sbuf) {
		memset(z->sbuf, CANARY, GUARD);
		memset(z->shadow + RB_SIZE, CANARY, GUARD);
	}
}

static void check_canaries(struct fz *z)
{
	CHECK(!memcmp(z->buf, z->canary, GUARD));
	CHECK(!memcmp(z->ram + SPAN, z->canary, GUARD));
	CHECK(!memcmp(z->ram + RA_GPA + RA_SIZE, z->canary, RB_GPA - (RA_GPA + RA_SIZE)));
	if (z->sbuf) {
		CHECK(!memcmp(z->sbuf, z->canary, GUARD));
		CHECK(!memcmp(z->shadow + RB_SIZE, z->canary, GUARD));
	}
}

/* ---- remote region B: the harness is the client ------------------------------------ */

static int in_b(uint64_t gpa, size_t len)
{
	return len && gpa >= RB_GPA && len <= RB_SIZE && gpa - RB_GPA <= RB_SIZE - len;
}

static int dev_area(const struct fz *z, uint64_t gpa, size_t len);
static void before(struct fz *z);

/* The fetch hook: the client snapshots the guest now and answers later (OP_DELIVER). */
static int hook_fetch(void *opaque, uint64_t gpa, size_t len, uint64_t seq)
{
	struct fz *z = opaque;
	struct fz_fetch *f;

	CHECK(z->remote && in_b(gpa, len));
	if (z->npend == MAX_PEND)
		return -EAGAIN;
	f = &z->pend[z->npend];
	f->snap = malloc(len);
	if (!f->snap)
		return -EAGAIN;
	memcpy(f->snap, z->ram + gpa, len);
	f->gpa = gpa;
	f->seq = seq;
	f->len = len;
	f->off = 0;
	z->npend++;
	return 0;
}

/* Inside one range a push may write (the writable bytes the device wrote)? */
static int allowed(const struct fz *z, uint64_t gpa, size_t len)
{
	for (unsigned int i = 0; i < z->nallow; i++)
		if (gpa >= z->allow[i].gpa && gpa - z->allow[i].gpa <= z->allow[i].len &&
		    len <= z->allow[i].len - (gpa - z->allow[i].gpa))
			return 1;
	return 0;
}

/*
 * The write hook: lands in the guest at once. Data the device wrote is not
 * subject to the ring comparison (after_sem()), so it goes into the
 * snapshot too; anything else must be a ring area the device writes.
 */
static int hook_write(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
	struct fz *z = opaque;

	CHECK(z->remote && buf != NULL && in_b(gpa, len));
	if (allowed(z, gpa, len))
		memcpy(z->snap + gpa, buf, len);
	else if (z->strict)
		CHECK(dev_area(z, gpa, len));
	memcpy(z->ram + gpa, buf, len);
	return 0;
}

/* Answer @n bytes of pending fetch @i (from where it stands), or fail it (@err). */
static void deliver(struct fz *z, unsigned int i, size_t n, int err)
{
	struct fz_fetch *f = &z->pend[i];

	if (err) {
		z->fetch_failed++;
		vdev__mem_remote_arrived(z->ctx, f->seq, f->gpa + f->off, NULL, f->len - f->off,
					 err);
		f->off = f->len;
	} else {
		vdev__mem_remote_arrived(z->ctx, f->seq, f->gpa + f->off, f->snap + f->off, n, 0);
		f->off += n;
	}
	if (f->off < f->len)
		return;
	free(f->snap);
	memmove(&z->pend[i], &z->pend[i + 1], (z->npend - i - 1) * sizeof(z->pend[0]));
	z->npend--;
}

static void op_deliver(struct fz *z)
{
	uint8_t mode = in_u8(&z->in) % DLV_COUNT;
	uint8_t cut = mode == DLV_PIECE ? in_u8(&z->in) : 0;
	size_t left;

	if (!z->npend)
		return;
	before(z);
	left = z->pend[0].len - z->pend[0].off;
	switch (mode) {
	case DLV_ALL:
		while (z->npend)
			deliver(z, 0, z->pend[0].len - z->pend[0].off, 0);
		break;
	case DLV_FIRST:
		deliver(z, 0, left, 0);
		break;
	case DLV_FAIL:
		deliver(z, 0, 0, -EIO);
		break;
	default:
		/* 1..left-1 bytes (all of a single byte): the reply comes in pieces. */
		deliver(z, 0, left > 1 ? 1 + cut % (left - 1) : left, 0);
		break;
	}
	/* Arrivals fill the shadow only: the guest and every guard stay as they were. */
	CHECK(!memcmp(z->ram, z->snap, SPAN));
	check_canaries(z);
}

/*
 * Remote mode, before a push of @r with @written: the device writes its
 * writable buffers' first @written bytes (in the shadow; region A buffers
 * are left alone, as ever) and the push may hand exactly those to the
 * write hook.
 */
static void device_writes(struct fz *z, const struct vdev_vq_req *r, uint32_t written)
{
	uint64_t left = written < r->in_len ? written : r->in_len;
	uint32_t end = r->out_num + r->in_num;

	z->nallow = 0;
	for (uint32_t i = r->out_num; i < end && left && z->nallow < MAX_ALLOW; i++) {
		const uint8_t *b = r->iov[i].iov_base;
		size_t n = r->iov[i].iov_len < left ? r->iov[i].iov_len : (size_t)left;

		left -= n;
		if (!n || b < z->shadow || b >= z->shadow + RB_SIZE)
			continue;
		memset(z->shadow + (b - z->shadow), (int)(0xc0 | (z->seq & 0x3f)), n);
		z->allow[z->nallow].gpa = RB_GPA + (uint64_t)(b - z->shadow);
		z->allow[z->nallow].len = n;
		z->nallow++;
	}
}

/* ---- where the engine may write ------------------------------------------------- */

static int packed(const struct fz *z)
{
	return !!(z->cfg.features & F(VDEV_VIRTIO_F_RING_PACKED));
}

static uint64_t device_bytes(const struct fz *z)
{
	return packed(z) ? 4 : 6 + 8ull * z->cfg.size;
}

static int in_area(uint64_t g, uint64_t start, uint64_t len)
{
	return g >= start && g - start < len;
}

/* [gpa, gpa + len) lies in the areas the device writes (split: used ring; packed: both). */
static int dev_area(const struct fz *z, uint64_t gpa, size_t len)
{
	uint64_t dev = z->cfg.device_addr, desc = z->cfg.desc_addr, n = z->cfg.size;

	for (size_t i = 0; i < len; i++) {
		uint64_t g = gpa + i;

		if (packed(z) ? !in_area(g, dev, 4) && !in_area(g, desc, 16 * n)
			      : !in_area(g, dev, device_bytes(z)))
			return 0;
	}
	return 1;
}

/* Check one used element the engine just wrote: a completed id, len <= its writable bytes. */
static void check_used(struct fz *z, uint32_t id, uint32_t len, int has_len)
{
	CHECK(id < (1u << 16));
	CHECK(z->pushed[id]);
	if (has_len)
		CHECK(len <= z->pushed_in[id]);
}

static void before(struct fz *z)
{
	memcpy(z->snap, z->ram, SPAN);
}

static int changed(struct fz *z, uint64_t gpa, uint64_t len)
{
	return in_region(gpa, len) && memcmp(z->ram + gpa, z->snap + gpa, len) != 0;
}

/*
 * After an engine call: guest RAM may have changed only where the device
 * writes. With @sem (calls that complete requests), every used element
 * that changed must describe a completed request, its length within the
 * request's writable bytes.
 */
static void after_sem(struct fz *z, int sem)
{
	uint64_t dev = z->cfg.device_addr, desc = z->cfg.desc_addr, n = z->cfg.size;

	check_canaries(z);
	if (!z->strict || !memcmp(z->ram, z->snap, SPAN))
		return;
	for (uint64_t c = 0; c < SPAN; c += 64) {
		if (!memcmp(z->ram + c, z->snap + c, 64))
			continue;
		for (uint64_t g = c; g < c + 64; g++) {
			if (z->ram[g] == z->snap[g])
				continue;
			if (packed(z))
				CHECK(in_area(g, dev, 4) || in_area(g, desc, 16 * n));
			else
				CHECK(in_area(g, dev, device_bytes(z)));
		}
	}
	for (uint64_t k = 0; packed(z) && k < n && n <= MAX_RING; k++)
		if (changed(z, desc + 16 * k + 8, 6))
			z->eng_seq[k] = z->seq;
	if (!sem)
		return;
	for (uint64_t k = 0; k < n; k++) {
		if (packed(z)) {
			const uint8_t *p = z->ram + desc + 16 * k;
			uint16_t flags;

			if (!changed(z, desc + 16 * k, 16) || n > MAX_RING)
				continue;
			flags = (uint16_t)get_le(p + 14, 2);
			/* A used descriptor has AVAIL == USED (§2.8.1); len counts with WRITE. */
			if (!!(flags & 0x80) != !!(flags & 0x8000))
				continue;
			/* Its id and len are the engine's unless the driver wrote them since. */
			if (z->eng_seq[k] > z->drv_seq[k])
				check_used(z, (uint32_t)get_le(p + 12, 2),
					   (uint32_t)get_le(p + 8, 4), !!(flags & 2));
		} else if (changed(z, dev + 4 + 8 * k, 8)) {
			const uint8_t *e = z->ram + dev + 4 + 8 * k;

			check_used(z, (uint32_t)get_le(e, 4), (uint32_t)get_le(e + 4, 4), 1);
		}
	}
}

static void after(struct fz *z)
{
	after_sem(z, 0);
}

/* ---- device side ----------------------------------------------------------------- */

static vdev_vq *cur(struct fz *z)
{
	return z->q[z->cur];
}

static void free_slots(struct fz *z)
{
	memset(z->busy, 0, sizeof(z->busy));
}

/* First index of @n free consecutive slots, or -1. */
static int free_run(struct fz *z, unsigned int n)
{
	for (unsigned int i = 0; i + n <= MAX_SLOTS; i++) {
		unsigned int k = 0;

		while (k < n && !z->busy[i + k])
			k++;
		if (k == n)
			return (int)i;
	}
	return -1;
}

static void check_req(struct fz *z, const struct vdev_vq_req *r)
{
	uint64_t out = 0, in = 0;

	CHECK(r->out_num <= r->iov_cap && r->in_num <= r->iov_cap - r->out_num);
	for (uint32_t i = 0; i < r->out_num + r->in_num; i++) {
		CHECK(iov_in_ram(z, &r->iov[i]));
		if (i < r->out_num)
			out += r->iov[i].iov_len;
		else
			in += r->iov[i].iov_len;
	}
	CHECK(out == r->out_len);
	CHECK(in == r->in_len);
	CHECK(r->out_len + r->in_len >= r->out_len);
	CHECK(r->out_len <= (1ull << 32) && r->in_len <= (1ull << 32));
	CHECK(r->out_len + r->in_len <= (1ull << 32));
}

static void check_pop_rc(struct fz *z, int rc, unsigned int errors_before, int batch)
{
	unsigned int d = z->errors - errors_before;

	CHECK(rc >= 0 || rc == -ENOBUFS || rc == -EIO || rc == -ENODEV);
	CHECK(d <= 1);
	/* A batch may pop some requests and then meet the violation. */
	CHECK(!d || rc == -EIO || (batch && rc > 0));
	if (d || rc == -EIO)
		CHECK(vdev_vq_broken(cur(z)) == 1);
	/* Broken by a violation, reported; or restored broken by a load. */
	if (rc == -EIO)
		CHECK(z->errors >= 1 || z->loaded_broken);
	if (rc == -ENODEV)
		CHECK(!vdev_vq_started(cur(z)));
}

static void op_pop(struct fz *z, unsigned int n, uint32_t cap)
{
	unsigned int errors = z->errors;
	int at = free_run(z, n), rc, got;

	if (at < 0)
		return;
	for (unsigned int i = 0; i < n; i++) {
		memset(&z->reqs[at + i], 0, sizeof(z->reqs[0]));
		z->reqs[at + i].iov = z->iov[at + i];
		z->reqs[at + i].iov_cap = cap;
	}
	before(z);
	if (n == 1)
		rc = vdev_vq_pop(cur(z), &z->reqs[at]);
	else
		rc = vdev_vq_pop_batch(cur(z), &z->reqs[at], n);
	after(z);
	CHECK(rc <= (int)n);
	check_pop_rc(z, rc, errors, n > 1);
	/* Gave up waiting for remote memory: only with a remote region (then rc 0 is legal). */
	if (vdev__vq_take_remote_wait(cur(z)))
		CHECK(z->remote);
	got = rc > 0 ? rc : 0;
	for (int i = 0; i < got; i++) {
		const struct vdev_vq_req *r = &z->reqs[at + i];

		check_req(z, r);
		/* One request per id in flight. */
		for (int k = 0; k < MAX_SLOTS; k++)
			CHECK(!z->busy[k] || z->reqs[k].id != r->id);
		z->busy[at + i] = 1;
	}
}

/* A completion of @id is staged (pushed, or completed remotely), not yet published. */
static void stage(struct fz *z, uint16_t id)
{
	if (z->staged[id])
		return;
	z->staged[id] = 1;
	if (z->nstaged < MAX_STAGED)
		z->staged_ids[z->nstaged] = id;
	z->nstaged++;
}

/* A flush (or reap) published every staged completion. */
static void published(struct fz *z)
{
	if (z->nstaged > MAX_STAGED)
		memset(z->staged, 0, sizeof(z->staged));
	else
		for (unsigned int i = 0; i < z->nstaged; i++)
			z->staged[z->staged_ids[i]] = 0;
	z->nstaged = 0;
}

static void op_push(struct fz *z, uint8_t si, uint32_t written, int mode)
{
	unsigned int i = si % MAX_SLOTS;
	const struct vdev_vq_req *r = &z->reqs[i];
	uint64_t old_in = z->pushed_in[r->id];
	uint8_t old = z->pushed[r->id];
	int rc;

	if (!z->busy[i])
		return;
	/* Record before the call: the engine may write the used entry during it. */
	z->pushed[r->id] = 1;
	if (!z->staged[r->id] || r->in_len > z->pushed_in[r->id])
		z->pushed_in[r->id] = r->in_len;
	/* All three mark the request's written bytes (complete_remote() too, via its slot). */
	if (z->remote)
		device_writes(z, r, written);
	before(z);
	if (mode == 0)
		rc = vdev_vq_push(cur(z), r, written);
	else if (mode == 1)
		rc = vdev_vq_complete(cur(z), r, written);
	else
		rc = vdev_vq_complete_remote(cur(z), r->id, written);
	after_sem(z, 1);
	z->nallow = 0;
	if (mode == 1)
		CHECK(rc == 0 || rc == 1 || rc == -EINVAL || rc == -ENODEV);
	else
		CHECK(rc == 0 || rc == -EINVAL || rc == -ENODEV);
	if (rc >= 0) {
		z->busy[i] = 0;
		if (mode == 1)
			published(z);
		else
			stage(z, r->id);
	} else {
		z->pushed[r->id] = old;
		z->pushed_in[r->id] = old_in;
	}
}

static int start(struct fz *z, vdev_vq *q)
{
	int rc;

	before(z);
	rc = vdev_vq_start(q, &z->cfg);
	after(z);
	CHECK(rc == 0 || rc == -EINVAL || rc == -EFAULT || rc == -EBUSY || rc == -ENOMEM);
	return rc;
}

static void op_save_load(struct fz *z, int corrupt, uint16_t pos, uint8_t x)
{
	vdev_state_writer *w;
	vdev_state_reader *r;
	const void *blob;
	size_t len;
	uint8_t *copy;
	int rc;

	if (vdev_state_writer_new(&w))
		return;
	before(z);
	rc = vdev_vq_save(cur(z), w);
	after(z);
	if (rc || vdev_state_writer_finish(w, &blob, &len) || !(copy = malloc(len))) {
		vdev_state_writer_free(w);
		return;
	}
	memcpy(copy, blob, len);
	vdev_state_writer_free(w);
	if (corrupt && len)
		copy[pos % len] ^= x ? x : 1;
	if (vdev_state_reader_new(copy, len, &r) == 0) {
		vdev_vq *dst = z->q[!z->cur];

		before(z);
		rc = vdev_vq_load(dst, r);
		after(z);
		vdev_state_reader_free(r);
		if (rc == 0) {
			/* The destination took over: the source stops, its requests are gone. */
			vdev_vq_stop(cur(z));
			z->cur = !z->cur;
			z->loaded_broken = vdev_vq_broken(cur(z));
			free_slots(z);
			if (corrupt)
				z->strict = 0;
		}
	}
	free(copy);
}

/* ---- driver side ------------------------------------------------------------------ */

static void op_desc(struct fz *z)
{
	uint8_t idx = in_u8(&z->in);
	uint64_t addr = addr_sel((uint16_t)in_uint(&z->in, 2));
	uint32_t len = len_sel((uint16_t)in_uint(&z->in, 2));
	uint8_t fl = in_u8(&z->in), nx = in_u8(&z->in);
	uint64_t gpa = z->cfg.desc_addr + 16ull * (z->cfg.size ? idx % z->cfg.size : 0);
	uint8_t d[16];
	uint16_t flags;

	if (packed(z)) {
		/* bits 0-2 NEXT/WRITE/INDIRECT, bit 3 AVAIL, bit 4 USED. */
		flags = (uint16_t)((fl & 7) | (fl & 8 ? 0x80 : 0) | (fl & 16 ? 0x8000 : 0));
	} else {
		flags = fl & 7;
	}
	for (int i = 0; i < 8; i++)
		d[i] = (uint8_t)(addr >> (8 * i));
	for (int i = 0; i < 4; i++)
		d[8 + i] = (uint8_t)(len >> (8 * i));
	if (packed(z)) {
		d[12] = nx;          /* id (low byte; ids >= 256 via OP_RAM) */
		d[13] = 0;
		d[14] = (uint8_t)flags;
		d[15] = (uint8_t)(flags >> 8);
	} else {
		d[12] = (uint8_t)flags;
		d[13] = 0;
		d[14] = nx;
		d[15] = 0;
	}
	ram_write(z, gpa, d, 16);
}

static void op_avail(struct fz *z)
{
	if (!z->cfg.size)
		return;
	if (packed(z)) {
		/* Make @count descriptors available from pk_pos, the first one last. */
		unsigned int count = 1 + in_u8(&z->in) % 4;
		uint16_t first = z->pk_pos, first_flags = 0;

		for (unsigned int k = 0; k < count; k++) {
			uint64_t gpa = z->cfg.desc_addr + 16ull * z->pk_pos;
			uint16_t fl = 0;

			if (in_region(gpa, 16))
				fl = (uint16_t)get_le(z->ram + gpa + 14, 2) & 7;
			fl |= z->pk_wrap ? 0x80 : 0x8000;
			if (k == 0)
				first_flags = fl;
			else
				put16(z, gpa + 14, fl);
			if (++z->pk_pos >= z->cfg.size) {
				z->pk_pos = 0;
				z->pk_wrap ^= 1;
			}
		}
		put16(z, z->cfg.desc_addr + 16ull * first + 14, first_flags);
	} else {
		uint8_t head = in_u8(&z->in);

		put16(z, z->cfg.driver_addr + 4 + 2ull * (z->avail % z->cfg.size), head);
		z->avail++;
		put16(z, z->cfg.driver_addr + 2, z->avail);
	}
}

static void op_avail_idx(struct fz *z)
{
	if (packed(z)) {
		uint8_t pos = in_u8(&z->in);
		uint16_t fl = (uint16_t)in_uint(&z->in, 2);

		if (z->cfg.size)
			put16(z, z->cfg.desc_addr + 16ull * (pos % z->cfg.size) + 14, fl);
	} else {
		z->avail = (uint16_t)in_uint(&z->in, 2);
		put16(z, z->cfg.driver_addr + 2, z->avail);
	}
}

static void op_itab(struct fz *z)
{
	uint64_t gpa = addr_sel((uint16_t)in_uint(&z->in, 2));
	unsigned int n = in_u8(&z->in) % 40;

	for (unsigned int i = 0; i < n; i++) {
		uint64_t addr = addr_sel((uint16_t)in_uint(&z->in, 2));
		uint32_t len = len_sel((uint16_t)in_uint(&z->in, 2));
		uint8_t fl = in_u8(&z->in), nx = in_u8(&z->in), d[16];

		for (int b = 0; b < 8; b++)
			d[b] = (uint8_t)(addr >> (8 * b));
		for (int b = 0; b < 4; b++)
			d[8 + b] = (uint8_t)(len >> (8 * b));
		/* Split layout: flags @12, next @14; packed: id @12, flags @14. */
		d[12] = packed(z) ? 0 : (uint8_t)(fl & 7);
		d[13] = 0;
		d[14] = packed(z) ? (uint8_t)(fl & 7) : nx;
		d[15] = 0;
		ram_write(z, gpa + 16ull * i, d, 16);
	}
}

static void op_event(struct fz *z)
{
	uint8_t which = in_u8(&z->in);
	uint16_t v = (uint16_t)in_uint(&z->in, 2);

	if (packed(z))
		put16(z, z->cfg.driver_addr + (which & 1 ? 2 : 0), v);
	else if (which & 1)
		put16(z, z->cfg.driver_addr + 4 + 2ull * z->cfg.size, v); /* used_event */
	else
		put16(z, z->cfg.driver_addr, v & 1); /* avail flags */
}

static void op_ram(struct fz *z)
{
	uint64_t gpa = addr_sel((uint16_t)in_uint(&z->in, 2));
	uint8_t len = in_u8(&z->in) % 33, b[32];

	for (unsigned int i = 0; i < len; i++)
		b[i] = in_u8(&z->in);
	ram_write(z, gpa, b, len);
}

/* ---- setup -------------------------------------------------------------------------- */

/*
 * Header: u8 flags (H_*), u8 size sel, u8 max_segments, u8 placement,
 * u16 image length, u16 reserved; placement 7 takes three u32 addresses
 * from the input (anything: misaligned, in the gap, beyond RAM).
 */
static void setup_cfg(struct fz *z)
{
	uint8_t h = in_u8(&z->in), ssel = in_u8(&z->in), maxseg = in_u8(&z->in);
	uint8_t place = in_u8(&z->in);
	uint32_t size;

	z->cfg.struct_size = sizeof(z->cfg);
	z->cfg.features = F(VDEV_VIRTIO_F_VERSION_1);
	if (h & H_PACKED)
		z->cfg.features |= F(VDEV_VIRTIO_F_RING_PACKED);
	if (h & H_INDIRECT)
		z->cfg.features |= F(VDEV_VIRTIO_F_INDIRECT_DESC);
	if (h & H_EVENT_IDX)
		z->cfg.features |= F(VDEV_VIRTIO_F_EVENT_IDX);
	if (h & H_IN_ORDER)
		z->cfg.features |= F(VDEV_VIRTIO_F_IN_ORDER);
	if (h & H_NDATA)
		z->cfg.features |= F(VDEV_VIRTIO_F_NOTIFICATION_DATA);
	if (h & H_RESET)
		z->cfg.features |= F(VDEV_VIRTIO_F_RING_RESET);
	z->cfg.flags = h & H_RBW ? VDEV_VQ_F_READ_BEFORE_WRITE : 0;
	/* Split: powers of two up to 64; packed: 1..64. 0x80 picks an illegal size. */
	if (ssel & 0x80)
		size = ssel == 0xff ? 0 : 3 + (ssel & 0x7f) * 2;
	else if (h & H_PACKED)
		size = 1 + ssel % 64;
	else
		size = 1u << (ssel % 7);
	z->cfg.size = size;
	z->cfg.max_segments = maxseg;
	switch (place & 7) {
	case 6: /* rings in region B */
		z->cfg.desc_addr = RB_GPA;
		z->cfg.driver_addr = RB_GPA + 0x800;
		z->cfg.device_addr = RB_GPA + 0xc00;
		break;
	case 7:
		z->cfg.desc_addr = in_uint(&z->in, 4);
		z->cfg.driver_addr = in_uint(&z->in, 4);
		z->cfg.device_addr = in_uint(&z->in, 4);
		break;
	default:
		z->cfg.desc_addr = DESC_GPA;
		/* Minimal alignment (2 / 4) now and then. */
		z->cfg.driver_addr = DRV_GPA + (place & 1 ? (h & H_PACKED ? 4 : 2) : 0);
		z->cfg.device_addr = DEV_GPA + (place & 2 ? 4 : 0);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vdev_vq_ops vops = {
		.struct_size = sizeof(vops),
		.notify = vq_notify,
		.error = vq_error,
		.wake = vq_wake,
	};
	struct vdev_host_ops hops = {
		.struct_size = sizeof(hops),
		.log = host_log,
	};
	struct fz *z = calloc(1, sizeof(*z));
	struct vdev__mem_remote rops = {
		.fetch = hook_fetch,
		.write = hook_write,
		.opaque = z,
	};
	uint32_t image;

	if (!z)
		return 0;
	z->in.p = data;
	z->in.n = size;
	z->buf = malloc(GUARD + SPAN + GUARD);
	z->snap = malloc(SPAN);
	if (!z->buf || !z->snap)
		goto out;
	z->ram = z->buf + GUARD;
	memset(z->ram, 0, SPAN);
	/* The header's flags decide region B's kind before anything else runs. */
	z->remote = size && (data[0] & H_REMOTE);
	if (z->remote) {
		z->sbuf = malloc(GUARD + RB_SIZE + GUARD);
		if (!z->sbuf)
			goto out;
		z->shadow = z->sbuf + GUARD;
		/* Zero, never the guest's bytes: what the engine reads, it fetched. */
		memset(z->shadow, 0, RB_SIZE);
	}
	canaries(z);
	hops.opaque = z;
	if (vdev_ctx_new(&hops, &z->ctx))
		goto out;
	CHECK(vdev_mem_region_add(z->ctx, RA_GPA, RA_SIZE, z->ram + RA_GPA, 0) == 0);
	if (z->remote)
		CHECK(vdev__mem_region_add_remote(z->ctx, RB_GPA, RB_SIZE, z->shadow, 0, &rops) ==
		      0);
	else
		CHECK(vdev_mem_region_add(z->ctx, RB_GPA, RB_SIZE, z->ram + RB_GPA, 0) == 0);
	if (vdev_vq_new(z->ctx, &vops, z, &z->q[0]) || vdev_vq_new(z->ctx, &vops, z, &z->q[1]))
		goto out;

	setup_cfg(z);
	image = (uint32_t)in_uint(&z->in, 2) % (IMAGE_MAX + 1);
	(void)in_uint(&z->in, 2);
	for (uint32_t i = 0; i < image; i++)
		z->ram[z->cfg.desc_addr < RA_SIZE - IMAGE_MAX ? z->cfg.desc_addr + i : i] =
			in_u8(&z->in);
	z->pk_wrap = 1;
	z->strict = 1;
	if (in_u8(&z->in) & 1)
		CHECK(vdev_mem_dirty_log_enable(z->ctx, 1) == 0);
	(void)start(z, z->q[0]);

	for (unsigned int nops = 0; z->in.n && nops < MAX_OPS; nops++) {
		uint8_t op = in_u8(&z->in) % OP_COUNT;

		z->seq++;

		switch (op) {
		case OP_POP:
			op_pop(z, 1, in_u8(&z->in) % (MAX_IOV + 1));
			break;
		case OP_POP_BATCH: {
			unsigned int n = 1 + in_u8(&z->in) % 8;

			op_pop(z, n, in_u8(&z->in) % (MAX_IOV + 1));
			break;
		}
		case OP_PUSH:
		case OP_COMPLETE:
		case OP_REMOTE: {
			uint8_t si = in_u8(&z->in);

			op_push(z, si, (uint32_t)in_uint(&z->in, 4),
				op == OP_PUSH ? 0 : op == OP_COMPLETE ? 1 : 2);
			break;
		}
		case OP_FLUSH: {
			int rc;

			before(z);
			rc = vdev_vq_flush(cur(z));
			after_sem(z, 1);
			CHECK(rc == 0 || rc == 1 || rc == -ENODEV);
			published(z);
			break;
		}
		case OP_REAP: {
			int rc;

			before(z);
			rc = vdev_vq_reap(cur(z));
			after_sem(z, 1);
			CHECK(rc >= 0 || rc == -ENODEV);
			published(z);
			break;
		}
		case OP_KICK_DATA: {
			int rc;

			before(z);
			rc = vdev_vq_kick_data(cur(z), (uint32_t)in_uint(&z->in, 4));
			/* As the transport does: a look at remote memory must look again. */
			if (z->remote)
				vdev__vq_note_kick(cur(z));
			after(z);
			CHECK(rc == 0 || rc == 1 || rc < 0);
			break;
		}
		case OP_NOTIFY_EN: {
			int rc;

			before(z);
			rc = vdev_vq_notify_enable(cur(z), in_u8(&z->in) & 1);
			after(z);
			CHECK(rc == 0 || rc == 1 || rc == -ENODEV);
			break;
		}
		case OP_SAVE_LOAD: {
			uint8_t corrupt = in_u8(&z->in);
			uint16_t pos = (uint16_t)in_uint(&z->in, 2);

			op_save_load(z, corrupt & 1, pos, in_u8(&z->in));
			break;
		}
		case OP_STOP_START:
			vdev_vq_stop(cur(z));
			free_slots(z);
			published(z); /* dropped, in fact: nothing staged remains */
			z->loaded_broken = 0;
			CHECK(!vdev_vq_started(cur(z)) && !vdev_vq_broken(cur(z)));
			z->strict = 1; /* our configuration again, known addresses */
			if (start(z, cur(z)) == 0) {
				z->avail = 0;
				z->pk_pos = 0;
				z->pk_wrap = 1;
			}
			break;
		case OP_DESC:
			op_desc(z);
			break;
		case OP_AVAIL:
			op_avail(z);
			break;
		case OP_AVAIL_IDX:
			op_avail_idx(z);
			break;
		case OP_ITAB:
			op_itab(z);
			break;
		case OP_EVENT:
			op_event(z);
			break;
		case OP_RAM:
			op_ram(z);
			break;
		case OP_DELIVER:
			op_deliver(z);
			break;
		}
		CHECK(vdev_vq_inflight(cur(z)) <= VDEV_VQ_MAX_SIZE);
	}
	check_canaries(z);
out:
	if (z->q[0])
		vdev_vq_free(z->q[0]);
	if (z->q[1])
		vdev_vq_free(z->q[1]);
	vdev_ctx_free(z->ctx);
	for (unsigned int i = 0; i < z->npend; i++)
		free(z->pend[i].snap);
	free(z->sbuf);
	free(z->buf);
	free(z->snap);
	free(z);
	return 0;
}
