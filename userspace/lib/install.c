// SPDX-License-Identifier: GPL-2.0
/*
 * Handing the keys to the module: TCP_ULP "tls", TLS_TX_MAX_PAYLOAD_LEN
 * when the peer negotiated a smaller record, then TLS_TX and TLS_RX.
 *
 * A key once installed cannot be taken back (neither the module nor the
 * in-tree kTLS has a way to). So everything that can be refused without
 * a key goes first: the ULP and the record size limit, which the module
 * takes before TLS_TX. If TLS_RX is refused after TLS_TX went in, the
 * failure says so exactly (err.installed), a fatal alert goes to the peer
 * under the installed key, and the socket is good only for close.
 *
 * The record size limit: OpenSSL 3.0 does not implement RFC 8449
 * record_size_limit, only RFC 6066 max_fragment_length (512 to 4096
 * bytes), which bounds the plaintext of each record the same way. It
 * counts the content alone, in TLS 1.3 too (TLSPlaintext.fragment; the
 * inner content type byte is not part of it; OpenSSL checks a received
 * record's length after removing that byte), which is exactly what
 * TLS_TX_MAX_PAYLOAD_LEN counts: the limit is the fragment length itself.
 * (record_size_limit includes the type byte, hence its "minus one" in TLS
 * 1.3.)
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"
#include "ktls_offload.h"

int ktlsh_install_dir(struct ktlsh_conn *conn, int dir, struct ktlsh_err *err)
{
	union kto_crypto_info ci;
	size_t size;
	int rc = ktlsh_keys_derive(conn, dir, &ci, &size, err);

	if (rc)
		return rc;
	if (setsockopt(conn->fd, SOL_TLS, dir == KTLSH_WRITE ? TLS_TX : TLS_RX, &ci, size))
		rc = ktlsh_err_sys(err, KTLSH_E_KERNEL, errno, "installing the %s key (%s, %s)",
				   dir == KTLSH_WRITE ? "TLS_TX" : "TLS_RX", conn->version,
				   conn->cipher_name);
	OPENSSL_cleanse(&ci, sizeof(ci));
	return rc;
}

static int attach(struct ktlsh_conn *conn, struct ktlsh_err *err)
{
	uint16_t limit = conn->max_fragment;
	int one = 1;

	if (setsockopt(conn->fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls"))) {
		if (errno == ENOENT)
			return ktlsh_err_set(err, KTLSH_E_KERNEL,
					     "the kernel has no \"tls\" upper layer protocol: "
					     "load the module (modprobe ktls_offload)");
		/* kTLS attaches only to an established connection. */
		if (errno == ENOTCONN)
			return ktlsh_err_sys(err, KTLSH_E_KERNEL, errno,
					     "attaching the \"tls\" ULP: the peer had already "
					     "closed or reset the connection");
		return ktlsh_err_sys(err, KTLSH_E_KERNEL, errno,
				     "attaching the \"tls\" ULP to the socket");
	}
	if (conn->ctx->keys_write_only &&
	    setsockopt(conn->fd, SOL_TLS, TLS_KTO_KEYS_WRITE_ONLY, &one, sizeof(one)))
		return ktlsh_err_sys(err, KTLSH_E_KERNEL, errno,
				     "making the keys write-only (TLS_KTO_KEYS_WRITE_ONLY)%s",
				     errno == ENOPROTOOPT ? ": the kernel's kTLS has no such "
				     "option, only the ktls-offload module has" : "");
	if (limit && setsockopt(conn->fd, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN, &limit, sizeof(limit)))
		return ktlsh_err_sys(err, KTLSH_E_KERNEL, errno,
				     "setting TLS_TX_MAX_PAYLOAD_LEN to the negotiated "
				     "max_fragment_length %u", limit);
	return 0;
}

int ktlsh_install(struct ktlsh_conn *conn, struct ktlsh_err *err)
{
	unsigned char alert[2] = { 2, SSL_AD_INTERNAL_ERROR };	/* fatal */
	int rc = attach(conn, err);

	if (!rc)
		rc = ktlsh_install_dir(conn, KTLSH_WRITE, err);
	if (!rc) {
		rc = ktlsh_install_dir(conn, KTLSH_READ, err);
		if (rc && err) {
			err->installed = KTLSH_INSTALLED_TX;
			ktlsh_err_prefix(err, rc, "TLS_TX is installed and stays on the socket, "
					 "only close is left: ");
		}
		if (rc)
			ktlsh_io_send_record(conn, KTLSH_RT_ALERT, alert, sizeof(alert), NULL);
	}
	/*
	 * A TLS 1.3 client reads the server's tickets through the module and
	 * hands them to OpenSSL under the first key (session.c).
	 */
	if (!rc && conn->tls_version == TLS1_3_VERSION &&
	    conn->ctx->cfg.role == KTLSH_CLIENT) {
		memcpy(conn->feed_secret, conn->secret[KTLSH_READ], conn->secret_len[KTLSH_READ]);
		conn->feed_secret_len = conn->secret_len[KTLSH_READ];
		conn->feed_seq = conn->seq[KTLSH_READ];
	}
	/* TLS 1.3 keeps them for KeyUpdate; zeroed when the connection is freed. */
	if (rc || conn->tls_version != TLS1_3_VERSION)
		OPENSSL_cleanse(conn->secret, sizeof(conn->secret));
	if (!rc)
		conn->offloaded = 1;
	return rc;
}
