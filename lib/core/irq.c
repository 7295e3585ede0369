/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "core.h"

/* The level last driven for one (source, pin), so the host sees changes only. */
struct vdev__intx_level {
	uint32_t source_id;
	uint8_t pin;
	uint8_t level;
};

static struct vdev__intx_level *intx_slot(vdev_ctx *ctx, uint32_t source_id, unsigned int pin)
{
	struct vdev__intx_level *slot;

	for (size_t i = 0; i < ctx->n_intx; i++)
		if (ctx->intx[i].source_id == source_id && ctx->intx[i].pin == pin)
			return &ctx->intx[i];
	if (ctx->n_intx == ctx->cap_intx) {
		size_t cap = ctx->cap_intx ? ctx->cap_intx * 2 : 8;
		slot = realloc(ctx->intx, cap * sizeof(*slot));
		if (!slot)
			return NULL;
		ctx->intx = slot;
		ctx->cap_intx = cap;
	}
	slot = &ctx->intx[ctx->n_intx++];
	*slot = (struct vdev__intx_level){ .source_id = source_id, .pin = (uint8_t)pin };
	return slot;
}

int vdev_irq_intx_set(vdev_ctx *ctx, uint32_t source_id, unsigned int pin, int level)
{
	struct vdev__intx_level *slot;

	if (pin < 1 || pin > 4)
		return -EINVAL;
	level = !!level;
	slot = intx_slot(ctx, source_id, pin);
	if (!slot)
		return -ENOMEM;
	if (slot->level == level)
		return 0;
	slot->level = (uint8_t)level;
	if (ctx->irq_redirect) {
		if (ctx->irq_redirect->intx_set)
			ctx->irq_redirect->intx_set(ctx->irq_redirect->opaque, source_id, pin,
						    level);
		return 0;
	}
	if (!ctx->ops.intx_set) {
		vdev__log_once(ctx, VDEV__ONCE_NO_INTX_HOOK, VDEV_LOG_WARN,
			       "INTx raised but the VMM gave no intx_set hook; dropped");
		return 0;
	}
	ctx->ops.intx_set(ctx->ops.opaque, source_id, pin, level);
	return 0;
}

int vdev_irq_msi_send(vdev_ctx *ctx, uint32_t source_id, uint64_t addr, uint32_t data)
{
	int rc;

	if (ctx->irq_redirect)
		return ctx->irq_redirect->msi_send ?
		       ctx->irq_redirect->msi_send(ctx->irq_redirect->opaque, source_id, addr,
						   data) : -ENOSYS;
	if (!ctx->ops.msi_send) {
		vdev__log_once(ctx, VDEV__ONCE_NO_MSI_HOOK, VDEV_LOG_WARN,
			       "MSI sent but the VMM gave no msi_send hook; dropped");
		return -ENOSYS;
	}
	rc = ctx->ops.msi_send(ctx->ops.opaque, source_id, addr, data);
	if (rc < 0)
		vdev_log(ctx, VDEV_LOG_WARN, "MSI 0x%llx/0x%x from source %u not delivered: %s",
			 (unsigned long long)addr, data, source_id, vdev_strerror(rc));
	return rc;
}
