/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/vdev.h
 * Umbrella header: include this to get the whole public API.
 */
#ifndef VDEV_VDEV_H
#define VDEV_VDEV_H

#include <vdev/common.h>
#include <vdev/version.h>
#include <vdev/host.h>
#include <vdev/mem.h>
#include <vdev/irq.h>
#include <vdev/timer.h>
#include <vdev/state.h>
#include <vdev/device.h>
#include <vdev/pci.h>
#include <vdev/testdev.h>
#include <vdev/virtqueue.h>
#include <vdev/virtio.h>
#include <vdev/block.h>
#include <vdev/scsi.h>
#include <vdev/virtio_scsi.h>
#include <vdev/vhost_user.h>
#include <vdev/vfio_user.h>
#include <vdev/cpuid.h>
#include <vdev/pveoi.h>
#include <vdev/lapic.h>

#endif /* VDEV_VDEV_H */
