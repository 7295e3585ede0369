/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/vhost_user.h
 * A vhost-user back end (QEMU docs/interop/vhost-user.rst) for any
 * #vdev_virtio: the device runs in this process, QEMU (the front end)
 * shares guest RAM with it and forwards doorbells and interrupts as
 * eventfds.
 *
 * The server listens on a UNIX socket and serves one connection at a
 * time; when the front end goes away (QEMU quit, or reconnects with its
 * `reconnect=` chardev option) the device is reset, the guest memory
 * unmapped, and the next connection is accepted.
 *
 * The event loop is the caller's libuv loop: the server adds its handles
 * to it (listening socket, the connection, one poll handle per kick
 * eventfd, a timer while a ring drains), so a daemon can put its own
 * handles (block backends, timers, a control socket) on the same loop and
 * everything runs on one thread, the loop's.
 *
 * The device: put it in a #vdev_ctx of its own. The server owns that
 * context's memory map (vdev/mem.h): it adds and removes the front end's
 * regions as SET_MEM_TABLE says; the VMM must not register regions there.
 * The server takes the device over with vdev_virtio_ext_attach()
 * (vdev/virtio.h): a registry device's own PCI/MMIO transport is set
 * aside meanwhile.
 *
 * Protocol coverage: GET/SET_FEATURES (with VHOST_USER_F_PROTOCOL_FEATURES),
 * GET/SET_PROTOCOL_FEATURES (MQ, REPLY_ACK, CONFIG, BACKEND_REQ,
 * RESET_DEVICE, LOG_SHMFD, INFLIGHT_SHMFD, CONFIGURE_MEM_SLOTS),
 * SET_OWNER, RESET_OWNER, RESET_DEVICE, SET_MEM_TABLE (at most 8
 * regions; each fd must cover its region), ADD_MEM_REG / REM_MEM_REG (up
 * to 32 regions, GET_MAX_MEM_SLOTS), SET_VRING_NUM / ADDR / BASE / KICK /
 * CALL / ERR / ENABLE, GET_VRING_BASE, GET_QUEUE_NUM, GET/SET_CONFIG,
 * SET_BACKEND_REQ_FD (configuration-change messages), SET_LOG_BASE with
 * dirty logging (VHOST_F_LOG_ALL), GET/SET_INFLIGHT_FD. SET_LOG_FD is
 * refused (the front end reads the shared log; no "modified" eventfd).
 *
 * Reconnect with INFLIGHT_SHMFD: the front end keeps the inflight memfd
 * the server gave it and hands it back on every connection; each split
 * ring tracks its requests there (vdev_vq_set_inflight(), vdev/virtqueue.h)
 * so that when this process is killed, or the connection drops, the
 * requests taken and not answered are resubmitted first by the next
 * server - nothing answered is lost, nothing answered twice. (QEMU 7.2's
 * vhost-user-scsi front end does not ask for the area; vhost-user-blk
 * and later vhost-user-scsi do.) Without it, requests in flight when the
 * connection drops are aborted by the device reset. A ring looks at its
 * available ring as soon as it starts (requests made available while no
 * back end was there had their kick taken by the front end), and an
 * interrupt raised on a call fd that SET_VRING_CALL then replaces is
 * raised again on the new one: QEMU starts rings with a notifier of its
 * own as the call fd and swaps in the guest's afterwards without looking
 * at the old one, so the completions of those first requests would
 * otherwise never reach the guest.
 * Not yet: packed-ring inflight tracking (a packed ring is not tracked),
 * polling mode (no kick fd), IOTLB, postcopy, in-band notifications.
 * Anything malformed gets an error reply (when the front end asked for
 * one with REPLY_ACK) or closes the connection; the server keeps
 * listening.
 *
 * GET_VRING_BASE: the ring stops taking new requests at once; the reply
 * waits until every request already taken has completed into the used
 * ring (the memory is still mapped), so the base returned never counts a
 * request that was not answered. A request still running after
 * VDEV_VHOST_USER_DRAIN_MS is abandoned (logged).
 *
 * Threading: everything runs on the loop's thread.
 */
#ifndef VDEV_VHOST_USER_H
#define VDEV_VHOST_USER_H

#include <vdev/common.h>
#include <vdev/virtio.h>

VDEV_BEGIN_DECLS

/* libuv's loop (uv_loop_t), declared here so this header does not need uv.h. */
struct uv_loop_s;

/** A vhost-user server. */
typedef struct vdev_vhost_user vdev_vhost_user;

/** How long GET_VRING_BASE waits for requests in flight. */
#define VDEV_VHOST_USER_DRAIN_MS 10000

/** What the server reports to the caller's event hook. */
enum vdev_vhost_user_event {
	VDEV_VHOST_USER_CONNECTED = 1,    /**< a front end connected */
	VDEV_VHOST_USER_DISCONNECTED = 2, /**< it went away (or was dropped) */
	VDEV_VHOST_USER_STARTED = 3,      /**< a ring started running */
	VDEV_VHOST_USER_STOPPED = 4,      /**< a ring stopped (GET_VRING_BASE) */
};

/** Options of vdev_vhost_user_new(). Begins with struct_size. */
struct vdev_vhost_user_opts {
	size_t struct_size;
	/** UNIX socket path to listen on. An existing socket file there is replaced. */
	const char *socket_path;
	/** Connection events. Optional. Runs on the loop thread. */
	void (*event)(void *opaque, enum vdev_vhost_user_event ev, unsigned int queue);
	void *opaque;
	/** Device features never to offer (1ull << bit), on top of the server's own mask. */
	uint64_t features_mask;
};

/**
 * Create a server for @p vd on @p loop and start listening.
 * @return 0 with *out set; -EINVAL; -EBUSY (the device is already on an
 *         external transport); -ENAMETOOLONG; -ENOMEM; a socket errno
 *         (bind/listen). Thread: the loop's.
 */
VDEV_API int vdev_vhost_user_new(vdev_virtio *vd, struct uv_loop_s *loop,
				 const struct vdev_vhost_user_opts *opts, vdev_vhost_user **out);

/**
 * Stop: close the connection (the device is reset) and the listening
 * socket (its file is unlinked), give the device its old transport back
 * (vdev_virtio_ext_detach()), and free the server. libuv closes handles
 * asynchronously: the memory is released once the loop runs again
 * (uv_run() returns when nothing else is left). NULL is a no-op.
 * Thread: the loop's.
 */
VDEV_API void vdev_vhost_user_free(vdev_vhost_user *vu);

/** @return 1 while a front end is connected, 0 otherwise. */
VDEV_API int vdev_vhost_user_connected(const vdev_vhost_user *vu);

/**
 * Drop the current connection, if any, as if the front end had gone
 * away (the next one is accepted). For tests and for a daemon that wants
 * to shed a misbehaving front end. Thread: the loop's.
 */
VDEV_API void vdev_vhost_user_disconnect(vdev_vhost_user *vu);

VDEV_END_DECLS

#endif /* VDEV_VHOST_USER_H */
