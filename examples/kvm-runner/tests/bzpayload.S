/* SPDX-License-Identifier: MIT */
/*
 * A tiny bzImage-format test payload for vdev-run's Linux loader: a setup
 * header (boot protocol 2.06, setup_sects = 1, loaded high) and a
 * protected-mode part whose 64-bit entry (startup_64, load address + 0x200)
 * prints "cmdline=<boot_params.cmd_line_ptr>" and "e820=<count, 3 digits>"
 * to COM1, then what CPUID says inside the guest (below), then writes 0x21
 * to the exit port (vdev-run exits 67).
 * CPUID lines, for kvm_test.sh's "cpuid" mode to compare with vdev-cpuid:
 *   "cpuid 0xFUNCTION 0xINDEX 0xEAX 0xEBX 0xECX 0xEDX" for each leaf of
 *   cpuid_tab (the column order of "vdev-cpuid show" without its flags),
 *   "vendor=<leaf 0 EBX EDX ECX>", "kvmsig=<leaf 0x40000000 EBX ECX EDX>" and
 *   "brand=<leaves 0x80000002-4>", each string up to its first NUL.
 * With --defsym POKE=1 it first touches ports and MMIO nobody decodes.
 * Build: as --64 && ld -Ttext 0 --oformat binary
 */
	.text
	.globl _start
_start:
	. = _start + 0x1f1
	.byte 1                 /* 0x1f1 setup_sects */
	.word 0                 /* 0x1f2 root_flags */
	.long 0                 /* 0x1f4 syssize */
	.word 0                 /* 0x1f8 ram_size */
	.word 0xffff            /* 0x1fa vid_mode */
	.word 0                 /* 0x1fc root_dev */
	.word 0xaa55            /* 0x1fe boot_flag */
	.byte 0xeb, hdr_end - header /* 0x200 jump over the header */
header:
	.ascii "HdrS"           /* 0x202 */
	.word 0x0206            /* 0x206 version */
	.long 0                 /* 0x208 realmode_swtch */
	.word 0                 /* 0x20c start_sys_seg */
	.word 0                 /* 0x20e kernel_version */
	.byte 0                 /* 0x210 type_of_loader */
	.byte 1                 /* 0x211 loadflags: LOADED_HIGH */
	.word 0                 /* 0x212 setup_move_size */
	.long 0x100000          /* 0x214 code32_start */
	.long 0                 /* 0x218 ramdisk_image */
	.long 0                 /* 0x21c ramdisk_size */
	.long 0                 /* 0x220 bootsect_kludge */
	.word 0                 /* 0x224 heap_end_ptr */
	.byte 0, 0              /* 0x226 ext_loader_ver, ext_loader_type */
	.long 0                 /* 0x228 cmd_line_ptr */
	.long 0x7fffffff        /* 0x22c initrd_addr_max */
	.long 0x200000          /* 0x230 kernel_alignment */
	.byte 0                 /* 0x234 relocatable_kernel */
	.byte 0                 /* 0x235 min_alignment */
	.word 0                 /* 0x236 xloadflags */
	.long 255               /* 0x238 cmdline_size */
hdr_end:
	. = _start + 1024

	/* The protected-mode part, loaded at 0x100000. */
pm:
	. = pm + 0x200
	.code64
startup_64:
	cli
	lea stack_top(%rip), %rsp
	mov %rsi, %rbx                  /* boot_params */
	lea s_cmd(%rip), %rsi
	call puts
	mov 0x228(%rbx), %esi           /* cmd_line_ptr */
	mov 0xc8(%rbx), %eax            /* ext_cmd_line_ptr */
	shl $32, %rax
	or %rax, %rsi
	call puts
	lea s_e820(%rip), %rsi
	call puts
	movzbl 0x1e8(%rbx), %eax        /* e820_entries */
	call putdec
	lea s_nl(%rip), %rsi
	call puts
	call print_cpuid
.ifdef POKE
	mov $0x1234, %dx
	in %dx, %al
	out %al, %dx
	mov $0xc0000000, %rdi           /* PCI hole, no BAR there */
	mov (%rdi), %eax
	movl $1, (%rdi)
	mov $0xfed00000, %rdi
	mov (%rdi), %eax
	movl $1, (%rdi)
	lea s_poked(%rip), %rsi
	call puts
.endif
	mov $0x501, %dx
	mov $0x21, %al
	out %al, %dx
1:	hlt
	jmp 1b

puts:
	mov $0x3f8, %dx
2:	lodsb
	test %al, %al
	jz 3f
	out %al, %dx
	jmp 2b
3:	ret

/* Every leaf of cpuid_tab as a "cpuid ..." line, then the strings. */
print_cpuid:
	push %rbx                       /* CPUID writes EBX: keep boot_params */
	lea cpuid_tab(%rip), %r12
4:	mov (%r12), %eax
	cmp $0xffffffff, %eax
	je 6f
	mov 4(%r12), %ecx
	cpuid
	lea cpubuf(%rip), %rdi
	mov %eax, (%rdi)
	mov %ebx, 4(%rdi)
	mov %ecx, 8(%rdi)
	mov %edx, 12(%rdi)
	lea s_cpuid(%rip), %rsi
	call puts
	mov (%r12), %eax
	call puthex
	mov 4(%r12), %eax
	call puthex
	xor %r13d, %r13d
5:	lea cpubuf(%rip), %rdi
	mov (%rdi,%r13,4), %eax
	call puthex
	inc %r13d
	cmp $4, %r13d
	jb 5b
	lea s_nl(%rip), %rsi
	call puts
	add $8, %r12
	jmp 4b
6:	/* vendor: EBX, EDX, ECX of leaf 0 (SDM vol. 2A, CPUID, leaf 0) */
	xor %eax, %eax
	cpuid
	lea cpubuf(%rip), %rdi
	mov %ebx, (%rdi)
	mov %edx, 4(%rdi)
	mov %ecx, 8(%rdi)
	lea s_vendor(%rip), %rsi
	call puts
	lea cpubuf(%rip), %rsi
	mov $12, %ecx
	call putn
	/* hypervisor signature: EBX, ECX, EDX of 0x40000000 (KVM's cpuid.rst) */
	mov $0x40000000, %eax
	cpuid
	lea cpubuf(%rip), %rdi
	mov %ebx, (%rdi)
	mov %ecx, 4(%rdi)
	mov %edx, 8(%rdi)
	lea s_kvmsig(%rip), %rsi
	call puts
	lea cpubuf(%rip), %rsi
	mov $12, %ecx
	call putn
	/* brand string: EAX..EDX of 0x80000002, 0x80000003, 0x80000004 */
	lea cpubuf(%rip), %rdi
	mov $0x80000002, %r12d
7:	mov %r12d, %eax
	cpuid
	mov %eax, (%rdi)
	mov %ebx, 4(%rdi)
	mov %ecx, 8(%rdi)
	mov %edx, 12(%rdi)
	add $16, %rdi
	inc %r12d
	cmp $0x80000004, %r12d
	jbe 7b
	lea s_brand(%rip), %rsi
	call puts
	lea cpubuf(%rip), %rsi
	mov $48, %ecx
	call putn
	lea s_nl(%rip), %rsi
	call puts
	pop %rbx
	ret

/* Print " 0x" and %eax as 8 hex digits. */
puthex:
	mov %eax, %r8d
	lea s_0x(%rip), %rsi
	call puts
	mov $8, %ecx
	lea hexdigits(%rip), %rdi
8:	rol $4, %r8d
	mov %r8d, %eax
	and $0xf, %eax
	movzbl (%rdi,%rax), %eax
	mov $0x3f8, %dx
	out %al, %dx
	dec %ecx
	jnz 8b
	ret

/* Print at most %ecx (> 0) bytes from %rsi, stopping at a NUL. */
putn:
	mov $0x3f8, %dx
9:	lodsb
	test %al, %al
	jz 1f
	out %al, %dx
	dec %ecx
	jnz 9b
1:	ret

/* Print %eax (0..999) as three digits. */
putdec:
	mov $100, %ecx
	xor %edx, %edx
	div %ecx
	mov %edx, %r8d
	call putdigit
	mov %r8d, %eax
	mov $10, %ecx
	xor %edx, %edx
	div %ecx
	mov %edx, %r8d
	call putdigit
	mov %r8d, %eax
putdigit:
	add $'0', %al
	mov $0x3f8, %dx
	out %al, %dx
	ret

s_cmd:	.asciz "cmdline="
s_e820:	.asciz "\r\ne820="
s_nl:	.asciz "\r\n"
s_poked: .asciz "poked\r\n"
s_cpuid: .asciz "cpuid"
s_0x:	.asciz " 0x"
s_vendor: .asciz "vendor="
s_kvmsig: .asciz "\r\nkvmsig="
s_brand: .asciz "\r\nbrand="
hexdigits: .ascii "0123456789abcdef"
	/* (function, index) pairs printed by print_cpuid; all-ones ends it */
	.balign 4
cpuid_tab:
	.long 0x00000000, 0             /* max basic leaf, vendor */
	.long 0x00000001, 0             /* signature, feature words */
	.long 0x00000007, 0             /* structured extended features */
	.long 0x40000000, 0             /* hypervisor max leaf, signature */
	.long 0x40000001, 0             /* KVM features (PV-EOI: EAX bit 6) */
	.long 0x80000000, 0             /* max extended leaf */
	.long 0x80000001, 0             /* extended feature words */
	.long 0x80000002, 0             /* brand string */
	.long 0x80000003, 0
	.long 0x80000004, 0
	.long 0xffffffff
cpubuf:	.fill 48, 1, 0
	.balign 16
	.fill 512, 1, 0
stack_top:
