/* SPDX-License-Identifier: MIT */
/*
 * Table objects: lookup, sorting, decoding a table back into features,
 * the per-vCPU view and the small accessors.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cpuid/cpuid_internal.h"

static int entry_cmp(const void *pa, const void *pb)
{
	const struct vdev_cpuid_entry *a = pa, *b = pb;

	if (a->function != b->function)
		return a->function < b->function ? -1 : 1;
	if (a->index != b->index)
		return a->index < b->index ? -1 : 1;
	return 0;
}

int vdev__cpuid_sort(vdev_cpuid_table *t)
{
	size_t i;

	if (t->n > 1)
		qsort(t->e, t->n, sizeof(*t->e), entry_cmp);
	for (i = 1; i < t->n; i++)
		if (entry_cmp(&t->e[i - 1], &t->e[i]) == 0)
			return -EINVAL;
	return 0;
}

const struct vdev_cpuid_entry *vdev__cpuid_find(const vdev_cpuid_table *t, uint32_t function,
						uint32_t index)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct vdev_cpuid_entry *e = &t->e[mid];

		if (e->function == function && e->index == index)
			return e;
		if (e->function < function || (e->function == function && e->index < index))
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

uint32_t vdev__cpuid_vendor_of(uint32_t ebx, uint32_t ecx, uint32_t edx)
{
	char s[12];

	vdev__put_le32(s, ebx);
	vdev__put_le32(s + 4, edx);
	vdev__put_le32(s + 8, ecx);
	if (!memcmp(s, "GenuineIntel", 12))
		return VDEV_CPUID_VENDOR_INTEL;
	if (!memcmp(s, "AuthenticAMD", 12))
		return VDEV_CPUID_VENDOR_AMD;
	return 0;
}

static bool is_kvm_leaf(const struct vdev_cpuid_entry *e)
{
	return e && e->ebx == vdev__le32("KVMK") && e->ecx == vdev__le32("VMKV") && e->edx == 0x4d;
}

static uint32_t reg_val(const struct vdev_cpuid_entry *e, unsigned int reg)
{
	switch (reg) {
	case VDEV_CPUID_EAX:
		return e->eax;
	case VDEV_CPUID_EBX:
		return e->ebx;
	case VDEV_CPUID_ECX:
		return e->ecx;
	default:
		return e->edx;
	}
}

void vdev__cpuid_decode(vdev_cpuid_table *t)
{
	const struct vdev_cpuid_entry *e;
	uint32_t kvm = 0;
	size_t i;

	memset(&t->feat, 0, sizeof(t->feat));
	e = vdev__cpuid_find(t, 0, 0);
	t->vendor = e ? vdev__cpuid_vendor_of(e->ebx, e->ecx, e->edx) : 0;
	if (is_kvm_leaf(vdev__cpuid_find(t, 0x40000000, 0)))
		kvm = 0x40000000;
	else if (is_kvm_leaf(vdev__cpuid_find(t, 0x40000100, 0)))
		kvm = 0x40000100;
	t->kvm_base = kvm;
	e = vdev__cpuid_find(t, 0x40000000, 0);
	t->hyperv = e && e->ebx == vdev__le32("Micr") && e->ecx == vdev__le32("osof") &&
		    e->edx == vdev__le32("t Hv");
	for (i = 0; i < vdev__cpuid_nfeats; i++) {
		const struct vdev__cpuid_feat *f = &vdev__cpuid_feats[i];
		uint32_t fn = f->function;

		if (f->flags & VDEV__CPUID_FF_KVM) {
			if (!kvm)
				continue;
			fn = kvm + 1;
		}
		e = vdev__cpuid_find(t, fn, f->index);
		if (e && (reg_val(e, f->reg) >> f->bit) & 1)
			vdev__fset_set(&t->feat, i);
	}
}

void vdev__cpuid_table_cpu(const vdev_cpuid_table *t, struct vdev__cpuid_cpu *cpu)
{
	const struct vdev_cpuid_entry *e;
	uint32_t i;

	memset(cpu, 0, sizeof(*cpu));
	cpu->vendor = t->vendor;
	cpu->feat = t->feat;
	e = vdev__cpuid_find(t, 1, 0);
	if (e) {
		uint32_t fam = (e->eax >> 8) & 0xf, mod = (e->eax >> 4) & 0xf;

		if (fam == 0xf)
			fam += (e->eax >> 20) & 0xff;
		if (fam == 6 || fam >= 0xf)
			mod |= ((e->eax >> 16) & 0xf) << 4;
		cpu->family = fam;
		cpu->model = mod;
		cpu->stepping = e->eax & 0xf;
	}
	for (i = 0; i < 3; i++) {
		e = vdev__cpuid_find(t, 0x80000002 + i, 0);
		if (!e)
			break;
		vdev__put_le32(cpu->brand + 16 * i, e->eax);
		vdev__put_le32(cpu->brand + 16 * i + 4, e->ebx);
		vdev__put_le32(cpu->brand + 16 * i + 8, e->ecx);
		vdev__put_le32(cpu->brand + 16 * i + 12, e->edx);
	}
	cpu->brand[48] = '\0';
}

/* The APIC ID layout: thread in the low smt_bits, then the core, then
 * the socket (SDM vol. 3A, 10.12.8 / "Hierarchical mapping"). */
static uint32_t apic_id(const vdev_cpuid_table *t, uint32_t v, uint32_t *core, uint32_t *sock)
{
	uint32_t thread = v % t->threads;

	*core = (v / t->threads) % t->cores;
	*sock = v / (t->threads * t->cores);
	return (*sock << (t->smt_bits + t->core_bits)) | (*core << t->smt_bits) | thread;
}

int vdev_cpuid_entries(const vdev_cpuid_table *t, uint32_t vcpu_index,
		       struct vdev_cpuid_entry *out, size_t cap)
{
	uint32_t id, core, sock;
	size_t i;

	if (!t || (cap && !out))
		return -EINVAL;
	if (t->has_topo && vcpu_index >= t->nvcpu)
		return -EINVAL;
	if (cap < t->n)
		return -ENOSPC;
	memcpy(out, t->e, t->n * sizeof(*out));
	if (!t->has_topo)
		return (int)t->n;
	id = apic_id(t, vcpu_index, &core, &sock);
	for (i = 0; i < t->n; i++) {
		struct vdev_cpuid_entry *e = &out[i];

		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x00ffffffu) | ((id & 0xff) << 24);
			break;
		case 0xb:
		case 0x1f:
			e->edx = id;
			break;
		case 0x8000001e:
			/* Extended APIC ID; core ID in the socket [7:0]; node ID
			 * [7:0] (one node per socket). */
			e->eax = id;
			e->ebx = (e->ebx & ~0xffu) | (core & 0xff);
			e->ecx = (e->ecx & ~0xffu) | (sock & 0xff);
			break;
		default:
			break;
		}
	}
	return (int)t->n;
}

size_t vdev_cpuid_entry_count(const vdev_cpuid_table *t)
{
	return t ? t->n : 0;
}

const char *vdev_cpuid_table_dropped(const vdev_cpuid_table *t, size_t i)
{
	size_t f, k = 0;

	if (!t)
		return NULL;
	for (f = 0; f < vdev__cpuid_nfeats; f++)
		if (vdev__fset_has(&t->dropped, f) && k++ == i)
			return vdev__cpuid_feats[f].name;
	return NULL;
}

int vdev_cpuid_table_has(const vdev_cpuid_table *t, const char *name)
{
	int i;

	if (!t || !name)
		return -EINVAL;
	i = vdev__cpuid_feat_find(name, strlen(name));
	if (i < 0)
		return -EINVAL;
	return vdev__fset_has(&t->feat, (size_t)i) ? 1 : 0;
}

void vdev_cpuid_table_free(vdev_cpuid_table *t)
{
	if (!t)
		return;
	free(t->e);
	free(t);
}
