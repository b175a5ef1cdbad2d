// SPDX-License-Identifier: GPL-2.0
/*
 * ku-probe: how long a ktlsh peer makes us wait for the KeyUpdate we ask
 * for in the middle of a long download (RFC 8446 4.6.3: it must answer
 * before its next application data; ktlsh sends files in bounded chunks so
 * that the answer never waits behind the whole file).
 *
 * A plain OpenSSL TLS 1.3 client (no ktlsh): connects with a small
 * receive buffer (64 KiB, so little is in flight), sends REQUEST (e.g. an
 * HTTP GET; "-": nothing), reads; after AFTER bytes it sends a KeyUpdate
 * with update_requested, then counts the application bytes that arrive
 * until the peer's own KeyUpdate does (the msg callback sees it), and
 * reads on to TOTAL bytes (or the end). Prints
 *   "asked_at=N answered_after=M total=T"
 * (answered_after -1: never); exit 0 if TOTAL bytes (when given) arrived.
 *
 * usage: ku-probe --port N --ca F --after BYTES [--total BYTES] [--request STR]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static long long got, asked_at = -1, answered_after = -1;

static void msg_cb(int write_p, int version, int type, const void *buf, size_t len, SSL *ssl,
		   void *arg)
{
	const unsigned char *p = buf;

	(void)version;
	(void)ssl;
	(void)arg;
	if (!write_p && type == SSL3_RT_HANDSHAKE && len && p[0] == SSL3_MT_KEY_UPDATE &&
	    asked_at >= 0 && answered_after < 0)
		answered_after = got - asked_at;
}

static void __attribute__((noreturn)) fail(const char *what)
{
	char why[256];

	ERR_error_string_n(ERR_get_error(), why, sizeof(why));
	fprintf(stderr, "ku-probe: %s: %s (%s)\n", what, why, strerror(errno));
	exit(2);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	const char *ca = NULL, *request = "-";
	long long after = -1, total = -1;
	static char buf[65536], req[1024];
	int i, fd, rcvbuf = 65536, n;
	SSL_CTX *ctx;
	SSL *ssl;

	for (i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];

		if (!strcmp(a, "--port"))
			sin.sin_port = htons(atoi(v));
		else if (!strcmp(a, "--ca"))
			ca = v;
		else if (!strcmp(a, "--after"))
			after = atoll(v);
		else if (!strcmp(a, "--total"))
			total = atoll(v);
		else if (!strcmp(a, "--request"))
			request = v;
		else
			break;
	}
	if (i != argc || !ca || after < 0 || !sin.sin_port) {
		fprintf(stderr, "usage: ku-probe --port N --ca F --after BYTES [--total BYTES] "
			"[--request STR]\n");
		return 2;
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_load_verify_locations(ctx, ca, NULL))
		fail("context");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_msg_callback(ctx, msg_cb);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)))
		fail("connect");
	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd) || !SSL_set_tlsext_host_name(ssl, "localhost") ||
	    !SSL_set1_host(ssl, "localhost") || SSL_connect(ssl) != 1)
		fail("handshake");
	if (strcmp(request, "-")) {
		/* "\r\n" in the argument stands for CRLF */
		char *o = req;
		const char *p;

		for (p = request; *p && o < req + sizeof(req) - 2; p++) {
			if (p[0] == '\\' && p[1] == 'r' && p++)
				*o++ = '\r';
			else if (p[0] == '\\' && p[1] == 'n' && p++)
				*o++ = '\n';
			else
				*o++ = *p;
		}
		if (SSL_write(ssl, req, (int)(o - req)) != (int)(o - req))
			fail("request");
	}
	for (;;) {
		if (asked_at < 0 && got >= after) {
			asked_at = got;
			if (SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) != 1 ||
			    SSL_do_handshake(ssl) != 1)
				fail("KeyUpdate");
		}
		n = SSL_read(ssl, buf, sizeof(buf));
		if (n <= 0)
			break;
		got += n;
		if (total >= 0 && got >= total)
			break;
	}
	printf("asked_at=%lld answered_after=%lld total=%lld\n", asked_at, answered_after, got);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return total < 0 || got >= total ? 0 : 1;
}
