/* SPDX-License-Identifier: MIT */
/*
 * vdev-pci-demo: wires a libvdev PCI device to a pretend VMM and walks it
 * through what firmware and a driver would do: enumerate and size BARs,
 * assign addresses, enable decoding, program MSI-X, raise interrupts, DMA,
 * arm a timer, then migrate it (save, load into a fresh device).
 *
 * Usage: vdev-pci-demo [device-spec]
 *   device-spec defaults to "pci-testdev,id=demo0,msix-vectors=4".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vdev/vdev.h>

struct demo_vmm {
	uint64_t now_ns;
	uint8_t ram[1 << 20]; /* 1 MiB of guest RAM at gpa 0 */
};

static void demo_log(void *opaque, enum vdev_log_level level, const char *msg)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };

	(void)opaque;
	printf("  [libvdev %s] %s\n", names[level], msg);
}

static uint64_t demo_clock(void *opaque)
{
	return ((struct demo_vmm *)opaque)->now_ns;
}

static void demo_intx(void *opaque, uint32_t source, unsigned int pin, int level)
{
	(void)opaque;
	printf("  -> INTx: source %" PRIu32 " pin INT%c# %s\n", source, 'A' + pin - 1,
	       level ? "asserted" : "deasserted");
}

static int demo_msi(void *opaque, uint32_t source, uint64_t addr, uint32_t data)
{
	(void)opaque;
	printf("  -> MSI: source %" PRIu32 " writes 0x%08" PRIx32 " to 0x%" PRIx64 "\n", source,
	       data, addr);
	return 0;
}

static void bar_moved(void *opaque, vdev_pci_func *f, int bar)
{
	struct vdev_pci_bar_info info;

	(void)opaque;
	vdev_pci_bar_get_info(f, bar, &info);
	printf("  -> BAR%d %s at 0x%" PRIx64 " (%" PRIu64 " bytes)\n", bar,
	       info.decoding ? "now decodes" : "stops decoding", info.addr, info.size);
}

static uint32_t cfg_read(vdev_pci_func *f, uint32_t off, size_t len)
{
	uint32_t v = 0;

	vdev_pci_config_read(f, off, &v, len);
	return v;
}

static void cfg_write(vdev_pci_func *f, uint32_t off, uint32_t v, size_t len)
{
	vdev_pci_config_write(f, off, &v, len);
}

static void mmio_write32(vdev_pci_func *f, uint64_t addr, uint32_t v)
{
	int bar;
	uint64_t off;

	/* A VMM's MMIO exit handler: find the BAR that decodes addr, forward. */
	if (vdev_pci_bar_lookup(f, 0, addr, &bar, &off) == 0)
		vdev_pci_bar_write(f, bar, off, &v, sizeof(v));
	else
		printf("  (write to 0x%" PRIx64 " hits no BAR)\n", addr);
}

static uint32_t mmio_read32(vdev_pci_func *f, uint64_t addr)
{
	uint32_t v = 0xffffffff;
	uint64_t off;
	int bar;

	if (vdev_pci_bar_lookup(f, 0, addr, &bar, &off) == 0)
		vdev_pci_bar_read(f, bar, off, &v, sizeof(v));
	return v;
}

/* Size and place every BAR the way SeaBIOS does: write all-ones, read the mask back. */
static uint64_t enumerate(vdev_pci_func *f, uint64_t mmio_base, uint16_t io_base,
			  uint64_t *bar0_addr)
{
	for (int i = 0; i < VDEV_PCI_NUM_BARS; i++) {
		uint32_t off = VDEV_PCI_BAR0 + 4 * (uint32_t)i;
		uint32_t orig = cfg_read(f, off, 4), mask;
		uint64_t size, addr;
		int is64;

		cfg_write(f, off, 0xffffffff, 4);
		mask = cfg_read(f, off, 4);
		cfg_write(f, off, orig, 4);
		if (!mask)
			continue;
		if (mask & 1) {
			size = (uint16_t)~(mask & ~3u) + 1u;
			addr = io_base;
			io_base = (uint16_t)(io_base + size);
			cfg_write(f, off, (uint32_t)addr, 4);
			printf("BAR%d: I/O, %" PRIu64 " bytes -> 0x%" PRIx64 "\n", i, size, addr);
			continue;
		}
		is64 = (mask & 6) == 4;
		size = (uint64_t)(~(mask & ~15u)) + 1u;
		size &= 0xffffffffu;
		if (is64) {
			uint32_t hi_orig = cfg_read(f, off + 4, 4);

			cfg_write(f, off + 4, 0xffffffff, 4);
			size = ~(((uint64_t)cfg_read(f, off + 4, 4) << 32) | (mask & ~15u)) + 1;
			cfg_write(f, off + 4, hi_orig, 4);
		}
		addr = (mmio_base + size - 1) & ~(size - 1);
		mmio_base = addr + size;
		cfg_write(f, off, (uint32_t)addr | (mask & 15), 4);
		if (is64)
			cfg_write(f, off + 4, (uint32_t)(addr >> 32), 4);
		if (i == 0)
			*bar0_addr = addr;
		printf("BAR%d: %s memory%s, %" PRIu64 " bytes -> 0x%" PRIx64 "\n", i,
		       is64 ? "64-bit" : "32-bit", (mask & 8) ? " (prefetchable)" : "", size, addr);
		if (is64)
			i++;
	}
	return mmio_base;
}

static int find_cap(vdev_pci_func *f, uint8_t id)
{
	uint8_t pos = (uint8_t)cfg_read(f, VDEV_PCI_CAPABILITY_LIST, 1);

	for (int guard = 0; pos && guard < 48; guard++) {
		if (cfg_read(f, pos, 1) == id)
			return pos;
		pos = (uint8_t)cfg_read(f, pos + 1u, 1);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *spec = argc > 1 ? argv[1] : "pci-testdev,id=demo0,msix-vectors=4";
	struct demo_vmm *vm = calloc(1, sizeof(*vm));
	struct vdev_host_ops ops = {
		.struct_size = sizeof(ops),
		.log = demo_log,
		.clock_ns = demo_clock,
		.intx_set = demo_intx,
		.msi_send = demo_msi,
	};
	uint64_t bar0 = 0, msix_bar_addr, deadline;
	vdev_device *dev, *dev2;
	vdev_state_writer *w;
	vdev_state_reader *r;
	vdev_pci_func *f;
	const void *blob;
	size_t blob_len;
	vdev_ctx *ctx;
	int rc, msix;

	if (!vm)
		return 1;
	ops.opaque = vm;
	printf("libvdev %s\n", vdev_version_string());
	rc = vdev_ctx_new(&ops, &ctx);
	if (!rc)
		rc = vdev_mem_region_add(ctx, 0, sizeof(vm->ram), vm->ram, 0);
	if (!rc)
		rc = vdev_device_create_kv(ctx, spec, &dev);
	if (rc || !(f = vdev_device_pci(dev))) {
		fprintf(stderr, "vdev-pci-demo: cannot create '%s': %s\n", spec,
			rc ? vdev_strerror(rc) : "not a PCI device");
		return 1;
	}
	vdev_pci_set_bar_listener(f, bar_moved, NULL);
	printf("created %s '%s': vendor 0x%04x device 0x%04x class 0x%06x\n",
	       vdev_device_get_type(dev)->name, vdev_device_id(dev), cfg_read(f, 0, 2),
	       cfg_read(f, 2, 2), cfg_read(f, 8, 4) >> 8);

	printf("\n== firmware: size and assign BARs, enable decoding ==\n");
	enumerate(f, 0xfe000000, 0xc000, &bar0);
	cfg_write(f, VDEV_PCI_COMMAND,
		  VDEV_PCI_COMMAND_MEMORY | VDEV_PCI_COMMAND_IO | VDEV_PCI_COMMAND_MASTER, 2);
	printf("magic register reads 0x%08x\n", mmio_read32(f, bar0 + VDEV_TESTDEV_REG_MAGIC));

	printf("\n== driver: INTx ==\n");
	mmio_write32(f, bar0 + VDEV_TESTDEV_REG_IRQ_RAISE, 0);
	mmio_write32(f, bar0 + VDEV_TESTDEV_REG_IRQ_ACK, 1);

	msix = find_cap(f, VDEV_PCI_CAP_ID_MSIX);
	if (msix) {
		uint32_t table = cfg_read(f, (uint32_t)msix + 4, 4);
		struct vdev_pci_bar_info info;

		vdev_pci_bar_get_info(f, (int)(table & 7), &info);
		msix_bar_addr = info.addr + (table & ~7u);
		printf("\n== driver: MSI-X (cap at 0x%x, table in BAR%u) ==\n", msix, table & 7);
		mmio_write32(f, msix_bar_addr + 0, 0xfee00000);
		mmio_write32(f, msix_bar_addr + 4, 0);
		mmio_write32(f, msix_bar_addr + 8, 0x4041);
		mmio_write32(f, msix_bar_addr + 12, 0); /* unmask vector 0 */
		cfg_write(f, (uint32_t)msix + 2, 0x8000, 2); /* MSI-X enable */
		mmio_write32(f, bar0 + VDEV_TESTDEV_REG_IRQ_RAISE, 0);
		printf("masking vector 0, raising it (held pending), unmasking:\n");
		mmio_write32(f, msix_bar_addr + 12, 1);
		mmio_write32(f, bar0 + VDEV_TESTDEV_REG_IRQ_RAISE, 0);
		printf("  pending bit: %d\n", vdev_pci_vector_pending(f, 0));
		mmio_write32(f, msix_bar_addr + 12, 0);
	}

	printf("\n== driver: DMA fill of 4 KiB at gpa 0x10000 with 0xab ==\n");
	mmio_write32(f, bar0 + VDEV_TESTDEV_REG_SCRATCH, 0xab);
	mmio_write32(f, bar0 + VDEV_TESTDEV_REG_DMA_ADDR_LO, 0x10000);
	mmio_write32(f, bar0 + VDEV_TESTDEV_REG_DMA_LEN, 4096);
	mmio_write32(f, bar0 + VDEV_TESTDEV_REG_DMA_CMD, VDEV_TESTDEV_DMA_FILL);
	printf("status %u, guest RAM now holds 0x%02x..0x%02x\n",
	       mmio_read32(f, bar0 + VDEV_TESTDEV_REG_DMA_STATUS), vm->ram[0x10000],
	       vm->ram[0x10fff]);
	printf("a DMA aimed past RAM (gpa 0xfff00000) is refused:\n");
	mmio_write32(f, bar0 + VDEV_TESTDEV_REG_DMA_ADDR_LO, 0xfff00000);
	mmio_write32(f, bar0 + VDEV_TESTDEV_REG_DMA_CMD, VDEV_TESTDEV_DMA_FILL);
	printf("status %u (%s)\n", mmio_read32(f, bar0 + VDEV_TESTDEV_REG_DMA_STATUS),
	       vdev_strerror(-(int)mmio_read32(f, bar0 + VDEV_TESTDEV_REG_DMA_STATUS)));

	printf("\n== timer: arm 1 ms, let time pass ==\n");
	mmio_write32(f, bar0 + VDEV_TESTDEV_REG_TIMER, 1000000);
	if (vdev_timers_next_deadline(ctx, &deadline) == 0)
		printf("next deadline at %" PRIu64 " ns\n", deadline);
	vm->now_ns = 2000000;
	printf("%d timer(s) ran\n", vdev_timers_run(ctx));

	printf("\n== migration: save, load into a fresh device ==\n");
	mmio_write32(f, bar0 + VDEV_TESTDEV_REG_SCRATCH, 0xc0ffee);
	rc = vdev_state_writer_new(&w);
	if (!rc)
		rc = vdev_device_save(dev, w);
	if (!rc)
		rc = vdev_state_writer_finish(w, &blob, &blob_len);
	if (!rc)
		rc = vdev_device_create(ctx, vdev_device_get_type(dev)->name, NULL, "demo1", &dev2);
	if (!rc)
		rc = vdev_state_reader_new(blob, blob_len, &r);
	if (!rc) {
		rc = vdev_device_load(dev2, r);
		if (rc)
			printf("load failed: %s\n", vdev_state_reader_error(r));
		vdev_state_reader_free(r);
	}
	if (rc) {
		fprintf(stderr, "vdev-pci-demo: migration failed: %s\n", vdev_strerror(rc));
		return 1;
	}
	printf("state blob: %zu bytes; the copy's scratch register reads 0x%x\n", blob_len,
	       mmio_read32(vdev_device_pci(dev2), bar0 + VDEV_TESTDEV_REG_SCRATCH));
	vdev_state_writer_free(w);
	vdev_ctx_free(ctx);
	free(vm);
	printf("\ndone\n");
	return 0;
}
