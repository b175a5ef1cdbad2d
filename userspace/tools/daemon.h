/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the two servers share (ktls-serve, ktls-handshaked): log lines that
 * never interleave, the monotonic clock, dropping root, a peer's address,
 * and the master process that keeps N workers running.
 */
#ifndef KTLS_TOOLS_DAEMON_H
#define KTLS_TOOLS_DAEMON_H

#include <stddef.h>
#include <sys/socket.h>

/* "NAME[PID]: MSG\n" on stderr in one write(2), so that workers' lines do not mix. */
void srv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
long long srv_now_ms(void);
/*
 * Become user (its uid, gid and only that group), chowning path to it
 * first if not NULL; exits with one line on any failure, or if root
 * could be regained.
 */
void srv_drop_root(const char *user, const char *path);
/* "1.2.3.4:443" or "[::1]:443" */
void srv_peer_name(const struct sockaddr_storage *ss, char *out, size_t len);
/*
 * The master: start n workers, each a child running run(index) (with
 * PR_SET_PDEATHSIG, so the master's death ends it); start again one that
 * dies (after died(index), if given; not more than once a second); on
 * SIGTERM or SIGINT stop them all and return.
 */
void srv_supervise(long n, void (*run)(long index), void (*died)(long index));

#endif
