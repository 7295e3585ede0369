/* SPDX-License-Identifier: MIT */
/*
 * PCI function model: save and load. A round trip with pending MSI and
 * MSI-X vectors and an asserted INTx; and every kind of bad stream, after
 * which the function must be exactly as it was (config space, MSI-X table,
 * PBA, INTx) with no BAR listener call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "test_pci_util.h"
#include "state_blob.h"

#define TAG_PCIF VDEV_STATE_TAG('P', 'C', 'I', 'F')
#define TAG_BARL VDEV_STATE_TAG('B', 'A', 'R', 'L')
#define TAG_CFG VDEV_STATE_TAG('C', 'F', 'G', ' ')
#define TAG_MSXT VDEV_STATE_TAG('M', 'S', 'X', 'T')
#define TAG_MSXP VDEV_STATE_TAG('M', 'S', 'X', 'P')
#define TAG_INTX VDEV_STATE_TAG('I', 'N', 'T', 'X')

#define NVEC 8
#define TABLE_SIZE (NVEC * 16)

struct layout {
	uint16_t device_id;
	uint64_t bar0_size;
	unsigned int msi_vectors;
	int msix;
};

static const struct layout std_layout = { 0x1000, 4096, 4, 1 };

struct fx {
	struct mock_vmm mv;
	vdev_pci_func *src, *dst;
	uint8_t msi, msix;
	struct lrec l;
};

/* BAR0 4 KiB mem32, BAR1 I/O 32, BAR2 16 KiB mem64 with the MSI-X table
 * at 0 and PBA at 0x2000, MSI 64-bit maskable, INTA#. */
static vdev_pci_func *build(struct fx *x, const struct layout *lay, uint32_t source_id)
{
	struct vdev_pci_func_opts o = {
		.struct_size = sizeof(o), .vendor_id = 0x1af4, .device_id = lay->device_id,
		.class_code = 0x020000, .intx_pin = 1, .source_id = source_id,
	};

	vdev_pci_func *f;
	uint8_t msi = 0, msix = 0;

	assert_int_equal(vdev_pci_func_new(x->mv.ctx, &o, &f), 0);
	assert_int_equal(vdev_pci_bar_add(f, 0, lay->bar0_size, 0, NULL, NULL), 0);
	assert_int_equal(vdev_pci_bar_add(f, 1, 32, VDEV_PCI_BAR_IO, NULL, NULL), 0);
	assert_int_equal(vdev_pci_bar_add(f, 2, 16384, VDEV_PCI_BAR_MEM64, NULL, NULL), 0);
	if (lay->msix)
		assert_int_equal(vdev_pci_cap_msix_add(f, NVEC, 2, 0, 2, 0x2000, &msix), 0);
	assert_int_equal(vdev_pci_cap_msi_add(f, lay->msi_vectors, VDEV_PCI_MSI_64BIT |
					      VDEV_PCI_MSI_MASKABLE, &msi), 0);
	if (lay == &std_layout) {
		x->msi = msi;
		x->msix = msix;
	}
	return f;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	assert_non_null(x);
	assert_int_equal(mock_vmm_init(&x->mv, 1 << 16, 1), 0);
	x->src = build(x, &std_layout, 1);
	x->dst = build(x, &std_layout, 2);
	vdev_pci_set_bar_listener(x->dst, lrec_cb, &x->l);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	vdev_pci_func_free(x->src);
	vdev_pci_func_free(x->dst);
	mock_vmm_fini(&x->mv);
	free(x);
	return 0;
}

/* Everything observable about a function. */
struct snap {
	uint8_t cfg[256];
	uint8_t table[TABLE_SIZE];
	uint8_t pba[8];
	int pending[NVEC];
};

static void snap_take(vdev_pci_func *f, struct snap *s)
{
	memset(s, 0, sizeof(*s));
	cfg_dump(f, s->cfg, sizeof(s->cfg));
	assert_int_equal(vdev_pci_bar_read(f, 2, 0, s->table, TABLE_SIZE), 0);
	assert_int_equal(vdev_pci_bar_read(f, 2, 0x2000, s->pba, 8), 0);
	for (unsigned int v = 0; v < NVEC; v++)
		s->pending[v] = vdev_pci_vector_pending(f, v);
}

/* Put the source in a busy state: placed and decoding, MSI vectors 1 and
 * 3 pending (masked), MSI-X enabled under the function mask with vectors 2
 * and 6 pending, INTx asserted. */
static void make_busy(struct fx *x, vdev_pci_func *f)
{
	cfg_wr32(f, 0x10, 0xfebf0000);
	cfg_wr32(f, 0x14, 0xc000);
	cfg_wr32(f, 0x18, 0x00000000);
	cfg_wr32(f, 0x1c, 0x00000080);
	cfg_wr16(f, VDEV_PCI_COMMAND, 0x0007);
	cfg_wr8(f, VDEV_PCI_INTERRUPT_LINE, 11);
	cfg_wr32(f, x->msi + 4, 0xfee00000);
	cfg_wr16(f, x->msi + 12, 0x4040);
	cfg_wr32(f, x->msi + 16, 0xa);
	cfg_wr16(f, x->msi + 2, 0x0001 | (2 << 4));
	assert_int_equal(vdev_pci_notify(f, 1), 0);
	assert_int_equal(vdev_pci_notify(f, 3), 0);
	for (unsigned int v = 0; v < NVEC; v++) {
		bar_wr(f, 2, v * 16, 0xfee01000 + v, 4);
		bar_wr(f, 2, v * 16 + 8, 0x60 + v, 4);
		bar_wr(f, 2, v * 16 + 12, v & 1, 4);
	}
	cfg_wr16(f, x->msix + 2, 0xc000);
	assert_int_equal(vdev_pci_notify(f, 2), 0);
	assert_int_equal(vdev_pci_notify(f, 6), 0);
	assert_int_equal(vdev_pci_intx_set(f, 1), 0);
}

/* Save @f into a malloc'd blob. */
static uint8_t *save(vdev_pci_func *f, size_t *len)
{
	vdev_state_writer *w;

	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_pci_func_save(f, w), 0);
	return state_blob_take(w, len);
}

/* Load @blob into @f; returns the load result (or the reader's). */
static int load(vdev_pci_func *f, const uint8_t *blob, size_t len, char *why, size_t why_len)
{
	vdev_state_reader *r;
	int rc;

	rc = vdev_state_reader_new(blob, len, &r);
	if (rc)
		return rc;
	rc = vdev_pci_func_load(f, r);
	if (why)
		snprintf(why, why_len, "%s", vdev_state_reader_error(r));
	vdev_state_reader_free(r);
	return rc;
}

static void test_roundtrip(void **state)
{
	struct fx *x = *state;
	struct snap a, b;
	uint8_t *blob;
	size_t len;

	make_busy(x, x->src);
	snap_take(x->src, &a);
	assert_int_equal(a.pending[1], 0); /* MSI-X mode: PBA is what counts */
	assert_int_equal(a.pending[2], 1);
	assert_int_equal(a.pending[6], 1);
	assert_int_equal(cfg_rd32(x->src, x->msi + 20), 0xa);
	blob = save(x->src, &len);

	mock_vmm_clear_events(&x->mv);
	assert_int_equal(load(x->dst, blob, len, NULL, 0), 0);
	snap_take(x->dst, &b);
	assert_memory_equal(&a, &b, sizeof(a));
	/* The listener ran for every BAR, with the source's placement. */
	assert_int_equal(x->l.n, 3);
	assert_int_equal(x->l.bar[0], 0);
	assert_int_equal(x->l.addr[0], 0xfebf0000);
	assert_int_equal(x->l.bar[1], 1);
	assert_int_equal(x->l.addr[1], 0xc000);
	assert_int_equal(x->l.bar[2], 2);
	assert_int_equal(x->l.addr[2], 0x8000000000ull);
	for (unsigned int i = 0; i < 3; i++)
		assert_int_equal(x->l.decoding[i], 1);
	/* INTx re-driven for the destination's source id. */
	assert_int_equal(mock_vmm_intx_level(&x->mv, 2, 1), 1);
	assert_int_equal(x->mv.n_msi, 0);
	/* The pending vectors go out from the destination when unmasked. */
	cfg_wr16(x->dst, x->msix + 2, 0x8000);
	assert_int_equal(x->mv.n_msi, 2);
	assert_int_equal(x->mv.msi[0].source_id, 2);
	assert_int_equal(x->mv.msi[0].addr, 0xfee01002);
	assert_int_equal(x->mv.msi[0].data, 0x62);
	assert_int_equal(x->mv.msi[1].data, 0x66);
	/* Back to MSI: its pending vectors survived too. */
	cfg_wr16(x->dst, x->msix + 2, 0);
	cfg_wr32(x->dst, x->msi + 16, 0);
	assert_int_equal(x->mv.n_msi, 4);
	assert_int_equal(x->mv.msi[2].data, 0x4041);
	assert_int_equal(x->mv.msi[3].data, 0x4043);

	/* Loading into the source itself changes nothing. */
	vdev_pci_set_bar_listener(x->src, lrec_cb, &x->l);
	x->l.n = 0;
	assert_int_equal(load(x->src, blob, len, NULL, 0), 0);
	snap_take(x->src, &b);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(x->l.n, 3);
	free(blob);
}

/* A fresh function's state loads into a busy one and resets it. */
static void test_load_clean_state(void **state)
{
	struct fx *x = *state;
	struct snap a, b;
	uint8_t *blob;
	size_t len;

	snap_take(x->src, &a);
	blob = save(x->src, &len);
	make_busy(x, x->dst);
	x->l.n = 0;
	assert_int_equal(load(x->dst, blob, len, NULL, 0), 0);
	snap_take(x->dst, &b);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(mock_vmm_intx_level(&x->mv, 2, 1), 0);
	assert_int_equal(x->l.n, 3);
	for (unsigned int i = 0; i < 3; i++)
		assert_int_equal(x->l.decoding[i], 0);
	free(blob);
}

/* Hand-built PCIF sections. */
struct spec {
	const uint8_t *barl;
	size_t barl_len;
	const uint8_t *cfg;
	size_t cfg_len;
	const uint8_t *table;
	size_t table_len;
	const uint8_t *pba;
	size_t pba_len;
	int intx;          /* < 0: omit */
	int intx_u16;      /* write INTX as a u16 */
	uint16_t version;  /* 0: 1 */
	uint32_t tag;      /* 0: PCIF */
	int dup_cfg;
	int extra_required;
	int extra_optional;
};

static uint8_t *build_blob(const struct spec *s, size_t *len)
{
	vdev_state_writer *w;

	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_state_begin(w, s->tag ? s->tag : TAG_PCIF,
					  s->version ? s->version : 1, VDEV_STATE_F_REQUIRED), 0);
	if (s->extra_optional)
		assert_int_equal(vdev_state_put(w, VDEV_STATE_TAG('N', 'E', 'W', '1'),
						VDEV_STATE_U32, 0, &s->extra_optional, 4), 0);
	if (s->barl)
		assert_int_equal(vdev_state_put_bytes(w, TAG_BARL, s->barl, s->barl_len), 0);
	if (s->cfg)
		assert_int_equal(vdev_state_put_bytes(w, TAG_CFG, s->cfg, s->cfg_len), 0);
	if (s->dup_cfg)
		assert_int_equal(vdev_state_put_bytes(w, TAG_CFG, s->cfg, s->cfg_len), 0);
	if (s->table)
		assert_int_equal(vdev_state_put_bytes(w, TAG_MSXT, s->table, s->table_len), 0);
	if (s->pba)
		assert_int_equal(vdev_state_put_bytes(w, TAG_MSXP, s->pba, s->pba_len), 0);
	if (s->intx >= 0 && s->intx_u16)
		assert_int_equal(vdev_state_put_u16(w, TAG_INTX, (uint16_t)s->intx), 0);
	else if (s->intx >= 0)
		assert_int_equal(vdev_state_put_u8(w, TAG_INTX, (uint8_t)s->intx), 0);
	if (s->extra_required)
		assert_int_equal(vdev_state_put_u8(w, VDEV_STATE_TAG('N', 'E', 'W', '2'), 1), 0);
	assert_int_equal(vdev_state_end(w), 0);
	return state_blob_take(w, len);
}

/* The source's state as a spec the tests then corrupt. */
struct good {
	uint8_t barl[72];
	uint8_t cfg[256];
	uint8_t table[TABLE_SIZE];
	uint8_t pba[8];
	struct spec s;
};

static void good_init(struct fx *x, struct good *g)
{
	struct snap sn;

	make_busy(x, x->src);
	snap_take(x->src, &sn);
	memcpy(g->cfg, sn.cfg, sizeof(g->cfg));
	memcpy(g->table, sn.table, sizeof(g->table));
	memcpy(g->pba, sn.pba, sizeof(g->pba));
	memset(&g->s, 0, sizeof(g->s));
	/* Per BAR: u64 size, u32 flags, little-endian. */
	memset(g->barl, 0, sizeof(g->barl));
	for (int i = 0; i < 6; i++) {
		struct vdev_pci_bar_info info;

		assert_int_equal(vdev_pci_bar_get_info(x->src, i, &info), 0);
		for (int k = 0; k < 8; k++)
			g->barl[i * 12 + k] = (uint8_t)(info.size >> (8 * k));
		for (int k = 0; k < 4; k++)
			g->barl[i * 12 + 8 + k] = (uint8_t)(info.flags >> (8 * k));
	}
	g->s.barl = g->barl;
	g->s.barl_len = sizeof(g->barl);
	g->s.cfg = g->cfg;
	g->s.cfg_len = sizeof(g->cfg);
	g->s.table = g->table;
	g->s.table_len = sizeof(g->table);
	g->s.pba = g->pba;
	g->s.pba_len = sizeof(g->pba);
	g->s.intx = 1;
}

/* Load @s into the destination: it must fail with @err and leave the
 * destination exactly as it was. */
static void expect_rejected(struct fx *x, const struct spec *s, int err, const char *why_has)
{
	struct snap before, after;
	char why[256] = "";
	uint8_t *blob;
	size_t len;
	size_t n_intx = x->mv.n_intx, n_msi = x->mv.n_msi;

	snap_take(x->dst, &before);
	x->l.n = 0;
	blob = build_blob(s, &len);
	assert_int_equal(load(x->dst, blob, len, why, sizeof(why)), err);
	if (why_has && !strstr(why, why_has))
		fail_msg("reason '%s' does not mention '%s'", why, why_has);
	snap_take(x->dst, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_int_equal(x->l.n, 0);
	assert_int_equal(x->mv.n_intx, n_intx);
	assert_int_equal(x->mv.n_msi, n_msi);
	free(blob);
}

static void test_good_spec_loads(void **state)
{
	struct fx *x = *state;
	struct good g;
	uint8_t *blob;
	size_t len;

	/* The hand-built stream matches what save() writes: it loads, and an
	 * unknown optional record is skipped. */
	good_init(x, &g);
	g.s.extra_optional = 5;
	blob = build_blob(&g.s, &len);
	assert_int_equal(load(x->dst, blob, len, NULL, 0), 0);
	free(blob);
	assert_int_equal(cfg_rd32(x->dst, 0x10), 0xfebf0000);
}

static void test_reject_truncated(void **state)
{
	struct fx *x = *state;
	struct good g;
	uint8_t *blob;
	size_t len;
	int rc;

	good_init(x, &g);
	make_busy(x, x->dst);
	cfg_wr32(x->dst, 0x10, 0xfe800000);

	/* Raw truncation at every length is refused, by the codec or by us. */
	blob = save(x->src, &len);
	for (size_t cut = 0; cut < len; cut++) {
		struct snap before, after;

		snap_take(x->dst, &before);
		x->l.n = 0;
		rc = load(x->dst, blob, cut, NULL, 0);
		assert_true(rc < 0);
		snap_take(x->dst, &after);
		assert_memory_equal(&before, &after, sizeof(before));
		assert_int_equal(x->l.n, 0);
	}
	free(blob);

	/* Well-formed streams with short or missing records. */
	g.s.cfg_len = 255;
	expect_rejected(x, &g.s, -EBADMSG, "config space");
	g.s.cfg_len = 256;
	g.s.table_len = TABLE_SIZE - 16;
	expect_rejected(x, &g.s, -EBADMSG, "MSI-X table");
	g.s.table_len = TABLE_SIZE;
	g.s.pba = NULL;
	expect_rejected(x, &g.s, -EBADMSG, "incomplete");
	g.s.pba = g.pba;
	g.s.intx = -1;
	expect_rejected(x, &g.s, -EBADMSG, "incomplete");
	g.s.intx = 1;
	g.s.cfg = NULL;
	expect_rejected(x, &g.s, -EBADMSG, "incomplete");
	g.s.cfg = g.cfg;
	g.s.barl = NULL;
	expect_rejected(x, &g.s, -EBADMSG, "incomplete");
	g.s.barl = g.barl;
	g.s.barl_len = 60;
	expect_rejected(x, &g.s, -EBADMSG, "BAR layout");
	g.s.barl_len = 72;
	/* A BAR layout from another function: BAR1 prefetchable, BAR4 present. */
	g.barl[12 + 8] |= VDEV_PCI_BAR_PREFETCH;
	expect_rejected(x, &g.s, -EBADMSG, "BAR1 layout");
	g.barl[12 + 8] &= (uint8_t)~VDEV_PCI_BAR_PREFETCH;
	g.barl[4 * 12 + 1] = 0x10;
	expect_rejected(x, &g.s, -EBADMSG, "BAR4 layout");
	g.barl[4 * 12 + 1] = 0;

	/* No section at all. */
	{
		vdev_state_writer *w;
		vdev_state_reader *r;
		const void *data;
		struct snap before, after;

		snap_take(x->dst, &before);
		assert_int_equal(vdev_state_writer_new(&w), 0);
		assert_int_equal(vdev_state_writer_finish(w, &data, &len), 0);
		assert_int_equal(vdev_state_reader_new(data, len, &r), 0);
		assert_int_equal(vdev_pci_func_load(x->dst, r), -EBADMSG);
		vdev_state_reader_free(r);
		vdev_state_writer_free(w);
		snap_take(x->dst, &after);
		assert_memory_equal(&before, &after, sizeof(before));
	}
}

static void test_reject_other_function(void **state)
{
	struct fx *x = *state;
	struct layout lay;
	vdev_pci_func *other;
	struct snap before, after;
	uint8_t *blob;
	size_t len;

	make_busy(x, x->dst);
	/* Different device ID, BAR size, MSI vector count, no MSI-X: each
	 * stream is refused by the destination and leaves it unchanged. */
	for (int variant = 0; variant < 4; variant++) {
		char why[256];

		lay = std_layout;
		if (variant == 0)
			lay.device_id = 0x1001;
		else if (variant == 1)
			lay.bar0_size = 8192;
		else if (variant == 2)
			lay.msi_vectors = 8;
		else
			lay.msix = 0;
		other = build(x, &lay, 3);
		blob = save(other, &len);
		snap_take(x->dst, &before);
		x->l.n = 0;
		assert_int_equal(load(x->dst, blob, len, why, sizeof(why)), -EBADMSG);
		assert_true(why[0] != '\0');
		snap_take(x->dst, &after);
		assert_memory_equal(&before, &after, sizeof(before));
		assert_int_equal(x->l.n, 0);
		free(blob);
		vdev_pci_func_free(other);
	}
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void test_reject_bad_bar(void **state)
{
	struct fx *x = *state;
	struct good g;

	good_init(x, &g);
	make_busy(x, x->dst);
	cfg_wr32(x->dst, 0x10, 0xfe800000);

	/* Address bits below the BAR size. */
	put32(g.cfg + 0x10, 0xfebf0100);
	expect_rejected(x, &g.s, -ERANGE, "BAR0");
	/* Type bits: prefetchable / 64-bit on a 32-bit BAR. */
	put32(g.cfg + 0x10, 0xfebf0008);
	expect_rejected(x, &g.s, -ERANGE, "BAR0");
	put32(g.cfg + 0x10, 0xfebf0004);
	expect_rejected(x, &g.s, -ERANGE, "BAR0");
	put32(g.cfg + 0x10, 0xfebf0000);
	/* I/O BAR without its I/O bit, or with the reserved bit. */
	put32(g.cfg + 0x14, 0xc000);
	expect_rejected(x, &g.s, -ERANGE, "BAR1");
	put32(g.cfg + 0x14, 0xc003);
	expect_rejected(x, &g.s, -ERANGE, "BAR1");
	put32(g.cfg + 0x14, 0xc001);
	/* 64-bit BAR as 32-bit. */
	put32(g.cfg + 0x18, 0x00000000);
	expect_rejected(x, &g.s, -ERANGE, "BAR2");
	put32(g.cfg + 0x18, 0x00002004);
	expect_rejected(x, &g.s, -ERANGE, "BAR2");
	put32(g.cfg + 0x18, 0x00000004);
	/* An unimplemented BAR holding a value. */
	put32(g.cfg + 0x20, 0xfd000000);
	expect_rejected(x, &g.s, -ERANGE, "BAR4");
	put32(g.cfg + 0x20, 0);
	put32(g.cfg + 0x24, 1);
	expect_rejected(x, &g.s, -ERANGE, "BAR5");
	put32(g.cfg + 0x24, 0);
	/* The upper half of a 64-bit BAR is all address: any value is fine. */
	put32(g.cfg + 0x1c, 0x12345678);
	{
		uint8_t *blob;
		size_t len;

		blob = build_blob(&g.s, &len);
		assert_int_equal(load(x->dst, blob, len, NULL, 0), 0);
		free(blob);
	}
}

static void test_reject_misc(void **state)
{
	struct fx *x = *state;
	struct good g;
	uint8_t save_byte;

	good_init(x, &g);
	make_busy(x, x->dst);
	cfg_wr32(x->dst, 0x10, 0xfe800000);

	/* Read-only header bytes. */
	save_byte = g.cfg[0];
	g.cfg[0] ^= 1;
	expect_rejected(x, &g.s, -EBADMSG, "read-only");
	g.cfg[0] = save_byte;
	g.cfg[VDEV_PCI_INTERRUPT_PIN] = 2;
	expect_rejected(x, &g.s, -EBADMSG, "read-only");
	g.cfg[VDEV_PCI_INTERRUPT_PIN] = 1;
	g.cfg[VDEV_PCI_CAPABILITY_LIST] ^= 4;
	expect_rejected(x, &g.s, -EBADMSG, "read-only");
	g.cfg[VDEV_PCI_CAPABILITY_LIST] ^= 4;
	/* Command bits we do not implement. */
	g.cfg[VDEV_PCI_COMMAND] |= 0x08;
	expect_rejected(x, &g.s, -EBADMSG, "read-only");
	g.cfg[VDEV_PCI_COMMAND] &= (uint8_t)~0x08;
	/* MSI: pending bits beyond the vectors, MME above MMC. */
	g.cfg[x->msi + 20] |= 0x10;
	expect_rejected(x, &g.s, -EBADMSG, "read-only");
	g.cfg[x->msi + 20] &= (uint8_t)~0x10;
	g.cfg[x->msi + 2] = (uint8_t)((g.cfg[x->msi + 2] & ~0x70) | (3 << 4));
	expect_rejected(x, &g.s, -ERANGE, "MSI");
	g.cfg[x->msi + 2] = (uint8_t)((g.cfg[x->msi + 2] & ~0x70) | (2 << 4));
	/* INTx level vs Interrupt Status, level out of range, wrong type. */
	g.s.intx = 0;
	expect_rejected(x, &g.s, -EBADMSG, "Interrupt Status");
	g.s.intx = 2;
	expect_rejected(x, &g.s, -ERANGE, "INTx");
	g.s.intx = 1;
	g.s.intx_u16 = 1;
	expect_rejected(x, &g.s, -EBADMSG, "INTx");
	g.s.intx_u16 = 0;
	/* MSI-X reserved vector-control bits; PBA bits past the last vector. */
	g.table[5 * 16 + 13] = 0x80;
	expect_rejected(x, &g.s, -ERANGE, "MSI-X vector 5");
	g.table[5 * 16 + 13] = 0;
	g.table[5 * 16 + 12] = 0x03;
	expect_rejected(x, &g.s, -ERANGE, "MSI-X vector 5");
	g.table[5 * 16 + 12] = 0x01;
	g.pba[1] = 1;
	expect_rejected(x, &g.s, -ERANGE, "PBA");
	g.pba[1] = 0;
	/* Stream structure: duplicates, unknown required records, versions, tag. */
	g.s.dup_cfg = 1;
	expect_rejected(x, &g.s, -EBADMSG, "duplicate");
	g.s.dup_cfg = 0;
	g.s.extra_required = 1;
	expect_rejected(x, &g.s, -EPROTONOSUPPORT, "unknown");
	g.s.extra_required = 0;
	g.s.version = 2;
	expect_rejected(x, &g.s, -EPROTONOSUPPORT, "version");
	g.s.version = 0;
	g.s.tag = VDEV_STATE_TAG('P', 'C', 'I', 'G');
	expect_rejected(x, &g.s, -EBADMSG, "PCI function section");
	g.s.tag = 0;
	/* Writable bits and RW1C bits may hold anything. */
	g.cfg[VDEV_PCI_STATUS + 1] = 0xf9;
	g.cfg[VDEV_PCI_INTERRUPT_LINE] = 0x42;
	{
		uint8_t *blob;
		size_t len;

		blob = build_blob(&g.s, &len);
		assert_int_equal(load(x->dst, blob, len, NULL, 0), 0);
		free(blob);
	}
	assert_int_equal(cfg_rd16(x->dst, VDEV_PCI_STATUS), 0xf918);
	assert_int_equal(cfg_rd8(x->dst, VDEV_PCI_INTERRUPT_LINE), 0x42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_clean_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_good_spec_loads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_other_function, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_bad_bar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_misc, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
