/* SPDX-License-Identifier: MIT */
/*
 * A 16550A UART on COM1 (0x3f8), output only: what the guest transmits goes
 * to stdout or a file. The transmitter is always ready (LSR THRE|TEMT), so a
 * polling driver never waits; no receive data and no interrupts.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner.h"

#define COM1 0x3f8
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

/* Register file, saved in snapshots in this order. */
enum { R_IER, R_IIR, R_LCR, R_MCR, R_SCR, R_DLL, R_DLM, R_FCR, R_NREGS };

struct serial {
	int fd; /* -1: discard */
	int own_fd;
	uint8_t r[R_NREGS];
};

static void serial_out(struct serial *s, uint8_t c)
{
	ssize_t n;

	if (s->fd < 0)
		return;
	do {
		n = write(s->fd, &c, 1);
	} while (n < 0 && errno == EINTR);
}

static uint8_t serial_read(struct serial *s, unsigned int reg)
{
	int dlab = s->r[R_LCR] & 0x80;

	switch (reg) {
	case 0: return dlab ? s->r[R_DLL] : 0;       /* RBR: nothing received */
	case 1: return dlab ? s->r[R_DLM] : s->r[R_IER];
	case 2:
		/*
		 * IIR: the transmitter is always empty, so with its interrupt
		 * enabled (IER bit 1) "THR empty" is pending; SeaBIOS's port
		 * detection relies on that. No interrupt line is driven.
		 */
		return (uint8_t)(((s->r[R_FCR] & 1) ? 0xc0 : 0) |
				 ((s->r[R_IER] & 0x02) ? 0x02 : 0x01));
	case 3: return s->r[R_LCR];
	case 4: return s->r[R_MCR];
	case 5: return UART_LSR_THRE | UART_LSR_TEMT;
	case 6: return 0xb0;                         /* MSR: DCD, DSR, CTS */
	default: return s->r[R_SCR];
	}
}

static void serial_write(struct serial *s, unsigned int reg, uint8_t v)
{
	int dlab = s->r[R_LCR] & 0x80;

	switch (reg) {
	case 0:
		if (dlab)
			s->r[R_DLL] = v;
		else
			serial_out(s, v);
		break;
	case 1:
		if (dlab)
			s->r[R_DLM] = v;
		else
			s->r[R_IER] = v & 0x0f;
		break;
	case 2: s->r[R_FCR] = v; break;
	case 3: s->r[R_LCR] = v; break;
	case 4: s->r[R_MCR] = v & 0x1f; break;
	case 7: s->r[R_SCR] = v; break;
	default: break;
	}
}

static void serial_access(void *opaque, uint64_t offset, uint8_t *data, unsigned int len,
			  int is_write)
{
	struct serial *s = opaque;
	unsigned int i;

	/* A wider access touches consecutive registers. */
	for (i = 0; i < len && offset + i < 8; i++) {
		if (is_write)
			serial_write(s, (unsigned int)(offset + i), data[i]);
		else
			data[i] = serial_read(s, (unsigned int)(offset + i));
	}
}

int serial_create(struct vm *vm, const char *dest)
{
	struct serial *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	vm->serial = s;
	s->fd = -1;
	if (!dest || !strcmp(dest, "stdio")) {
		s->fd = STDOUT_FILENO;
	} else if (strcmp(dest, "none")) {
		s->fd = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (s->fd < 0) {
			fprintf(stderr, "vdev-run: --serial %s: %s\n", dest, strerror(errno));
			return -errno;
		}
		s->own_fd = 1;
	}
	return pio_register(vm, COM1, 8, serial_access, s);
}

void serial_destroy(struct vm *vm)
{
	struct serial *s = vm->serial;

	if (!s)
		return;
	if (s->own_fd)
		close(s->fd);
	free(s);
	vm->serial = NULL;
}

int serial_save(struct vm *vm, vdev_state_writer *w)
{
	return vdev_state_put_bytes(w, VDEV_STATE_TAG('U', 'A', 'R', 'T'), vm->serial->r, R_NREGS);
}

int serial_load(struct vm *vm, const struct vdev_state_record *rec)
{
	if (rec->type != VDEV_STATE_BYTES || rec->len != R_NREGS)
		return -EBADMSG;
	memcpy(vm->serial->r, rec->data, R_NREGS);
	return 0;
}
