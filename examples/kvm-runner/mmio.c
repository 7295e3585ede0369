/* SPDX-License-Identifier: MIT */
/*
 * MMIO handler table: guest-physical ranges that are not RAM (PCI BARs,
 * write-protected shadow RAM) and the code that serves them. PCI BARs come
 * and go as the guest programs them, so ranges carry an owner for removal.
 */
#include "runner.h"

int mmio_register(struct vm *vm, uint64_t base, uint64_t len, io_handler fn, void *opaque,
		  const void *owner, int owner_id)
{
	return io_table_add(&vm->mmio, base, len, fn, opaque, owner, owner_id);
}

void mmio_unregister(struct vm *vm, const void *owner, int owner_id)
{
	io_table_remove_owner(&vm->mmio, owner, owner_id);
}
