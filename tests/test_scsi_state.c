/* SPDX-License-Identifier: MIT */
/*
 * Save and load of a SCSI bus: mode pages, unit attentions (reset,
 * capacity, REPORTED LUNS DATA HAS CHANGED), stopped and medium-lock
 * state and persistent reservations survive a round trip into a bus the
 * VMM rebuilt; hostile or mismatched streams are refused with nothing
 * changed.
 */
#include "scsi_test_util.h"

#define MB (1024u * 1024u)
#define T(a, b, c, d) VDEV_STATE_TAG(a, b, c, d)

static const uint8_t tur[6];

static struct st *build(void)
{
	struct st *s = st_new();

	st_add_disk(s, 0, 0, MB, 512);
	st_add_disk(s, 0, 5, MB, 4096);
	st_add_disk(s, 3, 1, MB, 512);
	st_add_disk(s, 3, 2, MB, 512);
	return s;
}

static int save(struct st *s, uint8_t **blob, size_t *len)
{
	vdev_state_writer *w;
	const void *data;
	int rc;

	assert_int_equal(vdev_state_writer_new(&w), 0);
	rc = vdev_scsi_bus_save(s->bus, w);
	if (!rc)
		rc = vdev_state_writer_finish(w, &data, len);
	if (!rc) {
		*blob = malloc(*len);
		memcpy(*blob, data, *len);
	}
	vdev_state_writer_free(w);
	return rc;
}

static int load(struct st *s, const uint8_t *blob, size_t len, char *why, size_t why_len)
{
	vdev_state_reader *r;
	int rc = vdev_state_reader_new(blob, len, &r);

	if (rc)
		return rc;
	rc = vdev_scsi_bus_load(s->bus, r);
	if (why)
		snprintf(why, why_len, "%s", vdev_state_reader_error(r));
	vdev_state_reader_free(r);
	return rc;
}

static void mode_select(struct st *s, uint16_t t, uint16_t l, uint8_t page, uint8_t byte2)
{
	uint8_t list[24] = { 0 };
	uint8_t cdb[6] = { 0x15, 0x10, 0, 0, 0, 0 };
	struct sreq *q;

	if (page == 0x08) {
		list[4] = 0x08;
		list[5] = 0x12;
		cdb[4] = 24;
	} else {
		list[4] = 0x0a;
		list[5] = 0x0a;
		list[7] = 0x10;
		list[12] = list[13] = 0xff;
		cdb[4] = 16;
	}
	list[6] = byte2;
	q = st_cmd(s, t, l, cdb, 6, list, cdb[4], 0);
	st_expect_good(q);
	sreq_free(q);
}

static void pr_out(struct st *s, uint16_t t, uint16_t l, uint8_t sa, uint8_t type, uint64_t rk,
		   uint64_t sark)
{
	uint8_t cdb[10] = { 0x5f, sa, type, 0, 0, 0, 0, 0, 24, 0 };
	uint8_t p[24] = { 0 };
	struct sreq *q;

	st_put_be(p, rk, 8);
	st_put_be(p + 8, sark, 8);
	q = st_cmd(s, t, l, cdb, 10, p, 24, 0);
	st_expect_good(q);
	sreq_free(q);
}

static void test_round_trip(void **state)
{
	struct st *a = build(), *b;
	uint8_t *blob = NULL;
	size_t len = 0;
	struct sreq *q;
	(void)state;

	/* 0:0 — no UA (a LUN RESET's UA reported), write cache off, medium locked. */
	st_clear_ua(a, 0, 0);
	vdev_scsi_tmf(a->bus, VDEV_SCSI_TMF_LUN_RESET, 0, 0, 0);
	st_cmd_sense(a, 0, 0, tur, 6, VDEV_SCSI_SK_UNIT_ATTENTION, 0x29, 0x03);
	st_clear_ua(a, 3, 1);
	mode_select(a, 0, 0, 0x08, 0x00);
	st_cmd_good(a, 0, 0, (const uint8_t[6]){ 0x1e, 0, 0, 0, 1, 0 }, 6);
	/* 0:5 — D_SENSE, stopped, power-on and capacity UAs pending. */
	st_clear_ua(a, 0, 5);
	mode_select(a, 0, 5, 0x0a, 0x04);
	st_cmd_good(a, 0, 5, (const uint8_t[6]){ 0x1b, 0, 0, 0, 0, 0 }, 6);
	vdev_scsi_tmf(a->bus, VDEV_SCSI_TMF_LUN_RESET, 0, 5, 0);
	vdev_scsi_lun_capacity_changed(vdev_scsi_lun_find(a->bus, 0, 5));
	/* 3:1 — registered and reserved (EA_RO), REPORTED LUNS DATA HAS CHANGED pending. */
	pr_out(a, 3, 1, 0x00, 0, 0, 0xfeed);
	pr_out(a, 3, 1, 0x00, 0, 0xfeed, 0xbeef);
	pr_out(a, 3, 1, 0x01, 6, 0xbeef, 0);
	assert_int_equal(vdev_scsi_lun_remove(a->bus, 3, 2), 0);
	st_untrack(a, 3, 2);
	st_add_disk(a, 3, 2, MB, 512); /* 3:2: power-on UA only */

	assert_int_equal(save(a, &blob, &len), 0);
	/* Saving twice gives the same bytes; saving does not consume anything. */
	{
		uint8_t *blob2;
		size_t len2;

		assert_int_equal(save(a, &blob2, &len2), 0);
		assert_int_equal(len2, len);
		assert_memory_equal(blob2, blob, len);
		free(blob2);
	}

	b = build();
	assert_int_equal(load(b, blob, len, NULL, 0), 0);

	/* 0:0 */
	st_cmd_good(b, 0, 0, tur, 6);
	q = st_cmd(b, 0, 0, (const uint8_t[6]){ 0x1a, 0x08, 0x08, 0, 255, 0 }, 6, NULL, 0, 255);
	assert_int_equal(q->in[6], 0x00);
	sreq_free(q);
	st_cmd_sense(b, 0, 0, (const uint8_t[6]){ 0x1b, 0, 0, 0, 0x02, 0 }, 6,
		     VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x53, 0x02);
	/* 0:5: UAs in order, in descriptor format; then NOT READY (stopped). */
	q = st_cmd(b, 0, 5, tur, 6, NULL, 0, 0);
	st_expect_sense(q, VDEV_SCSI_SK_UNIT_ATTENTION, 0x29, 0x03);
	assert_true(st_decode(q).desc);
	sreq_free(q);
	st_cmd_sense(b, 0, 5, tur, 6, VDEV_SCSI_SK_UNIT_ATTENTION, 0x2a, 0x09);
	st_cmd_sense(b, 0, 5, tur, 6, VDEV_SCSI_SK_NOT_READY, 0x04, 0x02);
	/* 3:1: the inventory UA, then the reservation. */
	st_cmd_sense(b, 3, 1, tur, 6, VDEV_SCSI_SK_UNIT_ATTENTION, 0x3f, 0x0e);
	st_cmd_good(b, 3, 1, tur, 6);
	q = st_cmd(b, 3, 1, (const uint8_t[10]){ 0x5e, 0x01, 0, 0, 0, 0, 0, 0, 64, 0 }, 10,
		   NULL, 0, 64);
	st_expect_good(q);
	assert_int_equal(st_get_be(q->in, 4), 2);      /* generation */
	assert_int_equal(st_get_be(q->in + 8, 8), 0xbeef);
	assert_int_equal(q->in[21], 6);
	sreq_free(q);
	/* 3:2: its power-on UA only (the inventory UA was reported on 3:1). */
	st_cmd_sense(b, 3, 2, tur, 6, VDEV_SCSI_SK_UNIT_ATTENTION, 0x29, 0x00);
	st_cmd_good(b, 3, 2, tur, 6);

	free(blob);
	st_free(a);
	st_free(b);
}

/* ---- hand-made streams ---- */

struct lun_spec {
	uint32_t addr;
	uint8_t type, ua, uarq, lchg, wce, dsense, stop, prev, prrg, prrs, prty;
	uint64_t prky;
	uint32_t prgn;
};

static size_t make_blob(uint8_t **out, uint32_t nlun, const struct lun_spec *l, unsigned int n,
			bool extra_required)
{
	vdev_state_writer *w;
	const void *data;
	size_t len;

	assert_int_equal(vdev_state_writer_new(&w), 0);
	vdev_state_begin(w, T('S', 'C', 'S', 'I'), 1, VDEV_STATE_F_REQUIRED);
	vdev_state_put_u32(w, T('N', 'L', 'U', 'N'), nlun);
	for (unsigned int i = 0; i < n; i++) {
		vdev_state_begin(w, T('S', 'L', 'U', 'N'), 1, VDEV_STATE_F_REQUIRED);
		vdev_state_put_u32(w, T('A', 'D', 'D', 'R'), l[i].addr);
		vdev_state_put_u8(w, T('T', 'Y', 'P', 'E'), l[i].type);
		vdev_state_put_u8(w, T('U', 'A', 'T', 'N'), l[i].ua);
		vdev_state_put_u8(w, T('U', 'A', 'R', 'Q'), l[i].uarq);
		vdev_state_put_u8(w, T('L', 'C', 'H', 'G'), l[i].lchg);
		vdev_state_put_u8(w, T('W', 'C', 'E', ' '), l[i].wce);
		vdev_state_put_u8(w, T('D', 'S', 'N', 'S'), l[i].dsense);
		vdev_state_put_u8(w, T('S', 'T', 'O', 'P'), l[i].stop);
		vdev_state_put_u8(w, T('P', 'R', 'E', 'V'), l[i].prev);
		vdev_state_put_u8(w, T('P', 'R', 'R', 'G'), l[i].prrg);
		vdev_state_put_u64(w, T('P', 'R', 'K', 'Y'), l[i].prky);
		vdev_state_put_u8(w, T('P', 'R', 'R', 'S'), l[i].prrs);
		vdev_state_put_u8(w, T('P', 'R', 'T', 'Y'), l[i].prty);
		vdev_state_put_u32(w, T('P', 'R', 'G', 'N'), l[i].prgn);
		vdev_state_end(w);
	}
	if (extra_required)
		vdev_state_put_u8(w, T('X', 'X', 'X', 'X'), 1);
	vdev_state_end(w);
	assert_int_equal(vdev_state_writer_finish(w, &data, &len), 0);
	*out = malloc(len);
	memcpy(*out, data, len);
	vdev_state_writer_free(w);
	return len;
}

static const struct lun_spec good[4] = {
	{ .addr = 0x00000000, .wce = 1 },
	{ .addr = 0x00000005, .wce = 1 },
	{ .addr = 0x00030001, .wce = 1 },
	{ .addr = 0x00030002, .wce = 1 },
};

static void expect_refused(struct st *s, const struct lun_spec *l, unsigned int n, uint32_t nlun,
			   bool extra, int err)
{
	uint8_t *blob;
	size_t len = make_blob(&blob, nlun, l, n, extra);
	char why[256];
	int rc = load(s, blob, len, why, sizeof(why));

	if (rc != err)
		fprintf(stderr, "load: %d (%s), expected %d\n", rc, why, err);
	assert_int_equal(rc, err);
	assert_true(why[0] != '\0');
	free(blob);
}

static void test_hand_made(void **state)
{
	struct st *s = build();
	struct lun_spec l[4];
	uint8_t *blob;
	size_t len;
	(void)state;

	/* The hand-made good stream loads: all four LUNs end without UAs. */
	len = make_blob(&blob, 4, good, 4, false);
	assert_int_equal(load(s, blob, len, NULL, 0), 0);
	free(blob);
	st_cmd_good(s, 0, 0, tur, 6);
	st_cmd_good(s, 3, 2, tur, 6);

	/* Now a LUN with a UA, to check that refused loads change nothing. */
	vdev_scsi_lun_capacity_changed(vdev_scsi_lun_find(s->bus, 0, 5));

#define MUT(field, value, err)                          \
	do {                                            \
		memcpy(l, good, sizeof(l));             \
		l[0].wce = 0;                           \
		l[3].field = (value);                   \
		expect_refused(s, l, 4, 4, false, err); \
	} while (0)

	MUT(ua, 4, -ERANGE);
	MUT(uarq, 3, -ERANGE);                          /* a qualifier without a reset UA */
	MUT(lchg, 2, -ERANGE);
	MUT(wce, 2, -ERANGE);
	MUT(type, 5, -EINVAL);                          /* not the type here */
	MUT(addr, 0x00000007, -EINVAL);                 /* not on this bus */
	MUT(addr, 0x00004005, -EINVAL);                 /* LUN 16389: no such LUN */
	MUT(addr, 0x01000000, -ERANGE);                 /* target 256 */
	MUT(addr, 0x00000000, -EBADMSG);                /* 0:0 twice */
	MUT(prrs, 1, -ERANGE);                          /* reserved, not registered */
	MUT(prky, 5, -ERANGE);                          /* a key, not registered */
	memcpy(l, good, sizeof(l));
	l[3].prrg = 1;
	l[3].prky = 9;
	l[3].prrs = 1;
	l[3].prty = 2;                                  /* type 2 does not exist */
	expect_refused(s, l, 4, 4, false, -ERANGE);
	l[3].prty = 3;
	l[3].ua = 1;
	l[3].uarq = 0x05;                               /* not a qualifier we raise */
	expect_refused(s, l, 4, 4, false, -ERANGE);
	memcpy(l, good, sizeof(l));
	expect_refused(s, l, 3, 3, false, -EINVAL);     /* fewer LUNs than the bus has */
	expect_refused(s, l, 3, 4, false, -EBADMSG);    /* count and records disagree */
	expect_refused(s, l, 4, 4, true, -EPROTONOSUPPORT);
#undef MUT

	/* Nothing was applied: 0:0 still has its write cache on, 0:5 its UA. */
	{
		struct sreq *q = st_cmd(s, 0, 0, (const uint8_t[6]){ 0x1a, 0x08, 0x08, 0, 255, 0 },
					6, NULL, 0, 255);

		assert_int_equal(q->in[6], 0x04);
		sreq_free(q);
	}
	st_cmd_sense(s, 0, 5, tur, 6, VDEV_SCSI_SK_UNIT_ATTENTION, 0x2a, 0x09);

	/* Not a bus section at all; a newer schema. */
	{
		vdev_state_writer *w;
		const void *data;
		size_t n;
		vdev_state_reader *r;

		assert_int_equal(vdev_state_writer_new(&w), 0);
		vdev_state_begin(w, T('S', 'C', 'S', 'I'), 2, VDEV_STATE_F_REQUIRED);
		vdev_state_end(w);
		vdev_state_writer_finish(w, &data, &n);
		assert_int_equal(vdev_state_reader_new(data, n, &r), 0);
		assert_int_equal(vdev_scsi_bus_load(s->bus, r), -EBADMSG);
		vdev_state_reader_free(r);
		vdev_state_writer_free(w);
		assert_int_equal(vdev_state_writer_new(&w), 0);
		vdev_state_put_u8(w, T('S', 'C', 'S', 'I'), 1);
		vdev_state_writer_finish(w, &data, &n);
		assert_int_equal(vdev_state_reader_new(data, n, &r), 0);
		assert_int_equal(vdev_scsi_bus_load(s->bus, r), -EBADMSG);
		assert_int_equal(vdev_scsi_bus_load(NULL, r), -EINVAL);
		assert_int_equal(vdev_scsi_bus_load(s->bus, NULL), -EINVAL);
		vdev_state_reader_free(r);
		vdev_state_writer_free(w);
	}
	st_free(s);
}

/* An empty bus saves and loads; a bus with LUNs refuses an empty stream. */
static void test_empty(void **state)
{
	struct st *e = st_new(), *s = build();
	uint8_t *blob;
	size_t len;
	(void)state;

	assert_int_equal(save(e, &blob, &len), 0);
	assert_int_equal(load(e, blob, len, NULL, 0), 0);
	assert_int_equal(load(s, blob, len, NULL, 0), -EINVAL);
	free(blob);
	st_free(e);
	st_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_hand_made),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
