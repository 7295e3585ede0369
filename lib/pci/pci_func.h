/* SPDX-License-Identifier: MIT */
/*
 * lib/pci private: the layout of a PCI function and the helpers the files
 * of lib/pci share. Nothing outside lib/pci includes this (tests may, to
 * check internals).
 *
 * Config space is kept as plain bytes (cfg) with three shadow images of the
 * same size:
 *   wmask  bits the guest may write;
 *   w1c    bits the guest clears by writing 1 (status error bits);
 *   init   the power-on image, restored by reset.
 * Every register the library computes (Interrupt Status, MSI pending bits)
 * is written into cfg when it changes, so a config read is a plain copy
 * and byte-exact for every width and alignment.
 */
#ifndef VDEV_PCI_PCI_FUNC_H
#define VDEV_PCI_PCI_FUNC_H

#include "core/core.h"

#define VDEV__PCI_CFG_SIZE 256u
#define VDEV__PCIE_CFG_SIZE 4096u
#define VDEV__PCI_CAP_START 0x40u
#define VDEV__PCI_CACHE_LINE_SIZE 0x0c
#define VDEV__PCI_LATENCY_TIMER 0x0d
#define VDEV__PCI_BIST 0x0f

/* Status register error bits, RW1C (PCI 3.0 §6.2.3). */
#define VDEV__PCI_STATUS_RW1C 0xf900u
/* Command bits we implement (PCI 3.0 §6.2.2): I/O, memory, bus master,
 * parity error response, SERR#, INTx disable. */
#define VDEV__PCI_COMMAND_WMASK 0x0547u

/* BAR register low bits (PCI 3.0 §6.2.5.1). */
#define VDEV__PCI_BAR_SPACE_IO 0x1u
#define VDEV__PCI_BAR_MEM_TYPE_64 0x4u
#define VDEV__PCI_BAR_MEM_PREFETCH 0x8u

/* MSI capability (PCI 3.0 §6.8.1). Offsets from the capability start. */
#define VDEV__MSI_CTRL 2
#define VDEV__MSI_ADDR_LO 4
#define VDEV__MSI_CTRL_ENABLE 0x0001u
#define VDEV__MSI_CTRL_MMC_SHIFT 1
#define VDEV__MSI_CTRL_MME_SHIFT 4
#define VDEV__MSI_CTRL_MME_MASK 0x0070u
#define VDEV__MSI_CTRL_64BIT 0x0080u
#define VDEV__MSI_CTRL_MASKABLE 0x0100u

/* MSI-X capability (PCI 3.0 §6.8.2). */
#define VDEV__MSIX_CTRL 2
#define VDEV__MSIX_TABLE 4
#define VDEV__MSIX_PBA 8
#define VDEV__MSIX_CTRL_SIZE_MASK 0x07ffu
#define VDEV__MSIX_CTRL_MASKALL 0x4000u
#define VDEV__MSIX_CTRL_ENABLE 0x8000u
#define VDEV__MSIX_ENTRY_SIZE 16u
#define VDEV__MSIX_ENTRY_DATA 8u
#define VDEV__MSIX_ENTRY_CTRL 12u
#define VDEV__MSIX_ENTRY_CTRL_MASK 0x1u
#define VDEV__MSIX_MAX_VECTORS 2048u

/* PCI Express capability, version 2 (PCIe Base 3.0 §7.8). */
#define VDEV__PCIE_CAP_SIZE 0x3cu
#define VDEV__PCIE_FLAGS 0x02
#define VDEV__PCIE_DEVCAP 0x04
#define VDEV__PCIE_DEVCTL 0x08
#define VDEV__PCIE_DEVSTA 0x0a
#define VDEV__PCIE_LNKCAP 0x0c
#define VDEV__PCIE_LNKCTL 0x10
#define VDEV__PCIE_LNKSTA 0x12
#define VDEV__PCIE_LNKCAP2 0x2c
#define VDEV__PCIE_LNKCTL2 0x30

struct vdev__pci_bar {
	uint64_t size;             /* 0: not implemented (or upper half of a 64-bit BAR) */
	uint32_t flags;            /* VDEV_PCI_BAR_* */
	int has_ops;
	struct vdev_pci_bar_ops ops;
	void *opaque;
	/* What the listener was last told: decoding, and the address if so. */
	int rep_decoding;
	uint64_t rep_addr;
};

struct vdev_pci_func {
	vdev_ctx *ctx;
	uint32_t source_id;
	uint32_t flags;
	uint8_t intx_pin;
	void (*config_written)(void *opaque, uint32_t offset, uint32_t len);
	void (*config_read)(void *opaque, uint32_t offset, void *buf, uint32_t len);
	void *opaque;

	uint32_t cfg_size;
	uint8_t *cfg;
	uint8_t *wmask;
	uint8_t *w1c;
	uint8_t *init;

	/* Capability list builder: next free offset, last capability (0: none). */
	uint32_t cap_next;
	uint8_t cap_last;

	struct vdev__pci_bar bars[VDEV_PCI_NUM_BARS];
	vdev_pci_bar_listener listener;
	void *listener_opaque;

	/* MSI: capability offset (0: none), vector count, VDEV_PCI_MSI_* flags. */
	uint8_t msi_off;
	unsigned int msi_nvec;
	uint32_t msi_flags;

	/* MSI-X: capability offset (0: none) and where its structures live. */
	uint8_t msix_off;
	unsigned int msix_nvec;
	int msix_table_bar;
	uint32_t msix_table_off;
	int msix_pba_bar;
	uint32_t msix_pba_off;
	uint8_t *msix_table; /* msix_nvec * 16 bytes, guest layout */
	uint8_t *msix_pba;   /* vdev__msix_pba_size() bytes */
	int *msix_irqfd;     /* [msix_nvec] eventfd per vector (-1: none); NULL until one is bound */

	uint8_t pcie_off;

	int intx_level; /* the device's level (Interrupt Status follows it) */
};

/* ---- pci_config.c ---- */
/* Set cfg and init bytes (power-on value) and their write/W1C masks. */
void vdev__pci_cfg_init8(vdev_pci_func *f, uint32_t off, uint8_t val, uint8_t wmask,
			 uint8_t w1c);
void vdev__pci_cfg_init16(vdev_pci_func *f, uint32_t off, uint16_t val, uint16_t wmask,
			  uint16_t w1c);
void vdev__pci_cfg_init32(vdev_pci_func *f, uint32_t off, uint32_t val, uint32_t wmask,
			  uint32_t w1c);
/* Set a library-computed bit in cfg (and not in init). */
void vdev__pci_status_update(vdev_pci_func *f, uint16_t bit, int on);
/* Drive the INTx pin from the device level and INTx Disable. */
void vdev__pci_intx_redrive(vdev_pci_func *f);

/* ---- pci_bar.c ---- */
/* Recompute every BAR's (decoding, addr); call the listener for changes,
 * or for every implemented BAR if @force. */
void vdev__pci_bars_update(vdev_pci_func *f, int force);
/* The effective state of BAR @bar from the current config bytes. */
void vdev__pci_bar_state(const vdev_pci_func *f, int bar, const uint8_t *cfg, int *decoding,
			 uint64_t *addr);
/* Check BAR registers in a config image against our BAR layout. Returns 0 or
 * -ERANGE with @why set. */
int vdev__pci_bars_check(const vdev_pci_func *f, const uint8_t *cfg, const char **why,
			 int *bad_bar);

/* ---- pci_msi.c ---- */
static inline size_t vdev__msix_pba_size(unsigned int nvec)
{
	return ((size_t)nvec + 63) / 64 * 8;
}
/* MSI: offsets of data, mask and pending registers inside config space. */
uint32_t vdev__msi_data_off(const vdev_pci_func *f);
uint32_t vdev__msi_mask_off(const vdev_pci_func *f);
uint32_t vdev__msi_pending_off(const vdev_pci_func *f);
/* Enabled MSI vector count from the MME field of @cfg. */
unsigned int vdev__msi_enabled_vectors(const vdev_pci_func *f, const uint8_t *cfg);
/* After a config write: clamp MME, deliver unmasked pending vectors. */
void vdev__msi_config_written(vdev_pci_func *f);
/* After a config write: deliver MSI-X vectors pending and now unmasked. */
void vdev__msix_config_written(vdev_pci_func *f);
/* Reset MSI-X table (every vector masked) and PBA. */
void vdev__msix_reset(vdev_pci_func *f);
/* MSI-X table/PBA access in BAR @bar; return 1 if the piece was handled. */
int vdev__msix_bar_read(vdev_pci_func *f, int bar, uint64_t off, uint8_t *buf,
			unsigned int size);
int vdev__msix_bar_write(vdev_pci_func *f, int bar, uint64_t off, const uint8_t *buf,
			 unsigned int size);

/* ---- pci_state.c: staged loading (validate, then commit) ---- */
struct vdev__pci_stage {
	uint8_t *cfg;
	uint8_t *table;
	uint8_t *pba;
	int intx_level;
};
/*
 * Validate the PCIF section @rec (just returned by vdev_state_next() on
 * @r) into @st without touching @f. On success the reader is positioned
 * after the section. Release @st with vdev__pci_stage_free() either way.
 */
int vdev__pci_func_stage(vdev_pci_func *f, vdev_state_reader *r,
			 const struct vdev_state_record *rec, struct vdev__pci_stage *st);
/* Apply a validated stage; cannot fail. */
void vdev__pci_func_commit(vdev_pci_func *f, const struct vdev__pci_stage *st);
void vdev__pci_stage_free(struct vdev__pci_stage *st);

#define VDEV__PCIF_TAG VDEV_STATE_TAG('P', 'C', 'I', 'F')
#define VDEV__PCIF_VERSION 1

#endif /* VDEV_PCI_PCI_FUNC_H */
