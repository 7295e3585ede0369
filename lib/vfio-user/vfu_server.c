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
 *
 * The client's replies to our DMA_READ/DMA_WRITE requests (vfu_dmaio.c)
 * come in the same stream as its commands and are read the same way;
 * nothing waits for them. Once the messages read so far are handled, the
 * device hears that fetched data arrived (before the next command too, so
 * it sees the data as early as the client's order allows).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vfio-user/vfu_internal.h"

#include "virtio/virtio_internal.h"

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
	vdev__vfu_dmaio_drop(s);
	free(s->rbuf);
	free(s->wbuf);
	free(s->msi_fds);
	free(s->msix_fds);
	free(s->held_msix);
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
		long n;

		if (s->conn_fd < 0)
			return -EPIPE;
		n = vdev__msgsock_send(s->conn_fd, p, len, NULL, 0);
		if (n == -EAGAIN || n == -EWOULDBLOCK) {
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

long vdev__vfu_msg_len(void *opaque, const uint8_t *hdr)
{
	struct vfu_server *s = opaque;
	uint32_t size = vdev__le32(hdr + 4);

	if (size < VFU_HDR_SIZE || size > VFU_MAX_MSG) {
		vdev__vfu_log(s, VDEV_LOG_WARN, "message of %u bytes: bad size", size);
		return -EBADMSG;
	}
	return (long)size;
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
	int fds[VDEV__MSGSOCK_MAX_FDS];
	unsigned int nfds = vdev__msgsock_take(&s->rx, fds);

	return vdev__vfu_handle(s, &m, fds, nfds);
}

/* Fetched data arrived since we last said so: the device retries what waited for it. */
void vdev__vfu_remote_ready(struct vfu_server *s)
{
	if (!s->dma_arrived)
		return;
	s->dma_arrived = false;
	if (s->vd)
		vdev__virtio_remote_ready(s->vd);
}

/*
 * One message after another until the socket has no complete one, a
 * reply is deferred or the connection goes.
 */
static void conn_run(struct vfu_server *s)
{
	int rc = 0;

	while (s->conn_fd >= 0 && !s->waiting && !s->dma_broken) {
		rc = vdev__msgsock_read(s->conn_fd, &s->rx);
		if (rc <= 0)
			break;
		if (rc == 2)
			continue;
		/* A command after data arrived: the device sees the data first. */
		if ((vdev__le32(s->rbuf + 8) & VFU_TYPE_MASK) != VFU_TYPE_REPLY)
			vdev__vfu_remote_ready(s);
		rc = process(s);
		if (rc < 0)
			break;
	}
	if (s->conn_fd >= 0 && rc >= 0 && !s->dma_broken)
		vdev__vfu_remote_ready(s);
	if (s->conn_fd < 0)
		return;
	if (rc < 0) {
		vdev__vfu_conn_drop(s, rc == -ECONNRESET ? "client closed the connection"
							 : "protocol error");
		return;
	}
	if (s->dma_broken) {
		vdev__vfu_conn_drop(s, "a DMA_READ/DMA_WRITE request could not be sent");
		return;
	}
	if (s->waiting)
		conn_poll(s, false);
}

static void conn_cb(uv_poll_t *h, int status, int events)
{
	struct vfu_server *s = h->data;

	(void)events;
	if (status < 0) {
		vdev__vfu_conn_drop(s, "socket error");
		return;
	}
	conn_run(s);
}

void vdev__vfu_resume(struct vfu_server *s, int rc)
{
	if (rc < 0) {
		vdev__vfu_conn_drop(s, "reply not delivered");
		return;
	}
	conn_poll(s, true);
	if (s->dma_broken)
		vdev__vfu_drop_later(s);
}

/* ---- connection lifecycle ---- */

static void conn_closed(uv_handle_t *h)
{
	struct vfu_server *s = h->data;

	free(h);
	s->pending_closes--;
	maybe_free(s);
}

void vdev__vfu_conn_drop(struct vfu_server *s, const char *why)
{
	if (s->conn_fd < 0)
		return;
	vdev__vfu_log(s, VDEV_LOG_INFO, "connection closed: %s", why);
	/* The reset below may complete requests: their DMA hooks fail at once. */
	s->dma_broken = true;
	vdev__vfu_conn_reset(s);
	vdev__msgsock_rx_reset(&s->rx);
	vdev__vfu_dmaio_drop(s);
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

/* A new connection on @fd: nothing of the last one's state carries over. */
static void conn_begin(struct vfu_server *s, int fd)
{
	s->conn_fd = fd;
	s->rx.len = 0;
	s->dma_broken = false;
	s->dma_arrived = false;
	s->dma_warned_id = false;
	s->dma_warned_err = false;
}

static void accept_cb(uv_poll_t *h, int status, int events)
{
	struct vfu_server *s = h->data;
	int fd;

	(void)events;
	if (status < 0)
		return;
	fd = vdev__msgsock_accept(s->loop, s->listen_fd, s->conn_fd >= 0, s, &s->conn_h);
	if (fd == -EBUSY)
		vdev__vfu_log(s, VDEV_LOG_WARN, "second connection refused (one at a time)");
	if (fd < 0)
		return;
	conn_begin(s, fd);
	vdev__vfu_log(s, VDEV_LOG_INFO, "client connected on %s", s->path);
	conn_poll(s, true);
	if (s->event)
		s->event(s->opaque, VDEV_VFIO_USER_CONNECTED);
}

/* ---- creation ---- */

/* A handle of a server that never came to be. */
static void free_handle(uv_handle_t *h)
{
	free(h);
}

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
	s->rx.buf = s->rbuf;
	s->rx.hdr_size = VFU_HDR_SIZE;
	s->rx.max_fds = VFU_MAX_FDS;
	s->rx.msg_len = vdev__vfu_msg_len;
	s->rx.opaque = s;
	s->wbuf = malloc(VFU_MAX_MSG);
	s->msi_fds = malloc(32 * sizeof(int));
	if (!s->rbuf || !s->wbuf || !s->msi_fds)
		goto nomem;
	vdev__vfu_irq_init(s);
	if (s->n_msix) {
		s->msix_fds = malloc(s->n_msix * sizeof(int));
		s->held_msix = calloc((s->n_msix + 63) / 64, sizeof(uint64_t));
		if (!s->msix_fds || !s->held_msix)
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
		s->dma_h = calloc(1, sizeof(*s->dma_h));
		if (!s->dma_h || uv_timer_init(loop, s->dma_h)) {
			free(s->dma_h);
			s->dma_h = NULL;
			uv_close((uv_handle_t *)s->wait_h, free_handle);
			s->wait_h = NULL;
			goto nomem;
		}
		s->dma_h->data = s;
	}
	s->dma_timeout_ms = VDEV_VFIO_USER_DMA_TIMEOUT_MS;
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
	free(s->held_msix);
	free(s);
	return -ENOMEM;
}

static void server_release(struct vfu_server *s)
{
	vdev__vfu_conn_drop(s, "server stopped");
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
	if (s->dma_h) {
		handle_close(s, (uv_handle_t *)s->dma_h);
		s->dma_h = NULL;
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
	rc = s->path ? vdev__msgsock_listen(loop, s->path, s, accept_cb, &s->listen_fd,
					    &s->listen_h)
		     : -ENOMEM;
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
		vdev__vfu_conn_drop((struct vfu_server *)vs, "dropped by the application");
}

/* ---- fuzzing: no socket, replies dropped ---- */

int vdev__vfu_fuzz_connect(struct vfu_server *s)
{
	/* A stand-in for the socket: what we send goes to null_send, the fd
	 * only marks the connection up (DMA requests need one) and is closed
	 * when the connection goes, like a real one. */
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	conn_begin(s, fd);
	return 0;
}

int vdev__vfu_fuzz_new(vdev_device *dev, uv_loop_t *loop, struct vfu_server **out)
{
	int rc = server_alloc(dev, loop, out);

	if (rc)
		return rc;
	(*out)->send = null_send;
	rc = vdev__vfu_fuzz_connect(*out);
	if (rc) {
		server_release(*out);
		*out = NULL;
	}
	return rc;
}

void vdev__vfu_fuzz_free(struct vfu_server *s)
{
	server_release(s);
}
