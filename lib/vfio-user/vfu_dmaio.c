/* SPDX-License-Identifier: MIT */
/*
 * DMA_READ / DMA_WRITE (vfio-user.rst "VFIO_USER_DMA_READ/WRITE"): the
 * server asks the client to copy guest memory it did not share as an fd.
 * These are the fetch/write hooks of the memory map's remote regions
 * (core.h "Remote regions"; vfu_dma.c registers one per fd-less DMA_MAP).
 *
 * Nothing here waits for the client. QEMU (11.1) answers our requests
 * from its main loop under its big lock, and a vCPU that waits for one of
 * OUR replies (a config or BAR read queued behind the message we are
 * handling) holds that lock: a server that waited inside a device access
 * would deadlock with it. So a hook sends its request(s) and returns; the
 * replies are just more messages on the connection, which vfu_server.c
 * reads as usual and hands here by type (REPLY) and our id:
 *  - fetch: DMA_READ(s), each piece remembered (id -> the core's seq,
 *    address, count); its reply's data goes to vdev__mem_remote_arrived()
 *    and the device hears of it (vdev__virtio_remote_ready()) once the
 *    messages read so far are handled. -EAGAIN beyond VFU_DMA_MAX_READS
 *    unanswered reads: the core asks again after the next arrival.
 *  - write: DMA_WRITE(s), the data copied into the socket before the hook
 *    returns, the reply only counted. Interrupt ordering: the guest must
 *    not see an interrupt before the data and used-ring writes made
 *    before it are in its memory, so while any DMA_WRITE is unanswered
 *    vfu_irq.c holds the device's interrupts and fires them when the last
 *    one is answered. QEMU applies our messages in order, so a fetch sent
 *    after a write sees it without waiting for anything.
 *
 * Layout (vfu_internal.h, VFU_DMARW_HDR): u64 address, u64 count, data
 * at payload offset 16, in requests and in the DMA_READ reply; QEMU's
 * DMA_WRITE reply has no payload (the spec says address and count: both
 * are accepted, and checked when present).
 * One message carries at most the client's max_data_xfer_size: larger
 * copies are split.
 *
 * Failure: a reply that names our id but the wrong address, count or
 * size, or carries fds, closes the connection (vdev__vfu_handle() returns
 * the error to the loop), and so does a reply while nothing is asked. A
 * reply with an id we never used (or already saw answered) while requests
 * are outstanding is logged once and dropped. An error reply fails that
 * access (DMA_READ: the core reports the memory unreachable; DMA_WRITE:
 * the data is lost, logged) but keeps the connection. A request that
 * cannot be sent marks the connection broken - later hooks fail at once -
 * and the loop drops it (a timer, never from inside the hook).
 * VDEV_VFIO_USER_DMA_TIMEOUT_MS is the longest a request may stay
 * unanswered: a timer watches the oldest and drops the connection when it
 * is older. It stays well above QEMU's own reply timeout (x-msg-timeout,
 * 5 s): its main loop can be busy that long.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vfio-user/vfu_internal.h"
#include "virtio/virtio_internal.h"

#define DMAQ_MIN 64u

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *op_name(uint16_t cmd)
{
	return cmd == VFU_DMA_READ ? "DMA_READ" : "DMA_WRITE";
}

/* A request could not be sent: log once, fail later hooks at once, drop from the loop. */
static int dmaio_fail(struct vfu_server *s, uint16_t cmd, uint64_t gpa, size_t len,
		      const char *why)
{
	if (!s->dma_broken)
		vdev__vfu_log(s, VDEV_LOG_ERROR, "%s 0x%" PRIx64 "+0x%zx: %s; dropping the "
			      "connection", op_name(cmd), gpa, len, why);
	s->dma_broken = true;
	vdev__vfu_drop_later(s);
	return -EIO;
}

static struct vfu_dmareq *q_at(struct vfu_server *s, uint32_t i)
{
	return &s->dma_q[(s->dma_head + i) & (s->dma_cap - 1)];
}

/* Room for @n more requests. */
static int q_reserve(struct vfu_server *s, uint32_t n)
{
	struct vfu_dmareq *q;
	uint32_t cap = s->dma_cap ? s->dma_cap : DMAQ_MIN;

	if (s->dma_count + n <= s->dma_cap)
		return 0;
	while (cap < s->dma_count + n)
		cap *= 2;
	q = malloc((size_t)cap * sizeof(*q));
	if (!q)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->dma_count; i++)
		q[i] = *q_at(s, i);
	free(s->dma_q);
	s->dma_q = q;
	s->dma_cap = cap;
	s->dma_head = 0;
	return 0;
}

/* Answered requests at the head leave; the timer follows the oldest left. */
static void q_trim(struct vfu_server *s)
{
	while (s->dma_count && s->dma_q[s->dma_head].done) {
		s->dma_head = (s->dma_head + 1) & (s->dma_cap - 1);
		s->dma_head_id++;
		s->dma_count--;
	}
	if (!s->dma_count && s->dma_h)
		uv_timer_stop(s->dma_h);
}

/* The unanswered request with id @id, or NULL. Ids are consecutive in send order. */
static struct vfu_dmareq *q_find(struct vfu_server *s, uint16_t id)
{
	uint16_t i = (uint16_t)(id - s->dma_head_id);
	struct vfu_dmareq *r;

	if (i >= s->dma_count)
		return NULL;
	r = q_at(s, i);
	return r->done ? NULL : r;
}

static void timer_cb(uv_timer_t *h)
{
	vdev__vfu_dmaio_check(h->data);
}

void vdev__vfu_dmaio_check(struct vfu_server *s)
{
	struct vfu_dmareq *r;
	uint64_t age;

	if (s->conn_fd < 0)
		return;
	if (s->dma_broken) {
		vdev__vfu_conn_drop(s, "a DMA_READ/DMA_WRITE request could not be sent");
		return;
	}
	if (!s->dma_count)
		return;
	r = &s->dma_q[s->dma_head];
	age = now_ms() - r->sent_ms;
	if (age < s->dma_timeout_ms) {
		if (s->dma_h)
			uv_timer_start(s->dma_h, timer_cb, s->dma_timeout_ms - age, 0);
		return;
	}
	vdev__vfu_log(s, VDEV_LOG_ERROR, "%s 0x%" PRIx64 "+0x%x: no reply in %u ms; dropping the "
		      "connection", op_name(r->cmd), r->gpa, r->count, s->dma_timeout_ms);
	vdev__vfu_conn_drop(s, "a DMA_READ/DMA_WRITE request got no reply");
}

void vdev__vfu_drop_later(struct vfu_server *s)
{
	if (s->dma_h && s->conn_fd >= 0)
		uv_timer_start(s->dma_h, timer_cb, 0, 0);
}

void vdev__vfu_dmaio_drop(struct vfu_server *s)
{
	if (s->dma_reads || s->dma_writes)
		vdev__vfu_log(s, VDEV_LOG_INFO, "DMA through messages: %" PRIu64 " reads (%" PRIu64
			      " bytes), %" PRIu64 " writes (%" PRIu64 " bytes)", s->dma_reads,
			      s->dma_read_bytes, s->dma_writes, s->dma_write_bytes);
	s->dma_reads = s->dma_writes = s->dma_read_bytes = s->dma_write_bytes = 0;
	s->dma_count = s->dma_head = 0;
	s->dma_head_id = s->dma_next_id;
	s->dma_out_reads = s->dma_out_writes = 0;
	s->dma_arrived = false;
	if (s->dma_h)
		uv_timer_stop(s->dma_h);
	/* Interrupts held for unanswered writes go with them. */
	vdev__vfu_irq_forget(s);
	s->irq_hold = false;
	free(s->dma_q);
	s->dma_q = NULL;
	s->dma_cap = 0;
}

/* Send one request of at most one message's data and remember it (room reserved). */
static int send_req(struct vfu_server *s, uint16_t cmd, uint64_t gpa, const void *wbuf,
		    uint32_t count, uint64_t seq)
{
	uint8_t h[VFU_HDR_SIZE + VFU_DMARW_HDR];
	uint32_t size = VFU_HDR_SIZE + VFU_DMARW_HDR + (cmd == VFU_DMA_WRITE ? count : 0);
	struct vfu_dmareq *r;
	uint16_t id = s->dma_next_id;
	int rc;

	vdev__put_le16(h, id);
	vdev__put_le16(h + 2, cmd);
	vdev__put_le32(h + 4, size);
	vdev__put_le32(h + 8, VFU_TYPE_COMMAND);
	vdev__put_le32(h + 12, 0);
	vdev__put_le64(h + VFU_HDR_SIZE, gpa);
	vdev__put_le64(h + VFU_HDR_SIZE + 8, count);
	rc = s->send(s, h, sizeof(h));
	if (!rc && cmd == VFU_DMA_WRITE)
		rc = s->send(s, wbuf, count);
	if (rc)
		return dmaio_fail(s, cmd, gpa, count, "request not sent");
	if (!s->dma_reads && !s->dma_writes)
		vdev__vfu_log(s, VDEV_LOG_INFO, "DMA through messages: guest memory at 0x%" PRIx64
			      " has no fd; DMA_READ/DMA_WRITE from now on", gpa);
	if (!s->dma_count)
		s->dma_head_id = id;
	s->dma_next_id++;
	r = q_at(s, s->dma_count++);
	*r = (struct vfu_dmareq){ .gpa = gpa, .seq = seq, .sent_ms = now_ms(), .count = count,
				  .cmd = cmd };
	if (cmd == VFU_DMA_READ) {
		s->dma_out_reads++;
		s->dma_reads++;
		s->dma_read_bytes += count;
	} else {
		if (!s->dma_out_writes++)
			vdev__vfu_irq_hold(s, true);
		s->dma_writes++;
		s->dma_write_bytes += count;
	}
	if (s->dma_h && !uv_is_active((uv_handle_t *)s->dma_h))
		uv_timer_start(s->dma_h, timer_cb, s->dma_timeout_ms, 0);
	return 0;
}

/* Send [gpa, +len) as requests of at most the client's max_data_xfer_size. */
static int dmaio(struct vfu_server *s, uint16_t cmd, uint64_t gpa, const void *wbuf, size_t len,
		 uint64_t seq)
{
	uint32_t chunk = (uint32_t)VDEV__MIN(s->client_max_xfer, (uint64_t)VFU_MAX_XFER);
	uint64_t pieces;

	if (s->conn_fd < 0)
		return -ENOTCONN;   /* the fuzz harness, or the connection is going */
	if (s->dma_broken)
		return -EIO;
	if (!chunk)
		chunk = VFU_MAX_XFER;
	pieces = (len + chunk - 1) / chunk;
	/* Reads wait their turn; a fetch bigger than the bound goes alone. */
	if (cmd == VFU_DMA_READ && s->dma_out_reads &&
	    s->dma_out_reads + pieces > VFU_DMA_MAX_READS)
		return -EAGAIN;
	if (s->dma_count + pieces > VFU_DMA_MAX_OUT)
		return cmd == VFU_DMA_READ ? -EAGAIN
					   : dmaio_fail(s, cmd, gpa, len, "too many requests "
							"unanswered");
	if (q_reserve(s, (uint32_t)pieces))
		return cmd == VFU_DMA_READ ? -EAGAIN
					   : dmaio_fail(s, cmd, gpa, len, "out of memory");
	while (len) {
		uint32_t n = (uint32_t)VDEV__MIN(len, (size_t)chunk);
		int rc = send_req(s, cmd, gpa, wbuf, n, seq);

		if (rc)
			return rc;
		gpa += n;
		len -= n;
		if (wbuf)
			wbuf = (const uint8_t *)wbuf + n;
	}
	return 0;
}

static int remote_fetch(void *opaque, uint64_t gpa, size_t len, uint64_t seq)
{
	return dmaio(opaque, VFU_DMA_READ, gpa, NULL, len, seq);
}

static int remote_write(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
	return dmaio(opaque, VFU_DMA_WRITE, gpa, buf, len, 0);
}

const struct vdev__mem_remote vdev__vfu_remote_tmpl = {
	.fetch = remote_fetch,
	.write = remote_write,
};

/* Request @r is answered (its data, if any, delivered): forget it. */
static void req_done(struct vfu_server *s, struct vfu_dmareq *r)
{
	r->done = true;
	if (r->cmd == VFU_DMA_READ) {
		s->dma_out_reads--;
		s->dma_arrived = true;
	} else if (!--s->dma_out_writes) {
		/* Every write we made is in guest memory: interrupts may go. */
		vdev__vfu_irq_hold(s, false);
	}
	q_trim(s);
}

/* A reply that names our request but not what we asked: the connection goes. */
static int bad_reply(struct vfu_server *s, const struct vfu_dmareq *r, const char *why)
{
	vdev__vfu_log(s, VDEV_LOG_ERROR, "%s 0x%" PRIx64 "+0x%x: %s; dropping the connection",
		      op_name(r->cmd), r->gpa, r->count, why);
	return -EPROTO;
}

int vdev__vfu_dmaio_reply(struct vfu_server *s, const struct vfu_msg *m, int *fds,
			  unsigned int nfds)
{
	struct vfu_dmareq *r = NULL;
	const uint8_t *p = m->p;

	for (unsigned int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (!s->dma_count) {
		/* We asked nothing: not a late reply but a client that breaks the protocol. */
		vdev__vfu_log(s, VDEV_LOG_WARN, "reply (id %u, command %u) with no request "
			      "outstanding", m->id, m->cmd);
		return -EPROTO;
	}
	if (m->cmd == VFU_DMA_READ || m->cmd == VFU_DMA_WRITE)
		r = q_find(s, m->id);
	if (!r || r->cmd != m->cmd) {
		if (!s->dma_warned_id) {
			s->dma_warned_id = true;
			vdev__vfu_log(s, VDEV_LOG_WARN, "reply id %u (command %u) answers nothing "
				      "we asked: dropped", m->id, m->cmd);
		}
		return 0;
	}
	if (m->flags & VFU_F_ERROR) {
		if (!s->dma_warned_err) {
			s->dma_warned_err = true;
			vdev__vfu_log(s, VDEV_LOG_WARN, "client refused %s of 0x%" PRIx64 "+0x%x",
				      op_name(r->cmd), r->gpa, r->count);
		}
		if (r->cmd == VFU_DMA_READ)
			vdev__mem_remote_arrived(s->ctx, r->seq, r->gpa, NULL, r->count, -EIO);
		req_done(s, r);
		return 0;
	}
	if (nfds)
		return bad_reply(s, r, "reply with fds");
	if (r->cmd == VFU_DMA_WRITE && !m->size) {
		req_done(s, r);    /* QEMU: no payload */
		return 0;
	}
	if (m->size < VFU_DMARW_HDR || vdev__le64(p) != r->gpa || vdev__le64(p + 8) != r->count)
		return bad_reply(s, r, "reply names another address or count");
	if (r->cmd == VFU_DMA_READ) {
		if (m->size != VFU_DMARW_HDR + r->count)
			return bad_reply(s, r, "reply carries the wrong amount of data");
		vdev__mem_remote_arrived(s->ctx, r->seq, r->gpa, p + VFU_DMARW_HDR, r->count, 0);
	}
	req_done(s, r);
	return 0;
}
