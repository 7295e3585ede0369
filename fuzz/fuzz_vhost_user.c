/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the vhost-user message handler (lib/vhost-user/vu_proto.c) with a
 * virtio-scsi device behind it, as a hostile front end would: the input
 * is a sequence of operations, each an opcode byte and operands:
 *
 *   0: message   u32 request, u32 flags, u16 payload length, u8 fds, payload
 *                (fds: low 4 bits how many; bit 7 set: a 1 MiB memfd
 *                (guest RAM); else bit 6 set: a 1 MiB memfd kept as the
 *                "inflight area" (SET_INFLIGHT_FD, ADD_MEM_REG); else eventfds)
 *   1: kick      u8 queue  (as if the kick eventfd fired)
 *   2: poke      u16 offset, u8 length, bytes  (length bit 7 clear: into the
 *                last RAM memfd, ring content; set: length & 0x7f bytes into
 *                the last inflight memfd, the shared inflight region)
 *   3: run       (the libuv loop once, the backend and the timers)
 *
 * No socket: replies are dropped. A message that would close the
 * connection resets the server state, as the real server does. Missing
 * bytes read as zero. Oracles: the sanitizers (no crash, leak or
 * out-of-bounds access), and no fd leak (each iteration checks the count).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#include <uv.h>

#include <vdev/block.h>
#include <vdev/scsi.h>
#include <vdev/timer.h>
#include <vdev/virtio_scsi.h>

#include "mock_vmm.h"
#include "vhost-user/vu_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_RAM (1u << 20)

/* A 1 MiB memfd for a message, mapped at *map (the previous mapping goes). */
static int fz_memfd(uint8_t **map)
{
	int fd = memfd_create("fz-mem", MFD_CLOEXEC);

	if (fd >= 0 && ftruncate(fd, FZ_RAM)) {
		close(fd);
		fd = -1;
	}
	if (fd >= 0) {
		if (*map)
			munmap(*map, FZ_RAM);
		*map = mmap(NULL, FZ_RAM, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (*map == MAP_FAILED)
			*map = NULL;
	}
	return fd;
}

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct in *in)
{
	uint8_t v = 0;

	if (in->n) {
		v = *in->p++;
		in->n--;
	}
	return v;
}

static uint32_t u16(struct in *in)
{
	uint32_t v = u8(in);

	return v | ((uint32_t)u8(in) << 8);
}

static uint32_t u32(struct in *in)
{
	uint32_t v = u16(in);

	return v | (u16(in) << 16);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct vdev_blk_opts bo = {
		.struct_size = sizeof(bo),
		.driver = "memory",
		.size = 64 * 512,
	};
	struct vdev_scsi_lun_opts lo = {
		.struct_size = sizeof(lo),
		.type = VDEV_SCSI_LUN_DISK,
		.block_size = 512,
	};
	struct mock_vmm mv;
	struct vu_server *s;
	struct vu_msg *m;
	vdev_device *dev;
	vdev_blk *blk;
	uv_loop_t loop;
	uint8_t *ram = NULL, *ifl = NULL;
	int ops = 0;

	if (mock_vmm_init(&mv, 4096, 0))
		return 0;
	m = malloc(sizeof(*m));
	if (!m || vdev_device_create_kv(mv.ctx, "virtio-scsi-pci,num-queues=2,queue-size=16",
					&dev)) {
		free(m);
		mock_vmm_fini(&mv);
		return 0;
	}
	vdev_blk_open(mv.ctx, &bo, &blk);
	lo.blk = blk;
	vdev_scsi_lun_add(vdev_virtio_scsi_bus(dev), 0, 0, &lo, NULL);
	uv_loop_init(&loop);
	if (vdev__vu_fuzz_new(vdev_device_virtio(dev), &loop, &s))
		goto out;
	while (in.n && ops++ < 256) {
		uint8_t op = u8(&in);

		if (op % 4 == 0) {
			int fds[VU_MAX_FDS];
			uint8_t f = u8(&in);
			unsigned int nfds = (f & 15u) % (VU_MAX_FDS + 1);

			m->request = u32(&in);
			m->flags = u32(&in);
			m->size = u16(&in) % (VU_MAX_PAYLOAD + 1);
			memset(m->payload, 0, m->size);
			for (uint32_t i = 0; i < m->size && in.n; i++)
				m->payload[i] = u8(&in);
			for (unsigned int i = 0; i < nfds; i++) {
				if (f & 0x80)
					fds[i] = fz_memfd(&ram);
				else if (f & 0x40)
					fds[i] = fz_memfd(&ifl);
				else
					fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			}
			if (vdev__vu_handle(s, m, fds, nfds) < 0)
				vdev__vu_conn_reset(s);
		} else if (op % 4 == 1) {
			vdev_virtio_kick(vdev_device_virtio(dev), u8(&in));
		} else if (op % 4 == 2) {
			uint32_t off = u16(&in) * 16u, len = u8(&in);
			uint8_t *to = (len & 0x80) ? ifl : ram;

			if (len & 0x80)
				len &= 0x7f;
			for (uint32_t i = 0; i < len; i++) {
				uint8_t b = u8(&in);

				if (to && off + i < FZ_RAM)
					to[off + i] = b;
			}
		} else {
			uv_run(&loop, UV_RUN_NOWAIT);
			while (vdev_blk_poll(blk) > 0)
				;
			mock_vmm_set_time(&mv, mv.now_ns + 1000000);
		}
	}
	vdev__vu_fuzz_free(s);
out:
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	if (ram)
		munmap(ram, FZ_RAM);
	if (ifl)
		munmap(ifl, FZ_RAM);
	vdev_device_destroy(dev);
	mock_vmm_fini(&mv);
	free(m);
	return 0;
}
