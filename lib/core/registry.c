/* SPDX-License-Identifier: MIT */
/*
 * The per-context device registry: registered types (copied, zero-extended
 * to our struct size) and live device instances.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "registry.h"

struct vdev_device {
	vdev_ctx *ctx;
	const struct vdev_device_type *type;
	char id[VDEV__NAME_MAX + 1];
	void *priv;
	struct vdev_pci_func *pci;
	struct vdev_device *prev, *next;
};

struct vdev__registry {
	/* Each type copied into its own allocation: devices and callers keep
	 * pointers to it, so growing the array must not move it. */
	struct vdev_device_type **types;
	size_t n_types, cap_types;
	struct vdev_device *devices;
	unsigned int next_instance;
};

#define TAG_DEVICE VDEV_STATE_TAG('D', 'E', 'V', 'I')
#define TAG_TYPE VDEV_STATE_TAG('T', 'Y', 'P', 'E')
#define TAG_ID VDEV_STATE_TAG('I', 'D', ' ', ' ')

int vdev__registry_init(vdev_ctx *ctx)
{
	ctx->registry = calloc(1, sizeof(*ctx->registry));
	return ctx->registry ? 0 : -ENOMEM;
}

void vdev__registry_fini(vdev_ctx *ctx)
{
	struct vdev__registry *reg = ctx->registry;

	if (!reg)
		return;
	while (reg->devices)
		vdev_device_destroy(reg->devices);
	for (size_t i = 0; i < reg->n_types; i++)
		free(reg->types[i]);
	free(reg->types);
	free(reg);
	ctx->registry = NULL;
}

static int name_valid(const char *name)
{
	size_t len = 0;

	if (!name)
		return 0;
	for (const char *p = name; *p; p++, len++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return 0;
	}
	return len > 0 && len <= VDEV__NAME_MAX;
}

static size_t opt_member_size(uint32_t type)
{
	switch (type) {
	case VDEV_OPT_BOOL:
		return sizeof(int);
	case VDEV_OPT_U64:
		return sizeof(uint64_t);
	case VDEV_OPT_U32:
		return sizeof(uint32_t);
	case VDEV_OPT_STR:
		return sizeof(const char *);
	default:
		return 0;
	}
}

static int type_valid(const struct vdev_device_type *t)
{
	if (!name_valid(t->name) || !t->create || !t->destroy)
		return 0;
	if (t->n_opts && (!t->opts || t->opts_size < sizeof(size_t)))
		return 0;
	if (t->opts_size && t->opts_size < sizeof(size_t))
		return 0;
	for (size_t i = 0; i < t->n_opts; i++) {
		const struct vdev_device_opt *o = &t->opts[i];
		size_t msize = opt_member_size(o->type);

		if (!o->name || !*o->name || !msize || o->offset < sizeof(size_t) ||
		    o->offset > t->opts_size || t->opts_size - o->offset < msize ||
		    !strcmp(o->name, "id") || strchr(o->name, ',') || strchr(o->name, '='))
			return 0;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(t->opts[j].name, o->name))
				return 0;
	}
	return 1;
}

int vdev_device_type_register(vdev_ctx *ctx, const struct vdev_device_type *type)
{
	struct vdev__registry *reg = ctx->registry;
	struct vdev_device_type copy, *stored;

	if (!type || vdev__copy_sized(&copy, sizeof(copy), type))
		return -EINVAL;
	copy.struct_size = sizeof(copy);
	if (!type_valid(&copy))
		return -EINVAL;
	if (vdev_device_type_find(ctx, copy.name))
		return -EEXIST;
	if (reg->n_types == reg->cap_types) {
		size_t cap = reg->cap_types ? reg->cap_types * 2 : 8;
		struct vdev_device_type **types = realloc(reg->types, cap * sizeof(*types));

		if (!types)
			return -ENOMEM;
		reg->types = types;
		reg->cap_types = cap;
	}
	stored = malloc(sizeof(*stored));
	if (!stored)
		return -ENOMEM;
	*stored = copy;
	reg->types[reg->n_types++] = stored;
	return 0;
}

const struct vdev_device_type *vdev_device_type_find(vdev_ctx *ctx, const char *name)
{
	struct vdev__registry *reg = ctx->registry;

	if (!name)
		return NULL;
	for (size_t i = 0; i < reg->n_types; i++)
		if (!strcmp(reg->types[i]->name, name))
			return reg->types[i];
	return NULL;
}

const struct vdev_device_type *vdev_device_type_at(vdev_ctx *ctx, size_t index)
{
	struct vdev__registry *reg = ctx->registry;

	return index < reg->n_types ? reg->types[index] : NULL;
}

int vdev__device_opts_defaults(const struct vdev_device_type *type, void **out, size_t *size)
{
	size_t n = type->opts_size ? type->opts_size : sizeof(size_t);
	void *opts = calloc(1, n);

	if (!opts)
		return -ENOMEM;
	memcpy(opts, &n, sizeof(n));
	if (type->opts_size && type->opts_default)
		type->opts_default(opts);
	/* A default callback must not shrink or corrupt struct_size. */
	memcpy(opts, &n, sizeof(n));
	*out = opts;
	*size = n;
	return 0;
}

static struct vdev_device *find_by_id(struct vdev__registry *reg, const char *id)
{
	for (struct vdev_device *d = reg->devices; d; d = d->next)
		if (!strcmp(d->id, id))
			return d;
	return NULL;
}

static int id_valid(const char *id)
{
	size_t len = strlen(id);

	if (!len || len > VDEV__NAME_MAX)
		return 0;
	for (const char *p = id; *p; p++)
		if (*p <= ' ' || *p > '~' || *p == ',' || *p == '=')
			return 0;
	return 1;
}

int vdev__device_create_prepared(vdev_ctx *ctx, const struct vdev_device_type *type,
				 void *opts, const char *id, vdev_device **out)
{
	struct vdev__registry *reg = ctx->registry;
	struct vdev_device *dev;
	int rc;

	if (id && !id_valid(id)) {
		vdev_log(ctx, VDEV_LOG_ERROR, "%s: invalid device id", type->name);
		return -EINVAL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	if (id) {
		snprintf(dev->id, sizeof(dev->id), "%s", id);
	} else {
		do {
			snprintf(dev->id, sizeof(dev->id), "%s%u", type->name,
				 reg->next_instance++);
		} while (find_by_id(reg, dev->id));
	}
	if (find_by_id(reg, dev->id)) {
		vdev_log(ctx, VDEV_LOG_ERROR, "%s: device id '%s' already in use", type->name,
			 dev->id);
		free(dev);
		return -EEXIST;
	}
	dev->ctx = ctx;
	dev->type = type;
	rc = type->create(dev, opts);
	if (rc) {
		vdev_log(ctx, VDEV_LOG_ERROR, "%s '%s': create failed: %s", type->name, dev->id,
			 vdev_strerror(rc));
		free(dev);
		return rc < 0 ? rc : -EINVAL;
	}
	dev->next = reg->devices;
	if (reg->devices)
		reg->devices->prev = dev;
	reg->devices = dev;
	*out = dev;
	return 0;
}

int vdev_device_create(vdev_ctx *ctx, const char *type_name, const void *opts, const char *id,
		       vdev_device **out)
{
	const struct vdev_device_type *type;
	void *buf;
	size_t size;
	int rc;

	if (!ctx || !out)
		return -EINVAL;
	*out = NULL;
	type = vdev_device_type_find(ctx, type_name);
	if (!type)
		return -ENOENT;
	rc = vdev__device_opts_defaults(type, &buf, &size);
	if (rc)
		return rc;
	if (opts) {
		size_t user_size;

		memcpy(&user_size, opts, sizeof(user_size));
		if (user_size < sizeof(size_t)) {
			free(buf);
			return -EINVAL;
		}
		/*
		 * Overlay what the caller's struct covers on the defaults: an
		 * older caller's struct leaves newer fields at their defaults;
		 * a newer caller's extra fields are beyond what we know.
		 */
		memcpy(buf, opts, VDEV__MIN(user_size, size));
		memcpy(buf, &size, sizeof(size));
	}
	rc = vdev__device_create_prepared(ctx, type, buf, id, out);
	free(buf);
	return rc;
}

void vdev_device_destroy(vdev_device *dev)
{
	struct vdev__registry *reg;

	if (!dev)
		return;
	reg = dev->ctx->registry;
	dev->type->destroy(dev);
	if (dev->prev)
		dev->prev->next = dev->next;
	else
		reg->devices = dev->next;
	if (dev->next)
		dev->next->prev = dev->prev;
	free(dev);
}

void vdev_device_reset(vdev_device *dev)
{
	if (dev->type->reset)
		dev->type->reset(dev);
}

int vdev_device_save(vdev_device *dev, vdev_state_writer *w)
{
	const struct vdev_device_type *t = dev->type;
	int rc;

	rc = vdev_state_begin(w, TAG_DEVICE, t->state_version, VDEV_STATE_F_REQUIRED);
	if (!rc)
		rc = vdev_state_put_bytes(w, TAG_TYPE, t->name, strlen(t->name));
	if (!rc)
		rc = vdev_state_put_bytes(w, TAG_ID, dev->id, strlen(dev->id));
	if (!rc && t->save)
		rc = t->save(dev, w);
	if (!rc)
		rc = vdev_state_end(w);
	return rc;
}

static int expect_bytes(vdev_state_reader *r, uint32_t tag, const char *what,
			struct vdev_state_record *rec)
{
	int rc = vdev_state_next(r, rec);

	if (rc < 0)
		return rc;
	if (rc == 0 || rec->tag != tag || rec->type != VDEV_STATE_BYTES ||
	    rec->len > VDEV__NAME_MAX)
		return vdev_state_fail(r, -EBADMSG, "device state: expected the %s record", what);
	return 0;
}

int vdev_device_load(vdev_device *dev, vdev_state_reader *r)
{
	const struct vdev_device_type *t = dev->type;
	struct vdev_state_record rec;
	uint16_t version;
	int rc;

	rc = vdev_state_next(r, &rec);
	if (rc < 0)
		return rc;
	if (rc == 0 || rec.tag != TAG_DEVICE || rec.type != VDEV_STATE_SECTION)
		return vdev_state_fail(r, -EBADMSG, "%s '%s': no device section in the stream",
				       t->name, dev->id);
	if (rec.version > t->state_version)
		return vdev_state_fail(r, -EPROTONOSUPPORT,
				       "%s '%s': state version %u is newer than supported %u",
				       t->name, dev->id, rec.version, t->state_version);
	version = rec.version;
	rc = vdev_state_enter(r);
	if (rc)
		return rc;
	rc = expect_bytes(r, TAG_TYPE, "device type", &rec);
	if (rc)
		return rc;
	if (rec.len != strlen(t->name) || memcmp(rec.data, t->name, rec.len))
		return vdev_state_fail(r, -EINVAL, "%s '%s': stream holds a '%.*s' device",
				       t->name, dev->id, (int)rec.len, (const char *)rec.data);
	rc = expect_bytes(r, TAG_ID, "device id", &rec);
	if (rc)
		return rc;
	if (rec.len != strlen(dev->id) || memcmp(rec.data, dev->id, rec.len))
		vdev_log(dev->ctx, VDEV_LOG_DEBUG, "%s '%s': loading state saved as '%.*s'",
			 t->name, dev->id, (int)rec.len, (const char *)rec.data);
	if (t->load) {
		rc = t->load(dev, r, version);
		if (rc)
			return rc;
	} else {
		/* A type without state accepts only records it may ignore. */
		while ((rc = vdev_state_next(r, &rec)) == 1) {
			if (rec.flags & VDEV_STATE_F_REQUIRED)
				return vdev_state_fail(r, -EPROTONOSUPPORT,
						       "%s '%s': unexpected state record 0x%08x",
						       t->name, dev->id, rec.tag);
		}
		if (rc < 0)
			return rc;
	}
	return vdev_state_leave(r);
}

vdev_ctx *vdev_device_ctx(const vdev_device *dev)
{
	return dev->ctx;
}

const char *vdev_device_id(const vdev_device *dev)
{
	return dev->id;
}

const struct vdev_device_type *vdev_device_get_type(const vdev_device *dev)
{
	return dev->type;
}

struct vdev_pci_func *vdev_device_pci(const vdev_device *dev)
{
	return dev->pci;
}

void vdev_device_set_priv(vdev_device *dev, void *priv)
{
	dev->priv = priv;
}

void *vdev_device_priv(const vdev_device *dev)
{
	return dev->priv;
}

void vdev_device_set_pci(vdev_device *dev, struct vdev_pci_func *func)
{
	dev->pci = func;
}
