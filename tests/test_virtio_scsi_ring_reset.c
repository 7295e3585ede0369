/* SPDX-License-Identifier: MIT */
/*
 * virtio-scsi with VIRTIO_F_RING_RESET (VIRTIO 1.2 §2.6.1), driven through
 * the transports' queue_reset registers (§4.1.4.3, §4.2.2): a reset request
 * queue aborts its in-flight commands at the bus (for real: a file write
 * still queued on a paused worker pool never reaches the file) and hands
 * nothing to the old ring, while other queues keep running, even when the
 * guest reused a tag there; staged completions of a burst die with the
 * ring; the queue comes back with other addresses and another size;
 * control and event queues reset too (missed events are still reported);
 * a queue never enabled, or that does not exist, resets harmlessly; a
 * guest resetting the same queue over and over with commands in flight;
 * save/load right after a queue reset.
 */
#include <stdio.h>
#include <unistd.h>

#include "block/blk_internal.h"
#include "test_virtio_scsi_util.h"

#define F_RRESET (1ull << VDEV_VIRTIO_F_RING_RESET)
#define FILE_BLOCKS 256u

static struct vt *up(const char *spec, uint64_t features, int msix)
{
	struct vt *t = vt_new(spec);

	t->msix = msix;
	vt_disk(t, 0, 0, 256, 512);
	vt_disk(t, 0, 1, 256, 512);
	vt_up(t, features | F_RRESET, 0);
	assert_true(t->d.features & F_RRESET);
	vt_clear_ua(t, 0, 0);
	vt_clear_ua(t, 0, 1);
	return t;
}

/* A WRITE(10) of one 512-byte block of @fill on @q; not kicked unless @kick. */
static uint64_t write_on(struct vt *t, int q, unsigned int lun, uint64_t tag, uint32_t lba,
			 uint8_t fill, int kick)
{
	static uint8_t data[512];
	struct vt_cmd c;

	memset(data, fill, sizeof(data));
	vt_cmd_init(&c, 0, lun);
	c.tag = tag;
	vt_rw10(&c, 1, lba, 1);
	c.dout = data;
	c.dout_len = sizeof(data);
	return vt_submit_ex(t, q, &c, kick);
}

/* READ(10) of one block on @q; @return its first byte (the command must succeed). */
static uint8_t read_byte(struct vt *t, int q, unsigned int lun, uint32_t lba)
{
	struct vt_cmd c;
	struct vt_res r;

	vt_cmd_init(&c, 0, lun);
	vt_rw10(&c, 0, lba, 1);
	c.din_len = 512;
	vt_run(t, q, &c, &r);
	assert_int_equal(r.response, S_OK);
	assert_int_equal(r.status, 0);
	return r.din[0];
}

/* The driver's side of a queue reset: forget the queue's buffers and tokens. */
static void driver_reset(struct vt *t, int q)
{
	assert_int_equal(vio_queue_reset(&t->d, (uint32_t)q), 0);
	for (unsigned int i = 0; i < VT_MAXTOK; i++)
		if (t->tok[i].busy && t->tok[i].q == q)
			t->tok[i].busy = 0;
}

/* Re-enable queue @q on fresh rings of @size entries (other addresses than before). */
static void driver_enable(struct vt *t, int q, uint32_t size)
{
	vdrv_vq_fini(&t->vq[q]);
	assert_int_equal(vdrv_vq_init(&t->vq[q], &t->mem, size, t->d.features), 0);
	assert_int_equal(vio_queue_setup(&t->d, (uint32_t)q, &t->vq[q],
					 t->msix ? (uint16_t)q : VIO_NO_VECTOR), 0);
}

static int msi_count(const struct mock_vmm *mv, uint32_t data)
{
	int n = 0;

	for (size_t i = 0; i < mv->n_msi; i++)
		n += mv->msi[i].data == data;
	return n;
}

/* Run the backends and timers until one completion of @q arrives (worker threads). */
static void wait_collect(struct vt *t, int q, struct vt_res *r)
{
	for (int i = 0; i < 5000; i++) {
		vt_poll(t);
		if (vt_collect(t, q, r))
			return;
		usleep(1000);
	}
	fail_msg("no completion on queue %d", q);
}

static void test_offered(void **state)
{
	struct vt *t = vt_new("virtio-scsi-pci");

	(void)state;
	assert_true(vio_device_features(&t->d) & F_RRESET);
	vt_free(t);
	t = vt_new("virtio-scsi-mmio");
	assert_true(vio_device_features(&t->d) & F_RRESET);
	vt_free(t);
}

/*
 * Commands in flight on queue 2 and queue 3; queue 2 is reset: its
 * commands are aborted, nothing reaches its ring, no interrupt for it;
 * queue 3's complete normally; queue 2 is re-enabled smaller and works.
 */
static void reset_one(const char *spec, int msix)
{
	struct vt *t = up(spec, 0, msix);
	uint64_t tk3[4];
	struct vt_res r;
	struct vdrv_vq old;
	uint16_t used_before;

	for (int i = 0; i < 4; i++) {
		write_on(t, 2, 0, 0x200 + (uint64_t)i, 10 + (uint32_t)i, 0x22, 1);
		tk3[i] = write_on(t, 3, 1, 0x300 + (uint64_t)i, 20 + (uint32_t)i, 0x33, 1);
	}
	assert_int_equal(vt_collect(t, 2, &r), 0); /* at the backends */
	assert_int_equal(vt_collect(t, 3, &r), 0);
	used_before = vdrv_used_idx(&t->vq[2]);
	old = t->vq[2];
	mock_vmm_clear_events(&t->mv);

	driver_reset(t, 2);
	/* Nothing was given back on the reset ring, then or later. */
	assert_int_equal(vdrv_used_idx(&old), used_before);
	assert_int_equal(msi_count(&t->mv, 0x102), 0);
	assert_int_equal(vt_tmf(t, TMF_QUERY_TASK_SET, 0, 0, 0), S_OK); /* none left at LUN 0 */
	assert_int_equal(vt_tmf(t, TMF_QUERY_TASK_SET, 0, 1, 0), S_FUNCTION_SUCCEEDED);
	vt_poll(t);
	mock_vmm_set_time(&t->mv, t->mv.now_ns + 1000);
	assert_int_equal(vdrv_used_idx(&old), used_before);
	assert_int_equal(msi_count(&t->mv, 0x102), 0);

	/* Queue 3 did not notice. */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(vt_collect(t, 3, &r), 1);
		assert_int_equal(r.token, tk3[i]);
		assert_int_equal(r.response, S_OK);
		assert_int_equal(r.status, 0);
	}
	assert_int_equal(vt_collect(t, 3, &r), 0);
	if (msix)
		assert_true(msi_count(&t->mv, 0x103) >= 1);

	/* While reset, a kick of queue 2 is harmless. */
	vio_kick(&t->d, 2, NULL);

	/* Back with other rings of another size; it works and queue 3 still does. */
	driver_enable(t, 2, 32);
	assert_int_equal(t->vq[2].size, 32);
	for (int round = 0; round < 40; round++) { /* more than the ring holds: wraps */
		uint64_t tk = write_on(t, 2, 0, 0x900 + (uint64_t)round, 40, (uint8_t)round, 1);

		vt_poll(t);
		assert_int_equal(vt_collect(t, 2, &r), 1);
		assert_int_equal(r.token, tk);
		assert_int_equal(r.response, S_OK);
		assert_int_equal(r.status, 0);
	}
	assert_int_equal(read_byte(t, 2, 0, 40), 39);
	assert_int_equal(read_byte(t, 2, 1, 23), 0x33);
	vt_free(t);
}

static void test_reset_request_queue(void **state)
{
	(void)state;
	reset_one("virtio-scsi-pci,num-queues=2", 1);
	reset_one("virtio-scsi-pci,num-queues=2", 0);
	reset_one("virtio-scsi-mmio,num-queues=2", 0);
}

/* The guest used one tag on two queues: the other queue's command still completes, once. */
static void test_shared_tag(void **state)
{
	struct vt *t = up("virtio-scsi-pci,num-queues=2", 0, 1);
	uint64_t tk3;
	struct vt_res r;

	(void)state;
	write_on(t, 2, 0, 0x77, 5, 0xa2, 1);
	tk3 = write_on(t, 3, 0, 0x77, 6, 0xa3, 1);
	driver_reset(t, 2);
	vt_poll(t);
	assert_int_equal(vt_collect(t, 3, &r), 1);
	assert_int_equal(r.token, tk3);
	assert_int_equal(r.response, S_OK);
	assert_int_equal(r.status, 0);
	assert_int_equal(vt_collect(t, 3, &r), 0);
	vt_poll(t);
	assert_int_equal(vt_collect(t, 3, &r), 0);
	assert_int_equal(read_byte(t, 3, 0, 6), 0xa3);
	driver_enable(t, 2, 128);
	assert_int_equal(read_byte(t, 2, 0, 6), 0xa3);
	vt_free(t);
}

/* Completions of a backend poll are staged for the flush timer; a reset drops queue 2's. */
static void test_reset_in_burst(void **state)
{
	struct vt *t = up("virtio-scsi-pci,num-queues=2", F_EVIDX, 1);
	uint64_t tk3[8];
	struct vt_res r;
	struct vdrv_vq old;
	uint16_t used_before = vdrv_used_idx(&t->vq[2]);

	(void)state;
	for (int i = 0; i < 8; i++) {
		write_on(t, 2, 0, 0x100 + (uint64_t)i, (uint32_t)i, 0x5a, 1);
		tk3[i] = write_on(t, 3, 1, 0x180 + (uint64_t)i, (uint32_t)i, 0x5b, 1);
	}
	assert_int_equal(vt_poll_backends(t), 16); /* all done, published by the timer */
	old = t->vq[2];
	assert_int_equal(vdrv_used_idx(&old), used_before);
	mock_vmm_clear_events(&t->mv);
	driver_reset(t, 2);
	assert_true(vdev_timers_run(t->mv.ctx) >= 0);
	mock_vmm_set_time(&t->mv, t->mv.now_ns + 1000);
	assert_int_equal(vdrv_used_idx(&old), used_before);
	assert_int_equal(msi_count(&t->mv, 0x102), 0);
	/* Queue 3's burst is published, with one interrupt. */
	for (int i = 0; i < 8; i++) {
		assert_int_equal(vt_collect(t, 3, &r), 1);
		assert_int_equal(r.token, tk3[i]);
		assert_int_equal(r.response, S_OK);
	}
	assert_int_equal(msi_count(&t->mv, 0x103), 1);
	/* Queue 2's commands did run (the memory disk finished them): the data is there. */
	driver_enable(t, 2, 64);
	assert_int_equal(read_byte(t, 2, 0, 7), 0x5a);
	vt_free(t);
}

/* Control and event queues. */
static void test_reset_ctrl_event(void **state)
{
	struct vt *t = up("virtio-scsi-pci", F_HOTPLUG, 0);
	struct vt_res r;
	struct vdrv_vq old;

	(void)state;
	/* Event buffers posted, then the queue reset: they are forgotten, never used. */
	vt_event_buf(t, 16, 0);
	vt_event_buf(t, 16, 1);
	old = t->vq[1];
	driver_reset(t, 1);
	/* An event while the queue is down is missed, not lost. */
	vt_disk(t, 0, 9, 64, 512);
	assert_int_equal(vdrv_used_idx(&old), 0);
	driver_enable(t, 1, 8);
	vt_event_buf(t, 16, 1);
	assert_int_equal(vt_collect(t, 1, &r), 1);
	assert_int_equal(r.used, 16);
	assert_int_equal(vt_le32(r.resp), EV_NO_EVENT | EV_MISSED);
	/* The next event takes the next buffer of the new ring. */
	vt_event_buf(t, 16, 1);
	assert_int_equal(vdev_scsi_lun_remove(t->bus, 0, 9), 0);
	vt_forget_blk(t, t->blk[t->nblk - 1]);
	assert_int_equal(vt_collect(t, 1, &r), 1);
	assert_int_equal(vt_le32(r.resp), EV_TRANSPORT_RESET);
	assert_int_equal(vt_le32(r.resp + 12), EV_REMOVED);
	assert_int_equal(vdrv_used_idx(&old), 0);

	/* The control queue: a request left unkicked is forgotten; the new ring works. */
	{
		uint8_t b[24];

		vt_tmf_req(b, TMF_QUERY_TASK_SET, 0, 0, 0);
		vt_ctrl(t, b, 24, 1, 0);
	}
	old = t->vq[0];
	driver_reset(t, 0);
	driver_enable(t, 0, 4);
	assert_int_equal(vdrv_used_idx(&old), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(vt_tmf(t, TMF_QUERY_TASK_SET, 0, 0, 0), S_OK);
	assert_int_equal(vt_collect(t, 0, &r), 0);
	vt_free(t);
}

/* A queue never enabled, and one that does not exist: a reset is harmless. */
static void test_reset_never_enabled(void **state)
{
	struct vt *t = vt_new("virtio-scsi-pci,num-queues=2");
	struct vt_cmd c;
	struct vt_res r;

	(void)state;
	vt_disk(t, 0, 0, 64, 512);
	assert_int_equal(vio_negotiate(&t->d, F_V1 | F_RRESET), 0);
	for (uint32_t q = 0; q < 3; q++) {
		assert_int_equal(vdrv_vq_init(&t->vq[q], &t->mem, 16, t->d.features), 0);
		t->nvq++;
		assert_int_equal(vio_queue_setup(&t->d, q, &t->vq[q], VIO_NO_VECTOR), 0);
	}
	/* Queue 3 is left alone; its ring struct is set up only later. */
	memset(&t->vq[3], 0, sizeof(t->vq[3]));
	t->nvq++;
	assert_int_equal(vio_queue_reset(&t->d, 3), 0); /* before DRIVER_OK */
	vio_driver_ok(&t->d);
	assert_int_equal(vio_get_status(&t->d), 0x0f);
	assert_int_equal(vio_queue_reset(&t->d, 3), 0);
	assert_int_equal(vio_queue_reset(&t->d, 3), 0);
	/* No such queue: nothing reads back set, nothing breaks. */
	assert_int_equal(vio_queue_reset(&t->d, 77), 0);
	assert_int_equal(vio_get_status(&t->d), 0x0f);

	/* Queue 3 can still be enabled after DRIVER_OK, and used. */
	assert_int_equal(vdrv_vq_init(&t->vq[3], &t->mem, 8, t->d.features), 0);
	assert_int_equal(vio_queue_setup(&t->d, 3, &t->vq[3], VIO_NO_VECTOR), 0);
	vt_clear_ua(t, 0, 0);
	vt_cmd_init(&c, 0, 0);
	vt_read_capacity10(&c);
	vt_run(t, 3, &c, &r);
	assert_int_equal(r.response, S_OK);
	assert_int_equal(r.status, 0);
	assert_int_equal(vt_get_be32(r.din), 63);
	vt_free(t);
}

/* A file disk on a one-thread pool: with the pool paused, commands stay in flight. */
static vdev_blk *file_disk(struct vt *t, unsigned int lun, char *path, size_t path_len)
{
	struct vdev_blk_opts bo = {
		.struct_size = sizeof(bo),
		.driver = "file",
		.engine = VDEV_BLK_ENGINE_THREADS,
		.threads = 1,
	};
	struct vdev_scsi_lun_opts lo = {
		.struct_size = sizeof(lo),
		.type = VDEV_SCSI_LUN_DISK,
	};
	static uint8_t zero[FILE_BLOCKS * 512];
	vdev_blk *b;
	int fd;

	snprintf(path, path_len, "/tmp/vdev-rr-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, zero, sizeof(zero)), (ssize_t)sizeof(zero));
	close(fd);
	bo.path = path;
	assert_int_equal(vdev_blk_open(t->mv.ctx, &bo, &b), 0);
	lo.blk = b;
	assert_int_equal(vdev_scsi_lun_add(t->bus, 0, (uint16_t)lun, &lo, NULL), 0);
	assert_true(t->nblk < VT_MAXLUN);
	t->blk[t->nblk++] = b;
	return b;
}

static uint8_t file_byte(const char *path, uint32_t lba)
{
	FILE *f = fopen(path, "rb");
	int c;

	assert_non_null(f);
	assert_int_equal(fseek(f, (long)lba * 512, SEEK_SET), 0);
	c = fgetc(f);
	fclose(f);
	assert_true(c >= 0);
	return (uint8_t)c;
}

/*
 * A slow backend (paused pool): the guest resets queue 2 again and again
 * with commands in flight, re-enabling it each time with another size,
 * while queue 3 has commands in flight on the same LUN. The aborted
 * writes never reach the file; queue 3's all do, each completing once.
 */
static void test_repeated_reset_slow_backend(void **state)
{
	struct vt *t = vt_new("virtio-scsi-pci,num-queues=2");
	/* Each must hold three 3-descriptor requests (no INDIRECT_DESC). */
	static const uint32_t sizes[] = { 16, 128, 32, 64, 16 };
	char path[64];
	vdev_blk *b;
	uint64_t tk3[5];
	struct vt_res r;

	(void)state;
	t->msix = 1;
	b = file_disk(t, 0, path, sizeof(path));
	vt_up(t, F_RRESET, 0);
	vt_clear_ua(t, 0, 0);
	vdev__blk_pool_pause(vdev__blk_threads_pool(b), true);
	for (unsigned int round = 0; round < 5; round++) {
		/* Queue 3: one more write, kept in flight by the paused pool. */
		tk3[round] = write_on(t, 3, 0, 0x3000 + round, 100 + round, (uint8_t)(0x30 + round),
				      1);
		for (unsigned int i = 0; i < 3; i++)
			write_on(t, 2, 0, 0x2000 + round * 8 + i, round * 8 + i, 0xbb, 1);
		assert_true(vdev_blk_inflight(b) >= 4);
		driver_reset(t, 2);
		/* Twice in a row: the second has nothing left to do. */
		driver_reset(t, 2);
		driver_enable(t, 2, sizes[round]);
		assert_int_equal(vt_collect(t, 3, &r), 0);
		assert_int_equal(vdev_blk_inflight(b), round + 1);
	}
	vdev__blk_pool_pause(vdev__blk_threads_pool(b), false);
	for (unsigned int round = 0; round < 5; round++) {
		wait_collect(t, 3, &r);
		assert_int_equal(r.response, S_OK);
		assert_int_equal(r.status, 0);
		assert_true(r.token == tk3[0] || r.token == tk3[1] || r.token == tk3[2] ||
			    r.token == tk3[3] || r.token == tk3[4]);
	}
	for (int i = 0; i < 20; i++) {
		vt_poll(t);
		usleep(1000);
	}
	assert_int_equal(vt_collect(t, 3, &r), 0);
	assert_int_equal(vt_collect(t, 2, &r), 0);
	for (unsigned int round = 0; round < 5; round++)
		assert_int_equal(file_byte(path, 100 + round), 0x30 + round);
	for (uint32_t lba = 0; lba < 40; lba++)
		if (file_byte(path, lba) != 0)
			fail_msg("block %u was written by an aborted command", lba);
	/* The queue still works, on the file too. */
	{
		uint64_t tk = write_on(t, 2, 0, 0x4444, 60, 0x44, 1);

		wait_collect(t, 2, &r);
		assert_int_equal(r.token, tk);
		assert_int_equal(r.response, S_OK);
		assert_int_equal(file_byte(path, 60), 0x44);
	}
	vt_free(t);
	unlink(path);
}

/* ---- save/load right after a queue reset ---- */

static void test_save_load_after_reset(void **state)
{
	struct vt *t = up("virtio-scsi-pci,num-queues=2", 0, 0), *t2;
	uint64_t tk3;
	uint8_t *blob;
	size_t len;
	struct vt_res r;

	(void)state;
	write_on(t, 2, 0, 0x61, 3, 0x61, 1);
	tk3 = write_on(t, 3, 1, 0x62, 4, 0x62, 1);
	driver_reset(t, 2);
	blob = vt_save_dev(t->dev, &len);

	t2 = vt_new("virtio-scsi-pci,num-queues=2");
	vt_disk(t2, 0, 0, 256, 512);
	vt_disk(t2, 0, 1, 256, 512);
	assert_int_equal(vt_load_dev(t2->dev, blob, len), 0);
	vt_adopt(t2, t);
	vt_free(t);
	mock_vmm_set_time(&t2->mv, t2->mv.now_ns + 1);
	vt_poll(t2);
	/* Queue 3's command, in flight at the save, completes on the destination. */
	assert_int_equal(vt_collect(t2, 3, &r), 1);
	assert_int_equal(r.token, tk3);
	assert_int_equal(r.response, S_OK);
	assert_int_equal(vt_collect(t2, 3, &r), 0);
	/* Queue 2 is still reset there: the driver enables it, and it works. */
	vio_select_queue(&t2->d, 2);
	assert_int_equal(vio_common_read(&t2->d, VIO_CC_Q_ENABLE, 2), 0);
	driver_enable(t2, 2, 16);
	assert_int_equal(read_byte(t2, 2, 1, 4), 0x62);
	{
		uint64_t tk = write_on(t2, 2, 0, 0x63, 8, 0x63, 1);

		vt_poll(t2);
		assert_int_equal(vt_collect(t2, 2, &r), 1);
		assert_int_equal(r.token, tk);
		assert_int_equal(r.response, S_OK);
	}
	assert_int_equal(read_byte(t2, 2, 0, 8), 0x63);
	free(blob);
	vt_free(t2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offered),
		cmocka_unit_test(test_reset_request_queue),
		cmocka_unit_test(test_shared_tag),
		cmocka_unit_test(test_reset_in_burst),
		cmocka_unit_test(test_reset_ctrl_event),
		cmocka_unit_test(test_reset_never_enabled),
		cmocka_unit_test(test_repeated_reset_slow_backend),
		cmocka_unit_test(test_save_load_after_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
