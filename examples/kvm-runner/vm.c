/* SPDX-License-Identifier: MIT */
/*
 * The KVM virtual machine: guest RAM with a PCI hole below 4 GiB, the BIOS
 * ROM at the top of 4 GiB, the in-kernel irqchip (PIC + IOAPIC + LAPIC) and
 * PIT, and the memory slots that model the i440FX PAM shadow registers.
 *
 * Slots:  0      RAM [0, 0xc0000)
 *         1..12  RAM 16 KiB PAM chunks 0xc0000..0xeffff
 *         13     RAM 64 KiB PAM chunk 0xf0000..0xfffff (the BIOS segment)
 *         14     RAM [1 MiB, ram_below)
 *         15     RAM [4 GiB, 4 GiB + ram_above)
 *         16     BIOS ROM [4 GiB - size, 4 GiB), read-only
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"

#define SLOT_LOW 0
#define SLOT_PAM0 1
#define SLOT_HIGH 14
#define SLOT_ABOVE 15
#define SLOT_BIOS 16
#define PAM_CHUNKS 13

/* Where KVM may put its real-mode TSS and identity page table (reserved in e820). */
#define KVM_TSS_ADDR 0xfffbd000u
#define KVM_IDMAP_ADDR 0xfffbc000u

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t vm_clock_ns(struct vm *vm)
{
	return mono_ns() - vm->clock_base_ns;
}

/* PAM chunk @i: chunk 0 is the F segment, 1..12 are the 16 KiB chunks from 0xc0000. */
static void pam_chunk(unsigned int i, uint64_t *gpa, uint64_t *len)
{
	if (i == PAM_CHUNKS - 1) {
		*gpa = 0xf0000;
		*len = 0x10000;
	} else {
		*gpa = 0xc0000 + (uint64_t)i * 0x4000;
		*len = 0x4000;
	}
}

static int set_slot(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t len, void *hva,
		    uint32_t flags)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = len,
		.userspace_addr = (uintptr_t)hva,
	};

	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return -errno;
	return 0;
}

/*
 * Make the PAM chunks in @ro_mask (bit i = chunk i, as pam_chunk()) read-only
 * and the others writable. KVM cannot change a slot's flags in place: the
 * slot is deleted and added again. Writes to a read-only chunk exit as MMIO
 * and are dropped (shadow_write), as on a real i440FX with WE clear.
 */
int vm_set_pam_readonly(struct vm *vm, uint32_t ro_mask)
{
	unsigned int i;
	int rc;

	if (!vm->has_readonly_mem)
		return 0;
	for (i = 0; i < PAM_CHUNKS; i++) {
		uint32_t bit = 1u << i;
		uint64_t gpa, len;

		if ((vm->pam_ro ^ ro_mask) & bit) {
			pam_chunk(i, &gpa, &len);
			rc = set_slot(vm, SLOT_PAM0 + i, gpa, 0, vm->ram + gpa, 0);
			if (!rc)
				rc = set_slot(vm, SLOT_PAM0 + i, gpa, len, vm->ram + gpa,
					      (ro_mask & bit) ? KVM_MEM_READONLY : 0);
			if (rc)
				return rc;
		}
	}
	vm->pam_ro = ro_mask;
	return 0;
}

/* Accesses that reach here hit a write-protected shadow chunk. */
static void shadow_access(void *opaque, uint64_t offset, uint8_t *data, unsigned int len,
			  int is_write)
{
	struct vm *vm = opaque;

	if (!is_write)
		memcpy(data, vm->ram + 0xc0000 + offset, len);
	/* writes: dropped, the chunk is read-only */
}

static void rom_access(void *opaque, uint64_t offset, uint8_t *data, unsigned int len,
		       int is_write)
{
	struct vm *vm = opaque;

	if (!is_write)
		memcpy(data, vm->bios + offset, len);
}

int vm_create(struct vm *vm, const struct vm_opts *opts)
{
	struct kvm_pit_config pit = { .flags = 0 };
	unsigned int i;
	int rc;

	vm->opts = opts;
	vm->kvm_fd = vm->vm_fd = vm->stop_efd = -1;
	vm->clock_base_ns = mono_ns();
	pthread_mutex_init(&vm->lock, NULL);

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		rc = -errno;
		fprintf(stderr, "vdev-run: /dev/kvm: %s\n", strerror(errno));
		return rc;
	}
	if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		fprintf(stderr, "vdev-run: unexpected KVM API version\n");
		return -ENOTSUP;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		rc = -errno;
		fprintf(stderr, "vdev-run: KVM_CREATE_VM: %s\n", strerror(errno));
		return rc;
	}
	vm->has_readonly_mem = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) > 0;
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0)
		return -errno;

	/* Intel needs these below 4 GiB for real mode; AMD ignores them. */
	ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR);
	{
		uint64_t idmap = KVM_IDMAP_ADDR;

		ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		rc = -errno;
		fprintf(stderr, "vdev-run: KVM_CREATE_IRQCHIP: %s\n", strerror(errno));
		return rc;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		rc = -errno;
		fprintf(stderr, "vdev-run: KVM_CREATE_PIT2: %s\n", strerror(errno));
		return rc;
	}

	vm->ram_size = opts->ram_size;
	vm->ram_below = vm->ram_size < PCI_HOLE_START ? vm->ram_size : PCI_HOLE_START;
	vm->ram_above = vm->ram_size - vm->ram_below;
	vm->ram = mmap(NULL, vm->ram_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->ram == MAP_FAILED) {
		vm->ram = NULL;
		return -ENOMEM;
	}
	rc = set_slot(vm, SLOT_LOW, 0, 0xc0000, vm->ram, 0);
	for (i = 0; !rc && i < PAM_CHUNKS; i++) {
		uint64_t gpa, len;

		pam_chunk(i, &gpa, &len);
		rc = set_slot(vm, SLOT_PAM0 + i, gpa, len, vm->ram + gpa, 0);
	}
	if (!rc)
		rc = set_slot(vm, SLOT_HIGH, BIOS_LOW_END, vm->ram_below - BIOS_LOW_END,
			      vm->ram + BIOS_LOW_END, 0);
	if (!rc && vm->ram_above)
		rc = set_slot(vm, SLOT_ABOVE, GPA_4G, vm->ram_above, vm->ram + vm->ram_below, 0);
	if (rc) {
		fprintf(stderr, "vdev-run: KVM_SET_USER_MEMORY_REGION: %s\n", strerror(-rc));
		return rc;
	}
	return mmio_register(vm, 0xc0000, 0x40000, shadow_access, vm, NULL, 0);
}

/*
 * Load the BIOS: the whole image at the top of 4 GiB (read-only), and its
 * last 128 KiB at 0xe0000 in RAM, which is what the PAM registers shadow.
 * On an i440FX those low reads go to the ROM until the BIOS enables the
 * shadow RAM and copies itself; preloading the RAM with the same bytes
 * gives the BIOS the same view without emulating ROM-mode reads.
 */
int vm_load_bios(struct vm *vm, const char *path)
{
	struct stat st;
	uint64_t low;
	ssize_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		fprintf(stderr, "vdev-run: --bios %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (st.st_size < 0x10000 || st.st_size > 16 << 20 || (st.st_size & 0xffff)) {
		fprintf(stderr, "vdev-run: --bios %s: size %lld is not a multiple of 64 KiB "
			"between 64 KiB and 16 MiB\n", path, (long long)st.st_size);
		close(fd);
		return -EINVAL;
	}
	vm->bios_size = (uint64_t)st.st_size;
	vm->bios = mmap(NULL, vm->bios_size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vm->bios == MAP_FAILED) {
		vm->bios = NULL;
		close(fd);
		return -ENOMEM;
	}
	n = pread(fd, vm->bios, vm->bios_size, 0);
	close(fd);
	if (n != (ssize_t)vm->bios_size) {
		fprintf(stderr, "vdev-run: --bios %s: short read\n", path);
		return -EIO;
	}
	low = vm->bios_size < 0x20000 ? vm->bios_size : 0x20000;
	memcpy(vm->ram + BIOS_LOW_END - low, vm->bios + vm->bios_size - low, low);
	rc = set_slot(vm, SLOT_BIOS, GPA_4G - vm->bios_size, vm->bios_size, vm->bios,
		      vm->has_readonly_mem ? KVM_MEM_READONLY : 0);
	if (rc) {
		fprintf(stderr, "vdev-run: mapping the BIOS: %s\n", strerror(-rc));
		return rc;
	}
	/* Writes to a read-only ROM exit as MMIO: accept and drop them. */
	if (vm->has_readonly_mem)
		return mmio_register(vm, GPA_4G - vm->bios_size, vm->bios_size, rom_access, vm,
				     NULL, 1);
	return 0;
}

void vm_destroy(struct vm *vm)
{
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	if (vm->bios)
		munmap(vm->bios, vm->bios_size);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	pthread_mutex_destroy(&vm->lock);
}

void vm_irq_line(struct vm *vm, unsigned int gsi, int level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = level ? 1 : 0 };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
		fprintf(stderr, "vdev-run: KVM_IRQ_LINE %u: %s\n", gsi, strerror(errno));
}

int vm_signal_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};

	if (ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
		return -errno;
	return 0;
}

void *vm_gpa_to_hva(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa < vm->ram_below && len <= vm->ram_below - gpa)
		return vm->ram + gpa;
	if (gpa >= GPA_4G && gpa - GPA_4G < vm->ram_above && len <= vm->ram_above - (gpa - GPA_4G))
		return vm->ram + vm->ram_below + (gpa - GPA_4G);
	return NULL;
}

void vm_request_stop(struct vm *vm, int status, const char *reason)
{
	uint64_t one = 1;
	int expected = 0;

	/* The first request wins; the status is read after the vCPU thread ended. */
	if (__atomic_compare_exchange_n(&vm->stop, &expected, 1, 0, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE)) {
		vm->exit_status = status;
		vm->stop_reason = reason;
		if (write(vm->stop_efd, &one, sizeof(one)) < 0)
			perror("vdev-run: stop eventfd");
	}
	vcpu_kick(vm);
}
