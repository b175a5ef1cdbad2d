// SPDX-License-Identifier: GPL-2.0
/*
 * loadpeer: many clients that hold a server's resources, in one process
 * (epoll, nonblocking OpenSSL), for the load and abuse tests. Modes:
 *   tcp        connect and send nothing (no ClientHello)
 *   tls        a handshake, then nothing (a keep-alive client gone quiet)
 *   slowloris  a handshake, then a request head, one byte every --every s
 *   zerowin    a 4 KiB receive buffer, a handshake, GET --path, never read
 *   garbage    4 KiB of random bytes that are not TLS, then nothing
 *   tarpit     not a client: listen on --port, fill the accept queue and
 *              never accept (so that connecting to it times out)
 * It holds them for --hold seconds or until the server has closed them
 * all, and prints one line: how many connected, finished the handshake,
 * were closed by the server, and when (seconds after they connected,
 * first and last). With --ready FILE, FILE is created once every
 * connection is up (handshake done where there is one); --up-only 1 stops
 * there (to time the handshakes).
 *
 * usage: loadpeer --port N --mode M --conns N [--hold S] [--every S]
 *                 [--path P] [--ready FILE] [--up-only 1]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum mode { TCP, TLS, SLOWLORIS, ZEROWIN, GARBAGE, TARPIT };

struct peer {
	int fd;
	SSL *ssl;
	int up;			/* connected, handshake done where there is one */
	int closed;		/* by the server */
	double t_conn, t_up, t_closed, t_next;	/* connect(2) called, up, closed */
	size_t sent;		/* slowloris: bytes of the head sent */
};

static enum mode mode;
static double t0;
static char head[256];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9 - t0;
}

static void __attribute__((noreturn)) fail(const char *what)
{
	fprintf(stderr, "loadpeer: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void closed(struct peer *p)
{
	if (p->closed)
		return;
	p->closed = 1;
	p->t_closed = now();
}

/* Anything from the server: data is dropped; EOF, an error or a reset is its close. */
static void readable(struct peer *p)
{
	char buf[4096];
	ssize_t n;
	int r;

	if (mode == ZEROWIN)
		return;
	if (p->ssl && p->up) {
		while ((r = SSL_read(p->ssl, buf, sizeof(buf))) > 0)
			;
		r = SSL_get_error(p->ssl, r);
		if (r != SSL_ERROR_WANT_READ && r != SSL_ERROR_WANT_WRITE)
			closed(p);
		ERR_clear_error();
		return;
	}
	while ((n = recv(p->fd, buf, sizeof(buf), 0)) > 0)
		;
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
		closed(p);
}

/* Wait for what the connection needs next, and nothing else (no busy loop). */
static void watch(int ep, struct peer *p, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = p };

	epoll_ctl(ep, EPOLL_CTL_MOD, p->fd, &ev);
}

static void step(int ep, struct peer *p, const char *path)
{
	char req[512];
	int r, len;

	if (!p->ssl || p->up)
		return;
	r = SSL_connect(p->ssl);
	if (r != 1) {
		r = SSL_get_error(p->ssl, r);
		if (r == SSL_ERROR_WANT_READ)
			watch(ep, p, EPOLLIN | EPOLLRDHUP);
		else if (r == SSL_ERROR_WANT_WRITE)
			watch(ep, p, EPOLLOUT);
		else
			closed(p);
		ERR_clear_error();
		return;
	}
	p->up = 1;
	p->t_up = now();
	if (mode == ZEROWIN) {
		len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
		if (SSL_write(p->ssl, req, len) != len)
			closed(p);
	}
	/* A zero-window reader must not be woken by the data it does not read. */
	watch(ep, p, mode == ZEROWIN ? EPOLLRDHUP : EPOLLIN | EPOLLRDHUP);
}

static void trickle(struct peer *p, double every)
{
	double t = now();

	if (mode != SLOWLORIS || !p->up || p->closed || t < p->t_next || p->sent >= strlen(head))
		return;
	if (SSL_write(p->ssl, head + p->sent, 1) == 1)
		p->sent++;
	ERR_clear_error();
	p->t_next = t + every;
}

static void tarpit(int port, double hold)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(0x7f000001) };
	int l = socket(AF_INET, SOCK_STREAM, 0), i, c;

	if (l < 0 || bind(l, (struct sockaddr *)&sin, sizeof(sin)) || listen(l, 0))
		fail("tarpit listen");
	/* The queue holds one: fill it (and one more, in SYN_RECV). */
	for (i = 0; i < 2; i++) {
		c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(c, (struct sockaddr *)&sin, sizeof(sin));
	}
	printf("tarpit on port %d\n", port);
	fflush(stdout);
	usleep((useconds_t)(hold * 1e6));
	exit(0);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	const char *mname = NULL, *path = "/", *ready = NULL;
	double hold = 60, every = 1, first = -1, last = -1;
	long n = 0, i, up = 0, nclosed = 0;
	struct epoll_event ev, evs[256];
	int ep, k, port = 0, ready_done = 0, small = 4096, up_only = 0;
	struct rlimit rl;
	struct peer *ps;
	SSL_CTX *ctx;
	char junk[4096];

	for (i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];

		if (!strcmp(a, "--port"))
			port = atoi(v);
		else if (!strcmp(a, "--mode"))
			mname = v;
		else if (!strcmp(a, "--conns"))
			n = atol(v);
		else if (!strcmp(a, "--hold"))
			hold = atof(v);
		else if (!strcmp(a, "--every"))
			every = atof(v);
		else if (!strcmp(a, "--path"))
			path = v;
		else if (!strcmp(a, "--ready"))
			ready = v;
		else if (!strcmp(a, "--up-only"))
			up_only = atoi(v);
		else
			break;
	}
	if (i != argc || !mname || !port) {
		fprintf(stderr, "usage: loadpeer --port N --mode M --conns N [--hold S] "
			"[--every S] [--path P] [--ready FILE]\n");
		return 2;
	}
	mode = !strcmp(mname, "tcp") ? TCP : !strcmp(mname, "tls") ? TLS :
	       !strcmp(mname, "slowloris") ? SLOWLORIS : !strcmp(mname, "zerowin") ? ZEROWIN :
	       !strcmp(mname, "garbage") ? GARBAGE : !strcmp(mname, "tarpit") ? TARPIT : -1;
	if ((int)mode < 0) {
		fprintf(stderr, "loadpeer: unknown mode '%s'\n", mname);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);	/* a server that closes is what is measured */
	if (mode == TARPIT)
		tarpit(port, hold);
	if (n < 1) {
		fprintf(stderr, "loadpeer: --conns must be at least 1\n");
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
		rl.rlim_cur = n + 64;
		if (rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			fail("RLIMIT_NOFILE");
	}
	snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: localhost\r\nX-Slow: %0100d\r\n\r\n",
		 path, 0);
	sin.sin_port = htons(port);
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		fail("OpenSSL");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	ps = calloc(n, sizeof(*ps));
	ep = epoll_create1(0);
	if (!ps || ep < 0)
		fail("setup");
	t0 = 0;
	t0 = now();
	for (i = 0; i < n; i++) {
		struct peer *p = &ps[i];

		p->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (p->fd < 0)
			fail("socket");
		if (mode == ZEROWIN)
			setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
		p->t_conn = now();
		if (connect(p->fd, (struct sockaddr *)&sin, sizeof(sin)) && errno != EINPROGRESS)
			fail("connect");
		ev.events = EPOLLOUT;	/* connected */
		ev.data.ptr = p;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, p->fd, &ev))
			fail("epoll");
		if (mode != TCP && mode != GARBAGE) {
			p->ssl = SSL_new(ctx);
			if (!p->ssl || !SSL_set_fd(p->ssl, p->fd))
				fail("SSL_new");
			SSL_set_connect_state(p->ssl);
		}
	}
	while (now() < hold && nclosed < n) {
		k = epoll_wait(ep, evs, 256, 100);
		for (i = 0; i < k; i++) {
			struct peer *p = evs[i].data.ptr;

			if (p->closed)
				continue;
			if (!p->ssl && !p->up && (evs[i].events & EPOLLOUT)) {
				p->up = 1;
				p->t_up = now();
				if (mode == GARBAGE) {
					memset(junk, 0xa5, sizeof(junk));
					if (send(p->fd, junk, sizeof(junk), MSG_NOSIGNAL) < 0)
						closed(p);
				}
				watch(ep, p, EPOLLIN | EPOLLRDHUP);
			}
			step(ep, p, path);
			/* A zero-window reader reads nothing: it sees the server's reset only. */
			if (mode == ZEROWIN && p->up && (evs[i].events & (EPOLLHUP | EPOLLERR)))
				closed(p);
			if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				readable(p);
			if (p->closed)
				epoll_ctl(ep, EPOLL_CTL_DEL, p->fd, NULL);
		}
		for (i = 0, up = 0, nclosed = 0; i < n; i++) {
			trickle(&ps[i], every);
			up += ps[i].up;
			nclosed += ps[i].closed;
		}
		if (up_only && up + nclosed >= n)
			break;
		if (ready && !ready_done && up == n) {
			int fd = open(ready, O_WRONLY | O_CREAT | O_TRUNC, 0644);

			if (fd >= 0)
				close(fd);
			ready_done = 1;
		}
	}
	for (i = 0, up = 0; i < n; i++) {
		up += ps[i].up;
		if (ps[i].closed) {
			/*
			 * From the handshake's end where there is one (the server's
			 * request deadline starts there), else from connect(2).
			 */
			double t = ps[i].t_closed - (ps[i].ssl && ps[i].up ? ps[i].t_up : ps[i].t_conn);

			if (first < 0 || t < first)
				first = t;
			if (t > last)
				last = t;
		}
	}
	printf("mode=%s conns=%ld up=%ld closed_by_server=%ld first_close=%.1f last_close=%.1f "
	       "still_open=%ld seconds=%.1f\n", mname, n, up, nclosed, first, last, n - nclosed,
	       now());
	return 0;
}
