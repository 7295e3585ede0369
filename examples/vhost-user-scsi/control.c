/* SPDX-License-Identifier: MIT */
/*
 * The commands of the control socket (examples/common's line server: one
 * command per line, one reply line, "ok ..." or "error: ..."):
 *
 *   add-lun <T>.<L> <spec>             spec as --lun takes it: [KIND:]PATH[:OPT]...
 *   remove-lun <T>.<L>
 *   change-media <T>.<L> <path|eject>  CD-ROM medium change
 *   list                               "ok <n> <T>.<L> ..."
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

/* Replies can list every LUN. */
#define C_REPLY_MAX (EX_LINE_MAX * 4)

static void command(void *opaque, struct ex_client *c, const char *cmd, const char *a1,
		    const char *a2)
{
	struct daemon *d = opaque;
	int rc;

	if (!strcmp(cmd, "list")) {
		char *buf = malloc(C_REPLY_MAX);
		unsigned int n;

		if (!buf) {
			ex_reply(c, "error: out of memory");
			return;
		}
		n = ex_lun_list(d->bus, buf, C_REPLY_MAX - 32);
		ex_reply(c, "ok %u%s%s", n, n ? " " : "", buf);
		free(buf);
		return;
	}
	if (!strcmp(cmd, "add-lun") && a1 && a2) {
		rc = d_lun_add(d, a1, a2);
		if (rc)
			ex_reply(c, "error: add-lun %s: %s", a1, vdev_strerror(rc));
		else
			ex_reply(c, "ok added %s", a1);
		return;
	}
	if (!strcmp(cmd, "remove-lun") && a1 && !a2) {
		rc = d_lun_remove(d, a1);
		if (rc)
			ex_reply(c, "error: remove-lun %s: %s", a1, vdev_strerror(rc));
		else
			ex_reply(c, "ok removed %s", a1);
		return;
	}
	if (!strcmp(cmd, "change-media") && a1 && a2) {
		rc = d_lun_media(d, a1, a2);
		if (rc)
			ex_reply(c, "error: change-media %s: %s", a1, vdev_strerror(rc));
		else
			ex_reply(c, "ok media %s %s", a1,
				 strcmp(a2, "eject") ? "changed" : "ejected");
		return;
	}
	ex_reply(c, EX_CONTROL_USAGE);
}

int d_control_start(struct daemon *d, const char *path)
{
	return ex_control_start(&d->control, d->loop, path, C_REPLY_MAX, command, d);
}
