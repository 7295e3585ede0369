/* SPDX-License-Identifier: MIT */
/*
 * The leaf table for a cpu (vendor, signature, brand, final feature set)
 * and a topology. Per-vCPU fields (APIC IDs) are left zero here and
 * filled by vdev_cpuid_entries().
 *
 * References: Intel SDM vol. 2A, CPUID (leaves 00H-1FH, 80000000H-
 * 80000008H); SDM vol. 1, 13.2-13.4 (XSAVE state components and layout);
 * AMD APM vol. 3, appendix E (Fn8000_0001, Fn8000_0005/6 cache
 * descriptors, Fn8000_0008 ECX, Fn8000_001D/1E); Hyper-V TLFS, "Feature
 * and Interface Discovery"; Linux Documentation/virt/kvm/x86/cpuid.rst.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cpuid/cpuid_internal.h"

#define MAX_ENTRIES 128

struct emitter {
	vdev_cpuid_table *t;
	int err;
};

static struct vdev_cpuid_entry *add(struct emitter *em, uint32_t fn, uint32_t idx, bool sig,
				    uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	struct vdev_cpuid_entry *e;

	if (em->t->n >= MAX_ENTRIES) {
		em->err = -ENOSPC;
		return NULL;
	}
	e = &em->t->e[em->t->n++];
	memset(e, 0, sizeof(*e));
	e->function = fn;
	e->index = idx;
	e->flags = sig ? VDEV_CPUID_F_SIGNIFICANT_INDEX : 0;
	e->eax = a;
	e->ebx = b;
	e->ecx = c;
	e->edx = d;
	return e;
}

static bool has(const struct vdev__cpuid_cpu *cpu, const char *name)
{
	int i = vdev__cpuid_feat_find(name, strlen(name));

	return i >= 0 && vdev__fset_has(&cpu->feat, (size_t)i);
}

/* Does the cpu have any feature in (function, index)? */
static bool any_in_leaf(const struct vdev__cpuid_cpu *cpu, uint32_t fn, uint32_t idx)
{
	size_t i;

	for (i = 0; i < vdev__cpuid_nfeats; i++)
		if (vdev__fset_has(&cpu->feat, i) && vdev__cpuid_feats[i].function == fn &&
		    vdev__cpuid_feats[i].index == idx)
			return true;
	return false;
}

static unsigned int ceil_log2(uint32_t n)
{
	unsigned int b = 0;

	while (((uint32_t)1 << b) < n)
		b++;
	return b;
}

/* SDM vol. 2A, CPUID.01H:EAX "Version Information": the family and model
 * fields overflow into the extended fields (family 0FH + extended family;
 * models of families 06H and 0FH+ carry their high nibble in bits 19:16). */
static uint32_t signature(uint32_t family, uint32_t model, uint32_t stepping)
{
	uint32_t eax = (stepping & 0xf) | ((model & 0xf) << 4);

	if (family >= 0xf) {
		eax |= 0xfu << 8;
		eax |= ((family - 0xf) & 0xff) << 20;
	} else {
		eax |= (family & 0xf) << 8;
	}
	if (family == 6 || family >= 0xf)
		eax |= ((model >> 4) & 0xf) << 16;
	return eax;
}

static void vendor_regs(uint32_t vendor, uint32_t *b, uint32_t *c, uint32_t *d)
{
	const char *s = vendor == VDEV_CPUID_VENDOR_INTEL ? "GenuineIntel" : "AuthenticAMD";

	/* The 12 characters go EBX, EDX, ECX. */
	*b = vdev__le32(s);
	*d = vdev__le32(s + 4);
	*c = vdev__le32(s + 8);
}

/* One cache, as leaf 4 / 0x8000001D describe it. */
struct cache {
	uint32_t type;   /* 1 data, 2 instruction, 3 unified */
	uint32_t level;
	uint32_t ways, line, sets;
	int shared_by;   /* 0: a core's threads, 1: the package */
	uint32_t edx;
};

static const struct cache caches[] = {
	{ 1, 1, 8, 64, 64, 0, 0 },          /* L1d 32 KiB */
	{ 2, 1, 8, 64, 64, 0, 0 },          /* L1i 32 KiB */
	{ 3, 2, 16, 64, 1024, 0, 0 },       /* L2 1 MiB per core */
	{ 3, 3, 16, 64, 16384, 1, 1u << 1 },/* L3 16 MiB per package, inclusive */
};

static uint32_t cache_eax(const struct cache *c, uint32_t sharing, uint32_t cores_field)
{
	/* Type [4:0], level [7:5], self-initialising [8], sharing-1 [25:14],
	 * (Intel) addressable core IDs-1 [31:26]. */
	return c->type | (c->level << 5) | (1u << 8) | (VDEV__MIN(sharing - 1, 0xfffu) << 14) |
	       (VDEV__MIN(cores_field, 0x3fu) << 26);
}

static uint32_t cache_ebx(const struct cache *c)
{
	return (c->line - 1) | (0u << 12) | ((c->ways - 1) << 22);
}

static void emit_cache_leaf(struct emitter *em, uint32_t fn, const vdev_cpuid_table *t,
			    bool intel)
{
	size_t i;

	for (i = 0; i < VDEV__ARRAY_SIZE(caches); i++) {
		const struct cache *c = &caches[i];
		uint32_t sharing, cores_field = 0;

		if (intel) {
			/* Addressable IDs, from the APIC ID layout (SDM leaf 04H). */
			sharing = 1u << (c->shared_by ? t->smt_bits + t->core_bits : t->smt_bits);
			cores_field = (1u << t->core_bits) - 1;
		} else {
			/* APM Fn8000_001D_EAX NumSharingCache: logical processors. */
			sharing = c->shared_by ? t->threads * t->cores : t->threads;
		}
		add(em, fn, (uint32_t)i, true, cache_eax(c, sharing, cores_field), cache_ebx(c),
		    c->sets - 1, c->edx);
	}
	add(em, fn, (uint32_t)i, true, 0, 0, 0, 0); /* type 0: no more caches */
}

/* Level types: 1 SMT, 2 core (SDM leaf 0BH / 1FH). */
static void emit_topo_leaf(struct emitter *em, uint32_t fn, const vdev_cpuid_table *t)
{
	add(em, fn, 0, true, t->smt_bits, t->threads, (1u << 8) | 0, 0);
	add(em, fn, 1, true, t->smt_bits + t->core_bits, t->threads * t->cores, (2u << 8) | 1, 0);
	add(em, fn, 2, true, 0, 0, 2, 0);
}

/* XSAVE state components (SDM vol. 1, 13.2; sizes and standard-format
 * offsets of CPUID.(EAX=0DH,ECX=i)). */
struct xcomp {
	unsigned int bit;
	uint32_t size, offset;
	const char *feature;
};

static const struct xcomp xcomps[] = {
	{ 2, 256, 576, "avx" },          /* YMM_Hi128 */
	{ 3, 64, 960, "mpx" },           /* BNDREGS */
	{ 4, 64, 1024, "mpx" },          /* BNDCSR */
	{ 5, 64, 1088, "avx512f" },      /* opmask k0-k7 */
	{ 6, 512, 1152, "avx512f" },     /* ZMM_Hi256 */
	{ 7, 1024, 1664, "avx512f" },    /* Hi16_ZMM */
	{ 9, 8, 2688, "pku" },           /* PKRU */
	{ 17, 64, 2752, "amx_tile" },    /* XTILECFG */
	{ 18, 8192, 2816, "amx_tile" },  /* XTILEDATA */
};

static void emit_xsave(struct emitter *em, const struct vdev__cpuid_cpu *cpu)
{
	uint32_t xcr0 = 0x3; /* x87 and SSE: the 512-byte legacy area + 64-byte header */
	uint32_t std_size = 576, compact = 576;
	size_t i;

	for (i = 0; i < VDEV__ARRAY_SIZE(xcomps); i++) {
		if (!has(cpu, xcomps[i].feature))
			continue;
		xcr0 |= 1u << xcomps[i].bit;
		std_size = VDEV__MAX(std_size, xcomps[i].offset + xcomps[i].size);
		compact += xcomps[i].size;
	}
	/* EBX is the size for the XCR0 the guest enabled: KVM rewrites it at
	 * run time; we give the all-enabled size, like a fresh CPU would
	 * after XSETBV with every supported bit. */
	add(em, 0xd, 0, true, xcr0, std_size, std_size, 0);
	/* Subleaf 1: EBX is the XSAVES (compacted) size for XCR0 | XSS; no
	 * supervisor components are offered (ECX/EDX = 0). */
	add(em, 0xd, 1, true, 0, has(cpu, "xsaves") ? compact : 0, 0, 0);
	for (i = 0; i < VDEV__ARRAY_SIZE(xcomps); i++)
		if (xcr0 & (1u << xcomps[i].bit))
			add(em, 0xd, xcomps[i].bit, true, xcomps[i].size, xcomps[i].offset, 0, 0);
}

static void emit_hyperv(struct emitter *em, uint32_t nvcpu)
{
	/* TLFS: max leaf, "Microsoft Hv"; interface "Hv#1"; version 10.0.14393. */
	add(em, 0x40000000, 0, false, 0x40000006, vdev__le32("Micr"), vdev__le32("osof"),
	    vdev__le32("t Hv"));
	add(em, 0x40000001, 0, false, vdev__le32("Hv#1"), 0, 0, 0);
	add(em, 0x40000002, 0, false, 14393, (10u << 16) | 0, 0, 0);
	/* Partition privileges (HV_PARTITION_PRIVILEGE_MASK low half): VP
	 * runtime (0), reference counter (1), APIC access MSRs (4), hypercall
	 * MSRs (5), VP index (6), reference TSC page (9), frequency MSRs (11).
	 * EDX bit 8: guest may read the frequency MSRs. */
	add(em, 0x40000003, 0, false, 0xa73, 0, 0, 1u << 8);
	/* Recommendations: APIC access through MSRs (3), relaxed timing (5);
	 * spinlock retries: never notify (0xffffffff). */
	add(em, 0x40000004, 0, false, (1u << 3) | (1u << 5), 0xffffffff, 0, 0);
	add(em, 0x40000005, 0, false, nvcpu, nvcpu, 0, 0);
	add(em, 0x40000006, 0, false, 0, 0, 0, 0);
}

static void emit_kvm(struct emitter *em, uint32_t base)
{
	/* "KVMKVMKVM\0\0\0" in EBX, ECX, EDX. */
	add(em, base, 0, false, base + 1, vdev__le32("KVMK"), vdev__le32("VMKV"), 0x4d);
	add(em, base + 1, 0, false, 0, 0, 0, 0);
}

static uint32_t *reg_of(struct vdev_cpuid_entry *e, unsigned int reg)
{
	switch (reg) {
	case VDEV_CPUID_EAX:
		return &e->eax;
	case VDEV_CPUID_EBX:
		return &e->ebx;
	case VDEV_CPUID_ECX:
		return &e->ecx;
	default:
		return &e->edx;
	}
}

/* OR every feature bit into its (already emitted) leaf. */
static void apply_features(vdev_cpuid_table *t, const struct vdev__cpuid_cpu *cpu, uint32_t kvm)
{
	size_t i;

	for (i = 0; i < vdev__cpuid_nfeats; i++) {
		const struct vdev__cpuid_feat *f = &vdev__cpuid_feats[i];
		struct vdev_cpuid_entry *e;
		uint32_t fn = f->function;

		if (!vdev__fset_has(&cpu->feat, i))
			continue;
		if (f->flags & VDEV__CPUID_FF_KVM) {
			if (!kvm)
				continue;
			fn = kvm + 1;
		}
		e = (struct vdev_cpuid_entry *)vdev__cpuid_find(t, fn, f->index);
		if (e)
			*reg_of(e, f->reg) |= 1u << f->bit;
	}
}

int vdev__cpuid_emit(const struct vdev__cpuid_cpu *cpu, const struct vdev__cpuid_build *b,
		     vdev_cpuid_table **out)
{
	struct emitter em = { 0 };
	vdev_cpuid_table *t;
	bool intel = cpu->vendor == VDEV_CPUID_VENDOR_INTEL;
	bool topoext = !intel && has(cpu, "topoext");
	uint32_t vb, vc, vd, logical, xlevel, kvm_base = 0, sig, i;
	struct vdev_cpuid_entry *e;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->e = calloc(MAX_ENTRIES, sizeof(*t->e));
	if (!t->e) {
		free(t);
		return -ENOMEM;
	}
	em.t = t;
	t->vendor = cpu->vendor;
	t->has_topo = true;
	t->sockets = b->sockets;
	t->cores = b->cores;
	t->threads = b->threads;
	t->nvcpu = b->sockets * b->cores * b->threads;
	t->smt_bits = ceil_log2(b->threads);
	t->core_bits = ceil_log2(b->cores);
	sig = signature(cpu->family, cpu->model, cpu->stepping);

	/* Leaf 0: Intel models report 1FH so the V2 topology leaf is there
	 * (leaves in between that we do not emit read as zero). */
	vendor_regs(cpu->vendor, &vb, &vc, &vd);
	add(&em, 0, 0, false, intel ? 0x1f : 0xd, vb, vc, vd);

	/* Leaf 1: EBX = CLFLUSH line size in 8-byte units [15:8], logical
	 * processor count [23:16] (Intel: addressable IDs in the package;
	 * AMD: logical processors), initial APIC ID [31:24] per vCPU. */
	if (intel)
		logical = 1u << (t->smt_bits + t->core_bits);
	else
		logical = t->threads * t->cores;
	e = add(&em, 1, 0, false, sig, (8u << 8) | (VDEV__MIN(logical, 255u) << 16), 0, 0);
	if (e && logical > 1)
		e->edx |= 1u << 28; /* HTT: the count field is valid */
	if (intel) {
		/* Leaf 2: descriptor FFH = "use leaf 4" (SDM table 3-12). */
		add(&em, 2, 0, false, 0x0000ff01, 0, 0, 0);
		emit_cache_leaf(&em, 4, t, true);
	}
	if (has(cpu, "monitor"))
		add(&em, 5, 0, false, 64, 64, 3, 0);
	add(&em, 6, 0, false, 0, 0, 0, 0);
	add(&em, 7, 0, true, any_in_leaf(cpu, 7, 1) ? 1 : 0, 0, 0, 0);
	if (any_in_leaf(cpu, 7, 1))
		add(&em, 7, 1, true, 0, 0, 0, 0);
	emit_topo_leaf(&em, 0xb, t);
	if (has(cpu, "xsave"))
		emit_xsave(&em, cpu);
	if (intel)
		emit_topo_leaf(&em, 0x1f, t);

	if (b->hyperv)
		emit_hyperv(&em, t->nvcpu);
	if (b->kvm) {
		kvm_base = b->hyperv ? 0x40000100 : 0x40000000;
		emit_kvm(&em, kvm_base);
	}

	xlevel = topoext ? 0x8000001e : 0x80000008;
	if (intel)
		add(&em, 0x80000000, 0, false, xlevel, 0, 0, 0);
	else
		add(&em, 0x80000000, 0, false, xlevel, vb, vc, vd);
	add(&em, 0x80000001, 0, false, intel ? 0 : sig, 0, 0, 0);
	for (i = 0; i < 3; i++) {
		const char *s = cpu->brand + 16 * i;

		add(&em, 0x80000002 + i, 0, false, vdev__le32(s), vdev__le32(s + 4),
		    vdev__le32(s + 8), vdev__le32(s + 12));
	}
	if (intel) {
		add(&em, 0x80000005, 0, false, 0, 0, 0, 0);
		/* L2: size in KiB [31:16], associativity [15:12] in the
		 * SDM's encoding (08H = 16 ways), line size [7:0]. */
		add(&em, 0x80000006, 0, false, 0, 0, (1024u << 16) | (0x8u << 12) | 64, 0);
	} else {
		/* APM Fn8000_0005: L1 TLBs (EAX/EBX), L1d (ECX), L1i (EDX):
		 * size KiB [31:24], ways [23:16], lines per tag [15:8], line [7:0]. */
		add(&em, 0x80000005, 0, false, 0xff40ff40, 0xff40ff40,
		    (32u << 24) | (8u << 16) | (1u << 8) | 64, (32u << 24) | (8u << 16) | (1u << 8) | 64);
		/* Fn8000_0006: L2 (ECX) KiB [31:16]; L3 (EDX) in 512 KiB units
		 * [31:18]; associativity 8 = 16-way [15:12]. */
		add(&em, 0x80000006, 0, false, 0, 0x42004200, (1024u << 16) | (0x8u << 12) | 64,
		    (32u << 18) | (0x8u << 12) | 64);
	}
	add(&em, 0x80000007, 0, false, 0, 0, 0, 0);
	/* Physical 40 bits, linear 48 bits; AMD ECX: NC = logical processors
	 * - 1 [7:0], ApicIdSize [15:12]. */
	add(&em, 0x80000008, 0, false, 0x3028, 0, intel ? 0 :
	    ((t->threads * t->cores - 1) & 0xff) | ((t->smt_bits + t->core_bits) << 12), 0);
	if (topoext) {
		emit_cache_leaf(&em, 0x8000001d, t, false);
		/* EBX: threads per compute unit - 1 [15:8] (core ID per vCPU);
		 * ECX: nodes per processor - 1 [10:8] = 0 (node ID per vCPU). */
		add(&em, 0x8000001e, 0, false, 0, (t->threads - 1) << 8, 0, 0);
	}
	if (em.err) {
		vdev_cpuid_table_free(t);
		return em.err;
	}
	if (vdev__cpuid_sort(t)) {
		vdev_cpuid_table_free(t);
		return -EINVAL;
	}
	apply_features(t, cpu, kvm_base);
	/* AMD mirrors the leaf 1 EDX bits 0-9, 12-17, 23, 24 in Fn8000_0001_EDX. */
	if (!intel) {
		const struct vdev_cpuid_entry *l1 = vdev__cpuid_find(t, 1, 0);

		e = (struct vdev_cpuid_entry *)vdev__cpuid_find(t, 0x80000001, 0);
		if (l1 && e)
			e->edx |= l1->edx & 0x0183f3ffu;
	}
	vdev__cpuid_decode(t);
	*out = t;
	return 0;
}
