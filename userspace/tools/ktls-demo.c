// SPDX-License-Identifier: GPL-2.0
/*
 * ktls-demo: show the kernel record layer at work on one loopback
 * connection. A random key is installed for TLS_TX on one end and TLS_RX on
 * the other; a message goes through, and the demo prints what the wire
 * carried (read by a tap end that has no key) and what the receiver got.
 *
 * No handshake happens (libktlsh does that, as ktls-serve and ktls-get
 * show): the key is random and there are no certificates, so this is a
 * demonstration of the record layer, not TLS.
 *
 * usage: ktls-demo [--tls 1.2|1.3] [--cipher aes-gcm-128|aes-gcm-256|chacha20-poly1305|aes-ccm-128] [MESSAGE]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kto_crypto_info.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

/* The --cipher choices, in the order the usage line gives them. */
static const unsigned short ciphers[] = {
	TLS_CIPHER_AES_GCM_128, TLS_CIPHER_AES_GCM_256, TLS_CIPHER_CHACHA20_POLY1305,
	TLS_CIPHER_AES_CCM_128,
};

static void die(const char *what)
{
	fprintf(stderr, "ktls-demo: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage_error(const char *msg)
{
	fprintf(stderr, "ktls-demo: %s (usage: ktls-demo [--tls 1.2|1.3] "
		"[--cipher aes-gcm-128|aes-gcm-256|chacha20-poly1305|aes-ccm-128] [MESSAGE])\n",
		msg);
	exit(2);
}

/* A connected loopback pair: *a connects to *b. */
static void tcp_pair(int *a, int *b)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&sin, sizeof(sin)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sin, &len))
		die("listening socket");
	*a = socket(AF_INET, SOCK_STREAM, 0);
	if (*a < 0 || connect(*a, (struct sockaddr *)&sin, len))
		die("connect");
	*b = accept(l, NULL, NULL);
	if (*b < 0)
		die("accept");
	close(l);
}

static void hexdump(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		printf("%02x%s", p[i], (i % 16 == 15 || i + 1 == n) ? "\n    " : " ");
	printf("\r");
}

int main(int argc, char **argv)
{
	unsigned short version = TLS_1_3_VERSION;
	const char *msg = "hello from the kernel record layer";
	union kto_crypto_info ci;
	unsigned char wire[512], plain[512];
	int ci_idx = 0, i, tx, tap, rx_a, rx;
	ssize_t n, w;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--tls") && i + 1 < argc) {
			i++;
			if (!strcmp(argv[i], "1.2"))
				version = TLS_1_2_VERSION;
			else if (!strcmp(argv[i], "1.3"))
				version = TLS_1_3_VERSION;
			else
				usage_error("--tls takes 1.2 or 1.3");
		} else if (!strcmp(argv[i], "--cipher") && i + 1 < argc) {
			i++;
			for (ci_idx = 0; ci_idx < (int)(sizeof(ciphers) / sizeof(ciphers[0])); ci_idx++)
				if (!strcmp(argv[i], kto_crypto_info_name(ciphers[ci_idx])))
					break;
			if (ci_idx == (int)(sizeof(ciphers) / sizeof(ciphers[0])))
				usage_error("unknown cipher");
		} else if (argv[i][0] == '-') {
			usage_error("unknown option");
		} else {
			msg = argv[i];
		}
	}
	if (strlen(msg) > 256)
		usage_error("MESSAGE is longer than 256 bytes");

	memset(&ci, 0, sizeof(ci));
	if (getrandom(&ci, sizeof(ci), 0) != sizeof(ci))
		die("getrandom");
	ci.info.version = version;
	ci.info.cipher_type = ciphers[ci_idx];

	/* sender --TLS--> tap (reads the wire, forwards it) --> receiver */
	tcp_pair(&tx, &tap);
	tcp_pair(&rx_a, &rx);
	if (setsockopt(tx, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")))
		die("TCP_ULP on the sender (is the module loaded?)");
	if (setsockopt(tx, SOL_TLS, TLS_TX, &ci, kto_crypto_info_len(ciphers[ci_idx])))
		die("TLS_TX");
	if (setsockopt(rx, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")))
		die("TCP_ULP on the receiver");
	if (setsockopt(rx, SOL_TLS, TLS_RX, &ci, kto_crypto_info_len(ciphers[ci_idx])))
		die("TLS_RX");

	if (send(tx, msg, strlen(msg), 0) != (ssize_t)strlen(msg))
		die("send");
	n = recv(tap, wire, sizeof(wire), 0);
	if (n < 5)
		die("reading the wire");
	printf("TLS %s, %s, %zu plaintext bytes sent with send()\n",
	       version == TLS_1_3_VERSION ? "1.3" : "1.2", kto_crypto_info_name(ciphers[ci_idx]),
	       strlen(msg));
	printf("on the wire: %zd bytes, record type %u, version %u.%u, length %u\n    ",
	       n, wire[0], wire[1], wire[2], (wire[3] << 8) | wire[4]);
	hexdump(wire, n);
	w = send(rx_a, wire, n, 0);
	if (w != n)
		die("forwarding the record");
	n = recv(rx, plain, sizeof(plain) - 1, 0);
	if (n < 0)
		die("recv on the receiver");
	plain[n] = 0;
	printf("received with recv(): %zd bytes: \"%s\"\n", n, plain);
	memset(&ci, 0, sizeof(ci));
	if (n != (ssize_t)strlen(msg) || memcmp(plain, msg, n)) {
		fprintf(stderr, "ktls-demo: the receiver got other bytes than were sent\n");
		return 1;
	}
	close(tx);
	close(tap);
	close(rx_a);
	close(rx);
	return 0;
}
