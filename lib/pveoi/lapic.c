/* SPDX-License-Identifier: MIT */
/*
 * User-space local APIC (vdev/lapic.h): creation and reset, interrupt
 * acceptance, priority (SDM 11.8.3.1), EOI (SDM 11.8.5), IPIs and the
 * PV-EOI glue around guest entry and exit.
 */
#include <errno.h>
#include <stdlib.h>

#include "pveoi/lapic_internal.h"

int vdev__lapic_highest(const uint8_t *bm)
{
	for (int i = 31; i >= 0; i--)
		if (bm[i])
			return i * 8 + 31 - __builtin_clz((unsigned int)bm[i]);
	return -1;
}

static unsigned int popcount256(const uint8_t *bm)
{
	unsigned int n = 0;

	for (int i = 0; i < 32; i++)
		n += (unsigned int)__builtin_popcount(bm[i]);
	return n;
}

/* PPR = TPR if TPR[7:4] >= ISRV[7:4], else ISRV[7:4] << 4 (SDM 11.8.3.1). */
uint32_t vdev__lapic_ppr(const vdev_lapic *a)
{
	int isrv = vdev__lapic_highest(a->r.isr);
	uint32_t isr_class = isrv < 0 ? 0 : ((uint32_t)isrv & 0xf0);

	return (a->r.tpr & 0xf0) >= isr_class ? a->r.tpr & 0xff : isr_class;
}

void vdev__lapic_error(vdev_lapic *a, uint32_t esr_bits)
{
	uint32_t lvt = a->r.lvt[LVT_ERROR];
	bool fresh = (a->r.esr_pending & esr_bits) != esr_bits;

	a->r.esr_pending |= esr_bits;
	/* An error LVT with an illegal vector only records the error again. */
	if (fresh && !(lvt & LVT_MASKED))
		vdev__lapic_accept(a, lvt & 0xff, 0, true);
}

int vdev__lapic_accept(vdev_lapic *a, uint32_t vector, int level, bool from_lvt_error)
{
	if (!lapic_sw_enabled(a))
		return 0;
	if (vector < 16) {
		/* SDM 11.5.3: "Received Illegal Vector"; the interrupt is dropped. */
		if (from_lvt_error)
			a->r.esr_pending |= ESR_RECV_ILLEGAL_VECTOR;
		else
			vdev__lapic_error(a, ESR_RECV_ILLEGAL_VECTOR);
		return 0;
	}
	if (level)
		vec_set(a->r.tmr, vector);
	else
		vec_clear(a->r.tmr, vector);
	if (vec_test(a->r.irr, vector))
		return 0;  /* coalesced with the pending one */
	vec_set(a->r.irr, vector);
	return 1;
}

void vdev__lapic_eoi(vdev_lapic *a)
{
	int v = vdev__lapic_highest(a->r.isr);

	if (v < 0)
		return;  /* an EOI with nothing in service is ignored */
	vec_clear(a->r.isr, (unsigned int)v);
	if (vec_test(a->r.tmr, (unsigned int)v) && a->ops.eoi_broadcast)
		a->ops.eoi_broadcast(a->ops.opaque, a, (uint8_t)v);
}

void vdev__lapic_send_icr(vdev_lapic *a, uint64_t icr)
{
	uint32_t vec = (uint32_t)icr & ICR_VECTOR;
	uint32_t dm = ((uint32_t)icr >> ICR_DM_SHIFT) & 7;
	uint32_t sh = ((uint32_t)icr >> ICR_SHORTHAND_SHIFT) & 3;

	if (dm == ICR_DM_FIXED && vec < 16) {
		vdev__lapic_error(a, ESR_SEND_ILLEGAL_VECTOR);
		return;
	}
	if (dm == ICR_DM_FIXED && sh == ICR_SH_SELF) {
		vdev__lapic_accept(a, vec, 0, false);
		return;
	}
	if (!a->ops.send_ipi) {
		if (!a->warned_ipi)
			vdev_log(a->ctx, VDEV_LOG_WARN,
				 "lapic %u: IPI 0x%llx dropped: no send_ipi hook", a->r.id,
				 (unsigned long long)icr);
		a->warned_ipi = true;
		return;
	}
	a->ops.send_ipi(a->ops.opaque, a, icr);
}

void vdev__lapic_regs_poweron(vdev_lapic *a)
{
	uint64_t base = VDEV_LAPIC_DEFAULT_BASE | VDEV_LAPIC_BASE_EN;

	memset(&a->r, 0, sizeof(a->r));
	a->r.apic_base = base | (a->bsp ? VDEV_LAPIC_BASE_BSP : 0);
	a->r.id = a->init_id;
	a->r.dfr = 0xffffffffu;
	a->r.svr = 0xff;
	for (int i = 0; i < LAPIC_NLVT; i++)
		a->r.lvt[i] = LVT_MASKED;
	a->timer_start = 0;
	if (a->timer)
		vdev_timer_disarm(a->timer);
}

int vdev_lapic_new(vdev_ctx *ctx, const struct vdev_lapic_opts *opts, vdev_lapic **out)
{
	struct vdev_lapic_opts o;
	vdev_lapic *a;
	int rc;

	if (!ctx || !opts || !out || vdev__copy_sized(&o, sizeof(o), opts))
		return -EINVAL;
	if (o.phys_bits && (o.phys_bits < 32 || o.phys_bits > 52))
		return -EINVAL;
	if (!o.x2apic && o.apic_id > 0xff)
		return -EINVAL;  /* an xAPIC-only APIC has an 8-bit ID */
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->ctx = ctx;
	if (o.ops && vdev__copy_sized(&a->ops, sizeof(a->ops), o.ops)) {
		free(a);
		return -EINVAL;
	}
	a->init_id = o.apic_id;
	a->bsp = o.bsp != 0;
	a->x2apic_ok = o.x2apic != 0;
	a->phys_bits = o.phys_bits ? o.phys_bits : 40;
	a->timer_hz = o.timer_hz ? o.timer_hz : 1000000000ull;
	a->tsc_hz = o.tsc_hz;
	rc = vdev_pveoi_new(ctx, &a->pveoi);
	if (!rc)
		rc = vdev_timer_new(ctx, vdev__lapic_timer_fire, a, &a->timer);
	if (rc) {
		vdev_pveoi_free(a->pveoi);
		free(a);
		return rc;
	}
	vdev__lapic_regs_poweron(a);
	*out = a;
	return 0;
}

void vdev_lapic_free(vdev_lapic *apic)
{
	if (!apic)
		return;
	vdev_timer_free(apic->timer);
	vdev_pveoi_free(apic->pveoi);
	free(apic);
}

void vdev_lapic_reset(vdev_lapic *apic, int init)
{
	uint64_t base;
	uint32_t id;

	if (!apic)
		return;
	base = apic->r.apic_base;
	id = apic->r.id;
	vdev__lapic_regs_poweron(apic);
	if (init) {
		/* SDM 11.4.7.3: INIT keeps the APIC ID and IA32_APIC_BASE. */
		apic->r.apic_base = base;
		apic->r.id = id;
	}
	vdev_pveoi_reset(apic->pveoi);
}

uint64_t vdev_lapic_mmio_base(const vdev_lapic *apic)
{
	if (!apic || !lapic_hw_enabled(apic) || lapic_x2apic(apic))
		return UINT64_MAX;
	return apic->r.apic_base & ~0xfffull;
}

int vdev_lapic_set_irq(vdev_lapic *apic, uint32_t vector, int level)
{
	if (!apic || vector > 255)
		return -EINVAL;
	return vdev__lapic_accept(apic, vector, level != 0, false);
}

int vdev_lapic_get_interrupt(const vdev_lapic *apic)
{
	int v;

	if (!apic || !lapic_sw_enabled(apic))
		return -ENOENT;
	v = vdev__lapic_highest(apic->r.irr);
	if (v < 0 || ((uint32_t)v & 0xf0) <= (vdev__lapic_ppr(apic) & 0xf0))
		return -ENOENT;
	return v;
}

int vdev_lapic_ack(vdev_lapic *apic, uint32_t vector)
{
	if (!apic || vector > 255 || !vec_test(apic->r.irr, vector))
		return -EINVAL;
	/* An armed flag describes the old ISR: settle it before changing it. */
	vdev_lapic_after_exit(apic);
	vec_clear(apic->r.irr, vector);
	vec_set(apic->r.isr, vector);
	return 0;
}

int vdev_lapic_before_entry(vdev_lapic *apic)
{
	struct vdev_pveoi_apic s = { .struct_size = sizeof(s) };
	int v;

	if (!apic)
		return 0;
	v = vdev__lapic_highest(apic->r.isr);
	s.isr_count = popcount256(apic->r.isr);
	s.isr_vector = v < 0 ? 0 : (uint32_t)v;
	s.irr_pending = vdev__lapic_highest(apic->r.irr) >= 0;
	if (v >= 0 && vec_test(apic->r.tmr, (unsigned int)v))
		s.flags |= VDEV_PVEOI_APIC_LEVEL;
	return vdev_pveoi_before_entry(apic->pveoi, &s) > 0;
}

int vdev_lapic_after_exit(vdev_lapic *apic)
{
	if (!apic || vdev_pveoi_after_exit(apic->pveoi, NULL) <= 0)
		return 0;
	vdev__lapic_eoi(apic);
	return 1;
}

vdev_pveoi *vdev_lapic_pveoi(vdev_lapic *apic)
{
	return apic ? apic->pveoi : NULL;
}
