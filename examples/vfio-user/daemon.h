/* SPDX-License-Identifier: MIT */
/*
 * vdev-vfio-user internals shared by main.c (the loop, the device, the
 * server) and control.c (the control socket's commands).
 */
#ifndef VDEV_VFIO_USER_DAEMON_H
#define VDEV_VFIO_USER_DAEMON_H

#include <uv.h>

#include <vdev/vdev.h>

#include "example.h"

struct daemon {
	vdev_ctx *ctx;
	vdev_device *dev;
	vdev_scsi_bus *bus;          /* NULL: the device has no SCSI bus */
	vdev_blk_loop *bloop;
	vdev_vfio_user *vs;
	uv_loop_t *loop;
	struct ex_loop ev;           /* completions, timers, signals */
	struct ex_control control;   /* the control socket, when asked for */
	int verbose;
};

/* Listen for control commands on @path (a stale socket there is replaced). */
int d_control_start(struct daemon *d, const char *path);

#endif /* VDEV_VFIO_USER_DAEMON_H */
