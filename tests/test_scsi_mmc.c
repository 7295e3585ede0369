/* SPDX-License-Identifier: MIT */
/*
 * CD-ROM logical units (MMC-6): an empty drive and its exact NOT READY
 * sense (tray closed / open), 2048-byte READs from a memory "ISO", READ
 * CAPACITY, the TOC formats byte for byte (LBA and MSF), GET CONFIGURATION
 * (RT 0/1/2, CD and DVD media), GET EVENT STATUS NOTIFICATION media
 * events, READ DISC / TRACK INFORMATION, MECHANISM STATUS, the MM
 * capabilities mode page (2Ah, CD-ROM only), the tray and
 * the lock (guest eject and load, VMM insert/remove with unit attentions,
 * events and -EBUSY), the command set split between disks and CD-ROMs,
 * and save/load of the tray, lock, medium presence and pending event.
 */
#include "scsi_test_util.h"

#define SECT 2048u
#define ISO_SECTORS 300u   /* 600 KiB */

static const uint8_t tur[6];

static int setup(void **state)
{
	*state = st_new();
	return 0;
}

static int teardown(void **state)
{
	st_free(*state);
	return 0;
}

static void blk_done_cb(struct vdev_blk_req *r, int64_t result)
{
	int64_t *res = r->user;

	*res = result;
}

/* A memory ISO of @sectors sectors, sector i filled with (i * 7 + byte) & 0xff. */
static vdev_blk *make_iso(struct st *s, uint32_t sectors)
{
	vdev_blk *blk = st_blk_open(s, "memory", (uint64_t)sectors * SECT, 0);
	uint8_t *buf = malloc((size_t)sectors * SECT);
	struct iovec iov = { buf, (size_t)sectors * SECT };
	struct vdev_blk_req r = { .op = VDEV_BLK_WRITE, .iov = &iov, .iovcnt = 1 };
	int64_t res = 1;

	assert_non_null(buf);
	for (size_t i = 0; i < (size_t)sectors * SECT; i++)
		buf[i] = (uint8_t)((i / SECT) * 7 + i % SECT);
	r.done = blk_done_cb;
	r.user = &res;
	assert_int_equal(vdev_blk_submit(blk, &r), 0);
	for (int i = 0; i < 1000 && res == 1; i++)
		vdev_blk_poll(blk);
	assert_int_equal(res, (int64_t)sectors * SECT);
	free(buf);
	return blk;
}

static vdev_scsi_lun *add_cd(struct st *s, uint16_t t, uint16_t l, vdev_blk *blk)
{
	struct vdev_scsi_lun_opts o = {
		.struct_size = sizeof(o),
		.type = VDEV_SCSI_LUN_CDROM,
		.blk = blk,
	};

	return st_add(s, t, l, &o);
}

static unsigned int count_events(struct st *s, int ev)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < s->nevents; i++)
		n += s->events[i].ev == ev;
	return n;
}

/* GESN (polled, media class): @return event code; *status the media status byte. */
static uint8_t gesn(struct st *s, uint16_t l, uint8_t *status)
{
	uint8_t cdb[10] = { 0x4a, 0x01, 0, 0, 0x10, 0, 0, 0, 8, 0 };
	struct sreq *q = st_cmd(s, 0, l, cdb, 10, NULL, 0, 8);
	uint8_t ev;

	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 8);
	assert_int_equal(st_get_be(q->in, 2), 6);
	assert_int_equal(q->in[2], 0x04);  /* media class, NEA 0 */
	assert_int_equal(q->in[3], 0x10);  /* supported: media */
	ev = q->in[4] & 0x0f;
	*status = q->in[5];
	assert_int_equal(q->in[6], 0);
	assert_int_equal(q->in[7], 0);
	sreq_free(q);
	return ev;
}

static void start_stop(struct st *s, uint16_t l, uint8_t b4, uint8_t key, uint8_t asc,
		       uint8_t ascq)
{
	uint8_t cdb[6] = { 0x1b, 0, 0, 0, b4, 0 };

	if (!key)
		st_cmd_good(s, 0, l, cdb, 6);
	else
		st_cmd_sense(s, 0, l, cdb, 6, key, asc, ascq);
}

static void prevent(struct st *s, uint16_t l, uint8_t v)
{
	uint8_t cdb[6] = { 0x1e, 0, 0, 0, v, 0 };

	st_cmd_good(s, 0, l, cdb, 6);
}

/* ---- tests ---- */

static void test_empty_drive(void **state)
{
	struct st *s = *state;
	uint8_t inq[6] = { 0x12, 0, 0, 0, 36, 0 };
	uint8_t rd[16], rc10[10] = { 0x25 }, toc[10] = { 0x43, 0, 0, 0, 0, 0, 0, 0, 12, 0 };
	uint8_t rdi[10] = { 0x51, 0, 0, 0, 0, 0, 0, 0, 34, 0 };
	uint8_t rti[10] = { 0x52, 1, 0, 0, 0, 1, 0, 0, 48, 0 };
	uint8_t rs[6] = { 0x03, 0, 0, 0, 18, 0 }, ms[12] = { 0xbd, [9] = 8 };
	uint8_t gc[10] = { 0x46, 0, 0, 0, 0, 0, 0, 0, 255, 0 }, st_b;
	struct sreq *q;

	add_cd(s, 0, 0, NULL);
	q = st_cmd(s, 0, 0, inq, 6, NULL, 0, 36);
	st_expect_good(q);
	assert_int_equal(q->in[0], 0x05);   /* peripheral type 5: CD/DVD */
	assert_int_equal(q->in[1], 0x80);   /* RMB */
	assert_memory_equal(q->in + 16, "VIRTUAL-CDROM   ", 16);
	sreq_free(q);
	/* VPD: a CD-ROM lists 00h/80h/83h only; the SBC block-device pages are refused. */
	{
		static const uint8_t want[] = { 0x00, 0x80, 0x83 };
		uint8_t vpd0[6] = { 0x12, 1, 0x00, 0, 64, 0 }, vpdb0[6] = { 0x12, 1, 0xb0, 0, 64, 0 };

		q = st_cmd(s, 0, 0, vpd0, 6, NULL, 0, 64);
		st_expect_good(q);
		assert_int_equal(q->in[0], 0x05);
		assert_int_equal(st_get_be(q->in + 2, 2), sizeof(want));
		assert_memory_equal(q->in + 4, want, sizeof(want));
		sreq_free(q);
		st_cmd_sense(s, 0, 0, vpdb0, 6, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x24, 0x00);
	}
	st_cmd_sense(s, 0, 0, tur, 6, VDEV_SCSI_SK_UNIT_ATTENTION, 0x29, 0x00);
	/* Empty, tray closed: 3Ah/01h everywhere a medium is needed. */
	st_cmd_sense(s, 0, 0, tur, 6, VDEV_SCSI_SK_NOT_READY, 0x3a, 0x01);
	st_cmd_sense(s, 0, 0, rd, st_cdb_rw(rd, 0x28, 0, 1), VDEV_SCSI_SK_NOT_READY, 0x3a, 0x01);
	st_cmd_sense(s, 0, 0, rd, st_cdb_rw(rd, 0xa8, 0, 1), VDEV_SCSI_SK_NOT_READY, 0x3a, 0x01);
	st_cmd_sense(s, 0, 0, rc10, 10, VDEV_SCSI_SK_NOT_READY, 0x3a, 0x01);
	st_cmd_sense(s, 0, 0, toc, 10, VDEV_SCSI_SK_NOT_READY, 0x3a, 0x01);
	st_cmd_sense(s, 0, 0, rdi, 10, VDEV_SCSI_SK_NOT_READY, 0x3a, 0x01);
	st_cmd_sense(s, 0, 0, rti, 10, VDEV_SCSI_SK_NOT_READY, 0x3a, 0x01);
	/* REQUEST SENSE reports the state as parameter data. */
	q = st_cmd(s, 0, 0, rs, 6, NULL, 0, 18);
	st_expect_good(q);
	assert_int_equal(q->in[2] & 0x0f, VDEV_SCSI_SK_NOT_READY);
	assert_int_equal(q->in[12], 0x3a);
	assert_int_equal(q->in[13], 0x01);
	sreq_free(q);
	/* These work without a medium. */
	q = st_cmd(s, 0, 0, gc, 10, NULL, 0, 255);
	st_expect_good(q);
	assert_int_equal(st_get_be(q->in + 6, 2), 0x0000); /* no current profile */
	sreq_free(q);
	assert_int_equal(gesn(s, 0, &st_b), 0);
	assert_int_equal(st_b, 0x00);
	q = st_cmd(s, 0, 0, ms, 12, NULL, 0, 8);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 8);
	assert_int_equal(q->in[1], 0x00);
	sreq_free(q);
	/* Block size other than 2048 is refused; an empty drive needs no backend. */
	{
		struct vdev_scsi_lun_opts o = {
			.struct_size = sizeof(o),
			.type = VDEV_SCSI_LUN_CDROM,
			.block_size = 512,
		};

		assert_int_equal(vdev_scsi_lun_add(s->bus, 0, 1, &o, NULL), -EINVAL);
		o.block_size = 2048;
		assert_int_equal(vdev_scsi_lun_add(s->bus, 0, 1, &o, NULL), 0);
	}
}

static void test_command_set(void **state)
{
	struct st *s = *state;
	uint8_t cdb[16], gc[10] = { 0x46, 0, 0, 0, 0, 0, 0, 0, 8, 0 };
	uint8_t data[SECT];

	add_cd(s, 0, 0, make_iso(s, ISO_SECTORS));
	st_add_disk(s, 0, 1, 1u << 20, 512);
	st_clear_ua(s, 0, 0);
	st_clear_ua(s, 0, 1);
	memset(data, 0, sizeof(data));
	/* No WRITE opcodes in a CD-ROM's command set (MMC-6 Table 3 for CD-ROM). */
	st_cdb_rw(cdb, 0x2a, 0, 1);
	{
		struct sreq *q = st_cmd(s, 0, 0, cdb, 10, data, SECT, 0);

		st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x20, 0x00);
		assert_int_equal(q->r.data_out_len, 0);
		sreq_free(q);
	}
	st_cmd_sense(s, 0, 0, cdb, st_cdb_rw(cdb, 0xaa, 0, 1), VDEV_SCSI_SK_ILLEGAL_REQUEST,
		     0x20, 0x00);
	st_cmd_sense(s, 0, 0, cdb, st_cdb_rw(cdb, 0x08, 0, 1), VDEV_SCSI_SK_ILLEGAL_REQUEST,
		     0x20, 0x00);
	st_cmd_sense(s, 0, 0, cdb, st_cdb_rw(cdb, 0x88, 0, 1), VDEV_SCSI_SK_ILLEGAL_REQUEST,
		     0x20, 0x00);
	/* And no MMC commands on a disk. */
	st_cmd_sense(s, 0, 1, gc, 10, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	/* REPORT SUPPORTED OPERATION CODES follows the device type. */
	{
		uint8_t one[12] = { 0xa3, 0x0c, 0x01, 0x46, 0, 0, 0, 0, 0, 64, 0, 0 };
		struct sreq *q = st_cmd(s, 0, 0, one, 12, NULL, 0, 64);

		st_expect_good(q);
		assert_int_equal(q->in[1], 0x03);
		sreq_free(q);
		q = st_cmd(s, 0, 1, one, 12, NULL, 0, 64);
		st_expect_good(q);
		assert_int_equal(q->in[1], 0x01);
		sreq_free(q);
		one[3] = 0x2a;
		q = st_cmd(s, 0, 0, one, 12, NULL, 0, 64);
		st_expect_good(q);
		assert_int_equal(q->in[1], 0x01);
		sreq_free(q);
	}
	/* Reserved bits of an MMC CDB are refused with the field pointer. */
	gc[1] = 0x04;
	st_cmd_bad_cdb(s, 0, 0, gc, 10, 1, 2);
}

static void test_read(void **state)
{
	struct st *s = *state;
	uint8_t cdb[16], rc10[10] = { 0x25 };
	struct sreq *q;

	add_cd(s, 0, 0, make_iso(s, ISO_SECTORS));
	st_clear_ua(s, 0, 0);
	q = st_cmd(s, 0, 0, rc10, 10, NULL, 0, 8);
	st_expect_good(q);
	assert_int_equal(st_get_be(q->in, 4), ISO_SECTORS - 1);
	assert_int_equal(st_get_be(q->in + 4, 4), SECT);
	sreq_free(q);
	/* READ(10) of sectors 5..7: exactly 3 × 2048 bytes of the image. */
	q = st_cmd(s, 0, 0, cdb, st_cdb_rw(cdb, 0x28, 5, 3), NULL, 0, 3 * SECT);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 3 * SECT);
	for (size_t i = 0; i < 3 * SECT; i++)
		assert_int_equal(q->in[i], (uint8_t)((5 + i / SECT) * 7 + i % SECT));
	sreq_free(q);
	/* READ(12) of the last sector, then one past the end. */
	q = st_cmd(s, 0, 0, cdb, st_cdb_rw(cdb, 0xa8, ISO_SECTORS - 1, 1), NULL, 0, SECT);
	st_expect_good(q);
	assert_int_equal(q->in[1], (uint8_t)((ISO_SECTORS - 1) * 7 + 1));
	sreq_free(q);
	st_cmd_sense(s, 0, 0, cdb, st_cdb_rw(cdb, 0x28, ISO_SECTORS - 1, 2),
		     VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x21, 0x00);
}

static void test_toc(void **state)
{
	struct st *s = *state;
	/* Lead-out at 300 sectors: MSF of 450 frames is 00:06:00. */
	static const uint8_t toc_lba[20] = { 0, 18, 1, 1, 0, 0x14, 1, 0, 0, 0, 0, 0,
					     0, 0x14, 0xaa, 0, 0, 0, 0x01, 0x2c };
	static const uint8_t toc_msf[20] = { 0, 18, 1, 1, 0, 0x14, 1, 0, 0, 0, 2, 0,
					     0, 0x14, 0xaa, 0, 0, 0, 6, 0 };
	static const uint8_t sess[12] = { 0, 10, 1, 1, 0, 0x14, 1, 0, 0, 0, 0, 0 };
	static const uint8_t full[48] = {
		0, 46, 1, 1,
		1, 0x14, 0, 0xa0, 0, 0, 0, 0, 1, 0, 0,
		1, 0x14, 0, 0xa1, 0, 0, 0, 0, 1, 0, 0,
		1, 0x14, 0, 0xa2, 0, 0, 0, 0, 0, 6, 0,
		1, 0x14, 0, 0x01, 0, 0, 0, 0, 0, 2, 0,
	};
	uint8_t cdb[10] = { 0x43, 0, 0, 0, 0, 0, 0, 0, 255, 0 };
	struct sreq *q;

	add_cd(s, 0, 0, make_iso(s, ISO_SECTORS));
	st_clear_ua(s, 0, 0);
	q = st_cmd(s, 0, 0, cdb, 10, NULL, 0, 255);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 20);
	assert_memory_equal(q->in, toc_lba, 20);
	sreq_free(q);
	cdb[1] = 0x02; /* MSF */
	q = st_cmd(s, 0, 0, cdb, 10, NULL, 0, 255);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 20);
	assert_memory_equal(q->in, toc_msf, 20);
	sreq_free(q);
	/* From the lead-out: only its descriptor. */
	cdb[1] = 0;
	cdb[6] = 0xaa;
	q = st_cmd(s, 0, 0, cdb, 10, NULL, 0, 255);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 12);
	assert_int_equal(st_get_be(q->in, 2), 10);
	assert_memory_equal(q->in + 4, toc_lba + 12, 8);
	sreq_free(q);
	/* A track that is not on the disc. */
	cdb[6] = 2;
	st_cmd_bad_cdb(s, 0, 0, cdb, 10, 6, 7);
	cdb[6] = 0;
	/* Allocation length truncates; the length field still says all. */
	cdb[8] = 4;
	q = st_cmd(s, 0, 0, cdb, 10, NULL, 0, 255);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 4);
	assert_int_equal(st_get_be(q->in, 2), 18);
	sreq_free(q);
	cdb[8] = 255;
	/* Format 1: session information. */
	cdb[2] = 1;
	q = st_cmd(s, 0, 0, cdb, 10, NULL, 0, 255);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 12);
	assert_memory_equal(q->in, sess, 12);
	sreq_free(q);
	/* Format 2: full TOC (always MSF). */
	cdb[2] = 2;
	q = st_cmd(s, 0, 0, cdb, 10, NULL, 0, 255);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 48);
	assert_memory_equal(q->in, full, 48);
	sreq_free(q);
	/* PMA, ATIP, CD-TEXT: not on this disc. */
	for (uint8_t f = 3; f <= 5; f++) {
		cdb[2] = f;
		st_cmd_bad_cdb(s, 0, 0, cdb, 10, 2, 3);
	}
	cdb[2] = 0x10; /* reserved bits above the format */
	st_cmd_bad_cdb(s, 0, 0, cdb, 10, 2, 4);
}

/* Walk a GET CONFIGURATION answer: feature codes into @codes, current bits into @cur. */
static unsigned int features(const struct sreq *q, uint16_t *codes, uint8_t *cur)
{
	uint32_t len = (uint32_t)st_get_be(q->in, 4) + 4;
	unsigned int n = 0;

	assert_int_equal(len, q->r.data_in_len);
	for (uint32_t off = 8; off < len; n++) {
		codes[n] = (uint16_t)st_get_be(q->in + off, 2);
		cur[n] = q->in[off + 2] & 1;
		off += 4u + q->in[off + 3];
		assert_true(off <= len);
	}
	return n;
}

static void test_get_configuration(void **state)
{
	struct st *s = *state;
	static const uint16_t all[] = { 0x0000, 0x0001, 0x0002, 0x0003, 0x0010, 0x001e, 0x001f };
	uint8_t cdb[10] = { 0x46, 0, 0, 0, 0, 0, 0, 0x01, 0, 0 };
	uint16_t codes[16];
	uint8_t cur[16];
	struct sreq *q;
	unsigned int n;

	add_cd(s, 0, 0, make_iso(s, ISO_SECTORS));
	/* Not blocked by the power-on unit attention. */
	q = st_cmd(s, 0, 0, cdb, 10, NULL, 0, 256);
	st_expect_good(q);
	assert_int_equal(st_get_be(q->in + 6, 2), 0x0008); /* CD-ROM */
	n = features(q, codes, cur);
	assert_int_equal(n, 7);
	assert_memory_equal(codes, all, sizeof(all));
	/* Profile list: DVD-ROM then CD-ROM, CD-ROM current. */
	assert_int_equal(q->in[8 + 3], 8);
	assert_int_equal(st_get_be(q->in + 12, 2), 0x0010);
	assert_int_equal(q->in[14], 0);
	assert_int_equal(st_get_be(q->in + 16, 2), 0x0008);
	assert_int_equal(q->in[18], 1);
	/* Removable medium: tray, eject, lock. */
	assert_int_equal(q->in[8 + 12 + 12 + 8 + 4], 0x29);
	/* Random readable: 2048-byte blocks, blocking 1, current. */
	assert_int_equal(st_get_be(q->in + 8 + 12 + 12 + 8 + 8 + 4, 4), SECT);
	assert_int_equal(st_get_be(q->in + 8 + 12 + 12 + 8 + 8 + 8, 2), 1);
	assert_int_equal(cur[4], 1);
	assert_int_equal(cur[5], 1); /* CD read */
	assert_int_equal(cur[6], 0); /* DVD read */
	sreq_free(q);
	st_clear_ua(s, 0, 0);
	/* RT 1: the current features only. */
	cdb[1] = 1;
	q = st_cmd(s, 0, 0, cdb, 10, NULL, 0, 256);
	st_expect_good(q);
	n = features(q, codes, cur);
	assert_int_equal(n, 6);
	assert_int_equal(codes[5], 0x001e);
	sreq_free(q);
	/* RT 2: the one feature asked for, or the header alone. */
	cdb[1] = 2;
	st_put_be(cdb + 2, 0x001e, 2);
	q = st_cmd(s, 0, 0, cdb, 10, NULL, 0, 256);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 8 + 8);
	assert_int_equal(st_get_be(q->in + 8, 2), 0x001e);
	assert_int_equal(q->in[10], 0x09); /* version 2, current */
	sreq_free(q);
	st_put_be(cdb + 2, 0x0107, 2);
	q = st_cmd(s, 0, 0, cdb, 10, NULL, 0, 256);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 8);
	assert_int_equal(st_get_be(q->in, 4), 4);
	sreq_free(q);
	/* RT 0 from a starting feature. */
	cdb[1] = 0;
	st_put_be(cdb + 2, 0x0003, 2);
	q = st_cmd(s, 0, 0, cdb, 10, NULL, 0, 256);
	st_expect_good(q);
	assert_int_equal(features(q, codes, cur), 4);
	assert_int_equal(codes[0], 0x0003);
	sreq_free(q);
	cdb[1] = 3;
	st_cmd_bad_cdb(s, 0, 0, cdb, 10, 1, 1);
}

static void test_dvd_profile(void **state)
{
	struct st *s = *state;
	uint8_t cdb[10] = { 0x46, 0x01, 0, 0, 0, 0, 0, 0x01, 0, 0 };
	uint16_t codes[16];
	uint8_t cur[16];
	struct sreq *q;

	/* Bigger than an 80-minute CD: a DVD-ROM ("null" reads zeroes, costs no memory). */
	add_cd(s, 0, 0, st_blk_open(s, "null", (360000ull + 16) * SECT, 0));
	st_clear_ua(s, 0, 0);
	q = st_cmd(s, 0, 0, cdb, 10, NULL, 0, 256);
	st_expect_good(q);
	assert_int_equal(st_get_be(q->in + 6, 2), 0x0010);
	assert_int_equal(features(q, codes, cur), 6);
	assert_int_equal(codes[5], 0x001f);
	assert_int_equal(q->in[14], 1); /* DVD-ROM profile current */
	assert_int_equal(q->in[18], 0);
	sreq_free(q);
}

static void test_disc_track_mech(void **state)
{
	struct st *s = *state;
	uint8_t rdi[10] = { 0x51, 0, 0, 0, 0, 0, 0, 0, 255, 0 };
	uint8_t rti[10] = { 0x52, 1, 0, 0, 0, 1, 0, 0, 255, 0 };
	uint8_t ms[12] = { 0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 255, 0, 0 };
	struct sreq *q;

	add_cd(s, 0, 0, make_iso(s, ISO_SECTORS));
	st_clear_ua(s, 0, 0);
	q = st_cmd(s, 0, 0, rdi, 10, NULL, 0, 255);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 34);
	assert_int_equal(st_get_be(q->in, 2), 32);
	assert_int_equal(q->in[2], 0x0e);
	assert_int_equal(q->in[3], 1);
	assert_int_equal(q->in[4], 1);
	assert_int_equal(q->in[5], 1);
	assert_int_equal(q->in[6], 1);
	assert_int_equal(st_get_be(q->in + 16, 4), 0xffffffffu);
	sreq_free(q);
	rdi[1] = 1;
	st_cmd_bad_cdb(s, 0, 0, rdi, 10, 1, 2);
	/* Track 1 by number, by session, by LBA. */
	for (int type = 0; type < 3; type++) {
		rti[1] = (uint8_t)type;
		st_put_be(rti + 2, type == 0 ? ISO_SECTORS - 1 : 1, 4);
		q = st_cmd(s, 0, 0, rti, 10, NULL, 0, 255);
		st_expect_good(q);
		assert_int_equal(q->r.data_in_len, 48);
		assert_int_equal(q->in[2], 1);
		assert_int_equal(q->in[3], 1);
		assert_int_equal(q->in[5], 0x04);
		assert_int_equal(q->in[6], 0x01);
		assert_int_equal(st_get_be(q->in + 8, 4), 0);
		assert_int_equal(st_get_be(q->in + 24, 4), ISO_SECTORS);
		sreq_free(q);
	}
	rti[1] = 0;
	st_put_be(rti + 2, ISO_SECTORS, 4);
	st_cmd_bad_cdb(s, 0, 0, rti, 10, 2, 7);
	rti[1] = 1;
	st_put_be(rti + 2, 2, 4);
	st_cmd_bad_cdb(s, 0, 0, rti, 10, 2, 7);
	rti[1] = 3;
	st_cmd_bad_cdb(s, 0, 0, rti, 10, 1, 1);
	q = st_cmd(s, 0, 0, ms, 12, NULL, 0, 255);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 8);
	assert_int_equal(q->in[1], 0x00);
	assert_int_equal(st_get_be(q->in + 6, 2), 0);
	sreq_free(q);
}

static void test_mode_page_2a(void **state)
{
	struct st *s = *state;
	uint8_t ms[10] = { 0x5a, 0x08, 0x2a, 0, 0, 0, 0, 0, 64, 0 };
	uint8_t all[10] = { 0x5a, 0x08, 0x3f, 0, 0, 0, 0, 0, 255, 0 };
	struct sreq *q;
	bool seen = false;

	add_cd(s, 0, 0, make_iso(s, ISO_SECTORS));
	st_add_disk(s, 0, 1, 1u << 20, 512);
	st_clear_ua(s, 0, 0);
	st_clear_ua(s, 0, 1);
	q = st_cmd(s, 0, 0, ms, 10, NULL, 0, 64);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 8 + 22);
	assert_int_equal(q->in[8], 0x2a);
	assert_int_equal(q->in[9], 0x14);
	assert_int_equal(q->in[8 + 2], 0x08);
	assert_int_equal(q->in[8 + 6], 0x29);
	sreq_free(q);
	prevent(s, 0, 1);
	q = st_cmd(s, 0, 0, ms, 10, NULL, 0, 64);
	st_expect_good(q);
	assert_int_equal(q->in[8 + 6], 0x2b); /* LOCK STATE */
	sreq_free(q);
	/* Nothing changeable. */
	ms[2] = 0x6a;
	q = st_cmd(s, 0, 0, ms, 10, NULL, 0, 64);
	st_expect_good(q);
	for (int i = 2; i < 22; i++)
		assert_int_equal(q->in[8 + i], 0);
	sreq_free(q);
	/* In the all-pages list of a CD-ROM, not of a disk. */
	q = st_cmd(s, 0, 0, all, 10, NULL, 0, 255);
	st_expect_good(q);
	for (uint32_t off = 8; off < q->r.data_in_len; off += 2u + q->in[off + 1])
		seen |= (q->in[off] & 0x3f) == 0x2a;
	assert_true(seen);
	sreq_free(q);
	q = st_cmd(s, 0, 1, all, 10, NULL, 0, 255);
	st_expect_good(q);
	for (uint32_t off = 8; off < q->r.data_in_len; off += 2u + q->in[off + 1])
		assert_int_not_equal(q->in[off] & 0x3f, 0x2a);
	sreq_free(q);
	ms[2] = 0x2a;
	st_cmd_bad_cdb(s, 0, 1, ms, 10, 2, 5);
}

static void test_gesn_fields(void **state)
{
	struct st *s = *state;
	uint8_t cdb[10] = { 0x4a, 0x00, 0, 0, 0x10, 0, 0, 0, 8, 0 };
	struct sreq *q;
	uint8_t stb;

	add_cd(s, 0, 0, make_iso(s, ISO_SECTORS));
	/* Asynchronous mode is refused. */
	st_cmd_bad_cdb(s, 0, 0, cdb, 10, 1, 0);
	/* Only the operational change class asked: no event available (NEA). */
	cdb[1] = 1;
	cdb[4] = 0x02;
	q = st_cmd(s, 0, 0, cdb, 10, NULL, 0, 8);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 4);
	assert_int_equal(st_get_be(q->in, 2), 2);
	assert_int_equal(q->in[2], 0x80);
	assert_int_equal(q->in[3], 0x10);
	sreq_free(q);
	/* Media: present, tray closed, no event; the unit attention is still there. */
	assert_int_equal(gesn(s, 0, &stb), 0);
	assert_int_equal(stb, 0x02);
	st_cmd_sense(s, 0, 0, tur, 6, VDEV_SCSI_SK_UNIT_ATTENTION, 0x29, 0x00);
}

static void test_guest_lock_eject(void **state)
{
	struct st *s = *state;
	uint8_t ms[12] = { 0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0 };
	struct sreq *q;
	uint8_t stb;

	add_cd(s, 0, 0, make_iso(s, ISO_SECTORS));
	st_clear_ua(s, 0, 0);
	prevent(s, 0, 1);
	/* Locked: eject refused, the VMM refused too (an eject request for the guest). */
	start_stop(s, 0, 0x02, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x53, 0x02);
	assert_int_equal(vdev_scsi_lun_set_medium(vdev_scsi_lun_find(s->bus, 0, 0), NULL, 0),
			 -EBUSY);
	assert_int_equal(count_events(s, VDEV_SCSI_EV_MEDIUM_CHANGED), 1);
	assert_int_equal(gesn(s, 0, &stb), 1); /* EJECT REQUEST */
	assert_int_equal(stb, 0x02);
	assert_int_equal(gesn(s, 0, &stb), 0); /* reported once */
	st_cmd_good(s, 0, 0, tur, 6);
	/* MMC's persistent prevent values are accepted; allow, then eject. */
	prevent(s, 0, 3);
	start_stop(s, 0, 0x02, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x53, 0x02);
	prevent(s, 0, 0);
	start_stop(s, 0, 0x02, 0, 0, 0);
	assert_int_equal(count_events(s, VDEV_SCSI_EV_MEDIUM_CHANGED), 2);
	st_cmd_sense(s, 0, 0, tur, 6, VDEV_SCSI_SK_NOT_READY, 0x3a, 0x02);
	assert_int_equal(gesn(s, 0, &stb), 3); /* MEDIA REMOVAL */
	assert_int_equal(stb, 0x03);           /* medium in the open tray */
	q = st_cmd(s, 0, 0, ms, 12, NULL, 0, 8);
	st_expect_good(q);
	assert_int_equal(q->in[1], 0x10);      /* door open */
	sreq_free(q);
	/* Ejecting again is harmless; loading closes the tray: ready, NEW MEDIA. */
	start_stop(s, 0, 0x02, 0, 0, 0);
	start_stop(s, 0, 0x03, 0, 0, 0);
	st_cmd_good(s, 0, 0, tur, 6);
	assert_int_equal(gesn(s, 0, &stb), 2);
	assert_int_equal(stb, 0x02);
	assert_int_equal(count_events(s, VDEV_SCSI_EV_MEDIUM_CHANGED), 3);
	/* START=0 without LOEJ stops the unit as on a disk; START=1 starts it. */
	start_stop(s, 0, 0x00, 0, 0, 0);
	st_cmd_sense(s, 0, 0, tur, 6, VDEV_SCSI_SK_NOT_READY, 0x04, 0x02);
	start_stop(s, 0, 0x01, 0, 0, 0);
	st_cmd_good(s, 0, 0, tur, 6);
}

static void test_vmm_medium(void **state)
{
	struct st *s = *state;
	vdev_scsi_lun *lun, *disk;
	uint8_t cdb[16];
	vdev_blk *iso2;
	struct sreq *q;
	uint8_t stb;

	lun = add_cd(s, 0, 0, NULL);
	disk = st_add_disk(s, 0, 1, 1u << 20, 512);
	st_clear_ua(s, 0, 0);
	assert_int_equal(vdev_scsi_lun_set_medium(NULL, NULL, 0), -EINVAL);
	assert_int_equal(vdev_scsi_lun_set_medium(disk, NULL, 0), -ENOTSUP);
	assert_int_equal(vdev_scsi_lun_capacity_changed(lun), -ENOMEDIUM);
	/* Insert: unit attention 28h/00h, NEW MEDIA, the bus event, then data. */
	iso2 = make_iso(s, 64);
	assert_int_equal(vdev_scsi_lun_set_medium(lun, iso2, 0), 0);
	st_track(s, 0, 0, iso2);
	assert_int_equal(count_events(s, VDEV_SCSI_EV_MEDIUM_CHANGED), 1);
	assert_int_equal(gesn(s, 0, &stb), 2);
	assert_int_equal(stb, 0x02);
	st_cmd_sense(s, 0, 0, cdb, st_cdb_rw(cdb, 0x28, 0, 1), VDEV_SCSI_SK_UNIT_ATTENTION,
		     0x28, 0x00);
	q = st_cmd(s, 0, 0, cdb, st_cdb_rw(cdb, 0x28, 63, 1), NULL, 0, SECT);
	st_expect_good(q);
	assert_int_equal(q->in[0], (uint8_t)(63 * 7));
	sreq_free(q);
	/* Locked: refused without force; forced removal works. */
	prevent(s, 0, 1);
	assert_int_equal(vdev_scsi_lun_set_medium(lun, NULL, 0), -EBUSY);
	st_cmd_good(s, 0, 0, tur, 6);
	assert_int_equal(vdev_scsi_lun_set_medium(lun, NULL, 1), 0);
	st_untrack(s, 0, 0);
	assert_int_equal(gesn(s, 0, &stb), 3);
	assert_int_equal(stb, 0x01);          /* no medium, tray open */
	st_cmd_sense(s, 0, 0, tur, 6, VDEV_SCSI_SK_UNIT_ATTENTION, 0x3a, 0x00);
	st_cmd_sense(s, 0, 0, tur, 6, VDEV_SCSI_SK_NOT_READY, 0x3a, 0x02);
	/* Insert then remove before the guest looked: the newest unit attention only. */
	prevent(s, 0, 0);
	iso2 = make_iso(s, 8);
	assert_int_equal(vdev_scsi_lun_set_medium(lun, iso2, 0), 0);
	assert_int_equal(vdev_scsi_lun_set_medium(lun, NULL, 0), 0);
	st_cmd_sense(s, 0, 0, tur, 6, VDEV_SCSI_SK_UNIT_ATTENTION, 0x3a, 0x00);
	st_cmd_sense(s, 0, 0, tur, 6, VDEV_SCSI_SK_NOT_READY, 0x3a, 0x02);
	/* Replacing a medium in place. */
	iso2 = make_iso(s, 8);
	assert_int_equal(vdev_scsi_lun_set_medium(lun, iso2, 0), 0);
	st_track(s, 0, 0, iso2);
	iso2 = make_iso(s, 16);
	assert_int_equal(vdev_scsi_lun_set_medium(lun, iso2, 0), 0);
	st_track(s, 0, 0, iso2);
	st_cmd_sense(s, 0, 0, tur, 6, VDEV_SCSI_SK_UNIT_ATTENTION, 0x28, 0x00);
	{
		uint8_t rc10[10] = { 0x25 };

		q = st_cmd(s, 0, 0, rc10, 10, NULL, 0, 8);
		st_expect_good(q);
		assert_int_equal(st_get_be(q->in, 4), 15);
		sreq_free(q);
	}
	assert_int_equal(count_events(s, VDEV_SCSI_EV_MEDIUM_CHANGED), 7);
}

static int save(struct st *s, uint8_t **blob, size_t *len)
{
	vdev_state_writer *w;
	const void *data;
	int rc;

	assert_int_equal(vdev_state_writer_new(&w), 0);
	rc = vdev_scsi_bus_save(s->bus, w);
	if (!rc)
		rc = vdev_state_writer_finish(w, &data, len);
	if (!rc) {
		*blob = malloc(*len);
		assert_non_null(*blob);
		memcpy(*blob, data, *len);
	}
	vdev_state_writer_free(w);
	return rc;
}

static int load(struct st *s, const uint8_t *blob, size_t len)
{
	vdev_state_reader *r;
	int rc = vdev_state_reader_new(blob, len, &r);

	if (rc)
		return rc;
	rc = vdev_scsi_bus_load(s->bus, r);
	vdev_state_reader_free(r);
	return rc;
}

static void test_save_load(void **state)
{
	struct st *s = *state, *d, *e;
	uint8_t *blob = NULL;
	size_t len = 0;
	uint8_t stb;

	add_cd(s, 0, 0, make_iso(s, ISO_SECTORS));
	add_cd(s, 0, 1, make_iso(s, ISO_SECTORS));
	st_clear_ua(s, 0, 0);
	st_clear_ua(s, 0, 1);
	/* LUN 0: tray open, media removal pending. LUN 1: locked, eject request pending. */
	start_stop(s, 0, 0x02, 0, 0, 0);
	prevent(s, 1, 1);
	assert_int_equal(vdev_scsi_lun_set_medium(vdev_scsi_lun_find(s->bus, 0, 1), NULL, 0),
			 -EBUSY);
	assert_int_equal(save(s, &blob, &len), 0);

	d = st_new();
	add_cd(d, 0, 0, make_iso(d, ISO_SECTORS));
	add_cd(d, 0, 1, make_iso(d, ISO_SECTORS));
	assert_int_equal(load(d, blob, len), 0);
	st_cmd_sense(d, 0, 0, tur, 6, VDEV_SCSI_SK_NOT_READY, 0x3a, 0x02);
	assert_int_equal(gesn(d, 0, &stb), 3);
	assert_int_equal(stb, 0x03);
	st_cmd_good(d, 0, 1, tur, 6);
	assert_int_equal(gesn(d, 1, &stb), 1);
	start_stop(d, 1, 0x02, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x53, 0x02);
	start_stop(d, 0, 0x03, 0, 0, 0);
	st_cmd_good(d, 0, 0, tur, 6);
	st_free(d);

	/* A medium the saved drive had is missing here: refused, nothing changed. */
	e = st_new();
	add_cd(e, 0, 0, make_iso(e, ISO_SECTORS));
	add_cd(e, 0, 1, NULL);
	assert_int_equal(load(e, blob, len), -EINVAL);
	/* Still the power-on and REPORTED LUNS DATA HAS CHANGED attentions of a new bus. */
	st_cmd_sense(e, 0, 0, tur, 6, VDEV_SCSI_SK_UNIT_ATTENTION, 0x29, 0x00);
	assert_int_equal(st_clear_ua(e, 0, 0), 1);
	st_cmd_good(e, 0, 0, tur, 6);
	st_free(e);
	free(blob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_drive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_toc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_configuration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dvd_profile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disc_track_mech, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode_page_2a, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gesn_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_lock_eject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmm_medium, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
