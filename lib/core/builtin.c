/* SPDX-License-Identifier: MIT */
/*
 * The built-in device types every new context knows. Each area exposes its
 * types as `const struct vdev_device_type vdev__<name>_type`.
 */
#include "core.h"
#include "pci/pci_testdev.h"
#include "virtio/virtio_rng.h"
#include "virtio/virtio_scsi.h"

int vdev__register_builtin_types(vdev_ctx *ctx)
{
	static const struct vdev_device_type *const builtin[] = {
		&vdev__pci_testdev_type,
		&vdev__virtio_rng_pci_type,
		&vdev__virtio_rng_mmio_type,
		&vdev__virtio_scsi_pci_type,
		&vdev__virtio_scsi_mmio_type,
	};

	for (size_t i = 0; i < VDEV__ARRAY_SIZE(builtin); i++) {
		int rc;

		if (!builtin[i])
			continue;
		rc = vdev_device_type_register(ctx, builtin[i]);
		if (rc)
			return rc;
	}
	return 0;
}
