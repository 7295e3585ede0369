/* SPDX-License-Identifier: MIT */
/*
 * The virtio SCSI host adapter (VIRTIO 1.2 §5.6) on the virtqueue engine,
 * as "virtio-scsi-pci" and "virtio-scsi-mmio". Queue 0 is the control
 * queue, 1 the event queue, 2.. the request queues. Commands go to a
 * vdev_scsi_bus (vdev/scsi.h) the device owns; the VMM adds LUNs to it.
 *
 * Requests (§5.6.6.1): the readable part is the command header
 * (lun[8], id, task_attr, prio, crn, cdb[cdb_size]) then data-out; the
 * writable part is the response (sense_len, resid, status_qualifier,
 * status, response, sense[sense_size]) then data-in. cdb_size and
 * sense_size are what the driver last wrote to the configuration. Nothing
 * assumes a part sits in one iovec. Each request queue preallocates one
 * slot per ring entry (engine iovecs, the data-out/data-in iovecs carved
 * from them, the SCSI request, a sense buffer): no allocation per request.
 *
 * Completion: the bus calls vs_req_done() (inside vdev_scsi_submit() for
 * commands without I/O, else from the VMM's vdev_blk_poll()), which writes
 * the response and pushes the buffer. Inside the device's own loops
 * (a kick, a TMF, a resume) the used rings are flushed once at the end.
 * A completion arriving from a backend poll only marks its queue and arms
 * a timer due at once ("flush"): a burst of completions from one poll is
 * published with one used-index write and at most one interrupt per queue
 * when the VMM runs the timers after polling. A reset or a load forgets the
 * marks (the engine drops or carries the staged entries); a save needs no
 * flush: the engine saves the staged entries (used_idx != used_flushed) and
 * the destination's resume timer publishes them (vdev_vq_reap() flushes).
 *
 * Slot states: FREE; ACTIVE (at the bus); PARKED (popped, not at the bus:
 * the bus aborted it while the device was "quiet" — a reset or a load —
 * and nothing may be written to the guest); ORPHAN (the bus did not give
 * it back when it should have: when it does, it is dropped).
 *
 * Save/load: the engine saves in-flight requests; the bus saves its own
 * state but not its requests. A load first takes every ACTIVE request
 * back from the bus (ABORT TASK SET, which raises no unit attention),
 * then loads the bus; the queues, loaded afterwards by the virtio core,
 * hand the source's in-flight requests out again and a timer due at once
 * (run when the VM runs: a load writes no guest memory) re-pops and
 * submits them. If the bus refuses the stream, the parked requests are
 * submitted again by the same timer, so the guest loses none.
 *
 * Events (§5.6.6.3) are sent as they happen, popping an event buffer then;
 * with none available the device remembers it missed one and reports
 * VIRTIO_SCSI_T_EVENTS_MISSED with the next event, or on its own as soon
 * as the driver adds a buffer. Asynchronous notification (§5.6.6.2.2):
 * CD-ROM LUNs support the media class; a LUN's subscription (kept until
 * it is cancelled, the LUN goes or the device resets; saved with the
 * device) turns the bus's medium events into VIRTIO_SCSI_T_ASYNC_NOTIFY.
 *
 * VIRTIO_F_RING_RESET (§2.6.1): resetting a request queue aborts its
 * commands at the bus one by one (vs_queue_reset); the others run on.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "virtio/virtio_internal.h"
#include "virtio/virtio_scsi.h"

/* Feature bits (§5.6.3). T10_PI (3) is not offered. */
#define VS_F_INOUT 0
#define VS_F_HOTPLUG 1
#define VS_F_CHANGE 2

#define VS_CTRLQ 0u
#define VS_EVENTQ 1u
#define VS_REQQ0 2u

#define VS_CDB_DEFAULT 32u
#define VS_SENSE_DEFAULT 96u
#define VS_CMD_HDR 19u    /* lun[8] id(le64) task_attr prio crn */
#define VS_RESP_HDR 12u   /* sense_len resid status_qualifier status response */
#define VS_EVENT_SIZE 16u /* event(le32) lun[8] reason(le32) */
#define VS_CONFIG_SIZE 36u
#define VS_TMF_REQ 24u    /* type subtype lun[8] id */
#define VS_AN_REQ 16u     /* type lun[8] event_requested */
#define VS_AN_RESP 5u     /* event_actual response */

/* Response codes (§5.6.6.1). */
enum {
	VS_S_OK = 0, /* also FUNCTION_COMPLETE */
	VS_S_OVERRUN = 1,
	VS_S_ABORTED = 2,
	VS_S_BAD_TARGET = 3,
	VS_S_RESET = 4,
	VS_S_BUSY = 5,
	VS_S_TRANSPORT_FAILURE = 6,
	VS_S_TARGET_FAILURE = 7,
	VS_S_NEXUS_FAILURE = 8,
	VS_S_FAILURE = 9,
	VS_S_FUNCTION_SUCCEEDED = 10,
	VS_S_FUNCTION_REJECTED = 11,
	VS_S_INCORRECT_LUN = 12,
};

/* Control queue (§5.6.6.2). */
#define VS_T_TMF 0u
#define VS_T_AN_QUERY 1u
#define VS_T_AN_SUBSCRIBE 2u
enum {
	VS_TMF_ABORT_TASK = 0,
	VS_TMF_ABORT_TASK_SET = 1,
	VS_TMF_CLEAR_ACA = 2,
	VS_TMF_CLEAR_TASK_SET = 3,
	VS_TMF_I_T_NEXUS_RESET = 4,
	VS_TMF_LOGICAL_UNIT_RESET = 5,
	VS_TMF_QUERY_TASK = 6,
	VS_TMF_QUERY_TASK_SET = 7,
};

/* Events (§5.6.6.3). */
#define VS_T_NO_EVENT 0u
#define VS_T_TRANSPORT_RESET 1u
#define VS_T_ASYNC_NOTIFY 2u
#define VS_T_PARAM_CHANGE 3u
#define VS_T_EVENTS_MISSED 0x80000000u
#define VS_EVT_RESET_RESCAN 1u
#define VS_EVT_RESET_REMOVED 2u
/* PARAM_CHANGE reason: ASC | ASCQ << 8; CAPACITY DATA HAS CHANGED is 2Ah/09h. */
#define VS_REASON_CAPACITY (0x2au | (0x09u << 8))
/*
 * Asynchronous notification event classes (§5.6.6.2.2: the GESN
 * notification classes of MMC-6 §6.7, as bits). Media is the only one we
 * can report truthfully: the bus tells us when a CD-ROM's medium or tray
 * changes. Operational change, power management, external request,
 * multi-host and device busy events never happen in an emulated drive.
 */
#define VS_EVT_ASYNC_MEDIA_CHANGE 0x10u

/* The REPORT LUNS well-known logical unit (SPC-4 §8.2) as lun[2..3]. */
#define VS_WLUN_REPORT_LUNS VDEV_SCSI_WLUN_REPORT_LUNS

/* Spare iovecs per request for buffers split at RAM region boundaries. */
#define VS_IOV_SLACK 6u

#define VS_STATE_VERSION 1
/* The configuration section: version 2 adds AN subscriptions (first record). */
#define VS_CF_VERSION 1
#define VS_CF_VERSION_SUBS 2
#define VS_SUB_REC 8u /* target(le16) lun(le16) classes(le32) */

/* The public options struct only ever grows at its end. */
_Static_assert(offsetof(struct vdev_virtio_scsi_opts, reserved) ==
		       sizeof(size_t) + 7 * sizeof(uint32_t),
	       "struct vdev_virtio_scsi_opts layout");

enum vs_slot_state { VS_FREE, VS_ACTIVE, VS_PARKED, VS_ORPHAN };

/* Per-device "log once" bits: a guest cannot flood the VMM's log. */
enum {
	VS_ONCE_NO_SLOT = 1u << 0,
	VS_ONCE_OVERSIZE = 1u << 1,
	VS_ONCE_SHORT = 1u << 2,
	VS_ONCE_EVENT_BUF = 1u << 3,
	VS_ONCE_CTRL = 1u << 4,
	VS_ONCE_ORPHAN = 1u << 5,
	VS_ONCE_PUSH = 1u << 6,
};

struct vs;
struct vs_queue;

/* One request slot of a request queue. */
struct vs_req {
	struct vdev_vq_req vq;      /* popped into: the engine keeps a pointer to it */
	struct vdev_scsi_req sreq;
	struct vs_queue *q;
	struct iovec *data;         /* data-out then data-in iovecs [iov_cap] */
	uint64_t out_cap;           /* data-out bytes */
	uint64_t in_cap;            /* data-in bytes */
	uint64_t resp_size;         /* VS_RESP_HDR + sense_size, as when parsed */
	uint32_t next_free;
	uint8_t state;              /* enum vs_slot_state */
	uint8_t sense[VDEV_SCSI_SENSE_SIZE];
};

struct vs_queue {
	struct vs *s;
	vdev_vq *vq;
	struct vs_req *slots;       /* [qsize] */
	struct iovec *iov;          /* [qsize][2 * iov_cap] */
	uint32_t free_head;         /* UINT32_MAX: none */
	bool need_flush;            /* pushed, not flushed yet (a batch or the flush timer) */
};

/* A LUN's asynchronous-notification subscription (§5.6.6.2.2). */
struct vs_sub {
	uint16_t target, lun;
	uint32_t classes;           /* VS_EVT_ASYNC_*, never 0 */
};

/* A request handled synchronously (control, event, oversized) and its iovecs. */
struct vs_sync {
	struct vdev_vq_req req;
	struct iovec *iov;          /* [big_cap] */
};

struct vs {
	vdev_ctx *ctx;
	vdev_virtio *vd;
	vdev_pci_func *f;           /* virtio-scsi-pci only */
	vdev_scsi_bus *bus;
	vdev_timer *resume;
	vdev_timer *flush;          /* publishes completions from backend polls */
	uint32_t nreq;              /* request queues */
	uint32_t qsize, seg_max, max_sectors, cmd_per_lun;
	uint32_t iov_cap;           /* engine iovecs per slot */
	uint32_t big_cap;           /* iovecs of a vs_sync */
	uint32_t cdb_size;          /* driver-writable config */
	uint32_t sense_size;
	bool events_missed;
	bool quiet;                 /* completions park instead of touching the guest */
	struct vs_queue *qreset;    /* a request queue being reset (VIRTIO_F_RING_RESET) */
	unsigned int batch;         /* nesting of loops that flush at their end */
	unsigned int npending;      /* queues with need_flush */
	unsigned int once;
	uint16_t luns[VDEV_SCSI_MAX_TARGETS]; /* LUNs per target (from the bus's events) */
	struct vs_queue *rq;        /* [nreq] */
	struct vs_sync ctrl, event, big;
	struct vs_sub *subs;        /* [nsubs] AN subscriptions, of LUNs that exist */
	uint32_t nsubs, subs_cap;
};

/* The saved model state (besides the bus's). */
struct vs_image {
	uint32_t num_queues, seg_max, max_sectors, cmd_per_lun;
	uint32_t cdb_size, sense_size;
	uint8_t events_missed;
};

#define VS_TAG(a, b, c, d) VDEV_STATE_TAG(a, b, c, d)
#define TAG_VSCF VS_TAG('V', 'S', 'C', 'F')
#define TAG_ANSB VS_TAG('A', 'N', 'S', 'B')

static const struct vdev_state_field vs_fields[] = {
	{ "num_queues", VS_TAG('N', 'R', 'Q', 'S'), VDEV_STATE_U32, 0, 0,
	  offsetof(struct vs_image, num_queues), 0, 1, VDEV_VIRTIO_SCSI_MAX_QUEUES },
	{ "seg_max", VS_TAG('S', 'G', 'M', 'X'), VDEV_STATE_U32, 0, 0,
	  offsetof(struct vs_image, seg_max), 0, 1, VDEV_VIRTIO_SCSI_MAX_QUEUE_SIZE },
	{ "max_sectors", VS_TAG('M', 'S', 'E', 'C'), VDEV_STATE_U32, 0, 0,
	  offsetof(struct vs_image, max_sectors), 0, 1, UINT32_MAX },
	{ "cmd_per_lun", VS_TAG('C', 'P', 'L', 'N'), VDEV_STATE_U32, 0, 0,
	  offsetof(struct vs_image, cmd_per_lun), 0, 1, UINT32_MAX },
	{ "cdb_size", VS_TAG('C', 'D', 'B', 'S'), VDEV_STATE_U32, 0, 0,
	  offsetof(struct vs_image, cdb_size), 0, 0, UINT32_MAX },
	{ "sense_size", VS_TAG('S', 'N', 'S', 'S'), VDEV_STATE_U32, 0, 0,
	  offsetof(struct vs_image, sense_size), 0, 0, UINT32_MAX },
	{ "events_missed", VS_TAG('E', 'V', 'M', 'S'), VDEV_STATE_U8, 0, 0,
	  offsetof(struct vs_image, events_missed), 0, 0, 1 },
};

static void vs_log_once(struct vs *s, unsigned int bit, enum vdev_log_level level,
			const char *fmt, ...) VDEV_PRINTF(4, 5);

static void vs_log_once(struct vs *s, unsigned int bit, enum vdev_log_level level,
			const char *fmt, ...)
{
	char line[192];
	va_list ap;

	if (s->once & bit)
		return;
	s->once |= bit;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	vdev__virtio_log(s->vd, level, "%s", line);
}

static bool vs_has(const struct vs *s, unsigned int bit)
{
	return vdev__virtio_has(s->vd, bit);
}

/* ---- iovec helpers --------------------------------------------------------- */

/* Copy up to @len bytes from byte @off of iov[0..n) into @dst; @return bytes copied. */
static size_t iov_read(const struct iovec *iov, unsigned int n, uint64_t off, void *dst,
		       size_t len)
{
	uint8_t *d = dst;
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len, k;

		if (off >= l) {
			off -= l;
			continue;
		}
		k = VDEV__MIN(l - (size_t)off, len - done);
		memcpy(d + done, (const uint8_t *)iov[i].iov_base + off, k);
		done += k;
		off = 0;
	}
	return done;
}

/* Copy @len bytes to byte @off of iov[0..n) (as far as they reach); @p src NULL: zeroes. */
static void iov_write(const struct iovec *iov, unsigned int n, uint64_t off, const void *src,
		      uint64_t len)
{
	const uint8_t *p = src;

	for (unsigned int i = 0; i < n && len; i++) {
		size_t l = iov[i].iov_len, k;

		if (off >= l) {
			off -= l;
			continue;
		}
		k = (size_t)VDEV__MIN((uint64_t)(l - (size_t)off), len);
		if (p) {
			memcpy((uint8_t *)iov[i].iov_base + off, p, k);
			p += k;
		} else {
			memset((uint8_t *)iov[i].iov_base + off, 0, k);
		}
		len -= k;
		off = 0;
	}
}

/* Point dst[] at the bytes of iov[0..n) from byte @skip on; @return the count (<= n). */
static unsigned int iov_tail(const struct iovec *iov, unsigned int n, uint64_t skip,
			     struct iovec *dst)
{
	unsigned int i = 0, k = 0;

	for (; i < n && skip >= iov[i].iov_len; i++)
		skip -= iov[i].iov_len;
	for (; i < n; i++, k++) {
		dst[k].iov_base = (uint8_t *)iov[i].iov_base + skip;
		dst[k].iov_len = iov[i].iov_len - (size_t)skip;
		skip = 0;
	}
	return k;
}

/* ---- addressing ------------------------------------------------------------ */

/*
 * §5.6.6.1: lun[0] = 1, lun[1] = target, lun[2..3] a single-level LUN,
 * lun[4..7] zero. Flat space addressing (0x4000 | lun, what Linux, Windows
 * and SeaBIOS send) and peripheral device addressing on bus 0 (LUN < 256,
 * the other single-level form of SAM-5 §4.7.3) are accepted, and the
 * REPORT LUNS well-known LUN is passed to the bus as 0xc101.
 * @return 0, or -1 for an address no target can have (BAD_TARGET).
 */
static int vs_lun_decode(const uint8_t *l, uint16_t *target, uint16_t *lun)
{
	uint16_t v = (uint16_t)((l[2] << 8) | l[3]);

	if (l[0] != 1 || (l[4] | l[5] | l[6] | l[7]))
		return -1;
	*target = l[1];
	switch (v >> 14) {
	case 0: /* peripheral device addressing: bus identifier must be 0 */
		if (l[2])
			return -1;
		*lun = l[3];
		return 0;
	case 1: /* flat space */
		*lun = v & 0x3fff;
		return 0;
	default:
		if (v != VS_WLUN_REPORT_LUNS)
			return -1;
		*lun = v;
		return 0;
	}
}

/*
 * The LUN field of an event (§5.6.6.1). Linux reads lun[2..3] as the LUN
 * number itself (virtscsi_handle_transport_reset), so use the REPORT LUNS
 * encoding: peripheral addressing (lun[2] = 0) below 256, flat space
 * (0x40 | high bits) from 256 up, as QEMU does. Requests may use either.
 */
static void vs_lun_encode(uint8_t *l, uint16_t target, uint16_t lun)
{
	memset(l, 0, 8);
	l[0] = 1;
	l[1] = (uint8_t)target;
	if (lun >= 256)
		l[2] = (uint8_t)(0x40 | ((lun >> 8) & 0x3f));
	l[3] = (uint8_t)lun;
}

/* ---- completion ------------------------------------------------------------ */

static void vs_flush_pending(struct vs *s)
{
	vdev_timer_disarm(s->flush);
	if (!s->npending)
		return;
	for (uint32_t i = 0; i < s->nreq && s->npending; i++) {
		struct vs_queue *q = &s->rq[i];

		if (q->need_flush) {
			q->need_flush = false;
			s->npending--;
			vdev_vq_flush(q->vq);
		}
	}
	s->npending = 0;
}

/* The flush timer: publish what backend polls completed since it was armed. */
static void vs_flush_timer(vdev_timer *timer, void *opaque)
{
	(void)timer;
	vs_flush_pending(opaque);
}

static void vs_batch_begin(struct vs *s)
{
	s->batch++;
}

static void vs_batch_end(struct vs *s)
{
	if (--s->batch == 0)
		vs_flush_pending(s);
}

static struct vs_req *vs_slot_get(struct vs_queue *q)
{
	struct vs_req *r;

	if (q->free_head == UINT32_MAX)
		return NULL;
	r = &q->slots[q->free_head];
	q->free_head = r->next_free;
	return r;
}

static void vs_slot_put(struct vs_queue *q, struct vs_req *r)
{
	r->state = VS_FREE;
	r->next_free = q->free_head;
	q->free_head = (uint32_t)(r - q->slots);
}

/*
 * Write a command response (§5.6.6.1) at the start of the writable part
 * of @req: the 12-byte header, @sense_len bytes of @sense, zeroes to the
 * end of the sense_size area. The caller checked it fits.
 */
static void vs_write_resp(const struct vdev_vq_req *req, uint64_t resp_size, uint8_t response,
			  uint8_t status, const uint8_t *sense, uint32_t sense_len, uint64_t resid)
{
	uint8_t b[VS_RESP_HDR + VDEV_SCSI_SENSE_SIZE];
	const struct iovec *in = req->iov + req->out_num;
	size_t n = (size_t)VDEV__MIN(resp_size, (uint64_t)sizeof(b));

	vdev__put_le32(b, sense_len);
	vdev__put_le32(b + 4, (uint32_t)VDEV__MIN(resid, (uint64_t)UINT32_MAX));
	vdev__put_le16(b + 8, 0); /* status_qualifier */
	b[10] = status;
	b[11] = response;
	if (sense_len)
		memcpy(b + VS_RESP_HDR, sense, sense_len);
	memset(b + VS_RESP_HDR + sense_len, 0, n - VS_RESP_HDR - sense_len);
	if (in[0].iov_len >= n)
		memcpy(in[0].iov_base, b, n); /* the usual case: one buffer */
	else
		iov_write(in, req->in_num, 0, b, n);
	if (resp_size > n)
		iov_write(in, req->in_num, n, NULL, resp_size - n);
}

/*
 * Push @req with @written bytes; flush at the end of the current batch or,
 * outside one (a backend poll), from the flush timer.
 */
static void vs_push(struct vs *s, struct vs_queue *q, const struct vdev_vq_req *req,
		    uint64_t written)
{
	int rc = vdev_vq_push(q->vq, req, (uint32_t)VDEV__MIN(written, (uint64_t)UINT32_MAX));

	if (rc) {
		vs_log_once(s, VS_ONCE_PUSH, VDEV_LOG_DEBUG, "completion dropped: %s",
			    vdev_strerror(rc));
		return;
	}
	if (!q->need_flush) {
		q->need_flush = true;
		s->npending++;
	}
	if (!s->batch && !vdev_timer_is_armed(s->flush))
		vdev_timer_arm(s->flush, vdev_now_ns(s->ctx));
}

/* Answer a request the bus never saw: a bare response if it fits, else 0 bytes. */
static void vs_answer(struct vs *s, struct vs_queue *q, const struct vdev_vq_req *req,
		      uint64_t resp_size, uint8_t response, uint64_t resid)
{
	uint64_t written = 0;

	if (req->in_len >= resp_size) {
		vs_write_resp(req, resp_size, response, 0, NULL, 0, resid);
		written = resp_size;
	}
	vs_push(s, q, req, written);
}

static void vs_req_answer(struct vs *s, struct vs_req *r, uint8_t response)
{
	struct vs_queue *q = r->q;

	vs_answer(s, q, &r->vq, r->resp_size, response, r->out_cap + r->in_cap);
	vs_slot_put(q, r);
}

static uint8_t vs_errno_response(int rc)
{
	switch (rc) {
	case -EAGAIN:
	case -EBUSY:
	case -ENOMEM:
		return VS_S_BUSY; /* retrying on the same path is likely to work */
	case -ENODEV:
	case -ENOENT:
	case -ENXIO:
		return VS_S_BAD_TARGET;
	case -EIO:
		return VS_S_TARGET_FAILURE;
	case -ENOTCONN:
	case -ECONNRESET:
		return VS_S_NEXUS_FAILURE;
	case -EPIPE:
	case -ESHUTDOWN:
	case -ENOLINK:
		return VS_S_TRANSPORT_FAILURE;
	default:
		return VS_S_FAILURE;
	}
}

static uint8_t vs_scsi_response(uint8_t resp)
{
	switch (resp) {
	case VDEV_SCSI_RESP_OK:
		return VS_S_OK;
	case VDEV_SCSI_RESP_BAD_TARGET:
		return VS_S_BAD_TARGET;
	case VDEV_SCSI_RESP_ABORTED:
		return VS_S_ABORTED;
	case VDEV_SCSI_RESP_RESET:
		return VS_S_RESET;
	default:
		return VS_S_FAILURE;
	}
}

/* The bus finished a command. */
static void vs_req_done(struct vdev_scsi_req *sr)
{
	struct vs_req *r = sr->user;
	struct vs_queue *q = r->q;
	struct vs *s = q->s;
	uint64_t in_len, out_len, resid;
	uint32_t sense_len;
	uint8_t response;

	if (r->state == VS_ORPHAN) {
		vs_slot_put(q, r);
		return;
	}
	/*
	 * Quiet (a reset or a load), or aborted by a queue reset: the queue's
	 * own requests are dropped, other queues' run again (vs_queue_reset).
	 */
	if (s->quiet || (s->qreset && (q == s->qreset || sr->response == VDEV_SCSI_RESP_ABORTED))) {
		r->state = VS_PARKED;
		return;
	}
	in_len = VDEV__MIN(sr->data_in_len, r->in_cap);
	out_len = VDEV__MIN(sr->data_out_len, r->out_cap);
	/* §5.6.6.1: resid = data length - bytes transferred. */
	resid = (r->in_cap - in_len) + (r->out_cap - out_len);
	response = vs_scsi_response(sr->response);
	if (response == VS_S_OK && sr->residual < 0) {
		/* The CDB asked for more than the buffers hold. */
		response = VS_S_OVERRUN;
		resid = (uint64_t)-(sr->residual + 1) + 1;
	}
	sense_len = VDEV__MIN(sr->sense_len, sr->sense_cap);
	vs_write_resp(&r->vq, r->resp_size, response, sr->status, r->sense, sense_len, resid);
	vs_push(s, q, &r->vq, r->resp_size + in_len);
	vs_slot_put(q, r);
}

/* ---- requests -------------------------------------------------------------- */

/* Parse a popped (or parked) request and hand it to the bus, or answer it. */
static void vs_req_start(struct vs *s, struct vs_req *r)
{
	const struct vdev_vq_req *v = &r->vq;
	const struct iovec *out = v->iov, *in = v->iov + v->out_num;
	uint8_t h[VS_CMD_HDR + VDEV_SCSI_MAX_CDB];
	struct vdev_scsi_req *sr = &r->sreq;
	uint32_t cdb_len = VDEV__MIN(s->cdb_size, (uint32_t)VDEV_SCSI_MAX_CDB);
	uint64_t hdr_size = VS_CMD_HDR + (uint64_t)s->cdb_size;
	size_t need = VS_CMD_HDR + cdb_len;
	unsigned int nout;
	uint16_t target, lun;
	int rc;

	r->resp_size = VS_RESP_HDR + (uint64_t)s->sense_size;
	r->out_cap = 0;
	r->in_cap = 0;
	if (v->in_len < r->resp_size || v->out_len < hdr_size) {
		vs_log_once(s, VS_ONCE_SHORT, VDEV_LOG_WARN,
			    "request too short (%llu readable, %llu writable bytes; header %llu, "
			    "response %llu)", (unsigned long long)v->out_len,
			    (unsigned long long)v->in_len, (unsigned long long)hdr_size,
			    (unsigned long long)r->resp_size);
		vs_req_answer(s, r, VS_S_FAILURE);
		return;
	}
	/* One copy of the header: the guest may change it under us. */
	if (need == sizeof(h) && out[0].iov_len >= sizeof(h))
		memcpy(h, out[0].iov_base, sizeof(h)); /* the usual layout: a fixed-size copy */
	else if (out[0].iov_len >= need)
		memcpy(h, out[0].iov_base, need);
	else
		iov_read(out, v->out_num, 0, h, need);
	r->out_cap = v->out_len - hdr_size;
	r->in_cap = v->in_len - r->resp_size;
	if (r->out_cap && r->in_cap && !vs_has(s, VS_F_INOUT)) {
		vs_req_answer(s, r, VS_S_FAILURE); /* §5.6.6.1.1 */
		return;
	}
	if (vs_lun_decode(h, &target, &lun)) {
		vs_req_answer(s, r, VS_S_BAD_TARGET);
		return;
	}

	/* The bus sets the outputs; data_out, sense, done and user never change. */
	sr->target = target;
	sr->lun = lun;
	/* SIMPLE, ORDERED, HEAD OF QUEUE, ACA: the same values as SAM's. */
	sr->task_attr = h[16] <= VDEV_SCSI_TASK_ACA ? h[16] : VDEV_SCSI_TASK_SIMPLE;
	sr->cdb_len = (uint8_t)cdb_len;
	if (cdb_len < VDEV_SCSI_MAX_CDB)
		memset(h + need, 0, VDEV_SCSI_MAX_CDB - cdb_len);
	memcpy(sr->cdb, h + VS_CMD_HDR, VDEV_SCSI_MAX_CDB);
	sr->tag = vdev__le64(h + 8);
	nout = iov_tail(out, v->out_num, hdr_size, r->data);
	sr->data_out_cnt = nout;
	sr->data_in = r->data + nout;
	sr->data_in_cnt = iov_tail(in, v->in_num, r->resp_size, r->data + nout);
	sr->sense_cap = VDEV__MIN(s->sense_size, (uint32_t)VDEV_SCSI_SENSE_SIZE);
	r->state = VS_ACTIVE;
	rc = vdev_scsi_submit(s->bus, sr);
	if (rc)
		vs_req_answer(s, r, vs_errno_response(rc));
	/* Else @r may be complete and reused already: do not touch it. */
}

/*
 * A request with more iovecs than a slot holds (more segments than
 * seg_max promised the driver, or buffers split across many RAM regions):
 * answer it from a scratch array so the queue does not stall.
 * @return 1 if one was answered, else what the pop returned.
 */
static int vs_req_oversized(struct vs *s, struct vs_queue *q)
{
	struct vdev_vq_req *req = &s->big.req;
	int rc;

	req->iov = s->big.iov;
	req->iov_cap = s->big_cap;
	rc = vdev_vq_pop(q->vq, req);
	if (rc == 1) {
		vs_log_once(s, VS_ONCE_OVERSIZE, VDEV_LOG_WARN,
			    "request with %u iovecs (seg_max %u): answered FAILURE",
			    req->out_num + req->in_num, s->seg_max);
		vs_answer(s, q, req, VS_RESP_HDR + (uint64_t)s->sense_size, VS_S_FAILURE, 0);
	} else if (rc == -ENOBUFS) {
		vdev_virtio_needs_reset(s->vd, "request with too many segments");
	}
	return rc;
}

static void vs_reqq_notify(struct vs *s, struct vs_queue *q)
{
	vs_batch_begin(s);
	for (;;) {
		struct vs_req *r = vs_slot_get(q);
		int rc;

		if (!r) {
			/* Cannot happen: a slot per ring entry. Unless the bus kept orphans. */
			vs_log_once(s, VS_ONCE_NO_SLOT, VDEV_LOG_ERROR,
				    "no free request slot: requests wait");
			break;
		}
		rc = vdev_vq_pop(q->vq, &r->vq);
		if (rc == 1) {
			vs_req_start(s, r);
			continue;
		}
		vs_slot_put(q, r);
		if (rc == -ENOBUFS && vs_req_oversized(s, q) == 1)
			continue;
		break;
	}
	vs_batch_end(s);
}

/* ---- control queue (§5.6.6.2) --------------------------------------------- */

static uint8_t vs_tmf(struct vs *s, uint32_t subtype, const uint8_t *l, uint64_t tag)
{
	enum vdev_scsi_tmf tmf;
	uint16_t target, lun;
	int rc;

	if (vs_lun_decode(l, &target, &lun))
		return VS_S_BAD_TARGET;
	switch (subtype) {
	case VS_TMF_ABORT_TASK:
		tmf = VDEV_SCSI_TMF_ABORT_TASK;
		break;
	case VS_TMF_ABORT_TASK_SET:
		tmf = VDEV_SCSI_TMF_ABORT_TASK_SET;
		break;
	case VS_TMF_CLEAR_TASK_SET:
		tmf = VDEV_SCSI_TMF_CLEAR_TASK_SET;
		break;
	case VS_TMF_I_T_NEXUS_RESET:
		tmf = VDEV_SCSI_TMF_I_T_NEXUS_RESET;
		break;
	case VS_TMF_LOGICAL_UNIT_RESET:
		tmf = VDEV_SCSI_TMF_LUN_RESET;
		break;
	case VS_TMF_QUERY_TASK:
		tmf = VDEV_SCSI_TMF_QUERY_TASK;
		break;
	case VS_TMF_QUERY_TASK_SET:
		tmf = VDEV_SCSI_TMF_QUERY_TASK_SET;
		break;
	case VS_TMF_CLEAR_ACA: /* no ACA: NACA is never accepted */
	default:
		return VS_S_FUNCTION_REJECTED;
	}
	rc = vdev_scsi_tmf(s->bus, tmf, target, lun, tag);
	switch (rc) {
	case VDEV_SCSI_TMF_COMPLETE:
		return VS_S_OK;
	case VDEV_SCSI_TMF_SUCCEEDED:
		return VS_S_FUNCTION_SUCCEEDED;
	case VDEV_SCSI_TMF_REJECTED:
		return VS_S_FUNCTION_REJECTED;
	case VDEV_SCSI_TMF_INCORRECT_LUN:
		/* The bus says so for a missing target too; virtio tells them apart. */
		return s->luns[target] && tmf != VDEV_SCSI_TMF_I_T_NEXUS_RESET
			       ? VS_S_INCORRECT_LUN
			       : VS_S_BAD_TARGET;
	default:
		return rc < 0 ? vs_errno_response(rc) : VS_S_FAILURE;
	}
}

/* ---- asynchronous notification (§5.6.6.2.2) ------------------------------ */

static struct vs_sub *vs_sub_find(struct vs *s, uint16_t target, uint16_t lun)
{
	for (uint32_t i = 0; i < s->nsubs; i++)
		if (s->subs[i].target == target && s->subs[i].lun == lun)
			return &s->subs[i];
	return NULL;
}

static void vs_sub_drop(struct vs *s, uint16_t target, uint16_t lun)
{
	struct vs_sub *e = vs_sub_find(s, target, lun);

	if (e)
		*e = s->subs[--s->nsubs];
}

/* Record (target, lun)'s subscription to @classes (0: none). @return 0 or -ENOMEM. */
static int vs_sub_set(struct vs *s, uint16_t target, uint16_t lun, uint32_t classes)
{
	struct vs_sub *e = vs_sub_find(s, target, lun);

	if (!classes) {
		vs_sub_drop(s, target, lun);
		return 0;
	}
	if (!e) {
		if (s->nsubs == s->subs_cap) {
			uint32_t cap = s->subs_cap ? 2 * s->subs_cap : 8;
			struct vs_sub *n = realloc(s->subs, (size_t)cap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			s->subs = n;
			s->subs_cap = cap;
		}
		e = &s->subs[s->nsubs++];
		e->target = target;
		e->lun = lun;
	}
	e->classes = classes;
	return 0;
}

/* The event classes (target, lun) can report: media for a CD-ROM. */
static uint32_t vs_lun_classes(struct vs *s, uint16_t target, uint16_t lun)
{
	vdev_scsi_lun *l = vdev_scsi_lun_find(s->bus, target, lun);

	return vdev_scsi_lun_type(l) == VDEV_SCSI_LUN_CDROM ? VS_EVT_ASYNC_MEDIA_CHANGE : 0;
}

/*
 * AN_QUERY / AN_SUBSCRIBE (§5.6.6.2.2): event_actual is the requested
 * classes the LUN supports; a subscription records them (an empty one
 * cancels it). Writes the 5-byte answer into @resp.
 */
static void vs_an(struct vs *s, uint32_t type, const uint8_t *b, uint64_t len, uint8_t *resp)
{
	uint32_t actual = 0;
	uint16_t target, lun;

	if (len < VS_AN_REQ) {
		resp[4] = VS_S_FAILURE;
	} else if (vs_lun_decode(b + 4, &target, &lun) ||
		   !vdev_scsi_lun_find(s->bus, target, lun)) {
		resp[4] = VS_S_BAD_TARGET;
	} else {
		actual = vdev__le32(b + 12) & vs_lun_classes(s, target, lun);
		resp[4] = VS_S_OK;
		if (type == VS_T_AN_SUBSCRIBE && vs_sub_set(s, target, lun, actual)) {
			actual = 0;
			resp[4] = VS_S_FAILURE;
		}
	}
	vdev__put_le32(resp, actual);
}

/* Handle one control request; @return the bytes written. */
static uint32_t vs_ctrl_one(struct vs *s, const struct vdev_vq_req *req)
{
	const struct iovec *in = req->iov + req->out_num;
	uint8_t b[VS_TMF_REQ], resp[VS_AN_RESP];
	uint32_t type;

	memset(b, 0, sizeof(b));
	if (iov_read(req->iov, req->out_num, 0, b, sizeof(b)) < 4)
		goto bad;
	type = vdev__le32(b);
	if (type == VS_T_TMF) {
		if (!req->in_len)
			goto bad;
		resp[0] = req->out_len < VS_TMF_REQ ? VS_S_FAILURE
						    : vs_tmf(s, vdev__le32(b + 4), b + 8,
							     vdev__le64(b + 16));
		iov_write(in, req->in_num, 0, resp, 1);
		return 1;
	}
	if (type == VS_T_AN_QUERY || type == VS_T_AN_SUBSCRIBE) {
		if (req->in_len < VS_AN_RESP)
			goto bad;
		vs_an(s, type, b, req->out_len, resp);
		iov_write(in, req->in_num, 0, resp, VS_AN_RESP);
		return VS_AN_RESP;
	}
bad:
	vs_log_once(s, VS_ONCE_CTRL, VDEV_LOG_WARN,
		    "control request not understood (%llu readable, %llu writable bytes)",
		    (unsigned long long)req->out_len, (unsigned long long)req->in_len);
	return 0;
}

static void vs_ctrlq_notify(struct vs *s, vdev_vq *vq)
{
	struct vdev_vq_req *req = &s->ctrl.req;
	unsigned int done = 0;
	int rc;

	vs_batch_begin(s);
	for (;;) {
		uint32_t written;

		req->iov = s->ctrl.iov;
		req->iov_cap = s->big_cap;
		rc = vdev_vq_pop(vq, req);
		if (rc != 1)
			break;
		written = vs_ctrl_one(s, req);
		/*
		 * Requests a TMF aborted are used before the TMF's own answer
		 * (Linux frees them once the TMF completes).
		 */
		vs_flush_pending(s);
		if (!vdev_vq_push(vq, req, written))
			done++;
	}
	if (rc == -ENOBUFS)
		vdev_virtio_needs_reset(s->vd, "control request with too many segments");
	vs_batch_end(s);
	if (done)
		vdev_vq_flush(vq);
}

/* ---- event queue (§5.6.6.3) ----------------------------------------------- */

/* Put one event in the next event buffer. @return true if it was delivered. */
static bool vs_event_send(struct vs *s, uint32_t event, const uint8_t *lun, uint32_t reason)
{
	vdev_vq *vq = vdev_virtio_queue(s->vd, VS_EVENTQ);
	struct vdev_vq_req *req = &s->event.req;
	uint8_t e[VS_EVENT_SIZE];

	if (!(vdev_virtio_status(s->vd) & VDEV_VIRTIO_STATUS_DRIVER_OK) || !vdev_vq_started(vq))
		return false;
	for (;;) {
		int rc;

		req->iov = s->event.iov;
		req->iov_cap = s->big_cap;
		rc = vdev_vq_pop(vq, req);
		if (rc == -ENOBUFS)
			vdev_virtio_needs_reset(s->vd, "event buffer with too many segments");
		if (rc != 1)
			return false;
		if (req->in_len < VS_EVENT_SIZE) {
			vs_log_once(s, VS_ONCE_EVENT_BUF, VDEV_LOG_WARN,
				    "event buffer of %llu bytes (needs %u): returned unused",
				    (unsigned long long)req->in_len, VS_EVENT_SIZE);
			vdev_vq_complete(vq, req, 0);
			continue;
		}
		vdev__put_le32(e, event | (s->events_missed ? VS_T_EVENTS_MISSED : 0));
		memcpy(e + 4, lun, 8);
		vdev__put_le32(e + 12, reason);
		iov_write(req->iov + req->out_num, req->in_num, 0, e, VS_EVENT_SIZE);
		vdev_vq_complete(vq, req, VS_EVENT_SIZE);
		s->events_missed = false;
		return true;
	}
}

static void vs_event(struct vs *s, uint32_t event, uint16_t target, uint16_t lun,
		     uint32_t reason)
{
	uint8_t l[8];

	vs_lun_encode(l, target, lun);
	if (!vs_event_send(s, event, l, reason))
		s->events_missed = true;
}

/* The driver added event buffers: report events we could not deliver. */
static void vs_eventq_notify(struct vs *s)
{
	static const uint8_t none[8];

	if (s->events_missed)
		vs_event_send(s, VS_T_NO_EVENT, none, 0);
}

/* The bus's hook: a LUN came, went or changed. */
static void vs_bus_event(void *opaque, uint16_t target, uint16_t lun, enum vdev_scsi_event ev)
{
	struct vs *s = opaque;

	/* The bus has no per-target query: count LUNs here (for TMF answers). */
	if (target < VDEV_SCSI_MAX_TARGETS) {
		if (ev == VDEV_SCSI_EV_LUN_ADDED)
			s->luns[target]++;
		else if (ev == VDEV_SCSI_EV_LUN_REMOVED && s->luns[target])
			s->luns[target]--;
	}
	/* A LUN added later at this address subscribes for itself. */
	if (ev == VDEV_SCSI_EV_LUN_REMOVED)
		vs_sub_drop(s, target, lun);
	/* Before DRIVER_OK the driver scans when it starts; during a reset, nobody listens. */
	if (s->quiet || !(vdev_virtio_status(s->vd) & VDEV_VIRTIO_STATUS_DRIVER_OK))
		return;
	switch (ev) {
	case VDEV_SCSI_EV_LUN_ADDED:
		if (vs_has(s, VS_F_HOTPLUG))
			vs_event(s, VS_T_TRANSPORT_RESET, target, lun, VS_EVT_RESET_RESCAN);
		break;
	case VDEV_SCSI_EV_LUN_REMOVED:
		if (vs_has(s, VS_F_HOTPLUG))
			vs_event(s, VS_T_TRANSPORT_RESET, target, lun, VS_EVT_RESET_REMOVED);
		break;
	case VDEV_SCSI_EV_CAPACITY_CHANGED:
		if (vs_has(s, VS_F_CHANGE))
			vs_event(s, VS_T_PARAM_CHANGE, target, lun, VS_REASON_CAPACITY);
		break;
	case VDEV_SCSI_EV_MEDIUM_CHANGED: {
		/*
		 * Medium inserted or removed, tray opened or closed, or an eject
		 * request the guest's lock refused: the guest learns which from
		 * GET EVENT STATUS NOTIFICATION (and the unit attention).
		 * Without a subscription it sees only those.
		 */
		const struct vs_sub *e = vs_sub_find(s, target, lun);

		if (e && (e->classes & VS_EVT_ASYNC_MEDIA_CHANGE))
			vs_event(s, VS_T_ASYNC_NOTIFY, target, lun, VS_EVT_ASYNC_MEDIA_CHANGE);
		break;
	}
	default:
		break;
	}
}

/* ---- virtio hooks ---------------------------------------------------------- */

static void vs_queue_notify(void *opaque, unsigned int index, vdev_vq *vq)
{
	struct vs *s = opaque;

	if (index == VS_CTRLQ)
		vs_ctrlq_notify(s, vq);
	else if (index == VS_EVENTQ)
		vs_eventq_notify(s);
	else if (index - VS_REQQ0 < s->nreq)
		vs_reqq_notify(s, &s->rq[index - VS_REQQ0]);
}

static void vs_config_image(const struct vs *s, uint8_t *c)
{
	vdev__put_le32(c + 0, s->nreq);
	vdev__put_le32(c + 4, s->seg_max);
	vdev__put_le32(c + 8, s->max_sectors);
	vdev__put_le32(c + 12, s->cmd_per_lun);
	vdev__put_le32(c + 16, VS_EVENT_SIZE);
	vdev__put_le32(c + 20, s->sense_size);
	vdev__put_le32(c + 24, s->cdb_size);
	vdev__put_le16(c + 28, 0);                           /* max_channel */
	vdev__put_le16(c + 30, VDEV_SCSI_MAX_TARGETS - 1);   /* max_target */
	vdev__put_le32(c + 32, VDEV_SCSI_MAX_LUNS - 1);      /* max_lun */
}

static void vs_config_read(void *opaque, uint32_t offset, void *buf, uint32_t len)
{
	uint8_t c[VS_CONFIG_SIZE];

	vs_config_image(opaque, c);
	memcpy(buf, c + offset, len); /* the core keeps [offset, offset + len) inside */
}

/* §5.6.4: the driver may write sense_size (offset 20) and cdb_size (24); the rest is read-only. */
static void vs_config_write(void *opaque, uint32_t offset, const void *buf, uint32_t len)
{
	struct vs *s = opaque;
	const uint8_t *b = buf;
	uint8_t c[VS_CONFIG_SIZE];

	vs_config_image(s, c);
	for (uint32_t i = 0; i < len; i++)
		if (offset + i >= 20 && offset + i < 28)
			c[offset + i] = b[i];
	s->sense_size = vdev__le32(c + 20);
	s->cdb_size = vdev__le32(c + 24);
}

/*
 * Take every request back from the bus without touching the guest: they
 * become PARKED (still in flight in their queues). Requests the bus does
 * not give back become ORPHAN.
 */
static void vs_park_all(struct vs *s, bool bus_reset)
{
	bool left = false;

	s->quiet = true;
	if (bus_reset)
		vdev_scsi_bus_reset(s->bus);
	for (uint32_t i = 0; i < s->nreq; i++) {
		for (uint32_t k = 0; k < s->qsize; k++) {
			struct vs_req *r = &s->rq[i].slots[k];

			/* ABORT TASK SET: no unit attention (SAM-5 §7.3). */
			if (r->state == VS_ACTIVE)
				vdev_scsi_tmf(s->bus, VDEV_SCSI_TMF_ABORT_TASK_SET, r->sreq.target,
					      r->sreq.lun, 0);
			if (r->state == VS_ACTIVE)
				left = true;
		}
	}
	if (left && !bus_reset)
		vdev_scsi_bus_reset(s->bus);
	for (uint32_t i = 0; i < s->nreq; i++) {
		for (uint32_t k = 0; k < s->qsize; k++) {
			struct vs_req *r = &s->rq[i].slots[k];

			if (r->state == VS_ACTIVE) {
				vs_log_once(s, VS_ONCE_ORPHAN, VDEV_LOG_ERROR,
					    "the SCSI bus kept an aborted command: dropped");
				r->state = VS_ORPHAN;
			}
		}
	}
	s->quiet = false;
}

/* Free every PARKED slot: their queues forget them (stop or load). */
static void vs_drop_parked(struct vs *s)
{
	for (uint32_t i = 0; i < s->nreq; i++) {
		struct vs_queue *q = &s->rq[i];

		q->need_flush = false;
		for (uint32_t k = 0; k < s->qsize; k++)
			if (q->slots[k].state == VS_PARKED)
				vs_slot_put(q, &q->slots[k]);
	}
	s->npending = 0;
	vdev_timer_disarm(s->flush);
}

/* Device reset: abort everything, write nothing to the guest, drop every iovec. */
static void vs_reset(void *opaque)
{
	struct vs *s = opaque;

	vs_park_all(s, true);
	vs_drop_parked(s);
	s->cdb_size = VS_CDB_DEFAULT;
	s->sense_size = VS_SENSE_DEFAULT;
	s->events_missed = false;
	s->nsubs = 0; /* the driver subscribes again after a reset */
}

/* Abort, at the bus, what is still ACTIVE of @q with @tmf (ABORT TASK or ABORT TASK SET). */
static void vs_queue_abort(struct vs *s, struct vs_queue *q, enum vdev_scsi_tmf tmf)
{
	for (uint32_t k = 0; k < s->qsize; k++) {
		struct vs_req *r = &q->slots[k];

		if (r->state == VS_ACTIVE)
			vdev_scsi_tmf(s->bus, tmf, r->sreq.target, r->sreq.lun, r->sreq.tag);
	}
}

/*
 * VIRTIO_F_RING_RESET (§2.6.1) of queue @index: before the core forgets
 * the rings, every request the queue has at the bus is aborted there and
 * its slot freed, nothing written to the guest: once this returns no
 * iovec into the old rings' buffers is left. Control and event requests
 * are answered as they are popped, so those queues hold nothing (the
 * event queue's unused buffers are simply forgotten with the ring; a
 * missed event is still reported once buffers come back).
 *
 * Each request is aborted alone (ABORT TASK with its LUN and tag): other
 * queues keep running. A guest may reuse a tag on two queues; a request of
 * another queue aborted that way is submitted again (as after a load), so
 * that queue never sees the abort. If the bus kept a request after ABORT
 * TASK, ABORT TASK SET of its LUN follows (the same re-submission covers
 * the other queues); one it keeps even then becomes ORPHAN.
 */
static void vs_queue_reset(void *opaque, unsigned int index, vdev_vq *vq)
{
	struct vs *s = opaque;
	struct vs_queue *q;

	(void)vq;
	if (index < VS_REQQ0 || index - VS_REQQ0 >= s->nreq)
		return;
	q = &s->rq[index - VS_REQQ0];
	vs_batch_begin(s);
	s->qreset = q;
	vs_queue_abort(s, q, VDEV_SCSI_TMF_ABORT_TASK);
	vs_queue_abort(s, q, VDEV_SCSI_TMF_ABORT_TASK_SET);
	s->qreset = NULL;
	for (uint32_t k = 0; k < s->qsize; k++) {
		struct vs_req *r = &q->slots[k];

		if (r->state == VS_PARKED) {
			vs_slot_put(q, r);
		} else if (r->state == VS_ACTIVE) {
			vs_log_once(s, VS_ONCE_ORPHAN, VDEV_LOG_ERROR,
				    "the SCSI bus kept an aborted command: dropped");
			r->state = VS_ORPHAN;
		}
	}
	/* Staged completions die with the ring (the core stops it next). */
	if (q->need_flush) {
		q->need_flush = false;
		s->npending--;
	}
	for (uint32_t i = 0; i < s->nreq; i++)
		for (uint32_t k = 0; k < s->qsize; k++)
			if (s->rq[i].slots[k].state == VS_PARKED)
				vs_req_start(s, &s->rq[i].slots[k]);
	vs_batch_end(s);
}

/* The subscriptions as one bytes record: VS_SUB_REC bytes each. */
static int vs_subs_save(struct vs *s, vdev_state_writer *w)
{
	uint8_t *b = malloc((size_t)s->nsubs * VS_SUB_REC);
	int rc;

	if (!b)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->nsubs; i++) {
		vdev__put_le16(b + i * VS_SUB_REC, s->subs[i].target);
		vdev__put_le16(b + i * VS_SUB_REC + 2, s->subs[i].lun);
		vdev__put_le32(b + i * VS_SUB_REC + 4, s->subs[i].classes);
	}
	rc = vdev_state_put(w, TAG_ANSB, VDEV_STATE_BYTES, VDEV_STATE_F_REQUIRED, b,
			    (size_t)s->nsubs * VS_SUB_REC);
	free(b);
	return rc;
}

static int vs_sub_cmp(const void *a, const void *b)
{
	const struct vs_sub *x = a, *y = b;
	uint32_t kx = (uint32_t)x->target << 16 | x->lun, ky = (uint32_t)y->target << 16 | y->lun;

	return kx < ky ? -1 : kx > ky;
}

/*
 * Read and check the subscriptions record (untrusted): each names a LUN
 * this bus has, once, with classes we support. @return 0 with *out
 * (malloc'd, the caller frees) and *nout set, or the reader's error.
 */
static int vs_subs_load(struct vs *s, vdev_state_reader *r, struct vs_sub **out, uint32_t *nout)
{
	struct vdev_state_record rec;
	const uint8_t *p;
	struct vs_sub *v;
	uint32_t n;
	int rc;

	rc = vdev_state_next(r, &rec);
	if (rc < 0)
		return rc;
	if (!rc || rec.tag != TAG_ANSB || rec.type != VDEV_STATE_BYTES || !rec.len ||
	    rec.len % VS_SUB_REC)
		return vdev_state_fail(r, -EBADMSG, "virtio-scsi: subscriptions malformed");
	n = rec.len / VS_SUB_REC;
	if (n > vdev_scsi_lun_count(s->bus))
		return vdev_state_fail(r, -ERANGE, "virtio-scsi: %u subscriptions for %u LUNs", n,
				       vdev_scsi_lun_count(s->bus));
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	p = rec.data;
	for (uint32_t i = 0; i < n; i++, p += VS_SUB_REC) {
		v[i].target = vdev__le16(p);
		v[i].lun = vdev__le16(p + 2);
		v[i].classes = vdev__le32(p + 4);
		if (!v[i].classes || (v[i].classes & ~VS_EVT_ASYNC_MEDIA_CHANGE) ||
		    v[i].target >= VDEV_SCSI_MAX_TARGETS || v[i].lun >= VDEV_SCSI_MAX_LUNS ||
		    !vdev_scsi_lun_find(s->bus, v[i].target, v[i].lun)) {
			rc = vdev_state_fail(r, -ERANGE,
					     "virtio-scsi: subscription of %u:%u to %#x refused",
					     v[i].target, v[i].lun, v[i].classes);
			free(v);
			return rc;
		}
	}
	qsort(v, n, sizeof(*v), vs_sub_cmp);
	for (uint32_t i = 1; i < n; i++) {
		if (!vs_sub_cmp(&v[i - 1], &v[i])) {
			rc = vdev_state_fail(r, -EBADMSG, "virtio-scsi: %u:%u subscribed twice",
					     v[i].target, v[i].lun);
			free(v);
			return rc;
		}
	}
	*out = v;
	*nout = n;
	return 0;
}

static int vs_model_save(void *opaque, vdev_state_writer *w)
{
	struct vs *s = opaque;
	struct vs_image im = {
		.num_queues = s->nreq,
		.seg_max = s->seg_max,
		.max_sectors = s->max_sectors,
		.cmd_per_lun = s->cmd_per_lun,
		.cdb_size = s->cdb_size,
		.sense_size = s->sense_size,
		.events_missed = s->events_missed,
	};
	int rc;

	/* Version 1 without subscriptions: older destinations can load it. */
	rc = vdev_state_begin(w, TAG_VSCF, s->nsubs ? VS_CF_VERSION_SUBS : VS_CF_VERSION,
			      VDEV_STATE_F_REQUIRED);
	if (!rc && s->nsubs)
		rc = vs_subs_save(s, w);
	if (!rc)
		rc = vdev_state_save_fields(w, vs_fields, VDEV__ARRAY_SIZE(vs_fields), &im);
	if (!rc)
		rc = vdev_state_end(w);
	if (!rc)
		rc = vdev_scsi_bus_save(s->bus, w);
	return rc;
}

static int vs_model_load(void *opaque, vdev_state_reader *r)
{
	struct vs *s = opaque;
	struct vdev_state_record rec;
	struct vs_sub *subs = NULL;
	uint32_t nsubs = 0;
	struct vs_image im;
	int rc;

	rc = vdev_state_next(r, &rec);
	if (rc < 0)
		return rc;
	if (rc == 0 || rec.tag != TAG_VSCF || rec.type != VDEV_STATE_SECTION)
		return vdev_state_fail(r, -EBADMSG, "virtio-scsi: configuration section missing");
	if (rec.version != VS_CF_VERSION && rec.version != VS_CF_VERSION_SUBS)
		return vdev_state_fail(r, -EPROTONOSUPPORT, "virtio-scsi: configuration version %u",
				       rec.version);
	memset(&im, 0, sizeof(im));
	rc = vdev_state_enter(r);
	if (!rc && rec.version == VS_CF_VERSION_SUBS)
		rc = vs_subs_load(s, r, &subs, &nsubs);
	if (!rc)
		rc = vdev_state_load_fields(r, vs_fields, VDEV__ARRAY_SIZE(vs_fields), &im);
	if (!rc)
		rc = vdev_state_leave(r);
	/* The guest read these: they must not change under it. */
	if (!rc && (im.num_queues != s->nreq || im.seg_max != s->seg_max ||
		    im.max_sectors != s->max_sectors || im.cmd_per_lun != s->cmd_per_lun))
		rc = vdev_state_fail(r, -ERANGE,
				     "virtio-scsi: source had num_queues %u seg_max %u "
				     "max_sectors %u cmd_per_lun %u; this device %u %u %u %u",
				     im.num_queues, im.seg_max, im.max_sectors, im.cmd_per_lun,
				     s->nreq, s->seg_max, s->max_sectors, s->cmd_per_lun);
	if (rc) {
		free(subs);
		return rc;
	}

	/* Commands at the bus now belong to the old state of the queues. */
	vs_park_all(s, false);
	rc = vdev_scsi_bus_load(s->bus, r);
	if (rc) {
		/* Refused: nothing changes for the guest; resubmit what we parked. */
		vdev_timer_arm(s->resume, vdev_now_ns(s->ctx));
		free(subs);
		return rc;
	}
	vs_drop_parked(s);
	free(s->subs);
	s->subs = subs;
	s->nsubs = s->subs_cap = nsubs;
	s->cdb_size = im.cdb_size;
	s->sense_size = im.sense_size;
	s->events_missed = im.events_missed;
	return 0;
}

/*
 * After a load (or a refused one): publish completions the source had
 * staged, resubmit parked requests, and look at every queue — requests the
 * source had in flight are popped again first.
 */
static void vs_resume(vdev_timer *timer, void *opaque)
{
	struct vs *s = opaque;
	uint32_t nq = VS_REQQ0 + s->nreq;

	(void)timer;
	for (uint32_t i = 0; i < nq; i++) {
		vdev_vq *vq = vdev_virtio_queue(s->vd, i);

		if (vdev_vq_started(vq))
			vdev_vq_reap(vq);
	}
	vs_batch_begin(s);
	for (uint32_t i = 0; i < s->nreq; i++)
		for (uint32_t k = 0; k < s->qsize; k++)
			if (s->rq[i].slots[k].state == VS_PARKED)
				vs_req_start(s, &s->rq[i].slots[k]);
	vs_batch_end(s);
	for (uint32_t i = 0; i < nq; i++)
		vdev_virtio_kick(s->vd, i);
}

/* ---- creation -------------------------------------------------------------- */

static void vs_free(struct vs *s)
{
	if (s->bus) {
		/* Its requests complete (parked) before it goes. */
		s->quiet = true;
		vdev_scsi_bus_free(s->bus);
	}
	vdev_timer_free(s->resume);
	vdev_timer_free(s->flush);
	vdev_virtio_free(s->vd);
	if (s->rq) {
		for (uint32_t i = 0; i < s->nreq; i++) {
			free(s->rq[i].slots);
			free(s->rq[i].iov);
		}
		free(s->rq);
	}
	free(s->ctrl.iov);
	free(s->event.iov);
	free(s->big.iov);
	free(s->subs);
	free(s);
}

static int vs_queues_alloc(struct vs *s)
{
	size_t per = 2 * (size_t)s->iov_cap;

	s->rq = calloc(s->nreq, sizeof(*s->rq));
	s->ctrl.iov = calloc(s->big_cap, sizeof(struct iovec));
	s->event.iov = calloc(s->big_cap, sizeof(struct iovec));
	s->big.iov = calloc(s->big_cap, sizeof(struct iovec));
	if (!s->rq || !s->ctrl.iov || !s->event.iov || !s->big.iov)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->nreq; i++) {
		struct vs_queue *q = &s->rq[i];

		q->s = s;
		q->vq = vdev_virtio_queue(s->vd, VS_REQQ0 + i);
		q->slots = calloc(s->qsize, sizeof(*q->slots));
		q->iov = calloc((size_t)s->qsize * per, sizeof(struct iovec));
		if (!q->slots || !q->iov)
			return -ENOMEM;
		q->free_head = UINT32_MAX;
		for (uint32_t k = s->qsize; k-- > 0;) {
			struct vs_req *r = &q->slots[k];

			r->q = q;
			r->vq.iov = q->iov + (size_t)k * per;
			r->vq.iov_cap = s->iov_cap;
			r->data = r->vq.iov + s->iov_cap;
			r->sreq.data_out = r->data;
			r->sreq.sense = r->sense;
			r->sreq.done = vs_req_done;
			r->sreq.user = r;
			r->next_free = q->free_head;
			q->free_head = k;
		}
	}
	return 0;
}

/* Resolve defaults and check the options. @return 0 or -EINVAL. */
static int vs_opts_resolve(struct vdev_virtio_scsi_opts *o, uint32_t transport)
{
	if (!o->num_queues)
		o->num_queues = 1;
	if (!o->queue_size)
		o->queue_size = 128;
	if (!o->seg_max)
		o->seg_max = o->queue_size > 2 ? o->queue_size - 2 : 1;
	if (!o->max_sectors)
		o->max_sectors = 0xffff;
	if (!o->cmd_per_lun)
		o->cmd_per_lun = 128;
	if (o->transport && o->transport != transport)
		return -EINVAL;
	if (o->num_queues > VDEV_VIRTIO_SCSI_MAX_QUEUES)
		return -EINVAL;
	if (o->queue_size < 4 || o->queue_size > VDEV_VIRTIO_SCSI_MAX_QUEUE_SIZE ||
	    (o->queue_size & (o->queue_size - 1)))
		return -EINVAL;
	/* A request is at most queue_size descriptors: header, response, data. */
	if (o->seg_max > o->queue_size - 2)
		return -EINVAL;
	return 0;
}

static const struct vdev_virtio_ops vs_ops_template = {
	.struct_size = sizeof(struct vdev_virtio_ops),
	.device_id = VDEV_VIRTIO_ID_SCSI,
	.config_size = VS_CONFIG_SIZE,
	.features = (1ull << VS_F_INOUT) | (1ull << VS_F_HOTPLUG) | (1ull << VS_F_CHANGE),
	.config_read = vs_config_read,
	.config_write = vs_config_write,
	.reset = vs_reset,
	.queue_notify = vs_queue_notify,
	.queue_reset = vs_queue_reset,
	.save = vs_model_save,
	.load = vs_model_load,
};

static int vs_create(vdev_device *dev, const void *opts, uint32_t transport)
{
	struct vdev_virtio_scsi_opts o;
	struct vdev_virtio_ops ops = vs_ops_template;
	struct vdev_scsi_bus_ops bops = {
		.struct_size = sizeof(bops),
		.event = vs_bus_event,
	};
	struct vs *s;
	int rc;

	if (vdev__copy_sized(&o, sizeof(o), opts) || vs_opts_resolve(&o, transport))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ctx = vdev_device_ctx(dev);
	s->nreq = o.num_queues;
	s->qsize = o.queue_size;
	s->seg_max = o.seg_max;
	s->max_sectors = o.max_sectors;
	s->cmd_per_lun = o.cmd_per_lun;
	s->iov_cap = o.seg_max + 2 + VS_IOV_SLACK;
	s->big_cap = 2 * o.queue_size + 16;
	s->cdb_size = VS_CDB_DEFAULT;
	s->sense_size = VS_SENSE_DEFAULT;

	ops.num_queues = VS_REQQ0 + s->nreq;
	ops.queue_max_size = s->qsize;
	rc = vdev_timer_new(s->ctx, vs_resume, s, &s->resume);
	if (!rc)
		rc = vdev_timer_new(s->ctx, vs_flush_timer, s, &s->flush);
	if (!rc)
		rc = vdev_virtio_new(s->ctx, &ops, s, &s->vd);
	if (!rc)
		rc = vs_queues_alloc(s);
	if (!rc)
		rc = vdev_scsi_bus_new(s->ctx, &bops, s, &s->bus);
	if (!rc && transport == VDEV_VIRTIO_SCSI_TRANSPORT_PCI) {
		struct vdev_virtio_pci_opts po = {
			.struct_size = sizeof(po),
			.source_id = o.source_id,
		};

		rc = vdev_virtio_pci_new(s->vd, &po, &s->f);
	} else if (!rc) {
		struct vdev_virtio_mmio_opts mo = {
			.struct_size = sizeof(mo),
			.source_id = o.source_id,
		};

		rc = vdev_virtio_mmio_attach(s->vd, &mo);
	}
	if (rc) {
		vs_free(s);
		return rc;
	}
	vdev_device_set_priv(dev, s);
	if (s->f)
		vdev_device_set_pci(dev, s->f);
	return 0;
}

static int vs_create_pci(vdev_device *dev, const void *opts)
{
	return vs_create(dev, opts, VDEV_VIRTIO_SCSI_TRANSPORT_PCI);
}

static int vs_create_mmio(vdev_device *dev, const void *opts)
{
	return vs_create(dev, opts, VDEV_VIRTIO_SCSI_TRANSPORT_MMIO);
}

static void vs_destroy(vdev_device *dev)
{
	struct vs *s = vdev_device_priv(dev);

	vdev_device_set_pci(dev, NULL);
	vdev_device_set_priv(dev, NULL);
	if (s)
		vs_free(s);
}

/* Power-on: the virtio reset (which resets the bus), and the PCI function. */
static void vs_dev_reset(vdev_device *dev)
{
	struct vs *s = vdev_device_priv(dev);

	vdev_timer_disarm(s->resume);
	vdev_timer_disarm(s->flush);
	vdev_virtio_reset(s->vd);
	if (s->f)
		vdev_pci_func_reset(s->f);
}

static int vs_save(vdev_device *dev, vdev_state_writer *w)
{
	struct vs *s = vdev_device_priv(dev);

	return vdev_virtio_save(s->vd, w);
}

static int vs_load(vdev_device *dev, vdev_state_reader *rd, uint16_t version)
{
	struct vs *s = vdev_device_priv(dev);
	int rc;

	if (version != VS_STATE_VERSION)
		return vdev_state_fail(rd, -EPROTONOSUPPORT, "virtio-scsi: state version %u",
				       version);
	rc = vdev_virtio_load(s->vd, rd);
	if (!rc)
		vdev_timer_arm(s->resume, vdev_now_ns(s->ctx));
	return rc;
}

#define VS_OPT(key, member, lo, hi, help) \
	{ key, VDEV_OPT_U32, offsetof(struct vdev_virtio_scsi_opts, member), lo, hi, help }

static const struct vdev_device_opt vs_kv[] = {
	VS_OPT("source-id", source_id, 0, UINT32_MAX,
	       "source id passed to the interrupt hooks (default 0)"),
	VS_OPT("num-queues", num_queues, 1, VDEV_VIRTIO_SCSI_MAX_QUEUES,
	       "request queues (default 1)"),
	VS_OPT("queue-size", queue_size, 4, VDEV_VIRTIO_SCSI_MAX_QUEUE_SIZE,
	       "largest queue size, a power of two (default 128)"),
	VS_OPT("seg-max", seg_max, 1, VDEV_VIRTIO_SCSI_MAX_QUEUE_SIZE - 2,
	       "data segments per command, at most queue-size - 2 (default queue-size - 2)"),
	VS_OPT("max-sectors", max_sectors, 1, UINT32_MAX,
	       "largest transfer in 512-byte sectors (default 65535)"),
	VS_OPT("cmd-per-lun", cmd_per_lun, 1, UINT32_MAX,
	       "commands per LUN the guest should queue (default 128)"),
};

const struct vdev_device_type vdev__virtio_scsi_pci_type = {
	.struct_size = sizeof(struct vdev_device_type),
	.name = VDEV_VIRTIO_SCSI_PCI_TYPE,
	.description = "virtio SCSI host adapter on virtio-pci (modern)",
	.opts_size = sizeof(struct vdev_virtio_scsi_opts),
	.opts = vs_kv,
	.n_opts = VDEV__ARRAY_SIZE(vs_kv),
	.state_version = VS_STATE_VERSION,
	.create = vs_create_pci,
	.destroy = vs_destroy,
	.reset = vs_dev_reset,
	.save = vs_save,
	.load = vs_load,
};

const struct vdev_device_type vdev__virtio_scsi_mmio_type = {
	.struct_size = sizeof(struct vdev_device_type),
	.name = VDEV_VIRTIO_SCSI_MMIO_TYPE,
	.description = "virtio SCSI host adapter on virtio-mmio (version 2)",
	.opts_size = sizeof(struct vdev_virtio_scsi_opts),
	.opts = vs_kv,
	.n_opts = VDEV__ARRAY_SIZE(vs_kv),
	.state_version = VS_STATE_VERSION,
	.create = vs_create_mmio,
	.destroy = vs_destroy,
	.reset = vs_dev_reset,
	.save = vs_save,
	.load = vs_load,
};

/* The registry keeps copies of the type structs: recognise ours by create function. */
static struct vs *vs_of(const vdev_device *dev)
{
	const struct vdev_device_type *t = dev ? vdev_device_get_type(dev) : NULL;

	if (!t || (t->create != vs_create_pci && t->create != vs_create_mmio))
		return NULL;
	return vdev_device_priv(dev);
}

vdev_virtio *vdev__virtio_scsi_virtio(const vdev_device *dev)
{
	struct vs *s = vs_of(dev);

	return s ? s->vd : NULL;
}

vdev_scsi_bus *vdev_virtio_scsi_bus(vdev_device *dev)
{
	struct vs *s = vs_of(dev);

	return s ? s->bus : NULL;
}
