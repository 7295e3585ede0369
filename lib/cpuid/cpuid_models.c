/* SPDX-License-Identifier: MIT */
/*
 * Named CPU models. Each is a vendor, a signature (family/model/stepping
 * as the SDM's CPUID.01H:EAX describes it, before encoding), a brand
 * string and a feature list in registry names. The lists match QEMU 7.2's
 * models of the same name (tests/data/cpuid/ records QEMU's view; the
 * test lists every deliberate difference). Bump @version whenever a
 * model's guest-visible table changes: a migration target checks it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cpuid/cpuid_internal.h"

#define BASE_X86_64                                                                        \
	"fpu de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx "  \
	"fxsr sse sse2 syscall nx lm hypervisor "
#define HASWELL_NOTSX                                                                      \
	BASE_X86_64 "pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt "  \
	"tsc_deadline_timer aes xsave avx f16c rdrand arat fsgsbase bmi1 avx2 smep bmi2 "   \
	"erms invpcid xsaveopt rdtscp lahf_lm abm "
#define SKYLAKE_CLIENT                                                                     \
	HASWELL_NOTSX "hle rtm 3dnowprefetch adx rdseed smap xgetbv1 xsavec "
#define OPTERON_G4                                                                         \
	BASE_X86_64 "pni pclmulqdq ssse3 cx16 sse4_1 sse4_2 popcnt aes xsave avx rdtscp "   \
	"pdpe1gb lahf_lm svm abm sse4a misalignsse 3dnowprefetch xop fma4 "

const struct vdev__cpuid_model vdev__cpuid_models[] = {
	{ "x86-64", "x86-64 baseline (x86-64-v1 ISA: SSE2, NX, long mode)", 1,
	  VDEV_CPUID_VENDOR_AMD, 15, 107, 1, "libvdev x86-64 baseline CPU", BASE_X86_64 },
	{ "Haswell", "Intel Core 4th generation (Haswell) with TSX", 1,
	  VDEV_CPUID_VENDOR_INTEL, 6, 60, 4, "Intel Core Processor (Haswell)",
	  HASWELL_NOTSX "hle rtm" },
	{ "Haswell-noTSX", "Intel Core 4th generation (Haswell) without TSX (HLE, RTM)", 1,
	  VDEV_CPUID_VENDOR_INTEL, 6, 60, 1, "Intel Core Processor (Haswell, no TSX)",
	  HASWELL_NOTSX },
	{ "Skylake-Client", "Intel Core 6th generation (Skylake)", 1,
	  VDEV_CPUID_VENDOR_INTEL, 6, 94, 3, "Intel Core Processor (Skylake)", SKYLAKE_CLIENT },
	{ "Skylake-Server", "Intel Xeon Scalable (Skylake) with AVX-512", 1,
	  VDEV_CPUID_VENDOR_INTEL, 6, 85, 4, "Intel Xeon Processor (Skylake)",
	  SKYLAKE_CLIENT "avx512f avx512dq avx512cd avx512bw avx512vl clflushopt clwb "
			 "pdpe1gb pku" },
	{ "Opteron_G4", "AMD Opteron 62xx (Bulldozer): FMA4, XOP", 1,
	  VDEV_CPUID_VENDOR_AMD, 21, 1, 2, "AMD Opteron 62xx class CPU", OPTERON_G4 },
	{ "Opteron_G5", "AMD Opteron 63xx (Piledriver): F16C, TBM, BMI1, FMA, FMA4, XOP", 1,
	  VDEV_CPUID_VENDOR_AMD, 21, 2, 0, "AMD Opteron 63xx class CPU",
	  OPTERON_G4 "f16c fma tbm bmi1" },
	{ "EPYC", "AMD EPYC 7001 (Zen)", 1,
	  VDEV_CPUID_VENDOR_AMD, 23, 1, 2, "AMD EPYC Processor",
	  BASE_X86_64 "pni pclmulqdq monitor ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes "
		      "xsave avx f16c rdrand arat fsgsbase bmi1 avx2 smep bmi2 rdseed adx smap "
		      "clflushopt sha_ni xsaveopt xsavec xgetbv1 mmxext fxsr_opt pdpe1gb rdtscp "
		      "lahf_lm svm cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw topoext" },
};

const size_t vdev__cpuid_nmodels = VDEV__ARRAY_SIZE(vdev__cpuid_models);

const struct vdev__cpuid_model *vdev__cpuid_model_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < vdev__cpuid_nmodels; i++) {
		const char *n = vdev__cpuid_models[i].name;

		if (strlen(n) == len && strncasecmp(n, name, len) == 0)
			return &vdev__cpuid_models[i];
	}
	return NULL;
}

int vdev__cpuid_model_cpu(vdev_ctx *ctx, const struct vdev__cpuid_model *m,
			  struct vdev__cpuid_cpu *cpu)
{
	const char *p = m->features;

	memset(cpu, 0, sizeof(*cpu));
	cpu->vendor = m->vendor;
	cpu->family = m->family;
	cpu->model = m->model;
	cpu->stepping = m->stepping;
	snprintf(cpu->brand, sizeof(cpu->brand), "%s", m->brand);
	while (*p) {
		size_t len = strcspn(p, " ");
		int i;

		if (len) {
			i = vdev__cpuid_feat_find(p, len);
			if (i < 0) {
				vdev_log(ctx, VDEV_LOG_ERROR, "cpuid: model %s names unknown feature %.*s",
					 m->name, (int)len, p);
				return -EINVAL;
			}
			vdev__fset_set(&cpu->feat, (size_t)i);
		}
		p += len;
		p += strspn(p, " ");
	}
	return 0;
}

int vdev_cpuid_model_get(size_t index, struct vdev_cpuid_model_info *info)
{
	struct vdev_cpuid_model_info tmp;
	const struct vdev__cpuid_model *m;

	if (!info || info->struct_size < sizeof(size_t))
		return -EINVAL;
	if (index >= vdev__cpuid_nmodels)
		return -ENOENT;
	m = &vdev__cpuid_models[index];
	memset(&tmp, 0, sizeof(tmp));
	tmp.struct_size = info->struct_size;
	tmp.name = m->name;
	tmp.version = m->version;
	tmp.vendor = m->vendor == VDEV_CPUID_VENDOR_INTEL ? "GenuineIntel" : "AuthenticAMD";
	tmp.description = m->description;
	tmp.family = m->family;
	tmp.model = m->model;
	tmp.stepping = m->stepping;
	memcpy(info, &tmp, VDEV__MIN(info->struct_size, sizeof(tmp)));
	return 0;
}
