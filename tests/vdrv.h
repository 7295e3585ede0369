/* SPDX-License-Identifier: MIT */
/*
 * vdrv: the DRIVER side of a virtqueue, split and packed (VIRTIO 1.2 §2.7,
 * §2.8), written from the spec alone for tests and benchmarks. It is an
 * independent implementation so that a misreading of the spec in the
 * device-side engine (lib/virtio/) shows up as a disagreement.
 *
 * Guest memory is a host buffer that maps guest-physical address g to host
 * address base + g (the mock VMM's RAM at gpa 0 is one such buffer). A bump
 * allocator hands out guest memory for rings, indirect tables and data.
 *
 * The driver validates what the device writes back (used ids, lengths,
 * used-descriptor flags): a device bug is reported as -EPROTO with a
 * reason in vdrv_error(), never trusted.
 *
 * Needs no cmocka and no mock VMM: the benchmark links it too.
 * Single-threaded: one thread plays the driver.
 */
#ifndef VDEV_TESTS_VDRV_H
#define VDEV_TESTS_VDRV_H

#include <stddef.h>
#include <stdint.h>
#include <vdev/virtqueue.h>

/* Descriptor flags (§2.7.5, §2.8.1). */
#define VDRV_DESC_F_NEXT 1u
#define VDRV_DESC_F_WRITE 2u
#define VDRV_DESC_F_INDIRECT 4u
#define VDRV_DESC_F_AVAIL (1u << 7)
#define VDRV_DESC_F_USED (1u << 15)

/* Split ring flags (§2.7.6, §2.7.8). */
#define VDRV_AVAIL_F_NO_INTERRUPT 1u
#define VDRV_USED_F_NO_NOTIFY 1u

/* Packed event suppression flags (§2.8.10). */
#define VDRV_EVENT_ENABLE 0u
#define VDRV_EVENT_DISABLE 1u
#define VDRV_EVENT_DESC 2u

/* vdrv_alloc() failure. */
#define VDRV_NOMEM UINT64_MAX

/* Guest memory: gpa g lives at host address base + g. */
struct vdrv_mem {
	uint8_t *base;  /* host address of gpa 0 (need not be dereferenceable there) */
	uint64_t lo;    /* allocation window [lo, hi) */
	uint64_t hi;
	uint64_t next;  /* bump pointer */
};

/* Allocate from [lo, hi) of the buffer at base (host address of gpa 0). */
void vdrv_mem_init(struct vdrv_mem *m, void *base, uint64_t lo, uint64_t hi);
/* @return the gpa of @len bytes aligned to @align (a power of two), zeroed, or VDRV_NOMEM. */
uint64_t vdrv_alloc(struct vdrv_mem *m, uint64_t len, uint64_t align);
/* @return the host address of @gpa. */
void *vdrv_host(const struct vdrv_mem *m, uint64_t gpa);

/* One buffer element of a request. Device-readable ones first. */
struct vdrv_seg {
	uint64_t gpa;
	uint32_t len;
	uint32_t write;  /* 1: device-writable */
};

/* vdrv_add() flags. */
#define VDRV_ADD_INDIRECT (1u << 0) /* put every segment in one indirect table */

/* A used buffer as the driver collected it. */
struct vdrv_used {
	uint16_t id;     /* buffer id (split: head descriptor index) */
	uint32_t len;    /* bytes the device says it wrote */
	uint64_t token;  /* what vdrv_add() was given */
	int skipped;     /* IN_ORDER: covered by a later buffer's used entry (len assumed full) */
};

/* Driver-private state of one buffer id. */
struct vdrv_buf {
	uint64_t token;
	uint64_t in_bytes;      /* device-writable bytes */
	uint64_t itab_gpa;      /* this id's indirect table (kept for reuse) */
	uint32_t itab_cap;      /* entries it holds */
	uint16_t ndesc;         /* ring descriptors the buffer occupies */
	uint16_t last;          /* split: last ring descriptor of the chain */
	uint8_t busy;
};

struct vdrv_vq {
	struct vdrv_mem *mem;
	uint32_t size;
	int packed;
	int event_idx;
	int in_order;
	uint64_t features;
	uint64_t desc_gpa;
	uint64_t driver_gpa;    /* split: avail ring; packed: driver event suppression */
	uint64_t device_gpa;    /* split: used ring; packed: device event suppression */

	struct vdrv_buf *bufs;  /* [size], by buffer id */
	uint32_t inflight;      /* buffers added and not yet collected */
	uint32_t num_free;      /* free ring descriptors */

	/* split */
	uint16_t avail_idx;     /* next avail ring slot (free-running) */
	uint16_t avail_pub;     /* avail idx value last published */
	uint16_t last_used;     /* next used ring entry to read (free-running) */
	uint16_t free_head;     /* free descriptor list (not IN_ORDER) */
	uint16_t *next_free;    /* [size] */
	uint16_t next_desc;     /* IN_ORDER: next descriptor to hand out */

	/* packed */
	uint16_t next_avail;    /* next ring position to fill */
	uint8_t avail_wrap;     /* Driver Ring Wrap Counter */
	uint16_t next_used;     /* next position a used descriptor appears at */
	uint8_t used_wrap;      /* wrap counter expected there */
	uint16_t pub_pos;       /* position after the last published chain */
	uint8_t pub_wrap;
	uint16_t free_id;       /* free buffer id list */
	uint16_t *id_next;      /* [size] */
	uint16_t *pend_pos;     /* [size] head positions not yet published */
	uint16_t *pend_flags;   /* [size] their flags */
	uint32_t npend;
	uint32_t pend_descs;    /* ring descriptors in those chains */
	int id_last_only;       /* write the buffer id in the last descriptor only (§2.8.6) */

	/* IN_ORDER: ids in the order they were made available */
	uint16_t *fifo;         /* [size] */
	uint32_t fifo_head;
	uint32_t fifo_len;
	uint32_t batch_left;    /* buffers still to hand out from one used entry */
	uint32_t batch_len;     /* that entry's length (for its last buffer) */

	/* kick decisions: what was published since the last vdrv_need_kick() */
	uint16_t kick_old;      /* split: avail idx then */
	uint32_t kick_added;    /* packed: descriptors made available since */

	char err[160];          /* first device protocol violation seen */
};

/*
 * Lay out a queue of @size entries for @features (1ull << VDEV_VIRTIO_F_*;
 * RING_PACKED picks the layout) in @mem, rings zeroed, with the alignments
 * of §2.7 / §2.8.10. @return 0, -EINVAL (size), -ENOMEM.
 */
int vdrv_vq_init(struct vdrv_vq *vq, struct vdrv_mem *mem, uint32_t size, uint64_t features);
/* Same, with the areas at the given gpas: neither checked nor zeroed (hostile tests). */
int vdrv_vq_init_at(struct vdrv_vq *vq, struct vdrv_mem *mem, uint32_t size, uint64_t features,
		    uint64_t desc_gpa, uint64_t driver_gpa, uint64_t device_gpa);
/* Free the driver's private arrays (guest memory stays). */
void vdrv_vq_fini(struct vdrv_vq *vq);
/* Forget every buffer and zero the rings: a queue reset (§2.6.1) then re-enable. */
void vdrv_vq_reset(struct vdrv_vq *vq);
/* Fill @cfg (struct_size, size, ring addresses, features; flags and max_segments 0). */
void vdrv_vq_config(const struct vdrv_vq *vq, struct vdev_vq_config *cfg);

/*
 * Add one buffer (a chain of @nseg segments; with VDRV_ADD_INDIRECT one
 * indirect descriptor). Not visible to the device until vdrv_publish().
 * @return the buffer id (>= 0); -ENOSPC (no room); -EINVAL.
 */
int vdrv_add(struct vdrv_vq *vq, const struct vdrv_seg *segs, unsigned int nseg, unsigned int flags,
	     uint64_t token);
/*
 * Split only: @ndirect segments as chained ring descriptors followed by
 * one INDIRECT descriptor holding the rest (legal, §2.7.5.3.2).
 */
int vdrv_add_mixed(struct vdrv_vq *vq, const struct vdrv_seg *segs, unsigned int nseg,
		   unsigned int ndirect, uint64_t token);
/*
 * Make the added buffers visible (split: avail idx, release ordering;
 * packed: head flags written last). @return how many buffers.
 */
unsigned int vdrv_publish(struct vdrv_vq *vq);
/*
 * After vdrv_publish(): does the device want an available-buffer
 * notification for what was published since the last call (§2.7.10,
 * §2.8.10)? Full barrier first. @return 1 or 0.
 */
int vdrv_need_kick(struct vdrv_vq *vq);
/* The NOTIFICATION_DATA value (§2.9): next_off | next_wrap << 15 of what is published. */
uint32_t vdrv_notify_data(const struct vdrv_vq *vq);

/*
 * Collect one used buffer. @return 1 (filled *u); 0 (none); -EPROTO (the
 * device broke a rule: vdrv_error() says which; the queue is unusable).
 */
int vdrv_get_used(struct vdrv_vq *vq, struct vdrv_used *u);
/* The first device protocol violation seen, "" if none. */
const char *vdrv_error(const struct vdrv_vq *vq);

/*
 * Used-buffer notification suppression, driver side.
 * enable: split: flags 0 / used_event = next used index; packed: ENABLE.
 *   @return 1 if used buffers are already waiting (collect again), else 0.
 * disable: split: NO_INTERRUPT (no EVENT_IDX) or used_event far behind;
 *   packed: DISABLE.
 * after(n) (EVENT_IDX only): interrupt when the n-th next used entry is
 *   written (split used_event; packed DESC mode, counting one ring
 *   descriptor per buffer). @return 0 or -EINVAL.
 */
int vdrv_interrupts_enable(struct vdrv_vq *vq);
void vdrv_interrupts_disable(struct vdrv_vq *vq);
int vdrv_interrupt_after(struct vdrv_vq *vq, uint32_t n);

/* Buffers added and not yet collected. */
uint32_t vdrv_inflight(const struct vdrv_vq *vq);

/* ---- raw accessors, for adversarial tests ------------------------------ */

/* Descriptor encoders at a host address (an indirect table entry, a ring slot). */
void vdrv_put_split_desc(void *p, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
void vdrv_put_packed_desc(void *p, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags);

/* Ring descriptor @i. Split: next; packed: id. Plain stores, no ordering. */
void vdrv_desc_set(struct vdrv_vq *vq, uint32_t i, uint64_t addr, uint32_t len, uint16_t flags,
		   uint16_t next_or_id);
void vdrv_desc_get(const struct vdrv_vq *vq, uint32_t i, uint64_t *addr, uint32_t *len,
		   uint16_t *flags, uint16_t *next_or_id);
/* Packed: store descriptor @i's flags with release ordering. */
void vdrv_desc_flags_release(struct vdrv_vq *vq, uint32_t i, uint16_t flags);

/* Split avail ring. */
void vdrv_avail_flags_set(struct vdrv_vq *vq, uint16_t flags);
void vdrv_avail_ring_set(struct vdrv_vq *vq, uint16_t pos, uint16_t head);
void vdrv_avail_idx_set(struct vdrv_vq *vq, uint16_t idx); /* release */
void vdrv_used_event_set(struct vdrv_vq *vq, uint16_t ev);
/* Split used ring. */
uint16_t vdrv_used_flags(const struct vdrv_vq *vq);
uint16_t vdrv_used_idx(const struct vdrv_vq *vq); /* acquire */
void vdrv_used_elem(const struct vdrv_vq *vq, uint16_t pos, uint32_t *id, uint32_t *len);
uint16_t vdrv_avail_event(const struct vdrv_vq *vq);

/* Packed event suppression: the driver's (device reads) and the device's. */
void vdrv_driver_event_set(struct vdrv_vq *vq, uint16_t off_wrap, uint16_t flags);
void vdrv_device_event(const struct vdrv_vq *vq, uint16_t *off_wrap, uint16_t *flags);

/* The spec's vring_need_event (§2.7.10 with EVENT_IDX). */
int vdrv_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx);

/* Byte sizes of the three areas for a queue of @size. */
uint64_t vdrv_desc_bytes(uint32_t size);
uint64_t vdrv_driver_bytes(int packed, uint32_t size);
uint64_t vdrv_device_bytes(int packed, uint32_t size);

#endif
