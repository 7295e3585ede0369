/* SPDX-License-Identifier: MIT */
/*
 * Interrupt delivery: MSI (PCI Local Bus 3.0 §6.8.1), MSI-X (§6.8.2) and
 * the choice between them and INTx.
 *
 * Precedence: MSI-X Enable wins over MSI Enable, and either one means INTx
 * is not used for notifications (§6.8.1.3, §6.8.2.3). A masked vector
 * (MSI per-vector mask; MSI-X vector or function mask) gets its pending bit
 * set instead of a message, and the message goes out when it is unmasked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pci/pci_func.h"

/* ---- MSI ---- */

static uint16_t msi_ctrl(const vdev_pci_func *f, const uint8_t *cfg)
{
	return vdev__le16(cfg + f->msi_off + VDEV__MSI_CTRL);
}

uint32_t vdev__msi_data_off(const vdev_pci_func *f)
{
	return f->msi_off + VDEV__MSI_ADDR_LO + ((f->msi_flags & VDEV_PCI_MSI_64BIT) ? 8 : 4);
}

uint32_t vdev__msi_mask_off(const vdev_pci_func *f)
{
	return vdev__msi_data_off(f) + 4;
}

uint32_t vdev__msi_pending_off(const vdev_pci_func *f)
{
	return vdev__msi_data_off(f) + 8;
}

unsigned int vdev__msi_enabled_vectors(const vdev_pci_func *f, const uint8_t *cfg)
{
	unsigned int mme = (msi_ctrl(f, cfg) & VDEV__MSI_CTRL_MME_MASK) >> VDEV__MSI_CTRL_MME_SHIFT;
	unsigned int n = 1u << mme; /* mme <= 7: no overflow */

	return n < f->msi_nvec ? n : f->msi_nvec;
}

static int msi_enabled(const vdev_pci_func *f)
{
	return f->msi_off && (msi_ctrl(f, f->cfg) & VDEV__MSI_CTRL_ENABLE);
}

static int msix_enabled(const vdev_pci_func *f)
{
	return f->msix_off &&
	       (vdev__le16(f->cfg + f->msix_off + VDEV__MSIX_CTRL) & VDEV__MSIX_CTRL_ENABLE);
}

enum vdev_pci_irq_mode vdev_pci_irq_mode(vdev_pci_func *f)
{
	if (!f)
		return VDEV_PCI_IRQ_NONE;
	if (msix_enabled(f))
		return VDEV_PCI_IRQ_MSIX;
	if (msi_enabled(f))
		return VDEV_PCI_IRQ_MSI;
	return f->intx_pin ? VDEV_PCI_IRQ_INTX : VDEV_PCI_IRQ_NONE;
}

static uint32_t msi_bits(const vdev_pci_func *f, uint32_t off)
{
	if (!(f->msi_flags & VDEV_PCI_MSI_MASKABLE))
		return 0;
	return vdev__le32(f->cfg + off);
}

/* Send MSI vector @v of @n enabled: the low log2(n) bits of data carry it. */
static int msi_send(vdev_pci_func *f, unsigned int v, unsigned int n)
{
	uint64_t addr = vdev__le32(f->cfg + f->msi_off + VDEV__MSI_ADDR_LO);
	uint32_t data = vdev__le16(f->cfg + vdev__msi_data_off(f));

	if (f->msi_flags & VDEV_PCI_MSI_64BIT)
		addr |= (uint64_t)vdev__le32(f->cfg + f->msi_off + VDEV__MSI_ADDR_LO + 4) << 32;
	data = (data & ~(n - 1)) | v;
	return vdev_irq_msi_send(f->ctx, f->source_id, addr, data);
}

static int msi_notify(vdev_pci_func *f, unsigned int v)
{
	unsigned int n = vdev__msi_enabled_vectors(f, f->cfg);
	uint32_t pend;

	if (v >= n)
		return -ERANGE;
	if (msi_bits(f, vdev__msi_mask_off(f)) & (1u << v)) {
		pend = vdev__le32(f->cfg + vdev__msi_pending_off(f)) | (1u << v);
		vdev__put_le32(f->cfg + vdev__msi_pending_off(f), pend);
		return 0;
	}
	return msi_send(f, v, n);
}

void vdev__msi_config_written(vdev_pci_func *f)
{
	uint32_t ctrl_off = f->msi_off + VDEV__MSI_CTRL;
	uint16_t ctrl = vdev__le16(f->cfg + ctrl_off);
	unsigned int mmc = (ctrl >> VDEV__MSI_CTRL_MMC_SHIFT) & 7;
	unsigned int mme = (ctrl & VDEV__MSI_CTRL_MME_MASK) >> VDEV__MSI_CTRL_MME_SHIFT;
	uint32_t pend, mask;
	unsigned int n;

	/* Software may not enable more vectors than offered; hold it to that. */
	if (mme > mmc) {
		ctrl = (uint16_t)((ctrl & ~VDEV__MSI_CTRL_MME_MASK) |
				  (mmc << VDEV__MSI_CTRL_MME_SHIFT));
		vdev__put_le16(f->cfg + ctrl_off, ctrl);
	}
	if (!(f->msi_flags & VDEV_PCI_MSI_MASKABLE) || vdev_pci_irq_mode(f) != VDEV_PCI_IRQ_MSI)
		return;
	/* Pending vectors that are now unmasked go out (§6.8.1.8). */
	n = vdev__msi_enabled_vectors(f, f->cfg);
	pend = vdev__le32(f->cfg + vdev__msi_pending_off(f));
	mask = vdev__le32(f->cfg + vdev__msi_mask_off(f));
	for (unsigned int v = 0; v < n; v++) {
		if (!(pend & (1u << v)) || (mask & (1u << v)))
			continue;
		pend &= ~(1u << v);
		vdev__put_le32(f->cfg + vdev__msi_pending_off(f), pend);
		msi_send(f, v, n);
	}
}

/* ---- MSI-X ---- */

static uint8_t *msix_entry(vdev_pci_func *f, unsigned int v)
{
	return f->msix_table + (size_t)v * VDEV__MSIX_ENTRY_SIZE;
}

static int msix_pending(const vdev_pci_func *f, unsigned int v)
{
	return (f->msix_pba[v / 8] >> (v % 8)) & 1;
}

static void msix_set_pending(vdev_pci_func *f, unsigned int v, int on)
{
	if (on)
		f->msix_pba[v / 8] |= (uint8_t)(1u << (v % 8));
	else
		f->msix_pba[v / 8] &= (uint8_t)~(1u << (v % 8));
}

static int msix_function_masked(const vdev_pci_func *f)
{
	return !!(vdev__le16(f->cfg + f->msix_off + VDEV__MSIX_CTRL) & VDEV__MSIX_CTRL_MASKALL);
}

static int msix_vector_masked(vdev_pci_func *f, unsigned int v)
{
	return !!(vdev__le32(msix_entry(f, v) + VDEV__MSIX_ENTRY_CTRL) &
		  VDEV__MSIX_ENTRY_CTRL_MASK);
}

/*
 * Signal an irqfd: add 1 to the eventfd counter. EAGAIN means the counter
 * is at its maximum, so the fd is already readable: the interrupt is not
 * lost. Any other failure is the VMM's fd going bad; report it.
 */
static int irqfd_signal(int fd)
{
	const uint64_t one = 1;
	ssize_t n;

	do {
		n = write(fd, &one, sizeof(one));
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(one) || (n < 0 && errno == EAGAIN))
		return 0;
	return n < 0 ? -errno : -EIO;
}

static int msix_send(vdev_pci_func *f, unsigned int v)
{
	const uint8_t *e = msix_entry(f, v);

	if (f->msix_irqfd && f->msix_irqfd[v] >= 0)
		return irqfd_signal(f->msix_irqfd[v]);
	return vdev_irq_msi_send(f->ctx, f->source_id, vdev__le64(e),
				 vdev__le32(e + VDEV__MSIX_ENTRY_DATA));
}

static int msix_notify(vdev_pci_func *f, unsigned int v)
{
	if (v >= f->msix_nvec)
		return -ERANGE;
	if (msix_function_masked(f) || msix_vector_masked(f, v)) {
		msix_set_pending(f, v, 1);
		return 0;
	}
	return msix_send(f, v);
}

/* Deliver vector @v if it is pending and nothing masks it any more (§6.8.2.9). */
static void msix_try_deliver(vdev_pci_func *f, unsigned int v)
{
	if (!msix_pending(f, v) || msix_vector_masked(f, v))
		return;
	msix_set_pending(f, v, 0);
	msix_send(f, v);
}

void vdev__msix_config_written(vdev_pci_func *f)
{
	if (vdev_pci_irq_mode(f) != VDEV_PCI_IRQ_MSIX || msix_function_masked(f))
		return;
	for (unsigned int v = 0; v < f->msix_nvec; v++)
		if (f->msix_pba[v / 8])
			msix_try_deliver(f, v);
}

void vdev__msix_reset(vdev_pci_func *f)
{
	if (!f->msix_off)
		return;
	memset(f->msix_table, 0, (size_t)f->msix_nvec * VDEV__MSIX_ENTRY_SIZE);
	memset(f->msix_pba, 0, vdev__msix_pba_size(f->msix_nvec));
	for (unsigned int v = 0; v < f->msix_nvec; v++)
		msix_entry(f, v)[VDEV__MSIX_ENTRY_CTRL] = VDEV__MSIX_ENTRY_CTRL_MASK;
}

/* Does [off, off + size) of BAR @bar fall in [start, start + len) of BAR @sbar?
 * Structures are 8-byte aligned and pieces naturally aligned and at most 8
 * bytes, so a piece is either wholly inside or wholly outside. */
static int in_struct(int bar, uint64_t off, int sbar, uint32_t start, uint64_t len)
{
	return bar == sbar && off >= start && off - start < len;
}

int vdev__msix_bar_read(vdev_pci_func *f, int bar, uint64_t off, uint8_t *buf,
			unsigned int size)
{
	uint64_t tlen, plen;

	if (!f->msix_off)
		return 0;
	tlen = (uint64_t)f->msix_nvec * VDEV__MSIX_ENTRY_SIZE;
	plen = vdev__msix_pba_size(f->msix_nvec);
	if (in_struct(bar, off, f->msix_table_bar, f->msix_table_off, tlen)) {
		memcpy(buf, f->msix_table + (off - f->msix_table_off), size);
		return 1;
	}
	if (in_struct(bar, off, f->msix_pba_bar, f->msix_pba_off, plen)) {
		memcpy(buf, f->msix_pba + (off - f->msix_pba_off), size);
		return 1;
	}
	return 0;
}

int vdev__msix_bar_write(vdev_pci_func *f, int bar, uint64_t off, const uint8_t *buf,
			 unsigned int size)
{
	uint64_t tlen, plen, rel;
	unsigned int v;

	if (!f->msix_off)
		return 0;
	tlen = (uint64_t)f->msix_nvec * VDEV__MSIX_ENTRY_SIZE;
	plen = vdev__msix_pba_size(f->msix_nvec);
	if (in_struct(bar, off, f->msix_pba_bar, f->msix_pba_off, plen))
		return 1; /* the PBA is read-only (§6.8.2.10) */
	if (!in_struct(bar, off, f->msix_table_bar, f->msix_table_off, tlen))
		return 0;

	rel = off - f->msix_table_off;
	v = (unsigned int)(rel / VDEV__MSIX_ENTRY_SIZE);
	for (unsigned int i = 0; i < size; i++) {
		unsigned int b = (unsigned int)((rel + i) % VDEV__MSIX_ENTRY_SIZE);
		uint8_t val = buf[i];

		/* Vector Control: only the Mask bit is implemented. */
		if (b == VDEV__MSIX_ENTRY_CTRL)
			val &= VDEV__MSIX_ENTRY_CTRL_MASK;
		else if (b > VDEV__MSIX_ENTRY_CTRL)
			val = 0;
		msix_entry(f, v)[b] = val;
	}
	/* A piece never spans two entries (aligned, at most 8 bytes). */
	if (vdev_pci_irq_mode(f) == VDEV_PCI_IRQ_MSIX && !msix_function_masked(f))
		msix_try_deliver(f, v);
	return 1;
}

/* ---- the device side ---- */

int vdev_pci_notify(vdev_pci_func *f, unsigned int vector)
{
	if (!f)
		return -EINVAL;
	switch (vdev_pci_irq_mode(f)) {
	case VDEV_PCI_IRQ_MSIX:
		return msix_notify(f, vector);
	case VDEV_PCI_IRQ_MSI:
		return msi_notify(f, vector);
	case VDEV_PCI_IRQ_INTX:
		return vdev_pci_intx_set(f, 1);
	default:
		return -ENODEV;
	}
}

int vdev_pci_vector_pending(vdev_pci_func *f, unsigned int vector)
{
	int msix = 0, msi = 0;

	if (!f)
		return 0;
	if (f->msix_off && vector < f->msix_nvec)
		msix = msix_pending(f, vector);
	if (f->msi_off && vector < 32)
		msi = (msi_bits(f, vdev__msi_pending_off(f)) >> vector) & 1;
	switch (vdev_pci_irq_mode(f)) {
	case VDEV_PCI_IRQ_MSIX:
		return msix;
	case VDEV_PCI_IRQ_MSI:
		return msi;
	default:
		return msix || msi;
	}
}

int vdev_pci_msix_set_irqfd(vdev_pci_func *f, unsigned int vector, int fd)
{
	if (!f || !f->msix_off || vector >= f->msix_nvec || fd < -1)
		return -EINVAL;
	if (!f->msix_irqfd) {
		if (fd == -1)
			return 0;
		/* Allocated on first use: most VMMs never bind one. */
		f->msix_irqfd = malloc(sizeof(int) * f->msix_nvec);
		if (!f->msix_irqfd)
			return -ENOMEM;
		for (unsigned int v = 0; v < f->msix_nvec; v++)
			f->msix_irqfd[v] = -1;
	}
	f->msix_irqfd[vector] = fd;
	return 0;
}
