/* SPDX-License-Identifier: MIT */
/*
 * CPUID topology: APIC IDs per vCPU, leaves 1/0BH/1FH, Intel leaf 4 and
 * AMD 8000001DH cache sharing, 80000008H ECX and 8000001EH, for several
 * shapes including a non-power-of-two core count.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vdev/vdev.h>

#define MAXE 256

static const struct vdev_cpuid_entry *leaf(const struct vdev_cpuid_entry *e, int n, uint32_t fn,
					   uint32_t idx)
{
	int i;

	for (i = 0; i < n; i++)
		if (e[i].function == fn && e[i].index == idx)
			return &e[i];
	return NULL;
}

static unsigned int log2up(uint32_t n)
{
	unsigned int b = 0;

	while ((1u << b) < n)
		b++;
	return b;
}

struct shape {
	uint32_t s, c, t;
};

static const struct shape shapes[] = {
	{ 1, 1, 1 }, { 2, 4, 2 }, { 1, 3, 1 }, { 1, 3, 2 }, { 2, 1, 1 }, { 4, 6, 1 }, { 1, 5, 3 },
};

/* Cache size = ways * partitions * line * sets (SDM leaf 04H note). */
static uint32_t cache_bytes(const struct vdev_cpuid_entry *c)
{
	return (((c->ebx >> 22) & 0x3ff) + 1) * (((c->ebx >> 12) & 0x3ff) + 1) *
	       ((c->ebx & 0xfff) + 1) * (c->ecx + 1);
}

static void check_shape(const char *model, const struct shape *sh)
{
	struct vdev_cpuid_opts o = { .struct_size = sizeof(o), .model = model,
				     .sockets = sh->s, .cores = sh->c, .threads = sh->t };
	static struct vdev_cpuid_entry e[MAXE];
	vdev_cpuid_table *t;
	uint32_t n = sh->s * sh->c * sh->t, v, w;
	uint32_t *ids = calloc(n, sizeof(*ids));
	bool intel = model[0] != 'E';
	unsigned int smt, core_shift;
	int cnt;

	assert_non_null(ids);
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), 0);
	for (v = 0; v < n; v++) {
		const struct vdev_cpuid_entry *l1, *b0, *b1, *b2, *x;
		uint32_t id;

		cnt = vdev_cpuid_entries(t, v, e, MAXE);
		assert_true(cnt > 0);
		l1 = leaf(e, cnt, 1, 0);
		b0 = leaf(e, cnt, 0xb, 0);
		b1 = leaf(e, cnt, 0xb, 1);
		b2 = leaf(e, cnt, 0xb, 2);
		assert_non_null(b0);
		assert_non_null(b1);
		assert_non_null(b2);
		id = b0->edx;
		ids[v] = id;
		/* The same ID everywhere. */
		assert_int_equal(b1->edx, id);
		assert_int_equal(b2->edx, id);
		assert_int_equal(l1->ebx >> 24, id & 0xff);
		/* 0BH: SMT level (type 1) then core level (type 2), then invalid. */
		smt = b0->eax & 0x1f;
		core_shift = b1->eax & 0x1f;
		assert_int_equal(smt, log2up(sh->t));
		assert_int_equal(core_shift, log2up(sh->t) + log2up(sh->c));
		assert_int_equal(b0->ebx & 0xffff, sh->t);
		assert_int_equal(b1->ebx & 0xffff, sh->t * sh->c);
		assert_int_equal((b0->ecx >> 8) & 0xff, 1);
		assert_int_equal((b1->ecx >> 8) & 0xff, 2);
		assert_int_equal((b2->ecx >> 8) & 0xff, 0);
		assert_int_equal(b2->ecx & 0xff, 2);
		/* The ID decomposes into (socket, core, thread) of this vCPU. */
		assert_int_equal(id & ((1u << smt) - 1), v % sh->t);
		assert_int_equal((id >> smt) & ((1u << (core_shift - smt)) - 1), (v / sh->t) % sh->c);
		assert_int_equal(id >> core_shift, v / (sh->t * sh->c));
		/* Leaf 1: count covers the package; HTT iff more than one. */
		assert_true(((l1->ebx >> 16) & 0xff) >= sh->c * sh->t);
		assert_int_equal(!!(l1->edx & (1u << 28)), ((l1->ebx >> 16) & 0xff) > 1);
		if (intel) {
			uint32_t i;

			/* 1FH mirrors 0BH. */
			x = leaf(e, cnt, 0x1f, 1);
			assert_non_null(x);
			assert_int_equal(x->eax, b1->eax);
			assert_int_equal(x->edx, id);
			/* Leaf 4: L1/L2 shared by the core's threads, L3 by the package. */
			for (i = 0; i < 4; i++) {
				x = leaf(e, cnt, 4, i);
				assert_non_null(x);
				assert_int_equal(((x->eax >> 14) & 0xfff) + 1,
						 1u << (i < 3 ? smt : core_shift));
				assert_true(((x->eax >> 26) & 0x3f) + 1 >= sh->c);
				assert_int_equal(x->eax & 0x1f, i == 0 ? 1 : i == 1 ? 2 : 3);
			}
			assert_int_equal(cache_bytes(leaf(e, cnt, 4, 0)), 32 * 1024);
			assert_int_equal(cache_bytes(leaf(e, cnt, 4, 2)), 1024 * 1024);
			assert_int_equal(cache_bytes(leaf(e, cnt, 4, 3)), 16 * 1024 * 1024);
			assert_int_equal(leaf(e, cnt, 4, 4)->eax & 0x1f, 0); /* end */
			assert_null(leaf(e, cnt, 0x8000001e, 0));
		} else {
			uint32_t i;

			/* APM Fn8000_0008_ECX: NC + 1 = logical processors, ApicIdSize. */
			x = leaf(e, cnt, 0x80000008, 0);
			assert_int_equal((x->ecx & 0xff) + 1, sh->c * sh->t);
			assert_int_equal((x->ecx >> 12) & 0xf, core_shift);
			/* Fn8000_001D: actual sharing counts. */
			for (i = 0; i < 4; i++) {
				x = leaf(e, cnt, 0x8000001d, i);
				assert_non_null(x);
				assert_int_equal(((x->eax >> 14) & 0xfff) + 1,
						 i < 3 ? sh->t : sh->t * sh->c);
			}
			assert_int_equal(cache_bytes(leaf(e, cnt, 0x8000001d, 3)), 16 * 1024 * 1024);
			/* Fn8000_001E: extended APIC ID, threads per core, core and node IDs. */
			x = leaf(e, cnt, 0x8000001e, 0);
			assert_non_null(x);
			assert_int_equal(x->eax, id);
			assert_int_equal(((x->ebx >> 8) & 0xff) + 1, sh->t);
			assert_int_equal(x->ebx & 0xff, (v / sh->t) % sh->c);
			assert_int_equal(x->ecx & 0xff, v / (sh->t * sh->c));
		}
	}
	/* APIC IDs are unique. */
	for (v = 0; v < n; v++)
		for (w = v + 1; w < n; w++)
			assert_int_not_equal(ids[v], ids[w]);
	assert_int_equal(vdev_cpuid_entries(t, n, e, MAXE), -EINVAL);
	vdev_cpuid_table_free(t);
	free(ids);
}

static void test_shapes_intel(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		check_shape("Skylake-Client", &shapes[i]);
}

static void test_shapes_amd(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		check_shape("EPYC", &shapes[i]);
}

static void test_single_vcpu_values(void **state)
{
	struct vdev_cpuid_opts o = { .struct_size = sizeof(o), .model = "Haswell" };
	struct vdev_cpuid_entry e[MAXE];
	vdev_cpuid_table *t;
	int n;

	(void)state;
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), 0);
	n = vdev_cpuid_entries(t, 0, e, MAXE);
	assert_true(n > 0);
	/* 1 logical processor, no HTT, CLFLUSH line 64 bytes (8 * 8). */
	assert_int_equal(leaf(e, n, 1, 0)->ebx, 0x00010800);
	assert_int_equal(leaf(e, n, 1, 0)->edx & (1u << 28), 0);
	vdev_cpuid_table_free(t);
}

static void test_topology_limits(void **state)
{
	struct vdev_cpuid_opts o = { .struct_size = sizeof(o), .model = "Haswell" };
	vdev_cpuid_table *t = NULL;

	(void)state;
	o.cores = 257;
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), -EINVAL);
	o.cores = 64;
	o.threads = 2;
	o.sockets = 33; /* 4224 vCPUs */
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), -EINVAL);
	o.sockets = 0xffffffffu;
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), -EINVAL);
	assert_null(t);
	o.sockets = 32; /* 4096: the maximum */
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), 0);
	assert_int_equal(vdev_cpuid_entries(t, 4095, NULL, 0), -ENOSPC);
	assert_int_equal(vdev_cpuid_entries(t, 4096, NULL, 0), -EINVAL);
	vdev_cpuid_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shapes_intel),
		cmocka_unit_test(test_shapes_amd),
		cmocka_unit_test(test_single_vcpu_values),
		cmocka_unit_test(test_topology_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
