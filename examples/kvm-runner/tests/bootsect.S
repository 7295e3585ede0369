/* SPDX-License-Identifier: MIT */
/*
 * Test boot code for vdev-run (boot sector or El Torito no-emulation image,
 * loaded at 0x7c00 either way). Prints TICKS "tick" lines with a busy delay
 * between them (0: none), then the marker, to COM1, and leaves through the
 * exit port with 0x10 (vdev-run exits 33).
 * Build: as --32 [--defsym TICKS=n] && ld -m elf_i386 -Ttext 0x7c00 --oformat binary
 */
.ifndef TICKS
.set TICKS, 0
.endif
.ifndef DELAY
.set DELAY, 200000
.endif

	.code16
	.globl _start
_start:
	cli
	xor %ax, %ax
	mov %ax, %ds
	mov %ax, %ss
	mov $0x7c00, %sp
	mov $TICKS, %bx
ticks:
	test %bx, %bx
	jz done
	mov $tick, %si
	call puts
	mov $DELAY, %ecx
delay:
	dec %ecx
	jnz delay
	dec %bx
	jmp ticks
done:
	mov $marker, %si
	call puts
	mov $0x501, %dx
	mov $0x10, %al
	out %al, %dx
halt:
	hlt
	jmp halt

/* Print the NUL-terminated string at %si on COM1. */
puts:
	mov $0x3f8, %dx
1:	lodsb
	test %al, %al
	jz 2f
	out %al, %dx
	jmp 1b
2:	ret

tick:	.asciz "tick\r\n"
marker:	.asciz "\r\nVDEV-BOOT-OK\r\n"

	. = _start + 510
	.byte 0x55, 0xaa
