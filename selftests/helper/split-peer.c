// SPDX-License-Identifier: GPL-2.0
/*
 * split-peer: a TLS 1.3 server that sends post-handshake messages cut
 * across records, or several in one, as RFC 8446 5.1 allows (a KeyUpdate
 * must only end its record), and a ktlsh client to read them through the
 * module. The server is ktlsh too (records through the module), with its
 * internals (internal.h) to write handshake records of any content.
 *
 * After the handshake the server sends "BEFORE\n" as data, then the case's
 * handshake records, then (after a KeyUpdate, under its next key)
 * "AFTER\n", then close_notify. Cases:
 *   ku-whole      KeyUpdate in one record (the usual way)
 *   ku-2-3        KeyUpdate as 18 00 | 00 01 00
 *   ku-4-1        KeyUpdate as 18 00 00 01 | 00
 *   nst-split     a NewSessionTicket cut in two records
 *   nst-split-18  the same, the second record starting with a byte 0x18
 *                 (the KeyUpdate type)
 *   nst-ku        NewSessionTicket part 1 | its rest and a KeyUpdate
 *   nst-nst       two NewSessionTickets in one record
 * The tickets are well formed, with an opaque ticket the client cannot
 * check, so OpenSSL (given them by ktlsh) makes a session of them.
 *
 * With --wait-go the server sends nothing before the client's "go\n": the
 * ktlsh client sends it once its keys are in the module. Without it, a
 * server quick to send everything and close left the client's socket in
 * CLOSE_WAIT before the client had attached the ULP, and attaching then
 * fails with ENOTCONN (as with the in-tree kTLS). openssl s_client, the
 * reference client, sends nothing: it is served without --wait-go.
 *
 * Client: prints "data=<what arrived, escaped> updates=N session=BYTES"
 * or "error=<code>: <message>"; exit 0 if it read to close_notify.
 *
 * usage: split-peer --serve PORT --cert F --key F --case NAME [--wait-go]
 *        split-peer --connect PORT --ca F
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

static void __attribute__((noreturn)) fail(const char *what, const char *why)
{
	fprintf(stderr, "split-peer: %s: %s\n", what, why);
	exit(2);
}

/* A NewSessionTicket: lifetime, age_add, 8-byte nonce, a 64-byte ticket, no extensions. */
static size_t ticket(unsigned char *m, unsigned char fill)
{
	size_t n = 0, i;

	m[n++] = KTLSH_HS_NEW_SESSION_TICKET;
	m[n++] = 0;
	m[n++] = 0;
	m[n++] = 4 + 4 + 1 + 8 + 2 + 64 + 2;
	memcpy(m + n, "\x00\x00\x1c\x20", 4);		/* 7200 s */
	n += 4;
	memcpy(m + n, "\x12\x34\x56\x78", 4);
	n += 4;
	m[n++] = 8;
	for (i = 0; i < 8; i++)
		m[n++] = fill + i;
	m[n++] = 0;
	m[n++] = 64;
	for (i = 0; i < 64; i++)
		m[n++] = (unsigned char)(fill * 3 + i);
	m[n++] = 0;
	m[n++] = 0;
	return n;
}

static void send_hs(struct ktlsh_conn *c, const unsigned char *p, size_t len)
{
	struct ktlsh_err err;

	if (ktlsh_io_send_record(c, KTLSH_RT_HANDSHAKE, p, len, &err))
		fail("sending a handshake record", err.msg);
}

/* After our KeyUpdate went out: our next sending key. */
static void next_key(struct ktlsh_conn *c)
{
	struct ktlsh_err err;

	if (ktlsh_keys_next_secret(c, KTLSH_WRITE, &err) || ktlsh_install_dir(c, KTLSH_WRITE, &err))
		fail("next key", err.msg);
}

static void serve_case(struct ktlsh_conn *c, const char *name)
{
	static const unsigned char ku[5] = { KTLSH_HS_KEY_UPDATE, 0, 0, 1, 0 };
	unsigned char m[256], m2[256];
	size_t n, n2, cut;

	if (!strcmp(name, "ku-whole")) {
		send_hs(c, ku, 5);
		next_key(c);
	} else if (!strcmp(name, "ku-2-3")) {
		send_hs(c, ku, 2);
		send_hs(c, ku + 2, 3);
		next_key(c);
	} else if (!strcmp(name, "ku-4-1")) {
		send_hs(c, ku, 4);
		send_hs(c, ku + 4, 1);
		next_key(c);
	} else if (!strcmp(name, "nst-split")) {
		n = ticket(m, 1);
		send_hs(c, m, 30);
		send_hs(c, m + 30, n - 30);
	} else if (!strcmp(name, "nst-split-18")) {
		/* With fill 8 the ticket's first byte is 3 * 8 = 0x18. */
		n = ticket(m, 8);
		for (cut = 4; cut < n && m[cut] != KTLSH_HS_KEY_UPDATE; cut++)
			;
		if (cut == n)
			fail("nst-split-18", "no 0x18 byte in the ticket");
		send_hs(c, m, cut);
		send_hs(c, m + cut, n - cut);
	} else if (!strcmp(name, "nst-ku")) {
		n = ticket(m, 2);
		memcpy(m2, m + 20, n - 20);
		memcpy(m2 + n - 20, ku, 5);
		send_hs(c, m, 20);
		send_hs(c, m2, n - 20 + 5);
		next_key(c);
	} else if (!strcmp(name, "nst-nst")) {
		n = ticket(m, 3);
		n2 = ticket(m + n, 4);
		send_hs(c, m, n + n2);
	} else {
		fail("--case", "unknown case (see the comment at the top of split-peer.c)");
	}
}

static int listen_on(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(0x7f000001) };
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (struct sockaddr *)&sin, sizeof(sin)) || listen(l, 4))
		fail("listen", strerror(errno));
	return l;
}

static int serve(int port, struct ktlsh_config *cfg, const char *name, int wait_go)
{
	struct ktlsh_ctx *ctx;
	struct ktlsh_conn *c;
	struct ktlsh_err err;
	char go[3];
	size_t have = 0;
	ssize_t n;
	int l, fd;

	cfg->role = KTLSH_SERVER;
	cfg->min_version = cfg->max_version = 0x0304;
	if (ktlsh_ctx_new(cfg, &ctx, &err))
		fail("context", err.msg);
	l = listen_on(port);
	fprintf(stderr, "split-peer: listening\n");
	fd = accept(l, NULL, NULL);
	if (fd < 0)
		fail("accept", strerror(errno));
	if (ktlsh_accept(ctx, fd, &c, &err))
		fail("handshake", err.msg);
	while (wait_go && have < sizeof(go)) {
		n = ktlsh_read(c, go + have, sizeof(go) - have, &err);
		if (n <= 0)
			fail("waiting for the client's go", n < 0 ? err.msg : "end of stream");
		have += n;
	}
	if (wait_go && memcmp(go, "go\n", 3))
		fail("waiting for the client's go", "it sent something else");
	if (ktlsh_write(c, "BEFORE\n", 7, &err) != 7)
		fail("sending", err.msg);
	serve_case(c, name);
	if (ktlsh_write(c, "AFTER\n", 6, &err) != 6)
		fail("sending", err.msg);
	ktlsh_close(c, &err);
	ktlsh_ctx_free(ctx);
	return 0;
}

static int client(int port, struct ktlsh_config *cfg)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(0x7f000001) };
	static unsigned char sess[65536];
	char got[256] = "", esc[1024];
	unsigned long urx, utx;
	struct ktlsh_ctx *ctx;
	struct ktlsh_conn *c;
	struct ktlsh_err err;
	size_t have = 0;
	ssize_t n;
	int fd, i;

	cfg->role = KTLSH_CLIENT;
	if (ktlsh_ctx_new(cfg, &ctx, &err))
		fail("context", err.msg);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)))
		fail("connect", strerror(errno));
	if (ktlsh_connect(ctx, fd, "localhost", &c, &err))
		fail("handshake", err.msg);
	/* The keys are in the module: the server may send (--wait-go). */
	if (ktlsh_write(c, "go\n", 3, &err) != 3)
		fail("sending go", err.msg);
	for (;;) {
		n = ktlsh_read(c, got + have, sizeof(got) - 1 - have, &err);
		if (n <= 0)
			break;
		have += n;
	}
	got[have] = 0;
	for (i = 0, esc[0] = 0; got[i]; i++)
		snprintf(esc + strlen(esc), sizeof(esc) - strlen(esc),
			 got[i] == '\n' ? "\\n" : "%c", got[i]);
	if (n < 0) {
		printf("error=%s: %s data=%s\n", ktlsh_code_name(n), err.msg, esc);
		return 1;
	}
	ktlsh_conn_key_updates(c, &urx, &utx);
	printf("data=%s updates=%lu session=%zd offloaded=%d\n", esc, urx,
	       ktlsh_conn_session(c, sess, sizeof(sess), NULL), ktlsh_conn_offloaded(c));
	ktlsh_close(c, &err);
	ktlsh_ctx_free(ctx);
	return 0;
}

int main(int argc, char **argv)
{
	struct ktlsh_config cfg = { 0 };
	const char *name = NULL;
	int i, port = 0, serving = -1, wait_go = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v;

		if (!strcmp(a, "--wait-go")) {
			wait_go = 1;
			continue;
		}
		if (i + 1 == argc)
			fail("usage", "see the comment at the top of split-peer.c");
		v = argv[++i];
		if (!strcmp(a, "--serve"))
			port = atoi(v), serving = 1;
		else if (!strcmp(a, "--connect"))
			port = atoi(v), serving = 0;
		else if (!strcmp(a, "--cert"))
			cfg.cert_file = v;
		else if (!strcmp(a, "--key"))
			cfg.key_file = v;
		else if (!strcmp(a, "--ca"))
			cfg.ca_file = v;
		else if (!strcmp(a, "--case"))
			name = v;
		else
			fail("usage", "see the comment at the top of split-peer.c");
	}
	if (serving < 0 || !port || (serving && !name))
		fail("usage", "split-peer --serve PORT --cert F --key F --case NAME [--wait-go] | "
		     "--connect PORT --ca F");
	return serving ? serve(port, &cfg, name, wait_go) : client(port, &cfg);
}
