/* SPDX-License-Identifier: MIT */
/*
 * A small virtio device model for the transport tests (test_virtio_pci.c,
 * test_virtio_mmio.c) plus the fixture around it: a mock VMM, the model
 * on a vdev_virtio, the transport, the vio test driver and vdrv rings.
 *
 * The model records every hook call; it completes requests at once
 * (writing a pattern into the device-writable bytes) or, with `hold`,
 * keeps them in flight until tm_complete_held(). Its own saved state is
 * one byte of its config space, so a round trip checks the model hook.
 */
#ifndef VDEV_TESTS_TEST_VIRTIO_MODEL_H
#define VDEV_TESTS_TEST_VIRTIO_MODEL_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <vdev/virtio.h>

#include "mock_vmm.h"
#include "state_blob.h"
#include "vdrv.h"
#include "vio_driver.h"

#define TM_MAX_Q 4
#define TM_MAX_HELD 64
#define TM_QSIZE 16
#define TM_CONFIG_SIZE 8
#define TM_FEATURE_A 0   /* a device feature bit the model offers */
#define TM_FEATURE_B 5   /* another */
#define TM_RAM (1u << 20)
#define TM_PATTERN 0xa5
#define TM_DROPPED 0xffffffffu /* tm_held.q of an aborted request */

#define BIT(b) (1ull << (b))
#define F_V1 BIT(VDEV_VIRTIO_F_VERSION_1)
#define F_RESET BIT(VDEV_VIRTIO_F_RING_RESET)
#define F_NDATA BIT(VDEV_VIRTIO_F_NOTIFICATION_DATA)
#define F_PACKED BIT(VDEV_VIRTIO_F_RING_PACKED)
#define F_EVIDX BIT(VDEV_VIRTIO_F_EVENT_IDX)
#define F_INDIRECT BIT(VDEV_VIRTIO_F_INDIRECT_DESC)

struct tm_held {
	struct vdev_vq_req req;
	struct iovec iov[TM_QSIZE];
	unsigned int q;
};

struct tmodel {
	vdev_virtio *vd;
	unsigned int resets, starts, set_features_calls, config_writes, loads;
	unsigned int notifies[TM_MAX_Q], queue_resets[TM_MAX_Q];
	unsigned int wakes[TM_MAX_Q]; /* queue_wake calls (from other threads) */
	uint64_t last_features;
	int refuse_features;
	int hold;
	int fail_load;
	int last_pop_rc;
	uint8_t config[TM_CONFIG_SIZE];
	struct tm_held held[TM_MAX_HELD];
	unsigned int nheld;
};

static inline void tm_fill(const struct vdev_vq_req *req)
{
	for (uint32_t i = req->out_num; i < req->out_num + req->in_num; i++)
		memset(req->iov[i].iov_base, TM_PATTERN, req->iov[i].iov_len);
}

static inline void tm_queue_notify(void *opaque, unsigned int index, vdev_vq *vq)
{
	struct tmodel *tm = opaque;
	int rc;

	tm->notifies[index]++;
	for (;;) {
		struct tm_held *h;
		struct iovec iov[TM_QSIZE];
		struct vdev_vq_req req;

		memset(&req, 0, sizeof(req));
		if (tm->hold && tm->nheld < TM_MAX_HELD) {
			h = &tm->held[tm->nheld];
			memset(h, 0, sizeof(*h));
			h->req.iov = h->iov;
			h->req.iov_cap = TM_QSIZE;
			rc = vdev_vq_pop(vq, &h->req);
			if (rc == 1) {
				h->q = index;
				tm->nheld++;
			}
		} else {
			req.iov = iov;
			req.iov_cap = TM_QSIZE;
			rc = vdev_vq_pop(vq, &req);
			if (rc == 1) {
				tm_fill(&req);
				assert_int_equal(vdev_vq_push(vq, &req, (uint32_t)req.in_len), 0);
			}
		}
		tm->last_pop_rc = rc;
		if (rc != 1)
			break;
	}
	vdev_vq_flush(vq);
}

/* Complete every held request (fully written), one flush per queue. */
static inline void tm_complete_held(struct tmodel *tm)
{
	for (unsigned int i = 0; i < tm->nheld; i++) {
		struct tm_held *h = &tm->held[i];
		vdev_vq *vq = vdev_virtio_queue(tm->vd, h->q);

		if (h->q == TM_DROPPED)
			continue;
		tm_fill(&h->req);
		assert_int_equal(vdev_vq_push(vq, &h->req, (uint32_t)h->req.in_len), 0);
	}
	for (unsigned int q = 0; q < TM_MAX_Q; q++)
		if (vdev_virtio_queue(tm->vd, q) && vdev_vq_started(vdev_virtio_queue(tm->vd, q)))
			vdev_vq_flush(vdev_virtio_queue(tm->vd, q));
	tm->nheld = 0;
}

static inline void tm_reset(void *opaque)
{
	struct tmodel *tm = opaque;

	tm->resets++;
	tm->nheld = 0; /* abort: drop every request and iovec */
}

/* Abort queue @index's requests. Held structs stay where they are: the
 * engine tracks a request by the struct it was popped into. */
static inline void tm_queue_reset(void *opaque, unsigned int index, vdev_vq *vq)
{
	struct tmodel *tm = opaque;

	(void)vq;
	tm->queue_resets[index]++;
	for (unsigned int i = 0; i < tm->nheld; i++)
		if (tm->held[i].q == index)
			tm->held[i].q = TM_DROPPED;
}

/* Requests held and not aborted. */
static inline unsigned int tm_live(const struct tmodel *tm)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < tm->nheld; i++)
		n += tm->held[i].q != TM_DROPPED;
	return n;
}

static inline void tm_queue_wake(void *opaque, unsigned int index, vdev_vq *vq)
{
	struct tmodel *tm = opaque;

	(void)vq;
	__atomic_fetch_add(&tm->wakes[index], 1, __ATOMIC_RELAXED);
}

static inline void tm_start(void *opaque)
{
	((struct tmodel *)opaque)->starts++;
}

static inline int tm_set_features(void *opaque, uint64_t features)
{
	struct tmodel *tm = opaque;

	tm->set_features_calls++;
	tm->last_features = features;
	return tm->refuse_features ? -ENOTSUP : 0;
}

static inline void tm_config_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
	struct tmodel *tm = opaque;

	assert_true(off + len <= TM_CONFIG_SIZE);
	memcpy(buf, tm->config + off, len);
}

static inline void tm_config_write(void *opaque, uint32_t off, const void *buf, uint32_t len)
{
	struct tmodel *tm = opaque;

	assert_true(off + len <= TM_CONFIG_SIZE);
	memcpy(tm->config + off, buf, len);
	tm->config_writes++;
}

#define TM_TAG VDEV_STATE_TAG('T', 'M', 'C', '0')

static inline int tm_save(void *opaque, vdev_state_writer *w)
{
	struct tmodel *tm = opaque;

	return vdev_state_put_u8(w, TM_TAG, tm->config[0]);
}

static inline int tm_load(void *opaque, vdev_state_reader *r)
{
	struct tmodel *tm = opaque;
	struct vdev_state_record rec;
	uint64_t v = 0;

	if (tm->fail_load)
		return vdev_state_fail(r, -EBADMSG, "test model refuses its state");
	while (vdev_state_next(r, &rec) > 0)
		if (rec.tag == TM_TAG && vdev_state_record_uint(&rec, &v))
			return vdev_state_fail(r, -EBADMSG, "test model: bad record");
	tm->config[0] = (uint8_t)v;
	tm->loads++;
	return 0;
}

static inline struct vdev_virtio_ops tm_ops(uint32_t nq, int with_queue_reset)
{
	struct vdev_virtio_ops o = {
		.struct_size = sizeof(o),
		.device_id = 0x1f, /* an ID no real device uses here */
		.num_queues = nq,
		.queue_max_size = TM_QSIZE,
		.config_size = TM_CONFIG_SIZE,
		.features = BIT(TM_FEATURE_A) | BIT(TM_FEATURE_B),
		.config_read = tm_config_read,
		.config_write = tm_config_write,
		.set_features = tm_set_features,
		.start = tm_start,
		.reset = tm_reset,
		.queue_notify = tm_queue_notify,
		.queue_reset = with_queue_reset ? tm_queue_reset : NULL,
		.save = tm_save,
		.load = tm_load,
		.queue_wake = tm_queue_wake,
	};
	return o;
}

/* ---- the fixture ---- */

#define TV_SRC 7

struct tv {
	struct mock_vmm mv;
	struct tmodel tm;
	vdev_virtio *vd;
	vdev_pci_func *f;       /* virtio-pci */
	struct vio_dev d;
	struct vdrv_mem mem;
	struct vdrv_vq vq[TM_MAX_Q];
	int nvq;                /* vdrv queues initialised */
	uint32_t nq;
};

/* Device on virtio-pci (@pci) or virtio-mmio, @nq queues. */
static inline struct tv *tv_new(int pci, uint32_t nq, int with_queue_reset)
{
	struct tv *t = calloc(1, sizeof(*t));
	struct vdev_virtio_ops o = tm_ops(nq, with_queue_reset);

	assert_non_null(t);
	t->nq = nq;
	assert_int_equal(mock_vmm_init(&t->mv, TM_RAM, 1), 0);
	assert_int_equal(vdev_virtio_new(t->mv.ctx, &o, &t->tm, &t->vd), 0);
	t->tm.vd = t->vd;
	for (unsigned int i = 0; i < TM_CONFIG_SIZE; i++)
		t->tm.config[i] = (uint8_t)(0x10 + i);
	if (pci) {
		struct vdev_virtio_pci_opts po = { .struct_size = sizeof(po), .source_id = TV_SRC };

		assert_int_equal(vdev_virtio_pci_new(t->vd, &po, &t->f), 0);
		assert_int_equal(vio_pci_init(&t->d, t->f, 0), 0);
		vio_pci_enable(&t->d);
	} else {
		struct vdev_virtio_mmio_opts mo = {
			.struct_size = sizeof(mo), .source_id = TV_SRC,
		};

		assert_int_equal(vdev_virtio_mmio_attach(t->vd, &mo), 0);
		assert_int_equal(vio_mmio_init(&t->d, t->vd), 0);
	}
	vdrv_mem_init(&t->mem, t->mv.ram, 0x1000, TM_RAM);
	return t;
}

static inline void tv_free_rings(struct tv *t)
{
	for (int i = 0; i < t->nvq; i++)
		vdrv_vq_fini(&t->vq[i]);
	t->nvq = 0;
}

static inline void tv_free(struct tv *t)
{
	tv_free_rings(t);
	vdev_virtio_free(t->vd);
	mock_vmm_fini(&t->mv);
	free(t);
}

/* Negotiate @want, lay out rings and set every queue up (vector per queue
 * from @vectors, or NO_VECTOR), without DRIVER_OK. */
static inline void tv_setup(struct tv *t, uint64_t want, const uint16_t *vectors)
{
	tv_free_rings(t);
	assert_int_equal(vio_negotiate(&t->d, want), 0);
	for (uint32_t q = 0; q < t->nq; q++) {
		assert_int_equal(vdrv_vq_init(&t->vq[q], &t->mem, TM_QSIZE, t->d.features), 0);
		t->nvq = (int)q + 1;
		assert_int_equal(vio_queue_setup(&t->d, q, &t->vq[q],
						 vectors ? vectors[q] : VIO_NO_VECTOR), 0);
	}
}

static inline void tv_bringup(struct tv *t, uint64_t want)
{
	tv_setup(t, want, NULL);
	vio_driver_ok(&t->d);
}

/* Add one request to queue @q: @out readable bytes then @in writable bytes. */
static inline int tv_request(struct tv *t, uint32_t q, uint32_t out, uint32_t in, uint64_t token)
{
	struct vdrv_seg s[2];
	unsigned int n = 0;
	int id;

	if (out) {
		s[n].gpa = vdrv_alloc(&t->mem, out, 16);
		s[n].len = out;
		s[n++].write = 0;
	}
	if (in) {
		s[n].gpa = vdrv_alloc(&t->mem, in, 16);
		s[n].len = in;
		s[n++].write = 1;
	}
	id = vdrv_add(&t->vq[q], s, n, 0, token);
	assert_true(id >= 0);
	vdrv_publish(&t->vq[q]);
	return id;
}

/* Collect every used buffer of queue @q; return how many, checking lengths == @in. */
static inline int tv_collect(struct tv *t, uint32_t q, uint32_t in)
{
	struct vdrv_used u;
	int n = 0, rc;

	while ((rc = vdrv_get_used(&t->vq[q], &u)) == 1) {
		assert_int_equal(u.len, in);
		n++;
	}
	assert_int_equal(rc, 0);
	return n;
}

/* Saved state of the whole device as a malloc'ed blob. */
static inline uint8_t *tv_save(vdev_virtio *vd, size_t *len)
{
	vdev_state_writer *w;

	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_virtio_save(vd, w), 0);
	return state_blob_take(w, len);
}

/* Load @blob into @vd. Returns the load result (a malformed blob: its reader error). */
static inline int tv_load(vdev_virtio *vd, const void *blob, size_t len)
{
	vdev_state_reader *r;
	int rc = vdev_state_reader_new(blob, len, &r);

	if (rc)
		return rc;
	rc = vdev_virtio_load(vd, r);
	vdev_state_reader_free(r);
	return rc;
}

#endif /* VDEV_TESTS_TEST_VIRTIO_MODEL_H */
