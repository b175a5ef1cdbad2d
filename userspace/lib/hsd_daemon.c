// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's half of a connection (hsd_daemon.h): after the handshake
 * it keeps the TLS 1.3 traffic secrets alone, never the socket; a
 * KeyUpdate brings the socket back for one setsockopt.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hsd_daemon.h"
#include "internal.h"

struct ktlsh_secrets {
	const SSL_CIPHER *cipher;
	enum ktlsh_role role;
	unsigned char secret[2][KTLSH_SECRET_MAX];
	size_t secret_len[2];
	char version[16];
	char cipher_name[64];
};

int ktlsh_daemon_take(struct ktlsh_conn *conn, struct kthd_result *res, unsigned char *early,
		      struct ktlsh_secrets **secp)
{
	struct ktlsh_secrets *sec = NULL;
	int fd = conn->fd;

	memset(res, 0, sizeof(*res));
	res->tls_version = conn->tls_version;
	res->resumed = conn->resumed;
	res->eof = conn->eof;
	res->max_fragment = conn->max_fragment;
	snprintf(res->version, sizeof(res->version), "%s", conn->version);
	snprintf(res->cipher, sizeof(res->cipher), "%s", conn->cipher_name);
	snprintf(res->peer, sizeof(res->peer), "%s", conn->peer);
	if (conn->rlen > conn->roff && conn->rlen - conn->roff <= KTHD_EARLY_MAX) {
		res->early_len = conn->rlen - conn->roff;
		memcpy(early, conn->rbuf + conn->roff, res->early_len);
		OPENSSL_cleanse(conn->rbuf, conn->rlen);
	}
	if (conn->tls_version == TLS1_3_VERSION) {
		sec = calloc(1, sizeof(*sec));
		if (sec) {
			sec->cipher = conn->cipher;
			sec->role = conn->ctx->cfg.role;
			memcpy(sec->secret, conn->secret, sizeof(sec->secret));
			memcpy(sec->secret_len, conn->secret_len, sizeof(sec->secret_len));
			memcpy(sec->version, conn->version, sizeof(sec->version));
			memcpy(sec->cipher_name, conn->cipher_name, sizeof(sec->cipher_name));
		}
	}
	*secp = sec;
	conn->fd = -1;
	ktlsh_conn_free(conn);	/* zeroes its secrets */
	return fd;
}

int ktlsh_daemon_update(struct ktlsh_secrets *sec, int fd, int dir, struct ktlsh_err *err)
{
	struct ktlsh_ctx ctx = { .cfg.role = sec->role, .keys_write_only = 1 };
	struct ktlsh_conn *t = calloc(1, sizeof(*t));
	int d = dir == KTHD_DIR_TX ? KTLSH_WRITE : KTLSH_READ, rc;

	if (!t)
		return ktlsh_err_sys(err, KTLSH_E_SYSTEM, ENOMEM, "KeyUpdate");
	t->ctx = &ctx;
	t->fd = fd;
	t->cipher = sec->cipher;
	t->tls_version = TLS1_3_VERSION;
	memcpy(t->secret, sec->secret, sizeof(t->secret));
	memcpy(t->secret_len, sec->secret_len, sizeof(t->secret_len));
	memcpy(t->version, sec->version, sizeof(t->version));
	memcpy(t->cipher_name, sec->cipher_name, sizeof(t->cipher_name));
	rc = ktlsh_keys_next_secret(t, d, err);
	if (!rc)
		rc = ktlsh_install_dir(t, d, err);
	/* Moved on even if the kernel refused: that connection cannot go on anyway. */
	memcpy(sec->secret[d], t->secret[d], sizeof(sec->secret[d]));
	OPENSSL_cleanse(t, sizeof(*t));
	free(t);
	return rc;
}

void ktlsh_daemon_secrets_free(struct ktlsh_secrets *sec)
{
	if (!sec)
		return;
	OPENSSL_cleanse(sec, sizeof(*sec));
	free(sec);
}
