/* SPDX-License-Identifier: MIT */
/* lib/virtio private: the virtio SCSI host adapter types (VIRTIO 1.2 §5.6). */
#ifndef VDEV_VIRTIO_VIRTIO_SCSI_H
#define VDEV_VIRTIO_VIRTIO_SCSI_H

#include <vdev/device.h>
#include <vdev/virtio.h>
#include <vdev/virtio_scsi.h>

/* Registered in every context by vdev__register_builtin_types(). */
extern const struct vdev_device_type vdev__virtio_scsi_pci_type;
extern const struct vdev_device_type vdev__virtio_scsi_mmio_type;

/*
 * The virtio core of @dev if it is a virtio-scsi device, else NULL: the
 * part of vdev_device_virtio() (virtio_rng.c) for these types.
 */
vdev_virtio *vdev__virtio_scsi_virtio(const vdev_device *dev);

#endif /* VDEV_VIRTIO_VIRTIO_SCSI_H */
