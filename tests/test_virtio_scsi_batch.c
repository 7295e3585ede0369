/* SPDX-License-Identifier: MIT */
/*
 * virtio-scsi completion batching: commands completed by a backend poll
 * (vdev_blk_poll()) are pushed at once but published by a library timer
 * (vdev_timers_run()): one used-index update and one interrupt for the
 * whole burst. Also: a kick publishes what polls left pending, a reset
 * with a publication pending writes nothing to the guest, and a save
 * with one pending carries the completions to the destination.
 */
#include <vdev/state.h>

#include "test_virtio_scsi_util.h"

#define NB 16

static struct vt *up(const char *spec, uint64_t features)
{
	struct vt *t = vt_new(spec);

	t->msix = 1;
	vt_disk(t, 0, 0, 256, 512);
	vt_up(t, features, 0);
	vt_clear_ua(t, 0, 0);
	return t;
}

static size_t msi_count(const struct vt *t, uint32_t data)
{
	size_t n = 0;

	for (size_t i = 0; i < t->mv.n_msi; i++)
		n += t->mv.msi[i].data == data;
	return n;
}

/* NB one-block READs made available together and announced by one kick. */
static void submit_reads(struct vt *t, uint64_t *tok)
{
	struct vt_cmd c;

	for (unsigned int i = 0; i < NB; i++) {
		vt_cmd_init(&c, 0, 0);
		c.tag = 0x500 + i;
		vt_rw10(&c, 0, 10 + i, 1);
		c.din_len = 512;
		tok[i] = vt_submit_ex(t, 2, &c, i == NB - 1);
	}
}

/* Collect exactly the NB READs (zeroed blocks), in any order. */
static void collect_reads(struct vt *t, const uint64_t *tok)
{
	static const uint8_t zero[512];
	unsigned int seen = 0;
	struct vt_res r;

	while (vt_collect(t, 2, &r)) {
		unsigned int i;

		for (i = 0; i < NB; i++)
			if (r.token == tok[i])
				break;
		assert_true(i < NB);
		assert_int_equal(r.response, S_OK);
		assert_int_equal(r.status, VDEV_SCSI_GOOD);
		assert_int_equal(r.used, 12 + t->sense_size + 512);
		assert_memory_equal(r.din, zero, 512);
		seen++;
	}
	assert_int_equal(seen, NB);
}

static void batch_one_interrupt(const char *spec, uint64_t ring)
{
	struct vt *t = up(spec, ring);
	uint64_t tok[NB];
	size_t before;
	struct vt_res r;

	before = msi_count(t, 0x102);
	submit_reads(t, tok);
	/* The memory backend completes from its poll, not inside the kick. */
	assert_int_equal(vt_collect(t, 2, &r), 0);
	assert_int_equal(vt_poll_backends(t), NB);
	/* Pushed but not published: the guest sees nothing, no interrupt. */
	assert_int_equal(vt_collect(t, 2, &r), 0);
	assert_int_equal(msi_count(t, 0x102), before);
	assert_int_equal(vdev_timers_run(t->mv.ctx), 1);
	assert_int_equal(msi_count(t, 0x102), before + 1);
	collect_reads(t, tok);
	/* Nothing left armed: the next run does nothing, sends nothing. */
	assert_int_equal(vdev_timers_run(t->mv.ctx), 0);
	assert_int_equal(msi_count(t, 0x102), before + 1);
	vt_free(t);
}

static void test_batch_split(void **state)
{
	(void)state;
	batch_one_interrupt("virtio-scsi-pci", 0);
}

static void test_batch_packed(void **state)
{
	(void)state;
	batch_one_interrupt("virtio-scsi-pci", F_PACKED);
}

static void test_batch_two_queues(void **state)
{
	struct vt *t = up("virtio-scsi-pci,num-queues=2", 0);
	size_t b2 = msi_count(t, 0x102), b3 = msi_count(t, 0x103);
	uint64_t t2, t3;
	struct vt_cmd c;
	struct vt_res r;

	(void)state;
	vt_cmd_init(&c, 0, 0);
	vt_rw10(&c, 0, 1, 1);
	c.din_len = 512;
	t2 = vt_submit(t, 2, &c);
	t3 = vt_submit(t, 3, &c);
	assert_int_equal(vt_poll_backends(t), 2);
	assert_int_equal(vt_collect(t, 2, &r) + vt_collect(t, 3, &r), 0);
	/* One timer callback publishes both queues, one interrupt each. */
	assert_int_equal(vdev_timers_run(t->mv.ctx), 1);
	assert_int_equal(msi_count(t, 0x102), b2 + 1);
	assert_int_equal(msi_count(t, 0x103), b3 + 1);
	assert_int_equal(vt_collect(t, 2, &r), 1);
	assert_int_equal(r.token, t2);
	assert_int_equal(vt_collect(t, 3, &r), 1);
	assert_int_equal(r.token, t3);
	vt_free(t);
}

/* A kick after a poll publishes the poll's completions with its own, once. */
static void test_kick_publishes_pending(void **state)
{
	struct vt *t = up("virtio-scsi-pci", 0);
	uint64_t tok[NB], tur;
	unsigned int seen = 0;
	struct vt_cmd c;
	struct vt_res r;
	size_t before;

	(void)state;
	before = msi_count(t, 0x102);
	submit_reads(t, tok);
	assert_int_equal(vt_poll_backends(t), NB);
	/* TEST UNIT READY completes inside the kick. */
	vt_cmd_init(&c, 0, 0);
	vt_tur(&c);
	tur = vt_submit(t, 2, &c);
	assert_int_equal(msi_count(t, 0x102), before + 1);
	while (vt_collect(t, 2, &r)) {
		assert_int_equal(r.response, S_OK);
		assert_int_equal(r.status, VDEV_SCSI_GOOD);
		seen++;
		if (r.token == tur)
			continue;
		assert_int_equal(r.used, 12 + t->sense_size + 512);
	}
	assert_int_equal(seen, NB + 1);
	/* The timer was disarmed by the kick's publication: nothing more. */
	assert_int_equal(vdev_timers_run(t->mv.ctx), 0);
	assert_int_equal(msi_count(t, 0x102), before + 1);
	vt_free(t);
}

/* A reset with a publication pending: nothing written, nothing sent, still works. */
static void reset_pending(int device_reset)
{
	struct vt *t = up("virtio-scsi-pci", 0);
	uint64_t tok[NB];
	uint8_t *ram;
	size_t n_msi;
	struct vt_cmd c;
	struct vt_res r;

	submit_reads(t, tok);
	assert_int_equal(vt_poll_backends(t), NB);
	ram = malloc(VT_RAM);
	assert_non_null(ram);
	memcpy(ram, t->mv.ram, VT_RAM);
	n_msi = t->mv.n_msi;
	if (device_reset)
		vdev_device_reset(t->dev);
	else
		vio_reset(&t->d);
	assert_int_equal(vdev_timers_run(t->mv.ctx), 0);
	mock_vmm_set_time(&t->mv, t->mv.now_ns + 1000000);
	assert_memory_equal(t->mv.ram, ram, VT_RAM);
	assert_int_equal(t->mv.n_msi, n_msi);
	free(ram);

	/* The driver starts again: the device works, with the new batching. */
	if (device_reset)
		vio_pci_enable(&t->d);
	vt_up(t, 0, 0);
	vt_clear_ua(t, 0, 0);
	vt_cmd_init(&c, 0, 0);
	vt_rw10(&c, 0, 3, 1);
	c.din_len = 512;
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.response, S_OK);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	vt_free(t);
}

static void test_reset_status_pending(void **state)
{
	(void)state;
	reset_pending(0);
}

static void test_reset_device_pending(void **state)
{
	(void)state;
	reset_pending(1);
}

/* Destroying the device with a publication pending (ASan checks the timer). */
static void test_destroy_pending(void **state)
{
	struct vt *t = up("virtio-scsi-pci", 0);
	uint64_t tok[NB];

	(void)state;
	submit_reads(t, tok);
	assert_int_equal(vt_poll_backends(t), NB);
	vt_free(t);
}

/* ---- save with a publication pending --------------------------------------- */

static void test_save_pending(void **state)
{
	struct vt *t = up("virtio-scsi-pci", 0), *t2;
	vdev_state_reader *rd;
	uint64_t tok[NB];
	uint8_t *blob;
	struct vt_res r;
	size_t len;

	(void)state;
	submit_reads(t, tok);
	assert_int_equal(vt_poll_backends(t), NB);
	blob = vt_save_dev(t->dev, &len);

	/* The destination takes over RAM and the driver's rings. */
	t2 = vt_new("virtio-scsi-pci");
	t2->msix = 1;
	vt_disk(t2, 0, 0, 256, 512);
	memcpy(t2->mv.ram, t->mv.ram, VT_RAM);
	t2->mem = t->mem;
	t2->mem.base = t2->mv.ram;
	memcpy(t2->vq, t->vq, sizeof(t->vq));
	for (unsigned int i = 0; i < t->nvq; i++)
		t2->vq[i].mem = &t2->mem;
	t2->nvq = t->nvq;
	t->nvq = 0;
	memcpy(t2->tok, t->tok, sizeof(t->tok));
	t2->d.features = t->d.features;
	t2->sense_size = t->sense_size;
	assert_int_equal(vdev_state_reader_new(blob, len, &rd), 0);
	assert_int_equal(vdev_device_load(t2->dev, rd), 0);
	vdev_state_reader_free(rd);
	free(blob);
	/* A load writes nothing; the resume timer publishes the source's completions. */
	assert_int_equal(vt_collect(t2, 2, &r), 0);
	mock_vmm_set_time(&t2->mv, t2->mv.now_ns + 1);
	collect_reads(t2, tok);
	vt_poll(t2);
	assert_int_equal(vt_collect(t2, 2, &r), 0);

	/* The source's pending publication still fires there, harmlessly. */
	assert_int_equal(vdev_timers_run(t->mv.ctx), 1);
	vt_free(t2);
	vt_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_split),
		cmocka_unit_test(test_batch_packed),
		cmocka_unit_test(test_batch_two_queues),
		cmocka_unit_test(test_kick_publishes_pending),
		cmocka_unit_test(test_reset_status_pending),
		cmocka_unit_test(test_reset_device_pending),
		cmocka_unit_test(test_destroy_pending),
		cmocka_unit_test(test_save_pending),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
