/* SPDX-License-Identifier: MIT */
/*
 * The feature registry: every feature name <-> (leaf, subleaf, register,
 * bit), the vendors that define it, and what it needs.
 *
 * Positions: Intel SDM vol. 2A, CPUID instruction (tables 3-8, 3-10,
 * 3-11 and the leaf 07H/0DH/80000001H/80000008H descriptions); AMD APM
 * vol. 3, appendix E ("Obtaining Processor Information Via the CPUID
 * Instruction"); KVM PV bits: Linux Documentation/virt/kvm/x86/cpuid.rst.
 * Names: the spellings Linux prints in /proc/cpuinfo; the alias is QEMU's
 * where it differs.
 *
 * Dependencies follow from the architecture: VEX/EVEX state needs XSAVE
 * and the matching XCR0 components (SDM vol. 1, 13.2 and 14.3), so avx
 * needs xsave, avx2/fma/f16c need avx, the AVX-512 extensions need
 * avx512f (state components 5-7); the SSE generations build on each other.
 */
#include <errno.h>
#include <string.h>

#include "cpuid/cpuid_internal.h"

#define I_ VDEV_CPUID_VENDOR_INTEL
#define A_ VDEV_CPUID_VENDOR_AMD
#define B_ (VDEV_CPUID_VENDOR_INTEL | VDEV_CPUID_VENDOR_AMD)
#define EMUL VDEV__CPUID_FF_EMUL
#define KVM VDEV__CPUID_FF_KVM

#define FEAT(n, a, fn, idx, r, b, v, fl, d0, d1, d2)                                        \
	{ .name = n, .alias = a, .function = fn, .index = idx, .reg = VDEV_CPUID_##r,         \
	  .bit = b, .vendors = v, .flags = fl, .deps = { d0, d1, d2 } }
/* Shorthands per (leaf, register); the optional dependencies come last. */
#define L1D(n, a, b, v, d0, d1) FEAT(n, a, 0x1, 0, EDX, b, v, 0, d0, d1, NULL)
#define L1C(n, a, b, v, d0, d1) FEAT(n, a, 0x1, 0, ECX, b, v, 0, d0, d1, NULL)
#define L7B(n, a, b, v, d0, d1) FEAT(n, a, 0x7, 0, EBX, b, v, 0, d0, d1, NULL)
#define L7C(n, a, b, v, d0, d1) FEAT(n, a, 0x7, 0, ECX, b, v, 0, d0, d1, NULL)
#define L7D(n, a, b, v, d0, d1) FEAT(n, a, 0x7, 0, EDX, b, v, 0, d0, d1, NULL)
#define X1D(n, a, b, v, d0, d1) FEAT(n, a, 0x80000001, 0, EDX, b, v, 0, d0, d1, NULL)
#define X1C(n, a, b, v, d0, d1) FEAT(n, a, 0x80000001, 0, ECX, b, v, 0, d0, d1, NULL)
#define X8B(n, a, b, v, d0, d1) FEAT(n, a, 0x80000008, 0, EBX, b, v, 0, d0, d1, NULL)
#define PVK(n, b, d0) FEAT(n, NULL, 0x40000001, 0, EAX, b, B_, KVM, d0, NULL, NULL)

const struct vdev__cpuid_feat vdev__cpuid_feats[] = {
	/* CPUID.01H:EDX (SDM table 3-11) */
	L1D("fpu", NULL, 0, B_, NULL, NULL),
	L1D("vme", NULL, 1, B_, NULL, NULL),
	L1D("de", NULL, 2, B_, NULL, NULL),
	L1D("pse", NULL, 3, B_, NULL, NULL),
	L1D("tsc", NULL, 4, B_, NULL, NULL),
	L1D("msr", NULL, 5, B_, NULL, NULL),
	L1D("pae", NULL, 6, B_, NULL, NULL),
	L1D("mce", NULL, 7, B_, NULL, NULL),
	L1D("cx8", NULL, 8, B_, NULL, NULL),
	L1D("apic", NULL, 9, B_, NULL, NULL),
	L1D("sep", NULL, 11, B_, NULL, NULL),
	L1D("mtrr", NULL, 12, B_, NULL, NULL),
	L1D("pge", NULL, 13, B_, NULL, NULL),
	L1D("mca", NULL, 14, B_, NULL, NULL),
	L1D("cmov", NULL, 15, B_, NULL, NULL),
	L1D("pat", NULL, 16, B_, NULL, NULL),
	L1D("pse36", NULL, 17, B_, NULL, NULL),
	L1D("pn", NULL, 18, I_, NULL, NULL),
	L1D("clflush", NULL, 19, B_, NULL, NULL),
	L1D("dts", "ds", 21, I_, NULL, NULL),
	L1D("acpi", NULL, 22, I_, NULL, NULL),
	L1D("mmx", NULL, 23, B_, NULL, NULL),
	L1D("fxsr", NULL, 24, B_, NULL, NULL),
	L1D("sse", NULL, 25, B_, "fxsr", NULL),
	L1D("sse2", NULL, 26, B_, "sse", NULL),
	L1D("ss", NULL, 27, I_, NULL, NULL),
	L1D("tm", NULL, 29, I_, NULL, NULL),
	L1D("pbe", NULL, 31, I_, NULL, NULL),
	/* CPUID.01H:ECX (SDM table 3-10) */
	L1C("pni", "sse3", 0, B_, "sse2", NULL),
	L1C("pclmulqdq", NULL, 1, B_, "sse2", NULL),
	L1C("dtes64", NULL, 2, I_, NULL, NULL),
	L1C("monitor", NULL, 3, B_, NULL, NULL),
	L1C("ds_cpl", "ds-cpl", 4, I_, NULL, NULL),
	L1C("vmx", NULL, 5, I_, NULL, NULL),
	L1C("smx", NULL, 6, I_, NULL, NULL),
	L1C("est", NULL, 7, I_, NULL, NULL),
	L1C("tm2", NULL, 8, I_, NULL, NULL),
	L1C("ssse3", NULL, 9, B_, "pni", NULL),
	L1C("cid", NULL, 10, I_, NULL, NULL),
	L1C("fma", NULL, 12, B_, "avx", NULL),
	L1C("cx16", NULL, 13, B_, NULL, NULL),
	L1C("xtpr", NULL, 14, I_, NULL, NULL),
	L1C("pdcm", NULL, 15, I_, NULL, NULL),
	L1C("pcid", NULL, 17, B_, NULL, NULL),
	L1C("dca", NULL, 18, I_, NULL, NULL),
	L1C("sse4_1", "sse4.1", 19, B_, "ssse3", NULL),
	L1C("sse4_2", "sse4.2", 20, B_, "sse4_1", NULL),
	L1C("x2apic", NULL, 21, B_, "apic", NULL),
	L1C("movbe", NULL, 22, B_, NULL, NULL),
	L1C("popcnt", NULL, 23, B_, NULL, NULL),
	L1C("tsc_deadline_timer", "tsc-deadline", 24, B_, "apic", NULL),
	L1C("aes", NULL, 25, B_, "sse2", NULL),
	L1C("xsave", NULL, 26, B_, "fxsr", NULL),
	L1C("avx", NULL, 28, B_, "xsave", NULL),
	L1C("f16c", NULL, 29, B_, "avx", NULL),
	L1C("rdrand", NULL, 30, B_, NULL, NULL),
	FEAT("hypervisor", NULL, 0x1, 0, ECX, 31, B_, EMUL, NULL, NULL, NULL),
	/* CPUID.06H:EAX (SDM table 3-8, leaf 06H) */
	FEAT("arat", NULL, 0x6, 0, EAX, 2, B_, 0, NULL, NULL, NULL),
	/* CPUID.(EAX=07H,ECX=0):EBX (SDM table 3-8, leaf 07H) */
	L7B("fsgsbase", NULL, 0, B_, NULL, NULL),
	L7B("tsc_adjust", "tsc-adjust", 1, B_, NULL, NULL),
	L7B("sgx", NULL, 2, I_, NULL, NULL),
	L7B("bmi1", NULL, 3, B_, NULL, NULL),
	L7B("hle", NULL, 4, I_, NULL, NULL),
	L7B("avx2", NULL, 5, B_, "avx", NULL),
	L7B("smep", NULL, 7, B_, NULL, NULL),
	L7B("bmi2", NULL, 8, B_, NULL, NULL),
	L7B("erms", NULL, 9, B_, NULL, NULL),
	L7B("invpcid", NULL, 10, B_, "pcid", NULL),
	L7B("rtm", NULL, 11, I_, NULL, NULL),
	L7B("mpx", NULL, 14, I_, "xsave", NULL),
	L7B("avx512f", NULL, 16, B_, "avx2", NULL),
	L7B("avx512dq", NULL, 17, B_, "avx512f", NULL),
	L7B("rdseed", NULL, 18, B_, NULL, NULL),
	L7B("adx", NULL, 19, B_, NULL, NULL),
	L7B("smap", NULL, 20, B_, NULL, NULL),
	L7B("avx512ifma", NULL, 21, B_, "avx512f", NULL),
	L7B("clflushopt", NULL, 23, B_, NULL, NULL),
	L7B("clwb", NULL, 24, B_, NULL, NULL),
	L7B("intel_pt", "intel-pt", 25, I_, NULL, NULL),
	L7B("avx512pf", NULL, 26, I_, "avx512f", NULL),
	L7B("avx512er", NULL, 27, I_, "avx512f", NULL),
	L7B("avx512cd", NULL, 28, B_, "avx512f", NULL),
	L7B("sha_ni", "sha-ni", 29, B_, "ssse3", NULL),
	L7B("avx512bw", NULL, 30, B_, "avx512f", NULL),
	L7B("avx512vl", NULL, 31, B_, "avx512f", NULL),
	/* CPUID.(EAX=07H,ECX=0):ECX */
	L7C("avx512vbmi", NULL, 1, B_, "avx512bw", NULL),
	L7C("umip", NULL, 2, B_, NULL, NULL),
	L7C("pku", NULL, 3, B_, "xsave", NULL),
	L7C("waitpkg", NULL, 5, I_, NULL, NULL),
	L7C("avx512_vbmi2", "avx512vbmi2", 6, B_, "avx512bw", NULL),
	L7C("gfni", NULL, 8, B_, "sse2", NULL),
	L7C("vaes", NULL, 9, B_, "avx2", "aes"),
	L7C("vpclmulqdq", NULL, 10, B_, "avx2", "pclmulqdq"),
	L7C("avx512_vnni", "avx512vnni", 11, B_, "avx512f", NULL),
	L7C("avx512_bitalg", "avx512bitalg", 12, B_, "avx512bw", NULL),
	L7C("avx512_vpopcntdq", "avx512-vpopcntdq", 14, B_, "avx512f", NULL),
	L7C("la57", NULL, 16, B_, NULL, NULL),
	L7C("rdpid", NULL, 22, B_, NULL, NULL),
	L7C("cldemote", NULL, 25, I_, NULL, NULL),
	L7C("movdiri", NULL, 27, I_, NULL, NULL),
	L7C("movdir64b", NULL, 28, I_, NULL, NULL),
	/* CPUID.(EAX=07H,ECX=0):EDX */
	L7D("avx512_4vnniw", "avx512-4vnniw", 2, I_, "avx512f", NULL),
	L7D("avx512_4fmaps", "avx512-4fmaps", 3, I_, "avx512f", NULL),
	L7D("fsrm", NULL, 4, B_, NULL, NULL),
	L7D("avx512_vp2intersect", "avx512-vp2intersect", 8, I_, "avx512f", NULL),
	L7D("md_clear", "md-clear", 10, I_, NULL, NULL),
	L7D("serialize", NULL, 14, I_, NULL, NULL),
	L7D("tsxldtrk", NULL, 16, I_, NULL, NULL),
	L7D("pconfig", NULL, 18, I_, NULL, NULL),
	L7D("arch_lbr", "arch-lbr", 19, I_, NULL, NULL),
	L7D("amx_bf16", "amx-bf16", 22, I_, "amx_tile", NULL),
	L7D("avx512_fp16", "avx512-fp16", 23, I_, "avx512bw", NULL),
	L7D("amx_tile", "amx-tile", 24, I_, "xsave", NULL),
	L7D("amx_int8", "amx-int8", 25, I_, "amx_tile", NULL),
	L7D("spec_ctrl", "spec-ctrl", 26, I_, NULL, NULL),
	L7D("stibp", NULL, 27, I_, "spec_ctrl", NULL),
	L7D("flush_l1d", "flush-l1d", 28, I_, NULL, NULL),
	L7D("arch_capabilities", "arch-capabilities", 29, I_, NULL, NULL),
	L7D("ssbd", NULL, 31, I_, "spec_ctrl", NULL),
	/* CPUID.(EAX=07H,ECX=1):EAX */
	FEAT("avx_vnni", "avx-vnni", 0x7, 1, EAX, 4, B_, 0, "avx2", NULL, NULL),
	FEAT("avx512_bf16", "avx512-bf16", 0x7, 1, EAX, 5, B_, 0, "avx512f", NULL, NULL),
	/* CPUID.(EAX=0DH,ECX=1):EAX (SDM vol. 1, 13.2) */
	FEAT("xsaveopt", NULL, 0xd, 1, EAX, 0, B_, 0, "xsave", NULL, NULL),
	FEAT("xsavec", NULL, 0xd, 1, EAX, 1, B_, 0, "xsave", NULL, NULL),
	FEAT("xgetbv1", NULL, 0xd, 1, EAX, 2, B_, 0, "xsave", NULL, NULL),
	FEAT("xsaves", NULL, 0xd, 1, EAX, 3, B_, 0, "xsavec", NULL, NULL),
	/* CPUID.80000001H:EDX (SDM leaf 80000001H; APM E.4.2). The AMD copies
	 * of the leaf 1 EDX bits are not features of their own: the builder
	 * mirrors them (APM: "same as CPUID Fn0000_0001_EDX"). */
	X1D("syscall", NULL, 11, B_, NULL, NULL),
	X1D("nx", NULL, 20, B_, NULL, NULL),
	X1D("mmxext", NULL, 22, A_, "mmx", NULL),
	X1D("fxsr_opt", "fxsr-opt", 25, A_, "fxsr", NULL),
	X1D("pdpe1gb", NULL, 26, B_, NULL, NULL),
	X1D("rdtscp", NULL, 27, B_, NULL, NULL),
	X1D("lm", NULL, 29, B_, NULL, NULL),
	X1D("3dnowext", NULL, 30, A_, "3dnow", NULL),
	X1D("3dnow", NULL, 31, A_, "mmx", NULL),
	/* CPUID.80000001H:ECX */
	X1C("lahf_lm", "lahf-lm", 0, B_, NULL, NULL),
	X1C("svm", NULL, 2, A_, NULL, NULL),
	X1C("extapic", NULL, 3, A_, NULL, NULL),
	X1C("cr8_legacy", "cr8legacy", 4, A_, NULL, NULL),
	X1C("abm", NULL, 5, B_, NULL, NULL),
	X1C("sse4a", NULL, 6, A_, "sse2", NULL),
	X1C("misalignsse", NULL, 7, A_, NULL, NULL),
	X1C("3dnowprefetch", NULL, 8, B_, NULL, NULL),
	X1C("osvw", NULL, 9, A_, NULL, NULL),
	X1C("ibs", NULL, 10, A_, NULL, NULL),
	X1C("xop", NULL, 11, A_, "avx", NULL),
	X1C("skinit", NULL, 12, A_, NULL, NULL),
	X1C("wdt", NULL, 13, A_, NULL, NULL),
	X1C("lwp", NULL, 15, A_, "xsave", NULL),
	X1C("fma4", NULL, 16, A_, "avx", NULL),
	X1C("tce", NULL, 17, A_, NULL, NULL),
	X1C("nodeid_msr", "nodeid-msr", 19, A_, NULL, NULL),
	X1C("tbm", NULL, 21, A_, NULL, NULL),
	X1C("topoext", NULL, 22, A_, NULL, NULL),
	X1C("perfctr_core", "perfctr-core", 23, A_, NULL, NULL),
	X1C("perfctr_nb", "perfctr-nb", 24, A_, NULL, NULL),
	X1C("mwaitx", NULL, 29, A_, NULL, NULL),
	/* CPUID.80000008H:EBX (APM E.4.7) */
	X8B("clzero", NULL, 0, A_, NULL, NULL),
	X8B("irperf", NULL, 1, A_, NULL, NULL),
	X8B("xsaveerptr", NULL, 2, A_, "xsave", NULL),
	X8B("wbnoinvd", NULL, 9, B_, NULL, NULL),
	X8B("ibpb", NULL, 12, A_, NULL, NULL),
	X8B("amd_ssbd", "amd-ssbd", 24, A_, NULL, NULL),
	X8B("virt_ssbd", "virt-ssbd", 25, A_, NULL, NULL),
	X8B("amd_ssb_no", "amd-no-ssb", 26, A_, NULL, NULL),
	/* KVM PV features, CPUID.40000001H:EAX (Linux cpuid.rst) */
	PVK("kvmclock", 0, NULL),
	PVK("kvm-nopiodelay", 1, NULL),
	PVK("kvmclock2", 3, NULL),
	PVK("kvm-asyncpf", 4, NULL),
	PVK("kvm-steal-time", 5, NULL),
	PVK("kvm-pv-eoi", 6, NULL),
	PVK("kvm-pv-unhalt", 7, NULL),
	PVK("kvm-pv-tlb-flush", 9, NULL),
	PVK("kvm-asyncpf-vmexit", 10, "kvm-asyncpf"),
	PVK("kvm-pv-ipi", 11, NULL),
	PVK("kvm-poll-control", 12, NULL),
	PVK("kvm-pv-sched-yield", 13, NULL),
	PVK("kvm-asyncpf-int", 14, "kvm-asyncpf"),
	PVK("kvm-msi-ext-dest-id", 15, NULL),
	PVK("kvmclock-stable-bit", 24, NULL),
};

const size_t vdev__cpuid_nfeats = VDEV__ARRAY_SIZE(vdev__cpuid_feats);

_Static_assert(VDEV__ARRAY_SIZE(vdev__cpuid_feats) <= VDEV__CPUID_FSET_WORDS * 64,
	       "the registry outgrew struct vdev__cpuid_fset");

static bool name_eq(const char *reg, const char *name, size_t len)
{
	return reg && strlen(reg) == len && strncasecmp(reg, name, len) == 0;
}

int vdev__cpuid_feat_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < vdev__cpuid_nfeats; i++)
		if (name_eq(vdev__cpuid_feats[i].name, name, len) ||
		    name_eq(vdev__cpuid_feats[i].alias, name, len))
			return (int)i;
	return -1;
}

void vdev__cpuid_close_deps(struct vdev__cpuid_fset *s)
{
	bool changed = true;
	size_t i, d;

	while (changed) {
		changed = false;
		for (i = 0; i < vdev__cpuid_nfeats; i++) {
			if (!vdev__fset_has(s, i))
				continue;
			for (d = 0; d < VDEV__CPUID_MAX_DEPS; d++) {
				const char *dn = vdev__cpuid_feats[i].deps[d];
				int j;

				if (!dn)
					continue;
				j = vdev__cpuid_feat_find(dn, strlen(dn));
				if (j >= 0 && !vdev__fset_has(s, (size_t)j)) {
					vdev__fset_set(s, (size_t)j);
					changed = true;
				}
			}
		}
	}
}

void vdev__cpuid_close_dependents(struct vdev__cpuid_fset *s)
{
	bool changed = true;
	size_t i, d;

	while (changed) {
		changed = false;
		for (i = 0; i < vdev__cpuid_nfeats; i++) {
			if (!vdev__fset_has(s, i))
				continue;
			for (d = 0; d < VDEV__CPUID_MAX_DEPS; d++) {
				const char *dn = vdev__cpuid_feats[i].deps[d];
				int j;

				if (!dn)
					continue;
				j = vdev__cpuid_feat_find(dn, strlen(dn));
				if (j < 0 || !vdev__fset_has(s, (size_t)j)) {
					vdev__fset_clear(s, i);
					changed = true;
					break;
				}
			}
		}
	}
}

int vdev_cpuid_feature_get(size_t index, const char *name, struct vdev_cpuid_feature_info *info)
{
	struct vdev_cpuid_feature_info tmp;
	const struct vdev__cpuid_feat *f;

	if (!info || info->struct_size < sizeof(size_t))
		return -EINVAL;
	if (name) {
		int j = vdev__cpuid_feat_find(name, strlen(name));

		if (j < 0)
			return -ENOENT;
		index = (size_t)j;
	}
	if (index >= vdev__cpuid_nfeats)
		return -ENOENT;
	f = &vdev__cpuid_feats[index];
	memset(&tmp, 0, sizeof(tmp));
	tmp.struct_size = info->struct_size;
	tmp.name = f->name;
	tmp.alias = f->alias;
	tmp.function = f->function;
	tmp.index = f->index;
	tmp.reg = f->reg;
	tmp.bit = f->bit;
	tmp.vendors = f->vendors;
	memcpy(info, &tmp, VDEV__MIN(info->struct_size, sizeof(tmp)));
	return 0;
}
