/* SPDX-License-Identifier: MIT */
/*
 * CPUID text form: dump -> parse -> dump round trips for every model,
 * snprintf-style sizing, and the parser on hostile input.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <vdev/vdev.h>

#include "mock_vmm.h"

static char *dump(const vdev_cpuid_table *t, int *len)
{
	char *buf;

	*len = vdev_cpuid_dump(t, NULL, 0);
	assert_true(*len > 0);
	buf = malloc((size_t)*len + 1);
	assert_non_null(buf);
	assert_int_equal(vdev_cpuid_dump(t, buf, (size_t)*len + 1), *len);
	assert_int_equal(strlen(buf), (size_t)*len);
	return buf;
}

static void round_trip(const struct vdev_cpuid_opts *o)
{
	vdev_cpuid_table *t, *p, *q;
	struct vdev_cpuid_entry a[256], b[256];
	char *d1, *d2, *d3;
	int l1, l2, l3, na, nb;

	assert_int_equal(vdev_cpuid_build(NULL, o, &t), 0);
	d1 = dump(t, &l1);
	assert_int_equal(vdev_cpuid_parse(NULL, d1, (size_t)l1, &p), 0);
	/* The parsed table holds exactly vCPU 0's entries. */
	na = vdev_cpuid_entries(t, 0, a, 256);
	nb = vdev_cpuid_entries(p, 0, b, 256);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, (size_t)na * sizeof(a[0]));
	assert_int_equal(vdev_cpuid_compare(t, p, NULL, NULL), 1);
	assert_int_equal(vdev_cpuid_compare(p, t, NULL, NULL), 1);
	/* And dumps the same (bar the topology comment only built tables have). */
	d2 = dump(p, &l2);
	assert_int_equal(vdev_cpuid_parse(NULL, d2, (size_t)l2, &q), 0);
	d3 = dump(q, &l3);
	assert_string_equal(d2, d3);
	assert_non_null(strstr(d1, strchr(d2, '\n') + 1) ? d1 : NULL);
	free(d1);
	free(d2);
	free(d3);
	vdev_cpuid_table_free(t);
	vdev_cpuid_table_free(p);
	vdev_cpuid_table_free(q);
}

static void test_round_trip_all_models(void **state)
{
	struct vdev_cpuid_model_info mi;
	struct vdev_cpuid_opts o = { .struct_size = sizeof(o), .sockets = 2, .cores = 3,
				     .threads = 2 };
	size_t i;

	(void)state;
	for (i = 0;; i++) {
		mi.struct_size = sizeof(mi);
		if (vdev_cpuid_model_get(i, &mi))
			break;
		o.model = mi.name;
		o.hyperv = 0;
		round_trip(&o);
		o.hyperv = 1;
		round_trip(&o);
	}
	assert_true(i >= 8);
}

static void test_dump_sizing(void **state)
{
	struct vdev_cpuid_opts o = { .struct_size = sizeof(o), .model = "Haswell" };
	vdev_cpuid_table *t;
	char small[16];
	int len;

	(void)state;
	assert_int_equal(vdev_cpuid_build(NULL, &o, &t), 0);
	len = vdev_cpuid_dump(t, NULL, 0);
	assert_true(len > 100);
	memset(small, 'x', sizeof(small));
	assert_int_equal(vdev_cpuid_dump(t, small, sizeof(small)), len);
	assert_int_equal(small[15], '\0');
	assert_int_equal(vdev_cpuid_dump(NULL, small, sizeof(small)), -EINVAL);
	vdev_cpuid_table_free(t);
}

static void test_parse_accepts(void **state)
{
	static const char txt[] = "  # a comment\n\n"
				  "1 0 0 0x306c3 2048 0x80000000 4294967295   # trailing\r\n"
				  "0x0 0x0 0x0 0xd 0x756e6547 0x6c65746e 0x49656e69"; /* no \n */
	vdev_cpuid_table *t;
	struct vdev_cpuid_entry e[4];

	(void)state;
	assert_int_equal(vdev_cpuid_parse(NULL, txt, sizeof(txt) - 1, &t), 0);
	assert_int_equal(vdev_cpuid_entries(t, 0, e, 4), 2);
	assert_int_equal(e[0].function, 0);
	assert_int_equal(e[1].eax, 0x306c3);
	assert_int_equal(e[1].edx, 0xffffffffu);
	assert_int_equal(vdev_cpuid_table_has(t, "hypervisor"), 1); /* ECX bit 31 */
	assert_int_equal(vdev_cpuid_table_has(t, "pni"), 0);
	assert_int_equal(vdev_cpuid_table_has(t, "fpu"), 1);
	/* A parsed table has no topology: any vCPU gets the same entries. */
	assert_int_equal(vdev_cpuid_entries(t, 77, e, 4), 2);
	vdev_cpuid_table_free(t);
}

static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"# only a comment\n\n",
		"garbage\n",
		"0x1 0x0 0x0 0x1 0x2 0x3\n",                    /* 6 fields */
		"0x1 0x0 0x0 0x1 0x2 0x3 0x4 0x5\n",            /* 8 fields */
		"0x1 0x0 0x0 0x100000000 0x2 0x3 0x4\n",        /* 33 bits */
		"0x1 0x0 0x0 99999999999999999999999 0 0 0\n",  /* huge decimal */
		"0x1 0x0 0x0 4294967296 0 0 0\n",
		"0x1 0x0 0x0 -1 0 0 0\n",
		"0x1 0x0 0x0 +1 0 0 0\n",
		"0x1 0x0 0x0 0x 0 0 0\n",
		"0x1 0x0 0x0 0xg 0 0 0\n",
		"0x1 0x0 0x0 12a 0 0 0\n",
		"0x1 0x0 0x2 0 0 0 0\n",                        /* unknown flag */
		"0x1 0x0 0x0 0 0 0 0\n0x1 0x0 0x1 1 1 1 1\n",   /* duplicate leaf */
		"0x1,0x0,0x0,0,0,0,0\n",
		"0x1 0x0 0x0 0 0 0 0 #\n0x2 0x0 0x0 0 0 0 x\n",
	};
	struct mock_vmm mv;
	vdev_cpuid_table *t;
	size_t i;

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = (vdev_cpuid_table *)&mv;
		mock_vmm_clear_events(&mv);
		if (vdev_cpuid_parse(mv.ctx, bad[i], strlen(bad[i]), &t) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_null(t);
		assert_true(mock_vmm_log_contains(&mv, "cpuid: parse"));
	}
	/* The line number is in the message. */
	mock_vmm_clear_events(&mv);
	assert_int_equal(vdev_cpuid_parse(mv.ctx, bad[16], strlen(bad[16]), &t), -EINVAL);
	assert_true(mock_vmm_log_contains(&mv, "line 2"));
	/* An embedded NUL is garbage, not an end of input. */
	{
		static const char nul[] = "0x1 0x0 0x0 0 0 0 0\n0x2 0\0 0x0 0 0 0 0\n";

		assert_int_equal(vdev_cpuid_parse(mv.ctx, nul, sizeof(nul) - 1, &t), -EINVAL);
	}
	/* Too many entries. */
	{
		size_t cap = 1100 * 40, len = 0;
		char *big = malloc(cap);

		assert_non_null(big);
		for (i = 0; i < 1025; i++)
			len += (size_t)snprintf(big + len, cap - len, "0x%zx 0 0 0 0 0 0\n", i);
		assert_int_equal(vdev_cpuid_parse(mv.ctx, big, len, &t), -EINVAL);
		assert_true(mock_vmm_log_contains(&mv, "more than"));
		/* 1024 is fine. */
		len = 0;
		for (i = 0; i < 1024; i++)
			len += (size_t)snprintf(big + len, cap - len, "0x%zx 0 0 0 0 0 0\n", i);
		assert_int_equal(vdev_cpuid_parse(mv.ctx, big, len, &t), 0);
		assert_int_equal(vdev_cpuid_entry_count(t), 1024);
		vdev_cpuid_table_free(t);
		free(big);
	}
	assert_int_equal(vdev_cpuid_parse(mv.ctx, NULL, 5, &t), -EINVAL);
	assert_int_equal(vdev_cpuid_parse(mv.ctx, "0 0 0 0 0 0 0", 13, NULL), -EINVAL);
	mock_vmm_fini(&mv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_all_models),
		cmocka_unit_test(test_dump_sizing),
		cmocka_unit_test(test_parse_accepts),
		cmocka_unit_test(test_parse_rejects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
