/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What ktls-handshaked needs of libktlsh beyond ktlsh.h: a finished
 * connection taken apart into what goes back to the server (the socket,
 * the struct kthd_result, the early data) and what the daemon keeps (a
 * TLS 1.3 connection's traffic secrets, for KeyUpdate). In libktlsh.a
 * only: the shared library does not export them.
 */
#ifndef KTLSH_HSD_DAEMON_H
#define KTLSH_HSD_DAEMON_H

#include <stddef.h>

#include "hsd_proto.h"
#include "ktlsh.h"

struct ktlsh_secrets;

/*
 * conn's handshake is done (ktlsh_handshake returned 0) and the records
 * are in the module: fill *res and early (KTHD_EARLY_MAX bytes of room),
 * move a TLS 1.3 connection's traffic secrets into *secp (NULL for TLS
 * 1.2: nothing to keep), free conn and return its socket, which is now
 * the caller's. Every copy of a key left in conn is zeroed.
 */
int ktlsh_daemon_take(struct ktlsh_conn *conn, struct kthd_result *res, unsigned char *early,
		      struct ktlsh_secrets **secp);
/* Direction dir (KTHD_DIR_RX or KTHD_DIR_TX): the next traffic key, installed on fd. */
int ktlsh_daemon_update(struct ktlsh_secrets *sec, int fd, int dir, struct ktlsh_err *err);
/* Zeroed and freed. */
void ktlsh_daemon_secrets_free(struct ktlsh_secrets *sec);

/* errors.c (as internal.h has them): fill *err, return code. */
int ktlsh_err_set(struct ktlsh_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int ktlsh_err_sys(struct ktlsh_err *err, int code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
