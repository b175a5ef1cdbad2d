/* SPDX-License-Identifier: GPL-2.0 */
/* ktlsh internals: the context and connection structs, prototypes by file. */
#ifndef KTLSH_INTERNAL_H
#define KTLSH_INTERNAL_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "ktlsh.h"

#define KTLSH_SECRET_MAX 64		/* SHA-384 traffic secrets */
#define KTLSH_RBUF 16640		/* one record's plaintext, and room to spare */
#define KTLSH_EARLY_MAX 65536		/* application data OpenSSL may hold at the switch */

enum { KTLSH_READ = 0, KTLSH_WRITE = 1 };

struct ktlsh_ctx {
	SSL_CTX *ssl_ctx;
	struct ktlsh_config cfg;
};

struct ktlsh_verify_fail {
	int error;			/* X509_V_ERR_*, 0: none recorded */
	int depth;
	char subject[160];
	char when[40];			/* notBefore or notAfter of the failing certificate */
};

struct ktlsh_conn {
	struct ktlsh_ctx *ctx;
	SSL *ssl;
	int fd;
	int offloaded;
	int eof;
	/* Records seen per direction in the current key epoch (msg callback). */
	uint64_t seq[2];
	/*
	 * TLS 1.3 application traffic secrets by direction: _0 from the keylog
	 * callback, then _N+1 after each KeyUpdate (update.c). Kept while the
	 * module carries the records, zeroed in ktlsh_conn_free (TLS 1.2: at
	 * the install, there is no use for them).
	 */
	unsigned char secret[2][KTLSH_SECRET_MAX];
	size_t secret_len[2];
	/*
	 * The sending side: held around every write to the socket after the
	 * switch, so a KeyUpdate and its TX key change never land inside a
	 * write of another thread. tx_owed: the peer asked for a KeyUpdate
	 * that is not sent yet; whoever holds tx_lock sends it before letting
	 * go (update.c).
	 */
	pthread_mutex_t tx_lock;
	atomic_int tx_owed;
	unsigned long updates[2];	/* KeyUpdates received (READ) and sent (WRITE) */
	int max_fragment;		/* negotiated max_fragment_length in bytes, or 0 */
	struct ktlsh_verify_fail vfail;
	char note[256];
	char host[256];			/* the name the peer's certificate must carry */
	char version[16];
	char cipher[64];
	/* Plaintext waiting for the caller: data OpenSSL read before the switch, or
	 * the rest of a record read from the module. */
	unsigned char *rbuf;
	size_t rlen, roff;
	size_t hs_skip;			/* bytes of a post-handshake message still to skip */
};

/* errors.c */
int ktlsh_err_set(struct ktlsh_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int ktlsh_err_sys(struct ktlsh_err *err, int code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
const char *ktlsh_err_openssl(char *buf, size_t len);

/* verify.c */
int ktlsh_verify_setup(struct ktlsh_ctx *ctx, struct ktlsh_err *err);
int ktlsh_verify_host(struct ktlsh_conn *conn, const char *host, struct ktlsh_err *err);
int ktlsh_verify_report(struct ktlsh_conn *conn, struct ktlsh_err *err);

/* keys.c */
union ktlsh_crypto_info;
const char *ktlsh_keys_unsupported(const SSL_CIPHER *cipher, int version);
int ktlsh_keys_derive(struct ktlsh_conn *conn, int dir, void *info, size_t *size,
		      struct ktlsh_err *err);

int ktlsh_keys_next_secret(struct ktlsh_conn *conn, int dir, struct ktlsh_err *err);

/* install.c */
int ktlsh_install(struct ktlsh_conn *conn, struct ktlsh_err *err);
int ktlsh_install_dir(struct ktlsh_conn *conn, int dir, struct ktlsh_err *err);

/* io.c */
#define KTLSH_RT_ALERT 21
#define KTLSH_RT_HANDSHAKE 22
#define KTLSH_RT_DATA 23
int ktlsh_io_send_record(struct ktlsh_conn *conn, unsigned char type, const void *buf,
			 size_t len, struct ktlsh_err *err);
void ktlsh_io_send_alert(struct ktlsh_conn *conn, unsigned char desc);

/* update.c */
int ktlsh_update_received(struct ktlsh_conn *conn, const unsigned char *msg, size_t len,
			  struct ktlsh_err *err);
void ktlsh_update_tx_lock(struct ktlsh_conn *conn);
int ktlsh_update_tx_unlock(struct ktlsh_conn *conn, struct ktlsh_err *err);

/* handshake.c */
int ktlsh_handshake_conn_index(void);
void ktlsh_conn_free(struct ktlsh_conn *conn);

#endif
