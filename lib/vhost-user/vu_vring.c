/* SPDX-License-Identifier: MIT */
/*
 * Rings: the state vhost-user builds up per ring (size, addresses, base,
 * kick/call fds, enable) and when the device queue runs.
 *
 * A ring runs once it has everything: features set, a memory table, size
 * and addresses, a kick fd (vhost-user.rst: "the ring starts when the
 * back end receives SET_VRING_KICK") and is enabled (with
 * VHOST_USER_F_PROTOCOL_FEATURES rings start disabled until
 * SET_VRING_ENABLE 1; without, they start enabled). A running ring that
 * is disabled again is paused (no new requests) rather than stopped, so
 * nothing in flight is lost; GET_VRING_BASE stops it, after draining.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhost-user/vu_internal.h"

#define VU_MAINT_MS 1

void vdev__vu_event(struct vu_server *s, enum vdev_vhost_user_event ev, unsigned int q)
{
	if (s->event)
		s->event(s->opaque, ev, q);
}

void vdev__vu_vring_init(struct vu_vring *v)
{
	*v = (struct vu_vring){ .call_fd = -1, .err_fd = -1, .log_gpa = UINT64_MAX };
}

static void kick_closed(uv_handle_t *h)
{
	struct vu_kick *k = h->data;

	close(k->fd);
	free(k);
}

static void kick_drop(struct vu_vring *v)
{
	struct vu_kick *k = v->kick;

	if (!k)
		return;
	v->kick = NULL;
	if (k->s->loop) {
		uv_close((uv_handle_t *)&k->h, kick_closed);
	} else {
		close(k->fd);
		free(k);
	}
}

static void kick_cb(uv_poll_t *h, int status, int events)
{
	struct vu_kick *k = h->data;
	struct vu_server *s = k->s;
	uint64_t cnt;

	(void)events;
	if (status < 0)
		return;
	/* Drain the eventfd; several kicks are one look at the ring. */
	while (read(k->fd, &cnt, sizeof(cnt)) == (ssize_t)sizeof(cnt))
		;
	if (s->vr[k->index].running && s->vr[k->index].enabled)
		vdev_virtio_kick(s->vd, k->index);
	if (s->old_tables)
		vdev__vu_mem_gc(s, false);
}

void vdev__vu_vring_close(struct vu_server *s, unsigned int index)
{
	struct vu_vring *v = &s->vr[index];

	if (v->running)
		vdev_virtio_ext_queue_stop(s->vd, index, NULL);
	kick_drop(v);
	if (v->call_fd >= 0)
		close(v->call_fd);
	if (v->err_fd >= 0)
		close(v->err_fd);
	vdev__vu_vring_init(v);
}

int vdev__vu_vring_set_kick(struct vu_server *s, unsigned int index, int fd)
{
	struct vu_vring *v = &s->vr[index];
	struct vu_kick *k;
	int fl;

	kick_drop(v);
	v->started = true;
	if (fd < 0) {
		vdev__vu_log(s, VDEV_LOG_WARN, "ring %u: no kick fd (polling mode is not "
			     "supported): the ring waits for a kick fd", index);
		v->started = false;
		return 0;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		close(fd);
		return -ENOMEM;
	}
	k->s = s;
	k->index = index;
	k->fd = fd;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || !s->loop ||
	    uv_poll_init(s->loop, &k->h, fd)) {
		close(fd);
		free(k);
		v->started = false;
		return -EBADF;
	}
	k->h.data = k;
	v->kick = k;
	uv_poll_start(&k->h, UV_READABLE, kick_cb);
	return vdev__vu_vring_update(s, index);
}

static int vring_start(struct vu_server *s, unsigned int index)
{
	struct vu_vring *v = &s->vr[index];
	struct vdev_virtio_ext_queue q = {
		.struct_size = sizeof(q),
		.size = v->num,
		.desc = v->desc,
		.driver = v->avail,
		.device = v->used,
		.base = v->base,
	};
	int rc;

	vdev__vu_inflight_attach(s, index);
	v->irq_due = false; /* what the ring's last run raised is not this run's business */
	rc = vdev_virtio_ext_queue_setup(s->vd, index, &q);
	if (!rc)
		rc = vdev_virtio_ext_queue_enable(s->vd, index, 1);
	if (rc) {
		vdev__vu_log(s, VDEV_LOG_WARN, "ring %u: cannot start: %s", index,
			     vdev_strerror(rc));
		return rc;
	}
	v->running = true;
	vdev__vu_log(s, VDEV_LOG_INFO, "ring %u running: size %u, base %u", index, v->num,
		     v->base);
	vdev__vu_event(s, VDEV_VHOST_USER_STARTED, index);
	return vdev_virtio_ext_start(s->vd);
}

int vdev__vu_vring_update(struct vu_server *s, unsigned int index)
{
	struct vu_vring *v = &s->vr[index];
	vdev_vq *vq = vdev_virtio_queue(s->vd, index);

	if (v->running) {
		int was = vdev_vq_paused(vq);

		vdev_vq_pause(vq, !v->enabled);
		/* Re-enabled: look for what the driver added meanwhile. */
		if (was && v->enabled)
			vdev_virtio_kick(s->vd, index);
		return 0;
	}
	if (!s->features_set || !v->addr_set || !v->started || !v->enabled || !v->num ||
	    !s->nregions || s->draining)
		return 0;
	return vring_start(s, index);
}

static void maint_cb(uv_timer_t *t)
{
	struct vu_server *s = t->data;

	if (s->draining) {
		vdev_vq *vq = vdev_virtio_queue(s->vd, s->drain_index);
		uint64_t waited = uv_now(s->loop) - s->drain_start_ms;

		if (!vdev_vq_inflight(vq))
			vdev__vu_drain_done(s, false);
		else if (waited >= VDEV_VHOST_USER_DRAIN_MS)
			vdev__vu_drain_done(s, true);
	}
	vdev__vu_mem_gc(s, false);
	if (!s->draining && !s->old_tables)
		uv_timer_stop(t);
}

void vdev__vu_maint_arm(struct vu_server *s)
{
	if (!s->maint || uv_is_active((uv_handle_t *)s->maint))
		return;
	uv_timer_start(s->maint, maint_cb, VU_MAINT_MS, VU_MAINT_MS);
}

void vdev__vu_drain_done(struct vu_server *s, bool timed_out)
{
	unsigned int index = s->drain_index;
	struct vu_vring *v = &s->vr[index];
	vdev_vq *vq = vdev_virtio_queue(s->vd, index);
	uint8_t out[8];
	uint32_t base = 0;
	int rc;

	s->draining = false;
	if (timed_out)
		vdev__vu_log(s, VDEV_LOG_WARN, "ring %u: %u request(s) still in flight after "
			     "%u ms: abandoned", index, vdev_vq_inflight(vq),
			     VDEV_VHOST_USER_DRAIN_MS);
	/* Completions pushed but not yet published go to the used ring now. */
	if (vdev_vq_started(vq))
		vdev_vq_flush(vq);
	vdev_virtio_ext_queue_stop(s->vd, index, &base);
	vdev__vu_inflight_retire(s, index);
	v->running = false;
	v->started = false;
	v->base = base;
	kick_drop(v);
	vdev__vu_log(s, VDEV_LOG_INFO, "ring %u stopped at base %u", index, base);
	vdev__vu_event(s, VDEV_VHOST_USER_STOPPED, index);
	vdev__put_le32(out, index);
	vdev__put_le32(out + 4, base);
	rc = vdev__vu_reply(s, VU_GET_VRING_BASE, out, sizeof(out), NULL, 0);
	vdev__vu_conn_resume(s, rc);
}

int vdev__vu_vring_get_base(struct vu_server *s, unsigned int index)
{
	struct vu_vring *v = &s->vr[index];
	vdev_vq *vq = vdev_virtio_queue(s->vd, index);
	uint8_t out[8];

	if (!v->running) {
		/* Never ran: report what we were told, and forget the kick fd. */
		v->started = false;
		kick_drop(v);
		vdev__put_le32(out, index);
		vdev__put_le32(out + 4, v->base);
		return vdev__vu_reply(s, VU_GET_VRING_BASE, out, sizeof(out), NULL, 0);
	}
	/* Take nothing new; answer once what was taken has completed. */
	vdev_vq_pause(vq, 1);
	s->draining = true;
	s->drain_index = index;
	s->drain_start_ms = s->loop ? uv_now(s->loop) : 0;
	if (!vdev_vq_inflight(vq) || !s->maint) {
		vdev__vu_drain_done(s, vdev_vq_inflight(vq) != 0);
		return 0;
	}
	vdev__vu_maint_arm(s);
	return 1;
}

/* ---- the external transport's hooks ---- */

static void ext_queue_irq(void *opaque, unsigned int index)
{
	struct vu_server *s = opaque;
	uint64_t one = 1;

	if (index >= s->nq)
		return;
	s->vr[index].irq_due = true;
	if (s->vr[index].call_fd >= 0 &&
	    write(s->vr[index].call_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		vdev__vu_log(s, VDEV_LOG_WARN, "ring %u: call fd write failed", index);
}

static void ext_config_irq(void *opaque)
{
	struct vu_server *s = opaque;
	uint8_t hdr[VU_HDR_SIZE];

	/* Only over the back-end channel, and only if CONFIG was negotiated. */
	if (s->backend_fd < 0 || !(s->protocol_features & VU_BIT(VU_PF_CONFIG)))
		return;
	vdev__put_le32(hdr, VU_BACKEND_CONFIG_CHANGE_MSG);
	vdev__put_le32(hdr + 4, VU_VERSION);
	vdev__put_le32(hdr + 8, 0);
	if (send(s->backend_fd, hdr, sizeof(hdr), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		vdev__vu_log(s, VDEV_LOG_WARN, "config change message not sent");
}

const struct vdev_virtio_ext_ops vdev__vu_ext_ops = {
	.struct_size = sizeof(struct vdev_virtio_ext_ops),
	.queue_irq = ext_queue_irq,
	.config_irq = ext_config_irq,
};
