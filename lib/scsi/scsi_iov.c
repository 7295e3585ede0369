/* SPDX-License-Identifier: MIT */
/*
 * The transport's data buffers: sizes, copies in and out at an offset,
 * slices handed to the backend, comparisons, and the two helpers every
 * emulated command uses: vdev__scsi_reply() (parameter data to the
 * initiator, honouring the allocation length and the buffer size) and
 * vdev__scsi_fetch() (a parameter list from the initiator, refusing one
 * that is shorter than the CDB says, without reading past the buffers).
 */
#include <errno.h>
#include <stdlib.h>

#include "scsi/scsi_internal.h"

uint64_t vdev__scsi_iov_total(const struct iovec *iov, unsigned int cnt)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < cnt; i++) {
		if (iov[i].iov_len > UINT64_MAX - n)
			return UINT64_MAX;
		n += iov[i].iov_len;
	}
	return n;
}

/* Find the entry holding byte @off: index, and the offset inside it. */
static unsigned int iov_seek(const struct iovec *iov, unsigned int cnt, uint64_t *off)
{
	unsigned int i = 0;

	while (i < cnt && *off >= iov[i].iov_len) {
		*off -= iov[i].iov_len;
		i++;
	}
	return i;
}

size_t vdev__scsi_iov_from_buf(const struct iovec *iov, unsigned int cnt, uint64_t off,
			       const void *buf, size_t len)
{
	const uint8_t *src = buf;
	size_t done = 0;
	unsigned int i = iov_seek(iov, cnt, &off);

	for (; i < cnt && done < len; i++) {
		size_t n = VDEV__MIN(iov[i].iov_len - (size_t)off, len - done);

		memcpy((uint8_t *)iov[i].iov_base + off, src + done, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t vdev__scsi_iov_to_buf(const struct iovec *iov, unsigned int cnt, uint64_t off, void *buf,
			     size_t len)
{
	uint8_t *dst = buf;
	size_t done = 0;
	unsigned int i = iov_seek(iov, cnt, &off);

	for (; i < cnt && done < len; i++) {
		size_t n = VDEV__MIN(iov[i].iov_len - (size_t)off, len - done);

		memcpy(dst + done, (const uint8_t *)iov[i].iov_base + off, n);
		done += n;
		off = 0;
	}
	return done;
}

int vdev__scsi_iov_slice(struct vdev__scsi_task *t, const struct iovec *src, unsigned int cnt,
			 uint64_t off, uint64_t len)
{
	unsigned int first = iov_seek(src, cnt, &off);
	unsigned int n = 0;
	uint64_t left = len;
	struct iovec *dst;

	/* Count the entries the slice touches. */
	for (unsigned int i = first; i < cnt && left; i++) {
		uint64_t avail = src[i].iov_len - (i == first ? off : 0);

		if (!avail)
			continue;
		left -= VDEV__MIN(avail, left);
		n++;
	}
	if (n <= VDEV__ARRAY_SIZE(t->iov_inline)) {
		dst = t->iov_inline;
	} else {
		dst = calloc(n, sizeof(*dst));
		if (!dst)
			return -ENOMEM;
	}
	if (t->iov && t->iov != t->iov_inline)
		free(t->iov);
	t->iov = dst;
	t->iovcnt = n;
	left = len;
	n = 0;
	for (unsigned int i = first; i < cnt && left; i++) {
		uint64_t skip = i == first ? off : 0;
		uint64_t avail = src[i].iov_len - skip;

		if (!avail)
			continue;
		dst[n].iov_base = (uint8_t *)src[i].iov_base + skip;
		dst[n].iov_len = (size_t)VDEV__MIN(avail, left);
		left -= dst[n].iov_len;
		n++;
	}
	return 0;
}

int64_t vdev__scsi_iov_cmp(const struct iovec *iov, unsigned int cnt, uint64_t off,
			   const uint8_t *buf, size_t len)
{
	size_t done = 0;
	unsigned int i = iov_seek(iov, cnt, &off);

	for (; i < cnt && done < len; i++) {
		size_t n = VDEV__MIN(iov[i].iov_len - (size_t)off, len - done);
		const uint8_t *p = (const uint8_t *)iov[i].iov_base + off;

		if (memcmp(p, buf + done, n)) {
			for (size_t k = 0; k < n; k++)
				if (p[k] != buf[done + k])
					return (int64_t)(done + k);
		}
		done += n;
		off = 0;
	}
	/* The caller made sure the buffers hold @len bytes. */
	return -1;
}

void vdev__scsi_reply(struct vdev__scsi_task *t, const void *buf, size_t len, uint64_t alloc_len)
{
	struct vdev_scsi_req *req = t->req;
	size_t n = (size_t)VDEV__MIN((uint64_t)len, alloc_len);

	t->want = n;
	req->data_in_len = vdev__scsi_iov_from_buf(req->data_in, req->data_in_cnt, 0, buf, n);
}

int vdev__scsi_fetch(struct vdev__scsi_task *t, void *buf, size_t len)
{
	struct vdev_scsi_req *req = t->req;

	t->want = len;
	if (t->out_total < len) {
		/* The initiator sent less than the CDB announced: nothing is read. */
		vdev__scsi_check(t, VDEV_SCSI_SK_ABORTED_COMMAND, SCSI_ASC_DATA_PHASE_ERROR);
		return -1;
	}
	req->data_out_len = vdev__scsi_iov_to_buf(req->data_out, req->data_out_cnt, 0, buf, len);
	return 0;
}
