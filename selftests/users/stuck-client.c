// SPDX-License-Identifier: GPL-2.0
/*
 * stuck-client: an HTTPS client that asks for a file and then never reads
 * the answer, as a stalled or hostile client does. The server's sends fill
 * the (small) window and the socket buffers, then stop; what the server
 * does next (its send timeout, the close of that socket) is what the test
 * watches.
 *
 * usage: stuck-client [--rcvbuf BYTES] [--hold SECONDS] CAFILE PORT PATH
 *
 * Connects to 127.0.0.1:PORT, completes a TLS handshake in userspace
 * OpenSSL (the server certificate checked against CAFILE for the name
 * localhost), sends "GET PATH", prints "requested PATH" on stdout, then
 * reads nothing until HOLD seconds (default 60) pass or SIGTERM comes.
 * It then prints how many bytes were left unread and exits 0; its close
 * resets the connection, as the answer is unread.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(const char *what)
{
	fprintf(stderr, "stuck-client: %s\n", what);
	exit(1);
}

static void die_ssl(const char *what)
{
	unsigned long e = ERR_get_error();

	fprintf(stderr, "stuck-client: %s: %s\n", what,
		e ? ERR_reason_error_string(e) : "no OpenSSL error");
	exit(1);
}

static long number(const char *s, long min, long max, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "stuck-client: %s must be a number from %ld to %ld, "
			"got '%s'\n", what, min, max, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct timeval tv = { .tv_sec = 10 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	long rcvbuf = 4096, hold = 60, port;
	struct sigaction act = { .sa_handler = on_term };
	char req[512];
	time_t end;
	SSL_CTX *ctx;
	int fd, i = 1, n, unread = -1, rb;
	SSL *ssl;

	while (i < argc && !strncmp(argv[i], "--", 2)) {
		if (i + 1 >= argc)
			die("an option needs a value (usage: stuck-client [--rcvbuf BYTES] "
			    "[--hold SECONDS] CAFILE PORT PATH)");
		if (!strcmp(argv[i], "--rcvbuf"))
			rcvbuf = number(argv[i + 1], 1024, 1 << 24, "--rcvbuf");
		else if (!strcmp(argv[i], "--hold"))
			hold = number(argv[i + 1], 0, 3600, "--hold");
		else
			die("unknown option (usage: stuck-client [--rcvbuf BYTES] "
			    "[--hold SECONDS] CAFILE PORT PATH)");
		i += 2;
	}
	if (argc - i != 3)
		die("usage: stuck-client [--rcvbuf BYTES] [--hold SECONDS] CAFILE PORT PATH");
	port = number(argv[i + 1], 1, 65535, "PORT");
	if (argv[i + 2][0] != '/' || strlen(argv[i + 2]) > 256 ||
	    strpbrk(argv[i + 2], " \r\n"))
		die("PATH must start with '/', have no spaces or line ends, and be "
		    "at most 256 bytes");
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n",
		 argv[i + 2]);

	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		die_ssl("SSL_CTX_new");
	if (SSL_CTX_load_verify_locations(ctx, argv[i], NULL) != 1)
		die_ssl("cannot load the CA file");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket failed");
	/* Before connect(), so that the window it offers stays this small. */
	rb = rcvbuf;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		die("setsockopt failed");
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "stuck-client: cannot connect to 127.0.0.1 port %ld: %s\n",
			port, strerror(errno));
		return 1;
	}

	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd) || !SSL_set1_host(ssl, "localhost") ||
	    !SSL_set_tlsext_host_name(ssl, "localhost"))
		die_ssl("setting up the TLS session");
	if (SSL_connect(ssl) != 1)
		die_ssl("TLS handshake");
	n = strlen(req);
	if (SSL_write(ssl, req, n) != n)
		die_ssl("sending the request");
	printf("requested %s\n", argv[i + 2]);
	fflush(stdout);

	sigaction(SIGTERM, &act, NULL);
	end = time(NULL) + hold;
	while (!stop && time(NULL) < end)
		usleep(100 * 1000);
	ioctl(fd, FIONREAD, &unread);
	printf("stuck-client: %d bytes left unread\n", unread);
	return 0;
}
