/* SPDX-License-Identifier: MIT */
/*
 * PCI function model: configuration space. Header layout, reads of every
 * width at every alignment, read-only and RW1C bits, straddling writes,
 * out-of-range accesses, the capability list builder and reset.
 */
#include <errno.h>
#include <stdlib.h>

#include "test_pci_util.h"
#include "pci/pci_func.h"

struct fx {
	struct mock_vmm mv;
	vdev_pci_func *f;
	uint8_t msi, msix, vndr;
	unsigned int cw_calls;
	uint32_t cw_off, cw_len;
};

static const uint8_t vndr_body[6] = { 6, 0x11, 0x22, 0x33, 0x44, 0x55 };
static const uint8_t vndr_wmask[6] = { 0, 0xff, 0x0f, 0, 0xf0, 0 };

static void cw_cb(void *opaque, uint32_t off, uint32_t len)
{
	struct fx *x = opaque;

	x->cw_calls++;
	x->cw_off = off;
	x->cw_len = len;
}

/* A function with every kind of BAR and capability:
 * BAR0 4 KiB mem32, BAR1 32 B I/O, BAR2/3 16 KiB mem64 (MSI-X), vendor cap,
 * MSI (4 vectors, 64-bit, maskable), MSI-X (8 vectors). */
static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	struct vdev_pci_func_opts o = {
		.struct_size = sizeof(o),
		.vendor_id = 0x1234,
		.device_id = 0x5678,
		.subsys_vendor_id = 0xabcd,
		.subsys_id = 0xef01,
		.class_code = 0x010802,
		.revision = 0x42,
		.intx_pin = 2,
		.source_id = 9,
	};

	assert_non_null(x);
	assert_int_equal(mock_vmm_init(&x->mv, 1 << 16, 1), 0);
	o.config_written = cw_cb;
	o.opaque = x;
	assert_int_equal(vdev_pci_func_new(x->mv.ctx, &o, &x->f), 0);
	assert_int_equal(vdev_pci_bar_add(x->f, 0, 4096, 0, NULL, NULL), 0);
	assert_int_equal(vdev_pci_bar_add(x->f, 1, 32, VDEV_PCI_BAR_IO, NULL, NULL), 0);
	assert_int_equal(vdev_pci_bar_add(x->f, 2, 16384, VDEV_PCI_BAR_MEM64, NULL, NULL), 0);
	assert_int_equal(vdev_pci_cap_add(x->f, VDEV_PCI_CAP_ID_VNDR, vndr_body,
					  sizeof(vndr_body), vndr_wmask, &x->vndr), 0);
	assert_int_equal(vdev_pci_cap_msi_add(x->f, 4, VDEV_PCI_MSI_64BIT |
					      VDEV_PCI_MSI_MASKABLE, &x->msi), 0);
	assert_int_equal(vdev_pci_cap_msix_add(x->f, 8, 2, 0, 2, 0x2000, &x->msix), 0);
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

static void test_header_layout(void **state)
{
	struct fx *x = *state;
	vdev_pci_func *f = x->f;

	assert_int_equal(cfg_rd16(f, VDEV_PCI_VENDOR_ID), 0x1234);
	assert_int_equal(cfg_rd16(f, VDEV_PCI_DEVICE_ID), 0x5678);
	assert_int_equal(cfg_rd32(f, 0), 0x56781234);
	assert_int_equal(cfg_rd16(f, VDEV_PCI_COMMAND), 0);
	assert_int_equal(cfg_rd16(f, VDEV_PCI_STATUS), VDEV_PCI_STATUS_CAP_LIST);
	assert_int_equal(cfg_rd32(f, 0x08), 0x01080242);
	assert_int_equal(cfg_rd8(f, VDEV_PCI_HEADER_TYPE), 0);
	assert_int_equal(cfg_rd32(f, 0x0c), 0);
	assert_int_equal(cfg_rd32(f, VDEV_PCI_BAR0), 0x0);
	assert_int_equal(cfg_rd32(f, VDEV_PCI_BAR0 + 4), 0x1);
	assert_int_equal(cfg_rd32(f, VDEV_PCI_BAR0 + 8), 0x4);
	assert_int_equal(cfg_rd32(f, VDEV_PCI_BAR0 + 12), 0);
	assert_int_equal(cfg_rd32(f, VDEV_PCI_BAR0 + 16), 0);
	assert_int_equal(cfg_rd32(f, VDEV_PCI_BAR0 + 20), 0);
	assert_int_equal(cfg_rd32(f, 0x2c), 0xef01abcd);
	assert_int_equal(cfg_rd32(f, VDEV_PCI_ROM_ADDRESS), 0);
	assert_int_equal(cfg_rd8(f, VDEV_PCI_CAPABILITY_LIST), 0x40);
	assert_int_equal(cfg_rd8(f, VDEV_PCI_INTERRUPT_LINE), 0xff);
	assert_int_equal(cfg_rd8(f, VDEV_PCI_INTERRUPT_PIN), 2);
	assert_int_equal(cfg_rd16(f, 0x3e), 0);
}

static void test_new_invalid(void **state)
{
	struct fx *x = *state;
	struct vdev_pci_func_opts o = { .struct_size = sizeof(o) };
	vdev_pci_func *f = NULL;

	o.intx_pin = 5;
	assert_int_equal(vdev_pci_func_new(x->mv.ctx, &o, &f), -EINVAL);
	o.intx_pin = 0;
	o.class_code = 0x1000000;
	assert_int_equal(vdev_pci_func_new(x->mv.ctx, &o, &f), -EINVAL);
	o.class_code = 0;
	o.flags = 2;
	assert_int_equal(vdev_pci_func_new(x->mv.ctx, &o, &f), -EINVAL);
	o.flags = 0;
	o.struct_size = 0;
	assert_int_equal(vdev_pci_func_new(x->mv.ctx, &o, &f), -EINVAL);
	assert_int_equal(vdev_pci_func_new(x->mv.ctx, NULL, &f), -EINVAL);
	assert_null(f);
	/* A caller with an older, shorter struct: later fields read as zero. */
	o.struct_size = offsetof(struct vdev_pci_func_opts, device_id);
	o.vendor_id = 0x1af4;
	o.device_id = 0x7777;
	assert_int_equal(vdev_pci_func_new(x->mv.ctx, &o, &f), 0);
	assert_int_equal(cfg_rd32(f, 0), 0x00001af4);
	vdev_pci_func_free(f);
}

/* Every width at every alignment reads exactly the bytes at that offset. */
static void test_read_all_widths(void **state)
{
	struct fx *x = *state;
	uint8_t dump[256], buf[16];

	/* Make the image non-trivial: program BARs, command, MSI address. */
	cfg_wr32(x->f, VDEV_PCI_BAR0, 0xfebf1000);
	cfg_wr32(x->f, VDEV_PCI_BAR0 + 4, 0xc040);
	cfg_wr32(x->f, x->msi + 4, 0xfee01004);
	cfg_wr16(x->f, VDEV_PCI_COMMAND, 0x0407);
	cfg_dump(x->f, dump, sizeof(dump));
	assert_int_equal(dump[0x10], 0x00);
	assert_int_equal(dump[0x11], 0x10);
	assert_int_equal(dump[0x12], 0xbf);
	assert_int_equal(dump[0x13], 0xfe);
	assert_int_equal(dump[0x14], 0x41);

	for (uint32_t off = 0; off < 256; off++) {
		for (size_t len = 1; len <= sizeof(buf); len++) {
			int rc;

			memset(buf, 0x5a, sizeof(buf));
			rc = vdev_pci_config_read(x->f, off, buf, len);
			if (off + len > 256) {
				assert_int_equal(rc, -ERANGE);
				for (size_t i = 0; i < len; i++)
					assert_int_equal(buf[i], 0xff);
			} else {
				assert_int_equal(rc, 0);
				assert_memory_equal(buf, dump + off, len);
			}
			/* Nothing beyond len is touched. */
			if (len < sizeof(buf))
				assert_int_equal(buf[len], 0x5a);
		}
	}
	/* Straddling multi-byte fields come out little-endian. */
	assert_int_equal(cfg_rd16(x->f, 1), 0x7812);
	assert_int_equal(cfg_rd32(x->f, 2), 0x04075678);
	assert_int_equal(cfg_rd32(x->f, 0x11), 0x41febf10);
	assert_int_equal(cfg_rd16(x->f, 0x13), 0x41fe);
}

static void test_out_of_range(void **state)
{
	struct fx *x = *state;
	uint8_t buf[512];

	memset(buf, 0, sizeof(buf));
	assert_int_equal(vdev_pci_config_read(x->f, 255, buf, 2), -ERANGE);
	assert_int_equal(buf[0], 0xff);
	assert_int_equal(buf[1], 0xff);
	assert_int_equal(vdev_pci_config_read(x->f, 256, buf, 1), -ERANGE);
	assert_int_equal(vdev_pci_config_read(x->f, 0xffffffffu, buf, 2), -ERANGE);
	assert_int_equal(vdev_pci_config_read(x->f, 0xfffffffeu, buf, 4), -ERANGE);
	assert_int_equal(vdev_pci_config_read(x->f, 0, buf, 257), -ERANGE);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(vdev_pci_config_read(x->f, 0, buf, 257), -ERANGE);
	for (size_t i = 0; i < 257; i++)
		assert_int_equal(buf[i], 0xff);
	assert_int_equal(buf[257], 0);
	assert_int_equal(vdev_pci_config_read(x->f, 255, buf, 1), 0);
	assert_int_equal(vdev_pci_config_read(x->f, 256, buf, 0), 0);

	/* Writes out of range do nothing at all, not even the in-range part. */
	memset(buf, 0x12, sizeof(buf));
	assert_int_equal(vdev_pci_config_write(x->f, 0x3c, buf, 0xc5), -ERANGE);
	assert_int_equal(vdev_pci_config_write(x->f, 0x3c, buf, SIZE_MAX), -ERANGE);
	assert_int_equal(vdev_pci_config_write(x->f, 0xffffffffu, buf, 0x41), -ERANGE);
	assert_int_equal(cfg_rd8(x->f, VDEV_PCI_INTERRUPT_LINE), 0xff);
	assert_int_equal(x->cw_calls, 0);
	assert_int_equal(vdev_pci_config_write(x->f, 0x3c, buf, 1), 0);
	assert_int_equal(cfg_rd8(x->f, VDEV_PCI_INTERRUPT_LINE), 0x12);
	assert_int_equal(x->cw_calls, 1);
	assert_int_equal(x->cw_off, 0x3c);
	assert_int_equal(x->cw_len, 1);
}

static void write_all_ones(vdev_pci_func *f, unsigned int width)
{
	uint8_t ones[4] = { 0xff, 0xff, 0xff, 0xff };

	for (uint32_t off = 0; off + width <= 256; off++)
		assert_int_equal(vdev_pci_config_write(f, off, ones, width), 0);
}

/* After writing all-ones everywhere, only writable bits are set. */
static void check_after_all_ones(struct fx *x)
{
	vdev_pci_func *f = x->f;

	assert_int_equal(cfg_rd32(f, 0x00), 0x56781234);
	assert_int_equal(cfg_rd16(f, VDEV_PCI_COMMAND), 0x0547);
	assert_int_equal(cfg_rd16(f, VDEV_PCI_STATUS), VDEV_PCI_STATUS_CAP_LIST);
	assert_int_equal(cfg_rd32(f, 0x08), 0x01080242);
	assert_int_equal(cfg_rd32(f, 0x0c), 0x0000ffff);
	assert_int_equal(cfg_rd32(f, 0x10), 0xfffff000);
	assert_int_equal(cfg_rd32(f, 0x14), 0xffffffe1);
	assert_int_equal(cfg_rd32(f, 0x18), 0xffffc004);
	assert_int_equal(cfg_rd32(f, 0x1c), 0xffffffff);
	assert_int_equal(cfg_rd32(f, 0x20), 0);
	assert_int_equal(cfg_rd32(f, 0x24), 0);
	assert_int_equal(cfg_rd32(f, 0x28), 0);
	assert_int_equal(cfg_rd32(f, 0x2c), 0xef01abcd);
	assert_int_equal(cfg_rd32(f, VDEV_PCI_ROM_ADDRESS), 0);
	assert_int_equal(cfg_rd32(f, 0x34), 0x40);
	assert_int_equal(cfg_rd32(f, 0x38), 0);
	assert_int_equal(cfg_rd32(f, 0x3c), 0x000002ff);

	/* Vendor cap: header read-only, body per its write mask. */
	assert_int_equal(cfg_rd8(f, x->vndr), VDEV_PCI_CAP_ID_VNDR);
	assert_int_equal(cfg_rd8(f, x->vndr + 1), x->msi);
	for (unsigned int i = 0; i < sizeof(vndr_body); i++)
		assert_int_equal(cfg_rd8(f, x->vndr + 2 + i), vndr_body[i] | vndr_wmask[i]);

	/* MSI: enable, MME clamped to MMC (2 = 4 vectors), 64-bit, maskable. */
	assert_int_equal(cfg_rd8(f, x->msi), VDEV_PCI_CAP_ID_MSI);
	assert_int_equal(cfg_rd8(f, x->msi + 1), x->msix);
	assert_int_equal(cfg_rd16(f, x->msi + 2), 0x0100 | 0x0080 | (2 << 4) | (2 << 1) | 1);
	assert_int_equal(cfg_rd32(f, x->msi + 4), 0xfffffffc);
	assert_int_equal(cfg_rd32(f, x->msi + 8), 0xffffffff);
	assert_int_equal(cfg_rd32(f, x->msi + 12), 0x0000ffff);
	assert_int_equal(cfg_rd32(f, x->msi + 16), 0xf);
	assert_int_equal(cfg_rd32(f, x->msi + 20), 0);

	/* MSI-X: enable + function mask; table/PBA location read-only. */
	assert_int_equal(cfg_rd8(f, x->msix), VDEV_PCI_CAP_ID_MSIX);
	assert_int_equal(cfg_rd8(f, x->msix + 1), 0);
	assert_int_equal(cfg_rd16(f, x->msix + 2), 0xc007);
	assert_int_equal(cfg_rd32(f, x->msix + 4), 0x00000002);
	assert_int_equal(cfg_rd32(f, x->msix + 8), 0x00002002);
	for (uint32_t i = x->msix + 12; i < 256; i++)
		assert_int_equal(cfg_rd8(f, i), 0);
}

static void test_read_only_bits(void **state)
{
	struct fx *x = *state;

	for (unsigned int width = 1; width <= 4; width++) {
		vdev_pci_func_reset(x->f);
		write_all_ones(x->f, width);
		check_after_all_ones(x);
	}
	/* One 256-byte write does the same. */
	{
		uint8_t all[256];

		vdev_pci_func_reset(x->f);
		memset(all, 0xff, sizeof(all));
		assert_int_equal(vdev_pci_config_write(x->f, 0, all, sizeof(all)), 0);
		check_after_all_ones(x);
	}
	/* And writing zeroes clears every writable bit but keeps read-only ones. */
	{
		uint8_t zero[256] = { 0 };

		assert_int_equal(vdev_pci_config_write(x->f, 0, zero, sizeof(zero)), 0);
		assert_int_equal(cfg_rd32(x->f, 0x00), 0x56781234);
		assert_int_equal(cfg_rd16(x->f, VDEV_PCI_COMMAND), 0);
		assert_int_equal(cfg_rd32(x->f, 0x10), 0);
		assert_int_equal(cfg_rd32(x->f, 0x14), 1);
		assert_int_equal(cfg_rd32(x->f, 0x18), 4);
		assert_int_equal(cfg_rd8(x->f, VDEV_PCI_INTERRUPT_PIN), 2);
		assert_int_equal(cfg_rd16(x->f, x->msi + 2), 0x0184);
		assert_int_equal(cfg_rd16(x->f, x->msix + 2), 0x0007);
	}
}

static void test_rw1c_status(void **state)
{
	struct fx *x = *state;

	/* The device (here: the test) latches error bits. */
	x->f->cfg[VDEV_PCI_STATUS + 1] |= 0xf9;
	assert_int_equal(cfg_rd16(x->f, VDEV_PCI_STATUS), 0xf910);
	/* Writing 0 changes nothing; writing 1 to RO bits changes nothing. */
	cfg_wr16(x->f, VDEV_PCI_STATUS, 0x0000);
	assert_int_equal(cfg_rd16(x->f, VDEV_PCI_STATUS), 0xf910);
	cfg_wr16(x->f, VDEV_PCI_STATUS, 0x07ff);
	assert_int_equal(cfg_rd16(x->f, VDEV_PCI_STATUS), 0xf810);
	/* Clear single bits. */
	cfg_wr8(x->f, VDEV_PCI_STATUS + 1, 0x20);
	assert_int_equal(cfg_rd16(x->f, VDEV_PCI_STATUS), 0xd810);
	/* A dword write to command+status clears what it names in status. */
	cfg_wr32(x->f, VDEV_PCI_COMMAND, 0x80000002);
	assert_int_equal(cfg_rd16(x->f, VDEV_PCI_STATUS), 0x5810);
	assert_int_equal(cfg_rd16(x->f, VDEV_PCI_COMMAND), 0x0002);
	cfg_wr16(x->f, VDEV_PCI_STATUS, 0xffff);
	assert_int_equal(cfg_rd16(x->f, VDEV_PCI_STATUS), VDEV_PCI_STATUS_CAP_LIST);
	/* Interrupt Status is not RW1C: it follows the device level. */
	assert_int_equal(vdev_pci_intx_set(x->f, 1), 0);
	cfg_wr16(x->f, VDEV_PCI_STATUS, 0xffff);
	assert_int_equal(cfg_rd16(x->f, VDEV_PCI_STATUS),
			 VDEV_PCI_STATUS_CAP_LIST | VDEV_PCI_STATUS_INTERRUPT);
	assert_int_equal(vdev_pci_intx_set(x->f, 0), 0);
	assert_int_equal(cfg_rd16(x->f, VDEV_PCI_STATUS), VDEV_PCI_STATUS_CAP_LIST);
}

static void test_straddling_writes(void **state)
{
	struct fx *x = *state;
	vdev_pci_func *f = x->f;

	/* 0x3b reserved, 0x3c line (RW), 0x3d pin (RO), 0x3e min_gnt (RO). */
	cfg_wr(f, 0x3b, 0x11223344, 4);
	assert_int_equal(cfg_rd32(f, 0x38), 0);
	assert_int_equal(cfg_rd32(f, 0x3c), 0x00000233);
	/* Device ID high byte (RO) + command low byte. */
	cfg_wr(f, 0x03, 0xffff, 2);
	assert_int_equal(cfg_rd16(f, VDEV_PCI_DEVICE_ID), 0x5678);
	assert_int_equal(cfg_rd16(f, VDEV_PCI_COMMAND), 0x0047);
	/* Command high byte + status + revision. */
	cfg_wr(f, 0x05, 0xffffffff, 4);
	assert_int_equal(cfg_rd16(f, VDEV_PCI_COMMAND), 0x0547);
	assert_int_equal(cfg_rd16(f, VDEV_PCI_STATUS), VDEV_PCI_STATUS_CAP_LIST);
	assert_int_equal(cfg_rd8(f, VDEV_PCI_REVISION_ID), 0x42);
	/* Class high byte + cache line + latency timer. */
	cfg_wr(f, 0x0b, 0x332211, 3);
	assert_int_equal(cfg_rd32(f, 0x08), 0x01080242);
	assert_int_equal(cfg_rd16(f, 0x0c), 0x3322);
	/* Header type, BIST, BAR0 low half: only address bits above 4 KiB. */
	cfg_wr(f, 0x0e, 0xabcdffff, 4);
	assert_int_equal(cfg_rd16(f, 0x0e), 0);
	assert_int_equal(cfg_rd32(f, 0x10), 0x0000a000);
	/* Across the BAR0/BAR1 boundary. */
	cfg_wr(f, 0x12, 0x5678fedc, 4);
	assert_int_equal(cfg_rd32(f, 0x10), 0xfedca000);
	assert_int_equal(cfg_rd32(f, 0x14), 0x00005661);
	/* Two-byte write at an odd offset inside the MSI address. */
	cfg_wr(f, x->msi + 5, 0xbeef, 2);
	assert_int_equal(cfg_rd32(f, x->msi + 4), 0x00beef00);
	cfg_wr(f, x->msi + 3, 0xffff, 2);
	assert_int_equal(cfg_rd32(f, x->msi + 4), 0x00beeffc);
	assert_int_equal(cfg_rd16(f, x->msi + 2), 0x0184);
}

static void test_rom_not_implemented(void **state)
{
	struct fx *x = *state;

	/* Linux sizes the ROM with ~PCI_ROM_ADDRESS_ENABLE, SeaBIOS with ~0x7ff. */
	cfg_wr32(x->f, VDEV_PCI_ROM_ADDRESS, 0xfffffffe);
	assert_int_equal(cfg_rd32(x->f, VDEV_PCI_ROM_ADDRESS), 0);
	cfg_wr32(x->f, VDEV_PCI_ROM_ADDRESS, 0xfffff800);
	assert_int_equal(cfg_rd32(x->f, VDEV_PCI_ROM_ADDRESS), 0);
	cfg_wr32(x->f, VDEV_PCI_ROM_ADDRESS, 0xffffffff);
	assert_int_equal(cfg_rd32(x->f, VDEV_PCI_ROM_ADDRESS), 0);
}

static void test_cap_list(void **state)
{
	struct fx *x = *state;
	struct vdev_pci_func_opts o = { .struct_size = sizeof(o), .vendor_id = 1 };
	uint8_t body[200] = { 0 }, off = 0, prev;
	vdev_pci_func *f;

	/* The fixture's chain: 0x34 -> vendor -> MSI -> MSI-X -> 0. */
	assert_int_equal(x->vndr, 0x40);
	assert_int_equal(x->msi, 0x48);
	assert_int_equal(x->msix, 0x60);
	assert_int_equal(cap_find(x->f, VDEV_PCI_CAP_ID_VNDR), 0x40);
	assert_int_equal(cap_find(x->f, VDEV_PCI_CAP_ID_MSI), 0x48);
	assert_int_equal(cap_find(x->f, VDEV_PCI_CAP_ID_MSIX), 0x60);
	assert_int_equal(cap_find(x->f, VDEV_PCI_CAP_ID_EXP), 0);

	assert_int_equal(vdev_pci_func_new(x->mv.ctx, &o, &f), 0);
	/* No capability: status bit clear, pointer 0. */
	assert_int_equal(cfg_rd16(f, VDEV_PCI_STATUS), 0);
	assert_int_equal(cfg_rd8(f, VDEV_PCI_CAPABILITY_LIST), 0);
	/* Odd lengths: each capability starts dword-aligned. */
	assert_int_equal(vdev_pci_cap_add(f, 0x09, body, 1, NULL, &off), 0);
	assert_int_equal(off, 0x40);
	assert_int_equal(cfg_rd16(f, VDEV_PCI_STATUS), VDEV_PCI_STATUS_CAP_LIST);
	assert_int_equal(vdev_pci_cap_add(f, 0x09, body, 3, NULL, &off), 0);
	assert_int_equal(off, 0x44);
	assert_int_equal(vdev_pci_cap_add(f, 0x09, NULL, 0, NULL, &off), 0);
	assert_int_equal(off, 0x4c);
	assert_int_equal(cfg_rd8(f, 0x41), 0x44);
	assert_int_equal(cfg_rd8(f, 0x45), 0x4c);
	assert_int_equal(cfg_rd8(f, 0x4d), 0);
	/* The generic helper does not build MSI/MSI-X (they need emulation). */
	assert_int_equal(vdev_pci_cap_add(f, VDEV_PCI_CAP_ID_MSI, body, 8, NULL, NULL), -EINVAL);
	assert_int_equal(vdev_pci_cap_add(f, VDEV_PCI_CAP_ID_MSIX, body, 10, NULL, NULL),
			 -EINVAL);
	assert_int_equal(vdev_pci_cap_add(f, 0x09, NULL, 4, NULL, NULL), -EINVAL);
	/* Fill up: 0x50..0xff is 176 bytes. */
	assert_int_equal(vdev_pci_cap_add(f, 0x09, body, 175, NULL, NULL), -ENOSPC);
	assert_int_equal(vdev_pci_cap_add(f, 0x09, body, 174, NULL, &off), 0);
	assert_int_equal(off, 0x50);
	assert_int_equal(vdev_pci_cap_add(f, 0x09, NULL, 0, NULL, NULL), -ENOSPC);
	assert_int_equal(vdev_pci_cap_msi_add(f, 1, 0, NULL), -ENOSPC);
	/* Walk: every pointer dword aligned, ends at 0. */
	prev = cfg_rd8(f, VDEV_PCI_CAPABILITY_LIST);
	for (int n = 0; prev; n++) {
		assert_true(n < 4);
		assert_int_equal(prev & 3, 0);
		assert_true(prev >= 0x40);
		prev = cfg_rd8(f, prev + 1);
	}
	vdev_pci_func_free(f);

	/* Duplicates and bad arguments. */
	assert_int_equal(vdev_pci_cap_msi_add(x->f, 1, 0, NULL), -EEXIST);
	assert_int_equal(vdev_pci_cap_msix_add(x->f, 1, 2, 0x100, 2, 0x3000, NULL), -EEXIST);
	assert_int_equal(vdev_pci_cap_pcie_add(x->f, VDEV_PCIE_TYPE_ENDPOINT, NULL), -EINVAL);
}

static void test_cap_msi_msix_args(void **state)
{
	struct fx *x = *state;
	struct vdev_pci_func_opts o = { .struct_size = sizeof(o) };
	vdev_pci_func *f;
	uint8_t off;

	assert_int_equal(vdev_pci_func_new(x->mv.ctx, &o, &f), 0);
	assert_int_equal(vdev_pci_cap_msi_add(f, 3, 0, NULL), -EINVAL);
	assert_int_equal(vdev_pci_cap_msi_add(f, 0, 0, NULL), -EINVAL);
	assert_int_equal(vdev_pci_cap_msi_add(f, 64, 0, NULL), -EINVAL);
	assert_int_equal(vdev_pci_cap_msi_add(f, 1, 4, NULL), -EINVAL);
	/* MSI-X needs memory BARs that hold the structures. */
	assert_int_equal(vdev_pci_cap_msix_add(f, 4, 0, 0, 0, 0x800, NULL), -EINVAL);
	assert_int_equal(vdev_pci_bar_add(f, 0, 4096, 0, NULL, NULL), 0);
	assert_int_equal(vdev_pci_bar_add(f, 1, 256, VDEV_PCI_BAR_IO, NULL, NULL), 0);
	assert_int_equal(vdev_pci_cap_msix_add(f, 0, 0, 0, 0, 0x800, NULL), -EINVAL);
	assert_int_equal(vdev_pci_cap_msix_add(f, 2049, 0, 0, 0, 0x800, NULL), -EINVAL);
	assert_int_equal(vdev_pci_cap_msix_add(f, 4, 1, 0, 0, 0x800, NULL), -EINVAL);
	assert_int_equal(vdev_pci_cap_msix_add(f, 4, 0, 4, 0, 0x800, NULL), -EINVAL);
	assert_int_equal(vdev_pci_cap_msix_add(f, 4, 0, 0, 0, 0x804, NULL), -EINVAL);
	assert_int_equal(vdev_pci_cap_msix_add(f, 4, 0, 0, 0, 0x38, NULL), -EINVAL);
	assert_int_equal(vdev_pci_cap_msix_add(f, 4, 0, 0xff8, 0, 0, NULL), -EINVAL);
	assert_int_equal(vdev_pci_cap_msix_add(f, 4, 0, 0, 0, 0x1000, NULL), -EINVAL);
	assert_int_equal(vdev_pci_cap_msix_add(f, 4, 3, 0, 0, 0x800, NULL), -EINVAL);
	assert_int_equal(vdev_pci_cap_msix_add(f, 256, 0, 0, 0, 0xff8, NULL), -EINVAL);
	assert_int_equal(vdev_pci_cap_msix_add(f, 4, 0, 0xfb8, 0, 0x40, &off), 0);
	assert_int_equal(cfg_rd16(f, off + 2), 3);
	assert_int_equal(cfg_rd32(f, off + 4), 0xfb8);
	assert_int_equal(cfg_rd32(f, off + 8), 0x40);
	/* MSI sizes: 32-bit, no masking = 10 bytes, so the next cap is at +12. */
	assert_int_equal(vdev_pci_cap_msi_add(f, 2, 0, &off), 0);
	assert_int_equal(cfg_rd16(f, off + 2), 1 << 1);
	assert_int_equal(vdev_pci_cap_add(f, 0x09, NULL, 0, NULL, &off), 0);
	assert_int_equal(off, 0x40 + 12 + 12);
	vdev_pci_func_free(f);
}

static void test_pcie_cap(void **state)
{
	struct fx *x = *state;
	struct vdev_pci_func_opts o = {
		.struct_size = sizeof(o), .vendor_id = 0x1b36, .flags = VDEV_PCI_F_EXPRESS,
	};
	vdev_pci_func *f;
	uint8_t off, buf[4];

	assert_int_equal(vdev_pci_func_new(x->mv.ctx, &o, &f), 0);
	assert_int_equal(vdev_pci_cap_pcie_add(f, 5, &off), -EINVAL);
	assert_int_equal(vdev_pci_cap_pcie_add(f, VDEV_PCIE_TYPE_ENDPOINT, &off), 0);
	assert_int_equal(vdev_pci_cap_pcie_add(f, VDEV_PCIE_TYPE_ENDPOINT, NULL), -EEXIST);
	assert_int_equal(cap_find(f, VDEV_PCI_CAP_ID_EXP), off);
	assert_int_equal(cfg_rd16(f, off + 2), 0x0002);
	assert_int_equal(cfg_rd32(f, off + 4) & 0x8000, 0x8000);
	/* Device Control is RW (bit 15, FLR, is not implemented). */
	assert_int_equal(cfg_rd16(f, off + 8), 0x2810);
	cfg_wr16(f, off + 8, 0xffff);
	assert_int_equal(cfg_rd16(f, off + 8), 0x79ff);
	cfg_wr16(f, off + 8, 0x0000);
	assert_int_equal(cfg_rd16(f, off + 8), 0x0000);
	/* Device Status error bits are RW1C. */
	f->cfg[off + 0x0a] = 0x0f;
	cfg_wr16(f, off + 0x0a, 0x0005);
	assert_int_equal(cfg_rd16(f, off + 0x0a), 0x000a);
	/* A link: one 2.5 GT/s lane. */
	assert_int_equal(cfg_rd32(f, off + 0x0c) & 0x3ff, 0x11);
	assert_int_equal(cfg_rd16(f, off + 0x12), 0x0011);
	/* 4 KiB config space: extended space reads 0 (no extended caps). */
	assert_int_equal(vdev_pci_config_read(f, 0x100, buf, 4), 0);
	assert_int_equal(buf[0] | buf[1] | buf[2] | buf[3], 0);
	assert_int_equal(vdev_pci_config_read(f, 0xffc, buf, 4), 0);
	assert_int_equal(vdev_pci_config_read(f, 0xffd, buf, 4), -ERANGE);
	cfg_wr32(f, 0x100, 0xffffffff);
	assert_int_equal(cfg_rd32(f, 0x100), 0);
	vdev_pci_func_free(f);

	/* RC integrated endpoint: type 9, no link registers. */
	assert_int_equal(vdev_pci_func_new(x->mv.ctx, &o, &f), 0);
	assert_int_equal(vdev_pci_cap_pcie_add(f, VDEV_PCIE_TYPE_RC_INTEGRATED, &off), 0);
	assert_int_equal(cfg_rd16(f, off + 2), 0x0092);
	assert_int_equal(cfg_rd32(f, off + 0x0c), 0);
	vdev_pci_func_free(f);
}

/* Reset returns every byte of config space to the power-on image. */
static void test_reset_byte_exact(void **state)
{
	struct fx *x = *state;
	uint8_t before[256], after[256], all[256];
	struct lrec l = { 0 };

	cfg_dump(x->f, before, sizeof(before));
	vdev_pci_set_bar_listener(x->f, lrec_cb, &l);
	/* Make a mess: program BARs, enable decode, MSI, MSI-X, INTx, mask bits. */
	cfg_wr32(x->f, 0x10, 0xfe000000);
	cfg_wr32(x->f, 0x14, 0xc000);
	cfg_wr32(x->f, 0x18, 0xfd000000);
	cfg_wr32(x->f, 0x1c, 0x1);
	cfg_wr16(x->f, VDEV_PCI_COMMAND, 0x0407);
	assert_int_equal(l.n, 3);
	memset(all, 0xff, sizeof(all));
	assert_int_equal(vdev_pci_config_write(x->f, 0x3c, all, 1), 0);
	assert_int_equal(vdev_pci_config_write(x->f, x->vndr + 2, all, 6), 0);
	assert_int_equal(vdev_pci_config_write(x->f, x->msi + 2, all, 20), 0);
	assert_int_equal(vdev_pci_config_write(x->f, x->msix + 2, all, 2), 0);
	bar_wr(x->f, 2, 0, 0xfee00000, 4);
	bar_wr(x->f, 2, 12, 0, 4);
	assert_int_equal(vdev_pci_notify(x->f, 3), 0); /* masked: pending */
	assert_int_equal(vdev_pci_vector_pending(x->f, 3), 1);
	assert_int_equal(vdev_pci_intx_set(x->f, 1), 0);
	x->f->cfg[VDEV_PCI_STATUS + 1] |= 0x80;
	cfg_dump(x->f, after, sizeof(after));
	assert_memory_not_equal(before, after, sizeof(before));

	l.n = 0;
	vdev_pci_func_reset(x->f);
	cfg_dump(x->f, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
	/* Listener ran for the three BARs that were decoding, which now stop. */
	assert_int_equal(l.n, 3);
	for (unsigned int i = 0; i < l.n; i++)
		assert_int_equal(l.decoding[i], 0);
	/* MSI-X: every entry zero but its Mask bit; PBA clear. */
	for (unsigned int v = 0; v < 8; v++) {
		assert_int_equal(bar_rd(x->f, 2, v * 16, 8), 0);
		assert_int_equal(bar_rd(x->f, 2, v * 16 + 8, 4), 0);
		assert_int_equal(bar_rd(x->f, 2, v * 16 + 12, 4), 1);
	}
	assert_int_equal(bar_rd(x->f, 2, 0x2000, 8), 0);
	assert_int_equal(vdev_pci_vector_pending(x->f, 3), 0);
	assert_int_equal(mock_vmm_intx_level(&x->mv, 9, 2), 0);
	assert_int_equal(vdev_pci_irq_mode(x->f), VDEV_PCI_IRQ_INTX);
	/* A second reset calls nothing. */
	l.n = 0;
	vdev_pci_func_reset(x->f);
	assert_int_equal(l.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_header_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_all_widths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_bits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rw1c_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_straddling_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rom_not_implemented, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_msi_msix_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pcie_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_byte_exact, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
