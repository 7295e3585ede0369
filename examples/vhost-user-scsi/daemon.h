/* SPDX-License-Identifier: MIT */
/*
 * vdev-vhost-user-scsi: shared state of the daemon's parts.
 *  - main.c: options, the device, the vhost-user server, signals;
 *  - backend.c: block completions (the blk loop's event fd on uv_poll),
 *    library timers on a uv_timer, LUN add/remove/media helpers;
 *  - control.c: the control socket (one command per line, one reply line).
 * Everything runs on one thread: the libuv loop's.
 */
#ifndef VDEV_VHOST_USER_SCSI_DAEMON_H
#define VDEV_VHOST_USER_SCSI_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <vdev/vdev.h>
#include <vdev/vhost_user.h>

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
	uv_poll_t blk_poll;
	uv_timer_t timer;
	uv_signal_t sigterm, sigint;
	uv_pipe_t *control;
	char *control_path;
	void *clients;          /* control.c's connected clients */
	/* Files written through (disks): fsync'ed at shutdown. */
	char *files[D_MAX_FILES];
	size_t nfiles;
	struct d_inject inject[D_MAX_INJECT];
	size_t ninject;
	int stopping;
};

/* backend.c */
int d_backend_start(struct daemon *d);
void d_backend_stop(struct daemon *d);
/* Re-arm the uv timer for the library's earliest deadline. */
void d_timers_sync(struct daemon *d);
/*
 * Add a LUN "T.L" (or "L") with spec "[KIND:]PATH[:OPT]...".
 * @return 0 or a negative errno; *why gets a short reason on failure.
 */
int d_lun_add(struct daemon *d, const char *addr, const char *spec);
int d_lun_remove(struct daemon *d, const char *addr);
int d_lun_media(struct daemon *d, const char *addr, const char *path);
/* "T.L T.L ..." of every LUN into @buf. @return the count. */
unsigned int d_lun_list(struct daemon *d, char *buf, size_t cap);
/* Parse "T.L" or "L". @return 0 or -EINVAL. */
int d_parse_addr(const char *s, unsigned int *target, unsigned int *lun);
/* Fsync @path at shutdown (a disk written through). */
void d_remember_file(struct daemon *d, const char *path);

/* inject.c */
/* Record one --inject-error value "T.L:LBA:COUNT". @return 0 or -EINVAL. */
int d_inject_parse(struct daemon *d, const char *s);
/* 1 if an --inject-error names LUN @addr ("T.L" or "L"). */
int d_inject_wanted(const struct daemon *d, const char *addr);
/* d_lun_add() for a disk LUN with --inject-error ranges on its backend. */
int d_lun_add_faulty(struct daemon *d, const char *addr, const char *spec);

/* control.c */
int d_control_start(struct daemon *d, const char *path);
void d_control_stop(struct daemon *d);

#endif
