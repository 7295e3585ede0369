/* SPDX-License-Identifier: MIT */
/*
 * Dirty logging for migration (vhost-user.rst, "Migration"): while the
 * front end has VHOST_F_LOG_ALL set, every guest page the device writes
 * (buffers and used rings) is marked in a shared bitmap the front end
 * gave with SET_LOG_BASE (LOG_SHMFD: an fd, a size and an offset), one
 * bit per 4 KiB page by guest-physical address. The marking itself is
 * the core memory map's (vdev__mem_dirty_log_external()): every device
 * write goes through that map already.
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vhost-user/vu_internal.h"

/* Largest log we map: enough for 2^40 pages of guest RAM (4 PiB). */
#define VU_LOG_MAX (1ull << 37)

static void log_apply(struct vu_server *s)
{
	if (s->log_on && s->log)
		vdev__mem_dirty_log_external(s->ctx, s->log, s->log_size);
	else
		vdev__mem_dirty_log_external(s->ctx, NULL, 0);
}

void vdev__vu_log_drop(struct vu_server *s)
{
	s->log_on = false;
	log_apply(s);
	if (s->log_map)
		munmap(s->log_map, s->log_len);
	s->log_map = NULL;
	s->log = NULL;
	s->log_len = 0;
	s->log_size = 0;
}

int vdev__vu_log_set_base(struct vu_server *s, uint64_t size, uint64_t offset, int fd)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), aoff = offset & ~(page - 1);
	bool on = s->log_on;
	void *p;

	if (!size || size > VU_LOG_MAX || offset > VU_LOG_MAX || fd < 0) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	p = mmap(NULL, (size_t)(size + (offset - aoff)), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)aoff);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	vdev__vu_log_drop(s);
	s->log_map = p;
	s->log_len = (size_t)(size + (offset - aoff));
	s->log = (uint8_t *)p + (offset - aoff);
	s->log_size = size;
	s->log_on = on;
	log_apply(s);
	return 0;
}

int vdev__vu_log_enable(struct vu_server *s, bool on)
{
	if (on != s->log_on)
		vdev__vu_log(s, VDEV_LOG_INFO, "dirty logging %s%s", on ? "on" : "off",
			     on && !s->log ? " (no log area yet)" : "");
	s->log_on = on;
	log_apply(s);
	return 0;
}
