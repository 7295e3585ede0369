/* SPDX-License-Identifier: MIT */
/*
 * The io_uring engine (liburing). One ring per loop (shared by its file
 * backends; a CQE finds its backend through the slot's owner), the loop's
 * event fd registered (io_uring_register_eventfd) so the kernel makes it
 * readable whenever it posts a completion. The ring is only touched on
 * the loop's thread: queue() prepares SQEs, kick() submits them with
 * one io_uring_submit() (so an unplug of a batch is one system call), and
 * vdev_blk_poll() reaps the CQ.
 *
 *   READ/WRITE    IORING_OP_READ/WRITE for one buffer, READV/WRITEV for
 *                 more; a FUA write carries RWF_DSYNC. A short transfer is
 *                 resubmitted for the rest (one buffer at a time while the
 *                 cursor is inside an iovec); 0 bytes moved is -EIO.
 *   FLUSH         IORING_OP_FSYNC with IORING_FSYNC_DATASYNC.
 *   DISCARD       (file) IORING_OP_FALLOCATE, PUNCH_HOLE | KEEP_SIZE;
 *                 "unsupported" turns into success (a discard is a hint).
 *   WRITE_ZEROES  IORING_OP_FALLOCATE, ZERO_RANGE (PUNCH_HOLE with UNMAP),
 *                 KEEP_SIZE; if the host says "unsupported" the request
 *                 moves to the helper, which tries the other mode and then
 *                 writes zeroes.
 *
 * The helper: a one-worker thread pool, started on first use, for what
 * io_uring cannot express on the kernels we target (6.1 has no BLKDISCARD
 * over io_uring): DISCARD on a block device, WRITE_ZEROES with FUA (a
 * fallocate then a fdatasync) or not aligned to a block device's logical
 * blocks, and the fallbacks above. It writes the same event fd.
 *
 * Cancel sends IORING_OP_ASYNC_CANCEL for the slot (best effort: a request
 * the kernel already issued to the device completes with its result); a
 * cancelled request that was part-way through a short-transfer resubmission
 * ends with -ECANCELED. A cancel's own completion carries user_data 0 and
 * is ignored. The CQ is sized 2 × the SQ (at least one CQE per request
 * plus one per cancel), so it cannot overflow.
 */
#include <errno.h>
#include <linux/falloc.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>

#include "block/blk_internal.h"

/* -EAGAIN/-EINTR from the kernel are retried this many times. */
#define URING_MAX_RETRIES 16

/*
 * user_data: the slot's address, with its generation in the top byte, so
 * a cancel that somehow outlives its request cannot hit the slot's next
 * request. User-space addresses stay below 2^56 (x86-64 with 5-level
 * paging: 2^56; arm64: 2^52).
 */
#define URING_GEN_SHIFT 56

static uint64_t slot_tag(const struct blk_slot *s)
{
	return (uint64_t)(uintptr_t)s | ((uint64_t)s->gen << URING_GEN_SHIFT);
}

static struct blk_slot *tag_slot(uint64_t tag)
{
	return (struct blk_slot *)(uintptr_t)(tag & ((1ull << URING_GEN_SHIFT) - 1));
}

struct blk_uring {
	struct io_uring ring;
	struct blk_pool *helper;
	unsigned long submit_calls;   /* io_uring_submit() calls (tests) */
};

static void uring_kick(vdev_blk *b)
{
	struct blk_uring *u = b->loop->eng_priv;

	if (u->helper)
		vdev__blk_pool_kick(u->helper);
	if (!io_uring_sq_ready(&u->ring))
		return;
	u->submit_calls++;
	/*
	 * On failure (-EBUSY, -EAGAIN: the kernel is short of memory) the SQEs
	 * stay in the ring and go with the next kick, which every reap does.
	 */
	io_uring_submit(&u->ring);
}

static struct io_uring_sqe *get_sqe(vdev_blk *b)
{
	struct blk_uring *u = b->loop->eng_priv;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe) {
		/* The SQ is full of prepared entries (a large plugged batch). */
		u->submit_calls++;
		io_uring_submit(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe;
}

static bool needs_helper(const vdev_blk *b, const struct blk_slot *s)
{
	const struct vdev_blk_req *req = s->req;

	if (s->helper)
		return true;
	if (req->op != VDEV_BLK_DISCARD && req->op != VDEV_BLK_WRITE_ZEROES)
		return false;
	if (b->file.is_bdev && req->op == VDEV_BLK_DISCARD)
		return true;
	if (b->file.quirks & BLK_QUIRK_NO_FALLOCATE)
		return true;
	return req->op == VDEV_BLK_WRITE_ZEROES &&
	       ((req->flags & VDEV_BLK_F_FUA) ||
		(b->file.is_bdev && ((req->offset | req->len) & (b->file.lbs - 1))));
}

static int to_helper(vdev_blk *b, struct blk_slot *s)
{
	struct blk_uring *u = b->loop->eng_priv;
	int err = 0;

	if (!u->helper) {
		u->helper = vdev__blk_pool_new(b->loop->efd, 1, &err);
		if (!u->helper)
			return err;
	}
	s->helper = 1;
	vdev__blk_pool_queue(u->helper, s);
	return 0;
}

/* Prepare the SQE that moves @s forward from its cursor. */
static int prep(vdev_blk *b, struct blk_slot *s)
{
	const struct vdev_blk_req *req = s->req;
	struct io_uring_sqe *sqe;
	int fd = b->file.fd;
	int mode;

	if (needs_helper(b, s))
		return to_helper(b, s);
	sqe = get_sqe(b);
	if (!sqe)
		return -EAGAIN;
	switch (req->op) {
	case VDEV_BLK_READ:
	case VDEV_BLK_WRITE: {
		const struct iovec *v = &req->iov[s->idx];
		unsigned int cnt = req->iovcnt - s->idx;
		uint64_t pos = req->offset + s->done;
		bool write = req->op == VDEV_BLK_WRITE;

		if (s->off || b->file.short_io) {
			s->tail.iov_base = (uint8_t *)v->iov_base + s->off;
			s->tail.iov_len = v->iov_len - s->off;
			if (b->file.short_io && s->tail.iov_len > b->file.short_io)
				s->tail.iov_len = b->file.short_io;
			v = &s->tail;
			cnt = 1;
		}
		if (cnt == 1 && write)
			io_uring_prep_write(sqe, fd, v->iov_base, (unsigned int)VDEV__MIN(
				v->iov_len, (size_t)UINT32_MAX), pos);
		else if (cnt == 1)
			io_uring_prep_read(sqe, fd, v->iov_base, (unsigned int)VDEV__MIN(
				v->iov_len, (size_t)UINT32_MAX), pos);
		else if (write)
			io_uring_prep_writev(sqe, fd, v, cnt, pos);
		else
			io_uring_prep_readv(sqe, fd, v, cnt, pos);
		if (write && (req->flags & VDEV_BLK_F_FUA))
			sqe->rw_flags = RWF_DSYNC;
		break;
	}
	case VDEV_BLK_FLUSH:
		io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
		break;
	case VDEV_BLK_DISCARD:
		io_uring_prep_fallocate(sqe, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					req->offset, req->len);
		break;
	default: /* VDEV_BLK_WRITE_ZEROES */
		mode = (req->flags & VDEV_BLK_F_UNMAP) ? FALLOC_FL_PUNCH_HOLE :
							 FALLOC_FL_ZERO_RANGE;
		io_uring_prep_fallocate(sqe, fd, mode | FALLOC_FL_KEEP_SIZE, req->offset,
					req->len);
		break;
	}
	io_uring_sqe_set_data64(sqe, slot_tag(s));
	return 0;
}

static int uring_queue(vdev_blk *b, struct blk_slot *s)
{
	const struct vdev_blk_req *req = s->req;

	/* Start the cursor on the first non-empty buffer. */
	if (req->op == VDEV_BLK_READ || req->op == VDEV_BLK_WRITE)
		vdev__blk_iov_advance(req->iov, req->iovcnt, &s->idx, &s->off, 0);
	return prep(b, s);
}

static void uring_cancel(vdev_blk *b, struct blk_slot *s)
{
	struct blk_uring *u = b->loop->eng_priv;
	struct io_uring_sqe *sqe;

	if (s->helper) {
		if (vdev__blk_pool_cancel(u->helper, s))
			vdev__blk_complete(b, s, -ECANCELED);
		return;
	}
	if (s->cancel)
		return;
	sqe = get_sqe(b);
	if (!sqe)
		return; /* best effort */
	s->cancel = 1;
	io_uring_prep_cancel64(sqe, slot_tag(s), 0);
	io_uring_sqe_set_data64(sqe, 0);
	uring_kick(b);
}

/* Resubmit @s for what is left; if that fails it completes with @fail (or why). */
static void again(vdev_blk *b, struct blk_slot *s, int64_t fail)
{
	int rc = prep(b, s);

	if (rc)
		vdev__blk_done_push(b, s, fail ? fail : rc);
}

/* One CQE for @s: finish it, or send it on for the rest. */
static void handle(vdev_blk *b, struct blk_slot *s, int res)
{
	const struct vdev_blk_req *req = s->req;
	int64_t result = res;

	switch (req->op) {
	case VDEV_BLK_READ:
	case VDEV_BLK_WRITE:
		if (res > 0) {
			s->done += (uint64_t)res;
			vdev__blk_iov_advance(req->iov, req->iovcnt, &s->idx, &s->off,
					      (uint64_t)res);
			if (s->done >= s->total) {
				result = (int64_t)s->total;
			} else if (s->cancel) {
				result = -ECANCELED;
			} else {
				again(b, s, 0);
				return;
			}
		} else if (res == 0) {
			result = -EIO; /* the file ends before the range: it shrank */
		} else if ((res == -EAGAIN || res == -EINTR) && !s->cancel &&
			   s->retries++ < URING_MAX_RETRIES) {
			again(b, s, res);
			return;
		}
		break;
	case VDEV_BLK_DISCARD:
		if (res == -EOPNOTSUPP)
			result = 0; /* a hint the host cannot take */
		break;
	case VDEV_BLK_WRITE_ZEROES:
		if ((res == -EOPNOTSUPP || res == -EINVAL) && !s->cancel) {
			s->helper = 1; /* the other mode, or writing zeroes */
			again(b, s, res);
			return;
		}
		break;
	default:
		break;
	}
	vdev__blk_done_push(b, s, result);
}

static void ring_submit(struct blk_uring *u)
{
	if (!io_uring_sq_ready(&u->ring))
		return;
	u->submit_calls++;
	io_uring_submit(&u->ring);
}

static void uring_reap(vdev_blk_loop *l)
{
	struct blk_uring *u = l->eng_priv;
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;

	io_uring_for_each_cqe(&u->ring, head, cqe) {
		struct blk_slot *s = tag_slot(io_uring_cqe_get_data64(cqe));

		n++;
		if (s)
			handle(s->owner, s, cqe->res);
	}
	io_uring_cq_advance(&u->ring, n);
	if (u->helper) {
		vdev__blk_pool_reap(u->helper);
		vdev__blk_pool_kick(u->helper);
	}
	/* Resubmissions, and SQEs a failed submit left behind. */
	ring_submit(u);
}

static void uring_fini(vdev_blk_loop *l)
{
	struct blk_uring *u = l->eng_priv;

	if (!u)
		return;
	vdev__blk_pool_free(u->helper);
	io_uring_queue_exit(&u->ring);
	free(u);
	l->eng_priv = NULL;
}

static const struct blk_engine_ops uring_ops = {
	.name = "io_uring",
	.external_signal = true,
	.queue = uring_queue,
	.kick = uring_kick,
	.cancel = uring_cancel,
	.reap = uring_reap,
	.fini = uring_fini,
};

static const struct {
	int op;
	const char *name;
} uring_needed[] = {
	{ IORING_OP_READV, "READV" },
	{ IORING_OP_WRITEV, "WRITEV" },
	{ IORING_OP_READ, "READ" },
	{ IORING_OP_WRITE, "WRITE" },
	{ IORING_OP_FSYNC, "FSYNC" },
	{ IORING_OP_FALLOCATE, "FALLOCATE" },
	{ IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL" },
};

/* The missing opcode's name, "" if all are there, or NULL without a probe. */
static const char *missing_op(struct io_uring *ring)
{
	struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
	const char *missing = "";

	if (!probe)
		return NULL;
	for (size_t i = 0; i < VDEV__ARRAY_SIZE(uring_needed); i++) {
		if (!io_uring_opcode_supported(probe, uring_needed[i].op)) {
			missing = uring_needed[i].name;
			break;
		}
	}
	io_uring_free_probe(probe);
	return missing;
}

int vdev__blk_uring_start(vdev_blk_loop *l, char *why, size_t why_len)
{
	struct io_uring_params params;
	struct blk_uring *u = calloc(1, sizeof(*u));
	unsigned int entries = 8;
	const char *missing;
	int rc;

	if (!u) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	while (entries < l->qd)
		entries <<= 1;
	memset(&params, 0, sizeof(params));
	params.flags = IORING_SETUP_CQSIZE;
	params.cq_entries = entries * 2;
	rc = io_uring_queue_init_params(entries, &u->ring, &params);
	if (rc < 0) {
		snprintf(why, why_len, "io_uring_setup: %s", vdev_strerror(rc));
		free(u);
		return rc;
	}
	missing = missing_op(&u->ring);
	if (!missing || missing[0]) {
		snprintf(why, why_len, missing ? "the kernel lacks IORING_OP_%s" :
			 "the kernel cannot list its io_uring opcodes", missing);
		rc = -ENOTSUP;
	} else {
		rc = io_uring_register_eventfd(&u->ring, l->efd);
		if (rc < 0)
			snprintf(why, why_len, "io_uring_register_eventfd: %s", vdev_strerror(rc));
	}
	if (rc < 0) {
		io_uring_queue_exit(&u->ring);
		free(u);
		return rc;
	}
	l->eng_priv = u;
	l->eng = &uring_ops;
	l->engine = VDEV_BLK_ENGINE_IO_URING;
	return 0;
}

unsigned long vdev__blk_uring_submit_calls(const vdev_blk *b)
{
	const struct blk_uring *u = b->loop->eng_priv;

	return b->engine == VDEV_BLK_ENGINE_IO_URING ? u->submit_calls : 0;
}

struct blk_pool *vdev__blk_uring_helper(vdev_blk *b)
{
	struct blk_uring *u = b->loop->eng_priv;

	return b->engine == VDEV_BLK_ENGINE_IO_URING ? u->helper : NULL;
}
