/* SPDX-License-Identifier: MIT */
/*
 * lib/vhost-user private: the wire format (QEMU docs/interop/vhost-user.rst,
 * "Message specification"), the server and connection state, and the
 * split between files:
 *  - vu_server.c: the public API, sockets, libuv handles, message framing;
 *  - vu_proto.c: validation and dispatch of one message (what the fuzz
 *    harness drives, with no socket);
 *  - vu_mem.c: the memory table (mmap, the device context's map, address
 *    translation);
 *  - vu_vring.c: rings (kick/call fds, start, stop with drain);
 *  - vu_log.c: dirty logging into the front end's shared log;
 *  - vu_inflight.c: the inflight shared memory (reconnect).
 */
#ifndef VDEV_VHOST_USER_VU_INTERNAL_H
#define VDEV_VHOST_USER_VU_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>
#include <vdev/vhost_user.h>
#include <vdev/virtio.h>

#include "core/core.h"
#include "core/msg_sock.h"

/* ---- wire format ---- */

#define VU_HDR_SIZE 12u
#define VU_VERSION 0x1u
#define VU_FLAG_VERSION_MASK 0x3u
#define VU_FLAG_REPLY (1u << 2)
#define VU_FLAG_NEED_REPLY (1u << 3)
/* Most payload we accept: the largest message we know is a memory table (8 + 8 * 32). */
#define VU_MAX_PAYLOAD 4096u
/* Most fds one message carries (VHOST_MEMORY_BASELINE_NREGIONS). */
#define VU_MAX_FDS 8u
#define VU_MAX_REGIONS 8u
/* Regions in all with CONFIGURE_MEM_SLOTS (ADD_MEM_REG one at a time): GET_MAX_MEM_SLOTS. */
#define VU_MAX_SLOTS 32u
#define VU_MAX_CONFIG 256u
/* SET_VRING_KICK/CALL/ERR payload: index in bits 0-7, "no fd" in bit 8. */
#define VU_VRING_IDX_MASK 0xffu
#define VU_VRING_NOFD (1ull << 8)
#define VU_VRING_F_LOG 1u

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SEND_RARP = 19,
	VU_NET_SET_MTU = 20,
	VU_SET_BACKEND_REQ_FD = 21,
	VU_IOTLB_MSG = 22,
	VU_SET_VRING_ENDIAN = 23,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_GET_INFLIGHT_FD = 31,
	VU_SET_INFLIGHT_FD = 32,
	VU_RESET_DEVICE = 34,
	VU_GET_MAX_MEM_SLOTS = 36,
	VU_ADD_MEM_REG = 37,
	VU_REM_MEM_REG = 38,
};

/* Back-end -> front-end requests (on the BACKEND_REQ channel). */
#define VU_BACKEND_CONFIG_CHANGE_MSG 2u

/* Feature bits of GET/SET_FEATURES that belong to vhost, not virtio. */
#define VU_F_LOG_ALL 26
#define VU_F_PROTOCOL_FEATURES 30

enum vu_protocol_feature {
	VU_PF_MQ = 0,
	VU_PF_LOG_SHMFD = 1,
	VU_PF_REPLY_ACK = 3,
	VU_PF_BACKEND_REQ = 5,
	VU_PF_CONFIG = 9,
	VU_PF_INFLIGHT_SHMFD = 12,
	VU_PF_RESET_DEVICE = 13,
	VU_PF_CONFIGURE_MEM_SLOTS = 15,
};

#define VU_BIT(b) (1ull << (b))

/* One message as received: header fields and the payload. */
struct vu_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	uint8_t payload[VU_MAX_PAYLOAD];
};

/* ---- memory ---- */

struct vu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uva;       /* the front end's virtual address of gpa */
	uint8_t *hva;       /* our mapping of gpa */
	void *map;          /* what mmap returned */
	size_t map_len;
};

/* A replaced table, kept mapped until no request can point into it. */
struct vu_old_table {
	struct vu_old_table *next;
	struct vu_region r[VU_MAX_SLOTS];
	unsigned int n;
};

/* ---- rings ---- */

struct vu_server;

struct vu_kick {
	uv_poll_t h;
	struct vu_server *s;
	unsigned int index;
	int fd;
};

struct vu_vring {
	uint32_t num;
	uint32_t base;
	uint64_t desc, avail, used; /* guest-physical */
	uint64_t log_gpa;           /* used ring, for logging (VU_VRING_F_LOG) */
	bool addr_set;
	bool enabled;               /* SET_VRING_ENABLE (or no protocol features) */
	bool started;               /* got a kick fd, not stopped since */
	bool running;               /* the device queue runs */
	struct vu_kick *kick;       /* NULL: none, or polling mode */
	int call_fd;                /* -1: none */
	int err_fd;
	/*
	 * An interrupt was raised since call_fd was set: a new call fd gets
	 * it again (see set_vring_fd() in vu_proto.c).
	 */
	bool irq_due;
};

/* ---- the server ---- */

struct vu_server {
	vdev_virtio *vd;
	vdev_ctx *ctx;
	uv_loop_t *loop;
	char *path;
	void (*event)(void *opaque, enum vdev_vhost_user_event ev, unsigned int queue);
	void *opaque;
	uint64_t features_mask;
	unsigned int nq;

	/* listening */
	uv_poll_t *listen_h;
	int listen_fd;

	/* the connection: fd -1 when none */
	uv_poll_t *conn_h;
	int conn_fd;
	bool conn_paused;            /* reading stopped while GET_VRING_BASE drains */
	uint8_t rbuf[VU_HDR_SIZE + VU_MAX_PAYLOAD];
	struct vdev__msgsock_rx rx;  /* reads into rbuf */
	struct vu_msg msg;

	/* negotiated */
	uint64_t features;           /* as SET_FEATURES had them */
	uint64_t protocol_features;
	bool features_set;
	int backend_fd;              /* BACKEND_REQ channel, -1 if none */

	struct vu_region regions[VU_MAX_SLOTS];
	unsigned int nregions;
	struct vu_old_table *old_tables;

	struct vu_vring *vr;         /* [nq] */

	/* GET_VRING_BASE waiting for a ring to drain */
	uv_timer_t *maint;
	bool draining;
	unsigned int drain_index;
	uint32_t drain_flags;
	uint64_t drain_start_ms;

	/* dirty log (vu_log.c) */
	void *log_map;
	size_t log_len;
	uint8_t *log;
	uint64_t log_size;
	bool log_on;

	/* inflight (vu_inflight.c) */
	void *inflight_map;
	size_t inflight_len;
	uint8_t *inflight_base;      /* queue 0's region */
	uint16_t inflight_queue_size;
	uint16_t inflight_nq;

	/* How replies leave: the socket, or nothing (fuzzing). */
	int (*send)(struct vu_server *s, const void *buf, size_t len, const int *fds,
		    unsigned int nfds);
	bool closing;
	bool freeing;
	int pending_closes;
};

/* vu_proto.c: handle one message. Takes every fd (closes the ones it keeps no
 * use for). @return 0; < 0: close the connection. */
int vdev__vu_handle(struct vu_server *s, struct vu_msg *m, int *fds, unsigned int nfds);
/* Send reply @payload of @len bytes to request @req. @return 0 or < 0. */
int vdev__vu_reply(struct vu_server *s, uint32_t req, const void *payload, uint32_t len,
		   const int *fds, unsigned int nfds);
/* Read messages again after a deferred reply; @rc: the reply's send result. */
void vdev__vu_conn_resume(struct vu_server *s, int rc);
/* Connection state back to "nothing negotiated" (reset the device first). */
void vdev__vu_conn_reset(struct vu_server *s);
/* The GET_VRING_BASE reply, once the ring drained (or timed out). */
void vdev__vu_drain_done(struct vu_server *s, bool timed_out);
/* The ext transport hooks. */
extern const struct vdev_virtio_ext_ops vdev__vu_ext_ops;

/* vu_mem.c */
int vdev__vu_mem_set_table(struct vu_server *s, const struct vu_region *nr, unsigned int n,
			   const int *fds);
void vdev__vu_mem_drop(struct vu_server *s);
/* ADD_MEM_REG / REM_MEM_REG (CONFIGURE_MEM_SLOTS): one region (map_len holds the offset). */
int vdev__vu_mem_add(struct vu_server *s, const struct vu_region *r, int fd);
int vdev__vu_mem_rem(struct vu_server *s, const struct vu_region *r);
/* Release replaced tables once nothing can point into them. */
void vdev__vu_mem_gc(struct vu_server *s, bool force);
/* Front-end virtual address -> guest physical, for @len bytes. @return 0 or -EFAULT. */
int vdev__vu_uva_to_gpa(const struct vu_server *s, uint64_t uva, uint64_t len, uint64_t *gpa);

/* vu_vring.c */
void vdev__vu_vring_init(struct vu_vring *v);
void vdev__vu_vring_close(struct vu_server *s, unsigned int index);
int vdev__vu_vring_set_kick(struct vu_server *s, unsigned int index, int fd);
/* Start or stop the device queue as the ring's state says. */
int vdev__vu_vring_update(struct vu_server *s, unsigned int index);
/* GET_VRING_BASE: pause the ring and arrange the reply. */
int vdev__vu_vring_get_base(struct vu_server *s, unsigned int index);
void vdev__vu_maint_arm(struct vu_server *s);
void vdev__vu_event(struct vu_server *s, enum vdev_vhost_user_event ev, unsigned int q);

/* vu_log.c */
int vdev__vu_log_set_base(struct vu_server *s, uint64_t size, uint64_t offset, int fd);
int vdev__vu_log_enable(struct vu_server *s, bool on);
void vdev__vu_log_drop(struct vu_server *s);

/* vu_inflight.c */
int vdev__vu_inflight_get(struct vu_server *s, uint16_t nq, uint16_t qsize, uint64_t *size,
			  int *fd);
int vdev__vu_inflight_set(struct vu_server *s, uint64_t size, uint64_t offset, uint16_t nq,
			  uint16_t qsize, int fd);
void vdev__vu_inflight_drop(struct vu_server *s);
/* Before ring @index starts: give its virtqueue its region (or none). */
void vdev__vu_inflight_attach(struct vu_server *s, unsigned int index);
/* Ring @index stopped in order (GET_VRING_BASE answered): nothing to resubmit. */
void vdev__vu_inflight_retire(struct vu_server *s, unsigned int index);

/* Log through the device's context with a "vhost-user: " prefix. */
void vdev__vu_log(struct vu_server *s, enum vdev_log_level level, const char *fmt, ...)
	VDEV_PRINTF(3, 4);

/* For the fuzz harness: a server with no socket and replies dropped. */
int vdev__vu_fuzz_new(vdev_virtio *vd, uv_loop_t *loop, struct vu_server **out);
void vdev__vu_fuzz_free(struct vu_server *s);

#endif /* VDEV_VHOST_USER_VU_INTERNAL_H */
