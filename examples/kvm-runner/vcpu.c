/* SPDX-License-Identifier: MIT */
/*
 * The vCPU: one thread running KVM_RUN and dispatching its exits. Port and
 * MMIO exits go to the handler tables under the big lock; resets, shutdowns
 * and KVM failures end the run. Another thread stops or pauses the vCPU by
 * setting a flag, immediate_exit and sending it SIGUSR2 (whose handler does
 * nothing: it only breaks KVM_RUN with EINTR).
 */
#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runner.h"

struct vcpu {
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	int started;
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	int pause_req; /* atomic */
	int paused;    /* under pause_lock */
	int done;      /* under pause_lock: the thread left its loop */
};

static void kick_handler(int sig)
{
	(void)sig;
}

int vcpu_create(struct vm *vm)
{
	struct vcpu *v = calloc(1, sizeof(*v));
	struct sigaction sa;
	int mmap_size, rc;

	if (!v)
		return -ENOMEM;
	vm->vcpu = v;
	pthread_mutex_init(&v->pause_lock, NULL);
	pthread_cond_init(&v->pause_cond, NULL);
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (v->fd < 0) {
		rc = -errno;
		fprintf(stderr, "vdev-run: KVM_CREATE_VCPU: %s\n", strerror(errno));
		return rc;
	}
	mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(struct kvm_run))
		return -EINVAL;
	v->run_size = (size_t)mmap_size;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return -errno;
	}
	rc = cpuid_setup(vm, v->fd);
	if (rc)
		return rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler; /* no SA_RESTART: KVM_RUN returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	return 0;
}

int vcpu_fd(struct vm *vm)
{
	return vm->vcpu->fd;
}

void vcpu_kick(struct vm *vm)
{
	struct vcpu *v = vm->vcpu;

	if (!v || !v->run)
		return;
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELEASE);
	if (v->started && !pthread_equal(pthread_self(), v->thread))
		pthread_kill(v->thread, SIGUSR2);
}

static void handle_io(struct vm *vm, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint32_t i;

	/* String instructions come as one exit with count repetitions. */
	pthread_mutex_lock(&vm->lock);
	for (i = 0; i < run->io.count; i++)
		io_table_dispatch(&vm->pio, run->io.port, data + (size_t)i * run->io.size,
				  run->io.size, run->io.direction == KVM_EXIT_IO_OUT);
	pthread_mutex_unlock(&vm->lock);
}

static void handle_mmio(struct vm *vm, struct kvm_run *run)
{
	if (run->mmio.len > sizeof(run->mmio.data))
		return;
	pthread_mutex_lock(&vm->lock);
	io_table_dispatch(&vm->mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
			  run->mmio.is_write);
	pthread_mutex_unlock(&vm->lock);
}

/* Park while a pause is requested (for snapshots). */
static void maybe_pause(struct vcpu *v)
{
	pthread_mutex_lock(&v->pause_lock);
	if (__atomic_load_n(&v->pause_req, __ATOMIC_ACQUIRE)) {
		v->paused = 1;
		pthread_cond_broadcast(&v->pause_cond);
		while (__atomic_load_n(&v->pause_req, __ATOMIC_ACQUIRE))
			pthread_cond_wait(&v->pause_cond, &v->pause_lock);
		v->paused = 0;
	}
	pthread_mutex_unlock(&v->pause_lock);
}

static void *vcpu_main(void *arg)
{
	struct vm *vm = arg;
	struct vcpu *v = vm->vcpu;
	struct kvm_run *run = v->run;
	char msg[160];

	while (!__atomic_load_n(&vm->stop, __ATOMIC_ACQUIRE)) {
		maybe_pause(v);
		if (__atomic_load_n(&vm->stop, __ATOMIC_ACQUIRE))
			break;
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_RELEASE);
				continue;
			}
			snprintf(msg, sizeof(msg), "KVM_RUN: %s", strerror(errno));
			fprintf(stderr, "vdev-run: %s\n", msg);
			vm_request_stop(vm, RUN_EXIT_FAILURE, "KVM_RUN failed");
			break;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			handle_io(vm, run);
			break;
		case KVM_EXIT_MMIO:
			handle_mmio(vm, run);
			break;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_HLT:
			/* Only without an in-kernel LAPIC; we always have one. */
			usleep(1000);
			break;
		case KVM_EXIT_SHUTDOWN:
			vm_request_stop(vm, RUN_EXIT_RESET, "guest shutdown (triple fault)");
			break;
		case KVM_EXIT_SYSTEM_EVENT:
			vm_request_stop(vm, RUN_EXIT_RESET, "guest system event (reset/off)");
			break;
		case KVM_EXIT_FAIL_ENTRY:
			fprintf(stderr, "vdev-run: KVM entry failed, reason 0x%llx\n",
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			vm_request_stop(vm, RUN_EXIT_FAILURE, "KVM entry failed");
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			fprintf(stderr, "vdev-run: KVM internal error, suberror %u\n",
				run->internal.suberror);
			vm_request_stop(vm, RUN_EXIT_FAILURE, "KVM internal error");
			break;
		default:
			fprintf(stderr, "vdev-run: unhandled KVM exit %u\n", run->exit_reason);
			vm_request_stop(vm, RUN_EXIT_FAILURE, "unhandled KVM exit");
			break;
		}
	}
	pthread_mutex_lock(&v->pause_lock);
	v->done = 1;
	pthread_cond_broadcast(&v->pause_cond);
	pthread_mutex_unlock(&v->pause_lock);
	return NULL;
}

int vcpu_start(struct vm *vm)
{
	struct vcpu *v = vm->vcpu;
	int rc;

	rc = pthread_create(&v->thread, NULL, vcpu_main, vm);
	if (rc)
		return -rc;
	v->started = 1;
	return 0;
}

/* Stop the vCPU outside KVM_RUN. @return 0, or -ESRCH if it already ended. */
int vcpu_pause(struct vm *vm)
{
	struct vcpu *v = vm->vcpu;
	int rc = 0;

	__atomic_store_n(&v->pause_req, 1, __ATOMIC_RELEASE);
	vcpu_kick(vm);
	pthread_mutex_lock(&v->pause_lock);
	while (!v->paused && !v->done)
		pthread_cond_wait(&v->pause_cond, &v->pause_lock);
	if (v->done)
		rc = -ESRCH;
	pthread_mutex_unlock(&v->pause_lock);
	return rc;
}

void vcpu_resume(struct vm *vm)
{
	struct vcpu *v = vm->vcpu;

	pthread_mutex_lock(&v->pause_lock);
	__atomic_store_n(&v->pause_req, 0, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&v->pause_cond);
	pthread_mutex_unlock(&v->pause_lock);
}

void vcpu_join(struct vm *vm)
{
	struct vcpu *v = vm->vcpu;

	if (v && v->started) {
		pthread_join(v->thread, NULL);
		v->started = 0;
	}
}

void vcpu_destroy(struct vm *vm)
{
	struct vcpu *v = vm->vcpu;

	if (!v)
		return;
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->fd >= 0)
		close(v->fd);
	pthread_mutex_destroy(&v->pause_lock);
	pthread_cond_destroy(&v->pause_cond);
	free(v);
	vm->vcpu = NULL;
}

/*
 * Enter 64-bit mode directly (Linux boot protocol, "64-bit boot"): paging on
 * with the identity map at @cr3, a flat 64-bit code segment (selector 0x10)
 * and data segments (0x18) from the GDT at @gdt, interrupts off, RSI =
 * boot_params.
 */
int vcpu_set_long_mode(struct vm *vm, uint64_t rip, uint64_t rsi, uint64_t cr3, uint64_t gdt)
{
	struct vcpu *v = vm->vcpu;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 11, .present = 1,
		.dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = {
		.base = 0, .limit = 0xffffffff, .selector = 0x18, .type = 3, .present = 1,
		.dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.gdt.base = gdt;
	sregs.gdt.limit = 4 * 8 - 1;
	sregs.cr3 = cr3;
	sregs.cr4 = 0x20;              /* PAE */
	sregs.cr0 = 0x80000001 | 0x10; /* PG, PE, ET */
	sregs.efer = 0x500;            /* LME, LMA */
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	memset(&regs, 0, sizeof(regs));
	regs.rip = rip;
	regs.rsi = rsi;
	regs.rflags = 2;
	regs.rsp = 0x8000; /* the payload may use a little stack; the kernel sets its own */
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}
