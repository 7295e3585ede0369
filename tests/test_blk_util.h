/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers for the block-backend tests (test_blk*.c): a backend under
 * test with a reference copy of its contents, requests that record their
 * completions, temporary files in a directory that takes O_DIRECT, and
 * aligned buffers.
 */
#ifndef VDEV_TESTS_TEST_BLK_UTIL_H
#define VDEV_TESTS_TEST_BLK_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <vdev/block.h>

#include "mock_vmm.h"

/* One configuration a test runs in (cmocka prestate). */
struct blk_cfg {
	const char *driver;     /* "memory", "null", "file" */
	uint32_t engine;
	int direct;
};

/* A request that records its completions. */
struct treq {
	struct vdev_blk_req r;
	struct iovec iov[8];
	int calls;
	int64_t result;
	int order;              /* completion order, from env->completed */
	struct blk_env *env;
	int resubmit;           /* the callback resubmits this many more times */
};

struct blk_env {
	struct mock_vmm mv;
	vdev_blk *b;
	char path[256];
	int fd;                 /* a separate read-only fd on the file */
	uint8_t *ref;           /* what the backend should hold */
	uint64_t size;
	int completed;          /* callbacks run so far */
};

static inline void treq_done(struct vdev_blk_req *req, int64_t result)
{
	struct treq *t = req->user;

	t->calls++;
	t->result = result;
	t->order = t->env ? t->env->completed++ : 0;
	if (t->resubmit > 0 && t->env) {
		t->resubmit--;
		assert_int_equal(vdev_blk_submit(t->env->b, &t->r), 0);
	}
}

static inline void treq_init(struct treq *t, struct blk_env *env, uint32_t op, uint64_t offset)
{
	memset(t, 0, sizeof(*t));
	t->r.op = op;
	t->r.offset = offset;
	t->r.done = treq_done;
	t->r.user = t;
	t->r.iov = t->iov;
	t->env = env;
}

/* A single-buffer READ/WRITE. */
static inline void treq_rw(struct treq *t, struct blk_env *env, uint32_t op, uint64_t offset,
			   void *buf, size_t len)
{
	treq_init(t, env, op, offset);
	t->iov[0].iov_base = buf;
	t->iov[0].iov_len = len;
	t->r.iovcnt = 1;
}

static inline void *abuf(size_t len)
{
	void *p = NULL;

	assert_int_equal(posix_memalign(&p, 4096, len ? len : 1), 0);
	return p;
}

/* xorshift64*: deterministic test data without global state. */
static inline uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static inline void fill_rnd(uint64_t *s, uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(rnd(s) >> 32);
}

/*
 * A directory for test files that takes O_DIRECT: $TMPDIR, /var/tmp, /tmp
 * (tmpfs may refuse O_DIRECT). NULL if none does.
 */
static inline const char *blk_test_dir(void)
{
	const char *cand[] = { getenv("TMPDIR"), "/var/tmp", "/tmp" };

	for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
		char path[256];
		void *buf;
		int fd, ok;

		if (!cand[i] || !cand[i][0])
			continue;
		snprintf(path, sizeof(path), "%s/vdev-blk-probe-XXXXXX", cand[i]);
		fd = mkstemp(path);
		if (fd < 0)
			continue;
		close(fd);
		fd = open(path, O_RDWR | O_DIRECT);
		buf = abuf(4096);
		memset(buf, 0, 4096);
		ok = fd >= 0 && pwrite(fd, buf, 4096, 0) == 4096;
		free(buf);
		if (fd >= 0)
			close(fd);
		unlink(path);
		if (ok)
			return cand[i];
	}
	return NULL;
}

/* Create a temporary file of @size bytes filled from @seed; the caller unlinks it. */
static inline void make_file(char *path, size_t path_len, uint64_t size, uint64_t seed,
			     uint8_t *content)
{
	const char *dir = blk_test_dir();
	int fd;

	if (!dir)
		dir = "/tmp"; /* buffered tests only (env_open_opts skips O_DIRECT) */
	snprintf(path, path_len, "%s/vdev-blk-test-XXXXXX", dir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fill_rnd(&seed, content, size);
	assert_int_equal(pwrite(fd, content, size, 0), (ssize_t)size);
	close(fd);
}

static inline int env_open_opts(struct blk_env *env, const struct blk_cfg *cfg, uint64_t size,
				const struct vdev_blk_opts *extra)
{
	struct vdev_blk_opts o;
	int rc;

	if (!strcmp(cfg->driver, "file") && cfg->direct && !blk_test_dir()) {
		fprintf(stderr, "test_blk: SKIPPED: no directory here ($TMPDIR, /var/tmp, /tmp) "
				"takes O_DIRECT\n");
		skip();
	}
	memset(env, 0, sizeof(*env));
	env->fd = -1;
	env->size = size;
	assert_int_equal(mock_vmm_init(&env->mv, 0, 0), 0);
	if (strcmp(cfg->driver, "null")) { /* null holds nothing */
		env->ref = calloc(1, size);
		assert_non_null(env->ref);
	}
	if (extra)
		o = *extra;
	else
		memset(&o, 0, sizeof(o));
	o.struct_size = sizeof(o);
	o.driver = cfg->driver;
	o.engine = cfg->engine;
	o.direct = cfg->direct;
	if (!strcmp(cfg->driver, "file")) {
		make_file(env->path, sizeof(env->path), size, size * 7 + 1, env->ref);
		o.path = env->path;
		env->fd = open(env->path, O_RDONLY);
		assert_true(env->fd >= 0);
	} else {
		o.size = size;
	}
	rc = vdev_blk_open(env->mv.ctx, &o, &env->b);
	if (rc == -ENOTSUP && cfg->engine == VDEV_BLK_ENGINE_IO_URING) {
		/* Containers often block io_uring (seccomp): the thread pool covers them. */
		fprintf(stderr, "test_blk: SKIPPED: io_uring is unavailable here\n");
		if (env->fd >= 0)
			close(env->fd);
		if (env->path[0])
			unlink(env->path);
		free(env->ref);
		mock_vmm_fini(&env->mv);
		skip();
	}
	return rc;
}

static inline void env_open(struct blk_env *env, const struct blk_cfg *cfg, uint64_t size)
{
	assert_int_equal(env_open_opts(env, cfg, size, NULL), 0);
	assert_non_null(env->b);
	if (strcmp(cfg->driver, "file") == 0 && cfg->engine != VDEV_BLK_ENGINE_AUTO)
		assert_int_equal(vdev_blk_engine(env->b), cfg->engine);
}

static inline void env_close(struct blk_env *env)
{
	vdev_blk_close(env->b);
	env->b = NULL;
	if (env->fd >= 0)
		close(env->fd);
	if (env->path[0])
		unlink(env->path);
	free(env->ref);
	mock_vmm_fini(&env->mv);
}

/* Submit @t and expect success. */
static inline void submit_ok(struct blk_env *env, struct treq *t)
{
	assert_int_equal(vdev_blk_submit(env->b, &t->r), 0);
}

/* Wait until every request in flight completed (at most 10 s). */
static inline void drain(struct blk_env *env)
{
	while (vdev_blk_inflight(env->b)) {
		int n = vdev_blk_wait(env->b, 10000);

		assert_true(n > 0);
	}
}

/* Run @t alone and return its result. */
static inline int64_t run1(struct blk_env *env, struct treq *t)
{
	submit_ok(env, t);
	drain(env);
	assert_int_equal(t->calls, 1);
	return t->result;
}

/* 1 if the fd is readable right now. */
static inline int fd_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Read the backend's bytes [off, off+len) through the backend and compare with ref. */
static inline void check_range(struct blk_env *env, uint64_t off, size_t len)
{
	uint8_t *buf = abuf(len);
	struct treq t;

	memset(buf, 0xEE, len);
	treq_rw(&t, env, VDEV_BLK_READ, off, buf, len);
	assert_int_equal(run1(env, &t), (int64_t)len);
	assert_memory_equal(buf, env->ref + off, len);
	free(buf);
}

/* Compare the whole file, read through a separate fd, with ref. */
static inline void check_file(struct blk_env *env)
{
	uint8_t *buf;

	if (env->fd < 0)
		return;
	buf = malloc(env->size);
	assert_non_null(buf);
	assert_int_equal(pread(env->fd, buf, env->size, 0), (ssize_t)env->size);
	assert_memory_equal(buf, env->ref, env->size);
	free(buf);
}

#endif /* VDEV_TESTS_TEST_BLK_UTIL_H */
