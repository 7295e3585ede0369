/* SPDX-License-Identifier: MIT */
/*
 * vhost-user server (lib/vhost-user) against the in-test front end of
 * test_vhost_user_util.h: a virtio-scsi device with a memory disk, driven
 * over a real UNIX socket with memfd guest RAM and eventfds, the server on
 * a libuv loop in this thread.
 */
#include "test_vhost_user_server.h"

/* Connect and set everything up the way QEMU's vhost-user-scsi does. */
static void t_up(struct t *t, uint32_t base)
{
	fe_connect(&t->f, t->path);
	fe_negotiate(&t->f, FE_F_V1 | FE_F_INDIRECT | FE_F_HOTPLUG, 0);
	assert_int_equal(fe_get_u64(&t->f, FE_GET_QUEUE_NUM), 3);
	assert_int_equal(fe_mem_table(&t->f), 0);
	for (unsigned int q = 0; q < 3; q++)
		fe_ring(&t->f, q, q == T_REQQ ? base : 0, 1);
	assert_true(vdev_vhost_user_connected(t->vu));
}

/* Run a command to completion; check the call eventfd fired. */
static void t_cmd(struct t *t, const uint8_t *cdb, const void *dout, uint32_t dout_len,
		  uint32_t din_len, struct fe_cmd *c, uint8_t *status)
{
	struct vdrv_used u;
	uint8_t response;

	fe_calls(&t->f, T_REQQ);
	fe_scsi(&t->f, T_REQQ, 0, 0, cdb, 10, dout, dout_len, din_len, c);
	assert_int_equal(fe_used(&t->f, T_REQQ, &u, 100), 1);
	assert_int_equal(u.token, c->token);
	assert_true(fe_calls(&t->f, T_REQQ) >= 1);
	fe_resp(&t->f, c, status, &response);
	assert_int_equal(response, 0);
}

/* Clear the power-on unit attention with TEST UNIT READY. */
static void t_clear_ua(struct t *t)
{
	uint8_t cdb[10] = { 0 }, st;
	struct fe_cmd c;

	t_cmd(t, cdb, NULL, 0, 0, &c, &st);
}

static void test_io(void **state)
{
	struct t *t = t_new();
	uint8_t cdb[10], st, wbuf[2 * T_BS], cfg[12 + 36];
	struct fe_cmd c;

	(void)state;
	t_up(t, 0);
	assert_int_equal(t->connects, 1);
	assert_int_equal(t->starts, 3);
	/* GET_CONFIG: num_queues and seg_max as the device says (§5.6.4). */
	memset(cfg, 0, sizeof(cfg));
	fe_put32(cfg, 0);
	fe_put32(cfg + 4, 36);
	assert_int_equal(fe_send(&t->f, FE_GET_CONFIG, 0, cfg, sizeof(cfg), NULL, 0), 0);
	assert_int_equal(fe_recv(&t->f, FE_GET_CONFIG, cfg, sizeof(cfg), NULL), 48);
	assert_int_equal(fe_get32(cfg + 12), 1);
	assert_int_equal(fe_get32(cfg + 16), 62);

	t_clear_ua(t);
	for (unsigned int i = 0; i < sizeof(wbuf); i++)
		wbuf[i] = (uint8_t)(i * 7 + 3);
	scsi_cdb_rw10(cdb, 1, 4, 2);
	t_cmd(t, cdb, wbuf, sizeof(wbuf), 0, &c, &st);
	assert_int_equal(st, 0);
	scsi_cdb_rw10(cdb, 0, 4, 2);
	t_cmd(t, cdb, NULL, 0, sizeof(wbuf), &c, &st);
	assert_int_equal(st, 0);
	assert_memory_equal(vdrv_host(&t->f.mem, c.din), wbuf, sizeof(wbuf));
	t_free(t);
}

/* GET_VRING_BASE waits for what is in flight; the base counts only answered requests. */
static void test_get_base_drains(void **state)
{
	struct t *t = t_new();
	uint8_t cdb[10], b[8], wbuf[T_BS];
	struct vdrv_used u;
	struct fe_cmd c;
	int rc;

	(void)state;
	t_up(t, 0);
	t_clear_ua(t);
	memset(wbuf, 0x5a, sizeof(wbuf));
	t->hold_backend = 1;
	scsi_cdb_rw10(cdb, 1, 9, 1);
	fe_scsi(&t->f, T_REQQ, 0, 0, cdb, 10, wbuf, sizeof(wbuf), 0, &c);
	fe_pump(&t->f);
	assert_int_equal(vdrv_get_used(&t->f.vq[T_REQQ], &u), 0);
	fe_put32(b, T_REQQ);
	fe_put32(b + 4, 0);
	assert_int_equal(fe_send(&t->f, FE_GET_VRING_BASE, 0, b, 8, NULL, 0), 0);
	/* The write is still in the backend: no reply yet. */
	for (int i = 0; i < 20; i++)
		fe_pump(&t->f);
	assert_int_equal(recv(t->f.sock, b, 8, MSG_DONTWAIT), -1);
	t->hold_backend = 0;
	rc = fe_recv(&t->f, FE_GET_VRING_BASE, b, 8, NULL);
	assert_int_equal(rc, 8);
	assert_int_equal(fe_get32(b), T_REQQ);
	assert_int_equal(fe_get32(b + 4), 2); /* the TUR and the write */
	assert_int_equal(t->stops, 1);
	/* The write completed into the used ring before the reply. */
	assert_int_equal(vdrv_get_used(&t->f.vq[T_REQQ], &u), 1);
	assert_int_equal(u.token, c.token);
	t_free(t);
}

/* The front end goes away and comes back: the next connection works from the base. */
static void test_reconnect(void **state)
{
	struct t *t = t_new();
	uint8_t cdb[10], st, wbuf[T_BS];
	struct fe_cmd c;
	uint32_t base;

	(void)state;
	t_up(t, 0);
	t_clear_ua(t);
	memset(wbuf, 0xa5, sizeof(wbuf));
	scsi_cdb_rw10(cdb, 1, 1, 1);
	t_cmd(t, cdb, wbuf, sizeof(wbuf), 0, &c, &st);
	base = fe_get_base(&t->f, T_REQQ);
	assert_int_equal(base, 2);
	close(t->f.sock);
	t->f.sock = -1;
	for (int i = 0; i < 10; i++)
		fe_pump(&t->f);
	assert_int_equal(t->disconnects, 1);
	assert_false(vdev_vhost_user_connected(t->vu));

	/* Same rings, resumed at the base (QEMU keeps them across reconnects). */
	fe_connect(&t->f, t->path);
	fe_negotiate(&t->f, FE_F_V1 | FE_F_INDIRECT | FE_F_HOTPLUG, 0);
	assert_int_equal(fe_mem_table(&t->f), 0);
	for (unsigned int q = 0; q < 3; q++)
		fe_ring(&t->f, q, q == T_REQQ ? base : 0, q != T_REQQ);
	assert_int_equal(t->connects, 2);
	scsi_cdb_rw10(cdb, 0, 1, 1);
	t_cmd(t, cdb, NULL, 0, T_BS, &c, &st);
	/* A reset happened at the disconnect: the first command may see a UA. */
	if (st) {
		scsi_cdb_rw10(cdb, 0, 1, 1);
		t_cmd(t, cdb, NULL, 0, T_BS, &c, &st);
	}
	assert_int_equal(st, 0);
	assert_memory_equal(vdrv_host(&t->f.mem, c.din), wbuf, sizeof(wbuf));
	t_free(t);
}

/* SET_VRING_CALL with eventfd @fd for ring @q (the fd stays the caller's). */
static void t_set_call(struct t *t, unsigned int q, int fd)
{
	uint8_t b[8];

	fe_put64(b, q);
	assert_int_equal(fe_ack(&t->f, FE_SET_VRING_CALL, b, 8, &fd, 1), 0);
}

static uint64_t eventfd_take(int fd)
{
	uint64_t v = 0;

	return read(fd, &v, 8) == 8 ? v : 0;
}

/*
 * Regression (guest_vhost_user_reconnect under QEMU 11 hung after the
 * daemon's restart): a request the guest made available while the back
 * end was away - QEMU swallows the kick then - runs as soon as its ring
 * starts, and completes before QEMU swaps its "masked" call fd for the
 * guest's own (vhost_scsi_common_start() unmasks after vhost_dev_start(),
 * not looking at the masked one). The interrupt must reach the new fd.
 * A plain swap with nothing raised meanwhile raises nothing.
 */
static void test_call_fd_swapped_after_start(void **state)
{
	struct t *t = t_new();
	uint8_t cdb[10], st, resp, wbuf[T_BS];
	struct vdrv_used u;
	struct fe_cmd c;
	uint32_t base;
	int guest, other;

	(void)state;
	t_up(t, 0);
	t_clear_ua(t);
	base = fe_get_base(&t->f, T_REQQ);
	close(t->f.sock);
	t->f.sock = -1;
	for (int i = 0; i < 10; i++)
		fe_pump(&t->f);
	assert_int_equal(t->disconnects, 1);

	/* While it is away: a write made available, its kick eaten by the front end. */
	memset(wbuf, 0x3c, sizeof(wbuf));
	scsi_cdb_rw10(cdb, 1, 7, 1);
	fe_scsi(&t->f, T_REQQ, 0, 0, cdb, 10, wbuf, sizeof(wbuf), 0, &c);
	assert_true(eventfd_take(t->f.kick[T_REQQ]) >= 1);
	eventfd_take(t->f.call[T_REQQ]);

	/* Back, as QEMU: rings start with the masked call fd (f->call)... */
	fe_connect(&t->f, t->path);
	fe_negotiate(&t->f, FE_F_V1 | FE_F_INDIRECT | FE_F_HOTPLUG, 0);
	assert_int_equal(fe_mem_table(&t->f), 0);
	for (unsigned int q = 0; q < 3; q++)
		fe_ring(&t->f, q, q == T_REQQ ? base : 0, q != T_REQQ);
	/* ...the write runs with no kick (the ring is looked at when it starts)... */
	assert_int_equal(fe_used(&t->f, T_REQQ, &u, 100), 1);
	assert_int_equal(u.token, c.token);
	fe_resp(&t->f, &c, &st, &resp);
	assert_int_equal(resp, 0);
	assert_true(eventfd_take(t->f.call[T_REQQ]) >= 1); /* the masked one: nobody reads it */
	/* ...then the guest's own call fd: the interrupt is raised on it again. */
	guest = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	other = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(guest >= 0 && other >= 0);
	t_set_call(t, T_REQQ, guest);
	assert_int_equal(eventfd_take(guest), 1);
	/* Nothing raised since: swapping again raises nothing. */
	t_set_call(t, T_REQQ, other);
	for (int i = 0; i < 5; i++)
		fe_pump(&t->f);
	assert_int_equal(eventfd_take(other), 0);
	/* Other rings were not touched by any of it. */
	t_set_call(t, 0, guest);
	assert_int_equal(eventfd_take(guest), 0);
	close(guest);
	close(other);
	t_free(t);
}

/* Replacing the memory table while rings run keeps them working. */
static void test_mem_table_replace(void **state)
{
	struct t *t = t_new();
	uint8_t cdb[10], st;
	struct fe_cmd c;

	(void)state;
	t_up(t, 0);
	t_clear_ua(t);
	assert_int_equal(fe_mem_table(&t->f), 0);
	scsi_cdb_rw10(cdb, 0, 0, 1);
	t_cmd(t, cdb, NULL, 0, T_BS, &c, &st);
	assert_int_equal(st, 0);
	t_free(t);
}

/* Dirty logging: with LOG_ALL, the pages the device writes show in the shared log. */
static void test_dirty_log(void **state)
{
	struct t *t = t_new();
	uint64_t log_bytes = (FE_RAM_GPA + FE_RAM_SIZE) / 4096 / 8;
	uint8_t cdb[10], st, p[16], *log;
	struct fe_cmd c;
	uint64_t page, used_page;
	int lfd;

	(void)state;
	fe_connect(&t->f, t->path);
	fe_negotiate(&t->f, FE_F_V1 | FE_F_INDIRECT | FE_F_HOTPLUG, FE_PF_LOG_SHMFD);
	assert_int_equal(fe_mem_table(&t->f), 0);
	for (unsigned int q = 0; q < 3; q++)
		fe_ring(&t->f, q, 0, 1);
	t_clear_ua(t);
	lfd = memfd_create("fe-log", MFD_CLOEXEC);
	assert_true(lfd >= 0);
	assert_int_equal(ftruncate(lfd, (off_t)log_bytes), 0);
	log = mmap(NULL, log_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, lfd, 0);
	assert_true(log != MAP_FAILED);
	fe_put64(p, log_bytes);
	fe_put64(p + 8, 0);
	assert_int_equal(fe_send(&t->f, FE_SET_LOG_BASE, 0, p, 16, &lfd, 1), 0);
	assert_int_equal(fe_recv(&t->f, FE_SET_LOG_BASE, p, 8, NULL), 8);
	fe_put64(p, FE_F_V1 | FE_F_INDIRECT | FE_F_HOTPLUG | FE_F_PROTOCOL | FE_F_LOG_ALL);
	assert_int_equal(fe_ack(&t->f, FE_SET_FEATURES, p, 8, NULL, 0), 0);

	scsi_cdb_rw10(cdb, 0, 0, 1);
	t_cmd(t, cdb, NULL, 0, T_BS, &c, &st);
	assert_int_equal(st, 0);
	page = c.din / 4096;
	used_page = t->f.vq[T_REQQ].device_gpa / 4096;
	assert_true(log[page / 8] & (1u << (page % 8)));
	assert_true(log[used_page / 8] & (1u << (used_page % 8)));
	/* A page nobody wrote stays clean. */
	page = (FE_RAM_GPA + FE_RAM_SIZE - 4096) / 4096;
	assert_false(log[page / 8] & (1u << (page % 8)));
	munmap(log, log_bytes);
	close(lfd);
	t_free(t);
}

/* ---- hostile messages ---- */

enum expect { NACK, CLOSE };

struct hostile {
	const char *name;
	uint32_t req;
	uint32_t flags;       /* on top of version 1 | NEED_REPLY */
	int size_delta;       /* the size field lies by this much */
	uint8_t payload[64];
	uint32_t len;
	int nfds;             /* eventfds to attach */
	enum expect expect;
};

static void put_state(uint8_t *p, uint32_t a, uint32_t b)
{
	fe_put32(p, a);
	fe_put32(p + 4, b);
}

static void test_hostile(void **state)
{
	struct hostile h[] = {
		{ "features short", FE_SET_FEATURES, 0, 0, { 0 }, 4, 0, CLOSE },
		{ "features unknown bit", FE_SET_FEATURES, 0, 0, { 0 }, 8, 0, NACK },
		{ "num index", FE_SET_VRING_NUM, 0, 0, { 0 }, 8, 0, NACK },
		{ "num not pow2", FE_SET_VRING_NUM, 0, 0, { 0 }, 8, 0, NACK },
		{ "num zero", FE_SET_VRING_NUM, 0, 0, { 0 }, 8, 0, NACK },
		{ "num too big", FE_SET_VRING_NUM, 0, 0, { 0 }, 8, 0, NACK },
		{ "enable 2", FE_SET_VRING_ENABLE, 0, 0, { 0 }, 8, 0, NACK },
		{ "addr index", FE_SET_VRING_ADDR, 0, 0, { 0 }, 40, 0, NACK },
		{ "addr outside table", FE_SET_VRING_ADDR, 0, 0, { 0 }, 40, 0, NACK },
		{ "kick reserved bits", FE_SET_VRING_KICK, 0, 0, { 0 }, 8, 1, CLOSE },
		{ "kick two fds", FE_SET_VRING_KICK, 0, 0, { 0 }, 8, 2, CLOSE },
		{ "call nofd with fd", FE_SET_VRING_CALL, 0, 0, { 0 }, 8, 1, CLOSE },
		{ "kick index", FE_SET_VRING_KICK, 0, 0, { 0 }, 8, 1, NACK },
		{ "mem table 9 regions", FE_SET_MEM_TABLE, 0, 0, { 0 }, 8, 0, CLOSE },
		{ "mem table fd missing", FE_SET_MEM_TABLE, 0, 0, { 0 }, 40, 0, CLOSE },
		{ "mem table size 0", FE_SET_MEM_TABLE, 0, 0, { 0 }, 40, 1, NACK },
		{ "mem table wraps", FE_SET_MEM_TABLE, 0, 0, { 0 }, 40, 1, NACK },
		{ "config too big", FE_GET_CONFIG, 0, 0, { 0 }, 12, 0, CLOSE },
		{ "get base index", FE_GET_VRING_BASE, 0, 0, { 0 }, 8, 0, CLOSE },
		{ "unknown request", 99, 0, 0, { 0 }, 0, 0, NACK },
		{ "bad version", FE_SET_OWNER, 2, 0, { 0 }, 0, 0, CLOSE },
		{ "reply flag", FE_SET_OWNER, 4, 0, { 0 }, 0, 0, CLOSE },
		{ "fd on set_owner", FE_SET_OWNER, 0, 0, { 0 }, 0, 1, CLOSE },
		{ "size too big", FE_SET_OWNER, 0, 5000, { 0 }, 0, 0, CLOSE },
		{ "protocol unknown", FE_SET_PROTOCOL_FEATURES, 0, 0, { 0 }, 8, 0, NACK },
		{ "get inflight short", 31, 0, 0, { 0 }, 10, 0, CLOSE },
		{ "set inflight no fd", 32, 0, 0, { 0 }, 20, 0, CLOSE },
		{ "set inflight not negotiated", 32, 0, 0, { 0 }, 20, 1, NACK },
		{ "add mem reg not negotiated", 37, 0, 0, { 0 }, 40, 1, NACK },
		{ "add mem reg short", 37, 0, 0, { 0 }, 32, 1, CLOSE },
		{ "rem mem reg two fds", 38, 0, 0, { 0 }, 40, 2, CLOSE },
		{ "log fd refused", FE_SET_LOG_FD, 0, 0, { 0 }, 0, 1, NACK },
		{ "log fd odd size", FE_SET_LOG_FD, 0, 0, { 0 }, 4, 1, CLOSE },
	};
	struct t *t = t_new();

	(void)state;
	fe_put64(h[1].payload, 1ull << 60);
	put_state(h[2].payload, 77, 64);
	put_state(h[3].payload, 0, 48);
	put_state(h[4].payload, 0, 0);
	put_state(h[5].payload, 0, 1u << 15);
	put_state(h[6].payload, 0, 2);
	fe_put32(h[7].payload, 9);
	fe_put32(h[8].payload, 0);
	fe_put64(h[8].payload + 8, 0x1000);
	fe_put64(h[9].payload, 1ull << 20);
	fe_put64(h[10].payload, 0);
	fe_put64(h[11].payload, 1ull << 8);
	fe_put64(h[12].payload, 200);
	fe_put32(h[13].payload, 9);
	fe_put32(h[14].payload, 1);
	fe_put64(h[14].payload + 16, 4096);
	fe_put32(h[15].payload, 1);
	fe_put32(h[16].payload, 1);
	fe_put64(h[16].payload + 8, UINT64_MAX - 4095);
	fe_put64(h[16].payload + 16, 8192);
	fe_put32(h[17].payload + 4, 300);
	put_state(h[18].payload, 3, 0);
	fe_put64(h[24].payload, 1ull << 40);

	for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
		const struct hostile *m = &h[i];
		int fds[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
		uint8_t b[8];
		int rc;

		print_message("hostile: %s\n", m->name);
		if (t->f.sock < 0) {
			fe_connect(&t->f, t->path);
			fe_negotiate(&t->f, FE_F_V1, 0);
			/* The table and ring 0's size, so later checks reach their own rule. */
			assert_int_equal(fe_mem_table(&t->f), 0);
			assert_int_equal(fe_ack_state(&t->f, FE_SET_VRING_NUM, 0, 64), 0);
		}
		if (m->req == FE_SET_MEM_TABLE && m->nfds)
			fds[0] = dup(t->f.memfd);
		assert_int_equal(fe_send_raw(&t->f, m->req, 1u | FE_NEED_REPLY | m->flags,
					     m->len + (uint32_t)m->size_delta, m->payload, m->len,
					     fds, (unsigned int)m->nfds), 0);
		close(fds[0]);
		close(fds[1]);
		if (m->expect == NACK) {
			rc = fe_recv(&t->f, m->req, b, 8, NULL);
			assert_int_equal(rc, 8);
			assert_int_not_equal(fe_get64(b), 0);
			/* Still talking. */
			assert_int_equal(fe_get_u64(&t->f, FE_GET_QUEUE_NUM), 3);
		} else {
			assert_true(fe_closed(&t->f));
			close(t->f.sock);
			t->f.sock = -1;
			for (int k = 0; k < 5; k++)
				fe_pump(&t->f);
			assert_false(vdev_vhost_user_connected(t->vu));
		}
	}
	/* After all that, a well-behaved front end gets service. */
	if (t->f.sock >= 0) {
		close(t->f.sock);
		t->f.sock = -1;
		for (int k = 0; k < 5; k++)
			fe_pump(&t->f);
	}
	t_up(t, 0);
	t_clear_ua(t);
	t_free(t);
}

/* A second front end is refused while one is connected; a half message then EOF is fine. */
static void test_second_connection_and_eof(void **state)
{
	struct t *t = t_new();
	struct fe g = { .sock = -1, .pump = t_pump, .pump_arg = t };
	uint8_t half[6] = { 1, 0, 0, 0, 1, 0 };

	(void)state;
	t_up(t, 0);
	fe_connect(&g, t->path);
	assert_true(fe_closed(&g));
	close(g.sock);
	assert_true(vdev_vhost_user_connected(t->vu));
	assert_int_equal(send(t->f.sock, half, sizeof(half), MSG_NOSIGNAL), 6);
	close(t->f.sock);
	t->f.sock = -1;
	for (int k = 0; k < 10; k++)
		fe_pump(&t->f);
	assert_false(vdev_vhost_user_connected(t->vu));
	t_up(t, 0);
	t_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io),
		cmocka_unit_test(test_get_base_drains),
		cmocka_unit_test(test_reconnect),
		cmocka_unit_test(test_call_fd_swapped_after_start),
		cmocka_unit_test(test_mem_table_replace),
		cmocka_unit_test(test_dirty_log),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_second_connection_and_eof),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
