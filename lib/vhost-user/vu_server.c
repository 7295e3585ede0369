/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user server: a listening UNIX socket, one connection at a
 * time, message framing with fds (SCM_RIGHTS), and the public API.
 *
 * Framing: a message is a 12-byte header and `size` payload bytes; the
 * front end sends each message with one sendmsg(), its fds attached. We
 * read the header and the payload of one message at a time (never more),
 * so the fds that arrive belong to the message being read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vhost-user/vu_internal.h"

static void conn_drop(struct vu_server *s, const char *why);

/* ---- handle bookkeeping: the server is freed once its handles closed ---- */

static void maybe_free(struct vu_server *s)
{
	if (!s->freeing || s->pending_closes)
		return;
	free(s->vr);
	free(s->path);
	free(s);
}

static void handle_closed(uv_handle_t *h)
{
	struct vu_server *s = h->data;

	free(h);
	s->pending_closes--;
	maybe_free(s);
}

static void handle_close(struct vu_server *s, uv_handle_t *h)
{
	if (!h)
		return;
	h->data = s;
	s->pending_closes++;
	uv_close(h, handle_closed);
}

/* ---- sending ---- */

static int sock_send(struct vu_server *s, const void *buf, size_t len, const int *fds,
		     unsigned int nfds)
{
	if (s->conn_fd < 0)
		return -EPIPE;
	if (nfds > VU_MAX_FDS)
		return -EINVAL;
	/* Replies are small: a full socket buffer means the front end stopped reading. */
	if (vdev__msgsock_send(s->conn_fd, buf, len, fds, nfds) != (long)len)
		return -EPIPE;
	return 0;
}

static int null_send(struct vu_server *s, const void *buf, size_t len, const int *fds,
		     unsigned int nfds)
{
	(void)s;
	(void)buf;
	(void)len;
	(void)fds;
	(void)nfds;
	return 0;
}

/* ---- receiving ---- */

/* The whole message's length from its header, or -EBADMSG (too big). */
static long msg_len(void *opaque, const uint8_t *hdr)
{
	struct vu_server *s = opaque;
	uint32_t size = vdev__le32(hdr + 8);

	if (size > VU_MAX_PAYLOAD) {
		vdev__vu_log(s, VDEV_LOG_WARN, "message of %u bytes: too big", size);
		return -EBADMSG;
	}
	return (long)(VU_HDR_SIZE + size);
}

static void conn_cb(uv_poll_t *h, int status, int events);

static void conn_poll(struct vu_server *s, bool on)
{
	if (!s->conn_h)
		return;
	if (on)
		uv_poll_start(s->conn_h, UV_READABLE | UV_DISCONNECT, conn_cb);
	else
		uv_poll_stop(s->conn_h);
}

static int process(struct vu_server *s)
{
	struct vu_msg *m = &s->msg;
	int fds[VDEV__MSGSOCK_MAX_FDS];
	unsigned int nfds;

	m->request = vdev__le32(s->rbuf);
	m->flags = vdev__le32(s->rbuf + 4);
	m->size = vdev__le32(s->rbuf + 8);
	memcpy(m->payload, s->rbuf + VU_HDR_SIZE, m->size);
	nfds = vdev__msgsock_take(&s->rx, fds);
	return vdev__vu_handle(s, m, fds, nfds);
}

static void conn_cb(uv_poll_t *h, int status, int events)
{
	struct vu_server *s = h->data;
	int rc = 0;

	(void)events;
	if (status < 0) {
		conn_drop(s, "socket error");
		return;
	}
	/* One message after another, until the socket is empty or a reply is deferred. */
	while (s->conn_fd >= 0 && !s->draining) {
		rc = vdev__msgsock_read(s->conn_fd, &s->rx);
		if (rc == 0)
			return;
		if (rc < 0)
			break;
		if (rc == 2)
			continue;
		rc = process(s);
		if (rc < 0)
			break;
	}
	if (rc < 0) {
		conn_drop(s, rc == -ECONNRESET ? "front end closed the connection"
					       : "protocol error");
		return;
	}
	if (s->draining)
		conn_poll(s, false);
}

void vdev__vu_conn_resume(struct vu_server *s, int rc)
{
	if (rc < 0) {
		conn_drop(s, "reply not delivered");
		return;
	}
	conn_poll(s, true);
}

/* ---- connection lifecycle ---- */

void vdev__vu_conn_reset(struct vu_server *s)
{
	/* The model aborts whatever is in flight; then nothing points into guest RAM. */
	vdev_virtio_reset(s->vd);
	for (unsigned int i = 0; i < s->nq; i++)
		vdev__vu_vring_close(s, i);
	s->draining = false;
	vdev__vu_log_drop(s);
	vdev__vu_inflight_drop(s);
	vdev__vu_mem_drop(s);
	if (s->backend_fd >= 0)
		close(s->backend_fd);
	s->backend_fd = -1;
	s->features = 0;
	s->protocol_features = 0;
	s->features_set = false;
	vdev__msgsock_rx_reset(&s->rx);
}

static void conn_closed(uv_handle_t *h)
{
	struct vu_server *s = h->data;

	free(h);
	s->pending_closes--;
	maybe_free(s);
}

static void conn_drop(struct vu_server *s, const char *why)
{
	if (s->conn_fd < 0)
		return;
	vdev__vu_log(s, VDEV_LOG_INFO, "connection closed: %s", why);
	vdev__vu_conn_reset(s);
	if (s->maint)
		uv_timer_stop(s->maint);
	if (s->conn_h) {
		s->conn_h->data = s;
		s->pending_closes++;
		uv_close((uv_handle_t *)s->conn_h, conn_closed);
		s->conn_h = NULL;
	}
	close(s->conn_fd);
	s->conn_fd = -1;
	vdev__vu_event(s, VDEV_VHOST_USER_DISCONNECTED, 0);
}

static void accept_cb(uv_poll_t *h, int status, int events)
{
	struct vu_server *s = h->data;
	int fd;

	(void)events;
	if (status < 0)
		return;
	fd = vdev__msgsock_accept(s->loop, s->listen_fd, s->conn_fd >= 0, s, &s->conn_h);
	if (fd == -EBUSY)
		vdev__vu_log(s, VDEV_LOG_WARN, "second connection refused (one at a time)");
	if (fd < 0)
		return;
	s->conn_fd = fd;
	s->rx.len = 0;
	vdev__vu_log(s, VDEV_LOG_INFO, "front end connected on %s", s->path);
	conn_poll(s, true);
	vdev__vu_event(s, VDEV_VHOST_USER_CONNECTED, 0);
}

/* ---- creation ---- */

static int server_alloc(vdev_virtio *vd, uv_loop_t *loop, struct vu_server **out)
{
	struct vu_server *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	s->vd = vd;
	s->loop = loop;
	s->nq = vdev_virtio_ext_num_queues(vd);
	s->listen_fd = s->conn_fd = s->backend_fd = -1;
	s->rx.buf = s->rbuf;
	s->rx.hdr_size = VU_HDR_SIZE;
	s->rx.max_fds = VU_MAX_FDS;
	s->rx.msg_len = msg_len;
	s->rx.opaque = s;
	s->vr = calloc(s->nq, sizeof(*s->vr));
	if (!s->vr) {
		free(s);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < s->nq; i++)
		vdev__vu_vring_init(&s->vr[i]);
	rc = vdev_virtio_ext_attach(vd, &vdev__vu_ext_ops, s);
	if (rc) {
		free(s->vr);
		free(s);
		return rc;
	}
	/* The device's context: its log, and its memory map that we own. */
	s->ctx = vdev_virtio_ctx(vd);
	if (loop) {
		s->maint = calloc(1, sizeof(*s->maint));
		if (!s->maint || uv_timer_init(loop, s->maint)) {
			free(s->maint);
			s->maint = NULL;
			vdev_virtio_ext_detach(vd);
			free(s->vr);
			free(s);
			return -ENOMEM;
		}
		s->maint->data = s;
	}
	*out = s;
	return 0;
}

static void server_release(struct vu_server *s)
{
	conn_drop(s, "server stopped");
	vdev__vu_conn_reset(s);
	if (s->listen_h) {
		handle_close(s, (uv_handle_t *)s->listen_h);
		s->listen_h = NULL;
	}
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		if (s->path)
			unlink(s->path);
	}
	if (s->maint) {
		handle_close(s, (uv_handle_t *)s->maint);
		s->maint = NULL;
	}
	vdev_virtio_ext_detach(s->vd);
	s->freeing = true;
	maybe_free(s);
}

int vdev_vhost_user_new(vdev_virtio *vd, struct uv_loop_s *loop,
			const struct vdev_vhost_user_opts *uopts, vdev_vhost_user **out)
{
	struct vdev_vhost_user_opts o;
	struct vu_server *s;
	int rc;

	if (!vd || !loop || !uopts || !out || vdev__copy_sized(&o, sizeof(o), uopts) ||
	    !o.socket_path || !*o.socket_path)
		return -EINVAL;
	rc = server_alloc(vd, loop, &s);
	if (rc)
		return rc;
	s->send = sock_send;
	s->event = o.event;
	s->opaque = o.opaque;
	s->features_mask = o.features_mask;
	s->path = strdup(o.socket_path);
	rc = s->path ? vdev__msgsock_listen(loop, s->path, s, accept_cb, &s->listen_fd,
					    &s->listen_h)
		     : -ENOMEM;
	if (rc) {
		free(s->path);
		s->path = NULL;
		server_release(s);
		return rc;
	}
	vdev__vu_log(s, VDEV_LOG_INFO, "listening on %s (%u queues)", s->path, s->nq);
	*out = (vdev_vhost_user *)s;
	return 0;
}

void vdev_vhost_user_free(vdev_vhost_user *vu)
{
	if (vu)
		server_release((struct vu_server *)vu);
}

int vdev_vhost_user_connected(const vdev_vhost_user *vu)
{
	return vu && ((const struct vu_server *)vu)->conn_fd >= 0;
}

void vdev_vhost_user_disconnect(vdev_vhost_user *vu)
{
	if (vu)
		conn_drop((struct vu_server *)vu, "dropped by the application");
}

/* ---- fuzzing: no socket, replies dropped ---- */

int vdev__vu_fuzz_new(vdev_virtio *vd, uv_loop_t *loop, struct vu_server **out)
{
	int rc = server_alloc(vd, loop, out);

	if (!rc)
		(*out)->send = null_send;
	return rc;
}

void vdev__vu_fuzz_free(struct vu_server *s)
{
	server_release(s);
}
