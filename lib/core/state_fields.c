/* SPDX-License-Identifier: MIT */
/*
 * Declarative save/load of flat structs through field tables.
 *
 * Loading stages every value first and copies into the destination only
 * once the whole section has passed (type, length, range, duplicates,
 * unknown required records, presence), so a bad stream never leaves a
 * device half-loaded. Tags are looked up through a sorted index, so a
 * large table against a long section stays O((n + m) log n).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core.h"
#include "state_format.h"

struct field_index {
	uint32_t tag;
	size_t idx; /* into the caller's table */
};

struct field_stage {
	bool seen;
	uint64_t val;      /* scalars */
	const void *data;  /* bytes: points into the blob */
};

static const char *field_name(const struct vdev_state_field *f)
{
	return f->name ? f->name : "?";
}

static int cmp_index(const void *a, const void *b)
{
	const struct field_index *x = a, *y = b;

	return (x->tag > y->tag) - (x->tag < y->tag);
}

/*
 * Check a field table and build its tag index (sorted by tag).
 * Returns 0, -EINVAL with *bad set to the offending field, or -ENOMEM.
 * *out is NULL for an empty table.
 */
static int build_index(const struct vdev_state_field *fields, size_t n,
		       struct field_index **out, size_t *bad, bool *dup)
{
	struct field_index *ix;
	size_t i;

	*out = NULL;
	*dup = false;
	*bad = SIZE_MAX;
	if (!n)
		return 0;
	for (i = 0; i < n; i++) {
		const struct vdev_state_field *f = &fields[i];

		if (f->type < VDEV_STATE_U8 || f->type > VDEV_STATE_BYTES || f->min > f->max) {
			*bad = i;
			return -EINVAL;
		}
	}
	ix = calloc(n, sizeof(*ix));
	if (!ix)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		ix[i] = (struct field_index){ fields[i].tag, i };
	qsort(ix, n, sizeof(*ix), cmp_index);
	for (i = 1; i < n; i++) {
		if (ix[i].tag == ix[i - 1].tag) {
			/* Name the later of the two, whatever order qsort() left. */
			*bad = VDEV__MAX(ix[i].idx, ix[i - 1].idx);
			*dup = true;
			free(ix);
			return -EINVAL;
		}
	}
	*out = ix;
	return 0;
}

static const struct field_index *find_field(const struct field_index *ix, size_t n,
					    uint32_t tag)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ix[mid].tag == tag)
			return &ix[mid];
		if (ix[mid].tag < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int vdev_state_save_fields(vdev_state_writer *w, const struct vdev_state_field *fields,
			   size_t nfields, const void *src)
{
	const uint8_t *base = src;
	struct field_index *ix;
	size_t i, bad;
	bool dup;
	int rc;

	if (!w)
		return -EINVAL;
	if (nfields && (!fields || !src))
		return vdev__state_writer_fail(w, -EINVAL);
	/* A bad table would save a blob its own loader refuses. */
	rc = build_index(fields, nfields, &ix, &bad, &dup);
	free(ix);
	if (rc)
		return vdev__state_writer_fail(w, rc);

	for (i = 0; i < nfields; i++) {
		const struct vdev_state_field *f = &fields[i];
		const uint8_t *p = base + f->offset;

		switch (f->type) {
		case VDEV_STATE_U8:
			rc = vdev_state_put_u8(w, f->tag, *p);
			break;
		case VDEV_STATE_U16: {
			uint16_t v;

			memcpy(&v, p, sizeof(v));
			rc = vdev_state_put_u16(w, f->tag, v);
			break;
		}
		case VDEV_STATE_U32: {
			uint32_t v;

			memcpy(&v, p, sizeof(v));
			rc = vdev_state_put_u32(w, f->tag, v);
			break;
		}
		case VDEV_STATE_U64: {
			uint64_t v;

			memcpy(&v, p, sizeof(v));
			rc = vdev_state_put_u64(w, f->tag, v);
			break;
		}
		default: /* BYTES; build_index() rejected every other type */
			rc = vdev_state_put_bytes(w, f->tag, p, f->size);
			break;
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* Fail @r with a message naming field @f and the record at @off. */
static int field_fail(vdev_state_reader *r, int err, const struct vdev_state_field *f,
		      size_t off, const char *fmt, ...) VDEV_PRINTF(5, 6);

static int field_fail(vdev_state_reader *r, int err, const struct vdev_state_field *f,
		      size_t off, const char *fmt, ...)
{
	char why[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return vdev_state_fail(r, err, "field '%s' (tag 0x%08" PRIx32 ") at offset %zu: %s",
			       field_name(f), f->tag, off, why);
}

/* Check one record against its field and stage its value. */
static int stage_record(vdev_state_reader *r, const struct vdev_state_field *f,
			struct field_stage *st, const struct vdev_state_record *rec)
{
	size_t off = vdev__state_record_offset(r, rec);
	uint64_t v;

	if (rec->type != f->type)
		return field_fail(r, -EBADMSG, f, off, "record type %u, expected %u",
				  rec->type, f->type);
	if (st->seen)
		return field_fail(r, -EBADMSG, f, off, "duplicate record");
	if (f->type == VDEV_STATE_BYTES) {
		if (rec->len != f->size)
			return field_fail(r, -EBADMSG, f, off,
					  "%" PRIu32 " bytes, expected %" PRIu32,
					  rec->len, f->size);
		st->data = rec->data;
	} else {
		/* The reader verified scalar lengths, so this cannot fail. */
		if (vdev_state_record_uint(rec, &v))
			return field_fail(r, -EBADMSG, f, off, "bad scalar");
		if ((f->min || f->max) && (v < f->min || v > f->max))
			return field_fail(r, -ERANGE, f, off,
					  "value %" PRIu64 " out of range [%" PRIu64 ", %"
					  PRIu64 "]", v, f->min, f->max);
		st->val = v;
	}
	st->seen = true;
	return 0;
}

static void commit_field(const struct vdev_state_field *f, const struct field_stage *st,
			 uint8_t *dst)
{
	uint8_t *p = dst + f->offset;

	switch (f->type) {
	case VDEV_STATE_U8:
		*p = (uint8_t)st->val;
		break;
	case VDEV_STATE_U16: {
		uint16_t v = (uint16_t)st->val;

		memcpy(p, &v, sizeof(v));
		break;
	}
	case VDEV_STATE_U32: {
		uint32_t v = (uint32_t)st->val;

		memcpy(p, &v, sizeof(v));
		break;
	}
	case VDEV_STATE_U64:
		memcpy(p, &st->val, sizeof(st->val));
		break;
	default:
		if (f->size)
			memcpy(p, st->data, f->size);
		break;
	}
}

int vdev_state_load_fields(vdev_state_reader *r, const struct vdev_state_field *fields,
			   size_t nfields, void *dst)
{
	struct field_index *ix = NULL;
	struct field_stage *stage = NULL;
	struct vdev_state_record rec;
	size_t i, bad;
	bool dup;
	int rc;

	if (!r || (nfields && (!fields || !dst)))
		return -EINVAL;
	rc = build_index(fields, nfields, &ix, &bad, &dup);
	if (rc == -EINVAL)
		return vdev_state_fail(r, rc, "field table: field '%s' (tag 0x%08" PRIx32 ") %s",
				       field_name(&fields[bad]), fields[bad].tag,
				       dup ? "repeats a tag" : "has a bad type or min > max");
	if (rc)
		return rc;
	if (nfields) {
		stage = calloc(nfields, sizeof(*stage));
		if (!stage) {
			rc = -ENOMEM;
			goto out;
		}
	}

	while ((rc = vdev_state_next(r, &rec)) > 0) {
		const struct field_index *fi = find_field(ix, nfields, rec.tag);

		if (!fi) {
			/* Unknown optional records (sections too) come from newer sources. */
			if (!(rec.flags & VDEV_STATE_F_REQUIRED))
				continue;
			rc = vdev_state_fail(r, -EPROTONOSUPPORT,
					     "unknown required record 0x%08" PRIx32
					     " (type %u) at offset %zu", rec.tag, rec.type,
					     vdev__state_record_offset(r, &rec));
			goto out;
		}
		rc = stage_record(r, &fields[fi->idx], &stage[fi->idx], &rec);
		if (rc)
			goto out;
	}
	if (rc < 0)
		goto out;

	for (i = 0; i < nfields; i++) {
		const struct vdev_state_field *f = &fields[i];

		if (!stage[i].seen && !(f->flags & VDEV_STATE_FIELD_OPTIONAL)) {
			rc = vdev_state_fail(r, -EBADMSG,
					     "field '%s' (tag 0x%08" PRIx32 ") missing",
					     field_name(f), f->tag);
			goto out;
		}
	}
	/* Everything passed: only now touch the destination. */
	for (i = 0; i < nfields; i++) {
		if (stage[i].seen)
			commit_field(&fields[i], &stage[i], dst);
	}
	rc = 0;
out:
	free(stage);
	free(ix);
	return rc;
}
