/* SPDX-License-Identifier: MIT */
/*
 * The "null" driver, for benchmarks: opts->size bytes (a multiple of 512)
 * of nothing. Reads return zeroes, writes are dropped, every other op
 * succeeds. Runs on the inline engine.
 */
#include <errno.h>

#include "block/blk_internal.h"

static int64_t null_exec(vdev_blk *b, const struct vdev_blk_req *req)
{
	uint64_t n = 0;

	(void)b;
	if (req->op != VDEV_BLK_READ && req->op != VDEV_BLK_WRITE)
		return 0;
	for (unsigned int i = 0; i < req->iovcnt; i++) {
		if (req->op == VDEV_BLK_READ && req->iov[i].iov_len)
			memset(req->iov[i].iov_base, 0, req->iov[i].iov_len);
		n += req->iov[i].iov_len;
	}
	return (int64_t)n;
}

int vdev__blk_null_open(vdev_blk *b, const struct vdev_blk_opts *o)
{
	if (o->path || o->direct || !o->size || o->size % 512)
		return -EINVAL;
	if (o->engine != VDEV_BLK_ENGINE_AUTO && o->engine != VDEV_BLK_ENGINE_INLINE)
		return -ENOTSUP;
	b->size = o->size;
	b->exec = null_exec;
	b->eng = &vdev__blk_inline_ops;
	b->engine = VDEV_BLK_ENGINE_INLINE;
	return 0;
}
