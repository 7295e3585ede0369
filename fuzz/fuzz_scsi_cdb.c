/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the SCSI target's command handling (vdev/scsi.h) as a hostile
 * initiator would: a bus with two memory-backed disks (512 or 4096-byte
 * blocks, one of them read-only or not) runs a sequence of operations
 * taken from the input: commands (any CDB, any length, any task
 * attribute, to existing, missing and well-known LUNs and to a missing
 * target, with data-in and data-out buffers of any size split into up to
 * four pieces), backend polls, task management functions, and save/load
 * round trips (one intact, one with a flipped byte). At the end every
 * backend is polled dry and the bus freed.
 *
 * Input: a config byte, then operations: an opcode byte and its operands
 * (see the OP_* cases). Missing bytes read as zero.
 *
 * Oracles (a broken one traps):
 *  - vdev_scsi_submit() of a well-formed request returns 0, and its done
 *    hook runs exactly once (at once, from a poll, or inside a TMF, a
 *    LUN removal or the bus free) — never twice, never not at all;
 *  - data_in_len <= the data-in buffers' size, data_out_len <= the
 *    data-out buffers' size, sense_len <= sense_cap; the status and
 *    response are values the header defines;
 *  - the guard bytes after each buffer and sense area stay untouched;
 *  - loading the bus's own fresh save succeeds.
 * Compiles against the public headers only.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <vdev/block.h>
#include <vdev/host.h>
#include <vdev/scsi.h>
#include <vdev/state.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                        \
	do {                               \
		if (!(cond))               \
			__builtin_trap();  \
	} while (0)

#define NSLOTS 16
#define MAX_OPS 48
#define MAX_BUF 70000u
#define GUARD 16u
#define GUARD_BYTE 0xc3
#define DISK_SIZE (1u << 20)

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t in_u8(struct in *in)
{
	uint8_t v = 0;

	if (in->n) {
		v = *in->p++;
		in->n--;
	}
	return v;
}

static uint32_t in_u16(struct in *in)
{
	uint32_t hi = in_u8(in);

	return hi << 8 | in_u8(in);
}

struct slot {
	struct vdev_scsi_req r;       /* first: the done hook casts back */
	int busy;                     /* submitted, done not yet run */
	int ndone;
	uint8_t *in, *out;            /* buffers with GUARD bytes after them */
	size_t in_len, out_len;
	struct iovec in_iov[4], out_iov[4];
	uint8_t sense[VDEV_SCSI_SENSE_SIZE + GUARD];
};

struct fz {
	vdev_ctx *ctx;
	vdev_scsi_bus *bus;
	vdev_blk *blk[2];
	struct slot slot[NSLOTS];
	struct in in;
};

static void host_log(void *opaque, enum vdev_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static void guard_check(const uint8_t *p)
{
	for (unsigned int i = 0; i < GUARD; i++)
		CHECK(p[i] == GUARD_BYTE);
}

static void req_done(struct vdev_scsi_req *r)
{
	struct slot *s = (struct slot *)r;
	uint64_t in_total = 0, out_total = 0;

	CHECK(s->busy);
	CHECK(++s->ndone == 1);
	s->busy = 0;
	for (unsigned int i = 0; i < r->data_in_cnt; i++)
		in_total += r->data_in[i].iov_len;
	for (unsigned int i = 0; i < r->data_out_cnt; i++)
		out_total += r->data_out[i].iov_len;
	CHECK(r->data_in_len <= in_total);
	CHECK(r->data_out_len <= out_total);
	CHECK(r->sense_len <= r->sense_cap);
	CHECK(r->response <= VDEV_SCSI_RESP_FAILURE);
	CHECK(r->status == VDEV_SCSI_GOOD || r->status == VDEV_SCSI_CHECK_CONDITION ||
	      r->status == VDEV_SCSI_BUSY || r->status == VDEV_SCSI_RESERVATION_CONFLICT ||
	      r->status == VDEV_SCSI_TASK_ABORTED);
	CHECK(r->status != VDEV_SCSI_CHECK_CONDITION || r->sense_len || !r->sense_cap);
	guard_check(s->sense + VDEV_SCSI_SENSE_SIZE);
	if (s->in)
		guard_check(s->in + s->in_len);
	if (s->out)
		guard_check(s->out + s->out_len);
}

static void slot_free(struct slot *s)
{
	CHECK(!s->busy);
	free(s->in);
	free(s->out);
	s->in = s->out = NULL;
}

/* Split @buf[@len] into @n pieces (some may be empty). */
static unsigned int split(struct iovec *iov, uint8_t *buf, size_t len, unsigned int n,
			  uint8_t seed)
{
	size_t off = 0;

	for (unsigned int i = 0; i < n; i++) {
		size_t piece = i + 1 == n ? len - off : (len - off) * ((seed >> (2 * i)) & 3) / 4;

		iov[i].iov_base = buf + off;
		iov[i].iov_len = piece;
		off += piece;
	}
	return n;
}

static void poll_all(struct fz *z)
{
	for (int i = 0; i < 2; i++)
		if (z->blk[i])
			vdev_blk_poll(z->blk[i]);
}

static void op_submit(struct fz *z, uint8_t op)
{
	struct slot *s = &z->slot[(op >> 4) % NSLOTS];
	uint8_t addr = in_u8(&z->in), raw_len = in_u8(&z->in), segs = in_u8(&z->in);
	uint32_t in_cap = in_u16(&z->in) * 2, out_len = in_u16(&z->in) * 2;
	struct vdev_scsi_req *r = &s->r;
	static const uint16_t luns[4] = { 0, 1, 7, VDEV_SCSI_WLUN_REPORT_LUNS };

	if (s->busy)
		return;
	slot_free(s);
	memset(s, 0, sizeof(*s));
	memset(s->sense, GUARD_BYTE, sizeof(s->sense));
	r->target = addr & 0x04 ? 1 : 0;
	r->lun = luns[addr & 3];
	r->task_attr = (addr >> 3) & 3;
	if (addr & 0x80)
		r->task_attr = 4 + (addr & 1); /* invalid */
	/* Mostly a sane CDB length; sometimes the raw byte (out of range too). */
	r->cdb_len = raw_len & 0x80 ? raw_len & 0x3f : 6 + (raw_len % 27);
	for (unsigned int i = 0; i < VDEV_SCSI_MAX_CDB && i < (r->cdb_len ? r->cdb_len : 6u); i++)
		r->cdb[i] = in_u8(&z->in);
	r->tag = (uint64_t)(s - z->slot);
	if (in_cap > MAX_BUF)
		in_cap = MAX_BUF;
	if (out_len > MAX_BUF)
		out_len = MAX_BUF;
	if (in_cap) {
		s->in = malloc(in_cap + GUARD);
		CHECK(s->in);
		memset(s->in, 0x5a, in_cap);
		memset(s->in + in_cap, GUARD_BYTE, GUARD);
		s->in_len = in_cap;
		r->data_in = s->in_iov;
		r->data_in_cnt = split(s->in_iov, s->in, in_cap, 1 + (segs & 3), segs);
	}
	if (out_len) {
		s->out = malloc(out_len + GUARD);
		CHECK(s->out);
		for (uint32_t i = 0; i < out_len; i++)
			s->out[i] = in_u8(&z->in);
		memset(s->out + out_len, GUARD_BYTE, GUARD);
		s->out_len = out_len;
		r->data_out = s->out_iov;
		r->data_out_cnt = split(s->out_iov, s->out, out_len, 1 + ((segs >> 2) & 3),
					(uint8_t)(segs >> 4));
	}
	r->sense = s->sense;
	r->sense_cap = segs & 0x40 ? segs % 24 : VDEV_SCSI_SENSE_SIZE;
	r->done = req_done;
	s->busy = 1;
	CHECK(vdev_scsi_submit(z->bus, r) == 0);
	/* Usually wait for it; sometimes leave it in flight for later operations. */
	if (!(addr & 0x20))
		for (int k = 0; k < 64 && s->busy; k++)
			poll_all(z);
}

static void op_tmf(struct fz *z)
{
	uint8_t a = in_u8(&z->in), b = in_u8(&z->in);
	int rc = vdev_scsi_tmf(z->bus, (enum vdev_scsi_tmf)(a % 9), (uint16_t)(b >> 7),
			       (uint16_t)((b >> 4) & 3), b % NSLOTS);

	CHECK(rc >= 0);
	/* Aborting functions leave nothing of theirs in flight. */
	if ((a % 9) == VDEV_SCSI_TMF_LUN_RESET && !(b >> 7) && ((b >> 4) & 3) < 2)
		for (int i = 0; i < NSLOTS; i++)
			CHECK(!z->slot[i].busy || z->slot[i].r.lun != ((b >> 4) & 3) ||
			      z->slot[i].r.target);
}

static void op_save_load(struct fz *z)
{
	uint16_t flip = (uint16_t)in_u16(&z->in);
	vdev_state_writer *w = NULL;
	vdev_state_reader *rd = NULL;
	const void *blob;
	uint8_t *copy;
	size_t len;

	if (vdev_state_writer_new(&w))
		return;
	if (vdev_scsi_bus_save(z->bus, w) || vdev_state_writer_finish(w, &blob, &len)) {
		vdev_state_writer_free(w);
		return;
	}
	CHECK(vdev_state_reader_new(blob, len, &rd) == 0);
	CHECK(vdev_scsi_bus_load(z->bus, rd) == 0);
	vdev_state_reader_free(rd);
	copy = malloc(len);
	if (copy) {
		memcpy(copy, blob, len);
		copy[flip % len] ^= (uint8_t)(1u << (flip >> 13));
		if (!vdev_state_reader_new(copy, len, &rd)) {
			(void)vdev_scsi_bus_load(z->bus, rd);
			vdev_state_reader_free(rd);
		}
		free(copy);
	}
	vdev_state_writer_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vdev_host_ops hops = { .struct_size = sizeof(hops), .log = host_log };
	struct fz *z = calloc(1, sizeof(*z));
	uint8_t cfg;

	if (!z)
		return 0;
	z->in.p = data;
	z->in.n = size;
	cfg = in_u8(&z->in);
	if (vdev_ctx_new(&hops, &z->ctx))
		goto out;
	if (vdev_scsi_bus_new(z->ctx, NULL, NULL, &z->bus))
		goto out;
	for (int i = 0; i < 2; i++) {
		struct vdev_blk_opts bo = {
			.struct_size = sizeof(bo),
			.driver = "memory",
			.size = DISK_SIZE,
			.queue_depth = cfg & 0x08 ? 2 : 0,
		};
		struct vdev_scsi_lun_opts lo = {
			.struct_size = sizeof(lo),
			.type = VDEV_SCSI_LUN_DISK,
			.block_size = (cfg >> i) & 1 ? 4096 : 512,
			.readonly = i == 1 && (cfg & 0x04),
			.write_cache = cfg & 0x10 ? -1 : 0,
			.removable = cfg & 0x20 ? 1 : 0,
		};

		CHECK(vdev_blk_open(z->ctx, &bo, &z->blk[i]) == 0);
		lo.blk = z->blk[i];
		CHECK(vdev_scsi_lun_add(z->bus, 0, (uint16_t)i, &lo, NULL) == 0);
	}

	for (unsigned int nops = 0; z->in.n && nops < MAX_OPS; nops++) {
		uint8_t op = in_u8(&z->in);

		switch (op & 0x0f) {
		case 0xc:
			poll_all(z);
			break;
		case 0xd:
			op_tmf(z);
			break;
		case 0xe:
			op_save_load(z);
			break;
		case 0xf:
			vdev_scsi_bus_reset(z->bus);
			for (int i = 0; i < NSLOTS; i++)
				CHECK(!z->slot[i].busy || z->slot[i].r.target ||
				      z->slot[i].r.lun > 1);
			break;
		default:
			op_submit(z, op);
			break;
		}
	}
	/* Drain: everything still in flight completes from the backends. */
	for (int k = 0; k < 256; k++)
		poll_all(z);
	for (int i = 0; i < NSLOTS; i++)
		CHECK(!z->slot[i].busy);
out:
	vdev_scsi_bus_free(z->bus);
	for (int i = 0; i < NSLOTS; i++) {
		CHECK(!z->slot[i].busy);
		free(z->slot[i].in);
		free(z->slot[i].out);
	}
	vdev_ctx_free(z->ctx);
	free(z);
	return 0;
}
