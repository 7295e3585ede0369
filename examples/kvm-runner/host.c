/* SPDX-License-Identifier: MIT */
/*
 * The hooks vdev-run hands libvdev (struct vdev_host_ops): log lines to
 * stderr, the VM clock (host CLOCK_MONOTONIC shifted so a restored VM
 * continues its own timeline), INTx to the PIIX3 PIRQ router, MSI to
 * KVM_SIGNAL_MSI, and timer changes to the I/O thread. libvdev calls them
 * on the thread that called into it, always under the big lock.
 */
#include <errno.h>
#include <string.h>

#include "runner.h"

static void host_log(void *opaque, enum vdev_log_level level, const char *msg)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	(void)opaque;
	fprintf(stderr, "vdev-run: libvdev %s: %s\n", names[level & 3], msg);
}

static uint64_t host_clock(void *opaque)
{
	return vm_clock_ns(opaque);
}

static void host_intx(void *opaque, uint32_t source_id, unsigned int pin, int level)
{
	pci_host_intx(opaque, source_id, pin, level);
}

static int host_msi(void *opaque, uint32_t source_id, uint64_t addr, uint32_t data)
{
	(void)source_id;
	return vm_signal_msi(opaque, addr, data);
}

static void host_timers_changed(void *opaque)
{
	iothread_kick(opaque);
}

int host_ctx_create(struct vm *vm)
{
	struct vdev_host_ops ops;
	int rc;

	memset(&ops, 0, sizeof(ops));
	ops.struct_size = sizeof(ops);
	ops.opaque = vm;
	ops.log = host_log;
	ops.clock_ns = host_clock;
	ops.intx_set = host_intx;
	ops.msi_send = host_msi;
	ops.timers_changed = host_timers_changed;
	rc = vdev_ctx_new(&ops, &vm->ctx);
	if (rc) {
		fprintf(stderr, "vdev-run: vdev_ctx_new: %s\n", vdev_strerror(rc));
		return rc;
	}
	vdev_ctx_set_log_level(vm->ctx, vm->opts->verbose > 1 ? VDEV_LOG_DEBUG :
				vm->opts->verbose ? VDEV_LOG_INFO : VDEV_LOG_WARN);
	rc = vdev_mem_region_add(vm->ctx, 0, vm->ram_below, vm->ram, 0);
	if (!rc && vm->ram_above)
		rc = vdev_mem_region_add(vm->ctx, GPA_4G, vm->ram_above, vm->ram + vm->ram_below,
					 0);
	if (rc)
		fprintf(stderr, "vdev-run: registering guest RAM: %s\n", vdev_strerror(rc));
	return rc;
}
