/* SPDX-License-Identifier: MIT */
/*
 * lib/scsi internals: the bus, its targets and LUNs, the per-command task,
 * the CDB table, sense building, unit attentions and the helpers the
 * command files (SPC, SBC, PR, mode pages) share. Not installed.
 *
 * Life of a request (scsi_req.c): vdev_scsi_submit() wraps it in a task,
 * which waits on its LUN's order queue if task attributes say so
 * (ORDERED/SIMPLE rules), then starts: the generic checks run (missing
 * LUN, opcode, unit attention, reserved CDB bits from the table's usage
 * map, reservations, NOT READY, write protect), then the command's
 * handler. A handler either finishes the task at once or hands a request
 * to the LUN's block backend with a continuation (step) that runs when the
 * backend completes it; eventually vdev__scsi_task_finish() fills in the
 * results, calls the transport's done hook and starts waiting tasks.
 */
#ifndef VDEV_SCSI_SCSI_INTERNAL_H
#define VDEV_SCSI_SCSI_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <vdev/block.h>
#include <vdev/scsi.h>

#include "core/core.h"

/* ---- limits (advertised in the Block Limits VPD page, and enforced) ---- */

/* The LUN table of a target: 128 blocks of 128 LUN pointers, allocated on first use. */
#define SCSI_LUN_CHUNK_SHIFT 7
#define SCSI_LUN_CHUNK (1u << SCSI_LUN_CHUNK_SHIFT)
#define SCSI_LUN_CHUNKS (VDEV_SCSI_MAX_LUNS / SCSI_LUN_CHUNK)

#define SCSI_MAX_XFER_BYTES (32u << 20)   /* MAXIMUM TRANSFER LENGTH, in bytes */
#define SCSI_MAX_CAW_BLOCKS 64u           /* MAXIMUM COMPARE AND WRITE LENGTH */
#define SCSI_MAX_UNMAP_DESC 256u          /* MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT */
#define SCSI_MAX_UNMAP_BLOCKS 0xffffffffu /* MAXIMUM UNMAP LBA COUNT */
#define SCSI_MAX_WS_BYTES (1ull << 30)    /* MAXIMUM WRITE SAME LENGTH, in bytes */
#define SCSI_CHUNK_BYTES (256u << 10)     /* bounce buffers of WRITE SAME and VERIFY */
#define SCSI_TASK_CACHE 256u              /* free tasks a bus keeps */

/* ---- sense codes: additional sense code << 8 | qualifier (SPC-4 Annex D) ---- */
#define SCSI_ASC_NO_SENSE 0x0000
#define SCSI_ASC_NOT_READY_INIT_REQUIRED 0x0402
#define SCSI_ASC_WRITE_ERROR 0x0c00
#define SCSI_ASC_UNRECOVERED_READ_ERROR 0x1100
#define SCSI_ASC_PARAM_LIST_LENGTH_ERROR 0x1a00
#define SCSI_ASC_MISCOMPARE 0x1d00
#define SCSI_ASC_INVALID_OPCODE 0x2000
#define SCSI_ASC_LBA_OUT_OF_RANGE 0x2100
#define SCSI_ASC_INVALID_FIELD_IN_CDB 0x2400
#define SCSI_ASC_LUN_NOT_SUPPORTED 0x2500
#define SCSI_ASC_INVALID_FIELD_IN_PARAM 0x2600
#define SCSI_ASC_INVALID_RELEASE_OF_PR 0x2604
#define SCSI_ASC_WRITE_PROTECTED 0x2700
#define SCSI_ASC_SPACE_ALLOC_FAILED_WP 0x2707
#define SCSI_ASC_POWER_ON_RESET 0x2900
#define SCSI_ASC_BUS_DEVICE_RESET 0x2903   /* LUN RESET */
#define SCSI_ASC_I_T_NEXUS_LOSS 0x2907
#define SCSI_ASC_MEDIUM_MAY_HAVE_CHANGED 0x2800
#define SCSI_ASC_CAPACITY_CHANGED 0x2a09
#define SCSI_ASC_SAVING_NOT_SUPPORTED 0x3900
#define SCSI_ASC_MEDIUM_NOT_PRESENT 0x3a00
#define SCSI_ASC_NO_MEDIUM_TRAY_CLOSED 0x3a01
#define SCSI_ASC_NO_MEDIUM_TRAY_OPEN 0x3a02
#define SCSI_ASC_LUNS_CHANGED 0x3f0e
#define SCSI_ASC_INTERNAL_TARGET_FAILURE 0x4400
#define SCSI_ASC_INVALID_MESSAGE 0x4900
#define SCSI_ASC_DATA_PHASE_ERROR 0x4b00
#define SCSI_ASC_REMOVAL_PREVENTED 0x5302

/* ---- big-endian fields (SCSI is big-endian) ---- */
static inline uint16_t scsi_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t scsi_be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}
static inline uint32_t scsi_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t scsi_be64(const uint8_t *p)
{
	return (uint64_t)scsi_be32(p) << 32 | scsi_be32(p + 4);
}
static inline void scsi_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void scsi_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline void scsi_put_be64(uint8_t *p, uint64_t v)
{
	scsi_put_be32(p, (uint32_t)(v >> 32));
	scsi_put_be32(p + 4, (uint32_t)v);
}

/* The highest set bit of @v (0 for 0): where a field pointer's BIT POINTER points. */
static inline int scsi_top_bit(uint8_t v)
{
	int b = 7;

	while (b > 0 && !(v & (1u << b)))
		b--;
	return b;
}

/* ---- the CDB table (scsi_cdb.c) ---- */

struct vdev__scsi_task;

enum scsi_dir {
	SCSI_DIR_NONE = 0,
	SCSI_DIR_IN,    /* data to the initiator */
	SCSI_DIR_OUT,   /* data from the initiator */
};

/* Command flags. */
#define SCSI_CF_SA (1u << 0)        /* byte 1 bits 4..0 are a service action */
#define SCSI_CF_UA_OK (1u << 1)     /* runs with a unit attention pending (SAM-5 §5.14) */
#define SCSI_CF_NO_LUN (1u << 2)    /* runs on a missing LUN (SPC-4 §4.6.1) */
#define SCSI_CF_WLUN (1u << 3)      /* runs on the REPORT LUNS well-known LUN */
#define SCSI_CF_MEDIUM (1u << 4)    /* needs a started unit with a medium */
#define SCSI_CF_WRITE (1u << 5)     /* modifies the medium: DATA PROTECT when read-only */
#define SCSI_CF_PR_READ (1u << 6)   /* conflicts with exclusive-access reservations (§5.12) */
#define SCSI_CF_PR_WRITE (1u << 7)  /* conflicts with write-exclusive reservations too */
#define SCSI_CF_DISK (1u << 8)      /* SBC only: INVALID COMMAND OPERATION CODE on a CD-ROM */
#define SCSI_CF_MMC (1u << 9)       /* MMC only: INVALID COMMAND OPERATION CODE on a disk */

struct vdev__scsi_cmd {
	uint8_t opcode;
	uint8_t sa;                 /* service action, with SCSI_CF_SA */
	uint8_t cdb_len;
	uint8_t dir;                /* enum scsi_dir */
	uint16_t flags;             /* SCSI_CF_* */
	void (*exec)(struct vdev__scsi_task *t);
	const char *name;
	/*
	 * CDB usage map (SPC-4 §6.35.3, REPORT SUPPORTED OPERATION CODES):
	 * usage[0] is the opcode, then a 1 for each bit the device server
	 * looks at (the service action field holds the action itself). A
	 * CDB with a bit set outside the map is refused with INVALID FIELD IN
	 * CDB pointing at it. The control byte's vendor bits (7..6) are
	 * ignored, its NACA and LINK bits are unsupported (0 in the map).
	 */
	uint8_t usage[16];
};

/* The command for @cdb (NULL: unknown opcode); *bad_sa set when only the service action is. */
const struct vdev__scsi_cmd *vdev__scsi_cmd_lookup(const uint8_t *cdb, bool *bad_sa);
/* Table access for REPORT SUPPORTED OPERATION CODES. */
const struct vdev__scsi_cmd *vdev__scsi_cmd_at(unsigned int i);
unsigned int vdev__scsi_cmd_count(void);
/* 1 if opcode @op has service actions. */
bool vdev__scsi_opcode_has_sa(uint8_t op);
/* Check the CDB against the usage map; 0, or -1 after failing @t with the field pointer. */
int vdev__scsi_cdb_check(struct vdev__scsi_task *t);

/* ---- the bus, targets and LUNs ---- */

struct vdev__scsi_taskq {
	struct vdev__scsi_task *head, *tail;
};

struct vdev__scsi_target {
	unsigned int nluns;
	/*
	 * REPORTED LUNS DATA HAS CHANGED (SAM-5 §5.14, LUICLR=1 semantics):
	 * pending on a LUN while luns_acked != luns_gen and the LUN was added
	 * before the last change (added_gen != luns_gen). Reporting it on any
	 * LUN, or a REPORT LUNS, clears it for all of them: luns_acked =
	 * luns_gen. O(1) per hot-plug, however many LUNs the target has.
	 */
	uint32_t luns_gen;
	uint32_t luns_acked;
	vdev_scsi_lun **chunk[SCSI_LUN_CHUNKS];
};

/* Unit attention bits (scsi_ua.c), highest priority first. */
#define SCSI_UA_RESET (1u << 0)     /* 29h/xx, qualifier in ua_reset_ascq */
#define SCSI_UA_CAPACITY (1u << 1)  /* 2Ah/09h CAPACITY DATA HAS CHANGED */
#define SCSI_UA_MEDIUM (1u << 2)    /* 28h/00h NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED */
#define SCSI_UA_NO_MEDIUM (1u << 3) /* 3Ah/00h MEDIUM NOT PRESENT (the VMM removed it) */
#define SCSI_UA_ALL (SCSI_UA_RESET | SCSI_UA_CAPACITY | SCSI_UA_MEDIUM | SCSI_UA_NO_MEDIUM)

/* Persistent reservation types (SPC-4 §6.16.2 Table 212). */
#define SCSI_PR_WE 1
#define SCSI_PR_EA 3
#define SCSI_PR_WE_RO 5
#define SCSI_PR_EA_RO 6
#define SCSI_PR_WE_AR 7
#define SCSI_PR_EA_AR 8

/* Persistent reservation state for the one I_T nexus a transport represents. */
struct vdev__scsi_pr {
	uint64_t key;          /* the nexus's registration key, when registered */
	uint32_t generation;   /* PRGENERATION */
	uint8_t registered;
	uint8_t reserved;      /* the nexus holds a reservation of type @type */
	uint8_t type;
};

struct vdev_scsi_lun {
	vdev_scsi_bus *bus;
	vdev_blk *blk;
	uint64_t nblocks;            /* capacity in logical blocks */
	uint16_t target;
	uint16_t lun;
	uint8_t type;                /* enum vdev_scsi_lun_type */
	uint8_t bs_shift;            /* log2(logical block size) */
	/* mode parameters and unit state */
	uint8_t readonly : 1;
	uint8_t removable : 1;
	uint8_t wce : 1;             /* caching page WCE (current) */
	uint8_t wce_default : 1;
	uint8_t dsense : 1;          /* control page D_SENSE (current) */
	uint8_t stopped : 1;         /* START STOP UNIT with START=0 */
	uint8_t prevent : 1;         /* PREVENT ALLOW MEDIUM REMOVAL */
	uint8_t tray_open : 1;       /* CD-ROM: tray out (no medium is accessible) */
	uint8_t mmc_event;           /* CD-ROM: pending GESN media event code (MMC-6 §6.7.2.5) */
	uint8_t ua;                  /* SCSI_UA_* */
	uint8_t ua_reset_ascq;
	uint8_t kicking : 1;         /* inside vdev__scsi_lun_kick() */
	uint8_t kick_again : 1;
	uint32_t added_gen;          /* target luns_gen when this LUN was added */
	struct vdev__scsi_pr pr;
	/* tasks */
	struct vdev__scsi_task *tasks;       /* every live task, for TMFs */
	struct vdev__scsi_taskq order_q;     /* waiting for ORDERED/SIMPLE rules */
	struct vdev__scsi_taskq range_q;     /* waiting for the range lock */
	struct vdev__scsi_taskq park_q;      /* waiting for a backend slot */
	struct vdev__scsi_task *ranges;      /* holders of the range lock */
	uint32_t n_active;                   /* started and not finished */
	uint32_t n_ordered;                  /* ORDERED tasks among them */
	uint32_t n_excl;                     /* exclusive (COMPARE AND WRITE) range holders */
	uint32_t n_excl_wait;                /* ... and waiters */
	/* identity (INQUIRY, VPD) */
	char vendor[8];
	char product[16];
	char revision[4];
	char *serial;                        /* NULL: derived from the address */
	uint64_t wwn;                        /* 0: derived from the address */
	struct vdev__scsi_pt *pt;            /* PASSTHROUGH LUNs only (scsi_passthrough.c) */
};

struct vdev_scsi_bus {
	vdev_ctx *ctx;
	struct vdev_scsi_bus_ops ops;
	void *opaque;
	unsigned int nluns;
	unsigned int cb_depth;               /* inside a transport's done callback */
	struct vdev__scsi_task *free_tasks;
	unsigned int n_free_tasks;
	struct vdev__scsi_target *targets[VDEV_SCSI_MAX_TARGETS];
};

static inline uint32_t scsi_bs(const vdev_scsi_lun *l)
{
	return 1u << l->bs_shift;
}

/* scsi_bus.c */
struct vdev__scsi_target *vdev__scsi_target_of(const vdev_scsi_lun *l);
/* Call @fn for each LUN of @tg in LUN order; stops when it returns non-zero. */
int vdev__scsi_target_each(struct vdev__scsi_target *tg, int (*fn)(vdev_scsi_lun *l, void *arg),
			   void *arg);
void vdev__scsi_event(vdev_scsi_bus *bus, uint16_t target, uint16_t lun, enum vdev_scsi_event ev);

/* ---- tasks (scsi_req.c) ---- */

enum scsi_task_state {
	SCSI_T_NEW = 0,
	SCSI_T_WAIT_ORDER,     /* on lun->order_q */
	SCSI_T_RUNNING,        /* started: executing, or its backend request in flight */
	SCSI_T_WAIT_RANGE,     /* on lun->range_q */
	SCSI_T_WAIT_BLK,       /* on lun->park_q: the backend's queue was full */
};

typedef void (*vdev__scsi_step_fn)(struct vdev__scsi_task *t, int64_t result);
typedef void (*vdev__scsi_resume_fn)(struct vdev__scsi_task *t);

struct vdev__scsi_task {
	struct vdev__scsi_task *next, *prev;     /* lun->tasks */
	struct vdev__scsi_task *qnext;           /* the queue it waits on */
	struct vdev__scsi_task *rnext, *rprev;   /* lun->ranges */
	struct vdev_scsi_req *req;
	vdev_scsi_bus *bus;
	vdev_scsi_lun *lun;                      /* NULL: a missing LUN or the W-LUN */
	const struct vdev__scsi_cmd *cmd;
	uint8_t state;                           /* enum scsi_task_state */
	uint8_t attr;                            /* enum vdev_scsi_task_attr */
	uint8_t abort_resp;                      /* non-zero: finish with this response */
	bool active;                             /* counted in lun->n_active */
	bool wlun;
	bool range_held;
	bool range_excl;
	bool blk_busy;                           /* breq is with the backend */
	bool desc_sense;                         /* REQUEST SENSE DESC: descriptor format */
	uint64_t in_total, out_total;            /* sizes of the data iovecs */
	uint64_t want;                           /* bytes the command meant to move */
	/* per-command state */
	uint64_t lba, nblk;                      /* the range a write holds */
	uint64_t pos, end;                       /* progress of chunked commands (bytes) */
	uint32_t bflags;                         /* VDEV_BLK_F_* for writes */
	uint32_t aux;
	vdev__scsi_step_fn step;
	vdev__scsi_resume_fn resume;
	uint8_t *buf;                            /* bounce buffer (freed at finish) */
	size_t buf_len;
	struct iovec *iov;                       /* iovecs handed to the backend */
	unsigned int iovcnt;
	struct iovec iov_inline[4];
	struct vdev_blk_req breq;
	struct vdev__blk_scsi_cmd *sgc;          /* pass-through: breq's SG_IO command (in buf) */
};

/* Finish @t: results to the request, done hook, waiting tasks started. */
void vdev__scsi_task_finish(struct vdev__scsi_task *t);
/* Start tasks that can start now (parked backend requests, range and order waiters). */
void vdev__scsi_lun_kick(vdev_scsi_lun *l);
/*
 * Hand @t->breq (filled by the caller but for done/user) to the LUN's
 * backend; @step runs with the result (from the backend's poll, or at
 * once if the submission failed). A full backend queue parks the task.
 */
void vdev__scsi_blk_submit(struct vdev__scsi_task *t, vdev__scsi_step_fn step);
/*
 * Take the write range [lba, lba + n) (exclusive: against every
 * overlapping write; shared: only against exclusive holders), then run
 * @resume, now or when the range is free.
 */
void vdev__scsi_range_lock(struct vdev__scsi_task *t, uint64_t lba, uint64_t n, bool excl,
			   vdev__scsi_resume_fn resume);
/* Take @t off whichever queue it waits on. */
void vdev__scsi_unqueue(struct vdev__scsi_task *t);
/* Free the bus's cached tasks. */
void vdev__scsi_task_cache_free(vdev_scsi_bus *bus);

/* ---- task management (scsi_tmf.c) ---- */

/* Abort @l's tasks (all, or those tagged @tag) with response @resp and wait for them. */
void vdev__scsi_lun_abort(vdev_scsi_lun *l, bool all, uint64_t tag, uint8_t resp);

/* ---- data buffers (scsi_iov.c) ---- */

uint64_t vdev__scsi_iov_total(const struct iovec *iov, unsigned int cnt);
/* Copy up to @len bytes from @buf into @iov at @off; @return bytes copied. */
size_t vdev__scsi_iov_from_buf(const struct iovec *iov, unsigned int cnt, uint64_t off,
			       const void *buf, size_t len);
/* Copy up to @len bytes from @iov at @off into @buf; @return bytes copied. */
size_t vdev__scsi_iov_to_buf(const struct iovec *iov, unsigned int cnt, uint64_t off, void *buf,
			     size_t len);
/*
 * @t->iov = the slice [off, off + len) of @src (which must hold it):
 * @return 0 or -ENOMEM.
 */
int vdev__scsi_iov_slice(struct vdev__scsi_task *t, const struct iovec *src, unsigned int cnt,
			 uint64_t off, uint64_t len);
/* Compare @len bytes of @iov at @off with @buf: @return the first differing offset, or -1. */
int64_t vdev__scsi_iov_cmp(const struct iovec *iov, unsigned int cnt, uint64_t off,
			   const uint8_t *buf, size_t len);
/*
 * Send @len bytes of parameter data to the initiator, truncated to
 * @alloc_len (the CDB's allocation length) and to the data-in buffers.
 */
void vdev__scsi_reply(struct vdev__scsi_task *t, const void *buf, size_t len, uint64_t alloc_len);
/*
 * Fetch @len bytes of parameter list from the data-out buffers into @buf.
 * @return 0, or -1 after failing @t (ABORTED COMMAND, DATA PHASE ERROR) if
 * the initiator sent fewer.
 */
int vdev__scsi_fetch(struct vdev__scsi_task *t, void *buf, size_t len);

/* ---- sense (scsi_sense.c) ---- */

#define SCSI_SENSE_F_INFO (1u << 0)   /* INFORMATION is valid */
#define SCSI_SENSE_F_SKS (1u << 1)    /* sense-key specific bytes valid */

struct vdev__scsi_sense {
	uint8_t key;
	uint8_t flags;
	uint16_t code;     /* ASC << 8 | ASCQ */
	uint8_t sks[3];
	uint64_t info;
};

/* Encode @s (fixed or descriptor format) into @out; @return its length (<= 32). */
size_t vdev__scsi_sense_encode(const struct vdev__scsi_sense *s, bool desc, uint8_t *out);
/* CHECK CONDITION with sense @s (the LUN's D_SENSE picks the format). */
void vdev__scsi_fail(struct vdev__scsi_task *t, const struct vdev__scsi_sense *s);
/* CHECK CONDITION with @key and @code, no extra fields. */
void vdev__scsi_check(struct vdev__scsi_task *t, uint8_t key, uint16_t code);
/* ILLEGAL REQUEST, INVALID FIELD IN CDB; field pointer at @byte, bit @bit (-1: none). */
void vdev__scsi_bad_cdb(struct vdev__scsi_task *t, unsigned int byte, int bit);
/* ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST pointing at @byte/@bit. */
void vdev__scsi_bad_param(struct vdev__scsi_task *t, unsigned int byte, int bit);
/* A backend error for a read (@is_read) or a write/flush, mapped to sense or an abort. */
void vdev__scsi_blk_error(struct vdev__scsi_task *t, int64_t err, bool is_read);

/* ---- unit attentions (scsi_ua.c) ---- */

void vdev__scsi_ua_set_reset(vdev_scsi_lun *l, uint16_t code);
void vdev__scsi_ua_set(vdev_scsi_lun *l, uint8_t bit);
/* The highest-priority pending UA as a sense code; false if none. */
bool vdev__scsi_ua_peek(vdev_scsi_lun *l, uint16_t *code);
/* Report-and-clear the highest-priority pending UA (SAM-5 §5.14). */
bool vdev__scsi_ua_take(vdev_scsi_lun *l, uint16_t *code);
/* The target's LUN inventory changed (REPORTED LUNS DATA HAS CHANGED for its LUNs). */
void vdev__scsi_luns_changed(struct vdev__scsi_target *tg);
/* REPORTED LUNS DATA HAS CHANGED was reported on the target: clear it for all its LUNs. */
void vdev__scsi_luns_acked(struct vdev__scsi_target *tg);
bool vdev__scsi_luns_changed_pending(const vdev_scsi_lun *l);

/* ---- persistent reservations (scsi_pr.c) ---- */

/* 1 if @cmd from the nexus conflicts with the LUN's reservation (SPC-4 §5.12.1). */
bool vdev__scsi_pr_conflict(const vdev_scsi_lun *l, const struct vdev__scsi_cmd *cmd);
/* 0 if @pr is a state this implementation can be in. */
int vdev__scsi_pr_valid(const struct vdev__scsi_pr *pr);

/* ---- LBA helpers (scsi_sbc.c) ---- */

/* 0 if [lba, lba + n) lies on the medium; else fails @t with LBA OUT OF RANGE. */
int vdev__scsi_lba_check(struct vdev__scsi_task *t, uint64_t lba, uint64_t n);
/* Writes are FUA when asked or when the write cache is off. */
uint32_t vdev__scsi_write_flags(const vdev_scsi_lun *l, bool fua);

/* ---- CD-ROM (scsi_mmc.c) ---- */

#define SCSI_MMC_BS_SHIFT 11          /* 2048-byte sectors */

/* The NOT READY code when @l has no accessible medium (3Ah/00h, or /01h /02h on a CD-ROM). */
uint16_t vdev__scsi_no_medium_code(const vdev_scsi_lun *l);
/* Recompute @l->nblocks: the medium's blocks, 0 without one or with the tray open. */
void vdev__scsi_mmc_refresh(vdev_scsi_lun *l);
/* May command @c run on @l's device type? */
bool vdev__scsi_cmd_fits(const struct vdev__scsi_cmd *c, const vdev_scsi_lun *l);
/* START STOP UNIT with LOEJ=1 on a CD-ROM: load (@start) or eject the tray. */
void vdev__scsi_mmc_load_eject(struct vdev__scsi_task *t, bool start);

/* ---- pass-through LUNs (scsi_passthrough.c, scsi_pt_policy.c) ---- */

struct vdev__blk_scsi_cmd;

struct vdev__scsi_pt {
	uint8_t deny[VDEV_SCSI_SG_DENY_SIZE];  /* opcodes refused locally */
	bool allow_all;                        /* VDEV_SCSI_SG_ALLOW_ALL: deny ignored */
	uint32_t timeout_ms;
	uint32_t lbs;           /* the device's logical block size; 0: not known yet */
	uint64_t max_xfer;      /* bytes per command the host queue takes; 0: unknown */
};

/* Check a PASSTHROUGH LUN's options: 0 or -EINVAL (with a log line). */
int vdev__scsi_pt_check_opts(vdev_scsi_bus *bus, const struct vdev_scsi_lun_opts *o);
/* Set up @l->pt from @o (checked); 0 or -ENOMEM. */
int vdev__scsi_pt_init(vdev_scsi_lun *l, const struct vdev_scsi_lun_opts *o);
void vdev__scsi_pt_free(vdev_scsi_lun *l);
/* Run @t on a pass-through LUN: local answers, policy, or SG_IO. */
void vdev__scsi_pt_dispatch(struct vdev__scsi_task *t);
/* The default deny list (scsi_pt_policy.c) into @bitmap. */
void vdev__scsi_pt_default_deny(uint8_t bitmap[VDEV_SCSI_SG_DENY_SIZE]);
/* Does opcode @op write to the medium (refused on a read-only pass-through LUN)? */
bool vdev__scsi_pt_is_write(uint8_t op);
/* The CDB length opcode @op's group implies, up to @have (0: not enough bytes). */
unsigned int vdev__scsi_pt_cdb_len(const uint8_t *cdb, unsigned int have);
/* A command's data-in came back from the host: clamp Block Limits, learn the block size. */
void vdev__scsi_pt_snoop(struct vdev__scsi_task *t);

/* ---- command handlers ---- */

/* scsi_spc.c */
void vdev__scsi_exec_test_unit_ready(struct vdev__scsi_task *t);
void vdev__scsi_exec_request_sense(struct vdev__scsi_task *t);
void vdev__scsi_exec_report_luns(struct vdev__scsi_task *t);
void vdev__scsi_exec_rsoc(struct vdev__scsi_task *t);
void vdev__scsi_exec_start_stop(struct vdev__scsi_task *t);
void vdev__scsi_exec_prevent_allow(struct vdev__scsi_task *t);
/* scsi_inquiry.c */
void vdev__scsi_exec_inquiry(struct vdev__scsi_task *t);
/* scsi_mode.c */
void vdev__scsi_exec_mode_sense(struct vdev__scsi_task *t);
void vdev__scsi_exec_mode_select(struct vdev__scsi_task *t);
/* scsi_pr.c */
void vdev__scsi_exec_pr_in(struct vdev__scsi_task *t);
void vdev__scsi_exec_pr_out(struct vdev__scsi_task *t);
/* scsi_sbc.c */
void vdev__scsi_exec_rw(struct vdev__scsi_task *t);
void vdev__scsi_exec_read_capacity10(struct vdev__scsi_task *t);
void vdev__scsi_exec_read_capacity16(struct vdev__scsi_task *t);
void vdev__scsi_exec_sync_cache(struct vdev__scsi_task *t);
void vdev__scsi_exec_get_lba_status(struct vdev__scsi_task *t);
/* scsi_sbc_ext.c */
void vdev__scsi_exec_write_same(struct vdev__scsi_task *t);
void vdev__scsi_exec_unmap(struct vdev__scsi_task *t);
void vdev__scsi_exec_verify(struct vdev__scsi_task *t);
void vdev__scsi_exec_compare_and_write(struct vdev__scsi_task *t);
/* scsi_mmc.c */
void vdev__scsi_exec_read_toc(struct vdev__scsi_task *t);
void vdev__scsi_exec_get_configuration(struct vdev__scsi_task *t);
void vdev__scsi_exec_gesn(struct vdev__scsi_task *t);
void vdev__scsi_exec_read_disc_info(struct vdev__scsi_task *t);
void vdev__scsi_exec_read_track_info(struct vdev__scsi_task *t);
void vdev__scsi_exec_mechanism_status(struct vdev__scsi_task *t);

#endif /* VDEV_SCSI_SCSI_INTERNAL_H */
