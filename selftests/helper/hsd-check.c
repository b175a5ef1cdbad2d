// SPDX-License-Identifier: GPL-2.0
/*
 * hsd-check: ktls-handshaked from the outside (vm-tests, group
 * "handshaked"). Modes:
 *   keys PID      every kTLS socket of process PID (taken with
 *                 pidfd_getfd): can getsockopt(TLS_TX / TLS_RX) read its
 *                 keys back? Prints "tls=N readable=R refused=F" (refused:
 *                 EACCES); exit 0 if N > 0 and R == 0, 3 if some were
 *                 readable (the test of a server without the daemon).
 *   bad CASE      one malformed message to the daemon at --socket, then:
 *                 the daemon must close this connection (and stay up for
 *                 the next one), or, for the cases that are not protocol
 *                 errors, answer with the error expected. Cases: short,
 *                 magic, version, type, len, nofd, twofds, fdforget,
 *                 longname, notcp, badname, unknownid.
 *   refused       connect and expect REFUSED (run as a user the daemon
 *                 does not allow), with its message printed.
 *   die N         a child hands N stalled connections (the client sent
 *                 half a ClientHello) to the daemon and exits without
 *                 waiting; the client ends must then see the daemon close
 *                 them (EOF or reset) within 5 s.
 *   inflight N    hand N stalled connections, say "submitted" on stdout,
 *                 then collect: each must fail with KTLSH_E_CLOSED and its
 *                 cookie once the daemon is killed (by the test), then one
 *                 loss with no cookie, and the client ends see EOF.
 *   wrongsock CA  a real TLS 1.3 connection through the daemon (a ktlsh
 *                 client in a thread, trusting CA), then an UPDATE for it
 *                 with another socket: refused (KTLSH_E_INVALID), and the
 *                 connection's secrets did not move: a KeyUpdate after it
 *                 and the data on both sides of it reach the client.
 * Exit 0 when the daemon did what it must; one line on stderr otherwise.
 *
 * usage: hsd-check --socket PATH MODE [ARG]
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hsd_proto.h"
#include "internal.h"	/* conn->hsd_id, to forge an UPDATE for it */

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

static const char *sock_path;

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hsd-check: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static int dial(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)))
		die("connecting to %s: %s", sock_path, strerror(errno));
	return fd;
}

static void send_raw(int s, const void *buf, size_t len, const int *fds, int nfd)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { (void *)buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (nfd) {
		memset(cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf;
		msg.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfd * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfd * sizeof(int));
	}
	if (sendmsg(s, &msg, MSG_NOSIGNAL) != (ssize_t)len)
		die("sending: %s", strerror(errno));
}

/* The daemon's next message on s within 5 s: its length, 0 at EOF. */
static ssize_t next_msg(int s, unsigned char *buf, size_t len)
{
	struct pollfd p = { .fd = s, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, 5000) != 1)
		die("the daemon neither answered nor closed within 5 s");
	n = recv(s, buf, len, 0);
	if (n < 0 && errno == ECONNRESET)
		return 0;
	if (n < 0)
		die("recv: %s", strerror(errno));
	return n;
}

/* A loopback TCP pair: *srv the accepted end, returns the client end. */
static int tcp_pair_of(int *srv, int stall)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t sl = sizeof(sin);
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&sin, sizeof(sin)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sin, &sl) ||
	    connect(c, (struct sockaddr *)&sin, sizeof(sin)))
		die("tcp pair: %s", strerror(errno));
	*srv = accept(l, NULL, NULL);
	if (*srv < 0)
		die("accept: %s", strerror(errno));
	close(l);
	/* Half a record header: the daemon's handshake waits for the rest. */
	if (stall && write(c, "\x16\x03", 2) != 2)
		die("write: %s", strerror(errno));
	return c;
}

static int tcp_pair(int *srv)
{
	return tcp_pair_of(srv, 1);
}

/* The client end sees the daemon close the server end within 5 s. */
static int closed_within(int c)
{
	struct pollfd p = { .fd = c, .events = POLLIN };
	char b[4096];
	ssize_t n;

	for (;;) {
		if (poll(&p, 1, 5000) != 1)
			return 0;
		n = recv(c, b, sizeof(b), 0);
		if (n <= 0)
			return 1;	/* EOF or reset */
	}
}

static int bad(const char *c)
{
	unsigned char buf[KTHD_MSG_MAX];
	struct {
		struct kthd_hdr h;
		unsigned char body[300];
	} m = { .h = { .magic = KTHD_MAGIC, .version = KTHD_VERSION, .type = KTHD_HANDSHAKE } };
	const struct kthd_hdr *a = (const void *)buf;
	const struct kthd_result *r = (const void *)(buf + sizeof(*a));
	int s = dial(), fds[2], cli = -1, expect_close = 1, expect_code = 0;
	size_t len = sizeof(m.h);
	int nfd = 1;
	ssize_t n;

	cli = tcp_pair(&fds[0]);
	fds[1] = fds[0];
	if (!strcmp(c, "short")) {
		len = 10;
	} else if (!strcmp(c, "magic")) {
		m.h.magic = 0x12345678;
	} else if (!strcmp(c, "version")) {
		m.h.version = 99;
	} else if (!strcmp(c, "type")) {
		m.h.type = 0x42;
	} else if (!strcmp(c, "len")) {
		m.h.len = 5;	/* and no body */
	} else if (!strcmp(c, "nofd")) {
		nfd = 0;
	} else if (!strcmp(c, "twofds")) {
		nfd = 2;
	} else if (!strcmp(c, "fdforget")) {
		m.h.type = KTHD_FORGET;
	} else if (!strcmp(c, "longname")) {
		memset(m.body, 'a', 256);
		m.h.len = 256;
		len += 256;
	} else if (!strcmp(c, "notcp")) {
		int sp[2];

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
			die("socketpair: %s", strerror(errno));
		fds[0] = sp[0];
		expect_close = 0;
		expect_code = KTLSH_E_CONFIG;
	} else if (!strcmp(c, "badname")) {
		memcpy(m.body, "a b/../x", 8);
		m.h.len = 8;
		len += 8;
		expect_close = 0;
		expect_code = KTLSH_E_CONFIG;
	} else if (!strcmp(c, "unknownid")) {
		m.h.type = KTHD_UPDATE;
		m.h.id = 12345;
		m.h.len = 1;
		m.body[0] = KTHD_DIR_RX;
		len += 1;
		expect_close = 0;
		expect_code = KTLSH_E_INVALID;
	} else {
		die("no case '%s'", c);
	}
	send_raw(s, &m, len, fds, nfd);
	n = next_msg(s, buf, sizeof(buf));
	if (expect_close) {
		if (n)
			die("%s: the daemon answered (type 0x%x, %zd bytes) instead of closing", c,
			    a->type, n);
	} else {
		if ((size_t)n < sizeof(*a) + sizeof(*r) || a->status != expect_code)
			die("%s: the daemon answered %zd bytes, status %d, not %d", c, n,
			    n >= (ssize_t)sizeof(*a) ? a->status : 0, expect_code);
		printf("%s: status %d (%s): %s\n", c, a->status, ktlsh_code_name(a->status), r->msg);
	}
	close(s);
	/* The daemon serves the next connection: a name it has no certificate for. */
	s = dial();
	m.h = (struct kthd_hdr){ .magic = KTHD_MAGIC, .version = KTHD_VERSION,
				 .type = KTHD_HANDSHAKE, .len = 11 };
	memcpy(m.body, "not.its.own", 11);
	send_raw(s, &m, sizeof(m.h) + 11, &fds[1], 1);
	n = next_msg(s, buf, sizeof(buf));
	if ((size_t)n < sizeof(*a) + sizeof(*r) || a->type != KTHD_RESULT ||
	    a->status != KTLSH_E_CONFIG)
		die("%s: after it, the daemon did not answer the next connection", c);
	if (expect_close)
		printf("%s: the daemon closed the connection and serves the next one\n", c);
	close(s);
	close(cli);
	return 0;
}

static int refused(void)
{
	unsigned char buf[KTHD_MSG_MAX];
	const struct kthd_hdr *a = (const void *)buf;
	const struct kthd_result *r = (const void *)(buf + sizeof(*a));
	int s = dial();
	ssize_t n = next_msg(s, buf, sizeof(buf));

	if ((size_t)n < sizeof(*a) + sizeof(*r) || a->type != KTHD_REFUSED)
		die("no REFUSED from the daemon (%zd bytes)", n);
	printf("refused: %s\n", r->msg);
	if (next_msg(s, buf, sizeof(buf)))
		die("the daemon did not close after REFUSED");
	return 0;
}

static int die_mid(int n)
{
	int cli[64], srv[64], i, st, closed = 0;
	struct ktlsh_hsd *h;
	struct ktlsh_err err;
	pid_t pid;

	for (i = 0; i < n; i++)
		cli[i] = tcp_pair(&srv[i]);
	pid = fork();
	if (!pid) {
		if (ktlsh_hsd_open(sock_path, &h, &err))
			die("%s", err.msg);
		for (i = 0; i < n; i++)
			if (ktlsh_hsd_submit(h, srv[i], NULL, NULL, &err))
				die("submit: %s", err.msg);
		_exit(0);	/* mid-handshake, nothing collected */
	}
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		die("the child failed");
	for (i = 0; i < n; i++)
		close(srv[i]);
	for (i = 0; i < n; i++)
		closed += closed_within(cli[i]);
	printf("die: %d of %d client ends closed by the daemon\n", closed, n);
	return closed == n ? 0 : 1;
}

static int inflight(int n)
{
	int cli[64], srv, i, failed = 0, lost = 0, closed = 0, rc;
	struct ktlsh_conn *conn;
	struct ktlsh_hsd *h;
	struct ktlsh_err err;
	void *cookie;
	char tags[64] = { 0 };

	if (ktlsh_hsd_open(sock_path, &h, &err))
		die("%s", err.msg);
	for (i = 0; i < n; i++) {
		cli[i] = tcp_pair(&srv);
		if (ktlsh_hsd_submit(h, srv, NULL, &tags[i], &err))
			die("submit: %s", err.msg);
	}
	printf("submitted\n");
	fflush(stdout);
	while (!lost) {
		struct pollfd p = { .fd = ktlsh_hsd_fd(h), .events = POLLIN };

		rc = ktlsh_hsd_result(h, &conn, &cookie, &err);
		if (rc == KTLSH_WANT_READ) {
			if (poll(&p, 1, 20000) != 1)
				die("no result within 20 s");
			continue;
		}
		if (rc != KTLSH_E_CLOSED)
			die("a result that is not KTLSH_E_CLOSED: %s", err.msg);
		if (!cookie) {
			lost = 1;
			printf("lost: %s\n", err.msg);
			break;
		}
		if (*(char *)cookie)
			die("two results for one handshake");
		*(char *)cookie = 1;
		failed++;
	}
	if (ktlsh_hsd_pending(h))
		die("handshakes still pending after the loss");
	for (i = 0; i < n; i++)
		closed += closed_within(cli[i]);
	printf("inflight: %d of %d failed with KTLSH_E_CLOSED, %d client ends closed\n", failed, n,
	       closed);
	ktlsh_hsd_close(h);
	return failed == n && closed == n ? 0 : 1;
}

struct client {
	int fd;
	const char *ca;
	char got[64];
	size_t len;
	int rc;
	struct ktlsh_err err;
};

static void *client_run(void *arg)
{
	struct client *c = arg;
	struct ktlsh_config cfg = { .role = KTLSH_CLIENT, .ca_file = c->ca, .min_version = 0x0304 };
	struct ktlsh_ctx *ctx;
	struct ktlsh_conn *conn;
	ssize_t n;

	c->rc = ktlsh_ctx_new(&cfg, &ctx, &c->err);
	if (!c->rc)
		c->rc = ktlsh_connect(ctx, c->fd, "localhost", &conn, &c->err);
	if (c->rc)
		return NULL;
	/* Our keys are in: the server may send (and close) now. */
	if (ktlsh_write(conn, "go", 2, &c->err) != 2) {
		c->rc = c->err.code;
		return NULL;
	}
	while ((n = ktlsh_read(conn, c->got + c->len, sizeof(c->got) - 1 - c->len, &c->err)) > 0)
		c->len += n;
	c->rc = n < 0 ? (int)n : 0;
	ktlsh_close(conn, NULL);
	ktlsh_ctx_free(ctx);
	return NULL;
}

static int wrongsock(const char *ca)
{
	unsigned char buf[KTHD_MSG_MAX];
	struct {
		struct kthd_hdr h;
		unsigned char dir;
	} m = { .h = { .magic = KTHD_MAGIC, .version = KTHD_VERSION, .type = KTHD_UPDATE,
		       .tag = 999, .len = 1 }, .dir = KTHD_DIR_TX };
	const struct kthd_hdr *a = (const void *)buf;
	const struct kthd_result *r = (const void *)(buf + sizeof(*a));
	struct client c = { .ca = ca };
	struct ktlsh_conn *conn;
	struct ktlsh_hsd *h;
	struct ktlsh_err err;
	int srv, other_srv, other;
	pthread_t th;
	ssize_t n;

	if (ktlsh_hsd_open(sock_path, &h, &err))
		die("%s", err.msg);
	c.fd = tcp_pair_of(&srv, 0);
	other = tcp_pair_of(&other_srv, 0);
	if (pthread_create(&th, NULL, client_run, &c))
		die("thread");
	if (ktlsh_hsd_accept(h, srv, NULL, &conn, &err))
		die("handshake through the daemon: %s", err.msg);
	if (!conn->hsd_id)
		die("the daemon keeps nothing for this connection (%s)", ktlsh_conn_version(conn));
	m.h.id = conn->hsd_id;
	send_raw(ktlsh_hsd_fd(h), &m, sizeof(m.h) + 1, &other_srv, 1);
	n = next_msg(ktlsh_hsd_fd(h), buf, sizeof(buf));
	if ((size_t)n < sizeof(*a) + sizeof(*r) || a->type != KTHD_UPDATED || a->tag != 999 ||
	    a->status != KTLSH_E_INVALID)
		die("UPDATE with another socket: not refused (%zd bytes, status %d)", n,
		    n >= (ssize_t)sizeof(*a) ? a->status : 0);
	printf("wrongsock: refused: %s\n", r->msg);
	/* Before the close, else the client may find the socket closed before its ULP is on. */
	if (ktlsh_read(conn, buf, 2, &err) != 2 || memcmp(buf, "go", 2))
		die("no \"go\" from the client: %s", err.msg);
	if (ktlsh_write(conn, "before ", 7, &err) != 7 || ktlsh_key_update(conn, 0, &err) ||
	    ktlsh_write(conn, "after", 5, &err) != 5)
		die("after the refused UPDATE: %s", err.msg);
	ktlsh_close(conn, &err);
	pthread_join(th, NULL);
	c.got[c.len] = 0;
	if (c.rc || strcmp(c.got, "before after"))
		die("the client got '%s' (%s)", c.got, c.rc ? c.err.msg : "no error");
	printf("wrongsock: then a KeyUpdate through the daemon: the client read '%s'\n", c.got);
	close(other);
	close(other_srv);
	ktlsh_hsd_close(h);
	return 0;
}

static int keys(pid_t pid)
{
	unsigned char full[sizeof(struct tls12_crypto_info_aes_gcm_256)];
	int pfd = syscall(SYS_pidfd_open, pid, 0), fd, tls = 0, readable = 0, refused = 0;
	char dir[64], link[352], target[64];
	struct dirent *e;
	socklen_t len;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (pfd < 0 || !d)
		die("process %d: %s", (int)pid, strerror(errno));
	while ((e = readdir(d))) {
		ssize_t l;

		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		l = readlink(link, target, sizeof(target) - 1);
		if (l <= 0)
			continue;
		target[l] = 0;
		if (strncmp(target, "socket:", 7))
			continue;
		fd = syscall(SYS_pidfd_getfd, pfd, atoi(e->d_name), 0);
		if (fd < 0)
			continue;
		len = sizeof(full);
		if (!getsockopt(fd, SOL_TLS, TLS_TX, full, &len)) {
			tls++;
			readable++;
		} else if (errno == EACCES) {
			tls++;
			refused++;
		}
		close(fd);
	}
	closedir(d);
	printf("tls=%d readable=%d refused=%d\n", tls, readable, refused);
	return !tls ? 1 : readable ? 3 : 0;
}

int main(int argc, char **argv)
{
	const char *mode;

	if (argc >= 3 && !strcmp(argv[1], "--socket")) {
		sock_path = argv[2];
		argv += 2;
		argc -= 2;
	}
	if (argc < 2)
		die("usage: hsd-check --socket PATH MODE [ARG] (see hsd-check.c)");
	mode = argv[1];
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(mode, "keys") && argc == 3)
		return keys(atoi(argv[2]));
	if (!sock_path)
		die("%s needs --socket", mode);
	if (!strcmp(mode, "bad") && argc == 3)
		return bad(argv[2]);
	if (!strcmp(mode, "refused") && argc == 2)
		return refused();
	if (!strcmp(mode, "die") && argc == 3 && atoi(argv[2]) > 0 && atoi(argv[2]) <= 64)
		return die_mid(atoi(argv[2]));
	if (!strcmp(mode, "wrongsock") && argc == 3)
		return wrongsock(argv[2]);
	if (!strcmp(mode, "inflight") && argc == 3 && atoi(argv[2]) > 0 && atoi(argv[2]) <= 64)
		return inflight(atoi(argv[2]));
	die("usage: hsd-check --socket PATH MODE [ARG] (see hsd-check.c)");
}
