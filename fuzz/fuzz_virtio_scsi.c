/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the virtio-scsi device (lib/virtio/virtio_scsi.c) through a
 * "virtio-scsi-pci" device (two request queues, seg_max 4 so that
 * oversized requests happen) and a memory-backed
 * disk at target 0 LUN 0: ring contents, register and configuration
 * writes (cdb_size, sense_size ...), request bytes (command headers, CDBs,
 * control requests, event buffers), backend completions, LUN hot-plug,
 * capacity changes, resets, save/load with commands in flight — all from
 * the input.
 *
 * Guest RAM is two registered regions with a hole between them, inside an
 * mmap with PROT_NONE pages around and in the hole:
 *     gpa 0x00000-0x07fff  region A: rings at 0x1000 (queue q at +0x400 q),
 *                          buffers from 0x2000
 *     gpa 0x08000-0x0bfff  hole (PROT_NONE, not RAM)
 *     gpa 0x0c000-0x0ffff  region B (buffers)
 * so any access the library makes outside registered RAM faults.
 *
 * Input: a sequence of operations, an opcode byte then its operands
 * (missing bytes read as zero). OP_INIT brings the driver up with split
 * rings of 16 entries; OP_REQ lays a request out from the input (with an
 * optional well-formed command header so the SCSI paths are reached fast),
 * publishes and kicks it; OP_DESC / OP_AVAIL / OP_RAM shape rings and
 * buffers by hand.
 *
 * Oracles (a broken one traps; that is the harness, not library code):
 *  - the guard pages: nothing outside RAM is touched;
 *  - every used length is at most the writable bytes of the buffer the
 *    harness published under that id (checked while the harness knows the
 *    chain is unchanged since);
 *  - status holds only the bits the spec defines;
 *  - a save/load round trip into the same device succeeds and the state
 *    saved again loads again.
 * Compiles against the public headers and the mock VMM only.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <vdev/block.h>
#include <vdev/scsi.h>
#include <vdev/vdev.h>
#include <vdev/virtio.h>
#include <vdev/virtio_scsi.h>

#include "mock_vmm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                        \
	do {                               \
		if (!(cond))               \
			__builtin_trap();  \
	} while (0)

#define PAGE 4096u
#define REG_A_GPA 0x0000u
#define REG_A_SIZE 0x8000u
#define HOLE_SIZE 0x4000u
#define REG_B_GPA 0xc000u
#define REG_B_SIZE 0x4000u
#define SPAN 0x10000u
#define MAX_OPS 2048
#define MAX_TRIPS 3     /* round trips per input: each costs the engine's full load */

#define NQ 4u           /* control, event, two request queues */
#define QSIZE 16u
#define RING_GPA 0x1000u
#define RING_STRIDE 0x400u
#define DESC_OFF 0x000u
#define AVAIL_OFF 0x100u
#define USED_OFF 0x200u
#define BUF_LO 0x2000u  /* region A buffer area */

#define BAR_VIRTIO 4
#define CC_DFSELECT 0x00
#define CC_DF 0x04
#define CC_GFSELECT 0x08
#define CC_GF 0x0c
#define CC_STATUS 0x14
#define CC_Q_SELECT 0x16
#define CC_Q_SIZE 0x18
#define CC_Q_MSIX 0x1a
#define CC_Q_ENABLE 0x1c
#define CC_Q_DESC 0x20
#define CC_Q_DRIVER 0x28
#define CC_Q_DEVICE 0x30

#define UNKNOWN UINT64_MAX

enum {
	OP_INIT,       /* u64 features (masked with what is offered) */
	OP_REQ,        /* see op_req() */
	OP_POLL,       /* run backend completions */
	OP_CFG,        /* u8 field, u32 value: device configuration write */
	OP_BAR_READ,   /* u16 off, u8 len (mod 9) */
	OP_BAR_WRITE,  /* u16 off, u8 len (mod 9), u64 value */
	OP_KICK,       /* u8 queue */
	OP_DESC,       /* u8 queue, u8 index, u16 addr (units of 8), u16 len, u8 flags, u8 next */
	OP_AVAIL,      /* u8 queue, u8 head: append to the avail ring and publish */
	OP_RAM,        /* u16 gpa (buffer areas), u8 n, n bytes */
	OP_RESET,      /* u8 how: status 0 / vdev_virtio_reset / vdev_device_reset */
	OP_ROUNDTRIP,  /* save, load into itself, save and load again */
	OP_TIME,       /* run timers (the post-load resume) */
	OP_LUN,        /* u8 what: add/remove LUN 1 or 300, capacity change of LUN 0 */
	OP_EVENTBUF,   /* u8 len: post an event buffer and kick */
	OP_COUNT,
};

struct fz {
	const uint8_t *p;
	size_t n;
	struct mock_vmm mv;
	uint8_t *map;       /* PROT_NONE page, SPAN bytes of gpa space, PROT_NONE page */
	uint8_t *ram;       /* gpa 0 */
	vdev_device *dev;
	vdev_pci_func *f;
	vdev_virtio *vd;
	vdev_scsi_bus *bus;
	vdev_blk *blk[3];   /* LUN 0, LUN 1, LUN 300 (NULL: absent) */
	uint32_t devcfg;    /* offset of the device configuration in BAR4 */
	uint32_t notify;    /* offset of the notify area */
	uint32_t notify_mult;
	uint32_t buf_next;  /* bump pointer in the buffer areas (wraps) */
	uint16_t avail_idx[NQ];
	uint16_t used_seen[NQ];
	uint8_t next_desc[NQ];
	uint64_t known_in[NQ][QSIZE];  /* writable bytes published under head id, or UNKNOWN */
	uint8_t owner[NQ][QSIZE];      /* head of the chain a descriptor belongs to */
	int tainted;        /* rings or their addresses shaped by hand: no used-ring oracle */
	int trips;
};

static uint64_t take(struct fz *z, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes; i++) {
		uint8_t b = 0;

		if (z->n) {
			b = *z->p++;
			z->n--;
		}
		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

static void put(uint8_t *p, uint64_t v, unsigned int len)
{
	for (unsigned int i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get(const uint8_t *p, unsigned int len)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < len; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint64_t bar_rd(struct fz *z, uint64_t off, unsigned int len)
{
	uint8_t b[8] = { 0 };

	vdev_pci_bar_read(z->f, BAR_VIRTIO, off, b, len);
	return get(b, len);
}

static void bar_wr(struct fz *z, uint64_t off, uint64_t v, unsigned int len)
{
	uint8_t b[8];

	put(b, v, 8);
	vdev_pci_bar_write(z->f, BAR_VIRTIO, off, b, len);
}

static uint32_t cfg_rd(struct fz *z, uint32_t off, unsigned int len)
{
	uint8_t b[4] = { 0 };

	vdev_pci_config_read(z->f, off, b, len);
	return (uint32_t)get(b, len);
}

/* The virtio-pci capability of cfg_type @type: its offset field (and the one after). */
static uint8_t find_vcap(struct fz *z, int type)
{
	uint8_t p = (uint8_t)cfg_rd(z, VDEV_PCI_CAPABILITY_LIST, 1);

	for (int guard = 0; p && guard < 48; guard++) {
		if (cfg_rd(z, p, 1) == VDEV_PCI_CAP_ID_VNDR && cfg_rd(z, p + 3u, 1) == (uint32_t)type)
			return p;
		p = (uint8_t)cfg_rd(z, p + 1u, 1);
	}
	return 0;
}

static uint64_t ring(unsigned int q, uint32_t off)
{
	return RING_GPA + RING_STRIDE * q + off;
}

static void forget_all(struct fz *z)
{
	for (unsigned int q = 0; q < NQ; q++)
		for (unsigned int i = 0; i < QSIZE; i++)
			z->known_in[q][i] = UNKNOWN;
}

/*
 * New used entries: each length at most what the harness published under
 * that id. Not after raw descriptor or register writes until the next
 * OP_INIT: buffers may then overlap the rings and the device legitimately
 * writes data over them.
 */
static void check_used(struct fz *z)
{
	if (z->tainted)
		return;
	for (unsigned int q = 0; q < NQ; q++) {
		const uint8_t *u = z->ram + ring(q, USED_OFF);
		uint16_t idx = __atomic_load_n((const uint16_t *)(const void *)(u + 2),
					       __ATOMIC_ACQUIRE);

		for (; z->used_seen[q] != idx; z->used_seen[q]++) {
			const uint8_t *e = u + 4 + 8u * (z->used_seen[q] % QSIZE);
			uint32_t id = (uint32_t)get(e, 4), len = (uint32_t)get(e + 4, 4);

			CHECK(id < QSIZE);
			if (z->known_in[q][id] != UNKNOWN)
				CHECK(len <= z->known_in[q][id]);
			z->known_in[q][id] = UNKNOWN;
		}
	}
}

static void check_invariants(struct fz *z)
{
	uint8_t st = vdev_virtio_status(z->vd);

	CHECK(!(st & 0x30));
	CHECK(bar_rd(z, CC_STATUS, 1) == st);
	check_used(z);
}

/* A driver bring-up (§3.1.1) with the four queues on split rings in region A. */
static void op_init(struct fz *z)
{
	uint64_t want = take(z, 8), offered;

	uint8_t cmd[2] = { VDEV_PCI_COMMAND_MEMORY | VDEV_PCI_COMMAND_MASTER, 0 };

	vdev_pci_config_write(z->f, VDEV_PCI_COMMAND, cmd, 2);
	bar_wr(z, CC_STATUS, 0, 1);
	bar_wr(z, CC_STATUS, 3, 1);
	bar_wr(z, CC_DFSELECT, 0, 4);
	offered = bar_rd(z, CC_DF, 4);
	bar_wr(z, CC_DFSELECT, 1, 4);
	offered |= bar_rd(z, CC_DF, 4) << 32;
	/* Never packed: the harness writes the split layout. */
	want = (want & offered & ~(1ull << VDEV_VIRTIO_F_RING_PACKED)) |
	       (1ull << VDEV_VIRTIO_F_VERSION_1);
	bar_wr(z, CC_GFSELECT, 0, 4);
	bar_wr(z, CC_GF, (uint32_t)want, 4);
	bar_wr(z, CC_GFSELECT, 1, 4);
	bar_wr(z, CC_GF, (uint32_t)(want >> 32), 4);
	bar_wr(z, CC_STATUS, 0x0b, 1);
	memset(z->ram + RING_GPA, 0, RING_STRIDE * NQ);
	for (unsigned int q = 0; q < NQ; q++) {
		z->avail_idx[q] = 0;
		z->used_seen[q] = 0;
		z->next_desc[q] = 0;
		bar_wr(z, CC_Q_SELECT, q, 2);
		bar_wr(z, CC_Q_SIZE, QSIZE, 2);
		bar_wr(z, CC_Q_DESC, ring(q, DESC_OFF), 8);
		bar_wr(z, CC_Q_DRIVER, ring(q, AVAIL_OFF), 8);
		bar_wr(z, CC_Q_DEVICE, ring(q, USED_OFF), 8);
		bar_wr(z, CC_Q_MSIX, 0xffff, 2);
		bar_wr(z, CC_Q_ENABLE, 1, 2);
	}
	forget_all(z);
	z->tainted = 0;
	bar_wr(z, CC_STATUS, 0x0f, 1);
}

static void kick(struct fz *z, unsigned int q)
{
	bar_wr(z, z->notify + (uint64_t)z->notify_mult * q, q, 2);
}

static void publish(struct fz *z, unsigned int q, uint16_t head)
{
	uint8_t *a = z->ram + ring(q, AVAIL_OFF);

	put(a + 4 + 2u * (z->avail_idx[q] % QSIZE), head, 2);
	z->avail_idx[q]++;
	__atomic_store_n((uint16_t *)(void *)(a + 2), z->avail_idx[q], __ATOMIC_RELEASE);
}

/* *len bytes (clamped to the area) of buffer space in region A or B, not wrapping. */
static uint64_t buf_alloc(struct fz *z, uint32_t *len, int region_b)
{
	uint64_t lo = region_b ? REG_B_GPA : BUF_LO;
	uint64_t hi = region_b ? REG_B_GPA + REG_B_SIZE : REG_A_SIZE;
	uint64_t g;

	if (*len > hi - lo)
		*len = (uint32_t)(hi - lo);
	g = lo + (z->buf_next % (hi - lo));
	if (g + *len > hi)
		g = lo;
	z->buf_next = (uint32_t)(g - lo + *len + 8);
	return g;
}

/*
 * OP_REQ: u8 queue, u8 shape, then per segment u16 len (and for readable
 * segments their bytes). shape: bits 0-2 readable segments, bits 3-5
 * writable segments, bit 6: the first readable bytes are a well-formed
 * command header (u8 target sel, u8 lun, u8 attr, 16 CDB bytes from the
 * input), bit 7: region B.
 */
static void op_req(struct fz *z)
{
	unsigned int q = (unsigned int)take(z, 1) % NQ;
	uint8_t shape = (uint8_t)take(z, 1);
	unsigned int nr = shape & 7, nw = (shape >> 3) & 7, n = nr + nw;
	int hdr = (shape >> 6) & 1, reg_b = shape >> 7;
	uint8_t head = z->next_desc[q];
	uint64_t in = 0;

	if (!n)
		return;
	for (unsigned int i = 0; i < n; i++) {
		uint8_t d = (uint8_t)((head + i) % QSIZE);
		uint32_t len = (uint32_t)take(z, 2) % 2048;
		int w = i >= nr;
		uint64_t g = buf_alloc(z, &len, reg_b);
		uint8_t *p = z->ram + g, *dp = z->ram + ring(q, DESC_OFF) + 16u * d;

		if (!w) {
			uint32_t k = 0;

			if (i == 0 && hdr && len >= 51) {
				memset(p, 0, 51);
				p[0] = 1;
				p[1] = (uint8_t)take(z, 1) & 3;
				p[2] = 0x40;
				p[3] = (uint8_t)take(z, 1);
				p[16] = (uint8_t)take(z, 1);
				for (k = 19; k < 35; k++)
					p[k] = (uint8_t)take(z, 1);
				k = 51;
			}
			for (; k < len; k++)
				p[k] = (uint8_t)take(z, 1);
		} else {
			memset(p, 0xa5, len);
			in += len;
		}
		/* Whatever chain owned this descriptor before is no longer known. */
		z->known_in[q][z->owner[q][d]] = UNKNOWN;
		z->owner[q][d] = head;
		put(dp, g, 8);
		put(dp + 8, len, 4);
		put(dp + 12, (i + 1 < n ? 1 : 0) | (w ? 2 : 0), 2);
		put(dp + 14, (head + i + 1) % QSIZE, 2);
	}
	z->next_desc[q] = (uint8_t)((head + n) % QSIZE);
	z->known_in[q][head] = in;
	publish(z, q, head);
	kick(z, q);
}

static void op_desc(struct fz *z)
{
	unsigned int q = (unsigned int)take(z, 1) % NQ;
	uint8_t i = (uint8_t)(take(z, 1) % QSIZE);
	uint64_t addr = (take(z, 2) * 8) % SPAN;
	uint16_t len = (uint16_t)take(z, 2);
	uint8_t flags = (uint8_t)take(z, 1);
	uint8_t next = (uint8_t)take(z, 1);
	uint8_t *d = z->ram + ring(q, DESC_OFF) + 16u * i;

	put(d, addr, 8);
	put(d + 8, len, 4);
	put(d + 12, flags & 7, 2);
	put(d + 14, next, 2);
	z->tainted = 1;
}

static void op_ram(struct fz *z)
{
	uint16_t off = (uint16_t)take(z, 2);
	uint8_t n = (uint8_t)take(z, 1);
	uint32_t area = (REG_A_SIZE - BUF_LO) + REG_B_SIZE;
	uint32_t pos = off % area;
	uint64_t gpa = pos < REG_A_SIZE - BUF_LO ? BUF_LO + pos
						   : REG_B_GPA + (pos - (REG_A_SIZE - BUF_LO));
	uint64_t end = gpa < REG_A_SIZE ? REG_A_SIZE : REG_B_GPA + REG_B_SIZE;

	/* Contents only: descriptor lengths, hence the oracle, do not change. */
	for (unsigned int i = 0; i < n && gpa + i < end; i++)
		z->ram[gpa + i] = (uint8_t)take(z, 1);
}

static void op_cfg(struct fz *z)
{
	uint8_t field = (uint8_t)(take(z, 1) % 10);
	uint32_t v = (uint32_t)take(z, 4);

	/* Small values mostly, so layouts stay within the buffers. */
	if ((v >> 24) != 0xff)
		v %= 300;
	bar_wr(z, z->devcfg + 4u * field, v, 4);
}

static void poll_all(struct fz *z)
{
	for (int round = 0; round < 8; round++) {
		int n = 0;

		for (unsigned int i = 0; i < 3; i++)
			if (z->blk[i])
				n += vdev_blk_poll(z->blk[i]);
		if (!n)
			break;
	}
}

static vdev_blk *add_disk(struct fz *z, uint16_t lun, uint64_t size)
{
	struct vdev_blk_opts bo = {
		.struct_size = sizeof(bo),
		.driver = "memory",
		.size = size,
	};
	struct vdev_scsi_lun_opts lo = {
		.struct_size = sizeof(lo),
		.type = VDEV_SCSI_LUN_DISK,
	};
	vdev_blk *b;

	if (vdev_blk_open(z->mv.ctx, &bo, &b))
		return NULL;
	lo.blk = b;
	if (vdev_scsi_lun_add(z->bus, 0, lun, &lo, NULL)) {
		vdev_blk_close(b);
		return NULL;
	}
	return b;
}

static void op_lun(struct fz *z)
{
	static const uint16_t luns[3] = { 0, 1, 300 };
	uint8_t what = (uint8_t)take(z, 1) % 3;

	if (what == 0) {
		vdev_scsi_lun *l = vdev_scsi_lun_find(z->bus, 0, 0);

		if (l)
			vdev_scsi_lun_capacity_changed(l);
		return;
	}
	if (z->blk[what]) {
		CHECK(!vdev_scsi_lun_remove(z->bus, 0, luns[what]));
		z->blk[what] = NULL; /* the LUN closed it */
	} else {
		z->blk[what] = add_disk(z, luns[what], 64 * 1024);
	}
}

static void op_eventbuf(struct fz *z)
{
	uint32_t len = (uint32_t)take(z, 1);
	uint8_t d = z->next_desc[1];
	uint64_t g = buf_alloc(z, &len, 0);
	uint8_t *dp = z->ram + ring(1, DESC_OFF) + 16u * d;

	memset(z->ram + g, 0xa5, len);
	z->known_in[1][z->owner[1][d]] = UNKNOWN;
	z->owner[1][d] = d;
	put(dp, g, 8);
	put(dp + 8, len, 4);
	put(dp + 12, 2, 2);
	put(dp + 14, 0, 2);
	z->next_desc[1] = (uint8_t)((d + 1) % QSIZE);
	z->known_in[1][d] = len;
	publish(z, 1, d);
	kick(z, 1);
}

static uint8_t *save_copy(struct fz *z, size_t *len)
{
	vdev_state_writer *w;
	const void *data;
	uint8_t *copy = NULL;

	if (vdev_state_writer_new(&w))
		return NULL;
	if (!vdev_device_save(z->dev, w) && !vdev_state_writer_finish(w, &data, len)) {
		copy = malloc(*len);
		if (copy)
			memcpy(copy, data, *len);
	}
	vdev_state_writer_free(w);
	return copy;
}

static void load_copy(struct fz *z, const uint8_t *a, size_t la)
{
	vdev_state_reader *r;

	CHECK(!vdev_state_reader_new(a, la, &r));
	CHECK(!vdev_device_load(z->dev, r));
	vdev_state_reader_free(r);
}

/* The device's own state always loads back into it, commands in flight or not. */
static void op_roundtrip(struct fz *z)
{
	uint8_t *a, *b;
	size_t la = 0, lb = 0;

	a = save_copy(z, &la);
	CHECK(a);
	load_copy(z, a, la);
	b = save_copy(z, &lb);
	CHECK(b);
	load_copy(z, b, lb);
	free(a);
	free(b);
}

static void run(struct fz *z)
{
	for (int ops = 0; z->n && ops < MAX_OPS; ops++) {
		uint8_t op = (uint8_t)(take(z, 1) % OP_COUNT);
		uint8_t sel;
		uint32_t off;

		switch (op) {
		case OP_INIT:
			op_init(z);
			break;
		case OP_REQ:
			op_req(z);
			break;
		case OP_POLL:
			poll_all(z);
			break;
		case OP_CFG:
			op_cfg(z);
			break;
		case OP_BAR_READ:
			off = (uint32_t)take(z, 2) & 0x3fffu;
			(void)bar_rd(z, off, (unsigned int)(take(z, 1) % 9));
			break;
		case OP_BAR_WRITE:
			off = (uint32_t)take(z, 2) & 0x3fffu;
			sel = (uint8_t)(take(z, 1) % 9);
			bar_wr(z, off, take(z, 8), sel);
			z->tainted = 1; /* queue addresses may have moved */
			break;
		case OP_KICK:
			vdev_virtio_kick(z->vd, (unsigned int)take(z, 1) % NQ);
			break;
		case OP_DESC:
			op_desc(z);
			break;
		case OP_AVAIL:
			sel = (uint8_t)(take(z, 1) % NQ);
			publish(z, sel, (uint16_t)take(z, 1));
			for (unsigned int k = 0; k < QSIZE; k++)
				z->known_in[sel][k] = UNKNOWN;
			break;
		case OP_RAM:
			op_ram(z);
			break;
		case OP_RESET:
			sel = (uint8_t)(take(z, 1) % 3);
			if (sel == 0)
				bar_wr(z, CC_STATUS, 0, 1);
			else if (sel == 1)
				vdev_virtio_reset(z->vd);
			else
				vdev_device_reset(z->dev);
			break;
		case OP_ROUNDTRIP:
			if (z->trips++ < MAX_TRIPS)
				op_roundtrip(z);
			break;
		case OP_TIME:
			mock_vmm_set_time(&z->mv, z->mv.now_ns + 1);
			break;
		case OP_LUN:
			op_lun(z);
			break;
		case OP_EVENTBUF:
			op_eventbuf(z);
			break;
		default:
			break;
		}
		check_invariants(z);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz z;
	size_t maplen = SPAN + 2 * PAGE;
	uint8_t c;

	memset(&z, 0, sizeof(z));
	z.p = data;
	z.n = size;
	z.map = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(z.map != MAP_FAILED);
	z.ram = z.map + PAGE;
	CHECK(!mprotect(z.map, PAGE, PROT_NONE));
	CHECK(!mprotect(z.ram + REG_A_SIZE, HOLE_SIZE, PROT_NONE));
	CHECK(!mprotect(z.ram + SPAN, PAGE, PROT_NONE));

	CHECK(!mock_vmm_init(&z.mv, 0, 0));
	vdev_ctx_set_log_level(z.mv.ctx, VDEV_LOG_ERROR);
	CHECK(!vdev_mem_region_add(z.mv.ctx, REG_A_GPA, REG_A_SIZE, z.ram + REG_A_GPA, 0));
	CHECK(!vdev_mem_region_add(z.mv.ctx, REG_B_GPA, REG_B_SIZE, z.ram + REG_B_GPA, 0));
	CHECK(!vdev_device_create_kv(z.mv.ctx, "virtio-scsi-pci,num-queues=2,queue-size=16,seg-max=4",
				     &z.dev));
	z.f = vdev_device_pci(z.dev);
	z.vd = vdev_device_virtio(z.dev);
	z.bus = vdev_virtio_scsi_bus(z.dev);
	CHECK(z.f && z.vd && z.bus);
	z.blk[0] = add_disk(&z, 0, 256 * 1024);
	CHECK(z.blk[0]);
	c = find_vcap(&z, 4);
	CHECK(c);
	z.devcfg = cfg_rd(&z, c + 8u, 4);
	c = find_vcap(&z, 2);
	CHECK(c);
	z.notify = cfg_rd(&z, c + 8u, 4);
	z.notify_mult = cfg_rd(&z, c + 16u, 4);
	forget_all(&z);
	z.tainted = 1; /* until OP_INIT lays the rings out */

	run(&z);

	vdev_device_destroy(z.dev);
	mock_vmm_fini(&z.mv);
	munmap(z.map, maplen);
	return 0;
}
