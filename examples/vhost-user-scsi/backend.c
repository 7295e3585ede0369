/* SPDX-License-Identifier: MIT */
/*
 * The block loop and the LUN operations the command line and the control
 * socket share: examples/common's, plus this daemon's log lines and the
 * disk files it fsyncs at shutdown.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

int d_backend_start(struct daemon *d)
{
	struct vdev_blk_loop_opts lo = { .struct_size = sizeof(lo) };
	int rc;

	rc = vdev_blk_loop_new(d->ctx, &lo, &d->bloop);
	if (rc)
		return rc;
	return ex_blk_start(&d->ev, d->loop, d->ctx, d->bloop);
}

void d_backend_stop(struct daemon *d)
{
	ex_blk_stop(&d->ev);
}

void d_remember_spec(struct daemon *d, const char *spec)
{
	const char *p = spec, *e;

	if (!strncmp(p, "disk:", 5))
		p += 5;
	else if (!strncmp(p, "cdrom:", 6) || !strncmp(p, "sg:", 3))
		return;
	e = strchr(p, ':');
	if (d->nfiles < D_MAX_FILES && e != p && *p)
		d->files[d->nfiles++] = e ? strndup(p, (size_t)(e - p)) : strdup(p);
}

int d_lun_add(struct daemon *d, const char *addr, const char *spec)
{
	unsigned int t, l;
	int rc = ex_lun_add(d->bus, d->bloop, addr, spec);

	if (rc)
		return rc;
	d_remember_spec(d, spec);
	ex_parse_addr(addr, &t, &l);
	vdev_log(d->ctx, VDEV_LOG_INFO, "LUN %u.%u added: %s", t, l, spec);
	return 0;
}

int d_lun_remove(struct daemon *d, const char *addr)
{
	unsigned int t, l;
	int rc = ex_lun_remove(d->bus, addr);

	if (!rc && !ex_parse_addr(addr, &t, &l))
		vdev_log(d->ctx, VDEV_LOG_INFO, "LUN %u.%u removed", t, l);
	return rc;
}

int d_lun_media(struct daemon *d, const char *addr, const char *path)
{
	unsigned int t, l;
	int rc = ex_lun_media(d->ctx, d->bus, d->bloop, addr, path);

	if (!rc && !ex_parse_addr(addr, &t, &l))
		vdev_log(d->ctx, VDEV_LOG_INFO, "LUN %u.%u: %s", t, l,
			 strcmp(path, "eject") ? "new medium inserted" : "medium ejected");
	return rc;
}
