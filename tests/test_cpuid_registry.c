/* SPDX-License-Identifier: MIT */
/*
 * CPUID registry: the entry layout matches KVM's, every feature sits at
 * the leaf/register/bit the manuals give, names are unique, dependencies
 * resolve, and every model is vendor-valid and dependency-closed.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <vdev/vdev.h>

#include "cpuid/cpuid_internal.h"

/* struct vdev_cpuid_entry is copied into struct kvm_cpuid2 as is. */
_Static_assert(sizeof(struct vdev_cpuid_entry) == 40, "size");
_Static_assert(sizeof(struct vdev_cpuid_entry) == sizeof(struct kvm_cpuid_entry2), "size");
#define SAME_OFF(f) \
	_Static_assert(offsetof(struct vdev_cpuid_entry, f) == \
		       offsetof(struct kvm_cpuid_entry2, f), #f)
SAME_OFF(function);
SAME_OFF(index);
SAME_OFF(flags);
SAME_OFF(eax);
SAME_OFF(ebx);
SAME_OFF(ecx);
SAME_OFF(edx);
SAME_OFF(padding);
_Static_assert(VDEV_CPUID_F_SIGNIFICANT_INDEX == KVM_CPUID_FLAG_SIGNIFCANT_INDEX, "flag");

struct pos {
	const char *name;
	uint32_t function, index, reg, bit;
};

#define EAX VDEV_CPUID_EAX
#define EBX VDEV_CPUID_EBX
#define ECX VDEV_CPUID_ECX
#define EDX VDEV_CPUID_EDX

/* Expected positions, written from the manuals (not from the registry). */
static const struct pos positions[] = {
	/* Intel SDM vol. 2A, CPUID, table 3-11 "Feature Information in EDX" */
	{ "fpu", 1, 0, EDX, 0 },   { "vme", 1, 0, EDX, 1 },    { "tsc", 1, 0, EDX, 4 },
	{ "pae", 1, 0, EDX, 6 },   { "cx8", 1, 0, EDX, 8 },    { "apic", 1, 0, EDX, 9 },
	{ "sep", 1, 0, EDX, 11 },  { "cmov", 1, 0, EDX, 15 },  { "pat", 1, 0, EDX, 16 },
	{ "clflush", 1, 0, EDX, 19 }, { "mmx", 1, 0, EDX, 23 }, { "fxsr", 1, 0, EDX, 24 },
	{ "sse", 1, 0, EDX, 25 },  { "sse2", 1, 0, EDX, 26 },
	/* table 3-10 "Feature Information in ECX" */
	{ "pni", 1, 0, ECX, 0 },   { "pclmulqdq", 1, 0, ECX, 1 }, { "monitor", 1, 0, ECX, 3 },
	{ "vmx", 1, 0, ECX, 5 },   { "ssse3", 1, 0, ECX, 9 },  { "fma", 1, 0, ECX, 12 },
	{ "cx16", 1, 0, ECX, 13 }, { "pcid", 1, 0, ECX, 17 },  { "sse4_1", 1, 0, ECX, 19 },
	{ "sse4_2", 1, 0, ECX, 20 }, { "x2apic", 1, 0, ECX, 21 }, { "movbe", 1, 0, ECX, 22 },
	{ "popcnt", 1, 0, ECX, 23 }, { "tsc_deadline_timer", 1, 0, ECX, 24 },
	{ "aes", 1, 0, ECX, 25 },  { "xsave", 1, 0, ECX, 26 }, { "avx", 1, 0, ECX, 28 },
	{ "f16c", 1, 0, ECX, 29 }, { "rdrand", 1, 0, ECX, 30 }, { "hypervisor", 1, 0, ECX, 31 },
	/* leaf 06H EAX */
	{ "arat", 6, 0, EAX, 2 },
	/* leaf 07H subleaf 0 EBX/ECX/EDX */
	{ "fsgsbase", 7, 0, EBX, 0 }, { "bmi1", 7, 0, EBX, 3 }, { "hle", 7, 0, EBX, 4 },
	{ "avx2", 7, 0, EBX, 5 },  { "smep", 7, 0, EBX, 7 },   { "bmi2", 7, 0, EBX, 8 },
	{ "erms", 7, 0, EBX, 9 },  { "invpcid", 7, 0, EBX, 10 }, { "rtm", 7, 0, EBX, 11 },
	{ "avx512f", 7, 0, EBX, 16 }, { "avx512dq", 7, 0, EBX, 17 }, { "rdseed", 7, 0, EBX, 18 },
	{ "adx", 7, 0, EBX, 19 },  { "smap", 7, 0, EBX, 20 },  { "clflushopt", 7, 0, EBX, 23 },
	{ "clwb", 7, 0, EBX, 24 }, { "avx512cd", 7, 0, EBX, 28 }, { "sha_ni", 7, 0, EBX, 29 },
	{ "avx512bw", 7, 0, EBX, 30 }, { "avx512vl", 7, 0, EBX, 31 },
	{ "avx512vbmi", 7, 0, ECX, 1 }, { "umip", 7, 0, ECX, 2 }, { "pku", 7, 0, ECX, 3 },
	{ "gfni", 7, 0, ECX, 8 },  { "vaes", 7, 0, ECX, 9 },   { "vpclmulqdq", 7, 0, ECX, 10 },
	{ "la57", 7, 0, ECX, 16 }, { "rdpid", 7, 0, ECX, 22 },
	{ "md_clear", 7, 0, EDX, 10 }, { "spec_ctrl", 7, 0, EDX, 26 },
	{ "arch_capabilities", 7, 0, EDX, 29 }, { "ssbd", 7, 0, EDX, 31 },
	/* leaf 07H subleaf 1 EAX */
	{ "avx_vnni", 7, 1, EAX, 4 }, { "avx512_bf16", 7, 1, EAX, 5 },
	/* leaf 0DH subleaf 1 EAX (SDM vol. 1, 13.2) */
	{ "xsaveopt", 0xd, 1, EAX, 0 }, { "xsavec", 0xd, 1, EAX, 1 },
	{ "xgetbv1", 0xd, 1, EAX, 2 }, { "xsaves", 0xd, 1, EAX, 3 },
	/* leaf 80000001H EDX/ECX (SDM; AMD APM vol. 3, E.4.2 Fn8000_0001) */
	{ "syscall", 0x80000001, 0, EDX, 11 }, { "nx", 0x80000001, 0, EDX, 20 },
	{ "mmxext", 0x80000001, 0, EDX, 22 }, { "fxsr_opt", 0x80000001, 0, EDX, 25 },
	{ "pdpe1gb", 0x80000001, 0, EDX, 26 }, { "rdtscp", 0x80000001, 0, EDX, 27 },
	{ "lm", 0x80000001, 0, EDX, 29 }, { "3dnow", 0x80000001, 0, EDX, 31 },
	{ "lahf_lm", 0x80000001, 0, ECX, 0 }, { "svm", 0x80000001, 0, ECX, 2 },
	{ "abm", 0x80000001, 0, ECX, 5 }, { "sse4a", 0x80000001, 0, ECX, 6 },
	{ "misalignsse", 0x80000001, 0, ECX, 7 }, { "3dnowprefetch", 0x80000001, 0, ECX, 8 },
	{ "xop", 0x80000001, 0, ECX, 11 }, { "fma4", 0x80000001, 0, ECX, 16 },
	{ "tbm", 0x80000001, 0, ECX, 21 }, { "topoext", 0x80000001, 0, ECX, 22 },
	/* APM E.4.7 Fn8000_0008_EBX */
	{ "clzero", 0x80000008, 0, EBX, 0 }, { "wbnoinvd", 0x80000008, 0, EBX, 9 },
	/* KVM: Documentation/virt/kvm/x86/cpuid.rst */
	{ "kvmclock", 0x40000001, 0, EAX, 0 }, { "kvmclock2", 0x40000001, 0, EAX, 3 },
	{ "kvm-asyncpf", 0x40000001, 0, EAX, 4 }, { "kvm-steal-time", 0x40000001, 0, EAX, 5 },
	{ "kvm-pv-eoi", 0x40000001, 0, EAX, 6 }, { "kvm-pv-unhalt", 0x40000001, 0, EAX, 7 },
	{ "kvmclock-stable-bit", 0x40000001, 0, EAX, 24 },
};

static void test_positions(void **state)
{
	struct vdev_cpuid_feature_info fi;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(positions) / sizeof(positions[0]); i++) {
		const struct pos *p = &positions[i];

		fi.struct_size = sizeof(fi);
		if (vdev_cpuid_feature_get(0, p->name, &fi) != 0)
			fail_msg("feature %s not in the registry", p->name);
		if (fi.function != p->function || fi.index != p->index || fi.reg != p->reg ||
		    fi.bit != p->bit)
			fail_msg("%s: got leaf %#x.%u reg %u bit %u, manual says %#x.%u reg %u bit %u",
				 p->name, fi.function, fi.index, fi.reg, fi.bit, p->function,
				 p->index, p->reg, p->bit);
	}
	/* KVM PV bit constants agree with the registry. */
	fi.struct_size = sizeof(fi);
	assert_int_equal(vdev_cpuid_feature_get(0, "kvm-pv-eoi", &fi), 0);
	assert_int_equal(1u << fi.bit, VDEV_CPUID_KVM_PV_EOI);
}

static void test_aliases_and_lookup(void **state)
{
	struct vdev_cpuid_feature_info fi = { .struct_size = sizeof(fi) };

	(void)state;
	/* QEMU's spellings resolve to the /proc/cpuinfo name. */
	assert_int_equal(vdev_cpuid_feature_get(0, "sse4.1", &fi), 0);
	assert_string_equal(fi.name, "sse4_1");
	assert_int_equal(vdev_cpuid_feature_get(0, "sse3", &fi), 0);
	assert_string_equal(fi.name, "pni");
	assert_int_equal(vdev_cpuid_feature_get(0, "tsc-deadline", &fi), 0);
	assert_string_equal(fi.name, "tsc_deadline_timer");
	assert_int_equal(vdev_cpuid_feature_get(0, "no-such-feature", &fi), -ENOENT);
	assert_int_equal(vdev_cpuid_feature_get(100000, NULL, &fi), -ENOENT);
	assert_int_equal(vdev_cpuid_feature_get(0, NULL, NULL), -EINVAL);
	fi.struct_size = 0;
	assert_int_equal(vdev_cpuid_feature_get(0, NULL, &fi), -EINVAL);
	/* A caller with an older, shorter struct gets only what it has room for. */
	{
		struct {
			size_t struct_size;
			const char *name;
			const char *canary;
		} small = { offsetof(struct vdev_cpuid_feature_info, alias), NULL, "keep" };

		assert_int_equal(vdev_cpuid_feature_get(0, "fpu", (void *)&small), 0);
		assert_string_equal(small.name, "fpu");
		assert_string_equal(small.canary, "keep");
	}
}

static void test_registry_consistent(void **state)
{
	size_t i, j, d;

	(void)state;
	for (i = 0; i < vdev__cpuid_nfeats; i++) {
		const struct vdev__cpuid_feat *f = &vdev__cpuid_feats[i];

		assert_true(f->bit < 32);
		assert_true(f->vendors != 0);
		for (d = 0; d < VDEV__CPUID_MAX_DEPS; d++)
			if (f->deps[d] && vdev__cpuid_feat_find(f->deps[d], strlen(f->deps[d])) < 0)
				fail_msg("%s needs unknown %s", f->name, f->deps[d]);
		for (j = i + 1; j < vdev__cpuid_nfeats; j++) {
			const struct vdev__cpuid_feat *g = &vdev__cpuid_feats[j];

			if (!strcasecmp(f->name, g->name) ||
			    (f->alias && !strcasecmp(f->alias, g->name)) ||
			    (g->alias && !strcasecmp(g->alias, f->name)) ||
			    (f->alias && g->alias && !strcasecmp(f->alias, g->alias)))
				fail_msg("name clash: %s / %s", f->name, g->name);
			if (f->function == g->function && f->index == g->index &&
			    f->reg == g->reg && f->bit == g->bit)
				fail_msg("%s and %s share a bit", f->name, g->name);
		}
	}
}

static void test_models(void **state)
{
	struct vdev_cpuid_model_info mi;
	size_t i, n = 0;
	const char *want[] = { "x86-64", "Haswell", "Haswell-noTSX", "Skylake-Client",
			       "Skylake-Server", "Opteron_G4", "Opteron_G5", "EPYC" };

	(void)state;
	for (i = 0;; i++) {
		struct vdev__cpuid_cpu cpu;
		struct vdev__cpuid_fset closed;
		const struct vdev__cpuid_model *m;
		size_t f;

		mi.struct_size = sizeof(mi);
		if (vdev_cpuid_model_get(i, &mi) == -ENOENT)
			break;
		n++;
		assert_non_null(mi.name);
		assert_non_null(mi.description);
		assert_true(mi.version >= 1);
		assert_true(!strcmp(mi.vendor, "GenuineIntel") || !strcmp(mi.vendor, "AuthenticAMD"));
		m = vdev__cpuid_model_find(mi.name, strlen(mi.name));
		assert_non_null(m);
		assert_int_equal(vdev__cpuid_model_cpu(NULL, m, &cpu), 0);
		/* Dependency-closed: closing it changes nothing either way. */
		closed = cpu.feat;
		vdev__cpuid_close_deps(&closed);
		assert_memory_equal(&closed, &cpu.feat, sizeof(closed));
		vdev__cpuid_close_dependents(&closed);
		assert_memory_equal(&closed, &cpu.feat, sizeof(closed));
		for (f = 0; f < vdev__cpuid_nfeats; f++)
			if (vdev__fset_has(&cpu.feat, f) &&
			    !(vdev__cpuid_feats[f].vendors & cpu.vendor))
				fail_msg("%s has the other vendor's %s", mi.name,
					 vdev__cpuid_feats[f].name);
	}
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < n; i++) {
		mi.struct_size = sizeof(mi);
		assert_int_equal(vdev_cpuid_model_get(i, &mi), 0);
		assert_string_equal(mi.name, want[i]);
	}
	assert_int_equal(vdev_cpuid_model_get(0, NULL), -EINVAL);
}

/* The issue's lists: Haswell and Opteron G5 carry exactly these. */
static void test_issue_feature_lists(void **state)
{
	static const char *const haswell[] = { "avx2", "bmi1", "bmi2", "hle", "rtm", "pcid",
		"invpcid", "fma", "movbe", "fsgsbase", "smep", "erms" };
	static const char *const g5[] = { "f16c", "tbm", "bmi1", "fma", "fma4", "xop" };
	struct vdev_cpuid_opts o = { .struct_size = sizeof(o) };
	vdev_cpuid_table *t;
	size_t i;

	(void)state;
	o.model = "Haswell";
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), 0);
	for (i = 0; i < sizeof(haswell) / sizeof(haswell[0]); i++)
		assert_int_equal(vdev_cpuid_table_has(t, haswell[i]), 1);
	vdev_cpuid_table_free(t);
	o.model = "Haswell-noTSX";
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), 0);
	assert_int_equal(vdev_cpuid_table_has(t, "hle"), 0);
	assert_int_equal(vdev_cpuid_table_has(t, "rtm"), 0);
	assert_int_equal(vdev_cpuid_table_has(t, "avx2"), 1);
	assert_int_equal(vdev_cpuid_table_has(t, "bogus"), -EINVAL);
	vdev_cpuid_table_free(t);
	o.model = "Opteron_G5";
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), 0);
	for (i = 0; i < sizeof(g5) / sizeof(g5[0]); i++)
		assert_int_equal(vdev_cpuid_table_has(t, g5[i]), 1);
	vdev_cpuid_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_positions),
		cmocka_unit_test(test_aliases_and_lookup),
		cmocka_unit_test(test_registry_consistent),
		cmocka_unit_test(test_models),
		cmocka_unit_test(test_issue_feature_lists),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
