/* SPDX-License-Identifier: MIT */
/*
 * The virtio entropy device end to end, as "virtio-rng-pci" and
 * "virtio-rng-mmio" from the registry: buffers filled with random bytes,
 * used lengths, the 64 KiB per-request cap, requests with readable
 * buffers, split and packed rings, reset, save/load, and the
 * vdev_device_virtio() getter.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <vdev/virtio.h>

#include "mock_vmm.h"
#include "vdrv.h"
#include "vio_driver.h"

#define RAM (4u << 20)
#define SRC 9
#define CAP (64u * 1024u)
#define F_V1 (1ull << VDEV_VIRTIO_F_VERSION_1)
#define F_PACKED (1ull << VDEV_VIRTIO_F_RING_PACKED)
#define F_EVIDX (1ull << VDEV_VIRTIO_F_EVENT_IDX)
#define F_INDIRECT (1ull << VDEV_VIRTIO_F_INDIRECT_DESC)

struct rt {
	struct mock_vmm mv;
	vdev_device *dev;
	vdev_virtio *vd;
	struct vio_dev d;
	struct vdrv_mem mem;
	struct vdrv_vq vq;
	int have_vq;
};

static struct rt *rt_new(const char *spec)
{
	struct rt *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	assert_int_equal(mock_vmm_init(&t->mv, RAM, 1), 0);
	assert_int_equal(vdev_device_create_kv(t->mv.ctx, spec, &t->dev), 0);
	t->vd = vdev_device_virtio(t->dev);
	assert_non_null(t->vd);
	if (vdev_device_pci(t->dev)) {
		assert_int_equal(vio_pci_init(&t->d, vdev_device_pci(t->dev), 0), 0);
		vio_pci_enable(&t->d);
	} else {
		assert_int_equal(vio_mmio_init(&t->d, t->vd), 0);
	}
	vdrv_mem_init(&t->mem, t->mv.ram, 0x1000, RAM);
	return t;
}

static void rt_free(struct rt *t)
{
	if (t->have_vq)
		vdrv_vq_fini(&t->vq);
	vdev_device_destroy(t->dev);
	mock_vmm_fini(&t->mv);
	free(t);
}

static void rt_bringup(struct rt *t, uint64_t want, uint32_t qsize)
{
	if (t->have_vq)
		vdrv_vq_fini(&t->vq);
	assert_int_equal(vio_negotiate(&t->d, want), 0);
	assert_int_equal(vio_num_queues(&t->d), 1);
	assert_int_equal(vdrv_vq_init(&t->vq, &t->mem, qsize, t->d.features), 0);
	t->have_vq = 1;
	assert_int_equal(vio_queue_setup(&t->d, 0, &t->vq, VIO_NO_VECTOR), 0);
	vio_driver_ok(&t->d);
	assert_int_equal(vio_get_status(&t->d), 0x0f);
}

/* A buffer of @len bytes pre-filled with @fill. */
static uint64_t rt_buf(struct rt *t, uint32_t len, uint8_t fill)
{
	uint64_t g = vdrv_alloc(&t->mem, len, 16);

	assert_int_not_equal(g, VDRV_NOMEM);
	memset(vdrv_host(&t->mem, g), fill, len);
	return g;
}

/* Submit one request and return the used length the device reported. */
static uint32_t rt_run(struct rt *t, const struct vdrv_seg *s, unsigned int n, unsigned int flags)
{
	struct vdrv_used u;

	assert_true(vdrv_add(&t->vq, s, n, flags, 77) >= 0);
	vdrv_publish(&t->vq);
	vio_kick(&t->d, 0, &t->vq);
	assert_int_equal(vdrv_get_used(&t->vq, &u), 1);
	assert_int_equal(u.token, 77);
	assert_int_equal(vdrv_get_used(&t->vq, &u), 0);
	return u.len;
}

static int all_equal(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

static void end_to_end(const char *spec, uint64_t ring)
{
	struct rt *t = rt_new(spec);
	struct vdrv_seg s[4];
	uint8_t *a, *b;

	rt_bringup(t, F_V1 | F_EVIDX | F_INDIRECT | ring, 64);
	assert_int_equal(vdev_virtio_features(t->vd), F_V1 | F_EVIDX | F_INDIRECT | ring);

	/* One small writable buffer, twice: filled, and not the same bytes. */
	s[0] = (struct vdrv_seg){ rt_buf(t, 32, 0), 32, 1 };
	assert_int_equal(rt_run(t, s, 1, 0), 32);
	a = vdrv_host(&t->mem, s[0].gpa);
	s[1] = (struct vdrv_seg){ rt_buf(t, 32, 0), 32, 1 };
	assert_int_equal(rt_run(t, &s[1], 1, 0), 32);
	b = vdrv_host(&t->mem, s[1].gpa);
	assert_memory_not_equal(a, b, 32);

	/* Three writable segments, direct and indirect. */
	for (unsigned int fl = 0; fl < 2; fl++) {
		s[0] = (struct vdrv_seg){ rt_buf(t, 100, 0), 100, 1 };
		s[1] = (struct vdrv_seg){ rt_buf(t, 4096, 0), 4096, 1 };
		s[2] = (struct vdrv_seg){ rt_buf(t, 7, 0xee), 7, 1 };
		assert_int_equal(rt_run(t, s, 3, fl ? VDRV_ADD_INDIRECT : 0), 4203);
		assert_false(all_equal(vdrv_host(&t->mem, s[1].gpa), 4096, 0));
		assert_false(all_equal(vdrv_host(&t->mem, s[0].gpa), 100, 0));
	}

	/* A readable buffer first: ignored (and untouched), the writable one filled. */
	s[0] = (struct vdrv_seg){ rt_buf(t, 64, 0x3c), 64, 0 };
	s[1] = (struct vdrv_seg){ rt_buf(t, 512, 0), 512, 1 };
	assert_int_equal(rt_run(t, s, 2, 0), 512);
	assert_true(all_equal(vdrv_host(&t->mem, s[0].gpa), 64, 0x3c));
	/* Readable only: nothing to fill. */
	s[0] = (struct vdrv_seg){ rt_buf(t, 64, 0x3c), 64, 0 };
	assert_int_equal(rt_run(t, s, 1, 0), 0);

	/* The 64 KiB cap: one 100 KiB buffer... */
	s[0] = (struct vdrv_seg){ rt_buf(t, 100 * 1024, 0xcc), 100 * 1024, 1 };
	assert_int_equal(rt_run(t, s, 1, 0), CAP);
	a = vdrv_host(&t->mem, s[0].gpa);
	assert_true(all_equal(a + CAP, 100 * 1024 - CAP, 0xcc));
	assert_false(all_equal(a + CAP - 4096, 4096, 0xcc));
	/* ...and two 40 KiB segments: the second filled up to the cap only. */
	s[0] = (struct vdrv_seg){ rt_buf(t, 40 * 1024, 0xcc), 40 * 1024, 1 };
	s[1] = (struct vdrv_seg){ rt_buf(t, 40 * 1024, 0xcc), 40 * 1024, 1 };
	assert_int_equal(rt_run(t, s, 2, 0), CAP);
	b = vdrv_host(&t->mem, s[1].gpa);
	assert_true(all_equal(b + (CAP - 40 * 1024), 80 * 1024 - CAP, 0xcc));
	assert_false(all_equal(b + (CAP - 40 * 1024) - 1024, 1024, 0xcc));
	/* Exactly the cap: all of it. */
	s[0] = (struct vdrv_seg){ rt_buf(t, CAP, 0xcc), CAP, 1 };
	assert_int_equal(rt_run(t, s, 1, 0), CAP);

	/* A batch: several requests, one kick. */
	for (int i = 0; i < 8; i++) {
		s[0] = (struct vdrv_seg){ rt_buf(t, 16, 0), 16, 1 };
		assert_true(vdrv_add(&t->vq, s, 1, 0, (uint64_t)i) >= 0);
	}
	vdrv_publish(&t->vq);
	vio_kick(&t->d, 0, &t->vq);
	for (int i = 0; i < 8; i++) {
		struct vdrv_used u;

		assert_int_equal(vdrv_get_used(&t->vq, &u), 1);
		assert_int_equal(u.len, 16);
	}
	rt_free(t);
}

static void test_pci_split(void **state)
{
	(void)state;
	end_to_end("virtio-rng-pci,source-id=9", 0);
}

static void test_pci_packed(void **state)
{
	(void)state;
	end_to_end("virtio-rng-pci", F_PACKED);
}

static void test_mmio_split(void **state)
{
	(void)state;
	end_to_end("virtio-rng-mmio,source-id=9", 0);
}

static void test_mmio_packed(void **state)
{
	(void)state;
	end_to_end("virtio-rng-mmio,source-id=9", F_PACKED);
}

static void test_identity(void **state)
{
	struct rt *t = rt_new("virtio-rng-pci,source-id=9,id=rng0");
	vdev_pci_func *f = vdev_device_pci(t->dev);
	uint8_t b[4];
	uint64_t df;

	(void)state;
	assert_string_equal(vdev_device_get_type(t->dev)->name, "virtio-rng-pci");
	assert_string_equal(vdev_device_id(t->dev), "rng0");
	assert_int_equal(vdev_pci_config_read(f, 0, b, 4), 0);
	assert_int_equal(b[0] | (b[1] << 8), 0x1af4);
	assert_int_equal(b[2] | (b[3] << 8), 0x1044);
	assert_int_equal(vdev_pci_config_read(f, 0x08, b, 4), 0);
	assert_int_equal(b[1] | (b[2] << 8) | (b[3] << 16), 0xff0000);
	assert_int_equal(vdev_pci_config_read(f, 0x2e, b, 2), 0);
	assert_int_equal(b[0] | (b[1] << 8), 4);
	/* No device config, so no DEVICE capability. */
	assert_false(t->d.device.present);
	df = vio_device_features(&t->d);
	assert_true(df & F_V1);
	assert_true(df & (1ull << VDEV_VIRTIO_F_RING_RESET));
	assert_int_equal(df & 0xffffff, 0); /* no device-specific features */

	/* Interrupts go to the source id given. */
	rt_bringup(t, F_V1, 16);
	{
		struct vdrv_seg s = { rt_buf(t, 8, 0), 8, 1 };

		assert_int_equal(rt_run(t, &s, 1, 0), 8);
	}
	assert_int_equal(mock_vmm_intx_level(&t->mv, SRC, 1), 1);
	assert_int_equal(vio_isr(&t->d), 1);
	assert_int_equal(mock_vmm_intx_level(&t->mv, SRC, 1), 0);
	rt_free(t);

	/* The MMIO flavour has no PCI function; the getter knows only virtio devices. */
	t = rt_new("virtio-rng-mmio");
	assert_null(vdev_device_pci(t->dev));
	assert_non_null(vdev_device_virtio(t->dev));
	{
		vdev_device *td;

		assert_int_equal(vdev_device_create_kv(t->mv.ctx, "pci-testdev", &td), 0);
		assert_null(vdev_device_virtio(td));
		vdev_device_destroy(td);
	}
	assert_null(vdev_device_virtio(NULL));
	/* Bad options are refused. */
	{
		vdev_device *x;

		assert_int_equal(vdev_device_create_kv(t->mv.ctx, "virtio-rng-mmio,foo=1", &x),
				 -EINVAL);
	}
	rt_free(t);
}

static void test_reset(void **state)
{
	struct rt *t = rt_new("virtio-rng-pci");
	vdev_pci_func *f = vdev_device_pci(t->dev);
	uint8_t b[2];
	struct vdrv_seg s;

	(void)state;
	rt_bringup(t, F_V1, 16);
	vdev_device_reset(t->dev);
	assert_int_equal(vdev_virtio_status(t->vd), 0);
	assert_int_equal(vdev_pci_config_read(f, VDEV_PCI_COMMAND, b, 2), 0);
	assert_int_equal(b[0] | b[1], 0); /* the PCI function is back to power-on */
	/* And it comes back up. */
	vio_pci_enable(&t->d);
	rt_bringup(t, F_V1, 16);
	s = (struct vdrv_seg){ rt_buf(t, 8, 0), 8, 1 };
	assert_int_equal(rt_run(t, &s, 1, 0), 8);
	rt_free(t);
}

static void save_load(const char *spec)
{
	struct rt *t = rt_new(spec), *t2;
	vdev_state_writer *w;
	vdev_state_reader *r;
	const void *data;
	size_t len;
	struct vdrv_seg s;

	rt_bringup(t, F_V1 | F_EVIDX, 32);
	s = (struct vdrv_seg){ rt_buf(t, 8, 0), 8, 1 };
	assert_int_equal(rt_run(t, &s, 1, 0), 8);
	/* A buffer made available but not kicked: the destination serves it at load. */
	s = (struct vdrv_seg){ rt_buf(t, 24, 0), 24, 1 };
	assert_true(vdrv_add(&t->vq, &s, 1, 0, 5) >= 0);
	vdrv_publish(&t->vq);

	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_device_save(t->dev, w), 0);
	assert_int_equal(vdev_state_writer_finish(w, &data, &len), 0);

	t2 = rt_new(spec);
	memcpy(t2->mv.ram, t->mv.ram, RAM);
	assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
	assert_int_equal(vdev_device_load(t2->dev, r), 0);
	vdev_state_reader_free(r);
	assert_int_equal(vdev_virtio_status(t2->vd), 0x0f);

	/* Continue on the destination with the source's driver state. The
	 * published but unserved buffer is served when the VM runs (timers),
	 * not during the load. */
	t->mem.base = t2->mv.ram;
	{
		struct vdrv_used u;

		assert_int_equal(vdrv_get_used(&t->vq, &u), 0);
		assert_int_equal(mock_vmm_set_time(&t2->mv, t2->mv.now_ns), 1);
		assert_int_equal(vdrv_get_used(&t->vq, &u), 1);
		assert_int_equal(u.token, 5);
		assert_int_equal(u.len, 24);
	}
	t2->d.features = t->d.features;
	s = (struct vdrv_seg){ rt_buf(t, 48, 0), 48, 1 };
	assert_true(vdrv_add(&t->vq, &s, 1, 0, 6) >= 0);
	vdrv_publish(&t->vq);
	vio_kick(&t2->d, 0, &t->vq);
	{
		struct vdrv_used u;

		assert_int_equal(vdrv_get_used(&t->vq, &u), 1);
		assert_int_equal(u.len, 48);
		assert_false(all_equal(vdrv_host(&t->mem, s.gpa), 48, 0));
	}
	t->mem.base = t->mv.ram;

	/* A stream of the other flavour is refused and changes nothing. */
	{
		struct rt *o = rt_new(strstr(spec, "pci") ? "virtio-rng-mmio" : "virtio-rng-pci");

		assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
		assert_int_not_equal(vdev_device_load(o->dev, r), 0);
		vdev_state_reader_free(r);
		assert_int_equal(vdev_virtio_status(o->vd), 0);
		rt_free(o);
	}
	vdev_state_writer_free(w);
	rt_free(t2);
	rt_free(t);
}

static void test_save_load_pci(void **state)
{
	(void)state;
	save_load("virtio-rng-pci");
}

static void test_save_load_mmio(void **state)
{
	(void)state;
	save_load("virtio-rng-mmio");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_pci_split),
		cmocka_unit_test(test_pci_packed),
		cmocka_unit_test(test_mmio_split),
		cmocka_unit_test(test_mmio_packed),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_save_load_pci),
		cmocka_unit_test(test_save_load_mmio),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
