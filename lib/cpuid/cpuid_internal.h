/* SPDX-License-Identifier: MIT */
/*
 * lib/cpuid internals: the feature registry, the model definitions, the
 * table layout and the helpers the builder, masking, text and compare
 * files share. Not installed.
 */
#ifndef VDEV_CPUID_INTERNAL_H
#define VDEV_CPUID_INTERNAL_H

#include <stdbool.h>
#include <vdev/cpuid.h>

#include "core/core.h"

/* A set of registry features: bit i is vdev__cpuid_feats[i]. */
#define VDEV__CPUID_FSET_WORDS 4
struct vdev__cpuid_fset {
	uint64_t w[VDEV__CPUID_FSET_WORDS];
};

static inline bool vdev__fset_has(const struct vdev__cpuid_fset *s, size_t i)
{
	return (s->w[i / 64] >> (i % 64)) & 1;
}
static inline void vdev__fset_set(struct vdev__cpuid_fset *s, size_t i)
{
	s->w[i / 64] |= (uint64_t)1 << (i % 64);
}
static inline void vdev__fset_clear(struct vdev__cpuid_fset *s, size_t i)
{
	s->w[i / 64] &= ~((uint64_t)1 << (i % 64));
}

/* Feature flags. */
enum {
	/* Provided by the VMM whatever the host says (never masked). */
	VDEV__CPUID_FF_EMUL = 1u << 0,
	/* A KVM PV bit: lives in the KVM leaf (0x40000001 or 0x40000101). */
	VDEV__CPUID_FF_KVM = 1u << 1,
};

#define VDEV__CPUID_MAX_DEPS 3
struct vdev__cpuid_feat {
	const char *name;   /* /proc/cpuinfo spelling */
	const char *alias;  /* QEMU spelling, or NULL */
	uint32_t function;
	uint8_t index;
	uint8_t reg;        /* enum vdev_cpuid_reg */
	uint8_t bit;
	uint8_t vendors;    /* VDEV_CPUID_VENDOR_* */
	uint8_t flags;      /* VDEV__CPUID_FF_* */
	const char *deps[VDEV__CPUID_MAX_DEPS]; /* features this one needs */
};

extern const struct vdev__cpuid_feat vdev__cpuid_feats[];
extern const size_t vdev__cpuid_nfeats;

/* Registry index of @name (name or alias, exact), or -1. */
int vdev__cpuid_feat_find(const char *name, size_t len);

/* Add to @s every dependency of its members, transitively. */
void vdev__cpuid_close_deps(struct vdev__cpuid_fset *s);
/* Remove from @s every member that needs (transitively) one not in @s. */
void vdev__cpuid_close_dependents(struct vdev__cpuid_fset *s);

struct vdev__cpuid_model {
	const char *name;
	const char *description;
	uint32_t version;
	uint32_t vendor;    /* one VDEV_CPUID_VENDOR_* bit */
	uint32_t family, model, stepping;
	const char *brand;
	const char *features; /* space-separated registry names */
};

extern const struct vdev__cpuid_model vdev__cpuid_models[];
extern const size_t vdev__cpuid_nmodels;

const struct vdev__cpuid_model *vdev__cpuid_model_find(const char *name, size_t len);

/* What the builder needs from a model, decoded (also from a raw table). */
struct vdev__cpuid_cpu {
	uint32_t vendor;
	uint32_t family, model, stepping;
	char brand[49];
	struct vdev__cpuid_fset feat;
};

/* Model -> cpu: -EINVAL (logged) if its feature string names an unknown feature. */
int vdev__cpuid_model_cpu(vdev_ctx *ctx, const struct vdev__cpuid_model *m,
			  struct vdev__cpuid_cpu *cpu);

struct vdev_cpuid_table {
	uint32_t vendor;     /* VDEV_CPUID_VENDOR_* bit, 0 = unknown */
	bool has_topo;
	uint32_t kvm_base;   /* leaf with the "KVMKVMKVM" signature, 0 = none */
	bool hyperv;         /* "Microsoft Hv" at 0x40000000 */
	uint32_t sockets, cores, threads, nvcpu;
	unsigned int smt_bits, core_bits;
	struct vdev__cpuid_fset feat;     /* registry features the entries offer */
	struct vdev__cpuid_fset dropped;  /* masked away while building */
	size_t n;
	struct vdev_cpuid_entry *e;       /* sorted by (function, index) */
};

/* Vendor bit from leaf 0's registers, 0 if neither Intel nor AMD. */
uint32_t vdev__cpuid_vendor_of(uint32_t ebx, uint32_t ecx, uint32_t edx);
/* The entry for (function, index) in @t, or NULL. */
const struct vdev_cpuid_entry *vdev__cpuid_find(const vdev_cpuid_table *t, uint32_t function,
						uint32_t index);
/* Fill t->feat and t->vendor from t->e. */
void vdev__cpuid_decode(vdev_cpuid_table *t);
/* Decode @t into a cpu description (vendor, signature, brand, features). */
void vdev__cpuid_table_cpu(const vdev_cpuid_table *t, struct vdev__cpuid_cpu *cpu);
/* Sort t->e by (function, index); -EINVAL if two entries share a key. */
int vdev__cpuid_sort(vdev_cpuid_table *t);

/* Topology and the knobs the builder takes besides the cpu. */
struct vdev__cpuid_build {
	uint32_t sockets, cores, threads;
	bool kvm;     /* KVM leaves (their bits are the cpu's FF_KVM features) */
	bool hyperv;  /* Hyper-V leaves at 0x40000000, KVM's then at 0x40000100 */
};

/* Emit the complete table for @cpu (features final, already masked). */
int vdev__cpuid_emit(const struct vdev__cpuid_cpu *cpu, const struct vdev__cpuid_build *b,
		     vdev_cpuid_table **out);

#endif /* VDEV_CPUID_INTERNAL_H */
