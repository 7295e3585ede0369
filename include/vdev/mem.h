/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/mem.h
 * The guest-memory map and the checked DMA accessors.
 *
 * The VMM registers each guest RAM region (guest-physical address, size,
 * host pointer, flags). Every device access to guest memory goes through
 * the accessors below, which refuse any byte that is not in registered
 * RAM: a DMA address that points at MMIO is an error, never a bounce into
 * a device model (that is how DMA re-entrancy bugs happen).
 *
 * Dirty logging: while enabled, every write the library makes (and every
 * range translated for writing) marks the pages it touched in a bitmap
 * per region, one bit per VDEV_PAGE_SIZE page, for live migration.
 *
 * Threading: the map belongs to the device thread. The VMM must not add or
 * remove regions while another thread accesses guest memory through this
 * context. Memory a vfio-user client shares without an fd is reached
 * through the server's socket (vdev/vfio_user.h): only from the thread of
 * that server's loop.
 */
#ifndef VDEV_MEM_H
#define VDEV_MEM_H

#include <sys/uio.h>
#include <vdev/common.h>

VDEV_BEGIN_DECLS

/** Granularity of dirty logging. */
#define VDEV_PAGE_SIZE 4096u

/** Region flag: guests may read but the library never writes it (ROM). */
#define VDEV_MEM_READONLY (1u << 0)

/** Access kinds for vdev_mem_translate(). */
enum vdev_mem_access {
	VDEV_MEM_READ = 1,  /**< the device will read guest memory */
	VDEV_MEM_WRITE = 2, /**< the device will write guest memory */
};

/** Most regions one context holds. */
#define VDEV_MEM_MAX_REGIONS 512

/**
 * Register guest RAM [gpa, gpa + size) backed by host memory at @p hva.
 * @p hva must stay valid until the region is removed. Regions may not
 * overlap. @p flags is 0 or VDEV_MEM_READONLY.
 * @return 0; -EINVAL (size 0, gpa + size overflows, hva NULL, unknown
 *         flags); -EEXIST (overlaps a region); -ENOSPC (too many regions);
 *         -ENOMEM.
 * If dirty logging is on, the new region starts logging with all pages
 * clean. Thread: the device thread.
 */
VDEV_API int vdev_mem_region_add(vdev_ctx *ctx, uint64_t gpa, uint64_t size, void *hva,
				 uint32_t flags);

/**
 * Remove the region that starts at @p gpa. On return the library holds no
 * pointer into it. @return 0 or -ENOENT. Thread: the device thread.
 */
VDEV_API int vdev_mem_region_remove(vdev_ctx *ctx, uint64_t gpa);

/** @return the number of registered regions. */
VDEV_API unsigned int vdev_mem_region_count(vdev_ctx *ctx);

/**
 * Translate guest range [gpa, gpa + len) into host iovecs, one per region
 * it crosses (adjacent regions are separate iovecs).
 *
 * @param access  VDEV_MEM_READ or VDEV_MEM_WRITE. A write range marks its
 *                pages dirty now; a device that writes through the iovecs
 *                later should call vdev_mem_mark_dirty() again when done
 *                (must, for memory a vfio-user client shares without an
 *                fd: that call is what copies the bytes to the guest).
 * @param iov     array of @p iovcnt entries to fill.
 * @return the number of iovecs used (0 when len is 0); -EINVAL for an
 *         unknown @p access; -EFAULT if any byte is outside RAM; -EOVERFLOW if gpa + len wraps; -EACCES for a
 *         write to a read-only region; -ENOBUFS if @p iovcnt is too small;
 *         for memory a vfio-user client shares without an fd (it is
 *         fetched with messages): -EAGAIN until the bytes arrived (call
 *         again later; the first call asked for them), -EIO if they cannot.
 *         On error nothing is marked dirty.
 * Thread: the device thread (or any thread, if the VMM keeps the map still).
 */
VDEV_API int vdev_mem_translate(vdev_ctx *ctx, uint64_t gpa, uint64_t len,
				enum vdev_mem_access access, struct iovec *iov, int iovcnt);

/**
 * Copy @p len bytes of guest memory at @p gpa into @p buf. All or nothing:
 * the range is checked before any byte is copied.
 * @return 0, -EFAULT, -EOVERFLOW, -EAGAIN, -EIO (as vdev_mem_translate()).
 * Thread: as vdev_mem_translate().
 */
VDEV_API int vdev_mem_read(vdev_ctx *ctx, uint64_t gpa, void *buf, size_t len);

/**
 * Copy @p len bytes from @p buf into guest memory at @p gpa, marking the
 * pages dirty. All or nothing.
 * @return 0, -EFAULT, -EOVERFLOW, -EACCES. Thread: as vdev_mem_translate().
 */
VDEV_API int vdev_mem_write(vdev_ctx *ctx, uint64_t gpa, const void *buf, size_t len);

/**
 * Mark [gpa, gpa + len) dirty (if logging is on). Bytes outside RAM are
 * ignored. Thread: as vdev_mem_translate().
 */
VDEV_API void vdev_mem_mark_dirty(vdev_ctx *ctx, uint64_t gpa, uint64_t len);

/**
 * Turn dirty logging on (@p enable = 1) or off (0). Turning it on clears
 * every bitmap. @return 0 or -ENOMEM. Thread: the device thread, with no
 * other thread accessing guest memory through this context meanwhile
 * (the same rule as adding or removing regions).
 */
VDEV_API int vdev_mem_dirty_log_enable(vdev_ctx *ctx, int enable);

/**
 * Copy the dirty bitmap of the region starting at @p region_gpa into
 * @p bitmap (bit i of word i / 64 = page i of the region), then clear the
 * region's bitmap if @p clear is non-zero.
 * @param nwords  words available in @p bitmap; must be at least
 *                ceil(pages / 64).
 * @return the number of dirty pages reported; -ENOENT (no such region);
 *         -ENODATA (logging off); -ENOBUFS (bitmap too small).
 * Thread: the device thread.
 */
VDEV_API int64_t vdev_mem_dirty_bitmap(vdev_ctx *ctx, uint64_t region_gpa, uint64_t *bitmap,
				       size_t nwords, int clear);

VDEV_END_DECLS

#endif /* VDEV_MEM_H */
