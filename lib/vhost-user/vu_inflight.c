/* SPDX-License-Identifier: MIT */
/*
 * Inflight shared memory (GET/SET_INFLIGHT_FD): not implemented yet. The
 * protocol feature is not offered, so a conforming front end never sends
 * these; one that does gets a refusal.
 */
#include <errno.h>
#include <unistd.h>

#include "vhost-user/vu_internal.h"

int vdev__vu_inflight_get(struct vu_server *s, uint16_t nq, uint16_t qsize, uint64_t *size,
			  int *fd)
{
	(void)s;
	(void)nq;
	(void)qsize;
	*size = 0;
	*fd = -1;
	return -ENOTSUP;
}

int vdev__vu_inflight_set(struct vu_server *s, uint64_t size, uint64_t offset, uint16_t nq,
			  uint16_t qsize, int fd)
{
	(void)s;
	(void)size;
	(void)offset;
	(void)nq;
	(void)qsize;
	if (fd >= 0)
		close(fd);
	return -ENOTSUP;
}

void vdev__vu_inflight_drop(struct vu_server *s)
{
	(void)s;
}
