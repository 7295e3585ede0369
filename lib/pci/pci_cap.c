/* SPDX-License-Identifier: MIT */
/*
 * The capability list (PCI Local Bus 3.0 §6.7): capabilities are laid out
 * from 0x40 upwards, dword aligned, each linked to the next through its
 * second byte; Capabilities Pointer (0x34) names the first and Status bit
 * 4 says the list exists. Plus builders for MSI (§6.8.1), MSI-X (§6.8.2)
 * and the PCI Express capability (PCIe Base 3.0 §7.8).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pci/pci_func.h"

/* Largest capability body: the whole area after the standard header. */
#define VDEV__CAP_BODY_MAX (VDEV__PCI_CFG_SIZE - VDEV__PCI_CAP_START - 2)

static int cap_append(vdev_pci_func *f, uint8_t cap_id, const uint8_t *body, size_t len,
		      const uint8_t *wmask, const uint8_t *w1c, uint8_t *offset)
{
	uint32_t off = f->cap_next, total;

	if (len > VDEV__CAP_BODY_MAX)
		return -ENOSPC;
	total = ((uint32_t)len + 2 + 3) & ~3u;
	if (off + total > VDEV__PCI_CFG_SIZE)
		return -ENOSPC;

	vdev__pci_cfg_init8(f, off, cap_id, 0, 0);
	vdev__pci_cfg_init8(f, off + 1, 0, 0, 0);
	for (size_t i = 0; i < len; i++)
		vdev__pci_cfg_init8(f, off + 2 + (uint32_t)i, body ? body[i] : 0,
				    wmask ? wmask[i] : 0, w1c ? w1c[i] : 0);

	/* Link it in; the pointers are read-only to the guest. */
	if (f->cap_last) {
		f->cfg[f->cap_last + 1] = (uint8_t)off;
		f->init[f->cap_last + 1] = (uint8_t)off;
	} else {
		f->cfg[VDEV_PCI_CAPABILITY_LIST] = (uint8_t)off;
		f->init[VDEV_PCI_CAPABILITY_LIST] = (uint8_t)off;
		f->cfg[VDEV_PCI_STATUS] |= VDEV_PCI_STATUS_CAP_LIST;
		f->init[VDEV_PCI_STATUS] |= VDEV_PCI_STATUS_CAP_LIST;
	}
	f->cap_last = (uint8_t)off;
	f->cap_next = off + total;
	if (offset)
		*offset = (uint8_t)off;
	return 0;
}

int vdev_pci_cap_add(vdev_pci_func *f, uint8_t cap_id, const void *body, size_t len,
		     const void *wmask, uint8_t *offset)
{
	if (!f || (!body && len))
		return -EINVAL;
	/* MSI and MSI-X need the library's emulation behind them: use their helpers. */
	if (cap_id == VDEV_PCI_CAP_ID_MSI || cap_id == VDEV_PCI_CAP_ID_MSIX)
		return -EINVAL;
	return cap_append(f, cap_id, body, len, wmask, NULL, offset);
}

/* Little-endian stores into a capability body; @reg is relative to the
 * capability start (the body begins at reg 2). */
static void body_put16(uint8_t *body, uint32_t reg, uint16_t v)
{
	vdev__put_le16(body + reg - 2, v);
}

static void body_put32(uint8_t *body, uint32_t reg, uint32_t v)
{
	vdev__put_le32(body + reg - 2, v);
}

int vdev_pci_cap_msi_add(vdev_pci_func *f, unsigned int nvectors, uint32_t flags,
			 uint8_t *offset)
{
	uint8_t body[24] = { 0 }, wmask[24] = { 0 };
	unsigned int log2n = 0;
	uint32_t data_reg, len;
	uint16_t ctrl;
	uint8_t off;
	int rc;

	if (!f || (flags & ~(VDEV_PCI_MSI_64BIT | VDEV_PCI_MSI_MASKABLE)))
		return -EINVAL;
	if (nvectors < 1 || nvectors > 32 || (nvectors & (nvectors - 1)))
		return -EINVAL;
	if (f->msi_off)
		return -EEXIST;
	while ((1u << log2n) < nvectors)
		log2n++;

	/* Message Control: Multiple Message Capable is log2(vectors). */
	ctrl = (uint16_t)(log2n << VDEV__MSI_CTRL_MMC_SHIFT);
	if (flags & VDEV_PCI_MSI_64BIT)
		ctrl |= VDEV__MSI_CTRL_64BIT;
	if (flags & VDEV_PCI_MSI_MASKABLE)
		ctrl |= VDEV__MSI_CTRL_MASKABLE;
	body_put16(body, VDEV__MSI_CTRL, ctrl);
	body_put16(wmask, VDEV__MSI_CTRL, VDEV__MSI_CTRL_ENABLE | VDEV__MSI_CTRL_MME_MASK);
	/* Message Address is dword aligned: bits 1:0 are read-only zero. */
	body_put32(wmask, VDEV__MSI_ADDR_LO, 0xfffffffcu);
	data_reg = VDEV__MSI_ADDR_LO + 4;
	if (flags & VDEV_PCI_MSI_64BIT) {
		body_put32(wmask, data_reg, 0xffffffffu);
		data_reg += 4;
	}
	body_put16(wmask, data_reg, 0xffff);
	len = data_reg + 2 - 2;
	if (flags & VDEV_PCI_MSI_MASKABLE) {
		/* Mask Bits: one writable bit per vector; Pending Bits are read-only. */
		body_put32(wmask, data_reg + 4,
			   nvectors == 32 ? 0xffffffffu : (1u << nvectors) - 1);
		len = data_reg + 12 - 2;
	}

	rc = cap_append(f, VDEV_PCI_CAP_ID_MSI, body, len, wmask, NULL, &off);
	if (rc)
		return rc;
	f->msi_off = off;
	f->msi_nvec = nvectors;
	f->msi_flags = flags;
	if (offset)
		*offset = off;
	return 0;
}

static int msix_bar_ok(const vdev_pci_func *f, int bar, uint32_t off, uint64_t len)
{
	const struct vdev__pci_bar *b;

	if (bar < 0 || bar >= VDEV_PCI_NUM_BARS || (off & 7))
		return 0;
	b = &f->bars[bar];
	/* The structures live in memory space (PCI 3.0 §6.8.2.4). */
	if (!b->size || (b->flags & VDEV_PCI_BAR_IO))
		return 0;
	return len <= b->size && off <= b->size - len;
}

int vdev_pci_cap_msix_add(vdev_pci_func *f, unsigned int nvectors, int table_bar,
			  uint32_t table_offset, int pba_bar, uint32_t pba_offset,
			  uint8_t *offset)
{
	uint8_t body[10] = { 0 }, wmask[10] = { 0 };
	uint64_t tlen = (uint64_t)nvectors * VDEV__MSIX_ENTRY_SIZE;
	uint64_t plen = vdev__msix_pba_size(nvectors);
	uint8_t *table, *pba;
	uint8_t off;
	int rc;

	if (!f || nvectors < 1 || nvectors > VDEV__MSIX_MAX_VECTORS)
		return -EINVAL;
	if (!msix_bar_ok(f, table_bar, table_offset, tlen) ||
	    !msix_bar_ok(f, pba_bar, pba_offset, plen))
		return -EINVAL;
	if (table_bar == pba_bar && table_offset < pba_offset + plen &&
	    pba_offset < table_offset + tlen)
		return -EINVAL;
	if (f->msix_off)
		return -EEXIST;

	table = calloc(1, tlen);
	pba = calloc(1, plen);
	if (!table || !pba) {
		free(table);
		free(pba);
		return -ENOMEM;
	}
	body_put16(body, VDEV__MSIX_CTRL, (uint16_t)(nvectors - 1));
	body_put16(wmask, VDEV__MSIX_CTRL, VDEV__MSIX_CTRL_ENABLE | VDEV__MSIX_CTRL_MASKALL);
	body_put32(body, VDEV__MSIX_TABLE, table_offset | (uint32_t)table_bar);
	body_put32(body, VDEV__MSIX_PBA, pba_offset | (uint32_t)pba_bar);
	rc = cap_append(f, VDEV_PCI_CAP_ID_MSIX, body, sizeof(body), wmask, NULL, &off);
	if (rc) {
		free(table);
		free(pba);
		return rc;
	}
	f->msix_off = off;
	f->msix_nvec = nvectors;
	f->msix_table_bar = table_bar;
	f->msix_table_off = table_offset;
	f->msix_pba_bar = pba_bar;
	f->msix_pba_off = pba_offset;
	f->msix_table = table;
	f->msix_pba = pba;
	vdev__msix_reset(f);
	if (offset)
		*offset = off;
	return 0;
}

int vdev_pci_cap_pcie_add(vdev_pci_func *f, unsigned int port_type, uint8_t *offset)
{
	uint8_t body[VDEV__PCIE_CAP_SIZE - 2] = { 0 };
	uint8_t wmask[VDEV__PCIE_CAP_SIZE - 2] = { 0 };
	uint8_t w1c[VDEV__PCIE_CAP_SIZE - 2] = { 0 };
	int link = port_type == VDEV_PCIE_TYPE_ENDPOINT;
	uint8_t off;
	int rc;

	if (!f || !(f->flags & VDEV_PCI_F_EXPRESS))
		return -EINVAL;
	if (port_type != VDEV_PCIE_TYPE_ENDPOINT && port_type != VDEV_PCIE_TYPE_RC_INTEGRATED)
		return -EINVAL;
	if (f->pcie_off)
		return -EEXIST;

	/* Capability version 2, device/port type in bits 7:4. */
	body_put16(body, VDEV__PCIE_FLAGS, (uint16_t)(0x2 | (port_type << 4)));
	/* Device Capabilities: 128-byte max payload, role-based error reporting. */
	body_put32(body, VDEV__PCIE_DEVCAP, 0x00008000u);
	/*
	 * Device Control: error reporting enables, relaxed ordering, max
	 * payload, extended tags, no snoop and max read request are RW;
	 * phantom functions, aux power and FLR are not implemented. Defaults
	 * per §7.8.4: relaxed ordering and no snoop on, 512-byte read requests.
	 */
	body_put16(body, VDEV__PCIE_DEVCTL, 0x2810);
	body_put16(wmask, VDEV__PCIE_DEVCTL, 0x79ff);
	/* Device Status: the four error-detected bits are RW1C. */
	body_put16(w1c, VDEV__PCIE_DEVSTA, 0x000f);
	if (link) {
		/* One 2.5 GT/s lane, no ASPM; an RC-integrated endpoint has no link. */
		body_put32(body, VDEV__PCIE_LNKCAP, 0x00000011u);
		body_put16(wmask, VDEV__PCIE_LNKCTL, 0x00c3);
		body_put16(body, VDEV__PCIE_LNKSTA, 0x0011);
		body_put32(body, VDEV__PCIE_LNKCAP2, 0x00000002u);
		body_put16(body, VDEV__PCIE_LNKCTL2, 0x0001);
	}
	rc = cap_append(f, VDEV_PCI_CAP_ID_EXP, body, sizeof(body), wmask, w1c, &off);
	if (rc)
		return rc;
	f->pcie_off = off;
	if (offset)
		*offset = off;
	return 0;
}
