/* SPDX-License-Identifier: MIT */
/*
 * vdev-vfio-user internals shared by main.c (the loop, the device, the
 * server) and control.c (the control socket and its client).
 */
#ifndef VDEV_VFIO_USER_DAEMON_H
#define VDEV_VFIO_USER_DAEMON_H

#include <uv.h>

#include <vdev/vdev.h>

struct daemon {
	vdev_ctx *ctx;
	vdev_device *dev;
	vdev_scsi_bus *bus;          /* NULL: the device has no SCSI bus */
	vdev_blk_loop *bloop;
	vdev_vfio_user *vs;
	uv_loop_t *loop;
	uv_poll_t blk_poll;
	uv_timer_t timer;
	uv_signal_t sigterm, sigint;
	uv_pipe_t *control;          /* the control socket, NULL when none */
	char *control_path;
	void *clients;               /* control.c's connected clients */
	int verbose;
	int stopping;
};

/* Listen for control commands on @path (a stale socket there is replaced). */
int d_control_start(struct daemon *d, const char *path);
void d_control_stop(struct daemon *d);
/* Client mode: send @line to the control socket at @path, print the reply.
 * @return the process exit status: 0 for an "ok" reply. */
int d_control_send(const char *path, const char *line);

#endif /* VDEV_VFIO_USER_DAEMON_H */
