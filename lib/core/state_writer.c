/* SPDX-License-Identifier: MIT */
/*
 * State blob writer: appends records to a growable buffer. A section's
 * header is written with a zero length when it is opened and its length
 * is back-patched when it is closed, so nothing is buffered twice.
 *
 * Errors are sticky: once a call fails (bad argument, too deep, too big,
 * out of memory, unbalanced end) every later call returns that error, so
 * a saver may check only the result of vdev_state_writer_finish() and
 * never ship a blob with a record silently missing. The exceptions are
 * NULL arguments and finishing with a section still open, which leave the
 * blob intact and are not sticky.
 *
 * Writing after vdev_state_writer_finish() is allowed: records are
 * appended at the top level and a later finish covers them (the pointer
 * the earlier finish returned becomes invalid).
 */
#include <errno.h>
#include <stdlib.h>

#include "core.h"
#include "state_format.h"

struct vdev_state_writer {
	uint8_t *buf;
	size_t len;   /* bytes used, including the blob header */
	size_t cap;
	int err;      /* sticky error, 0 if none */
	unsigned int depth;
	/* Offset of each open section's record header. */
	size_t open[VDEV_STATE_MAX_DEPTH];
};

#define WRITER_INITIAL_CAP 256

int vdev_state_writer_new(vdev_state_writer **out)
{
	vdev_state_writer *w;

	if (!out)
		return -EINVAL;
	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->buf = malloc(WRITER_INITIAL_CAP);
	if (!w->buf) {
		free(w);
		return -ENOMEM;
	}
	w->cap = WRITER_INITIAL_CAP;
	/* The blob header is filled in by finish. */
	memset(w->buf, 0, VDEV_STATE_HEADER_SIZE);
	w->len = VDEV_STATE_HEADER_SIZE;
	*out = w;
	return 0;
}

void vdev_state_writer_free(vdev_state_writer *w)
{
	if (!w)
		return;
	free(w->buf);
	free(w);
}

int vdev__state_writer_fail(vdev_state_writer *w, int err)
{
	if (!w->err)
		w->err = err;
	return w->err;
}

/*
 * Make room for a record header plus @payload bytes and return a pointer
 * to the record header, or NULL with the sticky error set. The whole
 * payload (everything after the blob header) must fit the header's u32
 * length; as every section lies inside it, that bounds sections and
 * records too.
 */
static uint8_t *writer_reserve(vdev_state_writer *w, size_t payload)
{
	uint64_t used = w->len - VDEV_STATE_HEADER_SIZE;
	size_t add, need;
	uint8_t *p;

	if (payload > UINT32_MAX ||
	    used + VDEV_STATE_RECORD_HEADER_SIZE + payload > UINT32_MAX) {
		vdev__state_writer_fail(w, -EFBIG);
		return NULL;
	}
	add = VDEV_STATE_RECORD_HEADER_SIZE + payload;
	if (add > SIZE_MAX - w->len) { /* only possible with a 32-bit size_t */
		vdev__state_writer_fail(w, -ENOMEM);
		return NULL;
	}
	need = w->len + add;
	if (need > w->cap) {
		size_t cap = w->cap;

		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		p = realloc(w->buf, cap);
		if (!p) {
			vdev__state_writer_fail(w, -ENOMEM);
			return NULL;
		}
		w->buf = p;
		w->cap = cap;
	}
	p = w->buf + w->len;
	w->len = need;
	return p;
}

static void put_record_header(uint8_t *p, uint32_t tag, uint8_t type, uint8_t flags,
			      uint16_t version, uint32_t len)
{
	vdev__put_le32(p + VDEV__STATE_REC_TAG, tag);
	p[VDEV__STATE_REC_TYPE] = type;
	p[VDEV__STATE_REC_FLAGS] = flags;
	vdev__put_le16(p + VDEV__STATE_REC_VERSION, version);
	vdev__put_le32(p + VDEV__STATE_REC_LEN, len);
}

int vdev_state_begin(vdev_state_writer *w, uint32_t tag, uint16_t version, uint8_t flags)
{
	uint8_t *p;

	if (!w)
		return -EINVAL;
	if (w->err)
		return w->err;
	if (flags & ~VDEV__STATE_F_KNOWN)
		return vdev__state_writer_fail(w, -EINVAL);
	if (w->depth >= VDEV_STATE_MAX_DEPTH)
		return vdev__state_writer_fail(w, -E2BIG);
	p = writer_reserve(w, 0);
	if (!p)
		return w->err;
	/* Length 0 for now; vdev_state_end() patches it. */
	put_record_header(p, tag, VDEV_STATE_SECTION, flags, version, 0);
	w->open[w->depth++] = (size_t)(p - w->buf);
	return 0;
}

int vdev_state_end(vdev_state_writer *w)
{
	size_t hdr, body;

	if (!w)
		return -EINVAL;
	if (w->err)
		return w->err;
	if (!w->depth)
		return vdev__state_writer_fail(w, -EINVAL);
	hdr = w->open[--w->depth];
	body = w->len - hdr - VDEV_STATE_RECORD_HEADER_SIZE;
	/* writer_reserve() keeps the whole payload within u32, so body fits. */
	vdev__put_le32(w->buf + hdr + VDEV__STATE_REC_LEN, (uint32_t)body);
	return 0;
}

int vdev_state_put(vdev_state_writer *w, uint32_t tag, enum vdev_state_type type,
		   uint8_t flags, const void *data, size_t len)
{
	uint8_t *p;
	uint64_t v;

	if (!w)
		return -EINVAL;
	if (w->err)
		return w->err;
	if (flags & ~VDEV__STATE_F_KNOWN)
		return vdev__state_writer_fail(w, -EINVAL);
	if (vdev__state_is_scalar(type)) {
		if (!data || len != vdev__state_scalar_size(type))
			return vdev__state_writer_fail(w, -EINVAL);
	} else if (type == VDEV_STATE_BYTES) {
		if (!data && len)
			return vdev__state_writer_fail(w, -EINVAL);
	} else {
		/* Sections go through vdev_state_begin(); anything else is unknown. */
		return vdev__state_writer_fail(w, -EINVAL);
	}

	p = writer_reserve(w, len);
	if (!p)
		return w->err;
	put_record_header(p, tag, (uint8_t)type, flags, 0, (uint32_t)len);
	p += VDEV_STATE_RECORD_HEADER_SIZE;

	/* Scalars arrive in host order; the wire is little-endian. */
	switch (type) {
	case VDEV_STATE_U8:
		*p = *(const uint8_t *)data;
		break;
	case VDEV_STATE_U16: {
		uint16_t v16;

		memcpy(&v16, data, sizeof(v16));
		vdev__put_le16(p, v16);
		break;
	}
	case VDEV_STATE_U32: {
		uint32_t v32;

		memcpy(&v32, data, sizeof(v32));
		vdev__put_le32(p, v32);
		break;
	}
	case VDEV_STATE_U64:
		memcpy(&v, data, sizeof(v));
		vdev__put_le64(p, v);
		break;
	default:
		if (len)
			memcpy(p, data, len);
		break;
	}
	return 0;
}

int vdev_state_put_u8(vdev_state_writer *w, uint32_t tag, uint8_t v)
{
	return vdev_state_put(w, tag, VDEV_STATE_U8, VDEV_STATE_F_REQUIRED, &v, sizeof(v));
}

int vdev_state_put_u16(vdev_state_writer *w, uint32_t tag, uint16_t v)
{
	return vdev_state_put(w, tag, VDEV_STATE_U16, VDEV_STATE_F_REQUIRED, &v, sizeof(v));
}

int vdev_state_put_u32(vdev_state_writer *w, uint32_t tag, uint32_t v)
{
	return vdev_state_put(w, tag, VDEV_STATE_U32, VDEV_STATE_F_REQUIRED, &v, sizeof(v));
}

int vdev_state_put_u64(vdev_state_writer *w, uint32_t tag, uint64_t v)
{
	return vdev_state_put(w, tag, VDEV_STATE_U64, VDEV_STATE_F_REQUIRED, &v, sizeof(v));
}

int vdev_state_put_bytes(vdev_state_writer *w, uint32_t tag, const void *data, size_t len)
{
	return vdev_state_put(w, tag, VDEV_STATE_BYTES, VDEV_STATE_F_REQUIRED, data, len);
}

int vdev_state_writer_finish(vdev_state_writer *w, const void **data, size_t *len)
{
	uint8_t *h;

	if (!w || !data || !len)
		return -EINVAL;
	if (w->err)
		return w->err;
	if (w->depth)
		return -EINVAL; /* not sticky: closing the sections fixes it */

	h = w->buf;
	memcpy(h + VDEV__STATE_HDR_MAGIC, VDEV__STATE_MAGIC, VDEV__STATE_MAGIC_LEN);
	vdev__put_le16(h + VDEV__STATE_HDR_VERSION, VDEV__STATE_FORMAT_VERSION);
	vdev__put_le16(h + VDEV__STATE_HDR_FLAGS, 0);
	vdev__put_le32(h + VDEV__STATE_HDR_PAYLOAD_LEN,
		       (uint32_t)(w->len - VDEV_STATE_HEADER_SIZE));
	vdev__put_le32(h + VDEV__STATE_HDR_RESERVED, 0);
	*data = w->buf;
	*len = w->len;
	return 0;
}
