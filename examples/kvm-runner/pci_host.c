/* SPDX-License-Identifier: MIT */
/*
 * PCI bus 0 behind configuration mechanism #1 (0xcf8 address, 0xcfc-0xcff
 * data; PCI Local Bus 3.0 §3.2.2.3.2), with two built-in functions SeaBIOS
 * recognises as a QEMU i440FX machine:
 *   00.0 i440FX host bridge 8086:1237, subsystem 1af4:1100 (how SeaBIOS
 *        detects QEMU, src/fw/paravirt.c qemu_detect)
 *   01.0 PIIX3 ISA bridge 8086:7000
 * and libvdev functions in slots 2 and up, whose config space libvdev owns.
 *
 * PAM (i440FX 0x59-0x5f): a nibble per shadow chunk, bit 0 read enable, bit
 * 1 write enable. SeaBIOS (src/fw/shadow.c) makes 0xc0000-0xfffff RAM
 * read/write at POST and later sets the BIOS chunks to read-only (0x1): we
 * make those chunks' KVM slots read-only, so guest writes are dropped.
 * Other encodings are treated as RAM read/write (our RAM already holds the
 * ROM bytes, see vm_load_bios()).
 *
 * PIRQ routing (PIIX3 0x60-0x63, bit 7 disables): INTx pin P (1..4) of slot
 * S drives PIRQ (P - 1 + S - 1) & 3, the swizzle QEMU and SeaBIOS's PIR
 * table use; each PIRQ drives the ISA IRQ its register names, as a level on
 * the in-kernel PIC/IOAPIC GSI of that number (KVM_IRQ_LINE). The ELCR
 * (0x4d0/0x4d1) is emulated by KVM's PIC.
 *
 * Port 0xcf9 (PIIX3 reset control): writing bit 2 resets, which ends the run.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"

#define PCI_SLOTS 32
#define FIRST_DEVICE_SLOT 2
#define PAM0 0x59
#define PIRQ_ROUTE 0x60

struct builtin {
	uint8_t cfg[256];
	uint8_t wmask[256];
};

struct pci_host {
	uint32_t addr;
	struct builtin host, isa;
	vdev_pci_func *funcs[PCI_SLOTS];
	uint8_t intx[PCI_SLOTS]; /* bit (pin - 1): asserted */
	uint16_t irq_level;      /* ISA IRQs we drive high */
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void builtin_init(struct builtin *b, uint16_t dev, uint32_t class_code, uint8_t rev)
{
	memset(b, 0, sizeof(*b));
	put16(b->cfg + 0x00, 0x8086);
	put16(b->cfg + 0x02, dev);
	put16(b->cfg + 0x04, 0x0007);
	put16(b->cfg + 0x06, 0x0200); /* medium DEVSEL */
	b->cfg[0x08] = rev;
	b->cfg[0x09] = (uint8_t)class_code;
	b->cfg[0x0a] = (uint8_t)(class_code >> 8);
	b->cfg[0x0b] = (uint8_t)(class_code >> 16);
	put16(b->cfg + 0x2c, 0x1af4);
	put16(b->cfg + 0x2e, 0x1100);
	b->wmask[0x0d] = 0xff; /* latency timer */
}

/* Drive each ISA IRQ to the OR of the PIRQs routed to it. */
static void route_irqs(struct vm *vm)
{
	struct pci_host *h = vm->pci;
	uint16_t want = 0, change;
	unsigned int slot, pin, irq;

	for (slot = 0; slot < PCI_SLOTS; slot++) {
		for (pin = 1; pin <= 4; pin++) {
			uint8_t route;

			if (!(h->intx[slot] & (1u << (pin - 1))))
				continue;
			route = h->isa.cfg[PIRQ_ROUTE + ((pin - 1 + slot - 1) & 3)];
			if (!(route & 0x80) && route < 16)
				want |= (uint16_t)(1u << route);
		}
	}
	change = want ^ h->irq_level;
	for (irq = 0; irq < 16; irq++)
		if (change & (1u << irq))
			vm_irq_line(vm, irq, !!(want & (1u << irq)));
	h->irq_level = want;
}

void pci_host_intx(struct vm *vm, uint32_t devfn, unsigned int pin, int level)
{
	struct pci_host *h = vm->pci;
	unsigned int slot = (devfn >> 3) & 31;

	if (pin < 1 || pin > 4)
		return;
	if (level)
		h->intx[slot] |= (uint8_t)(1u << (pin - 1));
	else
		h->intx[slot] &= (uint8_t)~(1u << (pin - 1));
	route_irqs(vm);
}

static void apply_pam(struct vm *vm)
{
	const uint8_t *pam = vm->pci->host.cfg + PAM0;
	uint32_t ro = 0;
	unsigned int i;

	/* chunk 12: F segment, PAM0 high nibble; chunk i < 12: PAM1.. nibbles */
	if (((pam[0] >> 4) & 3) == 1)
		ro |= 1u << 12;
	for (i = 0; i < 12; i++) {
		uint8_t nib = (pam[1 + i / 2] >> ((i & 1) * 4)) & 3;

		if (nib == 1)
			ro |= 1u << i;
	}
	if (vm_set_pam_readonly(vm, ro))
		fprintf(stderr, "vdev-run: PAM: could not change shadow RAM protection\n");
}

static void builtin_write(struct builtin *b, uint32_t off, const uint8_t *data, unsigned int len)
{
	unsigned int i;

	for (i = 0; i < len && off + i < 256; i++) {
		uint8_t m = b->wmask[off + i];

		b->cfg[off + i] = (uint8_t)((b->cfg[off + i] & ~m) | (data[i] & m));
	}
}

static void config_access(struct vm *vm, uint32_t off, uint8_t *data, unsigned int len,
			  int is_write)
{
	struct pci_host *h = vm->pci;
	uint32_t a = h->addr;
	unsigned int bus = (a >> 16) & 0xff, slot = (a >> 11) & 31, fn = (a >> 8) & 7;
	struct builtin *b = NULL;

	if (!(a & 0x80000000u) || bus != 0 || fn != 0)
		goto absent;
	if (slot == 0)
		b = &h->host;
	else if (slot == 1)
		b = &h->isa;
	if (b) {
		if (is_write) {
			builtin_write(b, off, data, len);
			if (b == &h->host && off < PAM0 + 7 && off + len > PAM0)
				apply_pam(vm);
			if (b == &h->isa && off < PIRQ_ROUTE + 4 && off + len > PIRQ_ROUTE)
				route_irqs(vm);
		} else {
			memcpy(data, b->cfg + off, len);
		}
		return;
	}
	if (h->funcs[slot]) {
		if (is_write)
			vdev_pci_config_write(h->funcs[slot], off, data, len);
		else
			vdev_pci_config_read(h->funcs[slot], off, data, len);
		return;
	}
absent:
	if (!is_write)
		memset(data, 0xff, len);
}

static void cf8_access(void *opaque, uint64_t offset, uint8_t *data, unsigned int len,
		       int is_write)
{
	struct vm *vm = opaque;
	struct pci_host *h = vm->pci;

	if (offset == 0 && len == 4) {
		if (is_write)
			h->addr = (uint32_t)data[0] | (uint32_t)data[1] << 8 |
				  (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
		else
			memcpy(data, &h->addr, 4);
		return;
	}
	if (offset == 1 && len == 1) { /* 0xcf9: reset control */
		if (is_write && (data[0] & 0x04))
			vm_request_stop(vm, RUN_EXIT_RESET, "guest reset (port 0xcf9)");
		else if (!is_write)
			data[0] = 0;
		return;
	}
	if (!is_write)
		memset(data, 0xff, len);
}

static void cfc_access(void *opaque, uint64_t offset, uint8_t *data, unsigned int len,
		       int is_write)
{
	struct vm *vm = opaque;

	config_access(vm, (vm->pci->addr & 0xfc) + (uint32_t)offset, data, len, is_write);
}

int pci_host_create(struct vm *vm)
{
	struct pci_host *h = calloc(1, sizeof(*h));
	int rc;

	if (!h)
		return -ENOMEM;
	vm->pci = h;
	builtin_init(&h->host, 0x1237, 0x060000, 0x02);
	memset(h->host.wmask + PAM0, 0xff, 7);
	h->host.wmask[0x72] = 0xff; /* SMRAM: stored, not modelled */
	builtin_init(&h->isa, 0x7000, 0x060100, 0x00);
	memset(h->isa.cfg + PIRQ_ROUTE, 0x80, 4);
	memset(h->isa.wmask + PIRQ_ROUTE, 0x8f, 4);
	rc = pio_register(vm, 0xcf8, 4, cf8_access, vm);
	if (!rc)
		rc = pio_register(vm, 0xcfc, 4, cfc_access, vm);
	return rc;
}

void pci_host_destroy(struct vm *vm)
{
	free(vm->pci);
	vm->pci = NULL;
}

int pci_host_attach(struct vm *vm, vdev_pci_func *f, unsigned int *slot)
{
	unsigned int s;

	for (s = FIRST_DEVICE_SLOT; s < PCI_SLOTS; s++) {
		if (!vm->pci->funcs[s]) {
			vm->pci->funcs[s] = f;
			*slot = s;
			return 0;
		}
	}
	return -ENOSPC;
}

/* The first free slot, for choosing a device's source id before creating it. */
int pci_host_next_slot(struct vm *vm)
{
	unsigned int s;

	for (s = FIRST_DEVICE_SLOT; s < PCI_SLOTS; s++)
		if (!vm->pci->funcs[s])
			return (int)s;
	return -ENOSPC;
}

int pci_host_save(struct vm *vm, vdev_state_writer *w)
{
	struct pci_host *h = vm->pci;
	uint8_t buf[4 + 256 + 256 + 2];

	memcpy(buf, &h->addr, 4);
	memcpy(buf + 4, h->host.cfg, 256);
	memcpy(buf + 260, h->isa.cfg, 256);
	put16(buf + 516, h->irq_level);
	return vdev_state_put_bytes(w, VDEV_STATE_TAG('P', 'C', 'I', 'H'), buf, sizeof(buf));
}

/* Validated by the caller's length check; identity bytes must match ours. */
int pci_host_load(struct vm *vm, const struct vdev_state_record *rec)
{
	struct pci_host *h = vm->pci;
	const uint8_t *p = rec->data;

	if (rec->type != VDEV_STATE_BYTES || rec->len != 518)
		return -EBADMSG;
	if (memcmp(p + 4, h->host.cfg, 4) || memcmp(p + 260, h->isa.cfg, 4))
		return -EBADMSG;
	memcpy(&h->addr, p, 4);
	memcpy(h->host.cfg, p + 4, 256);
	memcpy(h->isa.cfg, p + 260, 256);
	/*
	 * Lines are re-driven when the devices' PCI state is loaded (libvdev
	 * re-asserts pending INTx through the intx_set hook).
	 */
	memset(h->intx, 0, sizeof(h->intx));
	h->irq_level = 0;
	apply_pam(vm);
	return 0;
}
