/* SPDX-License-Identifier: MIT */
/*
 * The transport-independent virtio device (VIRTIO 1.2 §2, §3): feature
 * negotiation with the FEATURES_OK handshake, the device status state
 * machine, reset, config generation and the queues' setup registers.
 * Save/load is in virtio_state.c; the transports in virtio_pci.c and
 * virtio_mmio.c.
 *
 * Status rules (§2.1, §3.1.1), as enforced here:
 *  - the driver only ever sets bits; writing 0 resets the device. A write
 *    that would clear a driver-owned bit is a driver error: it is ignored
 *    (and logged once). DEVICE_NEEDS_RESET belongs to the device: the
 *    driver's value for it is ignored.
 *  - FEATURES_OK is accepted only if the driver's features are a subset of
 *    what we offered, include VERSION_1 (this library is modern-only) and
 *    the model's set_features hook agrees; otherwise it reads back clear.
 *  - DRIVER_OK without FEATURES_OK is ignored (logged once).
 *  - feature writes while FEATURES_OK or DRIVER_OK is set are ignored.
 *  - queue setup (size, addresses, enable) is only taken before DRIVER_OK,
 *    and only for a queue that is not enabled; after DRIVER_OK only for a
 *    queue that the driver reset with VIRTIO_F_RING_RESET (§2.6.1).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "virtio/virtio_internal.h"
#include "virtio/vq_internal.h"

/* ---- logging ---- */

static const char *virtio_name(uint32_t device_id)
{
	switch (device_id) {
	case VDEV_VIRTIO_ID_NET:
		return "virtio-net";
	case VDEV_VIRTIO_ID_BLOCK:
		return "virtio-blk";
	case VDEV_VIRTIO_ID_CONSOLE:
		return "virtio-console";
	case VDEV_VIRTIO_ID_RNG:
		return "virtio-rng";
	case VDEV_VIRTIO_ID_SCSI:
		return "virtio-scsi";
	default:
		return "virtio";
	}
}

static void vlogv(vdev_virtio *vd, enum vdev_log_level level, const char *fmt, va_list ap)
	VDEV_PRINTF(3, 0);

static void vlogv(vdev_virtio *vd, enum vdev_log_level level, const char *fmt, va_list ap)
{
	char msg[224];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	vdev_log(vd->ctx, level, "%s: %s", vd->name, msg);
}

void vdev__virtio_log(vdev_virtio *vd, enum vdev_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlogv(vd, level, fmt, ap);
	va_end(ap);
}

void vdev__virtio_log_once(vdev_virtio *vd, unsigned int bit, enum vdev_log_level level,
			   const char *fmt, ...)
{
	va_list ap;

	if (vd->once & bit)
		return;
	vd->once |= bit;
	va_start(ap, fmt);
	vlogv(vd, level, fmt, ap);
	va_end(ap);
}

/* ---- queue hooks ---- */

static void q_notify(void *opaque, vdev_vq *vq)
{
	struct vdev__virtio_queue *q = opaque;

	(void)vq;
	if (q->vd->tr)
		q->vd->tr->queue_irq(q->vd, q->index);
}

static void set_needs_reset(vdev_virtio *vd)
{
	if (vd->status & VDEV_VIRTIO_STATUS_NEEDS_RESET)
		return;
	vd->status |= VDEV_VIRTIO_STATUS_NEEDS_RESET;
	/* §2.1.2: with DRIVER_OK set, tell the driver by a config change. */
	if ((vd->status & VDEV_VIRTIO_STATUS_DRIVER_OK) && vd->tr)
		vd->tr->config_irq(vd);
}

/* The engine has logged the violation already: no second line. */
static void q_error(void *opaque, vdev_vq *vq, const char *reason)
{
	struct vdev__virtio_queue *q = opaque;

	(void)vq;
	(void)reason;
	set_needs_reset(q->vd);
}

/* Remote completion: runs on the completing thread; vd->ops is read-only after creation. */
static void q_wake(void *opaque, vdev_vq *vq)
{
	struct vdev__virtio_queue *q = opaque;

	if (q->vd->ops.queue_wake)
		q->vd->ops.queue_wake(q->vd->opaque, q->index, vq);
}

static const struct vdev_vq_ops q_ops = {
	.struct_size = sizeof(struct vdev_vq_ops),
	.notify = q_notify,
	.error = q_error,
	.wake = q_wake,
};

/* ---- lifecycle ---- */

static int ops_valid(const struct vdev_virtio_ops *o)
{
	if (!o->device_id || o->num_queues < 1 || o->num_queues > VDEV__VIRTIO_MAX_QUEUES)
		return 0;
	if (o->queue_max_size < 1 || o->queue_max_size > VDEV_VQ_MAX_SIZE)
		return 0;
	if (o->config_size > VDEV__VIRTIO_MAX_CONFIG || (o->config_size && !o->config_read))
		return 0;
	if (o->vq_flags & ~VDEV_VQ_F_READ_BEFORE_WRITE)
		return 0;
	return o->reset && o->queue_notify;
}

static void queue_defaults(vdev_virtio *vd, struct vdev__virtio_queue *q)
{
	q->size = vd->ops.queue_max_size;
	q->vector = VDEV__VIRTIO_NO_VECTOR;
	q->enabled = 0;
	q->desc = 0;
	q->driver = 0;
	q->device = 0;
}

int vdev_virtio_new(vdev_ctx *ctx, const struct vdev_virtio_ops *uops, void *opaque,
		    vdev_virtio **out)
{
	struct vdev_virtio_ops o;
	vdev_virtio *vd;
	uint64_t ring;

	if (!ctx || !uops || !out)
		return -EINVAL;
	if (vdev__copy_sized(&o, sizeof(o), uops) || !ops_valid(&o))
		return -EINVAL;

	vd = calloc(1, sizeof(*vd));
	if (!vd)
		return -ENOMEM;
	vd->queues = calloc(o.num_queues, sizeof(*vd->queues));
	if (!vd->queues) {
		free(vd);
		return -ENOMEM;
	}
	vd->ctx = ctx;
	vd->ops = o;
	vd->opaque = opaque;
	vd->name = virtio_name(o.device_id);
	vd->config_vector = VDEV__VIRTIO_NO_VECTOR;

	/* VERSION_1 always (modern-only); RING_RESET needs the model's hook. */
	ring = VDEV__VIRTIO_RING_FEATURES & ~o.features_mask;
	if (!o.queue_reset)
		ring &= ~VDEV__VIRTIO_BIT(VDEV_VIRTIO_F_RING_RESET);
	vd->host_features = o.features | ring | VDEV__VIRTIO_BIT(VDEV_VIRTIO_F_VERSION_1);

	for (unsigned int i = 0; i < o.num_queues; i++) {
		struct vdev__virtio_queue *q = &vd->queues[i];
		int rc;

		q->vd = vd;
		q->index = i;
		queue_defaults(vd, q);
		rc = vdev_vq_new(ctx, &q_ops, q, &q->vq);
		if (rc) {
			vdev_virtio_free(vd);
			return rc;
		}
	}
	*out = vd;
	return 0;
}

void vdev_virtio_free(vdev_virtio *vd)
{
	if (!vd)
		return;
	for (unsigned int i = 0; i < vd->ops.num_queues; i++)
		vdev_vq_free(vd->queues[i].vq);
	if (vd->tr && vd->tr->free)
		vd->tr->free(vd);
	free(vd->queues);
	free(vd);
}

int vdev__virtio_attach(vdev_virtio *vd, const struct vdev__virtio_transport *tr, void *priv)
{
	if (vd->tr)
		return -EBUSY;
	vd->tr = tr;
	vd->tr_priv = priv;
	return 0;
}

vdev_vq *vdev_virtio_queue(vdev_virtio *vd, unsigned int index)
{
	if (!vd || index >= vd->ops.num_queues)
		return NULL;
	return vd->queues[index].vq;
}

uint64_t vdev_virtio_features(const vdev_virtio *vd)
{
	return vd ? vd->features : 0;
}

uint8_t vdev_virtio_status(const vdev_virtio *vd)
{
	return vd ? vd->status : 0;
}

void vdev_virtio_config_changed(vdev_virtio *vd)
{
	if (!vd)
		return;
	/* The generation moves on every change, so a driver reading the
	 * config across it retries (§2.5.1); the interrupt needs DRIVER_OK. */
	vd->config_gen++;
	if ((vd->status & VDEV_VIRTIO_STATUS_DRIVER_OK) && vd->tr)
		vd->tr->config_irq(vd);
}

void vdev_virtio_needs_reset(vdev_virtio *vd, const char *reason)
{
	if (!vd)
		return;
	vdev__virtio_log(vd, VDEV_LOG_WARN, "device needs reset: %s", reason ? reason : "?");
	set_needs_reset(vd);
}

void vdev_virtio_reset(vdev_virtio *vd)
{
	if (!vd)
		return;
	/* The model drops its requests and iovecs first; then the rings go. */
	vd->ops.reset(vd->opaque);
	for (unsigned int i = 0; i < vd->ops.num_queues; i++) {
		struct vdev__virtio_queue *q = &vd->queues[i];

		if (vdev_vq_started(q->vq))
			vdev_vq_stop(q->vq);
		queue_defaults(vd, q);
	}
	vd->status = 0;
	vd->features = 0;
	vd->driver_features = 0;
	vd->dev_feature_sel = 0;
	vd->drv_feature_sel = 0;
	vd->queue_sel = 0;
	vd->config_vector = VDEV__VIRTIO_NO_VECTOR;
	if (vd->tr)
		vd->tr->reset(vd);
}

/* ---- features ---- */

uint32_t vdev__virtio_device_features_read(const vdev_virtio *vd)
{
	switch (vd->dev_feature_sel) {
	case 0:
		return (uint32_t)vd->host_features;
	case 1:
		return (uint32_t)(vd->host_features >> 32);
	default:
		return 0; /* no feature bits above 63 */
	}
}

uint32_t vdev__virtio_driver_features_read(const vdev_virtio *vd)
{
	switch (vd->drv_feature_sel) {
	case 0:
		return (uint32_t)vd->driver_features;
	case 1:
		return (uint32_t)(vd->driver_features >> 32);
	default:
		return 0;
	}
}

void vdev__virtio_driver_features_write(vdev_virtio *vd, uint32_t val)
{
	if (vd->status & (VDEV_VIRTIO_STATUS_FEATURES_OK | VDEV_VIRTIO_STATUS_DRIVER_OK)) {
		vdev__virtio_log_once(vd, VDEV__VONCE_FEATURES_LOCKED, VDEV_LOG_WARN,
				      "driver wrote features after FEATURES_OK: ignored");
		return;
	}
	switch (vd->drv_feature_sel) {
	case 0:
		vd->driver_features = (vd->driver_features & ~0xffffffffull) | val;
		break;
	case 1:
		vd->driver_features = (vd->driver_features & 0xffffffffull) | ((uint64_t)val << 32);
		break;
	default:
		/* Nothing above bit 63 is offered: a compliant driver writes 0 there. */
		break;
	}
}

/* The FEATURES_OK handshake (§3.1.1 step 5-6): 1 if accepted. */
static int features_accept(vdev_virtio *vd)
{
	uint64_t f = vd->driver_features;
	int rc;

	if (f & ~vd->host_features) {
		vdev__virtio_log(vd, VDEV_LOG_WARN,
				 "FEATURES_OK refused: features 0x%llx were not offered",
				 (unsigned long long)(f & ~vd->host_features));
		return 0;
	}
	if (!(f & VDEV__VIRTIO_BIT(VDEV_VIRTIO_F_VERSION_1))) {
		vdev__virtio_log(vd, VDEV_LOG_WARN, "FEATURES_OK refused: driver without "
				 "VERSION_1 (legacy is not supported)");
		return 0;
	}
	if (vd->ops.set_features) {
		rc = vd->ops.set_features(vd->opaque, f);
		if (rc) {
			vdev__virtio_log(vd, VDEV_LOG_WARN,
					 "FEATURES_OK refused by the device: features 0x%llx (%s)",
					 (unsigned long long)f, vdev_strerror(rc));
			return 0;
		}
	}
	vd->features = f;
	return 1;
}

/* ---- status ---- */

void vdev__virtio_status_write(vdev_virtio *vd, uint8_t val)
{
	uint8_t old = vd->status, add;

	if (!val) {
		vdev_virtio_reset(vd);
		return;
	}
	if (old & VDEV__VIRTIO_STATUS_DRIVER_BITS & ~val) {
		vdev__virtio_log_once(vd, VDEV__VONCE_STATUS_CLEAR, VDEV_LOG_WARN,
				      "driver cleared status bits 0x%02x without a reset: ignored",
				      old & VDEV__VIRTIO_STATUS_DRIVER_BITS & ~val);
		return;
	}
	add = val & VDEV__VIRTIO_STATUS_DRIVER_BITS & (uint8_t)~old;
	if ((add & VDEV_VIRTIO_STATUS_FEATURES_OK) && !features_accept(vd))
		add &= (uint8_t)~VDEV_VIRTIO_STATUS_FEATURES_OK;
	if ((add & VDEV_VIRTIO_STATUS_DRIVER_OK) &&
	    !((old | add) & VDEV_VIRTIO_STATUS_FEATURES_OK)) {
		vdev__virtio_log_once(vd, VDEV__VONCE_NO_FEATURES_OK, VDEV_LOG_WARN,
				      "DRIVER_OK without FEATURES_OK: ignored");
		add &= (uint8_t)~VDEV_VIRTIO_STATUS_DRIVER_OK;
	}
	vd->status |= add;
	if (!(add & VDEV_VIRTIO_STATUS_DRIVER_OK))
		return;
	if (vd->ops.start)
		vd->ops.start(vd->opaque);
	/*
	 * A driver may have made buffers available (and kicked, which we
	 * ignored) before DRIVER_OK, e.g. receive buffers; one notification
	 * per enabled queue makes the device look. A spurious one is harmless.
	 */
	for (unsigned int i = 0; i < vd->ops.num_queues; i++)
		if (vd->queues[i].enabled && (vd->status & VDEV_VIRTIO_STATUS_DRIVER_OK))
			vd->ops.queue_notify(vd->opaque, i, vd->queues[i].vq);
}

/* ---- queues ---- */

/* May the selected queue's size/addresses/enable be written now? */
static struct vdev__virtio_queue *queue_writable(vdev_virtio *vd, const char *what)
{
	struct vdev__virtio_queue *q = vdev__virtio_selq(vd);

	if (!q)
		return NULL; /* §4.1.4.3: a non-existent queue's fields are inert */
	if (q->enabled) {
		vdev__virtio_log_once(vd, VDEV__VONCE_QUEUE_LOCKED, VDEV_LOG_WARN,
				      "queue %u: %s written while enabled: ignored", q->index,
				      what);
		return NULL;
	}
	if ((vd->status & VDEV_VIRTIO_STATUS_DRIVER_OK) &&
	    !vdev__virtio_has(vd, VDEV_VIRTIO_F_RING_RESET)) {
		vdev__virtio_log_once(vd, VDEV__VONCE_QUEUE_LOCKED, VDEV_LOG_WARN,
				      "queue %u: %s written after DRIVER_OK: ignored", q->index,
				      what);
		return NULL;
	}
	return q;
}

void vdev__virtio_queue_size_write(vdev_virtio *vd, uint32_t size)
{
	struct vdev__virtio_queue *q = queue_writable(vd, "size");

	/* Checked when the queue is enabled: a bad size fails vdev_vq_start. */
	if (q)
		q->size = size;
}

void vdev__virtio_queue_addr_write(vdev_virtio *vd, enum vdev__virtio_addr which, uint64_t val,
				   uint64_t mask)
{
	struct vdev__virtio_queue *q = queue_writable(vd, "ring address");
	uint64_t *a;

	if (!q)
		return;
	a = which == VDEV__VADDR_DESC ? &q->desc : which == VDEV__VADDR_DRIVER ? &q->driver
									      : &q->device;
	*a = (*a & ~mask) | (val & mask);
}

static void queue_start(vdev_virtio *vd, struct vdev__virtio_queue *q)
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
	char why[96];
	int rc = -EINVAL;

	if (q->size >= 1 && q->size <= vd->ops.queue_max_size)
		rc = vdev_vq_start(q->vq, &c);
	if (!rc) {
		q->enabled = 1;
		return;
	}
	/* The driver handed us rings we cannot use: NEEDS_RESET, queue stays off. */
	snprintf(why, sizeof(why), "queue %u: cannot enable (size %u): %s", q->index, q->size,
		 vdev_strerror(rc));
	vdev_virtio_needs_reset(vd, why);
}

void vdev__virtio_queue_enable_write(vdev_virtio *vd, uint32_t val)
{
	struct vdev__virtio_queue *q;

	if (val != 1) {
		/* §4.1.4.3.2: the driver MUST NOT write 0 (virtio-mmio handles its own). */
		vdev__virtio_log_once(vd, VDEV__VONCE_QUEUE_DISABLE, VDEV_LOG_WARN,
				      "queue_enable written with %u: ignored", val);
		return;
	}
	q = queue_writable(vd, "enable");
	if (!q)
		return;
	if (!(vd->status & VDEV_VIRTIO_STATUS_FEATURES_OK)) {
		vdev__virtio_log_once(vd, VDEV__VONCE_NO_FEATURES_OK, VDEV_LOG_WARN,
				      "queue %u enabled before FEATURES_OK: ignored", q->index);
		return;
	}
	queue_start(vd, q);
}

/* §2.6.1: abort the queue's requests, forget its rings, back to defaults. */
static void queue_reset(vdev_virtio *vd, struct vdev__virtio_queue *q)
{
	uint16_t vector = q->vector;

	if (vdev_vq_started(q->vq)) {
		if (vd->ops.queue_reset)
			vd->ops.queue_reset(vd->opaque, q->index, q->vq);
		vdev_vq_stop(q->vq);
	}
	queue_defaults(vd, q);
	/* The vector is transport configuration, not queue state: the
	 * driver re-enables with the same one (Linux does not rewrite it). */
	q->vector = vector;
}

void vdev__virtio_queue_reset_write(vdev_virtio *vd, uint32_t val)
{
	struct vdev__virtio_queue *q = vdev__virtio_selq(vd);

	if (val != 1 || !q)
		return;
	if (!vdev__virtio_has(vd, VDEV_VIRTIO_F_RING_RESET)) {
		vdev__virtio_log_once(vd, VDEV__VONCE_RING_RESET, VDEV_LOG_WARN,
				      "queue reset without VIRTIO_F_RING_RESET: ignored");
		return;
	}
	queue_reset(vd, q);
}

uint16_t vdev__virtio_vector_check(const vdev_virtio *vd, uint16_t vector)
{
	/* §4.1.5.1.2: a vector the device cannot map reads back NO_VECTOR. */
	return vector < vd->nvectors ? vector : VDEV__VIRTIO_NO_VECTOR;
}

/* ---- notifications ---- */

void vdev__virtio_notify(vdev_virtio *vd, unsigned int index, int has_data, uint32_t data)
{
	struct vdev__virtio_queue *q;

	if (index >= vd->ops.num_queues) {
		vdev__virtio_log_once(vd, VDEV__VONCE_BAD_NOTIFY, VDEV_LOG_WARN,
				      "notify of queue %u, which does not exist: ignored", index);
		return;
	}
	q = &vd->queues[index];
	/* §3.1.1: no notifications before DRIVER_OK; a disabled queue has no rings. */
	if (!(vd->status & VDEV_VIRTIO_STATUS_DRIVER_OK) || !q->enabled)
		return;
	if (has_data && vdev__virtio_has(vd, VDEV_VIRTIO_F_NOTIFICATION_DATA))
		vdev_vq_kick_data(q->vq, data);
	vdev__vq_note_kick(q->vq);
	vd->ops.queue_notify(vd->opaque, index, q->vq);
}

void vdev__virtio_remote_ready(vdev_virtio *vd)
{
	if (!(vd->status & VDEV_VIRTIO_STATUS_DRIVER_OK))
		return;
	for (unsigned int i = 0; i < vd->ops.num_queues; i++) {
		struct vdev__virtio_queue *q = &vd->queues[i];

		/* Not a guest kick: the queue's look goes on (vq.c, pop_remote()). */
		if (q->enabled && vdev__vq_take_remote_wait(q->vq))
			vd->ops.queue_notify(vd->opaque, i, q->vq);
	}
}

int vdev_virtio_kick(vdev_virtio *vd, unsigned int index)
{
	if (!vd || index >= vd->ops.num_queues)
		return -EINVAL;
	vdev__virtio_notify(vd, index, 0, 0);
	return 0;
}

int vdev_virtio_get_doorbell(vdev_virtio *vd, unsigned int index, struct vdev_virtio_doorbell *db)
{
	if (!vd || !db || index >= vd->ops.num_queues)
		return -EINVAL;
	if (!vd->tr)
		return -ENODEV;
	memset(db, 0, sizeof(*db));
	return vd->tr->doorbell(vd, index, db);
}

/* ---- device config ---- */

void vdev__virtio_config_read(vdev_virtio *vd, uint32_t off, void *buf, uint32_t len)
{
	uint8_t *b = buf;
	uint32_t n;

	memset(buf, 0, len);
	if (off >= vd->ops.config_size)
		return;
	n = VDEV__MIN(len, vd->ops.config_size - off);
	vd->ops.config_read(vd->opaque, off, b, n);
}

void vdev__virtio_config_write(vdev_virtio *vd, uint32_t off, const void *buf, uint32_t len)
{
	uint32_t n;

	if (!vd->ops.config_write || off >= vd->ops.config_size)
		return;
	n = VDEV__MIN(len, vd->ops.config_size - off);
	vd->ops.config_write(vd->opaque, off, buf, n);
}
