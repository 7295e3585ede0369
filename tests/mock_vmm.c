/* SPDX-License-Identifier: MIT */
#include "mock_vmm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void mock_log(void *opaque, enum vdev_log_level level, const char *msg)
{
	struct mock_vmm *mv = opaque;
	size_t slot = mv->n_log % MOCK_LOG_LINES;

	snprintf(mv->log[slot], sizeof(mv->log[slot]), "%s", msg);
	mv->log_level[slot] = level;
	mv->n_log++;
	if (getenv("MOCK_VMM_VERBOSE"))
		fprintf(stderr, "[vdev %d] %s\n", (int)level, msg);
}

static uint64_t mock_clock(void *opaque)
{
	return ((struct mock_vmm *)opaque)->now_ns;
}

static void mock_intx_set(void *opaque, uint32_t source_id, unsigned int pin, int level)
{
	struct mock_vmm *mv = opaque;

	if (mv->n_intx < MOCK_MAX_EVENTS)
		mv->intx[mv->n_intx++] = (struct mock_intx){ source_id, pin, level };
}

static int mock_msi_send(void *opaque, uint32_t source_id, uint64_t addr, uint32_t data)
{
	struct mock_vmm *mv = opaque;

	if (mv->msi_result)
		return mv->msi_result;
	if (mv->n_msi < MOCK_MAX_EVENTS)
		mv->msi[mv->n_msi++] = (struct mock_msi){ source_id, addr, data };
	return 0;
}

static void mock_timers_changed(void *opaque)
{
	((struct mock_vmm *)opaque)->timers_changed++;
}

int mock_vmm_init(struct mock_vmm *mv, size_t ram_size, unsigned int nregions)
{
	struct vdev_host_ops ops = {
		.struct_size = sizeof(ops),
		.opaque = mv,
		.log = mock_log,
		.clock_ns = mock_clock,
		.intx_set = mock_intx_set,
		.msi_send = mock_msi_send,
		.timers_changed = mock_timers_changed,
	};
	int rc;

	memset(mv, 0, sizeof(*mv));
	mv->now_ns = 1000;
	rc = vdev_ctx_new(&ops, &mv->ctx);
	if (rc)
		return rc;
	vdev_ctx_set_log_level(mv->ctx, VDEV_LOG_DEBUG);
	if (ram_size) {
		mv->ram = aligned_alloc(VDEV_PAGE_SIZE, (ram_size + VDEV_PAGE_SIZE - 1) &
							 ~(size_t)(VDEV_PAGE_SIZE - 1));
		if (!mv->ram) {
			vdev_ctx_free(mv->ctx);
			return -ENOMEM;
		}
		memset(mv->ram, 0, ram_size);
		mv->ram_size = ram_size;
	}
	for (unsigned int i = 0; i < nregions; i++) {
		size_t chunk = ram_size / nregions;
		size_t off = chunk * i;
		size_t len = i + 1 == nregions ? ram_size - off : chunk;

		rc = vdev_mem_region_add(mv->ctx, off, len, mv->ram + off, 0);
		if (rc) {
			mock_vmm_fini(mv);
			return rc;
		}
	}
	return 0;
}

void mock_vmm_fini(struct mock_vmm *mv)
{
	vdev_ctx_free(mv->ctx);
	free(mv->ram);
	mv->ctx = NULL;
	mv->ram = NULL;
}

int mock_vmm_set_time(struct mock_vmm *mv, uint64_t now_ns)
{
	mv->now_ns = now_ns;
	return vdev_timers_run(mv->ctx);
}

int mock_vmm_intx_level(const struct mock_vmm *mv, uint32_t source_id, unsigned int pin)
{
	int level = 0;

	for (size_t i = 0; i < mv->n_intx; i++)
		if (mv->intx[i].source_id == source_id && mv->intx[i].pin == pin)
			level = mv->intx[i].level;
	return level;
}

int mock_vmm_log_contains(const struct mock_vmm *mv, const char *needle)
{
	size_t n = mv->n_log < MOCK_LOG_LINES ? mv->n_log : MOCK_LOG_LINES;

	for (size_t i = 0; i < n; i++)
		if (strstr(mv->log[i], needle))
			return 1;
	return 0;
}

void mock_vmm_clear_events(struct mock_vmm *mv)
{
	mv->n_msi = 0;
	mv->n_intx = 0;
	mv->n_log = 0;
}
