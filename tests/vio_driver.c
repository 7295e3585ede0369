/* SPDX-License-Identifier: MIT */
/* The driver side of the virtio transports for tests; see vio_driver.h. */
#include "vio_driver.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PCI_VENDOR_VIRTIO 0x1af4
#define PCI_DEVICE_MODERN_BASE 0x1040
#define MMIO_MAGIC 0x74726976u

/* struct virtio_pci_cap offsets (§4.1.4). */
#define VCAP_LEN 2
#define VCAP_TYPE 3
#define VCAP_BAR 4
#define VCAP_OFFSET 8
#define VCAP_LENGTH 12
#define VCAP_EXTRA 16

static int fail(struct vio_dev *d, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct vio_dev *d, int rc, const char *fmt, ...)
{
	va_list ap;

	if (!d->err[0]) {
		va_start(ap, fmt);
		vsnprintf(d->err, sizeof(d->err), fmt, ap);
		va_end(ap);
	}
	return rc;
}

const char *vio_error(const struct vio_dev *d)
{
	return d->err;
}

/* ---- config space ---- */

static uint32_t cfg_read(struct vio_dev *d, uint32_t off, unsigned int len)
{
	uint8_t b[4] = { 0 };
	uint32_t v = 0;

	vdev_pci_config_read(d->f, off, b, len);
	for (unsigned int i = 0; i < len; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static void cfg_write(struct vio_dev *d, uint32_t off, uint32_t v, unsigned int len)
{
	uint8_t b[4];

	for (unsigned int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	vdev_pci_config_write(d->f, off, b, len);
}

void vio_pci_enable(struct vio_dev *d)
{
	uint16_t cmd = (uint16_t)cfg_read(d, VDEV_PCI_COMMAND, 2);

	cfg_write(d, VDEV_PCI_COMMAND, cmd | VDEV_PCI_COMMAND_MEMORY | VDEV_PCI_COMMAND_MASTER, 2);
}

/* ---- the PCI_CFG window (§4.1.4.9) ---- */

static void window_setup(struct vio_dev *d, uint8_t bar, uint32_t off, uint32_t len)
{
	uint8_t c = d->pcicfg.cap;

	cfg_write(d, c + VCAP_BAR, bar, 1);
	cfg_write(d, c + VCAP_OFFSET, off, 4);
	cfg_write(d, c + VCAP_LENGTH, len, 4);
}

uint32_t vio_window_read(struct vio_dev *d, uint8_t bar, uint32_t off, uint32_t len)
{
	uint32_t v;

	window_setup(d, bar, off, len);
	v = cfg_read(d, d->pcicfg.cap + VCAP_EXTRA, 4);
	return len == 4 ? v : v & ((1u << (8 * len)) - 1);
}

void vio_window_write(struct vio_dev *d, uint8_t bar, uint32_t off, uint32_t len, uint32_t v)
{
	window_setup(d, bar, off, len);
	cfg_write(d, d->pcicfg.cap + VCAP_EXTRA, v, len);
}

/* ---- structure access ---- */

static uint64_t st_read(struct vio_dev *d, const struct vio_cap *c, uint32_t off,
			unsigned int len)
{
	uint8_t b[8] = { 0 };
	uint64_t v = 0;

	if (d->flags & VIO_F_WINDOW) {
		if (len == 8)
			return vio_window_read(d, c->bar, c->offset + off, 4) |
			       ((uint64_t)vio_window_read(d, c->bar, c->offset + off + 4, 4) << 32);
		return vio_window_read(d, c->bar, c->offset + off, len);
	}
	vdev_pci_bar_read(d->f, c->bar, c->offset + off, b, len);
	for (unsigned int i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void st_write(struct vio_dev *d, const struct vio_cap *c, uint32_t off, uint64_t v,
		     unsigned int len)
{
	uint8_t b[8];

	if (d->flags & VIO_F_WINDOW) {
		if (len == 8) {
			vio_window_write(d, c->bar, c->offset + off, 4, (uint32_t)v);
			vio_window_write(d, c->bar, c->offset + off + 4, 4, (uint32_t)(v >> 32));
			return;
		}
		vio_window_write(d, c->bar, c->offset + off, len, (uint32_t)v);
		return;
	}
	for (unsigned int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	vdev_pci_bar_write(d->f, c->bar, c->offset + off, b, len);
}

static uint32_t mmio_read(struct vio_dev *d, uint32_t off)
{
	uint8_t b[4] = { 0 };

	vdev_virtio_mmio_read(d->vd, off, b, 4);
	return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
	       ((uint32_t)b[3] << 24);
}

static void mmio_write(struct vio_dev *d, uint32_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	vdev_virtio_mmio_write(d->vd, off, b, 4);
}

uint64_t vio_common_read(struct vio_dev *d, uint32_t off, unsigned int len)
{
	if (!d->is_pci)
		return mmio_read(d, off);
	return st_read(d, &d->common, off, len);
}

void vio_common_write(struct vio_dev *d, uint32_t off, uint64_t v, unsigned int len)
{
	if (!d->is_pci) {
		mmio_write(d, off, (uint32_t)v);
		return;
	}
	st_write(d, &d->common, off, v, len);
}

/* ---- discovery ---- */

static int read_vcap(struct vio_dev *d, uint8_t p, struct vio_cap *c)
{
	uint8_t len = (uint8_t)cfg_read(d, p + VCAP_LEN, 1);

	if (len < 16)
		return fail(d, -EPROTO, "vendor capability at 0x%x: length %u", p, len);
	if (c->present)
		return 0; /* §4.1.4: the first one of a type is the one to use */
	c->present = 1;
	c->cap = p;
	c->bar = (uint8_t)cfg_read(d, p + VCAP_BAR, 1);
	c->offset = cfg_read(d, p + VCAP_OFFSET, 4);
	c->length = cfg_read(d, p + VCAP_LENGTH, 4);
	return 0;
}

int vio_pci_init(struct vio_dev *d, vdev_pci_func *f, unsigned int flags)
{
	uint8_t p;
	int guard = 0, rc;

	memset(d, 0, sizeof(*d));
	d->is_pci = 1;
	d->f = f;
	d->flags = flags;
	d->msix_table_bar = -1;
	if (cfg_read(d, VDEV_PCI_VENDOR_ID, 2) != PCI_VENDOR_VIRTIO ||
	    cfg_read(d, VDEV_PCI_DEVICE_ID, 2) < PCI_DEVICE_MODERN_BASE ||
	    cfg_read(d, VDEV_PCI_REVISION_ID, 1) < 1)
		return fail(d, -ENODEV, "not a modern virtio-pci function");
	if (!(cfg_read(d, VDEV_PCI_STATUS, 2) & VDEV_PCI_STATUS_CAP_LIST))
		return fail(d, -ENODEV, "no capability list");
	for (p = (uint8_t)cfg_read(d, VDEV_PCI_CAPABILITY_LIST, 1); p && guard < 48; guard++) {
		uint8_t id = (uint8_t)cfg_read(d, p, 1);

		if (p < 0x40 || (p & 3))
			return fail(d, -EPROTO, "capability pointer 0x%x", p);
		if (id == VDEV_PCI_CAP_ID_MSIX) {
			uint32_t t = cfg_read(d, p + 4, 4);

			d->msix_cap = p;
			d->msix_size = (uint16_t)((cfg_read(d, p + 2, 2) & 0x7ff) + 1);
			d->msix_table_bar = (int)(t & 7);
			d->msix_table_off = t & ~7u;
		} else if (id == VDEV_PCI_CAP_ID_VNDR) {
			struct vio_cap *c = NULL;

			switch (cfg_read(d, p + VCAP_TYPE, 1)) {
			case VIO_PCI_CAP_COMMON:
				c = &d->common;
				break;
			case VIO_PCI_CAP_NOTIFY:
				c = &d->notify;
				break;
			case VIO_PCI_CAP_ISR:
				c = &d->isr;
				break;
			case VIO_PCI_CAP_DEVICE:
				c = &d->device;
				break;
			case VIO_PCI_CAP_PCI_CFG:
				c = &d->pcicfg;
				break;
			default:
				break; /* unknown types are skipped (§4.1.4) */
			}
			if (c) {
				int first = !c->present;

				rc = read_vcap(d, p, c);
				if (rc)
					return rc;
				if (first && c == &d->notify)
					d->notify_mult = cfg_read(d, p + VCAP_EXTRA, 4);
			}
		}
		p = (uint8_t)cfg_read(d, p + 1, 1);
	}
	if (!d->common.present || !d->notify.present || !d->isr.present)
		return fail(d, -EPROTO, "missing common/notify/ISR capability");
	if ((flags & VIO_F_WINDOW) && !d->pcicfg.present)
		return fail(d, -EPROTO, "no PCI_CFG capability for window access");
	return 0;
}

int vio_mmio_init(struct vio_dev *d, vdev_virtio *vd)
{
	memset(d, 0, sizeof(*d));
	d->vd = vd;
	if (mmio_read(d, VIO_MMIO_MAGIC) != MMIO_MAGIC)
		return fail(d, -ENODEV, "bad magic");
	if (mmio_read(d, VIO_MMIO_VERSION) != 2)
		return fail(d, -ENODEV, "version %u", mmio_read(d, VIO_MMIO_VERSION));
	if (!mmio_read(d, VIO_MMIO_DEVICE_ID))
		return fail(d, -ENODEV, "device ID 0 (placeholder)");
	return 0;
}

/* ---- status and features ---- */

uint8_t vio_get_status(struct vio_dev *d)
{
	return (uint8_t)vio_common_read(d, d->is_pci ? VIO_CC_STATUS : VIO_MMIO_STATUS, 1);
}

void vio_set_status(struct vio_dev *d, uint8_t status)
{
	vio_common_write(d, d->is_pci ? VIO_CC_STATUS : VIO_MMIO_STATUS, status, 1);
}

void vio_reset(struct vio_dev *d)
{
	vio_set_status(d, 0);
	/* §4.1.4.3.2: the driver waits for device_status to read 0. */
	for (int i = 0; i < 1000 && vio_get_status(d); i++)
		;
}

uint64_t vio_device_features(struct vio_dev *d)
{
	uint32_t sel = d->is_pci ? VIO_CC_DFSELECT : VIO_MMIO_DEV_FEATURES_SEL;
	uint32_t reg = d->is_pci ? VIO_CC_DF : VIO_MMIO_DEV_FEATURES;
	uint64_t f;

	vio_common_write(d, sel, 0, 4);
	f = (uint32_t)vio_common_read(d, reg, 4);
	vio_common_write(d, sel, 1, 4);
	f |= vio_common_read(d, reg, 4) << 32;
	return f;
}

void vio_write_features(struct vio_dev *d, uint64_t features)
{
	uint32_t sel = d->is_pci ? VIO_CC_GFSELECT : VIO_MMIO_DRV_FEATURES_SEL;
	uint32_t reg = d->is_pci ? VIO_CC_GF : VIO_MMIO_DRV_FEATURES;

	vio_common_write(d, sel, 0, 4);
	vio_common_write(d, reg, (uint32_t)features, 4);
	vio_common_write(d, sel, 1, 4);
	vio_common_write(d, reg, (uint32_t)(features >> 32), 4);
}

uint64_t vio_read_driver_features(struct vio_dev *d)
{
	uint64_t f;

	vio_common_write(d, VIO_CC_GFSELECT, 0, 4);
	f = (uint32_t)vio_common_read(d, VIO_CC_GF, 4);
	vio_common_write(d, VIO_CC_GFSELECT, 1, 4);
	return f | (vio_common_read(d, VIO_CC_GF, 4) << 32);
}

uint32_t vio_config_generation(struct vio_dev *d)
{
	if (d->is_pci)
		return (uint32_t)vio_common_read(d, VIO_CC_CFGGEN, 1);
	return mmio_read(d, VIO_MMIO_CONFIG_GEN);
}

void vio_select_queue(struct vio_dev *d, uint32_t q)
{
	if (d->is_pci)
		vio_common_write(d, VIO_CC_Q_SELECT, q, 2);
	else
		mmio_write(d, VIO_MMIO_QUEUE_SEL, q);
}

uint32_t vio_num_queues(struct vio_dev *d)
{
	uint32_t n = 0;

	if (d->is_pci)
		return (uint32_t)vio_common_read(d, VIO_CC_NUMQ, 2);
	/* virtio-mmio has no count: probe until QueueNumMax reads 0. */
	for (; n < 1024; n++) {
		mmio_write(d, VIO_MMIO_QUEUE_SEL, n);
		if (!mmio_read(d, VIO_MMIO_QUEUE_NUM_MAX))
			break;
	}
	return n;
}

uint32_t vio_queue_max(struct vio_dev *d, uint32_t q)
{
	vio_select_queue(d, q);
	if (d->is_pci)
		return (uint32_t)vio_common_read(d, VIO_CC_Q_SIZE, 2);
	return mmio_read(d, VIO_MMIO_QUEUE_NUM_MAX);
}

int vio_negotiate(struct vio_dev *d, uint64_t want)
{
	uint8_t st;

	vio_reset(d);
	vio_set_status(d, VDEV_VIRTIO_STATUS_ACKNOWLEDGE);
	vio_set_status(d, VDEV_VIRTIO_STATUS_ACKNOWLEDGE | VDEV_VIRTIO_STATUS_DRIVER);
	want &= vio_device_features(d);
	vio_write_features(d, want);
	vio_set_status(d, VDEV_VIRTIO_STATUS_ACKNOWLEDGE | VDEV_VIRTIO_STATUS_DRIVER |
			  VDEV_VIRTIO_STATUS_FEATURES_OK);
	st = vio_get_status(d);
	if (!(st & VDEV_VIRTIO_STATUS_FEATURES_OK)) {
		vio_set_status(d, st | VDEV_VIRTIO_STATUS_FAILED);
		return fail(d, -EPROTO, "device refused features 0x%llx",
			    (unsigned long long)want);
	}
	d->features = want;
	return 0;
}

/* ---- queues ---- */

static void addr_write(struct vio_dev *d, uint32_t cc, uint32_t mmio_lo, uint64_t a)
{
	if (d->is_pci) {
		/* Linux writes the 64-bit fields as two 32-bit halves. */
		vio_common_write(d, cc, (uint32_t)a, 4);
		vio_common_write(d, cc + 4, (uint32_t)(a >> 32), 4);
	} else {
		mmio_write(d, mmio_lo, (uint32_t)a);
		mmio_write(d, mmio_lo + 4, (uint32_t)(a >> 32));
	}
}

int vio_queue_setup(struct vio_dev *d, uint32_t q, const struct vdrv_vq *vq, uint16_t vector)
{
	uint32_t en;

	vio_select_queue(d, q);
	if (d->is_pci) {
		vio_common_write(d, VIO_CC_Q_SIZE, vq->size, 2);
	} else {
		mmio_write(d, VIO_MMIO_QUEUE_NUM, vq->size);
	}
	addr_write(d, VIO_CC_Q_DESC, VIO_MMIO_QUEUE_DESC_LO, vq->desc_gpa);
	addr_write(d, VIO_CC_Q_DRIVER, VIO_MMIO_QUEUE_DRIVER_LO, vq->driver_gpa);
	addr_write(d, VIO_CC_Q_DEVICE, VIO_MMIO_QUEUE_DEVICE_LO, vq->device_gpa);
	if (d->is_pci) {
		if (vector != VIO_NO_VECTOR) {
			vio_common_write(d, VIO_CC_Q_MSIX, vector, 2);
			if (vio_common_read(d, VIO_CC_Q_MSIX, 2) != vector)
				return fail(d, -EIO, "queue %u: vector %u not taken", q, vector);
		}
		vio_common_write(d, VIO_CC_Q_ENABLE, 1, 2);
		en = (uint32_t)vio_common_read(d, VIO_CC_Q_ENABLE, 2);
	} else {
		mmio_write(d, VIO_MMIO_QUEUE_READY, 1);
		en = mmio_read(d, VIO_MMIO_QUEUE_READY);
	}
	return en == 1 ? 0 : fail(d, -EIO, "queue %u did not enable", q);
}

int vio_queue_reset(struct vio_dev *d, uint32_t q)
{
	uint32_t r, en;

	vio_select_queue(d, q);
	if (d->is_pci) {
		vio_common_write(d, VIO_CC_Q_RESET, 1, 2);
		r = (uint32_t)vio_common_read(d, VIO_CC_Q_RESET, 2);
		en = (uint32_t)vio_common_read(d, VIO_CC_Q_ENABLE, 2);
	} else {
		mmio_write(d, VIO_MMIO_QUEUE_RESET, 1);
		r = mmio_read(d, VIO_MMIO_QUEUE_RESET);
		en = mmio_read(d, VIO_MMIO_QUEUE_READY);
	}
	/* §2.6.1: done when queue_reset and queue_enable both read 0. */
	return !r && !en ? 0 : fail(d, -EIO, "queue %u: reset %u enable %u", q, r, en);
}

void vio_driver_ok(struct vio_dev *d)
{
	vio_set_status(d, vio_get_status(d) | VDEV_VIRTIO_STATUS_DRIVER_OK);
}

void vio_kick(struct vio_dev *d, uint32_t q, const struct vdrv_vq *vq)
{
	int data = vq && (d->features & (1ull << VDEV_VIRTIO_F_NOTIFICATION_DATA));
	uint32_t v = q;
	uint32_t noff;

	if (data)
		v |= vdrv_notify_data(vq) << 16; /* §4.1.5.2 */
	if (!d->is_pci) {
		mmio_write(d, VIO_MMIO_QUEUE_NOTIFY, v);
		return;
	}
	vio_select_queue(d, q);
	noff = (uint32_t)vio_common_read(d, VIO_CC_Q_NOFF, 2);
	st_write(d, &d->notify, noff * d->notify_mult, v, data ? 4 : 2);
}

uint8_t vio_isr(struct vio_dev *d)
{
	uint32_t v;

	if (d->is_pci)
		return (uint8_t)st_read(d, &d->isr, 0, 1);
	v = mmio_read(d, VIO_MMIO_INT_STATUS);
	mmio_write(d, VIO_MMIO_INT_ACK, v);
	return (uint8_t)v;
}

void vio_config_read(struct vio_dev *d, uint32_t off, void *buf, uint32_t len)
{
	uint8_t *b = buf;

	for (uint32_t i = 0; i < len; i++) {
		if (d->is_pci)
			b[i] = (uint8_t)st_read(d, &d->device, off + i, 1);
		else
			vdev_virtio_mmio_read(d->vd, VIO_MMIO_CONFIG + off + i, b + i, 1);
	}
}

/* ---- MSI-X ---- */

static void bar_write32(struct vio_dev *d, int bar, uint64_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	vdev_pci_bar_write(d->f, bar, off, b, 4);
}

void vio_msix_vector(struct vio_dev *d, unsigned int v, uint64_t addr, uint32_t data)
{
	uint64_t e = d->msix_table_off + (uint64_t)v * 16;

	bar_write32(d, d->msix_table_bar, e, (uint32_t)addr);
	bar_write32(d, d->msix_table_bar, e + 4, (uint32_t)(addr >> 32));
	bar_write32(d, d->msix_table_bar, e + 8, data);
	bar_write32(d, d->msix_table_bar, e + 12, 0);
}

void vio_msix_mask(struct vio_dev *d, unsigned int v, int masked)
{
	bar_write32(d, d->msix_table_bar, d->msix_table_off + (uint64_t)v * 16 + 12, !!masked);
}

void vio_msix_enable(struct vio_dev *d, int on)
{
	uint16_t ctrl = (uint16_t)cfg_read(d, d->msix_cap + 2, 2);

	ctrl = on ? (uint16_t)(ctrl | 0x8000) : (uint16_t)(ctrl & ~0x8000);
	cfg_write(d, d->msix_cap + 2, ctrl, 2);
}

void vio_set_config_vector(struct vio_dev *d, uint16_t v)
{
	vio_common_write(d, VIO_CC_MSIX, v, 2);
}

uint16_t vio_get_config_vector(struct vio_dev *d)
{
	return (uint16_t)vio_common_read(d, VIO_CC_MSIX, 2);
}

uint16_t vio_get_queue_vector(struct vio_dev *d, uint32_t q)
{
	vio_select_queue(d, q);
	return (uint16_t)vio_common_read(d, VIO_CC_Q_MSIX, 2);
}

void vio_set_queue_vector(struct vio_dev *d, uint32_t q, uint16_t v)
{
	vio_select_queue(d, q);
	vio_common_write(d, VIO_CC_Q_MSIX, v, 2);
}
