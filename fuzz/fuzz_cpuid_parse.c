/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the CPUID text parser (a dumped table is untrusted input: it may
 * come from another host). For every input: vdev_cpuid_parse(); if it
 * accepts, the table must dump, the dump must parse back to the same
 * entries, and compare/baseline/masking a model against it must work.
 * A broken invariant traps.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vdev/vdev.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                        \
	do {                               \
		if (!(cond))               \
			__builtin_trap();  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vdev_cpuid_opts o = { .struct_size = sizeof(o), .model = "Haswell" };
	vdev_cpuid_table *t = NULL, *u = NULL, *m = NULL, *b = NULL;
	const vdev_cpuid_table *pair[2];
	struct vdev_cpuid_entry *e1, *e2;
	size_t n;
	char *buf;
	int rc, len;

	rc = vdev_cpuid_parse(NULL, (const char *)data, size, &t);
	if (rc) {
		CHECK(rc == -EINVAL && !t);
		return 0;
	}
	n = vdev_cpuid_entry_count(t);
	CHECK(n >= 1 && n <= 1024);
	len = vdev_cpuid_dump(t, NULL, 0);
	CHECK(len > 0);
	buf = malloc((size_t)len + 1);
	CHECK(buf);
	CHECK(vdev_cpuid_dump(t, buf, (size_t)len + 1) == len);
	CHECK(vdev_cpuid_parse(NULL, buf, (size_t)len, &u) == 0);
	CHECK(vdev_cpuid_entry_count(u) == n);
	e1 = calloc(n, sizeof(*e1));
	e2 = calloc(n, sizeof(*e2));
	CHECK(e1 && e2);
	CHECK(vdev_cpuid_entries(t, 0, e1, n) == (int)n);
	CHECK(vdev_cpuid_entries(u, 0, e2, n) == (int)n);
	CHECK(memcmp(e1, e2, n * sizeof(*e1)) == 0);
	CHECK(vdev_cpuid_compare(t, u, NULL, NULL) == 1);

	/* Mask a model against it; "host" from it; a baseline with it. */
	o.host = t;
	rc = vdev_cpuid_build(NULL, &o, &m);
	CHECK(rc == 0 && m);
	vdev_cpuid_table_free(m);
	m = NULL;
	o.model = "host";
	rc = vdev_cpuid_build(NULL, &o, &m);
	CHECK(rc == 0 || rc == -EINVAL);
	if (m) {
		pair[0] = m;
		pair[1] = t;
		if (vdev_cpuid_baseline(NULL, pair, 2, &b) == 0) {
			CHECK(vdev_cpuid_compare(b, m, NULL, NULL) == 1);
			vdev_cpuid_table_free(b);
		}
	}
	vdev_cpuid_table_free(m);
	free(e1);
	free(e2);
	free(buf);
	vdev_cpuid_table_free(u);
	vdev_cpuid_table_free(t);
	return 0;
}
