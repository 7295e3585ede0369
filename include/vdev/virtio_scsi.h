/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/virtio_scsi.h
 * The virtio SCSI host adapter (VIRTIO 1.2 §5.6): one controller carrying
 * up to 256 targets with 16384 LUNs each, on virtio-pci ("virtio-scsi-pci")
 * or virtio-mmio ("virtio-scsi-mmio").
 *
 * Create it from the registry (vdev/device.h) with a
 * struct vdev_virtio_scsi_opts or a "virtio-scsi-pci,key=value,..." spec
 * (keys: source-id, num-queues, queue-size, seg-max, max-sectors,
 * cmd-per-lun), then attach disks and CD-ROMs to its SCSI bus:
 *
 * @code
 *   vdev_device *dev;
 *   vdev_device_create_kv(ctx, "virtio-scsi-pci,id=s0,num-queues=4", &dev);
 *   vdev_scsi_bus *bus = vdev_virtio_scsi_bus(dev);
 *   vdev_scsi_lun_add(bus, 0, 0, &lun_opts, NULL);   // target 0, LUN 0
 * @endcode
 *
 * The guest's commands are handed to the bus (vdev/scsi.h) and complete
 * when the VMM polls the LUNs' block backends (vdev_blk_poll(), on the
 * device thread): the completion writes the response and pushes the
 * buffer, and the device arms a library timer due at once that publishes
 * every completion of the poll together (one used-index update and at most
 * one interrupt per queue). So the VMM must run the library timers
 * (vdev_timers_run(), vdev/timer.h) after polling block backends, or the
 * guest never sees those completions; it must run them anyway for
 * post-load resubmission (below). Commands that complete while the device
 * handles a kick are published at the end of that kick. LUNs added or removed at
 * run time, and capacity changes, are reported to the guest on the event
 * queue when it negotiated VIRTIO_SCSI_F_HOTPLUG / VIRTIO_SCSI_F_CHANGE.
 *
 * Save/load: vdev_device_save() includes the bus state (not the disks'
 * contents). Before vdev_device_load(), the destination VMM creates the
 * device with the same options and adds the same LUNs. Commands in flight
 * at the source are submitted again at the destination once its timers
 * run (vdev_timers_run()), so each completes exactly once there.
 *
 * Memory: each request queue preallocates queue-size request slots with
 * 2 x (seg-max + 8) iovecs each (about 600 KiB per queue with the
 * defaults); nothing is allocated per request.
 *
 * Threading: everything runs on the device thread.
 */
#ifndef VDEV_VIRTIO_SCSI_H
#define VDEV_VIRTIO_SCSI_H

#include <vdev/common.h>
#include <vdev/device.h>
#include <vdev/scsi.h>

VDEV_BEGIN_DECLS

/** Registry type names. */
#define VDEV_VIRTIO_SCSI_PCI_TYPE "virtio-scsi-pci"
#define VDEV_VIRTIO_SCSI_MMIO_TYPE "virtio-scsi-mmio"

/** Most request queues a controller may have. */
#define VDEV_VIRTIO_SCSI_MAX_QUEUES 64
/** Largest queue size (every queue: control, event and requests). */
#define VDEV_VIRTIO_SCSI_MAX_QUEUE_SIZE 1024

/** Values of vdev_virtio_scsi_opts.transport. */
#define VDEV_VIRTIO_SCSI_TRANSPORT_DEFAULT 0 /**< the one the type name says */
#define VDEV_VIRTIO_SCSI_TRANSPORT_PCI 1
#define VDEV_VIRTIO_SCSI_TRANSPORT_MMIO 2

/**
 * Options of "virtio-scsi-pci" and "virtio-scsi-mmio". Begins with
 * struct_size; fields the caller's struct_size does not cover, and fields
 * left 0, take their defaults. The values the guest sees in the device
 * configuration (§5.6.4) come from here and must be the same at both ends
 * of a migration.
 */
struct vdev_virtio_scsi_opts {
	size_t struct_size;
	/** Request queues (virtqueues 2..): 1..VDEV_VIRTIO_SCSI_MAX_QUEUES; 0: 1. */
	uint32_t num_queues;
	/** Largest size of every queue: a power of two, 4..1024; 0: 128. */
	uint32_t queue_size;
	/** Most data segments per command: 1..queue_size - 2; 0: queue_size - 2. */
	uint32_t seg_max;
	/** Largest transfer the guest should ask for, in 512-byte sectors; 0: 0xffff. */
	uint32_t max_sectors;
	/** Commands per LUN the guest should queue at most; 0: 128. */
	uint32_t cmd_per_lun;
	/** Source id given to the interrupt hooks (vdev/irq.h). */
	uint32_t source_id;
	/**
	 * VDEV_VIRTIO_SCSI_TRANSPORT_*: 0 (the type's own) or the one the
	 * type name says; a contradiction fails creation with -EINVAL.
	 */
	uint32_t transport;
	uint32_t reserved;   /**< 0 */
};

/**
 * The SCSI bus of a virtio-scsi device created from the registry, for the
 * VMM to add, remove and query LUNs (vdev_scsi_lun_add() and friends);
 * target numbers 0..255 and LUNs 0..16383 are what the guest can address.
 * The bus is owned by @p dev: valid until the device is destroyed (which
 * frees the LUNs and closes their backends). Do not free it, save it or
 * reset it separately: the device's save, load and reset cover it.
 * Thread: the device thread.
 * @return the bus; NULL if @p dev is NULL or not a virtio-scsi device.
 */
VDEV_API vdev_scsi_bus *vdev_virtio_scsi_bus(vdev_device *dev);

VDEV_END_DECLS

#endif /* VDEV_VIRTIO_SCSI_H */
