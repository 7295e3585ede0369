/* SPDX-License-Identifier: MIT */
/*
 * Migration safety: a guest may only move to a table that offers every
 * feature it may already have seen (it probed CPUID once at boot and
 * uses what it found), on the same vendor (errata paths, MSR sets and
 * vendor-specific leaves differ).
 */
#include <errno.h>

#include "cpuid/cpuid_internal.h"

int vdev_cpuid_compare(const vdev_cpuid_table *a, const vdev_cpuid_table *b,
		       void (*lacking)(void *opaque, const char *name), void *opaque)
{
	int safe = 1;
	size_t i;

	if (!a || !b)
		return -EINVAL;
	if (a->vendor != b->vendor) {
		safe = 0;
		if (lacking)
			lacking(opaque, "vendor");
	}
	for (i = 0; i < vdev__cpuid_nfeats; i++) {
		if (!vdev__fset_has(&a->feat, i) || vdev__fset_has(&b->feat, i))
			continue;
		safe = 0;
		if (lacking)
			lacking(opaque, vdev__cpuid_feats[i].name);
	}
	return safe;
}
