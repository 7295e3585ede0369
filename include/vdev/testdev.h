/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/testdev.h
 * "pci-testdev": a small PCI device for testing a VMM's PCI plumbing
 * (config cycles, BAR mapping, INTx/MSI/MSI-X routing, DMA, timers and
 * migration) and for libvdev's own tests and examples.
 *
 * Layout:
 *  - BAR0: 4 KiB 32-bit memory, the registers below.
 *  - BAR1: 32 bytes of I/O space mirroring BAR0's first 32 bytes.
 *  - BAR2: 16 KiB 64-bit prefetchable memory: MSI-X table at 0, PBA at
 *    0x2000 (present when msix_vectors > 0).
 *  - Capabilities: MSI-X (msix_vectors), MSI (msi_vectors, 64-bit,
 *    per-vector masking), INTA# if intx is set.
 * Registers are little-endian; any access width works.
 */
#ifndef VDEV_TESTDEV_H
#define VDEV_TESTDEV_H

#include <vdev/common.h>

VDEV_BEGIN_DECLS

#define VDEV_TESTDEV_TYPE "pci-testdev"
#define VDEV_TESTDEV_VENDOR_ID 0x1b36
#define VDEV_TESTDEV_DEVICE_ID 0x0005
#define VDEV_TESTDEV_MAGIC 0x44545644u /* "VDTD" */

/* BAR0 register offsets. */
#define VDEV_TESTDEV_REG_MAGIC 0x00      /**< RO: VDEV_TESTDEV_MAGIC */
#define VDEV_TESTDEV_REG_SCRATCH 0x04    /**< RW: any value; low byte is the DMA fill pattern */
#define VDEV_TESTDEV_REG_IRQ_RAISE 0x08  /**< WO: raise this vector (vdev_pci_notify) */
#define VDEV_TESTDEV_REG_IRQ_ACK 0x0c    /**< WO: any write deasserts INTx */
#define VDEV_TESTDEV_REG_TIMER 0x10      /**< W: arm a timer now + value ns that raises vector 0
					      (0 disarms); R: 1 if armed */
#define VDEV_TESTDEV_REG_DMA_ADDR_LO 0x14 /**< RW */
#define VDEV_TESTDEV_REG_DMA_ADDR_HI 0x18 /**< RW */
#define VDEV_TESTDEV_REG_DMA_LEN 0x1c    /**< RW: at most 1 MiB */
#define VDEV_TESTDEV_REG_DMA_CMD 0x20    /**< WO: a VDEV_TESTDEV_DMA_* command */
#define VDEV_TESTDEV_REG_DMA_STATUS 0x24 /**< RO: 0, or the positive errno of the last command */
#define VDEV_TESTDEV_REG_DMA_RESULT 0x28 /**< RO: result of the last SUM command */
#define VDEV_TESTDEV_REG_BUF 0x40        /**< RW: 64 bytes of plain storage, 0x40..0x7f */
#define VDEV_TESTDEV_BUF_SIZE 64

/** DMA commands (need Bus Master Enable; else status EPERM). */
#define VDEV_TESTDEV_DMA_FILL 1 /**< fill [addr, addr+len) with SCRATCH's low byte */
#define VDEV_TESTDEV_DMA_SUM 2  /**< RESULT = 32-bit sum of the bytes at [addr, addr+len) */

/** Options of "pci-testdev" (also settable as key=value: source-id, msix-vectors, ...). */
struct vdev_testdev_opts {
	size_t struct_size;
	uint32_t source_id;    /**< "source-id": passed to interrupt hooks (default 0) */
	uint32_t msix_vectors; /**< "msix-vectors": 0..64, 0 = no MSI-X (default 4) */
	uint32_t msi_vectors;  /**< "msi-vectors": 0, 1, 2, 4, 8, 16, 32 (default 1) */
	int intx;              /**< "intx": bool, INTA# present (default on) */
};

VDEV_END_DECLS

#endif /* VDEV_TESTDEV_H */
