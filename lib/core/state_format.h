/* SPDX-License-Identifier: MIT */
/*
 * Private constants and helpers shared by the state codec's writer,
 * reader and field tables (state_writer.c, state_reader.c,
 * state_fields.c). The wire format itself is documented in
 * include/vdev/state.h.
 */
#ifndef VDEV_CORE_STATE_FORMAT_H
#define VDEV_CORE_STATE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vdev/state.h>

/* Blob header layout (offsets into the 16-byte header). */
#define VDEV__STATE_MAGIC "VDST"
#define VDEV__STATE_MAGIC_LEN 4
#define VDEV__STATE_FORMAT_VERSION 1
#define VDEV__STATE_HDR_MAGIC 0
#define VDEV__STATE_HDR_VERSION 4
#define VDEV__STATE_HDR_FLAGS 6
#define VDEV__STATE_HDR_PAYLOAD_LEN 8
#define VDEV__STATE_HDR_RESERVED 12

/* Record header layout (offsets into the 12-byte record header). */
#define VDEV__STATE_REC_TAG 0
#define VDEV__STATE_REC_TYPE 4
#define VDEV__STATE_REC_FLAGS 5
#define VDEV__STATE_REC_VERSION 6
#define VDEV__STATE_REC_LEN 8

/* Every record flag this format version defines. */
#define VDEV__STATE_F_KNOWN VDEV_STATE_F_REQUIRED

/* Room for one error message on a reader. */
#define VDEV__STATE_MSG_SIZE 256

_Static_assert(VDEV_STATE_HEADER_SIZE == 16, "blob header is 16 bytes on the wire");
_Static_assert(VDEV_STATE_RECORD_HEADER_SIZE == 12, "record header is 12 bytes on the wire");

/* True for the scalar types U8..U64. */
static inline bool vdev__state_is_scalar(unsigned int type)
{
	return type >= VDEV_STATE_U8 && type <= VDEV_STATE_U64;
}

/* Natural payload length of a scalar type; 0 for anything else. */
static inline uint32_t vdev__state_scalar_size(unsigned int type)
{
	switch (type) {
	case VDEV_STATE_U8:
		return 1;
	case VDEV_STATE_U16:
		return 2;
	case VDEV_STATE_U32:
		return 4;
	case VDEV_STATE_U64:
		return 8;
	default:
		return 0;
	}
}

/*
 * Verify a whole blob, the same check vdev_state_reader_new() makes.
 * On failure the reason (what, and at which offset) is written to
 * @msg (NUL-terminated, truncated to @msg_size; @msg may be NULL).
 * vdev_state_reader_new() returns no reader on failure, so a caller that
 * wants to log why a stream was refused (e.g. the device-load path) can
 * call this first. Returns 0, -EINVAL (@data NULL), -EBADMSG or
 * -EPROTONOSUPPORT.
 */
int vdev__state_check(const void *data, size_t len, char *msg, size_t msg_size);

/* Put @w in the sticky error state @err (kept if one is already set); returns the sticky error. */
int vdev__state_writer_fail(vdev_state_writer *w, int err);

/*
 * Offset in the blob of the header of @rec, a record that vdev_state_next()
 * returned on @r. Used by loaders to say where a bad record is.
 */
size_t vdev__state_record_offset(const vdev_state_reader *r, const struct vdev_state_record *rec);

#endif /* VDEV_CORE_STATE_FORMAT_H */
