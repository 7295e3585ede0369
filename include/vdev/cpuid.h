/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/cpuid.h
 * CPUID feature tables for x86 guests: a feature registry (name <-> leaf,
 * subleaf, register, bit), named and versioned CPU models, a builder that
 * turns "MODEL[,+feat,-feat...]" plus a vCPU topology into a complete,
 * self-consistent leaf table, masking against what the host supports,
 * migration checks (compare, baseline) and a readable text form.
 *
 * The core is pure data and pure functions: nothing here touches a device
 * or an ioctl except vdev_cpuid_host_kvm(), which asks /dev/kvm.
 *
 * Feature names are the ones Linux prints in /proc/cpuinfo where Linux
 * prints one ("pni", "lahf_lm", "sse4_1", "tsc_deadline_timer"); QEMU's
 * spellings ("sse3", "lahf-lm", "sse4.1", "tsc-deadline") are accepted as
 * aliases. KVM paravirtual features use QEMU's names ("kvm-pv-eoi").
 *
 * Dependencies: "-feat" also removes every feature that needs it
 * ("-avx" removes avx2, fma, f16c, the AVX-512 family ...); "+feat" pulls
 * in what it needs ("+avx2" on a model without XSAVE adds xsave and avx),
 * but a spec that both adds a feature and removes something it needs
 * ("+avx2,-xsave") is refused with -EINVAL. Vendor-scoped features
 * (fma4, xop, tbm on AMD; hle, rtm on Intel ...) are refused on the
 * other vendor's models.
 *
 * Threading: tables are immutable after vdev_cpuid_build(); any thread
 * may read one. The @c ctx arguments only receive log lines.
 */
#ifndef VDEV_CPUID_H
#define VDEV_CPUID_H

#include <vdev/common.h>

VDEV_BEGIN_DECLS

/**
 * One CPUID leaf, laid out exactly like Linux's struct kvm_cpuid_entry2
 * (40 bytes), so an array of them can be copied into struct kvm_cpuid2's
 * entries as is.
 */
struct vdev_cpuid_entry {
	uint32_t function;   /**< EAX input (leaf) */
	uint32_t index;      /**< ECX input (subleaf) */
	uint32_t flags;      /**< VDEV_CPUID_F_* */
	uint32_t eax, ebx, ecx, edx;
	uint32_t padding[3];
};

/** The leaf's value depends on ECX (== KVM_CPUID_FLAG_SIGNIFCANT_INDEX). */
#define VDEV_CPUID_F_SIGNIFICANT_INDEX (1u << 0)

/** Registers, for struct vdev_cpuid_feature_info. */
enum vdev_cpuid_reg {
	VDEV_CPUID_EAX = 0,
	VDEV_CPUID_EBX = 1,
	VDEV_CPUID_ECX = 2,
	VDEV_CPUID_EDX = 3,
};

/** Vendors (bit mask in struct vdev_cpuid_feature_info.vendors). */
#define VDEV_CPUID_VENDOR_INTEL (1u << 0)
#define VDEV_CPUID_VENDOR_AMD   (1u << 1)

/**
 * KVM paravirtual features: bits of CPUID 0x40000001 EAX (Linux
 * Documentation/virt/kvm/x86/cpuid.rst), for vdev_cpuid_opts.kvm_features.
 */
#define VDEV_CPUID_KVM_CLOCKSOURCE         (1u << 0)
#define VDEV_CPUID_KVM_NOP_IO_DELAY        (1u << 1)
#define VDEV_CPUID_KVM_CLOCKSOURCE2        (1u << 3)
#define VDEV_CPUID_KVM_ASYNC_PF            (1u << 4)
#define VDEV_CPUID_KVM_STEAL_TIME          (1u << 5)
#define VDEV_CPUID_KVM_PV_EOI              (1u << 6)
#define VDEV_CPUID_KVM_PV_UNHALT           (1u << 7)
#define VDEV_CPUID_KVM_PV_TLB_FLUSH        (1u << 9)
#define VDEV_CPUID_KVM_ASYNC_PF_VMEXIT     (1u << 10)
#define VDEV_CPUID_KVM_PV_SEND_IPI         (1u << 11)
#define VDEV_CPUID_KVM_POLL_CONTROL        (1u << 12)
#define VDEV_CPUID_KVM_PV_SCHED_YIELD      (1u << 13)
#define VDEV_CPUID_KVM_ASYNC_PF_INT        (1u << 14)
#define VDEV_CPUID_KVM_MSI_EXT_DEST_ID     (1u << 15)
#define VDEV_CPUID_KVM_CLOCKSOURCE_STABLE  (1u << 24)
/** What kvm_features == 0 means: kvmclock (both MSR sets, stable bit),
 *  no I/O delay, async PF, steal time and PV-EOI. */
#define VDEV_CPUID_KVM_DEFAULT                                                    \
	(VDEV_CPUID_KVM_CLOCKSOURCE | VDEV_CPUID_KVM_NOP_IO_DELAY |               \
	 VDEV_CPUID_KVM_CLOCKSOURCE2 | VDEV_CPUID_KVM_ASYNC_PF |                  \
	 VDEV_CPUID_KVM_STEAL_TIME | VDEV_CPUID_KVM_PV_EOI |                      \
	 VDEV_CPUID_KVM_CLOCKSOURCE_STABLE)
/** kvm_features value for "no KVM leaves at all" (0x40000000 absent). */
#define VDEV_CPUID_KVM_NONE 0xffffffffu

/** A built table (opaque, immutable). */
typedef struct vdev_cpuid_table vdev_cpuid_table;

/**
 * Called once per feature bit the host lacks (masking), before
 * vdev_cpuid_build() returns. @p name is the feature's name, @p reason
 * says why ("not supported by the host" or "needs <feature>"). Both
 * strings live only for the call.
 */
typedef void (*vdev_cpuid_dropped_cb)(void *opaque, const char *name, const char *reason);

/** Options for vdev_cpuid_build(). Begins with struct_size. */
struct vdev_cpuid_opts {
	size_t struct_size;
	/**
	 * "MODEL[,+feat][,-feat]...", e.g. "Haswell-noTSX,+x2apic,-rtm".
	 * MODEL is a name from vdev_cpuid_model_get() (case-insensitive) or
	 * "host": the @c host table's vendor, family/model/stepping, brand
	 * string and every registry feature it offers, built into a table
	 * like any model (needs @c host). NULL means "x86-64".
	 */
	const char *model;
	uint32_t sockets;            /**< 0 = 1 */
	uint32_t cores;              /**< cores per socket, 0 = 1 */
	uint32_t threads;            /**< threads per core, 0 = 1 */
	/** VDEV_CPUID_KVM_* bits; 0 = VDEV_CPUID_KVM_DEFAULT; VDEV_CPUID_KVM_NONE = no KVM leaves. */
	uint32_t kvm_features;
	/**
	 * Nonzero: Hyper-V leaves at 0x40000000-0x40000006 (vendor
	 * "Microsoft Hv", interface "Hv#1", relaxed timing, VP index,
	 * hypercall MSRs, APIC access MSRs, partition reference counter and
	 * reference TSC page, frequency MSRs; the VMM implements those MSRs)
	 * and the KVM leaves move to 0x40000100.
	 */
	int hyperv;
	/** The host's table to mask against (e.g. from vdev_cpuid_host_kvm()); NULL: no masking. */
	const vdev_cpuid_table *host;
	/** Nonzero: a feature the host lacks fails the build with -ENOTSUP instead. */
	int enforce;
	/** Optional per-dropped-bit report (see also vdev_cpuid_table_dropped()). */
	vdev_cpuid_dropped_cb dropped;
	void *dropped_opaque;
};

/**
 * Build a table. Errors: -EINVAL (unknown model or feature, malformed
 * spec, vendor-scoped feature on the wrong vendor, conflicting +/-, more
 * than 4096 vCPUs, "host" without @c host), -ENOTSUP (enforce and the
 * host lacks something: every missing feature is logged and reported to
 * @c dropped), -ENOMEM. The reason is logged through @p ctx (may be NULL:
 * no logging). On success *out owns a table the caller frees with
 * vdev_cpuid_table_free(). Thread: any.
 */
VDEV_API int vdev_cpuid_build(vdev_ctx *ctx, const struct vdev_cpuid_opts *opts,
			      vdev_cpuid_table **out);

/**
 * The table as seen by vCPU @p vcpu_index (0 .. sockets*cores*threads-1):
 * the leaves that differ per vCPU are filled for it (initial APIC ID in
 * leaf 1 EBX[31:24]; x2APIC ID in 0xB / 0x1F EDX; 0x8000001E). Entries
 * are sorted by (function, index). Tables from vdev_cpuid_parse() or
 * vdev_cpuid_host_kvm() hold no topology: they are returned as stored.
 *
 * @return the number of entries written (>= 1), -ENOSPC if @p cap is too
 * small (then nothing useful is written; vdev_cpuid_entry_count() says how
 * many are needed), -EINVAL if @p vcpu_index is out of range or @p t is
 * NULL. @p out may be NULL when @p cap is 0. Thread: any.
 */
VDEV_API int vdev_cpuid_entries(const vdev_cpuid_table *t, uint32_t vcpu_index,
				struct vdev_cpuid_entry *out, size_t cap);

/**
 * @return the number of entries vdev_cpuid_entries() writes (the same for
 * every vCPU), or 0 if @p t is NULL. Thread: any.
 */
VDEV_API size_t vdev_cpuid_entry_count(const vdev_cpuid_table *t);

/**
 * The name of the @p i-th feature masking dropped while building @p t
 * (the host lacked it, or it needs one the host lacked), in registry
 * order; NULL past the end. The string belongs to the library (static).
 * Thread: any.
 */
VDEV_API const char *vdev_cpuid_table_dropped(const vdev_cpuid_table *t, size_t i);

/**
 * Whether @p t has feature @p name (a registry name or alias):
 * 1 yes, 0 no, -EINVAL unknown name. Thread: any.
 */
VDEV_API int vdev_cpuid_table_has(const vdev_cpuid_table *t, const char *name);

/** Free a table (NULL is fine). Thread: any, once no one else reads it. */
VDEV_API void vdev_cpuid_table_free(vdev_cpuid_table *t);

/** One CPU model, as vdev_cpuid_model_get() describes it. */
struct vdev_cpuid_model_info {
	size_t struct_size;          /**< set by the caller */
	const char *name;            /**< e.g. "Haswell-noTSX" (static) */
	uint32_t version;            /**< bumped whenever the model's guest-visible table changes */
	const char *vendor;          /**< "GenuineIntel" or "AuthenticAMD" (static) */
	const char *description;     /**< one line (static) */
	uint32_t family, model, stepping;
};

/**
 * Enumerate the models: fill @p info (up to info->struct_size) for model
 * @p index. @return 0, -ENOENT past the last model, -EINVAL on a bad
 * @p info. Thread: any.
 */
VDEV_API int vdev_cpuid_model_get(size_t index, struct vdev_cpuid_model_info *info);

/** One registry feature, as vdev_cpuid_feature_get() describes it. */
struct vdev_cpuid_feature_info {
	size_t struct_size;          /**< set by the caller */
	const char *name;            /**< /proc/cpuinfo spelling (static) */
	const char *alias;           /**< QEMU spelling when different, else NULL (static) */
	uint32_t function, index;    /**< leaf and subleaf */
	uint32_t reg;                /**< enum vdev_cpuid_reg */
	uint32_t bit;                /**< 0..31 */
	uint32_t vendors;            /**< VDEV_CPUID_VENDOR_* bits it may appear on */
};

/**
 * Enumerate the feature registry (@p index from 0) or look one up by
 * name/alias (@p name non-NULL: @p index is ignored). @return 0, -ENOENT
 * past the end or for an unknown name, -EINVAL on a bad @p info.
 * Thread: any.
 */
VDEV_API int vdev_cpuid_feature_get(size_t index, const char *name,
				    struct vdev_cpuid_feature_info *info);

/**
 * Write @p t as text (vCPU 0's view) into @p buf: a header comment, then
 * one line per entry, "FUNCTION INDEX FLAGS EAX EBX ECX EDX" in hex,
 * followed by a "# features:" comment. @return the length of the whole
 * text (not counting the NUL); it is written (NUL-terminated) only if it
 * fits in @p size, snprintf-style. -EINVAL on NULL @p t. Thread: any.
 */
VDEV_API int vdev_cpuid_dump(const vdev_cpuid_table *t, char *buf, size_t size);

/**
 * Parse the text form (as vdev_cpuid_dump() writes it; '#' starts a
 * comment; blank lines are ignored) into a table that holds exactly those
 * entries. @return 0, -EINVAL (malformed line, number out of range,
 * duplicate (function, index), more than 1024 entries, no entries; the
 * line number is logged through @p ctx), -ENOMEM. Thread: any.
 */
VDEV_API int vdev_cpuid_parse(vdev_ctx *ctx, const char *text, size_t len,
			      vdev_cpuid_table **out);

/**
 * Is a guest started with table @p a safe to move to a host (or model)
 * offering @p b? Safe means: same vendor, and every registry feature
 * @p a offers is in @p b. For each feature @p b lacks, @p lacking (may be
 * NULL) is called with its name ("vendor" for a vendor mismatch).
 * @return 1 safe, 0 not safe, -EINVAL on NULL tables. Thread: any.
 */
VDEV_API int vdev_cpuid_compare(const vdev_cpuid_table *a, const vdev_cpuid_table *b,
				void (*lacking)(void *opaque, const char *name), void *opaque);

/**
 * Compute a baseline of @p n tables: the features all of them offer,
 * on the vendor, family/model/stepping and brand string of the first one
 * (whose topology it keeps). A guest started on the result may move to any
 * input (vdev_cpuid_compare(result, input) is 1).
 * @return 0, -EINVAL (n == 0, NULL entries, vendors differ), -ENOMEM.
 * Thread: any.
 */
VDEV_API int vdev_cpuid_baseline(vdev_ctx *ctx, const vdev_cpuid_table *const *tables,
				 size_t n, vdev_cpuid_table **out);

/**
 * The host's table from KVM_GET_SUPPORTED_CPUID on /dev/kvm (a table
 * without topology, for vdev_cpuid_opts.host or "host" models).
 * @return 0, -ENODEV without /dev/kvm (or not permitted to open it), the
 * ioctl's negative errno, -ENOMEM. Thread: any.
 */
VDEV_API int vdev_cpuid_host_kvm(vdev_ctx *ctx, vdev_cpuid_table **out);

VDEV_END_DECLS

#endif /* VDEV_CPUID_H */
