/* SPDX-License-Identifier: MIT */
/* lib/virtio private: the virtio entropy device types (VIRTIO 1.2 §5.4). */
#ifndef VDEV_VIRTIO_VIRTIO_RNG_H
#define VDEV_VIRTIO_VIRTIO_RNG_H

#include <stdint.h>
#include <vdev/device.h>

/*
 * Options of "virtio-rng-pci" and "virtio-rng-mmio" (key=value form:
 * "source-id=N"). Not public yet: create them by name with NULL options
 * or with vdev_device_create_kv().
 */
struct vdev__virtio_rng_opts {
	size_t struct_size;
	uint32_t source_id; /* for the interrupt hooks */
	uint32_t reserved;
};

/* Registered in every context by vdev__register_builtin_types(). */
extern const struct vdev_device_type vdev__virtio_rng_pci_type;
extern const struct vdev_device_type vdev__virtio_rng_mmio_type;

#endif /* VDEV_VIRTIO_VIRTIO_RNG_H */
