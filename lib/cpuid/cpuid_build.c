/* SPDX-License-Identifier: MIT */
/*
 * vdev_cpuid_build(): model spec -> feature set (dependencies, vendor
 * scope) -> masking against the host -> leaf table; and the baseline of
 * several tables, which goes through the same emitter.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cpuid/cpuid_internal.h"

#define MAX_VCPUS 4096u
#define MAX_PER_LEVEL 256u

static const char *vendor_name(uint32_t v)
{
	return v == VDEV_CPUID_VENDOR_INTEL ? "Intel" : "AMD";
}

/* Everything "MODEL,+a,-b" says, before it is applied. */
struct spec {
	const char *model;
	size_t model_len;
	struct vdev__cpuid_fset plus, minus;
};

static int parse_spec(vdev_ctx *ctx, const char *s, struct spec *sp)
{
	const char *p;

	memset(sp, 0, sizeof(*sp));
	sp->model = s;
	sp->model_len = strcspn(s, ",");
	if (!sp->model_len) {
		vdev_log(ctx, VDEV_LOG_ERROR, "cpuid: empty model name in \"%s\"", s);
		return -EINVAL;
	}
	p = s + sp->model_len;
	while (*p == ',') {
		size_t len;
		bool minus = false;
		int i;

		p++;
		len = strcspn(p, ",");
		if (len && (*p == '+' || *p == '-')) {
			minus = *p == '-';
			p++;
			len--;
		}
		i = len ? vdev__cpuid_feat_find(p, len) : -1;
		if (i < 0) {
			vdev_log(ctx, VDEV_LOG_ERROR, "cpuid: unknown feature \"%.*s\" in \"%s\"",
				 (int)VDEV__MIN(len, 64u), p, s);
			return -EINVAL;
		}
		vdev__fset_set(minus ? &sp->minus : &sp->plus, (size_t)i);
		p += len;
	}
	return 0;
}

/* Features of @kvm_mask's bits; -EINVAL for a bit the registry lacks. */
static int kvm_set(vdev_ctx *ctx, uint32_t kvm_mask, struct vdev__cpuid_fset *s)
{
	uint32_t known = 0;
	size_t i;

	for (i = 0; i < vdev__cpuid_nfeats; i++) {
		const struct vdev__cpuid_feat *f = &vdev__cpuid_feats[i];

		if (!(f->flags & VDEV__CPUID_FF_KVM))
			continue;
		known |= 1u << f->bit;
		if (kvm_mask & (1u << f->bit))
			vdev__fset_set(s, i);
	}
	if (kvm_mask & ~known) {
		vdev_log(ctx, VDEV_LOG_ERROR, "cpuid: unknown KVM feature bits 0x%x",
			 kvm_mask & ~known);
		return -EINVAL;
	}
	return 0;
}

/*
 * final = (model + deps(plus)) - dependents(minus). A "+f" that does not
 * survive (it, or something it needs, was removed) is a conflict; a
 * feature of the other vendor is refused.
 */
static int apply_spec(vdev_ctx *ctx, const struct spec *sp, uint32_t vendor,
		      struct vdev__cpuid_fset *feat)
{
	struct vdev__cpuid_fset want = sp->plus;
	size_t i, w;

	vdev__cpuid_close_deps(&want);
	for (i = 0; i < vdev__cpuid_nfeats; i++) {
		if (!vdev__fset_has(&want, i))
			continue;
		if (!(vdev__cpuid_feats[i].vendors & vendor)) {
			vdev_log(ctx, VDEV_LOG_ERROR, "cpuid: %s is not an %s feature%s",
				 vdev__cpuid_feats[i].name, vendor_name(vendor),
				 vdev__fset_has(&sp->plus, i) ? "" : " (needed by a +feature)");
			return -EINVAL;
		}
		if (vdev__fset_has(&sp->minus, i)) {
			vdev_log(ctx, VDEV_LOG_ERROR,
				 "cpuid: the spec both removes %s and adds something that needs it",
				 vdev__cpuid_feats[i].name);
			return -EINVAL;
		}
	}
	for (w = 0; w < VDEV__CPUID_FSET_WORDS; w++)
		feat->w[w] = (feat->w[w] | want.w[w]) & ~sp->minus.w[w];
	vdev__cpuid_close_dependents(feat);
	return 0;
}

static void report(vdev_ctx *ctx, const struct vdev_cpuid_opts *o, bool enforce, size_t i,
		   const char *reason)
{
	vdev_log(ctx, enforce ? VDEV_LOG_ERROR : VDEV_LOG_WARN, "cpuid: host lacks %s (%s)%s",
		 vdev__cpuid_feats[i].name, reason, enforce ? "" : ": dropped");
	if (o->dropped)
		o->dropped(o->dropped_opaque, vdev__cpuid_feats[i].name, reason);
}

/* Drop what @host lacks (and what needs it); -ENOTSUP under enforce. */
static int mask_host(vdev_ctx *ctx, const struct vdev_cpuid_opts *o, struct vdev__cpuid_fset *feat,
		     struct vdev__cpuid_fset *dropped)
{
	const vdev_cpuid_table *host = o->host;
	bool host_kvm = host->kvm_base != 0;
	struct vdev__cpuid_fset before = *feat;
	char why[64];
	size_t i, d, w;

	for (i = 0; i < vdev__cpuid_nfeats; i++) {
		const struct vdev__cpuid_feat *f = &vdev__cpuid_feats[i];

		if (!vdev__fset_has(feat, i) || vdev__fset_has(&host->feat, i))
			continue;
		if (f->flags & VDEV__CPUID_FF_EMUL)
			continue;
		/* A table without KVM leaves says nothing about PV features. */
		if ((f->flags & VDEV__CPUID_FF_KVM) && !host_kvm)
			continue;
		vdev__fset_clear(feat, i);
	}
	vdev__cpuid_close_dependents(feat);
	memset(dropped, 0, sizeof(*dropped));
	for (w = 0; w < VDEV__CPUID_FSET_WORDS; w++)
		dropped->w[w] = before.w[w] & ~feat->w[w];
	for (i = 0; i < vdev__cpuid_nfeats; i++) {
		const char *reason = "not supported by the host";

		if (!vdev__fset_has(dropped, i))
			continue;
		if (vdev__fset_has(&host->feat, i) ||
		    (vdev__cpuid_feats[i].flags & VDEV__CPUID_FF_KVM && !host_kvm)) {
			for (d = 0; d < VDEV__CPUID_MAX_DEPS; d++) {
				const char *dn = vdev__cpuid_feats[i].deps[d];
				int j = dn ? vdev__cpuid_feat_find(dn, strlen(dn)) : -1;

				if (j >= 0 && vdev__fset_has(dropped, (size_t)j)) {
					snprintf(why, sizeof(why), "needs %s", dn);
					reason = why;
					break;
				}
			}
		}
		report(ctx, o, o->enforce, i, reason);
	}
	for (w = 0; w < VDEV__CPUID_FSET_WORDS; w++)
		if (dropped->w[w] && o->enforce)
			return -ENOTSUP;
	return 0;
}

static int topology(vdev_ctx *ctx, const struct vdev_cpuid_opts *o, struct vdev__cpuid_build *b)
{
	b->sockets = o->sockets ? o->sockets : 1;
	b->cores = o->cores ? o->cores : 1;
	b->threads = o->threads ? o->threads : 1;
	if (b->sockets > MAX_PER_LEVEL || b->cores > MAX_PER_LEVEL || b->threads > MAX_PER_LEVEL ||
	    b->sockets * b->cores * b->threads > MAX_VCPUS) {
		vdev_log(ctx, VDEV_LOG_ERROR, "cpuid: topology %u:%u:%u is too large (at most %u vCPUs)",
			 b->sockets, b->cores, b->threads, MAX_VCPUS);
		return -EINVAL;
	}
	return 0;
}

int vdev_cpuid_build(vdev_ctx *ctx, const struct vdev_cpuid_opts *opts, vdev_cpuid_table **out)
{
	struct vdev_cpuid_opts o;
	struct vdev__cpuid_build b = { 0 };
	struct vdev__cpuid_cpu cpu;
	struct vdev__cpuid_fset dropped;
	struct spec sp;
	const struct vdev__cpuid_model *m;
	vdev_cpuid_table *t;
	int rc;
	size_t i;

	if (!opts || !out)
		return -EINVAL;
	*out = NULL;
	rc = vdev__copy_sized(&o, sizeof(o), opts);
	if (rc)
		return rc;
	rc = topology(ctx, &o, &b);
	if (rc)
		return rc;
	rc = parse_spec(ctx, o.model ? o.model : "x86-64", &sp);
	if (rc)
		return rc;
	if (sp.model_len == 4 && !strncasecmp(sp.model, "host", 4)) {
		if (!o.host || !o.host->vendor) {
			vdev_log(ctx, VDEV_LOG_ERROR, "cpuid: model \"host\" needs an Intel or AMD "
				 "host table");
			return -EINVAL;
		}
		vdev__cpuid_table_cpu(o.host, &cpu);
		/* Only what the registry knows and the vendor defines. */
		for (i = 0; i < vdev__cpuid_nfeats; i++)
			if (!(vdev__cpuid_feats[i].vendors & cpu.vendor) ||
			    (vdev__cpuid_feats[i].flags & VDEV__CPUID_FF_KVM))
				vdev__fset_clear(&cpu.feat, i);
		vdev__cpuid_close_dependents(&cpu.feat);
	} else {
		m = vdev__cpuid_model_find(sp.model, sp.model_len);
		if (!m) {
			vdev_log(ctx, VDEV_LOG_ERROR, "cpuid: unknown CPU model \"%.*s\"",
				 (int)VDEV__MIN(sp.model_len, 64u), sp.model);
			return -EINVAL;
		}
		rc = vdev__cpuid_model_cpu(ctx, m, &cpu);
		if (rc)
			return rc;
	}
	b.kvm = o.kvm_features != VDEV_CPUID_KVM_NONE;
	b.hyperv = o.hyperv != 0;
	if (b.kvm) {
		rc = kvm_set(ctx, o.kvm_features ? o.kvm_features : VDEV_CPUID_KVM_DEFAULT,
			     &cpu.feat);
		if (rc)
			return rc;
	}
	rc = apply_spec(ctx, &sp, cpu.vendor, &cpu.feat);
	if (rc)
		return rc;
	if (!b.kvm) {
		/* No KVM leaves: PV bits have nowhere to live. */
		for (i = 0; i < vdev__cpuid_nfeats; i++)
			if (vdev__cpuid_feats[i].flags & VDEV__CPUID_FF_KVM)
				vdev__fset_clear(&cpu.feat, i);
	}
	memset(&dropped, 0, sizeof(dropped));
	if (o.host) {
		rc = mask_host(ctx, &o, &cpu.feat, &dropped);
		if (rc)
			return rc;
	}
	rc = vdev__cpuid_emit(&cpu, &b, &t);
	if (rc)
		return rc;
	t->dropped = dropped;
	*out = t;
	return 0;
}

int vdev_cpuid_baseline(vdev_ctx *ctx, const vdev_cpuid_table *const *tables, size_t n,
			vdev_cpuid_table **out)
{
	struct vdev__cpuid_build b = { 0 };
	struct vdev__cpuid_cpu cpu;
	size_t i, w;

	if (!tables || !n || !out || !tables[0])
		return -EINVAL;
	*out = NULL;
	vdev__cpuid_table_cpu(tables[0], &cpu);
	if (!cpu.vendor) {
		vdev_log(ctx, VDEV_LOG_ERROR, "cpuid: baseline: table 0 has no Intel/AMD vendor");
		return -EINVAL;
	}
	for (i = 1; i < n; i++) {
		if (!tables[i])
			return -EINVAL;
		if (tables[i]->vendor != cpu.vendor) {
			vdev_log(ctx, VDEV_LOG_ERROR, "cpuid: baseline: table %zu has another vendor",
				 i);
			return -EINVAL;
		}
		for (w = 0; w < VDEV__CPUID_FSET_WORDS; w++)
			cpu.feat.w[w] &= tables[i]->feat.w[w];
	}
	vdev__cpuid_close_dependents(&cpu.feat);
	b.sockets = tables[0]->has_topo ? tables[0]->sockets : 1;
	b.cores = tables[0]->has_topo ? tables[0]->cores : 1;
	b.threads = tables[0]->has_topo ? tables[0]->threads : 1;
	b.kvm = tables[0]->kvm_base != 0;
	b.hyperv = tables[0]->hyperv;
	return vdev__cpuid_emit(&cpu, &b, out);
}
