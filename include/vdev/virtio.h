/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/virtio.h
 * Virtio devices and their transports.
 *
 * A device model (virtio-scsi, virtio-rng, or one of the VMM's own)
 * describes itself with struct vdev_virtio_ops and gets a #vdev_virtio:
 * the transport-independent device (feature negotiation with the
 * FEATURES_OK handshake, the status state machine, config generation,
 * its virtqueues). A transport then exposes it to the guest:
 *  - virtio-pci modern (VIRTIO 1.2 §4.1): a #vdev_pci_func with the
 *    common/notify/ISR/device configuration capabilities and MSI-X, with
 *    INTx + ISR as the fallback;
 *  - virtio-mmio version 2 (§4.2), for microVM-style VMMs.
 *
 * Doorbells: the VMM may bind a queue's doorbell to an eventfd with
 * KVM_IOEVENTFD (vdev_virtio_get_doorbell() says where it is) and call
 * vdev_virtio_kick() when the eventfd fires. Interrupts may go to irqfds
 * with vdev_pci_msix_set_irqfd() (vdev/pci.h).
 *
 * Everything here runs on the device thread unless stated otherwise.
 */
#ifndef VDEV_VIRTIO_H
#define VDEV_VIRTIO_H

#include <vdev/common.h>
#include <vdev/device.h>
#include <vdev/pci.h>
#include <vdev/state.h>
#include <vdev/virtqueue.h>

VDEV_BEGIN_DECLS

/* Device status bits (§2.1). */
#define VDEV_VIRTIO_STATUS_ACKNOWLEDGE 1
#define VDEV_VIRTIO_STATUS_DRIVER 2
#define VDEV_VIRTIO_STATUS_DRIVER_OK 4
#define VDEV_VIRTIO_STATUS_FEATURES_OK 8
#define VDEV_VIRTIO_STATUS_NEEDS_RESET 64
#define VDEV_VIRTIO_STATUS_FAILED 128

/* Device IDs (§5). */
#define VDEV_VIRTIO_ID_NET 1
#define VDEV_VIRTIO_ID_BLOCK 2
#define VDEV_VIRTIO_ID_CONSOLE 3
#define VDEV_VIRTIO_ID_RNG 4
#define VDEV_VIRTIO_ID_SCSI 8

/** A virtio device, transport-independent. */
typedef struct vdev_virtio vdev_virtio;

/**
 * What a virtio device model provides. Begins with struct_size. Every
 * callback gets the @p opaque given to vdev_virtio_new() and runs on the
 * device thread.
 */
struct vdev_virtio_ops {
	size_t struct_size;
	uint32_t device_id;       /**< VDEV_VIRTIO_ID_* */
	uint32_t num_queues;      /**< 1..1024 */
	uint32_t queue_max_size;  /**< largest queue the device accepts (<= VDEV_VQ_MAX_SIZE) */
	uint32_t config_size;     /**< bytes of device-specific configuration */
	/**
	 * Device feature bits offered. The library adds the ring features it
	 * implements (VERSION_1, INDIRECT_DESC, EVENT_IDX, RING_PACKED,
	 * IN_ORDER, NOTIFICATION_DATA, RING_RESET) unless listed in
	 * @c features_mask.
	 */
	uint64_t features;
	/** Library ring features NOT to offer (e.g. a device that cannot do IN_ORDER). */
	uint64_t features_mask;
	uint32_t vq_flags;        /**< VDEV_VQ_F_* for every queue */
	uint32_t reserved;

	/** Read device config bytes [offset, offset+len), inside config_size. */
	void (*config_read)(void *opaque, uint32_t offset, void *buf, uint32_t len);
	/** Guest wrote device config bytes. Optional (NULL: read-only config). */
	void (*config_write)(void *opaque, uint32_t offset, const void *buf, uint32_t len);
	/**
	 * The driver set FEATURES_OK with @p features (a subset of what was
	 * offered). Return 0 to accept, or a negative errno to refuse (the
	 * FEATURES_OK bit then reads back clear). Optional.
	 */
	int (*set_features)(void *opaque, uint64_t features);
	/** DRIVER_OK: queues are set up; the device may start. Optional. */
	void (*start)(void *opaque);
	/**
	 * Device reset (status written 0, or transport reset): abort every
	 * in-flight request and drop every iovec before returning; the
	 * library then stops the queues. Required.
	 */
	void (*reset)(void *opaque);
	/** The driver kicked queue @p index. Required. */
	void (*queue_notify)(void *opaque, unsigned int index, vdev_vq *vq);
	/**
	 * Per-queue reset (VIRTIO_F_RING_RESET, §2.6.1): abort that queue's
	 * requests before returning. Optional (NULL: the feature is not offered).
	 */
	void (*queue_reset)(void *opaque, unsigned int index, vdev_vq *vq);
	/** Save device-specific state into the current section. Optional. */
	int (*save)(void *opaque, vdev_state_writer *w);
	/** Load it; validate before applying. Optional. */
	int (*load)(void *opaque, vdev_state_reader *r);
	/**
	 * A request of queue @p index was completed with
	 * vdev_vq_complete_remote(): arrange for the device thread to call
	 * vdev_vq_reap() on @p vq (e.g. write an eventfd the VMM polls).
	 * Runs on the completing thread, so it must be thread-safe. Optional
	 * (NULL: the device reaps on its own schedule).
	 */
	void (*queue_wake)(void *opaque, unsigned int index, vdev_vq *vq);
};

/**
 * Create a virtio device with its queues (all stopped), not yet attached
 * to a transport. @p ops is copied.
 * @return 0; -EINVAL; -ENOMEM.
 */
VDEV_API int vdev_virtio_new(vdev_ctx *ctx, const struct vdev_virtio_ops *ops, void *opaque,
			     vdev_virtio **out);

/** Free a device and its transport. NULL is a no-op. */
VDEV_API void vdev_virtio_free(vdev_virtio *vd);

/** @return queue @p index, or NULL if out of range. */
VDEV_API vdev_vq *vdev_virtio_queue(vdev_virtio *vd, unsigned int index);

/** @return the features negotiated (valid once FEATURES_OK is set). */
VDEV_API uint64_t vdev_virtio_features(const vdev_virtio *vd);

/** @return the device status byte. */
VDEV_API uint8_t vdev_virtio_status(const vdev_virtio *vd);

/**
 * The device's configuration changed: bump the config generation and send
 * the configuration-change interrupt.
 */
VDEV_API void vdev_virtio_config_changed(vdev_virtio *vd);

/**
 * The device hit an error it cannot recover from without a reset: set
 * DEVICE_NEEDS_RESET, log @p reason, send the configuration-change
 * interrupt (§2.1.2). Queue violations do this by themselves.
 */
VDEV_API void vdev_virtio_needs_reset(vdev_virtio *vd, const char *reason);

/**
 * Reset the device as a transport reset would (status 0): the model's
 * reset hook runs, queues stop, negotiated state clears.
 */
VDEV_API void vdev_virtio_reset(vdev_virtio *vd);

/**
 * The doorbell of queue @p index fired (e.g. its ioeventfd): the same as
 * the driver's notify write without data.
 * @return 0; -EINVAL (no such queue).
 */
VDEV_API int vdev_virtio_kick(vdev_virtio *vd, unsigned int index);

/** Where a queue's doorbell is, for KVM_IOEVENTFD. Output only. */
struct vdev_virtio_doorbell {
	int bar;            /**< PCI: the BAR; MMIO: -1 */
	int is_io;          /**< 1 for port I/O */
	uint64_t offset;    /**< from the BAR start (PCI) or the MMIO window start */
	uint32_t size;      /**< access width the driver uses: 2 or 4 */
	uint32_t datamatch; /**< value written (the queue index) — not fixed with NOTIFICATION_DATA */
	int has_datamatch;  /**< 1 if datamatch identifies the queue */
	uint32_t reserved[3];
};

/**
 * Describe queue @p index's doorbell on the device's transport.
 * @return 0; -EINVAL; -ENODEV (no transport yet).
 */
VDEV_API int vdev_virtio_get_doorbell(vdev_virtio *vd, unsigned int index,
				  struct vdev_virtio_doorbell *db);

/**
 * Save the device: status, features, config generation, every queue
 * (vdev_vq_save), the transport's registers (virtio-pci: ISR and its PCI
 * function, with vdev_pci_func_save(); virtio-mmio: InterruptStatus and
 * SHMSel) and the model's own state, as one section. The VMM does not
 * save the transport separately. Thread: the device thread, guest stopped.
 */
VDEV_API int vdev_virtio_save(vdev_virtio *vd, vdev_state_writer *w);

/**
 * Load what vdev_virtio_save() wrote (same transport, same queue count).
 * Everything is validated first (queue states on a scratch queue); on
 * failure the device is unchanged (the model's set_features hook may have
 * been called). Loading writes no guest memory and sends no
 * interrupt other than re-driving a pending INTx level: requests in flight
 * at the source are popped again by the model's next pops.
 * @return 0; -EBADMSG; -ERANGE; -EPROTONOSUPPORT; -EFAULT; -ENOMEM.
 */
VDEV_API int vdev_virtio_load(vdev_virtio *vd, vdev_state_reader *r);

/* ------------------------------------------------------------------ */
/* virtio-pci modern                                                    */
/* ------------------------------------------------------------------ */

/** Options for vdev_virtio_pci_new(). Begins with struct_size. */
struct vdev_virtio_pci_opts {
	size_t struct_size;
	uint32_t source_id;     /**< for the interrupt hooks */
	uint32_t msix_vectors;  /**< 0: num_queues + 1; 1..2048 otherwise */
	uint16_t subsys_id;     /**< 0: the device ID */
	uint16_t reserved0;
	uint32_t flags;         /**< VDEV_PCI_F_EXPRESS for a PCIe function */
};

/**
 * Put @p vd on a virtio-pci modern function (vendor 0x1af4, device
 * 0x1040 + device ID, revision 1): BAR4 (64-bit memory) holds the common,
 * ISR, device and notify structures; BAR1 the MSI-X table and PBA.
 * The function is owned by the device: it is freed with it and reset by
 * vdev_pci_func_reset() semantics on transport reset.
 * @return 0 with *out set; -EBUSY (already on a transport); -EINVAL; -ENOMEM.
 */
VDEV_API int vdev_virtio_pci_new(vdev_virtio *vd, const struct vdev_virtio_pci_opts *opts,
				 vdev_pci_func **out);

/* ------------------------------------------------------------------ */
/* virtio-mmio version 2                                                */
/* ------------------------------------------------------------------ */

/** Size of a virtio-mmio register window (registers + device config). */
#define VDEV_VIRTIO_MMIO_SIZE 0x200

/** Options for vdev_virtio_mmio_attach(). Begins with struct_size. */
struct vdev_virtio_mmio_opts {
	size_t struct_size;
	uint32_t source_id;  /**< the interrupt is INTx pin 1 of this source, level-triggered */
	uint32_t reserved;
};

/**
 * Put @p vd on a virtio-mmio (version 2) register window.
 * @return 0; -EBUSY (already on a transport); -EINVAL.
 */
VDEV_API int vdev_virtio_mmio_attach(vdev_virtio *vd, const struct vdev_virtio_mmio_opts *opts);

/**
 * Guest read of the MMIO window: @p len (1, 2, 4; 8 only for config)
 * bytes at @p offset. @return 0; -ERANGE (outside the window: buf
 * all-ones); -EINVAL (bad width/alignment for that register: reads 0).
 */
VDEV_API int vdev_virtio_mmio_read(vdev_virtio *vd, uint64_t offset, void *buf, size_t len);

/** Guest write of the MMIO window. @return as vdev_virtio_mmio_read(). */
VDEV_API int vdev_virtio_mmio_write(vdev_virtio *vd, uint64_t offset, const void *buf,
				    size_t len);

/* ------------------------------------------------------------------ */
/* External transports (vhost-user, a VMM's own virtio-ccw, ...)        */
/* ------------------------------------------------------------------ */

/**
 * An external transport drives a #vdev_virtio without guest-visible
 * registers: the code that owns the transport (lib/vhost-user, or a VMM
 * with a transport of its own) calls the vdev_virtio_ext_* functions
 * with the outcome of what the driver did, in this order (the same as
 * VIRTIO 1.2 §3.1.1):
 *
 *  1. vdev_virtio_ext_device_features() - what to offer;
 *  2. vdev_virtio_ext_set_features() - the FEATURES_OK handshake;
 *  3. vdev_virtio_ext_queue_setup() for each queue the driver uses
 *     (size, guest-physical ring addresses, start indices), then
 *     vdev_virtio_ext_queue_enable();
 *  4. vdev_virtio_ext_start() - DRIVER_OK (idempotent);
 *  5. vdev_virtio_kick() on each doorbell;
 *  6. vdev_virtio_ext_queue_stop() to take a queue away (its base comes
 *     back for a later restart), vdev_virtio_reset() to reset it all.
 *
 * Queues that are enabled before or after start both work: a queue runs
 * once it is enabled and the device has started. Guest memory is the
 * device context's map (vdev/mem.h).
 *
 * Interrupts come back through struct vdev_virtio_ext_ops.
 */
struct vdev_virtio_ext_ops {
	size_t struct_size;
	/** Queue @p index has used buffers for the driver: interrupt. Required. */
	void (*queue_irq)(void *opaque, unsigned int index);
	/** The device configuration changed (or NEEDS_RESET was set). Optional. */
	void (*config_irq)(void *opaque);
	/** The device was reset (vdev_virtio_reset()). Optional. */
	void (*reset)(void *opaque);
};

/**
 * Put @p vd on an external transport. If the device already sits on
 * virtio-pci or virtio-mmio (e.g. a registry device), that transport is
 * set aside (kept, not freed) and returns with vdev_virtio_ext_detach();
 * meanwhile the VMM must not expose its registers to a guest. The device
 * is reset first. @p ops is copied; @p opaque is passed to every hook.
 * @return 0; -EINVAL; -EBUSY (already on an external transport); -ENOMEM.
 * Thread: the device thread.
 */
VDEV_API int vdev_virtio_ext_attach(vdev_virtio *vd, const struct vdev_virtio_ext_ops *ops,
				    void *opaque);

/**
 * Leave the external transport: the device is reset, no hook of it runs
 * again, and a transport set aside by vdev_virtio_ext_attach() is back.
 * @return 0; -EINVAL (not on an external transport). Thread: the device thread.
 */
VDEV_API int vdev_virtio_ext_detach(vdev_virtio *vd);

/** @return the device features offered (1ull << bit), 0 for NULL. */
VDEV_API uint64_t vdev_virtio_ext_device_features(const vdev_virtio *vd);

/**
 * The driver accepted @p features: the FEATURES_OK handshake (status
 * ACKNOWLEDGE | DRIVER | FEATURES_OK). Allowed again while no queue is
 * enabled (the vhost-user front end may resend them).
 * @return 0; -EINVAL (not offered, or without VERSION_1); -EBUSY (queues
 *         enabled); the model's refusal errno. Thread: the device thread.
 */
VDEV_API int vdev_virtio_ext_set_features(vdev_virtio *vd, uint64_t features);

/**
 * Device configuration space bytes [offset, offset + len). Bytes past the
 * config size read 0 / ignore writes.
 * @return 0; -EINVAL (NULL, or offset + len overflows). Thread: the device thread.
 */
VDEV_API int vdev_virtio_ext_config_read(vdev_virtio *vd, uint32_t offset, void *buf,
					 uint32_t len);

/** Write device configuration bytes; as vdev_virtio_ext_config_read(). */
VDEV_API int vdev_virtio_ext_config_write(vdev_virtio *vd, uint32_t offset, const void *buf,
					  uint32_t len);

/** @return the context @p vd was created in (NULL for NULL). */
VDEV_API vdev_ctx *vdev_virtio_ctx(const vdev_virtio *vd);

/** @return the number of queues the device has (0 for NULL). */
VDEV_API unsigned int vdev_virtio_ext_num_queues(const vdev_virtio *vd);

/** @return the largest queue size the device accepts (0 for NULL). */
VDEV_API uint32_t vdev_virtio_ext_queue_max_size(const vdev_virtio *vd);

/** @return the device configuration size in bytes. */
VDEV_API uint32_t vdev_virtio_ext_config_size(const vdev_virtio *vd);

/** Where a queue's rings are and where to start on them. Begins with struct_size. */
struct vdev_virtio_ext_queue {
	size_t struct_size;
	uint32_t size;        /**< queue size (split: power of two), <= the device's max */
	uint32_t reserved0;
	uint64_t desc;        /**< guest-physical address of the descriptor area */
	uint64_t driver;      /**< ... of the driver area (split: available ring) */
	uint64_t device;      /**< ... of the device area (split: used ring) */
	/**
	 * Where to resume (vhost-user's "vring base"). Split: the next
	 * available ring entry to pop; the used index is read from the used
	 * ring itself. Packed: bits 0-14 the next descriptor to pop, bit 15
	 * its wrap counter; bits 16-30 / 31 the same for the next used
	 * descriptor. 0 for a fresh queue (packed: the same as 0x80008000).
	 */
	uint32_t base;
	uint32_t reserved1;
};

/**
 * Set queue @p index's rings. The queue must be disabled.
 * @return 0; -EINVAL (no such queue, bad size); -EBUSY (enabled).
 * Thread: the device thread.
 */
VDEV_API int vdev_virtio_ext_queue_setup(vdev_virtio *vd, unsigned int index,
					 const struct vdev_virtio_ext_queue *q);

/**
 * Enable (@p enable = 1) or disable (0) queue @p index. Enabling needs
 * the FEATURES_OK handshake done; the queue starts on the rings of
 * vdev_virtio_ext_queue_setup() (now, or at vdev_virtio_ext_start()).
 * Disabling is vdev_virtio_ext_queue_stop() without the base.
 * @return 0; -EINVAL; -EPROTO (features not set); -EFAULT (rings not in
 *         guest RAM); the engine's vdev_vq_start() errors.
 * Thread: the device thread.
 */
VDEV_API int vdev_virtio_ext_queue_enable(vdev_virtio *vd, unsigned int index, int enable);

/**
 * DRIVER_OK: the model starts and every enabled queue runs (and is
 * looked at once, for buffers made available before). Idempotent.
 * @return 0; -EPROTO (features not set). Thread: the device thread.
 */
VDEV_API int vdev_virtio_ext_start(vdev_virtio *vd);

/**
 * Stop queue @p index and report where it stopped (vhost-user's
 * GET_VRING_BASE): the model's queue_reset hook runs if it has one (it
 * aborts that queue's requests), the queue is stopped and forgets every
 * request still in flight; *base (may be NULL) gets the resume point in
 * the format of struct vdev_virtio_ext_queue.base: for a split ring the
 * next available entry, which counts requests that were popped but not
 * completed as consumed. To lose nothing, first pause the queue
 * (vdev_vq_pause()) and wait until vdev_vq_inflight() is 0.
 * A stopped queue is disabled. @return 0; -EINVAL. Thread: the device thread.
 */
VDEV_API int vdev_virtio_ext_queue_stop(vdev_virtio *vd, unsigned int index, uint32_t *base);

/* ------------------------------------------------------------------ */
/* Registry devices                                                     */
/* ------------------------------------------------------------------ */

/**
 * The virtio device behind a device created from the registry (e.g.
 * "virtio-rng-mmio"), so the VMM can forward its MMIO window with
 * vdev_virtio_mmio_read/write(), describe doorbells with
 * vdev_virtio_get_doorbell() or kick queues. Owned by @p dev: valid until it
 * is destroyed. Thread: the device thread.
 * @return the device's virtio core; NULL if @p dev is NULL or not a
 *         virtio device.
 */
VDEV_API vdev_virtio *vdev_device_virtio(const vdev_device *dev);

VDEV_END_DECLS

#endif /* VDEV_VIRTIO_H */
