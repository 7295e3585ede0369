/* SPDX-License-Identifier: MIT */
/*
 * PASSTHROUGH LUNs: commands forwarded to a host SCSI device through the
 * LUN's "sg" backend (lib/block/blk_sg.c), as vdev/scsi.h describes.
 *
 * The bus keeps what belongs to the bus: task attributes and task
 * management (scsi_req.c, scsi_tmf.c run before and around us), REPORT
 * LUNS (the guest sees this bus's LUN inventory, not the host target's),
 * and its own unit attentions. Everything else goes to the device as it
 * is, with the guest's data buffers handed to SG_IO directly.
 *
 * Results: the device's status, sense and residual are passed on
 * untouched. Failures of the host path are mapped to what an initiator
 * recovers from (see map_host()).
 */
#include <errno.h>
#include <stdlib.h>

#include "block/blk_internal.h"
#include "scsi/scsi_internal.h"

#define PT_DEFAULT_TIMEOUT_MS 30000u

/* Command descriptors for task_finish()'s residual: the direction is all it needs. */
static const struct vdev__scsi_cmd pt_cmd[3] = {
	{ .dir = SCSI_DIR_NONE, .name = "pass-through" },
	{ .dir = SCSI_DIR_IN, .name = "pass-through (data-in)" },
	{ .dir = SCSI_DIR_OUT, .name = "pass-through (data-out)" },
};

int vdev__scsi_pt_check_opts(vdev_scsi_bus *bus, const struct vdev_scsi_lun_opts *o)
{
	struct vdev__blk_sg_info info;

	if (!o->blk || vdev__blk_sg_info(o->blk, &info)) {
		vdev_log(bus->ctx, VDEV_LOG_ERROR,
			 "scsi: a pass-through LUN needs an \"sg\" block backend");
		return -EINVAL;
	}
	if (o->sg_path || (o->sg_flags & ~VDEV_SCSI_SG_ALLOW_ALL) || o->block_size ||
	    o->reserved || o->reserved2) {
		vdev_log(bus->ctx, VDEV_LOG_ERROR,
			 "scsi: pass-through LUN options: sg_path, block_size and reserved fields "
			 "must be 0, sg_flags only VDEV_SCSI_SG_ALLOW_ALL");
		return -EINVAL;
	}
	return 0;
}

int vdev__scsi_pt_init(vdev_scsi_lun *l, const struct vdev_scsi_lun_opts *o)
{
	struct vdev__blk_sg_info info = { 0 };
	struct vdev__scsi_pt *pt = calloc(1, sizeof(*pt));

	if (!pt)
		return -ENOMEM;
	(void)vdev__blk_sg_info(o->blk, &info); /* checked by vdev__scsi_pt_check_opts() */
	if (o->sg_deny)
		memcpy(pt->deny, o->sg_deny, sizeof(pt->deny));
	else
		vdev__scsi_pt_default_deny(pt->deny);
	pt->allow_all = (o->sg_flags & VDEV_SCSI_SG_ALLOW_ALL) != 0;
	pt->timeout_ms = o->sg_timeout_ms ? o->sg_timeout_ms : PT_DEFAULT_TIMEOUT_MS;
	pt->lbs = info.lbs;
	pt->max_xfer = info.max_xfer;
	l->pt = pt;
	return 0;
}

void vdev__scsi_pt_free(vdev_scsi_lun *l)
{
	free(l->pt);
	l->pt = NULL;
}

/* ---- completion ---- */

static void set_timed_out(struct vdev__scsi_task *t)
{
	vdev_scsi_lun *l = t->lun;

	/*
	 * The host gave up on the command (and aborted it there). The guest
	 * gets CHECK CONDITION, ABORTED COMMAND, INTERNAL TARGET FAILURE: an
	 * initiator retries ABORTED COMMAND a few times before it fails the
	 * I/O (Linux scsi_check_sense(): NEEDS_RETRY), which is what a
	 * transient host hiccup needs; a response code like RESP_FAILURE
	 * would look like a transport fault, and BUSY would retry forever on a
	 * device that really hangs. (ASC 2Eh, COMMAND TIMEOUT, is avoided:
	 * Linux fails those fast as command duration limit timeouts.)
	 */
	vdev__scsi_check(t, VDEV_SCSI_SK_ABORTED_COMMAND, SCSI_ASC_INTERNAL_TARGET_FAILURE);
	vdev_log(t->bus->ctx, VDEV_LOG_WARN,
		 "scsi %u:%u: pass-through command %02xh timed out on the host", l->target, l->lun,
		 t->req->cdb[0]);
}

/* The host path failed (host or driver status): @return true if @t got its answer. */
static bool map_host(struct vdev__scsi_task *t, const struct vdev__blk_scsi_cmd *c)
{
	struct vdev_scsi_req *req = t->req;
	unsigned int drv = c->driver_status & VDEV__DRIVER_MASK;

	switch (c->host_status) {
	case VDEV__DID_OK:
		break;
	case VDEV__DID_TIME_OUT:
		set_timed_out(t);
		return true;
	case VDEV__DID_NO_CONNECT:
	case VDEV__DID_BAD_TARGET:
		req->response = VDEV_SCSI_RESP_BAD_TARGET; /* the device went away */
		return true;
	case VDEV__DID_RESET:
		req->response = VDEV_SCSI_RESP_RESET;
		return true;
	case VDEV__DID_BUS_BUSY:
	case VDEV__DID_SOFT_ERROR:
	case VDEV__DID_IMM_RETRY:
	case VDEV__DID_REQUEUE:
		req->status = VDEV_SCSI_BUSY; /* the host says: try again */
		return true;
	default:
		req->response = VDEV_SCSI_RESP_FAILURE;
		return true;
	}
	switch (drv) {
	case 0:
	case VDEV__DRIVER_SENSE:
		return false;
	case VDEV__DRIVER_TIMEOUT:
		set_timed_out(t);
		return true;
	case VDEV__DRIVER_BUSY:
	case VDEV__DRIVER_SOFT:
		req->status = VDEV_SCSI_BUSY;
		return true;
	default:
		if (c->status != VDEV_SCSI_GOOD)
			return false; /* the device answered: its status says more */
		req->response = VDEV_SCSI_RESP_FAILURE;
		return true;
	}
}

/* SG_IO itself failed with @err (nothing reached the device, or the host refused it). */
static void map_errno(struct vdev__scsi_task *t, int64_t err)
{
	vdev_scsi_lun *l = t->lun;

	switch (err) {
	case -ECANCELED:
		if (!t->abort_resp)
			t->abort_resp = VDEV_SCSI_RESP_ABORTED;
		return;
	case -ENOMEM:
	case -EAGAIN:
	case -EBUSY:
	case -EINTR:
		t->req->status = VDEV_SCSI_BUSY;
		return;
	case -EPERM:
	case -EACCES:
		/* The host kernel filters this opcode for us (e.g. a read-only open). */
		vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
		return;
	case -EINVAL:
	case -EOVERFLOW:
	case -E2BIG:
		/* E.g. more data than the host queue takes. */
		vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
		break;
	case -ENODEV:
	case -ENXIO:
		t->req->response = VDEV_SCSI_RESP_BAD_TARGET;
		break;
	default:
		t->req->response = VDEV_SCSI_RESP_FAILURE;
		break;
	}
	vdev_log(t->bus->ctx, VDEV_LOG_WARN, "scsi %u:%u: pass-through command %02xh: SG_IO: %s",
		 l->target, l->lun, t->req->cdb[0], vdev_strerror((int)err));
}

static uint64_t moved(uint64_t total, int32_t resid)
{
	if (resid <= 0)
		return total;
	return (uint64_t)resid < total ? total - (uint64_t)resid : 0;
}

static void pt_done(struct vdev__scsi_task *t, int64_t result)
{
	const struct vdev__blk_scsi_cmd *c = t->sgc;
	struct vdev_scsi_req *req = t->req;

	if (result < 0) {
		map_errno(t, result);
	} else if (!map_host(t, c)) {
		req->status = c->status;
		if (c->sense_len && req->sense_cap) {
			/* As the device wrote it (into req->sense), only capped. */
			req->sense_len = VDEV__MIN((uint32_t)c->sense_len, req->sense_cap);
		}
		if (c->dir == VDEV__BLK_SCSI_FROM_DEV)
			req->data_in_len = moved(t->in_total, c->resid);
		else if (c->dir == VDEV__BLK_SCSI_TO_DEV)
			req->data_out_len = moved(t->out_total, c->resid);
		vdev__scsi_pt_snoop(t);
	}
	vdev__scsi_task_finish(t);
}

/* ---- dispatch ---- */

/* A command the bus answers itself (REPORT LUNS, REQUEST SENSE for a unit attention). */
static void run_local(struct vdev__scsi_task *t)
{
	struct vdev_scsi_req *req = t->req;
	const struct vdev__scsi_cmd *c;
	bool bad_sa;

	c = vdev__scsi_cmd_lookup(req->cdb, &bad_sa);
	t->cmd = c;
	if (!c) {
		vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
	} else if (req->cdb_len < c->cdb_len) {
		req->response = VDEV_SCSI_RESP_FAILURE;
	} else if (!vdev__scsi_cdb_check(t)) {
		c->exec(t);
		return;
	}
	vdev__scsi_task_finish(t);
}

static bool denied(const struct vdev__scsi_pt *pt, uint8_t op)
{
	return !pt->allow_all && (pt->deny[op / 8] & (1u << (op % 8)));
}

/* Fill @t's SG_IO command and hand it to the backend; false after failing @t. */
static bool forward(struct vdev__scsi_task *t, unsigned int cdb_len)
{
	struct vdev_scsi_req *req = t->req;
	const struct vdev__scsi_pt *pt = t->lun->pt;
	struct vdev__blk_scsi_cmd *c;
	uint8_t dir = VDEV__BLK_SCSI_NONE;

	if (t->in_total && t->out_total) {
		/* SG_IO (v3) has no bidirectional commands. */
		vdev_log(t->bus->ctx, VDEV_LOG_WARN,
			 "scsi %u:%u: pass-through: bidirectional command %02xh refused",
			 t->lun->target, t->lun->lun, req->cdb[0]);
		req->response = VDEV_SCSI_RESP_FAILURE;
		return false;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		req->status = VDEV_SCSI_BUSY;
		return false;
	}
	t->buf = (uint8_t *)c; /* freed with the task */
	t->sgc = c;
	memcpy(c->cdb, req->cdb, cdb_len);
	c->cdb_len = (uint8_t)cdb_len;
	c->sense = req->sense;
	c->sense_cap = (uint8_t)VDEV__MIN(req->sense_cap, VDEV__BLK_SCSI_SENSE_MAX);
	c->timeout_ms = pt->timeout_ms;
	memset(&t->breq, 0, sizeof(t->breq));
	if (t->in_total) {
		dir = VDEV__BLK_SCSI_FROM_DEV;
		t->breq.iov = req->data_in;
		t->breq.iovcnt = req->data_in_cnt;
	} else if (t->out_total) {
		dir = VDEV__BLK_SCSI_TO_DEV;
		t->breq.iov = req->data_out;
		t->breq.iovcnt = req->data_out_cnt;
	}
	c->dir = dir;
	t->cmd = &pt_cmd[dir == VDEV__BLK_SCSI_FROM_DEV ? 1 : dir == VDEV__BLK_SCSI_TO_DEV ? 2 : 0];
	vdev__scsi_blk_submit(t, pt_done);
	return true;
}

void vdev__scsi_pt_dispatch(struct vdev__scsi_task *t)
{
	struct vdev_scsi_req *req = t->req;
	vdev_scsi_lun *l = t->lun;
	uint8_t op = req->cdb[0];
	unsigned int cdb_len;
	uint16_t code;

	if (t->attr == VDEV_SCSI_TASK_ACA) {
		/* No ACA support (NORMACA=0): SAM-5 §5.9, as for every LUN. */
		vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_INVALID_MESSAGE);
		goto out;
	}
	/* The bus's LUN inventory, and the bus's unit attention reported as sense. */
	if (op == 0xa0 || (op == 0x03 && vdev__scsi_ua_peek(l, &code))) {
		run_local(t);
		return;
	}
	/* SAM-5 §5.14: INQUIRY and REQUEST SENSE do not report a unit attention. */
	if (op != 0x12 && op != 0x03 && vdev__scsi_ua_take(l, &code)) {
		vdev__scsi_check(t, VDEV_SCSI_SK_UNIT_ATTENTION, code);
		goto out;
	}
	cdb_len = vdev__scsi_pt_cdb_len(req->cdb, req->cdb_len);
	if (cdb_len < 6) {
		req->response = VDEV_SCSI_RESP_FAILURE; /* the transport's CDB is too short */
		goto out;
	}
	if (denied(l->pt, op)) {
		vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
		goto out;
	}
	if (l->readonly && vdev__scsi_pt_is_write(op)) {
		vdev__scsi_check(t, VDEV_SCSI_SK_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED);
		goto out;
	}
	if (forward(t, cdb_len))
		return;
out:
	vdev__scsi_task_finish(t);
}
