/* SPDX-License-Identifier: MIT */
/*
 * MODE SENSE and MODE SELECT, 6 and 10 (SPC-4 §6.11-6.14), with the
 * read-write error recovery (01h), caching (08h) and control (0Ah) pages
 * of SBC-4 §6.5 and SPC-4 §7.5.8, and on a CD-ROM the MM capabilities
 * and mechanical status page (2Ah, MMC-3 §6.3.11; nothing changeable) that
 * Linux's sr driver reads at probe. Changeable: WCE (caching) and D_SENSE
 * (control). Saved values are not supported: PC 11b answers SAVING
 * PARAMETERS NOT SUPPORTED and MODE SELECT with SP is refused. MODE
 * SELECT validates the whole parameter list against the changeable masks
 * before it changes anything.
 */
#include <stdlib.h>

#include "scsi/scsi_internal.h"

enum { PC_CURRENT = 0, PC_CHANGEABLE = 1, PC_DEFAULT = 2, PC_SAVED = 3 };

static const uint8_t page_codes[] = { 0x01, 0x08, 0x0a, 0x2a };

/* The page length byte of each page of @l (bytes after the first two); -1: no such page. */
static int page_len(const vdev_scsi_lun *l, uint8_t code)
{
	switch (code) {
	case 0x2a:
		return l->type == VDEV_SCSI_LUN_CDROM ? 0x14 : -1;
	case 0x01:
		return 0x0a;
	case 0x08:
		return 0x12;
	case 0x0a:
		return 0x0a;
	default:
		return -1;
	}
}

/* Write page @code as @pc says into @p; @return its size. */
static size_t page_fill(const vdev_scsi_lun *l, uint8_t code, int pc, uint8_t *p)
{
	size_t n = (size_t)page_len(l, code) + 2;

	memset(p, 0, n);
	p[0] = code;
	p[1] = (uint8_t)(n - 2);
	switch (code) {
	case 0x01:
		if (pc != PC_CHANGEABLE)
			p[2] = 0x80;    /* AWRE */
		break;
	case 0x08:
		if (pc == PC_CHANGEABLE)
			p[2] = 0x04;
		else if ((pc == PC_CURRENT ? l->wce : l->wce_default))
			p[2] = 0x04;    /* WCE */
		break;
	case 0x0a:
		if (pc == PC_CHANGEABLE) {
			p[2] = 0x04;
			break;
		}
		if (pc == PC_CURRENT && l->dsense)
			p[2] = 0x04;    /* D_SENSE */
		p[3] = 0x10;            /* QUEUE ALGORITHM MODIFIER 1: unrestricted reordering */
		scsi_put_be16(p + 8, 0xffff); /* BUSY TIMEOUT PERIOD: unlimited */
		break;
	case 0x2a:
		if (pc == PC_CHANGEABLE)
			break;
		p[2] = 0x08;            /* reads DVD-ROM (and CD-ROM); writes nothing */
		/* Tray loader (001b), eject, lock; LOCK STATE: the current lock. */
		p[6] = (uint8_t)(0x20 | 0x08 | 0x01 | (pc == PC_CURRENT && l->prevent ? 0x02 : 0));
		break;
	}
	return n;
}

void vdev__scsi_exec_mode_sense(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	vdev_scsi_lun *l = t->lun;
	bool six = cdb[0] == 0x1a;
	bool dbd = cdb[1] & 0x08, llbaa = !six && (cdb[1] & 0x10);
	int pc = cdb[2] >> 6;
	uint8_t page = cdb[2] & 0x3f, sub = cdb[3];
	uint32_t alloc = six ? cdb[4] : scsi_be16(cdb + 7);
	size_t hdr = six ? 4 : 8, n, bdlen = dbd ? 0 : (llbaa ? 16 : 8);
	uint8_t b[128];

	if (pc == PC_SAVED) {
		vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_SAVING_NOT_SUPPORTED);
		goto out;
	}
	if (page != 0x3f && page_len(l, page) < 0) {
		vdev__scsi_bad_cdb(t, 2, 5);
		goto out;
	}
	if (sub && !(page == 0x3f && sub == 0xff)) {
		vdev__scsi_bad_cdb(t, 3, 7); /* no subpages */
		goto out;
	}
	memset(b, 0, sizeof(b));
	n = hdr;
	if (bdlen == 8) {
		scsi_put_be32(b + n, l->nblocks > UINT32_MAX ? UINT32_MAX : (uint32_t)l->nblocks);
		scsi_put_be32(b + n + 4, scsi_bs(l)); /* density 0, block length */
	} else if (bdlen == 16) {
		scsi_put_be64(b + n, l->nblocks);
		scsi_put_be32(b + n + 12, scsi_bs(l));
	}
	n += bdlen;
	for (unsigned int i = 0; i < sizeof(page_codes); i++)
		if ((page == 0x3f || page == page_codes[i]) && page_len(l, page_codes[i]) >= 0)
			n += page_fill(l, page_codes[i], pc, b + n);
	/* Device-specific parameter (SBC-4 §6.5.1): WP, DPOFUA. */
	if (six) {
		b[0] = (uint8_t)(n - 1);
		b[2] = (uint8_t)((l->readonly ? 0x80 : 0) | 0x10);
		b[3] = (uint8_t)bdlen;
	} else {
		scsi_put_be16(b, (uint16_t)(n - 2));
		b[3] = (uint8_t)((l->readonly ? 0x80 : 0) | 0x10);
		b[4] = llbaa && !dbd ? 0x01 : 0; /* LONGLBA */
		scsi_put_be16(b + 6, (uint16_t)bdlen);
	}
	vdev__scsi_reply(t, b, n, alloc);
out:
	vdev__scsi_task_finish(t);
}

/* The block descriptor of a MODE SELECT: it may only restate the current values. */
static int check_block_desc(struct vdev__scsi_task *t, const uint8_t *p, size_t off, bool longlba)
{
	const vdev_scsi_lun *l = t->lun;
	uint64_t blocks = longlba ? scsi_be64(p + off) : scsi_be32(p + off);
	uint32_t bl = longlba ? scsi_be32(p + off + 12) : scsi_be24(p + off + 5);
	uint64_t capped = longlba ? l->nblocks : VDEV__MIN(l->nblocks, (uint64_t)UINT32_MAX);

	if (blocks && blocks != capped) {
		vdev__scsi_bad_param(t, (unsigned int)off, 7);
		return -1;
	}
	if (longlba ? scsi_be32(p + off + 8) != 0 : p[off + 4] != 0) {
		vdev__scsi_bad_param(t, (unsigned int)off + (longlba ? 8 : 4), 7);
		return -1;
	}
	if (bl != scsi_bs(l)) {
		vdev__scsi_bad_param(t, (unsigned int)off + (longlba ? 12 : 5), 7);
		return -1;
	}
	return 0;
}

void vdev__scsi_exec_mode_select(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	vdev_scsi_lun *l = t->lun;
	bool six = cdb[0] == 0x15, longlba = false;
	uint32_t plen = six ? cdb[4] : scsi_be16(cdb + 7);
	size_t hdr = six ? 4 : 8, bdlen, off;
	uint8_t cur[32], chg[32], *p = NULL;
	int wce = l->wce, dsense = l->dsense;

	if (cdb[1] & 0x01) {
		vdev__scsi_bad_cdb(t, 1, 0); /* SP: no saved pages */
		goto out;
	}
	if (!plen)
		goto out;
	if (!(cdb[1] & 0x10)) {
		vdev__scsi_bad_cdb(t, 1, 4); /* PF 0: vendor-specific pages, none here */
		goto out;
	}
	if (plen < hdr) {
		vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
		goto out;
	}
	p = malloc(plen);
	if (!p) {
		t->req->status = VDEV_SCSI_BUSY;
		goto out;
	}
	if (vdev__scsi_fetch(t, p, plen))
		goto out;
	/* Header: MODE DATA LENGTH is reserved here; medium type 0 only. */
	if (p[six ? 1 : 2]) {
		vdev__scsi_bad_param(t, six ? 1 : 2, 7);
		goto out;
	}
	if (!six) {
		if (p[4] & 0xfe) {
			vdev__scsi_bad_param(t, 4, scsi_top_bit(p[4] & 0xfe));
			goto out;
		}
		longlba = p[4] & 0x01;
	}
	bdlen = six ? p[3] : scsi_be16(p + 6);
	if (bdlen && bdlen != (longlba ? 16u : 8u)) {
		vdev__scsi_bad_param(t, six ? 3 : 6, 7);
		goto out;
	}
	if (hdr + bdlen > plen) {
		vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
		goto out;
	}
	if (bdlen && check_block_desc(t, p, hdr, longlba))
		goto out;
	for (off = hdr + bdlen; off < plen;) {
		uint8_t code = p[off] & 0x3f;
		int len;

		if (plen - off < 2) {
			vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST,
					 SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
			goto out;
		}
		/* PS (bit 7) is reserved in MODE SELECT: ignored. SPF: no subpages. */
		if (p[off] & 0x40) {
			vdev__scsi_bad_param(t, (unsigned int)off, 6);
			goto out;
		}
		len = page_len(l, code);
		if (len < 0) {
			vdev__scsi_bad_param(t, (unsigned int)off, 5);
			goto out;
		}
		if (p[off + 1] != len) {
			vdev__scsi_bad_param(t, (unsigned int)off + 1, 7);
			goto out;
		}
		if (plen - off < (size_t)len + 2) {
			vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST,
					 SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
			goto out;
		}
		page_fill(l, code, PC_CURRENT, cur);
		page_fill(l, code, PC_CHANGEABLE, chg);
		for (int i = 2; i < len + 2; i++) {
			uint8_t diff = (uint8_t)((p[off + i] ^ cur[i]) & ~chg[i]);

			if (diff) {
				vdev__scsi_bad_param(t, (unsigned int)(off + i),
						     scsi_top_bit(diff));
				goto out;
			}
		}
		if (code == 0x08)
			wce = !!(p[off + 2] & 0x04);
		else if (code == 0x0a)
			dsense = !!(p[off + 2] & 0x04);
		off += (size_t)len + 2;
	}
	/* All valid: apply. */
	l->wce = wce;
	l->dsense = dsense;
out:
	free(p);
	vdev__scsi_task_finish(t);
}
