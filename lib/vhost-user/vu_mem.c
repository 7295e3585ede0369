/* SPDX-License-Identifier: MIT */
/*
 * The memory table (SET_MEM_TABLE): each region arrives as an fd, its
 * guest-physical address and size, the front end's virtual address of it
 * (ring addresses come in that space) and the offset of the region in the
 * fd. We map each one and register it in the device context's memory
 * map, which every DMA access of the device goes through.
 *
 * Replacing a table while rings run: the new regions are mapped first (a
 * failure leaves the old table in place), then the context's map is
 * switched over in one go (the virtqueue engine notices the map
 * generation move and re-resolves its ring pointers). The old mappings
 * stay until no request is in flight any more, because a request popped
 * before may still hold iovecs into them; vdev__vu_mem_gc() unmaps them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhost-user/vu_internal.h"

static void region_unmap(struct vu_region *r)
{
	if (r->map)
		munmap(r->map, r->map_len);
	r->map = NULL;
	r->hva = NULL;
}

/* Map region @r (whose map_len holds the fd offset on entry) from @fd. */
static int region_map(struct vu_region *r, int fd)
{
	uint64_t off = r->map_len, page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t aoff = off & ~(page - 1), len;
	struct stat st;
	void *p;

	r->map_len = 0;
	r->map = NULL;
	if (!r->size || r->size - 1 > UINT64_MAX - r->gpa || r->size - 1 > UINT64_MAX - r->uva)
		return -EINVAL;
	if (r->size > UINT64_MAX - (off - aoff) || fd < 0)
		return -EINVAL;
	len = r->size + (off - aoff);
	if (len > SIZE_MAX || aoff > (uint64_t)INT64_MAX)
		return -EINVAL;
	/*
	 * A file shorter than the region would turn guest accesses past its
	 * end into SIGBUS here: refuse (memfd, hugetlbfs and tmpfs files
	 * report their size; other kinds are taken as they are).
	 */
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && (st.st_size < 0 ||
	    (uint64_t)st.st_size < off || (uint64_t)st.st_size - off < r->size))
		return -EINVAL;
	p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd,
		 (off_t)aoff);
	if (p == MAP_FAILED)
		return -errno;
	r->map = p;
	r->map_len = (size_t)len;
	r->hva = (uint8_t *)p + (off - aoff);
	return 0;
}

static void map_remove(struct vu_server *s, const struct vu_region *r, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		vdev_mem_region_remove(s->ctx, r[i].gpa);
}

static int map_add(struct vu_server *s, const struct vu_region *r, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		int rc = vdev_mem_region_add(s->ctx, r[i].gpa, r[i].size, r[i].hva, 0);

		if (rc) {
			map_remove(s, r, i);
			return rc;
		}
	}
	return 0;
}

static bool anything_in_flight(struct vu_server *s)
{
	for (unsigned int i = 0; i < s->nq; i++)
		if (vdev_vq_inflight(vdev_virtio_queue(s->vd, i)))
			return true;
	return false;
}

void vdev__vu_mem_gc(struct vu_server *s, bool force)
{
	struct vu_old_table *t;

	if (!s->old_tables || (!force && anything_in_flight(s)))
		return;
	while ((t = s->old_tables)) {
		s->old_tables = t->next;
		for (unsigned int i = 0; i < t->n; i++)
			region_unmap(&t->r[i]);
		free(t);
	}
}

int vdev__vu_mem_set_table(struct vu_server *s, const struct vu_region *in, unsigned int n,
			   const int *fds)
{
	struct vu_region nr[VU_MAX_REGIONS];
	struct vu_old_table *old = NULL;
	unsigned int i;
	int rc = 0;

	if (n > VU_MAX_REGIONS)
		return -EINVAL;
	memcpy(nr, in, n * sizeof(*nr));
	for (i = 0; i < n && !rc; i++)
		rc = region_map(&nr[i], fds[i]);
	if (rc) {
		vdev__vu_log(s, VDEV_LOG_WARN, "memory table: region %u: %s", i - 1,
			     vdev_strerror(rc));
		while (i--)
			region_unmap(&nr[i]);
		return rc;
	}
	if (s->nregions) {
		old = calloc(1, sizeof(*old));
		if (!old) {
			for (i = 0; i < n; i++)
				region_unmap(&nr[i]);
			return -ENOMEM;
		}
	}
	map_remove(s, s->regions, s->nregions);
	rc = map_add(s, nr, n);
	if (rc) {
		/* Overlapping regions, most likely: put the old table back. */
		vdev__vu_log(s, VDEV_LOG_WARN, "memory table refused: %s", vdev_strerror(rc));
		if (map_add(s, s->regions, s->nregions))
			vdev__vu_log(s, VDEV_LOG_ERROR, "cannot restore the old memory table");
		for (i = 0; i < n; i++)
			region_unmap(&nr[i]);
		free(old);
		return rc;
	}
	if (old) {
		memcpy(old->r, s->regions, s->nregions * sizeof(*old->r));
		old->n = s->nregions;
		old->next = s->old_tables;
		s->old_tables = old;
	}
	memcpy(s->regions, nr, n * sizeof(*nr));
	s->nregions = n;
	for (i = 0; i < n; i++)
		vdev__vu_log(s, VDEV_LOG_DEBUG,
			     "region %u: gpa 0x%" PRIx64 " size 0x%" PRIx64 " uva 0x%" PRIx64, i,
			     nr[i].gpa, nr[i].size, nr[i].uva);
	vdev__vu_log(s, VDEV_LOG_INFO, "memory table: %u region(s)", n);
	vdev__vu_mem_gc(s, false);
	if (s->old_tables)
		vdev__vu_maint_arm(s);
	return 0;
}

void vdev__vu_mem_drop(struct vu_server *s)
{
	map_remove(s, s->regions, s->nregions);
	for (unsigned int i = 0; i < s->nregions; i++)
		region_unmap(&s->regions[i]);
	s->nregions = 0;
	vdev__vu_mem_gc(s, true);
}

int vdev__vu_uva_to_gpa(const struct vu_server *s, uint64_t uva, uint64_t len, uint64_t *gpa)
{
	for (unsigned int i = 0; i < s->nregions; i++) {
		const struct vu_region *r = &s->regions[i];
		uint64_t off = uva - r->uva;

		/* uva >= r->uva, and [off, off + len) inside the region. */
		if (uva >= r->uva && off < r->size && len <= r->size - off) {
			*gpa = r->gpa + off;
			return 0;
		}
	}
	return -EFAULT;
}

/*
 * ADD_MEM_REG: one more region, mapped from @fd (not kept). Regions may
 * come and go while rings run: the context's map moves and the rings
 * re-resolve. @return 0; -ENOSPC (VU_MAX_SLOTS); -EEXIST (overlaps);
 * -EINVAL; a mmap errno.
 */
int vdev__vu_mem_add(struct vu_server *s, const struct vu_region *in, int fd)
{
	struct vu_region r = *in;
	int rc;

	if (s->nregions >= VU_MAX_SLOTS)
		return -ENOSPC;
	rc = region_map(&r, fd);
	if (rc)
		return rc;
	rc = vdev_mem_region_add(s->ctx, r.gpa, r.size, r.hva, 0);
	if (rc) {
		vdev__vu_log(s, VDEV_LOG_WARN, "ADD_MEM_REG gpa 0x%" PRIx64 " size 0x%" PRIx64
			     ": %s", r.gpa, r.size, vdev_strerror(rc));
		region_unmap(&r);
		return rc;
	}
	s->regions[s->nregions++] = r;
	vdev__vu_log(s, VDEV_LOG_INFO, "region added: gpa 0x%" PRIx64 " size 0x%" PRIx64
		     " (%u in all)", r.gpa, r.size, s->nregions);
	return 0;
}

/*
 * REM_MEM_REG: the region with the same guest address, user address and
 * size goes (vhost-user.rst: the mmap offset is ignored). Its mapping is
 * kept, as a replaced table's is, until nothing in flight can point into
 * it. @return 0; -ENOENT (no such region); -ENOMEM.
 */
int vdev__vu_mem_rem(struct vu_server *s, const struct vu_region *in)
{
	struct vu_old_table *old;
	unsigned int i;

	for (i = 0; i < s->nregions; i++)
		if (s->regions[i].gpa == in->gpa && s->regions[i].uva == in->uva &&
		    s->regions[i].size == in->size)
			break;
	if (i == s->nregions)
		return -ENOENT;
	old = calloc(1, sizeof(*old));
	if (!old)
		return -ENOMEM;
	vdev_mem_region_remove(s->ctx, s->regions[i].gpa);
	old->r[0] = s->regions[i];
	old->n = 1;
	old->next = s->old_tables;
	s->old_tables = old;
	s->regions[i] = s->regions[--s->nregions];
	vdev__vu_log(s, VDEV_LOG_INFO, "region removed: gpa 0x%" PRIx64 " (%u left)", in->gpa,
		     s->nregions);
	vdev__vu_mem_gc(s, false);
	if (s->old_tables)
		vdev__vu_maint_arm(s);
	return 0;
}
