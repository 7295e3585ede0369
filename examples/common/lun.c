/* SPDX-License-Identifier: MIT */
/*
 * LUN operations the daemons' command lines and control sockets share.
 * Addresses are "T.L" (target 0..255, LUN 0..16383) or "L" (target 0).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"

int ex_parse_addr(const char *s, unsigned int *target, unsigned int *lun)
{
	unsigned long a, b = 0;
	char *end;

	errno = 0;
	a = strtoul(s, &end, 10);
	if (end == s || errno)
		return -EINVAL;
	if (*end == '.') {
		const char *p = end + 1;

		b = strtoul(p, &end, 10);
		if (end == p || errno || a > 255 || b > 16383 || *end)
			return -EINVAL;
		*target = (unsigned int)a;
		*lun = (unsigned int)b;
		return 0;
	}
	if (*end || a > 16383)
		return -EINVAL;
	*target = 0;
	*lun = (unsigned int)a;
	return 0;
}

int ex_lun_add(vdev_scsi_bus *bus, vdev_blk_loop *bloop, const char *addr, const char *spec)
{
	unsigned int t, l;
	char str[EX_LINE_MAX + 104];

	if (ex_parse_addr(addr, &t, &l))
		return -EINVAL;
	if ((size_t)snprintf(str, sizeof(str), "lun%u.%u=%s", t, l, spec) >= sizeof(str))
		return -ENAMETOOLONG;
	return vdev_scsi_lun_add_str(bus, bloop, str, NULL);
}

int ex_lun_remove(vdev_scsi_bus *bus, const char *addr)
{
	unsigned int t, l;

	if (ex_parse_addr(addr, &t, &l))
		return -EINVAL;
	return vdev_scsi_lun_remove(bus, (uint16_t)t, (uint16_t)l);
}

int ex_lun_media(vdev_ctx *ctx, vdev_scsi_bus *bus, vdev_blk_loop *bloop, const char *addr,
		 const char *path)
{
	struct vdev_blk_opts bo = {
		.struct_size = sizeof(bo),
		.driver = "file",
		.path = path,
		.readonly = 1,
		.loop = bloop,
	};
	vdev_scsi_lun *lun;
	vdev_blk *blk = NULL;
	unsigned int t, l;
	int rc;

	if (ex_parse_addr(addr, &t, &l))
		return -EINVAL;
	lun = vdev_scsi_lun_find(bus, (uint16_t)t, (uint16_t)l);
	if (!lun)
		return -ENOENT;
	if (strcmp(path, "eject")) {
		rc = vdev_blk_open(ctx, &bo, &blk);
		if (rc)
			return rc;
	}
	/* The operator's word wins over the guest's medium lock. */
	rc = vdev_scsi_lun_set_medium(lun, blk, 1);
	if (rc)
		vdev_blk_close(blk);
	return rc;
}

unsigned int ex_lun_list(vdev_scsi_bus *bus, char *buf, size_t cap)
{
	unsigned int want = vdev_scsi_lun_count(bus), n = 0;
	size_t len = 0;

	buf[0] = 0;
	for (unsigned int t = 0; t < 256 && n < want; t++) {
		for (unsigned int l = 0; l < 16384 && n < want; l++) {
			int k;

			if (!vdev_scsi_lun_find(bus, (uint16_t)t, (uint16_t)l))
				continue;
			n++;
			k = snprintf(buf + len, cap - len, "%s%u.%u", len ? " " : "", t, l);
			if (k < 0 || (size_t)k >= cap - len)
				return n; /* truncated: the count is still right */
			len += (size_t)k;
		}
	}
	return n;
}
