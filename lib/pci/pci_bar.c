/* SPDX-License-Identifier: MIT */
/*
 * Base Address Registers (PCI Local Bus 3.0 §6.2.5.1): declaration, the
 * sizing behaviour firmware and OSes rely on, decode tracking for the BAR
 * listener, and guest accesses to BAR space.
 *
 * Sizing: a BAR's writable bits are the address bits above its size, so
 * writing 0xffffffff reads back ~(size - 1) with the read-only type bits
 * (I/O bit 0; memory type in bits 2:1, prefetchable bit 3) below. The
 * upper dword of a 64-bit BAR sizes the same way.
 *
 * Decoding: a BAR decodes while its space is enabled in the command
 * register, its address is not 0 (firmware and Linux never place a BAR
 * there; it means "unassigned") and the register does not hold the sizing
 * read-back. For a 32-bit BAR of size S that is the address ~(S - 1),
 * the one aligned placement that would wrap the 4 GiB space. A 64-bit BAR
 * is sized one dword at a time, so it is "not fully programmed" while
 * either dword that has address bits holds its read-back: the upper dword
 * at ~(S - 1) >> 32 (an address at or above 2^63, never a real placement),
 * or the lower dword at ~(S - 1) when S < 4 GiB. The price of the latter:
 * a 64-bit BAR placed to end exactly on a 4 GiB boundary does not decode
 * (firmware and Linux allocate bottom-up, which makes that placement
 * rare). The gain: a device sized with decoding on never appears at a
 * half-sized address.
 */
#include <errno.h>
#include <string.h>

#include "pci/pci_func.h"

#define VDEV__BAR_FLAGS (VDEV_PCI_BAR_IO | VDEV_PCI_BAR_MEM64 | VDEV_PCI_BAR_PREFETCH)

static uint32_t bar_reg(int bar)
{
	return VDEV_PCI_BAR0 + 4u * (uint32_t)bar;
}

/* Is BAR slot @bar taken, as a BAR or as the upper half of a 64-bit one? */
static int bar_slot_used(const vdev_pci_func *f, int bar)
{
	if (f->bars[bar].size)
		return 1;
	return bar > 0 && f->bars[bar - 1].size && (f->bars[bar - 1].flags & VDEV_PCI_BAR_MEM64);
}

static int bar_size_valid(uint64_t size, uint32_t flags)
{
	if (!size || (size & (size - 1)))
		return 0;
	if (flags & VDEV_PCI_BAR_IO)
		return size >= 4 && size <= 256;
	if (size < 16)
		return 0;
	if (flags & VDEV_PCI_BAR_MEM64)
		return size <= (1ull << 63);
	return size <= (1ull << 31);
}

int vdev_pci_bar_add(vdev_pci_func *f, int bar, uint64_t size, uint32_t flags,
		     const struct vdev_pci_bar_ops *ops, void *opaque)
{
	struct vdev__pci_bar *b;
	struct vdev_pci_bar_ops o;
	uint32_t reg, lo_mask;

	if (!f || bar < 0 || bar >= VDEV_PCI_NUM_BARS || (flags & ~VDEV__BAR_FLAGS))
		return -EINVAL;
	if ((flags & VDEV_PCI_BAR_IO) && (flags & (VDEV_PCI_BAR_MEM64 | VDEV_PCI_BAR_PREFETCH)))
		return -EINVAL;
	if ((flags & VDEV_PCI_BAR_MEM64) && bar == VDEV_PCI_NUM_BARS - 1)
		return -EINVAL;
	if (!bar_size_valid(size, flags))
		return -EINVAL;
	memset(&o, 0, sizeof(o));
	if (ops) {
		if (vdev__copy_sized(&o, sizeof(o), ops))
			return -EINVAL;
		if (!o.max_access)
			o.max_access = 8;
		if (o.max_access != 1 && o.max_access != 2 && o.max_access != 4 &&
		    o.max_access != 8)
			return -EINVAL;
	}
	if (bar_slot_used(f, bar) ||
	    ((flags & VDEV_PCI_BAR_MEM64) && bar_slot_used(f, bar + 1)))
		return -EBUSY;

	b = &f->bars[bar];
	b->size = size;
	b->flags = flags;
	b->has_ops = ops != NULL;
	b->ops = o;
	b->opaque = opaque;
	b->rep_decoding = 0;
	b->rep_addr = 0;

	reg = bar_reg(bar);
	if (flags & VDEV_PCI_BAR_IO) {
		vdev__pci_cfg_init32(f, reg, VDEV__PCI_BAR_SPACE_IO,
				     (uint32_t)~(size - 1) & ~3u, 0);
		return 0;
	}
	lo_mask = (uint32_t)~(size - 1) & ~0xfu;
	vdev__pci_cfg_init32(f, reg,
			     ((flags & VDEV_PCI_BAR_MEM64) ? VDEV__PCI_BAR_MEM_TYPE_64 : 0) |
			     ((flags & VDEV_PCI_BAR_PREFETCH) ? VDEV__PCI_BAR_MEM_PREFETCH : 0),
			     lo_mask, 0);
	if (flags & VDEV_PCI_BAR_MEM64)
		vdev__pci_cfg_init32(f, reg + 4, 0, (uint32_t)(~(size - 1) >> 32), 0);
	return 0;
}

void vdev__pci_bar_state(const vdev_pci_func *f, int bar, const uint8_t *cfg, int *decoding,
			 uint64_t *addr)
{
	const struct vdev__pci_bar *b = &f->bars[bar];
	uint32_t lo = vdev__le32(cfg + bar_reg(bar));
	uint16_t cmd = vdev__le16(cfg + VDEV_PCI_COMMAND);
	uint64_t a, sizing;
	int enabled;

	if (!b->size) {
		*decoding = 0;
		*addr = 0;
		return;
	}
	if (b->flags & VDEV_PCI_BAR_IO) {
		a = lo & ~3u;
		sizing = (uint32_t)~(b->size - 1);
		enabled = !!(cmd & VDEV_PCI_COMMAND_IO);
	} else if (b->flags & VDEV_PCI_BAR_MEM64) {
		uint32_t hi = vdev__le32(cfg + bar_reg(bar) + 4);
		uint32_t lo_addr_bits = (uint32_t)~(b->size - 1) & ~0xfu;

		a = (lo & ~0xfu) | ((uint64_t)hi << 32);
		sizing = ~(b->size - 1);
		enabled = !!(cmd & VDEV_PCI_COMMAND_MEMORY);
		if (hi == (uint32_t)(sizing >> 32) ||
		    (lo_addr_bits && (lo & ~0xfu) == lo_addr_bits))
			enabled = 0;
	} else {
		a = lo & ~0xfu;
		sizing = (uint32_t)~(b->size - 1);
		enabled = !!(cmd & VDEV_PCI_COMMAND_MEMORY);
	}
	*addr = a;
	*decoding = enabled && a != 0 && a != sizing;
}

void vdev__pci_bars_update(vdev_pci_func *f, int force)
{
	for (int i = 0; i < VDEV_PCI_NUM_BARS; i++) {
		struct vdev__pci_bar *b = &f->bars[i];
		uint64_t addr;
		int dec;

		if (!b->size)
			continue;
		vdev__pci_bar_state(f, i, f->cfg, &dec, &addr);
		if (!dec)
			addr = 0;
		if (!force && dec == b->rep_decoding && addr == b->rep_addr)
			continue;
		b->rep_decoding = dec;
		b->rep_addr = addr;
		if (f->listener)
			f->listener(f->listener_opaque, f, i);
	}
}

int vdev__pci_bars_check(const vdev_pci_func *f, const uint8_t *cfg, const char **why,
			 int *bad_bar)
{
	for (int i = 0; i < VDEV_PCI_NUM_BARS; i++) {
		uint32_t reg = bar_reg(i);
		uint32_t v = vdev__le32(cfg + reg);
		uint32_t fixed = ~vdev__le32(f->wmask + reg);

		/* Read-only bits (type bits and the address bits below the size,
		 * or the whole register of an unimplemented BAR) must be ours. */
		if ((v & fixed) != (vdev__le32(f->init + reg) & fixed)) {
			*bad_bar = i;
			*why = bar_slot_used(f, i) ? "does not fit the BAR's size and type"
						   : "is set but the BAR is not implemented";
			return -ERANGE;
		}
	}
	return 0;
}

int vdev_pci_bar_get_info(vdev_pci_func *f, int bar, struct vdev_pci_bar_info *info)
{
	const struct vdev__pci_bar *b;

	if (!f || !info || bar < 0 || bar >= VDEV_PCI_NUM_BARS)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	b = &f->bars[bar];
	if (!b->size)
		return 0;
	info->size = b->size;
	info->flags = b->flags;
	vdev__pci_bar_state(f, bar, f->cfg, &info->decoding, &info->addr);
	return 0;
}

int vdev_pci_bar_lookup(vdev_pci_func *f, int is_io, uint64_t addr, int *bar, uint64_t *offset)
{
	if (!f)
		return -EINVAL;
	for (int i = 0; i < VDEV_PCI_NUM_BARS; i++) {
		const struct vdev__pci_bar *b = &f->bars[i];
		uint64_t base;
		int dec;

		if (!b->size || !!(b->flags & VDEV_PCI_BAR_IO) != !!is_io)
			continue;
		vdev__pci_bar_state(f, i, f->cfg, &dec, &base);
		if (!dec || addr < base || addr - base >= b->size)
			continue;
		if (bar)
			*bar = i;
		if (offset)
			*offset = addr - base;
		return 0;
	}
	return -ENOENT;
}

void vdev_pci_set_bar_listener(vdev_pci_func *f, vdev_pci_bar_listener cb, void *opaque)
{
	if (!f)
		return;
	f->listener = cb;
	f->listener_opaque = cb ? opaque : NULL;
}

static int bar_access_check(vdev_pci_func *f, int bar, uint64_t offset, size_t len)
{
	uint64_t size;

	if (!f || bar < 0 || bar >= VDEV_PCI_NUM_BARS || !f->bars[bar].size)
		return -EINVAL;
	size = f->bars[bar].size;
	if (len > size || offset > size - len)
		return -ERANGE;
	return 0;
}

/* The widest naturally aligned piece at @off that fits @len and @max. */
static unsigned int bar_piece(uint64_t off, size_t len, unsigned int max)
{
	unsigned int s = max;

	while (s > 1 && (s > len || (off & (s - 1))))
		s >>= 1;
	return s;
}

static unsigned int bar_max_access(const struct vdev__pci_bar *b)
{
	return b->has_ops ? b->ops.max_access : 8;
}

int vdev_pci_bar_read(vdev_pci_func *f, int bar, uint64_t offset, void *buf, size_t len)
{
	const struct vdev__pci_bar *b;
	uint8_t *p = buf;
	int rc;

	if (!buf && len)
		return -EINVAL;
	rc = bar_access_check(f, bar, offset, len);
	if (rc) {
		if (len)
			memset(buf, 0xff, len);
		return rc;
	}
	b = &f->bars[bar];
	while (len) {
		unsigned int s = bar_piece(offset, len, bar_max_access(b));

		if (!vdev__msix_bar_read(f, bar, offset, p, s)) {
			uint64_t v = 0;

			if (b->has_ops && b->ops.read)
				v = b->ops.read(b->opaque, offset, s);
			for (unsigned int k = 0; k < s; k++)
				p[k] = (uint8_t)(v >> (8 * k));
		}
		offset += s;
		p += s;
		len -= s;
	}
	return 0;
}

int vdev_pci_bar_write(vdev_pci_func *f, int bar, uint64_t offset, const void *buf, size_t len)
{
	const struct vdev__pci_bar *b;
	const uint8_t *p = buf;
	int rc;

	if (!buf && len)
		return -EINVAL;
	rc = bar_access_check(f, bar, offset, len);
	if (rc)
		return rc;
	b = &f->bars[bar];
	while (len) {
		unsigned int s = bar_piece(offset, len, bar_max_access(b));

		if (!vdev__msix_bar_write(f, bar, offset, p, s) && b->has_ops && b->ops.write) {
			uint64_t v = 0;

			for (unsigned int k = 0; k < s; k++)
				v |= (uint64_t)p[k] << (8 * k);
			b->ops.write(b->opaque, offset, v, s);
		}
		offset += s;
		p += s;
		len -= s;
	}
	return 0;
}
