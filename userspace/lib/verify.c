// SPDX-License-Identifier: GPL-2.0
/*
 * Certificate checks. OpenSSL does them during the handshake (chain to a
 * trusted CA, validity dates, host name); a verify callback records the
 * first failure with the certificate it concerns, so that the error names
 * the check and the certificate. A failed check fails the handshake, so no
 * key is ever installed for such a peer. After the handshake,
 * ktlsh_verify_done checks again that a certificate was presented and
 * verified (or, resumed, had been when the session was made), and that the
 * suite authenticates the server at all: OpenSSL accepts an anonymous
 * suite without calling the verify callback.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static void asn1_time(const ASN1_TIME *t, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n = 0;

	buf[0] = 0;
	if (b && t && ASN1_TIME_print(b, t) > 0)
		n = BIO_read(b, buf, (int)len - 1);
	if (n > 0)
		buf[n] = 0;
	BIO_free(b);
}

static int verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct ktlsh_conn *conn = ssl ? SSL_get_ex_data(ssl, ktlsh_config_conn_index()) : NULL;
	X509 *cert = X509_STORE_CTX_get_current_cert(xs);
	struct ktlsh_verify_fail *f;
	int e = X509_STORE_CTX_get_error(xs);

	if (ok || !conn || conn->vfail.error)
		return ok;
	f = &conn->vfail;
	f->error = e;
	f->depth = X509_STORE_CTX_get_error_depth(xs);
	if (cert)
		X509_NAME_oneline(X509_get_subject_name(cert), f->subject, sizeof(f->subject));
	if (cert && e == X509_V_ERR_CERT_HAS_EXPIRED)
		asn1_time(X509_get0_notAfter(cert), f->when, sizeof(f->when));
	if (cert && e == X509_V_ERR_CERT_NOT_YET_VALID)
		asn1_time(X509_get0_notBefore(cert), f->when, sizeof(f->when));
	return ok;
}

int ktlsh_verify_setup(struct ktlsh_ctx *ctx, struct ktlsh_err *err)
{
	const struct ktlsh_config *cfg = &ctx->cfg;
	int client = cfg->role == KTLSH_CLIENT;
	int verify = client ? cfg->verify_peer >= 0 : cfg->verify_peer > 0;
	char why[128];
	struct stat st;

	if (!verify) {
		SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_NONE, NULL);
		return 0;
	}
	if (cfg->ca_file && access(cfg->ca_file, R_OK))
		return ktlsh_err_sys(err, KTLSH_E_CONFIG, errno, "CA file '%s'", cfg->ca_file);
	if (cfg->ca_dir && (stat(cfg->ca_dir, &st) || !S_ISDIR(st.st_mode)))
		return ktlsh_err_set(err, KTLSH_E_CONFIG, "CA directory '%s' is not a directory",
				     cfg->ca_dir);
	if ((cfg->ca_file || cfg->ca_dir) &&
	    !SSL_CTX_load_verify_locations(ctx->ssl_ctx, cfg->ca_file, cfg->ca_dir))
		return ktlsh_err_set(err, KTLSH_E_CONFIG, "cannot load trusted CAs from '%s': %s",
				     cfg->ca_file ? cfg->ca_file : cfg->ca_dir,
				     ktlsh_err_openssl(why, sizeof(why)));
	if (cfg->ca_system && !SSL_CTX_set_default_verify_paths(ctx->ssl_ctx))
		return ktlsh_err_set(err, KTLSH_E_CONFIG, "cannot load the system CA store: %s",
				     ktlsh_err_openssl(why, sizeof(why)));
	if (!cfg->ca_file && !cfg->ca_dir && !cfg->ca_system)
		return ktlsh_err_set(err, KTLSH_E_CONFIG,
				     "no trusted CA given to check the %s certificate against "
				     "(a CA file, a CA directory or the system store)",
				     client ? "server's" : "client's");
	SSL_CTX_set_verify(ctx->ssl_ctx,
			   client ? SSL_VERIFY_PEER :
				    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
			   verify_cb);
	return 0;
}

/* Client: the name the server certificate must carry (DNS name or IP address). */
int ktlsh_verify_host(struct ktlsh_conn *conn, const char *host, struct ktlsh_err *err)
{
	X509_VERIFY_PARAM *param = SSL_get0_param(conn->ssl);
	unsigned char addr[16];
	int is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;

	snprintf(conn->host, sizeof(conn->host), "%s", host);
	if (is_ip) {
		if (!X509_VERIFY_PARAM_set1_ip_asc(param, host))
			return ktlsh_err_set(err, KTLSH_E_CONFIG, "bad IP address '%s'", host);
		return 0;
	}
	/* SNI, so that a server with several names picks the right certificate. */
	if (!SSL_set_tlsext_host_name(conn->ssl, host) || !SSL_set1_host(conn->ssl, host))
		return ktlsh_err_set(err, KTLSH_E_CONFIG, "bad host name '%s'", host);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return 0;
}

/* After a failed handshake: if a certificate check failed, say which. 0 if none did. */
int ktlsh_verify_report(struct ktlsh_conn *conn, struct ktlsh_err *err)
{
	const struct ktlsh_verify_fail *f = &conn->vfail;
	const char *whose = conn->ctx->cfg.role == KTLSH_CLIENT ? "server" : "client";
	const char *which = f->depth ? "issuing CA" : whose;

	if (!f->error)
		return 0;
	switch (f->error) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return ktlsh_err_set(err, KTLSH_E_CERT_EXPIRED,
				     "certificate check failed: validity dates: the %s certificate "
				     "%s expired on %s", which, f->subject, f->when);
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return ktlsh_err_set(err, KTLSH_E_CERT_NOT_YET_VALID,
				     "certificate check failed: validity dates: the %s certificate "
				     "%s is not valid before %s", which, f->subject, f->when);
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return ktlsh_err_set(err, KTLSH_E_CERT_HOST,
				     "certificate check failed: host name: the %s certificate %s "
				     "is not valid for '%s'", whose, f->subject,
				     conn->host);
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		return ktlsh_err_set(err, KTLSH_E_CERT_SELF_SIGNED,
				     "certificate check failed: trust: the %s certificate %s is "
				     "self-signed and not among the trusted CAs", whose, f->subject);
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return ktlsh_err_set(err, KTLSH_E_CERT_CHAIN,
				     "certificate check failed: trust: the %s certificate %s does "
				     "not chain to a trusted CA (%s)", which, f->subject,
				     X509_verify_cert_error_string(f->error));
	}
	return ktlsh_err_set(err, KTLSH_E_CERT_OTHER,
			     "certificate check failed: the %s certificate %s: %s", which,
			     f->subject, X509_verify_cert_error_string(f->error));
}

/*
 * The handshake is done in OpenSSL: whenever verification is on, the peer
 * presented a certificate that passed it (a resumed session carries the
 * certificate and result of the handshake that made it); an anonymous
 * suite is refused whatever the configuration.
 */
int ktlsh_verify_done(struct ktlsh_conn *conn, struct ktlsh_err *err)
{
	const struct ktlsh_config *cfg = &conn->ctx->cfg;
	int client = cfg->role == KTLSH_CLIENT;
	int verify = client ? cfg->verify_peer >= 0 : cfg->verify_peer > 0;
	const char *whose = client ? "server" : "client";
	long result;

	if (SSL_CIPHER_get_auth_nid(conn->cipher) == NID_auth_null)
		return ktlsh_err_set(err, KTLSH_E_CERT_OTHER,
				     "certificate check failed: the suite %s %s is anonymous: the "
				     "%s is not authenticated", conn->version, conn->cipher_name,
				     whose);
	if (!verify)
		return 0;
	if (!SSL_get0_peer_certificate(conn->ssl))
		return ktlsh_err_set(err, KTLSH_E_CERT_OTHER,
				     "certificate check failed: the %s presented no certificate",
				     whose);
	result = SSL_get_verify_result(conn->ssl);
	if (result != X509_V_OK)
		return ktlsh_err_set(err, KTLSH_E_CERT_OTHER,
				     "certificate check failed: the %s certificate did not verify: "
				     "%s", whose, X509_verify_cert_error_string(result));
	return 0;
}
