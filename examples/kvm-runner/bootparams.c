/* SPDX-License-Identifier: MIT */
/*
 * Setup-header parsing and zero-page construction for the Linux x86 boot
 * protocol (Documentation/arch/x86/boot.rst, "The Linux/x86 Boot Protocol"
 * and "64-bit Boot Protocol"). Every length and offset read from the image
 * is checked against the file size: a truncated or hostile image is
 * refused, never read past its end.
 */
#include <errno.h>
#include <string.h>

#include "bzimage.h"

#define LOADED_HIGH 0x01
#define XLF_KERNEL_64 0x01

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)v);
	wr16(p + 2, (uint16_t)(v >> 16));
}

static void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

int bz_parse(const uint8_t *img, size_t len, uint64_t ram_below, struct bz_info *info)
{
	uint32_t sects;
	uint64_t align;

	memset(info, 0, sizeof(*info));
	if (len < 0x268)
		return -EINVAL;
	if (rd16(img + BP_BOOT_FLAG) != 0xaa55 || memcmp(img + BP_HEADER, "HdrS", 4))
		return -ENOEXEC;
	info->version = rd16(img + BP_VERSION);
	if (info->version < 0x206)
		return -EPROTONOSUPPORT;
	if (!(img[BP_LOADFLAGS] & LOADED_HIGH))
		return -ENOEXEC; /* a zImage, loaded low: not supported */
	if (info->version >= 0x20c && !(rd16(img + BP_XLOADFLAGS) & XLF_KERNEL_64))
		return -ENOEXEC; /* no 64-bit entry point */
	/* The jump at 0x200 skips the header: its target is the header's end. */
	info->header_end = BP_HEADER + img[BP_JUMP + 1];
	if (img[BP_JUMP] != 0xeb || info->header_end > len || info->header_end < BP_CMDLINE_SIZE + 4)
		return -EINVAL;
	sects = img[BP_SETUP_SECTS] ? img[BP_SETUP_SECTS] : 4;
	info->setup_size = (sects + 1) * 512;
	if (info->setup_size + 0x200 > len)
		return -EINVAL; /* not even the 64-bit entry is in the file */
	info->kernel_size = (uint32_t)(len - info->setup_size);
	info->cmdline_max = rd32(img + BP_CMDLINE_SIZE);
	if (info->cmdline_max >= BZ_CMDLINE_MAX)
		info->cmdline_max = BZ_CMDLINE_MAX - 1;
	info->initrd_max = rd32(img + BP_INITRD_ADDR_MAX);
	info->load_addr = BZ_LOAD_ADDR;
	if (img[BP_RELOCATABLE]) {
		align = rd32(img + BP_KERNEL_ALIGNMENT);
		if (!align || (align & (align - 1)) || align > (1u << 30))
			return -EINVAL;
		info->load_addr = (BZ_LOAD_ADDR + align - 1) & ~(align - 1);
	} else if (info->version >= 0x20a && info->header_end >= BP_PREF_ADDRESS + 8 &&
		   rd64(img + BP_PREF_ADDRESS)) {
		info->load_addr = rd64(img + BP_PREF_ADDRESS);
	}
	info->init_size = info->kernel_size;
	if (info->version >= 0x20a && info->header_end >= BP_INIT_SIZE + 4 &&
	    rd32(img + BP_INIT_SIZE) > info->init_size)
		info->init_size = rd32(img + BP_INIT_SIZE);
	if (info->load_addr < BZ_LOAD_ADDR || info->load_addr > ram_below ||
	    info->init_size > ram_below - info->load_addr)
		return -ENOSPC;
	return 0;
}

unsigned int bz_e820_build(struct bz_e820 *tab, unsigned int max, uint64_t ram_below,
			   uint64_t ram_above)
{
	const struct bz_e820 all[] = {
		{ 0, 0x9fc00, E820_RAM },
		{ 0x9fc00, 0x400, E820_RESERVED },    /* EBDA */
		{ 0xf0000, 0x10000, E820_RESERVED },  /* BIOS area */
		{ 0x100000, ram_below - 0x100000, E820_RAM },
		{ 0xfffbc000, 0x4000, E820_RESERVED }, /* KVM TSS + identity map */
		{ 1ull << 32, ram_above, E820_RAM },
	};
	unsigned int i, n = 0;

	for (i = 0; i < sizeof(all) / sizeof(all[0]) && n < max; i++)
		if (all[i].size)
			tab[n++] = all[i];
	return n;
}

uint64_t bz_initrd_addr(const struct bz_info *info, uint64_t ram_below, uint64_t size)
{
	uint64_t top = ram_below, lowest = info->load_addr + info->init_size;

	if ((uint64_t)info->initrd_max + 1 < top)
		top = (uint64_t)info->initrd_max + 1;
	if (size > top || top - size < lowest)
		return 0;
	return (top - size) & ~0xfffull;
}

int bz_zero_page(uint8_t *zp, const uint8_t *img, size_t len, const struct bz_info *info,
		 const struct bz_params *p)
{
	struct bz_e820 tab[BP_E820_MAX];
	unsigned int n, i;

	if (info->header_end > len || info->header_end > 0x1000)
		return -EINVAL;
	memset(zp, 0, 4096);
	memcpy(zp + BP_SETUP_SECTS, img + BP_SETUP_SECTS, info->header_end - BP_SETUP_SECTS);
	wr16(zp + BP_VID_MODE, 0xffff); /* "normal" */
	zp[BP_TYPE_OF_LOADER] = 0xff;    /* undefined loader */
	wr32(zp + BP_CMD_LINE_PTR, (uint32_t)p->cmdline_addr);
	wr32(zp + BP_EXT_CMD_LINE_PTR, (uint32_t)(p->cmdline_addr >> 32));
	wr32(zp + BP_RAMDISK_IMAGE, (uint32_t)p->initrd_addr);
	wr32(zp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(p->initrd_addr >> 32));
	wr32(zp + BP_RAMDISK_SIZE, (uint32_t)p->initrd_size);
	wr32(zp + BP_EXT_RAMDISK_SIZE, (uint32_t)(p->initrd_size >> 32));
	n = bz_e820_build(tab, BP_E820_MAX, p->ram_below, p->ram_above);
	zp[BP_E820_ENTRIES] = (uint8_t)n;
	for (i = 0; i < n; i++) {
		uint8_t *e = zp + BP_E820_TABLE + i * 20;

		wr64(e, tab[i].addr);
		wr64(e + 8, tab[i].size);
		wr32(e + 16, tab[i].type);
	}
	return 0;
}
