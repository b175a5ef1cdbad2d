// SPDX-License-Identifier: GPL-2.0
/*
 * The handshake, in OpenSSL, and the switch to the module.
 *
 * ktlsh_handshake is a step function: it runs SSL_do_handshake on a
 * socket OpenSSL reads and writes without waiting (bio.c), and returns
 * KTLSH_WANT_READ / KTLSH_WANT_WRITE when the socket has nothing more for
 * it; the blocking ktlsh_connect and ktlsh_accept loop over it with
 * poll(2). When OpenSSL is done, the switch: the peer's certificate must
 * have been presented and verified (verify.c), the suite must be one the
 * module takes (keys.c), what OpenSSL read past the handshake is read out,
 * and the keys go in (install.c).
 *
 * Sequence numbers: OpenSSL 3.0 has no getter, so the msg callback counts
 * record headers per direction (SSL3_RT_HEADER is reported for every
 * record read and written) and restarts the count at the Finished
 * message, which the callback reports after that record's header: in TLS
 * 1.3 Finished is the last record under the handshake keys (the next is
 * 0), in TLS 1.2 it is record 0 under the new keys (the next is 1). (The
 * callback does not report a received ChangeCipherSpec, so that cannot
 * mark the epoch.) The same holds for a resumed handshake, whose Finished
 * messages come in the other order.
 * A TLS 1.3 server's NewSessionTickets, written under its application key
 * before SSL_do_handshake returns, are counted like any record.
 *
 * Read-ahead is off, so OpenSSL reads from the socket no further than the
 * record it needs; whatever it still holds when the handshake ends
 * (SSL_has_pending) is read out with SSL_read before the switch and
 * delivered by ktlsh_read before anything the module receives.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static struct ktlsh_conn *conn_of(const SSL *ssl)
{
	return SSL_get_ex_data(ssl, ktlsh_config_conn_index());
}

static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
		   SSL *ssl, void *arg)
{
	struct ktlsh_conn *conn = conn_of(ssl);
	const unsigned char *p = buf;
	int dir = write_p ? KTLSH_WRITE : KTLSH_READ;

	(void)version;
	(void)arg;
	/* After the switch the module counts (and tickets fed back, session.c, do not). */
	if (!conn || conn->state == KTLSH_ST_OPEN)
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
	struct ktlsh_conn *conn = conn_of(ssl);
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

void ktlsh_handshake_setup(SSL_CTX *c)
{
	SSL_CTX_set_msg_callback(c, msg_cb);
	SSL_CTX_set_keylog_callback(c, keylog_cb);
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
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !oe)) {
		if (e == SSL_ERROR_ZERO_RETURN || r == 0 || !saved || saved == EPIPE ||
		    saved == ECONNRESET)
			return ktlsh_err_set(err, KTLSH_E_CLOSED,
					     "the peer closed the connection during the handshake");
		return ktlsh_err_sys(err, KTLSH_E_SYSTEM, saved, "TLS handshake");
	}
	return ktlsh_err_set(err, KTLSH_E_HANDSHAKE, "TLS handshake failed: %s",
			     ktlsh_err_openssl(why, sizeof(why)));
}

/* An SSL call that could not go on: which way the socket must be ready, else 0. */
static int ssl_wants(SSL *ssl, int r)
{
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ: return KTLSH_WANT_READ;
	case SSL_ERROR_WANT_WRITE: return KTLSH_WANT_WRITE;
	}
	return 0;
}

/* Read out what OpenSSL holds beyond the handshake, for ktlsh_read to deliver. */
static int drain_pending(struct ktlsh_conn *conn, struct ktlsh_err *err)
{
	int n, w;

	while (SSL_has_pending(conn->ssl)) {
		if (!conn->rbuf) {
			conn->rbuf = malloc(KTLSH_EARLY_MAX);
			if (!conn->rbuf)
				return ktlsh_err_sys(err, KTLSH_E_SYSTEM, ENOMEM, "read buffer");
		}
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
		w = ssl_wants(conn->ssl, n);
		if (w)
			return w;
		return handshake_error(conn, n, err);
	}
	return 0;
}

/* The peer's certificate in one line, for ktlsh_conn_peer (OpenSSL escapes odd bytes). */
static void peer_summary(struct ktlsh_conn *conn)
{
	X509 *x = SSL_get0_peer_certificate(conn->ssl);
	char subject[128], issuer[112];

	if (!x)
		return;
	X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
	X509_NAME_oneline(X509_get_issuer_name(x), issuer, sizeof(issuer));
	snprintf(conn->peer, sizeof(conn->peer), "subject %s, issuer %s", subject, issuer);
}

/* The handshake is done in OpenSSL: what it agreed, and whether to switch. */
static int agreed(struct ktlsh_conn *conn, struct ktlsh_err *err)
{
	const SSL_CIPHER *cipher = SSL_get_current_cipher(conn->ssl);
	SSL_SESSION *sess = SSL_get_session(conn->ssl);
	uint8_t mfl = sess ? SSL_SESSION_get_max_fragment_length(sess) : 0;
	const char *why;
	int rc;

	conn->cipher = cipher;
	conn->tls_version = SSL_version(conn->ssl);
	conn->resumed = SSL_session_reused(conn->ssl);
	snprintf(conn->version, sizeof(conn->version), "%s", SSL_get_version(conn->ssl));
	snprintf(conn->cipher_name, sizeof(conn->cipher_name), "%s", SSL_CIPHER_get_name(cipher));
	if (mfl >= TLSEXT_max_fragment_length_512 && mfl <= TLSEXT_max_fragment_length_4096)
		conn->max_fragment = 512 << (mfl - TLSEXT_max_fragment_length_512);
	rc = ktlsh_verify_done(conn, err);
	if (rc)
		return rc;
	peer_summary(conn);
	if (conn->ctx->cfg.userspace)
		return 0;
	why = ktlsh_keys_unsupported(cipher, conn->tls_version);
	if (why && conn->ctx->cfg.unsupported == KTLSH_UNSUPPORTED_USERSPACE) {
		snprintf(conn->note, sizeof(conn->note), "%s %s is left in userspace OpenSSL: %s",
			 conn->version, conn->cipher_name, why);
		return 0;
	}
	if (why) {
		SSL_shutdown(conn->ssl);
		return ktlsh_err_set(err, KTLSH_E_UNSUPPORTED,
				     "the negotiated suite %s %s is refused: %s", conn->version,
				     conn->cipher_name, why);
	}
	return 1;
}

static int step(struct ktlsh_conn *conn, struct ktlsh_err *err)
{
	int r, rc;

	if (conn->state == KTLSH_ST_HANDSHAKE) {
		r = SSL_do_handshake(conn->ssl);
		if (r != 1) {
			rc = ssl_wants(conn->ssl, r);
			return rc ? rc : handshake_error(conn, r, err);
		}
		rc = agreed(conn, err);
		if (rc <= 0) {
			if (!rc)
				conn->state = KTLSH_ST_OPEN;	/* records stay in OpenSSL */
			return rc;
		}
		conn->state = KTLSH_ST_SWITCH;
	}
	if (conn->state == KTLSH_ST_SWITCH) {
		rc = drain_pending(conn, err);
		if (!rc)
			rc = ktlsh_install(conn, err);
		if (rc)
			return rc;
		conn->state = KTLSH_ST_OPEN;
		/*
		 * A server has no more use for OpenSSL once the module carries
		 * the records (a client still takes tickets, session.c): an idle
		 * connection keeps none of its memory.
		 */
		if (conn->ctx->cfg.role == KTLSH_SERVER) {
			/*
			 * As if shut down cleanly: OpenSSL drops from its cache
			 * the session of a connection freed without it, and the
			 * module, not OpenSSL, will see this one close.
			 */
			SSL_set_shutdown(conn->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
			SSL_free(conn->ssl);
			conn->ssl = NULL;
		}
	}
	return 0;
}

int ktlsh_handshake(struct ktlsh_conn *conn, struct ktlsh_err *err)
{
	struct ktlsh_err mine;
	int rc;

	if (conn->state == KTLSH_ST_OPEN)
		return 0;
	if (conn->state == KTLSH_ST_FAILED) {
		if (err)
			*err = conn->fail;
		return conn->fail.code;
	}
	memset(&mine, 0, sizeof(mine));
	for (;;) {
		rc = step(conn, &mine);
		ERR_clear_error();
		if (rc != KTLSH_WANT_READ && rc != KTLSH_WANT_WRITE)
			break;
		/* A blocking socket waits here, as SSL_do_handshake would. */
		if (ktlsh_io_nonblocking(conn))
			return ktlsh_err_set(err, rc, "the handshake waits for the socket");
		rc = ktlsh_io_wait(conn, rc, &mine);
		if (rc)
			break;
	}
	if (!rc)
		return 0;
	mine.code = rc;
	conn->fail = mine;
	conn->state = KTLSH_ST_FAILED;
	/* Nothing of a failed handshake is kept: keys, buffered data. */
	OPENSSL_cleanse(conn->secret, sizeof(conn->secret));
	if (err)
		*err = mine;
	return rc;
}

/* ktlsh_connect and ktlsh_accept: on failure the socket is the caller's again. */
static int blocking(struct ktlsh_ctx *ctx, int fd, const char *host,
		    struct ktlsh_conn **connp, struct ktlsh_err *err)
{
	struct ktlsh_conn *conn;
	int rc;

	*connp = NULL;
	rc = ktlsh_conn_new(ctx, fd, host, &conn, err);
	if (rc)
		return rc;
	while ((rc = ktlsh_handshake(conn, err)) == KTLSH_WANT_READ || rc == KTLSH_WANT_WRITE) {
		rc = ktlsh_io_wait(conn, rc, err);
		if (rc)
			break;
	}
	if (rc) {
		conn->fd = -1;
		ktlsh_conn_free(conn);
		return rc;
	}
	*connp = conn;
	return 0;
}

int ktlsh_connect(struct ktlsh_ctx *ctx, int fd, const char *host,
		  struct ktlsh_conn **connp, struct ktlsh_err *err)
{
	if (ctx->cfg.role != KTLSH_CLIENT) {
		*connp = NULL;
		return ktlsh_err_set(err, KTLSH_E_CONFIG, "ktlsh_connect on a server context");
	}
	return blocking(ctx, fd, host, connp, err);
}

int ktlsh_accept(struct ktlsh_ctx *ctx, int fd, struct ktlsh_conn **connp, struct ktlsh_err *err)
{
	if (ctx->cfg.role != KTLSH_SERVER) {
		*connp = NULL;
		return ktlsh_err_set(err, KTLSH_E_CONFIG, "ktlsh_accept on a client context");
	}
	return blocking(ctx, fd, NULL, connp, err);
}
