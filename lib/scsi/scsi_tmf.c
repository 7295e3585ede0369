/* SPDX-License-Identifier: MIT */
/*
 * Task management (SAM-5 §7): ABORT TASK, ABORT TASK SET, CLEAR TASK SET,
 * LUN RESET, I_T NEXUS RESET, QUERY TASK, QUERY TASK SET.
 *
 * Aborting is synchronous: the tasks are marked, the ones still waiting
 * in a queue finish at once, the ones with a backend request in flight
 * have it cancelled (vdev_blk_cancel) and are waited for on the LUN's
 * backend (vdev_blk_wait), whose completion runs finish them with the
 * abort response. A marked task never starts another backend request.
 */
#include <errno.h>

#include "scsi/scsi_internal.h"

/* A marked task still queued (it can finish at once), or NULL. */
static struct vdev__scsi_task *queued_marked(vdev_scsi_lun *l)
{
	for (struct vdev__scsi_task *t = l->tasks; t; t = t->next)
		if (t->abort_resp && (t->state == SCSI_T_WAIT_ORDER ||
				      t->state == SCSI_T_WAIT_RANGE || t->state == SCSI_T_WAIT_BLK))
			return t;
	return NULL;
}

static bool any_marked(vdev_scsi_lun *l, bool *busy)
{
	bool any = false;

	*busy = false;
	for (struct vdev__scsi_task *t = l->tasks; t; t = t->next) {
		if (!t->abort_resp)
			continue;
		any = true;
		if (t->blk_busy)
			*busy = true;
	}
	return any;
}

void vdev__scsi_lun_abort(vdev_scsi_lun *l, bool all, uint64_t tag, uint8_t resp)
{
	struct vdev__scsi_task *t;
	unsigned int waits = 0;
	bool busy;

	for (t = l->tasks; t; t = t->next)
		if ((all || t->req->tag == tag) && !t->abort_resp)
			t->abort_resp = resp;
	/* Finishing one may start or finish others: look again each time. */
	while ((t = queued_marked(l))) {
		vdev__scsi_unqueue(t);
		vdev__scsi_task_finish(t);
	}
	for (t = l->tasks; t; t = t->next)
		if (t->abort_resp && t->blk_busy)
			(void)vdev_blk_cancel(l->blk, &t->breq);
	while (any_marked(l, &busy)) {
		int rc;

		if (!busy) {
			/* Cannot happen: a running task is in a handler or with the backend. */
			vdev_log(l->bus->ctx, VDEV_LOG_ERROR,
				 "scsi %u:%u: aborted task neither queued nor in flight",
				 l->target, l->lun);
			break;
		}
		rc = vdev_blk_wait(l->blk, 1000);
		if (rc == -ETIMEDOUT && ++waits % 10 == 0)
			vdev_log(l->bus->ctx, VDEV_LOG_WARN,
				 "scsi %u:%u: still waiting for aborted I/O after %u s",
				 l->target, l->lun, waits);
		else if (rc < 0 && rc != -ETIMEDOUT) {
			/* They still complete, aborted, from a later poll. */
			vdev_log(l->bus->ctx, VDEV_LOG_ERROR,
				 "scsi %u:%u: waiting for aborted I/O failed: %s", l->target,
				 l->lun, vdev_strerror(rc));
			break;
		}
	}
}

static int task_exists(vdev_scsi_lun *l, bool all, uint64_t tag)
{
	for (struct vdev__scsi_task *t = l->tasks; t; t = t->next)
		if (all || t->req->tag == tag)
			return 1;
	return 0;
}

static int each_nexus_reset(vdev_scsi_lun *l, void *arg)
{
	(void)arg;
	vdev__scsi_lun_abort(l, true, 0, VDEV_SCSI_RESP_RESET);
	/* I_T nexus loss: a unit attention and the medium lock goes (SPC-4 §6.15). */
	vdev__scsi_ua_set_reset(l, SCSI_ASC_I_T_NEXUS_LOSS);
	l->prevent = 0;
	return 0;
}

int vdev_scsi_tmf(vdev_scsi_bus *bus, enum vdev_scsi_tmf tmf, uint16_t target, uint16_t lun,
		  uint64_t tag)
{
	struct vdev__scsi_target *tg;
	vdev_scsi_lun *l = NULL;

	if (!bus)
		return -EINVAL;
	if (bus->cb_depth)
		return -EBUSY;
	if (tmf < VDEV_SCSI_TMF_ABORT_TASK || tmf > VDEV_SCSI_TMF_QUERY_TASK_SET)
		return VDEV_SCSI_TMF_REJECTED;
	tg = target < VDEV_SCSI_MAX_TARGETS ? bus->targets[target] : NULL;
	if (!tg)
		return VDEV_SCSI_TMF_INCORRECT_LUN;
	if (tmf == VDEV_SCSI_TMF_I_T_NEXUS_RESET) {
		vdev__scsi_target_each(tg, each_nexus_reset, NULL);
		return VDEV_SCSI_TMF_COMPLETE;
	}
	l = vdev_scsi_lun_find(bus, target, lun);
	if (!l)
		return VDEV_SCSI_TMF_INCORRECT_LUN;
	switch (tmf) {
	case VDEV_SCSI_TMF_ABORT_TASK:
		vdev__scsi_lun_abort(l, false, tag, VDEV_SCSI_RESP_ABORTED);
		break;
	case VDEV_SCSI_TMF_ABORT_TASK_SET:
	case VDEV_SCSI_TMF_CLEAR_TASK_SET:
		/* One I_T nexus: the task set and the nexus's tasks are the same. */
		vdev__scsi_lun_abort(l, true, 0, VDEV_SCSI_RESP_ABORTED);
		break;
	case VDEV_SCSI_TMF_LUN_RESET:
		vdev__scsi_lun_abort(l, true, 0, VDEV_SCSI_RESP_RESET);
		/* SAM-5 §6.3.3: the unit attention, and the medium lock goes (SPC-4 §6.15). */
		vdev__scsi_ua_set_reset(l, SCSI_ASC_BUS_DEVICE_RESET);
		l->prevent = 0;
		break;
	case VDEV_SCSI_TMF_QUERY_TASK:
		return task_exists(l, false, tag) ? VDEV_SCSI_TMF_SUCCEEDED
						  : VDEV_SCSI_TMF_COMPLETE;
	case VDEV_SCSI_TMF_QUERY_TASK_SET:
		return task_exists(l, true, 0) ? VDEV_SCSI_TMF_SUCCEEDED : VDEV_SCSI_TMF_COMPLETE;
	default:
		return VDEV_SCSI_TMF_REJECTED;
	}
	return VDEV_SCSI_TMF_COMPLETE;
}
