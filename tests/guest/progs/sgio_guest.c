// SPDX-License-Identifier: MIT
/*
 * sgio_guest: SCSI pass-through (VDEV_SCSI_LUN_PASSTHROUGH, the "sg" block
 * driver) against a real SCSI disk: QEMU's scsi-hd seen through Linux's
 * virtio-scsi, sg and sd drivers, inside the test guest
 * (tests/guest/scripts/sgio.sh).
 *
 * Usage: sgio_guest /dev/sgN [/dev/sdX]
 *
 * For the sg node, then the block device node, a PASSTHROUGH LUN is made
 * on a shared completion loop and driven with vdev_scsi_submit() and
 * vdev_blk_loop_wait():
 *
 *   <node>.open          the "sg" backend opens, the LUN is added
 *   <node>.tur           TEST UNIT READY: the bus's power-on unit attention
 *                        first (answered by the bus), then GOOD from the disk
 *   <node>.inquiry       standard INQUIRY: the vendor is QEMU's ("QEMU    ")
 *   <node>.capacity      READ CAPACITY(10) and (16) agree
 *   <node>.write-read    WRITE(10) a pattern, READ(10) it back, compare
 *   <node>.beyond        READ(10) past the end: CHECK CONDITION, ILLEGAL
 *                        REQUEST, LBA OUT OF RANGE (21h/00h) from the disk
 *   <node>.denied        WRITE BUFFER: refused by the bus (INVALID COMMAND
 *                        OPERATION CODE) without reaching the host
 *   <node>.vpd-b0        Block Limits: MAXIMUM TRANSFER LENGTH no larger
 *                        than the host queue's max_sectors_kb
 *
 * Prints "VDEV-TEST: PASS <name>" or "VDEV-TEST: FAIL <name>: <why>" per
 * check; exits 0 only if all passed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>

#include <vdev/vdev.h>

#define XFER_BLOCKS 8u
#define XFER_LBA 2048u

static int failures;

static void pass(const char *node, const char *name)
{
	printf("VDEV-TEST: PASS %s.%s\n", node, name);
	fflush(stdout);
}

static void fail(const char *node, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail(const char *node, const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("VDEV-TEST: FAIL %s.%s: ", node, name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	failures++;
}

/* Report a failure and leave the check. */
#define FAIL(...)                  \
	do {                       \
		fail(__VA_ARGS__); \
		return;            \
	} while (0)

struct cmd {
	struct vdev_scsi_req r;
	struct iovec iov;
	uint8_t sense[VDEV_SCSI_SENSE_SIZE];
	int done;
};

static void cmd_done(struct vdev_scsi_req *r)
{
	((struct cmd *)r)->done++;
}

struct ctx {
	vdev_ctx *vctx;
	vdev_blk_loop *loop;
	vdev_scsi_bus *bus;
	const char *node;       /* the checks' name prefix */
	const char *path;       /* the device node */
	uint32_t lbs;
	uint64_t blocks;
};

/*
 * Run one command on LUN 0:0; @return 0 once it completed, with *@sync
 * telling whether it completed inside vdev_scsi_submit() (a local answer).
 */
static int run(struct ctx *c, struct cmd *k, const uint8_t *cdb, size_t cdb_len, void *buf,
	       size_t len, int out, int *sync)
{
	memset(k, 0, sizeof(*k));
	memcpy(k->r.cdb, cdb, cdb_len);
	k->r.cdb_len = VDEV_SCSI_MAX_CDB; /* like virtio-scsi: the opcode says how long */
	k->r.sense = k->sense;
	k->r.sense_cap = sizeof(k->sense);
	k->r.done = cmd_done;
	if (len) {
		k->iov.iov_base = buf;
		k->iov.iov_len = len;
		if (out) {
			k->r.data_out = &k->iov;
			k->r.data_out_cnt = 1;
		} else {
			k->r.data_in = &k->iov;
			k->r.data_in_cnt = 1;
		}
	}
	if (vdev_scsi_submit(c->bus, &k->r))
		return -EINVAL;
	if (sync)
		*sync = k->done;
	for (int i = 0; i < 600 && !k->done; i++)
		vdev_blk_loop_wait(c->loop, 100); /* -ETIMEDOUT: go round again */
	return k->done == 1 ? 0 : -ETIMEDOUT;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Sense key and ASC/ASCQ from fixed (70h/71h) or descriptor (72h/73h) sense. */
static int decode_sense(const struct cmd *k, unsigned int *key, unsigned int *asc,
			unsigned int *ascq)
{
	const uint8_t *s = k->sense;

	if (k->r.sense_len < 8)
		return -1;
	if ((s[0] & 0x7e) == 0x70 && k->r.sense_len >= 14) {
		*key = s[2] & 0xf;
		*asc = s[12];
		*ascq = s[13];
		return 0;
	}
	if ((s[0] & 0x7e) == 0x72) {
		*key = s[1] & 0xf;
		*asc = s[2];
		*ascq = s[3];
		return 0;
	}
	return -1;
}

static const char *outcome(const struct cmd *k)
{
	static char buf[96]; /* a test program, single-threaded */
	unsigned int key = 0, asc = 0, ascq = 0;

	decode_sense(k, &key, &asc, &ascq);
	snprintf(buf, sizeof(buf), "response %u status 0x%02x sense %x/%02x/%02x", k->r.response,
		 k->r.status, key, asc, ascq);
	return buf;
}

static int good(const struct cmd *k)
{
	return k->r.response == VDEV_SCSI_RESP_OK && k->r.status == VDEV_SCSI_GOOD;
}

static void check_tur(struct ctx *c)
{
	const uint8_t cdb[6] = { 0x00 };
	struct cmd k;
	unsigned int key, asc, ascq;
	int sync = 0;

	if (run(c, &k, cdb, 6, NULL, 0, 0, &sync))
		FAIL(c->node, "tur", "no completion");
	if (good(&k))
		FAIL(c->node, "tur", "no power-on unit attention from the bus");
	if (!sync || decode_sense(&k, &key, &asc, &ascq) || key != 6 || asc != 0x29)
		FAIL(c->node, "tur", "first: %s (sync %d)", outcome(&k), sync);
	/* The disk may have its own unit attentions (power on, parameters changed). */
	for (int i = 0; i < 5; i++) {
		if (run(c, &k, cdb, 6, NULL, 0, 0, &sync))
			FAIL(c->node, "tur", "no completion");
		if (good(&k))
			break;
	}
	if (!good(&k))
		FAIL(c->node, "tur", "%s", outcome(&k));
	if (sync)
		FAIL(c->node, "tur", "answered without reaching the disk");
	pass(c->node, "tur");
}

static void check_inquiry(struct ctx *c)
{
	const uint8_t cdb[6] = { 0x12, 0, 0, 0, 96, 0 };
	uint8_t buf[96] = { 0 };
	struct cmd k;

	if (run(c, &k, cdb, 6, buf, sizeof(buf), 0, NULL) || !good(&k))
		FAIL(c->node, "inquiry", "%s", outcome(&k));
	if (memcmp(buf + 8, "QEMU    ", 8))
		FAIL(c->node, "inquiry", "vendor \"%.8s\"", (const char *)buf + 8);
	if ((buf[0] & 0x1f) != 0)
		FAIL(c->node, "inquiry", "device type %u", buf[0] & 0x1f);
	pass(c->node, "inquiry");
}

static void check_capacity(struct ctx *c)
{
	const uint8_t rc10[10] = { 0x25 };
	const uint8_t rc16[16] = { 0x9e, 0x10, [13] = 32 };
	uint8_t b10[8] = { 0 }, b16[32] = { 0 };
	uint64_t last16;
	struct cmd k;

	if (run(c, &k, rc10, 10, b10, sizeof(b10), 0, NULL) || !good(&k))
		FAIL(c->node, "capacity", "READ CAPACITY(10): %s", outcome(&k));
	if (run(c, &k, rc16, 16, b16, sizeof(b16), 0, NULL) || !good(&k))
		FAIL(c->node, "capacity", "READ CAPACITY(16): %s", outcome(&k));
	last16 = (uint64_t)be32(b16) << 32 | be32(b16 + 4);
	c->lbs = be32(b10 + 4);
	c->blocks = (uint64_t)be32(b10) + 1;
	if (last16 + 1 != c->blocks || be32(b16 + 8) != c->lbs)
		FAIL(c->node, "capacity", "(10) %llu x %u, (16) %llu x %u",
			    (unsigned long long)c->blocks, c->lbs,
			    (unsigned long long)last16 + 1, be32(b16 + 8));
	if (c->lbs != 512 && c->lbs != 4096)
		FAIL(c->node, "capacity", "block size %u", c->lbs);
	if (c->blocks * c->lbs < (XFER_LBA + XFER_BLOCKS) * (uint64_t)c->lbs)
		FAIL(c->node, "capacity", "disk too small: %llu blocks",
			    (unsigned long long)c->blocks);
	pass(c->node, "capacity");
}

static void rw10(uint8_t *cdb, uint8_t op, uint32_t lba, uint16_t n)
{
	memset(cdb, 0, 10);
	cdb[0] = op;
	put_be32(cdb + 2, lba);
	cdb[7] = (uint8_t)(n >> 8);
	cdb[8] = (uint8_t)n;
}

static void check_write_read(struct ctx *c, unsigned int seed)
{
	size_t len = (size_t)XFER_BLOCKS * c->lbs;
	uint8_t *w = malloc(len), *r = malloc(len);
	uint8_t cdb[10];
	struct cmd k;

	if (!w || !r || !c->lbs) {
		free(w);
		free(r);
		FAIL(c->node, "write-read", "no memory or no block size");
	}
	for (size_t i = 0; i < len; i++)
		w[i] = (uint8_t)(i * 31 + seed + (i >> 9));
	memset(r, 0, len);
	rw10(cdb, 0x2a, XFER_LBA, XFER_BLOCKS);
	if (run(c, &k, cdb, 10, w, len, 1, NULL) || !good(&k) || k.r.data_out_len != len) {
		fail(c->node, "write-read", "WRITE(10): %s", outcome(&k));
		goto out;
	}
	rw10(cdb, 0x28, XFER_LBA, XFER_BLOCKS);
	if (run(c, &k, cdb, 10, r, len, 0, NULL) || !good(&k) || k.r.data_in_len != len) {
		fail(c->node, "write-read", "READ(10): %s, %llu bytes", outcome(&k),
		     (unsigned long long)k.r.data_in_len);
		goto out;
	}
	if (memcmp(w, r, len)) {
		fail(c->node, "write-read", "data read back differs");
		goto out;
	}
	pass(c->node, "write-read");
out:
	free(w);
	free(r);
}

static void check_beyond(struct ctx *c)
{
	uint8_t cdb[10], buf[4096];
	struct cmd k;
	unsigned int key, asc, ascq;

	if (!c->blocks || c->blocks > UINT32_MAX)
		FAIL(c->node, "beyond", "capacity unknown");
	rw10(cdb, 0x28, (uint32_t)c->blocks, 1);
	if (run(c, &k, cdb, 10, buf, c->lbs, 0, NULL))
		FAIL(c->node, "beyond", "no completion");
	if (k.r.status != VDEV_SCSI_CHECK_CONDITION || decode_sense(&k, &key, &asc, &ascq) ||
	    key != 5 || asc != 0x21 || ascq != 0)
		FAIL(c->node, "beyond", "%s", outcome(&k));
	pass(c->node, "beyond");
}

static void check_denied(struct ctx *c)
{
	const uint8_t cdb[10] = { 0x3b, 0x05, 0, 0, 0, 0, 0, 0, 0x10, 0 };
	uint8_t buf[4096] = { 0 };
	struct cmd k;
	unsigned int key, asc, ascq;
	int sync = 0;

	if (run(c, &k, cdb, 10, buf, sizeof(buf), 1, &sync))
		FAIL(c->node, "denied", "no completion");
	if (k.r.status != VDEV_SCSI_CHECK_CONDITION || decode_sense(&k, &key, &asc, &ascq) ||
	    key != 5 || asc != 0x20 || ascq != 0)
		FAIL(c->node, "denied", "%s", outcome(&k));
	/* The bus answers inside submit; a forwarded command completes from a poll. */
	if (!sync)
		FAIL(c->node, "denied", "reached the host");
	pass(c->node, "denied");
}

/* The host queue's max_sectors_kb (in bytes) for @node; 0 if unknown. */
static uint64_t host_max(const char *node)
{
	char path[448], q[400] = "";
	struct stat st;
	unsigned long long kb = 0;
	FILE *f;

	if (stat(node, &st)) {
		printf("sgio: stat %s: %s\n", node, strerror(errno));
		return 0;
	}
	if (S_ISBLK(st.st_mode)) {
		snprintf(q, sizeof(q), "/sys/dev/block/%u:%u/queue", major(st.st_rdev),
			 minor(st.st_rdev));
	} else {
		char dir[128];
		struct dirent *de;
		DIR *d;

		snprintf(dir, sizeof(dir), "/sys/dev/char/%u:%u/device/block", major(st.st_rdev),
			 minor(st.st_rdev));
		d = opendir(dir);
		if (!d) {
			printf("sgio: %s: %s\n", dir, strerror(errno));
			return 0;
		}
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				snprintf(q, sizeof(q), "%s/%s/queue", dir, de->d_name);
		closedir(d);
	}
	if (!q[0])
		return 0;
	snprintf(path, sizeof(path), "%s/max_sectors_kb", q);
	f = fopen(path, "r");
	if (!f) {
		printf("sgio: %s: %s\n", path, strerror(errno));
		return 0;
	}
	if (fscanf(f, "%llu", &kb) != 1)
		kb = 0;
	fclose(f);
	return kb * 1024;
}

static void check_vpd_b0(struct ctx *c)
{
	const uint8_t cdb[6] = { 0x12, 0x01, 0xb0, 0, 64, 0 };
	uint8_t buf[64] = { 0 };
	uint64_t max = host_max(c->path);
	uint32_t mx, opt;
	struct cmd k;

	if (!max)
		FAIL(c->node, "vpd-b0", "cannot read the host queue's max_sectors_kb");
	if (run(c, &k, cdb, 6, buf, sizeof(buf), 0, NULL) || !good(&k))
		FAIL(c->node, "vpd-b0", "%s", outcome(&k));
	if (buf[1] != 0xb0 || k.r.data_in_len < 16)
		FAIL(c->node, "vpd-b0", "page %02x, %llu bytes", buf[1],
			    (unsigned long long)k.r.data_in_len);
	mx = be32(buf + 8);
	opt = be32(buf + 12);
	if (!mx || (uint64_t)mx * c->lbs > max)
		FAIL(c->node, "vpd-b0", "MAXIMUM TRANSFER LENGTH %u x %u > host %llu", mx,
			    c->lbs, (unsigned long long)max);
	if (opt > mx)
		FAIL(c->node, "vpd-b0", "OPTIMAL %u > MAXIMUM %u", opt, mx);
	printf("sgio: %s: max transfer %u blocks (host %llu bytes), optimal %u\n", c->node, mx,
	       (unsigned long long)max, opt);
	pass(c->node, "vpd-b0");
}

static void run_node(vdev_ctx *vctx, const char *path, const char *name, unsigned int seed)
{
	struct vdev_blk_loop_opts lo = { .struct_size = sizeof(lo) };
	struct vdev_blk_opts bo = { .struct_size = sizeof(bo), .driver = "sg", .path = path };
	struct vdev_scsi_lun_opts o = { .struct_size = sizeof(o),
					.type = VDEV_SCSI_LUN_PASSTHROUGH };
	struct ctx c = { .vctx = vctx, .node = name, .path = path };
	vdev_blk *blk = NULL;
	int rc;

	rc = vdev_blk_loop_new(vctx, &lo, &c.loop);
	if (rc)
		FAIL(name, "open", "vdev_blk_loop_new: %s", vdev_strerror(rc));
	bo.loop = c.loop;
	rc = vdev_blk_open(vctx, &bo, &blk);
	if (rc) {
		fail(name, "open", "vdev_blk_open(sg, %s): %s", path, vdev_strerror(rc));
		goto out;
	}
	rc = vdev_scsi_bus_new(vctx, NULL, NULL, &c.bus);
	if (rc) {
		vdev_blk_close(blk);
		fail(name, "open", "vdev_scsi_bus_new: %s", vdev_strerror(rc));
		goto out;
	}
	o.blk = blk;
	rc = vdev_scsi_lun_add(c.bus, 0, 0, &o, NULL);
	if (rc) {
		vdev_blk_close(blk);
		fail(name, "open", "vdev_scsi_lun_add: %s", vdev_strerror(rc));
		goto out;
	}
	pass(name, "open");
	check_tur(&c);
	check_inquiry(&c);
	check_capacity(&c);
	check_write_read(&c, seed);
	check_beyond(&c);
	check_denied(&c);
	check_vpd_b0(&c);
out:
	vdev_scsi_bus_free(c.bus); /* closes the backend */
	vdev_blk_loop_free(c.loop);
}

int main(int argc, char **argv)
{
	struct vdev_host_ops ops = { .struct_size = sizeof(ops) };
	vdev_ctx *vctx = NULL;
	int rc;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s /dev/sgN [/dev/sdX]\n", argv[0]);
		return 2;
	}
	rc = vdev_ctx_new(&ops, &vctx);
	if (rc) {
		printf("VDEV-TEST: FAIL sgio-ctx: vdev_ctx_new: %d\n", rc);
		return 1;
	}
	run_node(vctx, argv[1], "sg", 1);
	if (argc == 3)
		run_node(vctx, argv[2], "bdev", 2);
	vdev_ctx_free(vctx);
	return failures ? 1 : 0;
}
