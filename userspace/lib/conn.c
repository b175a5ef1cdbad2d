// SPDX-License-Identifier: GPL-2.0
/*
 * A connection's lifetime: made on a connected socket (ktlsh_conn_new),
 * through the handshake (handshake.c), to close_notify and close, or an
 * abort. The accessors for what was negotiated are here too.
 */
#include <errno.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int ktlsh_conn_new(struct ktlsh_ctx *ctx, int fd, const char *host,
		   struct ktlsh_conn **connp, struct ktlsh_err *err)
{
	const struct ktlsh_config *cfg = &ctx->cfg;
	int client = cfg->role == KTLSH_CLIENT;
	struct ktlsh_conn *conn;
	char why[128];
	BIO *bio;
	int rc;

	*connp = NULL;
	if (client && !host && cfg->verify_peer >= 0 && !cfg->no_name_check)
		return ktlsh_err_set(err, KTLSH_E_CONFIG,
				     "no host name to check the server's certificate against "
				     "(NULL host; set no_name_check to accept any name)");
	if (!client && host)
		return ktlsh_err_set(err, KTLSH_E_CONFIG, "a server connection takes no host");
	conn = calloc(1, sizeof(*conn));
	if (!conn)
		return ktlsh_err_sys(err, KTLSH_E_SYSTEM, ENOMEM, "connection");
	conn->ctx = ctx;
	conn->fd = fd;
	conn->state = KTLSH_ST_HANDSHAKE;
	pthread_mutex_init(&conn->tx_lock, NULL);
	pthread_mutex_init(&conn->ssl_lock, NULL);
	conn->ssl = SSL_new(ctx->ssl_ctx);
	bio = conn->ssl ? ktlsh_bio_new(fd) : NULL;
	if (!bio || !SSL_set_ex_data(conn->ssl, ktlsh_config_conn_index(), conn)) {
		BIO_free(bio);
		rc = ktlsh_err_set(err, KTLSH_E_SYSTEM, "OpenSSL connection: %s",
				   ktlsh_err_openssl(why, sizeof(why)));
		goto fail;
	}
	SSL_set_bio(conn->ssl, bio, bio);
	if (client) {
		SSL_set_connect_state(conn->ssl);
		if (host && cfg->verify_peer >= 0) {
			rc = ktlsh_verify_host(conn, host, err);
			if (rc)
				goto fail;
		} else if (host && !SSL_set_tlsext_host_name(conn->ssl, host)) {
			rc = ktlsh_err_set(err, KTLSH_E_CONFIG, "bad host name '%s'", host);
			goto fail;
		}
	} else {
		SSL_set_accept_state(conn->ssl);
	}
	*connp = conn;
	return 0;
fail:
	ERR_clear_error();
	conn->fd = -1;
	ktlsh_conn_free(conn);
	return rc;
}

/* Free everything but the socket. */
void ktlsh_conn_free(struct ktlsh_conn *conn)
{
	if (!conn)
		return;
	if (conn->hsd)
		ktlsh_hsd_forget(conn);
	SSL_free(conn->ssl);
	OPENSSL_cleanse(conn->secret, sizeof(conn->secret));
	OPENSSL_cleanse(conn->feed_secret, sizeof(conn->feed_secret));
	pthread_mutex_destroy(&conn->tx_lock);
	pthread_mutex_destroy(&conn->ssl_lock);
	free(conn->rbuf);
	free(conn->hs_body);
	free(conn);
}

void ktlsh_abort(struct ktlsh_conn *conn)
{
	if (!conn)
		return;
	if (conn->fd >= 0)
		close(conn->fd);
	ktlsh_conn_free(conn);
}

int ktlsh_close(struct ktlsh_conn *conn, struct ktlsh_err *err)
{
	int rc = 0;

	if (!conn)
		return 0;
	if (conn->state == KTLSH_ST_OPEN)
		rc = ktlsh_shutdown(conn, err);
	ERR_clear_error();
	ktlsh_abort(conn);
	return rc;
}

int ktlsh_conn_offloaded(const struct ktlsh_conn *conn)
{
	return conn->offloaded;
}

int ktlsh_conn_resumed(const struct ktlsh_conn *conn)
{
	return conn->state == KTLSH_ST_OPEN && conn->resumed;
}

const char *ktlsh_conn_version(const struct ktlsh_conn *conn)
{
	return conn->version;
}

const char *ktlsh_conn_cipher(const struct ktlsh_conn *conn)
{
	return conn->cipher_name;
}

const char *ktlsh_conn_note(const struct ktlsh_conn *conn)
{
	return conn->note;
}

const char *ktlsh_conn_peer(const struct ktlsh_conn *conn)
{
	return conn->peer;
}

int ktlsh_conn_fd(const struct ktlsh_conn *conn)
{
	return conn->fd;
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
