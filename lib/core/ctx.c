/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "core.h"

int vdev_ctx_new(const struct vdev_host_ops *ops, vdev_ctx **out)
{
	vdev_ctx *ctx;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	if (ops && vdev__copy_sized(&ctx->ops, sizeof(ctx->ops), ops)) {
		free(ctx);
		return -EINVAL;
	}
	ctx->ops.struct_size = sizeof(ctx->ops);
	ctx->log_level = VDEV_LOG_INFO;

	rc = vdev__mem_init(ctx);
	if (!rc)
		rc = vdev__timers_init(ctx);
	if (!rc)
		rc = vdev__registry_init(ctx);
	if (!rc)
		rc = vdev__register_builtin_types(ctx);
	if (rc) {
		vdev_ctx_free(ctx);
		return rc;
	}
	*out = ctx;
	return 0;
}

void vdev_ctx_free(vdev_ctx *ctx)
{
	if (!ctx)
		return;
	/* Devices first: their destroy callbacks free timers and may touch RAM. */
	vdev__registry_fini(ctx);
	vdev__timers_fini(ctx);
	vdev__mem_fini(ctx);
	free(ctx->intx);
	free(ctx);
}

uint64_t vdev_now_ns(vdev_ctx *ctx)
{
	struct timespec ts;

	if (ctx->ops.clock_ns)
		return ctx->ops.clock_ns(ctx->ops.opaque);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
