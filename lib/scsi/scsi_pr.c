/* SPDX-License-Identifier: MIT */
/*
 * Persistent reservations (SPC-4 §5.12, §6.16, §6.17), emulated for the
 * single I_T nexus a transport represents: it can register a key, hold a
 * reservation of any of the six types, release, clear and preempt.
 *
 * With one nexus, the nexus is either unregistered (and then there is no
 * reservation: reserving takes a registration, and unregistering releases)
 * or registered (and then it is the holder, or one of "all registrants").
 * So ordinary commands never conflict; the PERSISTENT RESERVE OUT rules
 * (wrong key, reserving a different type, preempting an unknown key) do.
 * The conflict check below still follows SPC-4 Table 69 for a nexus that
 * holds nothing, so the rule is there if the model grows more nexuses.
 *
 * Not supported (REPORT CAPABILITIES says so): SPEC_I_PT, ALL_TG_PT,
 * APTPL (persist through power loss: the state survives save/load only),
 * REGISTER AND MOVE, REPLACE LOST RESERVATION, READ FULL STATUS.
 */
#include "scsi/scsi_internal.h"

#define PR_OUT_LEN 24

static bool type_valid(uint8_t type)
{
	switch (type) {
	case SCSI_PR_WE:
	case SCSI_PR_EA:
	case SCSI_PR_WE_RO:
	case SCSI_PR_EA_RO:
	case SCSI_PR_WE_AR:
	case SCSI_PR_EA_AR:
		return true;
	default:
		return false;
	}
}

static bool type_all_registrants(uint8_t type)
{
	return type == SCSI_PR_WE_AR || type == SCSI_PR_EA_AR;
}

int vdev__scsi_pr_valid(const struct vdev__scsi_pr *pr)
{
	if (pr->registered > 1 || pr->reserved > 1)
		return -1;
	if (pr->registered ? !pr->key : pr->key || pr->reserved)
		return -1;
	if (pr->reserved ? !type_valid(pr->type) : pr->type != 0)
		return -1;
	return 0;
}

bool vdev__scsi_pr_conflict(const vdev_scsi_lun *l, const struct vdev__scsi_cmd *cmd)
{
	const struct vdev__scsi_pr *pr = &l->pr;

	if (!pr->reserved || !(cmd->flags & (SCSI_CF_PR_READ | SCSI_CF_PR_WRITE)))
		return false;
	/* The holder, an "all registrants" holder or a registrant of an RO type: access. */
	if (pr->registered)
		return false;
	switch (pr->type) {
	case SCSI_PR_WE:
	case SCSI_PR_WE_RO:
	case SCSI_PR_WE_AR:
		return cmd->flags & SCSI_CF_PR_WRITE;
	default:
		return true;
	}
}

void vdev__scsi_exec_pr_in(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	const struct vdev__scsi_pr *pr = &t->lun->pr;
	uint16_t alloc = scsi_be16(cdb + 7);
	uint8_t b[24];
	size_t n;

	memset(b, 0, sizeof(b));
	switch (cdb[1] & 0x1f) {
	case 0x00: /* READ KEYS */
		scsi_put_be32(b, pr->generation);
		n = 8;
		if (pr->registered) {
			scsi_put_be32(b + 4, 8);
			scsi_put_be64(b + 8, pr->key);
			n += 8;
		}
		break;
	case 0x01: /* READ RESERVATION */
		scsi_put_be32(b, pr->generation);
		n = 8;
		if (pr->reserved) {
			scsi_put_be32(b + 4, 16);
			/* All-registrants reservations have key 0 (SPC-4 §6.16.3). */
			if (!type_all_registrants(pr->type))
				scsi_put_be64(b + 8, pr->key);
			b[21] = pr->type; /* scope 0: LU_SCOPE */
			n += 16;
		}
		break;
	default: /* 0x02 REPORT CAPABILITIES */
		scsi_put_be16(b, 8);
		b[3] = 0x80;      /* TMV: the type mask is valid */
		/* WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX; then EX_AC_AR. */
		b[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;
		b[5] = 0x01;
		n = 8;
		break;
	}
	vdev__scsi_reply(t, b, n, alloc);
	vdev__scsi_task_finish(t);
}

static void conflict(struct vdev__scsi_task *t)
{
	t->req->status = VDEV_SCSI_RESERVATION_CONFLICT;
}

/* Validate the 24-byte parameter list's flags; 0 or -1 after failing @t. */
static int check_params(struct vdev__scsi_task *t, const uint8_t *p)
{
	/* Bytes 16..19 and 22..23 are obsolete and ignored. */
	if (p[20] & 0x08) {
		vdev__scsi_bad_param(t, 20, 3); /* SPEC_I_PT: not supported */
		return -1;
	}
	if (p[20] & 0x04) {
		vdev__scsi_bad_param(t, 20, 2); /* ALL_TG_PT: not supported */
		return -1;
	}
	if (p[20] & 0x01) {
		vdev__scsi_bad_param(t, 20, 0); /* APTPL: PTPL_C is 0 */
		return -1;
	}
	if (p[20] & 0xf2) {
		vdev__scsi_bad_param(t, 20, scsi_top_bit(p[20] & 0xf2));
		return -1;
	}
	if (p[21]) {
		vdev__scsi_bad_param(t, 21, scsi_top_bit(p[21]));
		return -1;
	}
	return 0;
}

static void pr_register(struct vdev__scsi_task *t, bool ignore, uint64_t rk, uint64_t sark)
{
	struct vdev__scsi_pr *pr = &t->lun->pr;

	if (!pr->registered) {
		if (!ignore && rk) {
			conflict(t);
			return;
		}
		if (!sark)
			return; /* unregistering while unregistered: no change */
		pr->registered = 1;
		pr->key = sark;
		pr->generation++;
		return;
	}
	if (!ignore && rk != pr->key) {
		conflict(t);
		return;
	}
	if (sark) {
		pr->key = sark;
	} else {
		/* Unregistering the holder (or the last registrant) releases (SPC-4 §5.12.11.2). */
		pr->registered = 0;
		pr->key = 0;
		pr->reserved = 0;
		pr->type = 0;
	}
	pr->generation++;
}

static void pr_preempt(struct vdev__scsi_task *t, uint8_t type, uint64_t sark)
{
	struct vdev__scsi_pr *pr = &t->lun->pr;

	/*
	 * The preempting nexus keeps its own registration; no other nexus
	 * exists, so a key that is not ours matches nothing: RESERVATION
	 * CONFLICT (SPC-4 §5.12.11.4).
	 */
	if (!pr->reserved || !type_all_registrants(pr->type)) {
		if (!sark) {
			vdev__scsi_bad_param(t, 8, 7);
			return;
		}
		if (sark != pr->key) {
			conflict(t);
			return;
		}
		if (pr->reserved)
			pr->type = type; /* the holder preempts itself: new type */
		pr->generation++;
		return;
	}
	/* All-registrants reservation: key 0 preempts everyone and re-reserves. */
	if (sark && sark != pr->key) {
		conflict(t);
		return;
	}
	if (!sark)
		pr->type = type;
	pr->generation++;
}

void vdev__scsi_exec_pr_out(struct vdev__scsi_task *t)
{
	const uint8_t *cdb = t->req->cdb;
	struct vdev__scsi_pr *pr = &t->lun->pr;
	uint8_t sa = cdb[1] & 0x1f, scope = cdb[2] >> 4, type = cdb[2] & 0x0f;
	uint8_t p[PR_OUT_LEN];
	uint64_t rk, sark;

	if (scsi_be32(cdb + 5) != PR_OUT_LEN) {
		vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
		goto out;
	}
	/* TYPE and SCOPE matter to RESERVE, RELEASE and PREEMPT; others ignore them. */
	if (sa == 0x01 || sa == 0x02 || sa == 0x04 || sa == 0x05) {
		if (scope) {
			vdev__scsi_bad_cdb(t, 2, 7);
			goto out;
		}
		if (!type_valid(type)) {
			vdev__scsi_bad_cdb(t, 2, 3);
			goto out;
		}
	}
	if (vdev__scsi_fetch(t, p, sizeof(p)) || check_params(t, p))
		goto out;
	rk = scsi_be64(p);
	sark = scsi_be64(p + 8);
	if (sa == 0x00 || sa == 0x06) {
		pr_register(t, sa == 0x06, rk, sark);
		goto out;
	}
	if (!pr->registered || rk != pr->key) {
		conflict(t);
		goto out;
	}
	switch (sa) {
	case 0x01: /* RESERVE */
		if (pr->reserved && pr->type != type) {
			conflict(t);
		} else {
			pr->reserved = 1;
			pr->type = type;
		}
		break;
	case 0x02: /* RELEASE */
		if (!pr->reserved)
			break;
		if (pr->type != type) {
			vdev__scsi_check(t, VDEV_SCSI_SK_ILLEGAL_REQUEST,
					 SCSI_ASC_INVALID_RELEASE_OF_PR);
			break;
		}
		pr->reserved = 0;
		pr->type = 0;
		break;
	case 0x03: /* CLEAR */
		pr->registered = 0;
		pr->key = 0;
		pr->reserved = 0;
		pr->type = 0;
		pr->generation++;
		break;
	default: /* PREEMPT, PREEMPT AND ABORT: no other nexus has tasks to abort */
		pr_preempt(t, type, sark);
		break;
	}
out:
	vdev__scsi_task_finish(t);
}
