/* SPDX-License-Identifier: MIT */
/*
 * The daemons' control socket: a UNIX stream socket taking one command per
 * line and answering each with one line ("ok ..." or "error: ..."), the
 * commands being the daemon's (ex_command_fn). Several clients may be
 * connected; each line is handled as it arrives. Client mode
 * (ex_control_send) lets a shell script use it without socat.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "example.h"

struct ex_client {
	uv_pipe_t pipe;
	struct ex_control *ctl;
	struct ex_client *next;      /* in ctl->clients */
	char line[EX_LINE_MAX];
	size_t len;
	int overflow;
};

static void client_closed(uv_handle_t *h)
{
	struct ex_client *c = h->data, **p;

	for (p = &c->ctl->clients; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	free(c);
}

static void client_close(struct ex_client *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->pipe))
		uv_close((uv_handle_t *)&c->pipe, client_closed);
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

void ex_reply(struct ex_client *c, const char *fmt, ...)
{
	size_t max = c->ctl->reply_max;
	uv_write_t *w = malloc(sizeof(*w) + max);
	char *buf = (char *)(w + 1);
	uv_buf_t b;
	va_list ap;
	int n;

	if (!w)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, max - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > max - 2)
		n = (int)(max - 2);
	buf[n++] = '\n';
	b = uv_buf_init(buf, (unsigned int)n);
	if (uv_write(w, (uv_stream_t *)&c->pipe, &b, 1, write_done))
		free(w);
}

static void command(struct ex_client *c, char *line)
{
	char *save = NULL, *cmd = strtok_r(line, " \t\r", &save);
	char *a1 = strtok_r(NULL, " \t\r", &save), *a2 = strtok_r(NULL, " \t\r", &save);

	if (!cmd) {
		ex_reply(c, "error: empty command");
		return;
	}
	c->ctl->command(c->ctl->opaque, c, cmd, a1, a2);
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
	struct ex_client *c = s->data;

	if (n < 0) {
		client_close(c);
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
			ex_reply(c, "error: line too long");
		else
			command(c, c->line);
		c->len = 0;
		c->overflow = 0;
	}
	free(buf->base);
}

static void accept_cb(uv_stream_t *server, int status)
{
	struct ex_control *ctl = server->data;
	struct ex_client *c;

	if (status < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->ctl = ctl;
	c->next = ctl->clients;
	ctl->clients = c;
	uv_pipe_init(ctl->loop, &c->pipe, 0);
	c->pipe.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) ||
	    uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb))
		uv_close((uv_handle_t *)&c->pipe, client_closed);
}

/* Set-up failed: the listening handle goes. */
static int handle_fail(struct ex_control *ctl, int rc)
{
	uv_close((uv_handle_t *)ctl->pipe, handle_free);
	ctl->pipe = NULL;
	return rc;
}

int ex_control_start(struct ex_control *ctl, uv_loop_t *loop, const char *path,
		     size_t reply_max, ex_command_fn fn, void *opaque)
{
	char at[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int rc;

	ctl->loop = loop;
	ctl->reply_max = reply_max;
	ctl->command = fn;
	ctl->opaque = opaque;
	ctl->pipe = calloc(1, sizeof(*ctl->pipe));
	if (!ctl->pipe)
		return -ENOMEM;
	uv_pipe_init(loop, ctl->pipe, 0);
	ctl->pipe->data = ctl;
	/*
	 * Bound under a sibling name and renamed once listening, so the path
	 * exists only when a client can connect (scripts wait for the file);
	 * when the sibling's name does not fit, the path itself.
	 */
	if ((size_t)snprintf(at, sizeof(at), "%s.%ld~", path, (long)getpid()) >= sizeof(at))
		snprintf(at, sizeof(at), "%s", path);
	unlink(path);
	unlink(at);
	rc = uv_pipe_bind(ctl->pipe, at);
	if (!rc)
		rc = uv_listen((uv_stream_t *)ctl->pipe, 8, accept_cb);
	if (!rc && strcmp(at, path) && rename(at, path))
		rc = -errno;
	if (rc) {
		unlink(at);
		return handle_fail(ctl, rc);
	}
	ctl->path = strdup(path);
	return 0;
}

void ex_control_stop(struct ex_control *ctl)
{
	for (struct ex_client *c = ctl->clients; c; c = c->next)
		client_close(c);
	if (!ctl->pipe)
		return;
	uv_close((uv_handle_t *)ctl->pipe, handle_free);
	ctl->pipe = NULL;
	if (ctl->path)
		unlink(ctl->path);
	free(ctl->path);
	ctl->path = NULL;
}

int ex_control_send(const char *prog, const char *path, const char *line)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[EX_LINE_MAX];
	size_t len = 0;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path) || strlen(line) >= EX_LINE_MAX - 1) {
		fprintf(stderr, "%s: path or command too long\n", prog);
		return 2;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "%s: control socket: %s\n", prog, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	snprintf(buf, sizeof(buf), "%s\n", line);
	if (write(fd, buf, strlen(buf)) != (ssize_t)strlen(buf)) {
		fprintf(stderr, "%s: control socket: %s\n", prog, strerror(errno));
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
