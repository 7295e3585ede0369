/* SPDX-License-Identifier: MIT */
/*
 * --inject-error T.L:LBA:COUNT: blocks [LBA, LBA + COUNT) of disk LUN T.L
 * fail every READ and WRITE with an I/O error (vdev_blk_inject_error()),
 * which the SCSI layer reports as CHECK CONDITION, MEDIUM ERROR,
 * UNRECOVERED READ ERROR (11h/00h) or WRITE ERROR (0Ch/00h): a failing
 * medium, for testing guests' error paths. LBA and COUNT are in the LUN's
 * logical blocks (bs=).
 *
 * The error ranges go on the LUN's block backend, so such a LUN's backend
 * is opened here instead of by vdev_scsi_lun_add_str(), which keeps the
 * backend it opens to itself: its spec is parsed here, for disk LUNs only
 * ([disk:]PATH[:OPT]..., the --lun options of a disk).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

/* Most blocks an LBA or a count may name: keeps LBA * 4096 far from overflow. */
#define D_INJECT_MAX_BLOCKS (1ull << 48)

static int parse_u64(const char *s, char **end, uint64_t *out)
{
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, end, 10);
	if (errno || v >= D_INJECT_MAX_BLOCKS)
		return -EINVAL;
	*out = v;
	return 0;
}

int d_inject_parse(struct daemon *d, const char *s)
{
	struct d_inject *in;
	char addr[32], *end;
	const char *colon = strchr(s, ':');
	size_t alen = colon ? (size_t)(colon - s) : 0;

	if (d->ninject == D_MAX_INJECT || !colon || !alen || alen >= sizeof(addr))
		return -EINVAL;
	in = &d->inject[d->ninject];
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (d_parse_addr(addr, &in->target, &in->lun) ||
	    parse_u64(colon + 1, &end, &in->lba) || *end != ':' ||
	    parse_u64(end + 1, &end, &in->count) || *end || !in->count)
		return -EINVAL;
	in->used = 0;
	d->ninject++;
	return 0;
}

int d_inject_wanted(const struct daemon *d, const char *addr)
{
	unsigned int t, l;

	if (d_parse_addr(addr, &t, &l))
		return 0;
	for (size_t i = 0; i < d->ninject; i++)
		if (d->inject[i].target == t && d->inject[i].lun == l)
			return 1;
	return 0;
}

/* A disk spec "[disk:]PATH[:OPT]..." (@copy is modified) into the two option structs. */
static int parse_disk(char *copy, struct vdev_blk_opts *bo, struct vdev_scsi_lun_opts *lo)
{
	char *tok, *next;

	if (!strncmp(copy, "disk:", 5))
		copy += 5;
	else if (!strncmp(copy, "cdrom:", 6) || !strncmp(copy, "sg:", 3))
		return -EINVAL; /* disks only: a CD-ROM is read-only, sg has no block requests */
	next = strchr(copy, ':');
	if (next)
		*next++ = '\0';
	if (!*copy)
		return -EINVAL;
	bo->path = copy;
	for (tok = next; tok; tok = next) {
		next = strchr(tok, ':');
		if (next)
			*next++ = '\0';
		if (!strcmp(tok, "ro"))
			lo->readonly = bo->readonly = 1;
		else if (!strcmp(tok, "direct"))
			bo->direct = 1;
		else if (!strcmp(tok, "wc"))
			lo->write_cache = 1;
		else if (!strcmp(tok, "wt"))
			lo->write_cache = -1;
		else if (!strcmp(tok, "bs=512"))
			lo->block_size = 512;
		else if (!strcmp(tok, "bs=4096"))
			lo->block_size = 4096;
		else if (!strncmp(tok, "serial=", 7))
			lo->serial = tok + 7;     /* checked by vdev_scsi_lun_add() */
		else if (!strncmp(tok, "vendor=", 7))
			lo->vendor = tok + 7;
		else if (!strncmp(tok, "product=", 8))
			lo->product = tok + 8;
		else
			return -EINVAL;
	}
	return 0;
}

/* Put every --inject-error range of LUN @t.@l on @blk (blocks of @bs bytes). */
static int inject(struct daemon *d, vdev_blk *blk, unsigned int t, unsigned int l, uint32_t bs)
{
	for (size_t i = 0; i < d->ninject; i++) {
		struct d_inject *in = &d->inject[i];
		int rc;

		if (in->target != t || in->lun != l)
			continue;
		rc = vdev_blk_inject_error(blk, in->lba * bs, in->count * bs, VDEV_BLK_OPS_RW,
					   -EIO);
		if (rc)
			return rc;
		in->used = 1;
		vdev_log(d->ctx, VDEV_LOG_INFO, "LUN %u.%u: blocks %" PRIu64 "..%" PRIu64
			 " fail reads and writes with MEDIUM ERROR (--inject-error)", t, l,
			 in->lba, in->lba + in->count - 1);
	}
	return 0;
}

int d_lun_add_faulty(struct daemon *d, const char *addr, const char *spec)
{
	struct vdev_blk_opts bo = {
		.struct_size = sizeof(bo),
		.driver = "file",
		.loop = d->bloop,
	};
	struct vdev_scsi_lun_opts lo = {
		.struct_size = sizeof(lo),
		.type = VDEV_SCSI_LUN_DISK,
	};
	vdev_blk *blk = NULL;
	unsigned int t, l;
	char *copy;
	int rc;

	if (d_parse_addr(addr, &t, &l))
		return -EINVAL;
	copy = strdup(spec);
	if (!copy)
		return -ENOMEM;
	rc = parse_disk(copy, &bo, &lo);
	if (rc) {
		vdev_log(d->ctx, VDEV_LOG_ERROR, "LUN %u.%u \"%s\": --inject-error takes a disk "
			 "LUN ([disk:]PATH[:ro|direct|wc|wt|bs=|serial=|vendor=|product=]...)",
			 t, l, spec);
		goto out;
	}
	rc = vdev_blk_open(d->ctx, &bo, &blk);
	if (!rc)
		rc = inject(d, blk, t, l, lo.block_size ? lo.block_size : 512);
	if (!rc) {
		lo.blk = blk;
		rc = vdev_scsi_lun_add(d->bus, (uint16_t)t, (uint16_t)l, &lo, NULL);
	}
	if (rc) {
		vdev_blk_close(blk); /* still ours when vdev_scsi_lun_add() failed */
		goto out;
	}
	if (!lo.readonly)
		d_remember_file(d, bo.path);
	vdev_log(d->ctx, VDEV_LOG_INFO, "LUN %u.%u added: %s", t, l, spec);
out:
	free(copy);
	return rc;
}
