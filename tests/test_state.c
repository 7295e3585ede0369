/* SPDX-License-Identifier: MIT */
/*
 * The device-state codec: writer, reader, structure checks against
 * hostile blobs (truncation and corruption at every offset), and
 * declarative field tables. Hand-built blobs (struct raw) follow the wire
 * format in include/vdev/state.h independently of the writer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vdev/vdev.h>

#include "core/core.h"
#include "core/state_format.h"

#define TAG(s) VDEV_STATE_TAG((s)[0], (s)[1], (s)[2], (s)[3])

/* ---- a hand-rolled blob builder, independent of the writer ---------- */

struct raw {
	uint8_t b[8192];
	size_t n;
};

static void raw_u8(struct raw *r, uint8_t v)
{
	assert_true(r->n < sizeof(r->b));
	r->b[r->n++] = v;
}

static void raw_u16(struct raw *r, uint16_t v)
{
	raw_u8(r, (uint8_t)v);
	raw_u8(r, (uint8_t)(v >> 8));
}

static void raw_u32(struct raw *r, uint32_t v)
{
	raw_u16(r, (uint16_t)v);
	raw_u16(r, (uint16_t)(v >> 16));
}

static void raw_u64(struct raw *r, uint64_t v)
{
	raw_u32(r, (uint32_t)v);
	raw_u32(r, (uint32_t)(v >> 32));
}

static void raw_init(struct raw *r)
{
	r->n = 0;
	raw_u8(r, 'V');
	raw_u8(r, 'D');
	raw_u8(r, 'S');
	raw_u8(r, 'T');
	raw_u16(r, 1);
	raw_u16(r, 0);
	raw_u32(r, 0); /* payload length: raw_done() */
	raw_u32(r, 0);
}

/* Record header; returns its offset so a section's length can be patched. */
static size_t raw_rec(struct raw *r, uint32_t tag, uint8_t type, uint8_t flags, uint16_t version,
		      uint32_t len)
{
	size_t at = r->n;

	raw_u32(r, tag);
	raw_u8(r, type);
	raw_u8(r, flags);
	raw_u16(r, version);
	raw_u32(r, len);
	return at;
}

static void raw_patch32(struct raw *r, size_t at, uint32_t v)
{
	r->b[at] = (uint8_t)v;
	r->b[at + 1] = (uint8_t)(v >> 8);
	r->b[at + 2] = (uint8_t)(v >> 16);
	r->b[at + 3] = (uint8_t)(v >> 24);
}

/* Close a section opened at @at: its length is everything after its header. */
static void raw_close(struct raw *r, size_t at)
{
	raw_patch32(r, at + 8, (uint32_t)(r->n - at - 12));
}

static void raw_done(struct raw *r)
{
	raw_patch32(r, 8, (uint32_t)(r->n - 16));
}

/* reader_new on an exact-size heap copy, so ASan sees any overread. */
static int open_copy(const void *data, size_t len, vdev_state_reader **out, uint8_t **copy)
{
	*copy = malloc(len ? len : 1);
	assert_non_null(*copy);
	if (len)
		memcpy(*copy, data, len);
	return vdev_state_reader_new(*copy, len, out);
}

/* Expect vdev_state_reader_new() to refuse @data with @err and a reason mentioning @what. */
static void expect_reject(const void *data, size_t len, int err, const char *what)
{
	vdev_state_reader *r = (vdev_state_reader *)(uintptr_t)1;
	char msg[VDEV__STATE_MSG_SIZE];
	uint8_t *copy;

	assert_int_equal(open_copy(data, len, &r, &copy), err);
	assert_null(r);
	assert_int_equal(vdev__state_check(copy, len, msg, sizeof(msg)), err);
	if (what && !strstr(msg, what))
		fail_msg("reason \"%s\" does not mention \"%s\"", msg, what);
	free(copy);
}

/* ---- writer + reader round trip -------------------------------------- */

static void finish(vdev_state_writer *w, const uint8_t **data, size_t *len)
{
	const void *p;

	assert_int_equal(vdev_state_writer_finish(w, &p, len), 0);
	*data = p;
}

static void expect_next(vdev_state_reader *r, struct vdev_state_record *rec, uint32_t tag,
			uint8_t type, uint8_t flags, uint16_t version, uint32_t len)
{
	assert_int_equal(vdev_state_next(r, rec), 1);
	assert_int_equal(rec->tag, tag);
	assert_int_equal(rec->type, type);
	assert_int_equal(rec->flags, flags);
	assert_int_equal(rec->version, version);
	assert_int_equal(rec->len, len);
	assert_int_equal(rec->reserved[0], 0);
	assert_int_equal(rec->reserved[1], 0);
}

static void expect_uint(vdev_state_reader *r, uint32_t tag, uint8_t type, uint8_t flags,
			uint64_t want)
{
	static const uint32_t sizes[] = { 0, 1, 2, 4, 8 };
	struct vdev_state_record rec;
	uint64_t v = 0;

	expect_next(r, &rec, tag, type, flags, 0, sizes[type]);
	assert_int_equal(vdev_state_record_uint(&rec, &v), 0);
	assert_true(v == want);
}

static void test_roundtrip_all_types(void **state)
{
	static const uint8_t blob[] = { 1, 2, 3, 4, 5, 6, 7 };
	uint16_t v16 = 0x1234;
	vdev_state_writer *w;
	vdev_state_reader *r;
	struct vdev_state_record rec;
	const uint8_t *data;
	uint64_t v;
	size_t len;

	(void)state;
	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_state_put_u8(w, TAG("U8__"), 0xab), 0);
	assert_int_equal(vdev_state_put_u16(w, TAG("U16_"), 0xbeef), 0);
	assert_int_equal(vdev_state_put_u32(w, TAG("U32_"), 0xdeadbeef), 0);
	assert_int_equal(vdev_state_put_u64(w, TAG("U64_"), 0x0123456789abcdefull), 0);
	assert_int_equal(vdev_state_put_u64(w, TAG("UMAX"), UINT64_MAX), 0);
	assert_int_equal(vdev_state_put_bytes(w, TAG("BYTS"), blob, sizeof(blob)), 0);
	assert_int_equal(vdev_state_put_bytes(w, TAG("EMPT"), NULL, 0), 0);
	assert_int_equal(vdev_state_put(w, TAG("OPT_"), VDEV_STATE_U16, 0, &v16, 2), 0);
	assert_int_equal(vdev_state_begin(w, TAG("SECT"), 7, VDEV_STATE_F_REQUIRED), 0);
	assert_int_equal(vdev_state_put_u8(w, TAG("IN__"), 0), 0);
	assert_int_equal(vdev_state_end(w), 0);
	finish(w, &data, &len);

	/* Blob header per the wire format, payload length exact. */
	assert_int_equal(len, 16 + 13 + 14 + 16 + 20 + 20 + 19 + 12 + 14 + 12 + 13);
	assert_memory_equal(data, "VDST\x01\x00\x00\x00", 8);
	assert_int_equal(vdev__le32(data + 8), len - 16);
	assert_int_equal(vdev__le32(data + 12), 0);

	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	assert_string_equal(vdev_state_reader_error(r), "");
	expect_uint(r, TAG("U8__"), VDEV_STATE_U8, VDEV_STATE_F_REQUIRED, 0xab);
	expect_uint(r, TAG("U16_"), VDEV_STATE_U16, VDEV_STATE_F_REQUIRED, 0xbeef);
	expect_uint(r, TAG("U32_"), VDEV_STATE_U32, VDEV_STATE_F_REQUIRED, 0xdeadbeef);
	expect_uint(r, TAG("U64_"), VDEV_STATE_U64, VDEV_STATE_F_REQUIRED, 0x0123456789abcdefull);
	expect_uint(r, TAG("UMAX"), VDEV_STATE_U64, VDEV_STATE_F_REQUIRED, UINT64_MAX);
	expect_next(r, &rec, TAG("BYTS"), VDEV_STATE_BYTES, VDEV_STATE_F_REQUIRED, 0, 7);
	assert_memory_equal(rec.data, blob, sizeof(blob));
	assert_int_equal(vdev_state_record_uint(&rec, &v), -EBADMSG);
	expect_next(r, &rec, TAG("EMPT"), VDEV_STATE_BYTES, VDEV_STATE_F_REQUIRED, 0, 0);
	expect_uint(r, TAG("OPT_"), VDEV_STATE_U16, 0, 0x1234);
	expect_next(r, &rec, TAG("SECT"), VDEV_STATE_SECTION, VDEV_STATE_F_REQUIRED, 7, 13);
	assert_int_equal(vdev_state_record_uint(&rec, &v), -EBADMSG);
	assert_int_equal(vdev_state_enter(r), 0);
	expect_uint(r, TAG("IN__"), VDEV_STATE_U8, VDEV_STATE_F_REQUIRED, 0);
	assert_int_equal(vdev_state_next(r, &rec), 0);
	assert_int_equal(vdev_state_leave(r), 0);
	assert_int_equal(vdev_state_next(r, &rec), 0);
	assert_int_equal(vdev_state_next(r, &rec), 0); /* stays at the end */
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);
}

/* The writer's bytes, compared against the format spelled out by hand. */
static void test_wire_encoding(void **state)
{
	vdev_state_writer *w;
	const uint8_t *data;
	struct raw raw;
	size_t len, sec;

	(void)state;
	raw_init(&raw);
	raw_rec(&raw, 0x11223344, VDEV_STATE_U32, 1, 0, 4);
	raw_u32(&raw, 0xa1b2c3d4);
	sec = raw_rec(&raw, TAG("SECT"), VDEV_STATE_SECTION, 0, 0x0302, 0);
	raw_rec(&raw, 5, VDEV_STATE_U16, 0, 0, 2);
	raw_u16(&raw, 0xcafe);
	raw_rec(&raw, 6, VDEV_STATE_U64, 1, 0, 8);
	raw_u64(&raw, 0x0807060504030201ull);
	raw_close(&raw, sec);
	raw_done(&raw);

	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_state_put_u32(w, 0x11223344, 0xa1b2c3d4), 0);
	assert_int_equal(vdev_state_begin(w, TAG("SECT"), 0x0302, 0), 0);
	uint16_t v = 0xcafe;
	assert_int_equal(vdev_state_put(w, 5, VDEV_STATE_U16, 0, &v, sizeof(v)), 0);
	assert_int_equal(vdev_state_put_u64(w, 6, 0x0807060504030201ull), 0);
	assert_int_equal(vdev_state_end(w), 0);
	finish(w, &data, &len);
	assert_int_equal(len, raw.n);
	assert_memory_equal(data, raw.b, len);
	/* Spot-check little-endian order directly. */
	assert_int_equal(data[16], 0x44);
	assert_int_equal(data[28], 0xd4);
	assert_int_equal(data[31], 0xa1);
	vdev_state_writer_free(w);
}

static void test_empty_blob(void **state)
{
	vdev_state_writer *w;
	vdev_state_reader *r;
	struct vdev_state_record rec;
	const uint8_t *data;
	size_t len;

	(void)state;
	assert_int_equal(vdev_state_writer_new(&w), 0);
	finish(w, &data, &len);
	assert_int_equal(len, 16);
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	assert_int_equal(vdev_state_next(r, &rec), 0);
	assert_int_equal(vdev_state_enter(r), -EINVAL);
	assert_int_equal(vdev_state_leave(r), -EINVAL);
	assert_int_equal(vdev_state_next(r, NULL), -EINVAL);
	assert_int_equal(vdev_state_next(NULL, &rec), -EINVAL);
	assert_int_equal(vdev_state_enter(NULL), -EINVAL);
	assert_int_equal(vdev_state_leave(NULL), -EINVAL);
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);
}

static void test_large_bytes_growth(void **state)
{
	const size_t big = 300000;
	vdev_state_writer *w;
	vdev_state_reader *r;
	struct vdev_state_record rec;
	const uint8_t *data;
	uint8_t *src;
	size_t len, i;

	(void)state;
	src = malloc(big);
	assert_non_null(src);
	for (i = 0; i < big; i++)
		src[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(vdev_state_writer_new(&w), 0);
	for (i = 0; i < 1000; i++)
		assert_int_equal(vdev_state_put_u32(w, (uint32_t)i, (uint32_t)i * 3), 0);
	assert_int_equal(vdev_state_put_bytes(w, TAG("BIG_"), src, big), 0);
	finish(w, &data, &len);
	assert_int_equal(len, 16 + 1000 * 16 + 12 + big);
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	for (i = 0; i < 1000; i++)
		expect_uint(r, (uint32_t)i, VDEV_STATE_U32, VDEV_STATE_F_REQUIRED, i * 3);
	expect_next(r, &rec, TAG("BIG_"), VDEV_STATE_BYTES, VDEV_STATE_F_REQUIRED, 0, big);
	assert_memory_equal(rec.data, src, big);
	assert_int_equal(vdev_state_next(r, &rec), 0);
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);
	free(src);
}

/*
 * A { x, B { y, z }, w }, C { }, t
 */
static void write_nested(vdev_state_writer *w)
{
	assert_int_equal(vdev_state_begin(w, TAG("A___"), 1, 0), 0);
	assert_int_equal(vdev_state_put_u8(w, TAG("x___"), 1), 0);
	assert_int_equal(vdev_state_begin(w, TAG("B___"), 2, VDEV_STATE_F_REQUIRED), 0);
	assert_int_equal(vdev_state_put_u16(w, TAG("y___"), 2), 0);
	assert_int_equal(vdev_state_put_u32(w, TAG("z___"), 3), 0);
	assert_int_equal(vdev_state_end(w), 0);
	assert_int_equal(vdev_state_put_u64(w, TAG("w___"), 4), 0);
	assert_int_equal(vdev_state_end(w), 0);
	assert_int_equal(vdev_state_begin(w, TAG("C___"), 3, 0), 0);
	assert_int_equal(vdev_state_end(w), 0);
	assert_int_equal(vdev_state_put_u8(w, TAG("t___"), 5), 0);
}

static void test_nested_sections_and_leave(void **state)
{
	vdev_state_writer *w;
	vdev_state_reader *r;
	struct vdev_state_record rec;
	const uint8_t *data;
	size_t len;

	(void)state;
	assert_int_equal(vdev_state_writer_new(&w), 0);
	write_nested(w);
	finish(w, &data, &len);

	/* Full walk. */
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	assert_int_equal(vdev_state_leave(r), -EINVAL); /* top level */
	assert_int_equal(vdev_state_enter(r), -EINVAL); /* nothing returned yet */
	expect_next(r, &rec, TAG("A___"), VDEV_STATE_SECTION, 0, 1, 13 + 12 + 14 + 16 + 20);
	assert_int_equal(vdev_state_enter(r), 0);
	assert_int_equal(vdev_state_enter(r), -EINVAL); /* already entered */
	expect_uint(r, TAG("x___"), VDEV_STATE_U8, VDEV_STATE_F_REQUIRED, 1);
	assert_int_equal(vdev_state_enter(r), -EINVAL); /* not a section */
	expect_next(r, &rec, TAG("B___"), VDEV_STATE_SECTION, VDEV_STATE_F_REQUIRED, 2, 30);
	assert_int_equal(vdev_state_enter(r), 0);
	expect_uint(r, TAG("y___"), VDEV_STATE_U16, VDEV_STATE_F_REQUIRED, 2);
	expect_uint(r, TAG("z___"), VDEV_STATE_U32, VDEV_STATE_F_REQUIRED, 3);
	assert_int_equal(vdev_state_next(r, &rec), 0);
	assert_int_equal(vdev_state_enter(r), -EINVAL); /* next returned nothing */
	assert_int_equal(vdev_state_leave(r), 0);
	expect_uint(r, TAG("w___"), VDEV_STATE_U64, VDEV_STATE_F_REQUIRED, 4);
	assert_int_equal(vdev_state_next(r, &rec), 0);
	assert_int_equal(vdev_state_leave(r), 0);
	expect_next(r, &rec, TAG("C___"), VDEV_STATE_SECTION, 0, 3, 0);
	assert_int_equal(vdev_state_enter(r), 0);
	assert_int_equal(vdev_state_next(r, &rec), 0);
	assert_int_equal(vdev_state_leave(r), 0);
	expect_uint(r, TAG("t___"), VDEV_STATE_U8, VDEV_STATE_F_REQUIRED, 5);
	assert_int_equal(vdev_state_next(r, &rec), 0);
	vdev_state_reader_free(r);

	/* Skipping: sections not entered are stepped over; leave() skips the rest. */
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	expect_next(r, &rec, TAG("A___"), VDEV_STATE_SECTION, 0, 1, 75);
	assert_int_equal(vdev_state_enter(r), 0);
	expect_uint(r, TAG("x___"), VDEV_STATE_U8, VDEV_STATE_F_REQUIRED, 1);
	assert_int_equal(vdev_state_leave(r), 0);
	expect_next(r, &rec, TAG("C___"), VDEV_STATE_SECTION, 0, 3, 0);
	expect_uint(r, TAG("t___"), VDEV_STATE_U8, VDEV_STATE_F_REQUIRED, 5);
	vdev_state_reader_free(r);

	/* Enter then leave at once, from a nested level. */
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	expect_next(r, &rec, TAG("A___"), VDEV_STATE_SECTION, 0, 1, 75);
	assert_int_equal(vdev_state_enter(r), 0);
	expect_uint(r, TAG("x___"), VDEV_STATE_U8, VDEV_STATE_F_REQUIRED, 1);
	expect_next(r, &rec, TAG("B___"), VDEV_STATE_SECTION, VDEV_STATE_F_REQUIRED, 2, 30);
	assert_int_equal(vdev_state_enter(r), 0);
	assert_int_equal(vdev_state_leave(r), 0);
	assert_int_equal(vdev_state_leave(r), 0);
	assert_int_equal(vdev_state_leave(r), -EINVAL);
	expect_next(r, &rec, TAG("C___"), VDEV_STATE_SECTION, 0, 3, 0);
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);
}

static void test_depth_limit_write(void **state)
{
	vdev_state_writer *w;
	vdev_state_reader *r;
	struct vdev_state_record rec;
	const uint8_t *data;
	const void *p;
	size_t len;
	int i;

	(void)state;
	assert_int_equal(vdev_state_writer_new(&w), 0);
	for (i = 0; i < VDEV_STATE_MAX_DEPTH; i++)
		assert_int_equal(vdev_state_begin(w, (uint32_t)i, 0, 0), 0);
	assert_int_equal(vdev_state_put_u8(w, TAG("deep"), 9), 0);
	for (i = 0; i < VDEV_STATE_MAX_DEPTH; i++)
		assert_int_equal(vdev_state_end(w), 0);
	finish(w, &data, &len);

	/* The deepest legal blob reads back, all the way down. */
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	for (i = 0; i < VDEV_STATE_MAX_DEPTH; i++) {
		expect_next(r, &rec, (uint32_t)i, VDEV_STATE_SECTION, 0, 0,
			    (uint32_t)(13 + 12 * (VDEV_STATE_MAX_DEPTH - 1 - i)));
		assert_int_equal(vdev_state_enter(r), 0);
	}
	expect_uint(r, TAG("deep"), VDEV_STATE_U8, VDEV_STATE_F_REQUIRED, 9);
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);

	/* One more level is refused, and the error sticks. */
	assert_int_equal(vdev_state_writer_new(&w), 0);
	for (i = 0; i < VDEV_STATE_MAX_DEPTH; i++)
		assert_int_equal(vdev_state_begin(w, (uint32_t)i, 0, 0), 0);
	assert_int_equal(vdev_state_begin(w, 99, 0, 0), -E2BIG);
	assert_int_equal(vdev_state_put_u8(w, 1, 1), -E2BIG);
	assert_int_equal(vdev_state_end(w), -E2BIG);
	assert_int_equal(vdev_state_writer_finish(w, &p, &len), -E2BIG);
	vdev_state_writer_free(w);
}

static void test_depth_limit_read(void **state)
{
	struct raw raw;
	size_t at[VDEV_STATE_MAX_DEPTH + 1];
	int i;

	(void)state;
	/* 17 nested sections, built by hand since the writer refuses them. */
	raw_init(&raw);
	for (i = 0; i <= VDEV_STATE_MAX_DEPTH; i++)
		at[i] = raw_rec(&raw, (uint32_t)i, VDEV_STATE_SECTION, 0, 0, 0);
	for (i = VDEV_STATE_MAX_DEPTH; i >= 0; i--)
		raw_close(&raw, at[i]);
	raw_done(&raw);
	expect_reject(raw.b, raw.n, -EBADMSG, "deeper than 16");
	expect_reject(raw.b, raw.n, -EBADMSG, "offset 208"); /* 16 + 16 * 12 */

	/* 16 is fine: drop the innermost section. */
	raw_init(&raw);
	for (i = 0; i < VDEV_STATE_MAX_DEPTH; i++)
		at[i] = raw_rec(&raw, (uint32_t)i, VDEV_STATE_SECTION, 0, 0, 0);
	for (i = VDEV_STATE_MAX_DEPTH - 1; i >= 0; i--)
		raw_close(&raw, at[i]);
	raw_done(&raw);
	assert_int_equal(vdev__state_check(raw.b, raw.n, NULL, 0), 0);
}

/* ---- hostile blobs ---------------------------------------------------- */

/* A blob with every type, nesting and empty sections; used for mutation. */
static void build_sample(vdev_state_writer **wp, const uint8_t **data, size_t *len)
{
	static const uint8_t bytes[5] = { 9, 8, 7, 6, 5 };
	vdev_state_writer *w;

	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_state_put_u8(w, 1, 0x11), 0);
	write_nested(w);
	assert_int_equal(vdev_state_begin(w, TAG("D___"), 4, 0), 0);
	assert_int_equal(vdev_state_put_bytes(w, 2, bytes, sizeof(bytes)), 0);
	assert_int_equal(vdev_state_begin(w, TAG("E___"), 0, 0), 0);
	assert_int_equal(vdev_state_end(w), 0);
	assert_int_equal(vdev_state_put_bytes(w, 3, NULL, 0), 0);
	assert_int_equal(vdev_state_end(w), 0);
	assert_int_equal(vdev_state_put_u32(w, 4, 0x44), 0);
	finish(w, data, len);
	*wp = w;
}

/*
 * Walk everything a reader offers, entering every section, and check what
 * it hands out stays inside the blob and obeys the format. Returns the
 * number of records seen.
 */
static size_t walk_all(vdev_state_reader *r, const uint8_t *blob, size_t len)
{
	struct vdev_state_record rec;
	unsigned int depth = 0;
	size_t seen = 0;
	unsigned int sum = 0;
	int rc;

	for (;;) {
		rc = vdev_state_next(r, &rec);
		assert_true(rc >= 0);
		if (rc == 0) {
			if (!depth)
				break;
			assert_int_equal(vdev_state_leave(r), 0);
			depth--;
			continue;
		}
		seen++;
		assert_true((const uint8_t *)rec.data >= blob + 16 + 12);
		assert_true((const uint8_t *)rec.data + rec.len <= blob + len);
		assert_true(rec.type >= VDEV_STATE_U8 && rec.type <= VDEV_STATE_SECTION);
		assert_int_equal(rec.flags & ~VDEV_STATE_F_REQUIRED, 0);
		for (uint32_t i = 0; i < rec.len; i++)
			sum += ((const uint8_t *)rec.data)[i];
		if (rec.type == VDEV_STATE_SECTION) {
			assert_int_equal(vdev_state_enter(r), 0);
			depth++;
			assert_true(depth <= VDEV_STATE_MAX_DEPTH);
		} else {
			uint64_t v;

			assert_int_equal(rec.version, 0);
			assert_int_equal(vdev_state_record_uint(&rec, &v),
					 rec.type == VDEV_STATE_BYTES ? -EBADMSG : 0);
		}
	}
	(void)sum;
	return seen;
}

static void test_truncation_every_offset(void **state)
{
	vdev_state_writer *w;
	const uint8_t *data;
	size_t len, cut;
	bool boundary[512] = { false };
	size_t pos, n_ok = 0, n_boundaries = 0;

	(void)state;
	build_sample(&w, &data, &len);
	assert_true(len < sizeof(boundary));

	/* The prefix as-is: the header's payload length no longer matches. */
	for (cut = 0; cut < len; cut++)
		expect_reject(data, cut, -EBADMSG, NULL);

	/*
	 * The prefix with its header patched to claim exactly its length, so
	 * only the record structure can catch it: valid iff the cut falls on
	 * a top-level record boundary.
	 */
	for (pos = 16; pos <= len; pos += 12 + vdev__le32(data + pos + 8)) {
		boundary[pos] = true;
		n_boundaries++;
		if (pos == len)
			break;
	}
	assert_int_equal(n_boundaries, 7); /* before u8, A, C, t, D, u32, and the end */
	for (cut = 16; cut < len; cut++) {
		vdev_state_reader *r = NULL;
		uint8_t *copy;
		int rc;

		copy = malloc(cut);
		assert_non_null(copy);
		memcpy(copy, data, cut);
		vdev__put_le32(copy + 8, (uint32_t)(cut - 16));
		rc = vdev_state_reader_new(copy, cut, &r);
		if (boundary[cut]) {
			assert_int_equal(rc, 0);
			walk_all(r, copy, cut);
			n_ok++;
		} else {
			assert_int_equal(rc, -EBADMSG);
			assert_null(r);
		}
		vdev_state_reader_free(r);
		free(copy);
	}
	assert_int_equal(n_ok, n_boundaries - 1);
	vdev_state_writer_free(w);
}

static void test_corruption_every_byte(void **state)
{
	static const uint8_t patterns[] = { 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff };
	vdev_state_writer *w;
	const uint8_t *data;
	size_t len, off, p, accepted = 0, rejected = 0;

	(void)state;
	build_sample(&w, &data, &len);
	for (off = 0; off < len; off++) {
		for (p = 0; p < sizeof(patterns) + 1; p++) {
			vdev_state_reader *r = NULL;
			uint8_t *copy;
			int rc;

			copy = malloc(len);
			assert_non_null(copy);
			memcpy(copy, data, len);
			if (p < sizeof(patterns))
				copy[off] ^= patterns[p];
			else
				copy[off] = 0;
			rc = vdev_state_reader_new(copy, len, &r);
			if (rc == 0) {
				walk_all(r, copy, len);
				accepted++;
			} else {
				assert_true(rc == -EBADMSG || rc == -EPROTONOSUPPORT);
				assert_null(r);
				rejected++;
			}
			vdev_state_reader_free(r);
			free(copy);
		}
	}
	/* Both outcomes happen: tag and value bytes are free, lengths are not. */
	assert_true(accepted > 0);
	assert_true(rejected > 0);
	vdev_state_writer_free(w);
}

/* vdev_state_validate() gives the same verdict as reader_new, with a reason. */
static void test_validate_reason(void **state)
{
	vdev_state_writer *w;
	const uint8_t *data;
	uint8_t bad[256];
	char why[128];
	size_t len;

	(void)state;
	build_sample(&w, &data, &len);
	assert_true(len <= sizeof(bad));
	assert_int_equal(vdev_state_validate(data, len, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	memcpy(bad, data, len);
	bad[0] = 'X';
	assert_int_equal(vdev_state_validate(bad, len, why, sizeof(why)), -EBADMSG);
	assert_true(strlen(why) > 0);
	assert_int_equal(vdev_state_validate(data, len - 1, why, sizeof(why)), -EBADMSG);
	assert_true(strlen(why) > 0);
	/* A tiny buffer truncates, NULL is allowed. */
	assert_int_equal(vdev_state_validate(data, len - 1, why, 4), -EBADMSG);
	assert_true(strlen(why) <= 3);
	assert_int_equal(vdev_state_validate(data, len - 1, NULL, 0), -EBADMSG);
	vdev_state_writer_free(w);
}

static void test_bad_header(void **state)
{
	struct raw raw;
	uint8_t b[32];
	vdev_state_reader *r;

	(void)state;
	raw_init(&raw);
	raw_rec(&raw, 1, VDEV_STATE_U8, 0, 0, 1);
	raw_u8(&raw, 1);
	raw_done(&raw);
	assert_int_equal(vdev__state_check(raw.b, raw.n, NULL, 0), 0);
	assert_int_equal(raw.n, 29);

	memcpy(b, raw.b, raw.n);
	b[0] = 'X';
	expect_reject(b, raw.n, -EBADMSG, "magic");
	memcpy(b, raw.b, raw.n);
	b[3] = 't';
	expect_reject(b, raw.n, -EBADMSG, "magic");

	memcpy(b, raw.b, raw.n);
	b[4] = 0; /* version 0 */
	expect_reject(b, raw.n, -EBADMSG, "version 0");
	b[4] = 2;
	expect_reject(b, raw.n, -EPROTONOSUPPORT, "version 2");
	b[4] = 1;
	b[5] = 1; /* version 257 */
	expect_reject(b, raw.n, -EPROTONOSUPPORT, "offset 4");

	memcpy(b, raw.b, raw.n);
	b[7] = 0x80;
	expect_reject(b, raw.n, -EBADMSG, "flags");

	memcpy(b, raw.b, raw.n);
	b[15] = 1;
	expect_reject(b, raw.n, -EBADMSG, "offset 12");

	/* Payload length off by one either way, and a blob shorter than a header. */
	memcpy(b, raw.b, raw.n);
	vdev__put_le32(b + 8, 14);
	expect_reject(b, raw.n, -EBADMSG, "payload length 14");
	vdev__put_le32(b + 8, 12);
	expect_reject(b, raw.n, -EBADMSG, "payload length 12");
	vdev__put_le32(b + 8, UINT32_MAX);
	expect_reject(b, raw.n, -EBADMSG, "payload length");
	expect_reject(raw.b, 15, -EBADMSG, "shorter");
	expect_reject(raw.b, 0, -EBADMSG, "shorter");

	/* Arguments. */
	assert_int_equal(vdev_state_reader_new(NULL, 16, &r), -EINVAL);
	assert_int_equal(vdev_state_reader_new(raw.b, raw.n, NULL), -EINVAL);
	assert_int_equal(vdev__state_check(NULL, 16, NULL, 0), -EINVAL);
}

/* One record (after the header) mangled; expect a rejection mentioning @what. */
static void reject_one(uint8_t type, uint8_t flags, uint16_t version, uint32_t len,
		       size_t payload, const char *what)
{
	struct raw raw;
	size_t i;

	raw_init(&raw);
	raw_rec(&raw, 0x0a0b0c0d, type, flags, version, len);
	for (i = 0; i < payload; i++)
		raw_u8(&raw, (uint8_t)i);
	raw_done(&raw);
	expect_reject(raw.b, raw.n, -EBADMSG, what);
	expect_reject(raw.b, raw.n, -EBADMSG, "record 0x0a0b0c0d at offset 16");
}

static void test_bad_records(void **state)
{
	struct raw raw;
	size_t sec;

	(void)state;
	/* Scalars must have exactly their natural length. */
	reject_one(VDEV_STATE_U8, 0, 0, 2, 2, "length 2, not 1");
	reject_one(VDEV_STATE_U8, 0, 0, 0, 0, "length 0, not 1");
	reject_one(VDEV_STATE_U16, 0, 0, 1, 1, "not 2");
	reject_one(VDEV_STATE_U32, 0, 0, 3, 3, "length 3, not 4");
	reject_one(VDEV_STATE_U32, 0, 0, 8, 8, "not 4");
	reject_one(VDEV_STATE_U64, 0, 0, 4, 4, "not 8");
	/* Unknown types. */
	reject_one(0, 0, 0, 1, 1, "unknown type 0");
	reject_one(7, 0, 0, 1, 1, "unknown type 7");
	reject_one(0xff, 0, 0, 0, 0, "unknown type 255");
	/* Unknown flag bits. */
	reject_one(VDEV_STATE_U8, 0x02, 0, 1, 1, "unknown flags 0x2");
	reject_one(VDEV_STATE_SECTION, 0x80, 0, 0, 0, "unknown flags 0x80");
	/* Version on a non-section. */
	reject_one(VDEV_STATE_BYTES, 0, 1, 0, 0, "version 1");
	reject_one(VDEV_STATE_U8, 0, 0x100, 1, 1, "version 256");
	/* A length running past the end of the blob. */
	reject_one(VDEV_STATE_BYTES, 0, 0, 5, 4, "length 5 exceeds section end 32");
	reject_one(VDEV_STATE_SECTION, 0, 0, 1, 0, "exceeds section end 28");
	reject_one(VDEV_STATE_BYTES, 0, 0, UINT32_MAX, 4, "length 4294967295 exceeds");

	/* A record running past its section (but not the blob). */
	raw_init(&raw);
	sec = raw_rec(&raw, TAG("SECT"), VDEV_STATE_SECTION, 0, 0, 0);
	raw_rec(&raw, TAG("in__"), VDEV_STATE_BYTES, 0, 0, 4);
	raw_u32(&raw, 0);
	raw_close(&raw, sec);
	raw_rec(&raw, TAG("aftr"), VDEV_STATE_BYTES, 0, 0, 0);
	raw_done(&raw);
	assert_int_equal(vdev__state_check(raw.b, raw.n, NULL, 0), 0);
	raw_patch32(&raw, 16 + 12 + 8, 5); /* inner bytes claim 5, the section holds 4 */
	expect_reject(raw.b, raw.n, -EBADMSG, "record 0x5f5f6e69 at offset 28: length 5 exceeds "
		      "section end 44");

	/* Leftover bytes in a section too few for a record header. */
	raw_init(&raw);
	sec = raw_rec(&raw, TAG("SECT"), VDEV_STATE_SECTION, 0, 0, 0);
	raw_u32(&raw, 0);
	raw_close(&raw, sec);
	raw_done(&raw);
	expect_reject(raw.b, raw.n, -EBADMSG, "offset 28: 4 bytes left");

	/* ...and at top level. */
	raw_init(&raw);
	raw_u8(&raw, 0);
	raw_done(&raw);
	expect_reject(raw.b, raw.n, -EBADMSG, "offset 16: 1 bytes left");

	/* A bad record deep inside otherwise sound sections. */
	raw_init(&raw);
	sec = raw_rec(&raw, 1, VDEV_STATE_SECTION, 0, 3, 0);
	size_t sec2 = raw_rec(&raw, 2, VDEV_STATE_SECTION, 0, 0, 0);
	raw_rec(&raw, 3, VDEV_STATE_U16, 0, 0, 2);
	raw_u16(&raw, 1);
	raw_rec(&raw, 4, VDEV_STATE_U16, 0, 0, 4);
	raw_u32(&raw, 1);
	raw_close(&raw, sec2);
	raw_close(&raw, sec);
	raw_done(&raw);
	expect_reject(raw.b, raw.n, -EBADMSG, "record 0x00000004 at offset 54");
}

static void test_record_uint(void **state)
{
	static const uint8_t le[8] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x88 };
	struct vdev_state_record rec = { .data = le };
	uint64_t v = 0;

	(void)state;
	rec.type = VDEV_STATE_U8;
	rec.len = 1;
	assert_int_equal(vdev_state_record_uint(&rec, &v), 0);
	assert_true(v == 0x01);
	rec.type = VDEV_STATE_U16;
	rec.len = 2;
	assert_int_equal(vdev_state_record_uint(&rec, &v), 0);
	assert_true(v == 0x0201);
	rec.type = VDEV_STATE_U32;
	rec.len = 4;
	assert_int_equal(vdev_state_record_uint(&rec, &v), 0);
	assert_true(v == 0x04030201);
	rec.type = VDEV_STATE_U64;
	rec.len = 8;
	assert_int_equal(vdev_state_record_uint(&rec, &v), 0);
	assert_true(v == 0x8807060504030201ull);

	v = 42;
	rec.type = VDEV_STATE_BYTES;
	assert_int_equal(vdev_state_record_uint(&rec, &v), -EBADMSG);
	rec.type = VDEV_STATE_SECTION;
	assert_int_equal(vdev_state_record_uint(&rec, &v), -EBADMSG);
	rec.type = 0;
	assert_int_equal(vdev_state_record_uint(&rec, &v), -EBADMSG);
	rec.type = VDEV_STATE_U32; /* length disagrees with the type */
	rec.len = 8;
	assert_int_equal(vdev_state_record_uint(&rec, &v), -EBADMSG);
	assert_true(v == 42);
	assert_int_equal(vdev_state_record_uint(NULL, &v), -EINVAL);
	assert_int_equal(vdev_state_record_uint(&rec, NULL), -EINVAL);
}

static void test_reader_fail_sticky(void **state)
{
	vdev_state_writer *w;
	vdev_state_reader *r;
	struct vdev_state_record rec;
	const uint8_t *data;
	size_t len;

	(void)state;
	assert_int_equal(vdev_state_writer_new(&w), 0);
	write_nested(w);
	finish(w, &data, &len);
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	expect_next(r, &rec, TAG("A___"), VDEV_STATE_SECTION, 0, 1, 75);
	assert_int_equal(vdev_state_enter(r), 0);
	assert_string_equal(vdev_state_reader_error(r), "");

	assert_int_equal(vdev_state_fail(r, -ERANGE, "queue size %u is not a power of two", 3),
			 -ERANGE);
	assert_string_equal(vdev_state_reader_error(r), "queue size 3 is not a power of two");
	/* Only the first failure is kept. */
	assert_int_equal(vdev_state_fail(r, -EIO, "second"), -EIO);
	assert_string_equal(vdev_state_reader_error(r), "queue size 3 is not a power of two");
	assert_int_equal(vdev_state_next(r, &rec), -ERANGE);
	assert_int_equal(vdev_state_next(r, &rec), -ERANGE);
	assert_int_equal(vdev_state_enter(r), -ERANGE);
	assert_int_equal(vdev_state_leave(r), -ERANGE);
	assert_int_equal(vdev_state_load_fields(r, NULL, 0, NULL), -ERANGE);
	vdev_state_reader_free(r);

	/* A loader passing a non-negative code still leaves the reader in error. */
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	assert_int_equal(vdev_state_fail(r, 0, "%s", "odd"), 0);
	assert_int_equal(vdev_state_next(r, &rec), -EINVAL);
	assert_string_equal(vdev_state_reader_error(r), "odd");
	vdev_state_reader_free(r);

	assert_string_equal(vdev_state_reader_error(NULL), "");
	assert_int_equal(vdev_state_fail(NULL, -EIO, "x"), -EIO);
	vdev_state_reader_free(NULL);
	vdev_state_writer_free(w);
}

/* ---- writer errors ------------------------------------------------------ */

static void test_writer_sticky_error(void **state)
{
	vdev_state_writer *w;
	uint32_t v32 = 5;
	const void *p;
	size_t len;

	(void)state;
	/* Wrong scalar length. */
	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_state_put_u8(w, 1, 1), 0);
	assert_int_equal(vdev_state_put(w, 2, VDEV_STATE_U32, 0, &v32, 2), -EINVAL);
	assert_int_equal(vdev_state_put_u8(w, 3, 1), -EINVAL);
	assert_int_equal(vdev_state_begin(w, 4, 0, 0), -EINVAL);
	assert_int_equal(vdev_state_writer_finish(w, &p, &len), -EINVAL);
	vdev_state_writer_free(w);

	/* Every other bad put sticks too. */
	struct {
		uint8_t type, flags;
		const void *data;
		size_t len;
	} bad[] = {
		{ VDEV_STATE_SECTION, 0, &v32, 0 },   /* sections use begin() */
		{ 0, 0, &v32, 4 },                    /* unknown type */
		{ 7, 0, &v32, 4 },
		{ VDEV_STATE_U32, 0x02, &v32, 4 },    /* unknown flags */
		{ VDEV_STATE_U32, 0, NULL, 4 },       /* no data */
		{ VDEV_STATE_BYTES, 0, NULL, 1 },
		{ VDEV_STATE_U64, 0, &v32, 4 },
	};
	for (size_t i = 0; i < VDEV__ARRAY_SIZE(bad); i++) {
		assert_int_equal(vdev_state_writer_new(&w), 0);
		assert_int_equal(vdev_state_put(w, 1, bad[i].type, bad[i].flags, bad[i].data,
						bad[i].len), -EINVAL);
		assert_int_equal(vdev_state_put_u32(w, 1, 1), -EINVAL);
		assert_int_equal(vdev_state_writer_finish(w, &p, &len), -EINVAL);
		vdev_state_writer_free(w);
	}

	/* Unknown section flags. */
	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_state_begin(w, 1, 0, 0x40), -EINVAL);
	assert_int_equal(vdev_state_end(w), -EINVAL);
	assert_int_equal(vdev_state_writer_finish(w, &p, &len), -EINVAL);
	vdev_state_writer_free(w);

	/* An end with nothing open is unbalanced and sticks. */
	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_state_begin(w, 1, 0, 0), 0);
	assert_int_equal(vdev_state_end(w), 0);
	assert_int_equal(vdev_state_end(w), -EINVAL);
	assert_int_equal(vdev_state_put_u8(w, 1, 1), -EINVAL);
	assert_int_equal(vdev_state_writer_finish(w, &p, &len), -EINVAL);
	vdev_state_writer_free(w);

#if SIZE_MAX > UINT32_MAX
	/* Too big for a u32 length: refused before the data is read. */
	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_state_put_bytes(w, 1, &v32, (size_t)UINT32_MAX + 1), -EFBIG);
	assert_int_equal(vdev_state_put_u8(w, 1, 1), -EFBIG);
	assert_int_equal(vdev_state_writer_finish(w, &p, &len), -EFBIG);
	vdev_state_writer_free(w);
	/* The payload as a whole must fit too (record header included). */
	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_state_put_bytes(w, 1, &v32, (size_t)UINT32_MAX - 11), -EFBIG);
	vdev_state_writer_free(w);
#endif

	/* NULL arguments are refused without touching anything. */
	assert_int_equal(vdev_state_writer_new(NULL), -EINVAL);
	assert_int_equal(vdev_state_put_u8(NULL, 1, 1), -EINVAL);
	assert_int_equal(vdev_state_begin(NULL, 1, 0, 0), -EINVAL);
	assert_int_equal(vdev_state_end(NULL), -EINVAL);
	assert_int_equal(vdev_state_writer_finish(NULL, &p, &len), -EINVAL);
	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_state_writer_finish(w, NULL, &len), -EINVAL);
	assert_int_equal(vdev_state_writer_finish(w, &p, NULL), -EINVAL);
	assert_int_equal(vdev_state_writer_finish(w, &p, &len), 0);
	assert_int_equal(len, 16);
	vdev_state_writer_free(w);
	vdev_state_writer_free(NULL);
}

static void test_unbalanced_finish(void **state)
{
	vdev_state_writer *w;
	vdev_state_reader *r;
	struct vdev_state_record rec;
	const uint8_t *data;
	const void *p;
	size_t len;

	(void)state;
	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_state_begin(w, 1, 0, 0), 0);
	assert_int_equal(vdev_state_put_u8(w, 2, 2), 0);
	assert_int_equal(vdev_state_begin(w, 3, 0, 0), 0);
	assert_int_equal(vdev_state_writer_finish(w, &p, &len), -EINVAL);
	assert_int_equal(vdev_state_end(w), 0);
	assert_int_equal(vdev_state_writer_finish(w, &p, &len), -EINVAL);
	/* Not sticky: closing the last section makes the blob finishable. */
	assert_int_equal(vdev_state_end(w), 0);
	finish(w, &data, &len);
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	expect_next(r, &rec, 1, VDEV_STATE_SECTION, 0, 0, 13 + 12);
	assert_int_equal(vdev_state_next(r, &rec), 0);
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);
}

static void test_write_after_finish(void **state)
{
	vdev_state_writer *w;
	vdev_state_reader *r;
	struct vdev_state_record rec;
	const uint8_t *data;
	size_t len;

	(void)state;
	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_state_put_u8(w, 1, 1), 0);
	finish(w, &data, &len);
	assert_int_equal(len, 29);
	assert_int_equal(vdev_state_begin(w, 2, 0, 0), 0);
	assert_int_equal(vdev_state_put_u16(w, 3, 3), 0);
	assert_int_equal(vdev_state_end(w), 0);
	finish(w, &data, &len);
	assert_int_equal(len, 29 + 12 + 14);
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	expect_uint(r, 1, VDEV_STATE_U8, VDEV_STATE_F_REQUIRED, 1);
	expect_next(r, &rec, 2, VDEV_STATE_SECTION, 0, 0, 14);
	assert_int_equal(vdev_state_next(r, &rec), 0);
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);
}

/* ---- declarative fields ------------------------------------------------- */

struct dev_state {
	uint8_t mode;
	uint16_t flags;
	uint32_t queue_size;
	uint64_t addr;
	uint8_t mac[6];
	uint32_t opt;
	uint64_t any;
};

#define T_MODE TAG("mode")
#define T_FLAGS TAG("flag")
#define T_QSZ TAG("qsz_")
#define T_ADDR TAG("addr")
#define T_MAC TAG("mac_")
#define T_OPT TAG("opt_")
#define T_ANY TAG("any_")

static const struct vdev_state_field dev_fields[] = {
	{ .name = "mode", .tag = T_MODE, .type = VDEV_STATE_U8,
	  .offset = offsetof(struct dev_state, mode), .min = 0, .max = 3 },
	{ .name = "flags", .tag = T_FLAGS, .type = VDEV_STATE_U16,
	  .offset = offsetof(struct dev_state, flags) },
	{ .name = "queue_size", .tag = T_QSZ, .type = VDEV_STATE_U32,
	  .offset = offsetof(struct dev_state, queue_size), .min = 1, .max = 32768 },
	{ .name = "addr", .tag = T_ADDR, .type = VDEV_STATE_U64,
	  .offset = offsetof(struct dev_state, addr), .min = 0x1000, .max = UINT64_MAX },
	{ .name = "mac", .tag = T_MAC, .type = VDEV_STATE_BYTES,
	  .offset = offsetof(struct dev_state, mac), .size = 6 },
	{ .name = "opt", .tag = T_OPT, .type = VDEV_STATE_U32, .flags = VDEV_STATE_FIELD_OPTIONAL,
	  .offset = offsetof(struct dev_state, opt) },
	{ .name = "any", .tag = T_ANY, .type = VDEV_STATE_U64,
	  .offset = offsetof(struct dev_state, any) },
};

static const struct dev_state dev_src = {
	.mode = 2, .flags = 0x8001, .queue_size = 256, .addr = 0xfffffffffffff000ull,
	.mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, .opt = 77, .any = UINT64_MAX,
};

/* The destination before a load: any bytes that differ from the source. */
static void dst_fill(struct dev_state *d)
{
	memset(d, 0xa5, sizeof(*d));
}

static void assert_dev_equal(const struct dev_state *a, const struct dev_state *b)
{
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->queue_size, b->queue_size);
	assert_true(a->addr == b->addr);
	assert_memory_equal(a->mac, b->mac, sizeof(a->mac));
	assert_int_equal(a->opt, b->opt);
	assert_true(a->any == b->any);
}

/*
 * Write every field of dev_src except @skip (0: none), then call @extra
 * to add records; @extra may be NULL.
 */
typedef void (*extra_fn)(vdev_state_writer *w);

static void write_dev(vdev_state_writer *w, uint32_t skip, extra_fn extra)
{
	struct vdev_state_field f[VDEV__ARRAY_SIZE(dev_fields)];
	size_t n = 0, i;

	for (i = 0; i < VDEV__ARRAY_SIZE(dev_fields); i++)
		if (dev_fields[i].tag != skip)
			f[n++] = dev_fields[i];
	assert_int_equal(vdev_state_save_fields(w, f, n, &dev_src), 0);
	if (extra)
		extra(w);
}

/*
 * Load a blob made by write_dev() at top level and expect @err; on
 * failure the destination must be untouched and the reason must mention
 * @what.
 */
static void load_expect(uint32_t skip, extra_fn extra, int err, const char *what,
			struct dev_state *out)
{
	struct dev_state dst, before;
	vdev_state_writer *w;
	vdev_state_reader *r;
	struct vdev_state_record rec;
	const uint8_t *data;
	size_t len;
	int rc;

	assert_int_equal(vdev_state_writer_new(&w), 0);
	write_dev(w, skip, extra);
	finish(w, &data, &len);
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	dst_fill(&dst);
	before = dst;
	rc = vdev_state_load_fields(r, dev_fields, VDEV__ARRAY_SIZE(dev_fields), &dst);
	assert_int_equal(rc, err);
	if (err) {
		assert_memory_equal(&dst, &before, sizeof(dst));
		if (what && !strstr(vdev_state_reader_error(r), what))
			fail_msg("reason \"%s\" does not mention \"%s\"",
				 vdev_state_reader_error(r), what);
		/* The reader stays in error. */
		assert_int_equal(vdev_state_next(r, &rec), err);
	} else {
		assert_int_equal(vdev_state_next(r, &rec), 0); /* section consumed */
		assert_string_equal(vdev_state_reader_error(r), "");
	}
	if (out)
		*out = dst;
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);
}

static void test_fields_happy_path(void **state)
{
	struct dev_state dst;

	(void)state;
	load_expect(0, NULL, 0, NULL, &dst);
	assert_dev_equal(&dst, &dev_src);
}

static void extra_qsz_70000(vdev_state_writer *w)
{
	assert_int_equal(vdev_state_put_u32(w, T_QSZ, 70000), 0);
}

static void extra_qsz_0(vdev_state_writer *w)
{
	assert_int_equal(vdev_state_put_u32(w, T_QSZ, 0), 0);
}

static void extra_qsz_32768(vdev_state_writer *w)
{
	assert_int_equal(vdev_state_put_u32(w, T_QSZ, 32768), 0);
}

static void extra_mode_4(vdev_state_writer *w)
{
	assert_int_equal(vdev_state_put_u8(w, T_MODE, 4), 0);
}

static void extra_addr_low(vdev_state_writer *w)
{
	assert_int_equal(vdev_state_put_u64(w, T_ADDR, 0xfff), 0);
}

static void test_fields_out_of_range(void **state)
{
	struct dev_state dst;

	(void)state;
	load_expect(T_QSZ, extra_qsz_70000, -ERANGE,
		    "field 'queue_size' (tag 0x5f7a7371) at offset ", NULL);
	load_expect(T_QSZ, extra_qsz_70000, -ERANGE, "value 70000 out of range [1, 32768]", NULL);
	load_expect(T_QSZ, extra_qsz_0, -ERANGE, "value 0 out of range [1, 32768]", NULL);
	load_expect(T_MODE, extra_mode_4, -ERANGE, "field 'mode'", NULL);
	load_expect(T_ADDR, extra_addr_low, -ERANGE, "value 4095 out of range", NULL);
	/* The bounds themselves are inside. */
	load_expect(T_QSZ, extra_qsz_32768, 0, NULL, &dst);
	assert_int_equal(dst.queue_size, 32768);
}

static void extra_qsz_u16(vdev_state_writer *w)
{
	assert_int_equal(vdev_state_put_u16(w, T_QSZ, 256), 0);
}

static void extra_mac_bytes8(vdev_state_writer *w)
{
	uint64_t m = 0;

	assert_int_equal(vdev_state_put_bytes(w, T_MAC, &m, 8), 0);
}

static void extra_mac_as_u64(vdev_state_writer *w)
{
	assert_int_equal(vdev_state_put_u64(w, T_MAC, 1), 0);
}

static void extra_qsz_section(vdev_state_writer *w)
{
	assert_int_equal(vdev_state_begin(w, T_QSZ, 0, 0), 0);
	assert_int_equal(vdev_state_put_u32(w, T_QSZ, 256), 0);
	assert_int_equal(vdev_state_end(w), 0);
}

static void test_fields_wrong_type(void **state)
{
	(void)state;
	load_expect(T_QSZ, extra_qsz_u16, -EBADMSG, "field 'queue_size'", NULL);
	load_expect(T_QSZ, extra_qsz_u16, -EBADMSG, "record type 2, expected 3", NULL);
	load_expect(T_MAC, extra_mac_as_u64, -EBADMSG, "field 'mac'", NULL);
	/* A known tag appearing as a section is a type mismatch too. */
	load_expect(T_QSZ, extra_qsz_section, -EBADMSG, "record type 6, expected 3", NULL);
}

static void extra_mac_bytes5(vdev_state_writer *w)
{
	assert_int_equal(vdev_state_put_bytes(w, T_MAC, "abcde", 5), 0);
}

static void extra_mac_bytes0(vdev_state_writer *w)
{
	assert_int_equal(vdev_state_put_bytes(w, T_MAC, NULL, 0), 0);
}

static void test_fields_wrong_bytes_length(void **state)
{
	(void)state;
	load_expect(T_MAC, extra_mac_bytes5, -EBADMSG, "field 'mac' (tag 0x5f63616d)", NULL);
	load_expect(T_MAC, extra_mac_bytes5, -EBADMSG, "5 bytes, expected 6", NULL);
	load_expect(T_MAC, extra_mac_bytes8, -EBADMSG, "8 bytes, expected 6", NULL);
	load_expect(T_MAC, extra_mac_bytes0, -EBADMSG, "0 bytes, expected 6", NULL);
}

static void extra_dup_opt(vdev_state_writer *w)
{
	assert_int_equal(vdev_state_put_u32(w, T_OPT, 5), 0);
}

static void test_fields_duplicate(void **state)
{
	(void)state;
	/* write_dev() already wrote each of these once. */
	load_expect(0, extra_qsz_32768, -EBADMSG, "field 'queue_size'", NULL);
	load_expect(0, extra_qsz_32768, -EBADMSG, "duplicate", NULL);
	load_expect(0, extra_dup_opt, -EBADMSG, "field 'opt'", NULL);
}

static void extra_unknown_required(vdev_state_writer *w)
{
	assert_int_equal(vdev_state_put_u8(w, TAG("new!"), 1), 0);
}

static void extra_unknown_required_section(vdev_state_writer *w)
{
	assert_int_equal(vdev_state_begin(w, TAG("news"), 1, VDEV_STATE_F_REQUIRED), 0);
	assert_int_equal(vdev_state_end(w), 0);
}

static void extra_unknown_optional(vdev_state_writer *w)
{
	uint32_t v = 9;

	assert_int_equal(vdev_state_put(w, TAG("new1"), VDEV_STATE_U32, 0, &v, 4), 0);
	assert_int_equal(vdev_state_put(w, TAG("new2"), VDEV_STATE_BYTES, 0, "zz", 2), 0);
	/* An optional section whose contents would fail if they were read as fields. */
	assert_int_equal(vdev_state_begin(w, TAG("new3"), 4, 0), 0);
	assert_int_equal(vdev_state_put_u8(w, TAG("new!"), 1), 0);
	assert_int_equal(vdev_state_put_u16(w, T_QSZ, 1), 0);
	assert_int_equal(vdev_state_put_u32(w, T_QSZ, 99999), 0);
	assert_int_equal(vdev_state_end(w), 0);
}

static void test_fields_unknown_records(void **state)
{
	struct dev_state dst;

	(void)state;
	load_expect(0, extra_unknown_required, -EPROTONOSUPPORT,
		    "unknown required record 0x2177656e (type 1) at offset", NULL);
	load_expect(0, extra_unknown_required_section, -EPROTONOSUPPORT,
		    "unknown required record 0x7377656e (type 6)", NULL);
	load_expect(0, extra_unknown_optional, 0, NULL, &dst);
	assert_dev_equal(&dst, &dev_src);
}

static void test_fields_missing(void **state)
{
	(void)state;
	load_expect(T_QSZ, NULL, -EBADMSG, "field 'queue_size' (tag 0x5f7a7371) missing", NULL);
	load_expect(T_MAC, NULL, -EBADMSG, "field 'mac'", NULL);
	load_expect(T_MODE, NULL, -EBADMSG, "field 'mode'", NULL);
}

static void test_fields_optional_absent(void **state)
{
	struct dev_state dst;

	(void)state;
	load_expect(T_OPT, NULL, 0, NULL, &dst);
	/* Everything else loaded; the optional field kept the destination's bytes. */
	assert_int_equal(dst.opt, 0xa5a5a5a5);
	dst.opt = dev_src.opt;
	assert_dev_equal(&dst, &dev_src);
}

/* Fields inside a section, then the walk continues in the parent. */
static void test_fields_in_section(void **state)
{
	struct dev_state dst;
	vdev_state_writer *w;
	vdev_state_reader *r;
	struct vdev_state_record rec;
	const uint8_t *data;
	size_t len;

	(void)state;
	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_state_put_u8(w, T_MODE, 1), 0); /* not in the section */
	assert_int_equal(vdev_state_begin(w, TAG("DEV_"), 1, VDEV_STATE_F_REQUIRED), 0);
	write_dev(w, 0, NULL);
	assert_int_equal(vdev_state_end(w), 0);
	assert_int_equal(vdev_state_put_u8(w, TAG("post"), 1), 0);
	finish(w, &data, &len);

	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	expect_uint(r, T_MODE, VDEV_STATE_U8, VDEV_STATE_F_REQUIRED, 1);
	assert_int_equal(vdev_state_next(r, &rec), 1);
	assert_int_equal(rec.type, VDEV_STATE_SECTION);
	assert_int_equal(vdev_state_enter(r), 0);
	dst_fill(&dst);
	assert_int_equal(vdev_state_load_fields(r, dev_fields, VDEV__ARRAY_SIZE(dev_fields),
						&dst), 0);
	assert_dev_equal(&dst, &dev_src);
	assert_int_equal(vdev_state_leave(r), 0);
	expect_uint(r, TAG("post"), VDEV_STATE_U8, VDEV_STATE_F_REQUIRED, 1);
	vdev_state_reader_free(r);

	/* At top level the section is an unknown required record. */
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	dst_fill(&dst);
	struct dev_state before = dst;
	assert_int_equal(vdev_state_load_fields(r, dev_fields, VDEV__ARRAY_SIZE(dev_fields),
						&dst), -EPROTONOSUPPORT);
	assert_memory_equal(&dst, &before, sizeof(dst));
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);
}

static void test_fields_bad_tables(void **state)
{
	struct vdev_state_field f[3];
	struct dev_state dst, before;
	vdev_state_writer *w;
	vdev_state_reader *r;
	const uint8_t *data;
	const void *p;
	size_t len;

	(void)state;
	assert_int_equal(vdev_state_writer_new(&w), 0);
	write_dev(w, 0, NULL);
	finish(w, &data, &len);
	dst_fill(&dst);
	before = dst;

	/* Duplicate tags in the table. */
	memcpy(f, dev_fields, sizeof(f));
	f[2].tag = f[0].tag;
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	assert_int_equal(vdev_state_load_fields(r, f, 3, &dst), -EINVAL);
	assert_non_null(strstr(vdev_state_reader_error(r), "field table: field 'queue_size'"));
	vdev_state_reader_free(r);

	/* Bad type, and min > max. */
	memcpy(f, dev_fields, sizeof(f));
	f[1].type = VDEV_STATE_SECTION;
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	assert_int_equal(vdev_state_load_fields(r, f, 3, &dst), -EINVAL);
	vdev_state_reader_free(r);
	memcpy(f, dev_fields, sizeof(f));
	f[2].min = 10;
	f[2].max = 9;
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	assert_int_equal(vdev_state_load_fields(r, f, 3, &dst), -EINVAL);
	assert_int_equal(vdev_state_load_fields(NULL, f, 3, &dst), -EINVAL);
	vdev_state_reader_free(r);
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	assert_int_equal(vdev_state_load_fields(r, NULL, 3, &dst), -EINVAL);
	assert_int_equal(vdev_state_load_fields(r, f, 3, NULL), -EINVAL);
	vdev_state_reader_free(r);
	assert_memory_equal(&dst, &before, sizeof(dst));
	vdev_state_writer_free(w);

	/* Saving with a bad table fails and sticks. */
	memcpy(f, dev_fields, sizeof(f));
	f[1].tag = f[0].tag;
	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_state_save_fields(w, f, 3, &dev_src), -EINVAL);
	assert_int_equal(vdev_state_writer_finish(w, &p, &len), -EINVAL);
	vdev_state_writer_free(w);
	memcpy(f, dev_fields, sizeof(f));
	f[0].type = 0;
	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_state_save_fields(w, f, 3, &dev_src), -EINVAL);
	assert_int_equal(vdev_state_put_u8(w, 1, 1), -EINVAL);
	vdev_state_writer_free(w);
	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_state_save_fields(NULL, f, 3, &dev_src), -EINVAL);
	assert_int_equal(vdev_state_save_fields(w, dev_fields, 3, NULL), -EINVAL);
	vdev_state_writer_free(w);
	/* An empty table saves nothing and loads an empty section. */
	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_state_save_fields(w, NULL, 0, NULL), 0);
	finish(w, &data, &len);
	assert_int_equal(len, 16);
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	assert_int_equal(vdev_state_load_fields(r, NULL, 0, NULL), 0);
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);
}

/* A table much larger than the section, and the reverse, in any order. */
static void test_fields_large_table(void **state)
{
	enum { N = 500 };
	struct vdev_state_field *f;
	uint32_t *src, *dst;
	vdev_state_writer *w;
	vdev_state_reader *r;
	const uint8_t *data;
	size_t len, i;

	(void)state;
	f = calloc(N, sizeof(*f));
	src = calloc(N, sizeof(*src));
	dst = calloc(N, sizeof(*dst));
	assert_true(f && src && dst);
	for (i = 0; i < N; i++) {
		/* Tags in a scrambled order so the index has to sort them. */
		f[i] = (struct vdev_state_field){
			.name = "f", .tag = (uint32_t)((i * 7919) % 10007),
			.type = VDEV_STATE_U32, .offset = (uint32_t)(i * sizeof(uint32_t)),
		};
		src[i] = (uint32_t)(i * 31 + 1);
	}
	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_state_save_fields(w, f, N, src), 0);
	finish(w, &data, &len);
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	assert_int_equal(vdev_state_load_fields(r, f, N, dst), 0);
	assert_memory_equal(dst, src, N * sizeof(*src));
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);
	free(f);
	free(src);
	free(dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_all_types),
		cmocka_unit_test(test_wire_encoding),
		cmocka_unit_test(test_empty_blob),
		cmocka_unit_test(test_large_bytes_growth),
		cmocka_unit_test(test_nested_sections_and_leave),
		cmocka_unit_test(test_depth_limit_write),
		cmocka_unit_test(test_depth_limit_read),
		cmocka_unit_test(test_truncation_every_offset),
		cmocka_unit_test(test_corruption_every_byte),
		cmocka_unit_test(test_validate_reason),
		cmocka_unit_test(test_bad_header),
		cmocka_unit_test(test_bad_records),
		cmocka_unit_test(test_record_uint),
		cmocka_unit_test(test_reader_fail_sticky),
		cmocka_unit_test(test_writer_sticky_error),
		cmocka_unit_test(test_unbalanced_finish),
		cmocka_unit_test(test_write_after_finish),
		cmocka_unit_test(test_fields_happy_path),
		cmocka_unit_test(test_fields_out_of_range),
		cmocka_unit_test(test_fields_wrong_type),
		cmocka_unit_test(test_fields_wrong_bytes_length),
		cmocka_unit_test(test_fields_duplicate),
		cmocka_unit_test(test_fields_unknown_records),
		cmocka_unit_test(test_fields_missing),
		cmocka_unit_test(test_fields_optional_absent),
		cmocka_unit_test(test_fields_in_section),
		cmocka_unit_test(test_fields_bad_tables),
		cmocka_unit_test(test_fields_large_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
