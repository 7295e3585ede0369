/* SPDX-License-Identifier: MIT */
/**
 * @file vdev/device.h
 * The device registry and the device lifecycle.
 *
 * Each context has its own registry of device types (no globals): the
 * library's built-in types are registered by vdev_ctx_new(), and a VMM may
 * register its own with vdev_device_type_register(). A device is created
 * by type name, either from the type's options struct or from a CLI-style
 * "type,key=value,..." string, and every device has the same verbs:
 * reset, save, load, destroy.
 */
#ifndef VDEV_DEVICE_H
#define VDEV_DEVICE_H

#include <vdev/common.h>
#include <vdev/state.h>

VDEV_BEGIN_DECLS

/** One device instance. */
typedef struct vdev_device vdev_device;

struct vdev_pci_func;

/** Kinds of option a device type accepts in "key=value" form. */
enum vdev_device_opt_type {
	VDEV_OPT_BOOL = 1, /**< int member; on/off/true/false/yes/no/1/0 */
	VDEV_OPT_U64 = 2,  /**< uint64_t member; decimal, 0x hex or 0 octal;
			      k/M/G/T binary suffixes; checked against [min, max] */
	VDEV_OPT_U32 = 3,  /**< uint32_t member; as U64 */
	VDEV_OPT_STR = 4,  /**< const char * member; valid only during create() */
};

/** Describes one "key=value" option and where it lands in the options struct. */
struct vdev_device_opt {
	const char *name;    /**< the key */
	uint32_t type;       /**< enum vdev_device_opt_type */
	uint32_t offset;     /**< offsetof() the member in the options struct */
	uint64_t min, max;   /**< numeric bounds (inclusive) */
	const char *help;    /**< one line for --help listings */
};

/**
 * A device type. Begins with struct_size (set it to
 * sizeof(struct vdev_device_type)). The struct and everything it points to
 * must outlive every context it is registered in (use a static const).
 *
 * Every callback runs on the device thread.
 */
struct vdev_device_type {
	size_t struct_size;
	const char *name;        /**< unique in the registry, [a-z0-9-]+ */
	const char *description; /**< one line */

	/** sizeof the type's options struct, which must begin with size_t struct_size. */
	size_t opts_size;
	/** Options accepted by vdev_device_create_kv(); may be NULL with n_opts 0. */
	const struct vdev_device_opt *opts;
	size_t n_opts;

	/** Schema version written by save() and the newest load() accepts. */
	uint16_t state_version;

	/**
	 * Fill @p opts (opts_size bytes, zeroed, struct_size already set)
	 * with defaults. Optional: NULL leaves zeroes.
	 */
	void (*opts_default)(void *opts);

	/**
	 * Build the instance. @p opts is never NULL: it is a full opts_size
	 * struct holding the type's defaults (opts_default) overlaid with
	 * what the caller's struct_size covers, or with the parsed key=value
	 * options. Keep per-instance state with vdev_device_set_priv().
	 * Copy strings: they live only during the call.
	 * @return 0 or a negative errno (then destroy is not called).
	 */
	int (*create)(vdev_device *dev, const void *opts);

	/** Release everything the instance holds. */
	void (*destroy)(vdev_device *dev);

	/** Return to power-on state, as a hardware reset would. */
	void (*reset)(vdev_device *dev);

	/** Write the instance state into the current section. Optional. */
	int (*save)(vdev_device *dev, vdev_state_writer *w);

	/**
	 * Read the state written by save() (schema @p version, at most
	 * state_version) from the current section. Validate everything
	 * before touching the device: on failure the device must be unchanged.
	 * Optional (NULL: load accepts only empty state).
	 */
	int (*load)(vdev_device *dev, vdev_state_reader *r, uint16_t version);
};

/**
 * Add a device type to @p ctx's registry.
 * @return 0; -EINVAL (bad struct_size, name or callbacks missing);
 *         -EEXIST (name taken); -ENOMEM. Thread: the device thread.
 */
VDEV_API int vdev_device_type_register(vdev_ctx *ctx, const struct vdev_device_type *type);

/**
 * Look a type up by name. @return the type, or NULL if unknown.
 * Thread: the device thread.
 */
VDEV_API const struct vdev_device_type *vdev_device_type_find(vdev_ctx *ctx, const char *name);

/**
 * Enumerate registered types: @return the @p index'th type (0-based, in
 * registration order) or NULL past the end. Thread: the device thread.
 */
VDEV_API const struct vdev_device_type *vdev_device_type_at(vdev_ctx *ctx, size_t index);

/**
 * Create a device of type @p type_name.
 * @param opts  the type's options struct (its struct_size first), or NULL
 *              for the type's defaults. Read during the call only.
 * @param id    instance name for logs and state checks, or NULL for
 *              "<type>N". Copied.
 * @return 0; -ENOENT (unknown type); -EINVAL (bad options); the type's
 *         create() error. Thread: the device thread.
 */
VDEV_API int vdev_device_create(vdev_ctx *ctx, const char *type_name, const void *opts,
				const char *id, vdev_device **out);

/**
 * Create a device from a CLI-style spec: "type[,key=value]...". The key
 * "id" names the instance; other keys are the type's options. Unknown
 * keys, repeated keys, malformed or out-of-range values fail with
 * -EINVAL and one log line naming the culprit.
 * @return as vdev_device_create(). Thread: the device thread.
 */
VDEV_API int vdev_device_create_kv(vdev_ctx *ctx, const char *spec, vdev_device **out);

/** Destroy a device. NULL is a no-op. Thread: the device thread. */
VDEV_API void vdev_device_destroy(vdev_device *dev);

/** Reset a device to power-on state. Thread: the device thread. */
VDEV_API void vdev_device_reset(vdev_device *dev);

/**
 * Save the device as one required section (tag VDEV_STATE_TAG('D','E','V','I'),
 * version = its type's state_version) holding the type name, the id and
 * the type's own records. @return 0 or a negative errno.
 * Thread: the device thread; the device must be quiesced by the VMM (no
 * vCPU accesses in flight).
 */
VDEV_API int vdev_device_save(vdev_device *dev, vdev_state_writer *w);

/**
 * Load state saved by vdev_device_save() from the next record of @p r.
 * The type name must match, and the version must not be newer than the
 * type's. On any failure the device is unchanged and the reason is in
 * vdev_state_reader_error(). @return 0; -EBADMSG; -ERANGE;
 * -EPROTONOSUPPORT; -EINVAL (type mismatch). Thread: the device thread.
 */
VDEV_API int vdev_device_load(vdev_device *dev, vdev_state_reader *r);

/** @return the context the device belongs to. */
VDEV_API vdev_ctx *vdev_device_ctx(const vdev_device *dev);

/** @return the instance id; valid while the device lives. */
VDEV_API const char *vdev_device_id(const vdev_device *dev);

/** @return the device's type. */
VDEV_API const struct vdev_device_type *vdev_device_get_type(const vdev_device *dev);

/** @return the PCI function the device exposes, or NULL if it is not a PCI device. */
VDEV_API struct vdev_pci_func *vdev_device_pci(const vdev_device *dev);

/** For type implementations: attach per-instance state. */
VDEV_API void vdev_device_set_priv(vdev_device *dev, void *priv);

/** For type implementations: the per-instance state. */
VDEV_API void *vdev_device_priv(const vdev_device *dev);

/** For type implementations: publish the PCI function the device exposes. */
VDEV_API void vdev_device_set_pci(vdev_device *dev, struct vdev_pci_func *func);

VDEV_END_DECLS

#endif /* VDEV_DEVICE_H */
