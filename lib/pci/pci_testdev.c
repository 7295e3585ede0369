/* SPDX-License-Identifier: MIT */
/*
 * "pci-testdev": the small PCI device described in vdev/testdev.h. It
 * exercises every path of the PCI function model (BARs of each kind,
 * INTx/MSI/MSI-X, bus mastering) plus DMA, timers and migration.
 *
 * Registers are dwords and any access width works: a write touching some
 * bytes of a register updates those bytes of a storage register, and for a
 * command register (IRQ_RAISE, IRQ_ACK, TIMER, DMA_CMD) runs the command
 * with the written bytes as its value (unwritten bytes read as zero).
 * A DMA_LEN above 1 MiB is stored but makes a DMA command fail with EINVAL.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pci/pci_func.h"
#include "pci/pci_testdev.h"

#define TD_BAR0_SIZE 4096u
#define TD_BAR1_SIZE 32u
#define TD_BAR2_SIZE 16384u
#define TD_MSIX_PBA_OFFSET 0x2000u
#define TD_MAX_MSIX 64u
#define TD_DMA_MAX (1u << 20)
#define TD_CLASS_OTHER 0xff0000u /* base class ff: "does not fit a defined class" */
#define TD_STATE_VERSION 1
#define TD_TIMER_DISARMED UINT64_MAX

/* Guest-visible registers, and the timer deadline when saved. */
struct td_regs {
	uint32_t scratch;
	uint32_t dma_addr_lo;
	uint32_t dma_addr_hi;
	uint32_t dma_len;
	uint32_t dma_status;
	uint32_t dma_result;
	uint64_t timer_deadline; /* only meaningful in a saved image */
	uint8_t buf[VDEV_TESTDEV_BUF_SIZE];
};

struct testdev {
	vdev_ctx *ctx;
	vdev_pci_func *f;
	vdev_timer *timer;
	struct td_regs r;
};

static int td_in_buf(uint64_t off)
{
	return off >= VDEV_TESTDEV_REG_BUF && off < VDEV_TESTDEV_REG_BUF + VDEV_TESTDEV_BUF_SIZE;
}

static uint32_t td_reg_read(struct testdev *td, uint64_t reg)
{
	if (td_in_buf(reg))
		return vdev__le32(td->r.buf + (reg - VDEV_TESTDEV_REG_BUF));
	switch (reg) {
	case VDEV_TESTDEV_REG_MAGIC:
		return VDEV_TESTDEV_MAGIC;
	case VDEV_TESTDEV_REG_SCRATCH:
		return td->r.scratch;
	case VDEV_TESTDEV_REG_TIMER:
		return (uint32_t)vdev_timer_is_armed(td->timer);
	case VDEV_TESTDEV_REG_DMA_ADDR_LO:
		return td->r.dma_addr_lo;
	case VDEV_TESTDEV_REG_DMA_ADDR_HI:
		return td->r.dma_addr_hi;
	case VDEV_TESTDEV_REG_DMA_LEN:
		return td->r.dma_len;
	case VDEV_TESTDEV_REG_DMA_STATUS:
		return td->r.dma_status;
	case VDEV_TESTDEV_REG_DMA_RESULT:
		return td->r.dma_result;
	default:
		return 0; /* write-only and unassigned registers */
	}
}

static int td_dma(struct testdev *td, uint32_t cmd)
{
	uint64_t addr = td->r.dma_addr_lo | ((uint64_t)td->r.dma_addr_hi << 32);
	uint32_t len = td->r.dma_len, sum = 0;
	uint8_t *tmp;
	int rc;

	if (cmd != VDEV_TESTDEV_DMA_FILL && cmd != VDEV_TESTDEV_DMA_SUM)
		return -EINVAL;
	if (!(vdev_pci_command(td->f) & VDEV_PCI_COMMAND_MASTER))
		return -EPERM;
	if (len > TD_DMA_MAX)
		return -EINVAL;
	if (!len) {
		if (cmd == VDEV_TESTDEV_DMA_SUM)
			td->r.dma_result = 0;
		return 0;
	}
	/* One bounce buffer, so each command is all or nothing in guest memory. */
	tmp = malloc(len);
	if (!tmp)
		return -ENOMEM;
	if (cmd == VDEV_TESTDEV_DMA_FILL) {
		memset(tmp, (uint8_t)td->r.scratch, len);
		rc = vdev_mem_write(td->ctx, addr, tmp, len);
	} else {
		rc = vdev_mem_read(td->ctx, addr, tmp, len);
		for (uint32_t i = 0; !rc && i < len; i++)
			sum += tmp[i];
		if (!rc)
			td->r.dma_result = sum;
	}
	free(tmp);
	return rc;
}

static void td_timer_write(struct testdev *td, uint32_t ns)
{
	uint64_t now, deadline;

	if (!ns) {
		vdev_timer_disarm(td->timer);
		return;
	}
	now = vdev_now_ns(td->ctx);
	deadline = now + ns;
	/* Saturate; UINT64_MAX stands for "disarmed" in saved state. */
	if (deadline < now || deadline == TD_TIMER_DISARMED)
		deadline = TD_TIMER_DISARMED - 1;
	vdev_timer_arm(td->timer, deadline);
}

static void td_merge(uint32_t *reg, uint32_t val, uint32_t mask)
{
	*reg = (*reg & ~mask) | (val & mask);
}

/* Write the bytes of @val selected by @mask to the dword register @reg. */
static void td_reg_write(struct testdev *td, uint64_t reg, uint32_t val, uint32_t mask)
{
	val &= mask;
	if (td_in_buf(reg)) {
		uint8_t *p = td->r.buf + (reg - VDEV_TESTDEV_REG_BUF);

		for (unsigned int i = 0; i < 4; i++)
			if ((mask >> (8 * i)) & 0xff)
				p[i] = (uint8_t)(val >> (8 * i));
		return;
	}
	switch (reg) {
	case VDEV_TESTDEV_REG_SCRATCH:
		td_merge(&td->r.scratch, val, mask);
		break;
	case VDEV_TESTDEV_REG_IRQ_RAISE:
		vdev_pci_notify(td->f, val);
		break;
	case VDEV_TESTDEV_REG_IRQ_ACK:
		vdev_pci_intx_set(td->f, 0);
		break;
	case VDEV_TESTDEV_REG_TIMER:
		td_timer_write(td, val);
		break;
	case VDEV_TESTDEV_REG_DMA_ADDR_LO:
		td_merge(&td->r.dma_addr_lo, val, mask);
		break;
	case VDEV_TESTDEV_REG_DMA_ADDR_HI:
		td_merge(&td->r.dma_addr_hi, val, mask);
		break;
	case VDEV_TESTDEV_REG_DMA_LEN:
		td_merge(&td->r.dma_len, val, mask);
		break;
	case VDEV_TESTDEV_REG_DMA_CMD:
		td->r.dma_status = (uint32_t)-td_dma(td, val);
		break;
	default:
		break; /* read-only and unassigned registers */
	}
}

static uint64_t td_read(void *opaque, uint64_t offset, unsigned int size)
{
	struct testdev *td = opaque;
	uint64_t v = 0;

	for (unsigned int i = 0; i < size; i++) {
		uint64_t o = offset + i;
		uint32_t reg = td_reg_read(td, o & ~3ull);

		v |= (uint64_t)((reg >> (8 * (o & 3))) & 0xff) << (8 * i);
	}
	return v;
}

static void td_write(void *opaque, uint64_t offset, uint64_t value, unsigned int size)
{
	struct testdev *td = opaque;
	uint64_t end = offset + size;

	/* The piece is naturally aligned: at most two whole dwords, or part of one. */
	for (uint64_t reg = offset & ~3ull; reg < end; reg += 4) {
		uint32_t val = 0, mask = 0;

		for (uint64_t o = VDEV__MAX(reg, offset); o < VDEV__MIN(reg + 4, end); o++) {
			unsigned int sh = 8 * (unsigned int)(o - reg);

			val |= (uint32_t)((value >> (8 * (o - offset))) & 0xff) << sh;
			mask |= 0xffu << sh;
		}
		td_reg_write(td, reg, val, mask);
	}
}

static const struct vdev_pci_bar_ops td_mmio_ops = {
	.struct_size = sizeof(struct vdev_pci_bar_ops),
	.read = td_read,
	.write = td_write,
	.max_access = 8,
};

/* I/O accesses are at most a dword wide on every bus we emulate. */
static const struct vdev_pci_bar_ops td_pio_ops = {
	.struct_size = sizeof(struct vdev_pci_bar_ops),
	.read = td_read,
	.write = td_write,
	.max_access = 4,
};

static void td_timer_fired(vdev_timer *timer, void *opaque)
{
	struct testdev *td = opaque;

	(void)timer;
	vdev_pci_notify(td->f, 0);
}

static void td_opts_default(void *opts)
{
	struct vdev_testdev_opts *o = opts;

	o->source_id = 0;
	o->msix_vectors = 4;
	o->msi_vectors = 1;
	o->intx = 1;
}

static int td_build_func(struct testdev *td, const struct vdev_testdev_opts *o)
{
	struct vdev_pci_func_opts po = {
		.struct_size = sizeof(po),
		.vendor_id = VDEV_TESTDEV_VENDOR_ID,
		.device_id = VDEV_TESTDEV_DEVICE_ID,
		.subsys_vendor_id = VDEV_TESTDEV_VENDOR_ID,
		.subsys_id = VDEV_TESTDEV_DEVICE_ID,
		.class_code = TD_CLASS_OTHER,
		.intx_pin = o->intx ? 1 : 0,
		.source_id = o->source_id,
	};
	vdev_pci_func *f;
	int rc;

	rc = vdev_pci_func_new(td->ctx, &po, &f);
	if (rc)
		return rc;
	td->f = f;
	rc = vdev_pci_bar_add(f, 0, TD_BAR0_SIZE, 0, &td_mmio_ops, td);
	if (!rc)
		rc = vdev_pci_bar_add(f, 1, TD_BAR1_SIZE, VDEV_PCI_BAR_IO, &td_pio_ops, td);
	if (!rc && o->msix_vectors) {
		rc = vdev_pci_bar_add(f, 2, TD_BAR2_SIZE,
				      VDEV_PCI_BAR_MEM64 | VDEV_PCI_BAR_PREFETCH, NULL, NULL);
		if (!rc)
			rc = vdev_pci_cap_msix_add(f, o->msix_vectors, 2, 0, 2,
						   TD_MSIX_PBA_OFFSET, NULL);
	}
	if (!rc && o->msi_vectors)
		rc = vdev_pci_cap_msi_add(f, o->msi_vectors,
					  VDEV_PCI_MSI_64BIT | VDEV_PCI_MSI_MASKABLE, NULL);
	return rc;
}

static void td_free(struct testdev *td)
{
	vdev_timer_free(td->timer);
	vdev_pci_func_free(td->f);
	free(td);
}

static int td_create(vdev_device *dev, const void *opts)
{
	struct vdev_testdev_opts o;
	struct testdev *td;
	int rc;

	if (vdev__copy_sized(&o, sizeof(o), opts))
		return -EINVAL;
	if (o.msix_vectors > TD_MAX_MSIX || o.msi_vectors > 32 ||
	    (o.msi_vectors & (o.msi_vectors - 1)))
		return -EINVAL;

	td = calloc(1, sizeof(*td));
	if (!td)
		return -ENOMEM;
	td->ctx = vdev_device_ctx(dev);
	rc = td_build_func(td, &o);
	if (!rc)
		rc = vdev_timer_new(td->ctx, td_timer_fired, td, &td->timer);
	if (rc) {
		td_free(td);
		return rc;
	}
	vdev_device_set_priv(dev, td);
	vdev_device_set_pci(dev, td->f);
	return 0;
}

static void td_destroy(vdev_device *dev)
{
	struct testdev *td = vdev_device_priv(dev);

	vdev_device_set_pci(dev, NULL);
	vdev_device_set_priv(dev, NULL);
	if (td)
		td_free(td);
}

static void td_reset(vdev_device *dev)
{
	struct testdev *td = vdev_device_priv(dev);

	vdev_timer_disarm(td->timer);
	memset(&td->r, 0, sizeof(td->r));
	vdev_pci_func_reset(td->f);
}

#define TD_FIELD(nm, a, b, c, d, type_, member, max_)                                    \
	{ .name = nm, .tag = VDEV_STATE_TAG(a, b, c, d), .type = type_,                  \
	  .offset = offsetof(struct td_regs, member),                                     \
	  .size = sizeof(((struct td_regs *)0)->member), .max = max_ }

static const struct vdev_state_field td_fields[] = {
	TD_FIELD("scratch", 'S', 'C', 'R', 'A', VDEV_STATE_U32, scratch, 0),
	TD_FIELD("dma-addr-lo", 'D', 'A', 'L', 'O', VDEV_STATE_U32, dma_addr_lo, 0),
	TD_FIELD("dma-addr-hi", 'D', 'A', 'H', 'I', VDEV_STATE_U32, dma_addr_hi, 0),
	TD_FIELD("dma-len", 'D', 'L', 'E', 'N', VDEV_STATE_U32, dma_len, 0),
	/* 0 or a positive errno */
	TD_FIELD("dma-status", 'D', 'S', 'T', 'A', VDEV_STATE_U32, dma_status, 4095),
	TD_FIELD("dma-result", 'D', 'R', 'E', 'S', VDEV_STATE_U32, dma_result, 0),
	/* absolute deadline on the context clock; UINT64_MAX = disarmed */
	TD_FIELD("timer", 'T', 'I', 'M', 'R', VDEV_STATE_U64, timer_deadline, 0),
	TD_FIELD("buf", 'B', 'U', 'F', ' ', VDEV_STATE_BYTES, buf, 0),
};

static int td_save(vdev_device *dev, vdev_state_writer *w)
{
	struct testdev *td = vdev_device_priv(dev);
	struct td_regs s = td->r;
	int rc;

	/* The PCI function goes first: load stages it before the registers. */
	rc = vdev_pci_func_save(td->f, w);
	if (rc)
		return rc;
	s.timer_deadline = vdev_timer_is_armed(td->timer) ? vdev_timer_deadline(td->timer)
							  : TD_TIMER_DISARMED;
	return vdev_state_save_fields(w, td_fields, VDEV__ARRAY_SIZE(td_fields), &s);
}

static int td_load(vdev_device *dev, vdev_state_reader *r, uint16_t version)
{
	struct testdev *td = vdev_device_priv(dev);
	struct vdev_state_record rec;
	struct vdev__pci_stage st;
	struct td_regs s;
	int rc;

	if (version != TD_STATE_VERSION)
		return vdev_state_fail(r, -EPROTONOSUPPORT, "pci-testdev: state version %u",
				       version);
	rc = vdev_state_next(r, &rec);
	if (rc == 0)
		return vdev_state_fail(r, -EBADMSG, "pci-testdev: missing PCI function state");
	if (rc < 0)
		return rc;
	rc = vdev__pci_func_stage(td->f, r, &rec, &st);
	if (!rc) {
		memset(&s, 0, sizeof(s));
		rc = vdev_state_load_fields(r, td_fields, VDEV__ARRAY_SIZE(td_fields), &s);
	}
	if (rc) {
		vdev__pci_stage_free(&st);
		return rc;
	}

	/* Everything validated: apply. */
	vdev__pci_func_commit(td->f, &st);
	vdev__pci_stage_free(&st);
	td->r = s;
	td->r.timer_deadline = 0;
	if (s.timer_deadline == TD_TIMER_DISARMED)
		vdev_timer_disarm(td->timer);
	else
		vdev_timer_arm(td->timer, s.timer_deadline);
	return 0;
}

static const struct vdev_device_opt td_opts[] = {
	{ "source-id", VDEV_OPT_U32, offsetof(struct vdev_testdev_opts, source_id), 0,
	  UINT32_MAX, "source id passed to the interrupt hooks (default 0)" },
	{ "msix-vectors", VDEV_OPT_U32, offsetof(struct vdev_testdev_opts, msix_vectors), 0,
	  TD_MAX_MSIX, "MSI-X vectors, 0 for no MSI-X (default 4)" },
	{ "msi-vectors", VDEV_OPT_U32, offsetof(struct vdev_testdev_opts, msi_vectors), 0, 32,
	  "MSI vectors: 0, 1, 2, 4, 8, 16 or 32 (default 1)" },
	{ "intx", VDEV_OPT_BOOL, offsetof(struct vdev_testdev_opts, intx), 0, 1,
	  "INTA# present (default on)" },
};

const struct vdev_device_type vdev__pci_testdev_type = {
	.struct_size = sizeof(struct vdev_device_type),
	.name = VDEV_TESTDEV_TYPE,
	.description = "PCI test device: registers, INTx/MSI/MSI-X, DMA, a timer",
	.opts_size = sizeof(struct vdev_testdev_opts),
	.opts = td_opts,
	.n_opts = VDEV__ARRAY_SIZE(td_opts),
	.state_version = TD_STATE_VERSION,
	.opts_default = td_opts_default,
	.create = td_create,
	.destroy = td_destroy,
	.reset = td_reset,
	.save = td_save,
	.load = td_load,
};
