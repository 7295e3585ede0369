/* SPDX-License-Identifier: MIT */
/*
 * Fault injection (vdev_blk_inject_error()): ranges of a backend that
 * fail chosen operations with a chosen errno, checked at submit after the
 * usual validation. A matching request takes a slot like any other and
 * goes straight to the done list with the error, so the completion
 * contract holds unchanged: it runs once, from the loop's poll, never
 * inside vdev_blk_submit(), and the host never sees the request.
 */
#include <errno.h>
#include <inttypes.h>

#include "block/blk_internal.h"

#define BLK_OPS_KNOWN                                                                       \
	(VDEV_BLK_OP_BIT(VDEV_BLK_READ) | VDEV_BLK_OP_BIT(VDEV_BLK_WRITE) |                  \
	 VDEV_BLK_OP_BIT(VDEV_BLK_FLUSH) | VDEV_BLK_OP_BIT(VDEV_BLK_DISCARD) |              \
	 VDEV_BLK_OP_BIT(VDEV_BLK_WRITE_ZEROES))

/* Largest errno value Linux uses (MAX_ERRNO): a result below -4095 is no errno. */
#define BLK_MAX_ERRNO 4095

int vdev_blk_inject_error(vdev_blk *b, uint64_t offset, uint64_t len, uint32_t ops_mask,
			  int err)
{
	struct blk_fault *f;

	if (!b)
		return -EINVAL;
	if (b->sg)
		return -EOPNOTSUPP;
	if (!len) {
		if (b->nfaults)
			vdev_log(b->ctx, VDEV_LOG_INFO, "blk: %u injected error range(s) cleared",
				 b->nfaults);
		b->nfaults = 0;
		return 0;
	}
	if (!ops_mask || (ops_mask & ~BLK_OPS_KNOWN) || err >= 0 || err < -BLK_MAX_ERRNO ||
	    len > UINT64_MAX - offset)
		return -EINVAL;
	if (b->nfaults == VDEV_BLK_INJECT_MAX)
		return -ENOSPC;
	f = &b->faults[b->nfaults++];
	*f = (struct blk_fault){
		.start = offset,
		.end = offset + len,
		.ops = ops_mask,
		.err = err,
	};
	return 0;
}

int vdev__blk_fault_match(vdev_blk *b, const struct vdev_blk_req *req, uint64_t len)
{
	for (unsigned int i = 0; i < b->nfaults; i++) {
		struct blk_fault *f = &b->faults[i];

		if (req->op >= 32 || !(f->ops & VDEV_BLK_OP_BIT(req->op)))
			continue;
		/* FLUSH has no range; the others overlap [start, end) by a byte at least. */
		if (req->op != VDEV_BLK_FLUSH &&
		    (req->offset >= f->end || len == 0 || req->offset + len <= f->start))
			continue;
		if (!f->hits++)
			vdev_log(b->ctx, VDEV_LOG_WARN, "blk: injected error %s: op %" PRIu32
				 " at %" PRIu64 "+%" PRIu64 " in [%" PRIu64 ", %" PRIu64 ")",
				 vdev_strerror(f->err), req->op, req->offset, len, f->start,
				 f->end);
		return f->err;
	}
	return 0;
}
