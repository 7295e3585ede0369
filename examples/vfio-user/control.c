/* SPDX-License-Identifier: MIT */
/*
 * The commands of vdev-vfio-user's control socket (examples/common's line
 * server; the same commands as vdev-vhost-user-scsi's):
 *
 *   add-lun <T>.<L> <spec>             spec: [KIND:]PATH[:OPT]... (vdev_scsi_lun_add_str)
 *   remove-lun <T>.<L>
 *   change-media <T>.<L> <path|eject>  CD-ROM medium change
 *   list                               "ok <n>"
 *
 * The guest sees LUN changes as virtio-scsi hot-plug events.
 */
#include <errno.h>
#include <string.h>

#include "daemon.h"

static void command(void *opaque, struct ex_client *c, const char *cmd, const char *a1,
		    const char *a2)
{
	struct daemon *d = opaque;
	int rc = -EINVAL;

	if (!d->bus) {
		ex_reply(c, "error: the device has no SCSI bus");
		return;
	}
	if (!strcmp(cmd, "list") && !a1) {
		ex_reply(c, "ok %u", vdev_scsi_lun_count(d->bus));
		return;
	}
	if (!strcmp(cmd, "add-lun") && a1 && a2)
		rc = ex_lun_add(d->bus, d->bloop, a1, a2);
	else if (!strcmp(cmd, "remove-lun") && a1 && !a2)
		rc = ex_lun_remove(d->bus, a1);
	else if (!strcmp(cmd, "change-media") && a1 && a2)
		rc = ex_lun_media(d->ctx, d->bus, d->bloop, a1, a2);
	else {
		ex_reply(c, EX_CONTROL_USAGE);
		return;
	}
	vdev_log(d->ctx, rc ? VDEV_LOG_WARN : VDEV_LOG_INFO, "control: %s %s: %s", cmd, a1,
		 rc ? vdev_strerror(rc) : "done");
	if (rc)
		ex_reply(c, "error: %s %s: %s", cmd, a1, vdev_strerror(rc));
	else
		ex_reply(c, "ok %s %s", cmd, a1);
}

int d_control_start(struct daemon *d, const char *path)
{
	return ex_control_start(&d->control, d->loop, path, EX_LINE_MAX, command, d);
}
