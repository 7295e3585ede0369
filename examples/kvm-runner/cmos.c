/* SPDX-License-Identifier: MIT */
/*
 * The MC146818 RTC and its CMOS RAM (index port 0x70, data 0x71).
 *
 * Time registers are read from the host clock (UTC, BCD, 24-hour: register
 * B = 0x02 as SeaBIOS sets it); update-in-progress is never set, alarms and
 * periodic interrupts are not modelled (no IRQ 8).
 *
 * CMOS RAM carries what SeaBIOS reads on QEMU-like machines
 * (src/fw/paravirt.c qemu_preinit, src/boot.c):
 *   0x10 floppy types (none)      0x15/0x16 base memory in KiB (640)
 *   0x17/0x18, 0x30/0x31 KiB of memory between 1 MiB and 64 MiB
 *   0x34/0x35 64 KiB units between 16 MiB and 4 GiB
 *   0x5b/0x5c/0x5d 64 KiB units above 4 GiB
 *   0x5f number of CPUs - 1
 *   0x3d (low byte) and 0x38 (high nibble) boot order: nibbles 1 floppy,
 *        2 hard disk, 3 CD-ROM, 4 network, first device in the lowest nibble
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner.h"

struct cmos {
	uint8_t index;
	uint8_t ram[128];
};

static uint8_t bcd(int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static uint8_t cmos_read(struct cmos *c, uint8_t idx)
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	switch (idx) {
	case 0x00: return bcd(tm.tm_sec);
	case 0x02: return bcd(tm.tm_min);
	case 0x04: return bcd(tm.tm_hour);
	case 0x06: return bcd(tm.tm_wday + 1);
	case 0x07: return bcd(tm.tm_mday);
	case 0x08: return bcd(tm.tm_mon + 1);
	case 0x09: return bcd(tm.tm_year % 100);
	case 0x32: return bcd((tm.tm_year + 1900) / 100); /* century */
	case 0x0a: return c->ram[0x0a] & 0x7f;             /* UIP never set */
	case 0x0c: return 0;                               /* no interrupt flags */
	case 0x0d: return 0x80;                            /* RAM and time valid */
	default: return c->ram[idx];
	}
}

static void cmos_access(void *opaque, uint64_t offset, uint8_t *data, unsigned int len,
			int is_write)
{
	struct vm *vm = opaque;
	struct cmos *c = vm->cmos;

	(void)len;
	if (offset == 0) {
		/* Index port; bit 7 is the NMI mask. */
		if (is_write)
			c->index = data[0] & 0x7f;
		else
			data[0] = 0xff;
		return;
	}
	if (is_write) {
		if (c->index != 0x0c && c->index != 0x0d)
			c->ram[c->index] = data[0];
	} else {
		data[0] = cmos_read(c, c->index);
	}
}

static void put16(uint8_t *p, uint32_t v)
{
	if (v > 0xffff)
		v = 0xffff;
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

int cmos_create(struct vm *vm)
{
	struct cmos *c = calloc(1, sizeof(*c));
	uint64_t v;
	int rc;

	if (!c)
		return -ENOMEM;
	vm->cmos = c;
	c->ram[0x0a] = 0x26;
	c->ram[0x0b] = 0x02;
	put16(&c->ram[0x15], 640);
	v = vm->ram_below > (1 << 20) ? (vm->ram_below - (1 << 20)) / 1024 : 0;
	put16(&c->ram[0x17], (uint32_t)(v > 0xffff ? 0xffff : v));
	put16(&c->ram[0x30], (uint32_t)(v > 0xffff ? 0xffff : v));
	v = vm->ram_below > (16 << 20) ? (vm->ram_below - (16 << 20)) / 65536 : 0;
	put16(&c->ram[0x34], (uint32_t)v);
	v = vm->ram_above / 65536;
	c->ram[0x5b] = (uint8_t)v;
	c->ram[0x5c] = (uint8_t)(v >> 8);
	c->ram[0x5d] = (uint8_t)(v >> 16);
	c->ram[0x5f] = 0; /* one CPU */
	c->ram[0x14] = 0x06; /* equipment: FPU, no display adapter on the ISA bus */
	cmos_set_boot_order(vm, "cd");
	rc = pio_register(vm, 0x70, 2, cmos_access, vm);
	return rc;
}

/* @order: up to three of 'a' (floppy), 'c' (disk), 'd' (CD-ROM), 'n' (network). */
void cmos_set_boot_order(struct vm *vm, const char *order)
{
	uint32_t v = 0;
	unsigned int i;

	for (i = 0; i < 3 && order[i]; i++) {
		uint32_t n = order[i] == 'a' ? 1 : order[i] == 'c' ? 2 : order[i] == 'd' ? 3 : 4;

		v |= n << (4 * i);
	}
	vm->cmos->ram[0x3d] = (uint8_t)v;
	vm->cmos->ram[0x38] = (uint8_t)((vm->cmos->ram[0x38] & 0x0f) | ((v >> 4) & 0xf0));
}

void cmos_destroy(struct vm *vm)
{
	free(vm->cmos);
	vm->cmos = NULL;
}

int cmos_save(struct vm *vm, vdev_state_writer *w)
{
	uint8_t buf[129];

	buf[0] = vm->cmos->index;
	memcpy(buf + 1, vm->cmos->ram, 128);
	return vdev_state_put_bytes(w, VDEV_STATE_TAG('C', 'M', 'O', 'S'), buf, sizeof(buf));
}

int cmos_load(struct vm *vm, const struct vdev_state_record *rec)
{
	const uint8_t *p = rec->data;

	if (rec->type != VDEV_STATE_BYTES || rec->len != 129 || p[0] > 0x7f)
		return -EBADMSG;
	vm->cmos->index = p[0];
	memcpy(vm->cmos->ram, p + 1, 128);
	return 0;
}
