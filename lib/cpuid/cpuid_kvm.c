/* SPDX-License-Identifier: MIT */
/*
 * The host's CPUID as KVM supports it (KVM_GET_SUPPORTED_CPUID on the
 * system fd, Linux Documentation/virt/kvm/api.rst 4.46): the only ioctl
 * in lib/cpuid. The ioctl fails with E2BIG until the array is big enough.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cpuid/cpuid_internal.h"

_Static_assert(sizeof(struct vdev_cpuid_entry) == sizeof(struct kvm_cpuid_entry2),
	       "struct vdev_cpuid_entry must match struct kvm_cpuid_entry2");
_Static_assert(offsetof(struct vdev_cpuid_entry, edx) == offsetof(struct kvm_cpuid_entry2, edx),
	       "struct vdev_cpuid_entry must match struct kvm_cpuid_entry2");
_Static_assert(VDEV_CPUID_F_SIGNIFICANT_INDEX == KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
	       "flag values must match KVM's");

#define KVM_MAX_TRY 4096u

int vdev_cpuid_host_kvm(vdev_ctx *ctx, vdev_cpuid_table **out)
{
	struct kvm_cpuid2 *c = NULL;
	vdev_cpuid_table *t;
	uint32_t nent;
	int fd, rc = 0;

	if (!out)
		return -EINVAL;
	*out = NULL;
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		vdev_log(ctx, VDEV_LOG_ERROR, "cpuid: cannot open /dev/kvm: %s", strerror(errno));
		return -ENODEV;
	}
	for (nent = 64; nent <= KVM_MAX_TRY; nent *= 2) {
		free(c);
		c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		if (!c) {
			rc = -ENOMEM;
			break;
		}
		c->nent = nent;
		if (ioctl(fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			rc = 0;
			break;
		}
		rc = -errno;
		if (rc != -E2BIG)
			break;
	}
	close(fd);
	if (rc) {
		vdev_log(ctx, VDEV_LOG_ERROR, "cpuid: KVM_GET_SUPPORTED_CPUID: %s", strerror(-rc));
		free(c);
		return rc;
	}
	t = calloc(1, sizeof(*t));
	if (!t || !(t->e = calloc(c->nent ? c->nent : 1, sizeof(*t->e)))) {
		free(t);
		free(c);
		return -ENOMEM;
	}
	memcpy(t->e, c->entries, c->nent * sizeof(*t->e));
	t->n = c->nent;
	free(c);
	if (vdev__cpuid_sort(t)) {
		vdev_log(ctx, VDEV_LOG_ERROR, "cpuid: KVM reported a leaf twice");
		vdev_cpuid_table_free(t);
		return -EIO;
	}
	vdev__cpuid_decode(t);
	*out = t;
	return 0;
}
