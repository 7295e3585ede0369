/* SPDX-License-Identifier: MIT */
/*
 * A main() for fuzz harnesses built without libFuzzer (replay_<name>):
 * runs LLVMFuzzerTestOneInput() once on an empty input, then once on every
 * regular file named on the command line or found (recursively, in sorted
 * order, skipping dot files) under a directory named there. Each input is
 * copied into a heap buffer of exactly its size, so ASan catches a
 * harness or library that reads past it.
 *
 * Prints each input's name to stderr before running it (the last name
 * printed is the culprit if the run crashes) and a count at the end.
 * Exit status: 0 if every input ran, 1 if a path could not be read or the
 * harness returned something other than 0 or -1, 2 on usage errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* scandir(), alphasort() */
#endif
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a harness, as with libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

struct replay {
	unsigned long inputs;
	unsigned long errors;
};

static int run_one(struct replay *rp, const char *name, const uint8_t *data, size_t size)
{
	int rc;

	fprintf(stderr, "replay: %s (%zu bytes)\n", name, size);
	rc = LLVMFuzzerTestOneInput(data, size);
	rp->inputs++;
	if (rc != 0 && rc != -1) {
		fprintf(stderr, "replay: %s: LLVMFuzzerTestOneInput returned %d\n", name, rc);
		rp->errors++;
		return -1;
	}
	return 0;
}

static void run_file(struct replay *rp, const char *path, off_t size)
{
	uint8_t *buf = NULL;
	size_t len = (size_t)size, got = 0;
	FILE *f;

	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		rp->errors++;
		return;
	}
	/* malloc(0) may return NULL: give an empty file one byte, pass size 0. */
	buf = malloc(len ? len : 1);
	if (!buf) {
		fprintf(stderr, "replay: %s: out of memory\n", path);
		rp->errors++;
		fclose(f);
		return;
	}
	if (len)
		got = fread(buf, 1, len, f);
	if (got != len || ferror(f)) {
		fprintf(stderr, "replay: %s: short read\n", path);
		rp->errors++;
	} else {
		run_one(rp, path, buf, len);
	}
	free(buf);
	fclose(f);
}

static int skip_entry(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static void run_path(struct replay *rp, const char *path, int depth)
{
	struct dirent **ents = NULL;
	struct stat st;
	int n, i;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		rp->errors++;
		return;
	}
	if (S_ISREG(st.st_mode)) {
		run_file(rp, path, st.st_size);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "replay: %s: not a file or directory\n", path);
		rp->errors++;
		return;
	}
	if (depth > 16) {
		fprintf(stderr, "replay: %s: directories nested too deep\n", path);
		rp->errors++;
		return;
	}
	n = scandir(path, &ents, skip_entry, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		rp->errors++;
		return;
	}
	for (i = 0; i < n; i++) {
		size_t len = strlen(path) + strlen(ents[i]->d_name) + 2;
		char *child = malloc(len);

		if (child) {
			snprintf(child, len, "%s/%s", path, ents[i]->d_name);
			run_path(rp, child, depth + 1);
			free(child);
		} else {
			rp->errors++;
		}
		free(ents[i]);
	}
	free(ents);
}

int main(int argc, char **argv)
{
	struct replay rp = { 0, 0 };
	static const uint8_t empty[1];
	int i;

	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fprintf(stderr, "usage: %s [FILE|DIR]...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);

	run_one(&rp, "(empty input)", empty, 0);
	for (i = 1; i < argc; i++)
		run_path(&rp, argv[i], 0);

	printf("replay: %lu inputs run, %lu errors\n", rp.inputs, rp.errors);
	return rp.errors ? 1 : 0;
}
