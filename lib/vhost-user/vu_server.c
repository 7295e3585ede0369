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
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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
	union {
		char b[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (s->conn_fd < 0)
		return -EPIPE;
	if (nfds) {
		struct cmsghdr *c;

		if (nfds > VU_MAX_FDS)
			return -EINVAL;
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	/* Replies are small: a full socket buffer means the front end stopped reading. */
	do
		n = sendmsg(s->conn_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)len)
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

static void rfds_close(struct vu_server *s)
{
	for (unsigned int i = 0; i < s->nrfds; i++)
		close(s->rfds[i]);
	s->nrfds = 0;
}

/* Take the fds of one control message. @return 0 or -EBADMSG (too many). */
static int take_cmsg(struct vu_server *s, struct msghdr *mh)
{
	int rc = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (s->nrfds < VU_MAX_FDS) {
				s->rfds[s->nrfds++] = fd;
			} else {
				close(fd);
				rc = -EBADMSG;
			}
		}
	}
	if (mh->msg_flags & MSG_CTRUNC)
		rc = -EBADMSG;
	return rc;
}

/* Read towards the end of the current message. @return 1 (complete), 0 (later), < 0. */
static int read_some(struct vu_server *s)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} u;
	size_t want;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (s->rlen < VU_HDR_SIZE) {
		want = VU_HDR_SIZE - s->rlen;
	} else {
		uint32_t size = vdev__le32(s->rbuf + 8);

		if (size > VU_MAX_PAYLOAD) {
			vdev__vu_log(s, VDEV_LOG_WARN, "message of %u bytes: too big", size);
			return -EBADMSG;
		}
		want = VU_HDR_SIZE + size - s->rlen;
		if (!want)
			return 1;
	}
	iov.iov_base = s->rbuf + s->rlen;
	iov.iov_len = want;
	mh.msg_control = u.b;
	mh.msg_controllen = sizeof(u.b);
	do
		n = recvmsg(s->conn_fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	if (n == 0)
		return -ECONNRESET;
	if (take_cmsg(s, &mh))
		return -EBADMSG;
	s->rlen += (size_t)n;
	if (s->rlen < VU_HDR_SIZE)
		return 0;
	return s->rlen == VU_HDR_SIZE + vdev__le32(s->rbuf + 8) ? 1 : 2;
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
	int fds[VU_MAX_FDS];
	unsigned int nfds = s->nrfds;
	int rc;

	m->request = vdev__le32(s->rbuf);
	m->flags = vdev__le32(s->rbuf + 4);
	m->size = vdev__le32(s->rbuf + 8);
	memcpy(m->payload, s->rbuf + VU_HDR_SIZE, m->size);
	memcpy(fds, s->rfds, nfds * sizeof(int));
	s->nrfds = 0;
	s->rlen = 0;
	rc = vdev__vu_handle(s, m, fds, nfds);
	return rc;
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
		rc = read_some(s);
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
	rfds_close(s);
	s->rlen = 0;
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
	fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (s->conn_fd >= 0) {
		vdev__vu_log(s, VDEV_LOG_WARN, "second connection refused (one at a time)");
		close(fd);
		return;
	}
	s->conn_h = calloc(1, sizeof(*s->conn_h));
	if (!s->conn_h || uv_poll_init(s->loop, s->conn_h, fd)) {
		free(s->conn_h);
		s->conn_h = NULL;
		close(fd);
		return;
	}
	s->conn_h->data = s;
	s->conn_fd = fd;
	s->rlen = 0;
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

static int listen_on(struct vu_server *s, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	/* A stale socket from an earlier run: replace it (never another file). */
	if (!stat(path, &st) && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	s->listen_h = calloc(1, sizeof(*s->listen_h));
	if (!s->listen_h || uv_poll_init(s->loop, s->listen_h, fd)) {
		free(s->listen_h);
		s->listen_h = NULL;
		close(fd);
		unlink(path);
		return -ENOMEM;
	}
	s->listen_h->data = s;
	s->listen_fd = fd;
	uv_poll_start(s->listen_h, UV_READABLE, accept_cb);
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
	rc = s->path ? listen_on(s, s->path) : -ENOMEM;
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
