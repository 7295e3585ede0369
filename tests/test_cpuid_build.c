/* SPDX-License-Identifier: MIT */
/*
 * CPUID builder: spec parsing, dependency closure, vendor scoping,
 * signature and brand encoding, XSAVE sizes, KVM and Hyper-V leaves, and
 * the vdev_cpuid_entries() contract.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vdev/vdev.h>

#include "mock_vmm.h"

#define MAXE 256

struct tbl {
	vdev_cpuid_table *t;
	struct vdev_cpuid_entry e[MAXE];
	int n;
};

static int build(struct tbl *b, const char *spec, uint32_t kvm, int hyperv)
{
	struct vdev_cpuid_opts o = { .struct_size = sizeof(o), .model = spec,
				     .kvm_features = kvm, .hyperv = hyperv };
	int rc;

	memset(b, 0, sizeof(*b));
	rc = vdev_cpuid_build(NULL, &o, &b->t);
	if (rc)
		return rc;
	b->n = vdev_cpuid_entries(b->t, 0, b->e, MAXE);
	assert_true(b->n > 0);
	return 0;
}

static void done(struct tbl *b)
{
	vdev_cpuid_table_free(b->t);
	b->t = NULL;
}

static const struct vdev_cpuid_entry *leaf(const struct tbl *b, uint32_t fn, uint32_t idx)
{
	int i;

	for (i = 0; i < b->n; i++)
		if (b->e[i].function == fn && b->e[i].index == idx)
			return &b->e[i];
	return NULL;
}

static int has(const struct tbl *b, const char *f)
{
	return vdev_cpuid_table_has(b->t, f);
}

static void test_dependencies(void **state)
{
	struct tbl b;

	(void)state;
	/* -avx removes everything that needs AVX state, not SSE4.2. */
	assert_int_equal(build(&b, "Haswell,-avx", 0, 0), 0);
	assert_int_equal(has(&b, "avx"), 0);
	assert_int_equal(has(&b, "avx2"), 0);
	assert_int_equal(has(&b, "fma"), 0);
	assert_int_equal(has(&b, "f16c"), 0);
	assert_int_equal(has(&b, "sse4_2"), 1);
	assert_int_equal(has(&b, "xsave"), 1);
	assert_int_equal(leaf(&b, 1, 0)->ecx & (1u << 28), 0);
	assert_int_equal(leaf(&b, 7, 0)->ebx & (1u << 5), 0);
	/* XCR0 is x87|SSE only, the area the 576-byte legacy+header. */
	assert_int_equal(leaf(&b, 0xd, 0)->eax, 0x3);
	assert_int_equal(leaf(&b, 0xd, 0)->ecx, 576);
	assert_null(leaf(&b, 0xd, 2));
	done(&b);

	/* -avx512f removes the whole AVX-512 family and its XSAVE components. */
	assert_int_equal(build(&b, "Skylake-Server,-avx512f", 0, 0), 0);
	assert_int_equal(has(&b, "avx512dq"), 0);
	assert_int_equal(has(&b, "avx512bw"), 0);
	assert_int_equal(has(&b, "avx512vl"), 0);
	assert_int_equal(has(&b, "avx512cd"), 0);
	assert_int_equal(has(&b, "avx2"), 1);
	assert_null(leaf(&b, 0xd, 5));
	done(&b);

	/* -xsave removes AVX and the XSAVE extensions; no leaf 0DH at all. */
	assert_int_equal(build(&b, "Skylake-Client,-xsave", 0, 0), 0);
	assert_int_equal(has(&b, "avx"), 0);
	assert_int_equal(has(&b, "xsaveopt"), 0);
	assert_int_equal(has(&b, "xsavec"), 0);
	assert_null(leaf(&b, 0xd, 0));
	done(&b);

	/* +avx2 on a model without XSAVE pulls in what it needs. */
	assert_int_equal(build(&b, "x86-64,+avx2", 0, 0), 0);
	assert_int_equal(has(&b, "avx2"), 1);
	assert_int_equal(has(&b, "avx"), 1);
	assert_int_equal(has(&b, "xsave"), 1);
	assert_int_equal(leaf(&b, 0xd, 0)->eax, 0x7);
	assert_int_equal(leaf(&b, 0xd, 0)->ecx, 832);
	done(&b);

	/* ... unless the same spec removes it. Order does not matter. */
	assert_int_equal(build(&b, "x86-64,+avx2,-xsave", 0, 0), -EINVAL);
	assert_int_equal(build(&b, "Haswell,-avx,+fma", 0, 0), -EINVAL);
	assert_int_equal(build(&b, "Haswell,-fma,+fma", 0, 0), -EINVAL);
	/* A bare name means +. */
	assert_int_equal(build(&b, "Haswell-noTSX,rtm", 0, 0), 0);
	assert_int_equal(has(&b, "rtm"), 1);
	done(&b);
}

static void test_vendor_scope(void **state)
{
	struct tbl b;
	struct mock_vmm mv;
	struct vdev_cpuid_opts o = { .struct_size = sizeof(o) };
	vdev_cpuid_table *t = NULL;

	(void)state;
	assert_int_equal(build(&b, "Haswell,+fma4", 0, 0), -EINVAL);
	assert_int_equal(build(&b, "Skylake-Server,+xop", 0, 0), -EINVAL);
	assert_int_equal(build(&b, "Haswell,+tbm", 0, 0), -EINVAL);
	assert_int_equal(build(&b, "EPYC,+hle", 0, 0), -EINVAL);
	assert_int_equal(build(&b, "Opteron_G4,+rtm", 0, 0), -EINVAL);
	assert_int_equal(build(&b, "Opteron_G4,+tbm", 0, 0), 0);
	assert_int_equal(has(&b, "tbm"), 1);
	done(&b);
	/* The reason is logged. */
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	o.model = "Haswell,+fma4";
	assert_int_equal(vdev_cpuid_build(mv.ctx, &o, &t), -EINVAL);
	assert_null(t);
	assert_true(mock_vmm_log_contains(&mv, "fma4 is not an Intel feature"));
	mock_vmm_fini(&mv);
}

static void test_bad_specs(void **state)
{
	static const char *const bad[] = { "", ",avx", "Haswell,", "Haswell,,avx", "Haswell,+",
		"Haswell,-", "Nehalem", "Haswell,+no_such_feature", "Haswell ,avx",
		"Haswell,+avx2 ", "haswell-notsx-extra" };
	struct tbl b;
	struct vdev_cpuid_opts o = { .struct_size = sizeof(o), .model = "Haswell" };
	vdev_cpuid_table *t = (vdev_cpuid_table *)&o;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (build(&b, bad[i], 0, 0) != -EINVAL)
			fail_msg("spec \"%s\" accepted", bad[i]);
	/* Model names are case-insensitive. */
	assert_int_equal(build(&b, "haswell-notsx", 0, 0), 0);
	done(&b);
	assert_int_equal(vdev_cpuid_build(NULL, NULL, &t), -EINVAL);
	assert_int_equal(vdev_cpuid_build(NULL, &o, NULL), -EINVAL);
	o.struct_size = 1;
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), -EINVAL);
	/* An old caller that knows only struct_size and model: defaults. */
	o.struct_size = offsetof(struct vdev_cpuid_opts, sockets);
	o.sockets = 99; /* beyond its size: must be ignored */
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), 0);
	assert_int_equal(vdev_cpuid_entries(t, 1, NULL, 0), -EINVAL); /* one vCPU */
	vdev_cpuid_table_free(t);
	/* NULL model = the x86-64 baseline. */
	o.struct_size = sizeof(o);
	o.model = NULL;
	o.sockets = 0;
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), 0);
	assert_int_equal(vdev_cpuid_table_has(t, "sse2"), 1);
	assert_int_equal(vdev_cpuid_table_has(t, "pni"), 0);
	vdev_cpuid_table_free(t);
}

static void brand_of(const struct tbl *b, char out[49])
{
	uint32_t i;

	for (i = 0; i < 3; i++) {
		const struct vdev_cpuid_entry *e = leaf(b, 0x80000002 + i, 0);

		memcpy(out + 16 * i, &e->eax, 4);
		memcpy(out + 16 * i + 4, &e->ebx, 4);
		memcpy(out + 16 * i + 8, &e->ecx, 4);
		memcpy(out + 16 * i + 12, &e->edx, 4);
	}
	out[48] = 0;
}

static void test_signature_vendor_brand(void **state)
{
	/* SDM vol. 2A, figure 3-6 "Version Information Returned by CPUID in EAX":
	 * stepping [3:0], model [7:4], family [11:8], ext. model [19:16],
	 * ext. family [27:20]; family 0FH adds the extended family (AMD
	 * family 15h = 0FH + 06H, 17h = 0FH + 08H). */
	static const struct {
		const char *model;
		uint32_t eax;
		const char *vendor, *brand;
	} want[] = {
		{ "Haswell", 0x000306c4, "GenuineIntel", "Intel Core Processor (Haswell)" },
		{ "Skylake-Server", 0x00050654, "GenuineIntel", "Intel Xeon Processor (Skylake)" },
		{ "Opteron_G4", 0x00600f12, "AuthenticAMD", "AMD Opteron 62xx class CPU" },
		{ "Opteron_G5", 0x00600f20, "AuthenticAMD", "AMD Opteron 63xx class CPU" },
		{ "EPYC", 0x00800f12, "AuthenticAMD", "AMD EPYC Processor" },
		{ "x86-64", 0x00060fb1, "AuthenticAMD", "libvdev x86-64 baseline CPU" },
	};
	struct tbl b;
	char vendor[13], brand[49];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct vdev_cpuid_entry *e;

		assert_int_equal(build(&b, want[i].model, 0, 0), 0);
		e = leaf(&b, 1, 0);
		assert_int_equal(e->eax, want[i].eax);
		e = leaf(&b, 0, 0);
		memcpy(vendor, &e->ebx, 4);
		memcpy(vendor + 4, &e->edx, 4);
		memcpy(vendor + 8, &e->ecx, 4);
		vendor[12] = 0;
		assert_string_equal(vendor, want[i].vendor);
		brand_of(&b, brand);
		assert_string_equal(brand, want[i].brand);
		e = leaf(&b, 0x80000001, 0);
		if (want[i].vendor[0] == 'A') {
			/* AMD: Fn8000_0001_EAX repeats the signature; EDX mirrors leaf 1's
			 * x87..PSE36/MMX/FXSR bits (APM E.4.2). */
			assert_int_equal(e->eax, want[i].eax);
			assert_int_equal(e->edx & 0x0183f3ffu, leaf(&b, 1, 0)->edx & 0x0183f3ffu);
			assert_int_equal(leaf(&b, 0x80000000, 0)->ebx, leaf(&b, 0, 0)->ebx);
		} else {
			assert_int_equal(e->eax, 0);
			assert_int_equal(e->edx & 0x0183f3ffu, 0);
		}
		/* Extended leaves reach at least 80000008H. */
		assert_true(leaf(&b, 0x80000000, 0)->eax >= 0x80000008);
		done(&b);
	}
}

static void test_xsave_sizes(void **state)
{
	struct tbl b;
	const struct vdev_cpuid_entry *e;

	(void)state;
	/* SDM vol. 1, 13.4 / 13.5: legacy region 512 bytes + header 64 = 576;
	 * AVX (component 2) 256 bytes at 576 -> 832. */
	assert_int_equal(build(&b, "Haswell", 0, 0), 0);
	e = leaf(&b, 0xd, 0);
	assert_int_equal(e->eax, 0x7);
	assert_int_equal(e->ebx, 832);
	assert_int_equal(e->ecx, 832);
	assert_int_equal(e->edx, 0);
	assert_int_equal(leaf(&b, 0xd, 2)->eax, 256);
	assert_int_equal(leaf(&b, 0xd, 2)->ebx, 576);
	assert_int_equal(leaf(&b, 0xd, 1)->eax, 0x1); /* xsaveopt only */
	assert_null(leaf(&b, 0xd, 5));
	done(&b);

	/* Skylake-Server: opmask 64 @1088, ZMM_Hi256 512 @1152, Hi16_ZMM 1024
	 * @1664, PKRU 8 @2688 -> 2696 bytes; XCR0 = 0x2e7. */
	assert_int_equal(build(&b, "Skylake-Server", 0, 0), 0);
	e = leaf(&b, 0xd, 0);
	assert_int_equal(e->eax, 0x2e7);
	assert_int_equal(e->ecx, 2696);
	assert_int_equal(leaf(&b, 0xd, 5)->eax, 64);
	assert_int_equal(leaf(&b, 0xd, 5)->ebx, 1088);
	assert_int_equal(leaf(&b, 0xd, 6)->eax, 512);
	assert_int_equal(leaf(&b, 0xd, 6)->ebx, 1152);
	assert_int_equal(leaf(&b, 0xd, 7)->eax, 1024);
	assert_int_equal(leaf(&b, 0xd, 7)->ebx, 1664);
	assert_int_equal(leaf(&b, 0xd, 9)->eax, 8);
	assert_int_equal(leaf(&b, 0xd, 9)->ebx, 2688);
	assert_null(leaf(&b, 0xd, 3)); /* no MPX */
	/* Every component's [offset, offset+size) lies inside ECX and none overlap. */
	{
		uint32_t i, j;

		for (i = 2; i < 32; i++) {
			const struct vdev_cpuid_entry *a = leaf(&b, 0xd, i);

			assert_int_equal(!!a, !!(e->eax & (1u << i)));
			if (!a)
				continue;
			assert_true(a->ebx >= 576 && a->ebx + a->eax <= e->ecx);
			assert_true(a->flags & VDEV_CPUID_F_SIGNIFICANT_INDEX);
			for (j = i + 1; j < 32; j++) {
				const struct vdev_cpuid_entry *c = leaf(&b, 0xd, j);

				if (c)
					assert_true(a->ebx + a->eax <= c->ebx);
			}
		}
	}
	/* xsavec, xgetbv1; no xsaves -> subleaf 1 EBX 0. */
	assert_int_equal(leaf(&b, 0xd, 1)->eax, 0x7);
	assert_int_equal(leaf(&b, 0xd, 1)->ebx, 0);
	done(&b);

	/* +xsaves: EBX = compacted size of the enabled user components. */
	assert_int_equal(build(&b, "Skylake-Client,+xsaves", 0, 0), 0);
	assert_int_equal(leaf(&b, 0xd, 1)->eax, 0xf);
	assert_int_equal(leaf(&b, 0xd, 1)->ebx, 832);
	done(&b);
	/* AMD with AVX: the same layout. */
	assert_int_equal(build(&b, "Opteron_G5", 0, 0), 0);
	assert_int_equal(leaf(&b, 0xd, 0)->ecx, 832);
	done(&b);
}

static void test_kvm_leaves(void **state)
{
	struct tbl b;
	const struct vdev_cpuid_entry *e;

	(void)state;
	assert_int_equal(build(&b, "Haswell", 0, 0), 0);
	e = leaf(&b, 0x40000000, 0);
	assert_non_null(e);
	assert_int_equal(e->eax, 0x40000001);
	assert_memory_equal(&e->ebx, "KVMK", 4);
	assert_memory_equal(&e->ecx, "VMKV", 4);
	assert_int_equal(e->edx, 0x4d);
	assert_int_equal(leaf(&b, 0x40000001, 0)->eax, VDEV_CPUID_KVM_DEFAULT);
	assert_true(leaf(&b, 0x40000001, 0)->eax & (1u << 6)); /* PV-EOI by default */
	assert_int_equal(has(&b, "kvm-pv-eoi"), 1);
	/* The hypervisor-present bit (CPUID.1:ECX[31]). */
	assert_true(leaf(&b, 1, 0)->ecx & (1u << 31));
	done(&b);

	assert_int_equal(build(&b, "Haswell", VDEV_CPUID_KVM_PV_EOI, 0), 0);
	assert_int_equal(leaf(&b, 0x40000001, 0)->eax, 1u << 6);
	done(&b);
	assert_int_equal(build(&b, "Haswell,-kvm-pv-eoi,+kvm-pv-unhalt", 0, 0), 0);
	assert_int_equal(leaf(&b, 0x40000001, 0)->eax,
			 (VDEV_CPUID_KVM_DEFAULT & ~(1u << 6)) | (1u << 7));
	done(&b);
	/* +kvm-asyncpf-int pulls kvm-asyncpf in. */
	assert_int_equal(build(&b, "Haswell,+kvm-asyncpf-int", VDEV_CPUID_KVM_PV_EOI, 0), 0);
	assert_int_equal(leaf(&b, 0x40000001, 0)->eax, (1u << 6) | (1u << 4) | (1u << 14));
	done(&b);
	assert_int_equal(build(&b, "Haswell", VDEV_CPUID_KVM_NONE, 0), 0);
	assert_null(leaf(&b, 0x40000000, 0));
	assert_int_equal(has(&b, "kvm-pv-eoi"), 0);
	done(&b);
	/* A bit the registry does not know. */
	assert_int_equal(build(&b, "Haswell", 1u << 30, 0), -EINVAL);
	assert_int_equal(build(&b, "Haswell", 1u << 8, 0), -EINVAL);
}

static void test_hyperv_leaves(void **state)
{
	struct vdev_cpuid_opts o = { .struct_size = sizeof(o), .model = "Skylake-Client",
				     .sockets = 2, .cores = 3, .hyperv = 1 };
	vdev_cpuid_table *t;
	struct tbl b = { 0 };
	const struct vdev_cpuid_entry *e;

	(void)state;
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), 0);
	b.t = t;
	b.n = vdev_cpuid_entries(t, 5, b.e, MAXE);
	assert_true(b.n > 0);
	e = leaf(&b, 0x40000000, 0);
	assert_true(e->eax >= 0x40000005); /* TLFS: at least up to the limits leaf */
	assert_memory_equal(&e->ebx, "Micr", 4);
	assert_memory_equal(&e->ecx, "osof", 4);
	assert_memory_equal(&e->edx, "t Hv", 4);
	assert_memory_equal(&leaf(&b, 0x40000001, 0)->eax, "Hv#1", 4);
	e = leaf(&b, 0x40000003, 0);
	/* Partition reference counter (1), hypercall MSRs (5), VP index (6),
	 * reference TSC (9) (HV_PARTITION_PRIVILEGE_MASK). */
	assert_int_equal(e->eax & 0x262, 0x262);
	assert_true(leaf(&b, 0x40000004, 0)->eax & (1u << 5)); /* relaxed timing */
	assert_int_equal(leaf(&b, 0x40000005, 0)->eax, 6);    /* max virtual processors */
	/* KVM moves to 0x40000100 and still carries PV-EOI. */
	e = leaf(&b, 0x40000100, 0);
	assert_non_null(e);
	assert_int_equal(e->eax, 0x40000101);
	assert_memory_equal(&e->ebx, "KVMK", 4);
	assert_true(leaf(&b, 0x40000101, 0)->eax & VDEV_CPUID_KVM_PV_EOI);
	assert_int_equal(has(&b, "kvm-pv-eoi"), 1);
	vdev_cpuid_table_free(t);
	/* Without hyperv there is no Hyper-V leaf. */
	o.hyperv = 0;
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), 0);
	b.t = t;
	b.n = vdev_cpuid_entries(t, 0, b.e, MAXE);
	assert_null(leaf(&b, 0x40000003, 0));
	assert_null(leaf(&b, 0x40000100, 0));
	vdev_cpuid_table_free(t);
}

static void test_entries_contract(void **state)
{
	struct vdev_cpuid_opts o = { .struct_size = sizeof(o), .model = "EPYC", .cores = 2 };
	struct vdev_cpuid_entry *e;
	vdev_cpuid_table *t;
	size_t n, i;

	(void)state;
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), 0);
	n = vdev_cpuid_entry_count(t);
	assert_true(n > 10);
	e = calloc(n + 1, sizeof(*e));
	assert_non_null(e);
	assert_int_equal(vdev_cpuid_entries(t, 0, NULL, 0), -ENOSPC);
	assert_int_equal(vdev_cpuid_entries(t, 0, e, n - 1), -ENOSPC);
	assert_int_equal(vdev_cpuid_entries(t, 0, NULL, 5), -EINVAL);
	assert_int_equal(vdev_cpuid_entries(NULL, 0, e, n), -EINVAL);
	assert_int_equal(vdev_cpuid_entries(t, 2, e, n), -EINVAL); /* only vCPUs 0 and 1 */
	assert_int_equal(vdev_cpuid_entries(t, 1, e, n + 1), (int)n);
	/* Sorted, unique, padding zero, leaves with subleaves flagged. */
	for (i = 0; i < n; i++) {
		assert_int_equal(e[i].padding[0] | e[i].padding[1] | e[i].padding[2], 0);
		if (i)
			assert_true(e[i - 1].function < e[i].function ||
				    (e[i - 1].function == e[i].function &&
				     e[i - 1].index < e[i].index));
		if (e[i].function == 4 || e[i].function == 7 || e[i].function == 0xb ||
		    e[i].function == 0xd || e[i].function == 0x8000001d)
			assert_true(e[i].flags & VDEV_CPUID_F_SIGNIFICANT_INDEX);
	}
	assert_int_equal(vdev_cpuid_entry_count(NULL), 0);
	assert_null(vdev_cpuid_table_dropped(t, 0));
	assert_null(vdev_cpuid_table_dropped(NULL, 0));
	free(e);
	vdev_cpuid_table_free(t);
	vdev_cpuid_table_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dependencies),
		cmocka_unit_test(test_vendor_scope),
		cmocka_unit_test(test_bad_specs),
		cmocka_unit_test(test_signature_vendor_brand),
		cmocka_unit_test(test_xsave_sizes),
		cmocka_unit_test(test_kvm_leaves),
		cmocka_unit_test(test_hyperv_leaves),
		cmocka_unit_test(test_entries_contract),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
