/* SPDX-License-Identifier: MIT */
/*
 * Pass-through policy and the few places the bus looks into forwarded
 * commands: the default deny list, the write opcodes refused on a
 * read-only LUN, the CDB length of an opcode, and what is learnt from (or
 * changed in) the device's replies: the logical block size from READ
 * CAPACITY, and the Block Limits VPD page clamped to the host queue.
 */
#include "scsi/scsi_internal.h"

/*
 * Opcodes with which a guest could damage the host device or disturb its
 * other users (documented in vdev/scsi.h, vdev_scsi_lun_opts.sg_deny).
 */
static const uint8_t default_deny[] = {
	0x04, /* FORMAT UNIT */
	0x07, /* REASSIGN BLOCKS */
	0x15, /* MODE SELECT(6): changes saved pages for every user */
	0x16, /* RESERVE(6) */
	0x17, /* RELEASE(6) */
	0x1d, /* SEND DIAGNOSTIC */
	0x3b, /* WRITE BUFFER: firmware download */
	0x3f, /* WRITE LONG(10): writes uncorrectable blocks */
	0x48, /* SANITIZE */
	0x55, /* MODE SELECT(10) */
	0x56, /* RESERVE(10) */
	0x57, /* RELEASE(10) */
	0x5f, /* PERSISTENT RESERVE OUT: fences the host's other initiators */
	0x83, /* EXTENDED COPY: may reach other devices of the host's target */
	0x9f, /* SERVICE ACTION OUT(16): WRITE LONG(16) */
	0xa4, /* MAINTENANCE OUT: target port groups, identifying information */
	0xb5, /* SECURITY PROTOCOL OUT: locks the drive */
};

/* Commands that modify the medium (SBC-4, MMC-6): DATA PROTECT on a read-only LUN. */
static const uint8_t write_ops[] = {
	0x0a, /* WRITE(6) */
	0x2a, /* WRITE(10) */
	0x2e, /* WRITE AND VERIFY(10) */
	0x41, /* WRITE SAME(10) */
	0x42, /* UNMAP */
	0x89, /* COMPARE AND WRITE */
	0x8a, /* WRITE(16) */
	0x8e, /* WRITE AND VERIFY(16) */
	0x93, /* WRITE SAME(16) */
	0xaa, /* WRITE(12) */
	0xae, /* WRITE AND VERIFY(12) */
};

void vdev__scsi_pt_default_deny(uint8_t bitmap[VDEV_SCSI_SG_DENY_SIZE])
{
	memset(bitmap, 0, VDEV_SCSI_SG_DENY_SIZE);
	for (size_t i = 0; i < VDEV__ARRAY_SIZE(default_deny); i++)
		bitmap[default_deny[i] / 8] |= (uint8_t)(1u << (default_deny[i] % 8));
}

bool vdev__scsi_pt_is_write(uint8_t op)
{
	for (size_t i = 0; i < VDEV__ARRAY_SIZE(write_ops); i++)
		if (write_ops[i] == op)
			return true;
	return false;
}

unsigned int vdev__scsi_pt_cdb_len(const uint8_t *cdb, unsigned int have)
{
	unsigned int n;

	/* The group code, bits 7..5 of the opcode (SPC-4 §4.2.5.1). */
	switch (cdb[0] >> 5) {
	case 0:
		n = 6;
		break;
	case 1:
	case 2:
		n = 10;
		break;
	case 3:
		/* 7Fh: variable length, ADDITIONAL CDB LENGTH in byte 7 (SPC-4 §4.2.3). */
		if (cdb[0] != 0x7f || have < 8)
			return 0;
		n = 8u + cdb[7];
		break;
	case 4:
		n = 16;
		break;
	case 5:
		n = 12;
		break;
	default:
		/* Vendor specific: what the transport gave, up to the SG_IO maximum. */
		n = have;
		break;
	}
	return n <= have ? n : 0;
}

static uint32_t be32_at(const uint8_t *p)
{
	return scsi_be32(p);
}

/* The host's limit in logical blocks; 0: unknown. */
static uint32_t max_blocks(const struct vdev__scsi_pt *pt)
{
	/*
	 * A block size not learnt yet (no READ CAPACITY came back) is taken
	 * as 4096: too small a limit only costs throughput, too large fails I/O.
	 */
	uint32_t lbs = pt->lbs ? pt->lbs : 4096;
	uint64_t n;

	if (!pt->max_xfer)
		return 0;
	n = pt->max_xfer / lbs;
	if (!n)
		n = 1;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* INQUIRY, Block Limits VPD page (SBC-4 §6.6.4): clamp the transfer lengths. */
static void clamp_block_limits(struct vdev__scsi_task *t, const struct vdev__scsi_pt *pt)
{
	struct vdev_scsi_req *req = t->req;
	uint32_t lim = max_blocks(pt), mx, opt;
	uint8_t page[16];

	if (!lim || req->data_in_len < sizeof(page))
		return;
	if (vdev__scsi_iov_to_buf(req->data_in, req->data_in_cnt, 0, page, sizeof(page)) !=
	    sizeof(page) || page[1] != 0xb0)
		return;
	mx = be32_at(page + 8);
	opt = be32_at(page + 12);
	/* 0 means "no limit reported": the host queue still has one. */
	if (!mx || mx > lim)
		mx = lim;
	if (opt > mx)
		opt = mx;
	scsi_put_be32(page + 8, mx);
	scsi_put_be32(page + 12, opt);
	vdev__scsi_iov_from_buf(req->data_in, req->data_in_cnt, 8, page + 8, 8);
}

static void learn_block_size(struct vdev__scsi_pt *pt, const struct vdev_scsi_req *req,
			     unsigned int off)
{
	uint8_t b[4];
	uint32_t lbs;

	if (req->data_in_len < off + 4u ||
	    vdev__scsi_iov_to_buf(req->data_in, req->data_in_cnt, off, b, 4) != 4)
		return;
	lbs = be32_at(b);
	if (lbs >= 512 && lbs <= (1u << 20) && !(lbs & (lbs - 1)))
		pt->lbs = lbs;
}

void vdev__scsi_pt_snoop(struct vdev__scsi_task *t)
{
	struct vdev_scsi_req *req = t->req;
	struct vdev__scsi_pt *pt = t->lun->pt;
	const uint8_t *cdb = req->cdb;

	if (req->status != VDEV_SCSI_GOOD || !req->data_in_len)
		return;
	if (cdb[0] == 0x12 && (cdb[1] & 1) && cdb[2] == 0xb0)
		clamp_block_limits(t, pt);
	else if (cdb[0] == 0x25)
		learn_block_size(pt, req, 4);           /* READ CAPACITY(10) */
	else if (cdb[0] == 0x9e && (cdb[1] & 0x1f) == 0x10)
		learn_block_size(pt, req, 8);           /* READ CAPACITY(16) */
}
