/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/block.h
 * Asynchronous block backends: what SCSI disks, CD-ROMs and other storage
 * devices read and write through.
 *
 * Drivers: "memory" (a RAM disk), "null" (reads zeroes, discards writes;
 * for benchmarks), "file" (a regular file or block device, over io_uring
 * with liburing; buffered or O_DIRECT), with a thread-pool engine used
 * automatically where io_uring is unavailable (vdev_blk_engine() says
 * which one runs), and "sg": a host SCSI device (a SCSI generic node
 * /dev/sgN, or a SCSI block device /dev/sdX) driven with the SG_IO ioctl,
 * for pass-through SCSI LUNs only (vdev/scsi.h, VDEV_SCSI_LUN_PASSTHROUGH):
 * it carries no READ/WRITE/FLUSH/DISCARD requests (vdev_blk_submit()
 * refuses them with -EOPNOTSUPP). Opening it checks the node takes SG_IO
 * (else -ENOTTY); vdev_blk_size() is the device's capacity, 0 if it has
 * none (no medium). SG_IO blocks a thread per command: "sg" backends run
 * on a thread pool of their loop's (made by the first one to join, of
 * opts.threads workers, 0: 4), whatever engine the loop's files use, and
 * vdev_blk_engine() says THREADS. A command that reached the device cannot
 * be cancelled: it completes when the device (or the host's timeout)
 * ends it.
 *
 * Completions never run inside vdev_blk_submit(): they are delivered on
 * the thread that calls vdev_blk_poll() — the thread the VMM designates.
 * The VMM polls vdev_blk_event_fd() (readable when completions wait) and
 * calls vdev_blk_poll() then. A request's result is reported only after
 * the host accepted it (a write is "done" when the host write returned;
 * FUA or a FLUSH makes it durable).
 *
 * Many backends can share one completion loop (vdev_blk_loop_new(),
 * vdev_blk_opts.loop): one event fd and one engine for all of them, so a
 * bus of thousands of LUNs costs a constant number of file descriptors
 * (plus each file backend's open file).
 *
 * Threading: a backend belongs to one thread (submit, poll, cancel,
 * close); backends on a loop all belong to the loop's thread.
 * Backend-internal threads never call back into the caller.
 */
#ifndef VDEV_BLOCK_H
#define VDEV_BLOCK_H

#include <sys/uio.h>
#include <vdev/common.h>

VDEV_BEGIN_DECLS

/** An open block backend. */
typedef struct vdev_blk vdev_blk;

/**
 * A completion loop: one completion channel (one event fd, and for file
 * backends one io_uring or one thread pool) shared by many backends, all
 * served by one thread — so thousands of LUNs cost a constant number of
 * file descriptors. A backend opened without one gets a private loop.
 */
typedef struct vdev_blk_loop vdev_blk_loop;

/** Request operations. */
enum vdev_blk_op {
	VDEV_BLK_READ = 1,
	VDEV_BLK_WRITE = 2,
	VDEV_BLK_FLUSH = 3,        /**< make every completed write durable */
	VDEV_BLK_DISCARD = 4,      /**< deallocate [offset, offset+len); may read back as zeroes */
	VDEV_BLK_WRITE_ZEROES = 5, /**< [offset, offset+len) reads back as zeroes */
};

/** Request flag: this write is durable when it completes (Force Unit Access). */
#define VDEV_BLK_F_FUA (1u << 0)
/** Request flag (WRITE_ZEROES): the range may also be deallocated. */
#define VDEV_BLK_F_UNMAP (1u << 1)

struct vdev_blk_req;

/**
 * Completion: @p result is the number of bytes transferred (READ/WRITE;
 * always the full length on success — a short transfer is retried
 * internally or reported as -EIO), 0 (other ops), or a negative errno:
 * -EIO, -ENOSPC (host out of space), -EROFS, -ECANCELED (cancelled),
 * -EINVAL (misaligned for O_DIRECT), ... Runs on the polling thread.
 */
typedef void (*vdev_blk_done_cb)(struct vdev_blk_req *req, int64_t result);

/**
 * One request, owned by the caller, which keeps it (and the iovecs and
 * the memory they point to) unchanged until its completion ran.
 */
struct vdev_blk_req {
	uint32_t op;               /**< enum vdev_blk_op */
	uint32_t flags;            /**< VDEV_BLK_F_* */
	uint64_t offset;           /**< byte offset */
	const struct iovec *iov;   /**< READ/WRITE buffers */
	unsigned int iovcnt;
	uint32_t reserved0;
	uint64_t len;              /**< DISCARD/WRITE_ZEROES length in bytes */
	vdev_blk_done_cb done;
	void *user;                /**< for the caller */
	uint64_t internal[4];      /**< the backend's; do not touch */
};

/** Engines. */
enum vdev_blk_engine {
	VDEV_BLK_ENGINE_AUTO = 0,     /**< io_uring if it works here, else threads */
	VDEV_BLK_ENGINE_IO_URING = 1,
	VDEV_BLK_ENGINE_THREADS = 2,
	VDEV_BLK_ENGINE_INLINE = 3,   /**< memory/null: done in submit, delivered at poll */
};

/** Options for vdev_blk_open(). Begins with struct_size. */
struct vdev_blk_opts {
	size_t struct_size;
	const char *driver;    /**< "file", "memory", "null" or "sg" */
	const char *path;      /**< file, sg: the path */
	uint64_t size;         /**< memory/null: size in bytes (multiple of 512) */
	int readonly;          /**< open read-only; writes fail with -EROFS */
	int direct;            /**< file: O_DIRECT (buffers/offsets aligned to the block size) */
	uint32_t engine;       /**< enum vdev_blk_engine (sg: AUTO or THREADS) */
	uint32_t queue_depth;  /**< most requests in flight (0: 128) */
	uint32_t threads;      /**< thread-pool engine: worker count (0: 4) */
	uint32_t reserved;
	/**
	 * NULL: the backend has its own event fd (and ring or pool). Else the
	 * loop it joins: it opens no fd, ring or pool of its own; a file
	 * backend uses the loop's engine (@c engine must be AUTO or that
	 * engine, else -ENOTSUP; @c threads is ignored) and the loop's
	 * queue_depth also caps its requests in flight together with the
	 * loop's other file backends. vdev_blk_event_fd(), vdev_blk_poll()
	 * and vdev_blk_wait() on it act on the loop (they run the completions
	 * of all its backends). The loop must outlive the backend.
	 */
	vdev_blk_loop *loop;
};

/**
 * Open a backend. @return 0; -EINVAL (bad options); -ENOENT/-EACCES/...
 * from opening the file; -ENOTSUP (requested engine unavailable); -ENOMEM.
 * Thread: the backend's thread.
 */
VDEV_API int vdev_blk_open(vdev_ctx *ctx, const struct vdev_blk_opts *opts, vdev_blk **out);

/**
 * Close a backend: waits for in-flight requests to finish on the host
 * (their completions run, from inside this call, with their results)
 * and releases everything. NULL is a no-op. Thread: the backend's thread.
 */
VDEV_API void vdev_blk_close(vdev_blk *blk);

/**
 * Submit @p req. @return 0 (its completion will run from vdev_blk_poll()),
 * or a negative errno (-EINVAL: bad op, range past the end, misaligned
 * with O_DIRECT; -EROFS; -EAGAIN: queue_depth requests already in flight)
 * — then the completion never runs. Thread: the backend's thread.
 */
VDEV_API int vdev_blk_submit(vdev_blk *blk, struct vdev_blk_req *req);

/**
 * Batch submissions: between plug and unplug, submitted requests are
 * queued and handed to the host together at unplug (one system call for
 * io_uring). Thread: the backend's thread.
 */
VDEV_API void vdev_blk_plug(vdev_blk *blk);
/** End a batch begun with vdev_blk_plug(). */
VDEV_API void vdev_blk_unplug(vdev_blk *blk);

/**
 * Try to cancel an in-flight request. @return 0 if it will complete with
 * -ECANCELED (or already completed on the host: then with its result);
 * -ENOENT if not in flight. The completion still runs exactly once, from
 * vdev_blk_poll(). Thread: the backend's thread.
 */
VDEV_API int vdev_blk_cancel(vdev_blk *blk, struct vdev_blk_req *req);

/**
 * A file descriptor that becomes readable when completions wait; poll it
 * and call vdev_blk_poll(). Owned by the backend. Thread: any.
 */
VDEV_API int vdev_blk_event_fd(vdev_blk *blk);

/**
 * Run the completions that are ready (never blocks).
 * @return the number run. Thread: the backend's thread.
 */
VDEV_API int vdev_blk_poll(vdev_blk *blk);

/**
 * Wait until at least one completion is ready or @p timeout_ms passes
 * (-1: forever), then run the ready ones. For simple callers and tests.
 * @return the number run, or -ETIMEDOUT. Thread: the backend's thread.
 */
VDEV_API int vdev_blk_wait(vdev_blk *blk, int timeout_ms);

/** @return the size in bytes (re-read from the host by vdev_blk_refresh_size()). */
VDEV_API uint64_t vdev_blk_size(const vdev_blk *blk);

/**
 * Re-read the size (the file may have grown, e.g. a capacity change).
 * @return 0 with the new size in *size, or a negative errno.
 */
VDEV_API int vdev_blk_refresh_size(vdev_blk *blk, uint64_t *size);

/** @return the alignment requests must keep (1 buffered; the logical block size with O_DIRECT). */
VDEV_API uint32_t vdev_blk_alignment(const vdev_blk *blk);

/** @return 1 if read-only. */
VDEV_API int vdev_blk_readonly(const vdev_blk *blk);

/** @return the engine actually in use (enum vdev_blk_engine, never AUTO). */
VDEV_API enum vdev_blk_engine vdev_blk_engine(const vdev_blk *blk);

/** @return the number of requests in flight. */
VDEV_API unsigned int vdev_blk_inflight(const vdev_blk *blk);

/** Most error ranges one backend holds at a time (vdev_blk_inject_error()). */
#define VDEV_BLK_INJECT_MAX 8

/** The bit of operation @p op (enum vdev_blk_op) in vdev_blk_inject_error()'s mask. */
#define VDEV_BLK_OP_BIT(op) (1u << (op))

/** READ and WRITE: the usual mask for a failing medium. */
#define VDEV_BLK_OPS_RW (VDEV_BLK_OP_BIT(VDEV_BLK_READ) | VDEV_BLK_OP_BIT(VDEV_BLK_WRITE))

/**
 * Fault injection, for tests and for VMMs that model failing media: from
 * now on, a request whose operation is in @p ops_mask (VDEV_BLK_OP_BIT()
 * of enum vdev_blk_op values) and which touches at least one byte of
 * [@p offset, @p offset + @p len) completes with @p err, without reaching
 * the host (nothing is read or written, not even the part outside the
 * range). FLUSH has no range: with its bit in the mask, every FLUSH fails
 * while the range is set. The request is still checked and queued as
 * usual (vdev_blk_submit() returns its own errors first, e.g. -EINVAL past
 * the end or -EAGAIN with the queue full; then 0), and its completion runs
 * from the next poll like any other; cancelling it changes nothing.
 * Requests already submitted are not affected.
 *
 * Up to VDEV_BLK_INJECT_MAX ranges may be set, and they may overlap: a
 * request that matches several gets the error of the one set first.
 * @p len 0 clears every range of the backend (the other arguments are
 * then ignored). The range need not lie within the backend. The first
 * request that fails because of a range is logged (one line per range).
 *
 * @param err a negative errno, as the host would report it: -EIO (the
 *        SCSI layer turns it into MEDIUM ERROR, unrecovered read error
 *        11h/00h for reads, write error 0Ch/00h for writes), -ENOSPC,
 *        -EROFS, ...
 * @return 0; -EINVAL (NULL @p blk, @p ops_mask 0 or with a bit that is no
 *         operation, @p err not in -4095..-1, @p offset + @p len past
 *         UINT64_MAX); -ENOSPC (VDEV_BLK_INJECT_MAX ranges are set);
 *         -EOPNOTSUPP ("sg" backends, which carry no block requests).
 * Thread: the backend's thread.
 */
VDEV_API int vdev_blk_inject_error(vdev_blk *blk, uint64_t offset, uint64_t len,
				   uint32_t ops_mask, int err);

/** Options for vdev_blk_loop_new(). Begins with struct_size. */
struct vdev_blk_loop_opts {
	size_t struct_size;
	uint32_t engine;       /**< file backends' enum vdev_blk_engine (INLINE: memory/null only) */
	uint32_t queue_depth;  /**< most file requests in flight, all backends together (0: 1024) */
	uint32_t threads;      /**< thread-pool engine: worker count (0: 4) */
	uint32_t reserved;     /**< 0 */
};

/**
 * Create a completion loop and its engine (io_uring, or the thread pool
 * for THREADS or where io_uring is unavailable under AUTO; none for
 * INLINE). Backends join it through vdev_blk_opts.loop. The caller owns
 * it (vdev_blk_loop_free()). @return 0; -EINVAL (bad options); -ENOTSUP
 * (IO_URING asked for and unavailable); -ENOMEM; -EMFILE.
 * Thread: the loop's thread, which is also the thread of all its backends.
 */
VDEV_API int vdev_blk_loop_new(vdev_ctx *ctx, const struct vdev_blk_loop_opts *opts,
			       vdev_blk_loop **out);

/**
 * Free a loop. Every backend on it must be closed first: if one is still
 * open, this frees nothing, logs an error and the loop stays usable (free
 * it again after closing them). NULL is a no-op. Thread: the loop's thread.
 */
VDEV_API void vdev_blk_loop_free(vdev_blk_loop *loop);

/**
 * A file descriptor that becomes readable when completions of any of the
 * loop's backends wait; poll it and call vdev_blk_loop_poll(). Owned by
 * the loop. Thread: any.
 */
VDEV_API int vdev_blk_loop_event_fd(vdev_blk_loop *loop);

/**
 * Run the ready completions of all the loop's backends (never blocks).
 * Callbacks may submit, poll and close backends.
 * @return the number run. Thread: the loop's thread.
 */
VDEV_API int vdev_blk_loop_poll(vdev_blk_loop *loop);

/**
 * Wait until at least one completion of the loop's backends is ready or
 * @p timeout_ms passes (-1: forever), then run the ready ones. Starts
 * plugged requests first. @return the number run, 0 if nothing is in
 * flight, or -ETIMEDOUT. Thread: the loop's thread.
 */
VDEV_API int vdev_blk_loop_wait(vdev_blk_loop *loop, int timeout_ms);

/** @return the engine the loop's file backends use (never AUTO). Thread: any. */
VDEV_API enum vdev_blk_engine vdev_blk_loop_engine(const vdev_blk_loop *loop);

VDEV_END_DECLS

#endif /* VDEV_BLOCK_H */
