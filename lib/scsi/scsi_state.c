/* SPDX-License-Identifier: MIT */
/*
 * Save and load of a bus: for each LUN its address and type, its unit
 * attentions, mode parameters, stopped and medium-lock state and its
 * persistent reservation. Not the backends' data, not requests in flight
 * (the transport re-submits those).
 *
 *   SCSI (v1) { NLUN u32, SLUN (v1) { fields } x NLUN }
 *
 * Load reads and checks every LUN record (same LUN set and types as this
 * bus, values in range, reservations consistent) before it changes
 * anything.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>

#include "scsi/scsi_internal.h"

#define T(a, b, c, d) VDEV_STATE_TAG(a, b, c, d)
#define TAG_SCSI T('S', 'C', 'S', 'I')
#define TAG_NLUN T('N', 'L', 'U', 'N')
#define TAG_SLUN T('S', 'L', 'U', 'N')
#define SCSI_STATE_VERSION 1

struct lun_rec {
	uint32_t addr;          /* target << 16 | lun */
	uint32_t pr_gen;
	uint64_t pr_key;
	uint8_t type, ua, ua_ascq, luns_changed;
	uint8_t wce, dsense, stopped, prevent;
	uint8_t pr_registered, pr_reserved, pr_type;
	uint8_t medium, tray_open, mmc_event;   /* CD-ROM only (optional records) */
	vdev_scsi_lun *lun;     /* resolved at load */
};

#define F(tag, name, type, member, lo, hi) \
	{ name, tag, type, 0, 0, offsetof(struct lun_rec, member), 0, lo, hi }
#define FOPT(tag, name, type, member, lo, hi) \
	{ name, tag, type, VDEV_STATE_FIELD_OPTIONAL, 0, offsetof(struct lun_rec, member), 0, \
	  lo, hi }

static const struct vdev_state_field lun_fields[] = {
	F(T('A', 'D', 'D', 'R'), "address", VDEV_STATE_U32, addr, 0,
	  (VDEV_SCSI_MAX_TARGETS - 1u) << 16 | (VDEV_SCSI_MAX_LUNS - 1u)),
	F(T('T', 'Y', 'P', 'E'), "type", VDEV_STATE_U8, type, 0, 0xff),
	F(T('U', 'A', 'T', 'N'), "unit_attentions", VDEV_STATE_U8, ua, 0, SCSI_UA_ALL),
	F(T('U', 'A', 'R', 'Q'), "reset_qualifier", VDEV_STATE_U8, ua_ascq, 0, 0xff),
	F(T('L', 'C', 'H', 'G'), "luns_changed", VDEV_STATE_U8, luns_changed, 0, 1),
	F(T('W', 'C', 'E', ' '), "wce", VDEV_STATE_U8, wce, 0, 1),
	F(T('D', 'S', 'N', 'S'), "d_sense", VDEV_STATE_U8, dsense, 0, 1),
	F(T('S', 'T', 'O', 'P'), "stopped", VDEV_STATE_U8, stopped, 0, 1),
	F(T('P', 'R', 'E', 'V'), "prevent", VDEV_STATE_U8, prevent, 0, 1),
	F(T('P', 'R', 'R', 'G'), "pr_registered", VDEV_STATE_U8, pr_registered, 0, 1),
	F(T('P', 'R', 'K', 'Y'), "pr_key", VDEV_STATE_U64, pr_key, 0, 0),
	F(T('P', 'R', 'R', 'S'), "pr_reserved", VDEV_STATE_U8, pr_reserved, 0, 1),
	F(T('P', 'R', 'T', 'Y'), "pr_type", VDEV_STATE_U8, pr_type, 0, 0xff),
	F(T('P', 'R', 'G', 'N'), "pr_generation", VDEV_STATE_U32, pr_gen, 0, 0),
	FOPT(T('M', 'D', 'I', 'M'), "medium_present", VDEV_STATE_U8, medium, 0, 1),
	FOPT(T('T', 'R', 'A', 'Y'), "tray_open", VDEV_STATE_U8, tray_open, 0, 1),
	FOPT(T('M', 'E', 'V', 'T'), "media_event", VDEV_STATE_U8, mmc_event, 0, 4),
};

static void rec_from(struct lun_rec *r, const vdev_scsi_lun *l)
{
	memset(r, 0, sizeof(*r));
	r->addr = (uint32_t)l->target << 16 | l->lun;
	r->type = l->type;
	r->ua = l->ua;
	r->ua_ascq = (l->ua & SCSI_UA_RESET) ? l->ua_reset_ascq : 0;
	r->luns_changed = vdev__scsi_luns_changed_pending(l);
	r->wce = l->wce;
	r->dsense = l->dsense;
	r->stopped = l->stopped;
	r->prevent = l->prevent;
	r->pr_registered = l->pr.registered;
	r->pr_key = l->pr.key;
	r->pr_reserved = l->pr.reserved;
	r->pr_type = l->pr.type;
	r->pr_gen = l->pr.generation;
	r->medium = l->type == VDEV_SCSI_LUN_CDROM && l->blk;
	r->tray_open = l->tray_open;
	r->mmc_event = l->mmc_event;
}

struct save_ctx {
	vdev_state_writer *w;
};

static int save_lun(vdev_scsi_lun *l, void *arg)
{
	struct save_ctx *s = arg;
	struct lun_rec r;
	int rc;

	rec_from(&r, l);
	rc = vdev_state_begin(s->w, TAG_SLUN, SCSI_STATE_VERSION, VDEV_STATE_F_REQUIRED);
	if (!rc)
		rc = vdev_state_save_fields(s->w, lun_fields, VDEV__ARRAY_SIZE(lun_fields), &r);
	if (!rc)
		rc = vdev_state_end(s->w);
	return rc;
}

int vdev_scsi_bus_save(vdev_scsi_bus *bus, vdev_state_writer *w)
{
	struct save_ctx s = { w };
	int rc;

	if (!bus || !w)
		return -EINVAL;
	rc = vdev_state_begin(w, TAG_SCSI, SCSI_STATE_VERSION, VDEV_STATE_F_REQUIRED);
	if (!rc)
		rc = vdev_state_put_u32(w, TAG_NLUN, bus->nluns);
	for (unsigned int i = 0; !rc && i < VDEV_SCSI_MAX_TARGETS; i++)
		if (bus->targets[i])
			rc = vdev__scsi_target_each(bus->targets[i], save_lun, &s);
	if (!rc)
		rc = vdev_state_end(w);
	return rc;
}

/* ---- load ---- */

static int check_rec(vdev_scsi_bus *bus, vdev_state_reader *r, struct lun_rec *rec)
{
	uint16_t target = (uint16_t)(rec->addr >> 16), lun = (uint16_t)rec->addr;
	struct vdev__scsi_pr pr = {
		.key = rec->pr_key,
		.generation = rec->pr_gen,
		.registered = rec->pr_registered,
		.reserved = rec->pr_reserved,
		.type = rec->pr_type,
	};

	rec->lun = vdev_scsi_lun_find(bus, target, lun);
	if (!rec->lun)
		return vdev_state_fail(r, -EINVAL, "scsi: LUN %u:%u is not on this bus", target,
				       lun);
	if (rec->lun->type != rec->type)
		return vdev_state_fail(r, -EINVAL, "scsi: LUN %u:%u has type %u here, %u saved",
				       target, lun, rec->lun->type, rec->type);
	if ((rec->ua & SCSI_UA_RESET) && rec->ua_ascq != 0x00 &&
	    rec->ua_ascq != (uint8_t)SCSI_ASC_BUS_DEVICE_RESET &&
	    rec->ua_ascq != (uint8_t)SCSI_ASC_I_T_NEXUS_LOSS)
		return vdev_state_fail(r, -ERANGE, "scsi: LUN %u:%u: reset qualifier %u", target,
				       lun, rec->ua_ascq);
	if (!(rec->ua & SCSI_UA_RESET) && rec->ua_ascq)
		return vdev_state_fail(r, -ERANGE, "scsi: LUN %u:%u: stray reset qualifier",
				       target, lun);
	/* The VMM recreates the LUN with the medium the guest had (the data is not saved). */
	if (rec->lun->type == VDEV_SCSI_LUN_CDROM && rec->medium != (rec->lun->blk != NULL))
		return vdev_state_fail(r, -EINVAL, "scsi: LUN %u:%u: medium %s saved, %s here",
				       target, lun, rec->medium ? "present" : "absent",
				       rec->lun->blk ? "present" : "absent");
	if (rec->lun->type != VDEV_SCSI_LUN_CDROM &&
	    (rec->tray_open || rec->mmc_event || (rec->ua & (SCSI_UA_MEDIUM | SCSI_UA_NO_MEDIUM))))
		return vdev_state_fail(r, -ERANGE, "scsi: LUN %u:%u: CD-ROM state on a disk",
				       target, lun);
	if (vdev__scsi_pr_valid(&pr))
		return vdev_state_fail(r, -ERANGE,
				       "scsi: LUN %u:%u: inconsistent reservation (registered %u, "
				       "reserved %u, type %u)", target, lun, pr.registered,
				       pr.reserved, pr.type);
	return 0;
}

static int cmp_addr(const void *a, const void *b)
{
	const struct lun_rec *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int parse(vdev_scsi_bus *bus, vdev_state_reader *r, struct lun_rec **out, uint32_t *nout)
{
	struct vdev_state_record rec;
	struct lun_rec *recs = NULL;
	uint32_t n = 0, nlun = 0;
	bool have_n = false;
	int rc;

	rc = vdev_state_next(r, &rec);
	if (rc < 0)
		return rc;
	if (!rc || rec.tag != TAG_SCSI || rec.type != VDEV_STATE_SECTION)
		return vdev_state_fail(r, -EBADMSG, "scsi: no bus section");
	if (rec.version != SCSI_STATE_VERSION)
		return vdev_state_fail(r, -EBADMSG, "scsi: schema version %u, expected %u",
				       rec.version, SCSI_STATE_VERSION);
	recs = calloc(bus->nluns ? bus->nluns : 1, sizeof(*recs));
	if (!recs)
		return -ENOMEM;
	rc = vdev_state_enter(r);
	while (!rc && (rc = vdev_state_next(r, &rec)) > 0) {
		uint64_t v;

		rc = 0;
		if (rec.tag == TAG_NLUN) {
			if (have_n || rec.type != VDEV_STATE_U32 ||
			    vdev_state_record_uint(&rec, &v)) {
				rc = vdev_state_fail(r, -EBADMSG, "scsi: bad LUN count");
				break;
			}
			have_n = true;
			nlun = (uint32_t)v;
			if (nlun != bus->nluns) {
				rc = vdev_state_fail(r, -EINVAL,
						     "scsi: %" PRIu32 " LUNs saved, %u here", nlun,
						     bus->nluns);
				break;
			}
		} else if (rec.tag == TAG_SLUN && rec.type == VDEV_STATE_SECTION) {
			if (rec.version != SCSI_STATE_VERSION || n >= bus->nluns) {
				rc = vdev_state_fail(r, -EBADMSG, "scsi: unexpected LUN record");
				break;
			}
			rc = vdev_state_enter(r);
			if (!rc)
				rc = vdev_state_load_fields(r, lun_fields,
							    VDEV__ARRAY_SIZE(lun_fields), &recs[n]);
			if (!rc)
				rc = vdev_state_leave(r);
			if (!rc)
				rc = check_rec(bus, r, &recs[n]);
			n++;
		} else if (rec.flags & VDEV_STATE_F_REQUIRED) {
			rc = vdev_state_fail(r, -EPROTONOSUPPORT,
					     "scsi: unknown required record 0x%08" PRIx32, rec.tag);
		}
	}
	if (!rc && (!have_n || n != nlun))
		rc = vdev_state_fail(r, -EBADMSG, "scsi: %" PRIu32 " LUN records for %" PRIu32
				     " LUNs", n, nlun);
	if (!rc) {
		qsort(recs, n, sizeof(*recs), cmp_addr);
		for (uint32_t i = 1; i < n && !rc; i++)
			if (recs[i].addr == recs[i - 1].addr)
				rc = vdev_state_fail(r, -EBADMSG, "scsi: LUN %u:%u saved twice",
						     recs[i].addr >> 16, recs[i].addr & 0xffff);
	}
	if (!rc)
		rc = vdev_state_leave(r);
	if (rc) {
		free(recs);
		return rc;
	}
	*out = recs;
	*nout = n;
	return 0;
}

static void apply(vdev_scsi_bus *bus, const struct lun_rec *recs, uint32_t n)
{
	/* REPORTED LUNS DATA HAS CHANGED is per target: a fresh generation where pending. */
	for (unsigned int i = 0; i < VDEV_SCSI_MAX_TARGETS; i++) {
		struct vdev__scsi_target *tg = bus->targets[i];

		if (tg)
			tg->luns_acked = tg->luns_gen;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct vdev__scsi_target *tg = vdev__scsi_target_of(recs[i].lun);

		if (recs[i].luns_changed && tg->luns_acked == tg->luns_gen) {
			tg->luns_gen++;
			tg->luns_acked = tg->luns_gen - 1;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct lun_rec *rec = &recs[i];
		vdev_scsi_lun *l = rec->lun;
		struct vdev__scsi_target *tg = vdev__scsi_target_of(l);

		l->added_gen = rec->luns_changed ? tg->luns_gen - 1 : tg->luns_gen;
		l->ua = rec->ua;
		l->ua_reset_ascq = rec->ua_ascq;
		l->wce = rec->wce;
		l->dsense = rec->dsense;
		l->stopped = rec->stopped;
		l->prevent = rec->prevent;
		l->tray_open = rec->tray_open;
		l->mmc_event = rec->mmc_event;
		if (l->type == VDEV_SCSI_LUN_CDROM)
			vdev__scsi_mmc_refresh(l);
		l->pr.registered = rec->pr_registered;
		l->pr.key = rec->pr_key;
		l->pr.reserved = rec->pr_reserved;
		l->pr.type = rec->pr_type;
		l->pr.generation = rec->pr_gen;
	}
}

int vdev_scsi_bus_load(vdev_scsi_bus *bus, vdev_state_reader *r)
{
	struct lun_rec *recs = NULL;
	uint32_t n = 0;
	int rc;

	if (!bus || !r)
		return -EINVAL;
	if (bus->cb_depth)
		return -EBUSY;
	rc = parse(bus, r, &recs, &n);
	if (rc)
		return rc;
	apply(bus, recs, n);
	free(recs);
	return 0;
}
