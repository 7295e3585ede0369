/* SPDX-License-Identifier: MIT */
/*
 * Remote regions' fetches (core.h "Remote regions"): which guest ranges
 * were asked of the region's owner, when (a sequence number), and whether
 * they arrived.
 *
 * A pull of [gpa, gpa + len) since sequence point S is satisfied by an
 * arrived fetch that holds the range and was sent at or after S. The
 * owner's client handles our messages in order, so that fetch saw every
 * guest write the client made visible before it handled what we had sent
 * before S - which is exactly what the virtqueue engine needs: it takes a
 * sequence point after a guest kick or after writing "kick me" into the
 * ring, then reads the driver's index, and later what the index covers.
 *
 * Fetches live in a small table (the engine asks for a few ranges per
 * request and retries when data arrives; nothing here is per byte). When
 * it is full the oldest arrived or failed entry goes; when everything in
 * it is still on its way, the pull says -EAGAIN without asking (an arrival
 * will make room and wake the asker).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem_internal.h"

#define FETCH_SLOTS 256u

enum fetch_state {
	FETCH_FREE = 0,
	FETCH_INFLIGHT,
	FETCH_ARRIVED,
	FETCH_FAILED,
};

struct mem_fetch {
	uint64_t gpa, last;     /* inclusive */
	uint64_t seq;
	uint64_t left;          /* bytes still to arrive */
	enum fetch_state state;
};

struct mem_fetches {
	struct mem_fetch f[FETCH_SLOTS];
	uint64_t seq;           /* the last sequence number handed out */
	uint64_t sync_since;    /* the synchronous accessors' point, 0: none */
};

static struct mem_fetches *fetches(struct vdev__mem_map *m)
{
	if (!m->fetches)
		m->fetches = calloc(1, sizeof(*m->fetches));
	return m->fetches;
}

void vdev__mem_fetches_free(struct vdev__mem_map *m)
{
	free(m->fetches);
	m->fetches = NULL;
}

void vdev__mem_fetches_forget(struct vdev__mem_map *m, uint64_t gpa, uint64_t last)
{
	struct mem_fetches *fs = m->fetches;

	if (!fs)
		return;
	for (unsigned int i = 0; i < FETCH_SLOTS; i++)
		if (fs->f[i].state != FETCH_FREE && fs->f[i].gpa >= gpa && fs->f[i].last <= last)
			fs->f[i].state = FETCH_FREE;
}

uint64_t vdev__mem_remote_now(vdev_ctx *ctx)
{
	struct mem_fetches *fs = fetches(ctx->mem);

	/* Without a table no fetch exists: any point will do until one does. */
	return fs ? ++fs->seq : 1;
}

/* The entry a new fetch may take: a free one, else the oldest that is not in flight. */
static struct mem_fetch *fetch_slot(struct mem_fetches *fs)
{
	struct mem_fetch *old = NULL;

	for (unsigned int i = 0; i < FETCH_SLOTS; i++) {
		struct mem_fetch *f = &fs->f[i];

		if (f->state == FETCH_FREE)
			return f;
		if (f->state != FETCH_INFLIGHT && (!old || f->seq < old->seq))
			old = f;
	}
	return old;
}

/*
 * One remote piece [lo, hi] of region @r. @return 0 (fresh), -EAGAIN
 * (asked, or cannot ask now), -EIO.
 */
static int pull_piece(struct mem_fetches *fs, const struct mem_region *r, uint64_t lo,
		      uint64_t hi, uint64_t since)
{
	bool waiting = false;
	struct mem_fetch *f;
	int rc;

	for (unsigned int i = 0; i < FETCH_SLOTS; i++) {
		f = &fs->f[i];
		if (f->state == FETCH_FREE || f->seq < since || f->gpa > lo || f->last < hi)
			continue;
		if (f->state == FETCH_ARRIVED)
			return 0;
		if (f->state == FETCH_FAILED)
			return -EIO;
		waiting = true;
	}
	if (waiting)
		return -EAGAIN;
	f = fetch_slot(fs);
	if (!f)
		return -EAGAIN;
	*f = (struct mem_fetch){
		.gpa = lo,
		.last = hi,
		.seq = ++fs->seq,
		.left = hi - lo + 1,
		.state = FETCH_INFLIGHT,
	};
	rc = r->remote.fetch(r->remote.opaque, lo, (size_t)(hi - lo + 1), f->seq);
	if (!rc)
		return -EAGAIN;
	f->state = FETCH_FREE;
	return rc == -EAGAIN ? -EAGAIN : -EIO;
}

int vdev__mem_pull(vdev_ctx *ctx, uint64_t gpa, uint64_t len, uint64_t since)
{
	struct vdev__mem_map *m = ctx->mem;
	struct mem_fetches *fs;
	uint64_t last;
	bool waiting = false;

	if (!m->nremote || !len)
		return 0;
	fs = fetches(m);
	if (!fs)
		return -EAGAIN;   /* no memory for the table: nothing can be asked now */
	last = len - 1 > UINT64_MAX - gpa ? UINT64_MAX : gpa + (len - 1);
	for (unsigned int i = vdev__mem_first_at(m, gpa); i < m->n && m->r[i].gpa <= last; i++) {
		const struct mem_region *r = &m->r[i];
		int rc;

		if (!(r->flags & VDEV__MEM_REMOTE))
			continue;
		rc = pull_piece(fs, r, VDEV__MAX(gpa, r->gpa), VDEV__MIN(last, r->last), since);
		if (rc == -EAGAIN)
			waiting = true;   /* ask for the other pieces too: one wait for all */
		else if (rc)
			return rc;
	}
	return waiting ? -EAGAIN : 0;
}

int vdev__mem_pull_sync(vdev_ctx *ctx, uint64_t gpa, uint64_t last)
{
	struct mem_fetches *fs = fetches(ctx->mem);
	int rc;

	if (!fs)
		return -EAGAIN;
	/*
	 * One point per round of retries: the first call takes it and asks,
	 * later calls find the answers; a call that finds everything ends the
	 * round, so the next read sees the guest as it is then.
	 */
	if (!fs->sync_since)
		fs->sync_since = ++fs->seq;
	rc = vdev__mem_pull(ctx, gpa, last - gpa + 1, fs->sync_since);
	if (rc != -EAGAIN)
		fs->sync_since = 0;
	return rc;
}

void vdev__mem_remote_arrived(vdev_ctx *ctx, uint64_t seq, uint64_t gpa, const void *data,
			      size_t len, int err)
{
	struct vdev__mem_map *m = ctx->mem;
	struct mem_fetches *fs = m->fetches;
	struct mem_fetch *f = NULL;
	uint64_t last;
	unsigned int i;

	if (!fs || !len || len - 1 > UINT64_MAX - gpa)
		return;
	last = gpa + (len - 1);
	for (unsigned int k = 0; k < FETCH_SLOTS; k++) {
		if (fs->f[k].state == FETCH_INFLIGHT && fs->f[k].seq == seq) {
			f = &fs->f[k];
			break;
		}
	}
	/* Unknown, or not a part of what was asked: ignore (the owner checked its reply). */
	if (!f || gpa < f->gpa || last > f->last || len > f->left)
		return;
	if (err < 0 || !data) {
		f->state = FETCH_FAILED;
		return;
	}
	i = vdev__mem_first_at(m, gpa);
	/* The region is still there (forget() dropped the fetch otherwise) and holds it all. */
	if (i >= m->n || !(m->r[i].flags & VDEV__MEM_REMOTE) || m->r[i].gpa > gpa ||
	    m->r[i].last < last) {
		f->state = FETCH_FAILED;
		return;
	}
	memcpy(m->r[i].hva + (gpa - m->r[i].gpa), data, len);
	f->left -= len;
	if (!f->left)
		f->state = FETCH_ARRIVED;
}
