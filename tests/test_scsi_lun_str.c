/* SPDX-License-Identifier: MIT */
/*
 * LUN spec strings: every accepted form of vdev_scsi_lun_add_str() (the
 * LUN it makes, checked through the bus's internals and real commands), a
 * table of malformed strings (each -EINVAL, one log line, nothing added),
 * open failures, and vdev_scsi_split_spec().
 */
#include <unistd.h>

#include "scsi/scsi_internal.h"
#include "scsi_test_util.h"

struct ls {
	struct st *s;
	char img[64];
	char iso[64];
};

static void make_file(char *path, size_t n, const char *tmpl, size_t size)
{
	int fd;

	snprintf(path, n, "%s", tmpl);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

static int setup(void **state)
{
	struct ls *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	x->s = st_new();
	make_file(x->img, sizeof(x->img), "/tmp/vdev-lunstr-img-XXXXXX", 8u << 20);
	make_file(x->iso, sizeof(x->iso), "/tmp/vdev-lunstr-iso-XXXXXX", 2048u * 100);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct ls *x = *state;

	st_free(x->s);
	unlink(x->img);
	unlink(x->iso);
	free(x);
	return 0;
}

/* vdev_scsi_lun_add_str() on the fixture's bus, with a private loop. */
static int add(struct ls *x, const char *spec, vdev_scsi_lun **out)
{
	return vdev_scsi_lun_add_str(x->s->bus, NULL, spec, out);
}

static vdev_scsi_lun *add_ok(struct ls *x, const char *spec)
{
	vdev_scsi_lun *l = NULL;
	int rc = add(x, spec, &l);

	if (rc)
		fprintf(stderr, "\"%s\": %d\n", spec, rc);
	assert_int_equal(rc, 0);
	assert_non_null(l);
	st_track(x->s, l->target, l->lun, l->blk);
	return l;
}

static void test_disk_default(void **state)
{
	struct ls *x = *state;
	char spec[128];
	vdev_scsi_lun *l;
	uint8_t rc10[10] = { 0x25 }, wr[10] = { 0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	uint8_t data[512] = { 1 };
	struct sreq *q;

	snprintf(spec, sizeof(spec), "lun0=%s", x->img);
	l = add_ok(x, spec);
	assert_ptr_equal(vdev_scsi_lun_find(x->s->bus, 0, 0), l);
	assert_int_equal(l->type, VDEV_SCSI_LUN_DISK);
	assert_false(l->readonly);
	assert_true(l->wce); /* default: write cache on */
	assert_null(l->serial);
	st_clear_ua(x->s, 0, 0);
	q = st_cmd(x->s, 0, 0, rc10, 10, NULL, 0, 8);
	st_expect_good(q);
	assert_int_equal(st_get_be(q->in, 4), (8u << 20) / 512 - 1);
	assert_int_equal(st_get_be(q->in + 4, 4), 512);
	sreq_free(q);
	q = st_cmd(x->s, 0, 0, wr, 10, data, sizeof(data), 0);
	st_expect_good(q);
	sreq_free(q);
	/* "disk:" says the same. */
	snprintf(spec, sizeof(spec), "lun1=disk:%s", x->img);
	l = add_ok(x, spec);
	assert_int_equal(l->type, VDEV_SCSI_LUN_DISK);
	assert_int_equal(vdev_scsi_lun_count(x->s->bus), 2);
}

static void test_disk_options(void **state)
{
	struct ls *x = *state;
	char spec[256];
	vdev_scsi_lun *l;
	uint8_t wr[10] = { 0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0 }, data[4096] = { 0 };
	struct sreq *q;

	snprintf(spec, sizeof(spec),
		 "lun3.7=disk:%s:ro:bs=4096:serial=ABC-123:vendor=ACME:product=Road Runner:wt",
		 x->img);
	l = add_ok(x, spec);
	assert_int_equal(l->target, 3);
	assert_int_equal(l->lun, 7);
	assert_true(l->readonly);
	assert_int_equal(scsi_bs(l), 4096);
	assert_false(l->wce);
	assert_string_equal(l->serial, "ABC-123");
	assert_memory_equal(l->vendor, "ACME    ", 8);
	assert_memory_equal(l->product, "Road Runner     ", 16);
	assert_true(vdev_blk_readonly(l->blk));
	st_clear_ua(x->s, 3, 7);
	q = st_cmd(x->s, 3, 7, wr, 10, data, sizeof(data), 0);
	st_expect_sense(q, VDEV_SCSI_SK_DATA_PROTECT, 0x27, 0x00);
	sreq_free(q);

	snprintf(spec, sizeof(spec), "lun255.16383=%s:wc:bs=512", x->img);
	l = add_ok(x, spec);
	assert_int_equal(l->target, 255);
	assert_int_equal(l->lun, 16383);
	assert_true(l->wce);
	assert_int_equal(scsi_bs(l), 512);

	/* Option order does not matter; out may be NULL. */
	snprintf(spec, sizeof(spec), "lun16383=%s:serial=X:ro", x->img);
	assert_int_equal(add(x, spec, NULL), 0);
	l = vdev_scsi_lun_find(x->s->bus, 0, 16383);
	assert_non_null(l);
	st_track(x->s, 0, 16383, l->blk);
	assert_true(l->readonly);
}

static void test_cdrom(void **state)
{
	struct ls *x = *state;
	char spec[128];
	vdev_scsi_lun *l;

	snprintf(spec, sizeof(spec), "lun1=cdrom:%s", x->iso);
	l = add_ok(x, spec);
	assert_int_equal(l->type, VDEV_SCSI_LUN_CDROM);
	assert_non_null(l->blk);
	assert_true(l->readonly);
	assert_true(vdev_blk_readonly(l->blk)); /* opened read-only */
	assert_int_equal(l->nblocks, 100);

	l = add_ok(x, "lun2=cdrom:");
	assert_int_equal(l->type, VDEV_SCSI_LUN_CDROM);
	assert_null(l->blk); /* an empty drive */

	l = add_ok(x, "lun3=cdrom::ro");
	assert_null(l->blk);

	snprintf(spec, sizeof(spec), "lun4=cdrom:%s:ro:vendor=V:product=P", x->iso);
	l = add_ok(x, spec);
	assert_memory_equal(l->vendor, "V       ", 8);
}

/* vdev_scsi_lun_blk() / vdev_scsi_lun_type(): what the LUN holds, through media changes. */
static void test_lun_accessors(void **state)
{
	struct ls *x = *state;
	struct vdev_blk_opts bo = {
		.struct_size = sizeof(bo),
		.driver = "file",
		.readonly = 1,
	};
	vdev_blk *medium = NULL;
	vdev_scsi_lun *disk, *cd, *empty;
	char spec[128];

	snprintf(spec, sizeof(spec), "lun0=disk:%s:bs=4096", x->img);
	disk = add_ok(x, spec);
	snprintf(spec, sizeof(spec), "lun7.1=cdrom:%s", x->iso);
	cd = add_ok(x, spec);
	empty = add_ok(x, "lun2=cdrom:");

	assert_int_equal(vdev_scsi_lun_type(disk), VDEV_SCSI_LUN_DISK);
	assert_int_equal(vdev_scsi_lun_type(cd), VDEV_SCSI_LUN_CDROM);
	assert_int_equal(vdev_scsi_lun_type(empty), VDEV_SCSI_LUN_CDROM);
	assert_int_equal(vdev_scsi_lun_type(NULL), -EINVAL);
	assert_null(vdev_scsi_lun_blk(NULL));
	assert_null(vdev_scsi_lun_blk(empty));

	/* The backend the spec opened: the file's size, the LUN's read-only-ness. */
	assert_non_null(vdev_scsi_lun_blk(disk));
	assert_ptr_equal(vdev_scsi_lun_blk(disk), disk->blk);
	assert_int_equal(vdev_blk_size(vdev_scsi_lun_blk(disk)), 8u << 20);
	assert_false(vdev_blk_readonly(vdev_scsi_lun_blk(disk)));
	assert_non_null(vdev_scsi_lun_blk(cd));
	assert_int_equal(vdev_blk_size(vdev_scsi_lun_blk(cd)), 2048u * 100);
	assert_true(vdev_blk_readonly(vdev_scsi_lun_blk(cd)));

	/* Eject: no backend; insert into the empty drive: that one. */
	assert_int_equal(vdev_scsi_lun_set_medium(cd, NULL, 1), 0);
	st_track(x->s, 7, 1, NULL);
	assert_null(vdev_scsi_lun_blk(cd));
	bo.path = x->iso;
	assert_int_equal(vdev_blk_open(x->s->mv.ctx, &bo, &medium), 0);
	assert_int_equal(vdev_scsi_lun_set_medium(empty, medium, 1), 0);
	st_track(x->s, 0, 2, medium);
	assert_ptr_equal(vdev_scsi_lun_blk(empty), medium);
	assert_int_equal(vdev_scsi_lun_type(empty), VDEV_SCSI_LUN_CDROM);

	/* Found again by address: the same answers. */
	assert_ptr_equal(vdev_scsi_lun_blk(vdev_scsi_lun_find(x->s->bus, 0, 0)), disk->blk);
	assert_int_equal(vdev_scsi_lun_type(vdev_scsi_lun_find(x->s->bus, 7, 1)),
			 VDEV_SCSI_LUN_CDROM);
	assert_int_equal(vdev_scsi_lun_type(vdev_scsi_lun_find(x->s->bus, 7, 2)), -EINVAL);
}

static void test_shared_loop(void **state)
{
	struct ls *x = *state;
	struct vdev_blk_loop_opts lo = { .struct_size = sizeof(lo) };
	vdev_blk_loop *loop = NULL;
	vdev_scsi_lun *l = NULL;
	char spec[128];

	assert_int_equal(vdev_blk_loop_new(x->s->mv.ctx, &lo, &loop), 0);
	snprintf(spec, sizeof(spec), "lun0=%s", x->img);
	assert_int_equal(vdev_scsi_lun_add_str(x->s->bus, loop, spec, &l), 0);
	assert_int_equal(vdev_blk_event_fd(l->blk), vdev_blk_loop_event_fd(loop));
	assert_int_equal(vdev_scsi_lun_remove(x->s->bus, 0, 0), 0);
	vdev_blk_loop_free(loop);
}

static void test_open_failures(void **state)
{
	struct ls *x = *state;
	char spec[128];
	vdev_scsi_lun *l = (vdev_scsi_lun *)1;

	/* Parsed fine; the host says no. */
	assert_int_equal(add(x, "lun0=/nonexistent/disk.img", &l), -ENOENT);
	assert_null(l);
	assert_true(mock_vmm_log_contains(&x->s->mv, "cannot open /nonexistent/disk.img"));
	assert_int_equal(add(x, "lun0=sg:/dev/null", NULL), -ENOTTY);
	assert_int_equal(add(x, "lun0=sg:/dev/null:ro:allow-all", NULL), -ENOTTY);
	snprintf(spec, sizeof(spec), "lun0=sg:%s", x->img);
	assert_int_equal(add(x, spec, NULL), -ENOTTY);
	assert_int_equal(vdev_scsi_lun_count(x->s->bus), 0);

	/* An address in use. */
	snprintf(spec, sizeof(spec), "lun0=%s", x->img);
	add_ok(x, spec);
	assert_int_equal(add(x, spec, NULL), -EEXIST);
	assert_int_equal(vdev_scsi_lun_count(x->s->bus), 1);

	assert_int_equal(vdev_scsi_lun_add_str(NULL, NULL, spec, NULL), -EINVAL);
	assert_int_equal(vdev_scsi_lun_add_str(x->s->bus, NULL, NULL, NULL), -EINVAL);
}

static void test_malformed(void **state)
{
	struct ls *x = *state;
	/* "@" is replaced by the image path. */
	static const char *const bad[] = {
		"",
		"lun",
		"lun=@",
		"lunx=@",
		"lun0",
		"lun0a=@",
		"lun-1=@",
		"lun+1=@",
		"lun 0=@",
		" lun0=@",
		"LUN0=@",
		"lun16384=@",
		"lun256.0=@",
		"lun0.16384=@",
		"lun99999999999999999999999=@",
		"lun0.=@",
		"lun.0=@",
		"lun0.1.2=@",
		"lun0=",
		"lun0=disk:",
		"lun0=sg:",
		"lun0=:ro",
		"lun0=@:",
		"lun0=@::ro",
		"lun0=@:bogus",
		"lun0=@:RO",
		"lun0=@:ro:ro",
		"lun0=@:bs=1024",
		"lun0=@:bs=",
		"lun0=@:bs=512:bs=512",
		"lun0=@:bs=0x200",
		"lun0=@:wc:wt",
		"lun0=@:allow-all",
		"lun0=@:serial=",
		"lun0=@:serial=a\tb",
		"lun0=@:serial=x:serial=y",
		"lun0=@:vendor=NINECHARS",
		"lun0=@:product=SEVENTEEN-CHARS-X",
		"lun0=@:vendor=",
		"lun0=cdrom:@:bs=2048",
		"lun0=cdrom:@:wc",
		"lun0=cdrom:@:wt",
		"lun0=cdrom:@:allow-all",
		"lun0=cdrom::direct",
		"lun0=sg:/dev/sg0:direct",
		"lun0=sg:/dev/sg0:wc",
		"lun0=sg:/dev/sg0:bs=512",
		"lun0=sg:/dev/sg0:serial=x",
		"lun0=sg:/dev/sg0:vendor=x",
		"lun0=floppy:@",
	};

	for (size_t i = 0; i < VDEV__ARRAY_SIZE(bad); i++) {
		char spec[256], *p;
		size_t n0 = x->s->mv.n_log;
		vdev_scsi_lun *l = (vdev_scsi_lun *)1;
		int rc;

		p = strchr(bad[i], '@');
		if (p)
			snprintf(spec, sizeof(spec), "%.*s%s%s", (int)(p - bad[i]), bad[i], x->img,
				 p + 1);
		else
			snprintf(spec, sizeof(spec), "%s", bad[i]);
		rc = add(x, spec, &l);
		if (rc != -EINVAL)
			fprintf(stderr, "\"%s\": %d\n", spec, rc);
		assert_int_equal(rc, -EINVAL);
		assert_null(l);
		assert_int_equal(vdev_scsi_lun_count(x->s->bus), 0);
		/* One log line, naming the string. */
		assert_int_equal(x->s->mv.n_log, n0 + 1);
		assert_true(mock_vmm_log_contains(&x->s->mv, "LUN spec"));
	}
}

static void expect_split(const char *spec, const char *dev, const char *const *luns, size_t n)
{
	char *d = NULL, **l = NULL;
	size_t nl = 99;

	assert_int_equal(vdev_scsi_split_spec(spec, &d, &l, &nl), 0);
	assert_string_equal(d, dev);
	assert_int_equal(nl, n);
	if (!n)
		assert_null(l);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(l[i], luns[i]);
	vdev_scsi_split_spec_free(d, l, nl);
}

static void test_split_spec(void **state)
{
	static const char *const l2[] = { "lun0=a.img", "lun1=cdrom:b.iso" };
	static const char *const l3[] = { "lun0=a", "lun1.2=sg:/dev/sg0:allow-all",
					  "lun99999=x" };
	char *d = NULL, **l = NULL;
	size_t n = 0;

	(void)state;
	expect_split("virtio-scsi-pci,num-queues=2,lun0=a.img,lun1=cdrom:b.iso",
		     "virtio-scsi-pci,num-queues=2", l2, 2);
	expect_split("virtio-scsi-pci", "virtio-scsi-pci", NULL, 0);
	expect_split("", "", NULL, 0);
	/* LUN items anywhere; out-of-range ones still are LUN items (add_str refuses them). */
	expect_split("lun0=a,dev,lun1.2=sg:/dev/sg0:allow-all,x=1,lun99999=x", "dev,x=1", l3, 3);
	/* Look-alikes stay with the device; empty items are kept. */
	expect_split("dev,lunar=1,lun=2,lunx=3,lun0,lun1.=4,a,,b", "dev,lunar=1,lun=2,lunx=3,lun0,"
		     "lun1.=4,a,,b", NULL, 0);
	expect_split(",lun0=a.img", "", l2, 1);

	assert_int_equal(vdev_scsi_split_spec(NULL, &d, &l, &n), -EINVAL);
	assert_int_equal(vdev_scsi_split_spec("x", NULL, &l, &n), -EINVAL);
	assert_int_equal(vdev_scsi_split_spec("x", &d, NULL, &n), -EINVAL);
	assert_int_equal(vdev_scsi_split_spec("x", &d, &l, NULL), -EINVAL);
	vdev_scsi_split_spec_free(NULL, NULL, 0);
}

/* What split_spec returns goes straight into add_str. */
static void test_split_then_add(void **state)
{
	struct ls *x = *state;
	char spec[256], *d = NULL, **l = NULL;
	size_t n = 0;

	snprintf(spec, sizeof(spec), "virtio-scsi-pci,lun0=%s:ro,lun1=cdrom:%s,lun2=cdrom:", x->img,
		 x->iso);
	assert_int_equal(vdev_scsi_split_spec(spec, &d, &l, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(d, "virtio-scsi-pci");
	for (size_t i = 0; i < n; i++)
		assert_int_equal(vdev_scsi_lun_add_str(x->s->bus, NULL, l[i], NULL), 0);
	assert_int_equal(vdev_scsi_lun_count(x->s->bus), 3);
	vdev_scsi_split_spec_free(d, l, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_disk_default),
		T(test_disk_options),
		T(test_cdrom),
		T(test_lun_accessors),
		T(test_shared_loop),
		T(test_open_failures),
		T(test_malformed),
		T(test_split_spec),
		T(test_split_then_add),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
