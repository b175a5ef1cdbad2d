// SPDX-License-Identifier: GPL-2.0
/*
 * ktls-serve: an HTTPS static-file server. Each connection's handshake is
 * done by the ktlsh helper, which hands the keys to the kernel module; the
 * files then go out with sendfile(2) through the module's TLS_TX. With
 * --userspace the records stay in OpenSSL (SSL_write), for comparison.
 *
 * HTTP/1.1 GET and HEAD, keep-alive, Content-Length; 400, 404, 405, 408,
 * 414, 431. Paths are resolved with openat2(RESOLVE_BENEATH), so neither
 * ".." nor a symbolic link leads out of the served directory. One process
 * per connection; the handshake and each request head must arrive within
 * the idle timeout, so a client that says nothing does not keep a process.
 *
 * usage: ktls-serve --cert FILE --key FILE [options] DIR   (see --help)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "ktlsh.h"

static const char usage[] =
	"usage: ktls-serve --cert FILE --key FILE [options] DIR\n"
	"  --port N             TCP port (default 4433)\n"
	"  --addr ADDR          IPv4 address to listen on (default 127.0.0.1)\n"
	"  --userspace          records through OpenSSL SSL_write, not the module\n"
	"  --tls 1.2|1.3        accept only this TLS version\n"
	"  --ciphers LIST       TLS 1.2 cipher suites (OpenSSL syntax)\n"
	"  --ciphersuites LIST  TLS 1.3 cipher suites (OpenSSL syntax)\n"
	"  --client-ca FILE     ask for client certificates and check them against FILE\n"
	"  --fallback           serve a suite the module cannot take through OpenSSL\n"
	"                       (default: refuse the connection)\n"
	"  --idle-timeout S     close a connection that has not completed its handshake\n"
	"                       or a request within S seconds (default 30)\n"
	"  -v                   log each connection and request on stderr\n";

/*
 * A request line longer than LINE_MAX_LEN is answered 414, a request head
 * (line and headers) longer than HEAD_MAX 431; a connection that answered
 * a request early reads what the client still sends for at most
 * DRAIN_MS, DRAIN_MAX bytes, so that its close does not reset the
 * connection before the client has read the answer.
 */
#define LINE_MAX_LEN	8192
#define HEAD_MAX	16384
#define DRAIN_MS	1000
#define DRAIN_MAX	(1 << 20)

static int verbose;
static int idle_s = 30;
static char peer[64];
static volatile sig_atomic_t alarmed;

static void __attribute__((format(printf, 1, 2), noreturn)) die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ktls-serve: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/*
 * One line per write(2): connections are served by forked children that
 * log to the same stderr, and their lines must not interleave.
 */
static void __attribute__((format(printf, 1, 2))) logmsg(const char *fmt, ...)
{
	char line[1024];
	size_t n;
	va_list ap;

	n = snprintf(line, sizeof(line), "ktls-serve[%d]: ", getpid());
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	n = strlen(line);
	if (n == sizeof(line) - 1)
		n--;	/* cut: keep room for the newline */
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;	/* nowhere left to report it */
}

static void __attribute__((noreturn)) usage_error(const char *msg)
{
	fprintf(stderr, "ktls-serve: %s\n%s", msg, usage);
	exit(2);
}

struct req {
	char method[8];
	char path[4096];
	int keep_alive;
	int has_body;		/* a body we do not read: close after the answer */
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void set_rcvtimeo(int fd, long long ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/*
 * The length of the request head at the start of buf[0..have), with its
 * blank line; 0 if more is needed; or minus the status to answer with:
 * 400 for a NUL or another control byte, or a CR or LF that is not part
 * of a CRLF; 414 for a request line over LINE_MAX_LEN; 431 for a head over
 * HEAD_MAX.
 */
static int head_len(const unsigned char *buf, size_t have)
{
	size_t i, line_end = 0;

	for (i = 0; i < have; i++) {
		unsigned char ch = buf[i];

		if (i && buf[i - 1] == '\r' && ch != '\n')
			return -400;
		if (ch == '\n') {
			if (!i || buf[i - 1] != '\r')
				return -400;
			if (!line_end)
				line_end = i;
			if (i >= 3 && buf[i - 2] == '\n')
				return i + 1;
		} else if ((ch < 0x20 && ch != '\t' && ch != '\r') || ch == 0x7f) {
			return -400;
		}
		if (!line_end && i >= LINE_MAX_LEN)
			return -414;
	}
	return have >= HEAD_MAX ? -431 : 0;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * Parse a request head that head_len() accepted, NUL-terminated after its
 * last header line; returns the HTTP status to answer with if it is bad,
 * else 0.
 */
static int parse(char *head, struct req *r)
{
	char *line_end = strstr(head, "\r\n"), *target, *version, *p, *q;
	int minor;

	*line_end = 0;
	target = strchr(head, ' ');
	if (!target)
		return 400;
	*target++ = 0;
	version = strchr(target, ' ');
	if (!version)
		return 400;
	*version++ = 0;
	if (sscanf(version, "HTTP/1.%d", &minor) != 1 || strlen(head) >= sizeof(r->method))
		return 400;
	strcpy(r->method, head);
	r->keep_alive = minor >= 1;
	for (p = line_end + 2; *p && strncmp(p, "\r\n", 2); p = strstr(p, "\r\n") + 2) {
		if (!strncasecmp(p, "Connection:", 11)) {
			q = p + 11 + strspn(p + 11, " \t");
			if (!strncasecmp(q, "close", 5))
				r->keep_alive = 0;
			else if (!strncasecmp(q, "keep-alive", 10))
				r->keep_alive = 1;
		} else if (!strncasecmp(p, "Transfer-Encoding:", 18) ||
			   (!strncasecmp(p, "Content-Length:", 15) &&
			    strtoll(p + 15, NULL, 10) != 0)) {
			r->has_body = 1;
		}
	}
	if (r->has_body)
		r->keep_alive = 0;
	if (target[0] != '/')
		return 400;
	target[strcspn(target, "?#")] = 0;
	/* Percent-decode; a NUL or an escaping ".." is a bad request. */
	for (p = target, q = r->path; *p; p++) {
		if ((size_t)(q - r->path) >= sizeof(r->path) - 1)
			return 414;
		if (*p == '%') {
			int hi = unhex(p[1]), lo = hi < 0 ? -1 : unhex(p[2]);

			if (lo < 0 || (hi == 0 && lo == 0))
				return 400;
			*q++ = hi * 16 + lo;
			p += 2;
		} else {
			*q++ = *p;
		}
	}
	*q = 0;
	for (p = r->path; (p = strstr(p, "..")); p += 2)
		if (p[-1] == '/' && (p[2] == '/' || p[2] == 0))
			return 400;
	if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD"))
		return 405;
	return 0;
}

static int open_beneath(int root, const char *path)
{
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC,
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };

	return syscall(SYS_openat2, root, path, &how, sizeof(how));
}

/* Open the file for a request path: its fd, or -1 for 404. */
static int open_file(int root, const char *path, off_t *size)
{
	const char *rel = path + strspn(path, "/");
	struct stat st;
	int fd = open_beneath(root, *rel ? rel : "."), ifd;

	if (fd < 0 || fstat(fd, &st))
		goto none;
	if (S_ISDIR(st.st_mode)) {
		ifd = open_beneath(fd, "index.html");
		close(fd);
		fd = ifd;
		if (fd < 0 || fstat(fd, &st))
			goto none;
	}
	if (!S_ISREG(st.st_mode))
		goto none;
	*size = st.st_size;
	return fd;
none:
	if (fd >= 0)
		close(fd);
	return -1;
}

static const char *content_type(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (dot && (!strcmp(dot, ".html") || !strcmp(dot, ".htm")))
		return "text/html";
	if (dot && !strcmp(dot, ".txt"))
		return "text/plain";
	return "application/octet-stream";
}

static const char *status_text(int status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	}
	return "Error";
}

static int send_error(struct ktlsh_conn *c, int status, int head_only, int keep_alive)
{
	const char *text = status_text(status);
	char buf[512], body[64];
	struct ktlsh_err err;
	int bl = snprintf(body, sizeof(body), "%d %s\n", status, text);
	int n = snprintf(buf, sizeof(buf),
			 "HTTP/1.1 %d %s\r\nServer: ktls-serve\r\nContent-Type: text/plain\r\n"
			 "Content-Length: %d\r\n%sConnection: %s\r\n\r\n%s", status, text, bl,
			 status == 405 ? "Allow: GET, HEAD\r\n" : "",
			 keep_alive ? "keep-alive" : "close", head_only ? "" : body);

	if (ktlsh_write(c, buf, n, &err) < 0) {
		logmsg("sending a %d: %s", status, err.msg);
		return -1;
	}
	return 0;
}

/*
 * After answering a request that was not read to its end, read and drop
 * what the client is still sending (until it pauses for 100 ms, for
 * DRAIN_MS or DRAIN_MAX bytes at most): closing with unread data would
 * reset the connection, and the client might lose the answer.
 */
static void drain(struct ktlsh_conn *c, int fd)
{
	long long end = now_ms() + DRAIN_MS;
	static char junk[16384];
	size_t total = 0;
	ssize_t n;

	set_rcvtimeo(fd, 100);
	while (total < DRAIN_MAX && now_ms() < end) {
		n = ktlsh_read(c, junk, sizeof(junk), NULL);
		if (n <= 0)
			break;
		total += n;
	}
}

static int timed_out(const struct ktlsh_err *err)
{
	return err->code == KTLSH_E_SYSTEM &&
	       (err->sys_errno == EAGAIN || err->sys_errno == EWOULDBLOCK);
}

/*
 * One connection, after the handshake: requests until close. Each request
 * head must be complete within idle_s of the previous answer (of the
 * handshake for the first). Returns 0 to close with close_notify, -1 if
 * the connection is broken.
 */
static int serve(struct ktlsh_conn *c, int fd, int root)
{
	static unsigned char buf[HEAD_MAX + 1];
	size_t have = 0;
	long long deadline, left;
	struct ktlsh_err err;
	struct req r;
	char hdr[512];
	off_t size = 0;
	ssize_t n;
	int status, ffd, hl, len;

	for (;;) {
		deadline = now_ms() + idle_s * 1000LL;
		while (!(hl = head_len(buf, have))) {
			left = deadline - now_ms();
			if (left <= 0)
				goto idle;
			set_rcvtimeo(fd, left);
			n = ktlsh_read(c, buf + have, HEAD_MAX - have, &err);
			/* (through OpenSSL, --userspace, a timeout is not EAGAIN) */
			if (n < 0 && (timed_out(&err) || now_ms() >= deadline))
				goto idle;
			if (n < 0) {
				logmsg("%s: reading a request: %s", peer, err.msg);
				return -1;
			}
			if (n == 0) {
				if (have && verbose)
					logmsg("%s: closed in the middle of a request (%zu bytes)",
					       peer, have);
				return 0;
			}
			have += n;
		}
		if (hl < 0) {
			if (verbose)
				logmsg("%s: bad request head (%zu bytes) -> %d", peer, have, -hl);
			if (!send_error(c, -hl, 0, 0))
				drain(c, fd);
			return 0;
		}
		buf[hl - 2] = 0;	/* after the last header line's CRLF */
		memset(&r, 0, sizeof(r));
		status = parse((char *)buf, &r);
		memmove(buf, buf + hl, have - hl);
		have -= hl;
		ffd = -1;
		if (!status) {
			ffd = open_file(root, r.path, &size);
			if (ffd < 0)
				status = 404;
		}
		if (verbose)
			logmsg("%s %s -> %d", *r.method ? r.method : "?", r.path,
			       status ? status : 200);
		if (status == 400 || status == 414) {
			if (!send_error(c, status, 0, 0))
				drain(c, fd);
			return 0;
		}
		if (status) {
			if (send_error(c, status, !strcmp(r.method, "HEAD"), r.keep_alive))
				return -1;
			if (!r.keep_alive) {
				if (r.has_body)
					drain(c, fd);
				return 0;
			}
			continue;
		}
		len = snprintf(hdr, sizeof(hdr),
			       "HTTP/1.1 200 OK\r\nServer: ktls-serve\r\nContent-Type: %s\r\n"
			       "Content-Length: %lld\r\nConnection: %s\r\n\r\n",
			       content_type(r.path), (long long)size,
			       r.keep_alive ? "keep-alive" : "close");
		if (ktlsh_write(c, hdr, len, &err) < 0 ||
		    (strcmp(r.method, "HEAD") && size &&
		     ktlsh_sendfile(c, ffd, 0, size, &err) < 0)) {
			logmsg("%s: sending %s: %s", peer, r.path, err.msg);
			close(ffd);
			return -1;
		}
		close(ffd);
		if (!r.keep_alive) {
			if (r.has_body)
				drain(c, fd);
			return 0;
		}
	}
idle:
	if (!have) {
		if (verbose)
			logmsg("%s: idle for %d s, closing", peer, idle_s);
		return 0;
	}
	logmsg("%s: request not complete within %d s (%zu bytes) -> 408", peer, idle_s, have);
	return send_error(c, 408, 0, 0);
}

static void on_alarm(int sig)
{
	(void)sig;
	alarmed = 1;
}

int main(int argc, char **argv)
{
	struct ktlsh_config cfg = { .role = KTLSH_SERVER };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	const char *dir = NULL, *addr = "127.0.0.1";
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
	struct timeval idle;
	struct ktlsh_ctx *ctx;
	struct ktlsh_conn *c;
	struct ktlsh_err err;
	int i, root, l, fd, one = 1;
	long port = 4433, t0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(a, "--userspace")) {
			cfg.userspace = 1;
		} else if (!strcmp(a, "--fallback")) {
			cfg.unsupported = KTLSH_UNSUPPORTED_USERSPACE;
		} else if (!strcmp(a, "-v")) {
			verbose = 1;
		} else if (a[0] == '-' && !v) {
			usage_error("an option without its value, or an unknown option");
		} else if (!strcmp(a, "--cert")) {
			cfg.cert_file = argv[++i];
		} else if (!strcmp(a, "--key")) {
			cfg.key_file = argv[++i];
		} else if (!strcmp(a, "--client-ca")) {
			cfg.ca_file = argv[++i];
			cfg.verify_peer = 1;
		} else if (!strcmp(a, "--ciphers")) {
			cfg.cipher_list = argv[++i];
		} else if (!strcmp(a, "--ciphersuites")) {
			cfg.ciphersuites = argv[++i];
		} else if (!strcmp(a, "--addr")) {
			addr = argv[++i];
		} else if (!strcmp(a, "--port")) {
			char *e;

			port = strtol(argv[++i], &e, 10);
			if (*e || port < 1 || port > 65535)
				usage_error("--port takes a number from 1 to 65535");
		} else if (!strcmp(a, "--idle-timeout")) {
			char *e;
			long t = strtol(argv[++i], &e, 10);

			if (*e || t < 1 || t > 86400)
				usage_error("--idle-timeout takes seconds, from 1 to 86400");
			idle_s = t;
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
		} else if (dir) {
			usage_error("more than one directory to serve");
		} else {
			dir = a;
		}
	}
	if (!dir)
		usage_error("no directory to serve");
	if (!cfg.cert_file || !cfg.key_file)
		usage_error("--cert and --key are required");
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
		usage_error("--addr takes an IPv4 address");
	sin.sin_port = htons(port);

	if (ktlsh_ctx_new(&cfg, &ctx, &err))
		die("%s", err.msg);
	root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		die("cannot serve '%s': %s", dir, strerror(errno));
	if (access(dir, R_OK | X_OK))
		die("cannot serve '%s': %s", dir, strerror(errno));
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		die("socket: %s", strerror(errno));
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&sin, sizeof(sin)))
		die("cannot listen on %s port %ld: %s", addr, port,
		    errno == EADDRINUSE ? "the port is in use by another program" : strerror(errno));
	if (listen(l, 64))
		die("listen: %s", strerror(errno));
	signal(SIGCHLD, SIG_IGN);	/* children are reaped by the kernel */
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "ktls-serve: serving %s on https://%s:%ld/, records %s\n", dir, addr, port,
		cfg.userspace ? "in userspace OpenSSL (--userspace)" : "through the kernel module");

	for (;;) {
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		pid_t pid;

		fd = accept(l, (struct sockaddr *)&from, &flen);
		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				logmsg("accept: %s", strerror(errno));
			continue;
		}
		pid = fork();
		if (pid < 0) {
			logmsg("fork: %s", strerror(errno));
			close(fd);
			continue;
		}
		if (pid) {
			close(fd);
			continue;
		}
		close(l);
		snprintf(peer, sizeof(peer), "%s:%u", inet_ntoa(from.sin_addr),
			 ntohs(from.sin_port));
		/*
		 * The whole handshake within idle_s: the alarm interrupts a
		 * read that a client trickling bytes would keep going, and
		 * OpenSSL gives up on the interrupted read.
		 */
		idle = (struct timeval){ .tv_sec = idle_s };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &idle, sizeof(idle));
		sigaction(SIGALRM, &sa, NULL);
		t0 = now_ms();
		alarm(idle_s);
		if (ktlsh_accept(ctx, fd, &c, &err)) {
			if (alarmed || now_ms() - t0 >= idle_s * 1000LL)
				logmsg("%s: no TLS handshake within %d s, closing", peer, idle_s);
			else
				logmsg("%s: %s", peer, err.msg);
			close(fd);
			_exit(1);
		}
		alarm(0);
		if (verbose || *ktlsh_conn_note(c))
			logmsg("%s: %s %s, records %s", peer, ktlsh_conn_version(c),
			     ktlsh_conn_cipher(c),
			     ktlsh_conn_offloaded(c) ? "through the kernel module" :
			     *ktlsh_conn_note(c) ? ktlsh_conn_note(c) : "in userspace OpenSSL");
		if (serve(c, fd, root)) {
			ktlsh_abort(c);
		} else if (ktlsh_close(c, &err) && verbose) {
			logmsg("%s: closing: %s", peer, err.msg);
		}
		_exit(0);
	}
}
