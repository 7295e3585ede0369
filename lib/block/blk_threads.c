/* SPDX-License-Identifier: MIT */
/*
 * The thread-pool engine, for hosts where io_uring is unavailable, and the
 * pool it runs on (the io_uring engine borrows a one-worker pool for the
 * few operations io_uring cannot do).
 *
 * A fixed set of workers takes slots from a FIFO queue, runs them with
 * vdev__blk_file_exec() (vdev__blk_sg_exec() for pass-through commands:
 * "sg" backends use a pool of their own, see blk_sg.c) and appends them
 * to a completion list, all under one mutex. The worker that makes the
 * completion list non-empty writes the event fd; the backend's thread
 * drains the fd and then takes the list (vdev_blk_poll()), so a
 * completion is never missed (at worst the fd is readable once with
 * nothing left to reap). Workers never run callbacks.
 *
 * Cancel withdraws a slot still queued (it completes with -ECANCELED); one
 * a worker has started runs to its end and completes with its result.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "block/blk_internal.h"

struct blk_pool {
	int efd;
	pthread_mutex_t lock;
	pthread_cond_t work;
	/* Under lock: */
	struct blk_slot *q_head, **q_tail;      /* waiting for a worker */
	struct blk_slot *c_head, **c_tail;      /* finished, for the backend */
	bool stop;
	bool paused;
	/* Backend thread only: queued since the last kick. */
	struct blk_slot *b_head, **b_tail;
	unsigned int nbatch;
	unsigned int nthreads;
	pthread_t th[];
};

static void *pool_worker(void *arg)
{
	struct blk_pool *p = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct blk_slot *s;
		bool first;
		int64_t res;

		while ((!p->q_head || p->paused) && !p->stop)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->stop)
			break;
		s = p->q_head;
		p->q_head = s->next;
		if (!p->q_head)
			p->q_tail = &p->q_head;
		s->pstate = BLK_P_RUNNING;
		pthread_mutex_unlock(&p->lock);

		if (s->req->op == VDEV__BLK_OP_SCSI)
			res = vdev__blk_sg_exec(s->owner, s->req);
		else
			res = vdev__blk_file_exec(&s->owner->file, s->req);

		pthread_mutex_lock(&p->lock);
		s->result = res;
		s->pstate = BLK_P_FINISHED;
		s->next = NULL;
		first = !p->c_head;
		*p->c_tail = s;
		p->c_tail = &s->next;
		if (first) {
			pthread_mutex_unlock(&p->lock);
			/* Only fails if the counter would overflow: then it is readable anyway. */
			if (write(p->efd, &one, sizeof(one)) < 0) {
				/* nothing to do */
			}
			pthread_mutex_lock(&p->lock);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

void vdev__blk_pool_free(struct blk_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned int i = 0; i < p->nthreads; i++)
		pthread_join(p->th[i], NULL);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

struct blk_pool *vdev__blk_pool_new(int efd, unsigned int nthreads, int *err)
{
	struct blk_pool *p = calloc(1, sizeof(*p) + nthreads * sizeof(pthread_t));
	int rc;

	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	p->efd = efd;
	p->q_tail = &p->q_head;
	p->c_tail = &p->c_head;
	p->b_tail = &p->b_head;
	if (pthread_mutex_init(&p->lock, NULL)) {
		free(p);
		*err = -ENOMEM;
		return NULL;
	}
	if (pthread_cond_init(&p->work, NULL)) {
		pthread_mutex_destroy(&p->lock);
		free(p);
		*err = -ENOMEM;
		return NULL;
	}
	for (; p->nthreads < nthreads; p->nthreads++) {
		rc = pthread_create(&p->th[p->nthreads], NULL, pool_worker, p);
		if (rc) {
			vdev__blk_pool_free(p);
			*err = rc == EAGAIN ? -EAGAIN : -rc;
			return NULL;
		}
	}
	return p;
}

void vdev__blk_pool_queue(struct blk_pool *p, struct blk_slot *s)
{
	s->pstate = BLK_P_QUEUED;
	s->next = NULL;
	*p->b_tail = s;
	p->b_tail = &s->next;
	p->nbatch++;
}

void vdev__blk_pool_kick(struct blk_pool *p)
{
	if (!p->b_head)
		return;
	pthread_mutex_lock(&p->lock);
	*p->q_tail = p->b_head;
	p->q_tail = p->b_tail;
	if (p->nbatch == 1)
		pthread_cond_signal(&p->work);
	else
		pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	p->b_head = NULL;
	p->b_tail = &p->b_head;
	p->nbatch = 0;
}

/* Unlink @s from the list at @head/@tail if it is there. */
static bool unlink_slot(struct blk_slot **head, struct blk_slot ***tail, struct blk_slot *s)
{
	struct blk_slot **pp;

	for (pp = head; *pp; pp = &(*pp)->next) {
		if (*pp != s)
			continue;
		*pp = s->next;
		if (*tail == &s->next)
			*tail = pp;
		s->next = NULL;
		return true;
	}
	return false;
}

bool vdev__blk_pool_cancel(struct blk_pool *p, struct blk_slot *s)
{
	bool withdrawn;

	if (unlink_slot(&p->b_head, &p->b_tail, s)) {
		p->nbatch--;
		return true;
	}
	pthread_mutex_lock(&p->lock);
	withdrawn = s->pstate == BLK_P_QUEUED && unlink_slot(&p->q_head, &p->q_tail, s);
	pthread_mutex_unlock(&p->lock);
	return withdrawn;
}

void vdev__blk_pool_reap(struct blk_pool *p)
{
	struct blk_slot *s;

	pthread_mutex_lock(&p->lock);
	s = p->c_head;
	p->c_head = NULL;
	p->c_tail = &p->c_head;
	pthread_mutex_unlock(&p->lock);
	while (s) {
		struct blk_slot *next = s->next;

		vdev__blk_done_push(s->owner, s, s->result);
		s = next;
	}
}

void vdev__blk_pool_pause(struct blk_pool *p, bool paused)
{
	pthread_mutex_lock(&p->lock);
	p->paused = paused;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
}

/* ---- the engine --------------------------------------------------------- */

static int threads_queue(vdev_blk *b, struct blk_slot *s)
{
	vdev__blk_pool_queue(b->loop->eng_priv, s);
	return 0;
}

static void threads_kick(vdev_blk *b)
{
	vdev__blk_pool_kick(b->loop->eng_priv);
}

static void threads_cancel(vdev_blk *b, struct blk_slot *s)
{
	if (vdev__blk_pool_cancel(b->loop->eng_priv, s))
		vdev__blk_complete(b, s, -ECANCELED);
}

static void threads_reap(vdev_blk_loop *l)
{
	vdev__blk_pool_reap(l->eng_priv);
}

static void threads_fini(vdev_blk_loop *l)
{
	vdev__blk_pool_free(l->eng_priv);
	l->eng_priv = NULL;
}

static const struct blk_engine_ops threads_ops = {
	.name = "threads",
	.external_signal = true,
	.queue = threads_queue,
	.kick = threads_kick,
	.cancel = threads_cancel,
	.reap = threads_reap,
	.fini = threads_fini,
};

int vdev__blk_threads_start(vdev_blk_loop *l, unsigned int nthreads)
{
	int err = 0;
	struct blk_pool *p = vdev__blk_pool_new(l->efd, nthreads, &err);

	if (!p)
		return err;
	l->eng_priv = p;
	l->eng = &threads_ops;
	l->engine = VDEV_BLK_ENGINE_THREADS;
	return 0;
}

struct blk_pool *vdev__blk_threads_pool(vdev_blk *b)
{
	return b->engine == VDEV_BLK_ENGINE_THREADS ? b->loop->eng_priv : NULL;
}
