/* SPDX-License-Identifier: MIT */
/*
 * PASSTHROUGH LUNs and the "sg" block driver, against a fake SG_IO (the
 * driver's test hook replaces every ioctl; the device node is /dev/null):
 * what reaches the host (CDB, its length, direction, buffers, timeout),
 * what comes back (status, sense byte for byte, residual), the deny
 * policy, the Block Limits clamp, host failures, task management and LUN
 * removal with SG_IO in flight, the bus's own answers (REPORT LUNS, unit
 * attentions), and the driver's refusals.
 */
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <scsi/sg.h>
#include <time.h>
#include <unistd.h>

#include "block/blk_internal.h"
#include "scsi_test_util.h"

#define FAKE_BLOCKS 4096u
#define FAKE_MAX_SENSE 252

/* The fake device. Its lock guards everything: workers call it concurrently. */
struct fake {
	pthread_mutex_t lock;
	/* configuration */
	int version;                    /* SG_GET_VERSION_NUM */
	int sectget;                    /* BLKSECTGET (bytes on an sg node); 0: fails */
	int tablesize;                  /* SG_GET_SG_TABLESIZE; 0: fails */
	uint32_t lbs;
	uint32_t b0_max, b0_opt;        /* what the device's Block Limits page says */
	unsigned int delay_ms;          /* every SG_IO sleeps this long */
	/* one-shot answer for the next SG_IO (armed) */
	bool armed;
	int err;                        /* ioctl result */
	uint8_t status, host, driver;
	int resid;
	uint8_t sense[FAKE_MAX_SENSE];
	unsigned int sense_len;
	/* record */
	unsigned int n_sgio, n_done;
	int in_sgio;
	uint8_t cdb[64];
	unsigned int cdb_len, iovec_count, dxfer_len, timeout, mx_sb_len;
	int dir;
	uint8_t out[65536];             /* the last data-out */
	uint8_t disk[FAKE_BLOCKS * 512];
};

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	f->version = 30536;
	f->sectget = 1 << 20;
	f->tablesize = 1024;
	f->lbs = 512;
	f->b0_max = 0xffffffffu;
	f->b0_opt = 0x100000u;
	for (size_t i = 0; i < sizeof(f->disk); i++)
		f->disk[i] = (uint8_t)(i * 7 + (i >> 9));
}

/* Copy between the SG_IO buffers and @buf (to the host when @to_host). */
static size_t fake_xfer(const sg_io_hdr_t *h, uint8_t *buf, size_t len, bool to_host)
{
	size_t done = 0;

	len = len < h->dxfer_len ? len : h->dxfer_len;
	if (!h->iovec_count) {
		if (to_host)
			memcpy(buf, h->dxferp, len);
		else
			memcpy(h->dxferp, buf, len);
		return len;
	}
	for (unsigned int i = 0; i < h->iovec_count && done < len; i++) {
		const sg_iovec_t *v = (const sg_iovec_t *)h->dxferp + i;
		size_t n = v->iov_len < len - done ? v->iov_len : len - done;

		if (to_host)
			memcpy(buf + done, v->iov_base, n);
		else
			memcpy(v->iov_base, buf + done, n);
		done += n;
	}
	return done;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	st_put_be(p, v, 4);
}

/* The device's own behaviour (when no one-shot answer is armed). */
static void fake_run(struct fake *f, sg_io_hdr_t *h)
{
	const uint8_t *cdb = h->cmdp;
	uint8_t buf[4096];
	size_t n = 0;

	memset(buf, 0, sizeof(buf));
	switch (cdb[0]) {
	case 0x12:
		if (cdb[1] & 1) {
			buf[1] = cdb[2];
			buf[3] = 0x3c;
			if (cdb[2] == 0xb0) {
				put_be32(buf + 8, f->b0_max);
				put_be32(buf + 12, f->b0_opt);
			}
			n = 64;
		} else {
			buf[4] = 31;
			memcpy(buf + 8, "FAKEVENDFAKE PRODUCT    1.00", 28);
			n = 36;
		}
		break;
	case 0x25:
		put_be32(buf, FAKE_BLOCKS - 1);
		put_be32(buf + 4, f->lbs);
		n = 8;
		break;
	case 0x28: {
		uint64_t lba = st_get_be(cdb + 2, 4), cnt = st_get_be(cdb + 7, 2);

		n = (size_t)(cnt * 512);
		if (lba + cnt <= FAKE_BLOCKS && n <= sizeof(buf)) {
			fake_xfer(h, f->disk + lba * 512, n, false);
			h->resid = (int)(h->dxfer_len - n);
			return;
		}
		n = 0;
		break;
	}
	case 0x2a:
		fake_xfer(h, f->out, sizeof(f->out), true);
		return;
	default:
		if (h->dxfer_direction == SG_DXFER_TO_DEV)
			fake_xfer(h, f->out, sizeof(f->out), true);
		return;
	}
	if (h->dxfer_direction == SG_DXFER_FROM_DEV) {
		size_t got = fake_xfer(h, buf, n, false);

		h->resid = (int)(h->dxfer_len - got);
	}
}

static int fake_ioctl(void *opaque, int fd, unsigned long request, void *arg)
{
	struct fake *f = opaque;
	sg_io_hdr_t *h = arg;
	unsigned int delay;
	int rc = 0;

	(void)fd;
	switch (request) {
	case SG_GET_VERSION_NUM:
		*(int *)arg = f->version;
		return 0;
	case BLKSECTGET:
		if (!f->sectget)
			return -ENOTTY;
		*(int *)arg = f->sectget;
		return 0;
	case SG_GET_SG_TABLESIZE:
		if (!f->tablesize)
			return -ENOTTY;
		*(int *)arg = f->tablesize;
		return 0;
	case SG_IO:
		break;
	default:
		return -ENOTTY;
	}
	assert_true(h->interface_id == 'S');
	pthread_mutex_lock(&f->lock);
	f->n_sgio++;
	f->in_sgio++;
	memcpy(f->cdb, h->cmdp, h->cmd_len < 64 ? h->cmd_len : 64);
	f->cdb_len = h->cmd_len;
	f->iovec_count = h->iovec_count;
	f->dxfer_len = h->dxfer_len;
	f->timeout = h->timeout;
	f->mx_sb_len = h->mx_sb_len;
	f->dir = h->dxfer_direction;
	delay = f->delay_ms;
	pthread_mutex_unlock(&f->lock);
	if (delay)
		usleep(delay * 1000);
	pthread_mutex_lock(&f->lock);
	h->status = 0;
	h->host_status = 0;
	h->driver_status = 0;
	h->sb_len_wr = 0;
	h->resid = 0;
	h->duration = 1;
	if (f->armed) {
		f->armed = false;
		rc = f->err;
		h->status = f->status;
		h->host_status = f->host;
		h->driver_status = f->driver;
		h->resid = f->resid;
		if (f->sense_len && h->mx_sb_len) {
			unsigned int n = f->sense_len < h->mx_sb_len ? f->sense_len : h->mx_sb_len;

			memcpy(h->sbp, f->sense, n);
			h->sb_len_wr = (unsigned char)n;
		}
		if (!rc && h->dxfer_direction == SG_DXFER_TO_DEV)
			fake_xfer(h, f->out, sizeof(f->out), true);
	} else {
		fake_run(f, h);
	}
	f->in_sgio--;
	f->n_done++;
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static unsigned int fake_count(struct fake *f)
{
	unsigned int n;

	pthread_mutex_lock(&f->lock);
	n = f->n_sgio;
	pthread_mutex_unlock(&f->lock);
	return n;
}

static void fake_arm(struct fake *f, int err, uint8_t status, uint8_t host, uint8_t driver,
		     int resid, const uint8_t *sense, unsigned int sense_len)
{
	pthread_mutex_lock(&f->lock);
	f->armed = true;
	f->err = err;
	f->status = status;
	f->host = host;
	f->driver = driver;
	f->resid = resid;
	f->sense_len = sense_len;
	if (sense_len)
		memcpy(f->sense, sense, sense_len);
	pthread_mutex_unlock(&f->lock);
}

/* ---- fixture ---- */

struct pt {
	struct st *s;
	struct fake f;
};

static vdev_blk *pt_open(struct pt *p, uint32_t threads, int readonly)
{
	struct vdev__blk_sg_hooks hooks = { .ioctl = fake_ioctl, .opaque = &p->f };
	struct vdev_blk_opts o = {
		.struct_size = sizeof(o),
		.driver = "sg",
		.path = "/dev/null",
		.threads = threads,
		.readonly = readonly,
	};
	vdev_blk *blk = NULL;

	assert_int_equal(vdev__blk_open_hooked(p->s->mv.ctx, &o, &hooks, &blk), 0);
	assert_non_null(blk);
	return blk;
}

/* A pass-through LUN (@t, @l) with @opts' policy fields (NULL: defaults); UA cleared. */
static vdev_scsi_lun *pt_add(struct pt *p, uint16_t t, uint16_t l,
			     const struct vdev_scsi_lun_opts *opts)
{
	struct vdev_scsi_lun_opts o = { .struct_size = sizeof(o) };
	vdev_scsi_lun *lun;
	unsigned int before;

	if (opts)
		o = *opts;
	o.type = VDEV_SCSI_LUN_PASSTHROUGH;
	if (!o.blk)
		o.blk = pt_open(p, 0, o.readonly);
	lun = st_add(p->s, t, l, &o);
	before = fake_count(&p->f);
	st_clear_ua(p->s, t, l);
	/* The unit attention is the bus's: it never reached the device. */
	assert_int_equal(fake_count(&p->f), before + 1);
	return lun;
}

static int setup(void **state)
{
	struct pt *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	p->s = st_new();
	fake_init(&p->f);
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct pt *p = *state;

	st_free(p->s);
	pthread_mutex_destroy(&p->f.lock);
	free(p);
	return 0;
}

static void cdb10(uint8_t *cdb, uint8_t op, uint32_t lba, uint16_t n)
{
	memset(cdb, 0, 10);
	cdb[0] = op;
	st_put_be(cdb + 2, lba, 4);
	st_put_be(cdb + 7, n, 2);
}

/* ---- forwarding ---- */

static void test_forward_read_iovecs(void **state)
{
	struct pt *p = *state;
	uint8_t cdb[10], a[512], b[1024], c[512];
	struct iovec iov[3] = { { a, sizeof(a) }, { b, sizeof(b) }, { c, sizeof(c) } };
	struct sreq *q;

	pt_add(p, 0, 0, NULL);
	cdb10(cdb, 0x28, 8, 4);
	q = sreq_new(0, 0, cdb, 10, NULL, 0, 0);
	q->r.cdb_len = 32; /* a virtio-scsi CDB field: the opcode says 10 */
	q->r.data_in = iov;
	q->r.data_in_cnt = 3;
	st_submit(p->s, q);
	st_wait(p->s, q);
	st_expect_good(q);
	assert_int_equal(p->f.cdb_len, 10);
	assert_memory_equal(p->f.cdb, cdb, 10);
	assert_int_equal(p->f.dir, SG_DXFER_FROM_DEV);
	assert_int_equal(p->f.iovec_count, 3);
	assert_int_equal(p->f.dxfer_len, 2048);
	assert_int_equal(p->f.timeout, 30000);
	assert_int_equal(p->f.mx_sb_len, VDEV_SCSI_SENSE_SIZE);
	assert_memory_equal(a, p->f.disk + 8 * 512, 512);
	assert_memory_equal(b, p->f.disk + 9 * 512, 1024);
	assert_memory_equal(c, p->f.disk + 11 * 512, 512);
	assert_int_equal(q->r.data_in_len, 2048);
	assert_int_equal(q->r.residual, 0);
	sreq_free(q);
}

static void test_forward_write_and_timeout(void **state)
{
	struct pt *p = *state;
	struct vdev_scsi_lun_opts o = { .struct_size = sizeof(o), .sg_timeout_ms = 1234 };
	uint8_t cdb[10], a[700], b[324];
	struct iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	struct sreq *q;

	memset(a, 0x11, sizeof(a));
	memset(b, 0x22, sizeof(b));
	pt_add(p, 0, 0, &o);
	cdb10(cdb, 0x2a, 1, 2);
	q = sreq_new(0, 0, cdb, 10, NULL, 0, 0);
	q->r.data_out = iov;
	q->r.data_out_cnt = 2;
	st_submit(p->s, q);
	st_wait(p->s, q);
	st_expect_good(q);
	assert_int_equal(p->f.dir, SG_DXFER_TO_DEV);
	assert_int_equal(p->f.dxfer_len, 1024);
	assert_int_equal(p->f.iovec_count, 2);
	assert_int_equal(p->f.timeout, 1234);
	assert_memory_equal(p->f.out, a, sizeof(a));
	assert_memory_equal(p->f.out + 700, b, sizeof(b));
	assert_int_equal(q->r.data_out_len, 1024);
	assert_int_equal(q->r.residual, 0);
	sreq_free(q);

	/* No data: SG_DXFER_NONE. */
	memset(cdb, 0, sizeof(cdb));
	q = st_cmd(p->s, 0, 0, cdb, 6, NULL, 0, 0);
	st_expect_good(q);
	assert_int_equal(p->f.dir, SG_DXFER_NONE);
	assert_int_equal(p->f.cdb_len, 6);
	assert_int_equal(p->f.dxfer_len, 0);
	sreq_free(q);
}

/* More segments than the host queue takes: one bounce buffer, scattered back. */
static void test_bounce_many_segments(void **state)
{
	struct pt *p = *state;
	uint8_t cdb[10], buf[4][512], out[5][100];
	struct iovec iov[5];
	struct sreq *q;

	p->f.tablesize = 2;
	pt_add(p, 0, 0, NULL);
	for (int i = 0; i < 4; i++)
		iov[i] = (struct iovec){ buf[i], 512 };
	cdb10(cdb, 0x28, 100, 4);
	q = sreq_new(0, 0, cdb, 10, NULL, 0, 0);
	q->r.data_in = iov;
	q->r.data_in_cnt = 4;
	st_submit(p->s, q);
	st_wait(p->s, q);
	st_expect_good(q);
	assert_int_equal(p->f.iovec_count, 0);
	assert_int_equal(p->f.dxfer_len, 2048);
	for (int i = 0; i < 4; i++)
		assert_memory_equal(buf[i], p->f.disk + (100 + i) * 512, 512);
	sreq_free(q);

	/* Data-out is gathered. */
	for (int i = 0; i < 5; i++) {
		memset(out[i], 0x30 + i, 100);
		iov[i] = (struct iovec){ out[i], 100 };
	}
	cdb10(cdb, 0x2a, 0, 1);
	q = sreq_new(0, 0, cdb, 10, NULL, 0, 0);
	q->r.data_out = iov;
	q->r.data_out_cnt = 5;
	st_submit(p->s, q);
	st_wait(p->s, q);
	st_expect_good(q);
	assert_int_equal(p->f.iovec_count, 0);
	for (int i = 0; i < 5; i++)
		assert_memory_equal(p->f.out + i * 100, out[i], 100);
	sreq_free(q);
}

/* The transport's CDB field must hold the command the opcode's group implies. */
static void test_cdb_lengths(void **state)
{
	struct pt *p = *state;
	uint8_t cdb[32] = { 0x28 };
	struct sreq *q;
	unsigned int n;

	pt_add(p, 0, 0, NULL);
	n = fake_count(&p->f);
	q = st_cmd(p->s, 0, 0, cdb, 6, NULL, 0, 512); /* READ(10) in 6 bytes */
	assert_int_equal(q->r.response, VDEV_SCSI_RESP_FAILURE);
	assert_int_equal(fake_count(&p->f), n);
	sreq_free(q);

	/* 7Fh: ADDITIONAL CDB LENGTH in byte 7. */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x7f;
	cdb[7] = 24;
	q = st_cmd(p->s, 0, 0, cdb, 32, NULL, 0, 0);
	st_expect_good(q);
	assert_int_equal(p->f.cdb_len, 32);
	sreq_free(q);
	cdb[7] = 40; /* 48 bytes: more than the transport has */
	q = st_cmd(p->s, 0, 0, cdb, 32, NULL, 0, 0);
	assert_int_equal(q->r.response, VDEV_SCSI_RESP_FAILURE);
	sreq_free(q);

	/* Vendor specific (group 6): what the transport gave. */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0xc5;
	q = st_cmd(p->s, 0, 0, cdb, 12, NULL, 0, 0);
	st_expect_good(q);
	assert_int_equal(p->f.cdb_len, 12);
	assert_int_equal(p->f.cdb[0], 0xc5);
	sreq_free(q);

	/* 16- and 12-byte groups. */
	cdb[0] = 0x88;
	q = st_cmd(p->s, 0, 0, cdb, 32, NULL, 0, 0);
	assert_int_equal(p->f.cdb_len, 16);
	sreq_free(q);
	cdb[0] = 0xa8;
	q = st_cmd(p->s, 0, 0, cdb, 16, NULL, 0, 0);
	assert_int_equal(p->f.cdb_len, 12);
	sreq_free(q);
}

static void test_bidirectional_refused(void **state)
{
	struct pt *p = *state;
	uint8_t cdb[10] = { 0x53 }, out[512] = { 0 };
	struct sreq *q;
	unsigned int n;

	pt_add(p, 0, 0, NULL);
	n = fake_count(&p->f);
	q = st_cmd(p->s, 0, 0, cdb, 10, out, sizeof(out), 512);
	assert_int_equal(q->r.response, VDEV_SCSI_RESP_FAILURE);
	assert_int_equal(fake_count(&p->f), n);
	sreq_free(q);
}

/* ---- results ---- */

static void test_sense_fixed_intact(void **state)
{
	struct pt *p = *state;
	/* Fixed format with vendor bytes and a field pointer the bus would never make. */
	const uint8_t sense[22] = { 0xf0, 0x00, 0x23, 0x12, 0x34, 0x56, 0x78, 14, 0xde, 0xad,
				    0xbe, 0xef, 0x21, 0x00, 0x42, 0xc0, 0x00, 0x07, 0x99, 0x98,
				    0x97, 0x96 };
	uint8_t cdb[10];
	struct sreq *q;

	pt_add(p, 0, 0, NULL);
	fake_arm(&p->f, 0, VDEV_SCSI_CHECK_CONDITION, 0, VDEV__DRIVER_SENSE, 0, sense,
		 sizeof(sense));
	cdb10(cdb, 0x28, 0xffffff, 1);
	q = st_cmd(p->s, 0, 0, cdb, 10, NULL, 0, 512);
	assert_int_equal(q->r.response, VDEV_SCSI_RESP_OK);
	assert_int_equal(q->r.status, VDEV_SCSI_CHECK_CONDITION);
	assert_int_equal(q->r.sense_len, sizeof(sense));
	assert_memory_equal(q->sense, sense, sizeof(sense));
	sreq_free(q);
}

static void test_sense_descriptor_intact(void **state)
{
	struct pt *p = *state;
	uint8_t sense[40] = { 0x72, 0x03, 0x11, 0x00, 0, 0, 0, 32 };
	uint8_t cdb[10];
	struct sreq *q;

	for (int i = 8; i < 40; i++)
		sense[i] = (uint8_t)(i * 13);
	sense[8] = 0x00;
	sense[9] = 0x0a;
	pt_add(p, 0, 0, NULL);
	fake_arm(&p->f, 0, VDEV_SCSI_CHECK_CONDITION, 0, VDEV__DRIVER_SENSE, 0, sense,
		 sizeof(sense));
	cdb10(cdb, 0x28, 0, 1);
	q = st_cmd(p->s, 0, 0, cdb, 10, NULL, 0, 512);
	assert_int_equal(q->r.status, VDEV_SCSI_CHECK_CONDITION);
	assert_int_equal(q->r.sense_len, sizeof(sense));
	assert_memory_equal(q->sense, sense, sizeof(sense));
	sreq_free(q);
}

/* Long sense: truncated to the transport's sense_cap, never beyond it. */
static void test_sense_long_truncated(void **state)
{
	struct pt *p = *state;
	uint8_t sense[FAKE_MAX_SENSE], big[300];
	uint8_t cdb[6] = { 0 };
	struct sreq *q;

	for (unsigned int i = 0; i < sizeof(sense); i++)
		sense[i] = (uint8_t)(0x80 + i);
	sense[0] = 0x72;
	pt_add(p, 0, 0, NULL);

	fake_arm(&p->f, 0, VDEV_SCSI_CHECK_CONDITION, 0, VDEV__DRIVER_SENSE, 0, sense, 200);
	q = sreq_new(0, 0, cdb, 6, NULL, 0, 0);
	memset(q->sense, 0xee, sizeof(q->sense));
	q->r.sense_cap = 20;
	st_submit(p->s, q);
	st_wait(p->s, q);
	assert_int_equal(q->r.status, VDEV_SCSI_CHECK_CONDITION);
	assert_int_equal(p->f.mx_sb_len, 20);
	assert_int_equal(q->r.sense_len, 20);
	assert_memory_equal(q->sense, sense, 20);
	assert_int_equal(q->sense[20], 0xee); /* nothing written past sense_cap */
	sreq_free(q);

	/* A transport with more room than SG_IO has: up to 252 bytes, intact. */
	fake_arm(&p->f, 0, VDEV_SCSI_CHECK_CONDITION, 0, VDEV__DRIVER_SENSE, 0, sense,
		 sizeof(sense));
	q = sreq_new(0, 0, cdb, 6, NULL, 0, 0);
	q->r.sense = big;
	q->r.sense_cap = sizeof(big);
	st_submit(p->s, q);
	st_wait(p->s, q);
	assert_int_equal(p->f.mx_sb_len, 252);
	assert_int_equal(q->r.sense_len, 252);
	assert_memory_equal(big, sense, 252);
	sreq_free(q);

	/* No sense buffer at all. */
	fake_arm(&p->f, 0, VDEV_SCSI_CHECK_CONDITION, 0, VDEV__DRIVER_SENSE, 0, sense, 18);
	q = sreq_new(0, 0, cdb, 6, NULL, 0, 0);
	q->r.sense = NULL;
	q->r.sense_cap = 0;
	st_submit(p->s, q);
	st_wait(p->s, q);
	assert_int_equal(q->r.status, VDEV_SCSI_CHECK_CONDITION);
	assert_int_equal(q->r.sense_len, 0);
	sreq_free(q);
}

static void test_status_and_residual(void **state)
{
	struct pt *p = *state;
	uint8_t cdb[10], data[2048];
	struct sreq *q;

	pt_add(p, 0, 0, NULL);
	/* Short data-in: the device moved 1536 of 2048. */
	fake_arm(&p->f, 0, VDEV_SCSI_GOOD, 0, 0, 512, NULL, 0);
	cdb10(cdb, 0x28, 0, 4);
	q = st_cmd(p->s, 0, 0, cdb, 10, NULL, 0, 2048);
	st_expect_good(q);
	assert_int_equal(q->r.data_in_len, 1536);
	assert_int_equal(q->r.residual, 512);
	sreq_free(q);

	/* Short data-out. */
	memset(data, 1, sizeof(data));
	fake_arm(&p->f, 0, VDEV_SCSI_GOOD, 0, 0, 1000, NULL, 0);
	cdb10(cdb, 0x2a, 0, 4);
	q = st_cmd(p->s, 0, 0, cdb, 10, data, sizeof(data), 0);
	st_expect_good(q);
	assert_int_equal(q->r.data_out_len, 1048);
	assert_int_equal(q->r.residual, 1000);
	sreq_free(q);

	/* A residual larger than the buffer cannot make the length negative. */
	fake_arm(&p->f, 0, VDEV_SCSI_GOOD, 0, 0, 1 << 30, NULL, 0);
	cdb10(cdb, 0x28, 0, 4);
	q = st_cmd(p->s, 0, 0, cdb, 10, NULL, 0, 2048);
	assert_int_equal(q->r.data_in_len, 0);
	assert_int_equal(q->r.residual, 2048);
	sreq_free(q);

	/* Statuses pass through as they are. */
	const uint8_t statuses[] = { VDEV_SCSI_RESERVATION_CONFLICT, VDEV_SCSI_BUSY,
				     VDEV_SCSI_TASK_SET_FULL, VDEV_SCSI_CONDITION_MET };
	for (size_t i = 0; i < sizeof(statuses); i++) {
		fake_arm(&p->f, 0, statuses[i], 0, 0, 0, NULL, 0);
		q = st_cmd(p->s, 0, 0, cdb, 10, NULL, 0, 2048);
		assert_int_equal(q->r.response, VDEV_SCSI_RESP_OK);
		assert_int_equal(q->r.status, statuses[i]);
		assert_int_equal(q->r.sense_len, 0);
		sreq_free(q);
	}
}

/* ---- policy ---- */

static void expect_refused(struct pt *p, uint8_t op)
{
	uint8_t cdb[16] = { op };
	unsigned int n = fake_count(&p->f);
	struct sreq *q = st_cmd(p->s, 0, 0, cdb, 16, NULL, 0, 0);

	st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	assert_int_equal(fake_count(&p->f), n);
	sreq_free(q);
}

static void expect_forwarded(struct pt *p, uint8_t op)
{
	uint8_t cdb[16] = { op };
	unsigned int n = fake_count(&p->f);
	struct sreq *q = st_cmd(p->s, 0, 0, cdb, 16, NULL, 0, 0);

	st_expect_good(q);
	assert_int_equal(fake_count(&p->f), n + 1);
	assert_int_equal(p->f.cdb[0], op);
	sreq_free(q);
}

static void test_deny_default(void **state)
{
	struct pt *p = *state;
	const uint8_t deny[] = { 0x3b, 0x04, 0xb5, 0x48, 0x3f, 0x9f, 0x5f, 0x16, 0x17,
				 0x56, 0x57, 0x1d, 0x15, 0x55, 0x07, 0x83, 0xa4 };
	const uint8_t allow[] = { 0x00, 0x1a, 0x5a, 0x35, 0x1b, 0x5e, 0x3c, 0xa2 };

	pt_add(p, 0, 0, NULL);
	for (size_t i = 0; i < sizeof(deny); i++)
		expect_refused(p, deny[i]);
	for (size_t i = 0; i < sizeof(allow); i++)
		expect_forwarded(p, allow[i]);
}

static void test_deny_custom_and_allow_all(void **state)
{
	struct pt *p = *state;
	uint8_t bitmap[VDEV_SCSI_SG_DENY_SIZE] = { 0 };
	struct vdev_scsi_lun_opts o = { .struct_size = sizeof(o), .sg_deny = bitmap };

	bitmap[0x28 / 8] |= 1u << (0x28 % 8);
	bitmap[0xff / 8] |= 1u << (0xff % 8);
	pt_add(p, 0, 0, &o);
	memset(bitmap, 0, sizeof(bitmap)); /* the bus kept its own copy */
	expect_refused(p, 0x28);
	expect_refused(p, 0xff);
	expect_forwarded(p, 0x3b); /* the default list does not apply */
	expect_forwarded(p, 0x04);

	o.sg_deny = NULL;
	o.sg_flags = VDEV_SCSI_SG_ALLOW_ALL;
	pt_add(p, 0, 1, &o);
	{
		uint8_t cdb[6] = { 0x04 };
		unsigned int n = fake_count(&p->f);
		struct sreq *q = st_cmd(p->s, 0, 1, cdb, 6, NULL, 0, 0);

		st_expect_good(q);
		assert_int_equal(fake_count(&p->f), n + 1);
		sreq_free(q);
	}
}

static void test_readonly_refuses_writes(void **state)
{
	struct pt *p = *state;
	struct vdev_scsi_lun_opts o = { .struct_size = sizeof(o), .readonly = 1 };
	const uint8_t writes[] = { 0x0a, 0x2a, 0x8a, 0xaa, 0x41, 0x93, 0x42, 0x89, 0x2e };
	uint8_t cdb[16] = { 0 }, data[512] = { 0 };
	struct sreq *q;
	unsigned int n;

	pt_add(p, 0, 0, &o);
	for (size_t i = 0; i < sizeof(writes); i++) {
		cdb[0] = writes[i];
		n = fake_count(&p->f);
		q = st_cmd(p->s, 0, 0, cdb, 16, data, sizeof(data), 0);
		st_expect_sense(q, VDEV_SCSI_SK_DATA_PROTECT, 0x27, 0x00);
		assert_int_equal(fake_count(&p->f), n);
		sreq_free(q);
	}
	cdb10(cdb, 0x28, 0, 1);
	q = st_cmd(p->s, 0, 0, cdb, 10, NULL, 0, 512);
	st_expect_good(q);
	sreq_free(q);
}

/* ---- Block Limits ---- */

static void b0(struct pt *p, uint16_t lun, uint32_t *mx, uint32_t *opt, size_t alloc)
{
	uint8_t cdb[6] = { 0x12, 0x01, 0xb0, 0, (uint8_t)alloc, 0 };
	struct sreq *q = st_cmd(p->s, 0, lun, cdb, 6, NULL, 0, alloc);

	st_expect_good(q);
	assert_int_equal(q->in[1], 0xb0);
	*mx = (uint32_t)st_get_be(q->in + 8, 4);
	*opt = (uint32_t)st_get_be(q->in + 12, 4);
	sreq_free(q);
}

static void test_vpd_b0_clamp(void **state)
{
	struct pt *p = *state;
	uint32_t mx, opt;

	/* 1 MiB host limit, 512-byte blocks: 2048 blocks. */
	pt_add(p, 0, 0, NULL);
	b0(p, 0, &mx, &opt, 64);
	assert_int_equal(mx, 2048);
	assert_int_equal(opt, 2048);

	/* "No limit" (0) is clamped too; a smaller OPTIMAL is left alone. */
	p->f.b0_max = 0;
	p->f.b0_opt = 64;
	b0(p, 0, &mx, &opt, 64);
	assert_int_equal(mx, 2048);
	assert_int_equal(opt, 64);

	/* Within the limit: untouched. */
	p->f.b0_max = 100;
	p->f.b0_opt = 50;
	b0(p, 0, &mx, &opt, 64);
	assert_int_equal(mx, 100);
	assert_int_equal(opt, 50);

	/* An allocation length too short for the fields: nothing patched, nothing overrun. */
	p->f.b0_max = 0xffffffffu;
	{
		uint8_t cdb[6] = { 0x12, 0x01, 0xb0, 0, 12, 0 };
		struct sreq *q = st_cmd(p->s, 0, 0, cdb, 6, NULL, 0, 12);

		st_expect_good(q);
		assert_int_equal(q->r.data_in_len, 12);
		assert_int_equal(st_get_be(q->in + 8, 4), 0xffffffffu);
		sreq_free(q);
	}
}

static void test_vpd_b0_clamp_4k(void **state)
{
	struct pt *p = *state;
	uint8_t cdb[10] = { 0x25 };
	uint32_t mx, opt;
	struct sreq *q;

	p->f.lbs = 4096;
	p->f.sectget = 512 * 1024;
	pt_add(p, 0, 0, NULL);
	b0(p, 0, &mx, &opt, 64);
	assert_int_equal(mx, 128);  /* 512 KiB of 4 KiB blocks */
	assert_int_equal(opt, 128);

	/* The block size learnt at open is also learnt from READ CAPACITY replies. */
	p->f.lbs = 512;
	q = st_cmd(p->s, 0, 0, cdb, 10, NULL, 0, 8);
	st_expect_good(q);
	sreq_free(q);
	b0(p, 0, &mx, &opt, 64);
	assert_int_equal(mx, 1024);

	/* No host limit known: the device's page is passed on as it is. */
	p->f.sectget = 0;
	pt_add(p, 0, 1, NULL);
	b0(p, 1, &mx, &opt, 64);
	assert_int_equal(mx, 0xffffffffu);
}

/* ---- host failures ---- */

static struct sreq *run_armed(struct pt *p, int err, uint8_t host, uint8_t driver)
{
	uint8_t cdb[10];

	fake_arm(&p->f, err, 0, host, driver, 0, NULL, 0);
	cdb10(cdb, 0x28, 0, 1);
	return st_cmd(p->s, 0, 0, cdb, 10, NULL, 0, 512);
}

static void test_host_timeout(void **state)
{
	struct pt *p = *state;
	struct sreq *q;

	pt_add(p, 0, 0, NULL);
	q = run_armed(p, 0, VDEV__DID_TIME_OUT, 0);
	assert_int_equal(q->r.response, VDEV_SCSI_RESP_OK);
	st_expect_sense(q, VDEV_SCSI_SK_ABORTED_COMMAND, 0x44, 0x00);
	assert_int_equal(q->r.data_in_len, 0);
	assert_true(mock_vmm_log_contains(&p->s->mv, "timed out"));
	sreq_free(q);

	q = run_armed(p, 0, 0, VDEV__DRIVER_TIMEOUT);
	st_expect_sense(q, VDEV_SCSI_SK_ABORTED_COMMAND, 0x44, 0x00);
	sreq_free(q);
}

static void test_host_errors(void **state)
{
	struct pt *p = *state;
	const struct {
		int err;
		uint8_t host, driver;
		uint8_t response, status;
	} cases[] = {
		{ 0, VDEV__DID_NO_CONNECT, 0, VDEV_SCSI_RESP_BAD_TARGET, 0 },
		{ 0, VDEV__DID_BAD_TARGET, 0, VDEV_SCSI_RESP_BAD_TARGET, 0 },
		{ 0, VDEV__DID_ERROR, 0, VDEV_SCSI_RESP_FAILURE, 0 },
		{ 0, VDEV__DID_ABORT, 0, VDEV_SCSI_RESP_FAILURE, 0 },
		{ 0, VDEV__DID_RESET, 0, VDEV_SCSI_RESP_RESET, 0 },
		{ 0, VDEV__DID_BUS_BUSY, 0, VDEV_SCSI_RESP_OK, VDEV_SCSI_BUSY },
		{ 0, VDEV__DID_REQUEUE, 0, VDEV_SCSI_RESP_OK, VDEV_SCSI_BUSY },
		{ 0, 0, VDEV__DRIVER_BUSY, VDEV_SCSI_RESP_OK, VDEV_SCSI_BUSY },
		{ 0, 0, 0x04 /* DRIVER_ERROR */, VDEV_SCSI_RESP_FAILURE, 0 },
		{ -ENODEV, 0, 0, VDEV_SCSI_RESP_BAD_TARGET, 0 },
		{ -ENXIO, 0, 0, VDEV_SCSI_RESP_BAD_TARGET, 0 },
		{ -ENOMEM, 0, 0, VDEV_SCSI_RESP_OK, VDEV_SCSI_BUSY },
		{ -EIO, 0, 0, VDEV_SCSI_RESP_FAILURE, 0 },
	};
	struct sreq *q;

	pt_add(p, 0, 0, NULL);
	for (size_t i = 0; i < VDEV__ARRAY_SIZE(cases); i++) {
		q = run_armed(p, cases[i].err, cases[i].host, cases[i].driver);
		if (q->r.response != cases[i].response || q->r.status != cases[i].status)
			fprintf(stderr, "case %zu: response %u status %u\n", i, q->r.response,
				q->r.status);
		assert_int_equal(q->r.response, cases[i].response);
		assert_int_equal(q->r.status, cases[i].status);
		assert_int_equal(q->r.data_in_len, 0);
		sreq_free(q);
	}
	/* SG_IO refused the request itself: ILLEGAL REQUEST. */
	q = run_armed(p, -EINVAL, 0, 0);
	st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x24, 0x00);
	sreq_free(q);
	q = run_armed(p, -EPERM, 0, 0);
	st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x20, 0x00);
	sreq_free(q);
}

/* ---- the bus's own answers ---- */

static void test_report_luns_and_ua_from_bus(void **state)
{
	struct pt *p = *state;
	uint8_t rl[12] = { 0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	uint8_t tur[6] = { 0 }, inq[6] = { 0x12, 0, 0, 0, 36, 0 };
	struct vdev_scsi_lun_opts o = { .struct_size = sizeof(o),
					.type = VDEV_SCSI_LUN_PASSTHROUGH };
	struct sreq *q;
	unsigned int n;

	pt_add(p, 0, 0, NULL);
	st_add_disk(p->s, 0, 3, 1 << 20, 512);
	n = fake_count(&p->f);
	q = st_cmd(p->s, 0, 0, rl, 12, NULL, 0, 256);
	/* The LUN added after LUN 0 raised REPORTED LUNS DATA HAS CHANGED on LUN 0. */
	if (q->r.status == VDEV_SCSI_CHECK_CONDITION) {
		st_expect_sense(q, VDEV_SCSI_SK_UNIT_ATTENTION, 0x3f, 0x0e);
		sreq_free(q);
		q = st_cmd(p->s, 0, 0, rl, 12, NULL, 0, 256);
	}
	st_expect_good(q);
	assert_int_equal(st_get_be(q->in, 4), 16); /* two LUNs: this bus's, not the host's */
	assert_int_equal(st_get_be(q->in + 8, 8), 0);
	assert_int_equal(q->in[17], 3);
	assert_int_equal(fake_count(&p->f), n);
	sreq_free(q);

	/* A new LUN starts with the bus's power-on unit attention; INQUIRY passes it by. */
	o.blk = pt_open(p, 0, 0);
	st_add(p->s, 0, 1, &o);
	n = fake_count(&p->f);
	q = st_cmd(p->s, 0, 1, inq, 6, NULL, 0, 36);
	st_expect_good(q);
	assert_memory_equal(q->in + 8, "FAKEVEND", 8);
	assert_int_equal(fake_count(&p->f), n + 1);
	sreq_free(q);
	q = st_cmd(p->s, 0, 1, tur, 6, NULL, 0, 0);
	st_expect_sense(q, VDEV_SCSI_SK_UNIT_ATTENTION, 0x29, 0x00);
	assert_int_equal(fake_count(&p->f), n + 1);
	sreq_free(q);
	q = st_cmd(p->s, 0, 1, tur, 6, NULL, 0, 0);
	st_expect_good(q);
	assert_int_equal(fake_count(&p->f), n + 2);
	sreq_free(q);

	/* REQUEST SENSE with a bus unit attention pending: the bus answers it. */
	assert_int_equal(vdev_scsi_tmf(p->s->bus, VDEV_SCSI_TMF_LUN_RESET, 0, 1, 0),
			 VDEV_SCSI_TMF_COMPLETE);
	{
		uint8_t rs[6] = { 0x03, 0, 0, 0, 96, 0 };

		q = st_cmd(p->s, 0, 1, rs, 6, NULL, 0, 96);
		st_expect_good(q);
		assert_int_equal(q->in[2] & 0xf, VDEV_SCSI_SK_UNIT_ATTENTION);
		assert_int_equal(q->in[12], 0x29);
		assert_int_equal(fake_count(&p->f), n + 2);
		sreq_free(q);
		/* And with none pending, the device does. */
		q = st_cmd(p->s, 0, 1, rs, 6, NULL, 0, 96);
		assert_int_equal(fake_count(&p->f), n + 3);
		sreq_free(q);
	}
}

/* ---- task management and removal with SG_IO in flight ---- */

static void wait_in_sgio(struct fake *f)
{
	for (int i = 0; i < 5000; i++) {
		int in;

		pthread_mutex_lock(&f->lock);
		in = f->in_sgio;
		pthread_mutex_unlock(&f->lock);
		if (in)
			return;
		usleep(1000);
	}
	fail_msg("SG_IO never started");
}

static void test_tmf_waits_for_sgio(void **state)
{
	struct pt *p = *state;
	struct vdev_scsi_lun_opts o = { .struct_size = sizeof(o) };
	uint8_t cdb[10];
	struct sreq *q1, *q2;
	unsigned int done0;

	o.blk = pt_open(p, 1, 0); /* one worker: the second command stays queued */
	pt_add(p, 0, 0, &o);
	p->f.delay_ms = 200;
	cdb10(cdb, 0x28, 0, 1);
	q1 = sreq_new(0, 0, cdb, 10, NULL, 0, 512);
	q1->r.tag = 1;
	q2 = sreq_new(0, 0, cdb, 10, NULL, 0, 512);
	q2->r.tag = 2;
	pthread_mutex_lock(&p->f.lock);
	done0 = p->f.n_done;
	pthread_mutex_unlock(&p->f.lock);
	st_submit(p->s, q1);
	st_submit(p->s, q2);
	wait_in_sgio(&p->f);

	/* ABORT TASK on the running one: SG_IO cannot be stopped, the TMF waits for it. */
	assert_int_equal(vdev_scsi_tmf(p->s->bus, VDEV_SCSI_TMF_ABORT_TASK, 0, 0, 1),
			 VDEV_SCSI_TMF_COMPLETE);
	assert_int_equal(q1->ndone, 1);
	assert_int_equal(q1->r.response, VDEV_SCSI_RESP_ABORTED);
	assert_int_equal(q1->r.status, VDEV_SCSI_TASK_ABORTED);
	pthread_mutex_lock(&p->f.lock);
	assert_true(p->f.n_done >= done0 + 1); /* the host returned it before the TMF did */
	pthread_mutex_unlock(&p->f.lock);

	/* The queued one is withdrawn before it reaches the device... or waited for. */
	assert_int_equal(vdev_scsi_tmf(p->s->bus, VDEV_SCSI_TMF_ABORT_TASK_SET, 0, 0, 0),
			 VDEV_SCSI_TMF_COMPLETE);
	assert_int_equal(q2->ndone, 1);
	assert_int_equal(q2->r.response, VDEV_SCSI_RESP_ABORTED);
	pthread_mutex_lock(&p->f.lock);
	assert_int_equal(p->f.in_sgio, 0);
	pthread_mutex_unlock(&p->f.lock);
	sreq_free(q1);
	sreq_free(q2);

	/* The LUN still works. */
	p->f.delay_ms = 0;
	q1 = st_cmd(p->s, 0, 0, cdb, 10, NULL, 0, 512);
	st_expect_good(q1);
	sreq_free(q1);
}

static void test_queued_command_withdrawn(void **state)
{
	struct pt *p = *state;
	struct vdev_scsi_lun_opts o = { .struct_size = sizeof(o) };
	uint8_t cdb[10];
	struct sreq *q1, *q2;
	unsigned int n;

	o.blk = pt_open(p, 1, 0);
	pt_add(p, 0, 0, &o);
	n = fake_count(&p->f);
	p->f.delay_ms = 150;
	cdb10(cdb, 0x28, 0, 1);
	q1 = sreq_new(0, 0, cdb, 10, NULL, 0, 512);
	q1->r.tag = 1;
	q2 = sreq_new(0, 0, cdb, 10, NULL, 0, 512);
	q2->r.tag = 2;
	st_submit(p->s, q1);
	st_submit(p->s, q2);
	wait_in_sgio(&p->f);
	/* Abort the queued one only: it never reaches the device. */
	assert_int_equal(vdev_scsi_tmf(p->s->bus, VDEV_SCSI_TMF_ABORT_TASK, 0, 0, 2),
			 VDEV_SCSI_TMF_COMPLETE);
	assert_int_equal(q2->ndone, 1);
	assert_int_equal(q2->r.response, VDEV_SCSI_RESP_ABORTED);
	st_wait(p->s, q1);
	st_expect_good(q1);
	assert_int_equal(fake_count(&p->f), n + 1);
	sreq_free(q1);
	sreq_free(q2);
}

static void test_lun_remove_inflight(void **state)
{
	struct pt *p = *state;
	uint8_t cdb[10];
	struct sreq *q;

	pt_add(p, 0, 0, NULL);
	p->f.delay_ms = 100;
	cdb10(cdb, 0x28, 0, 1);
	q = sreq_new(0, 0, cdb, 10, NULL, 0, 512);
	st_submit(p->s, q);
	wait_in_sgio(&p->f);
	assert_int_equal(vdev_scsi_lun_remove(p->s->bus, 0, 0), 0);
	st_untrack(p->s, 0, 0);
	assert_int_equal(q->ndone, 1);
	assert_int_equal(q->r.response, VDEV_SCSI_RESP_ABORTED);
	pthread_mutex_lock(&p->f.lock);
	assert_int_equal(p->f.in_sgio, 0); /* the backend closed after SG_IO returned */
	pthread_mutex_unlock(&p->f.lock);
	assert_null(vdev_scsi_lun_find(p->s->bus, 0, 0));
	sreq_free(q);
}

/* ---- the "sg" driver ---- */

static void blk_done_cb(struct vdev_blk_req *req, int64_t result)
{
	*(int64_t *)req->user = result;
}

static void test_sg_driver_refuses_block_ops(void **state)
{
	struct pt *p = *state;
	vdev_blk *blk = pt_open(p, 0, 0);
	uint8_t buf[512];
	struct iovec iov = { buf, sizeof(buf) };
	int64_t res = 1;
	struct vdev_blk_req r = { .op = VDEV_BLK_READ, .iov = &iov, .iovcnt = 1,
				  .done = blk_done_cb, .user = &res };

	assert_int_equal(vdev_blk_engine(blk), VDEV_BLK_ENGINE_THREADS);
	assert_int_equal(vdev_blk_size(blk), (uint64_t)FAKE_BLOCKS * 512);
	assert_int_equal(vdev_blk_submit(blk, &r), -EOPNOTSUPP);
	r.op = VDEV_BLK_WRITE;
	assert_int_equal(vdev_blk_submit(blk, &r), -EOPNOTSUPP);
	r.op = VDEV_BLK_FLUSH;
	assert_int_equal(vdev_blk_submit(blk, &r), -EOPNOTSUPP);
	r.op = VDEV__BLK_OP_SCSI; /* the internal op only through vdev__blk_scsi_submit() */
	assert_int_equal(vdev_blk_submit(blk, &r), -EOPNOTSUPP);
	assert_int_equal(res, 1);
	assert_int_equal(vdev_blk_inflight(blk), 0);

	/* Malformed pass-through commands are refused at submit, never completed. */
	{
		struct vdev__blk_scsi_cmd c = { .cdb = { 0x28, [8] = 1 }, .cdb_len = 10,
						.dir = VDEV__BLK_SCSI_NONE };
		struct vdev_blk_req sr = { .iov = &iov, .iovcnt = 1, .done = blk_done_cb,
					   .user = &res };

		assert_int_equal(vdev__blk_scsi_submit(blk, &sr, &c), -EINVAL); /* dir vs data */
		c.dir = VDEV__BLK_SCSI_FROM_DEV;
		c.cdb_len = 5;
		assert_int_equal(vdev__blk_scsi_submit(blk, &sr, &c), -EINVAL);
		c.cdb_len = 33;
		assert_int_equal(vdev__blk_scsi_submit(blk, &sr, &c), -EINVAL);
		c.cdb_len = 10;
		c.sense_cap = 10; /* no buffer */
		assert_int_equal(vdev__blk_scsi_submit(blk, &sr, &c), -EINVAL);
		c.sense_cap = 0;
		assert_int_equal(vdev__blk_scsi_submit(blk, &sr, &c), 0);
		assert_int_equal(vdev_blk_wait(blk, 5000), 1);
		assert_int_equal(res, 0);
		assert_int_equal(c.status, 0);
		assert_memory_equal(buf, p->f.disk, 512);
	}
	vdev_blk_close(blk);

	/* A memory backend is not one to pass through. */
	{
		vdev_blk *mem = st_blk_open(p->s, "memory", 1 << 20, 0);
		struct vdev__blk_scsi_cmd c = { .cdb_len = 6 };
		struct vdev_blk_req sr = { .done = blk_done_cb, .user = &res };

		assert_int_equal(vdev__blk_scsi_submit(mem, &sr, &c), -EINVAL);
		vdev_blk_close(mem);
	}
}

static void test_non_sg_refused(void **state)
{
	struct pt *p = *state;
	char path[] = "/tmp/vdev-sg-XXXXXX";
	struct vdev_blk_opts o = { .struct_size = sizeof(o), .driver = "sg" };
	vdev_blk *blk = NULL;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	o.path = path;
	assert_int_equal(vdev_blk_open(p->s->mv.ctx, &o, &blk), -ENOTTY);
	assert_null(blk);
	assert_true(mock_vmm_log_contains(&p->s->mv, "neither a SCSI generic node"));
	unlink(path);

	o.path = "/dev/null";
	assert_int_equal(vdev_blk_open(p->s->mv.ctx, &o, &blk), -ENOTTY);
	assert_true(mock_vmm_log_contains(&p->s->mv, "not a SCSI generic device"));

	/* An sg version from before sg_io_hdr. */
	{
		struct vdev__blk_sg_hooks hooks = { .ioctl = fake_ioctl, .opaque = &p->f };

		p->f.version = 20000;
		assert_int_equal(vdev__blk_open_hooked(p->s->mv.ctx, &o, &hooks, &blk), -ENOTTY);
		p->f.version = 30536;
	}
	o.path = "/nonexistent/sg0";
	assert_int_equal(vdev_blk_open(p->s->mv.ctx, &o, &blk), -ENOENT);
	o.path = NULL;
	assert_int_equal(vdev_blk_open(p->s->mv.ctx, &o, &blk), -EINVAL);
	o.path = "/dev/null";
	o.engine = VDEV_BLK_ENGINE_IO_URING;
	assert_int_equal(vdev_blk_open(p->s->mv.ctx, &o, &blk), -ENOTSUP);
}

static void test_lun_opts_checked(void **state)
{
	struct pt *p = *state;
	struct vdev_scsi_lun_opts o = { .struct_size = sizeof(o),
					.type = VDEV_SCSI_LUN_PASSTHROUGH };
	uint8_t bitmap[VDEV_SCSI_SG_DENY_SIZE] = { 0 };
	vdev_scsi_lun *lun = NULL;

	/* Not an sg backend. */
	o.blk = st_blk_open(p->s, "memory", 1 << 20, 0);
	assert_int_equal(vdev_scsi_lun_add(p->s->bus, 0, 0, &o, &lun), -EINVAL);
	assert_true(mock_vmm_log_contains(&p->s->mv, "\"sg\" block backend"));
	/* Pass-through fields on a disk. */
	o.type = VDEV_SCSI_LUN_DISK;
	o.sg_deny = bitmap;
	assert_int_equal(vdev_scsi_lun_add(p->s->bus, 0, 0, &o, &lun), -EINVAL);
	o.sg_deny = NULL;
	o.sg_flags = VDEV_SCSI_SG_ALLOW_ALL;
	assert_int_equal(vdev_scsi_lun_add(p->s->bus, 0, 0, &o, &lun), -EINVAL);
	o.sg_flags = 0;
	o.sg_path = "/dev/sg0";
	assert_int_equal(vdev_scsi_lun_add(p->s->bus, 0, 0, &o, &lun), -EINVAL);
	vdev_blk_close(o.blk);

	o.type = VDEV_SCSI_LUN_PASSTHROUGH;
	o.blk = pt_open(p, 0, 0);
	/* sg_path is reserved; unknown flags; block_size. */
	assert_int_equal(vdev_scsi_lun_add(p->s->bus, 0, 0, &o, &lun), -EINVAL);
	o.sg_path = NULL;
	o.sg_flags = 2;
	assert_int_equal(vdev_scsi_lun_add(p->s->bus, 0, 0, &o, &lun), -EINVAL);
	o.sg_flags = 0;
	o.block_size = 512;
	assert_int_equal(vdev_scsi_lun_add(p->s->bus, 0, 0, &o, &lun), -EINVAL);
	o.block_size = 0;
	o.reserved2 = 1;
	assert_int_equal(vdev_scsi_lun_add(p->s->bus, 0, 0, &o, &lun), -EINVAL);
	o.reserved2 = 0;
	assert_int_equal(vdev_scsi_lun_count(p->s->bus), 0);
	assert_int_equal(vdev_scsi_lun_add(p->s->bus, 0, 0, &o, &lun), 0);
	assert_non_null(lun);
	st_track(p->s, 0, 0, o.blk);
	/* An options struct from before the pass-through fields: the default policy. */
	{
		struct vdev_scsi_lun_opts old = { .type = VDEV_SCSI_LUN_PASSTHROUGH };

		old.struct_size = offsetof(struct vdev_scsi_lun_opts, sg_deny);
		old.blk = pt_open(p, 0, 0);
		assert_int_equal(vdev_scsi_lun_add(p->s->bus, 0, 1, &old, &lun), 0);
		st_track(p->s, 0, 1, old.blk);
		st_clear_ua(p->s, 0, 1);
		{
			uint8_t cdb[6] = { 0x04 };
			struct sreq *q = st_cmd(p->s, 0, 1, cdb, 6, NULL, 0, 0);

			st_expect_sense(q, VDEV_SCSI_SK_ILLEGAL_REQUEST, 0x20, 0x00);
			sreq_free(q);
		}
	}
}

/* A shared loop (io_uring or threads for its files): the sg pool joins it. */
static void test_shared_loop(void **state)
{
	struct pt *p = *state;
	struct vdev_blk_loop_opts lo = { .struct_size = sizeof(lo) };
	struct vdev__blk_sg_hooks hooks = { .ioctl = fake_ioctl, .opaque = &p->f };
	struct vdev_blk_opts o = { .struct_size = sizeof(o), .driver = "sg", .path = "/dev/null" };
	struct vdev_scsi_lun_opts lopts = { .struct_size = sizeof(lopts),
					    .type = VDEV_SCSI_LUN_PASSTHROUGH };
	vdev_blk_loop *loop = NULL;
	vdev_blk *a = NULL, *b = NULL;
	uint8_t cdb[10];
	struct sreq *q1, *q2;

	assert_int_equal(vdev_blk_loop_new(p->s->mv.ctx, &lo, &loop), 0);
	o.loop = loop;
	assert_int_equal(vdev__blk_open_hooked(p->s->mv.ctx, &o, &hooks, &a), 0);
	assert_int_equal(vdev__blk_open_hooked(p->s->mv.ctx, &o, &hooks, &b), 0);
	assert_int_equal(vdev_blk_event_fd(a), vdev_blk_loop_event_fd(loop));
	lopts.blk = a;
	assert_int_equal(vdev_scsi_lun_add(p->s->bus, 0, 0, &lopts, NULL), 0);
	lopts.blk = b;
	assert_int_equal(vdev_scsi_lun_add(p->s->bus, 0, 1, &lopts, NULL), 0);
	st_track(p->s, 0, 0, a);
	st_track(p->s, 0, 1, b);
	st_clear_ua(p->s, 0, 0);
	st_clear_ua(p->s, 0, 1);
	cdb10(cdb, 0x28, 5, 1);
	q1 = sreq_new(0, 0, cdb, 10, NULL, 0, 512);
	q2 = sreq_new(0, 1, cdb, 10, NULL, 0, 512);
	st_submit(p->s, q1);
	st_submit(p->s, q2);
	for (int i = 0; i < 500 && (!q1->ndone || !q2->ndone); i++)
		vdev_blk_loop_wait(loop, 10);
	assert_int_equal(q1->ndone, 1);
	assert_int_equal(q2->ndone, 1);
	st_expect_good(q1);
	st_expect_good(q2);
	assert_memory_equal(q1->in, p->f.disk + 5 * 512, 512);
	sreq_free(q1);
	sreq_free(q2);
	assert_int_equal(vdev_scsi_lun_remove(p->s->bus, 0, 0), 0);
	assert_int_equal(vdev_scsi_lun_remove(p->s->bus, 0, 1), 0);
	st_untrack(p->s, 0, 0);
	st_untrack(p->s, 0, 1);
	vdev_blk_loop_free(loop);
}

/* ---- state ---- */

static void test_save_load(void **state)
{
	struct pt *p = *state;
	struct vdev_scsi_lun_opts o = { .struct_size = sizeof(o),
					.type = VDEV_SCSI_LUN_PASSTHROUGH };
	vdev_state_writer *w = NULL;
	vdev_state_reader *r = NULL;
	vdev_scsi_bus *bus2 = NULL, *bus3 = NULL;
	vdev_blk *blk2;
	const void *blob;
	size_t len;
	uint8_t tur[6] = { 0 };
	struct sreq *q;
	unsigned int n;

	pt_add(p, 0, 2, NULL);       /* unit attention cleared */
	o.blk = pt_open(p, 0, 0);
	st_add(p->s, 0, 5, &o);      /* its power-on unit attention is pending: saved */
	st_clear_ua(p->s, 0, 2);     /* REPORTED LUNS DATA HAS CHANGED, from adding LUN 5 */
	assert_int_equal(vdev_state_writer_new(&w), 0);
	assert_int_equal(vdev_scsi_bus_save(p->s->bus, w), 0);
	assert_int_equal(vdev_state_writer_finish(w, &blob, &len), 0);

	/* Same LUNs on the destination (fresh, so both have a unit attention): loads. */
	assert_int_equal(vdev_scsi_bus_new(p->s->mv.ctx, NULL, NULL, &bus2), 0);
	blk2 = o.blk = pt_open(p, 0, 0);
	assert_int_equal(vdev_scsi_lun_add(bus2, 0, 2, &o, NULL), 0);
	o.blk = pt_open(p, 0, 0);
	assert_int_equal(vdev_scsi_lun_add(bus2, 0, 5, &o, NULL), 0);
	assert_int_equal(vdev_state_reader_new(blob, len, &r), 0);
	assert_int_equal(vdev_scsi_bus_load(bus2, r), 0);
	vdev_state_reader_free(r);
	/* LUN 5 still owes its unit attention (answered by the bus, at once)... */
	n = fake_count(&p->f);
	q = sreq_new(0, 5, tur, 6, NULL, 0, 0);
	assert_int_equal(vdev_scsi_submit(bus2, &q->r), 0);
	assert_int_equal(q->ndone, 1);
	st_expect_sense(q, VDEV_SCSI_SK_UNIT_ATTENTION, 0x29, 0x00);
	sreq_free(q);
	/* ... LUN 2 had none: its TEST UNIT READY goes to the device. */
	q = sreq_new(0, 2, tur, 6, NULL, 0, 0);
	assert_int_equal(vdev_scsi_submit(bus2, &q->r), 0);
	for (int i = 0; i < 500 && !q->ndone; i++)
		vdev_blk_wait(blk2, 10);
	st_expect_good(q);
	assert_int_equal(fake_count(&p->f), n + 1);
	sreq_free(q);

	/* A disk where a pass-through LUN was: refused. */
	assert_int_equal(vdev_scsi_bus_new(p->s->mv.ctx, NULL, NULL, &bus3), 0);
	o.blk = pt_open(p, 0, 0);
	assert_int_equal(vdev_scsi_lun_add(bus3, 0, 2, &o, NULL), 0);
	{
		struct vdev_scsi_lun_opts d = { .struct_size = sizeof(d) };

		d.blk = st_blk_open(p->s, "memory", 1 << 20, 0);
		assert_int_equal(vdev_scsi_lun_add(bus3, 0, 5, &d, NULL), 0);
	}
	assert_int_equal(vdev_state_reader_new(blob, len, &r), 0);
	assert_int_equal(vdev_scsi_bus_load(bus3, r), -EINVAL);
	vdev_state_reader_free(r);
	vdev_scsi_bus_free(bus3);
	vdev_scsi_bus_free(bus2);
	vdev_state_writer_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_forward_read_iovecs),
		T(test_forward_write_and_timeout),
		T(test_bounce_many_segments),
		T(test_cdb_lengths),
		T(test_bidirectional_refused),
		T(test_sense_fixed_intact),
		T(test_sense_descriptor_intact),
		T(test_sense_long_truncated),
		T(test_status_and_residual),
		T(test_deny_default),
		T(test_deny_custom_and_allow_all),
		T(test_readonly_refuses_writes),
		T(test_vpd_b0_clamp),
		T(test_vpd_b0_clamp_4k),
		T(test_host_timeout),
		T(test_host_errors),
		T(test_report_luns_and_ua_from_bus),
		T(test_tmf_waits_for_sgio),
		T(test_queued_command_withdrawn),
		T(test_lun_remove_inflight),
		T(test_sg_driver_refuses_block_ops),
		T(test_non_sg_refused),
		T(test_lun_opts_checked),
		T(test_shared_loop),
		T(test_save_load),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
