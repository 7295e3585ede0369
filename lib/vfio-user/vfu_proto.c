/* SPDX-License-Identifier: MIT */
/*
 * One vfio-user message: validation and dispatch (vfio-user.rst,
 * "Commands"), device and region information, region reads and writes,
 * device reset. Payload layouts are the vfio.h structures the spec
 * reuses, little-endian, read field by field (never cast onto the buffer).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vfio-user/vfu_internal.h"

static const char *cmd_name(uint16_t cmd)
{
	static const char *const names[] = {
		[VFU_VERSION] = "VERSION",
		[VFU_DMA_MAP] = "DMA_MAP",
		[VFU_DMA_UNMAP] = "DMA_UNMAP",
		[VFU_DEVICE_GET_INFO] = "DEVICE_GET_INFO",
		[VFU_DEVICE_GET_REGION_INFO] = "DEVICE_GET_REGION_INFO",
		[VFU_DEVICE_GET_REGION_IO_FDS] = "DEVICE_GET_REGION_IO_FDS",
		[VFU_DEVICE_GET_IRQ_INFO] = "DEVICE_GET_IRQ_INFO",
		[VFU_DEVICE_SET_IRQS] = "DEVICE_SET_IRQS",
		[VFU_REGION_READ] = "REGION_READ",
		[VFU_REGION_WRITE] = "REGION_WRITE",
		[VFU_DMA_READ] = "DMA_READ",
		[VFU_DMA_WRITE] = "DMA_WRITE",
		[VFU_DEVICE_RESET] = "DEVICE_RESET",
		[VFU_DIRTY_PAGES] = "DIRTY_PAGES",
		[VFU_REGION_WRITE_MULTI] = "REGION_WRITE_MULTI",
		[VFU_DEVICE_FEATURE] = "DEVICE_FEATURE",
		[VFU_MIG_DATA_READ] = "MIG_DATA_READ",
		[VFU_MIG_DATA_WRITE] = "MIG_DATA_WRITE",
	};

	return cmd < VDEV__ARRAY_SIZE(names) && names[cmd] ? names[cmd] : "unknown";
}

int vdev__vfu_reply(struct vfu_server *s, uint16_t id, uint16_t cmd, uint32_t err,
		    const void *payload, uint32_t len)
{
	uint8_t *b = s->wbuf;

	if (err)
		len = 0;
	if (len > VFU_MAX_MSG - VFU_HDR_SIZE)
		return -EINVAL;
	vdev__put_le16(b, id);
	vdev__put_le16(b + 2, cmd);
	vdev__put_le32(b + 4, VFU_HDR_SIZE + len);
	vdev__put_le32(b + 8, VFU_TYPE_REPLY | (err ? VFU_F_ERROR : 0));
	vdev__put_le32(b + 12, err);
	/* Payloads built in place (region reads) are already there. */
	if (len && payload != b + VFU_HDR_SIZE)
		memmove(b + VFU_HDR_SIZE, payload, len);
	return s->send(s, b, VFU_HDR_SIZE + len);
}

void vdev__vfu_conn_reset(struct vfu_server *s)
{
	/* The device aborts whatever is in flight; then nothing points into guest RAM. */
	vdev_device_reset(s->dev);
	s->waiting = false;
	s->paused_queues = 0;
	vdev__vfu_irq_drop(s);
	vdev__vfu_dma_drop(s);
	vdev__vfu_mig_drop(s);
	vdev__vfu_dirty_drop(s);
	s->versioned = false;
	s->client_max_fds = 1;
	s->client_max_xfer = VFU_MAX_XFER;
}

/* ---- VERSION ---- */

static int do_version(struct vfu_server *s, const struct vfu_msg *m)
{
	uint8_t *out = s->wbuf + VFU_HDR_SIZE;
	uint16_t major, minor;
	size_t n;
	int rc;

	if (s->versioned) {
		vdev__vfu_log(s, VDEV_LOG_WARN, "VERSION sent twice");
		return -EINVAL;
	}
	if (m->size < 4)
		return -EINVAL;
	major = vdev__le16(m->p);
	minor = vdev__le16(m->p + 2);
	if (major != VFU_MAJOR) {
		vdev__vfu_log(s, VDEV_LOG_WARN, "client speaks version %u.%u, we %u.%u", major,
			      minor, VFU_MAJOR, VFU_MINOR);
		return -ENOTSUP;
	}
	if (m->size > 4) {
		rc = vdev__vfu_caps_parse(s, (const char *)m->p + 4, m->size - 4);
		if (rc) {
			vdev__vfu_log(s, VDEV_LOG_WARN, "malformed capabilities");
			return rc;
		}
	}
	vdev__put_le16(out, VFU_MAJOR);
	vdev__put_le16(out + 2, VFU_MINOR);
	n = vdev__vfu_caps_emit((char *)out + 4, VFU_MAX_JSON);
	s->versioned = true;
	vdev__vfu_log(s, VDEV_LOG_INFO, "version %u.%u (client %u.%u), max %u fds, %" PRIu64
		      " bytes per transfer", VFU_MAJOR, VFU_MINOR, major, minor,
		      s->client_max_fds, s->client_max_xfer);
	return vdev__vfu_reply(s, m->id, m->cmd, 0, out, (uint32_t)(4 + n));
}

/* ---- information ---- */

static uint32_t config_size(struct vfu_server *s)
{
	uint8_t b;

	return vdev_pci_config_read(s->f, 0x100, &b, 1) ? 256 : 4096;
}

/* Size and flags of region @index. */
static void region_get(struct vfu_server *s, uint32_t index, uint64_t *size, uint32_t *flags)
{
	struct vdev_pci_bar_info bi;

	*size = 0;
	*flags = 0;
	if (index == VFU_REGION_CONFIG) {
		*size = config_size(s);
	} else if (index < VFU_REGION_ROM &&
		   !vdev_pci_bar_get_info(s->f, (int)index, &bi) && bi.size) {
		*size = bi.size;
	}
	if (*size)
		*flags = VFU_REGION_F_READ | VFU_REGION_F_WRITE;
}

static int do_device_info(struct vfu_server *s, const struct vfu_msg *m)
{
	uint8_t out[16];

	if (m->size < 16 || vdev__le32(m->p) < 16)
		return -EINVAL;
	vdev__put_le32(out, 16);
	vdev__put_le32(out + 4, VFU_DEVICE_F_RESET | VFU_DEVICE_F_PCI);
	vdev__put_le32(out + 8, VFU_NUM_REGIONS);
	vdev__put_le32(out + 12, VFU_NUM_IRQS);
	return vdev__vfu_reply(s, m->id, m->cmd, 0, out, sizeof(out));
}

static int do_region_info(struct vfu_server *s, const struct vfu_msg *m)
{
	uint8_t out[32];
	uint32_t index, flags;
	uint64_t size;

	if (m->size < 32 || vdev__le32(m->p) < 32)
		return -EINVAL;
	index = vdev__le32(m->p + 8);
	if (index >= VFU_NUM_REGIONS)
		return -EINVAL;
	region_get(s, index, &size, &flags);
	memset(out, 0, sizeof(out));
	vdev__put_le32(out, 32);
	vdev__put_le32(out + 4, flags);
	vdev__put_le32(out + 8, index);
	vdev__put_le64(out + 16, size);
	/* The offset of the region in the "device file", as vfio-pci numbers them. */
	vdev__put_le64(out + 24, (uint64_t)index << 40);
	return vdev__vfu_reply(s, m->id, m->cmd, 0, out, sizeof(out));
}

static int do_region_io_fds(struct vfu_server *s, const struct vfu_msg *m)
{
	uint8_t out[16];
	uint32_t index;

	if (m->size < 16 || vdev__le32(m->p) < 16)
		return -EINVAL;
	index = vdev__le32(m->p + 8);
	if (index >= VFU_NUM_REGIONS)
		return -EINVAL;
	/* No ioeventfds/ioregionfds: every access is a message. */
	vdev__put_le32(out, 16);
	vdev__put_le32(out + 4, 0);
	vdev__put_le32(out + 8, index);
	vdev__put_le32(out + 12, 0);
	return vdev__vfu_reply(s, m->id, m->cmd, 0, out, sizeof(out));
}

static int do_irq_info(struct vfu_server *s, const struct vfu_msg *m)
{
	uint8_t out[16];
	uint32_t index, flags, count;
	int rc;

	if (m->size < 16 || vdev__le32(m->p) < 16)
		return -EINVAL;
	index = vdev__le32(m->p + 8);
	rc = vdev__vfu_irq_info(s, index, &flags, &count);
	if (rc)
		return rc;
	vdev__put_le32(out, 16);
	vdev__put_le32(out + 4, flags);
	vdev__put_le32(out + 8, index);
	vdev__put_le32(out + 12, count);
	return vdev__vfu_reply(s, m->id, m->cmd, 0, out, sizeof(out));
}

/* ---- region I/O ---- */

/* Is [offset, offset + count) inside region @region? @return 0, -EINVAL, -E2BIG. */
static int region_range_check(struct vfu_server *s, uint32_t region, uint64_t offset,
			      uint32_t count)
{
	uint64_t size;
	uint32_t flags;

	if (region >= VFU_NUM_REGIONS)
		return -EINVAL;
	if (count > VFU_MAX_XFER)
		return -E2BIG;
	region_get(s, region, &size, &flags);
	if (!size || offset > size || count > size - offset)
		return -EINVAL;
	return 0;
}

/* Check a REGION_READ/WRITE header. @return 0 with *region, *offset, *count. */
static int region_rw_check(struct vfu_server *s, const struct vfu_msg *m, uint32_t *region,
			   uint64_t *offset, uint32_t *count)
{
	if (m->size < 16)
		return -EINVAL;
	*offset = vdev__le64(m->p);
	*region = vdev__le32(m->p + 8);
	*count = vdev__le32(m->p + 12);
	return region_range_check(s, *region, *offset, *count);
}

/* One region write, config space or a BAR. */
static int region_write(struct vfu_server *s, uint32_t region, uint64_t offset,
			const uint8_t *data, uint32_t count)
{
	int rc = region == VFU_REGION_CONFIG
			 ? vdev_pci_config_write(s->f, (uint32_t)offset, data, count)
			 : vdev_pci_bar_write(s->f, (int)region, offset, data, count);

	return rc == -ERANGE ? -EINVAL : rc;
}

static int do_region_read(struct vfu_server *s, const struct vfu_msg *m)
{
	uint8_t *out = s->wbuf + VFU_HDR_SIZE;
	uint32_t region, count;
	uint64_t offset;
	int rc = region_rw_check(s, m, &region, &offset, &count);

	if (rc)
		return rc;
	if (m->size != 16)
		return -EINVAL;
	/* The payload is built in the reply buffer: the request lives in rbuf. */
	vdev__put_le64(out, offset);
	vdev__put_le32(out + 8, region);
	vdev__put_le32(out + 12, count);
	if (region == VFU_REGION_CONFIG)
		rc = vdev_pci_config_read(s->f, (uint32_t)offset, out + 16, count);
	else
		rc = vdev_pci_bar_read(s->f, (int)region, offset, out + 16, count);
	if (rc)
		return rc == -ERANGE ? -EINVAL : rc;
	return vdev__vfu_reply(s, m->id, m->cmd, 0, out, 16 + count);
}

static int do_region_write(struct vfu_server *s, const struct vfu_msg *m)
{
	uint8_t out[16];
	uint32_t region, count;
	uint64_t offset;
	int rc = region_rw_check(s, m, &region, &offset, &count);

	if (rc)
		return rc;
	if (m->size != 16 + (uint64_t)count)
		return -EINVAL;
	rc = region_write(s, region, offset, m->p + 16, count);
	if (rc)
		return rc;
	if (m->flags & VFU_F_NO_REPLY)
		return 0;
	memcpy(out, m->p, 16);
	return vdev__vfu_reply(s, m->id, m->cmd, 0, out, sizeof(out));
}

/*
 * REGION_WRITE_MULTI (vfio-user.rst): a u64 count, then that many entries
 * of {u64 offset, u32 region, u32 count, 8 data bytes}. QEMU sends it
 * when its queue of posted writes to us backs up, coalescing writes of up
 * to 8 bytes (doorbells), in order. Every entry is checked before any is
 * applied: a bad message changes nothing.
 */
static int do_write_multi(struct vfu_server *s, const struct vfu_msg *m)
{
	uint64_t n;
	int rc;

	if (m->size < 8)
		return -EINVAL;
	n = vdev__le64(m->p);
	if (!n || n > VFU_MULTI_MAX || m->size != 8 + n * VFU_MULTI_ENTRY)
		return -EINVAL;
	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *e = m->p + 8 + i * VFU_MULTI_ENTRY;
		uint32_t count = vdev__le32(e + 12);

		if (!count || count > VFU_MULTI_DATA)
			return -EINVAL;
		rc = region_range_check(s, vdev__le32(e + 8), vdev__le64(e), count);
		if (rc)
			return rc;
	}
	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *e = m->p + 8 + i * VFU_MULTI_ENTRY;

		rc = region_write(s, vdev__le32(e + 8), vdev__le64(e), e + 16, vdev__le32(e + 12));
		if (rc)
			return rc;
	}
	if (m->flags & VFU_F_NO_REPLY)
		return 0;
	return vdev__vfu_reply(s, m->id, m->cmd, 0, NULL, 0);
}

static int do_reset(struct vfu_server *s, const struct vfu_msg *m)
{
	vdev__vfu_log(s, VDEV_LOG_INFO, "device reset");
	vdev_device_reset(s->dev);
	/* The reset masked every MSI-X vector: a hold must not unmask them. */
	vdev__vfu_irq_forget(s);
	vdev__vfu_mig_drop(s);
	if (s->event)
		s->event(s->opaque, VDEV_VFIO_USER_RESET);
	return vdev__vfu_reply(s, m->id, m->cmd, 0, NULL, 0);
}

/* ---- dispatch ---- */

/* Run the command. @return 0 (replied), 1 (deferred), < 0: errno to reply. */
static int dispatch(struct vfu_server *s, const struct vfu_msg *m, int *fds, unsigned int nfds)
{
	if (m->cmd == VFU_VERSION)
		return do_version(s, m);
	if (!s->versioned) {
		vdev__vfu_log(s, VDEV_LOG_WARN, "%s before VERSION", cmd_name(m->cmd));
		return -EINVAL;
	}
	switch (m->cmd) {
	case VFU_DMA_MAP: {
		int rc = vdev__vfu_dma_map(s, m, nfds ? fds[0] : -1);

		return rc ? rc : vdev__vfu_reply(s, m->id, m->cmd, 0, NULL, 0);
	}
	case VFU_DMA_UNMAP:
		return vdev__vfu_dma_unmap(s, m);
	case VFU_DEVICE_GET_INFO:
		return do_device_info(s, m);
	case VFU_DEVICE_GET_REGION_INFO:
		return do_region_info(s, m);
	case VFU_DEVICE_GET_REGION_IO_FDS:
		return do_region_io_fds(s, m);
	case VFU_DEVICE_GET_IRQ_INFO:
		return do_irq_info(s, m);
	case VFU_DEVICE_SET_IRQS: {
		int rc = vdev__vfu_set_irqs(s, m, fds, nfds);

		return rc ? rc : vdev__vfu_reply(s, m->id, m->cmd, 0, NULL, 0);
	}
	case VFU_REGION_READ:
		return do_region_read(s, m);
	case VFU_REGION_WRITE:
		return do_region_write(s, m);
	case VFU_REGION_WRITE_MULTI:
		return do_write_multi(s, m);
	case VFU_DEVICE_RESET:
		return do_reset(s, m);
	case VFU_DEVICE_FEATURE:
		return vdev__vfu_feature(s, m);
	case VFU_MIG_DATA_READ:
		return vdev__vfu_mig_read(s, m);
	case VFU_MIG_DATA_WRITE:
		return vdev__vfu_mig_write(s, m);
	default:
		/*
		 * DMA_READ/WRITE go server -> client (their replies go to
		 * vfu_dmaio.c); WRITE_MULTI is not offered;
		 * 14 (the old DIRTY_PAGES) left the spec: DMA logging is a
		 * DEVICE_FEATURE now (vfu_dirty.c).
		 */
		vdev__vfu_log(s, VDEV_LOG_WARN, "command %u (%s) not supported", m->cmd,
			      cmd_name(m->cmd));
		return -ENOTSUP;
	}
}

/* How many fds command @cmd may carry. */
static unsigned int fds_allowed(uint16_t cmd)
{
	if (cmd == VFU_DMA_MAP)
		return 1;
	if (cmd == VFU_DEVICE_SET_IRQS)
		return VFU_MAX_FDS;
	return 0;
}

int vdev__vfu_handle(struct vfu_server *s, const struct vfu_msg *m, int *fds, unsigned int nfds)
{
	int rc;

	if ((m->flags & VFU_TYPE_MASK) == VFU_TYPE_REPLY)
		return vdev__vfu_dmaio_reply(s, m, fds, nfds);
	if ((m->flags & VFU_TYPE_MASK) != VFU_TYPE_COMMAND) {
		vdev__vfu_log(s, VDEV_LOG_WARN, "message type %u from the client",
			      m->flags & VFU_TYPE_MASK);
		rc = -EPROTO;
		goto close_fds;
	}
	if (nfds > fds_allowed(m->cmd)) {
		vdev__vfu_log(s, VDEV_LOG_WARN, "%s with %u fds", cmd_name(m->cmd), nfds);
		rc = -EINVAL;
		goto reply_error;
	}
	vdev__vfu_log(s, VDEV_LOG_DEBUG, "%s id %u, %u bytes, %u fds", cmd_name(m->cmd), m->id,
		      m->size, nfds);
	rc = dispatch(s, m, fds, nfds);
	/* Fds the command kept were replaced by -1; close the rest. */
	for (unsigned int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (rc >= 0)
		return rc;
	if (rc == -EPIPE || rc == -ETIMEDOUT)
		return rc;      /* the reply could not be sent */
	nfds = 0;
reply_error:
	vdev__vfu_log(s, VDEV_LOG_DEBUG, "%s id %u: error %s", cmd_name(m->cmd), m->id,
		      vdev_strerror(rc));
	for (unsigned int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (m->flags & VFU_F_NO_REPLY)
		return 0;
	{
		int src = vdev__vfu_reply(s, m->id, m->cmd, (uint32_t)-rc, NULL, 0);

		if (src < 0)
			return src;
	}
	/* A client that speaks another major version cannot go on. */
	return m->cmd == VFU_VERSION && rc == -ENOTSUP ? -EPROTO : 0;
close_fds:
	for (unsigned int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return rc;
}
