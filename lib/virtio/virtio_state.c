/* SPDX-License-Identifier: MIT */
/*
 * Save and load of a virtio device: the core registers, every queue
 * (vdev_vq_save), the transport's registers and the model's own state,
 * as one section:
 *
 *   VIRT (v1) { CORE { fields }  QUEU { QCFG { fields } [vq section] } x num_queues
 *               [transport section]  MODL { the model's records } }
 *
 * A migration stream is untrusted: load reads and checks everything
 * before it changes anything. Queue states are checked by loading them
 * into a scratch queue; each nested section that is loaded twice (check,
 * then apply) or later than it is read is kept as a standalone blob of
 * its own (the record with a blob header in front), so a fresh reader can
 * go over it again. The order of the changes:
 *   1. the model's set_features (with FEATURES_OK in the stream),
 *   2. the transport's fallible step (virtio-pci: its PCI function),
 *   3. the model's load (which validates before it applies),
 *   4. everything else, which cannot fail but for lack of memory.
 * If 3 fails, 2 is undone, so a refused stream leaves the device as it was.
 */
#include <errno.h>
#include <stdlib.h>

#include <stdio.h>

#include "virtio/virtio_internal.h"

#define TAG_VIRT VDEV_STATE_TAG('V', 'I', 'R', 'T')
#define TAG_CORE VDEV_STATE_TAG('C', 'O', 'R', 'E')
#define TAG_QUEU VDEV_STATE_TAG('Q', 'U', 'E', 'U')
#define TAG_QCFG VDEV_STATE_TAG('Q', 'C', 'F', 'G')
#define TAG_MODL VDEV_STATE_TAG('M', 'O', 'D', 'L')
#define VIRT_VERSION 1

/* ---- standalone blobs of one record ---- */

int vdev__virtio_record_blob(const struct vdev_state_record *rec, struct vdev__virtio_blob *b)
{
	size_t n = VDEV_STATE_HEADER_SIZE + VDEV_STATE_RECORD_HEADER_SIZE + (size_t)rec->len;
	uint8_t *p;

	b->data = NULL;
	b->len = 0;
	if ((uint64_t)rec->len + VDEV_STATE_RECORD_HEADER_SIZE > UINT32_MAX)
		return -EFBIG;
	p = malloc(n);
	if (!p)
		return -ENOMEM;
	/* Blob header (vdev/state.h): "VDST", format 1, flags 0, payload length, 0. */
	memcpy(p, "VDST", 4);
	vdev__put_le16(p + 4, 1);
	vdev__put_le16(p + 6, 0);
	vdev__put_le32(p + 8, (uint32_t)(n - VDEV_STATE_HEADER_SIZE));
	vdev__put_le32(p + 12, 0);
	/* Record header: tag, type, flags, version, length. */
	vdev__put_le32(p + 16, rec->tag);
	p[20] = rec->type;
	p[21] = rec->flags;
	vdev__put_le16(p + 22, rec->version);
	vdev__put_le32(p + 24, rec->len);
	if (rec->len)
		memcpy(p + VDEV_STATE_HEADER_SIZE + VDEV_STATE_RECORD_HEADER_SIZE, rec->data,
		       rec->len);
	b->data = p;
	b->len = n;
	return 0;
}

void vdev__virtio_blob_free(struct vdev__virtio_blob *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

int vdev__virtio_blob_reader(const struct vdev__virtio_blob *b, vdev_state_reader **out)
{
	return vdev_state_reader_new(b->data, b->len, out);
}

/* Report @inner's failure reason on @r, prefixed with @what. */
int vdev__virtio_fail_from(vdev_state_reader *r, int rc, const char *what,
			   const vdev_state_reader *inner)
{
	const char *why = inner ? vdev_state_reader_error(inner) : "";

	return vdev_state_fail(r, rc, "%s: %s", what, *why ? why : vdev_strerror(rc));
}

/* ---- field tables ---- */

struct core_image {
	uint64_t offered;
	uint64_t driver_features;
	uint64_t features;
	uint32_t num_queues;
	uint32_t dev_feature_sel;
	uint32_t drv_feature_sel;
	uint32_t queue_sel;
	uint32_t config_gen;
	uint16_t config_vector;
	uint8_t status;
};

#define CF(nm, a, b, c, d, type_, member, min_, max_)                                      \
	{ .name = nm, .tag = VDEV_STATE_TAG(a, b, c, d), .type = type_,                    \
	  .offset = offsetof(struct core_image, member), .min = min_, .max = max_ }

static const struct vdev_state_field core_fields[] = {
	CF("offered-features", 'O', 'F', 'F', 'R', VDEV_STATE_U64, offered, 0, 0),
	CF("driver-features", 'D', 'F', 'E', 'A', VDEV_STATE_U64, driver_features, 0, 0),
	CF("features", 'F', 'E', 'A', 'T', VDEV_STATE_U64, features, 0, 0),
	CF("num-queues", 'N', 'Q', 'U', 'E', VDEV_STATE_U32, num_queues, 1,
	   VDEV__VIRTIO_MAX_QUEUES),
	CF("device-feature-select", 'D', 'F', 'S', 'L', VDEV_STATE_U32, dev_feature_sel, 0, 0),
	CF("driver-feature-select", 'R', 'F', 'S', 'L', VDEV_STATE_U32, drv_feature_sel, 0, 0),
	CF("queue-select", 'Q', 'S', 'E', 'L', VDEV_STATE_U32, queue_sel, 0, 0),
	CF("config-generation", 'C', 'G', 'E', 'N', VDEV_STATE_U32, config_gen, 0, 0),
	CF("config-vector", 'C', 'V', 'E', 'C', VDEV_STATE_U16, config_vector, 0, 0),
	CF("status", 'S', 'T', 'A', 'T', VDEV_STATE_U8, status, 0, 0),
};

struct queue_image {
	uint64_t desc;
	uint64_t driver;
	uint64_t device;
	uint32_t index;
	uint32_t size;
	uint16_t vector;
	uint8_t enabled;
};

#define QF(nm, a, b, c, d, type_, member, min_, max_)                                      \
	{ .name = nm, .tag = VDEV_STATE_TAG(a, b, c, d), .type = type_,                    \
	  .offset = offsetof(struct queue_image, member), .min = min_, .max = max_ }

static const struct vdev_state_field queue_fields[] = {
	QF("index", 'I', 'N', 'D', 'X', VDEV_STATE_U32, index, 0, VDEV__VIRTIO_MAX_QUEUES - 1),
	QF("size", 'S', 'I', 'Z', 'E', VDEV_STATE_U32, size, 0, 0),
	QF("desc", 'D', 'E', 'S', 'C', VDEV_STATE_U64, desc, 0, 0),
	QF("driver", 'D', 'R', 'V', 'A', VDEV_STATE_U64, driver, 0, 0),
	QF("device", 'D', 'E', 'V', 'A', VDEV_STATE_U64, device, 0, 0),
	QF("vector", 'V', 'E', 'C', 'T', VDEV_STATE_U16, vector, 0, 0),
	QF("enabled", 'E', 'N', 'A', 'B', VDEV_STATE_U8, enabled, 0, 1),
};

/* ---- save ---- */

static int save_queue(vdev_virtio *vd, struct vdev__virtio_queue *q, vdev_state_writer *w)
{
	struct queue_image qi = {
		.desc = q->desc,
		.driver = q->driver,
		.device = q->device,
		.index = q->index,
		.size = q->size,
		.vector = q->vector,
		.enabled = q->enabled,
	};
	int rc;

	(void)vd;
	rc = vdev_state_begin(w, TAG_QUEU, 1, VDEV_STATE_F_REQUIRED);
	if (!rc)
		rc = vdev_state_begin(w, TAG_QCFG, 1, VDEV_STATE_F_REQUIRED);
	if (!rc)
		rc = vdev_state_save_fields(w, queue_fields, VDEV__ARRAY_SIZE(queue_fields), &qi);
	if (!rc)
		rc = vdev_state_end(w);
	/* The rings, indices and requests in flight, as the engine keeps them. */
	if (!rc && q->enabled)
		rc = vdev_vq_save(q->vq, w);
	if (!rc)
		rc = vdev_state_end(w);
	return rc;
}

int vdev_virtio_save(vdev_virtio *vd, vdev_state_writer *w)
{
	struct core_image ci;
	int rc;

	if (!vd || !w)
		return -EINVAL;
	memset(&ci, 0, sizeof(ci));
	ci.offered = vd->host_features;
	ci.driver_features = vd->driver_features;
	ci.features = vd->features;
	ci.num_queues = vd->ops.num_queues;
	ci.dev_feature_sel = vd->dev_feature_sel;
	ci.drv_feature_sel = vd->drv_feature_sel;
	ci.queue_sel = vd->queue_sel;
	ci.config_gen = vd->config_gen;
	ci.config_vector = vd->config_vector;
	ci.status = vd->status;

	rc = vdev_state_begin(w, TAG_VIRT, VIRT_VERSION, VDEV_STATE_F_REQUIRED);
	if (!rc)
		rc = vdev_state_begin(w, TAG_CORE, 1, VDEV_STATE_F_REQUIRED);
	if (!rc)
		rc = vdev_state_save_fields(w, core_fields, VDEV__ARRAY_SIZE(core_fields), &ci);
	if (!rc)
		rc = vdev_state_end(w);
	for (unsigned int i = 0; !rc && i < vd->ops.num_queues; i++)
		rc = save_queue(vd, &vd->queues[i], w);
	if (!rc && vd->tr) {
		rc = vdev_state_begin(w, vd->tr->state_tag, 1, VDEV_STATE_F_REQUIRED);
		if (!rc)
			rc = vd->tr->save(vd, w);
		if (!rc)
			rc = vdev_state_end(w);
	}
	if (!rc)
		rc = vdev_state_begin(w, TAG_MODL, 1, VDEV_STATE_F_REQUIRED);
	if (!rc && vd->ops.save)
		rc = vd->ops.save(vd->opaque, w);
	if (!rc)
		rc = vdev_state_end(w);
	if (!rc)
		rc = vdev_state_end(w);
	return rc;
}

/* ---- load: staging ---- */

struct load_stage {
	struct core_image core;
	int have_core;
	struct queue_image *q;           /* [num_queues] */
	uint8_t *seen;                   /* [num_queues] */
	struct vdev__virtio_blob *vqb;   /* [num_queues] saved vq sections */
	int have_tr;
	void *tr_stage;
	int have_model;
	struct vdev__virtio_blob model;
};

static void stage_free(vdev_virtio *vd, struct load_stage *st)
{
	if (st->vqb)
		for (unsigned int i = 0; i < vd->ops.num_queues; i++)
			vdev__virtio_blob_free(&st->vqb[i]);
	if (st->tr_stage && vd->tr && vd->tr->load_free)
		vd->tr->load_free(st->tr_stage);
	vdev__virtio_blob_free(&st->model);
	free(st->q);
	free(st->seen);
	free(st->vqb);
}

static int want_section(vdev_state_reader *r, const struct vdev_state_record *rec,
			const char *what)
{
	if (rec->type != VDEV_STATE_SECTION)
		return vdev_state_fail(r, -EBADMSG, "virtio: %s record is not a section", what);
	if (rec->version != 1)
		return vdev_state_fail(r, -EPROTONOSUPPORT, "virtio: %s version %u unknown", what,
				       rec->version);
	return vdev_state_enter(r);
}

static int stage_core(vdev_state_reader *r, const struct vdev_state_record *rec,
		      struct load_stage *st)
{
	int rc;

	if (st->have_core++)
		return vdev_state_fail(r, -EBADMSG, "virtio: duplicate core section");
	rc = want_section(r, rec, "core");
	if (!rc)
		rc = vdev_state_load_fields(r, core_fields, VDEV__ARRAY_SIZE(core_fields),
					    &st->core);
	return rc ? rc : vdev_state_leave(r);
}

/* Stage the vq section @rec of queue @qi: keep it and check it on @scratch. */
static int stage_vq(vdev_virtio *vd, vdev_state_reader *r, const struct vdev_state_record *rec,
		    struct load_stage *st, unsigned int qi, vdev_vq *scratch)
{
	vdev_state_reader *r2 = NULL;
	char what[32];
	int rc;

	(void)vd;
	if (rec->type != VDEV_STATE_SECTION)
		return vdev_state_fail(r, -EBADMSG, "virtio: queue %u state is not a section",
				       qi);
	rc = vdev__virtio_record_blob(rec, &st->vqb[qi]);
	if (!rc)
		rc = vdev__virtio_blob_reader(&st->vqb[qi], &r2);
	if (rc)
		return rc;
	vdev_vq_stop(scratch);
	rc = vdev_vq_load(scratch, r2);
	vdev_vq_stop(scratch);
	if (rc) {
		snprintf(what, sizeof(what), "virtio: queue %u", qi);
		rc = vdev__virtio_fail_from(r, rc, what, r2);
	}
	vdev_state_reader_free(r2);
	return rc;
}

static int stage_queue(vdev_virtio *vd, vdev_state_reader *r, const struct vdev_state_record *rec,
		       struct load_stage *st, vdev_vq *scratch)
{
	struct vdev_state_record sub;
	struct queue_image qi;
	int rc;

	rc = want_section(r, rec, "queue");
	if (rc)
		return rc;
	rc = vdev_state_next(r, &sub);
	if (rc <= 0)
		return rc ? rc : vdev_state_fail(r, -EBADMSG, "virtio: empty queue section");
	if (sub.tag != TAG_QCFG)
		return vdev_state_fail(r, -EBADMSG, "virtio: queue section without its registers");
	rc = want_section(r, &sub, "queue registers");
	if (rc)
		return rc;
	memset(&qi, 0, sizeof(qi));
	rc = vdev_state_load_fields(r, queue_fields, VDEV__ARRAY_SIZE(queue_fields), &qi);
	if (!rc)
		rc = vdev_state_leave(r);
	if (rc)
		return rc;
	if (qi.index >= vd->ops.num_queues)
		return vdev_state_fail(r, -ERANGE, "virtio: queue %u does not exist", qi.index);
	if (st->seen[qi.index]++)
		return vdev_state_fail(r, -EBADMSG, "virtio: queue %u saved twice", qi.index);
	st->q[qi.index] = qi;

	while ((rc = vdev_state_next(r, &sub)) > 0) {
		if (sub.type == VDEV_STATE_SECTION && !st->vqb[qi.index].data) {
			rc = stage_vq(vd, r, &sub, st, qi.index, scratch);
			if (rc)
				return rc;
		} else if (sub.flags & VDEV_STATE_F_REQUIRED) {
			return vdev_state_fail(r, -EPROTONOSUPPORT,
					       "virtio: queue %u: unknown required record 0x%08x",
					       qi.index, sub.tag);
		}
	}
	return rc ? rc : vdev_state_leave(r);
}

static int stage_records(vdev_virtio *vd, vdev_state_reader *r, struct load_stage *st,
			 vdev_vq *scratch)
{
	struct vdev_state_record rec;
	int rc;

	while ((rc = vdev_state_next(r, &rec)) > 0) {
		if (rec.tag == TAG_CORE) {
			rc = stage_core(r, &rec, st);
		} else if (rec.tag == TAG_QUEU) {
			rc = stage_queue(vd, r, &rec, st, scratch);
		} else if (rec.tag == TAG_MODL) {
			if (st->have_model++)
				return vdev_state_fail(r, -EBADMSG,
						       "virtio: duplicate model state");
			if (rec.type != VDEV_STATE_SECTION)
				return vdev_state_fail(r, -EBADMSG,
						       "virtio: model state is not a section");
			rc = vdev__virtio_record_blob(&rec, &st->model);
		} else if (vd->tr && rec.tag == vd->tr->state_tag) {
			if (st->have_tr++)
				return vdev_state_fail(r, -EBADMSG,
						       "virtio: duplicate transport state");
			rc = want_section(r, &rec, "transport");
			if (!rc)
				rc = vd->tr->load_stage(vd, r, &st->tr_stage);
			if (!rc)
				rc = vdev_state_leave(r);
		} else if (rec.flags & VDEV_STATE_F_REQUIRED) {
			return vdev_state_fail(r, -EPROTONOSUPPORT,
					       "virtio: unknown required record 0x%08x (another "
					       "transport?)", rec.tag);
		}
		if (rc)
			return rc;
	}
	return rc;
}

static int vector_ok(const vdev_virtio *vd, uint16_t v)
{
	return v == VDEV__VIRTIO_NO_VECTOR || v < vd->nvectors;
}

/* Cross-field rules: the stream must describe a state this device can be in. */
static int check_stage(vdev_virtio *vd, vdev_state_reader *r, const struct load_stage *st)
{
	const struct core_image *c = &st->core;
	uint64_t v1 = VDEV__VIRTIO_BIT(VDEV_VIRTIO_F_VERSION_1);
	int fok;

	if (!st->have_core || !st->have_model)
		return vdev_state_fail(r, -EBADMSG, "virtio: core or model state missing");
	if (!st->have_tr && vd->tr)
		return vdev_state_fail(r, -EBADMSG, "virtio: transport state missing");
	if (c->num_queues != vd->ops.num_queues)
		return vdev_state_fail(r, -ERANGE, "virtio: stream has %u queues, device has %u",
				       c->num_queues, vd->ops.num_queues);
	if (c->status & ~VDEV__VIRTIO_STATUS_ALL)
		return vdev_state_fail(r, -ERANGE, "virtio: status 0x%02x has unknown bits",
				       c->status);
	fok = !!(c->status & VDEV_VIRTIO_STATUS_FEATURES_OK);
	if ((c->status & VDEV_VIRTIO_STATUS_DRIVER_OK) && !fok)
		return vdev_state_fail(r, -ERANGE, "virtio: DRIVER_OK without FEATURES_OK");
	if (fok && ((c->features & ~vd->host_features) || !(c->features & v1)))
		return vdev_state_fail(r, -ERANGE,
				       "virtio: negotiated features 0x%llx not acceptable here "
				       "(offered 0x%llx)", (unsigned long long)c->features,
				       (unsigned long long)vd->host_features);
	if (!fok && c->features)
		return vdev_state_fail(r, -ERANGE, "virtio: features without FEATURES_OK");
	if (!vector_ok(vd, c->config_vector))
		return vdev_state_fail(r, -ERANGE, "virtio: config vector %u out of range",
				       c->config_vector);
	for (unsigned int i = 0; i < vd->ops.num_queues; i++) {
		const struct queue_image *q = &st->q[i];

		if (!st->seen[i])
			return vdev_state_fail(r, -EBADMSG, "virtio: queue %u missing", i);
		if (!vector_ok(vd, q->vector))
			return vdev_state_fail(r, -ERANGE,
					       "virtio: queue %u vector %u out of range", i,
					       q->vector);
		if (q->enabled != !!st->vqb[i].data)
			return vdev_state_fail(r, -EBADMSG,
					       "virtio: queue %u: ring state %s enable bit", i,
					       q->enabled ? "missing for the" : "without the");
		if (q->enabled && (!fok || q->size < 1 || q->size > vd->ops.queue_max_size))
			return vdev_state_fail(r, -ERANGE,
					       "virtio: queue %u enabled with size %u (max %u)%s",
					       i, q->size, vd->ops.queue_max_size,
					       fok ? "" : " before FEATURES_OK");
	}
	return 0;
}

static void scratch_notify(void *opaque, vdev_vq *vq)
{
	(void)opaque;
	(void)vq;
}

static const struct vdev_vq_ops scratch_ops = {
	.struct_size = sizeof(struct vdev_vq_ops),
	.notify = scratch_notify,
};

static int stage_all(vdev_virtio *vd, vdev_state_reader *r, struct load_stage *st)
{
	struct vdev_state_record rec;
	vdev_vq *scratch = NULL;
	unsigned int n = vd->ops.num_queues;
	int rc;

	rc = vdev_state_next(r, &rec);
	if (rc == 0)
		return vdev_state_fail(r, -EBADMSG, "virtio: missing device section");
	if (rc < 0)
		return rc;
	if (rec.tag != TAG_VIRT || rec.type != VDEV_STATE_SECTION)
		return vdev_state_fail(r, -EBADMSG, "virtio: expected a device section, got 0x%08x",
				       rec.tag);
	if (rec.version != VIRT_VERSION)
		return vdev_state_fail(r, -EPROTONOSUPPORT, "virtio: state version %u unknown",
				       rec.version);
	st->q = calloc(n, sizeof(*st->q));
	st->seen = calloc(n, 1);
	st->vqb = calloc(n, sizeof(*st->vqb));
	if (!st->q || !st->seen || !st->vqb)
		return -ENOMEM;
	rc = vdev_vq_new(vd->ctx, &scratch_ops, NULL, &scratch);
	if (rc)
		return rc;
	rc = vdev_state_enter(r);
	if (!rc)
		rc = stage_records(vd, r, st, scratch);
	vdev_vq_free(scratch);
	if (!rc)
		rc = vdev_state_leave(r);
	if (!rc)
		rc = check_stage(vd, r, st);
	return rc;
}

/* ---- load: applying ---- */

static int load_model(vdev_virtio *vd, vdev_state_reader *r, const struct load_stage *st)
{
	struct vdev_state_record rec;
	vdev_state_reader *r2 = NULL;
	int rc;

	rc = vdev__virtio_blob_reader(&st->model, &r2);
	if (!rc)
		rc = vdev_state_next(r2, &rec) == 1 ? vdev_state_enter(r2) : -EBADMSG;
	if (!rc && vd->ops.load) {
		rc = vd->ops.load(vd->opaque, r2);
	} else if (!rc && vdev_state_next(r2, &rec) > 0) {
		rc = vdev_state_fail(r2, -EPROTONOSUPPORT, "the device keeps no state of its own");
	}
	if (rc)
		rc = vdev__virtio_fail_from(r, rc, "virtio: device model", r2);
	vdev_state_reader_free(r2);
	return rc;
}

/* Returns 0, or -1 if the queue could not be restored (out of memory). */
static int commit_queue(vdev_virtio *vd, struct vdev__virtio_queue *q,
			const struct queue_image *qi, const struct vdev__virtio_blob *b)
{
	vdev_state_reader *r2 = NULL;
	int rc;

	q->size = qi->size;
	q->desc = qi->desc;
	q->driver = qi->driver;
	q->device = qi->device;
	q->vector = qi->vector;
	q->enabled = 0;
	if (!qi->enabled) {
		if (vdev_vq_started(q->vq))
			vdev_vq_stop(q->vq);
		return 0;
	}
	/* Checked on the scratch queue: only memory can fail now. */
	rc = vdev__virtio_blob_reader(b, &r2);
	if (!rc)
		rc = vdev_vq_load(q->vq, r2);
	vdev_state_reader_free(r2);
	if (rc) {
		vdev__virtio_log(vd, VDEV_LOG_ERROR, "queue %u: restoring failed: %s", q->index,
				 vdev_strerror(rc));
		return -1;
	}
	q->enabled = 1;
	return 0;
}

int vdev_virtio_load(vdev_virtio *vd, vdev_state_reader *r)
{
	struct load_stage st;
	const struct core_image *c = &st.core;
	int rc, lost = 0;

	if (!vd || !r)
		return -EINVAL;
	memset(&st, 0, sizeof(st));
	rc = stage_all(vd, r, &st);
	if (rc)
		goto out;

	if ((c->status & VDEV_VIRTIO_STATUS_FEATURES_OK) && vd->ops.set_features) {
		rc = vd->ops.set_features(vd->opaque, c->features);
		if (rc) {
			rc = vdev_state_fail(r, -ERANGE,
					     "virtio: the device refuses features 0x%llx",
					     (unsigned long long)c->features);
			goto out;
		}
	}
	if (vd->tr && vd->tr->load_apply) {
		rc = vd->tr->load_apply(vd, st.tr_stage, r);
		if (rc)
			goto out;
	}
	rc = load_model(vd, r, &st);
	if (rc) {
		if (vd->tr && vd->tr->load_revert)
			vd->tr->load_revert(vd, st.tr_stage);
		goto out;
	}

	for (unsigned int i = 0; i < vd->ops.num_queues; i++)
		lost |= commit_queue(vd, &vd->queues[i], &st.q[i], &st.vqb[i]);
	vd->driver_features = c->driver_features;
	vd->features = c->features;
	vd->dev_feature_sel = c->dev_feature_sel;
	vd->drv_feature_sel = c->drv_feature_sel;
	vd->queue_sel = c->queue_sel;
	vd->config_gen = c->config_gen;
	vd->config_vector = c->config_vector;
	/* A queue we could not restore: the driver must reset the device. */
	vd->status = (uint8_t)(c->status | (lost ? VDEV_VIRTIO_STATUS_NEEDS_RESET : 0));
	if (vd->tr)
		vd->tr->load_commit(vd, st.tr_stage);
out:
	stage_free(vd, &st);
	return rc;
}
