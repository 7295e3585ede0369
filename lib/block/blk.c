/* SPDX-License-Identifier: MIT */
/*
 * Block backends, the common layer: open/close, submit with validation and
 * queue-depth accounting, plug/unplug, cancel, and completion delivery on
 * the backend's thread (vdev/block.h). Drivers and engines live in the
 * other blk_*.c files; see blk_internal.h for how they fit.
 *
 * The event fd, the engine and the delivery of completions belong to the
 * backend's loop (blk_loop.c): a private one unless opts->loop names a
 * shared one.
 */
#include <errno.h>
#include <stdlib.h>

#include "block/blk_internal.h"

void vdev__blk_done_push(vdev_blk *b, struct blk_slot *s, int64_t result)
{
	vdev_blk_loop *l = b->loop;

	s->result = result;
	s->where = BLK_DONE;
	s->next = NULL;
	*b->done_tail = s;
	b->done_tail = &s->next;
	if (!b->ready) {
		b->ready = true;
		b->rnext = NULL;
		*l->ready_tail = b;
		l->ready_tail = &b->rnext;
	}
}

void vdev__blk_complete(vdev_blk *b, struct blk_slot *s, int64_t result)
{
	vdev__blk_done_push(b, s, result);
	vdev__blk_loop_signal(b->loop);
}

/* The in-flight slot of @req, or NULL if @req is not in flight here. */
static struct blk_slot *slot_of(const vdev_blk *b, const struct vdev_blk_req *req)
{
	uintptr_t p = (uintptr_t)req->internal[0];
	uintptr_t base = (uintptr_t)b->slots;
	struct blk_slot *s;

	if (p < base || p >= base + (uintptr_t)b->qd * sizeof(*s) ||
	    (p - base) % sizeof(*s))
		return NULL;
	s = &b->slots[(p - base) / sizeof(*s)];
	if (s->where == BLK_FREE || s->req != req)
		return NULL;
	return s;
}

static void slot_free(vdev_blk *b, struct blk_slot *s)
{
	s->where = BLK_FREE;
	s->req = NULL;
	s->next = b->free;
	b->free = s;
	b->inflight--;
	b->loop->inflight--;
	if (b->eng->external_signal)
		b->loop->eng_inflight--;
}

/* Hand every plugged request to the engine, with one kick. */
void vdev__blk_flush_plug(vdev_blk *b)
{
	struct blk_slot *s = b->plug_head, *next;
	bool queued = false;

	b->plug_head = NULL;
	b->plug_tail = &b->plug_head;
	for (; s; s = next) {
		int rc;

		next = s->next;
		s->next = NULL;
		s->where = BLK_ENGINE;
		rc = b->eng->queue(b, s);
		if (rc)
			vdev__blk_complete(b, s, rc); /* submit already said 0: report it here */
		else
			queued = true;
	}
	if (queued)
		b->eng->kick(b);
}

static void backend_free(vdev_blk *b)
{
	if (b->drv_close)
		b->drv_close(b);
	if (b->loop) {
		vdev__blk_loop_detach(b->loop, b);
		if (b->own_loop)
			vdev__blk_loop_destroy(b->loop);
	}
	free(b->slots);
	free(b);
}

/*
 * Join opts->loop, or make the private loop. File backends take the
 * loop's engine; memory/null (inline) and sg (the loop's sg pool) bring
 * their own.
 */
static int join_loop(vdev_blk *b, const struct vdev_blk_opts *o)
{
	vdev_blk_loop *l = o->loop;
	bool own_eng = b->eng != NULL;
	int rc;

	if (!l) {
		rc = vdev__blk_loop_create(b->ctx, own_eng ? VDEV_BLK_ENGINE_INLINE : o->engine,
					   b->qd, o->threads, o->path ? o->path : o->driver, true,
					   &l);
		if (rc)
			return rc;
		b->own_loop = true;
	} else if (!own_eng && (!l->eng || (o->engine != VDEV_BLK_ENGINE_AUTO &&
					     o->engine != (uint32_t)l->engine))) {
		return -ENOTSUP; /* the loop's engine is the one file backends get */
	}
	vdev__blk_loop_attach(l, b);
	if (b->eng == &vdev__blk_sg_ops)
		return vdev__blk_loop_sg_pool(l, o->threads ? o->threads : BLK_DEFAULT_THREADS);
	if (!own_eng) {
		b->eng = l->eng;
		b->engine = l->engine;
	}
	return 0;
}

static int check_opts(const struct vdev_blk_opts *o)
{
	if (!o->driver || o->reserved || o->engine > VDEV_BLK_ENGINE_INLINE)
		return -EINVAL;
	if (o->queue_depth > BLK_MAX_QD || o->threads > BLK_MAX_THREADS)
		return -EINVAL;
	return 0;
}

int vdev__blk_open_hooked(vdev_ctx *ctx, const struct vdev_blk_opts *opts,
			  const struct vdev__blk_sg_hooks *hooks, vdev_blk **out)
{
	struct vdev_blk_opts o;
	vdev_blk *b;
	int rc;

	if (!ctx || !opts || !out)
		return -EINVAL;
	*out = NULL;
	if (vdev__copy_sized(&o, sizeof(o), opts))
		return -EINVAL;
	rc = check_opts(&o);
	if (rc)
		return rc;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ctx = ctx;
	b->file.fd = -1;
	b->align = 1;
	b->readonly = o.readonly != 0;
	b->qd = o.queue_depth ? o.queue_depth : BLK_DEFAULT_QD;
	b->plug_tail = &b->plug_head;
	b->done_tail = &b->done_head;
	b->slots = calloc(b->qd, sizeof(*b->slots));
	if (!b->slots) {
		backend_free(b);
		return -ENOMEM;
	}
	for (uint32_t i = b->qd; i-- > 0;) {
		b->slots[i].owner = b;
		b->slots[i].next = b->free;
		b->free = &b->slots[i];
	}

	if (!strcmp(o.driver, "memory"))
		rc = vdev__blk_memory_open(b, &o);
	else if (!strcmp(o.driver, "null"))
		rc = vdev__blk_null_open(b, &o);
	else if (!strcmp(o.driver, "file"))
		rc = vdev__blk_file_open(b, &o);
	else if (!strcmp(o.driver, "sg"))
		rc = vdev__blk_sg_open(b, &o, hooks);
	else
		rc = -EINVAL;
	if (!rc)
		rc = join_loop(b, &o);
	if (rc) {
		backend_free(b);
		return rc;
	}
	*out = b;
	return 0;
}

int vdev_blk_open(vdev_ctx *ctx, const struct vdev_blk_opts *opts, vdev_blk **out)
{
	return vdev__blk_open_hooked(ctx, opts, NULL, out);
}

/*
 * Wait for @b's own requests only: the other backends' completions stay
 * on their done lists for the VMM's next loop poll (the event fd is left
 * readable for them), so closing one LUN never runs another's callbacks.
 */
void vdev__blk_finish_close(vdev_blk *b)
{
	vdev_blk_loop *l = b->loop;

	b->plug_depth = 0;
	vdev__blk_flush_plug(b);
	l->in_poll++;
	while (b->inflight) {
		vdev__blk_loop_reap(l);
		if (!vdev__blk_run_done(b) && b->inflight)
			vdev__blk_loop_sleep(l, -1);
	}
	if (b->own_loop) {
		l->in_poll--;
		backend_free(b); /* and its loop */
		return;
	}
	if (l->ready_head)
		vdev__blk_loop_signal(l);
	backend_free(b);
	vdev__blk_loop_leave(l); /* closes our callbacks asked for */
}

void vdev_blk_close(vdev_blk *b)
{
	if (!b || b->closing)
		return; /* closing already: called again from a completion */
	b->closing = true;
	/*
	 * From a completion callback: poll is still walking its list, so the
	 * outermost vdev_blk_poll() finishes the close before it returns.
	 */
	if (b->loop->in_poll) {
		b->cnext = b->loop->closing;
		b->loop->closing = b;
		return;
	}
	vdev__blk_finish_close(b);
}

/*
 * Take a slot for the validated @req (@len bytes) and start or plug it;
 * or, with @inject (an injected error, blk_fault.c), complete it with
 * that at once: delivered from the next poll, the host never sees it.
 */
static int submit_checked(vdev_blk *b, struct vdev_blk_req *req, uint64_t len, int inject)
{
	struct blk_slot *s;
	int rc;

	if (slot_of(b, req))
		return -EBUSY; /* already in flight: the caller would get two completions */
	if (b->inflight >= b->qd || !b->free)
		return -EAGAIN;
	if (b->eng->external_signal && b->loop->eng_inflight >= b->loop->qd)
		return -EAGAIN; /* the shared ring is sized for this many */

	s = b->free;
	b->free = s->next;
	b->inflight++;
	b->loop->inflight++;
	if (b->eng->external_signal)
		b->loop->eng_inflight++;
	s->req = req;
	s->next = NULL;
	s->result = 0;
	s->done = 0;
	s->total = len;
	s->idx = 0;
	s->off = 0;
	s->cancel = 0;
	s->helper = 0;
	s->retries = 0;
	s->pstate = 0;
	s->gen++;
	req->internal[0] = (uint64_t)(uintptr_t)s;

	if (inject) {
		vdev__blk_complete(b, s, inject);
		return 0;
	}
	if (b->plug_depth) {
		s->where = BLK_PLUGGED;
		*b->plug_tail = s;
		b->plug_tail = &s->next;
		return 0;
	}
	s->where = BLK_ENGINE;
	rc = b->eng->queue(b, s);
	if (rc) {
		req->internal[0] = 0;
		slot_free(b, s);
		return rc;
	}
	b->eng->kick(b);
	return 0;
}

int vdev_blk_submit(vdev_blk *b, struct vdev_blk_req *req)
{
	uint64_t len;
	int rc;

	if (!b || !req)
		return -EINVAL;
	if (b->closing)
		return -ESHUTDOWN;
	if (b->sg)
		return -EOPNOTSUPP; /* an "sg" backend carries SCSI commands only */
	rc = vdev__blk_validate(b, req, &len);
	if (rc)
		return rc;
	return submit_checked(b, req, len, b->nfaults ? vdev__blk_fault_match(b, req, len) : 0);
}

int vdev__blk_scsi_submit(vdev_blk *b, struct vdev_blk_req *req, struct vdev__blk_scsi_cmd *cmd)
{
	uint64_t len;
	int rc;

	if (!b || !req || !cmd)
		return -EINVAL;
	if (b->closing)
		return -ESHUTDOWN;
	rc = vdev__blk_validate_scsi(b, req, cmd, &len);
	if (rc)
		return rc;
	/* The op and the command travel with the request to the worker. */
	req->op = VDEV__BLK_OP_SCSI;
	req->internal[1] = (uint64_t)(uintptr_t)cmd;
	return submit_checked(b, req, len, 0);
}

void vdev_blk_plug(vdev_blk *b)
{
	if (b)
		b->plug_depth++;
}

void vdev_blk_unplug(vdev_blk *b)
{
	if (!b || !b->plug_depth)
		return;
	if (--b->plug_depth == 0)
		vdev__blk_flush_plug(b);
}

int vdev_blk_cancel(vdev_blk *b, struct vdev_blk_req *req)
{
	struct blk_slot *s, **pp;

	if (!b || !req)
		return -EINVAL;
	s = slot_of(b, req);
	if (!s)
		return -ENOENT;
	switch (s->where) {
	case BLK_PLUGGED:
		for (pp = &b->plug_head; *pp != s; pp = &(*pp)->next)
			;
		*pp = s->next;
		if (b->plug_tail == &s->next)
			b->plug_tail = pp;
		vdev__blk_complete(b, s, -ECANCELED);
		break;
	case BLK_ENGINE:
		b->eng->cancel(b, s);
		break;
	default:
		break; /* BLK_DONE: completes with its result */
	}
	return 0;
}

int vdev_blk_event_fd(vdev_blk *b)
{
	return b ? b->loop->efd : -EINVAL;
}

int vdev__blk_run_done(vdev_blk *b)
{
	struct blk_slot *s = b->done_head;
	int n = 0;

	b->done_head = NULL;
	b->done_tail = &b->done_head;
	while (s) {
		struct blk_slot *next = s->next;
		struct vdev_blk_req *req = s->req;
		int64_t result = s->result;

		slot_free(b, s);
		req->internal[0] = 0;
		req->done(req, result);
		n++;
		s = next;
	}
	return n;
}

int vdev_blk_poll(vdev_blk *b)
{
	return b ? vdev_blk_loop_poll(b->loop) : -EINVAL;
}

int vdev_blk_wait(vdev_blk *b, int timeout_ms)
{
	return b ? vdev_blk_loop_wait(b->loop, timeout_ms) : -EINVAL;
}

uint64_t vdev_blk_size(const vdev_blk *b)
{
	return b ? b->size : 0;
}

int vdev_blk_refresh_size(vdev_blk *b, uint64_t *size)
{
	int rc;

	if (!b)
		return -EINVAL;
	if (b->refresh) {
		rc = b->refresh(b, &b->size);
		if (rc)
			return rc;
	}
	if (size)
		*size = b->size;
	return 0;
}

uint32_t vdev_blk_alignment(const vdev_blk *b)
{
	return b ? b->align : 1;
}

int vdev_blk_readonly(const vdev_blk *b)
{
	return b ? b->readonly : 0;
}

enum vdev_blk_engine vdev_blk_engine(const vdev_blk *b)
{
	return b ? b->engine : VDEV_BLK_ENGINE_INLINE;
}

unsigned int vdev_blk_inflight(const vdev_blk *b)
{
	return b ? b->inflight : 0;
}
