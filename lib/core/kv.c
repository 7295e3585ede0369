/* SPDX-License-Identifier: MIT */
/*
 * "type,key=value,..." device specs, as a CLI hands them over. A value may
 * hold a literal comma written as ",," (the QEMU convention). Everything
 * is checked: unknown or repeated keys, empty or malformed numbers, sign
 * characters, overflow with suffixes, and the option's [min, max].
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "registry.h"

static int parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "on", "true", "yes", "1" };
	static const char *const no[] = { "off", "false", "no", "0" };

	for (size_t i = 0; i < VDEV__ARRAY_SIZE(yes); i++) {
		if (!strcmp(v, yes[i])) {
			*out = 1;
			return 0;
		}
		if (!strcmp(v, no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -EINVAL;
}

/* Unsigned number: decimal, 0x hex or 0-prefixed octal; optional k/M/G/T (x1024^n). */
static int parse_u64(const char *v, uint64_t *out)
{
	unsigned int shift = 0;
	unsigned long long n;
	char *end;

	/* strtoull accepts leading space and a minus sign; we do not. */
	if (!(*v >= '0' && *v <= '9'))
		return -EINVAL;
	errno = 0;
	n = strtoull(v, &end, 0);
	if (errno)
		return -ERANGE;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		end++;
		break;
	case 'M':
		shift = 20;
		end++;
		break;
	case 'G':
		shift = 30;
		end++;
		break;
	case 'T':
		shift = 40;
		end++;
		break;
	default:
		return -EINVAL;
	}
	if (*end)
		return -EINVAL;
	if (shift && n > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)n << shift;
	return 0;
}

int vdev__opt_parse(const struct vdev_device_opt *opt, const char *value, void *opts)
{
	uint8_t *member = (uint8_t *)opts + opt->offset;
	uint64_t n;
	int b, rc;

	switch (opt->type) {
	case VDEV_OPT_BOOL:
		rc = parse_bool(value, &b);
		if (!rc)
			memcpy(member, &b, sizeof(b));
		return rc;
	case VDEV_OPT_STR:
		memcpy(member, &value, sizeof(value));
		return 0;
	case VDEV_OPT_U32:
	case VDEV_OPT_U64:
		rc = parse_u64(value, &n);
		if (rc)
			return rc;
		if (opt->type == VDEV_OPT_U32 && n > UINT32_MAX)
			return -ERANGE;
		if ((opt->min || opt->max) && (n < opt->min || n > opt->max))
			return -ERANGE;
		if (opt->type == VDEV_OPT_U32) {
			uint32_t v32 = (uint32_t)n;

			memcpy(member, &v32, sizeof(v32));
		} else {
			memcpy(member, &n, sizeof(n));
		}
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * Cut the next comma-separated item out of *cursor in place, turning ",,"
 * into ",". Returns the item, or NULL at the end.
 */
static char *next_item(char **cursor)
{
	char *start = *cursor, *src = start, *dst = start;

	if (!start)
		return NULL;
	for (;;) {
		if (*src == ',' && src[1] == ',') {
			*dst++ = ',';
			src += 2;
		} else if (*src == ',' || *src == '\0') {
			*cursor = *src ? src + 1 : NULL;
			*dst = '\0';
			return start;
		} else {
			*dst++ = *src++;
		}
	}
}

static const struct vdev_device_opt *find_opt(const struct vdev_device_type *t, const char *key,
					      size_t *index)
{
	for (size_t i = 0; i < t->n_opts; i++) {
		if (!strcmp(t->opts[i].name, key)) {
			*index = i;
			return &t->opts[i];
		}
	}
	return NULL;
}

static void log_known_keys(vdev_ctx *ctx, const struct vdev_device_type *t, const char *key)
{
	char known[256] = "id";
	size_t used = strlen(known);

	for (size_t i = 0; i < t->n_opts && used < sizeof(known) - 1; i++) {
		int n = snprintf(known + used, sizeof(known) - used, ", %s", t->opts[i].name);

		if (n < 0)
			break;
		used += (size_t)n;
	}
	vdev_log(ctx, VDEV_LOG_ERROR, "%s: unknown option '%s' (known: %s)", t->name, key, known);
}

static int apply_items(vdev_ctx *ctx, const struct vdev_device_type *t, char *cursor,
		       void *opts, const char **id)
{
	uint8_t *seen = calloc(t->n_opts + 1, 1);
	int seen_id = 0, rc = 0;
	char *item;

	if (!seen)
		return -ENOMEM;
	while (!rc && (item = next_item(&cursor))) {
		char *value = strchr(item, '=');
		const struct vdev_device_opt *opt;
		size_t index = 0;

		if (value)
			*value++ = '\0';
		if (!strcmp(item, "id")) {
			if (seen_id++ || !value || !*value) {
				vdev_log(ctx, VDEV_LOG_ERROR, "%s: 'id' needs one value", t->name);
				rc = -EINVAL;
			}
			*id = value;
			continue;
		}
		opt = find_opt(t, item, &index);
		if (!opt) {
			log_known_keys(ctx, t, item);
			rc = -EINVAL;
		} else if (seen[index]++) {
			vdev_log(ctx, VDEV_LOG_ERROR, "%s: option '%s' given twice", t->name, item);
			rc = -EINVAL;
		} else if (!value && opt->type != VDEV_OPT_BOOL) {
			vdev_log(ctx, VDEV_LOG_ERROR, "%s: option '%s' needs a value", t->name, item);
			rc = -EINVAL;
		} else if (vdev__opt_parse(opt, value ? value : "on", opts)) {
			vdev_log(ctx, VDEV_LOG_ERROR,
				 "%s: option '%s': invalid value '%s' (%s)", t->name, item,
				 value ? value : "",
				 opt->help ? opt->help : "see the device's documentation");
			rc = -EINVAL;
		}
	}
	free(seen);
	return rc;
}

int vdev_device_create_kv(vdev_ctx *ctx, const char *spec, vdev_device **out)
{
	const struct vdev_device_type *t;
	char *copy, *cursor, *type_name;
	const char *id = NULL;
	void *opts = NULL;
	size_t size;
	int rc;

	if (!ctx || !spec || !out)
		return -EINVAL;
	*out = NULL;
	copy = strdup(spec);
	if (!copy)
		return -ENOMEM;
	cursor = copy;
	type_name = next_item(&cursor);
	t = vdev_device_type_find(ctx, type_name);
	if (!t) {
		vdev_log(ctx, VDEV_LOG_ERROR, "unknown device type '%s'", type_name);
		free(copy);
		return -ENOENT;
	}
	rc = vdev__device_opts_defaults(t, &opts, &size);
	if (!rc)
		rc = apply_items(ctx, t, cursor, opts, &id);
	/* STR options point into copy: it lives until create() has returned. */
	if (!rc)
		rc = vdev__device_create_prepared(ctx, t, opts, id, out);
	free(opts);
	free(copy);
	return rc;
}
