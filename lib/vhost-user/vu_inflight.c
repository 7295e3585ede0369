/* SPDX-License-Identifier: MIT */
/*
 * Inflight shared memory (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD; QEMU
 * docs/interop/vhost-user.rst, "Inflight I/O tracking"): reconnect
 * without losing or repeating requests.
 *
 * GET_INFLIGHT_FD: the front end asks for a buffer for num_queues rings
 * of queue_size descriptors; we make a zero-filled memfd (version 0 in
 * every queue region: fresh) and hand it over. The front end keeps it
 * for the life of the device and gives it back with SET_INFLIGHT_FD on
 * every (re)connection, before starting rings: we map it and attach each
 * queue's region to its virtqueue (vdev_vq_set_inflight()) when the ring
 * starts. The virtqueue engine does the tracking and, on a region that an
 * earlier run of the device (this process or one that was killed) left
 * with requests marked, resubmits them first.
 *
 * Queue regions are laid out as libvhost-user does: region i at
 * i * ALIGN_UP(16 + 16 * queue_size, 64). Split rings only; a packed
 * ring is not tracked (logged by the engine).
 */
#include <errno.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhost-user/vu_internal.h"

#define VU_IFL_ALIGN 64u

static uint64_t queue_region(uint16_t qsize)
{
	uint64_t n = 16 + 16 * (uint64_t)qsize;

	return (n + VU_IFL_ALIGN - 1) & ~(uint64_t)(VU_IFL_ALIGN - 1);
}

static int check_geometry(const struct vu_server *s, uint16_t nq, uint16_t qsize)
{
	if (!nq || nq > s->nq || !qsize || qsize > VDEV_VQ_MAX_SIZE)
		return -EINVAL;
	return 0;
}

int vdev__vu_inflight_get(struct vu_server *s, uint16_t nq, uint16_t qsize, uint64_t *size,
			  int *fd)
{
	uint64_t len;
	int mfd;

	*size = 0;
	*fd = -1;
	if (!(s->protocol_features & VU_BIT(VU_PF_INFLIGHT_SHMFD)))
		return -EPROTO;
	if (check_geometry(s, nq, qsize)) {
		vdev__vu_log(s, VDEV_LOG_WARN, "GET_INFLIGHT_FD: %u queue(s) of %u: refused "
			     "(the device has %u queues)", nq, qsize, s->nq);
		return -EINVAL;
	}
	len = nq * queue_region(qsize);
	mfd = memfd_create("vdev-vhost-user-inflight", MFD_CLOEXEC);
	if (mfd < 0)
		return -errno;
	if (ftruncate(mfd, (off_t)len)) {
		int rc = -errno;

		close(mfd);
		return rc;
	}
	*size = len;
	*fd = mfd;
	return 0;
}

static bool any_running(const struct vu_server *s)
{
	for (unsigned int i = 0; i < s->nq; i++)
		if (s->vr[i].running)
			return true;
	return false;
}

/* Take the regions off every queue (stopping one that still runs: never while mapped). */
static void detach_all(struct vu_server *s)
{
	for (unsigned int i = 0; i < s->nq; i++) {
		vdev_vq *vq = vdev_virtio_queue(s->vd, i);

		if (vdev_vq_set_inflight(vq, NULL, 0) == -EBUSY) {
			vdev_virtio_ext_queue_stop(s->vd, i, NULL);
			s->vr[i].running = false;
			vdev_vq_set_inflight(vq, NULL, 0);
		}
	}
}

void vdev__vu_inflight_drop(struct vu_server *s)
{
	if (!s->inflight_map)
		return;
	detach_all(s);
	munmap(s->inflight_map, s->inflight_len);
	s->inflight_map = NULL;
	s->inflight_len = 0;
	s->inflight_base = NULL;
	s->inflight_queue_size = 0;
	s->inflight_nq = 0;
}

int vdev__vu_inflight_set(struct vu_server *s, uint64_t size, uint64_t offset, uint16_t nq,
			  uint16_t qsize, int fd)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), aoff = offset & ~(page - 1), len;
	struct stat st;
	void *p;
	int rc = 0;

	if (!(s->protocol_features & VU_BIT(VU_PF_INFLIGHT_SHMFD)))
		rc = -EPROTO;
	else if (any_running(s))
		rc = -EBUSY;
	else if (check_geometry(s, nq, qsize) || size < nq * queue_region(qsize) ||
		 size > (1ull << 40) || offset > (1ull << 40))
		rc = -EINVAL;
	/* A file shorter than the area would make our accesses SIGBUS. */
	else if (fstat(fd, &st) || (S_ISREG(st.st_mode) &&
		 (st.st_size < 0 || (uint64_t)st.st_size < offset + size)))
		rc = -EINVAL;
	if (rc) {
		vdev__vu_log(s, VDEV_LOG_WARN, "SET_INFLIGHT_FD (%" PRIu64 " bytes at %" PRIu64
			     ", %u queue(s) of %u): %s", size, offset, nq, qsize, vdev_strerror(rc));
		close(fd);
		return rc;
	}
	len = size + (offset - aoff);
	p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)aoff);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	vdev__vu_inflight_drop(s);
	s->inflight_map = p;
	s->inflight_len = (size_t)len;
	s->inflight_base = (uint8_t *)p + (offset - aoff);
	s->inflight_nq = nq;
	s->inflight_queue_size = qsize;
	vdev__vu_log(s, VDEV_LOG_INFO, "inflight area: %u queue(s) of %u descriptors", nq, qsize);
	return 0;
}

void vdev__vu_inflight_attach(struct vu_server *s, unsigned int index)
{
	vdev_vq *vq = vdev_virtio_queue(s->vd, index);

	if (!s->inflight_base || index >= s->inflight_nq) {
		vdev_vq_set_inflight(vq, NULL, 0);
		return;
	}
	vdev_vq_set_inflight(vq, s->inflight_base + index * queue_region(s->inflight_queue_size),
			     (size_t)queue_region(s->inflight_queue_size));
}

/*
 * An orderly stop (GET_VRING_BASE answered): the base we returned counts
 * every request taken as consumed, abandoned ones included, so nothing of
 * this ring is to be resubmitted. Mark its region fresh (version 0): the
 * ring that starts next may be a new one (the guest reset its driver) on
 * which old heads would mean nothing. Only a back end that dies without
 * answering leaves a region to recover from.
 */
void vdev__vu_inflight_retire(struct vu_server *s, unsigned int index)
{
	uint8_t *r;

	if (!s->inflight_base || index >= s->inflight_nq)
		return;
	r = s->inflight_base + index * queue_region(s->inflight_queue_size);
	__atomic_store_n((uint16_t *)(void *)(r + 8), 0, __ATOMIC_RELEASE);
}
