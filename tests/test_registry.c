/* SPDX-License-Identifier: MIT */
/* Device registry, key=value specs and the device save/load envelope. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mock_vmm.h"

/* A toy device type with one option of each kind and a little state. */
struct toy_opts {
	size_t struct_size;
	uint64_t size;
	uint32_t queues;
	int readonly;
	const char *path;
};

struct toy {
	struct toy_opts opts;
	char path[64];
	uint32_t reg;
	int resets;
};

static int toy_destroyed;

static void toy_default(void *p)
{
	struct toy_opts *o = p;

	o->size = 4096;
	o->queues = 1;
	o->path = "none";
}

static int toy_create(vdev_device *dev, const void *p)
{
	const struct toy_opts *o = p;
	struct toy *t;

	if (o->queues == 13)
		return -ENOTSUP; /* lets tests see a create() failure */
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->opts = *o;
	snprintf(t->path, sizeof(t->path), "%s", o->path ? o->path : "(null)");
	t->opts.path = t->path;
	vdev_device_set_priv(dev, t);
	return 0;
}

static void toy_destroy(vdev_device *dev)
{
	free(vdev_device_priv(dev));
	toy_destroyed++;
}

static void toy_reset(vdev_device *dev)
{
	struct toy *t = vdev_device_priv(dev);

	t->reg = 0;
	t->resets++;
}

#define TOY_REG VDEV_STATE_TAG('R', 'E', 'G', ' ')

static const struct vdev_state_field toy_fields[] = {
	{ .name = "reg", .tag = TOY_REG, .type = VDEV_STATE_U32,
	  .offset = offsetof(struct toy, reg), .min = 0, .max = 0xffff },
};

static int toy_save(vdev_device *dev, vdev_state_writer *w)
{
	return vdev_state_save_fields(w, toy_fields, 1, vdev_device_priv(dev));
}

static int toy_load(vdev_device *dev, vdev_state_reader *r, uint16_t version)
{
	(void)version;
	return vdev_state_load_fields(r, toy_fields, 1, vdev_device_priv(dev));
}

static const struct vdev_device_opt toy_opts_table[] = {
	{ "size", VDEV_OPT_U64, offsetof(struct toy_opts, size), 512, 1ull << 40, "bytes" },
	{ "queues", VDEV_OPT_U32, offsetof(struct toy_opts, queues), 1, 64, "1..64" },
	{ "readonly", VDEV_OPT_BOOL, offsetof(struct toy_opts, readonly), 0, 0, "on/off" },
	{ "path", VDEV_OPT_STR, offsetof(struct toy_opts, path), 0, 0, "a file" },
};

static const struct vdev_device_type toy_type = {
	.struct_size = sizeof(struct vdev_device_type),
	.name = "toy",
	.description = "a toy for tests",
	.opts_size = sizeof(struct toy_opts),
	.opts = toy_opts_table,
	.n_opts = 4,
	.state_version = 2,
	.opts_default = toy_default,
	.create = toy_create,
	.destroy = toy_destroy,
	.reset = toy_reset,
	.save = toy_save,
	.load = toy_load,
};

static int setup(void **state)
{
	struct mock_vmm *mv = calloc(1, sizeof(*mv));

	if (!mv || mock_vmm_init(mv, 0, 0))
		return -1;
	if (vdev_device_type_register(mv->ctx, &toy_type))
		return -1;
	*state = mv;
	return 0;
}

static int teardown(void **state)
{
	mock_vmm_fini(*state);
	free(*state);
	return 0;
}

static struct toy *toy_of(vdev_device *dev)
{
	return vdev_device_priv(dev);
}

static void test_register_rules(void **state)
{
	struct mock_vmm *mv = *state;
	struct vdev_device_type bad = toy_type;
	struct vdev_device_opt bad_opt[] = { toy_opts_table[0] };
	size_t n = 0;

	assert_int_equal(vdev_device_type_register(mv->ctx, &toy_type), -EEXIST);
	bad.name = "Bad Name";
	assert_int_equal(vdev_device_type_register(mv->ctx, &bad), -EINVAL);
	bad.name = "toy2";
	bad.create = NULL;
	assert_int_equal(vdev_device_type_register(mv->ctx, &bad), -EINVAL);
	bad = toy_type;
	bad.name = "toy3";
	bad_opt[0].offset = sizeof(struct toy_opts) - 4; /* u64 member past the end */
	bad.opts = bad_opt;
	bad.n_opts = 1;
	assert_int_equal(vdev_device_type_register(mv->ctx, &bad), -EINVAL);
	bad.struct_size = 2;
	assert_int_equal(vdev_device_type_register(mv->ctx, &bad), -EINVAL);
	assert_int_equal(vdev_device_type_register(mv->ctx, NULL), -EINVAL);
	assert_null(vdev_device_type_find(mv->ctx, "toy3"));
	assert_non_null(vdev_device_type_find(mv->ctx, "toy"));
	while (vdev_device_type_at(mv->ctx, n))
		n++;
	assert_true(n >= 1);
	assert_string_equal(vdev_device_type_at(mv->ctx, n - 1)->name, "toy");
}

static void test_create_struct_defaults_and_overlay(void **state)
{
	struct mock_vmm *mv = *state;
	struct toy_opts o = { .struct_size = sizeof(o), .size = 8192, .queues = 4, .path = "x" };
	vdev_device *a, *b, *c;

	assert_int_equal(vdev_device_create(mv->ctx, "toy", NULL, NULL, &a), 0);
	assert_int_equal(toy_of(a)->opts.size, 4096);
	assert_int_equal(toy_of(a)->opts.queues, 1);
	assert_string_equal(vdev_device_id(a), "toy0");
	assert_ptr_equal(vdev_device_ctx(a), mv->ctx);
	assert_string_equal(vdev_device_get_type(a)->name, "toy");
	assert_null(vdev_device_pci(a));

	assert_int_equal(vdev_device_create(mv->ctx, "toy", &o, "disk0", &b), 0);
	assert_int_equal(toy_of(b)->opts.size, 8192);
	assert_string_equal(toy_of(b)->path, "x");

	/* An older caller whose struct stops after `size`: the rest keep defaults. */
	o.struct_size = offsetof(struct toy_opts, queues);
	o.queues = 55;
	assert_int_equal(vdev_device_create(mv->ctx, "toy", &o, NULL, &c), 0);
	assert_int_equal(toy_of(c)->opts.queues, 1);
	assert_string_equal(toy_of(c)->path, "none");
	vdev_device_destroy(c);

	o.struct_size = 1;
	assert_int_equal(vdev_device_create(mv->ctx, "toy", &o, NULL, &c), -EINVAL);
	assert_int_equal(vdev_device_create(mv->ctx, "nope", NULL, NULL, &c), -ENOENT);
	assert_int_equal(vdev_device_create(mv->ctx, "toy", NULL, "disk0", &c), -EEXIST);
	assert_int_equal(vdev_device_create(mv->ctx, "toy", NULL, "has space", &c), -EINVAL);
	o.struct_size = sizeof(o);
	o.queues = 13;
	assert_int_equal(vdev_device_create(mv->ctx, "toy", &o, NULL, &c), -ENOTSUP);
	assert_null(c);
	vdev_device_destroy(a);
	vdev_device_destroy(b);
	vdev_device_destroy(NULL);
}

static void test_kv_happy(void **state)
{
	struct mock_vmm *mv = *state;
	vdev_device *d;

	assert_int_equal(vdev_device_create_kv(mv->ctx,
		"toy,id=t1,size=2M,queues=0x10,readonly=on,path=/a,,b", &d), 0);
	assert_string_equal(vdev_device_id(d), "t1");
	assert_int_equal(toy_of(d)->opts.size, 2u << 20);
	assert_int_equal(toy_of(d)->opts.queues, 16);
	assert_int_equal(toy_of(d)->opts.readonly, 1);
	assert_string_equal(toy_of(d)->path, "/a,b"); /* ",," is a literal comma */
	vdev_device_destroy(d);

	/* A bare boolean key means on; type alone means defaults. */
	assert_int_equal(vdev_device_create_kv(mv->ctx, "toy,readonly", &d), 0);
	assert_int_equal(toy_of(d)->opts.readonly, 1);
	assert_int_equal(toy_of(d)->opts.size, 4096);
	vdev_device_destroy(d);
	assert_int_equal(vdev_device_create_kv(mv->ctx, "toy", &d), 0);
	vdev_device_destroy(d);
}

static void test_kv_hostile(void **state)
{
	static const char *const bad[] = {
		"toy,bogus=1",          "toy,size=1,size=2",  "toy,size=",
		"toy,size=-1",          "toy,size= 5",        "toy,size=5x",
		"toy,size=99999999999999999999", "toy,size=17179869184T",
		"toy,size=100",         /* below min 512 */
		"toy,size=2T",          /* above max 1T */
		"toy,queues=65",        "toy,queues=4294967296", "toy,readonly=maybe",
		"toy,path",             "toy,id=",            "toy,id=a,id=b",
		"toy,=5",               "toy,size=1,,2",              "toy,queues=0",
		"toy,id=x=y",
	};
	struct mock_vmm *mv = *state;
	vdev_device *d = (vdev_device *)mv;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mock_vmm_clear_events(mv);
		int rc = vdev_device_create_kv(mv->ctx, bad[i], &d);
		if (rc != -EINVAL)
			fail_msg("spec '%s' gave %d", bad[i], rc);
		assert_null(d);
		assert_true(mv->n_log > 0); /* every refusal says why */
	}
	mock_vmm_clear_events(mv);
	assert_int_equal(vdev_device_create_kv(mv->ctx, "toy,bogus=1", &d), -EINVAL);
	assert_true(mock_vmm_log_contains(mv, "unknown option 'bogus'"));
	assert_true(mock_vmm_log_contains(mv, "known: id, size, queues, readonly, path"));
	assert_int_equal(vdev_device_create_kv(mv->ctx, "nosuch,a=b", &d), -ENOENT);
	assert_int_equal(vdev_device_create_kv(mv->ctx, "", &d), -ENOENT);
	assert_int_equal(vdev_device_create_kv(mv->ctx, NULL, &d), -EINVAL);
}

static void test_save_load_envelope(void **state)
{
	struct mock_vmm *mv = *state;
	vdev_device *src, *dst;
	vdev_state_writer *w;
	vdev_state_reader *r;
	const void *blob;
	size_t len;

	assert_int_equal(vdev_device_create(mv->ctx, "toy", NULL, "src", &src), 0);
	assert_int_equal(vdev_device_create(mv->ctx, "toy", NULL, "dst", &dst), 0);
	toy_of(src)->reg = 0x1234;
	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_device_save(src, w), 0);
	assert_int_equal(vdev_state_writer_finish(w, &blob, &len), 0);

	assert_int_equal(vdev_state_reader_new(blob, len, &r), 0);
	assert_int_equal(vdev_device_load(dst, r), 0);
	assert_int_equal(toy_of(dst)->reg, 0x1234);
	vdev_state_reader_free(r);

	vdev_device_reset(dst);
	assert_int_equal(toy_of(dst)->reg, 0);
	assert_int_equal(toy_of(dst)->resets, 1);

	/* Out-of-range field: refused, device unchanged. */
	toy_of(dst)->reg = 7;
	vdev_state_writer_free(w);
	assert_int_equal(vdev_state_writer_new(&w), 0);
	toy_of(src)->reg = 0x10000;
	assert_int_equal(vdev_device_save(src, w), 0);
	assert_int_equal(vdev_state_writer_finish(w, &blob, &len), 0);
	assert_int_equal(vdev_state_reader_new(blob, len, &r), 0);
	assert_int_equal(vdev_device_load(dst, r), -ERANGE);
	assert_non_null(strstr(vdev_state_reader_error(r), "reg"));
	assert_int_equal(toy_of(dst)->reg, 7);
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);
	vdev_device_destroy(src);
	vdev_device_destroy(dst);
}

/* Handcrafted streams: wrong type name, too-new version, missing records. */
static void load_expect(vdev_device *dev, vdev_state_writer *w, int want, const char *msg)
{
	vdev_state_reader *r;
	const void *blob;
	size_t len;

	assert_int_equal(vdev_state_writer_finish(w, &blob, &len), 0);
	assert_int_equal(vdev_state_reader_new(blob, len, &r), 0);
	assert_int_equal(vdev_device_load(dev, r), want);
	if (msg)
		assert_non_null(strstr(vdev_state_reader_error(r), msg));
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);
}

static void test_load_hostile_envelopes(void **state)
{
	const uint32_t devi = VDEV_STATE_TAG('D', 'E', 'V', 'I');
	const uint32_t type = VDEV_STATE_TAG('T', 'Y', 'P', 'E');
	const uint32_t id = VDEV_STATE_TAG('I', 'D', ' ', ' ');
	struct mock_vmm *mv = *state;
	vdev_state_writer *w;
	vdev_device *dev;

	assert_int_equal(vdev_device_create(mv->ctx, "toy", NULL, NULL, &dev), 0);
	toy_of(dev)->reg = 99;

	assert_int_equal(vdev_state_writer_new(&w), 0); /* empty stream */
	load_expect(dev, w, -EBADMSG, "no device section");

	assert_int_equal(vdev_state_writer_new(&w), 0);
	vdev_state_begin(w, devi, 3, VDEV_STATE_F_REQUIRED);
	vdev_state_put_bytes(w, type, "toy", 3);
	vdev_state_put_bytes(w, id, "x", 1);
	vdev_state_end(w);
	load_expect(dev, w, -EPROTONOSUPPORT, "newer");

	assert_int_equal(vdev_state_writer_new(&w), 0);
	vdev_state_begin(w, devi, 1, VDEV_STATE_F_REQUIRED);
	vdev_state_put_bytes(w, type, "pci-testdev", 11);
	vdev_state_put_bytes(w, id, "x", 1);
	vdev_state_end(w);
	load_expect(dev, w, -EINVAL, "pci-testdev");

	assert_int_equal(vdev_state_writer_new(&w), 0);
	vdev_state_begin(w, devi, 1, VDEV_STATE_F_REQUIRED);
	vdev_state_put_bytes(w, type, "toy", 3);
	vdev_state_put_u32(w, TOY_REG, 5); /* no id record */
	vdev_state_end(w);
	load_expect(dev, w, -EBADMSG, "device id");

	assert_int_equal(vdev_state_writer_new(&w), 0);
	vdev_state_begin(w, devi, 1, VDEV_STATE_F_REQUIRED);
	vdev_state_put_bytes(w, type, "toy", 3);
	vdev_state_put_bytes(w, id, "x", 1);
	vdev_state_end(w); /* no REG field */
	load_expect(dev, w, -EBADMSG, NULL);

	assert_int_equal(toy_of(dev)->reg, 99); /* never touched */
	vdev_device_destroy(dev);
}

/* Type pointers stay valid while more types are registered (no realloc moves). */
static void test_many_types_keep_pointers(void **state)
{
	struct mock_vmm *mv = *state;
	static char names[40][16];
	struct vdev_device_type more[40];
	const struct vdev_device_type *before;
	vdev_device *d;

	assert_int_equal(vdev_device_create(mv->ctx, "toy", NULL, NULL, &d), 0);
	before = vdev_device_get_type(d);
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "toy-more-%d", i);
		more[i] = toy_type;
		more[i].name = names[i];
		assert_int_equal(vdev_device_type_register(mv->ctx, &more[i]), 0);
	}
	assert_ptr_equal(vdev_device_get_type(d), before);
	assert_ptr_equal(vdev_device_type_find(mv->ctx, "toy"), before);
	assert_string_equal(vdev_device_get_type(d)->name, "toy");
	vdev_device_destroy(d);
}

static void test_ctx_free_destroys_devices(void **state)
{
	struct mock_vmm mv;
	vdev_device *d;
	int before = toy_destroyed;

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	assert_int_equal(vdev_device_type_register(mv.ctx, &toy_type), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(vdev_device_create(mv.ctx, "toy", NULL, NULL, &d), 0);
	mock_vmm_fini(&mv);
	assert_int_equal(toy_destroyed, before + 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_struct_defaults_and_overlay, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_kv_happy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kv_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load_envelope, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_hostile_envelopes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_types_keep_pointers, setup, teardown),
		cmocka_unit_test(test_ctx_free_destroys_devices),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
