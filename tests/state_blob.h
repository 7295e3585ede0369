/* SPDX-License-Identifier: MIT */
/*
 * Saved state as a test keeps it: header-only, one program per test file.
 */
#ifndef VDEV_TESTS_STATE_BLOB_H
#define VDEV_TESTS_STATE_BLOB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <vdev/state.h>

/* Finish @w (it must succeed), free it; @return a malloc'ed copy of the blob (*@len bytes). */
static inline uint8_t *state_blob_take(vdev_state_writer *w, size_t *len)
{
	const void *data;
	uint8_t *copy;

	assert_int_equal(vdev_state_writer_finish(w, &data, len), 0);
	copy = malloc(*len);
	assert_non_null(copy);
	memcpy(copy, data, *len);
	vdev_state_writer_free(w);
	return copy;
}

#endif
