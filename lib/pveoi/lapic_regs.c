/* SPDX-License-Identifier: MIT */
/*
 * The local APIC's register interface: xAPIC MMIO (SDM 11.4.1, table
 * 11-1) and x2APIC MSRs (SDM 11.12.1.2, table 11-6), plus
 * IA32_APIC_BASE (SDM 11.4.4, 11.12.5) and IA32_TSC_DEADLINE (11.5.4.1).
 *
 * One decoder serves both modes. In x2APIC mode the SDM makes every
 * misuse a #GP (reserved bits, writes to read-only registers, reads of
 * write-only ones, registers that do not exist there): those return
 * -EINVAL. The xAPIC page has no #GP: the same misuse is ignored there.
 */
#include <errno.h>

#include "pveoi/lapic_internal.h"

/* Writable bits of each LVT entry (SDM figure 11-8). */
static uint32_t lvt_mask(const vdev_lapic *a, int i)
{
	switch (i) {
	case LVT_TIMER:
		return 0xffu | LVT_MASKED | (1u << 17) | (a->tsc_hz ? 1u << 18 : 0);
	case LVT_LINT0:
	case LVT_LINT1:
		/* vector, delivery mode, polarity, trigger mode, mask; remote IRR is ro */
		return 0xffu | 0x700u | (1u << 13) | (1u << 15) | LVT_MASKED;
	case LVT_ERROR:
		return 0xffu | LVT_MASKED;
	default:
		return 0xffu | 0x700u | LVT_MASKED;
	}
}

static uint32_t x2apic_ldr(uint32_t id)
{
	/* SDM 11.12.10.2: cluster in 31:16, one bit of 15:0 from ID[3:0]. */
	return ((id >> 4) << 16) | (1u << (id & 0xf));
}

int vdev__lapic_reg_read(const vdev_lapic *a, uint32_t off, uint64_t *val)
{
	bool x2 = lapic_x2apic(a);

	if (off >= LAPIC_ISR && off < LAPIC_ESR) {
		const uint8_t *bm = off < LAPIC_TMR ? a->r.isr : off < LAPIC_IRR ? a->r.tmr
										  : a->r.irr;
		*val = vdev__le32(bm + 4 * (((off - LAPIC_ISR) >> 4) & 7));
		return 0;
	}
	if (off >= LAPIC_LVT0 && off < LAPIC_LVT0 + 0x10 * LAPIC_NLVT) {
		*val = a->r.lvt[(off - LAPIC_LVT0) >> 4];
		return 0;
	}
	switch (off) {
	case LAPIC_ID:
		*val = x2 ? a->r.id : (a->r.id & 0xffu) << 24;
		return 0;
	case LAPIC_VER:
		*val = LAPIC_VERSION;
		return 0;
	case LAPIC_TPR:
		*val = a->r.tpr;
		return 0;
	case LAPIC_APR:
	case LAPIC_EOI:
		/* APR is not implemented (0); EOI is write-only; x2APIC: #GP. */
		*val = 0;
		return x2 ? -EINVAL : 0;
	case LAPIC_PPR:
		*val = vdev__lapic_ppr(a);
		return 0;
	case LAPIC_LDR:
		*val = x2 ? x2apic_ldr(a->r.id) : a->r.ldr;
		return 0;
	case LAPIC_DFR:
		*val = a->r.dfr | 0x0fffffffu;
		return x2 ? -EINVAL : 0;
	case LAPIC_SVR:
		*val = a->r.svr;
		return 0;
	case LAPIC_ESR:
		*val = a->r.esr;
		return 0;
	case LAPIC_ICR:
		*val = x2 ? ((uint64_t)a->r.icr_hi << 32) | a->r.icr_lo : a->r.icr_lo;
		return 0;
	case LAPIC_ICR2:
		*val = a->r.icr_hi;
		return x2 ? -EINVAL : 0;
	case LAPIC_TMICT:
		*val = a->r.tmict;
		return 0;
	case LAPIC_TMCCT:
		*val = vdev__lapic_timer_current(a);
		return 0;
	case LAPIC_TDCR:
		*val = a->r.tdcr;
		return 0;
	default:
		*val = 0;
		return -EINVAL; /* reserved; SELF IPI is write-only */
	}
}

static int write_lvt(vdev_lapic *a, int i, uint64_t val)
{
	bool x2 = lapic_x2apic(a);
	uint32_t m = lvt_mask(a, i), v = (uint32_t)val & m;
	uint32_t old_mode = vdev__lapic_timer_mode(a);

	if (x2 && (val & ~(uint64_t)m))
		return -EINVAL;
	if (i == LVT_TIMER && ((v >> LVT_TIMER_MODE_SHIFT) & 3) == 3)
		return -EINVAL; /* mode 11b is reserved; never stored */
	if (!lapic_sw_enabled(a))
		v |= LVT_MASKED; /* SDM 11.4.7.2: masks stay set while disabled */
	/* Remote IRR of LINT0/1 is read-only: keep ours. */
	a->r.lvt[i] = v | (a->r.lvt[i] & ~m & (1u << 14));
	if (i == LVT_TIMER) {
		if (vdev__lapic_timer_mode(a) != old_mode) {
			/* SDM 11.5.4.1: switching modes disarms the timer. */
			a->r.timer_running = 0;
			a->r.tmict = 0;
			a->r.tsc_deadline = 0;
		}
		vdev__lapic_timer_update(a);
	}
	return 0;
}

static int write_svr(vdev_lapic *a, uint64_t val)
{
	/* Vector, APIC enable, focus check; EOI broadcast suppression is not offered. */
	if (lapic_x2apic(a) && (val & ~0x3ffull))
		return -EINVAL;
	a->r.svr = (uint32_t)val & 0x3ffu;
	if (!(a->r.svr & SVR_ENABLE)) {
		for (int i = 0; i < LAPIC_NLVT; i++)
			a->r.lvt[i] |= LVT_MASKED;
		vdev__lapic_timer_update(a);
	}
	return 0;
}

int vdev__lapic_reg_write(vdev_lapic *a, uint32_t off, uint64_t val)
{
	bool x2 = lapic_x2apic(a);

	/* Every x2APIC MSR but the ICR is 32 bits wide: the high half is reserved. */
	if (x2 && off != LAPIC_ICR && (val >> 32))
		return -EINVAL;
	if (off >= LAPIC_LVT0 && off < LAPIC_LVT0 + 0x10 * LAPIC_NLVT)
		return write_lvt(a, (int)((off - LAPIC_LVT0) >> 4), val);
	switch (off) {
	case LAPIC_ID:
		if (x2)
			return -EINVAL;
		a->r.id = ((uint32_t)val >> 24) & 0xffu;
		return 0;
	case LAPIC_TPR:
		if (x2 && (val & ~0xffull))
			return -EINVAL;
		a->r.tpr = (uint32_t)val & 0xffu;
		return 0;
	case LAPIC_EOI:
		if (x2 && val)
			return -EINVAL;
		/* Settle an armed PV-EOI flag first, so it is not lost. */
		vdev_lapic_after_exit(a);
		vdev__lapic_eoi(a);
		return 0;
	case LAPIC_LDR:
		if (x2)
			return -EINVAL;
		a->r.ldr = (uint32_t)val & 0xff000000u;
		return 0;
	case LAPIC_DFR:
		if (x2)
			return -EINVAL;
		a->r.dfr = (uint32_t)val | 0x0fffffffu;
		return 0;
	case LAPIC_SVR:
		return write_svr(a, val);
	case LAPIC_ESR:
		if (x2 && val)
			return -EINVAL;
		/* SDM 11.5.3: a write latches the errors seen since the last one. */
		a->r.esr = a->r.esr_pending;
		a->r.esr_pending = 0;
		return 0;
	case LAPIC_ICR:
		if (x2) {
			if (val & ICR_X2APIC_RSVD)
				return -EINVAL;
			a->r.icr_lo = (uint32_t)val;
			a->r.icr_hi = (uint32_t)(val >> 32);
			vdev__lapic_send_icr(a, val);
		} else {
			a->r.icr_lo = (uint32_t)val & ICR_XAPIC_MASK;
			vdev__lapic_send_icr(a, ((uint64_t)(a->r.icr_hi >> 24) << 32) |
						a->r.icr_lo);
		}
		return 0;
	case LAPIC_ICR2:
		if (x2)
			return -EINVAL;
		a->r.icr_hi = (uint32_t)val & 0xff000000u;
		return 0;
	case LAPIC_TMICT:
		if (vdev__lapic_timer_mode(a) == LVT_TIMER_TSCDEADLINE)
			return 0; /* SDM 11.5.4.1: ignored in TSC-deadline mode */
		a->r.tmict = (uint32_t)val;
		vdev__lapic_timer_start(a);
		return 0;
	case LAPIC_TDCR:
		if (x2 && (val & ~0xbull))
			return -EINVAL;
		a->r.tdcr = (uint32_t)val & 0xbu;
		vdev__lapic_timer_update(a);
		return 0;
	case LAPIC_SELF_IPI:
		if (!x2 || (val & ~0xffull))
			return -EINVAL;
		vdev__lapic_send_icr(a, (val & 0xff) |
					((uint64_t)ICR_SH_SELF << ICR_SHORTHAND_SHIFT));
		return 0;
	default:
		/* Read-only (ID in x2APIC, VER, APR, PPR, ISR/TMR/IRR, TMCCT) or reserved. */
		return x2 ? -EINVAL : 0;
	}
}

int vdev_lapic_mmio_read(vdev_lapic *apic, uint32_t offset, void *buf, uint32_t size)
{
	uint8_t word[4] = { 0 };
	uint32_t in = offset & 0xf;
	uint64_t v;

	if (!apic || !buf || (size != 1 && size != 2 && size != 4 && size != 8) ||
	    offset >= VDEV_LAPIC_MMIO_SIZE || size > VDEV_LAPIC_MMIO_SIZE - offset)
		return -EINVAL;
	memset(buf, 0, size);
	if (vdev_lapic_mmio_base(apic) == UINT64_MAX || in + size > 4)
		return 0;
	if (vdev__lapic_reg_read(apic, offset & ~0xfu, &v))
		return 0;
	vdev__put_le32(word, (uint32_t)v);
	memcpy(buf, word + in, size);
	return 0;
}

int vdev_lapic_mmio_write(vdev_lapic *apic, uint32_t offset, const void *buf, uint32_t size)
{
	if (!apic || !buf || (size != 1 && size != 2 && size != 4 && size != 8) ||
	    offset >= VDEV_LAPIC_MMIO_SIZE || size > VDEV_LAPIC_MMIO_SIZE - offset)
		return -EINVAL;
	if (vdev_lapic_mmio_base(apic) == UINT64_MAX)
		return 0;
	if (size != 4 || (offset & 0xf)) {
		vdev_log(apic->ctx, VDEV_LOG_DEBUG, "lapic %u: ignored %u-byte write at 0x%03x",
			 apic->r.id, size, offset);
		return 0;
	}
	(void)vdev__lapic_reg_write(apic, offset, vdev__le32(buf));
	return 0;
}

static int write_apic_base(vdev_lapic *a, uint64_t val)
{
	uint64_t rsvd = 0x2ffull | ~((1ull << a->phys_bits) - 1);
	bool en = val & VDEV_LAPIC_BASE_EN, extd = val & VDEV_LAPIC_BASE_EXTD;
	bool was_en = lapic_hw_enabled(a), was_x2 = lapic_x2apic(a);

	if ((val & rsvd) || (extd && !a->x2apic_ok))
		return -EINVAL;
	/* SDM 11.12.5 figure 11-27: no invalid state, no x2APIC -> xAPIC and
	 * no disabled -> x2APIC without passing through the other. */
	if ((extd && !en) || (was_x2 && en && !extd) || (!was_en && extd))
		return -EINVAL;
	val = (val & ~VDEV_LAPIC_BASE_BSP) | (a->bsp ? VDEV_LAPIC_BASE_BSP : 0);
	if (was_en && !en) {
		/* Disabled: the APIC returns to its power-on state. */
		vdev__lapic_regs_poweron(a);
		a->r.apic_base = val;
		return 0;
	}
	if (extd && !was_x2)
		a->r.id = a->init_id; /* x2APIC ID is the initial 32-bit ID */
	a->r.apic_base = val;
	return 0;
}

int vdev_lapic_msr_read(vdev_lapic *apic, uint32_t msr, uint64_t *value)
{
	if (!apic || !value)
		return -EINVAL;
	*value = 0;
	switch (msr) {
	case VDEV_LAPIC_MSR_APIC_BASE:
		*value = apic->r.apic_base;
		return 0;
	case VDEV_LAPIC_MSR_TSC_DEADLINE:
		if (vdev__lapic_timer_mode(apic) == LVT_TIMER_TSCDEADLINE)
			*value = apic->r.tsc_deadline;
		return 0;
	case VDEV_PVEOI_MSR:
		*value = vdev_pveoi_msr_read(apic->pveoi);
		return 0;
	}
	if (msr < VDEV_LAPIC_MSR_X2APIC_FIRST || msr > VDEV_LAPIC_MSR_X2APIC_LAST)
		return -ENOENT;
	if (!lapic_x2apic(apic))
		return -EINVAL;
	return vdev__lapic_reg_read(apic, (msr - VDEV_LAPIC_MSR_X2APIC_FIRST) << 4, value);
}

int vdev_lapic_msr_write(vdev_lapic *apic, uint32_t msr, uint64_t value)
{
	if (!apic)
		return -EINVAL;
	switch (msr) {
	case VDEV_LAPIC_MSR_APIC_BASE:
		return write_apic_base(apic, value);
	case VDEV_LAPIC_MSR_TSC_DEADLINE:
		if (vdev__lapic_timer_mode(apic) == LVT_TIMER_TSCDEADLINE) {
			apic->r.tsc_deadline = value;
			vdev__lapic_timer_update(apic);
		}
		return 0;
	case VDEV_PVEOI_MSR:
		return vdev_pveoi_msr_write(apic->pveoi, value);
	}
	if (msr < VDEV_LAPIC_MSR_X2APIC_FIRST || msr > VDEV_LAPIC_MSR_X2APIC_LAST)
		return -ENOENT;
	if (!lapic_x2apic(apic))
		return -EINVAL;
	return vdev__lapic_reg_write(apic, (msr - VDEV_LAPIC_MSR_X2APIC_FIRST) << 4, value);
}

int vdev_lapic_peek(const vdev_lapic *apic, uint32_t offset, uint32_t *value)
{
	uint64_t v;
	int rc;

	if (!apic || !value || (offset & 0xf) || offset >= VDEV_LAPIC_MMIO_SIZE)
		return -EINVAL;
	rc = vdev__lapic_reg_read(apic, offset, &v);
	*value = (uint32_t)v;
	return rc;
}
