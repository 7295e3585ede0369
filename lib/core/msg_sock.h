/* SPDX-License-Identifier: MIT */
/*
 * Message sockets: the UNIX stream socket plumbing the vhost-user and
 * vfio-user servers share. A message is a fixed-size header and a payload
 * whose size the header gives; its fds (SCM_RIGHTS) ride on its bytes.
 * Reading stops at the end of one message (never into the next), so the
 * fds that arrive belong to the message being read. Protocol checks stay
 * with the servers: the msg_len callback refuses a header it dislikes.
 */
#ifndef VDEV_CORE_MSG_SOCK_H
#define VDEV_CORE_MSG_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* The most fds any user takes with one message (vfio-user's max_msg_fds). */
#define VDEV__MSGSOCK_MAX_FDS 16u

/* Receive state of one connection: the message being read and its fds. */
struct vdev__msgsock_rx {
	uint8_t *buf;               /* the owner's buffer, big enough for any accepted message */
	size_t len;                 /* bytes of the current message read so far */
	size_t hdr_size;
	unsigned int max_fds;       /* <= VDEV__MSGSOCK_MAX_FDS; more is a bad message */
	/*
	 * The whole message's length (header included) from its complete
	 * header, at least hdr_size and within buf; or a negative errno to
	 * refuse the message (the callback logs why).
	 */
	long (*msg_len)(void *opaque, const uint8_t *hdr);
	void *opaque;
	int fds[VDEV__MSGSOCK_MAX_FDS];
	unsigned int nfds;
};

/*
 * Read towards the end of the current message from nonblocking @fd.
 * @return 1: complete (rx->len bytes, rx->nfds fds); 2: call again; 0: no
 * data now; -ECONNRESET: peer closed; -EBADMSG: refused header, too many
 * fds or truncated control data; another negative errno from recvmsg().
 */
int vdev__msgsock_read(int fd, struct vdev__msgsock_rx *rx);
/* Move the complete message's fds to @fds (VDEV__MSGSOCK_MAX_FDS room) and
 * start the next message. @return how many. */
unsigned int vdev__msgsock_take(struct vdev__msgsock_rx *rx, int *fds);
/* Close the fds received so far and forget the partial message. */
void vdev__msgsock_rx_reset(struct vdev__msgsock_rx *rx);

/* One nonblocking sendmsg() of @len bytes with @nfds fds (<= VDEV__MSGSOCK_MAX_FDS),
 * no SIGPIPE, retried on EINTR. @return the bytes sent or a negative errno. */
long vdev__msgsock_send(int fd, const void *buf, size_t len, const int *fds,
			unsigned int nfds);

/*
 * Listen on UNIX @path (a stale socket there is replaced, never another
 * file: -EADDRINUSE): a nonblocking socket polled on @loop, @cb called with
 * h->data = @data. The path appears only once the socket listens (bound
 * under a sibling name and renamed), so a client that waits for it is not
 * refused. @return 0 (*@fd, *@h set) or a negative errno.
 */
int vdev__msgsock_listen(uv_loop_t *loop, const char *path, void *data, uv_poll_cb cb,
			 int *fd, uv_poll_t **h);
/*
 * Accept one client on @listen_fd. @busy: a client is already connected,
 * so the new one is closed (-EBUSY). Else *@h is a new, not yet started
 * poll handle for it on @loop with data @data. @return the client's fd or
 * a negative errno.
 */
int vdev__msgsock_accept(uv_loop_t *loop, int listen_fd, bool busy, void *data,
			 uv_poll_t **h);

#endif /* VDEV_CORE_MSG_SOCK_H */
