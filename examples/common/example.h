/* SPDX-License-Identifier: MIT */
/*
 * What the example daemons share (vdev_example_common). Everything runs
 * on one thread: the libuv loop's.
 *  - control.c: a UNIX stream socket taking one command per line and
 *    answering each with one line; the daemon interprets the commands;
 *  - lun.c: LUN addresses "T.L" and the add/remove/media/list operations;
 *  - uvloop.c: block completions (the blk loop's event fd on a uv_poll),
 *    library timers on a uv_timer, SIGTERM/SIGINT, log lines.
 */
#ifndef VDEV_EXAMPLE_COMMON_H
#define VDEV_EXAMPLE_COMMON_H

#include <stddef.h>
#include <uv.h>

#include <vdev/vdev.h>

/* ---- control.c ---- */

#define EX_LINE_MAX 4096
#define EX_CONTROL_USAGE                                                                   \
	"error: unknown command or wrong arguments (add-lun T.L SPEC, remove-lun T.L, "  \
	"change-media T.L PATH|eject, list)"

struct ex_client;
/* One command line, split at blanks: @cmd and up to two arguments (NULL when absent). */
typedef void (*ex_command_fn)(void *opaque, struct ex_client *c, const char *cmd,
			      const char *a1, const char *a2);

struct ex_control {
	uv_loop_t *loop;
	uv_pipe_t *pipe;             /* the listening socket, NULL when none */
	char *path;
	struct ex_client *clients;   /* connected */
	size_t reply_max;            /* longest reply line */
	ex_command_fn command;
	void *opaque;
};

/* Listen on @path (a stale socket there is replaced). @return 0 or a libuv error. */
int ex_control_start(struct ex_control *ctl, uv_loop_t *loop, const char *path,
		     size_t reply_max, ex_command_fn command, void *opaque);
/* Close the clients and the socket (its path unlinked). A no-op when never started. */
void ex_control_stop(struct ex_control *ctl);
/* Answer @c with one line (a newline is added; cut at the control's reply_max). */
void ex_reply(struct ex_client *c, const char *fmt, ...) VDEV_PRINTF(2, 3);
/* Client mode: send @line to the control socket at @path, print the reply
 * (@prog names errors). @return the exit status: 0 for an "ok" reply. */
int ex_control_send(const char *prog, const char *path, const char *line);

/* ---- lun.c ---- */

/* Parse "T.L" or "L" (target 0). @return 0 or -EINVAL. */
int ex_parse_addr(const char *s, unsigned int *target, unsigned int *lun);
/* Add LUN @addr with spec "[KIND:]PATH[:OPT]..." (vdev_scsi_lun_add_str()). */
int ex_lun_add(vdev_scsi_bus *bus, vdev_blk_loop *bloop, const char *addr, const char *spec);
int ex_lun_remove(vdev_scsi_bus *bus, const char *addr);
/* CD-ROM medium change to file @path, or "eject". */
int ex_lun_media(vdev_ctx *ctx, vdev_scsi_bus *bus, vdev_blk_loop *bloop, const char *addr,
		 const char *path);
/* "T.L T.L ..." of every LUN into @buf. @return the count. */
unsigned int ex_lun_list(vdev_scsi_bus *bus, char *buf, size_t cap);

/* ---- uvloop.c ---- */

struct ex_loop {
	uv_loop_t *loop;
	vdev_ctx *ctx;
	vdev_blk_loop *bloop;
	uv_poll_t blk_poll;
	uv_timer_t timer;
	uv_signal_t sigterm, sigint;
	int stopping;                /* no more timers */
	void (*on_signal)(void *opaque, const char *why);
	void *opaque;
};

/* A library log line on stderr with a timestamp, if @verbose lets @level through. */
void ex_log_line(const char *prog, int verbose, enum vdev_log_level level, const char *msg);
/* Arm the uv timer for the library's earliest deadline (stopped while stopping). */
void ex_timers_sync(struct ex_loop *e);
/* Poll @bloop's event fd on @loop (completions, then library timers); init the timer. */
int ex_blk_start(struct ex_loop *e, uv_loop_t *loop, vdev_ctx *ctx, vdev_blk_loop *bloop);
void ex_blk_stop(struct ex_loop *e);
/* SIGTERM and SIGINT call @cb(@opaque, "SIGTERM" or "SIGINT"). */
void ex_signals_start(struct ex_loop *e, void (*cb)(void *opaque, const char *why),
		      void *opaque);
void ex_signals_close(struct ex_loop *e);

#endif /* VDEV_EXAMPLE_COMMON_H */
