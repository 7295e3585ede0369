/* SPDX-License-Identifier: MIT */
/*
 * Block backends, each driver × engine: the memory driver (inline engine)
 * and the file driver on io_uring and on the thread pool, buffered and
 * O_DIRECT. Random multi-iovec traffic against a reference copy, FUA and
 * FLUSH seen through another fd, DISCARD/WRITE_ZEROES, plug batching,
 * queue depth, cancel of plugged requests, close with requests in flight,
 * the submit-time checks, read-only backends and the event fd.
 */
#include <limits.h>
#include <time.h>

#include "block/blk_internal.h"
#include "test_blk_util.h"

#define DISK_SIZE (4u << 20)

static const struct blk_cfg cfg_memory = { "memory", VDEV_BLK_ENGINE_AUTO, 0 };
static const struct blk_cfg cfg_uring = { "file", VDEV_BLK_ENGINE_IO_URING, 0 };
static const struct blk_cfg cfg_uring_direct = { "file", VDEV_BLK_ENGINE_IO_URING, 1 };
static const struct blk_cfg cfg_threads = { "file", VDEV_BLK_ENGINE_THREADS, 0 };
static const struct blk_cfg cfg_threads_direct = { "file", VDEV_BLK_ENGINE_THREADS, 1 };

static const struct blk_cfg *cfg_of(void **state)
{
	return *state;
}

static bool is_file(const struct blk_cfg *c)
{
	return !strcmp(c->driver, "file");
}

/* ---- random traffic against the reference ------------------------------ */

struct rop {
	struct treq t;
	uint8_t *buf;           /* the iovecs point into it */
	uint8_t *mem;           /* allocation behind buf */
	size_t len;
};

/* Split [buf, buf+len) into 1..6 iovecs of multiples of @a (some empty). */
static void split_iov(uint64_t *seed, struct treq *t, uint8_t *buf, size_t len, size_t a)
{
	unsigned int n = 1 + (unsigned int)(rnd(seed) % 6);
	size_t left = len;
	unsigned int i;

	for (i = 0; i < n - 1 && left; i++) {
		size_t l = (size_t)(rnd(seed) % (left / a + 1)) * a;

		t->iov[i].iov_base = buf;
		t->iov[i].iov_len = l;
		buf += l;
		left -= l;
	}
	t->iov[i].iov_base = buf;
	t->iov[i].iov_len = left;
	t->r.iovcnt = i + 1;
}

static void t_roundtrip(void **state)
{
	const struct blk_cfg *cfg = cfg_of(state);
	struct blk_env env;
	uint64_t seed = 0x1234567ull + (uint64_t)cfg->engine * 31 + (uint64_t)cfg->direct;
	const unsigned int nseg = 8;
	struct rop ops[8];
	uint64_t seg;
	size_t a;
	unsigned long nreq = 0;

	env_open(&env, cfg, DISK_SIZE);
	a = vdev_blk_alignment(env.b);
	assert_int_equal(a, cfg->direct ? vdev_blk_alignment(env.b) : 1);
	if (cfg->direct)
		assert_true(a >= 512 && !(a & (a - 1)));
	seg = env.size / nseg;
	for (int round = 0; round < 60; round++) {
		vdev_blk_plug(env.b);
		for (unsigned int k = 0; k < nseg; k++) {
			struct rop *o = &ops[k];
			uint64_t lo = seg * k, room;
			uint64_t off = lo + (rnd(&seed) % (seg / 2)) / a * a;
			unsigned int pick = (unsigned int)(rnd(&seed) % 100);
			size_t misalign = cfg->direct ? 0 : (size_t)(rnd(&seed) % 8);

			room = lo + seg - off;
			o->len = (size_t)VDEV__MIN(room, 1 + rnd(&seed) % (96 * 1024));
			o->len = (o->len + a - 1) / a * a;
			if (o->len > room)
				o->len = (size_t)room;
			o->mem = abuf(o->len + misalign);
			o->buf = o->mem + misalign;
			if (pick < 45) {
				treq_init(&o->t, &env, VDEV_BLK_WRITE, off);
				fill_rnd(&seed, o->buf, o->len);
				if (pick < 10)
					o->t.r.flags = VDEV_BLK_F_FUA;
				split_iov(&seed, &o->t, o->buf, o->len, a);
			} else if (pick < 88) {
				treq_init(&o->t, &env, VDEV_BLK_READ, off);
				memset(o->buf, 0xEE, o->len);
				split_iov(&seed, &o->t, o->buf, o->len, a);
			} else if (pick < 95) {
				treq_init(&o->t, &env, VDEV_BLK_WRITE_ZEROES, off);
				o->t.r.len = o->len;
				if (pick & 1)
					o->t.r.flags = VDEV_BLK_F_UNMAP;
			} else if (pick < 98) {
				treq_init(&o->t, &env, VDEV_BLK_DISCARD, off);
				o->t.r.len = o->len;
			} else {
				treq_init(&o->t, &env, VDEV_BLK_FLUSH, 0);
			}
			submit_ok(&env, &o->t);
			nreq++;
		}
		assert_int_equal(vdev_blk_inflight(env.b), nseg);
		vdev_blk_unplug(env.b);
		drain(&env);
		for (unsigned int k = 0; k < nseg; k++) {
			struct rop *o = &ops[k];
			uint64_t off = o->t.r.offset;

			assert_int_equal(o->t.calls, 1);
			switch (o->t.r.op) {
			case VDEV_BLK_WRITE:
				assert_int_equal(o->t.result, (int64_t)o->len);
				memcpy(env.ref + off, o->buf, o->len);
				break;
			case VDEV_BLK_READ:
				assert_int_equal(o->t.result, (int64_t)o->len);
				assert_memory_equal(o->buf, env.ref + off, o->len);
				break;
			case VDEV_BLK_WRITE_ZEROES:
			case VDEV_BLK_DISCARD:
				/* Both drivers here read a discarded range back as zeroes. */
				assert_int_equal(o->t.result, 0);
				memset(env.ref + off, 0, o->len);
				break;
			default:
				assert_int_equal(o->t.result, 0);
			}
			free(o->mem);
		}
	}
	assert_true(nreq == 60u * nseg);
	assert_int_equal(vdev_blk_inflight(env.b), 0);
	check_range(&env, 0, (size_t)env.size);
	check_file(&env);
	env_close(&env);
}

/* ---- FUA, FLUSH: data visible through another fd ------------------------ */

static void t_fua_flush(void **state)
{
	const struct blk_cfg *cfg = cfg_of(state);
	struct blk_env env;
	uint64_t seed = 99;
	struct treq t[16], fl;
	uint8_t *buf = abuf(16 * 8192);

	env_open(&env, cfg, DISK_SIZE);
	fill_rnd(&seed, buf, 16 * 8192);

	/* FUA: durable (and so visible) when it completes. */
	treq_rw(&t[0], &env, VDEV_BLK_WRITE, 65536, buf, 8192);
	t[0].r.flags = VDEV_BLK_F_FUA;
	assert_int_equal(run1(&env, &t[0]), 8192);
	memcpy(env.ref + 65536, buf, 8192);
	check_file(&env);

	/*
	 * Crash-consistency style: the writes completed, then a FLUSH
	 * completed; everything must be there when read through a separate
	 * descriptor (which never saw the backend's).
	 */
	for (int i = 0; i < 16; i++) {
		treq_rw(&t[i], &env, VDEV_BLK_WRITE, (uint64_t)i * 131072 + 8192,
			buf + i * 8192, 8192);
		submit_ok(&env, &t[i]);
	}
	drain(&env);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(t[i].result, 8192);
		memcpy(env.ref + (uint64_t)i * 131072 + 8192, buf + i * 8192, 8192);
	}
	treq_init(&fl, &env, VDEV_BLK_FLUSH, 0);
	assert_int_equal(run1(&env, &fl), 0);
	if (is_file(cfg)) {
		int fd = open(env.path, O_RDONLY | O_DIRECT);
		uint8_t *chk = abuf(8192);

		assert_true(fd >= 0);
		for (int i = 0; i < 16; i++) {
			assert_int_equal(pread(fd, chk, 8192, (off_t)i * 131072 + 8192), 8192);
			assert_memory_equal(chk, buf + i * 8192, 8192);
		}
		close(fd);
		free(chk);
	}
	check_file(&env);
	/* FLUSH ignores offset and len; FUA is accepted on reads and flushes. */
	treq_init(&fl, &env, VDEV_BLK_FLUSH, UINT64_MAX);
	fl.r.len = UINT64_MAX;
	fl.r.flags = VDEV_BLK_F_FUA;
	assert_int_equal(run1(&env, &fl), 0);
	free(buf);
	env_close(&env);
}

/* ---- DISCARD and WRITE_ZEROES ------------------------------------------- */

static void zero_op(struct blk_env *env, uint32_t op, uint32_t flags, uint64_t off, uint64_t len)
{
	struct treq t;

	treq_init(&t, env, op, off);
	t.r.len = len;
	t.r.flags = flags;
	assert_int_equal(run1(env, &t), 0);
	memset(env->ref + off, 0, len);
}

static void t_zeroes(void **state)
{
	const struct blk_cfg *cfg = cfg_of(state);
	struct blk_env env;
	uint64_t a;

	env_open(&env, cfg, DISK_SIZE);
	a = vdev_blk_alignment(env.b);
	/* Buffered (a == 1): ranges that start and end inside pages. */
	zero_op(&env, VDEV_BLK_WRITE_ZEROES, 0, a == 1 ? 4096 + 993 : 4096, a == 1 ? 70001 : 69632);
	zero_op(&env, VDEV_BLK_WRITE_ZEROES, VDEV_BLK_F_UNMAP, 200 * 1024, 300 * 1024);
	zero_op(&env, VDEV_BLK_WRITE_ZEROES, VDEV_BLK_F_FUA, 600 * 1024 + a, 12 * a);
	zero_op(&env, VDEV_BLK_WRITE_ZEROES, VDEV_BLK_F_FUA | VDEV_BLK_F_UNMAP, 700 * 1024, 64 * a);
	zero_op(&env, VDEV_BLK_DISCARD, 0, 1024 * 1024 + (a == 1 ? 77 : 0), 256 * 1024);
	zero_op(&env, VDEV_BLK_DISCARD, 0, env.size - 8192, 8192); /* to the very end */
	check_range(&env, 0, 2u << 20);
	check_range(&env, env.size - 65536, 65536);
	check_file(&env);
	env_close(&env);
}

/* ---- plug/unplug -------------------------------------------------------- */

static void t_plug(void **state)
{
	const struct blk_cfg *cfg = cfg_of(state);
	struct blk_env env;
	struct treq t[16];
	uint8_t *buf = abuf(16 * 4096);
	unsigned long calls;

	env_open(&env, cfg, DISK_SIZE);
	vdev_blk_plug(env.b);
	vdev_blk_plug(env.b); /* nests */
	for (int i = 0; i < 16; i++) {
		treq_rw(&t[i], &env, VDEV_BLK_READ, (uint64_t)i * 65536, buf + i * 4096, 4096);
		submit_ok(&env, &t[i]);
	}
	calls = vdev__blk_uring_submit_calls(env.b);
	usleep(20000);
	/* Nothing went to the host: nothing completes, the fd stays quiet. */
	assert_false(fd_readable(vdev_blk_event_fd(env.b)));
	assert_int_equal(vdev_blk_poll(env.b), 0);
	assert_int_equal(vdev_blk_inflight(env.b), 16);
	vdev_blk_unplug(env.b);
	usleep(10000);
	assert_int_equal(vdev_blk_poll(env.b), 0); /* still plugged once */
	vdev_blk_unplug(env.b);
	if (cfg->engine == VDEV_BLK_ENGINE_IO_URING)
		assert_int_equal(vdev__blk_uring_submit_calls(env.b), calls + 1); /* one submit */
	drain(&env);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(t[i].calls, 1);
		assert_int_equal(t[i].result, 4096);
		assert_memory_equal(buf + i * 4096, env.ref + i * 65536, 4096);
	}
	vdev_blk_unplug(env.b); /* unbalanced: a no-op */
	free(buf);
	env_close(&env);
}

/* ---- queue depth -------------------------------------------------------- */

static void t_queue_depth(void **state)
{
	const struct blk_cfg *cfg = cfg_of(state);
	struct vdev_blk_opts o = { .queue_depth = 4 };
	struct blk_env env;
	struct treq t[6];
	uint8_t *buf = abuf(6 * 4096);

	assert_int_equal(env_open_opts(&env, cfg, DISK_SIZE, &o), 0);
	vdev_blk_plug(env.b);
	for (int i = 0; i < 6; i++)
		treq_rw(&t[i], &env, VDEV_BLK_READ, (uint64_t)i * 4096, buf + i * 4096, 4096);
	for (int i = 0; i < 4; i++)
		submit_ok(&env, &t[i]);
	assert_int_equal(vdev_blk_submit(env.b, &t[4].r), -EAGAIN);
	assert_int_equal(vdev_blk_inflight(env.b), 4);
	/* The same request twice would complete twice: refused. */
	assert_int_equal(vdev_blk_submit(env.b, &t[0].r), -EBUSY);
	vdev_blk_unplug(env.b);
	drain(&env);
	assert_int_equal(t[4].calls, 0); /* refused: never completes */
	submit_ok(&env, &t[4]);
	submit_ok(&env, &t[5]);
	drain(&env);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(t[i].calls, 1);
		assert_int_equal(t[i].result, 4096);
	}
	free(buf);
	env_close(&env);
}

/* ---- cancel of plugged requests, and -ENOENT ---------------------------- */

static void t_cancel_plugged(void **state)
{
	const struct blk_cfg *cfg = cfg_of(state);
	struct blk_env env;
	struct treq t[3], never;
	uint8_t *buf = abuf(3 * 4096);

	env_open(&env, cfg, DISK_SIZE);
	memset(buf, 0xEE, 3 * 4096);
	vdev_blk_plug(env.b);
	for (int i = 0; i < 3; i++) {
		treq_rw(&t[i], &env, VDEV_BLK_READ, (uint64_t)i * 8192, buf + i * 4096, 4096);
		submit_ok(&env, &t[i]);
	}
	assert_int_equal(vdev_blk_cancel(env.b, &t[1].r), 0);
	assert_int_equal(t[1].calls, 0); /* not from inside cancel */
	assert_int_equal(vdev_blk_cancel(env.b, &t[1].r), 0); /* done, not delivered yet */
	assert_int_equal(vdev_blk_cancel(env.b, &t[2].r), 0); /* the last on the list */
	vdev_blk_unplug(env.b);
	drain(&env);
	assert_int_equal(t[0].result, 4096);
	assert_int_equal(t[1].result, -ECANCELED);
	assert_int_equal(t[2].result, -ECANCELED);
	for (int i = 0; i < 3; i++)
		assert_int_equal(t[i].calls, 1);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(buf[4096 + i], 0xEE); /* the cancelled read never ran */
	/* Not in flight: delivered, never submitted, garbage in internal[]. */
	assert_int_equal(vdev_blk_cancel(env.b, &t[0].r), -ENOENT);
	treq_rw(&never, &env, VDEV_BLK_READ, 0, buf, 4096);
	assert_int_equal(vdev_blk_cancel(env.b, &never.r), -ENOENT);
	never.r.internal[0] = (uint64_t)(uintptr_t)env.b->slots + 1;
	assert_int_equal(vdev_blk_cancel(env.b, &never.r), -ENOENT);
	never.r.internal[0] = (uint64_t)(uintptr_t)&env.b->slots[0];
	assert_int_equal(vdev_blk_cancel(env.b, &never.r), -ENOENT); /* a free slot */
	never.r.internal[0] = UINT64_MAX;
	assert_int_equal(vdev_blk_cancel(env.b, &never.r), -ENOENT);
	assert_int_equal(t[0].calls + t[1].calls + t[2].calls + never.calls, 3);
	free(buf);
	env_close(&env);
}

/* ---- close with requests in flight -------------------------------------- */

static void t_close_inflight(void **state)
{
	const struct blk_cfg *cfg = cfg_of(state);
	struct blk_env env;
	struct treq t[12];
	uint64_t seed = 5;
	uint8_t *buf = abuf(12 * 16384);

	env_open(&env, cfg, DISK_SIZE);
	fill_rnd(&seed, buf, 12 * 16384);
	for (int i = 0; i < 12; i++) {
		if (i == 8)
			vdev_blk_plug(env.b); /* the last four are still plugged at close */
		treq_rw(&t[i], &env, VDEV_BLK_WRITE, (uint64_t)i * 65536, buf + i * 16384, 16384);
		submit_ok(&env, &t[i]);
		memcpy(env.ref + i * 65536, buf + i * 16384, 16384);
	}
	/* Close runs the completions from inside, with their results. */
	vdev_blk_close(env.b);
	env.b = NULL;
	for (int i = 0; i < 12; i++) {
		assert_int_equal(t[i].calls, 1);
		assert_int_equal(t[i].result, 16384);
	}
	check_file(&env);
	/* Reopen and read back through the backend too. */
	if (is_file(cfg)) {
		struct vdev_blk_opts o = { .struct_size = sizeof(o), .driver = "file",
					   .path = env.path, .engine = cfg->engine,
					   .direct = cfg->direct };

		assert_int_equal(vdev_blk_open(env.mv.ctx, &o, &env.b), 0);
		check_range(&env, 0, 12 * 65536);
	}
	free(buf);
	env_close(&env);
}

/* ---- submit-time checks ------------------------------------------------- */

static void expect_refused(struct blk_env *env, struct treq *t, int err)
{
	assert_int_equal(vdev_blk_submit(env->b, &t->r), err);
	assert_int_equal(vdev_blk_inflight(env->b), 0);
}

static void t_bad_requests(void **state)
{
	const struct blk_cfg *cfg = cfg_of(state);
	struct blk_env env;
	struct treq t;
	uint8_t *buf = abuf(3 * 4096);
	struct iovec many[IOV_MAX + 1];
	uint64_t a;

	env_open(&env, cfg, DISK_SIZE);
	a = vdev_blk_alignment(env.b);

	assert_int_equal(vdev_blk_submit(env.b, NULL), -EINVAL);
	assert_int_equal(vdev_blk_submit(NULL, &t.r), -EINVAL);
	/* Unknown ops and flags. */
	treq_rw(&t, &env, 0, 0, buf, 4096);
	expect_refused(&env, &t, -EINVAL);
	treq_rw(&t, &env, 6, 0, buf, 4096);
	expect_refused(&env, &t, -EINVAL);
	treq_rw(&t, &env, UINT32_MAX, 0, buf, 4096);
	expect_refused(&env, &t, -EINVAL);
	treq_rw(&t, &env, VDEV_BLK_WRITE, 0, buf, 4096);
	t.r.flags = 1u << 7;
	expect_refused(&env, &t, -EINVAL);
	t.r.flags = VDEV_BLK_F_UNMAP; /* only for WRITE_ZEROES */
	expect_refused(&env, &t, -EINVAL);
	treq_init(&t, &env, VDEV_BLK_DISCARD, 0);
	t.r.len = 4096;
	t.r.flags = VDEV_BLK_F_UNMAP;
	expect_refused(&env, &t, -EINVAL);
	/* No callback. */
	treq_rw(&t, &env, VDEV_BLK_READ, 0, buf, 4096);
	t.r.done = NULL;
	expect_refused(&env, &t, -EINVAL);
	/* iovec arrays. */
	treq_rw(&t, &env, VDEV_BLK_READ, 0, buf, 4096);
	t.r.iov = NULL;
	expect_refused(&env, &t, -EINVAL);
	treq_rw(&t, &env, VDEV_BLK_READ, 0, buf, 4096);
	t.r.iovcnt = 0;
	expect_refused(&env, &t, -EINVAL);
	treq_rw(&t, &env, VDEV_BLK_WRITE, 0, buf, 0); /* total length 0 */
	expect_refused(&env, &t, -EINVAL);
	treq_rw(&t, &env, VDEV_BLK_READ, 0, NULL, 4096); /* NULL buffer */
	expect_refused(&env, &t, -EINVAL);
	for (int i = 0; i <= IOV_MAX; i++) {
		many[i].iov_base = buf;
		many[i].iov_len = a;
	}
	treq_init(&t, &env, VDEV_BLK_READ, 0);
	t.r.iov = many;
	t.r.iovcnt = IOV_MAX + 1;
	expect_refused(&env, &t, -EINVAL);
	t.r.iovcnt = UINT_MAX;
	expect_refused(&env, &t, -EINVAL);
	/* Lengths that overflow when summed. */
	treq_init(&t, &env, VDEV_BLK_READ, 0);
	t.iov[0].iov_base = buf;
	t.iov[0].iov_len = ((size_t)SSIZE_MAX / 2 + 4096) & ~(size_t)4095;
	t.iov[1].iov_base = buf;
	t.iov[1].iov_len = ((size_t)SSIZE_MAX / 2 + 4096) & ~(size_t)4095;
	t.r.iovcnt = 2;
	expect_refused(&env, &t, -EINVAL);
	/* Ranges. */
	treq_rw(&t, &env, VDEV_BLK_READ, env.size - 2048, buf, 4096);
	expect_refused(&env, &t, -EINVAL);
	treq_rw(&t, &env, VDEV_BLK_READ, env.size, buf, 4096);
	expect_refused(&env, &t, -EINVAL);
	treq_rw(&t, &env, VDEV_BLK_WRITE, UINT64_MAX - 4095, buf, 4096); /* offset + len wraps */
	expect_refused(&env, &t, -EINVAL);
	treq_init(&t, &env, VDEV_BLK_WRITE_ZEROES, 4096);
	t.r.len = 0;
	expect_refused(&env, &t, -EINVAL);
	t.r.len = UINT64_MAX - 4095; /* offset + len wraps */
	expect_refused(&env, &t, -EINVAL);
	treq_init(&t, &env, VDEV_BLK_DISCARD, env.size - 4096);
	t.r.len = 8192;
	expect_refused(&env, &t, -EINVAL);
	t.r.len = 4096; /* exactly to the end: fine */
	assert_int_equal(run1(&env, &t), 0);
	memset(env.ref + env.size - 4096, 0, 4096);

	if (cfg->direct) {
		/* O_DIRECT: offset, every buffer and every length aligned. */
		treq_rw(&t, &env, VDEV_BLK_READ, a / 2, buf, 4096);
		expect_refused(&env, &t, -EINVAL);
		treq_rw(&t, &env, VDEV_BLK_READ, 0, buf + 1, 4096);
		expect_refused(&env, &t, -EINVAL);
		treq_rw(&t, &env, VDEV_BLK_WRITE, 0, buf, 4096 - 1);
		expect_refused(&env, &t, -EINVAL);
		treq_init(&t, &env, VDEV_BLK_READ, 0);
		t.iov[0] = (struct iovec){ buf, a };
		t.iov[1] = (struct iovec){ buf + a + 8, a }; /* second buffer misaligned */
		t.r.iovcnt = 2;
		expect_refused(&env, &t, -EINVAL);
		t.iov[1] = (struct iovec){ buf + a, a / 2 }; /* second length misaligned */
		expect_refused(&env, &t, -EINVAL);
		treq_init(&t, &env, VDEV_BLK_WRITE_ZEROES, a / 2);
		t.r.len = a;
		expect_refused(&env, &t, -EINVAL);
		treq_init(&t, &env, VDEV_BLK_DISCARD, 0);
		t.r.len = a + 1;
		expect_refused(&env, &t, -EINVAL);
	} else {
		/* Buffered: any byte offset, length and address. */
		treq_rw(&t, &env, VDEV_BLK_READ, 3, buf + 1, 4095);
		assert_int_equal(run1(&env, &t), 4095);
		assert_memory_equal(buf + 1, env.ref + 3, 4095);
	}
	/* Nothing refused ever completed. */
	assert_int_equal(vdev_blk_poll(env.b), 0);
	assert_int_equal(env.completed, cfg->direct ? 1 : 2);
	check_file(&env);
	free(buf);
	env_close(&env);
}

/* ---- read-only ---------------------------------------------------------- */

static void t_readonly(void **state)
{
	const struct blk_cfg *cfg = cfg_of(state);
	struct vdev_blk_opts o = { .readonly = 1 };
	struct blk_env env;
	struct treq t;
	uint8_t *buf = abuf(4096);

	assert_int_equal(env_open_opts(&env, cfg, DISK_SIZE, &o), 0);
	assert_int_equal(vdev_blk_readonly(env.b), 1);
	treq_rw(&t, &env, VDEV_BLK_WRITE, 0, buf, 4096);
	expect_refused(&env, &t, -EROFS);
	t.r.flags = VDEV_BLK_F_FUA;
	expect_refused(&env, &t, -EROFS);
	treq_init(&t, &env, VDEV_BLK_DISCARD, 0);
	t.r.len = 4096;
	expect_refused(&env, &t, -EROFS);
	treq_init(&t, &env, VDEV_BLK_WRITE_ZEROES, 0);
	t.r.len = 4096;
	expect_refused(&env, &t, -EROFS);
	assert_int_equal(vdev_blk_poll(env.b), 0);
	treq_rw(&t, &env, VDEV_BLK_READ, 8192, buf, 4096);
	assert_int_equal(run1(&env, &t), 4096);
	assert_memory_equal(buf, env.ref + 8192, 4096);
	treq_init(&t, &env, VDEV_BLK_FLUSH, 0);
	assert_int_equal(run1(&env, &t), 0);
	check_file(&env);
	free(buf);
	env_close(&env);
}

/* ---- the event fd ------------------------------------------------------- */

static void t_event_fd(void **state)
{
	const struct blk_cfg *cfg = cfg_of(state);
	struct blk_env env;
	struct treq t;
	uint8_t *buf = abuf(4096);
	struct pollfd p;
	int efd;

	env_open(&env, cfg, DISK_SIZE);
	efd = vdev_blk_event_fd(env.b);
	assert_true(efd >= 0);
	assert_false(fd_readable(efd));
	treq_rw(&t, &env, VDEV_BLK_READ, 4096, buf, 4096);
	submit_ok(&env, &t);
	assert_int_equal(t.calls, 0); /* never from inside submit */
	/* The VMM's loop: wait for the fd, then poll. */
	p = (struct pollfd){ .fd = efd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 10000), 1);
	assert_int_equal(t.calls, 0);
	assert_int_equal(vdev_blk_poll(env.b), 1);
	assert_int_equal(t.calls, 1);
	assert_int_equal(t.result, 4096);
	assert_false(fd_readable(efd));
	assert_int_equal(vdev_blk_poll(env.b), 0);
	/* Nothing in flight: wait does not sleep. */
	assert_int_equal(vdev_blk_wait(env.b, -1), 0);
	/* A callback that resubmits: each poll runs what was ready, no more. */
	treq_rw(&t, &env, VDEV_BLK_READ, 4096, buf, 4096);
	t.resubmit = 3;
	submit_ok(&env, &t);
	for (int i = 1; i <= 4; i++) {
		assert_int_equal(vdev_blk_wait(env.b, 10000), 1);
		assert_int_equal(t.calls, i);
	}
	assert_int_equal(vdev_blk_inflight(env.b), 0);
	free(buf);
	env_close(&env);
}

#define CASE(fn, cfg, tag) { #fn "/" tag, fn, NULL, NULL, (void *)&cfg }
#define MATRIX(fn)                                          \
	CASE(fn, cfg_memory, "memory"),                     \
	CASE(fn, cfg_uring, "io_uring"),                    \
	CASE(fn, cfg_uring_direct, "io_uring-direct"),      \
	CASE(fn, cfg_threads, "threads"),                   \
	CASE(fn, cfg_threads_direct, "threads-direct")

int main(void)
{
	const struct CMUnitTest tests[] = {
		MATRIX(t_roundtrip),
		MATRIX(t_fua_flush),
		MATRIX(t_zeroes),
		MATRIX(t_plug),
		MATRIX(t_queue_depth),
		MATRIX(t_cancel_plugged),
		MATRIX(t_close_inflight),
		MATRIX(t_bad_requests),
		MATRIX(t_readonly),
		MATRIX(t_event_fd),
	};

	if (!blk_test_dir())
		fprintf(stderr, "test_blk_file: WARNING: no directory here takes O_DIRECT "
				"(tried $TMPDIR, /var/tmp, /tmp); the O_DIRECT cases will fail\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
