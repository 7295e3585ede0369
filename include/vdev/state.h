/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/state.h
 * The device-state codec used for save/restore and live migration.
 *
 * A state blob is self-describing, little-endian and versioned:
 *
 *     blob    = header record*
 *     header  = "VDST" u16 format_version(=1) u16 flags(=0)
 *               u32 payload_length u32 reserved(=0)             (16 bytes)
 *     record  = u32 tag  u8 type  u8 flags  u16 version  u32 length
 *               payload[length]                                 (12 + length)
 *
 * A record of type VDEV_STATE_SECTION holds records; sections nest up to
 * VDEV_STATE_MAX_DEPTH deep. A section's version is its schema version; a
 * scalar's version is 0. Scalars have exactly their natural length.
 * VDEV_STATE_F_REQUIRED marks a record that a loader which does not know
 * its tag must refuse (its meaning would be lost); other unknown records
 * are skipped, which is how newer sources stay loadable by older
 * destinations.
 *
 * A migration stream is untrusted input: vdev_state_reader_new() checks
 * the whole structure before anything is read, and
 * vdev_state_load_fields() validates every field (type, length, range,
 * duplicates, presence) before it writes any of them.
 *
 * Threading: writers and readers are plain objects with no context; one
 * thread at a time per object.
 */
#ifndef VDEV_STATE_H
#define VDEV_STATE_H

#include <vdev/common.h>

VDEV_BEGIN_DECLS

/** Build a record tag from four characters, e.g. VDEV_STATE_TAG('P','C','I','F'). */
#define VDEV_STATE_TAG(a, b, c, d) \
	((uint32_t)(uint8_t)(a) | ((uint32_t)(uint8_t)(b) << 8) | \
	 ((uint32_t)(uint8_t)(c) << 16) | ((uint32_t)(uint8_t)(d) << 24))

/** Record types. */
enum vdev_state_type {
	VDEV_STATE_U8 = 1,
	VDEV_STATE_U16 = 2,
	VDEV_STATE_U32 = 3,
	VDEV_STATE_U64 = 4,
	VDEV_STATE_BYTES = 5,   /**< opaque bytes, any length */
	VDEV_STATE_SECTION = 6, /**< a nested list of records */
};

/** Record flag: a loader that does not know this tag must fail. */
#define VDEV_STATE_F_REQUIRED 0x01u

/** Deepest section nesting a blob may have. */
#define VDEV_STATE_MAX_DEPTH 16

/** Size of the blob header. */
#define VDEV_STATE_HEADER_SIZE 16
/** Size of a record header. */
#define VDEV_STATE_RECORD_HEADER_SIZE 12

/* ------------------------------------------------------------------ */
/* Writer                                                              */
/* ------------------------------------------------------------------ */

/** Builds a blob in memory. */
typedef struct vdev_state_writer vdev_state_writer;

/** Create an empty writer. @return 0, -EINVAL, -ENOMEM. */
VDEV_API int vdev_state_writer_new(vdev_state_writer **out);

/** Free a writer and the blob it built. NULL is a no-op. */
VDEV_API void vdev_state_writer_free(vdev_state_writer *w);

/**
 * Open a section: records written until the matching vdev_state_end() go
 * inside it. @p flags is 0 or VDEV_STATE_F_REQUIRED.
 * @return 0, -E2BIG (deeper than VDEV_STATE_MAX_DEPTH), -ENOMEM, or the
 *         writer's earlier error (errors are sticky).
 */
VDEV_API int vdev_state_begin(vdev_state_writer *w, uint32_t tag, uint16_t version,
			      uint8_t flags);

/** Close the innermost open section. @return 0, -EINVAL (none open), sticky error. */
VDEV_API int vdev_state_end(vdev_state_writer *w);

/**
 * Append one scalar or bytes record with explicit @p flags.
 * @p len must be the type's natural size for scalars (1, 2, 4, 8; @p data
 * in host byte order) and at most UINT32_MAX for bytes.
 * @return 0, -EINVAL, -EFBIG, -ENOMEM, or the sticky error.
 */
VDEV_API int vdev_state_put(vdev_state_writer *w, uint32_t tag, enum vdev_state_type type,
			    uint8_t flags, const void *data, size_t len);

/** Append a required u8 record. Same returns as vdev_state_put(). */
VDEV_API int vdev_state_put_u8(vdev_state_writer *w, uint32_t tag, uint8_t v);
/** Append a required u16 record. Same returns as vdev_state_put(). */
VDEV_API int vdev_state_put_u16(vdev_state_writer *w, uint32_t tag, uint16_t v);
/** Append a required u32 record. Same returns as vdev_state_put(). */
VDEV_API int vdev_state_put_u32(vdev_state_writer *w, uint32_t tag, uint32_t v);
/** Append a required u64 record. Same returns as vdev_state_put(). */
VDEV_API int vdev_state_put_u64(vdev_state_writer *w, uint32_t tag, uint64_t v);
/** Append a required bytes record. Same returns as vdev_state_put(). */
VDEV_API int vdev_state_put_bytes(vdev_state_writer *w, uint32_t tag, const void *data,
				  size_t len);

/**
 * Finish the blob and expose it. Every section must be closed.
 * @param data  receives a pointer to the blob, owned by the writer and
 *              valid until the writer is freed or written to again.
 * @param len   receives its length.
 * @return 0, -EINVAL (a section is open), or the sticky error.
 */
VDEV_API int vdev_state_writer_finish(vdev_state_writer *w, const void **data, size_t *len);

/* ------------------------------------------------------------------ */
/* Reader                                                              */
/* ------------------------------------------------------------------ */

/** Walks a blob, one section level at a time. */
typedef struct vdev_state_reader vdev_state_reader;

/** One record as returned by vdev_state_next(). Output only. */
struct vdev_state_record {
	uint32_t tag;
	uint8_t type;      /**< enum vdev_state_type */
	uint8_t flags;     /**< VDEV_STATE_F_* */
	uint16_t version;  /**< a section's schema version, else 0 */
	uint32_t len;      /**< payload length */
	const void *data;  /**< payload, inside the caller's buffer */
	uint64_t reserved[2];
};

/**
 * Check a blob and start reading it at its top level.
 * The whole structure is verified first: header magic and version, total
 * length, every record's type, flags and length, scalar sizes, nesting
 * depth. @p data is not copied: keep it alive and unchanged until the
 * reader is freed.
 * @return 0; -EINVAL (NULL arguments); -EBADMSG (malformed: no reader
 *         is returned; vdev_state_validate() says why);
 *         -EPROTONOSUPPORT (newer format version); -ENOMEM.
 */
VDEV_API int vdev_state_reader_new(const void *data, size_t len, vdev_state_reader **out);

/**
 * Check a blob's structure exactly as vdev_state_reader_new() does, and
 * say why it is refused, e.g. "record 0x0a0b0c0d at offset 16: length 5
 * exceeds section end 32".
 * @param why      buffer for the reason (NUL-terminated, truncated to fit),
 *                 or NULL; set to "" when the blob is fine.
 * @param why_len  its size.
 * @return as vdev_state_reader_new(). Thread: any.
 */
VDEV_API int vdev_state_validate(const void *data, size_t len, char *why, size_t why_len);

/** Free a reader. NULL is a no-op. */
VDEV_API void vdev_state_reader_free(vdev_state_reader *r);

/**
 * Fetch the next record of the current section (or the top level).
 * @return 1 and *rec filled; 0 at the end of the current section; a
 *         negative errno on a reader already in error.
 */
VDEV_API int vdev_state_next(vdev_state_reader *r, struct vdev_state_record *rec);

/**
 * Descend into the section record most recently returned by
 * vdev_state_next(). @return 0; -EINVAL if that record is not a section.
 */
VDEV_API int vdev_state_enter(vdev_state_reader *r);

/**
 * Skip what is left of the current section and return to its parent,
 * positioned after the section record. @return 0; -EINVAL at top level.
 */
VDEV_API int vdev_state_leave(vdev_state_reader *r);

/**
 * Read an unsigned scalar record of any width into @p v.
 * @return 0; -EBADMSG if @p rec is not an unsigned scalar.
 */
VDEV_API int vdev_state_record_uint(const struct vdev_state_record *rec, uint64_t *v);

/**
 * Record a validation failure on the reader, in words, for the caller to
 * report. Loaders call this for semantic errors ("queue size 3 is not a
 * power of two"); the reader stays in error afterwards.
 * @return @p err, so a loader can write `return vdev_state_fail(r, -ERANGE, ...)`.
 */
VDEV_API int vdev_state_fail(vdev_state_reader *r, int err, const char *fmt, ...)
	VDEV_PRINTF(3, 4);

/**
 * The reason for the reader's first failure, e.g. "record 0x46494350 at
 * offset 40: length 9 exceeds section end 32"; "" if none.
 * Valid until the reader is freed.
 */
VDEV_API const char *vdev_state_reader_error(const vdev_state_reader *r);

/* ------------------------------------------------------------------ */
/* Declarative fields                                                  */
/* ------------------------------------------------------------------ */

/** Field flag: the field may be absent; the destination then keeps its value. */
#define VDEV_STATE_FIELD_OPTIONAL 0x01u

/**
 * Describes one field of a C struct saved as one record. Tables of these
 * let a device save and load a flat section with full validation.
 */
struct vdev_state_field {
	const char *name;   /**< for error messages */
	uint32_t tag;       /**< record tag, unique in the table */
	uint8_t type;       /**< VDEV_STATE_U8..VDEV_STATE_BYTES */
	uint8_t flags;      /**< VDEV_STATE_FIELD_* */
	uint16_t reserved;
	uint32_t offset;    /**< offsetof() the member in the struct */
	uint32_t size;      /**< for BYTES: exact length; ignored for scalars */
	uint64_t min;       /**< scalars: smallest valid value */
	uint64_t max;       /**< scalars: largest valid value (0 and 0: any) */
};

/**
 * Write one record per field, reading the values from @p src, as required
 * records. @return 0 or the writer's error.
 */
VDEV_API int vdev_state_save_fields(vdev_state_writer *w, const struct vdev_state_field *fields,
				    size_t nfields, const void *src);

/**
 * Read the rest of the current section into @p dst, driven by @p fields.
 * Nothing is written to @p dst unless every record passed: known tags
 * must have the declared type and length, appear once and lie within
 * [min, max]; unknown required records fail; unknown optional records are
 * skipped; every non-optional field must be present.
 * @return 0; -EBADMSG (wrong type/length, duplicate, missing field);
 *         -ERANGE (value out of range); -EPROTONOSUPPORT (unknown required
 *         record). The reason is in vdev_state_reader_error().
 */
VDEV_API int vdev_state_load_fields(vdev_state_reader *r, const struct vdev_state_field *fields,
				    size_t nfields, void *dst);

VDEV_END_DECLS

#endif /* VDEV_STATE_H */
