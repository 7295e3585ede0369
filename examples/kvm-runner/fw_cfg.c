/* SPDX-License-Identifier: MIT */
/*
 * QEMU's firmware configuration interface (QEMU docs/specs/fw_cfg.rst), as
 * SeaBIOS uses it:
 *   0x510  selector (16-bit write): picks an item and rewinds it
 *   0x511  data (8-bit read): the next byte of the item; 0 past its end
 *   0x514  DMA address (big-endian, high half at 0x514, low half at 0x518;
 *          writing the low half starts the transfer); reads give "QEMU CFG"
 * A DMA access is { be32 control; be32 length; be64 address } in guest RAM;
 * control bits: 0x01 error, 0x02 read, 0x04 skip, 0x08 select (item in bits
 * 31..16), 0x10 write (refused: items are read-only). The device clears
 * control (or leaves only the error bit) when done. DMA goes through
 * libvdev's checked guest-memory accessors, so a bad address is an error,
 * never a write outside RAM.
 *
 * Items: 0x00 signature "QEMU", 0x01 ID (bit 0 traditional, bit 1 DMA),
 * 0x05 CPU count, 0x0e boot menu (0: no "Press ESC" wait), 0x0f max CPUs,
 * 0x19 the file directory (be32 count, then { be32 size; be16 select;
 * u16 reserved; char name[56] }), files from 0x20.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"

#define FW_CFG_PORT 0x510
#define FW_CFG_FILE_DIR 0x19
#define FW_CFG_FILE_FIRST 0x20
#define FW_CFG_MAX_ITEMS 48
#define FW_CFG_NAME_LEN 56

#define DMA_ERROR 0x01u
#define DMA_READ 0x02u
#define DMA_SKIP 0x04u
#define DMA_SELECT 0x08u
#define DMA_WRITE 0x10u

static const uint8_t dma_signature[8] = { 'Q', 'E', 'M', 'U', ' ', 'C', 'F', 'G' };

struct fw_item {
	uint16_t key;
	uint32_t len;
	uint8_t *data;
	char name[FW_CFG_NAME_LEN]; /* files only */
};

struct fw_cfg {
	struct fw_item items[FW_CFG_MAX_ITEMS];
	unsigned int n;
	uint16_t next_file_key;
	uint16_t cur;
	uint32_t offset;
	uint32_t dma_hi;
};

static struct fw_item *find(struct fw_cfg *c, uint16_t key)
{
	unsigned int i;

	for (i = 0; i < c->n; i++)
		if (c->items[i].key == key)
			return &c->items[i];
	return NULL;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int set_item(struct fw_cfg *c, uint16_t key, const void *data, uint32_t len,
		    const char *name)
{
	struct fw_item *it = find(c, key);
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, len);
	if (!it) {
		if (c->n == FW_CFG_MAX_ITEMS) {
			free(copy);
			return -ENOSPC;
		}
		it = &c->items[c->n++];
		it->key = key;
	}
	free(it->data);
	it->data = copy;
	it->len = len;
	if (name)
		snprintf(it->name, sizeof(it->name), "%s", name);
	return 0;
}

/* Rebuild the directory item from the file items. */
static int rebuild_dir(struct fw_cfg *c)
{
	uint8_t buf[4 + FW_CFG_MAX_ITEMS * 64];
	uint32_t count = 0;
	unsigned int i;

	memset(buf, 0, sizeof(buf));
	for (i = 0; i < c->n; i++) {
		const struct fw_item *it = &c->items[i];
		uint8_t *e = buf + 4 + count * 64;

		if (it->key < FW_CFG_FILE_FIRST)
			continue;
		put_be32(e, it->len);
		e[4] = (uint8_t)(it->key >> 8);
		e[5] = (uint8_t)it->key;
		memcpy(e + 8, it->name, FW_CFG_NAME_LEN);
		count++;
	}
	put_be32(buf, count);
	return set_item(c, FW_CFG_FILE_DIR, buf, 4 + count * 64, NULL);
}

int fw_cfg_add_item(struct vm *vm, uint16_t key, const void *data, uint32_t len)
{
	return set_item(vm->fw_cfg, key, data, len, NULL);
}

int fw_cfg_add_file(struct vm *vm, const char *name, const void *data, uint32_t len)
{
	struct fw_cfg *c = vm->fw_cfg;
	unsigned int i;
	int rc;

	if (strlen(name) >= FW_CFG_NAME_LEN)
		return -ENAMETOOLONG;
	for (i = 0; i < c->n; i++)
		if (c->items[i].key >= FW_CFG_FILE_FIRST && !strcmp(c->items[i].name, name))
			return -EEXIST;
	rc = set_item(c, c->next_file_key, data, len, name);
	if (rc)
		return rc;
	c->next_file_key++;
	return rebuild_dir(c);
}

static void dma_run(struct vm *vm, uint64_t addr)
{
	struct fw_cfg *c = vm->fw_cfg;
	uint8_t acc[16], zero[256], st[4];
	uint32_t control, len;
	uint64_t gpa;
	int err = 0;

	if (vdev_mem_read(vm->ctx, addr, acc, sizeof(acc)))
		return; /* nowhere to report the error */
	control = get_be32(acc);
	len = get_be32(acc + 4);
	gpa = (uint64_t)get_be32(acc + 8) << 32 | get_be32(acc + 12);

	if (control & DMA_SELECT) {
		c->cur = (uint16_t)(control >> 16);
		c->offset = 0;
	}
	if (control & DMA_WRITE) {
		err = 1;
	} else if (control & DMA_READ) {
		const struct fw_item *it = find(c, c->cur);
		uint32_t avail = it && c->offset < it->len ? it->len - c->offset : 0;
		uint32_t n = len < avail ? len : avail;

		if (n && vdev_mem_write(vm->ctx, gpa, it->data + c->offset, n))
			err = 1;
		c->offset += n;
		gpa += n;
		len -= n;
		/* Past the end of the item the transfer reads zeroes. */
		memset(zero, 0, sizeof(zero));
		while (!err && len) {
			uint32_t k = len < sizeof(zero) ? len : (uint32_t)sizeof(zero);

			if (vdev_mem_write(vm->ctx, gpa, zero, k))
				err = 1;
			gpa += k;
			len -= k;
		}
	} else if (control & DMA_SKIP) {
		c->offset = len > UINT32_MAX - c->offset ? UINT32_MAX : c->offset + len;
	}
	put_be32(st, err ? DMA_ERROR : 0);
	vdev_mem_write(vm->ctx, addr, st, sizeof(st));
}

static void fw_cfg_access(void *opaque, uint64_t offset, uint8_t *data, unsigned int len,
			  int is_write)
{
	struct vm *vm = opaque;
	struct fw_cfg *c = vm->fw_cfg;
	unsigned int i;

	if (offset == 0) { /* selector */
		if (is_write) {
			c->cur = (uint16_t)(data[0] | (len > 1 ? data[1] << 8 : 0));
			c->offset = 0;
		} else {
			memset(data, 0, len);
		}
		return;
	}
	if (offset == 1) { /* data */
		const struct fw_item *it = find(c, c->cur);

		if (is_write)
			return;
		for (i = 0; i < len; i++) {
			data[i] = it && c->offset < it->len ? it->data[c->offset] : 0;
			if (it && c->offset < it->len)
				c->offset++;
		}
		return;
	}
	if (offset >= 4 && offset < 12) { /* DMA address register */
		offset -= 4;
		if (!is_write) {
			for (i = 0; i < len; i++)
				data[i] = offset + i < 8 ? dma_signature[offset + i] : 0;
			return;
		}
		if (offset == 0 && len == 4) {
			c->dma_hi = get_be32(data);
		} else if (offset == 4 && len == 4) {
			dma_run(vm, (uint64_t)c->dma_hi << 32 | get_be32(data));
			c->dma_hi = 0;
		}
		return;
	}
	if (!is_write)
		memset(data, 0xff, len);
}

int fw_cfg_create(struct vm *vm)
{
	struct fw_cfg *c = calloc(1, sizeof(*c));
	uint32_t id = 3; /* traditional interface + DMA */
	uint16_t one = 1, zero16 = 0;
	uint64_t ram = vm->ram_size;
	int rc;

	if (!c)
		return -ENOMEM;
	vm->fw_cfg = c;
	c->next_file_key = FW_CFG_FILE_FIRST;
	rc = set_item(c, 0x00, "QEMU", 4, NULL);
	rc = rc ? rc : set_item(c, 0x01, &id, sizeof(id), NULL);
	rc = rc ? rc : set_item(c, 0x03, &ram, sizeof(ram), NULL);
	rc = rc ? rc : set_item(c, 0x05, &one, sizeof(one), NULL);
	rc = rc ? rc : set_item(c, 0x0e, &zero16, sizeof(zero16), NULL);
	rc = rc ? rc : set_item(c, 0x0f, &one, sizeof(one), NULL);
	rc = rc ? rc : rebuild_dir(c);
	if (!rc)
		rc = pio_register(vm, FW_CFG_PORT, 12, fw_cfg_access, vm);
	return rc;
}

void fw_cfg_destroy(struct vm *vm)
{
	struct fw_cfg *c = vm->fw_cfg;
	unsigned int i;

	if (!c)
		return;
	for (i = 0; i < c->n; i++)
		free(c->items[i].data);
	free(c);
	vm->fw_cfg = NULL;
}

/* Saved: the selected item and the read offset (the items come from the command line). */
int fw_cfg_save(struct vm *vm, vdev_state_writer *w)
{
	uint8_t buf[6];

	buf[0] = (uint8_t)vm->fw_cfg->cur;
	buf[1] = (uint8_t)(vm->fw_cfg->cur >> 8);
	put_be32(buf + 2, vm->fw_cfg->offset);
	return vdev_state_put_bytes(w, VDEV_STATE_TAG('F', 'W', 'C', 'F'), buf, sizeof(buf));
}

int fw_cfg_load(struct vm *vm, const struct vdev_state_record *rec)
{
	const uint8_t *p = rec->data;

	if (rec->type != VDEV_STATE_BYTES || rec->len != 6)
		return -EBADMSG;
	vm->fw_cfg->cur = (uint16_t)(p[0] | p[1] << 8);
	vm->fw_cfg->offset = get_be32(p + 2);
	return 0;
}
