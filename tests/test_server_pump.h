/* SPDX-License-Identifier: MIT */
/*
 * One turn of an in-process server (vhost-user, vfio-user) in a test:
 * header-only, one program per test file.
 */
#ifndef VDEV_TESTS_TEST_SERVER_PUMP_H
#define VDEV_TESTS_TEST_SERVER_PUMP_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <uv.h>

#include <vdev/block.h>
#include <vdev/timer.h>

/*
 * The server's loop, then (unless @hold_backend) the block backend's
 * completions and due timers, then the loop again for the replies and
 * interrupts they produced.
 */
static inline void server_pump(uv_loop_t *loop, vdev_blk *blk, vdev_ctx *ctx, int hold_backend)
{
	uv_run(loop, UV_RUN_NOWAIT);
	if (!hold_backend) {
		while (vdev_blk_poll(blk) > 0)
			;
		assert_true(vdev_timers_run(ctx) >= 0);
	}
	uv_run(loop, UV_RUN_NOWAIT);
}

#endif
