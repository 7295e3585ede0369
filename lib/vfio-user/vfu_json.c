/* SPDX-License-Identifier: MIT */
/*
 * The VERSION capabilities (vfio-user.rst, "VFIO_USER_VERSION"): a JSON
 * object, NUL-terminated, e.g.
 *   {"capabilities":{"max_msg_fds":16,"max_data_xfer_size":1048576,...}}
 *
 * A small strict reader (RFC 8259 syntax, nesting at most 16 deep): the
 * whole text must be one well-formed value, an object, with nothing but
 * whitespace after it; of its members we read only
 * capabilities.max_msg_fds and capabilities.max_data_xfer_size (unsigned
 * integers); every other key is skipped, whatever its value. A malformed
 * text, or a malformed value for a key we read, is refused.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vfio-user/vfu_internal.h"

#define JSON_MAX_DEPTH 16

struct jp {
	const char *p;
	const char *end;
};

static void ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool eat(struct jp *j, char c)
{
	ws(j);
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return true;
	}
	return false;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A string; [*s, *s + *n) is its raw content (escapes left as they are). */
static int string(struct jp *j, const char **s, size_t *n)
{
	if (!eat(j, '"'))
		return -EINVAL;
	*s = j->p;
	while (j->p < j->end && *j->p != '"') {
		unsigned char c = (unsigned char)*j->p;

		if (c < 0x20)
			return -EINVAL;
		if (c == '\\') {
			j->p++;
			if (j->p >= j->end)
				return -EINVAL;
			if (*j->p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (j->p + i >= j->end || !is_hex(j->p[i]))
						return -EINVAL;
				j->p += 4;
			} else if (!strchr("\"\\/bfnrt", *j->p) || !*j->p) {
				return -EINVAL;
			}
		}
		j->p++;
	}
	if (j->p >= j->end)
		return -EINVAL;
	*n = (size_t)(j->p - *s);
	j->p++;
	return 0;
}

/* A number; *u gets its value if it is an unsigned integer that fits, else *is_uint = false. */
static int number(struct jp *j, uint64_t *u, bool *is_uint)
{
	bool digits = false;

	ws(j);
	*u = 0;
	*is_uint = true;
	if (j->p < j->end && *j->p == '-') {
		*is_uint = false;
		j->p++;
	}
	if (j->p < j->end && *j->p == '0') {
		j->p++;
		digits = true;
	} else {
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
			unsigned int d = (unsigned int)(*j->p - '0');

			if (*u > (UINT64_MAX - d) / 10)
				*is_uint = false;
			else
				*u = *u * 10 + d;
			j->p++;
			digits = true;
		}
	}
	if (!digits)
		return -EINVAL;
	if (j->p < j->end && *j->p == '.') {
		*is_uint = false;
		j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return -EINVAL;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		*is_uint = false;
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return -EINVAL;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	return 0;
}

static bool word(struct jp *j, const char *w)
{
	size_t n = strlen(w);

	ws(j);
	if ((size_t)(j->end - j->p) >= n && !memcmp(j->p, w, n)) {
		j->p += n;
		return true;
	}
	return false;
}

static int skip_value(struct jp *j, int depth);

/*
 * An object. For each member, @member (may be NULL) is called with the key;
 * it parses the value itself and returns 0, or returns 1 to have it skipped.
 */
static int object(struct jp *j, int depth,
		  int (*member)(struct jp *j, void *arg, const char *k, size_t kn, int depth),
		  void *arg)
{
	if (depth > JSON_MAX_DEPTH || !eat(j, '{'))
		return -EINVAL;
	if (eat(j, '}'))
		return 0;
	for (;;) {
		const char *k;
		size_t kn;
		int rc = string(j, &k, &kn);

		if (rc || !eat(j, ':'))
			return -EINVAL;
		rc = member ? member(j, arg, k, kn, depth + 1) : 1;
		if (rc == 1)
			rc = skip_value(j, depth + 1);
		if (rc)
			return rc;
		if (eat(j, '}'))
			return 0;
		if (!eat(j, ','))
			return -EINVAL;
	}
}

static int skip_value(struct jp *j, int depth)
{
	const char *s;
	size_t n;
	uint64_t u;
	bool is_uint;

	if (depth > JSON_MAX_DEPTH)
		return -EINVAL;
	ws(j);
	if (j->p >= j->end)
		return -EINVAL;
	switch (*j->p) {
	case '{':
		return object(j, depth, NULL, NULL);
	case '[':
		j->p++;
		if (eat(j, ']'))
			return 0;
		for (;;) {
			int rc = skip_value(j, depth + 1);

			if (rc)
				return rc;
			if (eat(j, ']'))
				return 0;
			if (!eat(j, ','))
				return -EINVAL;
		}
	case '"':
		return string(j, &s, &n);
	case 't':
		return word(j, "true") ? 0 : -EINVAL;
	case 'f':
		return word(j, "false") ? 0 : -EINVAL;
	case 'n':
		return word(j, "null") ? 0 : -EINVAL;
	default:
		return number(j, &u, &is_uint);
	}
}

static bool key_is(const char *k, size_t kn, const char *want)
{
	return kn == strlen(want) && !memcmp(k, want, kn);
}

static int uint_value(struct jp *j, uint64_t *v)
{
	bool is_uint;
	int rc = number(j, v, &is_uint);

	return rc ? rc : is_uint ? 0 : -EINVAL;
}

static int cap_member(struct jp *j, void *arg, const char *k, size_t kn, int depth)
{
	struct vfu_server *s = arg;
	uint64_t v;
	int rc;

	(void)depth;
	if (key_is(k, kn, "max_msg_fds")) {
		rc = uint_value(j, &v);
		if (rc)
			return rc;
		s->client_max_fds = v > VFU_MAX_FDS ? VFU_MAX_FDS : (uint32_t)v;
		return 0;
	}
	if (key_is(k, kn, "max_data_xfer_size")) {
		rc = uint_value(j, &v);
		if (rc || !v)
			return -EINVAL;
		s->client_max_xfer = v;
		return 0;
	}
	return 1;
}

static int top_member(struct jp *j, void *arg, const char *k, size_t kn, int depth)
{
	if (key_is(k, kn, "capabilities"))
		return object(j, depth, cap_member, arg);
	return 1;
}

int vdev__vfu_caps_parse(struct vfu_server *s, const char *json, size_t len)
{
	struct jp j;
	int rc;

	/* The text ends at its NUL, the last byte of the message. */
	if (!len || len > VFU_MAX_JSON || json[len - 1] != '\0' || memchr(json, 0, len) !=
	    json + len - 1)
		return -EINVAL;
	j.p = json;
	j.end = json + len - 1;
	rc = object(&j, 0, top_member, s);
	if (rc)
		return rc;
	ws(&j);
	return j.p == j.end ? 0 : -EINVAL;
}

size_t vdev__vfu_caps_emit(char *buf, size_t cap)
{
	int n = snprintf(buf, cap,
			 "{\"capabilities\":{\"max_msg_fds\":%u,\"max_data_xfer_size\":%u,"
			 "\"pgsizes\":%u,\"max_dma_maps\":%u,\"write_multiple\":true}}",
			 VFU_MAX_FDS, VFU_MAX_XFER, VDEV_PAGE_SIZE, VFU_MAX_DMA);

	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n + 1;
}
