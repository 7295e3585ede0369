/* SPDX-License-Identifier: MIT */
/*
 * Interrupts: DEVICE_GET_IRQ_INFO and DEVICE_SET_IRQS (vfio-user.rst;
 * vfio.h struct vfio_irq_info / vfio_irq_set and the VFIO_IRQ_SET_*
 * semantics of the kernel's vfio-pci), and the device context's interrupt
 * delivery redirected to the client's eventfds:
 *  - MSI-X vector N: bound with vdev_pci_msix_set_irqfd(), so masking and
 *    pending bits stay with the PCI model. QEMU's client emulates the
 *    MSI-X table itself (table writes never reach us) and masks vectors
 *    by taking their eventfd away, so binding an eventfd also clears the
 *    Mask bit of that vector's entry in our table;
 *  - MSI: the message's data says which vector (its low bits, PCI 3.0
 *    §6.8.1.6), which selects the eventfd;
 *  - INTx: level-triggered and automasked as vfio-pci does it: an
 *    assertion signals the eventfd and masks; ACTION_UNMASK unmasks and
 *    signals again if the line is still asserted.
 *
 * Held interrupts: while a DMA_WRITE is unanswered (vfu_dmaio.c) the data
 * it carries may not be in guest memory yet, so an interrupt raised after
 * it must wait (the guest would look before the data is there). INTx and
 * MSI are remembered (a flag, a bitmap of vectors) and fired when the last
 * write is answered. MSI-X vectors with an eventfd never pass through here
 * (the PCI model writes the eventfd itself), so the hold masks them in our
 * table instead: a masked vector becomes pending (PCI 3.0 §6.8.2.9) and
 * the PCI model delivers it when we unmask it at the end of the hold.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vfio-user/vfu_internal.h"

static void fire(int fd)
{
	uint64_t one = 1;

	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
		/* A full eventfd counter still means "signalled". */
	}
}

static void fd_set_slot(int *slot, int fd)
{
	if (*slot >= 0)
		close(*slot);
	*slot = fd;
}

/* ---- MSI-X Mask bits (PCI 3.0 §6.8.2.9), see the top ---- */

/* The table's BAR and offset of vector @v's Vector Control dword. */
static int msix_ctrl_at(const struct vfu_server *s, unsigned int v, uint64_t *off)
{
	*off = (s->msix_table & ~7u) + 16ull * v + 12;
	return (int)(s->msix_table & 7);
}

static bool msix_masked(struct vfu_server *s, unsigned int v)
{
	uint8_t b[4] = { 0 };
	uint64_t off;
	int bar = msix_ctrl_at(s, v, &off);

	vdev_pci_bar_read(s->f, bar, off, b, 4);
	return b[0] & 1;
}

/* Unmasking delivers the vector if it became pending while masked. */
static void msix_mask(struct vfu_server *s, unsigned int v, bool mask)
{
	uint8_t b[4] = { mask ? 1 : 0, 0, 0, 0 };
	uint64_t off;
	int bar = msix_ctrl_at(s, v, &off);

	vdev_pci_bar_write(s->f, bar, off, b, 4);
}

/* ---- the context's interrupt hooks ---- */

/* Assert INTx towards the client (signal, automask), or remember it while held. */
static void intx_fire(struct vfu_server *s)
{
	if (s->irq_hold) {
		s->held_intx = true;
		return;
	}
	fire(s->intx_fd);
	s->intx_masked = true;
}

static void redirect_intx(void *opaque, uint32_t source_id, unsigned int pin, int level)
{
	struct vfu_server *s = opaque;

	(void)source_id;
	(void)pin;
	s->intx_level = level;
	if (level && !s->intx_masked && s->intx_fd >= 0)
		intx_fire(s);
}

static int redirect_msi(void *opaque, uint32_t source_id, uint64_t addr, uint32_t data)
{
	struct vfu_server *s = opaque;
	uint8_t b[2];
	uint16_t ctl, base;
	unsigned int count, v;

	(void)source_id;
	(void)addr;
	/* MSI-X vectors without an eventfd land here too: dropped, like a masked one. */
	if (vdev_pci_irq_mode(s->f) != VDEV_PCI_IRQ_MSI || !s->msi_cap)
		return 0;
	vdev_pci_config_read(s->f, s->msi_cap + 2u, b, 2);
	ctl = vdev__le16(b);
	count = 1u << ((ctl >> 4) & 7);
	vdev_pci_config_read(s->f, s->msi_cap + (ctl & 0x80 ? 12u : 8u), b, 2);
	base = vdev__le16(b);
	v = (data ^ base) & (count - 1) & 31;
	if (s->irq_hold)
		s->held_msi |= 1u << v;
	else
		fire(s->msi_fds[v]);
	return 0;
}

void vdev__vfu_irq_hold(struct vfu_server *s, bool hold)
{
	if (hold == s->irq_hold)
		return;
	s->irq_hold = hold;
	if (hold) {
		for (unsigned int v = 0; v < s->n_msix; v++) {
			if (s->msix_fds[v] < 0 || msix_masked(s, v))
				continue;
			msix_mask(s, v, true);
			s->held_msix[v / 64] |= 1ull << (v % 64);
		}
		return;
	}
	/* INTx, then MSI and MSI-X by vector: every write before any of them is in place now. */
	if (s->held_intx) {
		s->held_intx = false;
		if (s->intx_level && !s->intx_masked && s->intx_fd >= 0)
			intx_fire(s);
	}
	for (unsigned int v = 0; s->held_msi; v++) {
		if (!(s->held_msi & (1u << v)))
			continue;
		s->held_msi &= ~(1u << v);
		fire(s->msi_fds[v]);
	}
	for (unsigned int v = 0; v < s->n_msix; v++) {
		if (!(s->held_msix[v / 64] & (1ull << (v % 64))))
			continue;
		s->held_msix[v / 64] &= ~(1ull << (v % 64));
		msix_mask(s, v, false);
	}
}

void vdev__vfu_irq_forget(struct vfu_server *s)
{
	s->held_intx = false;
	s->held_msi = 0;
	if (s->n_msix)
		memset(s->held_msix, 0, (s->n_msix + 63) / 64 * sizeof(uint64_t));
}

const struct vdev__irq_redirect vdev__vfu_irq_redirect_tmpl = {
	.intx_set = redirect_intx,
	.msi_send = redirect_msi,
};

/* ---- setup ---- */

void vdev__vfu_irq_init(struct vfu_server *s)
{
	uint8_t b[4], ptr;

	s->intx_fd = -1;
	for (unsigned int i = 0; i < 32; i++)
		s->msi_fds[i] = -1;
	vdev_pci_config_read(s->f, VDEV_PCI_STATUS, b, 2);
	if (!(vdev__le16(b) & VDEV_PCI_STATUS_CAP_LIST))
		return;
	vdev_pci_config_read(s->f, VDEV_PCI_CAPABILITY_LIST, &ptr, 1);
	/* At most 48 capabilities fit in config space: a loop ends there. */
	for (int n = 0; n < 48 && ptr >= 0x40; n++) {
		ptr &= 0xfc;
		vdev_pci_config_read(s->f, ptr, b, 4);
		if (b[0] == VDEV_PCI_CAP_ID_MSI && !s->msi_cap) {
			s->msi_cap = ptr;
			s->n_msi = 1u << ((vdev__le16(b + 2) >> 1) & 7);
			if (s->n_msi > 32)
				s->n_msi = 32;
		} else if (b[0] == VDEV_PCI_CAP_ID_MSIX && !s->msix_cap) {
			uint8_t t[4];

			s->msix_cap = ptr;
			s->n_msix = (vdev__le16(b + 2) & 0x7ffu) + 1;
			/* Table Offset/BIR: read-only, the device's own layout. */
			vdev_pci_config_read(s->f, ptr + 4u, t, 4);
			s->msix_table = vdev__le32(t);
		}
		ptr = b[1];
	}
}

static unsigned int intx_count(struct vfu_server *s)
{
	uint8_t pin = 0;

	vdev_pci_config_read(s->f, VDEV_PCI_INTERRUPT_PIN, &pin, 1);
	return pin ? 1 : 0;
}

int vdev__vfu_irq_info(struct vfu_server *s, uint32_t index, uint32_t *flags, uint32_t *count)
{
	switch (index) {
	case VFU_IRQ_INTX:
		*count = intx_count(s);
		*flags = VFU_IRQ_INFO_EVENTFD | VFU_IRQ_INFO_MASKABLE | VFU_IRQ_INFO_AUTOMASKED;
		return 0;
	case VFU_IRQ_MSI:
		*count = s->msi_cap ? s->n_msi : 0;
		*flags = VFU_IRQ_INFO_EVENTFD | VFU_IRQ_INFO_NORESIZE;
		return 0;
	case VFU_IRQ_MSIX:
		*count = s->n_msix;
		*flags = VFU_IRQ_INFO_EVENTFD | VFU_IRQ_INFO_NORESIZE;
		return 0;
	case VFU_IRQ_ERR:
	case VFU_IRQ_REQ:
		*count = 0;
		*flags = VFU_IRQ_INFO_EVENTFD;
		return 0;
	default:
		return -EINVAL;
	}
}

/* The eventfd slot of (index, vector), or NULL. */
static int *slot_of(struct vfu_server *s, uint32_t index, uint32_t v)
{
	if (index == VFU_IRQ_INTX)
		return v == 0 ? &s->intx_fd : NULL;
	if (index == VFU_IRQ_MSI)
		return v < 32 ? &s->msi_fds[v] : NULL;
	if (index == VFU_IRQ_MSIX)
		return v < s->n_msix ? &s->msix_fds[v] : NULL;
	return NULL;
}

static void irq_bind(struct vfu_server *s, uint32_t index, uint32_t v, int fd)
{
	fd_set_slot(slot_of(s, index, v), fd);
	if (index == VFU_IRQ_MSIX) {
		vdev_pci_msix_set_irqfd(s->f, v, fd);
		/* Bound: unmasked (see the top), at the end of a hold if one is on. */
		if (fd >= 0 && s->irq_hold) {
			msix_mask(s, v, true);
			s->held_msix[v / 64] |= 1ull << (v % 64);
		} else if (fd >= 0) {
			msix_mask(s, v, false);
		}
	}
	if (index == VFU_IRQ_INTX && fd >= 0 && s->intx_level && !s->intx_masked)
		intx_fire(s);
}

static void intx_unmask(struct vfu_server *s)
{
	s->intx_masked = false;
	if (s->intx_level && s->intx_fd >= 0)
		intx_fire(s);
}

int vdev__vfu_set_irqs(struct vfu_server *s, const struct vfu_msg *m, int *fds,
		       unsigned int nfds)
{
	uint32_t flags, index, start, count, max, fl, dtype, action;
	const uint8_t *bools = m->p + 20;
	int rc;

	if (m->size < 20 || vdev__le32(m->p) < 20)
		return -EINVAL;
	flags = vdev__le32(m->p + 4);
	index = vdev__le32(m->p + 8);
	start = vdev__le32(m->p + 12);
	count = vdev__le32(m->p + 16);
	dtype = flags & VFU_IRQ_DATA_MASK;
	action = flags & VFU_IRQ_ACTION_MASK_ALL;
	if (flags & ~(VFU_IRQ_DATA_MASK | VFU_IRQ_ACTION_MASK_ALL))
		return -EINVAL;
	/* Exactly one data type and one action. */
	if (!dtype || (dtype & (dtype - 1)) || !action || (action & (action - 1)))
		return -EINVAL;
	rc = vdev__vfu_irq_info(s, index, &fl, &max);
	if (rc)
		return rc;
	if (dtype == VFU_IRQ_DATA_EVENTFD && nfds && nfds != count)
		return -EINVAL;
	if (dtype != VFU_IRQ_DATA_EVENTFD && nfds)
		return -EINVAL;
	if (dtype == VFU_IRQ_DATA_BOOL && m->size - 20 < (uint64_t)count)
		return -EINVAL;
	/* TRIGGER, DATA_NONE, count 0: every vector of the index off (vfio.h). */
	if (action == VFU_IRQ_ACTION_TRIGGER && dtype == VFU_IRQ_DATA_NONE && !count) {
		for (uint32_t v = 0; v < max; v++)
			irq_bind(s, index, v, -1);
		if (index == VFU_IRQ_INTX)
			s->intx_masked = false;
		return 0;
	}
	if (!count || start >= max || count > max - start)
		return -EINVAL;
	if (action != VFU_IRQ_ACTION_TRIGGER) {
		bool mask = action == VFU_IRQ_ACTION_MASK;

		/* Only INTx is maskable here; no resample eventfds. */
		if (index != VFU_IRQ_INTX || dtype == VFU_IRQ_DATA_EVENTFD)
			return -EINVAL;
		if (dtype == VFU_IRQ_DATA_BOOL && !bools[0])
			return 0;
		if (mask)
			s->intx_masked = true;
		else
			intx_unmask(s);
		return 0;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint32_t v = start + i;

		if (dtype == VFU_IRQ_DATA_EVENTFD) {
			irq_bind(s, index, v, nfds ? fds[i] : -1);
			if (nfds)
				fds[i] = -1;      /* kept */
		} else if (dtype == VFU_IRQ_DATA_NONE || bools[i]) {
			int *slot = slot_of(s, index, v);

			fire(slot ? *slot : -1);
		}
	}
	return 0;
}

void vdev__vfu_irq_drop(struct vfu_server *s)
{
	irq_bind(s, VFU_IRQ_INTX, 0, -1);
	for (unsigned int v = 0; v < 32; v++)
		fd_set_slot(&s->msi_fds[v], -1);
	for (unsigned int v = 0; v < s->n_msix; v++)
		if (s->msix_fds[v] >= 0)
			irq_bind(s, VFU_IRQ_MSIX, v, -1);
	s->intx_masked = false;
	vdev__vfu_irq_forget(s);
}
