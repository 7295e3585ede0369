/* SPDX-License-Identifier: MIT */
/*
 * One pass-through command run with SG_IO, on a worker of the loop's sg
 * pool (blk_sg.c). Reads the request, the command and the immutable
 * struct blk_sg; writes the command's results (the pool's lock hands them
 * to the loop's thread).
 *
 * Data: one buffer goes as it is; several go as an iovec array (SG_IO's
 * iovec_count), unless there are more than the host queue takes segments
 * (max_iov), when they are gathered into one bounce buffer (and, for a
 * data-in command, scattered back: only what the device sent, the
 * transfer length minus the residual).
 */
#include <errno.h>
#include <scsi/sg.h>
#include <stdlib.h>

#include "block/blk_internal.h"

static int dxfer_dir(uint8_t dir)
{
	switch (dir) {
	case VDEV__BLK_SCSI_TO_DEV:
		return SG_DXFER_TO_DEV;
	case VDEV__BLK_SCSI_FROM_DEV:
		return SG_DXFER_FROM_DEV;
	default:
		return SG_DXFER_NONE;
	}
}

static void gather(const struct iovec *iov, unsigned int cnt, uint8_t *dst)
{
	for (unsigned int i = 0; i < cnt; i++) {
		if (iov[i].iov_len)
			memcpy(dst, iov[i].iov_base, iov[i].iov_len);
		dst += iov[i].iov_len;
	}
}

static void scatter(const struct iovec *iov, unsigned int cnt, const uint8_t *src, size_t len)
{
	for (unsigned int i = 0; i < cnt && len; i++) {
		size_t n = VDEV__MIN(len, iov[i].iov_len);

		if (n)
			memcpy(iov[i].iov_base, src, n);
		src += n;
		len -= n;
	}
}

int64_t vdev__blk_sg_exec(const vdev_blk *b, const struct vdev_blk_req *req)
{
	const struct blk_sg *sg = b->sg;
	struct vdev__blk_scsi_cmd *cmd = (struct vdev__blk_scsi_cmd *)(uintptr_t)req->internal[1];
	uint8_t *bounce = NULL;
	size_t total = 0;
	sg_io_hdr_t h;
	int rc;

	for (unsigned int i = 0; i < req->iovcnt; i++)
		total += req->iov[i].iov_len; /* checked at submit: fits an unsigned int */
	memset(&h, 0, sizeof(h));
	h.interface_id = 'S';
	h.dxfer_direction = dxfer_dir(cmd->dir);
	h.cmd_len = cmd->cdb_len;
	h.cmdp = cmd->cdb;
	h.mx_sb_len = cmd->sense_cap;
	h.sbp = cmd->sense;
	h.timeout = cmd->timeout_ms;
	h.dxfer_len = (unsigned int)total;
	if (total && req->iovcnt == 1) {
		h.dxferp = req->iov[0].iov_base;
	} else if (total && req->iovcnt <= sg->max_iov) {
		/* sg_iovec_t is laid out as struct iovec. */
		h.iovec_count = (unsigned short)req->iovcnt;
		h.dxferp = (void *)(uintptr_t)req->iov;
	} else if (total) {
		bounce = malloc(total);
		if (!bounce)
			return -ENOMEM;
		if (cmd->dir == VDEV__BLK_SCSI_TO_DEV)
			gather(req->iov, req->iovcnt, bounce);
		h.dxferp = bounce;
	}
	rc = vdev__blk_sg_ioctl(sg, SG_IO, &h);
	if (!rc && bounce && cmd->dir == VDEV__BLK_SCSI_FROM_DEV) {
		size_t got = total;

		if (h.resid > 0)
			got = (size_t)h.resid < total ? total - (size_t)h.resid : 0;
		scatter(req->iov, req->iovcnt, bounce, got);
	}
	free(bounce);
	if (rc)
		return rc;
	cmd->status = h.status;
	cmd->sense_len = VDEV__MIN(h.sb_len_wr, cmd->sense_cap);
	cmd->host_status = h.host_status;
	cmd->driver_status = h.driver_status;
	cmd->resid = h.resid;
	cmd->duration_ms = h.duration;
	return 0;
}
