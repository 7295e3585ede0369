/* SPDX-License-Identifier: MIT */
/*
 * Boot sector for the SeaBIOS guest tests: the firmware's own virtio-scsi
 * driver (not ours, not Linux's) loads it from LUN 0 and then serves its
 * INT 13h calls through our device. It
 *   1. reads READ_SECTORS sectors from LBA 1 (INT 13h AH=42h) and prints
 *      their FNV-1a hash ("VDEV-SEABIOS: hash xxxxxxxx"), which the host
 *      compares with the image;
 *   2. writes WRITE_SECTORS sectors of a pattern at WRITE_LBA (AH=43h) —
 *      byte i is (7 i + 13 (i >> 9) + 0x5a) mod 256, the host checks the
 *      image — reads them back into another buffer and compares
 *      ("VDEV-SEABIOS: read-back ok");
 *   3. prints "VDEV-SEABIOS-DONE" and leaves through QEMU's isa-debug-exit
 *      at port 0x501 with 0x10 (QEMU exits 33); on a failed step it prints
 *      "VDEV-SEABIOS: FAIL <step> ah=xx" and leaves with 0x11 (exit 35).
 * Output goes to port 0xe9 (QEMU's isa-debugcon), each line after a CR LF:
 * not to COM1, where SeaBIOS mirrors its own screen and its writes land in
 * the middle of ours (seen in CI: "VDEV-SEABI." CR LF "OS: read-back ok").
 * The BIOS passes the boot drive in DL.
 * Build: as --32 && ld -m elf_i386 -Ttext 0x7c00 --oformat binary
 */
.set READ_SECTORS, 64       /* 32 KiB at 0x1000:0 */
.set WRITE_SECTORS, 8       /* 4 KiB from 0x2000:0, read back to 0x3000:0 */
.set WRITE_LBA, 100
.set WRITE_BYTES, WRITE_SECTORS * 512

	.code16
	.globl _start
_start:
	cli
	xor %ax, %ax
	mov %ax, %ds
	mov %ax, %ss
	mov $0x7c00, %sp
	sti
	cld
	mov %dl, drive
	mov $m_boot, %si
	call say

	/* 1. Read and hash. */
	mov $dap_read, %si
	mov $0x42, %ah
	mov $m_read, %bp
	call disk
	mov $0x1000, %ax
	mov %ax, %es
	xor %bx, %bx
	mov $0x811c9dc5, %edi           /* FNV-1a offset basis */
	mov $READ_SECTORS * 512, %cx
hash:
	movzbl %es:(%bx), %eax
	xor %eax, %edi
	imul $16777619, %edi, %edi      /* FNV prime */
	inc %bx
	loop hash
	mov $m_hash, %si
	call say
	call puthex

	/* 2. Write a pattern, read it back, compare. */
	mov $0x2000, %ax
	mov %ax, %es
	xor %bx, %bx
fill:
	mov %bx, %ax
	imul $7, %ax, %ax
	mov %bx, %dx
	shr $9, %dx
	imul $13, %dx, %dx
	add %dx, %ax
	add $0x5a, %al
	mov %al, %es:(%bx)
	inc %bx
	cmp $WRITE_BYTES, %bx
	jb fill
	mov $dap_write, %si
	mov $0x4300, %ax                /* AL = 0: no verify */
	mov $m_write, %bp
	call disk
	mov $dap_back, %si
	mov $0x42, %ah
	mov $m_back, %bp
	call disk
	push %ds
	mov $0x2000, %ax
	mov %ax, %ds
	mov $0x3000, %ax
	mov %ax, %es
	xor %si, %si
	xor %di, %di
	mov $WRITE_BYTES, %cx
	repe cmpsb
	pop %ds
	mov $m_cmp, %bp
	jne fail_noah
	mov $m_same, %si
	call say
	mov $m_done, %si
	call say
	mov $0x10, %al
exit:
	mov $0x501, %dx
	out %al, %dx
halt:
	hlt
	jmp halt

/* INT 13h with AH (AL) as given, DAP at %si, the boot drive; %bp names the step. */
disk:
	mov drive, %dl
	int $0x13
	jc fail
	ret
fail:
	push %ax
	mov $m_fail, %si
	call say
	mov %bp, %si
	call puts
	mov $m_ah, %si
	call puts
	pop %ax
	movzbl %ah, %edi
	shl $24, %edi
	mov $2, %cx
	call puthex_n
	jmp 1f
fail_noah:
	mov $m_fail, %si
	call say
	mov %bp, %si
	call puts
1:	mov $0x11, %al
	jmp exit

/* Print %edi as 8 hex digits (puthex_n: the top %cx digits). */
puthex:
	mov $8, %cx
puthex_n:
1:	rol $4, %edi
	mov %di, %bx
	and $0xf, %bx
	mov hexdigits(%bx), %al
	call putc
	loop 1b
	ret

/* Print "VDEV-SEABIOS" and the NUL-terminated string at %si. */
say:
	push %si
	mov $m_pfx, %si
	call puts
	pop %si
/* Print the NUL-terminated string at %si. */
puts:
	lodsb
	test %al, %al
	jz 1f
	call putc
	jmp puts
1:	ret

putc:
	push %dx
	mov $0xe9, %dx
	out %al, %dx
	pop %dx
	ret

/* Disk address packets (EDD 3.0): size, 0, count, offset, segment, LBA. */
	.p2align 2
dap_read:  .byte 16, 0
	   .word READ_SECTORS, 0, 0x1000
	   .quad 1
dap_write: .byte 16, 0
	   .word WRITE_SECTORS, 0, 0x2000
	   .quad WRITE_LBA
dap_back:  .byte 16, 0
	   .word WRITE_SECTORS, 0, 0x3000
	   .quad WRITE_LBA

drive:	   .byte 0
hexdigits: .ascii "0123456789abcdef"
m_pfx:	   .asciz "\r\nVDEV-SEABIOS"
m_boot:	   .asciz ": booted"
m_hash:	   .asciz ": hash "
m_same:	   .asciz ": read-back ok"
m_done:	   .asciz "-DONE\r\n"
m_fail:	   .asciz ": FAIL "
m_ah:	   .asciz " ah="
m_read:	   .asciz "read"
m_write:   .asciz "write"
m_back:	   .asciz "read-back"
m_cmp:	   .asciz "compare"

	. = _start + 510
	.byte 0x55, 0xaa
