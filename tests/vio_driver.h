/* SPDX-License-Identifier: MIT */
/*
 * vio_driver: the driver side of the virtio TRANSPORTS for tests, written
 * from VIRTIO 1.2 §4.1 (virtio-pci modern) and §4.2 (virtio-mmio v2).
 * It finds the virtio-pci capabilities by walking config space as a guest
 * does, negotiates features, sets queues up through the common
 * configuration (or the MMIO registers), reads ISR / InterruptStatus,
 * programs MSI-X, and rings doorbells. Rings themselves come from vdrv
 * (tests/vdrv.h): vio_queue_setup() takes a vdrv_vq and hands its ring
 * addresses to the device.
 *
 * Every register access goes through the library's public entry points
 * (vdev_pci_config_*, vdev_pci_bar_*, vdev_virtio_mmio_*). With
 * VIO_F_WINDOW, virtio-pci structure accesses go through the PCI_CFG
 * capability's window instead (§4.1.4.9), as 16-bit firmware does.
 *
 * Functions return 0 or a negative errno; -EPROTO means the device
 * answered something the spec forbids (vio_error() says what).
 */
#ifndef VDEV_TESTS_VIO_DRIVER_H
#define VDEV_TESTS_VIO_DRIVER_H

#include <stdint.h>
#include <vdev/pci.h>
#include <vdev/virtio.h>

#include "vdrv.h"

/* virtio-pci cfg_type values (§4.1.4). */
#define VIO_PCI_CAP_COMMON 1
#define VIO_PCI_CAP_NOTIFY 2
#define VIO_PCI_CAP_ISR 3
#define VIO_PCI_CAP_DEVICE 4
#define VIO_PCI_CAP_PCI_CFG 5

/* Common configuration offsets (§4.1.4.3). */
#define VIO_CC_DFSELECT 0x00
#define VIO_CC_DF 0x04
#define VIO_CC_GFSELECT 0x08
#define VIO_CC_GF 0x0c
#define VIO_CC_MSIX 0x10
#define VIO_CC_NUMQ 0x12
#define VIO_CC_STATUS 0x14
#define VIO_CC_CFGGEN 0x15
#define VIO_CC_Q_SELECT 0x16
#define VIO_CC_Q_SIZE 0x18
#define VIO_CC_Q_MSIX 0x1a
#define VIO_CC_Q_ENABLE 0x1c
#define VIO_CC_Q_NOFF 0x1e
#define VIO_CC_Q_DESC 0x20
#define VIO_CC_Q_DRIVER 0x28
#define VIO_CC_Q_DEVICE 0x30
#define VIO_CC_Q_NDATA 0x38
#define VIO_CC_Q_RESET 0x3a

/* virtio-mmio registers (§4.2.2). */
#define VIO_MMIO_MAGIC 0x000
#define VIO_MMIO_VERSION 0x004
#define VIO_MMIO_DEVICE_ID 0x008
#define VIO_MMIO_VENDOR_ID 0x00c
#define VIO_MMIO_DEV_FEATURES 0x010
#define VIO_MMIO_DEV_FEATURES_SEL 0x014
#define VIO_MMIO_DRV_FEATURES 0x020
#define VIO_MMIO_DRV_FEATURES_SEL 0x024
#define VIO_MMIO_QUEUE_SEL 0x030
#define VIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIO_MMIO_QUEUE_NUM 0x038
#define VIO_MMIO_QUEUE_READY 0x044
#define VIO_MMIO_QUEUE_NOTIFY 0x050
#define VIO_MMIO_INT_STATUS 0x060
#define VIO_MMIO_INT_ACK 0x064
#define VIO_MMIO_STATUS 0x070
#define VIO_MMIO_QUEUE_DESC_LO 0x080
#define VIO_MMIO_QUEUE_DESC_HI 0x084
#define VIO_MMIO_QUEUE_DRIVER_LO 0x090
#define VIO_MMIO_QUEUE_DRIVER_HI 0x094
#define VIO_MMIO_QUEUE_DEVICE_LO 0x0a0
#define VIO_MMIO_QUEUE_DEVICE_HI 0x0a4
#define VIO_MMIO_SHM_SEL 0x0ac
#define VIO_MMIO_SHM_LEN_LO 0x0b0
#define VIO_MMIO_SHM_LEN_HI 0x0b4
#define VIO_MMIO_SHM_BASE_LO 0x0b8
#define VIO_MMIO_SHM_BASE_HI 0x0bc
#define VIO_MMIO_QUEUE_RESET 0x0c0
#define VIO_MMIO_CONFIG_GEN 0x0fc
#define VIO_MMIO_CONFIG 0x100

#define VIO_NO_VECTOR 0xffff

/* vio flags. */
#define VIO_F_WINDOW (1u << 0) /* virtio-pci: use the PCI_CFG window for structures */

/* One virtio-pci structure as its capability describes it. */
struct vio_cap {
	int present;
	uint8_t cap;      /* offset of the capability in config space */
	uint8_t bar;
	uint32_t offset;
	uint32_t length;
};

struct vio_dev {
	int is_pci;
	unsigned int flags;
	vdev_pci_func *f;     /* virtio-pci */
	vdev_virtio *vd;      /* virtio-mmio */
	struct vio_cap common, notify, isr, device, pcicfg;
	uint32_t notify_mult;
	uint8_t msix_cap;     /* 0: none */
	uint16_t msix_size;
	int msix_table_bar;
	uint32_t msix_table_off;
	uint64_t features;    /* negotiated */
	char err[160];
};

/*
 * Find the virtio-pci capabilities of @f by walking its list (§4.1.4:
 * the first of each type that we understand wins). Checks the vendor,
 * device and revision IDs. @return 0; -ENODEV (not virtio-pci modern);
 * -EPROTO (malformed capability).
 */
int vio_pci_init(struct vio_dev *d, vdev_pci_func *f, unsigned int flags);
/* Bind to a device attached with vdev_virtio_mmio_attach(); checks magic and version. */
int vio_mmio_init(struct vio_dev *d, vdev_virtio *vd);
const char *vio_error(const struct vio_dev *d);

/* Raw structure access: virtio-pci common config, or virtio-mmio registers. */
uint64_t vio_common_read(struct vio_dev *d, uint32_t off, unsigned int len);
void vio_common_write(struct vio_dev *d, uint32_t off, uint64_t v, unsigned int len);

uint8_t vio_get_status(struct vio_dev *d);
void vio_set_status(struct vio_dev *d, uint8_t status);
void vio_reset(struct vio_dev *d); /* status 0, then wait for it to read 0 */
uint64_t vio_device_features(struct vio_dev *d);
void vio_write_features(struct vio_dev *d, uint64_t features);
uint64_t vio_read_driver_features(struct vio_dev *d); /* virtio-pci only */
uint32_t vio_config_generation(struct vio_dev *d);
uint32_t vio_num_queues(struct vio_dev *d);
void vio_select_queue(struct vio_dev *d, uint32_t q);
uint32_t vio_queue_max(struct vio_dev *d, uint32_t q); /* virtio-pci: queue_size at reset */

/*
 * The Linux-like start (§3.1.1): reset, ACKNOWLEDGE, DRIVER, read the
 * features, write (offered & @want), FEATURES_OK, read it back.
 * @return 0 with d->features set; -EPROTO if the device refused
 * FEATURES_OK (then FAILED is set, as a driver does).
 */
int vio_negotiate(struct vio_dev *d, uint64_t want);

/*
 * Set queue @q up on @vq's rings (size, addresses, MSI-X vector on PCI),
 * enable it and check it reads back enabled.
 * @return 0; -EIO (queue_enable / QueueReady reads 0 afterwards).
 */
int vio_queue_setup(struct vio_dev *d, uint32_t q, const struct vdrv_vq *vq, uint16_t vector);
/* Reset queue @q (VIRTIO_F_RING_RESET) and check it reads back disabled. */
int vio_queue_reset(struct vio_dev *d, uint32_t q);
void vio_driver_ok(struct vio_dev *d);

/* Ring queue @q's doorbell (with NOTIFICATION_DATA: @vq's notify data). */
void vio_kick(struct vio_dev *d, uint32_t q, const struct vdrv_vq *vq);

/* virtio-pci: read (and so clear) ISR. virtio-mmio: read InterruptStatus and ACK it all. */
uint8_t vio_isr(struct vio_dev *d);

/* Device-specific configuration bytes. */
void vio_config_read(struct vio_dev *d, uint32_t off, void *buf, uint32_t len);

/* virtio-pci MSI-X: vector @v sends (addr, data); unmasked. */
void vio_msix_vector(struct vio_dev *d, unsigned int v, uint64_t addr, uint32_t data);
void vio_msix_mask(struct vio_dev *d, unsigned int v, int masked);
void vio_msix_enable(struct vio_dev *d, int on);
void vio_set_config_vector(struct vio_dev *d, uint16_t v);
uint16_t vio_get_config_vector(struct vio_dev *d);
uint16_t vio_get_queue_vector(struct vio_dev *d, uint32_t q);
void vio_set_queue_vector(struct vio_dev *d, uint32_t q, uint16_t v);

/* virtio-pci: the PCI_CFG window: @len bytes at @off of BAR @bar. */
uint32_t vio_window_read(struct vio_dev *d, uint8_t bar, uint32_t off, uint32_t len);
void vio_window_write(struct vio_dev *d, uint8_t bar, uint32_t off, uint32_t len, uint32_t v);

/* virtio-pci: enable memory decoding and bus mastering. */
void vio_pci_enable(struct vio_dev *d);

#endif /* VDEV_TESTS_VIO_DRIVER_H */
