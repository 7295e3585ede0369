/* SPDX-License-Identifier: MIT */
/*
 * The virtqueue engine on remote guest memory (lib/core/core.h "remote
 * regions": what vfio-user's fd-less DMA regions become). The driver
 * (vdrv.h) works on the mock VMM's RAM, the "guest"; the library sees only
 * a shadow buffer. Here the test is the client: a fetch snapshots the
 * guest when it is asked (as a client handling our messages in order
 * would) and the data is delivered later (deliver()); writes land at once.
 * The shadow starts zeroed and is never written by the test, so a request
 * served right proves the engine fetched what it read, and a buffer the
 * driver sees filled proves it pushed what it wrote.
 */
#include "test_vq_common.h"

#include "core/core.h"
#include "core/mem_internal.h"
#include "virtio/vq_internal.h"

#define MAX_FETCHES 512

struct fetch {
	uint64_t gpa, seq;
	size_t len;
	uint8_t *snap;
};

#define RAM (16u << 20)
#define HALF (RAM / 2)

struct remote {
	struct fx *f;
	uint8_t *shadow;
	unsigned int reads, writes;
	uint64_t read_bytes, write_bytes;
	int fail_reads;          /* the fetch hook fails while set */
	struct fetch pend[MAX_FETCHES];
	unsigned int npend;
	/* Called (once, then cleared) before a write to guest address @race_gpa lands. */
	void (*race)(struct remote *r);
	uint64_t race_gpa;
	unsigned int added;      /* add_one()'s count, its token */
	/* Called before the @at-th delivery (then cleared): the driver acts meanwhile. */
	void (*on_deliver)(struct remote *r);
	unsigned int deliveries, at;
};

static int hook_fetch(void *opaque, uint64_t gpa, size_t len, uint64_t seq)
{
	struct remote *r = opaque;
	struct fetch *p;

	assert_true(gpa < RAM && len <= RAM - gpa);
	if (r->fail_reads)
		return -EIO;
	assert_true(r->npend < MAX_FETCHES);
	p = &r->pend[r->npend++];
	p->gpa = gpa;
	p->len = len;
	p->seq = seq;
	p->snap = malloc(len);
	assert_non_null(p->snap);
	memcpy(p->snap, r->f->mv.ram + gpa, len);
	r->reads++;
	r->read_bytes += len;
	return 0;
}

/* The client's replies arrive: @return how many. */
static unsigned int deliver(struct remote *r)
{
	unsigned int n = r->npend;

	if (r->on_deliver && ++r->deliveries == r->at) {
		void (*act)(struct remote *) = r->on_deliver;

		r->on_deliver = NULL;
		act(r);
	}

	r->npend = 0;
	for (unsigned int i = 0; i < n; i++) {
		struct fetch *p = &r->pend[i];

		vdev__mem_remote_arrived(r->f->mv.ctx, p->seq, p->gpa, p->snap, p->len, 0);
		free(p->snap);
	}
	return n;
}

static int hook_write(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
	struct remote *r = opaque;

	assert_true(gpa < RAM && len <= RAM - gpa);
	if (r->race && gpa == r->race_gpa) {
		void (*race)(struct remote *) = r->race;

		r->race = NULL;
		race(r);
	}
	memcpy(r->f->mv.ram + gpa, buf, len);
	r->writes++;
	r->write_bytes += len;
	return 0;
}

enum layout {
	ALL_REMOTE,       /* rings and buffers in one remote region */
	RINGS_LOCAL,      /* rings in ordinary RAM [0, HALF), buffers remote [HALF, RAM) */
	BUFFERS_LOCAL,    /* rings remote [0, HALF), buffers in ordinary RAM [HALF, RAM) */
};

/* The driver: one buffer of @len bytes (writable if @wr), pattern @seed, made available. */
static void submit_one(struct remote *r, struct rq *rq, uint32_t len, uint8_t wr, uint32_t seed,
		       uint64_t token)
{
	rq_alloc(r->f, rq, &len, &wr, 1, 8);
	rq_fill(r->f, rq, seed);
	drv_submit(r->f, rq, 0, token);
}

/* A queue of @size whose memory is laid out as @lay; started. */
static struct remote *remote_new(int packed, uint32_t size, uint64_t extra, enum layout lay)
{
	struct remote *r = calloc(1, sizeof(*r));
	struct vdev__mem_remote ops = { .fetch = hook_fetch, .write = hook_write, .opaque = r };
	struct fx *f;

	assert_non_null(r);
	r->f = f = fx_new_ram(packed, 0, extra, RAM, 0);
	r->shadow = aligned_alloc(4096, RAM);
	assert_non_null(r->shadow);
	memset(r->shadow, 0, RAM);
	if (lay == ALL_REMOTE) {
		assert_int_equal(vdev__mem_region_add_remote(f->mv.ctx, 0, RAM, r->shadow, 0, &ops),
				 0);
	} else {
		uint64_t remote_gpa = lay == RINGS_LOCAL ? HALF : 0;
		uint64_t local_gpa = lay == RINGS_LOCAL ? 0 : HALF;

		assert_int_equal(vdev__mem_region_add_remote(f->mv.ctx, remote_gpa, HALF,
							     r->shadow + remote_gpa, 0, &ops),
				 0);
		assert_int_equal(vdev_mem_region_add(f->mv.ctx, local_gpa, HALF,
						     f->mv.ram + local_gpa, 0),
				 0);
	}
	/* Rings from the low half, buffers from the high half. */
	vdrv_mem_init(&f->mem, f->mv.ram, 0x10000, HALF);
	assert_int_equal(vdrv_vq_init(&f->d, &f->mem, size, f->features), 0);
	vdrv_mem_init(&f->mem, f->mv.ram, HALF, RAM);
	assert_int_equal(fx_start(f, 0, 0), 0);
	/* Where the device's iovecs must point: dev_check_iov() checks against this. */
	f->base = lay == BUFFERS_LOCAL ? f->mv.ram : r->shadow;
	f->reg[0].gpa = HALF;
	f->reg[0].size = HALF;
	return r;
}

static void remote_free(struct remote *r)
{
	deliver(r);
	fx_free(r->f);
	free(r->shadow);
	free(r);
}

/*
 * Pop everything available, serve it (writing @max_write bytes at most),
 * push, flush; when a pop gives up for remote memory, deliver what was
 * asked and pop again (what the owner's wake-up does).
 */
static unsigned int serve_all(struct remote *r, uint64_t max_write)
{
	struct dq q[16];
	unsigned int served = 0;
	int n;

	for (unsigned int i = 0; i < 16; i++)
		dq_prep(&q[i]);
	for (;;) {
		struct vdev_vq_req reqs[16];

		for (unsigned int i = 0; i < 16; i++)
			reqs[i] = q[i].r;
		n = vdev_vq_pop_batch(r->f->vq, reqs, 16);
		if (n == 0 && vdev__vq_take_remote_wait(r->f->vq)) {
			assert_true(deliver(r) > 0);
			continue;
		}
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++)
			assert_int_equal(vdev_vq_push(r->f->vq, &reqs[i],
						      dev_serve(r->f, &reqs[i], max_write)),
					 0);
		served += (unsigned int)n;
	}
	assert_int_equal(n, 0);
	vdev_vq_flush(r->f->vq);
	return served;
}

/* Requests of assorted shapes (readable then writable segments), served and checked. */
static void roundtrip(int packed, uint64_t extra, enum layout lay, unsigned int flags)
{
	static const uint32_t len[4] = { 16, 700, 4096 + 3, 96 };
	static const uint8_t wr[4] = { 0, 0, 1, 1 };
	struct remote *r = remote_new(packed, 128, extra, lay);
	struct rq rq[24];

	for (unsigned int round = 0; round < 3; round++) {
		for (unsigned int i = 0; i < 24; i++) {
			rq_alloc(r->f, &rq[i], len, wr, 4, i % 3 ? 8 : 1);
			rq_fill(r->f, &rq[i], round * 100 + i);
			rq[i].id = drv_add(r->f, rq[i].seg, rq[i].nseg, flags, i);
		}
		assert_int_equal(vdrv_publish(&r->f->d), 24);
		assert_int_equal(serve_all(r, UINT64_MAX), 24);
		for (unsigned int i = 0; i < 24; i++) {
			struct vdrv_used u = drv_get(r->f);

			assert_int_equal(u.len, rq[u.token].in_bytes);
			rq_check(r->f, &rq[u.token], u.len);
		}
		drv_none(r->f);
	}
	assert_int_equal(r->f->errors, 0);
	assert_true(r->reads > 0 && r->writes > 0);
	print_message("  %s %s layout %d: %u reads (%llu B), %u writes (%llu B) for 72 requests\n",
		      packed ? "packed" : "split", flags ? "indirect" : "direct", lay, r->reads,
		      (unsigned long long)r->read_bytes, r->writes,
		      (unsigned long long)r->write_bytes);
	remote_free(r);
}

static void test_split_all_remote(void **state)
{
	(void)state;
	roundtrip(0, 0, ALL_REMOTE, 0);
	roundtrip(0, FEAT(VDEV_VIRTIO_F_EVENT_IDX) | FEAT(VDEV_VIRTIO_F_INDIRECT_DESC), ALL_REMOTE,
		  VDRV_ADD_INDIRECT);
}

static void test_packed_all_remote(void **state)
{
	(void)state;
	roundtrip(1, 0, ALL_REMOTE, 0);
	roundtrip(1, FEAT(VDEV_VIRTIO_F_EVENT_IDX) | FEAT(VDEV_VIRTIO_F_INDIRECT_DESC), ALL_REMOTE,
		  VDRV_ADD_INDIRECT);
}

static void test_mixed_layouts(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++) {
		roundtrip(packed, FEAT(VDEV_VIRTIO_F_INDIRECT_DESC), RINGS_LOCAL, 0);
		roundtrip(packed, FEAT(VDEV_VIRTIO_F_INDIRECT_DESC), RINGS_LOCAL,
			  VDRV_ADD_INDIRECT);
		roundtrip(packed, FEAT(VDEV_VIRTIO_F_INDIRECT_DESC), BUFFERS_LOCAL, 0);
		roundtrip(packed, FEAT(VDEV_VIRTIO_F_INDIRECT_DESC), BUFFERS_LOCAL,
			  VDRV_ADD_INDIRECT);
	}
}

/*
 * A device that writes less than the buffer holds pushes only what it
 * wrote: the guest's other bytes stay as the driver left them (a push of
 * the whole writable range would copy stale shadow bytes over them).
 */
static void test_short_write_pushes_only_written(void **state)
{
	static const uint32_t len[2] = { 64, 8192 };
	static const uint8_t wr[2] = { 0, 1 };

	(void)state;
	for (int packed = 0; packed < 2; packed++) {
		struct remote *r = remote_new(packed, 16, 0, ALL_REMOTE);
		struct rq rq;
		struct vdrv_used u;
		uint8_t *in;

		rq_alloc(r->f, &rq, len, wr, 2, 8);
		rq_fill(r->f, &rq, 7);
		in = vdrv_host(&r->f->mem, rq.seg[1].gpa);
		memset(in, 0xa5, rq.seg[1].len);
		drv_submit(r->f, &rq, 0, 0);
		assert_int_equal(serve_all(r, 100), 1);
		u = drv_get(r->f);
		assert_int_equal(u.len, 100);
		for (uint32_t k = 0; k < 100; k++)
			assert_int_equal(in[k], pat(rq.sum, k));
		for (uint32_t k = 100; k < rq.seg[1].len; k++)
			if (in[k] != 0xa5)
				fail_msg("byte %u past the written 100 changed: %#x", k, in[k]);
		remote_free(r);
	}
}

/*
 * EVENT_IDX: once the device drained the ring it moves avail_event to the
 * next entry; the driver must see that (pushed), or it would not kick for
 * its next buffer and the queue would stall.
 */
static void test_event_idx_rearm_reaches_driver(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++) {
		struct remote *r = remote_new(packed, 16, FEAT(VDEV_VIRTIO_F_EVENT_IDX), ALL_REMOTE);
		struct rq rq;

		for (unsigned int i = 0; i < 40; i++) {
			submit_one(r, &rq, 32, 1, i, i);
			if (i && !vdrv_need_kick(&r->f->d))
				fail_msg("%s, buffer %u: the driver would not kick",
					 packed ? "packed" : "split", i);
			assert_int_equal(serve_all(r, UINT64_MAX), 1);
			(void)drv_get(r->f);
		}
		remote_free(r);
	}
}

static void add_one(struct remote *r)
{
	struct rq rq;

	submit_one(r, &rq, 48, 1, 99, r->added++);
}

/*
 * The race notification suppression must survive: the driver adds a
 * buffer after the device's last look at the ring but before the device's
 * "kick me at the next entry" (avail_event / device event area) reaches
 * it, so the driver sees the old value and does not kick. The device must
 * look again after its write lands: the buffer is served in the same
 * drain, with no kick.
 */
static void test_add_racing_the_rearm_is_seen(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++) {
		struct remote *r = remote_new(packed, 32, FEAT(VDEV_VIRTIO_F_EVENT_IDX), ALL_REMOTE);
		struct vdev_vq_config c;
		struct vdrv_used u;

		vdrv_vq_config(&r->f->d, &c);
		/*
		 * A full batch (serve_all() pops 16 at a time) first, so the
		 * rearm comes in the device's last look, the one that finds
		 * the ring empty and ends the drain.
		 */
		for (unsigned int i = 0; i < 16; i++)
			add_one(r);
		r->race = add_one;
		r->race_gpa = c.device_addr + (packed ? 0 : 4 + 8 * (uint64_t)c.size);
		assert_int_equal(serve_all(r, UINT64_MAX), 17);
		assert_null(r->race);
		for (unsigned int i = 0; i < 17; i++) {
			u = drv_get(r->f);
			assert_int_equal(u.token, i);
		}
		drv_none(r->f);
		remote_free(r);
	}
}

/*
 * Notification suppression: rings in shared memory are read as ever (a
 * client often shares RAM but not its ROMs, so some remote region exists);
 * remote rings cannot be read without waiting, so every flush notifies.
 */
static void test_flush_notifies(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++) {
		for (enum layout lay = ALL_REMOTE; lay <= RINGS_LOCAL; lay++) {
			struct remote *r = remote_new(packed, 16, FEAT(VDEV_VIRTIO_F_EVENT_IDX), lay);
			struct rq rq;

			vdrv_interrupts_disable(&r->f->d);
			for (unsigned int i = 0; i < 4; i++) {
				submit_one(r, &rq, 64, 1, i, i);
				assert_int_equal(serve_all(r, UINT64_MAX), 1);
				assert_int_equal(drv_get(r->f).token, i);
			}
			assert_int_equal(r->f->notifies, lay == ALL_REMOTE ? 4 : 0);
			remote_free(r);
		}
	}
}

/* The read hook fails: the queue breaks with its own reason, no request is made up. */
static void test_unreachable_memory_breaks_queue(void **state)
{
	static const uint32_t len[2] = { 64, 64 };
	static const uint8_t wr[2] = { 0, 1 };

	(void)state;
	for (int packed = 0; packed < 2; packed++) {
		for (enum layout lay = ALL_REMOTE; lay <= RINGS_LOCAL; lay++) {
			struct remote *r = remote_new(packed, 16, 0, lay);
			struct rq rq;
			struct dq q;

			rq_alloc(r->f, &rq, len, wr, 2, 8);
			rq_fill(r->f, &rq, 1);
			drv_submit(r->f, &rq, 0, 0);
			r->fail_reads = 1;
			assert_int_equal(dev_pop(r->f, &q), -EIO);
			assert_int_equal(r->f->errors, 1);
			assert_string_equal(r->f->reason, "guest-memory-unreachable");
			assert_int_equal(vdev_vq_broken(r->f->vq), 1);
			r->fail_reads = 0;
			assert_int_equal(dev_pop(r->f, &q), -EIO);
			assert_int_equal(r->f->errors, 1);
			remote_free(r);
		}
	}
}

/* The client answers a fetch with an error: the same, once the answer is in. */
static void test_failed_fetch_breaks_queue(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++) {
		struct remote *r = remote_new(packed, 16, 0, ALL_REMOTE);
		struct rq rq;
		struct dq q;

		submit_one(r, &rq, 64, 0, 1, 0);
		assert_int_equal(dev_pop(r->f, &q), 0);
		assert_true(vdev__vq_take_remote_wait(r->f->vq));
		assert_int_equal(r->npend, 1);
		vdev__mem_remote_arrived(r->f->mv.ctx, r->pend[0].seq, r->pend[0].gpa, NULL,
					 r->pend[0].len, -EIO);
		free(r->pend[0].snap);
		r->npend = 0;
		assert_int_equal(dev_pop(r->f, &q), -EIO);
		assert_string_equal(r->f->reason, "guest-memory-unreachable");
		remote_free(r);
	}
}

/*
 * The driver adds a buffer and kicks after our look read the index (the
 * fetch saw the old one): the look must not end there, or that buffer
 * waits for a kick that already came. (No EVENT_IDX: no rearm to save it.)
 */
static void test_kick_during_look(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++) {
		struct remote *r = remote_new(packed, 16, 0, ALL_REMOTE);
		struct rq rq;
		struct dq q;

		submit_one(r, &rq, 40, 1, 1, 0);
		vdev__vq_note_kick(r->f->vq);
		assert_int_equal(dev_pop(r->f, &q), 0);     /* asked, not there yet */
		submit_one(r, &rq, 40, 1, 2, 1);
		vdev__vq_note_kick(r->f->vq);
		assert_int_equal(deliver(r), 1);
		assert_int_equal(serve_all(r, UINT64_MAX), 2);
		assert_int_equal(drv_get(r->f).token, 0);
		assert_int_equal(drv_get(r->f).token, 1);
		remote_free(r);
	}
}

/*
 * The same buffer, rewritten by the driver and made available again: the
 * device reads the new bytes, not what an earlier fetch brought.
 */
static void test_reused_buffer_is_fetched_again(void **state)
{
	static const uint32_t len[2] = { 300, 64 };
	static const uint8_t wr[2] = { 0, 1 };

	(void)state;
	for (int packed = 0; packed < 2; packed++) {
		struct remote *r = remote_new(packed, 16, 0, ALL_REMOTE);
		struct rq rq;

		rq_alloc(r->f, &rq, len, wr, 2, 8);
		for (uint32_t seed = 1; seed <= 3; seed++) {
			struct vdrv_used u;

			rq_fill(r->f, &rq, seed);
			drv_submit(r->f, &rq, 0, seed);
			vdev__vq_note_kick(r->f->vq);
			assert_int_equal(serve_all(r, UINT64_MAX), 1);
			u = drv_get(r->f);
			assert_int_equal(u.len, 64);
			rq_check(r->f, &rq, u.len);
		}
		remote_free(r);
	}
}

static struct rq many_rq[160];

/* The driver's next 20 requests (3 readable segments and a writable one each). */
static void add_twenty(struct remote *r)
{
	static const uint32_t len[4] = { 16, 40, 72, 64 };
	static const uint8_t wr[4] = { 0, 0, 0, 1 };

	for (unsigned int i = 0; i < 20; i++) {
		struct rq *q = &many_rq[r->added];

		rq_alloc(r->f, q, len, wr, 4, 8);
		rq_fill(r->f, q, 1000 + r->added);
		q->id = drv_add(r->f, q->seg, q->nseg, 0, r->added++);
	}
	assert_int_equal(vdrv_publish(&r->f->d), 20);
	vdev__vq_note_kick(r->f->vq);
}

/*
 * More fetches in one look than the core keeps (its table drops the
 * oldest arrived ones, the index's among them) while the driver adds
 * requests: every request still served with its own data.
 */
static void test_many_fetches_in_one_look(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++) {
		struct remote *r = remote_new(packed, 1024, 0, ALL_REMOTE);

		for (unsigned int k = 0; k < 6; k++)
			add_twenty(r);
		r->on_deliver = add_twenty;
		r->at = 150;
		assert_int_equal(serve_all(r, UINT64_MAX), 140);
		assert_null(r->on_deliver);
		for (unsigned int i = 0; i < 140; i++) {
			struct vdrv_used u = drv_get(r->f);

			assert_int_equal(u.len, 64);
			rq_check(r->f, &many_rq[u.token], u.len);
		}
		drv_none(r->f);
		remote_free(r);
	}
}

/*
 * The same, made to happen: the core drops the index's fetch (as its
 * table does when full) while what it covered stays; the driver adds a
 * request; the index is fetched again and has moved. The ring entries
 * must be read again too - the look's earlier read of them predates the
 * new entry (it would name head 0, still in flight).
 */
static void test_index_fetched_again(void **state)
{
	struct remote *r;
	struct vdev_vq_config c;
	struct rq rq[2];
	struct dq q[2];

	(void)state;
	r = remote_new(0, 16, 0, ALL_REMOTE);
	vdrv_vq_config(&r->f->d, &c);
	submit_one(r, &rq[0], 64, 1, 1, 0);
	vdev__vq_note_kick(r->f->vq);
	for (int tries = 0; dev_pop(r->f, &q[0]) == 0; tries++) {
		assert_true(tries < 8 && deliver(r) > 0);
	}
	assert_int_equal(q[0].r.id, rq[0].id);
	submit_one(r, &rq[1], 64, 1, 2, 1);
	vdev__mem_fetches_forget(r->f->mv.ctx->mem, c.driver_addr, c.driver_addr + 3);
	for (int tries = 0; dev_pop(r->f, &q[1]) == 0; tries++) {
		assert_true(tries < 8 && deliver(r) > 0);
	}
	assert_int_equal(r->f->errors, 0);
	assert_int_equal(q[1].r.id, rq[1].id);
	remote_free(r);
}

/* A batch costs a handful of ring reads, not one per request. */
static void test_split_batch_ring_reads(void **state)
{
	static const uint32_t len[1] = { 512 };
	static const uint8_t wr[1] = { 1 };
	struct remote *r;
	struct rq rq[32];
	unsigned int before;

	(void)state;
	r = remote_new(0, 64, 0, ALL_REMOTE);
	for (unsigned int i = 0; i < 32; i++) {
		rq_alloc(r->f, &rq[i], len, wr, 1, 8);
		rq_fill(r->f, &rq[i], i);
		rq[i].id = drv_add(r->f, rq[i].seg, 1, 0, i);
	}
	assert_int_equal(vdrv_publish(&r->f->d), 32);
	before = r->reads;
	assert_int_equal(serve_all(r, UINT64_MAX), 32);
	/* idx, ring + table, idx again when drained (2 batches of 16), used_event/flags at flush. */
	if (r->reads - before > 8)
		fail_msg("%u reads for 32 write-only requests", r->reads - before);
	for (unsigned int i = 0; i < 32; i++) {
		struct vdrv_used u = drv_get(r->f);

		rq_check(r->f, &rq[u.token], u.len);
	}
	remote_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_all_remote),
		cmocka_unit_test(test_packed_all_remote),
		cmocka_unit_test(test_mixed_layouts),
		cmocka_unit_test(test_short_write_pushes_only_written),
		cmocka_unit_test(test_event_idx_rearm_reaches_driver),
		cmocka_unit_test(test_add_racing_the_rearm_is_seen),
		cmocka_unit_test(test_flush_notifies),
		cmocka_unit_test(test_unreachable_memory_breaks_queue),
		cmocka_unit_test(test_failed_fetch_breaks_queue),
		cmocka_unit_test(test_kick_during_look),
		cmocka_unit_test(test_reused_buffer_is_fetched_again),
		cmocka_unit_test(test_many_fetches_in_one_look),
		cmocka_unit_test(test_index_fetched_again),
		cmocka_unit_test(test_split_batch_ring_reads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
