/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the user-space local APIC (vdev/lapic.h) and its PV-EOI helper
 * (vdev/pveoi.h) through everything a guest, the VMM and a migration
 * stream can do: xAPIC MMIO reads and writes of any size at any offset,
 * MSR reads and writes (IA32_APIC_BASE, TSC deadline, x2APIC, PV-EOI and
 * others), interrupts from devices and IPIs, injection, guest EOIs the
 * Linux way (test-and-clear the PV-EOI flag, else the EOI register),
 * entries and exits, time, reset/INIT, guest RAM the guest scribbles on
 * (the flag word included), a RAM region that comes and goes under an
 * armed flag, and save/load.
 *
 * Input: a 4-byte header choosing the APIC's options and hooks, then
 * operations, each an opcode byte followed by its operands (see OP_*).
 * Missing bytes read as zero.
 *
 * Oracles (a broken one traps; that is the harness, not library code):
 *  - return codes are the documented ones (MMIO: -EINVAL only for bad
 *    sizes or offsets outside the page; MSRs: -ENOENT only for MSRs that
 *    are not the APIC's; set_irq: 1/0, -EINVAL above 255);
 *  - an injectable vector is 16..255 and beats the PPR's class; ack moves
 *    it from the IRR to the ISR; vectors 0..15 never appear in ISR/IRR/TMR;
 *  - armed means the guest word's bit 0 is set and PV-EOI is enabled;
 *    after_exit always disarms; a level or nested in-service vector is
 *    never armed;
 *  - save/load into the same APIC and into a fresh one succeeds (if the
 *    PV-EOI word is still in RAM) and changes nothing observable; a load
 *    of a corrupted stream that fails changes nothing observable; at the
 *    end, a round trip must succeed.
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
#define ROM_GPA 0x100000u /* read-only: PV-EOI may not point here */
#define ROM_SIZE 4096u
#define HOT_GPA 0x200000u /* a RAM region the VMM removes and adds back */
#define HOT_SIZE 4096u
#define MAX_OPS 4096
#define NREGS 0x40        /* register slots 0x000..0x3f0 */
#define MSR_X2_EOI 0x80bu

enum {
	OP_MMIO_READ,   /* u16 offset (mod 0x1010), u8 size selector */
	OP_MMIO_WRITE,  /* as OP_MMIO_READ, then u32 value (LE), 4 more bytes for size 8 */
	OP_REG_WRITE,   /* u8 slot, u32 value: the architectural 4-byte MMIO write */
	OP_MSR_READ,    /* u8 msr selector (+ operands, see pick_msr) */
	OP_MSR_WRITE,   /* msr selector, u64 value */
	OP_PVEOI_MSR,   /* u8 where, u16 offset, u8 flags: a PV-EOI MSR write */
	OP_SET_IRQ,     /* u16 vector (mod 300), u8 level */
	OP_INJECT,      /* u8 w: get_interrupt, ack; if none, ack(w) must fail */
	OP_GUEST_EOI,   /* the guest ends its interrupt the Linux way */
	OP_ENTRY,       /* before_entry */
	OP_EXIT,        /* after_exit */
	OP_TIME,        /* u8 shift, u16 delta, u8 tsc: the clock += delta << (shift % 32) */
	OP_RESET,       /* u8 init */
	OP_SCRIBBLE,    /* u16 gpa, u8 len (mod 9), len bytes: the guest writes RAM */
	OP_HOT,         /* remove or add back the HOT region */
	OP_ROUNDTRIP,   /* save, load into a fresh APIC and into this one */
	OP_CORRUPT,     /* u16 pos, u8 xor: save, flip a byte, load */
	OP_LINE,        /* u8 level: the line behind level-triggered vectors */
	OP_PEEK,        /* u16 offset */
	OP_COUNT,
};

struct fz_in {
	const uint8_t *p;
	size_t n;
};

struct fz {
	struct fz_in in;
	uint64_t now;
	uint64_t tsc_offset;
	vdev_ctx *ctx;
	vdev_lapic *apic;
	vdev_lapic *fresh;  /* the round trip's second APIC, while it exists */
	struct vdev_lapic_opts opts;
	struct vdev_lapic_ops ops;
	uint8_t *ram, *rom, *hot;
	int hot_present;
	int line;           /* level-triggered line still asserted */
	unsigned int depth; /* hook re-entrancy */
	unsigned int kicks;
};

/* Everything observable about one APIC, for before/after comparisons. */
struct fz_snap {
	int peek_rc[NREGS];
	uint32_t peek[NREGS];
	int x2_rc[256];
	uint64_t x2[256];
	uint64_t base, deadline, pveoi_msr, mmio_base;
	int armed, enabled, irq;
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
	return ((struct fz *)opaque)->now;
}

/* The guest's RAM byte at @gpa, or NULL (not RAM the guest can write). */
static uint8_t *guest_ptr(struct fz *z, uint64_t gpa)
{
	if (gpa < RAM_SIZE)
		return z->ram + gpa;
	if (z->hot_present && gpa >= HOT_GPA && gpa - HOT_GPA < HOT_SIZE)
		return z->hot + (gpa - HOT_GPA);
	return NULL;
}

/* Vectors 0..15 never enter the ISR, IRR or TMR. */
static void check_low_vectors(struct fz *z)
{
	static const uint32_t regs[] = { 0x100, 0x180, 0x200 };
	uint32_t v;

	for (unsigned int i = 0; i < 3; i++) {
		CHECK(vdev_lapic_peek(z->apic, regs[i], &v) == 0);
		CHECK((v & 0xffffu) == 0);
	}
}

static int vec_bit(struct fz *z, uint32_t base, uint32_t vector)
{
	uint32_t v;

	CHECK(vdev_lapic_peek(z->apic, base + 0x10 * (vector / 32), &v) == 0);
	return (v >> (vector % 32)) & 1;
}

static void check_irq(struct fz *z)
{
	int v = vdev_lapic_get_interrupt(z->apic);
	uint32_t ppr;

	if (v == -ENOENT)
		return;
	CHECK(v >= 16 && v <= 255);
	CHECK(vec_bit(z, 0x200, (uint32_t)v));
	CHECK(vdev_lapic_peek(z->apic, 0xa0, &ppr) == 0);
	CHECK(((uint32_t)v & 0xf0) > (ppr & 0xf0));
}

/* ---- hooks: the VMM, re-entering the APIC the way a real one may ---- */

static void hook_send_ipi(void *opaque, vdev_lapic *from, uint64_t icr)
{
	struct fz *z = opaque;
	uint32_t vec = icr & 0xff, dm = (icr >> 8) & 7, sh = (icr >> 18) & 3;

	CHECK(from == z->apic);
	/* Fixed self-IPIs stay inside the APIC; fixed illegal vectors are errors. */
	CHECK(!(dm == 0 && sh == 1));
	CHECK(!(dm == 0 && vec < 16));
	/* Route "to everyone incl. self" and "to my ID" back, as a VMM would. */
	if (dm == 0 && z->depth < 4 && (sh == 2 || (sh == 0 && !(icr & (1u << 11)) &&
						   (icr >> 32) == z->opts.apic_id))) {
		z->depth++;
		CHECK(vdev_lapic_set_irq(from, vec, (icr >> 15) & 1) >= 0);
		z->depth--;
	}
}

static void hook_eoi_broadcast(void *opaque, vdev_lapic *apic, uint8_t vector)
{
	struct fz *z = opaque;

	CHECK(apic == z->apic);
	CHECK(vector >= 16);
	/* An IOAPIC re-delivers a line that is still asserted. */
	if (z->line && z->depth < 4) {
		z->depth++;
		CHECK(vdev_lapic_set_irq(apic, vector, 1) >= 0);
		z->depth--;
	}
}

static void hook_kick(void *opaque, vdev_lapic *apic)
{
	struct fz *z = opaque;

	CHECK(apic == z->apic);
	z->kicks++;
}

static uint64_t hook_read_tsc(void *opaque, vdev_lapic *apic)
{
	struct fz *z = opaque;

	CHECK(apic == z->apic || (z->fresh && apic == z->fresh));
	return z->now * 3 + z->tsc_offset;
}

/* ---- snapshots and state ---- */

static void snap(vdev_lapic *a, struct fz_snap *s)
{
	memset(s, 0, sizeof(*s));
	for (uint32_t i = 0; i < NREGS; i++)
		s->peek_rc[i] = vdev_lapic_peek(a, i * 16, &s->peek[i]);
	for (uint32_t i = 0; i < 256; i++)
		s->x2_rc[i] = vdev_lapic_msr_read(a, VDEV_LAPIC_MSR_X2APIC_FIRST + i, &s->x2[i]);
	CHECK(vdev_lapic_msr_read(a, VDEV_LAPIC_MSR_APIC_BASE, &s->base) == 0);
	CHECK(vdev_lapic_msr_read(a, VDEV_LAPIC_MSR_TSC_DEADLINE, &s->deadline) == 0);
	CHECK(vdev_lapic_msr_read(a, VDEV_PVEOI_MSR, &s->pveoi_msr) == 0);
	s->mmio_base = vdev_lapic_mmio_base(a);
	s->armed = vdev_pveoi_armed(vdev_lapic_pveoi(a));
	s->enabled = vdev_pveoi_enabled(vdev_lapic_pveoi(a));
	s->irq = vdev_lapic_get_interrupt(a);
}

/*
 * The context's next timer deadline. In TSC-deadline mode a load re-derives
 * it from the guest TSC (the read_tsc hook, which need not tick with the
 * clock) and the saved IA32_TSC_DEADLINE, which the snapshot compares:
 * the clock deadline may move there, as it does between hosts.
 */
static uint64_t next_deadline(struct fz *z)
{
	uint32_t lvt;
	uint64_t d;

	CHECK(vdev_lapic_peek(z->apic, 0x320, &lvt) == 0);
	if (((lvt >> 17) & 3) == 2)
		return 0;
	return vdev_timers_next_deadline(z->ctx, &d) ? UINT64_MAX : d;
}

/* Save the APIC; returns a malloc'd copy of the blob or NULL. */
static uint8_t *save(struct fz *z, size_t *len)
{
	vdev_state_writer *w;
	const void *data;
	uint8_t *copy = NULL;

	if (vdev_state_writer_new(&w))
		return NULL;
	CHECK(vdev_lapic_save(z->apic, w) == 0);
	CHECK(vdev_state_writer_finish(w, &data, len) == 0);
	copy = malloc(*len);
	if (copy)
		memcpy(copy, data, *len);
	vdev_state_writer_free(w);
	return copy;
}

static int load(vdev_lapic *a, const uint8_t *blob, size_t len)
{
	vdev_state_reader *r;
	int rc = vdev_state_reader_new(blob, len, &r);

	if (rc)
		return rc;
	rc = vdev_lapic_load(a, r);
	if (rc)
		CHECK(vdev_state_reader_error(r)[0] != '\0');
	vdev_state_reader_free(r);
	return rc;
}

/* A load can only fail legitimately if the PV-EOI word has left RAM. */
static int word_in_ram(struct fz *z)
{
	uint64_t msr;

	CHECK(vdev_lapic_msr_read(z->apic, VDEV_PVEOI_MSR, &msr) == 0);
	if (!(msr & VDEV_PVEOI_MSR_ENABLED))
		return 1;
	return guest_ptr(z, msr & ~3ull) != NULL;
}

static void roundtrip(struct fz *z, int corrupt, size_t pos, uint8_t x)
{
	struct fz_snap *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	uint64_t dl = next_deadline(z);
	size_t len = 0;
	uint8_t *blob = save(z, &len);
	int rc, expect_ok = word_in_ram(z);

	if (!a || !b || !blob)
		goto out;
	snap(z->apic, a);
	if (corrupt && len) {
		blob[pos % len] ^= x ? x : 0x80;
		rc = load(z->apic, blob, len);
		if (rc) {
			snap(z->apic, b);
			CHECK(memcmp(a, b, sizeof(*a)) == 0);
			CHECK(next_deadline(z) == dl);
		}
		goto out;
	}
	/* A fresh APIC with the same options takes the state as it is. */
	if (vdev_lapic_new(z->ctx, &z->opts, &z->fresh) == 0) {
		rc = load(z->fresh, blob, len);
		CHECK(expect_ok ? rc == 0 : rc == -ERANGE);
		if (!rc) {
			snap(z->fresh, b);
			CHECK(memcmp(a, b, sizeof(*a)) == 0);
		}
		vdev_lapic_free(z->fresh);
		z->fresh = NULL;
	}
	rc = load(z->apic, blob, len);
	CHECK(expect_ok ? rc == 0 : rc == -ERANGE);
	snap(z->apic, b);
	CHECK(memcmp(a, b, sizeof(*a)) == 0);
	CHECK(next_deadline(z) == dl);
out:
	free(blob);
	free(a);
	free(b);
}

/* ---- operations ---- */

static int x2apic_mode(struct fz *z)
{
	uint64_t base;

	CHECK(vdev_lapic_msr_read(z->apic, VDEV_LAPIC_MSR_APIC_BASE, &base) == 0);
	return (base & VDEV_LAPIC_BASE_EXTD) != 0;
}

static void op_mmio(struct fz *z, int write)
{
	static const uint32_t sizes[8] = { 4, 4, 1, 2, 8, 0, 3, 16 };
	uint32_t off = (uint32_t)in_uint(&z->in, 2) % 0x1010;
	uint32_t size = sizes[in_u8(&z->in) % 8];
	int legal = (size == 1 || size == 2 || size == 4 || size == 8) &&
		    off < VDEV_LAPIC_MMIO_SIZE && off + size <= VDEV_LAPIC_MMIO_SIZE;
	uint8_t buf[16];
	int rc;

	if (write) {
		for (uint32_t i = 0; i < sizeof(buf); i++)
			buf[i] = i < size ? in_u8(&z->in) : 0;
		rc = vdev_lapic_mmio_write(z->apic, off, buf, size);
	} else {
		memset(buf, 0xa5, sizeof(buf));
		rc = vdev_lapic_mmio_read(z->apic, off, buf, size);
		if (!rc && (vdev_lapic_mmio_base(z->apic) == UINT64_MAX || (off & 0xf) + size > 4))
			for (uint32_t i = 0; i < size; i++)
				CHECK(buf[i] == 0);
	}
	CHECK(rc == (legal ? 0 : -EINVAL));
}

static uint32_t pick_msr(struct fz *z)
{
	static const uint32_t msrs[] = {
		VDEV_LAPIC_MSR_APIC_BASE, VDEV_LAPIC_MSR_TSC_DEADLINE, VDEV_PVEOI_MSR,
		0x10 /* TSC: not the APIC's */, 0x4b564d03 /* a KVM MSR, not ours */,
	};
	uint8_t sel = in_u8(&z->in);

	if (sel < 0x80)
		return VDEV_LAPIC_MSR_X2APIC_FIRST + in_u8(&z->in);
	if (sel < 0x90)
		return (uint32_t)in_uint(&z->in, 4);
	return msrs[sel % (sizeof(msrs) / sizeof(msrs[0]))];
}

static int apic_msr(uint32_t msr)
{
	return msr == VDEV_LAPIC_MSR_APIC_BASE || msr == VDEV_LAPIC_MSR_TSC_DEADLINE ||
	       msr == VDEV_PVEOI_MSR ||
	       (msr >= VDEV_LAPIC_MSR_X2APIC_FIRST && msr <= VDEV_LAPIC_MSR_X2APIC_LAST);
}

static void op_msr(struct fz *z, int write)
{
	uint32_t msr = pick_msr(z);
	uint64_t v = 0x5a5a;
	int rc, x2 = x2apic_mode(z);

	if (write) {
		v = in_uint(&z->in, 8);
		rc = vdev_lapic_msr_write(z->apic, msr, v);
		if (!rc && msr == VDEV_PVEOI_MSR) {
			CHECK(!vdev_pveoi_armed(vdev_lapic_pveoi(z->apic)));
			CHECK(vdev_pveoi_msr_read(vdev_lapic_pveoi(z->apic)) == v);
		}
	} else {
		rc = vdev_lapic_msr_read(z->apic, msr, &v);
	}
	if (!apic_msr(msr))
		CHECK(rc == -ENOENT);
	else if (msr >= VDEV_LAPIC_MSR_X2APIC_FIRST && msr <= VDEV_LAPIC_MSR_X2APIC_LAST && !x2)
		CHECK(rc == -EINVAL);
	else
		CHECK(rc == 0 || rc == -EINVAL);
}

/* A PV-EOI MSR write aimed at interesting places. */
static void op_pveoi_msr(struct fz *z)
{
	uint8_t where = in_u8(&z->in) % 6;
	uint64_t off = in_uint(&z->in, 2), gpa;
	uint8_t flags = in_u8(&z->in) & 3;
	int rc;

	switch (where) {
	case 0:
		gpa = off % RAM_SIZE;
		break;
	case 1:
		gpa = RAM_SIZE - 8 + off % 16; /* across the end of RAM */
		break;
	case 2:
		gpa = ROM_GPA + off % ROM_SIZE;
		break;
	case 3:
		gpa = HOT_GPA + off % HOT_SIZE;
		break;
	case 4:
		gpa = HOT_GPA - 4 + off % 8;   /* into a hole */
		break;
	default:
		gpa = in_uint(&z->in, 8);
		break;
	}
	gpa = (gpa & ~3ull) | flags;
	rc = vdev_lapic_msr_write(z->apic, VDEV_PVEOI_MSR, gpa);
	if (gpa & VDEV_PVEOI_MSR_RESERVED)
		CHECK(rc == -EINVAL);
	else if (!(gpa & VDEV_PVEOI_MSR_ENABLED))
		CHECK(rc == 0);
	else
		CHECK(rc == ((guest_ptr(z, gpa & ~3ull) && guest_ptr(z, (gpa & ~3ull) + 3)) ?
			     0 : -EINVAL));
	if (!rc)
		CHECK(!vdev_pveoi_armed(vdev_lapic_pveoi(z->apic)));
}

static void op_inject(struct fz *z)
{
	int v = vdev_lapic_get_interrupt(z->apic);
	uint32_t w = in_u8(&z->in);

	if (v < 0) {
		CHECK(v == -ENOENT);
		/* Ack of something that is not pending is refused. */
		if (!vec_bit(z, 0x200, w))
			CHECK(vdev_lapic_ack(z->apic, w) == -EINVAL);
		return;
	}
	CHECK(vdev_lapic_ack(z->apic, (uint32_t)v) == 0);
	CHECK(vec_bit(z, 0x100, (uint32_t)v));
}

/* Linux kvm_guest_apic_eoi_write(): test-and-clear the flag, else the EOI register. */
static void op_guest_eoi(struct fz *z)
{
	vdev_pveoi *p = vdev_lapic_pveoi(z->apic);
	uint8_t zero[4] = { 0 };

	if (vdev_pveoi_enabled(p)) {
		uint8_t *w = guest_ptr(z, vdev_pveoi_msr_read(p) & ~3ull);

		if (w && (*w & 1)) {
			*w &= (uint8_t)~1u;
			return;
		}
	}
	if (x2apic_mode(z))
		CHECK(vdev_lapic_msr_write(z->apic, MSR_X2_EOI, 0) == 0);
	else
		CHECK(vdev_lapic_mmio_write(z->apic, 0xb0, zero, 4) == 0);
}

static void op_entry(struct fz *z)
{
	vdev_pveoi *p = vdev_lapic_pveoi(z->apic);
	int isr_count = 0, top = -1, rc, was_armed;

	for (uint32_t v = 16; v < 256; v++)
		if (vec_bit(z, 0x100, v)) {
			isr_count++;
			top = (int)v;
		}
	was_armed = vdev_pveoi_armed(p);
	rc = vdev_lapic_before_entry(z->apic);
	CHECK(rc == 0 || rc == 1);
	CHECK(rc == vdev_pveoi_armed(p));
	if (rc) {
		uint8_t *w = guest_ptr(z, vdev_pveoi_msr_read(p) & ~3ull);

		CHECK(vdev_pveoi_enabled(p));
		/* Freshly armed: the flag is set. Still armed (two entries, no
		 * exit): the guest may have cleared it since, or the VMM removed
		 * its RAM; after_exit turns either into the EOI. */
		CHECK(was_armed || (w && (*w & 1)));
		/* Armed only for one edge-triggered vector with nothing pending. */
		CHECK(isr_count == 1 && !vec_bit(z, 0x180, (uint32_t)top));
		CHECK(vdev_lapic_get_interrupt(z->apic) == -ENOENT);
	}
}

static void op_hot(struct fz *z)
{
	if (z->hot_present) {
		CHECK(vdev_mem_region_remove(z->ctx, HOT_GPA) == 0);
		z->hot_present = 0;
	} else {
		CHECK(vdev_mem_region_add(z->ctx, HOT_GPA, HOT_SIZE, z->hot, 0) == 0);
		z->hot_present = 1;
	}
}

static void run_op(struct fz *z, unsigned int op)
{
	uint8_t b[4];
	uint32_t u;
	int rc;

	switch (op) {
	case OP_MMIO_READ:
	case OP_MMIO_WRITE:
		op_mmio(z, op == OP_MMIO_WRITE);
		break;
	case OP_REG_WRITE:
		u = (in_u8(&z->in) % NREGS) * 16u;
		for (int i = 0; i < 4; i++)
			b[i] = in_u8(&z->in);
		CHECK(vdev_lapic_mmio_write(z->apic, u, b, 4) == 0);
		break;
	case OP_MSR_READ:
	case OP_MSR_WRITE:
		op_msr(z, op == OP_MSR_WRITE);
		break;
	case OP_PVEOI_MSR:
		op_pveoi_msr(z);
		break;
	case OP_SET_IRQ:
		u = (uint32_t)in_uint(&z->in, 2) % 300;
		rc = vdev_lapic_set_irq(z->apic, u, in_u8(&z->in) & 1);
		CHECK(u > 255 ? rc == -EINVAL : (rc == 0 || rc == 1));
		if (rc == 1)
			CHECK(vec_bit(z, 0x200, u));
		break;
	case OP_INJECT:
		op_inject(z);
		break;
	case OP_GUEST_EOI:
		op_guest_eoi(z);
		break;
	case OP_ENTRY:
		op_entry(z);
		break;
	case OP_EXIT:
		rc = vdev_lapic_after_exit(z->apic);
		CHECK(rc == 0 || rc == 1);
		CHECK(!vdev_pveoi_armed(vdev_lapic_pveoi(z->apic)));
		break;
	case OP_TIME:
		u = in_u8(&z->in) % 32;  /* 4096 ops cannot wrap the clock */
		z->now += in_uint(&z->in, 2) << u;
		z->tsc_offset += in_u8(&z->in);
		CHECK(vdev_timers_run(z->ctx) >= 0);
		break;
	case OP_RESET:
		vdev_lapic_reset(z->apic, in_u8(&z->in) & 1);
		CHECK(!vdev_pveoi_enabled(vdev_lapic_pveoi(z->apic)));
		CHECK(vdev_lapic_get_interrupt(z->apic) == -ENOENT);
		break;
	case OP_SCRIBBLE: {
		uint64_t gpa = in_uint(&z->in, 2) % RAM_SIZE;
		uint8_t len = in_u8(&z->in) % 9;

		for (uint8_t i = 0; i < len; i++) {
			uint8_t v = in_u8(&z->in);

			if (gpa + i < RAM_SIZE)
				z->ram[gpa + i] = v;
			if (z->hot_present && gpa + i < HOT_SIZE)
				z->hot[gpa + i] = v;
		}
		break;
	}
	case OP_HOT:
		op_hot(z);
		break;
	case OP_ROUNDTRIP:
	case OP_CORRUPT: {
		size_t pos = (size_t)in_uint(&z->in, 2);
		uint8_t x = in_u8(&z->in);

		roundtrip(z, op == OP_CORRUPT, pos, x);
		break;
	}
	case OP_LINE:
		z->line = in_u8(&z->in) & 1;
		break;
	case OP_PEEK:
		u = (uint32_t)in_uint(&z->in, 2);
		{
			uint32_t v;

			rc = vdev_lapic_peek(z->apic, u, &v);
			if ((u & 0xf) || u >= VDEV_LAPIC_MMIO_SIZE)
				CHECK(rc == -EINVAL);
			else
				CHECK(rc == 0 || rc == -EINVAL);
		}
		break;
	default:
		break;
	}
	check_low_vectors(z);
	check_irq(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vdev_host_ops hops = {
		.struct_size = sizeof(hops),
		.log = host_log,
		.clock_ns = host_clock,
	};
	struct fz z;
	uint8_t hdr;

	memset(&z, 0, sizeof(z));
	z.in.p = data;
	z.in.n = size;
	z.now = 1000;
	hops.opaque = &z;

	/* Header: hooks and options, APIC ID, timer and TSC frequencies. */
	hdr = in_u8(&z.in);
	z.ops.struct_size = sizeof(z.ops);
	z.ops.opaque = &z;
	z.ops.send_ipi = (hdr & 1) ? hook_send_ipi : NULL;
	z.ops.eoi_broadcast = (hdr & 2) ? hook_eoi_broadcast : NULL;
	z.ops.kick = (hdr & 4) ? hook_kick : NULL;
	z.ops.read_tsc = (hdr & 8) ? hook_read_tsc : NULL;
	z.opts.struct_size = sizeof(z.opts);
	z.opts.ops = &z.ops;
	z.opts.x2apic = (hdr >> 4) & 1;
	z.opts.bsp = (hdr >> 5) & 1;
	z.opts.apic_id = in_u8(&z.in);
	z.opts.timer_hz = (uint64_t)in_u8(&z.in) * 1000003u;  /* 0: the 1 GHz default */
	z.opts.tsc_hz = (hdr & 0x40) ? (uint64_t)(in_u8(&z.in) + 1) * 10000019u : 0;
	z.opts.phys_bits = (hdr & 0x80) ? 32 + in_u8(&z.in) % 21 : 0;

	z.ram = calloc(1, RAM_SIZE);
	z.rom = calloc(1, ROM_SIZE);
	z.hot = calloc(1, HOT_SIZE);
	if (!z.ram || !z.rom || !z.hot || vdev_ctx_new(&hops, &z.ctx))
		goto out;
	CHECK(vdev_mem_region_add(z.ctx, 0, RAM_SIZE, z.ram, 0) == 0);
	CHECK(vdev_mem_region_add(z.ctx, ROM_GPA, ROM_SIZE, z.rom, VDEV_MEM_READONLY) == 0);
	CHECK(vdev_mem_region_add(z.ctx, HOT_GPA, HOT_SIZE, z.hot, 0) == 0);
	z.hot_present = 1;
	CHECK(vdev_lapic_new(z.ctx, &z.opts, &z.apic) == 0);

	for (unsigned int i = 0; i < MAX_OPS && z.in.n; i++)
		run_op(&z, in_u8(&z.in) % OP_COUNT);

	/* The end: with the word back in RAM, a round trip must succeed. */
	if (!z.hot_present)
		op_hot(&z);
	roundtrip(&z, 0, 0, 0);
	vdev_lapic_free(z.apic);
out:
	vdev_ctx_free(z.ctx);
	free(z.ram);
	free(z.rom);
	free(z.hot);
	return 0;
}
