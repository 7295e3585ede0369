/* SPDX-License-Identifier: MIT */
/*
 * lib/core private: the guest-memory map's structures, shared by
 * mem_map.c (regions, accessors, dirty logging) and mem_remote.c (remote
 * regions' fetches, core.h "Remote regions").
 */
#ifndef VDEV_CORE_MEM_INTERNAL_H
#define VDEV_CORE_MEM_INTERNAL_H

#include <stdatomic.h>

#include "core/core.h"

#define MEM_PAGE_SHIFT 12
_Static_assert((1u << MEM_PAGE_SHIFT) == VDEV_PAGE_SIZE, "page shift");

#define MEM_INITIAL_CAP 8u
#define MEM_KNOWN_FLAGS VDEV_MEM_READONLY

struct mem_region {
	uint64_t gpa;            /* first byte */
	uint64_t last;           /* last byte, inclusive */
	uint8_t *hva;            /* host address of gpa */
	/*
	 * One bit per page while dirty logging is on, else NULL. Page i
	 * covers [gpa + i * 4096, gpa + (i + 1) * 4096) relative to the
	 * region's own start, which need not be page aligned: page index =
	 * floor((addr - gpa) / 4096). The VMM reads it back the same way.
	 */
	_Atomic uint64_t *dirty;
	uint32_t flags;          /* VDEV_MEM_*, and VDEV__MEM_REMOTE */
	struct vdev__mem_remote remote; /* hooks of a remote region (core.h) */
};

struct vdev__mem_map {
	struct vdev__mem_hot hot; /* first: core.h reads it inline (gen, logging) */
	struct mem_region *r;    /* sorted by gpa, never overlapping */
	unsigned int n, cap;
	atomic_uint hint;        /* index of the last region hit; may be stale */
	atomic_uint rhint;       /* the same for reverse (host address) lookups */
	bool own_log;            /* per-region bitmaps (vdev_mem_dirty_log_enable) */
	/*
	 * External log (vdev__mem_dirty_log_external): one bit per guest
	 * page by absolute address, bit (gpa / 4096) % 8 of byte gpa / 32768.
	 * hot.logging is own_log || ext_log || nremote: every write path
	 * marks what it wrote while any of them wants to know (a remote
	 * region's marks are its write-backs, core.h).
	 */
	_Atomic uint8_t *ext_log;
	uint64_t ext_bytes;
	unsigned int nremote;    /* remote regions in the map */
	struct mem_fetches *fetches; /* mem_remote.c, NULL until the first pull */
};

/* Index of the region holding @gpa or else the first one after it (may be n). */
unsigned int vdev__mem_first_at(const struct vdev__mem_map *m, uint64_t gpa);

/* mem_remote.c */
/* Forget fetches into [gpa, last] (a remote region is going). */
void vdev__mem_fetches_forget(struct vdev__mem_map *m, uint64_t gpa, uint64_t last);
void vdev__mem_fetches_free(struct vdev__mem_map *m);
/* Pull [gpa, last] for the synchronous accessors (vdev_mem_read(), translate(READ)). */
int vdev__mem_pull_sync(vdev_ctx *ctx, uint64_t gpa, uint64_t last);

#endif /* VDEV_CORE_MEM_INTERNAL_H */
