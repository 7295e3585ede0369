/* SPDX-License-Identifier: MIT */
/*
 * One vhost-user message: check it against the spec's payload format
 * (QEMU docs/interop/vhost-user.rst, "Message types"), then act.
 *
 * Rules:
 *  - a message whose size field does not match its type's payload, or
 *    carries the wrong number of fds, is malformed: the connection closes;
 *  - a well-formed request that cannot be honoured (index out of range,
 *    a ring size that is not a power of two, addresses outside the memory
 *    table...) fails: with REPLY_ACK negotiated and NEED_REPLY set the
 *    front end gets a non-zero u64; requests that have a reply of their
 *    own, or failures without a way to report them, close the connection;
 *  - every fd received is either kept by the handler or closed here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "vhost-user/vu_internal.h"

/* Virtio ring features the server never offers over vhost-user: doorbells
 * are eventfds (no notification data) and QEMU's vhost has no queue reset. */
#define VU_RING_MASK                                                                        \
	((1ull << VDEV_VIRTIO_F_NOTIFICATION_DATA) | (1ull << VDEV_VIRTIO_F_RING_RESET))

#define VU_PROTOCOL_FEATURES                                                                \
	(VU_BIT(VU_PF_MQ) | VU_BIT(VU_PF_REPLY_ACK) | VU_BIT(VU_PF_CONFIG) |                 \
	 VU_BIT(VU_PF_BACKEND_REQ) | VU_BIT(VU_PF_RESET_DEVICE) | VU_BIT(VU_PF_LOG_SHMFD) |      \
	 VU_BIT(VU_PF_INFLIGHT_SHMFD) | VU_BIT(VU_PF_CONFIGURE_MEM_SLOTS))

static const char *req_name(uint32_t r)
{
	static const char *const names[] = {
		[VU_GET_FEATURES] = "GET_FEATURES",
		[VU_SET_FEATURES] = "SET_FEATURES",
		[VU_SET_OWNER] = "SET_OWNER",
		[VU_RESET_OWNER] = "RESET_OWNER",
		[VU_SET_MEM_TABLE] = "SET_MEM_TABLE",
		[VU_SET_LOG_BASE] = "SET_LOG_BASE",
		[VU_SET_LOG_FD] = "SET_LOG_FD",
		[VU_SET_VRING_NUM] = "SET_VRING_NUM",
		[VU_SET_VRING_ADDR] = "SET_VRING_ADDR",
		[VU_SET_VRING_BASE] = "SET_VRING_BASE",
		[VU_GET_VRING_BASE] = "GET_VRING_BASE",
		[VU_SET_VRING_KICK] = "SET_VRING_KICK",
		[VU_SET_VRING_CALL] = "SET_VRING_CALL",
		[VU_SET_VRING_ERR] = "SET_VRING_ERR",
		[VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
		[VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
		[VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
		[VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
		[VU_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
		[VU_GET_CONFIG] = "GET_CONFIG",
		[VU_SET_CONFIG] = "SET_CONFIG",
		[VU_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
		[VU_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
		[VU_RESET_DEVICE] = "RESET_DEVICE",
		[VU_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
		[VU_ADD_MEM_REG] = "ADD_MEM_REG",
		[VU_REM_MEM_REG] = "REM_MEM_REG",
	};

	return r < VDEV__ARRAY_SIZE(names) && names[r] ? names[r] : "unknown";
}

void vdev__vu_log(struct vu_server *s, enum vdev_log_level level, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vdev_log(s->ctx, level, "vhost-user: %s", msg);
}

int vdev__vu_reply(struct vu_server *s, uint32_t req, const void *payload, uint32_t len,
		   const int *fds, unsigned int nfds)
{
	uint8_t buf[VU_HDR_SIZE + VU_MAX_CONFIG + 16];

	if (len > sizeof(buf) - VU_HDR_SIZE)
		return -EINVAL;
	vdev__put_le32(buf, req);
	vdev__put_le32(buf + 4, VU_VERSION | VU_FLAG_REPLY);
	vdev__put_le32(buf + 8, len);
	if (len)
		memcpy(buf + VU_HDR_SIZE, payload, len);
	return s->send(s, buf, VU_HDR_SIZE + len, fds, nfds);
}

static int reply_u64(struct vu_server *s, uint32_t req, uint64_t v)
{
	uint8_t b[8];

	vdev__put_le64(b, v);
	return vdev__vu_reply(s, req, b, 8, NULL, 0);
}

/* Take fd @i out of the array (the caller now owns it). */
static int take_fd(int *fds, unsigned int nfds, unsigned int i)
{
	int fd;

	if (i >= nfds)
		return -1;
	fd = fds[i];
	fds[i] = -1;
	return fd;
}

/* ---- features ---- */

static uint64_t offered(const struct vu_server *s)
{
	uint64_t f = vdev_virtio_ext_device_features(s->vd) & ~VU_RING_MASK & ~s->features_mask;

	return f | VU_BIT(VU_F_PROTOCOL_FEATURES) | VU_BIT(VU_F_LOG_ALL);
}

static bool has_pf(const struct vu_server *s, unsigned int bit)
{
	return (s->protocol_features & VU_BIT(bit)) != 0;
}

static bool queues_running(const struct vu_server *s)
{
	for (unsigned int i = 0; i < s->nq; i++)
		if (s->vr[i].running)
			return true;
	return false;
}

static int set_features(struct vu_server *s, uint64_t f)
{
	uint64_t vf;
	int rc;

	if (f & ~offered(s)) {
		vdev__vu_log(s, VDEV_LOG_WARN, "SET_FEATURES 0x%" PRIx64 ": not offered 0x%" PRIx64,
			     f, f & ~offered(s));
		return -EINVAL;
	}
	/* Only the log bit may change while rings run (migration starts/ends). */
	if (s->features_set && queues_running(s)) {
		if ((f ^ s->features) & ~VU_BIT(VU_F_LOG_ALL))
			return -EBUSY;
	} else {
		/*
		 * The virtio part, with VERSION_1: QEMU forwards only the bits
		 * its device model lists, and the rings are modern anyway
		 * (explicit addresses, little-endian).
		 */
		vf = f & ~(VU_BIT(VU_F_PROTOCOL_FEATURES) | VU_BIT(VU_F_LOG_ALL));
		vf |= 1ull << VDEV_VIRTIO_F_VERSION_1;
		rc = vdev_virtio_ext_set_features(s->vd, vf);
		if (rc)
			return rc;
		if (!s->features_set || f != s->features)
			vdev__vu_log(s, VDEV_LOG_INFO, "negotiated features 0x%" PRIx64, vf);
		s->features_set = true;
	}
	s->features = f;
	rc = vdev__vu_log_enable(s, (f & VU_BIT(VU_F_LOG_ALL)) != 0);
	if (rc)
		return rc;
	/* Without protocol features a ring is enabled from the start. */
	for (unsigned int i = 0; i < s->nq; i++) {
		if (!(f & VU_BIT(VU_F_PROTOCOL_FEATURES)))
			s->vr[i].enabled = true;
		vdev__vu_vring_update(s, i);
	}
	return 0;
}

/* ---- memory table ---- */

static int set_mem_table(struct vu_server *s, const struct vu_msg *m, const int *fds,
			 unsigned int nfds)
{
	struct vu_region nr[VU_MAX_REGIONS];
	uint32_t n;

	if (m->size < 8)
		return -EBADMSG;
	n = vdev__le32(m->payload);
	if (n > VU_MAX_REGIONS || m->size != 8 + 32 * n || nfds != n)
		return -EBADMSG;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *p = m->payload + 8 + 32 * i;

		nr[i] = (struct vu_region){
			.gpa = vdev__le64(p),
			.size = vdev__le64(p + 8),
			.uva = vdev__le64(p + 16),
			/* the mmap offset rides in map_len until mapped */
			.map_len = (size_t)vdev__le64(p + 24),
		};
		if (vdev__le64(p + 24) > SIZE_MAX)
			return -EINVAL;
	}
	return vdev__vu_mem_set_table(s, nr, n, fds);
}

/*
 * ADD_MEM_REG / REM_MEM_REG ("single memory region description": 8 bytes
 * of padding, then the region as in SET_MEM_TABLE). Only with
 * CONFIGURE_MEM_SLOTS negotiated. ADD carries exactly one fd; REM should
 * carry none, but "MAY accept messages with one" (closed unused).
 */
static int mem_reg(struct vu_server *s, const struct vu_msg *m, int *fds, unsigned int nfds)
{
	const uint8_t *p = m->payload + 8;
	struct vu_region r = {
		.gpa = vdev__le64(p),
		.size = vdev__le64(p + 8),
		.uva = vdev__le64(p + 16),
	};
	uint64_t off = vdev__le64(p + 24);
	int fd, rc;

	if (m->request == VU_ADD_MEM_REG && nfds != 1)
		return -EBADMSG;
	if (!has_pf(s, VU_PF_CONFIGURE_MEM_SLOTS))
		return -EPROTO;
	if (m->request == VU_REM_MEM_REG)
		return vdev__vu_mem_rem(s, &r);
	if (off > SIZE_MAX)
		return -EINVAL;
	r.map_len = (size_t)off;
	fd = take_fd(fds, nfds, 0);
	rc = vdev__vu_mem_add(s, &r, fd);
	close(fd); /* the mapping keeps the memory */
	return rc;
}

/* ---- rings ---- */

static int vring_index(const struct vu_server *s, uint32_t index)
{
	return index < s->nq ? 0 : -ERANGE;
}

static int set_vring_num(struct vu_server *s, uint32_t index, uint32_t num)
{
	struct vu_vring *v = &s->vr[index];

	if (v->running)
		return -EBUSY;
	/* Split rings need a power of two; the device's own maximum applies. */
	if (!num || num > vdev_virtio_ext_queue_max_size(s->vd) || (num & (num - 1)))
		return -EINVAL;
	v->num = num;
	return 0;
}

static int set_vring_addr(struct vu_server *s, const uint8_t *p)
{
	uint32_t index = vdev__le32(p), flags = vdev__le32(p + 4);
	uint64_t desc = vdev__le64(p + 8), used = vdev__le64(p + 16), avail = vdev__le64(p + 24);
	uint64_t log = vdev__le64(p + 32);
	struct vu_vring *v;
	uint64_t g[3];
	int rc;

	if (vring_index(s, index))
		return -ERANGE;
	v = &s->vr[index];
	if (v->running && !(s->features & VU_BIT(VU_F_LOG_ALL)))
		return -EBUSY;
	if (!v->num)
		return -EINVAL;
	/* Translate through the table; the sizes are the split ring's (§2.7). */
	rc = vdev__vu_uva_to_gpa(s, desc, 16ull * v->num, &g[0]);
	if (!rc)
		rc = vdev__vu_uva_to_gpa(s, avail, 4 + 2ull * v->num + 2, &g[1]);
	if (!rc)
		rc = vdev__vu_uva_to_gpa(s, used, 4 + 8ull * v->num + 2, &g[2]);
	if (rc) {
		vdev__vu_log(s, VDEV_LOG_WARN, "ring %u: addresses not in the memory table",
			     index);
		return rc;
	}
	if (v->running) {
		/* Only the logging flag may change on a running ring. */
		if (g[0] != v->desc || g[1] != v->avail || g[2] != v->used)
			return -EBUSY;
	}
	v->desc = g[0];
	v->avail = g[1];
	v->used = g[2];
	v->log_gpa = (flags & VU_VRING_F_LOG) ? log : UINT64_MAX;
	v->addr_set = true;
	return vdev__vu_vring_update(s, index);
}

static int set_vring_fd(struct vu_server *s, uint32_t req, uint64_t val, int *fds,
			unsigned int nfds)
{
	uint32_t index = (uint32_t)(val & VU_VRING_IDX_MASK);
	bool nofd = (val & VU_VRING_NOFD) != 0;
	struct vu_vring *v;
	int fd;

	/* Bits 9-63 are reserved; with "no fd" there must be none, else one. */
	if ((val & ~(VU_VRING_IDX_MASK | VU_VRING_NOFD)) || nfds != (nofd ? 0u : 1u))
		return -EBADMSG;
	if (vring_index(s, index))
		return -ERANGE;
	v = &s->vr[index];
	fd = nofd ? -1 : take_fd(fds, nfds, 0);
	switch (req) {
	case VU_SET_VRING_KICK:
		return vdev__vu_vring_set_kick(s, index, fd);
	case VU_SET_VRING_CALL:
		if (v->call_fd >= 0)
			close(v->call_fd);
		v->call_fd = fd;
		/*
		 * An interrupt raised on the fd this one replaces may never reach
		 * the guest: QEMU starts rings with its "masked" notifier as the
		 * call fd and swaps in the guest's own after SET_VRING_ENABLE,
		 * without looking at the old one (vhost_scsi_common_start(): "just
		 * unmask everything"). Requests a ring runs at once when it starts
		 * - resubmitted after a reconnect, or made available while the back
		 * end was away - complete in between, and the guest would wait
		 * forever for their interrupt. Raise it again on the new fd: a
		 * spurious interrupt only makes the driver look at the used ring.
		 */
		if (fd >= 0 && v->irq_due) {
			uint64_t one = 1;

			v->irq_due = false;
			if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
				vdev__vu_log(s, VDEV_LOG_WARN, "ring %u: call fd write failed",
					     index);
		}
		return 0;
	default:
		if (v->err_fd >= 0)
			close(v->err_fd);
		v->err_fd = fd;
		return 0;
	}
}

/* ---- config ---- */

static int get_config(struct vu_server *s, const struct vu_msg *m)
{
	uint8_t out[12 + VU_MAX_CONFIG];
	uint32_t off, len;

	if (m->size < 12)
		return -EBADMSG;
	off = vdev__le32(m->payload);
	len = vdev__le32(m->payload + 4);
	if (len > VU_MAX_CONFIG || m->size != 12 + len)
		return -EBADMSG;
	memcpy(out, m->payload, 12);
	if (vdev_virtio_ext_config_read(s->vd, off, out + 12, len))
		return -EBADMSG;
	return vdev__vu_reply(s, m->request, out, 12 + len, NULL, 0);
}

static int set_config(struct vu_server *s, const struct vu_msg *m)
{
	uint32_t off, len;

	if (m->size < 12)
		return -EBADMSG;
	off = vdev__le32(m->payload);
	len = vdev__le32(m->payload + 4);
	if (len > VU_MAX_CONFIG || m->size != 12 + len)
		return -EBADMSG;
	return vdev_virtio_ext_config_write(s->vd, off, m->payload + 12, len);
}

/* ---- dispatch ---- */

/* Expected payload size per request; UINT32_MAX: variable (checked by the handler). */
static uint32_t payload_size(uint32_t req)
{
	switch (req) {
	case VU_GET_FEATURES:
	case VU_SET_OWNER:
	case VU_RESET_OWNER:
	case VU_GET_PROTOCOL_FEATURES:
	case VU_GET_QUEUE_NUM:
	case VU_RESET_DEVICE:
	case VU_GET_MAX_MEM_SLOTS:
		return 0;
	case VU_SET_FEATURES:
	case VU_SET_PROTOCOL_FEATURES:
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		return 8;
	case VU_SET_VRING_NUM:
	case VU_SET_VRING_BASE:
	case VU_GET_VRING_BASE:
	case VU_SET_VRING_ENABLE:
		return 8;
	case VU_SET_VRING_ADDR:
		return 40;
	case VU_SET_LOG_BASE:
		return 16;
	case VU_ADD_MEM_REG:
	case VU_REM_MEM_REG:
		return 40;
	default:
		return UINT32_MAX;
	}
}

/* Fds each request may carry. */
static unsigned int fds_allowed(uint32_t req)
{
	switch (req) {
	case VU_SET_MEM_TABLE:
		return VU_MAX_FDS;
	case VU_SET_LOG_BASE:
	case VU_SET_LOG_FD:
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
	case VU_SET_BACKEND_REQ_FD:
	case VU_SET_INFLIGHT_FD:
	case VU_ADD_MEM_REG:
	case VU_REM_MEM_REG:
		return 1;
	default:
		return 0;
	}
}

/* Requests whose reply is their own payload (REPLY_ACK does not apply). */
static bool has_reply(uint32_t req)
{
	switch (req) {
	case VU_GET_FEATURES:
	case VU_GET_PROTOCOL_FEATURES:
	case VU_GET_QUEUE_NUM:
	case VU_GET_VRING_BASE:
	case VU_GET_CONFIG:
	case VU_GET_INFLIGHT_FD:
	case VU_GET_MAX_MEM_SLOTS:
	case VU_SET_LOG_BASE:
		return true;
	default:
		return false;
	}
}

static int dispatch(struct vu_server *s, struct vu_msg *m, int *fds, unsigned int nfds)
{
	const uint8_t *p = m->payload;
	uint32_t idx, num;
	uint64_t u;
	int fd, rc;

	switch (m->request) {
	case VU_GET_FEATURES:
		return reply_u64(s, m->request, offered(s));
	case VU_SET_FEATURES:
		return set_features(s, vdev__le64(p));
	case VU_GET_PROTOCOL_FEATURES:
		return reply_u64(s, m->request, VU_PROTOCOL_FEATURES);
	case VU_SET_PROTOCOL_FEATURES:
		u = vdev__le64(p);
		if (u & ~VU_PROTOCOL_FEATURES)
			return -EINVAL;
		s->protocol_features = u;
		vdev__vu_log(s, VDEV_LOG_INFO, "protocol features 0x%" PRIx64, u);
		return 0;
	case VU_SET_OWNER:
		return 0;
	case VU_RESET_OWNER:
	case VU_RESET_DEVICE:
		vdev__vu_log(s, VDEV_LOG_INFO, "%s: device reset", req_name(m->request));
		vdev_virtio_reset(s->vd);
		for (unsigned int i = 0; i < s->nq; i++)
			vdev__vu_vring_close(s, i);
		s->features_set = false;
		s->features = 0;
		return 0;
	case VU_GET_QUEUE_NUM:
		return reply_u64(s, m->request, s->nq);
	case VU_GET_MAX_MEM_SLOTS:
		/* ADD_MEM_REG can fill more slots than SET_MEM_TABLE's 8. */
		return reply_u64(s, m->request, has_pf(s, VU_PF_CONFIGURE_MEM_SLOTS)
							? VU_MAX_SLOTS : VU_MAX_REGIONS);
	case VU_ADD_MEM_REG:
	case VU_REM_MEM_REG:
		return mem_reg(s, m, fds, nfds);
	case VU_SET_MEM_TABLE:
		return set_mem_table(s, m, fds, nfds);
	case VU_SET_VRING_NUM:
	case VU_SET_VRING_BASE:
	case VU_SET_VRING_ENABLE:
	case VU_GET_VRING_BASE:
		idx = vdev__le32(p);
		num = vdev__le32(p + 4);
		if (vring_index(s, idx))
			return m->request == VU_GET_VRING_BASE ? -EBADMSG : -ERANGE;
		if (m->request == VU_SET_VRING_NUM)
			return set_vring_num(s, idx, num);
		if (m->request == VU_GET_VRING_BASE)
			return vdev__vu_vring_get_base(s, idx);
		if (m->request == VU_SET_VRING_BASE) {
			if (s->vr[idx].running)
				return -EBUSY;
			s->vr[idx].base = num;
			return 0;
		}
		if (num > 1)
			return -EINVAL;
		s->vr[idx].enabled = num == 1;
		return vdev__vu_vring_update(s, idx);
	case VU_SET_VRING_ADDR:
		return set_vring_addr(s, p);
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		return set_vring_fd(s, m->request, vdev__le64(p), fds, nfds);
	case VU_GET_CONFIG:
		return get_config(s, m);
	case VU_SET_CONFIG:
		return set_config(s, m);
	case VU_SET_BACKEND_REQ_FD:
		/* The spec has no payload (QEMU sends none); a u64 is tolerated. */
		if (nfds != 1 || (m->size != 0 && m->size != 8))
			return -EBADMSG;
		if (s->backend_fd >= 0)
			close(s->backend_fd);
		s->backend_fd = take_fd(fds, nfds, 0);
		return 0;
	case VU_SET_LOG_BASE:
		if (nfds != 1)
			return -EBADMSG;
		fd = take_fd(fds, nfds, 0);
		rc = vdev__vu_log_set_base(s, vdev__le64(p), vdev__le64(p + 8), fd);
		if (rc)
			return rc;
		/* With LOG_SHMFD the front end waits for a reply (a u64 0). */
		return reply_u64(s, m->request, 0);
	case VU_SET_LOG_FD:
		/*
		 * Refused: the log is the shared bitmap of SET_LOG_BASE, which the
		 * front end reads when it wants; an eventfd to say "modified" is not
		 * supported (QEMU never sends this). The fd is closed.
		 */
		if (m->size != 0 && m->size != 8)
			return -EBADMSG;
		return -ENOTSUP;
	case VU_GET_INFLIGHT_FD: {
		uint8_t out[24] = { 0 };
		uint64_t size = 0;

		/*
		 * 20 bytes of fields; QEMU sends and expects sizeof(VhostUserInflight),
		 * which is 24 with the C padding: the reply has the request's size.
		 */
		if (m->size != 20 && m->size != 24)
			return -EBADMSG;
		rc = vdev__vu_inflight_get(s, vdev__le16(p + 16), vdev__le16(p + 18), &size, &fd);
		memcpy(out, p, 20);
		vdev__put_le64(out, size);
		vdev__put_le64(out + 8, 0);
		/* A refusal is an area of size 0 and no fd: QEMU then tracks nothing. */
		rc = vdev__vu_reply(s, m->request, out, m->size, &fd, rc ? 0 : 1);
		if (fd >= 0)
			close(fd); /* the front end has its own copy now */
		return rc;
	}
	case VU_SET_INFLIGHT_FD:
		if (nfds != 1 || (m->size != 20 && m->size != 24))
			return -EBADMSG;
		fd = take_fd(fds, nfds, 0);
		return vdev__vu_inflight_set(s, vdev__le64(p), vdev__le64(p + 8),
					     vdev__le16(p + 16), vdev__le16(p + 18), fd);
	default:
		vdev__vu_log(s, VDEV_LOG_WARN, "request %u (%s) not supported", m->request,
			     req_name(m->request));
		return -ENOTSUP;
	}
}

int vdev__vu_handle(struct vu_server *s, struct vu_msg *m, int *fds, unsigned int nfds)
{
	uint32_t want = payload_size(m->request);
	bool ack = (m->flags & VU_FLAG_NEED_REPLY) && has_pf(s, VU_PF_REPLY_ACK) &&
		   !has_reply(m->request);
	int rc;

	vdev__vu_log(s, VDEV_LOG_DEBUG, "%s (%u), size %u, %u fd(s)", req_name(m->request),
		     m->request, m->size, nfds);
	if ((m->flags & VU_FLAG_VERSION_MASK) != VU_VERSION || (m->flags & VU_FLAG_REPLY))
		rc = -EBADMSG;
	else if (s->draining)
		rc = -EBADMSG; /* a request while our GET_VRING_BASE reply is pending */
	else if ((want != UINT32_MAX && m->size != want) || nfds > fds_allowed(m->request))
		rc = -EBADMSG;
	else
		rc = dispatch(s, m, fds, nfds);
	for (unsigned int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (rc == -EBADMSG || rc == -EPIPE || rc == -ECONNRESET) {
		vdev__vu_log(s, VDEV_LOG_WARN, "%s: malformed or undeliverable (%s): "
			     "closing the connection", req_name(m->request), vdev_strerror(rc));
		return rc < 0 ? rc : -EBADMSG;
	}
	if (rc > 0)
		return 0; /* answered later (GET_VRING_BASE draining) */
	if (rc)
		vdev__vu_log(s, VDEV_LOG_WARN, "%s failed: %s", req_name(m->request),
			     vdev_strerror(rc));
	if (ack)
		return reply_u64(s, m->request, rc ? 1 : 0);
	if (rc && has_reply(m->request))
		return -EBADMSG; /* no way to say no */
	return 0;
}
