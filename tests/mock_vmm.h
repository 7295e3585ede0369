/* SPDX-License-Identifier: MIT */
/*
 * A mock VMM for tests: guest RAM in a heap buffer registered as one or
 * more regions, an interrupt recorder, a controllable clock and a log
 * capture. Reused by every unit test and test driver.
 */
#ifndef VDEV_TESTS_MOCK_VMM_H
#define VDEV_TESTS_MOCK_VMM_H

#include <stdint.h>
#include <vdev/vdev.h>

#define MOCK_MAX_EVENTS 1024
#define MOCK_LOG_LINES 64

struct mock_msi {
	uint32_t source_id;
	uint64_t addr;
	uint32_t data;
};

struct mock_intx {
	uint32_t source_id;
	unsigned int pin;
	int level;
};

struct mock_vmm {
	vdev_ctx *ctx;
	uint8_t *ram;        /* guest RAM, gpa ram_gpa.. */
	uint64_t ram_gpa;
	size_t ram_size;
	uint64_t now_ns;     /* the clock; tests move it */

	struct mock_msi msi[MOCK_MAX_EVENTS];
	size_t n_msi;
	int msi_result;      /* what msi_send returns */

	struct mock_intx intx[MOCK_MAX_EVENTS];
	size_t n_intx;

	char log[MOCK_LOG_LINES][256];
	enum vdev_log_level log_level[MOCK_LOG_LINES];
	size_t n_log;        /* total lines seen (ring of MOCK_LOG_LINES) */

	unsigned int timers_changed;
};

/*
 * Create a context and register ram_size bytes of guest RAM at gpa 0,
 * split into nregions equal regions (nregions >= 1; 0 registers none).
 * Returns 0 or a negative errno.
 */
int mock_vmm_init(struct mock_vmm *mv, size_t ram_size, unsigned int nregions);
void mock_vmm_fini(struct mock_vmm *mv);

/* Set the clock to now_ns and run expired timers; returns callbacks run. */
int mock_vmm_set_time(struct mock_vmm *mv, uint64_t now_ns);

/* Current INTx level recorded for (source, pin) (0 if never set). */
int mock_vmm_intx_level(const struct mock_vmm *mv, uint32_t source_id, unsigned int pin);

/* 1 if any captured log line contains needle. */
int mock_vmm_log_contains(const struct mock_vmm *mv, const char *needle);

/* Forget recorded interrupts and log lines. */
void mock_vmm_clear_events(struct mock_vmm *mv);

#endif
