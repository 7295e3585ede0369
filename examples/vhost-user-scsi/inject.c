/* SPDX-License-Identifier: MIT */
/*
 * --inject-error T.L:LBA:COUNT: blocks [LBA, LBA + COUNT) of disk LUN T.L
 * fail every READ and WRITE with an I/O error (vdev_blk_inject_error()),
 * which the SCSI layer reports as CHECK CONDITION, MEDIUM ERROR,
 * UNRECOVERED READ ERROR (11h/00h) or WRITE ERROR (0Ch/00h): a failing
 * medium, for testing guests' error paths. LBA and COUNT are in the LUN's
 * logical blocks (bs=).
 *
 * The error ranges go on the block backend vdev_scsi_lun_add_str() opened
 * for the LUN (vdev_scsi_lun_blk()), disk LUNs only.
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
	if (ex_parse_addr(addr, &in->target, &in->lun) ||
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

	if (ex_parse_addr(addr, &t, &l))
		return 0;
	for (size_t i = 0; i < d->ninject; i++)
		if (d->inject[i].target == t && d->inject[i].lun == l)
			return 1;
	return 0;
}

/* The logical block size a disk spec's "bs=" option asks for (512 by default). */
static uint32_t spec_block_size(const char *spec)
{
	if (!strncmp(spec, "disk:", 5))
		spec += 5;
	/* The options follow PATH, which holds no ':'. */
	for (const char *p = strchr(spec, ':'); p; p = strchr(p + 1, ':'))
		if (!strncmp(p, ":bs=4096", 8) && (p[8] == ':' || !p[8]))
			return 4096;
	return 512;
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
	vdev_scsi_lun *lun;
	unsigned int t, l;
	int rc;

	if (ex_parse_addr(addr, &t, &l))
		return -EINVAL;
	rc = ex_lun_add(d->bus, d->bloop, addr, spec);
	if (rc)
		return rc;
	/* Before the server listens: no guest sees the LUN without its error ranges. */
	lun = vdev_scsi_lun_find(d->bus, (uint16_t)t, (uint16_t)l);
	if (vdev_scsi_lun_type(lun) != VDEV_SCSI_LUN_DISK) {
		/* A CD-ROM is read-only, sg has no block requests. */
		vdev_log(d->ctx, VDEV_LOG_ERROR, "LUN %u.%u \"%s\": --inject-error takes a disk "
			 "LUN ([disk:]PATH[:OPT]...)", t, l, spec);
		rc = -EINVAL;
	} else {
		rc = inject(d, vdev_scsi_lun_blk(lun), t, l, spec_block_size(spec));
	}
	if (rc) {
		vdev_scsi_lun_remove(d->bus, (uint16_t)t, (uint16_t)l);
		return rc;
	}
	d_remember_spec(d, spec);
	vdev_log(d->ctx, VDEV_LOG_INFO, "LUN %u.%u added: %s", t, l, spec);
	return 0;
}
