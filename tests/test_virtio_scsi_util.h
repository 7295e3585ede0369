/* SPDX-License-Identifier: MIT */
/*
 * Shared driver side of the virtio-scsi tests (tests/test_virtio_scsi*.c):
 * a device from the registry on the mock VMM, the transport driver
 * (vio_driver) and ring driver (vdrv) for every queue, memory-backed disks,
 * and a command builder that lays requests out as §5.6.6.1 says (header,
 * data-out, response, data-in), optionally cut into small segments.
 * Written from the spec, not from lib/virtio/virtio_scsi.c.
 */
#ifndef VDEV_TESTS_TEST_VIRTIO_SCSI_UTIL_H
#define VDEV_TESTS_TEST_VIRTIO_SCSI_UTIL_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <vdev/block.h>
#include <vdev/scsi.h>
#include <vdev/timer.h>
#include <vdev/virtio.h>
#include <vdev/virtio_scsi.h>

#include "mock_vmm.h"
#include "state_blob.h"
#include "vdrv.h"
#include "vio_driver.h"

#define VT_UNUSED __attribute__((unused))

#define VT_RAM (16u << 20)
#define VT_MAXQ 10
#define VT_MAXLUN 16
#define VT_MAXTOK 512
#define VT_SRC 7

#define F_V1 (1ull << VDEV_VIRTIO_F_VERSION_1)
#define F_PACKED (1ull << VDEV_VIRTIO_F_RING_PACKED)
#define F_EVIDX (1ull << VDEV_VIRTIO_F_EVENT_IDX)
#define F_INDIRECT (1ull << VDEV_VIRTIO_F_INDIRECT_DESC)
#define F_INORDER (1ull << VDEV_VIRTIO_F_IN_ORDER)
#define F_INOUT (1ull << 0)
#define F_HOTPLUG (1ull << 1)
#define F_CHANGE (1ull << 2)
#define F_T10PI (1ull << 3)

/* Response codes (§5.6.6.1). */
#define S_OK 0
#define S_OVERRUN 1
#define S_ABORTED 2
#define S_BAD_TARGET 3
#define S_RESET 4
#define S_BUSY 5
#define S_FAILURE 9
#define S_FUNCTION_SUCCEEDED 10
#define S_FUNCTION_REJECTED 11
#define S_INCORRECT_LUN 12

/* Config offsets (§5.6.4). */
#define C_NUM_QUEUES 0
#define C_SEG_MAX 4
#define C_MAX_SECTORS 8
#define C_CMD_PER_LUN 12
#define C_EVENT_INFO 16
#define C_SENSE_SIZE 20
#define C_CDB_SIZE 24
#define C_MAX_CHANNEL 28
#define C_MAX_TARGET 30
#define C_MAX_LUN 32

/* Control and event queue codes (§5.6.6.2, §5.6.6.3). */
#define T_TMF 0
#define T_AN_QUERY 1
#define T_AN_SUBSCRIBE 2
#define TMF_ABORT_TASK 0
#define TMF_ABORT_TASK_SET 1
#define TMF_CLEAR_ACA 2
#define TMF_CLEAR_TASK_SET 3
#define TMF_I_T_NEXUS_RESET 4
#define TMF_LUN_RESET 5
#define TMF_QUERY_TASK 6
#define TMF_QUERY_TASK_SET 7
#define EV_NO_EVENT 0u
#define EV_TRANSPORT_RESET 1u
#define EV_PARAM_CHANGE 3u
#define EV_MISSED 0x80000000u
#define EV_RESCAN 1u
#define EV_REMOVED 2u

/* What the driver remembers about a buffer it made available. */
struct vt_tok {
	int q;
	uint64_t resp;     /* gpa of the response (command) / writable part */
	uint64_t din;      /* gpa of data-in */
	uint32_t din_len;
	uint32_t resp_len;
	int busy;
};

struct vt {
	struct mock_vmm mv;
	vdev_device *dev;
	vdev_virtio *vd;
	vdev_scsi_bus *bus;
	struct vio_dev d;
	struct vdrv_mem mem;
	struct vdrv_vq vq[VT_MAXQ];
	unsigned int nvq;           /* queues set up */
	vdev_blk *blk[VT_MAXLUN];   /* backends to poll (owned by their LUNs) */
	unsigned int nblk;
	int msix;                   /* vt_up: MSI-X on, vector q for queue q (data 0x100 + q) */
	uint32_t cdb_size;          /* the driver's idea of the layout */
	uint32_t sense_size;
	struct vt_tok tok[VT_MAXTOK];
};

/* A command as the driver lays it out. */
struct vt_cmd {
	uint8_t lun[8];
	uint64_t tag;
	uint8_t attr;
	uint8_t cdb[64];
	const void *dout;
	uint32_t dout_len;
	uint32_t din_len;
	uint32_t split;          /* cut every part into segments of this many bytes (0: whole) */
	unsigned int flags;      /* VDRV_ADD_INDIRECT */
};

/* A completed command as the driver reads it. */
struct vt_res {
	uint64_t token;
	uint32_t used;
	uint32_t sense_len;
	uint32_t resid;
	uint8_t status;
	uint8_t response;
	uint8_t *resp;           /* host pointer to the response */
	uint8_t *din;            /* host pointer to data-in */
};

static VT_UNUSED uint32_t vt_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static VT_UNUSED void vt_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static VT_UNUSED void vt_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static VT_UNUSED void vt_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static VT_UNUSED uint32_t vt_get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* §5.6.6.1 LUN address, flat space. */
static VT_UNUSED void vt_lun(uint8_t *l, unsigned int target, unsigned int lun)
{
	memset(l, 0, 8);
	l[0] = 1;
	l[1] = (uint8_t)target;
	l[2] = (uint8_t)(0x40 | (lun >> 8));
	l[3] = (uint8_t)lun;
}

/*
 * The LUN field the device must put in events: Linux's virtio_scsi takes
 * (lun[2] << 8) | lun[3] as the LUN number (virtscsi_handle_transport_reset),
 * so below 256 it must be the plain number (lun[2] = 0); flat space from 256.
 */
static VT_UNUSED void vt_event_lun(uint8_t *l, unsigned int target, unsigned int lun)
{
	vt_lun(l, target, lun);
	if (lun < 256)
		l[2] = 0;
}

static VT_UNUSED struct vt *vt_new(const char *spec)
{
	struct vt *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	assert_int_equal(mock_vmm_init(&t->mv, VT_RAM, 1), 0);
	assert_int_equal(vdev_device_create_kv(t->mv.ctx, spec, &t->dev), 0);
	t->vd = vdev_device_virtio(t->dev);
	assert_non_null(t->vd);
	t->bus = vdev_virtio_scsi_bus(t->dev);
	assert_non_null(t->bus);
	if (vdev_device_pci(t->dev)) {
		assert_int_equal(vio_pci_init(&t->d, vdev_device_pci(t->dev), 0), 0);
		vio_pci_enable(&t->d);
	} else {
		assert_int_equal(vio_mmio_init(&t->d, t->vd), 0);
	}
	vdrv_mem_init(&t->mem, t->mv.ram, 0x1000, VT_RAM);
	t->cdb_size = 32;
	t->sense_size = 96;
	return t;
}

static VT_UNUSED void vt_free(struct vt *t)
{
	for (unsigned int i = 0; i < t->nvq; i++)
		vdrv_vq_fini(&t->vq[i]);
	vdev_device_destroy(t->dev);
	mock_vmm_fini(&t->mv);
	free(t);
}

/* Save @dev's state; @return a malloc'ed copy of the blob (*@len bytes). */
static VT_UNUSED uint8_t *vt_save_dev(vdev_device *dev, size_t *len)
{
	vdev_state_writer *w;

	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_device_save(dev, w), 0);
	return state_blob_take(w, len);
}

/* Load a blob from vt_save_dev() into @dev. @return vdev_device_load()'s result. */
static VT_UNUSED int vt_load_dev(vdev_device *dev, const uint8_t *data, size_t len)
{
	vdev_state_reader *r;
	int rc;

	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	rc = vdev_device_load(dev, r);
	vdev_state_reader_free(r);
	return rc;
}

/*
 * Migration in a test: the destination @dst takes over the source's guest
 * memory and driver state (rings, tokens, negotiated features, MSI-X use,
 * request layout); @src keeps no rings.
 */
static VT_UNUSED void vt_adopt(struct vt *dst, struct vt *src)
{
	memcpy(dst->mv.ram, src->mv.ram, VT_RAM);
	dst->mem = src->mem;
	dst->mem.base = dst->mv.ram;
	for (unsigned int i = 0; i < dst->nvq; i++)
		vdrv_vq_fini(&dst->vq[i]);
	memcpy(dst->vq, src->vq, sizeof(src->vq));
	for (unsigned int i = 0; i < src->nvq; i++)
		dst->vq[i].mem = &dst->mem;
	dst->nvq = src->nvq;
	src->nvq = 0;
	memcpy(dst->tok, src->tok, sizeof(src->tok));
	dst->d.features = src->d.features;
	dst->msix = src->msix;
	dst->cdb_size = src->cdb_size;
	dst->sense_size = src->sense_size;
}

/* Bring the device up with @want (plus VERSION_1), every queue of size @qsize (0: max). */
static VT_UNUSED void vt_up(struct vt *t, uint64_t want, uint32_t qsize)
{
	uint32_t n;

	for (unsigned int i = 0; i < t->nvq; i++)
		vdrv_vq_fini(&t->vq[i]);
	t->nvq = 0;
	memset(t->tok, 0, sizeof(t->tok));
	assert_int_equal(vio_negotiate(&t->d, want | F_V1), 0);
	n = vio_num_queues(&t->d);
	assert_true(n >= 3 && n <= VT_MAXQ);
	if (t->msix) {
		for (uint32_t v = 0; v <= n; v++)
			vio_msix_vector(&t->d, v, 0xfee00000u, 0x100 + v);
		vio_msix_enable(&t->d, 1);
		vio_set_config_vector(&t->d, (uint16_t)n);
	}
	for (uint32_t q = 0; q < n; q++) {
		uint32_t sz = qsize ? qsize : vio_queue_max(&t->d, q);

		assert_int_equal(vdrv_vq_init(&t->vq[q], &t->mem, sz, t->d.features), 0);
		t->nvq++;
		assert_int_equal(vio_queue_setup(&t->d, q, &t->vq[q],
						 t->msix ? (uint16_t)q : VIO_NO_VECTOR), 0);
	}
	vio_driver_ok(&t->d);
	assert_int_equal(vio_get_status(&t->d), 0x0f);
	t->cdb_size = 32;
	t->sense_size = 96;
}

/* Device config writes, as a driver does them (32-bit). */
static VT_UNUSED void vt_config_write32(struct vt *t, uint32_t off, uint32_t v)
{
	uint8_t b[4];

	vt_put32(b, v);
	if (t->d.is_pci)
		assert_int_equal(vdev_pci_bar_write(t->d.f, t->d.device.bar,
						    t->d.device.offset + off, b, 4), 0);
	else
		assert_int_equal(vdev_virtio_mmio_write(t->vd, VIO_MMIO_CONFIG + off, b, 4), 0);
}

static VT_UNUSED uint32_t vt_config32(struct vt *t, uint32_t off)
{
	uint8_t b[4];

	vio_config_read(&t->d, off, b, 4);
	return vt_le32(b);
}

/* Add a memory disk of @blocks blocks of @bs bytes at (target, lun). */
static VT_UNUSED vdev_blk *vt_disk(struct vt *t, unsigned int target, unsigned int lun,
				   uint64_t blocks, uint32_t bs)
{
	struct vdev_blk_opts bo = {
		.struct_size = sizeof(bo),
		.driver = "memory",
		.size = blocks * bs,
	};
	struct vdev_scsi_lun_opts lo = {
		.struct_size = sizeof(lo),
		.type = VDEV_SCSI_LUN_DISK,
		.block_size = bs,
	};
	vdev_blk *b;

	assert_true(t->nblk < VT_MAXLUN);
	assert_int_equal(vdev_blk_open(t->mv.ctx, &bo, &b), 0);
	lo.blk = b;
	assert_int_equal(vdev_scsi_lun_add(t->bus, (uint16_t)target, (uint16_t)lun, &lo, NULL), 0);
	t->blk[t->nblk++] = b;
	return b;
}

/* Forget a backend (its LUN was removed: the LUN closed it). */
static VT_UNUSED void vt_forget_blk(struct vt *t, vdev_blk *b)
{
	for (unsigned int i = 0; i < t->nblk; i++) {
		if (t->blk[i] == b) {
			t->blk[i] = t->blk[--t->nblk];
			return;
		}
	}
}

/* Run backend completions until none is left, without running the timers. */
static VT_UNUSED int vt_poll_backends(struct vt *t)
{
	int total = 0, n;

	do {
		n = 0;
		for (unsigned int i = 0; i < t->nblk; i++) {
			int k = vdev_blk_poll(t->blk[i]);

			assert_true(k >= 0);
			n += k;
		}
		total += n;
	} while (n);
	return total;
}

/*
 * Run backend completions until none is left, then the library timers, as
 * a VMM must (the device publishes completions of a poll from a timer).
 * @return how many completions ran.
 */
static VT_UNUSED int vt_poll(struct vt *t)
{
	int total = vt_poll_backends(t);

	assert_true(vdev_timers_run(t->mv.ctx) >= 0);
	return total;
}

static VT_UNUSED uint64_t vt_alloc(struct vt *t, uint32_t len, uint8_t fill)
{
	uint64_t g = vdrv_alloc(&t->mem, len ? len : 1, 8);

	assert_int_not_equal(g, VDRV_NOMEM);
	memset(vdrv_host(&t->mem, g), fill, len ? len : 1);
	return g;
}

/* Append [gpa, gpa + len) to segs, cut into @split-byte pieces. */
static VT_UNUSED unsigned int vt_segs(struct vdrv_seg *s, unsigned int n, uint64_t gpa,
				      uint32_t len, uint32_t write, uint32_t split)
{
	while (len) {
		uint32_t k = split && split < len ? split : len;

		s[n++] = (struct vdrv_seg){ gpa, k, write };
		gpa += k;
		len -= k;
	}
	return n;
}

static VT_UNUSED uint64_t vt_token_new(struct vt *t)
{
	for (uint64_t i = 1; i < VT_MAXTOK; i++)
		if (!t->tok[i].busy)
			return i;
	fail_msg("out of tokens");
	return 0;
}

/* Make a prepared segment list available on queue @q and kick. @return the token. */
static VT_UNUSED uint64_t vt_add(struct vt *t, int q, const struct vdrv_seg *segs, unsigned int n,
				 unsigned int flags, uint64_t resp, uint32_t resp_len, uint64_t din,
				 uint32_t din_len, int kick)
{
	uint64_t tk = vt_token_new(t);

	assert_true(vdrv_add(&t->vq[q], segs, n, flags, tk) >= 0);
	t->tok[tk] = (struct vt_tok){ q, resp, din, din_len, resp_len, 1 };
	vdrv_publish(&t->vq[q]);
	if (kick)
		vio_kick(&t->d, (uint32_t)q, &t->vq[q]);
	return tk;
}

/* Lay a command out (§5.6.6.1) on request queue index @q (2..); kick if @kick. */
static VT_UNUSED uint64_t vt_submit_ex(struct vt *t, int q, const struct vt_cmd *c, int kick)
{
	struct vdrv_seg s[256];
	uint32_t hl = 19 + t->cdb_size, rl = 12 + t->sense_size;
	uint64_t h = vt_alloc(t, hl, 0), r = vt_alloc(t, rl, 0xee), din = 0, dout;
	uint8_t *hp = vdrv_host(&t->mem, h);
	unsigned int n = 0;

	memcpy(hp, c->lun, 8);
	vt_put64(hp + 8, c->tag);
	hp[16] = c->attr;
	memcpy(hp + 19, c->cdb, t->cdb_size < sizeof(c->cdb) ? t->cdb_size : sizeof(c->cdb));
	n = vt_segs(s, n, h, hl, 0, c->split);
	if (c->dout_len) {
		dout = vt_alloc(t, c->dout_len, 0);
		memcpy(vdrv_host(&t->mem, dout), c->dout, c->dout_len);
		n = vt_segs(s, n, dout, c->dout_len, 0, c->split);
	}
	n = vt_segs(s, n, r, rl, 1, c->split);
	if (c->din_len) {
		din = vt_alloc(t, c->din_len, 0xdd);
		n = vt_segs(s, n, din, c->din_len, 1, c->split);
	}
	return vt_add(t, q, s, n, c->flags, r, rl, din, c->din_len, kick);
}

/* Lay a command out (§5.6.6.1) on request queue index @q (2..) and kick. */
static VT_UNUSED uint64_t vt_submit(struct vt *t, int q, const struct vt_cmd *c)
{
	return vt_submit_ex(t, q, c, 1);
}

/* Collect one used buffer of queue @q (0 if none). */
static VT_UNUSED int vt_collect(struct vt *t, int q, struct vt_res *res)
{
	struct vdrv_used u;
	struct vt_tok *k;
	int rc = vdrv_get_used(&t->vq[q], &u);

	assert_true(rc >= 0);
	if (!rc)
		return 0;
	assert_true(u.token > 0 && u.token < VT_MAXTOK);
	k = &t->tok[u.token];
	assert_true(k->busy);
	assert_int_equal(k->q, q);
	k->busy = 0;
	memset(res, 0, sizeof(*res));
	res->token = u.token;
	res->used = u.len;
	res->resp = vdrv_host(&t->mem, k->resp);
	res->din = k->din ? vdrv_host(&t->mem, k->din) : NULL;
	if (k->resp_len >= 12) {
		res->sense_len = vt_le32(res->resp);
		res->resid = vt_le32(res->resp + 4);
		res->status = res->resp[10];
		res->response = res->resp[11];
	}
	return 1;
}

/* Submit, run the backends, collect exactly one completion. */
static VT_UNUSED void vt_run(struct vt *t, int q, const struct vt_cmd *c, struct vt_res *res)
{
	uint64_t tk = vt_submit(t, q, c);
	struct vt_res extra;

	vt_poll(t);
	assert_int_equal(vt_collect(t, q, res), 1);
	assert_int_equal(res->token, tk);
	assert_int_equal(vt_collect(t, q, &extra), 0);
}

/* Commands. */
static VT_UNUSED void vt_cmd_init(struct vt_cmd *c, unsigned int target, unsigned int lun)
{
	memset(c, 0, sizeof(*c));
	vt_lun(c->lun, target, lun);
	c->tag = 0x1000 + target * 64 + lun;
}

static VT_UNUSED void vt_inquiry(struct vt_cmd *c, uint8_t alloc)
{
	memset(c->cdb, 0, sizeof(c->cdb));
	c->cdb[0] = 0x12;
	c->cdb[4] = alloc;
	c->din_len = alloc;
}

static VT_UNUSED void vt_rw10(struct vt_cmd *c, int write, uint32_t lba, uint16_t blocks)
{
	memset(c->cdb, 0, sizeof(c->cdb));
	c->cdb[0] = write ? 0x2a : 0x28;
	vt_be32(c->cdb + 2, lba);
	c->cdb[7] = (uint8_t)(blocks >> 8);
	c->cdb[8] = (uint8_t)blocks;
}

static VT_UNUSED void vt_read_capacity10(struct vt_cmd *c)
{
	memset(c->cdb, 0, sizeof(c->cdb));
	c->cdb[0] = 0x25;
	c->din_len = 8;
}

static VT_UNUSED void vt_tur(struct vt_cmd *c)
{
	memset(c->cdb, 0, sizeof(c->cdb));
	c->din_len = 0;
}

/* Run TEST UNIT READY until it passes (clears the power-on unit attention). */
static VT_UNUSED void vt_clear_ua(struct vt *t, unsigned int target, unsigned int lun)
{
	struct vt_cmd c;
	struct vt_res r;

	for (int i = 0; i < 8; i++) {
		vt_cmd_init(&c, target, lun);
		vt_tur(&c);
		vt_run(t, 2, &c, &r);
		assert_int_equal(r.response, S_OK);
		if (r.status == 0)
			return;
	}
	fail_msg("unit attention does not clear");
}

/* A control request: @req (readable) and @resp_len writable bytes on queue 0. */
static VT_UNUSED uint64_t vt_ctrl(struct vt *t, const void *req, uint32_t req_len,
				  uint32_t resp_len, int kick)
{
	struct vdrv_seg s[2];
	uint64_t g = vt_alloc(t, req_len, 0), r = vt_alloc(t, resp_len, 0xee);

	memcpy(vdrv_host(&t->mem, g), req, req_len);
	s[0] = (struct vdrv_seg){ g, req_len, 0 };
	s[1] = (struct vdrv_seg){ r, resp_len, 1 };
	return vt_add(t, 0, s, 2, 0, r, resp_len, 0, 0, kick);
}

/* Build a TMF request (§5.6.6.2.1). */
static VT_UNUSED void vt_tmf_req(uint8_t *b, uint32_t subtype, unsigned int target,
				 unsigned int lun, uint64_t tag)
{
	memset(b, 0, 24);
	vt_put32(b, T_TMF);
	vt_put32(b + 4, subtype);
	vt_lun(b + 8, target, lun);
	vt_put64(b + 16, tag);
}

/* Run one TMF; @return its response byte (used length checked: 1). */
static VT_UNUSED uint8_t vt_tmf(struct vt *t, uint32_t subtype, unsigned int target,
				unsigned int lun, uint64_t tag)
{
	uint8_t b[24];
	struct vt_res r;

	vt_tmf_req(b, subtype, target, lun, tag);
	vt_ctrl(t, b, 24, 1, 1);
	assert_int_equal(vt_collect(t, 0, &r), 1);
	assert_int_equal(r.used, 1);
	return r.resp[0];
}

/* Post one event buffer of @len bytes (kick if asked). @return token. */
static VT_UNUSED uint64_t vt_event_buf(struct vt *t, uint32_t len, int kick)
{
	struct vdrv_seg s = { vt_alloc(t, len, 0xee), len, 1 };

	return vt_add(t, 1, &s, 1, 0, s.gpa, len, 0, 0, kick);
}

/* Sense key, ASC, ASCQ of fixed (70h/71h) or descriptor (72h/73h) sense data. */
static VT_UNUSED void vt_sense(const uint8_t *s, uint32_t len, uint8_t *key, uint8_t *asc,
			       uint8_t *ascq)
{
	*key = *asc = *ascq = 0xff;
	if (len >= 14 && (s[0] & 0x7e) == 0x70) {
		*key = s[2] & 0xf;
		*asc = s[12];
		*ascq = s[13];
	} else if (len >= 4 && (s[0] & 0x7e) == 0x72) {
		*key = s[1] & 0xf;
		*asc = s[2];
		*ascq = s[3];
	}
}

/* Check a CHECK CONDITION's sense key and ASC. */
static VT_UNUSED void vt_expect_sense(const struct vt_res *r, uint8_t key, uint8_t asc)
{
	uint8_t k, a, q;

	assert_int_equal(r->response, S_OK);
	assert_int_equal(r->status, VDEV_SCSI_CHECK_CONDITION);
	vt_sense(r->resp + 12, r->sense_len, &k, &a, &q);
	assert_int_equal(k, key);
	assert_int_equal(a, asc);
}

#endif /* VDEV_TESTS_TEST_VIRTIO_SCSI_UTIL_H */
