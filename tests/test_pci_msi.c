/* SPDX-License-Identifier: MIT */
/*
 * PCI function model: interrupts. MSI with multiple messages, per-vector
 * masking and pending bits; MSI-X table programming through BAR writes,
 * vector and function masks, the PBA; INTx with INTx Disable; which mode
 * wins when several are enabled.
 */
#include <errno.h>
#include <stdlib.h>

#include "test_pci_util.h"

#define SRC 5
#define PBA_OFF 0x800

struct fx {
	struct mock_vmm mv;
	vdev_pci_func *f;
	uint8_t msi, msix;
	unsigned int ops_calls;
};

static uint64_t ops_read(void *opaque, uint64_t off, unsigned int size)
{
	struct fx *x = opaque;

	(void)off;
	(void)size;
	x->ops_calls++;
	return 0x5a5a5a5a5a5a5a5aull;
}

static void ops_write(void *opaque, uint64_t off, uint64_t v, unsigned int size)
{
	struct fx *x = opaque;

	(void)off;
	(void)v;
	(void)size;
	x->ops_calls++;
}

/* INTA#, BAR0 4 KiB with handlers around an 8-vector MSI-X table at 0 and
 * its PBA at 0x800; MSI with 8 vectors, 64-bit, per-vector masking. */
static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	struct vdev_pci_func_opts o = {
		.struct_size = sizeof(o), .vendor_id = 0x1af4, .intx_pin = 1, .source_id = SRC,
	};
	struct vdev_pci_bar_ops ops = {
		.struct_size = sizeof(ops), .read = ops_read, .write = ops_write,
	};

	assert_non_null(x);
	assert_int_equal(mock_vmm_init(&x->mv, 1 << 16, 1), 0);
	assert_int_equal(vdev_pci_func_new(x->mv.ctx, &o, &x->f), 0);
	assert_int_equal(vdev_pci_bar_add(x->f, 0, 4096, 0, &ops, x), 0);
	assert_int_equal(vdev_pci_cap_msix_add(x->f, 8, 0, 0, 0, PBA_OFF, &x->msix), 0);
	assert_int_equal(vdev_pci_cap_msi_add(x->f, 8, VDEV_PCI_MSI_64BIT |
					      VDEV_PCI_MSI_MASKABLE, &x->msi), 0);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	vdev_pci_func_free(x->f);
	mock_vmm_fini(&x->mv);
	free(x);
	return 0;
}

/* 64-bit maskable MSI layout: ctrl +2, addr +4, hi +8, data +12, mask +16, pending +20. */
static void msi_setup(struct fx *x, uint64_t addr, uint16_t data, unsigned int mme)
{
	cfg_wr32(x->f, x->msi + 4, (uint32_t)addr);
	cfg_wr32(x->f, x->msi + 8, (uint32_t)(addr >> 32));
	cfg_wr16(x->f, x->msi + 12, data);
	cfg_wr16(x->f, x->msi + 2, (uint16_t)(1 | (mme << 4)));
}

static void expect_msi(struct fx *x, size_t idx, uint64_t addr, uint32_t data)
{
	assert_true(x->mv.n_msi > idx);
	assert_int_equal(x->mv.msi[idx].source_id, SRC);
	assert_int_equal(x->mv.msi[idx].addr, addr);
	assert_int_equal(x->mv.msi[idx].data, data);
}

static void test_msi_multi_vector(void **state)
{
	struct fx *x = *state;

	assert_int_equal(cfg_rd16(x->f, x->msi + 2), 0x0180 | (3 << 1));
	msi_setup(x, 0xfee00000, 0x4020, 3);
	assert_int_equal(vdev_pci_irq_mode(x->f), VDEV_PCI_IRQ_MSI);
	assert_int_equal(vdev_pci_notify(x->f, 5), 0);
	expect_msi(x, 0, 0xfee00000, 0x4025);
	assert_int_equal(vdev_pci_notify(x->f, 8), -ERANGE);
	assert_int_equal(x->mv.n_msi, 1);

	/* Four vectors: the low two bits carry the vector. */
	msi_setup(x, 0x1fee01000ull, 0x4027, 2);
	assert_int_equal(vdev_pci_notify(x->f, 1), 0);
	expect_msi(x, 1, 0x1fee01000ull, 0x4025);
	assert_int_equal(vdev_pci_notify(x->f, 3), 0);
	expect_msi(x, 2, 0x1fee01000ull, 0x4027);
	assert_int_equal(vdev_pci_notify(x->f, 4), -ERANGE);

	/* One vector: data as programmed. */
	msi_setup(x, 0xfee00000, 0x4027, 0);
	assert_int_equal(vdev_pci_notify(x->f, 0), 0);
	expect_msi(x, 3, 0xfee00000, 0x4027);
	assert_int_equal(vdev_pci_notify(x->f, 1), -ERANGE);

	/* More than offered is clamped to what is offered (8). */
	msi_setup(x, 0xfee00000, 0x4000, 7);
	assert_int_equal((cfg_rd16(x->f, x->msi + 2) >> 4) & 7, 3);
	assert_int_equal(vdev_pci_notify(x->f, 7), 0);
	expect_msi(x, 4, 0xfee00000, 0x4007);
	assert_int_equal(vdev_pci_notify(x->f, 8), -ERANGE);
	assert_int_equal(x->mv.n_msi, 5);
}

static void test_msi_mask_pending(void **state)
{
	struct fx *x = *state;

	msi_setup(x, 0xfee00000, 0x4020, 3);
	cfg_wr32(x->f, x->msi + 16, 0x22);
	assert_int_equal(cfg_rd32(x->f, x->msi + 16), 0x22);
	assert_int_equal(vdev_pci_notify(x->f, 1), 0);
	assert_int_equal(vdev_pci_notify(x->f, 5), 0);
	assert_int_equal(x->mv.n_msi, 0);
	assert_int_equal(cfg_rd32(x->f, x->msi + 20), 0x22);
	assert_int_equal(vdev_pci_vector_pending(x->f, 1), 1);
	assert_int_equal(vdev_pci_vector_pending(x->f, 5), 1);
	assert_int_equal(vdev_pci_vector_pending(x->f, 2), 0);
	assert_int_equal(vdev_pci_notify(x->f, 2), 0);
	expect_msi(x, 0, 0xfee00000, 0x4022);
	/* Pending bits are read-only to the guest; mask bits beyond 8 too. */
	cfg_wr32(x->f, x->msi + 20, 0);
	assert_int_equal(cfg_rd32(x->f, x->msi + 20), 0x22);
	cfg_wr32(x->f, x->msi + 16, 0xffffff22);
	assert_int_equal(cfg_rd32(x->f, x->msi + 16), 0x22);
	/* Unmasking vector 1 sends it during the config write. */
	cfg_wr32(x->f, x->msi + 16, 0x20);
	assert_int_equal(x->mv.n_msi, 2);
	expect_msi(x, 1, 0xfee00000, 0x4021);
	assert_int_equal(cfg_rd32(x->f, x->msi + 20), 0x20);
	/* MSI disabled: unmasking does not send (MSI not in use). */
	cfg_wr16(x->f, x->msi + 2, 3 << 4);
	cfg_wr32(x->f, x->msi + 16, 0);
	assert_int_equal(x->mv.n_msi, 2);
	assert_int_equal(cfg_rd32(x->f, x->msi + 20), 0x20);
	/* Enabled again: the pending unmasked vector goes out. */
	cfg_wr16(x->f, x->msi + 2, 1 | (3 << 4));
	assert_int_equal(x->mv.n_msi, 3);
	expect_msi(x, 2, 0xfee00000, 0x4025);
	assert_int_equal(cfg_rd32(x->f, x->msi + 20), 0);
	assert_int_equal(vdev_pci_vector_pending(x->f, 5), 0);
}

static void test_msi_32bit_unmaskable(void **state)
{
	struct fx *x = *state;
	struct vdev_pci_func_opts o = { .struct_size = sizeof(o), .source_id = 77 };
	vdev_pci_func *f;
	uint8_t m;

	assert_int_equal(vdev_pci_func_new(x->mv.ctx, &o, &f), 0);
	assert_int_equal(vdev_pci_cap_msi_add(f, 2, 0, &m), 0);
	assert_int_equal(vdev_pci_irq_mode(f), VDEV_PCI_IRQ_NONE);
	assert_int_equal(vdev_pci_notify(f, 0), -ENODEV);
	/* ctrl +2, addr +4, data +8. */
	cfg_wr32(f, m + 4, 0xfee0000f);
	cfg_wr16(f, m + 8, 0x0031);
	cfg_wr16(f, m + 2, 0x0011);
	assert_int_equal(cfg_rd32(f, m + 4), 0xfee0000c);
	assert_int_equal(vdev_pci_notify(f, 1), 0);
	assert_int_equal(x->mv.n_msi, 1);
	assert_int_equal(x->mv.msi[0].source_id, 77);
	assert_int_equal(x->mv.msi[0].addr, 0xfee0000c);
	assert_int_equal(x->mv.msi[0].data, 0x0031);
	assert_int_equal(vdev_pci_notify(f, 0), 0);
	assert_int_equal(x->mv.msi[1].data, 0x0030);
	assert_int_equal(vdev_pci_notify(f, 2), -ERANGE);
	assert_int_equal(vdev_pci_vector_pending(f, 0), 0);
	vdev_pci_func_free(f);
}

/* Program MSI-X entry @v through BAR0 with dword writes. */
static void msix_entry(struct fx *x, unsigned int v, uint64_t addr, uint32_t data, int masked)
{
	bar_wr(x->f, 0, v * 16, (uint32_t)addr, 4);
	bar_wr(x->f, 0, v * 16 + 4, (uint32_t)(addr >> 32), 4);
	bar_wr(x->f, 0, v * 16 + 8, data, 4);
	bar_wr(x->f, 0, v * 16 + 12, masked ? 1 : 0, 4);
}

static void test_msix_table(void **state)
{
	struct fx *x = *state;

	cfg_wr16(x->f, x->msix + 2, 0x8000);
	assert_int_equal(vdev_pci_irq_mode(x->f), VDEV_PCI_IRQ_MSIX);
	/* Table bytes go to the emulation, not to the BAR's handlers. */
	bar_wr(x->f, 0, 3 * 16, 0x00000000fee01000ull, 8);
	bar_wr(x->f, 0, 3 * 16 + 8, 0x41, 4);
	assert_int_equal(bar_rd(x->f, 0, 3 * 16, 8), 0xfee01000);
	assert_int_equal(bar_rd(x->f, 0, 3 * 16 + 12, 4), 1);
	bar_wr(x->f, 0, 3 * 16 + 12, 0, 4);
	assert_int_equal(x->ops_calls, 0);
	assert_int_equal(vdev_pci_notify(x->f, 3), 0);
	expect_msi(x, 0, 0xfee01000, 0x41);
	assert_int_equal(vdev_pci_notify(x->f, 8), -ERANGE);
	assert_int_equal(vdev_pci_notify(x->f, UINT32_MAX), -ERANGE);
	assert_int_equal(x->mv.n_msi, 1);

	/* Byte-wise programming of entry 2 while masked (reset state). */
	for (unsigned int i = 0; i < 8; i++)
		bar_wr(x->f, 0, 2 * 16 + i, (0x00000001fee02000ull >> (8 * i)) & 0xff, 1);
	bar_wr(x->f, 0, 2 * 16 + 8, 0x42, 2);
	assert_int_equal(bar_rd(x->f, 0, 2 * 16 + 2, 2), 0xfee0);
	assert_int_equal(bar_rd(x->f, 0, 2 * 16 + 4, 4), 1);
	/* Masked: pending in the PBA, no message. */
	assert_int_equal(vdev_pci_notify(x->f, 2), 0);
	assert_int_equal(x->mv.n_msi, 1);
	assert_int_equal(bar_rd(x->f, 0, PBA_OFF, 8), 1u << 2);
	assert_int_equal(vdev_pci_vector_pending(x->f, 2), 1);
	/* The PBA is read-only. */
	bar_wr(x->f, 0, PBA_OFF, 0, 8);
	assert_int_equal(bar_rd(x->f, 0, PBA_OFF, 1), 1u << 2);
	/* Reserved Vector Control bits read 0; writing them leaves the mask. */
	bar_wr(x->f, 0, 2 * 16 + 12, 0xfffffffe, 4);
	assert_int_equal(x->mv.n_msi, 2); /* that write unmasked it: delivered */
	expect_msi(x, 1, 0x1fee02000ull, 0x42);
	assert_int_equal(bar_rd(x->f, 0, 2 * 16 + 12, 4), 0);
	assert_int_equal(bar_rd(x->f, 0, PBA_OFF, 8), 0);
	bar_wr(x->f, 0, 2 * 16 + 12, 0xffffffff, 4);
	assert_int_equal(bar_rd(x->f, 0, 2 * 16 + 12, 4), 1);
	assert_int_equal(x->ops_calls, 0);
	/* Outside the table and PBA the BAR's handlers run. */
	assert_int_equal(bar_rd(x->f, 0, 0x900, 4), 0x5a5a5a5a);
	assert_int_equal(bar_rd(x->f, 0, PBA_OFF + 8, 1), 0x5a);
	assert_int_equal(bar_rd(x->f, 0, 8 * 16, 2), 0x5a5a);
	assert_int_equal(x->ops_calls, 3);
	/* A 16-byte read across the last entry and the handler region. */
	{
		uint8_t buf[16];

		assert_int_equal(vdev_pci_bar_read(x->f, 0, 7 * 16 + 8, buf, 16), 0);
		assert_int_equal(buf[4], 1);    /* entry 7 vector control: masked */
		assert_int_equal(buf[8], 0x5a); /* handlers */
		assert_int_equal(x->ops_calls, 4);
	}
}

static void test_msix_function_mask(void **state)
{
	struct fx *x = *state;

	for (unsigned int v = 0; v < 8; v++)
		msix_entry(x, v, 0xfee00000 + v * 0x1000, 0x50 + v, 0);
	cfg_wr16(x->f, x->msix + 2, 0xc000);
	assert_int_equal(vdev_pci_notify(x->f, 1), 0);
	assert_int_equal(vdev_pci_notify(x->f, 0), 0);
	assert_int_equal(vdev_pci_notify(x->f, 0), 0);
	assert_int_equal(x->mv.n_msi, 0);
	assert_int_equal(bar_rd(x->f, 0, PBA_OFF, 1), 0x3);
	/* Other config and table writes under the function mask send nothing. */
	cfg_wr16(x->f, x->msix + 2, 0xc000);
	cfg_wr8(x->f, VDEV_PCI_INTERRUPT_LINE, 5);
	bar_wr(x->f, 0, 0 * 16 + 12, 0, 4);
	assert_int_equal(x->mv.n_msi, 0);
	/* Clearing the function mask delivers each pending vector once. */
	cfg_wr16(x->f, x->msix + 2, 0x8000);
	assert_int_equal(x->mv.n_msi, 2);
	expect_msi(x, 0, 0xfee00000, 0x50);
	expect_msi(x, 1, 0xfee01000, 0x51);
	assert_int_equal(bar_rd(x->f, 0, PBA_OFF, 1), 0);

	/* Both masks: clearing only the function mask delivers nothing. */
	msix_entry(x, 6, 0xfee06000, 0x56, 1);
	cfg_wr16(x->f, x->msix + 2, 0xc000);
	assert_int_equal(vdev_pci_notify(x->f, 6), 0);
	cfg_wr16(x->f, x->msix + 2, 0x8000);
	assert_int_equal(x->mv.n_msi, 2);
	assert_int_equal(vdev_pci_vector_pending(x->f, 6), 1);
	bar_wr(x->f, 0, 6 * 16 + 12, 0, 4);
	assert_int_equal(x->mv.n_msi, 3);
	expect_msi(x, 2, 0xfee06000, 0x56);
	assert_int_equal(vdev_pci_vector_pending(x->f, 6), 0);

	/* Unmasking a vector while the function mask is set delivers nothing. */
	msix_entry(x, 7, 0xfee07000, 0x57, 1);
	assert_int_equal(vdev_pci_notify(x->f, 7), 0);
	cfg_wr16(x->f, x->msix + 2, 0xc000);
	bar_wr(x->f, 0, 7 * 16 + 12, 0, 4);
	assert_int_equal(x->mv.n_msi, 3);
	cfg_wr16(x->f, x->msix + 2, 0x8000);
	assert_int_equal(x->mv.n_msi, 4);
	expect_msi(x, 3, 0xfee07000, 0x57);

	/* MSI-X disabled while a vector is pending: not in use, nothing sent
	 * until it is enabled again. */
	msix_entry(x, 4, 0xfee04000, 0x54, 1);
	assert_int_equal(vdev_pci_notify(x->f, 4), 0);
	cfg_wr16(x->f, x->msix + 2, 0x0000);
	bar_wr(x->f, 0, 4 * 16 + 12, 0, 4);
	assert_int_equal(x->mv.n_msi, 4);
	cfg_wr16(x->f, x->msix + 2, 0x8000);
	assert_int_equal(x->mv.n_msi, 5);
	expect_msi(x, 4, 0xfee04000, 0x54);
}

static void test_mode_precedence(void **state)
{
	struct fx *x = *state;

	msix_entry(x, 0, 0xfee0a000, 0xaa, 0);
	msi_setup(x, 0xfee0b000, 0xb0, 0);
	/* Both enabled: MSI-X wins. */
	cfg_wr16(x->f, x->msix + 2, 0x8000);
	assert_int_equal(vdev_pci_irq_mode(x->f), VDEV_PCI_IRQ_MSIX);
	assert_int_equal(vdev_pci_notify(x->f, 0), 0);
	expect_msi(x, 0, 0xfee0a000, 0xaa);
	/* MSI only. */
	cfg_wr16(x->f, x->msix + 2, 0);
	assert_int_equal(vdev_pci_irq_mode(x->f), VDEV_PCI_IRQ_MSI);
	assert_int_equal(vdev_pci_notify(x->f, 0), 0);
	expect_msi(x, 1, 0xfee0b000, 0xb0);
	assert_int_equal(x->mv.n_intx, 0);
	/* Neither: INTx. */
	cfg_wr16(x->f, x->msi + 2, 0);
	assert_int_equal(vdev_pci_irq_mode(x->f), VDEV_PCI_IRQ_INTX);
	assert_int_equal(vdev_pci_notify(x->f, 3), 0);
	assert_int_equal(x->mv.n_msi, 2);
	assert_int_equal(mock_vmm_intx_level(&x->mv, SRC, 1), 1);
	assert_int_equal(cfg_rd16(x->f, VDEV_PCI_STATUS) & VDEV_PCI_STATUS_INTERRUPT,
			 VDEV_PCI_STATUS_INTERRUPT);
	assert_int_equal(vdev_pci_intx_set(x->f, 0), 0);
	assert_int_equal(mock_vmm_intx_level(&x->mv, SRC, 1), 0);

	/* No pin, nothing enabled. */
	{
		struct vdev_pci_func_opts o = { .struct_size = sizeof(o) };
		vdev_pci_func *f;

		assert_int_equal(vdev_pci_func_new(x->mv.ctx, &o, &f), 0);
		assert_int_equal(vdev_pci_irq_mode(f), VDEV_PCI_IRQ_NONE);
		assert_int_equal(vdev_pci_notify(f, 0), -ENODEV);
		assert_int_equal(vdev_pci_intx_set(f, 1), -ENODEV);
		vdev_pci_func_free(f);
	}
}

static void test_intx_disable(void **state)
{
	struct fx *x = *state;

	assert_int_equal(vdev_pci_intx_set(x->f, 1), 0);
	assert_int_equal(x->mv.n_intx, 1);
	assert_int_equal(x->mv.intx[0].source_id, SRC);
	assert_int_equal(x->mv.intx[0].pin, 1);
	assert_int_equal(x->mv.intx[0].level, 1);
	/* INTx Disable drops the pin; Interrupt Status still says 1. */
	cfg_wr16(x->f, VDEV_PCI_COMMAND, VDEV_PCI_COMMAND_INTX_DISABLE);
	assert_int_equal(x->mv.n_intx, 2);
	assert_int_equal(x->mv.intx[1].level, 0);
	assert_int_equal(cfg_rd16(x->f, VDEV_PCI_STATUS) & VDEV_PCI_STATUS_INTERRUPT,
			 VDEV_PCI_STATUS_INTERRUPT);
	/* Level changes while disabled reach status, not the host. */
	assert_int_equal(vdev_pci_intx_set(x->f, 0), 0);
	assert_int_equal(cfg_rd16(x->f, VDEV_PCI_STATUS) & VDEV_PCI_STATUS_INTERRUPT, 0);
	assert_int_equal(vdev_pci_intx_set(x->f, 1), 0);
	assert_int_equal(x->mv.n_intx, 2);
	/* Re-enabled: the pin is driven again. */
	cfg_wr16(x->f, VDEV_PCI_COMMAND, 0);
	assert_int_equal(x->mv.n_intx, 3);
	assert_int_equal(x->mv.intx[2].level, 1);
	/* Unrelated command writes do not re-drive anything. */
	cfg_wr16(x->f, VDEV_PCI_COMMAND, VDEV_PCI_COMMAND_MEMORY);
	assert_int_equal(x->mv.n_intx, 3);
	assert_int_equal(vdev_pci_intx_set(x->f, 0), 0);
	assert_int_equal(x->mv.n_intx, 4);
	assert_int_equal(x->mv.intx[3].level, 0);
	assert_int_equal(cfg_rd16(x->f, VDEV_PCI_STATUS) & VDEV_PCI_STATUS_INTERRUPT, 0);
	/* Freeing an asserted function deasserts it. */
	assert_int_equal(vdev_pci_intx_set(x->f, 1), 0);
	assert_int_equal(mock_vmm_intx_level(&x->mv, SRC, 1), 1);
	vdev_pci_func_free(x->f);
	x->f = NULL;
	assert_int_equal(mock_vmm_intx_level(&x->mv, SRC, 1), 0);
}

static void test_msi_host_error(void **state)
{
	struct fx *x = *state;

	msi_setup(x, 0xfee00000, 0x20, 0);
	x->mv.msi_result = -EIO;
	assert_int_equal(vdev_pci_notify(x->f, 0), -EIO);
	x->mv.msi_result = 0;
	assert_int_equal(vdev_pci_notify(x->f, 0), 0);
	assert_int_equal(x->mv.n_msi, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_msi_multi_vector, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_mask_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_32bit_unmaskable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msix_function_mask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode_precedence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_disable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_host_error, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
