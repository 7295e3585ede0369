/* SPDX-License-Identifier: MIT */
/*
 * PV-EOI on a real vCPU (issue 7): exits per interrupt with libvdev's
 * user-space local APIC (vdev/lapic.h) and its PV-EOI helper, under KVM
 * with no in-kernel irqchip.
 *
 * The VM: one vCPU in 16-bit real mode, 64 KiB of RAM at GPA 0 and
 * nothing else, so the xAPIC page at
 * 0xfee00000 exits to us as KVM_EXIT_MMIO. A filter (KVM_X86_SET_MSR_FILTER)
 * denies MSR_KVM_PV_EOI_EN, so the guest's WRMSR exits as
 * KVM_EXIT_X86_WRMSR and goes to vdev_lapic_msr_write(). Interrupts are
 * injected with KVM_INTERRUPT when KVM says the vCPU can take one.
 *
 * The guest (hand-assembled below) enables PV-EOI or not, then halts in
 * a loop; its handler ends each interrupt the way Linux's
 * kvm_guest_apic_eoi_write() does: test-and-clear bit 0 of its word and,
 * only if the bit was clear, write the APIC EOI register.
 *
 * The "device" raises the next interrupt each time the guest is idle (a
 * HLT exit) and has handled every earlier one, so each interrupt costs
 * exactly one HLT exit plus whatever its EOI costs. What counts
 * (checked, exit status 1 if not): EOI-register MMIO writes per interrupt
 * are 1 for edge without PV-EOI, 0 for edge with it, and 1 for level with
 * it (TMR set: the helper must not arm); the guest handled all N.
 *
 * Usage: pveoi_kvm [N]   (default 1000). Exit status 77 with
 * "SKIPPED: no usable /dev/kvm" if /dev/kvm cannot be opened or
 * KVM_CREATE_VM fails; any later failure is an error (1).
 * Only the public libvdev API and <linux/kvm.h>.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <vdev/vdev.h>

#define EXIT_SKIP 77

/* Guest-physical layout inside the one RAM slot. */
#define RAM_SIZE 0x10000u
#define IVT_GPA 0x0000u  /* the real-mode interrupt vector table */
#define CODE_GPA 0x1000u
#define HANDLER_GPA 0x1100u
#define WORD_GPA 0x2000u  /* the PV-EOI flag word (Linux: per-CPU kvm_apic_eoi) */
#define COUNT_GPA 0x2100u /* the guest's count of handled interrupts */
#define STACK_TOP 0x8000u

#define VECTOR 0x41u

/*
 * The guest's main code, 16-bit real mode. On entry EBX = the PV-EOI MSR
 * value to write (0: leave PV-EOI off), SI = the flag word, DI = the
 * counter, and ES has its hidden base at the xAPIC page (set with
 * KVM_SET_SREGS, "unreal" mode), so real-mode code reaches 0xfee000b0.
 * Why real mode: this KVM runs non-64-bit guests through its instruction
 * emulator, whose IRET exists for real mode only (a protected-mode
 * handler's IRET ends in KVM_EXIT_INTERNAL_ERROR, emulation failure).
 * Assembled with GNU as (.code16) and checked with objdump -d -M i8086.
 */
static const uint8_t guest_main[] = {
	0x66, 0x85, 0xdb,             /* 00: test %ebx,%ebx                 */
	0x74, 0x0e,                   /* 03: jz 13          (PV-EOI off)    */
	0x66, 0x89, 0xd8,             /* 05: mov %ebx,%eax  (MSR low half)  */
	0x66, 0x31, 0xd2,             /* 08: xor %edx,%edx  (MSR high half) */
	0x66, 0xb9, 0x04, 0x4d, 0x56, /* 0b: mov $0x4b564d04,%ecx           */
	0x4b,
	0x0f, 0x30,                   /* 11: wrmsr          (exits to us)   */
	0xfb,                         /* 13: sti                            */
	0xf4,                         /* 14: hlt            (exits to us)   */
	0xeb, 0xfd,                   /* 15: jmp 14                         */
};

/* The interrupt handler (IVT entry VECTOR): Linux's PV EOI, then iret. */
static const uint8_t guest_handler[] = {
	0x66, 0x85, 0xdb,             /* 00: test %ebx,%ebx                 */
	0x74, 0x07,                   /* 03: jz 0c          (no PV-EOI)     */
	0x66, 0x0f, 0xba, 0x34, 0x00, /* 05: btrl $0,(%si)  (test-and-clear)*/
	0x72, 0x0a,                   /* 0a: jc 16          (flag was set)  */
	0x26, 0x66, 0xc7, 0x06, 0xb0, /* 0c: movl $0,%es:0xb0 (the APIC EOI */
	0x00, 0x00, 0x00, 0x00, 0x00, /*     register, 4 bytes: MMIO exit)  */
	0x66, 0xff, 0x05,             /* 16: incl (%di)     (handled++)     */
	0xcf,                         /* 19: iret                           */
};

struct kvm {
	int sys, vm, cpu;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *ram;
};

struct counts {
	unsigned int hlt, mmio_eoi, mmio_other, window, msr, other;
	unsigned int armed, broadcasts, injected;
	double ns_per_irq;
};

struct bench_case {
	const char *name;
	int pv, level;
	unsigned int eoi_per_irq;  /* expected EOI-register writes per interrupt */
};

static void on_alarm(int sig)
{
	(void)sig;  /* only interrupts KVM_RUN (EINTR) */
}

static void host_log(void *opaque, enum vdev_log_level level, const char *msg)
{
	(void)opaque;
	if (level >= VDEV_LOG_WARN)
		fprintf(stderr, "libvdev: %s\n", msg);
}

static void on_broadcast(void *opaque, vdev_lapic *apic, uint8_t vector)
{
	struct counts *c = opaque;

	(void)apic;
	if (vector == VECTOR)
		c->broadcasts++;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fail(const char *what)
{
	fprintf(stderr, "pveoi_kvm: %s: %s\n", what, strerror(errno));
	return -1;
}

static void kvm_close(struct kvm *k)
{
	if (k->run)
		munmap(k->run, k->run_size);
	if (k->ram)
		munmap(k->ram, RAM_SIZE);
	if (k->cpu >= 0)
		close(k->cpu);
	if (k->vm >= 0)
		close(k->vm);
	if (k->sys >= 0)
		close(k->sys);
}

/* The interrupt vector table and the code in guest RAM. */
static void guest_image(uint8_t *ram)
{
	/* A real-mode IVT entry: 16-bit offset, then segment 0. */
	const uint16_t ivt[2] = { HANDLER_GPA, 0 };

	memset(ram, 0, RAM_SIZE);
	memcpy(ram + IVT_GPA + 4 * VECTOR, ivt, sizeof(ivt));
	memcpy(ram + CODE_GPA, guest_main, sizeof(guest_main));
	memcpy(ram + HANDLER_GPA, guest_handler, sizeof(guest_handler));
}

/* A real-mode segment register whose hidden base is @base. */
static void real_seg(struct kvm_segment *s, uint64_t base, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->base = base;
	s->limit = 0xffff;
	s->selector = (uint16_t)(base < 0x100000 ? base >> 4 : 0);
	s->type = type;
	s->present = 1;
	s->s = 1;
}

/* A VM with no in-kernel irqchip. 1: skip (no usable KVM), 0, -1: error. */
static int kvm_open(struct kvm *k)
{
	uint8_t deny = 0;  /* a bitmap of one MSR; bit clear: denied (KVM copies it) */
	struct kvm_msr_filter filter = { .flags = KVM_MSR_FILTER_DEFAULT_ALLOW };
	struct kvm_enable_cap cap = { .cap = KVM_CAP_X86_USER_SPACE_MSR,
				      .args = { KVM_MSR_EXIT_REASON_FILTER } };
	struct kvm_userspace_memory_region mr = { .slot = 0 };
	int size;

	memset(k, 0, sizeof(*k));
	k->sys = k->vm = k->cpu = -1;
	k->sys = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (k->sys < 0) {
		fprintf(stderr, "pveoi_kvm: open /dev/kvm: %s\n", strerror(errno));
		return 1;
	}
	k->vm = ioctl(k->sys, KVM_CREATE_VM, 0);
	if (k->vm < 0) {
		fprintf(stderr, "pveoi_kvm: KVM_CREATE_VM: %s\n", strerror(errno));
		return 1;
	}
	/* From here on everything the probe found must work. */
	if (ioctl(k->vm, KVM_ENABLE_CAP, &cap) < 0)
		return fail("KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR)");
	filter.ranges[0].flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
	filter.ranges[0].nmsrs = 1;
	filter.ranges[0].base = VDEV_PVEOI_MSR;
	filter.ranges[0].bitmap = &deny;
	if (ioctl(k->vm, KVM_X86_SET_MSR_FILTER, &filter) < 0)
		return fail("KVM_X86_SET_MSR_FILTER");
	k->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (k->ram == MAP_FAILED) {
		k->ram = NULL;
		return fail("mmap RAM");
	}
	mr.guest_phys_addr = 0;
	mr.memory_size = RAM_SIZE;
	mr.userspace_addr = (uint64_t)(uintptr_t)k->ram;
	if (ioctl(k->vm, KVM_SET_USER_MEMORY_REGION, &mr) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");
	k->cpu = ioctl(k->vm, KVM_CREATE_VCPU, 0);
	if (k->cpu < 0)
		return fail("KVM_CREATE_VCPU");
	size = ioctl(k->sys, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run))
		return fail("KVM_GET_VCPU_MMAP_SIZE");
	k->run_size = (size_t)size;
	k->run = mmap(NULL, k->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, k->cpu, 0);
	if (k->run == MAP_FAILED) {
		k->run = NULL;
		return fail("mmap kvm_run");
	}
	return 0;
}

static int vcpu_setup(struct kvm *k, int pv)
{
	struct kvm_sregs sr;
	struct kvm_regs r;

	if (ioctl(k->cpu, KVM_GET_SREGS, &sr) < 0)
		return fail("KVM_GET_SREGS");
	real_seg(&sr.cs, 0, 0xb);  /* execute/read, accessed */
	real_seg(&sr.ds, 0, 0x3);  /* read/write, accessed */
	sr.ss = sr.fs = sr.gs = sr.ds;
	/* ES reaches the xAPIC page: base 0xfee00000 (a selector cannot say that). */
	real_seg(&sr.es, VDEV_LAPIC_DEFAULT_BASE, 0x3);
	sr.idt.base = IVT_GPA;
	sr.idt.limit = 0x3ff;
	sr.cr0 &= ~0x80000001ull;  /* real mode, no paging */
	sr.efer = 0;
	if (ioctl(k->cpu, KVM_SET_SREGS, &sr) < 0)
		return fail("KVM_SET_SREGS");
	memset(&r, 0, sizeof(r));
	r.rip = CODE_GPA;
	r.rflags = 0x2;
	r.rsp = STACK_TOP;
	r.rbx = pv ? (WORD_GPA | VDEV_PVEOI_MSR_ENABLED) : 0;
	r.rsi = WORD_GPA;
	r.rdi = COUNT_GPA;
	if (ioctl(k->cpu, KVM_SET_REGS, &r) < 0)
		return fail("KVM_SET_REGS");
	return 0;
}

static uint32_t guest_count(const struct kvm *k)
{
	uint32_t v;

	memcpy(&v, k->ram + COUNT_GPA, sizeof(v));  /* x86 host: little-endian */
	return v;
}

static void dump_regs(const struct kvm *k)
{
	struct kvm_regs r;
	struct kvm_sregs sr;

	if (ioctl(k->cpu, KVM_GET_REGS, &r) < 0 || ioctl(k->cpu, KVM_GET_SREGS, &sr) < 0)
		return;
	fprintf(stderr, "pveoi_kvm: rip 0x%llx rsp 0x%llx rflags 0x%llx cs 0x%x base 0x%llx "
		"cr0 0x%llx\n", (unsigned long long)r.rip, (unsigned long long)r.rsp,
		(unsigned long long)r.rflags, sr.cs.selector, (unsigned long long)sr.cs.base,
		(unsigned long long)sr.cr0);
}

/* One exit that is not a HLT: the APIC page, the PV-EOI MSR. 0 or -1. */
static int handle_exit(struct kvm *k, vdev_lapic *apic, struct counts *c)
{
	struct kvm_run *run = k->run;
	uint64_t base = vdev_lapic_mmio_base(apic);
	uint64_t v;
	int rc;

	switch (run->exit_reason) {
	case KVM_EXIT_MMIO:
		if (base == UINT64_MAX || run->mmio.phys_addr < base ||
		    run->mmio.phys_addr - base >= VDEV_LAPIC_MMIO_SIZE) {
			fprintf(stderr, "pveoi_kvm: MMIO outside the APIC page: 0x%llx\n",
				(unsigned long long)run->mmio.phys_addr);
			return -1;
		}
		if (run->mmio.is_write) {
			if (run->mmio.phys_addr - base == 0xb0)
				c->mmio_eoi++;
			else
				c->mmio_other++;
			rc = vdev_lapic_mmio_write(apic, (uint32_t)(run->mmio.phys_addr - base),
						   run->mmio.data, run->mmio.len);
		} else {
			c->mmio_other++;
			rc = vdev_lapic_mmio_read(apic, (uint32_t)(run->mmio.phys_addr - base),
						  run->mmio.data, run->mmio.len);
		}
		if (rc) {
			fprintf(stderr, "pveoi_kvm: APIC MMIO: %s\n", strerror(-rc));
			return -1;
		}
		return 0;
	case KVM_EXIT_X86_WRMSR:
		c->msr++;
		rc = vdev_lapic_msr_write(apic, run->msr.index, run->msr.data);
		run->msr.error = rc ? 1 : 0;  /* 1: KVM injects #GP */
		return 0;
	case KVM_EXIT_X86_RDMSR:
		c->msr++;
		rc = vdev_lapic_msr_read(apic, run->msr.index, &v);
		run->msr.data = rc ? 0 : v;
		run->msr.error = rc ? 1 : 0;
		return 0;
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		c->window++;
		return 0;
	case KVM_EXIT_INTERNAL_ERROR:
		fprintf(stderr, "pveoi_kvm: KVM internal error, suberror %u, %u data words:",
			run->internal.suberror, run->internal.ndata);
		for (uint32_t i = 0; i < run->internal.ndata && i < 16; i++)
			fprintf(stderr, " 0x%llx", (unsigned long long)run->internal.data[i]);
		fprintf(stderr, "\n");
		dump_regs(k);
		return -1;
	default:
		c->other++;
		fprintf(stderr, "pveoi_kvm: unexpected exit reason %u\n", run->exit_reason);
		return -1;
	}
}

/*
 * Run N interrupts through the guest. Counting starts at the guest's
 * first HLT (set-up done: the MSR write is counted but not charged to any
 * interrupt) and ends when the last interrupt's EOI reached the APIC.
 */
static int run_case(const struct bench_case *bc, unsigned int n, struct counts *c)
{
	struct counts setup;
	struct vdev_host_ops hops = { .struct_size = sizeof(hops), .log = host_log };
	struct vdev_lapic_ops lops = { .struct_size = sizeof(lops), .opaque = c,
				       .eoi_broadcast = on_broadcast };
	struct vdev_lapic_opts lo = { .struct_size = sizeof(lo), .bsp = 1, .ops = &lops };
	uint8_t svr[4] = { 0xff, 0x01, 0, 0 };  /* software-enable, spurious 0xff */
	unsigned int raised = 0, budget = 8 * n + 64;
	int started = 0, rc = -1, s;
	vdev_ctx *ctx = NULL;
	vdev_lapic *apic = NULL;
	uint64_t t0 = 0;
	struct kvm k;

	memset(c, 0, sizeof(*c));
	memset(&setup, 0, sizeof(setup));
	s = kvm_open(&k);
	if (s) {
		kvm_close(&k);
		return s > 0 ? EXIT_SKIP : -1;
	}
	guest_image(k.ram);
	if (vcpu_setup(&k, bc->pv))
		goto out;
	if (vdev_ctx_new(&hops, &ctx) || vdev_mem_region_add(ctx, 0, RAM_SIZE, k.ram, 0) ||
	    vdev_lapic_new(ctx, &lo, &apic) || vdev_lapic_mmio_write(apic, 0xf0, svr, 4)) {
		fprintf(stderr, "pveoi_kvm: libvdev set-up failed\n");
		goto out;
	}
	for (;;) {
		int v;

		if (vdev_lapic_before_entry(apic))
			c->armed++;
		alarm(30);
		s = ioctl(k.cpu, KVM_RUN, 0);
		alarm(0);
		if (s < 0) {
			fail(errno == EINTR ? "KVM_RUN: guest stuck for 30 s" : "KVM_RUN");
			goto out;
		}
		/* First on every exit: a cleared flag is the guest's EOI. */
		vdev_lapic_after_exit(apic);
		if (!budget--) {
			fprintf(stderr, "pveoi_kvm: %s: no progress after %u exits (%u raised)\n",
				bc->name, 8 * n + 64, raised);
			goto out;
		}
		if (k.run->exit_reason != KVM_EXIT_HLT) {
			if (handle_exit(&k, apic, c))
				goto out;
		} else {
			c->hlt++;
			if (!started) {
				/* The guest is set up: start counting here. */
				setup = *c;
				memset(c, 0, sizeof(*c));
				started = 1;
				t0 = now_ns();
			}
			/* Idle: the device raises the next interrupt once the last is handled. */
			if (guest_count(&k) == raised) {
				if (raised == n)
					break;
				if (vdev_lapic_set_irq(apic, VECTOR, bc->level) != 1) {
					fprintf(stderr, "pveoi_kvm: interrupt %u coalesced: the "
						"previous one never ended\n", raised);
					goto out;
				}
				raised++;
			}
		}
		v = vdev_lapic_get_interrupt(apic);
		k.run->request_interrupt_window = 0;
		if (v >= 0 && k.run->ready_for_interrupt_injection) {
			struct kvm_interrupt irq = { .irq = (uint32_t)v };

			if (ioctl(k.cpu, KVM_INTERRUPT, &irq) < 0) {
				fail("KVM_INTERRUPT");
				goto out;
			}
			vdev_lapic_ack(apic, (uint32_t)v);
			c->injected++;
		} else if (v >= 0) {
			k.run->request_interrupt_window = 1;
		}
	}
	c->ns_per_irq = n ? (double)(now_ns() - t0) / n : 0;
	c->msr += setup.msr;  /* reported, not charged per interrupt */
	/* Every interrupt ended: nothing in service, nothing pending (ISR, IRR). */
	for (uint32_t off = 0x100; off < 0x280; off += 0x10) {
		if (off == 0x180)
			off = 0x200;  /* skip the TMR: a level vector keeps its bit */
		uint32_t isr = 0;

		if (vdev_lapic_peek(apic, off, &isr) || isr) {
			fprintf(stderr, "pveoi_kvm: %s: ISR/IRR not empty at the end\n", bc->name);
			goto out;
		}
	}
	rc = 0;
out:
	vdev_lapic_free(apic);
	vdev_ctx_free(ctx);
	kvm_close(&k);
	return rc;
}

static unsigned int per_irq_exits(const struct counts *c)
{
	return c->hlt + c->mmio_eoi + c->mmio_other + c->window + c->other;
}

/* The claims, exact: anything else is a failure. */
static int check(const struct bench_case *bc, unsigned int n, const struct counts *c)
{
	int ok = 1;

	if (c->mmio_eoi != bc->eoi_per_irq * n) {
		fprintf(stderr, "FAIL %s: %u EOI-register writes for %u interrupts, expected %u\n",
			bc->name, c->mmio_eoi, n, bc->eoi_per_irq * n);
		ok = 0;
	}
	if (c->injected != n || c->hlt != n) {
		fprintf(stderr, "FAIL %s: %u injected, %u HLT exits for %u interrupts\n",
			bc->name, c->injected, c->hlt, n);
		ok = 0;
	}
	if (c->armed != (bc->pv && !bc->level ? n : 0)) {
		fprintf(stderr, "FAIL %s: PV-EOI armed %u times\n", bc->name, c->armed);
		ok = 0;
	}
	if (c->broadcasts != (bc->level ? n : 0)) {
		fprintf(stderr, "FAIL %s: %u EOI broadcasts\n", bc->name, c->broadcasts);
		ok = 0;
	}
	if (c->mmio_other) {
		fprintf(stderr, "FAIL %s: %u APIC accesses besides EOI\n", bc->name, c->mmio_other);
		ok = 0;
	}
	if (c->msr != (bc->pv ? 1u : 0u)) {
		fprintf(stderr, "FAIL %s: %u MSR exits\n", bc->name, c->msr);
		ok = 0;
	}
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct bench_case cases[] = {
		{ "edge, no PV-EOI", 0, 0, 1 },
		{ "edge, PV-EOI", 1, 0, 0 },
		{ "level, no PV-EOI", 0, 1, 1 },
		{ "level, PV-EOI", 1, 1, 1 },
	};
	struct sigaction sa;
	unsigned int n = 1000;
	int failed = 0;

	if (argc > 2 || (argc == 2 && (sscanf(argv[1], "%u", &n) != 1 || !n || n > 1000000))) {
		fprintf(stderr, "usage: pveoi_kvm [N (1..1000000, default 1000)]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;  /* no SA_RESTART: a stuck KVM_RUN returns EINTR */
	sigaction(SIGALRM, &sa, NULL);

	printf("PV-EOI on a real vCPU: N = %u interrupts of vector 0x%x per case\n", n, VECTOR);
	printf("%-18s %5s %8s %7s %6s %10s %9s\n", "case", "HLT", "EOI MMIO", "window",
	       "exits", "exits/irq", "us/irq");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct counts c;
		int rc = run_case(&cases[i], n, &c);

		if (rc == EXIT_SKIP) {
			printf("SKIPPED: no usable /dev/kvm\n");
			fprintf(stderr, "SKIPPED: no usable /dev/kvm\n");
			return EXIT_SKIP;
		}
		if (rc) {
			fprintf(stderr, "FAIL %s: the run did not complete\n", cases[i].name);
			failed = 1;
			continue;
		}
		printf("%-18s %5u %8u %7u %6u %10.2f %9.1f\n", cases[i].name, c.hlt, c.mmio_eoi,
		       c.window, per_irq_exits(&c), (double)per_irq_exits(&c) / n,
		       c.ns_per_irq / 1000.0);
		if (check(&cases[i], n, &c))
			failed = 1;
	}
	printf("(exits from the guest's first HLT on; plus one MSR exit for the PV-EOI "
	       "enable in the PV-EOI cases)\n");
	return failed;
}
