/* SPDX-License-Identifier: MIT */
/*
 * The "file" driver: a regular file or a block device, buffered or
 * O_DIRECT, on the io_uring engine or the thread pool.
 *
 * Size: st_size for a file, BLKGETSIZE64 for a block device; re-read by
 * vdev_blk_refresh_size(). A request is checked against the size known at
 * submit: a read that runs into the end of a file that has since shrunk
 * completes with -EIO (never zero-filled), a write there extends the file.
 *
 * O_DIRECT alignment: the logical block size (BLKSSZGET) for a block
 * device; for a file, what statx(STATX_DIOALIGN) reports (the larger of
 * the memory and offset alignments), else 512. The kernel still has the
 * last word: a request it refuses completes with -EINVAL.
 *
 * Engine: the loop's (blk_loop.c picks it), private or shared.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/blk_internal.h"

/* Enough zero pages that writing zeroes takes few system calls. */
#define BLK_ZEROES_LEN (256u * 1024u)

static int file_size(const struct blk_file *f, uint64_t *size)
{
	struct stat st;

	if (f->is_bdev) {
		uint64_t sz;

		if (ioctl(f->fd, BLKGETSIZE64, &sz) < 0)
			return -errno;
		*size = sz;
		return 0;
	}
	if (fstat(f->fd, &st) < 0)
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

static int file_refresh(vdev_blk *b, uint64_t *size)
{
	return file_size(&b->file, size);
}

static uint32_t file_dio_align(const struct blk_file *f)
{
	struct statx sx;
	uint32_t a;

	if (f->is_bdev)
		return f->lbs;
	if (statx(f->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align) {
		a = VDEV__MAX(sx.stx_dio_offset_align, sx.stx_dio_mem_align);
		if (!(a & (a - 1)))
			return a;
	}
	return 512;
}

static void file_close(vdev_blk *b)
{
	if (b->file.zeroes)
		munmap((void *)b->file.zeroes, b->file.zeroes_len);
	if (b->file.fd >= 0)
		close(b->file.fd);
}

static int file_inspect(struct blk_file *f)
{
	struct stat st;
	int lbs;

	if (fstat(f->fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode)) {
		f->is_bdev = true;
		if (ioctl(f->fd, BLKSSZGET, &lbs) < 0)
			return -errno;
		if (lbs < 512 || (lbs & (lbs - 1)))
			return -EINVAL;
		f->lbs = (uint32_t)lbs;
		return 0;
	}
	if (!S_ISREG(st.st_mode))
		return -EINVAL; /* directories, character devices, pipes, sockets */
	f->lbs = 512;
	return 0;
}

int vdev__blk_file_open(vdev_blk *b, const struct vdev_blk_opts *o)
{
	struct blk_file *f = &b->file;
	void *z;
	int rc;

	if (!o->path || !o->path[0] || o->size)
		return -EINVAL;
	if (o->engine == VDEV_BLK_ENGINE_INLINE)
		return -ENOTSUP;
	b->drv_close = file_close;
	b->refresh = file_refresh;
	f->fd = open(o->path, (o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC |
			      (o->direct ? O_DIRECT : 0));
	if (f->fd < 0)
		return -errno;
	rc = file_inspect(f);
	if (!rc)
		rc = file_size(f, &b->size);
	if (rc)
		return rc;
	b->direct = o->direct != 0;
	b->align = b->direct ? file_dio_align(f) : 1;
	/* Never written: every page is the shared zero page until unmapped. */
	z = mmap(NULL, BLK_ZEROES_LEN, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (z == MAP_FAILED)
		return -ENOMEM;
	f->zeroes = z;
	f->zeroes_len = BLK_ZEROES_LEN;
	return 0; /* the engine is the loop's (blk.c) */
}
