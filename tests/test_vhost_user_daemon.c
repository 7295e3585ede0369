/* SPDX-License-Identifier: MIT */
/*
 * The vdev-vhost-user-scsi daemon (examples/vhost-user-scsi) as a separate
 * process: the in-test front end (test_vhost_user_util.h) connects over its
 * socket and does I/O on a file-backed disk; the control socket adds and
 * removes a LUN, which the guest side sees on the event queue (§5.6.6.3);
 * SIGTERM ends it with status 0 and the data in the file; --inject-error
 * makes a range of blocks fail with MEDIUM ERROR.
 * Skipped when the examples are not built.
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "test_vhost_user_util.h"

#define D_REQQ 2u
#define D_EVTQ 1u

struct dt {
	char dir[64];
	char sock[128], ctl[128], img[128], img2[128];
	pid_t pid;
	struct fe f;
	int cfd;
};

static int daemon_path(char *out, size_t cap)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return -1;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return -1;
	*slash = 0;
	snprintf(out, cap, "%s/../examples/vhost-user-scsi/vdev-vhost-user-scsi", self);
	return access(out, X_OK);
}

/*
 * In a spawned daemon, before exec: it goes when the test process does, so
 * a test that fails between spawn and kill (cmocka jumps past the kill)
 * leaves no daemon behind.
 */
static void die_with_parent(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void make_file(const char *path, off_t size)
{
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

static void wait_for(const char *path)
{
	for (int i = 0; i < 500; i++) {
		if (!access(path, F_OK))
			return;
		usleep(10000);
	}
	fail_msg("%s never appeared", path);
}

/* Send one control line, read one reply line into @buf. */
static void ctl(struct dt *t, const char *cmd, char *buf, size_t cap)
{
	size_t len = 0;

	assert_int_equal(write(t->cfd, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
	while (len + 1 < cap) {
		struct pollfd p = { .fd = t->cfd, .events = POLLIN };
		ssize_t n;

		assert_int_equal(poll(&p, 1, 5000), 1);
		n = read(t->cfd, buf + len, 1);
		assert_int_equal(n, 1);
		if (buf[len] == '\n')
			break;
		len++;
	}
	buf[len] = 0;
}

/* Make one event buffer available on the event queue. */
static uint64_t post_event(struct dt *t)
{
	uint64_t g = vdrv_alloc(&t->f.mem, 16, 8);
	struct vdrv_seg s = { g, 16, 1 };

	memset(vdrv_host(&t->f.mem, g), 0xff, 16);
	assert_true(vdrv_add(&t->f.vq[D_EVTQ], &s, 1, 0, g) >= 0);
	vdrv_publish(&t->f.vq[D_EVTQ]);
	fe_kick(&t->f, D_EVTQ);
	return g;
}

static void check_event(struct dt *t, uint32_t reason, unsigned int lun)
{
	struct vdrv_used u;
	const uint8_t *e;

	assert_int_equal(fe_used(&t->f, D_EVTQ, &u, 3000), 1);
	e = vdrv_host(&t->f.mem, u.token);
	assert_int_equal(fe_get32(e), 1);          /* VIRTIO_SCSI_T_TRANSPORT_RESET */
	assert_int_equal(e[4], 1);
	assert_int_equal(e[5], 0);                 /* target */
	assert_int_equal(((e[6] & 0x3f) << 8) | e[7], lun);
	assert_int_equal(fe_get32(e + 12), reason); /* 1 RESCAN, 2 REMOVED */
}

static void cmd(struct dt *t, const uint8_t *cdb, const void *dout, uint32_t dout_len,
		uint32_t din_len, struct fe_cmd *c, uint8_t *st)
{
	struct vdrv_used u;
	uint8_t resp;

	fe_scsi(&t->f, D_REQQ, 0, 0, cdb, 10, dout, dout_len, din_len, c);
	assert_int_equal(fe_used(&t->f, D_REQQ, &u, 3000), 1);
	assert_int_equal(u.token, c->token);
	fe_resp(&t->f, c, st, &resp);
	assert_int_equal(resp, 0);
}

static void test_daemon(void **state)
{
	struct dt t = { .f = { .sock = -1 } };
	char bin[PATH_MAX + 64], line[256];
	uint8_t cdb[10] = { 0 }, st, data[512];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fe_cmd c;
	int status, fd;

	(void)state;
	if (daemon_path(bin, sizeof(bin)))
		skip();
	snprintf(t.dir, sizeof(t.dir), "/tmp/vdev-vud-XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	snprintf(t.sock, sizeof(t.sock), "%s/vu.sock", t.dir);
	snprintf(t.ctl, sizeof(t.ctl), "%s/ctl.sock", t.dir);
	snprintf(t.img, sizeof(t.img), "%s/disk.img", t.dir);
	snprintf(t.img2, sizeof(t.img2), "%s/disk2.img", t.dir);
	make_file(t.img, 1 << 20);
	make_file(t.img2, 1 << 20);
	snprintf(line, sizeof(line), "0:%s", t.img);
	t.pid = fork();
	assert_true(t.pid >= 0);
	if (!t.pid) {
		die_with_parent();
		execl(bin, bin, "--socket", t.sock, "--control", t.ctl, "--num-queues", "1",
		      "--queue-size", "64", "--lun", line, (char *)NULL);
		_exit(127);
	}
	wait_for(t.sock);
	wait_for(t.ctl);

	fe_ram_init(&t.f);
	fe_connect(&t.f, t.sock);
	fe_negotiate(&t.f, FE_F_V1 | FE_F_INDIRECT | FE_F_HOTPLUG, 0);
	assert_int_equal(fe_get_u64(&t.f, FE_GET_QUEUE_NUM), 3);
	assert_int_equal(fe_mem_table(&t.f), 0);
	for (unsigned int q = 0; q < 3; q++)
		fe_ring(&t.f, q, 0, 1);

	cmd(&t, cdb, NULL, 0, 0, &c, &st); /* TEST UNIT READY: power-on UA */
	for (unsigned int i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ 0x3c);
	scsi_cdb_rw10(cdb, 1, 7, 1);
	cmd(&t, cdb, data, sizeof(data), 0, &c, &st);
	assert_int_equal(st, 0);
	scsi_cdb_rw10(cdb, 0, 7, 1);
	cmd(&t, cdb, NULL, 0, sizeof(data), &c, &st);
	assert_int_equal(st, 0);
	assert_memory_equal(vdrv_host(&t.f.mem, c.din), data, sizeof(data));

	/* Control socket: hot-plug and hot-unplug seen on the event queue. */
	t.cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(strlen(t.ctl) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, t.ctl, strlen(t.ctl) + 1);
	assert_int_equal(connect(t.cfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	post_event(&t);
	post_event(&t);
	snprintf(bin, sizeof(bin), "add-lun 0.3 disk:%s\n", t.img2);
	ctl(&t, bin, line, sizeof(line));
	assert_string_equal(line, "ok added 0.3");
	check_event(&t, 1, 3);
	ctl(&t, "list\n", line, sizeof(line));
	assert_string_equal(line, "ok 2 0.0 0.3");
	ctl(&t, "add-lun 0.4 disk:/nonexistent/x.img\n", line, sizeof(line));
	assert_true(!strncmp(line, "error: ", 7));
	ctl(&t, "remove-lun 0.3\n", line, sizeof(line));
	assert_string_equal(line, "ok removed 0.3");
	check_event(&t, 2, 3);
	ctl(&t, "remove-lun 0.3\n", line, sizeof(line));
	assert_true(!strncmp(line, "error: ", 7));
	ctl(&t, "frobnicate\n", line, sizeof(line));
	assert_true(!strncmp(line, "error: ", 7));
	close(t.cfd);

	/* SIGTERM: exit 0, the data is in the file. */
	assert_int_equal(kill(t.pid, SIGTERM), 0);
	assert_int_equal(waitpid(t.pid, &status, 0), t.pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	fd = open(t.img, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, line, 256, 7 * 512), 256);
	assert_memory_equal(line, data, 256);
	close(fd);
	assert_int_not_equal(access(t.sock, F_OK), 0);
	fe_fini(&t.f);
	unlink(t.img);
	unlink(t.img2);
	rmdir(t.dir);
}

/* ---- reconnect after SIGKILL: the inflight area (vhost-user INFLIGHT_SHMFD) ---- */

#define K_GET_INFLIGHT_FD 31
#define K_SET_INFLIGHT_FD 32
#define K_PF_INFLIGHT (1ull << 12)
#define K_N 16u

static pid_t spawn(struct dt *t, const char *bin, const char *lun)
{
	pid_t pid;

	unlink(t->sock);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		die_with_parent();
		execl(bin, bin, "--socket", t->sock, "--num-queues", "1", "--queue-size", "64",
		      "--lun", lun, (char *)NULL);
		_exit(127);
	}
	wait_for(t->sock);
	return pid;
}

static void inflight_msg(struct fe *f, uint32_t req, uint64_t size, int *fd)
{
	uint8_t p[20] = { 0 };

	fe_put64(p, size);
	p[16] = 3;  /* queues */
	p[18] = 64; /* queue size */
	if (req == K_GET_INFLIGHT_FD) {
		assert_int_equal(fe_send(f, req, 0, p, 20, NULL, 0), 0);
		assert_int_equal(fe_recv(f, req, p, 20, fd), 20);
		assert_int_equal(fe_get64(p), 3 * 1088);
		assert_true(*fd >= 0);
	} else {
		assert_int_equal(fe_ack(f, req, p, 20, fd, 1), 0);
	}
}

/* Connect as QEMU does after (re)starting a back end with inflight tracking. */
static void k_connect(struct dt *t, int *ifd, int fresh)
{
	int dfd;

	fe_connect(&t->f, t->sock);
	fe_negotiate(&t->f, FE_F_V1 | FE_F_INDIRECT | FE_F_HOTPLUG, K_PF_INFLIGHT);
	if (*ifd < 0)
		inflight_msg(&t->f, K_GET_INFLIGHT_FD, 0, ifd);
	dfd = dup(*ifd);
	inflight_msg(&t->f, K_SET_INFLIGHT_FD, 3 * 1088, &dfd);
	close(dfd);
	assert_int_equal(fe_mem_table(&t->f), 0);
	for (unsigned int q = 0; q < 3; q++)
		fe_ring(&t->f, q, fresh ? 0 : vdrv_used_idx(&t->f.vq[q]), fresh);
}

/*
 * Writes in flight when the daemon is SIGKILLed at an arbitrary moment:
 * after a restart every one is answered exactly once (the test driver
 * refuses a used id it has no request for) and the disk holds them all.
 */
static void test_sigkill_inflight(void **state)
{
	struct dt t = { .f = { .sock = -1 } };
	char bin[PATH_MAX + 64], lun[256];
	uint8_t cdb[10] = { 0 }, st, resp, data[K_N][512], back[512];
	struct fe_cmd c[K_N];
	struct vdrv_used u;
	int ifd = -1, status, fd;

	(void)state;
	if (daemon_path(bin, sizeof(bin)))
		skip();
	snprintf(t.dir, sizeof(t.dir), "/tmp/vdev-vuk-XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	snprintf(t.sock, sizeof(t.sock), "%s/vu.sock", t.dir);
	snprintf(t.img, sizeof(t.img), "%s/disk.img", t.dir);
	make_file(t.img, 1 << 20);
	snprintf(lun, sizeof(lun), "0:%s", t.img);
	fe_ram_init(&t.f);
	t.pid = spawn(&t, bin, lun);
	k_connect(&t, &ifd, 1);
	cmd(&t, cdb, NULL, 0, 0, &c[0], &st); /* the power-on unit attention */

	for (unsigned int round = 0; round < 4; round++) {
		unsigned int done = 0, seen[K_N] = { 0 };

		for (unsigned int i = 0; i < K_N; i++) {
			for (unsigned int k = 0; k < 512; k++)
				data[i][k] = (uint8_t)(round * 31 + i * 7 + k);
			scsi_cdb_rw10(cdb, 1, 100 + i, 1);
			fe_scsi(&t.f, D_REQQ, 0, 0, cdb, 10, data[i], 512, 0, &c[i]);
		}
		/* Killed at some point of the batch: nothing, some, or all done. */
		usleep(round * 150);
		assert_int_equal(kill(t.pid, SIGKILL), 0);
		assert_int_equal(waitpid(t.pid, &status, 0), t.pid);
		assert_true(WIFSIGNALED(status));
		close(t.f.sock);
		t.f.sock = -1;

		t.pid = spawn(&t, bin, lun);
		k_connect(&t, &ifd, 0);
		while (done < K_N) {
			assert_int_equal(fe_used(&t.f, D_REQQ, &u, 3000), 1);
			for (unsigned int i = 0; i < K_N; i++) {
				if (u.token != c[i].token)
					continue;
				assert_int_equal(++seen[i], 1);
				fe_resp(&t.f, &c[i], &st, &resp);
				assert_int_equal(resp, 0);
				if (st) {
					/* The new daemon's unit attention: the guest retries. */
					seen[i] = 0;
					scsi_cdb_rw10(cdb, 1, 100 + i, 1);
					fe_scsi(&t.f, D_REQQ, 0, 0, cdb, 10, data[i], 512, 0,
						&c[i]);
				} else {
					done++;
				}
			}
		}
		for (unsigned int i = 0; i < K_N; i++) {
			scsi_cdb_rw10(cdb, 0, 100 + i, 1);
			cmd(&t, cdb, NULL, 0, 512, &c[0], &st);
			/* Everything finished before the kill: the read meets the attention. */
			if (st && i == 0)
				cmd(&t, cdb, NULL, 0, 512, &c[0], &st);
			assert_int_equal(st, 0);
			assert_memory_equal(vdrv_host(&t.f.mem, c[0].din), data[i], 512);
		}
	}
	assert_int_equal(kill(t.pid, SIGTERM), 0);
	assert_int_equal(waitpid(t.pid, &status, 0), t.pid);
	fd = open(t.img, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, back, 512, (100 + K_N - 1) * 512), 512);
	assert_memory_equal(back, data[K_N - 1], 512);
	close(fd);
	close(ifd);
	fe_fini(&t.f);
	unlink(t.img);
	rmdir(t.dir);
}

/* ---- --inject-error: a failing medium (vdev_blk_inject_error()) ---- */

/* The sense key, ASC and ASCQ of a command's response (fixed or descriptor format). */
static void sense_of(struct dt *t, const struct fe_cmd *c, uint8_t *key, uint8_t *asc,
		     uint8_t *ascq)
{
	const uint8_t *r = vdrv_host(&t->f.mem, c->resp);
	const uint8_t *sn = r + 12;

	assert_true(fe_get32(r) >= 8); /* sense_len */
	if ((sn[0] & 0x7f) >= 0x72) {
		*key = sn[1] & 0x0f;
		*asc = sn[2];
		*ascq = sn[3];
	} else {
		*key = sn[2] & 0x0f;
		*asc = sn[12];
		*ascq = sn[13];
	}
}

static int run_status(const char *bin, char *const argv[])
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (!pid) {
		int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);

		dup2(nul, 1);
		dup2(nul, 2);
		execv(bin, argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_inject_error(void **state)
{
	struct dt t = { .f = { .sock = -1 } };
	char bin[PATH_MAX + 64], lun[256], lun_cd[256];
	uint8_t cdb[10] = { 0 }, st, key, asc, ascq, data[4 * 512], back[512];
	struct fe_cmd c;
	int status, fd;

	(void)state;
	if (daemon_path(bin, sizeof(bin)))
		skip();
	snprintf(t.dir, sizeof(t.dir), "/tmp/vdev-vue-XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	snprintf(t.sock, sizeof(t.sock), "%s/vu.sock", t.dir);
	snprintf(t.img, sizeof(t.img), "%s/disk.img", t.dir);
	make_file(t.img, 1 << 20);
	snprintf(lun, sizeof(lun), "0.0:%s:bs=512:serial=INJ", t.img);
	snprintf(lun_cd, sizeof(lun_cd), "0.1:cdrom:%s", t.img);

	/* Refused: malformed values, a LUN that does not exist, a CD-ROM. */
	{
		char *bad[][12] = {
			{ bin, "--socket", t.sock, "--lun", lun, "--inject-error", "0.0:100",
			  NULL },
			{ bin, "--socket", t.sock, "--lun", lun, "--inject-error", "0.0:100:0",
			  NULL },
			{ bin, "--socket", t.sock, "--lun", lun, "--inject-error", "0.0:x:4",
			  NULL },
			{ bin, "--socket", t.sock, "--lun", lun, "--inject-error", "0.5:100:4",
			  NULL },
			{ bin, "--socket", t.sock, "--lun", lun_cd, "--inject-error",
			  "0.1:100:4", NULL },
		};
		char *help[] = { bin, "--help", NULL };

		for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			assert_int_not_equal(run_status(bin, bad[i]), 0);
		assert_int_equal(run_status(bin, help), 0);
	}

	/* Blocks 100..103 of LUN 0.0 fail. */
	unlink(t.sock);
	t.pid = fork();
	assert_true(t.pid >= 0);
	if (!t.pid) {
		die_with_parent();
		execl(bin, bin, "--socket", t.sock, "--num-queues", "1", "--queue-size", "64",
		      "--lun", lun, "--inject-error", "0.0:100:4", (char *)NULL);
		_exit(127);
	}
	wait_for(t.sock);
	fe_ram_init(&t.f);
	fe_connect(&t.f, t.sock);
	fe_negotiate(&t.f, FE_F_V1 | FE_F_INDIRECT | FE_F_HOTPLUG, 0);
	assert_int_equal(fe_mem_table(&t.f), 0);
	for (unsigned int q = 0; q < 3; q++)
		fe_ring(&t.f, q, 0, 1);
	cmd(&t, cdb, NULL, 0, 0, &c, &st); /* the power-on unit attention */

	/* READ(10) over the range: CHECK CONDITION, MEDIUM ERROR, 11h/00h. */
	scsi_cdb_rw10(cdb, 0, 98, 4);
	cmd(&t, cdb, NULL, 0, sizeof(data), &c, &st);
	assert_int_equal(st, 2);
	sense_of(&t, &c, &key, &asc, &ascq);
	assert_int_equal(key, 0x3);
	assert_int_equal(asc, 0x11);
	assert_int_equal(ascq, 0x00);
	/* WRITE(10): WRITE ERROR 0Ch/00h, and the file untouched. */
	memset(data, 0x77, sizeof(data));
	scsi_cdb_rw10(cdb, 1, 103, 2);
	cmd(&t, cdb, data, 2 * 512, 0, &c, &st);
	assert_int_equal(st, 2);
	sense_of(&t, &c, &key, &asc, &ascq);
	assert_int_equal(key, 0x3);
	assert_int_equal(asc, 0x0c);
	assert_int_equal(ascq, 0x00);
	/* Around it: fine. */
	scsi_cdb_rw10(cdb, 1, 104, 1);
	cmd(&t, cdb, data, 512, 0, &c, &st);
	assert_int_equal(st, 0);
	scsi_cdb_rw10(cdb, 0, 96, 4);
	cmd(&t, cdb, NULL, 0, sizeof(data), &c, &st);
	assert_int_equal(st, 0);

	assert_int_equal(kill(t.pid, SIGTERM), 0);
	assert_int_equal(waitpid(t.pid, &status, 0), t.pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	fd = open(t.img, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, back, 512, 103 * 512), 512);
	for (unsigned int i = 0; i < 512; i++)
		assert_int_equal(back[i], 0);
	assert_int_equal(pread(fd, back, 512, 104 * 512), 512);
	assert_memory_equal(back, data, 512);
	close(fd);
	fe_fini(&t.f);
	unlink(t.img);
	rmdir(t.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_daemon),
		cmocka_unit_test(test_sigkill_inflight),
		cmocka_unit_test(test_inject_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
