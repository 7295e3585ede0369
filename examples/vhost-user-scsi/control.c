/* SPDX-License-Identifier: MIT */
/*
 * The control socket: a UNIX stream socket taking one command per line
 * and answering each with one line, "ok ..." or "error: ...":
 *
 *   add-lun <T>.<L> <spec>             spec as --lun takes it: [KIND:]PATH[:OPT]...
 *   remove-lun <T>.<L>
 *   change-media <T>.<L> <path|eject>  CD-ROM medium change
 *   list                               "ok <n> <T>.<L> ..."
 *
 * Several clients may be connected; each line is handled as it arrives.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

#define C_LINE_MAX 4096

struct client {
	uv_pipe_t pipe;
	struct daemon *d;
	struct client *next;    /* in d->clients */
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

static void reply(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reply(struct client *c, const char *fmt, ...)
{
	uv_write_t *w = malloc(sizeof(*w) + C_LINE_MAX * 4);
	char *buf = (char *)(w + 1);
	uv_buf_t b;
	va_list ap;
	int n;

	if (!w)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, C_LINE_MAX * 4 - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n > C_LINE_MAX * 4 - 2)
		n = C_LINE_MAX * 4 - 2;
	buf[n++] = '\n';
	b = uv_buf_init(buf, (unsigned int)n);
	if (uv_write(w, (uv_stream_t *)&c->pipe, &b, 1, write_done))
		free(w);
}

static void command(struct client *c, char *line)
{
	struct daemon *d = c->d;
	char *save = NULL, *cmd = strtok_r(line, " \t\r", &save);
	char *a1 = strtok_r(NULL, " \t\r", &save), *a2 = strtok_r(NULL, " \t\r", &save);
	int rc;

	if (!cmd) {
		reply(c, "error: empty command");
		return;
	}
	if (!strcmp(cmd, "list")) {
		char *buf = malloc(C_LINE_MAX * 4);
		unsigned int n;

		if (!buf) {
			reply(c, "error: out of memory");
			return;
		}
		n = d_lun_list(d, buf, C_LINE_MAX * 4 - 32);
		reply(c, "ok %u%s%s", n, n ? " " : "", buf);
		free(buf);
		return;
	}
	if (!strcmp(cmd, "add-lun") && a1 && a2) {
		rc = d_lun_add(d, a1, a2);
		if (rc)
			reply(c, "error: add-lun %s: %s", a1, vdev_strerror(rc));
		else
			reply(c, "ok added %s", a1);
		return;
	}
	if (!strcmp(cmd, "remove-lun") && a1 && !a2) {
		rc = d_lun_remove(d, a1);
		if (rc)
			reply(c, "error: remove-lun %s: %s", a1, vdev_strerror(rc));
		else
			reply(c, "ok removed %s", a1);
		return;
	}
	if (!strcmp(cmd, "change-media") && a1 && a2) {
		rc = d_lun_media(d, a1, a2);
		if (rc)
			reply(c, "error: change-media %s: %s", a1, vdev_strerror(rc));
		else
			reply(c, "ok media %s %s", a1, strcmp(a2, "eject") ? "changed" : "ejected");
		return;
	}
	reply(c, "error: unknown command or wrong arguments (add-lun T.L SPEC, "
		 "remove-lun T.L, change-media T.L PATH|eject, list)");
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static const size_t sz = 1024;

	(void)h;
	(void)suggested;
	buf->base = malloc(sz);
	buf->len = buf->base ? sz : 0;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct client *c = s->data;

	if (n < 0) {
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
	    uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb)) {
		uv_close((uv_handle_t *)&c->pipe, client_closed);
		return;
	}
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
