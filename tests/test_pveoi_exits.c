/* SPDX-License-Identifier: MIT */
/*
 * The PV-EOI claim, counted: N edge-triggered interrupts cost 2 exits
 * each without PV-EOI (the injection and the trapped EOI write) and 1 with
 * it; level-triggered ones stay at 2. The VMM side is libvdev's local APIC
 * driven like a run loop; the guest side does exactly what Linux's
 * kvm_guest_apic_eoi_write() does: __test_and_clear_bit(KVM_PV_EOI_BIT) on
 * its word, and only if the bit was clear, write the APIC EOI register.
 * Exits are counted the way a VMM counts them: one per injection window,
 * one per trapped EOI write.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mock_vmm.h"

#define RAM (64 * 1024)
#define WORD 0x3000ull  /* the guest's per-CPU kvm_apic_eoi */
#define N 1000

struct run {
	struct mock_vmm mv;
	vdev_lapic *apic;
	unsigned int exits_inject, exits_eoi, broadcasts, handled;
};

static void on_broadcast(void *opaque, vdev_lapic *apic, uint8_t vector)
{
	struct run *r = opaque;

	(void)apic;
	(void)vector;
	r->broadcasts++;
}

/* One guest exit: what a VMM does first and last around handling it. */
static void vmm_exit_begin(struct run *r)
{
	vdev_lapic_after_exit(r->apic);
}

static void vmm_enter(struct run *r)
{
	vdev_lapic_before_entry(r->apic);
}

/* Linux: if (__test_and_clear_bit(KVM_PV_EOI_BIT, &kvm_apic_eoi)) return; apic EOI. */
static void guest_eoi(struct run *r, int pv)
{
	uint8_t eoi[4] = { 0 };

	if (pv) {
		uint8_t *word = r->mv.ram + WORD;
		int was_set = word[0] & 1;

		word[0] &= (uint8_t)~1u;
		if (was_set)
			return;
	}
	/* The EOI register write traps: one exit. */
	r->exits_eoi++;
	vmm_exit_begin(r);
	assert_int_equal(vdev_lapic_mmio_write(r->apic, 0xb0, eoi, 4), 0);
	vmm_enter(r);
}

static void setup_run(struct run *r, int pv)
{
	struct vdev_lapic_ops ops = { .struct_size = sizeof(ops), .opaque = r,
				      .eoi_broadcast = on_broadcast };
	struct vdev_lapic_opts o = { .struct_size = sizeof(o), .ops = &ops };
	uint8_t svr[4] = { 0xff, 0x01, 0, 0 };

	memset(r, 0, sizeof(*r));
	assert_int_equal(mock_vmm_init(&r->mv, RAM, 1), 0);
	assert_int_equal(vdev_lapic_new(r->mv.ctx, &o, &r->apic), 0);
	assert_int_equal(vdev_lapic_mmio_write(r->apic, 0xf0, svr, 4), 0);
	if (pv) {
		/* kvm_guest_cpu_init(): word = 0; wrmsr(MSR_KVM_PV_EOI_EN, pa | 1). */
		memset(r->mv.ram + WORD, 0, 8);
		assert_int_equal(vdev_lapic_msr_write(r->apic, VDEV_PVEOI_MSR, WORD | 1), 0);
	}
}

/* N interrupts of @vector, each raised while the guest runs and handled to its EOI. */
static void run_n(struct run *r, int pv, int level, uint32_t vector)
{
	for (int i = 0; i < N; i++) {
		int v;

		/* A device raises the line while the guest runs: the VMM kicks
		 * the vCPU out and injects in the window — one exit. */
		assert_int_equal(vdev_lapic_set_irq(r->apic, vector, level), 1);
		r->exits_inject++;
		vmm_exit_begin(r);
		v = vdev_lapic_get_interrupt(r->apic);
		assert_int_equal(v, (int)vector); /* the last EOI really happened */
		assert_int_equal(vdev_lapic_ack(r->apic, (uint32_t)v), 0);
		vmm_enter(r);
		/* The guest's handler runs and ends the interrupt. */
		r->handled++;
		guest_eoi(r, pv);
	}
	/* One more exit (anything) settles the last flag. */
	vmm_exit_begin(r);
	assert_int_equal(vdev_lapic_get_interrupt(r->apic), -ENOENT);
	for (uint32_t off = 0x100; off < 0x180; off += 0x10) {
		uint32_t isr;

		assert_int_equal(vdev_lapic_peek(r->apic, off, &isr), 0);
		assert_int_equal(isr, 0);
	}
}

static void finish(struct run *r)
{
	vdev_lapic_free(r->apic);
	mock_vmm_fini(&r->mv);
}

static void test_edge_without_pveoi(void **state)
{
	struct run r;

	(void)state;
	setup_run(&r, 0);
	run_n(&r, 0, 0, 0x41);
	assert_int_equal(r.handled, N);
	assert_int_equal(r.exits_inject + r.exits_eoi, 2 * N);
	print_message("edge, no PV-EOI: %u exits for %d interrupts\n",
		      r.exits_inject + r.exits_eoi, N);
	finish(&r);
}

static void test_edge_with_pveoi(void **state)
{
	struct run r;

	(void)state;
	setup_run(&r, 1);
	run_n(&r, 1, 0, 0x41);
	assert_int_equal(r.handled, N);
	assert_int_equal(r.exits_eoi, 0);
	assert_int_equal(r.exits_inject + r.exits_eoi, N);
	print_message("edge, PV-EOI: %u exits for %d interrupts\n",
		      r.exits_inject + r.exits_eoi, N);
	finish(&r);
}

static void test_level_with_pveoi(void **state)
{
	struct run r;

	(void)state;
	setup_run(&r, 1);
	run_n(&r, 1, 1, 0x52);
	assert_int_equal(r.exits_inject + r.exits_eoi, 2 * N);
	/* Every level EOI reached the IOAPIC hook, exactly once. */
	assert_int_equal(r.broadcasts, N);
	finish(&r);
}

/* Two interrupts in flight (nested): not armed, the EOIs go to the register. */
static void test_nested_falls_back(void **state)
{
	struct run r;

	(void)state;
	setup_run(&r, 1);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(vdev_lapic_set_irq(r.apic, 0x30, 0), 1);
		assert_int_equal(vdev_lapic_ack(r.apic, 0x30), 0);
		assert_int_equal(vdev_lapic_set_irq(r.apic, 0x60, 0), 1);
		assert_int_equal(vdev_lapic_get_interrupt(r.apic), 0x60);
		assert_int_equal(vdev_lapic_ack(r.apic, 0x60), 0);
		vmm_enter(&r);
		assert_int_equal(r.mv.ram[WORD], 0); /* two in service: not armed */
		guest_eoi(&r, 1);                     /* ends 0x60; now only 0x30: armed */
		assert_int_equal(r.mv.ram[WORD], 1);
		guest_eoi(&r, 1);                     /* ends 0x30 through the flag */
		vmm_exit_begin(&r);
		assert_int_equal(vdev_lapic_get_interrupt(r.apic), -ENOENT);
	}
	assert_int_equal(r.exits_eoi, 10);
	finish(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edge_without_pveoi),
		cmocka_unit_test(test_edge_with_pveoi),
		cmocka_unit_test(test_level_with_pveoi),
		cmocka_unit_test(test_nested_falls_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
