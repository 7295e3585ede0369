/* SPDX-License-Identifier: MIT */
/*
 * The bus: 256 target slots, each target a two-level LUN table (128
 * blocks of 128 pointers, a block allocated when its first LUN arrives and
 * freed with its last), so a lookup is two loads and an idle target costs
 * nothing. A target exists while it has LUNs. LUN add and remove at run
 * time, with the unit attentions and events they raise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "scsi/scsi_internal.h"

struct vdev__scsi_target *vdev__scsi_target_of(const vdev_scsi_lun *l)
{
	return l->bus->targets[l->target];
}

int vdev__scsi_target_each(struct vdev__scsi_target *tg, int (*fn)(vdev_scsi_lun *l, void *arg),
			   void *arg)
{
	for (unsigned int c = 0; c < SCSI_LUN_CHUNKS; c++) {
		vdev_scsi_lun **chunk = tg->chunk[c];

		if (!chunk)
			continue;
		for (unsigned int i = 0; i < SCSI_LUN_CHUNK; i++) {
			int rc;

			if (!chunk[i])
				continue;
			rc = fn(chunk[i], arg);
			if (rc)
				return rc;
		}
	}
	return 0;
}

void vdev__scsi_event(vdev_scsi_bus *bus, uint16_t target, uint16_t lun, enum vdev_scsi_event ev)
{
	if (bus->ops.event)
		bus->ops.event(bus->opaque, target, lun, ev);
}

int vdev_scsi_bus_new(vdev_ctx *ctx, const struct vdev_scsi_bus_ops *ops, void *opaque,
		      vdev_scsi_bus **out)
{
	vdev_scsi_bus *bus;

	if (!ctx || !out)
		return -EINVAL;
	*out = NULL;
	bus = calloc(1, sizeof(*bus));
	if (!bus)
		return -ENOMEM;
	if (ops && vdev__copy_sized(&bus->ops, sizeof(bus->ops), ops)) {
		free(bus);
		return -EINVAL;
	}
	bus->ctx = ctx;
	bus->opaque = opaque;
	*out = bus;
	return 0;
}

vdev_scsi_lun *vdev_scsi_lun_find(vdev_scsi_bus *bus, uint16_t target, uint16_t lun)
{
	struct vdev__scsi_target *tg;
	vdev_scsi_lun **chunk;

	if (!bus || target >= VDEV_SCSI_MAX_TARGETS || lun >= VDEV_SCSI_MAX_LUNS)
		return NULL;
	tg = bus->targets[target];
	if (!tg)
		return NULL;
	chunk = tg->chunk[lun >> SCSI_LUN_CHUNK_SHIFT];
	return chunk ? chunk[lun & (SCSI_LUN_CHUNK - 1)] : NULL;
}

unsigned int vdev_scsi_lun_count(const vdev_scsi_bus *bus)
{
	return bus ? bus->nluns : 0;
}

vdev_blk *vdev_scsi_lun_blk(vdev_scsi_lun *lun)
{
	return lun ? lun->blk : NULL;
}

int vdev_scsi_lun_type(const vdev_scsi_lun *lun)
{
	return lun ? lun->type : -EINVAL;
}

/* INQUIRY strings: printable ASCII (SPC-4 §4.3.1), at most @max bytes. */
static int check_ascii(const char *s, size_t max)
{
	size_t n;

	if (!s)
		return 0;
	n = strlen(s);
	if (n > max)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return -EINVAL;
	return 0;
}

/* Copy @s space-padded into @dst[@n] (or @def when NULL). */
static void pad_copy(char *dst, size_t n, const char *s, const char *def)
{
	const char *src = s ? s : def;
	size_t len = strlen(src);

	memset(dst, ' ', n);
	memcpy(dst, src, VDEV__MIN(len, n));
}

static int check_opts(vdev_scsi_bus *bus, const struct vdev_scsi_lun_opts *o)
{
	bool cd = o->type == VDEV_SCSI_LUN_CDROM;

	if (o->type == VDEV_SCSI_LUN_PASSTHROUGH) {
		if (vdev__scsi_pt_check_opts(bus, o))
			return -EINVAL;
	} else if (o->sg_path || o->sg_deny || o->sg_flags || o->reserved2) {
		return -EINVAL; /* pass-through options on another type */
	} else if ((o->type != VDEV_SCSI_LUN_DISK && !cd) || o->reserved || (!o->blk && !cd)) {
		return -EINVAL;
	}
	if (cd ? o->block_size && o->block_size != 2048
	       : o->block_size && o->block_size != 512 && o->block_size != 4096)
		return -EINVAL;
	if (cd && o->blk && vdev_blk_alignment(o->blk) > 1u << SCSI_MMC_BS_SHIFT)
		return -EINVAL;
	if (o->blk && !cd &&
	    vdev_blk_alignment(o->blk) > (o->block_size ? o->block_size : 512u)) {
		vdev_log(bus->ctx, VDEV_LOG_ERROR,
			 "scsi: backend alignment %u exceeds the logical block size",
			 vdev_blk_alignment(o->blk));
		return -EINVAL;
	}
	if (check_ascii(o->vendor, 8) || check_ascii(o->product, 16) ||
	    check_ascii(o->revision, 4) || check_ascii(o->serial, 64) ||
	    (o->serial && !o->serial[0]))
		return -EINVAL;
	return 0;
}

/* The LUN slot, allocating the target and the block as needed; NULL: -ENOMEM. */
static vdev_scsi_lun **lun_slot(vdev_scsi_bus *bus, uint16_t target, uint16_t lun)
{
	struct vdev__scsi_target *tg = bus->targets[target];
	unsigned int c = lun >> SCSI_LUN_CHUNK_SHIFT;

	if (!tg) {
		tg = calloc(1, sizeof(*tg));
		if (!tg)
			return NULL;
		bus->targets[target] = tg;
	}
	if (!tg->chunk[c]) {
		tg->chunk[c] = calloc(SCSI_LUN_CHUNK, sizeof(*tg->chunk[c]));
		if (!tg->chunk[c])
			return NULL;
	}
	return &tg->chunk[c][lun & (SCSI_LUN_CHUNK - 1)];
}

/* Free what lun_slot() allocated that holds no LUN. */
static void target_trim(vdev_scsi_bus *bus, uint16_t target, uint16_t lun)
{
	struct vdev__scsi_target *tg = bus->targets[target];
	unsigned int c = lun >> SCSI_LUN_CHUNK_SHIFT;
	bool empty = true;

	if (!tg)
		return;
	if (tg->chunk[c]) {
		for (unsigned int i = 0; i < SCSI_LUN_CHUNK && empty; i++)
			empty = !tg->chunk[c][i];
		if (empty) {
			free(tg->chunk[c]);
			tg->chunk[c] = NULL;
		}
	}
	if (!tg->nluns) {
		for (c = 0; c < SCSI_LUN_CHUNKS; c++)
			free(tg->chunk[c]);
		free(tg);
		bus->targets[target] = NULL;
	}
}

int vdev_scsi_lun_add(vdev_scsi_bus *bus, uint16_t target, uint16_t lun,
		      const struct vdev_scsi_lun_opts *opts, vdev_scsi_lun **out)
{
	struct vdev_scsi_lun_opts o;
	struct vdev__scsi_target *tg;
	vdev_scsi_lun **slot, *l;
	char rev[8];
	int rc;

	if (out)
		*out = NULL;
	if (!bus || !opts || target >= VDEV_SCSI_MAX_TARGETS || lun >= VDEV_SCSI_MAX_LUNS)
		return -EINVAL;
	if (vdev__copy_sized(&o, sizeof(o), opts))
		return -EINVAL;
	rc = check_opts(bus, &o);
	if (rc)
		return rc;
	if (vdev_scsi_lun_find(bus, target, lun))
		return -EEXIST;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	if (o.serial) {
		l->serial = strdup(o.serial);
		if (!l->serial) {
			free(l);
			return -ENOMEM;
		}
	}
	slot = lun_slot(bus, target, lun);
	if (!slot) {
		target_trim(bus, target, lun);
		free(l->serial);
		free(l);
		return -ENOMEM;
	}
	l->bus = bus;
	l->blk = o.blk;
	l->target = target;
	l->lun = lun;
	l->type = (uint8_t)o.type;
	l->bs_shift = o.block_size == 4096 ? 12 : 9;
	if (l->type == VDEV_SCSI_LUN_CDROM) {
		/* A CD-ROM: read-only, removable, 2048-byte sectors, maybe empty. */
		l->bs_shift = SCSI_MMC_BS_SHIFT;
		o.readonly = 1;
		o.removable = 1;
	}
	l->nblocks = o.blk ? vdev_blk_size(o.blk) >> l->bs_shift : 0;
	l->readonly = o.readonly || vdev_blk_readonly(o.blk);
	l->removable = !!o.removable;
	l->wce = l->wce_default = o.write_cache >= 0;
	l->wwn = o.wwn;
	snprintf(rev, sizeof(rev), "%u.%u", VDEV_VERSION_MAJOR, VDEV_VERSION_MINOR);
	pad_copy(l->vendor, sizeof(l->vendor), o.vendor, "LIBVDEV");
	pad_copy(l->product, sizeof(l->product), o.product,
		 l->type == VDEV_SCSI_LUN_CDROM ? "VIRTUAL-CDROM" : "VIRTUAL-DISK");
	pad_copy(l->revision, sizeof(l->revision), o.revision, rev);
	if (l->type == VDEV_SCSI_LUN_PASSTHROUGH && vdev__scsi_pt_init(l, &o)) {
		target_trim(bus, target, lun);
		free(l->serial);
		free(l);
		return -ENOMEM;
	}
	vdev__scsi_ua_set_reset(l, SCSI_ASC_POWER_ON_RESET);

	tg = bus->targets[target];
	if (tg->nluns)
		vdev__scsi_luns_changed(tg); /* the others' inventory changed (SPC-4 §6.33) */
	l->added_gen = tg->luns_gen;
	tg->nluns++;
	*slot = l;
	bus->nluns++;
	if (out)
		*out = l;
	vdev__scsi_event(bus, target, lun, VDEV_SCSI_EV_LUN_ADDED);
	return 0;
}

static void lun_destroy(vdev_scsi_lun *l, uint8_t resp)
{
	vdev__scsi_lun_abort(l, true, 0, resp);
	vdev_blk_close(l->blk);
	vdev__scsi_pt_free(l);
	free(l->serial);
	free(l);
}

int vdev_scsi_lun_remove(vdev_scsi_bus *bus, uint16_t target, uint16_t lun)
{
	struct vdev__scsi_target *tg;
	vdev_scsi_lun *l = vdev_scsi_lun_find(bus, target, lun);

	if (!l)
		return -ENOENT;
	if (bus->cb_depth)
		return -EBUSY;
	tg = bus->targets[target];
	/* Gone from the table first: a request submitted meanwhile finds no LUN. */
	tg->chunk[lun >> SCSI_LUN_CHUNK_SHIFT][lun & (SCSI_LUN_CHUNK - 1)] = NULL;
	tg->nluns--;
	bus->nluns--;
	if (tg->nluns)
		vdev__scsi_luns_changed(tg);
	lun_destroy(l, VDEV_SCSI_RESP_ABORTED);
	target_trim(bus, target, lun);
	vdev__scsi_event(bus, target, lun, VDEV_SCSI_EV_LUN_REMOVED);
	return 0;
}

int vdev_scsi_lun_capacity_changed(vdev_scsi_lun *l)
{
	uint64_t size;
	int rc;

	if (!l)
		return -EINVAL;
	if (!l->blk)
		return -ENOMEDIUM; /* an empty CD-ROM drive */
	rc = vdev_blk_refresh_size(l->blk, &size);
	if (rc)
		return rc;
	l->nblocks = size >> l->bs_shift;
	if (l->type == VDEV_SCSI_LUN_CDROM)
		vdev__scsi_mmc_refresh(l); /* an open tray still hides it */
	vdev__scsi_ua_set(l, SCSI_UA_CAPACITY);
	vdev__scsi_event(l->bus, l->target, l->lun, VDEV_SCSI_EV_CAPACITY_CHANGED);
	return 0;
}

static int each_bus_reset(vdev_scsi_lun *l, void *arg)
{
	(void)arg;
	vdev__scsi_lun_abort(l, true, 0, VDEV_SCSI_RESP_RESET);
	vdev__scsi_ua_set_reset(l, SCSI_ASC_POWER_ON_RESET);
	l->prevent = 0;
	return 0;
}

void vdev_scsi_bus_reset(vdev_scsi_bus *bus)
{
	if (!bus)
		return;
	if (bus->cb_depth) {
		vdev_log(bus->ctx, VDEV_LOG_ERROR, "scsi: bus reset from a done callback ignored");
		return;
	}
	for (unsigned int i = 0; i < VDEV_SCSI_MAX_TARGETS; i++)
		if (bus->targets[i])
			vdev__scsi_target_each(bus->targets[i], each_bus_reset, NULL);
}

void vdev_scsi_bus_free(vdev_scsi_bus *bus)
{
	if (!bus)
		return;
	for (unsigned int i = 0; i < VDEV_SCSI_MAX_TARGETS; i++) {
		struct vdev__scsi_target *tg = bus->targets[i];

		if (!tg)
			continue;
		for (unsigned int c = 0; c < SCSI_LUN_CHUNKS; c++) {
			if (!tg->chunk[c])
				continue;
			for (unsigned int k = 0; k < SCSI_LUN_CHUNK; k++) {
				vdev_scsi_lun *l = tg->chunk[c][k];

				if (!l)
					continue;
				tg->chunk[c][k] = NULL;
				lun_destroy(l, VDEV_SCSI_RESP_ABORTED);
			}
			free(tg->chunk[c]);
		}
		free(tg);
	}
	vdev__scsi_task_cache_free(bus);
	free(bus);
}
