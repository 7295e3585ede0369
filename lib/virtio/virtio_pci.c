/* SPDX-License-Identifier: MIT */
/*
 * virtio-pci modern (VIRTIO 1.2 §4.1), non-transitional: vendor 0x1af4,
 * device 0x1040 + device ID, revision 1.
 *
 * Layout:
 *   BAR4 (64-bit memory, 16 KiB)     0x0000 common configuration  (§4.1.4.3)
 *                                    0x1000 ISR status            (§4.1.4.5)
 *                                    0x2000 device configuration  (§4.1.4.6)
 *                                    0x3000 notifications         (§4.1.4.4)
 *   BAR1 (32-bit memory)             MSI-X table, then its PBA
 * Each structure starts on its own 4 KiB page so a VMM can map or trap
 * them separately. BAR4 is not prefetchable: reading the ISR clears it,
 * and prefetchable space must be free of read side effects (PCI 3.0
 * §6.2.5.1). notify_off_multiplier is 4 and queue_notify_off is the queue
 * index: each queue has its own 4-byte doorbell at 0x3000 + 4 * index, so
 * a VMM can bind each one to its own ioeventfd without datamatch.
 *
 * Capabilities: COMMON, NOTIFY, ISR, DEVICE (when the device has
 * configuration), PCI_CFG (§4.1.4.9: a window into the BARs through
 * config space, which firmware such as SeaBIOS uses in 16-bit mode), then
 * MSI-X, and the PCI Express capability on an Express function.
 *
 * Access widths: the driver must use each common-config field's natural
 * width (§4.1.3.1); 64-bit fields may be written as two 32-bit halves.
 * Reads of any width return the bytes of the fields they cover; writes of
 * another width are ignored (logged once).
 *
 * Interrupts (§4.1.5.3, §4.1.5.4): every event sets its ISR bit. With
 * MSI-X enabled the event's vector is signalled (none for NO_VECTOR);
 * otherwise INTx is asserted, and deasserted by the read that clears ISR.
 */
#include <errno.h>
#include <stdlib.h>

#include "virtio/virtio_internal.h"

#define VPCI_VENDOR 0x1af4u
#define VPCI_DEVICE_BASE 0x1040u
#define VPCI_REVISION 1

#define VPCI_BAR 4
#define VPCI_BAR_SIZE 0x4000u
#define VPCI_COMMON 0x0000u
#define VPCI_COMMON_LEN 0x3cu /* through queue_reset (1.2) */
#define VPCI_ISR 0x1000u
#define VPCI_ISR_LEN 1u
#define VPCI_DEVICE 0x2000u
#define VPCI_NOTIFY 0x3000u
#define VPCI_NOTIFY_MULT 4u
#define VPCI_MSIX_BAR 1

/* cfg_type values (§4.1.4). */
#define VPCI_CAP_COMMON 1
#define VPCI_CAP_NOTIFY 2
#define VPCI_CAP_ISR 3
#define VPCI_CAP_DEVICE 4
#define VPCI_CAP_PCI_CFG 5

/* struct virtio_pci_cap offsets from the capability start. */
#define VCAP_LEN 2
#define VCAP_TYPE 3
#define VCAP_BAR 4
#define VCAP_OFFSET 8
#define VCAP_LENGTH 12
#define VCAP_SIZE 16
#define VCAP_EXTRA 16 /* notify_off_multiplier / pci_cfg_data */

/* ISR bits (§4.1.4.5). */
#define VPCI_ISR_QUEUE 0x1u
#define VPCI_ISR_CONFIG 0x2u

/* Common configuration field offsets (§4.1.4.3). */
enum {
	CC_DFSELECT = 0x00,
	CC_DF = 0x04,
	CC_GFSELECT = 0x08,
	CC_GF = 0x0c,
	CC_MSIX = 0x10,
	CC_NUMQ = 0x12,
	CC_STATUS = 0x14,
	CC_CFGGEN = 0x15,
	CC_Q_SELECT = 0x16,
	CC_Q_SIZE = 0x18,
	CC_Q_MSIX = 0x1a,
	CC_Q_ENABLE = 0x1c,
	CC_Q_NOFF = 0x1e,
	CC_Q_DESC = 0x20,
	CC_Q_DRIVER = 0x28,
	CC_Q_DEVICE = 0x30,
	CC_Q_NDATA = 0x38,
	CC_Q_RESET = 0x3a,
};

static const struct {
	uint8_t off, size;
} cc_fields[] = {
	{ CC_DFSELECT, 4 }, { CC_DF, 4 },	 { CC_GFSELECT, 4 }, { CC_GF, 4 },
	{ CC_MSIX, 2 },	    { CC_NUMQ, 2 },	 { CC_STATUS, 1 },   { CC_CFGGEN, 1 },
	{ CC_Q_SELECT, 2 }, { CC_Q_SIZE, 2 },	 { CC_Q_MSIX, 2 },   { CC_Q_ENABLE, 2 },
	{ CC_Q_NOFF, 2 },   { CC_Q_DESC, 8 },	 { CC_Q_DRIVER, 8 }, { CC_Q_DEVICE, 8 },
	{ CC_Q_NDATA, 2 },  { CC_Q_RESET, 2 },
};

struct vpci {
	vdev_virtio *vd;
	vdev_pci_func *f;
	uint8_t isr;
	uint8_t cfg_cap;  /* offset of the PCI_CFG capability */
	int in_window;    /* a window access is running: config reads are raw */
};

/* ---- interrupts ---- */

static void vpci_raise(struct vpci *p, uint16_t vector)
{
	if (vdev_pci_irq_mode(p->f) == VDEV_PCI_IRQ_MSIX) {
		if (vector != VDEV__VIRTIO_NO_VECTOR)
			vdev_pci_notify(p->f, vector);
		return;
	}
	vdev_pci_intx_set(p->f, 1);
}

static void vpci_queue_irq(vdev_virtio *vd, unsigned int index)
{
	struct vpci *p = vd->tr_priv;

	p->isr |= VPCI_ISR_QUEUE;
	vpci_raise(p, vd->queues[index].vector);
}

static void vpci_config_irq(vdev_virtio *vd)
{
	struct vpci *p = vd->tr_priv;

	p->isr |= VPCI_ISR_CONFIG;
	vpci_raise(p, vd->config_vector);
}

static uint8_t vpci_isr_read(struct vpci *p)
{
	uint8_t v = p->isr;

	/* §4.1.4.5.1: the read clears ISR and deasserts the INTx interrupt. */
	p->isr = 0;
	vdev_pci_intx_set(p->f, 0);
	return v;
}

static void vpci_reset(vdev_virtio *vd)
{
	struct vpci *p = vd->tr_priv;

	p->isr = 0;
	vdev_pci_intx_set(p->f, 0);
}

/* ---- common configuration ---- */

static int cc_field(uint32_t off)
{
	for (unsigned int i = 0; i < VDEV__ARRAY_SIZE(cc_fields); i++)
		if (off >= cc_fields[i].off && off < (uint32_t)cc_fields[i].off + cc_fields[i].size)
			return (int)i;
	return -1;
}

static uint64_t cc_value(struct vpci *p, unsigned int field)
{
	vdev_virtio *vd = p->vd;
	struct vdev__virtio_queue *q = vdev__virtio_selq(vd);

	switch (field) {
	case CC_DFSELECT:
		return vd->dev_feature_sel;
	case CC_DF:
		return vdev__virtio_device_features_read(vd);
	case CC_GFSELECT:
		return vd->drv_feature_sel;
	case CC_GF:
		return vdev__virtio_driver_features_read(vd);
	case CC_MSIX:
		return vd->config_vector;
	case CC_NUMQ:
		return vd->ops.num_queues;
	case CC_STATUS:
		return vd->status;
	case CC_CFGGEN:
		return (uint8_t)vd->config_gen;
	case CC_Q_SELECT:
		return vd->queue_sel;
	case CC_Q_SIZE:
		return q ? q->size : 0; /* 0: the queue is not available */
	case CC_Q_MSIX:
		return q ? q->vector : VDEV__VIRTIO_NO_VECTOR;
	case CC_Q_ENABLE:
		return q ? q->enabled : 0;
	case CC_Q_NOFF:
		return q ? q->index : 0;
	case CC_Q_DESC:
		return q ? q->desc : 0;
	case CC_Q_DRIVER:
		return q ? q->driver : 0;
	case CC_Q_DEVICE:
		return q ? q->device : 0;
	default:
		/* queue_notify_data: no VIRTIO_F_NOTIF_CONFIG_DATA; queue_reset:
		 * our reset completes within the write, so it reads 0. */
		return 0;
	}
}

static uint64_t cc_read(struct vpci *p, uint32_t off, unsigned int size)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < size; i++) {
		int fi = cc_field(off + i);
		unsigned int shift;

		if (fi < 0)
			continue;
		shift = 8 * (off + i - cc_fields[fi].off);
		v |= ((cc_value(p, cc_fields[fi].off) >> shift) & 0xff) << (8 * i);
	}
	return v;
}

static void cc_store(struct vpci *p, unsigned int field, uint64_t v, uint64_t mask)
{
	vdev_virtio *vd = p->vd;
	struct vdev__virtio_queue *q;

	switch (field) {
	case CC_DFSELECT:
		vd->dev_feature_sel = (uint32_t)v;
		break;
	case CC_GFSELECT:
		vd->drv_feature_sel = (uint32_t)v;
		break;
	case CC_GF:
		vdev__virtio_driver_features_write(vd, (uint32_t)v);
		break;
	case CC_MSIX:
		vd->config_vector = vdev__virtio_vector_check(vd, (uint16_t)v);
		break;
	case CC_STATUS:
		vdev__virtio_status_write(vd, (uint8_t)v);
		break;
	case CC_Q_SELECT:
		vd->queue_sel = (uint16_t)v;
		break;
	case CC_Q_SIZE:
		vdev__virtio_queue_size_write(vd, (uint16_t)v);
		break;
	case CC_Q_MSIX:
		q = vdev__virtio_selq(vd);
		if (q)
			q->vector = vdev__virtio_vector_check(vd, (uint16_t)v);
		break;
	case CC_Q_ENABLE:
		vdev__virtio_queue_enable_write(vd, (uint16_t)v);
		break;
	case CC_Q_DESC:
		vdev__virtio_queue_addr_write(vd, VDEV__VADDR_DESC, v, mask);
		break;
	case CC_Q_DRIVER:
		vdev__virtio_queue_addr_write(vd, VDEV__VADDR_DRIVER, v, mask);
		break;
	case CC_Q_DEVICE:
		vdev__virtio_queue_addr_write(vd, VDEV__VADDR_DEVICE, v, mask);
		break;
	case CC_Q_RESET:
		vdev__virtio_queue_reset_write(vd, (uint16_t)v);
		break;
	default:
		break; /* read-only: device_feature, num_queues, config_generation, ... */
	}
}

static void cc_write(struct vpci *p, uint32_t off, uint64_t v, unsigned int size)
{
	int fi = cc_field(off);
	unsigned int fo, fs, shift;

	if (fi < 0)
		return;
	fo = cc_fields[fi].off;
	fs = cc_fields[fi].size;
	if (off == fo && size == fs) {
		cc_store(p, fo, v, ~0ull);
		return;
	}
	/* 64-bit fields: the driver may write them as two 32-bit halves. */
	if (fs == 8 && size == 4 && (off == fo || off == fo + 4)) {
		shift = 8 * (off - fo);
		cc_store(p, fo, v << shift, 0xffffffffull << shift);
		return;
	}
	vdev__virtio_log_once(p->vd, VDEV__VONCE_BAD_ACCESS, VDEV_LOG_WARN,
			      "common config: %u-byte write at 0x%x ignored (field is %u bytes "
			      "at 0x%x)", size, off, fs, fo);
}

/* ---- BAR4 ---- */

static uint64_t vpci_bar_read(void *opaque, uint64_t off, unsigned int size)
{
	struct vpci *p = opaque;
	uint8_t buf[8];
	uint64_t v = 0;

	if (off < VPCI_COMMON + VPCI_COMMON_LEN)
		return cc_read(p, (uint32_t)off, size);
	if (off == VPCI_ISR)
		return vpci_isr_read(p);
	if (off >= VPCI_DEVICE && off < VPCI_NOTIFY) {
		vdev__virtio_config_read(p->vd, (uint32_t)(off - VPCI_DEVICE), buf, size);
		for (unsigned int i = 0; i < size; i++)
			v |= (uint64_t)buf[i] << (8 * i);
	}
	return v; /* else: padding, the rest of the ISR page, the doorbells */
}

static void vpci_notify_write(struct vpci *p, uint64_t off, uint64_t v, unsigned int size)
{
	uint64_t rel = off - VPCI_NOTIFY;

	/* §4.1.5.2: a 16-bit queue index, or 32 bits with NOTIFICATION_DATA. */
	if ((rel % VPCI_NOTIFY_MULT) || (size != 2 && size != 4)) {
		vdev__virtio_log_once(p->vd, VDEV__VONCE_BAD_ACCESS, VDEV_LOG_WARN,
				      "notify: %u-byte write at 0x%llx ignored", size,
				      (unsigned long long)off);
		return;
	}
	/* The address names the queue; the value's queue number is redundant. */
	vdev__virtio_notify(p->vd, (unsigned int)(rel / VPCI_NOTIFY_MULT), size == 4,
			    (uint32_t)(v >> 16));
}

static void vpci_bar_write(void *opaque, uint64_t off, uint64_t v, unsigned int size)
{
	struct vpci *p = opaque;
	uint8_t buf[8];

	if (off < VPCI_COMMON + VPCI_COMMON_LEN) {
		cc_write(p, (uint32_t)off, v, size);
	} else if (off >= VPCI_DEVICE && off < VPCI_NOTIFY) {
		for (unsigned int i = 0; i < size; i++)
			buf[i] = (uint8_t)(v >> (8 * i));
		vdev__virtio_config_write(p->vd, (uint32_t)(off - VPCI_DEVICE), buf, size);
	} else if (off >= VPCI_NOTIFY) {
		vpci_notify_write(p, off, v, size);
	}
}

static const struct vdev_pci_bar_ops vpci_bar_ops = {
	.struct_size = sizeof(struct vdev_pci_bar_ops),
	.read = vpci_bar_read,
	.write = vpci_bar_write,
	.max_access = 8,
};

/* ---- the PCI configuration access window (§4.1.4.9) ---- */

/*
 * Run the access the window describes: cap.length (1, 2 or 4) bytes at
 * cap.offset (a multiple of the length) of BAR cap.bar, through the same
 * path as a guest BAR access. @data is pci_cfg_data: read from config
 * space, and for a read the first cap.length bytes are replaced.
 */
static void window_access(struct vpci *p, uint8_t data[4], int is_write)
{
	uint8_t raw[VCAP_SIZE + 4], tmp[4];
	uint32_t off, len;
	int rc = -EINVAL;

	p->in_window = 1;
	vdev_pci_config_read(p->f, p->cfg_cap, raw, sizeof(raw));
	memcpy(data, raw + VCAP_EXTRA, 4);
	off = vdev__le32(raw + VCAP_OFFSET);
	len = vdev__le32(raw + VCAP_LENGTH);
	if ((len == 1 || len == 2 || len == 4) && !(off % len)) {
		if (is_write) {
			rc = vdev_pci_bar_write(p->f, raw[VCAP_BAR], off, data, len);
		} else {
			rc = vdev_pci_bar_read(p->f, raw[VCAP_BAR], off, tmp, len);
			if (!rc)
				memcpy(data, tmp, len);
		}
	}
	/*
	 * Length 0 is the window at rest: a config-space dump (lspci -xxx,
	 * QEMU's vfio set-up) reads pci_cfg_data without meaning an access.
	 */
	if (rc && len)
		vdev__virtio_log_once(p->vd, VDEV__VONCE_WINDOW, VDEV_LOG_WARN,
				      "PCI_CFG window: %s of %u bytes at BAR%u+0x%x ignored",
				      is_write ? "write" : "read", len, raw[VCAP_BAR], off);
	p->in_window = 0;
}

static int window_hit(const struct vpci *p, uint32_t off, uint32_t len)
{
	uint32_t d = (uint32_t)p->cfg_cap + VCAP_EXTRA;

	return p->cfg_cap && !p->in_window && off < d + 4 && off + len > d;
}

static void vpci_config_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
	struct vpci *p = opaque;
	uint32_t d = (uint32_t)p->cfg_cap + VCAP_EXTRA;
	uint8_t data[4];

	if (!window_hit(p, off, len))
		return;
	window_access(p, data, 0);
	for (uint32_t i = 0; i < 4; i++)
		if (d + i >= off && d + i < off + len)
			((uint8_t *)buf)[d + i - off] = data[i];
}

static void vpci_config_written(void *opaque, uint32_t off, uint32_t len)
{
	struct vpci *p = opaque;
	uint8_t data[4];

	if (window_hit(p, off, len))
		window_access(p, data, 1);
}

/* ---- doorbells ---- */

static int vpci_doorbell(vdev_virtio *vd, unsigned int index, struct vdev_virtio_doorbell *db)
{
	int data = vdev__virtio_has(vd, VDEV_VIRTIO_F_NOTIFICATION_DATA);

	db->bar = VPCI_BAR;
	db->is_io = 0;
	db->offset = VPCI_NOTIFY + (uint64_t)index * VPCI_NOTIFY_MULT;
	db->size = data ? 4 : 2;
	db->datamatch = index;
	db->has_datamatch = !data;
	return 0;
}

/* ---- state ---- */

#define TAG_TPCI VDEV_STATE_TAG('T', 'P', 'C', 'I')
#define TAG_ISR VDEV_STATE_TAG('I', 'S', 'R', ' ')
#define TAG_PCIF VDEV_STATE_TAG('P', 'C', 'I', 'F')

struct vpci_stage {
	uint8_t isr;
	struct vdev__virtio_blob func;   /* the PCI function, from the stream */
	vdev_state_writer *snapshot;     /* the function as it was, for revert */
};

static int vpci_save(vdev_virtio *vd, vdev_state_writer *w)
{
	struct vpci *p = vd->tr_priv;
	int rc;

	rc = vdev_state_put_u8(w, TAG_ISR, p->isr);
	if (!rc)
		rc = vdev_pci_func_save(p->f, w);
	return rc;
}

static void vpci_load_free(void *stage)
{
	struct vpci_stage *st = stage;

	if (!st)
		return;
	vdev__virtio_blob_free(&st->func);
	vdev_state_writer_free(st->snapshot);
	free(st);
}

static int vpci_load_stage(vdev_virtio *vd, vdev_state_reader *r, void **out)
{
	struct vdev_state_record rec;
	struct vpci_stage *st;
	int rc, seen_isr = 0;
	uint64_t v;

	(void)vd;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	*out = st;
	while ((rc = vdev_state_next(r, &rec)) > 0) {
		if (rec.tag == TAG_ISR) {
			if (seen_isr++ || rec.type != VDEV_STATE_U8 ||
			    vdev_state_record_uint(&rec, &v))
				return vdev_state_fail(r, -EBADMSG, "virtio-pci: bad ISR record");
			if (v & ~(uint64_t)(VPCI_ISR_QUEUE | VPCI_ISR_CONFIG))
				return vdev_state_fail(r, -ERANGE, "virtio-pci: ISR 0x%llx invalid",
						       (unsigned long long)v);
			st->isr = (uint8_t)v;
		} else if (rec.tag == TAG_PCIF && rec.type == VDEV_STATE_SECTION) {
			if (st->func.data)
				return vdev_state_fail(r, -EBADMSG,
						       "virtio-pci: duplicate PCI function");
			rc = vdev__virtio_record_blob(&rec, &st->func);
			if (rc)
				return rc;
		} else if (rec.flags & VDEV_STATE_F_REQUIRED) {
			return vdev_state_fail(r, -EPROTONOSUPPORT,
					       "virtio-pci: unknown required record 0x%08x",
					       rec.tag);
		}
	}
	if (rc < 0)
		return rc;
	if (!seen_isr || !st->func.data)
		return vdev_state_fail(r, -EBADMSG, "virtio-pci: transport state incomplete");
	return 0;
}

static int func_load_blob(vdev_pci_func *f, const void *data, size_t len,
			  vdev_state_reader **rr)
{
	int rc = vdev_state_reader_new(data, len, rr);

	return rc ? rc : vdev_pci_func_load(f, *rr);
}

/* The PCI function validates its own state while loading: keep a snapshot to undo it. */
static int vpci_load_apply(vdev_virtio *vd, void *stage, vdev_state_reader *r)
{
	struct vpci *p = vd->tr_priv;
	struct vpci_stage *st = stage;
	vdev_state_reader *r2 = NULL;
	int rc;

	rc = vdev_state_writer_new(&st->snapshot);
	if (!rc)
		rc = vdev_pci_func_save(p->f, st->snapshot);
	if (rc)
		return rc;
	rc = func_load_blob(p->f, st->func.data, st->func.len, &r2);
	if (rc)
		rc = vdev__virtio_fail_from(r, rc, "virtio-pci: PCI function", r2);
	vdev_state_reader_free(r2);
	return rc;
}

static void vpci_load_revert(vdev_virtio *vd, void *stage)
{
	struct vpci *p = vd->tr_priv;
	struct vpci_stage *st = stage;
	vdev_state_reader *r2 = NULL;
	const void *data;
	size_t len;

	if (!st->snapshot || vdev_state_writer_finish(st->snapshot, &data, &len))
		return;
	if (func_load_blob(p->f, data, len, &r2))
		vdev__virtio_log(vd, VDEV_LOG_ERROR, "PCI function: could not undo a load");
	vdev_state_reader_free(r2);
}

static void vpci_load_commit(vdev_virtio *vd, void *stage)
{
	struct vpci *p = vd->tr_priv;
	struct vpci_stage *st = stage;

	p->isr = st->isr;
}

static void vpci_free(vdev_virtio *vd)
{
	struct vpci *p = vd->tr_priv;

	vdev_pci_func_free(p->f);
	free(p);
}

static const struct vdev__virtio_transport vpci_transport = {
	.state_tag = TAG_TPCI,
	.queue_irq = vpci_queue_irq,
	.config_irq = vpci_config_irq,
	.reset = vpci_reset,
	.doorbell = vpci_doorbell,
	.save = vpci_save,
	.load_stage = vpci_load_stage,
	.load_apply = vpci_load_apply,
	.load_revert = vpci_load_revert,
	.load_commit = vpci_load_commit,
	.load_free = vpci_load_free,
	.free = vpci_free,
};

/* ---- construction ---- */

/* PCI class by device type; "other" unless a class fits (QEMU's choices). */
static uint32_t vpci_class(uint32_t device_id)
{
	switch (device_id) {
	case VDEV_VIRTIO_ID_NET:
		return 0x020000; /* network, Ethernet */
	case VDEV_VIRTIO_ID_BLOCK:
	case VDEV_VIRTIO_ID_SCSI:
		return 0x010000; /* mass storage, SCSI */
	case VDEV_VIRTIO_ID_CONSOLE:
		return 0x078000; /* communication, other */
	default:
		return 0xff0000; /* device does not fit a defined class */
	}
}

static int vcap_add(vdev_pci_func *f, uint8_t type, uint32_t off, uint32_t len,
		    const uint8_t *extra, int window, uint8_t *at)
{
	uint8_t body[VCAP_SIZE + 4 - 2] = { 0 }, wmask[VCAP_SIZE + 4 - 2] = { 0 };
	size_t blen = VCAP_SIZE - 2;

	body[VCAP_LEN - 2] = (uint8_t)(extra || window ? VCAP_SIZE + 4 : VCAP_SIZE);
	body[VCAP_TYPE - 2] = type;
	body[VCAP_BAR - 2] = window ? 0 : VPCI_BAR;
	vdev__put_le32(body + VCAP_OFFSET - 2, off);
	vdev__put_le32(body + VCAP_LENGTH - 2, len);
	if (extra || window) {
		if (extra)
			memcpy(body + VCAP_EXTRA - 2, extra, 4);
		blen += 4;
	}
	if (window) {
		/* cap.bar, cap.offset, cap.length and pci_cfg_data are RW (§4.1.4.9). */
		wmask[VCAP_BAR - 2] = 0xff;
		memset(wmask + VCAP_OFFSET - 2, 0xff, 12);
	}
	return vdev_pci_cap_add(f, VDEV_PCI_CAP_ID_VNDR, body, blen, window ? wmask : NULL, at);
}

static uint64_t pow2_at_least(uint64_t v)
{
	uint64_t s = 1;

	while (s < v)
		s <<= 1;
	return s;
}

static int vpci_build(struct vpci *p, const struct vdev_virtio_pci_opts *o, unsigned int nvec)
{
	vdev_virtio *vd = p->vd;
	uint32_t nq = vd->ops.num_queues;
	uint64_t tlen = (uint64_t)nvec * 16, plen = ((uint64_t)nvec + 63) / 64 * 8;
	uint8_t mult[4];
	int rc;

	rc = vdev_pci_bar_add(p->f, VPCI_MSIX_BAR, VDEV__MAX(pow2_at_least(tlen + plen), 4096),
			      0, NULL, NULL);
	if (!rc)
		rc = vdev_pci_bar_add(p->f, VPCI_BAR, VPCI_BAR_SIZE, VDEV_PCI_BAR_MEM64,
				      &vpci_bar_ops, p);
	if (!rc && (o->flags & VDEV_PCI_F_EXPRESS))
		rc = vdev_pci_cap_pcie_add(p->f, VDEV_PCIE_TYPE_ENDPOINT, NULL);
	if (!rc)
		rc = vcap_add(p->f, VPCI_CAP_COMMON, VPCI_COMMON, VPCI_COMMON_LEN, NULL, 0, NULL);
	vdev__put_le32(mult, VPCI_NOTIFY_MULT);
	if (!rc)
		rc = vcap_add(p->f, VPCI_CAP_NOTIFY, VPCI_NOTIFY, nq * VPCI_NOTIFY_MULT, mult, 0,
			      NULL);
	if (!rc)
		rc = vcap_add(p->f, VPCI_CAP_ISR, VPCI_ISR, VPCI_ISR_LEN, NULL, 0, NULL);
	if (!rc && vd->ops.config_size)
		rc = vcap_add(p->f, VPCI_CAP_DEVICE, VPCI_DEVICE, vd->ops.config_size, NULL, 0,
			      NULL);
	if (!rc)
		rc = vcap_add(p->f, VPCI_CAP_PCI_CFG, 0, 0, NULL, 1, &p->cfg_cap);
	if (!rc)
		rc = vdev_pci_cap_msix_add(p->f, nvec, VPCI_MSIX_BAR, 0, VPCI_MSIX_BAR,
					   (uint32_t)tlen, NULL);
	return rc;
}

int vdev_virtio_pci_new(vdev_virtio *vd, const struct vdev_virtio_pci_opts *uopts,
			vdev_pci_func **out)
{
	struct vdev_virtio_pci_opts o;
	struct vdev_pci_func_opts po;
	struct vpci *p;
	unsigned int nvec;
	int rc;

	if (!vd || !uopts || !out || vdev__copy_sized(&o, sizeof(o), uopts))
		return -EINVAL;
	if (vd->tr)
		return -EBUSY;
	if (o.msix_vectors > 2048 || (o.flags & ~VDEV_PCI_F_EXPRESS) ||
	    vd->ops.device_id > 0xffffu - VPCI_DEVICE_BASE)
		return -EINVAL;
	nvec = o.msix_vectors ? o.msix_vectors : vd->ops.num_queues + 1;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->vd = vd;
	memset(&po, 0, sizeof(po));
	po.struct_size = sizeof(po);
	po.vendor_id = VPCI_VENDOR;
	po.device_id = (uint16_t)(VPCI_DEVICE_BASE + vd->ops.device_id);
	po.subsys_vendor_id = VPCI_VENDOR;
	po.subsys_id = o.subsys_id ? o.subsys_id : (uint16_t)vd->ops.device_id;
	po.class_code = vpci_class(vd->ops.device_id);
	po.revision = VPCI_REVISION;
	po.intx_pin = 1;
	po.source_id = o.source_id;
	po.flags = o.flags;
	po.config_written = vpci_config_written;
	po.config_read = vpci_config_read;
	po.opaque = p;
	rc = vdev_pci_func_new(vd->ctx, &po, &p->f);
	if (!rc)
		rc = vpci_build(p, &o, nvec);
	if (!rc)
		rc = vdev__virtio_attach(vd, &vpci_transport, p);
	if (rc) {
		vdev_pci_func_free(p->f);
		free(p);
		return rc;
	}
	vd->nvectors = nvec;
	*out = p->f;
	return 0;
}
