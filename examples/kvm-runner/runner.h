/* SPDX-License-Identifier: MIT */
/*
 * vdev-run: a small KVM runner that embeds libvdev. This header ties the
 * pieces together; each .c file has one job (kvmtool's layout):
 *
 *   main.c      command line            vm.c       KVM VM, RAM slots, irqchip, PIT
 *   vcpu.c      vCPU thread, exit loop  pio.c/mmio.c  handler tables
 *   pci_host.c  i440FX + PIIX3, PIRQs   fw_cfg.c   QEMU firmware config
 *   cmos.c      RTC and CMOS RAM        serial.c   16550 on COM1
 *   debugcon.c  port 0x402              exit.c     exit port 0x501
 *   devices.c   libvdev devices         lunspec.c  LUN addresses for boot=
 *   host.c      vdev_host_ops           iothread.c block completions + timers
 *   bzimage.c   Linux boot protocol     snapshot.c whole-VM save/load
 *   cpuid.c     KVM_GET_SUPPORTED_CPUID
 *
 * Locking: one "big lock" (vm->lock) serialises every device model and the
 * libvdev context. The vCPU thread takes it for each trapped access; the
 * I/O thread for block completions and timers.
 */
#ifndef VDEV_RUN_RUNNER_H
#define VDEV_RUN_RUNNER_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include <vdev/vdev.h>

struct vm;
struct vcpu;

/* Exit statuses of vdev-run (documented in README.md). */
#define RUN_EXIT_USAGE 2     /* bad command line */
#define RUN_EXIT_RESET 4     /* guest reset, shutdown or triple fault */
#define RUN_EXIT_TIMEOUT 6   /* --timeout elapsed */
#define RUN_EXIT_FAILURE 70  /* setup or KVM failure */
/* Odd statuses come from the guest through the exit port: (v << 1) | 1. */

/* Guest physical layout. */
#define GPA_4G 0x100000000ull
#define PCI_HOLE_START 0xe0000000ull /* low RAM never reaches past this */
#define BIOS_LOW_END 0x100000ull

/* ---- handler tables (pio.c, mmio.c) ---------------------------------- */

/* One trapped access: @data holds @len bytes (little-endian). */
typedef void (*io_handler)(void *opaque, uint64_t offset, uint8_t *data, unsigned int len,
			   int is_write);

#define IO_TABLE_MAX 64

struct io_range {
	uint64_t base, len;
	io_handler fn;
	void *opaque;
	const void *owner; /* for removal */
	int owner_id;
};

struct io_table {
	struct io_range r[IO_TABLE_MAX];
	unsigned int n;
	uint64_t unknown_reads, unknown_writes;
	uint64_t last_unknown;
};

int io_table_add(struct io_table *t, uint64_t base, uint64_t len, io_handler fn, void *opaque,
		 const void *owner, int owner_id);
void io_table_remove_owner(struct io_table *t, const void *owner, int owner_id);
/* @return 1 if a handler took the access, 0 if it was unknown (counted; reads give 0xff). */
int io_table_dispatch(struct io_table *t, uint64_t addr, uint8_t *data, unsigned int len,
		      int is_write);

int pio_register(struct vm *vm, uint16_t base, uint16_t len, io_handler fn, void *opaque);
int mmio_register(struct vm *vm, uint64_t base, uint64_t len, io_handler fn, void *opaque,
		  const void *owner, int owner_id);
void mmio_unregister(struct vm *vm, const void *owner, int owner_id);

/* ---- platform devices ------------------------------------------------- */

struct serial;
struct cmos;
struct fw_cfg;
struct pci_host;
struct devices;
struct iothread;

struct vm_opts {
	const char *bios;
	const char *kernel, *append, *initrd;
	uint64_t ram_size;
	const char *serial;   /* "stdio", "none" or a file */
	const char *debugcon; /* file or NULL */
	const char *save_state, *load_state;
	const char *devices[16];
	unsigned int n_devices;
	int sercon;
	unsigned int timeout_s;
	int verbose;
	const char *cpu_model;
};

struct vm {
	const struct vm_opts *opts;
	int kvm_fd, vm_fd;
	int has_readonly_mem;

	uint8_t *ram;           /* all guest RAM, low part first */
	uint64_t ram_size;      /* total */
	uint64_t ram_below;     /* bytes of RAM at gpa 0 */
	uint64_t ram_above;     /* bytes of RAM at 4 GiB */
	uint8_t *bios;          /* ROM image, mapped read-only below 4 GiB */
	uint64_t bios_size;
	uint32_t pam_ro;        /* PAM chunks currently write-protected (bit per chunk) */

	pthread_mutex_t lock;   /* the big lock */
	vdev_ctx *ctx;
	uint64_t clock_base_ns; /* guest clock = host monotonic - base */

	struct io_table pio, mmio;

	struct serial *serial;
	struct cmos *cmos;
	struct fw_cfg *fw_cfg;
	struct pci_host *pci;
	struct devices *devs;
	struct iothread *io;
	FILE *debugcon;
	uint8_t port92;

	struct vcpu *vcpu;

	/* End of the run: set once, under the lock. */
	int stop;
	int exit_status;
	const char *stop_reason;
	int stop_efd; /* eventfd: written when stop is set */
};

/* vm.c */
int vm_create(struct vm *vm, const struct vm_opts *opts);
void vm_destroy(struct vm *vm);
int vm_load_bios(struct vm *vm, const char *path);
void vm_irq_line(struct vm *vm, unsigned int gsi, int level);
int vm_signal_msi(struct vm *vm, uint64_t addr, uint32_t data);
void *vm_gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len);
void vm_request_stop(struct vm *vm, int status, const char *reason);
int vm_set_pam_readonly(struct vm *vm, uint32_t ro_mask);
uint64_t vm_clock_ns(struct vm *vm);

/* vcpu.c */
int vcpu_create(struct vm *vm);
int vcpu_start(struct vm *vm);
void vcpu_kick(struct vm *vm);
int vcpu_pause(struct vm *vm);
void vcpu_resume(struct vm *vm);
void vcpu_join(struct vm *vm);
void vcpu_destroy(struct vm *vm);
int vcpu_fd(struct vm *vm);
int vcpu_set_long_mode(struct vm *vm, uint64_t rip, uint64_t rsi, uint64_t cr3, uint64_t gdt);

/* cpuid.c */
int cpuid_setup(struct vm *vm, int vcpu_fd);

/* serial.c / debugcon.c / exit.c / cmos.c / fw_cfg.c */
int serial_create(struct vm *vm, const char *dest);
void serial_destroy(struct vm *vm);
int debugcon_create(struct vm *vm, const char *path);
void debugcon_destroy(struct vm *vm);
int exit_port_create(struct vm *vm);
int platform_ports_create(struct vm *vm);
int cmos_create(struct vm *vm);
void cmos_destroy(struct vm *vm);
void cmos_set_boot_order(struct vm *vm, const char *order);
int fw_cfg_create(struct vm *vm);
void fw_cfg_destroy(struct vm *vm);
int fw_cfg_add_file(struct vm *vm, const char *name, const void *data, uint32_t len);
int fw_cfg_add_item(struct vm *vm, uint16_t key, const void *data, uint32_t len);

/* pci_host.c */
int pci_host_create(struct vm *vm);
void pci_host_destroy(struct vm *vm);
int pci_host_attach(struct vm *vm, vdev_pci_func *f, unsigned int *slot);
int pci_host_next_slot(struct vm *vm);
void pci_host_intx(struct vm *vm, uint32_t devfn, unsigned int pin, int level);

/* host.c */
int host_ctx_create(struct vm *vm);

/* iothread.c */
int iothread_create(struct vm *vm);
int iothread_add_blk_loop(struct vm *vm, vdev_blk_loop *loop);
int iothread_start(struct vm *vm);
void iothread_kick(struct vm *vm);
void iothread_destroy(struct vm *vm);

/* devices.c */
int devices_create(struct vm *vm);
void devices_destroy(struct vm *vm);
int devices_save(struct vm *vm, vdev_state_writer *w);
int devices_load(struct vm *vm, vdev_state_reader *r);
unsigned int devices_count(struct vm *vm);

/* lunspec.c */
int lunspec_address(const char *item, unsigned int *target, unsigned int *lun,
		    const char **value);

/* snapshot.c */
int snapshot_save(struct vm *vm, const char *path);
int snapshot_load(struct vm *vm, const char *path);

/* platform device state, for snapshot.c */
int cmos_save(struct vm *vm, vdev_state_writer *w);
int cmos_load(struct vm *vm, const struct vdev_state_record *rec);
int serial_save(struct vm *vm, vdev_state_writer *w);
int serial_load(struct vm *vm, const struct vdev_state_record *rec);
int fw_cfg_save(struct vm *vm, vdev_state_writer *w);
int fw_cfg_load(struct vm *vm, const struct vdev_state_record *rec);
int pci_host_save(struct vm *vm, vdev_state_writer *w);
int pci_host_load(struct vm *vm, const struct vdev_state_record *rec);

#endif /* VDEV_RUN_RUNNER_H */
