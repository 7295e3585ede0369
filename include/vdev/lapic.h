/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/lapic.h
 * A small user-space local APIC (xAPIC MMIO page and x2APIC MSRs) for a
 * VMM that runs its vCPUs without an in-kernel interrupt controller
 * (KVM_CREATE_VM without KVM_CREATE_IRQCHIP, injecting with KVM_INTERRUPT).
 *
 * It models one vCPU's APIC: ID, version, TPR/PPR, EOI, LDR/DFR, SVR,
 * ISR/TMR/IRR, ESR, ICR, the LVT entries and the timer (one-shot,
 * periodic, TSC-deadline, on library timers), and uses the PV-EOI helper
 * (vdev/pveoi.h) for the KVM PV-EOI MSR. It is the reference user of that
 * helper; a VMM with its own APIC uses vdev/pveoi.h directly instead.
 * Both exist because the helper's needs are narrow (four facts at entry,
 * one EOI after exit) while a full APIC is a lot to ask of a VMM that only
 * wants PV-EOI.
 *
 * The run loop of a VMM using it, per vCPU:
 *
 *     vdev_lapic_after_exit(apic);          // first, on every exit
 *     ...handle the exit (MMIO to the APIC page, MSRs, IO...)...
 *     if (window open && (v = vdev_lapic_get_interrupt(apic)) >= 0) {
 *             inject v (KVM_INTERRUPT); vdev_lapic_ack(apic, v);
 *     }
 *     vdev_lapic_before_entry(apic);        // last, right before KVM_RUN
 *
 * Not modelled: NMI/SMI/INIT/SIPI delivery into this APIC (the VMM's
 * hook sees those ICR writes), lowest-priority arbitration, logical
 * destination matching (the VMM routes IPIs), CMCI, thermal and
 * performance-counter sources (their LVT registers exist), directed EOI.
 *
 * Threading: an APIC belongs to its vCPU's device thread.
 */
#ifndef VDEV_LAPIC_H
#define VDEV_LAPIC_H

#include <vdev/common.h>
#include <vdev/pveoi.h>
#include <vdev/state.h>

VDEV_BEGIN_DECLS

/** Default physical base of the xAPIC page. */
#define VDEV_LAPIC_DEFAULT_BASE 0xfee00000ull
/** Size of the xAPIC MMIO page. */
#define VDEV_LAPIC_MMIO_SIZE 0x1000u

/** IA32_APIC_BASE. */
#define VDEV_LAPIC_MSR_APIC_BASE 0x1bu
/** IA32_TSC_DEADLINE. */
#define VDEV_LAPIC_MSR_TSC_DEADLINE 0x6e0u
/** First and last x2APIC MSR (0x800 + xAPIC offset / 16). */
#define VDEV_LAPIC_MSR_X2APIC_FIRST 0x800u
#define VDEV_LAPIC_MSR_X2APIC_LAST 0x8ffu

/** IA32_APIC_BASE bits. */
#define VDEV_LAPIC_BASE_BSP (1ull << 8)
#define VDEV_LAPIC_BASE_EXTD (1ull << 10) /**< x2APIC mode */
#define VDEV_LAPIC_BASE_EN (1ull << 11)   /**< globally enabled */

/** One local APIC. */
typedef struct vdev_lapic vdev_lapic;

/** Hooks into the VMM. Every hook may be NULL. */
struct vdev_lapic_ops {
	/** Set to sizeof(struct vdev_lapic_ops). */
	size_t struct_size;
	/** First argument of every hook. */
	void *opaque;
	/**
	 * The guest wrote the ICR for an IPI that is not a fixed self-IPI
	 * (those stay inside this APIC). @p icr is in x2APIC layout: the
	 * destination in bits 63..32 (xAPIC: ICR high bits 31..24 moved
	 * down to 39..32 as an 8-bit ID), vector, delivery mode, destination
	 * mode, level, trigger and shorthand as the SDM's ICR. The VMM
	 * routes it (e.g. vdev_lapic_set_irq() on the targets). NULL: the
	 * IPI is dropped (logged once).
	 */
	void (*send_ipi)(void *opaque, vdev_lapic *from, uint64_t icr);
	/**
	 * A level-triggered vector (TMR set) was ended by an EOI: the
	 * IOAPIC should re-sample the line(s) routed to @p vector.
	 */
	void (*eoi_broadcast)(void *opaque, vdev_lapic *apic, uint8_t vector);
	/**
	 * Something became deliverable outside a trapped access (a timer
	 * fired, an interrupt from another thread's routing): kick the vCPU
	 * out of the guest or out of HLT so its loop asks again.
	 */
	void (*kick)(void *opaque, vdev_lapic *apic);
	/**
	 * The guest's current TSC, for IA32_TSC_DEADLINE. NULL: the context
	 * clock scaled by tsc_hz (vdev_now_ns() * tsc_hz / 1e9).
	 */
	uint64_t (*read_tsc)(void *opaque, vdev_lapic *apic);
};

/** Creation options. */
struct vdev_lapic_opts {
	/** Set to sizeof(struct vdev_lapic_opts). */
	size_t struct_size;
	/** The APIC ID (x2APIC: 32 bits; xAPIC shows the low 8 bits). */
	uint32_t apic_id;
	/** Non-zero for the bootstrap processor (IA32_APIC_BASE bit 8). */
	uint32_t bsp;
	/** Non-zero to offer x2APIC mode (CPUID.1:ECX.x2APIC is the VMM's). */
	uint32_t x2apic;
	/** Guest physical address width for IA32_APIC_BASE; 0 means 40. */
	uint32_t phys_bits;
	/** APIC timer input clock in Hz before the divider; 0 means 1 GHz. */
	uint64_t timer_hz;
	/** Guest TSC frequency in Hz; 0 means TSC-deadline mode is refused. */
	uint64_t tsc_hz;
	/** The hooks (copied), or NULL for none. */
	const struct vdev_lapic_ops *ops;
};

/**
 * Create an APIC on @p ctx in its power-on state (xAPIC mode, enabled at
 * VDEV_LAPIC_DEFAULT_BASE, software-disabled until the guest sets SVR
 * bit 8). It owns a PV-EOI helper (vdev_lapic_pveoi()).
 * @return 0; -EINVAL (bad arguments, struct_size, phys_bits outside
 *         32..52); -ENOMEM. Thread: the device thread.
 */
VDEV_API int vdev_lapic_new(vdev_ctx *ctx, const struct vdev_lapic_opts *opts,
			    vdev_lapic **out);

/** Free an APIC and its timer. NULL is a no-op. Thread: the device thread. */
VDEV_API void vdev_lapic_free(vdev_lapic *apic);

/**
 * Power-on reset (@p init 0) or INIT (@p init 1). INIT keeps
 * IA32_APIC_BASE and the APIC ID as the SDM says; both clear the PV-EOI
 * MSR. Thread: the device thread.
 */
VDEV_API void vdev_lapic_reset(vdev_lapic *apic, int init);

/**
 * @return the guest-physical base of the xAPIC page while the APIC is
 * enabled in xAPIC mode, or UINT64_MAX (x2APIC mode or disabled): the
 * VMM routes MMIO in [base, base + VDEV_LAPIC_MMIO_SIZE) here.
 */
VDEV_API uint64_t vdev_lapic_mmio_base(const vdev_lapic *apic);

/**
 * A trapped guest read of @p size bytes at @p offset in the xAPIC page.
 * 4-byte aligned 4-byte reads of a register slot (offset % 16 == 0) are
 * the architectural access; narrower reads inside the slot's first 4
 * bytes return those bytes; anything else reads as zero. Reads in x2APIC
 * mode or while disabled read as zero.
 * @return 0; -EINVAL (NULL, size not 1/2/4/8, outside the page).
 * Thread: the device thread.
 */
VDEV_API int vdev_lapic_mmio_read(vdev_lapic *apic, uint32_t offset, void *buf, uint32_t size);

/**
 * A trapped guest write. Only 4-byte writes at a slot start take effect
 * (others are ignored, as KVM does); writes to read-only or reserved
 * registers are ignored. @return as vdev_lapic_mmio_read().
 * Thread: the device thread.
 */
VDEV_API int vdev_lapic_mmio_write(vdev_lapic *apic, uint32_t offset, const void *buf,
				   uint32_t size);

/**
 * A guest RDMSR of IA32_APIC_BASE, IA32_TSC_DEADLINE, an x2APIC MSR
 * or VDEV_PVEOI_MSR. @return 0 and *value; -EINVAL if the VMM must
 * inject #GP (x2APIC MSR outside x2APIC mode, write-only or reserved
 * register); -ENOENT if @p msr is none of these (not ours).
 * Thread: the device thread.
 */
VDEV_API int vdev_lapic_msr_read(vdev_lapic *apic, uint32_t msr, uint64_t *value);

/**
 * A guest WRMSR, as vdev_lapic_msr_read(). -EINVAL (#GP) also for
 * reserved bits, read-only registers, illegal IA32_APIC_BASE transitions
 * (x2APIC -> xAPIC without disabling, enabling x2APIC when not offered).
 * Thread: the device thread.
 */
VDEV_API int vdev_lapic_msr_write(vdev_lapic *apic, uint32_t msr, uint64_t value);

/**
 * Accept a fixed interrupt for @p vector (from an IOAPIC, MSI, IPI or
 * the VMM). @p level 1 means level-triggered (TMR set: the EOI is
 * broadcast), 0 edge. Vectors 0..15 are illegal: ESR bit 6 ("received
 * illegal vector") is set and the interrupt is dropped.
 * @return 1 if newly set in the IRR; 0 if dropped (illegal vector, APIC
 *         disabled, already pending: coalesced); -EINVAL (vector > 255).
 * Thread: the device thread.
 */
VDEV_API int vdev_lapic_set_irq(vdev_lapic *apic, uint32_t vector, int level);

/**
 * @return the vector the VMM should inject now (the highest pending one
 * whose priority class beats the PPR), or -ENOENT. Does not change state.
 * Thread: the device thread.
 */
VDEV_API int vdev_lapic_get_interrupt(const vdev_lapic *apic);

/**
 * The VMM injected @p vector (returned by vdev_lapic_get_interrupt()):
 * move it from the IRR to the ISR. @return 0; -EINVAL if it is not pending.
 * Thread: the device thread.
 */
VDEV_API int vdev_lapic_ack(vdev_lapic *apic, uint32_t vector);

/**
 * Call right before each guest entry: arms PV-EOI when safe.
 * @return 1 if armed, 0 if not. Thread: the device thread.
 */
VDEV_API int vdev_lapic_before_entry(vdev_lapic *apic);

/**
 * Call first after each exit: resolves an armed PV-EOI flag and performs
 * the EOI if the guest cleared it. @return 1 if an EOI happened, else 0.
 * Thread: the device thread.
 */
VDEV_API int vdev_lapic_after_exit(vdev_lapic *apic);

/** @return the APIC's PV-EOI helper (owned by the APIC), for statistics and tests. */
VDEV_API vdev_pveoi *vdev_lapic_pveoi(vdev_lapic *apic);

/**
 * Read a register by its xAPIC offset (0x20 ID ... 0x3e0 divide), the
 * way the guest would in the current mode but without side effects, for
 * VMM debugging and tests. @return 0 and *value, or -EINVAL (reserved
 * offset). Thread: the device thread.
 */
VDEV_API int vdev_lapic_peek(const vdev_lapic *apic, uint32_t offset, uint32_t *value);

/**
 * Save the APIC (section 'LAPC', version 1; the timer as time left) and
 * its PV-EOI helper. @return 0 or the writer's error. Thread: the device thread.
 */
VDEV_API int vdev_lapic_save(const vdev_lapic *apic, vdev_state_writer *w);

/**
 * Load what vdev_lapic_save() wrote from the next record of @p r. Every
 * field is validated before anything changes (reserved bits, vectors,
 * mode consistency). @return 0, -EBADMSG, -ERANGE, -EPROTONOSUPPORT,
 * -EINVAL. Thread: the device thread.
 */
VDEV_API int vdev_lapic_load(vdev_lapic *apic, vdev_state_reader *r);

VDEV_END_DECLS

#endif /* VDEV_LAPIC_H */
