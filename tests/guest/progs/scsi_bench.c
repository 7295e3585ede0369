/* SPDX-License-Identifier: MIT */
/*
 * scsi_bench: a tiny I/O load generator for the guest benchmark
 * (bench/run_guest_scsi_bench.sh): sequential or random reads or writes
 * of one block size on a block device, O_DIRECT (the guest's page cache
 * out of the way), one request at a time, and one result line:
 *
 *   BENCH <label> <mode> bs=<bytes> ops=<n> secs=<s> MiBps=<x> iops=<y>
 *
 * usage: scsi_bench LABEL DEV MODE BS BYTES [SPAN]
 *   MODE  seqread | seqwrite | randread | randwrite
 *   BYTES how much to transfer; SPAN the device range used (default BYTES)
 * Random offsets come from a fixed-seed xorshift, so both devices of a
 * comparison see the same offsets. Written data is a fixed pattern.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (end == s || errno)
		return -1;
	if (*end == 'k' || *end == 'K')
		v <<= 10, end++;
	else if (*end == 'm' || *end == 'M')
		v <<= 20, end++;
	if (*end)
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t bs, bytes, span, ops, seed = 0x9e3779b97f4a7c15ull;
	int rnd, wr, fd;
	void *buf;
	double t0, dt;

	if (argc < 6 || argc > 7 || parse_size(argv[4], &bs) || parse_size(argv[5], &bytes) ||
	    (argc == 7 && parse_size(argv[6], &span))) {
		fprintf(stderr, "usage: scsi_bench LABEL DEV seqread|seqwrite|randread|randwrite "
				"BS BYTES [SPAN]\n");
		return 2;
	}
	if (argc == 6)
		span = bytes;
	rnd = !strncmp(argv[3], "rand", 4);
	wr = !strcmp(argv[3] + (rnd ? 4 : 3), "write");
	if ((!rnd && strncmp(argv[3], "seq", 3)) || (!wr && strcmp(argv[3] + (rnd ? 4 : 3), "read")) ||
	    !bs || bs % 512 || bytes < bs || span < bs) {
		fprintf(stderr, "scsi_bench: bad mode or sizes\n");
		return 2;
	}
	fd = open(argv[2], (wr ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (fd < 0) {
		perror(argv[2]);
		return 1;
	}
	if (posix_memalign(&buf, 4096, bs)) {
		fprintf(stderr, "scsi_bench: out of memory\n");
		return 1;
	}
	memset(buf, 0xa5, bs);
	ops = bytes / bs;
	t0 = now_s();
	for (uint64_t i = 0; i < ops; i++) {
		uint64_t off = rnd ? xorshift(&seed) % (span / bs) * bs : i * bs % (span / bs * bs);
		ssize_t n = wr ? pwrite(fd, buf, bs, (off_t)off) : pread(fd, buf, bs, (off_t)off);

		if (n != (ssize_t)bs) {
			fprintf(stderr, "scsi_bench: %s at %llu: %s\n", wr ? "write" : "read",
				(unsigned long long)off, n < 0 ? strerror(errno) : "short");
			return 1;
		}
	}
	if (wr && fdatasync(fd)) {
		perror("fdatasync");
		return 1;
	}
	dt = now_s() - t0;
	printf("BENCH %s %s bs=%llu ops=%llu secs=%.3f MiBps=%.2f iops=%.1f\n", argv[1], argv[3],
	       (unsigned long long)bs, (unsigned long long)ops, dt,
	       (double)(ops * bs) / 1048576.0 / dt, (double)ops / dt);
	free(buf);
	close(fd);
	return 0;
}
