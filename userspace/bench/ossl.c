// SPDX-License-Identifier: GPL-2.0
/*
 * Userspace OpenSSL: a real handshake (forced to one version and cipher)
 * over a loopback TCP pair, then SSL_write -> SSL_read with the records
 * built and opened by OpenSSL. The server certificate is a P-256 key
 * self-signed in memory at start-up; the client does not verify it (the
 * handshake is outside the timed phase and only has to agree on keys).
 * kTLS stays off (SSL_OP_ENABLE_KTLS is cleared).
 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define READ_BUF (256 * 1024)

static EVP_PKEY *pkey;
static X509 *cert;

static void ossl_err(const char *what, char *err, size_t errlen)
{
	unsigned long e = ERR_get_error();
	char buf[128] = "no OpenSSL error queued";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s: %s", what, buf);
	ERR_clear_error();
}

int bench_ossl_init(char *err, size_t errlen)
{
	X509_NAME *name;

	pkey = EVP_EC_gen("P-256");
	cert = X509_new();
	if (!pkey || !cert)
		goto fail;
	name = X509_get_subject_name(cert);
	if (!X509_set_version(cert, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(cert), 86400) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)"ktls-bench", -1, -1, 0) ||
	    !X509_set_issuer_name(cert, name) || !X509_set_pubkey(cert, pkey) ||
	    !X509_sign(cert, pkey, EVP_sha256()))
		goto fail;
	return 0;
fail:
	ossl_err("making the in-memory certificate", err, errlen);
	bench_ossl_uninit();
	return -1;
}

void bench_ossl_uninit(void)
{
	X509_free(cert);
	EVP_PKEY_free(pkey);
	cert = NULL;
	pkey = NULL;
}

static SSL_CTX *ctx_new(const struct bench_job *job, int server, char *err, size_t errlen)
{
	int v = job->tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, v) ||
	    !SSL_CTX_set_max_proto_version(ctx, v))
		goto fail;
	if (job->tls13 ? !SSL_CTX_set_ciphersuites(ctx, job->cipher->ossl13)
		       : !SSL_CTX_set_cipher_list(ctx, job->cipher->ossl12))
		goto fail;
#ifdef SSL_OP_ENABLE_KTLS
	SSL_CTX_clear_options(ctx, SSL_OP_ENABLE_KTLS);
#endif
	if (server) {
		if (!SSL_CTX_use_certificate(ctx, cert) || !SSL_CTX_use_PrivateKey(ctx, pkey))
			goto fail;
		/* No session tickets: nothing but data after the handshake. */
		SSL_CTX_set_num_tickets(ctx, 0);
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
fail:
	ossl_err("setting up the OpenSSL context", err, errlen);
	SSL_CTX_free(ctx);
	return NULL;
}

struct ossl_conn {
	const struct bench_job *job;
	SSL_CTX *cctx, *sctx;
	SSL *snd, *rcv;		/* client sends, server receives */
	int sfd, rfd;
	unsigned char *buf;
};

static int ossl_setup(void *arg, int sender, char *err, size_t errlen)
{
	struct ossl_conn *c = arg;
	SSL **ssl = sender ? &c->snd : &c->rcv;
	int *fd = sender ? &c->sfd : &c->rfd;
	const SSL_CIPHER *cipher;
	const char *want;
	int rc;

	*ssl = SSL_new(sender ? c->cctx : c->sctx);
	if (!*ssl || !SSL_set_fd(*ssl, *fd)) {
		ossl_err("SSL_new", err, errlen);
		goto fail;
	}
	rc = sender ? SSL_connect(*ssl) : SSL_accept(*ssl);
	if (rc != 1) {
		ossl_err(sender ? "handshake (client)" : "handshake (server)", err, errlen);
		goto fail;
	}
	cipher = SSL_get_current_cipher(*ssl);
	want = c->job->tls13 ? c->job->cipher->ossl13 : c->job->cipher->ossl12;
	if (!cipher || strcmp(SSL_CIPHER_get_name(cipher), want)) {
		snprintf(err, errlen, "negotiated %s, wanted %s",
			 cipher ? SSL_CIPHER_get_name(cipher) : "nothing", want);
		goto fail;
	}
	return 0;
fail:
	/* The peer sees the connection go away instead of waiting for us. */
	close(*fd);
	*fd = -1;
	return -1;
}

static int64_t ossl_send(void *arg, double deadline, char *err, size_t errlen)
{
	struct ossl_conn *c = arg;
	int64_t total = 0;

	while (bench_now() < deadline) {
		if (SSL_write(c->snd, c->buf, c->job->size) != (int)c->job->size) {
			ossl_err("SSL_write", err, errlen);
			shutdown(c->sfd, SHUT_RDWR);
			return -1;
		}
		total += c->job->size;
	}
	SSL_shutdown(c->snd);
	shutdown(c->sfd, SHUT_WR);
	return total;
}

static int64_t ossl_recv(void *arg, char *err, size_t errlen)
{
	struct ossl_conn *c = arg;
	unsigned char *buf = malloc(READ_BUF);
	int64_t total = 0;
	int n;

	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while ((n = SSL_read(c->rcv, buf, READ_BUF)) > 0)
		total += n;
	if (SSL_get_error(c->rcv, n) != SSL_ERROR_ZERO_RETURN) {
		ossl_err("SSL_read", err, errlen);
		total = -1;
	}
	free(buf);
	return total;
}

static const struct bench_conn_ops ossl_ops = {
	.setup = ossl_setup,
	.send = ossl_send,
	.recv = ossl_recv,
};

int bench_ossl_run(const struct bench_job *job, struct bench_result *res, char *err,
		   size_t errlen)
{
	struct ossl_conn conn[BENCH_MAX_CONNS];
	void *ptrs[BENCH_MAX_CONNS];
	SSL_CTX *cctx, *sctx = NULL;
	int i, n = 0, rc = -1;

	if (job->conns > BENCH_MAX_CONNS) {
		snprintf(err, errlen, "at most %d connections", BENCH_MAX_CONNS);
		return -1;
	}
	cctx = ctx_new(job, 0, err, errlen);
	if (!cctx)
		return -1;
	sctx = ctx_new(job, 1, err, errlen);
	if (!sctx)
		goto out;
	memset(conn, 0, sizeof(conn));
	for (i = 0; i < job->conns; i++) {
		struct ossl_conn *c = &conn[i];

		if (bench_tcp_pair(&c->sfd, &c->rfd, err, errlen))
			goto out;
		n++;
		c->job = job;
		c->cctx = cctx;
		c->sctx = sctx;
		c->buf = malloc(job->size);
		if (!c->buf) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		memset(c->buf, 0x5a ^ i, job->size);
		ptrs[i] = c;
	}
	rc = bench_run_conns(&ossl_ops, ptrs, job->conns, job->seconds, res, err, errlen);
out:
	for (i = 0; i < n; i++) {
		SSL_free(conn[i].snd);
		SSL_free(conn[i].rcv);
		if (conn[i].sfd >= 0)
			close(conn[i].sfd);
		if (conn[i].rfd >= 0)
			close(conn[i].rfd);
		free(conn[i].buf);
	}
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	return rc;
}
