/* SPDX-License-Identifier: MIT */
/*
 * vdev-vhost-user-scsi: shared state of the daemon's parts.
 *  - main.c: options, the device, the vhost-user server, signals;
 *  - backend.c: the block loop, LUN add/remove/media with log lines and
 *    the files to fsync at shutdown;
 *  - control.c: the control socket's commands;
 *  - inject.c: --inject-error;
 *  - ../common: the control socket's line server, LUN operations,
 *    completions and timers on the loop, signals (vdev_example_common).
 * Everything runs on one thread: the libuv loop's.
 */
#ifndef VDEV_VHOST_USER_SCSI_DAEMON_H
#define VDEV_VHOST_USER_SCSI_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <vdev/vdev.h>
#include <vdev/vhost_user.h>

#include "example.h"

#define D_MAX_FILES 4096
#define D_MAX_INJECT 16

/* One --inject-error T.L:LBA:COUNT (inject.c). */
struct d_inject {
	unsigned int target, lun;
	uint64_t lba, count;    /* in the LUN's logical blocks */
	int used;               /* a LUN took it */
};

struct daemon {
	uv_loop_t *loop;
	vdev_ctx *ctx;
	int verbose;
	vdev_device *dev;
	vdev_virtio *vd;
	vdev_scsi_bus *bus;
	vdev_blk_loop *bloop;
	vdev_vhost_user *vu;
	struct ex_loop ev;      /* completions, timers, signals */
	struct ex_control control;
	/* Files written through (disks): fsync'ed at shutdown. */
	char *files[D_MAX_FILES];
	size_t nfiles;
	struct d_inject inject[D_MAX_INJECT];
	size_t ninject;
};

/* backend.c */
int d_backend_start(struct daemon *d);
void d_backend_stop(struct daemon *d);
/*
 * Add a LUN "T.L" (or "L") with spec "[KIND:]PATH[:OPT]...".
 * @return 0 or a negative errno.
 */
int d_lun_add(struct daemon *d, const char *addr, const char *spec);
int d_lun_remove(struct daemon *d, const char *addr);
int d_lun_media(struct daemon *d, const char *addr, const char *path);
/* Fsync the PATH of disk spec "[disk:]PATH[:OPT]..." at shutdown (written through). */
void d_remember_spec(struct daemon *d, const char *spec);

/* inject.c */
/* Record one --inject-error value "T.L:LBA:COUNT". @return 0 or -EINVAL. */
int d_inject_parse(struct daemon *d, const char *s);
/* 1 if an --inject-error names LUN @addr ("T.L" or "L"). */
int d_inject_wanted(const struct daemon *d, const char *addr);
/* d_lun_add() for a disk LUN with --inject-error ranges on its backend. */
int d_lun_add_faulty(struct daemon *d, const char *addr, const char *spec);

/* control.c */
int d_control_start(struct daemon *d, const char *path);

#endif
