/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "core.h"

void vdev__logv(vdev_ctx *ctx, enum vdev_log_level level, const char *fmt, va_list ap)
{
	char msg[512];

	if (!ctx || level > ctx->log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (ctx->ops.log) {
		ctx->ops.log(ctx->ops.opaque, level, msg);
		return;
	}
	if (level <= VDEV_LOG_WARN)
		fprintf(stderr, "libvdev: %s: %s\n", level == VDEV_LOG_ERROR ? "error" : "warning",
			msg);
}

void vdev_log(vdev_ctx *ctx, enum vdev_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdev__logv(ctx, level, fmt, ap);
	va_end(ap);
}

void vdev__log_once(vdev_ctx *ctx, unsigned int once_bit, enum vdev_log_level level,
		    const char *fmt, ...)
{
	va_list ap;

	if (ctx->once & once_bit)
		return;
	ctx->once |= once_bit;
	va_start(ap, fmt);
	vdev__logv(ctx, level, fmt, ap);
	va_end(ap);
}

void vdev_ctx_set_log_level(vdev_ctx *ctx, enum vdev_log_level level)
{
	if (level > VDEV_LOG_DEBUG)
		level = VDEV_LOG_DEBUG;
	ctx->log_level = level;
}
