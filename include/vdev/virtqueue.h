/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/virtqueue.h
 * The device side of a virtqueue (VIRTIO 1.2 §2.7 split, §2.8 packed).
 *
 * A device model pops requests as host iovecs (zero-copy: the iovecs point
 * straight into guest RAM through the context's memory map) and completes
 * them with the number of bytes it wrote. Everything the guest controls is
 * validated; a violation puts the queue into a broken state, logs one line
 * and reports it through the error hook (a transport answers with
 * DEVICE_NEEDS_RESET and a configuration-change interrupt). Nothing the
 * guest does makes the library touch memory outside registered RAM.
 *
 * Threading model:
 *  - Each queue is owned by one thread (the "queue thread"; normally the
 *    device thread). vdev_vq_start/stop, pop, push, flush, reap,
 *    notify_enable, save and load run there only.
 *  - vdev_vq_complete_remote() may be called from any thread (e.g. a
 *    backend's completion thread). It is lock-free and allocation-free:
 *    the completion is queued on the request's slot and the wake hook
 *    runs so the queue thread calls vdev_vq_reap() to publish it.
 *  - Guest vCPUs run concurrently with all of this: ring accesses use the
 *    memory barriers the spec requires.
 *
 * In-flight tracking: the queue remembers every popped, not yet completed
 * request (by buffer id) and the request struct the device popped it into.
 * The device must keep that struct and its iovec array unchanged until it
 * completes the request. Saved state includes in-flight requests (as guest
 * addresses); after a load, pop returns them again first, so the
 * destination resubmits what the source had not completed.
 */
#ifndef VDEV_VIRTQUEUE_H
#define VDEV_VIRTQUEUE_H

#include <sys/uio.h>
#include <vdev/common.h>
#include <vdev/state.h>

VDEV_BEGIN_DECLS

/* Transport-independent feature bits (VIRTIO 1.2 §6), as bit numbers. */
#define VDEV_VIRTIO_F_INDIRECT_DESC 28
#define VDEV_VIRTIO_F_EVENT_IDX 29
#define VDEV_VIRTIO_F_VERSION_1 32
#define VDEV_VIRTIO_F_ACCESS_PLATFORM 33
#define VDEV_VIRTIO_F_RING_PACKED 34
#define VDEV_VIRTIO_F_IN_ORDER 35
#define VDEV_VIRTIO_F_ORDER_PLATFORM 36
#define VDEV_VIRTIO_F_NOTIFICATION_DATA 38
#define VDEV_VIRTIO_F_RING_RESET 40

/** Largest queue size (split: a power of two up to this; packed: any up to this). */
#define VDEV_VQ_MAX_SIZE 32768

/** One virtqueue, device side. */
typedef struct vdev_vq vdev_vq;

/**
 * Hooks a queue calls. Begins with struct_size. Called on the queue
 * thread, except @c wake, which runs on the thread calling
 * vdev_vq_complete_remote().
 */
struct vdev_vq_ops {
	size_t struct_size;
	/** Send the used-buffer notification (interrupt) for this queue. Required. */
	void (*notify)(void *opaque, vdev_vq *vq);
	/**
	 * The guest broke a ring rule; @p reason names it (a static string,
	 * e.g. "desc-index-range", "chain-too-long", "buffer-not-in-ram"; the
	 * same name is in the one log line). The queue is now broken (pop
	 * returns -EIO) until stopped. Called once per start, from inside the
	 * queue call that found the violation: it must not stop or free the
	 * queue. Optional.
	 */
	void (*error)(void *opaque, vdev_vq *vq, const char *reason);
	/** A remote completion is waiting: make the queue thread call vdev_vq_reap(). Optional. */
	void (*wake)(void *opaque, vdev_vq *vq);
};

/** Queue flag: the device needs every device-readable buffer before any device-writable one. */
#define VDEV_VQ_F_READ_BEFORE_WRITE (1u << 0)

/** Where the driver put the rings and what was negotiated. Begins with struct_size. */
struct vdev_vq_config {
	size_t struct_size;
	uint32_t size;          /**< queue size chosen by the driver */
	uint32_t flags;         /**< VDEV_VQ_F_* */
	uint64_t desc_addr;     /**< descriptor table / packed descriptor ring */
	uint64_t driver_addr;   /**< split: available ring; packed: driver event suppression */
	uint64_t device_addr;   /**< split: used ring; packed: device event suppression */
	uint64_t features;      /**< negotiated feature bits (1ull << VDEV_VIRTIO_F_*) */
	uint32_t max_segments;  /**< most descriptors one request may have (0: queue size) */
	uint32_t reserved;
};

/**
 * A request popped from a queue. The device sets @c iov and @c iov_cap
 * before popping; the queue fills the rest. iov[0 .. out_num) are
 * device-readable, iov[out_num .. out_num + in_num) device-writable.
 */
struct vdev_vq_req {
	struct iovec *iov;  /**< in: where to put the iovecs */
	uint32_t iov_cap;   /**< in: entries available at iov */
	uint32_t out_num;   /**< out: device-readable iovecs */
	uint32_t in_num;    /**< out: device-writable iovecs */
	uint16_t id;        /**< out: the buffer id (split: head descriptor index) */
	uint16_t reserved0;
	uint64_t out_len;   /**< out: device-readable bytes */
	uint64_t in_len;    /**< out: device-writable bytes */
	void *user;         /**< free for the device (e.g. its request context) */
	uint64_t reserved[2];
};

/**
 * Create a stopped queue. @p ops is copied.
 * @return 0; -EINVAL; -ENOMEM. Thread: the queue thread.
 */
VDEV_API int vdev_vq_new(vdev_ctx *ctx, const struct vdev_vq_ops *ops, void *opaque,
			 vdev_vq **out);

/**
 * Free a queue (stopping it first). NULL is a no-op. Thread: the queue thread.
 */
VDEV_API void vdev_vq_free(vdev_vq *vq);

/**
 * Start the queue on the rings in @p cfg, as the driver set them up.
 * Checks the size (split: power of two; both: 1..VDEV_VQ_MAX_SIZE), the
 * ring alignments (§2.7: desc 16, avail 2, used 4; §2.8: 16, 4, 4) and
 * that each ring area lies wholly inside one RAM region (the areas the
 * device writes: not read-only). Only modern rings: VIRTIO_F_VERSION_1
 * must be in @c features. max_segments may be at most 65536. The device
 * side of notification suppression starts as "notify me" (split: used
 * flags 0 and avail_event 0; packed: the device area is written).
 * @return 0; -EINVAL (size, alignment, features, flags, max_segments, or a
 *         ring whose host address is misaligned); -EFAULT (not RAM);
 *         -EBUSY (already started); -ENOMEM. Thread: the queue thread.
 */
VDEV_API int vdev_vq_start(vdev_vq *vq, const struct vdev_vq_config *cfg);

/**
 * Stop the queue (device or queue reset): forget the rings and every
 * in-flight request. The device must have aborted its requests first and
 * drop every iovec pointer it holds. Pending remote completions are
 * discarded. Thread: the queue thread.
 */
VDEV_API void vdev_vq_stop(vdev_vq *vq);

/** @return 1 if started, 0 if not. */
VDEV_API int vdev_vq_started(const vdev_vq *vq);

/** @return 1 if the guest broke a rule since start, 0 if not. */
VDEV_API int vdev_vq_broken(const vdev_vq *vq);

/** @return the queue size, or 0 if stopped. */
VDEV_API uint32_t vdev_vq_size(const vdev_vq *vq);

/**
 * Pop the next available request into @p req.
 *
 * A buffer that crosses RAM regions becomes one iovec per region; a
 * zero-length descriptor (valid: VIRTIO 1.2 does not forbid it) yields
 * no iovec. A chain may hold at most 2^32 bytes in all (§2.7.5.2: the
 * readable and writable parts together), at most max_segments (default:
 * the queue size) buffer descriptors, and an indirect table at most
 * max_segments entries; loops are cut there. A chain with a device-readable
 * descriptor after a device-writable one breaks §2.7.4.2: with
 * VDEV_VQ_F_READ_BEFORE_WRITE that is a violation, without it the
 * iovecs are still returned readable first, then writable, each part in
 * chain order. On any failure the out fields of @p req are undefined.
 *
 * When nothing is available and the device has not disabled
 * notifications (vdev_vq_notify_enable()), the driver is asked to kick
 * at the next buffer (EVENT_IDX: avail_event / the device event area)
 * and the ring is looked at once more, so a device that pops until 0 and
 * then waits for a kick never misses one.
 *
 * @return 1 (popped); 0 (nothing available); -ENOBUFS (the chain has more
 *         segments than req->iov_cap: the request stays available);
 *         -EIO (the queue is broken — the violation has been reported);
 *         -ENODEV (not started); -EINVAL (NULL). Thread: the queue thread.
 */
VDEV_API int vdev_vq_pop(vdev_vq *vq, struct vdev_vq_req *req);

/**
 * Pop up to @p n requests, each into reqs[i] (whose iov/iov_cap the
 * device has set). @return the number popped, or a negative errno as
 * vdev_vq_pop() if the first pop fails. Thread: the queue thread.
 */
VDEV_API int vdev_vq_pop_batch(vdev_vq *vq, struct vdev_vq_req *reqs, unsigned int n);

/**
 * Stage the completion of @p req with @p written bytes written into its
 * device-writable buffers (clamped to req->in_len, with a log line: a
 * device bug, not a guest one). @p req must be the struct the request was
 * popped into. The used ring entry is written now; the guest sees it at
 * vdev_vq_flush(). Marks the written buffers and the used ring dirty when
 * logging is on. Requests may complete in any order, except:
 *
 * With VIRTIO_F_IN_ORDER negotiated, completions are published in pop
 * order: a request pushed before an earlier-popped one is held (it no
 * longer counts as in flight, and @p req may be reused) and written to
 * the used ring as soon as every request popped before it has been
 * pushed.
 *
 * On a broken queue the completion is accepted and dropped (the rings
 * are not written again).
 * @return 0; -EINVAL (not in flight: never popped, already completed, or
 *         another struct); -ENODEV (not started). Thread: the queue thread.
 */
VDEV_API int vdev_vq_push(vdev_vq *vq, const struct vdev_vq_req *req, uint32_t written);

/**
 * Publish staged completions to the guest and send one notification if
 * the driver's suppression settings want one.
 * @return 1 if a notification was sent, 0 if not, -ENODEV.
 * Thread: the queue thread.
 */
VDEV_API int vdev_vq_flush(vdev_vq *vq);

/** vdev_vq_push() then vdev_vq_flush(). @return as vdev_vq_flush() or push's error. */
VDEV_API int vdev_vq_complete(vdev_vq *vq, const struct vdev_vq_req *req, uint32_t written);

/**
 * Complete buffer @p id from any thread. Lock-free, allocation-free; runs
 * the wake hook. The queue thread publishes it at its next vdev_vq_reap().
 * @return 0; -EINVAL (id not in flight or already completed).
 * Thread: any.
 */
VDEV_API int vdev_vq_complete_remote(vdev_vq *vq, uint16_t id, uint32_t written);

/**
 * Publish every remote completion queued so far, then flush.
 * @return the number of completions published, or -ENODEV.
 * Thread: the queue thread.
 */
VDEV_API int vdev_vq_reap(vdev_vq *vq);

/**
 * Ask the driver to kick (enable = 1) or not to bother (0) when it adds
 * buffers — the device's side of notification suppression, for devices
 * that poll while busy.
 * @return with enable = 1: 1 if buffers became available meanwhile (poll
 *         again), else 0. With 0: 0. -ENODEV if stopped.
 * Thread: the queue thread.
 */
VDEV_API int vdev_vq_notify_enable(vdev_vq *vq, int enable);

/**
 * Tell the queue about a driver notification carrying data
 * (VIRTIO_F_NOTIFICATION_DATA, §4.1.5.2): @p data is the notification's
 * next-available field, i.e. the 32-bit value written shifted right by
 * 16 (split: the next available index; packed: bits 0-14 the offset,
 * bit 15 the wrap counter). The value is advisory: it is checked for
 * plausibility (an implausible one is logged once, at debug level) and
 * never trusted: the ring itself decides.
 * @return 1 if buffers are available, 0 if not (also when stopped or
 *         broken). Thread: the queue thread.
 */
VDEV_API int vdev_vq_kick_data(vdev_vq *vq, uint32_t data);

/**
 * @return the number of requests in flight (popped, or loaded and not
 * popped again yet; not yet pushed, or completed remotely but not reaped).
 * Counts the table: O(queue size).
 */
VDEV_API unsigned int vdev_vq_inflight(const vdev_vq *vq);

/**
 * Save ring indices, wrap counters, features and every in-flight request
 * (as guest-physical segments) as one section.
 * @return 0 or the writer's error. Thread: the queue thread, with the
 * guest stopped.
 */
VDEV_API int vdev_vq_save(vdev_vq *vq, vdev_state_writer *w);

/**
 * Load what vdev_vq_save() wrote from the next record of @p r into a
 * queue (started or not: it is started on the saved rings, or stopped if
 * it was saved stopped; anything it had in flight is forgotten as by
 * vdev_vq_stop()). Validates everything first; on failure the queue is
 * unchanged. In-flight requests are popped again, first, in their
 * original order. Completions the source had not yet put in the used ring
 * wait as remote completions (the wake hook runs): call vdev_vq_reap().
 * @return 0; -EBADMSG; -ERANGE; -EFAULT (rings or buffers not in RAM).
 * Thread: the queue thread.
 */
VDEV_API int vdev_vq_load(vdev_vq *vq, vdev_state_reader *r);

/**
 * Pause (@p pause = 1) or resume (0) taking new requests: while paused,
 * pop finds nothing and vdev_vq_notify_enable(vq, 1) reports nothing
 * available, but requests already popped still complete normally (push,
 * flush, remote completions). For an external transport stopping a ring
 * (vhost-user GET_VRING_BASE): pause, wait for vdev_vq_inflight() to be
 * 0, read vdev_vq_base(), stop. A start clears the pause.
 * @return 0; -ENODEV (stopped); -EINVAL. Thread: the queue thread.
 */
VDEV_API int vdev_vq_pause(vdev_vq *vq, int pause);

/** @return 1 if paused, 0 if not. */
VDEV_API int vdev_vq_paused(const vdev_vq *vq);

/**
 * Resume a just-started queue at @p base instead of the ring start (an
 * external transport restarting a ring, vhost-user SET_VRING_BASE).
 * Split: @p base is the next available ring index to pop; the used index
 * is read from the used ring. Packed: bits 0-14 the next descriptor to
 * pop, bit 15 its wrap counter, bits 16-30 and 31 the same for the next
 * used descriptor. Only before the first pop.
 * @return 0; -EINVAL; -ERANGE (base impossible for this ring: split, more
 *         than size entries ahead of the used index; packed, a position
 *         >= size); -EBUSY (popped already); -ENODEV (stopped); -EIO
 *         (broken, or rings left RAM). Thread: the queue thread.
 */
VDEV_API int vdev_vq_set_base(vdev_vq *vq, uint32_t base);

/**
 * @return where the queue stands, in the format of vdev_vq_set_base()
 * (split: the next available index to pop; requests popped and not
 * completed count as consumed); 0 if stopped. Thread: the queue thread.
 */
VDEV_API uint32_t vdev_vq_base(const vdev_vq *vq);

/**
 * Attach (or with @p region NULL, detach) an inflight tracking region:
 * memory that outlives the process running the queue (vhost-user's
 * inflight memfd, QEMU docs/interop/vhost-user.rst "Inflight I/O
 * tracking", split layout: a 16-byte header, then 16 bytes per
 * descriptor). It stays attached across stop/start until detached.
 *
 * At each vdev_vq_start() of a split ring with a region of at least
 * 16 + 16 * size bytes, the queue takes it over:
 *  - a fresh region (version 0, or made for another ring size) is
 *    initialised: nothing in flight;
 *  - a used one is reconciled with the used ring (a flush that a crash
 *    interrupted is finished), and the requests still marked in flight -
 *    taken by an earlier run of the device and never answered - are popped
 *    again first, in the order they were first popped; the ring then
 *    resumes after them and vdev_vq_set_base() is ignored (after a crash a
 *    front end only knows the used index). vdev_vq_inflight() counts them
 *    until popped.
 * While started, every pop marks its request in the region before
 * returning it and every flush retires what it published, in the spec's
 * order, so that the process dying at any instant leaves every request
 * either answered in the used ring or marked: nothing answered twice,
 * nothing lost. Packed rings, a region too small, or a queue started by
 * vdev_vq_load() are not tracked (logged). Without a region the queue's
 * fast paths are unchanged (same instruction counts in bench/bench_vq);
 * with one, push and flush take their slower paths and each request
 * adds four small stores to the region.
 *
 * The region is shared with another party: what the queue reads from it
 * is checked (a nonsensical region is reinitialised, with a log line;
 * resubmitted chains pass the usual checks). The caller keeps @p region
 * mapped, 8-byte aligned, until it is detached or the queue freed.
 * @return 0; -EINVAL (NULL queue, region misaligned or under 32 bytes);
 *         -EBUSY (started). Thread: the queue thread.
 */
VDEV_API int vdev_vq_set_inflight(vdev_vq *vq, void *region, size_t len);

VDEV_END_DECLS

#endif /* VDEV_VIRTQUEUE_H */
