// SPDX-License-Identifier: GPL-2.0
/*
 * ktls-get: fetch one https:// URL. The handshake and the check of the
 * server's certificate (CA, host name, dates) are done by the ktlsh helper;
 * the body then arrives through the kernel module's TLS_RX and goes to a
 * file or stdout.
 *
 * usage: ktls-get [options] https://HOST[:PORT]/PATH   (see --help)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ktlsh.h"

static const char usage[] =
	"usage: ktls-get [options] https://HOST[:PORT]/PATH\n"
	"  --ca FILE            trust the CAs in FILE (PEM)\n"
	"  --ca-dir DIR         trust the CAs in the hashed directory DIR\n"
	"  --system-ca          trust the system CA store\n"
	"  --connect ADDR       connect to ADDR (IP address) instead of resolving HOST\n"
	"  --tls 1.2|1.3        use only this TLS version\n"
	"  --ciphers LIST       TLS 1.2 cipher suites (OpenSSL syntax)\n"
	"  --ciphersuites LIST  TLS 1.3 cipher suites (OpenSSL syntax)\n"
	"  --cert FILE --key FILE   client certificate and key\n"
	"  --max-fragment N     ask for RFC 6066 max_fragment_length N (512, 1024, 2048, 4096)\n"
	"  --fallback           keep a suite the module cannot take in OpenSSL (default: refuse)\n"
	"  --userspace          never use the module: records stay in OpenSSL\n"
	"  -o FILE              write the body to FILE (default: stdout)\n"
	"  -v                   say what was negotiated, on stderr\n";

static const char *out_path;

static void __attribute__((format(printf, 1, 2), noreturn)) fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ktls-get: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (out_path)
		unlink(out_path);	/* no partial downloads left behind */
	exit(1);
}

static void __attribute__((noreturn)) usage_error(const char *msg)
{
	fprintf(stderr, "ktls-get: %s\n%s", msg, usage);
	exit(2);
}

struct url {
	char host[256];
	char port[8];
	char path[2048];
};

static void parse_url(const char *s, struct url *u)
{
	const char *h, *end, *colon;
	size_t hl;

	if (strncasecmp(s, "https://", 8))
		usage_error("the URL must start with https://");
	h = s + 8;
	end = h + strcspn(h, "/?#");
	if (*h == '[') {
		const char *rb = memchr(h, ']', end - h);

		if (!rb)
			usage_error("the URL has an unclosed '[' in the host");
		hl = rb - h - 1;
		colon = rb[1] == ':' ? rb + 1 : NULL;
		h++;
	} else {
		colon = memchr(h, ':', end - h);
		hl = (colon ? colon : end) - h;
	}
	if (!hl || hl >= sizeof(u->host))
		usage_error("the URL has no host, or a host too long");
	memcpy(u->host, h, hl);
	u->host[hl] = 0;
	snprintf(u->port, sizeof(u->port), "443");
	if (colon) {
		size_t pl = end - colon - 1;

		if (!pl || pl >= sizeof(u->port) || strspn(colon + 1, "0123456789") < pl)
			usage_error("the URL has a bad port");
		memcpy(u->port, colon + 1, pl);
		u->port[pl] = 0;
	}
	if (strlen(end) + 2 > sizeof(u->path))
		usage_error("the URL path is too long");
	snprintf(u->path, sizeof(u->path), "%s%s", *end == '/' ? "" : "/", end);
	u->path[strcspn(u->path, "#")] = 0;
}

static int dial(const char *host, const char *addr, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	const char *name = addr ? addr : !strcmp(host, "localhost") ? "127.0.0.1" : host;
	int fd = -1, rc, saved = 0;

	hints.ai_flags = AI_NUMERICSERV | (addr ? AI_NUMERICHOST : 0);
	rc = getaddrinfo(name, port, &hints, &res);
	if (rc)
		fail("cannot resolve '%s': %s", name, gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd >= 0 && !connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		saved = errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fail("cannot connect to %s port %s: %s", name, port, strerror(saved));
	return fd;
}

static void write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			fail("writing the body to %s: %s", out_path ? out_path : "stdout",
			     strerror(errno));
		p += w;
		n -= w;
	}
}

int main(int argc, char **argv)
{
	struct ktlsh_config cfg = { .role = KTLSH_CLIENT };
	const char *url_arg = NULL, *addr = NULL, *o = NULL;
	static char buf[65536];
	struct ktlsh_ctx *ctx;
	struct ktlsh_conn *conn;
	struct ktlsh_err err;
	struct url u;
	size_t have = 0, hlen, body_have;
	long long clen = -1, got = 0;
	int i, fd, out = 1, verbose = 0, status;
	char *hend, *p, req[4096];
	ssize_t n;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(a, "--system-ca")) {
			cfg.ca_system = 1;
		} else if (!strcmp(a, "--fallback")) {
			cfg.unsupported = KTLSH_UNSUPPORTED_USERSPACE;
		} else if (!strcmp(a, "--userspace")) {
			cfg.userspace = 1;
		} else if (!strcmp(a, "-v")) {
			verbose = 1;
		} else if (a[0] == '-' && !v) {
			usage_error("an option without its value, or an unknown option");
		} else if (!strcmp(a, "--ca")) {
			cfg.ca_file = argv[++i];
		} else if (!strcmp(a, "--ca-dir")) {
			cfg.ca_dir = argv[++i];
		} else if (!strcmp(a, "--connect")) {
			addr = argv[++i];
		} else if (!strcmp(a, "--ciphers")) {
			cfg.cipher_list = argv[++i];
		} else if (!strcmp(a, "--ciphersuites")) {
			cfg.ciphersuites = argv[++i];
		} else if (!strcmp(a, "--cert")) {
			cfg.cert_file = argv[++i];
		} else if (!strcmp(a, "--key")) {
			cfg.key_file = argv[++i];
		} else if (!strcmp(a, "--max-fragment")) {
			const char *v = argv[++i];

			if (strcmp(v, "512") && strcmp(v, "1024") &&
			    strcmp(v, "2048") && strcmp(v, "4096"))
				usage_error("--max-fragment takes 512, 1024, 2048 or 4096");
			cfg.max_fragment = atoi(v);
		} else if (!strcmp(a, "-o")) {
			o = argv[++i];
		} else if (!strcmp(a, "--tls")) {
			i++;
			if (!strcmp(argv[i], "1.2"))
				cfg.min_version = cfg.max_version = 0x0303;
			else if (!strcmp(argv[i], "1.3"))
				cfg.min_version = cfg.max_version = 0x0304;
			else
				usage_error("--tls takes 1.2 or 1.3");
		} else if (a[0] == '-') {
			usage_error("unknown option");
		} else if (url_arg) {
			usage_error("more than one URL");
		} else {
			url_arg = a;
		}
	}
	if (!url_arg)
		usage_error("no URL given");
	parse_url(url_arg, &u);
	if (!cfg.ca_file && !cfg.ca_dir && !cfg.ca_system)
		usage_error("no CA to check the server against: give --ca, --ca-dir or --system-ca");

	if (ktlsh_ctx_new(&cfg, &ctx, &err))
		fail("%s", err.msg);
	fd = dial(u.host, addr, u.port);
	if (ktlsh_connect(ctx, fd, u.host, &conn, &err))
		fail("%s:%s: %s", u.host, u.port, err.msg);
	if (verbose)
		fprintf(stderr, "ktls-get: %s %s, records %s", ktlsh_conn_version(conn),
			ktlsh_conn_cipher(conn),
			ktlsh_conn_offloaded(conn) ? "through the kernel module" :
			*ktlsh_conn_note(conn) ? ktlsh_conn_note(conn) : "in userspace OpenSSL");
	if (verbose && ktlsh_conn_max_fragment(conn))
		fprintf(stderr, ", max_fragment_length %d", ktlsh_conn_max_fragment(conn));
	if (verbose)
		fputc('\n', stderr);
	if (o) {
		out = open(o, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (out < 0)
			fail("cannot write '%s': %s", o, strerror(errno));
		out_path = o;
	}

	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s%s%s\r\nUser-Agent: ktls-get\r\n"
		     "Connection: close\r\n\r\n", u.path, u.host, strcmp(u.port, "443") ? ":" : "",
		     strcmp(u.port, "443") ? u.port : "");
	if (ktlsh_write(conn, req, n, &err) < 0)
		fail("sending the request: %s", err.msg);

	/* Headers. */
	for (;;) {
		if (have == sizeof(buf) - 1)
			fail("the response headers are longer than %zu bytes", sizeof(buf) - 1);
		n = ktlsh_read(conn, buf + have, sizeof(buf) - 1 - have, &err);
		if (n < 0)
			fail("reading the response: %s", err.msg);
		if (n == 0)
			fail("the server closed the connection before the end of the headers");
		have += n;
		buf[have] = 0;
		hend = strstr(buf, "\r\n\r\n");
		if (hend)
			break;
	}
	hlen = hend + 4 - buf;
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		fail("the server's answer is not HTTP: '%.40s'", buf);
	if (status != 200) {
		p = strstr(buf, "\r\n");
		fail("the server answered '%.*s'", (int)(p - buf), buf);
	}
	for (p = strstr(buf, "\r\n"); p && p < hend; p = strstr(p + 2, "\r\n")) {
		if (!strncasecmp(p + 2, "Content-Length:", 15))
			clen = atoll(p + 17);
		if (!strncasecmp(p + 2, "Transfer-Encoding:", 18))
			fail("the server sent a Transfer-Encoding, which ktls-get does not decode");
	}

	/* Body: to Content-Length, else to close_notify. */
	body_have = have - hlen;
	if (clen >= 0 && (long long)body_have > clen)
		body_have = clen;
	write_all(out, buf + hlen, body_have);
	got = body_have;
	while (clen < 0 || got < clen) {
		size_t want = sizeof(buf);

		if (clen >= 0 && (long long)want > clen - got)
			want = clen - got;
		n = ktlsh_read(conn, buf, want, &err);
		if (n < 0)
			fail("reading the body after %lld bytes: %s", got, err.msg);
		if (n == 0) {
			if (clen < 0)
				break;
			fail("the server closed after %lld of %lld body bytes", got, clen);
		}
		write_all(out, buf, n);
		got += n;
	}
	if (out != 1 && close(out))
		fail("writing '%s': %s", o, strerror(errno));
	out_path = NULL;
	if (ktlsh_close(conn, &err) && verbose)
		fprintf(stderr, "ktls-get: closing: %s\n", err.msg);
	ktlsh_ctx_free(ctx);
	if (verbose)
		fprintf(stderr, "ktls-get: %lld body bytes\n", got);
	return 0;
}
