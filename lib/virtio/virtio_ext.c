/* SPDX-License-Identifier: MIT */
/*
 * External transports (vdev/virtio.h, vdev_virtio_ext_*): a device driven
 * by code outside lib/virtio - the vhost-user server, or a VMM's own
 * transport - with no guest-visible registers. The calls map onto the
 * same core steps the virtio-pci registers do (virtio_dev.c): the
 * FEATURES_OK handshake, queue setup while disabled, DRIVER_OK; the
 * difference is that the outcome comes back as an errno instead of a
 * status bit the driver reads, and that a queue can resume at a given
 * ring position (vhost-user's "vring base").
 *
 * A transport that was there before (a registry device comes on
 * virtio-pci or virtio-mmio) is set aside, not freed: the device still
 * owns it, and vdev_virtio_ext_detach() or the device's free puts it
 * back / frees it.
 */
#include <errno.h>
#include <stdlib.h>

#include "virtio/virtio_internal.h"

#define TAG_TEXT 0x54584554u /* 'TEXT' */

struct vext {
	struct vdev_virtio_ext_ops ops;
	void *opaque;
	uint32_t *base; /* [num_queues]: where each queue resumes */
};

static const struct vdev__virtio_transport vext_transport;

static struct vext *vext_of(vdev_virtio *vd)
{
	return vd && vd->tr == &vext_transport ? vd->tr_priv : NULL;
}

static void vext_queue_irq(vdev_virtio *vd, unsigned int index)
{
	struct vext *x = vd->tr_priv;

	x->ops.queue_irq(x->opaque, index);
}

static void vext_config_irq(vdev_virtio *vd)
{
	struct vext *x = vd->tr_priv;

	if (x->ops.config_irq)
		x->ops.config_irq(x->opaque);
}

static void vext_reset(vdev_virtio *vd)
{
	struct vext *x = vd->tr_priv;

	memset(x->base, 0, vd->ops.num_queues * sizeof(*x->base));
	if (x->ops.reset)
		x->ops.reset(x->opaque);
}

static int vext_doorbell(vdev_virtio *vd, unsigned int index, struct vdev_virtio_doorbell *db)
{
	(void)vd;
	(void)index;
	(void)db;
	return -ENODEV; /* no register: the external transport has its own doorbells */
}

/* Nothing of its own to save: the queues and status are the core's. */
static int vext_save(vdev_virtio *vd, vdev_state_writer *w)
{
	(void)vd;
	(void)w;
	return 0;
}

static int vext_load_stage(vdev_virtio *vd, vdev_state_reader *r, void **stage)
{
	(void)vd;
	(void)r;
	*stage = NULL;
	return 0;
}

static void vext_load_commit(vdev_virtio *vd, void *stage)
{
	(void)vd;
	(void)stage;
}

static void vext_load_free(void *stage)
{
	(void)stage;
}

static void vext_priv_free(struct vext *x)
{
	if (x) {
		free(x->base);
		free(x);
	}
}

static void vext_free(vdev_virtio *vd)
{
	vext_priv_free(vd->tr_priv);
	vd->tr = vd->aside_tr;
	vd->tr_priv = vd->aside_priv;
	vd->aside_tr = NULL;
	vd->aside_priv = NULL;
	/* The device is going away: the transport set aside goes with it. */
	if (vd->tr && vd->tr->free)
		vd->tr->free(vd);
}

static const struct vdev__virtio_transport vext_transport = {
	.state_tag = TAG_TEXT,
	.queue_irq = vext_queue_irq,
	.config_irq = vext_config_irq,
	.reset = vext_reset,
	.doorbell = vext_doorbell,
	.save = vext_save,
	.load_stage = vext_load_stage,
	.load_commit = vext_load_commit,
	.load_free = vext_load_free,
	.free = vext_free,
};

int vdev_virtio_ext_attach(vdev_virtio *vd, const struct vdev_virtio_ext_ops *uops, void *opaque)
{
	struct vdev_virtio_ext_ops o;
	struct vext *x;

	if (!vd || !uops || vdev__copy_sized(&o, sizeof(o), uops) || !o.queue_irq)
		return -EINVAL;
	if (vd->tr == &vext_transport)
		return -EBUSY;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->base = calloc(vd->ops.num_queues, sizeof(*x->base));
	if (!x->base) {
		free(x);
		return -ENOMEM;
	}
	x->ops = o;
	x->opaque = opaque;
	/* Whatever the old transport's driver did is void now. */
	vdev_virtio_reset(vd);
	vd->aside_tr = vd->tr;
	vd->aside_priv = vd->tr_priv;
	vd->tr = &vext_transport;
	vd->tr_priv = x;
	return 0;
}

int vdev_virtio_ext_detach(vdev_virtio *vd)
{
	struct vext *x = vext_of(vd);

	if (!x)
		return -EINVAL;
	/* Reset on the external transport (its hook is told), then hand back. */
	vdev_virtio_reset(vd);
	vd->tr = vd->aside_tr;
	vd->tr_priv = vd->aside_priv;
	vd->aside_tr = NULL;
	vd->aside_priv = NULL;
	vext_priv_free(x);
	if (vd->tr)
		vd->tr->reset(vd);
	return 0;
}

uint64_t vdev_virtio_ext_device_features(const vdev_virtio *vd)
{
	return vd ? vd->host_features : 0;
}

static int any_queue_enabled(const vdev_virtio *vd)
{
	for (unsigned int i = 0; i < vd->ops.num_queues; i++)
		if (vd->queues[i].enabled)
			return 1;
	return 0;
}

int vdev_virtio_ext_set_features(vdev_virtio *vd, uint64_t features)
{
	const uint8_t ad = VDEV_VIRTIO_STATUS_ACKNOWLEDGE | VDEV_VIRTIO_STATUS_DRIVER;

	if (!vext_of(vd))
		return -EINVAL;
	if (any_queue_enabled(vd))
		return -EBUSY;
	if ((features & ~vd->host_features) ||
	    !(features & VDEV__VIRTIO_BIT(VDEV_VIRTIO_F_VERSION_1)))
		return -EINVAL;
	/*
	 * A new handshake: back to ACKNOWLEDGE | DRIVER (no reset: nothing
	 * runs with every queue disabled), then FEATURES_OK as a driver
	 * would set it, so the core's checks and the model's hook decide.
	 */
	vd->status = (vd->status & VDEV_VIRTIO_STATUS_NEEDS_RESET) | ad;
	vd->features = 0;
	vd->driver_features = features;
	vdev__virtio_status_write(vd, ad | VDEV_VIRTIO_STATUS_FEATURES_OK);
	return (vd->status & VDEV_VIRTIO_STATUS_FEATURES_OK) ? 0 : -EINVAL;
}

int vdev_virtio_ext_config_read(vdev_virtio *vd, uint32_t offset, void *buf, uint32_t len)
{
	if (!vd || (!buf && len) || len > UINT32_MAX - offset)
		return -EINVAL;
	if (len)
		vdev__virtio_config_read(vd, offset, buf, len);
	return 0;
}

int vdev_virtio_ext_config_write(vdev_virtio *vd, uint32_t offset, const void *buf, uint32_t len)
{
	if (!vd || (!buf && len) || len > UINT32_MAX - offset)
		return -EINVAL;
	if (len)
		vdev__virtio_config_write(vd, offset, buf, len);
	return 0;
}

vdev_ctx *vdev_virtio_ctx(const vdev_virtio *vd)
{
	return vd ? vd->ctx : NULL;
}

unsigned int vdev_virtio_ext_num_queues(const vdev_virtio *vd)
{
	return vd ? vd->ops.num_queues : 0;
}

uint32_t vdev_virtio_ext_queue_max_size(const vdev_virtio *vd)
{
	return vd ? vd->ops.queue_max_size : 0;
}

uint32_t vdev_virtio_ext_config_size(const vdev_virtio *vd)
{
	return vd ? vd->ops.config_size : 0;
}

int vdev_virtio_ext_queue_setup(vdev_virtio *vd, unsigned int index,
				const struct vdev_virtio_ext_queue *uq)
{
	struct vdev_virtio_ext_queue c;
	struct vext *x = vext_of(vd);
	struct vdev__virtio_queue *q;

	if (!x || !uq || index >= vd->ops.num_queues || vdev__copy_sized(&c, sizeof(c), uq))
		return -EINVAL;
	q = &vd->queues[index];
	if (q->enabled)
		return -EBUSY;
	if (c.size < 1 || c.size > vd->ops.queue_max_size)
		return -EINVAL;
	q->size = c.size;
	q->desc = c.desc;
	q->driver = c.driver;
	q->device = c.device;
	x->base[index] = c.base;
	return 0;
}

static int queue_run(vdev_virtio *vd, struct vext *x, struct vdev__virtio_queue *q)
{
	struct vdev_vq_config c = {
		.struct_size = sizeof(c),
		.size = q->size,
		.flags = vd->ops.vq_flags,
		.desc_addr = q->desc,
		.driver_addr = q->driver,
		.device_addr = q->device,
		.features = vd->features,
	};
	int packed = vdev__virtio_has(vd, VDEV_VIRTIO_F_RING_PACKED);
	int rc = vdev_vq_start(q->vq, &c);

	/* Split: always, the used index comes from the ring. Packed: 0 is "fresh". */
	if (!rc && (!packed || x->base[q->index])) {
		rc = vdev_vq_set_base(q->vq, x->base[q->index]);
		if (rc)
			vdev_vq_stop(q->vq);
	}
	if (rc) {
		vdev__virtio_log(vd, VDEV_LOG_WARN, "queue %u: cannot start (size %u, base 0x%x): %s",
				 q->index, q->size, x->base[q->index], vdev_strerror(rc));
		return rc;
	}
	q->enabled = 1;
	/* Buffers made available before: look once (a spurious look is harmless). */
	if (vd->status & VDEV_VIRTIO_STATUS_DRIVER_OK)
		vd->ops.queue_notify(vd->opaque, q->index, q->vq);
	return 0;
}

static void queue_halt(vdev_virtio *vd, struct vdev__virtio_queue *q)
{
	if (vdev_vq_started(q->vq)) {
		if (vd->ops.queue_reset)
			vd->ops.queue_reset(vd->opaque, q->index, q->vq);
		vdev_vq_stop(q->vq);
	}
	q->enabled = 0;
}

int vdev_virtio_ext_queue_enable(vdev_virtio *vd, unsigned int index, int enable)
{
	struct vext *x = vext_of(vd);
	struct vdev__virtio_queue *q;

	if (!x || index >= vd->ops.num_queues)
		return -EINVAL;
	q = &vd->queues[index];
	if (!enable) {
		queue_halt(vd, q);
		return 0;
	}
	if (q->enabled)
		return 0;
	if (!(vd->status & VDEV_VIRTIO_STATUS_FEATURES_OK))
		return -EPROTO;
	return queue_run(vd, x, q);
}

int vdev_virtio_ext_start(vdev_virtio *vd)
{
	if (!vext_of(vd))
		return -EINVAL;
	if (!(vd->status & VDEV_VIRTIO_STATUS_FEATURES_OK))
		return -EPROTO;
	if (vd->status & VDEV_VIRTIO_STATUS_DRIVER_OK)
		return 0;
	/* The core runs the model's start hook and looks at every enabled queue. */
	vdev__virtio_status_write(vd, vd->status | VDEV_VIRTIO_STATUS_DRIVER_OK);
	return 0;
}

int vdev_virtio_ext_queue_stop(vdev_virtio *vd, unsigned int index, uint32_t *base)
{
	struct vext *x = vext_of(vd);
	struct vdev__virtio_queue *q;
	uint32_t b;

	if (!x || index >= vd->ops.num_queues)
		return -EINVAL;
	q = &vd->queues[index];
	/* A queue never started resumes where it was told to. */
	b = vdev_vq_started(q->vq) ? vdev_vq_base(q->vq) : x->base[index];
	queue_halt(vd, q);
	x->base[index] = b;
	if (base)
		*base = b;
	return 0;
}
