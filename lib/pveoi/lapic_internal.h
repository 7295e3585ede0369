/* SPDX-License-Identifier: MIT */
/*
 * Private layout of the user-space local APIC (vdev/lapic.h), shared by
 * lapic.c (acceptance, priority, EOI, PV-EOI glue), lapic_regs.c (the
 * xAPIC/x2APIC register interface), lapic_timer.c and lapic_state.c.
 * Register numbers and bits are from the Intel SDM vol. 3A, chapter 11
 * ("Advanced Programmable Interrupt Controller").
 */
#ifndef VDEV_PVEOI_LAPIC_INTERNAL_H
#define VDEV_PVEOI_LAPIC_INTERNAL_H

#include "core/core.h"

/* xAPIC register offsets (SDM table 11-1); x2APIC MSR = 0x800 + off / 16. */
enum {
	LAPIC_ID = 0x20,
	LAPIC_VER = 0x30,
	LAPIC_TPR = 0x80,
	LAPIC_APR = 0x90,
	LAPIC_PPR = 0xa0,
	LAPIC_EOI = 0xb0,
	LAPIC_LDR = 0xd0,
	LAPIC_DFR = 0xe0,
	LAPIC_SVR = 0xf0,
	LAPIC_ISR = 0x100,
	LAPIC_TMR = 0x180,
	LAPIC_IRR = 0x200,
	LAPIC_ESR = 0x280,
	LAPIC_ICR = 0x300,
	LAPIC_ICR2 = 0x310,
	LAPIC_LVT0 = 0x320, /* timer; then thermal, perf, LINT0, LINT1, error */
	LAPIC_TMICT = 0x380,
	LAPIC_TMCCT = 0x390,
	LAPIC_TDCR = 0x3e0,
	LAPIC_SELF_IPI = 0x3f0, /* x2APIC only */
};

#define LAPIC_NLVT 6
enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR };

/* Version: 0x14 (integrated APIC), max LVT index 5 (bits 23:16). */
#define LAPIC_VERSION 0x00050014u

#define LVT_MASKED (1u << 16)
#define LVT_TIMER_MODE_SHIFT 17
#define LVT_TIMER_ONESHOT 0u
#define LVT_TIMER_PERIODIC 1u
#define LVT_TIMER_TSCDEADLINE 2u

#define SVR_ENABLE (1u << 8)

/* ESR bits (SDM 11.5.3). */
#define ESR_SEND_ILLEGAL_VECTOR (1u << 5)
#define ESR_RECV_ILLEGAL_VECTOR (1u << 6)
#define ESR_ILLEGAL_REGISTER (1u << 7)

/* ICR fields. */
#define ICR_VECTOR 0xffu
#define ICR_DM_SHIFT 8
#define ICR_DM_FIXED 0u
#define ICR_SHORTHAND_SHIFT 18
#define ICR_SH_SELF 1u
#define ICR_XAPIC_MASK 0x000ccfffu /* writable ICR low bits in xAPIC mode */
#define ICR_X2APIC_RSVD 0x00000000fff33000ull /* bits 12,13,16,17,20..31 */

/* Everything that is guest-visible and saved. Bitmaps are bytes so the
 * blob does not depend on host byte order. */
struct lapic_regs {
	uint64_t apic_base;
	uint64_t tsc_deadline;
	uint64_t timer_elapsed;  /* saved only: ns since the timer started */
	uint32_t id;             /* 32-bit x2APIC form; xAPIC shows bits 7:0 */
	uint32_t tpr, ldr, dfr, svr;
	uint32_t esr;            /* latched by the last ESR write */
	uint32_t esr_pending;    /* errors since then */
	uint32_t icr_lo, icr_hi;
	uint32_t lvt[LAPIC_NLVT];
	uint32_t tmict, tdcr;
	uint8_t timer_running;   /* one-shot/periodic count in progress */
	uint8_t isr[32], tmr[32], irr[32];
};

struct vdev_lapic {
	vdev_ctx *ctx;
	struct vdev_lapic_ops ops;
	vdev_pveoi *pveoi;
	vdev_timer *timer;
	uint64_t timer_hz, tsc_hz;
	uint32_t init_id;
	uint32_t phys_bits;
	bool bsp, x2apic_ok;
	bool warned_ipi;
	uint64_t timer_start;    /* context ns when the current count started */
	struct lapic_regs r;
};

static inline bool lapic_x2apic(const vdev_lapic *a)
{
	return (a->r.apic_base & VDEV_LAPIC_BASE_EXTD) != 0;
}

static inline bool lapic_hw_enabled(const vdev_lapic *a)
{
	return (a->r.apic_base & VDEV_LAPIC_BASE_EN) != 0;
}

static inline bool lapic_sw_enabled(const vdev_lapic *a)
{
	return lapic_hw_enabled(a) && (a->r.svr & SVR_ENABLE);
}

static inline bool vec_test(const uint8_t *bm, unsigned int v)
{
	return (bm[v >> 3] >> (v & 7)) & 1;
}

static inline void vec_set(uint8_t *bm, unsigned int v)
{
	bm[v >> 3] |= (uint8_t)(1u << (v & 7));
}

static inline void vec_clear(uint8_t *bm, unsigned int v)
{
	bm[v >> 3] &= (uint8_t)~(1u << (v & 7));
}

/* Highest vector set in a 256-bit map, or -1. */
int vdev__lapic_highest(const uint8_t *bm);
uint32_t vdev__lapic_ppr(const vdev_lapic *a);
/* Accept a fixed interrupt; @from_lvt_error stops error-on-error loops. */
int vdev__lapic_accept(vdev_lapic *a, uint32_t vector, int level, bool from_lvt_error);
void vdev__lapic_error(vdev_lapic *a, uint32_t esr_bits);
void vdev__lapic_eoi(vdev_lapic *a);
void vdev__lapic_send_icr(vdev_lapic *a, uint64_t icr);
/* Power-on register values (keeps nothing). */
void vdev__lapic_regs_poweron(vdev_lapic *a);

/* Register interface (lapic_regs.c): -EINVAL means #GP in x2APIC mode. */
int vdev__lapic_reg_read(const vdev_lapic *a, uint32_t off, uint64_t *val);
int vdev__lapic_reg_write(vdev_lapic *a, uint32_t off, uint64_t val);

/* Timer (lapic_timer.c). */
uint32_t vdev__lapic_timer_mode(const vdev_lapic *a);
uint32_t vdev__lapic_timer_divisor(uint32_t tdcr);
void vdev__lapic_timer_start(vdev_lapic *a);    /* TMICT written */
void vdev__lapic_timer_update(vdev_lapic *a);   /* LVT/TDCR/deadline changed */
uint32_t vdev__lapic_timer_current(const vdev_lapic *a);
uint64_t vdev__lapic_tsc(vdev_lapic *a);
void vdev__lapic_timer_fire(vdev_timer *t, void *opaque);

#endif /* VDEV_PVEOI_LAPIC_INTERNAL_H */
