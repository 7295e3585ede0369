/* SPDX-License-Identifier: MIT */
/*
 * The inline engine (memory and null drivers): a request runs to the end
 * inside queue(), on the backend's thread, and its slot goes on the done
 * list at once; vdev_blk_poll() delivers it. Nothing is ever left with the
 * engine, so there is nothing to cancel, reap or stop.
 */
#include "block/blk_internal.h"

static int inline_queue(vdev_blk *b, struct blk_slot *s)
{
	vdev__blk_complete(b, s, b->exec(b, s->req));
	return 0;
}

static void inline_nop(vdev_blk *b)
{
	(void)b;
}

static void inline_loop_nop(vdev_blk_loop *l)
{
	(void)l;
}

static void inline_cancel(vdev_blk *b, struct blk_slot *s)
{
	(void)b;
	(void)s; /* unreachable: no slot stays with this engine */
}

const struct blk_engine_ops vdev__blk_inline_ops = {
	.name = "inline",
	.external_signal = false,
	.queue = inline_queue,
	.kick = inline_nop,
	.cancel = inline_cancel,
	.reap = inline_loop_nop,
	.fini = inline_loop_nop,
};
