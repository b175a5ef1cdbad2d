/* SPDX-License-Identifier: GPL-2.0 */
/* ktlsh internals: the context and connection structs, prototypes by file. */
#ifndef KTLSH_INTERNAL_H
#define KTLSH_INTERNAL_H

#include <linux/tls.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "kto_crypto_info.h"
#include "ktlsh.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
/* Upstream Linux 6.19; the module takes it on every kernel. */
#ifndef TLS_TX_MAX_PAYLOAD_LEN
#define TLS_TX_MAX_PAYLOAD_LEN 5
#endif

#define KTLSH_SECRET_MAX 64		/* SHA-384 traffic secrets */
#define KTLSH_RBUF 16640		/* one record's plaintext, and room to spare */
#define KTLSH_EARLY_MAX 65536		/* application data OpenSSL may hold at the switch */
#define KTLSH_HS_MAX 65536		/* a post-handshake message kept whole (tickets) */
#define KTLSH_SENDFILE_CHUNK (128 * 1024)	/* bytes per sendfile(2) into the module */

enum { KTLSH_READ = 0, KTLSH_WRITE = 1 };

/* TLS record content types and the post-handshake messages ktlsh knows. */
#define KTLSH_RT_ALERT 21
#define KTLSH_RT_HANDSHAKE 22
#define KTLSH_RT_DATA 23
#define KTLSH_HS_NEW_SESSION_TICKET 4
#define KTLSH_HS_KEY_UPDATE 24

struct ktlsh_ctx {
	SSL_CTX *ssl_ctx;
	struct ktlsh_config cfg;
	int keys_write_only;		/* TLS_KTO_KEYS_WRITE_ONLY before the keys */
};

struct ktlsh_verify_fail {
	int error;			/* X509_V_ERR_*, 0: none recorded */
	int depth;
	char subject[160];
	char when[40];			/* notBefore or notAfter of the failing certificate */
};

enum ktlsh_state {
	KTLSH_ST_HANDSHAKE,		/* in SSL_do_handshake */
	KTLSH_ST_SWITCH,		/* done in OpenSSL: reading out what it holds, installing */
	KTLSH_ST_OPEN,			/* application data */
	KTLSH_ST_FAILED,		/* the handshake failed: fail holds why */
};

struct ktlsh_conn {
	struct ktlsh_ctx *ctx;
	SSL *ssl;			/* NULL on a server once the module carries the records */
	int fd;
	enum ktlsh_state state;
	struct ktlsh_err fail;		/* KTLSH_ST_FAILED: the error, returned again */
	int offloaded;
	int eof;
	int shut;			/* close_notify sent */
	/* Fixed at the end of the handshake, so no OpenSSL call is needed later. */
	const SSL_CIPHER *cipher;
	int tls_version;		/* TLS1_2_VERSION or TLS1_3_VERSION */
	int resumed;
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
	/*
	 * Around every OpenSSL call after the handshake (SSL_read, SSL_write
	 * when OpenSSL carries the records; tickets and sessions when the
	 * module does), never held while waiting for the socket.
	 */
	pthread_mutex_t ssl_lock;
	unsigned long updates[2];	/* KeyUpdates received (READ) and sent (WRITE) */
	int max_fragment;		/* negotiated max_fragment_length in bytes, or 0 */
	struct ktlsh_verify_fail vfail;
	char note[256];
	char host[256];			/* the name the peer's certificate must carry */
	char version[16];
	char cipher_name[64];
	char peer[256];			/* the peer's certificate, in short, or "" */
	/*
	 * Made by ktlsh_hsd_result: the daemon holds the secrets (hsd.c).
	 * hsd_id names the connection there, for UPDATE and FORGET, valid
	 * while the daemon connection is the same (hsd_gen).
	 */
	struct ktlsh_hsd *hsd;
	uint64_t hsd_id;
	unsigned int hsd_gen;
	/* Plaintext waiting for the caller: data OpenSSL read before the switch, or
	 * the rest of a record read from the module. */
	unsigned char *rbuf;
	size_t rlen, roff;
	/*
	 * The post-handshake message being put together from one or more
	 * records: its header, then its body (kept when it fits in
	 * KTLSH_HS_MAX, else skipped).
	 */
	unsigned char hs_hdr[4];
	size_t hs_hdr_len, hs_body_len, hs_body_have;
	unsigned char *hs_body;
	/*
	 * Client, TLS 1.3: NewSessionTickets arrive through the module; they
	 * go to OpenSSL as records sealed under the server's first traffic
	 * key, which OpenSSL still reads with (session.c).
	 */
	unsigned char feed_secret[KTLSH_SECRET_MAX];
	size_t feed_secret_len;
	uint64_t feed_seq;
	int feed_broken;
};

/* errors.c */
int ktlsh_err_set(struct ktlsh_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int ktlsh_err_sys(struct ktlsh_err *err, int code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
const char *ktlsh_err_openssl(char *buf, size_t len);
int ktlsh_err_prefix(struct ktlsh_err *err, int code, const char *prefix);

/* config.c */
int ktlsh_config_conn_index(void);

/* verify.c */
int ktlsh_verify_setup(struct ktlsh_ctx *ctx, struct ktlsh_err *err);
int ktlsh_verify_host(struct ktlsh_conn *conn, const char *host, struct ktlsh_err *err);
int ktlsh_verify_report(struct ktlsh_conn *conn, struct ktlsh_err *err);
int ktlsh_verify_done(struct ktlsh_conn *conn, struct ktlsh_err *err);

/* keys.c */
const char *ktlsh_keys_unsupported(const SSL_CIPHER *cipher, int version);
int ktlsh_keys_derive(struct ktlsh_conn *conn, int dir, union kto_crypto_info *info,
		      size_t *size, struct ktlsh_err *err);
int ktlsh_keys_record(struct ktlsh_conn *conn, const unsigned char *secret, size_t len,
		      unsigned char key[32], size_t *key_len, unsigned char iv[12]);
int ktlsh_keys_next_secret(struct ktlsh_conn *conn, int dir, struct ktlsh_err *err);

/* install.c */
int ktlsh_install(struct ktlsh_conn *conn, struct ktlsh_err *err);
int ktlsh_install_dir(struct ktlsh_conn *conn, int dir, struct ktlsh_err *err);

/* bio.c */
BIO *ktlsh_bio_new(int fd);

/* io.c */
int ktlsh_io_send_record(struct ktlsh_conn *conn, unsigned char type, const void *buf,
			 size_t len, struct ktlsh_err *err);
void ktlsh_io_send_alert(struct ktlsh_conn *conn, unsigned char desc);
int ktlsh_io_nonblocking(const struct ktlsh_conn *conn);
int ktlsh_io_would_block(struct ktlsh_conn *conn, int dir, struct ktlsh_err *err);
int ktlsh_io_wait(struct ktlsh_conn *conn, int want, struct ktlsh_err *err);
long long ktlsh_io_now_ms(void);	/* CLOCK_MONOTONIC */

/* update.c */
int ktlsh_update_received(struct ktlsh_conn *conn, unsigned char request_update,
			  struct ktlsh_err *err);
void ktlsh_update_tx_lock(struct ktlsh_conn *conn);
int ktlsh_update_tx_unlock(struct ktlsh_conn *conn, struct ktlsh_err *err);
int ktlsh_update_send_owed(struct ktlsh_conn *conn, struct ktlsh_err *err);

/* session.c */
void ktlsh_session_ticket(struct ktlsh_conn *conn, const unsigned char *msg, size_t len);

/* handshake.c */
void ktlsh_handshake_setup(SSL_CTX *c);

/* hsd.c */
int ktlsh_hsd_update(struct ktlsh_conn *conn, int dir, struct ktlsh_err *err);
void ktlsh_hsd_forget(struct ktlsh_conn *conn);

/* conn.c */
void ktlsh_conn_free(struct ktlsh_conn *conn);

#endif
