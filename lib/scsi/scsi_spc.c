/* SPDX-License-Identifier: MIT */
/*
 * SPC-4 commands that need no backend data: TEST UNIT READY, REQUEST
 * SENSE, REPORT LUNS, REPORT SUPPORTED OPERATION CODES, START STOP UNIT
 * and PREVENT ALLOW MEDIUM REMOVAL. (INQUIRY is scsi_inquiry.c, the mode
 * pages scsi_mode.c, reservations scsi_pr.c.)
 */
#include <errno.h>
#include <stdlib.h>

#include "scsi/scsi_internal.h"

void vdev__scsi_exec_test_unit_ready(struct vdev__scsi_task *t)
{
	/* The generic checks said everything (NOT READY when stopped). */
	vdev__scsi_task_finish(t);
}

/* SPC-4 §6.39: the pending UA (cleared), the unit's state, or NO SENSE. */
void vdev__scsi_exec_request_sense(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	struct vdev__scsi_sense s = { .key = VDEV_SCSI_SK_NO_SENSE, .code = SCSI_ASC_NO_SENSE };
	vdev_scsi_lun *l = t->lun;
	uint8_t buf[VDEV_SCSI_SENSE_SIZE];
	uint16_t code;
	size_t n;

	if (!l && !t->wlun) {
		s.key = VDEV_SCSI_SK_ILLEGAL_REQUEST;
		s.code = SCSI_ASC_LUN_NOT_SUPPORTED;
	} else if (l && vdev__scsi_ua_take(l, &code)) {
		s.key = VDEV_SCSI_SK_UNIT_ATTENTION;
		s.code = code;
	} else if (l && l->stopped) {
		s.key = VDEV_SCSI_SK_NOT_READY;
		s.code = SCSI_ASC_NOT_READY_INIT_REQUIRED;
	} else if (l && !l->nblocks) {
		s.key = VDEV_SCSI_SK_NOT_READY;
		s.code = vdev__scsi_no_medium_code(l);
	}
	n = vdev__scsi_sense_encode(&s, cdb[1] & 1, buf);
	vdev__scsi_reply(t, buf, n, cdb[4]);
	vdev__scsi_task_finish(t);
}

/* ---- REPORT LUNS (SPC-4 §6.33) ---- */

struct luns_fill {
	uint8_t *p;
};

static int put_lun(vdev_scsi_lun *l, void *arg)
{
	struct luns_fill *f = arg;

	/* SAM-5 §4.7: peripheral device addressing below 256, flat space above. */
	memset(f->p, 0, 8);
	if (l->lun < 256) {
		f->p[1] = (uint8_t)l->lun;
	} else {
		f->p[0] = (uint8_t)(0x40 | (l->lun >> 8));
		f->p[1] = (uint8_t)l->lun;
	}
	f->p += 8;
	return 0;
}

void vdev__scsi_exec_report_luns(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	struct vdev__scsi_target *tg = t->bus->targets[t->req->target];
	uint32_t alloc = scsi_be32(cdb + 6);
	uint8_t select = cdb[2];
	struct luns_fill f;
	size_t count, len;
	uint8_t *buf;

	if (select > 2) {
		vdev__scsi_bad_cdb(t, 2, 7);
		goto out;
	}
	if (alloc < 16) {
		vdev__scsi_bad_cdb(t, 6, 7);
		goto out;
	}
	count = (select != 1 ? tg->nluns : 0) + (select != 0 ? 1 : 0);
	len = 8 + 8 * count;
	buf = malloc(len);
	if (!buf) {
		t->req->status = VDEV_SCSI_BUSY;
		goto out;
	}
	memset(buf, 0, 8);
	scsi_put_be32(buf, (uint32_t)(8 * count));
	f.p = buf + 8;
	if (select != 1)
		vdev__scsi_target_each(tg, put_lun, &f);
	if (select != 0) {
		memset(f.p, 0, 8);
		scsi_put_be16(f.p, VDEV_SCSI_WLUN_REPORT_LUNS);
	}
	vdev__scsi_reply(t, buf, len, alloc);
	free(buf);
	/* The nexus has the new inventory: REPORTED LUNS DATA HAS CHANGED is done. */
	vdev__scsi_luns_acked(tg);
out:
	vdev__scsi_task_finish(t);
}

/* ---- REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35) ---- */

#define RSOC_TIMEOUTS_LEN 12

/* Command timeouts descriptor: no timeouts specified (0). */
static void put_timeouts(uint8_t *p)
{
	memset(p, 0, RSOC_TIMEOUTS_LEN);
	scsi_put_be16(p, RSOC_TIMEOUTS_LEN - 2);
}

static void rsoc_all(struct vdev__scsi_task *t, bool rctd, uint32_t alloc)
{
	size_t each = 8 + (rctd ? RSOC_TIMEOUTS_LEN : 0);
	unsigned int n = vdev__scsi_cmd_count();
	size_t len = 4 + each * n;
	uint8_t *buf = calloc(1, len), *p;

	if (!buf) {
		t->req->status = VDEV_SCSI_BUSY;
		return;
	}
	p = buf + 4;
	for (unsigned int i = 0; i < n; i++) {
		const struct vdev__scsi_cmd *c = vdev__scsi_cmd_at(i);

		if (!vdev__scsi_cmd_fits(c, t->lun))
			continue; /* another device type's command */
		p[0] = c->opcode;
		if (c->flags & SCSI_CF_SA) {
			scsi_put_be16(p + 2, c->sa);
			p[5] |= 0x01; /* SERVACTV */
		}
		if (rctd) {
			p[5] |= 0x02; /* CTDP */
			put_timeouts(p + 8);
		}
		scsi_put_be16(p + 6, c->cdb_len);
		p += each;
	}
	len = (size_t)(p - buf);
	scsi_put_be32(buf, (uint32_t)(len - 4));
	vdev__scsi_reply(t, buf, len, alloc);
	free(buf);
}

static const struct vdev__scsi_cmd *rsoc_find(const vdev_scsi_lun *l, uint8_t op, bool with_sa,
					      uint16_t sa)
{
	for (unsigned int i = 0; i < vdev__scsi_cmd_count(); i++) {
		const struct vdev__scsi_cmd *c = vdev__scsi_cmd_at(i);

		if (c->opcode != op || !vdev__scsi_cmd_fits(c, l))
			continue;
		if (!(c->flags & SCSI_CF_SA))
			return c;
		if (with_sa && c->sa == sa)
			return c;
	}
	return NULL;
}

void vdev__scsi_exec_rsoc(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	bool rctd = cdb[2] & 0x80;
	uint8_t opts = cdb[2] & 0x07, op = cdb[3];
	uint16_t sa = scsi_be16(cdb + 4);
	uint32_t alloc = scsi_be32(cdb + 6);
	const struct vdev__scsi_cmd *c = NULL;
	uint8_t buf[4 + 16 + RSOC_TIMEOUTS_LEN];
	size_t len;

	switch (opts) {
	case 0:
		rsoc_all(t, rctd, alloc);
		goto out;
	case 1:
		/* One command by opcode: wrong for opcodes with service actions. */
		if (vdev__scsi_opcode_has_sa(op)) {
			vdev__scsi_bad_cdb(t, 3, 7);
			goto out;
		}
		c = rsoc_find(t->lun, op, false, 0);
		break;
	case 2:
		/* Opcode and service action: wrong for opcodes without. */
		if (rsoc_find(t->lun, op, false, 0) && !vdev__scsi_opcode_has_sa(op)) {
			vdev__scsi_bad_cdb(t, 3, 7);
			goto out;
		}
		c = rsoc_find(t->lun, op, true, sa);
		break;
	case 3:
		c = rsoc_find(t->lun, op, true, sa);
		break;
	default:
		vdev__scsi_bad_cdb(t, 2, 2);
		goto out;
	}
	memset(buf, 0, sizeof(buf));
	if (!c) {
		buf[1] = 0x01; /* SUPPORT: not supported */
		len = 4;
	} else {
		buf[1] = 0x03; /* SUPPORT: supported as the standard says */
		scsi_put_be16(buf + 2, c->cdb_len);
		memcpy(buf + 4, c->usage, c->cdb_len);
		len = 4 + c->cdb_len;
		if (rctd) {
			buf[1] |= 0x80; /* CTDP */
			put_timeouts(buf + len);
			len += RSOC_TIMEOUTS_LEN;
		}
	}
	vdev__scsi_reply(t, buf, len, alloc);
out:
	vdev__scsi_task_finish(t);
}

/* ---- START STOP UNIT (SBC-4 §5.25) ---- */

static void stop_flushed(struct vdev__scsi_task *t, int64_t result)
{
	if (result < 0)
		vdev__scsi_blk_error(t, result, false);
	else
		t->lun->stopped = 1;
	vdev__scsi_task_finish(t);
}

void vdev__scsi_exec_start_stop(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	vdev_scsi_lun *l = t->lun;
	uint8_t pc = cdb[4] >> 4;
	bool noflush = cdb[4] & 0x04, loej = cdb[4] & 0x02, start = cdb[4] & 0x01;

	/* IMMED (byte 1) is accepted; status comes when the work is done. */
	if (cdb[3] & 0x0f) {
		vdev__scsi_bad_cdb(t, 3, 3); /* no power condition modifiers */
		goto out;
	}
	switch (pc) {
	case 0x0:
		break;
	case 0x1: /* ACTIVE */
	case 0x2: /* IDLE */
	case 0x3: /* STANDBY */
	case 0x7: /* LU_CONTROL */
	case 0xa: /* FORCE_IDLE_0 */
	case 0xb: /* FORCE_STANDBY_0 */
		/* No power conditions to emulate; START and LOEJ are ignored. */
		goto out;
	default:
		vdev__scsi_bad_cdb(t, 4, 7);
		goto out;
	}
	if (loej && l->type == VDEV_SCSI_LUN_CDROM) {
		vdev__scsi_mmc_load_eject(t, start);
		return;
	}
	if (start) {
		l->stopped = 0;
		goto out;
	}
	if (loej && l->prevent) {
		vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_REMOVAL_PREVENTED);
		goto out;
	}
	if (noflush || l->stopped || !l->nblocks) {
		l->stopped = 1;
		goto out;
	}
	/* Stopping writes the cache back first (NO_FLUSH = 0). */
	memset(&t->breq, 0, sizeof(t->breq));
	t->breq.op = VDEV_BLK_FLUSH;
	vdev__scsi_blk_submit(t, stop_flushed);
	return;
out:
	vdev__scsi_task_finish(t);
}

/* ---- PREVENT ALLOW MEDIUM REMOVAL (SPC-4 §6.15) ---- */

void vdev__scsi_exec_prevent_allow(struct vdev__scsi_task *t)
{
	uint8_t prevent = t->req->cdb[4] & 0x03;

	/*
	 * 10b and 11b are obsolete (MMC's persistent prevent): refused for
	 * disks. A CD-ROM accepts them; the persistent bit has no effect here
	 * (MMC-6 §6.13: it only gates eject requests, which the lock does too).
	 */
	if (t->lun->type == VDEV_SCSI_LUN_CDROM)
		t->lun->prevent = prevent & 1;
	else if (prevent > 1)
		vdev__scsi_bad_cdb(t, 4, 1);
	else
		t->lun->prevent = prevent;
	vdev__scsi_task_finish(t);
}
