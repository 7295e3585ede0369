/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/pveoi.h
 * The KVM paravirtual end-of-interrupt (PV-EOI) protocol, host side.
 *
 * A guest that sees KVM_FEATURE_PV_EOI (CPUID 0x40000001 EAX bit 6)
 * writes the guest-physical address of a 4-byte aligned word, with bit 0
 * set, to MSR_KVM_PV_EOI_EN (0x4b564d04). Right before entering the guest
 * the host may set bit 0 of that word ("armed") when the interrupt it has
 * delivered can be ended without the host seeing the EOI. The guest's EOI
 * is then a test-and-clear of the bit (Linux: kvm_guest_apic_eoi_write());
 * only when the bit was already clear does it write the APIC EOI register
 * (an exit). After every exit the host tests and clears the bit: a bit
 * the guest cleared is the EOI. An edge-triggered interrupt thus costs one
 * exit (its injection) instead of two.
 *
 * Why a helper with a narrow interface: the protocol only needs four facts
 * about the local APIC at entry time (how many vectors are in service, the
 * highest one, whether anything waits in the IRR, and whether someone
 * must see the EOI: level-triggered/TMR, an IOAPIC line, an EOI notifier).
 * A VMM with its own APIC fills struct vdev_pveoi_apic and calls
 * vdev_pveoi_before_entry() / vdev_pveoi_after_exit() around each guest
 * run; libvdev's own local APIC (vdev/lapic.h) is the reference user.
 *
 * Rules follow Linux arch/x86/kvm/lapic.c (kvm_lapic_set_pv_eoi(),
 * apic_sync_pv_eoi_to_guest(), apic_sync_pv_eoi_from_guest()) and
 * Documentation/virt/kvm/x86/msr.rst:
 *  - MSR bit 0 enables; bits 63..2 are the address, 4-byte aligned, so
 *    bit 1 is reserved; an enabled address must be in guest RAM.
 *  - arm only with exactly one vector in service, nothing pending in the
 *    IRR, and no observer for that vector's EOI;
 *  - only bit 0 of the word's first byte matters; other bits are ignored.
 *
 * The flag is written through the library's guest-memory accessors, so it
 * marks its page dirty while dirty logging is on.
 *
 * Threading: a helper belongs to its vCPU thread's context (the device
 * thread); it is not thread-safe.
 */
#ifndef VDEV_PVEOI_H
#define VDEV_PVEOI_H

#include <vdev/common.h>
#include <vdev/state.h>

VDEV_BEGIN_DECLS

/** MSR_KVM_PV_EOI_EN. */
#define VDEV_PVEOI_MSR 0x4b564d04u
/** CPUID leaf holding the KVM feature bits (KVM_CPUID_FEATURES). */
#define VDEV_PVEOI_CPUID_LEAF 0x40000001u
/** KVM_FEATURE_PV_EOI: bit of EAX in VDEV_PVEOI_CPUID_LEAF. */
#define VDEV_PVEOI_CPUID_EAX_BIT 6
/** MSR bit 0: PV-EOI enabled (KVM_MSR_ENABLED). */
#define VDEV_PVEOI_MSR_ENABLED 0x1ull
/** MSR bits the guest may not set (bit 1: the address is 4-byte aligned). */
#define VDEV_PVEOI_MSR_RESERVED 0x2ull
/** Bit 0 of the guest word: set by the host when armed (KVM_PV_EOI_ENABLED). */
#define VDEV_PVEOI_FLAG 0x1u

/** The PV-EOI state of one vCPU. */
typedef struct vdev_pveoi vdev_pveoi;

/** What the helper needs to know about the local APIC before an entry. */
struct vdev_pveoi_apic {
	/** Set to sizeof(struct vdev_pveoi_apic). */
	size_t struct_size;
	/** Number of bits set in the ISR. */
	uint32_t isr_count;
	/** The highest in-service vector (meaningful when isr_count > 0). */
	uint32_t isr_vector;
	/** Non-zero if any vector is pending in the IRR. */
	uint32_t irr_pending;
	/** VDEV_PVEOI_APIC_* flags about isr_vector. */
	uint32_t flags;
};

/** isr_vector is level-triggered (its TMR bit is set): the EOI must be seen. */
#define VDEV_PVEOI_APIC_LEVEL 0x1u
/** Someone else needs that EOI (an IOAPIC line, an EOI notifier or exit bitmap). */
#define VDEV_PVEOI_APIC_EOI_OBSERVED 0x2u

/**
 * Create a PV-EOI helper for one vCPU of @p ctx, disabled (MSR value 0).
 * Guest memory is reached through @p ctx's memory map (vdev/mem.h).
 * @return 0, -EINVAL, -ENOMEM. Thread: the device thread.
 */
VDEV_API int vdev_pveoi_new(vdev_ctx *ctx, vdev_pveoi **out);

/** Free a helper. NULL is a no-op. Guest memory is not touched. Thread: the device thread. */
VDEV_API void vdev_pveoi_free(vdev_pveoi *p);

/**
 * Handle a guest WRMSR to VDEV_PVEOI_MSR.
 * @return 0 (the value now reads back); -EINVAL if the VMM must inject
 *         #GP: reserved bit 1 set, or enabled with an address whose 4
 *         bytes are not in writable guest RAM. On error nothing changes.
 * Writing the MSR disarms a pending flag without an EOI: the guest has
 * either moved the word or turned the protocol off (the old word is left
 * as the guest last saw it). Thread: the device thread.
 */
VDEV_API int vdev_pveoi_msr_write(vdev_pveoi *p, uint64_t value);

/** @return the MSR value the guest last wrote successfully (0 after reset). */
VDEV_API uint64_t vdev_pveoi_msr_read(const vdev_pveoi *p);

/** @return 1 if the guest enabled PV-EOI, 0 if not. */
VDEV_API int vdev_pveoi_enabled(const vdev_pveoi *p);

/** @return 1 if the flag is armed (between before_entry and after_exit), else 0. */
VDEV_API int vdev_pveoi_armed(const vdev_pveoi *p);

/**
 * Call right before every guest entry, after interrupt injection. Arms
 * the flag (writes 1 into the guest word's bit 0) when PV-EOI is enabled
 * and @p apic shows exactly one in-service vector, an empty IRR and
 * neither VDEV_PVEOI_APIC_LEVEL nor VDEV_PVEOI_APIC_EOI_OBSERVED.
 * @return 1 if armed, 0 if not (including: the word is no longer in RAM,
 *         which is logged once per MSR write); -EINVAL (bad arguments or
 *         struct_size). Calling it while already armed re-evaluates: it
 *         leaves the flag alone if still safe, else clears it first.
 * Thread: the vCPU's device thread.
 */
VDEV_API int vdev_pveoi_before_entry(vdev_pveoi *p, const struct vdev_pveoi_apic *apic);

/**
 * Call after every guest exit, before handling the exit (so a trapped EOI
 * write is not counted twice). If armed, tests and clears the guest's
 * flag and disarms.
 * @param vector  receives the armed vector when the result is 1; may be NULL.
 * @return 1 if the guest ended the armed interrupt through the flag: the
 *         caller performs that EOI on its APIC now; 0 if not armed or the
 *         flag is still set (no EOI happened). If the word has left guest
 *         RAM while armed, the helper logs a warning, disarms and returns 1,
 *         as KVM does (an EOI it cannot see must not leave a vector stuck
 *         in service forever). Thread: the vCPU's device thread.
 */
VDEV_API int vdev_pveoi_after_exit(vdev_pveoi *p, uint32_t *vector);

/**
 * Reset or INIT: MSR value 0 and disarmed, without touching guest memory
 * (the guest re-enables PV-EOI when it brings the CPU up again).
 * Thread: the device thread.
 */
VDEV_API void vdev_pveoi_reset(vdev_pveoi *p);

/**
 * Save the helper as one required section (tag 'PEOI', version 1): the
 * MSR value, whether it is armed and the armed vector. Save between an
 * exit's vdev_pveoi_after_exit() and the next entry and it is never armed.
 * @return 0 or the writer's error. Thread: the device thread.
 */
VDEV_API int vdev_pveoi_save(const vdev_pveoi *p, vdev_state_writer *w);

/**
 * Load what vdev_pveoi_save() wrote from the next record of @p r. Every
 * field is checked first (reserved MSR bit, armed without enable, vector
 * 16..255, an enabled word in this context's RAM); on error nothing
 * changes. @return 0; -EBADMSG, -ERANGE, -EPROTONOSUPPORT (reason in
 * vdev_state_reader_error()); -EINVAL. Thread: the device thread.
 */
VDEV_API int vdev_pveoi_load(vdev_pveoi *p, vdev_state_reader *r);

VDEV_END_DECLS

#endif /* VDEV_PVEOI_H */
