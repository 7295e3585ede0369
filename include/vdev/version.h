/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/version.h
 * Compile-time and run-time library version.
 *
 * The SONAME is libvdev.so.VDEV_VERSION_MAJOR. Within one major version
 * the ABI only grows: functions are added, option structs gain fields at
 * their end (see the struct_size convention), nothing is removed.
 */
#ifndef VDEV_VERSION_H
#define VDEV_VERSION_H

#include <vdev/common.h>

#define VDEV_VERSION_MAJOR 0
#define VDEV_VERSION_MINOR 1
#define VDEV_VERSION_PATCH 0

/** The version as one comparable number: 0xMMmmpp. */
#define VDEV_VERSION_HEX \
	((VDEV_VERSION_MAJOR << 16) | (VDEV_VERSION_MINOR << 8) | VDEV_VERSION_PATCH)

VDEV_BEGIN_DECLS

/**
 * The version of the library actually loaded, as VDEV_VERSION_HEX would
 * spell it. Compare with VDEV_VERSION_HEX to detect a header/library skew.
 * Thread: any thread.
 */
VDEV_API unsigned int vdev_version(void);

/**
 * The loaded library's version as a static string, e.g. "0.1.0".
 * Thread: any thread. The caller does not free it.
 */
VDEV_API const char *vdev_version_string(void);

VDEV_END_DECLS

#endif /* VDEV_VERSION_H */
