/* SPDX-License-Identifier: MIT */
/*
 * Every CPU model against QEMU 7.2's model of the same name, recorded in
 * tests/data/cpuid/qemu-7.2-<MODEL>.txt (see the README there for the
 * command). Feature sets must be equal except for the differences listed
 * below, each with its reason; vendor, family/model/stepping and the
 * brand string must be equal.
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

/* QEMU properties that are not CPUID feature bits of a model. */
static const char *const not_features[] = {
	"check", "enforce", "kvm", "tcg-cpuid", "cpuid-0xb", "fill-mtrr-mask",
	"full-cpuid-auto-level", "l3-cache", "legacy-cache", "vmware-cpuid-freq",
	"x-intel-pt-auto-level", "x-migrate-smi-count", "x-vendor-cpuid-only",
};

/* QEMU's other spellings of one feature (its property aliases). */
static const struct {
	const char *qemu, *ours;
} spellings[] = {
	{ "sse4-1", "sse4_1" }, { "sse4-2", "sse4_2" }, { "pclmuldq", "pclmulqdq" },
	{ "xd", "nx" }, { "i64", "lm" }, { "ffxsr", "fxsr_opt" }, { "nrip_save", "nrip-save" },
};

/* Deliberate differences. */
static const struct {
	const char *model, *feature;
	int ours; /* 1: we have it, QEMU does not; 0: the other way round */
	const char *reason;
} known[] = {
	{ "Opteron_G5", "bmi1", 1, "Opteron 63xx (Piledriver) has BMI1 (the issue lists it); "
	  "QEMU's Opteron_G5 omits it" },
	{ "Opteron_G4", "npt", 0, "nested SVM details (leaf 8000000AH) are not modelled" },
	{ "Opteron_G4", "nrip-save", 0, "nested SVM details (leaf 8000000AH) are not modelled" },
	{ "Opteron_G5", "npt", 0, "nested SVM details (leaf 8000000AH) are not modelled" },
	{ "Opteron_G5", "nrip-save", 0, "nested SVM details (leaf 8000000AH) are not modelled" },
	{ "EPYC", "npt", 0, "nested SVM details (leaf 8000000AH) are not modelled" },
	{ "EPYC", "nrip-save", 0, "nested SVM details (leaf 8000000AH) are not modelled" },
};

static const char *canonical(const char *q)
{
	static struct vdev_cpuid_feature_info fi;
	size_t i;

	for (i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++)
		if (!strcmp(q, spellings[i].qemu))
			q = spellings[i].ours;
	fi.struct_size = sizeof(fi);
	if (vdev_cpuid_feature_get(0, q, &fi) == 0)
		return fi.name;
	return q;
}

static int is_known(const char *model, const char *feature, int ours)
{
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(known[i].model, model) && !strcmp(known[i].feature, feature) &&
		    known[i].ours == ours)
			return 1;
	return 0;
}

struct qemu_model {
	char vendor[16], model_id[64];
	unsigned int family, model, stepping;
	char feat[200][32];
	int n;
};

/* Copy a field of the data file; a value that does not fit fails the load (no truncation). */
static int copy_field(char *dst, size_t cap, const char *src)
{
	size_t len = strlen(src);

	if (len >= cap)
		return -1;
	memcpy(dst, src, len + 1);
	return 0;
}

static int load(const char *name, struct qemu_model *q)
{
	char path[512], line[128], *slash;
	FILE *f;
	size_t i;

	snprintf(path, sizeof(path), "%s", __FILE__);
	slash = strrchr(path, '/');
	if (!slash)
		return -1;
	snprintf(slash + 1, sizeof(path) - (size_t)(slash + 1 - path), "data/cpuid/qemu-7.2-%s.txt",
		 name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	memset(q, 0, sizeof(*q));
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "vendor=%15s", q->vendor) == 1 ||
		    sscanf(line, "family=%u", &q->family) == 1 ||
		    sscanf(line, "model=%u", &q->model) == 1 ||
		    sscanf(line, "stepping=%u", &q->stepping) == 1)
			continue;
		if (!strncmp(line, "model-id=", 9)) {
			if (copy_field(q->model_id, sizeof(q->model_id), line + 9))
				break;
			continue;
		}
		if (line[0] != '+')
			continue;
		for (i = 0; i < sizeof(not_features) / sizeof(not_features[0]); i++)
			if (!strcmp(line + 1, not_features[i]))
				break;
		if (i < sizeof(not_features) / sizeof(not_features[0]) || q->n == 200)
			continue;
		if (copy_field(q->feat[q->n++], sizeof(q->feat[0]), canonical(line + 1)))
			break;
	}
	i = !feof(f); /* stopped early: a line or a value too long */
	fclose(f);
	return i ? -1 : 0;
}

static void test_models_match_qemu(void **state)
{
	struct vdev_cpuid_model_info mi;
	struct vdev_cpuid_feature_info fi;
	struct qemu_model *q = malloc(sizeof(*q));
	size_t m, i;
	int k, compared = 0, failures = 0;

	(void)state;
	assert_non_null(q);
	for (m = 0;; m++) {
		struct vdev_cpuid_opts o = { .struct_size = sizeof(o),
					     .kvm_features = VDEV_CPUID_KVM_NONE };
		vdev_cpuid_table *t;
		struct vdev_cpuid_entry e[128];
		char brand[49];
		int n;

		mi.struct_size = sizeof(mi);
		if (vdev_cpuid_model_get(m, &mi))
			break;
		if (load(mi.name, q)) {
			/* Only the baseline has no QEMU counterpart of that name. */
			assert_string_equal(mi.name, "x86-64");
			continue;
		}
		compared++;
		assert_string_equal(mi.vendor, q->vendor);
		assert_int_equal(mi.family, q->family);
		assert_int_equal(mi.model, q->model);
		assert_int_equal(mi.stepping, q->stepping);
		o.model = mi.name;
		assert_int_equal(vdev_cpuid_build(NULL, &o, &t), 0);
		n = vdev_cpuid_entries(t, 0, e, 128);
		assert_true(n > 0);
		for (k = 0; k < n; k++)
			if (e[k].function >= 0x80000002 && e[k].function <= 0x80000004) {
				memcpy(brand + 16 * (e[k].function - 0x80000002), &e[k].eax, 16);
			}
		brand[48] = 0;
		assert_string_equal(brand, q->model_id);
		/* QEMU's features: ours too, unless listed. */
		for (k = 0; k < q->n; k++) {
			int has = vdev_cpuid_table_has(t, q->feat[k]);

			if (has != 1 && !is_known(mi.name, q->feat[k], 0)) {
				print_error("%s: QEMU has %s, we do not\n", mi.name, q->feat[k]);
				failures++;
			}
		}
		/* Ours: QEMU's too, unless listed. */
		for (i = 0;; i++) {
			fi.struct_size = sizeof(fi);
			if (vdev_cpuid_feature_get(i, NULL, &fi))
				break;
			if (vdev_cpuid_table_has(t, fi.name) != 1)
				continue;
			for (k = 0; k < q->n; k++)
				if (!strcmp(q->feat[k], fi.name))
					break;
			if (k == q->n && !is_known(mi.name, fi.name, 1)) {
				print_error("%s: we have %s, QEMU does not\n", mi.name, fi.name);
				failures++;
			}
		}
		vdev_cpuid_table_free(t);
	}
	free(q);
	assert_int_equal(failures, 0);
	assert_int_equal(compared, 7);
}

/* Every listed difference is still a difference (the list cannot go stale). */
static void test_known_differences_are_real(void **state)
{
	struct qemu_model *q = malloc(sizeof(*q));
	size_t i;
	int k;

	(void)state;
	assert_non_null(q);
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		struct vdev_cpuid_opts o = { .struct_size = sizeof(o), .model = known[i].model };
		vdev_cpuid_table *t;
		int in_qemu = 0, has;

		assert_int_equal(load(known[i].model, q), 0);
		for (k = 0; k < q->n; k++)
			in_qemu |= !strcmp(q->feat[k], known[i].feature);
		assert_int_equal(vdev_cpuid_build(NULL, &o, &t), 0);
		has = vdev_cpuid_table_has(t, known[i].feature) == 1;
		assert_int_equal(has, known[i].ours);
		assert_int_equal(in_qemu, !known[i].ours);
		assert_non_null(known[i].reason);
		vdev_cpuid_table_free(t);
	}
	free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_models_match_qemu),
		cmocka_unit_test(test_known_differences_are_real),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
