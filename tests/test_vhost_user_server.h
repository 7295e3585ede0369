/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user server fixture of test_vhost_user.c and
 * test_vhost_user_inflight.c: a virtio-scsi device (one request queue of
 * 64) with a memory disk at LUN 0.0, served by lib/vhost-user on a libuv
 * loop in this thread on a socket in a fresh directory, and the in-test
 * front end (test_vhost_user_util.h) ready to connect to it.
 */
#ifndef VDEV_TESTS_TEST_VHOST_USER_SERVER_H
#define VDEV_TESTS_TEST_VHOST_USER_SERVER_H

#include <uv.h>
#include <vdev/block.h>
#include <vdev/scsi.h>
#include <vdev/vhost_user.h>
#include <vdev/virtio_scsi.h>

#include "mock_vmm.h"
#include "test_server_pump.h"
#include "test_vhost_user_util.h"

#define T_BS 512u
#define T_BLOCKS 256u
#define T_REQQ 2u

struct t {
	struct mock_vmm mv;
	vdev_device *dev;
	vdev_virtio *vd;
	vdev_scsi_bus *bus;
	vdev_blk *blk;
	uv_loop_t loop;
	vdev_vhost_user *vu;
	char dir[64];
	char path[128];
	struct fe f;
	int hold_backend;      /* pump without completing backend I/O */
	int connects, disconnects, starts, stops;   /* the server's events */
};

static FE_UNUSED void t_event(void *opaque, enum vdev_vhost_user_event ev, unsigned int q)
{
	struct t *t = opaque;

	(void)q;
	t->connects += ev == VDEV_VHOST_USER_CONNECTED;
	t->disconnects += ev == VDEV_VHOST_USER_DISCONNECTED;
	t->starts += ev == VDEV_VHOST_USER_STARTED;
	t->stops += ev == VDEV_VHOST_USER_STOPPED;
}

static FE_UNUSED void t_pump(void *arg)
{
	struct t *t = arg;

	server_pump(&t->loop, t->blk, t->mv.ctx, t->hold_backend);
}

static FE_UNUSED struct t *t_new(void)
{
	struct t *t = calloc(1, sizeof(*t));
	struct vdev_blk_opts bo = {
		.struct_size = sizeof(bo),
		.driver = "memory",
		.size = (uint64_t)T_BLOCKS * T_BS,
	};
	struct vdev_scsi_lun_opts lo = {
		.struct_size = sizeof(lo),
		.type = VDEV_SCSI_LUN_DISK,
		.block_size = T_BS,
	};
	struct vdev_vhost_user_opts vo = { .struct_size = sizeof(vo) };

	assert_non_null(t);
	/* A context of its own, with no RAM: the server owns its memory map. */
	assert_int_equal(mock_vmm_init(&t->mv, 4096, 0), 0);
	assert_int_equal(vdev_device_create_kv(t->mv.ctx,
					       "virtio-scsi-pci,num-queues=1,queue-size=64",
					       &t->dev), 0);
	t->vd = vdev_device_virtio(t->dev);
	t->bus = vdev_virtio_scsi_bus(t->dev);
	assert_int_equal(vdev_blk_open(t->mv.ctx, &bo, &t->blk), 0);
	lo.blk = t->blk;
	assert_int_equal(vdev_scsi_lun_add(t->bus, 0, 0, &lo, NULL), 0);
	assert_int_equal(uv_loop_init(&t->loop), 0);
	snprintf(t->dir, sizeof(t->dir), "/tmp/vdev-vu-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/sock", t->dir);
	vo.socket_path = t->path;
	vo.event = t_event;
	vo.opaque = t;
	assert_int_equal(vdev_vhost_user_new(t->vd, &t->loop, &vo, &t->vu), 0);
	t->f.sock = -1;
	t->f.pump = t_pump;
	t->f.pump_arg = t;
	fe_ram_init(&t->f);
	return t;
}

static FE_UNUSED void t_free(struct t *t)
{
	fe_fini(&t->f);
	vdev_vhost_user_free(t->vu);
	assert_int_equal(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	/* The listening socket's file goes with the server. */
	assert_int_not_equal(access(t->path, F_OK), 0);
	rmdir(t->dir);
	vdev_device_destroy(t->dev);
	mock_vmm_fini(&t->mv);
	free(t);
}

#endif
