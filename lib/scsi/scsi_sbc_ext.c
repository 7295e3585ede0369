/* SPDX-License-Identifier: MIT */
/*
 * SBC-4 disk commands beyond plain reads and writes: WRITE SAME 10/16,
 * UNMAP, VERIFY 10/16 and COMPARE AND WRITE.
 *
 * WRITE SAME with an all-zero block (or NDOB) becomes one backend
 * WRITE_ZEROES (with VDEV_BLK_F_UNMAP when the UNMAP bit asks to
 * deallocate); any other block is replicated into a bounce buffer and
 * written in chunks. UNMAP validates the whole parameter list before it
 * discards anything; discards the backend cannot do are dropped (LBPRZ is
 * 0: unmapped blocks read back unspecified). COMPARE AND WRITE holds an
 * exclusive range lock from its read to its write, so no write to an
 * overlapping range runs in between (SBC-4 §5.3).
 */
#include <errno.h>
#include <stdlib.h>

#include "scsi/scsi_internal.h"

static bool unsupported(int64_t result)
{
	return result == -EOPNOTSUPP || result == -ENOTSUP;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void data_phase_error(struct vdev__scsi_task *t)
{
	vdev__scsi_check(t, VDEV_SCSI_SK_ABORTED_COMMAND, SCSI_ASC_DATA_PHASE_ERROR);
}

static void miscompare(struct vdev__scsi_task *t, uint64_t offset)
{
	struct vdev__scsi_sense s = {
		.key = VDEV_SCSI_SK_MISCOMPARE,
		.code = SCSI_ASC_MISCOMPARE,
		.flags = SCSI_SENSE_F_INFO,
		.info = offset, /* from the start of the data-out buffer (SBC-4 §5.3) */
	};

	vdev__scsi_fail(t, &s);
}

/* ---- WRITE SAME (SBC-4 §5.48, §5.49) ---- */

static void ws_chunk_done(struct vdev__scsi_task *t, int64_t result);

static void ws_next(struct vdev__scsi_task *t)
{
	vdev_scsi_lun *l = t->lun;
	uint64_t len;

	if (t->pos == t->end) {
		vdev__scsi_task_finish(t);
		return;
	}
	len = VDEV__MIN(t->end - t->pos, (uint64_t)t->buf_len);
	t->iov_inline[0].iov_base = t->buf;
	t->iov_inline[0].iov_len = (size_t)len;
	memset(&t->breq, 0, sizeof(t->breq));
	t->breq.op = VDEV_BLK_WRITE;
	t->breq.flags = vdev__scsi_write_flags(l, false);
	t->breq.offset = (t->lba << l->bs_shift) + t->pos;
	t->breq.iov = t->iov_inline;
	t->breq.iovcnt = 1;
	t->aux = (uint32_t)len;
	vdev__scsi_blk_submit(t, ws_chunk_done);
}

static void ws_chunk_done(struct vdev__scsi_task *t, int64_t result)
{
	if (result < 0) {
		vdev__scsi_blk_error(t, result, false);
		vdev__scsi_task_finish(t);
		return;
	}
	t->pos += t->aux;
	ws_next(t);
}

/* Write the pattern in t->buf (one block, replicated to fill it) over the range. */
static void ws_pattern(struct vdev__scsi_task *t)
{
	uint32_t bs = scsi_bs(t->lun);

	for (size_t off = bs; off + bs <= t->buf_len; off += bs)
		memcpy(t->buf + off, t->buf, bs);
	t->pos = 0;
	t->end = t->nblk << t->lun->bs_shift;
	ws_next(t);
}

static void ws_zero_done(struct vdev__scsi_task *t, int64_t result)
{
	if (unsupported(result)) {
		/* No WRITE_ZEROES here: write zero blocks instead. */
		memset(t->buf, 0, t->buf_len);
		ws_pattern(t);
		return;
	}
	if (result < 0)
		vdev__scsi_blk_error(t, result, false);
	vdev__scsi_task_finish(t);
}

static void ws_go(struct vdev__scsi_task *t)
{
	vdev_scsi_lun *l = t->lun;

	if (!(t->aux & 1)) {
		ws_pattern(t);
		return;
	}
	memset(&t->breq, 0, sizeof(t->breq));
	t->breq.op = VDEV_BLK_WRITE_ZEROES;
	t->breq.offset = t->lba << l->bs_shift;
	t->breq.len = t->nblk << l->bs_shift;
	t->breq.flags = vdev__scsi_write_flags(l, false) | ((t->aux & 2) ? VDEV_BLK_F_UNMAP : 0);
	vdev__scsi_blk_submit(t, ws_zero_done);
}

void vdev__scsi_exec_write_same(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	vdev_scsi_lun *l = t->lun;
	bool ten = cdb[0] == 0x41;
	bool unmap = cdb[1] & 0x08, ndob = !ten && (cdb[1] & 0x01);
	uint64_t lba = ten ? scsi_be32(cdb + 2) : scsi_be64(cdb + 2);
	uint64_t n = ten ? scsi_be16(cdb + 7) : scsi_be32(cdb + 10);
	unsigned int len_byte = ten ? 7 : 10;
	uint32_t bs = scsi_bs(l);
	bool zero = true;

	/* WSNZ = 1: a zero count is invalid, as is one past MAXIMUM WRITE SAME LENGTH. */
	if (!n || n > (SCSI_MAX_WS_BYTES >> l->bs_shift)) {
		vdev__scsi_bad_cdb(t, len_byte, 7);
		goto out;
	}
	if (vdev__scsi_lba_check(t, lba, n))
		goto out;
	t->buf_len = (size_t)VDEV__MIN(n << l->bs_shift, (uint64_t)SCSI_CHUNK_BYTES);
	if (!ndob) {
		t->want = bs;
		if (t->out_total < bs) {
			data_phase_error(t);
			goto out;
		}
	}
	t->buf = calloc(1, t->buf_len);
	if (!t->buf) {
		t->req->status = VDEV_SCSI_BUSY;
		goto out;
	}
	if (!ndob) {
		t->req->data_out_len = vdev__scsi_iov_to_buf(t->req->data_out,
							     t->req->data_out_cnt, 0, t->buf, bs);
		zero = all_zero(t->buf, bs);
	}
	t->aux = (zero ? 1u : 0) | (unmap ? 2u : 0);
	vdev__scsi_range_lock(t, lba, n, false, ws_go);
	return;
out:
	vdev__scsi_task_finish(t);
}

/* ---- UNMAP (SBC-4 §5.32) ---- */

#define UNMAP_HDR 8
#define UNMAP_DESC 16

static void unmap_done(struct vdev__scsi_task *t, int64_t result);

static void unmap_next(struct vdev__scsi_task *t)
{
	vdev_scsi_lun *l = t->lun;

	for (; t->pos < t->end; t->pos++) {
		const uint8_t *d = t->buf + UNMAP_HDR + t->pos * UNMAP_DESC;
		uint32_t cnt = scsi_be32(d + 8);

		if (!cnt)
			continue;
		memset(&t->breq, 0, sizeof(t->breq));
		t->breq.op = VDEV_BLK_DISCARD;
		t->breq.offset = scsi_be64(d) << l->bs_shift;
		t->breq.len = (uint64_t)cnt << l->bs_shift;
		vdev__scsi_blk_submit(t, unmap_done);
		return;
	}
	vdev__scsi_task_finish(t);
}

static void unmap_done(struct vdev__scsi_task *t, int64_t result)
{
	if (result < 0 && !unsupported(result)) {
		vdev__scsi_blk_error(t, result, false);
		vdev__scsi_task_finish(t);
		return;
	}
	t->pos++;
	unmap_next(t);
}

static void unmap_go(struct vdev__scsi_task *t)
{
	unmap_next(t);
}

static void param_length_error(struct vdev__scsi_task *t)
{
	vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
}

/* Check the list in t->buf (@plen bytes); 0 with t->end = the descriptor count. */
static int unmap_parse(struct vdev__scsi_task *t, uint32_t plen)
{
	const uint8_t *p = t->buf;
	uint32_t dlen = scsi_be16(p), bdlen = scsi_be16(p + 2), ndesc;
	uint64_t total = 0;

	if (dlen + 2 > plen || bdlen + UNMAP_HDR > plen) {
		param_length_error(t); /* the lengths claim more than the list holds */
		return -1;
	}
	if (dlen < bdlen + UNMAP_HDR - 2) {
		vdev__scsi_bad_param(t, 0, 7);
		return -1;
	}
	for (unsigned int i = 4; i < UNMAP_HDR; i++) {
		if (p[i]) {
			vdev__scsi_bad_param(t, i, 7);
			return -1;
		}
	}
	/* A trailing partial descriptor is ignored (SBC-4 §5.32.2). */
	ndesc = bdlen / UNMAP_DESC;
	if (ndesc > SCSI_MAX_UNMAP_DESC) {
		vdev__scsi_bad_param(t, 2, 7);
		return -1;
	}
	for (uint32_t i = 0; i < ndesc; i++) {
		const uint8_t *d = p + UNMAP_HDR + i * UNMAP_DESC;
		unsigned int off = UNMAP_HDR + i * UNMAP_DESC;
		uint32_t cnt = scsi_be32(d + 8);

		if (scsi_be32(d + 12)) {
			vdev__scsi_bad_param(t, off + 12, 7);
			return -1;
		}
		if (vdev__scsi_lba_check(t, scsi_be64(d), cnt))
			return -1;
		total += cnt;
		if (total > SCSI_MAX_UNMAP_BLOCKS) {
			vdev__scsi_bad_param(t, off + 8, 7);
			return -1;
		}
	}
	t->pos = 0;
	t->end = ndesc;
	return 0;
}

void vdev__scsi_exec_unmap(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	uint32_t plen = scsi_be16(cdb + 7);

	if (!plen)
		goto out;
	if (plen < UNMAP_HDR) {
		param_length_error(t);
		goto out;
	}
	t->buf = malloc(plen);
	if (!t->buf) {
		t->req->status = VDEV_SCSI_BUSY;
		goto out;
	}
	if (vdev__scsi_fetch(t, t->buf, plen) || unmap_parse(t, plen))
		goto out;
	/* Shared over the whole LUN: waits for COMPARE AND WRITE only. */
	vdev__scsi_range_lock(t, 0, t->lun->nblocks, false, unmap_go);
	return;
out:
	vdev__scsi_task_finish(t);
}

/* ---- VERIFY (SBC-4 §5.34, §5.35) ---- */

static void verify_done(struct vdev__scsi_task *t, int64_t result);

static void verify_next(struct vdev__scsi_task *t)
{
	vdev_scsi_lun *l = t->lun;
	uint64_t len;

	if (t->pos == t->end) {
		if (t->aux)
			t->req->data_out_len = t->end;
		vdev__scsi_task_finish(t);
		return;
	}
	len = VDEV__MIN(t->end - t->pos, (uint64_t)t->buf_len);
	t->iov_inline[0].iov_base = t->buf;
	t->iov_inline[0].iov_len = (size_t)len;
	memset(&t->breq, 0, sizeof(t->breq));
	t->breq.op = VDEV_BLK_READ;
	t->breq.offset = (t->lba << l->bs_shift) + t->pos;
	t->breq.iov = t->iov_inline;
	t->breq.iovcnt = 1;
	vdev__scsi_blk_submit(t, verify_done);
}

static void verify_done(struct vdev__scsi_task *t, int64_t result)
{
	const struct vdev_scsi_req *req = t->req;
	size_t len = t->iov_inline[0].iov_len;

	if (result < 0) {
		vdev__scsi_blk_error(t, result, true);
		vdev__scsi_task_finish(t);
		return;
	}
	if (t->aux) {
		int64_t off = vdev__scsi_iov_cmp(req->data_out, req->data_out_cnt, t->pos, t->buf,
						 len);

		if (off >= 0) {
			miscompare(t, t->pos + (uint64_t)off);
			vdev__scsi_task_finish(t);
			return;
		}
	}
	t->pos += len;
	verify_next(t);
}

void vdev__scsi_exec_verify(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	vdev_scsi_lun *l = t->lun;
	bool ten = cdb[0] == 0x2f;
	uint8_t bytchk = (cdb[1] >> 1) & 3;
	uint64_t lba = ten ? scsi_be32(cdb + 2) : scsi_be64(cdb + 2);
	uint64_t n = ten ? scsi_be16(cdb + 7) : scsi_be32(cdb + 10);
	unsigned int len_byte = ten ? 7 : 10;
	uint64_t bytes;

	/* BYTCHK 10b is reserved; 11b (one block against each) is not supported. */
	if (bytchk > 1) {
		vdev__scsi_bad_cdb(t, 1, 2);
		goto out;
	}
	if (n > (SCSI_MAX_XFER_BYTES >> l->bs_shift)) {
		vdev__scsi_bad_cdb(t, len_byte, 7);
		goto out;
	}
	if (vdev__scsi_lba_check(t, lba, n) || !n)
		goto out;
	bytes = n << l->bs_shift;
	if (bytchk) {
		t->want = bytes;
		if (t->out_total < bytes) {
			data_phase_error(t);
			goto out;
		}
	}
	t->buf_len = (size_t)VDEV__MIN(bytes, (uint64_t)SCSI_CHUNK_BYTES);
	t->buf = malloc(t->buf_len);
	if (!t->buf) {
		t->req->status = VDEV_SCSI_BUSY;
		goto out;
	}
	t->aux = bytchk;
	t->lba = lba;
	t->pos = 0;
	t->end = bytes;
	verify_next(t);
	return;
out:
	vdev__scsi_task_finish(t);
}

/* ---- COMPARE AND WRITE (SBC-4 §5.3) ---- */

static void caw_written(struct vdev__scsi_task *t, int64_t result)
{
	if (result < 0)
		vdev__scsi_blk_error(t, result, false);
	else
		t->req->data_out_len = 2 * t->buf_len;
	vdev__scsi_task_finish(t);
}

static void caw_compare(struct vdev__scsi_task *t, int64_t result)
{
	struct vdev_scsi_req *req = t->req;
	vdev_scsi_lun *l = t->lun;
	int64_t off;

	if (result < 0) {
		vdev__scsi_blk_error(t, result, true);
		vdev__scsi_task_finish(t);
		return;
	}
	off = vdev__scsi_iov_cmp(req->data_out, req->data_out_cnt, 0, t->buf, t->buf_len);
	if (off >= 0) {
		miscompare(t, (uint64_t)off);
		vdev__scsi_task_finish(t);
		return;
	}
	if (vdev__scsi_iov_slice(t, req->data_out, req->data_out_cnt, t->buf_len, t->buf_len)) {
		req->status = VDEV_SCSI_BUSY;
		vdev__scsi_task_finish(t);
		return;
	}
	memset(&t->breq, 0, sizeof(t->breq));
	t->breq.op = VDEV_BLK_WRITE;
	t->breq.flags = vdev__scsi_write_flags(l, t->aux);
	t->breq.offset = t->lba << l->bs_shift;
	t->breq.iov = t->iov;
	t->breq.iovcnt = t->iovcnt;
	vdev__scsi_blk_submit(t, caw_written);
}

static void caw_read(struct vdev__scsi_task *t)
{
	memset(&t->breq, 0, sizeof(t->breq));
	t->iov_inline[0].iov_base = t->buf;
	t->iov_inline[0].iov_len = t->buf_len;
	t->breq.op = VDEV_BLK_READ;
	t->breq.offset = t->lba << t->lun->bs_shift;
	t->breq.iov = t->iov_inline;
	t->breq.iovcnt = 1;
	vdev__scsi_blk_submit(t, caw_compare);
}

void vdev__scsi_exec_compare_and_write(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	vdev_scsi_lun *l = t->lun;
	uint64_t lba = scsi_be64(cdb + 2);
	uint8_t n = cdb[13];

	if (n > SCSI_MAX_CAW_BLOCKS) {
		vdev__scsi_bad_cdb(t, 13, 7);
		goto out;
	}
	if (vdev__scsi_lba_check(t, lba, n) || !n)
		goto out;
	t->buf_len = (size_t)n << l->bs_shift;
	t->want = 2 * t->buf_len;
	if (t->out_total < 2 * t->buf_len) {
		data_phase_error(t);
		goto out;
	}
	t->buf = malloc(t->buf_len);
	if (!t->buf) {
		t->req->status = VDEV_SCSI_BUSY;
		goto out;
	}
	t->aux = (cdb[1] & 0x08) ? 1 : 0; /* FUA */
	vdev__scsi_range_lock(t, lba, n, true, caw_read);
	return;
out:
	vdev__scsi_task_finish(t);
}
