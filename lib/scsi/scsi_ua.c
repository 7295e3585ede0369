/* SPDX-License-Identifier: MIT */
/*
 * Unit attention conditions (SAM-5 §5.14, SPC-4 §5.14 "unit attention
 * condition sense data"). A LUN holds at most one of each kind; a command
 * other than INQUIRY, REPORT LUNS and REQUEST SENSE reports the one with
 * the highest priority and clears it (UA_INTLCK_CTRL = 00b), in this
 * order:
 *   1. 29h/xx  POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (and its
 *              LUN reset / I_T nexus loss variants): highest (SAM-5);
 *   2. 2Ah/09h CAPACITY DATA HAS CHANGED;
 *   3. 28h/00h NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED, or
 *      3Ah/00h MEDIUM NOT PRESENT (a CD-ROM's medium inserted or removed by
 *      the VMM: the newer replaces the older, scsi_mmc.c);
 *   4. 3Fh/0Eh REPORTED LUNS DATA HAS CHANGED (kept per target, see
 *              struct vdev__scsi_target: reporting it on one LUN clears it
 *              on every LUN of the target, as LUICLR=1 requires).
 * A newer reset replaces an older one's qualifier.
 */
#include "scsi/scsi_internal.h"

void vdev__scsi_ua_set_reset(vdev_scsi_lun *l, uint16_t code)
{
	l->ua |= SCSI_UA_RESET;
	l->ua_reset_ascq = (uint8_t)code;
}

void vdev__scsi_ua_set(vdev_scsi_lun *l, uint8_t bit)
{
	l->ua |= bit;
}

bool vdev__scsi_luns_changed_pending(const vdev_scsi_lun *l)
{
	const struct vdev__scsi_target *tg = vdev__scsi_target_of(l);

	return tg->luns_acked != tg->luns_gen && l->added_gen != tg->luns_gen;
}

void vdev__scsi_luns_changed(struct vdev__scsi_target *tg)
{
	tg->luns_gen++;
}

void vdev__scsi_luns_acked(struct vdev__scsi_target *tg)
{
	tg->luns_acked = tg->luns_gen;
}

bool vdev__scsi_ua_peek(vdev_scsi_lun *l, uint16_t *code)
{
	if (l->ua & SCSI_UA_RESET) {
		*code = (uint16_t)(0x2900 | l->ua_reset_ascq);
		return true;
	}
	if (l->ua & SCSI_UA_CAPACITY) {
		*code = SCSI_ASC_CAPACITY_CHANGED;
		return true;
	}
	if (l->ua & SCSI_UA_MEDIUM) {
		*code = SCSI_ASC_MEDIUM_MAY_HAVE_CHANGED;
		return true;
	}
	if (l->ua & SCSI_UA_NO_MEDIUM) {
		*code = SCSI_ASC_MEDIUM_NOT_PRESENT;
		return true;
	}
	if (vdev__scsi_luns_changed_pending(l)) {
		*code = SCSI_ASC_LUNS_CHANGED;
		return true;
	}
	return false;
}

bool vdev__scsi_ua_take(vdev_scsi_lun *l, uint16_t *code)
{
	if (!vdev__scsi_ua_peek(l, code))
		return false;
	if (*code >> 8 == 0x29) {
		l->ua &= (uint8_t)~SCSI_UA_RESET;
		l->ua_reset_ascq = 0;
	}
	else if (*code == SCSI_ASC_CAPACITY_CHANGED)
		l->ua &= (uint8_t)~SCSI_UA_CAPACITY;
	else if (*code == SCSI_ASC_MEDIUM_MAY_HAVE_CHANGED)
		l->ua &= (uint8_t)~SCSI_UA_MEDIUM;
	else if (*code == SCSI_ASC_MEDIUM_NOT_PRESENT)
		l->ua &= (uint8_t)~SCSI_UA_NO_MEDIUM;
	else
		vdev__scsi_luns_acked(vdev__scsi_target_of(l));
	return true;
}
