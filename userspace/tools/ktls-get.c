// SPDX-License-Identifier: GPL-2.0
/*
 * ktls-get: fetch one https:// URL. The handshake and the check of the
 * server's certificate (CA, host name, dates) are done by the ktlsh helper;
 * the body then arrives through the kernel module's TLS_RX and goes to a
 * file or stdout.
 *
 * The output file: the body goes to a temporary file next to it, renamed
 * over it once the body is complete, so that a failure never leaves a
 * partial file nor touches one that was there (or deletes anything it did
 * not create). A name that is not a regular file (/dev/null, a FIFO) is
 * written in place and never removed. Each failure class has its exit
 * status (see usage[] and ktls-get(1)).
 *
 * usage: ktls-get [options] https://HOST[:PORT]/PATH   (see --help)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "http.h"

/* Exit statuses, one per class of failure. */
enum {
	EXIT_USAGE = 2,		/* bad option or URL */
	EXIT_CONNECT = 3,	/* name resolution or TCP connect */
	EXIT_TIMEOUT = 4,	/* connect, handshake or a read took longer than --timeout */
	EXIT_TLS = 5,		/* the TLS handshake failed, or the server does not speak TLS */
	EXIT_CERT = 6,		/* the server's certificate failed a check */
	EXIT_MODULE = 7,	/* the module: not loaded, refused the keys or the suite */
	EXIT_HTTP = 8,		/* the server answered with a status other than 200 */
	EXIT_TRANSFER = 9,	/* the answer was not HTTP, was cut short, or the connection failed */
	EXIT_OUTPUT = 10,	/* writing the output (or a session file) failed */
};

static const char epilog[] =
	"exit status: 0 the body was written in full; 1 out of memory or another\n"
	"  internal error; 2 usage; 3 resolving or connecting; 4 timeout; 5 TLS\n"
	"  handshake; 6 the server's certificate; 7 the kernel module; 8 an HTTP\n"
	"  status other than 200; 9 a bad or cut-short answer; 10 writing the output\n";

struct output {
	const char *name;	/* -o, NULL or "-": stdout */
	const char *target;	/* the file the temporary one replaces */
	char tmp[PATH_MAX];	/* the temporary file, "" if none */
	int fd;
};

static struct output out = { .fd = -1 };

/* Remove what this run created; the file named by -o is never touched here. */
static void discard_output(void)
{
	if (out.tmp[0]) {
		unlink(out.tmp);
		out.tmp[0] = 0;
	}
}

static void __attribute__((format(printf, 2, 3), noreturn)) fail(int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	discard_output();
	tool_die(status, "%s", msg);
}

/* The exit status for a ktlsh failure. */
static int status_of(const struct ktlsh_err *err)
{
	switch (err->code) {
	case KTLSH_E_CERT_CHAIN:
	case KTLSH_E_CERT_SELF_SIGNED:
	case KTLSH_E_CERT_EXPIRED:
	case KTLSH_E_CERT_NOT_YET_VALID:
	case KTLSH_E_CERT_HOST:
	case KTLSH_E_CERT_OTHER:
		return EXIT_CERT;
	case KTLSH_E_UNSUPPORTED:
	case KTLSH_E_KERNEL:
		return EXIT_MODULE;
	case KTLSH_E_SYSTEM:
		return err->sys_errno == ETIMEDOUT ? EXIT_TIMEOUT : EXIT_TRANSFER;
	case KTLSH_E_CONFIG:
		return EXIT_USAGE;
	}
	return EXIT_TLS;
}

struct url {
	char host[256];		/* without brackets */
	char port[8];
	char path[2048];
	int ipv6;
};

static void parse_url(const char *s, struct url *u)
{
	const char *h, *end, *colon;
	size_t hl;

	if (strncasecmp(s, "https://", 8))
		tool_usage_error("the URL must start with https://");
	h = s + 8;
	end = h + strcspn(h, "/?#");
	if (*h == '[') {
		const char *rb = memchr(h, ']', end - h);

		if (!rb)
			tool_usage_error("the URL has an unclosed '[' in the host");
		hl = rb - h - 1;
		colon = rb[1] == ':' ? rb + 1 : NULL;
		if (rb + 1 != end && !colon)
			tool_usage_error("the URL has something after ']' that is not a port");
		h++;
		u->ipv6 = 1;
	} else {
		colon = memchr(h, ':', end - h);
		hl = (colon ? colon : end) - h;
	}
	if (!hl || hl >= sizeof(u->host))
		tool_usage_error("the URL has no host, or a host too long");
	memcpy(u->host, h, hl);
	u->host[hl] = 0;
	if (u->ipv6) {
		struct in6_addr a;

		if (inet_pton(AF_INET6, u->host, &a) != 1)
			tool_usage_error("the URL's host '[%s]' is not an IPv6 address", u->host);
	}
	snprintf(u->port, sizeof(u->port), "443");
	if (colon) {
		size_t pl = end - colon - 1;
		long port;

		if (!pl || pl > 5 || strspn(colon + 1, "0123456789") < pl)
			tool_usage_error("the URL has a bad port");
		memcpy(u->port, colon + 1, pl);
		u->port[pl] = 0;
		port = atol(u->port);
		if (port < 1 || port > 65535)
			tool_usage_error("the URL's port %ld is not from 1 to 65535", port);
	}
	if (strlen(end) + 2 > sizeof(u->path))
		tool_usage_error("the URL path is too long");
	snprintf(u->path, sizeof(u->path), "%s%s", *end == '/' ? "" : "/", end);
	u->path[strcspn(u->path, "#")] = 0;
	if (strpbrk(u->path, " \t\r\n"))
		tool_usage_error("the URL path has a space or a line break (percent-encode it)");
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* connect(2) within timeout_ms: 0, or -1 with errno (ETIMEDOUT). */
static int connect_within(int fd, const struct sockaddr *sa, socklen_t len, long long timeout_ms)
{
	int fl = fcntl(fd, F_GETFL), e = 0;
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	long long end = now_ms() + timeout_ms, left;
	socklen_t el = sizeof(e);
	int n;

	if (fcntl(fd, F_SETFL, fl | O_NONBLOCK))
		return -1;
	if (connect(fd, sa, len) && errno != EINPROGRESS)
		return -1;
	for (;;) {
		left = end - now_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = poll(&p, 1, (int)left);
		if (n > 0)
			break;
		if (n < 0 && errno != EINTR)
			return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) || e) {
		errno = e ? e : errno;
		return -1;
	}
	return fcntl(fd, F_SETFL, fl);
}

static int dial(const struct url *u, const char *addr, long timeout_s)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	const char *name = addr ? addr : !strcmp(u->host, "localhost") ? "127.0.0.1" : u->host;
	struct timeval tv = { .tv_sec = timeout_s };
	int fd = -1, rc, saved = 0;

	hints.ai_flags = AI_NUMERICSERV | (addr ? AI_NUMERICHOST : 0);
	rc = getaddrinfo(name, u->port, &hints, &res);
	if (rc)
		fail(EXIT_CONNECT, "cannot resolve '%s': %s", name, gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd >= 0 && !connect_within(fd, ai->ai_addr, ai->ai_addrlen,
					       TOOL_MS(timeout_s)))
			break;
		saved = errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fail(saved == ETIMEDOUT ? EXIT_TIMEOUT : EXIT_CONNECT,
		     "cannot connect to %s port %s: %s", name, u->port,
		     saved == ETIMEDOUT ? "no answer within the timeout" : strerror(saved));
	/* The handshake and every read or write wait for at most this long. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static void open_output(const char *name)
{
	char dirbuf[PATH_MAX], basebuf[PATH_MAX], real[PATH_MAX];
	const char *target = name;
	struct stat st;
	int fd;

	out.name = name;
	if (!name || !strcmp(name, "-")) {
		out.fd = STDOUT_FILENO;
		return;
	}
	if (!stat(name, &st) && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			fail(EXIT_OUTPUT, "cannot write '%s': it is a directory", name);
		/* A device or FIFO: written in place, never replaced nor removed. */
		out.fd = open(name, O_WRONLY | O_CLOEXEC);
		if (out.fd < 0)
			fail(EXIT_OUTPUT, "cannot write '%s': %s", name, strerror(errno));
		return;
	}
	/* Through a symbolic link: the file it points to is the one replaced. */
	if (realpath(name, real))
		target = real;
	snprintf(dirbuf, sizeof(dirbuf), "%s", target);
	snprintf(basebuf, sizeof(basebuf), "%s", target);
	snprintf(out.tmp, sizeof(out.tmp), "%s/.%s.ktls-get-XXXXXX", dirname(dirbuf),
		 basename(basebuf));
	fd = mkostemp(out.tmp, O_CLOEXEC);
	if (fd < 0) {
		out.tmp[0] = 0;
		fail(EXIT_OUTPUT, "cannot write '%s': %s", name, strerror(errno));
	}
	out.fd = fd;
	out.target = target == real ? strdup(real) : name;
	if (!out.target)
		fail(1, "out of memory");
}

static void write_all(const char *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(out.fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			fail(EXIT_OUTPUT, "writing the body to %s: %s",
			     out.fd == STDOUT_FILENO ? "stdout" : out.name, strerror(errno));
		p += w;
		n -= w;
	}
}

/* The body is complete: make it the file. */
static void commit_output(void)
{
	mode_t mask = umask(0);

	umask(mask);
	if (!out.tmp[0]) {
		if (out.fd != STDOUT_FILENO && close(out.fd))
			fail(EXIT_OUTPUT, "writing '%s': %s", out.name, strerror(errno));
		return;
	}
	if (fchmod(out.fd, 0666 & ~mask) || fsync(out.fd) || close(out.fd) ||
	    rename(out.tmp, out.target))
		fail(EXIT_OUTPUT, "writing '%s': %s", out.name, strerror(errno));
	out.tmp[0] = 0;
}

/* --sess-in: the saved session's bytes (none yet is no error: a full handshake). */
static ssize_t load_session(const char *path, unsigned char *der, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		fail(EXIT_USAGE, "--sess-in '%s': %s", path, strerror(errno));
	n = read(fd, der, len);
	if (n < 0)
		fail(EXIT_USAGE, "--sess-in '%s': %s", path, strerror(errno));
	close(fd);
	return n;
}

static void save_session(struct ktlsh_conn *conn, const char *path)
{
	static unsigned char der[65536];
	char tmp[PATH_MAX];
	struct ktlsh_err err;
	ssize_t n = ktlsh_conn_session(conn, der, sizeof(der), &err);
	int fd;

	if (n < 0)
		fail(EXIT_OUTPUT, "--sess-out: %s", err.msg);
	if (!n) {
		tool_warn("--sess-out: the server gave no session to resume");
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.ktls-get-XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0 || write(fd, der, n) != n || close(fd) || rename(tmp, path)) {
		int e = errno;

		if (fd >= 0)
			unlink(tmp);
		fail(EXIT_OUTPUT, "--sess-out '%s': %s", path, strerror(e));
	}
}

/* The handshake, with a saved session offered first. */
static struct ktlsh_conn *handshake(struct ktlsh_ctx *ctx, int fd, const struct url *u,
				    const unsigned char *der, size_t der_len)
{
	struct ktlsh_conn *conn;
	struct ktlsh_err err;
	int rc;

	if (ktlsh_conn_new(ctx, fd, u->host, &conn, &err))
		fail(status_of(&err), "%s", err.msg);
	if (der_len && ktlsh_conn_resume(conn, der, der_len, &err))
		tool_warn("--sess-in: not used: %s", err.msg);
	/* A blocking socket: each wait is bounded by the SO_RCVTIMEO/SO_SNDTIMEO of dial(). */
	rc = ktlsh_handshake(conn, &err);
	if (!rc)
		return conn;
	fail(status_of(&err), "%s:%s: %s", u->host, u->port, err.msg);
}

int main(int argc, char **argv)
{
	struct ktlsh_config cfg = { .role = KTLSH_CLIENT };
	const char *pos[1], *addr = NULL, *o = NULL, *sess_in = NULL, *sess_out = NULL;
	long max_fragment = 0, timeout_s = 30;
	int verbose = 0;
	const struct tool_opt opts[] = {
		{ "--ca", "FILE", OPT_STR, &cfg.ca_file, 0, 0, NULL, "trust the CAs in FILE (PEM)" },
		{ "--ca-dir", "DIR", OPT_STR, &cfg.ca_dir, 0, 0, NULL,
		  "trust the CAs in the hashed directory DIR" },
		{ "--system-ca", NULL, OPT_FLAG, &cfg.ca_system, 0, 0, NULL,
		  "trust the system CA store" },
		{ "--connect", "ADDR", OPT_STR, &addr, 0, 0, NULL,
		  "connect to ADDR (IP address) instead of resolving HOST" },
		TOOL_TLS_OPTS(&cfg),
		{ "--cert", "FILE", OPT_STR, &cfg.cert_file, 0, 0, NULL, "client certificate (PEM)" },
		{ "--key", "FILE", OPT_STR, &cfg.key_file, 0, 0, NULL, "its private key (PEM)" },
		{ "--max-fragment", "N", OPT_NUM, &max_fragment, 512, 4096, NULL,
		  "ask for RFC 6066 max_fragment_length N (512, 1024, 2048, 4096)" },
		{ "--timeout", "S", OPT_NUM, &timeout_s, 1, 86400, NULL,
		  "give up connecting, or waiting for the server, after S seconds\n(default 30)" },
		{ "--sess-in", "FILE", OPT_STR, &sess_in, 0, 0, NULL,
		  "offer the TLS session saved in FILE (if it exists) to resume it" },
		{ "--sess-out", "FILE", OPT_STR, &sess_out, 0, 0, NULL,
		  "save the TLS session to FILE, to resume it later" },
		{ "-o", "FILE", OPT_STR, &o, 0, 0, NULL,
		  "write the body to FILE (default and '-': stdout)" },
		{ "-v", NULL, OPT_FLAG, &verbose, 0, 0, NULL, "say what was negotiated, on stderr" },
		{ NULL },
	};
	const struct tool tool = { "ktls-get", "[options] https://HOST[:PORT]/PATH", opts, epilog };
	static char buf[65536];
	static unsigned char der[65536];
	ssize_t der_len = 0;
	struct ktlsh_ctx *ctx;
	struct ktlsh_conn *conn;
	struct ktlsh_err err;
	struct http_resp resp;
	struct url u = { 0 };
	size_t have = 0, body_have;
	long long got = 0;
	char req[4096], line[256];
	int fd, hl, n_pos;
	ssize_t n;

	n_pos = tool_parse(&tool, argc, argv, pos, 1);
	if (!n_pos)
		tool_usage_error("no URL given");
	if (max_fragment && max_fragment != 512 && max_fragment != 1024 && max_fragment != 2048 &&
	    max_fragment != 4096)
		tool_usage_error("--max-fragment takes 512, 1024, 2048 or 4096, not %ld",
				 max_fragment);
	cfg.max_fragment = (int)max_fragment;
	parse_url(pos[0], &u);
	if (!cfg.ca_file && !cfg.ca_dir && !cfg.ca_system)
		tool_usage_error("no CA to check the server against: give --ca, --ca-dir or --system-ca");
	if (addr) {
		unsigned char a[16];

		if (inet_pton(AF_INET, addr, a) != 1 && inet_pton(AF_INET6, addr, a) != 1)
			tool_usage_error("--connect takes an IPv4 or IPv6 address, not '%s'", addr);
	}
	if (sess_in)
		der_len = load_session(sess_in, der, sizeof(der));
	if (sess_out) {
		char d[PATH_MAX];

		snprintf(d, sizeof(d), "%s", sess_out);
		if (access(dirname(d), W_OK))
			fail(EXIT_OUTPUT, "--sess-out '%s': cannot write in its directory: %s",
			     sess_out, strerror(errno));
	}
	signal(SIGPIPE, SIG_IGN);

	if (ktlsh_ctx_new(&cfg, &ctx, &err))
		fail(status_of(&err), "%s", err.msg);
	/* Before connecting: a name that cannot be written fails without a request. */
	open_output(o);
	fd = dial(&u, addr, timeout_s);
	conn = handshake(ctx, fd, &u, der, der_len);
	if (verbose) {
		snprintf(line, sizeof(line), ", max_fragment_length %d",
			 ktlsh_conn_max_fragment(conn));
		tool_warn("%s %s, records %s%s, %s", ktlsh_conn_version(conn),
			  ktlsh_conn_cipher(conn),
			  ktlsh_conn_offloaded(conn) ? "through the kernel module" :
			  *ktlsh_conn_note(conn) ? ktlsh_conn_note(conn) : "in userspace OpenSSL",
			  ktlsh_conn_max_fragment(conn) ? line : "",
			  ktlsh_conn_resumed(conn) ? "session resumed" : "new session");
	}

	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\n"
		     "User-Agent: ktls-get\r\nConnection: close\r\n\r\n", u.path,
		     u.ipv6 ? "[" : "", u.host, u.ipv6 ? "]" : "",
		     strcmp(u.port, "443") ? ":" : "", strcmp(u.port, "443") ? u.port : "");
	if (n >= (ssize_t)sizeof(req))
		fail(EXIT_USAGE, "the URL is too long for a request");
	if (ktlsh_write(conn, req, n, &err) < 0)
		fail(status_of(&err) == EXIT_TIMEOUT ? EXIT_TIMEOUT : EXIT_TRANSFER,
		     "sending the request: %s", err.msg);

	/* The response head. */
	for (;;) {
		if (have == sizeof(buf))
			fail(EXIT_TRANSFER, "the response head is longer than %zu bytes", sizeof(buf));
		n = ktlsh_read(conn, buf + have, sizeof(buf) - have, &err);
		if (n < 0)
			fail(status_of(&err) == EXIT_TIMEOUT ? EXIT_TIMEOUT : EXIT_TRANSFER,
			     "reading the response: %s", err.msg);
		if (n == 0)
			fail(EXIT_TRANSFER, "the server closed the connection before the end of "
			     "the response head");
		have += n;
		hl = http_head_len((unsigned char *)buf, have);
		if (hl > 0)
			break;
		if (hl < 0 && have >= 5 && memcmp(buf, "HTTP/", 5))
			fail(EXIT_TRANSFER, "the server's answer is not HTTP: \"%s\"",
			     tool_escape(line, 64, buf, have));
		if (hl < 0)
			fail(EXIT_TRANSFER, "the server's response head is malformed or over %d "
			     "bytes", HTTP_HEAD_MAX);
	}
	if (http_parse_response(buf, hl, &resp))
		fail(EXIT_TRANSFER, "the server's answer is not HTTP/1.x: \"%s\"",
		     tool_escape(line, 64, buf, strcspn(buf, "\r\n")));
	if (resp.status != 200)
		fail(EXIT_HTTP, "the server answered \"%s\"",
		     tool_escape(line, sizeof(line), buf, strcspn(buf, "\r\n")));
	if (resp.chunked)
		fail(EXIT_TRANSFER, "the server sent a Transfer-Encoding, which ktls-get does not decode");

	/* Body: to Content-Length, else to close_notify. */
	body_have = have - hl;
	if (resp.content_length >= 0 && (long long)body_have > resp.content_length)
		body_have = resp.content_length;
	write_all(buf + hl, body_have);
	got = body_have;
	while (resp.content_length < 0 || got < resp.content_length) {
		size_t want = sizeof(buf);

		if (resp.content_length >= 0 && (long long)want > resp.content_length - got)
			want = resp.content_length - got;
		n = ktlsh_read(conn, buf, want, &err);
		if (n < 0)
			fail(status_of(&err) == EXIT_TIMEOUT ? EXIT_TIMEOUT : EXIT_TRANSFER,
			     "reading the body after %lld bytes: %s", got, err.msg);
		if (n == 0) {
			if (resp.content_length < 0)
				break;
			fail(EXIT_TRANSFER, "the server closed after %lld of %lld body bytes", got,
			     resp.content_length);
		}
		write_all(buf, n);
		got += n;
	}
	commit_output();
	if (sess_out)
		save_session(conn, sess_out);
	if (ktlsh_close(conn, &err) && verbose)
		tool_warn("closing: %s", err.msg);
	ktlsh_ctx_free(ctx);
	if (verbose)
		tool_warn("%lld body bytes", got);
	return 0;
}
