/* SPDX-License-Identifier: MIT */
/*
 * The guest-memory map (vdev/mem.h): region table, translation, checked
 * accessors and dirty logging, including adversarial ranges and a
 * randomized comparison against a brute-force reference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mock_vmm.h"

#define PG VDEV_PAGE_SIZE

static vdev_ctx *new_ctx(void)
{
	vdev_ctx *ctx = NULL;

	assert_int_equal(vdev_ctx_new(NULL, &ctx), 0);
	assert_non_null(ctx);
	return ctx;
}

/* Dirty pages of the region at gpa, as a count; bm receives the words. */
static int64_t dirty(vdev_ctx *ctx, uint64_t gpa, uint64_t *bm, size_t nwords, int clear)
{
	memset(bm, 0xa5, nwords * sizeof(*bm));
	return vdev_mem_dirty_bitmap(ctx, gpa, bm, nwords, clear);
}

/* Deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* ---- region table ------------------------------------------------------ */

static void test_add_remove(void **state)
{
	uint8_t buf[3 * PG];
	vdev_ctx *ctx = new_ctx();

	(void)state;
	assert_int_equal(vdev_mem_region_count(ctx), 0);
	assert_int_equal(vdev_mem_region_add(ctx, 0x10000, PG, buf, 0), 0);
	assert_int_equal(vdev_mem_region_add(ctx, 0x0, PG, buf + PG, VDEV_MEM_READONLY), 0);
	assert_int_equal(vdev_mem_region_add(ctx, 0x8000, PG, buf + 2 * PG, 0), 0);
	assert_int_equal(vdev_mem_region_count(ctx), 3);

	/* Remove is by start gpa only. */
	assert_int_equal(vdev_mem_region_remove(ctx, 0x10001), -ENOENT);
	assert_int_equal(vdev_mem_region_remove(ctx, 0x4000), -ENOENT);
	assert_int_equal(vdev_mem_region_remove(ctx, 0x8000), 0);
	assert_int_equal(vdev_mem_region_remove(ctx, 0x8000), -ENOENT);
	assert_int_equal(vdev_mem_region_count(ctx), 2);
	assert_int_equal(vdev_mem_read(ctx, 0x8000, buf, 1), -EFAULT);
	assert_int_equal(vdev_mem_region_remove(ctx, 0), 0);
	assert_int_equal(vdev_mem_region_remove(ctx, 0x10000), 0);
	assert_int_equal(vdev_mem_region_count(ctx), 0);
	assert_int_equal(vdev_mem_region_remove(ctx, 0), -ENOENT);
	vdev_ctx_free(ctx);
}

static void test_add_invalid(void **state)
{
	uint8_t buf[PG];
	vdev_ctx *ctx = new_ctx();

	(void)state;
	assert_int_equal(vdev_mem_region_add(ctx, 0, 0, buf, 0), -EINVAL);
	assert_int_equal(vdev_mem_region_add(ctx, 0, PG, NULL, 0), -EINVAL);
	assert_int_equal(vdev_mem_region_add(ctx, 0, PG, buf, 1u << 1), -EINVAL);
	assert_int_equal(vdev_mem_region_add(ctx, 0, PG, buf, 0x80000000u), -EINVAL);
	/* gpa + size - 1 past 2^64 - 1. */
	assert_int_equal(vdev_mem_region_add(ctx, UINT64_MAX - 1, 3, buf, 0), -EINVAL);
	assert_int_equal(vdev_mem_region_add(ctx, UINT64_MAX, 2, buf, 0), -EINVAL);
	assert_int_equal(vdev_mem_region_add(ctx, 1, UINT64_MAX, buf, 0), -EINVAL);
	assert_int_equal(vdev_mem_region_add(ctx, UINT64_MAX - PG + 1, PG + 1, buf, 0), -EINVAL);
	/* The host range must not wrap either. */
	assert_int_equal(vdev_mem_region_add(ctx, 0, 0x100, (void *)(UINTPTR_MAX - 0x10), 0),
			 -EINVAL);
	assert_int_equal(vdev_mem_region_count(ctx), 0);
	/* The last byte of the address space is fine, alone. */
	assert_int_equal(vdev_mem_region_add(ctx, UINT64_MAX, 1, buf, 0), 0);
	assert_int_equal(vdev_mem_region_count(ctx), 1);
	vdev_ctx_free(ctx);
}

static void test_add_overlap(void **state)
{
	uint8_t buf[8 * PG];
	vdev_ctx *ctx = new_ctx();

	(void)state;
	assert_int_equal(vdev_mem_region_add(ctx, 0x4000, 0x2000, buf, 0), 0); /* [4000,6000) */
	assert_int_equal(vdev_mem_region_add(ctx, 0x4000, 0x2000, buf, 0), -EEXIST);
	assert_int_equal(vdev_mem_region_add(ctx, 0x4000, 1, buf, 0), -EEXIST);
	assert_int_equal(vdev_mem_region_add(ctx, 0x3fff, 2, buf, 0), -EEXIST);
	assert_int_equal(vdev_mem_region_add(ctx, 0x5fff, 2, buf, 0), -EEXIST);
	assert_int_equal(vdev_mem_region_add(ctx, 0x4800, 0x100, buf, 0), -EEXIST);
	assert_int_equal(vdev_mem_region_add(ctx, 0x1000, 0x8000, buf, 0), -EEXIST);
	assert_int_equal(vdev_mem_region_add(ctx, 0x0, 0x100000, buf, 0), -EEXIST);
	assert_int_equal(vdev_mem_region_count(ctx), 1);
	/* Touching on either side is not overlapping. */
	assert_int_equal(vdev_mem_region_add(ctx, 0x3000, 0x1000, buf + PG, 0), 0);
	assert_int_equal(vdev_mem_region_add(ctx, 0x6000, 0x1000, buf + 2 * PG, 0), 0);
	/* Filling a hole between two regions exactly. */
	assert_int_equal(vdev_mem_region_add(ctx, 0x8000, 0x1000, buf + 3 * PG, 0), 0);
	assert_int_equal(vdev_mem_region_add(ctx, 0x7000, 0x1001, buf, 0), -EEXIST);
	assert_int_equal(vdev_mem_region_add(ctx, 0x6fff, 0x1000, buf, 0), -EEXIST);
	assert_int_equal(vdev_mem_region_add(ctx, 0x7000, 0x1000, buf + 4 * PG, 0), 0);
	assert_int_equal(vdev_mem_region_count(ctx), 5);
	vdev_ctx_free(ctx);
}

static void test_table_full(void **state)
{
	static uint8_t byte;
	vdev_ctx *ctx = new_ctx();
	unsigned int i;

	(void)state;
	/* Insert in descending order so every add shifts the array. */
	for (i = VDEV_MEM_MAX_REGIONS; i-- > 0;)
		assert_int_equal(vdev_mem_region_add(ctx, (uint64_t)i * 2, 1, &byte, 0), 0);
	assert_int_equal(vdev_mem_region_count(ctx), VDEV_MEM_MAX_REGIONS);
	assert_int_equal(vdev_mem_region_add(ctx, 0x100000, 1, &byte, 0), -ENOSPC);
	/* An overlap is still reported as such on a full table. */
	assert_int_equal(vdev_mem_region_add(ctx, 0, 1, &byte, 0), -EEXIST);
	assert_int_equal(vdev_mem_region_count(ctx), VDEV_MEM_MAX_REGIONS);
	assert_int_equal(vdev_mem_region_remove(ctx, 10), 0);
	assert_int_equal(vdev_mem_region_add(ctx, 0x100000, 1, &byte, 0), 0);
	assert_int_equal(vdev_mem_region_add(ctx, 10, 1, &byte, 0), -ENOSPC);
	/* Every region is still found at its place. */
	for (i = 0; i < VDEV_MEM_MAX_REGIONS; i++) {
		struct iovec iov;
		uint64_t g = (uint64_t)i * 2;

		assert_int_equal(vdev_mem_translate(ctx, g, 1, VDEV_MEM_READ, &iov, 1),
				 i == 5 ? -EFAULT : 1);
		assert_int_equal(vdev_mem_translate(ctx, (uint64_t)i * 2 + 1, 1, VDEV_MEM_READ,
						    &iov, 1),
				 -EFAULT);
	}
	vdev_ctx_free(ctx);
}

/* ---- translation ------------------------------------------------------- */

static void test_translate_spans(void **state)
{
	struct mock_vmm mv;
	struct iovec iov[4];

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 3 * PG, 3), 0);
	assert_int_equal(vdev_mem_region_count(mv.ctx), 3);

	/* Within one region. */
	assert_int_equal(vdev_mem_translate(mv.ctx, 0x10, 0x20, VDEV_MEM_READ, iov, 4), 1);
	assert_ptr_equal(iov[0].iov_base, mv.ram + 0x10);
	assert_int_equal(iov[0].iov_len, 0x20);

	/* Two regions: adjacent regions stay separate iovecs. */
	assert_int_equal(vdev_mem_translate(mv.ctx, PG - 8, 24, VDEV_MEM_READ, iov, 4), 2);
	assert_ptr_equal(iov[0].iov_base, mv.ram + PG - 8);
	assert_int_equal(iov[0].iov_len, 8);
	assert_ptr_equal(iov[1].iov_base, mv.ram + PG);
	assert_int_equal(iov[1].iov_len, 16);

	/* Exactly one whole region, ending at its last byte. */
	assert_int_equal(vdev_mem_translate(mv.ctx, PG, PG, VDEV_MEM_WRITE, iov, 1), 1);
	assert_ptr_equal(iov[0].iov_base, mv.ram + PG);
	assert_int_equal(iov[0].iov_len, PG);

	/* Three regions. */
	assert_int_equal(vdev_mem_translate(mv.ctx, 100, 3 * PG - 150, VDEV_MEM_WRITE, iov, 4), 3);
	assert_ptr_equal(iov[0].iov_base, mv.ram + 100);
	assert_int_equal(iov[0].iov_len, PG - 100);
	assert_ptr_equal(iov[1].iov_base, mv.ram + PG);
	assert_int_equal(iov[1].iov_len, PG);
	assert_ptr_equal(iov[2].iov_base, mv.ram + 2 * PG);
	assert_int_equal(iov[2].iov_len, PG - 50);

	/* All of RAM, then one byte more. */
	assert_int_equal(vdev_mem_translate(mv.ctx, 0, 3 * PG, VDEV_MEM_READ, iov, 4), 3);
	assert_int_equal(vdev_mem_translate(mv.ctx, 0, 3 * PG + 1, VDEV_MEM_READ, iov, 4),
			 -EFAULT);
	assert_int_equal(vdev_mem_translate(mv.ctx, 3 * PG, 1, VDEV_MEM_READ, iov, 4), -EFAULT);

	/* len 0 is 0 iovecs wherever it points, and needs no array. */
	assert_int_equal(vdev_mem_translate(mv.ctx, 0, 0, VDEV_MEM_READ, NULL, 0), 0);
	assert_int_equal(vdev_mem_translate(mv.ctx, 1ull << 40, 0, VDEV_MEM_WRITE, NULL, 0), 0);
	assert_int_equal(vdev_mem_translate(mv.ctx, UINT64_MAX, 0, VDEV_MEM_READ, NULL, 0), 0);

	/* Not an access kind. */
	assert_int_equal(vdev_mem_translate(mv.ctx, 0, 1, (enum vdev_mem_access)3, iov, 4),
			 -EINVAL);
	assert_int_equal(vdev_mem_translate(mv.ctx, 0, 1, (enum vdev_mem_access)0, iov, 4),
			 -EINVAL);
	mock_vmm_fini(&mv);
}

static void test_translate_enobufs(void **state)
{
	struct mock_vmm mv;
	struct iovec iov[3];
	uint64_t bm[1];

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 3 * PG, 3), 0);
	assert_int_equal(vdev_mem_dirty_log_enable(mv.ctx, 1), 0);
	assert_int_equal(vdev_mem_translate(mv.ctx, 10, 3 * PG - 20, VDEV_MEM_WRITE, iov, 2),
			 -ENOBUFS);
	assert_int_equal(vdev_mem_translate(mv.ctx, 10, 2, VDEV_MEM_WRITE, iov, 0), -ENOBUFS);
	assert_int_equal(vdev_mem_translate(mv.ctx, 10, 2, VDEV_MEM_WRITE, NULL, 1), -ENOBUFS);
	assert_int_equal(vdev_mem_translate(mv.ctx, 10, 2, VDEV_MEM_WRITE, iov, -1), -ENOBUFS);
	/* A failed write translation marks nothing. */
	for (uint64_t g = 0; g < 3 * PG; g += PG)
		assert_int_equal(dirty(mv.ctx, g, bm, 1, 0), 0);
	assert_int_equal(vdev_mem_translate(mv.ctx, 10, 3 * PG - 20, VDEV_MEM_WRITE, iov, 3), 3);
	for (uint64_t g = 0; g < 3 * PG; g += PG) {
		assert_int_equal(dirty(mv.ctx, g, bm, 1, 0), 1);
		assert_int_equal(bm[0], 1);
	}
	/* A hole is reported before a too-small array. */
	assert_int_equal(vdev_mem_translate(mv.ctx, 10, 3 * PG, VDEV_MEM_READ, iov, 1), -EFAULT);
	mock_vmm_fini(&mv);
}

/* [0, 2 pages) and [3 pages, 4 pages): a one-page hole between. */
static void setup_gap(vdev_ctx **ctx, uint8_t *ram)
{
	*ctx = new_ctx();
	assert_int_equal(vdev_mem_region_add(*ctx, 0, 2 * PG, ram, 0), 0);
	assert_int_equal(vdev_mem_region_add(*ctx, 3 * PG, PG, ram + 3 * PG, 0), 0);
}

static void test_gap(void **state)
{
	static uint8_t ram[4 * PG], snap[4 * PG], data[2 * PG];
	struct iovec iov[4];
	uint64_t bm[1];
	vdev_ctx *ctx;

	(void)state;
	setup_gap(&ctx, ram);
	assert_int_equal(vdev_mem_dirty_log_enable(ctx, 1), 0);
	memset(ram, 0x11, sizeof(ram));
	memcpy(snap, ram, sizeof(ram));
	memset(data, 0xee, sizeof(data));

	/* From RAM across the region end into the hole. */
	assert_int_equal(vdev_mem_translate(ctx, 2 * PG - 4, 8, VDEV_MEM_WRITE, iov, 4), -EFAULT);
	assert_int_equal(vdev_mem_translate(ctx, 2 * PG - 4, 8, VDEV_MEM_READ, iov, 4), -EFAULT);
	/* Across the whole hole into the next region. */
	assert_int_equal(vdev_mem_translate(ctx, PG, 2 * PG + 8, VDEV_MEM_WRITE, iov, 4),
			 -EFAULT);
	/* From the hole into RAM. */
	assert_int_equal(vdev_mem_translate(ctx, 3 * PG - 1, 2, VDEV_MEM_WRITE, iov, 4), -EFAULT);
	/* Wholly in the hole, and past the last region. */
	assert_int_equal(vdev_mem_translate(ctx, 2 * PG, 1, VDEV_MEM_READ, iov, 4), -EFAULT);
	assert_int_equal(vdev_mem_translate(ctx, 4 * PG, 1, VDEV_MEM_READ, iov, 4), -EFAULT);
	assert_int_equal(vdev_mem_translate(ctx, 4 * PG - 1, 2, VDEV_MEM_READ, iov, 4), -EFAULT);

	/* The accessors are all or nothing. */
	assert_int_equal(vdev_mem_write(ctx, 2 * PG - 4, data, 8), -EFAULT);
	assert_int_equal(vdev_mem_write(ctx, PG, data, 2 * PG), -EFAULT);
	assert_int_equal(vdev_mem_write(ctx, 3 * PG - 1, data, 2), -EFAULT);
	assert_memory_equal(ram, snap, sizeof(ram));
	memset(data, 0x77, sizeof(data));
	assert_int_equal(vdev_mem_read(ctx, 2 * PG - 4, data, 8), -EFAULT);
	assert_int_equal(data[0], 0x77);

	/* Nothing was marked dirty by any of it. */
	assert_int_equal(dirty(ctx, 0, bm, 1, 0), 0);
	assert_int_equal(bm[0], 0);
	assert_int_equal(dirty(ctx, 3 * PG, bm, 1, 0), 0);

	/* Right up to the edge is fine. */
	assert_int_equal(vdev_mem_translate(ctx, 2 * PG - 4, 4, VDEV_MEM_READ, iov, 4), 1);
	assert_int_equal(iov[0].iov_len, 4);
	vdev_ctx_free(ctx);
}

static void test_overflow(void **state)
{
	static uint8_t top[PG];
	uint8_t buf[8] = { 0 };
	struct iovec iov[2];
	vdev_ctx *ctx = new_ctx();

	(void)state;
	assert_int_equal(vdev_mem_region_add(ctx, UINT64_MAX - PG + 1, PG, top, 0), 0);
	/* Overflow is checked before the map: it wins over -EFAULT and -EACCES. */
	assert_int_equal(vdev_mem_translate(ctx, UINT64_MAX - 1, 4, VDEV_MEM_READ, iov, 2),
			 -EOVERFLOW);
	assert_int_equal(vdev_mem_translate(ctx, UINT64_MAX - 1, 4, VDEV_MEM_WRITE, iov, 2),
			 -EOVERFLOW);
	assert_int_equal(vdev_mem_translate(ctx, UINT64_MAX, 2, VDEV_MEM_READ, iov, 2),
			 -EOVERFLOW);
	assert_int_equal(vdev_mem_translate(ctx, 2, UINT64_MAX, VDEV_MEM_READ, iov, 2),
			 -EOVERFLOW);
	assert_int_equal(vdev_mem_translate(ctx, UINT64_MAX, UINT64_MAX, VDEV_MEM_READ, iov, 2),
			 -EOVERFLOW);
	assert_int_equal(vdev_mem_translate(ctx, 5, UINT64_MAX, (enum vdev_mem_access)9, iov, 2),
			 -EOVERFLOW);
	assert_int_equal(vdev_mem_read(ctx, UINT64_MAX - 1, buf, 4), -EOVERFLOW);
	assert_int_equal(vdev_mem_write(ctx, UINT64_MAX - 1, buf, 4), -EOVERFLOW);
	assert_int_equal(vdev_mem_read(ctx, UINT64_MAX - 1, buf, SIZE_MAX), -EOVERFLOW);
	/* Ending exactly at 2^64 is not a wrap. */
	assert_int_equal(vdev_mem_translate(ctx, UINT64_MAX - 1, 2, VDEV_MEM_READ, iov, 2), 1);
	assert_int_equal(vdev_mem_translate(ctx, 0, UINT64_MAX, VDEV_MEM_READ, iov, 2), -EFAULT);
	/* [1, 2^64) is exactly the rest of the address space: a hole, no wrap. */
	assert_int_equal(vdev_mem_translate(ctx, 1, UINT64_MAX, VDEV_MEM_READ, iov, 2), -EFAULT);
	vdev_ctx_free(ctx);
}

static void test_top_of_address_space(void **state)
{
	static uint8_t top[2 * PG];
	const uint64_t base = UINT64_MAX - 2 * PG + 1;
	uint8_t in[4] = { 1, 2, 3, 4 }, out[4];
	struct iovec iov[2];
	uint64_t bm[1];
	vdev_ctx *ctx = new_ctx();

	(void)state;
	assert_int_equal(vdev_mem_region_add(ctx, base, 2 * PG, top, 0), 0);
	/* Nothing else fits above it. */
	assert_int_equal(vdev_mem_region_add(ctx, UINT64_MAX, 1, top, 0), -EEXIST);
	assert_int_equal(vdev_mem_dirty_log_enable(ctx, 1), 0);

	assert_int_equal(vdev_mem_translate(ctx, UINT64_MAX, 1, VDEV_MEM_READ, iov, 2), 1);
	assert_ptr_equal(iov[0].iov_base, top + 2 * PG - 1);
	assert_int_equal(iov[0].iov_len, 1);
	assert_int_equal(vdev_mem_translate(ctx, base, 2 * PG, VDEV_MEM_READ, iov, 2), 1);
	assert_ptr_equal(iov[0].iov_base, top);
	assert_int_equal(iov[0].iov_len, 2 * PG);
	assert_int_equal(vdev_mem_translate(ctx, base - 1, 2, VDEV_MEM_READ, iov, 2), -EFAULT);

	assert_int_equal(vdev_mem_write(ctx, UINT64_MAX - 3, in, 4), 0);
	assert_memory_equal(top + 2 * PG - 4, in, 4);
	assert_int_equal(vdev_mem_read(ctx, UINT64_MAX - 3, out, 4), 0);
	assert_memory_equal(out, in, 4);
	assert_int_equal(dirty(ctx, base, bm, 1, 1), 1);
	assert_int_equal(bm[0], 2);
	/* mark_dirty clamps a wrapping range at 2^64 instead of wrapping to 0. */
	vdev_mem_mark_dirty(ctx, UINT64_MAX - 1, 100);
	assert_int_equal(dirty(ctx, base, bm, 1, 1), 1);
	assert_int_equal(bm[0], 2);
	vdev_mem_mark_dirty(ctx, base, UINT64_MAX);
	assert_int_equal(dirty(ctx, base, bm, 1, 1), 2);
	assert_int_equal(bm[0], 3);
	vdev_ctx_free(ctx);
}

static void test_readonly(void **state)
{
	static uint8_t ram[PG], rom[PG], snap_ram[PG], snap_rom[PG];
	uint8_t data[64], out[64];
	struct iovec iov[2];
	uint64_t bm[1];
	vdev_ctx *ctx = new_ctx();

	(void)state;
	for (size_t i = 0; i < PG; i++) {
		ram[i] = (uint8_t)i;
		rom[i] = (uint8_t)(0xff - i);
	}
	memcpy(snap_ram, ram, PG);
	memcpy(snap_rom, rom, PG);
	memset(data, 0x5a, sizeof(data));
	assert_int_equal(vdev_mem_region_add(ctx, 0, PG, ram, 0), 0);
	assert_int_equal(vdev_mem_region_add(ctx, PG, PG, rom, VDEV_MEM_READONLY), 0);
	assert_int_equal(vdev_mem_dirty_log_enable(ctx, 1), 0);

	/* Reading the ROM works, through every accessor. */
	assert_int_equal(vdev_mem_read(ctx, PG + 16, out, 64), 0);
	assert_memory_equal(out, rom + 16, 64);
	assert_int_equal(vdev_mem_translate(ctx, PG, 16, VDEV_MEM_READ, iov, 2), 1);
	assert_ptr_equal(iov[0].iov_base, rom);
	assert_int_equal(vdev_mem_read(ctx, PG - 32, out, 64), 0);
	assert_memory_equal(out, ram + PG - 32, 32);
	assert_memory_equal(out + 32, rom, 32);

	/* Writing it does not, and a write that starts in RAM changes nothing. */
	assert_int_equal(vdev_mem_translate(ctx, PG, 16, VDEV_MEM_WRITE, iov, 2), -EACCES);
	assert_int_equal(vdev_mem_translate(ctx, PG - 32, 64, VDEV_MEM_WRITE, iov, 2), -EACCES);
	assert_int_equal(vdev_mem_write(ctx, PG + 16, data, 16), -EACCES);
	assert_int_equal(vdev_mem_write(ctx, PG - 32, data, 64), -EACCES);
	assert_memory_equal(ram, snap_ram, PG);
	assert_memory_equal(rom, snap_rom, PG);
	assert_int_equal(dirty(ctx, 0, bm, 1, 0), 0);
	assert_int_equal(dirty(ctx, PG, bm, 1, 0), 0);

	/* A write running from the ROM past its end is a hole first. */
	assert_int_equal(vdev_mem_write(ctx, 2 * PG - 1, data, 2), -EFAULT);
	assert_int_equal(vdev_mem_translate(ctx, PG - 1, PG + 2, VDEV_MEM_WRITE, iov, 2), -EFAULT);

	/* The RAM next to it is still writable. */
	assert_int_equal(vdev_mem_write(ctx, PG - 32, data, 32), 0);
	assert_memory_equal(ram + PG - 32, data, 32);
	vdev_ctx_free(ctx);
}

static void test_read_write_roundtrip(void **state)
{
	struct mock_vmm mv;
	static uint8_t in[5 * PG], out[5 * PG];
	uint64_t seed = 42;

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 5 * PG, 5), 0);
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)rng_next(&seed);
	/* Unaligned, crossing all five regions. */
	assert_int_equal(vdev_mem_write(mv.ctx, 3, in, 5 * PG - 7), 0);
	assert_memory_equal(mv.ram + 3, in, 5 * PG - 7);
	assert_int_equal(mv.ram[0], 0);
	assert_int_equal(mv.ram[5 * PG - 4], 0);
	assert_int_equal(vdev_mem_read(mv.ctx, 3, out, 5 * PG - 7), 0);
	assert_memory_equal(out, in, 5 * PG - 7);
	/* Small pieces at every offset near a region boundary. */
	for (uint64_t g = 2 * PG - 9; g < 2 * PG + 9; g++) {
		uint8_t piece[7];

		assert_int_equal(vdev_mem_write(mv.ctx, g, in + g, sizeof(piece)), 0);
		assert_int_equal(vdev_mem_read(mv.ctx, g, piece, sizeof(piece)), 0);
		assert_memory_equal(piece, in + g, sizeof(piece));
	}
	/* Zero length moves nothing, even with NULL buffers, even outside RAM. */
	assert_int_equal(vdev_mem_read(mv.ctx, 0, NULL, 0), 0);
	assert_int_equal(vdev_mem_write(mv.ctx, 1ull << 50, NULL, 0), 0);
	assert_int_equal(vdev_mem_read(mv.ctx, 5 * PG, out, 1), -EFAULT);
	mock_vmm_fini(&mv);
}

/* ---- dirty logging ----------------------------------------------------- */

static void test_dirty_off(void **state)
{
	struct mock_vmm mv;
	uint64_t bm[4];
	uint8_t b = 1;

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 4 * PG, 1), 0);
	assert_int_equal(vdev_mem_write(mv.ctx, 0, &b, 1), 0);
	vdev_mem_mark_dirty(mv.ctx, 0, 4 * PG);
	assert_int_equal(dirty(mv.ctx, 0, bm, 4, 0), -ENODATA);
	assert_int_equal(dirty(mv.ctx, 0x100, bm, 4, 0), -ENOENT);
	/* Writes made while logging was off do not show up once it is on. */
	assert_int_equal(vdev_mem_dirty_log_enable(mv.ctx, 1), 0);
	assert_int_equal(dirty(mv.ctx, 0, bm, 4, 0), 0);
	assert_int_equal(bm[0], 0);
	assert_int_equal(dirty(mv.ctx, 0x100, bm, 4, 0), -ENOENT);
	mock_vmm_fini(&mv);
}

static void test_dirty_pages(void **state)
{
	struct mock_vmm mv;
	uint8_t data[16] = { 0 };
	struct iovec iov[2];
	uint64_t bm[2];

	(void)state;
	/* 100 pages in one region: two bitmap words. */
	assert_int_equal(mock_vmm_init(&mv, 100 * PG, 1), 0);
	assert_int_equal(vdev_mem_dirty_log_enable(mv.ctx, 1), 0);

	/* A write across a page boundary marks both pages. */
	assert_int_equal(vdev_mem_write(mv.ctx, PG - 6, data, 12), 0);
	assert_int_equal(dirty(mv.ctx, 0, bm, 2, 0), 2);
	assert_int_equal(bm[0], 0x3);
	assert_int_equal(bm[1], 0);
	/* Without clear, it is still there; with clear, reported then gone. */
	assert_int_equal(dirty(mv.ctx, 0, bm, 2, 1), 2);
	assert_int_equal(bm[0], 0x3);
	assert_int_equal(dirty(mv.ctx, 0, bm, 2, 0), 0);
	assert_int_equal(bm[0], 0);
	assert_int_equal(bm[1], 0);

	/* Last byte of page 63 and first of page 64: across the word boundary. */
	assert_int_equal(vdev_mem_write(mv.ctx, 64 * PG - 1, data, 2), 0);
	/* The last page of the region, and the last bit of the bitmap. */
	assert_int_equal(vdev_mem_write(mv.ctx, 100 * PG - 1, data, 1), 0);
	assert_int_equal(dirty(mv.ctx, 0, bm, 2, 1), 3);
	assert_int_equal(bm[0], 1ull << 63);
	assert_int_equal(bm[1], (1ull << 0) | (1ull << 35));

	/* Translate for READ marks nothing; for WRITE marks the range now. */
	assert_int_equal(vdev_mem_translate(mv.ctx, 5 * PG, 3 * PG, VDEV_MEM_READ, iov, 2), 1);
	assert_int_equal(dirty(mv.ctx, 0, bm, 2, 0), 0);
	assert_int_equal(vdev_mem_translate(mv.ctx, 5 * PG + 1, 3 * PG, VDEV_MEM_WRITE, iov, 2),
			 1);
	assert_int_equal(dirty(mv.ctx, 0, bm, 2, 1), 4);
	assert_int_equal(bm[0], 0xfull << 5);

	/* mark_dirty: pages 10..74, plus bytes outside RAM ignored. */
	vdev_mem_mark_dirty(mv.ctx, 10 * PG + 100, 64 * PG);
	vdev_mem_mark_dirty(mv.ctx, 99 * PG, 10 * PG);
	vdev_mem_mark_dirty(mv.ctx, 200 * PG, PG);
	vdev_mem_mark_dirty(mv.ctx, 50 * PG, 0);
	assert_int_equal(dirty(mv.ctx, 0, bm, 2, 1), 66);
	assert_int_equal(bm[0], ~0ull << 10);
	assert_int_equal(bm[1], ((1ull << 11) - 1) | (1ull << 35));

	/* Too small a bitmap: refused, and the bits survive. */
	assert_int_equal(vdev_mem_write(mv.ctx, 0, data, 1), 0);
	bm[0] = bm[1] = 0x1234;
	assert_int_equal(vdev_mem_dirty_bitmap(mv.ctx, 0, bm, 1, 1), -ENOBUFS);
	assert_int_equal(bm[0], 0x1234);
	assert_int_equal(vdev_mem_dirty_bitmap(mv.ctx, 0, NULL, 0, 1), -ENOBUFS);
	assert_int_equal(dirty(mv.ctx, 0, bm, 2, 0), 1);

	/* Turning it on again clears every bitmap. */
	assert_int_equal(vdev_mem_dirty_log_enable(mv.ctx, 1), 0);
	assert_int_equal(dirty(mv.ctx, 0, bm, 2, 0), 0);
	assert_int_equal(bm[0], 0);
	mock_vmm_fini(&mv);
}

/* Pages count from the region's own start, which need not be page aligned. */
static void test_dirty_unaligned_region(void **state)
{
	static uint8_t ram[3 * PG];
	uint8_t b = 0;
	uint64_t bm[2] = { 0 };
	vdev_ctx *ctx = new_ctx();

	(void)state;
	/* [0x1800, 0x3801): pages [0x1800,0x2800) [0x2800,0x3800) [0x3800,0x3801). */
	assert_int_equal(vdev_mem_region_add(ctx, 0x1800, 0x2001, ram, 0), 0);
	assert_int_equal(vdev_mem_dirty_log_enable(ctx, 1), 0);
	assert_int_equal(vdev_mem_write(ctx, 0x2000, &b, 1), 0);  /* page 0 */
	assert_int_equal(dirty(ctx, 0x1800, bm, 1, 1), 1);
	assert_int_equal(bm[0], 1);
	assert_int_equal(vdev_mem_write(ctx, 0x27ff, &b, 1), 0);  /* page 0 */
	assert_int_equal(vdev_mem_write(ctx, 0x2800, &b, 1), 0);  /* page 1 */
	assert_int_equal(dirty(ctx, 0x1800, bm, 1, 1), 2);
	assert_int_equal(bm[0], 3);
	assert_int_equal(vdev_mem_write(ctx, 0x3800, &b, 1), 0);  /* page 2 */
	assert_int_equal(dirty(ctx, 0x1800, bm, 1, 1), 1);
	assert_int_equal(bm[0], 4);
	vdev_ctx_free(ctx);
}

static void test_dirty_region_lifecycle(void **state)
{
	static uint8_t a[2 * PG], b[70 * PG];
	uint8_t byte = 0;
	uint64_t bm[2];
	vdev_ctx *ctx = new_ctx();

	(void)state;
	assert_int_equal(vdev_mem_region_add(ctx, 0, sizeof(a), a, 0), 0);
	assert_int_equal(vdev_mem_dirty_log_enable(ctx, 1), 0);
	assert_int_equal(vdev_mem_write(ctx, 0, &byte, 1), 0);

	/* Added while logging: logs from the start, clean. */
	assert_int_equal(vdev_mem_region_add(ctx, 0x100000, sizeof(b), b, 0), 0);
	assert_int_equal(dirty(ctx, 0x100000, bm, 2, 0), 0);
	assert_int_equal(bm[0], 0);
	assert_int_equal(bm[1], 0);
	assert_int_equal(dirty(ctx, 0x100000, bm, 1, 0), -ENOBUFS);
	assert_int_equal(vdev_mem_write(ctx, 0x100000 + 69 * PG, &byte, 1), 0);
	assert_int_equal(dirty(ctx, 0x100000, bm, 2, 0), 1);
	assert_int_equal(bm[1], 1ull << 5);
	/* The other region's bitmap is its own. */
	assert_int_equal(dirty(ctx, 0, bm, 1, 0), 1);
	assert_int_equal(bm[0], 1);

	/* Removing a region drops its bitmap; re-adding starts clean. */
	assert_int_equal(vdev_mem_region_remove(ctx, 0x100000), 0);
	assert_int_equal(dirty(ctx, 0x100000, bm, 2, 0), -ENOENT);
	assert_int_equal(vdev_mem_region_add(ctx, 0x100000, sizeof(b), b, 0), 0);
	assert_int_equal(dirty(ctx, 0x100000, bm, 2, 0), 0);

	/* Disabling frees the bitmaps (ASan/valgrind see any leak) and reports no data. */
	assert_int_equal(vdev_mem_dirty_log_enable(ctx, 0), 0);
	assert_int_equal(dirty(ctx, 0, bm, 1, 0), -ENODATA);
	assert_int_equal(vdev_mem_write(ctx, 0, &byte, 1), 0);
	vdev_mem_mark_dirty(ctx, 0, 100);
	assert_int_equal(vdev_mem_dirty_log_enable(ctx, 0), 0);
	/* Adding while off allocates nothing; enabling covers it. */
	assert_int_equal(vdev_mem_region_add(ctx, 0x200000, PG, a, 0), 0);
	assert_int_equal(vdev_mem_dirty_log_enable(ctx, 1), 0);
	assert_int_equal(dirty(ctx, 0, bm, 1, 0), 0);
	assert_int_equal(vdev_mem_write(ctx, 0x200000, &byte, 1), 0);
	assert_int_equal(dirty(ctx, 0x200000, bm, 1, 0), 1);
	/* Freed with logging on: vdev__mem_fini frees the bitmaps. */
	vdev_ctx_free(ctx);
}

/* ---- lookup: many regions and the last-hit cache ----------------------- */

struct ref_region {
	uint64_t gpa, size;
	uint8_t *hva;
	uint32_t flags;
	bool live;
};

/* Brute force: walk the range region by region with a linear scan. */
static int ref_translate(const struct ref_region *rr, size_t n, uint64_t gpa, uint64_t len,
			 bool write, struct iovec *iov, int iovcnt)
{
	uint64_t cur = gpa, end = gpa + len; /* callers keep it far below 2^64 */
	int cnt = 0;
	bool ro = false;

	while (cur < end) {
		const struct ref_region *hit = NULL;
		uint64_t stop;

		for (size_t i = 0; i < n; i++)
			if (rr[i].live && cur >= rr[i].gpa && cur < rr[i].gpa + rr[i].size)
				hit = &rr[i];
		if (!hit)
			return -EFAULT;
		stop = end < hit->gpa + hit->size ? end : hit->gpa + hit->size;
		if (cnt < iovcnt) {
			iov[cnt].iov_base = hit->hva + (cur - hit->gpa);
			iov[cnt].iov_len = stop - cur;
		}
		cnt++;
		ro |= hit->flags & VDEV_MEM_READONLY;
		cur = stop;
	}
	if (write && ro)
		return -EACCES;
	return cnt > iovcnt ? -ENOBUFS : cnt;
}

static void check_random_lookups(vdev_ctx *ctx, const struct ref_region *rr, size_t n,
				 uint64_t *seed, unsigned int rounds)
{
	for (unsigned int k = 0; k < rounds; k++) {
		const struct ref_region *base = &rr[rng_next(seed) % n];
		uint64_t off = rng_next(seed) % (base->size + 200);
		uint64_t gpa = base->gpa + off >= 100 ? base->gpa + off - 100 : 0;
		uint64_t len = rng_next(seed) % 4 == 0 ? 1 + rng_next(seed) % 40000 : 1;
		bool write = rng_next(seed) & 1;
		struct iovec got[6], want[6];
		int rc, wrc;

		rc = vdev_mem_translate(ctx, gpa, len, write ? VDEV_MEM_WRITE : VDEV_MEM_READ,
					got, 6);
		wrc = ref_translate(rr, n, gpa, len, write, want, 6);
		if (rc != wrc)
			fail_msg("gpa %#llx len %llu %s: got %d want %d", (unsigned long long)gpa,
				 (unsigned long long)len, write ? "W" : "R", rc, wrc);
		for (int i = 0; i < rc; i++) {
			assert_ptr_equal(got[i].iov_base, want[i].iov_base);
			assert_int_equal(got[i].iov_len, want[i].iov_len);
		}
	}
}

static void test_many_regions_random(void **state)
{
	enum { N = VDEV_MEM_MAX_REGIONS };
	struct ref_region *rr = calloc(N, sizeof(*rr));
	unsigned int order[N];
	uint64_t seed = 0x9e3779b97f4a7c15ull, gpa = 0x1000;
	uint8_t *pool;
	size_t pool_off = 0;
	vdev_ctx *ctx = new_ctx();

	(void)state;
	assert_non_null(rr);
	pool = malloc((size_t)N * 3 * PG);
	assert_non_null(pool);
	/* Sizes of 1 byte to 3 pages; gaps of 0 (adjacent) to ~2 pages. */
	for (unsigned int i = 0; i < N; i++) {
		uint64_t size = 1 + rng_next(&seed) % (3 * PG);
		uint64_t gap = rng_next(&seed) % 3 == 0 ? 0 : rng_next(&seed) % (2 * PG);

		rr[i] = (struct ref_region){ gpa, size, pool + pool_off,
					     rng_next(&seed) % 8 == 0 ? VDEV_MEM_READONLY : 0,
					     true };
		pool_off += size;
		gpa += size + gap;
		order[i] = i;
	}
	/* Insert in a random order. */
	for (unsigned int i = N - 1; i > 0; i--) {
		unsigned int j = (unsigned int)(rng_next(&seed) % (i + 1)), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned int i = 0; i < N; i++) {
		const struct ref_region *r = &rr[order[i]];

		assert_int_equal(vdev_mem_region_add(ctx, r->gpa, r->size, r->hva, r->flags), 0);
	}
	assert_int_equal(vdev_mem_region_count(ctx), N);
	check_random_lookups(ctx, rr, N, &seed, 20000);

	/* Remove a third of them at random; lookups must follow. */
	for (unsigned int i = 0; i < N / 3; i++) {
		struct ref_region *r = &rr[rng_next(&seed) % N];

		assert_int_equal(vdev_mem_region_remove(ctx, r->gpa), r->live ? 0 : -ENOENT);
		r->live = false;
		/* Hit what is left around the hole, so the cache is exercised. */
		check_random_lookups(ctx, rr, N, &seed, 20);
	}
	check_random_lookups(ctx, rr, N, &seed, 20000);

	/* Read back through the map matches the host memory behind it. */
	for (unsigned int i = 0; i < (unsigned int)N * 3 * PG; i++)
		pool[i] = (uint8_t)rng_next(&seed);
	for (unsigned int k = 0; k < 2000; k++) {
		const struct ref_region *r = &rr[rng_next(&seed) % N];
		uint64_t off = rng_next(&seed) % r->size, len = 1 + rng_next(&seed) % 9000;
		struct iovec want[64];
		static uint8_t out[9000], exp[9000];
		int wrc = ref_translate(rr, N, r->gpa + off, len, false, want, 64);
		size_t pos = 0;

		if (wrc == -ENOBUFS)
			continue; /* more than 64 pieces: the reference cannot say */
		if (wrc < 0) {
			assert_int_equal(vdev_mem_read(ctx, r->gpa + off, out, len), wrc);
			continue;
		}
		for (int i = 0; i < wrc; i++) {
			memcpy(exp + pos, want[i].iov_base, want[i].iov_len);
			pos += want[i].iov_len;
		}
		assert_int_equal(vdev_mem_read(ctx, r->gpa + off, out, len), 0);
		assert_memory_equal(out, exp, len);
	}
	vdev_ctx_free(ctx);
	free(pool);
	free(rr);
}

/*
 * The last-hit cache must never resolve to a removed region, whether the
 * cached index now points past the end or at the region that slid down.
 */
static void test_stale_cache(void **state)
{
	static uint8_t a[PG], b[PG], c[PG], b2[PG];
	struct iovec iov[2];
	vdev_ctx *ctx = new_ctx();

	(void)state;
	assert_int_equal(vdev_mem_region_add(ctx, 0 * PG, PG, a, 0), 0);
	assert_int_equal(vdev_mem_region_add(ctx, 2 * PG, PG, b, 0), 0);
	assert_int_equal(vdev_mem_region_add(ctx, 4 * PG, PG, c, 0), 0);

	/* Cache the last region, then remove it: index now out of range. */
	assert_int_equal(vdev_mem_translate(ctx, 4 * PG + 8, 8, VDEV_MEM_READ, iov, 2), 1);
	assert_ptr_equal(iov[0].iov_base, c + 8);
	assert_int_equal(vdev_mem_region_remove(ctx, 4 * PG), 0);
	assert_int_equal(vdev_mem_translate(ctx, 4 * PG + 8, 8, VDEV_MEM_READ, iov, 2), -EFAULT);
	assert_int_equal(vdev_mem_read(ctx, 4 * PG + 8, iov, 1), -EFAULT);
	assert_int_equal(vdev_mem_write(ctx, 4 * PG + 8, iov, 1), -EFAULT);

	/* Cache the middle one, remove the first: the cached index now holds b's neighbour. */
	assert_int_equal(vdev_mem_region_add(ctx, 4 * PG, PG, c, 0), 0);
	assert_int_equal(vdev_mem_translate(ctx, 2 * PG, 1, VDEV_MEM_READ, iov, 2), 1);
	assert_int_equal(vdev_mem_region_remove(ctx, 0), 0);
	assert_int_equal(vdev_mem_translate(ctx, 2 * PG, 1, VDEV_MEM_READ, iov, 2), 1);
	assert_ptr_equal(iov[0].iov_base, b);
	assert_int_equal(vdev_mem_translate(ctx, 0, 1, VDEV_MEM_READ, iov, 2), -EFAULT);

	/* Cache b, remove b: c slides into b's index; b's range must fault. */
	assert_int_equal(vdev_mem_translate(ctx, 2 * PG + 5, 1, VDEV_MEM_READ, iov, 2), 1);
	assert_int_equal(vdev_mem_region_remove(ctx, 2 * PG), 0);
	assert_int_equal(vdev_mem_translate(ctx, 2 * PG + 5, 1, VDEV_MEM_READ, iov, 2), -EFAULT);
	assert_int_equal(vdev_mem_translate(ctx, 4 * PG + 5, 1, VDEV_MEM_READ, iov, 2), 1);
	assert_ptr_equal(iov[0].iov_base, c + 5);

	/* Re-added at the same gpa with new backing: the new pointer, never the old. */
	assert_int_equal(vdev_mem_translate(ctx, 4 * PG, 1, VDEV_MEM_READ, iov, 2), 1);
	assert_int_equal(vdev_mem_region_remove(ctx, 4 * PG), 0);
	assert_int_equal(vdev_mem_region_add(ctx, 4 * PG, PG, b2, VDEV_MEM_READONLY), 0);
	assert_int_equal(vdev_mem_translate(ctx, 4 * PG + 3, 1, VDEV_MEM_READ, iov, 2), 1);
	assert_ptr_equal(iov[0].iov_base, b2 + 3);
	assert_int_equal(vdev_mem_translate(ctx, 4 * PG + 3, 1, VDEV_MEM_WRITE, iov, 2), -EACCES);

	/* Empty map with a cached index. */
	assert_int_equal(vdev_mem_region_remove(ctx, 4 * PG), 0);
	assert_int_equal(vdev_mem_translate(ctx, 4 * PG + 3, 1, VDEV_MEM_READ, iov, 2), -EFAULT);
	assert_int_equal(vdev_mem_region_count(ctx), 0);
	vdev_ctx_free(ctx);
}

/*
 * vdev/mem.h lets any thread write guest memory while the map is still.
 * Two threads dirty alternate pages of the same bitmap word at once; every
 * round, the device thread must find all 64 bits (no lost update).
 */
#define CONC_ROUNDS 2000

struct conc {
	vdev_ctx *ctx;
	pthread_barrier_t start, done;
	unsigned int id;
};

static void *conc_worker(void *arg)
{
	struct conc *c = arg;
	unsigned int id = __atomic_fetch_add(&c->id, 1, __ATOMIC_RELAXED);
	uint8_t b = (uint8_t)id;
	struct iovec iov;

	for (int r = 0; r < CONC_ROUNDS; r++) {
		pthread_barrier_wait(&c->start);
		for (uint64_t p = id; p < 64; p += 2) {
			if (p & 2)
				vdev_mem_write(c->ctx, p * PG + r % PG, &b, 1);
			else
				vdev_mem_translate(c->ctx, p * PG, 1, VDEV_MEM_WRITE, &iov, 1);
		}
		pthread_barrier_wait(&c->done);
	}
	return NULL;
}

static void test_concurrent_dirty(void **state)
{
	struct mock_vmm mv;
	struct conc c = { 0 };
	pthread_t t[2];
	uint64_t bm[1];

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 64 * PG, 1), 0);
	assert_int_equal(vdev_mem_dirty_log_enable(mv.ctx, 1), 0);
	c.ctx = mv.ctx;
	assert_int_equal(pthread_barrier_init(&c.start, NULL, 3), 0);
	assert_int_equal(pthread_barrier_init(&c.done, NULL, 3), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, conc_worker, &c), 0);
	for (int r = 0; r < CONC_ROUNDS; r++) {
		int64_t n;

		pthread_barrier_wait(&c.start);
		pthread_barrier_wait(&c.done);
		n = dirty(mv.ctx, 0, bm, 1, 1);
		if (n != 64 || bm[0] != ~0ull) {
			fail_msg("round %d: %lld pages, bitmap %#llx", r, (long long)n,
				 (unsigned long long)bm[0]);
		}
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&c.start);
	pthread_barrier_destroy(&c.done);
	mock_vmm_fini(&mv);
}

/* Two contexts share nothing. */
static void test_contexts_independent(void **state)
{
	static uint8_t a[PG], b[PG];
	struct iovec iov;
	uint64_t bm[1];
	vdev_ctx *x = new_ctx(), *y = new_ctx();

	(void)state;
	assert_int_equal(vdev_mem_region_add(x, 0, PG, a, 0), 0);
	assert_int_equal(vdev_mem_region_add(y, 0, PG, b, 0), 0);
	assert_int_equal(vdev_mem_dirty_log_enable(x, 1), 0);
	assert_int_equal(vdev_mem_translate(y, 4, 1, VDEV_MEM_WRITE, &iov, 1), 1);
	assert_ptr_equal(iov.iov_base, b + 4);
	assert_int_equal(dirty(x, 0, bm, 1, 0), 0);
	assert_int_equal(dirty(y, 0, bm, 1, 0), -ENODATA);
	vdev_ctx_free(x);
	vdev_ctx_free(y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_remove),
		cmocka_unit_test(test_add_invalid),
		cmocka_unit_test(test_add_overlap),
		cmocka_unit_test(test_table_full),
		cmocka_unit_test(test_translate_spans),
		cmocka_unit_test(test_translate_enobufs),
		cmocka_unit_test(test_gap),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_top_of_address_space),
		cmocka_unit_test(test_readonly),
		cmocka_unit_test(test_read_write_roundtrip),
		cmocka_unit_test(test_dirty_off),
		cmocka_unit_test(test_dirty_pages),
		cmocka_unit_test(test_dirty_unaligned_region),
		cmocka_unit_test(test_dirty_region_lifecycle),
		cmocka_unit_test(test_many_regions_random),
		cmocka_unit_test(test_stale_cache),
		cmocka_unit_test(test_concurrent_dirty),
		cmocka_unit_test(test_contexts_independent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
