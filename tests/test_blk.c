/* SPDX-License-Identifier: MIT */
/*
 * Block backends, the common layer and the inline drivers: option checks
 * at open, the null driver, the memory driver's semantics (completions
 * only from poll, the event fd, large sparse disks), the getters, engine
 * selection and its log line, size refresh, and many backends per context.
 */
#include <sys/resource.h>

#include "block/blk_internal.h"
#include "test_blk_util.h"

static int open_with(struct mock_vmm *mv, const struct vdev_blk_opts *o, vdev_blk **b)
{
	*b = (vdev_blk *)(uintptr_t)1; /* must be reset on failure */
	return vdev_blk_open(mv->ctx, o, b);
}

static void t_open_errors(void **state)
{
	struct mock_vmm mv;
	struct vdev_blk_opts o;
	vdev_blk *b;
	char dir[] = "/tmp/vdev-blk-dir-XXXXXX";

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	o = (struct vdev_blk_opts){ .struct_size = sizeof(o), .driver = "memory", .size = 1 << 20 };
	assert_int_equal(vdev_blk_open(NULL, &o, &b), -EINVAL);
	assert_int_equal(vdev_blk_open(mv.ctx, NULL, &b), -EINVAL);
	assert_int_equal(vdev_blk_open(mv.ctx, &o, NULL), -EINVAL);

#define EXPECT(err, ...)                                                        \
	do {                                                                    \
		o = (struct vdev_blk_opts){ .struct_size = sizeof(o), __VA_ARGS__ }; \
		assert_int_equal(open_with(&mv, &o, &b), err);                  \
		assert_null(b);                                                 \
	} while (0)

	o = (struct vdev_blk_opts){ .struct_size = 4, .driver = "memory", .size = 4096 };
	assert_int_equal(open_with(&mv, &o, &b), -EINVAL);
	assert_null(b);
	EXPECT(-EINVAL, .driver = NULL, .size = 4096);
	EXPECT(-EINVAL, .driver = "floppy", .size = 4096);
	EXPECT(-EINVAL, .driver = "memory", .size = 4096, .reserved = 1);
	EXPECT(-EINVAL, .driver = "memory", .size = 4096, .engine = 4);
	EXPECT(-EINVAL, .driver = "memory", .size = 4096, .queue_depth = BLK_MAX_QD + 1);
	EXPECT(-EINVAL, .driver = "memory", .size = 4096, .threads = BLK_MAX_THREADS + 1);
	/* memory/null: a size that is a non-zero multiple of 512, no path, no O_DIRECT. */
	EXPECT(-EINVAL, .driver = "memory", .size = 0);
	EXPECT(-EINVAL, .driver = "memory", .size = 1000);
	EXPECT(-EINVAL, .driver = "memory", .size = 4096, .path = "/tmp/x");
	EXPECT(-EINVAL, .driver = "memory", .size = 4096, .direct = 1);
	EXPECT(-EINVAL, .driver = "null", .size = 0);
	EXPECT(-EINVAL, .driver = "null", .size = 513);
	EXPECT(-EINVAL, .driver = "null", .size = 4096, .path = "/tmp/x");
	EXPECT(-ENOTSUP, .driver = "memory", .size = 4096, .engine = VDEV_BLK_ENGINE_THREADS);
	EXPECT(-ENOTSUP, .driver = "null", .size = 4096, .engine = VDEV_BLK_ENGINE_IO_URING);
	/* file: a path, no size; a regular file or a block device. */
	EXPECT(-EINVAL, .driver = "file");
	EXPECT(-EINVAL, .driver = "file", .path = "");
	EXPECT(-ENOENT, .driver = "file", .path = "/nonexistent/vdev-blk");
	EXPECT(-EINVAL, .driver = "file", .path = "/dev/null", .readonly = 1);
	assert_non_null(mkdtemp(dir));
	EXPECT(-EINVAL, .driver = "file", .path = dir, .readonly = 1);
	EXPECT(-EISDIR, .driver = "file", .path = dir);
	rmdir(dir);
	{
		char path[256];
		uint8_t *content = malloc(8192);

		make_file(path, sizeof(path), 8192, 1, content);
		EXPECT(-EINVAL, .driver = "file", .path = path, .size = 8192);
		EXPECT(-ENOTSUP, .driver = "file", .path = path,
		       .engine = VDEV_BLK_ENGINE_INLINE);
		/* A struct from a newer caller: fields past ours are ignored. */
		{
			struct {
				struct vdev_blk_opts o;
				uint64_t future;
			} big = { .o = { .driver = "file", .path = path }, .future = 7 };

			big.o.struct_size = sizeof(big);
			assert_int_equal(vdev_blk_open(mv.ctx, &big.o, &b), 0);
			assert_int_equal(vdev_blk_size(b), 8192);
			vdev_blk_close(b);
		}
		unlink(path);
		free(content);
	}
#undef EXPECT
	mock_vmm_fini(&mv);
}

static void t_null_driver(void **state)
{
	const struct blk_cfg cfg = { "null", VDEV_BLK_ENGINE_AUTO, 0 };
	struct blk_env env;
	struct treq t;
	uint8_t *buf = abuf(65536);

	(void)state;
	env_open(&env, &cfg, 1ull << 40); /* a terabyte of nothing */
	assert_int_equal(vdev_blk_engine(env.b), VDEV_BLK_ENGINE_INLINE);
	assert_int_equal(vdev_blk_size(env.b), 1ull << 40);
	memset(buf, 0xAA, 65536);
	treq_init(&t, &env, VDEV_BLK_READ, (1ull << 40) - 65536);
	t.iov[0] = (struct iovec){ buf, 1000 };
	t.iov[1] = (struct iovec){ buf + 1000, 0 };
	t.iov[2] = (struct iovec){ buf + 1000, 64536 };
	t.r.iovcnt = 3;
	assert_int_equal(run1(&env, &t), 65536);
	for (int i = 0; i < 65536; i++)
		assert_int_equal(buf[i], 0);
	memset(buf, 0xAA, 65536);
	treq_rw(&t, &env, VDEV_BLK_WRITE, 0, buf, 65536);
	assert_int_equal(run1(&env, &t), 65536);
	treq_rw(&t, &env, VDEV_BLK_READ, 0, buf, 512);
	assert_int_equal(run1(&env, &t), 512);
	assert_int_equal(buf[0], 0); /* dropped */
	assert_int_equal(buf[512], 0xAA);
	treq_init(&t, &env, VDEV_BLK_FLUSH, 0);
	assert_int_equal(run1(&env, &t), 0);
	treq_init(&t, &env, VDEV_BLK_DISCARD, 0);
	t.r.len = 1ull << 40;
	assert_int_equal(run1(&env, &t), 0);
	treq_init(&t, &env, VDEV_BLK_WRITE_ZEROES, 512);
	t.r.len = (1ull << 40) - 512;
	t.r.flags = VDEV_BLK_F_UNMAP | VDEV_BLK_F_FUA;
	assert_int_equal(run1(&env, &t), 0);
	/* The same checks as everywhere. */
	treq_rw(&t, &env, VDEV_BLK_READ, 1ull << 40, buf, 512);
	assert_int_equal(vdev_blk_submit(env.b, &t.r), -EINVAL);
	assert_int_equal(vdev_blk_poll(env.b), 0);
	free(buf);
	env_close(&env);
}

static void t_inline_delivery(void **state)
{
	const struct blk_cfg cfg = { "memory", VDEV_BLK_ENGINE_INLINE, 0 };
	struct blk_env env;
	struct treq t[40];
	uint8_t *buf = abuf(40 * 512);
	int efd;

	(void)state;
	env_open(&env, &cfg, 1 << 20);
	efd = vdev_blk_event_fd(env.b);
	assert_false(fd_readable(efd));
	for (int i = 0; i < 40; i++) {
		memset(buf + i * 512, i, 512);
		treq_rw(&t[i], &env, VDEV_BLK_WRITE, (uint64_t)i * 512, buf + i * 512, 512);
		submit_ok(&env, &t[i]);
		assert_int_equal(t[i].calls, 0); /* done at submit, delivered at poll */
		assert_true(fd_readable(efd));
	}
	assert_int_equal(vdev_blk_inflight(env.b), 40);
	/* Completions run in submission order. */
	assert_int_equal(vdev_blk_poll(env.b), 40);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(t[i].calls, 1);
		assert_int_equal(t[i].order, i);
		assert_int_equal(t[i].result, 512);
	}
	assert_false(fd_readable(efd));
	assert_int_equal(vdev_blk_inflight(env.b), 0);
	/* wait() with nothing ready and something in flight would sleep: here it cannot. */
	assert_int_equal(vdev_blk_wait(env.b, 0), 0);
	/* A callback resubmitting itself: one per poll, never a loop inside poll. */
	treq_rw(&t[0], &env, VDEV_BLK_READ, 512, buf, 512);
	t[0].resubmit = 5;
	submit_ok(&env, &t[0]);
	for (int i = 1; i <= 6; i++) {
		assert_int_equal(vdev_blk_poll(env.b), 1);
		assert_int_equal(t[0].calls, i);
		assert_int_equal(fd_readable(efd), i < 6);
	}
	assert_int_equal(buf[0], 1);
	free(buf);
	env_close(&env);
}

static void t_memory_sparse(void **state)
{
	const struct blk_cfg cfg = { "memory", VDEV_BLK_ENGINE_AUTO, 0 };
	uint64_t size = 64ull << 30; /* NORESERVE: only what is written costs memory */
	struct mock_vmm mv;
	struct vdev_blk_opts o = { .struct_size = sizeof(o), .driver = cfg.driver, .size = size };
	struct treq t;
	vdev_blk *b;
	uint8_t *buf = abuf(3 * 4096);

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	assert_int_equal(vdev_blk_open(mv.ctx, &o, &b), 0);
	memset(buf, 0x5A, 3 * 4096);
	treq_init(&t, NULL, VDEV_BLK_WRITE, size - 3 * 4096 - 100);
	t.iov[0] = (struct iovec){ buf, 3 * 4096 };
	t.r.iovcnt = 1;
	assert_int_equal(vdev_blk_submit(b, &t.r), 0);
	assert_int_equal(vdev_blk_wait(b, 1000), 1);
	assert_int_equal(t.result, 3 * 4096);
	/* Discard pages in the middle (madvise) and bytes at both ends (memset). */
	treq_init(&t, NULL, VDEV_BLK_DISCARD, size - 3 * 4096 - 50);
	t.r.len = 2 * 4096 + 4000;
	assert_int_equal(vdev_blk_submit(b, &t.r), 0);
	assert_int_equal(vdev_blk_wait(b, 1000), 1);
	assert_int_equal(t.result, 0);
	memset(buf, 0xEE, 3 * 4096);
	treq_init(&t, NULL, VDEV_BLK_READ, size - 3 * 4096 - 100);
	t.iov[0] = (struct iovec){ buf, 3 * 4096 };
	t.r.iovcnt = 1;
	assert_int_equal(vdev_blk_submit(b, &t.r), 0);
	assert_int_equal(vdev_blk_wait(b, 1000), 1);
	for (int i = 0; i < 3 * 4096; i++)
		assert_int_equal(buf[i], (i < 50 || i >= 50 + 2 * 4096 + 4000) ? 0x5A : 0);
	vdev_blk_close(b);
	free(buf);
	mock_vmm_fini(&mv);
}

static void t_getters_and_engines(void **state)
{
	struct mock_vmm mv;
	struct vdev_blk_opts o = { .struct_size = sizeof(o), .driver = "file" };
	char path[256];
	uint8_t *content = malloc(1 << 20);
	vdev_blk *b, *m;
	uint64_t size;
	int fd;

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	make_file(path, sizeof(path), 1 << 20, 3, content);
	o.path = path;
	assert_int_equal(vdev_blk_open(mv.ctx, &o, &b), 0);
	/* AUTO picks io_uring where it works, and says which engine runs. */
	if (vdev_blk_engine(b) == VDEV_BLK_ENGINE_IO_URING) {
		assert_true(mock_vmm_log_contains(&mv, "engine io_uring"));
	} else {
		fprintf(stderr, "test_blk: io_uring is unavailable here: AUTO runs threads\n");
		assert_int_equal(vdev_blk_engine(b), VDEV_BLK_ENGINE_THREADS);
		assert_true(mock_vmm_log_contains(&mv, "io_uring unavailable"));
	}
	assert_int_equal(vdev_blk_size(b), 1 << 20);
	assert_int_equal(vdev_blk_alignment(b), 1);
	assert_int_equal(vdev_blk_readonly(b), 0);
	assert_int_equal(vdev_blk_inflight(b), 0);

	/* The file grows (a capacity change): refresh sees it. */
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 3 << 20), 0);
	assert_int_equal(vdev_blk_size(b), 1 << 20);
	assert_int_equal(vdev_blk_refresh_size(b, &size), 0);
	assert_int_equal(size, 3 << 20);
	assert_int_equal(vdev_blk_size(b), 3 << 20);
	assert_int_equal(vdev_blk_refresh_size(b, NULL), 0);
	close(fd);

	/* Two backends on one context, on the same file, different engines. */
	mock_vmm_clear_events(&mv);
	o.engine = VDEV_BLK_ENGINE_THREADS;
	o.threads = 2;
	o.direct = 1;
	o.readonly = 1;
	assert_int_equal(vdev_blk_open(mv.ctx, &o, &m), 0);
	assert_int_equal(vdev_blk_engine(m), VDEV_BLK_ENGINE_THREADS);
	assert_true(mock_vmm_log_contains(&mv, "engine threads (2 workers"));
	assert_int_equal(vdev_blk_readonly(m), 1);
	assert_true(vdev_blk_alignment(m) >= 512);
	assert_int_equal(vdev_blk_size(m), 3 << 20);
	assert_int_not_equal(vdev_blk_event_fd(m), vdev_blk_event_fd(b));
	vdev_blk_close(m);
	vdev_blk_close(b);

	/* NULL handles. */
	vdev_blk_close(NULL);
	vdev_blk_plug(NULL);
	vdev_blk_unplug(NULL);
	assert_int_equal(vdev_blk_poll(NULL), -EINVAL);
	assert_int_equal(vdev_blk_wait(NULL, 0), -EINVAL);
	assert_int_equal(vdev_blk_cancel(NULL, NULL), -EINVAL);
	assert_int_equal(vdev_blk_event_fd(NULL), -EINVAL);
	assert_int_equal(vdev_blk_refresh_size(NULL, &size), -EINVAL);
	unlink(path);
	free(content);
	mock_vmm_fini(&mv);
}

/* Requests running in one backend while another is busy: nothing is shared. */
static void t_many_backends(void **state)
{
	struct mock_vmm mv;
	vdev_blk *b[16];
	struct treq t[16];
	uint8_t *buf = abuf(16 * 512);

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	for (int i = 0; i < 16; i++) {
		struct vdev_blk_opts o = { .struct_size = sizeof(o), .driver = "memory",
					   .size = 4096, .queue_depth = 1 };

		assert_int_equal(vdev_blk_open(mv.ctx, &o, &b[i]), 0);
		memset(buf + i * 512, i + 1, 512);
		treq_rw(&t[i], NULL, VDEV_BLK_WRITE, 512, buf + i * 512, 512);
		assert_int_equal(vdev_blk_submit(b[i], &t[i].r), 0);
	}
	for (int i = 0; i < 16; i++) {
		assert_int_equal(vdev_blk_poll(b[i]), 1);
		memset(buf + i * 512, 0, 512);
		treq_rw(&t[i], NULL, VDEV_BLK_READ, 512, buf + i * 512, 512);
		assert_int_equal(vdev_blk_submit(b[i], &t[i].r), 0);
		assert_int_equal(vdev_blk_submit(b[i], &t[i].r), -EBUSY);
	}
	for (int i = 15; i >= 0; i--) {
		assert_int_equal(vdev_blk_poll(b[i]), 1);
		assert_int_equal(buf[i * 512 + 7], i + 1);
		vdev_blk_close(b[i]);
	}
	free(buf);
	mock_vmm_fini(&mv);
}

/* Submit from a callback while close drains: refused, and close still finishes. */
static int close_submits;

static void submit_in_close(struct vdev_blk_req *req, int64_t result)
{
	struct treq *t = req->user;

	(void)result;
	t->calls++;
	close_submits = vdev_blk_submit(t->env->b, req);
}

static void t_submit_during_close(void **state)
{
	const struct blk_cfg cfg = { "memory", VDEV_BLK_ENGINE_AUTO, 0 };
	struct blk_env env;
	struct treq t;
	uint8_t buf[512];

	(void)state;
	env_open(&env, &cfg, 4096);
	treq_rw(&t, &env, VDEV_BLK_READ, 0, buf, 512);
	t.r.done = submit_in_close;
	submit_ok(&env, &t);
	vdev_blk_close(env.b);
	env.b = NULL;
	assert_int_equal(t.calls, 1);
	assert_int_equal(close_submits, -ESHUTDOWN);
	env_close(&env);
}

/* A callback closes its backend (a LUN going away): the close finishes after poll. */
struct close_ctx {
	vdev_blk *b;
	int calls;
	int64_t results[8];
	int submit_rc[8];
};

static void close_in_callback(struct vdev_blk_req *req, int64_t result)
{
	struct close_ctx *c = req->user;
	int i = c->calls++;

	c->results[i] = result;
	if (i == 0)
		vdev_blk_close(c->b);
	c->submit_rc[i] = vdev_blk_submit(c->b, req); /* the backend is closing */
	vdev_blk_close(c->b); /* again: a no-op */
}

static void t_close_from_callback(void **state)
{
	const char *drivers[] = { "memory", "file" };

	(void)state;
	for (int d = 0; d < 2; d++) {
		struct mock_vmm mv;
		struct vdev_blk_opts o = { .struct_size = sizeof(o), .driver = drivers[d] };
		struct vdev_blk_req r[8];
		struct close_ctx c = { 0 };
		uint8_t *buf = abuf(8 * 4096);
		uint8_t *content = malloc(1 << 20);
		char path[256] = "";
		int n;

		assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
		if (d == 1) {
			make_file(path, sizeof(path), 1 << 20, 5, content);
			o.path = path;
		} else {
			o.size = 1 << 20;
		}
		assert_int_equal(vdev_blk_open(mv.ctx, &o, &c.b), 0);
		for (int i = 0; i < 8; i++) {
			struct iovec *iov = malloc(sizeof(*iov));

			*iov = (struct iovec){ buf + i * 4096, 4096 };
			r[i] = (struct vdev_blk_req){ .op = VDEV_BLK_READ, .offset = (uint64_t)i * 4096,
						      .iov = iov, .iovcnt = 1,
						      .done = close_in_callback, .user = &c };
			assert_int_equal(vdev_blk_submit(c.b, &r[i]), 0);
		}
		/* Runs the first callback, which closes; every request still completes once. */
		n = vdev_blk_wait(c.b, 10000);
		assert_true(n >= 1);
		assert_int_equal(c.calls, 8);
		for (int i = 0; i < 8; i++) {
			assert_int_equal(c.results[i], 4096);
			assert_int_equal(c.submit_rc[i], -ESHUTDOWN);
			free((void *)r[i].iov);
		}
		if (path[0])
			unlink(path);
		free(content);
		free(buf);
		mock_vmm_fini(&mv);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_open_errors),
		cmocka_unit_test(t_null_driver),
		cmocka_unit_test(t_inline_delivery),
		cmocka_unit_test(t_memory_sparse),
		cmocka_unit_test(t_getters_and_engines),
		cmocka_unit_test(t_many_backends),
		cmocka_unit_test(t_submit_during_close),
		cmocka_unit_test(t_close_from_callback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
