/* SPDX-License-Identifier: MIT */
/*
 * The exit port (isa-debug-exit style) and small legacy ports.
 *
 * Port 0x501: a write of value v (any width, the low byte counts) ends the
 * run; vdev-run exits with status (v << 1) | 1, always odd, so a guest can
 * never fake the runner's own statuses (2 usage, 4 reset, 6 timeout, 70
 * failure). Example: `mov $0x10, %al; out %al, $0x501` exits with 33.
 *
 * Port 0x80 (POST codes) is accepted and ignored; port 0x92 (System Control
 * Port A) keeps its value with A20 reported enabled; bit 0 (fast reset)
 * ends the run like any reset.
 */
#include <string.h>

#include "runner.h"

#define EXIT_PORT 0x501
#define POST_PORT 0x80
#define PORT_A 0x92

static void exit_access(void *opaque, uint64_t offset, uint8_t *data, unsigned int len,
			int is_write)
{
	struct vm *vm = opaque;

	(void)offset;
	if (!is_write) {
		memset(data, 0xff, len);
		return;
	}
	vm_request_stop(vm, ((data[0] & 0x7f) << 1) | 1, "guest wrote the exit port");
}

static void post_access(void *opaque, uint64_t offset, uint8_t *data, unsigned int len,
			int is_write)
{
	(void)opaque;
	(void)offset;
	if (!is_write)
		memset(data, 0, len);
}

static void porta_access(void *opaque, uint64_t offset, uint8_t *data, unsigned int len,
			 int is_write)
{
	struct vm *vm = opaque;

	(void)offset;
	(void)len;
	if (is_write) {
		vm->port92 = data[0] & ~1u;
		if (data[0] & 1)
			vm_request_stop(vm, RUN_EXIT_RESET, "guest reset (port 0x92)");
	} else {
		data[0] = vm->port92 | 0x02;
	}
}

int exit_port_create(struct vm *vm)
{
	/* 4 bytes wide so outw/outl land here too. */
	return pio_register(vm, EXIT_PORT, 4, exit_access, vm);
}

int platform_ports_create(struct vm *vm)
{
	int rc = pio_register(vm, POST_PORT, 1, post_access, vm);

	if (!rc)
		rc = pio_register(vm, PORT_A, 1, porta_access, vm);
	return rc;
}
