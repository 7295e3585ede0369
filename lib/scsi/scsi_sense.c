/* SPDX-License-Identifier: MIT */
/*
 * Sense data (SPC-4 §4.5): fixed format (70h, 18 bytes) or descriptor
 * format (72h) with the information (00h) and sense-key specific (02h)
 * descriptors. The control mode page's D_SENSE bit picks the format for a
 * LUN; REQUEST SENSE picks it with its DESC bit.
 */
#include <errno.h>

#include "scsi/scsi_internal.h"

#define FIXED_LEN 18

size_t vdev__scsi_sense_encode(const struct vdev__scsi_sense *s, bool desc, uint8_t *out)
{
	size_t n;

	if (!desc) {
		memset(out, 0, FIXED_LEN);
		out[0] = 0x70;
		out[2] = s->key & 0xf;
		/* INFORMATION is 4 bytes here: VALID only if the value fits. */
		if ((s->flags & SCSI_SENSE_F_INFO) && s->info <= UINT32_MAX) {
			out[0] |= 0x80;
			scsi_put_be32(out + 3, (uint32_t)s->info);
		}
		out[7] = FIXED_LEN - 8;
		out[12] = (uint8_t)(s->code >> 8);
		out[13] = (uint8_t)s->code;
		if (s->flags & SCSI_SENSE_F_SKS)
			memcpy(out + 15, s->sks, 3);
		return FIXED_LEN;
	}
	memset(out, 0, 8);
	out[0] = 0x72;
	out[1] = s->key & 0xf;
	out[2] = (uint8_t)(s->code >> 8);
	out[3] = (uint8_t)s->code;
	n = 8;
	if (s->flags & SCSI_SENSE_F_INFO) {
		/* Information descriptor (SPC-4 §4.5.2.2). */
		memset(out + n, 0, 12);
		out[n] = 0x00;
		out[n + 1] = 0x0a;
		out[n + 2] = 0x80;
		scsi_put_be64(out + n + 4, s->info);
		n += 12;
	}
	if (s->flags & SCSI_SENSE_F_SKS) {
		/* Sense key specific descriptor (SPC-4 §4.5.2.3). */
		memset(out + n, 0, 8);
		out[n] = 0x02;
		out[n + 1] = 0x06;
		memcpy(out + n + 4, s->sks, 3);
		n += 8;
	}
	out[7] = (uint8_t)(n - 8);
	return n;
}

void vdev__scsi_fail(struct vdev__scsi_task *t, const struct vdev__scsi_sense *s)
{
	struct vdev_scsi_req *req = t->req;
	uint8_t buf[VDEV_SCSI_SENSE_SIZE];
	size_t n = vdev__scsi_sense_encode(s, t->lun && t->lun->dsense, buf);

	req->status = VDEV_SCSI_CHECK_CONDITION;
	if (n > req->sense_cap)
		n = req->sense_cap;
	if (n)
		memcpy(req->sense, buf, n);
	req->sense_len = (uint32_t)n;
}

void vdev__scsi_check(struct vdev__scsi_task *t, uint8_t key, uint16_t code)
{
	struct vdev__scsi_sense s = { .key = key, .code = code };

	vdev__scsi_fail(t, &s);
}

/* SKSV, C/D, BPV + bit pointer, field pointer (SPC-4 §4.5.2.4.2). */
static void field_pointer(struct vdev__scsi_task *t, uint16_t code, bool cdb, unsigned int byte,
			  int bit)
{
	struct vdev__scsi_sense s = {
		.key = VDEV_SCSI_SK_ILLEGAL_REQUEST,
		.code = code,
		.flags = SCSI_SENSE_F_SKS,
	};

	s.sks[0] = 0x80 | (cdb ? 0x40 : 0);
	if (bit >= 0)
		s.sks[0] |= 0x08 | (uint8_t)(bit & 7);
	scsi_put_be16(s.sks + 1, (uint16_t)(byte > 0xffff ? 0xffff : byte));
	vdev__scsi_fail(t, &s);
}

void vdev__scsi_bad_cdb(struct vdev__scsi_task *t, unsigned int byte, int bit)
{
	field_pointer(t, SCSI_ASC_INVALID_FIELD_IN_CDB, true, byte, bit);
}

void vdev__scsi_bad_param(struct vdev__scsi_task *t, unsigned int byte, int bit)
{
	field_pointer(t, SCSI_ASC_INVALID_FIELD_IN_PARAM, false, byte, bit);
}

void vdev__scsi_blk_error(struct vdev__scsi_task *t, int64_t err, bool is_read)
{
	vdev_scsi_lun *l = t->lun;

	switch (err) {
	case -ECANCELED:
		if (!t->abort_resp)
			t->abort_resp = VDEV_SCSI_RESP_ABORTED;
		return;
	case -EIO:
		vdev__scsi_check(t, VDEV_SCSI_SK_MEDIUM_ERROR,
				 is_read ? SCSI_ASC_UNRECOVERED_READ_ERROR : SCSI_ASC_WRITE_ERROR);
		break;
	case -ENOSPC:
	case -EDQUOT:
		/* Thin provisioning ran out of host space (SBC-4 §4.7.3.7). */
		vdev__scsi_check(t, VDEV_SCSI_SK_DATA_PROTECT, SCSI_ASC_SPACE_ALLOC_FAILED_WP);
		break;
	case -EROFS:
		vdev__scsi_check(t, VDEV_SCSI_SK_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED);
		break;
	default:
		vdev__scsi_check(t, VDEV_SCSI_SK_HARDWARE_ERROR, SCSI_ASC_INTERNAL_TARGET_FAILURE);
		break;
	}
	if (l)
		vdev_log(t->bus->ctx, VDEV_LOG_WARN, "scsi %u:%u: %s: backend error %s",
			 l->target, l->lun, t->cmd ? t->cmd->name : "?",
			 vdev_strerror((int)err));
}
