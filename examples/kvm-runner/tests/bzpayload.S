/* SPDX-License-Identifier: MIT */
/*
 * A tiny bzImage-format test payload for vdev-run's Linux loader: a setup
 * header (boot protocol 2.06, setup_sects = 1, loaded high) and a
 * protected-mode part whose 64-bit entry (startup_64, load address + 0x200)
 * prints "cmdline=<boot_params.cmd_line_ptr>" and "e820=<count, 3 digits>"
 * to COM1, then writes 0x21 to the exit port (vdev-run exits 67).
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
	.balign 16
	.fill 512, 1, 0
stack_top:
