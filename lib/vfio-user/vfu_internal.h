/* SPDX-License-Identifier: MIT */
/*
 * lib/vfio-user private: the wire format (QEMU docs/devel/vfio-user.rst,
 * "Message Format" and the commands; the structures it reuses from
 * Linux's include/uapi/linux/vfio.h), the server state and the split
 * between files:
 *  - vfu_server.c: the public API, sockets, libuv handles, framing;
 *  - vfu_proto.c: validation and dispatch of one message (what the fuzz
 *    harness drives, with no socket), device/region/IRQ info, region I/O;
 *  - vfu_json.c: the VERSION capabilities (a small strict JSON reader);
 *  - vfu_dma.c: DMA_MAP / DMA_UNMAP (mmap, the device context's map, the
 *    unmap that waits for requests in flight);
 *  - vfu_dmaio.c: DMA_READ / DMA_WRITE, server -> client, for regions
 *    mapped without an fd (the memory map's remote-region hooks): sent
 *    at once, their replies taken as they come with the other messages;
 *  - vfu_irq.c: SET_IRQS and the interrupt redirection to eventfds;
 *  - vfu_mig.c: DEVICE_FEATURE migration v2 and MIG_DATA_READ/WRITE;
 *  - vfu_dirty.c: DEVICE_FEATURE DMA logging (dirty-page tracking).
 */
#ifndef VDEV_VFIO_USER_VFU_INTERNAL_H
#define VDEV_VFIO_USER_VFU_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>
#include <vdev/vfio_user.h>

#include "core/core.h"
#include "core/msg_sock.h"

/* ---- wire format ---- */

#define VFU_HDR_SIZE 16u
#define VFU_MAJOR 0u
#define VFU_MINOR 0u

/* Header flags. */
#define VFU_TYPE_MASK 0xfu
#define VFU_TYPE_COMMAND 0x0u
#define VFU_TYPE_REPLY 0x1u
#define VFU_F_NO_REPLY 0x10u
#define VFU_F_ERROR 0x20u

/* Most data one region/migration message carries (our max_data_xfer_size). */
#define VFU_MAX_XFER (1u << 20)
/* Largest message we accept: a region write of VFU_MAX_XFER bytes. */
#define VFU_MAX_MSG (VFU_HDR_SIZE + 16u + VFU_MAX_XFER)
/* Most fds in one message (our max_msg_fds). */
#define VFU_MAX_FDS 16u
/* Most DMA regions (our max_dma_maps; the memory map holds VDEV_MEM_MAX_REGIONS). */
#define VFU_MAX_DMA 256u
/* REGION_WRITE_MULTI: most entries (QEMU's VFIO_USER_MULTI_MAX), entry size, data bytes. */
#define VFU_MULTI_MAX 200u
#define VFU_MULTI_ENTRY 24u
#define VFU_MULTI_DATA 8u
/* Longest VERSION capabilities string we read. */
#define VFU_MAX_JSON 4096u

enum vfu_command {
	VFU_VERSION = 1,
	VFU_DMA_MAP = 2,
	VFU_DMA_UNMAP = 3,
	VFU_DEVICE_GET_INFO = 4,
	VFU_DEVICE_GET_REGION_INFO = 5,
	VFU_DEVICE_GET_REGION_IO_FDS = 6,
	VFU_DEVICE_GET_IRQ_INFO = 7,
	VFU_DEVICE_SET_IRQS = 8,
	VFU_REGION_READ = 9,
	VFU_REGION_WRITE = 10,
	VFU_DMA_READ = 11,
	VFU_DMA_WRITE = 12,
	VFU_DEVICE_RESET = 13,
	VFU_DIRTY_PAGES = 14,
	VFU_REGION_WRITE_MULTI = 15,
	VFU_DEVICE_FEATURE = 16,
	VFU_MIG_DATA_READ = 17,
	VFU_MIG_DATA_WRITE = 18,
};

/* vfio.h: DMA map/unmap flags. */
#define VFU_DMA_MAP_READ (1u << 0)
#define VFU_DMA_MAP_WRITE (1u << 1)
#define VFU_DMA_UNMAP_GET_DIRTY (1u << 0)
#define VFU_DMA_UNMAP_ALL (1u << 1)

/* vfio.h: device info. */
#define VFU_DEVICE_F_RESET (1u << 0)
#define VFU_DEVICE_F_PCI (1u << 1)

/* vfio.h: PCI region indices. */
#define VFU_REGION_BAR0 0u
#define VFU_REGION_ROM 6u
#define VFU_REGION_CONFIG 7u
#define VFU_REGION_VGA 8u
#define VFU_NUM_REGIONS 9u
#define VFU_REGION_F_READ (1u << 0)
#define VFU_REGION_F_WRITE (1u << 1)

/* vfio.h: PCI IRQ indices and flags. */
#define VFU_IRQ_INTX 0u
#define VFU_IRQ_MSI 1u
#define VFU_IRQ_MSIX 2u
#define VFU_IRQ_ERR 3u
#define VFU_IRQ_REQ 4u
#define VFU_NUM_IRQS 5u
#define VFU_IRQ_INFO_EVENTFD (1u << 0)
#define VFU_IRQ_INFO_MASKABLE (1u << 1)
#define VFU_IRQ_INFO_AUTOMASKED (1u << 2)
#define VFU_IRQ_INFO_NORESIZE (1u << 3)
#define VFU_IRQ_DATA_NONE (1u << 0)
#define VFU_IRQ_DATA_BOOL (1u << 1)
#define VFU_IRQ_DATA_EVENTFD (1u << 2)
#define VFU_IRQ_ACTION_MASK (1u << 3)
#define VFU_IRQ_ACTION_UNMASK (1u << 4)
#define VFU_IRQ_ACTION_TRIGGER (1u << 5)
#define VFU_IRQ_DATA_MASK 0x7u
#define VFU_IRQ_ACTION_MASK_ALL 0x38u

/* vfio.h: device features (migration v2). */
#define VFU_FEATURE_MASK 0xffffu
#define VFU_FEATURE_GET (1u << 16)
#define VFU_FEATURE_SET (1u << 17)
#define VFU_FEATURE_PROBE (1u << 18)
#define VFU_FEATURE_MIGRATION 1u
#define VFU_FEATURE_MIG_DEVICE_STATE 2u
#define VFU_MIGRATION_STOP_COPY (1u << 0)
#define VFU_FEATURE_DMA_LOGGING_START 6u
#define VFU_FEATURE_DMA_LOGGING_STOP 7u
#define VFU_FEATURE_DMA_LOGGING_REPORT 8u
/* Most ranges one DMA_LOGGING_START names (Linux's vfio core has the same limit). */
#define VFU_LOG_MAX_RANGES 256u
/* Largest REPORT bitmap, bytes: the reply (32 bytes of header before it) fits VFU_MAX_MSG. */
#define VFU_LOG_MAX_BITMAP (VFU_MAX_XFER - 64u)

enum vfu_mig_state {
	VFU_MIG_ERROR = 0,
	VFU_MIG_STOP = 1,
	VFU_MIG_RUNNING = 2,
	VFU_MIG_STOP_COPY = 3,
	VFU_MIG_RESUMING = 4,
	VFU_MIG_RUNNING_P2P = 5,
};

/* One message as received: header fields and the payload (after the header). */
struct vfu_msg {
	uint16_t id;
	uint16_t cmd;
	uint32_t flags;
	uint32_t size;       /* payload bytes */
	const uint8_t *p;    /* payload */
};

/* ---- DMA ---- */

struct vfu_dma {
	uint64_t iova;
	uint64_t size;
	uint32_t prot;       /* VFU_DMA_MAP_* */
	bool in_map;         /* registered in the context's memory map */
	void *map;           /* mmap of the fd, NULL without one */
	size_t map_len;
};

/* ---- DMA_READ / DMA_WRITE (vfu_dmaio.c) ---- */

/*
 * Their payload (vfio-user.rst "VFIO_USER_DMA_READ/WRITE"): u64 address,
 * u64 count, then the data at payload offset 16. QEMU 11.1's client reads
 * and writes it so (checked against it: its DMA_READ reply of 4 bytes is
 * 20 bytes of payload, the data at 16; older patches put a u32 count and
 * the data at 12).
 */
#define VFU_DMARW_HDR 16u
/*
 * Most DMA_READ messages unanswered at once (the fetch hook says -EAGAIN
 * beyond it), and most DMA messages of both kinds: ids are 16 bits, and a
 * client that lets this many writes pile up is not answering.
 */
#define VFU_DMA_MAX_READS 256u
#define VFU_DMA_MAX_OUT 32768u

/* One DMA_READ / DMA_WRITE message sent and not yet answered. */
struct vfu_dmareq {
	uint64_t gpa;
	uint64_t seq;        /* DMA_READ: the core's fetch tag */
	uint64_t sent_ms;    /* CLOCK_MONOTONIC */
	uint32_t count;
	uint16_t cmd;
	bool done;           /* answered out of order: skipped when it reaches the head */
};

/* ---- DMA logging ---- */

struct vfu_log_range {
	uint64_t iova, last;  /* inclusive */
};

/* ---- the server ---- */

struct vfu_server {
	vdev_device *dev;
	vdev_pci_func *f;
	vdev_virtio *vd;             /* NULL: not a virtio device (holds no iovecs) */
	vdev_ctx *ctx;
	uv_loop_t *loop;
	char *path;
	void (*event)(void *opaque, enum vdev_vfio_user_event ev);
	void *opaque;
	struct vdev__irq_redirect redirect;

	/* listening */
	uv_poll_t *listen_h;
	int listen_fd;

	/* the connection: fd -1 when none */
	uv_poll_t *conn_h;
	int conn_fd;
	uint8_t *rbuf;               /* VFU_MAX_MSG bytes */
	struct vdev__msgsock_rx rx;  /* reads into rbuf */
	uint8_t *wbuf;               /* replies, VFU_MAX_MSG bytes */

	/* negotiated */
	bool versioned;              /* VERSION done */
	uint32_t client_max_fds;
	uint64_t client_max_xfer;

	/* DMA (vfu_dma.c) */
	struct vfu_dma dma[VFU_MAX_DMA];
	unsigned int ndma;
	struct vfu_dma *zombies;     /* unmapped after a timeout, munmapped at disconnect */
	unsigned int nzombies;

	/* DMA_READ / DMA_WRITE requests (vfu_dmaio.c) */
	uint16_t dma_next_id;        /* our own message ids, consecutive */
	bool dma_broken;             /* a request could not be sent: hooks fail, conn goes */
	bool dma_warned_id;          /* a reply with an unknown id was logged */
	bool dma_warned_err;         /* an error reply was logged */
	bool dma_arrived;            /* DMA_READ data arrived: tell the device */
	uint32_t dma_timeout_ms;     /* VDEV_VFIO_USER_DMA_TIMEOUT_MS (tests shorten it) */
	/* unanswered requests in send order: a ring of dma_cap (a power of two) */
	struct vfu_dmareq *dma_q;
	uint32_t dma_cap, dma_head, dma_count;
	uint16_t dma_head_id;        /* the id of dma_q[dma_head] */
	uint32_t dma_out_reads, dma_out_writes;
	uv_timer_t *dma_h;           /* the oldest request's deadline; a deferred drop */
	uint64_t dma_reads, dma_writes;  /* messages sent (statistics, tests) */
	uint64_t dma_read_bytes, dma_write_bytes;

	/* a DMA_UNMAP waiting for requests in flight */
	uv_timer_t *wait_h;
	bool waiting;
	uint16_t wait_id;
	uint32_t wait_flags;         /* the request's header flags */
	uint64_t wait_iova, wait_size;
	uint32_t wait_uflags;        /* DMA_UNMAP flags */
	uint64_t wait_start_ms;
	uint64_t paused_queues;      /* bit per queue we paused (first 64) */

	/* interrupts (vfu_irq.c) */
	int intx_fd;
	bool intx_masked;
	bool intx_level;
	int *msi_fds;                /* [32] */
	unsigned int n_msix;         /* vectors of the MSI-X capability */
	int *msix_fds;               /* [n_msix] */
	uint8_t msi_cap, msix_cap;   /* config offsets, 0: none */
	uint32_t msix_table;         /* the MSI-X capability's Table Offset/BIR dword */
	unsigned int n_msi;
	/* held while DMA_WRITEs are unanswered (vfu_irq.c) */
	bool irq_hold;
	bool held_intx;
	uint32_t held_msi;           /* MSI vectors raised meanwhile */
	uint64_t *held_msix;         /* [n_msix / 64 + 1]: vectors we masked */

	/* migration (vfu_mig.c) */
	enum vfu_mig_state mig_state;
	uint64_t mig_paused;         /* queues paused while stopped */
	uint8_t *mig_buf;
	size_t mig_len, mig_pos, mig_cap;

	/* DMA logging (vfu_dirty.c): on with @nlog ranges (0: everything) */
	bool logging;
	struct vfu_log_range *log_ranges;
	unsigned int nlog;

	/* How replies leave: the socket, or nothing (fuzzing). */
	int (*send)(struct vfu_server *s, const void *buf, size_t len);
	bool freeing;
	int pending_closes;
};

/* vfu_server.c */
void vdev__vfu_log(struct vfu_server *s, enum vdev_log_level level, const char *fmt, ...)
	VDEV_PRINTF(3, 4);
/* Read messages again after a deferred reply; @rc < 0: drop the connection. */
void vdev__vfu_resume(struct vfu_server *s, int rc);

/* A message's whole length from its header (vfio-user counts the header in), or
 * -EBADMSG (logged): the receive buffer's msg_len (msg_sock.h). */
long vdev__vfu_msg_len(void *opaque, const uint8_t *hdr);
/* Drop the connection from the loop soon (a hook found it unusable). */
void vdev__vfu_drop_later(struct vfu_server *s);
/* Drop it now, from the loop (not from inside a device access). */
void vdev__vfu_conn_drop(struct vfu_server *s, const char *why);

/* vfu_proto.c: handle one message; takes every fd (closes what it keeps no use
 * for). @return 0; 1: reply deferred (stop reading); < 0: close the connection. */
int vdev__vfu_handle(struct vfu_server *s, const struct vfu_msg *m, int *fds, unsigned int nfds);
/* Send a reply to request (@id, @cmd): @err 0 with @len payload bytes, or an errno. */
int vdev__vfu_reply(struct vfu_server *s, uint16_t id, uint16_t cmd, uint32_t err,
		    const void *payload, uint32_t len);
/* Connection state back to "nothing negotiated": device reset, memory and fds gone. */
void vdev__vfu_conn_reset(struct vfu_server *s);

/* vfu_json.c: parse the client's VERSION capabilities (@len bytes, NUL
 * included). @return 0 or -EINVAL. */
int vdev__vfu_caps_parse(struct vfu_server *s, const char *json, size_t len);
/* Our capabilities, into @buf. @return the length with the NUL. */
size_t vdev__vfu_caps_emit(char *buf, size_t cap);

/* vfu_dma.c */
int vdev__vfu_dma_map(struct vfu_server *s, const struct vfu_msg *m, int fd);
/* @return 0 (replied), 1 (deferred), < 0 (errno to reply). */
int vdev__vfu_dma_unmap(struct vfu_server *s, const struct vfu_msg *m);
void vdev__vfu_dma_drop(struct vfu_server *s);
/* The unmap wait timer went off or should be checked now. */
void vdev__vfu_dma_wait_check(struct vfu_server *s);
bool vdev__vfu_inflight(struct vfu_server *s);
/* Stop (or let again) the device's queues taking requests; *mask: the ones we paused. */
void vdev__vfu_queues_pause(struct vfu_server *s, uint64_t *mask, bool pause);

/* vfu_dmaio.c */
extern const struct vdev__mem_remote vdev__vfu_remote_tmpl;
/* A reply from the client (to one of our DMA requests, or unknown: dropped).
 * @return 0, or < 0: malformed (logged), close the connection. */
int vdev__vfu_dmaio_reply(struct vfu_server *s, const struct vfu_msg *m, int *fds,
			  unsigned int nfds);
/* The DMA timer went off: drop a connection whose oldest request is too old. */
void vdev__vfu_dmaio_check(struct vfu_server *s);
/* Forget every request (connection gone); log the statistics. */
void vdev__vfu_dmaio_drop(struct vfu_server *s);

/* vfu_irq.c */
/* Hold the device's interrupts from now on, or fire what was held (in order) and stop. */
void vdev__vfu_irq_hold(struct vfu_server *s, bool hold);
/* Forget the interrupts held so far and the vectors we masked (device reset, drop). */
void vdev__vfu_irq_forget(struct vfu_server *s);
void vdev__vfu_irq_init(struct vfu_server *s);
int vdev__vfu_irq_info(struct vfu_server *s, uint32_t index, uint32_t *flags, uint32_t *count);
int vdev__vfu_set_irqs(struct vfu_server *s, const struct vfu_msg *m, int *fds,
		       unsigned int nfds);
void vdev__vfu_irq_drop(struct vfu_server *s);
extern const struct vdev__irq_redirect vdev__vfu_irq_redirect_tmpl;

/* vfu_mig.c */
int vdev__vfu_feature(struct vfu_server *s, const struct vfu_msg *m);
int vdev__vfu_mig_read(struct vfu_server *s, const struct vfu_msg *m);
int vdev__vfu_mig_write(struct vfu_server *s, const struct vfu_msg *m);
void vdev__vfu_mig_drop(struct vfu_server *s);

/* vfu_dirty.c: DEVICE_FEATURE DMA_LOGGING_START/STOP/REPORT (@flags: the request's). */
int vdev__vfu_dirty_feature(struct vfu_server *s, const struct vfu_msg *m, uint32_t flags);
void vdev__vfu_dirty_drop(struct vfu_server *s);

/* For the fuzz harness: a server with no socket and replies dropped,
 * connected (a stand-in fd); after a drop, connect it again. */
int vdev__vfu_fuzz_new(vdev_device *dev, uv_loop_t *loop, struct vfu_server **out);
int vdev__vfu_fuzz_connect(struct vfu_server *s);
/* Fetched data arrived since we last said so: the device retries what
 * waited for it (the socket loop calls it before each command and after
 * each batch of messages). */
void vdev__vfu_remote_ready(struct vfu_server *s);
void vdev__vfu_fuzz_free(struct vfu_server *s);

#endif /* VDEV_VFIO_USER_VFU_INTERNAL_H */
