/* SPDX-License-Identifier: MIT */
/*
 * PV-EOI helper (vdev/pveoi.h): MSR validation, the arming rule, the
 * test-and-clear after exit, garbage in the flag word, the word leaving
 * RAM while armed, dirty logging, reset and save/load.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mock_vmm.h"

#define RAM (64 * 1024)
#define WORD 0x2000ull

struct fix {
	struct mock_vmm mv;
	vdev_pveoi *p;
};

static struct vdev_pveoi_apic one_edge(uint32_t vector)
{
	return (struct vdev_pveoi_apic){ .struct_size = sizeof(struct vdev_pveoi_apic),
					 .isr_count = 1, .isr_vector = vector };
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(mock_vmm_init(&f->mv, RAM, 2), 0);
	assert_int_equal(vdev_pveoi_new(f->mv.ctx, &f->p), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	vdev_pveoi_free(f->p);
	mock_vmm_fini(&f->mv);
	free(f);
	return 0;
}

static void test_msr_validation(void **state)
{
	struct fix *f = *state;
	uint8_t rom[16];

	assert_int_equal(vdev_pveoi_msr_read(f->p), 0);
	assert_false(vdev_pveoi_enabled(f->p));
	/* Bit 1 is reserved (the address is 4-byte aligned): #GP, nothing changes. */
	assert_int_equal(vdev_pveoi_msr_write(f->p, WORD | 3), -EINVAL);
	assert_int_equal(vdev_pveoi_msr_write(f->p, WORD | 2), -EINVAL);
	assert_int_equal(vdev_pveoi_msr_read(f->p), 0);
	/* Bits 2 and 3 are address bits (KVM: IS_ALIGNED(addr, 4)). */
	assert_int_equal(vdev_pveoi_msr_write(f->p, (WORD + 0xc) | 1), 0);
	assert_int_equal(vdev_pveoi_msr_read(f->p), (WORD + 0xc) | 1);
	assert_true(vdev_pveoi_enabled(f->p));
	/* Enabled outside RAM: #GP, the old value stays. */
	assert_int_equal(vdev_pveoi_msr_write(f->p, RAM | 1), -EINVAL);
	assert_int_equal(vdev_pveoi_msr_write(f->p, 0xfffffffffffffffdull), -EINVAL);
	assert_int_equal(vdev_pveoi_msr_write(f->p, (RAM - 4) | 1), 0);
	/* A word across the two regions' boundary is still all RAM. */
	assert_int_equal(vdev_pveoi_msr_write(f->p, (RAM / 2 - 4) | 1), 0);
	/* Disabled: the address is not checked against RAM (as KVM). */
	assert_int_equal(vdev_pveoi_msr_write(f->p, 0x100000000ull), 0);
	assert_false(vdev_pveoi_enabled(f->p));
	/* Read-only memory cannot hold the flag. */
	assert_int_equal(vdev_mem_region_add(f->mv.ctx, 0x100000, sizeof(rom), rom,
					     VDEV_MEM_READONLY), 0);
	assert_int_equal(vdev_pveoi_msr_write(f->p, 0x100000 | 1), -EINVAL);
	assert_int_equal(vdev_pveoi_msr_write(NULL, 1), -EINVAL);
}

static void test_arming_rule(void **state)
{
	struct fix *f = *state;
	struct vdev_pveoi_apic a = one_edge(0x40);
	struct vdev_pveoi_apic bad[6];

	/* Not enabled: never armed, memory untouched. */
	assert_int_equal(vdev_pveoi_before_entry(f->p, &a), 0);
	assert_int_equal(f->mv.ram[WORD], 0);
	assert_int_equal(vdev_pveoi_msr_write(f->p, WORD | 1), 0);

	for (int i = 0; i < 6; i++)
		bad[i] = one_edge(0x40);
	bad[0].isr_count = 0;                          /* nothing in service */
	bad[1].isr_count = 2;                          /* nested */
	bad[2].irr_pending = 1;                        /* another one waits */
	bad[3].flags = VDEV_PVEOI_APIC_LEVEL;          /* level: EOI must be seen */
	bad[4].flags = VDEV_PVEOI_APIC_EOI_OBSERVED;   /* IOAPIC/notifier */
	bad[5].isr_vector = 7;                         /* not a legal vector */
	for (int i = 0; i < 6; i++) {
		assert_int_equal(vdev_pveoi_before_entry(f->p, &bad[i]), 0);
		assert_false(vdev_pveoi_armed(f->p));
		assert_int_equal(f->mv.ram[WORD], 0);
	}
	assert_int_equal(vdev_pveoi_before_entry(f->p, &a), 1);
	assert_true(vdev_pveoi_armed(f->p));
	assert_int_equal(f->mv.ram[WORD], VDEV_PVEOI_FLAG);
	/* Re-evaluated before entry with a second interrupt pending: taken back. */
	assert_int_equal(vdev_pveoi_before_entry(f->p, &bad[2]), 0);
	assert_false(vdev_pveoi_armed(f->p));
	assert_int_equal(f->mv.ram[WORD], 0);
	/* struct_size too small for the size_t itself. */
	a.struct_size = 1;
	assert_int_equal(vdev_pveoi_before_entry(f->p, &a), -EINVAL);
}

static void test_test_and_clear(void **state)
{
	struct fix *f = *state;
	struct vdev_pveoi_apic a = one_edge(0x51);
	uint32_t v = 0;

	assert_int_equal(vdev_pveoi_msr_write(f->p, WORD | 1), 0);
	assert_int_equal(vdev_pveoi_after_exit(f->p, &v), 0); /* not armed */

	/* Exit before the guest's EOI: flag still set -> no EOI, flag cleared. */
	assert_int_equal(vdev_pveoi_before_entry(f->p, &a), 1);
	assert_int_equal(vdev_pveoi_after_exit(f->p, &v), 0);
	assert_int_equal(f->mv.ram[WORD], 0);
	assert_false(vdev_pveoi_armed(f->p));

	/* The guest clears it: exactly one EOI, for the armed vector. */
	assert_int_equal(vdev_pveoi_before_entry(f->p, &a), 1);
	f->mv.ram[WORD] &= (uint8_t)~VDEV_PVEOI_FLAG;
	assert_int_equal(vdev_pveoi_after_exit(f->p, &v), 1);
	assert_int_equal(v, 0x51);
	assert_int_equal(vdev_pveoi_after_exit(f->p, &v), 0);
	assert_int_equal(vdev_pveoi_after_exit(f->p, NULL), 0);

	/* An MSR write while armed disarms without an EOI. */
	assert_int_equal(vdev_pveoi_before_entry(f->p, &a), 1);
	assert_int_equal(vdev_pveoi_msr_write(f->p, 0), 0);
	assert_false(vdev_pveoi_armed(f->p));
	f->mv.ram[WORD] = 0;
	assert_int_equal(vdev_pveoi_after_exit(f->p, &v), 0);
}

static void test_garbage_word(void **state)
{
	struct fix *f = *state;
	struct vdev_pveoi_apic a = one_edge(0x60);
	uint32_t v;

	assert_int_equal(vdev_pveoi_msr_write(f->p, WORD | 1), 0);
	/* Garbage while not armed: ignored, never read. */
	memset(f->mv.ram + WORD, 0xff, 4);
	assert_int_equal(vdev_pveoi_after_exit(f->p, &v), 0);
	/* Arming writes only byte 0, like KVM's u8 put_user. */
	assert_int_equal(vdev_pveoi_before_entry(f->p, &a), 1);
	assert_int_equal(f->mv.ram[WORD], 1);
	assert_int_equal(f->mv.ram[WORD + 1], 0xff);
	/* Garbage with bit 0 clear is an EOI; other bytes untouched. */
	memcpy(f->mv.ram + WORD, "\xfe\xa5\x5a\xff", 4);
	assert_int_equal(vdev_pveoi_after_exit(f->p, &v), 1);
	assert_memory_equal(f->mv.ram + WORD, "\xfe\xa5\x5a\xff", 4);
	/* Garbage with bit 0 set is "no EOI yet"; the host clears byte 0 only. */
	assert_int_equal(vdev_pveoi_before_entry(f->p, &a), 1);
	memcpy(f->mv.ram + WORD, "\xff\x11\x22\x33", 4);
	assert_int_equal(vdev_pveoi_after_exit(f->p, &v), 0);
	assert_memory_equal(f->mv.ram + WORD, "\x00\x11\x22\x33", 4);
}

static void test_word_leaves_ram(void **state)
{
	struct fix *f = *state;
	struct vdev_pveoi_apic a = one_edge(0x70);
	uint64_t gpa = RAM / 2 + 0x100;
	uint32_t v = 0;

	assert_int_equal(vdev_pveoi_msr_write(f->p, gpa | 1), 0);
	assert_int_equal(vdev_pveoi_before_entry(f->p, &a), 1);
	assert_int_equal(vdev_mem_region_remove(f->mv.ctx, RAM / 2), 0);
	/* Cannot read the flag: disarm, log, and end the vector (as KVM). */
	assert_int_equal(vdev_pveoi_after_exit(f->p, &v), 1);
	assert_int_equal(v, 0x70);
	assert_false(vdev_pveoi_armed(f->p));
	assert_true(mock_vmm_log_contains(&f->mv, "left guest RAM"));
	/* Later entries do not arm and do not flood the log. */
	mock_vmm_clear_events(&f->mv);
	for (int i = 0; i < 5; i++)
		assert_int_equal(vdev_pveoi_before_entry(f->p, &a), 0);
	assert_int_equal(f->mv.n_log, 0);
	/* A fresh MSR write in RAM arms again; one removed after an MSR write logs once. */
	assert_int_equal(vdev_pveoi_msr_write(f->p, WORD | 1), 0);
	assert_int_equal(vdev_pveoi_before_entry(f->p, &a), 1);
	assert_int_equal(vdev_pveoi_after_exit(f->p, &v), 0);
	assert_int_equal(vdev_mem_region_remove(f->mv.ctx, 0), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(vdev_pveoi_before_entry(f->p, &a), 0);
	assert_int_equal(f->mv.n_log, 1);
	assert_true(mock_vmm_log_contains(&f->mv, "no longer in guest RAM"));
}

static void test_dirty_logging(void **state)
{
	struct fix *f = *state;
	struct vdev_pveoi_apic a = one_edge(0x40);
	uint64_t bm[1];

	assert_int_equal(vdev_pveoi_msr_write(f->p, WORD | 1), 0);
	assert_int_equal(vdev_mem_dirty_log_enable(f->mv.ctx, 1), 0);
	assert_int_equal(vdev_mem_dirty_bitmap(f->mv.ctx, 0, bm, 1, 1), 0);
	assert_int_equal(vdev_pveoi_before_entry(f->p, &a), 1);
	assert_int_equal(vdev_mem_dirty_bitmap(f->mv.ctx, 0, bm, 1, 1), 1);
	assert_int_equal(bm[0], 1ull << (WORD / VDEV_PAGE_SIZE));
	/* The host's clear after a still-set flag is a write too. */
	assert_int_equal(vdev_pveoi_after_exit(f->p, NULL), 0);
	assert_int_equal(vdev_mem_dirty_bitmap(f->mv.ctx, 0, bm, 1, 1), 1);
	/* A guest-cleared flag needs no host write: nothing dirty from us. */
	assert_int_equal(vdev_pveoi_before_entry(f->p, &a), 1);
	assert_int_equal(vdev_mem_dirty_bitmap(f->mv.ctx, 0, bm, 1, 1), 1);
	f->mv.ram[WORD] = 0;
	assert_int_equal(vdev_pveoi_after_exit(f->p, NULL), 1);
	assert_int_equal(vdev_mem_dirty_bitmap(f->mv.ctx, 0, bm, 1, 1), 0);
}

static void test_reset(void **state)
{
	struct fix *f = *state;
	struct vdev_pveoi_apic a = one_edge(0x40);

	assert_int_equal(vdev_pveoi_msr_write(f->p, WORD | 1), 0);
	assert_int_equal(vdev_pveoi_before_entry(f->p, &a), 1);
	vdev_pveoi_reset(f->p);
	assert_int_equal(vdev_pveoi_msr_read(f->p), 0);
	assert_false(vdev_pveoi_armed(f->p));
	f->mv.ram[WORD] = 0;
	assert_int_equal(vdev_pveoi_after_exit(f->p, NULL), 0); /* no phantom EOI */
	assert_int_equal(vdev_pveoi_before_entry(f->p, &a), 0);
}

/* Build a PEOI section by hand. */
static int load_blob(struct fix *f, uint64_t msr, int armed, int vector, int drop_field,
		     uint16_t version, vdev_pveoi *dst)
{
	vdev_state_writer *w;
	vdev_state_reader *r;
	const void *data;
	size_t len;
	int rc;

	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_state_begin(w, VDEV_STATE_TAG('P', 'E', 'O', 'I'), version,
					  VDEV_STATE_F_REQUIRED), 0);
	if (drop_field != 0)
		assert_int_equal(vdev_state_put_u64(w, VDEV_STATE_TAG('M', 'S', 'R', ' '), msr), 0);
	if (drop_field != 1)
		assert_int_equal(vdev_state_put_u8(w, VDEV_STATE_TAG('A', 'R', 'M', 'D'),
						   (uint8_t)armed), 0);
	if (drop_field != 2)
		assert_int_equal(vdev_state_put_u8(w, VDEV_STATE_TAG('V', 'E', 'C', 'T'),
						   (uint8_t)vector), 0);
	assert_int_equal(vdev_state_end(w), 0);
	assert_int_equal(vdev_state_writer_finish(w, &data, &len), 0);
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	rc = vdev_pveoi_load(dst ? dst : f->p, r);
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);
	return rc;
}

static void test_save_load(void **state)
{
	struct fix *f = *state;
	struct vdev_pveoi_apic a = one_edge(0x44);
	vdev_state_writer *w;
	vdev_state_reader *r;
	vdev_pveoi *q;
	const void *data;
	size_t len;
	uint32_t v = 0;

	assert_int_equal(vdev_pveoi_msr_write(f->p, WORD | 1), 0);
	assert_int_equal(vdev_pveoi_before_entry(f->p, &a), 1);
	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_pveoi_save(f->p, w), 0);
	assert_int_equal(vdev_state_writer_finish(w, &data, &len), 0);
	assert_int_equal(vdev_pveoi_new(f->mv.ctx, &q), 0);
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	assert_int_equal(vdev_pveoi_load(q, r), 0);
	vdev_state_reader_free(r);
	vdev_state_writer_free(w);
	/* The loaded copy is armed on the same word and sees the guest's EOI. */
	assert_int_equal(vdev_pveoi_msr_read(q), WORD | 1);
	assert_true(vdev_pveoi_armed(q));
	f->mv.ram[WORD] = 0;
	assert_int_equal(vdev_pveoi_after_exit(q, &v), 1);
	assert_int_equal(v, 0x44);
	vdev_pveoi_free(q);

	/* Hostile streams: nothing changes. */
	vdev_pveoi_reset(f->p);
	assert_int_equal(load_blob(f, WORD | 3, 0, 0, -1, 1, NULL), -ERANGE);
	assert_int_equal(load_blob(f, RAM | 1, 0, 0, -1, 1, NULL), -ERANGE);
	assert_int_equal(load_blob(f, WORD, 1, 0x40, -1, 1, NULL), -ERANGE);
	assert_int_equal(load_blob(f, WORD | 1, 1, 5, -1, 1, NULL), -ERANGE);
	assert_int_equal(load_blob(f, WORD | 1, 2, 0x40, -1, 1, NULL), -ERANGE);
	assert_int_equal(load_blob(f, WORD | 1, 0, 0, 0, 1, NULL), -EBADMSG);
	assert_int_equal(load_blob(f, WORD | 1, 0, 0, -1, 2, NULL), -EPROTONOSUPPORT);
	assert_int_equal(vdev_pveoi_msr_read(f->p), 0);
	assert_false(vdev_pveoi_armed(f->p));
	assert_int_equal(load_blob(f, WORD | 1, 1, 0x40, -1, 1, NULL), 0);
	assert_true(vdev_pveoi_armed(f->p));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_msr_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arming_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_test_and_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_word, setup, teardown),
		cmocka_unit_test_setup_teardown(test_word_leaves_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_logging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
