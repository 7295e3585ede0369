/* SPDX-License-Identifier: MIT */
/*
 * The "sg" driver: a host SCSI device driven with the SG_IO ioctl (sg v3
 * interface, <scsi/sg.h>), for pass-through LUNs. The path is a SCSI
 * generic node (/dev/sgN) or a SCSI block device (/dev/sdX, /dev/srN).
 *
 * Open checks the node really speaks SG_IO: SG_GET_VERSION_NUM (sg v3 or
 * later) on a character device; a TEST UNIT READY through SG_IO on a
 * block device (its SCSI status does not matter, only that the ioctl
 * took it). Anything else (a regular file, /dev/null, a partition) is
 * refused with -ENOTTY and a log line. It then learns what the SCSI layer
 * needs: the logical block size (BLKSSZGET, or READ CAPACITY on an sg
 * node) and the most bytes the host queue takes per command, the smallest
 * of BLKSECTGET and the queue's max_sectors_kb in sysfs. SG_GET_RESERVED_SIZE
 * is not a limit (the sg driver allocates past its reserve) and is not used.
 *
 * Engine: SG_IO blocks its thread until the device answers, and io_uring
 * cannot carry it, so commands run on a thread pool: one per loop (the
 * loop's sg_pool, blk_loop.c), shared by the loop's "sg" backends and made
 * when the first joins (opts.threads workers, 0: 4), whatever engine the
 * loop's file backends use. Only pass-through commands are accepted
 * (vdev__blk_scsi_submit()); READ/WRITE/FLUSH... fail with -EOPNOTSUPP.
 *
 * Cancel: a command still queued is withdrawn (-ECANCELED); SG_IO itself
 * cannot be interrupted, so one already running completes when the host
 * returns it (at the latest after its timeout).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <scsi/sg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "block/blk_internal.h"

#define SG_MIN_VERSION 30000        /* the sg v3 interface (sg_io_hdr) */
#define SG_PROBE_TIMEOUT_MS 10000
#define SG_DEFAULT_MAX_IOV 1024u    /* UIO_MAXIOV: the kernel's iovec limit */

int vdev__blk_sg_ioctl(const struct blk_sg *sg, unsigned long request, void *arg)
{
	if (sg->hooked)
		return sg->hooks.ioctl(sg->hooks.opaque, sg->fd, request, arg);
	return ioctl(sg->fd, request, arg) < 0 ? -errno : 0;
}

/* Run a probe command synchronously (open only). 0 if SG_IO took it and it ended GOOD. */
static int probe_cmd(const struct blk_sg *sg, const uint8_t *cdb, uint8_t cdb_len, void *buf,
		     unsigned int len, bool *ran)
{
	uint8_t sense[32];
	sg_io_hdr_t h;
	int rc;

	memset(&h, 0, sizeof(h));
	h.interface_id = 'S';
	h.cmd_len = cdb_len;
	h.cmdp = (unsigned char *)cdb;
	h.mx_sb_len = sizeof(sense);
	h.sbp = sense;
	h.timeout = SG_PROBE_TIMEOUT_MS;
	h.dxfer_direction = len ? SG_DXFER_FROM_DEV : SG_DXFER_NONE;
	h.dxferp = buf;
	h.dxfer_len = len;
	rc = vdev__blk_sg_ioctl(sg, SG_IO, &h);
	if (ran)
		*ran = !rc;
	if (rc)
		return rc;
	if (h.status || h.host_status || (h.driver_status & VDEV__DRIVER_MASK))
		return -EIO;
	return 0;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* READ CAPACITY(10), then (16) past 2^32 blocks: size and block size, or 0s. */
static void read_capacity(vdev_blk *b, struct blk_sg *sg)
{
	const uint8_t rc10[10] = { 0x25 };
	const uint8_t rc16[16] = { 0x9e, 0x10, [13] = 32 };
	uint8_t buf[32] = { 0 };
	uint64_t last;
	uint32_t lbs;

	if (probe_cmd(sg, rc10, sizeof(rc10), buf, 8, NULL))
		return; /* no medium, not a block device...: learnt later if ever */
	last = get_be32(buf);
	lbs = get_be32(buf + 4);
	if (last == 0xffffffffu) {
		memset(buf, 0, sizeof(buf));
		if (probe_cmd(sg, rc16, sizeof(rc16), buf, 32, NULL))
			return;
		last = (uint64_t)get_be32(buf) << 32 | get_be32(buf + 4);
		lbs = get_be32(buf + 8);
	}
	if (lbs < 512 || lbs > (1u << 20) || (lbs & (lbs - 1)))
		return;
	sg->lbs = lbs;
	if (last < UINT64_MAX / lbs - 1)
		b->size = (last + 1) * lbs;
}

/* Read a decimal number from a sysfs file; 0 if absent or malformed. */
static uint64_t sysfs_u64(const char *path)
{
	unsigned long long v = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static void take_min(uint64_t *cur, uint64_t v)
{
	if (v && (!*cur || v < *cur))
		*cur = v;
}

/* The queue directory of the host device in sysfs, into @out; false if unknown. */
static bool queue_dir(const struct blk_sg *sg, dev_t rdev, char *out, size_t n)
{
	char dir[128];
	struct dirent *de;
	DIR *d;
	bool found = false;

	if (sg->is_bdev) {
		snprintf(out, n, "/sys/dev/block/%u:%u/queue", major(rdev), minor(rdev));
		return true;
	}
	/* An sg node of a disk: .../device/block/<sdX>/queue. */
	snprintf(dir, sizeof(dir), "/sys/dev/char/%u:%u/device/block", major(rdev), minor(rdev));
	d = opendir(dir);
	if (!d)
		return false;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(out, n, "%s/%s/queue", dir, de->d_name);
		found = true;
		break;
	}
	closedir(d);
	return found;
}

static void learn_limits(struct blk_sg *sg, dev_t rdev)
{
	char q[400], path[448];
	uint64_t max = 0;

	sg->max_iov = SG_DEFAULT_MAX_IOV;
	if (sg->is_bdev) {
		unsigned short sectors = 0;

		if (!vdev__blk_sg_ioctl(sg, BLKSECTGET, &sectors))
			take_min(&max, (uint64_t)sectors * 512);
	} else {
		int v = 0;

		/* On an sg node BLKSECTGET answers in bytes (drivers/scsi/sg.c). */
		if (!vdev__blk_sg_ioctl(sg, BLKSECTGET, &v) && v > 0)
			take_min(&max, (uint64_t)v);
		v = 0;
		if (!vdev__blk_sg_ioctl(sg, SG_GET_SG_TABLESIZE, &v) && v > 0 &&
		    (unsigned int)v < sg->max_iov)
			sg->max_iov = (unsigned int)v;
	}
	if (!sg->hooked && queue_dir(sg, rdev, q, sizeof(q))) {
		uint64_t segs;

		snprintf(path, sizeof(path), "%s/max_sectors_kb", q);
		take_min(&max, sysfs_u64(path) * 1024);
		snprintf(path, sizeof(path), "%s/max_hw_sectors_kb", q);
		take_min(&max, sysfs_u64(path) * 1024);
		snprintf(path, sizeof(path), "%s/max_segments", q);
		segs = sysfs_u64(path);
		if (segs && segs < sg->max_iov)
			sg->max_iov = (unsigned int)segs;
	}
	sg->max_xfer = max;
}

/* Does the node take SG_IO? 0, or -ENOTTY with a log line saying why not. */
static int check_sg(vdev_blk *b, struct blk_sg *sg, const char *path, const struct stat *st)
{
	const uint8_t tur[6] = { 0x00 };
	int version = 0, rc;
	bool ran = false;

	if (S_ISCHR(st->st_mode)) {
		rc = vdev__blk_sg_ioctl(sg, SG_GET_VERSION_NUM, &version);
		if (!rc && version >= SG_MIN_VERSION)
			return 0;
		vdev_log(b->ctx, VDEV_LOG_ERROR,
			 "blk: sg: %s: not a SCSI generic device (SG_GET_VERSION_NUM: %s)", path,
			 rc ? vdev_strerror(rc) : "too old");
		return -ENOTTY;
	}
	if (S_ISBLK(st->st_mode)) {
		sg->is_bdev = true;
		(void)probe_cmd(sg, tur, sizeof(tur), NULL, 0, &ran);
		if (ran)
			return 0;
		vdev_log(b->ctx, VDEV_LOG_ERROR,
			 "blk: sg: %s: block device does not take SG_IO (not SCSI, or a partition)",
			 path);
		return -ENOTTY;
	}
	vdev_log(b->ctx, VDEV_LOG_ERROR,
		 "blk: sg: %s: neither a SCSI generic node nor a SCSI block device", path);
	return -ENOTTY;
}

static void sg_close(vdev_blk *b)
{
	if (!b->sg)
		return;
	if (b->sg->fd >= 0)
		close(b->sg->fd);
	free(b->sg);
	b->sg = NULL;
}

int vdev__blk_sg_open(vdev_blk *b, const struct vdev_blk_opts *o,
		      const struct vdev__blk_sg_hooks *hooks)
{
	struct blk_sg *sg;
	struct stat st;
	int rc;

	if (!o->path || !o->path[0] || o->size || o->direct)
		return -EINVAL;
	if (o->engine != VDEV_BLK_ENGINE_AUTO && o->engine != VDEV_BLK_ENGINE_THREADS)
		return -ENOTSUP; /* SG_IO runs on threads only */
	if (hooks && !hooks->ioctl)
		return -EINVAL;
	sg = calloc(1, sizeof(*sg));
	if (!sg)
		return -ENOMEM;
	sg->fd = -1;
	b->sg = sg;
	b->drv_close = sg_close;
	if (hooks) {
		sg->hooks = *hooks;
		sg->hooked = true;
	}
	/* O_NONBLOCK: an sg node or a drive without a medium opens without waiting. */
	sg->fd = open(o->path, (o->readonly ? O_RDONLY : O_RDWR) | O_NONBLOCK | O_CLOEXEC);
	if (sg->fd < 0) {
		rc = -errno;
		vdev_log(b->ctx, VDEV_LOG_ERROR, "blk: sg: %s: %s", o->path, vdev_strerror(rc));
		return rc;
	}
	if (fstat(sg->fd, &st) < 0)
		return -errno;
	rc = check_sg(b, sg, o->path, &st);
	if (rc)
		return rc;
	if (sg->is_bdev) {
		int lbs = 0;
		uint64_t size = 0;

		if (!vdev__blk_sg_ioctl(sg, BLKSSZGET, &lbs) && lbs >= 512 && !(lbs & (lbs - 1)))
			sg->lbs = (uint32_t)lbs;
		if (!vdev__blk_sg_ioctl(sg, BLKGETSIZE64, &size))
			b->size = size;
	} else {
		read_capacity(b, sg);
	}
	learn_limits(sg, st.st_rdev);
	b->eng = &vdev__blk_sg_ops;
	b->engine = VDEV_BLK_ENGINE_THREADS;
	vdev_log(b->ctx, VDEV_LOG_INFO,
		 "blk: sg: %s: %s, block size %u, max transfer %llu bytes, %u segments", o->path,
		 sg->is_bdev ? "block device" : "sg node", sg->lbs,
		 (unsigned long long)sg->max_xfer, sg->max_iov);
	return 0;
}

int vdev__blk_sg_info(const vdev_blk *b, struct vdev__blk_sg_info *out)
{
	if (!b || !b->sg || !out)
		return -EINVAL;
	out->is_bdev = b->sg->is_bdev;
	out->lbs = b->sg->lbs;
	out->max_xfer = b->sg->max_xfer;
	return 0;
}

int vdev__blk_validate_scsi(const vdev_blk *b, const struct vdev_blk_req *req,
			    const struct vdev__blk_scsi_cmd *cmd, uint64_t *len)
{
	uint64_t sum = 0;

	if (!b->sg || !req->done)
		return -EINVAL;
	if (cmd->cdb_len < 6 || cmd->cdb_len > VDEV__BLK_SCSI_CDB_MAX ||
	    cmd->dir > VDEV__BLK_SCSI_FROM_DEV || cmd->sense_cap > VDEV__BLK_SCSI_SENSE_MAX ||
	    (cmd->sense_cap && !cmd->sense))
		return -EINVAL;
	if (req->iovcnt > IOV_MAX || (req->iovcnt && !req->iov))
		return -EINVAL;
	for (unsigned int i = 0; i < req->iovcnt; i++) {
		uint64_t l = req->iov[i].iov_len;

		if (l && !req->iov[i].iov_base)
			return -EINVAL;
		/* sg_io_hdr.dxfer_len is an unsigned int. */
		if (l > UINT_MAX - sum)
			return -EINVAL;
		sum += l;
	}
	if ((cmd->dir == VDEV__BLK_SCSI_NONE) != (sum == 0))
		return -EINVAL;
	*len = sum;
	return 0;
}

/* ---- the engine: the loop's sg pool ---- */

static int sg_queue(vdev_blk *b, struct blk_slot *s)
{
	vdev__blk_pool_queue(b->loop->sg_pool, s);
	return 0;
}

static void sg_kick(vdev_blk *b)
{
	vdev__blk_pool_kick(b->loop->sg_pool);
}

static void sg_cancel(vdev_blk *b, struct blk_slot *s)
{
	if (vdev__blk_pool_cancel(b->loop->sg_pool, s))
		vdev__blk_complete(b, s, -ECANCELED);
}

static void sg_loop_nop(vdev_blk_loop *l)
{
	(void)l; /* the loop reaps and frees its sg pool itself */
}

const struct blk_engine_ops vdev__blk_sg_ops = {
	.name = "sg",
	.external_signal = false, /* not the loop engine's: never counted against its ring */
	.queue = sg_queue,
	.kick = sg_kick,
	.cancel = sg_cancel,
	.reap = sg_loop_nop,
	.fini = sg_loop_nop,
};
