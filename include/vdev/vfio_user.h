/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/vfio_user.h
 * A vfio-user server (QEMU docs/devel/vfio-user.rst, protocol 0.0) for
 * any libvdev PCI device: the client (QEMU's `vfio-user-pci`, Cloud
 * Hypervisor, SPDK's initiator ...) gets the whole PCI function - config
 * space, BARs, MSI/MSI-X/INTx - and forwards the guest's accesses as
 * messages; guest RAM is shared as file descriptors (or, without them,
 * reached with DMA_READ / DMA_WRITE messages: see below).
 *
 * The server listens on a UNIX socket and serves one client at a time;
 * when the client goes away the device is reset, guest memory unmapped
 * and interrupt eventfds closed, and the next client is accepted.
 *
 * The event loop is the caller's libuv loop (the listening socket, the
 * connection and two timers are its handles); a daemon polls its block
 * backends and the context's timers on the same loop, so everything runs
 * on the loop's thread.
 *
 * The device: create it in a #vdev_ctx of its own. The server owns that
 * context's memory map (vdev/mem.h: DMA_MAP/DMA_UNMAP add and remove
 * regions; the VMM must not register regions there) and its interrupt
 * delivery (the context's intx_set/msi_send host hooks are not called
 * while the server exists: interrupts go to the client's eventfds).
 *
 * Protocol coverage: VERSION (JSON capabilities: max_msg_fds,
 * max_data_xfer_size, pgsizes, max_dma_maps, migration; unknown keys are
 * ignored), DMA_MAP / DMA_UNMAP (incl. UNMAP_ALL), DEVICE_GET_INFO,
 * DEVICE_GET_REGION_INFO (BAR0-5, ROM and VGA of size 0, config space; no
 * mmappable areas: every access is a message), DEVICE_GET_REGION_IO_FDS
 * (none), DEVICE_GET_IRQ_INFO, DEVICE_SET_IRQS (INTx, MSI, MSI-X; trigger
 * with eventfds, bool or none; INTx mask/unmask), REGION_READ /
 * REGION_WRITE (posted writes honoured), DEVICE_RESET, DEVICE_FEATURE
 * (migration v2: MIGRATION, MIG_DEVICE_STATE) with MIG_DATA_READ /
 * MIG_DATA_WRITE carrying the device's state (vdev_device_save() format),
 * and dirty-page tracking as the spec now defines it: DEVICE_FEATURE
 * DMA_LOGGING_START / STOP / REPORT (features 6-8, found by PROBE; no
 * VERSION capability), on the memory map's dirty log (vdev/mem.h): 4 KiB
 * tracking, reports at any power-of-two page size >= 4 KiB, ranges
 * 4 KiB aligned and inside the DMA map, one report's bitmap at most
 * ~1 MiB (32 GiB of 4 KiB pages; a client splits larger ranges), a report
 * clears what it returns. While the server logs, the memory map's dirty
 * log is the server's (DMA_LOGGING_STOP or the end of the connection
 * turns it off).
 * REGION_WRITE_MULTI is offered ("write_multiple"): QEMU coalesces posted
 * writes of up to 8 bytes into it when its queue to us backs up; every
 * entry is checked before any is applied.
 * Not offered: the old DIRTY_PAGES command (14, gone from the spec) and
 * DMA_UNMAP's GET_DIRTY_BITMAP flag; ioeventfds (DEVICE_GET_REGION_IO_FDS
 * reports none: every doorbell is a message) and mmap-able BAR areas
 * (a virtio-pci BAR is all registers the device must see).
 *
 * Guest memory without a file descriptor (QEMU sends a DMA_MAP without
 * one when guest RAM is not fd-backed, e.g. no memory-backend-memfd with
 * share=on) is reached with DMA_READ / DMA_WRITE, server -> client, on the
 * same socket: the device works on a local copy, fetched before it reads
 * and written back after it writes. Nothing waits for the client: the
 * server sends its requests (one message per max_data_xfer_size of the
 * client's) and goes on serving the client's messages in order; a device
 * access that needs data not fetched yet gives up and is retried when the
 * reply arrives, and interrupts the device raises while DMA_WRITEs are
 * unanswered are held until the client answered them (so the guest never
 * sees an interrupt before the data it announces). This is much slower
 * than shared memory, but it cannot deadlock with a client that answers
 * our requests only between its own (QEMU answers from its main loop).
 * A request left unanswered for VDEV_VFIO_USER_DMA_TIMEOUT_MS, a
 * malformed reply or a closed socket drops the connection; an error
 * reply fails the device's access (a virtqueue reports its guest memory
 * unreachable) and keeps the connection. With guest RAM partly shared, a
 * used ring in shared memory is visible at once and buffers behind
 * messages only once the client applied them: a driver that polls
 * instead of taking the interrupt may look too early. At the end of a
 * connection that used them the server logs "DMA through messages:
 * R reads (B bytes), W writes (B bytes)".
 *
 * DMA_UNMAP waits, for a virtio device, until no request is in flight
 * (its queues stop taking new ones meanwhile, and no further message is
 * read), so the device never holds an iovec into unmapped memory; after
 * VDEV_VFIO_USER_UNMAP_WAIT_MS the region leaves the memory map anyway,
 * its mapping kept until the connection ends, and the reply goes out.
 *
 * Anything malformed gets an error reply (errno in the header) or, for
 * framing violations, closes the connection; the server keeps listening.
 *
 * Threading: everything runs on the loop's thread.
 */
#ifndef VDEV_VFIO_USER_H
#define VDEV_VFIO_USER_H

#include <vdev/common.h>
#include <vdev/device.h>

VDEV_BEGIN_DECLS

/* libuv's loop (uv_loop_t), declared here so this header does not need uv.h. */
struct uv_loop_s;

/** A vfio-user server. */
typedef struct vdev_vfio_user vdev_vfio_user;

/** How long a DMA_UNMAP waits for the device's requests in flight. */
#define VDEV_VFIO_USER_UNMAP_WAIT_MS 4000

/**
 * The longest a DMA_READ / DMA_WRITE request may stay unanswered before
 * the connection is dropped (nothing waits for it meanwhile). Well above
 * QEMU's own reply timeout (5 s): QEMU answers from its main loop, which a
 * vCPU waiting for one of our replies can hold that long.
 */
#define VDEV_VFIO_USER_DMA_TIMEOUT_MS 10000

/** What the server reports to the caller's event hook. */
enum vdev_vfio_user_event {
	VDEV_VFIO_USER_CONNECTED = 1,    /**< a client connected */
	VDEV_VFIO_USER_DISCONNECTED = 2, /**< it went away (or was dropped) */
	VDEV_VFIO_USER_RESET = 3,        /**< the client reset the device */
};

/** Options of vdev_vfio_user_new(). Begins with struct_size. */
struct vdev_vfio_user_opts {
	size_t struct_size;
	/** UNIX socket path to listen on. An existing socket file there is replaced. */
	const char *socket_path;
	/** Connection events. Optional. Runs on the loop thread. */
	void (*event)(void *opaque, enum vdev_vfio_user_event ev);
	void *opaque;
};

/**
 * Create a server for the PCI device @p dev (vdev_device_pci() must not
 * be NULL) on @p loop and start listening. The server takes over the
 * device context's memory map and interrupt delivery (see above).
 * @return 0 with *out set; -EINVAL (NULL arguments, no PCI function, bad
 *         struct_size, empty path); -EBUSY (the context already has a
 *         server); -ENAMETOOLONG; -ENOMEM; a socket errno (bind/listen).
 * Thread: the loop's.
 */
VDEV_API int vdev_vfio_user_new(vdev_device *dev, struct uv_loop_s *loop,
				const struct vdev_vfio_user_opts *opts, vdev_vfio_user **out);

/**
 * Stop: drop the connection (the device is reset, guest memory unmapped),
 * close the listening socket (its file is unlinked), give the context its
 * host interrupt hooks back and free the server. libuv closes handles
 * asynchronously: the memory is released once the loop runs again.
 * NULL is a no-op. Thread: the loop's.
 */
VDEV_API void vdev_vfio_user_free(vdev_vfio_user *s);

/** @return 1 while a client is connected, 0 otherwise. */
VDEV_API int vdev_vfio_user_connected(const vdev_vfio_user *s);

/**
 * Drop the current connection, if any, as if the client had gone away
 * (the next one is accepted). Thread: the loop's.
 */
VDEV_API void vdev_vfio_user_disconnect(vdev_vfio_user *s);

VDEV_END_DECLS

#endif /* VDEV_VFIO_USER_H */
