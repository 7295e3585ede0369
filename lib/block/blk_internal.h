/* SPDX-License-Identifier: MIT */
/*
 * lib/block internals: the backend object, the per-request slots, and the
 * interfaces between the common layer (blk.c: validation, slots, plug list,
 * completion delivery), the drivers (memory, null, file) and the engines
 * (inline, io_uring, thread pool). Not installed.
 *
 * Life of a request: vdev_blk_submit() validates it, takes a free slot
 * (req->internal[0] points at it) and either parks it on the plug list or
 * hands it to the engine (queue + kick). The engine finishes it on the host
 * and the slot lands on the done list (the backend joins its loop's ready
 * list), from which vdev_blk_loop_poll() runs the callback on the loop's
 * thread, after freeing the slot (so a callback may resubmit its own
 * request). Every backend has a loop (blk_loop.c): a private one unless
 * opened on a shared one.
 */
#ifndef VDEV_BLOCK_BLK_INTERNAL_H
#define VDEV_BLOCK_BLK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <vdev/block.h>

#include "core/core.h"

#define BLK_DEFAULT_QD 128u
#define BLK_MAX_QD 4096u
#define BLK_DEFAULT_THREADS 4u
#define BLK_MAX_THREADS 64u

/* Where a slot is. Owned by the backend's thread. */
enum blk_where {
	BLK_FREE = 0,
	BLK_PLUGGED,    /* on the plug list; the engine has not seen it */
	BLK_ENGINE,     /* handed to the engine */
	BLK_DONE,       /* result known; on the done list, callback not run yet */
};

/* One request in flight. An array of queue_depth of them per backend. */
struct blk_slot {
	struct vdev_blk_req *req;
	vdev_blk *owner;        /* set at open; engines shared by a loop find the backend here */
	/*
	 * Free, plug and done lists (backend thread), or the thread pool's
	 * queues (under the pool lock): a slot is on one list at a time.
	 */
	struct blk_slot *next;
	int64_t result;
	/* READ/WRITE progress on the io_uring engine (short transfers). */
	uint64_t done;          /* bytes transferred so far */
	uint64_t total;         /* bytes to transfer */
	unsigned int idx;       /* cursor: iov[idx], byte off within it */
	size_t off;
	struct iovec tail;      /* the rest of iov[idx] when off != 0 */
	uint8_t where;          /* enum blk_where */
	uint8_t pstate;         /* enum blk_pstate; under the pool lock */
	uint8_t cancel;         /* io_uring: a cancel was sent */
	uint8_t helper;         /* io_uring: runs on the helper thread */
	uint8_t retries;        /* io_uring: -EAGAIN/-EINTR resubmissions */
	uint8_t gen;            /* bumped per request: tells a reused slot apart */
};

struct blk_engine_ops {
	const char *name;
	/* Someone other than the backend's thread writes the event fd. */
	bool external_signal;
	/*
	 * Hand @s (where == BLK_ENGINE) to the host; it may sit until kick().
	 * @return 0, or a negative errno and nothing happened.
	 */
	int (*queue)(vdev_blk *b, struct blk_slot *s);
	/* Start everything queued since the last kick. */
	void (*kick)(vdev_blk *b);
	/* Best-effort cancel of a queued slot; see vdev_blk_cancel(). */
	void (*cancel)(vdev_blk *b, struct blk_slot *s);
	/* Loop thread: move finished host requests to their backends' done lists. */
	void (*reap)(vdev_blk_loop *l);
	/* Release the loop's engine; nothing is in flight any more. */
	void (*fini)(vdev_blk_loop *l);
};

/*
 * A completion channel: one event fd, and for file backends one engine (a
 * ring or a pool), shared by every backend attached to it. A backend
 * opened without opts->loop owns a private one (owned). Loop thread only,
 * except what the engines' threads write (the event fd, the pool lists).
 */
struct vdev_blk_loop {
	vdev_ctx *ctx;
	int efd;
	bool efd_set;           /* we wrote efd and no reap has read it since */
	bool owned;             /* a backend's private channel, freed with it */
	enum vdev_blk_engine engine;            /* file backends' engine */
	const struct blk_engine_ops *eng;       /* NULL: inline backends only */
	void *eng_priv;         /* struct blk_uring or struct blk_pool */
	uint32_t qd;            /* engine requests in flight, all backends together */
	unsigned int eng_inflight;
	unsigned int inflight;  /* every backend's requests */
	unsigned int nbackends;
	unsigned int in_poll;   /* delivering completions (callbacks may poll or close) */
	vdev_blk *ready_head, **ready_tail;     /* backends with a non-empty done list */
	vdev_blk *closing;      /* closed from a callback: finished when delivery ends */
	vdev_blk *all;          /* every attached backend (doubly linked) */
	/*
	 * "sg" backends' thread pool (SG_IO blocks a worker per command),
	 * made when the first one joins, whatever the loop's own engine;
	 * reaped with it, freed with the loop.
	 */
	struct blk_pool *sg_pool;
};

/* An injected error range (vdev_blk_inject_error(), blk_fault.c). */
struct blk_fault {
	uint64_t start, end;    /* [start, end), end > start */
	uint32_t ops;           /* VDEV_BLK_OP_BIT() mask */
	int err;
	uint64_t hits;          /* requests failed by it (the first one is logged) */
};

/* Test-only fault switches for the file driver (struct blk_file.quirks). */
#define BLK_QUIRK_NO_FALLOCATE (1u << 0)  /* fallocate() fails with EOPNOTSUPP */

/*
 * The file driver's host state. Written at open only, then read by the
 * engines' threads too (never changes while requests run).
 */
struct blk_file {
	int fd;
	bool is_bdev;
	uint32_t lbs;           /* logical block size (512 for regular files) */
	const void *zeroes;     /* read-only zero pages for writing zeroes */
	size_t zeroes_len;
	unsigned int quirks;    /* BLK_QUIRK_* (tests) */
	size_t short_io;        /* tests: move at most this many bytes per host call */
};

struct vdev_blk {
	vdev_ctx *ctx;
	const struct blk_engine_ops *eng;
	enum vdev_blk_engine engine;
	vdev_blk_loop *loop;    /* never NULL once open */
	bool own_loop;          /* loop is private: freed with the backend */
	bool ready;             /* on loop->ready_head's list */
	vdev_blk *rnext;        /* loop's ready list */
	vdev_blk *cnext;        /* loop's closing list */
	vdev_blk *anext, **aprev; /* loop's list of all backends */
	bool readonly;
	bool direct;
	bool closing;
	unsigned int plug_depth;
	uint64_t size;
	uint32_t align;         /* power of two */
	uint32_t qd;
	unsigned int inflight;
	struct blk_slot *slots;
	struct blk_slot *free;
	struct blk_slot *plug_head, **plug_tail;
	struct blk_slot *done_head, **done_tail;

	/* Driver: run a request at once (inline engine), size, release. */
	int64_t (*exec)(vdev_blk *b, const struct vdev_blk_req *req);
	int (*refresh)(vdev_blk *b, uint64_t *size);
	void (*drv_close)(vdev_blk *b);
	uint8_t *mem;           /* memory driver */
	struct blk_file file;   /* file driver */
	struct blk_sg *sg;      /* sg driver (NULL for the others) */
	struct blk_fault faults[VDEV_BLK_INJECT_MAX]; /* in the order they were set */
	unsigned int nfaults;
};

/* blk.c: completion plumbing for the engines (backend thread only). */
/* Put @s on the done list without touching the event fd (inside poll). */
void vdev__blk_done_push(vdev_blk *b, struct blk_slot *s, int64_t result);
/* Put @s on the done list and make the event fd readable. */
void vdev__blk_complete(vdev_blk *b, struct blk_slot *s, int64_t result);
/* Run @b's done list now; @return how many ran. */
int vdev__blk_run_done(vdev_blk *b);
/* Start every plugged request of @b. */
void vdev__blk_flush_plug(vdev_blk *b);
/* Finish a close that a callback asked for (frees @b). */
void vdev__blk_finish_close(vdev_blk *b);

/* blk_loop.c: the loop's side. */
int vdev__blk_loop_create(vdev_ctx *ctx, uint32_t engine, uint32_t qd, uint32_t threads,
			  const char *name, bool owned, vdev_blk_loop **out);
void vdev__blk_loop_destroy(vdev_blk_loop *l);
void vdev__blk_loop_signal(vdev_blk_loop *l);
/* Read the event fd and move the engine's finished requests to done lists. */
void vdev__blk_loop_reap(vdev_blk_loop *l);
/* Sleep until the event fd is readable or @timeout_ms passes. */
int vdev__blk_loop_sleep(vdev_blk_loop *l, int timeout_ms);
/* End of a delivery: the outermost one finishes closes callbacks asked for. */
void vdev__blk_loop_leave(vdev_blk_loop *l);
void vdev__blk_loop_attach(vdev_blk_loop *l, vdev_blk *b);
void vdev__blk_loop_detach(vdev_blk_loop *l, vdev_blk *b);

/* blk_validate.c: the submit-time checks; 0 or a negative errno. */
int vdev__blk_validate(const vdev_blk *b, const struct vdev_blk_req *req, uint64_t *len);
struct vdev__blk_scsi_cmd;
/* The same for a pass-through command on an "sg" backend (blk_sg.c). */
int vdev__blk_validate_scsi(const vdev_blk *b, const struct vdev_blk_req *req,
			    const struct vdev__blk_scsi_cmd *cmd, uint64_t *len);

/*
 * blk_fault.c: the error a validated request (@len bytes, from
 * vdev__blk_validate()) gets from an injected range, or 0 if none.
 */
int vdev__blk_fault_match(vdev_blk *b, const struct vdev_blk_req *req, uint64_t len);

/* Advance an iovec cursor (idx, off) by n bytes, skipping empty entries. */
void vdev__blk_iov_advance(const struct iovec *iov, unsigned int cnt, unsigned int *idx,
			   size_t *off, uint64_t n);

/* Drivers. @o is the full-size copy of the caller's options. */
int vdev__blk_memory_open(vdev_blk *b, const struct vdev_blk_opts *o);
int vdev__blk_null_open(vdev_blk *b, const struct vdev_blk_opts *o);
int vdev__blk_file_open(vdev_blk *b, const struct vdev_blk_opts *o);

/* blk_inline.c: requests run inside queue(), delivered at poll. */
extern const struct blk_engine_ops vdev__blk_inline_ops;

/* blk_file_io.c: run one file request synchronously (worker threads). */
int64_t vdev__blk_file_exec(const struct blk_file *f, const struct vdev_blk_req *req);

/* blk_uring.c: set up the loop's io_uring engine; on failure @why says why. */
int vdev__blk_uring_start(vdev_blk_loop *l, char *why, size_t why_len);

/* blk_threads.c: the thread-pool engine, and the pool it runs on. */
int vdev__blk_threads_start(vdev_blk_loop *l, unsigned int nthreads);

enum blk_pstate {
	BLK_P_QUEUED = 1,   /* waiting for a worker */
	BLK_P_RUNNING,
	BLK_P_FINISHED,     /* result in slot->result, on the completion list */
};

struct blk_pool;
/*
 * A fixed set of workers running vdev__blk_file_exec() on each slot's
 * owner's file and writing @efd when completions wait. @return NULL with
 * *err set on failure.
 */
struct blk_pool *vdev__blk_pool_new(int efd, unsigned int nthreads, int *err);
/* Backend thread: queue @s (started at the next kick). */
void vdev__blk_pool_queue(struct blk_pool *p, struct blk_slot *s);
void vdev__blk_pool_kick(struct blk_pool *p);
/* Backend thread: true if @s had not started and is now withdrawn. */
bool vdev__blk_pool_cancel(struct blk_pool *p, struct blk_slot *s);
/* Loop thread: move finished slots to their owners' done lists. */
void vdev__blk_pool_reap(struct blk_pool *p);
/* Test hook: while paused, workers start nothing new. */
void vdev__blk_pool_pause(struct blk_pool *p, bool paused);
/* Stop and join the workers (nothing may be queued). NULL is a no-op. */
void vdev__blk_pool_free(struct blk_pool *p);
/* The thread-pool engine's pool (tests). */
struct blk_pool *vdev__blk_threads_pool(vdev_blk *b);

/* ---- SCSI pass-through: the "sg" driver (blk_sg.c, blk_sg_io.c) ---- */

/*
 * The internal op an "sg" backend carries (the only one): a SCSI command
 * run with the SG_IO ioctl. Never accepted by vdev_blk_submit(); the SCSI
 * layer submits it with vdev__blk_scsi_submit().
 */
#define VDEV__BLK_OP_SCSI 0x80u

enum vdev__blk_scsi_dir {
	VDEV__BLK_SCSI_NONE = 0,
	VDEV__BLK_SCSI_TO_DEV,         /* data-out: req->iov holds it */
	VDEV__BLK_SCSI_FROM_DEV,       /* data-in: into req->iov */
};

/* SG_IO's sense buffer length is one byte (sg_io_hdr.mx_sb_len). */
#define VDEV__BLK_SCSI_SENSE_MAX 252u
#define VDEV__BLK_SCSI_CDB_MAX 32u

/*
 * One pass-through command, kept unchanged by the caller until the
 * request's completion ran. Its results are valid when the request
 * completed with 0 (the host ran it, whatever the SCSI outcome); a
 * negative result means SG_IO itself failed (-ECANCELED: withdrawn
 * before it reached the host; -ENOMEM, -EINVAL, -ENODEV... from the
 * ioctl) and the fields below it are 0.
 */
struct vdev__blk_scsi_cmd {
	/* in */
	uint8_t cdb[VDEV__BLK_SCSI_CDB_MAX];
	uint8_t cdb_len;               /* 6..32 */
	uint8_t dir;                   /* enum vdev__blk_scsi_dir */
	uint8_t sense_cap;             /* room at @sense (<= VDEV__BLK_SCSI_SENSE_MAX) */
	uint8_t *sense;                /* sense data from the device, byte for byte */
	uint32_t timeout_ms;           /* sg_io_hdr.timeout (0: the kernel's default) */
	/* out */
	uint8_t status;                /* SAM status byte */
	uint8_t sense_len;             /* sense bytes written (sb_len_wr) */
	uint16_t host_status;          /* DID_* */
	uint16_t driver_status;        /* DRIVER_* (| SUGGEST_*) */
	int32_t resid;                 /* data bytes not transferred */
	uint32_t duration_ms;
};

/* Host status values (SG_IO host_status, linux/scsi DID_*). */
#define VDEV__DID_OK 0x00
#define VDEV__DID_NO_CONNECT 0x01
#define VDEV__DID_BUS_BUSY 0x02
#define VDEV__DID_TIME_OUT 0x03
#define VDEV__DID_BAD_TARGET 0x04
#define VDEV__DID_ABORT 0x05
#define VDEV__DID_ERROR 0x07
#define VDEV__DID_RESET 0x08
#define VDEV__DID_SOFT_ERROR 0x0b
#define VDEV__DID_IMM_RETRY 0x0c
#define VDEV__DID_REQUEUE 0x0d
/* Driver status (low nibble of SG_IO driver_status). */
#define VDEV__DRIVER_MASK 0x0f
#define VDEV__DRIVER_BUSY 0x01
#define VDEV__DRIVER_SOFT 0x02
#define VDEV__DRIVER_TIMEOUT 0x06
#define VDEV__DRIVER_SENSE 0x08

/*
 * Submit @cmd on the "sg" backend @b: @req carries done/user and the data
 * buffers (iov/iovcnt: empty for VDEV__BLK_SCSI_NONE); its op is set here.
 * Same contract as vdev_blk_submit(): 0 and the completion runs from the
 * loop's poll, or a negative errno (-EINVAL: not an "sg" backend or a
 * malformed command; -EAGAIN: queue full; -ESHUTDOWN) and it never runs.
 * Cancel with vdev_blk_cancel(): a command still queued completes with
 * -ECANCELED; one already in SG_IO cannot be interrupted and completes
 * when the host returns it.
 */
int vdev__blk_scsi_submit(vdev_blk *b, struct vdev_blk_req *req, struct vdev__blk_scsi_cmd *cmd);

/* Test hooks for the "sg" driver (see vdev__blk_open_hooked()). */
struct vdev__blk_sg_hooks {
	int (*ioctl)(void *opaque, int fd, unsigned long request, void *arg);
	void *opaque;
};

/* The sg driver's host state: written at open, then only read (workers too). */
struct blk_sg {
	int fd;
	bool is_bdev;
	bool hooked;
	uint32_t lbs;                  /* 0: unknown (READ CAPACITY failed at open) */
	uint64_t max_xfer;             /* bytes; 0: unknown */
	unsigned int max_iov;          /* more data segments than this are bounced */
	struct vdev__blk_sg_hooks hooks;
};

/* ioctl() on the device, or the test hook: 0 or a negative errno. */
int vdev__blk_sg_ioctl(const struct blk_sg *sg, unsigned long request, void *arg);

/* What the SCSI layer needs to know about the host device. */
struct vdev__blk_sg_info {
	bool is_bdev;                  /* a block device node (else a SCSI generic node) */
	uint32_t lbs;                  /* logical block size in bytes; 0: unknown */
	uint64_t max_xfer;             /* most bytes per command the host queue takes; 0: unknown */
};

/* @return 0 with *@out filled, or -EINVAL if @b is not an "sg" backend. */
int vdev__blk_sg_info(const vdev_blk *b, struct vdev__blk_sg_info *out);

/*
 * vdev_blk_open() with test hooks (struct vdev__blk_sg_hooks above) for
 * an "sg" backend, NULL for the real ioctl: every ioctl the driver makes
 * on the device (at open and from the workers) goes to hooks->ioctl, which returns 0 or a negative errno. It runs on worker
 * threads, concurrently: it must be thread-safe. With hooks, sysfs is not
 * consulted. The path is still opened (any character device will do).
 */
int vdev__blk_open_hooked(vdev_ctx *ctx, const struct vdev_blk_opts *opts,
			  const struct vdev__blk_sg_hooks *hooks, vdev_blk **out);

/* The driver. */
int vdev__blk_sg_open(vdev_blk *b, const struct vdev_blk_opts *o,
		      const struct vdev__blk_sg_hooks *hooks);
/* The engine "sg" backends use: the loop's sg_pool. */
extern const struct blk_engine_ops vdev__blk_sg_ops;
/* Make the loop's sg pool if it has none. 0 or a negative errno. */
int vdev__blk_loop_sg_pool(vdev_blk_loop *l, unsigned int nthreads);
/* Worker thread: run one SG_IO request; 0 or a negative errno. */
int64_t vdev__blk_sg_exec(const vdev_blk *b, const struct vdev_blk_req *req);

/* io_uring statistics for tests: io_uring_submit() calls made. */
unsigned long vdev__blk_uring_submit_calls(const vdev_blk *b);
/* The io_uring engine's helper pool, NULL until first used (tests). */
struct blk_pool *vdev__blk_uring_helper(vdev_blk *b);

#endif /* VDEV_BLOCK_BLK_INTERNAL_H */
