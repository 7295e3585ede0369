/* SPDX-License-Identifier: MIT */
/*
 * The control socket of vdev-vfio-user: a UNIX stream socket taking one
 * command per line and answering each with one line, "ok ..." or
 * "error: ..." (the same commands as vdev-vhost-user-scsi's):
 *
 *   add-lun <T>.<L> <spec>             spec: [KIND:]PATH[:OPT]... (vdev_scsi_lun_add_str)
 *   remove-lun <T>.<L>
 *   change-media <T>.<L> <path|eject>  CD-ROM medium change
 *   list                               "ok <n>"
 *
 * The guest sees LUN changes as virtio-scsi hot-plug events. Client mode
 * (d_control_send) lets a shell script use it without socat.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"

#define C_LINE_MAX 4096

struct client {
	uv_pipe_t pipe;
	struct daemon *d;
	struct client *next;
	char line[C_LINE_MAX];
	size_t len;
	int overflow;
};

static void client_closed(uv_handle_t *h)
{
	struct client *c = h->data, **p;

	for (p = (struct client **)&c->d->clients; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	free(c);
}

static void handle_free(uv_handle_t *h)
{
	free(h);
}

static void write_done(uv_write_t *w, int status)
{
	(void)status;
	free(w);
}

static void reply(struct client *c, const char *fmt, ...) VDEV_PRINTF(2, 3);

static void reply(struct client *c, const char *fmt, ...)
{
	uv_write_t *w = malloc(sizeof(*w) + C_LINE_MAX);
	char *buf = (char *)(w + 1);
	uv_buf_t b;
	va_list ap;
	int n;

	if (!w)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, C_LINE_MAX - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n > C_LINE_MAX - 2)
		n = C_LINE_MAX - 2;
	buf[n++] = '\n';
	b = uv_buf_init(buf, (unsigned int)n);
	if (uv_write(w, (uv_stream_t *)&c->pipe, &b, 1, write_done))
		free(w);
}

/* "T.L" (or "L": target 0). */
static int parse_addr(const char *s, unsigned int *t, unsigned int *l)
{
	char tail;

	if (sscanf(s, "%u.%u%c", t, l, &tail) == 2 && *t < 256 && *l < 16384)
		return 0;
	*t = 0;
	return sscanf(s, "%u%c", l, &tail) == 1 && *l < 16384 ? 0 : -EINVAL;
}

static int lun_add(struct daemon *d, const char *addr, const char *spec)
{
	unsigned int t, l;
	char str[C_LINE_MAX + 32];

	if (parse_addr(addr, &t, &l))
		return -EINVAL;
	snprintf(str, sizeof(str), "lun%u.%u=%s", t, l, spec);
	return vdev_scsi_lun_add_str(d->bus, d->bloop, str, NULL);
}

static int lun_remove(struct daemon *d, const char *addr)
{
	unsigned int t, l;

	if (parse_addr(addr, &t, &l))
		return -EINVAL;
	return vdev_scsi_lun_remove(d->bus, (uint16_t)t, (uint16_t)l);
}

static int lun_media(struct daemon *d, const char *addr, const char *path)
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

	if (parse_addr(addr, &t, &l))
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
	if (rc)
		vdev_blk_close(blk);
	return rc;
}

static void command(struct client *c, char *line)
{
	struct daemon *d = c->d;
	char *save = NULL, *cmd = strtok_r(line, " \t\r", &save);
	char *a1 = strtok_r(NULL, " \t\r", &save), *a2 = strtok_r(NULL, " \t\r", &save);
	int rc = -EINVAL;

	if (!cmd) {
		reply(c, "error: empty command");
		return;
	}
	if (!d->bus) {
		reply(c, "error: the device has no SCSI bus");
		return;
	}
	if (!strcmp(cmd, "list") && !a1) {
		reply(c, "ok %u", vdev_scsi_lun_count(d->bus));
		return;
	}
	if (!strcmp(cmd, "add-lun") && a1 && a2)
		rc = lun_add(d, a1, a2);
	else if (!strcmp(cmd, "remove-lun") && a1 && !a2)
		rc = lun_remove(d, a1);
	else if (!strcmp(cmd, "change-media") && a1 && a2)
		rc = lun_media(d, a1, a2);
	else {
		reply(c, "error: unknown command or wrong arguments (add-lun T.L SPEC, "
			 "remove-lun T.L, change-media T.L PATH|eject, list)");
		return;
	}
	vdev_log(d->ctx, rc ? VDEV_LOG_WARN : VDEV_LOG_INFO, "control: %s %s: %s", cmd, a1,
		 rc ? vdev_strerror(rc) : "done");
	if (rc)
		reply(c, "error: %s %s: %s", cmd, a1, vdev_strerror(rc));
	else
		reply(c, "ok %s %s", cmd, a1);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	buf->base = malloc(1024);
	buf->len = buf->base ? 1024 : 0;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct client *c = s->data;

	if (n < 0) {
		if (!uv_is_closing((uv_handle_t *)s))
			uv_close((uv_handle_t *)s, client_closed);
		free(buf->base);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		char ch = buf->base[i];

		if (ch != '\n') {
			if (c->len + 1 < sizeof(c->line))
				c->line[c->len++] = ch;
			else
				c->overflow = 1;
			continue;
		}
		c->line[c->len] = 0;
		if (c->overflow)
			reply(c, "error: line too long");
		else
			command(c, c->line);
		c->len = 0;
		c->overflow = 0;
	}
	free(buf->base);
}

static void accept_cb(uv_stream_t *server, int status)
{
	struct daemon *d = server->data;
	struct client *c;

	if (status < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->d = d;
	c->next = d->clients;
	d->clients = c;
	uv_pipe_init(d->loop, &c->pipe, 0);
	c->pipe.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) ||
	    uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb))
		uv_close((uv_handle_t *)&c->pipe, client_closed);
}

int d_control_start(struct daemon *d, const char *path)
{
	int rc;

	d->control = calloc(1, sizeof(*d->control));
	if (!d->control)
		return -ENOMEM;
	uv_pipe_init(d->loop, d->control, 0);
	d->control->data = d;
	unlink(path);
	rc = uv_pipe_bind(d->control, path);
	if (!rc)
		rc = uv_listen((uv_stream_t *)d->control, 8, accept_cb);
	if (rc) {
		uv_close((uv_handle_t *)d->control, handle_free);
		d->control = NULL;
		return rc;
	}
	d->control_path = strdup(path);
	return 0;
}

void d_control_stop(struct daemon *d)
{
	for (struct client *c = d->clients; c; c = c->next)
		if (!uv_is_closing((uv_handle_t *)&c->pipe))
			uv_close((uv_handle_t *)&c->pipe, client_closed);
	if (!d->control)
		return;
	uv_close((uv_handle_t *)d->control, handle_free);
	d->control = NULL;
	if (d->control_path)
		unlink(d->control_path);
	free(d->control_path);
	d->control_path = NULL;
}

int d_control_send(const char *path, const char *line)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[C_LINE_MAX];
	size_t len = 0;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path) || strlen(line) >= C_LINE_MAX - 1) {
		fprintf(stderr, "vdev-vfio-user: path or command too long\n");
		return 2;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("vdev-vfio-user: control socket");
		if (fd >= 0)
			close(fd);
		return 1;
	}
	snprintf(buf, sizeof(buf), "%s\n", line);
	if (write(fd, buf, strlen(buf)) != (ssize_t)strlen(buf)) {
		perror("vdev-vfio-user: control socket");
		close(fd);
		return 1;
	}
	/* One reply line. */
	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\n', len))
			break;
	}
	close(fd);
	buf[len] = 0;
	fputs(buf, stdout);
	return strncmp(buf, "ok", 2) ? 1 : 0;
}
