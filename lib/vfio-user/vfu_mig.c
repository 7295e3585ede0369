/* SPDX-License-Identifier: MIT */
/*
 * Migration, vfio "v2" (vfio.h VFIO_DEVICE_FEATURE_MIGRATION and
 * _MIG_DEVICE_STATE; vfio-user.rst VFIO_USER_DEVICE_FEATURE,
 * VFIO_USER_MIG_DATA_READ/WRITE): the device state machine with the
 * STOP_COPY arcs only (no PRE_COPY, no P2P), mapped onto libvdev's state
 * codec:
 *   RUNNING -> STOP      the queues stop taking requests (vdev_vq_pause());
 *   STOP -> STOP_COPY    vdev_device_save() into a buffer, which
 *                        MIG_DATA_READ hands out in pieces (0 bytes: the end);
 *   STOP -> RESUMING     an empty buffer that MIG_DATA_WRITE appends to;
 *   RESUMING -> STOP     vdev_device_load() of it (validated first: a bad
 *                        stream leaves the device unchanged, state ERROR);
 *   STOP -> RUNNING      the queues go on.
 * Other requested states go through STOP (vfio.h: the device follows the
 * shortest path of the arcs it supports). ERROR is left by DEVICE_RESET.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vfio-user/vfu_internal.h"

/* Most state we accept when resuming (a device with thousands of LUNs stays far below). */
#define MIG_MAX (256u << 20)

static const char *state_name(uint32_t st)
{
	static const char *const names[] = { "ERROR", "STOP", "RUNNING", "STOP_COPY",
					     "RESUMING", "RUNNING_P2P", "PRE_COPY",
					     "PRE_COPY_P2P" };

	return st < VDEV__ARRAY_SIZE(names) ? names[st] : "?";
}

static void buf_free(struct vfu_server *s)
{
	free(s->mig_buf);
	s->mig_buf = NULL;
	s->mig_len = s->mig_pos = s->mig_cap = 0;
}

static int save(struct vfu_server *s)
{
	vdev_state_writer *w;
	const void *data;
	size_t len;
	int rc = vdev_state_writer_new(&w);

	if (rc)
		return rc;
	rc = vdev_device_save(s->dev, w);
	if (!rc)
		rc = vdev_state_writer_finish(w, &data, &len);
	if (!rc) {
		s->mig_buf = malloc(len ? len : 1);
		if (s->mig_buf) {
			memcpy(s->mig_buf, data, len);
			s->mig_len = s->mig_cap = len;
			s->mig_pos = 0;
		} else {
			rc = -ENOMEM;
		}
	}
	vdev_state_writer_free(w);
	return rc;
}

static int load(struct vfu_server *s)
{
	vdev_state_reader *r;
	int rc = vdev_state_reader_new(s->mig_buf, s->mig_len, &r);

	if (rc)
		return rc;
	rc = vdev_device_load(s->dev, r);
	if (rc)
		vdev__vfu_log(s, VDEV_LOG_WARN, "device state refused: %s",
			      vdev_state_reader_error(r));
	vdev_state_reader_free(r);
	return rc;
}

/* One arc of the state machine, from or to STOP. */
static int arc(struct vfu_server *s, enum vfu_mig_state to)
{
	enum vfu_mig_state from = s->mig_state;
	int rc = 0;

	if (from == VFU_MIG_RUNNING && to == VFU_MIG_STOP) {
		vdev__vfu_queues_pause(s, &s->mig_paused, true);
	} else if (from == VFU_MIG_STOP && to == VFU_MIG_RUNNING) {
		vdev__vfu_queues_pause(s, &s->mig_paused, false);
	} else if (from == VFU_MIG_STOP && to == VFU_MIG_STOP_COPY) {
		rc = save(s);
	} else if (from == VFU_MIG_STOP_COPY && to == VFU_MIG_STOP) {
		buf_free(s);
	} else if (from == VFU_MIG_STOP && to == VFU_MIG_RESUMING) {
		buf_free(s);
	} else if (from == VFU_MIG_RESUMING && to == VFU_MIG_STOP) {
		rc = load(s);
		buf_free(s);
	} else {
		return -EINVAL;
	}
	if (rc) {
		s->mig_state = VFU_MIG_ERROR;
		buf_free(s);
		return rc;
	}
	s->mig_state = to;
	return 0;
}

static int set_state(struct vfu_server *s, uint32_t to)
{
	int rc;

	if (to != VFU_MIG_STOP && to != VFU_MIG_RUNNING && to != VFU_MIG_STOP_COPY &&
	    to != VFU_MIG_RESUMING)
		return -EINVAL;
	if (s->mig_state == VFU_MIG_ERROR)
		return -EINVAL;
	if (s->mig_state == to)
		return 0;
	vdev__vfu_log(s, VDEV_LOG_INFO, "migration state %s -> %s", state_name(s->mig_state),
		      state_name(to));
	if (s->mig_state != VFU_MIG_STOP && to != VFU_MIG_STOP) {
		rc = arc(s, VFU_MIG_STOP);
		if (rc)
			return rc;
	}
	return arc(s, (enum vfu_mig_state)to);
}

int vdev__vfu_feature(struct vfu_server *s, const struct vfu_msg *m)
{
	uint8_t out[16];
	uint32_t flags, feature, dir;
	int rc;

	if (m->size < 8 || vdev__le32(m->p) < 8)
		return -EINVAL;
	flags = vdev__le32(m->p + 4);
	feature = flags & VFU_FEATURE_MASK;
	dir = flags & (VFU_FEATURE_GET | VFU_FEATURE_SET);
	if (flags & ~(VFU_FEATURE_MASK | VFU_FEATURE_GET | VFU_FEATURE_SET | VFU_FEATURE_PROBE))
		return -EINVAL;
	if (feature == VFU_FEATURE_DMA_LOGGING_START || feature == VFU_FEATURE_DMA_LOGGING_STOP ||
	    feature == VFU_FEATURE_DMA_LOGGING_REPORT)
		return vdev__vfu_dirty_feature(s, m, flags);
	if (feature != VFU_FEATURE_MIGRATION && feature != VFU_FEATURE_MIG_DEVICE_STATE)
		return -ENOTSUP;
	if (feature == VFU_FEATURE_MIGRATION && (dir & VFU_FEATURE_SET))
		return -EINVAL;
	if (flags & VFU_FEATURE_PROBE) {
		vdev__put_le32(out, 8);
		vdev__put_le32(out + 4, flags);
		return vdev__vfu_reply(s, m->id, m->cmd, 0, out, 8);
	}
	if (dir != VFU_FEATURE_GET && dir != VFU_FEATURE_SET)
		return -EINVAL;
	memset(out, 0, sizeof(out));
	vdev__put_le32(out, 16);
	vdev__put_le32(out + 4, flags);
	if (feature == VFU_FEATURE_MIGRATION) {
		vdev__put_le64(out + 8, VFU_MIGRATION_STOP_COPY);
		return vdev__vfu_reply(s, m->id, m->cmd, 0, out, 16);
	}
	if (dir == VFU_FEATURE_SET) {
		if (m->size < 12)
			return -EINVAL;
		rc = set_state(s, vdev__le32(m->p + 8));
		if (rc)
			return rc;
	}
	vdev__put_le32(out + 8, s->mig_state);
	vdev__put_le32(out + 12, (uint32_t)-1);  /* data_fd: vfio-user moves data in messages */
	return vdev__vfu_reply(s, m->id, m->cmd, 0, out, 16);
}

int vdev__vfu_mig_read(struct vfu_server *s, const struct vfu_msg *m)
{
	uint8_t *out = s->wbuf + VFU_HDR_SIZE;
	uint64_t want;
	size_t n;

	if (m->size < 8 || vdev__le32(m->p) < 8)
		return -EINVAL;
	if (s->mig_state != VFU_MIG_STOP_COPY)
		return -EINVAL;
	want = vdev__le32(m->p + 4);
	want = VDEV__MIN(want, (uint64_t)VFU_MAX_XFER);
	want = VDEV__MIN(want, s->client_max_xfer);
	n = (size_t)VDEV__MIN(want, (uint64_t)(s->mig_len - s->mig_pos));
	vdev__put_le32(out, (uint32_t)(8 + n));
	vdev__put_le32(out + 4, (uint32_t)n);
	if (n)
		memcpy(out + 8, s->mig_buf + s->mig_pos, n);
	s->mig_pos += n;
	return vdev__vfu_reply(s, m->id, m->cmd, 0, out, (uint32_t)(8 + n));
}

int vdev__vfu_mig_write(struct vfu_server *s, const struct vfu_msg *m)
{
	uint32_t n;

	if (m->size < 8 || vdev__le32(m->p) < 8)
		return -EINVAL;
	if (s->mig_state != VFU_MIG_RESUMING)
		return -EINVAL;
	n = vdev__le32(m->p + 4);
	if (n != m->size - 8)
		return -EINVAL;
	if (n > MIG_MAX - s->mig_len)
		return -EFBIG;
	if (s->mig_len + n > s->mig_cap) {
		size_t cap = VDEV__MAX(s->mig_cap * 2, s->mig_len + n);
		uint8_t *b = realloc(s->mig_buf, cap ? cap : 1);

		if (!b)
			return -ENOMEM;
		s->mig_buf = b;
		s->mig_cap = cap;
	}
	if (n)
		memcpy(s->mig_buf + s->mig_len, m->p + 8, n);
	s->mig_len += n;
	if (m->flags & VFU_F_NO_REPLY)
		return 0;
	return vdev__vfu_reply(s, m->id, m->cmd, 0, NULL, 0);
}

void vdev__vfu_mig_drop(struct vfu_server *s)
{
	buf_free(s);
	vdev__vfu_queues_pause(s, &s->mig_paused, false);
	s->mig_state = VFU_MIG_RUNNING;
}
