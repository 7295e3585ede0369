/* SPDX-License-Identifier: MIT */
/*
 * Block completions and library timers on the libuv loop, and the LUN
 * operations the command line and the control socket share.
 *
 * Completions: every LUN's backend joins one vdev_blk_loop, whose one
 * event fd is polled here; after running completions the library timers
 * must run too (virtio-scsi publishes a poll's completions from a timer
 * due at once: vdev/virtio_scsi.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

static void timer_cb(uv_timer_t *t);

void d_timers_sync(struct daemon *d)
{
	uint64_t deadline, now;

	if (vdev_timers_next_deadline(d->ctx, &deadline)) {
		uv_timer_stop(&d->timer);
		return;
	}
	now = vdev_now_ns(d->ctx);
	/* Round up to the loop's millisecond; 0 runs at the next iteration. */
	uv_timer_start(&d->timer, timer_cb,
		       deadline > now ? (deadline - now + 999999) / 1000000 : 0, 0);
}

static void timer_cb(uv_timer_t *t)
{
	struct daemon *d = t->loop->data;

	vdev_timers_run(d->ctx);
	d_timers_sync(d);
}

static void blk_cb(uv_poll_t *h, int status, int events)
{
	struct daemon *d = h->loop->data;

	(void)status;
	(void)events;
	vdev_blk_loop_poll(d->bloop);
	vdev_timers_run(d->ctx);
	d_timers_sync(d);
}

int d_backend_start(struct daemon *d)
{
	struct vdev_blk_loop_opts lo = { .struct_size = sizeof(lo) };
	int rc;

	rc = vdev_blk_loop_new(d->ctx, &lo, &d->bloop);
	if (rc)
		return rc;
	uv_timer_init(d->loop, &d->timer);
	rc = uv_poll_init(d->loop, &d->blk_poll, vdev_blk_loop_event_fd(d->bloop));
	if (rc)
		return rc;
	return uv_poll_start(&d->blk_poll, UV_READABLE, blk_cb);
}

void d_backend_stop(struct daemon *d)
{
	uv_poll_stop(&d->blk_poll);
	uv_close((uv_handle_t *)&d->blk_poll, NULL);
	uv_timer_stop(&d->timer);
	uv_close((uv_handle_t *)&d->timer, NULL);
}

int d_parse_addr(const char *s, unsigned int *target, unsigned int *lun)
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

void d_remember_file(struct daemon *d, const char *path)
{
	if (d->nfiles < D_MAX_FILES && *path)
		d->files[d->nfiles++] = strdup(path);
}

/* The PATH part of "[KIND:]PATH[:OPT]..." for disks (written through: fsync at exit). */
static void remember_file(struct daemon *d, const char *spec)
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
	char str[4200];
	int rc;

	if (d_parse_addr(addr, &t, &l))
		return -EINVAL;
	if ((size_t)snprintf(str, sizeof(str), "lun%u.%u=%s", t, l, spec) >= sizeof(str))
		return -ENAMETOOLONG;
	rc = vdev_scsi_lun_add_str(d->bus, d->bloop, str, NULL);
	if (rc)
		return rc;
	remember_file(d, spec);
	vdev_log(d->ctx, VDEV_LOG_INFO, "LUN %u.%u added: %s", t, l, spec);
	return 0;
}

int d_lun_remove(struct daemon *d, const char *addr)
{
	unsigned int t, l;
	int rc;

	if (d_parse_addr(addr, &t, &l))
		return -EINVAL;
	rc = vdev_scsi_lun_remove(d->bus, (uint16_t)t, (uint16_t)l);
	if (!rc)
		vdev_log(d->ctx, VDEV_LOG_INFO, "LUN %u.%u removed", t, l);
	return rc;
}

int d_lun_media(struct daemon *d, const char *addr, const char *path)
{
	struct vdev_blk_opts bo = {
		.struct_size = sizeof(bo),
		.driver = "file",
		.path = path,
		.readonly = 1,
		.loop = d->bloop,
	};
	vdev_scsi_lun *lun;
	vdev_blk *blk = NULL;
	unsigned int t, l;
	int rc;

	if (d_parse_addr(addr, &t, &l))
		return -EINVAL;
	lun = vdev_scsi_lun_find(d->bus, (uint16_t)t, (uint16_t)l);
	if (!lun)
		return -ENOENT;
	if (strcmp(path, "eject")) {
		rc = vdev_blk_open(d->ctx, &bo, &blk);
		if (rc)
			return rc;
	}
	/* The operator's word wins over the guest's medium lock. */
	rc = vdev_scsi_lun_set_medium(lun, blk, 1);
	if (rc) {
		vdev_blk_close(blk);
		return rc;
	}
	vdev_log(d->ctx, VDEV_LOG_INFO, "LUN %u.%u: %s", t, l,
		 blk ? "new medium inserted" : "medium ejected");
	return 0;
}

unsigned int d_lun_list(struct daemon *d, char *buf, size_t cap)
{
	unsigned int want = vdev_scsi_lun_count(d->bus), n = 0;
	size_t len = 0;

	buf[0] = 0;
	for (unsigned int t = 0; t < 256 && n < want; t++) {
		for (unsigned int l = 0; l < 16384 && n < want; l++) {
			int k;

			if (!vdev_scsi_lun_find(d->bus, (uint16_t)t, (uint16_t)l))
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
