/* SPDX-License-Identifier: MIT */
/*
 * The SCSI target on "file" backends in /var/tmp: crash consistency
 * (writes acknowledged, then SYNCHRONIZE CACHE: the data is in the file,
 * read through a separate descriptor; buffered and O_DIRECT), no write
 * reported before the host finished it, FUA, a read past the end of a
 * file that shrank (MEDIUM ERROR), growing the file at run time (CAPACITY
 * DATA HAS CHANGED), UNMAP punching holes, WRITE SAME to the file.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scsi_test_util.h"
#include "block/blk_internal.h"

#define MB (1024u * 1024u)

struct ft {
	struct st *s;
	char path[64];
};

static int setup(void **state)
{
	struct ft *f = calloc(1, sizeof(*f));
	uint8_t *buf = calloc(1, 8 * MB);
	int fd;

	f->s = st_new();
	snprintf(f->path, sizeof(f->path), "/var/tmp/vdev-scsi-file-XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	memset(buf, 'z', 8 * MB);
	assert_int_equal(write(fd, buf, 8 * MB), 8 * MB);
	close(fd);
	free(buf);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct ft *f = *state;

	st_free(f->s);
	unlink(f->path);
	free(f);
	return 0;
}

static vdev_blk *open_file(struct ft *f, uint32_t engine, int direct)
{
	struct vdev_blk_opts o = {
		.struct_size = sizeof(o),
		.driver = "file",
		.path = f->path,
		.engine = engine,
		.direct = direct,
		.threads = 1,
	};
	vdev_blk *blk = NULL;
	int rc = vdev_blk_open(f->s->mv.ctx, &o, &blk);

	if (rc == -ENOTSUP || rc == -EINVAL)
		return NULL; /* O_DIRECT not on this file system, or no such engine */
	assert_int_equal(rc, 0);
	return blk;
}

static void add(struct ft *f, vdev_blk *blk, uint32_t bs)
{
	struct vdev_scsi_lun_opts o = {
		.struct_size = sizeof(o),
		.type = VDEV_SCSI_LUN_DISK,
		.blk = blk,
		.block_size = bs,
	};

	st_add(f->s, 0, 0, &o);
	st_clear_ua(f->s, 0, 0);
}

static void pread_file(struct ft *f, void *buf, size_t len, off_t off)
{
	int fd = open(f->path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

/* A request whose buffers are page aligned (for O_DIRECT). */
static struct sreq *aligned_req(const uint8_t *cdb, size_t cdb_len, size_t out, size_t in)
{
	struct sreq *q = sreq_new(0, 0, cdb, cdb_len, NULL, 0, 0);

	if (out) {
		q->out = aligned_alloc(4096, out);
		q->out_len = out;
		q->out_iov = (struct iovec){ q->out, out };
		q->r.data_out = &q->out_iov;
		q->r.data_out_cnt = 1;
	}
	if (in) {
		q->in = aligned_alloc(4096, in);
		q->in_cap = in;
		q->in_iov = (struct iovec){ q->in, in };
		q->r.data_in = &q->in_iov;
		q->r.data_in_cnt = 1;
	}
	return q;
}

static void crash_consistency(struct ft *f, uint32_t engine, int direct)
{
	struct st *s = f->s;
	vdev_blk *blk = open_file(f, engine, direct);
	enum { N = 24 };
	struct sreq *w[N];
	uint8_t cdb[16], sync[10] = { 0x35 }, *back = malloc(64 * 1024);

	if (!blk) {
		print_message("engine %u direct %d: unavailable, skipped\n", engine, direct);
		free(back);
		return;
	}
	add(f, blk, 4096);
	/* Writes, all acknowledged (GOOD) before the flush is even sent. */
	for (int i = 0; i < N; i++) {
		w[i] = aligned_req(cdb, st_cdb_rw(cdb, 0x2a, (uint64_t)i * 3, 2), 8192, 0);
		memset(w[i]->out, 'a' + i, 8192);
		st_submit(s, w[i]);
	}
	for (int i = 0; i < N; i++) {
		st_wait(s, w[i]);
		st_expect_good(w[i]);
	}
	st_cmd_good(s, 0, 0, sync, 10);
	for (int i = 0; i < N; i++) {
		pread_file(f, back, 8192, (off_t)i * 3 * 4096);
		for (int k = 0; k < 8192; k++)
			if (back[k] != 'a' + i)
				fail_msg("write %d not in the file at byte %d", i, k);
		sreq_free(w[i]);
	}
	/* Blocks between them kept the file's old contents. */
	pread_file(f, back, 4096, 2 * 4096);
	assert_int_equal(back[0], 'z');
	/* Read back through the target too. */
	{
		struct sreq *r = aligned_req(cdb, st_cdb_rw(cdb, 0x88, 3, 2), 0, 8192);

		st_submit(s, r);
		st_wait(s, r);
		st_expect_good(r);
		assert_int_equal(r->in[0], 'b');
		assert_int_equal(r->in[8191], 'b');
		sreq_free(r);
	}
	free(back);
	assert_int_equal(vdev_scsi_lun_remove(s->bus, 0, 0), 0);
	st_untrack(s, 0, 0);
}

static void test_crash_consistency(void **state)
{
	struct ft *f = *state;

	crash_consistency(f, VDEV_BLK_ENGINE_AUTO, 0);
	crash_consistency(f, VDEV_BLK_ENGINE_THREADS, 0);
	crash_consistency(f, VDEV_BLK_ENGINE_IO_URING, 0);
	crash_consistency(f, VDEV_BLK_ENGINE_AUTO, 1);
}

/* A write is reported only once the host finished it. */
static void test_no_early_ack(void **state)
{
	struct ft *f = *state;
	struct st *s = f->s;
	vdev_blk *blk = open_file(f, VDEV_BLK_ENGINE_THREADS, 0);
	uint8_t cdb[16], back[512];
	struct sreq *q;

	add(f, blk, 512);
	vdev__blk_pool_pause(vdev__blk_threads_pool(blk), true);
	q = sreq_new(0, 0, cdb, st_cdb_rw(cdb, 0x2a, 7, 1), NULL, 512, 0);
	q->r.cdb[1] = 0x08; /* FUA */
	memset(q->out, 'Q', 512);
	st_submit(s, q);
	for (int i = 0; i < 20; i++) {
		st_poll(s);
		usleep(1000);
	}
	assert_int_equal(q->ndone, 0);
	pread_file(f, back, 512, 7 * 512);
	assert_int_equal(back[0], 'z');
	vdev__blk_pool_pause(vdev__blk_threads_pool(blk), false);
	st_wait(s, q);
	st_expect_good(q);
	pread_file(f, back, 512, 7 * 512);
	assert_int_equal(back[0], 'Q');
	sreq_free(q);
}

static void test_shrunk_file(void **state)
{
	struct ft *f = *state;
	struct st *s = f->s;
	uint8_t cdb[16];

	add(f, open_file(f, VDEV_BLK_ENGINE_AUTO, 0), 512);
	assert_int_equal(truncate(f->path, MB), 0);
	st_cmd_good(s, 0, 0, cdb, st_cdb_rw(cdb, 0x28, 0, 8));
	st_cmd_sense(s, 0, 0, cdb, st_cdb_rw(cdb, 0x28, 4096, 8), VDEV_SCSI_SK_MEDIUM_ERROR,
		     0x11, 0x00);
	st_cmd_sense(s, 0, 0, cdb, st_cdb_rw(cdb, 0x2f, 4096, 8), VDEV_SCSI_SK_MEDIUM_ERROR,
		     0x11, 0x00); /* VERIFY reads too */
}

static void test_grow(void **state)
{
	struct ft *f = *state;
	struct st *s = f->s;
	uint8_t rc16[16] = { 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0 };
	uint8_t cdb[16], data[512];
	struct sreq *q;

	add(f, open_file(f, VDEV_BLK_ENGINE_AUTO, 0), 512);
	st_cmd_sense(s, 0, 0, cdb, st_cdb_rw(cdb, 0x88, 16384, 1), VDEV_SCSI_SK_ILLEGAL_REQUEST,
		     0x21, 0x00);
	assert_int_equal(truncate(f->path, 16 * MB), 0);
	s->nevents = 0;
	assert_int_equal(vdev_scsi_lun_capacity_changed(vdev_scsi_lun_find(s->bus, 0, 0)), 0);
	assert_int_equal(s->nevents, 1);
	assert_int_equal(s->events[0].ev, VDEV_SCSI_EV_CAPACITY_CHANGED);
	st_cmd_sense(s, 0, 0, rc16, 16, VDEV_SCSI_SK_UNIT_ATTENTION, 0x2a, 0x09);
	q = st_cmd(s, 0, 0, rc16, 16, NULL, 0, 32);
	st_expect_good(q);
	assert_int_equal(st_get_be(q->in, 8), 32768 - 1);
	sreq_free(q);
	memset(data, 'G', 512);
	st_write(s, 0, 0, 30000, data, 1, 512);
	st_read(s, 0, 0, 30000, data, 1, 512);
	assert_int_equal(data[0], 'G');
}

static void test_unmap_write_same(void **state)
{
	struct ft *f = *state;
	struct st *s = f->s;
	uint8_t unmap[24] = { 0, 22, 0, 16 }, cdb[16] = { 0x42 }, *back = malloc(MB);
	uint8_t pat[512];
	struct stat before, after;
	struct sreq *q;

	add(f, open_file(f, VDEV_BLK_ENGINE_AUTO, 0), 512);
	assert_int_equal(stat(f->path, &before), 0);
	/* UNMAP 1 MiB at 2 MiB: a hole. */
	st_put_be(unmap + 8, 4096, 8);
	st_put_be(unmap + 16, 2048, 4);
	cdb[8] = 24;
	q = st_cmd(s, 0, 0, cdb, 10, unmap, 24, 0);
	st_expect_good(q);
	sreq_free(q);
	assert_int_equal(stat(f->path, &after), 0);
	print_message("UNMAP of 1 MiB: %lld -> %lld blocks allocated\n",
		      (long long)before.st_blocks, (long long)after.st_blocks);
	assert_true(after.st_blocks < before.st_blocks);
	assert_int_equal(after.st_size, before.st_size);

	/* WRITE SAME of a pattern over 1000 blocks, straight into the file. */
	for (int i = 0; i < 512; i++)
		pat[i] = (uint8_t)(i * 3);
	memset(cdb, 0, 16);
	cdb[0] = 0x93;
	st_put_be(cdb + 2, 100, 8);
	st_put_be(cdb + 10, 1000, 4);
	q = st_cmd(s, 0, 0, cdb, 16, pat, 512, 0);
	st_expect_good(q);
	sreq_free(q);
	pread_file(f, back, 1000 * 512, 100 * 512);
	for (int i = 0; i < 1000; i++)
		assert_memory_equal(back + i * 512, pat, 512);
	pread_file(f, back, 512, 99 * 512);
	assert_int_equal(back[0], 'z');
	/* WRITE SAME zero with UNMAP: zeroes in the file. */
	memset(pat, 0, 512);
	cdb[1] = 0x08;
	q = st_cmd(s, 0, 0, cdb, 16, pat, 512, 0);
	st_expect_good(q);
	sreq_free(q);
	pread_file(f, back, 1000 * 512, 100 * 512);
	for (int i = 0; i < 1000 * 512; i++)
		if (back[i])
			fail_msg("byte %d not zero", i);
	free(back);
}

/* A file system without fallocate: WRITE SAME zero still zeroes, UNMAP still succeeds. */
static void test_no_fallocate(void **state)
{
	struct ft *f = *state;
	struct st *s = f->s;
	vdev_blk *blk = open_file(f, VDEV_BLK_ENGINE_THREADS, 0);
	uint8_t cdb[16] = { 0x93, 0x08 }, zero[512] = { 0 }, back[4096];
	uint8_t unmap[24] = { 0, 22, 0, 16 }, um[10] = { 0x42 };
	struct sreq *q;

	blk->file.quirks |= BLK_QUIRK_NO_FALLOCATE;
	add(f, blk, 512);
	st_put_be(cdb + 2, 8, 8);
	st_put_be(cdb + 10, 8, 4);
	q = st_cmd(s, 0, 0, cdb, 16, zero, 512, 0);
	st_expect_good(q);
	sreq_free(q);
	pread_file(f, back, 4096, 8 * 512);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(back[i], 0);
	st_put_be(unmap + 8, 100, 8);
	st_put_be(unmap + 16, 8, 4);
	um[8] = 24;
	q = st_cmd(s, 0, 0, um, 10, unmap, 24, 0);
	st_expect_good(q);
	sreq_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_crash_consistency, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_early_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shrunk_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmap_write_same, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_fallocate, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
