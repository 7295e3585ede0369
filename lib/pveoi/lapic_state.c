/* SPDX-License-Identifier: MIT */
/*
 * Save and load of the local APIC: a required section 'LAPC' (version 1)
 * of declarative fields, followed by the PV-EOI helper's own section
 * ('PEOI'). The timer is saved as the time since its count started, so
 * the destination's clock need not match ours. Loading validates every
 * value against what this APIC could have produced before changing
 * anything, then loads the PV-EOI section, then commits.
 */
#include <errno.h>

#include "pveoi/lapic_internal.h"

#define LAPC_TAG VDEV_STATE_TAG('L', 'A', 'P', 'C')
#define LAPC_VERSION 1

#define F_U32(n, t, m) { .name = n, .tag = t, .type = VDEV_STATE_U32, \
			 .offset = offsetof(struct lapic_regs, m) }
#define F_U64(n, t, m) { .name = n, .tag = t, .type = VDEV_STATE_U64, \
			 .offset = offsetof(struct lapic_regs, m) }
#define F_BM(n, t, m) { .name = n, .tag = t, .type = VDEV_STATE_BYTES, \
			.offset = offsetof(struct lapic_regs, m), .size = 32 }
#define T(s) VDEV_STATE_TAG(s[0], s[1], s[2], s[3])

static const struct vdev_state_field lapic_fields[] = {
	F_U64("apic_base", T("BASE"), apic_base),
	F_U64("tsc_deadline", T("TSCD"), tsc_deadline),
	F_U64("timer_elapsed", T("TELA"), timer_elapsed),
	F_U32("id", T("ID  "), id),
	F_U32("tpr", T("TPR "), tpr),
	F_U32("ldr", T("LDR "), ldr),
	F_U32("dfr", T("DFR "), dfr),
	F_U32("svr", T("SVR "), svr),
	F_U32("esr", T("ESR "), esr),
	F_U32("esr_pending", T("ESRP"), esr_pending),
	F_U32("icr_lo", T("ICRL"), icr_lo),
	F_U32("icr_hi", T("ICRH"), icr_hi),
	F_U32("lvt_timer", T("LVT0"), lvt[0]),
	F_U32("lvt_thermal", T("LVT1"), lvt[1]),
	F_U32("lvt_perf", T("LVT2"), lvt[2]),
	F_U32("lvt_lint0", T("LVT3"), lvt[3]),
	F_U32("lvt_lint1", T("LVT4"), lvt[4]),
	F_U32("lvt_error", T("LVT5"), lvt[5]),
	F_U32("tmict", T("TMIC"), tmict),
	F_U32("tdcr", T("TDCR"), tdcr),
	{ .name = "timer_running", .tag = T("TRUN"), .type = VDEV_STATE_U8,
	  .offset = offsetof(struct lapic_regs, timer_running), .min = 0, .max = 1 },
	F_BM("isr", T("ISR "), isr),
	F_BM("tmr", T("TMR "), tmr),
	F_BM("irr", T("IRR "), irr),
};

int vdev_lapic_save(const vdev_lapic *apic, vdev_state_writer *w)
{
	struct lapic_regs r;
	uint64_t now;
	int rc;

	if (!apic || !w)
		return -EINVAL;
	r = apic->r;
	now = vdev_now_ns(apic->ctx);
	r.timer_elapsed = r.timer_running && now > apic->timer_start ? now - apic->timer_start : 0;
	rc = vdev_state_begin(w, LAPC_TAG, LAPC_VERSION, VDEV_STATE_F_REQUIRED);
	if (!rc)
		rc = vdev_state_save_fields(w, lapic_fields, VDEV__ARRAY_SIZE(lapic_fields), &r);
	if (!rc)
		rc = vdev_state_end(w);
	if (!rc)
		rc = vdev_pveoi_save(apic->pveoi, w);
	return rc;
}

static const char *check_lvts(const vdev_lapic *a, const struct lapic_regs *r)
{
	static const uint32_t common = 0xffu | LVT_MASKED;
	uint32_t mode = (r->lvt[LVT_TIMER] >> LVT_TIMER_MODE_SHIFT) & 3;

	if (mode == 3 || (mode == LVT_TIMER_TSCDEADLINE && !a->tsc_hz))
		return "LVT timer mode";
	if (r->lvt[LVT_TIMER] & ~(common | (3u << 17)))
		return "LVT timer";
	if ((r->lvt[LVT_THERMAL] | r->lvt[LVT_PERF]) & ~(common | 0x700u))
		return "LVT thermal/perf";
	if ((r->lvt[LVT_LINT0] | r->lvt[LVT_LINT1]) & ~(common | 0x700u | 0xe000u))
		return "LVT LINT";
	if (r->lvt[LVT_ERROR] & ~common)
		return "LVT error";
	if (!(r->svr & SVR_ENABLE))
		for (int i = 0; i < LAPIC_NLVT; i++)
			if (!(r->lvt[i] & LVT_MASKED))
				return "unmasked LVT while software-disabled";
	return NULL;
}

static int check_regs(const vdev_lapic *a, vdev_state_reader *rd, const struct lapic_regs *r)
{
	uint64_t rsvd = 0x2ffull | ~((1ull << a->phys_bits) - 1);
	bool en = r->apic_base & VDEV_LAPIC_BASE_EN, x2 = r->apic_base & VDEV_LAPIC_BASE_EXTD;
	const char *bad = NULL;

	if ((r->apic_base & rsvd) || (x2 && (!en || !a->x2apic_ok)) ||
	    !!(r->apic_base & VDEV_LAPIC_BASE_BSP) != a->bsp)
		return vdev_state_fail(rd, -ERANGE, "lapic: IA32_APIC_BASE 0x%llx invalid here",
				       (unsigned long long)r->apic_base);
	if (r->id != a->init_id && (x2 || r->id > 0xff))
		return vdev_state_fail(rd, -ERANGE, "lapic: APIC ID 0x%x invalid in this mode",
				       r->id);
	if (r->tpr > 0xff)
		bad = "TPR";
	else if (r->svr & ~0x3ffu)
		bad = "SVR";
	else if (r->ldr & 0x00ffffffu)
		bad = "LDR";
	else if ((r->dfr & 0x0fffffffu) != 0x0fffffffu)
		bad = "DFR";
	else if ((r->esr | r->esr_pending) & ~0xffu)
		bad = "ESR";
	else if (r->icr_lo & ~ICR_XAPIC_MASK)
		bad = "ICR";
	else if (!x2 && (r->icr_hi & 0x00ffffffu))
		bad = "ICR high";
	else if (r->tdcr & ~0xbu)
		bad = "divide configuration";
	else if (r->timer_running && (!r->tmict || ((r->lvt[LVT_TIMER] >> 17) & 3) > 1))
		bad = "timer state";
	else if (r->isr[0] | r->isr[1] | r->irr[0] | r->irr[1] | r->tmr[0] | r->tmr[1])
		bad = "vector 0..15 in ISR/IRR/TMR";
	else
		bad = check_lvts(a, r);
	if (bad)
		return vdev_state_fail(rd, -ERANGE, "lapic: %s value out of range", bad);
	return 0;
}

int vdev_lapic_load(vdev_lapic *apic, vdev_state_reader *r)
{
	struct vdev_state_record rec;
	struct lapic_regs s;
	uint64_t now;
	int rc;

	if (!apic || !r)
		return -EINVAL;
	rc = vdev_state_next(r, &rec);
	if (rc == 0)
		return vdev_state_fail(r, -EBADMSG, "missing local APIC section");
	if (rc < 0)
		return rc;
	if (rec.type != VDEV_STATE_SECTION || rec.tag != LAPC_TAG)
		return vdev_state_fail(r, -EBADMSG, "expected a local APIC section, got 0x%08x",
				       rec.tag);
	if (rec.version != LAPC_VERSION)
		return vdev_state_fail(r, rec.version > LAPC_VERSION ? -EPROTONOSUPPORT : -EBADMSG,
				       "local APIC state version %u (want %u)", rec.version,
				       LAPC_VERSION);
	rc = vdev_state_enter(r);
	if (rc)
		return rc;
	memset(&s, 0, sizeof(s));
	rc = vdev_state_load_fields(r, lapic_fields, VDEV__ARRAY_SIZE(lapic_fields), &s);
	if (!rc)
		rc = check_regs(apic, r, &s);
	if (!rc)
		rc = vdev_state_leave(r);
	if (!rc)
		rc = vdev_pveoi_load(apic->pveoi, r);
	if (rc)
		return rc;
	apic->r = s;
	now = vdev_now_ns(apic->ctx);
	apic->timer_start = now > s.timer_elapsed ? now - s.timer_elapsed : 0;
	apic->r.timer_elapsed = 0;
	vdev__lapic_timer_update(apic);
	return 0;
}
