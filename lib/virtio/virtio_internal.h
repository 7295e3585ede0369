/* SPDX-License-Identifier: MIT */
/*
 * lib/virtio private: the transport-independent virtio device (struct
 * vdev_virtio, virtio_dev.c) and the interface its transports
 * (virtio_pci.c, virtio_mmio.c) implement. Nothing outside lib/virtio
 * includes this (tests may, to check internals).
 *
 * Split of duties:
 *  - the core owns everything the spec defines for every transport: the
 *    feature words and their selectors, the status byte and its state
 *    machine (§2.1, §3.1.1), the config generation, each queue's size,
 *    ring addresses and enable bit, the queue selector, and the MSI-X
 *    vector numbers (stored here so reset and save/load treat them like
 *    every other register; only virtio-pci gives them meaning);
 *  - a transport decodes the guest's register accesses into calls of the
 *    vdev__virtio_* functions below and turns the core's "queue
 *    interrupt" / "config interrupt" into ISR bits, MSI-X vectors or an
 *    InterruptStatus level.
 */
#ifndef VDEV_VIRTIO_VIRTIO_INTERNAL_H
#define VDEV_VIRTIO_VIRTIO_INTERNAL_H

#include <vdev/virtio.h>
#include <vdev/virtqueue.h>

#include "core/core.h"

#define VDEV__VIRTIO_MAX_QUEUES 1024u
/* The device config area of virtio-pci is one 4 KiB structure. */
#define VDEV__VIRTIO_MAX_CONFIG 4096u
/* "No MSI-X vector" (§4.1.4.3, §4.1.5.1.2). */
#define VDEV__VIRTIO_NO_VECTOR 0xffffu

#define VDEV__VIRTIO_BIT(b) (1ull << (b))

/* Ring features the library implements (offered unless masked). */
#define VDEV__VIRTIO_RING_FEATURES                                                          \
	(VDEV__VIRTIO_BIT(VDEV_VIRTIO_F_INDIRECT_DESC) |                                     \
	 VDEV__VIRTIO_BIT(VDEV_VIRTIO_F_EVENT_IDX) |                                         \
	 VDEV__VIRTIO_BIT(VDEV_VIRTIO_F_RING_PACKED) |                                       \
	 VDEV__VIRTIO_BIT(VDEV_VIRTIO_F_IN_ORDER) |                                          \
	 VDEV__VIRTIO_BIT(VDEV_VIRTIO_F_NOTIFICATION_DATA) |                                 \
	 VDEV__VIRTIO_BIT(VDEV_VIRTIO_F_RING_RESET))

/* Status bits the driver sets; DEVICE_NEEDS_RESET is the device's own. */
#define VDEV__VIRTIO_STATUS_DRIVER_BITS                                                     \
	(VDEV_VIRTIO_STATUS_ACKNOWLEDGE | VDEV_VIRTIO_STATUS_DRIVER |                        \
	 VDEV_VIRTIO_STATUS_FEATURES_OK | VDEV_VIRTIO_STATUS_DRIVER_OK |                     \
	 VDEV_VIRTIO_STATUS_FAILED)
#define VDEV__VIRTIO_STATUS_ALL                                                             \
	(VDEV__VIRTIO_STATUS_DRIVER_BITS | VDEV_VIRTIO_STATUS_NEEDS_RESET)

/* Per-device "log once" bits: a guest cannot flood the VMM's log. */
enum vdev__virtio_once {
	VDEV__VONCE_FEATURES_LOCKED = 1u << 0, /* feature write after FEATURES_OK */
	VDEV__VONCE_STATUS_CLEAR = 1u << 1,    /* status bits cleared without reset */
	VDEV__VONCE_QUEUE_LOCKED = 1u << 2,    /* queue setup after DRIVER_OK / while enabled */
	VDEV__VONCE_NO_FEATURES_OK = 1u << 3,  /* DRIVER_OK or queue enable before FEATURES_OK */
	VDEV__VONCE_RING_RESET = 1u << 4,      /* queue reset without VIRTIO_F_RING_RESET */
	VDEV__VONCE_BAD_ACCESS = 1u << 5,      /* register access of the wrong width */
	VDEV__VONCE_WINDOW = 1u << 6,          /* bad virtio-pci PCI_CFG window access */
	VDEV__VONCE_BAD_NOTIFY = 1u << 7,      /* notify of a queue that does not exist */
	VDEV__VONCE_QUEUE_DISABLE = 1u << 8,   /* queue_enable / QueueReady written 0 */
};

struct vdev__virtio_queue {
	vdev_virtio *vd;
	unsigned int index;
	vdev_vq *vq;
	uint32_t size;       /* as the driver set it (default: queue_max_size) */
	uint16_t vector;     /* virtio-pci MSI-X vector, VDEV__VIRTIO_NO_VECTOR if none */
	uint8_t enabled;     /* the driver enabled it and vdev_vq_start() succeeded */
	uint64_t desc;       /* descriptor area */
	uint64_t driver;     /* driver area (split: avail ring) */
	uint64_t device;     /* device area (split: used ring) */
};

/* Which 64-bit queue address a register names. */
enum vdev__virtio_addr { VDEV__VADDR_DESC, VDEV__VADDR_DRIVER, VDEV__VADDR_DEVICE };

/*
 * What a transport provides. Every hook runs on the device thread.
 * Load is staged so that a refused stream leaves the device unchanged:
 * load_stage validates and keeps what it read (nothing applied);
 * load_apply makes the one change that may still fail (virtio-pci loads
 * its PCI function, which validates itself) and load_revert undoes it if
 * a later step fails; load_commit applies the rest and cannot fail.
 */
struct vdev__virtio_transport {
	uint32_t state_tag;  /* tag of the transport's section in saved state */
	void (*queue_irq)(vdev_virtio *vd, unsigned int index);
	void (*config_irq)(vdev_virtio *vd);
	void (*reset)(vdev_virtio *vd);
	int (*doorbell)(vdev_virtio *vd, unsigned int index, struct vdev_virtio_doorbell *db);
	int (*save)(vdev_virtio *vd, vdev_state_writer *w);
	int (*load_stage)(vdev_virtio *vd, vdev_state_reader *r, void **stage);
	int (*load_apply)(vdev_virtio *vd, void *stage, vdev_state_reader *r);
	void (*load_revert)(vdev_virtio *vd, void *stage);
	void (*load_commit)(vdev_virtio *vd, void *stage);
	void (*load_free)(void *stage);
	void (*free)(vdev_virtio *vd);
};

struct vdev_virtio {
	vdev_ctx *ctx;
	struct vdev_virtio_ops ops;
	void *opaque;
	const char *name;          /* for log lines, e.g. "virtio-rng" */

	uint64_t host_features;    /* offered: the model's + the library's ring features */
	uint64_t driver_features;  /* as the driver wrote them */
	uint64_t features;         /* accepted at FEATURES_OK (0 before) */
	uint32_t dev_feature_sel;
	uint32_t drv_feature_sel;
	uint8_t status;
	uint32_t config_gen;
	uint32_t queue_sel;
	uint16_t config_vector;    /* virtio-pci: MSI-X vector for config changes */
	unsigned int nvectors;     /* virtio-pci: MSI-X table size (0: vectors unused) */
	unsigned int once;         /* enum vdev__virtio_once bits already logged */

	struct vdev__virtio_queue *queues;

	const struct vdev__virtio_transport *tr;
	void *tr_priv;
	/* A transport set aside by vdev_virtio_ext_attach() (virtio_ext.c). */
	const struct vdev__virtio_transport *aside_tr;
	void *aside_priv;
};

/* Log a line prefixed with the device's name. */
void vdev__virtio_log(vdev_virtio *vd, enum vdev_log_level level, const char *fmt, ...)
	VDEV_PRINTF(3, 4);
/* Log once per device for @bit (enum vdev__virtio_once). */
void vdev__virtio_log_once(vdev_virtio *vd, unsigned int bit, enum vdev_log_level level,
			   const char *fmt, ...) VDEV_PRINTF(4, 5);

/* Attach a transport. Returns 0 or -EBUSY. */
int vdev__virtio_attach(vdev_virtio *vd, const struct vdev__virtio_transport *tr, void *priv);

/* The selected queue, or NULL if queue_sel is out of range. */
static inline struct vdev__virtio_queue *vdev__virtio_selq(vdev_virtio *vd)
{
	return vd->queue_sel < vd->ops.num_queues ? &vd->queues[vd->queue_sel] : NULL;
}

/* Feature words as the selected 32-bit halves (§4.1.4.3, §4.2.2). */
uint32_t vdev__virtio_device_features_read(const vdev_virtio *vd);
uint32_t vdev__virtio_driver_features_read(const vdev_virtio *vd);
void vdev__virtio_driver_features_write(vdev_virtio *vd, uint32_t val);

/* A driver write of the status byte (§2.1, §3.1.1; 0 resets). */
void vdev__virtio_status_write(vdev_virtio *vd, uint8_t val);

/* Queue setup registers of the selected queue; each checks the rules. */
void vdev__virtio_queue_size_write(vdev_virtio *vd, uint32_t size);
void vdev__virtio_queue_addr_write(vdev_virtio *vd, enum vdev__virtio_addr which,
				   uint64_t val, uint64_t mask);
void vdev__virtio_queue_enable_write(vdev_virtio *vd, uint32_t val);
void vdev__virtio_queue_reset_write(vdev_virtio *vd, uint32_t val);
/* An MSI-X vector number the driver wrote: itself if valid, else NO_VECTOR. */
uint16_t vdev__virtio_vector_check(const vdev_virtio *vd, uint16_t vector);

/*
 * A driver notification for queue @index: with @has_data, @data is the
 * VIRTIO_F_NOTIFICATION_DATA part (the bits above the queue number).
 */
void vdev__virtio_notify(vdev_virtio *vd, unsigned int index, int has_data, uint32_t data);
/* Remote guest memory (core.h) arrived: queue_notify every queue that gave up waiting
 * for it (a spurious one is harmless). Thread: the device thread. */
void vdev__virtio_remote_ready(vdev_virtio *vd);

/* Device config bytes: out-of-range bytes read 0 and ignore writes. */
void vdev__virtio_config_read(vdev_virtio *vd, uint32_t off, void *buf, uint32_t len);
void vdev__virtio_config_write(vdev_virtio *vd, uint32_t off, const void *buf, uint32_t len);

/*
 * Saved-state helpers (virtio_state.c). A blob holds one record that a
 * loader read, as a standalone state blob (header + that record), so a
 * fresh reader can go over it again after the main reader has moved on.
 */
struct vdev__virtio_blob {
	uint8_t *data;
	size_t len;
};
int vdev__virtio_record_blob(const struct vdev_state_record *rec, struct vdev__virtio_blob *b);
void vdev__virtio_blob_free(struct vdev__virtio_blob *b);
int vdev__virtio_blob_reader(const struct vdev__virtio_blob *b, vdev_state_reader **out);
/* Fail @r with @rc, the reason being @what plus @inner's reason (or the errno text). */
int vdev__virtio_fail_from(vdev_state_reader *r, int rc, const char *what,
			   const vdev_state_reader *inner);

/* Has the driver negotiated feature bit @bit? */
static inline int vdev__virtio_has(const vdev_virtio *vd, unsigned int bit)
{
	return !!(vd->features & VDEV__VIRTIO_BIT(bit));
}

#endif /* VDEV_VIRTIO_VIRTIO_INTERNAL_H */
