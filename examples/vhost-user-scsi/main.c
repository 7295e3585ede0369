/* SPDX-License-Identifier: MIT */
/*
 * vdev-vhost-user-scsi: a virtio-scsi controller served to QEMU over
 * vhost-user (lib/vhost-user), LUNs backed by files.
 *
 *   vdev-vhost-user-scsi --socket PATH [--num-queues N] [--queue-size Q]
 *       --lun 0:disk.img --lun 1:cdrom:image.iso --lun 0.5:disk:x.img:ro ...
 *       [--control PATH] [--inject-error T.L:LBA:COUNT]... [-v]
 *
 * QEMU side:
 *   -chardev socket,id=vus,path=PATH[,reconnect=1]
 *   -device vhost-user-scsi-pci,chardev=vus,num_queues=N
 *   -object memory-backend-memfd,id=mem,size=...,share=on -numa node,memdev=mem
 *
 * --lun ADDR:SPEC: ADDR is "L" (target 0) or "T.L"; SPEC is the library's
 * LUN spec value ([KIND:]PATH[:OPT]..., vdev_scsi_lun_add_str()).
 * --inject-error T.L:LBA:COUNT: blocks LBA..LBA+COUNT-1 of disk LUN T.L
 * fail reads and writes with MEDIUM ERROR (inject.c), for guest tests.
 * The control socket takes line commands (control.c). SIGTERM or SIGINT:
 * stop serving, flush every backend (fsync of each disk file), exit 0.
 * Log lines go to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

static void log_cb(void *opaque, enum vdev_log_level level, const char *msg)
{
	struct daemon *d = opaque;

	ex_log_line("vdev-vhost-user-scsi", d->verbose, level, msg);
}

static void timers_changed(void *opaque)
{
	struct daemon *d = opaque;

	ex_timers_sync(&d->ev);
}

static void vu_event(void *opaque, enum vdev_vhost_user_event ev, unsigned int q)
{
	struct daemon *d = opaque;

	(void)q;
	if (ev == VDEV_VHOST_USER_DISCONNECTED && !d->ev.stopping)
		vdev_log(d->ctx, VDEV_LOG_INFO, "front end gone; waiting for the next one");
	/* Kicks and resets may arm library timers. */
	ex_timers_sync(&d->ev);
}

static void flush_files(struct daemon *d)
{
	for (size_t i = 0; i < d->nfiles; i++) {
		int fd = open(d->files[i], O_RDONLY | O_CLOEXEC);

		if (fd < 0 || fsync(fd))
			vdev_log(d->ctx, VDEV_LOG_WARN, "flush of %s failed: %s", d->files[i],
				 strerror(errno));
		if (fd >= 0)
			close(fd);
		free(d->files[i]);
	}
	d->nfiles = 0;
}

static void stop(void *opaque, const char *why)
{
	struct daemon *d = opaque;

	if (d->ev.stopping)
		return;
	d->ev.stopping = 1;
	vdev_log(d->ctx, VDEV_LOG_INFO, "%s: shutting down", why);
	vdev_vhost_user_free(d->vu);
	d->vu = NULL;
	ex_control_stop(&d->control);
	ex_signals_close(&d->ev);
	/* Closing the device closes every LUN's backend (their I/O finishes first). */
	vdev_device_destroy(d->dev);
	d->dev = NULL;
	d_backend_stop(d);
	flush_files(d);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vdev-vhost-user-scsi --socket PATH [--num-queues N] "
		   "[--queue-size Q]\n"
		   "         --lun ADDR:[KIND:]PATH[:OPT]... [--lun ...] [--control PATH]\n"
		   "         [--inject-error ADDR:LBA:COUNT]... [-v]\n"
		   "  ADDR: L or T.L; KIND: disk (default), cdrom, sg; OPT: ro, direct, wc, wt,\n"
		   "  bs=512|4096, serial=S, vendor=V, product=P\n"
		   "  --inject-error: blocks LBA..LBA+COUNT-1 of disk LUN ADDR fail reads and\n"
		   "  writes with MEDIUM ERROR (a failing medium, for tests)\n");
}

struct args {
	const char *socket;
	const char *control;
	unsigned int num_queues;
	unsigned int queue_size;
	const char *luns[D_MAX_FILES];
	size_t nluns;
};

static int parse(int argc, char **argv, struct args *a, struct daemon *d)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "num-queues", required_argument, NULL, 'n' },
		{ "queue-size", required_argument, NULL, 'q' },
		{ "lun", required_argument, NULL, 'l' },
		{ "control", required_argument, NULL, 'c' },
		{ "inject-error", required_argument, NULL, 'e' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int o;

	a->num_queues = 1;
	a->queue_size = 128;
	while ((o = getopt_long(argc, argv, "s:n:q:l:c:e:vh", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			a->socket = optarg;
			break;
		case 'n':
			a->num_queues = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'q':
			a->queue_size = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'l':
			if (a->nluns == D_MAX_FILES)
				return -1;
			a->luns[a->nluns++] = optarg;
			break;
		case 'c':
			a->control = optarg;
			break;
		case 'e':
			if (d_inject_parse(d, optarg)) {
				fprintf(stderr, "--inject-error %s: expected ADDR:LBA:COUNT "
					"(at most %d)\n", optarg, D_MAX_INJECT);
				return -1;
			}
			break;
		case 'v':
			d->verbose++;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	return a->socket && optind == argc ? 0 : -1;
}

static int setup(struct daemon *d, const struct args *a)
{
	struct vdev_host_ops ho = {
		.struct_size = sizeof(ho),
		.opaque = d,
		.log = log_cb,
		.timers_changed = timers_changed,
	};
	struct vdev_vhost_user_opts vo = {
		.struct_size = sizeof(vo),
		.socket_path = a->socket,
		.event = vu_event,
		.opaque = d,
	};
	char spec[128];
	int rc;

	rc = vdev_ctx_new(&ho, &d->ctx);
	if (rc)
		return rc;
	vdev_ctx_set_log_level(d->ctx, d->verbose >= 2 ? VDEV_LOG_DEBUG : VDEV_LOG_INFO);
	rc = d_backend_start(d);
	if (rc)
		return rc;
	snprintf(spec, sizeof(spec), "virtio-scsi-pci,id=vus,num-queues=%u,queue-size=%u",
		 a->num_queues, a->queue_size);
	rc = vdev_device_create_kv(d->ctx, spec, &d->dev);
	if (rc) {
		vdev_log(d->ctx, VDEV_LOG_ERROR, "cannot create %s: %s", spec, vdev_strerror(rc));
		return rc;
	}
	d->vd = vdev_device_virtio(d->dev);
	d->bus = vdev_virtio_scsi_bus(d->dev);
	for (size_t i = 0; i < a->nluns; i++) {
		char *addr = strdup(a->luns[i]), *colon = addr ? strchr(addr, ':') : NULL;

		if (!colon) {
			vdev_log(d->ctx, VDEV_LOG_ERROR, "--lun %s: expected ADDR:SPEC",
				 a->luns[i]);
			free(addr);
			return -EINVAL;
		}
		*colon = 0;
		if (d_inject_wanted(d, addr))
			rc = d_lun_add_faulty(d, addr, colon + 1);
		else
			rc = d_lun_add(d, addr, colon + 1);
		if (rc)
			vdev_log(d->ctx, VDEV_LOG_ERROR, "--lun %s: %s", a->luns[i],
				 vdev_strerror(rc));
		free(addr);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < d->ninject; i++) {
		if (!d->inject[i].used) {
			vdev_log(d->ctx, VDEV_LOG_ERROR, "--inject-error: no disk LUN %u.%u",
				 d->inject[i].target, d->inject[i].lun);
			return -EINVAL;
		}
	}
	rc = vdev_vhost_user_new(d->vd, d->loop, &vo, &d->vu);
	if (rc) {
		vdev_log(d->ctx, VDEV_LOG_ERROR, "cannot listen on %s: %s", a->socket,
			 vdev_strerror(rc));
		return rc;
	}
	if (a->control) {
		rc = d_control_start(d, a->control);
		if (rc) {
			vdev_log(d->ctx, VDEV_LOG_ERROR, "control socket %s: %s", a->control,
				 uv_strerror(rc));
			return rc;
		}
		vdev_log(d->ctx, VDEV_LOG_INFO, "control socket on %s", a->control);
	}
	ex_signals_start(&d->ev, stop, d);
	vdev_log(d->ctx, VDEV_LOG_INFO, "%u LUN(s), %u request queue(s) of %u",
		 vdev_scsi_lun_count(d->bus), a->num_queues, a->queue_size);
	return 0;
}

int main(int argc, char **argv)
{
	struct daemon d = { 0 };
	struct args a = { 0 };
	uv_loop_t loop;
	int rc;

	if (parse(argc, argv, &a, &d)) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&loop);
	loop.data = &d;
	d.loop = &loop;
	rc = setup(&d, &a);
	if (rc) {
		/* Partial setup: tear down what exists, then report. */
		vdev_vhost_user_free(d.vu);
		d.vu = NULL;
		d.ev.stopping = 1;
		ex_control_stop(&d.control);
		vdev_device_destroy(d.dev);
		if (d.bloop)
			d_backend_stop(&d);
		uv_run(&loop, UV_RUN_DEFAULT);
		vdev_blk_loop_free(d.bloop);
		vdev_ctx_free(d.ctx);
		uv_loop_close(&loop);
		return 1;
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	vdev_blk_loop_free(d.bloop);
	vdev_log(d.ctx, VDEV_LOG_INFO, "stopped");
	vdev_ctx_free(d.ctx);
	uv_loop_close(&loop);
	return 0;
}
