/* SPDX-License-Identifier: MIT */
/*
 * libvdev devices from the command line:
 *
 *   --device virtio-scsi-pci[,key=value...][,lunN=VALUE...][,boot=lunN]
 *
 * The device part goes to vdev_device_create_kv() (with source-id set to
 * the PCI devfn unless given); lunN items add SCSI LUNs through
 * vdev_scsi_lun_add_str() ([disk:|cdrom:|sg:]PATH[:ro]...); boot=
 * names a LUN to put first in the "bootorder" fw_cfg file, as the Open
 * Firmware path SeaBIOS matches (/pci@i0cf8/scsi@SLOT/channel@0/disk@T,L).
 * Each device's PCI function sits on bus 0 from slot 2; its BARs are mapped
 * into the port/MMIO tables by a BAR listener as the guest programs them.
 * Every backend shares one block completion loop, run by the I/O thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"

#define MAX_DEVICES 16
#define MAX_BOOT 16

struct rdev;

struct barref {
	struct rdev *d;
	int bar;
};

struct rdev {
	struct vm *vm;
	vdev_device *dev;
	vdev_pci_func *f;
	unsigned int slot;
	struct barref bars[VDEV_PCI_NUM_BARS];
};

struct devices {
	struct rdev d[MAX_DEVICES];
	unsigned int n;
	vdev_blk_loop *loop;
	char bootorder[MAX_BOOT * 64];
	size_t bootorder_len;
};

static void bar_access(void *opaque, uint64_t offset, uint8_t *data, unsigned int len,
		       int is_write)
{
	struct barref *b = opaque;

	if (is_write)
		vdev_pci_bar_write(b->d->f, b->bar, offset, data, len);
	else
		vdev_pci_bar_read(b->d->f, b->bar, offset, data, len);
}

static void bar_changed(void *opaque, vdev_pci_func *f, int bar)
{
	struct rdev *d = opaque;
	struct vm *vm = d->vm;
	struct vdev_pci_bar_info info;
	int rc;

	if (bar < 0 || bar >= VDEV_PCI_NUM_BARS || vdev_pci_bar_get_info(f, bar, &info))
		return;
	io_table_remove_owner(&vm->pio, d, bar);
	io_table_remove_owner(&vm->mmio, d, bar);
	if (!info.decoding || !info.size)
		return;
	if (info.flags & VDEV_PCI_BAR_IO) {
		if (info.addr + info.size > 0x10000)
			rc = -ERANGE;
		else
			rc = io_table_add(&vm->pio, info.addr, info.size, bar_access,
					  &d->bars[bar], d, bar);
	} else {
		rc = io_table_add(&vm->mmio, info.addr, info.size, bar_access, &d->bars[bar],
				  d, bar);
	}
	if (rc)
		fprintf(stderr, "vdev-run: %s BAR%d at 0x%llx (size 0x%llx) not mapped: %s\n",
			vdev_device_id(d->dev), bar, (unsigned long long)info.addr,
			(unsigned long long)info.size, strerror(-rc));
}

static int type_has_opt(const struct vdev_device_type *t, const char *name)
{
	size_t i;

	for (i = 0; t && i < t->n_opts; i++)
		if (!strcmp(t->opts[i].name, name))
			return 1;
	return 0;
}

static int add_boot(struct devices *ds, unsigned int slot, const char *item)
{
	unsigned int target, lun;
	const char *value;
	char spec[64];
	int n;

	/* "boot=lunN" -> decode "lunN=" */
	snprintf(spec, sizeof(spec), "%s=", item + 5);
	if (lunspec_address(spec, &target, &lun, &value))
		return -EINVAL;
	n = snprintf(ds->bootorder + ds->bootorder_len, sizeof(ds->bootorder) - ds->bootorder_len,
		     "/pci@i0cf8/scsi@%x/channel@0/disk@%x,%x\n", slot, target, lun);
	if (n < 0 || (size_t)n >= sizeof(ds->bootorder) - ds->bootorder_len)
		return -ENOSPC;
	ds->bootorder_len += (size_t)n;
	return 0;
}

static int create_one(struct vm *vm, const char *spec)
{
	struct devices *ds = vm->devs;
	struct rdev *d = &ds->d[ds->n];
	char *copy = strdup(spec), *save = NULL, *tok, *devspec, *name;
	char *luns[64], *boots[MAX_BOOT];
	unsigned int nl = 0, nb = 0, i;
	size_t cap = strlen(spec) + 32;
	int slot, rc = -EINVAL, has_source = 0;

	devspec = calloc(1, cap);
	if (!copy || !devspec) {
		rc = -ENOMEM;
		goto out;
	}
	if (ds->n == MAX_DEVICES) {
		fprintf(stderr, "vdev-run: at most %d devices\n", MAX_DEVICES);
		goto out;
	}
	name = NULL;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!name) {
			name = tok;
			strcat(devspec, tok);
		} else if (!strncmp(tok, "lun", 3) && tok[3] >= '0' && tok[3] <= '9') {
			if (nl == 64)
				goto out;
			luns[nl++] = tok;
		} else if (!strncmp(tok, "boot=", 5)) {
			if (nb == MAX_BOOT)
				goto out;
			boots[nb++] = tok;
		} else {
			if (!strncmp(tok, "source-id=", 10))
				has_source = 1;
			strcat(devspec, ",");
			strcat(devspec, tok);
		}
	}
	if (!name) {
		fprintf(stderr, "vdev-run: --device: empty spec\n");
		goto out;
	}
	slot = pci_host_next_slot(vm);
	if (slot < 0) {
		fprintf(stderr, "vdev-run: --device %s: no free PCI slot\n", name);
		rc = slot;
		goto out;
	}
	if (!has_source && type_has_opt(vdev_device_type_find(vm->ctx, name), "source-id"))
		snprintf(devspec + strlen(devspec), cap - strlen(devspec), ",source-id=%d",
			 slot << 3);
	rc = vdev_device_create_kv(vm->ctx, devspec, &d->dev);
	if (rc) {
		fprintf(stderr, "vdev-run: --device %s: %s\n", spec, vdev_strerror(rc));
		goto out;
	}
	d->vm = vm;
	d->f = vdev_device_pci(d->dev);
	ds->n++;
	if (!d->f) {
		fprintf(stderr, "vdev-run: --device %s: not a PCI device (only PCI devices can "
			"be attached)\n", name);
		rc = -ENOTSUP;
		goto out;
	}
	pci_host_attach(vm, d->f, &d->slot);
	for (i = 0; i < VDEV_PCI_NUM_BARS; i++)
		d->bars[i] = (struct barref){ d, (int)i };
	vdev_pci_set_bar_listener(d->f, bar_changed, d);

	if (nl && !vdev_virtio_scsi_bus(d->dev)) {
		fprintf(stderr, "vdev-run: --device %s: lunN= needs a SCSI controller\n", name);
		rc = -EINVAL;
		goto out;
	}
	for (i = 0; i < nl; i++) {
		rc = vdev_scsi_lun_add_str(vdev_virtio_scsi_bus(d->dev), ds->loop, luns[i], NULL);
		if (rc) {
			fprintf(stderr, "vdev-run: --device %s: %s: %s\n", name, luns[i],
				vdev_strerror(rc));
			goto out;
		}
	}
	for (i = 0; i < nb; i++) {
		rc = add_boot(ds, d->slot, boots[i]);
		if (rc) {
			fprintf(stderr, "vdev-run: --device %s: bad %s (want boot=lunN or "
				"boot=lunT.L)\n", name, boots[i]);
			goto out;
		}
	}
	rc = 0;
out:
	free(copy);
	free(devspec);
	return rc;
}

int devices_create(struct vm *vm)
{
	struct vdev_blk_loop_opts lo;
	struct devices *ds = calloc(1, sizeof(*ds));
	unsigned int i;
	int rc;

	if (!ds)
		return -ENOMEM;
	vm->devs = ds;
	memset(&lo, 0, sizeof(lo));
	lo.struct_size = sizeof(lo);
	rc = vdev_blk_loop_new(vm->ctx, &lo, &ds->loop);
	if (rc) {
		fprintf(stderr, "vdev-run: vdev_blk_loop_new: %s\n", vdev_strerror(rc));
		return rc;
	}
	rc = iothread_add_blk_loop(vm, ds->loop);
	for (i = 0; !rc && i < vm->opts->n_devices; i++)
		rc = create_one(vm, vm->opts->devices[i]);
	/* Entries are '\n'-separated; the last one's '\n' becomes the NUL. */
	if (!rc && ds->bootorder_len) {
		ds->bootorder[ds->bootorder_len - 1] = 0;
		rc = fw_cfg_add_file(vm, "bootorder", ds->bootorder, (uint32_t)ds->bootorder_len);
	}
	return rc;
}

void devices_destroy(struct vm *vm)
{
	struct devices *ds = vm->devs;
	unsigned int i;

	if (!ds)
		return;
	for (i = 0; i < ds->n; i++)
		vdev_device_destroy(ds->d[i].dev);
	vdev_blk_loop_free(ds->loop);
	free(ds);
	vm->devs = NULL;
}

unsigned int devices_count(struct vm *vm)
{
	return vm->devs ? vm->devs->n : 0;
}

int devices_save(struct vm *vm, vdev_state_writer *w)
{
	unsigned int i;
	int rc = 0;

	for (i = 0; !rc && i < vm->devs->n; i++)
		rc = vdev_device_save(vm->devs->d[i].dev, w);
	return rc;
}

/* The reader is positioned at the first device record; devices come in command-line order. */
int devices_load(struct vm *vm, vdev_state_reader *r)
{
	unsigned int i;
	int rc = 0;

	for (i = 0; !rc && i < vm->devs->n; i++) {
		rc = vdev_device_load(vm->devs->d[i].dev, r);
		if (rc)
			fprintf(stderr, "vdev-run: --load-state: device %s: %s (%s)\n",
				vdev_device_id(vm->devs->d[i].dev), vdev_strerror(rc),
				vdev_state_reader_error(r));
	}
	return rc;
}
