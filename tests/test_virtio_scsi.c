/* SPDX-License-Identifier: MIT */
/*
 * virtio-scsi (VIRTIO 1.2 §5.6) end to end through the rings: identity and
 * options, the configuration space (including the driver-writable
 * cdb_size and sense_size), INQUIRY / READ CAPACITY / WRITE then READ on
 * memory disks over virtio-pci and virtio-mmio with split and packed
 * rings, several request queues, LUN addressing (BAD_TARGET for unknown
 * targets and malformed LUN fields, the REPORT LUNS well-known LUN).
 */
#include "test_virtio_scsi_util.h"

static void test_identity(void **state)
{
	struct vt *t = vt_new("virtio-scsi-pci,id=s0,source-id=7,num-queues=3");
	vdev_pci_func *f = vdev_device_pci(t->dev);
	uint8_t b[4];
	uint64_t df;
	vdev_device *x;

	(void)state;
	assert_string_equal(vdev_device_get_type(t->dev)->name, "virtio-scsi-pci");
	assert_string_equal(vdev_device_id(t->dev), "s0");
	assert_int_equal(vdev_pci_config_read(f, 0, b, 4), 0);
	assert_int_equal(b[0] | (b[1] << 8), 0x1af4);
	assert_int_equal(b[2] | (b[3] << 8), 0x1048);
	assert_int_equal(vdev_pci_config_read(f, 0x08, b, 4), 0);
	assert_int_equal(b[1] | (b[2] << 8) | (b[3] << 16), 0x010000); /* SCSI controller */
	assert_true(t->d.device.present);
	df = vio_device_features(&t->d);
	assert_true(df & F_V1);
	assert_int_equal(df & 0xffffff, F_INOUT | F_HOTPLUG | F_CHANGE); /* no T10_PI */
	assert_true(df & (1ull << VDEV_VIRTIO_F_RING_RESET)); /* the model resets one queue */
	assert_int_equal(vio_num_queues(&t->d), 5);
	for (uint32_t q = 0; q < 5; q++)
		assert_int_equal(vio_queue_max(&t->d, q), 128);
	assert_int_equal(vdev_scsi_lun_count(t->bus), 0);
	/* The getters know only their own devices. */
	assert_null(vdev_virtio_scsi_bus(NULL));
	assert_int_equal(vdev_device_create_kv(t->mv.ctx, "virtio-rng-pci", &x), 0);
	assert_null(vdev_virtio_scsi_bus(x));
	assert_non_null(vdev_device_virtio(x));
	vdev_device_destroy(x);
	/* Interrupts go to the source id given. */
	vt_up(t, 0, 16);
	{
		struct vt_cmd c;
		struct vt_res r;

		vt_cmd_init(&c, 0, 0);
		vt_tur(&c);
		vt_run(t, 2, &c, &r);
		assert_int_equal(r.response, S_BAD_TARGET);
	}
	assert_int_equal(mock_vmm_intx_level(&t->mv, VT_SRC, 1), 1);
	vt_free(t);

	t = vt_new("virtio-scsi-mmio");
	assert_null(vdev_device_pci(t->dev));
	assert_string_equal(vdev_device_get_type(t->dev)->name, "virtio-scsi-mmio");
	assert_int_equal(vio_num_queues(&t->d), 3);
	vt_free(t);
}

static void test_options(void **state)
{
	struct mock_vmm mv;
	struct vdev_virtio_scsi_opts o;
	vdev_device *d;
	static const char *const bad[] = {
		"virtio-scsi-pci,queue-size=100",    /* not a power of two */
		"virtio-scsi-pci,queue-size=2",      /* too small */
		"virtio-scsi-pci,queue-size=2048",   /* too big */
		"virtio-scsi-pci,seg-max=127",       /* > queue-size - 2 */
		"virtio-scsi-pci,queue-size=16,seg-max=15",
		"virtio-scsi-pci,num-queues=65",
		"virtio-scsi-pci,num-queues=0",
		"virtio-scsi-mmio,max-sectors=0",
		"virtio-scsi-mmio,foo=1",
	};

	(void)state;
	assert_int_equal(mock_vmm_init(&mv, 1 << 20, 1), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(vdev_device_create_kv(mv.ctx, bad[i], &d), -EINVAL);
	assert_int_equal(vdev_device_create_kv(mv.ctx,
					       "virtio-scsi-pci,queue-size=16,seg-max=14", &d), 0);
	vdev_device_destroy(d);

	/* The struct: zeroes are defaults; the transport must agree with the type. */
	memset(&o, 0, sizeof(o));
	o.struct_size = sizeof(o);
	o.transport = VDEV_VIRTIO_SCSI_TRANSPORT_MMIO;
	assert_int_equal(vdev_device_create(mv.ctx, "virtio-scsi-pci", &o, NULL, &d), -EINVAL);
	o.transport = VDEV_VIRTIO_SCSI_TRANSPORT_PCI;
	assert_int_equal(vdev_device_create(mv.ctx, "virtio-scsi-pci", &o, NULL, &d), 0);
	assert_non_null(vdev_device_pci(d));
	vdev_device_destroy(d);
	o.transport = 7;
	assert_int_equal(vdev_device_create(mv.ctx, "virtio-scsi-mmio", &o, NULL, &d), -EINVAL);
	o.transport = VDEV_VIRTIO_SCSI_TRANSPORT_MMIO;
	o.num_queues = VDEV_VIRTIO_SCSI_MAX_QUEUES;
	o.queue_size = 8;
	assert_int_equal(vdev_device_create(mv.ctx, "virtio-scsi-mmio", &o, NULL, &d), 0);
	vdev_device_destroy(d);
	/* A caller that knows only struct_size gets every default. */
	o.struct_size = sizeof(size_t);
	assert_int_equal(vdev_device_create(mv.ctx, "virtio-scsi-mmio", &o, NULL, &d), 0);
	vdev_device_destroy(d);
	assert_int_equal(vdev_device_create(mv.ctx, "virtio-scsi-mmio", NULL, NULL, &d), 0);
	vdev_device_destroy(d);
	mock_vmm_fini(&mv);
}

static void check_config(struct vt *t, uint32_t nq, uint32_t seg, uint32_t sec, uint32_t cpl)
{
	uint8_t b[2];

	assert_int_equal(vt_config32(t, C_NUM_QUEUES), nq);
	assert_int_equal(vt_config32(t, C_SEG_MAX), seg);
	assert_int_equal(vt_config32(t, C_MAX_SECTORS), sec);
	assert_int_equal(vt_config32(t, C_CMD_PER_LUN), cpl);
	assert_int_equal(vt_config32(t, C_EVENT_INFO), 16);
	vio_config_read(&t->d, C_MAX_CHANNEL, b, 2);
	assert_int_equal(b[0] | (b[1] << 8), 0);
	vio_config_read(&t->d, C_MAX_TARGET, b, 2);
	assert_int_equal(b[0] | (b[1] << 8), 255);
	assert_int_equal(vt_config32(t, C_MAX_LUN), 16383);
}

static void config_case(const char *spec, const char *spec2)
{
	struct vt *t = vt_new(spec);
	uint8_t b[4];

	check_config(t, 1, 126, 0xffff, 128);
	assert_int_equal(vt_config32(t, C_SENSE_SIZE), 96);
	assert_int_equal(vt_config32(t, C_CDB_SIZE), 32);
	/* The driver may write sense_size and cdb_size, nothing else. */
	vt_config_write32(t, C_SENSE_SIZE, 64);
	vt_config_write32(t, C_CDB_SIZE, 16);
	vt_config_write32(t, C_NUM_QUEUES, 9);
	vt_config_write32(t, C_SEG_MAX, 9);
	vt_config_write32(t, C_MAX_LUN, 9);
	vt_config_write32(t, C_EVENT_INFO, 9);
	check_config(t, 1, 126, 0xffff, 128);
	assert_int_equal(vt_config32(t, C_SENSE_SIZE), 64);
	assert_int_equal(vt_config32(t, C_CDB_SIZE), 16);
	/* Byte-wide writes land too (the field is what the bytes say). */
	vio_config_read(&t->d, C_SENSE_SIZE, b, 4);
	b[0] = 200;
	if (t->d.is_pci)
		assert_int_equal(vdev_pci_bar_write(t->d.f, t->d.device.bar,
						    t->d.device.offset + C_SENSE_SIZE, b, 1), 0);
	else
		assert_int_equal(vdev_virtio_mmio_write(t->vd, VIO_MMIO_CONFIG + C_SENSE_SIZE, b,
							1), 0);
	assert_int_equal(vt_config32(t, C_SENSE_SIZE), 200);
	/* A device reset restores the defaults (§5.6.4). */
	vio_reset(&t->d);
	assert_int_equal(vt_config32(t, C_SENSE_SIZE), 96);
	assert_int_equal(vt_config32(t, C_CDB_SIZE), 32);
	vt_config_write32(t, C_CDB_SIZE, 40);
	vdev_device_reset(t->dev);
	if (t->d.is_pci)
		vio_pci_enable(&t->d);
	assert_int_equal(vt_config32(t, C_CDB_SIZE), 32);
	vt_free(t);

	t = vt_new(spec2);
	check_config(t, 3, 20, 1024, 16);
	for (uint32_t q = 0; q < 5; q++)
		assert_int_equal(vio_queue_max(&t->d, q), 64);
	vt_free(t);
}

static void test_config_pci(void **state)
{
	(void)state;
	config_case("virtio-scsi-pci", "virtio-scsi-pci,num-queues=3,queue-size=64,seg-max=20,"
				       "max-sectors=1024,cmd-per-lun=16");
}

static void test_config_mmio(void **state)
{
	(void)state;
	config_case("virtio-scsi-mmio", "virtio-scsi-mmio,num-queues=3,queue-size=64,seg-max=20,"
					"max-sectors=1024,cmd-per-lun=16");
}

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 131u) ^ (seed * 7u) ^ (i >> 9));
}

/* INQUIRY, the power-on unit attention, READ CAPACITY, WRITE then READ. */
static void io_case(const char *spec, uint64_t ring, unsigned int addflags)
{
	struct vt *t = vt_new(spec);
	struct vt_cmd c;
	struct vt_res r;
	uint8_t data[8 * 512], back[8 * 512];
	uint32_t n;

	vt_disk(t, 0, 0, 2048, 512);
	vt_disk(t, 2, 5, 64, 4096);
	vt_up(t, F_EVIDX | F_INDIRECT | ring, 0);

	/* INQUIRY: no unit attention; a disk; the library's vendor. */
	vt_cmd_init(&c, 0, 0);
	vt_inquiry(&c, 96);
	c.flags = addflags;
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.response, S_OK);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	assert_true(r.used >= 108 + 36 && r.used <= 108 + 96);
	n = r.used - 108;
	assert_int_equal(r.resid, 96 - n); /* §5.6.6.1: data length - transferred */
	assert_int_equal(r.sense_len, 0);
	assert_int_equal(r.din[0] & 0x1f, 0); /* direct access block device */
	assert_memory_equal(r.din + 8, "LIBVDEV ", 8);
	for (uint32_t i = 12; i < 108; i++)
		assert_int_equal(r.resp[i], 0); /* the whole sense area is written */
	if (n < 96)
		assert_int_equal(r.din[n], 0xdd); /* untouched past what was transferred */

	/* The first other command sees POWER ON, RESET (29h), then it passes. */
	vt_cmd_init(&c, 0, 0);
	vt_tur(&c);
	vt_run(t, 2, &c, &r);
	vt_expect_sense(&r, VDEV_SCSI_SK_UNIT_ATTENTION, 0x29);
	assert_true(r.sense_len >= 14 && r.sense_len <= 96);
	assert_int_equal(r.used, 108);
	vt_clear_ua(t, 0, 0);
	vt_clear_ua(t, 2, 5);

	vt_cmd_init(&c, 0, 0);
	vt_read_capacity10(&c);
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.response, S_OK);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	assert_int_equal(r.used, 108 + 8);
	assert_int_equal(r.resid, 0);
	assert_int_equal(vt_get_be32(r.din), 2047);
	assert_int_equal(vt_get_be32(r.din + 4), 512);
	vt_cmd_init(&c, 2, 5);
	vt_read_capacity10(&c);
	vt_run(t, 2, &c, &r);
	assert_int_equal(vt_get_be32(r.din), 63);
	assert_int_equal(vt_get_be32(r.din + 4), 4096);

	/* WRITE(10) 8 blocks at LBA 100, READ(10) them back. */
	fill_pattern(data, sizeof(data), 1);
	vt_cmd_init(&c, 0, 0);
	vt_rw10(&c, 1, 100, 8);
	c.dout = data;
	c.dout_len = sizeof(data);
	c.flags = addflags;
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.response, S_OK);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	assert_int_equal(r.used, 108);
	assert_int_equal(r.resid, 0);
	vt_cmd_init(&c, 0, 0);
	vt_rw10(&c, 0, 100, 8);
	c.din_len = sizeof(back);
	c.flags = addflags;
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.response, S_OK);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	assert_int_equal(r.used, 108 + sizeof(back));
	assert_memory_equal(r.din, data, sizeof(data));
	/* The same data cut into 100-byte segments (header, response, data). */
	vt_cmd_init(&c, 0, 0);
	vt_rw10(&c, 0, 100, 8);
	c.din_len = sizeof(back);
	c.split = 512;
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.used, 108 + sizeof(back));
	assert_memory_equal(r.din, data, sizeof(data));

	/* The 4 KiB-block disk. */
	vt_cmd_init(&c, 2, 5);
	vt_rw10(&c, 1, 3, 1);
	c.dout = data;
	c.dout_len = 4096;
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	vt_cmd_init(&c, 2, 5);
	vt_rw10(&c, 0, 3, 1);
	c.din_len = 4096;
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	assert_memory_equal(r.din, data, 4096);

	/* Out of range: CHECK CONDITION, ILLEGAL REQUEST, LBA OUT OF RANGE (21h). */
	vt_cmd_init(&c, 0, 0);
	vt_rw10(&c, 0, 2047, 2);
	c.din_len = 1024;
	vt_run(t, 2, &c, &r);
	vt_expect_sense(&r, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x21);
	assert_int_equal(r.used, 108); /* nothing transferred */
	assert_int_equal(r.resid, 1024);
	vt_free(t);
}

static void test_io_pci_split(void **state)
{
	(void)state;
	io_case("virtio-scsi-pci", 0, 0);
}

static void test_io_pci_packed(void **state)
{
	(void)state;
	io_case("virtio-scsi-pci", F_PACKED, 0);
}

static void test_io_pci_indirect(void **state)
{
	(void)state;
	io_case("virtio-scsi-pci", 0, VDRV_ADD_INDIRECT);
}

static void test_io_mmio_split(void **state)
{
	(void)state;
	io_case("virtio-scsi-mmio,source-id=7", 0, 0);
}

static void test_io_mmio_packed_indirect(void **state)
{
	(void)state;
	io_case("virtio-scsi-mmio", F_PACKED, VDRV_ADD_INDIRECT);
}

/* Four request queues: each answers on its own queue; batches per queue. */
static void test_multiqueue(void **state)
{
	struct vt *t = vt_new("virtio-scsi-pci,num-queues=4");
	uint8_t data[4][512];
	uint64_t tk[4][8];
	struct vt_cmd c;
	struct vt_res r;

	(void)state;
	vt_disk(t, 0, 0, 1024, 512);
	vt_disk(t, 1, 0, 1024, 512);
	vt_up(t, F_EVIDX | F_INORDER, 32);
	vt_clear_ua(t, 0, 0);
	vt_clear_ua(t, 1, 0);
	for (int q = 0; q < 4; q++) {
		fill_pattern(data[q], 512, (uint32_t)q + 10);
		for (int i = 0; i < 8; i++) {
			vt_cmd_init(&c, (unsigned int)(i & 1), 0);
			c.tag = (uint64_t)q * 100 + (uint64_t)i;
			vt_rw10(&c, 1, (uint32_t)(q * 16 + i), 1);
			c.dout = data[q];
			c.dout_len = 512;
			tk[q][i] = vt_submit(t, 2 + q, &c);
		}
	}
	/* Nothing completes before the backends run... */
	for (int q = 0; q < 4; q++)
		assert_int_equal(vt_collect(t, 2 + q, &r), 0);
	assert_int_equal(vt_poll(t), 32);
	/* ...then each queue has exactly its own eight. */
	for (int q = 0; q < 4; q++) {
		int seen = 0;

		while (vt_collect(t, 2 + q, &r)) {
			int hit = 0;

			for (int i = 0; i < 8; i++)
				hit |= r.token == tk[q][i];
			assert_true(hit);
			assert_int_equal(r.response, S_OK);
			assert_int_equal(r.status, VDEV_SCSI_GOOD);
			seen++;
		}
		assert_int_equal(seen, 8);
	}
	assert_int_equal(vt_collect(t, 0, &r), 0);
	assert_int_equal(vt_collect(t, 1, &r), 0);
	/* Read back through another queue. */
	for (int q = 0; q < 4; q++) {
		for (int i = 0; i < 8; i++) {
			vt_cmd_init(&c, (unsigned int)(i & 1), 0);
			vt_rw10(&c, 0, (uint32_t)(q * 16 + i), 1);
			c.din_len = 512;
			vt_run(t, 2 + (3 - q), &c, &r);
			assert_int_equal(r.status, VDEV_SCSI_GOOD);
			assert_memory_equal(r.din, data[q], 512);
		}
	}
	vt_free(t);
}

/* Run @c with its LUN bytes replaced by @lun. */
static void run_lun(struct vt *t, const uint8_t *lun, struct vt_res *r)
{
	struct vt_cmd c;

	vt_cmd_init(&c, 0, 0);
	memcpy(c.lun, lun, 8);
	vt_tur(&c);
	vt_run(t, 2, &c, r);
}

static void test_addressing(void **state)
{
	struct vt *t = vt_new("virtio-scsi-pci");
	static const uint8_t bad[][8] = {
		{ 0, 0, 0x40, 0, 0, 0, 0, 0 },    /* first byte not 1 */
		{ 2, 0, 0x40, 0, 0, 0, 0, 0 },
		{ 1, 0, 0x40, 0, 1, 0, 0, 0 },    /* second level not zero */
		{ 1, 0, 0x40, 0, 0, 0, 0, 0x80 },
		{ 1, 0, 0x80, 0, 0, 0, 0, 0 },    /* logical unit addressing method */
		{ 1, 0, 0x01, 0, 0, 0, 0, 0 },    /* peripheral addressing, bus 1 */
		{ 1, 0, 0xc1, 0x02, 0, 0, 0, 0 }, /* a well-known LUN we do not have */
		{ 1, 0, 0xff, 0xff, 0, 0, 0, 0 },
	};
	uint8_t l[8];
	struct vt_cmd c;
	struct vt_res r;

	(void)state;
	vt_disk(t, 0, 0, 64, 512);
	vt_disk(t, 0, 3, 64, 512);
	vt_disk(t, 0, 300, 64, 512);
	vt_disk(t, 255, 16383, 64, 512);
	vt_up(t, 0, 0);
	vt_clear_ua(t, 0, 0);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run_lun(t, bad[i], &r);
		assert_int_equal(r.response, S_BAD_TARGET);
		assert_int_equal(r.used, 108);
	}
	/* A target without LUNs. */
	vt_lun(l, 7, 0);
	run_lun(t, l, &r);
	assert_int_equal(r.response, S_BAD_TARGET);
	/* An existing target, a missing LUN: the target answers (SPC-4 §4.6.1). */
	vt_lun(l, 0, 1);
	run_lun(t, l, &r);
	vt_expect_sense(&r, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x25);
	/* Peripheral device addressing of LUN 0 is LUN 0. */
	memset(l, 0, 8);
	l[0] = 1;
	run_lun(t, l, &r);
	assert_int_equal(r.response, S_OK);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	/* The highest target and LUN. */
	vt_lun(l, 255, 16383);
	run_lun(t, l, &r);
	vt_expect_sense(&r, VDEV_SCSI_SK_UNIT_ATTENTION, 0x29);

	/* REPORT LUNS through the well-known LUN (C101h) and through LUN 0. */
	for (int w = 0; w < 2; w++) {
		uint32_t len;
		int found3 = 0, found300 = 0, found0 = 0;

		vt_cmd_init(&c, 0, 0);
		if (w) {
			c.lun[2] = 0xc1;
			c.lun[3] = 0x01;
		}
		c.cdb[0] = 0xa0;
		vt_be32(c.cdb + 6, 256);
		c.din_len = 256;
		vt_run(t, 2, &c, &r);
		if (r.status == VDEV_SCSI_CHECK_CONDITION) /* a pending unit attention first */
			vt_run(t, 2, &c, &r);
		assert_int_equal(r.response, S_OK);
		assert_int_equal(r.status, VDEV_SCSI_GOOD);
		len = vt_get_be32(r.din);
		assert_int_equal(len, 3 * 8);
		assert_int_equal(r.used, 108 + 8 + len);
		for (uint32_t i = 0; i < len / 8; i++) {
			const uint8_t *e = r.din + 8 + 8 * i;
			unsigned int v = ((e[0] & 0x3f) << 8) | e[1];

			found0 += v == 0;
			found3 += v == 3;
			found300 += v == 300 && (e[0] & 0xc0) == 0x40;
		}
		assert_int_equal(found0 + found3 + found300, 3);
	}
	vt_free(t);
}

/* The driver changes cdb_size and sense_size: the layout follows. */
static void test_cdb_sense_size(void **state)
{
	struct vt *t = vt_new("virtio-scsi-pci");
	struct vt_cmd c;
	struct vt_res r;
	uint8_t k, a, q;

	(void)state;
	vt_disk(t, 0, 0, 64, 512);
	vt_up(t, 0, 0);

	/* Small: 16-byte CDBs, 32 bytes of sense. */
	vt_config_write32(t, C_CDB_SIZE, 16);
	vt_config_write32(t, C_SENSE_SIZE, 32);
	t->cdb_size = 16;
	t->sense_size = 32;
	vt_cmd_init(&c, 0, 0);
	vt_tur(&c);
	vt_run(t, 2, &c, &r);
	vt_expect_sense(&r, VDEV_SCSI_SK_UNIT_ATTENTION, 0x29);
	assert_true(r.sense_len > 0 && r.sense_len <= 32);
	assert_int_equal(r.used, 44);
	vt_cmd_init(&c, 0, 0);
	vt_inquiry(&c, 36);
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	assert_int_equal(r.used, 44 + 36);
	assert_memory_equal(r.din + 8, "LIBVDEV ", 8);
	/* READ(16) fits a 16-byte CDB. */
	vt_cmd_init(&c, 0, 0);
	c.cdb[0] = 0x88;
	c.cdb[13] = 1;
	c.din_len = 512;
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	assert_int_equal(r.used, 44 + 512);

	/* Large: 64-byte CDB field, 200 bytes of sense (all written, zero-filled). */
	vt_config_write32(t, C_CDB_SIZE, 64);
	vt_config_write32(t, C_SENSE_SIZE, 200);
	t->cdb_size = 64;
	t->sense_size = 200;
	vt_cmd_init(&c, 0, 0);
	vt_rw10(&c, 0, 64, 1);
	c.din_len = 512;
	vt_run(t, 2, &c, &r);
	vt_expect_sense(&r, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x21);
	assert_int_equal(r.used, 212);
	for (uint32_t i = 12 + r.sense_len; i < 212; i++)
		assert_int_equal(r.resp[i], 0);
	vt_cmd_init(&c, 0, 0);
	vt_inquiry(&c, 36);
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	assert_int_equal(r.used, 212 + 36);

	/* No sense at all: sense_size 0, a 12-byte response. */
	vt_config_write32(t, C_SENSE_SIZE, 0);
	t->sense_size = 0;
	vt_cmd_init(&c, 0, 0);
	vt_rw10(&c, 0, 64, 1);
	c.din_len = 512;
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.response, S_OK);
	assert_int_equal(r.status, VDEV_SCSI_CHECK_CONDITION);
	assert_int_equal(r.sense_len, 0);
	assert_int_equal(r.used, 12);
	/* With room for sense again, it comes back. */
	vt_config_write32(t, C_SENSE_SIZE, 96);
	t->sense_size = 96;
	vt_cmd_init(&c, 0, 0);
	vt_rw10(&c, 0, 64, 1);
	c.din_len = 512;
	vt_run(t, 2, &c, &r);
	vt_sense(r.resp + 12, r.sense_len, &k, &a, &q);
	assert_int_equal(k, VDEV_SCSI_SK_ILLEGAL_REQUEST);

	/* A CDB field shorter than any CDB: the command cannot be understood. */
	vt_config_write32(t, C_CDB_SIZE, 4);
	t->cdb_size = 4;
	vt_cmd_init(&c, 0, 0);
	vt_tur(&c);
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.response, S_FAILURE);
	assert_int_equal(r.used, 108);

	/* The driver's old layout after a reset: back to 32/96. */
	vio_reset(&t->d);
	vt_up(t, 0, 0);
	vt_cmd_init(&c, 0, 0);
	vt_inquiry(&c, 36);
	vt_run(t, 2, &c, &r);
	assert_int_equal(r.status, VDEV_SCSI_GOOD);
	assert_int_equal(r.used, 108 + 36);
	vt_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_config_pci),
		cmocka_unit_test(test_config_mmio),
		cmocka_unit_test(test_io_pci_split),
		cmocka_unit_test(test_io_pci_packed),
		cmocka_unit_test(test_io_pci_indirect),
		cmocka_unit_test(test_io_mmio_split),
		cmocka_unit_test(test_io_mmio_packed_indirect),
		cmocka_unit_test(test_multiqueue),
		cmocka_unit_test(test_addressing),
		cmocka_unit_test(test_cdb_sense_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
