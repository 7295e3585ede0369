/* SPDX-License-Identifier: MIT */
/*
 * DMA_MAP / DMA_UNMAP (vfio-user.rst "VFIO_USER_DMA_MAP/UNMAP";
 * vfio.h struct vfio_iommu_type1_dma_map/unmap): a region that comes with
 * an fd and its offset in it is mapped and registered in the device
 * context's memory map, which every DMA of the device goes through.
 *
 * A region without an fd (QEMU sends those when guest RAM is not
 * fd-backed, e.g. plain `-m` without a shared memory backend) is reached
 * with DMA_READ / DMA_WRITE messages (vfu_dmaio.c): it is registered as a
 * remote region (core.h) whose host memory is an anonymous private
 * "shadow" of its size, refreshed from the client before the device reads
 * and copied back after it writes. The shadow sits in d->map like an fd
 * mapping, so the unmap below and its zombies treat both alike: a late
 * completion writes into a shadow that is still mapped, never into freed
 * address space.
 *
 * Unmap and requests in flight: a virtio device holds iovecs into guest
 * RAM between popping a request and completing it (vdev_vq_inflight()).
 * vdev_mem_region_remove() says "on return the library holds no pointer
 * into it", which holds only if nothing is in flight, so DMA_UNMAP of a
 * region (with an fd or a shadow) waits: the queues stop taking requests
 * (vdev_vq_pause()), the server reads no further message, and a 1 ms
 * timer checks until nothing is in flight; then the region goes and the
 * reply is sent. After VDEV_VFIO_USER_UNMAP_WAIT_MS (below the client's
 * reply timeout: QEMU waits 5 s) the region leaves the map anyway, and
 * its mapping stays until the connection ends (after the device reset),
 * so a late completion writes into memory the client no longer shares
 * with the guest rather than into freed address space.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vfio-user/vfu_internal.h"

#define WAIT_TICK_MS 1

static uint64_t dma_end(const struct vfu_dma *d)
{
	return d->iova + d->size - 1;   /* inclusive: a region may end at 2^64 - 1 */
}

/* Map @d->size bytes of @fd at @off. */
static int dma_mmap(struct vfu_dma *d, int fd, uint64_t off)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t aoff = off & ~(page - 1), len;
	int prot = PROT_READ | (d->prot & VFU_DMA_MAP_WRITE ? PROT_WRITE : 0);
	struct stat st;
	void *p;

	if (d->size > UINT64_MAX - (off - aoff))
		return -EINVAL;
	len = d->size + (off - aoff);
	if (len > SIZE_MAX || aoff > (uint64_t)INT64_MAX)
		return -EINVAL;
	/*
	 * A file shorter than the region would turn the device's accesses
	 * past its end into SIGBUS here: refuse (memfd, tmpfs and hugetlbfs
	 * files report their size).
	 */
	if (fstat(fd, &st))
		return -EBADF;
	if (S_ISREG(st.st_mode) && (st.st_size < 0 || (uint64_t)st.st_size < off ||
				    (uint64_t)st.st_size - off < d->size))
		return -EINVAL;
	p = mmap(NULL, (size_t)len, prot, MAP_SHARED | MAP_NORESERVE, fd, (off_t)aoff);
	if (p == MAP_FAILED)
		return -errno;
	d->map = p;
	d->map_len = (size_t)len;
	return (int)(off - aoff);   /* where iova sits in the mapping */
}

/* A region without an fd: a shadow, registered with the DMA_READ/WRITE hooks. */
static int dma_shadow(struct vfu_server *s, struct vfu_dma *d)
{
	struct vdev__mem_remote ops = vdev__vfu_remote_tmpl;
	void *p;
	int rc;

	if (d->size > SIZE_MAX)
		return -EINVAL;
	p = mmap(NULL, (size_t)d->size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	ops.opaque = s;
	rc = vdev__mem_region_add_remote(s->ctx, d->iova, d->size, p,
					 d->prot & VFU_DMA_MAP_WRITE ? 0 : VDEV_MEM_READONLY,
					 &ops);
	if (rc) {
		munmap(p, (size_t)d->size);
		return rc;
	}
	d->map = p;
	d->map_len = (size_t)d->size;
	return 0;
}

int vdev__vfu_dma_map(struct vfu_server *s, const struct vfu_msg *m, int fd)
{
	struct vfu_dma d = { 0 };
	uint64_t off;
	int rc, skew = 0;

	if (m->size < 32 || vdev__le32(m->p) < 32)
		return -EINVAL;
	d.prot = vdev__le32(m->p + 4);
	off = vdev__le64(m->p + 8);
	d.iova = vdev__le64(m->p + 16);
	d.size = vdev__le64(m->p + 24);
	if (d.prot & ~(VFU_DMA_MAP_READ | VFU_DMA_MAP_WRITE) || !d.size ||
	    d.size - 1 > UINT64_MAX - d.iova)
		return -EINVAL;
	if (s->ndma >= VFU_MAX_DMA)
		return -ENOSPC;
	for (unsigned int i = 0; i < s->ndma; i++)
		if (d.iova <= dma_end(&s->dma[i]) && s->dma[i].iova <= dma_end(&d))
			return -EEXIST;
	if (fd >= 0) {
		rc = dma_mmap(&d, fd, off);
		if (rc < 0)
			return rc;
		skew = rc;
		rc = vdev_mem_region_add(s->ctx, d.iova, d.size, (uint8_t *)d.map + skew,
					 d.prot & VFU_DMA_MAP_WRITE ? 0 : VDEV_MEM_READONLY);
		if (rc) {
			munmap(d.map, d.map_len);
			return rc;
		}
		d.in_map = true;
	} else {
		rc = dma_shadow(s, &d);
		if (rc)
			return rc;
		d.in_map = true;
	}
	s->dma[s->ndma++] = d;
	vdev__vfu_log(s, VDEV_LOG_DEBUG, "DMA map 0x%" PRIx64 "+0x%" PRIx64 " %s%s", d.iova,
		      d.size, d.prot & VFU_DMA_MAP_WRITE ? "rw" : "ro", fd >= 0 ? "" : " (no fd)");
	return 0;
}

static void dma_release(struct vfu_dma *d)
{
	if (d->map)
		munmap(d->map, d->map_len);
	d->map = NULL;
}

/* Park a mapping until the connection ends (see the top of the file). */
static void dma_zombie(struct vfu_server *s, struct vfu_dma *d)
{
	struct vfu_dma *z = realloc(s->zombies, (s->nzombies + 1) * sizeof(*z));

	if (!z) {
		/* Cannot keep it: unmapping is the lesser evil than leaking silently. */
		vdev__vfu_log(s, VDEV_LOG_ERROR, "out of memory keeping an unmapped region");
		dma_release(d);
		return;
	}
	s->zombies = z;
	s->zombies[s->nzombies++] = *d;
}

bool vdev__vfu_inflight(struct vfu_server *s)
{
	unsigned int nq;

	if (!s->vd)
		return false;
	nq = vdev_virtio_ext_num_queues(s->vd);
	for (unsigned int i = 0; i < nq; i++)
		if (vdev_vq_inflight(vdev_virtio_queue(s->vd, i)))
			return true;
	return false;
}

/* Which regions [iova, iova + size) names: 0 with *n > 0, or an errno. */
static int match(struct vfu_server *s, uint64_t iova, uint64_t size, bool all, unsigned int *n,
		 bool *mapped)
{
	uint64_t end = iova + size - 1;

	*n = 0;
	*mapped = false;
	for (unsigned int i = 0; i < s->ndma; i++) {
		const struct vfu_dma *d = &s->dma[i];
		bool inside = all || (d->iova >= iova && dma_end(d) <= end);

		if (!inside && d->iova <= end && iova <= dma_end(d))
			return -EINVAL;   /* would split a mapping */
		if (inside) {
			(*n)++;
			*mapped |= d->in_map;
		}
	}
	return *n ? 0 : -ENOENT;
}

/* Remove the regions inside the range; @late: requests still hold iovecs. */
static void remove_range(struct vfu_server *s, uint64_t iova, uint64_t size, bool all, bool late)
{
	uint64_t end = iova + size - 1;
	unsigned int i = 0;

	while (i < s->ndma) {
		struct vfu_dma *d = &s->dma[i];

		if (!all && !(d->iova >= iova && dma_end(d) <= end)) {
			i++;
			continue;
		}
		if (d->in_map)
			vdev_mem_region_remove(s->ctx, d->iova);
		vdev__vfu_log(s, VDEV_LOG_DEBUG, "DMA unmap 0x%" PRIx64 "+0x%" PRIx64, d->iova,
			      d->size);
		if (late && d->map)
			dma_zombie(s, d);
		else
			dma_release(d);
		s->dma[i] = s->dma[--s->ndma];
	}
}

void vdev__vfu_queues_pause(struct vfu_server *s, uint64_t *mask, bool pause)
{
	unsigned int nq;

	if (!s->vd)
		return;
	nq = VDEV__MIN(vdev_virtio_ext_num_queues(s->vd), 64u);
	for (unsigned int i = 0; i < nq; i++) {
		vdev_vq *vq = vdev_virtio_queue(s->vd, i);

		if (pause) {
			if (!vdev_vq_paused(vq) && !vdev_vq_pause(vq, 1))
				*mask |= 1ull << i;
		} else if (*mask & (1ull << i)) {
			vdev_vq_pause(vq, 0);
			/* Buffers the driver added meanwhile: look once (a spurious kick is harmless). */
			vdev_virtio_kick(s->vd, i);
		}
	}
	if (!pause)
		*mask = 0;
}

static int unmap_reply(struct vfu_server *s, uint16_t id, uint32_t uflags, uint64_t iova,
		       uint64_t size, uint32_t hflags)
{
	uint8_t out[24];

	if (hflags & VFU_F_NO_REPLY)
		return 0;
	vdev__put_le32(out, 24);
	vdev__put_le32(out + 4, uflags);
	vdev__put_le64(out + 8, iova);
	vdev__put_le64(out + 16, size);
	return vdev__vfu_reply(s, id, VFU_DMA_UNMAP, 0, out, sizeof(out));
}

static void wait_tick(uv_timer_t *h)
{
	vdev__vfu_dma_wait_check(h->data);
}

int vdev__vfu_dma_unmap(struct vfu_server *s, const struct vfu_msg *m)
{
	uint32_t uflags;
	uint64_t iova, size;
	unsigned int n;
	bool all, mapped;
	int rc;

	if (m->size < 24 || vdev__le32(m->p) < 24)
		return -EINVAL;
	uflags = vdev__le32(m->p + 4);
	iova = vdev__le64(m->p + 8);
	size = vdev__le64(m->p + 16);
	if (uflags & VFU_DMA_UNMAP_GET_DIRTY)
		return -ENOTSUP;
	if (uflags & ~VFU_DMA_UNMAP_ALL)
		return -EINVAL;
	all = uflags & VFU_DMA_UNMAP_ALL;
	if (all ? iova || size : !size || size - 1 > UINT64_MAX - iova)
		return -EINVAL;
	rc = match(s, iova, size, all, &n, &mapped);
	if (rc == -ENOENT && all)
		return unmap_reply(s, m->id, uflags, iova, size, m->flags);
	if (rc)
		return rc;
	if (mapped && vdev__vfu_inflight(s) && s->wait_h) {
		s->waiting = true;
		s->wait_id = m->id;
		s->wait_flags = m->flags;
		s->wait_iova = iova;
		s->wait_size = size;
		s->wait_uflags = uflags;
		s->wait_start_ms = uv_now(s->loop);
		vdev__vfu_queues_pause(s, &s->paused_queues, true);
		uv_timer_start(s->wait_h, wait_tick, WAIT_TICK_MS, WAIT_TICK_MS);
		vdev__vfu_log(s, VDEV_LOG_DEBUG, "DMA unmap waits for requests in flight");
		return 1;
	}
	remove_range(s, iova, size, all, false);
	return unmap_reply(s, m->id, uflags, iova, size, m->flags);
}

void vdev__vfu_dma_wait_check(struct vfu_server *s)
{
	bool late;
	int rc;

	if (!s->waiting)
		return;
	late = vdev__vfu_inflight(s);
	if (late && s->wait_h && uv_now(s->loop) - s->wait_start_ms < VDEV_VFIO_USER_UNMAP_WAIT_MS)
		return;
	if (late)
		vdev__vfu_log(s, VDEV_LOG_WARN, "DMA unmap: requests still in flight after %u ms; "
			      "region unmapped anyway (kept until the connection ends)",
			      VDEV_VFIO_USER_UNMAP_WAIT_MS);
	if (s->wait_h)
		uv_timer_stop(s->wait_h);
	s->waiting = false;
	remove_range(s, s->wait_iova, s->wait_size, s->wait_uflags & VFU_DMA_UNMAP_ALL, late);
	vdev__vfu_queues_pause(s, &s->paused_queues, false);
	rc = unmap_reply(s, s->wait_id, s->wait_uflags, s->wait_iova, s->wait_size, s->wait_flags);
	vdev__vfu_resume(s, rc);
}

void vdev__vfu_dma_drop(struct vfu_server *s)
{
	remove_range(s, 0, 0, true, false);
	for (unsigned int i = 0; i < s->nzombies; i++)
		dma_release(&s->zombies[i]);
	free(s->zombies);
	s->zombies = NULL;
	s->nzombies = 0;
}
