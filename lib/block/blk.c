/* SPDX-License-Identifier: MIT */
/*
 * Block backends, the common layer: open/close, submit with validation and
 * queue-depth accounting, plug/unplug, cancel, and completion delivery on
 * the backend's thread (vdev/block.h). Drivers and engines live in the
 * other blk_*.c files; see blk_internal.h for how they fit.
 *
 * The event fd: engines whose completions arrive from elsewhere (the
 * kernel for io_uring, worker threads) make it readable themselves, and
 * poll always drains it. Completions produced on the backend's thread
 * (inline drivers, cancelled or failed plugged requests) write it once
 * until the next poll (efd_set), so a batch costs one write.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "block/blk_internal.h"

void vdev__blk_done_push(vdev_blk *b, struct blk_slot *s, int64_t result)
{
	s->result = result;
	s->where = BLK_DONE;
	s->next = NULL;
	*b->done_tail = s;
	b->done_tail = &s->next;
}

static void efd_signal(vdev_blk *b)
{
	uint64_t one = 1;

	if (b->efd_set)
		return;
	/* Cannot fail short of a counter overflow, which one write per poll never reaches. */
	if (write(b->efd, &one, sizeof(one)) == (ssize_t)sizeof(one))
		b->efd_set = true;
}

void vdev__blk_complete(vdev_blk *b, struct blk_slot *s, int64_t result)
{
	vdev__blk_done_push(b, s, result);
	efd_signal(b);
}

static void efd_drain(vdev_blk *b)
{
	uint64_t v;

	if (!b->eng->external_signal && !b->efd_set)
		return;
	b->efd_set = false;
	/* Non-blocking: EAGAIN when nothing was signalled. */
	if (read(b->efd, &v, sizeof(v)) < 0)
		return;
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
}

/* Hand every plugged request to the engine, with one kick. */
static void flush_plug(vdev_blk *b)
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
	if (b->efd >= 0)
		close(b->efd);
	free(b->slots);
	free(b);
}

static int check_opts(const struct vdev_blk_opts *o)
{
	if (!o->driver || o->reserved || o->engine > VDEV_BLK_ENGINE_INLINE)
		return -EINVAL;
	if (o->queue_depth > BLK_MAX_QD || o->threads > BLK_MAX_THREADS)
		return -EINVAL;
	return 0;
}

int vdev_blk_open(vdev_ctx *ctx, const struct vdev_blk_opts *opts, vdev_blk **out)
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
	b->efd = -1;
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
		b->slots[i].next = b->free;
		b->free = &b->slots[i];
	}
	b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->efd < 0) {
		rc = -errno;
		backend_free(b);
		return rc;
	}

	if (!strcmp(o.driver, "memory"))
		rc = vdev__blk_memory_open(b, &o);
	else if (!strcmp(o.driver, "null"))
		rc = vdev__blk_null_open(b, &o);
	else if (!strcmp(o.driver, "file"))
		rc = vdev__blk_file_open(b, &o);
	else
		rc = -EINVAL;
	if (rc) {
		backend_free(b);
		return rc;
	}
	*out = b;
	return 0;
}

static void finish_close(vdev_blk *b)
{
	b->plug_depth = 0;
	flush_plug(b);
	while (b->inflight)
		vdev_blk_wait(b, -1);
	if (b->eng && b->eng->fini)
		b->eng->fini(b);
	backend_free(b);
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
	if (b->in_poll) {
		b->close_pending = true;
		return;
	}
	finish_close(b);
}

int vdev_blk_submit(vdev_blk *b, struct vdev_blk_req *req)
{
	struct blk_slot *s;
	uint64_t len;
	int rc;

	if (!b || !req)
		return -EINVAL;
	if (b->closing)
		return -ESHUTDOWN;
	rc = vdev__blk_validate(b, req, &len);
	if (rc)
		return rc;
	if (slot_of(b, req))
		return -EBUSY; /* already in flight: the caller would get two completions */
	if (b->inflight >= b->qd || !b->free)
		return -EAGAIN;

	s = b->free;
	b->free = s->next;
	b->inflight++;
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
		flush_plug(b);
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
	return b ? b->efd : -EINVAL;
}

int vdev_blk_poll(vdev_blk *b)
{
	struct blk_slot *s;
	int n = 0;

	if (!b)
		return -EINVAL;
	/* Drain first: a completion arriving after this makes it readable again. */
	efd_drain(b);
	b->eng->reap(b);
	b->in_poll++;
	/*
	 * Run only what is ready now: completions that callbacks cause (an
	 * inline driver's resubmission) wait for the next poll, so a callback
	 * that always resubmits cannot keep us here forever.
	 */
	s = b->done_head;
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
	if (--b->in_poll == 0 && b->close_pending)
		finish_close(b); /* a callback closed us; @b is gone after this */
	return n;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int vdev_blk_wait(vdev_blk *b, int timeout_ms)
{
	int64_t deadline = 0;
	int n;

	if (!b)
		return -EINVAL;
	n = vdev_blk_poll(b);
	if (n)
		return n;
	if (!b->inflight)
		return 0; /* nothing can complete: do not sleep forever */
	/* Like the kernel flushing a plug before it sleeps: plugged requests cannot finish. */
	flush_plug(b);
	if (timeout_ms > 0)
		deadline = now_ms() + timeout_ms;
	for (;;) {
		struct pollfd pfd = { .fd = b->efd, .events = POLLIN };
		int left = timeout_ms;

		if (timeout_ms > 0) {
			int64_t d = deadline - now_ms();

			left = d > 0 ? (int)d : 0;
		}
		/* EINTR and spurious wake-ups just go round again. */
		if (poll(&pfd, 1, left) < 0 && errno != EINTR)
			return -errno;
		n = vdev_blk_poll(b);
		if (n || !b->inflight)
			return n;
		if (timeout_ms == 0 || (timeout_ms > 0 && now_ms() >= deadline))
			return -ETIMEDOUT;
	}
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
