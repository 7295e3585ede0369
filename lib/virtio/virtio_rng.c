/* SPDX-License-Identifier: MIT */
/*
 * The virtio entropy device (VIRTIO 1.2 §5.4): one request queue; the
 * driver posts device-writable buffers and the device fills them with
 * random bytes. Exposed as two device types: "virtio-rng-pci" (virtio-pci
 * modern; the VMM reaches it through vdev_device_pci()) and
 * "virtio-rng-mmio" (virtio-mmio v2; the VMM reaches it through
 * vdev_virtio_mmio_read/write on vdev_device_virtio()).
 *
 * Requests are served synchronously when the driver kicks (so none is
 * ever in flight between calls, and the device keeps no state of its own
 * beyond the virtio core's), from
 * getrandom(2) with GRND_NONBLOCK: the device thread never blocks. If the
 * kernel's pool is not initialised yet (EAGAIN, only in early host boot)
 * the request completes with the bytes obtained so far, possibly 0: the
 * spec lets the device return fewer bytes than the buffer holds, and
 * drivers ask again. Each request gets at most 64 KiB (VRNG_REQ_CAP), so
 * one huge buffer cannot keep the device thread busy for long.
 * Device-readable buffers in a request are ignored.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "virtio/virtio_internal.h"
#include "virtio/virtio_rng.h"
#include "virtio/virtio_scsi.h"

#define VRNG_QUEUE_SIZE 256u
#define VRNG_REQ_CAP (64u * 1024u)
#define VRNG_STATE_VERSION 1

struct vrng {
	vdev_ctx *ctx;
	vdev_virtio *vd;
	vdev_pci_func *f;       /* virtio-rng-pci only */
	vdev_timer *resume;     /* after a load: look at the queue once the VM runs */
	struct iovec iov[VRNG_QUEUE_SIZE];
};

/* Fill the device-writable part of @req; return the bytes written. */
static uint32_t vrng_fill(const struct vdev_vq_req *req)
{
	uint32_t total = 0;

	for (uint32_t i = req->out_num; i < req->out_num + req->in_num; i++) {
		uint8_t *p = req->iov[i].iov_base;
		size_t want = VDEV__MIN(req->iov[i].iov_len, (size_t)(VRNG_REQ_CAP - total));

		while (want) {
			ssize_t n = getrandom(p, want, GRND_NONBLOCK);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return total; /* EAGAIN: pool not ready; serve what we have */
			p += n;
			want -= (size_t)n;
			total += (uint32_t)n;
		}
		if (total >= VRNG_REQ_CAP)
			break;
	}
	return total;
}

static void vrng_queue_notify(void *opaque, unsigned int index, vdev_vq *vq)
{
	struct vrng *r = opaque;
	struct vdev_vq_req req;
	unsigned int done = 0;
	int rc;

	(void)index;
	for (;;) {
		memset(&req, 0, sizeof(req));
		req.iov = r->iov;
		req.iov_cap = VRNG_QUEUE_SIZE;
		rc = vdev_vq_pop(vq, &req);
		if (rc <= 0)
			break;
		if (vdev_vq_push(vq, &req, vrng_fill(&req)))
			break;
		done++;
	}
	/* A chain never has more segments than the queue size (§2.7.5.2, the
	 * engine enforces it), so -ENOBUFS would be our bug; stay safe anyway. */
	if (rc == -ENOBUFS)
		vdev_virtio_needs_reset(r->vd, "request with more segments than the queue size");
	if (done)
		vdev_vq_flush(vq); /* one notification for the batch */
}

/* Nothing is ever in flight between calls: requests complete synchronously. */
static void vrng_reset(void *opaque)
{
	(void)opaque;
}

static void vrng_queue_reset(void *opaque, unsigned int index, vdev_vq *vq)
{
	(void)opaque;
	(void)index;
	(void)vq;
}

static const struct vdev_virtio_ops vrng_ops = {
	.struct_size = sizeof(struct vdev_virtio_ops),
	.device_id = VDEV_VIRTIO_ID_RNG,
	.num_queues = 1,
	.queue_max_size = VRNG_QUEUE_SIZE,
	.reset = vrng_reset,
	.queue_notify = vrng_queue_notify,
	.queue_reset = vrng_queue_reset,
};

static void vrng_free(struct vrng *r)
{
	vdev_timer_free(r->resume);
	vdev_virtio_free(r->vd);
	free(r);
}

/*
 * A doorbell may have rung at the source without being served yet (an
 * ioeventfd the VMM had not read): look at the queue once after a load.
 * Not during the load itself, which must not write guest memory (with
 * post-copy migration RAM may not even be there yet): from a timer due
 * at once, which the VMM runs when the VM runs. A spurious look is
 * harmless.
 */
static void vrng_resume(vdev_timer *timer, void *opaque)
{
	struct vrng *r = opaque;

	(void)timer;
	vdev_virtio_kick(r->vd, 0);
}

static int vrng_create(vdev_device *dev, const void *opts, int pci)
{
	struct vdev__virtio_rng_opts o;
	struct vrng *r;
	int rc;

	if (vdev__copy_sized(&o, sizeof(o), opts))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->ctx = vdev_device_ctx(dev);
	rc = vdev_timer_new(r->ctx, vrng_resume, r, &r->resume);
	if (!rc)
		rc = vdev_virtio_new(r->ctx, &vrng_ops, r, &r->vd);
	if (!rc && pci) {
		struct vdev_virtio_pci_opts po = {
			.struct_size = sizeof(po),
			.source_id = o.source_id,
		};

		rc = vdev_virtio_pci_new(r->vd, &po, &r->f);
	} else if (!rc) {
		struct vdev_virtio_mmio_opts mo = {
			.struct_size = sizeof(mo),
			.source_id = o.source_id,
		};

		rc = vdev_virtio_mmio_attach(r->vd, &mo);
	}
	if (rc) {
		vrng_free(r);
		return rc;
	}
	vdev_device_set_priv(dev, r);
	if (r->f)
		vdev_device_set_pci(dev, r->f);
	return 0;
}

static int vrng_create_pci(vdev_device *dev, const void *opts)
{
	return vrng_create(dev, opts, 1);
}

static int vrng_create_mmio(vdev_device *dev, const void *opts)
{
	return vrng_create(dev, opts, 0);
}

static void vrng_destroy(vdev_device *dev)
{
	struct vrng *r = vdev_device_priv(dev);

	vdev_device_set_pci(dev, NULL);
	vdev_device_set_priv(dev, NULL);
	if (r)
		vrng_free(r);
}

/* Power-on: the virtio reset, and for PCI the function's config space too. */
static void vrng_dev_reset(vdev_device *dev)
{
	struct vrng *r = vdev_device_priv(dev);

	vdev_timer_disarm(r->resume);
	vdev_virtio_reset(r->vd);
	if (r->f)
		vdev_pci_func_reset(r->f);
}

static int vrng_save(vdev_device *dev, vdev_state_writer *w)
{
	struct vrng *r = vdev_device_priv(dev);

	return vdev_virtio_save(r->vd, w);
}

static int vrng_load(vdev_device *dev, vdev_state_reader *rd, uint16_t version)
{
	struct vrng *r = vdev_device_priv(dev);
	int rc;

	if (version != VRNG_STATE_VERSION)
		return vdev_state_fail(rd, -EPROTONOSUPPORT, "virtio-rng: state version %u",
				       version);
	rc = vdev_virtio_load(r->vd, rd);
	if (!rc)
		vdev_timer_arm(r->resume, vdev_now_ns(r->ctx));
	return rc;
}

static const struct vdev_device_opt vrng_kv[] = {
	{ "source-id", VDEV_OPT_U32, offsetof(struct vdev__virtio_rng_opts, source_id), 0,
	  UINT32_MAX, "source id passed to the interrupt hooks (default 0)" },
};

const struct vdev_device_type vdev__virtio_rng_pci_type = {
	.struct_size = sizeof(struct vdev_device_type),
	.name = "virtio-rng-pci",
	.description = "virtio entropy device on virtio-pci (modern)",
	.opts_size = sizeof(struct vdev__virtio_rng_opts),
	.opts = vrng_kv,
	.n_opts = VDEV__ARRAY_SIZE(vrng_kv),
	.state_version = VRNG_STATE_VERSION,
	.create = vrng_create_pci,
	.destroy = vrng_destroy,
	.reset = vrng_dev_reset,
	.save = vrng_save,
	.load = vrng_load,
};

const struct vdev_device_type vdev__virtio_rng_mmio_type = {
	.struct_size = sizeof(struct vdev_device_type),
	.name = "virtio-rng-mmio",
	.description = "virtio entropy device on virtio-mmio (version 2)",
	.opts_size = sizeof(struct vdev__virtio_rng_opts),
	.opts = vrng_kv,
	.n_opts = VDEV__ARRAY_SIZE(vrng_kv),
	.state_version = VRNG_STATE_VERSION,
	.create = vrng_create_mmio,
	.destroy = vrng_destroy,
	.reset = vrng_dev_reset,
	.save = vrng_save,
	.load = vrng_load,
};

/*
 * The registry keeps copies of the type structs, so a virtio device type
 * is recognised by its create function. Virtio device types in other
 * files add their own test here (virtio-scsi: virtio_scsi.c).
 */
vdev_virtio *vdev_device_virtio(const vdev_device *dev)
{
	const struct vdev_device_type *t = dev ? vdev_device_get_type(dev) : NULL;
	struct vrng *r;

	if (!t || (t->create != vrng_create_pci && t->create != vrng_create_mmio))
		return vdev__virtio_scsi_virtio(dev);
	r = vdev_device_priv(dev);
	return r ? r->vd : NULL;
}
