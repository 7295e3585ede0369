/* SPDX-License-Identifier: MIT */
/*
 * The "memory" driver: a RAM disk of opts->size bytes (a multiple of 512)
 * in an anonymous private mapping, so untouched ranges cost nothing and
 * read as zeroes. DISCARD and WRITE_ZEROES zero the range; whole pages
 * inside it are given back to the kernel (MADV_DONTNEED reads back as
 * zeroes on a private anonymous mapping). Runs on the inline engine.
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/blk_internal.h"

static void mem_zero(vdev_blk *b, uint64_t off, uint64_t len)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t lo = (off + page - 1) & ~(page - 1);
	uint64_t hi = (off + len) & ~(page - 1);

	if (lo < hi && !madvise(b->mem + lo, hi - lo, MADV_DONTNEED)) {
		memset(b->mem + off, 0, lo - off);
		memset(b->mem + hi, 0, off + len - hi);
		return;
	}
	memset(b->mem + off, 0, len);
}

static int64_t mem_exec(vdev_blk *b, const struct vdev_blk_req *req)
{
	uint64_t pos = req->offset;

	switch (req->op) {
	case VDEV_BLK_READ:
	case VDEV_BLK_WRITE:
		for (unsigned int i = 0; i < req->iovcnt; i++) {
			size_t l = req->iov[i].iov_len;

			if (!l)
				continue;
			if (req->op == VDEV_BLK_READ)
				memcpy(req->iov[i].iov_base, b->mem + pos, l);
			else
				memcpy(b->mem + pos, req->iov[i].iov_base, l);
			pos += l;
		}
		return (int64_t)(pos - req->offset);
	case VDEV_BLK_DISCARD:
	case VDEV_BLK_WRITE_ZEROES:
		mem_zero(b, req->offset, req->len);
		return 0;
	default:
		return 0; /* FLUSH: RAM is as durable as it gets */
	}
}

static void mem_close(vdev_blk *b)
{
	if (b->mem)
		munmap(b->mem, b->size);
}

int vdev__blk_memory_open(vdev_blk *b, const struct vdev_blk_opts *o)
{
	void *p;

	if (o->path || o->direct || !o->size || o->size % 512 || o->size > SIZE_MAX)
		return -EINVAL;
	if (o->engine != VDEV_BLK_ENGINE_AUTO && o->engine != VDEV_BLK_ENGINE_INLINE)
		return -ENOTSUP;
	/* NORESERVE: a large RAM disk that is mostly never written costs nothing. */
	p = mmap(NULL, (size_t)o->size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	b->mem = p;
	b->size = o->size;
	b->exec = mem_exec;
	b->drv_close = mem_close;
	b->eng = &vdev__blk_inline_ops;
	b->engine = VDEV_BLK_ENGINE_INLINE;
	return 0;
}
