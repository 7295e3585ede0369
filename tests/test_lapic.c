/* SPDX-License-Identifier: MIT */
/*
 * The user-space local APIC (vdev/lapic.h): power-on state, priority and
 * EOI, illegal vectors and ESR, x2APIC/xAPIC mode rules, odd MMIO
 * accesses, the timer in its three modes, IPIs and save/load.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mock_vmm.h"

struct fix {
	struct mock_vmm mv;
	vdev_lapic *apic;
	unsigned int kicks, bcasts, ipis;
	uint8_t last_bcast;
	uint64_t last_icr;
};

static void on_kick(void *o, vdev_lapic *a)
{
	(void)a;
	((struct fix *)o)->kicks++;
}

static void on_bcast(void *o, vdev_lapic *a, uint8_t v)
{
	(void)a;
	((struct fix *)o)->bcasts++;
	((struct fix *)o)->last_bcast = v;
}

static void on_ipi(void *o, vdev_lapic *a, uint64_t icr)
{
	(void)a;
	((struct fix *)o)->ipis++;
	((struct fix *)o)->last_icr = icr;
}

static vdev_lapic *make(struct fix *f, uint32_t id, int x2)
{
	struct vdev_lapic_ops ops = { .struct_size = sizeof(ops), .opaque = f, .kick = on_kick,
				      .eoi_broadcast = on_bcast, .send_ipi = on_ipi };
	struct vdev_lapic_opts o = { .struct_size = sizeof(o), .apic_id = id, .bsp = 1,
				     .x2apic = (uint32_t)x2, .tsc_hz = 1000000000ull,
				     .ops = &ops };
	vdev_lapic *a = NULL;

	assert_int_equal(vdev_lapic_new(f->mv.ctx, &o, &a), 0);
	return a;
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(mock_vmm_init(&f->mv, 64 * 1024, 1), 0);
	f->apic = make(f, 0x123, 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	vdev_lapic_free(f->apic);
	mock_vmm_fini(&f->mv);
	free(f);
	return 0;
}

static uint32_t rd(struct fix *f, uint32_t off)
{
	uint8_t b[4];

	assert_int_equal(vdev_lapic_mmio_read(f->apic, off, b, 4), 0);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void wr(struct fix *f, uint32_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	assert_int_equal(vdev_lapic_mmio_write(f->apic, off, b, 4), 0);
}

static void enable(struct fix *f)
{
	wr(f, 0xf0, 0x1ff);
}

static void test_poweron(void **state)
{
	struct fix *f = *state;
	struct vdev_lapic_opts o = { .struct_size = sizeof(o), .apic_id = 0x100 };
	vdev_lapic *a;
	uint64_t v;

	assert_int_equal(vdev_lapic_mmio_base(f->apic), 0xfee00000ull);
	assert_int_equal(rd(f, 0x20), 0x23000000u); /* xAPIC shows ID[7:0] */
	assert_int_equal(rd(f, 0x30), 0x00050014u);
	assert_int_equal(rd(f, 0xf0), 0xff);
	assert_int_equal(rd(f, 0xe0), 0xffffffffu);
	for (uint32_t off = 0x320; off <= 0x370; off += 0x10)
		assert_int_equal(rd(f, off), 1u << 16);
	assert_int_equal(vdev_lapic_msr_read(f->apic, 0x1b, &v), 0);
	assert_int_equal(v, 0xfee00000ull | (1 << 11) | (1 << 8));
	assert_int_equal(vdev_lapic_msr_read(f->apic, 0x10, &v), -ENOENT);
	/* Software-disabled: interrupts dropped; unmasking an LVT is refused. */
	assert_int_equal(vdev_lapic_set_irq(f->apic, 0x40, 0), 0);
	wr(f, 0x320, 0x40);
	assert_int_equal(rd(f, 0x320), 0x10040u);
	/* An xAPIC-only APIC has an 8-bit ID; bad struct_size. */
	assert_int_equal(vdev_lapic_new(f->mv.ctx, &o, &a), -EINVAL);
	o.apic_id = 1;
	o.struct_size = 2;
	assert_int_equal(vdev_lapic_new(f->mv.ctx, &o, &a), -EINVAL);
}

static void test_priority_and_eoi(void **state)
{
	struct fix *f = *state;

	enable(f);
	assert_int_equal(vdev_lapic_get_interrupt(f->apic), -ENOENT);
	assert_int_equal(vdev_lapic_set_irq(f->apic, 0x30, 0), 1);
	assert_int_equal(vdev_lapic_set_irq(f->apic, 0x30, 0), 0); /* coalesced */
	assert_int_equal(vdev_lapic_set_irq(f->apic, 0x55, 0), 1);
	assert_int_equal(vdev_lapic_set_irq(f->apic, 256, 0), -EINVAL);
	assert_int_equal(vdev_lapic_get_interrupt(f->apic), 0x55);
	assert_int_equal(vdev_lapic_ack(f->apic, 0x31), -EINVAL);
	assert_int_equal(vdev_lapic_ack(f->apic, 0x55), 0);
	assert_int_equal(rd(f, 0xa0), 0x50); /* PPR = ISRV class */
	assert_int_equal(rd(f, 0x100 + 0x10 * (0x55 / 32)), 1u << (0x55 % 32));
	/* 0x30 waits behind the in-service 0x55; 0x61 (class 6) nests. */
	assert_int_equal(vdev_lapic_get_interrupt(f->apic), -ENOENT);
	assert_int_equal(vdev_lapic_set_irq(f->apic, 0x61, 0), 1);
	assert_int_equal(vdev_lapic_get_interrupt(f->apic), 0x61);
	/* Same class as the in-service vector does not nest. */
	wr(f, 0x80, 0x70);
	assert_int_equal(rd(f, 0xa0), 0x70);
	assert_int_equal(vdev_lapic_get_interrupt(f->apic), -ENOENT);
	wr(f, 0x80, 0);
	assert_int_equal(vdev_lapic_ack(f->apic, 0x61), 0);
	/* EOI ends the highest in-service vector first. */
	wr(f, 0xb0, 0);
	assert_int_equal(rd(f, 0x100 + 0x10 * (0x61 / 32)), 0);
	assert_int_equal(rd(f, 0x100 + 0x10 * (0x55 / 32)), 1u << (0x55 % 32));
	wr(f, 0xb0, 0);
	assert_int_equal(vdev_lapic_get_interrupt(f->apic), 0x30);
	assert_int_equal(f->bcasts, 0); /* edge: no broadcast */
	wr(f, 0xb0, 0); /* EOI with nothing in service: harmless */
	/* Level: TMR set, EOI broadcast with the vector. */
	assert_int_equal(vdev_lapic_ack(f->apic, 0x30), 0);
	wr(f, 0xb0, 0);
	assert_int_equal(vdev_lapic_set_irq(f->apic, 0x90, 1), 1);
	assert_int_equal(rd(f, 0x180 + 0x10 * (0x90 / 32)), 1u << (0x90 % 32));
	assert_int_equal(vdev_lapic_ack(f->apic, 0x90), 0);
	wr(f, 0xb0, 0);
	assert_int_equal(f->bcasts, 1);
	assert_int_equal(f->last_bcast, 0x90);
}

static void test_illegal_vectors_and_esr(void **state)
{
	struct fix *f = *state;

	enable(f);
	for (uint32_t v = 0; v < 16; v++)
		assert_int_equal(vdev_lapic_set_irq(f->apic, v, 0), 0);
	assert_int_equal(rd(f, 0x200), 0);
	assert_int_equal(rd(f, 0x280), 0);   /* not latched yet */
	wr(f, 0x280, 0);
	assert_int_equal(rd(f, 0x280), 1u << 6); /* received illegal vector */
	wr(f, 0x280, 0);
	assert_int_equal(rd(f, 0x280), 0);
	/* The error LVT delivers a new error; ICR with vector 3: send illegal. */
	wr(f, 0x370, 0xfe);
	wr(f, 0x300, 0x03);
	assert_int_equal(f->ipis, 0);
	assert_int_equal(vdev_lapic_get_interrupt(f->apic), 0xfe);
	wr(f, 0x280, 0);
	assert_int_equal(rd(f, 0x280), 1u << 5);
	/* An error LVT with an illegal vector does not loop. */
	wr(f, 0x370, 0x02);
	assert_int_equal(vdev_lapic_set_irq(f->apic, 1, 0), 0);
	wr(f, 0x280, 0);
	assert_int_equal(rd(f, 0x280), 1u << 6);
}

static void test_ipis(void **state)
{
	struct fix *f = *state;

	enable(f);
	/* Fixed self-IPI by shorthand stays inside. */
	wr(f, 0x300, (1u << 18) | 0x77);
	assert_int_equal(vdev_lapic_get_interrupt(f->apic), 0x77);
	assert_int_equal(f->ipis, 0);
	/* To another APIC: the hook gets the destination in bits 63..32. */
	wr(f, 0x310, 0x05000000u | 0x00abcdefu); /* reserved low bits dropped */
	assert_int_equal(rd(f, 0x310), 0x05000000u);
	wr(f, 0x300, 0xfff00000u | (1u << 14) | 0x42);
	assert_int_equal(f->ipis, 1);
	assert_int_equal(f->last_icr, (5ull << 32) | (1u << 14) | 0x42);
	assert_int_equal(rd(f, 0x300), (1u << 14) | 0x42);
}

static void test_x2apic_rules(void **state)
{
	struct fix *f = *state;
	uint64_t v, base = 0xfee00000ull | (1 << 8) | (1 << 11);

	/* x2APIC MSRs in xAPIC mode: #GP. */
	assert_int_equal(vdev_lapic_msr_read(f->apic, 0x802, &v), -EINVAL);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x808, 0), -EINVAL);
	/* Reserved bits / invalid transitions of IA32_APIC_BASE. */
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x1b, base | 1), -EINVAL);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x1b, base | (1ull << 45)), -EINVAL);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x1b, (base & ~(1ull << 11)) | (1 << 10)),
			 -EINVAL);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x1b, base | (1 << 10)), 0);
	assert_int_equal(vdev_lapic_mmio_base(f->apic), UINT64_MAX);
	/* Back to xAPIC directly: #GP. */
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x1b, base), -EINVAL);
	assert_int_equal(vdev_lapic_msr_read(f->apic, 0x802, &v), 0);
	assert_int_equal(v, 0x123);
	assert_int_equal(vdev_lapic_msr_read(f->apic, 0x80d, &v), 0);
	assert_int_equal(v, (0x12u << 16) | (1u << 3));
	/* Read-only, write-only, absent and reserved-bit accesses: #GP. */
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x802, 1), -EINVAL);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x803, 0), -EINVAL);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x80d, 0), -EINVAL);
	assert_int_equal(vdev_lapic_msr_read(f->apic, 0x80b, &v), -EINVAL);
	assert_int_equal(vdev_lapic_msr_read(f->apic, 0x83f, &v), -EINVAL);
	assert_int_equal(vdev_lapic_msr_read(f->apic, 0x80e, &v), -EINVAL);
	assert_int_equal(vdev_lapic_msr_read(f->apic, 0x831, &v), -EINVAL);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x831, 0), -EINVAL);
	assert_int_equal(vdev_lapic_msr_read(f->apic, 0x809, &v), -EINVAL);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x808, 0x100), -EINVAL);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x80f, 0x11ff), -EINVAL);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x80f, 0x1ff), 0);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x80b, 1), -EINVAL);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x828, 1), -EINVAL);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x830, 1ull << 13), -EINVAL);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x832, 1ull << 32), -EINVAL);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x832, 3u << 17), -EINVAL);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x839, 0), -EINVAL);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x83f, 0x140), -EINVAL);
	/* SELF IPI and the 64-bit ICR. */
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x83f, 0x40), 0);
	assert_int_equal(vdev_lapic_get_interrupt(f->apic), 0x40);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x830, (0x777ull << 32) | 0x45), 0);
	assert_int_equal(f->last_icr, (0x777ull << 32) | 0x45);
	assert_int_equal(vdev_lapic_msr_read(f->apic, 0x830, &v), 0);
	assert_int_equal(v, (0x777ull << 32) | 0x45);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x80b, 0), 0);
	/* The xAPIC page is gone in x2APIC mode: reads zero, writes ignored. */
	assert_int_equal(rd(f, 0x30), 0);
	wr(f, 0x80, 0x50);
	assert_int_equal(vdev_lapic_msr_read(f->apic, 0x808, &v), 0);
	assert_int_equal(v, 0);
	/* Disable (full reset), then xAPIC again. */
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x1b, 0xfee00000ull), 0);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x1b, base | (1 << 10)), -EINVAL);
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x1b, base), 0);
	assert_int_equal(rd(f, 0xf0), 0xff);
	assert_int_equal(vdev_lapic_get_interrupt(f->apic), -ENOENT);
}

static void test_odd_mmio(void **state)
{
	struct fix *f = *state;
	uint8_t b[8];
	uint16_t h = 0xffff;

	enable(f);
	memset(b, 0xcc, sizeof(b));
	assert_int_equal(vdev_lapic_mmio_read(f->apic, 0x23, b, 1), 0);
	assert_int_equal(b[0], 0x23);
	assert_int_equal(vdev_lapic_mmio_read(f->apic, 0x32, b, 2), 0);
	assert_int_equal(b[0] | b[1] << 8, 0x0005);
	memset(b, 0xcc, sizeof(b));
	assert_int_equal(vdev_lapic_mmio_read(f->apic, 0x32, b, 4), 0); /* crosses the word */
	assert_int_equal(b[0] | b[1] | b[2] | b[3], 0);
	assert_int_equal(vdev_lapic_mmio_read(f->apic, 0x30, b, 8), 0);
	assert_int_equal(b[0], 0);
	assert_int_equal(vdev_lapic_mmio_read(f->apic, 0x40, b, 4), 0); /* reserved */
	assert_int_equal(b[0], 0);
	assert_int_equal(vdev_lapic_mmio_read(f->apic, 0xffe, b, 4), -EINVAL);
	assert_int_equal(vdev_lapic_mmio_read(f->apic, 0x1000, b, 1), -EINVAL);
	assert_int_equal(vdev_lapic_mmio_read(f->apic, 0x20, b, 3), -EINVAL);
	assert_int_equal(vdev_lapic_mmio_read(f->apic, 0x20, b, 0), -EINVAL);
	/* Narrow or misaligned writes do nothing. */
	assert_int_equal(vdev_lapic_mmio_write(f->apic, 0x80, &h, 2), 0);
	assert_int_equal(vdev_lapic_mmio_write(f->apic, 0x84, b, 4), 0);
	assert_int_equal(rd(f, 0x80), 0);
	/* Writes to read-only registers are ignored in xAPIC mode. */
	wr(f, 0x30, 0);
	wr(f, 0xa0, 0xff);
	wr(f, 0x100, 0xffffffffu);
	assert_int_equal(rd(f, 0x30), 0x00050014u);
	assert_int_equal(rd(f, 0x100), 0);
	assert_int_equal(vdev_lapic_mmio_write(f->apic, 0xffc, b, 8), -EINVAL);
	/* xAPIC-only registers work here; x2APIC SELF IPI does not. */
	wr(f, 0xe0, 0x0);
	assert_int_equal(rd(f, 0xe0), 0x0fffffffu);
	wr(f, 0xd0, 0x12345678u);
	assert_int_equal(rd(f, 0xd0), 0x12000000u);
	wr(f, 0x3f0, 0x40);
	assert_int_equal(vdev_lapic_get_interrupt(f->apic), -ENOENT);
}

static void test_timer_oneshot_periodic(void **state)
{
	struct fix *f = *state;
	uint64_t next;

	enable(f);
	wr(f, 0x3e0, 0xb);          /* divide by 1: 1 tick per ns at 1 GHz */
	wr(f, 0x320, 0x40);         /* one-shot, vector 0x40 */
	wr(f, 0x380, 1000);
	assert_int_equal(rd(f, 0x390), 1000);
	mock_vmm_set_time(&f->mv, 1000 + 400);
	assert_int_equal(rd(f, 0x390), 600);
	assert_int_equal(vdev_lapic_get_interrupt(f->apic), -ENOENT);
	mock_vmm_set_time(&f->mv, 2000);
	assert_int_equal(vdev_lapic_get_interrupt(f->apic), 0x40);
	assert_int_equal(f->kicks, 1);
	assert_int_equal(rd(f, 0x390), 0);
	assert_int_equal(vdev_timers_next_deadline(f->mv.ctx, &next), -ENOENT);
	assert_int_equal(vdev_lapic_ack(f->apic, 0x40), 0);
	wr(f, 0xb0, 0);

	/* Periodic, divide by 2: 500 ticks = 1000 ns. */
	wr(f, 0x3e0, 0x0);
	wr(f, 0x320, (1u << 17) | 0x41);
	wr(f, 0x380, 500);
	for (int i = 1; i <= 3; i++) {
		mock_vmm_set_time(&f->mv, 2000 + 1000ull * (uint64_t)i);
		assert_int_equal(f->kicks, 1 + (unsigned int)i);
		assert_int_equal(vdev_lapic_get_interrupt(f->apic), 0x41);
	}
	mock_vmm_set_time(&f->mv, 5250);
	assert_int_equal(rd(f, 0x390), 500 - 125);
	/* Masked: the count runs but nothing is armed (no idle wake-ups). */
	wr(f, 0x320, (1u << 17) | (1u << 16) | 0x41);
	assert_int_equal(vdev_timers_next_deadline(f->mv.ctx, &next), -ENOENT);
	assert_int_not_equal(rd(f, 0x390), 0);
	/* Writing 0 stops it. */
	wr(f, 0x320, (1u << 17) | 0x41);
	wr(f, 0x380, 0);
	assert_int_equal(vdev_timers_next_deadline(f->mv.ctx, &next), -ENOENT);
}

static void test_timer_tsc_deadline(void **state)
{
	struct fix *f = *state;
	uint64_t v;

	enable(f);
	/* Not in deadline mode: the MSR reads 0 and writes are ignored. */
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x6e0, 5000), 0);
	assert_int_equal(vdev_lapic_msr_read(f->apic, 0x6e0, &v), 0);
	assert_int_equal(v, 0);
	wr(f, 0x320, (2u << 17) | 0x50);
	wr(f, 0x380, 77); /* ignored in deadline mode */
	assert_int_equal(rd(f, 0x380), 0);
	/* tsc_hz 1 GHz and no read_tsc hook: TSC == context ns. */
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x6e0, 3000), 0);
	assert_int_equal(vdev_lapic_msr_read(f->apic, 0x6e0, &v), 0);
	assert_int_equal(v, 3000);
	mock_vmm_set_time(&f->mv, 2999);
	assert_int_equal(vdev_lapic_get_interrupt(f->apic), -ENOENT);
	mock_vmm_set_time(&f->mv, 3000);
	assert_int_equal(vdev_lapic_get_interrupt(f->apic), 0x50);
	assert_int_equal(vdev_lapic_msr_read(f->apic, 0x6e0, &v), 0);
	assert_int_equal(v, 0);
	/* A deadline in the past fires at once; switching mode disarms. */
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x6e0, 1), 0);
	wr(f, 0x320, 0x50);
	mock_vmm_set_time(&f->mv, 4000);
	assert_int_equal(f->kicks, 1);
}

/* Patch the payload of the first scalar record with @tag in a blob. */
static void patch(uint8_t *blob, size_t len, const char *tag, uint64_t value)
{
	for (size_t i = 16; i + 12 <= len; i++) {
		if (memcmp(blob + i, tag, 4) || blob[i + 4] < 1 || blob[i + 4] > 4)
			continue;
		uint32_t n = blob[i + 8] | (uint32_t)blob[i + 9] << 8;

		for (uint32_t k = 0; k < n; k++)
			blob[i + 12 + k] = (uint8_t)(value >> (8 * k));
		return;
	}
	fail_msg("tag %s not found", tag);
}

static int load_into(struct fix *f, vdev_lapic *a, const uint8_t *blob, size_t len)
{
	vdev_state_reader *r;
	int rc;

	(void)f;
	assert_int_equal(vdev_state_reader_new(blob, len, &r), 0);
	rc = vdev_lapic_load(a, r);
	if (rc)
		print_message("load: %s\n", vdev_state_reader_error(r));
	vdev_state_reader_free(r);
	return rc;
}

static void test_save_load(void **state)
{
	struct fix *f = *state;
	vdev_state_writer *w;
	vdev_lapic *b = make(f, 0x123, 1);
	const void *data;
	uint8_t *copy;
	size_t len;
	uint32_t x, y;

	enable(f);
	wr(f, 0x80, 0x20);
	wr(f, 0x370, 0xee);
	assert_int_equal(vdev_lapic_set_irq(f->apic, 0x91, 1), 1);
	assert_int_equal(vdev_lapic_ack(f->apic, 0x91), 0);
	assert_int_equal(vdev_lapic_set_irq(f->apic, 0x35, 0), 1);
	assert_int_equal(vdev_lapic_msr_write(f->apic, VDEV_PVEOI_MSR, 0x2000 | 1), 0);
	wr(f, 0x3e0, 0xb);
	wr(f, 0x320, 0x44);
	wr(f, 0x380, 10000);
	mock_vmm_set_time(&f->mv, 1000 + 4000);
	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_lapic_save(f->apic, w), 0);
	assert_int_equal(vdev_state_writer_finish(w, &data, &len), 0);
	copy = malloc(len);
	assert_non_null(copy);

	/* Hostile values, one at a time: refused, target untouched. */
	{
		static const struct { const char *tag; uint64_t v; } bad[] = {
			{ "SVR ", 0x12ff }, { "TPR ", 0x100 }, { "LVT0", 3u << 17 },
			{ "LVT5", 0x1ee }, { "BASE", 0xfee00000ull | (1 << 8) | (1 << 10) },
			{ "BASE", 0xfee00001ull | (1 << 8) | (1 << 11) }, { "ID  ", 0x1ff },
			{ "TDCR", 0x4 }, { "DFR ", 0 }, { "ICRL", 1u << 12 },
			{ "TRUN", 2 }, { "ESR ", 0x100 },
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			memcpy(copy, data, len);
			patch(copy, len, bad[i].tag, bad[i].v);
			assert_int_equal(load_into(f, b, copy, len), -ERANGE);
			assert_int_equal(vdev_lapic_peek(b, 0xf0, &x), 0);
			assert_int_equal(x, 0xff);
		}
		memcpy(copy, data, len);
		/* An illegal vector in the IRR bitmap. */
		for (size_t i = 16; i + 12 <= len; i++)
			if (!memcmp(copy + i, "IRR ", 4)) {
				copy[i + 12] = 0x80;
				break;
			}
		assert_int_equal(load_into(f, b, copy, len), -ERANGE);
	}
	{
		vdev_state_reader *r = NULL;

		/* A truncated stream never reaches the loader. */
		assert_int_equal(vdev_state_reader_new(data, len / 2, &r), -EBADMSG);
		assert_null(r);
	}
	memcpy(copy, data, len);
	assert_int_equal(load_into(f, b, copy, len), 0);
	vdev_state_writer_free(w);
	free(copy);

	for (uint32_t off = 0x20; off < 0x400; off += 0x10) {
		int r1 = vdev_lapic_peek(f->apic, off, &x), r2 = vdev_lapic_peek(b, off, &y);

		assert_int_equal(r1, r2);
		if (!r1)
			assert_int_equal(x, y);
	}
	assert_int_equal(vdev_pveoi_msr_read(vdev_lapic_pveoi(b)), 0x2000 | 1);
	assert_int_equal(vdev_lapic_get_interrupt(b), -ENOENT); /* 0x35 below PPR 0x90 */
	vdev_lapic_free(f->apic);
	f->apic = b;
	/* The timer goes on from 4000 of 10000 ns; both copies armed it. */
	mock_vmm_set_time(&f->mv, 1000 + 10000);
	assert_int_equal(rd(f, 0x200 + 0x10 * (0x44 / 32)) >> (0x44 % 32) & 1, 1);
	wr(f, 0xb0, 0);
	assert_int_equal(f->bcasts, 1);
	assert_int_equal(f->last_bcast, 0x91);
}

static void test_reset_and_pveoi(void **state)
{
	struct fix *f = *state;
	uint64_t v;

	enable(f);
	assert_int_equal(vdev_lapic_msr_write(f->apic, VDEV_PVEOI_MSR, 0x2002), -EINVAL);
	assert_int_equal(vdev_lapic_msr_write(f->apic, VDEV_PVEOI_MSR, 0x2001), 0);
	assert_int_equal(vdev_lapic_set_irq(f->apic, 0x40, 0), 1);
	assert_int_equal(vdev_lapic_ack(f->apic, 0x40), 0);
	assert_int_equal(vdev_lapic_before_entry(f->apic), 1);
	/* INIT while armed and in x2APIC mode. */
	assert_int_equal(vdev_lapic_msr_write(f->apic, 0x1b,
					      0xfee00000ull | (1 << 8) | (1 << 11) | (1 << 10)), 0);
	vdev_lapic_reset(f->apic, 1);
	assert_int_equal(vdev_lapic_msr_read(f->apic, 0x1b, &v), 0);
	assert_true(v & (1 << 10)); /* INIT keeps IA32_APIC_BASE */
	assert_int_equal(vdev_lapic_msr_read(f->apic, VDEV_PVEOI_MSR, &v), 0);
	assert_int_equal(v, 0);
	assert_false(vdev_pveoi_armed(vdev_lapic_pveoi(f->apic)));
	assert_int_equal(vdev_lapic_msr_read(f->apic, 0x80f, &v), 0);
	assert_int_equal(v, 0xff);
	vdev_lapic_reset(f->apic, 0);
	assert_int_equal(vdev_lapic_msr_read(f->apic, 0x1b, &v), 0);
	assert_int_equal(v, 0xfee00000ull | (1 << 8) | (1 << 11));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_poweron, setup, teardown),
		cmocka_unit_test_setup_teardown(test_priority_and_eoi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_illegal_vectors_and_esr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipis, setup, teardown),
		cmocka_unit_test_setup_teardown(test_x2apic_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_mmio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_oneshot_periodic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_tsc_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_and_pveoi, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
