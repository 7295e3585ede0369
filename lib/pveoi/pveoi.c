/* SPDX-License-Identifier: MIT */
/*
 * PV-EOI helper (vdev/pveoi.h): MSR validation, arming before entry,
 * test-and-clear after exit, reset and state.
 *
 * The host side of the protocol follows Linux arch/x86/kvm/lapic.c:
 * kvm_lapic_set_pv_eoi() for the MSR, apic_sync_pv_eoi_to_guest() for the
 * arming rule and apic_sync_pv_eoi_from_guest() /
 * pv_eoi_test_and_clr_pending() for the exit side. Like KVM, the host
 * reads and writes only the first byte of the guest word (pv_eoi_get_user
 * and pv_eoi_put_user use a u8), so whatever the guest keeps in the other
 * bytes is never touched.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/core.h"

#define PVEOI_TAG VDEV_STATE_TAG('P', 'E', 'O', 'I')
#define PVEOI_VERSION 1

struct pveoi_saved {
	uint64_t msr;
	uint8_t armed;
	uint8_t vector;
};

struct vdev_pveoi {
	vdev_ctx *ctx;
	struct pveoi_saved s;
	bool warned;  /* "word not in RAM" logged since the last MSR write */
};

static const struct vdev_state_field pveoi_fields[] = {
	{ .name = "msr", .tag = VDEV_STATE_TAG('M', 'S', 'R', ' '), .type = VDEV_STATE_U64,
	  .offset = offsetof(struct pveoi_saved, msr) },
	{ .name = "armed", .tag = VDEV_STATE_TAG('A', 'R', 'M', 'D'), .type = VDEV_STATE_U8,
	  .offset = offsetof(struct pveoi_saved, armed), .min = 0, .max = 1 },
	{ .name = "vector", .tag = VDEV_STATE_TAG('V', 'E', 'C', 'T'), .type = VDEV_STATE_U8,
	  .offset = offsetof(struct pveoi_saved, vector), .min = 0, .max = 255 },
};

static uint64_t word_gpa(uint64_t msr)
{
	return msr & ~(VDEV_PVEOI_MSR_ENABLED | VDEV_PVEOI_MSR_RESERVED);
}

/*
 * The word must be wholly in writable RAM (msr.rst: "must be in guest
 * RAM"). It is 4-byte aligned, so its last byte cannot wrap; it may
 * straddle two adjacent regions.
 */
static int word_in_ram(vdev_ctx *ctx, uint64_t gpa)
{
	struct vdev__mem_region_info ri;

	if (vdev__mem_region_find(ctx, gpa, &ri) || (ri.flags & VDEV_MEM_READONLY))
		return 0;
	if (vdev__mem_region_find(ctx, gpa + 3, &ri) || (ri.flags & VDEV_MEM_READONLY))
		return 0;
	return 1;
}

int vdev_pveoi_new(vdev_ctx *ctx, vdev_pveoi **out)
{
	vdev_pveoi *p;

	if (!ctx || !out)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ctx = ctx;
	*out = p;
	return 0;
}

void vdev_pveoi_free(vdev_pveoi *p)
{
	free(p);
}

int vdev_pveoi_msr_write(vdev_pveoi *p, uint64_t value)
{
	if (!p)
		return -EINVAL;
	/* kvm_lapic_set_pv_eoi(): !IS_ALIGNED(data & ~KVM_MSR_ENABLED, 4) -> #GP. */
	if (value & VDEV_PVEOI_MSR_RESERVED)
		return -EINVAL;
	if ((value & VDEV_PVEOI_MSR_ENABLED) && !word_in_ram(p->ctx, word_gpa(value)))
		return -EINVAL;
	p->s.msr = value;
	p->s.armed = 0;
	p->warned = false;
	return 0;
}

uint64_t vdev_pveoi_msr_read(const vdev_pveoi *p)
{
	return p ? p->s.msr : 0;
}

int vdev_pveoi_enabled(const vdev_pveoi *p)
{
	return p && (p->s.msr & VDEV_PVEOI_MSR_ENABLED);
}

int vdev_pveoi_armed(const vdev_pveoi *p)
{
	return p && p->s.armed;
}

static void warn_gone(vdev_pveoi *p, const char *when)
{
	if (p->warned)
		return;
	p->warned = true;
	vdev_log(p->ctx, VDEV_LOG_WARN,
		 "pveoi: flag word at 0x%llx is no longer in guest RAM (%s); PV-EOI not armed",
		 (unsigned long long)word_gpa(p->s.msr), when);
}

static int safe_to_arm(const vdev_pveoi *p, const struct vdev_pveoi_apic *a)
{
	/* apic_sync_pv_eoi_to_guest(): IRR set or many ISR bits could nest;
	 * no single in-service vector; the EOI must reach an IOAPIC. */
	return vdev_pveoi_enabled(p) && a->isr_count == 1 && !a->irr_pending &&
	       a->isr_vector >= 16 && a->isr_vector <= 255 &&
	       !(a->flags & (VDEV_PVEOI_APIC_LEVEL | VDEV_PVEOI_APIC_EOI_OBSERVED));
}

int vdev_pveoi_before_entry(vdev_pveoi *p, const struct vdev_pveoi_apic *apic)
{
	struct vdev_pveoi_apic a;
	uint8_t one = VDEV_PVEOI_FLAG, zero = 0;

	if (!p || !apic || vdev__copy_sized(&a, sizeof(a), apic))
		return -EINVAL;
	if (!safe_to_arm(p, &a)) {
		if (p->s.armed) {
			/* Armed by an earlier call with no entry since: take it back. */
			p->s.armed = 0;
			if (vdev_mem_write(p->ctx, word_gpa(p->s.msr), &zero, 1))
				warn_gone(p, "disarming");
		}
		return 0;
	}
	if (p->s.armed && p->s.vector == a.isr_vector)
		return 1;
	if (vdev_mem_write(p->ctx, word_gpa(p->s.msr), &one, 1)) {
		p->s.armed = 0;
		warn_gone(p, "arming");
		return 0;
	}
	p->s.armed = 1;
	p->s.vector = (uint8_t)a.isr_vector;
	return 1;
}

int vdev_pveoi_after_exit(vdev_pveoi *p, uint32_t *vector)
{
	uint8_t val, zero = 0;

	if (!p || !p->s.armed)
		return 0;
	p->s.armed = 0;
	if (vector)
		*vector = p->s.vector;
	if (vdev_mem_read(p->ctx, word_gpa(p->s.msr), &val, 1)) {
		/* pv_eoi_test_and_clr_pending() reports "cleared" when it cannot read. */
		vdev_log(p->ctx, VDEV_LOG_WARN,
			 "pveoi: flag word at 0x%llx left guest RAM while armed; "
			 "ending vector %u", (unsigned long long)word_gpa(p->s.msr), p->s.vector);
		p->warned = true;
		return 1;
	}
	if (!(val & VDEV_PVEOI_FLAG))
		return 1;  /* the guest test-and-cleared it: that was its EOI */
	/* Still set: no EOI yet. Clear it so a later EOI goes to the register. */
	if (vdev_mem_write(p->ctx, word_gpa(p->s.msr), &zero, 1))
		warn_gone(p, "clearing");
	return 0;
}

void vdev_pveoi_reset(vdev_pveoi *p)
{
	if (!p)
		return;
	memset(&p->s, 0, sizeof(p->s));
	p->warned = false;
}

int vdev_pveoi_save(const vdev_pveoi *p, vdev_state_writer *w)
{
	int rc;

	if (!p || !w)
		return -EINVAL;
	rc = vdev_state_begin(w, PVEOI_TAG, PVEOI_VERSION, VDEV_STATE_F_REQUIRED);
	if (!rc)
		rc = vdev_state_save_fields(w, pveoi_fields, VDEV__ARRAY_SIZE(pveoi_fields), &p->s);
	if (!rc)
		rc = vdev_state_end(w);
	return rc;
}

int vdev_pveoi_load(vdev_pveoi *p, vdev_state_reader *r)
{
	struct vdev_state_record rec;
	struct pveoi_saved s;
	int rc;

	if (!p || !r)
		return -EINVAL;
	rc = vdev_state_next(r, &rec);
	if (rc == 0)
		return vdev_state_fail(r, -EBADMSG, "missing PV-EOI section");
	if (rc < 0)
		return rc;
	if (rec.type != VDEV_STATE_SECTION || rec.tag != PVEOI_TAG)
		return vdev_state_fail(r, -EBADMSG, "expected a PV-EOI section, got 0x%08x",
				       rec.tag);
	if (rec.version > PVEOI_VERSION)
		return vdev_state_fail(r, -EPROTONOSUPPORT, "PV-EOI state version %u is newer "
				       "than %u", rec.version, PVEOI_VERSION);
	if (rec.version < 1)
		return vdev_state_fail(r, -EBADMSG, "PV-EOI state version 0");
	rc = vdev_state_enter(r);
	if (rc)
		return rc;
	s = p->s;
	rc = vdev_state_load_fields(r, pveoi_fields, VDEV__ARRAY_SIZE(pveoi_fields), &s);
	if (rc)
		return rc;
	if (s.msr & VDEV_PVEOI_MSR_RESERVED)
		return vdev_state_fail(r, -ERANGE, "PV-EOI MSR 0x%llx has reserved bit 1 set",
				       (unsigned long long)s.msr);
	if ((s.msr & VDEV_PVEOI_MSR_ENABLED) && !word_in_ram(p->ctx, word_gpa(s.msr)))
		return vdev_state_fail(r, -ERANGE, "PV-EOI word 0x%llx is not in guest RAM",
				       (unsigned long long)word_gpa(s.msr));
	if (s.armed && (!(s.msr & VDEV_PVEOI_MSR_ENABLED) || s.vector < 16))
		return vdev_state_fail(r, -ERANGE, "PV-EOI armed with vector %u, MSR 0x%llx",
				       s.vector, (unsigned long long)s.msr);
	if (!s.armed && s.vector)
		s.vector = 0;
	rc = vdev_state_leave(r);
	if (rc)
		return rc;
	p->s = s;
	p->warned = false;
	return 0;
}
