/* SPDX-License-Identifier: MIT */
/*
 * The debug console at port 0x402: SeaBIOS (built with CONFIG_DEBUG_IO, as
 * Debian's is) writes its log there byte by byte. With --debugcon FILE the
 * bytes go to FILE; without, they are dropped (the port still exists, so it
 * is not counted as an unknown access). Reads return 0xe9, which is how
 * firmware detects the port.
 */
#include <errno.h>
#include <string.h>

#include "runner.h"

#define DEBUGCON_PORT 0x402

static void debugcon_access(void *opaque, uint64_t offset, uint8_t *data, unsigned int len,
			    int is_write)
{
	struct vm *vm = opaque;
	unsigned int i;

	(void)offset;
	if (!is_write) {
		memset(data, 0xe9, len);
		return;
	}
	if (vm->debugcon) {
		fwrite(data, 1, len, vm->debugcon);
		for (i = 0; i < len; i++)
			if (data[i] == '\n')
				fflush(vm->debugcon);
	}
}

int debugcon_create(struct vm *vm, const char *path)
{
	if (path) {
		vm->debugcon = fopen(path, "we");
		if (!vm->debugcon) {
			fprintf(stderr, "vdev-run: --debugcon %s: %s\n", path, strerror(errno));
			return -errno;
		}
	}
	return pio_register(vm, DEBUGCON_PORT, 1, debugcon_access, vm);
}

void debugcon_destroy(struct vm *vm)
{
	if (vm->debugcon)
		fclose(vm->debugcon);
	vm->debugcon = NULL;
}
