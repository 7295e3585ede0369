/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the PCI function model through a pci-testdev: everything a guest
 * (config cycles, BAR accesses of any size at any offset, including the
 * MSI-X table and PBA), the device (interrupts), the VMM (reset, lookups,
 * time) and a migration stream can do to it.
 *
 * Input: a 4-byte header choosing the device's options, then a sequence of
 * operations, each an opcode byte followed by its operands (see the OP_*
 * comments). Missing bytes read as zero.
 *
 * Oracles (a broken one traps; that is the harness, not library code):
 *  - in-range config reads succeed; out-of-range ones fail with 0xff fill;
 *  - a save/load round trip succeeds and changes nothing observable;
 *  - a load of a corrupted stream that fails changes nothing observable;
 *  - the BAR listener's view agrees with vdev_pci_bar_get_info/lookup.
 * Compiles against the public headers only.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vdev/vdev.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                        \
	do {                               \
		if (!(cond))               \
			__builtin_trap();  \
	} while (0)

#define RAM_SIZE (64u << 10)
#define ROM_GPA 0x100000u
#define ROM_SIZE 4096u
#define MAX_OPS 2048
#define MSIX_TABLE_MAX (64 * 16)

enum {
	OP_CFG_READ,    /* u16 off (mod 0x1100), u8 len (mod 24) */
	OP_CFG_WRITE,   /* u16 off (mod 0x1100), u8 len (mod 9), len bytes */
	OP_BAR_READ,    /* u8 bar (mod 8, minus 1), u8 mode, offset, u8 len (mod 33) */
	OP_BAR_WRITE,   /* as OP_BAR_READ, then len bytes */
	OP_REG_WRITE,   /* u8 reg (mod 0x80, dword aligned), u32 value: BAR0 dword write */
	OP_NOTIFY,      /* u8 vector */
	OP_INTX,        /* u8 level */
	OP_RESET,
	OP_ROUNDTRIP,   /* save, load into itself */
	OP_CORRUPT,     /* u16 pos, u8 xor: save, flip a byte, load */
	OP_TIME,        /* u32 delta ns: advance the clock, run timers */
	OP_LOOKUP,      /* u8 is_io, u64 addr */
	OP_CFG_WRITE32, /* u8 off, u32 value: a dword config write */
	OP_COUNT,
};

struct fz_in {
	const uint8_t *p;
	size_t n;
};

struct fz_host {
	uint64_t now;
	unsigned int msi_count;
};

struct fz {
	struct fz_in in;
	struct fz_host host;
	vdev_ctx *ctx;
	vdev_device *dev;
	vdev_pci_func *f;
	unsigned int msix;
};

/* Everything observable, for before/after comparisons. */
struct fz_snap {
	uint8_t cfg[256];
	uint8_t regs[0x80];
	uint8_t table[MSIX_TABLE_MAX];
	uint8_t pba[8];
	uint64_t deadline;
	int mode;
};

static uint8_t in_u8(struct fz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint64_t in_uint(struct fz_in *in, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes; i++)
		v |= (uint64_t)in_u8(in) << (8 * i);
	return v;
}

static void host_log(void *opaque, enum vdev_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
}

static uint64_t host_clock(void *opaque)
{
	return ((struct fz_host *)opaque)->now;
}

static void host_intx(void *opaque, uint32_t source_id, unsigned int pin, int level)
{
	(void)opaque;
	(void)source_id;
	(void)level;
	CHECK(pin >= 1 && pin <= 4);
}

static int host_msi(void *opaque, uint32_t source_id, uint64_t addr, uint32_t data)
{
	struct fz_host *h = opaque;

	(void)source_id;
	(void)addr;
	(void)data;
	/* Now and then the VMM cannot deliver. */
	return ++h->msi_count % 17 == 0 ? -EIO : 0;
}

static void listener(void *opaque, vdev_pci_func *f, int bar)
{
	struct vdev_pci_bar_info info;
	uint64_t off = 0;
	int found = -1;

	(void)opaque;
	CHECK(bar >= 0 && bar < VDEV_PCI_NUM_BARS);
	CHECK(vdev_pci_bar_get_info(f, bar, &info) == 0);
	CHECK(info.size != 0);
	if (!info.decoding)
		return;
	CHECK(info.addr != 0);
	CHECK(info.addr % info.size == 0);
	CHECK(vdev_pci_bar_lookup(f, !!(info.flags & VDEV_PCI_BAR_IO), info.addr, &found,
				  &off) == 0);
	/* The guest may place BARs on top of each other: lookup may name another. */
	if (found != bar) {
		struct vdev_pci_bar_info other;

		CHECK(vdev_pci_bar_get_info(f, found, &other) == 0);
		CHECK(other.decoding && other.addr + off == info.addr && off < other.size);
	} else {
		CHECK(off == 0);
	}
}

static void snap(struct fz *z, struct fz_snap *s)
{
	memset(s, 0, sizeof(*s));
	CHECK(vdev_pci_config_read(z->f, 0, s->cfg, sizeof(s->cfg)) == 0);
	CHECK(vdev_pci_bar_read(z->f, 0, 0, s->regs, sizeof(s->regs)) == 0);
	if (z->msix) {
		CHECK(vdev_pci_bar_read(z->f, 2, 0, s->table, z->msix * 16u) == 0);
		CHECK(vdev_pci_bar_read(z->f, 2, 0x2000, s->pba, sizeof(s->pba)) == 0);
	}
	if (vdev_timers_next_deadline(z->ctx, &s->deadline))
		s->deadline = UINT64_MAX;
	s->mode = (int)vdev_pci_irq_mode(z->f);
}

/* Save the device; returns a malloc'd copy of the blob or NULL. */
static uint8_t *save(struct fz *z, size_t *len)
{
	vdev_state_writer *w;
	const void *data;
	uint8_t *copy = NULL;

	if (vdev_state_writer_new(&w))
		return NULL;
	CHECK(vdev_device_save(z->dev, w) == 0);
	CHECK(vdev_state_writer_finish(w, &data, len) == 0);
	copy = malloc(*len);
	if (copy)
		memcpy(copy, data, *len);
	vdev_state_writer_free(w);
	return copy;
}

static int load(struct fz *z, const uint8_t *blob, size_t len)
{
	vdev_state_reader *r;
	int rc = vdev_state_reader_new(blob, len, &r);

	if (rc)
		return rc;
	rc = vdev_device_load(z->dev, r);
	if (rc)
		CHECK(vdev_state_reader_error(r)[0] != '\0');
	vdev_state_reader_free(r);
	return rc;
}

static void op_roundtrip(struct fz *z, int corrupt)
{
	struct fz_snap a, b;
	size_t len = 0, pos;
	uint8_t *blob, x;
	int rc;

	pos = (size_t)in_uint(&z->in, 2);
	x = in_u8(&z->in);
	blob = save(z, &len);
	if (!blob)
		return;
	snap(z, &a);
	if (corrupt && len) {
		blob[pos % len] ^= x ? x : 0x80;
		rc = load(z, blob, len);
		snap(z, &b);
		if (rc)
			CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	} else {
		CHECK(load(z, blob, len) == 0);
		snap(z, &b);
		CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	}
	free(blob);
}

static uint64_t bar_offset(struct fz *z, int bar)
{
	struct vdev_pci_bar_info info = { 0 };
	uint8_t mode = in_u8(&z->in);

	if (bar >= 0 && bar < VDEV_PCI_NUM_BARS)
		vdev_pci_bar_get_info(z->f, bar, &info);
	switch (mode % 4) {
	case 0:
		return in_u8(&z->in);
	case 1:
		return in_uint(&z->in, 2);
	case 2:
		return info.size - in_u8(&z->in);
	default:
		return in_uint(&z->in, 8);
	}
}

static void op_bar(struct fz *z, int write)
{
	int bar = (int)(in_u8(&z->in) % 8) - 1;
	uint64_t off = bar_offset(z, bar);
	size_t len = in_u8(&z->in) % 33;
	uint8_t buf[32];
	int rc;

	if (write) {
		for (size_t i = 0; i < len; i++)
			buf[i] = in_u8(&z->in);
		vdev_pci_bar_write(z->f, bar, off, buf, len);
		return;
	}
	memset(buf, 0x5a, sizeof(buf));
	rc = vdev_pci_bar_read(z->f, bar, off, buf, len);
	if (rc == -ERANGE || rc == -EINVAL)
		for (size_t i = 0; i < len; i++)
			CHECK(buf[i] == 0xff);
	else
		CHECK(rc == 0);
}

static void op_cfg(struct fz *z, int write)
{
	uint32_t off = (uint32_t)in_uint(&z->in, 2) % 0x1100;
	size_t len = in_u8(&z->in) % (write ? 9 : 24);
	uint8_t buf[24];
	int rc;

	if (write) {
		for (size_t i = 0; i < len; i++)
			buf[i] = in_u8(&z->in);
		rc = vdev_pci_config_write(z->f, off, buf, len);
	} else {
		rc = vdev_pci_config_read(z->f, off, buf, len);
		if (rc)
			for (size_t i = 0; i < len; i++)
				CHECK(buf[i] == 0xff);
	}
	CHECK(rc == ((off + len > 256) ? -ERANGE : 0));
}

static void run_op(struct fz *z, unsigned int op)
{
	uint8_t b[8];
	uint32_t v;

	switch (op) {
	case OP_CFG_READ:
	case OP_CFG_WRITE:
		op_cfg(z, op == OP_CFG_WRITE);
		break;
	case OP_BAR_READ:
	case OP_BAR_WRITE:
		op_bar(z, op == OP_BAR_WRITE);
		break;
	case OP_REG_WRITE:
		b[0] = (uint8_t)((in_u8(&z->in) % 0x80) & ~3u);
		v = (uint32_t)in_uint(&z->in, 4);
		for (int i = 0; i < 4; i++)
			b[1 + i] = (uint8_t)(v >> (8 * i));
		CHECK(vdev_pci_bar_write(z->f, 0, b[0], b + 1, 4) == 0);
		break;
	case OP_NOTIFY:
		vdev_pci_notify(z->f, in_u8(&z->in));
		break;
	case OP_INTX:
		vdev_pci_intx_set(z->f, in_u8(&z->in) & 1);
		break;
	case OP_RESET:
		vdev_device_reset(z->dev);
		break;
	case OP_ROUNDTRIP:
	case OP_CORRUPT:
		op_roundtrip(z, op == OP_CORRUPT);
		break;
	case OP_TIME:
		z->host.now += in_uint(&z->in, 4);
		vdev_timers_run(z->ctx);
		break;
	case OP_LOOKUP: {
		int is_io = in_u8(&z->in) & 1, bar = -1;
		uint64_t addr = in_uint(&z->in, 8), off = 0;
		struct vdev_pci_bar_info info;

		if (vdev_pci_bar_lookup(z->f, is_io, addr, &bar, &off) == 0) {
			CHECK(vdev_pci_bar_get_info(z->f, bar, &info) == 0);
			CHECK(info.decoding && off < info.size && info.addr + off == addr);
		}
		break;
	}
	case OP_CFG_WRITE32:
		b[0] = in_u8(&z->in);
		v = (uint32_t)in_uint(&z->in, 4);
		for (int i = 0; i < 4; i++)
			b[1 + i] = (uint8_t)(v >> (8 * i));
		CHECK(vdev_pci_config_write(z->f, b[0], b + 1, 4) == (b[0] > 252 ? -ERANGE : 0));
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz z;
	struct vdev_host_ops ops = {
		.struct_size = sizeof(ops),
		.log = host_log,
		.clock_ns = host_clock,
		.intx_set = host_intx,
		.msi_send = host_msi,
	};
	struct vdev_testdev_opts o = { .struct_size = sizeof(o) };
	uint8_t *ram, *rom;
	uint8_t sel;

	memset(&z, 0, sizeof(z));
	z.in.p = data;
	z.in.n = size;
	z.host.now = 1000;
	ops.opaque = &z.host;

	o.msix_vectors = in_u8(&z.in) % 65;
	sel = in_u8(&z.in) % 7;
	o.msi_vectors = sel == 6 ? 0 : 1u << sel;
	o.intx = in_u8(&z.in) & 1;
	o.source_id = in_u8(&z.in);
	z.msix = o.msix_vectors;

	ram = calloc(1, RAM_SIZE);
	rom = calloc(1, ROM_SIZE);
	if (!ram || !rom || vdev_ctx_new(&ops, &z.ctx)) {
		free(ram);
		free(rom);
		return 0;
	}
	CHECK(vdev_mem_region_add(z.ctx, 0, RAM_SIZE, ram, 0) == 0);
	CHECK(vdev_mem_region_add(z.ctx, ROM_GPA, ROM_SIZE, rom, VDEV_MEM_READONLY) == 0);
	/* Built-in in every context; tolerate a library built without it. */
	if (!vdev_device_type_find(z.ctx, VDEV_TESTDEV_TYPE))
		goto out;
	CHECK(vdev_device_create(z.ctx, VDEV_TESTDEV_TYPE, &o, "fz", &z.dev) == 0);
	z.f = vdev_device_pci(z.dev);
	CHECK(z.f != NULL);
	vdev_pci_set_bar_listener(z.f, listener, NULL);

	for (unsigned int i = 0; i < MAX_OPS && z.in.n; i++)
		run_op(&z, in_u8(&z.in) % OP_COUNT);

	vdev_device_destroy(z.dev);
out:
	vdev_ctx_free(z.ctx);
	free(ram);
	free(rom);
	return 0;
}
