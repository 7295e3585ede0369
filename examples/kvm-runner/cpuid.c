/* SPDX-License-Identifier: MIT */
/*
 * CPUID for the vCPU. Without --cpu the guest sees what
 * KVM_GET_SUPPORTED_CPUID reports for this host (on these machines a
 * reduced set), including KVM's paravirtual leaves (0x40000000
 * "KVMKVMKVM", which SeaBIOS looks for). With --cpu MODEL[,+feat,-feat...]
 * the table comes from libvdev's CPU models (vdev/cpuid.h), masked against
 * the host: every feature the host lacks is dropped and named on stderr,
 * and every register KVM changed on the way in is named too (see
 * report_kvm_changes()).
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "runner.h"

static struct kvm_cpuid2 *host_cpuid(struct vm *vm)
{
	struct kvm_cpuid2 *c = NULL;
	unsigned int nent = 64;

	for (;;) {
		free(c);
		c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		if (!c)
			return NULL;
		c->nent = nent;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		if (errno != E2BIG || nent >= 4096) {
			fprintf(stderr, "vdev-run: KVM_GET_SUPPORTED_CPUID: %s\n", strerror(errno));
			free(c);
			return NULL;
		}
		nent *= 2;
	}
}

static void dropped(void *opaque, const char *name, const char *reason)
{
	fprintf(stderr, "vdev-run: --cpu %s: dropped %s (%s)\n", (const char *)opaque, name,
		reason);
}

/* A libvdev model masked against the host. @return the table or NULL (*rc set). */
static struct kvm_cpuid2 *model_cpuid(struct vm *vm, const char *model, int *rc)
{
	struct vdev_cpuid_opts o;
	vdev_cpuid_table *host = NULL, *t = NULL;
	struct kvm_cpuid2 *c = NULL;
	size_t n;
	int got;

	*rc = vdev_cpuid_host_kvm(vm->ctx, &host);
	if (*rc) {
		fprintf(stderr, "vdev-run: --cpu: host CPUID: %s\n", vdev_strerror(*rc));
		return NULL;
	}
	memset(&o, 0, sizeof(o));
	o.struct_size = sizeof(o);
	o.model = model;
	o.host = host;
	o.dropped = dropped;
	o.dropped_opaque = (void *)model;
	*rc = vdev_cpuid_build(vm->ctx, &o, &t);
	if (*rc) {
		fprintf(stderr, "vdev-run: --cpu %s: %s\n", model, vdev_strerror(*rc));
		goto out;
	}
	n = vdev_cpuid_entry_count(t);
	/* struct vdev_cpuid_entry is laid out like struct kvm_cpuid_entry2. */
	c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
	if (!c) {
		*rc = -ENOMEM;
		goto out;
	}
	got = vdev_cpuid_entries(t, 0, (struct vdev_cpuid_entry *)c->entries, n);
	if (got < 0) {
		*rc = got;
		free(c);
		c = NULL;
		goto out;
	}
	c->nent = (uint32_t)got;
out:
	vdev_cpuid_table_free(t);
	vdev_cpuid_table_free(host);
	return c;
}

static uint32_t entry_reg(const struct kvm_cpuid_entry2 *e, unsigned int r)
{
	return r == 0 ? e->eax : r == 1 ? e->ebx : r == 2 ? e->ecx : e->edx;
}

static const struct kvm_cpuid_entry2 *find_entry(const struct kvm_cpuid2 *c, uint32_t function,
						  uint32_t index)
{
	unsigned int i;

	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == function && c->entries[i].index == index)
			return &c->entries[i];
	return NULL;
}

/*
 * What the guest sees is what KVM keeps, which need not be what
 * KVM_SET_CPUID2 was given: upstream KVM recomputes a few bits from vCPU
 * state when the table is set and later (CPUID.1:EDX.APIC from
 * IA32_APIC_BASE, CPUID.1:ECX.OSXSAVE from CR4, leaf 0xD sizes from XCR0;
 * arch/x86/kvm/cpuid.c), and other implementations of /dev/kvm rewrite more
 * (PVM in native mode, on the machines these tests run on, puts the host's
 * own bits into leaf 1 and replaces leaf 7, so a guest can see a feature the
 * model removed). Read the table back with KVM_GET_CPUID2 and name every
 * register that differs, so the user, and the tests, know what the guest
 * really gets. One line per register (tests/kvm_test.sh reads them):
 *   "vdev-run: --cpu M: KVM changed CPUID 0xFUNC.0xINDEX REG: 0xSET -> 0xGOT"
 * and one per leaf KVM added.
 */
static void report_kvm_changes(const char *model, int vcpu_fd, const struct kvm_cpuid2 *set)
{
	static const char *const regs[4] = { "eax", "ebx", "ecx", "edx" };
	const struct kvm_cpuid_entry2 *a, *b;
	struct kvm_cpuid2 *got = NULL;
	unsigned int nent = set->nent + 16, i, r;
	uint32_t va, vb;

	for (;;) {
		free(got);
		got = calloc(1, sizeof(*got) + nent * sizeof(got->entries[0]));
		if (!got)
			return;
		got->nent = nent;
		if (ioctl(vcpu_fd, KVM_GET_CPUID2, got) == 0)
			break;
		if (errno != E2BIG || nent >= 4096) {
			fprintf(stderr, "vdev-run: --cpu %s: KVM_GET_CPUID2: %s (cannot check what "
				"the guest sees)\n", model, strerror(errno));
			free(got);
			return;
		}
		nent *= 2;
	}
	for (i = 0; i < set->nent; i++) {
		a = &set->entries[i];
		b = find_entry(got, a->function, a->index);
		for (r = 0; r < 4; r++) {
			va = entry_reg(a, r);
			vb = b ? entry_reg(b, r) : 0;
			if (va != vb)
				fprintf(stderr, "vdev-run: --cpu %s: KVM changed CPUID "
					"0x%08x.0x%x %s: 0x%08x -> 0x%08x%s\n", model,
					a->function, a->index, regs[r], va, vb,
					b ? "" : " (leaf dropped)");
		}
	}
	for (i = 0; i < got->nent; i++) {
		b = &got->entries[i];
		if (!find_entry(set, b->function, b->index))
			fprintf(stderr, "vdev-run: --cpu %s: KVM added CPUID 0x%08x.0x%x: "
				"eax 0x%08x ebx 0x%08x ecx 0x%08x edx 0x%08x\n", model,
				b->function, b->index, b->eax, b->ebx, b->ecx, b->edx);
	}
	free(got);
}

_Static_assert(sizeof(struct vdev_cpuid_entry) == sizeof(struct kvm_cpuid_entry2),
	       "vdev_cpuid_entry must match kvm_cpuid_entry2");

int cpuid_setup(struct vm *vm, int vcpu_fd)
{
	struct kvm_cpuid2 *c;
	unsigned int i;
	int rc = -ENOMEM;

	if (vm->opts->cpu_model) {
		c = model_cpuid(vm, vm->opts->cpu_model, &rc);
	} else {
		c = host_cpuid(vm);
		rc = c ? 0 : -EIO;
		/* One vCPU: APIC ID 0, one logical processor per package. */
		for (i = 0; c && i < c->nent; i++)
			if (c->entries[i].function == 1)
				c->entries[i].ebx &= 0x0000ffffu;
	}
	if (!c)
		return rc;
	rc = ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	if (rc)
		fprintf(stderr, "vdev-run: KVM_SET_CPUID2: %s\n", strerror(-rc));
	else if (vm->opts->cpu_model)
		report_kvm_changes(vm->opts->cpu_model, vcpu_fd, c);
	free(c);
	return rc;
}
