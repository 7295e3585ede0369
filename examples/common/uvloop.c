/* SPDX-License-Identifier: MIT */
/*
 * Block completions and library timers on the libuv loop, signals, log
 * lines. Every LUN's backend joins one vdev_blk_loop, whose one event fd
 * is polled here; after running completions the library timers must run
 * too (virtio-scsi publishes a poll's completions from a timer due at
 * once: vdev/virtio_scsi.h).
 */
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "example.h"

void ex_log_line(const char *prog, int verbose, enum vdev_log_level level, const char *msg)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	struct timespec ts;

	if ((int)level > (verbose >= 2 ? VDEV_LOG_DEBUG : VDEV_LOG_INFO))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fprintf(stderr, "[%5ld.%03ld] %s: %s: %s\n", (long)ts.tv_sec, ts.tv_nsec / 1000000, prog,
		names[level], msg);
}

static void timer_cb(uv_timer_t *t)
{
	struct ex_loop *e = t->data;

	vdev_timers_run(e->ctx);
	ex_timers_sync(e);
}

void ex_timers_sync(struct ex_loop *e)
{
	uint64_t deadline, now;

	if (!e->ctx)
		return; /* before ex_blk_start(): the timer does not exist yet */
	if (e->stopping || vdev_timers_next_deadline(e->ctx, &deadline)) {
		uv_timer_stop(&e->timer);
		return;
	}
	now = vdev_now_ns(e->ctx);
	/* Round up to the loop's millisecond; 0 runs at the next iteration. */
	uv_timer_start(&e->timer, timer_cb,
		       deadline > now ? (deadline - now + 999999) / 1000000 : 0, 0);
}

static void blk_cb(uv_poll_t *h, int status, int events)
{
	struct ex_loop *e = h->data;

	(void)status;
	(void)events;
	vdev_blk_loop_poll(e->bloop);
	vdev_timers_run(e->ctx);
	ex_timers_sync(e);
}

int ex_blk_start(struct ex_loop *e, uv_loop_t *loop, vdev_ctx *ctx, vdev_blk_loop *bloop)
{
	int rc;

	e->loop = loop;
	e->ctx = ctx;
	e->bloop = bloop;
	uv_timer_init(loop, &e->timer);
	e->timer.data = e;
	rc = uv_poll_init(loop, &e->blk_poll, vdev_blk_loop_event_fd(bloop));
	if (rc)
		return rc;
	e->blk_poll.data = e;
	return uv_poll_start(&e->blk_poll, UV_READABLE, blk_cb);
}

void ex_blk_stop(struct ex_loop *e)
{
	uv_poll_stop(&e->blk_poll);
	uv_close((uv_handle_t *)&e->blk_poll, NULL);
	uv_timer_stop(&e->timer);
	uv_close((uv_handle_t *)&e->timer, NULL);
}

static void signal_cb(uv_signal_t *h, int signum)
{
	struct ex_loop *e = h->data;

	e->on_signal(e->opaque, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

void ex_signals_start(struct ex_loop *e, void (*cb)(void *opaque, const char *why),
		      void *opaque)
{
	e->on_signal = cb;
	e->opaque = opaque;
	uv_signal_init(e->loop, &e->sigterm);
	uv_signal_init(e->loop, &e->sigint);
	e->sigterm.data = e;
	e->sigint.data = e;
	uv_signal_start(&e->sigterm, signal_cb, SIGTERM);
	uv_signal_start(&e->sigint, signal_cb, SIGINT);
}

void ex_signals_close(struct ex_loop *e)
{
	uv_close((uv_handle_t *)&e->sigterm, NULL);
	uv_close((uv_handle_t *)&e->sigint, NULL);
}
