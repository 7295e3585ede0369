/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the device-state loader: a state blob is untrusted migration input.
 *
 * For every input: vdev_state_reader_new(), and if it accepts the blob,
 *  - walk it completely (entering every section) and re-encode it with the
 *    writer: the format has exactly one encoding per structure, so the copy
 *    must be byte-identical to the input;
 *  - run vdev_state_load_fields() with a small table at top level and inside
 *    the first section: on failure the destination must be untouched and
 *    the reader must stay in error with a reason; on success every ranged
 *    field must be in range.
 * A broken invariant traps (that is the harness's oracle, not library code).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <vdev/vdev.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                        \
	do {                               \
		if (!(cond))               \
			__builtin_trap();  \
	} while (0)

/* Tags 1..7 so hand-made seeds can hit them; see fuzz/corpus/state/. */
struct fz_state {
	uint8_t mode;
	uint16_t flags;
	uint32_t qsize;
	uint64_t addr;
	uint8_t mac[4];
	uint32_t opt;
	uint8_t empty[1];
};

static const struct vdev_state_field fz_fields[] = {
	{ .name = "mode", .tag = 1, .type = VDEV_STATE_U8,
	  .offset = offsetof(struct fz_state, mode), .min = 0, .max = 3 },
	{ .name = "flags", .tag = 2, .type = VDEV_STATE_U16,
	  .offset = offsetof(struct fz_state, flags) },
	{ .name = "qsize", .tag = 3, .type = VDEV_STATE_U32,
	  .offset = offsetof(struct fz_state, qsize), .min = 1, .max = 1024 },
	{ .name = "addr", .tag = 4, .type = VDEV_STATE_U64,
	  .offset = offsetof(struct fz_state, addr), .min = 0x1000, .max = UINT64_MAX },
	{ .name = "mac", .tag = 5, .type = VDEV_STATE_BYTES,
	  .offset = offsetof(struct fz_state, mac), .size = 4 },
	{ .name = "opt", .tag = 6, .type = VDEV_STATE_U32, .flags = VDEV_STATE_FIELD_OPTIONAL,
	  .offset = offsetof(struct fz_state, opt), .min = 5, .max = 5 },
	{ .name = "empty", .tag = 7, .type = VDEV_STATE_BYTES,
	  .flags = VDEV_STATE_FIELD_OPTIONAL, .offset = offsetof(struct fz_state, empty) },
};

#define NFIELDS (sizeof(fz_fields) / sizeof(fz_fields[0]))

/* Put one scalar back, converting the wire value to host order. */
static int put_scalar(vdev_state_writer *w, const struct vdev_state_record *rec, uint64_t v)
{
	uint8_t v8 = (uint8_t)v;
	uint16_t v16 = (uint16_t)v;
	uint32_t v32 = (uint32_t)v;

	switch (rec->type) {
	case VDEV_STATE_U8:
		return vdev_state_put(w, rec->tag, VDEV_STATE_U8, rec->flags, &v8, 1);
	case VDEV_STATE_U16:
		return vdev_state_put(w, rec->tag, VDEV_STATE_U16, rec->flags, &v16, 2);
	case VDEV_STATE_U32:
		return vdev_state_put(w, rec->tag, VDEV_STATE_U32, rec->flags, &v32, 4);
	default:
		return vdev_state_put(w, rec->tag, VDEV_STATE_U64, rec->flags, &v, 8);
	}
}

/* Walk everything (iteratively) and rebuild the blob; it must come out identical. */
static void walk_and_rewrite(const uint8_t *data, size_t size)
{
	struct vdev_state_record rec;
	vdev_state_reader *r;
	vdev_state_writer *w;
	unsigned int depth = 0;
	const void *out;
	size_t out_len;
	uint64_t v;
	int rc;

	if (vdev_state_reader_new(data, size, &r))
		return;
	if (vdev_state_writer_new(&w)) {
		vdev_state_reader_free(r);
		return;
	}
	CHECK(vdev_state_enter(r) == -EINVAL);
	for (;;) {
		rc = vdev_state_next(r, &rec);
		CHECK(rc == 0 || rc == 1);
		if (!rc) {
			CHECK(vdev_state_enter(r) == -EINVAL);
			if (!depth)
				break;
			CHECK(vdev_state_leave(r) == 0);
			CHECK(vdev_state_end(w) == 0);
			depth--;
			continue;
		}
		CHECK((const uint8_t *)rec.data >= data + VDEV_STATE_HEADER_SIZE +
		      VDEV_STATE_RECORD_HEADER_SIZE);
		CHECK((size_t)((const uint8_t *)rec.data - data) <= size);
		CHECK(rec.len <= size - (size_t)((const uint8_t *)rec.data - data));
		CHECK((rec.flags & ~VDEV_STATE_F_REQUIRED) == 0);
		switch (rec.type) {
		case VDEV_STATE_SECTION:
			CHECK(vdev_state_record_uint(&rec, &v) == -EBADMSG);
			CHECK(vdev_state_begin(w, rec.tag, rec.version, rec.flags) == 0);
			CHECK(vdev_state_enter(r) == 0);
			depth++;
			CHECK(depth <= VDEV_STATE_MAX_DEPTH);
			break;
		case VDEV_STATE_BYTES:
			CHECK(rec.version == 0);
			CHECK(vdev_state_record_uint(&rec, &v) == -EBADMSG);
			CHECK(vdev_state_put(w, rec.tag, VDEV_STATE_BYTES, rec.flags, rec.data,
					     rec.len) == 0);
			break;
		default:
			CHECK(rec.version == 0);
			CHECK(vdev_state_record_uint(&rec, &v) == 0);
			CHECK(put_scalar(w, &rec, v) == 0);
			break;
		}
	}
	CHECK(vdev_state_leave(r) == -EINVAL);
	CHECK(vdev_state_writer_finish(w, &out, &out_len) == 0);
	CHECK(out_len == size);
	CHECK(memcmp(out, data, size) == 0);
	vdev_state_writer_free(w);
	vdev_state_reader_free(r);
}

static void check_loaded(vdev_state_reader *r, int rc, const struct fz_state *dst,
			 const struct fz_state *before)
{
	struct vdev_state_record rec;
	const char *why = vdev_state_reader_error(r);

	if (rc) {
		CHECK(rc < 0);
		CHECK(memcmp(dst, before, sizeof(*dst)) == 0);
		CHECK(why[0] != '\0');
		CHECK(strlen(why) < 4096);
		CHECK(vdev_state_next(r, &rec) == rc);
		return;
	}
	CHECK(why[0] == '\0');
	CHECK(vdev_state_next(r, &rec) == 0); /* the section was consumed */
	CHECK(dst->mode <= 3);
	CHECK(dst->qsize >= 1 && dst->qsize <= 1024);
	CHECK(dst->addr >= 0x1000);
	CHECK(dst->opt == 5 || dst->opt == before->opt);
}

static void load(const uint8_t *data, size_t size, int in_section)
{
	struct fz_state dst, before;
	struct vdev_state_record rec;
	vdev_state_reader *r;
	int rc;

	if (vdev_state_reader_new(data, size, &r))
		return;
	if (in_section) {
		do {
			rc = vdev_state_next(r, &rec);
		} while (rc == 1 && rec.type != VDEV_STATE_SECTION);
		if (rc != 1) {
			vdev_state_reader_free(r);
			return;
		}
		CHECK(vdev_state_enter(r) == 0);
	}
	memset(&dst, 0x5a, sizeof(dst));
	before = dst;
	rc = vdev_state_load_fields(r, fz_fields, NFIELDS, &dst);
	check_loaded(r, rc, &dst, &before);
	if (in_section)
		CHECK(vdev_state_leave(r) == rc); /* a failed load leaves it in error */
	vdev_state_reader_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	walk_and_rewrite(data, size);
	load(data, size, 0);
	load(data, size, 1);
	return 0;
}
