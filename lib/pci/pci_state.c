/* SPDX-License-Identifier: MIT */
/*
 * Save and load of a PCI function: one required section, tag 'PCIF',
 * schema version 1, holding
 *   'BARL' bytes  the BAR layout: per BAR, u64 size and u32 flags (LE)
 *   'CFG ' bytes  the whole config space (256 or 4096 bytes)
 *   'MSXT' bytes  the MSI-X table (16 bytes per vector; only with MSI-X)
 *   'MSXP' bytes  the MSI-X PBA (only with MSI-X)
 *   'INTX' u8     the device's INTx level
 * MSI pending bits and Interrupt Status live in config space.
 *
 * Loading stages everything and validates it against this function before
 * anything changes: the BAR layout and the lengths must match ours (BAR
 * sizes are not visible in config space until the guest programs them),
 * every read-only bit
 * (zero in the write mask, not RW1C, not computed by us) must equal ours —
 * so a stream from a function with other IDs, BARs or capabilities is
 * refused — and BAR registers, MSI and MSI-X state must be values our own
 * emulation could have produced.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pci/pci_func.h"

#define TAG_BARL VDEV_STATE_TAG('B', 'A', 'R', 'L')
#define TAG_CFG VDEV_STATE_TAG('C', 'F', 'G', ' ')
#define TAG_MSXT VDEV_STATE_TAG('M', 'S', 'X', 'T')
#define TAG_MSXP VDEV_STATE_TAG('M', 'S', 'X', 'P')
#define TAG_INTX VDEV_STATE_TAG('I', 'N', 'T', 'X')

static size_t msix_table_size(const vdev_pci_func *f)
{
	return (size_t)f->msix_nvec * VDEV__MSIX_ENTRY_SIZE;
}

static size_t msix_pba_size(const vdev_pci_func *f)
{
	return f->msix_off ? vdev__msix_pba_size(f->msix_nvec) : 0;
}

#define BARL_ENTRY 12u
#define BARL_SIZE (VDEV_PCI_NUM_BARS * BARL_ENTRY)

static void bar_layout(const vdev_pci_func *f, uint8_t *out)
{
	for (int i = 0; i < VDEV_PCI_NUM_BARS; i++) {
		vdev__put_le64(out + i * BARL_ENTRY, f->bars[i].size);
		vdev__put_le32(out + i * BARL_ENTRY + 8, f->bars[i].size ? f->bars[i].flags : 0);
	}
}

int vdev_pci_func_save(vdev_pci_func *f, vdev_state_writer *w)
{
	uint8_t barl[BARL_SIZE];
	int rc;

	if (!f || !w)
		return -EINVAL;
	bar_layout(f, barl);
	rc = vdev_state_begin(w, VDEV__PCIF_TAG, VDEV__PCIF_VERSION, VDEV_STATE_F_REQUIRED);
	if (!rc)
		rc = vdev_state_put_bytes(w, TAG_BARL, barl, sizeof(barl));
	if (!rc)
		rc = vdev_state_put_bytes(w, TAG_CFG, f->cfg, f->cfg_size);
	if (!rc && f->msix_off)
		rc = vdev_state_put_bytes(w, TAG_MSXT, f->msix_table, msix_table_size(f));
	if (!rc && f->msix_off)
		rc = vdev_state_put_bytes(w, TAG_MSXP, f->msix_pba, msix_pba_size(f));
	if (!rc)
		rc = vdev_state_put_u8(w, TAG_INTX, (uint8_t)f->intx_level);
	if (!rc)
		rc = vdev_state_end(w);
	return rc;
}

void vdev__pci_stage_free(struct vdev__pci_stage *st)
{
	free(st->cfg);
	free(st->table);
	free(st->pba);
	memset(st, 0, sizeof(*st));
}

/* Copy one bytes record of exactly @want bytes, once. */
static int stage_bytes(vdev_state_reader *r, const struct vdev_state_record *rec,
		       const char *what, size_t want, uint8_t *dst, int *seen)
{
	if (*seen)
		return vdev_state_fail(r, -EBADMSG, "PCI function: duplicate %s record", what);
	*seen = 1;
	if (rec->type != VDEV_STATE_BYTES)
		return vdev_state_fail(r, -EBADMSG, "PCI function: %s record has type %u",
				       what, rec->type);
	if (rec->len != want)
		return vdev_state_fail(r, -EBADMSG,
				       "PCI function: %s is %u bytes, this function has %zu",
				       what, rec->len, want);
	if (want)
		memcpy(dst, rec->data, want);
	return 0;
}

/* Computed bits that may differ from our power-on image: Interrupt Status
 * and the MSI pending bits of implemented vectors. */
static uint8_t computed_bits(const vdev_pci_func *f, uint32_t i)
{
	uint8_t m = 0;

	if (i == VDEV_PCI_STATUS)
		m |= VDEV_PCI_STATUS_INTERRUPT;
	if (f->msi_off && (f->msi_flags & VDEV_PCI_MSI_MASKABLE)) {
		uint32_t p = vdev__msi_pending_off(f);
		uint32_t bits = f->msi_nvec == 32 ? 0xffffffffu : (1u << f->msi_nvec) - 1;

		if (i >= p && i < p + 4)
			m |= (uint8_t)(bits >> (8 * (i - p)));
	}
	return m;
}

static int check_config(vdev_pci_func *f, vdev_state_reader *r, const struct vdev__pci_stage *st)
{
	const uint8_t *c = st->cfg;
	const char *why = "";
	int bar = 0;

	if (vdev__pci_bars_check(f, c, &why, &bar))
		return vdev_state_fail(r, -ERANGE, "PCI function: BAR%d value 0x%08x %s", bar,
				       vdev__le32(c + VDEV_PCI_BAR0 + 4u * (uint32_t)bar), why);
	for (uint32_t i = 0; i < f->cfg_size; i++) {
		uint8_t fixed = (uint8_t)~(f->wmask[i] | f->w1c[i] | computed_bits(f, i));

		if ((c[i] ^ f->init[i]) & fixed)
			return vdev_state_fail(r, -EBADMSG,
					       "PCI function: read-only config byte 0x%03x is "
					       "0x%02x, this function has 0x%02x",
					       i, c[i], f->init[i]);
	}
	if (!!(vdev__le16(c + VDEV_PCI_STATUS) & VDEV_PCI_STATUS_INTERRUPT) != st->intx_level)
		return vdev_state_fail(r, -EBADMSG,
				       "PCI function: Interrupt Status disagrees with INTx level");
	if (f->msi_off) {
		uint16_t ctrl = vdev__le16(c + f->msi_off + VDEV__MSI_CTRL);
		unsigned int mmc = (ctrl >> VDEV__MSI_CTRL_MMC_SHIFT) & 7;
		unsigned int mme = (ctrl & VDEV__MSI_CTRL_MME_MASK) >> VDEV__MSI_CTRL_MME_SHIFT;

		if (mme > mmc)
			return vdev_state_fail(r, -ERANGE,
					       "PCI function: MSI enables %u vectors of %u",
					       1u << mme, 1u << mmc);
	}
	return 0;
}

static int check_msix(vdev_pci_func *f, vdev_state_reader *r, const struct vdev__pci_stage *st)
{
	size_t plen = msix_pba_size(f);

	for (unsigned int v = 0; v < f->msix_nvec; v++) {
		const uint8_t *e = st->table + (size_t)v * VDEV__MSIX_ENTRY_SIZE;
		uint32_t ctrl = vdev__le32(e + VDEV__MSIX_ENTRY_CTRL);

		if (ctrl & ~VDEV__MSIX_ENTRY_CTRL_MASK)
			return vdev_state_fail(r, -ERANGE,
					       "PCI function: MSI-X vector %u control 0x%08x has "
					       "reserved bits set", v, ctrl);
	}
	for (size_t i = 0; i < plen; i++) {
		unsigned int first = (unsigned int)i * 8;
		uint8_t valid = first >= f->msix_nvec ? 0 :
				f->msix_nvec - first >= 8 ? 0xff :
				(uint8_t)((1u << (f->msix_nvec - first)) - 1);

		if (st->pba[i] & ~valid)
			return vdev_state_fail(r, -ERANGE,
					       "PCI function: MSI-X PBA has bits beyond vector %u",
					       f->msix_nvec - 1);
	}
	return 0;
}

static int check_bar_layout(vdev_pci_func *f, vdev_state_reader *r, const uint8_t *theirs)
{
	uint8_t ours[BARL_SIZE];

	bar_layout(f, ours);
	for (int i = 0; i < VDEV_PCI_NUM_BARS; i++) {
		const uint8_t *a = ours + i * BARL_ENTRY, *b = theirs + i * BARL_ENTRY;

		if (!memcmp(a, b, BARL_ENTRY))
			continue;
		return vdev_state_fail(r, -EBADMSG,
				       "PCI function: BAR%d layout differs (stream: size 0x%llx "
				       "flags 0x%x; here: size 0x%llx flags 0x%x)", i,
				       (unsigned long long)vdev__le64(b), vdev__le32(b + 8),
				       (unsigned long long)vdev__le64(a), vdev__le32(a + 8));
	}
	return 0;
}

static int stage_records(vdev_pci_func *f, vdev_state_reader *r, struct vdev__pci_stage *st)
{
	int seen_barl = 0, seen_cfg = 0, seen_t = 0, seen_p = 0, seen_intx = 0;
	uint8_t barl[BARL_SIZE];
	struct vdev_state_record rec;
	uint64_t v;
	int rc;

	while ((rc = vdev_state_next(r, &rec)) > 0) {
		rc = 0;
		switch (rec.tag) {
		case TAG_BARL:
			rc = stage_bytes(r, &rec, "BAR layout", sizeof(barl), barl, &seen_barl);
			if (!rc)
				rc = check_bar_layout(f, r, barl);
			break;
		case TAG_CFG:
			rc = stage_bytes(r, &rec, "config space", f->cfg_size, st->cfg, &seen_cfg);
			break;
		case TAG_MSXT:
			rc = stage_bytes(r, &rec, "MSI-X table", msix_table_size(f), st->table,
					 &seen_t);
			break;
		case TAG_MSXP:
			rc = stage_bytes(r, &rec, "MSI-X PBA", msix_pba_size(f), st->pba, &seen_p);
			break;
		case TAG_INTX:
			if (seen_intx++)
				return vdev_state_fail(r, -EBADMSG,
						       "PCI function: duplicate INTx record");
			if (rec.type != VDEV_STATE_U8 || vdev_state_record_uint(&rec, &v))
				return vdev_state_fail(r, -EBADMSG,
						       "PCI function: INTx record is not a u8");
			if (v > 1 || (v && !f->intx_pin))
				return vdev_state_fail(r, -ERANGE,
						       "PCI function: INTx level %u invalid",
						       (unsigned int)v);
			st->intx_level = (int)v;
			break;
		default:
			if (rec.flags & VDEV_STATE_F_REQUIRED)
				return vdev_state_fail(r, -EPROTONOSUPPORT,
						       "PCI function: unknown required "
						       "record 0x%08x", rec.tag);
			break;
		}
		if (rc)
			return rc;
	}
	if (rc < 0)
		return rc;
	if (!seen_barl || !seen_cfg || !seen_intx || (f->msix_off && (!seen_t || !seen_p)))
		return vdev_state_fail(r, -EBADMSG, "PCI function: state is incomplete");
	return 0;
}

int vdev__pci_func_stage(vdev_pci_func *f, vdev_state_reader *r,
			 const struct vdev_state_record *rec, struct vdev__pci_stage *st)
{
	int rc;

	memset(st, 0, sizeof(*st));
	if (rec->type != VDEV_STATE_SECTION || rec->tag != VDEV__PCIF_TAG)
		return vdev_state_fail(r, -EBADMSG, "expected a PCI function section, got 0x%08x",
				       rec->tag);
	if (rec->version > VDEV__PCIF_VERSION)
		return vdev_state_fail(r, -EPROTONOSUPPORT,
				       "PCI function state version %u is newer than %u",
				       rec->version, VDEV__PCIF_VERSION);
	if (rec->version < 1)
		return vdev_state_fail(r, -EBADMSG, "PCI function state version 0");

	st->cfg = calloc(1, f->cfg_size);
	if (f->msix_off) {
		st->table = calloc(1, msix_table_size(f));
		st->pba = calloc(1, msix_pba_size(f));
	}
	if (!st->cfg || (f->msix_off && (!st->table || !st->pba)))
		return -ENOMEM;

	rc = vdev_state_enter(r);
	if (rc)
		return rc;
	rc = stage_records(f, r, st);
	if (!rc)
		rc = check_config(f, r, st);
	if (!rc && f->msix_off)
		rc = check_msix(f, r, st);
	if (rc)
		return rc;
	return vdev_state_leave(r);
}

void vdev__pci_func_commit(vdev_pci_func *f, const struct vdev__pci_stage *st)
{
	memcpy(f->cfg, st->cfg, f->cfg_size);
	if (f->msix_off) {
		memcpy(f->msix_table, st->table, msix_table_size(f));
		memcpy(f->msix_pba, st->pba, msix_pba_size(f));
	}
	f->intx_level = st->intx_level;
	vdev__pci_intx_redrive(f);
	vdev__pci_bars_update(f, 1);
}

int vdev_pci_func_load(vdev_pci_func *f, vdev_state_reader *r)
{
	struct vdev_state_record rec;
	struct vdev__pci_stage st;
	int rc;

	if (!f || !r)
		return -EINVAL;
	rc = vdev_state_next(r, &rec);
	if (rc == 0)
		return vdev_state_fail(r, -EBADMSG, "missing PCI function section");
	if (rc < 0)
		return rc;
	rc = vdev__pci_func_stage(f, r, &rec, &st);
	if (!rc)
		vdev__pci_func_commit(f, &st);
	vdev__pci_stage_free(&st);
	return rc;
}
