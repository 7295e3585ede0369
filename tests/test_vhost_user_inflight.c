/* SPDX-License-Identifier: MIT */
/*
 * Inflight tracking (vhost-user.rst "Inflight I/O tracking"): the
 * virtqueue engine's region updates (vdev_vq_set_inflight), a "crash" at
 * each point of a request's life followed by a new queue on the same
 * rings and region, adversarial regions; then the vhost-user messages
 * (GET/SET_INFLIGHT_FD, ADD/REM_MEM_REG, SET_LOG_FD) and a reconnect of
 * the in-process server with writes in flight.
 *
 * A crash of the device process is modelled by dropping the queue object
 * without any further call: every engine call is synchronous, so memory
 * (guest RAM, the region) is then exactly what a process killed between
 * two calls leaves. The one instant inside a call - after the used index
 * store of a flush, before the region is updated - is reproduced by doing
 * that store by hand, as the flush does it. Exactly-once is checked by
 * the test driver (vdrv), which fails on a used id that is not in flight.
 */

#include "test_vq_common.h"
#include "test_vhost_user_server.h"

#define QS 16u
#define REGION (16u + 16u * QS)

/* ---- region access (the spec's QueueRegionSplit, native order) ---- */

static uint16_t r16(const uint8_t *r, size_t off)
{
	uint16_t v;

	memcpy(&v, r + off, 2);
	return v;
}

static void w16(uint8_t *r, size_t off, uint16_t v)
{
	memcpy(r + off, &v, 2);
}

static uint8_t d_inflight(const uint8_t *r, unsigned int i)
{
	return r[16 + 16 * i];
}

static uint64_t d_counter(const uint8_t *r, unsigned int i)
{
	uint64_t v;

	memcpy(&v, r + 16 + 16 * i + 8, 8);
	return v;
}

/* ---- a queue life on the fixture's rings ---- */

/*
 * Crash: the queue goes, nothing else is touched. A new one takes the
 * region and is given what QEMU sends after a crash: its used index.
 * @return vdev_vq_set_base()'s result.
 */
static int relive_rc(struct fx *f, uint8_t *region, size_t len)
{
	vdev_vq_free(f->vq);
	assert_int_equal(vdev_vq_new(f->mv.ctx, &fx_ops, f, &f->vq), 0);
	assert_int_equal(vdev_vq_set_inflight(f->vq, region, len), 0);
	assert_int_equal(fx_start(f, 0, 0), 0);
	return vdev_vq_set_base(f->vq, vdrv_used_idx(&f->d));
}

static void relive(struct fx *f, uint8_t *region, size_t len)
{
	assert_int_equal(relive_rc(f, region, len), 0);
}

static uint64_t add_req(struct fx *f, uint64_t token)
{
	uint64_t g = vdrv_alloc(&f->mem, 64, 8);
	struct vdrv_seg s[2] = { { g, 16, 0 }, { g + 16, 48, 1 } };

	assert_true(g != VDRV_NOMEM);
	assert_true(vdrv_add(&f->d, s, 2, 0, token) >= 0);
	vdrv_publish(&f->d);
	return g;
}

static int pop(struct fx *f, struct vdev_vq_req *r, struct iovec *iov)
{
	r->iov = iov;
	r->iov_cap = 4;
	return vdev_vq_pop(f->vq, r);
}

/* The driver's rings of QS entries, tracked in @region (REGION bytes), the queue started. */
static void start_tracked(struct fx *f, uint8_t *region)
{
	assert_int_equal(vdrv_vq_init(&f->d, &f->mem, QS, f->features), 0);
	assert_int_equal(vdev_vq_set_inflight(f->vq, region, REGION), 0);
	assert_int_equal(fx_start(f, 0, 0), 0);
}

/* Collect what the guest sees; count each token. */
static unsigned int collect(struct fx *f, unsigned int *seen, unsigned int n)
{
	struct vdrv_used u;
	unsigned int got = 0;
	int rc;

	while ((rc = vdrv_get_used(&f->d, &u)) == 1) {
		assert_true(u.token < n);
		seen[u.token]++;
		got++;
	}
	assert_int_equal(rc, 0);
	assert_string_equal(vdrv_error(&f->d), "");
	return got;
}

static void test_region_updates(void **state)
{
	struct fx *f = fx_new(0, 0, 0);
	uint8_t *region = calloc(1, REGION);
	struct vdev_vq_req r[3];
	struct iovec iov[3][4];
	unsigned int seen[8] = { 0 };

	(void)state;
	start_tracked(f, region);
	/* Started: the region cannot change under it. */
	assert_int_equal(vdev_vq_set_inflight(f->vq, NULL, 0), -EBUSY);
	assert_int_equal(r16(region, 8), 1);   /* version */
	assert_int_equal(r16(region, 10), QS); /* desc_num */
	assert_int_equal(r16(region, 14), 0);  /* used_idx */
	for (unsigned int i = 0; i < 3; i++)
		add_req(f, i);
	for (unsigned int i = 0; i < 3; i++)
		assert_int_equal(pop(f, &r[i], iov[i]), 1);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(d_inflight(region, r[i].id), 1);
		if (i)
			assert_true(d_counter(region, r[i].id) > d_counter(region, r[i - 1].id));
	}
	/* Pushed, not flushed: still in flight; linked as the last batch. */
	assert_int_equal(vdev_vq_push(f->vq, &r[2], 0), 0);
	assert_int_equal(vdev_vq_push(f->vq, &r[0], 0), 0);
	assert_int_equal(d_inflight(region, r[2].id), 1);
	assert_int_equal(r16(region, 12), r[0].id);                 /* last_batch_head */
	assert_int_equal(r16(region, 16 + 16 * r[0].id + 6), r[2].id); /* next */
	assert_int_equal(vdev_vq_flush(f->vq), 1);
	assert_int_equal(d_inflight(region, r[2].id), 0);
	assert_int_equal(d_inflight(region, r[0].id), 0);
	assert_int_equal(d_inflight(region, r[1].id), 1);
	assert_int_equal(r16(region, 14), 2);
	assert_int_equal(collect(f, seen, 8), 2);
	assert_int_equal(vdev_vq_complete(f->vq, &r[1], 0), 1);
	assert_int_equal(d_inflight(region, r[1].id), 0);
	assert_int_equal(r16(region, 14), 3);
	/* Detaching needs a stopped queue; afterwards nothing writes the region. */
	vdev_vq_stop(f->vq);
	assert_int_equal(vdev_vq_set_inflight(f->vq, NULL, 0), 0);
	assert_int_equal(vdev_vq_set_inflight(f->vq, region + 1, REGION), -EINVAL);
	assert_int_equal(vdev_vq_set_inflight(f->vq, region, 16), -EINVAL);
	assert_int_equal(vdev_vq_set_inflight(NULL, region, REGION), -EINVAL);
	free(region);
	fx_free(f);
}

enum crash { AFTER_POP, AFTER_PUSH, AFTER_USED_IDX, MID_CLEAR, AFTER_FLUSH, CRASH_N };

static const char *const crash_name[CRASH_N] = {
	"after pop (in the backend)", "after push, before the used index",
	"after the used index store, before the region", "halfway through the region update",
	"after a full flush",
};

/*
 * 4 requests popped (0..3); requests 1 and 3 complete in that order; the
 * crash comes at @c. The next life must hand back exactly those the guest
 * has not seen, oldest first, then new ones.
 */
static void crash_at(enum crash c)
{
	struct fx *f = fx_new(0, 0, 0);
	uint8_t *region = calloc(1, REGION);
	struct vdev_vq_req r[6];
	struct iovec iov[6][4];
	unsigned int seen[8] = { 0 }, expect_back[4], nback = 0;
	uint16_t ids[4];

	print_message("crash %s\n", crash_name[c]);
	start_tracked(f, region);
	for (unsigned int i = 0; i < 4; i++)
		add_req(f, i);
	for (unsigned int i = 0; i < 4; i++) {
		assert_int_equal(pop(f, &r[i], iov[i]), 1);
		ids[i] = r[i].id;
	}
	if (c != AFTER_POP) {
		assert_int_equal(vdev_vq_push(f->vq, &r[1], 48), 0);
		assert_int_equal(vdev_vq_push(f->vq, &r[3], 48), 0);
	}
	if (c == AFTER_USED_IDX || c == MID_CLEAR) {
		/* The flush's first store, done by hand: used->idx covers both. */
		uint8_t *used = vdrv_host(&f->mem, f->d.device_gpa);

		__atomic_store_n((uint16_t *)(void *)(used + 2), 2, __ATOMIC_RELEASE);
		if (c == MID_CLEAR)
			region[16 + 16 * ids[3]] = 0; /* the batch head's flag went first */
	}
	if (c == AFTER_FLUSH)
		vdev_vq_flush(f->vq);
	collect(f, seen, 8);
	/* Unseen by the guest: come back, oldest first. */
	for (unsigned int i = 0; i < 4; i++)
		if (!seen[i])
			expect_back[nback++] = i;
	assert_int_equal(nback, c == AFTER_POP || c == AFTER_PUSH ? 4 : 2);

	relive(f, region, REGION);
	assert_int_equal(vdev_vq_inflight(f->vq), nback);
	add_req(f, 4);
	for (unsigned int i = 0; i < nback; i++) {
		assert_int_equal(pop(f, &r[i], iov[i]), 1);
		assert_int_equal(r[i].id, ids[expect_back[i]]);
		/* The same buffers, translated again. */
		assert_int_equal(r[i].out_num, 1);
		assert_int_equal(r[i].in_num, 1);
		assert_int_equal(r[i].in_len, 48);
	}
	/* Then what the driver added meanwhile. */
	assert_int_equal(pop(f, &r[nback], iov[nback]), 1);
	assert_int_equal(pop(f, &r[nback + 1], iov[nback + 1]), 0);
	for (unsigned int i = 0; i <= nback; i++)
		assert_int_equal(vdev_vq_push(f->vq, &r[i], 48), 0);
	vdev_vq_flush(f->vq);
	collect(f, seen, 8);
	for (unsigned int i = 0; i < 5; i++)
		assert_int_equal(seen[i], 1);
	/* And a clean region now: another crash resubmits nothing. */
	relive(f, region, REGION);
	assert_int_equal(vdev_vq_inflight(f->vq), 0);
	free(region);
	fx_free(f);
}

static void test_crash_points(void **state)
{
	(void)state;
	for (int c = 0; c < CRASH_N; c++)
		crash_at((enum crash)c);
}

/* Random lives: out-of-order completions, batches, crashes anywhere. */
static void test_random_lives(void **state)
{
	enum { TOKENS = 400 };
	struct fx *f = fx_new(0, 0, 0);
	uint8_t *region = calloc(1, REGION);
	unsigned int *seen = calloc(TOKENS, sizeof(*seen));
	struct vdev_vq_req r[QS];
	struct iovec iov[QS][4];
	int held[QS];
	uint64_t token = 0;
	uint32_t rnd = 12345;
	unsigned int resubmitted = 0;

	(void)state;
	start_tracked(f, region);
	for (int life = 0; life < 60; life++) {
		unsigned int nheld = 0, steps;

		rnd = rnd * 1103515245u + 12345u;
		steps = 5 + (rnd >> 16) % 40;
		for (unsigned int s = 0; s < steps; s++) {
			unsigned int op;

			rnd = rnd * 1103515245u + 12345u;
			op = (rnd >> 16) % 4;
			if (op == 0 && token < TOKENS && f->d.num_free >= 2) {
				add_req(f, token++);
			} else if (op == 1 && nheld < QS) {
				if (pop(f, &r[nheld], iov[nheld]) == 1)
					held[nheld] = 1, nheld++;
			} else if (op == 2 && nheld) {
				unsigned int k = (rnd >> 8) % nheld;

				if (held[k]) {
					assert_int_equal(vdev_vq_push(f->vq, &r[k], 48), 0);
					held[k] = 0;
				}
			} else if (op == 3) {
				vdev_vq_flush(f->vq);
			}
		}
		collect(f, seen, TOKENS);
		relive(f, region, REGION);
		resubmitted += vdev_vq_inflight(f->vq);
	}
	/* Drain: the last life completes everything left, once. */
	for (;;) {
		int rc = pop(f, &r[0], iov[0]);

		if (rc != 1)
			break;
		assert_int_equal(vdev_vq_complete(f->vq, &r[0], 48) >= 0, 1);
	}
	collect(f, seen, TOKENS);
	for (uint64_t t = 0; t < token; t++)
		assert_int_equal(seen[t], 1);
	assert_true(token > 50);
	assert_true(resubmitted > 20);
	free(seen);
	free(region);
	fx_free(f);
}

/* A region the other side made nonsense of: reinitialised or refused, never obeyed blindly. */
static void test_hostile_region(void **state)
{
	struct fx *f = fx_new(0, 0, 0);
	uint8_t *region = calloc(1, REGION);
	struct vdev_vq_req r;
	struct iovec iov[4];

	(void)state;
	start_tracked(f, region);

	/* desc_num of another ring size: reinitialised, nothing resubmitted. */
	memset(region + 16, 0xff, 16 * QS);
	w16(region, 10, QS * 2);
	relive(f, region, REGION);
	assert_int_equal(vdev_vq_inflight(f->vq), 0);
	assert_int_equal(r16(region, 10), QS);
	assert_int_equal(d_inflight(region, 3), 0);
	assert_true(mock_vmm_log_contains(&f->mv, "reinitialised"));

	/* Unknown version. */
	w16(region, 8, 7);
	relive(f, region, REGION);
	assert_int_equal(r16(region, 8), 1);

	/* used_idx further behind than a ring can be. */
	w16(region, 14, (uint16_t)(vdrv_used_idx(&f->d) - QS - 5));
	region[16] = 1;
	relive(f, region, REGION);
	assert_int_equal(vdev_vq_inflight(f->vq), 0);

	/* A batch list that leaves the table. */
	w16(region, 14, (uint16_t)(vdrv_used_idx(&f->d) - 3));
	w16(region, 12, 1000);
	relive(f, region, REGION);
	assert_int_equal(vdev_vq_inflight(f->vq), 0);

	/* Every head marked, the descriptor table garbage: the queue breaks cleanly. */
	for (unsigned int i = 0; i < QS; i++) {
		region[16 + 16 * i] = 1;
		vdrv_desc_set(&f->d, i, 0xfff0000000ull, 4096, VDRV_DESC_F_NEXT, (uint16_t)i);
	}
	f->errors = 0;
	assert_int_equal(relive_rc(f, region, REGION), -EIO);
	assert_int_equal(pop(f, &r, iov), -EIO);
	assert_true(f->errors >= 1);

	/* Too small for the ring: not tracked, the queue works, the region untouched. */
	vdrv_vq_fini(&f->d);
	assert_int_equal(vdrv_vq_init(&f->d, &f->mem, QS, f->features), 0);
	memset(region, 0x5a, REGION);
	vdev_vq_free(f->vq);
	assert_int_equal(vdev_vq_new(f->mv.ctx, &fx_ops, f, &f->vq), 0);
	assert_int_equal(vdev_vq_set_inflight(f->vq, region, REGION - 16), 0);
	assert_int_equal(fx_start(f, 0, 0), 0);
	add_req(f, 1);
	assert_int_equal(pop(f, &r, iov), 1);
	assert_int_equal(vdev_vq_complete(f->vq, &r, 0), 1);
	for (unsigned int i = 0; i < REGION; i++)
		assert_int_equal(region[i], 0x5a);
	free(region);
	fx_free(f);
}

/* Packed rings are not tracked: started, working, region untouched. */
static void test_packed_untracked(void **state)
{
	struct fx *f = fx_new(1, 0, 0);
	uint8_t *region = calloc(1, REGION);
	struct vdev_vq_req r;
	struct iovec iov[4];

	(void)state;
	start_tracked(f, region);
	add_req(f, 1);
	assert_int_equal(pop(f, &r, iov), 1);
	assert_int_equal(vdev_vq_complete(f->vq, &r, 0), 1);
	for (unsigned int i = 0; i < REGION; i++)
		assert_int_equal(region[i], 0);
	assert_true(mock_vmm_log_contains(&f->mv, "split rings only"));
	free(region);
	fx_free(f);
}

/* ---- the vhost-user server ---- */

#define FE_GET_INFLIGHT_FD 31
#define FE_SET_INFLIGHT_FD 32
#define FE_GET_MAX_MEM_SLOTS 36
#define FE_ADD_MEM_REG 37
#define FE_REM_MEM_REG 38
#define FE_PF_INFLIGHT (1ull << 12)
#define FE_PF_MEM_SLOTS (1ull << 15)
/* GET_INFLIGHT_FD: @return the area size (0: refused) and the fd in *fd. */
static uint64_t get_inflight(struct t *t, uint16_t nq, uint16_t qs, int *fd)
{
	uint8_t p[20] = { 0 };

	p[16] = (uint8_t)nq;
	p[17] = (uint8_t)(nq >> 8);
	p[18] = (uint8_t)qs;
	p[19] = (uint8_t)(qs >> 8);
	assert_int_equal(fe_send(&t->f, FE_GET_INFLIGHT_FD, 0, p, 20, NULL, 0), 0);
	assert_int_equal(fe_recv(&t->f, FE_GET_INFLIGHT_FD, p, 20, fd), 20);
	assert_int_equal(fe_get64(p + 8), 0); /* offset */
	assert_int_equal(p[16] | (p[17] << 8), nq);
	return fe_get64(p);
}

static uint64_t set_inflight(struct t *t, uint64_t size, uint16_t nq, uint16_t qs, int fd)
{
	uint8_t p[20] = { 0 };

	fe_put64(p, size);
	p[16] = (uint8_t)nq;
	p[17] = (uint8_t)(nq >> 8);
	p[18] = (uint8_t)qs;
	p[19] = (uint8_t)(qs >> 8);
	return fe_ack(&t->f, FE_SET_INFLIGHT_FD, p, 20, &fd, 1);
}

static void t_connect(struct t *t, uint64_t pf)
{
	fe_connect(&t->f, t->path);
	fe_negotiate(&t->f, FE_F_V1 | FE_F_INDIRECT | FE_F_HOTPLUG, pf);
}

/* Messages: refusals are clean, accepted areas have the documented size. */
static void test_vu_messages(void **state)
{
	struct t *t = t_new();
	uint8_t reg[40] = { 0 };
	int fd = -1, small;

	(void)state;
	t_connect(t, 0);
	/* Not negotiated: an area of size 0 and no fd (QEMU then tracks nothing). */
	assert_int_equal(get_inflight(t, 3, 64, &fd), 0);
	assert_int_equal(fd, -1);
	close(t->f.sock);
	t->f.sock = -1;
	for (int i = 0; i < 5; i++)
		fe_pump(&t->f);

	t_connect(t, FE_PF_INFLIGHT | FE_PF_MEM_SLOTS);
	assert_int_equal(get_inflight(t, 0, 64, &fd), 0);
	assert_int_equal(get_inflight(t, 4, 64, &fd), 0); /* the device has 3 */
	assert_int_equal(get_inflight(t, 3, 0, &fd), 0);
	/* 3 queues x ALIGN_UP(16 + 16 * 64, 64) = 3 x 1088. */
	assert_int_equal(get_inflight(t, 3, 64, &fd), 3 * 1088);
	assert_true(fd >= 0);
	assert_int_equal(lseek(fd, 0, SEEK_END), 3 * 1088);
	/* SET_INFLIGHT_FD: too small, no queues, a file shorter than claimed: refused. */
	assert_int_not_equal(set_inflight(t, 3 * 1088 - 1, 3, 64, fd), 0);
	assert_int_not_equal(set_inflight(t, 3 * 1088, 0, 64, fd), 0);
	assert_int_not_equal(set_inflight(t, 1ull << 20, 3, 64, fd), 0);
	small = memfd_create("small", MFD_CLOEXEC);
	assert_int_equal(ftruncate(small, 100), 0);
	assert_int_not_equal(set_inflight(t, 3 * 1088, 3, 64, small), 0);
	close(small);
	assert_int_equal(set_inflight(t, 3 * 1088, 3, 64, fd), 0);
	close(fd);

	/* SET_LOG_FD: refused, still talking. */
	fd = eventfd(0, EFD_CLOEXEC);
	assert_int_not_equal(fe_ack(&t->f, FE_SET_LOG_FD, NULL, 0, &fd, 1), 0);
	close(fd);

	/* CONFIGURE_MEM_SLOTS: 32 slots; regions added and removed one by one. */
	assert_int_equal(fe_get_u64(&t->f, FE_GET_MAX_MEM_SLOTS), 32);
	fe_put64(reg + 8, FE_RAM_GPA);
	fe_put64(reg + 16, FE_RAM_SIZE / 2);
	fe_put64(reg + 24, (uint64_t)(uintptr_t)t->f.ram);
	assert_int_equal(fe_ack(&t->f, FE_ADD_MEM_REG, reg, 40, &t->f.memfd, 1), 0);
	/* Overlapping the first: refused. */
	assert_int_not_equal(fe_ack(&t->f, FE_ADD_MEM_REG, reg, 40, &t->f.memfd, 1), 0);
	fe_put64(reg + 8, FE_RAM_GPA + FE_RAM_SIZE / 2);
	fe_put64(reg + 24, (uint64_t)(uintptr_t)t->f.ram + FE_RAM_SIZE / 2);
	fe_put64(reg + 32, FE_RAM_SIZE / 2);
	assert_int_equal(fe_ack(&t->f, FE_ADD_MEM_REG, reg, 40, &t->f.memfd, 1), 0);
	/* Rings work across the two regions. */
	for (unsigned int q = 0; q < 3; q++)
		fe_ring(&t->f, q, 0, 1);
	{
		uint8_t cdb[10] = { 0 };
		struct vdrv_used u;
		struct fe_cmd c;

		fe_scsi(&t->f, T_REQQ, 0, 0, cdb, 10, NULL, 0, 0, &c);
		assert_int_equal(fe_used(&t->f, T_REQQ, &u, 100), 1);
		assert_int_equal(u.token, c.token);
	}
	/* Removing one that is not there: refused; the real one: accepted (offset ignored). */
	fe_put64(reg + 16, 4096);
	assert_int_not_equal(fe_ack(&t->f, FE_REM_MEM_REG, reg, 40, NULL, 0), 0);
	fe_put64(reg + 16, FE_RAM_SIZE / 2);
	fe_put64(reg + 32, 12345);
	assert_int_equal(fe_ack(&t->f, FE_REM_MEM_REG, reg, 40, NULL, 0), 0);
	/* ADD without its fd: malformed, the connection closes. */
	assert_int_equal(fe_send(&t->f, FE_ADD_MEM_REG, 0, reg, 40, NULL, 0), 0);
	assert_true(fe_closed(&t->f));
	t_free(t);
}

/*
 * The connection drops with writes in the backend (the device reset
 * aborts them, nothing reaches the guest); the front end reconnects with
 * the same inflight fd and resumes the request ring at its used index, as
 * QEMU does after losing a back end. Every write completes exactly once
 * and is on the disk.
 */
static void test_vu_reconnect_resubmits(void **state)
{
	enum { N = 6 };
	struct t *t = t_new();
	uint8_t cdb[10], data[N][T_BS], st, resp;
	struct fe_cmd c[N + 1];
	unsigned int seen[N + 8] = { 0 };
	struct vdrv_used u;
	uint64_t size;
	int ifd = -1, dup_fd;

	(void)state;
	t_connect(t, FE_PF_INFLIGHT);
	size = get_inflight(t, 3, 64, &ifd);
	assert_true(size > 0);
	assert_int_equal(set_inflight(t, size, 3, 64, ifd), 0);
	assert_int_equal(fe_mem_table(&t->f), 0);
	for (unsigned int q = 0; q < 3; q++)
		fe_ring(&t->f, q, 0, 1);
	scsi_cdb_rw10(cdb, 0, 0, 0);
	cdb[0] = 0; /* TEST UNIT READY: the power-on unit attention */
	fe_scsi(&t->f, T_REQQ, 0, 0, cdb, 10, NULL, 0, 0, &c[N]);
	assert_int_equal(fe_used(&t->f, T_REQQ, &u, 100), 1);

	t->hold_backend = 1;
	for (unsigned int i = 0; i < N; i++) {
		memset(data[i], 0x10 + i, T_BS);
		scsi_cdb_rw10(cdb, 1, 20 + i, 1);
		fe_scsi(&t->f, T_REQQ, 0, 0, cdb, 10, data[i], T_BS, 0, &c[i]);
	}
	for (int i = 0; i < 10; i++)
		fe_pump(&t->f);
	assert_int_equal(vdrv_get_used(&t->f.vq[T_REQQ], &u), 0);
	/* The back end goes away with the writes in flight. */
	vdev_vhost_user_disconnect(t->vu);
	close(t->f.sock);
	t->f.sock = -1;
	t->hold_backend = 0;
	for (int i = 0; i < 10; i++)
		fe_pump(&t->f);

	t_connect(t, FE_PF_INFLIGHT);
	dup_fd = dup(ifd);
	assert_int_equal(set_inflight(t, size, 3, 64, dup_fd), 0);
	assert_int_equal(fe_mem_table(&t->f), 0);
	for (unsigned int q = 0; q < 3; q++)
		fe_ring(&t->f, q, q == T_REQQ ? vdrv_used_idx(&t->f.vq[T_REQQ]) : 0,
			q != T_REQQ);
	assert_true(mock_vmm_log_contains(&t->mv, "resubmitted"));
	/* Each write answered once; one may meet the reset's unit attention: retried. */
	for (unsigned int got = 0; got < N;) {
		assert_int_equal(fe_used(&t->f, T_REQQ, &u, 300), 1);
		for (unsigned int i = 0; i < N; i++) {
			if (u.token != c[i].token)
				continue;
			fe_resp(&t->f, &c[i], &st, &resp);
			assert_int_equal(resp, 0);
			seen[i]++;
			assert_int_equal(seen[i], 1);
			if (st) {
				seen[i] = 0;
				scsi_cdb_rw10(cdb, 1, 20 + i, 1);
				fe_scsi(&t->f, T_REQQ, 0, 0, cdb, 10, data[i], T_BS, 0, &c[i]);
			} else {
				got++;
			}
		}
	}
	for (unsigned int i = 0; i < N; i++) {
		struct fe_cmd rd;

		scsi_cdb_rw10(cdb, 0, 20 + i, 1);
		fe_scsi(&t->f, T_REQQ, 0, 0, cdb, 10, NULL, 0, T_BS, &rd);
		assert_int_equal(fe_used(&t->f, T_REQQ, &u, 300), 1);
		assert_int_equal(u.token, rd.token);
		assert_memory_equal(vdrv_host(&t->f.mem, rd.din), data[i], T_BS);
	}
	close(ifd);
	t_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_region_updates),
		cmocka_unit_test(test_crash_points),
		cmocka_unit_test(test_random_lives),
		cmocka_unit_test(test_hostile_region),
		cmocka_unit_test(test_packed_untracked),
		cmocka_unit_test(test_vu_messages),
		cmocka_unit_test(test_vu_reconnect_resubmits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
