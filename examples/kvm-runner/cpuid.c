/* SPDX-License-Identifier: MIT */
/*
 * CPUID for the vCPU. Without --cpu the guest sees what
 * KVM_GET_SUPPORTED_CPUID reports for this host (on these machines a
 * reduced set), including KVM's paravirtual leaves (0x40000000
 * "KVMKVMKVM", which SeaBIOS looks for). With --cpu MODEL[,+feat,-feat...]
 * the table comes from libvdev's CPU models (vdev/cpuid.h), masked against
 * the host: every feature the host lacks is dropped and named on stderr.
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
	free(c);
	return rc;
}
