/* SPDX-License-Identifier: MIT */
/*
 * Dirty-page tracking, as the current vfio-user spec has it (vfio-user.rst
 * "VFIO_USER_DEVICE_FEATURE": VFIO_DEVICE_FEATURE_DMA_LOGGING_START / _STOP
 * (SET) and _REPORT (GET), features 6, 7 and 8; Linux vfio.h struct
 * vfio_device_feature_dma_logging_control/_range/_report, with the ranges
 * and the bitmap carried inline instead of as user pointers). The older
 * VFIO_USER_DIRTY_PAGES command (14) is gone from the spec; no VERSION
 * capability announces logging: a client PROBEs the features.
 *
 * Mapped onto the core memory map's own dirty log
 * (vdev_mem_dirty_log_enable()), which marks every page the library
 * writes, one bit per VDEV_PAGE_SIZE. Only writes are logged (as the spec
 * says); only fd-backed DMA regions can be written by the device at all.
 *
 * START: page_size is a hint (a power of two); we log at 4 KiB and say so
 *   in the reply. Ranges (at most VFU_LOG_MAX_RANGES; none = everything)
 *   are 4 KiB aligned, non-empty, do not wrap or overlap, and begin and
 *   end in DMA-mapped memory (QEMU's ranges span the holes between its
 *   mappings, so a hole inside a range is fine). Logging already on: EBUSY.
 * STOP: logging off (also when it was off).
 * REPORT: iova/length 4 KiB aligned, inside one logged range and wholly
 *   DMA-mapped; page_size a power of two >= 4 KiB (coarser units OR the
 *   4 KiB bits together, as the spec allows; finer ones we cannot give).
 *   The bitmap has ceil(length / page_size) bits, rounded up to whole
 *   u64s; bit i (bit i % 64 of little-endian u64 i / 64) is
 *   [iova + i * page_size, + page_size). The request's argsz must hold
 *   the whole reply (32 + bitmap bytes), else ENOSPC with nothing
 *   cleared: a reply without its bitmap would read as "all clean". What
 *   is reported is cleared (vdev__mem_dirty_take()).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vfio-user/vfu_internal.h"

/* The DMA region holding @addr, or NULL. */
static const struct vfu_dma *dma_at(const struct vfu_server *s, uint64_t addr)
{
	for (unsigned int i = 0; i < s->ndma; i++) {
		const struct vfu_dma *d = &s->dma[i];

		if (addr >= d->iova && addr - d->iova < d->size)
			return d;
	}
	return NULL;
}

/* Is every byte of [iova, last] in some DMA region (adjacent ones may chain)? */
static bool dma_covers(const struct vfu_server *s, uint64_t iova, uint64_t last)
{
	for (;;) {
		const struct vfu_dma *d = dma_at(s, iova);
		uint64_t end;

		if (!d)
			return false;
		end = d->iova + (d->size - 1);
		if (end >= last)
			return true;
		iova = end + 1;
	}
}

static bool aligned(uint64_t v)
{
	return !(v & (VDEV_PAGE_SIZE - 1));
}

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/*
 * Echo @len bytes of the request payload as the reply (the spec: SET
 * replies repeat it), with START's page_size replaced if @page_size.
 */
static int echo(struct vfu_server *s, const struct vfu_msg *m, uint32_t len, uint64_t page_size)
{
	uint8_t *out = s->wbuf + VFU_HDR_SIZE;

	memmove(out, m->p, len);
	vdev__put_le32(out, len);
	if (page_size && len >= 16)
		vdev__put_le64(out + 8, page_size);
	return vdev__vfu_reply(s, m->id, m->cmd, 0, out, len);
}

static int log_start(struct vfu_server *s, const struct vfu_msg *m)
{
	struct vfu_log_range *r = NULL;
	uint64_t page_size;
	uint32_t num;
	int rc;

	if (m->size < 24)
		return -EINVAL;
	page_size = vdev__le64(m->p + 8);
	num = vdev__le32(m->p + 16);
	if (!pow2(page_size))
		return -EINVAL;
	if (num > VFU_LOG_MAX_RANGES)
		return -E2BIG;
	if (m->size != 24 + 16 * (uint64_t)num || vdev__le32(m->p) < m->size)
		return -EINVAL;
	if (s->logging)
		return -EBUSY;
	if (num) {
		r = calloc(num, sizeof(*r));
		if (!r)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < num; i++) {
		uint64_t iova = vdev__le64(m->p + 24 + 16 * i);
		uint64_t len = vdev__le64(m->p + 24 + 16 * i + 8);

		rc = -EINVAL;
		if (!len || !aligned(iova) || !aligned(len))
			goto fail;
		rc = -EOVERFLOW;
		if (len - 1 > UINT64_MAX - iova)
			goto fail;
		r[i].iova = iova;
		r[i].last = iova + (len - 1);
		rc = -EFAULT;
		if (!dma_at(s, r[i].iova) || !dma_at(s, r[i].last))
			goto fail;
		rc = -EINVAL;
		for (uint32_t k = 0; k < i; k++)
			if (r[k].iova <= r[i].last && r[i].iova <= r[k].last)
				goto fail;
	}
	rc = vdev_mem_dirty_log_enable(s->ctx, 1);
	if (rc)
		goto fail;
	s->logging = true;
	s->log_ranges = r;
	s->nlog = num;
	vdev__vfu_log(s, VDEV_LOG_INFO, "DMA logging on (%u ranges, page size %" PRIu64
		      " asked, %u used)", num, page_size, VDEV_PAGE_SIZE);
	return echo(s, m, m->size, VDEV_PAGE_SIZE);
fail:
	free(r);
	return rc;
}

void vdev__vfu_dirty_drop(struct vfu_server *s)
{
	if (s->logging)
		vdev_mem_dirty_log_enable(s->ctx, 0);
	s->logging = false;
	free(s->log_ranges);
	s->log_ranges = NULL;
	s->nlog = 0;
}

static int log_stop(struct vfu_server *s, const struct vfu_msg *m)
{
	if (s->logging)
		vdev__vfu_log(s, VDEV_LOG_INFO, "DMA logging off");
	vdev__vfu_dirty_drop(s);
	return echo(s, m, m->size, 0);
}

/* Where REPORT's bits go. */
struct report {
	uint8_t *bitmap;
	uint64_t iova, page_size;
};

static void report_page(void *opaque, uint64_t lo, uint64_t hi)
{
	const struct report *rp = opaque;
	uint64_t i = (lo - rp->iova) / rp->page_size, last = (hi - rp->iova) / rp->page_size;

	/* Little-endian u64 words: bit i is bit i % 8 of byte i / 8. */
	for (; i <= last; i++)
		rp->bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
}

static bool in_logged_range(const struct vfu_server *s, uint64_t iova, uint64_t last)
{
	if (!s->nlog)
		return true;
	for (unsigned int i = 0; i < s->nlog; i++)
		if (iova >= s->log_ranges[i].iova && last <= s->log_ranges[i].last)
			return true;
	return false;
}

static int log_report(struct vfu_server *s, const struct vfu_msg *m)
{
	uint8_t *out = s->wbuf + VFU_HDR_SIZE;
	struct report rp;
	uint64_t iova, len, ps, last, nbits, bytes;
	int64_t n;

	if (m->size < 32)
		return -EINVAL;
	iova = vdev__le64(m->p + 8);
	len = vdev__le64(m->p + 16);
	ps = vdev__le64(m->p + 24);
	if (!s->logging)
		return -EINVAL;
	if (!pow2(ps) || ps < VDEV_PAGE_SIZE || !len || !aligned(iova) || !aligned(len))
		return -EINVAL;
	if (len - 1 > UINT64_MAX - iova)
		return -EOVERFLOW;
	last = iova + (len - 1);
	nbits = (len - 1) / ps + 1;
	if (nbits > (uint64_t)VFU_LOG_MAX_BITMAP * 8)
		return -E2BIG;
	bytes = (nbits + 63) / 64 * 8;
	if (vdev__le32(m->p) < 32 + bytes)
		return -ENOSPC;
	if (!in_logged_range(s, iova, last))
		return -EINVAL;
	if (!dma_covers(s, iova, last))
		return -EFAULT;
	/* The request lives in rbuf: build the reply in wbuf. */
	vdev__put_le32(out, (uint32_t)(32 + bytes));
	vdev__put_le32(out + 4, vdev__le32(m->p + 4));
	vdev__put_le64(out + 8, iova);
	vdev__put_le64(out + 16, len);
	vdev__put_le64(out + 24, ps);
	memset(out + 32, 0, (size_t)bytes);
	rp = (struct report){ .bitmap = out + 32, .iova = iova, .page_size = ps };
	n = vdev__mem_dirty_take(s->ctx, iova, last, report_page, &rp);
	if (n < 0)
		return (int)n;
	vdev__vfu_log(s, VDEV_LOG_DEBUG, "DMA logging report 0x%" PRIx64 "+0x%" PRIx64
		      ": %" PRId64 " pages dirty", iova, len, n);
	return vdev__vfu_reply(s, m->id, m->cmd, 0, out, (uint32_t)(32 + bytes));
}

int vdev__vfu_dirty_feature(struct vfu_server *s, const struct vfu_msg *m, uint32_t flags)
{
	uint32_t feature = flags & VFU_FEATURE_MASK;
	uint32_t dir = flags & (VFU_FEATURE_GET | VFU_FEATURE_SET);
	uint32_t want = feature == VFU_FEATURE_DMA_LOGGING_REPORT ? VFU_FEATURE_GET
								  : VFU_FEATURE_SET;

	/* START/STOP are SET only, REPORT GET only; a PROBE of the other fails too. */
	if (dir & ~want)
		return -EINVAL;
	if (flags & VFU_FEATURE_PROBE) {
		uint8_t out[8];

		vdev__put_le32(out, 8);
		vdev__put_le32(out + 4, flags);
		return vdev__vfu_reply(s, m->id, m->cmd, 0, out, 8);
	}
	if (dir != want)
		return -EINVAL;
	if (feature == VFU_FEATURE_DMA_LOGGING_START)
		return log_start(s, m);
	if (feature == VFU_FEATURE_DMA_LOGGING_STOP)
		return log_stop(s, m);
	return log_report(s, m);
}
