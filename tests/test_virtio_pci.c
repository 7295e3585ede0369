/* SPDX-License-Identifier: MIT */
/*
 * virtio-pci modern transport and the virtio device core, driven through
 * config space and BAR accesses by the vio test driver: identity and
 * capabilities, BAR sizing, the Linux-like init sequence, feature and
 * status rules, queue setup rules, MSI-X and INTx + ISR, queue and device
 * reset, NEEDS_RESET on a hostile ring, the PCI_CFG window, doorbells,
 * access widths, save/load with requests in flight and load rejections.
 */
#include <pthread.h>

#include "test_pci_util.h"
#include "test_virtio_model.h"

#define NQ 2
#define MSI_ADDR 0xfee00000ull

static int log_count(const struct mock_vmm *mv, const char *needle)
{
	size_t n = mv->n_log < MOCK_LOG_LINES ? mv->n_log : MOCK_LOG_LINES;
	int c = 0;

	for (size_t i = 0; i < n; i++)
		c += strstr(mv->log[i], needle) != NULL;
	return c;
}

static uint64_t cc_rd(struct tv *t, uint32_t off, unsigned int len)
{
	return bar_rd(t->f, 4, off, len);
}

static void cc_wr(struct tv *t, uint32_t off, uint64_t v, unsigned int len)
{
	bar_wr(t->f, 4, off, v, len);
}

static int intx(struct tv *t)
{
	return mock_vmm_intx_level(&t->mv, TV_SRC, 1);
}

/* ---- identity, capabilities, BARs ---- */

static void test_identity(void **state)
{
	struct tv *t = tv_new(1, NQ, 1);
	struct vdev_pci_bar_info bi;
	uint64_t df;
	uint8_t cfg[TM_CONFIG_SIZE];

	(void)state;
	assert_int_equal(cfg_rd16(t->f, VDEV_PCI_VENDOR_ID), 0x1af4);
	assert_int_equal(cfg_rd16(t->f, VDEV_PCI_DEVICE_ID), 0x1040 + 0x1f);
	assert_int_equal(cfg_rd8(t->f, VDEV_PCI_REVISION_ID), 1);
	assert_int_equal(cfg_rd32(t->f, 0x08) >> 8, 0xff0000);
	assert_int_equal(cfg_rd16(t->f, VDEV_PCI_SUBSYSTEM_VENDOR_ID), 0x1af4);
	assert_int_equal(cfg_rd16(t->f, VDEV_PCI_SUBSYSTEM_ID), 0x1f);
	assert_int_equal(cfg_rd8(t->f, VDEV_PCI_INTERRUPT_PIN), 1);

	/* Capabilities found by walking the list. */
	assert_int_equal(t->d.common.bar, 4);
	assert_int_equal(t->d.common.offset, 0);
	assert_int_equal(t->d.common.length, 0x3c);
	assert_int_equal(t->d.isr.offset, 0x1000);
	assert_int_equal(t->d.isr.length, 1);
	assert_int_equal(t->d.device.offset, 0x2000);
	assert_int_equal(t->d.device.length, TM_CONFIG_SIZE);
	assert_int_equal(t->d.notify.offset, 0x3000);
	assert_int_equal(t->d.notify.length, NQ * 4);
	assert_int_equal(t->d.notify_mult, 4);
	assert_true(t->d.pcicfg.present);
	assert_int_equal(t->d.pcicfg.length, 0);
	assert_int_equal(t->d.msix_size, NQ + 1);
	assert_int_equal(t->d.msix_table_bar, 1);
	/* Each structure on its own 4 KiB page. */
	assert_int_equal(t->d.common.offset % 4096, 0);

	assert_int_equal(vdev_pci_bar_get_info(t->f, 4, &bi), 0);
	assert_int_equal(bi.size, 0x4000);
	assert_int_equal(bi.flags, VDEV_PCI_BAR_MEM64); /* not prefetchable: ISR reads clear */
	assert_int_equal(vdev_pci_bar_get_info(t->f, 1, &bi), 0);
	assert_int_equal(bi.size, 4096);
	assert_int_equal(bi.flags, 0);

	assert_int_equal(vio_num_queues(&t->d), NQ);
	for (uint32_t q = 0; q < NQ; q++) {
		assert_int_equal(vio_queue_max(&t->d, q), TM_QSIZE);
		assert_int_equal(cc_rd(t, VIO_CC_Q_NOFF, 2), q);
		assert_int_equal(cc_rd(t, VIO_CC_Q_MSIX, 2), VIO_NO_VECTOR);
		assert_int_equal(cc_rd(t, VIO_CC_Q_ENABLE, 2), 0);
	}
	/* A queue that does not exist reads size 0. */
	assert_int_equal(vio_queue_max(&t->d, NQ), 0);

	df = vio_device_features(&t->d);
	assert_true(df & F_V1);
	assert_true(df & BIT(TM_FEATURE_A));
	assert_true(df & BIT(TM_FEATURE_B));
	assert_true(df & F_INDIRECT);
	assert_true(df & F_EVIDX);
	assert_true(df & F_PACKED);
	assert_true(df & BIT(VDEV_VIRTIO_F_IN_ORDER));
	assert_true(df & F_NDATA);
	assert_true(df & F_RESET);
	assert_false(df & BIT(3));
	/* Feature words above 63 are 0. */
	cc_wr(t, VIO_CC_DFSELECT, 2, 4);
	assert_int_equal(cc_rd(t, VIO_CC_DF, 4), 0);

	/* Device config through the DEVICE structure, and writes reach the model. */
	vio_config_read(&t->d, 0, cfg, sizeof(cfg));
	for (unsigned int i = 0; i < TM_CONFIG_SIZE; i++)
		assert_int_equal(cfg[i], 0x10 + i);
	assert_int_equal(bar_rd(t->f, 4, 0x2000, 4), 0x13121110);
	assert_int_equal(bar_rd(t->f, 4, 0x2000, 8), 0x1716151413121110ull);
	bar_wr(t->f, 4, 0x2002, 0xbeef, 2);
	assert_int_equal(t->tm.config[2], 0xef);
	assert_int_equal(t->tm.config[3], 0xbe);
	/* Beyond config_size: reads 0, writes go nowhere. */
	assert_int_equal(bar_rd(t->f, 4, 0x2008, 4), 0);
	bar_wr(t->f, 4, 0x2008, 0x11223344, 4);
	assert_int_equal(t->tm.config_writes, 1);
	tv_free(t);

	/* Without the model's queue_reset hook RING_RESET is not offered; masked: no EVENT_IDX. */
	{
		struct mock_vmm mv;
		struct vdev_virtio_ops o = tm_ops(1, 0);
		struct tmodel tm = { 0 };
		vdev_virtio *vd;
		vdev_pci_func *f;
		struct vdev_virtio_pci_opts po = { .struct_size = sizeof(po), .subsys_id = 0x4242 };
		struct vio_dev d;

		o.features_mask = F_EVIDX;
		assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
		assert_int_equal(vdev_virtio_new(mv.ctx, &o, &tm, &vd), 0);
		assert_int_equal(vdev_virtio_pci_new(vd, &po, &f), 0);
		assert_int_equal(vio_pci_init(&d, f, 0), 0);
		df = vio_device_features(&d);
		assert_false(df & F_RESET);
		assert_false(df & F_EVIDX);
		assert_true(df & F_V1);
		assert_int_equal(cfg_rd16(f, VDEV_PCI_SUBSYSTEM_ID), 0x4242);
		vdev_virtio_free(vd);
		mock_vmm_fini(&mv);
	}
}

static void test_bar_sizing(void **state)
{
	struct tv *t = tv_new(1, NQ, 1);
	struct vdev_pci_bar_info bi;
	uint64_t off;
	int bar;

	(void)state;
	cfg_wr16(t->f, VDEV_PCI_COMMAND, 0);
	for (unsigned int b = 0; b < 6; b++)
		cfg_wr32(t->f, VDEV_PCI_BAR0 + 4 * b, 0xffffffffu);
	assert_int_equal(cfg_rd32(t->f, VDEV_PCI_BAR0), 0);
	assert_int_equal(cfg_rd32(t->f, VDEV_PCI_BAR0 + 4), 0xfffff000u); /* BAR1: 4 KiB, 32-bit */
	assert_int_equal(cfg_rd32(t->f, VDEV_PCI_BAR0 + 8), 0);
	assert_int_equal(cfg_rd32(t->f, VDEV_PCI_BAR0 + 12), 0);
	/* BAR4: 16 KiB, 64-bit. */
	assert_int_equal(cfg_rd32(t->f, VDEV_PCI_BAR0 + 16), 0xffffc004u);
	assert_int_equal(cfg_rd32(t->f, VDEV_PCI_BAR0 + 20), 0xffffffffu);

	/* Place BAR4 above 4 GiB and BAR1 low, decode, find them. */
	cfg_wr32(t->f, VDEV_PCI_BAR0 + 16, 0xe0000000u);
	cfg_wr32(t->f, VDEV_PCI_BAR0 + 20, 0x1);
	cfg_wr32(t->f, VDEV_PCI_BAR0 + 4, 0xfebf0000u);
	cfg_wr16(t->f, VDEV_PCI_COMMAND, VDEV_PCI_COMMAND_MEMORY);
	assert_int_equal(vdev_pci_bar_get_info(t->f, 4, &bi), 0);
	assert_true(bi.decoding);
	assert_int_equal(bi.addr, 0x1e0000000ull);
	assert_int_equal(vdev_pci_bar_lookup(t->f, 0, 0x1e0000012ull, &bar, &off), 0);
	assert_int_equal(bar, 4);
	assert_int_equal(off, VIO_CC_NUMQ);
	assert_int_equal(bar_rd(t->f, bar, off, 2), NQ);
	assert_int_equal(vdev_pci_bar_lookup(t->f, 0, 0xfebf0008ull, &bar, &off), 0);
	assert_int_equal(bar, 1);
	tv_free(t);
}

/* ---- the init sequence ---- */

static void init_sequence(uint64_t ring)
{
	struct tv *t = tv_new(1, NQ, 1);
	uint64_t want = F_V1 | F_EVIDX | BIT(TM_FEATURE_A) | ring;

	tv_bringup(t, want);
	assert_int_equal(vio_get_status(&t->d), 0x0f);
	assert_int_equal(vdev_virtio_status(t->vd), 0x0f);
	assert_int_equal(vdev_virtio_features(t->vd), want);
	assert_int_equal(vio_read_driver_features(&t->d), want);
	assert_int_equal(t->tm.set_features_calls, 1);
	assert_int_equal(t->tm.last_features, want);
	assert_int_equal(t->tm.starts, 1);
	assert_int_equal(t->tm.resets, 1); /* vio_negotiate starts with a reset */
	for (uint32_t q = 0; q < NQ; q++) {
		vio_select_queue(&t->d, q);
		assert_int_equal(cc_rd(t, VIO_CC_Q_ENABLE, 2), 1);
		assert_int_equal(cc_rd(t, VIO_CC_Q_DESC, 8), t->vq[q].desc_gpa);
		assert_int_equal(cc_rd(t, VIO_CC_Q_DRIVER, 8), t->vq[q].driver_gpa);
		assert_int_equal(cc_rd(t, VIO_CC_Q_DEVICE, 8), t->vq[q].device_gpa);
		assert_true(vdev_vq_started(vdev_virtio_queue(t->vd, q)));
	}
	mock_vmm_clear_events(&t->mv);
	memset(t->tm.notifies, 0, sizeof(t->tm.notifies));

	tv_request(t, 1, 16, 64, 1);
	vio_kick(&t->d, 1, &t->vq[1]);
	assert_int_equal(t->tm.notifies[1], 1);
	assert_int_equal(t->tm.notifies[0], 0);
	assert_int_equal(tv_collect(t, 1, 64), 1);
	/* No MSI-X: INTx and the ISR queue bit. */
	assert_int_equal(t->mv.n_msi, 0);
	assert_int_equal(intx(t), 1);
	assert_true(cfg_rd16(t->f, VDEV_PCI_STATUS) & VDEV_PCI_STATUS_INTERRUPT);
	assert_int_equal(vio_isr(&t->d), 1);
	assert_int_equal(intx(t), 0);
	assert_false(cfg_rd16(t->f, VDEV_PCI_STATUS) & VDEV_PCI_STATUS_INTERRUPT);
	assert_int_equal(vio_isr(&t->d), 0);
	tv_free(t);
}

static void test_init_sequence_split(void **state)
{
	(void)state;
	init_sequence(0);
}

static void test_init_sequence_packed(void **state)
{
	(void)state;
	init_sequence(F_PACKED);
}

/* ---- feature and status rules ---- */

static void features_ok(struct tv *t, uint64_t f)
{
	vio_reset(&t->d);
	vio_set_status(&t->d, 3);
	vio_write_features(&t->d, f);
	vio_set_status(&t->d, 3 | VDEV_VIRTIO_STATUS_FEATURES_OK);
}

static void test_features_refused(void **state)
{
	struct tv *t = tv_new(1, NQ, 1);

	(void)state;
	/* A feature the device did not offer. */
	features_ok(t, F_V1 | BIT(3));
	assert_int_equal(vio_get_status(&t->d), 3);
	assert_int_equal(vdev_virtio_features(t->vd), 0);
	assert_true(mock_vmm_log_contains(&t->mv, "not offered"));
	assert_int_equal(t->tm.set_features_calls, 0);

	/* A legacy driver: no VERSION_1. */
	features_ok(t, BIT(TM_FEATURE_A));
	assert_int_equal(vio_get_status(&t->d), 3);
	assert_true(mock_vmm_log_contains(&t->mv, "VERSION_1"));

	/* The model says no. */
	t->tm.refuse_features = 1;
	features_ok(t, F_V1 | BIT(TM_FEATURE_A));
	assert_int_equal(vio_get_status(&t->d), 3);
	assert_int_equal(t->tm.set_features_calls, 1);
	assert_int_equal(vdev_virtio_features(t->vd), 0);
	/* The driver gives up: FAILED sticks, the device does not start. */
	vio_set_status(&t->d, 3 | VDEV_VIRTIO_STATUS_FAILED);
	assert_int_equal(vio_get_status(&t->d), 0x83);

	/* After a reset the same device negotiates fine. */
	t->tm.refuse_features = 0;
	assert_int_equal(vio_negotiate(&t->d, F_V1 | BIT(TM_FEATURE_A)), 0);
	assert_int_equal(vdev_virtio_features(t->vd), F_V1 | BIT(TM_FEATURE_A));
	assert_int_equal(vio_negotiate(&t->d, F_V1 | BIT(TM_FEATURE_B) | F_PACKED), 0);
	assert_int_equal(vdev_virtio_features(t->vd), F_V1 | BIT(TM_FEATURE_B) | F_PACKED);
	tv_free(t);
}

static void test_features_locked(void **state)
{
	struct tv *t = tv_new(1, NQ, 1);
	uint64_t f = F_V1 | BIT(TM_FEATURE_A);

	(void)state;
	assert_int_equal(vio_negotiate(&t->d, f), 0);
	mock_vmm_clear_events(&t->mv);
	vio_write_features(&t->d, ~0ull);
	assert_int_equal(vio_read_driver_features(&t->d), f);
	assert_int_equal(vdev_virtio_features(t->vd), f);
	tv_setup(t, f, NULL); /* renegotiates from reset: allowed */
	vio_driver_ok(&t->d);
	vio_write_features(&t->d, 0);
	assert_int_equal(vdev_virtio_features(t->vd), f);
	assert_int_equal(vio_read_driver_features(&t->d), f);
	/* Logged once per device, not per write. */
	assert_int_equal(log_count(&t->mv, "after FEATURES_OK"), 1);
	tv_free(t);
}

static void test_status_rules(void **state)
{
	struct tv *t = tv_new(1, NQ, 1);

	(void)state;
	vio_reset(&t->d);
	vio_set_status(&t->d, 3);
	/* Clearing a bit without reset: ignored. */
	vio_set_status(&t->d, 1);
	assert_int_equal(vio_get_status(&t->d), 3);
	assert_true(mock_vmm_log_contains(&t->mv, "without a reset"));
	/* DRIVER_OK before FEATURES_OK: ignored. */
	vio_set_status(&t->d, 3 | VDEV_VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(vio_get_status(&t->d), 3);
	assert_int_equal(t->tm.starts, 0);
	/* NEEDS_RESET is the device's bit: the driver cannot set it. */
	vio_set_status(&t->d, 3 | VDEV_VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(vio_get_status(&t->d), 3);
	/* Unknown bits 4 and 5 are dropped. */
	vio_set_status(&t->d, 3 | 0x30);
	assert_int_equal(vio_get_status(&t->d), 3);

	/* FEATURES_OK and DRIVER_OK in one write: both, in order. */
	vio_write_features(&t->d, F_V1);
	vio_set_status(&t->d, 0x0f);
	assert_int_equal(vio_get_status(&t->d), 0x0f);
	assert_int_equal(t->tm.starts, 1);

	/* 0 resets: the model's hook runs and everything clears. */
	t->tm.resets = 0;
	vio_set_status(&t->d, 0);
	assert_int_equal(t->tm.resets, 1);
	assert_int_equal(vio_get_status(&t->d), 0);
	assert_int_equal(vdev_virtio_features(t->vd), 0);
	assert_int_equal(vio_read_driver_features(&t->d), 0);
	tv_free(t);
}

/* ---- queue setup rules ---- */

static void test_queue_setup_rules(void **state)
{
	struct tv *t = tv_new(1, NQ, 1);
	struct vdrv_vq vq;

	(void)state;
	assert_int_equal(vdrv_vq_init(&vq, &t->mem, TM_QSIZE, F_V1), 0);

	/* Enable before FEATURES_OK: ignored. */
	vio_reset(&t->d);
	vio_set_status(&t->d, 3);
	assert_int_equal(vio_queue_setup(&t->d, 0, &vq, VIO_NO_VECTOR), -EIO);
	assert_false(vdev_vq_started(vdev_virtio_queue(t->vd, 0)));

	/* Queue size 0, not a power of two (split), above the max: NEEDS_RESET. */
	static const uint32_t bad_sizes[] = { 0, 3, TM_QSIZE * 2 };
	for (unsigned int i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
		assert_int_equal(vio_negotiate(&t->d, F_V1), 0);
		vio_select_queue(&t->d, 0);
		cc_wr(t, VIO_CC_Q_SIZE, bad_sizes[i], 2);
		cc_wr(t, VIO_CC_Q_DESC, vq.desc_gpa, 8);
		cc_wr(t, VIO_CC_Q_DRIVER, vq.driver_gpa, 8);
		cc_wr(t, VIO_CC_Q_DEVICE, vq.device_gpa, 8);
		cc_wr(t, VIO_CC_Q_ENABLE, 1, 2);
		assert_int_equal(cc_rd(t, VIO_CC_Q_ENABLE, 2), 0);
		assert_true(vio_get_status(&t->d) & VDEV_VIRTIO_STATUS_NEEDS_RESET);
	}

	/* Rings outside RAM: NEEDS_RESET, not a crash. */
	assert_int_equal(vio_negotiate(&t->d, F_V1), 0);
	assert_false(vio_get_status(&t->d) & VDEV_VIRTIO_STATUS_NEEDS_RESET);
	vio_select_queue(&t->d, 0);
	cc_wr(t, VIO_CC_Q_DESC, TM_RAM - 16, 8); /* table runs past the end of RAM */
	cc_wr(t, VIO_CC_Q_DRIVER, vq.driver_gpa, 8);
	cc_wr(t, VIO_CC_Q_DEVICE, vq.device_gpa, 8);
	cc_wr(t, VIO_CC_Q_ENABLE, 1, 2);
	assert_int_equal(cc_rd(t, VIO_CC_Q_ENABLE, 2), 0);
	assert_true(vio_get_status(&t->d) & VDEV_VIRTIO_STATUS_NEEDS_RESET);
	assert_true(mock_vmm_log_contains(&t->mv, "needs reset"));

	/* After DRIVER_OK (no RING_RESET): setup of a disabled queue is ignored. */
	assert_int_equal(vio_negotiate(&t->d, F_V1), 0);
	assert_int_equal(vio_queue_setup(&t->d, 0, &vq, VIO_NO_VECTOR), 0);
	vio_driver_ok(&t->d);
	vio_select_queue(&t->d, 1);
	cc_wr(t, VIO_CC_Q_SIZE, 4, 2);
	assert_int_equal(cc_rd(t, VIO_CC_Q_SIZE, 2), TM_QSIZE);
	cc_wr(t, VIO_CC_Q_DESC, 0x5000, 8);
	assert_int_equal(cc_rd(t, VIO_CC_Q_DESC, 8), 0);
	cc_wr(t, VIO_CC_Q_ENABLE, 1, 2);
	assert_int_equal(cc_rd(t, VIO_CC_Q_ENABLE, 2), 0);
	/* An enabled queue's registers are locked too; writing 0 to enable is ignored. */
	vio_select_queue(&t->d, 0);
	cc_wr(t, VIO_CC_Q_DESC, 0x5000, 8);
	assert_int_equal(cc_rd(t, VIO_CC_Q_DESC, 8), vq.desc_gpa);
	cc_wr(t, VIO_CC_Q_ENABLE, 0, 2);
	assert_int_equal(cc_rd(t, VIO_CC_Q_ENABLE, 2), 1);
	assert_true(vdev_vq_started(vdev_virtio_queue(t->vd, 0)));
	/* Writes to a queue that does not exist go nowhere. */
	vio_select_queue(&t->d, 99);
	cc_wr(t, VIO_CC_Q_SIZE, 4, 2);
	assert_int_equal(cc_rd(t, VIO_CC_Q_SIZE, 2), 0);
	assert_int_equal(cc_rd(t, VIO_CC_Q_ENABLE, 2), 0);
	vdrv_vq_fini(&vq);
	tv_free(t);
}

/* ---- notifications ---- */

static void test_notify_rules(void **state)
{
	struct tv *t = tv_new(1, NQ, 1);

	(void)state;
	tv_setup(t, F_V1, NULL);
	/* Before DRIVER_OK a kick is ignored... */
	tv_request(t, 0, 0, 32, 1);
	vio_kick(&t->d, 0, &t->vq[0]);
	assert_int_equal(t->tm.notifies[0], 0);
	assert_int_equal(vdev_virtio_kick(t->vd, 0), 0);
	assert_int_equal(t->tm.notifies[0], 0);
	/* ...and DRIVER_OK makes the device look at every enabled queue once. */
	vio_driver_ok(&t->d);
	assert_int_equal(t->tm.notifies[0], 1);
	assert_int_equal(t->tm.notifies[1], 1);
	assert_int_equal(tv_collect(t, 0, 32), 1);

	/* The public kick. */
	assert_int_equal(vdev_virtio_kick(t->vd, 1), 0);
	assert_int_equal(t->tm.notifies[1], 2);
	assert_int_equal(vdev_virtio_kick(t->vd, NQ), -EINVAL);
	assert_int_equal(vdev_virtio_kick(NULL, 0), -EINVAL);

	/* Bad doorbell writes: misaligned, 1 byte, 8 bytes, a queue that does not exist. */
	bar_wr(t->f, 4, 0x3002, 0, 2);
	bar_wr(t->f, 4, 0x3004, 1, 1);
	bar_wr(t->f, 4, 0x3000, 0, 8);
	assert_int_equal(t->tm.notifies[0], 1);
	assert_int_equal(t->tm.notifies[1], 2);
	bar_wr(t->f, 4, 0x3000 + 4 * NQ, NQ, 2);
	assert_true(mock_vmm_log_contains(&t->mv, "does not exist"));
	/* The address names the queue, whatever value is written. */
	bar_wr(t->f, 4, 0x3004, 0, 2);
	assert_int_equal(t->tm.notifies[1], 3);
	/* Reads of the doorbells are 0. */
	assert_int_equal(bar_rd(t->f, 4, 0x3000, 4), 0);
	tv_free(t);
}

static void test_doorbell(void **state)
{
	struct tv *t = tv_new(1, NQ, 1);
	struct vdev_virtio_doorbell db;
	uint8_t b[4] = { 1, 0, 0, 0 };

	(void)state;
	assert_int_equal(vdev_virtio_get_doorbell(t->vd, 1, &db), 0);
	assert_int_equal(db.bar, 4);
	assert_int_equal(db.is_io, 0);
	assert_int_equal(db.offset, 0x3004);
	assert_int_equal(db.size, 2);
	assert_int_equal(db.datamatch, 1);
	assert_int_equal(db.has_datamatch, 1);
	assert_int_equal(vdev_virtio_get_doorbell(t->vd, NQ, &db), -EINVAL);
	assert_int_equal(vdev_virtio_get_doorbell(t->vd, 0, NULL), -EINVAL);

	/* What the description says is what kicks the queue. */
	tv_bringup(t, F_V1);
	assert_int_equal(vdev_virtio_get_doorbell(t->vd, 1, &db), 0);
	assert_int_equal(vdev_pci_bar_write(t->f, db.bar, db.offset, b, db.size), 0);
	assert_int_equal(t->tm.notifies[1], 2);

	/* With NOTIFICATION_DATA the driver writes 32 bits carrying data. */
	tv_bringup(t, F_V1 | F_NDATA);
	assert_int_equal(vdev_virtio_get_doorbell(t->vd, 1, &db), 0);
	assert_int_equal(db.size, 4);
	assert_int_equal(db.has_datamatch, 0);
	memset(t->tm.notifies, 0, sizeof(t->tm.notifies));
	tv_request(t, 1, 8, 8, 1);
	vio_kick(&t->d, 1, &t->vq[1]);
	assert_int_equal(t->tm.notifies[1], 1);
	assert_int_equal(tv_collect(t, 1, 8), 1);
	tv_free(t);

	/* No transport yet. */
	{
		struct mock_vmm mv;
		struct vdev_virtio_ops o = tm_ops(1, 0);
		struct tmodel tm = { 0 };
		vdev_virtio *vd;

		assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
		assert_int_equal(vdev_virtio_new(mv.ctx, &o, &tm, &vd), 0);
		assert_int_equal(vdev_virtio_get_doorbell(vd, 0, &db), -ENODEV);
		vdev_virtio_free(vd);
		mock_vmm_fini(&mv);
	}
}

/* ---- config generation and interrupts ---- */

static void test_config_generation(void **state)
{
	struct tv *t = tv_new(1, NQ, 1);
	uint32_t g;

	(void)state;
	vio_reset(&t->d);
	g = vio_config_generation(&t->d);
	/* Before DRIVER_OK: the generation moves, no interrupt. */
	vdev_virtio_config_changed(t->vd);
	assert_int_equal(vio_config_generation(&t->d), (g + 1) & 0xff);
	assert_int_equal(intx(t), 0);
	assert_int_equal(vio_isr(&t->d), 0);

	tv_bringup(t, F_V1);
	vdev_virtio_config_changed(t->vd);
	assert_int_equal(vio_config_generation(&t->d), (g + 2) & 0xff);
	assert_int_equal(intx(t), 1);
	assert_int_equal(vio_isr(&t->d), 2);
	assert_int_equal(intx(t), 0);

	/* The u8 field wraps. */
	for (int i = 0; i < 256; i++)
		vdev_virtio_config_changed(t->vd);
	assert_int_equal(vio_config_generation(&t->d), (g + 2) & 0xff);
	tv_free(t);
}

static void test_msix(void **state)
{
	struct tv *t = tv_new(1, NQ, 1);
	const uint16_t vec[NQ] = { 0, 1 };
	size_t n;

	(void)state;
	for (unsigned int v = 0; v <= NQ; v++)
		vio_msix_vector(&t->d, v, MSI_ADDR, 0x40 + v);
	vio_msix_enable(&t->d, 1);
	tv_setup(t, F_V1, vec);
	vio_set_config_vector(&t->d, NQ);
	assert_int_equal(vio_get_config_vector(&t->d), NQ);
	assert_int_equal(vio_get_queue_vector(&t->d, 0), 0);
	assert_int_equal(vio_get_queue_vector(&t->d, 1), 1);
	vio_driver_ok(&t->d);
	mock_vmm_clear_events(&t->mv);

	/* Each queue signals its own vector; no INTx. */
	tv_request(t, 1, 0, 16, 1);
	vio_kick(&t->d, 1, &t->vq[1]);
	assert_int_equal(t->mv.n_msi, 1);
	assert_int_equal(t->mv.msi[0].data, 0x41);
	assert_int_equal(t->mv.msi[0].addr, MSI_ADDR);
	assert_int_equal(t->mv.msi[0].source_id, TV_SRC);
	tv_request(t, 0, 0, 16, 2);
	vio_kick(&t->d, 0, &t->vq[0]);
	assert_int_equal(t->mv.n_msi, 2);
	assert_int_equal(t->mv.msi[1].data, 0x40);
	vdev_virtio_config_changed(t->vd);
	assert_int_equal(t->mv.n_msi, 3);
	assert_int_equal(t->mv.msi[2].data, 0x40 + NQ);
	assert_int_equal(intx(t), 0);
	assert_int_equal(t->mv.n_intx, 0);

	/* A vector past the table reads back NO_VECTOR (§4.1.5.1.2). */
	vio_set_queue_vector(&t->d, 1, NQ + 1);
	assert_int_equal(vio_get_queue_vector(&t->d, 1), VIO_NO_VECTOR);
	vio_set_config_vector(&t->d, 0x7ff);
	assert_int_equal(vio_get_config_vector(&t->d), VIO_NO_VECTOR);
	/* NO_VECTOR: no interrupt at all. */
	n = t->mv.n_msi;
	tv_request(t, 1, 0, 16, 3);
	vio_kick(&t->d, 1, &t->vq[1]);
	assert_int_equal(tv_collect(t, 1, 16), 2);
	vdev_virtio_config_changed(t->vd);
	assert_int_equal(t->mv.n_msi, n);
	assert_int_equal(intx(t), 0);

	/* A masked vector becomes pending and fires when unmasked. */
	vio_set_queue_vector(&t->d, 1, 1);
	vio_msix_mask(&t->d, 1, 1);
	tv_request(t, 1, 0, 16, 4);
	vio_kick(&t->d, 1, &t->vq[1]);
	assert_int_equal(t->mv.n_msi, n);
	assert_true(vdev_pci_vector_pending(t->f, 1));
	vio_msix_mask(&t->d, 1, 0);
	assert_int_equal(t->mv.n_msi, n + 1);
	assert_int_equal(t->mv.msi[n].data, 0x41);

	/* Reset returns vectors to NO_VECTOR. */
	vio_reset(&t->d);
	assert_int_equal(vio_get_config_vector(&t->d), VIO_NO_VECTOR);
	assert_int_equal(vio_get_queue_vector(&t->d, 0), VIO_NO_VECTOR);
	tv_free(t);
}

static void test_msix_vectors_option(void **state)
{
	struct mock_vmm mv;
	struct vdev_virtio_ops o = tm_ops(3, 1);
	struct tmodel tm = { 0 };
	struct vdev_virtio_pci_opts po = { .struct_size = sizeof(po), .msix_vectors = 1 };
	vdev_virtio *vd;
	vdev_pci_func *f;
	struct vio_dev d;

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	assert_int_equal(vdev_virtio_new(mv.ctx, &o, &tm, &vd), 0);
	assert_int_equal(vdev_virtio_pci_new(vd, &po, &f), 0);
	assert_int_equal(vio_pci_init(&d, f, 0), 0);
	assert_int_equal(d.msix_size, 1);
	vio_set_queue_vector(&d, 2, 0);
	assert_int_equal(vio_get_queue_vector(&d, 2), 0);
	vio_set_queue_vector(&d, 2, 1);
	assert_int_equal(vio_get_queue_vector(&d, 2), VIO_NO_VECTOR);
	/* A second transport on the same device. */
	assert_int_equal(vdev_virtio_pci_new(vd, &po, &f), -EBUSY);
	vdev_virtio_free(vd);

	/* PCI Express function: 4 KiB config space and the Express capability. */
	po.msix_vectors = 0;
	po.flags = VDEV_PCI_F_EXPRESS;
	assert_int_equal(vdev_virtio_new(mv.ctx, &o, &tm, &vd), 0);
	assert_int_equal(vdev_virtio_pci_new(vd, &po, &f), 0);
	assert_int_not_equal(cap_find(f, VDEV_PCI_CAP_ID_EXP), 0);
	{
		uint32_t last;

		assert_int_equal(vdev_pci_config_read(f, 0xffc, &last, 4), 0);
	}
	assert_int_equal(vio_pci_init(&d, f, 0), 0);
	assert_int_equal(d.msix_size, 4);
	vdev_virtio_free(vd);
	mock_vmm_fini(&mv);
}

static void test_intx_isr(void **state)
{
	struct tv *t = tv_new(1, NQ, 1);

	(void)state;
	tv_bringup(t, F_V1);
	mock_vmm_clear_events(&t->mv);
	/* Two completions and a config change: one level, both bits. */
	tv_request(t, 0, 0, 8, 1);
	vio_kick(&t->d, 0, &t->vq[0]);
	tv_request(t, 1, 0, 8, 2);
	vio_kick(&t->d, 1, &t->vq[1]);
	vdev_virtio_config_changed(t->vd);
	assert_int_equal(intx(t), 1);
	assert_int_equal(t->mv.n_intx, 1); /* the host saw one assert */
	assert_int_equal(vio_isr(&t->d), 3);
	assert_int_equal(intx(t), 0);
	/* Other bytes of the ISR page do not clear it. */
	tv_request(t, 0, 0, 8, 3);
	vio_kick(&t->d, 0, &t->vq[0]);
	assert_int_equal(bar_rd(t->f, 4, 0x1001, 1), 0);
	assert_int_equal(intx(t), 1);
	/* INTx Disable keeps the pin quiet; ISR still reports. */
	cfg_wr16(t->f, VDEV_PCI_COMMAND,
		 cfg_rd16(t->f, VDEV_PCI_COMMAND) | VDEV_PCI_COMMAND_INTX_DISABLE);
	assert_int_equal(intx(t), 0);
	assert_int_equal(bar_rd(t->f, 4, 0x1000, 4), 1); /* a wider read works too */
	assert_int_equal(vio_isr(&t->d), 0);
	tv_free(t);
}

/* ---- resets ---- */

static void test_queue_reset(void **state)
{
	struct tv *t = tv_new(1, NQ, 1);

	(void)state;
	tv_bringup(t, F_V1 | F_RESET);
	t->tm.hold = 1;
	tv_request(t, 0, 8, 8, 1);
	tv_request(t, 0, 8, 8, 2);
	vio_kick(&t->d, 0, &t->vq[0]);
	tv_request(t, 1, 8, 8, 3);
	vio_kick(&t->d, 1, &t->vq[1]);
	assert_int_equal(t->tm.nheld, 3);

	assert_int_equal(vio_queue_reset(&t->d, 0), 0);
	assert_int_equal(t->tm.queue_resets[0], 1);
	assert_int_equal(t->tm.queue_resets[1], 0);
	assert_int_equal(tm_live(&t->tm), 1); /* queue 1's request is untouched */
	assert_false(vdev_vq_started(vdev_virtio_queue(t->vd, 0)));
	assert_true(vdev_vq_started(vdev_virtio_queue(t->vd, 1)));
	vio_select_queue(&t->d, 0);
	assert_int_equal(cc_rd(t, VIO_CC_Q_SIZE, 2), TM_QSIZE);
	assert_int_equal(cc_rd(t, VIO_CC_Q_DESC, 8), 0);
	/* Kicks of the reset queue go nowhere. */
	vio_kick(&t->d, 0, NULL);
	assert_int_equal(t->tm.notifies[0], 2);

	/* Re-enable after DRIVER_OK: allowed for a reset queue with RING_RESET. */
	vdrv_vq_reset(&t->vq[0]);
	assert_int_equal(vio_queue_setup(&t->d, 0, &t->vq[0], VIO_NO_VECTOR), 0);
	t->tm.hold = 0;
	tv_request(t, 0, 8, 24, 4);
	vio_kick(&t->d, 0, &t->vq[0]);
	assert_int_equal(tv_collect(t, 0, 24), 1);
	tm_complete_held(&t->tm);
	assert_int_equal(tv_collect(t, 1, 8), 1);
	tv_free(t);

	/* Without RING_RESET negotiated, queue_reset is ignored. */
	t = tv_new(1, NQ, 1);
	tv_bringup(t, F_V1);
	vio_select_queue(&t->d, 0);
	cc_wr(t, VIO_CC_Q_RESET, 1, 2);
	assert_int_equal(cc_rd(t, VIO_CC_Q_ENABLE, 2), 1);
	assert_int_equal(t->tm.queue_resets[0], 0);
	assert_true(mock_vmm_log_contains(&t->mv, "RING_RESET"));
	tv_free(t);
}

static void test_device_reset_midflight(void **state)
{
	struct tv *t = tv_new(1, NQ, 1);
	const uint16_t vec[NQ] = { 0, 1 };

	(void)state;
	tv_setup(t, F_V1 | F_EVIDX, vec);
	vio_set_config_vector(&t->d, 2);
	vio_driver_ok(&t->d);
	t->tm.hold = 1;
	tv_request(t, 0, 8, 8, 1);
	tv_request(t, 1, 8, 8, 2);
	vio_kick(&t->d, 0, &t->vq[0]);
	vio_kick(&t->d, 1, &t->vq[1]);
	assert_int_equal(t->tm.nheld, 2);
	vdev_virtio_config_changed(t->vd); /* INTx + ISR pending */
	assert_int_equal(intx(t), 1);

	t->tm.resets = 0;
	vio_set_status(&t->d, 0);
	assert_int_equal(t->tm.resets, 1);
	assert_int_equal(t->tm.nheld, 0);
	assert_int_equal(cc_rd(t, VIO_CC_Q_SELECT, 2), 0);
	for (uint32_t q = 0; q < NQ; q++) {
		assert_false(vdev_vq_started(vdev_virtio_queue(t->vd, q)));
		vio_select_queue(&t->d, q);
		assert_int_equal(cc_rd(t, VIO_CC_Q_ENABLE, 2), 0);
		assert_int_equal(cc_rd(t, VIO_CC_Q_SIZE, 2), TM_QSIZE);
		assert_int_equal(cc_rd(t, VIO_CC_Q_MSIX, 2), VIO_NO_VECTOR);
		assert_int_equal(cc_rd(t, VIO_CC_Q_DRIVER, 8), 0);
	}
	assert_int_equal(vio_get_status(&t->d), 0);
	assert_int_equal(vdev_virtio_features(t->vd), 0);
	assert_int_equal(vio_get_config_vector(&t->d), VIO_NO_VECTOR);
	assert_int_equal(intx(t), 0);
	assert_int_equal(vio_isr(&t->d), 0);

	/* The public reset does the same; then the device works again. */
	t->tm.hold = 0;
	tv_bringup(t, F_V1);
	vdev_virtio_reset(t->vd);
	assert_int_equal(vdev_virtio_status(t->vd), 0);
	assert_int_equal(t->tm.resets, 3);
	tv_bringup(t, F_V1);
	tv_request(t, 0, 0, 100, 9);
	vio_kick(&t->d, 0, &t->vq[0]);
	assert_int_equal(tv_collect(t, 0, 100), 1);
	tv_free(t);
}

struct remote_job {
	vdev_vq *vq;
	uint16_t id;
	uint32_t len;
	int rc;
};

static void *remote_complete(void *arg)
{
	struct remote_job *j = arg;

	j->rc = vdev_vq_complete_remote(j->vq, j->id, j->len);
	return NULL;
}

/* A backend thread completes a request: the model's queue_wake runs, reap publishes it. */
static void test_remote_completion_wakes_model(void **state)
{
	struct tv *t = tv_new(1, NQ, 1);
	const uint16_t vec[NQ] = { 0, 1 };
	struct remote_job job;
	pthread_t th;

	(void)state;
	tv_setup(t, F_V1 | F_EVIDX, vec);
	vio_driver_ok(&t->d);
	t->tm.hold = 1;
	tv_request(t, 1, 0, 64, 5);
	vio_kick(&t->d, 1, &t->vq[1]);
	assert_int_equal(t->tm.nheld, 1);
	tm_fill(&t->tm.held[0].req);
	job = (struct remote_job){ vdev_virtio_queue(t->vd, 1), t->tm.held[0].req.id, 64, -1 };
	assert_int_equal(pthread_create(&th, NULL, remote_complete, &job), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(job.rc, 0);
	assert_int_equal(t->tm.wakes[1], 1);
	assert_int_equal(t->tm.wakes[0], 0);
	assert_int_equal(tv_collect(t, 1, 64), 0); /* not published before the reap */
	assert_int_equal(vdev_vq_reap(job.vq), 1);
	assert_int_equal(tv_collect(t, 1, 64), 1);
	/* A second completion of the same id is refused and wakes nobody. */
	assert_int_equal(vdev_vq_complete_remote(job.vq, job.id, 64), -EINVAL);
	assert_int_equal(t->tm.wakes[1], 1);
	t->tm.nheld = 0;
	tv_free(t);
}

static void test_needs_reset_hostile_ring(void **state)
{
	struct tv *t = tv_new(1, NQ, 1);
	const uint16_t vec[NQ] = { 0, 1 };
	size_t n;

	(void)state;
	for (unsigned int v = 0; v <= NQ; v++)
		vio_msix_vector(&t->d, v, MSI_ADDR, 0x40 + v);
	vio_msix_enable(&t->d, 1);
	tv_setup(t, F_V1, vec);
	vio_set_config_vector(&t->d, NQ);
	vio_driver_ok(&t->d);
	mock_vmm_clear_events(&t->mv);

	/* The avail ring names descriptor 999 of a 16-entry table. */
	vdrv_avail_ring_set(&t->vq[0], 0, 999);
	vdrv_avail_idx_set(&t->vq[0], 1);
	vio_kick(&t->d, 0, NULL);
	assert_int_equal(t->tm.last_pop_rc, -EIO);
	assert_true(vio_get_status(&t->d) & VDEV_VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(t->mv.n_msi, 1);
	assert_int_equal(t->mv.msi[0].data, 0x40 + NQ); /* the config vector */
	/* Another kick: the queue stays broken, no second interrupt. */
	vio_kick(&t->d, 0, NULL);
	assert_int_equal(t->mv.n_msi, 1);
	/* The other queue still works. */
	tv_request(t, 1, 0, 8, 1);
	vio_kick(&t->d, 1, &t->vq[1]);
	assert_int_equal(tv_collect(t, 1, 8), 1);
	/* A driver status write keeps the device's bit (it is not the driver's to clear). */
	vio_set_status(&t->d, 0x0f);
	assert_true(vio_get_status(&t->d) & VDEV_VIRTIO_STATUS_NEEDS_RESET);
	/* Reset clears it and the queue is usable again. */
	tv_bringup(t, F_V1);
	assert_false(vio_get_status(&t->d) & VDEV_VIRTIO_STATUS_NEEDS_RESET);
	tv_request(t, 0, 0, 8, 2);
	vio_kick(&t->d, 0, &t->vq[0]);
	assert_int_equal(tv_collect(t, 0, 8), 1);

	/* The model's own call: logs the reason and sends the config interrupt (INTx here). */
	vio_msix_enable(&t->d, 0);
	(void)vio_isr(&t->d); /* ISR collected the queue bit under MSI-X too */
	vdev_virtio_needs_reset(t->vd, "backend gone");
	assert_true(mock_vmm_log_contains(&t->mv, "backend gone"));
	assert_int_equal(intx(t), 1);
	assert_int_equal(vio_isr(&t->d), 2);
	n = t->mv.n_log;
	vdev_virtio_needs_reset(NULL, "x");
	assert_int_equal(t->mv.n_log, n);
	tv_free(t);
}

/* ---- the PCI_CFG window ---- */

static void test_pci_cfg_window(void **state)
{
	struct tv *t = tv_new(1, NQ, 1);
	uint8_t c;

	(void)state;
	assert_int_equal(vio_pci_init(&t->d, t->f, VIO_F_WINDOW), 0);
	c = t->d.pcicfg.cap;
	/* A config-space dump reads pci_cfg_data with the window at rest
	 * (length 0): no access, no complaint. */
	assert_int_equal(cfg_rd32(t->f, c + 16), 0);
	assert_false(mock_vmm_log_contains(&t->mv, "PCI_CFG window"));
	/* Reads through the window, of every width. */
	assert_int_equal(vio_window_read(&t->d, 4, VIO_CC_NUMQ, 2), NQ);
	assert_int_equal(vio_window_read(&t->d, 4, 0x2000, 4), 0x13121110);
	assert_int_equal(vio_window_read(&t->d, 4, 0x2001, 1), 0x11);
	/* The fields read back as written (they are RW). */
	assert_int_equal(cfg_rd8(t->f, c + 4), 4);
	assert_int_equal(cfg_rd32(t->f, c + 8), 0x2001);
	assert_int_equal(cfg_rd32(t->f, c + 12), 1);

	/* The whole bring-up and a request, with every structure access through the window
	 * (no EVENT_IDX: every completion interrupts). */
	tv_bringup(t, F_V1);
	assert_int_equal(vio_get_status(&t->d), 0x0f);
	tv_request(t, 0, 4, 40, 1);
	vio_kick(&t->d, 0, &t->vq[0]);
	assert_int_equal(tv_collect(t, 0, 40), 1);
	assert_int_equal(intx(t), 1);
	assert_int_equal(vio_isr(&t->d), 1); /* the read through the window clears ISR */
	assert_int_equal(intx(t), 0);
	/* The MSI-X table, in another BAR, is reachable too. */
	vio_window_write(&t->d, 1, 8, 4, 0x1234);
	assert_int_equal(vio_window_read(&t->d, 1, 8, 4), 0x1234);

	/* Bad window accesses are ignored: length 3, misaligned, no such BAR, outside it. */
	vio_window_write(&t->d, 4, VIO_CC_Q_SELECT, 3, 1);
	vio_window_write(&t->d, 4, VIO_CC_Q_SELECT + 1, 2, 1);
	vio_window_write(&t->d, 0, 0, 4, 1);
	vio_window_write(&t->d, 4, 0x4000, 4, 1);
	vio_window_write(&t->d, 9, 0, 4, 1);
	assert_int_equal(cc_rd(t, VIO_CC_Q_SELECT, 2), 0);
	assert_true(mock_vmm_log_contains(&t->mv, "PCI_CFG window"));
	assert_int_equal(vio_window_read(&t->d, 4, 0x4000, 4), 1); /* stored data comes back */
	/* Reading other bytes of the capability does not touch the BARs. */
	vio_window_write(&t->d, 4, 0x1000, 1, 0);
	tv_request(t, 0, 4, 40, 2);
	vio_kick(&t->d, 0, &t->vq[0]);
	assert_int_equal(cfg_rd8(t->f, c + 4), 4);
	assert_int_equal(intx(t), 1);
	tv_free(t);
}

/* ---- access widths ---- */

static void test_access_widths(void **state)
{
	struct tv *t = tv_new(1, NQ, 1);
	uint64_t v;

	(void)state;
	vio_reset(&t->d);
	vio_set_status(&t->d, 3);
	/* A 1-byte write to a 2-byte field, 8 bytes over two 4-byte fields, 4 over mixed ones. */
	cc_wr(t, VIO_CC_Q_SELECT, 1, 1);
	assert_int_equal(cc_rd(t, VIO_CC_Q_SELECT, 2), 0);
	cc_wr(t, VIO_CC_DFSELECT, 0x100000001ull, 8);
	assert_int_equal(cc_rd(t, VIO_CC_DFSELECT, 4), 0);
	cc_wr(t, VIO_CC_STATUS, 0x00010007, 4);
	assert_int_equal(vio_get_status(&t->d), 3);
	assert_true(mock_vmm_log_contains(&t->mv, "common config"));

	/* Reads of any width return the bytes of the fields they cover. */
	cc_wr(t, VIO_CC_Q_SELECT, 1, 2);
	v = cc_rd(t, VIO_CC_STATUS, 4);
	assert_int_equal(v & 0xff, 3);
	assert_int_equal(v >> 16, 1);
	assert_int_equal(cc_rd(t, VIO_CC_NUMQ + 1, 1), 0);
	assert_int_equal(cc_rd(t, VIO_CC_NUMQ, 1), NQ);
	assert_int_equal(cc_rd(t, 0x3c, 4), 0); /* past the structure */
	assert_int_equal(cc_rd(t, 0x800, 8), 0);

	/* 64-bit fields: one 8-byte write or two 4-byte halves, in either order. */
	vio_write_features(&t->d, F_V1);
	vio_set_status(&t->d, 3 | VDEV_VIRTIO_STATUS_FEATURES_OK);
	cc_wr(t, VIO_CC_Q_DESC, 0x1122334455667700ull, 8);
	assert_int_equal(cc_rd(t, VIO_CC_Q_DESC, 8), 0x1122334455667700ull);
	cc_wr(t, VIO_CC_Q_DRIVER + 4, 0xaabbccdd, 4);
	cc_wr(t, VIO_CC_Q_DRIVER, 0x10203040, 4);
	assert_int_equal(cc_rd(t, VIO_CC_Q_DRIVER, 8), 0xaabbccdd10203040ull);
	assert_int_equal(cc_rd(t, VIO_CC_Q_DRIVER + 4, 4), 0xaabbccdd);
	/* 2 bytes into a 64-bit field: ignored. */
	cc_wr(t, VIO_CC_Q_DEVICE + 2, 0xffff, 2);
	assert_int_equal(cc_rd(t, VIO_CC_Q_DEVICE, 8), 0);
	/* Read-only fields ignore writes. */
	cc_wr(t, VIO_CC_NUMQ, 7, 2);
	assert_int_equal(cc_rd(t, VIO_CC_NUMQ, 2), NQ);
	cc_wr(t, VIO_CC_Q_NOFF, 7, 2);
	assert_int_equal(cc_rd(t, VIO_CC_Q_NOFF, 2), 1);
	/* Writes to the ISR are ignored. */
	bar_wr(t->f, 4, 0x1000, 0xff, 1);
	assert_int_equal(vio_isr(&t->d), 0);
	tv_free(t);
}

/* ---- save / load ---- */

/* A second device like @src's, on its own mock VMM with a copy of @src's RAM. */
static struct tv *tv_twin(struct tv *src)
{
	struct tv *t = tv_new(1, src->nq, 1);

	memcpy(t->mv.ram, src->mv.ram, TM_RAM);
	return t;
}

static void test_save_load_roundtrip(void **state)
{
	struct tv *t = tv_new(1, NQ, 1), *t2;
	const uint16_t vec[NQ] = { 0, 1 };
	uint8_t *blob, *blob2;
	size_t len, len2;

	(void)state;
	for (unsigned int v = 0; v <= NQ; v++)
		vio_msix_vector(&t->d, v, MSI_ADDR, 0x40 + v);
	vio_msix_enable(&t->d, 1);
	tv_setup(t, F_V1 | F_EVIDX | BIT(TM_FEATURE_B), vec);
	vio_set_config_vector(&t->d, NQ);
	vio_driver_ok(&t->d);
	vdev_virtio_config_changed(t->vd);
	t->tm.config[0] = 0x77;
	t->tm.hold = 1;
	tv_request(t, 0, 16, 100, 1);
	tv_request(t, 0, 16, 100, 2);
	tv_request(t, 0, 16, 100, 3);
	vio_kick(&t->d, 0, &t->vq[0]);
	tv_request(t, 1, 0, 50, 4);
	vio_kick(&t->d, 1, &t->vq[1]);
	assert_int_equal(t->tm.nheld, 4);
	/* One completed before the save, so the used ring has moved too. */
	tv_request(t, 1, 0, 50, 5);
	t->tm.hold = 0;
	vio_kick(&t->d, 1, &t->vq[1]);
	assert_int_equal(tv_collect(t, 1, 50), 1);
	vio_select_queue(&t->d, 1);
	(void)vio_isr(&t->d);

	blob = tv_save(t->vd, &len);
	/* Saving is deterministic and does not disturb the device. */
	blob2 = tv_save(t->vd, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(blob, blob2, len);
	free(blob2);

	t2 = tv_twin(t);
	assert_int_equal(tv_load(t2->vd, blob, len), 0);
	assert_int_equal(t2->tm.loads, 1);
	assert_int_equal(t2->tm.config[0], 0x77);
	assert_int_equal(t2->tm.set_features_calls, 1);
	assert_int_equal(vdev_virtio_status(t2->vd), 0x0f);
	assert_int_equal(vdev_virtio_features(t2->vd), F_V1 | F_EVIDX | BIT(TM_FEATURE_B));
	assert_int_equal(vio_config_generation(&t2->d), vio_config_generation(&t->d));
	assert_int_equal(vio_get_config_vector(&t2->d), NQ);
	assert_int_equal(cc_rd(t2, VIO_CC_Q_SELECT, 2), 1);
	for (uint32_t q = 0; q < NQ; q++) {
		assert_int_equal(vio_get_queue_vector(&t2->d, q), q);
		assert_int_equal(cc_rd(t2, VIO_CC_Q_ENABLE, 2), 1);
		assert_int_equal(cc_rd(t2, VIO_CC_Q_DESC, 8), t->vq[q].desc_gpa);
	}
	assert_int_equal(vdev_pci_irq_mode(t2->f), VDEV_PCI_IRQ_MSIX);
	/* The destination saves exactly what it loaded. */
	blob2 = tv_save(t2->vd, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(blob, blob2, len);
	free(blob2);

	/* Continue on the destination: the driver's rings now live in its RAM. */
	t->mem.base = t2->mv.ram;
	mock_vmm_clear_events(&t2->mv);
	assert_int_equal(vdev_virtio_kick(t2->vd, 0), 0);
	assert_int_equal(vdev_virtio_kick(t2->vd, 1), 0);
	{
		struct vdrv_used u;
		unsigned int seen = 0;
		int n = 0;

		while (vdrv_get_used(&t->vq[0], &u) == 1) {
			assert_int_equal(u.len, 100);
			assert_true(u.token >= 1 && u.token <= 3);
			seen |= 1u << u.token;
			n++;
		}
		assert_int_equal(n, 3);
		assert_int_equal(seen, 0xe);
		assert_int_equal(vdrv_get_used(&t->vq[1], &u), 1);
		assert_int_equal(u.len, 50);
		assert_int_equal(u.token, 4);
		assert_int_equal(vdrv_get_used(&t->vq[1], &u), 0);
	}
	assert_true(t2->mv.n_msi >= 1);
	/* New requests on the destination, through its transport. */
	tv_request(t, 0, 16, 60, 10);
	vio_kick(&t2->d, 0, &t->vq[0]);
	assert_int_equal(tv_collect(t, 0, 60), 1);
	t->mem.base = t->mv.ram;
	free(blob);
	tv_free(t2);
	tv_free(t);
}

/* Load @blob into @t; on failure the device must be exactly as before. */
static int load_or_unchanged(struct tv *t, const uint8_t *blob, size_t len)
{
	uint8_t *before, *after;
	size_t lb, la;
	uint8_t cfg_before[256], cfg_after[256];
	int rc;

	before = tv_save(t->vd, &lb);
	cfg_dump(t->f, cfg_before, sizeof(cfg_before));
	rc = tv_load(t->vd, blob, len);
	if (rc) {
		after = tv_save(t->vd, &la);
		cfg_dump(t->f, cfg_after, sizeof(cfg_after));
		assert_int_equal(lb, la);
		assert_memory_equal(before, after, lb);
		assert_memory_equal(cfg_before, cfg_after, sizeof(cfg_before));
		free(after);
	}
	free(before);
	return rc;
}

static void test_load_rejections(void **state)
{
	struct tv *t = tv_new(1, NQ, 1), *t2, *t3;
	const uint16_t vec[NQ] = { 0, 1 };
	uint8_t *blob, *bad;
	size_t len;
	int accepted = 0, refused = 0;

	(void)state;
	for (unsigned int v = 0; v <= NQ; v++)
		vio_msix_vector(&t->d, v, MSI_ADDR, 0x40 + v);
	vio_msix_enable(&t->d, 1);
	tv_setup(t, F_V1 | F_EVIDX, vec);
	vio_driver_ok(&t->d);
	t->tm.hold = 1;
	tv_request(t, 0, 16, 100, 1);
	vio_kick(&t->d, 0, &t->vq[0]);
	blob = tv_save(t->vd, &len);

	/* The destination is in a state of its own: different features, INTx, no queues. */
	t2 = tv_twin(t);
	assert_int_equal(vio_negotiate(&t2->d, F_V1 | BIT(TM_FEATURE_A)), 0);
	t2->tm.config[0] = 0x99;

	/* The model refuses: the PCI function (loaded before it) is put back. */
	t2->tm.fail_load = 1;
	assert_int_equal(load_or_unchanged(t2, blob, len), -EBADMSG);
	assert_int_equal(t2->tm.config[0], 0x99);
	assert_int_equal(vdev_pci_irq_mode(t2->f), VDEV_PCI_IRQ_INTX);
	t2->tm.fail_load = 0;

	/* A device with another queue count. */
	t3 = tv_new(1, 3, 1);
	assert_int_equal(load_or_unchanged(t3, blob, len), -ERANGE);
	tv_free(t3);

	/* A virtio-mmio stream into virtio-pci and back. */
	t3 = tv_new(0, NQ, 1);
	{
		uint8_t *mblob;
		size_t mlen;

		assert_int_equal(tv_load(t3->vd, blob, len), -EPROTONOSUPPORT);
		mblob = tv_save(t3->vd, &mlen);
		assert_int_not_equal(load_or_unchanged(t2, mblob, mlen), 0);
		free(mblob);
	}
	tv_free(t3);

	/* Truncations and every single-byte corruption: refused without a
	 * trace, or accepted as some other valid state (then restored). */
	bad = malloc(len);
	assert_non_null(bad);
	for (size_t cut = 0; cut < len; cut += 7)
		assert_int_not_equal(load_or_unchanged(t2, blob, cut), 0);
	for (size_t i = 0; i < len; i++) {
		memcpy(bad, blob, len);
		bad[i] ^= (uint8_t)(i & 1 ? 0xff : 0x01);
		if (load_or_unchanged(t2, bad, len)) {
			refused++;
			continue;
		}
		accepted++;
		assert_int_equal(tv_load(t2->vd, blob, len), 0);
	}
	assert_true(refused > 0);
	assert_true(accepted > 0); /* e.g. a different selector or generation value */
	/* The original still loads and works. */
	assert_int_equal(tv_load(t2->vd, blob, len), 0);
	t->mem.base = t2->mv.ram;
	assert_int_equal(vdev_virtio_kick(t2->vd, 0), 0);
	assert_int_equal(tv_collect(t, 0, 100), 1);
	t->mem.base = t->mv.ram;
	free(bad);
	free(blob);
	tv_free(t2);
	tv_free(t);
}

/* ---- API misuse ---- */

static void test_api_misuse(void **state)
{
	struct mock_vmm mv;
	struct tmodel tm = { 0 };
	struct vdev_virtio_ops o;
	struct vdev_virtio_pci_opts po = { .struct_size = sizeof(po) };
	struct vdev_virtio_mmio_opts mo = { .struct_size = sizeof(mo) };
	vdev_virtio *vd;
	vdev_pci_func *f;

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 0, 0), 0);
	o = tm_ops(0, 1);
	assert_int_equal(vdev_virtio_new(mv.ctx, &o, &tm, &vd), -EINVAL);
	o = tm_ops(1025, 1);
	assert_int_equal(vdev_virtio_new(mv.ctx, &o, &tm, &vd), -EINVAL);
	o = tm_ops(1, 1);
	o.queue_max_size = 0;
	assert_int_equal(vdev_virtio_new(mv.ctx, &o, &tm, &vd), -EINVAL);
	o.queue_max_size = VDEV_VQ_MAX_SIZE + 1;
	assert_int_equal(vdev_virtio_new(mv.ctx, &o, &tm, &vd), -EINVAL);
	o = tm_ops(1, 1);
	o.reset = NULL;
	assert_int_equal(vdev_virtio_new(mv.ctx, &o, &tm, &vd), -EINVAL);
	o = tm_ops(1, 1);
	o.queue_notify = NULL;
	assert_int_equal(vdev_virtio_new(mv.ctx, &o, &tm, &vd), -EINVAL);
	o = tm_ops(1, 1);
	o.config_read = NULL;
	assert_int_equal(vdev_virtio_new(mv.ctx, &o, &tm, &vd), -EINVAL);
	o = tm_ops(1, 1);
	o.vq_flags = 0x80;
	assert_int_equal(vdev_virtio_new(mv.ctx, &o, &tm, &vd), -EINVAL);
	o = tm_ops(1, 1);
	o.device_id = 0;
	assert_int_equal(vdev_virtio_new(mv.ctx, &o, &tm, &vd), -EINVAL);
	o = tm_ops(1, 1);
	o.struct_size = 4;
	assert_int_equal(vdev_virtio_new(mv.ctx, &o, &tm, &vd), -EINVAL);
	o = tm_ops(1, 1);
	assert_int_equal(vdev_virtio_new(NULL, &o, &tm, &vd), -EINVAL);
	assert_int_equal(vdev_virtio_new(mv.ctx, NULL, &tm, &vd), -EINVAL);

	assert_int_equal(vdev_virtio_new(mv.ctx, &o, &tm, &vd), 0);
	assert_null(vdev_virtio_queue(vd, 1));
	assert_non_null(vdev_virtio_queue(vd, 0));
	assert_null(vdev_virtio_queue(NULL, 0));
	assert_int_equal(vdev_virtio_features(NULL), 0);
	assert_int_equal(vdev_virtio_status(NULL), 0);
	po.msix_vectors = 2049;
	assert_int_equal(vdev_virtio_pci_new(vd, &po, &f), -EINVAL);
	po.msix_vectors = 0;
	po.flags = 0x100;
	assert_int_equal(vdev_virtio_pci_new(vd, &po, &f), -EINVAL);
	po.flags = 0;
	po.struct_size = 2;
	assert_int_equal(vdev_virtio_pci_new(vd, &po, &f), -EINVAL);
	po.struct_size = sizeof(po);
	assert_int_equal(vdev_virtio_pci_new(vd, NULL, &f), -EINVAL);
	assert_int_equal(vdev_virtio_pci_new(vd, &po, &f), 0);
	assert_int_equal(vdev_virtio_mmio_attach(vd, &mo), -EBUSY);
	/* The MMIO entry points refuse a device on PCI. */
	{
		uint8_t b[4];

		assert_int_equal(vdev_virtio_mmio_read(vd, 0, b, 4), -EINVAL);
	}
	assert_int_equal(vdev_virtio_save(vd, NULL), -EINVAL);
	assert_int_equal(vdev_virtio_load(vd, NULL), -EINVAL);
	vdev_virtio_config_changed(NULL);
	vdev_virtio_reset(NULL);
	vdev_virtio_free(vd);
	vdev_virtio_free(NULL);
	mock_vmm_fini(&mv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_bar_sizing),
		cmocka_unit_test(test_init_sequence_split),
		cmocka_unit_test(test_init_sequence_packed),
		cmocka_unit_test(test_features_refused),
		cmocka_unit_test(test_features_locked),
		cmocka_unit_test(test_status_rules),
		cmocka_unit_test(test_queue_setup_rules),
		cmocka_unit_test(test_notify_rules),
		cmocka_unit_test(test_doorbell),
		cmocka_unit_test(test_config_generation),
		cmocka_unit_test(test_msix),
		cmocka_unit_test(test_msix_vectors_option),
		cmocka_unit_test(test_intx_isr),
		cmocka_unit_test(test_queue_reset),
		cmocka_unit_test(test_device_reset_midflight),
		cmocka_unit_test(test_remote_completion_wakes_model),
		cmocka_unit_test(test_needs_reset_hostile_ring),
		cmocka_unit_test(test_pci_cfg_window),
		cmocka_unit_test(test_access_widths),
		cmocka_unit_test(test_save_load_roundtrip),
		cmocka_unit_test(test_load_rejections),
		cmocka_unit_test(test_api_misuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
