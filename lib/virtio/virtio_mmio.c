/* SPDX-License-Identifier: MIT */
/*
 * virtio-mmio version 2 (VIRTIO 1.2 §4.2.2): a 0x200-byte register window,
 * registers below 0x100 and the device configuration from 0x100.
 *
 * Registers take 32-bit, 32-bit aligned accesses only (§4.2.2.2); any
 * other access is refused with -EINVAL (reads 0, writes ignored, logged
 * once). The configuration takes naturally aligned 1, 2, 4 and 8-byte
 * accesses. Write-only registers read 0; writes to read-only ones are
 * ignored. The vendor ID is free per spec; we report 0x1af4 like PCI.
 *
 * The interrupt is level-triggered: INTx pin 1 of the source given at
 * attach, high while InterruptStatus is not 0; InterruptACK clears bits.
 * There are no shared memory regions: SHMLen and SHMBase read all-ones
 * for every SHMSel (§4.2.2: a length of -1 means "no such region").
 *
 * QueueReady written 0 takes the queue down: the model's queue_reset
 * hook aborts its requests first; a model without one can only have an
 * idle queue taken down (a busy one stays, logged once).
 */
#include <errno.h>
#include <stdlib.h>

#include "virtio/virtio_internal.h"

#define VMMIO_MAGIC 0x74726976u /* "virt" */
#define VMMIO_VERSION 2
#define VMMIO_VENDOR 0x1af4u
#define VMMIO_CONFIG 0x100u

enum {
	R_MAGIC = 0x000,
	R_VERSION = 0x004,
	R_DEVICE_ID = 0x008,
	R_VENDOR_ID = 0x00c,
	R_DEV_FEATURES = 0x010,
	R_DEV_FEATURES_SEL = 0x014,
	R_DRV_FEATURES = 0x020,
	R_DRV_FEATURES_SEL = 0x024,
	R_QUEUE_SEL = 0x030,
	R_QUEUE_NUM_MAX = 0x034,
	R_QUEUE_NUM = 0x038,
	R_QUEUE_READY = 0x044,
	R_QUEUE_NOTIFY = 0x050,
	R_INT_STATUS = 0x060,
	R_INT_ACK = 0x064,
	R_STATUS = 0x070,
	R_QUEUE_DESC_LO = 0x080,
	R_QUEUE_DESC_HI = 0x084,
	R_QUEUE_DRIVER_LO = 0x090,
	R_QUEUE_DRIVER_HI = 0x094,
	R_QUEUE_DEVICE_LO = 0x0a0,
	R_QUEUE_DEVICE_HI = 0x0a4,
	R_SHM_SEL = 0x0ac,
	R_SHM_LEN_LO = 0x0b0,
	R_SHM_LEN_HI = 0x0b4,
	R_SHM_BASE_LO = 0x0b8,
	R_SHM_BASE_HI = 0x0bc,
	R_QUEUE_RESET = 0x0c0,
	R_CONFIG_GEN = 0x0fc,
};

#define INT_VRING 0x1u
#define INT_CONFIG 0x2u

struct vmmio {
	vdev_virtio *vd;
	uint32_t source_id;
	uint32_t int_status;
	uint32_t shm_sel;
};

static const struct vdev__virtio_transport vmmio_transport;

static struct vmmio *vmmio_of(vdev_virtio *vd)
{
	return vd && vd->tr == &vmmio_transport ? vd->tr_priv : NULL;
}

/* ---- interrupts ---- */

static void vmmio_drive(struct vmmio *m)
{
	vdev_irq_intx_set(m->vd->ctx, m->source_id, 1, m->int_status != 0);
}

static void vmmio_queue_irq(vdev_virtio *vd, unsigned int index)
{
	struct vmmio *m = vd->tr_priv;

	(void)index;
	m->int_status |= INT_VRING;
	vmmio_drive(m);
}

static void vmmio_config_irq(vdev_virtio *vd)
{
	struct vmmio *m = vd->tr_priv;

	m->int_status |= INT_CONFIG;
	vmmio_drive(m);
}

static void vmmio_reset(vdev_virtio *vd)
{
	struct vmmio *m = vd->tr_priv;

	/* §4.2.2.1: reset clears InterruptStatus (and QueueReady, in the core). */
	m->int_status = 0;
	vmmio_drive(m);
}

/* ---- registers ---- */

static uint32_t reg_read(struct vmmio *m, uint32_t off)
{
	vdev_virtio *vd = m->vd;
	struct vdev__virtio_queue *q = vdev__virtio_selq(vd);

	switch (off) {
	case R_MAGIC:
		return VMMIO_MAGIC;
	case R_VERSION:
		return VMMIO_VERSION;
	case R_DEVICE_ID:
		return vd->ops.device_id;
	case R_VENDOR_ID:
		return VMMIO_VENDOR;
	case R_DEV_FEATURES:
		return vdev__virtio_device_features_read(vd);
	case R_QUEUE_NUM_MAX:
		return q ? vd->ops.queue_max_size : 0; /* 0: the queue is not available */
	case R_QUEUE_READY:
		return q ? q->enabled : 0;
	case R_INT_STATUS:
		return m->int_status;
	case R_STATUS:
		return vd->status;
	case R_SHM_LEN_LO:
	case R_SHM_LEN_HI:
	case R_SHM_BASE_LO:
	case R_SHM_BASE_HI:
		return 0xffffffffu;
	case R_CONFIG_GEN:
		return vd->config_gen;
	default:
		return 0; /* write-only, reserved, and QueueReset (resets complete at once) */
	}
}

/* QueueReady = 0 (§4.2.2): stop using the queue. */
static void queue_ready_clear(vdev_virtio *vd)
{
	struct vdev__virtio_queue *q = vdev__virtio_selq(vd);

	if (!q || !q->enabled)
		return;
	if (!vd->ops.queue_reset && vdev_vq_inflight(q->vq)) {
		vdev__virtio_log_once(vd, VDEV__VONCE_QUEUE_DISABLE, VDEV_LOG_WARN,
				      "queue %u: QueueReady cleared with requests in flight and no "
				      "queue reset in the device: ignored", q->index);
		return;
	}
	if (vd->ops.queue_reset)
		vd->ops.queue_reset(vd->opaque, q->index, q->vq);
	vdev_vq_stop(q->vq);
	q->enabled = 0;
}

static void addr_write(vdev_virtio *vd, enum vdev__virtio_addr which, uint32_t v, int high)
{
	unsigned int sh = high ? 32 : 0;

	vdev__virtio_queue_addr_write(vd, which, (uint64_t)v << sh, 0xffffffffull << sh);
}

static void queue_notify(vdev_virtio *vd, uint32_t v)
{
	/* §4.2.2: the queue index, or with NOTIFICATION_DATA the §4.1.5.2 layout. */
	if (vdev__virtio_has(vd, VDEV_VIRTIO_F_NOTIFICATION_DATA))
		vdev__virtio_notify(vd, v & 0xffff, 1, v >> 16);
	else
		vdev__virtio_notify(vd, v, 0, 0);
}

static void reg_write(struct vmmio *m, uint32_t off, uint32_t v)
{
	vdev_virtio *vd = m->vd;

	switch (off) {
	case R_DEV_FEATURES_SEL:
		vd->dev_feature_sel = v;
		break;
	case R_DRV_FEATURES:
		vdev__virtio_driver_features_write(vd, v);
		break;
	case R_DRV_FEATURES_SEL:
		vd->drv_feature_sel = v;
		break;
	case R_QUEUE_SEL:
		vd->queue_sel = v;
		break;
	case R_QUEUE_NUM:
		vdev__virtio_queue_size_write(vd, v);
		break;
	case R_QUEUE_READY:
		if (v)
			vdev__virtio_queue_enable_write(vd, v);
		else
			queue_ready_clear(vd);
		break;
	case R_QUEUE_NOTIFY:
		queue_notify(vd, v);
		break;
	case R_INT_ACK:
		m->int_status &= ~v;
		vmmio_drive(m);
		break;
	case R_STATUS:
		/* Only the low byte exists; 0x100 must not read as "write 0: reset". */
		if (v > 0xff)
			vdev__virtio_log_once(vd, VDEV__VONCE_BAD_ACCESS, VDEV_LOG_WARN,
					      "mmio: status 0x%x has bits above 7: ignored", v);
		else
			vdev__virtio_status_write(vd, (uint8_t)v);
		break;
	case R_QUEUE_DESC_LO:
	case R_QUEUE_DESC_HI:
		addr_write(vd, VDEV__VADDR_DESC, v, off == R_QUEUE_DESC_HI);
		break;
	case R_QUEUE_DRIVER_LO:
	case R_QUEUE_DRIVER_HI:
		addr_write(vd, VDEV__VADDR_DRIVER, v, off == R_QUEUE_DRIVER_HI);
		break;
	case R_QUEUE_DEVICE_LO:
	case R_QUEUE_DEVICE_HI:
		addr_write(vd, VDEV__VADDR_DEVICE, v, off == R_QUEUE_DEVICE_HI);
		break;
	case R_SHM_SEL:
		m->shm_sel = v;
		break;
	case R_QUEUE_RESET:
		vdev__virtio_queue_reset_write(vd, v);
		break;
	default:
		break; /* read-only and reserved registers */
	}
}

/*
 * Check an access: 0 if fine, -ERANGE outside the window, -EINVAL for a
 * width or alignment the register (or config byte) does not take.
 */
static int vmmio_check(struct vmmio *m, uint64_t offset, size_t len, int is_write)
{
	if (len > VDEV_VIRTIO_MMIO_SIZE || offset > VDEV_VIRTIO_MMIO_SIZE - len)
		return -ERANGE;
	if (offset >= VMMIO_CONFIG) {
		if ((len == 1 || len == 2 || len == 4 || len == 8) && !(offset % len))
			return 0;
	} else if (len == 4 && !(offset % 4)) {
		return 0;
	}
	vdev__virtio_log_once(m->vd, VDEV__VONCE_BAD_ACCESS, VDEV_LOG_WARN,
			      "mmio: %zu-byte %s at 0x%llx refused", len,
			      is_write ? "write" : "read", (unsigned long long)offset);
	return -EINVAL;
}

int vdev_virtio_mmio_read(vdev_virtio *vd, uint64_t offset, void *buf, size_t len)
{
	struct vmmio *m = vmmio_of(vd);
	int rc;

	if (!m || (!buf && len))
		return -EINVAL;
	rc = vmmio_check(m, offset, len, 0);
	if (rc) {
		memset(buf, rc == -ERANGE ? 0xff : 0, len);
		return rc;
	}
	if (offset >= VMMIO_CONFIG)
		vdev__virtio_config_read(vd, (uint32_t)(offset - VMMIO_CONFIG), buf, (uint32_t)len);
	else
		vdev__put_le32(buf, reg_read(m, (uint32_t)offset));
	return 0;
}

int vdev_virtio_mmio_write(vdev_virtio *vd, uint64_t offset, const void *buf, size_t len)
{
	struct vmmio *m = vmmio_of(vd);
	int rc;

	if (!m || (!buf && len))
		return -EINVAL;
	rc = vmmio_check(m, offset, len, 1);
	if (rc)
		return rc;
	if (offset >= VMMIO_CONFIG)
		vdev__virtio_config_write(vd, (uint32_t)(offset - VMMIO_CONFIG), buf,
					  (uint32_t)len);
	else
		reg_write(m, (uint32_t)offset, vdev__le32(buf));
	return 0;
}

/* ---- doorbells ---- */

static int vmmio_doorbell(vdev_virtio *vd, unsigned int index, struct vdev_virtio_doorbell *db)
{
	int data = vdev__virtio_has(vd, VDEV_VIRTIO_F_NOTIFICATION_DATA);

	db->bar = -1;
	db->is_io = 0;
	db->offset = R_QUEUE_NOTIFY;
	db->size = 4;
	db->datamatch = index;
	db->has_datamatch = !data;
	return 0;
}

/* ---- state ---- */

#define TAG_TMMI VDEV_STATE_TAG('T', 'M', 'M', 'I')

struct vmmio_image {
	uint32_t int_status;
	uint32_t shm_sel;
};

static const struct vdev_state_field vmmio_fields[] = {
	{ .name = "interrupt-status", .tag = VDEV_STATE_TAG('I', 'S', 'T', 'A'),
	  .type = VDEV_STATE_U32, .offset = offsetof(struct vmmio_image, int_status),
	  .min = 0, .max = INT_VRING | INT_CONFIG },
	{ .name = "shm-select", .tag = VDEV_STATE_TAG('S', 'H', 'M', 'S'), .type = VDEV_STATE_U32,
	  .offset = offsetof(struct vmmio_image, shm_sel) },
};

static int vmmio_save(vdev_virtio *vd, vdev_state_writer *w)
{
	struct vmmio *m = vd->tr_priv;
	struct vmmio_image im = { .int_status = m->int_status, .shm_sel = m->shm_sel };

	return vdev_state_save_fields(w, vmmio_fields, VDEV__ARRAY_SIZE(vmmio_fields), &im);
}

static int vmmio_load_stage(vdev_virtio *vd, vdev_state_reader *r, void **out)
{
	struct vmmio_image *im;

	(void)vd;
	im = calloc(1, sizeof(*im));
	if (!im)
		return -ENOMEM;
	*out = im;
	return vdev_state_load_fields(r, vmmio_fields, VDEV__ARRAY_SIZE(vmmio_fields), im);
}

static void vmmio_load_commit(vdev_virtio *vd, void *stage)
{
	struct vmmio *m = vd->tr_priv;
	const struct vmmio_image *im = stage;

	m->int_status = im->int_status;
	m->shm_sel = im->shm_sel;
	vmmio_drive(m);
}

static void vmmio_free(vdev_virtio *vd)
{
	struct vmmio *m = vd->tr_priv;

	m->int_status = 0;
	vmmio_drive(m);
	free(m);
}

static const struct vdev__virtio_transport vmmio_transport = {
	.state_tag = TAG_TMMI,
	.queue_irq = vmmio_queue_irq,
	.config_irq = vmmio_config_irq,
	.reset = vmmio_reset,
	.doorbell = vmmio_doorbell,
	.save = vmmio_save,
	.load_stage = vmmio_load_stage,
	.load_commit = vmmio_load_commit,
	.load_free = free,
	.free = vmmio_free,
};

int vdev_virtio_mmio_attach(vdev_virtio *vd, const struct vdev_virtio_mmio_opts *uopts)
{
	struct vdev_virtio_mmio_opts o;
	struct vmmio *m;
	int rc;

	if (!vd || !uopts || vdev__copy_sized(&o, sizeof(o), uopts))
		return -EINVAL;
	if (vd->tr)
		return -EBUSY;
	if (vd->ops.config_size > VDEV_VIRTIO_MMIO_SIZE - VMMIO_CONFIG)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->vd = vd;
	m->source_id = o.source_id;
	rc = vdev__virtio_attach(vd, &vmmio_transport, m);
	if (rc)
		free(m);
	return rc;
}
