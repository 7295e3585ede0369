/* SPDX-License-Identifier: MIT */
/*
 * Task management and task attributes of the SCSI target, against real
 * backend I/O: LUN RESET, ABORT TASK (by tag), ABORT/CLEAR TASK SET,
 * I_T NEXUS RESET, bus reset, QUERY TASK (SET); every request completes
 * exactly once (GOOD, or aborted/reset inside the TMF call) and nothing
 * after. With the thread-pool engine held still, cancelled writes never
 * reach the file. ORDERED and HEAD OF QUEUE ordering; requests parked on
 * a full backend queue.
 */
#include <fcntl.h>
#include <unistd.h>

#include "scsi_test_util.h"
#include "block/blk_internal.h"

#define MB (1024u * 1024u)
#define FILE_SIZE (4u * MB)

static int setup(void **state)
{
	*state = st_new();
	return 0;
}

static int teardown(void **state)
{
	st_free(*state);
	return 0;
}

static struct sreq *read_req(uint16_t l, uint64_t lba, uint64_t tag)
{
	uint8_t cdb[16];
	struct sreq *q = sreq_new(0, l, cdb, st_cdb_rw(cdb, 0x28, lba, 1), NULL, 0, 512);

	q->r.tag = tag;
	return q;
}

static struct sreq *write_req(uint16_t l, uint64_t lba, uint32_t n, uint8_t fillb)
{
	uint8_t cdb[16];
	struct sreq *q = sreq_new(0, l, cdb, st_cdb_rw(cdb, 0x2a, lba, n), NULL, (size_t)n * 512,
				  0);

	memset(q->out, fillb, (size_t)n * 512);
	return q;
}

/* Every request completed exactly once, and polling brings nothing more. */
static void settle(struct st *s, struct sreq **q, int n)
{
	for (int k = 0; k < 5; k++) {
		st_poll(s);
		usleep(1000);
	}
	for (int i = 0; i < n; i++)
		assert_int_equal(q[i]->ndone, 1);
}

static void test_lun_reset_memory(void **state)
{
	struct st *s = *state;
	struct sreq *q[40];
	int seq = 0;

	st_add_disk(s, 0, 0, MB, 512);
	st_clear_ua(s, 0, 0);
	/* 8 complete normally first. */
	for (int i = 0; i < 8; i++) {
		q[i] = read_req(0, (uint64_t)i, (uint64_t)i);
		q[i]->r.user = &seq;
		st_submit(s, q[i]);
	}
	st_poll(s);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(q[i]->ndone, 1);
		st_expect_good(q[i]);
	}
	/* 32 in flight (done on the host, not delivered), then LUN RESET. */
	for (int i = 8; i < 40; i++) {
		q[i] = read_req(0, (uint64_t)i, (uint64_t)i);
		q[i]->r.user = &seq;
		st_submit(s, q[i]);
		assert_int_equal(q[i]->ndone, 0);
	}
	assert_int_equal(vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_QUERY_TASK_SET, 0, 0, 0),
			 VDEV_SCSI_TMF_SUCCEEDED);
	assert_int_equal(vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_LUN_RESET, 0, 0, 0),
			 VDEV_SCSI_TMF_COMPLETE);
	for (int i = 8; i < 40; i++) {
		assert_int_equal(q[i]->ndone, 1);
		assert_int_equal(q[i]->r.response, VDEV_SCSI_RESP_RESET);
		assert_int_equal(q[i]->r.data_in_len, 0);
	}
	assert_int_equal(vdev_blk_inflight(st_blk(s, 0, 0)), 0);
	assert_int_equal(vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_QUERY_TASK_SET, 0, 0, 0),
			 VDEV_SCSI_TMF_COMPLETE);
	settle(s, q, 40);
	for (int i = 0; i < 40; i++)
		sreq_free(q[i]);
	/* The LUN works on. */
	st_cmd_sense(s, 0, 0, (const uint8_t[6]){ 0 }, 6, VDEV_SCSI_SK_UNIT_ATTENTION, 0x29, 0x03);
	st_cmd_good(s, 0, 0, (const uint8_t[6]){ 0 }, 6);
}

static void test_abort_task_and_query(void **state)
{
	struct st *s = *state;
	struct sreq *q[4];

	st_add_disk(s, 0, 0, MB, 512);
	st_add_disk(s, 0, 1, MB, 512);
	st_clear_ua(s, 0, 0);
	for (int i = 0; i < 4; i++) {
		q[i] = read_req(0, (uint64_t)i, 100 + (uint64_t)i);
		st_submit(s, q[i]);
	}
	assert_int_equal(vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_QUERY_TASK, 0, 0, 102),
			 VDEV_SCSI_TMF_SUCCEEDED);
	assert_int_equal(vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_QUERY_TASK, 0, 0, 999),
			 VDEV_SCSI_TMF_COMPLETE);
	/* Same tag on another LUN: not that LUN's task. */
	assert_int_equal(vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_QUERY_TASK, 0, 1, 102),
			 VDEV_SCSI_TMF_COMPLETE);
	assert_int_equal(vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_ABORT_TASK, 0, 1, 102),
			 VDEV_SCSI_TMF_COMPLETE);
	assert_int_equal(q[2]->ndone, 0);
	assert_int_equal(vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_ABORT_TASK, 0, 0, 102),
			 VDEV_SCSI_TMF_COMPLETE);
	assert_int_equal(q[2]->ndone, 1);
	assert_int_equal(q[2]->r.response, VDEV_SCSI_RESP_ABORTED);
	assert_int_equal(q[2]->r.status, VDEV_SCSI_TASK_ABORTED);
	/* A tag not there: complete, nothing happens. */
	assert_int_equal(vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_ABORT_TASK, 0, 0, 555),
			 VDEV_SCSI_TMF_COMPLETE);
	settle(s, q, 4);
	for (int i = 0; i < 4; i++) {
		if (i != 2)
			st_expect_good(q[i]);
		sreq_free(q[i]);
	}
	assert_int_equal(vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_QUERY_TASK, 0, 0, 101),
			 VDEV_SCSI_TMF_COMPLETE);
	/* No UA from aborting tasks. */
	st_cmd_good(s, 0, 0, (const uint8_t[6]){ 0 }, 6);
}

static void test_task_set_nexus_bus(void **state)
{
	struct st *s = *state;
	struct sreq *q[12];

	st_add_disk(s, 0, 0, MB, 512);
	st_add_disk(s, 0, 1, MB, 512);
	st_add_disk(s, 1, 0, MB, 512);
	st_clear_ua(s, 0, 0);
	st_clear_ua(s, 0, 1);
	st_clear_ua(s, 1, 0);

	/* ABORT TASK SET and CLEAR TASK SET: that LUN only, ABORTED. */
	for (int i = 0; i < 6; i++) {
		q[i] = read_req(i < 3 ? 0 : 1, (uint64_t)i, (uint64_t)i);
		st_submit(s, q[i]);
	}
	vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_ABORT_TASK_SET, 0, 0, 0);
	vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_CLEAR_TASK_SET, 0, 1, 0);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(q[i]->ndone, 1);
		assert_int_equal(q[i]->r.response, VDEV_SCSI_RESP_ABORTED);
		sreq_free(q[i]);
	}

	/* I_T NEXUS RESET: both LUNs of target 0, not target 1. */
	for (int i = 0; i < 6; i++) {
		q[i] = read_req(i % 2, (uint64_t)i, (uint64_t)i);
		st_submit(s, q[i]);
	}
	q[6] = read_req(0, 0, 0);
	q[6]->r.target = 1;
	st_submit(s, q[6]);
	vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_I_T_NEXUS_RESET, 0, 0, 0);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(q[i]->ndone, 1);
		assert_int_equal(q[i]->r.response, VDEV_SCSI_RESP_RESET);
	}
	assert_int_equal(q[6]->ndone, 0);
	settle(s, q, 7);
	st_expect_good(q[6]);
	for (int i = 0; i < 7; i++)
		sreq_free(q[i]);

	/* Bus reset: everyone. */
	for (int i = 0; i < 3; i++) {
		q[i] = read_req((uint16_t)(i % 2), 0, 0);
		if (i == 2)
			q[i]->r.target = 1;
		st_submit(s, q[i]);
	}
	/* A UA is pending on target 0 (the nexus reset): the UA answers at once. */
	settle(s, q, 2);
	assert_int_equal(q[0]->r.status, VDEV_SCSI_CHECK_CONDITION);
	sreq_free(q[0]);
	sreq_free(q[1]);
	q[0] = read_req(0, 0, 0);
	st_submit(s, q[0]);
	vdev_scsi_bus_reset(s->bus);
	assert_int_equal(q[0]->ndone, 1);
	assert_int_equal(q[0]->r.response, VDEV_SCSI_RESP_RESET);
	assert_true(q[2]->ndone == 1); /* target 1: GOOD before the reset, or RESET */
	sreq_free(q[0]);
	sreq_free(q[2]);
}

/* ---- file backends ---- */

static char *make_file(uint8_t fillb)
{
	char *path = strdup("/var/tmp/vdev-scsi-tmf-XXXXXX");
	uint8_t *buf = malloc(FILE_SIZE);
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	memset(buf, fillb, FILE_SIZE);
	assert_int_equal(write(fd, buf, FILE_SIZE), FILE_SIZE);
	close(fd);
	free(buf);
	return path;
}

static vdev_blk *open_file(struct st *s, const char *path, uint32_t engine, uint32_t threads)
{
	struct vdev_blk_opts o = {
		.struct_size = sizeof(o),
		.driver = "file",
		.path = path,
		.engine = engine,
		.threads = threads,
	};
	vdev_blk *blk = NULL;
	int rc = vdev_blk_open(s->mv.ctx, &o, &blk);

	if (rc == -ENOTSUP)
		return NULL;
	assert_int_equal(rc, 0);
	return blk;
}

static void add_file_disk(struct st *s, uint16_t l, vdev_blk *blk)
{
	struct vdev_scsi_lun_opts o = {
		.struct_size = sizeof(o),
		.type = VDEV_SCSI_LUN_DISK,
		.blk = blk,
	};

	st_add(s, 0, l, &o);
	st_clear_ua(s, 0, l);
}

/* The pool holds still: LUN RESET cancels the writes before they run, for real. */
static void test_cancel_really_cancels(void **state)
{
	struct st *s = *state;
	char *path = make_file('A');
	vdev_blk *blk = open_file(s, path, VDEV_BLK_ENGINE_THREADS, 1);
	struct sreq *q[16];
	uint8_t *buf = malloc(FILE_SIZE);
	int fd;

	add_file_disk(s, 0, blk);
	vdev__blk_pool_pause(vdev__blk_threads_pool(blk), true);
	for (int i = 0; i < 16; i++) {
		q[i] = write_req(0, (uint64_t)i * 64, 8, 'B');
		st_submit(s, q[i]);
	}
	assert_int_equal(vdev_blk_inflight(blk), 16);
	assert_int_equal(vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_LUN_RESET, 0, 0, 0),
			 VDEV_SCSI_TMF_COMPLETE);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(q[i]->ndone, 1);
		assert_int_equal(q[i]->r.response, VDEV_SCSI_RESP_RESET);
		assert_int_equal(q[i]->r.data_out_len, 0);
	}
	assert_int_equal(vdev_blk_inflight(blk), 0);
	vdev__blk_pool_pause(vdev__blk_threads_pool(blk), false);
	settle(s, q, 16);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, FILE_SIZE, 0), FILE_SIZE);
	close(fd);
	for (size_t i = 0; i < FILE_SIZE; i++)
		if (buf[i] != 'A')
			fail_msg("byte %zu was written by a cancelled write", i);
	for (int i = 0; i < 16; i++)
		sreq_free(q[i]);
	free(buf);
	unlink(path);
	free(path);
}

/* Racing real I/O: each request once, GOOD or RESET, nothing after the TMF. */
static void race(struct st *s, uint32_t engine)
{
	char *path = make_file('C');
	vdev_blk *blk = open_file(s, path, engine, 2);
	enum { N = 96 };
	struct sreq *q[N];
	int good = 0, reset = 0;

	if (!blk) {
		print_message("engine %u unavailable here: skipped\n", engine);
		unlink(path);
		free(path);
		return;
	}
	add_file_disk(s, 0, blk);
	for (int round = 0; round < 4; round++) {
		good = reset = 0;
		for (int i = 0; i < N; i++) {
			q[i] = i % 3 ? read_req(0, (uint64_t)i * 17, (uint64_t)i)
				     : write_req(0, (uint64_t)i * 17, 16, 'D');
			st_submit(s, q[i]);
		}
		if (round & 1) {
			vdev_blk_wait(blk, 5);
			st_poll(s);
		}
		vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_LUN_RESET, 0, 0, 0);
		for (int i = 0; i < N; i++) {
			assert_int_equal(q[i]->ndone, 1);
			if (q[i]->r.response == VDEV_SCSI_RESP_RESET) {
				reset++;
			} else {
				st_expect_good(q[i]);
				good++;
			}
		}
		assert_int_equal(vdev_blk_inflight(blk), 0);
		settle(s, q, N);
		for (int i = 0; i < N; i++)
			sreq_free(q[i]);
		assert_int_equal(good + reset, N);
		st_clear_ua(s, 0, 0);
	}
	print_message("engine %u: last round %d GOOD, %d RESET\n", engine, good, reset);
	unlink(path);
	free(path);
}

static void test_race_threads(void **state)
{
	race(*state, VDEV_BLK_ENGINE_THREADS);
}

static void test_race_uring(void **state)
{
	race(*state, VDEV_BLK_ENGINE_IO_URING);
}

/* ---- task attributes ---- */

static void test_ordered(void **state)
{
	struct st *s = *state;
	vdev_blk *blk;
	struct sreq *r1, *w, *r2, *hoq;
	int seq = 0;

	st_add_disk(s, 0, 0, MB, 512);
	st_clear_ua(s, 0, 0);
	blk = st_blk(s, 0, 0);
	r1 = read_req(0, 1, 1);
	w = write_req(0, 1, 1, 0x33);
	w->r.task_attr = VDEV_SCSI_TASK_ORDERED;
	r2 = read_req(0, 1, 3);
	hoq = read_req(0, 5, 4);
	hoq->r.task_attr = VDEV_SCSI_TASK_HEAD_OF_QUEUE;
	r1->r.user = w->r.user = r2->r.user = hoq->r.user = &seq;

	st_submit(s, r1);
	st_submit(s, w);
	st_submit(s, r2);
	assert_int_equal(vdev_blk_inflight(blk), 1); /* the ORDERED write waits for r1; r2 behind */
	assert_int_equal(vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_QUERY_TASK, 0, 0, 3),
			 VDEV_SCSI_TMF_SUCCEEDED);
	st_submit(s, hoq);
	assert_int_equal(vdev_blk_inflight(blk), 2); /* HEAD OF QUEUE goes at once */
	vdev_blk_poll(blk);
	assert_int_equal(r1->ndone, 1);
	assert_int_equal(hoq->ndone, 1);
	assert_int_equal(r2->ndone, 0);
	while (!r2->ndone)
		vdev_blk_poll(blk);
	st_expect_good(r1);
	st_expect_good(w);
	st_expect_good(r2);
	assert_true(r1->order < w->order);
	assert_true(w->order < r2->order);
	/* r2 ran after the write: it sees its data; r1 before it did not. */
	assert_int_equal(r2->in[0], 0x33);
	assert_int_equal(r1->in[0], 0x00);
	sreq_free(r1);
	sreq_free(w);
	sreq_free(r2);
	sreq_free(hoq);

	/* Aborting queued tasks: they complete at once, the in-flight one via the backend. */
	r1 = read_req(0, 1, 1);
	w = write_req(0, 1, 1, 0x44);
	w->r.task_attr = VDEV_SCSI_TASK_ORDERED;
	r2 = read_req(0, 1, 3);
	st_submit(s, r1);
	st_submit(s, w);
	st_submit(s, r2);
	vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_ABORT_TASK_SET, 0, 0, 0);
	assert_int_equal(r1->r.response, VDEV_SCSI_RESP_ABORTED);
	assert_int_equal(w->r.response, VDEV_SCSI_RESP_ABORTED);
	assert_int_equal(r2->r.response, VDEV_SCSI_RESP_ABORTED);
	assert_int_equal(r1->ndone + w->ndone + r2->ndone, 3);
	assert_int_equal(vdev_blk_inflight(blk), 0);
	{
		uint8_t b[512];

		st_read(s, 0, 0, 1, b, 1, 512);
		assert_int_equal(b[0], 0x33); /* the aborted ORDERED write never ran */
	}
	sreq_free(r1);
	sreq_free(w);
	sreq_free(r2);
}

/* A backend with queue depth 4: the rest park and go in order. */
static void test_park(void **state)
{
	struct st *s = *state;
	struct vdev_scsi_lun_opts o = { .struct_size = sizeof(o), .type = VDEV_SCSI_LUN_DISK };
	enum { N = 32 };
	struct sreq *q[N];
	int seq = 0;

	o.blk = st_blk_open(s, "memory", MB, 4);
	st_add(s, 0, 0, &o);
	st_clear_ua(s, 0, 0);
	for (int i = 0; i < N; i++) {
		q[i] = i % 2 ? read_req(0, (uint64_t)i, (uint64_t)i)
			     : write_req(0, (uint64_t)i, 2, (uint8_t)i);
		q[i]->r.user = &seq;
		st_submit(s, q[i]);
	}
	assert_int_equal(vdev_blk_inflight(o.blk), 4);
	for (int k = 0; k < 100 && !q[N - 1]->ndone; k++)
		st_poll(s);
	settle(s, q, N);
	for (int i = 0; i < N; i++) {
		st_expect_good(q[i]);
		assert_int_equal(q[i]->order, i + 1);
		sreq_free(q[i]);
	}
	/* Parked requests are aborted too. */
	for (int i = 0; i < N; i++) {
		q[i] = read_req(0, (uint64_t)i, (uint64_t)i);
		st_submit(s, q[i]);
	}
	vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_LUN_RESET, 0, 0, 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(q[i]->ndone, 1);
		assert_int_equal(q[i]->r.response, VDEV_SCSI_RESP_RESET);
	}
	settle(s, q, N);
	for (int i = 0; i < N; i++)
		sreq_free(q[i]);
}

/* bus_free with requests in flight: they complete (ABORTED) first. */
static void test_free_inflight(void **state)
{
	struct st *s = *state;
	struct sreq *q[4];

	st_add_disk(s, 0, 0, MB, 512);
	st_clear_ua(s, 0, 0);
	for (int i = 0; i < 4; i++) {
		q[i] = read_req(0, (uint64_t)i, (uint64_t)i);
		st_submit(s, q[i]);
	}
	vdev_scsi_bus_free(s->bus);
	s->bus = NULL;
	s->ndisks = 0;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(q[i]->ndone, 1);
		assert_int_equal(q[i]->r.response, VDEV_SCSI_RESP_ABORTED);
		sreq_free(q[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lun_reset_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_task_and_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_set_nexus_bus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_really_cancels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_race_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_race_uring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ordered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_park, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_inflight, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
