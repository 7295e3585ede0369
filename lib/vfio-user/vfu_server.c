/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user server: a listening UNIX socket, one connection at a
 * time, message framing with fds (SCM_RIGHTS), and the public API.
 *
 * Framing (vfio-user.rst "Message Format"): a 16-byte header whose size
 * field counts the whole message, header included; a client sends each
 * message with its fds attached to the first byte. We read the header and
 * then the rest of one message at a time (never into the next), so the
 * fds that arrive belong to the message being read.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vfio-user/vfu_internal.h"

static void conn_drop(struct vfu_server *s, const char *why);

void vdev__vfu_log(struct vfu_server *s, enum vdev_log_level level, const char *fmt, ...)
{
	char line[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	vdev_log(s->ctx, level, "vfio-user: %s", line);
}

/* ---- handle bookkeeping: the server is freed once its handles closed ---- */

static void maybe_free(struct vfu_server *s)
{
	if (!s->freeing || s->pending_closes)
		return;
	free(s->rbuf);
	free(s->wbuf);
	free(s->msi_fds);
	free(s->msix_fds);
	free(s->path);
	free(s);
}

static void handle_closed(uv_handle_t *h)
{
	struct vfu_server *s = h->data;

	free(h);
	s->pending_closes--;
	maybe_free(s);
}

static void handle_close(struct vfu_server *s, uv_handle_t *h)
{
	if (!h)
		return;
	h->data = s;
	s->pending_closes++;
	uv_close(h, handle_closed);
}

/* ---- sending ---- */

/*
 * Replies can be as big as a 1 MiB region read: write it all, waiting for
 * room for up to a second at a time. A client that stops reading for
 * that long is dropped.
 */
static int sock_send(struct vfu_server *s, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n;

		if (s->conn_fd < 0)
			return -EPIPE;
		n = send(s->conn_fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { .fd = s->conn_fd, .events = POLLOUT };

			if (poll(&pfd, 1, 1000) <= 0)
				return -ETIMEDOUT;
			continue;
		}
		if (n <= 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int null_send(struct vfu_server *s, const void *buf, size_t len)
{
	(void)s;
	(void)buf;
	(void)len;
	return 0;
}

/* ---- receiving ---- */

static void rfds_close(struct vfu_server *s)
{
	for (unsigned int i = 0; i < s->nrfds; i++)
		close(s->rfds[i]);
	s->nrfds = 0;
}

/* Take the fds of one control message. @return 0 or -EBADMSG (too many). */
static int take_cmsg(struct vfu_server *s, struct msghdr *mh)
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
			if (s->nrfds < VFU_MAX_FDS) {
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
static int read_some(struct vfu_server *s)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * VFU_MAX_FDS)];
		struct cmsghdr align;
	} u;
	size_t want;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (s->rlen < VFU_HDR_SIZE) {
		want = VFU_HDR_SIZE - s->rlen;
	} else {
		uint32_t size = vdev__le32(s->rbuf + 4);

		if (size < VFU_HDR_SIZE || size > VFU_MAX_MSG) {
			vdev__vfu_log(s, VDEV_LOG_WARN, "message of %u bytes: bad size", size);
			return -EBADMSG;
		}
		want = size - s->rlen;
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
	if (s->rlen < VFU_HDR_SIZE)
		return 0;
	return s->rlen == vdev__le32(s->rbuf + 4) ? 1 : 2;
}

static void conn_cb(uv_poll_t *h, int status, int events);

static void conn_poll(struct vfu_server *s, bool on)
{
	if (!s->conn_h)
		return;
	if (on)
		uv_poll_start(s->conn_h, UV_READABLE | UV_DISCONNECT, conn_cb);
	else
		uv_poll_stop(s->conn_h);
}

static int process(struct vfu_server *s)
{
	struct vfu_msg m = {
		.id = vdev__le16(s->rbuf),
		.cmd = vdev__le16(s->rbuf + 2),
		.size = vdev__le32(s->rbuf + 4) - VFU_HDR_SIZE,
		.flags = vdev__le32(s->rbuf + 8),
		.p = s->rbuf + VFU_HDR_SIZE,
	};
	int fds[VFU_MAX_FDS];
	unsigned int nfds = s->nrfds;

	memcpy(fds, s->rfds, nfds * sizeof(int));
	s->nrfds = 0;
	s->rlen = 0;
	return vdev__vfu_handle(s, &m, fds, nfds);
}

static void conn_cb(uv_poll_t *h, int status, int events)
{
	struct vfu_server *s = h->data;
	int rc = 0;

	(void)events;
	if (status < 0) {
		conn_drop(s, "socket error");
		return;
	}
	/* One message after another, until the socket is empty or a reply is deferred. */
	while (s->conn_fd >= 0 && !s->waiting) {
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
		conn_drop(s, rc == -ECONNRESET ? "client closed the connection"
					       : "protocol error");
		return;
	}
	if (s->waiting)
		conn_poll(s, false);
}

void vdev__vfu_resume(struct vfu_server *s, int rc)
{
	if (rc < 0) {
		conn_drop(s, "reply not delivered");
		return;
	}
	conn_poll(s, true);
}

/* ---- connection lifecycle ---- */

static void conn_closed(uv_handle_t *h)
{
	struct vfu_server *s = h->data;

	free(h);
	s->pending_closes--;
	maybe_free(s);
}

static void conn_drop(struct vfu_server *s, const char *why)
{
	if (s->conn_fd < 0)
		return;
	vdev__vfu_log(s, VDEV_LOG_INFO, "connection closed: %s", why);
	vdev__vfu_conn_reset(s);
	rfds_close(s);
	s->rlen = 0;
	if (s->wait_h)
		uv_timer_stop(s->wait_h);
	if (s->conn_h) {
		s->conn_h->data = s;
		s->pending_closes++;
		uv_close((uv_handle_t *)s->conn_h, conn_closed);
		s->conn_h = NULL;
	}
	close(s->conn_fd);
	s->conn_fd = -1;
	if (s->event)
		s->event(s->opaque, VDEV_VFIO_USER_DISCONNECTED);
}

static void accept_cb(uv_poll_t *h, int status, int events)
{
	struct vfu_server *s = h->data;
	int fd;

	(void)events;
	if (status < 0)
		return;
	fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (s->conn_fd >= 0) {
		vdev__vfu_log(s, VDEV_LOG_WARN, "second connection refused (one at a time)");
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
	vdev__vfu_log(s, VDEV_LOG_INFO, "client connected on %s", s->path);
	conn_poll(s, true);
	if (s->event)
		s->event(s->opaque, VDEV_VFIO_USER_CONNECTED);
}

/* ---- creation ---- */

static int server_alloc(vdev_device *dev, uv_loop_t *loop, struct vfu_server **out)
{
	struct vfu_server *s;
	vdev_ctx *ctx;

	if (!dev || !vdev_device_pci(dev))
		return -EINVAL;
	ctx = vdev_device_ctx(dev);
	if (ctx->irq_redirect)
		return -EBUSY;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dev = dev;
	s->f = vdev_device_pci(dev);
	s->vd = vdev_device_virtio(dev);
	s->ctx = ctx;
	s->loop = loop;
	s->listen_fd = s->conn_fd = -1;
	s->rbuf = malloc(VFU_MAX_MSG);
	s->wbuf = malloc(VFU_MAX_MSG);
	s->msi_fds = malloc(32 * sizeof(int));
	if (!s->rbuf || !s->wbuf || !s->msi_fds)
		goto nomem;
	vdev__vfu_irq_init(s);
	if (s->n_msix) {
		s->msix_fds = malloc(s->n_msix * sizeof(int));
		if (!s->msix_fds)
			goto nomem;
		for (unsigned int i = 0; i < s->n_msix; i++)
			s->msix_fds[i] = -1;
	}
	if (loop) {
		s->wait_h = calloc(1, sizeof(*s->wait_h));
		if (!s->wait_h || uv_timer_init(loop, s->wait_h)) {
			free(s->wait_h);
			s->wait_h = NULL;
			goto nomem;
		}
		s->wait_h->data = s;
	}
	s->redirect = vdev__vfu_irq_redirect_tmpl;
	s->redirect.opaque = s;
	ctx->irq_redirect = &s->redirect;
	s->mig_state = VFU_MIG_RUNNING;
	*out = s;
	return 0;
nomem:
	free(s->rbuf);
	free(s->wbuf);
	free(s->msi_fds);
	free(s->msix_fds);
	free(s);
	return -ENOMEM;
}

static int listen_on(struct vfu_server *s, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
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

static void server_release(struct vfu_server *s)
{
	conn_drop(s, "server stopped");
	vdev__vfu_conn_reset(s);
	if (s->listen_h) {
		handle_close(s, (uv_handle_t *)s->listen_h);
		s->listen_h = NULL;
	}
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		if (s->path)
			unlink(s->path);
	}
	if (s->wait_h) {
		handle_close(s, (uv_handle_t *)s->wait_h);
		s->wait_h = NULL;
	}
	if (s->ctx->irq_redirect == &s->redirect)
		s->ctx->irq_redirect = NULL;
	s->freeing = true;
	maybe_free(s);
}

int vdev_vfio_user_new(vdev_device *dev, struct uv_loop_s *loop,
		       const struct vdev_vfio_user_opts *uopts, vdev_vfio_user **out)
{
	struct vdev_vfio_user_opts o;
	struct vfu_server *s;
	int rc;

	if (!dev || !loop || !uopts || !out || vdev__copy_sized(&o, sizeof(o), uopts) ||
	    !o.socket_path || !*o.socket_path)
		return -EINVAL;
	rc = server_alloc(dev, loop, &s);
	if (rc)
		return rc;
	s->send = sock_send;
	s->event = o.event;
	s->opaque = o.opaque;
	s->path = strdup(o.socket_path);
	rc = s->path ? listen_on(s, s->path) : -ENOMEM;
	if (rc) {
		free(s->path);
		s->path = NULL;
		server_release(s);
		return rc;
	}
	vdev__vfu_log(s, VDEV_LOG_INFO, "listening on %s (%s)", s->path,
		      vdev_device_id(dev));
	*out = (vdev_vfio_user *)s;
	return 0;
}

void vdev_vfio_user_free(vdev_vfio_user *vs)
{
	if (vs)
		server_release((struct vfu_server *)vs);
}

int vdev_vfio_user_connected(const vdev_vfio_user *vs)
{
	return vs && ((const struct vfu_server *)vs)->conn_fd >= 0;
}

void vdev_vfio_user_disconnect(vdev_vfio_user *vs)
{
	if (vs)
		conn_drop((struct vfu_server *)vs, "dropped by the application");
}

/* ---- fuzzing: no socket, replies dropped ---- */

int vdev__vfu_fuzz_new(vdev_device *dev, uv_loop_t *loop, struct vfu_server **out)
{
	int rc = server_alloc(dev, loop, out);

	if (!rc)
		(*out)->send = null_send;
	return rc;
}

void vdev__vfu_fuzz_free(struct vfu_server *s)
{
	server_release(s);
}
