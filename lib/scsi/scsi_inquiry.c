/* SPDX-License-Identifier: MIT */
/*
 * INQUIRY (SPC-4 §6.6): standard data and the vital product data pages
 * 00h (supported pages), 80h (unit serial number), 83h (device
 * identification: an NAA and a T10 vendor ID designator), B0h (block
 * limits), B1h (block device characteristics) and B2h (logical block
 * provisioning) of SBC-4 §6.6.
 *
 * A missing LUN answers standard data with peripheral qualifier 011b and
 * type 1Fh (SPC-4 §6.6.2); the REPORT LUNS well-known LUN has type 1Eh.
 * Without a WWN or serial from the VMM, both are derived from the address:
 * unique on one bus only.
 */
#include <stdio.h>

#include "scsi/scsi_internal.h"

#define STD_LEN 96

static const uint8_t vpd_list[] = { 0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2 };

static size_t std_inquiry(struct vdev__scsi_task *t, uint8_t *b)
{
	vdev_scsi_lun *l = t->lun;

	memset(b, 0, STD_LEN);
	if (l)
		b[0] = l->type;
	else if (t->wlun)
		b[0] = 0x1e;       /* well known logical unit */
	else
		b[0] = 0x7f;       /* qualifier 011b: no LUN here; type 1Fh */
	b[1] = l && l->removable ? 0x80 : 0;
	b[2] = 0x06;               /* SPC-4 */
	b[3] = 0x12;               /* HISUP, response data format 2 */
	b[4] = STD_LEN - 5;
	b[7] = 0x02;               /* CMDQUE */
	if (l) {
		memcpy(b + 8, l->vendor, 8);
		memcpy(b + 16, l->product, 16);
		memcpy(b + 32, l->revision, 4);
	} else {
		memcpy(b + 8, "LIBVDEV ", 8);
		memcpy(b + 16, t->wlun ? "REPORT LUNS WLUN" : "NO LUN          ", 16);
		memcpy(b + 32, "0   ", 4);
	}
	/* Version descriptors: SAM-5, SPC-4, SBC-3 (SPC-4 §6.6.2 Table 147). */
	scsi_put_be16(b + 58, 0x00a0);
	scsi_put_be16(b + 60, 0x0460);
	if (l)
		scsi_put_be16(b + 62, 0x04c0);
	return STD_LEN;
}

static size_t serial_of(const vdev_scsi_lun *l, char *out, size_t cap)
{
	int n;

	if (l->serial)
		n = snprintf(out, cap, "%s", l->serial);
	else
		n = snprintf(out, cap, "VDEV-%03u-%05u", l->target, l->lun);
	return n < 0 ? 0 : VDEV__MIN((size_t)n, cap - 1);
}

static uint64_t naa_of(const vdev_scsi_lun *l)
{
	if (l->wwn)
		return l->wwn;
	/* NAA 3 (locally assigned), "VD", target, LUN. */
	return 3ull << 60 | 0x5644ull << 40 | (uint64_t)l->target << 16 | l->lun;
}

/* Page 83h: NAA (binary) and T10 vendor ID (ASCII) designators, both for the LU. */
static size_t vpd_83(const vdev_scsi_lun *l, uint8_t *b)
{
	char serial[80];
	size_t n = 4, slen = serial_of(l, serial, sizeof(serial));

	b[n] = 0x01;               /* code set: binary */
	b[n + 1] = 0x03;           /* association: LU; type: NAA */
	b[n + 3] = 8;
	scsi_put_be64(b + n + 4, naa_of(l));
	n += 12;
	b[n] = 0x02;               /* code set: ASCII */
	b[n + 1] = 0x01;           /* association: LU; type: T10 vendor ID */
	b[n + 3] = (uint8_t)(8 + 16 + slen);
	memcpy(b + n + 4, l->vendor, 8);
	memcpy(b + n + 12, l->product, 16);
	memcpy(b + n + 28, serial, slen);
	n += 4 + 8 + 16 + slen;
	return n;
}

/* Page B0h (SBC-4 §6.6.4): the limits scsi_sbc*.c enforce. */
static size_t vpd_b0(const vdev_scsi_lun *l, uint8_t *b)
{
	b[4] = 0x01;               /* WSNZ: WRITE SAME needs a block count */
	b[5] = SCSI_MAX_CAW_BLOCKS;
	scsi_put_be32(b + 8, SCSI_MAX_XFER_BYTES >> l->bs_shift);
	if (!l->readonly) {
		scsi_put_be32(b + 20, SCSI_MAX_UNMAP_BLOCKS);
		scsi_put_be32(b + 24, SCSI_MAX_UNMAP_DESC);
		scsi_put_be32(b + 28, 4096u >> l->bs_shift); /* optimal unmap granularity */
	}
	scsi_put_be64(b + 36, SCSI_MAX_WS_BYTES >> l->bs_shift);
	return 64;
}

/* Page B1h (SBC-4 §6.6.2): a non-rotating medium. */
static size_t vpd_b1(uint8_t *b)
{
	scsi_put_be16(b + 4, 0x0001);
	return 64;
}

/* Page B2h (SBC-4 §6.6.6): thin provisioned; UNMAP and WRITE SAME with UNMAP. */
static size_t vpd_b2(const vdev_scsi_lun *l, uint8_t *b)
{
	if (!l->readonly) {
		b[5] = 0xe0;       /* LBPU, LBPWS, LBPWS10; LBPRZ 0: unmapped data is unspecified */
		b[6] = 0x02;       /* provisioning type: thin */
	}
	return 8;
}

static void vpd(struct vdev__scsi_task *t, uint8_t page, uint16_t alloc)
{
	vdev_scsi_lun *l = t->lun;
	uint8_t b[256];
	size_t n;

	memset(b, 0, sizeof(b));
	if (!l) {
		/* The W-LUN has just the list, of itself. */
		if (page) {
			vdev__scsi_bad_cdb(t, 2, 7);
			return;
		}
		b[0] = 0x1e;
		b[3] = 1;
		vdev__scsi_reply(t, b, 5, alloc);
		return;
	}
	b[0] = l->type;
	b[1] = page;
	/* The block-device pages (SBC-4 §6.6) are for disks only: a CD-ROM lists 00h/80h/83h. */
	if (page >= 0xb0 && l->type == VDEV_SCSI_LUN_CDROM) {
		vdev__scsi_bad_cdb(t, 2, 7);
		return;
	}
	switch (page) {
	case 0x00: {
		size_t npages = l->type == VDEV_SCSI_LUN_CDROM ? 3 : sizeof(vpd_list);

		memcpy(b + 4, vpd_list, npages);
		n = 4 + npages;
		break;
	}
	case 0x80: {
		char serial[80];
		size_t slen = serial_of(l, serial, sizeof(serial));

		memcpy(b + 4, serial, slen);
		n = 4 + slen;
		break;
	}
	case 0x83:
		n = vpd_83(l, b);
		break;
	case 0xb0:
		n = vpd_b0(l, b);
		break;
	case 0xb1:
		n = vpd_b1(b);
		break;
	case 0xb2:
		n = vpd_b2(l, b);
		break;
	default:
		vdev__scsi_bad_cdb(t, 2, 7);
		return;
	}
	scsi_put_be16(b + 2, (uint16_t)(n - 4));
	vdev__scsi_reply(t, b, n, alloc);
}

void vdev__scsi_exec_inquiry(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	uint16_t alloc = scsi_be16(cdb + 3);
	uint8_t b[STD_LEN];

	if (!(cdb[1] & 0x01)) {
		if (cdb[2])
			vdev__scsi_bad_cdb(t, 2, 7); /* a page code needs EVPD */
		else
			vdev__scsi_reply(t, b, std_inquiry(t, b), alloc);
	} else if (!t->lun && !t->wlun) {
		vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_LUN_NOT_SUPPORTED);
	} else {
		vpd(t, cdb[2], alloc);
	}
	vdev__scsi_task_finish(t);
}
