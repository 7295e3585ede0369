/* SPDX-License-Identifier: MIT */
/*
 * Remote regions in the guest-memory map (lib/core/core.h): a shadow the
 * library addresses, refreshed by fetches whose data arrives later
 * (vdev__mem_remote_arrived()) and written back by a write hook. The
 * "guest" here is a buffer only the hooks touch; a fetch snapshots it when
 * asked, deliver() hands the snapshots in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vdev/vdev.h>

#include "core/core.h"
#include "mock_vmm.h"

#define GUEST_GPA 0x100000u
#define GUEST_SIZE (64u * 1024)

struct pending {
	uint64_t gpa, seq;
	size_t len;
	uint8_t snap[GUEST_SIZE];
};

struct remote {
	uint8_t guest[GUEST_SIZE];
	uint8_t shadow[GUEST_SIZE];
	unsigned int reads, writes;
	uint64_t last_gpa;
	size_t last_len, write_bytes;
	int fail;                /* fetch returns this when non-zero */
	struct pending pend[4];
	unsigned int npend;
};

static int hook_fetch(void *opaque, uint64_t gpa, size_t len, uint64_t seq)
{
	struct remote *r = opaque;
	struct pending *p;

	assert_true(gpa >= GUEST_GPA && len && len <= GUEST_SIZE - (gpa - GUEST_GPA));
	if (r->fail)
		return r->fail;
	assert_true(r->npend < 4);
	p = &r->pend[r->npend++];
	p->gpa = gpa;
	p->len = len;
	p->seq = seq;
	memcpy(p->snap, r->guest + (gpa - GUEST_GPA), len);
	r->reads++;
	r->last_gpa = gpa;
	r->last_len = len;
	return 0;
}

static int hook_write(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
	struct remote *r = opaque;

	assert_true(gpa >= GUEST_GPA && len && len <= GUEST_SIZE - (gpa - GUEST_GPA));
	memcpy(r->guest + (gpa - GUEST_GPA), buf, len);
	r->writes++;
	r->write_bytes += len;
	r->last_gpa = gpa;
	r->last_len = len;
	return 0;
}

struct t {
	struct mock_vmm mv;
	struct remote r;
	struct vdev__mem_remote ops;
};

/* The client answers every fetch asked so far (in @pieces pieces each). */
static void deliver(struct t *t, unsigned int pieces)
{
	for (unsigned int i = 0; i < t->r.npend; i++) {
		struct pending *p = &t->r.pend[i];
		size_t step = (p->len + pieces - 1) / pieces;

		for (size_t off = 0; off < p->len; off += step)
			vdev__mem_remote_arrived(t->mv.ctx, p->seq, p->gpa + off, p->snap + off,
						 VDEV__MIN(step, p->len - off), 0);
	}
	t->r.npend = 0;
}

/* Ordinary RAM [0, 1 MiB) from the mock VMM, then the remote region right after it. */
static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	assert_int_equal(mock_vmm_init(&t->mv, GUEST_GPA, 1), 0);
	t->ops = (struct vdev__mem_remote){ .fetch = hook_fetch, .write = hook_write,
					     .opaque = &t->r };
	assert_int_equal(vdev__mem_region_add_remote(t->mv.ctx, GUEST_GPA, GUEST_SIZE,
						     t->r.shadow, 0, &t->ops),
			 0);
	for (unsigned int i = 0; i < GUEST_SIZE; i++)
		t->r.guest[i] = (uint8_t)(i * 7 + 1);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	mock_vmm_fini(&t->mv);
	free(t);
	return 0;
}

static void test_add_refuses_bad_hooks(void **state)
{
	struct t *t = *state;
	struct vdev__mem_remote half = { .fetch = hook_fetch };
	static uint8_t other[4096];

	assert_int_equal(vdev__mem_region_add_remote(t->mv.ctx, 1u << 30, 4096, other, 0, NULL),
			 -EINVAL);
	assert_int_equal(vdev__mem_region_add_remote(t->mv.ctx, 1u << 30, 4096, other, 0, &half),
			 -EINVAL);
	assert_int_equal(vdev__mem_region_add_remote(t->mv.ctx, GUEST_GPA + 4096, 4096, other, 0,
						     &t->ops),
			 -EEXIST);
	/* The internal flag is not a public one. */
	assert_int_equal(vdev_mem_region_add(t->mv.ctx, 1u << 30, 4096, other, VDEV__MEM_REMOTE),
			 -EINVAL);
	assert_int_equal(vdev_mem_region_count(t->mv.ctx), 2);
}

/* Read, answered later: -EAGAIN (asked once), then the data. */
static void read_twice(struct t *t, uint64_t gpa, uint8_t *buf, size_t len)
{
	assert_int_equal(vdev_mem_read(t->mv.ctx, gpa, buf, len), -EAGAIN);
	assert_int_equal(vdev_mem_read(t->mv.ctx, gpa, buf, len), -EAGAIN);
	assert_int_equal(t->r.npend, 1);
	deliver(t, 1);
	assert_int_equal(vdev_mem_read(t->mv.ctx, gpa, buf, len), 0);
}

static void test_read_pulls_fresh_bytes(void **state)
{
	struct t *t = *state;
	uint8_t buf[100];

	read_twice(t, GUEST_GPA + 10, buf, sizeof(buf));
	assert_memory_equal(buf, t->r.guest + 10, sizeof(buf));
	/* The guest changes it: the next read asks again and sees that. */
	memset(t->r.guest + 10, 0xee, 50);
	read_twice(t, GUEST_GPA + 10, buf, sizeof(buf));
	assert_memory_equal(buf, t->r.guest + 10, sizeof(buf));
	assert_int_equal(t->r.reads, 2);
	assert_int_equal(t->r.writes, 0);
	/* The owner cannot ask: -EIO; it is busy: -EAGAIN, nothing recorded. */
	t->r.fail = -ENOTCONN;
	assert_int_equal(vdev_mem_read(t->mv.ctx, GUEST_GPA, buf, sizeof(buf)), -EIO);
	t->r.fail = -EAGAIN;
	assert_int_equal(vdev_mem_read(t->mv.ctx, GUEST_GPA, buf, sizeof(buf)), -EAGAIN);
	t->r.fail = 0;
	read_twice(t, GUEST_GPA, buf, sizeof(buf));
	assert_memory_equal(buf, t->r.guest, sizeof(buf));
}

/*
 * Sequence points: an arrived fetch counts only for points taken before it
 * was sent; pieces complete a fetch only together; an error answer fails.
 */
static void test_sequence_points(void **state)
{
	struct t *t = *state;
	uint64_t p1 = vdev__mem_remote_now(t->mv.ctx), p2;

	assert_int_equal(vdev__mem_pull(t->mv.ctx, GUEST_GPA, 4096, p1), -EAGAIN);
	assert_int_equal(vdev__mem_pull(t->mv.ctx, GUEST_GPA + 100, 50, p1), -EAGAIN);
	assert_int_equal(t->r.npend, 1);   /* the second is inside the first: no new fetch */
	deliver(t, 3);
	assert_int_equal(vdev__mem_pull(t->mv.ctx, GUEST_GPA + 100, 50, p1), 0);
	assert_memory_equal(t->r.shadow, t->r.guest, 4096);
	p2 = vdev__mem_remote_now(t->mv.ctx);
	assert_true(p2 > p1);
	assert_int_equal(vdev__mem_pull(t->mv.ctx, GUEST_GPA + 100, 50, p2), -EAGAIN);
	assert_int_equal(t->r.npend, 1);
	assert_int_equal(t->r.last_gpa, GUEST_GPA + 100);
	/* Half of it arrives: not yet. */
	vdev__mem_remote_arrived(t->mv.ctx, t->r.pend[0].seq, GUEST_GPA + 100, t->r.pend[0].snap,
				 25, 0);
	assert_int_equal(vdev__mem_pull(t->mv.ctx, GUEST_GPA + 100, 50, p2), -EAGAIN);
	/* Bytes outside what was asked, or for an unknown fetch, change nothing. */
	vdev__mem_remote_arrived(t->mv.ctx, t->r.pend[0].seq, GUEST_GPA + 90, t->r.pend[0].snap,
				 50, 0);
	vdev__mem_remote_arrived(t->mv.ctx, 999999, GUEST_GPA + 125, t->r.pend[0].snap, 25, 0);
	assert_int_equal(vdev__mem_pull(t->mv.ctx, GUEST_GPA + 100, 50, p2), -EAGAIN);
	/* The rest fails: the range is unreachable (until a later point asks again). */
	vdev__mem_remote_arrived(t->mv.ctx, t->r.pend[0].seq, GUEST_GPA + 125, NULL, 25, -EIO);
	t->r.npend = 0;
	assert_int_equal(vdev__mem_pull(t->mv.ctx, GUEST_GPA + 100, 50, p2), -EIO);
	assert_int_equal(vdev__mem_pull(t->mv.ctx, GUEST_GPA + 100, 50,
					vdev__mem_remote_now(t->mv.ctx)),
			 -EAGAIN);
	deliver(t, 1);
	/* Ordinary RAM and holes need nothing. */
	assert_int_equal(vdev__mem_pull(t->mv.ctx, 0, 4096, p2), 0);
	assert_int_equal(vdev__mem_pull(t->mv.ctx, 1ull << 40, 4096, p2), 0);
}

static void test_read_across_the_boundary(void **state)
{
	struct t *t = *state;
	uint8_t buf[64];

	memset(t->mv.ram + GUEST_GPA - 32, 0x5a, 32);
	read_twice(t, GUEST_GPA - 32, buf, sizeof(buf));
	for (unsigned int i = 0; i < 32; i++)
		assert_int_equal(buf[i], 0x5a);
	assert_memory_equal(buf + 32, t->r.guest, 32);
	/* Only the remote part went through the hook. */
	assert_int_equal(t->r.reads, 1);
	assert_int_equal(t->r.last_gpa, GUEST_GPA);
	assert_int_equal(t->r.last_len, 32);
}

static void test_write_pushes(void **state)
{
	struct t *t = *state;
	uint8_t buf[300];

	memset(buf, 0x33, sizeof(buf));
	assert_int_equal(vdev_mem_write(t->mv.ctx, GUEST_GPA + 1000, buf, sizeof(buf)), 0);
	assert_memory_equal(t->r.guest + 1000, buf, sizeof(buf));
	assert_int_equal(t->r.guest[999], (uint8_t)(999 * 7 + 1));
	assert_int_equal(t->r.guest[1300], (uint8_t)(1300 * 7 + 1));
	assert_int_equal(t->r.write_bytes, sizeof(buf));
}

/*
 * translate(WRITE) pushes nothing (the device has not written yet); the
 * device's vdev_mem_mark_dirty() pushes exactly what it names.
 */
static void test_translate_write_then_mark(void **state)
{
	struct t *t = *state;
	struct iovec iov[2];

	assert_int_equal(vdev_mem_translate(t->mv.ctx, GUEST_GPA + 4096, 8192, VDEV_MEM_WRITE, iov,
					    2),
			 1);
	assert_ptr_equal(iov[0].iov_base, t->r.shadow + 4096);
	assert_int_equal(t->r.writes, 0);
	assert_int_equal(t->r.reads, 0);
	memset(iov[0].iov_base, 0x77, 100);
	vdev_mem_mark_dirty(t->mv.ctx, GUEST_GPA + 4096, 100);
	assert_int_equal(t->r.writes, 1);
	assert_int_equal(t->r.write_bytes, 100);
	for (unsigned int i = 0; i < 100; i++)
		assert_int_equal(t->r.guest[4096 + i], 0x77);
	/* The other 8092 bytes of the guest are untouched. */
	assert_int_equal(t->r.guest[4196], (uint8_t)(4196 * 7 + 1));
	/* The host-address form used for iovecs does the same. */
	memset(t->r.shadow + 5000, 0x11, 10);
	vdev__mem_mark_dirty_hva(t->mv.ctx, t->r.shadow + 5000, 10);
	assert_int_equal(t->r.guest[5000], 0x11);
	assert_int_equal(t->r.guest[5009], 0x11);
	assert_int_equal(t->r.guest[5010], (uint8_t)(5010 * 7 + 1));
	assert_int_equal(t->r.write_bytes, 110);
}

static void test_translate_read_pulls(void **state)
{
	struct t *t = *state;
	struct iovec iov[2];

	assert_int_equal(vdev_mem_translate(t->mv.ctx, GUEST_GPA - 16, 48, VDEV_MEM_READ, iov, 2),
			 -EAGAIN);
	deliver(t, 1);
	assert_int_equal(vdev_mem_translate(t->mv.ctx, GUEST_GPA - 16, 48, VDEV_MEM_READ, iov, 2),
			 2);
	assert_int_equal(iov[1].iov_len, 32);
	assert_memory_equal(iov[1].iov_base, t->r.guest, 32);
	assert_int_equal(t->r.reads, 1);
	t->r.fail = -EPIPE;
	assert_int_equal(vdev_mem_translate(t->mv.ctx, GUEST_GPA, 8, VDEV_MEM_READ, iov, 2), -EIO);
}

/* A removed region's fetches are forgotten: a late answer changes nothing. */
static void test_removal_forgets_fetches(void **state)
{
	struct t *t = *state;
	uint8_t buf[16];

	assert_int_equal(vdev_mem_read(t->mv.ctx, GUEST_GPA, buf, sizeof(buf)), -EAGAIN);
	assert_int_equal(vdev_mem_region_remove(t->mv.ctx, GUEST_GPA), 0);
	memset(t->r.shadow, 0x42, 16);
	deliver(t, 1);
	assert_int_equal(t->r.shadow[0], 0x42);
	assert_int_equal(vdev_mem_read(t->mv.ctx, GUEST_GPA, buf, sizeof(buf)), -EFAULT);
}

/* Dirty logging keeps working beside write-back, and removal ends both. */
static void test_logging_and_removal(void **state)
{
	struct t *t = *state;
	uint64_t bm[1] = { 0 };
	uint8_t b = 9;
	const struct vdev__mem_hot *hot = vdev__mem_hot(t->mv.ctx);

	assert_true(hot->remote && hot->logging);
	assert_int_equal(vdev_mem_dirty_bitmap(t->mv.ctx, GUEST_GPA, bm, 1, 1), -ENODATA);
	assert_int_equal(vdev_mem_dirty_log_enable(t->mv.ctx, 1), 0);
	assert_int_equal(vdev_mem_write(t->mv.ctx, GUEST_GPA + 3 * 4096, &b, 1), 0);
	assert_int_equal(vdev_mem_dirty_bitmap(t->mv.ctx, GUEST_GPA, bm, 1, 1), 1);
	assert_int_equal(bm[0], 1u << 3);
	assert_int_equal(t->r.guest[3 * 4096], 9);
	assert_int_equal(vdev_mem_dirty_log_enable(t->mv.ctx, 0), 0);
	assert_true(hot->logging);
	assert_int_equal(vdev_mem_region_remove(t->mv.ctx, GUEST_GPA), 0);
	assert_false(hot->remote);
	assert_false(hot->logging);
	vdev_mem_mark_dirty(t->mv.ctx, GUEST_GPA, 4096);
	assert_int_equal(t->r.writes, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_refuses_bad_hooks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_pulls_fresh_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sequence_points, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removal_forgets_fetches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_across_the_boundary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_pushes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_translate_write_then_mark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_translate_read_pulls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logging_and_removal, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
