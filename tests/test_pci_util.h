/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the test_pci_*.c programs: config accessors that
 * assert success, a BAR-listener recorder and config dumps.
 * Everything is static inline so each program uses what it needs.
 */
#ifndef VDEV_TESTS_TEST_PCI_UTIL_H
#define VDEV_TESTS_TEST_PCI_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "mock_vmm.h"
#include "pci/pci_testdev.h"

static inline uint32_t cfg_rd(vdev_pci_func *f, uint32_t off, unsigned int len)
{
	uint8_t b[4] = { 0 };
	uint32_t v = 0;

	assert_int_equal(vdev_pci_config_read(f, off, b, len), 0);
	for (unsigned int i = 0; i < len; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static inline void cfg_wr(vdev_pci_func *f, uint32_t off, uint32_t v, unsigned int len)
{
	uint8_t b[4];

	for (unsigned int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	assert_int_equal(vdev_pci_config_write(f, off, b, len), 0);
}

static inline uint8_t cfg_rd8(vdev_pci_func *f, uint32_t off)
{
	return (uint8_t)cfg_rd(f, off, 1);
}

static inline uint16_t cfg_rd16(vdev_pci_func *f, uint32_t off)
{
	return (uint16_t)cfg_rd(f, off, 2);
}

static inline uint32_t cfg_rd32(vdev_pci_func *f, uint32_t off)
{
	return cfg_rd(f, off, 4);
}

static inline void cfg_wr8(vdev_pci_func *f, uint32_t off, uint8_t v)
{
	cfg_wr(f, off, v, 1);
}

static inline void cfg_wr16(vdev_pci_func *f, uint32_t off, uint16_t v)
{
	cfg_wr(f, off, v, 2);
}

static inline void cfg_wr32(vdev_pci_func *f, uint32_t off, uint32_t v)
{
	cfg_wr(f, off, v, 4);
}

/* The whole config space, byte by byte. */
static inline void cfg_dump(vdev_pci_func *f, uint8_t *out, size_t size)
{
	for (size_t i = 0; i < size; i++)
		assert_int_equal(vdev_pci_config_read(f, (uint32_t)i, out + i, 1), 0);
}

static inline uint64_t bar_rd(vdev_pci_func *f, int bar, uint64_t off, unsigned int len)
{
	uint8_t b[8] = { 0 };
	uint64_t v = 0;

	assert_int_equal(vdev_pci_bar_read(f, bar, off, b, len), 0);
	for (unsigned int i = 0; i < len; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static inline void bar_wr(vdev_pci_func *f, int bar, uint64_t off, uint64_t v, unsigned int len)
{
	uint8_t b[8];

	for (unsigned int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	assert_int_equal(vdev_pci_bar_write(f, bar, off, b, len), 0);
}

/* Find capability @id by walking the list as a guest does. */
static inline uint8_t cap_find(vdev_pci_func *f, uint8_t id)
{
	uint8_t p;
	int guard = 0;

	if (!(cfg_rd16(f, VDEV_PCI_STATUS) & VDEV_PCI_STATUS_CAP_LIST))
		return 0;
	for (p = cfg_rd8(f, VDEV_PCI_CAPABILITY_LIST); p && guard < 48; guard++) {
		if (cfg_rd8(f, p) == id)
			return p;
		p = cfg_rd8(f, p + 1);
	}
	return 0;
}

/* BAR listener recorder. */
#define LREC_MAX 256
struct lrec {
	unsigned int n;
	int bar[LREC_MAX];
	int decoding[LREC_MAX];
	uint64_t addr[LREC_MAX];
};

static inline void lrec_cb(void *opaque, vdev_pci_func *f, int bar)
{
	struct lrec *l = opaque;
	struct vdev_pci_bar_info info;

	assert_int_equal(vdev_pci_bar_get_info(f, bar, &info), 0);
	if (l->n < LREC_MAX) {
		l->bar[l->n] = bar;
		l->decoding[l->n] = info.decoding;
		l->addr[l->n] = info.addr;
	}
	l->n++;
}

static inline unsigned int lrec_count_bar(const struct lrec *l, int bar)
{
	unsigned int c = 0;

	for (unsigned int i = 0; i < l->n && i < LREC_MAX; i++)
		c += l->bar[i] == bar;
	return c;
}

/* Make sure the context knows "pci-testdev" (built-in once the lead wires it). */
static inline void testdev_register(vdev_ctx *ctx)
{
	if (!vdev_device_type_find(ctx, VDEV_TESTDEV_TYPE))
		assert_int_equal(vdev_device_type_register(ctx, &vdev__pci_testdev_type), 0);
}

/* The pci-testdev's function, created with the given options. */
static inline vdev_pci_func *testdev_new(struct mock_vmm *mv, uint32_t msix, uint32_t msi,
					 int intx, uint32_t source_id, vdev_device **out)
{
	struct vdev_testdev_opts o = {
		.struct_size = sizeof(o),
		.source_id = source_id,
		.msix_vectors = msix,
		.msi_vectors = msi,
		.intx = intx,
	};
	vdev_device *dev = NULL;

	testdev_register(mv->ctx);
	assert_int_equal(vdev_device_create(mv->ctx, VDEV_TESTDEV_TYPE, &o, NULL, &dev), 0);
	assert_non_null(dev);
	assert_non_null(vdev_device_pci(dev));
	*out = dev;
	return vdev_device_pci(dev);
}

#endif /* VDEV_TESTS_TEST_PCI_UTIL_H */
