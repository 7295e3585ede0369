/* SPDX-License-Identifier: MIT */
/*
 * Submit-time request checks (vdev_blk_submit()). Everything that would
 * fail the same way on every try is refused here, before a slot is taken,
 * so a refused request never completes: an unknown op or flag, a write to
 * a read-only backend, a malformed iovec array, a range outside the
 * backend (checked without overflow), and, with O_DIRECT, an offset,
 * length or buffer not aligned to the logical block size.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>

#include "block/blk_internal.h"

/* READ/WRITE: the iovec array's total length, or a negative errno. */
static int iov_total(const vdev_blk *b, const struct vdev_blk_req *req, uint64_t *len)
{
	uint64_t mask = b->align - 1, sum = 0;

	if (!req->iov || req->iovcnt == 0 || req->iovcnt > IOV_MAX)
		return -EINVAL;
	for (unsigned int i = 0; i < req->iovcnt; i++) {
		uint64_t l = req->iov[i].iov_len;

		if (l && !req->iov[i].iov_base)
			return -EINVAL;
		/* preadv() and our int64_t result both stop at SSIZE_MAX. */
		if (l > (uint64_t)SSIZE_MAX - sum)
			return -EINVAL;
		if (((uintptr_t)req->iov[i].iov_base | l) & mask)
			return -EINVAL;
		sum += l;
	}
	if (!sum)
		return -EINVAL;
	*len = sum;
	return 0;
}

int vdev__blk_validate(const vdev_blk *b, const struct vdev_blk_req *req, uint64_t *len)
{
	uint32_t known = VDEV_BLK_F_FUA;
	uint64_t n = 0;
	int rc;

	if (!req->done)
		return -EINVAL;
	switch (req->op) {
	case VDEV_BLK_READ:
	case VDEV_BLK_WRITE:
		if (req->op == VDEV_BLK_WRITE && b->readonly)
			return -EROFS;
		rc = iov_total(b, req, &n);
		if (rc)
			return rc;
		break;
	case VDEV_BLK_FLUSH:
		break;
	case VDEV_BLK_WRITE_ZEROES:
		known |= VDEV_BLK_F_UNMAP;
		/* fall through */
	case VDEV_BLK_DISCARD:
		if (b->readonly)
			return -EROFS;
		n = req->len;
		if (!n)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (req->flags & ~known)
		return -EINVAL;
	if (req->op != VDEV_BLK_FLUSH) {
		if (n > b->size || req->offset > b->size - n)
			return -EINVAL;
		if ((req->offset | n) & (uint64_t)(b->align - 1))
			return -EINVAL;
	}
	*len = n;
	return 0;
}

void vdev__blk_iov_advance(const struct iovec *iov, unsigned int cnt, unsigned int *idx,
			   size_t *off, uint64_t n)
{
	unsigned int i = *idx;
	size_t o = *off;

	while (i < cnt) {
		size_t room = iov[i].iov_len - o;

		if (n < room) {
			o += (size_t)n;
			break;
		}
		n -= room;
		i++;
		o = 0;
	}
	*idx = i;
	*off = o;
}
