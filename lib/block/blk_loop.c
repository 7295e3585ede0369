/* SPDX-License-Identifier: MIT */
/*
 * Completion loops (vdev/block.h): one event fd and, for file backends,
 * one engine (an io_uring or a thread pool) shared by many backends, so a
 * bus of thousands of LUNs costs a constant number of file descriptors.
 * A backend opened without a loop gets a private one (owned), so there is
 * one delivery path.
 *
 * Delivery: an engine's reap moves finished requests to their backends'
 * done lists; a backend whose done list becomes non-empty joins the ready
 * list, and vdev_blk_loop_poll() runs the ready backends' completions.
 * Completions produced on the loop's thread (inline drivers, cancelled or
 * failed plugged requests) write the event fd once until the next reap
 * (efd_set), so a batch costs one write.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "block/blk_internal.h"

#define BLK_LOOP_DEFAULT_QD 1024u

void vdev__blk_loop_signal(vdev_blk_loop *l)
{
	uint64_t one = 1;

	if (l->efd_set)
		return;
	/* Cannot fail short of a counter overflow, which one write per reap never reaches. */
	if (write(l->efd, &one, sizeof(one)) == (ssize_t)sizeof(one))
		l->efd_set = true;
}

void vdev__blk_loop_reap(vdev_blk_loop *l)
{
	uint64_t v;

	/* Drain first: a completion arriving after this makes it readable again. */
	if (l->eng || l->sg_pool || l->efd_set) {
		l->efd_set = false;
		if (read(l->efd, &v, sizeof(v)) < 0) {
			/* EAGAIN: nothing was signalled */
		}
	}
	if (l->eng)
		l->eng->reap(l);
	if (l->sg_pool)
		vdev__blk_pool_reap(l->sg_pool);
}

int vdev__blk_loop_sg_pool(vdev_blk_loop *l, unsigned int nthreads)
{
	int err = 0;

	if (l->sg_pool)
		return 0;
	l->sg_pool = vdev__blk_pool_new(l->efd, nthreads, &err);
	return l->sg_pool ? 0 : err;
}

int vdev__blk_loop_sleep(vdev_blk_loop *l, int timeout_ms)
{
	struct pollfd pfd = { .fd = l->efd, .events = POLLIN };

	/* EINTR and spurious wake-ups: the caller goes round again. */
	if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR)
		return -errno;
	return 0;
}

void vdev__blk_loop_leave(vdev_blk_loop *l)
{
	if (--l->in_poll)
		return;
	while (l->closing) {
		vdev_blk *b = l->closing;
		bool last = b->own_loop; /* its loop goes with it */

		l->closing = b->cnext;
		vdev__blk_finish_close(b);
		if (last)
			return;
	}
}

void vdev__blk_loop_attach(vdev_blk_loop *l, vdev_blk *b)
{
	b->loop = l;
	b->anext = l->all;
	if (l->all)
		l->all->aprev = &b->anext;
	b->aprev = &l->all;
	l->all = b;
	l->nbackends++;
}

void vdev__blk_loop_detach(vdev_blk_loop *l, vdev_blk *b)
{
	vdev_blk **pp;

	if (b->ready) {
		for (pp = &l->ready_head; *pp != b; pp = &(*pp)->rnext)
			;
		*pp = b->rnext;
		if (l->ready_tail == &b->rnext)
			l->ready_tail = pp;
		b->ready = false;
	}
	*b->aprev = b->anext;
	if (b->anext)
		b->anext->aprev = b->aprev;
	l->nbackends--;
}

static int start_engine(vdev_blk_loop *l, uint32_t engine, unsigned int threads,
			const char *name)
{
	char why[128] = "";
	int rc;

	if (engine == VDEV_BLK_ENGINE_INLINE) {
		l->engine = VDEV_BLK_ENGINE_INLINE;
		return 0;
	}
	if (engine != VDEV_BLK_ENGINE_THREADS) {
		rc = vdev__blk_uring_start(l, why, sizeof(why));
		if (!rc) {
			vdev_log(l->ctx, VDEV_LOG_INFO, "blk: %s: engine io_uring", name);
			return 0;
		}
		if (engine == VDEV_BLK_ENGINE_IO_URING) {
			vdev_log(l->ctx, VDEV_LOG_WARN, "blk: %s: io_uring unavailable (%s)",
				 name, why);
			return -ENOTSUP;
		}
	}
	rc = vdev__blk_threads_start(l, threads);
	if (rc)
		return rc;
	if (engine == VDEV_BLK_ENGINE_THREADS)
		vdev_log(l->ctx, VDEV_LOG_INFO, "blk: %s: engine threads (%u workers, as asked)",
			 name, threads);
	else
		vdev_log(l->ctx, VDEV_LOG_INFO,
			 "blk: %s: engine threads (%u workers): io_uring unavailable (%s)",
			 name, threads, why);
	return 0;
}

void vdev__blk_loop_destroy(vdev_blk_loop *l)
{
	if (l->eng)
		l->eng->fini(l);
	vdev__blk_pool_free(l->sg_pool);
	if (l->efd >= 0)
		close(l->efd);
	free(l);
}

int vdev__blk_loop_create(vdev_ctx *ctx, uint32_t engine, uint32_t qd, uint32_t threads,
			  const char *name, bool owned, vdev_blk_loop **out)
{
	vdev_blk_loop *l;
	int rc;

	if (engine > VDEV_BLK_ENGINE_INLINE || qd > BLK_MAX_QD || threads > BLK_MAX_THREADS)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->ctx = ctx;
	l->owned = owned;
	l->qd = qd ? qd : (owned ? BLK_DEFAULT_QD : BLK_LOOP_DEFAULT_QD);
	l->ready_tail = &l->ready_head;
	l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->efd < 0) {
		rc = -errno;
		free(l);
		return rc;
	}
	rc = start_engine(l, engine, threads ? threads : BLK_DEFAULT_THREADS, name);
	if (rc) {
		vdev__blk_loop_destroy(l);
		return rc;
	}
	*out = l;
	return 0;
}

int vdev_blk_loop_new(vdev_ctx *ctx, const struct vdev_blk_loop_opts *opts, vdev_blk_loop **out)
{
	struct vdev_blk_loop_opts o;

	if (!ctx || !opts || !out)
		return -EINVAL;
	*out = NULL;
	if (vdev__copy_sized(&o, sizeof(o), opts) || o.reserved)
		return -EINVAL;
	return vdev__blk_loop_create(ctx, o.engine, o.queue_depth, o.threads, "loop", false, out);
}

void vdev_blk_loop_free(vdev_blk_loop *l)
{
	if (!l || l->owned)
		return;
	if (l->nbackends) {
		vdev_log(l->ctx, VDEV_LOG_ERROR,
			 "blk: loop freed with %u backends open: not freed", l->nbackends);
		return;
	}
	vdev__blk_loop_destroy(l);
}

int vdev_blk_loop_event_fd(vdev_blk_loop *l)
{
	return l ? l->efd : -EINVAL;
}

enum vdev_blk_engine vdev_blk_loop_engine(const vdev_blk_loop *l)
{
	return l ? l->engine : VDEV_BLK_ENGINE_INLINE;
}

int vdev_blk_loop_poll(vdev_blk_loop *l)
{
	vdev_blk *b;
	int n = 0;

	if (!l)
		return -EINVAL;
	vdev__blk_loop_reap(l);
	l->in_poll++;
	/*
	 * Run only the backends ready now: one that becomes ready again from
	 * a callback waits for the next poll, so a callback that always
	 * resubmits cannot keep us here forever.
	 */
	b = l->ready_head;
	l->ready_head = NULL;
	l->ready_tail = &l->ready_head;
	while (b) {
		vdev_blk *next = b->rnext;

		b->rnext = NULL;
		b->ready = false;
		n += vdev__blk_run_done(b);
		b = next;
	}
	vdev__blk_loop_leave(l); /* a private loop may be gone after this */
	return n;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int vdev_blk_loop_wait(vdev_blk_loop *l, int timeout_ms)
{
	int64_t deadline = 0;
	int n, rc;

	if (!l)
		return -EINVAL;
	n = vdev_blk_loop_poll(l);
	if (n)
		return n;
	if (!l->inflight)
		return 0; /* nothing can complete: do not sleep forever */
	/* Like the kernel flushing a plug before it sleeps: plugged requests cannot finish. */
	for (vdev_blk *b = l->all; b; b = b->anext)
		if (b->plug_head)
			vdev__blk_flush_plug(b);
	if (timeout_ms > 0)
		deadline = now_ms() + timeout_ms;
	for (;;) {
		int left = timeout_ms;

		if (timeout_ms > 0) {
			int64_t d = deadline - now_ms();

			left = d > 0 ? (int)d : 0;
		}
		rc = vdev__blk_loop_sleep(l, left);
		if (rc)
			return rc;
		n = vdev_blk_loop_poll(l);
		if (n || !l->inflight)
			return n;
		if (timeout_ms == 0 || (timeout_ms > 0 && now_ms() >= deadline))
			return -ETIMEDOUT;
	}
}
