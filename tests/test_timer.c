/* SPDX-License-Identifier: MIT */
/* Library timers: ordering, re-arming, freeing from callbacks, no polling when idle. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mock_vmm.h"

struct fire_log {
	int order[64];
	int n;
};

struct tctx {
	struct fire_log *log;
	int id;
	vdev_timer *self;
	vdev_timer *victim;     /* freed / disarmed by this callback */
	int rearm_delta;        /* re-arm self at now + delta when non-zero */
	int free_self;
	struct mock_vmm *mv;
};

static void fire(vdev_timer *t, void *opaque)
{
	struct tctx *c = opaque;

	assert_ptr_equal(t, c->self);
	assert_false(vdev_timer_is_armed(t));
	if (c->log->n < (int)(sizeof(c->log->order) / sizeof(c->log->order[0])))
		c->log->order[c->log->n] = c->id;
	c->log->n++;
	if (c->victim) {
		vdev_timer_free(c->victim);
		c->victim = NULL;
	}
	if (c->rearm_delta)
		vdev_timer_arm(t, c->mv->now_ns + (uint64_t)(int64_t)c->rearm_delta);
	if (c->free_self)
		vdev_timer_free(t);
}

static void test_order_and_ties(void **state)
{
	struct mock_vmm mv;
	struct fire_log log = { 0 };
	struct tctx c[6];
	uint64_t deadlines[6] = { 500, 100, 300, 100, 300, 10000 };
	uint64_t next;

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	assert_int_equal(vdev_timers_next_deadline(mv.ctx, &next), -ENOENT);
	for (int i = 0; i < 6; i++) {
		c[i] = (struct tctx){ .log = &log, .id = i, .mv = &mv };
		assert_int_equal(vdev_timer_new(mv.ctx, fire, &c[i], &c[i].self), 0);
		vdev_timer_arm(c[i].self, 2000 + deadlines[i]);
	}
	assert_int_equal(vdev_timers_next_deadline(mv.ctx, &next), 0);
	assert_int_equal(next, 2100);
	assert_int_equal(mock_vmm_set_time(&mv, 2099), 0);
	assert_int_equal(mock_vmm_set_time(&mv, 2500), 5);
	/* Earliest first; equal deadlines in arm order. */
	int want[] = { 1, 3, 2, 4, 0 };
	assert_int_equal(log.n, 5);
	assert_memory_equal(log.order, want, sizeof(want));
	assert_int_equal(vdev_timers_next_deadline(mv.ctx, &next), 0);
	assert_int_equal(next, 12000);
	assert_true(vdev_timer_is_armed(c[5].self));
	assert_int_equal(vdev_timer_deadline(c[5].self), 12000);
	assert_int_equal(vdev_timer_deadline(c[0].self), UINT64_MAX);
	mock_vmm_fini(&mv); /* frees the remaining timers */
}

static void test_rearm_in_past_waits_for_next_run(void **state)
{
	struct mock_vmm mv;
	struct fire_log log = { 0 };
	struct tctx c = { .log = &log, .id = 7, .rearm_delta = -500 };

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	c.mv = &mv;
	assert_int_equal(vdev_timer_new(mv.ctx, fire, &c, &c.self), 0);
	vdev_timer_arm(c.self, 1500);
	/* The callback re-arms itself in the past: must not loop forever. */
	assert_int_equal(mock_vmm_set_time(&mv, 2000), 1);
	assert_true(vdev_timer_is_armed(c.self));
	assert_int_equal(mock_vmm_set_time(&mv, 2000), 1);
	assert_int_equal(log.n, 2);
	c.rearm_delta = 0;
	assert_int_equal(mock_vmm_set_time(&mv, 2000), 1);
	assert_int_equal(mock_vmm_set_time(&mv, 2000), 0);
	vdev_timer_free(c.self);
	mock_vmm_fini(&mv);
}

static void test_free_and_disarm_from_callbacks(void **state)
{
	struct mock_vmm mv;
	struct fire_log log = { 0 };
	struct tctx a = { .log = &log, .id = 1 }, b = { .log = &log, .id = 2 },
		    s = { .log = &log, .id = 3, .free_self = 1 };

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	assert_int_equal(vdev_timer_new(mv.ctx, fire, &a, &a.self), 0);
	assert_int_equal(vdev_timer_new(mv.ctx, fire, &b, &b.self), 0);
	assert_int_equal(vdev_timer_new(mv.ctx, fire, &s, &s.self), 0);
	/* a fires first and frees b, which had also expired: b must not fire. */
	a.victim = b.self;
	vdev_timer_arm(a.self, 1100);
	vdev_timer_arm(b.self, 1200);
	vdev_timer_arm(s.self, 1300);
	assert_int_equal(mock_vmm_set_time(&mv, 5000), 2);
	assert_int_equal(log.n, 2);
	assert_int_equal(log.order[0], 1);
	assert_int_equal(log.order[1], 3); /* and s freed itself */
	vdev_timer_free(a.self);
	vdev_timer_free(NULL);
	mock_vmm_fini(&mv);
}

static void test_disarm_and_hook(void **state)
{
	struct mock_vmm mv;
	struct fire_log log = { 0 };
	struct tctx a = { .log = &log, .id = 1 }, b = { .log = &log, .id = 2 };
	unsigned int changes;
	uint64_t next;

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	assert_int_equal(vdev_timer_new(mv.ctx, fire, &a, &a.self), 0);
	assert_int_equal(vdev_timer_new(mv.ctx, fire, &b, &b.self), 0);
	changes = mv.timers_changed;
	vdev_timer_arm(a.self, 5000);
	assert_int_equal(mv.timers_changed, changes + 1);
	vdev_timer_arm(b.self, 9000); /* not earlier: no notification */
	assert_int_equal(mv.timers_changed, changes + 1);
	vdev_timer_disarm(a.self);
	assert_int_equal(mv.timers_changed, changes + 2);
	vdev_timer_disarm(a.self); /* idempotent */
	assert_int_equal(mv.timers_changed, changes + 2);
	assert_int_equal(vdev_timers_next_deadline(mv.ctx, &next), 0);
	assert_int_equal(next, 9000);
	vdev_timer_disarm(b.self);
	/* An idle context arms nothing. */
	assert_int_equal(vdev_timers_next_deadline(mv.ctx, &next), -ENOENT);
	assert_int_equal(mock_vmm_set_time(&mv, 100000), 0);
	assert_int_equal(log.n, 0);
	assert_int_equal(vdev_timer_new(mv.ctx, NULL, NULL, &a.self), -EINVAL);
	mock_vmm_fini(&mv);
}

/* Heap invariants under a random workload, checked against a brute-force model. */
static void test_random_against_model(void **state)
{
	enum { N = 200 };
	struct mock_vmm mv;
	struct fire_log log = { 0 };
	struct tctx c[N];
	uint64_t model[N];
	unsigned int seed = 12345;

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	for (int i = 0; i < N; i++) {
		c[i] = (struct tctx){ .log = &log, .id = i, .mv = &mv };
		assert_int_equal(vdev_timer_new(mv.ctx, fire, &c[i], &c[i].self), 0);
		model[i] = UINT64_MAX;
	}
	for (int step = 0; step < 20000; step++) {
		int i = (int)(rand_r(&seed) % N);
		uint64_t expect = UINT64_MAX, got;

		if (rand_r(&seed) % 3) {
			model[i] = mv.now_ns + 1 + rand_r(&seed) % 100000;
			vdev_timer_arm(c[i].self, model[i]);
		} else {
			model[i] = UINT64_MAX;
			vdev_timer_disarm(c[i].self);
		}
		for (int j = 0; j < N; j++)
			expect = model[j] < expect ? model[j] : expect;
		if (vdev_timers_next_deadline(mv.ctx, &got))
			got = UINT64_MAX;
		assert_int_equal(got, expect);
		if (step % 1000 == 999) {
			int fired = 0;

			log.n = 0;
			mv.now_ns += 50000;
			for (int j = 0; j < N; j++)
				if (model[j] <= mv.now_ns) {
					model[j] = UINT64_MAX;
					fired++;
				}
			assert_int_equal(vdev_timers_run(mv.ctx), fired);
			assert_int_equal(log.n, fired);
		}
	}
	mock_vmm_fini(&mv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_ties),
		cmocka_unit_test(test_rearm_in_past_waits_for_next_run),
		cmocka_unit_test(test_free_and_disarm_from_callbacks),
		cmocka_unit_test(test_disarm_and_hook),
		cmocka_unit_test(test_random_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
