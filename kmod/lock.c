// SPDX-License-Identifier: GPL-2.0
/*
 * The per-direction lock (struct kto_lock): a sleeping lock whose waits
 * behave like the socket call that waits. A mutex sleeps uninterruptibly
 * and without a deadline, so a second thread on a socket whose first
 * thread waits for its peer would hang in D state, deaf to signals,
 * O_NONBLOCK and SO_SNDTIMEO/SO_RCVTIMEO; this lock instead fails with
 * EAGAIN at once for a non-blocking caller, waits interruptibly up to the
 * socket's timeout otherwise, and when a non-blocking caller was turned
 * away, wakes the socket's pollers once the holder leaves, so an
 * edge-triggered epoll user hears about it.
 *
 * Lock order: a direction's lock before the socket lock, never the other
 * way; TX and RX locks are never held together. Lockdep sees it as an
 * ordinary exclusive lock.
 */
#include <linux/sched/signal.h>
#include <linux/wait.h>
#include <net/sock.h>

#include "ktls.h"

enum {
	KTO_LOCK_HELD,
	KTO_LOCK_TURNED_AWAY,	/* a non-blocking caller got EAGAIN */
};

void __kto_lock_init(struct kto_lock *l, const char *name,
		     struct lock_class_key *key)
{
	l->bits = 0;
	init_waitqueue_head(&l->wq);
	lockdep_init_map(&l->dep_map, name, key, 0);
}

static bool try_take(struct kto_lock *l)
{
	return !test_and_set_bit_lock(KTO_LOCK_HELD, &l->bits);
}

/*
 * Sleep until @l is ours: exclusive waits, so each release wakes one
 * waiter, not all of them (a dozen writers on one socket would otherwise
 * wake each other up for every record). @state is TASK_INTERRUPTIBLE
 * (then a signal ends the wait) or TASK_UNINTERRUPTIBLE.
 */
static int lock_wait(struct kto_lock *l, long *timeo, int state)
{
	DEFINE_WAIT(wait);
	int err = 0;

	for (;;) {
		prepare_to_wait_exclusive(&l->wq, &wait, state);
		if (try_take(l))
			break;
		if (state == TASK_INTERRUPTIBLE && signal_pending(current)) {
			err = sock_intr_errno(*timeo);
			break;
		}
		if (!*timeo) {
			err = -EAGAIN;
			break;
		}
		*timeo = schedule_timeout(*timeo);
	}
	finish_wait(&l->wq, &wait);
	/* Leaving without the lock: pass on a wakeup that may have been ours. */
	if (err && !test_bit(KTO_LOCK_HELD, &l->bits))
		wake_up(&l->wq);
	return err;
}

/*
 * Take @l. @timeo is the caller's remaining socket timeout (0: do not
 * wait), reduced by the time spent here. Returns 0, -EAGAIN (would wait,
 * or the timeout ran out) or -ERESTARTSYS/-EINTR (a signal).
 */
int kto_lock(struct kto_lock *l, long *timeo)
{
	int err;

	might_sleep();
	if (!try_take(l)) {
		if (!*timeo) {
			set_bit(KTO_LOCK_TURNED_AWAY, &l->bits);
			/* The holder may have left meanwhile: look again. */
			if (!try_take(l))
				return -EAGAIN;
			lock_map_acquire_try(&l->dep_map);
			return 0;
		}
		err = lock_wait(l, timeo, TASK_INTERRUPTIBLE);
		if (err)
			return err;
	}
	lock_map_acquire(&l->dep_map);
	return 0;
}

/* Take @l whatever it takes: for close and shutdown, which cannot fail. */
void kto_lock_nofail(struct kto_lock *l)
{
	long timeo = MAX_SCHEDULE_TIMEOUT;

	might_sleep();
	if (!try_take(l))
		lock_wait(l, &timeo, TASK_UNINTERRUPTIBLE);
	lock_map_acquire(&l->dep_map);
}

/*
 * Release @l. If a non-blocking caller was turned away meanwhile, returns
 * true: the caller then wakes the socket's waiters for the direction.
 */
bool kto_unlock(struct kto_lock *l)
{
	bool turned_away;

	lock_map_release(&l->dep_map);
	turned_away = test_and_clear_bit(KTO_LOCK_TURNED_AWAY, &l->bits);
	clear_bit_unlock(KTO_LOCK_HELD, &l->bits);
	/* wq_has_sleeper() orders the clear before the waiter check. */
	if (wq_has_sleeper(&l->wq))
		wake_up(&l->wq);
	return turned_away;
}
