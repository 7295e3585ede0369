/* SPDX-License-Identifier: MIT */
/* Device registry internals shared by registry.c and kv.c. */
#ifndef VDEV_CORE_REGISTRY_H
#define VDEV_CORE_REGISTRY_H

#include "core.h"

#define VDEV__NAME_MAX 63

/*
 * Create a device from a fully prepared options buffer (struct_size set,
 * defaults applied). Used by vdev_device_create() and the kv parser.
 */
int vdev__device_create_prepared(vdev_ctx *ctx, const struct vdev_device_type *type,
				 void *opts, const char *id, vdev_device **out);

/* Allocate a type's options buffer filled with its defaults (free() it). */
int vdev__device_opts_defaults(const struct vdev_device_type *type, void **out, size_t *size);

/* Parse one "key=value" value for an option into opts. Logs nothing. */
int vdev__opt_parse(const struct vdev_device_opt *opt, const char *value, void *opts);

#endif
