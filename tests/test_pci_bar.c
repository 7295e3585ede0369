/* SPDX-License-Identifier: MIT */
/*
 * PCI function model: BARs. Declaration checks, sizing exactly as Linux
 * (drivers/pci/probe.c __pci_read_base) and SeaBIOS (pciinit.c
 * pci_bios_get_bar) do it, decode tracking and the BAR listener, lookup,
 * and guest accesses split into aligned pieces.
 */
#include <errno.h>
#include <stdlib.h>

#include "test_pci_util.h"

#define CMD_DECODE (VDEV_PCI_COMMAND_IO | VDEV_PCI_COMMAND_MEMORY)

/* ---- a function with recording BAR handlers ---- */

#define PIECES_MAX 64
struct piece {
	uint64_t off;
	unsigned int size;
	int write;
};

struct rec_bar {
	uint8_t mem[4096]; /* what the handlers serve */
	struct piece p[PIECES_MAX];
	unsigned int n;
};

struct fx {
	struct mock_vmm mv;
	vdev_pci_func *f;
	struct rec_bar rb[VDEV_PCI_NUM_BARS];
	struct lrec l;
};

static uint64_t rec_read(void *opaque, uint64_t off, unsigned int size)
{
	struct rec_bar *rb = opaque;
	uint64_t v = 0;

	if (rb->n < PIECES_MAX)
		rb->p[rb->n] = (struct piece){ off, size, 0 };
	rb->n++;
	for (unsigned int i = 0; i < size; i++)
		v |= (uint64_t)rb->mem[off + i] << (8 * i);
	return v;
}

static void rec_write(void *opaque, uint64_t off, uint64_t v, unsigned int size)
{
	struct rec_bar *rb = opaque;

	if (rb->n < PIECES_MAX)
		rb->p[rb->n] = (struct piece){ off, size, 1 };
	rb->n++;
	for (unsigned int i = 0; i < size; i++)
		rb->mem[off + i] = (uint8_t)(v >> (8 * i));
}

static struct vdev_pci_bar_ops rec_ops(unsigned int max)
{
	struct vdev_pci_bar_ops o = {
		.struct_size = sizeof(o), .read = rec_read, .write = rec_write, .max_access = max,
	};
	return o;
}

/*
 * BAR0: 4 KiB mem32 (max 8)     BAR1: 32 B I/O (max 4)
 * BAR2/3: 16 KiB mem64 prefetch  BAR4/5: 8 GiB mem64 prefetch
 */
static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	struct vdev_pci_func_opts o = {
		.struct_size = sizeof(o), .vendor_id = 0x8086, .device_id = 0x1234, .intx_pin = 1,
	};
	struct vdev_pci_bar_ops ops;

	assert_non_null(x);
	assert_int_equal(mock_vmm_init(&x->mv, 1 << 16, 1), 0);
	assert_int_equal(vdev_pci_func_new(x->mv.ctx, &o, &x->f), 0);
	ops = rec_ops(0);
	assert_int_equal(vdev_pci_bar_add(x->f, 0, 4096, 0, &ops, &x->rb[0]), 0);
	ops = rec_ops(4);
	assert_int_equal(vdev_pci_bar_add(x->f, 1, 32, VDEV_PCI_BAR_IO, &ops, &x->rb[1]), 0);
	ops = rec_ops(8);
	assert_int_equal(vdev_pci_bar_add(x->f, 2, 16384, VDEV_PCI_BAR_MEM64 |
					  VDEV_PCI_BAR_PREFETCH, &ops, &x->rb[2]), 0);
	assert_int_equal(vdev_pci_bar_add(x->f, 4, 8ull << 30, VDEV_PCI_BAR_MEM64 |
					  VDEV_PCI_BAR_PREFETCH, NULL, NULL), 0);
	vdev_pci_set_bar_listener(x->f, lrec_cb, &x->l);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	vdev_pci_func_free(x->f);
	mock_vmm_fini(&x->mv);
	free(x);
	return 0;
}

static void test_bar_add_invalid(void **state)
{
	struct fx *x = *state;
	struct vdev_pci_func_opts o = { .struct_size = sizeof(o) };
	struct vdev_pci_bar_ops ops = rec_ops(3);
	vdev_pci_func *f;

	assert_int_equal(vdev_pci_func_new(x->mv.ctx, &o, &f), 0);
	assert_int_equal(vdev_pci_bar_add(f, -1, 4096, 0, NULL, NULL), -EINVAL);
	assert_int_equal(vdev_pci_bar_add(f, 6, 4096, 0, NULL, NULL), -EINVAL);
	assert_int_equal(vdev_pci_bar_add(f, 0, 0, 0, NULL, NULL), -EINVAL);
	assert_int_equal(vdev_pci_bar_add(f, 0, 3000, 0, NULL, NULL), -EINVAL);
	assert_int_equal(vdev_pci_bar_add(f, 0, 8, 0, NULL, NULL), -EINVAL);
	assert_int_equal(vdev_pci_bar_add(f, 0, 4ull << 30, 0, NULL, NULL), -EINVAL);
	assert_int_equal(vdev_pci_bar_add(f, 0, 2, VDEV_PCI_BAR_IO, NULL, NULL), -EINVAL);
	assert_int_equal(vdev_pci_bar_add(f, 0, 512, VDEV_PCI_BAR_IO, NULL, NULL), -EINVAL);
	assert_int_equal(vdev_pci_bar_add(f, 0, 16, VDEV_PCI_BAR_IO | VDEV_PCI_BAR_MEM64,
					  NULL, NULL), -EINVAL);
	assert_int_equal(vdev_pci_bar_add(f, 0, 16, VDEV_PCI_BAR_IO | VDEV_PCI_BAR_PREFETCH,
					  NULL, NULL), -EINVAL);
	assert_int_equal(vdev_pci_bar_add(f, 0, 16, 1u << 3, NULL, NULL), -EINVAL);
	assert_int_equal(vdev_pci_bar_add(f, 5, 16, VDEV_PCI_BAR_MEM64, NULL, NULL), -EINVAL);
	assert_int_equal(vdev_pci_bar_add(f, 0, 16, 0, &ops, NULL), -EINVAL);
	ops = rec_ops(8);
	ops.struct_size = 0;
	assert_int_equal(vdev_pci_bar_add(f, 0, 16, 0, &ops, NULL), -EINVAL);
	/* Limits are inclusive. */
	assert_int_equal(vdev_pci_bar_add(f, 0, 2ull << 30, 0, NULL, NULL), 0);
	assert_int_equal(vdev_pci_bar_add(f, 0, 16, 0, NULL, NULL), -EBUSY);
	assert_int_equal(vdev_pci_bar_add(f, 1, 256, VDEV_PCI_BAR_IO, NULL, NULL), 0);
	assert_int_equal(vdev_pci_bar_add(f, 2, 16, VDEV_PCI_BAR_MEM64, NULL, NULL), 0);
	/* BAR3 is the upper half of BAR2. */
	assert_int_equal(vdev_pci_bar_add(f, 3, 16, 0, NULL, NULL), -EBUSY);
	assert_int_equal(vdev_pci_bar_add(f, 4, 4, VDEV_PCI_BAR_IO, NULL, NULL), 0);
	assert_int_equal(vdev_pci_bar_add(f, 4, 4, VDEV_PCI_BAR_IO, NULL, NULL), -EBUSY);
	assert_int_equal(vdev_pci_bar_add(f, 5, 1ull << 63, VDEV_PCI_BAR_MEM64, NULL, NULL),
			 -EINVAL);
	vdev_pci_func_free(f);

	/* A 64-bit BAR may not take a used slot as its upper half. */
	assert_int_equal(vdev_pci_func_new(x->mv.ctx, &o, &f), 0);
	assert_int_equal(vdev_pci_bar_add(f, 1, 16, 0, NULL, NULL), 0);
	assert_int_equal(vdev_pci_bar_add(f, 0, 16, VDEV_PCI_BAR_MEM64, NULL, NULL), -EBUSY);
	assert_int_equal(vdev_pci_bar_add(f, 2, 1ull << 63, VDEV_PCI_BAR_MEM64, NULL, NULL), 0);
	cfg_wr32(f, 0x18, 0xffffffff);
	cfg_wr32(f, 0x1c, 0xffffffff);
	assert_int_equal(cfg_rd32(f, 0x18), 0x4);
	assert_int_equal(cfg_rd32(f, 0x1c), 0x80000000);
	vdev_pci_func_free(f);
}

/* Linux's pci_size(): the decode size from the sized value. */
static uint64_t linux_pci_size(uint64_t base, uint64_t maxbase, uint64_t mask)
{
	uint64_t size = mask & maxbase;

	if (!size)
		return 0;
	size = size & ~(size - 1);
	if (base == maxbase && ((base | (size - 1)) & mask) != mask)
		return 0;
	return size;
}

struct sized {
	uint64_t size;
	uint64_t addr;
	int io, is64, prefetch;
};

/*
 * Linux __pci_read_base() for BAR @bar, with decoding turned off around
 * it (as it does unless mmio_always_on). Returns the number of BAR slots
 * used (1 or 2).
 */
static int linux_read_base(vdev_pci_func *f, int bar, int disable_decode, struct sized *s)
{
	uint32_t pos = VDEV_PCI_BAR0 + 4u * (uint32_t)bar;
	uint16_t orig_cmd = cfg_rd16(f, VDEV_PCI_COMMAND);
	uint32_t l, sz;
	uint64_t l64, sz64, mask64;

	if (disable_decode && (orig_cmd & CMD_DECODE))
		cfg_wr16(f, VDEV_PCI_COMMAND, orig_cmd & ~CMD_DECODE);
	l = cfg_rd32(f, pos);
	cfg_wr32(f, pos, l | 0xffffffffu);
	sz = cfg_rd32(f, pos);
	cfg_wr32(f, pos, l);
	if (sz == 0xffffffff)
		sz = 0;
	if (l == 0xffffffff)
		l = 0;
	memset(s, 0, sizeof(*s));
	if (l & 1) {
		s->io = 1;
		l64 = l & ~3u;
		sz64 = sz & ~3u;
		mask64 = 0xfffcu & 0xffff; /* PCI_BASE_ADDRESS_IO_MASK & IO_SPACE_LIMIT */
	} else {
		s->is64 = (l & 6) == 4;
		s->prefetch = !!(l & 8);
		l64 = l & ~0xfu;
		sz64 = sz & ~0xfu;
		mask64 = (uint32_t)~0xfu;
	}
	if (s->is64) {
		l = cfg_rd32(f, pos + 4);
		cfg_wr32(f, pos + 4, ~0u);
		sz = cfg_rd32(f, pos + 4);
		cfg_wr32(f, pos + 4, l);
		l64 |= (uint64_t)l << 32;
		sz64 |= (uint64_t)sz << 32;
		mask64 |= (uint64_t)0xffffffff << 32;
	}
	if (disable_decode && (orig_cmd & CMD_DECODE))
		cfg_wr16(f, VDEV_PCI_COMMAND, orig_cmd);
	s->size = linux_pci_size(l64, sz64, mask64);
	s->addr = l64;
	return s->is64 ? 2 : 1;
}

static void check_layout(const struct sized *s)
{
	assert_int_equal(s[0].size, 4096);
	assert_false(s[0].io || s[0].is64 || s[0].prefetch);
	assert_int_equal(s[1].size, 32);
	assert_true(s[1].io);
	assert_int_equal(s[2].size, 16384);
	assert_true(s[2].is64 && s[2].prefetch);
	assert_int_equal(s[4].size, 8ull << 30);
	assert_true(s[4].is64 && s[4].prefetch);
}

static void test_sizing_linux_fresh(void **state)
{
	struct fx *x = *state;
	struct sized s[6];
	uint8_t before[64], after[64];

	memset(s, 0, sizeof(s));
	for (int i = 0; i < 64; i++)
		before[i] = cfg_rd8(x->f, (uint32_t)i);
	for (int bar = 0; bar < 6;)
		bar += linux_read_base(x->f, bar, 1, &s[bar]);
	check_layout(s);
	for (int i = 0; i < 6; i++)
		assert_int_equal(s[i].addr, 0);
	/* Everything restored; decode never on: no listener call. */
	for (int i = 0; i < 64; i++)
		after[i] = cfg_rd8(x->f, (uint32_t)i);
	assert_memory_equal(before, after, sizeof(before));
	assert_int_equal(x->l.n, 0);
	/* The raw read-backs Linux sees. */
	cfg_wr32(x->f, 0x10, 0xffffffff);
	assert_int_equal(cfg_rd32(x->f, 0x10), 0xfffff000);
	cfg_wr32(x->f, 0x14, 0xffffffff);
	assert_int_equal(cfg_rd32(x->f, 0x14), 0xffffffe1);
	cfg_wr32(x->f, 0x18, 0xffffffff);
	assert_int_equal(cfg_rd32(x->f, 0x18), 0xffffc00c);
	cfg_wr32(x->f, 0x1c, 0xffffffff);
	assert_int_equal(cfg_rd32(x->f, 0x1c), 0xffffffff);
	cfg_wr32(x->f, 0x20, 0xffffffff);
	assert_int_equal(cfg_rd32(x->f, 0x20), 0x0000000c);
	cfg_wr32(x->f, 0x24, 0xffffffff);
	assert_int_equal(cfg_rd32(x->f, 0x24), 0xfffffffe);
	assert_int_equal(x->l.n, 0);
}

/* Program the fixture's BARs the way firmware leaves them, decoding. */
static void program_bars(struct fx *x)
{
	cfg_wr32(x->f, 0x10, 0xfebf0000);
	cfg_wr32(x->f, 0x14, 0xc020);
	cfg_wr32(x->f, 0x18, 0xfe000000);
	cfg_wr32(x->f, 0x1c, 0x0);
	cfg_wr32(x->f, 0x20, 0x0);
	cfg_wr32(x->f, 0x24, 0x8);
	cfg_wr16(x->f, VDEV_PCI_COMMAND, CMD_DECODE | VDEV_PCI_COMMAND_MASTER);
}

static void expect_placement(struct fx *x)
{
	struct vdev_pci_bar_info info;
	static const uint64_t addr[6] = { 0xfebf0000, 0xc020, 0xfe000000, 0, 0x800000000ull, 0 };

	for (int i = 0; i < 6; i++) {
		assert_int_equal(vdev_pci_bar_get_info(x->f, i, &info), 0);
		if (i == 3 || i == 5) {
			assert_int_equal(info.size, 0);
			continue;
		}
		assert_int_equal(info.addr, addr[i]);
		assert_int_equal(info.decoding, 1);
	}
}

static void test_sizing_linux_programmed(void **state)
{
	struct fx *x = *state;
	struct sized s[6];

	memset(s, 0, sizeof(s));
	program_bars(x);
	assert_int_equal(x->l.n, 4);
	expect_placement(x);

	/* Per BAR: decode off (4 BARs stop), size, decode back on (4 start). */
	x->l.n = 0;
	for (int bar = 0; bar < 6;)
		bar += linux_read_base(x->f, bar, 1, &s[bar]);
	check_layout(s);
	assert_int_equal(s[0].addr, 0xfebf0000);
	assert_int_equal(s[1].addr, 0xc020);
	assert_int_equal(s[2].addr, 0xfe000000);
	assert_int_equal(s[4].addr, 0x800000000ull);
	assert_int_equal(x->l.n, 4 * 8);
	for (unsigned int i = 0; i < x->l.n; i++) {
		/* Never decoding anywhere but the programmed place. */
		if (x->l.decoding[i])
			assert_int_equal(x->l.addr[i], s[x->l.bar[i]].addr);
		assert_int_equal(x->l.decoding[i], (i / 4) % 2);
	}
	expect_placement(x);
}

/* mmio_always_on devices: Linux sizes without turning decode off. */
static void test_sizing_linux_decode_on(void **state)
{
	struct fx *x = *state;
	struct sized s;

	program_bars(x);
	x->l.n = 0;
	/* 32-bit BAR: the sizing value is not a placement; restoring maps it back. */
	linux_read_base(x->f, 0, 0, &s);
	assert_int_equal(s.size, 4096);
	assert_int_equal(x->l.n, 2);
	assert_int_equal(x->l.bar[0], 0);
	assert_int_equal(x->l.decoding[0], 0);
	assert_int_equal(x->l.decoding[1], 1);
	assert_int_equal(x->l.addr[1], 0xfebf0000);
	/* I/O BAR the same. */
	x->l.n = 0;
	linux_read_base(x->f, 1, 0, &s);
	assert_int_equal(s.size, 32);
	assert_int_equal(x->l.n, 2);
	assert_int_equal(x->l.decoding[0], 0);
	assert_int_equal(x->l.addr[1], 0xc020);
	/* 64-bit BAR of 16 KiB, sized a dword at a time: neither half-sized
	 * state decodes. */
	x->l.n = 0;
	linux_read_base(x->f, 2, 0, &s);
	assert_int_equal(s.size, 16384);
	assert_int_equal(x->l.n, 4);
	for (unsigned int i = 0; i < 4; i++) {
		assert_int_equal(x->l.bar[i], 2);
		assert_int_equal(x->l.decoding[i], i & 1);
		if (i & 1)
			assert_int_equal(x->l.addr[i], 0xfe000000);
	}
	/* Each half-sized state on its own. */
	x->l.n = 0;
	cfg_wr32(x->f, 0x18, 0xffffffff);
	assert_int_equal(vdev_pci_bar_lookup(x->f, 0, 0xffffc000, NULL, NULL), -ENOENT);
	cfg_wr32(x->f, 0x18, 0xfe000000);
	cfg_wr32(x->f, 0x1c, 0xffffffff);
	assert_int_equal(vdev_pci_bar_lookup(x->f, 0, 0xfffffffffe000000ull, NULL, NULL),
			 -ENOENT);
	cfg_wr32(x->f, 0x1c, 0);
	assert_int_equal(x->l.n, 4);
	/* 64-bit BAR of 8 GiB: its low dword has no address bits, so only
	 * the upper dword sizing changes anything, and it does not decode. */
	x->l.n = 0;
	linux_read_base(x->f, 4, 0, &s);
	assert_int_equal(s.size, 8ull << 30);
	assert_int_equal(x->l.n, 2);
	assert_int_equal(x->l.bar[0], 4);
	assert_int_equal(x->l.decoding[0], 0);
	assert_int_equal(x->l.decoding[1], 1);
	assert_int_equal(x->l.addr[1], 0x800000000ull);
	expect_placement(x);
}

/* SeaBIOS pci_bios_get_bar(): ~0 into each BAR, read, restore. */
static uint64_t seabios_get_bar(vdev_pci_func *f, int bar, int *is64, int *io)
{
	uint32_t ofs = VDEV_PCI_BAR0 + 4u * (uint32_t)bar;
	uint32_t old = cfg_rd32(f, ofs);
	uint64_t mask, val;

	*is64 = 0;
	*io = old & 1;
	if (*io) {
		mask = ~3u;
	} else {
		mask = ~0xfu;
		*is64 = (old & 6) == 4;
	}
	cfg_wr32(f, ofs, ~0u);
	val = cfg_rd32(f, ofs);
	cfg_wr32(f, ofs, old);
	if (*is64) {
		uint32_t hold = cfg_rd32(f, ofs + 4), high;

		cfg_wr32(f, ofs + 4, ~0u);
		high = cfg_rd32(f, ofs + 4);
		cfg_wr32(f, ofs + 4, hold);
		val |= (uint64_t)high << 32;
		mask = (mask & 0xffffffffu) | ((uint64_t)0xffffffff << 32);
		return val ? ~(val & mask) + 1 : 0;
	}
	return val ? ((~(val & mask)) & 0xffffffff) + 1 : 0;
}

static void test_sizing_seabios(void **state)
{
	struct fx *x = *state;
	uint64_t size[6] = { 0 };
	int is64[6] = { 0 }, io[6] = { 0 };
	struct vdev_pci_bar_info info;

	/* Sizing pass (decode is off after reset). */
	for (int bar = 0; bar < 6; bar++) {
		size[bar] = seabios_get_bar(x->f, bar, &is64[bar], &io[bar]);
		if (is64[bar])
			bar++;
	}
	assert_int_equal(size[0], 4096);
	assert_int_equal(size[1], 32);
	assert_true(io[1]);
	assert_int_equal(size[2], 16384);
	assert_true(is64[2]);
	assert_int_equal(size[3], 0);
	assert_int_equal(size[4], 8ull << 30);
	assert_true(is64[4]);
	assert_int_equal(x->l.n, 0);
	/* Later: pci_set_io_region_addr() for each, then the command register. */
	cfg_wr32(x->f, 0x10, 0xfebf0000);
	cfg_wr32(x->f, 0x14, 0xc020);
	cfg_wr32(x->f, 0x18, 0x00000000);
	cfg_wr32(x->f, 0x1c, 0x00000080); /* 0x80_0000_0000 */
	cfg_wr32(x->f, 0x20, 0x00000000);
	cfg_wr32(x->f, 0x24, 0x00000082);
	assert_int_equal(x->l.n, 0);
	/* Memory only first: the I/O BAR stays off. */
	cfg_wr16(x->f, VDEV_PCI_COMMAND, VDEV_PCI_COMMAND_MEMORY);
	assert_int_equal(x->l.n, 3);
	assert_int_equal(lrec_count_bar(&x->l, 1), 0);
	assert_int_equal(vdev_pci_bar_get_info(x->f, 1, &info), 0);
	assert_int_equal(info.decoding, 0);
	assert_int_equal(info.addr, 0xc020);
	cfg_wr16(x->f, VDEV_PCI_COMMAND, CMD_DECODE | VDEV_PCI_COMMAND_SERR);
	assert_int_equal(x->l.n, 4);
	assert_int_equal(x->l.bar[3], 1);
	assert_int_equal(x->l.addr[3], 0xc020);
	assert_int_equal(vdev_pci_bar_get_info(x->f, 2, &info), 0);
	assert_int_equal(info.addr, 0x8000000000ull);
	assert_int_equal(info.size, 16384);
	assert_int_equal(info.flags, VDEV_PCI_BAR_MEM64 | VDEV_PCI_BAR_PREFETCH);
	assert_true(info.decoding);
	assert_int_equal(vdev_pci_bar_get_info(x->f, 4, &info), 0);
	assert_int_equal(info.addr, 0x8200000000ull);
	assert_true(info.decoding);
}

static void test_listener_no_spurious(void **state)
{
	struct fx *x = *state;
	uint8_t zero[4] = { 0 };

	program_bars(x);
	x->l.n = 0;
	/* Same command, same BAR values, unrelated registers: nothing. */
	cfg_wr16(x->f, VDEV_PCI_COMMAND, CMD_DECODE | VDEV_PCI_COMMAND_MASTER);
	cfg_wr32(x->f, 0x10, 0xfebf0000);
	cfg_wr32(x->f, 0x10, 0xfebf0fff); /* low bits are read-only */
	cfg_wr8(x->f, VDEV_PCI_INTERRUPT_LINE, 11);
	cfg_wr16(x->f, VDEV_PCI_COMMAND, CMD_DECODE);
	cfg_wr16(x->f, VDEV_PCI_COMMAND, CMD_DECODE | VDEV_PCI_COMMAND_INTX_DISABLE);
	assert_int_equal(vdev_pci_config_write(x->f, 0x28, zero, 4), 0);
	assert_int_equal(x->l.n, 0);
	/* Moving a decoding BAR: one call with the new address. */
	cfg_wr32(x->f, 0x10, 0xfebe0000);
	assert_int_equal(x->l.n, 1);
	assert_int_equal(x->l.bar[0], 0);
	assert_int_equal(x->l.addr[0], 0xfebe0000);
	/* A 64-bit BAR moved with two dword writes: two moves. */
	cfg_wr32(x->f, 0x18, 0xfd000000);
	cfg_wr32(x->f, 0x1c, 0x1);
	assert_int_equal(x->l.n, 3);
	assert_int_equal(x->l.addr[2], 0x1fd000000ull);
	/* One 8-byte write moves it once. */
	{
		uint8_t v[8] = { 0, 0, 0, 0xfc, 2, 0, 0, 0 };

		assert_int_equal(vdev_pci_config_write(x->f, 0x18, v, 8), 0);
	}
	assert_int_equal(x->l.n, 4);
	assert_int_equal(x->l.addr[3], 0x2fc000000ull);
	/* I/O off: only the I/O BAR stops. */
	cfg_wr16(x->f, VDEV_PCI_COMMAND, VDEV_PCI_COMMAND_MEMORY);
	assert_int_equal(x->l.n, 5);
	assert_int_equal(x->l.bar[4], 1);
	assert_int_equal(x->l.decoding[4], 0);
	/* Moving a BAR that is not decoding tells nobody. */
	cfg_wr32(x->f, 0x14, 0xd000);
	assert_int_equal(x->l.n, 5);
	/* Address 0 means unassigned: stops decoding. */
	cfg_wr32(x->f, 0x10, 0);
	assert_int_equal(x->l.n, 6);
	assert_int_equal(x->l.decoding[5], 0);
	/* Listener removed: no calls. */
	vdev_pci_set_bar_listener(x->f, NULL, NULL);
	cfg_wr32(x->f, 0x10, 0xfebf0000);
	assert_int_equal(x->l.n, 6);
}

static void test_bar_lookup_info(void **state)
{
	struct fx *x = *state;
	struct vdev_pci_bar_info info;
	uint64_t off = 0;
	int bar = -1;

	assert_int_equal(vdev_pci_bar_lookup(x->f, 0, 0xfebf0000, &bar, &off), -ENOENT);
	program_bars(x);
	assert_int_equal(vdev_pci_bar_lookup(x->f, 0, 0xfebf0000, &bar, &off), 0);
	assert_int_equal(bar, 0);
	assert_int_equal(off, 0);
	assert_int_equal(vdev_pci_bar_lookup(x->f, 0, 0xfebf0fff, &bar, &off), 0);
	assert_int_equal(off, 0xfff);
	assert_int_equal(vdev_pci_bar_lookup(x->f, 0, 0xfebf1000, &bar, &off), -ENOENT);
	assert_int_equal(vdev_pci_bar_lookup(x->f, 0, 0xfebeffff, &bar, &off), -ENOENT);
	/* I/O and memory are separate spaces. */
	assert_int_equal(vdev_pci_bar_lookup(x->f, 1, 0xfebf0000, &bar, &off), -ENOENT);
	assert_int_equal(vdev_pci_bar_lookup(x->f, 0, 0xc020, &bar, &off), -ENOENT);
	assert_int_equal(vdev_pci_bar_lookup(x->f, 1, 0xc03f, &bar, &off), 0);
	assert_int_equal(bar, 1);
	assert_int_equal(off, 0x1f);
	assert_int_equal(vdev_pci_bar_lookup(x->f, 1, 0xc040, &bar, &off), -ENOENT);
	assert_int_equal(vdev_pci_bar_lookup(x->f, 0, 0x800000000ull + (8ull << 30) - 1, &bar,
					     &off), 0);
	assert_int_equal(bar, 4);
	assert_int_equal(off, (8ull << 30) - 1);
	assert_int_equal(vdev_pci_bar_lookup(x->f, 0, 0xfe003fff, NULL, NULL), 0);
	/* Decode off: nothing. */
	cfg_wr16(x->f, VDEV_PCI_COMMAND, 0);
	assert_int_equal(vdev_pci_bar_lookup(x->f, 0, 0xfebf0000, &bar, &off), -ENOENT);
	assert_int_equal(vdev_pci_bar_lookup(x->f, 1, 0xc020, &bar, &off), -ENOENT);

	assert_int_equal(vdev_pci_bar_get_info(x->f, 0, &info), 0);
	assert_int_equal(info.size, 4096);
	assert_int_equal(info.flags, 0);
	assert_int_equal(info.addr, 0xfebf0000);
	assert_int_equal(info.decoding, 0);
	assert_int_equal(vdev_pci_bar_get_info(x->f, 1, &info), 0);
	assert_int_equal(info.flags, VDEV_PCI_BAR_IO);
	assert_int_equal(vdev_pci_bar_get_info(x->f, 3, &info), 0);
	assert_int_equal(info.size, 0);
	assert_int_equal(vdev_pci_bar_get_info(x->f, 6, &info), -EINVAL);
	assert_int_equal(vdev_pci_bar_get_info(x->f, -1, &info), -EINVAL);
}

/* Every access is split into aligned pieces no wider than max_access. */
static void test_bar_access_split(void **state)
{
	struct fx *x = *state;
	static const unsigned int maxes[3] = { 8, 4, 8 };
	uint8_t ref[3][64], buf[16];
	unsigned int seed = 1;

	for (int bar = 0; bar < 3; bar++) {
		uint64_t window = bar == 1 ? 32 : 64;
		struct rec_bar *rb = &x->rb[bar];

		memcpy(ref[bar], rb->mem, sizeof(ref[bar]));
		for (size_t len = 1; len <= 16; len++) {
			for (uint64_t off = 0; off + len <= window; off++) {
				for (size_t i = 0; i < len; i++) {
					seed = seed * 1103515245u + 12345u;
					buf[i] = (uint8_t)(seed >> 16);
				}
				rb->n = 0;
				assert_int_equal(vdev_pci_bar_write(x->f, bar, off, buf, len), 0);
				memcpy(ref[bar] + off, buf, len);
				/* Pieces: contiguous, aligned, allowed sizes, covering it. */
				{
					uint64_t at = off;

					assert_true(rb->n <= PIECES_MAX);
					for (unsigned int p = 0; p < rb->n; p++) {
						unsigned int s = rb->p[p].size;

						assert_true(rb->p[p].write);
						assert_int_equal(rb->p[p].off, at);
						assert_true(s == 1 || s == 2 || s == 4 || s == 8);
						assert_true(s <= maxes[bar]);
						assert_int_equal(at % s, 0);
						at += s;
					}
					assert_int_equal(at, off + len);
				}
				assert_memory_equal(rb->mem, ref[bar], window);
				/* Read back at the same place: same bytes, same split. */
				memset(buf, 0, sizeof(buf));
				rb->n = 0;
				assert_int_equal(vdev_pci_bar_read(x->f, bar, off, buf, len), 0);
				assert_memory_equal(buf, ref[bar] + off, len);
				assert_true(rb->n >= 1 && rb->n <= len);
				assert_false(rb->p[0].write);
			}
		}
	}
	/* 4 bytes at offset 3 (max 8): 1@3, then 2@4, then 1@6. */
	x->rb[0].n = 0;
	assert_int_equal(vdev_pci_bar_read(x->f, 0, 3, buf, 4), 0);
	assert_int_equal(x->rb[0].n, 3);
	assert_int_equal(x->rb[0].p[0].off, 3);
	assert_int_equal(x->rb[0].p[0].size, 1);
	assert_int_equal(x->rb[0].p[1].off, 4);
	assert_int_equal(x->rb[0].p[1].size, 2);
	assert_int_equal(x->rb[0].p[2].off, 6);
	assert_int_equal(x->rb[0].p[2].size, 1);
}

static void test_bar_out_of_range(void **state)
{
	struct fx *x = *state;
	uint8_t buf[16];

	x->rb[0].n = 0;
	memset(buf, 0, sizeof(buf));
	assert_int_equal(vdev_pci_bar_read(x->f, 0, 4095, buf, 2), -ERANGE);
	assert_int_equal(buf[0], 0xff);
	assert_int_equal(buf[1], 0xff);
	assert_int_equal(buf[2], 0);
	assert_int_equal(vdev_pci_bar_read(x->f, 0, 4096, buf, 1), -ERANGE);
	assert_int_equal(vdev_pci_bar_read(x->f, 0, UINT64_MAX, buf, 2), -ERANGE);
	assert_int_equal(vdev_pci_bar_read(x->f, 0, UINT64_MAX - 1, buf, 4), -ERANGE);
	assert_int_equal(vdev_pci_bar_read(x->f, 0, 1ull << 63, buf, 1), -ERANGE);
	assert_int_equal(vdev_pci_bar_write(x->f, 0, 4090, buf, 8), -ERANGE);
	assert_int_equal(vdev_pci_bar_write(x->f, 0, UINT64_MAX - 3, buf, 8), -ERANGE);
	assert_int_equal(vdev_pci_bar_write(x->f, 1, 30, buf, 4), -ERANGE);
	assert_int_equal(x->rb[0].n, 0);
	assert_int_equal(x->rb[1].n, 0);
	/* No such BAR. */
	assert_int_equal(vdev_pci_bar_read(x->f, 3, 0, buf, 1), -EINVAL);
	assert_int_equal(vdev_pci_bar_read(x->f, 6, 0, buf, 1), -EINVAL);
	assert_int_equal(vdev_pci_bar_write(x->f, -1, 0, buf, 1), -EINVAL);
	assert_int_equal(vdev_pci_bar_write(x->f, 5, 0, buf, 1), -EINVAL);
	/* The last byte and an empty access are fine. */
	assert_int_equal(vdev_pci_bar_read(x->f, 0, 4095, buf, 1), 0);
	assert_int_equal(vdev_pci_bar_read(x->f, 0, 4096, buf, 0), 0);
	assert_int_equal(x->rb[0].n, 1);
}

/* A BAR without handlers reads zeroes and ignores writes. */
static void test_bar_null_ops(void **state)
{
	struct fx *x = *state;
	uint8_t buf[16];

	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(vdev_pci_bar_write(x->f, 4, (8ull << 30) - 16, buf, 16), 0);
	assert_int_equal(vdev_pci_bar_read(x->f, 4, (8ull << 30) - 16, buf, 16), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(vdev_pci_bar_read(x->f, 4, 8ull << 30, buf, 1), -ERANGE);
}

/* The testdev's BUF region against a byte-array reference, every size
 * 1..16 at every alignment. */
static void test_testdev_buf_reference(void **state)
{
	struct fx *x = *state;
	uint8_t ref[VDEV_TESTDEV_BUF_SIZE] = { 0 }, buf[16], all[VDEV_TESTDEV_BUF_SIZE];
	vdev_device *dev;
	vdev_pci_func *f = testdev_new(&x->mv, 4, 1, 1, 0, &dev);
	unsigned int seed = 7;

	for (size_t len = 1; len <= 16; len++) {
		for (uint64_t o = 0; o + len <= VDEV_TESTDEV_BUF_SIZE; o++) {
			for (size_t i = 0; i < len; i++) {
				seed = seed * 1103515245u + 12345u;
				buf[i] = (uint8_t)(seed >> 16);
			}
			assert_int_equal(vdev_pci_bar_write(f, 0, VDEV_TESTDEV_REG_BUF + o, buf,
							    len), 0);
			memcpy(ref + o, buf, len);
			assert_int_equal(vdev_pci_bar_read(f, 0, VDEV_TESTDEV_REG_BUF, all,
							   sizeof(all)), 0);
			assert_memory_equal(all, ref, sizeof(ref));
		}
	}
	for (size_t len = 1; len <= 16; len++) {
		for (uint64_t o = 0; o + len <= VDEV_TESTDEV_BUF_SIZE; o++) {
			memset(buf, 0, sizeof(buf));
			assert_int_equal(vdev_pci_bar_read(f, 0, VDEV_TESTDEV_REG_BUF + o, buf,
							   len), 0);
			assert_memory_equal(buf, ref + o, len);
		}
	}
	vdev_device_destroy(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bar_add_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sizing_linux_fresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sizing_linux_programmed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sizing_linux_decode_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sizing_seabios, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listener_no_spurious, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_lookup_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_access_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_null_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_testdev_buf_reference, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
