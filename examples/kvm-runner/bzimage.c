/* SPDX-License-Identifier: MIT */
/*
 * Direct Linux boot through the 64-bit boot protocol: the protected-mode
 * part of the bzImage at its load address, the zero page, command line and
 * initrd in low RAM, a GDT with the flat __BOOT_CS (0x10) / __BOOT_DS
 * (0x18) segments, identity page tables for the first 4 GiB (2 MiB pages),
 * and the vCPU in long mode at load address + 0x200 with RSI = zero page.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bzimage.h"
#include "runner.h"

static int read_file(const char *what, const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	ssize_t n;
	int fd, rc = 0;

	*buf = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (st.st_size <= 0 || st.st_size > (1ll << 30)) {
		rc = -EFBIG;
		goto out;
	}
	*len = (size_t)st.st_size;
	*buf = malloc(*len);
	if (!*buf) {
		rc = -ENOMEM;
		goto out;
	}
	n = pread(fd, *buf, *len, 0);
	if (n != (ssize_t)*len)
		rc = n < 0 ? -errno : -EIO;
out:
	if (rc) {
		fprintf(stderr, "vdev-run: %s %s: %s\n", what, path, strerror(-rc));
		free(*buf);
		*buf = NULL;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

static void wr64(uint8_t *p, uint64_t v)
{
	unsigned int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void build_page_tables(struct vm *vm)
{
	uint8_t *pml4 = vm->ram + BZ_PML4, *pdpt = pml4 + 0x1000, *pd = pml4 + 0x2000;
	unsigned int i;

	memset(pml4, 0, 6 * 0x1000);
	wr64(pml4, (BZ_PML4 + 0x1000) | 3);
	for (i = 0; i < 4; i++)
		wr64(pdpt + i * 8, (BZ_PML4 + 0x2000 + i * 0x1000ull) | 3);
	for (i = 0; i < 4 * 512; i++)
		wr64(pd + i * 8, ((uint64_t)i << 21) | 0x83); /* present, writable, 2 MiB */
}

static void build_gdt(struct vm *vm)
{
	uint8_t *gdt = vm->ram + BZ_GDT;

	memset(gdt, 0, 32);
	wr64(gdt + 0x10, 0x00af9a000000ffffull); /* 64-bit code */
	wr64(gdt + 0x18, 0x00cf92000000ffffull); /* flat data */
}

int bzimage_boot(struct vm *vm, const char *kernel, const char *append, const char *initrd)
{
	struct bz_params p;
	struct bz_info info;
	uint8_t *img = NULL, *rd = NULL;
	size_t len = 0, rd_len = 0, cl;
	int rc;

	rc = read_file("--kernel", kernel, &img, &len);
	if (rc)
		return rc;
	rc = bz_parse(img, len, vm->ram_below, &info);
	if (rc) {
		fprintf(stderr, "vdev-run: --kernel %s: not a usable 64-bit bzImage (%s)\n",
			kernel, strerror(-rc));
		goto out;
	}
	memset(&p, 0, sizeof(p));
	p.ram_below = vm->ram_below;
	p.ram_above = vm->ram_above;
	p.cmdline_addr = BZ_CMDLINE;
	cl = append ? strlen(append) : 0;
	if (cl > info.cmdline_max) {
		fprintf(stderr, "vdev-run: --append: %zu bytes, the kernel takes at most %u\n", cl,
			info.cmdline_max);
		rc = -E2BIG;
		goto out;
	}
	if (initrd) {
		rc = read_file("--initrd", initrd, &rd, &rd_len);
		if (rc)
			goto out;
		p.initrd_size = rd_len;
		p.initrd_addr = bz_initrd_addr(&info, vm->ram_below, rd_len);
		if (!p.initrd_addr) {
			fprintf(stderr, "vdev-run: --initrd %s: does not fit in guest RAM\n",
				initrd);
			rc = -ENOSPC;
			goto out;
		}
		memcpy(vm->ram + p.initrd_addr, rd, rd_len);
	}
	memcpy(vm->ram + info.load_addr, img + info.setup_size, info.kernel_size);
	memset(vm->ram + BZ_CMDLINE, 0, cl + 1);
	if (cl)
		memcpy(vm->ram + BZ_CMDLINE, append, cl);
	rc = bz_zero_page(vm->ram + BZ_ZERO_PAGE, img, len, &info, &p);
	if (rc)
		goto out;
	build_page_tables(vm);
	build_gdt(vm);
	rc = vcpu_set_long_mode(vm, info.load_addr + 0x200, BZ_ZERO_PAGE, BZ_PML4, BZ_GDT);
	if (rc)
		fprintf(stderr, "vdev-run: setting up long mode: %s\n", strerror(-rc));
out:
	free(img);
	free(rd);
	return rc;
}
