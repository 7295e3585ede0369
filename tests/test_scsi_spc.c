/* SPDX-License-Identifier: MIT */
/*
 * SPC-4 commands of the SCSI target with exact sense checks: INQUIRY
 * (standard, every VPD page, missing LUN, well-known LUN), REPORT LUNS,
 * REPORT SUPPORTED OPERATION CODES (and, with its usage maps as the
 * oracle, every reserved CDB bit of every command), TEST UNIT READY,
 * REQUEST SENSE, START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL, unknown
 * opcodes and service actions, malformed requests and task attributes.
 */
#include "scsi_test_util.h"

#define MB (1024u * 1024u)

static int setup(void **state)
{
	struct st *s = st_new();

	st_add_disk(s, 0, 0, 8 * MB, 512);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	st_free(*state);
	return 0;
}

static void test_inquiry_standard(void **state)
{
	struct st *s = *state;
	uint8_t cdb[6] = { 0x12, 0, 0, 0, 255, 0 };
	struct sreq *q = st_cmd(s, 0, 0, cdb, 6, NULL, 0, 512);

	/* INQUIRY runs with the power-on unit attention pending and leaves it. */
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 96);
	assert_int_equal(q->r.residual, 512 - 96);
	assert_int_equal(q->in[0], 0x00);
	assert_int_equal(q->in[1], 0x00);
	assert_int_equal(q->in[2], 0x06);
	assert_int_equal(q->in[3], 0x12);
	assert_int_equal(q->in[4], 91);
	assert_int_equal(q->in[7], 0x02);
	assert_memory_equal(q->in + 8, "LIBVDEV ", 8);
	assert_memory_equal(q->in + 16, "VIRTUAL-DISK    ", 16);
	assert_memory_equal(q->in + 32, "0.1 ", 4);
	assert_int_equal(q->in[96], 0xa5); /* nothing past the data */
	sreq_free(q);

	/* Allocation length 36: exactly 36 bytes; 0: none. */
	cdb[4] = 36;
	q = st_cmd(s, 0, 0, cdb, 6, NULL, 0, 512);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 36);
	assert_int_equal(q->in[36], 0xa5);
	sreq_free(q);
	cdb[4] = 0;
	q = st_cmd(s, 0, 0, cdb, 6, NULL, 0, 512);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 0);
	assert_int_equal(q->in[0], 0xa5);
	sreq_free(q);

	/* A data-in buffer smaller than the allocation length: never overrun. */
	cdb[4] = 255;
	q = st_cmd(s, 0, 0, cdb, 6, NULL, 0, 10);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 10);
	assert_int_equal(q->r.residual, 10 - 96);
	sreq_free(q);

	assert_int_equal(st_clear_ua(s, 0, 0), 1);
}

static void test_inquiry_identity(void **state)
{
	struct st *s = *state;
	struct vdev_scsi_lun_opts o = {
		.struct_size = sizeof(o),
		.type = VDEV_SCSI_LUN_DISK,
		.blk = st_blk_open(s, "memory", MB, 0),
		.removable = 1,
		.vendor = "ACME",
		.product = "Rocket Disk",
		.revision = "9z",
		.serial = "SN-42",
		.wwn = 0x5000c50012345678ull,
	};
	uint8_t cdb[6] = { 0x12, 0, 0, 0, 255, 0 };
	vdev_blk *spare;
	struct sreq *q;

	st_add(s, 0, 1, &o);
	q = st_cmd(s, 0, 1, cdb, 6, NULL, 0, 255);
	st_expect_good(q);
	assert_int_equal(q->in[1], 0x80); /* RMB */
	assert_memory_equal(q->in + 8, "ACME    ", 8);
	assert_memory_equal(q->in + 16, "Rocket Disk     ", 16);
	assert_memory_equal(q->in + 32, "9z  ", 4);
	sreq_free(q);

	cdb[1] = 1;
	cdb[2] = 0x80;
	q = st_cmd(s, 0, 1, cdb, 6, NULL, 0, 255);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 4 + 5);
	assert_int_equal(q->in[1], 0x80);
	assert_int_equal(q->in[3], 5);
	assert_memory_equal(q->in + 4, "SN-42", 5);
	sreq_free(q);

	cdb[2] = 0x83;
	q = st_cmd(s, 0, 1, cdb, 6, NULL, 0, 255);
	st_expect_good(q);
	assert_int_equal(q->in[1], 0x83);
	/* NAA designator: binary, LU association, type 3, length 8. */
	assert_int_equal(q->in[4], 0x01);
	assert_int_equal(q->in[5], 0x03);
	assert_int_equal(q->in[7], 8);
	assert_int_equal(st_get_be(q->in + 8, 8), 0x5000c50012345678ull);
	/* T10 vendor ID: ASCII, type 1: vendor, product, serial. */
	assert_int_equal(q->in[16], 0x02);
	assert_int_equal(q->in[17], 0x01);
	assert_int_equal(q->in[19], 8 + 16 + 5);
	assert_memory_equal(q->in + 20, "ACME    Rocket Disk     SN-42", 29);
	assert_int_equal(st_get_be(q->in + 2, 2), 12 + 4 + 29);
	assert_int_equal(q->r.data_in_len, 4 + 12 + 4 + 29);
	sreq_free(q);

	/* Bad option strings are refused; the backend stays ours. */
	spare = st_blk_open(s, "memory", MB, 0);
	o.blk = spare;
	o.vendor = "TOO-LONG-VENDOR";
	assert_int_equal(vdev_scsi_lun_add(s->bus, 0, 2, &o, NULL), -EINVAL);
	o.vendor = "BAD\x01";
	assert_int_equal(vdev_scsi_lun_add(s->bus, 0, 2, &o, NULL), -EINVAL);
	o.vendor = NULL;
	o.block_size = 1024;
	assert_int_equal(vdev_scsi_lun_add(s->bus, 0, 2, &o, NULL), -EINVAL);
	o.block_size = 0;
	o.type = VDEV_SCSI_LUN_CDROM;
	o.block_size = 512; /* a CD-ROM has 2048-byte blocks */
	assert_int_equal(vdev_scsi_lun_add(s->bus, 0, 2, &o, NULL), -EINVAL);
	o.block_size = 0;
	o.type = VDEV_SCSI_LUN_PASSTHROUGH; /* needs an "sg" backend, not a memory disk */
	assert_int_equal(vdev_scsi_lun_add(s->bus, 0, 2, &o, NULL), -EINVAL);
	o.type = 7;
	assert_int_equal(vdev_scsi_lun_add(s->bus, 0, 2, &o, NULL), -EINVAL);
	o.type = VDEV_SCSI_LUN_DISK;
	assert_int_equal(vdev_scsi_lun_add(s->bus, 0, 1, &o, NULL), -EEXIST);
	assert_int_equal(vdev_scsi_lun_add(s->bus, 256, 0, &o, NULL), -EINVAL);
	assert_int_equal(vdev_scsi_lun_add(s->bus, 0, 16384, &o, NULL), -EINVAL);
	o.blk = NULL;
	assert_int_equal(vdev_scsi_lun_add(s->bus, 0, 2, &o, NULL), -EINVAL);
	assert_int_equal(vdev_scsi_lun_set_medium(vdev_scsi_lun_find(s->bus, 0, 1), NULL, 0),
			 -ENOTSUP);
	vdev_blk_close(spare);
}

static void test_inquiry_vpd(void **state)
{
	struct st *s = *state;
	uint8_t cdb[6] = { 0x12, 1, 0, 0, 255, 0 };
	static const uint8_t pages[] = { 0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2 };
	struct sreq *q;

	q = st_cmd(s, 0, 0, cdb, 6, NULL, 0, 255);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 4 + sizeof(pages));
	assert_int_equal(st_get_be(q->in + 2, 2), sizeof(pages));
	assert_memory_equal(q->in + 4, pages, sizeof(pages));
	sreq_free(q);

	/* Every listed page answers, with its own code and a consistent length. */
	for (unsigned int i = 0; i < sizeof(pages); i++) {
		cdb[2] = pages[i];
		q = st_cmd(s, 0, 0, cdb, 6, NULL, 0, 255);
		st_expect_good(q);
		assert_int_equal(q->in[1], pages[i]);
		assert_int_equal(q->r.data_in_len, 4 + st_get_be(q->in + 2, 2));
		sreq_free(q);
	}

	/* Derived serial. */
	cdb[2] = 0x80;
	q = st_cmd(s, 0, 0, cdb, 6, NULL, 0, 255);
	assert_memory_equal(q->in + 4, "VDEV-000-00000", 14);
	sreq_free(q);

	/* Block limits. */
	cdb[2] = 0xb0;
	q = st_cmd(s, 0, 0, cdb, 6, NULL, 0, 255);
	assert_int_equal(st_get_be(q->in + 2, 2), 0x3c);
	assert_int_equal(q->in[4], 0x01);                            /* WSNZ */
	assert_int_equal(q->in[5], 64);                              /* max CAW */
	assert_int_equal(st_get_be(q->in + 8, 4), (32u << 20) / 512); /* max transfer */
	assert_int_equal(st_get_be(q->in + 20, 4), 0xffffffffu);     /* max unmap LBAs */
	assert_int_equal(st_get_be(q->in + 24, 4), 256);             /* max unmap descs */
	assert_int_equal(st_get_be(q->in + 28, 4), 8);               /* unmap granularity */
	assert_int_equal(st_get_be(q->in + 36, 8), (1ull << 30) / 512);
	sreq_free(q);

	cdb[2] = 0xb1;
	q = st_cmd(s, 0, 0, cdb, 6, NULL, 0, 255);
	assert_int_equal(st_get_be(q->in + 4, 2), 1); /* non-rotating */
	sreq_free(q);

	cdb[2] = 0xb2;
	q = st_cmd(s, 0, 0, cdb, 6, NULL, 0, 255);
	assert_int_equal(q->in[5], 0xe0); /* LBPU LBPWS LBPWS10, LBPRZ 0 */
	assert_int_equal(q->in[6] & 7, 2);
	sreq_free(q);

	/* Unsupported page; page code without EVPD; CMDDT. */
	cdb[2] = 0x99;
	st_cmd_bad_cdb(s, 0, 0, cdb, 6, 2, 7);
	cdb[1] = 0;
	cdb[2] = 0x80;
	st_cmd_bad_cdb(s, 0, 0, cdb, 6, 2, 7);
	cdb[1] = 0x02;
	cdb[2] = 0;
	st_cmd_bad_cdb(s, 0, 0, cdb, 6, 1, 1);
}

static void test_readonly_vpd(void **state)
{
	struct st *s = *state;
	struct vdev_scsi_lun_opts o = {
		.struct_size = sizeof(o),
		.type = VDEV_SCSI_LUN_DISK,
		.blk = st_blk_open(s, "memory", MB, 0),
		.readonly = 1,
		.block_size = 4096,
	};
	uint8_t cdb[6] = { 0x12, 1, 0xb2, 0, 255, 0 };
	struct sreq *q;

	st_add(s, 1, 0, &o);
	q = st_cmd(s, 1, 0, cdb, 6, NULL, 0, 255);
	st_expect_good(q);
	assert_int_equal(q->in[5], 0);
	sreq_free(q);
	cdb[2] = 0xb0;
	q = st_cmd(s, 1, 0, cdb, 6, NULL, 0, 255);
	assert_int_equal(st_get_be(q->in + 8, 4), (32u << 20) / 4096);
	assert_int_equal(st_get_be(q->in + 20, 4), 0);
	assert_int_equal(st_get_be(q->in + 24, 4), 0);
	sreq_free(q);
}

static void test_missing_lun(void **state)
{
	struct st *s = *state;
	uint8_t inq[6] = { 0x12, 0, 0, 0, 96, 0 };
	uint8_t rs[6] = { 0x03, 0, 0, 0, 252, 0 };
	uint8_t tur[6] = { 0 };
	uint8_t rd[16];
	struct sreq *q;

	q = st_cmd(s, 0, 7, inq, 6, NULL, 0, 96);
	st_expect_good(q);
	assert_int_equal(q->in[0], 0x7f);
	sreq_free(q);
	st_cmd_sense(s, 0, 7, tur, 6, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x25, 0x00);
	st_cmd_sense(s, 0, 7, rd, st_cdb_rw(rd, 0x28, 0, 1), VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x25,
		     0x00);
	inq[1] = 1;
	st_cmd_sense(s, 0, 7, inq, 6, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x25, 0x00);
	/* An unknown opcode to a missing LUN: the LUN is reported first. */
	rd[0] = 0xff;
	st_cmd_sense(s, 0, 7, rd, 6, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x25, 0x00);

	/* REQUEST SENSE answers GOOD with LOGICAL UNIT NOT SUPPORTED as its data. */
	q = st_cmd(s, 0, 7, rs, 6, NULL, 0, 252);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 18);
	assert_int_equal(q->in[0], 0x70);
	assert_int_equal(q->in[2], VDEV_SCSI_SK_ILLEGAL_REQUEST);
	assert_int_equal(q->in[12], 0x25);
	sreq_free(q);
}

static void test_bad_target_and_request(void **state)
{
	struct st *s = *state;
	uint8_t tur[6] = { 0 };
	uint8_t rd[16];
	struct sreq *q;

	q = st_cmd(s, 5, 0, tur, 6, NULL, 0, 0);
	assert_int_equal(q->r.response, VDEV_SCSI_RESP_BAD_TARGET);
	sreq_free(q);
	q = st_cmd(s, 300, 0, tur, 6, NULL, 0, 0);
	assert_int_equal(q->r.response, VDEV_SCSI_RESP_BAD_TARGET);
	sreq_free(q);

	q = sreq_new(0, 0, tur, 6, NULL, 0, 0);
	q->r.cdb_len = 5;
	st_submit(s, q);
	assert_int_equal(q->ndone, 1);
	assert_int_equal(q->r.response, VDEV_SCSI_RESP_FAILURE);
	q->ndone = 0;
	q->r.cdb_len = 33;
	st_submit(s, q);
	assert_int_equal(q->r.response, VDEV_SCSI_RESP_FAILURE);
	q->ndone = 0;
	q->r.cdb_len = 6;
	q->r.task_attr = 4;
	st_submit(s, q);
	assert_int_equal(q->r.response, VDEV_SCSI_RESP_FAILURE);
	assert_int_equal(q->ndone, 1);
	/* A CDB shorter than its command's. */
	q->ndone = 0;
	q->r.task_attr = 0;
	st_cdb_rw(q->r.cdb, 0x28, 0, 1);
	st_submit(s, q);
	assert_int_equal(q->ndone, 1);
	assert_int_equal(q->r.response, VDEV_SCSI_RESP_FAILURE);

	/* Malformed request structs: -EINVAL and no callback. */
	q->ndone = 0;
	assert_int_equal(vdev_scsi_submit(NULL, &q->r), -EINVAL);
	assert_int_equal(vdev_scsi_submit(s->bus, NULL), -EINVAL);
	q->r.data_in_cnt = 1;
	q->r.data_in = NULL;
	assert_int_equal(vdev_scsi_submit(s->bus, &q->r), -EINVAL);
	q->r.data_in_cnt = 0;
	q->r.done = NULL;
	assert_int_equal(vdev_scsi_submit(s->bus, &q->r), -EINVAL);
	assert_int_equal(q->ndone, 0);
	sreq_free(q);

	/* The ACA task attribute without ACA support. */
	q = sreq_new(0, 0, rd, st_cdb_rw(rd, 0x28, 0, 1), NULL, 0, 512);
	q->r.task_attr = VDEV_SCSI_TASK_ACA;
	st_submit(s, q);
	st_wait(s, q);
	st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x49, 0x00);
	sreq_free(q);
}

static void test_unknown_opcode(void **state)
{
	struct st *s = *state;
	uint8_t cdb[16] = { 0 };

	st_clear_ua(s, 0, 0);
	cdb[0] = 0xff;
	st_cmd_sense(s, 0, 0, cdb, 16, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	cdb[0] = 0x7f; /* variable length CDBs: not supported */
	st_cmd_sense(s, 0, 0, cdb, 16, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	cdb[0] = 0x04; /* FORMAT UNIT */
	st_cmd_sense(s, 0, 0, cdb, 16, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	/* Known opcodes, unknown service actions: the SA field. */
	cdb[0] = 0x9e;
	cdb[1] = 0x11;
	st_cmd_bad_cdb(s, 0, 0, cdb, 16, 1, 4);
	cdb[0] = 0x5e;
	cdb[1] = 0x03; /* READ FULL STATUS */
	st_cmd_bad_cdb(s, 0, 0, cdb, 16, 1, 4);
	cdb[0] = 0xa3;
	cdb[1] = 0x0a;
	st_cmd_bad_cdb(s, 0, 0, cdb, 16, 1, 4);
}

static void test_report_luns(void **state)
{
	struct st *s = *state;
	uint8_t cdb[12] = { 0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 };
	static const uint8_t want[] = {
		0x00, 0x00, 0, 0, 0, 0, 0, 0,  0x00, 0x05, 0, 0, 0, 0, 0, 0,
		0x41, 0x2c, 0, 0, 0, 0, 0, 0,  0x7f, 0xff, 0, 0, 0, 0, 0, 0,
	};
	struct sreq *q;

	st_add_disk(s, 0, 16383, MB, 512);
	st_add_disk(s, 0, 300, MB, 512);
	st_add_disk(s, 0, 5, MB, 512);
	st_add_disk(s, 3, 9, MB, 512); /* another target: not listed */

	q = st_cmd(s, 0, 0, cdb, 12, NULL, 0, 256);
	st_expect_good(q);
	assert_int_equal(st_get_be(q->in, 4), 32);
	assert_int_equal(q->r.data_in_len, 40);
	assert_memory_equal(q->in + 8, want, sizeof(want));
	sreq_free(q);

	/* Well-known LUNs only; everything. */
	cdb[2] = 1;
	q = st_cmd(s, 0, 0, cdb, 12, NULL, 0, 256);
	st_expect_good(q);
	assert_int_equal(st_get_be(q->in, 4), 8);
	assert_int_equal(q->in[8], 0xc1);
	assert_int_equal(q->in[9], 0x01);
	sreq_free(q);
	cdb[2] = 2;
	q = st_cmd(s, 0, 0, cdb, 12, NULL, 0, 256);
	st_expect_good(q);
	assert_int_equal(st_get_be(q->in, 4), 40);
	assert_memory_equal(q->in + 8, want, sizeof(want));
	assert_int_equal(q->in[40], 0xc1);
	sreq_free(q);
	cdb[2] = 0x10;
	st_cmd_bad_cdb(s, 0, 0, cdb, 12, 2, 7);
	cdb[2] = 0;

	/* Truncated by the allocation length: the list length stays whole. */
	cdb[9] = 16;
	cdb[8] = 0;
	q = st_cmd(s, 0, 0, cdb, 12, NULL, 0, 256);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 16);
	assert_int_equal(st_get_be(q->in, 4), 32);
	assert_int_equal(q->in[16], 0xa5);
	sreq_free(q);
	cdb[9] = 15;
	st_cmd_bad_cdb(s, 0, 0, cdb, 12, 6, 7);
	cdb[9] = 0;
	cdb[8] = 1;
	cdb[3] = 0x01; /* reserved */
	st_cmd_bad_cdb(s, 0, 0, cdb, 12, 3, 0);
	cdb[3] = 0;

	/* Through the well-known LUN and through a missing LUN of the target. */
	q = st_cmd(s, 0, VDEV_SCSI_WLUN_REPORT_LUNS, cdb, 12, NULL, 0, 256);
	st_expect_good(q);
	assert_int_equal(st_get_be(q->in, 4), 32);
	sreq_free(q);
	q = st_cmd(s, 0, 77, cdb, 12, NULL, 0, 256);
	st_expect_good(q);
	assert_int_equal(st_get_be(q->in, 4), 32);
	sreq_free(q);
	q = st_cmd(s, 3, 0, cdb, 12, NULL, 0, 256);
	st_expect_good(q);
	assert_int_equal(st_get_be(q->in, 4), 8);
	assert_int_equal(q->in[8], 0x00);
	assert_int_equal(q->in[9], 9);
	sreq_free(q);
}

static void test_wlun(void **state)
{
	struct st *s = *state;
	uint8_t inq[6] = { 0x12, 0, 0, 0, 96, 0 };
	uint8_t tur[6] = { 0 };
	uint8_t rs[6] = { 0x03, 0, 0, 0, 18, 0 };
	uint8_t rd[16];
	struct sreq *q;
	const uint16_t w = VDEV_SCSI_WLUN_REPORT_LUNS;

	q = st_cmd(s, 0, w, inq, 6, NULL, 0, 96);
	st_expect_good(q);
	assert_int_equal(q->in[0], 0x1e);
	sreq_free(q);
	inq[1] = 1;
	q = st_cmd(s, 0, w, inq, 6, NULL, 0, 96);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 5);
	sreq_free(q);
	inq[2] = 0x83;
	st_cmd_bad_cdb(s, 0, w, inq, 6, 2, 7);
	st_cmd_good(s, 0, w, tur, 6);
	q = st_cmd(s, 0, w, rs, 6, NULL, 0, 18);
	st_expect_good(q);
	assert_int_equal(q->in[2], 0);
	sreq_free(q);
	st_cmd_sense(s, 0, w, rd, st_cdb_rw(rd, 0x28, 0, 1), VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x20,
		     0x00);
	rd[0] = 0x1a; /* MODE SENSE */
	st_cmd_sense(s, 0, w, rd, 6, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	/* A W-LUN of a target that does not exist: no target. */
	q = st_cmd(s, 9, w, tur, 6, NULL, 0, 0);
	assert_int_equal(q->r.response, VDEV_SCSI_RESP_BAD_TARGET);
	sreq_free(q);
}

static void test_rsoc(void **state)
{
	struct st *s = *state;
	uint8_t cdb[12] = { 0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0 };
	static const uint8_t ws16[16] = { 0x93, 0x09, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x00 };
	struct sreq *q;
	uint32_t len;
	int seen_read10 = 0, seen_rc16 = 0, n = 0;

	st_clear_ua(s, 0, 0);
	q = st_cmd(s, 0, 0, cdb, 12, NULL, 0, 4096);
	st_expect_good(q);
	len = (uint32_t)st_get_be(q->in, 4);
	assert_int_equal(q->r.data_in_len, len + 4);
	assert_int_equal(len % 8, 0);
	for (uint32_t off = 4; off < len + 4; off += 8, n++) {
		const uint8_t *d = q->in + off;

		if (d[0] == 0x28) {
			seen_read10 = 1;
			assert_int_equal(d[5], 0);
			assert_int_equal(st_get_be(d + 6, 2), 10);
		}
		if (d[0] == 0x9e && st_get_be(d + 2, 2) == 0x10) {
			seen_rc16 = 1;
			assert_int_equal(d[5], 0x01); /* SERVACTV */
			assert_int_equal(st_get_be(d + 6, 2), 16);
		}
	}
	assert_true(seen_read10 && seen_rc16);
	assert_true(n >= 38);
	sreq_free(q);

	/* With timeouts descriptors: 20 bytes each, CTDP set. */
	cdb[2] = 0x80;
	q = st_cmd(s, 0, 0, cdb, 12, NULL, 0, 4096);
	st_expect_good(q);
	assert_int_equal(st_get_be(q->in, 4), (uint64_t)n * 20);
	assert_int_equal(q->in[4 + 5] & 0x02, 0x02);
	assert_int_equal(st_get_be(q->in + 4 + 8, 2), 10);
	sreq_free(q);

	/* One command: WRITE SAME(16) with its usage map. */
	cdb[2] = 0x01;
	cdb[3] = 0x93;
	q = st_cmd(s, 0, 0, cdb, 12, NULL, 0, 4096);
	st_expect_good(q);
	assert_int_equal(q->in[1], 0x03);
	assert_int_equal(st_get_be(q->in + 2, 2), 16);
	assert_memory_equal(q->in + 4, ws16, 16);
	assert_int_equal(q->r.data_in_len, 20);
	sreq_free(q);
	/* Not supported. */
	cdb[3] = 0x04;
	q = st_cmd(s, 0, 0, cdb, 12, NULL, 0, 4096);
	st_expect_good(q);
	assert_int_equal(q->in[1], 0x01);
	assert_int_equal(q->r.data_in_len, 4);
	sreq_free(q);
	/* Opcode with service actions asked without: invalid. */
	cdb[3] = 0x9e;
	st_cmd_bad_cdb(s, 0, 0, cdb, 12, 3, 7);
	/* With the service action. */
	cdb[2] = 0x02;
	cdb[5] = 0x12;
	q = st_cmd(s, 0, 0, cdb, 12, NULL, 0, 4096);
	st_expect_good(q);
	assert_int_equal(q->in[1], 0x03);
	assert_int_equal(q->in[4], 0x9e);
	assert_int_equal(q->in[5], 0x12);
	sreq_free(q);
	cdb[5] = 0x13;
	q = st_cmd(s, 0, 0, cdb, 12, NULL, 0, 4096);
	assert_int_equal(q->in[1], 0x01);
	sreq_free(q);
	cdb[3] = 0x28;
	st_cmd_bad_cdb(s, 0, 0, cdb, 12, 3, 7);
	/* Reporting options 3: either form. */
	cdb[2] = 0x03;
	q = st_cmd(s, 0, 0, cdb, 12, NULL, 0, 4096);
	assert_int_equal(q->in[1], 0x03);
	sreq_free(q);
	cdb[2] = 0x05;
	st_cmd_bad_cdb(s, 0, 0, cdb, 12, 2, 2);
	cdb[2] = 0x40;
	st_cmd_bad_cdb(s, 0, 0, cdb, 12, 2, 6);
}

/*
 * Every bit outside a command's usage map (as REPORT SUPPORTED OPERATION
 * CODES reports it), set alone in an otherwise zero CDB, is refused with
 * INVALID FIELD IN CDB pointing at exactly that byte and bit.
 */
static void test_reserved_bits_everywhere(void **state)
{
	struct st *s = *state;
	uint8_t all[12] = { 0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0 };
	struct sreq *list;
	uint32_t len;
	unsigned int checked = 0;

	st_clear_ua(s, 0, 0);
	list = st_cmd(s, 0, 0, all, 12, NULL, 0, 4096);
	st_expect_good(list);
	len = (uint32_t)st_get_be(list->in, 4);
	for (uint32_t off = 4; off < len + 4; off += 8) {
		const uint8_t *d = list->in + off;
		uint8_t one[12] = { 0xa3, 0x0c, 0x02, d[0], 0, 0, 0, 0, 0, 64, 0, 0 };
		bool has_sa = d[5] & 1;
		uint8_t usage[32];
		unsigned int cdb_len;
		struct sreq *q;

		if (!has_sa)
			one[2] = 0x01;
		st_put_be(one + 4, st_get_be(d + 2, 2), 2);
		q = st_cmd(s, 0, 0, one, 12, NULL, 0, 64);
		st_expect_good(q);
		assert_int_equal(q->in[1], 0x03);
		cdb_len = (unsigned int)st_get_be(q->in + 2, 2);
		memcpy(usage, q->in + 4, cdb_len);
		sreq_free(q);
		for (unsigned int byte = 1; byte < cdb_len; byte++) {
			uint8_t mask = usage[byte];

			if (byte == 1 && has_sa)
				mask |= 0x1f;
			if (byte == cdb_len - 1)
				mask |= 0xc0; /* vendor specific */
			for (int bit = 0; bit < 8; bit++) {
				uint8_t cdb[16] = { 0 };

				if (mask & (1u << bit))
					continue;
				cdb[0] = usage[0];
				if (has_sa)
					cdb[1] = usage[1] & 0x1f;
				cdb[byte] |= (uint8_t)(1u << bit);
				q = st_cmd(s, 0, 0, cdb, 16, NULL, 0, 512);
				if (q->r.status != VDEV_SCSI_CHECK_CONDITION)
					fprintf(stderr, "opcode %02x byte %u bit %d accepted\n",
						cdb[0], byte, bit);
				st_expect_bad_cdb(q, byte, bit);
				sreq_free(q);
				checked++;
			}
		}
	}
	sreq_free(list);
	assert_true(checked > 200);
}

static void test_control_byte(void **state)
{
	struct st *s = *state;
	uint8_t tur[6] = { 0 };

	st_clear_ua(s, 0, 0);
	tur[5] = 0x04; /* NACA without ACA support */
	st_cmd_bad_cdb(s, 0, 0, tur, 6, 5, 2);
	tur[5] = 0x01; /* LINK */
	st_cmd_bad_cdb(s, 0, 0, tur, 6, 5, 0);
	tur[5] = 0xc0; /* vendor specific bits are ignored */
	st_cmd_good(s, 0, 0, tur, 6);
}

static void test_request_sense(void **state)
{
	struct st *s = *state;
	uint8_t rs[6] = { 0x03, 0, 0, 0, 252, 0 };
	struct sreq *q;

	/* The power-on unit attention comes back as data and is cleared. */
	q = st_cmd(s, 0, 0, rs, 6, NULL, 0, 252);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 18);
	assert_int_equal(q->in[0], 0x70);
	assert_int_equal(q->in[2], VDEV_SCSI_SK_UNIT_ATTENTION);
	assert_int_equal(q->in[12], 0x29);
	assert_int_equal(q->in[13], 0x00);
	sreq_free(q);
	/* Then no sense, in descriptor format when DESC asks. */
	rs[1] = 1;
	q = st_cmd(s, 0, 0, rs, 6, NULL, 0, 252);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 8);
	assert_int_equal(q->in[0], 0x72);
	assert_int_equal(q->in[1], 0);
	assert_int_equal(q->in[7], 0);
	sreq_free(q);
	/* Allocation length 4 truncates. */
	rs[1] = 0;
	rs[4] = 4;
	q = st_cmd(s, 0, 0, rs, 6, NULL, 0, 252);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 4);
	sreq_free(q);
	rs[1] = 0x02;
	st_cmd_bad_cdb(s, 0, 0, rs, 6, 1, 1);
}

static void test_start_stop(void **state)
{
	struct st *s = *state;
	uint8_t ssu[6] = { 0x1b, 0, 0, 0, 0x00, 0 };
	uint8_t tur[6] = { 0 };
	uint8_t rs[6] = { 0x03, 0, 0, 0, 18, 0 };
	uint8_t pa[6] = { 0x1e, 0, 0, 0, 1, 0 };
	uint8_t rd[16];
	struct sreq *q;

	st_clear_ua(s, 0, 0);
	st_cmd_good(s, 0, 0, ssu, 6); /* stop (with a flush) */
	st_cmd_sense(s, 0, 0, tur, 6, VDEV_SCSI_SK_NOT_READY, 0x04, 0x02);
	st_cmd_sense(s, 0, 0, rd, st_cdb_rw(rd, 0x28, 0, 1), VDEV_SCSI_SK_NOT_READY, 0x04, 0x02);
	q = st_cmd(s, 0, 0, rs, 6, NULL, 0, 18);
	st_expect_good(q);
	assert_int_equal(q->in[2], VDEV_SCSI_SK_NOT_READY);
	assert_int_equal(q->in[12], 0x04);
	assert_int_equal(q->in[13], 0x02);
	sreq_free(q);
	/* INQUIRY and READ CAPACITY still work while stopped. */
	st_cmd_good(s, 0, 0, (const uint8_t[]){ 0x12, 0, 0, 0, 36, 0 }, 6);
	st_cmd_good(s, 0, 0, (const uint8_t[]){ 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 10);
	ssu[4] = 0x01;
	st_cmd_good(s, 0, 0, ssu, 6);
	st_cmd_good(s, 0, 0, tur, 6);

	/* Power conditions are accepted and change nothing. */
	ssu[4] = 0x20; /* IDLE, START 0 */
	st_cmd_good(s, 0, 0, ssu, 6);
	st_cmd_good(s, 0, 0, tur, 6);
	ssu[4] = 0x50; /* reserved power condition */
	st_cmd_bad_cdb(s, 0, 0, ssu, 6, 4, 7);
	ssu[4] = 0x01;
	ssu[3] = 0x01; /* power condition modifier */
	st_cmd_bad_cdb(s, 0, 0, ssu, 6, 3, 3);
	ssu[3] = 0x10; /* reserved */
	st_cmd_bad_cdb(s, 0, 0, ssu, 6, 3, 4);
	ssu[3] = 0;
	ssu[4] = 0x08; /* reserved bit 3 */
	st_cmd_bad_cdb(s, 0, 0, ssu, 6, 4, 3);

	/* Eject refused while the medium is locked; allowed after. */
	st_cmd_good(s, 0, 0, pa, 6);
	ssu[4] = 0x02; /* LOEJ, stop */
	st_cmd_sense(s, 0, 0, ssu, 6, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x53, 0x02);
	st_cmd_good(s, 0, 0, tur, 6);
	pa[4] = 0;
	st_cmd_good(s, 0, 0, pa, 6);
	ssu[4] = 0x06; /* LOEJ, NO_FLUSH, stop */
	st_cmd_good(s, 0, 0, ssu, 6);
	st_cmd_sense(s, 0, 0, tur, 6, VDEV_SCSI_SK_NOT_READY, 0x04, 0x02);
	ssu[4] = 0x01;
	st_cmd_good(s, 0, 0, ssu, 6);
	pa[4] = 2;
	st_cmd_bad_cdb(s, 0, 0, pa, 6, 4, 1);
	pa[4] = 0;
	pa[2] = 0x80;
	st_cmd_bad_cdb(s, 0, 0, pa, 6, 2, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_inquiry_standard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inquiry_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inquiry_vpd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_vpd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_lun, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_target_and_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_opcode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_luns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wlun, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsoc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserved_bits_everywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_sense, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_stop, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
