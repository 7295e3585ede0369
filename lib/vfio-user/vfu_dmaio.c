/* SPDX-License-Identifier: MIT */
/*
 * DMA_READ / DMA_WRITE (vfio-user.rst "VFIO_USER_DMA_READ/WRITE"): the
 * server asks the client to copy guest memory it did not share as an fd.
 * These are the read/write hooks of the memory map's remote regions
 * (core.h "Remote regions"; vfu_dma.c registers one per fd-less DMA_MAP):
 * synchronous, so each hook sends its request(s) on the connection and
 * blocks in poll() until the reply with the same id arrives.
 *
 * Layout: QEMU's client (hw/vfio-user, VFIOUserDMARW) reads a u64 address,
 * a u32 count and the data at payload offset 12, and its size checks
 * count the C struct's 4 bytes of trailing padding (a message is at
 * least 32 bytes, data after that). So a DMA_READ request is 16 bytes
 * of payload (address, count, 4 zero bytes: the spec's u64 count reads
 * the same), a DMA_WRITE request address, count, data, 4 zero bytes. Its
 * DMA_READ reply is the same shape with the data (payload 12 + count, or
 * + 4 with QEMU's padding); its DMA_WRITE reply has no payload (the spec
 * says address and count: both are accepted, and checked when present).
 * One message carries at most the client's max_data_xfer_size: larger
 * copies are split.
 *
 * While we wait, the client keeps talking (posted region writes, its own
 * requests from other vCPUs). Those messages are not handled here - the
 * device is in the middle of an access on our stack - but copied, with
 * their fds, into an in-order backlog that vfu_server.c handles before any
 * newer message. A hook can also run outside any message handler (a block
 * completion on the loop), when the connection's receive buffer may hold
 * half a client message: that message is finished first, into the
 * backlog; further messages are read with our own receive buffer (the
 * connection's may hold the message being handled).
 *
 * Failure (no reply in time, the client closed, a malformed or mismatched
 * reply, a backlog grown past its bounds) fails the hook with -EIO, marks
 * the connection broken - later hooks fail at once, without I/O - and
 * leaves the drop to the loop (vdev__vfu_kick()), never from inside the
 * hook. An error reply (the client refused the address) fails that hook
 * with -EIO but keeps the connection.
 *
 * The wait: VDEV_VFIO_USER_DMA_TIMEOUT_MS (10 s), well above QEMU's own
 * reply timeout (x-msg-timeout, 5 s by default). QEMU answers our requests
 * from its main loop, under the big lock; a vCPU that holds that lock
 * while it waits for one of OUR replies (a REGION_READ the device is slow
 * to answer - say, because we are in here) can delay our answer until its
 * own timeout fires. A shorter wait would break a connection that QEMU
 * was about to serve.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vfio-user/vfu_internal.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A round trip failed: log once, fail later hooks at once, drop from the loop. */
static int dmaio_fail(struct vfu_server *s, const char *op, uint64_t gpa, size_t len,
		      const char *why)
{
	if (!s->dma_broken)
		vdev__vfu_log(s, VDEV_LOG_ERROR, "%s 0x%" PRIx64 "+0x%zx: %s; dropping the "
			      "connection", op, gpa, len, why);
	s->dma_broken = true;
	vdev__vfu_kick(s);
	return -EIO;
}

static int dmaio_setup(struct vfu_server *s)
{
	if (s->dma_rbuf)
		return 0;
	s->dma_rbuf = malloc(VFU_MAX_MSG);
	if (!s->dma_rbuf)
		return -ENOMEM;
	s->dma_rx.buf = s->dma_rbuf;
	s->dma_rx.hdr_size = VFU_HDR_SIZE;
	s->dma_rx.max_fds = VFU_MAX_FDS;
	s->dma_rx.msg_len = vdev__vfu_msg_len;
	s->dma_rx.opaque = s;
	return 0;
}

/* Keep a complete client command (@rx's message and fds) for later. */
static int backlog_add(struct vfu_server *s, struct vdev__msgsock_rx *rx)
{
	uint32_t len = (uint32_t)rx->len;
	struct vfu_backlog *b;

	if (s->bl_count >= VFU_BACKLOG_MAX || s->bl_bytes + len > VFU_BACKLOG_MAX_BYTES)
		return -ENOBUFS;
	b = malloc(sizeof(*b) + len);
	if (!b)
		return -ENOMEM;
	b->next = NULL;
	b->len = len;
	memcpy(b->msg, rx->buf, len);
	b->nfds = vdev__msgsock_take(rx, b->fds);
	if (s->bl_tail)
		s->bl_tail->next = b;
	else
		s->bl_head = b;
	s->bl_tail = b;
	s->bl_count++;
	s->bl_bytes += len;
	return 0;
}

struct vfu_backlog *vdev__vfu_backlog_pop(struct vfu_server *s)
{
	struct vfu_backlog *b = s->bl_head;

	if (!b)
		return NULL;
	s->bl_head = b->next;
	if (!s->bl_head)
		s->bl_tail = NULL;
	s->bl_count--;
	s->bl_bytes -= b->len;
	return b;
}

void vdev__vfu_dmaio_drop(struct vfu_server *s)
{
	struct vfu_backlog *b;

	while ((b = vdev__vfu_backlog_pop(s))) {
		for (unsigned int i = 0; i < b->nfds; i++)
			close(b->fds[i]);
		free(b);
	}
	if (s->dma_rbuf)
		vdev__msgsock_rx_reset(&s->dma_rx);
}

/* What we expect back: the reply to (@id, @cmd) about [@gpa, +@count). */
struct want {
	uint16_t id, cmd;
	uint64_t gpa;
	uint32_t count;
	void *out;           /* DMA_READ: where the data goes */
	const char *why;     /* set on a bad reply */
	bool error;          /* the client replied with an error */
};

/*
 * A reply arrived in @rx: ours (1: done), someone else's (0: dropped), or
 * ours but malformed (-EBADMSG, w->why set).
 */
static int take_reply(struct vfu_server *s, struct vdev__msgsock_rx *rx, struct want *w)
{
	const uint8_t *h = rx->buf, *p = h + VFU_HDR_SIZE;
	uint16_t id = vdev__le16(h), cmd = vdev__le16(h + 2);
	uint32_t size = (uint32_t)rx->len - VFU_HDR_SIZE, flags = vdev__le32(h + 8);
	int fds[VDEV__MSGSOCK_MAX_FDS];
	unsigned int nfds = vdev__msgsock_take(rx, fds);

	for (unsigned int i = 0; i < nfds; i++)
		close(fds[i]);
	if (id != w->id || cmd != w->cmd) {
		if (!s->dma_warned_id) {
			s->dma_warned_id = true;
			vdev__vfu_log(s, VDEV_LOG_WARN, "reply id %u (command %u) answers nothing "
				      "we asked: dropped", id, cmd);
		}
		return 0;
	}
	if (flags & VFU_F_ERROR) {
		if (!s->dma_warned_err) {
			s->dma_warned_err = true;
			vdev__vfu_log(s, VDEV_LOG_WARN, "client refused %s of 0x%" PRIx64 "+0x%x: %s",
				      cmd == VFU_DMA_READ ? "DMA_READ" : "DMA_WRITE", w->gpa,
				      w->count, vdev_strerror(-(int)vdev__le32(h + 12)));
		}
		w->error = true;
		return 1;
	}
	if (nfds) {
		w->why = "reply with fds";
		return -EBADMSG;
	}
	if (cmd == VFU_DMA_WRITE && !size)
		return 1;    /* QEMU: no payload */
	if (size < VFU_DMARW_HDR || vdev__le64(p) != w->gpa || vdev__le32(p + 8) != w->count) {
		w->why = "reply names another address or count";
		return -EBADMSG;
	}
	if (cmd == VFU_DMA_WRITE)
		return 1;
	if (size < VFU_DMARW_HDR + w->count || size > VFU_DMARW_HDR + w->count + VFU_DMARW_PAD) {
		w->why = "reply carries the wrong amount of data";
		return -EBADMSG;
	}
	memcpy(w->out, p + VFU_DMARW_HDR, w->count);
	return 1;
}

/*
 * Read from the socket until the reply @w arrives, keeping client
 * commands for later. @return 0, -EIO (error reply), or another negative
 * errno with w->why set: the connection is unusable.
 */
static int wait_reply(struct vfu_server *s, struct want *w, uint64_t deadline)
{
	for (;;) {
		/* Half a client message read before we ran: finish it first. */
		struct vdev__msgsock_rx *rx = s->rx.len ? &s->rx : &s->dma_rx;
		struct pollfd pfd = { .fd = s->conn_fd, .events = POLLIN };
		uint64_t now;
		int rc = vdev__msgsock_read(s->conn_fd, rx);

		if (rc == 2)
			continue;
		if (rc == 1) {
			/* Not a reply: the handler judges it later (other types are refused). */
			if ((vdev__le32(rx->buf + 8) & VFU_TYPE_MASK) != VFU_TYPE_REPLY) {
				rc = backlog_add(s, rx);
				if (rc) {
					vdev__msgsock_rx_reset(rx);
					w->why = "too many client messages while waiting";
					return rc;
				}
				continue;
			}
			rc = take_reply(s, rx, w);
			if (rc == 1)
				return w->error ? -EIO : 0;
			if (rc < 0)
				return rc;
			continue;
		}
		if (rc < 0) {
			w->why = rc == -ECONNRESET ? "the client closed the connection"
						   : "unreadable message";
			return rc == -EIO ? -EPROTO : rc;
		}
		now = now_ms();
		if (now >= deadline) {
			w->why = "no reply in time";
			return -ETIMEDOUT;
		}
		rc = poll(&pfd, 1, (int)VDEV__MIN(deadline - now, (uint64_t)1000));
		if (rc < 0 && errno != EINTR) {
			w->why = "poll failed";
			return -errno;
		}
	}
}

/* One request of at most one message's data, and its reply. */
static int round_trip(struct vfu_server *s, uint16_t cmd, uint64_t gpa, void *rbuf,
		      const void *wbuf, uint32_t count)
{
	static const uint8_t pad[VFU_DMARW_PAD];
	const char *op = cmd == VFU_DMA_READ ? "DMA_READ" : "DMA_WRITE";
	uint8_t h[VFU_HDR_SIZE + VFU_DMARW_HDR];
	struct want w = { .cmd = cmd, .gpa = gpa, .count = count, .out = rbuf };
	uint32_t size = VFU_HDR_SIZE + VFU_DMARW_HDR + VFU_DMARW_PAD +
			(cmd == VFU_DMA_WRITE ? count : 0);
	int rc;

	w.id = s->dma_next_id++;
	vdev__put_le16(h, w.id);
	vdev__put_le16(h + 2, cmd);
	vdev__put_le32(h + 4, size);
	vdev__put_le32(h + 8, VFU_TYPE_COMMAND);
	vdev__put_le32(h + 12, 0);
	vdev__put_le64(h + VFU_HDR_SIZE, gpa);
	vdev__put_le32(h + VFU_HDR_SIZE + 8, count);
	rc = s->send(s, h, sizeof(h));
	if (!rc && cmd == VFU_DMA_WRITE)
		rc = s->send(s, wbuf, count);
	if (!rc)
		rc = s->send(s, pad, sizeof(pad));
	if (rc)
		return dmaio_fail(s, op, gpa, count, "request not sent");
	if (cmd == VFU_DMA_READ)
		s->dma_reads++;
	else
		s->dma_writes++;
	rc = wait_reply(s, &w, now_ms() + s->dma_timeout_ms);
	if (rc == -EIO)
		return rc;   /* an error reply: this access fails, the connection stays */
	if (rc)
		return dmaio_fail(s, op, gpa, count, w.why);
	return 0;
}

static int dmaio(struct vfu_server *s, uint16_t cmd, uint64_t gpa, void *rbuf, const void *wbuf,
		 size_t len)
{
	uint32_t chunk = (uint32_t)VDEV__MIN(s->client_max_xfer, (uint64_t)VFU_MAX_XFER);

	if (s->conn_fd < 0)
		return -ENOTCONN;   /* the fuzz harness, or the connection is going */
	if (s->dma_broken)
		return -EIO;
	if (dmaio_setup(s))
		return dmaio_fail(s, cmd == VFU_DMA_READ ? "DMA_READ" : "DMA_WRITE", gpa, len,
				  "out of memory");
	while (len) {
		uint32_t n = (uint32_t)VDEV__MIN(len, (size_t)chunk);
		int rc = round_trip(s, cmd, gpa, rbuf, wbuf, n);

		if (rc)
			return rc;
		gpa += n;
		len -= n;
		if (rbuf)
			rbuf = (uint8_t *)rbuf + n;
		if (wbuf)
			wbuf = (const uint8_t *)wbuf + n;
	}
	/* Messages kept meanwhile: the loop handles them (the socket may stay quiet). */
	if (s->bl_head)
		vdev__vfu_kick(s);
	return 0;
}

static int remote_read(void *opaque, uint64_t gpa, void *buf, size_t len)
{
	return dmaio(opaque, VFU_DMA_READ, gpa, buf, NULL, len);
}

static int remote_write(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
	return dmaio(opaque, VFU_DMA_WRITE, gpa, NULL, buf, len);
}

const struct vdev__mem_remote vdev__vfu_remote_tmpl = {
	.read = remote_read,
	.write = remote_write,
};
