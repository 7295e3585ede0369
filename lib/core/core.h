/* SPDX-License-Identifier: MIT */
/*
 * libvdev core internals: the context layout and the services lib/core
 * offers the device areas (lib/pci, lib/virtio, ...). Not installed.
 * Areas include this and their own headers only.
 */
#ifndef VDEV_CORE_CORE_H
#define VDEV_CORE_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <vdev/vdev.h>

#define VDEV__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define VDEV__MIN(a, b) ((a) < (b) ? (a) : (b))
#define VDEV__MAX(a, b) ((a) > (b) ? (a) : (b))

struct vdev__mem_map;
struct vdev__timer_heap;
struct vdev__registry;

/* "Warn once" bits kept per context (no globals). */
enum vdev__once {
	VDEV__ONCE_NO_INTX_HOOK = 1u << 0,
	VDEV__ONCE_NO_MSI_HOOK = 1u << 1,
};

/*
 * Interrupt delivery taken over by an in-library transport that carries a
 * whole PCI function to a remote VMM (lib/vfio-user): while a context's
 * irq_redirect is set, vdev_irq_intx_set() and vdev_irq_msi_send() call
 * these instead of the VMM's host hooks (the INTx change filter still
 * applies). NULL hooks drop the interrupt. Set and cleared on the device
 * thread by whoever owns the transport; the struct must outlive its use.
 */
struct vdev__irq_redirect {
	void *opaque;
	void (*intx_set)(void *opaque, uint32_t source_id, unsigned int pin, int level);
	int (*msi_send)(void *opaque, uint32_t source_id, uint64_t addr, uint32_t data);
};

struct vdev_ctx {
	struct vdev_host_ops ops;  /* caller's ops, zero-extended to our size */
	const struct vdev__irq_redirect *irq_redirect; /* NULL: the host hooks */
	enum vdev_log_level log_level;
	unsigned int once;         /* enum vdev__once bits already logged */
	struct vdev__mem_map *mem;
	struct vdev__timer_heap *timers;
	struct vdev__registry *registry;
	/* Per-(source, pin) INTx levels, so the host hook sees changes only. */
	struct vdev__intx_level *intx;
	size_t n_intx, cap_intx;
};

/* Each core module sets itself up on context creation, in this order. */
int vdev__mem_init(vdev_ctx *ctx);
void vdev__mem_fini(vdev_ctx *ctx);
int vdev__timers_init(vdev_ctx *ctx);
void vdev__timers_fini(vdev_ctx *ctx);
int vdev__registry_init(vdev_ctx *ctx);
void vdev__registry_fini(vdev_ctx *ctx); /* destroys remaining devices */

/* Registers every built-in device type (lib/core/builtin.c). */
int vdev__register_builtin_types(vdev_ctx *ctx);

void vdev__logv(vdev_ctx *ctx, enum vdev_log_level level, const char *fmt, va_list ap)
	VDEV_PRINTF(3, 0);
/* Log once per context for the given enum vdev__once bit. */
void vdev__log_once(vdev_ctx *ctx, unsigned int once_bit, enum vdev_log_level level,
		    const char *fmt, ...) VDEV_PRINTF(4, 5);

/* Little-endian helpers for register files and wire formats. */
static inline uint16_t vdev__le16(const void *p)
{
	const uint8_t *b = (const uint8_t *)p;
	return (uint16_t)(b[0] | (b[1] << 8));
}
static inline uint32_t vdev__le32(const void *p)
{
	const uint8_t *b = (const uint8_t *)p;
	return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
	       ((uint32_t)b[3] << 24);
}
static inline uint64_t vdev__le64(const void *p)
{
	const uint8_t *b = (const uint8_t *)p;
	return (uint64_t)vdev__le32(b) | ((uint64_t)vdev__le32(b + 4) << 32);
}
static inline void vdev__put_le16(void *p, uint16_t v)
{
	uint8_t *b = (uint8_t *)p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}
static inline void vdev__put_le32(void *p, uint32_t v)
{
	uint8_t *b = (uint8_t *)p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}
static inline void vdev__put_le64(void *p, uint64_t v)
{
	vdev__put_le32(p, (uint32_t)v);
	vdev__put_le32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

/*
 * Fast paths into the guest-memory map (lib/virtio's rings).
 *
 * struct vdev__mem_hot is the first member of the (otherwise private)
 * struct vdev__mem_map, so hot paths can read it inline: @gen changes
 * whenever a region is added or removed (anything caching host pointers
 * or region bounds re-validates when it moves), @logging is the dirty
 * logging state, and @key is (gen << 1) | logging, so one compare against
 * a cached (gen << 1) says "nothing moved and logging is off". All change
 * only on the device thread, under the same rule as region add/remove
 * (vdev/mem.h), so plain reads are enough.
 */
struct vdev__mem_hot {
	uint32_t gen;
	uint32_t key;
	bool logging;
	bool remote;     /* some region is remote (below): implies logging */
};

static inline const struct vdev__mem_hot *vdev__mem_hot(const vdev_ctx *ctx)
{
	return (const struct vdev__mem_hot *)(const void *)ctx->mem;
}

/* One RAM region, as vdev__mem_region_find() reports it. */
struct vdev__mem_region_info {
	uint64_t gpa;    /* first byte */
	uint64_t size;   /* bytes, >= 1 (a region never reaches 2^64 bytes) */
	uint8_t *hva;    /* host address of gpa */
	uint32_t flags;  /* VDEV_MEM_* */
};

/* The region holding @gpa: 0 with *out filled, or -EFAULT. */
int vdev__mem_region_find(vdev_ctx *ctx, uint64_t gpa, struct vdev__mem_region_info *out);

/*
 * Reverse lookup: the guest address of host range [hva, hva + len) if it
 * lies wholly inside one region (the first such region if the VMM maps
 * the same host memory twice). @return 0 or -EFAULT. Thread: as
 * vdev_mem_translate().
 */
int vdev__mem_hva_to_gpa(vdev_ctx *ctx, const void *hva, size_t len, uint64_t *gpa);

/*
 * Mark host range [hva, hva + len) dirty in every region that maps it
 * (when logging is on; bytes in no region are ignored). For buffers a
 * device wrote through iovecs it got from a translation.
 * Thread: as vdev_mem_translate().
 */
void vdev__mem_mark_dirty_hva(vdev_ctx *ctx, const void *hva, size_t len);

/*
 * Mirror every dirty mark into an external bitmap as well (vhost-user's
 * shared dirty log, lib/vhost-user): bit (gpa / 4096) % 8 of byte
 * gpa / 32768 of @log, set with an atomic OR (the front end reads and
 * clears it concurrently). Pages past @bytes * 8 are not logged. While
 * set, dirty logging counts as on for every write path, independently of
 * vdev_mem_dirty_log_enable() (whose per-region bitmaps keep working).
 * @log NULL (or @bytes 0) stops it; the caller keeps @log valid until
 * then. Thread: as vdev_mem_dirty_log_enable().
 */
void vdev__mem_dirty_log_external(vdev_ctx *ctx, void *log, uint64_t bytes);

/*
 * Fetch-and-clear the dirty pages of guest range [gpa, last] (own log,
 * vdev_mem_dirty_log_enable()): for each region page overlapping the
 * range whose bit is set, @fn gets the dirty bytes' part of the range,
 * [lo, hi] inclusive. A page wholly inside the range is cleared; one
 * that sticks out of it stays dirty (reported again with its other
 * part: twice is harmless for migration, never is not). For vfio-user's
 * DMA_LOGGING_REPORT, which reports sub-ranges of regions.
 * @return the number of pages reported, -ENODATA (logging off) or
 * -EINVAL (@last < @gpa). Thread: the device thread.
 */
int64_t vdev__mem_dirty_take(vdev_ctx *ctx, uint64_t gpa, uint64_t last,
			     void (*fn)(void *opaque, uint64_t lo, uint64_t hi), void *opaque);

/*
 * Remote regions: guest memory the library cannot address directly
 * (vfio-user regions mapped without an fd, reached only through
 * DMA_READ / DMA_WRITE messages). The owner gives a local "shadow" buffer
 * of the region's size, registered as the region's host memory so every
 * pointer-based path (iovecs, rings) keeps working, and two hooks that
 * never block (a client may answer only once we answered it: waiting for
 * it inside a device access can deadlock). Coherence is explicit and
 * byte-exact:
 *  - pull (asynchronous): before the library reads guest memory it asks
 *    for the range with vdev__mem_pull(ctx, gpa, len, since). The range is
 *    fresh if a fetch of it (or of a range holding it) that was *sent* at
 *    or after sequence point @since has arrived: the client handles our
 *    messages in order, so such a fetch saw every guest write made before
 *    the client saw whatever we sent before @since. Otherwise the core
 *    starts a fetch (the fetch hook sends it; the owner hands the data to
 *    vdev__mem_remote_arrived()) and says -EAGAIN: the caller gives up for
 *    now, leaving no trace, and tries again when data arrives.
 *  - push: every write path already marks what it wrote dirty (for
 *    migration); while a remote region exists that marking is always on
 *    (hot.logging), and marking a range of a remote region hands those
 *    shadow bytes to the write hook at once (which queues them; the owner
 *    keeps the device's interrupts back until the client took them).
 *    vdev_mem_translate(WRITE) does not push (the device has written
 *    nothing yet): the device pushes with vdev_mem_mark_dirty() when done.
 *  - vdev_mem_read() and vdev_mem_translate(READ) of remote memory pull
 *    with the current sequence point: -EAGAIN until the data arrived.
 * Regions carry VDEV__MEM_REMOTE in their info flags; fast paths that
 * cache host pointers must not cache a remote region.
 */
#define VDEV__MEM_REMOTE (1u << 31)

struct vdev__mem_remote {
	/*
	 * Start fetching guest [gpa, gpa + len) (len > 0, inside the region),
	 * tagged @seq: the owner later calls vdev__mem_remote_arrived() with
	 * @seq for every byte of it (in pieces if it likes), or with an error.
	 * Must not block or call back into the core. @return 0 (on its way),
	 * -EAGAIN (cannot send more now: the core asks again later) or
	 * another negative errno (the memory cannot be reached).
	 */
	int (*fetch)(void *opaque, uint64_t gpa, size_t len, uint64_t seq);
	/*
	 * Write @len bytes of @buf to guest [gpa, gpa + len): copied (or sent)
	 * before returning, never blocking on the client. @return 0 or a
	 * negative errno (the owner reports it; the data is lost).
	 */
	int (*write)(void *opaque, uint64_t gpa, const void *buf, size_t len);
	void *opaque;
};

/*
 * Register remote region [gpa, gpa + size) with @shadow (size bytes, owned
 * by the caller, valid until the region is removed) and @ops (copied).
 * Same rules and returns as vdev_mem_region_add(). Thread: the device thread.
 */
int vdev__mem_region_add_remote(vdev_ctx *ctx, uint64_t gpa, uint64_t size, void *shadow,
				uint32_t flags, const struct vdev__mem_remote *ops);

/*
 * A new sequence point: fetches sent from now on count as fresh for it
 * (never 0). Thread: the device thread.
 */
uint64_t vdev__mem_remote_now(vdev_ctx *ctx);

/*
 * Make sure the shadow holds every remote byte of guest range
 * [gpa, gpa + len) as fetched at or after sequence point @since (bytes in
 * ordinary RAM or outside RAM are skipped).
 * @return 0 (fresh; also when nothing in the range is remote); -EAGAIN
 * (fetches are on their way or could not be sent yet: try again after
 * the next arrival); -EIO (a fetch of it failed: the memory is gone).
 * Thread: the device thread.
 */
int vdev__mem_pull(vdev_ctx *ctx, uint64_t gpa, uint64_t len, uint64_t since);

/*
 * The owner delivers fetched data: @len bytes of guest memory at @gpa for
 * the fetch tagged @seq (a piece of it, or all), or @err < 0 (then @data
 * may be NULL) if the fetch failed. The bytes go into the shadow; the
 * fetch counts as arrived once all its bytes did. Unknown @seq (a region
 * removed meanwhile, a fetch already failed) is ignored. Thread: the
 * device thread.
 */
void vdev__mem_remote_arrived(vdev_ctx *ctx, uint64_t seq, uint64_t gpa, const void *data,
			      size_t len, int err);

/*
 * Copy a caller's struct_size-first struct into a full-size local copy:
 * fields beyond the caller's struct_size read as zero. Returns -EINVAL if
 * struct_size is smaller than the size_t itself.
 */
int vdev__copy_sized(void *dst, size_t dst_size, const void *src);

#endif /* VDEV_CORE_CORE_H */
