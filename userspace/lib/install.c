// SPDX-License-Identifier: GPL-2.0
/*
 * Handing the keys to the module: TCP_ULP "tls", then TLS_TX and TLS_RX,
 * and TLS_TX_MAX_PAYLOAD_LEN when the peer negotiated a smaller record.
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
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
/* Upstream Linux 6.19; the module takes it on every kernel. */
#ifndef TLS_TX_MAX_PAYLOAD_LEN
#define TLS_TX_MAX_PAYLOAD_LEN 5
#endif

union crypto_info {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_aes_ccm_128 ccm128;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

int ktlsh_install_dir(struct ktlsh_conn *conn, int dir, struct ktlsh_err *err)
{
	union crypto_info ci;
	size_t size;
	int rc = ktlsh_keys_derive(conn, dir, &ci, &size, err);

	if (rc)
		return rc;
	if (setsockopt(conn->fd, SOL_TLS, dir == KTLSH_WRITE ? TLS_TX : TLS_RX, &ci, size))
		rc = ktlsh_err_sys(err, KTLSH_E_KERNEL, errno, "installing the %s key (%s, %s)",
				   dir == KTLSH_WRITE ? "TLS_TX" : "TLS_RX", conn->version,
				   conn->cipher);
	OPENSSL_cleanse(&ci, sizeof(ci));
	return rc;
}

int ktlsh_install(struct ktlsh_conn *conn, struct ktlsh_err *err)
{
	int rc;

	if (setsockopt(conn->fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls"))) {
		if (errno == ENOENT)
			return ktlsh_err_set(err, KTLSH_E_KERNEL,
					     "the kernel has no \"tls\" upper layer protocol: "
					     "load the module (modprobe ktls_offload)");
		return ktlsh_err_sys(err, KTLSH_E_KERNEL, errno,
				     "attaching the \"tls\" ULP to the socket");
	}
	rc = ktlsh_install_dir(conn, KTLSH_WRITE, err);
	if (!rc && conn->max_fragment) {
		uint16_t limit = conn->max_fragment;

		if (setsockopt(conn->fd, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN, &limit, sizeof(limit)))
			rc = ktlsh_err_sys(err, KTLSH_E_KERNEL, errno,
					   "setting TLS_TX_MAX_PAYLOAD_LEN to the negotiated "
					   "max_fragment_length %u", limit);
	}
	if (!rc)
		rc = ktlsh_install_dir(conn, KTLSH_READ, err);
	/* TLS 1.3 keeps them for KeyUpdate; zeroed when the connection is freed. */
	if (rc || SSL_version(conn->ssl) != TLS1_3_VERSION)
		OPENSSL_cleanse(conn->secret, sizeof(conn->secret));
	if (!rc)
		conn->offloaded = 1;
	return rc;
}
