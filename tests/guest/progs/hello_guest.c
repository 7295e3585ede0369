// SPDX-License-Identifier: MIT
/*
 * hello_guest: the guest harness's smoke test. A static program run inside
 * the Linux guest (tests/guest/scripts/smoke.sh) that drives libvdev's block
 * backends under a real distribution kernel:
 *
 *   blk-memory    a "memory" backend: write a pattern, read it back, compare;
 *                 a read past the end is refused with -EINVAL.
 *   blk-file      a "file" backend on a tmpfs file (AUTO engine): write,
 *                 FLUSH, read back, compare; the file holds what we wrote.
 *   blk-io_uring  the AUTO engine chose io_uring: Debian's 6.1 kernel has it,
 *                 so a fall-back to threads here would be a libvdev bug.
 *
 * Prints "VDEV-TEST: PASS <name>" or "VDEV-TEST: FAIL <name>: <why>" per
 * check; exits 0 only if all passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <vdev/vdev.h>

#define DISK_SIZE (1u << 20)
#define IO_SIZE 8192u
#define IO_OFFSET 65536u

struct done {
	int ran;
	int64_t result;
};

static int failures;

static void pass(const char *name)
{
	printf("VDEV-TEST: PASS %s\n", name);
}

static void fail(const char *name, const char *why, int err)
{
	printf("VDEV-TEST: FAIL %s: %s (%d: %s)\n", name, why, err, vdev_strerror(err));
	failures++;
}

static void on_done(struct vdev_blk_req *req, int64_t result)
{
	struct done *d = req->user;

	d->ran++;
	d->result = result;
}

/* Submit one request and wait for its completion; the result or -errno. */
static int64_t do_io(vdev_blk *blk, uint32_t op, uint64_t off, void *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct done d = { 0, 0 };
	struct vdev_blk_req req;
	int rc, spins = 0;

	memset(&req, 0, sizeof(req));
	req.op = op;
	req.offset = off;
	if (op == VDEV_BLK_READ || op == VDEV_BLK_WRITE) {
		req.iov = &iov;
		req.iovcnt = 1;
	}
	req.done = on_done;
	req.user = &d;
	rc = vdev_blk_submit(blk, &req);
	if (rc < 0)
		return rc;
	while (!d.ran && spins++ < 100) {
		rc = vdev_blk_wait(blk, 100);
		if (rc < 0 && rc != -ETIMEDOUT)
			return rc;
	}
	if (d.ran != 1)
		return -ETIMEDOUT;
	return d.result;
}

static void fill(uint8_t *buf, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 7 + (i >> 9));
}

/* Write a pattern, read it back and compare; 0 or a negative errno. */
static int round_trip(vdev_blk *blk, uint8_t seed, const char *name)
{
	static uint8_t wbuf[IO_SIZE], rbuf[IO_SIZE];
	int64_t r;

	fill(wbuf, sizeof(wbuf), seed);
	memset(rbuf, 0, sizeof(rbuf));
	r = do_io(blk, VDEV_BLK_WRITE, IO_OFFSET, wbuf, sizeof(wbuf));
	if (r != (int64_t)sizeof(wbuf)) {
		fail(name, "write", (int)r);
		return -EIO;
	}
	r = do_io(blk, VDEV_BLK_FLUSH, 0, NULL, 0);
	if (r != 0) {
		fail(name, "flush", (int)r);
		return -EIO;
	}
	r = do_io(blk, VDEV_BLK_READ, IO_OFFSET, rbuf, sizeof(rbuf));
	if (r != (int64_t)sizeof(rbuf)) {
		fail(name, "read", (int)r);
		return -EIO;
	}
	if (memcmp(wbuf, rbuf, sizeof(wbuf)) != 0) {
		fail(name, "read back differs from what was written", -EIO);
		return -EIO;
	}
	return 0;
}

static void test_memory(vdev_ctx *ctx)
{
	struct vdev_blk_opts o = { .struct_size = sizeof(o), .driver = "memory",
				   .size = DISK_SIZE };
	uint8_t buf[512];
	vdev_blk *blk;
	int64_t r;
	int rc;

	rc = vdev_blk_open(ctx, &o, &blk);
	if (rc < 0) {
		fail("blk-memory", "open", rc);
		return;
	}
	if (round_trip(blk, 0x31, "blk-memory") == 0) {
		r = do_io(blk, VDEV_BLK_READ, DISK_SIZE, buf, sizeof(buf));
		if (r != -EINVAL)
			fail("blk-memory", "read past the end not refused", (int)r);
		else
			pass("blk-memory");
	}
	vdev_blk_close(blk);
}

static void test_file(vdev_ctx *ctx)
{
	static const char path[] = "/tmp/hello_guest.img";
	struct vdev_blk_opts o = { .struct_size = sizeof(o), .driver = "file", .path = path };
	uint8_t want[IO_SIZE], got[IO_SIZE];
	vdev_blk *blk;
	int fd, rc, ok;
	ssize_t n;

	fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	if (fd < 0 || ftruncate(fd, DISK_SIZE) < 0) {
		fail("blk-file", "create the image", -errno);
		if (fd >= 0)
			close(fd);
		return;
	}
	rc = vdev_blk_open(ctx, &o, &blk);
	if (rc < 0) {
		fail("blk-file", "open", rc);
		close(fd);
		return;
	}
	ok = round_trip(blk, 0x5a, "blk-file") == 0;
	if (vdev_blk_engine(blk) == VDEV_BLK_ENGINE_IO_URING)
		pass("blk-io_uring");
	else
		fail("blk-io_uring", "AUTO did not pick io_uring", (int)vdev_blk_engine(blk));
	vdev_blk_close(blk);

	/* The host file must hold the pattern: the backend really wrote it. */
	if (ok) {
		fill(want, sizeof(want), 0x5a);
		n = pread(fd, got, sizeof(got), IO_OFFSET);
		if (n != (ssize_t)sizeof(got) || memcmp(want, got, sizeof(got)) != 0)
			fail("blk-file", "the file does not hold the written data", -EIO);
		else
			pass("blk-file");
	}
	close(fd);
	unlink(path);
}

int main(void)
{
	struct vdev_host_ops ops = { .struct_size = sizeof(ops) };
	vdev_ctx *ctx;
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("hello_guest: libvdev %s\n", vdev_version_string());
	rc = vdev_ctx_new(&ops, &ctx);
	if (rc < 0) {
		fail("ctx", "vdev_ctx_new", rc);
		return 1;
	}
	test_memory(ctx);
	test_file(ctx);
	vdev_ctx_free(ctx);
	return failures ? 1 : 0;
}
