/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/timer.h
 * Library timers. Devices arm timers with absolute deadlines on the
 * context's clock (vdev_now_ns()). The library has no thread: the VMM asks
 * for the earliest deadline with vdev_timers_next_deadline(), sleeps until
 * then (timerfd, poll timeout, libuv timer...) and calls
 * vdev_timers_run(). A device that is idle arms nothing, so an idle VM
 * costs no wake-ups.
 */
#ifndef VDEV_TIMER_H
#define VDEV_TIMER_H

#include <vdev/common.h>

VDEV_BEGIN_DECLS

/** A one-shot timer owned by a device model. */
typedef struct vdev_timer vdev_timer;

/** Called from vdev_timers_run() once the deadline has passed; the timer
 *  is already disarmed and may be re-armed or freed from the callback. */
typedef void (*vdev_timer_cb)(vdev_timer *timer, void *opaque);

/**
 * Create a disarmed timer. @return 0, -EINVAL, -ENOMEM.
 * Thread: the device thread.
 */
VDEV_API int vdev_timer_new(vdev_ctx *ctx, vdev_timer_cb cb, void *opaque, vdev_timer **out);

/**
 * Free a timer (disarming it first). NULL is a no-op. May be called from
 * any timer callback, including the timer's own. Thread: the device thread.
 */
VDEV_API void vdev_timer_free(vdev_timer *timer);

/**
 * Arm (or re-arm) @p timer to fire once at absolute time @p deadline_ns.
 * A deadline already in the past fires on the next vdev_timers_run().
 * Thread: the device thread.
 */
VDEV_API void vdev_timer_arm(vdev_timer *timer, uint64_t deadline_ns);

/** Disarm @p timer; a no-op if not armed. Thread: the device thread. */
VDEV_API void vdev_timer_disarm(vdev_timer *timer);

/** @return 1 if @p timer is armed, 0 if not. */
VDEV_API int vdev_timer_is_armed(const vdev_timer *timer);

/** @return the deadline of an armed timer, or UINT64_MAX if disarmed. */
VDEV_API uint64_t vdev_timer_deadline(const vdev_timer *timer);

/**
 * The earliest deadline of all armed timers of @p ctx.
 * @return 0 and *deadline_ns set, or -ENOENT if no timer is armed.
 * Thread: the device thread.
 */
VDEV_API int vdev_timers_next_deadline(vdev_ctx *ctx, uint64_t *deadline_ns);

/**
 * Run the callbacks of every timer whose deadline is at or before the
 * current time (vdev_now_ns()), earliest first. A timer re-armed in the
 * past by a callback runs on the next call, not this one, so this always
 * terminates. @return the number of callbacks run.
 * Thread: the device thread.
 */
VDEV_API int vdev_timers_run(vdev_ctx *ctx);

VDEV_END_DECLS

#endif /* VDEV_TIMER_H */
