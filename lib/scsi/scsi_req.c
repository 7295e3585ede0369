/* SPDX-License-Identifier: MIT */
/*
 * The request lifecycle: submit, task attributes, the generic checks, the
 * range lock that makes COMPARE AND WRITE atomic, backend submission with
 * a full-queue park, and finishing.
 *
 * Task attributes (SAM-5 §8.6), per LUN: a SIMPLE task starts unless an
 * ORDERED task is running or tasks wait ahead of it; an ORDERED task
 * starts when nothing runs and nothing waits ahead, and blocks everything
 * after it until it completed; HEAD OF QUEUE starts at once. Waiting tasks
 * start in arrival order (vdev__scsi_lun_kick()).
 *
 * Re-entrancy: the transport's done hook may submit; a finishing task
 * kicks its LUN after the hook returned, and a kick that runs inside
 * another kick only asks the outer one to go round again, so the stack
 * stays flat however long the queues.
 */
#include <errno.h>
#include <stdlib.h>

#include "block/blk_internal.h" /* vdev__blk_scsi_submit() for pass-through LUNs */
#include "scsi/scsi_internal.h"

/* ---- queues ---- */

static void q_push(struct vdev__scsi_taskq *q, struct vdev__scsi_task *t)
{
	t->qnext = NULL;
	if (q->tail)
		q->tail->qnext = t;
	else
		q->head = t;
	q->tail = t;
}

static struct vdev__scsi_task *q_pop(struct vdev__scsi_taskq *q)
{
	struct vdev__scsi_task *t = q->head;

	if (t) {
		q->head = t->qnext;
		if (!q->head)
			q->tail = NULL;
		t->qnext = NULL;
	}
	return t;
}

static void q_remove(struct vdev__scsi_taskq *q, struct vdev__scsi_task *t)
{
	struct vdev__scsi_task *prev = NULL;

	for (struct vdev__scsi_task *p = q->head; p; prev = p, p = p->qnext) {
		if (p != t)
			continue;
		if (prev)
			prev->qnext = p->qnext;
		else
			q->head = p->qnext;
		if (q->tail == p)
			q->tail = prev;
		p->qnext = NULL;
		return;
	}
}

void vdev__scsi_unqueue(struct vdev__scsi_task *t)
{
	vdev_scsi_lun *l = t->lun;

	switch (t->state) {
	case SCSI_T_WAIT_ORDER:
		q_remove(&l->order_q, t);
		break;
	case SCSI_T_WAIT_RANGE:
		q_remove(&l->range_q, t);
		if (t->range_excl)
			l->n_excl_wait--;
		break;
	case SCSI_T_WAIT_BLK:
		q_remove(&l->park_q, t);
		break;
	default:
		return;
	}
	t->state = SCSI_T_RUNNING;
}

/* ---- task objects ---- */

static struct vdev__scsi_task *task_get(vdev_scsi_bus *bus)
{
	struct vdev__scsi_task *t = bus->free_tasks;

	if (t) {
		bus->free_tasks = t->next;
		bus->n_free_tasks--;
		memset(t, 0, sizeof(*t));
		return t;
	}
	return calloc(1, sizeof(*t));
}

static void task_put(vdev_scsi_bus *bus, struct vdev__scsi_task *t)
{
	if (bus->n_free_tasks >= SCSI_TASK_CACHE) {
		free(t);
		return;
	}
	t->next = bus->free_tasks;
	bus->free_tasks = t;
	bus->n_free_tasks++;
}

void vdev__scsi_task_cache_free(vdev_scsi_bus *bus)
{
	while (bus->free_tasks) {
		struct vdev__scsi_task *t = bus->free_tasks;

		bus->free_tasks = t->next;
		free(t);
	}
	bus->n_free_tasks = 0;
}

/* ---- range lock ---- */

static bool overlap(const struct vdev__scsi_task *a, const struct vdev__scsi_task *b)
{
	/* Ranges were checked against the capacity: no wrap. */
	return a->lba < b->lba + b->nblk && b->lba < a->lba + a->nblk;
}

static bool conflicts(const struct vdev__scsi_task *a, const struct vdev__scsi_task *b)
{
	return (a->range_excl || b->range_excl) && overlap(a, b);
}

/*
 * Must @t wait: for a holder it conflicts with, or a waiter queued before
 * it (all waiters when @t is not queued) that it conflicts with?
 */
static bool range_blocked(const vdev_scsi_lun *l, const struct vdev__scsi_task *t)
{
	if (!t->range_excl && !l->n_excl && !l->n_excl_wait)
		return false; /* shared ranges never conflict with each other */
	for (const struct vdev__scsi_task *h = l->ranges; h; h = h->rnext)
		if (conflicts(h, t))
			return true;
	for (const struct vdev__scsi_task *w = l->range_q.head; w && w != t; w = w->qnext)
		if (conflicts(w, t))
			return true;
	return false;
}

static void range_hold(vdev_scsi_lun *l, struct vdev__scsi_task *t)
{
	t->range_held = true;
	t->rprev = NULL;
	t->rnext = l->ranges;
	if (l->ranges)
		l->ranges->rprev = t;
	l->ranges = t;
	if (t->range_excl)
		l->n_excl++;
}

static void range_release(vdev_scsi_lun *l, struct vdev__scsi_task *t)
{
	if (t->rprev)
		t->rprev->rnext = t->rnext;
	else
		l->ranges = t->rnext;
	if (t->rnext)
		t->rnext->rprev = t->rprev;
	t->rnext = t->rprev = NULL;
	t->range_held = false;
	if (t->range_excl)
		l->n_excl--;
}

void vdev__scsi_range_lock(struct vdev__scsi_task *t, uint64_t lba, uint64_t n, bool excl,
			   vdev__scsi_resume_fn resume)
{
	vdev_scsi_lun *l = t->lun;

	t->lba = lba;
	t->nblk = n;
	t->range_excl = excl;
	t->resume = resume;
	/* A waiter is passed only by what conflicts with nothing ahead of it. */
	if (!range_blocked(l, t)) {
		range_hold(l, t);
		resume(t);
		return;
	}
	t->state = SCSI_T_WAIT_RANGE;
	if (excl)
		l->n_excl_wait++;
	q_push(&l->range_q, t);
}

/* Start the first range waiter that may go now; @return false if none. */
static bool range_grant_one(vdev_scsi_lun *l)
{
	for (struct vdev__scsi_task *t = l->range_q.head; t; t = t->qnext) {
		if (range_blocked(l, t))
			continue;
		q_remove(&l->range_q, t);
		if (t->range_excl)
			l->n_excl_wait--;
		t->state = SCSI_T_RUNNING;
		range_hold(l, t);
		t->resume(t);
		return true;
	}
	return false;
}

/* ---- backend requests ---- */

static void blk_done(struct vdev_blk_req *breq, int64_t result)
{
	struct vdev__scsi_task *t = breq->user;
	vdev_scsi_lun *l = t->lun;

	t->blk_busy = false;
	if (t->abort_resp)
		vdev__scsi_task_finish(t);
	else
		t->step(t, result);
	/* A backend slot is free again: parked requests may go. */
	vdev__scsi_lun_kick(l);
}

/* Hand @t->breq to the backend: a pass-through command or a block request. */
static int blk_go(vdev_scsi_lun *l, struct vdev__scsi_task *t)
{
	if (t->sgc)
		return vdev__blk_scsi_submit(l->blk, &t->breq, t->sgc);
	return vdev_blk_submit(l->blk, &t->breq);
}

void vdev__scsi_blk_submit(struct vdev__scsi_task *t, vdev__scsi_step_fn step)
{
	vdev_scsi_lun *l = t->lun;
	int rc;

	t->step = step;
	t->breq.done = blk_done;
	t->breq.user = t;
	memset(t->breq.internal, 0, sizeof(t->breq.internal));
	if (l->park_q.head) {
		/* Keep the order: others wait for a slot already. */
		t->state = SCSI_T_WAIT_BLK;
		q_push(&l->park_q, t);
		return;
	}
	rc = blk_go(l, t);
	if (!rc) {
		t->blk_busy = true;
		return;
	}
	if (rc == -EAGAIN && vdev_blk_inflight(l->blk)) {
		t->state = SCSI_T_WAIT_BLK;
		q_push(&l->park_q, t);
		return;
	}
	step(t, rc);
}

/* ---- starting ---- */

static bool ua_blocks(struct vdev__scsi_task *t)
{
	vdev_scsi_lun *l = t->lun;
	uint16_t code;

	if (!l || (t->cmd->flags & SCSI_CF_UA_OK))
		return false;
	if (!l->ua && !vdev__scsi_luns_changed_pending(l))
		return false;
	if (!vdev__scsi_ua_take(l, &code))
		return false;
	vdev__scsi_check(t, VDEV_SCSI_SK_UNIT_ATTENTION, code);
	return true;
}

/* The checks every command goes through (SAM-5 §5.14, SPC-4 §4.6.1, §5.12). */
static void dispatch(struct vdev__scsi_task *t)
{
	struct vdev_scsi_req *req = t->req;
	vdev_scsi_lun *l = t->lun;
	const struct vdev__scsi_cmd *c;
	bool bad_sa;

	if (l && l->pt) {
		vdev__scsi_pt_dispatch(t); /* a host device: it has its own command set */
		return;
	}
	c = vdev__scsi_cmd_lookup(req->cdb, &bad_sa);
	if (c && l && !vdev__scsi_cmd_fits(c, l))
		c = NULL; /* not in this device type's command set */
	t->cmd = c;
	if (!l && !t->wlun && (!c || !(c->flags & SCSI_CF_NO_LUN))) {
		vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_LUN_NOT_SUPPORTED);
		goto out;
	}
	if (!c || (t->wlun && !(c->flags & SCSI_CF_WLUN))) {
		if (bad_sa && !t->wlun)
			vdev__scsi_bad_cdb(t, 1, 4);
		else
			vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
		goto out;
	}
	if (req->cdb_len < c->cdb_len) {
		/* The transport's CDB is shorter than the command's. */
		req->response = VDEV_SCSI_RESP_FAILURE;
		goto out;
	}
	if (t->attr == VDEV_SCSI_TASK_ACA) {
		/* No ACA support (NORMACA=0): SAM-5 §5.9. */
		vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_INVALID_MESSAGE);
		goto out;
	}
	if (ua_blocks(t))
		goto out;
	if (vdev__scsi_cdb_check(t))
		goto out;
	if (!l) {
		c->exec(t);
		return;
	}
	if (vdev__scsi_pr_conflict(l, c)) {
		req->status = VDEV_SCSI_RESERVATION_CONFLICT;
		goto out;
	}
	if (c->flags & SCSI_CF_MEDIUM) {
		if (l->stopped) {
			vdev__scsi_check(t, VDEV_SCSI_SK_NOT_READY,
					 SCSI_ASC_NOT_READY_INIT_REQUIRED);
			goto out;
		}
		if (!l->nblocks) {
			vdev__scsi_check(t, VDEV_SCSI_SK_NOT_READY, vdev__scsi_no_medium_code(l));
			goto out;
		}
	}
	if ((c->flags & SCSI_CF_WRITE) && l->readonly) {
		vdev__scsi_check(t, VDEV_SCSI_SK_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED);
		goto out;
	}
	c->exec(t);
	return;
out:
	vdev__scsi_task_finish(t);
}

static void task_start(struct vdev__scsi_task *t)
{
	vdev_scsi_lun *l = t->lun;

	t->state = SCSI_T_RUNNING;
	if (l) {
		t->active = true;
		l->n_active++;
		if (t->attr == VDEV_SCSI_TASK_ORDERED)
			l->n_ordered++;
	}
	if (t->abort_resp) {
		vdev__scsi_task_finish(t);
		return;
	}
	dispatch(t);
}

/* May @t start now, by its task attribute? */
static bool order_allows(const vdev_scsi_lun *l, const struct vdev__scsi_task *t)
{
	switch (t->attr) {
	case VDEV_SCSI_TASK_ORDERED:
		return !l->n_active;
	case VDEV_SCSI_TASK_HEAD_OF_QUEUE:
		return true;
	default:
		return !l->n_ordered;
	}
}

void vdev__scsi_lun_kick(vdev_scsi_lun *l)
{
	struct vdev__scsi_task *t;

	if (l->kicking) {
		l->kick_again = 1;
		return;
	}
	l->kicking = 1;
	do {
		l->kick_again = 0;
		/* 1. Requests waiting for a backend slot, in order. */
		while ((t = l->park_q.head)) {
			int rc = blk_go(l, t);

			if (rc == -EAGAIN && vdev_blk_inflight(l->blk))
				break;
			q_pop(&l->park_q);
			t->state = SCSI_T_RUNNING;
			if (!rc) {
				t->blk_busy = true;
				continue;
			}
			t->step(t, rc);
		}
		/* 2. Range lock waiters, in order among those that conflict. */
		while (l->range_q.head && range_grant_one(l))
			;
		/* 3. Tasks held back by task attributes. */
		while ((t = l->order_q.head) && order_allows(l, t)) {
			q_pop(&l->order_q);
			task_start(t);
		}
	} while (l->kick_again);
	l->kicking = 0;
}

/* ---- finishing ---- */

void vdev__scsi_task_finish(struct vdev__scsi_task *t)
{
	struct vdev_scsi_req *req = t->req;
	vdev_scsi_lun *l = t->lun;
	vdev_scsi_bus *bus = t->bus;
	uint64_t total;

	if (t->abort_resp) {
		req->response = t->abort_resp;
		req->status = VDEV_SCSI_TASK_ABORTED;
		req->sense_len = 0;
		req->data_in_len = 0;
		req->data_out_len = 0;
	}
	/* Residual: the buffer in the command's direction minus what moved (or meant to). */
	if (t->cmd && t->cmd->dir == SCSI_DIR_OUT)
		total = t->out_total;
	else if (t->cmd && t->cmd->dir == SCSI_DIR_IN)
		total = t->in_total;
	else
		total = t->in_total ? t->in_total : t->out_total;
	if (t->want > total)
		req->residual = -(int64_t)VDEV__MIN(t->want - total, (uint64_t)INT64_MAX);
	else if (t->cmd && t->cmd->dir == SCSI_DIR_OUT)
		req->residual = (int64_t)VDEV__MIN(total - req->data_out_len, (uint64_t)INT64_MAX);
	else
		req->residual = (int64_t)VDEV__MIN(total - req->data_in_len, (uint64_t)INT64_MAX);
	if (l) {
		if (t->range_held)
			range_release(l, t);
		if (t->active) {
			l->n_active--;
			if (t->attr == VDEV_SCSI_TASK_ORDERED)
				l->n_ordered--;
		}
		if (t->prev)
			t->prev->next = t->next;
		else
			l->tasks = t->next;
		if (t->next)
			t->next->prev = t->prev;
	}
	free(t->buf);
	if (t->iov && t->iov != t->iov_inline)
		free(t->iov);
	task_put(bus, t);
	bus->cb_depth++;
	req->done(req);
	bus->cb_depth--;
	if (l)
		vdev__scsi_lun_kick(l);
}

/* ---- submit ---- */

static void answer_now(vdev_scsi_bus *bus, struct vdev_scsi_req *req, uint8_t response,
		       uint8_t status)
{
	req->response = response;
	req->status = status;
	bus->cb_depth++;
	req->done(req);
	bus->cb_depth--;
}

int vdev_scsi_submit(vdev_scsi_bus *bus, struct vdev_scsi_req *req)
{
	struct vdev__scsi_target *tg;
	struct vdev__scsi_task *t;
	vdev_scsi_lun *l = NULL;

	if (!bus || !req || !req->done || (req->data_in_cnt && !req->data_in) ||
	    (req->data_out_cnt && !req->data_out) || (req->sense_cap && !req->sense))
		return -EINVAL;
	req->status = VDEV_SCSI_GOOD;
	req->response = VDEV_SCSI_RESP_OK;
	req->sense_len = 0;
	req->data_in_len = 0;
	req->data_out_len = 0;
	req->residual = 0;
	memset(req->internal, 0, sizeof(req->internal));
	if (req->cdb_len < 6 || req->cdb_len > VDEV_SCSI_MAX_CDB ||
	    req->task_attr > VDEV_SCSI_TASK_ACA) {
		answer_now(bus, req, VDEV_SCSI_RESP_FAILURE, VDEV_SCSI_GOOD);
		return 0;
	}
	tg = req->target < VDEV_SCSI_MAX_TARGETS ? bus->targets[req->target] : NULL;
	if (!tg) {
		answer_now(bus, req, VDEV_SCSI_RESP_BAD_TARGET, VDEV_SCSI_GOOD);
		return 0;
	}
	t = task_get(bus);
	if (!t) {
		answer_now(bus, req, VDEV_SCSI_RESP_OK, VDEV_SCSI_BUSY);
		return 0;
	}
	t->req = req;
	t->bus = bus;
	t->attr = req->task_attr;
	t->in_total = vdev__scsi_iov_total(req->data_in, req->data_in_cnt);
	t->out_total = vdev__scsi_iov_total(req->data_out, req->data_out_cnt);
	req->internal[0] = (uint64_t)(uintptr_t)t;
	if (req->lun == VDEV_SCSI_WLUN_REPORT_LUNS)
		t->wlun = true;
	else if (req->lun < VDEV_SCSI_MAX_LUNS && tg->chunk[req->lun >> SCSI_LUN_CHUNK_SHIFT])
		l = tg->chunk[req->lun >> SCSI_LUN_CHUNK_SHIFT][req->lun & (SCSI_LUN_CHUNK - 1)];
	if (!l) {
		/* A missing LUN or the W-LUN: no queue, every command completes at once. */
		task_start(t);
		return 0;
	}
	t->lun = l;
	t->next = l->tasks;
	if (l->tasks)
		l->tasks->prev = t;
	l->tasks = t;
	if (t->attr != VDEV_SCSI_TASK_HEAD_OF_QUEUE && (l->order_q.head || !order_allows(l, t))) {
		t->state = SCSI_T_WAIT_ORDER;
		q_push(&l->order_q, t);
		return 0;
	}
	task_start(t);
	return 0;
}

