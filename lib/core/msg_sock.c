/* SPDX-License-Identifier: MIT */
/*
 * Message sockets (msg_sock.h): framed reads with SCM_RIGHTS fds, sends
 * with fds, and the listening socket of a one-client server.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/msg_sock.h"

/* Room for the most fds any message may carry, aligned for struct cmsghdr. */
union msgsock_cmsg {
	char b[CMSG_SPACE(sizeof(int) * VDEV__MSGSOCK_MAX_FDS)];
	struct cmsghdr align;
};

void vdev__msgsock_rx_reset(struct vdev__msgsock_rx *rx)
{
	for (unsigned int i = 0; i < rx->nfds; i++)
		close(rx->fds[i]);
	rx->nfds = 0;
	rx->len = 0;
}

unsigned int vdev__msgsock_take(struct vdev__msgsock_rx *rx, int *fds)
{
	unsigned int n = rx->nfds;

	memcpy(fds, rx->fds, n * sizeof(int));
	rx->nfds = 0;
	rx->len = 0;
	return n;
}

/* Take the fds of one control message. @return 0 or -EBADMSG (too many, truncated). */
static int take_cmsg(struct vdev__msgsock_rx *rx, struct msghdr *mh)
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
			if (rx->nfds < rx->max_fds) {
				rx->fds[rx->nfds++] = fd;
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

int vdev__msgsock_read(int fd, struct vdev__msgsock_rx *rx)
{
	union msgsock_cmsg u;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	size_t want;
	long total;
	ssize_t n;

	if (rx->len < rx->hdr_size) {
		want = rx->hdr_size - rx->len;
	} else {
		total = rx->msg_len(rx->opaque, rx->buf);
		if (total < 0)
			return (int)total;
		want = (size_t)total - rx->len;
		if (!want)
			return 1;
	}
	iov.iov_base = rx->buf + rx->len;
	iov.iov_len = want;
	mh.msg_control = u.b;
	/* Room for max_fds only: more makes the kernel truncate (MSG_CTRUNC). */
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * rx->max_fds);
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	if (n == 0)
		return -ECONNRESET;
	if (take_cmsg(rx, &mh))
		return -EBADMSG;
	rx->len += (size_t)n;
	if (rx->len < rx->hdr_size)
		return 0;
	/* The header is complete: a refused one ends here (its log line once). */
	total = rx->msg_len(rx->opaque, rx->buf);
	if (total < 0)
		return (int)total;
	return rx->len == (size_t)total ? 1 : 2;
}

long vdev__msgsock_send(int fd, const void *buf, size_t len, const int *fds, unsigned int nfds)
{
	union msgsock_cmsg u;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds) {
		struct cmsghdr *c;

		if (nfds > VDEV__MSGSOCK_MAX_FDS)
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
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : (long)n;
}

/* Bind and listen on @fd at @at, then move it to @path (when they differ). */
static int listen_at(int fd, const char *at, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memcpy(sa.sun_path, at, strlen(at) + 1);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
		return -errno;
	if (listen(fd, 4) || (strcmp(at, path) && rename(at, path))) {
		int rc = -errno;

		unlink(at);
		return rc;
	}
	return 0;
}

int vdev__msgsock_listen(uv_loop_t *loop, const char *path, void *data, uv_poll_cb cb,
			 int *fd_out, uv_poll_t **h_out)
{
	char at[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;
	uv_poll_t *h;
	int fd, rc;

	if (strlen(path) >= sizeof(at))
		return -ENAMETOOLONG;
	/* A stale socket from an earlier run: replace it (never another file). */
	if (!stat(path, &st)) {
		if (!S_ISSOCK(st.st_mode))
			return -EADDRINUSE;
		unlink(path);
	}
	/*
	 * bind() creates the file and only listen() makes it connectable: a
	 * client that waits for the file (QEMU started once it exists, a test)
	 * could connect in between and be refused. So bind a sibling name,
	 * listen, and rename it into place: the path appears ready. When the
	 * sibling's name does not fit, bind the path itself.
	 */
	if ((size_t)snprintf(at, sizeof(at), "%s.%ld~", path, (long)getpid()) >= sizeof(at))
		memcpy(at, path, strlen(path) + 1);
	else if (!stat(at, &st) && S_ISSOCK(st.st_mode))
		unlink(at);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = listen_at(fd, at, path);
	if (rc) {
		close(fd);
		return rc;
	}
	h = calloc(1, sizeof(*h));
	if (!h || uv_poll_init(loop, h, fd)) {
		free(h);
		close(fd);
		unlink(path);
		return -ENOMEM;
	}
	h->data = data;
	uv_poll_start(h, UV_READABLE, cb);
	*fd_out = fd;
	*h_out = h;
	return 0;
}

int vdev__msgsock_accept(uv_loop_t *loop, int listen_fd, bool busy, void *data,
			 uv_poll_t **h_out)
{
	uv_poll_t *h;
	int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (busy) {
		close(fd);
		return -EBUSY;
	}
	h = calloc(1, sizeof(*h));
	if (!h || uv_poll_init(loop, h, fd)) {
		free(h);
		close(fd);
		return -ENOMEM;
	}
	h->data = data;
	*h_out = h;
	return fd;
}
