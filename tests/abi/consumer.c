/* SPDX-License-Identifier: MIT */
/*
 * A minimal program built against an INSTALLED libvdev (ctest abi_consumer):
 * once through pkg-config, once through CMake's find_package(vdev). It
 * uses only the public headers, as any VMM would, and checks that the
 * library it loaded matches the headers it was compiled with.
 */
#include <stdio.h>
#include <string.h>

#include <vdev/vdev.h>

#define RAM_SIZE (1u << 20)

static unsigned char guest_ram[RAM_SIZE];

static int check(int ok, const char *what)
{
	if (!ok)
		fprintf(stderr, "consumer: FAILED: %s\n", what);
	return ok ? 0 : 1;
}

int main(void)
{
	struct vdev_host_ops ops;
	vdev_ctx *ctx = NULL;
	vdev_device *dev = NULL;
	vdev_pci_func *pci = NULL;
	unsigned char id[4] = { 0, 0, 0, 0 };
	unsigned char in[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	unsigned char out[8];
	unsigned int vendor, device;
	int rc, bad = 0;

	bad += check(vdev_version() == VDEV_VERSION_HEX, "vdev_version() == VDEV_VERSION_HEX");
	if (bad)
		fprintf(stderr, "consumer: headers 0x%06x, library 0x%06x\n",
			(unsigned int)VDEV_VERSION_HEX, vdev_version());

	memset(&ops, 0, sizeof(ops));
	ops.struct_size = sizeof(ops);
	rc = vdev_ctx_new(&ops, &ctx);
	if (check(rc == 0 && ctx != NULL, "vdev_ctx_new")) {
		fprintf(stderr, "consumer: %s\n", vdev_strerror(rc));
		return 1;
	}

	rc = vdev_mem_region_add(ctx, 0, RAM_SIZE, guest_ram, 0);
	bad += check(rc == 0, "vdev_mem_region_add");
	bad += check(vdev_mem_write(ctx, 0x1000, in, sizeof(in)) == 0, "vdev_mem_write");
	bad += check(vdev_mem_read(ctx, 0x1000, out, sizeof(out)) == 0 &&
		     memcmp(in, out, sizeof(in)) == 0, "vdev_mem_read returns what was written");
	bad += check(vdev_mem_read(ctx, RAM_SIZE, out, 1) < 0, "read outside RAM is refused");

	rc = vdev_device_create_kv(ctx, "pci-testdev,id=t0", &dev);
	if (check(rc == 0 && dev != NULL, "vdev_device_create_kv(pci-testdev)")) {
		fprintf(stderr, "consumer: %s\n", vdev_strerror(rc));
		vdev_ctx_free(ctx);
		return 1;
	}
	bad += check(strcmp(vdev_device_id(dev), "t0") == 0, "device id is t0");
	pci = vdev_device_pci(dev);
	bad += check(pci != NULL, "vdev_device_pci");
	if (pci) {
		rc = vdev_pci_config_read(pci, VDEV_PCI_VENDOR_ID, id, sizeof(id));
		bad += check(rc == 0, "vdev_pci_config_read");
		vendor = (unsigned int)id[0] | (unsigned int)id[1] << 8;
		device = (unsigned int)id[2] | (unsigned int)id[3] << 8;
		bad += check(vendor == VDEV_TESTDEV_VENDOR_ID, "vendor ID");
		bad += check(device == VDEV_TESTDEV_DEVICE_ID, "device ID");
	}

	vdev_device_destroy(dev);
	vdev_ctx_free(ctx);
	if (bad)
		return 1;
	printf("OK libvdev %s\n", vdev_version_string());
	return 0;
}
