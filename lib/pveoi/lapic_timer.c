/* SPDX-License-Identifier: MIT */
/*
 * The local APIC timer (SDM 11.5.4): one-shot and periodic count-down at
 * timer_hz / divisor, and TSC-deadline mode (11.5.4.1), on one library
 * timer. The count is not stepped: the current count is computed from
 * the start time, and the library timer is armed only for an unmasked
 * expiry, so a masked or idle timer costs no wake-ups.
 */
#include <errno.h>

#include "pveoi/lapic_internal.h"

#define NS_PER_S 1000000000ull

uint32_t vdev__lapic_timer_mode(const vdev_lapic *a)
{
	return (a->r.lvt[LVT_TIMER] >> LVT_TIMER_MODE_SHIFT) & 3;
}

/* Divide configuration (SDM figure 11-10): bits 3,1,0; 111b is divide by 1. */
uint32_t vdev__lapic_timer_divisor(uint32_t tdcr)
{
	uint32_t v = (tdcr & 3) | ((tdcr >> 1) & 4);

	return v == 7 ? 1 : 2u << v;
}

/* ns for @ticks timer ticks, saturating. */
static uint64_t ticks_to_ns(const vdev_lapic *a, uint64_t ticks)
{
	unsigned __int128 ns = (unsigned __int128)ticks *
			       vdev__lapic_timer_divisor(a->r.tdcr) * NS_PER_S / a->timer_hz;

	return ns > UINT64_MAX / 2 ? UINT64_MAX / 2 : (uint64_t)ns;
}

static uint64_t ns_to_ticks(const vdev_lapic *a, uint64_t ns)
{
	unsigned __int128 t = (unsigned __int128)ns * a->timer_hz /
			      ((unsigned __int128)NS_PER_S * vdev__lapic_timer_divisor(a->r.tdcr));

	return t > UINT64_MAX ? UINT64_MAX : (uint64_t)t;
}

uint64_t vdev__lapic_tsc(vdev_lapic *a)
{
	if (a->ops.read_tsc)
		return a->ops.read_tsc(a->ops.opaque, a);
	return (uint64_t)((unsigned __int128)vdev_now_ns(a->ctx) * a->tsc_hz / NS_PER_S);
}

uint32_t vdev__lapic_timer_current(const vdev_lapic *a)
{
	uint64_t now, ticks;

	if (!a->r.timer_running || !a->r.tmict ||
	    vdev__lapic_timer_mode(a) == LVT_TIMER_TSCDEADLINE)
		return 0;
	now = vdev_now_ns(a->ctx);
	ticks = ns_to_ticks(a, now > a->timer_start ? now - a->timer_start : 0);
	if (vdev__lapic_timer_mode(a) == LVT_TIMER_PERIODIC)
		return a->r.tmict - (uint32_t)(ticks % a->r.tmict);
	return ticks >= a->r.tmict ? 0 : a->r.tmict - (uint32_t)ticks;
}

void vdev__lapic_timer_update(vdev_lapic *a)
{
	uint32_t mode = vdev__lapic_timer_mode(a);
	uint64_t now = vdev_now_ns(a->ctx), period, elapsed;

	vdev_timer_disarm(a->timer);
	if (a->r.lvt[LVT_TIMER] & LVT_MASKED)
		return;
	if (mode == LVT_TIMER_TSCDEADLINE) {
		uint64_t tsc, dns;

		if (!a->r.tsc_deadline || !a->tsc_hz)
			return;
		tsc = vdev__lapic_tsc(a);
		dns = a->r.tsc_deadline <= tsc ? 0 :
		      (uint64_t)VDEV__MIN((unsigned __int128)(a->r.tsc_deadline - tsc) *
					  NS_PER_S / a->tsc_hz, (unsigned __int128)UINT64_MAX / 2);
		vdev_timer_arm(a->timer, now + dns);
		return;
	}
	if (!a->r.timer_running || !a->r.tmict)
		return;
	period = ticks_to_ns(a, a->r.tmict);
	if (!period)
		period = 1;
	elapsed = now > a->timer_start ? now - a->timer_start : 0;
	if (mode == LVT_TIMER_ONESHOT) {
		if (elapsed >= period) {
			a->r.timer_running = 0; /* expired while masked: no interrupt */
			return;
		}
		vdev_timer_arm(a->timer, a->timer_start + period);
		return;
	}
	vdev_timer_arm(a->timer, a->timer_start + (elapsed / period + 1) * period);
}

void vdev__lapic_timer_start(vdev_lapic *a)
{
	a->timer_start = vdev_now_ns(a->ctx);
	a->r.timer_running = a->r.tmict != 0;
	vdev__lapic_timer_update(a);
}

void vdev__lapic_timer_fire(vdev_timer *t, void *opaque)
{
	vdev_lapic *a = opaque;
	uint32_t lvt = a->r.lvt[LVT_TIMER];

	(void)t;
	switch (vdev__lapic_timer_mode(a)) {
	case LVT_TIMER_TSCDEADLINE:
		a->r.tsc_deadline = 0; /* SDM 11.5.4.1: the deadline disarms on firing */
		break;
	case LVT_TIMER_ONESHOT:
		a->r.timer_running = 0;
		break;
	default:
		vdev__lapic_timer_update(a); /* the next period */
		break;
	}
	if (lvt & LVT_MASKED)
		return;
	vdev__lapic_accept(a, lvt & 0xff, 0, false);
	if (a->ops.kick)
		a->ops.kick(a->ops.opaque, a);
}
