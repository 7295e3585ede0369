/* SPDX-License-Identifier: MIT */
/*
 * CD-ROM logical units (MMC-6): a read-only drive with a tray, 2048-byte
 * sectors read from an ISO image (the LUN's block backend; none = empty
 * drive), and the commands a Linux sr driver and a Windows guest use to
 * find out what is in it: READ TOC/PMA/ATIP, GET CONFIGURATION, GET EVENT
 * STATUS NOTIFICATION, READ DISC INFORMATION, READ TRACK INFORMATION and
 * MECHANISM STATUS. READ(10)/(12), READ CAPACITY(10), TEST UNIT READY,
 * START STOP UNIT and PREVENT ALLOW MEDIUM REMOVAL are the shared handlers
 * with small CD-ROM branches.
 *
 * The disc is one complete session holding one Mode 1 data track that
 * starts at LBA 0 and covers the whole image. A medium larger than an
 * 80-minute CD (360000 sectors) is presented as a DVD-ROM (profile 0010h),
 * anything else as a CD-ROM (0008h); the drive advertises both profiles.
 *
 * Tray and medium: the medium is accessible when the LUN has a backend
 * and the tray is closed. The guest opens and closes the tray with START
 * STOP UNIT (LOEJ), refused while it has locked the medium (PREVENT ALLOW
 * MEDIUM REMOVAL); the VMM inserts or removes the medium with
 * vdev_scsi_lun_set_medium(), which a guest lock refuses too unless forced
 * (a refused removal queues an EJECT REQUEST event, as a drive's button
 * does). Changes raise GESN media events (one pending, the newest), the
 * 28h/00h or 3Ah/00h unit attention when the VMM did it, and the bus's
 * VDEV_SCSI_EV_MEDIUM_CHANGED event.
 */
#include <errno.h>
#include <stdlib.h>

#include "scsi/scsi_internal.h"

#define CD_MAX_SECTORS 360000u   /* 80 minutes × 60 s × 75 frames */
#define MSF_OFFSET 150u          /* LBA 0 is MSF 00:02:00 (MMC-6 §4.2.3.5) */
#define LEADOUT_TRACK 0xaa
#define TRACK_CONTROL 0x14       /* ADR 1 (Q mode 1), CONTROL 4: data track, no copy */

/* GESN media event codes (MMC-6 Table 155). */
#define EV_NONE 0
#define EV_EJECT_REQUEST 1
#define EV_NEW_MEDIA 2
#define EV_MEDIA_REMOVAL 3

/* Profiles (MMC-6 Table 91). */
#define PROFILE_NONE 0x0000
#define PROFILE_CDROM 0x0008
#define PROFILE_DVDROM 0x0010

/* ---- hooks for the shared code ---- */

uint16_t vdev__scsi_no_medium_code(const vdev_scsi_lun *l)
{
	if (l->type != VDEV_SCSI_LUN_CDROM)
		return SCSI_ASC_MEDIUM_NOT_PRESENT;
	return l->tray_open ? SCSI_ASC_NO_MEDIUM_TRAY_OPEN : SCSI_ASC_NO_MEDIUM_TRAY_CLOSED;
}

void vdev__scsi_mmc_refresh(vdev_scsi_lun *l)
{
	l->nblocks = l->blk && !l->tray_open ? vdev_blk_size(l->blk) >> SCSI_MMC_BS_SHIFT : 0;
}

bool vdev__scsi_cmd_fits(const struct vdev__scsi_cmd *c, const vdev_scsi_lun *l)
{
	if (l->type == VDEV_SCSI_LUN_CDROM)
		return !(c->flags & SCSI_CF_DISK);
	return !(c->flags & SCSI_CF_MMC);
}

static bool is_dvd(const vdev_scsi_lun *l)
{
	return l->nblocks > CD_MAX_SECTORS;
}

static uint16_t current_profile(const vdev_scsi_lun *l)
{
	if (!l->nblocks)
		return PROFILE_NONE;
	return is_dvd(l) ? PROFILE_DVDROM : PROFILE_CDROM;
}

/* The medium's state changed: GESN event, bus event. */
static void media_changed(vdev_scsi_lun *l, uint8_t ev)
{
	l->mmc_event = ev;
	vdev__scsi_event(l->bus, l->target, l->lun, VDEV_SCSI_EV_MEDIUM_CHANGED);
}

void vdev__scsi_mmc_load_eject(struct vdev__scsi_task *t, bool start)
{
	vdev_scsi_lun *l = t->lun;

	if (start) {
		/* Load: close the tray; a medium in it becomes ready (MMC-6 §6.39). */
		l->stopped = 0;
		if (l->tray_open) {
			l->tray_open = 0;
			vdev__scsi_mmc_refresh(l);
			if (l->blk)
				media_changed(l, EV_NEW_MEDIA);
		}
	} else if (l->prevent) {
		vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_REMOVAL_PREVENTED);
	} else if (!l->tray_open) {
		/* Eject: open the tray; the medium stays in it (the VMM owns removal). */
		l->tray_open = 1;
		vdev__scsi_mmc_refresh(l);
		if (l->blk)
			media_changed(l, EV_MEDIA_REMOVAL);
	}
	vdev__scsi_task_finish(t);
}

int vdev_scsi_lun_set_medium(vdev_scsi_lun *l, vdev_blk *blk, int force)
{
	vdev_blk *old;

	if (!l)
		return -EINVAL;
	if (l->type != VDEV_SCSI_LUN_CDROM)
		return -ENOTSUP;
	if (l->bus->cb_depth)
		return -EBUSY; /* removal waits for the LUN's requests */
	if (blk && vdev_blk_alignment(blk) > 1u << SCSI_MMC_BS_SHIFT)
		return -EINVAL;
	if (l->prevent && !force) {
		/* The guest locked it: ask it to let go, as a drive's eject button does. */
		l->mmc_event = EV_EJECT_REQUEST;
		vdev__scsi_event(l->bus, l->target, l->lun, VDEV_SCSI_EV_MEDIUM_CHANGED);
		return -EBUSY;
	}
	old = l->blk;
	if (old) {
		/* Requests still reading the old medium are aborted before it goes. */
		vdev__scsi_lun_abort(l, true, 0, VDEV_SCSI_RESP_ABORTED);
		vdev_blk_close(old);
	}
	l->blk = blk;
	l->stopped = 0;
	l->tray_open = !blk;
	vdev__scsi_mmc_refresh(l);
	l->ua &= (uint8_t)~(SCSI_UA_MEDIUM | SCSI_UA_NO_MEDIUM);
	if (blk) {
		vdev__scsi_ua_set(l, SCSI_UA_MEDIUM);
		media_changed(l, EV_NEW_MEDIA);
	} else {
		vdev__scsi_ua_set(l, SCSI_UA_NO_MEDIUM);
		media_changed(l, EV_MEDIA_REMOVAL);
	}
	return 0;
}

/* ---- READ TOC/PMA/ATIP (MMC-6 §6.26) ---- */

static void put_addr(uint8_t *p, uint32_t lba, bool msf)
{
	if (!msf) {
		scsi_put_be32(p, lba);
		return;
	}
	lba += MSF_OFFSET;
	p[0] = 0;
	p[1] = (uint8_t)(lba / (60 * 75));
	p[2] = (uint8_t)(lba / 75 % 60);
	p[3] = (uint8_t)(lba % 75);
}

/* A full-TOC descriptor (format 0010b, Table 481): point @point, P-MSF @pm:@ps:@pf. */
static uint8_t *put_full(uint8_t *p, uint8_t point, uint8_t pm, uint8_t ps, uint8_t pf)
{
	memset(p, 0, 11);
	p[0] = 1;               /* session */
	p[1] = TRACK_CONTROL;
	p[3] = point;
	p[8] = pm;
	p[9] = ps;
	p[10] = pf;
	return p + 11;
}

void vdev__scsi_exec_read_toc(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	vdev_scsi_lun *l = t->lun;
	bool msf = cdb[1] & 0x02;
	uint8_t track = cdb[6], b[4 + 4 * 11], *p = b + 4;
	uint32_t leadout = (uint32_t)VDEV__MIN(l->nblocks, (uint64_t)UINT32_MAX - MSF_OFFSET);
	uint8_t lo[4];

	memset(b, 0, sizeof(b));
	switch (cdb[2] & 0x0f) {
	case 0: /* TOC: track 1 and the lead-out, from @track on */
		if (track > 1 && track != LEADOUT_TRACK) {
			vdev__scsi_bad_cdb(t, 6, 7);
			goto out;
		}
		b[2] = 1;
		b[3] = 1;
		if (track <= 1) {
			p[1] = TRACK_CONTROL;
			p[2] = 1;
			put_addr(p + 4, 0, msf);
			p += 8;
		}
		p[1] = TRACK_CONTROL;
		p[2] = LEADOUT_TRACK;
		put_addr(p + 4, leadout, msf);
		p += 8;
		break;
	case 1: /* session information: the first track of the last session */
		b[2] = 1;
		b[3] = 1;
		p[1] = TRACK_CONTROL;
		p[2] = 1;
		put_addr(p + 4, 0, msf);
		p += 8;
		break;
	case 2: /* full TOC: A0h first track, A1h last track, A2h lead-out, track 1 */
		b[2] = 1;
		b[3] = 1;
		put_addr(lo, leadout, true);
		p = put_full(p, 0xa0, 1, 0x00, 0);  /* PSEC 00h: CD-DA or CD-ROM disc */
		p = put_full(p, 0xa1, 1, 0, 0);
		p = put_full(p, 0xa2, lo[1], lo[2], lo[3]);
		p = put_full(p, 1, 0, 2, 0);        /* track 1 at 00:02:00 */
		break;
	default: /* PMA, ATIP, CD-TEXT: nothing of the kind on a pressed disc */
		vdev__scsi_bad_cdb(t, 2, 3);
		goto out;
	}
	scsi_put_be16(b, (uint16_t)(p - b - 2));
	vdev__scsi_reply(t, b, (size_t)(p - b), scsi_be16(cdb + 7));
out:
	vdev__scsi_task_finish(t);
}

/* ---- GET CONFIGURATION (MMC-6 §6.6, features §5.3) ---- */

#define FEAT_MAX 128

struct feat_buf {
	uint8_t b[FEAT_MAX];
	size_t len;
};

/* Feature header: code, version, persistent, current, additional length; @return its data. */
static uint8_t *feat(struct feat_buf *f, uint16_t code, uint8_t ver, bool pers, bool cur,
		     uint8_t add_len)
{
	uint8_t *p = f->b + f->len;

	memset(p, 0, 4u + add_len);
	scsi_put_be16(p, code);
	p[2] = (uint8_t)(ver << 2 | (pers ? 0x02 : 0) | (cur ? 0x01 : 0));
	p[3] = add_len;
	f->len += 4u + add_len;
	return p + 4;
}

static void build_features(const vdev_scsi_lun *l, struct feat_buf *f)
{
	bool present = l->nblocks != 0, dvd = present && is_dvd(l);
	uint8_t *d;

	/* 0000h Profile List, descending (Table 88): DVD-ROM, CD-ROM. */
	d = feat(f, 0x0000, 0, true, true, 8);
	scsi_put_be16(d, PROFILE_DVDROM);
	d[2] = dvd;
	scsi_put_be16(d + 4, PROFILE_CDROM);
	d[6] = present && !dvd;
	/* 0001h Core (version 2): physical interface SCSI family (1), DBE. */
	d = feat(f, 0x0001, 2, true, true, 8);
	scsi_put_be32(d, 1);
	d[4] = 0x01;
	/* 0002h Morphing (version 1): polled GESN only, no operational change events. */
	feat(f, 0x0002, 1, true, true, 4);
	/* 0003h Removable Medium: tray loader (001b), Eject, Lock; Pvnt Jmpr 0. */
	d = feat(f, 0x0003, 0, true, true, 4);
	d[0] = 0x20 | 0x08 | 0x01;
	/* 0010h Random Readable: 2048-byte blocks, blocking 16 (DVD) or 1 (CD). */
	d = feat(f, 0x0010, 0, false, present, 8);
	scsi_put_be32(d, 1u << SCSI_MMC_BS_SHIFT);
	scsi_put_be16(d + 4, dvd ? 16 : 1);
	/* 001Eh CD Read (version 2): no CD-Text, C2 or DAP. */
	feat(f, 0x001e, 2, false, present && !dvd, 4);
	/* 001Fh DVD Read (version 1): single layer only. */
	feat(f, 0x001f, 1, false, dvd, 4);
}

void vdev__scsi_exec_get_configuration(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	uint8_t rt = cdb[1] & 0x03, out[8 + FEAT_MAX];
	uint16_t sfn = scsi_be16(cdb + 2);
	struct feat_buf f = { .len = 0 };
	size_t n = 8;

	if (rt == 3) {
		vdev__scsi_bad_cdb(t, 1, 1);
		goto out;
	}
	build_features(t->lun, &f);
	memset(out, 0, 8);
	for (size_t off = 0; off < f.len;) {
		const uint8_t *p = f.b + off;
		size_t dlen = 4u + p[3];
		uint16_t code = scsi_be16(p);

		off += dlen;
		/* RT 00b: all from SFN on; 01b: the current ones; 10b: SFN only (§6.6.2.2). */
		if (rt == 2 ? code != sfn : code < sfn)
			continue;
		if (rt == 1 && !(p[2] & 0x01))
			continue;
		memcpy(out + n, p, dlen);
		n += dlen;
	}
	scsi_put_be32(out, (uint32_t)(n - 4));
	scsi_put_be16(out + 6, current_profile(t->lun));
	vdev__scsi_reply(t, out, n, scsi_be16(cdb + 7));
out:
	vdev__scsi_task_finish(t);
}

/* ---- GET EVENT STATUS NOTIFICATION (MMC-6 §6.7) ---- */

#define GESN_CLASS_MEDIA 4

void vdev__scsi_exec_gesn(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	vdev_scsi_lun *l = t->lun;
	uint8_t b[8];
	size_t n = 4;

	if (!(cdb[1] & 0x01)) {
		/* Asynchronous notification is not supported: polled only. */
		vdev__scsi_bad_cdb(t, 1, 0);
		goto out;
	}
	memset(b, 0, sizeof(b));
	b[3] = 1u << GESN_CLASS_MEDIA; /* supported event classes */
	if (cdb[4] & (1u << GESN_CLASS_MEDIA)) {
		b[2] = GESN_CLASS_MEDIA;
		b[4] = l->mmc_event;
		b[5] = (uint8_t)((l->blk ? 0x02 : 0) | (l->tray_open ? 0x01 : 0));
		n = 8;
		l->mmc_event = EV_NONE; /* reported: cleared */
	} else {
		b[2] = 0x80; /* NEA: none of the requested classes is supported */
	}
	scsi_put_be16(b, (uint16_t)(n - 2));
	vdev__scsi_reply(t, b, n, scsi_be16(cdb + 7));
out:
	vdev__scsi_task_finish(t);
}

/* ---- READ DISC INFORMATION (MMC-6 §6.22) ---- */

void vdev__scsi_exec_read_disc_info(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	uint8_t b[34];

	if (cdb[1] & 0x07) {
		/* Only standard disc information (000b): no track resources or POW. */
		vdev__scsi_bad_cdb(t, 1, 2);
		goto out;
	}
	memset(b, 0, sizeof(b));
	scsi_put_be16(b, sizeof(b) - 2);
	b[2] = 0x0e;     /* last session complete (11b), disc complete (10b), not erasable */
	b[3] = 1;        /* first track on the disc */
	b[4] = 1;        /* sessions */
	b[5] = 1;        /* first track in the last session */
	b[6] = 1;        /* last track in the last session */
	b[8] = 0x00;     /* disc type: CD-DA or CD-ROM */
	scsi_put_be32(b + 16, 0xffffffffu); /* no further session: lead-in/out n/a */
	scsi_put_be32(b + 20, 0xffffffffu);
	vdev__scsi_reply(t, b, sizeof(b), scsi_be16(cdb + 7));
out:
	vdev__scsi_task_finish(t);
}

/* ---- READ TRACK INFORMATION (MMC-6 §6.27) ---- */

void vdev__scsi_exec_read_track_info(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	vdev_scsi_lun *l = t->lun;
	uint32_t addr = scsi_be32(cdb + 2);
	uint8_t b[48];
	bool ok;

	switch (cdb[1] & 0x03) {
	case 0: /* LBA: the track holding it */
		ok = addr < l->nblocks;
		break;
	case 1: /* track number */
	case 2: /* session number: its first track */
		ok = addr == 1;
		break;
	default:
		vdev__scsi_bad_cdb(t, 1, 1);
		goto out;
	}
	if (!ok) {
		vdev__scsi_bad_cdb(t, 2, 7);
		goto out;
	}
	memset(b, 0, sizeof(b));
	scsi_put_be16(b, sizeof(b) - 2);
	b[2] = 1;        /* track number */
	b[3] = 1;        /* session number */
	b[5] = 0x04;     /* track mode: data, recorded uninterrupted */
	b[6] = 0x01;     /* data mode 1 */
	scsi_put_be32(b + 24, (uint32_t)VDEV__MIN(l->nblocks, (uint64_t)UINT32_MAX)); /* size */
	vdev__scsi_reply(t, b, sizeof(b), scsi_be16(cdb + 7));
out:
	vdev__scsi_task_finish(t);
}

/* ---- MECHANISM STATUS (MMC-6 §6.11) ---- */

void vdev__scsi_exec_mechanism_status(struct vdev__scsi_task *t)
{
	uint8_t b[8];

	memset(b, 0, sizeof(b));
	b[1] = t->lun->tray_open ? 0x10 : 0; /* mechanism idle; door open */
	/* No changer: no slot tables (bytes 5..7 zero). */
	vdev__scsi_reply(t, b, sizeof(b), scsi_be16(t->req->cdb + 8));
	vdev__scsi_task_finish(t);
}
