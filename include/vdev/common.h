/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/common.h
 * Definitions every libvdev header shares: the export macro, C++ linkage
 * guards, the library context handle and the error convention.
 *
 * Error convention: every function that can fail returns 0 (or a
 * non-negative count where documented) on success and a negative errno
 * value on failure. A call that fails never invokes its callback later.
 *
 * Threading: a #vdev_ctx and every object created from it are not
 * thread-safe. Call them from the one thread that owns the context (the
 * "device thread") unless a function's comment says otherwise.
 */
#ifndef VDEV_COMMON_H
#define VDEV_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(VDEV_BUILDING_LIBRARY) && defined(__GNUC__)
#define VDEV_API __attribute__((visibility("default")))
#else
#define VDEV_API
#endif

#ifdef __cplusplus
#define VDEV_BEGIN_DECLS extern "C" {
#define VDEV_END_DECLS }
#else
#define VDEV_BEGIN_DECLS
#define VDEV_END_DECLS
#endif

#if defined(__GNUC__)
#define VDEV_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define VDEV_PRINTF(fmt_idx, arg_idx)
#endif

VDEV_BEGIN_DECLS

/**
 * One library context per virtual machine: it owns the guest-memory map,
 * the timers, the device registry and the host hooks. Many contexts may
 * live in one process; they share nothing.
 */
typedef struct vdev_ctx vdev_ctx;

/**
 * Describe an error code for humans.
 *
 * @param err  a negative errno as returned by a libvdev call (a positive
 *             value is accepted and treated the same).
 * @return a static, NUL-terminated string; never NULL. The caller does not
 *         free it.
 * Thread: any thread.
 */
VDEV_API const char *vdev_strerror(int err);

VDEV_END_DECLS

#endif /* VDEV_COMMON_H */
