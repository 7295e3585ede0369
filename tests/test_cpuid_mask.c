/* SPDX-License-Identifier: MIT */
/*
 * CPUID masking against a host table (a reduced one, like this machine's
 * KVM reports), the dropped report, enforce, the "host" model, and the
 * migration checks: compare and baseline.
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

struct names {
	char s[64][32];
	char why[64][64];
	int n;
};

static void collect(void *opaque, const char *name, const char *reason)
{
	struct names *nm = opaque;

	if (nm->n < 64) {
		snprintf(nm->s[nm->n], sizeof(nm->s[0]), "%s", name);
		snprintf(nm->why[nm->n], sizeof(nm->why[0]), "%s", reason);
		nm->n++;
	}
}

static void collect2(void *opaque, const char *name)
{
	collect(opaque, name, "");
}

static int find(const struct names *nm, const char *name)
{
	int i;

	for (i = 0; i < nm->n; i++)
		if (!strcmp(nm->s[i], name))
			return i;
	return -1;
}

static vdev_cpuid_table *model(const char *spec)
{
	struct vdev_cpuid_opts o = { .struct_size = sizeof(o), .model = spec };
	vdev_cpuid_table *t = NULL;

	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), 0);
	return t;
}

/* A Haswell host table whose leaf 1 lacks AVX (bit 28) but still says
 * AVX2 in leaf 7: the dependents must go too, each named. */
static vdev_cpuid_table *host_without_avx(uint32_t kvm_eax)
{
	vdev_cpuid_table *h = model("Haswell,-pcid"), *p;
	int len = vdev_cpuid_dump(h, NULL, 0);
	char *buf = malloc((size_t)len + 1), *line;

	assert_non_null(buf);
	vdev_cpuid_dump(h, buf, (size_t)len + 1);
	line = strstr(buf, "\n0x00000001 0x00000000 0x0 ");
	assert_non_null(line);
	/* ECX is the 6th field: rewrite it without bit 28. */
	{
		unsigned int f, i, a, b, c, d;

		assert_int_equal(sscanf(line + 1, "%x %x %x %x %x %x %x", &f, &i, &f, &a, &b, &c,
					&d), 7);
		snprintf(line + 1, 70, "0x00000001 0x00000000 0x0 0x%08x 0x%08x 0x%08x 0x%08x", a,
			 b, c & ~(1u << 28), d);
		line[1 + 69] = '\n';
	}
	line = strstr(buf, "\n0x40000001 0x00000000 0x0 ");
	assert_non_null(line);
	snprintf(line + 1, 70, "0x40000001 0x00000000 0x0 0x%08x 0x00000000 0x00000000 0x00000000",
		 kvm_eax);
	line[1 + 69] = '\n';
	vdev_cpuid_table_free(h);
	assert_int_equal(vdev_cpuid_parse(NULL, buf, (size_t)len, &p), 0);
	free(buf);
	assert_int_equal(vdev_cpuid_table_has(p, "avx"), 0);
	assert_int_equal(vdev_cpuid_table_has(p, "avx2"), 1);
	return p;
}

static void test_mask_reduced_host(void **state)
{
	vdev_cpuid_table *host = host_without_avx(VDEV_CPUID_KVM_CLOCKSOURCE), *t = NULL;
	struct names nm = { 0 };
	struct vdev_cpuid_opts o = { .struct_size = sizeof(o), .model = "Haswell",
				     .host = host, .dropped = collect, .dropped_opaque = &nm };
	static const char *const gone[] = { "pcid", "invpcid", "avx", "avx2", "fma", "f16c",
		"kvm-nopiodelay", "kvmclock2", "kvm-asyncpf", "kvm-steal-time", "kvm-pv-eoi",
		"kvmclock-stable-bit" };
	size_t i;
	struct mock_vmm mv;

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	assert_int_equal(vdev_cpuid_build(mv.ctx, &o, &t), 0);
	/* Exactly these, each reported once, by callback and by the table. */
	assert_int_equal(nm.n, (int)(sizeof(gone) / sizeof(gone[0])));
	for (i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
		int k = find(&nm, gone[i]);

		if (k < 0)
			fail_msg("%s not reported", gone[i]);
		assert_int_equal(vdev_cpuid_table_has(t, gone[i]), 0);
	}
	for (i = 0; vdev_cpuid_table_dropped(t, i); i++)
		assert_true(find(&nm, vdev_cpuid_table_dropped(t, i)) >= 0);
	assert_int_equal(i, nm.n);
	/* The host has AVX2's own bit: it went because it needs AVX. */
	assert_string_equal(nm.why[find(&nm, "avx2")], "needs avx");
	assert_string_equal(nm.why[find(&nm, "avx")], "not supported by the host");
	assert_true(mock_vmm_log_contains(&mv, "host lacks avx"));
	/* What stays is what the host has. */
	assert_int_equal(vdev_cpuid_table_has(t, "sse4_2"), 1);
	assert_int_equal(vdev_cpuid_table_has(t, "kvmclock"), 1);
	assert_int_equal(vdev_cpuid_table_has(t, "xsave"), 1);
	assert_int_equal(vdev_cpuid_compare(t, host, NULL, NULL), 1);
	vdev_cpuid_table_free(t);

	/* Enforce: the same build fails and reports the same bits. */
	memset(&nm, 0, sizeof(nm));
	o.enforce = 1;
	t = (vdev_cpuid_table *)&o;
	assert_int_equal(vdev_cpuid_build(mv.ctx, &o, &t), -ENOTSUP);
	assert_null(t);
	assert_int_equal(nm.n, (int)(sizeof(gone) / sizeof(gone[0])));
	/* Enforce with nothing missing succeeds. */
	o.model = "Haswell,-avx,-pcid";
	o.kvm_features = VDEV_CPUID_KVM_CLOCKSOURCE;
	assert_int_equal(vdev_cpuid_build(mv.ctx, &o, &t), 0);
	assert_null(vdev_cpuid_table_dropped(t, 0));
	vdev_cpuid_table_free(t);
	vdev_cpuid_table_free(host);
	mock_vmm_fini(&mv);
}

static void test_mask_minimal_host(void **state)
{
	/* A host with nothing but a vendor and leaf 1's basics; no KVM leaf:
	 * PV bits are not judged, the hypervisor bit is ours to give. */
	static const char host_txt[] =
		"0x0 0x0 0x0 0x0000000d 0x756e6547 0x6c65746e 0x49656e69\n"
		"0x1 0x0 0x0 0x000306c3 0x00000800 0x00000000 0x078bfbff\n"
		"0x80000001 0x0 0x0 0x0 0x0 0x0 0x20100800\n";
	vdev_cpuid_table *host, *t;
	struct vdev_cpuid_opts o = { .struct_size = sizeof(o), .model = "Skylake-Server" };

	(void)state;
	assert_int_equal(vdev_cpuid_parse(NULL, host_txt, sizeof(host_txt) - 1, &host), 0);
	o.host = host;
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), 0);
	assert_int_equal(vdev_cpuid_table_has(t, "avx512f"), 0);
	assert_int_equal(vdev_cpuid_table_has(t, "pni"), 0);
	assert_int_equal(vdev_cpuid_table_has(t, "sse2"), 1);
	assert_int_equal(vdev_cpuid_table_has(t, "lm"), 1);
	assert_int_equal(vdev_cpuid_table_has(t, "hypervisor"), 1);
	assert_int_equal(vdev_cpuid_table_has(t, "kvm-pv-eoi"), 1);
	assert_true(vdev_cpuid_table_dropped(t, 20) != NULL);
	vdev_cpuid_table_free(t);

	/* "host": the host's own features, vendor and signature. */
	o.model = "host";
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), 0);
	assert_int_equal(vdev_cpuid_table_has(t, "sse2"), 1);
	assert_int_equal(vdev_cpuid_table_has(t, "pni"), 0);
	{
		struct vdev_cpuid_feature_info fi;
		size_t i;

		/* Nothing the host lacks, except what the VMM provides itself
		 * (the hypervisor bit, KVM PV features: this host has no KVM leaf). */
		for (i = 0;; i++) {
			fi.struct_size = sizeof(fi);
			if (vdev_cpuid_feature_get(i, NULL, &fi))
				break;
			if (vdev_cpuid_table_has(t, fi.name) == 1 && strcmp(fi.name, "hypervisor") &&
			    fi.function != 0x40000001)
				assert_int_equal(vdev_cpuid_table_has(host, fi.name), 1);
		}
	}
	vdev_cpuid_table_free(t);
	o.host = NULL;
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), -EINVAL);
	vdev_cpuid_table_free(host);
}

/* This machine's KVM, whatever it offers (it may offer very little). */
static void test_mask_real_kvm(void **state)
{
	vdev_cpuid_table *host = NULL, *t = NULL, *full;
	struct names nm = { 0 };
	struct vdev_cpuid_opts o = { .struct_size = sizeof(o), .model = "Skylake-Server",
				     .dropped = collect, .dropped_opaque = &nm };
	struct vdev_cpuid_feature_info fi;
	size_t i;
	int rc;

	(void)state;
	rc = vdev_cpuid_host_kvm(NULL, &host);
	if (rc == -ENODEV)
		skip();
	assert_int_equal(rc, 0);
	assert_true(vdev_cpuid_entry_count(host) > 0);
	o.host = host;
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), 0);
	full = model("Skylake-Server");
	/* Every model feature is either kept (and the host has it, or it is
	 * the hypervisor bit) or reported dropped. */
	for (i = 0;; i++) {
		fi.struct_size = sizeof(fi);
		if (vdev_cpuid_feature_get(i, NULL, &fi))
			break;
		if (vdev_cpuid_table_has(full, fi.name) != 1)
			continue;
		if (vdev_cpuid_table_has(t, fi.name) == 1)
			assert_true(vdev_cpuid_table_has(host, fi.name) == 1 ||
				    !strcmp(fi.name, "hypervisor"));
		else if (find(&nm, fi.name) < 0)
			fail_msg("%s vanished without a report", fi.name);
	}
	vdev_cpuid_table_free(full);
	vdev_cpuid_table_free(t);
	vdev_cpuid_table_free(host);
}

static void test_compare(void **state)
{
	vdev_cpuid_table *hsw = model("Haswell"), *notsx = model("Haswell-noTSX");
	vdev_cpuid_table *skl = model("Skylake-Client"), *epyc = model("EPYC");
	struct names nm = { 0 };

	(void)state;
	assert_int_equal(vdev_cpuid_compare(hsw, notsx, collect2, &nm), 0);
	assert_int_equal(nm.n, 2);
	assert_true(find(&nm, "hle") >= 0 && find(&nm, "rtm") >= 0);
	assert_int_equal(vdev_cpuid_compare(notsx, hsw, NULL, NULL), 1);
	assert_int_equal(vdev_cpuid_compare(hsw, skl, NULL, NULL), 1);
	memset(&nm, 0, sizeof(nm));
	assert_int_equal(vdev_cpuid_compare(skl, hsw, collect2, &nm), 0);
	assert_int_equal(nm.n, 6);
	assert_true(find(&nm, "xsavec") >= 0 && find(&nm, "smap") >= 0 && find(&nm, "adx") >= 0);
	memset(&nm, 0, sizeof(nm));
	assert_int_equal(vdev_cpuid_compare(notsx, epyc, collect2, &nm), 0);
	assert_true(find(&nm, "vendor") >= 0);
	assert_int_equal(vdev_cpuid_compare(hsw, hsw, NULL, NULL), 1);
	assert_int_equal(vdev_cpuid_compare(NULL, hsw, NULL, NULL), -EINVAL);
	vdev_cpuid_table_free(hsw);
	vdev_cpuid_table_free(notsx);
	vdev_cpuid_table_free(skl);
	vdev_cpuid_table_free(epyc);
}

static void test_baseline(void **state)
{
	static const char *const intel[] = { "Haswell", "Haswell-noTSX", "Skylake-Client",
		"Skylake-Server", "Haswell,-avx", "Skylake-Server,-bmi2,+pdpe1gb" };
	static const char *const amd[] = { "Opteron_G4", "Opteron_G5", "EPYC", "x86-64" };
	vdev_cpuid_table *t[8], *base, *mixed[2];
	struct vdev_cpuid_feature_info fi;
	size_t n, i, f, mask;

	(void)state;
	/* Every subset of 2..n models: the result is exactly the intersection,
	 * and a guest on the baseline can go to every input. */
	for (n = 0; n < 6; n++)
		t[n] = model(intel[n]);
	for (mask = 3; mask < (1u << 6); mask++) {
		const vdev_cpuid_table *in[6];
		size_t k = 0;

		for (i = 0; i < 6; i++)
			if (mask & (1u << i))
				in[k++] = t[i];
		if (k < 2)
			continue;
		assert_int_equal(vdev_cpuid_baseline(NULL, in, k, &base), 0);
		for (i = 0; i < k; i++)
			assert_int_equal(vdev_cpuid_compare(base, in[i], NULL, NULL), 1);
		for (f = 0;; f++) {
			int all = 1;

			fi.struct_size = sizeof(fi);
			if (vdev_cpuid_feature_get(f, NULL, &fi))
				break;
			for (i = 0; i < k; i++)
				all &= vdev_cpuid_table_has(in[i], fi.name) == 1;
			if (vdev_cpuid_table_has(base, fi.name) != all)
				fail_msg("baseline mask %zx: %s", mask, fi.name);
		}
		vdev_cpuid_table_free(base);
	}
	for (n = 0; n < 6; n++)
		vdev_cpuid_table_free(t[n]);

	for (n = 0; n < 4; n++)
		t[n] = model(amd[n]);
	assert_int_equal(vdev_cpuid_baseline(NULL, (const vdev_cpuid_table *const *)t, 3, &base),
			 0);
	/* G4 lacks FMA/F16C, G4/G5 lack AVX2, EPYC lacks FMA4/XOP. */
	assert_int_equal(vdev_cpuid_table_has(base, "avx"), 1);
	assert_int_equal(vdev_cpuid_table_has(base, "fma4"), 0);
	assert_int_equal(vdev_cpuid_table_has(base, "avx2"), 0);
	assert_int_equal(vdev_cpuid_table_has(base, "sse4a"), 1);
	vdev_cpuid_table_free(base);
	/* Mixed vendors, empty input. */
	mixed[0] = t[0];
	mixed[1] = model("Haswell");
	assert_int_equal(vdev_cpuid_baseline(NULL, (const vdev_cpuid_table *const *)mixed, 2,
					     &base), -EINVAL);
	assert_int_equal(vdev_cpuid_baseline(NULL, (const vdev_cpuid_table *const *)mixed, 0,
					     &base), -EINVAL);
	vdev_cpuid_table_free(mixed[1]);
	for (n = 0; n < 4; n++)
		vdev_cpuid_table_free(t[n]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mask_reduced_host),
		cmocka_unit_test(test_mask_minimal_host),
		cmocka_unit_test(test_mask_real_kvm),
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_baseline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
