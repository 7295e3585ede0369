/* SPDX-License-Identifier: MIT */
/*
 * Library timers: a binary min-heap of armed timers ordered by
 * (deadline, arm sequence), so timers with equal deadlines fire in the
 * order they were armed. vdev_timers_run() first moves every expired timer
 * into a run list and only then calls back, so callbacks may arm, disarm
 * or free any timer (including ones still waiting in the run list) and a
 * timer re-armed into the past waits for the next call.
 */
#include <errno.h>
#include <stdlib.h>

#include "core.h"

#define NOT_QUEUED SIZE_MAX

struct vdev_timer {
	vdev_ctx *ctx;
	vdev_timer_cb cb;
	void *opaque;
	uint64_t deadline;
	uint64_t seq;       /* arm order, the heap's tie-breaker */
	size_t heap_index;  /* NOT_QUEUED unless armed */
	size_t run_index;   /* NOT_QUEUED unless waiting in the run list */
	struct vdev_timer *prev, *next; /* every timer of the context */
};

struct vdev__timer_heap {
	vdev_timer **heap;
	size_t n, cap;
	vdev_timer **run;   /* expired timers of the vdev_timers_run() in progress */
	size_t n_run, cap_run;
	uint64_t next_seq;
	int running;
	size_t n_timers;    /* heap capacity never falls below this */
	vdev_timer *all;
};

static int timer_before(const vdev_timer *a, const vdev_timer *b)
{
	if (a->deadline != b->deadline)
		return a->deadline < b->deadline;
	return a->seq < b->seq;
}

static void heap_place(struct vdev__timer_heap *h, size_t i, vdev_timer *t)
{
	h->heap[i] = t;
	t->heap_index = i;
}

static void heap_sift_up(struct vdev__timer_heap *h, size_t i)
{
	vdev_timer *t = h->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!timer_before(t, h->heap[parent]))
			break;
		heap_place(h, i, h->heap[parent]);
		i = parent;
	}
	heap_place(h, i, t);
}

static void heap_sift_down(struct vdev__timer_heap *h, size_t i)
{
	vdev_timer *t = h->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= h->n)
			break;
		if (child + 1 < h->n && timer_before(h->heap[child + 1], h->heap[child]))
			child++;
		if (!timer_before(h->heap[child], t))
			break;
		heap_place(h, i, h->heap[child]);
		i = child;
	}
	heap_place(h, i, t);
}

static void heap_remove(struct vdev__timer_heap *h, vdev_timer *t)
{
	size_t i = t->heap_index;
	vdev_timer *last;

	t->heap_index = NOT_QUEUED;
	last = h->heap[--h->n];
	if (last == t)
		return;
	heap_place(h, i, last);
	heap_sift_down(h, i);
	heap_sift_up(h, last->heap_index);
}

static uint64_t earliest(const struct vdev__timer_heap *h)
{
	return h->n ? h->heap[0]->deadline : UINT64_MAX;
}

static void notify_if_changed(vdev_ctx *ctx, uint64_t before)
{
	if (earliest(ctx->timers) != before && ctx->ops.timers_changed)
		ctx->ops.timers_changed(ctx->ops.opaque);
}

/* Forget a timer that waits in the run list, so it does not fire. */
static void run_list_drop(struct vdev__timer_heap *h, vdev_timer *t)
{
	if (t->run_index != NOT_QUEUED) {
		h->run[t->run_index] = NULL;
		t->run_index = NOT_QUEUED;
	}
}

int vdev__timers_init(vdev_ctx *ctx)
{
	ctx->timers = calloc(1, sizeof(*ctx->timers));
	return ctx->timers ? 0 : -ENOMEM;
}

void vdev__timers_fini(vdev_ctx *ctx)
{
	struct vdev__timer_heap *h = ctx->timers;

	if (!h)
		return;
	while (h->all) {
		vdev_timer *t = h->all;

		h->all = t->next;
		free(t);
	}
	free(h->heap);
	free(h->run);
	free(h);
	ctx->timers = NULL;
}

int vdev_timer_new(vdev_ctx *ctx, vdev_timer_cb cb, void *opaque, vdev_timer **out)
{
	struct vdev__timer_heap *h;
	vdev_timer *t;

	if (!ctx || !cb || !out)
		return -EINVAL;
	h = ctx->timers;
	/* Reserve heap room for every timer now so arming can never fail. */
	if (h->n_timers == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		vdev_timer **heap = realloc(h->heap, cap * sizeof(*heap));

		if (!heap)
			return -ENOMEM;
		h->heap = heap;
		h->cap = cap;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->ctx = ctx;
	t->cb = cb;
	t->opaque = opaque;
	t->deadline = UINT64_MAX;
	t->heap_index = NOT_QUEUED;
	t->run_index = NOT_QUEUED;
	t->next = h->all;
	if (h->all)
		h->all->prev = t;
	h->all = t;
	h->n_timers++;
	*out = t;
	return 0;
}

void vdev_timer_free(vdev_timer *t)
{
	struct vdev__timer_heap *h;

	if (!t)
		return;
	h = t->ctx->timers;
	vdev_timer_disarm(t);
	if (t->prev)
		t->prev->next = t->next;
	else
		h->all = t->next;
	if (t->next)
		t->next->prev = t->prev;
	h->n_timers--;
	free(t);
}

void vdev_timer_arm(vdev_timer *t, uint64_t deadline_ns)
{
	struct vdev__timer_heap *h = t->ctx->timers;
	uint64_t before = earliest(h);

	run_list_drop(h, t);
	if (t->heap_index != NOT_QUEUED)
		heap_remove(h, t);
	t->deadline = deadline_ns;
	t->seq = h->next_seq++;
	/* vdev_timer_new() keeps cap >= number of timers, so this fits. */
	h->heap[h->n] = t;
	t->heap_index = h->n++;
	heap_sift_up(h, t->heap_index);
	notify_if_changed(t->ctx, before);
}

void vdev_timer_disarm(vdev_timer *t)
{
	struct vdev__timer_heap *h = t->ctx->timers;
	uint64_t before = earliest(h);

	run_list_drop(h, t);
	if (t->heap_index == NOT_QUEUED)
		return;
	heap_remove(h, t);
	t->deadline = UINT64_MAX;
	notify_if_changed(t->ctx, before);
}

int vdev_timer_is_armed(const vdev_timer *t)
{
	return t->heap_index != NOT_QUEUED || t->run_index != NOT_QUEUED;
}

uint64_t vdev_timer_deadline(const vdev_timer *t)
{
	return vdev_timer_is_armed(t) ? t->deadline : UINT64_MAX;
}

int vdev_timers_next_deadline(vdev_ctx *ctx, uint64_t *deadline_ns)
{
	struct vdev__timer_heap *h = ctx->timers;

	if (!h->n)
		return -ENOENT;
	*deadline_ns = h->heap[0]->deadline;
	return 0;
}

static int collect_expired(struct vdev__timer_heap *h, uint64_t now)
{
	while (h->n && h->heap[0]->deadline <= now) {
		vdev_timer *t = h->heap[0];

		if (h->n_run == h->cap_run) {
			size_t cap = h->cap_run ? h->cap_run * 2 : 16;
			vdev_timer **run = realloc(h->run, cap * sizeof(*run));

			if (!run)
				return -ENOMEM; /* the rest stay armed for the next call */
			h->run = run;
			h->cap_run = cap;
		}
		heap_remove(h, t);
		t->run_index = h->n_run;
		h->run[h->n_run++] = t;
	}
	return 0;
}

int vdev_timers_run(vdev_ctx *ctx)
{
	struct vdev__timer_heap *h = ctx->timers;
	uint64_t before = earliest(h);
	int ran = 0;

	if (h->running)
		return 0; /* called from a timer callback: the outer call goes on */
	h->running = 1;
	h->n_run = 0;
	collect_expired(h, vdev_now_ns(ctx));
	if (h->n_run)
		notify_if_changed(ctx, before);
	for (size_t i = 0; i < h->n_run; i++) {
		vdev_timer *t = h->run[i];

		if (!t)
			continue; /* disarmed, re-armed or freed by an earlier callback */
		h->run[i] = NULL;
		t->run_index = NOT_QUEUED;
		t->deadline = UINT64_MAX;
		t->cb(t, t->opaque);
		ran++;
	}
	h->n_run = 0;
	h->running = 0;
	return ran;
}
