/* SPDX-License-Identifier: MIT */
/*
 * Completion loops (vdev_blk_loop_*): many backends on one event fd and
 * one engine cost a constant number of descriptors; one loop poll delivers
 * every backend's completions; closing one backend with requests in flight
 * runs only its own callbacks; freeing a loop with backends open frees
 * nothing; loop and private backends side by side; option checks.
 * Every file test runs on the io_uring loop (skipped where unavailable)
 * and on the thread-pool loop.
 */
#include <dirent.h>

#include "block/blk_internal.h"
#include "test_blk_util.h"

#define NMEM 2000
#define NFILE 200
#define FSIZE 65536u

struct lreq {
	struct vdev_blk_req r;
	struct iovec iov;
	int calls;
	int64_t result;
	vdev_blk *close_me;     /* the callback closes this backend */
};

static void lreq_done(struct vdev_blk_req *req, int64_t result)
{
	struct lreq *q = req->user;

	q->calls++;
	q->result = result;
	if (q->close_me)
		vdev_blk_close(q->close_me);
}

static void lreq_read(struct lreq *q, void *buf, size_t len, uint64_t off)
{
	memset(q, 0, sizeof(*q));
	q->iov.iov_base = buf;
	q->iov.iov_len = len;
	q->r.op = VDEV_BLK_READ;
	q->r.offset = off;
	q->r.iov = &q->iov;
	q->r.iovcnt = 1;
	q->r.done = lreq_done;
	q->r.user = q;
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* A loop with @engine, or skip() when io_uring is asked for and missing. */
static vdev_blk_loop *loop_or_skip(struct mock_vmm *mv, uint32_t engine, uint32_t qd)
{
	struct vdev_blk_loop_opts lo = { .struct_size = sizeof(lo), .engine = engine,
					 .queue_depth = qd, .threads = 2 };
	vdev_blk_loop *l = NULL;
	int rc = vdev_blk_loop_new(mv->ctx, &lo, &l);

	if (rc == -ENOTSUP && engine == VDEV_BLK_ENGINE_IO_URING) {
		mock_vmm_fini(mv);
		skip();
	}
	assert_int_equal(rc, 0);
	assert_int_equal(vdev_blk_loop_engine(l), engine);
	return l;
}

static vdev_blk *open_on(struct mock_vmm *mv, vdev_blk_loop *l, const char *driver,
			 const char *path)
{
	struct vdev_blk_opts o = { .struct_size = sizeof(o), .driver = driver, .path = path,
				   .size = path ? 0 : FSIZE, .loop = l };
	vdev_blk *b = NULL;

	assert_int_equal(vdev_blk_open(mv->ctx, &o, &b), 0);
	return b;
}

/* 2000 memory and 200 file backends on one loop: no descriptor but the files' own. */
static void t_many(void **state)
{
	const uint32_t engine = (uint32_t)(uintptr_t)*state;
	struct mock_vmm mv;
	vdev_blk_loop *l;
	vdev_blk **mem = calloc(NMEM, sizeof(*mem)), **file = calloc(NFILE, sizeof(*file));
	struct lreq *q = calloc(NMEM + NFILE, sizeof(*q));
	uint8_t *content = malloc(FSIZE), *bufs = calloc(NMEM + NFILE, 512);
	char path[256];
	int fd_start, fd_loop, fd_open, calls = 0, n;

	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	make_file(path, sizeof(path), FSIZE, 7, content);
	fd_start = open_fds();
	l = loop_or_skip(&mv, engine, 0);
	fd_loop = open_fds();
	/* The event fd, plus the ring for io_uring. */
	assert_true(fd_loop - fd_start >= 1 && fd_loop - fd_start <= 2);
	for (int i = 0; i < NMEM; i++)
		mem[i] = open_on(&mv, l, "memory", NULL);
	assert_int_equal(open_fds(), fd_loop); /* memory backends: none at all */
	for (int i = 0; i < NFILE; i++) {
		file[i] = open_on(&mv, l, "file", path);
		assert_int_equal(vdev_blk_engine(file[i]), engine);
		assert_int_equal(vdev_blk_event_fd(file[i]), vdev_blk_loop_event_fd(l));
	}
	fd_open = open_fds();
	print_message("%s loop: %d fds for the loop, %d for %d backends (%d files)\n",
		      engine == VDEV_BLK_ENGINE_IO_URING ? "io_uring" : "threads",
		      fd_loop - fd_start, fd_open - fd_loop, NMEM + NFILE, NFILE);
	assert_int_equal(fd_open - fd_loop, NFILE); /* the open files themselves */

	/* One read on each memory backend: one loop poll delivers them all. */
	for (int i = 0; i < NMEM; i++) {
		lreq_read(&q[i], bufs + (size_t)i * 512, 512, 512);
		assert_int_equal(vdev_blk_submit(mem[i], &q[i].r), 0);
	}
	assert_int_equal(q[0].calls, 0); /* never inside submit */
	assert_true(fd_readable(vdev_blk_loop_event_fd(l)));
	n = vdev_blk_loop_poll(l);
	assert_int_equal(n, NMEM);
	for (int i = 0; i < NMEM; i++) {
		assert_int_equal(q[i].calls, 1);
		assert_int_equal(q[i].result, 512);
	}
	assert_false(fd_readable(vdev_blk_loop_event_fd(l)));
	assert_int_equal(vdev_blk_loop_poll(l), 0);

	/* One read on each file backend, at different offsets: the right data each. */
	for (int i = 0; i < NFILE; i++) {
		struct lreq *r = &q[NMEM + i];
		uint64_t off = (uint64_t)(i % (FSIZE / 512)) * 512;

		lreq_read(r, bufs + (size_t)(NMEM + i) * 512, 512, off);
		assert_int_equal(vdev_blk_submit(file[i], &r->r), 0);
	}
	for (int i = 0; i < NFILE; i++) {
		while (!q[NMEM + i].calls)
			assert_true(vdev_blk_loop_wait(l, 10000) > 0);
	}
	for (int i = 0; i < NFILE; i++) {
		uint64_t off = (uint64_t)(i % (FSIZE / 512)) * 512;

		calls += q[NMEM + i].calls;
		assert_int_equal(q[NMEM + i].result, 512);
		assert_memory_equal(bufs + (size_t)(NMEM + i) * 512, content + off, 512);
		assert_int_equal(vdev_blk_inflight(file[i]), 0);
	}
	assert_int_equal(calls, NFILE);

	for (int i = 0; i < NMEM; i++)
		vdev_blk_close(mem[i]);
	for (int i = 0; i < NFILE; i++)
		vdev_blk_close(file[i]);
	assert_int_equal(open_fds(), fd_loop);
	vdev_blk_loop_free(l);
	assert_int_equal(open_fds(), fd_start);
	unlink(path);
	free(mem);
	free(file);
	free(q);
	free(content);
	free(bufs);
	mock_vmm_fini(&mv);
}

/* Closing one backend with requests in flight runs its callbacks only. */
static void t_close_inflight(void **state)
{
	const uint32_t engine = (uint32_t)(uintptr_t)*state;
	enum { N = 16 };
	struct mock_vmm mv;
	vdev_blk_loop *l;
	vdev_blk *a, *b, *m;
	struct lreq qa[N], qb[N], qm;
	uint8_t *content = malloc(FSIZE), *buf = calloc(2 * N + 1, 4096);
	char path[256];
	int callsb = 0;

	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	make_file(path, sizeof(path), FSIZE, 11, content);
	l = loop_or_skip(&mv, engine, 0);
	a = open_on(&mv, l, "file", path);
	b = open_on(&mv, l, "file", path);
	m = open_on(&mv, l, "memory", NULL);
	for (int i = 0; i < N; i++) {
		lreq_read(&qa[i], buf + (size_t)i * 4096, 4096, (uint64_t)i * 4096);
		lreq_read(&qb[i], buf + (size_t)(N + i) * 4096, 4096, (uint64_t)i * 4096);
		assert_int_equal(vdev_blk_submit(a, &qa[i].r), 0);
		assert_int_equal(vdev_blk_submit(b, &qb[i].r), 0);
	}
	lreq_read(&qm, buf + (size_t)2 * N * 4096, 512, 0);
	assert_int_equal(vdev_blk_submit(m, &qm.r), 0);

	vdev_blk_close(a);
	for (int i = 0; i < N; i++) {
		assert_int_equal(qa[i].calls, 1);
		assert_int_equal(qa[i].result, 4096);
		assert_memory_equal(buf + (size_t)i * 4096, content + (size_t)i * 4096, 4096);
		assert_int_equal(qb[i].calls, 0); /* not run from another backend's close */
	}
	assert_int_equal(qm.calls, 0);
	/* The memory backend's completion waits: the VMM must still be woken for it. */
	assert_true(fd_readable(vdev_blk_loop_event_fd(l)));
	while (callsb < N || !qm.calls) {
		assert_true(vdev_blk_loop_wait(l, 10000) > 0);
		callsb = 0;
		for (int i = 0; i < N; i++)
			callsb += qb[i].calls;
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(qb[i].calls, 1);
		assert_int_equal(qb[i].result, 4096);
		assert_memory_equal(buf + (size_t)(N + i) * 4096, content + (size_t)i * 4096, 4096);
	}
	assert_int_equal(qm.calls, 1);
	assert_int_equal(qm.result, 512);
	vdev_blk_close(b);
	vdev_blk_close(m);
	vdev_blk_loop_free(l);
	unlink(path);
	free(content);
	free(buf);
	mock_vmm_fini(&mv);
}

/* Freeing a loop that still has a backend frees nothing and logs; it stays usable. */
static void t_free_busy(void **state)
{
	struct mock_vmm mv;
	vdev_blk_loop *l;
	vdev_blk *m;
	struct lreq q;
	uint8_t buf[512];
	int fd0, efd;

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	fd0 = open_fds();
	l = loop_or_skip(&mv, VDEV_BLK_ENGINE_INLINE, 0);
	assert_int_equal(open_fds(), fd0 + 1); /* INLINE: the event fd only */
	efd = vdev_blk_loop_event_fd(l);
	m = open_on(&mv, l, "memory", NULL);
	vdev_blk_loop_free(l);
	assert_true(mock_vmm_log_contains(&mv, "backends open"));
	assert_true(fcntl(efd, F_GETFD) >= 0);
	lreq_read(&q, buf, sizeof(buf), 0);
	assert_int_equal(vdev_blk_submit(m, &q.r), 0);
	assert_int_equal(vdev_blk_loop_wait(l, 1000), 1);
	assert_int_equal(q.calls, 1);
	vdev_blk_close(m);
	vdev_blk_loop_free(l);
	assert_int_equal(open_fds(), fd0);
	vdev_blk_loop_free(NULL);
	mock_vmm_fini(&mv);
}

/* A private backend and loop backends side by side; callbacks closing backends. */
static void t_mix(void **state)
{
	struct mock_vmm mv;
	vdev_blk_loop *l;
	vdev_blk *p, *x, *y;
	struct vdev_blk_opts po = { .struct_size = sizeof(po), .driver = "null", .size = FSIZE };
	struct lreq qp, qx, qy;
	uint8_t buf[3][512];

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	l = loop_or_skip(&mv, VDEV_BLK_ENGINE_THREADS, 0);
	assert_int_equal(vdev_blk_open(mv.ctx, &po, &p), 0);
	x = open_on(&mv, l, "memory", NULL);
	y = open_on(&mv, l, "null", NULL);
	assert_int_not_equal(vdev_blk_event_fd(p), vdev_blk_loop_event_fd(l));
	assert_int_equal(vdev_blk_event_fd(x), vdev_blk_loop_event_fd(l));

	lreq_read(&qp, buf[0], 512, 0);
	lreq_read(&qx, buf[1], 512, 0);
	lreq_read(&qy, buf[2], 512, 0);
	assert_int_equal(vdev_blk_submit(p, &qp.r), 0);
	assert_int_equal(vdev_blk_submit(x, &qx.r), 0);
	assert_int_equal(vdev_blk_submit(y, &qy.r), 0);
	/* The loop runs its own backends only; the private one keeps its own fd. */
	assert_int_equal(vdev_blk_loop_poll(l), 2);
	assert_int_equal(qx.calls + qy.calls, 2);
	assert_int_equal(qp.calls, 0);
	assert_true(fd_readable(vdev_blk_event_fd(p)));
	assert_int_equal(vdev_blk_poll(p), 1);
	assert_int_equal(qp.calls, 1);

	/* vdev_blk_poll() on a loop backend runs the loop: y's completion too. */
	qx.calls = qy.calls = 0;
	assert_int_equal(vdev_blk_submit(x, &qx.r), 0);
	assert_int_equal(vdev_blk_submit(y, &qy.r), 0);
	assert_int_equal(vdev_blk_poll(x), 2);
	assert_int_equal(qy.calls, 1);

	/* Callbacks close their own and the other backend inside one loop poll. */
	qx.calls = qy.calls = 0;
	qx.close_me = y;
	qy.close_me = x;
	assert_int_equal(vdev_blk_submit(x, &qx.r), 0);
	assert_int_equal(vdev_blk_submit(y, &qy.r), 0);
	assert_int_equal(vdev_blk_loop_poll(l), 2);
	assert_int_equal(qx.calls, 1);
	assert_int_equal(qy.calls, 1);

	/* A callback run by one backend's close closes another: done when close returns. */
	x = open_on(&mv, l, "memory", NULL);
	y = open_on(&mv, l, "null", NULL);
	qx.calls = 0;
	qx.close_me = y;
	assert_int_equal(vdev_blk_submit(x, &qx.r), 0);
	vdev_blk_close(x);
	assert_int_equal(qx.calls, 1);
	vdev_blk_loop_free(l); /* all closed: freed */
	assert_false(mock_vmm_log_contains(&mv, "backends open"));
	vdev_blk_close(p);
	mock_vmm_fini(&mv);
}

/* Option checks: bad loop options; a file backend on a loop with another engine. */
static void t_options(void **state)
{
	struct mock_vmm mv;
	struct vdev_blk_loop_opts lo = { .struct_size = sizeof(lo) };
	vdev_blk_loop *l = (vdev_blk_loop *)(uintptr_t)1, *il;
	vdev_blk *b = NULL;
	uint8_t *content = malloc(FSIZE);
	char path[256];
	struct vdev_blk_opts o = { .struct_size = sizeof(o), .driver = "file" };

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	assert_int_equal(vdev_blk_loop_new(NULL, &lo, &l), -EINVAL);
	assert_int_equal(vdev_blk_loop_new(mv.ctx, NULL, &l), -EINVAL);
	assert_int_equal(vdev_blk_loop_new(mv.ctx, &lo, NULL), -EINVAL);
	lo.reserved = 1;
	assert_int_equal(vdev_blk_loop_new(mv.ctx, &lo, &l), -EINVAL);
	assert_null(l);
	lo = (struct vdev_blk_loop_opts){ .struct_size = sizeof(lo), .engine = 4 };
	assert_int_equal(vdev_blk_loop_new(mv.ctx, &lo, &l), -EINVAL);
	lo = (struct vdev_blk_loop_opts){ .struct_size = sizeof(lo),
					  .queue_depth = BLK_MAX_QD + 1 };
	assert_int_equal(vdev_blk_loop_new(mv.ctx, &lo, &l), -EINVAL);
	lo = (struct vdev_blk_loop_opts){ .struct_size = 4 };
	assert_int_equal(vdev_blk_loop_new(mv.ctx, &lo, &l), -EINVAL);
	assert_int_equal(vdev_blk_loop_event_fd(NULL), -EINVAL);
	assert_int_equal(vdev_blk_loop_poll(NULL), -EINVAL);
	assert_int_equal(vdev_blk_loop_wait(NULL, 0), -EINVAL);

	make_file(path, sizeof(path), FSIZE, 3, content);
	o.path = path;
	l = loop_or_skip(&mv, VDEV_BLK_ENGINE_THREADS, 0);
	il = loop_or_skip(&mv, VDEV_BLK_ENGINE_INLINE, 0);
	o.loop = l;
	o.engine = VDEV_BLK_ENGINE_IO_URING;
	assert_int_equal(vdev_blk_open(mv.ctx, &o, &b), -ENOTSUP);
	assert_null(b);
	o.loop = il;
	o.engine = VDEV_BLK_ENGINE_AUTO;
	assert_int_equal(vdev_blk_open(mv.ctx, &o, &b), -ENOTSUP);
	assert_int_equal(vdev_blk_loop_wait(il, 0), 0); /* nothing in flight */
	o.loop = l;
	o.engine = VDEV_BLK_ENGINE_THREADS;
	assert_int_equal(vdev_blk_open(mv.ctx, &o, &b), 0);
	vdev_blk_close(b);
	vdev_blk_loop_free(l);
	vdev_blk_loop_free(il);
	unlink(path);
	free(content);
	mock_vmm_fini(&mv);
}

#define ENG(e) ((void *)(uintptr_t)(e))

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(t_many, ENG(VDEV_BLK_ENGINE_IO_URING)),
		cmocka_unit_test_prestate(t_many, ENG(VDEV_BLK_ENGINE_THREADS)),
		cmocka_unit_test_prestate(t_close_inflight, ENG(VDEV_BLK_ENGINE_IO_URING)),
		cmocka_unit_test_prestate(t_close_inflight, ENG(VDEV_BLK_ENGINE_THREADS)),
		cmocka_unit_test(t_free_busy),
		cmocka_unit_test(t_mix),
		cmocka_unit_test(t_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
