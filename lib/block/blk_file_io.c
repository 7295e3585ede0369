/* SPDX-License-Identifier: MIT */
/*
 * One file-driver request run synchronously, on a worker thread (the
 * thread-pool engine, and the io_uring engine's helper for what io_uring
 * cannot do). Reads only the request and the immutable struct blk_file.
 *
 * READ/WRITE: preadv2/pwritev2 until the whole length moved (RWF_DSYNC for
 * a FUA write); a transfer of 0 bytes (a read past the end of a file that
 * shrank) is -EIO. FLUSH: fdatasync(). DISCARD: a hole punched in a file,
 * BLKDISCARD on a block device (the range shrunk to whole logical blocks);
 * a host that cannot discard makes it a successful no-op, as a discard is
 * only a hint. WRITE_ZEROES: fallocate(ZERO_RANGE), or PUNCH_HOLE first
 * with VDEV_BLK_F_UNMAP; when the host supports neither, zeroes are
 * written. Host errors are returned as they are (-ENOSPC, -EIO, -EDQUOT…).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "block/blk_internal.h"

static int64_t rw_exec(const struct blk_file *f, const struct vdev_blk_req *req)
{
	int flags = 0;
	bool write = req->op == VDEV_BLK_WRITE;
	uint64_t done = 0;
	unsigned int idx = 0;
	size_t off = 0;

	if (write && (req->flags & VDEV_BLK_F_FUA))
		flags = RWF_DSYNC;
	vdev__blk_iov_advance(req->iov, req->iovcnt, &idx, &off, 0);
	while (idx < req->iovcnt) {
		const struct iovec *v = &req->iov[idx];
		struct iovec one;
		int cnt = (int)(req->iovcnt - idx);
		ssize_t n;

		if (off || f->short_io) {
			one.iov_base = (uint8_t *)v->iov_base + off;
			one.iov_len = v->iov_len - off;
			if (f->short_io && one.iov_len > f->short_io)
				one.iov_len = f->short_io;
			v = &one;
			cnt = 1;
		}
		if (write)
			n = pwritev2(f->fd, v, cnt, (off_t)(req->offset + done), flags);
		else
			n = preadv2(f->fd, v, cnt, (off_t)(req->offset + done), 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		done += (uint64_t)n;
		vdev__blk_iov_advance(req->iov, req->iovcnt, &idx, &off, (uint64_t)n);
	}
	return (int64_t)done;
}

static int do_fallocate(const struct blk_file *f, int mode, uint64_t off, uint64_t len)
{
	if (f->quirks & BLK_QUIRK_NO_FALLOCATE)
		return -EOPNOTSUPP;
	if (fallocate(f->fd, mode, (off_t)off, (off_t)len) < 0)
		return -errno;
	return 0;
}

static bool unsupported(int rc)
{
	return rc == -EOPNOTSUPP || rc == -ENOTTY || rc == -ENOSYS;
}

static int64_t discard_exec(const struct blk_file *f, const struct vdev_blk_req *req)
{
	uint64_t range[2];
	uint64_t lo, hi;
	int rc;

	if (!f->is_bdev) {
		rc = do_fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, req->offset,
				  req->len);
		return unsupported(rc) ? 0 : rc;
	}
	lo = (req->offset + f->lbs - 1) & ~(uint64_t)(f->lbs - 1);
	hi = (req->offset + req->len) & ~(uint64_t)(f->lbs - 1);
	if (lo >= hi)
		return 0;
	range[0] = lo;
	range[1] = hi - lo;
	if (ioctl(f->fd, BLKDISCARD, range) < 0)
		return unsupported(-errno) ? 0 : -errno;
	return 0;
}

static int64_t write_zeroes_loop(const struct blk_file *f, const struct vdev_blk_req *req)
{
	int flags = (req->flags & VDEV_BLK_F_FUA) ? RWF_DSYNC : 0;
	uint64_t done = 0;

	while (done < req->len) {
		struct iovec v = {
			.iov_base = (void *)f->zeroes,
			.iov_len = (size_t)VDEV__MIN(req->len - done, (uint64_t)f->zeroes_len),
		};
		ssize_t n = pwritev2(f->fd, &v, 1, (off_t)(req->offset + done), flags);

		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		done += (uint64_t)n;
	}
	return 0;
}

static int64_t zeroes_exec(const struct blk_file *f, const struct vdev_blk_req *req)
{
	int modes[2] = { FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
			 FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE };
	uint64_t mask = f->lbs - 1;
	int rc = -EOPNOTSUPP;

	if (req->flags & VDEV_BLK_F_UNMAP) {
		modes[0] = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		modes[1] = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	}
	/* A block device takes fallocate() in whole logical blocks only. */
	if (!f->is_bdev || !((req->offset | req->len) & mask)) {
		for (int i = 0; i < 2 && unsupported(rc); i++)
			rc = do_fallocate(f, modes[i], req->offset, req->len);
		if (!rc && (req->flags & VDEV_BLK_F_FUA) && fdatasync(f->fd) < 0)
			rc = -errno;
		/* EINVAL too: some file systems refuse a mode rather than report it unsupported. */
		if (!unsupported(rc) && rc != -EINVAL)
			return rc;
	}
	return write_zeroes_loop(f, req);
}

int64_t vdev__blk_file_exec(const struct blk_file *f, const struct vdev_blk_req *req)
{
	switch (req->op) {
	case VDEV_BLK_READ:
	case VDEV_BLK_WRITE:
		return rw_exec(f, req);
	case VDEV_BLK_FLUSH:
		return fdatasync(f->fd) < 0 ? -errno : 0;
	case VDEV_BLK_DISCARD:
		return discard_exec(f, req);
	case VDEV_BLK_WRITE_ZEROES:
		return zeroes_exec(f, req);
	default:
		return -EINVAL;
	}
}
