/* SPDX-License-Identifier: MIT */
/*
 * Linux x86 boot protocol (Documentation/arch/x86/boot.rst): parsing a
 * bzImage's setup header and building the zero page (struct boot_params)
 * and its e820 table. Pure functions on buffers (bootparams.c), so they are
 * unit-tested without /dev/kvm; bzimage.c puts the result in guest RAM.
 */
#ifndef VDEV_RUN_BZIMAGE_H
#define VDEV_RUN_BZIMAGE_H

#include <stddef.h>
#include <stdint.h>

struct vm;

/* Guest-physical placement used by the loader. */
#define BZ_GDT 0x500ull
#define BZ_ZERO_PAGE 0x7000ull
#define BZ_PML4 0x9000ull     /* PML4, PDPT at +0x1000, 4 PDs after: 4 GiB identity map */
#define BZ_CMDLINE 0x20000ull
#define BZ_CMDLINE_MAX 0x10000u
#define BZ_LOAD_ADDR 0x100000ull

/* Zero page offsets. */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_SETUP_SECTS 0x1f1
#define BP_VID_MODE 0x1fa
#define BP_BOOT_FLAG 0x1fe
#define BP_JUMP 0x200
#define BP_HEADER 0x202
#define BP_VERSION 0x206
#define BP_TYPE_OF_LOADER 0x210
#define BP_LOADFLAGS 0x211
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_CMD_LINE_PTR 0x228
#define BP_INITRD_ADDR_MAX 0x22c
#define BP_KERNEL_ALIGNMENT 0x230
#define BP_RELOCATABLE 0x234
#define BP_XLOADFLAGS 0x236
#define BP_CMDLINE_SIZE 0x238
#define BP_PREF_ADDRESS 0x258
#define BP_INIT_SIZE 0x260
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128

#define E820_RAM 1
#define E820_RESERVED 2

/* What bz_parse() learns from an image. */
struct bz_info {
	uint16_t version;
	uint32_t setup_size;   /* bytes of real-mode code + header: (setup_sects + 1) * 512 */
	uint32_t kernel_size;  /* the protected-mode part that follows */
	uint32_t header_end;   /* end of the setup header in the image */
	uint32_t cmdline_max;  /* longest command line (without the NUL) */
	uint32_t initrd_max;   /* highest address an initrd byte may have */
	uint64_t load_addr;    /* where the protected-mode part goes */
	uint64_t init_size;    /* memory the kernel needs from load_addr */
};

struct bz_e820 {
	uint64_t addr, size;
	uint32_t type;
};

/* What the loader tells the zero page. */
struct bz_params {
	uint64_t ram_below, ram_above;
	uint64_t cmdline_addr;
	uint64_t initrd_addr, initrd_size;
};

/*
 * Check a bzImage: boot flag 0xaa55, "HdrS", protocol >= 2.06, loaded high,
 * a 64-bit entry (XLF_KERNEL_64 when the protocol has xloadflags, 2.12+),
 * sizes inside the file. @return 0 or -EINVAL/-ENOEXEC/-EPROTONOSUPPORT.
 */
int bz_parse(const uint8_t *img, size_t len, uint64_t ram_below, struct bz_info *info);

/*
 * The e820 map of a direct-boot guest: low RAM below the EBDA, the BIOS
 * area reserved, RAM from 1 MiB, KVM's TSS pages reserved, RAM above 4 GiB.
 * @return the number of entries written (at most @p max).
 */
unsigned int bz_e820_build(struct bz_e820 *tab, unsigned int max, uint64_t ram_below,
			   uint64_t ram_above);

/*
 * Fill the 4096-byte zero page @p zp: the image's setup header, loader type
 * 0xff, command line and initrd pointers, the e820 table.
 * @return 0 or -EINVAL.
 */
int bz_zero_page(uint8_t *zp, const uint8_t *img, size_t len, const struct bz_info *info,
		 const struct bz_params *p);

/* Where an initrd of @p size goes: the highest 4 KiB-aligned spot allowed. 0 if none. */
uint64_t bz_initrd_addr(const struct bz_info *info, uint64_t ram_below, uint64_t size);

/* Load @p kernel into the VM and set the vCPU at its 64-bit entry (bzimage.c). */
int bzimage_boot(struct vm *vm, const char *kernel, const char *append, const char *initrd);

#endif /* VDEV_RUN_BZIMAGE_H */
