/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/scsi.h
 * A transport-independent SCSI target: one bus of up to 256 targets with
 * up to 16384 LUNs each, holding disks (SBC-4), CD-ROMs (MMC) and
 * pass-through devices (host SCSI devices through SG_IO), and executing
 * SAM-5 commands and task management for a transport (virtio-scsi, USB
 * storage, PVSCSI...).
 *
 * The transport decodes its own LUN addressing into (target, lun) and
 * submits a #vdev_scsi_req per command. The bus parses the CDB, checks
 * unit attentions, reservations and ranges, runs the command against the
 * LUN's backend and completes the request with a SAM status, sense data
 * and the data-in length. Commands that need no I/O may complete inside
 * vdev_scsi_submit(); the others complete when the VMM polls the LUN's
 * block backend (vdev/block.h).
 *
 * Threading: a bus and its LUNs belong to one thread (the device thread),
 * which also polls their backends. A done callback may submit new
 * requests, but must not remove LUNs, run task management, reset or free
 * the bus (those wait for backend I/O; vdev_scsi_lun_remove() and
 * vdev_scsi_tmf() refuse with -EBUSY there).
 *
 * Task attributes: SIMPLE tasks run concurrently; an ORDERED task starts
 * when every earlier task of its LUN has completed, and later tasks start
 * after it completed; HEAD OF QUEUE starts at once, ahead of waiting
 * tasks; ACA is refused (no ACA support: ILLEGAL REQUEST, INVALID MESSAGE
 * ERROR).
 */
#ifndef VDEV_SCSI_H
#define VDEV_SCSI_H

#include <sys/uio.h>
#include <vdev/block.h>
#include <vdev/common.h>
#include <vdev/state.h>

VDEV_BEGIN_DECLS

#define VDEV_SCSI_MAX_TARGETS 256
#define VDEV_SCSI_MAX_LUNS 16384
#define VDEV_SCSI_MAX_CDB 32
/**
 * The REPORT LUNS well-known logical unit (SPC-4 §8.2): a transport that can
 * address it passes this as vdev_scsi_req.lun. It answers INQUIRY, REPORT
 * LUNS, REQUEST SENSE and TEST UNIT READY for its target.
 */
#define VDEV_SCSI_WLUN_REPORT_LUNS 0xC101
/** Fixed-format sense is 18 bytes; descriptor format fits in this. */
#define VDEV_SCSI_SENSE_SIZE 96

/* SAM status codes. */
#define VDEV_SCSI_GOOD 0x00
#define VDEV_SCSI_CHECK_CONDITION 0x02
#define VDEV_SCSI_CONDITION_MET 0x04
#define VDEV_SCSI_BUSY 0x08
#define VDEV_SCSI_RESERVATION_CONFLICT 0x18
#define VDEV_SCSI_TASK_SET_FULL 0x28
#define VDEV_SCSI_ACA_ACTIVE 0x30
#define VDEV_SCSI_TASK_ABORTED 0x40

/* Sense keys (SPC-4 §4.5.6). */
#define VDEV_SCSI_SK_NO_SENSE 0x0
#define VDEV_SCSI_SK_RECOVERED_ERROR 0x1
#define VDEV_SCSI_SK_NOT_READY 0x2
#define VDEV_SCSI_SK_MEDIUM_ERROR 0x3
#define VDEV_SCSI_SK_HARDWARE_ERROR 0x4
#define VDEV_SCSI_SK_ILLEGAL_REQUEST 0x5
#define VDEV_SCSI_SK_UNIT_ATTENTION 0x6
#define VDEV_SCSI_SK_DATA_PROTECT 0x7
#define VDEV_SCSI_SK_ABORTED_COMMAND 0xb
#define VDEV_SCSI_SK_MISCOMPARE 0xe

/** Task attributes (SAM-5 §8.6). */
enum vdev_scsi_task_attr {
	VDEV_SCSI_TASK_SIMPLE = 0,
	VDEV_SCSI_TASK_ORDERED = 1,
	VDEV_SCSI_TASK_HEAD_OF_QUEUE = 2,
	VDEV_SCSI_TASK_ACA = 3,
};

/** Transport-level outcome of a request, besides the SAM status. */
enum vdev_scsi_response {
	VDEV_SCSI_RESP_OK = 0,         /**< the command ran; see status/sense */
	VDEV_SCSI_RESP_BAD_TARGET = 1, /**< no such target. A missing LUN of an existing
					    target answers RESP_OK with CHECK CONDITION,
					    ILLEGAL REQUEST / LOGICAL UNIT NOT SUPPORTED (except
					    INQUIRY and REPORT LUNS, SPC-4 §4.6.1) */
	VDEV_SCSI_RESP_ABORTED = 2,    /**< aborted by task management */
	VDEV_SCSI_RESP_RESET = 3,      /**< aborted by a LUN, nexus or bus reset */
	VDEV_SCSI_RESP_FAILURE = 4,    /**< malformed request (e.g. cdb_len out of range) */
};

struct vdev_scsi_req;

/** Completion hook: the request's results are filled in. Device thread. */
typedef void (*vdev_scsi_done_cb)(struct vdev_scsi_req *req);

/**
 * One command. Owned by the transport, which keeps it, its CDB, iovecs
 * and sense buffer unchanged until @c done ran.
 */
struct vdev_scsi_req {
	/* ---- in ---- */
	uint16_t target;
	uint16_t lun;                   /**< 0..16383, or VDEV_SCSI_WLUN_REPORT_LUNS */
	uint8_t task_attr;              /**< enum vdev_scsi_task_attr */
	uint8_t cdb_len;                /**< 6..VDEV_SCSI_MAX_CDB */
	uint8_t reserved0[2];
	uint8_t cdb[VDEV_SCSI_MAX_CDB];
	uint64_t tag;                   /**< the initiator's task tag (for ABORT/QUERY TASK) */
	const struct iovec *data_out;   /**< data from the initiator (WRITE data) */
	unsigned int data_out_cnt;
	unsigned int data_in_cnt;
	const struct iovec *data_in;    /**< buffers for data to the initiator */
	uint8_t *sense;                 /**< sense buffer */
	uint32_t sense_cap;             /**< its size (sense beyond it is truncated) */
	uint32_t reserved1;
	vdev_scsi_done_cb done;
	void *user;
	/* ---- out ---- */
	uint8_t status;                 /**< SAM status */
	uint8_t response;               /**< enum vdev_scsi_response */
	uint16_t reserved2;
	uint32_t sense_len;             /**< bytes written to sense */
	uint64_t data_in_len;           /**< bytes written into data_in */
	uint64_t data_out_len;          /**< bytes consumed from data_out */
	int64_t residual;               /**< the buffer size in the command's data direction minus
					     what the command transferred; negative (overflow)
					     when the command had more than the buffer held */
	/* ---- the bus's ---- */
	uint64_t internal[12];
};

/** A SCSI bus: targets and LUNs. */
typedef struct vdev_scsi_bus vdev_scsi_bus;
/** One logical unit. */
typedef struct vdev_scsi_lun vdev_scsi_lun;

/** LUN events a transport reports to the guest (e.g. virtio-scsi hot-plug events). */
enum vdev_scsi_event {
	VDEV_SCSI_EV_LUN_ADDED = 1,
	VDEV_SCSI_EV_LUN_REMOVED = 2,
	VDEV_SCSI_EV_CAPACITY_CHANGED = 3, /**< parameter change (virtio-scsi PARAM_CHANGE) */
	VDEV_SCSI_EV_MEDIUM_CHANGED = 4,   /**< media inserted/removed/ejected */
};

/** Hooks a bus calls. Begins with struct_size. Device thread. */
struct vdev_scsi_bus_ops {
	size_t struct_size;
	/** Something changed on (target, lun): tell the guest. Optional. */
	void (*event)(void *opaque, uint16_t target, uint16_t lun, enum vdev_scsi_event ev);
};

/** Create an empty bus. @return 0; -EINVAL; -ENOMEM. */
VDEV_API int vdev_scsi_bus_new(vdev_ctx *ctx, const struct vdev_scsi_bus_ops *ops, void *opaque,
			       vdev_scsi_bus **out);

/** Free a bus with its LUNs (aborting their requests, which complete first). NULL is a no-op. */
VDEV_API void vdev_scsi_bus_free(vdev_scsi_bus *bus);

/** LUN kinds. */
enum vdev_scsi_lun_type {
	VDEV_SCSI_LUN_DISK = 0,        /**< SBC-4 direct-access block device */
	VDEV_SCSI_LUN_CDROM = 5,       /**< MMC CD/DVD-ROM drive, 2048-byte blocks, read-only */
	VDEV_SCSI_LUN_PASSTHROUGH = 100, /**< a host SCSI device via SG_IO: see below */
};

/**
 * Pass-through policy flag (vdev_scsi_lun_opts.sg_flags): forward every
 * opcode, including those of the deny list (the bitmap is ignored).
 */
#define VDEV_SCSI_SG_ALLOW_ALL (1u << 0)

/** Size in bytes of a pass-through deny bitmap (one bit per opcode). */
#define VDEV_SCSI_SG_DENY_SIZE 32

/** Options for vdev_scsi_lun_add(). Begins with struct_size. */
struct vdev_scsi_lun_opts {
	size_t struct_size;
	uint32_t type;              /**< enum vdev_scsi_lun_type */
	uint32_t block_size;        /**< disk: 512 or 4096 (0: 512); CD: 2048 (or 0) */
	vdev_blk *blk;              /**< disk/CD medium (CD: may be NULL = no medium); on
				         success the LUN takes ownership and closes it */
	int readonly;               /**< disk: write-protected (DATA PROTECT sense) */
	int removable;              /**< RMB bit (CD-ROMs always) */
	int write_cache;            /**< WCE in the caching mode page: 0 (default) or > 0 on;
				         < 0 off (write-through: every write is FUA) */
	const char *vendor;         /**< INQUIRY vendor (8 chars), default "LIBVDEV" */
	const char *product;        /**< product (16), default per type */
	const char *revision;       /**< revision (4), default the library version */
	const char *serial;         /**< unit serial number VPD 0x80 (printable ASCII, at most
				         64); default derived from the address */
	uint64_t wwn;               /**< NAA designator for VPD 0x83 (0: derived) */
	const char *sg_path;        /**< reserved, must be NULL (a pass-through LUN's device
				         is its "sg" backend, @c blk) */
	uint32_t sg_timeout_ms;     /**< pass-through per-command timeout (0: 30000) */
	uint32_t reserved;
	/**
	 * Pass-through: opcodes refused with CHECK CONDITION, ILLEGAL REQUEST,
	 * INVALID COMMAND OPERATION CODE (20h/00h) without reaching the host,
	 * a bitmap of VDEV_SCSI_SG_DENY_SIZE bytes (opcode N is bit N % 8 of
	 * byte N / 8), copied by vdev_scsi_lun_add(). NULL: the default list,
	 * the commands with which a guest could damage the host device or
	 * disturb its other users: FORMAT UNIT 04h, REASSIGN BLOCKS 07h,
	 * MODE SELECT 15h/55h, RESERVE/RELEASE 16h/17h/56h/57h, SEND
	 * DIAGNOSTIC 1Dh, WRITE BUFFER 3Bh, WRITE LONG 3Fh, SANITIZE 48h,
	 * PERSISTENT RESERVE OUT 5Fh, EXTENDED COPY 83h, SERVICE ACTION OUT(16)
	 * 9Fh (WRITE LONG(16)), MAINTENANCE OUT A4h, SECURITY PROTOCOL OUT
	 * B5h. Not for other LUN types (must be NULL).
	 */
	const uint8_t *sg_deny;
	uint32_t sg_flags;          /**< pass-through: VDEV_SCSI_SG_* (0 for other types) */
	uint32_t reserved2;         /**< 0 */
};

/**
 * Add LUN (@p target, @p lun) at run time. Other LUNs of the target get a
 * REPORTED LUNS DATA HAS CHANGED unit attention; the new LUN starts with
 * POWER ON, RESET OR BUS DEVICE RESET OCCURRED; the event hook runs.
 * A CD-ROM is read-only and removable whatever the options say; its medium
 * (an ISO image: one data track; above 360000 sectors it is presented as a
 * DVD-ROM) may be NULL (an empty drive, tray closed).
 *
 * A PASSTHROUGH LUN forwards the guest's commands to a host SCSI device:
 * @c blk must be an "sg" backend (vdev/block.h), else -EINVAL. Every CDB
 * goes to the host as it is (its length taken from the opcode's group),
 * except: REPORT LUNS, answered by the bus with its target's LUNs; the
 * bus's unit attentions (power on, LUN inventory changes), reported first
 * (but on INQUIRY and REQUEST SENSE, SAM-5 §5.14); opcodes on the deny
 * list (@c sg_deny); and, on a read-only LUN, the write commands (DATA
 * PROTECT). Task attributes and task management stay in the bus; SG_IO
 * cannot be interrupted, so an aborted command that reached the host
 * completes (aborted) when the host returns it, and the TMF waits for
 * that. The device's status, sense data (byte for byte, truncated only to
 * sense_cap) and residual reach the transport as they are. A host-side
 * timeout (@c sg_timeout_ms) completes the command with CHECK CONDITION,
 * ABORTED COMMAND, INTERNAL TARGET FAILURE (44h/00h), which initiators
 * retry; a device that went away gives RESP_BAD_TARGET; other host or
 * driver failures RESP_FAILURE, or BUSY when the host says to retry. The
 * Block Limits VPD page (B0h) is clamped to what the host queue takes
 * (MAXIMUM and OPTIMAL TRANSFER LENGTH). Saved state: the address, type
 * and the bus's unit attentions only (the host device holds the rest).
 *
 * @return 0; -EEXIST; -EINVAL (address or options); -ENOMEM. On failure
 *         the caller keeps @c blk.
 */
VDEV_API int vdev_scsi_lun_add(vdev_scsi_bus *bus, uint16_t target, uint16_t lun,
			       const struct vdev_scsi_lun_opts *opts, vdev_scsi_lun **out);

/**
 * Add a LUN from a spec string, the syntax the VMM tools share:
 * "lun<L>=VALUE" or "lun<T>.<L>=VALUE" (target T 0..255, default 0; LUN L
 * 0..16383), VALUE = [KIND:]PATH[:OPT]..., KIND "disk" (the default),
 * "cdrom" or "sg" (a pass-through LUN on /dev/sgN or a SCSI block device);
 * OPTs: "ro", "direct" (O_DIRECT; disk, cdrom), "wc" / "wt" (write cache
 * on / write-through; disk), "bs=512" / "bs=4096" (disk), "serial=S",
 * "vendor=V", "product=P" (INQUIRY strings, printable ASCII, no ':' or
 * ','), "allow-all" (sg: VDEV_SCSI_SG_ALLOW_ALL). "cdrom:" with an empty
 * PATH is an empty drive. PATH cannot contain ':' (nor ',' when it comes
 * from vdev_scsi_split_spec()). The backend is opened ("file" for disk and
 * cdrom, "sg" for sg) on @p loop (NULL: a private loop of its own) and
 * owned by the LUN. Thread: the bus's (and the loop's) thread.
 * @return 0 (*@p out = the LUN, if @p out); -EINVAL (a malformed string:
 *         one log line names the problem, nothing is added); the errors of
 *         vdev_blk_open() (-ENOENT, -EACCES, -ENOTTY for sg on a node that
 *         is not SCSI...) and of vdev_scsi_lun_add() (-EEXIST...).
 */
VDEV_API int vdev_scsi_lun_add_str(vdev_scsi_bus *bus, vdev_blk_loop *loop, const char *str,
				   vdev_scsi_lun **out);

/**
 * Split a device spec "NAME,key=value,...,lun0=a.img,lun1=cdrom:b.iso"
 * into the device part (every item that is not a LUN, in order: here
 * "NAME,key=value,...") and the LUN strings for vdev_scsi_lun_add_str()
 * (items whose key is "lun<L>" or "lun<T>.<L>" with decimal numbers, in
 * order). Items are separated by ','. On success the caller owns
 * *@p device_spec, the array *@p lun_strs and its *@p n_luns strings (NULL
 * when there are none), and frees them with vdev_scsi_split_spec_free().
 * Thread: any. @return 0; -EINVAL (NULL argument); -ENOMEM (nothing is
 * returned then).
 */
VDEV_API int vdev_scsi_split_spec(const char *spec, char **device_spec, char ***lun_strs,
				  size_t *n_luns);

/** Free what vdev_scsi_split_spec() returned. NULLs are no-ops. Thread: any. */
VDEV_API void vdev_scsi_split_spec_free(char *device_spec, char **lun_strs, size_t n_luns);

/**
 * Remove a LUN: its requests are aborted (they complete with
 * RESP_ABORTED before this returns), its backend closed, the other LUNs of
 * the target get REPORTED LUNS DATA HAS CHANGED, the event hook runs.
 * @return 0; -ENOENT; -EBUSY (called from a done callback).
 */
VDEV_API int vdev_scsi_lun_remove(vdev_scsi_bus *bus, uint16_t target, uint16_t lun);

/** @return the LUN at (target, lun) or NULL. O(1). */
VDEV_API vdev_scsi_lun *vdev_scsi_lun_find(vdev_scsi_bus *bus, uint16_t target, uint16_t lun);

/** @return the number of LUNs on the bus. */
VDEV_API unsigned int vdev_scsi_lun_count(const vdev_scsi_bus *bus);

/**
 * The LUN's block backend: a disk's file, a CD-ROM's current medium, a
 * pass-through LUN's sg device. Owned by the LUN: do not close it. Valid
 * until the LUN is removed or its medium changed (vdev_scsi_lun_set_medium()).
 * Thread: the bus's. @return the backend; NULL for a NULL @p lun or a
 * CD-ROM drive without a medium.
 */
VDEV_API vdev_blk *vdev_scsi_lun_blk(vdev_scsi_lun *lun);

/**
 * The LUN's type. Thread: the bus's (the type never changes while the LUN
 * exists). @return an enum vdev_scsi_lun_type value; -EINVAL for NULL.
 */
VDEV_API int vdev_scsi_lun_type(const vdev_scsi_lun *lun);

/**
 * The LUN's medium changed size (call after growing the file): CAPACITY
 * DATA HAS CHANGED unit attention + event. @return 0 or a negative errno
 * (-ENOMEDIUM: a CD-ROM drive without a medium).
 */
VDEV_API int vdev_scsi_lun_capacity_changed(vdev_scsi_lun *lun);

/**
 * CD-ROM: insert @p blk as the medium (ownership passes on success; a
 * previous medium is closed, the tray is closed) or remove the medium with
 * NULL (the tray is left open). Requests in flight on the LUN are aborted
 * (RESP_ABORTED) first. Refused with -EBUSY if the guest has locked the
 * medium (PREVENT ALLOW MEDIUM REMOVAL) unless @p force; the guest then
 * sees an EJECT REQUEST media event. Raises the GESN media event (NEW MEDIA
 * / MEDIA REMOVAL), the unit attention NOT READY TO READY CHANGE, MEDIUM
 * MAY HAVE CHANGED (28h/00h) on insert or MEDIUM NOT PRESENT (3Ah/00h) on
 * removal, and the VDEV_SCSI_EV_MEDIUM_CHANGED event.
 * @return 0; -EINVAL (NULL @p lun, or @p blk needs an alignment above 2048);
 *         -ENOTSUP (not a CD-ROM); -EBUSY (locked, or called from a done
 *         callback). On failure @p blk stays the caller's.
 */
VDEV_API int vdev_scsi_lun_set_medium(vdev_scsi_lun *lun, vdev_blk *blk, int force);

/**
 * Execute one command. @return 0: @c done runs exactly once (possibly
 * before this returns). A negative errno (-EINVAL: NULL/malformed request
 * struct) means @c done never runs.
 */
VDEV_API int vdev_scsi_submit(vdev_scsi_bus *bus, struct vdev_scsi_req *req);

/** Task management functions (SAM-5 §7). */
enum vdev_scsi_tmf {
	VDEV_SCSI_TMF_ABORT_TASK = 1,
	VDEV_SCSI_TMF_ABORT_TASK_SET = 2,
	VDEV_SCSI_TMF_CLEAR_TASK_SET = 3,
	VDEV_SCSI_TMF_LUN_RESET = 4,
	VDEV_SCSI_TMF_I_T_NEXUS_RESET = 5,
	VDEV_SCSI_TMF_QUERY_TASK = 6,
	VDEV_SCSI_TMF_QUERY_TASK_SET = 7,
};

/** TMF service responses (SAM-5 §7.1). */
#define VDEV_SCSI_TMF_COMPLETE 0
#define VDEV_SCSI_TMF_SUCCEEDED 1   /**< QUERY: a matching task exists */
#define VDEV_SCSI_TMF_REJECTED 2
#define VDEV_SCSI_TMF_INCORRECT_LUN 3

/**
 * Run a task-management function synchronously: matching requests are
 * cancelled (their backend I/O really cancelled where the host allows;
 * otherwise waited for) and complete with RESP_ABORTED (RESP_RESET for LUN
 * RESET and I_T NEXUS RESET) before this returns.
 * @p tag selects the task for ABORT TASK / QUERY TASK.
 * @return a VDEV_SCSI_TMF_* response (>= 0: TMF_INCORRECT_LUN for a missing
 *         target or LUN, TMF_REJECTED for an unknown function) or a negative
 *         errno (-EINVAL: NULL bus; -EBUSY: called from a done callback).
 */
VDEV_API int vdev_scsi_tmf(vdev_scsi_bus *bus, enum vdev_scsi_tmf tmf, uint16_t target,
			   uint16_t lun, uint64_t tag);

/**
 * Bus reset: every LUN's requests complete with RESP_RESET (before this
 * returns); POWER ON/RESET unit attention everywhere.
 */
VDEV_API void vdev_scsi_bus_reset(vdev_scsi_bus *bus);

/**
 * Save the bus: LUN addresses and types, unit attentions, mode pages,
 * reservations, medium lock/presence — not the backends' data. Requests
 * in flight are not saved: the transport re-submits them (virtio-scsi
 * does, through the virtqueue's in-flight list). @return 0 or the writer's error.
 */
VDEV_API int vdev_scsi_bus_save(vdev_scsi_bus *bus, vdev_state_writer *w);

/**
 * Load into a bus that has the same LUNs (same addresses and types, as
 * the VMM recreated them). Validated first; on failure unchanged.
 */
VDEV_API int vdev_scsi_bus_load(vdev_scsi_bus *bus, vdev_state_reader *r);

VDEV_END_DECLS

#endif /* VDEV_SCSI_H */
