/* SPDX-License-Identifier: MIT */
/*
 * vdev-vfio-user: one libvdev PCI device served whole over vfio-user
 * (lib/vfio-user): config space, BARs, MSI-X and the device's own
 * transport reach the client (QEMU's vfio-user-pci) as they are.
 *
 *   vdev-vfio-user --socket PATH --device TYPE[,key=value]...[,lunN=SPEC]...
 *                  [--control PATH] [-v]
 *   vdev-vfio-user --send CONTROL_PATH 'COMMAND'     (a control socket client)
 *
 * e.g. --device virtio-scsi-pci,num-queues=2,lun0=disk.img,lun1=cdrom:x.iso
 * The device spec has the KVM runner's syntax: the type's options
 * (vdev_device_create_kv()) and, for a device with a SCSI bus, LUNs
 * ("lun<L>=" or "lun<T>.<L>=" [KIND:]PATH[:OPT]..., vdev_scsi_lun_add_str()).
 *
 * QEMU side:
 *   -object memory-backend-memfd,id=mem,size=...,share=on -machine memory-backend=mem
 *   -device '{"driver":"vfio-user-pci","socket":{"type":"unix","path":"PATH"}}'
 *
 * Block completions and library timers run on the same libuv loop as the
 * server. SIGTERM or SIGINT: stop serving, close the device (its backends
 * finish their I/O), exit 0. Log lines go to stderr. The control socket
 * (control.c) adds and removes LUNs and changes CD-ROM media at run time.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon.h"

static void log_cb(void *opaque, enum vdev_log_level level, const char *msg)
{
	struct daemon *d = opaque;

	ex_log_line("vdev-vfio-user", d->verbose, level, msg);
}

static void timers_changed(void *opaque)
{
	struct daemon *d = opaque;

	ex_timers_sync(&d->ev);
}

static void vfu_event(void *opaque, enum vdev_vfio_user_event ev)
{
	struct daemon *d = opaque;

	if (ev == VDEV_VFIO_USER_DISCONNECTED && !d->ev.stopping)
		vdev_log(d->ctx, VDEV_LOG_INFO, "client gone; waiting for the next one");
	ex_timers_sync(&d->ev);
}

static void stop(void *opaque, const char *why)
{
	struct daemon *d = opaque;

	if (d->ev.stopping)
		return;
	d->ev.stopping = 1;
	vdev_log(d->ctx, VDEV_LOG_INFO, "%s: shutting down", why);
	vdev_vfio_user_free(d->vs);
	d->vs = NULL;
	ex_control_stop(&d->control);
	ex_signals_close(&d->ev);
	/* Destroying the device closes every LUN's backend (their I/O finishes first). */
	vdev_device_destroy(d->dev);
	d->dev = NULL;
	ex_blk_stop(&d->ev);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vdev-vfio-user --socket PATH --device TYPE[,key=value]...[,lunN=SPEC]..."
		   " [--control PATH] [-v]\n"
		   "       vdev-vfio-user --send CONTROL_PATH 'COMMAND'\n"
		   "  e.g. --device virtio-scsi-pci,num-queues=2,lun0=disk.img,lun1=cdrom:x.iso\n"
		   "  SPEC: [KIND:]PATH[:OPT]...; KIND disk (default), cdrom, sg\n"
		   "  --list: the registered PCI device types\n");
}

static void list_types(struct daemon *d)
{
	const struct vdev_device_type *ty;

	for (size_t i = 0; (ty = vdev_device_type_at(d->ctx, i)); i++)
		if (strstr(ty->name, "pci"))
			printf("%-24s %s\n", ty->name, ty->description ? ty->description : "");
}

static int create_device(struct daemon *d, const char *spec)
{
	char *dspec = NULL, **luns = NULL;
	size_t nluns = 0;
	vdev_scsi_bus *bus;
	int rc = vdev_scsi_split_spec(spec, &dspec, &luns, &nluns);

	if (rc)
		return rc;
	rc = vdev_device_create_kv(d->ctx, dspec, &d->dev);
	if (rc) {
		vdev_log(d->ctx, VDEV_LOG_ERROR, "cannot create %s: %s", dspec, vdev_strerror(rc));
		goto out;
	}
	if (!vdev_device_pci(d->dev)) {
		vdev_log(d->ctx, VDEV_LOG_ERROR, "%s is not a PCI device", dspec);
		rc = -EINVAL;
		goto out;
	}
	bus = d->bus = vdev_virtio_scsi_bus(d->dev);
	if (nluns && !bus) {
		vdev_log(d->ctx, VDEV_LOG_ERROR, "%s has no SCSI bus for LUNs", dspec);
		rc = -EINVAL;
		goto out;
	}
	for (size_t i = 0; i < nluns; i++) {
		rc = vdev_scsi_lun_add_str(bus, d->bloop, luns[i], NULL);
		if (rc) {
			vdev_log(d->ctx, VDEV_LOG_ERROR, "%s: %s", luns[i], vdev_strerror(rc));
			goto out;
		}
	}
	vdev_log(d->ctx, VDEV_LOG_INFO, "device %s (%s), %zu LUN(s)", vdev_device_id(d->dev),
		 dspec, nluns);
out:
	vdev_scsi_split_spec_free(dspec, luns, nluns);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "device", required_argument, NULL, 'd' },
		{ "list", no_argument, NULL, 'l' },
		{ "control", required_argument, NULL, 'c' },
		{ "send", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct daemon d = { 0 };
	struct vdev_host_ops ho = {
		.struct_size = sizeof(ho),
		.opaque = &d,
		.log = log_cb,
		.timers_changed = timers_changed,
	};
	struct vdev_vfio_user_opts vo = {
		.struct_size = sizeof(vo),
		.event = vfu_event,
		.opaque = &d,
	};
	struct vdev_blk_loop_opts lo = { .struct_size = sizeof(lo) };
	const char *device = NULL, *control = NULL, *send = NULL;
	int o, list = 0, rc;
	uv_loop_t loop;

	while ((o = getopt_long(argc, argv, "s:d:lvh", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			vo.socket_path = optarg;
			break;
		case 'd':
			device = optarg;
			break;
		case 'l':
			list = 1;
			break;
		case 'c':
			control = optarg;
			break;
		case 'S':
			send = optarg;
			break;
		case 'v':
			d.verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (send) {
		if (optind != argc - 1) {
			usage(stderr);
			return 2;
		}
		return ex_control_send("vdev-vfio-user", send, argv[optind]);
	}
	if (optind != argc || (!list && (!vo.socket_path || !device))) {
		usage(stderr);
		return 2;
	}
	if (uv_loop_init(&loop))
		return 1;
	loop.data = &d;
	d.loop = &loop;
	rc = vdev_ctx_new(&ho, &d.ctx);
	if (rc) {
		fprintf(stderr, "vdev-vfio-user: %s\n", vdev_strerror(rc));
		return 1;
	}
	if (list) {
		list_types(&d);
		vdev_ctx_free(d.ctx);
		return 0;
	}
	vdev_ctx_set_log_level(d.ctx, d.verbose >= 2 ? VDEV_LOG_DEBUG : VDEV_LOG_INFO);
	rc = vdev_blk_loop_new(d.ctx, &lo, &d.bloop);
	if (!rc)
		rc = create_device(&d, device);
	if (!rc)
		rc = vdev_vfio_user_new(d.dev, &loop, &vo, &d.vs);
	if (!rc && control && (rc = d_control_start(&d, control))) {
		vdev_log(d.ctx, VDEV_LOG_ERROR, "control socket %s: %s", control, uv_strerror(rc));
		rc = -EINVAL;
	}
	if (rc) {
		vdev_log(d.ctx, VDEV_LOG_ERROR, "cannot start: %s", vdev_strerror(rc));
		/* The server's handles close on the loop: let it run once. */
		vdev_vfio_user_free(d.vs);
		uv_run(&loop, UV_RUN_NOWAIT);
		vdev_device_destroy(d.dev);
		vdev_blk_loop_free(d.bloop);
		vdev_ctx_free(d.ctx);
		return 1;
	}
	(void)ex_blk_start(&d.ev, &loop, d.ctx, d.bloop);
	ex_signals_start(&d.ev, stop, &d);
	vdev_log(d.ctx, VDEV_LOG_INFO, "serving on %s", vo.socket_path);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	vdev_blk_loop_free(d.bloop);
	vdev_ctx_free(d.ctx);
	return 0;
}
