// SPDX-License-Identifier: GPL-2.0
/*
 * Context configuration: versions, cipher suites, certificate and key,
 * trusted CAs, max_fragment_length, sessions. Everything a ktlsh_config
 * asks for is checked here, once, so a connection fails only for reasons
 * of its own.
 *
 * Safe defaults: anonymous (aNULL) and unencrypted (eNULL) suites are
 * removed from any TLS 1.2 list (a peer must present a certificate, see
 * ktlsh_verify_done); without a list, the AEAD suites with forward secrecy
 * that the module takes are offered, nothing it would refuse after the
 * handshake. A server sets a session id context, which OpenSSL requires
 * to resume sessions when it asks for client certificates.
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* The TLS 1.3 suites the module takes, OpenSSL's default order first. */
#define TLS13_SUITES \
	"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:" \
	"TLS_AES_128_CCM_SHA256"

/* The TLS 1.2 suites the module takes (16-byte tags), with forward secrecy. */
#define TLS12_SUITES \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES128-CCM:DHE-RSA-AES128-CCM"

/* Appended to every TLS 1.2 list: a peer without a certificate is never accepted. */
#define NO_ANON ":!aNULL:!eNULL"

static int conn_index = -1;
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

static void make_index(void)
{
	conn_index = SSL_get_ex_new_index(0, "ktlsh_conn", NULL, NULL, NULL);
}

/* The SSL ex_data slot that points back to the ktlsh_conn. */
int ktlsh_config_conn_index(void)
{
	pthread_once(&index_once, make_index);
	return conn_index;
}

static int set_versions(SSL_CTX *c, const struct ktlsh_config *cfg, struct ktlsh_err *err)
{
	int lo = cfg->min_version ? cfg->min_version : TLS1_2_VERSION;
	int hi = cfg->max_version ? cfg->max_version : TLS1_3_VERSION;

	if (lo < TLS1_2_VERSION || hi > TLS1_3_VERSION || lo > hi)
		return ktlsh_err_set(err, KTLSH_E_CONFIG,
				     "TLS versions: the module takes TLS 1.2 (0x0303) and "
				     "1.3 (0x0304), asked for 0x%04x to 0x%04x", lo, hi);
	if (!SSL_CTX_set_min_proto_version(c, lo) || !SSL_CTX_set_max_proto_version(c, hi))
		return ktlsh_err_set(err, KTLSH_E_CONFIG, "OpenSSL refused the TLS versions");
	return 0;
}

static int set_suites(SSL_CTX *c, const struct ktlsh_config *cfg, struct ktlsh_err *err)
{
	const char *base = cfg->cipher_list;
	size_t len;
	char *list;
	int ok;

	if (!base)
		base = cfg->unsupported == KTLSH_UNSUPPORTED_USERSPACE ? "DEFAULT" : TLS12_SUITES;
	len = strlen(base) + sizeof(NO_ANON);
	list = malloc(len);
	if (!list)
		return ktlsh_err_sys(err, KTLSH_E_SYSTEM, ENOMEM, "cipher list");
	snprintf(list, len, "%s%s", base, NO_ANON);
	ok = SSL_CTX_set_cipher_list(c, list) == 1;
	free(list);
	if (!ok)
		return ktlsh_err_set(err, KTLSH_E_CONFIG,
				     "no TLS 1.2 cipher suite OpenSSL knows in '%s' (anonymous "
				     "and unencrypted suites are never used)", base);
	if (SSL_CTX_set_ciphersuites(c, cfg->ciphersuites ? cfg->ciphersuites : TLS13_SUITES) != 1)
		return ktlsh_err_set(err, KTLSH_E_CONFIG,
				     "no TLS 1.3 cipher suite OpenSSL knows in '%s'", cfg->ciphersuites);
	return 0;
}

static int set_cert(SSL_CTX *c, const struct ktlsh_config *cfg, struct ktlsh_err *err)
{
	char why[128];

	if (!cfg->cert_file && !cfg->key_file) {
		if (cfg->role == KTLSH_SERVER)
			return ktlsh_err_set(err, KTLSH_E_CONFIG,
					     "a server needs a certificate and a private key");
		return 0;
	}
	if (!cfg->cert_file || !cfg->key_file)
		return ktlsh_err_set(err, KTLSH_E_CONFIG, "a %s without a %s",
				     cfg->cert_file ? "certificate" : "private key",
				     cfg->cert_file ? "private key" : "certificate");
	if (access(cfg->cert_file, R_OK))
		return ktlsh_err_sys(err, KTLSH_E_CONFIG, errno, "certificate file '%s'",
				     cfg->cert_file);
	if (access(cfg->key_file, R_OK))
		return ktlsh_err_sys(err, KTLSH_E_CONFIG, errno, "private key file '%s'",
				     cfg->key_file);
	if (SSL_CTX_use_certificate_chain_file(c, cfg->cert_file) != 1)
		return ktlsh_err_set(err, KTLSH_E_CONFIG,
				     "certificate file '%s' holds no usable PEM certificate: %s",
				     cfg->cert_file, ktlsh_err_openssl(why, sizeof(why)));
	if (SSL_CTX_use_PrivateKey_file(c, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
		unsigned long e = ERR_peek_last_error();

		if (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
			ERR_clear_error();
			return ktlsh_err_set(err, KTLSH_E_CONFIG,
					     "the private key in '%s' does not match the "
					     "certificate in '%s'", cfg->key_file, cfg->cert_file);
		}
		return ktlsh_err_set(err, KTLSH_E_CONFIG,
				     "private key file '%s' holds no usable PEM private key: %s",
				     cfg->key_file, ktlsh_err_openssl(why, sizeof(why)));
	}
	if (SSL_CTX_check_private_key(c) != 1) {
		ERR_clear_error();
		return ktlsh_err_set(err, KTLSH_E_CONFIG,
				     "the private key in '%s' does not match the certificate in '%s'",
				     cfg->key_file, cfg->cert_file);
	}
	return 0;
}

/* RFC 6066 max_fragment_length: a client asks, an OpenSSL server grants it. */
static int set_max_fragment(SSL_CTX *c, const struct ktlsh_config *cfg, struct ktlsh_err *err)
{
	uint8_t mode;

	switch (cfg->max_fragment) {
	case 0: return 0;
	case 512: mode = TLSEXT_max_fragment_length_512; break;
	case 1024: mode = TLSEXT_max_fragment_length_1024; break;
	case 2048: mode = TLSEXT_max_fragment_length_2048; break;
	case 4096: mode = TLSEXT_max_fragment_length_4096; break;
	default:
		return ktlsh_err_set(err, KTLSH_E_CONFIG,
				     "max_fragment_length: RFC 6066 allows 512, 1024, 2048 or "
				     "4096 bytes, not %d", cfg->max_fragment);
	}
	if (cfg->role != KTLSH_CLIENT)
		return ktlsh_err_set(err, KTLSH_E_CONFIG,
				     "max_fragment_length is asked for by the client; a server "
				     "grants what the client asks");
	if (SSL_CTX_set_tlsext_max_fragment_length(c, mode) != 1)
		return ktlsh_err_set(err, KTLSH_E_CONFIG, "OpenSSL refused max_fragment_length %d",
				     cfg->max_fragment);
	return 0;
}

/*
 * Server: a session made under one configuration must not resume under
 * another (say, one that asks for client certificates and one that does
 * not): the id context is a digest of what decides who is accepted.
 */
static int set_session_context(SSL_CTX *c, const struct ktlsh_config *cfg,
			       struct ktlsh_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char desc[3 * 4096 + 64];

	if (cfg->role != KTLSH_SERVER)
		return 0;
	snprintf(desc, sizeof(desc), "ktlsh server\n%s\n%s\n%s\n%d %d", cfg->cert_file,
		 cfg->ca_file ? cfg->ca_file : "", cfg->ca_dir ? cfg->ca_dir : "",
		 cfg->ca_system, cfg->verify_peer);
	if (!EVP_Digest(desc, strlen(desc), md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen > SSL_MAX_SID_CTX_LENGTH ||
	    SSL_CTX_set_session_id_context(c, md, mdlen) != 1)
		return ktlsh_err_set(err, KTLSH_E_CONFIG, "OpenSSL refused the session id context");
	return 0;
}

int ktlsh_ctx_new(const struct ktlsh_config *cfg, struct ktlsh_ctx **ctxp, struct ktlsh_err *err)
{
	struct ktlsh_ctx *ctx;
	char why[128];
	int rc;

	*ctxp = NULL;
	if (ktlsh_config_conn_index() < 0)
		return ktlsh_err_set(err, KTLSH_E_SYSTEM, "OpenSSL has no ex_data slot left");
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return ktlsh_err_sys(err, KTLSH_E_SYSTEM, ENOMEM, "ktlsh context");
	ctx->cfg = *cfg;
	ctx->ssl_ctx = SSL_CTX_new(cfg->role == KTLSH_SERVER ? TLS_server_method() :
							       TLS_client_method());
	if (!ctx->ssl_ctx) {
		free(ctx);
		return ktlsh_err_set(err, KTLSH_E_SYSTEM, "OpenSSL context: %s",
				     ktlsh_err_openssl(why, sizeof(why)));
	}
	rc = set_versions(ctx->ssl_ctx, cfg, err);
	if (!rc)
		rc = set_suites(ctx->ssl_ctx, cfg, err);
	if (!rc)
		rc = set_max_fragment(ctx->ssl_ctx, cfg, err);
	if (!rc)
		rc = set_cert(ctx->ssl_ctx, cfg, err);
	if (!rc)
		rc = ktlsh_verify_setup(ctx, err);
	if (!rc)
		rc = set_session_context(ctx->ssl_ctx, cfg, err);
	if (rc) {
		ERR_clear_error();
		ktlsh_ctx_free(ctx);
		return rc;
	}
	SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					  SSL_OP_CIPHER_SERVER_PREFERENCE);
	/*
	 * Read-ahead off: OpenSSL reads no record past the handshake that the
	 * module should have. Partial writes: a nonblocking ktlsh_write can
	 * return what went out. Released buffers: an idle connection in
	 * OpenSSL keeps no record buffers.
	 */
	SSL_CTX_set_read_ahead(ctx->ssl_ctx, 0);
	SSL_CTX_set_mode(ctx->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				       SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	ktlsh_handshake_setup(ctx->ssl_ctx);
	*ctxp = ctx;
	return 0;
}

int ktlsh_ctx_set_keys_write_only(struct ktlsh_ctx *ctx, int on)
{
	ctx->keys_write_only = on != 0;
	return 0;
}

void ktlsh_ctx_free(struct ktlsh_ctx *ctx)
{
	if (!ctx)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
}
