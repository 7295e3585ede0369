/* SPDX-License-Identifier: MIT */
/*
 * PCI function lifecycle and the type-0 configuration header
 * (PCI Local Bus 3.0 §6.1-6.2): creation, reset, guest config cycles and
 * INTx.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pci/pci_func.h"

void vdev__pci_cfg_init8(vdev_pci_func *f, uint32_t off, uint8_t val, uint8_t wmask, uint8_t w1c)
{
	f->cfg[off] = val;
	f->init[off] = val;
	f->wmask[off] = wmask;
	f->w1c[off] = w1c;
}

void vdev__pci_cfg_init16(vdev_pci_func *f, uint32_t off, uint16_t val, uint16_t wmask,
			  uint16_t w1c)
{
	for (unsigned int i = 0; i < 2; i++)
		vdev__pci_cfg_init8(f, off + i, (uint8_t)(val >> (8 * i)),
				    (uint8_t)(wmask >> (8 * i)), (uint8_t)(w1c >> (8 * i)));
}

void vdev__pci_cfg_init32(vdev_pci_func *f, uint32_t off, uint32_t val, uint32_t wmask,
			  uint32_t w1c)
{
	vdev__pci_cfg_init16(f, off, (uint16_t)val, (uint16_t)wmask, (uint16_t)w1c);
	vdev__pci_cfg_init16(f, off + 2, (uint16_t)(val >> 16), (uint16_t)(wmask >> 16),
			     (uint16_t)(w1c >> 16));
}

void vdev__pci_status_update(vdev_pci_func *f, uint16_t bit, int on)
{
	uint16_t st = vdev__le16(f->cfg + VDEV_PCI_STATUS);

	st = on ? (uint16_t)(st | bit) : (uint16_t)(st & ~bit);
	vdev__put_le16(f->cfg + VDEV_PCI_STATUS, st);
}

void vdev__pci_intx_redrive(vdev_pci_func *f)
{
	int level;

	if (!f->intx_pin)
		return;
	level = f->intx_level && !(vdev_pci_command(f) & VDEV_PCI_COMMAND_INTX_DISABLE);
	/* irq.c passes changes only to the host, so re-driving is cheap. */
	vdev_irq_intx_set(f->ctx, f->source_id, f->intx_pin, level);
}

int vdev_pci_func_new(vdev_ctx *ctx, const struct vdev_pci_func_opts *uopts,
		      vdev_pci_func **out)
{
	struct vdev_pci_func_opts o;
	vdev_pci_func *f;
	uint32_t size;

	if (!ctx || !uopts || !out)
		return -EINVAL;
	if (vdev__copy_sized(&o, sizeof(o), uopts))
		return -EINVAL;
	if (o.intx_pin > 4 || o.class_code > 0xffffffu || (o.flags & ~VDEV_PCI_F_EXPRESS))
		return -EINVAL;

	size = (o.flags & VDEV_PCI_F_EXPRESS) ? VDEV__PCIE_CFG_SIZE : VDEV__PCI_CFG_SIZE;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->cfg = calloc(4, size);
	if (!f->cfg) {
		free(f);
		return -ENOMEM;
	}
	f->wmask = f->cfg + size;
	f->w1c = f->wmask + size;
	f->init = f->w1c + size;
	f->cfg_size = size;
	f->ctx = ctx;
	f->source_id = o.source_id;
	f->flags = o.flags;
	f->intx_pin = o.intx_pin;
	f->config_written = o.config_written;
	f->config_read = o.config_read;
	f->opaque = o.opaque;
	f->cap_next = VDEV__PCI_CAP_START;
	f->msix_table_bar = -1;
	f->msix_pba_bar = -1;

	vdev__pci_cfg_init16(f, VDEV_PCI_VENDOR_ID, o.vendor_id, 0, 0);
	vdev__pci_cfg_init16(f, VDEV_PCI_DEVICE_ID, o.device_id, 0, 0);
	vdev__pci_cfg_init16(f, VDEV_PCI_COMMAND, 0, VDEV__PCI_COMMAND_WMASK, 0);
	vdev__pci_cfg_init16(f, VDEV_PCI_STATUS, 0, 0, VDEV__PCI_STATUS_RW1C);
	vdev__pci_cfg_init8(f, VDEV_PCI_REVISION_ID, o.revision, 0, 0);
	vdev__pci_cfg_init8(f, VDEV_PCI_CLASS_PROG, (uint8_t)o.class_code, 0, 0);
	vdev__pci_cfg_init16(f, VDEV_PCI_CLASS_PROG + 1, (uint16_t)(o.class_code >> 8), 0, 0);
	/* Linux and firmware program these; they have no effect on emulation. */
	vdev__pci_cfg_init8(f, VDEV__PCI_CACHE_LINE_SIZE, 0, 0xff, 0);
	vdev__pci_cfg_init8(f, VDEV__PCI_LATENCY_TIMER, 0, 0xff, 0);
	vdev__pci_cfg_init8(f, VDEV_PCI_HEADER_TYPE, 0, 0, 0);
	vdev__pci_cfg_init16(f, VDEV_PCI_SUBSYSTEM_VENDOR_ID, o.subsys_vendor_id, 0, 0);
	vdev__pci_cfg_init16(f, VDEV_PCI_SUBSYSTEM_ID, o.subsys_id, 0, 0);
	/* No expansion ROM: the register is hardwired to 0, so sizing sees none. */
	vdev__pci_cfg_init32(f, VDEV_PCI_ROM_ADDRESS, 0, 0, 0);
	/* Interrupt Line is plain storage for the OS; 0xff = "unknown". */
	vdev__pci_cfg_init8(f, VDEV_PCI_INTERRUPT_LINE, 0xff, 0xff, 0);
	vdev__pci_cfg_init8(f, VDEV_PCI_INTERRUPT_PIN, o.intx_pin, 0, 0);

	*out = f;
	return 0;
}

void vdev_pci_func_free(vdev_pci_func *f)
{
	if (!f)
		return;
	if (f->intx_pin)
		vdev_irq_intx_set(f->ctx, f->source_id, f->intx_pin, 0);
	free(f->msix_table);
	free(f->msix_pba);
	free(f->msix_irqfd);
	free(f->cfg);
	free(f);
}

void vdev_pci_func_reset(vdev_pci_func *f)
{
	if (!f)
		return;
	memcpy(f->cfg, f->init, f->cfg_size);
	vdev__msix_reset(f);
	f->intx_level = 0;
	vdev__pci_intx_redrive(f);
	vdev__pci_bars_update(f, 0);
}

int vdev_pci_config_read(vdev_pci_func *f, uint32_t offset, void *buf, size_t len)
{
	if (!f || (!buf && len))
		return -EINVAL;
	if (len > f->cfg_size || offset > f->cfg_size - len) {
		if (len)
			memset(buf, 0xff, len);
		return -ERANGE;
	}
	if (len) {
		memcpy(buf, f->cfg + offset, len);
		if (f->config_read)
			f->config_read(f->opaque, offset, buf, (uint32_t)len);
	}
	return 0;
}

int vdev_pci_config_write(vdev_pci_func *f, uint32_t offset, const void *buf, size_t len)
{
	const uint8_t *src = buf;
	uint16_t old_cmd;

	if (!f || (!buf && len))
		return -EINVAL;
	if (len > f->cfg_size || offset > f->cfg_size - len)
		return -ERANGE;
	if (!len)
		return 0;

	old_cmd = vdev_pci_command(f);
	for (size_t i = 0; i < len; i++) {
		uint32_t o = offset + (uint32_t)i;
		uint8_t v = src[i];

		f->cfg[o] = (uint8_t)((f->cfg[o] & ~f->wmask[o]) | (v & f->wmask[o]));
		f->cfg[o] &= (uint8_t)~(v & f->w1c[o]);
	}

	if ((old_cmd ^ vdev_pci_command(f)) & VDEV_PCI_COMMAND_INTX_DISABLE)
		vdev__pci_intx_redrive(f);
	vdev__pci_bars_update(f, 0);
	if (f->msi_off)
		vdev__msi_config_written(f);
	if (f->msix_off)
		vdev__msix_config_written(f);
	if (f->config_written)
		f->config_written(f->opaque, offset, (uint32_t)len);
	return 0;
}

uint16_t vdev_pci_command(vdev_pci_func *f)
{
	return f ? vdev__le16(f->cfg + VDEV_PCI_COMMAND) : 0;
}

int vdev_pci_intx_set(vdev_pci_func *f, int level)
{
	if (!f)
		return -EINVAL;
	if (!f->intx_pin)
		return -ENODEV;
	f->intx_level = !!level;
	vdev__pci_status_update(f, VDEV_PCI_STATUS_INTERRUPT, f->intx_level);
	vdev__pci_intx_redrive(f);
	return 0;
}
