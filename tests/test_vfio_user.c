/* SPDX-License-Identifier: MIT */
/*
 * vfio-user server (lib/vfio-user) against an in-test CLIENT written from
 * QEMU's docs/devel/vfio-user.rst: a real UNIX socket, guest RAM in a
 * memfd passed with DMA_MAP, MSI-X eventfds passed with SET_IRQS, and a
 * virtio-scsi-pci device driven the way a guest driver behind QEMU's
 * vfio-user-pci would: config space and BARs only through REGION_READ /
 * REGION_WRITE. The server runs on a libuv loop in this thread; the client
 * pumps it while it waits for replies. The message layer and the guest
 * driver are tests/test_vfio_user_util.h; the transport (one thread, no
 * reader) is here.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
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

struct t {
	struct mock_vmm mv;
	vdev_device *dev;
	vdev_blk *blk;
	uv_loop_t loop;
	vdev_vfio_user *vs;
	char dir[64];
	char path[96];
	int sock;                    /* the client's */
	int hold_backend;
	int resets;
	struct vc g;                 /* the client's messages and guest */
};

static struct t *t_of(struct vc *v)
{
	return (struct t *)((char *)v - offsetof(struct t, g));
}

static void t_event(void *opaque, enum vdev_vfio_user_event ev)
{
	struct t *t = opaque;

	t->resets += ev == VDEV_VFIO_USER_RESET;
}

static void pump(struct t *t)
{
	server_pump(&t->loop, t->blk, t->mv.ctx, t->hold_backend);
}

/* ---- the client's transport: this thread sends, and reads while it waits ---- */

static void cl_connect(struct t *t)
{
	t->sock = vc_socket(t->path);
	pump(t);
}

static void cl_close(struct t *t)
{
	if (t->sock >= 0)
		close(t->sock);
	t->sock = -1;
	for (int i = 0; i < 5; i++)
		pump(t);
}

/* Send raw bytes with fds. */
static void cl_send_raw(struct t *t, const void *buf, size_t len, const int *fds, unsigned int nfds)
{
	assert_int_equal(vc_sendmsg(t->sock, buf, len, fds, nfds), 0);
}

static uint16_t cl_send(struct vc *v, uint16_t cmd, uint32_t flags, const void *payload,
			uint32_t len, const int *fds, unsigned int nfds)
{
	uint16_t id;
	uint8_t *m = vc_msg_build(&v->next_id, cmd, flags, payload, len, &id);

	cl_send_raw(t_of(v), m, 16 + len, fds, nfds);
	free(m);
	return id;
}

/* Is a reply (or EOF) waiting? */
static int cl_readable(struct t *t)
{
	struct pollfd p = { .fd = t->sock, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

/* The wait hook: pump until the reply is in the socket, read it, check its header. */
static int cl_wait(struct vc *v, uint16_t id, uint16_t cmd, void *out, size_t cap, size_t *len)
{
	struct t *t = t_of(v);
	uint8_t h[16];
	uint32_t size, flags;
	ssize_t n;

	for (int i = 0; i < 2000 && !cl_readable(t); i++) {
		pump(t);
		if (i > 100)
			usleep(1000);
	}
	n = recv(t->sock, h, sizeof(h), MSG_WAITALL);
	if (n == 0 || (n < 0 && errno == ECONNRESET))
		return CLOSED;
	assert_int_equal(n, 16);
	assert_int_equal(h[0] | h[1] << 8, id);
	assert_int_equal(h[2] | h[3] << 8, cmd);
	size = get32(h + 4);
	flags = get32(h + 8);
	assert_true(flags & F_REPLY);
	assert_true(size >= 16);
	assert_true(size - 16 <= cap);
	if (size > 16)
		assert_int_equal(recv(t->sock, out, size - 16, MSG_WAITALL), (ssize_t)(size - 16));
	if (len)
		*len = size - 16;
	if (flags & F_ERROR) {
		assert_int_equal(size, 16);
		assert_int_not_equal(get32(h + 12), 0);
		return (int)get32(h + 12);
	}
	return 0;
}

/* The used hook: poll the used ring, pumping the server. */
static int used(struct vc *v, struct vdrv_used *u)
{
	for (int i = 0; i < 200; i++) {
		int rc = vdrv_get_used(&v->vq, u);

		assert_true(rc >= 0);
		if (rc == 1)
			return 1;
		pump(t_of(v));
	}
	return 0;
}

static const char qemu_caps[] =
	"{\"capabilities\":{\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":268435456},"
	"\"max_msg_fds\":16,\"max_data_xfer_size\":1048576,\"pgsizes\":4096,"
	"\"max_dma_maps\":65535,\"write_multiple\":true}}";

/* ---- fixture ---- */

static struct t *t_new(const char *spec)
{
	struct t *t = calloc(1, sizeof(*t));
	struct vdev_blk_opts bo = {
		.struct_size = sizeof(bo),
		.driver = "memory",
		.size = 256 * 512,
	};
	struct vdev_scsi_lun_opts lo = {
		.struct_size = sizeof(lo),
		.type = VDEV_SCSI_LUN_DISK,
		.block_size = 512,
	};
	struct vdev_vfio_user_opts vo = { .struct_size = sizeof(vo) };

	assert_non_null(t);
	assert_int_equal(mock_vmm_init(&t->mv, 4096, 0), 0);
	assert_int_equal(vdev_device_create_kv(t->mv.ctx, spec, &t->dev), 0);
	if (vdev_virtio_scsi_bus(t->dev)) {
		assert_int_equal(vdev_blk_open(t->mv.ctx, &bo, &t->blk), 0);
		lo.blk = t->blk;
		assert_int_equal(vdev_scsi_lun_add(vdev_virtio_scsi_bus(t->dev), 0, 0, &lo, NULL),
				 0);
	}
	assert_int_equal(uv_loop_init(&t->loop), 0);
	snprintf(t->dir, sizeof(t->dir), "/tmp/vdev-vfu-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/sock", t->dir);
	vo.socket_path = t->path;
	vo.event = t_event;
	vo.opaque = t;
	assert_int_equal(vdev_vfio_user_new(t->dev, &t->loop, &vo, &t->vs), 0);
	t->sock = -1;
	vc_init(&t->g, "vfu-guest-ram", cl_send, cl_wait, used);
	return t;
}

static void t_free(struct t *t)
{
	cl_close(t);
	vdev_vfio_user_free(t->vs);
	assert_int_equal(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	assert_int_not_equal(access(t->path, F_OK), 0);
	rmdir(t->dir);
	vc_fini(&t->g);
	vdev_device_destroy(t->dev);
	mock_vmm_fini(&t->mv);
	free(t);
}

static void t_connect(struct t *t)
{
	cl_connect(t);
	assert_int_equal(vc_version(&t->g, qemu_caps, 0, NULL, 0), 0);
	assert_true(vdev_vfio_user_connected(t->vs));
}

/* ---- the guest driver, through REGION_READ/WRITE only ---- */

/* Map RAM, bind MSI-X (or INTx) eventfds, bring the virtio device up with the request queue. */
static void guest_up_irq(struct t *t, int fresh, int msix)
{
	assert_int_equal(vc_dma_map(&t->g, RAM_GPA, RAM_SIZE, 0, t->g.memfd), 0);
	vc_irqs_up(&t->g, msix);
	if (fresh)
		vc_virtio_up(&t->g, msix ? 1 : 0xffff);   /* request queue on vector 1 */
}

static void guest_up(struct t *t, int fresh)
{
	guest_up_irq(t, fresh, 1);
}

/* Run a command to completion: status GOOD, and the request queue's MSI-X eventfd fired. */
static void scsi_ok(struct t *t, const uint8_t *cdb, const void *dout, uint32_t dout_len,
		    uint32_t din_len, struct vc_cmd *c)
{
	vc_scsi_ok(&t->g, cdb, dout, dout_len, din_len, c);
	assert_true(vc_eventfd_take(t->g.vec[1]) >= 1);
}

/* ---- tests ---- */

static void test_version_and_info(void **state)
{
	struct t *t = t_new("virtio-scsi-pci,num-queues=1,queue-size=64");
	struct vdev_pci_bar_info bi;
	char caps[512];
	uint8_t m[32], out[64];
	size_t len;

	(void)state;
	cl_connect(t);
	/* Anything before VERSION is refused. */
	put32(m, 16);
	memset(m + 4, 0, 12);
	assert_int_equal(vc_call(&t->g, C_GET_INFO, m, 16, NULL, 0, out, sizeof(out), NULL),
			 EINVAL);
	assert_int_equal(vc_version(&t->g, qemu_caps, 0, caps, sizeof(caps)), 0);
	assert_non_null(strstr(caps, "\"max_msg_fds\":16"));
	assert_non_null(strstr(caps, "\"max_data_xfer_size\":1048576"));
	assert_non_null(strstr(caps, "\"pgsizes\":4096"));
	assert_true(caps[0] == '{');

	assert_int_equal(vc_call(&t->g, C_GET_INFO, m, 16, NULL, 0, out, sizeof(out), &len), 0);
	assert_int_equal(len, 16);
	assert_int_equal(get32(out + 4), 3);       /* RESET | PCI */
	assert_int_equal(get32(out + 8), 9);       /* BAR0-5, ROM, CONFIG, VGA */
	assert_int_equal(get32(out + 12), 5);      /* INTx, MSI, MSI-X, ERR, REQ */

	for (uint32_t r = 0; r < 9; r++) {
		uint64_t want = 0;

		memset(m, 0, sizeof(m));
		put32(m, 32);
		put32(m + 8, r);
		assert_int_equal(vc_call(&t->g, C_REGION_INFO, m, 32, NULL, 0, out, sizeof(out),
					 &len), 0);
		assert_int_equal(len, 32);
		assert_int_equal(get32(out + 8), r);
		if (r < 6 && !vdev_pci_bar_get_info(vdev_device_pci(t->dev), (int)r, &bi))
			want = bi.size;
		if (r == 7)
			want = 256;
		assert_int_equal(get64(out + 16), want);
		assert_int_equal(get32(out + 4), want ? 3u : 0u);
	}
	/* virtio-pci: BAR1 MSI-X, BAR4 the virtio structures. */
	vdev_pci_bar_get_info(vdev_device_pci(t->dev), 4, &bi);
	assert_true(bi.size >= 0x4000);
	put32(m + 8, 9);
	assert_int_equal(vc_call(&t->g, C_REGION_INFO, m, 32, NULL, 0, out, sizeof(out), NULL),
			 EINVAL);

	memset(m, 0, 16);
	put32(m, 16);
	put32(m + 8, IRQ_MSIX);
	assert_int_equal(vc_call(&t->g, C_IRQ_INFO, m, 16, NULL, 0, out, sizeof(out), &len), 0);
	assert_int_equal(get32(out + 12), NVEC);
	assert_true(get32(out + 4) & 1);           /* EVENTFD */
	put32(m + 8, IRQ_INTX);
	assert_int_equal(vc_call(&t->g, C_IRQ_INFO, m, 16, NULL, 0, out, sizeof(out), &len), 0);
	assert_int_equal(get32(out + 12), 1);
	assert_int_equal(get32(out + 4) & 7, 7);   /* EVENTFD | MASKABLE | AUTOMASKED */
	put32(m + 8, 5);
	assert_int_equal(vc_call(&t->g, C_IRQ_INFO, m, 16, NULL, 0, out, sizeof(out), NULL),
			 EINVAL);
	t_free(t);
}

static void test_config_space(void **state)
{
	struct t *t = t_new("virtio-scsi-pci,num-queues=1,queue-size=64");
	struct vdev_pci_bar_info bi;
	uint8_t cfg[256], direct[256];
	uint64_t v;

	(void)state;
	t_connect(t);
	assert_int_equal(vc_rd(&t->g, R_CONFIG, 0, 2), 0x1af4);
	assert_int_equal(vc_rd(&t->g, R_CONFIG, 2, 2), 0x1048);   /* 0x1040 + virtio-scsi (8) */
	/* One 256-byte read equals what the PCI model holds. */
	assert_int_equal(vc_region_rw(&t->g, 0, R_CONFIG, 0, cfg, 256), 0);
	assert_int_equal(vdev_pci_config_read(vdev_device_pci(t->dev), 0, direct, 256), 0);
	assert_memory_equal(cfg, direct, 256);
	/* BAR sizing (PCI 3.0 §6.2.5.1): all ones, read back the size mask. */
	vdev_pci_bar_get_info(vdev_device_pci(t->dev), 4, &bi);
	vc_wr(&t->g, R_CONFIG, 0x20, 0xffffffff, 4);
	vc_wr(&t->g, R_CONFIG, 0x24, 0xffffffff, 4);
	v = vc_rd(&t->g, R_CONFIG, 0x20, 4) | vc_rd(&t->g, R_CONFIG, 0x24, 4) << 32;
	assert_int_equal(v & ~0xfull, ~(bi.size - 1));
	assert_int_equal(v & 0x6, 0x4);                    /* 64-bit memory */
	vc_wr(&t->g, R_CONFIG, 0x20, 0xfe000000, 4);
	vc_wr(&t->g, R_CONFIG, 0x24, 0, 4);
	vc_wr(&t->g, R_CONFIG, 0x04, 0x0002, 2);
	vdev_pci_bar_get_info(vdev_device_pci(t->dev), 4, &bi);
	assert_int_equal(bi.addr, 0xfe000000);
	assert_int_equal(bi.decoding, 1);
	/* Posted writes (NO_REPLY) are applied but not answered. */
	{
		uint8_t m[18];

		put64(m, 0x3c);
		put32(m + 8, R_CONFIG);
		put32(m + 12, 1);
		m[16] = 0x0b;
		vc_send(&t->g, C_REGION_WRITE, F_NO_REPLY, m, 17, NULL, 0);
		assert_int_equal(vc_rd(&t->g, R_CONFIG, 0x3c, 1), 0x0b);
	}
	t_free(t);
}

/* One REGION_WRITE_MULTI entry: @count (<= 8) bytes of @val at @off in @region. */
static void multi_entry(uint8_t *e, uint64_t off, uint32_t region, uint32_t count, uint64_t val)
{
	memset(e, 0, 24);
	put64(e, off);
	put32(e + 8, region);
	put32(e + 12, count);
	put64(e + 16, val);
}

/*
 * REGION_WRITE_MULTI (offered as "write_multiple"): the entries are
 * applied in order; one bad entry, or a bad count, and nothing is.
 */
static void test_write_multi(void **state)
{
	struct t *t = t_new("virtio-scsi-pci,num-queues=1,queue-size=64");
	uint8_t m[8 + 4 * 24];
	char caps[512];

	(void)state;
	cl_connect(t);
	assert_int_equal(vc_version(&t->g, qemu_caps, 0, caps, sizeof(caps)), 0);
	assert_non_null(strstr(caps, "\"write_multiple\":true"));
	/* Interrupt Line twice (the last wins), then the command register; posted. */
	put64(m, 3);
	multi_entry(m + 8, 0x3c, R_CONFIG, 1, 0x05);
	multi_entry(m + 32, 0x3c, R_CONFIG, 1, 0x0a);
	multi_entry(m + 56, 0x04, R_CONFIG, 2, 0x0002);
	vc_send(&t->g, C_WRITE_MULTI, F_NO_REPLY, m, 8 + 3 * 24, NULL, 0);
	assert_int_equal(vc_rd(&t->g, R_CONFIG, 0x3c, 1), 0x0a);
	assert_int_equal(vc_rd(&t->g, R_CONFIG, 0x04, 2) & 0x2, 0x2);
	/* A reply when asked for one. */
	put64(m, 1);
	multi_entry(m + 8, 0x3c, R_CONFIG, 1, 0x07);
	assert_int_equal(vc_call(&t->g, C_WRITE_MULTI, m, 8 + 24, NULL, 0, NULL, 0, NULL), 0);
	assert_int_equal(vc_rd(&t->g, R_CONFIG, 0x3c, 1), 0x07);
	/* Each bad message after one good entry: an error, and the good entry not applied. */
	for (int bad = 0; bad < 6; bad++) {
		uint32_t len = 8 + 2 * 24;

		put64(m, 2);
		multi_entry(m + 8, 0x3c, R_CONFIG, 1, 0x33);
		multi_entry(m + 32, 0x3c, R_CONFIG, 1, 0x44);
		switch (bad) {
		case 0: put32(m + 32 + 12, 9); break;            /* more than 8 bytes */
		case 1: put32(m + 32 + 12, 0); break;            /* none */
		case 2: put32(m + 32 + 8, 9); break;             /* no such region */
		case 3: put64(m + 32, 0x100); break;             /* past config space */
		case 4: put64(m, 3); break;                      /* count and size disagree */
		default: put64(m, 0); len = 8; break;            /* nothing */
		}
		assert_int_equal(vc_call(&t->g, C_WRITE_MULTI, m, len, NULL, 0, NULL, 0, NULL),
				 EINVAL);
		assert_int_equal(vc_rd(&t->g, R_CONFIG, 0x3c, 1), 0x07);
	}
	/* More entries than a client may send (QEMU's 200): refused. */
	{
		uint32_t n = 201, len = 8 + n * 24;
		uint8_t *big = calloc(1, len);

		assert_non_null(big);
		put64(big, n);
		for (uint32_t i = 0; i < n; i++)
			multi_entry(big + 8 + i * 24, 0x3c, R_CONFIG, 1, 0x55);
		assert_int_equal(vc_call(&t->g, C_WRITE_MULTI, big, len, NULL, 0, NULL, 0, NULL),
				 EINVAL);
		free(big);
	}
	assert_int_equal(vc_rd(&t->g, R_CONFIG, 0x3c, 1), 0x07);
	assert_true(vdev_vfio_user_connected(t->vs));
	t_free(t);
}

static void test_scsi_end_to_end(void **state)
{
	struct t *t = t_new("virtio-scsi-pci,num-queues=1,queue-size=64");
	uint8_t cdb[10], data[1024];
	struct vc_cmd c;

	(void)state;
	t_connect(t);
	guest_up(t, 1);
	vc_clear_ua(&t->g);
	for (unsigned int i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	scsi_cdb_rw10(cdb, 1, 5, 2);
	scsi_ok(t, cdb, data, sizeof(data), 0, &c);
	scsi_cdb_rw10(cdb, 0, 5, 2);
	scsi_ok(t, cdb, NULL, 0, sizeof(data), &c);
	assert_memory_equal(vdrv_host(&t->g.mem, c.din), data, sizeof(data));
	/* A vector whose eventfd is taken away delivers nothing (QEMU's masking). */
	assert_int_equal(vc_set_irqs(&t->g, IRQ_MSIX, IRQ_DATA_EVENTFD | IRQ_TRIGGER, 1, 1, NULL,
				     0), 0);
	vc_scsi(&t->g, cdb, NULL, 0, sizeof(data), &c);
	{
		struct vdrv_used u;

		assert_int_equal(vc_used(&t->g, &u), 1);
	}
	assert_int_equal(vc_eventfd_take(t->g.vec[1]), 0);
	/* DATA_BOOL trigger fires a bound vector by hand. */
	{
		uint8_t m[21];

		put32(m, 21);
		put32(m + 4, IRQ_DATA_BOOL | IRQ_TRIGGER);
		put32(m + 8, IRQ_MSIX);
		put32(m + 12, 2);
		put32(m + 16, 1);
		m[20] = 1;
		assert_int_equal(vc_call(&t->g, C_SET_IRQS, m, 21, NULL, 0, NULL, 0, NULL), 0);
		assert_int_equal(vc_eventfd_take(t->g.vec[2]), 1);
	}
	t_free(t);
}

/* INTx (MSI-X off): level -> eventfd, automasked until ACTION_UNMASK (vfio-pci semantics). */
static void test_intx(void **state)
{
	struct t *t = t_new("virtio-scsi-pci,num-queues=1,queue-size=64");
	uint8_t cdb[10] = { 0 };
	struct vdrv_used u;
	struct vc_cmd c;

	(void)state;
	t_connect(t);
	guest_up_irq(t, 1, 0);
	vc_eventfd_take(t->g.vec[0]);
	vc_scsi(&t->g, cdb, NULL, 0, 0, &c);
	assert_int_equal(vc_used(&t->g, &u), 1);
	assert_int_equal(vc_eventfd_take(t->g.vec[0]), 1);
	assert_true(vc_rd(&t->g, t->g.isr.bar, t->g.isr.off, 1) & 1);   /* ISR read deasserts */
	/* Still masked: the next interrupt waits for the unmask. */
	vc_scsi(&t->g, cdb, NULL, 0, 0, &c);
	assert_int_equal(vc_used(&t->g, &u), 1);
	assert_int_equal(vc_eventfd_take(t->g.vec[0]), 0);
	assert_int_equal(vc_set_irqs(&t->g, IRQ_INTX, IRQ_DATA_NONE | 16, 0, 1, NULL, 0), 0);
	assert_int_equal(vc_eventfd_take(t->g.vec[0]), 1);        /* line still high: fires */
	assert_true(vc_rd(&t->g, t->g.isr.bar, t->g.isr.off, 1) & 1);
	assert_int_equal(vc_set_irqs(&t->g, IRQ_INTX, IRQ_DATA_NONE | 16, 0, 1, NULL, 0), 0);
	assert_int_equal(vc_eventfd_take(t->g.vec[0]), 0);        /* low now: nothing */
	vc_scsi(&t->g, cdb, NULL, 0, 0, &c);
	assert_int_equal(vc_used(&t->g, &u), 1);
	assert_int_equal(vc_eventfd_take(t->g.vec[0]), 1);
	/* The context's own INTx hook never saw any of it. */
	assert_int_equal(t->mv.n_intx, 0);
	t_free(t);
}

static void test_unmap_waits_for_inflight(void **state)
{
	struct t *t = t_new("virtio-scsi-pci,num-queues=1,queue-size=64");
	uint8_t cdb[10], out[64];
	struct vdrv_used u;
	struct vc_cmd c;
	uint16_t id;

	(void)state;
	t_connect(t);
	guest_up(t, 1);
	vc_clear_ua(&t->g);
	t->hold_backend = 1;
	scsi_cdb_rw10(cdb, 0, 0, 8);
	vc_scsi(&t->g, cdb, NULL, 0, 4096, &c);
	for (int i = 0; i < 5; i++)
		pump(t);
	assert_int_equal(vdrv_get_used(&t->g.vq, &u), 0);   /* in flight at the backend */
	id = vc_dma_unmap_send(&t->g, RAM_GPA, RAM_SIZE, 0);
	for (int i = 0; i < 50; i++) {
		pump(t);
		usleep(200);
	}
	assert_false(cl_readable(t));                      /* the reply waits */
	assert_int_equal(vdev_mem_region_count(t->mv.ctx), 1);
	t->hold_backend = 0;
	assert_int_equal(vc_wait(&t->g, id, C_DMA_UNMAP, out, sizeof(out), NULL), 0);
	/* The request completed into guest RAM before the region went. */
	assert_int_equal(vdrv_get_used(&t->g.vq, &u), 1);
	assert_int_equal(u.token, c.token);
	assert_int_equal(vdev_mem_region_count(t->mv.ctx), 0);
	/* The server reads messages again. */
	assert_int_equal(vc_rd(&t->g, R_CONFIG, 0, 2), 0x1af4);
	t_free(t);
}

static void test_reset_and_reconnect(void **state)
{
	struct t *t = t_new("virtio-scsi-pci,num-queues=1,queue-size=64");
	uint8_t cdb[10];
	struct vc_cmd c;

	(void)state;
	t_connect(t);
	guest_up(t, 1);
	assert_int_equal(vc_cc_rd(&t->g, 0x14, 1), 15);
	assert_int_equal(vc_call(&t->g, C_RESET, NULL, 0, NULL, 0, NULL, 0, NULL), 0);
	assert_int_equal(t->resets, 1);
	assert_int_equal(vc_cc_rd(&t->g, 0x14, 1), 0);
	assert_int_equal(vc_rd(&t->g, R_CONFIG, 0x04, 2) & 6, 0);  /* function reset too */
	/* The guest brings it up again and it works. */
	vdrv_vq_fini(&t->g.vq);
	memset(&t->g.vq, 0, sizeof(t->g.vq));
	assert_int_equal(vc_dma_map(&t->g, RAM_GPA, RAM_SIZE, 0, t->g.memfd), EEXIST);
	vc_wr(&t->g, R_CONFIG, 0x04, 0x0006, 2);
	vc_cc_wr(&t->g, 0x14, 0, 1);
	{
		/* Reuse guest_up's virtio part: RAM and MSI-X stay. */
		uint16_t ctl = (uint16_t)vc_rd(&t->g, R_CONFIG, t->g.msix_cap + 2u, 2);

		vc_wr(&t->g, R_CONFIG, t->g.msix_cap + 2u, ctl | 0x8000, 2);
	}
	assert_int_equal(vc_dma_unmap_send(&t->g, 0, 0, 2) > 0, 1);   /* UNMAP_ALL */
	assert_int_equal(vc_wait(&t->g, t->g.next_id, C_DMA_UNMAP, (uint8_t[64]){ 0 }, 64, NULL),
			 0);
	assert_int_equal(vdev_mem_region_count(t->mv.ctx), 0);
	guest_up(t, 1);
	vc_clear_ua(&t->g);
	scsi_cdb_rw10(cdb, 0, 0, 1);
	scsi_ok(t, cdb, NULL, 0, 512, &c);
	/* The client goes: device reset, memory gone; the next client is served. */
	cl_close(t);
	assert_false(vdev_vfio_user_connected(t->vs));
	assert_int_equal(vdev_mem_region_count(t->mv.ctx), 0);
	assert_int_equal(vdev_virtio_status(vdev_device_virtio(t->dev)), 0);
	t_connect(t);
	assert_int_equal(vc_rd(&t->g, R_CONFIG, 0, 2), 0x1af4);
	t_free(t);
}

static int feature(struct t *t, uint32_t flags, int has_state, uint32_t st, uint8_t *out)
{
	uint8_t m[16];

	put32(m, has_state ? 16 : 8);
	put32(m + 4, flags);
	put32(m + 8, st);
	put32(m + 12, 0);
	return vc_call(&t->g, C_FEATURE, m, has_state ? 16 : 8, NULL, 0, out, 64, NULL);
}

#define FEAT_GET (1u << 16)
#define FEAT_SET (1u << 17)
#define MIG_STATE 2u

static void test_migration(void **state)
{
	struct t *a = t_new("virtio-scsi-pci,num-queues=1,queue-size=64");
	struct t *b = t_new("virtio-scsi-pci,num-queues=1,queue-size=64");
	uint8_t cdb[10], out[64], *blob = NULL, *chunk = malloc(16 + 4096 + 8);
	size_t blen = 0, len;
	struct vc_cmd c;

	(void)state;
	assert_non_null(chunk);
	t_connect(a);
	guest_up(a, 1);
	vc_clear_ua(&a->g);
	scsi_cdb_rw10(cdb, 0, 0, 1);
	scsi_ok(a, cdb, NULL, 0, 512, &c);
	/* The migration feature says STOP_COPY. */
	assert_int_equal(feature(a, FEAT_GET | 1, 0, 0, out), 0);
	assert_int_equal(get64(out + 8), 1);
	assert_int_equal(feature(a, FEAT_GET | MIG_STATE, 0, 0, out), 0);
	assert_int_equal(get32(out + 8), 2);                /* RUNNING */
	/* Reading data outside STOP_COPY is refused. */
	put32(chunk, 8);
	put32(chunk + 4, 4096);
	assert_int_equal(vc_call(&a->g, C_MIG_READ, chunk, 8, NULL, 0, out, sizeof(out), NULL),
			 EINVAL);
	assert_int_equal(feature(a, FEAT_SET | MIG_STATE, 1, 3, out), 0);  /* -> STOP_COPY */
	assert_int_equal(get32(out + 8), 3);
	for (;;) {
		uint8_t r[8 + 4096];

		put32(chunk, 8);
		put32(chunk + 4, 4096);
		assert_int_equal(vc_call(&a->g, C_MIG_READ, chunk, 8, NULL, 0, r, sizeof(r), &len),
				 0);
		assert_int_equal(get32(r + 4), len - 8);
		if (len == 8)
			break;
		blob = realloc(blob, blen + len - 8);
		memcpy(blob + blen, r + 8, len - 8);
		blen += len - 8;
	}
	assert_true(blen > 64);
	assert_int_equal(feature(a, FEAT_SET | MIG_STATE, 1, 1, out), 0);  /* STOP */

	/* Destination: same guest RAM, state loaded, the ring goes on. */
	t_connect(b);
	assert_int_equal(vc_dma_map(&b->g, RAM_GPA, RAM_SIZE, 0, a->g.memfd), 0);
	assert_int_equal(feature(b, FEAT_SET | MIG_STATE, 1, 4, out), 0);  /* RESUMING */
	for (size_t off = 0; off < blen; off += 4096) {
		uint32_t n = (uint32_t)(blen - off < 4096 ? blen - off : 4096);

		put32(chunk, 8 + n);
		put32(chunk + 4, n);
		memcpy(chunk + 8, blob + off, n);
		assert_int_equal(vc_call(&b->g, C_MIG_WRITE, chunk, 8 + n, NULL, 0, NULL, 0, NULL),
				 0);
	}
	assert_int_equal(feature(b, FEAT_SET | MIG_STATE, 1, 2, out), 0);  /* -> RUNNING */
	assert_int_equal(get32(out + 8), 2);
	assert_int_equal(vc_set_irqs(&b->g, IRQ_MSIX, IRQ_DATA_EVENTFD | IRQ_TRIGGER, 0, NVEC,
				     b->g.vec, NVEC), 0);
	assert_int_equal(vdev_virtio_status(vdev_device_virtio(b->dev)), 15);
	/* b drives a's rings now (the same memory); find b's structures first. */
	vc_find_caps(&b->g);
	b->g.vq = a->g.vq;
	memset(&a->g.vq, 0, sizeof(a->g.vq));
	b->g.mem = a->g.mem;
	b->g.tag = a->g.tag;
	scsi_cdb_rw10(cdb, 0, 0, 1);
	scsi_ok(b, cdb, NULL, 0, 512, &c);
	/* A stream that does not load leaves the state machine in ERROR. */
	assert_int_equal(feature(a, FEAT_SET | MIG_STATE, 1, 4, out), 0);
	put32(chunk, 8 + 16);
	put32(chunk + 4, 16);
	memset(chunk + 8, 0x5a, 16);
	assert_int_equal(vc_call(&a->g, C_MIG_WRITE, chunk, 24, NULL, 0, NULL, 0, NULL), 0);
	assert_int_not_equal(feature(a, FEAT_SET | MIG_STATE, 1, 1, out), 0);
	assert_int_equal(feature(a, FEAT_GET | MIG_STATE, 0, 0, out), 0);
	assert_int_equal(get32(out + 8), 0);                /* ERROR */
	assert_int_equal(vc_call(&a->g, C_RESET, NULL, 0, NULL, 0, NULL, 0, NULL), 0);
	assert_int_equal(feature(a, FEAT_GET | MIG_STATE, 0, 0, out), 0);
	assert_int_equal(get32(out + 8), 2);
	free(blob);
	free(chunk);
	t_free(b);
	t_free(a);
}

/* ---- dirty-page tracking: DEVICE_FEATURE DMA_LOGGING_START/STOP/REPORT ---- */

#define FEAT_PROBE (1u << 18)
#define LOG_START 6u
#define LOG_STOP 7u
#define LOG_REPORT 8u
#define PG 4096u
#define RAM_PAGES (RAM_SIZE / PG)

/* START with @n ranges (iova, length pairs); the reply's page size in *ps. */
static int log_start(struct t *t, uint64_t page_size, const uint64_t *ranges, uint32_t n,
		     uint64_t *ps)
{
	uint8_t m[8 + 16 + 16 * 4], out[sizeof(m)];
	uint32_t len = 24 + 16 * n;
	size_t olen;
	int rc;

	assert_true(n <= 4);
	put32(m, len);
	put32(m + 4, FEAT_SET | LOG_START);
	put64(m + 8, page_size);
	put32(m + 16, n);
	put32(m + 20, 0);
	for (uint32_t i = 0; i < n; i++) {
		put64(m + 24 + 16 * i, ranges[2 * i]);
		put64(m + 32 + 16 * i, ranges[2 * i + 1]);
	}
	rc = vc_call(&t->g, C_FEATURE, m, len, NULL, 0, out, sizeof(out), &olen);
	if (rc)
		return rc;
	/* The reply repeats the request, with the page size the device uses. */
	assert_int_equal(olen, len);
	assert_int_equal(get32(out), len);
	assert_memory_equal(out + 16, m + 16, len - 16);
	if (ps)
		*ps = get64(out + 8);
	return 0;
}

/*
 * REPORT [iova, iova + len) at @ps with @argsz (0: exactly what the reply
 * needs); the bitmap into @bm (@cap bytes). @return errno or 0.
 */
static int log_report(struct t *t, uint64_t iova, uint64_t len, uint64_t ps, uint32_t argsz,
		      uint8_t *bm, size_t cap)
{
	uint8_t m[32], *out = malloc(32 + cap + 64);
	uint64_t bytes = ((len + ps - 1) / ps + 63) / 64 * 8;
	size_t olen;
	int rc;

	assert_non_null(out);
	put32(m, argsz ? argsz : (uint32_t)(32 + bytes));
	put32(m + 4, FEAT_GET | LOG_REPORT);
	put64(m + 8, iova);
	put64(m + 16, len);
	put64(m + 24, ps);
	rc = vc_call(&t->g, C_FEATURE, m, sizeof(m), NULL, 0, out, 32 + cap + 64, &olen);
	if (!rc) {
		assert_int_equal(olen, 32 + bytes);
		assert_true(bytes <= cap);
		assert_int_equal(get32(out), 32 + bytes);
		assert_int_equal(get64(out + 8), iova);
		assert_int_equal(get64(out + 16), len);
		assert_int_equal(get64(out + 24), ps);
		memcpy(bm, out + 32, (size_t)bytes);
	}
	free(out);
	return rc;
}

static int bit(const uint8_t *bm, uint64_t i)
{
	return bm[i / 8] >> (i % 8) & 1;
}

/* Mark the pages of guest range [gpa, gpa + len) in @want (one byte per RAM page). */
static void want_range(uint8_t *want, uint64_t gpa, uint64_t len)
{
	for (uint64_t p = (gpa - RAM_GPA) / PG; p <= (gpa + len - 1 - RAM_GPA) / PG; p++)
		want[p] = 1;
}

static void test_dirty_logging(void **state)
{
	struct t *t = t_new("virtio-scsi-pci,num-queues=1,queue-size=64");
	uint8_t cdb[10], bm[RAM_PAGES / 8], want[RAM_PAGES], out[64], data[4096], big[8192];
	uint64_t ps = 0, ranges[4], used_idx, pad, ro_page;
	struct vc_cmd c;
	unsigned int ndirty = 0;

	(void)state;
	t_connect(t);
	guest_up(t, 1);
	vc_clear_ua(&t->g);
	for (unsigned int i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 5);
	memset(big, 0x3c, sizeof(big));
	scsi_cdb_rw10(cdb, 1, 16, 8);
	scsi_ok(t, cdb, data, sizeof(data), 0, &c);

	/* Probed as the spec says: START/STOP are SET features, REPORT a GET one. */
	assert_int_equal(feature(t, FEAT_PROBE | FEAT_SET | LOG_START, 0, 0, out), 0);
	assert_int_equal(feature(t, FEAT_PROBE | FEAT_SET | LOG_STOP, 0, 0, out), 0);
	assert_int_equal(feature(t, FEAT_PROBE | FEAT_GET | LOG_REPORT, 0, 0, out), 0);
	assert_int_equal(feature(t, FEAT_PROBE | FEAT_GET | LOG_START, 0, 0, out), EINVAL);
	assert_int_equal(feature(t, FEAT_PROBE | FEAT_SET | LOG_REPORT, 0, 0, out), EINVAL);
	/* REPORT before START. */
	assert_int_equal(log_report(t, RAM_GPA, RAM_SIZE, PG, 0, bm, sizeof(bm)), EINVAL);

	/* Bad STARTs. */
	ranges[0] = RAM_GPA;
	ranges[1] = RAM_SIZE;
	assert_int_equal(log_start(t, 0, ranges, 1, NULL), EINVAL);          /* page size 0 */
	assert_int_equal(log_start(t, 3000, ranges, 1, NULL), EINVAL);       /* not a power of 2 */
	ranges[0] = 0x10000;                                                 /* not mapped */
	assert_int_equal(log_start(t, PG, ranges, 1, NULL), EFAULT);
	ranges[0] = RAM_GPA;
	ranges[1] = RAM_SIZE + PG;                                           /* ends past the map */
	assert_int_equal(log_start(t, PG, ranges, 1, NULL), EFAULT);
	ranges[1] = 0x800;                                                   /* not page aligned */
	assert_int_equal(log_start(t, PG, ranges, 1, NULL), EINVAL);
	ranges[1] = 0;                                                       /* empty */
	assert_int_equal(log_start(t, PG, ranges, 1, NULL), EINVAL);
	ranges[0] = 0xfffffffffffff000ull;                                   /* wraps */
	ranges[1] = 0x2000;
	assert_int_equal(log_start(t, PG, ranges, 1, NULL), EOVERFLOW);
	ranges[0] = RAM_GPA;                                                 /* overlapping */
	ranges[1] = 0x3000;
	ranges[2] = RAM_GPA + 0x2000;
	ranges[3] = 0x3000;
	assert_int_equal(log_start(t, PG, ranges, 2, NULL), EINVAL);

	/* START over all of RAM: a 2 MiB hint, 4 KiB used. */
	ranges[0] = RAM_GPA;
	ranges[1] = RAM_SIZE;
	assert_int_equal(log_start(t, 2u << 20, ranges, 1, &ps), 0);
	assert_int_equal(ps, PG);
	assert_int_equal(log_start(t, PG, ranges, 1, NULL), EBUSY);          /* already on */
	/* Nothing written yet: all clean. */
	memset(bm, 0xff, sizeof(bm));
	assert_int_equal(log_report(t, RAM_GPA, RAM_SIZE, PG, 0, bm, sizeof(bm)), 0);
	for (unsigned int i = 0; i < RAM_PAGES; i++)
		assert_int_equal(bit(bm, i), 0);

	/*
	 * A WRITE of 16 blocks: the device reads 8 KiB (one page of it holds
	 * nothing else) and writes only the response and the used ring.
	 */
	memset(want, 0, sizeof(want));
	scsi_cdb_rw10(cdb, 1, 32, 16);
	scsi_ok(t, cdb, big, sizeof(big), 0, &c);
	want_range(want, c.resp, 108);
	ro_page = (c.resp - sizeof(big) + PG - 1 - RAM_GPA) / PG;
	assert_true(RAM_GPA + (ro_page + 1) * PG <= c.resp);
	/*
	 * A READ of 8 blocks (4 KiB) into a buffer that starts in the middle
	 * of a page: the device writes the data (two pages), the response
	 * and the used ring (its element and idx). Nothing else.
	 */
	pad = vdrv_alloc(&t->g.mem, 1, PG);
	assert_true(pad != VDRV_NOMEM);
	scsi_cdb_rw10(cdb, 0, 16, 8);
	scsi_ok(t, cdb, NULL, 0, sizeof(data), &c);
	assert_memory_equal(vdrv_host(&t->g.mem, c.din), data, sizeof(data));
	want_range(want, c.din, sizeof(data));
	want_range(want, c.resp, 108);
	used_idx = *(const uint16_t *)vdrv_host(&t->g.mem, t->g.vq.device_gpa + 2);
	want_range(want, t->g.vq.device_gpa + 2, 2);
	want_range(want, t->g.vq.device_gpa + 4 + 8 * ((used_idx - 1) % QSZ), 8);
	assert_true((c.din - RAM_GPA) / PG != (c.din + sizeof(data) - 1 - RAM_GPA) / PG);
	assert_int_equal(log_report(t, RAM_GPA, RAM_SIZE, PG, 0, bm, sizeof(bm)), 0);
	for (unsigned int i = 0; i < RAM_PAGES; i++) {
		if (bit(bm, i) != want[i])
			fail_msg("page %u: dirty %d, expected %d", i, bit(bm, i), want[i]);
		ndirty += want[i];
	}
	assert_true(ndirty >= 3);
	/* The page the device only read is clean. */
	assert_int_equal(want[ro_page], 0);
	assert_int_equal(bit(bm, ro_page), 0);
	/* The report cleared what it returned. */
	assert_int_equal(log_report(t, RAM_GPA, RAM_SIZE, PG, 0, bm, sizeof(bm)), 0);
	for (unsigned int i = 0; i < RAM_PAGES; i++)
		assert_int_equal(bit(bm, i), 0);

	/* Again, reported in pieces and at a coarser page size. */
	scsi_cdb_rw10(cdb, 0, 16, 8);
	scsi_ok(t, cdb, NULL, 0, sizeof(data), &c);
	{
		uint64_t dpage = (c.din - RAM_GPA) / PG;
		uint64_t piece = (dpage + 1) * PG;  /* RAM_GPA .. end of the data's first page */

		/* Coarse: 64 KiB units, bit u set iff a dirty 4 KiB page lies in unit u. */
		memset(want, 0, sizeof(want));
		want_range(want, c.din, sizeof(data));
		want_range(want, c.resp, 108);
		used_idx = *(const uint16_t *)vdrv_host(&t->g.mem, t->g.vq.device_gpa + 2);
		want_range(want, t->g.vq.device_gpa + 2, 2);
		want_range(want, t->g.vq.device_gpa + 4 + 8 * ((used_idx - 1) % QSZ), 8);
		/* First piece at 4 KiB: exactly its pages; the rest untouched. */
		assert_int_equal(log_report(t, RAM_GPA, piece, PG, 0, bm, sizeof(bm)), 0);
		for (uint64_t i = 0; i < piece / PG; i++)
			assert_int_equal(bit(bm, i), want[i]);
		for (uint64_t i = piece / PG; i < (piece / PG + 63) / 64 * 64; i++)
			assert_int_equal(bit(bm, i), 0);       /* bits past the range are zero */
		/* The rest at 64 KiB units. */
		assert_int_equal(log_report(t, RAM_GPA + piece, RAM_SIZE - piece, 16 * PG, 0, bm,
					    sizeof(bm)), 0);
		for (uint64_t u = 0; u < (RAM_SIZE - piece + 16 * PG - 1) / (16 * PG); u++) {
			int w = 0;

			for (uint64_t p = piece / PG + u * 16; p < piece / PG + (u + 1) * 16 &&
			     p < RAM_PAGES; p++)
				w |= want[p];
			assert_int_equal(bit(bm, u), w);
		}
		/* Both pieces cleared. */
		assert_int_equal(log_report(t, RAM_GPA, RAM_SIZE, PG, 0, bm, sizeof(bm)), 0);
		for (unsigned int i = 0; i < RAM_PAGES; i++)
			assert_int_equal(bit(bm, i), 0);
	}

	/* Bad REPORTs: nothing is cleared by them. */
	scsi_cdb_rw10(cdb, 0, 16, 8);
	scsi_ok(t, cdb, NULL, 0, sizeof(data), &c);
	assert_int_equal(log_report(t, RAM_GPA, RAM_SIZE, 512, 0, bm, sizeof(bm)), EINVAL);
	assert_int_equal(log_report(t, RAM_GPA, RAM_SIZE, 3 * PG, 0, bm, sizeof(bm)), EINVAL);
	assert_int_equal(log_report(t, RAM_GPA, 0, PG, 0, bm, sizeof(bm)), EINVAL);
	assert_int_equal(log_report(t, RAM_GPA + 0x800, PG, PG, 0, bm, sizeof(bm)), EINVAL);
	assert_int_equal(log_report(t, RAM_GPA, RAM_SIZE + PG, PG, 0, bm, sizeof(bm)), EINVAL);
	assert_int_equal(log_report(t, 0xfffffffffffff000ull, 0x2000, PG, 0, bm, sizeof(bm)),
			 EOVERFLOW);
	/* Bitmap bigger than argsz allows: one byte short. */
	assert_int_equal(log_report(t, RAM_GPA, RAM_SIZE, PG, 32 + sizeof(bm) - 1, bm,
				    sizeof(bm)), ENOSPC);
	/* A range too large for one reply's bitmap. */
	assert_int_equal(log_report(t, 0, 1ull << 48, PG, 0xffffffffu, bm, sizeof(bm)), E2BIG);
	/* All these left the pages dirty. */
	assert_int_equal(log_report(t, RAM_GPA, RAM_SIZE, PG, 0, bm, sizeof(bm)), 0);
	assert_int_equal(bit(bm, (c.din - RAM_GPA) / PG), 1);

	/* STOP: REPORT refused; STOP again is fine; START again works. */
	assert_int_equal(feature(t, FEAT_SET | LOG_STOP, 0, 0, out), 0);
	assert_int_equal(log_report(t, RAM_GPA, RAM_SIZE, PG, 0, bm, sizeof(bm)), EINVAL);
	assert_int_equal(feature(t, FEAT_SET | LOG_STOP, 0, 0, out), 0);
	/* A range covering part of RAM only: reports outside it are refused. */
	ranges[0] = RAM_GPA + 0x10000;
	ranges[1] = 0x10000;
	assert_int_equal(log_start(t, PG, ranges, 1, &ps), 0);
	assert_int_equal(log_report(t, RAM_GPA, RAM_SIZE, PG, 0, bm, sizeof(bm)), EINVAL);
	assert_int_equal(log_report(t, RAM_GPA + 0x10000, 0x10000, PG, 0, bm, sizeof(bm)), 0);
	/* The connection going away stops logging; the next client starts afresh. */
	cl_close(t);
	t_connect(t);
	assert_int_equal(vc_dma_map(&t->g, RAM_GPA, RAM_SIZE, 0, t->g.memfd), 0);
	assert_int_equal(log_report(t, RAM_GPA, RAM_SIZE, PG, 0, bm, sizeof(bm)), EINVAL);
	/* No ranges: everything is logged. */
	assert_int_equal(log_start(t, PG, NULL, 0, &ps), 0);
	assert_int_equal(log_report(t, RAM_GPA, RAM_SIZE, PG, 0, bm, sizeof(bm)), 0);
	t_free(t);
}

/* ---- hostile messages ---- */

struct bad {
	const char *what;
	uint16_t cmd;
	uint32_t flags;
	uint8_t p[40];
	uint32_t len;
	unsigned int nfds;   /* eventfds attached */
	int expect;          /* errno of the error reply, or CLOSED */
};

#define P32(v) \
	(uint8_t)(v), (uint8_t)((v) >> 8), (uint8_t)((v) >> 16), (uint8_t)((uint32_t)(v) >> 24)
#define P64(v) P32((uint64_t)(v)), P32((uint64_t)(v) >> 32)

static const struct bad bad_msgs[] = {
	{ "VERSION twice", C_VERSION, 0, { 0, 0, 0, 0, '{', '}', 0 }, 7, 0, EINVAL },
	{ "GET_INFO short", C_GET_INFO, 0, { P32(16) }, 4, 0, EINVAL },
	{ "GET_INFO small argsz", C_GET_INFO, 0, { P32(8), P32(0), P32(0), P32(0) }, 16, 0,
	  EINVAL },
	{ "GET_INFO with an fd", C_GET_INFO, 0, { P32(16), P32(0), P32(0), P32(0) }, 16, 1,
	  EINVAL },
	{ "region index out of range", C_REGION_READ, 0, { P64(0), P32(9), P32(4) }, 16, 0,
	  EINVAL },
	{ "read past config space", C_REGION_READ, 0, { P64(250), P32(7), P32(16) }, 16, 0,
	  EINVAL },
	{ "offset overflow", C_REGION_READ, 0, { P64(0xffffffffffffff00ull), P32(4), P32(0x200) },
	  16, 0, EINVAL },
	{ "huge length", C_REGION_READ, 0, { P64(0), P32(4), P32(0x40000000) }, 16, 0, E2BIG },
	{ "read of an absent BAR", C_REGION_READ, 0, { P64(0), P32(0), P32(4) }, 16, 0, EINVAL },
	{ "write count beyond the message", C_REGION_WRITE, 0, { P64(0), P32(7), P32(8), 1, 2 },
	  18, 0, EINVAL },
	{ "DMA_MAP size 0", C_DMA_MAP, 0, { P32(32), P32(3), P64(0), P64(0x1000), P64(0) }, 32,
	  0, EINVAL },
	{ "DMA_MAP wraps", C_DMA_MAP, 0,
	  { P32(32), P32(3), P64(0), P64(0xfffffffffffff000ull), P64(0x2000) }, 32, 0, EINVAL },
	{ "DMA_MAP unknown flags", C_DMA_MAP, 0,
	  { P32(32), P32(0x80), P64(0), P64(0x1000), P64(0x1000) }, 32, 0, EINVAL },
	{ "DMA_MAP overlapping", C_DMA_MAP, 0,
	  { P32(32), P32(3), P64(0), P64(RAM_GPA + 0x1000), P64(0x1000) }, 32, 0, EEXIST },
	{ "DMA_MAP of an eventfd", C_DMA_MAP, 0,
	  { P32(32), P32(3), P64(0), P64(0x1000), P64(0x1000) }, 32, 1, ENODEV },
	{ "unmap of an unknown range", C_DMA_UNMAP, 0,
	  { P32(24), P32(0), P64(0x5000), P64(0x1000) }, 24, 0, ENOENT },
	{ "unmap splitting a region", C_DMA_UNMAP, 0,
	  { P32(24), P32(0), P64(RAM_GPA), P64(0x1000) }, 24, 0, EINVAL },
	{ "unmap with dirty bitmap", C_DMA_UNMAP, 0,
	  { P32(24), P32(1), P64(RAM_GPA), P64(RAM_SIZE) }, 24, 0, ENOTSUP },
	{ "SET_IRQS bad index", C_SET_IRQS, 0,
	  { P32(20), P32(IRQ_DATA_NONE | IRQ_TRIGGER), P32(7), P32(0), P32(1) }, 20, 0, EINVAL },
	{ "SET_IRQS two data types", C_SET_IRQS, 0,
	  { P32(20), P32(3 | IRQ_TRIGGER), P32(2), P32(0), P32(1) }, 20, 0, EINVAL },
	{ "SET_IRQS vectors out of range", C_SET_IRQS, 0,
	  { P32(20), P32(IRQ_DATA_NONE | IRQ_TRIGGER), P32(2), P32(3), P32(2) }, 20, 0, EINVAL },
	{ "SET_IRQS fd count mismatch", C_SET_IRQS, 0,
	  { P32(20), P32(IRQ_DATA_EVENTFD | IRQ_TRIGGER), P32(2), P32(0), P32(2) }, 20, 1, EINVAL },
	{ "SET_IRQS bools missing", C_SET_IRQS, 0,
	  { P32(20), P32(IRQ_DATA_BOOL | IRQ_TRIGGER), P32(2), P32(0), P32(4) }, 20, 0, EINVAL },
	{ "MSI-X mask (not maskable)", C_SET_IRQS, 0,
	  { P32(20), P32(IRQ_DATA_NONE | 8), P32(2), P32(0), P32(1) }, 20, 0, EINVAL },
	{ "unknown command", 99, 0, { 0 }, 0, 0, ENOTSUP },
	{ "DMA_READ sent to the server", C_DMA_READ, 0, { P64(0), P32(4) }, 12, 0, ENOTSUP },
	{ "dirty pages", C_DIRTY, 0, { P32(8), P32(1) }, 8, 0, ENOTSUP },
	{ "feature unknown", C_FEATURE, 0, { P32(8), P32((1u << 16) | 9) }, 8, 0, ENOTSUP },
	{ "DMA logging START as GET", C_FEATURE, 0, { P32(40), P32((1u << 16) | 6) }, 8, 0,
	  EINVAL },
	{ "DMA logging START short", C_FEATURE, 0, { P32(40), P32((1u << 17) | 6), P64(4096) },
	  16, 0, EINVAL },
	{ "DMA logging START ranges beyond the message", C_FEATURE, 0,
	  { P32(40), P32((1u << 17) | 6), P64(4096), P32(2), P32(0), P64(RAM_GPA), P64(4096) },
	  40, 0, EINVAL },
	{ "DMA logging START too many ranges", C_FEATURE, 0,
	  { P32(40), P32((1u << 17) | 6), P64(4096), P32(100000), P32(0) }, 24, 0, E2BIG },
	{ "DMA logging START range wraps", C_FEATURE, 0,
	  { P32(40), P32((1u << 17) | 6), P64(4096), P32(1), P32(0),
	    P64(0xfffffffffffff000ull), P64(0x2000) }, 40, 0, EOVERFLOW },
	{ "DMA logging START outside the DMA map", C_FEATURE, 0,
	  { P32(40), P32((1u << 17) | 6), P64(4096), P32(1), P32(0), P64(0x1000), P64(0x1000) },
	  40, 0, EFAULT },
	{ "DMA logging START argsz below the reply", C_FEATURE, 0,
	  { P32(8), P32((1u << 17) | 6), P64(4096), P32(1), P32(0), P64(RAM_GPA), P64(0x1000) },
	  40, 0, EINVAL },
	{ "DMA logging REPORT while off", C_FEATURE, 0,
	  { P32(40), P32((1u << 16) | 8), P64(RAM_GPA), P64(0x1000), P64(4096) }, 32, 0,
	  EINVAL },
	{ "DMA logging REPORT short", C_FEATURE, 0,
	  { P32(40), P32((1u << 16) | 8), P64(RAM_GPA), P64(0x1000) }, 24, 0, EINVAL },
	{ "DMA logging STOP as GET and SET", C_FEATURE, 0, { P32(8), P32((3u << 16) | 7) }, 8, 0,
	  EINVAL },
	{ "MIG_DATA_WRITE while running", C_MIG_WRITE, 0, { P32(8), P32(0) }, 8, 0, EINVAL },
	{ "a reply sent to the server", C_GET_INFO, F_REPLY, { 0 }, 0, 0, CLOSED },
	{ "unknown message type", C_GET_INFO, 0x7, { 0 }, 0, 0, CLOSED },
};

static void test_hostile(void **state)
{
	struct t *t = t_new("virtio-scsi-pci,num-queues=1,queue-size=64");
	uint8_t out[64];

	(void)state;
	t_connect(t);
	assert_int_equal(vc_dma_map(&t->g, RAM_GPA, RAM_SIZE, 0, t->g.memfd), 0);
	for (size_t i = 0; i < sizeof(bad_msgs) / sizeof(bad_msgs[0]); i++) {
		const struct bad *b = &bad_msgs[i];
		int fds[2] = { -1, -1 };
		uint16_t id;
		int rc;

		for (unsigned int k = 0; k < b->nfds; k++)
			fds[k] = eventfd(0, EFD_CLOEXEC);
		id = vc_send(&t->g, b->cmd, b->flags, b->p, b->len, fds, b->nfds);
		for (unsigned int k = 0; k < b->nfds; k++)
			close(fds[k]);
		rc = vc_wait(&t->g, id, b->cmd, out, sizeof(out), NULL);
		if (rc != b->expect)
			fail_msg("%s: got %d, want %d", b->what, rc, b->expect);
		if (rc == CLOSED) {
			cl_close(t);
			assert_false(vdev_vfio_user_connected(t->vs));
			t_connect(t);
			assert_int_equal(vc_dma_map(&t->g, RAM_GPA, RAM_SIZE, 0, t->g.memfd), 0);
		}
		/* The connection still works after each. */
		assert_int_equal(vc_rd(&t->g, R_CONFIG, 0, 2), 0x1af4);
	}
	/* Framing violations close the connection. */
	{
		uint8_t h[16] = { 1, 0, C_GET_INFO, 0, P32(8), P32(0), P32(0) };

		cl_send_raw(t, h, sizeof(h), NULL, 0);
		assert_int_equal(vc_wait(&t->g, 1, C_GET_INFO, out, sizeof(out), NULL), CLOSED);
		cl_close(t);
		t_connect(t);
		put32(h + 4, 0x7fffffff);
		cl_send_raw(t, h, sizeof(h), NULL, 0);
		assert_int_equal(vc_wait(&t->g, 1, C_GET_INFO, out, sizeof(out), NULL), CLOSED);
		cl_close(t);
	}
	/* Bad JSON and a wrong major version. */
	{
		static const char *const bad_json[] = {
			"", "{", "{\"capabilities\":}", "{\"capabilities\":{\"max_msg_fds\":-1}}",
			"{\"capabilities\":{\"max_msg_fds\":1.5}}", "[1,2]", "{} x",
			"{\"capabilities\":{\"max_data_xfer_size\":\"big\"}}", "{\"a\":tru}",
			"{\"a\":\"\\q\"}", "{\"a\":[1,]}", "{\"a\":01}",
			"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		};

		cl_connect(t);
		for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++)
			if (vc_version(&t->g, bad_json[i], 0, NULL, 0) != EINVAL)
				fail_msg("JSON accepted: %s", bad_json[i]);
		/* Unknown keys and values of any shape are fine. */
		assert_int_equal(vc_version(&t->g, "{\"x\":[1,{\"y\":null},\"\\u00e9\",-2.5e3],"
					    "\"capabilities\":{\"twin_socket\":"
					    "{\"supported\":true}}}", 0, NULL, 0), 0);
		cl_close(t);
		cl_connect(t);
		assert_int_equal(vc_version(&t->g, "{}", 1, NULL, 0), ENOTSUP);
		assert_int_equal(vc_wait(&t->g, 99, C_VERSION, out, sizeof(out), NULL), CLOSED);
		cl_close(t);
	}
	/* The server survives and serves the next client. */
	t_connect(t);
	assert_int_equal(vc_rd(&t->g, R_CONFIG, 2, 2), 0x1048);
	t_free(t);
}

static void test_second_server_refused(void **state)
{
	struct t *t = t_new("virtio-scsi-pci,num-queues=1,queue-size=64");
	struct vdev_vfio_user_opts vo = { .struct_size = sizeof(vo), .socket_path = "/tmp/x" };
	vdev_vfio_user *vs2;
	vdev_device *rng;

	(void)state;
	assert_int_equal(vdev_vfio_user_new(t->dev, &t->loop, &vo, &vs2), -EBUSY);
	assert_int_equal(vdev_device_create_kv(t->mv.ctx, "virtio-rng-mmio", &rng), 0);
	assert_int_equal(vdev_vfio_user_new(rng, &t->loop, &vo, &vs2), -EINVAL);
	vdev_device_destroy(rng);
	t_free(t);
}

/* Entries of directory @dir other than . and .. */
static int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

/* Read @ino's queued events: how many moved @name in; *@created: how many created it. */
static int path_events(int ino, const char *name, int *created)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int moved = 0;
	ssize_t n;

	*created = 0;
	while ((n = read(ino, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;

			if (e->len && !strcmp(e->name, name)) {
				moved += !!(e->mask & IN_MOVED_TO);
				*created += !!(e->mask & IN_CREATE);
			}
			p += sizeof(*e) + e->len;
		}
	}
	return moved;
}

/*
 * The socket path: it appears only once the server listens (bound under a
 * sibling name and renamed: nothing else is left in the directory), a stale
 * socket there is replaced, any other file is left alone (-EADDRINUSE).
 */
static void test_socket_path(void **state)
{
	struct t *t = t_new("virtio-scsi-pci,num-queues=1,queue-size=64");
	struct vdev_vfio_user_opts vo = { .struct_size = sizeof(vo) };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char other[sizeof(t->path) + 8], buf[8] = { 0 };
	struct mock_vmm mv2;   /* a server owns its context's map and interrupts: one each */
	vdev_vfio_user *vs2;
	vdev_device *dev2;
	int fd, ino, created;

	(void)state;
	assert_int_equal(dir_entries(t->dir), 1);
	t_connect(t);
	assert_int_equal(mock_vmm_init(&mv2, 4096, 0), 0);
	assert_int_equal(vdev_device_create_kv(mv2.ctx, "virtio-scsi-pci,num-queues=1", &dev2), 0);
	snprintf(other, sizeof(other), "%s/other", t->dir);
	vo.socket_path = other;

	/* A regular file: refused, untouched. */
	fd = open(other, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_int_equal(vdev_vfio_user_new(dev2, &t->loop, &vo, &vs2), -EADDRINUSE);
	fd = open(other, O_RDONLY | O_CLOEXEC);
	assert_int_equal(read(fd, buf, sizeof(buf)), 4);
	close(fd);
	assert_string_equal(buf, "keep");
	assert_int_equal(unlink(other), 0);

	/* A stale socket (its server gone): replaced by a listening one. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memcpy(sa.sun_path, other, strlen(other) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	assert_true(ino >= 0);
	assert_true(inotify_add_watch(ino, t->dir, IN_CREATE | IN_MOVED_TO) >= 0);
	assert_int_equal(vdev_vfio_user_new(dev2, &t->loop, &vo, &vs2), 0);
	assert_int_equal(dir_entries(t->dir), 2);
	/* The path arrived by rename (IN_MOVED_TO), never created by bind() under its name. */
	assert_int_equal(path_events(ino, "other", &created), 1);
	assert_int_equal(created, 0);
	close(ino);
	fd = vc_socket(other);
	close(fd);
	vdev_vfio_user_free(vs2);
	for (int i = 0; i < 5; i++)
		pump(t);   /* its handles close (the first server keeps the loop alive) */
	assert_int_not_equal(access(other, F_OK), 0);
	vdev_device_destroy(dev2);
	mock_vmm_fini(&mv2);
	t_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_and_info),
		cmocka_unit_test(test_config_space),
		cmocka_unit_test(test_write_multi),
		cmocka_unit_test(test_scsi_end_to_end),
		cmocka_unit_test(test_intx),
		cmocka_unit_test(test_unmap_waits_for_inflight),
		cmocka_unit_test(test_reset_and_reconnect),
		cmocka_unit_test(test_migration),
		cmocka_unit_test(test_dirty_logging),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_second_server_refused),
		cmocka_unit_test(test_socket_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
