/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/irq.h
 * Interrupt delivery for device models. Devices never talk to KVM, an
 * APIC or irqfds directly: they call these, which call the VMM's hooks
 * (struct vdev_host_ops). PCI devices normally go through
 * vdev_pci_notify() (vdev/pci.h), which picks INTx/MSI/MSI-X for them.
 */
#ifndef VDEV_IRQ_H
#define VDEV_IRQ_H

#include <vdev/common.h>

VDEV_BEGIN_DECLS

/**
 * Set the level of INTx @p pin (1..4) of device function @p source_id.
 * The host hook is called only when the level changes.
 * @return 0, -EINVAL (pin out of range). Thread: the device thread.
 */
VDEV_API int vdev_irq_intx_set(vdev_ctx *ctx, uint32_t source_id, unsigned int pin, int level);

/**
 * Send one MSI message (@p addr, @p data) for @p source_id through the
 * host hook. @return the hook's result, or -ENOSYS if the VMM gave none.
 * Thread: the device thread.
 */
VDEV_API int vdev_irq_msi_send(vdev_ctx *ctx, uint32_t source_id, uint64_t addr, uint32_t data);

VDEV_END_DECLS

#endif /* VDEV_IRQ_H */
