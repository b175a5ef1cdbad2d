// SPDX-License-Identifier: GPL-2.0
/*
 * Session resumption, client side. TLS 1.2 session ids and tickets come
 * within the handshake, so OpenSSL has them when it ends. A TLS 1.3
 * server sends its NewSessionTickets after the handshake, so they arrive
 * through the module, and only OpenSSL can turn one into a session (the
 * resumption secret never leaves it). So ktlsh hands each ticket back to
 * OpenSSL as the record it expects: sealed under the server's first
 * application traffic key with OpenSSL's next read sequence number, into
 * a memory BIO in place of the socket, then SSL_read. OpenSSL never reads
 * anything else after the switch, so its read state stays at that first
 * key whatever KeyUpdates the module went through since.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

#include "internal.h"

#define TAG_LEN 16

/* TLS 1.3 record (RFC 8446 5.2): header, then AEAD(msg || type 22), nonce iv ^ seq. */
static int seal(struct ktlsh_conn *conn, const unsigned char *msg, size_t len,
		unsigned char *out, size_t *out_len)
{
	const EVP_CIPHER *aead = EVP_get_cipherbynid(SSL_CIPHER_get_cipher_nid(conn->cipher));
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	unsigned char key[32], iv[12];
	size_t klen, inner = len + 1, i;
	int ccm, n, ok;

	if (!aead || !c ||
	    !ktlsh_keys_record(conn, conn->feed_secret, conn->feed_secret_len, key, &klen, iv)) {
		EVP_CIPHER_CTX_free(c);
		return 0;
	}
	for (i = 0; i < 8; i++)
		iv[4 + i] ^= (conn->feed_seq >> (56 - 8 * i)) & 0xff;
	out[0] = KTLSH_RT_DATA;
	out[1] = 3;
	out[2] = 3;
	out[3] = (inner + TAG_LEN) >> 8;
	out[4] = (inner + TAG_LEN) & 0xff;
	memcpy(out + 5, msg, len);
	out[5 + len] = KTLSH_RT_HANDSHAKE;
	ccm = EVP_CIPHER_get_mode(aead) == EVP_CIPH_CCM_MODE;
	ok = EVP_EncryptInit_ex(c, aead, NULL, NULL, NULL) &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) > 0 &&
	     (!ccm || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, NULL) > 0) &&
	     EVP_EncryptInit_ex(c, NULL, NULL, key, iv) &&
	     (!ccm || EVP_EncryptUpdate(c, NULL, &n, NULL, (int)inner)) &&
	     EVP_EncryptUpdate(c, NULL, &n, out, 5) &&
	     EVP_EncryptUpdate(c, out + 5, &n, out + 5, (int)inner) &&
	     EVP_EncryptFinal_ex(c, out + 5 + n, &n) &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, out + 5 + inner) > 0;
	EVP_CIPHER_CTX_free(c);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	*out_len = 5 + inner + TAG_LEN;
	return ok;
}

/*
 * A NewSessionTicket (its body, len bytes) from the server, through the
 * module; ssl_lock held. Best effort: a ticket OpenSSL does not take
 * leaves the connection as it was, with no session to resume.
 */
void ktlsh_session_ticket(struct ktlsh_conn *conn, const unsigned char *body, size_t len)
{
	unsigned char *rec = NULL, *msg = NULL, sink;
	size_t rlen;
	BIO *mem;
	int r;

	if (conn->feed_broken || !conn->feed_secret_len || len > KTLSH_HS_MAX)
		return;
	if (!SSL_get_rbio(conn->ssl) || BIO_method_type(SSL_get_rbio(conn->ssl)) != BIO_TYPE_MEM) {
		mem = BIO_new(BIO_s_mem());
		if (!mem)
			return;
		SSL_set0_rbio(conn->ssl, mem);
	}
	msg = OPENSSL_malloc(len + 4);
	rec = OPENSSL_malloc(5 + len + 4 + 1 + TAG_LEN);
	if (!msg || !rec)
		goto out;
	msg[0] = KTLSH_HS_NEW_SESSION_TICKET;
	msg[1] = len >> 16;
	msg[2] = len >> 8;
	msg[3] = len;
	memcpy(msg + 4, body, len);
	if (!seal(conn, msg, len + 4, rec, &rlen) ||
	    BIO_write(SSL_get_rbio(conn->ssl), rec, (int)rlen) != (int)rlen) {
		conn->feed_broken = 1;
		goto out;
	}
	conn->feed_seq++;
	r = SSL_read(conn->ssl, &sink, 1);
	if (r > 0 || SSL_get_error(conn->ssl, r) != SSL_ERROR_WANT_READ)
		conn->feed_broken = 1;	/* OpenSSL did not take it: stop trying */
out:
	ERR_clear_error();
	OPENSSL_free(msg);
	OPENSSL_free(rec);
}

ssize_t ktlsh_conn_session(struct ktlsh_conn *conn, void *buf, size_t len, struct ktlsh_err *err)
{
	unsigned char *p = buf;
	SSL_SESSION *s;
	int n = 0;

	if (conn->state != KTLSH_ST_OPEN)
		return ktlsh_err_set(err, KTLSH_E_INVALID,
				     "no session before the handshake is done");
	if (!conn->ssl)
		return 0;	/* a server's, freed at the switch */
	pthread_mutex_lock(&conn->ssl_lock);
	s = SSL_get1_session(conn->ssl);
	pthread_mutex_unlock(&conn->ssl_lock);
	if (s && SSL_SESSION_is_resumable(s))
		n = i2d_SSL_SESSION(s, NULL);
	if (n > 0 && (size_t)n > len) {
		SSL_SESSION_free(s);
		return ktlsh_err_set(err, KTLSH_E_INVALID,
				     "the session takes %d bytes, the buffer has %zu", n, len);
	}
	if (n > 0)
		n = i2d_SSL_SESSION(s, &p);
	SSL_SESSION_free(s);
	return n > 0 ? n : 0;
}

int ktlsh_conn_resume(struct ktlsh_conn *conn, const void *der, size_t len,
		      struct ktlsh_err *err)
{
	const unsigned char *p = der;
	SSL_SESSION *s;
	char why[128];
	int ok;

	if (conn->ctx->cfg.role != KTLSH_CLIENT || conn->state != KTLSH_ST_HANDSHAKE ||
	    SSL_in_before(conn->ssl) != 1)
		return ktlsh_err_set(err, KTLSH_E_INVALID,
				     "a session is offered by a client, before its handshake");
	s = d2i_SSL_SESSION(NULL, &p, (long)len);
	if (!s)
		return ktlsh_err_set(err, KTLSH_E_CONFIG, "not a saved TLS session: %s",
				     ktlsh_err_openssl(why, sizeof(why)));
	ok = SSL_set_session(conn->ssl, s);
	SSL_SESSION_free(s);
	if (!ok)
		return ktlsh_err_set(err, KTLSH_E_CONFIG, "OpenSSL refused the session: %s",
				     ktlsh_err_openssl(why, sizeof(why)));
	return 0;
}
