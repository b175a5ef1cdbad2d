// SPDX-License-Identifier: GPL-2.0
/*
 * TLS 1.3 KeyUpdate (RFC 8446 4.6.3) on a connection the module carries.
 *
 * Receiving: the module decrypts nothing after the record that carries the
 * peer's KeyUpdate (reads fail with EKEYEXPIRED) until userspace installs
 * the next key. ktlsh_read hands the message here: derive the peer's
 * application_traffic_secret_N+1 = HKDF-Expand-Label(secret_N,
 * "traffic upd", "", Hash.length), its key and IV, and install them with a
 * second TLS_RX (rec_seq 0). If the peer asked for it (update_requested),
 * we owe it a KeyUpdate of our own before our next data.
 *
 * Sending: the KeyUpdate message (update_not_requested, or
 * update_requested from ktlsh_key_update) goes out as a handshake record
 * of its own under the current key; then the next TX key replaces it.
 *
 * The read side may run in another thread than the writes, so an owed
 * KeyUpdate is not sent in the middle of a write: every write holds
 * conn->tx_lock, and whoever holds it sends what is owed before letting
 * go (ktlsh_update_tx_unlock). The reader only takes the lock when it is
 * free; otherwise the writer holding it sends the answer when its write
 * is done, which is what RFC 8446 asks (before the next application data).
 */
#include <errno.h>
#include <openssl/err.h>
#include <string.h>

#include "internal.h"

#define KEY_UPDATE_LEN 5	/* type 24, length 1, request_update */

void ktlsh_update_tx_lock(struct ktlsh_conn *conn)
{
	pthread_mutex_lock(&conn->tx_lock);
}

/* Our KeyUpdate and our next sending key; tx_lock held. */
static int send_update(struct ktlsh_conn *conn, int request_peer, struct ktlsh_err *err)
{
	unsigned char msg[KEY_UPDATE_LEN] = { 24, 0, 0, 1, request_peer ? 1 : 0 };
	int rc;

	rc = ktlsh_io_send_record(conn, KTLSH_RT_HANDSHAKE, msg, sizeof(msg), err);
	if (rc)
		return rc;
	/* The peer now reads with our next key: a failure here ends the connection. */
	rc = ktlsh_keys_next_secret(conn, KTLSH_WRITE, err);
	if (!rc)
		rc = ktlsh_install_dir(conn, KTLSH_WRITE, err);
	if (!rc)
		conn->updates[KTLSH_WRITE]++;
	return rc;
}

/*
 * Let go of the sending side. A KeyUpdate owed to the peer is sent first;
 * one owed after we let go is sent by us if the lock is still free, else
 * by its new holder. 0 or the code of that KeyUpdate's failure.
 */
int ktlsh_update_tx_unlock(struct ktlsh_conn *conn, struct ktlsh_err *err)
{
	int rc = 0;

	for (;;) {
		if (atomic_exchange(&conn->tx_owed, 0) && !rc) {
			rc = send_update(conn, 0, err);
			if (rc)
				ERR_clear_error();
		}
		pthread_mutex_unlock(&conn->tx_lock);
		if (!atomic_load(&conn->tx_owed) || pthread_mutex_trylock(&conn->tx_lock))
			return rc;
	}
}

/* Name the step that failed in an error set further down. */
static int in_update(struct ktlsh_err *err, int rc)
{
	static const char pre[] = "KeyUpdate from the peer: ";
	size_t n;

	if (rc && err) {
		n = strnlen(err->msg, sizeof(err->msg) - sizeof(pre));
		memmove(err->msg + sizeof(pre) - 1, err->msg, n);
		memcpy(err->msg, pre, sizeof(pre) - 1);
		err->msg[sizeof(pre) - 1 + n] = 0;
	}
	return rc;
}

/*
 * The peer's KeyUpdate at msg, with len bytes left in its record (the
 * message must end the record: no message spans a key change, RFC 8446
 * 5.1). Called by ktlsh_read, the only reader.
 */
int ktlsh_update_received(struct ktlsh_conn *conn, const unsigned char *msg, size_t len,
			  struct ktlsh_err *err)
{
	size_t body = len >= 4 ? (size_t)((msg[1] << 16) | (msg[2] << 8) | msg[3]) : 0;
	int rc;

	if (SSL_version(conn->ssl) != TLS1_3_VERSION) {
		ktlsh_io_send_alert(conn, SSL_AD_UNEXPECTED_MESSAGE);
		return ktlsh_err_set(err, KTLSH_E_PROTOCOL,
				     "the peer sent a KeyUpdate in a %s connection", conn->version);
	}
	if (body != 1 || len < KEY_UPDATE_LEN) {
		ktlsh_io_send_alert(conn, SSL_AD_DECODE_ERROR);
		return ktlsh_err_set(err, KTLSH_E_PROTOCOL,
				     "the peer sent a malformed KeyUpdate (length %zu, not 1)", body);
	}
	if (len > KEY_UPDATE_LEN) {
		ktlsh_io_send_alert(conn, SSL_AD_UNEXPECTED_MESSAGE);
		return ktlsh_err_set(err, KTLSH_E_PROTOCOL,
				     "the peer's KeyUpdate does not end its record (%zu more bytes "
				     "under the old key)", len - KEY_UPDATE_LEN);
	}
	if (msg[4] > 1) {
		ktlsh_io_send_alert(conn, SSL_AD_ILLEGAL_PARAMETER);
		return ktlsh_err_set(err, KTLSH_E_PROTOCOL,
				     "the peer's KeyUpdate has request_update %u (0 or 1 allowed)",
				     msg[4]);
	}
	rc = ktlsh_keys_next_secret(conn, KTLSH_READ, err);
	if (!rc)
		rc = ktlsh_install_dir(conn, KTLSH_READ, err);
	if (rc)
		return in_update(err, rc);
	conn->updates[KTLSH_READ]++;
	if (msg[4] == 1) {
		atomic_store(&conn->tx_owed, 1);
		if (!pthread_mutex_trylock(&conn->tx_lock))
			return in_update(err, ktlsh_update_tx_unlock(conn, err));
	}
	return 0;
}

int ktlsh_key_update(struct ktlsh_conn *conn, int request_peer, struct ktlsh_err *err)
{
	char why[128];
	int rc;

	if (SSL_version(conn->ssl) != TLS1_3_VERSION)
		return ktlsh_err_set(err, KTLSH_E_INVALID,
				     "KeyUpdate is a TLS 1.3 message; this connection is %s",
				     conn->version);
	if (!conn->offloaded) {
		if (SSL_key_update(conn->ssl, request_peer ? SSL_KEY_UPDATE_REQUESTED :
							     SSL_KEY_UPDATE_NOT_REQUESTED) != 1 ||
		    SSL_do_handshake(conn->ssl) != 1)
			return ktlsh_err_set(err, KTLSH_E_PROTOCOL, "KeyUpdate through OpenSSL: %s",
					     ktlsh_err_openssl(why, sizeof(why)));
		conn->updates[KTLSH_WRITE]++;
		return 0;
	}
	ktlsh_update_tx_lock(conn);
	/* This KeyUpdate is also the answer to one the peer asked for. */
	atomic_store(&conn->tx_owed, 0);
	rc = send_update(conn, request_peer, err);
	if (rc) {
		ERR_clear_error();
		ktlsh_update_tx_unlock(conn, NULL);
		return rc;
	}
	return ktlsh_update_tx_unlock(conn, err);
}
