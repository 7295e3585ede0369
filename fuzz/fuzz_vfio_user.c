/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the vfio-user message handler (lib/vfio-user/vfu_proto.c and what
 * it calls: JSON capabilities, DMA map/unmap, SET_IRQS, region I/O into
 * the PCI model and virtio-pci, migration, DMA logging (dirty pages))
 * with a virtio-scsi-pci device behind it, as a hostile client would.
 * The input is a sequence of operations, each an opcode byte and
 * operands:
 *
 *   0: message  u16 command, u32 header flags, u16 payload length, u8 fds,
 *               payload (fds: low 2 bits how many; bit 7 set: a 1 MiB memfd
 *               (guest RAM), else eventfds)
 *   1: run      the libuv loop once, the backend, the timers
 *   2: poke     u16 offset, u8 length, bytes (into the last memfd and the
 *               client's own RAM: rings)
 *   3: answer   u8 how: the client answers our DMA_READ/DMA_WRITE requests
 *               (memory mapped without an fd) from its RAM, as QEMU does:
 *               how & 3 = 0 all in order, 1 the oldest, 2 the newest
 *               first, 3 the oldest with an error; bit 2 spoils one reply
 *               (another count, data one byte short, or an id off by one,
 *               by bits 3-4)
 *
 * No socket: what the server sends is dropped, but for DMA_WRITE data,
 * which lands in the client's RAM. A message that would close
 * the connection drops it, as the real server does, and the client
 * connects again at once; a deferred
 * DMA_UNMAP is completed by running the backend. Missing bytes read as
 * zero. The client's RAM is FZ_RAM bytes seen at every guest address
 * modulo its size. Oracles: the sanitizers, and no fd leak (each iteration
 * closes what it made, the server closes what it took).
 */
#include <errno.h>
#include <stdbool.h>
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
#include "vfio-user/vfu_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_RAM (1u << 20)
/*
 * Largest DMA_MAP without an fd the harness lets through. The server's
 * shadow of such a region fills as the device fetches it (up to the size
 * the client declared: a real client declares its guest RAM), and inputs
 * that map 100+ GB and fetch a descriptor's worth of it ran into
 * libFuzzer's 2 GB RSS limit; a few MiB exercise the same code.
 */
#define FZ_REMOTE_MAX (16u << 20)
#define FZ_MAX_PAYLOAD 4096u

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

/* The client's RAM seen at every guest address modulo its size: copy in and out. */
static void ram_put(uint8_t *ram, uint64_t gpa, const uint8_t *src, size_t len)
{
	for (size_t n; len; gpa += n, src += n, len -= n) {
		n = VDEV__MIN(len, FZ_RAM - (size_t)(gpa % FZ_RAM));
		memcpy(ram + gpa % FZ_RAM, src, n);
	}
}

static void ram_get(const uint8_t *ram, uint64_t gpa, uint8_t *dst, size_t len)
{
	for (size_t n; len; gpa += n, dst += n, len -= n) {
		n = VDEV__MIN(len, FZ_RAM - (size_t)(gpa % FZ_RAM));
		memcpy(dst, ram + gpa % FZ_RAM, n);
	}
}

/*
 * The client's side of what the server sends: a DMA_WRITE request (header,
 * then its data, in two sends) lands in the client's RAM, so what the
 * device wrote (used entries, responses) reads back later; everything else
 * is dropped. The server's opaque (its event hook's, unused here) points at
 * the client.
 */
struct client {
	uint8_t *ram;                /* FZ_RAM bytes, seen modulo FZ_RAM */
	uint64_t write_gpa;          /* a DMA_WRITE's header was sent: its data is next */
	bool write_next;
};

static int client_receive(struct vfu_server *s, const void *buf, size_t len)
{
	struct client *c = s->opaque;
	const uint8_t *b = buf;

	if (c->write_next) {
		ram_put(c->ram, c->write_gpa, buf, len);
		c->write_next = false;
	} else if (len == VFU_HDR_SIZE + VFU_DMARW_HDR && vdev__le16(b + 2) == VFU_DMA_WRITE &&
		   (vdev__le32(b + 8) & VFU_TYPE_MASK) == VFU_TYPE_COMMAND) {
		c->write_gpa = vdev__le64(b + VFU_HDR_SIZE);
		c->write_next = vdev__le64(b + VFU_HDR_SIZE + 8) != 0;
	}
	return 0;
}

/*
 * Answer the server's outstanding DMA requests (op 3). The replies go
 * through vdev__vfu_handle() like any client message; a reply the server
 * refuses drops the connection, as the socket loop would. Requests are
 * named by id: answering the oldest moves the queue's head.
 */
static void answer(struct vfu_server *s, uint8_t how, const uint8_t *cram, uint8_t *buf)
{
	uint32_t n = s->dma_count, spoil = how & 4 ? 0 : UINT32_MAX;
	uint16_t first = s->dma_head_id;

	if ((how & 3) == 1 || (how & 3) == 3)
		n = VDEV__MIN(n, 1u);
	for (uint32_t k = 0; k < n && s->conn_fd >= 0; k++) {
		uint16_t id = (uint16_t)(first + ((how & 3) == 2 ? n - 1 - k : k));
		uint16_t at = (uint16_t)(id - s->dma_head_id);
		const struct vfu_dmareq *r;
		struct vfu_msg m;

		if (at >= s->dma_count)
			continue;
		r = &s->dma_q[(s->dma_head + at) & (s->dma_cap - 1)];
		if (r->done)
			continue;
		m.id = id;
		m.cmd = r->cmd;
		m.flags = VFU_TYPE_REPLY | ((how & 3) == 3 ? VFU_F_ERROR : 0);
		m.size = VFU_DMARW_HDR + (r->cmd == VFU_DMA_READ ? r->count : 0);
		vdev__put_le64(buf, r->gpa);
		vdev__put_le64(buf + 8, r->count);
		if (r->cmd == VFU_DMA_READ)
			ram_get(cram, r->gpa, buf + VFU_DMARW_HDR, r->count);
		if (k == spoil) {
			switch ((how >> 3) & 3) {
			case 0: vdev__put_le64(buf + 8, r->count + 1); break;
			case 1: m.size--; break;
			default: m.id++; break;
			}
		}
		m.p = buf;
		if (vdev__vfu_handle(s, &m, NULL, 0) < 0)
			vdev__vfu_conn_drop(s, "fuzz: reply refused");
	}
}

static void run(uv_loop_t *loop, vdev_blk *blk, struct mock_vmm *mv)
{
	uv_run(loop, UV_RUN_NOWAIT);
	while (vdev_blk_poll(blk) > 0)
		;
	mock_vmm_set_time(mv, mv->now_ns + 1000000);
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
	struct vfu_server *s;
	vdev_device *dev;
	vdev_blk *blk;
	uv_loop_t loop;
	struct client client = { 0 };
	uint8_t *payload, *ram = NULL, *cram, *abuf;
	int ops = 0;

	if (mock_vmm_init(&mv, 4096, 0))
		return 0;
	vdev_ctx_set_log_level(mv.ctx, VDEV_LOG_ERROR);
	payload = malloc(FZ_MAX_PAYLOAD);
	cram = calloc(1, FZ_RAM);
	abuf = malloc(VFU_DMARW_HDR + VFU_MAX_XFER);
	if (!payload || !cram || !abuf ||
	    vdev_device_create_kv(mv.ctx, "virtio-scsi-pci,num-queues=2,queue-size=16", &dev)) {
		free(payload);
		free(cram);
		free(abuf);
		mock_vmm_fini(&mv);
		return 0;
	}
	vdev_blk_open(mv.ctx, &bo, &blk);
	lo.blk = blk;
	vdev_scsi_lun_add(vdev_virtio_scsi_bus(dev), 0, 0, &lo, NULL);
	uv_loop_init(&loop);
	if (vdev__vfu_fuzz_new(dev, &loop, &s))
		goto out;
	client.ram = cram;
	s->opaque = &client;
	s->send = client_receive;
	while (in.n && ops++ < 256) {
		uint8_t op = u8(&in);

		if (op % 4 == 0) {
			struct vfu_msg m;
			int fds[3];
			uint8_t f;
			unsigned int nfds;
			int rc;

			m.id = (uint16_t)ops;
			m.cmd = (uint16_t)u16(&in);
			m.flags = u32(&in);
			m.size = u16(&in) % (FZ_MAX_PAYLOAD + 1);
			f = u8(&in);
			nfds = f & 3u;
			memset(payload, 0, m.size);
			for (uint32_t i = 0; i < m.size && in.n; i++)
				payload[i] = u8(&in);
			m.p = payload;
			for (unsigned int i = 0; i < nfds; i++) {
				if (f & 0x80) {
					fds[i] = memfd_create("fz-ram", MFD_CLOEXEC);
					if (fds[i] >= 0 && ftruncate(fds[i], FZ_RAM)) {
						close(fds[i]);
						fds[i] = -1;
					}
					if (fds[i] >= 0) {
						if (ram)
							munmap(ram, FZ_RAM);
						ram = mmap(NULL, FZ_RAM, PROT_READ | PROT_WRITE,
							   MAP_SHARED, fds[i], 0);
						if (ram == MAP_FAILED)
							ram = NULL;
					}
				} else {
					fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
				}
			}
			if (m.cmd == VFU_DMA_MAP && !nfds && m.size >= 32 &&
			    vdev__le64(payload + 24) > FZ_REMOTE_MAX)
				vdev__put_le64(payload + 24, FZ_REMOTE_MAX);
			/* As the socket loop does: a command after data arrived,
			 * the device sees the data first. */
			if ((m.flags & VFU_TYPE_MASK) != VFU_TYPE_REPLY)
				vdev__vfu_remote_ready(s);
			rc = vdev__vfu_handle(s, &m, fds, nfds);
			if (rc == 1) {
				/* A DMA_UNMAP waits for requests in flight: let them finish. */
				for (int i = 0; i < 100 && s->waiting; i++) {
					run(&loop, blk, &mv);
					vdev__vfu_dma_wait_check(s);
				}
				if (s->waiting)
					rc = -ETIMEDOUT;
			}
			if (rc < 0)
				vdev__vfu_conn_drop(s, "fuzz: message refused");
		} else if (op % 4 == 1) {
			run(&loop, blk, &mv);
		} else if (op % 4 == 3) {
			answer(s, u8(&in), cram, abuf);
		} else {
			uint32_t off = u16(&in) * 16u, len = u8(&in);

			for (uint32_t i = 0; i < len; i++) {
				uint8_t b = u8(&in);

				if (ram && off + i < FZ_RAM)
					ram[off + i] = b;
				if (off + i < FZ_RAM)
					cram[off + i] = b;
			}
		}
		if (s->conn_fd >= 0 && !s->dma_broken)
			vdev__vfu_remote_ready(s);
		/* The client comes back after any drop (ours or the loop's). */
		if (s->conn_fd < 0 && vdev__vfu_fuzz_connect(s))
			break;
	}
	vdev__vfu_fuzz_free(s);
out:
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	if (ram)
		munmap(ram, FZ_RAM);
	vdev_device_destroy(dev);
	mock_vmm_fini(&mv);
	free(payload);
	free(cram);
	free(abuf);
	return 0;
}
