/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/host.h
 * The host contract: the hooks a VMM hands to libvdev, and the context
 * that carries them.
 *
 * A VMM fills a struct vdev_host_ops, creates a context with
 * vdev_ctx_new(), registers guest RAM (vdev/mem.h), creates devices
 * (vdev/device.h) and then forwards trapped accesses to them. libvdev
 * starts no threads of its own.
 */
#ifndef VDEV_HOST_H
#define VDEV_HOST_H

#include <stdarg.h>
#include <vdev/common.h>

VDEV_BEGIN_DECLS

/** Log severities, most severe first. */
enum vdev_log_level {
	VDEV_LOG_ERROR = 0, /**< the device or library cannot go on as asked */
	VDEV_LOG_WARN = 1,  /**< e.g. a guest broke a rule; the device copes */
	VDEV_LOG_INFO = 2,  /**< state changes worth one line */
	VDEV_LOG_DEBUG = 3, /**< per-request detail; off by default */
};

/**
 * Hooks the VMM provides. Begins with struct_size: set it to
 * sizeof(struct vdev_host_ops) as your headers see it. The library reads
 * only the fields your struct_size covers; later library versions only
 * ever append fields. Any hook may be NULL, with the behaviour described
 * at each field.
 *
 * All hooks are called on the thread that called into libvdev (the device
 * thread), never from a library-owned thread.
 */
struct vdev_host_ops {
	size_t struct_size;

	/** Passed back as the first argument of every hook. */
	void *opaque;

	/**
	 * Receive one log line (no trailing newline). NULL: lines at
	 * VDEV_LOG_WARN and above go to stderr.
	 */
	void (*log)(void *opaque, enum vdev_log_level level, const char *msg);

	/**
	 * Current time in nanoseconds on a monotonic clock of the VMM's
	 * choosing (a paused VM may stop it). NULL: CLOCK_MONOTONIC.
	 */
	uint64_t (*clock_ns)(void *opaque);

	/**
	 * Drive a level-triggered INTx line. @p source_id identifies the
	 * device function (the VMM chooses it when creating the device, e.g.
	 * its PCI devfn); @p pin is 1..4 for INTA#..INTD#; @p level is 1 to
	 * assert, 0 to deassert. The library calls this only on changes of
	 * the level it has computed for that (source, pin). NULL: INTx is
	 * dropped and a warning is logged once.
	 */
	void (*intx_set)(void *opaque, uint32_t source_id, unsigned int pin, int level);

	/**
	 * Deliver one message-signalled interrupt: write @p data to @p addr
	 * on behalf of @p source_id. Return 0, or a negative errno if the VMM
	 * could not deliver it (the library logs it). NULL: MSI is dropped
	 * and a warning is logged once.
	 */
	int (*msi_send)(void *opaque, uint32_t source_id, uint64_t addr, uint32_t data);

	/**
	 * The earliest timer deadline may have changed (see vdev/timer.h):
	 * re-read it with vdev_timers_next_deadline(). Optional.
	 */
	void (*timers_changed)(void *opaque);
};

/**
 * Create a library context.
 *
 * @param ops  the host hooks; copied, so the struct itself need not
 *             outlive the call (the opaque pointer it holds must).
 *             NULL means "all hooks NULL".
 * @param out  receives the new context on success.
 * @return 0, -EINVAL (bad struct_size or out NULL), -ENOMEM.
 * Built-in device types are registered in the new context.
 * Thread: any thread; the context then belongs to the caller's thread.
 */
VDEV_API int vdev_ctx_new(const struct vdev_host_ops *ops, vdev_ctx **out);

/**
 * Destroy a context and everything still created from it: devices,
 * timers, the memory map. NULL is a no-op. Thread: the device thread.
 */
VDEV_API void vdev_ctx_free(vdev_ctx *ctx);

/**
 * Only messages at @p level or more severe reach the log hook.
 * Default VDEV_LOG_INFO. Thread: the device thread.
 */
VDEV_API void vdev_ctx_set_log_level(vdev_ctx *ctx, enum vdev_log_level level);

/**
 * Emit a log line through the context's hook, prefixed by nothing.
 * For device models written outside the library. Thread: the device thread.
 */
VDEV_API void vdev_log(vdev_ctx *ctx, enum vdev_log_level level, const char *fmt, ...)
	VDEV_PRINTF(3, 4);

/**
 * The context's current time in nanoseconds (the clock_ns hook).
 * Thread: the device thread.
 */
VDEV_API uint64_t vdev_now_ns(vdev_ctx *ctx);

VDEV_END_DECLS

#endif /* VDEV_HOST_H */
