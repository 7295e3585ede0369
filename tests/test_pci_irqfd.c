/* SPDX-License-Identifier: MIT */
/*
 * MSI-X vectors delivered to eventfds (vdev_pci_msix_set_irqfd), with a
 * real eventfd: delivery, masking (vector and function) → pending →
 * unmask → the fd becomes readable, that the msi_send hook is not called
 * for a bound vector, unbinding, and argument checks.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "test_pci_util.h"

#define SRC 3
#define NVEC 4
#define PBA_OFF 0x800

struct fx {
	struct mock_vmm mv;
	vdev_pci_func *f;
	uint8_t msix;
	int efd;
};

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	struct vdev_pci_func_opts o = {
		.struct_size = sizeof(o), .vendor_id = 0x1af4, .intx_pin = 1, .source_id = SRC,
	};

	assert_non_null(x);
	assert_int_equal(mock_vmm_init(&x->mv, 0, 0), 0);
	assert_int_equal(vdev_pci_func_new(x->mv.ctx, &o, &x->f), 0);
	assert_int_equal(vdev_pci_bar_add(x->f, 0, 4096, 0, NULL, NULL), 0);
	assert_int_equal(vdev_pci_cap_msix_add(x->f, NVEC, 0, 0, 0, PBA_OFF, &x->msix), 0);
	x->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(x->efd >= 0);
	/* Program every vector, unmask, enable MSI-X. */
	for (unsigned int v = 0; v < NVEC; v++) {
		bar_wr(x->f, 0, v * 16, 0xfee00000u, 4);
		bar_wr(x->f, 0, v * 16 + 4, 0, 4);
		bar_wr(x->f, 0, v * 16 + 8, 0x30 + v, 4);
		bar_wr(x->f, 0, v * 16 + 12, 0, 4);
	}
	cfg_wr16(x->f, x->msix + 2, 0x8000);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	vdev_pci_func_free(x->f);
	close(x->efd);
	mock_vmm_fini(&x->mv);
	free(x);
	return 0;
}

/* Read the eventfd: its counter, or 0 if it is not readable. */
static uint64_t efd_take(int fd)
{
	uint64_t v = 0;
	ssize_t n = read(fd, &v, sizeof(v));

	if (n < 0) {
		assert_int_equal(errno, EAGAIN);
		return 0;
	}
	assert_int_equal(n, sizeof(v));
	return v;
}

static void test_deliver(void **state)
{
	struct fx *x = *state;

	assert_int_equal(vdev_pci_msix_set_irqfd(x->f, 2, x->efd), 0);
	assert_int_equal(vdev_pci_notify(x->f, 2), 0);
	assert_int_equal(vdev_pci_notify(x->f, 2), 0);
	assert_int_equal(efd_take(x->efd), 2); /* two signals, counted */
	assert_int_equal(efd_take(x->efd), 0);
	assert_int_equal(x->mv.n_msi, 0);      /* the hook was not called */
	/* Other vectors still use the hook. */
	assert_int_equal(vdev_pci_notify(x->f, 1), 0);
	assert_int_equal(x->mv.n_msi, 1);
	assert_int_equal(x->mv.msi[0].data, 0x31);
	assert_int_equal(efd_take(x->efd), 0);
	/* Unbind: back to the hook. */
	assert_int_equal(vdev_pci_msix_set_irqfd(x->f, 2, -1), 0);
	assert_int_equal(vdev_pci_notify(x->f, 2), 0);
	assert_int_equal(x->mv.n_msi, 2);
	assert_int_equal(x->mv.msi[1].data, 0x32);
	assert_int_equal(efd_take(x->efd), 0);
}

static void test_masked_pending_unmask(void **state)
{
	struct fx *x = *state;

	assert_int_equal(vdev_pci_msix_set_irqfd(x->f, 0, x->efd), 0);
	/* Vector mask: pending, nothing written. */
	bar_wr(x->f, 0, 12, 1, 4);
	assert_int_equal(vdev_pci_notify(x->f, 0), 0);
	assert_int_equal(efd_take(x->efd), 0);
	assert_true(vdev_pci_vector_pending(x->f, 0));
	assert_int_equal(bar_rd(x->f, 0, PBA_OFF, 8) & 1, 1);
	/* Unmask: the fd becomes readable, the pending bit clears, no hook call. */
	bar_wr(x->f, 0, 12, 0, 4);
	assert_int_equal(efd_take(x->efd), 1);
	assert_false(vdev_pci_vector_pending(x->f, 0));
	assert_int_equal(x->mv.n_msi, 0);

	/* Function mask works the same way. */
	cfg_wr16(x->f, x->msix + 2, 0xc000);
	assert_int_equal(vdev_pci_notify(x->f, 0), 0);
	assert_int_equal(efd_take(x->efd), 0);
	assert_true(vdev_pci_vector_pending(x->f, 0));
	cfg_wr16(x->f, x->msix + 2, 0x8000);
	assert_int_equal(efd_take(x->efd), 1);
	assert_int_equal(x->mv.n_msi, 0);

	/* With MSI-X disabled the vector is not used at all (INTx instead). */
	cfg_wr16(x->f, x->msix + 2, 0);
	assert_int_equal(vdev_pci_notify(x->f, 0), 0);
	assert_int_equal(efd_take(x->efd), 0);
	assert_int_equal(mock_vmm_intx_level(&x->mv, SRC, 1), 1);
}

static void test_binding_survives_reset(void **state)
{
	struct fx *x = *state;

	assert_int_equal(vdev_pci_msix_set_irqfd(x->f, 3, x->efd), 0);
	vdev_pci_func_reset(x->f);
	/* The guest sets MSI-X up again; the VMM's routing stays. */
	bar_wr(x->f, 0, 3 * 16 + 12, 0, 4);
	cfg_wr16(x->f, x->msix + 2, 0x8000);
	assert_int_equal(vdev_pci_notify(x->f, 3), 0);
	assert_int_equal(efd_take(x->efd), 1);
	assert_int_equal(x->mv.n_msi, 0);
}

static void test_bad_fd(void **state)
{
	struct fx *x = *state;
	int fds[2];

	/* A closed fd: the write fails and the error comes back, no crash. */
	assert_int_equal(pipe(fds), 0);
	close(fds[0]);
	close(fds[1]);
	assert_int_equal(vdev_pci_msix_set_irqfd(x->f, 1, fds[0]), 0);
	assert_int_equal(vdev_pci_notify(x->f, 1), -EBADF);
	assert_int_equal(x->mv.n_msi, 0);
}

static void test_args(void **state)
{
	struct fx *x = *state;
	struct vdev_pci_func_opts o = { .struct_size = sizeof(o), .vendor_id = 1 };
	vdev_pci_func *plain;

	assert_int_equal(vdev_pci_msix_set_irqfd(x->f, NVEC, x->efd), -EINVAL);
	assert_int_equal(vdev_pci_msix_set_irqfd(x->f, 0, -2), -EINVAL);
	assert_int_equal(vdev_pci_msix_set_irqfd(NULL, 0, x->efd), -EINVAL);
	/* Unbinding before anything was bound is fine. */
	assert_int_equal(vdev_pci_msix_set_irqfd(x->f, 0, -1), 0);
	/* No MSI-X capability. */
	assert_int_equal(vdev_pci_func_new(x->mv.ctx, &o, &plain), 0);
	assert_int_equal(vdev_pci_msix_set_irqfd(plain, 0, x->efd), -EINVAL);
	assert_int_equal(vdev_pci_cap_msi_add(plain, 1, 0, NULL), 0);
	assert_int_equal(vdev_pci_msix_set_irqfd(plain, 0, x->efd), -EINVAL);
	vdev_pci_func_free(plain);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deliver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_masked_pending_unmask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binding_survives_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_args, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
