/* SPDX-License-Identifier: MIT */
/*
 * Shared CLIENT side of the vfio-user tests (tests/test_vfio_user*.c),
 * written from QEMU's docs/devel/vfio-user.rst, not from lib/vfio-user:
 * the wire constants, message framing, VERSION, REGION_READ/WRITE,
 * DMA_MAP/UNMAP, SET_IRQS, and a virtio-scsi-pci guest driver that reaches
 * config space and BARs only through REGION_READ/WRITE (capability walk,
 * MSI-X or INTx, device and request-queue bring-up, SCSI requests laid out
 * as VIRTIO 1.2 §5.6.6.1 says).
 *
 * How messages travel is the test file's business (one test reads the
 * socket in its own thread, the other in the waiting one): struct vc has
 * hooks to send a message, wait for its reply, and take the next used
 * element; everything here goes through them.
 */
#ifndef VDEV_TESTS_TEST_VFIO_USER_UTIL_H
#define VDEV_TESTS_TEST_VFIO_USER_UTIL_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>
#include <uv.h>

#include <vdev/block.h>
#include <vdev/timer.h>

#include "scsi_cdb.h"
#include "test_server_pump.h"
#include "vdrv.h"

#define VC_UNUSED __attribute__((unused))

/* Wire constants, from the spec (not from the library's private header). */
enum {
	C_VERSION = 1, C_DMA_MAP, C_DMA_UNMAP, C_GET_INFO, C_REGION_INFO, C_REGION_IO_FDS,
	C_IRQ_INFO, C_SET_IRQS, C_REGION_READ, C_REGION_WRITE, C_DMA_READ, C_DMA_WRITE,
	C_RESET, C_DIRTY, C_WRITE_MULTI, C_FEATURE, C_MIG_READ, C_MIG_WRITE,
};
#define F_REPLY 0x1u
#define F_NO_REPLY 0x10u
#define F_ERROR 0x20u
#define R_CONFIG 7u
#define IRQ_INTX 0u
#define IRQ_MSIX 2u
#define IRQ_DATA_NONE 1u
#define IRQ_DATA_BOOL 2u
#define IRQ_DATA_EVENTFD 4u
#define IRQ_TRIGGER 32u
/* What a wait hook returns when the server closed the connection. */
#define CLOSED (-1000)

/* The guest: RAM_SIZE bytes at RAM_GPA, one request queue of QSZ entries. */
#define RAM_GPA 0x100000000ull
#define RAM_SIZE (2u << 20)
#define QSZ 64u
#define REQQ 2u
#define NVEC 4u

/* A virtio-pci structure: BAR and offset (VIRTIO 1.2 §4.1.4). */
struct vc_cap {
	uint8_t bar;
	uint32_t off;
};

/* One SCSI request in guest RAM: its token, response and data-in buffers. */
struct vc_cmd {
	uint64_t token, resp, din;
};

struct vc;

/* Send one message; @return its id. */
typedef uint16_t vc_send_fn(struct vc *v, uint16_t cmd, uint32_t flags, const void *payload,
			    uint32_t len, const int *fds, unsigned int nfds);
/*
 * Wait for the reply to @id, pumping the server. @return the errno of an
 * error reply, 0, or CLOSED; the payload to @out (at most @cap bytes; *len
 * its size when @len is not NULL).
 */
typedef int vc_wait_fn(struct vc *v, uint16_t id, uint16_t cmd, void *out, size_t cap,
		       size_t *len);
/* The request queue's next used element (1), pumping the server; 0 if none comes. */
typedef int vc_used_fn(struct vc *v, struct vdrv_used *u);

/* The client: the test file's transport (vc_init), message ids, the guest driver's state. */
struct vc {
	vc_send_fn *send;
	vc_wait_fn *wait;
	vc_used_fn *used;
	uint16_t next_id;            /* the last message id sent */
	/* guest side */
	int memfd;
	uint8_t *ram;
	struct vdrv_mem mem;
	struct vdrv_vq vq;
	int vec[NVEC];               /* eventfds: MSI-X vectors, or INTx on vec[0] */
	struct vc_cap common, notify, isr;
	uint32_t notify_mult;
	uint8_t msix_cap;
	uint64_t tag;
	int irq_seen;                /* for a used hook that waits for the interrupt */
};

/* ---- little-endian fields ---- */

static VC_UNUSED void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static VC_UNUSED void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static VC_UNUSED void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static VC_UNUSED uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static VC_UNUSED uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static VC_UNUSED uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* ---- the message layer ---- */

/* A connected stream socket to @path. */
static VC_UNUSED int vc_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Send all of @len bytes, the fds with the first part. @return 0 or -1. */
static VC_UNUSED int vc_sendmsg(int sock, const void *buf, size_t len, const int *fds,
				unsigned int nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} u;
	const uint8_t *p = buf;

	assert_true(nfds <= 16);
	while (len) {
		struct iovec iov = { .iov_base = (void *)(uintptr_t)p, .iov_len = len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (nfds) {
			struct cmsghdr *cm;

			memset(&u, 0, sizeof(u));
			mh.msg_control = u.b;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
		}
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		nfds = 0;
	}
	return 0;
}

/* A message with the next id of @next_id (16-byte header, then @payload); the caller frees it. */
static VC_UNUSED uint8_t *vc_msg_build(uint16_t *next_id, uint16_t cmd, uint32_t flags,
				       const void *payload, uint32_t len, uint16_t *id)
{
	uint8_t *m = malloc(16 + len);

	assert_non_null(m);
	*id = ++*next_id;
	put16(m, *id);
	put16(m + 2, cmd);
	put32(m + 4, 16 + len);
	put32(m + 8, flags);
	put32(m + 12, 0);
	if (len)
		memcpy(m + 16, payload, len);
	return m;
}

static VC_UNUSED uint16_t vc_send(struct vc *v, uint16_t cmd, uint32_t flags,
				  const void *payload, uint32_t len, const int *fds,
				  unsigned int nfds)
{
	return v->send(v, cmd, flags, payload, len, fds, nfds);
}

static VC_UNUSED int vc_wait(struct vc *v, uint16_t id, uint16_t cmd, void *out, size_t cap,
			     size_t *len)
{
	return v->wait(v, id, cmd, out, cap, len);
}

static VC_UNUSED int vc_used(struct vc *v, struct vdrv_used *u)
{
	return v->used(v, u);
}

/* Send and wait for the reply (@out NULL: a payload of up to 64 bytes is dropped). */
static VC_UNUSED int vc_call(struct vc *v, uint16_t cmd, const void *payload, uint32_t len,
			     const int *fds, unsigned int nfds, void *out, size_t cap,
			     size_t *olen)
{
	uint8_t dummy[64];
	uint16_t id = vc_send(v, cmd, 0, payload, len, fds, nfds);

	if (!out) {
		out = dummy;
		cap = sizeof(dummy);
	}
	return vc_wait(v, id, cmd, out, cap, olen);
}

/*
 * VERSION with @json as the capabilities, major @major, minor 0. With
 * @reply, the server's JSON goes there (at most @cap bytes, NUL included).
 */
static VC_UNUSED int vc_version(struct vc *v, const char *json, uint16_t major, char *reply,
				size_t cap)
{
	uint8_t m[512];
	size_t n = strlen(json) + 1, rlen = 0;
	int rc;

	assert_true(4 + n <= sizeof(m));
	put16(m, major);
	put16(m + 2, 0);
	memcpy(m + 4, json, n);
	rc = vc_call(v, C_VERSION, m, (uint32_t)(4 + n), NULL, 0, m, sizeof(m), &rlen);
	if (!rc && reply) {
		assert_true(rlen > 4 && rlen - 4 < cap);
		assert_int_equal(m[0] | m[1] << 8, 0);
		assert_int_equal(m[2] | m[3] << 8, 0);
		memcpy(reply, m + 4, rlen - 4);
		assert_int_equal(reply[rlen - 5], '\0');
	}
	return rc;
}

/* REGION_READ / REGION_WRITE of @count (<= 256) bytes. @return the reply's errno or 0. */
static VC_UNUSED int vc_region_rw(struct vc *v, int write, uint32_t region, uint64_t off,
				  void *buf, uint32_t count)
{
	uint8_t m[16 + 256], out[16 + 4096];
	size_t len = 0;
	int rc;

	assert_true(count <= 256);
	put64(m, off);
	put32(m + 8, region);
	put32(m + 12, count);
	if (write) {
		memcpy(m + 16, buf, count);
		return vc_call(v, C_REGION_WRITE, m, 16 + count, NULL, 0, out, sizeof(out), &len);
	}
	rc = vc_call(v, C_REGION_READ, m, 16, NULL, 0, out, sizeof(out), &len);
	if (!rc) {
		assert_int_equal(len, 16 + count);
		assert_int_equal(get32(out + 12), count);
		memcpy(buf, out + 16, count);
	}
	return rc;
}

static VC_UNUSED uint64_t vc_rd(struct vc *v, uint32_t region, uint64_t off, uint32_t n)
{
	uint8_t b[8] = { 0 };

	assert_int_equal(vc_region_rw(v, 0, region, off, b, n), 0);
	return get64(b);
}

static VC_UNUSED void vc_wr(struct vc *v, uint32_t region, uint64_t off, uint64_t val,
			    uint32_t n)
{
	uint8_t b[8];

	put64(b, val);
	assert_int_equal(vc_region_rw(v, 1, region, off, b, n), 0);
}

/* DMA_MAP of [iova, +size), read and write: with @fd at @off, or without an fd (fd < 0). */
static VC_UNUSED int vc_dma_map(struct vc *v, uint64_t iova, uint64_t size, uint64_t off,
				int fd)
{
	uint8_t m[32];

	put32(m, 32);
	put32(m + 4, 3);
	put64(m + 8, off);
	put64(m + 16, iova);
	put64(m + 24, size);
	return vc_call(v, C_DMA_MAP, m, sizeof(m), &fd, fd >= 0, NULL, 0, NULL);
}

/* DMA_UNMAP sent, not waited for. @return its id. */
static VC_UNUSED uint16_t vc_dma_unmap_send(struct vc *v, uint64_t iova, uint64_t size,
					    uint32_t flags)
{
	uint8_t m[24];

	put32(m, 24);
	put32(m + 4, flags);
	put64(m + 8, iova);
	put64(m + 16, size);
	return vc_send(v, C_DMA_UNMAP, 0, m, sizeof(m), NULL, 0);
}

static VC_UNUSED int vc_set_irqs(struct vc *v, uint32_t index, uint32_t flags, uint32_t start,
				 uint32_t count, const int *fds, unsigned int nfds)
{
	uint8_t m[20];

	put32(m, 20);
	put32(m + 4, flags);
	put32(m + 8, index);
	put32(m + 12, start);
	put32(m + 16, count);
	return vc_call(v, C_SET_IRQS, m, sizeof(m), fds, nfds, NULL, 0, NULL);
}

/* ---- the guest ---- */

/*
 * The client's hooks; guest RAM in a memfd (named @name), allocations from
 * RAM_GPA + 4 KiB; NVEC eventfds.
 */
static VC_UNUSED void vc_init(struct vc *v, const char *name, vc_send_fn *send,
			      vc_wait_fn *wait, vc_used_fn *used)
{
	v->send = send;
	v->wait = wait;
	v->used = used;
	v->memfd = memfd_create(name, MFD_CLOEXEC);
	assert_true(v->memfd >= 0);
	assert_int_equal(ftruncate(v->memfd, RAM_SIZE), 0);
	v->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, v->memfd, 0);
	assert_true(v->ram != MAP_FAILED);
	vdrv_mem_init(&v->mem, v->ram - RAM_GPA, RAM_GPA + 0x1000, RAM_GPA + RAM_SIZE);
	for (unsigned int i = 0; i < NVEC; i++) {
		v->vec[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(v->vec[i] >= 0);
	}
}

static VC_UNUSED void vc_fini(struct vc *v)
{
	if (v->vq.size)
		vdrv_vq_fini(&v->vq);
	for (unsigned int i = 0; i < NVEC; i++)
		close(v->vec[i]);
	munmap(v->ram, RAM_SIZE);
	close(v->memfd);
}

/* Drain eventfd @fd: the count it held (0: not signalled). */
static VC_UNUSED uint64_t vc_eventfd_take(int fd)
{
	uint64_t n = 0;

	if (read(fd, &n, 8) != 8)
		return 0;
	return n;
}

/* Walk the capability list (as a guest does) for virtio-pci structures and MSI-X. */
static VC_UNUSED void vc_find_caps(struct vc *v)
{
	uint8_t ptr = (uint8_t)vc_rd(v, R_CONFIG, 0x34, 1);

	memset(&v->common, 0, sizeof(v->common));
	memset(&v->notify, 0, sizeof(v->notify));
	memset(&v->isr, 0, sizeof(v->isr));
	v->msix_cap = 0;
	for (int n = 0; n < 48 && ptr; n++) {
		uint8_t id = (uint8_t)vc_rd(v, R_CONFIG, ptr, 1);

		if (id == 0x11)
			v->msix_cap = ptr;
		if (id == 0x09) {
			uint8_t type = (uint8_t)vc_rd(v, R_CONFIG, ptr + 3u, 1);
			struct vc_cap c = { (uint8_t)vc_rd(v, R_CONFIG, ptr + 4u, 1),
					    (uint32_t)vc_rd(v, R_CONFIG, ptr + 8u, 4) };

			if (type == 1 && !v->common.off)
				v->common = c;
			if (type == 2 && !v->notify.off) {
				v->notify = c;
				v->notify_mult = (uint32_t)vc_rd(v, R_CONFIG, ptr + 16u, 4);
			}
			if (type == 3 && !v->isr.off)
				v->isr = c;
		}
		ptr = (uint8_t)vc_rd(v, R_CONFIG, ptr + 1u, 1);
	}
	assert_true(v->common.off || v->common.bar);
	assert_true(v->notify.off || v->notify.bar);
	assert_int_not_equal(v->msix_cap, 0);
}

/* The common configuration structure (VIRTIO 1.2 §4.1.4.3). */
static VC_UNUSED uint64_t vc_cc_rd(struct vc *v, uint32_t off, uint32_t n)
{
	return vc_rd(v, v->common.bar, v->common.off + off, n);
}

static VC_UNUSED void vc_cc_wr(struct vc *v, uint32_t off, uint64_t val, uint32_t n)
{
	vc_wr(v, v->common.bar, v->common.off + off, val, n);
}

/*
 * Find the capabilities; memory decoding and bus mastering; MSI-X on with
 * every vector on its eventfd (PCI 3.0 §6.8.2.3), or (@msix 0) INTx on vec[0].
 */
static VC_UNUSED void vc_irqs_up(struct vc *v, int msix)
{
	uint16_t ctl;

	vc_find_caps(v);
	vc_wr(v, R_CONFIG, 0x04, 0x0006, 2);
	ctl = (uint16_t)vc_rd(v, R_CONFIG, v->msix_cap + 2u, 2);
	assert_int_equal((ctl & 0x7ff) + 1u, NVEC);
	if (msix) {
		vc_wr(v, R_CONFIG, v->msix_cap + 2u, ctl | 0x8000, 2);
		assert_int_equal(vc_set_irqs(v, IRQ_MSIX, IRQ_DATA_EVENTFD | IRQ_TRIGGER, 0, NVEC,
					     v->vec, NVEC), 0);
	} else {
		assert_int_equal(vc_set_irqs(v, IRQ_INTX, IRQ_DATA_EVENTFD | IRQ_TRIGGER, 0, 1,
					     v->vec, 1), 0);
	}
}

/*
 * The virtio device up (VIRTIO 1.2 §3.1.1) with VERSION_1 only, the config
 * vector 0 and the request queue on MSI-X vector @qvec (0xffff: none), its
 * rings allocated at v->mem.next.
 */
static VC_UNUSED void vc_virtio_up(struct vc *v, uint16_t qvec)
{
	vc_cc_wr(v, 0x14, 0, 1);                      /* reset */
	assert_int_equal(vc_cc_rd(v, 0x14, 1), 0);
	vc_cc_wr(v, 0x14, 1 | 2, 1);                  /* ACKNOWLEDGE | DRIVER */
	vc_cc_wr(v, 0x00, 1, 4);
	assert_true(vc_cc_rd(v, 0x04, 4) & 1);        /* VERSION_1 offered */
	vc_cc_wr(v, 0x08, 1, 4);
	vc_cc_wr(v, 0x0c, 1, 4);                      /* accept VERSION_1 only */
	vc_cc_wr(v, 0x08, 0, 4);
	vc_cc_wr(v, 0x0c, 0, 4);
	vc_cc_wr(v, 0x14, 1 | 2 | 8, 1);
	assert_int_equal(vc_cc_rd(v, 0x14, 1), 1 | 2 | 8);
	if (v->vq.size)
		vdrv_vq_fini(&v->vq);
	memset(&v->vq, 0, sizeof(v->vq));
	assert_int_equal(vdrv_vq_init(&v->vq, &v->mem, QSZ, 1ull << 32), 0);
	vc_cc_wr(v, 0x10, 0, 2);                      /* config vector 0 */
	vc_cc_wr(v, 0x16, REQQ, 2);
	vc_cc_wr(v, 0x18, QSZ, 2);
	vc_cc_wr(v, 0x1a, qvec, 2);
	assert_int_equal(vc_cc_rd(v, 0x1a, 2), qvec);
	vc_cc_wr(v, 0x20, v->vq.desc_gpa, 4);
	vc_cc_wr(v, 0x24, v->vq.desc_gpa >> 32, 4);
	vc_cc_wr(v, 0x28, v->vq.driver_gpa, 4);
	vc_cc_wr(v, 0x2c, v->vq.driver_gpa >> 32, 4);
	vc_cc_wr(v, 0x30, v->vq.device_gpa, 4);
	vc_cc_wr(v, 0x34, v->vq.device_gpa >> 32, 4);
	vc_cc_wr(v, 0x1c, 1, 2);
	vc_cc_wr(v, 0x14, 1 | 2 | 4 | 8, 1);          /* DRIVER_OK */
}

/* Queue @q's doorbell: its offset in the notify BAR (VIRTIO 1.2 §4.1.4.4). */
static VC_UNUSED uint32_t vc_notify_off(struct vc *v, uint32_t q)
{
	vc_cc_wr(v, 0x16, q, 2);
	return v->notify.off + (uint32_t)vc_cc_rd(v, 0x1e, 2) * v->notify_mult;
}

static VC_UNUSED void vc_kick(struct vc *v, uint32_t q)
{
	vc_wr(v, v->notify.bar, vc_notify_off(v, q), q, 2);
}

/*
 * A SCSI command on the request queue (VIRTIO 1.2 §5.6.6.1: header,
 * data-out, response, data-in), buffers allocated at v->mem.next; published,
 * not kicked. One request at a time: an interrupt from before says nothing
 * about this one, so the request queue's vector is drained first.
 */
static VC_UNUSED void vc_scsi_add(struct vc *v, const uint8_t *cdb, const void *dout,
				  uint32_t dout_len, uint32_t din_len, struct vc_cmd *c)
{
	struct vdrv_seg s[4];
	unsigned int n = 0;
	uint64_t h = vdrv_alloc(&v->mem, 51, 8);
	uint8_t *hp;

	assert_true(h != VDRV_NOMEM);
	hp = vdrv_host(&v->mem, h);
	hp[0] = 1;
	hp[2] = 0x40;
	put64(hp + 8, ++v->tag);
	memcpy(hp + 19, cdb, 10);
	s[n++] = (struct vdrv_seg){ h, 51, 0 };
	if (dout_len) {
		uint64_t d = vdrv_alloc(&v->mem, dout_len, 8);

		memcpy(vdrv_host(&v->mem, d), dout, dout_len);
		s[n++] = (struct vdrv_seg){ d, dout_len, 0 };
	}
	c->resp = vdrv_alloc(&v->mem, 108, 8);
	memset(vdrv_host(&v->mem, c->resp), 0xee, 108);
	s[n++] = (struct vdrv_seg){ c->resp, 108, 1 };
	c->din = 0;
	if (din_len) {
		c->din = vdrv_alloc(&v->mem, din_len, 8);
		s[n++] = (struct vdrv_seg){ c->din, din_len, 1 };
	}
	c->token = v->tag;
	vc_eventfd_take(v->vec[1]);
	v->irq_seen = 0;
	assert_true(vdrv_add(&v->vq, s, n, 0, c->token) >= 0);
	vdrv_publish(&v->vq);
}

/* The same, kicked. */
static VC_UNUSED void vc_scsi(struct vc *v, const uint8_t *cdb, const void *dout,
			      uint32_t dout_len, uint32_t din_len, struct vc_cmd *c)
{
	vc_scsi_add(v, cdb, dout, dout_len, din_len, c);
	vc_kick(v, REQQ);
}

/* Run a command to completion: VIRTIO_SCSI_S_OK, status GOOD. */
static VC_UNUSED void vc_scsi_ok(struct vc *v, const uint8_t *cdb, const void *dout,
				 uint32_t dout_len, uint32_t din_len, struct vc_cmd *c)
{
	struct vdrv_used u;
	const uint8_t *r;

	vc_scsi(v, cdb, dout, dout_len, din_len, c);
	assert_int_equal(vc_used(v, &u), 1);
	assert_int_equal(u.token, c->token);
	r = vdrv_host(&v->mem, c->resp);
	assert_int_equal(r[11], 0);   /* VIRTIO_SCSI_S_OK */
	assert_int_equal(r[10], 0);   /* GOOD */
}

/* TEST UNIT READY until GOOD: the power-on unit attention comes first (SAM-5 §5.14). */
static VC_UNUSED void vc_clear_ua(struct vc *v)
{
	uint8_t cdb[10] = { 0 };
	struct vdrv_used u;
	struct vc_cmd c;

	for (int i = 0; i < 3; i++) {
		vc_scsi(v, cdb, NULL, 0, 0, &c);
		assert_int_equal(vc_used(v, &u), 1);
		if (((const uint8_t *)vdrv_host(&v->mem, c.resp))[10] == 0)
			return;
	}
	fail_msg("TEST UNIT READY never GOOD");
}

#endif
