/* SPDX-License-Identifier: MIT */
/*
 * The "pci-testdev" device type: creation and options, its PCI layout,
 * registers through BAR0 and the BAR1 I/O mirror, interrupts, DMA with
 * bus mastering, the timer, reset, and migration between two contexts.
 */
#include <errno.h>
#include <stdlib.h>

#include "test_pci_util.h"
#include "state_blob.h"

#define RAM_SIZE (64u << 10)
#define R(name) VDEV_TESTDEV_REG_##name

struct fx {
	struct mock_vmm mv;
	vdev_device *dev;
	vdev_pci_func *f;
};

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	assert_int_equal(mock_vmm_init(&x->mv, RAM_SIZE, 1), 0);
	testdev_register(x->mv.ctx);
	assert_int_equal(vdev_device_create(x->mv.ctx, VDEV_TESTDEV_TYPE, NULL, "td0", &x->dev),
			 0);
	x->f = vdev_device_pci(x->dev);
	assert_non_null(x->f);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	vdev_device_destroy(x->dev);
	mock_vmm_fini(&x->mv);
	free(x);
	return 0;
}

static uint32_t reg_rd(vdev_pci_func *f, uint32_t reg)
{
	return (uint32_t)bar_rd(f, 0, reg, 4);
}

static void reg_wr(vdev_pci_func *f, uint32_t reg, uint32_t v)
{
	bar_wr(f, 0, reg, v, 4);
}

static void test_create_defaults(void **state)
{
	struct fx *x = *state;
	struct vdev_pci_bar_info info;
	uint8_t msix, msi;

	assert_string_equal(vdev_device_id(x->dev), "td0");
	assert_int_equal(cfg_rd16(x->f, VDEV_PCI_VENDOR_ID), VDEV_TESTDEV_VENDOR_ID);
	assert_int_equal(cfg_rd16(x->f, VDEV_PCI_DEVICE_ID), VDEV_TESTDEV_DEVICE_ID);
	assert_int_equal(cfg_rd32(x->f, 0x08) >> 8, 0xff0000);
	assert_int_equal(cfg_rd8(x->f, VDEV_PCI_INTERRUPT_PIN), 1);
	assert_int_equal(vdev_pci_bar_get_info(x->f, 0, &info), 0);
	assert_int_equal(info.size, 4096);
	assert_int_equal(info.flags, 0);
	assert_int_equal(vdev_pci_bar_get_info(x->f, 1, &info), 0);
	assert_int_equal(info.size, 32);
	assert_int_equal(info.flags, VDEV_PCI_BAR_IO);
	assert_int_equal(vdev_pci_bar_get_info(x->f, 2, &info), 0);
	assert_int_equal(info.size, 16384);
	assert_int_equal(info.flags, VDEV_PCI_BAR_MEM64 | VDEV_PCI_BAR_PREFETCH);
	/* MSI-X first, then MSI. */
	msix = cfg_rd8(x->f, VDEV_PCI_CAPABILITY_LIST);
	assert_int_equal(cfg_rd8(x->f, msix), VDEV_PCI_CAP_ID_MSIX);
	assert_int_equal(cfg_rd16(x->f, msix + 2), 3);
	assert_int_equal(cfg_rd32(x->f, msix + 4), 0x2);
	assert_int_equal(cfg_rd32(x->f, msix + 8), 0x2002);
	msi = cfg_rd8(x->f, msix + 1);
	assert_int_equal(cfg_rd8(x->f, msi), VDEV_PCI_CAP_ID_MSI);
	assert_int_equal(cfg_rd16(x->f, msi + 2), 0x0180);
	assert_int_equal(cfg_rd8(x->f, msi + 1), 0);
}

static void test_create_options(void **state)
{
	struct fx *x = *state;
	struct vdev_testdev_opts o = { .struct_size = sizeof(o) };
	struct vdev_pci_bar_info info;
	vdev_device *dev = NULL;
	vdev_pci_func *f;

	assert_int_equal(vdev_device_create_kv(x->mv.ctx, "pci-testdev,id=kv,msix-vectors=8,"
					       "msi-vectors=4,intx=off,source-id=7", &dev), 0);
	f = vdev_device_pci(dev);
	assert_int_equal(cfg_rd8(f, VDEV_PCI_INTERRUPT_PIN), 0);
	assert_int_equal(cfg_rd16(f, cap_find(f, VDEV_PCI_CAP_ID_MSIX) + 2), 7);
	assert_int_equal((cfg_rd16(f, cap_find(f, VDEV_PCI_CAP_ID_MSI) + 2) >> 1) & 7, 2);
	/* source-id reaches the interrupt hooks. */
	cfg_wr16(f, cap_find(f, VDEV_PCI_CAP_ID_MSI) + 2, 1);
	reg_wr(f, R(IRQ_RAISE), 0);
	assert_int_equal(x->mv.n_msi, 1);
	assert_int_equal(x->mv.msi[0].source_id, 7);
	vdev_device_destroy(dev);

	assert_int_equal(vdev_device_create_kv(x->mv.ctx, "pci-testdev,msi-vectors=3", &dev),
			 -EINVAL);
	assert_int_equal(vdev_device_create_kv(x->mv.ctx, "pci-testdev,msix-vectors=65", &dev),
			 -EINVAL);
	assert_int_equal(vdev_device_create_kv(x->mv.ctx, "pci-testdev,msi-vectors=64", &dev),
			 -EINVAL);
	assert_int_equal(vdev_device_create_kv(x->mv.ctx, "pci-testdev,vectors=1", &dev),
			 -EINVAL);
	o.msix_vectors = 65;
	assert_int_equal(vdev_device_create(x->mv.ctx, VDEV_TESTDEV_TYPE, &o, NULL, &dev),
			 -EINVAL);
	o.msix_vectors = 0;
	o.msi_vectors = 6;
	assert_int_equal(vdev_device_create(x->mv.ctx, VDEV_TESTDEV_TYPE, &o, NULL, &dev),
			 -EINVAL);
	/* Nothing at all: no BAR2, no capabilities, no interrupt. */
	o.msi_vectors = 0;
	o.intx = 0;
	assert_int_equal(vdev_device_create(x->mv.ctx, VDEV_TESTDEV_TYPE, &o, NULL, &dev), 0);
	f = vdev_device_pci(dev);
	assert_int_equal(vdev_pci_bar_get_info(f, 2, &info), 0);
	assert_int_equal(info.size, 0);
	assert_int_equal(cfg_rd16(f, VDEV_PCI_STATUS) & VDEV_PCI_STATUS_CAP_LIST, 0);
	assert_int_equal(vdev_pci_irq_mode(f), VDEV_PCI_IRQ_NONE);
	reg_wr(f, R(IRQ_RAISE), 0);
	assert_int_equal(x->mv.n_msi, 1);
	assert_int_equal(x->mv.n_intx, 0);
	vdev_device_destroy(dev);
	/* All 64 MSI-X vectors and 32 MSI vectors fit. */
	o.msix_vectors = 64;
	o.msi_vectors = 32;
	assert_int_equal(vdev_device_create(x->mv.ctx, VDEV_TESTDEV_TYPE, &o, NULL, &dev), 0);
	vdev_device_destroy(dev);
}

static void test_registers(void **state)
{
	struct fx *x = *state;

	assert_int_equal(reg_rd(x->f, R(MAGIC)), VDEV_TESTDEV_MAGIC);
	assert_int_equal(bar_rd(x->f, 0, 2, 2), VDEV_TESTDEV_MAGIC >> 16);
	assert_int_equal(bar_rd(x->f, 0, 3, 1), VDEV_TESTDEV_MAGIC >> 24);
	/* MAGIC is read-only. */
	reg_wr(x->f, R(MAGIC), 0);
	assert_int_equal(reg_rd(x->f, R(MAGIC)), VDEV_TESTDEV_MAGIC);
	/* SCRATCH, byte by byte and as part of an 8-byte access. */
	reg_wr(x->f, R(SCRATCH), 0x11223344);
	bar_wr(x->f, 0, R(SCRATCH) + 1, 0xaa, 1);
	assert_int_equal(reg_rd(x->f, R(SCRATCH)), 0x1122aa44);
	bar_wr(x->f, 0, R(SCRATCH) + 2, 0xbbcc, 2);
	assert_int_equal(reg_rd(x->f, R(SCRATCH)), 0xbbccaa44);
	bar_wr(x->f, 0, 0, 0x5566778800000000ull, 8);
	assert_int_equal(reg_rd(x->f, R(SCRATCH)), 0x55667788);
	assert_int_equal(bar_rd(x->f, 0, 0, 8), 0x5566778800000000ull | VDEV_TESTDEV_MAGIC);
	/* DMA address/length are plain RW; status and result read-only. */
	bar_wr(x->f, 0, R(DMA_ADDR_LO), 0x0000000112345678ull, 8);
	assert_int_equal(reg_rd(x->f, R(DMA_ADDR_LO)), 0x12345678);
	assert_int_equal(reg_rd(x->f, R(DMA_ADDR_HI)), 1);
	reg_wr(x->f, R(DMA_LEN), 0x100);
	assert_int_equal(reg_rd(x->f, R(DMA_LEN)), 0x100);
	reg_wr(x->f, R(DMA_STATUS), 7);
	reg_wr(x->f, R(DMA_RESULT), 7);
	assert_int_equal(reg_rd(x->f, R(DMA_STATUS)), 0);
	assert_int_equal(reg_rd(x->f, R(DMA_RESULT)), 0);
	/* Write-only and unassigned registers read 0. */
	assert_int_equal(reg_rd(x->f, R(IRQ_RAISE)), 0);
	assert_int_equal(reg_rd(x->f, R(IRQ_ACK)), 0);
	assert_int_equal(reg_rd(x->f, R(DMA_CMD)), 0);
	for (uint32_t o = 0x2c; o < 0x40; o += 4) {
		reg_wr(x->f, o, 0xffffffff);
		assert_int_equal(reg_rd(x->f, o), 0);
	}
	for (uint32_t o = 0x80; o < 4096; o += 0x3c) {
		reg_wr(x->f, o & ~3u, 0xffffffff);
		assert_int_equal(reg_rd(x->f, o & ~3u), 0);
	}
	/* BUF is plain storage. */
	bar_wr(x->f, 0, R(BUF) + 60, 0xdeadbeef, 4);
	assert_int_equal(reg_rd(x->f, R(BUF) + 60), 0xdeadbeef);
	assert_int_equal(bar_rd(x->f, 0, R(BUF) + 61, 2), 0xadbe);

	/* BAR1: the first 32 bytes over I/O. */
	assert_int_equal(bar_rd(x->f, 1, 0, 4), VDEV_TESTDEV_MAGIC);
	bar_wr(x->f, 1, R(SCRATCH), 0x01020304, 4);
	assert_int_equal(reg_rd(x->f, R(SCRATCH)), 0x01020304);
	assert_int_equal(bar_rd(x->f, 1, R(DMA_LEN), 4), 0x100);
	{
		uint8_t buf[8];

		assert_int_equal(vdev_pci_bar_read(x->f, 1, 0x1c, buf, 8), -ERANGE);
		/* An 8-byte I/O access is split into dwords. */
		assert_int_equal(vdev_pci_bar_read(x->f, 1, 0, buf, 8), 0);
		assert_int_equal(buf[4], 0x04);
	}
}

static void test_irq_raise_ack(void **state)
{
	struct fx *x = *state;
	uint8_t msix = cap_find(x->f, VDEV_PCI_CAP_ID_MSIX);
	uint8_t msi = cap_find(x->f, VDEV_PCI_CAP_ID_MSI);

	/* INTx. */
	reg_wr(x->f, R(IRQ_RAISE), 0);
	assert_int_equal(mock_vmm_intx_level(&x->mv, 0, 1), 1);
	reg_wr(x->f, R(IRQ_ACK), 1);
	assert_int_equal(mock_vmm_intx_level(&x->mv, 0, 1), 0);
	/* MSI (one vector). */
	cfg_wr32(x->f, msi + 4, 0xfee00000);
	cfg_wr16(x->f, msi + 12, 0x31);
	cfg_wr16(x->f, msi + 2, 1);
	reg_wr(x->f, R(IRQ_RAISE), 0);
	reg_wr(x->f, R(IRQ_RAISE), 1); /* beyond the enabled vectors: dropped */
	assert_int_equal(x->mv.n_msi, 1);
	assert_int_equal(x->mv.msi[0].data, 0x31);
	/* MSI-X, vector 3 programmed through BAR2; a byte write raises it. */
	bar_wr(x->f, 2, 3 * 16, 0xfee03000, 4);
	bar_wr(x->f, 2, 3 * 16 + 8, 0x43, 4);
	bar_wr(x->f, 2, 3 * 16 + 12, 0, 4);
	cfg_wr16(x->f, msix + 2, 0x8000);
	bar_wr(x->f, 0, R(IRQ_RAISE), 3, 1);
	assert_int_equal(x->mv.n_msi, 2);
	assert_int_equal(x->mv.msi[1].addr, 0xfee03000);
	assert_int_equal(x->mv.msi[1].data, 0x43);
	/* Vector 1 is masked (reset state): pending. */
	reg_wr(x->f, R(IRQ_RAISE), 1);
	assert_int_equal(x->mv.n_msi, 2);
	assert_int_equal(bar_rd(x->f, 2, 0x2000, 1), 0x2);
	reg_wr(x->f, R(IRQ_RAISE), 4);
	assert_int_equal(x->mv.n_msi, 2);
	assert_int_equal(bar_rd(x->f, 2, 0x2000, 8), 0x2);
}

static void test_dma(void **state)
{
	struct fx *x = *state;
	uint8_t *ram = x->mv.ram;
	uint8_t zero[RAM_SIZE];

	memset(zero, 0, sizeof(zero));
	reg_wr(x->f, R(SCRATCH), 0x1234a5);
	reg_wr(x->f, R(DMA_ADDR_LO), 0x1000);
	reg_wr(x->f, R(DMA_LEN), 0x100);
	/* Bus mastering off: refused, memory untouched. */
	reg_wr(x->f, R(DMA_CMD), VDEV_TESTDEV_DMA_FILL);
	assert_int_equal(reg_rd(x->f, R(DMA_STATUS)), EPERM);
	assert_memory_equal(ram, zero, RAM_SIZE);
	cfg_wr16(x->f, VDEV_PCI_COMMAND, VDEV_PCI_COMMAND_MASTER);
	reg_wr(x->f, R(DMA_CMD), VDEV_TESTDEV_DMA_FILL);
	assert_int_equal(reg_rd(x->f, R(DMA_STATUS)), 0);
	for (unsigned int i = 0; i < 0x100; i++)
		assert_int_equal(ram[0x1000 + i], 0xa5);
	assert_int_equal(ram[0xfff], 0);
	assert_int_equal(ram[0x1100], 0);
	/* SUM over a known pattern (crossing the filled range). */
	for (unsigned int i = 0; i < 0x80; i++)
		ram[0x1100 + i] = (uint8_t)i;
	reg_wr(x->f, R(DMA_ADDR_LO), 0x10c0);
	reg_wr(x->f, R(DMA_LEN), 0xc0);
	reg_wr(x->f, R(DMA_CMD), VDEV_TESTDEV_DMA_SUM);
	assert_int_equal(reg_rd(x->f, R(DMA_STATUS)), 0);
	assert_int_equal(reg_rd(x->f, R(DMA_RESULT)), 0x40 * 0xa5 + 0x7f * 0x80 / 2);
	/* Partly outside RAM: all or nothing. */
	memcpy(zero, ram, RAM_SIZE);
	reg_wr(x->f, R(DMA_ADDR_LO), RAM_SIZE - 0x10);
	reg_wr(x->f, R(DMA_LEN), 0x20);
	reg_wr(x->f, R(DMA_CMD), VDEV_TESTDEV_DMA_FILL);
	assert_int_equal(reg_rd(x->f, R(DMA_STATUS)), EFAULT);
	assert_memory_equal(ram, zero, RAM_SIZE);
	reg_wr(x->f, R(DMA_CMD), VDEV_TESTDEV_DMA_SUM);
	assert_int_equal(reg_rd(x->f, R(DMA_STATUS)), EFAULT);
	assert_int_equal(reg_rd(x->f, R(DMA_RESULT)), 0x40 * 0xa5 + 0x7f * 0x80 / 2);
	/* The high address dword counts. */
	bar_wr(x->f, 0, R(DMA_ADDR_LO), 0x0000000100001000ull, 8);
	reg_wr(x->f, R(DMA_LEN), 0x10);
	reg_wr(x->f, R(DMA_CMD), VDEV_TESTDEV_DMA_FILL);
	assert_int_equal(reg_rd(x->f, R(DMA_STATUS)), EFAULT);
	/* Wrapping the address space. */
	bar_wr(x->f, 0, R(DMA_ADDR_LO), 0xfffffffffffffff0ull, 8);
	reg_wr(x->f, R(DMA_CMD), VDEV_TESTDEV_DMA_SUM);
	assert_true(reg_rd(x->f, R(DMA_STATUS)) != 0);
	/* Length limit: 1 MiB is accepted (and faults here), more is EINVAL. */
	reg_wr(x->f, R(DMA_ADDR_HI), 0);
	reg_wr(x->f, R(DMA_ADDR_LO), 0);
	reg_wr(x->f, R(DMA_LEN), (1u << 20) + 1);
	reg_wr(x->f, R(DMA_CMD), VDEV_TESTDEV_DMA_FILL);
	assert_int_equal(reg_rd(x->f, R(DMA_STATUS)), EINVAL);
	reg_wr(x->f, R(DMA_LEN), 1u << 20);
	reg_wr(x->f, R(DMA_CMD), VDEV_TESTDEV_DMA_FILL);
	assert_int_equal(reg_rd(x->f, R(DMA_STATUS)), EFAULT);
	assert_memory_equal(ram, zero, RAM_SIZE);
	/* Unknown command; empty transfers. */
	reg_wr(x->f, R(DMA_CMD), 3);
	assert_int_equal(reg_rd(x->f, R(DMA_STATUS)), EINVAL);
	reg_wr(x->f, R(DMA_LEN), 0);
	reg_wr(x->f, R(DMA_CMD), VDEV_TESTDEV_DMA_SUM);
	assert_int_equal(reg_rd(x->f, R(DMA_STATUS)), 0);
	assert_int_equal(reg_rd(x->f, R(DMA_RESULT)), 0);
	/* Bus master turned off again. */
	cfg_wr16(x->f, VDEV_PCI_COMMAND, 0);
	reg_wr(x->f, R(DMA_LEN), 4);
	reg_wr(x->f, R(DMA_CMD), VDEV_TESTDEV_DMA_SUM);
	assert_int_equal(reg_rd(x->f, R(DMA_STATUS)), EPERM);
}

static void test_timer(void **state)
{
	struct fx *x = *state;
	uint64_t deadline;

	assert_int_equal(vdev_timers_next_deadline(x->mv.ctx, &deadline), -ENOENT);
	reg_wr(x->f, R(TIMER), 1000);
	assert_int_equal(reg_rd(x->f, R(TIMER)), 1);
	assert_int_equal(vdev_timers_next_deadline(x->mv.ctx, &deadline), 0);
	assert_int_equal(deadline, x->mv.now_ns + 1000);
	assert_int_equal(mock_vmm_set_time(&x->mv, deadline - 1), 0);
	assert_int_equal(x->mv.n_intx, 0);
	assert_int_equal(mock_vmm_set_time(&x->mv, deadline), 1);
	assert_int_equal(mock_vmm_intx_level(&x->mv, 0, 1), 1);
	assert_int_equal(reg_rd(x->f, R(TIMER)), 0);
	/* Disarm with 0. */
	reg_wr(x->f, R(TIMER), 500);
	reg_wr(x->f, R(TIMER), 0);
	assert_int_equal(reg_rd(x->f, R(TIMER)), 0);
	assert_int_equal(vdev_timers_next_deadline(x->mv.ctx, &deadline), -ENOENT);
	assert_int_equal(mock_vmm_set_time(&x->mv, x->mv.now_ns + 10000), 0);
	/* Re-arming moves the deadline. */
	reg_wr(x->f, R(TIMER), 5000);
	reg_wr(x->f, R(TIMER), 100);
	assert_int_equal(vdev_timers_next_deadline(x->mv.ctx, &deadline), 0);
	assert_int_equal(deadline, x->mv.now_ns + 100);
}

/* Everything the guest can observe, for before/after comparisons. */
struct td_snap {
	uint8_t cfg[256];
	uint8_t regs[0x80];
	uint8_t table[4 * 16];
	uint8_t pba[8];
	uint64_t deadline;
};

static void td_snap_take(vdev_ctx *ctx, vdev_pci_func *f, struct td_snap *s)
{
	memset(s, 0, sizeof(*s));
	cfg_dump(f, s->cfg, sizeof(s->cfg));
	assert_int_equal(vdev_pci_bar_read(f, 0, 0, s->regs, sizeof(s->regs)), 0);
	assert_int_equal(vdev_pci_bar_read(f, 2, 0, s->table, sizeof(s->table)), 0);
	assert_int_equal(vdev_pci_bar_read(f, 2, 0x2000, s->pba, sizeof(s->pba)), 0);
	if (vdev_timers_next_deadline(ctx, &s->deadline))
		s->deadline = UINT64_MAX;
}

static void test_reset(void **state)
{
	struct fx *x = *state;
	struct td_snap fresh, now;
	uint8_t msix = cap_find(x->f, VDEV_PCI_CAP_ID_MSIX);

	td_snap_take(x->mv.ctx, x->f, &fresh);
	reg_wr(x->f, R(SCRATCH), 0xffffffff);
	reg_wr(x->f, R(DMA_ADDR_LO), 0x1000);
	reg_wr(x->f, R(DMA_LEN), 0x10);
	reg_wr(x->f, R(DMA_CMD), VDEV_TESTDEV_DMA_SUM); /* EPERM */
	bar_wr(x->f, 0, R(BUF), 0x0123456789abcdefull, 8);
	reg_wr(x->f, R(TIMER), 777);
	cfg_wr32(x->f, 0x10, 0xfebf0000);
	cfg_wr16(x->f, VDEV_PCI_COMMAND, 0x0006);
	cfg_wr16(x->f, msix + 2, 0xc000);
	bar_wr(x->f, 2, 12, 0, 4);
	reg_wr(x->f, R(IRQ_RAISE), 0);
	td_snap_take(x->mv.ctx, x->f, &now);
	assert_memory_not_equal(&fresh, &now, sizeof(fresh));

	vdev_device_reset(x->dev);
	td_snap_take(x->mv.ctx, x->f, &now);
	assert_memory_equal(&fresh, &now, sizeof(fresh));
	assert_int_equal(now.deadline, UINT64_MAX);
	/* The timer stays quiet. */
	assert_int_equal(mock_vmm_set_time(&x->mv, x->mv.now_ns + 1000000), 0);
}

/* Save a device into a malloc'd blob. */
static uint8_t *dev_save(vdev_device *dev, size_t *len)
{
	vdev_state_writer *w;

	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_device_save(dev, w), 0);
	return state_blob_take(w, len);
}

static int dev_load(vdev_device *dev, const uint8_t *blob, size_t len)
{
	vdev_state_reader *r;
	int rc = vdev_state_reader_new(blob, len, &r);

	if (rc)
		return rc;
	rc = vdev_device_load(dev, r);
	vdev_state_reader_free(r);
	return rc;
}

/* Busy source: placed, MSI-X under the function mask with vectors 1 and 3
 * pending, registers and buffer set, the timer armed. */
static void td_make_busy(struct fx *x)
{
	uint8_t msix = cap_find(x->f, VDEV_PCI_CAP_ID_MSIX);

	cfg_wr32(x->f, 0x10, 0xfebf0000);
	cfg_wr32(x->f, 0x14, 0xc000);
	cfg_wr32(x->f, 0x18, 0xfe000000);
	cfg_wr16(x->f, VDEV_PCI_COMMAND, 0x0007);
	for (unsigned int v = 0; v < 4; v++) {
		bar_wr(x->f, 2, v * 16, 0xfee00000 + 0x1000 * v, 4);
		bar_wr(x->f, 2, v * 16 + 8, 0x70 + v, 4);
		bar_wr(x->f, 2, v * 16 + 12, 0, 4);
	}
	cfg_wr16(x->f, msix + 2, 0xc000);
	reg_wr(x->f, R(IRQ_RAISE), 1);
	reg_wr(x->f, R(IRQ_RAISE), 3);
	reg_wr(x->f, R(SCRATCH), 0xcafef00d);
	reg_wr(x->f, R(DMA_ADDR_LO), 0x2000);
	reg_wr(x->f, R(DMA_LEN), 0x40);
	reg_wr(x->f, R(DMA_CMD), VDEV_TESTDEV_DMA_SUM);
	for (unsigned int i = 0; i < VDEV_TESTDEV_BUF_SIZE; i++)
		bar_wr(x->f, 0, R(BUF) + i, i * 3 + 1, 1);
	reg_wr(x->f, R(TIMER), 5000);
}

static void test_migrate(void **state)
{
	struct fx *x = *state;
	struct mock_vmm dst;
	vdev_device *ddev;
	vdev_pci_func *df;
	struct td_snap a, b;
	uint8_t *blob;
	size_t len;
	uint8_t msix;

	td_make_busy(x);
	td_snap_take(x->mv.ctx, x->f, &a);
	assert_int_equal(a.deadline, x->mv.now_ns + 5000);
	blob = dev_save(x->dev, &len);

	/* A second VM: its own context and clock at the same time. */
	assert_int_equal(mock_vmm_init(&dst, RAM_SIZE, 1), 0);
	dst.now_ns = x->mv.now_ns;
	df = testdev_new(&dst, 4, 1, 1, 0, &ddev);
	reg_wr(df, R(TIMER), 1); /* armed, must end up at the source's deadline */
	assert_int_equal(dev_load(ddev, blob, len), 0);
	td_snap_take(dst.ctx, df, &b);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(reg_rd(df, R(TIMER)), 1);

	/* The timer fires on the destination at the same deadline: vector 0 is
	 * masked by the function mask, so it joins 1 and 3 as pending. */
	assert_int_equal(mock_vmm_set_time(&dst, b.deadline - 1), 0);
	assert_int_equal(mock_vmm_set_time(&dst, b.deadline), 1);
	assert_int_equal(bar_rd(df, 2, 0x2000, 1), 0xb);
	msix = cap_find(df, VDEV_PCI_CAP_ID_MSIX);
	cfg_wr16(df, msix + 2, 0x8000);
	assert_int_equal(dst.n_msi, 3);
	assert_int_equal(dst.msi[0].addr, 0xfee00000);
	assert_int_equal(dst.msi[0].data, 0x70);
	assert_int_equal(dst.msi[1].data, 0x71);
	assert_int_equal(dst.msi[2].data, 0x73);
	assert_int_equal(x->mv.n_msi, 0);
	/* DMA still works on the destination (bus master was on). */
	memset(dst.ram + 0x2000, 1, 0x40);
	reg_wr(df, R(DMA_CMD), VDEV_TESTDEV_DMA_SUM);
	assert_int_equal(reg_rd(df, R(DMA_RESULT)), 0x40);

	/* A disarmed timer migrates as disarmed. */
	free(blob);
	mock_vmm_set_time(&x->mv, x->mv.now_ns + 5000);
	blob = dev_save(x->dev, &len);
	reg_wr(df, R(TIMER), 1);
	assert_int_equal(dev_load(ddev, blob, len), 0);
	assert_int_equal(reg_rd(df, R(TIMER)), 0);
	free(blob);
	vdev_device_destroy(ddev);
	mock_vmm_fini(&dst);
}

/* Find the payload of the first record with @tag in a blob. */
static uint8_t *find_record(uint8_t *blob, size_t len, uint32_t tag)
{
	for (size_t i = VDEV_STATE_HEADER_SIZE; i + 12 <= len; i++) {
		uint32_t t = (uint32_t)blob[i] | ((uint32_t)blob[i + 1] << 8) |
			     ((uint32_t)blob[i + 2] << 16) | ((uint32_t)blob[i + 3] << 24);

		if (t == tag)
			return blob + i + 12;
	}
	fail_msg("record not found");
	return NULL;
}

static void expect_load_fails(struct fx *x, vdev_device *dev, vdev_pci_func *f, uint8_t *blob,
			      size_t len)
{
	struct td_snap before, after;

	(void)x;
	td_snap_take(vdev_device_ctx(dev), f, &before);
	assert_true(dev_load(dev, blob, len) < 0);
	td_snap_take(vdev_device_ctx(dev), f, &after);
	assert_memory_equal(&before, &after, sizeof(before));
}

static void test_load_rejects(void **state)
{
	struct fx *x = *state;
	vdev_device *other;
	vdev_pci_func *of;
	uint8_t *blob, *p;
	size_t len;

	/* The victim: a busy device with its own state. */
	td_make_busy(x);
	reg_wr(x->f, R(SCRATCH), 0x11111111);
	/* The source: another testdev, differently busy. */
	of = testdev_new(&x->mv, 4, 1, 1, 0, &other);
	cfg_wr32(of, 0x10, 0xfe800000);
	cfg_wr16(of, VDEV_PCI_COMMAND, 0x0002);
	reg_wr(of, R(SCRATCH), 0x22222222);
	blob = dev_save(other, &len);

	/* Truncated anywhere. */
	for (size_t cut = 0; cut < len; cut++)
		expect_load_fails(x, x->dev, x->f, blob, cut);
	/* A register out of range: the (valid) PCI part must not be applied. */
	p = find_record(blob, len, VDEV_STATE_TAG('D', 'S', 'T', 'A'));
	p[0] = 0x00;
	p[1] = 0x10; /* 4096 */
	expect_load_fails(x, x->dev, x->f, blob, len);
	p[1] = 0;
	/* A missing register (renamed record: unknown and required). */
	p = find_record(blob, len, VDEV_STATE_TAG('S', 'C', 'R', 'A'));
	p[-12 + 3] = 'Z';
	expect_load_fails(x, x->dev, x->f, blob, len);
	p[-12 + 3] = 'A';
	/* A read-only config byte. */
	p = find_record(blob, len, VDEV_STATE_TAG('C', 'F', 'G', ' '));
	p[VDEV_PCI_DEVICE_ID] ^= 0x40;
	expect_load_fails(x, x->dev, x->f, blob, len);
	p[VDEV_PCI_DEVICE_ID] ^= 0x40;
	/* Unchanged blob: loads, and the registers come from it. */
	assert_int_equal(dev_load(x->dev, blob, len), 0);
	assert_int_equal(reg_rd(x->f, R(SCRATCH)), 0x22222222);
	assert_int_equal(cfg_rd32(x->f, 0x10), 0xfe800000);
	assert_int_equal(reg_rd(x->f, R(TIMER)), 0);
	free(blob);
	vdev_device_destroy(other);

	/* A device with another MSI-X vector count. */
	of = testdev_new(&x->mv, 8, 1, 1, 0, &other);
	blob = dev_save(other, &len);
	expect_load_fails(x, x->dev, x->f, blob, len);
	free(blob);
	vdev_device_destroy(other);
}

/* A context freed with a busy device: destroy deasserts INTx, frees the timer. */
static void test_ctx_free_busy(void **state)
{
	struct mock_vmm mv;
	vdev_device *dev;
	vdev_pci_func *f;

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, RAM_SIZE, 1), 0);
	f = testdev_new(&mv, 4, 1, 1, 9, &dev);
	reg_wr(f, R(IRQ_RAISE), 0);
	reg_wr(f, R(TIMER), 100);
	assert_int_equal(mock_vmm_intx_level(&mv, 9, 1), 1);
	mock_vmm_fini(&mv);
	assert_int_equal(mock_vmm_intx_level(&mv, 9, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_raise_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_rejects, setup, teardown),
		cmocka_unit_test(test_ctx_free_busy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
