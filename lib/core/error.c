/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "core.h"

/*
 * strerror() may use a shared buffer; glibc's strerrordesc_np() returns a
 * static string and is thread-safe, which is what our contract promises.
 * Errors with a libvdev-specific meaning get our own wording first.
 */
const char *vdev_strerror(int err)
{
	const char *desc;

	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "Success";
	case EFAULT:
		return "Guest address range not in registered RAM";
	case EBADMSG:
		return "Malformed state or request";
	case EPROTONOSUPPORT:
		return "Unsupported state version or required record";
	default:
		break;
	}
	desc = strerrordesc_np(err);
	return desc ? desc : "Unknown error";
}

int vdev__copy_sized(void *dst, size_t dst_size, const void *src)
{
	size_t src_size;

	memcpy(&src_size, src, sizeof(src_size));
	if (src_size < sizeof(size_t))
		return -EINVAL;
	memset(dst, 0, dst_size);
	memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
	/* Record the caller's size: a type may want to know what was covered. */
	memcpy(dst, &src_size, sizeof(src_size));
	return 0;
}
