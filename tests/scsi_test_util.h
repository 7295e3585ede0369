/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the SCSI target tests: a bus on a mock VMM with memory (or
 * caller-made) backends, requests with their own buffers, submit-and-wait
 * against the LUN's backend, CDB builders and sense decoding (fixed or
 * descriptor format) for exact checks.
 */
#ifndef VDEV_TESTS_SCSI_TEST_UTIL_H
#define VDEV_TESTS_SCSI_TEST_UTIL_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <vdev/block.h>
#include <vdev/scsi.h>

#include "mock_vmm.h"

#define ST_MAX_DISKS 64
#define ST_MAX_EVENTS 256

struct st_disk {
	uint16_t t, l;
	vdev_blk *blk;
};

struct st_event {
	uint16_t t, l;
	int ev;
};

struct st {
	struct mock_vmm mv;
	vdev_scsi_bus *bus;
	struct st_disk disks[ST_MAX_DISKS];
	unsigned int ndisks;
	struct st_event events[ST_MAX_EVENTS];
	unsigned int nevents;
};

/* A request with its own buffers. */
struct sreq {
	struct vdev_scsi_req r;     /* first: the done hook casts back */
	uint8_t *in;
	size_t in_cap;
	uint8_t *out;
	size_t out_len;
	struct iovec in_iov, out_iov;
	uint8_t sense[VDEV_SCSI_SENSE_SIZE];
	int ndone;
	int order;                  /* completion sequence number (st_done_seq) */
};

static inline void st_event_cb(void *opaque, uint16_t target, uint16_t lun,
			       enum vdev_scsi_event ev)
{
	struct st *s = opaque;

	if (s->nevents < ST_MAX_EVENTS)
		s->events[s->nevents++] = (struct st_event){ target, lun, (int)ev };
}

static inline struct st *st_new(void)
{
	struct st *s = calloc(1, sizeof(*s));
	struct vdev_scsi_bus_ops ops = { .struct_size = sizeof(ops), .event = st_event_cb };

	assert_non_null(s);
	assert_int_equal(mock_vmm_init(&s->mv, 0, 0), 0);
	assert_int_equal(vdev_scsi_bus_new(s->mv.ctx, &ops, s, &s->bus), 0);
	return s;
}

static inline void st_free(struct st *s)
{
	vdev_scsi_bus_free(s->bus);
	mock_vmm_fini(&s->mv);
	free(s);
}

static inline vdev_blk *st_blk_open(struct st *s, const char *driver, uint64_t size, uint32_t qd)
{
	struct vdev_blk_opts o = {
		.struct_size = sizeof(o),
		.driver = driver,
		.size = size,
		.queue_depth = qd,
	};
	vdev_blk *blk = NULL;

	assert_int_equal(vdev_blk_open(s->mv.ctx, &o, &blk), 0);
	return blk;
}

static inline void st_track(struct st *s, uint16_t t, uint16_t l, vdev_blk *blk)
{
	for (unsigned int i = 0; i < s->ndisks; i++) {
		if (s->disks[i].t == t && s->disks[i].l == l) {
			s->disks[i].blk = blk;
			return;
		}
	}
	if (s->ndisks < ST_MAX_DISKS)
		s->disks[s->ndisks++] = (struct st_disk){ t, l, blk };
}

static inline void st_untrack(struct st *s, uint16_t t, uint16_t l)
{
	for (unsigned int i = 0; i < s->ndisks; i++)
		if (s->disks[i].t == t && s->disks[i].l == l)
			s->disks[i].blk = NULL;
}

/* Add a disk with @opts (its blk set by the caller); tracked for polling. */
static inline vdev_scsi_lun *st_add(struct st *s, uint16_t t, uint16_t l,
				    const struct vdev_scsi_lun_opts *opts)
{
	vdev_scsi_lun *lun = NULL;

	assert_int_equal(vdev_scsi_lun_add(s->bus, t, l, opts, &lun), 0);
	assert_non_null(lun);
	st_track(s, t, l, opts->blk);
	return lun;
}

/* A memory-backed disk of @size bytes and @bs-byte blocks (0: 512). */
static inline vdev_scsi_lun *st_add_disk(struct st *s, uint16_t t, uint16_t l, uint64_t size,
					 uint32_t bs)
{
	struct vdev_scsi_lun_opts o = {
		.struct_size = sizeof(o),
		.type = VDEV_SCSI_LUN_DISK,
		.block_size = bs,
		.blk = st_blk_open(s, "memory", size, 0),
	};

	return st_add(s, t, l, &o);
}

static inline vdev_blk *st_blk(struct st *s, uint16_t t, uint16_t l)
{
	for (unsigned int i = 0; i < s->ndisks; i++)
		if (s->disks[i].t == t && s->disks[i].l == l)
			return s->disks[i].blk;
	return NULL;
}

static inline void st_req_done(struct vdev_scsi_req *r)
{
	struct sreq *q = (struct sreq *)r;
	int *seq = r->user;

	q->ndone++;
	if (seq)
		q->order = ++*seq;
}

/* A request for (t, l) with @cdb, data-out @out (copied), and @in_cap bytes of data-in. */
static inline struct sreq *sreq_new(uint16_t t, uint16_t l, const uint8_t *cdb, size_t cdb_len,
				    const void *out, size_t out_len, size_t in_cap)
{
	struct sreq *q = calloc(1, sizeof(*q));

	assert_non_null(q);
	assert_true(cdb_len <= VDEV_SCSI_MAX_CDB);
	q->r.target = t;
	q->r.lun = l;
	q->r.cdb_len = (uint8_t)(cdb_len < 6 ? 6 : cdb_len);
	memcpy(q->r.cdb, cdb, cdb_len);
	if (in_cap) {
		q->in = malloc(in_cap);
		assert_non_null(q->in);
		memset(q->in, 0xa5, in_cap);
		q->in_cap = in_cap;
		q->in_iov = (struct iovec){ q->in, in_cap };
		q->r.data_in = &q->in_iov;
		q->r.data_in_cnt = 1;
	}
	if (out_len) {
		q->out = malloc(out_len);
		assert_non_null(q->out);
		if (out)
			memcpy(q->out, out, out_len);
		else
			memset(q->out, 0, out_len);
		q->out_len = out_len;
		q->out_iov = (struct iovec){ q->out, out_len };
		q->r.data_out = &q->out_iov;
		q->r.data_out_cnt = 1;
	}
	q->r.sense = q->sense;
	q->r.sense_cap = sizeof(q->sense);
	q->r.done = st_req_done;
	return q;
}

static inline void sreq_free(struct sreq *q)
{
	if (!q)
		return;
	free(q->in);
	free(q->out);
	free(q);
}

/* Poll every tracked backend once; @return completions run. */
static inline int st_poll(struct st *s)
{
	int n = 0;

	for (unsigned int i = 0; i < s->ndisks; i++)
		if (s->disks[i].blk)
			n += vdev_blk_poll(s->disks[i].blk);
	return n;
}

/* Wait until @q completed (polling its LUN's backend, or all). */
static inline void st_wait(struct st *s, struct sreq *q)
{
	vdev_blk *blk = st_blk(s, q->r.target, q->r.lun);

	for (int i = 0; i < 20000 && !q->ndone; i++) {
		if (blk)
			vdev_blk_wait(blk, 10);
		st_poll(s);
	}
	assert_int_equal(q->ndone, 1);
}

static inline void st_submit(struct st *s, struct sreq *q)
{
	assert_int_equal(vdev_scsi_submit(s->bus, &q->r), 0);
}

/* Submit, wait, check it completed once; the caller frees it. */
static inline struct sreq *st_cmd(struct st *s, uint16_t t, uint16_t l, const uint8_t *cdb,
				  size_t cdb_len, const void *out, size_t out_len, size_t in_cap)
{
	struct sreq *q = sreq_new(t, l, cdb, cdb_len, out, out_len, in_cap);

	st_submit(s, q);
	st_wait(s, q);
	return q;
}

/* ---- sense decoding (fixed 70h/71h or descriptor 72h/73h) ---- */

struct st_sense {
	int valid;
	int desc;
	uint8_t key, asc, ascq;
	int info_valid;
	uint64_t info;
	int sks_valid;
	uint8_t sks[3];
};

static inline struct st_sense st_decode(const struct sreq *q)
{
	struct st_sense d;
	const uint8_t *p = q->sense;
	uint32_t n = q->r.sense_len;

	memset(&d, 0, sizeof(d));
	if (n < 8)
		return d;
	if ((p[0] & 0x7e) == 0x70) {
		assert_true(n >= 18);
		d.valid = 1;
		d.key = p[2] & 0xf;
		d.asc = p[12];
		d.ascq = p[13];
		d.info_valid = !!(p[0] & 0x80);
		d.info = (uint64_t)p[3] << 24 | (uint64_t)p[4] << 16 | (uint64_t)p[5] << 8 | p[6];
		d.sks_valid = !!(p[15] & 0x80);
		memcpy(d.sks, p + 15, 3);
		assert_int_equal(p[7], n - 8);
	} else if ((p[0] & 0x7e) == 0x72) {
		uint32_t len = 8 + p[7];

		assert_int_equal(len, n);
		d.valid = 1;
		d.desc = 1;
		d.key = p[1] & 0xf;
		d.asc = p[2];
		d.ascq = p[3];
		for (uint32_t off = 8; off + 2 <= len;) {
			const uint8_t *x = p + off;

			assert_true(off + 2u + x[1] <= len);
			if (x[0] == 0x00 && x[1] == 0x0a) {
				d.info_valid = !!(x[2] & 0x80);
				d.info = 0;
				for (int i = 0; i < 8; i++)
					d.info = d.info << 8 | x[4 + i];
			} else if (x[0] == 0x02 && x[1] == 0x06) {
				d.sks_valid = !!(x[4] & 0x80);
				memcpy(d.sks, x + 4, 3);
			}
			off += 2u + x[1];
		}
	}
	return d;
}

static inline void st_expect_good(const struct sreq *q)
{
	if (q->r.status != VDEV_SCSI_GOOD || q->r.response != VDEV_SCSI_RESP_OK) {
		struct st_sense d = st_decode(q);

		fprintf(stderr, "expected GOOD: response %u status 0x%02x sense %x/%02x/%02x\n",
			q->r.response, q->r.status, d.key, d.asc, d.ascq);
	}
	assert_int_equal(q->r.response, VDEV_SCSI_RESP_OK);
	assert_int_equal(q->r.status, VDEV_SCSI_GOOD);
	assert_int_equal(q->r.sense_len, 0);
}

static inline void st_expect_sense(const struct sreq *q, uint8_t key, uint8_t asc, uint8_t ascq)
{
	struct st_sense d = st_decode(q);

	assert_int_equal(q->r.response, VDEV_SCSI_RESP_OK);
	assert_int_equal(q->r.status, VDEV_SCSI_CHECK_CONDITION);
	assert_true(d.valid);
	if (d.key != key || d.asc != asc || d.ascq != ascq)
		fprintf(stderr, "expected sense %x/%02x/%02x, got %x/%02x/%02x\n", key, asc, ascq,
			d.key, d.asc, d.ascq);
	assert_int_equal(d.key, key);
	assert_int_equal(d.asc, asc);
	assert_int_equal(d.ascq, ascq);
}

/* The sense-key specific field pointer: C/D, byte, bit (-1: no BPV). */
static inline void st_expect_field(const struct sreq *q, int cd, unsigned int byte, int bit)
{
	struct st_sense d = st_decode(q);

	assert_true(d.sks_valid);
	if (((d.sks[0] >> 6) & 1) != cd || (unsigned int)(d.sks[1] << 8 | d.sks[2]) != byte ||
	    (bit >= 0 ? (d.sks[0] & 0x0f) != (0x08 | bit) : (d.sks[0] & 0x08) != 0))
		fprintf(stderr, "expected field %s byte %u bit %d, got sks %02x %02x %02x\n",
			cd ? "CDB" : "param", byte, bit, d.sks[0], d.sks[1], d.sks[2]);
	assert_int_equal((d.sks[0] >> 6) & 1, cd);
	assert_int_equal(d.sks[1] << 8 | d.sks[2], byte);
	if (bit >= 0)
		assert_int_equal(d.sks[0] & 0x0f, 0x08 | bit);
	else
		assert_int_equal(d.sks[0] & 0x08, 0);
}

/* ILLEGAL REQUEST, INVALID FIELD IN CDB at @byte/@bit. */
static inline void st_expect_bad_cdb(const struct sreq *q, unsigned int byte, int bit)
{
	st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x24, 0x00);
	st_expect_field(q, 1, byte, bit);
}

/* ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST at @byte/@bit. */
static inline void st_expect_bad_param(const struct sreq *q, unsigned int byte, int bit)
{
	st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x26, 0x00);
	st_expect_field(q, 0, byte, bit);
}

/* Run @cdb and check its sense (a shortcut for the many negative cases). */
static inline void st_cmd_sense(struct st *s, uint16_t t, uint16_t l, const uint8_t *cdb,
				size_t cdb_len, uint8_t key, uint8_t asc, uint8_t ascq)
{
	struct sreq *q = st_cmd(s, t, l, cdb, cdb_len, NULL, 0, 512);

	st_expect_sense(q, key, asc, ascq);
	sreq_free(q);
}

static inline void st_cmd_bad_cdb(struct st *s, uint16_t t, uint16_t l, const uint8_t *cdb,
				  size_t cdb_len, unsigned int byte, int bit)
{
	struct sreq *q = st_cmd(s, t, l, cdb, cdb_len, NULL, 0, 512);

	st_expect_bad_cdb(q, byte, bit);
	sreq_free(q);
}

static inline void st_cmd_good(struct st *s, uint16_t t, uint16_t l, const uint8_t *cdb,
			       size_t cdb_len)
{
	struct sreq *q = st_cmd(s, t, l, cdb, cdb_len, NULL, 0, 512);

	st_expect_good(q);
	sreq_free(q);
}

/* TEST UNIT READY until no unit attention is left; @return UAs seen. */
static inline int st_clear_ua(struct st *s, uint16_t t, uint16_t l)
{
	static const uint8_t tur[6];
	int n = 0;

	for (;;) {
		struct sreq *q = st_cmd(s, t, l, tur, 6, NULL, 0, 0);
		struct st_sense d = st_decode(q);

		if (q->r.status == VDEV_SCSI_CHECK_CONDITION &&
		    d.key == VDEV_SCSI_SK_UNIT_ATTENTION) {
			n++;
			sreq_free(q);
			assert_true(n < 16);
			continue;
		}
		sreq_free(q);
		return n;
	}
}

/* ---- CDB builders ---- */

static inline void st_put_be(uint8_t *p, uint64_t v, unsigned int bytes)
{
	for (unsigned int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static inline uint64_t st_get_be(const uint8_t *p, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

/* READ/WRITE-style CDBs: 10 (LBA 2..5, len 7..8), 12 (2..5, 6..9), 16 (2..9, 10..13). */
static inline size_t st_cdb_rw(uint8_t *cdb, uint8_t op, uint64_t lba, uint32_t n)
{
	memset(cdb, 0, 16);
	cdb[0] = op;
	switch (op >> 5) {
	case 0: /* 6-byte */
		cdb[1] = (uint8_t)((lba >> 16) & 0x1f);
		cdb[2] = (uint8_t)(lba >> 8);
		cdb[3] = (uint8_t)lba;
		cdb[4] = (uint8_t)n;
		return 6;
	case 1:
	case 2:
		st_put_be(cdb + 2, lba, 4);
		st_put_be(cdb + 7, n, 2);
		return 10;
	case 5:
		st_put_be(cdb + 2, lba, 4);
		st_put_be(cdb + 6, n, 4);
		return 12;
	default:
		st_put_be(cdb + 2, lba, 8);
		st_put_be(cdb + 10, n, 4);
		return 16;
	}
}

/* Write @n blocks of @bs from @data at @lba with WRITE(16); expect GOOD. */
static inline void st_write(struct st *s, uint16_t t, uint16_t l, uint64_t lba, const void *data,
			    uint32_t n, uint32_t bs)
{
	uint8_t cdb[16];
	struct sreq *q;

	st_cdb_rw(cdb, 0x8a, lba, n);
	q = st_cmd(s, t, l, cdb, 16, data, (size_t)n * bs, 0);
	st_expect_good(q);
	assert_int_equal(q->r.data_out_len, (uint64_t)n * bs);
	sreq_free(q);
}

/* Read @n blocks into @data with READ(16); expect GOOD. */
static inline void st_read(struct st *s, uint16_t t, uint16_t l, uint64_t lba, void *data,
			   uint32_t n, uint32_t bs)
{
	uint8_t cdb[16];
	struct sreq *q;

	st_cdb_rw(cdb, 0x88, lba, n);
	q = st_cmd(s, t, l, cdb, 16, NULL, 0, (size_t)n * bs);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, (uint64_t)n * bs);
	memcpy(data, q->in, (size_t)n * bs);
	sreq_free(q);
}

#endif /* VDEV_TESTS_SCSI_TEST_UTIL_H */
