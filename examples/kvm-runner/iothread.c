/* SPDX-License-Identifier: MIT */
/*
 * The I/O thread: waits on the block completion loops' event fds, a timerfd
 * set to libvdev's next timer deadline, and a wake-up eventfd; then, under
 * the big lock, runs block completions and due timers (virtio-scsi
 * publishes completions from a zero-delay timer, so timers run after every
 * poll). An idle VM arms no timer and this thread sleeps.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "runner.h"

#define MAX_LOOPS 8

struct iothread {
	pthread_t thread;
	int started;
	int wake_fd, timer_fd;
	vdev_blk_loop *loops[MAX_LOOPS];
	unsigned int n_loops;
	int quit; /* atomic */
};

void iothread_kick(struct vm *vm)
{
	uint64_t one = 1;

	if (vm->io && write(vm->io->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		perror("vdev-run: iothread wake");
}

static void drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) > 0)
		;
}

/* Arm the timerfd for libvdev's next deadline (guest clock -> host monotonic). */
static void arm_timer(struct vm *vm)
{
	struct itimerspec its;
	uint64_t deadline, abs_ns;

	memset(&its, 0, sizeof(its));
	if (vdev_timers_next_deadline(vm->ctx, &deadline) == 0) {
		abs_ns = deadline + vm->clock_base_ns;
		if (abs_ns < deadline) /* wrapped: far future */
			abs_ns = UINT64_MAX - 1;
		its.it_value.tv_sec = (time_t)(abs_ns / 1000000000u);
		its.it_value.tv_nsec = (long)(abs_ns % 1000000000u);
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(vm->io->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void *io_main(void *arg)
{
	struct vm *vm = arg;
	struct iothread *io = vm->io;
	struct pollfd pfd[2 + MAX_LOOPS];
	unsigned int i, n;

	for (;;) {
		pthread_mutex_lock(&vm->lock);
		for (i = 0; i < io->n_loops; i++)
			vdev_blk_loop_poll(io->loops[i]);
		vdev_timers_run(vm->ctx);
		arm_timer(vm);
		n = 0;
		pfd[n++] = (struct pollfd){ .fd = io->wake_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = io->timer_fd, .events = POLLIN };
		for (i = 0; i < io->n_loops; i++)
			pfd[n++] = (struct pollfd){ .fd = vdev_blk_loop_event_fd(io->loops[i]),
						   .events = POLLIN };
		pthread_mutex_unlock(&vm->lock);

		if (__atomic_load_n(&io->quit, __ATOMIC_ACQUIRE))
			break;
		if (poll(pfd, n, -1) < 0 && errno != EINTR)
			break;
		drain(io->wake_fd);
		drain(io->timer_fd);
	}
	return NULL;
}

int iothread_create(struct vm *vm)
{
	struct iothread *io = calloc(1, sizeof(*io));

	if (!io)
		return -ENOMEM;
	vm->io = io;
	io->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	io->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (io->wake_fd < 0 || io->timer_fd < 0)
		return -errno;
	return 0;
}

/* Call before iothread_start(). */
int iothread_add_blk_loop(struct vm *vm, vdev_blk_loop *loop)
{
	struct iothread *io = vm->io;

	if (io->n_loops == MAX_LOOPS)
		return -ENOSPC;
	io->loops[io->n_loops++] = loop;
	return 0;
}

int iothread_start(struct vm *vm)
{
	int rc = pthread_create(&vm->io->thread, NULL, io_main, vm);

	if (rc)
		return -rc;
	vm->io->started = 1;
	return 0;
}

void iothread_destroy(struct vm *vm)
{
	struct iothread *io = vm->io;

	if (!io)
		return;
	if (io->started) {
		__atomic_store_n(&io->quit, 1, __ATOMIC_RELEASE);
		iothread_kick(vm);
		pthread_join(io->thread, NULL);
	}
	if (io->wake_fd >= 0)
		close(io->wake_fd);
	if (io->timer_fd >= 0)
		close(io->timer_fd);
	free(io);
	vm->io = NULL;
}
