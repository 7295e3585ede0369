/* SPDX-License-Identifier: MIT */
/* lib/pci private: the "pci-testdev" device type (see vdev/testdev.h). */
#ifndef VDEV_PCI_PCI_TESTDEV_H
#define VDEV_PCI_PCI_TESTDEV_H

#include <vdev/device.h>

/* Registered in every context by vdev__register_builtin_types(). */
extern const struct vdev_device_type vdev__pci_testdev_type;

#endif /* VDEV_PCI_PCI_TESTDEV_H */
