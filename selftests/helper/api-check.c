// SPDX-License-Identifier: GPL-2.0
/*
 * api-check: the client API's safe defaults against a TLS server on
 * 127.0.0.1:PORT whose certificate is for another name (wronghost.pem):
 *   null-host       ktlsh_connect(host NULL): KTLSH_E_CONFIG, no handshake,
 *                   the socket still open and the caller's
 *   null-host-new   ktlsh_conn_new(host NULL): the same
 *   no-name-check   host NULL with no_name_check: the handshake succeeds
 *                   (the chain is still checked)
 *   wrong-host      host "localhost": KTLSH_E_CERT_HOST
 *   no-name-untrusted  no_name_check, but a CA that did not issue it:
 *                   KTLSH_E_CERT_CHAIN (the name check is all it skips)
 * Prints "CASE: <code name>: <message>"; exit 0 if the result is the one
 * expected.
 *
 * usage: api-check --port N --ca F --case CASE
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ktlsh.h"

int main(int argc, char **argv)
{
	struct ktlsh_config cfg = { .role = KTLSH_CLIENT };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	const char *name = NULL, *host = NULL;
	struct ktlsh_ctx *ctx;
	struct ktlsh_conn *c = NULL;
	struct ktlsh_err err = { 0 };
	int i, fd, rc, want, open_after;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			sin.sin_port = htons(atoi(argv[i + 1]));
		else if (!strcmp(argv[i], "--ca"))
			cfg.ca_file = argv[i + 1];
		else if (!strcmp(argv[i], "--case"))
			name = argv[i + 1];
		else
			break;
	}
	if (i != argc || !name || !cfg.ca_file || !sin.sin_port) {
		fprintf(stderr, "usage: api-check --port N --ca F --case CASE\n");
		return 2;
	}
	if (!strcmp(name, "null-host") || !strcmp(name, "null-host-new")) {
		want = KTLSH_E_CONFIG;
	} else if (!strcmp(name, "no-name-check")) {
		cfg.no_name_check = 1;
		want = 0;
	} else if (!strcmp(name, "wrong-host")) {
		host = "localhost";
		want = KTLSH_E_CERT_HOST;
	} else if (!strcmp(name, "no-name-untrusted")) {
		cfg.no_name_check = 1;
		want = KTLSH_E_CERT_CHAIN;
	} else {
		fprintf(stderr, "api-check: unknown case '%s'\n", name);
		return 2;
	}
	if (ktlsh_ctx_new(&cfg, &ctx, &err)) {
		fprintf(stderr, "api-check: %s\n", err.msg);
		return 2;
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin))) {
		fprintf(stderr, "api-check: connect: %s\n", strerror(errno));
		return 2;
	}
	if (!strcmp(name, "null-host-new")) {
		rc = ktlsh_conn_new(ctx, fd, NULL, &c, &err);
		if (!rc)
			rc = ktlsh_handshake(c, &err);
	} else {
		rc = ktlsh_connect(ctx, fd, host, &c, &err);
	}
	open_after = fcntl(fd, F_GETFD) >= 0;
	printf("%s: %s: %s\n", name, rc ? ktlsh_code_name(rc) : "connected",
	       rc ? err.msg : ktlsh_conn_cipher(c));
	if (!rc)
		ktlsh_close(c, NULL);
	else
		close(fd);
	ktlsh_ctx_free(ctx);
	/* A failure leaves the socket open and connp NULL. */
	return rc == want && (!rc || (open_after && !c)) ? 0 : 1;
}
