/* SPDX-License-Identifier: MIT */
/*
 * State blob reader. A blob is untrusted (it may come from a migration
 * stream), so vdev_state_reader_new() walks the whole structure once
 * before anything is handed out; after that, next/enter/leave only move
 * between offsets already known to be sound.
 *
 * The check is iterative with an explicit stack bounded by
 * VDEV_STATE_MAX_DEPTH: the input never controls recursion depth.
 *
 * A reader in error (vdev_state_fail()) stays in error: next, enter,
 * leave and vdev_state_load_fields() return the first error recorded.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core.h"
#include "state_format.h"

struct state_level {
	size_t pos; /* next record header */
	size_t end; /* end of this section's payload */
};

struct vdev_state_reader {
	const uint8_t *data;
	size_t len;
	unsigned int depth; /* 0 = top level */
	struct state_level lvl[VDEV_STATE_MAX_DEPTH + 1];
	size_t last;        /* offset of the last record next() returned, or NO_RECORD */
	int err;            /* sticky error, 0 if none */
	char msg[VDEV__STATE_MSG_SIZE];
};

#define NO_RECORD SIZE_MAX

static int check_fail(char *msg, size_t msg_size, int err, const char *fmt, ...)
	VDEV_PRINTF(4, 5);

static int check_fail(char *msg, size_t msg_size, int err, const char *fmt, ...)
{
	va_list ap;

	if (msg && msg_size) {
		va_start(ap, fmt);
		vsnprintf(msg, msg_size, fmt, ap);
		va_end(ap);
	}
	return err;
}

static int check_header(const uint8_t *b, size_t len, char *msg, size_t msg_size)
{
	uint16_t version, flags;
	uint32_t payload, reserved;

	if (len < VDEV_STATE_HEADER_SIZE)
		return check_fail(msg, msg_size, -EBADMSG,
				  "blob of %zu bytes is shorter than its %d-byte header",
				  len, VDEV_STATE_HEADER_SIZE);
	if (memcmp(b + VDEV__STATE_HDR_MAGIC, VDEV__STATE_MAGIC, VDEV__STATE_MAGIC_LEN))
		return check_fail(msg, msg_size, -EBADMSG,
				  "offset 0: bad magic (not a state blob)");

	/* A newer format may lay out everything after the version differently. */
	version = vdev__le16(b + VDEV__STATE_HDR_VERSION);
	if (version > VDEV__STATE_FORMAT_VERSION)
		return check_fail(msg, msg_size, -EPROTONOSUPPORT,
				  "offset %d: format version %u is newer than %u",
				  VDEV__STATE_HDR_VERSION, version, VDEV__STATE_FORMAT_VERSION);
	if (version != VDEV__STATE_FORMAT_VERSION)
		return check_fail(msg, msg_size, -EBADMSG, "offset %d: bad format version %u",
				  VDEV__STATE_HDR_VERSION, version);

	flags = vdev__le16(b + VDEV__STATE_HDR_FLAGS);
	if (flags)
		return check_fail(msg, msg_size, -EBADMSG,
				  "offset %d: unknown header flags 0x%x",
				  VDEV__STATE_HDR_FLAGS, flags);

	reserved = vdev__le32(b + VDEV__STATE_HDR_RESERVED);
	if (reserved)
		return check_fail(msg, msg_size, -EBADMSG,
				  "offset %d: reserved header field is 0x%" PRIx32 ", not 0",
				  VDEV__STATE_HDR_RESERVED, reserved);

	payload = vdev__le32(b + VDEV__STATE_HDR_PAYLOAD_LEN);
	if ((uint64_t)payload != (uint64_t)(len - VDEV_STATE_HEADER_SIZE))
		return check_fail(msg, msg_size, -EBADMSG,
				  "offset %d: payload length %" PRIu32
				  " but %zu bytes follow the header", VDEV__STATE_HDR_PAYLOAD_LEN,
				  payload, len - VDEV_STATE_HEADER_SIZE);
	return 0;
}

/* Check one record header at @pos, whose enclosing section ends at @end. */
static int check_record(const uint8_t *b, size_t pos, size_t end, unsigned int depth,
			char *msg, size_t msg_size)
{
	const uint8_t *h = b + pos;
	uint32_t tag, rlen, want;
	uint8_t type, flags;
	uint16_t version;

	if (end - pos < VDEV_STATE_RECORD_HEADER_SIZE)
		return check_fail(msg, msg_size, -EBADMSG,
				  "offset %zu: %zu bytes left in section, too few for a record"
				  " header", pos, end - pos);

	tag = vdev__le32(h + VDEV__STATE_REC_TAG);
	type = h[VDEV__STATE_REC_TYPE];
	flags = h[VDEV__STATE_REC_FLAGS];
	version = vdev__le16(h + VDEV__STATE_REC_VERSION);
	rlen = vdev__le32(h + VDEV__STATE_REC_LEN);

	if (type < VDEV_STATE_U8 || type > VDEV_STATE_SECTION)
		return check_fail(msg, msg_size, -EBADMSG,
				  "record 0x%08" PRIx32 " at offset %zu: unknown type %u",
				  tag, pos, type);
	if (flags & ~VDEV__STATE_F_KNOWN)
		return check_fail(msg, msg_size, -EBADMSG,
				  "record 0x%08" PRIx32 " at offset %zu: unknown flags 0x%x",
				  tag, pos, flags);
	if (rlen > end - pos - VDEV_STATE_RECORD_HEADER_SIZE)
		return check_fail(msg, msg_size, -EBADMSG,
				  "record 0x%08" PRIx32 " at offset %zu: length %" PRIu32
				  " exceeds section end %zu", tag, pos, rlen, end);
	if (type != VDEV_STATE_SECTION && version)
		return check_fail(msg, msg_size, -EBADMSG,
				  "record 0x%08" PRIx32 " at offset %zu: version %u on a"
				  " non-section", tag, pos, version);
	want = vdev__state_scalar_size(type);
	if (want && rlen != want)
		return check_fail(msg, msg_size, -EBADMSG,
				  "record 0x%08" PRIx32 " at offset %zu: scalar of type %u has"
				  " length %" PRIu32 ", not %" PRIu32, tag, pos, type, rlen, want);
	if (type == VDEV_STATE_SECTION && depth >= VDEV_STATE_MAX_DEPTH)
		return check_fail(msg, msg_size, -EBADMSG,
				  "record 0x%08" PRIx32 " at offset %zu: sections nested deeper"
				  " than %d", tag, pos, VDEV_STATE_MAX_DEPTH);
	return 0;
}

int vdev__state_check(const void *data, size_t len, char *msg, size_t msg_size)
{
	const uint8_t *b = data;
	size_t ends[VDEV_STATE_MAX_DEPTH + 1];
	unsigned int depth = 0;
	size_t pos;
	int rc;

	if (msg && msg_size)
		msg[0] = '\0';
	if (!b)
		return check_fail(msg, msg_size, -EINVAL, "no blob");
	rc = check_header(b, len, msg, msg_size);
	if (rc)
		return rc;

	pos = VDEV_STATE_HEADER_SIZE;
	ends[0] = len;
	for (;;) {
		const uint8_t *h;
		uint32_t rlen;

		/* Pop every section that ends here (empty ones included). */
		while (depth && pos == ends[depth])
			depth--;
		if (pos == ends[0])
			break;
		rc = check_record(b, pos, ends[depth], depth, msg, msg_size);
		if (rc)
			return rc;
		/* Sound now: rlen fits inside ends[depth], depth < MAX for a section. */
		h = b + pos;
		rlen = vdev__le32(h + VDEV__STATE_REC_LEN);
		pos += VDEV_STATE_RECORD_HEADER_SIZE;
		if (h[VDEV__STATE_REC_TYPE] == VDEV_STATE_SECTION)
			ends[++depth] = pos + rlen; /* descend: its records come next */
		else
			pos += rlen;
	}
	return 0;
}

int vdev_state_reader_new(const void *data, size_t len, vdev_state_reader **out)
{
	vdev_state_reader *r;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!data)
		return -EINVAL;
	/* No reader is returned on failure: vdev_state_validate() gives the reason. */
	rc = vdev__state_check(data, len, NULL, 0);
	if (rc)
		return rc;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->data = data;
	r->len = len;
	r->lvl[0].pos = VDEV_STATE_HEADER_SIZE;
	r->lvl[0].end = len;
	r->last = NO_RECORD;
	*out = r;
	return 0;
}

void vdev_state_reader_free(vdev_state_reader *r)
{
	free(r);
}

int vdev_state_next(vdev_state_reader *r, struct vdev_state_record *rec)
{
	struct state_level *l;
	const uint8_t *h;

	if (!r || !rec)
		return -EINVAL;
	if (r->err)
		return r->err;
	r->last = NO_RECORD;
	l = &r->lvl[r->depth];
	if (l->pos >= l->end)
		return 0;

	/* The structure was verified by vdev_state_reader_new(). */
	h = r->data + l->pos;
	memset(rec, 0, sizeof(*rec));
	rec->tag = vdev__le32(h + VDEV__STATE_REC_TAG);
	rec->type = h[VDEV__STATE_REC_TYPE];
	rec->flags = h[VDEV__STATE_REC_FLAGS];
	rec->version = vdev__le16(h + VDEV__STATE_REC_VERSION);
	rec->len = vdev__le32(h + VDEV__STATE_REC_LEN);
	rec->data = h + VDEV_STATE_RECORD_HEADER_SIZE;
	r->last = l->pos;
	l->pos += VDEV_STATE_RECORD_HEADER_SIZE + (size_t)rec->len;
	return 1;
}

int vdev_state_enter(vdev_state_reader *r)
{
	const uint8_t *h;
	size_t start;

	if (!r)
		return -EINVAL;
	if (r->err)
		return r->err;
	if (r->last == NO_RECORD)
		return -EINVAL;
	h = r->data + r->last;
	if (h[VDEV__STATE_REC_TYPE] != VDEV_STATE_SECTION || r->depth >= VDEV_STATE_MAX_DEPTH)
		return -EINVAL;
	start = r->last + VDEV_STATE_RECORD_HEADER_SIZE;
	r->depth++;
	r->lvl[r->depth].pos = start;
	r->lvl[r->depth].end = start + vdev__le32(h + VDEV__STATE_REC_LEN);
	r->last = NO_RECORD;
	return 0;
}

int vdev_state_leave(vdev_state_reader *r)
{
	if (!r)
		return -EINVAL;
	if (r->err)
		return r->err;
	if (!r->depth)
		return -EINVAL;
	/* The parent's position is already past the section record. */
	r->depth--;
	r->last = NO_RECORD;
	return 0;
}

int vdev_state_record_uint(const struct vdev_state_record *rec, uint64_t *v)
{
	const uint8_t *p;

	if (!rec || !v)
		return -EINVAL;
	if (!vdev__state_is_scalar(rec->type) || rec->len != vdev__state_scalar_size(rec->type) ||
	    !rec->data)
		return -EBADMSG;
	p = rec->data;
	switch (rec->type) {
	case VDEV_STATE_U8:
		*v = p[0];
		break;
	case VDEV_STATE_U16:
		*v = vdev__le16(p);
		break;
	case VDEV_STATE_U32:
		*v = vdev__le32(p);
		break;
	default:
		*v = vdev__le64(p);
		break;
	}
	return 0;
}

int vdev_state_fail(vdev_state_reader *r, int err, const char *fmt, ...)
{
	va_list ap;

	if (!r || r->err)
		return err; /* only the first failure is kept */
	/* A reader must end up in error even if a loader passes err >= 0. */
	r->err = err < 0 ? err : -EINVAL;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
		va_end(ap);
	} else {
		snprintf(r->msg, sizeof(r->msg), "error %d", r->err);
	}
	return err;
}

const char *vdev_state_reader_error(const vdev_state_reader *r)
{
	return r ? r->msg : "";
}

size_t vdev__state_record_offset(const vdev_state_reader *r, const struct vdev_state_record *rec)
{
	return (size_t)((const uint8_t *)rec->data - r->data) - VDEV_STATE_RECORD_HEADER_SIZE;
}

int vdev_state_validate(const void *data, size_t len, char *why, size_t why_len)
{
	return vdev__state_check(data, len, why, why_len);
}
