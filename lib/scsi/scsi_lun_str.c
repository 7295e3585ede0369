/* SPDX-License-Identifier: MIT */
/*
 * LUN spec strings (vdev_scsi_lun_add_str(), vdev_scsi_split_spec()): the
 * one syntax the KVM runner, the vhost-user and the vfio-user daemons
 * share, "lun[<T>.]<L>=[KIND:]PATH[:OPT]...".
 *
 * A string is parsed whole before anything is opened, so a malformed one
 * adds nothing and says what is wrong in one log line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "scsi/scsi_internal.h"

enum lun_kind { KIND_DISK, KIND_CDROM, KIND_SG };

struct lun_spec {
	uint16_t target, lun;
	enum lun_kind kind;
	const char *path;        /* into the parse copy; "" only for an empty CD-ROM */
	bool ro, direct, wc, wt, allow_all;
	uint32_t bs;
	const char *serial, *vendor, *product;
};

static int bad(vdev_scsi_bus *bus, const char *str, const char *fmt, ...) VDEV_PRINTF(3, 4);

static int bad(vdev_scsi_bus *bus, const char *str, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	vdev_log(bus->ctx, VDEV_LOG_ERROR, "scsi: LUN spec \"%s\": %s", str, why);
	return -EINVAL;
}

/* Decimal digits at *@p, at most @max: advance *@p; false if none or too large. */
static bool parse_num(const char **p, unsigned long max, unsigned long *out)
{
	const char *s = *p;
	unsigned long v = 0;

	if (*s < '0' || *s > '9')
		return false;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return false;
		s++;
	}
	*p = s;
	*out = v;
	return true;
}

/*
 * "lun<L>=" or "lun<T>.<L>=" at @s: @return the value after '=' with the
 * address in @t/@l, or NULL (@range set when only the numbers are out of range).
 */
static const char *parse_key(const char *s, unsigned long *t, unsigned long *l, bool *range)
{
	const char *p = s + 3;
	unsigned long a, b;
	const char *q;

	*range = false;
	if (strncmp(s, "lun", 3) != 0)
		return NULL;
	/* Syntax first, with no bound, so "lun99999=" is a range error, not a syntax one. */
	q = p;
	if (!parse_num(&q, ~0ul / 10 - 9, &a))
		return NULL;
	if (*q == '.') {
		q++;
		if (!parse_num(&q, ~0ul / 10 - 9, &b))
			return NULL;
		if (*q != '=')
			return NULL;
		*t = a;
		*l = b;
		*range = a >= VDEV_SCSI_MAX_TARGETS || b >= VDEV_SCSI_MAX_LUNS;
	} else {
		if (*q != '=')
			return NULL;
		*t = 0;
		*l = a;
		*range = a >= VDEV_SCSI_MAX_LUNS;
	}
	return *range ? NULL : q + 1;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

/* One ":OPT" item of @sp. */
static int parse_opt(vdev_scsi_bus *bus, const char *str, struct lun_spec *sp, const char *o)
{
	bool disk = sp->kind == KIND_DISK, sg = sp->kind == KIND_SG;
	const char *v = strchr(o, '=');
	bool *flag = NULL;

	if (!strcmp(o, "ro"))
		flag = &sp->ro;
	else if (!strcmp(o, "direct") && !sg)
		flag = &sp->direct;
	else if (!strcmp(o, "wc") && disk)
		flag = &sp->wc;
	else if (!strcmp(o, "wt") && disk)
		flag = &sp->wt;
	else if (!strcmp(o, "allow-all") && sg)
		flag = &sp->allow_all;
	if (flag) {
		if (*flag)
			return bad(bus, str, "option \"%s\" given twice", o);
		*flag = true;
		if (sp->wc && sp->wt)
			return bad(bus, str, "\"wc\" and \"wt\" together");
		return 0;
	}
	if (!v)
		return bad(bus, str, "unknown option \"%s\" for this kind of LUN", o);
	v++;
	if (!strncmp(o, "bs=", 3) && disk) {
		if (sp->bs)
			return bad(bus, str, "option \"bs\" given twice");
		if (strcmp(v, "512") && strcmp(v, "4096"))
			return bad(bus, str, "block size \"%s\": 512 or 4096", v);
		sp->bs = (uint32_t)atoi(v);
		return 0;
	}
	/* A pass-through LUN's INQUIRY data is the device's own. */
	if (!sg && (!strncmp(o, "serial=", 7) || !strncmp(o, "vendor=", 7) ||
		    !strncmp(o, "product=", 8))) {
		const char **dst = o[0] == 's' ? &sp->serial : o[0] == 'v' ? &sp->vendor
									    : &sp->product;
		size_t max = o[0] == 's' ? 64 : o[0] == 'v' ? 8 : 16;

		if (*dst)
			return bad(bus, str, "option \"%.*s\" given twice", (int)(v - o - 1), o);
		if (!*v || strlen(v) > max || !printable(v))
			return bad(bus, str, "\"%s\": 1 to %zu printable ASCII characters", o, max);
		*dst = v;
		return 0;
	}
	return bad(bus, str, "unknown option \"%s\" for this kind of LUN", o);
}

/* Parse @str into @sp; @copy is the caller's writable copy of the value part. */
static int parse(vdev_scsi_bus *bus, const char *str, char *copy, struct lun_spec *sp)
{
	char *tok, *next;
	unsigned int i = 0;

	sp->kind = KIND_DISK;
	/* A KIND is only a kind when a ':' follows it: "disk" alone is a file name. */
	if (!strncmp(copy, "disk:", 5)) {
		copy += 5;
	} else if (!strncmp(copy, "cdrom:", 6)) {
		sp->kind = KIND_CDROM;
		copy += 6;
	} else if (!strncmp(copy, "sg:", 3)) {
		sp->kind = KIND_SG;
		copy += 3;
	}
	for (tok = copy; tok; tok = next, i++) {
		int rc;

		next = strchr(tok, ':');
		if (next)
			*next++ = '\0';
		if (i == 0) {
			sp->path = tok;
			continue;
		}
		if (!*tok)
			return bad(bus, str, "empty option");
		rc = parse_opt(bus, str, sp, tok);
		if (rc)
			return rc;
	}
	if (!sp->path[0] && sp->kind != KIND_CDROM)
		return bad(bus, str, "no path");
	if (!sp->path[0] && sp->direct)
		return bad(bus, str, "\"direct\" on an empty CD-ROM drive");
	return 0;
}

static int open_backend(vdev_scsi_bus *bus, vdev_blk_loop *loop, const char *str,
			const struct lun_spec *sp, vdev_blk **out)
{
	struct vdev_blk_opts o = {
		.struct_size = sizeof(o),
		.driver = sp->kind == KIND_SG ? "sg" : "file",
		.path = sp->path,
		.readonly = sp->ro || sp->kind == KIND_CDROM,
		.direct = sp->direct,
		.loop = loop,
	};
	int rc;

	*out = NULL;
	if (!sp->path[0])
		return 0; /* an empty CD-ROM drive */
	rc = vdev_blk_open(bus->ctx, &o, out);
	if (rc)
		vdev_log(bus->ctx, VDEV_LOG_ERROR, "scsi: LUN spec \"%s\": cannot open %s: %s", str,
			 sp->path, vdev_strerror(rc));
	return rc;
}

int vdev_scsi_lun_add_str(vdev_scsi_bus *bus, vdev_blk_loop *loop, const char *str,
			  vdev_scsi_lun **out)
{
	struct vdev_scsi_lun_opts o = { .struct_size = sizeof(o) };
	struct lun_spec sp = { 0 };
	unsigned long t, l;
	const char *val;
	char *copy;
	vdev_blk *blk;
	bool range;
	int rc;

	if (out)
		*out = NULL;
	if (!bus || !str)
		return -EINVAL;
	val = parse_key(str, &t, &l, &range);
	if (!val)
		return range ? bad(bus, str, "target 0..%u, LUN 0..%u",
				   (unsigned int)VDEV_SCSI_MAX_TARGETS - 1,
				   (unsigned int)VDEV_SCSI_MAX_LUNS - 1)
			     : bad(bus, str, "expected lun<L>=VALUE or lun<T>.<L>=VALUE");
	if (!*val)
		return bad(bus, str, "empty value");
	copy = strdup(val);
	if (!copy)
		return -ENOMEM;
	sp.target = (uint16_t)t;
	sp.lun = (uint16_t)l;
	rc = parse(bus, str, copy, &sp);
	if (!rc && vdev_scsi_lun_find(bus, sp.target, sp.lun)) {
		vdev_log(bus->ctx, VDEV_LOG_ERROR, "scsi: LUN spec \"%s\": LUN %u:%u exists", str,
			 sp.target, sp.lun);
		rc = -EEXIST;
	}
	if (!rc)
		rc = open_backend(bus, loop, str, &sp, &blk);
	if (rc) {
		free(copy);
		return rc;
	}
	o.type = VDEV_SCSI_LUN_DISK;
	if (sp.kind == KIND_SG)
		o.type = VDEV_SCSI_LUN_PASSTHROUGH;
	else if (sp.kind == KIND_CDROM)
		o.type = VDEV_SCSI_LUN_CDROM;
	o.blk = blk;
	o.block_size = sp.bs;
	o.readonly = sp.ro;
	o.write_cache = sp.wc ? 1 : sp.wt ? -1 : 0;
	o.serial = sp.serial;
	o.vendor = sp.vendor;
	o.product = sp.product;
	o.sg_flags = sp.allow_all ? VDEV_SCSI_SG_ALLOW_ALL : 0;
	rc = vdev_scsi_lun_add(bus, sp.target, sp.lun, &o, out);
	if (rc) {
		vdev_log(bus->ctx, VDEV_LOG_ERROR, "scsi: LUN spec \"%s\": %s", str,
			 vdev_strerror(rc));
		vdev_blk_close(blk);
	}
	free(copy); /* the LUN copied the strings */
	return rc;
}

/* ---- splitting a device spec ---- */

static bool is_lun_item(const char *item)
{
	unsigned long t, l;
	bool range;

	/* Out of range is still a LUN item: vdev_scsi_lun_add_str() says what is wrong. */
	return parse_key(item, &t, &l, &range) || range;
}

void vdev_scsi_split_spec_free(char *device_spec, char **lun_strs, size_t n_luns)
{
	if (lun_strs)
		for (size_t i = 0; i < n_luns; i++)
			free(lun_strs[i]);
	free(lun_strs);
	free(device_spec);
}

int vdev_scsi_split_spec(const char *spec, char **device_spec, char ***lun_strs, size_t *n_luns)
{
	size_t len, nl = 0, cap = 0, dlen = 0, ndev = 0;
	char **luns = NULL;
	char *dev, *item, *end;
	char *copy;

	if (!spec || !device_spec || !lun_strs || !n_luns)
		return -EINVAL;
	*device_spec = NULL;
	*lun_strs = NULL;
	*n_luns = 0;
	len = strlen(spec);
	copy = strdup(spec);
	dev = calloc(1, len + 1);
	if (!copy || !dev)
		goto nomem;
	for (const char *p = spec; *p; p++)
		cap += *p == ',';
	luns = calloc(cap + 1, sizeof(*luns));
	if (!luns)
		goto nomem;
	for (item = copy;; item = end + 1) {
		end = strchr(item, ',');
		if (end)
			*end = '\0';
		if (is_lun_item(item)) {
			luns[nl] = strdup(item);
			if (!luns[nl])
				goto nomem;
			nl++;
		} else {
			if (ndev++)
				dev[dlen++] = ',';
			memcpy(dev + dlen, item, strlen(item));
			dlen += strlen(item);
		}
		if (!end)
			break;
	}
	free(copy);
	if (!nl) {
		free(luns);
		luns = NULL;
	}
	*device_spec = dev;
	*lun_strs = luns;
	*n_luns = nl;
	return 0;
nomem:
	vdev_scsi_split_spec_free(dev, luns, nl);
	free(copy);
	return -ENOMEM;
}
