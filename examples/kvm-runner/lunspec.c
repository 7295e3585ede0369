/* SPDX-License-Identifier: MIT */
/*
 * LUN addresses "lun<L>" / "lun<T>.<L>" as in --device items. libvdev's
 * vdev_scsi_lun_add_str() parses and adds the LUN items themselves; the
 * runner decodes the address only for "boot=lunN" (the boot order).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"

static int parse_uint(const char **p, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (**p < '0' || **p > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(*p, &end, 10);
	if (errno || v > max)
		return -EINVAL;
	*p = end;
	*out = v;
	return 0;
}

/* Decode "lun<L>" or "lun<T>.<L>" up to '='; @value gets what follows. */
int lunspec_address(const char *item, unsigned int *target, unsigned int *lun,
		    const char **value)
{
	const char *p = item;
	unsigned long a, b;

	if (strncmp(p, "lun", 3))
		return -EINVAL;
	p += 3;
	if (parse_uint(&p, VDEV_SCSI_MAX_LUNS - 1, &a))
		return -EINVAL;
	if (*p == '.') {
		p++;
		if (a >= VDEV_SCSI_MAX_TARGETS || parse_uint(&p, VDEV_SCSI_MAX_LUNS - 1, &b))
			return -EINVAL;
		*target = (unsigned int)a;
		*lun = (unsigned int)b;
	} else {
		*target = 0;
		*lun = (unsigned int)a;
	}
	if (*p != '=')
		return -EINVAL;
	*value = p + 1;
	return 0;
}
