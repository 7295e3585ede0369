/* SPDX-License-Identifier: MIT */
/*
 * An in-test vhost-user FRONT END, written from QEMU's
 * docs/interop/vhost-user.rst: guest RAM in a memfd it shares, eventfds
 * for kicks and calls, and the message sequence QEMU's vhost-user-scsi
 * sends (features, protocol features, memory table, per ring: num, base,
 * addr, kick, call, enable). Rings are built with vdrv in the memfd
 * mapping; SCSI commands are laid out as VIRTIO 1.2 §5.6.6.1 says.
 *
 * The server may run in this process (a pump callback runs its libuv
 * loop and the backends) or in another one (the daemon test): replies are
 * waited for with a pump-and-poll loop either way.
 */
#ifndef VDEV_TESTS_TEST_VHOST_USER_UTIL_H
#define VDEV_TESTS_TEST_VHOST_USER_UTIL_H

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "scsi_cdb.h"
#include "vdrv.h"

#define FE_UNUSED __attribute__((unused))

#define FE_GET_FEATURES 1
#define FE_SET_FEATURES 2
#define FE_SET_OWNER 3
#define FE_RESET_OWNER 4
#define FE_SET_MEM_TABLE 5
#define FE_SET_LOG_BASE 6
#define FE_SET_LOG_FD 7
#define FE_SET_VRING_NUM 8
#define FE_SET_VRING_ADDR 9
#define FE_SET_VRING_BASE 10
#define FE_GET_VRING_BASE 11
#define FE_SET_VRING_KICK 12
#define FE_SET_VRING_CALL 13
#define FE_SET_VRING_ERR 14
#define FE_GET_PROTOCOL_FEATURES 15
#define FE_SET_PROTOCOL_FEATURES 16
#define FE_GET_QUEUE_NUM 17
#define FE_SET_VRING_ENABLE 18
#define FE_GET_CONFIG 24
#define FE_SET_CONFIG 25
#define FE_RESET_DEVICE 34

#define FE_NEED_REPLY (1u << 3)
#define FE_PF_MQ (1ull << 0)
#define FE_PF_LOG_SHMFD (1ull << 1)
#define FE_PF_REPLY_ACK (1ull << 3)
#define FE_PF_CONFIG (1ull << 9)
#define FE_F_LOG_ALL (1ull << 26)
#define FE_F_PROTOCOL (1ull << 30)
#define FE_F_V1 (1ull << 32)
#define FE_F_INDIRECT (1ull << 28)
#define FE_F_HOTPLUG (1ull << 1)

#define FE_MAXQ 4
#define FE_RAM_GPA 0x40000000ull
#define FE_RAM_SIZE (4u << 20)
#define FE_QSIZE 64u

struct fe {
	int sock;
	int memfd;
	uint8_t *ram;
	struct vdrv_mem mem;
	struct vdrv_vq vq[FE_MAXQ];
	unsigned int nq;
	int kick[FE_MAXQ];
	int call[FE_MAXQ];
	uint64_t features;      /* virtio part acked */
	uint64_t pfeatures;     /* protocol features acked */
	void (*pump)(void *arg);
	void *pump_arg;
	uint64_t next_tag;
};

static FE_UNUSED void fe_pump(struct fe *f)
{
	if (f->pump)
		f->pump(f->pump_arg);
}

/* Connect to @path (the server may need a pump to accept). */
static FE_UNUSED void fe_connect(struct fe *f, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	f->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->sock >= 0);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(connect(f->sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fe_pump(f);
}

static FE_UNUSED void fe_ram_init(struct fe *f)
{
	f->memfd = memfd_create("fe-guest-ram", MFD_CLOEXEC);
	assert_true(f->memfd >= 0);
	assert_int_equal(ftruncate(f->memfd, FE_RAM_SIZE), 0);
	f->ram = mmap(NULL, FE_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	assert_true(f->ram != MAP_FAILED);
	/* vdrv's base is the host address of gpa 0: RAM starts at FE_RAM_GPA. */
	vdrv_mem_init(&f->mem, f->ram - FE_RAM_GPA, FE_RAM_GPA + 0x1000, FE_RAM_GPA + FE_RAM_SIZE);
	for (unsigned int i = 0; i < FE_MAXQ; i++)
		f->kick[i] = f->call[i] = -1;
}

static FE_UNUSED void fe_fini(struct fe *f)
{
	for (unsigned int i = 0; i < f->nq; i++)
		vdrv_vq_fini(&f->vq[i]);
	for (unsigned int i = 0; i < FE_MAXQ; i++) {
		if (f->kick[i] >= 0)
			close(f->kick[i]);
		if (f->call[i] >= 0)
			close(f->call[i]);
	}
	if (f->sock >= 0)
		close(f->sock);
	munmap(f->ram, FE_RAM_SIZE);
	close(f->memfd);
}

static FE_UNUSED void fe_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static FE_UNUSED void fe_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static FE_UNUSED uint32_t fe_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static FE_UNUSED uint64_t fe_get64(const uint8_t *p)
{
	return (uint64_t)fe_get32(p) | ((uint64_t)fe_get32(p + 4) << 32);
}

/* Send a raw message: header fields as given (size may lie). @return 0 or -errno. */
static FE_UNUSED int fe_send_raw(struct fe *f, uint32_t req, uint32_t flags, uint32_t size,
				 const void *payload, size_t len, const int *fds, unsigned int nfds)
{
	uint8_t buf[12 + 8192];
	union {
		char b[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = buf, .iov_len = 12 + len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	assert_true(len <= 8192 && nfds <= 16);
	fe_put32(buf, req);
	fe_put32(buf + 4, flags);
	fe_put32(buf + 8, size);
	if (len)
		memcpy(buf + 12, payload, len);
	if (nfds) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	if (sendmsg(f->sock, &mh, MSG_NOSIGNAL) != (ssize_t)(12 + len))
		return -errno;
	return 0;
}

static FE_UNUSED int fe_send(struct fe *f, uint32_t req, uint32_t flags, const void *payload,
			     uint32_t len, const int *fds, unsigned int nfds)
{
	return fe_send_raw(f, req, flags | 1u, len, payload, len, fds, nfds);
}

/*
 * Wait for a reply to @req; copy its payload into @buf (up to @cap).
 * @return the payload size; -EPIPE if the server closed the connection;
 * -ETIMEDOUT.
 */
static FE_UNUSED int fe_recv(struct fe *f, uint32_t req, void *buf, size_t cap, int *fd)
{
	uint8_t b[12 + 512];
	union {
		char c[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} u;

	for (int i = 0; i < 5000; i++) {
		struct iovec iov = { .iov_base = b, .iov_len = sizeof(b) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		struct pollfd pfd = { .fd = f->sock, .events = POLLIN };
		ssize_t n;

		fe_pump(f);
		mh.msg_control = u.c;
		mh.msg_controllen = sizeof(u.c);
		n = recvmsg(f->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n == 0)
			return -EPIPE;
		if (n < 0 && errno != EAGAIN)
			return -EPIPE;
		if (n < 0) {
			poll(&pfd, 1, f->pump ? 0 : 2);
			continue;
		}
		/* Replies are small and sent in one piece. */
		assert_true(n >= 12);
		assert_int_equal(fe_get32(b), req);
		assert_int_equal(fe_get32(b + 4) & 7u, 5u); /* version 1, reply */
		assert_int_equal(fe_get32(b + 8), (uint32_t)n - 12);
		memcpy(buf, b + 12, (size_t)n - 12 < cap ? (size_t)n - 12 : cap);
		if (fd) {
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

			*fd = -1;
			if (c && c->cmsg_type == SCM_RIGHTS)
				memcpy(fd, CMSG_DATA(c), sizeof(int));
		}
		return (int)(n - 12);
	}
	return -ETIMEDOUT;
}

/* @return 1 if the server has closed the connection (after pumping), else 0. */
static FE_UNUSED int fe_closed(struct fe *f)
{
	for (int i = 0; i < 200; i++) {
		uint8_t b[64];
		struct pollfd pfd = { .fd = f->sock, .events = POLLIN };
		ssize_t n;

		fe_pump(f);
		n = recv(f->sock, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			return 1;
		if (n > 0)
			fail_msg("unexpected %zd bytes from the server", n);
		poll(&pfd, 1, f->pump ? 0 : 2);
	}
	return 0;
}

static FE_UNUSED uint64_t fe_get_u64(struct fe *f, uint32_t req)
{
	uint8_t b[8];

	assert_int_equal(fe_send(f, req, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(fe_recv(f, req, b, 8, NULL), 8);
	return fe_get64(b);
}

/* Send with NEED_REPLY and return the ack value (0 = success). */
static FE_UNUSED uint64_t fe_ack(struct fe *f, uint32_t req, const void *payload, uint32_t len,
				 const int *fds, unsigned int nfds)
{
	uint8_t b[8];

	assert_int_equal(fe_send(f, req, FE_NEED_REPLY, payload, len, fds, nfds), 0);
	assert_int_equal(fe_recv(f, req, b, 8, NULL), 8);
	return fe_get64(b);
}

static FE_UNUSED uint64_t fe_ack_u64(struct fe *f, uint32_t req, uint64_t v)
{
	uint8_t b[8];

	fe_put64(b, v);
	return fe_ack(f, req, b, 8, NULL, 0);
}

static FE_UNUSED uint64_t fe_ack_state(struct fe *f, uint32_t req, uint32_t index, uint32_t num)
{
	uint8_t b[8];

	fe_put32(b, index);
	fe_put32(b + 4, num);
	return fe_ack(f, req, b, 8, NULL, 0);
}

static FE_UNUSED uint64_t fe_uva(struct fe *f, uint64_t gpa)
{
	return (uint64_t)(uintptr_t)vdrv_host(&f->mem, gpa);
}

/* SET_MEM_TABLE with the one memfd region. @return the ack. */
static FE_UNUSED uint64_t fe_mem_table(struct fe *f)
{
	uint8_t p[8 + 32] = { 0 };

	fe_put32(p, 1);
	fe_put64(p + 8, FE_RAM_GPA);
	fe_put64(p + 16, FE_RAM_SIZE);
	fe_put64(p + 24, (uint64_t)(uintptr_t)f->ram);
	fe_put64(p + 32, 0);
	return fe_ack(f, FE_SET_MEM_TABLE, p, sizeof(p), &f->memfd, 1);
}

/* Negotiate features (PROTOCOL + @want) and protocol features (MQ, REPLY_ACK, CONFIG + @pf). */
static FE_UNUSED void fe_negotiate(struct fe *f, uint64_t want, uint64_t pf)
{
	uint64_t offered = fe_get_u64(f, FE_GET_FEATURES), pof;
	uint8_t b[8];

	assert_true(offered & FE_F_PROTOCOL);
	assert_true((offered & want) == want);
	fe_put64(b, want | FE_F_PROTOCOL);
	assert_int_equal(fe_send(f, FE_SET_FEATURES, 0, b, 8, NULL, 0), 0);
	pof = fe_get_u64(f, FE_GET_PROTOCOL_FEATURES);
	pf |= FE_PF_MQ | FE_PF_REPLY_ACK | FE_PF_CONFIG;
	assert_true((pof & pf) == pf);
	fe_put64(b, pf);
	assert_int_equal(fe_send(f, FE_SET_PROTOCOL_FEATURES, 0, b, 8, NULL, 0), 0);
	f->features = want;
	f->pfeatures = pf;
	assert_int_equal(fe_ack(f, FE_SET_OWNER, NULL, 0, NULL, 0), 0);
}

/* Ring @q: num, base, addr (front-end virtual addresses), kick, call, enable. */
static FE_UNUSED void fe_ring(struct fe *f, unsigned int q, uint32_t base, int fresh)
{
	uint8_t a[40] = { 0 };
	uint8_t b[8];

	if (fresh) {
		if (q < f->nq)
			vdrv_vq_fini(&f->vq[q]);
		assert_int_equal(vdrv_vq_init(&f->vq[q], &f->mem, FE_QSIZE, f->features | FE_F_V1), 0);
		if (q >= f->nq)
			f->nq = q + 1;
		if (f->kick[q] < 0)
			f->kick[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (f->call[q] < 0)
			f->call[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	}
	assert_int_equal(fe_ack_state(f, FE_SET_VRING_NUM, q, FE_QSIZE), 0);
	assert_int_equal(fe_ack_state(f, FE_SET_VRING_BASE, q, base), 0);
	fe_put32(a, q);
	fe_put64(a + 8, fe_uva(f, f->vq[q].desc_gpa));
	fe_put64(a + 16, fe_uva(f, f->vq[q].device_gpa));
	fe_put64(a + 24, fe_uva(f, f->vq[q].driver_gpa));
	assert_int_equal(fe_ack(f, FE_SET_VRING_ADDR, a, 40, NULL, 0), 0);
	fe_put64(b, q);
	assert_int_equal(fe_ack(f, FE_SET_VRING_KICK, b, 8, &f->kick[q], 1), 0);
	assert_int_equal(fe_ack(f, FE_SET_VRING_CALL, b, 8, &f->call[q], 1), 0);
	assert_int_equal(fe_ack_state(f, FE_SET_VRING_ENABLE, q, 1), 0);
}

/* GET_VRING_BASE of ring @q. @return the base. */
static FE_UNUSED uint32_t fe_get_base(struct fe *f, unsigned int q)
{
	uint8_t b[8];

	fe_put32(b, q);
	fe_put32(b + 4, 0);
	assert_int_equal(fe_send(f, FE_GET_VRING_BASE, 0, b, 8, NULL, 0), 0);
	assert_int_equal(fe_recv(f, FE_GET_VRING_BASE, b, 8, NULL), 8);
	assert_int_equal(fe_get32(b), q);
	return fe_get32(b + 4);
}

static FE_UNUSED void fe_kick(struct fe *f, unsigned int q)
{
	uint64_t one = 1;

	assert_int_equal(write(f->kick[q], &one, 8), 8);
}

/* @return the call eventfd's count (0 if not signalled). */
static FE_UNUSED uint64_t fe_calls(struct fe *f, unsigned int q)
{
	uint64_t v = 0;

	if (read(f->call[q], &v, 8) != 8)
		return 0;
	return v;
}

/* A SCSI command (§5.6.6.1) on request queue @q: cdb, data out/in. @return the token. */
struct fe_cmd {
	uint64_t token;
	uint64_t resp;   /* gpa of the 108-byte response */
	uint64_t din;
	uint32_t din_len;
};

static FE_UNUSED void fe_scsi(struct fe *f, unsigned int q, unsigned int target,
			      unsigned int lun, const uint8_t *cdb, unsigned int cdb_len,
			      const void *dout, uint32_t dout_len, uint32_t din_len,
			      struct fe_cmd *c)
{
	struct vdrv_seg s[4];
	unsigned int n = 0;
	uint64_t h = vdrv_alloc(&f->mem, 51, 8);
	uint8_t *hp = vdrv_host(&f->mem, h);

	assert_true(h != VDRV_NOMEM);
	memset(hp, 0, 51);
	hp[0] = 1;
	hp[1] = (uint8_t)target;
	hp[2] = (uint8_t)(0x40 | (lun >> 8));
	hp[3] = (uint8_t)lun;
	fe_put64(hp + 8, ++f->next_tag);
	memcpy(hp + 19, cdb, cdb_len);
	s[n++] = (struct vdrv_seg){ h, 51, 0 };
	if (dout_len) {
		uint64_t d = vdrv_alloc(&f->mem, dout_len, 8);

		memcpy(vdrv_host(&f->mem, d), dout, dout_len);
		s[n++] = (struct vdrv_seg){ d, dout_len, 0 };
	}
	c->resp = vdrv_alloc(&f->mem, 108, 8);
	memset(vdrv_host(&f->mem, c->resp), 0xee, 108);
	s[n++] = (struct vdrv_seg){ c->resp, 108, 1 };
	c->din_len = din_len;
	c->din = 0;
	if (din_len) {
		c->din = vdrv_alloc(&f->mem, din_len, 8);
		s[n++] = (struct vdrv_seg){ c->din, din_len, 1 };
	}
	c->token = f->next_tag;
	assert_true(vdrv_add(&f->vq[q], s, n, 0, c->token) >= 0);
	vdrv_publish(&f->vq[q]);
	fe_kick(f, q);
}

/* Collect a used buffer of ring @q, pumping. @return 1 with *u, 0 if none came. */
static FE_UNUSED int fe_used(struct fe *f, unsigned int q, struct vdrv_used *u, int tries)
{
	for (int i = 0; i < tries; i++) {
		int rc = vdrv_get_used(&f->vq[q], u);

		assert_true(rc >= 0);
		if (rc == 1)
			return 1;
		fe_pump(f);
		if (!f->pump)
			usleep(1000);
	}
	return 0;
}

/* The SCSI status byte and response code of a completed command. */
static FE_UNUSED void fe_resp(struct fe *f, const struct fe_cmd *c, uint8_t *status,
			      uint8_t *response)
{
	const uint8_t *r = vdrv_host(&f->mem, c->resp);

	*status = r[10];
	*response = r[11];
}

#endif
