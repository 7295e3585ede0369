/* SPDX-License-Identifier: MIT */
/*
 * SBC-4 disk commands, the data path: READ and WRITE 6/10/12/16, READ
 * CAPACITY 10/16, SYNCHRONIZE CACHE 10/16 and GET LBA STATUS.
 *
 * Reads go straight into the transport's data-in buffers and writes come
 * straight from its data-out buffers (no copy). A write is reported only
 * when the backend completed it; FUA (or WCE = 0) makes the backend write
 * durable before it completes. Range checks cannot wrap: they compare the
 * count with the room left after the LBA.
 */
#include "scsi/scsi_internal.h"

int vdev__scsi_lba_check(struct vdev__scsi_task *t, uint64_t lba, uint64_t n)
{
	uint64_t cap = t->lun->nblocks;

	if (lba > cap || n > cap - lba) {
		vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
		return -1;
	}
	return 0;
}

uint32_t vdev__scsi_write_flags(const vdev_scsi_lun *l, bool fua)
{
	return fua || !l->wce ? VDEV_BLK_F_FUA : 0;
}

static void rw_done(struct vdev__scsi_task *t, int64_t result)
{
	struct vdev_scsi_req *req = t->req;
	bool is_read = t->cmd->dir == SCSI_DIR_IN;

	if (result < 0)
		vdev__scsi_blk_error(t, result, is_read);
	else if (is_read)
		req->data_in_len = (uint64_t)result;
	else
		req->data_out_len = (uint64_t)result;
	vdev__scsi_task_finish(t);
}

static void write_go(struct vdev__scsi_task *t)
{
	vdev__scsi_blk_submit(t, rw_done);
}

/* Point t->breq at the first @len bytes of the request's buffers. */
static int set_iov(struct vdev__scsi_task *t, const struct iovec *iov, unsigned int cnt,
		   uint64_t total, uint64_t len)
{
	if (total == len) {
		t->breq.iov = iov;
		t->breq.iovcnt = cnt;
		return 0;
	}
	if (vdev__scsi_iov_slice(t, iov, cnt, 0, len)) {
		t->req->status = VDEV_SCSI_BUSY;
		return -1;
	}
	t->breq.iov = t->iov;
	t->breq.iovcnt = t->iovcnt;
	return 0;
}

void vdev__scsi_exec_rw(struct vdev__scsi_task *t)
{
	struct vdev_scsi_req *req = t->req;
	const uint8_t *cdb = req->cdb;
	vdev_scsi_lun *l = t->lun;
	bool is_write = t->cmd->dir == SCSI_DIR_OUT, fua = cdb[1] & 0x08;
	unsigned int len_byte;
	uint64_t lba, n, bytes;

	switch (cdb[0]) {
	case 0x08:
	case 0x0a:
		lba = (uint64_t)(cdb[1] & 0x1f) << 16 | scsi_be16(cdb + 2);
		n = cdb[4] ? cdb[4] : 256; /* SBC-4 §5.16: 0 means 256 blocks */
		len_byte = 4;
		fua = false;
		break;
	case 0x28:
	case 0x2a:
		lba = scsi_be32(cdb + 2);
		n = scsi_be16(cdb + 7);
		len_byte = 7;
		break;
	case 0xa8:
	case 0xaa:
		lba = scsi_be32(cdb + 2);
		n = scsi_be32(cdb + 6);
		len_byte = 6;
		break;
	default: /* 0x88, 0x8a */
		lba = scsi_be64(cdb + 2);
		n = scsi_be32(cdb + 10);
		len_byte = 10;
		break;
	}
	/* SBC-4 §6.6.4: past MAXIMUM TRANSFER LENGTH is an invalid field. */
	if (n > (SCSI_MAX_XFER_BYTES >> l->bs_shift)) {
		vdev__scsi_bad_cdb(t, len_byte, 7);
		goto out;
	}
	if (vdev__scsi_lba_check(t, lba, n))
		goto out;
	bytes = n << l->bs_shift;
	t->want = bytes;
	if (!n)
		goto out;
	memset(&t->breq, 0, sizeof(t->breq));
	t->breq.offset = lba << l->bs_shift;
	if (is_write) {
		if (t->out_total < bytes) {
			/* Less data than the CDB announced: nothing is written. */
			vdev__scsi_check(t, VDEV_SCSI_SK_ABORTED_COMMAND,
					 SCSI_ASC_DATA_PHASE_ERROR);
			goto out;
		}
		if (set_iov(t, req->data_out, req->data_out_cnt, t->out_total, bytes))
			goto out;
		t->breq.op = VDEV_BLK_WRITE;
		t->breq.flags = vdev__scsi_write_flags(l, fua);
		vdev__scsi_range_lock(t, lba, n, false, write_go);
		return;
	}
	/* Data-in buffers shorter than the transfer: read what fits (overflow residual). */
	if (t->in_total < bytes) {
		bytes = t->in_total & ~(uint64_t)(vdev_blk_alignment(l->blk) - 1);
		if (!bytes)
			goto out;
	}
	if (set_iov(t, req->data_in, req->data_in_cnt, t->in_total, bytes))
		goto out;
	t->breq.op = VDEV_BLK_READ;
	vdev__scsi_blk_submit(t, rw_done);
	return;
out:
	vdev__scsi_task_finish(t);
}

/* SBC-4 §5.20: the obsolete LBA must be 0 unless the obsolete PMI bit is set. */
static int check_pmi(struct vdev__scsi_task *t, uint64_t lba, bool pmi)
{
	if (!pmi && lba) {
		vdev__scsi_bad_cdb(t, 2, 7);
		return -1;
	}
	if (!t->lun->nblocks) {
		vdev__scsi_check(t, VDEV_SCSI_SK_NOT_READY, vdev__scsi_no_medium_code(t->lun));
		return -1;
	}
	return 0;
}

void vdev__scsi_exec_read_capacity10(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	vdev_scsi_lun *l = t->lun;
	uint8_t b[8];

	if (!check_pmi(t, scsi_be32(cdb + 2), cdb[8] & 0x01)) {
		uint64_t last = l->nblocks - 1;

		/* Too big for 32 bits: FFFFFFFFh sends the initiator to READ CAPACITY(16). */
		scsi_put_be32(b, last > UINT32_MAX ? UINT32_MAX : (uint32_t)last);
		scsi_put_be32(b + 4, scsi_bs(l));
		vdev__scsi_reply(t, b, sizeof(b), sizeof(b));
	}
	vdev__scsi_task_finish(t);
}

void vdev__scsi_exec_read_capacity16(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	vdev_scsi_lun *l = t->lun;
	uint8_t b[32];

	if (!check_pmi(t, scsi_be64(cdb + 2), cdb[14] & 0x01)) {
		memset(b, 0, sizeof(b));
		scsi_put_be64(b, l->nblocks - 1);
		scsi_put_be32(b + 8, scsi_bs(l));
		/* LBPME: thin provisioned (UNMAP works); LBPRZ 0: unmapped reads unspecified. */
		if (!l->readonly)
			b[14] = 0x80;
		vdev__scsi_reply(t, b, sizeof(b), scsi_be32(cdb + 10));
	}
	vdev__scsi_task_finish(t);
}

static void flush_done(struct vdev__scsi_task *t, int64_t result)
{
	if (result < 0)
		vdev__scsi_blk_error(t, result, false);
	vdev__scsi_task_finish(t);
}

/*
 * SBC-4 §5.26: the range is checked, then the whole cache is flushed (a
 * backend flush has no range). IMMED is accepted but status still waits
 * for the flush.
 */
void vdev__scsi_exec_sync_cache(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	bool ten = cdb[0] == 0x35;
	uint64_t lba = ten ? scsi_be32(cdb + 2) : scsi_be64(cdb + 2);
	uint64_t n = ten ? scsi_be16(cdb + 7) : scsi_be32(cdb + 10);

	if (vdev__scsi_lba_check(t, lba, n)) {
		vdev__scsi_task_finish(t);
		return;
	}
	memset(&t->breq, 0, sizeof(t->breq));
	t->breq.op = VDEV_BLK_FLUSH;
	vdev__scsi_blk_submit(t, flush_done);
}

/* SBC-4 §5.7: everything is mapped (the backends do not report allocation). */
void vdev__scsi_exec_get_lba_status(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	vdev_scsi_lun *l = t->lun;
	uint64_t lba = scsi_be64(cdb + 2);
	uint8_t b[24];

	if (lba >= l->nblocks) {
		vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	} else {
		memset(b, 0, sizeof(b));
		scsi_put_be32(b, sizeof(b) - 4);
		scsi_put_be64(b + 8, lba);
		scsi_put_be32(b + 16, (uint32_t)VDEV__MIN(l->nblocks - lba, (uint64_t)UINT32_MAX));
		b[20] = 0x00; /* PROVISIONING STATUS: mapped */
		vdev__scsi_reply(t, b, sizeof(b), scsi_be32(cdb + 10));
	}
	vdev__scsi_task_finish(t);
}
