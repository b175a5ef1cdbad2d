// SPDX-License-Identifier: GPL-2.0
/*
 * The handshake, in OpenSSL, and the switch to the module.
 *
 * Sequence numbers: OpenSSL 3.0 has no getter, so the msg callback counts
 * record headers per direction (SSL3_RT_HEADER is reported for every
 * record read and written) and restarts the count at the Finished
 * message, which the callback reports after that record's header: in TLS
 * 1.3 Finished is the last record under the handshake keys (the next is
 * 0), in TLS 1.2 it is record 0 under the new keys (the next is 1). (The
 * callback does not report a received ChangeCipherSpec, so that cannot
 * mark the epoch.)
 * A TLS 1.3 server's NewSessionTickets, written under its application key
 * before SSL_accept returns, are counted like any record.
 *
 * Read-ahead is off, so OpenSSL reads from the socket no further than the
 * record it needs; whatever it still holds when the handshake ends
 * (SSL_has_pending) is read out with SSL_read before the switch and
 * delivered by ktlsh_read before anything the module receives.
 */
#include <errno.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static int conn_index = -1;

int ktlsh_handshake_conn_index(void)
{
	return conn_index;
}

static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
		   SSL *ssl, void *arg)
{
	struct ktlsh_conn *conn = SSL_get_ex_data(ssl, conn_index);
	const unsigned char *p = buf;
	int dir = write_p ? KTLSH_WRITE : KTLSH_READ;

	(void)version;
	(void)arg;
	if (!conn)
		return;
	if (content_type == SSL3_RT_HEADER) {
		conn->seq[dir]++;
		return;
	}
	/* TLS 1.3: Finished is the last record under the handshake keys.
	 * TLS 1.2: it is the first (record 0) under the new keys. */
	if (content_type == SSL3_RT_HANDSHAKE && len > 0 && p[0] == SSL3_MT_FINISHED)
		conn->seq[dir] = SSL_version(ssl) == TLS1_3_VERSION ? 0 : 1;
}

static int unhex(const char *s, unsigned char *out, size_t max)
{
	size_t n = 0;
	unsigned int b;

	while (s[0] && s[1] && n < max && sscanf(s, "%2x", &b) == 1) {
		out[n++] = b;
		s += 2;
	}
	return (int)n;
}

/* Keep the TLS 1.3 application traffic secrets; nothing is written anywhere. */
static void keylog_cb(const SSL *ssl, const char *line)
{
	struct ktlsh_conn *conn = SSL_get_ex_data(ssl, conn_index);
	int client = conn && conn->ctx->cfg.role == KTLSH_CLIENT;
	const char *sp;
	int dir, n;

	if (!conn)
		return;
	if (!strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24))
		dir = client ? KTLSH_WRITE : KTLSH_READ;
	else if (!strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24))
		dir = client ? KTLSH_READ : KTLSH_WRITE;
	else
		return;
	sp = strchr(line + 24, ' ');
	if (!sp)
		return;
	n = unhex(sp + 1, conn->secret[dir], KTLSH_SECRET_MAX);
	conn->secret_len[dir] = n > 0 ? (size_t)n : 0;
}

static int set_versions(SSL_CTX *c, const struct ktlsh_config *cfg, struct ktlsh_err *err)
{
	int lo = cfg->min_version ? cfg->min_version : TLS1_2_VERSION;
	int hi = cfg->max_version ? cfg->max_version : TLS1_3_VERSION;

	if (lo < TLS1_2_VERSION || hi > TLS1_3_VERSION || lo > hi)
		return ktlsh_err_set(err, KTLSH_E_CONFIG,
				     "TLS versions: the module takes TLS 1.2 (0x0303) and "
				     "1.3 (0x0304), asked for 0x%04x to 0x%04x", lo, hi);
	if (!SSL_CTX_set_min_proto_version(c, lo) || !SSL_CTX_set_max_proto_version(c, hi))
		return ktlsh_err_set(err, KTLSH_E_CONFIG, "OpenSSL refused the TLS versions");
	return 0;
}

static int set_cert(SSL_CTX *c, const struct ktlsh_config *cfg, struct ktlsh_err *err)
{
	char why[128];

	if (!cfg->cert_file && !cfg->key_file) {
		if (cfg->role == KTLSH_SERVER)
			return ktlsh_err_set(err, KTLSH_E_CONFIG,
					     "a server needs a certificate and a private key");
		return 0;
	}
	if (!cfg->cert_file || !cfg->key_file)
		return ktlsh_err_set(err, KTLSH_E_CONFIG, "a %s without a %s",
				     cfg->cert_file ? "certificate" : "private key",
				     cfg->cert_file ? "private key" : "certificate");
	if (access(cfg->cert_file, R_OK))
		return ktlsh_err_sys(err, KTLSH_E_CONFIG, errno, "certificate file '%s'",
				     cfg->cert_file);
	if (access(cfg->key_file, R_OK))
		return ktlsh_err_sys(err, KTLSH_E_CONFIG, errno, "private key file '%s'",
				     cfg->key_file);
	if (SSL_CTX_use_certificate_chain_file(c, cfg->cert_file) != 1)
		return ktlsh_err_set(err, KTLSH_E_CONFIG,
				     "certificate file '%s' holds no usable PEM certificate: %s",
				     cfg->cert_file, ktlsh_err_openssl(why, sizeof(why)));
	if (SSL_CTX_use_PrivateKey_file(c, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
		unsigned long e = ERR_peek_last_error();

		if (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
			ERR_clear_error();
			return ktlsh_err_set(err, KTLSH_E_CONFIG,
					     "the private key in '%s' does not match the "
					     "certificate in '%s'", cfg->key_file, cfg->cert_file);
		}
		return ktlsh_err_set(err, KTLSH_E_CONFIG,
				     "private key file '%s' holds no usable PEM private key: %s",
				     cfg->key_file, ktlsh_err_openssl(why, sizeof(why)));
	}
	if (SSL_CTX_check_private_key(c) != 1) {
		ERR_clear_error();
		return ktlsh_err_set(err, KTLSH_E_CONFIG,
				     "the private key in '%s' does not match the certificate in '%s'",
				     cfg->key_file, cfg->cert_file);
	}
	return 0;
}

/* RFC 6066 max_fragment_length: a client asks, an OpenSSL server grants it. */
static int set_max_fragment(SSL_CTX *c, const struct ktlsh_config *cfg, struct ktlsh_err *err)
{
	uint8_t mode;

	switch (cfg->max_fragment) {
	case 0: return 0;
	case 512: mode = TLSEXT_max_fragment_length_512; break;
	case 1024: mode = TLSEXT_max_fragment_length_1024; break;
	case 2048: mode = TLSEXT_max_fragment_length_2048; break;
	case 4096: mode = TLSEXT_max_fragment_length_4096; break;
	default:
		return ktlsh_err_set(err, KTLSH_E_CONFIG,
				     "max_fragment_length: RFC 6066 allows 512, 1024, 2048 or "
				     "4096 bytes, not %d", cfg->max_fragment);
	}
	if (cfg->role != KTLSH_CLIENT)
		return ktlsh_err_set(err, KTLSH_E_CONFIG,
				     "max_fragment_length is asked for by the client; a server "
				     "grants what the client asks");
	if (SSL_CTX_set_tlsext_max_fragment_length(c, mode) != 1)
		return ktlsh_err_set(err, KTLSH_E_CONFIG, "OpenSSL refused max_fragment_length %d",
				     cfg->max_fragment);
	return 0;
}

/* The TLS 1.3 suites the module takes, OpenSSL's default order first. */
#define KTLSH_TLS13_SUITES \
	"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:" \
	"TLS_AES_128_CCM_SHA256"

int ktlsh_ctx_new(const struct ktlsh_config *cfg, struct ktlsh_ctx **ctxp, struct ktlsh_err *err)
{
	struct ktlsh_ctx *ctx;
	char why[128];
	int rc;

	*ctxp = NULL;
	if (conn_index < 0)
		conn_index = SSL_get_ex_new_index(0, "ktlsh_conn", NULL, NULL, NULL);
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return ktlsh_err_sys(err, KTLSH_E_SYSTEM, ENOMEM, "ktlsh context");
	ctx->cfg = *cfg;
	ctx->ssl_ctx = SSL_CTX_new(cfg->role == KTLSH_SERVER ? TLS_server_method() :
							       TLS_client_method());
	if (!ctx->ssl_ctx) {
		free(ctx);
		return ktlsh_err_set(err, KTLSH_E_SYSTEM, "OpenSSL context: %s",
				     ktlsh_err_openssl(why, sizeof(why)));
	}
	rc = set_versions(ctx->ssl_ctx, cfg, err);
	if (!rc && cfg->cipher_list && SSL_CTX_set_cipher_list(ctx->ssl_ctx, cfg->cipher_list) != 1)
		rc = ktlsh_err_set(err, KTLSH_E_CONFIG,
				   "no TLS 1.2 cipher suite OpenSSL knows in '%s'", cfg->cipher_list);
	if (!rc && SSL_CTX_set_ciphersuites(ctx->ssl_ctx, cfg->ciphersuites ? cfg->ciphersuites :
							  KTLSH_TLS13_SUITES) != 1)
		rc = ktlsh_err_set(err, KTLSH_E_CONFIG,
				   "no TLS 1.3 cipher suite OpenSSL knows in '%s'", cfg->ciphersuites);
	if (!rc)
		rc = set_max_fragment(ctx->ssl_ctx, cfg, err);
	if (!rc)
		rc = set_cert(ctx->ssl_ctx, cfg, err);
	if (!rc)
		rc = ktlsh_verify_setup(ctx, err);
	if (rc) {
		ERR_clear_error();
		ktlsh_ctx_free(ctx);
		return rc;
	}
	SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					  SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_read_ahead(ctx->ssl_ctx, 0);
	SSL_CTX_set_msg_callback(ctx->ssl_ctx, msg_cb);
	SSL_CTX_set_keylog_callback(ctx->ssl_ctx, keylog_cb);
	*ctxp = ctx;
	return 0;
}

void ktlsh_ctx_free(struct ktlsh_ctx *ctx)
{
	if (!ctx)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
}

void ktlsh_conn_free(struct ktlsh_conn *conn)
{
	if (!conn)
		return;
	SSL_free(conn->ssl);
	OPENSSL_cleanse(conn->secret, sizeof(conn->secret));
	pthread_mutex_destroy(&conn->tx_lock);
	free(conn->rbuf);
	free(conn);
}

/* Why the handshake failed, most specific cause first. */
static int handshake_error(struct ktlsh_conn *conn, int r, struct ktlsh_err *err)
{
	int e = SSL_get_error(conn->ssl, r), saved = errno;
	unsigned long oe = ERR_peek_error();
	int reason = ERR_GET_REASON(oe);
	char why[128];

	if (ktlsh_verify_report(conn, err)) {
		ERR_clear_error();
		return err ? err->code : KTLSH_E_CERT_OTHER;
	}
	switch (reason) {
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
	case SSL_R_UNKNOWN_PROTOCOL:
		ERR_clear_error();
		return ktlsh_err_set(err, KTLSH_E_NOT_TLS,
				     "the peer does not speak TLS (%s)",
				     ERR_reason_error_string(oe));
	}
	if (e == SSL_ERROR_SYSCALL && !oe) {
		if (r == 0 || !saved)
			return ktlsh_err_set(err, KTLSH_E_CLOSED,
					     "the peer closed the connection during the handshake");
		return ktlsh_err_sys(err, KTLSH_E_SYSTEM, saved, "TLS handshake");
	}
	return ktlsh_err_set(err, KTLSH_E_HANDSHAKE, "TLS handshake failed: %s",
			     ktlsh_err_openssl(why, sizeof(why)));
}

/* Read out what OpenSSL holds beyond the handshake, for ktlsh_read to deliver. */
static int drain_pending(struct ktlsh_conn *conn, struct ktlsh_err *err)
{
	int n;

	while (SSL_has_pending(conn->ssl)) {
		if (conn->rlen == KTLSH_EARLY_MAX)
			return ktlsh_err_set(err, KTLSH_E_PROTOCOL,
					     "the peer sent more than %d bytes with the handshake; "
					     "refusing to switch to the module", KTLSH_EARLY_MAX);
		n = SSL_read(conn->ssl, conn->rbuf + conn->rlen, KTLSH_EARLY_MAX - conn->rlen);
		if (n > 0) {
			conn->rlen += n;
			continue;
		}
		if (SSL_get_error(conn->ssl, n) == SSL_ERROR_ZERO_RETURN) {
			conn->eof = 1;
			return 0;
		}
		return handshake_error(conn, n, err);
	}
	return 0;
}

static int finish(struct ktlsh_conn *conn, struct ktlsh_err *err)
{
	const SSL_CIPHER *cipher = SSL_get_current_cipher(conn->ssl);
	const char *why = ktlsh_keys_unsupported(cipher, SSL_version(conn->ssl));
	uint8_t mfl;
	int rc;

	snprintf(conn->version, sizeof(conn->version), "%s", SSL_get_version(conn->ssl));
	snprintf(conn->cipher, sizeof(conn->cipher), "%s", SSL_CIPHER_get_name(cipher));
	mfl = SSL_get_session(conn->ssl) ?
	      SSL_SESSION_get_max_fragment_length(SSL_get_session(conn->ssl)) : 0;
	if (mfl >= TLSEXT_max_fragment_length_512 && mfl <= TLSEXT_max_fragment_length_4096)
		conn->max_fragment = 512 << (mfl - TLSEXT_max_fragment_length_512);
	if (conn->ctx->cfg.userspace)
		return 0;
	if (why && conn->ctx->cfg.unsupported == KTLSH_UNSUPPORTED_USERSPACE) {
		snprintf(conn->note, sizeof(conn->note),
			 "%s %s is left in userspace OpenSSL: %s", conn->version, conn->cipher, why);
		return 0;
	}
	if (why) {
		SSL_shutdown(conn->ssl);
		return ktlsh_err_set(err, KTLSH_E_UNSUPPORTED,
				     "the negotiated suite %s %s is refused: %s", conn->version,
				     conn->cipher, why);
	}
	conn->rbuf = malloc(KTLSH_EARLY_MAX > KTLSH_RBUF ? KTLSH_EARLY_MAX : KTLSH_RBUF);
	if (!conn->rbuf)
		return ktlsh_err_sys(err, KTLSH_E_SYSTEM, ENOMEM, "read buffer");
	rc = drain_pending(conn, err);
	if (!rc)
		rc = ktlsh_install(conn, err);
	return rc;
}

static int handshake(struct ktlsh_ctx *ctx, int fd, const char *host,
		     struct ktlsh_conn **connp, struct ktlsh_err *err)
{
	struct ktlsh_conn *conn = calloc(1, sizeof(*conn));
	char why[128];
	int rc, r;

	*connp = NULL;
	if (!conn)
		return ktlsh_err_sys(err, KTLSH_E_SYSTEM, ENOMEM, "connection");
	conn->ctx = ctx;
	conn->fd = fd;
	pthread_mutex_init(&conn->tx_lock, NULL);
	conn->ssl = SSL_new(ctx->ssl_ctx);
	if (!conn->ssl || !SSL_set_fd(conn->ssl, fd) ||
	    !SSL_set_ex_data(conn->ssl, conn_index, conn)) {
		rc = ktlsh_err_set(err, KTLSH_E_SYSTEM, "OpenSSL connection: %s",
				   ktlsh_err_openssl(why, sizeof(why)));
		goto fail;
	}
	if (ctx->cfg.role == KTLSH_CLIENT) {
		if (host && ctx->cfg.verify_peer >= 0) {
			rc = ktlsh_verify_host(conn, host, err);
			if (rc)
				goto fail;
		} else if (host) {
			SSL_set_tlsext_host_name(conn->ssl, host);
		}
		r = SSL_connect(conn->ssl);
	} else {
		r = SSL_accept(conn->ssl);
	}
	if (r != 1) {
		rc = handshake_error(conn, r, err);
		goto fail;
	}
	rc = finish(conn, err);
	if (rc)
		goto fail;
	*connp = conn;
	return 0;
fail:
	ERR_clear_error();
	ktlsh_conn_free(conn);
	return rc;
}

int ktlsh_connect(struct ktlsh_ctx *ctx, int fd, const char *host,
		  struct ktlsh_conn **connp, struct ktlsh_err *err)
{
	if (ctx->cfg.role != KTLSH_CLIENT)
		return ktlsh_err_set(err, KTLSH_E_CONFIG, "ktlsh_connect on a server context");
	return handshake(ctx, fd, host, connp, err);
}

int ktlsh_accept(struct ktlsh_ctx *ctx, int fd, struct ktlsh_conn **connp, struct ktlsh_err *err)
{
	if (ctx->cfg.role != KTLSH_SERVER)
		return ktlsh_err_set(err, KTLSH_E_CONFIG, "ktlsh_accept on a client context");
	return handshake(ctx, fd, NULL, connp, err);
}

int ktlsh_conn_offloaded(const struct ktlsh_conn *conn)
{
	return conn->offloaded;
}

const char *ktlsh_conn_version(const struct ktlsh_conn *conn)
{
	return conn->version;
}

const char *ktlsh_conn_cipher(const struct ktlsh_conn *conn)
{
	return conn->cipher;
}

const char *ktlsh_conn_note(const struct ktlsh_conn *conn)
{
	return conn->note;
}

int ktlsh_conn_max_fragment(const struct ktlsh_conn *conn)
{
	return conn->max_fragment;
}

void ktlsh_conn_key_updates(const struct ktlsh_conn *conn, unsigned long *received,
			    unsigned long *sent)
{
	*received = conn->updates[KTLSH_READ];
	*sent = conn->updates[KTLSH_WRITE];
}

void ktlsh_abort(struct ktlsh_conn *conn)
{
	if (!conn)
		return;
	close(conn->fd);
	ktlsh_conn_free(conn);
}
