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
 * of its own under the current key; then the next TX key replaces it. On
 * a full nonblocking socket nothing goes out: an answer stays owed, and
 * the next ktlsh_write or ktlsh_sendfile sends it before its data.
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

/*
 * Direction dir's next key on the socket: derived here, or, for a
 * connection whose handshake ktls-handshaked did, by the daemon (hsd.c).
 */
static int next_key(struct ktlsh_conn *conn, int dir, struct ktlsh_err *err)
{
	int rc;

	if (conn->hsd)
		return ktlsh_hsd_update(conn, dir, err);
	rc = ktlsh_keys_next_secret(conn, dir, err);
	if (!rc)
		rc = ktlsh_install_dir(conn, dir, err);
	return rc;
}

void ktlsh_update_tx_lock(struct ktlsh_conn *conn)
{
	pthread_mutex_lock(&conn->tx_lock);
}

/* Our KeyUpdate and our next sending key; tx_lock held. */
static int send_update(struct ktlsh_conn *conn, int request_peer, struct ktlsh_err *err)
{
	unsigned char msg[KEY_UPDATE_LEN] = { KTLSH_HS_KEY_UPDATE, 0, 0, 1, request_peer ? 1 : 0 };
	int rc;

	rc = ktlsh_io_send_record(conn, KTLSH_RT_HANDSHAKE, msg, sizeof(msg), err);
	if (rc)
		return rc;
	/* The peer now reads with our next key: a failure here ends the connection. */
	rc = next_key(conn, KTLSH_WRITE, err);
	if (!rc)
		conn->updates[KTLSH_WRITE]++;
	return rc;
}

/*
 * tx_lock held: send the KeyUpdate the peer asked for, if one is owed.
 * 0, KTLSH_WANT_WRITE (a full nonblocking socket: still owed), or a code.
 */
int ktlsh_update_send_owed(struct ktlsh_conn *conn, struct ktlsh_err *err)
{
	int rc;

	if (!atomic_exchange(&conn->tx_owed, 0))
		return 0;
	rc = send_update(conn, 0, err);
	if (rc == KTLSH_WANT_WRITE)
		atomic_store(&conn->tx_owed, 1);
	else if (rc)
		ERR_clear_error();
	return rc;
}

/*
 * Let go of the sending side. A KeyUpdate owed to the peer is sent first;
 * one owed after we let go is sent by us if the lock is still free, else
 * by its new holder. On a full nonblocking socket it stays owed, for the
 * next write. 0 or the code of that KeyUpdate's failure.
 */
int ktlsh_update_tx_unlock(struct ktlsh_conn *conn, struct ktlsh_err *err)
{
	int rc;

	for (;;) {
		rc = ktlsh_update_send_owed(conn, err);
		pthread_mutex_unlock(&conn->tx_lock);
		if (rc == KTLSH_WANT_WRITE)
			return 0;
		if (rc || !atomic_load(&conn->tx_owed) || pthread_mutex_trylock(&conn->tx_lock))
			return rc;
	}
}

/*
 * The peer's KeyUpdate, whole and at the end of its record (io.c checked
 * both): its next key in; ours too if it asked. Called by ktlsh_read, the
 * only reader.
 */
int ktlsh_update_received(struct ktlsh_conn *conn, unsigned char request_update,
			  struct ktlsh_err *err)
{
	static const char pre[] = "KeyUpdate from the peer: ";
	int rc;

	rc = next_key(conn, KTLSH_READ, err);
	if (rc)
		return ktlsh_err_prefix(err, rc, pre);
	conn->updates[KTLSH_READ]++;
	if (request_update) {
		atomic_store(&conn->tx_owed, 1);
		if (!pthread_mutex_trylock(&conn->tx_lock)) {
			rc = ktlsh_update_tx_unlock(conn, err);
			if (rc)
				return ktlsh_err_prefix(err, rc, pre);
		}
	}
	return 0;
}

/* Through OpenSSL, ssl_lock held: schedule it and push it out. */
static int update_ssl(struct ktlsh_conn *conn, int request_peer, struct ktlsh_err *err)
{
	char why[128];
	int r;

	if (SSL_key_update(conn->ssl, request_peer ? SSL_KEY_UPDATE_REQUESTED :
						     SSL_KEY_UPDATE_NOT_REQUESTED) != 1)
		return ktlsh_err_set(err, KTLSH_E_PROTOCOL, "KeyUpdate through OpenSSL: %s",
				     ktlsh_err_openssl(why, sizeof(why)));
	conn->updates[KTLSH_WRITE]++;
	r = SSL_do_handshake(conn->ssl);
	if (r == 1)
		return 0;
	if (SSL_get_error(conn->ssl, r) == SSL_ERROR_WANT_WRITE ||
	    SSL_get_error(conn->ssl, r) == SSL_ERROR_WANT_READ) {
		ERR_clear_error();
		return 0;	/* goes out with the next write */
	}
	return ktlsh_err_set(err, KTLSH_E_PROTOCOL, "KeyUpdate through OpenSSL: %s",
			     ktlsh_err_openssl(why, sizeof(why)));
}

int ktlsh_key_update(struct ktlsh_conn *conn, int request_peer, struct ktlsh_err *err)
{
	int rc, owed;

	if (conn->state != KTLSH_ST_OPEN)
		return ktlsh_err_set(err, KTLSH_E_INVALID,
				     "ktlsh_key_update before the handshake is done");
	if (conn->tls_version != TLS1_3_VERSION)
		return ktlsh_err_set(err, KTLSH_E_INVALID,
				     "KeyUpdate is a TLS 1.3 message; this connection is %s",
				     conn->version);
	if (!conn->offloaded) {
		pthread_mutex_lock(&conn->ssl_lock);
		rc = update_ssl(conn, request_peer, err);
		pthread_mutex_unlock(&conn->ssl_lock);
		return rc;
	}
	ktlsh_update_tx_lock(conn);
	/* This KeyUpdate is also the answer to one the peer asked for. */
	owed = atomic_exchange(&conn->tx_owed, 0);
	rc = send_update(conn, request_peer, err);
	if (rc) {
		ERR_clear_error();
		if (rc == KTLSH_WANT_WRITE && owed)
			atomic_store(&conn->tx_owed, 1);
		ktlsh_update_tx_unlock(conn, NULL);
		return rc;
	}
	return ktlsh_update_tx_unlock(conn, err);
}
