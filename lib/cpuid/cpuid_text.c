/* SPDX-License-Identifier: MIT */
/*
 * The text form of a table: one entry per line,
 *   FUNCTION INDEX FLAGS EAX EBX ECX EDX
 * as 0x-prefixed hex (decimal is accepted on input), '#' to end of line
 * is a comment. The parser takes untrusted input: every line is checked
 * fully, numbers must fit 32 bits, flags may only hold
 * VDEV_CPUID_F_SIGNIFICANT_INDEX, and a (function, index) may appear once.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpuid/cpuid_internal.h"

#define MAX_PARSED_ENTRIES 1024

struct out {
	char *buf;
	size_t size, len;
};

static void VDEV_PRINTF(2, 3) put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->len < o->size ? o->buf + o->len : NULL,
		      o->len < o->size ? o->size - o->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

int vdev_cpuid_dump(const vdev_cpuid_table *t, char *buf, size_t size)
{
	struct vdev_cpuid_entry e;
	struct vdev__cpuid_cpu cpu;
	struct out o = { buf, buf ? size : 0, 0 };
	size_t i;

	if (!t)
		return -EINVAL;
	vdev__cpuid_table_cpu(t, &cpu);
	put(&o, "# libvdev cpuid table v1: %s family %u model %u stepping %u \"%s\"\n",
	    cpu.vendor == VDEV_CPUID_VENDOR_INTEL ? "GenuineIntel" :
	    cpu.vendor == VDEV_CPUID_VENDOR_AMD ? "AuthenticAMD" : "unknown-vendor",
	    cpu.family, cpu.model, cpu.stepping, cpu.brand);
	if (t->has_topo)
		put(&o, "# topology %u:%u:%u (sockets:cores:threads), vCPU 0's view\n",
		    t->sockets, t->cores, t->threads);
	put(&o, "# function index     flags eax        ebx        ecx        edx\n");
	/* The stored entries are vCPU 0's view: its APIC, core and node IDs are 0. */
	for (i = 0; i < t->n; i++) {
		e = t->e[i];
		put(&o, "0x%08x 0x%08x 0x%x 0x%08x 0x%08x 0x%08x 0x%08x\n", e.function, e.index,
		    e.flags, e.eax, e.ebx, e.ecx, e.edx);
	}
	put(&o, "# features:");
	for (i = 0; i < vdev__cpuid_nfeats; i++)
		if (vdev__fset_has(&t->feat, i))
			put(&o, " %s", vdev__cpuid_feats[i].name);
	put(&o, "\n");
	for (i = 0; vdev_cpuid_table_dropped(t, i); i++)
		put(&o, "%s %s", i ? "" : "# dropped (host lacks):", vdev_cpuid_table_dropped(t, i));
	if (i)
		put(&o, "\n");
	if (o.len > (size_t)0x7fffffff)
		return -EOVERFLOW;
	return (int)o.len;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* One number at *p (< end): "0x" hex or decimal, at most 32 bits. */
static int parse_u32(const char **pp, const char *end, uint32_t *v)
{
	const char *p = *pp;
	uint64_t acc = 0;
	unsigned int base = 10, digits = 0;

	if (end - p >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (; p < end && !is_space(*p); p++) {
		unsigned int d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned int)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned int)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned int)(*p - 'A' + 10);
		else
			return -EINVAL;
		acc = acc * base + d;
		if (acc > 0xffffffffu)
			return -ERANGE;
		digits++;
	}
	if (!digits)
		return -EINVAL;
	*v = (uint32_t)acc;
	*pp = p;
	return 0;
}

/* One line without its newline: 0 and *n == 0 (blank), 0 and *n == 7, or an error. */
static int parse_line(const char *p, const char *end, uint32_t f[7], int *n)
{
	*n = 0;
	for (;;) {
		int rc;

		while (p < end && is_space(*p))
			p++;
		if (p == end || *p == '#')
			return *n == 0 || *n == 7 ? 0 : -EINVAL;
		if (*n == 7)
			return -EINVAL; /* trailing garbage */
		rc = parse_u32(&p, end, &f[*n]);
		if (rc)
			return rc;
		(*n)++;
	}
}

int vdev_cpuid_parse(vdev_ctx *ctx, const char *text, size_t len, vdev_cpuid_table **out)
{
	const char *p, *end;
	vdev_cpuid_table *t;
	unsigned long line = 0;
	int rc = 0;

	if (!out || (!text && len))
		return -EINVAL;
	*out = NULL;
	p = text;
	end = text ? text + len : text;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		uint32_t f[7];
		int n;

		line++;
		rc = parse_line(p, eol, f, &n);
		if (rc) {
			vdev_log(ctx, VDEV_LOG_ERROR, "cpuid: parse: line %lu: %s", line,
				 rc == -ERANGE ? "number does not fit 32 bits" :
				 "expected FUNCTION INDEX FLAGS EAX EBX ECX EDX");
			rc = -EINVAL;
			goto fail;
		}
		p = nl ? nl + 1 : end;
		if (!n)
			continue;
		if (f[2] & ~VDEV_CPUID_F_SIGNIFICANT_INDEX) {
			vdev_log(ctx, VDEV_LOG_ERROR, "cpuid: parse: line %lu: unknown flags 0x%x",
				 line, f[2]);
			rc = -EINVAL;
			goto fail;
		}
		if (t->n == MAX_PARSED_ENTRIES) {
			vdev_log(ctx, VDEV_LOG_ERROR, "cpuid: parse: more than %d entries",
				 MAX_PARSED_ENTRIES);
			rc = -EINVAL;
			goto fail;
		}
		if (!t->e) {
			t->e = calloc(MAX_PARSED_ENTRIES, sizeof(*t->e));
			if (!t->e) {
				rc = -ENOMEM;
				goto fail;
			}
		}
		t->e[t->n] = (struct vdev_cpuid_entry){ .function = f[0], .index = f[1],
							.flags = f[2], .eax = f[3], .ebx = f[4],
							.ecx = f[5], .edx = f[6] };
		t->n++;
	}
	if (!t->n) {
		vdev_log(ctx, VDEV_LOG_ERROR, "cpuid: parse: no entries");
		rc = -EINVAL;
		goto fail;
	}
	if (vdev__cpuid_sort(t)) {
		vdev_log(ctx, VDEV_LOG_ERROR, "cpuid: parse: a (function, index) appears twice");
		rc = -EINVAL;
		goto fail;
	}
	vdev__cpuid_decode(t);
	*out = t;
	return 0;
fail:
	vdev_cpuid_table_free(t);
	return rc;
}
