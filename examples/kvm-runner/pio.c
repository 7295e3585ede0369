/* SPDX-License-Identifier: MIT */
/*
 * Handler tables for trapped port and memory accesses. A table is a short
 * array of ranges (a PC has a few dozen); lookups are linear. Accesses no
 * handler claims are counted and reported when the run ends: a guest that
 * pokes around never crashes the runner.
 */
#include <errno.h>
#include <string.h>

#include "runner.h"

int io_table_add(struct io_table *t, uint64_t base, uint64_t len, io_handler fn, void *opaque,
		 const void *owner, int owner_id)
{
	unsigned int i;

	if (!len || base + len < base || !fn)
		return -EINVAL;
	for (i = 0; i < t->n; i++) {
		const struct io_range *r = &t->r[i];

		if (base < r->base + r->len && r->base < base + len)
			return -EEXIST;
	}
	if (t->n == IO_TABLE_MAX)
		return -ENOSPC;
	t->r[t->n++] = (struct io_range){ base, len, fn, opaque, owner, owner_id };
	return 0;
}

void io_table_remove_owner(struct io_table *t, const void *owner, int owner_id)
{
	unsigned int i = 0;

	while (i < t->n) {
		if (t->r[i].owner == owner && t->r[i].owner_id == owner_id) {
			t->r[i] = t->r[t->n - 1];
			t->n--;
		} else {
			i++;
		}
	}
}

int io_table_dispatch(struct io_table *t, uint64_t addr, uint8_t *data, unsigned int len,
		      int is_write)
{
	unsigned int i;

	for (i = 0; i < t->n; i++) {
		const struct io_range *r = &t->r[i];

		/* The whole access must fall inside the range. */
		if (addr >= r->base && addr - r->base < r->len && len <= r->len - (addr - r->base)) {
			r->fn(r->opaque, addr - r->base, data, len, is_write);
			return 1;
		}
	}
	if (is_write) {
		t->unknown_writes++;
	} else {
		t->unknown_reads++;
		memset(data, 0xff, len);
	}
	t->last_unknown = addr;
	return 0;
}

int pio_register(struct vm *vm, uint16_t base, uint16_t len, io_handler fn, void *opaque)
{
	return io_table_add(&vm->pio, base, len, fn, opaque, NULL, 0);
}
