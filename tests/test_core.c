/* SPDX-License-Identifier: MIT */
/* Context, version, errors, logging and interrupt hooks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "mock_vmm.h"

static void test_version(void **state)
{
	(void)state;
	assert_int_equal(vdev_version(), VDEV_VERSION_HEX);
	assert_string_equal(vdev_version_string(), "0.1.0");
	assert_int_equal(VDEV_VERSION_HEX, (VDEV_VERSION_MAJOR << 16) | (VDEV_VERSION_MINOR << 8) |
						   VDEV_VERSION_PATCH);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(vdev_strerror(0), "Success");
	assert_string_equal(vdev_strerror(-EFAULT), vdev_strerror(EFAULT));
	assert_non_null(strstr(vdev_strerror(-EFAULT), "RAM"));
	assert_non_null(strstr(vdev_strerror(-ENOMEM), "memory"));
	assert_string_equal(vdev_strerror(-99999), "Unknown error");
	assert_non_null(vdev_strerror(-2147483647));
}

static void test_ctx_bad_args(void **state)
{
	struct vdev_host_ops ops = { .struct_size = 3 };
	vdev_ctx *ctx = (vdev_ctx *)&ops;

	(void)state;
	assert_int_equal(vdev_ctx_new(&ops, &ctx), -EINVAL);
	assert_null(ctx);
	assert_int_equal(vdev_ctx_new(NULL, NULL), -EINVAL);
	vdev_ctx_free(NULL);
}

/* An older caller's ops struct (only the first hooks) must work: later hooks read as NULL. */
struct old_ops {
	size_t struct_size;
	void *opaque;
	void (*log)(void *opaque, enum vdev_log_level level, const char *msg);
};

static int old_log_calls;
static void old_log(void *opaque, enum vdev_log_level level, const char *msg)
{
	(void)level;
	(void)msg;
	assert_ptr_equal(opaque, &old_log_calls);
	old_log_calls++;
}

static void test_ctx_older_ops_struct(void **state)
{
	struct old_ops ops = { sizeof(ops), &old_log_calls, old_log };
	vdev_ctx *ctx;

	(void)state;
	assert_int_equal(vdev_ctx_new((const struct vdev_host_ops *)&ops, &ctx), 0);
	vdev_log(ctx, VDEV_LOG_WARN, "hello %d", 1);
	assert_int_equal(old_log_calls, 1);
	/* No MSI hook in an old struct: the send fails cleanly, once-logged. */
	assert_int_equal(vdev_irq_msi_send(ctx, 0, 0xfee00000, 0x31), -ENOSYS);
	assert_int_equal(vdev_irq_msi_send(ctx, 0, 0xfee00000, 0x31), -ENOSYS);
	assert_int_equal(old_log_calls, 2);
	/* Real time when the VMM has no clock hook. */
	assert_true(vdev_now_ns(ctx) > 0);
	vdev_ctx_free(ctx);
}

static void test_two_contexts_share_nothing(void **state)
{
	struct mock_vmm a, b;

	(void)state;
	assert_int_equal(mock_vmm_init(&a, 1 << 16, 1), 0);
	assert_int_equal(mock_vmm_init(&b, 1 << 16, 1), 0);
	vdev_log(a.ctx, VDEV_LOG_WARN, "only in a");
	assert_true(mock_vmm_log_contains(&a, "only in a"));
	assert_false(mock_vmm_log_contains(&b, "only in a"));
	assert_int_equal(vdev_irq_intx_set(a.ctx, 7, 1, 1), 0);
	assert_int_equal(mock_vmm_intx_level(&a, 7, 1), 1);
	assert_int_equal(b.n_intx, 0);
	mock_vmm_fini(&a);
	mock_vmm_fini(&b);
}

static void test_log_levels(void **state)
{
	struct mock_vmm mv;

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	vdev_ctx_set_log_level(mv.ctx, VDEV_LOG_WARN);
	vdev_log(mv.ctx, VDEV_LOG_INFO, "quiet");
	vdev_log(mv.ctx, VDEV_LOG_ERROR, "loud %s", "error");
	assert_false(mock_vmm_log_contains(&mv, "quiet"));
	assert_true(mock_vmm_log_contains(&mv, "loud error"));
	/* A long message is truncated, not overflowed. */
	char big[2000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	vdev_log(mv.ctx, VDEV_LOG_ERROR, "%s", big);
	mock_vmm_fini(&mv);
}

static void test_intx_changes_only(void **state)
{
	struct mock_vmm mv;

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	assert_int_equal(vdev_irq_intx_set(mv.ctx, 3, 0, 1), -EINVAL);
	assert_int_equal(vdev_irq_intx_set(mv.ctx, 3, 5, 1), -EINVAL);
	assert_int_equal(vdev_irq_intx_set(mv.ctx, 3, 1, 1), 0);
	assert_int_equal(vdev_irq_intx_set(mv.ctx, 3, 1, 5), 0); /* still "asserted" */
	assert_int_equal(vdev_irq_intx_set(mv.ctx, 3, 2, 0), 0); /* already low */
	assert_int_equal(mv.n_intx, 1);
	assert_int_equal(vdev_irq_intx_set(mv.ctx, 3, 1, 0), 0);
	assert_int_equal(mv.n_intx, 2);
	assert_int_equal(mock_vmm_intx_level(&mv, 3, 1), 0);
	/* Many sources: each tracked on its own. */
	for (uint32_t s = 0; s < 100; s++)
		assert_int_equal(vdev_irq_intx_set(mv.ctx, 1000 + s, 4, 1), 0);
	assert_int_equal(mv.n_intx, 102);
	assert_int_equal(mock_vmm_intx_level(&mv, 1050, 4), 1);
	mock_vmm_fini(&mv);
}

static void test_msi_hook_result(void **state)
{
	struct mock_vmm mv;

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	assert_int_equal(vdev_irq_msi_send(mv.ctx, 9, 0xfee00000, 0x41), 0);
	assert_int_equal(mv.n_msi, 1);
	assert_int_equal(mv.msi[0].source_id, 9);
	assert_int_equal(mv.msi[0].addr, 0xfee00000);
	assert_int_equal(mv.msi[0].data, 0x41);
	mv.msi_result = -EBUSY;
	assert_int_equal(vdev_irq_msi_send(mv.ctx, 9, 0xfee00000, 0x42), -EBUSY);
	assert_true(mock_vmm_log_contains(&mv, "not delivered"));
	mock_vmm_fini(&mv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_ctx_bad_args),
		cmocka_unit_test(test_ctx_older_ops_struct),
		cmocka_unit_test(test_two_contexts_share_nothing),
		cmocka_unit_test(test_log_levels),
		cmocka_unit_test(test_intx_changes_only),
		cmocka_unit_test(test_msi_hook_result),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
