/* SPDX-License-Identifier: MIT */
/*
 * vfio-user DMA_READ / DMA_WRITE (lib/vfio-user/vfu_dmaio.c): guest RAM
 * mapped WITHOUT an fd, so the server reaches it only through messages it
 * sends the client on the same socket. The server runs on a libuv loop in
 * this thread and never waits for the client: it sends its requests and
 * takes the replies as they come. The CLIENT's socket reader is a second
 * thread: it answers DMA_READ and DMA_WRITE from the client's RAM (as
 * QEMU's proxy thread does), queues replies to the main thread's
 * requests, can hold DMA requests back until the test lets them go (a
 * DMA_WRITE applied only then, as QEMU applies it when it answers), and
 * can misbehave on demand.
 * The message layer and the guest driver are tests/test_vfio_user_util.h;
 * this transport (sends under a lock, a reader thread, replies queued
 * for the waiter) is here.
 * Wire layout of DMA_READ/WRITE (the spec's, and QEMU 11.1's): u64
 * address, u64 count, data at payload offset 16.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
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
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <uv.h>

#include <vdev/block.h>
#include <vdev/scsi.h>
#include <vdev/timer.h>
#include <vdev/vfio_user.h>
#include <vdev/virtio_scsi.h>

#include "mock_vmm.h"
#include "test_vfio_user_util.h"
#include "vdrv.h"
#include "vfio-user/vfu_internal.h"

#define HALF (RAM_SIZE / 2)
#define DISK_BYTES (256u * 512u)

/* How the client's reader thread answers DMA_READ / DMA_WRITE. */
enum mode {
	M_OK,
	M_NO_REPLY,      /* never answers */
	M_WRONG_ID,      /* answers with another id */
	M_WRONG_COUNT,   /* DMA_READ reply names count - 1 */
	M_TRUNCATED,     /* DMA_READ reply carries fewer bytes than asked */
	M_CLOSE,         /* closes the socket instead */
	M_ERROR,         /* answers with an error (EFAULT) */
};

/* A DMA request the reader holds back (cl_release() answers it). */
struct held {
	struct held *next;
	uint8_t h[16];
	uint32_t plen;
	uint8_t p[];
};

struct reply {
	struct reply *next;
	uint16_t id, cmd;
	uint32_t flags, err, len;
	uint8_t p[];
};

struct cl {
	int sock;
	pthread_t th;
	int th_on;
	pthread_mutex_t lock;        /* everything below, and sends on sock */
	struct reply *replies;
	int closed;                  /* the reader saw EOF */
	enum mode mode;
	/* DMA statistics */
	unsigned int n_read, n_write, max_count;
	uint64_t read_bytes, write_bytes;
	/* sent by the reader before it answers the next DMA request (test 3) */
	uint8_t *inject;
	size_t inject_len;
	int inject_on_write;         /* 1: before a DMA_WRITE, 0: before a DMA_READ */
	unsigned int hold_cmds;      /* bit per DMA command held back instead of answered */
	struct held *held;
	unsigned int n_held;
};

struct t {
	struct mock_vmm mv;
	vdev_device *dev;
	vdev_blk *blk;
	uv_loop_t loop;
	vdev_vfio_user *vs;
	char dir[64];
	char path[96];
	char disk[96];
	struct cl c;
	int hold_backend;
	struct vc g;                 /* the client's messages and guest */
};

static struct t *t_of(struct vc *v)
{
	return (struct t *)((char *)v - offsetof(struct t, g));
}

static void pump(struct t *t)
{
	server_pump(&t->loop, t->blk, t->mv.ctx, t->hold_backend);
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the client: sends from any thread, one reader thread ---- */

/* Send all of @len bytes with fds; the caller holds c->lock. @return 0 or -1. */
static int send_locked(struct cl *c, const void *buf, size_t len, const int *fds,
		       unsigned int nfds)
{
	return vc_sendmsg(c->sock, buf, len, fds, nfds);
}

/* The send hook: any thread may send. */
static uint16_t cl_send(struct vc *v, uint16_t cmd, uint32_t flags, const void *payload,
			uint32_t len, const int *fds, unsigned int nfds)
{
	struct cl *c = &t_of(v)->c;
	uint16_t id;
	uint8_t *m;

	pthread_mutex_lock(&c->lock);
	m = vc_msg_build(&v->next_id, cmd, flags, payload, len, &id);
	send_locked(c, m, 16 + len, fds, nfds);
	pthread_mutex_unlock(&c->lock);
	free(m);
	return id;
}

static int read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Answer one DMA_READ / DMA_WRITE from the client's RAM, as c->mode says; c->lock held. */
static void answer_dma(struct t *t, const uint8_t *h, const uint8_t *p, uint32_t plen)
{
	struct cl *c = &t->c;
	uint16_t cmd = get16(h + 2);
	uint64_t gpa = plen >= 16 ? get64(p) : 0;
	uint32_t count = plen >= 16 && !get32(p + 12) ? get32(p + 8) : 0;
	uint8_t *r;
	uint32_t rlen = 0;
	int ok = gpa >= RAM_GPA && gpa - RAM_GPA <= RAM_SIZE && count <= RAM_SIZE - (gpa - RAM_GPA);

	if (c->mode == M_NO_REPLY)
		return;
	if (c->mode == M_CLOSE) {
		shutdown(c->sock, SHUT_RDWR);
		return;
	}
	if (c->mode == M_ERROR)
		ok = 0;
	r = calloc(1, 16 + 16 + count);
	assert_non_null(r);
	memcpy(r, h, 16);
	if (cmd == C_DMA_WRITE) {
		/* The layout check: u64 address, u64 count, data at payload offset 16. */
		ok = ok && plen == 16 + count;
		if (ok)
			memcpy(t->g.ram + (gpa - RAM_GPA), p + 16, count);
		/* QEMU's reply: the header alone. */
	} else if (ok) {
		put64(r + 16, gpa);
		put64(r + 24, c->mode == M_WRONG_COUNT ? count - 1 : count);
		memcpy(r + 32, t->g.ram + (gpa - RAM_GPA), count);
		rlen = 16 + count;
		if (c->mode == M_TRUNCATED)
			rlen = 16 + count / 2;
	}
	put32(r + 4, 16 + (ok ? rlen : 0));
	put32(r + 8, F_REPLY | (ok ? 0 : F_ERROR));
	put32(r + 12, ok ? 0 : EFAULT);
	if (c->mode == M_WRONG_ID)
		put16(r, (uint16_t)(get16(h) + 1));
	send_locked(c, r, 16 + (ok ? rlen : 0), NULL, 0);
	free(r);
}

/* A DMA request arrived: count it, send what is armed, answer it or hold it back. */
static void serve_dma(struct t *t, const uint8_t *h, const uint8_t *p, uint32_t plen)
{
	struct cl *c = &t->c;
	uint16_t cmd = get16(h + 2);
	uint32_t count = plen >= 16 ? get32(p + 8) : 0;

	pthread_mutex_lock(&c->lock);
	if (cmd == C_DMA_READ) {
		c->n_read++;
		c->read_bytes += count;
	} else {
		c->n_write++;
		c->write_bytes += count;
	}
	if (count > c->max_count)
		c->max_count = count;
	if (c->inject && c->inject_on_write == (cmd == C_DMA_WRITE)) {
		send_locked(c, c->inject, c->inject_len, NULL, 0);
		free(c->inject);
		c->inject = NULL;
	}
	if (cmd < 32 && (c->hold_cmds & (1u << cmd))) {
		struct held *e = malloc(sizeof(*e) + plen), **pp;

		assert_non_null(e);
		e->next = NULL;
		memcpy(e->h, h, 16);
		e->plen = plen;
		if (plen)
			memcpy(e->p, p, plen);
		for (pp = &c->held; *pp; pp = &(*pp)->next)
			;
		*pp = e;
		c->n_held++;
	} else {
		answer_dma(t, h, p, plen);
	}
	pthread_mutex_unlock(&c->lock);
}

/* Hold back DMA requests of the commands in @mask from now on (0: answer them again). */
static void cl_hold(struct t *t, unsigned int mask)
{
	pthread_mutex_lock(&t->c.lock);
	t->c.hold_cmds = mask;
	pthread_mutex_unlock(&t->c.lock);
}

static unsigned int cl_held(struct t *t)
{
	unsigned int n;

	pthread_mutex_lock(&t->c.lock);
	n = t->c.n_held;
	pthread_mutex_unlock(&t->c.lock);
	return n;
}

/* Answer the @n oldest requests held back (all: UINT32_MAX), in order; a few at a
 * time, or the socket fills while the server (this thread) is not pumped. */
static void cl_release(struct t *t, unsigned int n)
{
	struct cl *c = &t->c;

	pthread_mutex_lock(&c->lock);
	while (n-- && c->held) {
		struct held *e = c->held;

		c->held = e->next;
		c->n_held--;
		answer_dma(t, e->h, e->p, e->plen);
		free(e);
	}
	pthread_mutex_unlock(&c->lock);
}

static void *reader(void *arg)
{
	struct t *t = arg;
	struct cl *c = &t->c;

	for (;;) {
		uint8_t h[16];
		uint32_t size, len;
		uint8_t *p = NULL;

		if (read_full(c->sock, h, 16))
			break;
		size = get32(h + 4);
		if (size < 16 || size > (2u << 20))
			break;
		len = size - 16;
		if (len) {
			p = malloc(len);
			if (!p || read_full(c->sock, p, len)) {
				free(p);
				break;
			}
		}
		if (get32(h + 8) & F_REPLY) {
			struct reply *r = malloc(sizeof(*r) + len), **pp;

			if (!r) {
				free(p);
				break;
			}
			r->next = NULL;
			r->id = get16(h);
			r->cmd = get16(h + 2);
			r->flags = get32(h + 8);
			r->err = get32(h + 12);
			r->len = len;
			if (len)
				memcpy(r->p, p, len);
			pthread_mutex_lock(&c->lock);
			for (pp = &c->replies; *pp; pp = &(*pp)->next)
				;
			*pp = r;
			pthread_mutex_unlock(&c->lock);
		} else {
			serve_dma(t, h, p, len);
		}
		free(p);
	}
	pthread_mutex_lock(&c->lock);
	c->closed = 1;
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static void cl_connect(struct t *t)
{
	struct cl *c = &t->c;

	c->sock = vc_socket(t->path);
	c->closed = 0;
	c->mode = M_OK;
	assert_int_equal(pthread_create(&c->th, NULL, reader, t), 0);
	c->th_on = 1;
	pump(t);
}

static void cl_close(struct t *t)
{
	struct cl *c = &t->c;

	if (c->sock < 0)
		return;
	shutdown(c->sock, SHUT_RDWR);
	pthread_join(c->th, NULL);
	c->th_on = 0;
	close(c->sock);
	c->sock = -1;
	while (c->replies) {
		struct reply *r = c->replies;

		c->replies = r->next;
		free(r);
	}
	free(c->inject);
	c->inject = NULL;
	while (c->held) {
		struct held *e = c->held;

		c->held = e->next;
		free(e);
	}
	c->n_held = 0;
	c->hold_cmds = 0;
	for (int i = 0; i < 5; i++)
		pump(t);
}

static int cl_is_closed(struct t *t)
{
	int v;

	pthread_mutex_lock(&t->c.lock);
	v = t->c.closed;
	pthread_mutex_unlock(&t->c.lock);
	return v;
}

/* Wait for the reply to @id (pumping the server). @return its errno, 0, or CLOSED. */
static int cl_wait(struct vc *v, uint16_t id, uint16_t cmd, void *out, size_t cap, size_t *len)
{
	struct t *t = t_of(v);

	for (int i = 0; i < 5000; i++) {
		struct reply *r = NULL, **pp;
		int rc;

		pthread_mutex_lock(&t->c.lock);
		for (pp = &t->c.replies; *pp; pp = &(*pp)->next)
			if ((*pp)->id == id) {
				r = *pp;
				*pp = r->next;
				break;
			}
		rc = t->c.closed;
		pthread_mutex_unlock(&t->c.lock);
		if (r) {
			assert_int_equal(r->cmd, cmd);
			assert_true(r->len <= cap);
			if (r->len)
				memcpy(out, r->p, r->len);
			if (len)
				*len = r->len;
			rc = r->flags & F_ERROR ? (int)r->err : 0;
			free(r);
			return rc;
		}
		if (rc)
			return CLOSED;
		pump(t);
		if (i > 50)
			usleep(500);
	}
	fail_msg("no reply to id %u", id);
	return -1;
}

static void cl_version(struct t *t, uint32_t max_xfer)
{
	char json[256];

	snprintf(json, sizeof(json),
		 "{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":%u,"
		 "\"pgsizes\":4096,\"max_dma_maps\":65535}}", max_xfer);
	assert_int_equal(vc_version(&t->g, json, 0, NULL, 0), 0);
}

/* A posted REGION_WRITE message (no reply), built for sending later. */
static uint8_t *posted_write(struct t *t, uint32_t region, uint64_t off, uint64_t v, uint32_t n,
			     size_t *len)
{
	uint8_t m[24];
	uint16_t id;

	put64(m, off);
	put32(m + 8, region);
	put32(m + 12, n);
	put64(m + 16, v);
	*len = 16 + 16 + n;
	return vc_msg_build(&t->g.next_id, C_REGION_WRITE, F_NO_REPLY, m, 16 + n, &id);
}

/*
 * The next used element, as a driver finds it: after the request queue's
 * interrupt (MSI-X vector 1). What the device wrote to fd-less memory
 * reaches the client's RAM with DMA_WRITE, while a used ring in an fd
 * region is visible at once: only the interrupt says both are there.
 */
static int used(struct vc *v, struct vdrv_used *u)
{
	for (int i = 0; i < 4000; i++) {
		if (vc_eventfd_take(v->vec[1]))
			v->irq_seen = 1;
		if (v->irq_seen) {
			int rc = vdrv_get_used(&v->vq, u);

			assert_true(rc >= 0);
			if (rc == 1)
				return 1;
			v->irq_seen = 0;
		}
		pump(t_of(v));
		if (i > 50)
			usleep(500);
	}
	return 0;
}

/* ---- fixture ---- */

static struct t *t_new(void)
{
	struct t *t = calloc(1, sizeof(*t));
	struct vdev_blk_opts bo = { .struct_size = sizeof(bo), .driver = "file" };
	struct vdev_scsi_lun_opts lo = {
		.struct_size = sizeof(lo),
		.type = VDEV_SCSI_LUN_DISK,
		.block_size = 512,
	};
	struct vdev_vfio_user_opts vo = { .struct_size = sizeof(vo) };
	int fd;

	assert_non_null(t);
	pthread_mutex_init(&t->c.lock, NULL);
	t->c.sock = -1;
	assert_int_equal(mock_vmm_init(&t->mv, 4096, 0), 0);
	assert_int_equal(vdev_device_create_kv(t->mv.ctx,
					       "virtio-scsi-pci,num-queues=1,queue-size=64",
					       &t->dev), 0);
	snprintf(t->dir, sizeof(t->dir), "/tmp/vdev-vfud-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->disk, sizeof(t->disk), "%s/disk", t->dir);
	fd = open(t->disk, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DISK_BYTES), 0);
	close(fd);
	bo.path = t->disk;
	assert_int_equal(vdev_blk_open(t->mv.ctx, &bo, &t->blk), 0);
	lo.blk = t->blk;
	assert_int_equal(vdev_scsi_lun_add(vdev_virtio_scsi_bus(t->dev), 0, 0, &lo, NULL), 0);
	assert_int_equal(uv_loop_init(&t->loop), 0);
	snprintf(t->path, sizeof(t->path), "%s/sock", t->dir);
	vo.socket_path = t->path;
	assert_int_equal(vdev_vfio_user_new(t->dev, &t->loop, &vo, &t->vs), 0);
	vc_init(&t->g, "vfud-guest-ram", cl_send, cl_wait, used);
	return t;
}

static void t_free(struct t *t)
{
	cl_close(t);
	vdev_vfio_user_free(t->vs);
	assert_int_equal(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	unlink(t->disk);
	rmdir(t->dir);
	vc_fini(&t->g);
	vdev_device_destroy(t->dev);
	mock_vmm_fini(&t->mv);
	pthread_mutex_destroy(&t->c.lock);
	free(t);
}

static struct vfu_server *srv(struct t *t)
{
	return (struct vfu_server *)t->vs;
}

/* ---- the guest driver, through REGION_READ/WRITE only ---- */

/* MSI-X eventfds and the virtio device up with its rings at @ring_gpa (memory mapped already). */
static void guest_up(struct t *t, uint64_t ring_gpa)
{
	vc_irqs_up(&t->g, 1);
	t->g.mem.next = ring_gpa;
	vc_virtio_up(&t->g, 1);
}

static void pattern(uint8_t *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 13 + seed + (i >> 9));
}

static void disk_put(struct t *t, uint64_t off, const uint8_t *data, size_t n)
{
	int fd = open(t->disk, O_WRONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, data, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static void disk_check(struct t *t, uint64_t off, const uint8_t *want, size_t n)
{
	uint8_t *b = malloc(n);
	int fd = open(t->disk, O_RDONLY | O_CLOEXEC);

	assert_non_null(b);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, b, n, (off_t)off), (ssize_t)n);
	assert_memory_equal(b, want, n);
	close(fd);
	free(b);
}

static void stats(struct t *t, unsigned int *r, unsigned int *w)
{
	pthread_mutex_lock(&t->c.lock);
	*r = t->c.n_read;
	*w = t->c.n_write;
	pthread_mutex_unlock(&t->c.lock);
}

/* Connect, VERSION, all RAM without an fd; the device up with rings at the start of RAM. */
static void up_nofd(struct t *t, uint32_t max_xfer)
{
	cl_connect(t);
	cl_version(t, max_xfer);
	assert_int_equal(vc_dma_map(&t->g, RAM_GPA, RAM_SIZE, 0, -1), 0);
	guest_up(t, RAM_GPA + 0x1000);
	vc_clear_ua(&t->g);
}

/* ---- tests ---- */

/* Pump until the client received every request the server sent (another thread). */
static void settle(struct t *t)
{
	for (int i = 0; i < 2000; i++) {
		unsigned int r, w;

		pump(t);
		stats(t, &r, &w);
		if (r == srv(t)->dma_reads && w == srv(t)->dma_writes && !srv(t)->dma_count)
			return;
		usleep(200);
	}
	fail_msg("DMA requests never settled");
}

/* Pump until the device popped a request (its pulls are answered asynchronously). */
static void until_inflight(struct t *t)
{
	for (int i = 0; i < 4000 && !vdev__vfu_inflight(srv(t)); i++) {
		pump(t);
		usleep(200);
	}
	assert_true(vdev__vfu_inflight(srv(t)));
	settle(t);
}

/* 1. virtio-scsi end to end with all guest RAM behind DMA_READ/WRITE. */
static void test_scsi_all_nofd(void **state)
{
	struct t *t = t_new();
	uint8_t cdb[10], wdata[4096], other[4096];
	unsigned int r0, w0, r1, w1, r2, w2;
	struct vc_cmd c;

	(void)state;
	up_nofd(t, 1u << 20);
	assert_int_equal(vdev_mem_region_count(t->mv.ctx), 1);
	pattern(wdata, sizeof(wdata), 1);
	pattern(other, sizeof(other), 77);
	/* WRITE(10) of 8 blocks at LBA 16: the data reaches the file through DMA_READ. */
	settle(t);
	stats(t, &r0, &w0);
	scsi_cdb_rw10(cdb, 1, 16, 8);
	vc_scsi_ok(&t->g, cdb, wdata, sizeof(wdata), 0, &c);
	settle(t);
	stats(t, &r1, &w1);
	disk_check(t, 16 * 512, wdata, sizeof(wdata));
	/* Overwrite the client's copy of the buffer: READ(10) must bring the disk's data back. */
	scsi_cdb_rw10(cdb, 0, 16, 8);
	vc_scsi_add(&t->g, cdb, NULL, 0, sizeof(other), &c);
	memcpy(vdrv_host(&t->g.mem, c.din), other, sizeof(other));
	vc_wr(&t->g, t->g.notify.bar, vc_notify_off(&t->g, REQQ), REQQ, 2);
	{
		struct vdrv_used u;
		const uint8_t *rp;

		assert_int_equal(vc_used(&t->g, &u), 1);
		assert_int_equal(u.token, c.token);
		rp = vdrv_host(&t->g.mem, c.resp);
		assert_int_equal(rp[10], 0);
	}
	settle(t);
	stats(t, &r2, &w2);
	assert_memory_equal(vdrv_host(&t->g.mem, c.din), wdata, sizeof(wdata));
	/* A second pattern through the other direction too. */
	scsi_cdb_rw10(cdb, 1, 40, 8);
	vc_scsi_ok(&t->g, cdb, other, sizeof(other), 0, &c);
	disk_check(t, 40 * 512, other, sizeof(other));
	print_message("DMA messages: WRITE(10) 4 KiB: %u DMA_READ, %u DMA_WRITE; "
		      "READ(10) 4 KiB: %u DMA_READ, %u DMA_WRITE\n", r1 - r0, w1 - w0, r2 - r1,
		      w2 - w1);
	/* Some reads (rings, header, data) and writes (used ring, response) each way. */
	assert_true(r1 - r0 >= 3);
	assert_true(w1 - w0 >= 2);
	assert_true(r2 - r1 >= 2);
	assert_true(w2 - w1 >= 3);
	settle(t);
	stats(t, &r2, &w2);
	assert_int_equal(srv(t)->dma_reads, r2);
	assert_int_equal(srv(t)->dma_writes, w2);
	assert_int_equal(srv(t)->dma_read_bytes, t->c.read_bytes);
	assert_int_equal(srv(t)->dma_write_bytes, t->c.write_bytes);
	assert_true(vdev_vfio_user_connected(t->vs));
	/* The statistics line at the end of the connection (the guest test greps it). */
	{
		char line[160];

		snprintf(line, sizeof(line), "DMA through messages: %u reads (%llu bytes), %u "
			 "writes (%llu bytes)", r2, (unsigned long long)t->c.read_bytes, w2,
			 (unsigned long long)t->c.write_bytes);
		/* Said once, at the first message; the counts only at the close. */
		assert_true(mock_vmm_log_contains(&t->mv, "DMA through messages: guest memory at"));
		assert_false(mock_vmm_log_contains(&t->mv, line));
		cl_close(t);
		assert_true(mock_vmm_log_contains(&t->mv, line));
	}
	t_free(t);
}

/* 2. Rings in an fd region, buffers in an fd-less one, and the reverse. */
static void mixed(int rings_fd)
{
	struct t *t = t_new();
	uint64_t fd_gpa = rings_fd ? RAM_GPA : RAM_GPA + HALF;
	uint64_t nofd_gpa = rings_fd ? RAM_GPA + HALF : RAM_GPA;
	uint8_t cdb[10], data[2048];
	unsigned int r0, w0, r1, w1;
	struct vc_cmd c;

	cl_connect(t);
	cl_version(t, 1u << 20);
	assert_int_equal(vc_dma_map(&t->g, fd_gpa, HALF, fd_gpa - RAM_GPA, t->g.memfd), 0);
	assert_int_equal(vc_dma_map(&t->g, nofd_gpa, HALF, 0, -1), 0);
	guest_up(t, (rings_fd ? fd_gpa : nofd_gpa) + 0x1000);
	/* Buffers in the other half. */
	t->g.mem.next = (rings_fd ? nofd_gpa : fd_gpa) + 0x1000;
	vc_clear_ua(&t->g);
	pattern(data, sizeof(data), rings_fd ? 5 : 9);
	stats(t, &r0, &w0);
	scsi_cdb_rw10(cdb, 1, 3, 4);
	vc_scsi_ok(&t->g, cdb, data, sizeof(data), 0, &c);
	disk_check(t, 3 * 512, data, sizeof(data));
	scsi_cdb_rw10(cdb, 0, 3, 4);
	vc_scsi_ok(&t->g, cdb, NULL, 0, sizeof(data), &c);
	assert_memory_equal(vdrv_host(&t->g.mem, c.din), data, sizeof(data));
	stats(t, &r1, &w1);
	assert_true(r1 > r0);
	assert_true(w1 > w0);
	t_free(t);
}

static void test_mixed(void **state)
{
	(void)state;
	mixed(1);
	mixed(0);
}

/* Posted 0x3c writes (0x11, 0x22), a doorbell, 0x3c = 0x33, then a REGION_READ of 0x3c. */
static uint8_t *make_batch(struct t *t, uint16_t *rid, size_t *n)
{
	uint8_t *part[5], *out, m[16];
	size_t len[5], at = 0;

	part[0] = posted_write(t, R_CONFIG, 0x3c, 0x11, 1, &len[0]);
	part[1] = posted_write(t, R_CONFIG, 0x3c, 0x22, 1, &len[1]);
	part[2] = posted_write(t, t->g.notify.bar, vc_notify_off(&t->g, REQQ), REQQ, 2, &len[2]);
	part[3] = posted_write(t, R_CONFIG, 0x3c, 0x33, 1, &len[3]);
	put64(m, 0x3c);
	put32(m + 8, R_CONFIG);
	put32(m + 12, 1);
	pthread_mutex_lock(&t->c.lock);
	part[4] = vc_msg_build(&t->g.next_id, C_REGION_READ, 0, m, 16, rid);
	pthread_mutex_unlock(&t->c.lock);
	len[4] = 32;
	*n = len[0] + len[1] + len[2] + len[3] + len[4];
	out = malloc(*n);
	assert_non_null(out);
	for (int i = 0; i < 5; i++) {
		memcpy(out + at, part[i], len[i]);
		at += len[i];
		free(part[i]);
	}
	return out;
}

static void arm(struct t *t, uint8_t *batch, size_t n, int on_write)
{
	pthread_mutex_lock(&t->c.lock);
	free(t->c.inject);
	t->c.inject = batch;
	t->c.inject_len = n;
	t->c.inject_on_write = on_write;
	pthread_mutex_unlock(&t->c.lock);
}

/*
 * 3. Client messages sent while DMA requests are unanswered: posted config
 * writes, a doorbell and a request whose reply the main thread collects,
 * sent by the client just before it answers a DMA_READ (the doorbell's
 * WRITE(10)) or a DMA_WRITE (READ(10)'s block completion): the server
 * simply keeps reading and handles them in order, replies and all.
 */
static void in_order_case(struct t *t, int on_write)
{
	uint8_t cdb[10], data[1024], out[32], *batch;
	struct vdrv_used u;
	size_t n, len = 0;
	struct vc_cmd c;
	uint16_t rid;

	vc_wr(&t->g, R_CONFIG, 0x3c, 0, 1);
	pattern(data, sizeof(data), 3);
	batch = make_batch(t, &rid, &n);
	if (!on_write) {
		arm(t, batch, n, 0);
		scsi_cdb_rw10(cdb, 1, 60, 2);
		vc_scsi_ok(&t->g, cdb, data, sizeof(data), 0, &c);
		disk_check(t, 60 * 512, data, sizeof(data));
	} else {
		t->hold_backend = 1;
		scsi_cdb_rw10(cdb, 0, 60, 2);
		vc_scsi(&t->g, cdb, NULL, 0, sizeof(data), &c);
		arm(t, batch, n, 1);
		t->hold_backend = 0;
		assert_int_equal(vc_used(&t->g, &u), 1);
		assert_int_equal(u.token, c.token);
		assert_memory_equal(vdrv_host(&t->g.mem, c.din), data, sizeof(data));
	}
	/* The batch went out and was handled in order. */
	pthread_mutex_lock(&t->c.lock);
	assert_null(t->c.inject);
	pthread_mutex_unlock(&t->c.lock);
	assert_int_equal(vc_wait(&t->g, rid, C_REGION_READ, out, sizeof(out), &len), 0);
	assert_int_equal(len, 17);
	assert_int_equal(out[16], 0x33);   /* read after all three writes */
	assert_int_equal(vc_rd(&t->g, R_CONFIG, 0x3c, 1), 0x33);
	assert_true(vdev_vfio_user_connected(t->vs));
}

static void test_in_order(void **state)
{
	struct t *t = t_new();

	(void)state;
	up_nofd(t, 1u << 20);
	in_order_case(t, 0);
	in_order_case(t, 1);
	/* The device still works. */
	{
		uint8_t cdb[10], data[512];
		struct vc_cmd c;

		pattern(data, sizeof(data), 42);
		scsi_cdb_rw10(cdb, 1, 70, 1);
		vc_scsi_ok(&t->g, cdb, data, sizeof(data), 0, &c);
		disk_check(t, 70 * 512, data, sizeof(data));
	}
	t_free(t);
}

/*
 * Half a client message in the socket when a completion sends DMA_WRITEs:
 * the rest of it arrives just before the client answers them; the server
 * finishes the message, handles it and takes the replies after it.
 */
static void test_half_message(void **state)
{
	struct t *t = t_new();
	uint8_t cdb[10], *msg;
	size_t len;
	struct vc_cmd c;
	struct vdrv_used u;

	(void)state;
	up_nofd(t, 1u << 20);
	t->hold_backend = 1;
	scsi_cdb_rw10(cdb, 0, 0, 1);
	vc_scsi(&t->g, cdb, NULL, 0, 512, &c);
	until_inflight(t);   /* no DMA reply may split the half message below */
	assert_int_equal(vdrv_get_used(&t->g.vq, &u), 0);
	msg = posted_write(t, R_CONFIG, 0x3c, 0x5a, 1, &len);
	pthread_mutex_lock(&t->c.lock);
	assert_int_equal(send_locked(&t->c, msg, 10, NULL, 0), 0);   /* 10 of 33 bytes */
	pthread_mutex_unlock(&t->c.lock);
	for (int i = 0; i < 5; i++)
		pump(t);
	assert_int_equal(srv(t)->rx.len, 10);
	/* The rest goes out just before the reader answers the completion's DMA_WRITE. */
	pthread_mutex_lock(&t->c.lock);
	t->c.inject = malloc(len - 10);
	assert_non_null(t->c.inject);
	memcpy(t->c.inject, msg + 10, len - 10);
	t->c.inject_len = len - 10;
	t->c.inject_on_write = 1;
	pthread_mutex_unlock(&t->c.lock);
	free(msg);
	t->hold_backend = 0;
	assert_int_equal(vc_used(&t->g, &u), 1);
	assert_int_equal(u.token, c.token);
	assert_int_equal(vc_rd(&t->g, R_CONFIG, 0x3c, 1), 0x5a);
	assert_true(vdev_vfio_user_connected(t->vs));
	t_free(t);
}

/* The server serves a fresh client after a drop: fd-backed this time. */
static void next_client_works(struct t *t)
{
	uint8_t cdb[10], data[512];
	struct vc_cmd c;

	cl_close(t);
	assert_false(vdev_vfio_user_connected(t->vs));
	cl_connect(t);
	cl_version(t, 1u << 20);
	assert_int_equal(vc_dma_map(&t->g, RAM_GPA, RAM_SIZE, 0, t->g.memfd), 0);
	guest_up(t, RAM_GPA + 0x1000);
	vc_clear_ua(&t->g);
	pattern(data, sizeof(data), 99);
	scsi_cdb_rw10(cdb, 1, 90, 1);
	vc_scsi_ok(&t->g, cdb, data, sizeof(data), 0, &c);
	disk_check(t, 90 * 512, data, sizeof(data));
}

/*
 * 4. A client that misbehaves with its replies: dropped (from the loop),
 * never hung; no reply at all (or only replies with unknown ids) is
 * dropped after the DMA timeout, shortened here.
 */
static void hostile(enum mode mode, uint32_t timeout_ms)
{
	struct t *t = t_new();
	uint8_t cdb[10], block[512], *msg;
	size_t len;
	uint64_t t0;
	struct vc_cmd c;

	up_nofd(t, 1u << 20);
	srv(t)->dma_timeout_ms = timeout_ms;
	mock_vmm_clear_events(&t->mv);
	pthread_mutex_lock(&t->c.lock);
	t->c.mode = mode;
	pthread_mutex_unlock(&t->c.lock);
	scsi_cdb_rw10(cdb, 1, 0, 1);
	memset(block, 0x6b, sizeof(block));
	vc_scsi_add(&t->g, cdb, block, sizeof(block), 0, &c);
	/* The doorbell as QEMU sends it: posted. The device pulls the ring: DMA_READ. */
	msg = posted_write(t, t->g.notify.bar, vc_notify_off(&t->g, REQQ), REQQ, 2, &len);
	pthread_mutex_lock(&t->c.lock);
	send_locked(&t->c, msg, len, NULL, 0);
	pthread_mutex_unlock(&t->c.lock);
	free(msg);
	t0 = ms_now();
	for (int i = 0; i < 400 && vdev_vfio_user_connected(t->vs); i++) {
		pump(t);
		usleep(1000);
	}
	assert_false(vdev_vfio_user_connected(t->vs));
	if (mode == M_NO_REPLY || mode == M_WRONG_ID)
		assert_true(ms_now() - t0 >= timeout_ms);
	else
		assert_true(ms_now() - t0 < timeout_ms);   /* not the timeout: the reply was bad */
	if (mode == M_CLOSE)
		assert_true(mock_vmm_log_contains(&t->mv, "connection closed: client closed"));
	else
		assert_true(mock_vmm_log_contains(&t->mv, "dropping the connection"));
	if (mode == M_NO_REPLY || mode == M_WRONG_ID)
		assert_true(mock_vmm_log_contains(&t->mv, "no reply in 200 ms"));
	if (mode == M_WRONG_COUNT)
		assert_true(mock_vmm_log_contains(&t->mv, "another address or count"));
	if (mode == M_TRUNCATED)
		assert_true(mock_vmm_log_contains(&t->mv, "wrong amount of data"));
	if (mode == M_WRONG_ID)
		assert_true(mock_vmm_log_contains(&t->mv, "answers nothing we asked"));
	/* The client sees the end of the connection. */
	for (int i = 0; i < 1000 && !cl_is_closed(t); i++)
		usleep(1000);
	assert_true(cl_is_closed(t));
	assert_int_equal(vdev_mem_region_count(t->mv.ctx), 0);
	next_client_works(t);
	t_free(t);
}

static void test_hostile(void **state)
{
	(void)state;
	hostile(M_NO_REPLY, 200);
	hostile(M_WRONG_ID, 200);
	hostile(M_WRONG_COUNT, 5000);
	hostile(M_TRUNCATED, 5000);
	hostile(M_CLOSE, 5000);
}

/*
 * An error reply fails that access - the queue reports its guest memory
 * unreachable - not the connection.
 */
static void test_error_reply(void **state)
{
	struct t *t = t_new();
	uint8_t cdb[10] = { 0 }, out[64], m[16] = { 16 };
	struct vc_cmd c;

	(void)state;
	up_nofd(t, 1u << 20);
	mock_vmm_clear_events(&t->mv);
	pthread_mutex_lock(&t->c.lock);
	t->c.mode = M_ERROR;
	pthread_mutex_unlock(&t->c.lock);
	vc_scsi(&t->g, cdb, NULL, 0, 0, &c);
	for (int i = 0; i < 20; i++)
		pump(t);
	assert_true(mock_vmm_log_contains(&t->mv, "client refused DMA_READ"));
	assert_true(mock_vmm_log_contains(&t->mv, "guest-memory-unreachable"));
	assert_int_equal(srv(t)->dma_out_reads, 0);
	assert_true(vdev_vfio_user_connected(t->vs));
	assert_int_equal(vc_call(&t->g, C_GET_INFO, m, 16, NULL, 0, out, sizeof(out), NULL), 0);
	assert_false(cl_is_closed(t));
	t_free(t);
}

/* 5. DMA_UNMAP of an fd-less region with a request in flight waits like the fd case. */
static void test_unmap_waits(void **state)
{
	struct t *t = t_new();
	uint8_t cdb[10], out[64], want[4096];
	struct vdrv_used u;
	struct vc_cmd c;
	uint16_t id;

	(void)state;
	up_nofd(t, 1u << 20);
	pattern(want, sizeof(want), 7);
	disk_put(t, 0, want, sizeof(want));
	t->hold_backend = 1;
	scsi_cdb_rw10(cdb, 0, 0, 8);
	vc_scsi(&t->g, cdb, NULL, 0, sizeof(want), &c);
	until_inflight(t);
	assert_int_equal(vdrv_get_used(&t->g.vq, &u), 0);
	id = vc_dma_unmap_send(&t->g, RAM_GPA, RAM_SIZE, 0);
	for (int i = 0; i < 50; i++) {
		pump(t);
		usleep(200);
	}
	pthread_mutex_lock(&t->c.lock);
	assert_null(t->c.replies);                         /* the reply waits */
	pthread_mutex_unlock(&t->c.lock);
	assert_int_equal(vdev_mem_region_count(t->mv.ctx), 1);
	t->hold_backend = 0;
	assert_int_equal(vc_wait(&t->g, id, C_DMA_UNMAP, out, sizeof(out), NULL), 0);
	/* The completion reached the client's RAM before the region went. */
	assert_int_equal(vdrv_get_used(&t->g.vq, &u), 1);
	assert_int_equal(u.token, c.token);
	assert_memory_equal(vdrv_host(&t->g.mem, c.din), want, sizeof(want));
	assert_int_equal(vdev_mem_region_count(t->mv.ctx), 0);
	assert_int_equal(vc_rd(&t->g, R_CONFIG, 0, 2), 0x1af4);
	t_free(t);
}

/* 6. The client's max_data_xfer_size splits large copies. */
static void test_split(void **state)
{
	struct t *t = t_new();
	uint8_t cdb[10], data[32 * 512];
	unsigned int r0, w0, r1, w1, r2, w2;
	struct vc_cmd c;

	(void)state;
	up_nofd(t, 4096);
	pattern(data, sizeof(data), 11);
	stats(t, &r0, &w0);
	scsi_cdb_rw10(cdb, 1, 100, 32);
	vc_scsi_ok(&t->g, cdb, data, sizeof(data), 0, &c);
	stats(t, &r1, &w1);
	disk_check(t, 100 * 512, data, sizeof(data));
	scsi_cdb_rw10(cdb, 0, 100, 32);
	vc_scsi_ok(&t->g, cdb, NULL, 0, sizeof(data), &c);
	stats(t, &r2, &w2);
	assert_memory_equal(vdrv_host(&t->g.mem, c.din), data, sizeof(data));
	print_message("16 KiB at 4 KiB per message: WRITE(10) %u DMA_READ, READ(10) %u "
		      "DMA_WRITE; largest %u bytes\n", r1 - r0, w2 - w1, t->c.max_count);
	/* 16 KiB of data: at least 4 messages each way, none above 4096 bytes. */
	assert_true(r1 - r0 >= 4 + 1);
	assert_true(w2 - w1 >= 4 + 1);
	assert_true(t->c.max_count <= 4096);
	assert_int_equal(t->c.max_count, 4096);
	t_free(t);
}

/* No socket (the fuzz server): the hooks fail at once. */
static void test_no_socket(void **state)
{
	struct t *t = t_new();
	struct vdev__mem_remote ops = vdev__vfu_remote_tmpl;
	uint8_t b[16] = { 0 };

	(void)state;
	ops.opaque = srv(t);
	assert_int_equal(ops.fetch(ops.opaque, RAM_GPA, sizeof(b), 1), -ENOTCONN);
	assert_int_equal(ops.write(ops.opaque, RAM_GPA, b, sizeof(b)), -ENOTCONN);
	assert_int_equal(srv(t)->dma_count, 0);
	t_free(t);
}

/* Pump until the server's outstanding DMA_WRITEs drop to @n. */
static void writes_down_to(struct t *t, uint32_t n)
{
	for (int i = 0; i < 2000 && srv(t)->dma_out_writes != n; i++) {
		pump(t);
		usleep(200);
	}
	assert_int_equal(srv(t)->dma_out_writes, n);
}

/*
 * 7. Interrupt ordering: while a DMA_WRITE is unanswered the MSI-X
 * interrupt of the completion is held - the guest would look at a used
 * ring the client has not written yet - and it goes out right after the
 * last reply. With nothing outstanding, interrupts go at once.
 */
static void test_irq_held(void **state)
{
	struct t *t = t_new();
	uint8_t cdb[10], want[4096];
	struct vdrv_used u;
	unsigned int held;
	struct vc_cmd c;

	(void)state;
	up_nofd(t, 1u << 20);
	pattern(want, sizeof(want), 21);
	disk_put(t, 0, want, sizeof(want));
	settle(t);
	vc_eventfd_take(t->g.vec[1]);
	t->g.irq_seen = 0;
	cl_hold(t, 1u << C_DMA_WRITE);
	scsi_cdb_rw10(cdb, 0, 0, 8);
	vc_scsi(&t->g, cdb, NULL, 0, sizeof(want), &c);
	/* Completed on the server's side: every write sent and held by the client. */
	for (int i = 0; i < 4000; i++) {
		pump(t);
		if (!vdev__vfu_inflight(srv(t)) && srv(t)->dma_out_writes &&
		    cl_held(t) == srv(t)->dma_out_writes && !srv(t)->dma_out_reads)
			break;
		usleep(200);
	}
	assert_false(vdev__vfu_inflight(srv(t)));
	held = cl_held(t);
	assert_true(held >= 3);   /* data, response, used ring */
	assert_int_equal(srv(t)->dma_out_writes, held);
	for (int i = 0; i < 20; i++)
		pump(t);
	/* Nothing in the client's RAM yet, and no interrupt. */
	assert_int_equal(vdrv_get_used(&t->g.vq, &u), 0);
	assert_false(vc_eventfd_take(t->g.vec[1]));
	/* All replies but the last: still held. */
	cl_release(t, held - 1);
	writes_down_to(t, 1);
	for (int i = 0; i < 20; i++)
		pump(t);
	assert_false(vc_eventfd_take(t->g.vec[1]));
	/* The last one: the interrupt goes, and the data is there when it does. */
	cl_hold(t, 0);
	cl_release(t, UINT32_MAX);
	writes_down_to(t, 0);
	assert_true(vc_eventfd_take(t->g.vec[1]));
	assert_int_equal(vdrv_get_used(&t->g.vq, &u), 1);
	assert_int_equal(u.token, c.token);
	assert_memory_equal(vdrv_host(&t->g.mem, c.din), want, sizeof(want));
	print_message("READ(10) 4 KiB completion: interrupt held behind %u DMA_WRITEs\n", held);
	/* Nothing held now: the next completion's interrupt comes (used() waits for it). */
	scsi_cdb_rw10(cdb, 1, 8, 1);
	vc_scsi_ok(&t->g, cdb, want, 512, 0, &c);
	writes_down_to(t, 0);
	assert_false(srv(t)->irq_hold);
	t_free(t);
}

/*
 * 8. The server never waits for the client: with a DMA_READ unanswered
 * (the device cannot pop the request yet), the client's config reads are
 * answered; once the reads are answered the request completes.
 */
static void test_no_wait(void **state)
{
	struct t *t = t_new();
	uint8_t cdb[10], data[512], *msg;
	struct vdrv_used u;
	size_t len;
	struct vc_cmd c;

	(void)state;
	up_nofd(t, 1u << 20);
	settle(t);
	cl_hold(t, 1u << C_DMA_READ);
	pattern(data, sizeof(data), 4);
	scsi_cdb_rw10(cdb, 1, 5, 1);
	vc_scsi_add(&t->g, cdb, data, sizeof(data), 0, &c);
	msg = posted_write(t, t->g.notify.bar, vc_notify_off(&t->g, REQQ), REQQ, 2, &len);
	pthread_mutex_lock(&t->c.lock);
	send_locked(&t->c, msg, len, NULL, 0);
	pthread_mutex_unlock(&t->c.lock);
	free(msg);
	for (int i = 0; i < 2000 && !cl_held(t); i++) {
		pump(t);
		usleep(200);
	}
	assert_true(cl_held(t) > 0);
	assert_true(srv(t)->dma_out_reads > 0);
	assert_int_equal(vc_rd(&t->g, R_CONFIG, 0, 2), 0x1af4);
	assert_int_equal(vc_rd(&t->g, R_CONFIG, 2, 2), 0x1048);
	assert_int_equal(vdrv_get_used(&t->g.vq, &u), 0);
	assert_true(srv(t)->dma_out_reads > 0);
	cl_hold(t, 0);
	cl_release(t, UINT32_MAX);
	assert_int_equal(vc_used(&t->g, &u), 1);
	assert_int_equal(u.token, c.token);
	disk_check(t, 5 * 512, data, sizeof(data));
	t_free(t);
}

/*
 * 9. At most VFU_DMA_MAX_READS DMA_READs unanswered: the fetch hook says
 * -EAGAIN beyond (one fetch larger than that still goes, alone); the
 * core's unknown tags are ignored when the data arrives.
 */
static void test_read_bound(void **state)
{
	struct t *t = t_new();
	struct vdev__mem_remote ops = vdev__vfu_remote_tmpl;
	const uint64_t tag = UINT64_MAX - 9;

	(void)state;
	up_nofd(t, 4096);
	settle(t);
	ops.opaque = srv(t);
	cl_hold(t, 1u << C_DMA_READ);
	assert_int_equal(ops.fetch(ops.opaque, RAM_GPA, (VFU_DMA_MAX_READS + 4) * 4096u, tag), 0);
	assert_int_equal(srv(t)->dma_out_reads, VFU_DMA_MAX_READS + 4);
	assert_int_equal(ops.fetch(ops.opaque, RAM_GPA, 1, tag + 1), -EAGAIN);
	/* Writes are never refused: the data is copied out at once. */
	assert_int_equal(ops.write(ops.opaque, RAM_GPA + RAM_SIZE - 8, "abcdefgh", 8), 0);
	for (int i = 0; i < 2000 && cl_held(t) < VFU_DMA_MAX_READS + 4; i++) {
		pump(t);
		usleep(200);
	}
	assert_int_equal(cl_held(t), VFU_DMA_MAX_READS + 4);
	cl_release(t, 8);
	for (int i = 0; i < 2000 && srv(t)->dma_out_reads > VFU_DMA_MAX_READS - 4; i++) {
		pump(t);
		usleep(200);
	}
	assert_int_equal(srv(t)->dma_out_reads, VFU_DMA_MAX_READS - 4);
	assert_int_equal(ops.fetch(ops.opaque, RAM_GPA, 4 * 4096, tag + 2), 0);
	assert_int_equal(ops.fetch(ops.opaque, RAM_GPA, 1, tag + 3), -EAGAIN);
	cl_hold(t, 0);
	for (int i = 0; i < 2000 && cl_held(t); i++) {
		cl_release(t, 8);
		pump(t);
	}
	settle(t);
	assert_int_equal(srv(t)->dma_out_reads, 0);
	assert_memory_equal(t->g.ram + RAM_SIZE - 8, "abcdefgh", 8);
	assert_true(vdev_vfio_user_connected(t->vs));
	t_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scsi_all_nofd),
		cmocka_unit_test(test_mixed),
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_half_message),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_error_reply),
		cmocka_unit_test(test_unmap_waits),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_no_socket),
		cmocka_unit_test(test_irq_held),
		cmocka_unit_test(test_no_wait),
		cmocka_unit_test(test_read_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
