/* SPDX-License-Identifier: MIT */
/*
 * The command table: opcode (and service action) → handler, CDB length,
 * data direction, flags for the generic checks, and the CDB usage map that
 * both REPORT SUPPORTED OPERATION CODES reports and the reserved-bit check
 * enforces. Sorted by (opcode, service action) for a binary search.
 */
#include "scsi/scsi_internal.h"

#define IN SCSI_DIR_IN
#define OUT SCSI_DIR_OUT
#define NONE SCSI_DIR_NONE
#define RD (SCSI_CF_MEDIUM | SCSI_CF_PR_READ)
#define WR (SCSI_CF_MEDIUM | SCSI_CF_WRITE | SCSI_CF_PR_WRITE | SCSI_CF_DISK)
#define DISK SCSI_CF_DISK
#define MMC SCSI_CF_MMC
#define ANYLUN (SCSI_CF_UA_OK | SCSI_CF_NO_LUN | SCSI_CF_WLUN)

#define CMD(op_, sa_, len_, dir_, flags_, fn_, name_, ...)                                  \
	{ .opcode = (op_), .sa = (sa_), .cdb_len = (len_), .dir = (dir_), .flags = (flags_), \
	  .exec = (fn_), .name = (name_), .usage = { (op_), __VA_ARGS__ } }

#define FF4 0xff, 0xff, 0xff, 0xff
#define FF8 FF4, FF4

static const struct vdev__scsi_cmd cmds[] = {
	CMD(0x00, 0, 6, NONE, SCSI_CF_MEDIUM | SCSI_CF_WLUN, vdev__scsi_exec_test_unit_ready,
	    "TEST UNIT READY", 0, 0, 0, 0, 0),
	CMD(0x03, 0, 6, IN, ANYLUN, vdev__scsi_exec_request_sense, "REQUEST SENSE",
	    0x01, 0, 0, 0xff, 0),
	CMD(0x08, 0, 6, IN, RD | DISK, vdev__scsi_exec_rw, "READ(6)", 0x1f, 0xff, 0xff, 0xff, 0),
	CMD(0x0a, 0, 6, OUT, WR, vdev__scsi_exec_rw, "WRITE(6)", 0x1f, 0xff, 0xff, 0xff, 0),
	CMD(0x12, 0, 6, IN, ANYLUN, vdev__scsi_exec_inquiry, "INQUIRY", 0x01, 0xff, 0xff, 0xff, 0),
	CMD(0x15, 0, 6, OUT, SCSI_CF_PR_WRITE, vdev__scsi_exec_mode_select, "MODE SELECT(6)",
	    0x11, 0, 0, 0xff, 0),
	CMD(0x1a, 0, 6, IN, SCSI_CF_PR_READ, vdev__scsi_exec_mode_sense, "MODE SENSE(6)",
	    0x08, 0xff, 0xff, 0xff, 0),
	CMD(0x1b, 0, 6, NONE, SCSI_CF_PR_WRITE, vdev__scsi_exec_start_stop, "START STOP UNIT",
	    0x01, 0, 0x0f, 0xf7, 0),
	CMD(0x1e, 0, 6, NONE, SCSI_CF_PR_READ, vdev__scsi_exec_prevent_allow,
	    "PREVENT ALLOW MEDIUM REMOVAL", 0, 0, 0, 0x03, 0),
	CMD(0x25, 0, 10, IN, 0, vdev__scsi_exec_read_capacity10, "READ CAPACITY(10)",
	    0, FF4, 0, 0, 0x01, 0),
	CMD(0x28, 0, 10, IN, RD, vdev__scsi_exec_rw, "READ(10)", 0x1c, FF4, 0x3f, 0xff, 0xff, 0),
	CMD(0x2a, 0, 10, OUT, WR, vdev__scsi_exec_rw, "WRITE(10)", 0x18, FF4, 0x3f, 0xff, 0xff, 0),
	CMD(0x2f, 0, 10, OUT, RD | DISK, vdev__scsi_exec_verify, "VERIFY(10)",
	    0x16, FF4, 0x3f, 0xff, 0xff, 0),
	CMD(0x35, 0, 10, NONE, SCSI_CF_MEDIUM | SCSI_CF_PR_WRITE, vdev__scsi_exec_sync_cache,
	    "SYNCHRONIZE CACHE(10)", 0x02, FF4, 0x3f, 0xff, 0xff, 0),
	CMD(0x41, 0, 10, OUT, WR, vdev__scsi_exec_write_same, "WRITE SAME(10)",
	    0x08, FF4, 0x3f, 0xff, 0xff, 0),
	CMD(0x42, 0, 10, OUT, WR, vdev__scsi_exec_unmap, "UNMAP",
	    0, 0, 0, 0, 0, 0x3f, 0xff, 0xff, 0),
	CMD(0x43, 0, 10, IN, SCSI_CF_MEDIUM | MMC, vdev__scsi_exec_read_toc, "READ TOC/PMA/ATIP",
	    0x02, 0x0f, 0, 0, 0, 0xff, 0xff, 0xff, 0),
	CMD(0x46, 0, 10, IN, SCSI_CF_UA_OK | MMC, vdev__scsi_exec_get_configuration,
	    "GET CONFIGURATION", 0x03, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0),
	CMD(0x4a, 0, 10, IN, SCSI_CF_UA_OK | MMC, vdev__scsi_exec_gesn,
	    "GET EVENT STATUS NOTIFICATION", 0x01, 0, 0, 0xff, 0, 0, 0xff, 0xff, 0),
	CMD(0x51, 0, 10, IN, SCSI_CF_MEDIUM | MMC, vdev__scsi_exec_read_disc_info,
	    "READ DISC INFORMATION", 0x07, 0, 0, 0, 0, 0, 0xff, 0xff, 0),
	CMD(0x52, 0, 10, IN, SCSI_CF_MEDIUM | MMC, vdev__scsi_exec_read_track_info,
	    "READ TRACK INFORMATION", 0x03, FF4, 0, 0xff, 0xff, 0),
	CMD(0x55, 0, 10, OUT, SCSI_CF_PR_WRITE, vdev__scsi_exec_mode_select, "MODE SELECT(10)",
	    0x11, 0, 0, 0, 0, 0, 0xff, 0xff, 0),
	CMD(0x5a, 0, 10, IN, SCSI_CF_PR_READ, vdev__scsi_exec_mode_sense, "MODE SENSE(10)",
	    0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0),
	CMD(0x5e, 0x00, 10, IN, SCSI_CF_SA, vdev__scsi_exec_pr_in,
	    "PERSISTENT RESERVE IN/READ KEYS", 0x00, 0, 0, 0, 0, 0, 0xff, 0xff, 0),
	CMD(0x5e, 0x01, 10, IN, SCSI_CF_SA, vdev__scsi_exec_pr_in,
	    "PERSISTENT RESERVE IN/READ RESERVATION", 0x01, 0, 0, 0, 0, 0, 0xff, 0xff, 0),
	CMD(0x5e, 0x02, 10, IN, SCSI_CF_SA, vdev__scsi_exec_pr_in,
	    "PERSISTENT RESERVE IN/REPORT CAPABILITIES", 0x02, 0, 0, 0, 0, 0, 0xff, 0xff, 0),
	CMD(0x5f, 0x00, 10, OUT, SCSI_CF_SA, vdev__scsi_exec_pr_out,
	    "PERSISTENT RESERVE OUT/REGISTER", 0x00, 0xff, 0, 0, FF4, 0),
	CMD(0x5f, 0x01, 10, OUT, SCSI_CF_SA, vdev__scsi_exec_pr_out,
	    "PERSISTENT RESERVE OUT/RESERVE", 0x01, 0xff, 0, 0, FF4, 0),
	CMD(0x5f, 0x02, 10, OUT, SCSI_CF_SA, vdev__scsi_exec_pr_out,
	    "PERSISTENT RESERVE OUT/RELEASE", 0x02, 0xff, 0, 0, FF4, 0),
	CMD(0x5f, 0x03, 10, OUT, SCSI_CF_SA, vdev__scsi_exec_pr_out,
	    "PERSISTENT RESERVE OUT/CLEAR", 0x03, 0xff, 0, 0, FF4, 0),
	CMD(0x5f, 0x04, 10, OUT, SCSI_CF_SA, vdev__scsi_exec_pr_out,
	    "PERSISTENT RESERVE OUT/PREEMPT", 0x04, 0xff, 0, 0, FF4, 0),
	CMD(0x5f, 0x05, 10, OUT, SCSI_CF_SA, vdev__scsi_exec_pr_out,
	    "PERSISTENT RESERVE OUT/PREEMPT AND ABORT", 0x05, 0xff, 0, 0, FF4, 0),
	CMD(0x5f, 0x06, 10, OUT, SCSI_CF_SA, vdev__scsi_exec_pr_out,
	    "PERSISTENT RESERVE OUT/REGISTER AND IGNORE EXISTING KEY", 0x06, 0xff, 0, 0, FF4, 0),
	CMD(0x88, 0, 16, IN, RD | DISK, vdev__scsi_exec_rw, "READ(16)", 0x1c, FF8, FF4, 0x3f, 0),
	CMD(0x89, 0, 16, OUT, WR, vdev__scsi_exec_compare_and_write, "COMPARE AND WRITE",
	    0x18, FF8, 0, 0, 0, 0xff, 0x3f, 0),
	CMD(0x8a, 0, 16, OUT, WR, vdev__scsi_exec_rw, "WRITE(16)", 0x18, FF8, FF4, 0x3f, 0),
	CMD(0x8f, 0, 16, OUT, RD | DISK, vdev__scsi_exec_verify, "VERIFY(16)", 0x16, FF8, FF4, 0x3f, 0),
	CMD(0x91, 0, 16, NONE, SCSI_CF_MEDIUM | SCSI_CF_PR_WRITE, vdev__scsi_exec_sync_cache,
	    "SYNCHRONIZE CACHE(16)", 0x02, FF8, FF4, 0x3f, 0),
	CMD(0x93, 0, 16, OUT, WR, vdev__scsi_exec_write_same, "WRITE SAME(16)",
	    0x09, FF8, FF4, 0x3f, 0),
	CMD(0x9e, 0x10, 16, IN, SCSI_CF_SA | DISK, vdev__scsi_exec_read_capacity16, "READ CAPACITY(16)",
	    0x10, FF8, FF4, 0x01, 0),
	CMD(0x9e, 0x12, 16, IN, SCSI_CF_SA | RD | DISK, vdev__scsi_exec_get_lba_status, "GET LBA STATUS",
	    0x12, FF8, FF4, 0, 0),
	CMD(0xa0, 0, 12, IN, ANYLUN, vdev__scsi_exec_report_luns, "REPORT LUNS",
	    0, 0xff, 0, 0, 0, FF4, 0, 0),
	CMD(0xa3, 0x0c, 12, IN, SCSI_CF_SA, vdev__scsi_exec_rsoc,
	    "REPORT SUPPORTED OPERATION CODES", 0x0c, 0x87, 0xff, 0xff, 0xff, FF4, 0, 0),
	CMD(0xa8, 0, 12, IN, RD, vdev__scsi_exec_rw, "READ(12)", 0x1c, FF4, FF4, 0x3f, 0),
	CMD(0xaa, 0, 12, OUT, WR, vdev__scsi_exec_rw, "WRITE(12)", 0x18, FF4, FF4, 0x3f, 0),
	CMD(0xbd, 0, 12, IN, MMC, vdev__scsi_exec_mechanism_status, "MECHANISM STATUS",
	    0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0),
};

const struct vdev__scsi_cmd *vdev__scsi_cmd_at(unsigned int i)
{
	return i < VDEV__ARRAY_SIZE(cmds) ? &cmds[i] : NULL;
}

unsigned int vdev__scsi_cmd_count(void)
{
	return VDEV__ARRAY_SIZE(cmds);
}

/* Index of the first entry with opcode @op, or -1. */
static int first_of(uint8_t op)
{
	unsigned int lo = 0, hi = VDEV__ARRAY_SIZE(cmds);

	while (lo < hi) {
		unsigned int mid = (lo + hi) / 2;

		if (cmds[mid].opcode < op)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < VDEV__ARRAY_SIZE(cmds) && cmds[lo].opcode == op ? (int)lo : -1;
}

bool vdev__scsi_opcode_has_sa(uint8_t op)
{
	int i = first_of(op);

	return i >= 0 && (cmds[i].flags & SCSI_CF_SA);
}

const struct vdev__scsi_cmd *vdev__scsi_cmd_lookup(const uint8_t *cdb, bool *bad_sa)
{
	int i = first_of(cdb[0]);

	*bad_sa = false;
	if (i < 0)
		return NULL;
	if (!(cmds[i].flags & SCSI_CF_SA))
		return &cmds[i];
	for (unsigned int k = (unsigned int)i;
	     k < VDEV__ARRAY_SIZE(cmds) && cmds[k].opcode == cdb[0]; k++)
		if (cmds[k].sa == (cdb[1] & 0x1f))
			return &cmds[k];
	*bad_sa = true;
	return NULL;
}

int vdev__scsi_cdb_check(struct vdev__scsi_task *t)
{
	const struct vdev__scsi_cmd *c = t->cmd;
	const uint8_t *cdb = t->req->cdb;
	unsigned int last = c->cdb_len - 1u;

	for (unsigned int i = 1; i <= last; i++) {
		uint8_t mask = c->usage[i];

		if (i == 1 && (c->flags & SCSI_CF_SA))
			mask = (uint8_t)((mask & 0xe0) | 0x1f);
		if (i == last)
			mask |= 0xc0; /* control byte: vendor specific bits */
		if (cdb[i] & ~mask) {
			vdev__scsi_bad_cdb(t, i, scsi_top_bit((uint8_t)(cdb[i] & ~mask)));
			return -1;
		}
	}
	return 0;
}
