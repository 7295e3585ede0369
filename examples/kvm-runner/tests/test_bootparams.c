/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of vdev-run's Linux boot-protocol code (bootparams.c): setup
 * header checks, e820 construction, zero page, initrd placement. No KVM.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../bzimage.h"

#define MiB (1ull << 20)

static uint8_t img[4096];

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* A 2.06 image: setup_sects 1 (1024 bytes of setup), 3072 bytes of kernel. */
static void make_image(uint16_t version)
{
	memset(img, 0, sizeof(img));
	img[BP_SETUP_SECTS] = 1;
	put16(img + BP_BOOT_FLAG, 0xaa55);
	img[BP_JUMP] = 0xeb;
	img[BP_JUMP + 1] = version >= 0x20a ? 0x266 - BP_HEADER : 0x23c - BP_HEADER;
	memcpy(img + BP_HEADER, "HdrS", 4);
	put16(img + BP_VERSION, version);
	img[BP_LOADFLAGS] = 1;
	put32(img + BP_INITRD_ADDR_MAX, 0x7fffffff);
	put32(img + BP_KERNEL_ALIGNMENT, 0x200000);
	put32(img + BP_CMDLINE_SIZE, 2047);
	if (version >= 0x20c)
		put16(img + BP_XLOADFLAGS, 1);
}

static void test_parse_valid(void **state)
{
	struct bz_info info;

	(void)state;
	make_image(0x206);
	assert_int_equal(bz_parse(img, sizeof(img), 128 * MiB, &info), 0);
	assert_int_equal(info.version, 0x206);
	assert_int_equal(info.setup_size, 1024);
	assert_int_equal(info.kernel_size, sizeof(img) - 1024);
	assert_int_equal(info.load_addr, 0x100000);
	assert_int_equal(info.cmdline_max, 2047);
	assert_int_equal(info.header_end, 0x23c);
	assert_int_equal(info.initrd_max, 0x7fffffff);
}

static void test_parse_setup_sects_zero_means_four(void **state)
{
	struct bz_info info;

	(void)state;
	make_image(0x206);
	img[BP_SETUP_SECTS] = 0;
	assert_int_equal(bz_parse(img, sizeof(img), 128 * MiB, &info), 0);
	assert_int_equal(info.setup_size, 5 * 512);
}

static void test_parse_rejects(void **state)
{
	struct bz_info info;

	(void)state;
	make_image(0x206);
	put16(img + BP_BOOT_FLAG, 0x1234);
	assert_int_equal(bz_parse(img, sizeof(img), 128 * MiB, &info), -ENOEXEC);

	make_image(0x206);
	memcpy(img + BP_HEADER, "HdrX", 4);
	assert_int_equal(bz_parse(img, sizeof(img), 128 * MiB, &info), -ENOEXEC);

	make_image(0x205);
	assert_int_equal(bz_parse(img, sizeof(img), 128 * MiB, &info), -EPROTONOSUPPORT);

	make_image(0x206);
	img[BP_LOADFLAGS] = 0; /* zImage */
	assert_int_equal(bz_parse(img, sizeof(img), 128 * MiB, &info), -ENOEXEC);

	make_image(0x20c);
	put16(img + BP_XLOADFLAGS, 0); /* no 64-bit entry */
	assert_int_equal(bz_parse(img, sizeof(img), 128 * MiB, &info), -ENOEXEC);

	/* Truncated: setup claims more sectors than the file has. */
	make_image(0x206);
	img[BP_SETUP_SECTS] = 63;
	assert_int_equal(bz_parse(img, sizeof(img), 128 * MiB, &info), -EINVAL);
	/* Too short to hold the 64-bit entry. */
	make_image(0x206);
	assert_int_equal(bz_parse(img, 1024 + 0x100, 128 * MiB, &info), -EINVAL);
	assert_int_equal(bz_parse(img, 100, 128 * MiB, &info), -EINVAL);

	/* Not a short jump over the header. */
	make_image(0x206);
	img[BP_JUMP] = 0x90;
	assert_int_equal(bz_parse(img, sizeof(img), 128 * MiB, &info), -EINVAL);

	/* Relocatable with a bogus alignment. */
	make_image(0x206);
	img[BP_RELOCATABLE] = 1;
	put32(img + BP_KERNEL_ALIGNMENT, 3);
	assert_int_equal(bz_parse(img, sizeof(img), 128 * MiB, &info), -EINVAL);

	/* init_size larger than guest RAM. */
	make_image(0x20a);
	put32(img + BP_INIT_SIZE, 0x7fffffff);
	assert_int_equal(bz_parse(img, sizeof(img), 128 * MiB, &info), -ENOSPC);
}

static void test_parse_relocatable_alignment(void **state)
{
	struct bz_info info;

	(void)state;
	make_image(0x20c);
	img[BP_RELOCATABLE] = 1;
	assert_int_equal(bz_parse(img, sizeof(img), 128 * MiB, &info), 0);
	assert_int_equal(info.load_addr, 0x200000);
}

static void test_e820_low_only(void **state)
{
	struct bz_e820 t[8];
	unsigned int n;

	(void)state;
	n = bz_e820_build(t, 8, 128 * MiB, 0);
	assert_int_equal(n, 5);
	assert_int_equal(t[0].addr, 0);
	assert_int_equal(t[0].size, 0x9fc00);
	assert_int_equal(t[0].type, E820_RAM);
	assert_int_equal(t[1].type, E820_RESERVED);
	assert_int_equal(t[2].addr, 0xf0000);
	assert_int_equal(t[3].addr, 0x100000);
	assert_int_equal(t[3].addr + t[3].size, 128 * MiB);
	assert_int_equal(t[3].type, E820_RAM);
	assert_int_equal(t[4].addr, 0xfffbc000);
	assert_int_equal(t[4].type, E820_RESERVED);
}

static void test_e820_above_4g_and_truncation(void **state)
{
	struct bz_e820 t[8];

	(void)state;
	assert_int_equal(bz_e820_build(t, 8, 0xe0000000ull, 2048 * MiB), 6);
	assert_int_equal(t[5].addr, 1ull << 32);
	assert_int_equal(t[5].size, 2048 * MiB);
	assert_int_equal(t[5].type, E820_RAM);
	/* Never more than the caller's room. */
	assert_int_equal(bz_e820_build(t, 2, 0xe0000000ull, 2048 * MiB), 2);
	assert_int_equal(bz_e820_build(t, 0, 0xe0000000ull, 2048 * MiB), 0);
}

static void test_zero_page(void **state)
{
	static uint8_t zp[4096];
	struct bz_params p = {
		.ram_below = 128 * MiB,
		.ram_above = 0,
		.cmdline_addr = 0x123456789ull,
		.initrd_addr = 0x7000000,
		.initrd_size = 0x10000,
	};
	struct bz_info info;
	unsigned int i;

	(void)state;
	make_image(0x20a);
	assert_int_equal(bz_parse(img, sizeof(img), p.ram_below, &info), 0);
	memset(zp, 0xcc, sizeof(zp));
	assert_int_equal(bz_zero_page(zp, img, sizeof(img), &info, &p), 0);
	/* The setup header is copied, then the loader's fields set. */
	assert_memory_equal(zp + BP_HEADER, "HdrS", 4);
	assert_int_equal(zp[BP_SETUP_SECTS], 1);
	assert_int_equal(zp[BP_TYPE_OF_LOADER], 0xff);
	assert_int_equal(get32(zp + BP_CMD_LINE_PTR), 0x23456789);
	assert_int_equal(get32(zp + BP_EXT_CMD_LINE_PTR), 0x1);
	assert_int_equal(get32(zp + BP_RAMDISK_IMAGE), 0x7000000);
	assert_int_equal(get32(zp + BP_RAMDISK_SIZE), 0x10000);
	/* Everything past the header and outside set fields is zero. */
	assert_int_equal(zp[0], 0);
	assert_int_equal(zp[0x1000 - 1], 0);
	/* e820 */
	assert_int_equal(zp[BP_E820_ENTRIES], 5);
	for (i = 0; i < 5; i++) {
		struct bz_e820 t[5];

		bz_e820_build(t, 5, p.ram_below, 0);
		assert_int_equal(get64(zp + BP_E820_TABLE + i * 20), t[i].addr);
		assert_int_equal(get64(zp + BP_E820_TABLE + i * 20 + 8), t[i].size);
		assert_int_equal(get32(zp + BP_E820_TABLE + i * 20 + 16), t[i].type);
	}
	assert_int_equal(get64(zp + BP_E820_TABLE + 5 * 20), 0);
}

static void test_initrd_placement(void **state)
{
	struct bz_info info;
	uint64_t a;

	(void)state;
	make_image(0x206);
	assert_int_equal(bz_parse(img, sizeof(img), 128 * MiB, &info), 0);
	a = bz_initrd_addr(&info, 128 * MiB, 0x12345);
	assert_true(a + 0x12345 <= 128 * MiB);
	assert_int_equal(a & 0xfff, 0);
	assert_true(a >= info.load_addr + info.init_size);
	/* initrd_addr_max caps the top. */
	put32(img + BP_INITRD_ADDR_MAX, 0x3ffffff);
	assert_int_equal(bz_parse(img, sizeof(img), 128 * MiB, &info), 0);
	a = bz_initrd_addr(&info, 128 * MiB, 0x1000);
	assert_int_equal(a, 0x4000000 - 0x1000);
	/* Too big: it would overlap the kernel. */
	assert_int_equal(bz_initrd_addr(&info, 128 * MiB, 0x4000000), 0);
	assert_int_equal(bz_initrd_addr(&info, 128 * MiB, UINT64_MAX), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_setup_sects_zero_means_four),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_parse_relocatable_alignment),
		cmocka_unit_test(test_e820_low_only),
		cmocka_unit_test(test_e820_above_4g_and_truncation),
		cmocka_unit_test(test_zero_page),
		cmocka_unit_test(test_initrd_placement),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
