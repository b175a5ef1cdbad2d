// SPDX-License-Identifier: GPL-2.0
/* Handing the keys to the module: TCP_ULP "tls", then TLS_TX and TLS_RX. */
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

union crypto_info {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_aes_ccm_128 ccm128;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

static int install_dir(struct ktlsh_conn *conn, int dir, struct ktlsh_err *err)
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
	rc = install_dir(conn, KTLSH_WRITE, err);
	if (!rc)
		rc = install_dir(conn, KTLSH_READ, err);
	OPENSSL_cleanse(conn->secret, sizeof(conn->secret));
	if (!rc)
		conn->offloaded = 1;
	return rc;
}
