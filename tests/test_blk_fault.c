/* SPDX-License-Identifier: MIT */
/*
 * Block backends when things go wrong, on both file engines: host errors
 * come back as they are (-EFBIG past RLIMIT_FSIZE; -EIO for a read into a
 * file that shrank), WRITE_ZEROES and DISCARD on a host without
 * fallocate(), cancellation (a queued request on the thread pool, a
 * request finished on the host but not delivered, io_uring best effort),
 * the AUTO engine falling back to threads where io_uring is blocked
 * (seccomp), and, when the machine lets us (root, loop devices), a real
 * block device. Then injected errors (vdev_blk_inject_error()): argument
 * checks, which requests a range fails and which it lets through, and the
 * completion contract for the failed ones, on memory and file backends.
 */
#include <linux/audit.h>
#include <linux/falloc.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "block/blk_internal.h"
#include "test_blk_util.h"

#define DISK_SIZE (1u << 20)

static const struct blk_cfg cfg_uring = { "file", VDEV_BLK_ENGINE_IO_URING, 0 };
static const struct blk_cfg cfg_uring_direct = { "file", VDEV_BLK_ENGINE_IO_URING, 1 };
static const struct blk_cfg cfg_threads = { "file", VDEV_BLK_ENGINE_THREADS, 0 };
static const struct blk_cfg cfg_threads_direct = { "file", VDEV_BLK_ENGINE_THREADS, 1 };

/* ---- host errors -------------------------------------------------------- */

static void t_efbig(void **state)
{
	const struct blk_cfg *cfg = *state;
	struct blk_env env;
	struct rlimit old, lim;
	struct sigaction ign = { .sa_handler = SIG_IGN }, oldsa;
	struct treq t;
	uint8_t *buf = abuf(8192);

	env_open(&env, cfg, DISK_SIZE);
	memset(buf, 0x77, 8192);
	/* Writes at or past RLIMIT_FSIZE fail with EFBIG (and SIGXFSZ, ignored here). */
	assert_int_equal(sigaction(SIGXFSZ, &ign, &oldsa), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = DISK_SIZE / 2;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	treq_rw(&t, &env, VDEV_BLK_WRITE, DISK_SIZE / 2 + 4096, buf, 8192);
	assert_int_equal(run1(&env, &t), -EFBIG);
	treq_rw(&t, &env, VDEV_BLK_WRITE, DISK_SIZE / 2 + 4096, buf, 8192);
	t.r.flags = VDEV_BLK_F_FUA;
	assert_int_equal(run1(&env, &t), -EFBIG);
	/* Below the limit all is well. */
	treq_rw(&t, &env, VDEV_BLK_WRITE, 4096, buf, 8192);
	assert_int_equal(run1(&env, &t), 8192);
	memcpy(env.ref + 4096, buf, 8192);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(sigaction(SIGXFSZ, &oldsa, NULL), 0);
	check_file(&env);
	free(buf);
	env_close(&env);
}

static void t_shrunk_file(void **state)
{
	const struct blk_cfg *cfg = *state;
	struct blk_env env;
	struct treq t;
	uint8_t *buf = abuf(3 * 4096);
	uint64_t size;
	int fd;

	env_open(&env, cfg, DISK_SIZE);
	/* Someone truncates the image under us. */
	fd = open(env.path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DISK_SIZE / 2 + 4096), 0);
	/* Partly there: a short read, then nothing: -EIO, not zeroes. */
	treq_init(&t, &env, VDEV_BLK_READ, DISK_SIZE / 2);
	t.iov[0] = (struct iovec){ buf, 2048 };
	t.iov[1] = (struct iovec){ buf + 2048, 2 * 4096 + 2048 }; /* the end falls inside */
	t.r.iovcnt = 2;
	assert_int_equal(run1(&env, &t), -EIO);
	/* Wholly past the new end. */
	treq_rw(&t, &env, VDEV_BLK_READ, DISK_SIZE - 8192, buf, 8192);
	assert_int_equal(run1(&env, &t), -EIO);
	/* Still inside: fine. */
	treq_rw(&t, &env, VDEV_BLK_READ, 0, buf, 8192);
	assert_int_equal(run1(&env, &t), 8192);
	assert_memory_equal(buf, env.ref, 8192);
	/* After a refresh the checks know the new size. */
	assert_int_equal(vdev_blk_refresh_size(env.b, &size), 0);
	assert_int_equal(size, DISK_SIZE / 2 + 4096);
	treq_rw(&t, &env, VDEV_BLK_READ, DISK_SIZE / 2, buf, 8192);
	assert_int_equal(vdev_blk_submit(env.b, &t.r), -EINVAL);
	close(fd);
	free(buf);
	env_close(&env);
}

/* ---- no fallocate on the host ------------------------------------------- */

static void t_no_fallocate(void **state)
{
	const struct blk_cfg *cfg = *state;
	struct blk_env env;
	struct treq t;
	uint64_t a;

	env_open(&env, cfg, DISK_SIZE);
	a = vdev_blk_alignment(env.b);
	env.b->file.quirks = BLK_QUIRK_NO_FALLOCATE; /* before any request: workers see it */
	/* WRITE_ZEROES falls back to writing zeroes (from the read-only zero pages). */
	treq_init(&t, &env, VDEV_BLK_WRITE_ZEROES, 8 * a);
	t.r.len = 600 * 1024; /* more than one chunk of zero pages */
	assert_int_equal(run1(&env, &t), 0);
	memset(env.ref + 8 * a, 0, 600 * 1024);
	treq_init(&t, &env, VDEV_BLK_WRITE_ZEROES, 700 * 1024);
	t.r.len = 16 * a;
	t.r.flags = VDEV_BLK_F_UNMAP | VDEV_BLK_F_FUA;
	assert_int_equal(run1(&env, &t), 0);
	memset(env.ref + 700 * 1024, 0, 16 * a);
	/* DISCARD is a hint: a host that cannot punch holes succeeds and keeps the data. */
	treq_init(&t, &env, VDEV_BLK_DISCARD, 800 * 1024);
	t.r.len = 64 * 1024;
	assert_int_equal(run1(&env, &t), 0);
	check_range(&env, 0, DISK_SIZE);
	check_file(&env);
	env_close(&env);
}

/* ---- cancellation ------------------------------------------------------- */

static void t_cancel_queued_threads(void **state)
{
	const struct blk_cfg cfg = { "file", VDEV_BLK_ENGINE_THREADS, 0 };
	struct vdev_blk_opts o = { .threads = 2 };
	struct blk_env env;
	struct treq t[4];
	uint8_t *buf = abuf(4 * 4096);
	struct blk_pool *p;

	(void)state;
	assert_int_equal(env_open_opts(&env, &cfg, DISK_SIZE, &o), 0);
	p = vdev__blk_threads_pool(env.b);
	assert_non_null(p);
	memset(buf, 0xEE, 4 * 4096);
	vdev__blk_pool_pause(p, true); /* the workers start nothing: all stay queued */
	for (int i = 0; i < 4; i++) {
		treq_rw(&t[i], &env, i == 3 ? VDEV_BLK_WRITE : VDEV_BLK_READ, (uint64_t)i * 4096,
			buf + i * 4096, 4096);
		submit_ok(&env, &t[i]);
	}
	assert_int_equal(vdev_blk_cancel(env.b, &t[1].r), 0);
	assert_int_equal(vdev_blk_cancel(env.b, &t[3].r), 0); /* the tail of the queue */
	assert_int_equal(t[1].calls + t[3].calls, 0);
	assert_true(fd_readable(vdev_blk_event_fd(env.b)));
	assert_int_equal(vdev_blk_poll(env.b), 2);
	assert_int_equal(t[1].result, -ECANCELED);
	assert_int_equal(t[3].result, -ECANCELED);
	vdev__blk_pool_pause(p, false);
	drain(&env);
	assert_int_equal(t[0].result, 4096);
	assert_int_equal(t[2].result, 4096);
	for (int i = 0; i < 4; i++)
		assert_int_equal(t[i].calls, 1);
	assert_memory_equal(buf, env.ref, 4096);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(buf[4096 + i], 0xEE); /* the cancelled read never ran */
	check_file(&env); /* the cancelled write never ran */
	free(buf);
	env_close(&env);
}

/* Finished on the host, not delivered yet: cancel says 0, the result stands. */
static void t_cancel_finished(void **state)
{
	const struct blk_cfg *cfg = *state;
	struct blk_env env;
	struct treq t;
	uint8_t *buf = abuf(4096);
	struct pollfd p;

	env_open(&env, cfg, DISK_SIZE);
	treq_rw(&t, &env, VDEV_BLK_READ, 4096, buf, 4096);
	submit_ok(&env, &t);
	p = (struct pollfd){ .fd = vdev_blk_event_fd(env.b), .events = POLLIN };
	assert_int_equal(poll(&p, 1, 10000), 1);
	assert_int_equal(vdev_blk_cancel(env.b, &t.r), 0);
	assert_int_equal(vdev_blk_cancel(env.b, &t.r), 0); /* twice is fine */
	drain(&env);
	assert_int_equal(t.calls, 1);
	assert_int_equal(t.result, 4096);
	assert_memory_equal(buf, env.ref + 4096, 4096);
	assert_int_equal(vdev_blk_cancel(env.b, &t.r), -ENOENT);
	free(buf);
	env_close(&env);
}

/* io_uring: best effort. Every request completes exactly once, either way. */
static void t_cancel_storm(void **state)
{
	const struct blk_cfg *cfg = *state;
	struct vdev_blk_opts o = { .queue_depth = 64 };
	struct blk_env env;
	struct treq *t = calloc(64, sizeof(*t));
	uint8_t *buf = abuf(64 * 4096);
	int cancelled = 0, ok = 0;

	assert_int_equal(env_open_opts(&env, cfg, 4 * DISK_SIZE, &o), 0);
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 64; i++) {
			treq_rw(&t[i], &env, (i & 1) ? VDEV_BLK_READ : VDEV_BLK_WRITE,
				(uint64_t)i * 65536, buf + i * 4096, 4096);
			submit_ok(&env, &t[i]);
		}
		for (int i = 63; i >= 0; i--) {
			int rc = vdev_blk_cancel(env.b, &t[i].r);

			/* -ENOENT only if it was delivered, which only poll does. */
			assert_int_equal(rc, 0);
		}
		drain(&env);
		for (int i = 0; i < 64; i++) {
			assert_int_equal(t[i].calls, 1);
			if (t[i].result == -ECANCELED) {
				cancelled++;
			} else {
				assert_int_equal(t[i].result, 4096);
				ok++;
			}
		}
	}
	assert_int_equal(cancelled + ok, 4 * 64);
	print_message("cancel storm (%s%s): %d cancelled, %d completed\n",
		      cfg->engine == VDEV_BLK_ENGINE_IO_URING ? "io_uring" : "threads",
		      cfg->direct ? ", O_DIRECT" : "", cancelled, ok);
	free(buf);
	free(t);
	env_close(&env);
}

/* ---- short transfers ---------------------------------------------------- */

/*
 * The host moves at most a few blocks per call (a test switch in the file
 * driver), so every request goes through the resubmission path: resumes
 * inside an iovec, across empty ones, to the last byte.
 */
static void t_short_io(void **state)
{
	const struct blk_cfg *cfg = *state;
	struct blk_env env;
	uint64_t seed = 4242, a;
	struct treq t[8];
	uint8_t *buf = abuf(8 * 65536);

	env_open(&env, cfg, DISK_SIZE);
	a = vdev_blk_alignment(env.b);
	env.b->file.short_io = a == 1 ? 1000 : 3 * a;
	for (int round = 0; round < 10; round++) {
		for (int i = 0; i < 8; i++) {
			uint8_t *p = buf + i * 65536;
			uint64_t off = (uint64_t)i * (DISK_SIZE / 8) + (rnd(&seed) % 4096) / a * a;
			size_t l0 = (size_t)(rnd(&seed) % 20000) / a * a;
			size_t l2 = (size_t)(1 + rnd(&seed) % 30000 + a) / a * a;
			uint32_t op = (round + i) & 1 ? VDEV_BLK_READ : VDEV_BLK_WRITE;

			treq_init(&t[i], &env, op, off);
			t[i].iov[0] = (struct iovec){ p, l0 };
			t[i].iov[1] = (struct iovec){ p + l0, 0 };
			t[i].iov[2] = (struct iovec){ p + l0, l2 };
			t[i].r.iovcnt = 3;
			if (op == VDEV_BLK_WRITE)
				fill_rnd(&seed, p, l0 + l2);
			else
				memset(p, 0xEE, l0 + l2);
			submit_ok(&env, &t[i]);
		}
		drain(&env);
		for (int i = 0; i < 8; i++) {
			size_t len = t[i].iov[0].iov_len + t[i].iov[2].iov_len;
			uint8_t *p = buf + i * 65536;

			assert_int_equal(t[i].calls, 1);
			assert_int_equal(t[i].result, (int64_t)len);
			if (t[i].r.op == VDEV_BLK_WRITE)
				memcpy(env.ref + t[i].r.offset, p, len);
			else
				assert_memory_equal(p, env.ref + t[i].r.offset, len);
		}
	}
	check_file(&env);
	/* Cancel between two steps of a long transfer: -ECANCELED, or done. */
	for (int i = 0; i < 8; i++) {
		treq_rw(&t[i], &env, VDEV_BLK_READ, (uint64_t)i * 65536, buf + i * 65536, 65536);
		submit_ok(&env, &t[i]);
		assert_int_equal(vdev_blk_cancel(env.b, &t[i].r), 0);
	}
	drain(&env);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(t[i].calls, 1);
		assert_true(t[i].result == -ECANCELED || t[i].result == 65536);
	}
	free(buf);
	env_close(&env);
}

/* ---- a file system without ZERO_RANGE (tmpfs) --------------------------- */

static void t_tmpfs_zeroes(void **state)
{
	const struct blk_cfg *cfg = *state;
	struct mock_vmm mv;
	struct vdev_blk_opts o = { .struct_size = sizeof(o), .driver = "file",
				   .engine = cfg->engine };
	char path[] = "/dev/shm/vdev-blk-XXXXXX";
	uint8_t *data = malloc(DISK_SIZE), *chk = malloc(DISK_SIZE);
	uint64_t seed = 8;
	struct treq t;
	vdev_blk *b;
	int fd, rc;

	fd = mkstemp(path);
	if (fd < 0 || fallocate(fd, FALLOC_FL_ZERO_RANGE, 0, 4096) == 0 ||
	    errno != EOPNOTSUPP) {
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		free(data);
		free(chk);
		print_message("SKIPPED t_tmpfs_zeroes: /dev/shm is not a tmpfs "
			      "without ZERO_RANGE\n");
		skip();
	}
	fill_rnd(&seed, data, DISK_SIZE);
	assert_int_equal(pwrite(fd, data, DISK_SIZE, 0), DISK_SIZE);
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	o.path = path;
	rc = vdev_blk_open(mv.ctx, &o, &b);
	if (rc == -ENOTSUP) {
		close(fd);
		unlink(path);
		free(data);
		free(chk);
		mock_vmm_fini(&mv);
		print_message("SKIPPED t_tmpfs_zeroes: io_uring is unavailable here\n");
		skip();
	}
	assert_int_equal(rc, 0);
	for (int i = 0; i < 4; i++) {
		/* ZERO_RANGE is refused: PUNCH_HOLE then, which tmpfs has. */
		treq_init(&t, NULL, VDEV_BLK_WRITE_ZEROES, 100000 + (uint64_t)i * 200000);
		t.r.len = 50000 + (uint64_t)i;
		t.r.flags = i & 1 ? VDEV_BLK_F_UNMAP : 0;
		assert_int_equal(vdev_blk_submit(b, &t.r), 0);
		assert_int_equal(vdev_blk_wait(b, 10000), 1);
		assert_int_equal(t.result, 0);
		memset(data + t.r.offset, 0, t.r.len);
	}
	vdev_blk_close(b);
	assert_int_equal(pread(fd, chk, DISK_SIZE, 0), DISK_SIZE);
	assert_memory_equal(chk, data, DISK_SIZE);
	close(fd);
	unlink(path);
	free(data);
	free(chk);
	mock_vmm_fini(&mv);
}

/* io_uring: cancelling requests that went to the helper thread. */
static void t_cancel_helper(void **state)
{
	struct blk_env env;
	struct treq t[16];
	struct blk_pool *helper;

	(void)state;
	env_open(&env, &cfg_uring, DISK_SIZE);
	env.b->file.quirks = BLK_QUIRK_NO_FALLOCATE; /* every WRITE_ZEROES to the helper */
	assert_null(vdev__blk_uring_helper(env.b)); /* started on first use */
	treq_init(&t[0], &env, VDEV_BLK_WRITE_ZEROES, 0);
	t[0].r.len = 4096;
	assert_int_equal(run1(&env, &t[0]), 0);
	memset(env.ref, 0, 4096);
	helper = vdev__blk_uring_helper(env.b);
	assert_non_null(helper);

	vdev__blk_pool_pause(helper, true); /* queued requests stay queued */
	vdev_blk_plug(env.b);
	for (int i = 0; i < 16; i++) {
		treq_init(&t[i], &env, VDEV_BLK_WRITE_ZEROES, (uint64_t)i * 65536);
		t[i].r.len = 65536;
		submit_ok(&env, &t[i]);
	}
	vdev_blk_unplug(env.b);
	for (int i = 15; i >= 0; i -= 2)
		assert_int_equal(vdev_blk_cancel(env.b, &t[i].r), 0);
	vdev__blk_pool_pause(helper, false);
	drain(&env);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(t[i].calls, 1);
		if (i & 1) {
			assert_int_equal(t[i].result, -ECANCELED);
			continue;
		}
		assert_int_equal(t[i].result, 0);
		memset(env.ref + i * 65536, 0, 65536);
	}
	check_file(&env); /* the cancelled ones never ran */
	env_close(&env);
}

/* ---- AUTO falls back to threads where io_uring is blocked --------------- */

static int block_io_uring(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) ? -1 : 0;
}

/* In the child: 0 if all is as expected, else the failing step. */
static int fallback_child(const char *path)
{
	struct mock_vmm mv;
	struct vdev_blk_opts o = { .struct_size = sizeof(o), .driver = "file", .path = path };
	uint8_t *buf = abuf(4096);
	struct treq t;
	vdev_blk *b;

	if (block_io_uring())
		return 10;
	if (mock_vmm_init(&mv, 0, 0))
		return 11;
	if (vdev_blk_open(mv.ctx, &o, &b))
		return 12;
	if (vdev_blk_engine(b) != VDEV_BLK_ENGINE_THREADS)
		return 13;
	/* Reported at INFO, with the reason. */
	if (!mock_vmm_log_contains(&mv, "engine threads") ||
	    !mock_vmm_log_contains(&mv, "io_uring unavailable (io_uring_setup"))
		return 14;
	treq_rw(&t, NULL, VDEV_BLK_READ, 0, buf, 4096);
	if (vdev_blk_submit(b, &t.r) || vdev_blk_wait(b, 10000) != 1 || t.result != 4096)
		return 15;
	vdev_blk_close(b);
	/* Asking for io_uring by name: -ENOTSUP. */
	o.engine = VDEV_BLK_ENGINE_IO_URING;
	b = NULL;
	if (vdev_blk_open(mv.ctx, &o, &b) != -ENOTSUP || b)
		return 16;
	mock_vmm_fini(&mv);
	free(buf);
	return 0;
}

static void t_auto_fallback(void **state)
{
	char path[256];
	uint8_t *content = malloc(65536);
	int status;
	pid_t pid;

	(void)state;
	make_file(path, sizeof(path), 65536, 9, content);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fallback_child(path));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	unlink(path);
	free(content);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- a real block device (loop), when the machine allows ---------------- */

struct loopdev {
	char path[64];
	int fd;
};

static int loop_attach(const char *file, struct loopdev *ld)
{
	struct loop_config lc;
	int ctl, n, ffd;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -1;
	n = ioctl(ctl, LOOP_CTL_GET_FREE);
	close(ctl);
	if (n < 0)
		return -1;
	snprintf(ld->path, sizeof(ld->path), "/dev/loop%d", n);
	ld->fd = open(ld->path, O_RDWR | O_CLOEXEC);
	ffd = open(file, O_RDWR | O_CLOEXEC);
	if (ld->fd < 0 || ffd < 0)
		goto fail;
	memset(&lc, 0, sizeof(lc));
	lc.fd = (uint32_t)ffd;
	lc.block_size = 512;
	if (ioctl(ld->fd, LOOP_CONFIGURE, &lc) < 0)
		goto fail;
	close(ffd);
	return 0;
fail:
	if (ffd >= 0)
		close(ffd);
	if (ld->fd >= 0)
		close(ld->fd);
	return -1;
}

static void t_block_device(void **state)
{
	const struct blk_cfg *cfg = *state;
	struct blk_env env;
	struct vdev_blk_opts o;
	struct loopdev ld;
	vdev_blk *file_b;
	struct treq t;
	uint8_t *buf = abuf(65536);
	uint64_t seed = 77;

	env_open(&env, cfg, 8 * DISK_SIZE);
	if (geteuid() != 0 || loop_attach(env.path, &ld)) {
		print_message("SKIPPED t_block_device: needs root and loop devices\n");
		env_close(&env);
		free(buf);
		skip();
	}
	/* Swap the backend for one on the loop device over the same file. */
	file_b = env.b;
	o = (struct vdev_blk_opts){ .struct_size = sizeof(o), .driver = "file",
				    .path = ld.path, .engine = cfg->engine, .direct = cfg->direct };
	assert_int_equal(vdev_blk_open(env.mv.ctx, &o, &env.b), 0);
	vdev_blk_close(file_b);
	assert_int_equal(vdev_blk_size(env.b), 8 * DISK_SIZE); /* BLKGETSIZE64 */
	assert_int_equal(vdev_blk_alignment(env.b), cfg->direct ? 512 : 1); /* BLKSSZGET */
	assert_true(env.b->file.is_bdev);

	fill_rnd(&seed, buf, 65536);
	treq_rw(&t, &env, VDEV_BLK_WRITE, 512 * 3, buf, 65536);
	t.r.flags = VDEV_BLK_F_FUA;
	assert_int_equal(run1(&env, &t), 65536);
	memcpy(env.ref + 512 * 3, buf, 65536);
	/* WRITE_ZEROES: fallocate on the device; unaligned (buffered) by writing zeroes. */
	treq_init(&t, &env, VDEV_BLK_WRITE_ZEROES, 4096);
	t.r.len = 8192;
	assert_int_equal(run1(&env, &t), 0);
	memset(env.ref + 4096, 0, 8192);
	if (!cfg->direct) {
		treq_init(&t, &env, VDEV_BLK_WRITE_ZEROES, 20000);
		t.r.len = 3001;
		t.r.flags = VDEV_BLK_F_UNMAP;
		assert_int_equal(run1(&env, &t), 0);
		memset(env.ref + 20000, 0, 3001);
	}
	/* DISCARD: BLKDISCARD (on the helper thread for io_uring); loop punches holes. */
	treq_init(&t, &env, VDEV_BLK_DISCARD, 2 * DISK_SIZE);
	t.r.len = DISK_SIZE;
	assert_int_equal(run1(&env, &t), 0);
	treq_init(&t, &env, VDEV_BLK_FLUSH, 0);
	assert_int_equal(run1(&env, &t), 0);
	check_range(&env, 0, DISK_SIZE);
	check_range(&env, 3 * DISK_SIZE, DISK_SIZE);
	vdev_blk_close(env.b);
	env.b = NULL;
	ioctl(ld.fd, LOOP_CLR_FD);
	close(ld.fd);
	free(buf);
	env_close(&env);
}

/* ---- injected errors (vdev_blk_inject_error()) ------------------------- */

static const struct blk_cfg cfg_memory = { "memory", VDEV_BLK_ENGINE_AUTO, 0 };

#define INJ_OFF 32768u
#define INJ_LEN 8192u

/* Run @t alone; the buffer of a READ must come back untouched when it fails. */
static int64_t run_rw(struct blk_env *env, uint32_t op, uint64_t off, uint8_t *buf, size_t len)
{
	struct treq t;

	treq_rw(&t, env, op, off, buf, len);
	return run1(env, &t);
}

static int64_t run_range(struct blk_env *env, uint32_t op, uint64_t off, uint64_t len)
{
	struct treq t;

	treq_init(&t, env, op, off);
	t.r.len = len;
	return run1(env, &t);
}

static void t_inject_args(void **state)
{
	const struct blk_cfg *cfg = *state;
	struct blk_env env;

	env_open(&env, cfg, DISK_SIZE);
	assert_int_equal(vdev_blk_inject_error(NULL, 0, 4096, VDEV_BLK_OPS_RW, -EIO), -EINVAL);
	assert_int_equal(vdev_blk_inject_error(env.b, 0, 4096, 0, -EIO), -EINVAL);
	/* Bit 0 and bits above WRITE_ZEROES are no operation. */
	assert_int_equal(vdev_blk_inject_error(env.b, 0, 4096, 1u, -EIO), -EINVAL);
	assert_int_equal(vdev_blk_inject_error(env.b, 0, 4096, VDEV_BLK_OP_BIT(6), -EIO),
			 -EINVAL);
	assert_int_equal(vdev_blk_inject_error(env.b, 0, 4096, 1u << 31, -EIO), -EINVAL);
	assert_int_equal(vdev_blk_inject_error(env.b, 0, 4096, VDEV_BLK_OPS_RW, 0), -EINVAL);
	assert_int_equal(vdev_blk_inject_error(env.b, 0, 4096, VDEV_BLK_OPS_RW, EIO), -EINVAL);
	assert_int_equal(vdev_blk_inject_error(env.b, 0, 4096, VDEV_BLK_OPS_RW, -4096), -EINVAL);
	assert_int_equal(vdev_blk_inject_error(env.b, UINT64_MAX - 100, 101, VDEV_BLK_OPS_RW,
					       -EIO), -EINVAL);
	/* Nothing was set by the refusals: every request works. */
	check_range(&env, 0, 8192);
	/* The table holds VDEV_BLK_INJECT_MAX ranges, even past the end; len 0 clears. */
	for (unsigned int i = 0; i < VDEV_BLK_INJECT_MAX; i++)
		assert_int_equal(vdev_blk_inject_error(env.b, 2 * DISK_SIZE + i * 4096ull, 4096,
						       VDEV_BLK_OPS_RW, -EIO), 0);
	assert_int_equal(vdev_blk_inject_error(env.b, 0, 4096, VDEV_BLK_OPS_RW, -EIO), -ENOSPC);
	check_range(&env, 0, DISK_SIZE);
	assert_int_equal(vdev_blk_inject_error(env.b, 12345, 0, 0, 0), 0);
	assert_int_equal(vdev_blk_inject_error(env.b, UINT64_MAX - 100, 101, VDEV_BLK_OPS_RW,
					       -EIO), -EINVAL);
	assert_int_equal(vdev_blk_inject_error(env.b, UINT64_MAX - 100, 100, VDEV_BLK_OPS_RW,
					       -EIO), 0);
	assert_int_equal(vdev_blk_inject_error(env.b, 0, 0, 0, 0), 0);
	env_close(&env);
}

static void t_inject_rw(void **state)
{
	const struct blk_cfg *cfg = *state;
	struct blk_env env;
	uint64_t seed = 99;
	uint8_t *buf = abuf(3 * INJ_LEN), *pat = abuf(3 * INJ_LEN);

	env_open(&env, cfg, DISK_SIZE);
	assert_int_equal(vdev_blk_inject_error(env.b, INJ_OFF, INJ_LEN, VDEV_BLK_OPS_RW, -EIO), 0);
	fill_rnd(&seed, pat, 3 * INJ_LEN);

	/*
	 * Overlapping the first or the last block, covering the range, inside
	 * it: failed, the READ buffer untouched, the WRITE not on the host.
	 */
	for (int i = 0; i < 4; i++) {
		static const uint64_t at[4][2] = {
			{ INJ_OFF - 4096, 8192 },
			{ INJ_OFF + INJ_LEN - 4096, 8192 },
			{ INJ_OFF - 4096, INJ_LEN + 8192 },
			{ INJ_OFF + 4096, 4096 },
		};
		size_t len = (size_t)at[i][1];

		memset(buf, 0xEE, len);
		assert_int_equal(run_rw(&env, VDEV_BLK_READ, at[i][0], buf, len), -EIO);
		for (size_t k = 0; k < len; k++)
			assert_int_equal(buf[k], 0xEE);
		assert_int_equal(run_rw(&env, VDEV_BLK_WRITE, at[i][0], pat, len), -EIO);
	}
	/* Nothing reached the host: the file (and the backend) hold what they held. */
	check_file(&env);
	/* Just outside: [off - 4096, off) and [off + len, +4096) work. */
	assert_int_equal(run_rw(&env, VDEV_BLK_WRITE, INJ_OFF - 4096, pat, 4096), 4096);
	memcpy(env.ref + INJ_OFF - 4096, pat, 4096);
	assert_int_equal(run_rw(&env, VDEV_BLK_WRITE, INJ_OFF + INJ_LEN, pat + 4096, 4096), 4096);
	memcpy(env.ref + INJ_OFF + INJ_LEN, pat + 4096, 4096);
	check_range(&env, INJ_OFF - 4096, 4096);
	check_range(&env, INJ_OFF + INJ_LEN, 4096);
	/* Operations not in the mask pass: FLUSH, DISCARD and WRITE_ZEROES over the range. */
	assert_int_equal(run_range(&env, VDEV_BLK_FLUSH, 0, 0), 0);
	assert_int_equal(run_range(&env, VDEV_BLK_WRITE_ZEROES, INJ_OFF, 4096), 0);
	memset(env.ref + INJ_OFF, 0, 4096);
	/* The first failure was logged, once. */
	assert_true(mock_vmm_log_contains(&env.mv, "injected error"));

	/* A range for FLUSH alone: every FLUSH fails, data requests pass. Overlaps: first wins. */
	assert_int_equal(vdev_blk_inject_error(env.b, DISK_SIZE - 4096, 4096,
					       VDEV_BLK_OP_BIT(VDEV_BLK_FLUSH) |
					       VDEV_BLK_OP_BIT(VDEV_BLK_DISCARD), -ENOSPC), 0);
	assert_int_equal(vdev_blk_inject_error(env.b, 0, DISK_SIZE, VDEV_BLK_OPS_RW, -EROFS), 0);
	assert_int_equal(run_range(&env, VDEV_BLK_FLUSH, 0, 0), -ENOSPC);
	assert_int_equal(run_range(&env, VDEV_BLK_DISCARD, DISK_SIZE - 8192, 8192), -ENOSPC);
	assert_int_equal(run_range(&env, VDEV_BLK_DISCARD, DISK_SIZE - 8192, 4096), 0);
	memset(buf, 0, 4096);
	assert_int_equal(run_rw(&env, VDEV_BLK_READ, INJ_OFF, buf, 4096), -EIO);
	assert_int_equal(run_rw(&env, VDEV_BLK_READ, 0, buf, 4096), -EROFS);

	/* Cleared: the whole disk reads back what the reference says. */
	assert_int_equal(vdev_blk_inject_error(env.b, 0, 0, 0, 0), 0);
	/* (the block discarded above is left out: it may read as zeroes or not) */
	check_range(&env, 0, DISK_SIZE - 8192);
	check_range(&env, DISK_SIZE - 4096, 4096);
	free(buf);
	free(pat);
	env_close(&env);
}

/*
 * The completion contract holds for injected failures: never inside
 * submit, delivered by the poll with the event fd readable, one slot
 * each (queue depth), cancel is a no-op, plugging changes nothing, and a
 * request submitted before the range was set is not touched by it.
 */
static void t_inject_delivery(void **state)
{
	const struct blk_cfg *cfg = *state;
	struct vdev_blk_opts extra = { .queue_depth = 2 };
	struct blk_env env;
	struct treq t[3];
	uint8_t *buf = abuf(3 * 4096);

	assert_int_equal(env_open_opts(&env, cfg, DISK_SIZE, &extra), 0);
	if (!strcmp(cfg->driver, "memory")) {
		/* Memory runs a request at submit: one submitted before the range succeeds. */
		treq_rw(&t[0], &env, VDEV_BLK_READ, INJ_OFF, buf, 4096);
		submit_ok(&env, &t[0]);
		assert_int_equal(vdev_blk_inject_error(env.b, INJ_OFF, 4096, VDEV_BLK_OPS_RW,
						       -EIO), 0);
		drain(&env);
		assert_int_equal(t[0].calls, 1);
		assert_int_equal(t[0].result, 4096);
		assert_memory_equal(buf, env.ref + INJ_OFF, 4096);
	} else {
		assert_int_equal(vdev_blk_inject_error(env.b, INJ_OFF, 4096, VDEV_BLK_OPS_RW,
						       -EIO), 0);
	}
	/* Two injected failures fill the queue (depth 2) until they are polled. */
	assert_false(fd_readable(vdev_blk_event_fd(env.b)));
	for (int i = 0; i < 3; i++)
		treq_rw(&t[i], &env, VDEV_BLK_READ, INJ_OFF, buf + i * 4096, 4096);
	submit_ok(&env, &t[0]);
	submit_ok(&env, &t[1]);
	assert_int_equal(vdev_blk_submit(env.b, &t[2].r), -EAGAIN);
	assert_int_equal(vdev_blk_submit(env.b, &t[0].r), -EBUSY); /* still its own */
	assert_int_equal(t[0].calls + t[1].calls, 0);
	assert_int_equal(vdev_blk_inflight(env.b), 2);
	assert_int_equal(vdev_blk_cancel(env.b, &t[1].r), 0);
	assert_true(fd_readable(vdev_blk_event_fd(env.b)));
	assert_int_equal(vdev_blk_poll(env.b), 2);
	assert_int_equal(t[0].calls, 1);
	assert_int_equal(t[1].calls, 1);
	assert_int_equal(t[0].result, -EIO);
	assert_int_equal(t[1].result, -EIO);
	assert_int_equal(vdev_blk_inflight(env.b), 0);

	/* Plugged: the good one reaches the host at unplug, the bad one fails. */
	vdev_blk_plug(env.b);
	treq_rw(&t[0], &env, VDEV_BLK_READ, INJ_OFF + 4096, buf, 4096);
	treq_rw(&t[1], &env, VDEV_BLK_WRITE, INJ_OFF - 4096, buf + 4096, 8192);
	submit_ok(&env, &t[0]);
	submit_ok(&env, &t[1]);
	vdev_blk_unplug(env.b);
	drain(&env);
	assert_int_equal(t[0].calls, 1);
	assert_int_equal(t[0].result, 4096);
	assert_memory_equal(buf, env.ref + INJ_OFF + 4096, 4096);
	assert_int_equal(t[1].calls, 1);
	assert_int_equal(t[1].result, -EIO);
	check_file(&env);
	free(buf);
	env_close(&env);
}

#define CASE(fn, cfg, tag) { #fn "/" tag, fn, NULL, NULL, (void *)&cfg }
#define ENGINES(fn)                                         \
	CASE(fn, cfg_uring, "io_uring"),                    \
	CASE(fn, cfg_uring_direct, "io_uring-direct"),      \
	CASE(fn, cfg_threads, "threads"),                   \
	CASE(fn, cfg_threads_direct, "threads-direct")

int main(void)
{
	const struct CMUnitTest tests[] = {
		ENGINES(t_efbig),
		ENGINES(t_shrunk_file),
		ENGINES(t_no_fallocate),
		ENGINES(t_short_io),
		CASE(t_tmpfs_zeroes, cfg_uring, "io_uring"),
		CASE(t_tmpfs_zeroes, cfg_threads, "threads"),
		cmocka_unit_test(t_cancel_helper),
		cmocka_unit_test(t_cancel_queued_threads),
		ENGINES(t_cancel_finished),
		ENGINES(t_cancel_storm),
		cmocka_unit_test(t_auto_fallback),
		ENGINES(t_block_device),
		CASE(t_inject_args, cfg_memory, "memory"),
		CASE(t_inject_args, cfg_threads, "threads"),
		CASE(t_inject_rw, cfg_memory, "memory"),
		ENGINES(t_inject_rw),
		CASE(t_inject_delivery, cfg_memory, "memory"),
		ENGINES(t_inject_delivery),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
