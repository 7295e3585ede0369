/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the virtio-pci transport and the virtio core through a
 * "virtio-rng-pci" device: config cycles (including the PCI_CFG window),
 * BAR4 and BAR1 accesses of any width, doorbells, ring contents written
 * into guest RAM, resets and save/load — all from the input.
 *
 * Guest RAM is two registered regions with a hole between them, inside
 * an mmap with PROT_NONE pages around and in the hole:
 *     gpa 0x00000-0x07fff  region A (the harness's rings and buffers)
 *     gpa 0x08000-0x0bfff  hole (PROT_NONE, not RAM)
 *     gpa 0x0c000-0x0ffff  region B
 * so any access the library makes outside registered RAM faults.
 *
 * Input: a sequence of operations, an opcode byte then its operands
 * (missing bytes read as zero). OP_INIT performs a whole driver bring-up
 * with rings in region A so the fuzzer reaches the ring paths quickly;
 * OP_DESC / OP_AVAIL / OP_RAM then shape ring contents.
 *
 * Oracles (a broken one traps; that is the harness, not library code):
 *  - status never holds a bit outside the six the spec defines; ISR reads
 *    at most 3; queue_enable reads 0 or 1;
 *  - a save/load round trip succeeds and the re-saved state is identical
 *    (for a queue the guest broke: identical after one normalising trip);
 *  - the guard pages: nothing outside RAM is touched.
 * Compiles against the public headers and the mock VMM only.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <vdev/vdev.h>
#include <vdev/virtio.h>

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
#define MAX_OPS 4096

/* Where OP_INIT puts queue 0's split ring (size 16) and buffers. */
#define QSIZE 16u
#define DESC_GPA 0x1000u
#define AVAIL_GPA 0x1100u
#define USED_GPA 0x1200u
#define BUF_GPA 0x2000u

/* virtio-pci layout (what the capabilities describe; the fuzzer may go anywhere). */
#define BAR_VIRTIO 4
#define BAR_MSIX 1
#define CC_DFSELECT 0x00
#define CC_DF 0x04
#define CC_GFSELECT 0x08
#define CC_GF 0x0c
#define CC_STATUS 0x14
#define CC_Q_SELECT 0x16
#define CC_Q_SIZE 0x18
#define CC_Q_ENABLE 0x1c
#define CC_Q_DESC 0x20
#define CC_Q_DRIVER 0x28
#define CC_Q_DEVICE 0x30
#define ISR_OFF 0x1000
#define NOTIFY_OFF 0x3000

enum {
	OP_CFG_READ,   /* u8 off, u8 len (mod 5) */
	OP_CFG_WRITE,  /* u8 off, u8 len (mod 5), u32 value */
	OP_BAR_READ,   /* u8 bar sel, u16 off, u8 len (mod 9) */
	OP_BAR_WRITE,  /* u8 bar sel, u16 off, u8 len (mod 9), u64 value */
	OP_KICK,       /* u8 queue */
	OP_DOORBELL,   /* u16 value: 2-byte write to the doorbell of queue 0 */
	OP_INIT,       /* u64 features (masked with what is offered), u8 flags */
	OP_DESC,       /* u8 index, u16 addr (units of 16), u16 len, u8 flags, u8 next */
	OP_AVAIL,      /* u8 head: append to the avail ring and publish */
	OP_RAM,        /* u16 gpa (region A), u8 n, n bytes */
	OP_RESET,      /* u8 how: status 0 / vdev_virtio_reset / vdev_device_reset */
	OP_ROUNDTRIP,  /* save, load into itself, save again: identical */
	OP_ISR,        /* read ISR */
	OP_WINDOW,     /* u8 bar, u32 off, u8 len, u8 is_write, u32 value: PCI_CFG window */
	OP_TIME,       /* u16 delta ns: advance the clock, run timers (post-load resume) */
	OP_COUNT,
};

struct fz {
	const uint8_t *p;
	size_t n;
	struct mock_vmm mv;
	uint8_t *map;     /* PROT_NONE page, SPAN bytes of gpa space, PROT_NONE page */
	uint8_t *ram;     /* gpa 0 */
	vdev_device *dev;
	vdev_pci_func *f;
	vdev_virtio *vd;
	uint8_t window;   /* PCI_CFG capability offset */
	uint8_t msix;     /* MSI-X capability offset */
	uint16_t avail_idx;
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

static uint64_t bar_rd(struct fz *z, int bar, uint64_t off, unsigned int len)
{
	uint8_t b[8] = { 0 };

	vdev_pci_bar_read(z->f, bar, off, b, len);
	return get(b, len);
}

static void bar_wr(struct fz *z, int bar, uint64_t off, uint64_t v, unsigned int len)
{
	uint8_t b[8];

	put(b, v, 8);
	vdev_pci_bar_write(z->f, bar, off, b, len);
}

static void cfg_wr(struct fz *z, uint32_t off, uint32_t v, unsigned int len)
{
	uint8_t b[4];

	put(b, v, 4);
	vdev_pci_config_write(z->f, off, b, len);
}

static uint32_t cfg_rd(struct fz *z, uint32_t off, unsigned int len)
{
	uint8_t b[4] = { 0 };

	vdev_pci_config_read(z->f, off, b, len);
	return (uint32_t)get(b, len);
}

/* Find capability @id (for a vendor one, of cfg_type @type) by walking the list. */
static uint8_t find_cap(struct fz *z, uint8_t id, int type)
{
	uint8_t p = (uint8_t)cfg_rd(z, VDEV_PCI_CAPABILITY_LIST, 1);

	for (int guard = 0; p && guard < 48; guard++) {
		if (cfg_rd(z, p, 1) == id && (type < 0 || cfg_rd(z, p + 3u, 1) == (uint32_t)type))
			return p;
		p = (uint8_t)cfg_rd(z, p + 1u, 1);
	}
	return 0;
}

static void check_invariants(struct fz *z)
{
	uint8_t st = vdev_virtio_status(z->vd);

	CHECK(!(st & 0x30));
	CHECK(bar_rd(z, BAR_VIRTIO, CC_STATUS, 1) == st);
	CHECK(bar_rd(z, BAR_VIRTIO, CC_Q_ENABLE, 2) <= 1);
}

/* A driver bring-up (§3.1.1) with queue 0 on a split ring in region A. */
static void op_init(struct fz *z)
{
	uint64_t want = take(z, 8);
	uint8_t flags = (uint8_t)take(z, 1);
	uint64_t offered;

	cfg_wr(z, VDEV_PCI_COMMAND, VDEV_PCI_COMMAND_MEMORY | VDEV_PCI_COMMAND_MASTER, 2);
	if (flags & 1) { /* MSI-X on, vectors 0 and 1 */
		bar_wr(z, BAR_MSIX, 0, 0xfee00000u, 4);
		bar_wr(z, BAR_MSIX, 12, 0, 4);
		bar_wr(z, BAR_MSIX, 16, 0xfee00000u, 4);
		bar_wr(z, BAR_MSIX, 28, 0, 4);
		cfg_wr(z, z->msix + 2u, 0x8000, 2);
	}
	bar_wr(z, BAR_VIRTIO, CC_STATUS, 0, 1);
	bar_wr(z, BAR_VIRTIO, CC_STATUS, 3, 1);
	bar_wr(z, BAR_VIRTIO, CC_DFSELECT, 0, 4);
	offered = bar_rd(z, BAR_VIRTIO, CC_DF, 4);
	bar_wr(z, BAR_VIRTIO, CC_DFSELECT, 1, 4);
	offered |= bar_rd(z, BAR_VIRTIO, CC_DF, 4) << 32;
	/* Never packed: OP_DESC/OP_AVAIL write the split layout. */
	want = (want & offered & ~(1ull << VDEV_VIRTIO_F_RING_PACKED)) |
	       (1ull << VDEV_VIRTIO_F_VERSION_1);
	bar_wr(z, BAR_VIRTIO, CC_GFSELECT, 0, 4);
	bar_wr(z, BAR_VIRTIO, CC_GF, (uint32_t)want, 4);
	bar_wr(z, BAR_VIRTIO, CC_GFSELECT, 1, 4);
	bar_wr(z, BAR_VIRTIO, CC_GF, (uint32_t)(want >> 32), 4);
	bar_wr(z, BAR_VIRTIO, CC_STATUS, 0x0b, 1);
	memset(z->ram + DESC_GPA, 0, 0x300);
	z->avail_idx = 0;
	bar_wr(z, BAR_VIRTIO, CC_Q_SELECT, 0, 2);
	bar_wr(z, BAR_VIRTIO, CC_Q_SIZE, QSIZE, 2);
	bar_wr(z, BAR_VIRTIO, CC_Q_DESC, DESC_GPA, 8);
	bar_wr(z, BAR_VIRTIO, CC_Q_DRIVER, AVAIL_GPA, 8);
	bar_wr(z, BAR_VIRTIO, CC_Q_DEVICE, USED_GPA, 8);
	bar_wr(z, BAR_VIRTIO, 0x1a, (flags & 2) ? 0xffff : 0, 2); /* queue_msix_vector */
	bar_wr(z, BAR_VIRTIO, 0x10, 1, 2);                           /* config_msix_vector */
	bar_wr(z, BAR_VIRTIO, CC_Q_ENABLE, 1, 2);
	bar_wr(z, BAR_VIRTIO, CC_STATUS, 0x0f, 1);
}

static void op_desc(struct fz *z)
{
	uint8_t i = (uint8_t)take(z, 1) % QSIZE;
	uint64_t addr = (take(z, 2) * 16) % SPAN;
	uint16_t len = (uint16_t)take(z, 2);
	uint8_t flags = (uint8_t)take(z, 1);
	uint8_t next = (uint8_t)take(z, 1);
	uint8_t *d = z->ram + DESC_GPA + 16u * i;

	put(d, addr, 8);
	put(d + 8, len, 4);
	put(d + 12, flags & 7, 2);
	put(d + 14, next, 2);
}

static void op_avail(struct fz *z)
{
	uint8_t head = (uint8_t)take(z, 1);

	put(z->ram + AVAIL_GPA + 4 + 2u * (z->avail_idx % QSIZE), head, 2);
	z->avail_idx++;
	__atomic_store_n((uint16_t *)(void *)(z->ram + AVAIL_GPA + 2), z->avail_idx,
			 __ATOMIC_RELEASE);
}

static void op_ram(struct fz *z)
{
	uint16_t gpa = (uint16_t)(take(z, 2) % REG_A_SIZE);
	uint8_t n = (uint8_t)take(z, 1);

	for (unsigned int i = 0; i < n && gpa + i < REG_A_SIZE; i++)
		z->ram[gpa + i] = (uint8_t)take(z, 1);
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

/* Save, load the result back, save again: the device's own state always loads. */
static uint8_t *trip(struct fz *z, const uint8_t *a, size_t la, size_t *lb)
{
	vdev_state_reader *r;

	CHECK(!vdev_state_reader_new(a, la, &r));
	CHECK(!vdev_device_load(z->dev, r));
	vdev_state_reader_free(r);
	return save_copy(z, lb);
}

/*
 * A round trip changes nothing. For a queue the guest broke, the engine
 * may normalise what it does not carry over (a shadow of the avail
 * index), so there the state must be a fixed point after one trip.
 */
static void op_roundtrip(struct fz *z)
{
	uint8_t *a, *b, *c = NULL;
	size_t la = 0, lb = 0, lc = 0;
	int broken = vdev_vq_broken(vdev_virtio_queue(z->vd, 0));

	a = save_copy(z, &la);
	CHECK(a);
	b = trip(z, a, la, &lb);
	CHECK(b);
	if (broken) {
		c = trip(z, b, lb, &lc);
		CHECK(c && lb == lc && !memcmp(b, c, lb));
	} else {
		CHECK(la == lb && !memcmp(a, b, la));
	}
	free(a);
	free(b);
	free(c);
}

static void op_window(struct fz *z)
{
	uint8_t bar = (uint8_t)take(z, 1);
	uint32_t off = (uint32_t)take(z, 4);
	uint8_t len = (uint8_t)take(z, 1);
	uint8_t is_write = (uint8_t)take(z, 1);
	uint32_t v = (uint32_t)take(z, 4);
	unsigned int k = (is_write >> 1) & 3;

	cfg_wr(z, z->window + 4u, bar, 1);
	cfg_wr(z, z->window + 8u, off, 4);
	cfg_wr(z, z->window + 12u, len, 4);

	if (is_write & 1)
		cfg_wr(z, z->window + 16u, v, k == 3 ? 4 : 1u << k); /* 1, 2, 4 bytes */
	else
		(void)cfg_rd(z, z->window + 16u + k, 1); /* any byte of pci_cfg_data */
}

static void run(struct fz *z)
{
	for (int ops = 0; z->n && ops < MAX_OPS; ops++) {
		uint8_t op = (uint8_t)(take(z, 1) % OP_COUNT);
		uint8_t sel, len;
		uint32_t off;
		int bar;

		switch (op) {
		case OP_CFG_READ:
			off = (uint32_t)take(z, 1);
			(void)cfg_rd(z, off, (unsigned int)(take(z, 1) % 5));
			break;
		case OP_CFG_WRITE:
			off = (uint32_t)take(z, 1);
			len = (uint8_t)(take(z, 1) % 5);
			cfg_wr(z, off, (uint32_t)take(z, 4), len);
			break;
		case OP_BAR_READ:
		case OP_BAR_WRITE:
			sel = (uint8_t)take(z, 1);
			bar = (sel & 1) ? BAR_MSIX : BAR_VIRTIO;
			off = (uint32_t)take(z, 2) & (bar == BAR_MSIX ? 0xfffu : 0x3fffu);
			len = (uint8_t)(take(z, 1) % 9);
			if (op == OP_BAR_READ)
				(void)bar_rd(z, bar, off, len);
			else
				bar_wr(z, bar, off, take(z, 8), len);
			break;
		case OP_KICK:
			vdev_virtio_kick(z->vd, (unsigned int)take(z, 1) % 2);
			break;
		case OP_DOORBELL:
			bar_wr(z, BAR_VIRTIO, NOTIFY_OFF, take(z, 2), 2);
			break;
		case OP_INIT:
			op_init(z);
			break;
		case OP_DESC:
			op_desc(z);
			break;
		case OP_AVAIL:
			op_avail(z);
			break;
		case OP_RAM:
			op_ram(z);
			break;
		case OP_RESET:
			sel = (uint8_t)(take(z, 1) % 3);
			if (sel == 0)
				bar_wr(z, BAR_VIRTIO, CC_STATUS, 0, 1);
			else if (sel == 1)
				vdev_virtio_reset(z->vd);
			else
				vdev_device_reset(z->dev);
			break;
		case OP_ROUNDTRIP:
			op_roundtrip(z);
			break;
		case OP_ISR:
			CHECK(bar_rd(z, BAR_VIRTIO, ISR_OFF, 1) <= 3);
			break;
		case OP_WINDOW:
			op_window(z);
			break;
		case OP_TIME:
			mock_vmm_set_time(&z->mv, z->mv.now_ns + take(z, 2));
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
	CHECK(!vdev_device_create(z.mv.ctx, "virtio-rng-pci", NULL, NULL, &z.dev));
	z.f = vdev_device_pci(z.dev);
	z.vd = vdev_device_virtio(z.dev);
	CHECK(z.f && z.vd);
	z.window = find_cap(&z, VDEV_PCI_CAP_ID_VNDR, 5);
	z.msix = find_cap(&z, VDEV_PCI_CAP_ID_MSIX, -1);
	CHECK(z.window && z.msix);

	run(&z);

	vdev_device_destroy(z.dev);
	mock_vmm_fini(&z.mv);
	munmap(z.map, maplen);
	return 0;
}
