/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/pci.h
 * The PCI function model: a type-0 configuration space, BARs, a
 * capability list (MSI, MSI-X, vendor-specific, PCI Express) and
 * interrupt delivery that follows what the guest enabled.
 *
 * Two sides use it:
 *  - device models build a function (vdev_pci_func_new(), BARs, caps) and
 *    raise interrupts (vdev_pci_notify(), vdev_pci_intx_set());
 *  - the VMM forwards the guest's config-space and BAR accesses
 *    (vdev_pci_config_read/write(), vdev_pci_bar_read/write()) and learns
 *    where BARs are mapped (vdev_pci_bar_get_info(), the BAR listener).
 *
 * Configuration (BARs and capabilities) happens before the guest first
 * touches the function. Everything runs on the device thread.
 */
#ifndef VDEV_PCI_H
#define VDEV_PCI_H

#include <vdev/common.h>
#include <vdev/state.h>

VDEV_BEGIN_DECLS

/** One PCI function. */
typedef struct vdev_pci_func vdev_pci_func;

/* Standard config-space offsets (PCI Local Bus 3.0 §6.1). */
#define VDEV_PCI_VENDOR_ID 0x00
#define VDEV_PCI_DEVICE_ID 0x02
#define VDEV_PCI_COMMAND 0x04
#define VDEV_PCI_STATUS 0x06
#define VDEV_PCI_REVISION_ID 0x08
#define VDEV_PCI_CLASS_PROG 0x09
#define VDEV_PCI_HEADER_TYPE 0x0e
#define VDEV_PCI_BAR0 0x10
#define VDEV_PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define VDEV_PCI_SUBSYSTEM_ID 0x2e
#define VDEV_PCI_ROM_ADDRESS 0x30
#define VDEV_PCI_CAPABILITY_LIST 0x34
#define VDEV_PCI_INTERRUPT_LINE 0x3c
#define VDEV_PCI_INTERRUPT_PIN 0x3d

/* Command register bits. */
#define VDEV_PCI_COMMAND_IO 0x0001
#define VDEV_PCI_COMMAND_MEMORY 0x0002
#define VDEV_PCI_COMMAND_MASTER 0x0004
#define VDEV_PCI_COMMAND_SERR 0x0100
#define VDEV_PCI_COMMAND_INTX_DISABLE 0x0400

/* Status register bits. */
#define VDEV_PCI_STATUS_INTERRUPT 0x0008
#define VDEV_PCI_STATUS_CAP_LIST 0x0010

/* Capability IDs. */
#define VDEV_PCI_CAP_ID_MSI 0x05
#define VDEV_PCI_CAP_ID_VNDR 0x09
#define VDEV_PCI_CAP_ID_EXP 0x10
#define VDEV_PCI_CAP_ID_MSIX 0x11

/** Number of BARs in a type-0 header. */
#define VDEV_PCI_NUM_BARS 6

/** Function flag: PCI Express (4 KiB config space; add a cap with vdev_pci_cap_pcie_add()). */
#define VDEV_PCI_F_EXPRESS (1u << 0)

/** Options for vdev_pci_func_new(). Begins with struct_size. */
struct vdev_pci_func_opts {
	size_t struct_size;
	uint16_t vendor_id;
	uint16_t device_id;
	uint16_t subsys_vendor_id;
	uint16_t subsys_id;
	uint32_t class_code;  /**< base << 16 | sub << 8 | prog-if */
	uint8_t revision;
	uint8_t intx_pin;     /**< 0: no INTx; 1..4: INTA#..INTD# */
	uint16_t reserved0;
	uint32_t source_id;   /**< passed to the host's intx_set/msi_send hooks */
	uint32_t flags;       /**< VDEV_PCI_F_* */
	/**
	 * Optional: called after a guest config write has been applied, with
	 * the range written, so a device can react (e.g. to bus mastering
	 * being turned off). @p opaque is the next field.
	 */
	void (*config_written)(void *opaque, uint32_t offset, uint32_t len);
	void *opaque;
	/**
	 * Optional: called after the bytes of a guest config read of
	 * [offset, offset + len) have been copied into @p buf, so a device can
	 * supply bytes that are computed on demand or whose read has a side
	 * effect (e.g. the virtio-pci configuration access window, VIRTIO 1.2
	 * §4.1.4.9). It may overwrite any of the @p len bytes; config space
	 * itself is unchanged. @p opaque is the field above.
	 */
	void (*config_read)(void *opaque, uint32_t offset, void *buf, uint32_t len);
};

/**
 * Create a function with an empty capability list and no BARs.
 * @return 0; -EINVAL (bad struct_size, pin > 4, class > 24 bits, unknown
 *         flags); -ENOMEM. Thread: the device thread.
 */
VDEV_API int vdev_pci_func_new(vdev_ctx *ctx, const struct vdev_pci_func_opts *opts,
			       vdev_pci_func **out);

/** Free a function (deasserting its INTx first). NULL is a no-op. */
VDEV_API void vdev_pci_func_free(vdev_pci_func *f);

/**
 * Return config space to power-on state: command and BARs 0, status
 * cleared, interrupt line 0xff, MSI disabled with its mask and pending bits
 * clear, MSI-X disabled with every table entry zero except its Mask bit
 * (set, PCI 3.0 §6.8.2.9) and the PBA clear, INTx deasserted. The BAR and
 * capability layout stays. The BAR listener runs for BARs that were decoding.
 */
VDEV_API void vdev_pci_func_reset(vdev_pci_func *f);

/* ------------------------------------------------------------------ */
/* BARs                                                                */
/* ------------------------------------------------------------------ */

/** BAR flags. Default: 32-bit memory, not prefetchable. */
#define VDEV_PCI_BAR_IO (1u << 0)
#define VDEV_PCI_BAR_MEM64 (1u << 1)
#define VDEV_PCI_BAR_PREFETCH (1u << 2)

/**
 * A device's BAR handlers. Begins with struct_size. The library splits
 * every guest access into naturally aligned accesses of 1, 2, 4 or 8
 * bytes, no wider than max_access, all inside the BAR, and serves MSI-X
 * table/PBA bytes itself.
 */
struct vdev_pci_bar_ops {
	size_t struct_size;
	/** Read @p size bytes at @p offset; the value is little-endian in the low bytes. */
	uint64_t (*read)(void *opaque, uint64_t offset, unsigned int size);
	/** Write the low @p size bytes of @p value at @p offset. */
	void (*write)(void *opaque, uint64_t offset, uint64_t value, unsigned int size);
	/** Widest access the handlers take: 1, 2, 4 or 8 (0 means 8). */
	unsigned int max_access;
};

/**
 * Declare BAR @p bar. A 64-bit BAR also uses @p bar + 1.
 * @param size   power of two; at least 16 for memory and 4 for I/O; I/O at
 *               most 256; 32-bit memory at most 2 GiB.
 * @param ops    handlers (copied), or NULL if the BAR holds only the MSI-X
 *               table/PBA (other bytes read 0, writes ignored).
 * @param opaque passed to the handlers.
 * @return 0; -EINVAL (bad index, size or flags); -EBUSY (BAR slot used).
 */
VDEV_API int vdev_pci_bar_add(vdev_pci_func *f, int bar, uint64_t size, uint32_t flags,
			      const struct vdev_pci_bar_ops *ops, void *opaque);

/** Where a BAR currently is. Output only. */
struct vdev_pci_bar_info {
	uint64_t size;     /**< 0 if the BAR is not implemented */
	uint64_t addr;     /**< the address the guest programmed */
	uint32_t flags;    /**< VDEV_PCI_BAR_* */
	int decoding;      /**< 1 if the command register enables this BAR's space
			        and the address is fully programmed (not the sizing value) */
	uint64_t reserved[2];
};

/** Fill @p info for BAR @p bar. @return 0 or -EINVAL. */
VDEV_API int vdev_pci_bar_get_info(vdev_pci_func *f, int bar,
				  struct vdev_pci_bar_info *info);

/**
 * Find which decoding BAR claims guest address @p addr.
 * @return 0 with *bar and *offset set; -ENOENT if none.
 */
VDEV_API int vdev_pci_bar_lookup(vdev_pci_func *f, int is_io, uint64_t addr, int *bar,
				 uint64_t *offset);

/**
 * Called whenever a BAR starts, stops or moves decoding (address write,
 * command-register change, reset, load), so the VMM can update its
 * memory slots. Query the new placement with vdev_pci_bar_get_info().
 */
typedef void (*vdev_pci_bar_listener)(void *opaque, vdev_pci_func *f, int bar);

/** Install (or with NULL remove) the BAR listener. */
VDEV_API void vdev_pci_set_bar_listener(vdev_pci_func *f, vdev_pci_bar_listener cb,
					void *opaque);

/* ------------------------------------------------------------------ */
/* Capabilities (at setup, before the guest runs)                       */
/* ------------------------------------------------------------------ */

/**
 * Append a capability. @p body is the capability after its two-byte
 * header (ID and next pointer); @p wmask (same length, or NULL for
 * read-only) marks the bits a guest may write.
 * @return 0 with *offset (may be NULL) set to the capability's offset;
 *         -EINVAL; -ENOSPC (config space full).
 */
VDEV_API int vdev_pci_cap_add(vdev_pci_func *f, uint8_t cap_id, const void *body, size_t len,
			      const void *wmask, uint8_t *offset);

/** MSI capability flags. */
#define VDEV_PCI_MSI_64BIT (1u << 0)
#define VDEV_PCI_MSI_MASKABLE (1u << 1)

/**
 * Add an MSI capability with @p nvectors (1, 2, 4, 8, 16 or 32) vectors.
 * @return as vdev_pci_cap_add(); -EEXIST if the function has one.
 */
VDEV_API int vdev_pci_cap_msi_add(vdev_pci_func *f, unsigned int nvectors, uint32_t flags,
				  uint8_t *offset);

/**
 * Add an MSI-X capability with @p nvectors (1..2048) vectors, its table
 * at @p table_offset of BAR @p table_bar and its PBA at @p pba_offset of
 * BAR @p pba_bar (8-byte aligned offsets; the BARs must already exist and
 * hold the structures; table and PBA must not overlap).
 * @return as vdev_pci_cap_add(); -EEXIST if the function has one.
 */
VDEV_API int vdev_pci_cap_msix_add(vdev_pci_func *f, unsigned int nvectors, int table_bar,
				   uint32_t table_offset, int pba_bar, uint32_t pba_offset,
				   uint8_t *offset);

/** PCI Express device/port types for vdev_pci_cap_pcie_add(). */
#define VDEV_PCIE_TYPE_ENDPOINT 0x0
#define VDEV_PCIE_TYPE_RC_INTEGRATED 0x9

/**
 * Add a PCI Express capability (version 2) for a function created with
 * VDEV_PCI_F_EXPRESS. @return as vdev_pci_cap_add(); -EINVAL if the
 * function is not Express.
 */
VDEV_API int vdev_pci_cap_pcie_add(vdev_pci_func *f, unsigned int port_type, uint8_t *offset);

/* ------------------------------------------------------------------ */
/* VMM entry points                                                     */
/* ------------------------------------------------------------------ */

/**
 * Guest read of config space: @p len bytes at @p offset, any alignment.
 * @return 0; -ERANGE if the range leaves config space (256 bytes, or
 *         4096 for Express) — the buffer is then filled with 0xff.
 */
VDEV_API int vdev_pci_config_read(vdev_pci_func *f, uint32_t offset, void *buf, size_t len);

/**
 * Guest write of config space; read-only bits are preserved, RW1C bits
 * cleared where 1 is written. @return 0; -ERANGE (nothing is written).
 */
VDEV_API int vdev_pci_config_write(vdev_pci_func *f, uint32_t offset, const void *buf,
				   size_t len);

/**
 * Guest read of @p len bytes at @p offset of BAR @p bar, any size and
 * alignment. @return 0; -EINVAL (no such BAR); -ERANGE (range leaves the
 * BAR: the buffer is filled with 0xff and no handler runs).
 */
VDEV_API int vdev_pci_bar_read(vdev_pci_func *f, int bar, uint64_t offset, void *buf,
			       size_t len);

/** Guest write to a BAR. @return as vdev_pci_bar_read(); nothing is written on error. */
VDEV_API int vdev_pci_bar_write(vdev_pci_func *f, int bar, uint64_t offset, const void *buf,
				size_t len);

/* ------------------------------------------------------------------ */
/* Device side                                                           */
/* ------------------------------------------------------------------ */

/** Interrupt mode the guest has enabled. */
enum vdev_pci_irq_mode {
	VDEV_PCI_IRQ_NONE = 0, /**< no INTx pin and no MSI/MSI-X enabled */
	VDEV_PCI_IRQ_INTX = 1,
	VDEV_PCI_IRQ_MSI = 2,
	VDEV_PCI_IRQ_MSIX = 3,
};

/** @return the interrupt mode the guest currently has enabled. */
VDEV_API enum vdev_pci_irq_mode vdev_pci_irq_mode(vdev_pci_func *f);

/**
 * Signal interrupt @p vector the way the guest set the function up:
 * MSI-X (masked vector or function: its pending bit is set and the
 * message is sent when unmasked), else MSI (vector < enabled count;
 * masked: pending), else INTx is asserted (@p vector ignored; the device
 * deasserts with vdev_pci_intx_set(f, 0) when the guest acknowledges).
 * @return 0; -ERANGE (vector beyond what is enabled: nothing sent);
 *         -ENODEV (no interrupt mechanism); the host hook's error.
 */
VDEV_API int vdev_pci_notify(vdev_pci_func *f, unsigned int vector);

/**
 * Set the device's INTx level. The pin is driven at the host only while
 * INTx Disable is clear; the Interrupt Status bit follows @p level.
 * @return 0; -ENODEV (no pin).
 */
VDEV_API int vdev_pci_intx_set(vdev_pci_func *f, int level);

/** @return the command register (e.g. to check Bus Master Enable before DMA). */
VDEV_API uint16_t vdev_pci_command(vdev_pci_func *f);

/** @return 1 if MSI-X/MSI vector @p vector is pending, else 0. */
VDEV_API int vdev_pci_vector_pending(vdev_pci_func *f, unsigned int vector);

/**
 * Deliver MSI-X vector @p vector by writing to eventfd @p fd (an 8-byte 1)
 * instead of calling the host's msi_send hook, for a VMM that routes the
 * vector with KVM_IRQFD. Masking and pending bits stay with the library:
 * a masked vector still becomes pending and is written to @p fd when
 * unmasked. @p fd -1 unbinds. The library neither owns nor closes the fd;
 * the binding is VMM configuration, so it survives function reset and is
 * not part of saved state.
 * @return 0; -EINVAL (no MSI-X, vector out of range, fd < -1); -ENOMEM.
 * Thread: the device thread.
 */
VDEV_API int vdev_pci_msix_set_irqfd(vdev_pci_func *f, unsigned int vector, int fd);

/* ------------------------------------------------------------------ */
/* State                                                                */
/* ------------------------------------------------------------------ */

/**
 * Save config space, MSI-X table/PBA and interrupt state as one section
 * (tag VDEV_STATE_TAG('P','C','I','F')). @return 0 or the writer's error.
 */
VDEV_API int vdev_pci_func_save(vdev_pci_func *f, vdev_state_writer *w);

/**
 * Load what vdev_pci_func_save() wrote, from the next record of @p r.
 * Everything is validated first (layout must match this function's BARs
 * and capabilities; read-only bytes must equal ours); on failure the
 * function is unchanged. After success the BAR listener runs for every
 * BAR and pending interrupt levels are re-driven.
 * @return 0; -EBADMSG; -ERANGE; -EPROTONOSUPPORT.
 */
VDEV_API int vdev_pci_func_load(vdev_pci_func *f, vdev_state_reader *r);

VDEV_END_DECLS

#endif /* VDEV_PCI_H */
