// SPDX-License-Identifier: GPL-2.0
/*
 * ktls-serve: an HTTPS static-file server. Each connection's handshake is
 * done by the ktlsh helper, step by step from an event loop, and hands the
 * keys to the kernel module; files then go out with sendfile(2) through the
 * module's TLS_TX. With --userspace the records stay in OpenSSL, for
 * comparison.
 *
 * Processes: the master binds the listening socket, drops root if asked
 * (--user), forks the workers (default one per CPU) and restarts one that
 * dies. Each worker is one epoll loop over nonblocking sockets, with at
 * most --max-conns connections (it stops accepting at the cap, like
 * nginx's worker_connections; the kernel keeps the rest in the listen
 * queue). The workers share the listening socket with EPOLLEXCLUSIVE, so
 * a connection wakes one worker, an idle one first; one socket, not one
 * per worker with SO_REUSEPORT, so that a second server on the same port
 * fails to start instead of sharing it. An idle worker would take every
 * connection of a burst (it is back in epoll_wait before their
 * ClientHellos come), so the workers publish their connection counts in a
 * shared page, and one with ACCEPT_SLACK more than the least loaded stops
 * accepting until the next sweep.
 *
 * Time: every connection has one deadline at a time, checked twice a
 * second whatever the client does: the handshake (--handshake-timeout),
 * the first byte of the next request (--keepalive-timeout; the first
 * request: --request-timeout), the whole request head from its first byte
 * and then the whole response (--request-timeout, plus the body at
 * --min-rate bytes per second), and a lingering close. A client that
 * trickles a byte now and then is dropped at the deadline all the same.
 *
 * HTTP/1.1 GET and HEAD, keep-alive (at most --keepalive-requests per
 * connection) and pipelining, Date, Last-Modified, If-Modified-Since (304),
 * a single Range (206, 416), MIME types by extension. Paths are resolved
 * with openat2(RESOLVE_BENEATH) first as O_PATH, so neither ".." nor a
 * symbolic link leads out of the served directory, and nothing but a
 * regular file is ever opened (a FIFO or a device is a 404, at once).
 *
 * With --handshaked PATH the handshakes are done by ktls-handshaked
 * (Documentation/handshaked.rst): each worker keeps one connection to it,
 * hands it every new socket (ktlsh_hsd_submit) and takes them back, keys
 * installed write-only, from the same epoll loop; this server then never
 * reads the key file and holds no key. If the daemon goes away, the
 * handshakes in flight fail, new clients are closed until a reconnect (one
 * try per sweep) succeeds, and connections already made go on (a
 * KeyUpdate on them fails: the new daemon does not have their secrets).
 *
 * usage: ktls-serve --cert FILE --key FILE [options] DIR   (see --help)
 *        ktls-serve --handshaked PATH [options] DIR
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "daemon.h"
#include "http.h"

#define SWEEP_MS	500		/* how often deadlines are checked */
#define LINGER_MS	1000		/* reading what a closed-on client still sends */
#define LINGER_MAX	(1 << 20)
#define SEND_SLICE	(256 * 1024)	/* file bytes per connection per loop turn */
#define IN_FIRST	2048		/* the input buffer grows from this to a head's limit */
#define MAX_WORKERS	256
#define ACCEPT_BATCH	16		/* per wakeup: leave some to the other workers */
#define ACCEPT_SLACK	4		/* connections above the least loaded worker */

/* Shared by the master and the workers (MAP_SHARED before the fork). */
struct shared {
	_Atomic long conns[MAX_WORKERS];	/* -1: no such worker (not running) */
};

static struct settings {
	struct shared *shared;
	long workers, max_conns, me;	/* me: this worker's index */
	long handshake_s, request_s, keepalive_s, keepalive_requests, min_rate;
	int verbose, root, listen_fd;
	struct ktlsh_ctx *ctx;
	const char *handshaked;		/* the daemon's socket, or NULL */
} S = {
	.max_conns = 1024, .handshake_s = 10, .request_s = 30, .keepalive_s = 15,
	.keepalive_requests = 1000, .min_rate = 65536,
};

static volatile sig_atomic_t stopping;

enum state {
	C_HANDSHAKE,		/* ktlsh_handshake until it is done */
	C_DAEMON,		/* the socket is with ktls-handshaked (c->fd is -1) */
	C_HEAD,			/* reading a request head */
	C_SEND,			/* the answer: head, then the file */
	C_SHUTDOWN,		/* close_notify */
	C_LINGER,		/* reading and dropping what the client still sends */
};

struct conn {
	int fd, slot;
	struct ktlsh_conn *tls;
	enum state st;
	uint32_t events;	/* what epoll watches for now */
	long long deadline;	/* ms, CLOCK_MONOTONIC */
	long long head_start;	/* when the current request's first byte came, or 0 */
	long requests;
	int peer_eof;		/* the client sent close_notify */
	int close_after;	/* close once this answer is out */
	int linger;		/* read what the client still sends before closing */
	size_t lingered;
	char peer[64];
	unsigned char *in;	/* request bytes not yet handled */
	size_t in_cap, have;
	char out[1024];		/* the answer's head (and an error's body) */
	size_t out_len, out_off;
	int file;
	long long file_off, file_left;
	char target[256];	/* for the log, as sent (escaped when logged) */
	size_t target_len;
	char method[16];
	int status;
};

/* A worker's loop: its connections by slot, the epoll set, the listener. */
static struct loop {
	int ep, listen_fd, listening;
	struct conn **conns;
	long nconns;
	char date[HTTP_DATE_LEN];	/* Date: for the current second */
	time_t date_at;
	struct ktlsh_hsd *hsd;		/* --handshaked */
	int hsd_up;			/* its socket is in the epoll set */
	long long hsd_retry_logged;
} L;

static char hsd_mark;	/* epoll data of the daemon's socket */

static const char *date_now(void)
{
	time_t t = time(NULL);

	if (t != L.date_at) {
		http_date_format(t, L.date);
		L.date_at = t;
	}
	return L.date;
}

static void watch(struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (events == c->events)
		return;
	if (epoll_ctl(L.ep, EPOLL_CTL_MOD, c->fd, &ev))
		srv_log("%s: epoll: %s", c->peer, strerror(errno));
	c->events = events;
}

static void listen_on(int on)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL };

	if (on == L.listening)
		return;
	if (epoll_ctl(L.ep, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, L.listen_fd, &ev))
		srv_log("epoll on the listening socket: %s", strerror(errno));
	L.listening = on;
}

/* May this worker accept now: not at its cap, and not far above the others? */
static int my_turn(void)
{
	long i, least = L.nconns, n;

	if (L.nconns >= S.max_conns)
		return 0;
	for (i = 0; i < S.workers; i++) {
		n = atomic_load(&S.shared->conns[i]);
		if (i != S.me && n >= 0 && n < least)
			least = n;
	}
	return L.nconns <= least + ACCEPT_SLACK;
}

static void conn_free(struct conn *c, int graceful)
{
	struct ktlsh_err err;

	if (c->file >= 0)
		close(c->file);
	/*
	 * Out of the epoll set before the close: with --handshaked another
	 * process (the daemon, a moment after handing a socket back) may still
	 * hold the socket, and then close() alone leaves it in the set, with
	 * its events pointing to the conn freed here.
	 */
	if (c->fd >= 0)
		epoll_ctl(L.ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->tls && graceful && c->st != C_HANDSHAKE)
		ktlsh_close(c->tls, &err);	/* best effort: the socket may be full */
	else if (c->tls)
		ktlsh_abort(c->tls);
	else if (c->fd >= 0)
		close(c->fd);
	L.conns[c->slot] = NULL;
	L.nconns--;
	atomic_store(&S.shared->conns[S.me], L.nconns);
	free(c->in);
	free(c);
	if (L.nconns < S.max_conns && my_turn())
		listen_on(1);
}

/*
 * An answer's head and body are two records: without TCP_NODELAY the
 * body waits behind Nagle for the ACK of the head, a delayed ACK away
 * (40 ms). TCP_CORK holds both until the answer is all queued.
 */
static void set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void cork(struct conn *c, int on)
{
	setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
}

/* The client is done with (or for): close_notify, then maybe a lingering read. */
static void begin_close(struct conn *c, int linger)
{
	c->st = C_SHUTDOWN;
	c->linger = linger;
	c->deadline = srv_now_ms() + LINGER_MS;
}

/* The answer's head into c->out, with a short body (an error's) or none. */
static void answer_head(struct conn *c, int status, const char *extra, const char *type,
			long long length, const char *body)
{
	size_t n = 0, cap = sizeof(c->out);

	n += snprintf(c->out + n, cap - n, "HTTP/1.1 %d %s\r\nServer: ktls-serve\r\nDate: %s\r\n%s",
		      status, http_status_text(status), date_now(), extra);
	if (type && n < cap)
		n += snprintf(c->out + n, cap - n, "Content-Type: %s\r\n", type);
	if (length >= 0 && n < cap)
		n += snprintf(c->out + n, cap - n, "Content-Length: %lld\r\n", length);
	if (n < cap)
		n += snprintf(c->out + n, cap - n, "Connection: %s\r\n\r\n%s",
			      c->close_after ? "close" : "keep-alive", body ? body : "");
	c->out_len = n < cap ? n : cap - 1;
	c->out_off = 0;
	c->status = status;
}

static void answer_error(struct conn *c, int status, int head_only, const char *extra)
{
	char body[64];
	int bl = snprintf(body, sizeof(body), "%d %s\n", status, http_status_text(status));

	answer_head(c, status, extra ? extra : status == 405 ? "Allow: GET, HEAD\r\n" : "",
		    "text/plain; charset=utf-8", bl, head_only ? "" : body);
}

static int open_beneath(int dir, const char *path, int flags)
{
	struct open_how how = { .flags = flags | O_CLOEXEC,
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };

	return syscall(SYS_openat2, dir, path, &how, sizeof(how));
}

/*
 * The file for a request path, opened for reading, or a status (404, 403).
 * Nothing is opened before it is known to be a regular file: O_PATH
 * first, so a FIFO or a device never blocks nor wakes up anything.
 */
static int open_file(const char *path, struct stat *st, const char **name)
{
	const char *rel = path + strspn(path, "/");
	struct stat again;
	int pfd, fd, dir = -1;

	*name = path;
	pfd = open_beneath(S.root, *rel ? rel : ".", O_PATH);
	if (pfd < 0 || fstat(pfd, st))
		goto none;
	if (S_ISDIR(st->st_mode)) {
		dir = pfd;
		pfd = open_beneath(dir, "index.html", O_PATH);
		*name = "index.html";
		if (pfd < 0 || fstat(pfd, st))
			goto none;
	}
	if (!S_ISREG(st->st_mode))
		goto none;
	fd = open_beneath(dir >= 0 ? dir : S.root, dir >= 0 ? "index.html" : *rel ? rel : ".",
			  O_RDONLY | O_NONBLOCK | O_NOCTTY);
	close(pfd);
	if (dir >= 0)
		close(dir);
	if (fd < 0)
		return errno == EACCES ? -403 : -404;
	/* Replaced between the two opens: no longer the file that was checked. */
	if (fstat(fd, &again) || again.st_ino != st->st_ino || again.st_dev != st->st_dev) {
		close(fd);
		return -404;
	}
	return fd;
none:
	if (pfd >= 0)
		close(pfd);
	if (dir >= 0)
		close(dir);
	return -404;
}

/* What the client asked for, safe to log: control bytes escaped, cut to fit. */
static const char *target(const struct conn *c)
{
	static char t[200];

	return tool_escape(t, sizeof(t), c->target, c->target_len);
}

static void log_request(struct conn *c, long long bytes)
{
	char m[40];

	if (!S.verbose)
		return;
	srv_log("%s %s %s -> %d (%lld bytes)", c->peer,
		tool_escape(m, sizeof(m), c->method, strlen(c->method)), target(c), c->status,
		bytes);
}

/* A whole request head (hl bytes, or minus a status for a bad one) in c->in. */
static void handle_request(struct conn *c, int hl)
{
	struct http_req r;
	const char *name;
	char extra[256], lm[HTTP_DATE_LEN];
	long long first, last, len;
	struct stat st;
	int status, fd, range;

	c->requests++;
	c->file = -1;
	c->file_left = 0;
	c->st = C_SEND;
	cork(c, 1);
	if (hl < 0) {
		snprintf(c->method, sizeof(c->method), "?");
		c->target_len = c->have < 48 ? c->have : 48;
		memcpy(c->target, c->in, c->target_len);
		c->close_after = c->linger = 1;
		answer_error(c, -hl, 0, NULL);
		c->have = 0;
		goto out;
	}
	status = http_parse_request((char *)c->in, hl, &r);
	memmove(c->in, c->in + hl, c->have - hl);
	c->have -= hl;
	snprintf(c->method, sizeof(c->method), "%s", *r.method ? r.method : "?");
	c->target_len = strlen(r.target);
	memcpy(c->target, r.target, c->target_len + 1);
	c->close_after = !r.keep_alive || c->peer_eof || c->requests >= S.keepalive_requests ||
			 status == 400 || status == 414 || status == 505;
	c->linger = r.has_body || status == 400 || status == 414;
	if (status) {
		answer_error(c, status, !strcmp(r.method, "HEAD"), NULL);
		goto out;
	}
	fd = open_file(r.path, &st, &name);
	if (fd < 0) {
		answer_error(c, -fd, !strcmp(r.method, "HEAD"), NULL);
		goto out;
	}
	http_date_format(st.st_mtime, lm);
	if (r.if_modified_since >= 0 && r.if_modified_since <= time(NULL) &&
	    st.st_mtime <= r.if_modified_since) {
		snprintf(extra, sizeof(extra), "Last-Modified: %s\r\n", lm);
		answer_head(c, 304, extra, NULL, -1, NULL);
		close(fd);
		goto out;
	}
	range = *r.range ? http_range(&r, st.st_size, st.st_mtime, &first, &last) : 200;
	if (range == 416) {
		snprintf(extra, sizeof(extra), "Content-Range: bytes */%lld\r\n",
			 (long long)st.st_size);
		answer_error(c, 416, !strcmp(r.method, "HEAD"), extra);
		close(fd);
		goto out;
	}
	if (range != 206) {
		first = 0;
		last = st.st_size - 1;
	}
	len = last - first + 1;
	snprintf(extra, sizeof(extra), "Last-Modified: %s\r\nAccept-Ranges: bytes\r\n", lm);
	if (range == 206)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
			 "Content-Range: bytes %lld-%lld/%lld\r\n", first, last,
			 (long long)st.st_size);
	answer_head(c, range, extra, http_mime_type(name), len, NULL);
	if (!strcmp(r.method, "HEAD") || !len) {
		close(fd);
	} else {
		c->file = fd;
		c->file_off = first;
		c->file_left = len;
	}
out:
	/* The whole answer has a deadline of its own, whatever the client reads. */
	c->deadline = (c->head_start ? c->head_start : srv_now_ms()) + S.request_s * 1000LL +
		      c->file_left * 1000 / S.min_rate;
	log_request(c, c->file_left);
}

enum { R_NEED, R_HEAD, R_CLOSED, R_ERROR };

/* Read what the client sends into c->in: R_NEED (none for now), or why not. */
static int take_input(struct conn *c)
{
	struct ktlsh_err err;
	ssize_t n;

	for (;;) {
		if (c->have == c->in_cap) {
			size_t cap = c->in_cap ? c->in_cap * 2 : IN_FIRST;
			unsigned char *p;

			if (c->in_cap >= HTTP_HEAD_MAX + 1)
				return R_NEED;	/* full: the head is bad, or pipelined data waits */
			if (cap > HTTP_HEAD_MAX + 1)
				cap = HTTP_HEAD_MAX + 1;
			p = realloc(c->in, cap);
			if (!p) {
				srv_log("%s: out of memory for a request", c->peer);
				return R_ERROR;
			}
			c->in = p;
			c->in_cap = cap;
		}
		n = ktlsh_read(c->tls, c->in + c->have, c->in_cap - c->have, &err);
		if (n == KTLSH_WANT_READ)
			return R_NEED;
		if (n == 0) {
			c->peer_eof = 1;
			return R_CLOSED;
		}
		if (n < 0 && err.code == KTLSH_E_CLOSED && !c->have && c->st == C_HEAD) {
			/* Between two requests, as many clients leave: not worth a line. */
			if (S.verbose)
				srv_log("%s: %s", c->peer, err.msg);
			return R_ERROR;
		}
		if (n < 0) {
			srv_log("%s: reading a request: %s", c->peer, err.msg);
			return R_ERROR;
		}
		if (!c->have && c->st == C_HEAD && !c->head_start) {
			c->head_start = srv_now_ms();
			c->deadline = c->head_start + S.request_s * 1000LL;
		}
		c->have += n;
	}
}

/*
 * C_HEAD: R_HEAD with *hl when a head is whole (or bad), else R_NEED,
 * R_CLOSED or R_ERROR. A request that came whole before the client's
 * close_notify is still answered.
 */
static int read_head(struct conn *c, int *hl)
{
	int r = R_NEED;

	if (!c->have || !(*hl = http_head_len(c->in, c->have)))
		r = take_input(c);
	if (r == R_ERROR || !c->have)
		return r;
	if (!c->head_start) {	/* pipelined: it starts now */
		c->head_start = srv_now_ms();
		c->deadline = c->head_start + S.request_s * 1000LL;
	}
	*hl = http_head_len(c->in, c->have);
	return *hl ? R_HEAD : r;
}

/* C_SEND: 0 when the answer is out, KTLSH_WANT_WRITE, or -1 if the connection broke. */
static int send_answer(struct conn *c)
{
	struct ktlsh_err err;
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = ktlsh_write(c->tls, c->out + c->out_off, c->out_len - c->out_off, &err);
		if (n == KTLSH_WANT_WRITE)
			return n;
		if (n < 0) {
			srv_log("%s: sending the answer to %s: %s", c->peer, target(c), err.msg);
			return -1;
		}
		c->out_off += n;
	}
	if (c->file_left) {
		size_t slice = c->file_left < SEND_SLICE ? c->file_left : SEND_SLICE;

		n = ktlsh_sendfile(c->tls, c->file, c->file_off, slice, &err);
		if (n == KTLSH_WANT_WRITE)
			return n;
		if (n < 0) {
			srv_log("%s: sending %s: %s", c->peer, target(c), err.msg);
			return -1;
		}
		c->file_off += n;
		c->file_left -= n;
		if (c->file_left)
			return KTLSH_WANT_WRITE;	/* the others' turn: epoll comes back */
	}
	if (c->file >= 0) {
		close(c->file);
		c->file = -1;
	}
	cork(c, 0);
	return 0;
}

/*
 * Close with a reset, not a FIN behind data the client does not read: the
 * kernel would keep that data, and the socket, for minutes.
 */
static void reset(struct conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/*
 * Nothing of OpenSSL is made for a connection until its first bytes come:
 * a client that connects and says nothing costs the struct conn alone.
 * 1 once the connection has its ktlsh_conn, 0 to wait, -1 to close.
 */
static int first_bytes(struct conn *c)
{
	struct ktlsh_err err;
	char b;
	ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		watch(c, EPOLLIN);
		return 0;
	}
	if (n <= 0) {
		if (S.verbose)
			srv_log("%s: closed before the handshake", c->peer);
		return -1;
	}
	if (S.handshaked) {
		/* The daemon has it from now on: out of our epoll set first. */
		epoll_ctl(L.ep, EPOLL_CTL_DEL, c->fd, NULL);
		if (!L.hsd || !L.hsd_up) {
			srv_log("%s: no connection to ktls-handshaked, closing", c->peer);
			return -1;
		}
		if (ktlsh_hsd_submit(L.hsd, c->fd, NULL, c, &err)) {
			srv_log("%s: %s", c->peer, err.msg);
			return -1;
		}
		c->fd = -1;
		c->events = 0;
		c->st = C_DAEMON;
		return 0;
	}
	if (ktlsh_conn_new(S.ctx, c->fd, NULL, &c->tls, &err)) {
		srv_log("%s: %s", c->peer, err.msg);
		return -1;
	}
	return 1;
}

static void handshake_done(struct conn *c)
{
	if (S.verbose || *ktlsh_conn_note(c->tls))
		srv_log("%s: %s %s, records %s%s%s", c->peer, ktlsh_conn_version(c->tls),
			ktlsh_conn_cipher(c->tls),
			ktlsh_conn_offloaded(c->tls) ? "through the kernel module" :
			*ktlsh_conn_note(c->tls) ? ktlsh_conn_note(c->tls) :
			"in userspace OpenSSL",
			ktlsh_conn_resumed(c->tls) ? ", session resumed" : "",
			S.handshaked ? ", handshake by ktls-handshaked" : "");
	c->st = C_HEAD;
	c->deadline = srv_now_ms() + S.request_s * 1000LL;
}

/* Take the connection as far as the socket lets it go. */
static void drive(struct conn *c)
{
	struct ktlsh_err err;
	char junk[4096];
	ssize_t n;
	int rc, hl = 0;

	for (;;) {
		switch (c->st) {
		case C_HANDSHAKE:
			if (!c->tls) {
				rc = first_bytes(c);
				if (rc <= 0) {
					if (rc)
						conn_free(c, 0);
					return;
				}
			}
			rc = ktlsh_handshake(c->tls, &err);
			if (rc == KTLSH_WANT_READ || rc == KTLSH_WANT_WRITE) {
				watch(c, rc == KTLSH_WANT_READ ? EPOLLIN : EPOLLOUT);
				return;
			}
			if (rc) {
				srv_log("%s: %s", c->peer, err.msg);
				conn_free(c, 0);
				return;
			}
			handshake_done(c);
			continue;
		case C_DAEMON:
			return;
		case C_HEAD:
			rc = read_head(c, &hl);
			if (rc == R_NEED) {
				watch(c, EPOLLIN);
				return;
			}
			if (rc == R_CLOSED) {
				if (c->have && S.verbose)
					srv_log("%s: closed in the middle of a request (%zu bytes)",
						c->peer, c->have);
				begin_close(c, 0);
				continue;
			}
			if (rc == R_ERROR) {
				conn_free(c, 0);
				return;
			}
			handle_request(c, hl);
			continue;
		case C_SEND:
			rc = send_answer(c);
			if (rc == KTLSH_WANT_WRITE) {
				/* Reading on meanwhile: pipelined requests, and KeyUpdates. */
				watch(c, EPOLLOUT | (c->have < HTTP_HEAD_MAX + 1 && !c->peer_eof ?
						     EPOLLIN : 0));
				return;
			}
			if (rc < 0) {
				conn_free(c, 0);
				return;
			}
			c->head_start = 0;
			if (c->close_after) {
				begin_close(c, c->linger || c->have);
				continue;
			}
			c->st = C_HEAD;
			c->deadline = srv_now_ms() + S.keepalive_s * 1000LL;
			if (!c->have) {		/* an idle connection keeps no buffer */
				free(c->in);
				c->in = NULL;
				c->in_cap = 0;
			}
			continue;
		case C_SHUTDOWN:
			rc = ktlsh_shutdown(c->tls, &err);
			if (rc == KTLSH_WANT_WRITE) {
				watch(c, EPOLLOUT);
				return;
			}
			if (rc || !c->linger || c->peer_eof) {
				conn_free(c, 0);
				return;
			}
			shutdown(c->fd, SHUT_WR);
			c->st = C_LINGER;
			continue;
		case C_LINGER:
			n = ktlsh_read(c->tls, junk, sizeof(junk), NULL);
			if (n == KTLSH_WANT_READ) {
				watch(c, EPOLLIN);
				return;
			}
			c->lingered += n > 0 ? n : 0;
			if (n <= 0 || c->lingered > LINGER_MAX) {
				conn_free(c, 0);
				return;
			}
			continue;
		}
	}
}

static void expire(struct conn *c)
{
	switch (c->st) {
	case C_HANDSHAKE:
		srv_log("%s: no TLS handshake within %ld s, closing", c->peer, S.handshake_s);
		conn_free(c, 0);
		return;
	case C_DAEMON:
		/* Its socket is the daemon's, which times the handshake out: wait for it. */
		c->deadline = srv_now_ms() + S.handshake_s * 1000LL;
		return;
	case C_HEAD:
		if (c->have) {
			srv_log("%s: request not complete within %ld s (%zu bytes) -> 408", c->peer,
				S.request_s, c->have);
			snprintf(c->method, sizeof(c->method), "?");
			c->target_len = 0;
			c->close_after = 1;
			answer_error(c, 408, 0, NULL);
			c->file = -1;
			c->file_left = 0;
			c->have = 0;
			c->st = C_SEND;
			c->linger = 1;
			c->deadline = srv_now_ms() + LINGER_MS;
			drive(c);
			return;
		}
		if (S.verbose)
			srv_log("%s: idle for %ld s, closing", c->peer,
				c->requests ? S.keepalive_s : S.request_s);
		begin_close(c, 0);
		drive(c);
		return;
	case C_SEND:
		srv_log("%s: %s not sent within its deadline (the client reads too slowly), "
			"closing", c->peer, target(c));
		reset(c);
		conn_free(c, 0);
		return;
	case C_SHUTDOWN:
	case C_LINGER:
		conn_free(c, 0);
		return;
	}
}

static void on_event(struct conn *c, uint32_t events)
{
	/* While an answer goes out, what the client sends is read into c->in. */
	if (c->st == C_SEND && (events & EPOLLIN) && take_input(c) == R_ERROR) {
		conn_free(c, 0);
		return;
	}
	drive(c);
}

static void accept_some(void)
{
	static long long emfile_logged;
	struct sockaddr_storage ss;
	struct epoll_event ev;
	socklen_t sl;
	struct conn *c;
	int fd, slot, i;

	for (i = 0; i < ACCEPT_BATCH && my_turn(); i++) {
		sl = sizeof(ss);
		fd = accept4(L.listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if ((errno == EMFILE || errno == ENFILE) && srv_now_ms() - emfile_logged > 10000) {
				emfile_logged = srv_now_ms();
				srv_log("accept: %s", strerror(errno));
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EMFILE &&
				   errno != ENFILE) {
				srv_log("accept: %s", strerror(errno));
			}
			return;
		}
		for (slot = 0; slot < S.max_conns && L.conns[slot]; slot++)
			;
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->fd = fd;
		c->slot = slot;
		c->file = -1;
		c->st = C_HANDSHAKE;
		c->deadline = srv_now_ms() + S.handshake_s * 1000LL;
		srv_peer_name(&ss, c->peer, sizeof(c->peer));
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(L.ep, EPOLL_CTL_ADD, fd, &ev)) {
			srv_log("%s: epoll: %s", c->peer, strerror(errno));
			close(fd);
			free(c);
			continue;
		}
		c->events = EPOLLIN;
		L.conns[slot] = c;
		L.nconns++;
		atomic_store(&S.shared->conns[S.me], L.nconns);
		set_nodelay(fd);
		drive(c);
	}
	if (!my_turn())
		listen_on(0);
}

/* The daemon's socket in (or out of) the epoll set: its handshakes come back there. */
static void hsd_watch(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &hsd_mark };
	struct ktlsh_err err;

	if (L.hsd_up)
		return;
	if (!L.hsd ? ktlsh_hsd_open(S.handshaked, &L.hsd, &err) :
		     ktlsh_hsd_reconnect(L.hsd, &err)) {
		if (srv_now_ms() - L.hsd_retry_logged > 10000) {
			L.hsd_retry_logged = srv_now_ms();
			srv_log("%s", err.msg);
		}
		return;
	}
	if (epoll_ctl(L.ep, EPOLL_CTL_ADD, ktlsh_hsd_fd(L.hsd), &ev)) {
		srv_log("epoll on the handshake daemon's socket: %s", strerror(errno));
		return;
	}
	L.hsd_up = 1;
	if (L.hsd_retry_logged)
		srv_log("connected to ktls-handshaked at %s", S.handshaked);
	L.hsd_retry_logged = 0;
}

/* Handshakes back from the daemon: the connections go on here. */
static void hsd_results(void)
{
	struct ktlsh_conn *tls;
	struct epoll_event ev;
	struct ktlsh_err err;
	struct conn *c;
	void *cookie;
	int rc;

	for (;;) {
		rc = ktlsh_hsd_result(L.hsd, &tls, &cookie, &err);
		if (rc == KTLSH_WANT_READ)
			return;
		c = cookie;
		if (!c) {
			/* Lost (its socket is closed, so out of the set): retried each sweep. */
			srv_log("%s", err.msg);
			L.hsd_up = 0;
			L.hsd_retry_logged = srv_now_ms();
			return;
		}
		if (rc) {
			srv_log("%s: %s", c->peer, err.msg);
			conn_free(c, 0);
			continue;
		}
		c->tls = tls;
		c->fd = ktlsh_conn_fd(tls);
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(L.ep, EPOLL_CTL_ADD, c->fd, &ev)) {
			srv_log("%s: epoll: %s", c->peer, strerror(errno));
			conn_free(c, 0);
			continue;
		}
		c->events = EPOLLIN;
		handshake_done(c);
		drive(c);
	}
}

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static void __attribute__((noreturn)) worker(int listen_fd)
{
	struct epoll_event evs[128];
	long long next_sweep = srv_now_ms() + SWEEP_MS, now;
	struct sigaction sa = { .sa_handler = on_term };
	sigset_t none;
	long i;
	int n;

	sigemptyset(&none);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	L.listen_fd = listen_fd;
	atomic_store(&S.shared->conns[S.me], 0);
	L.conns = calloc(S.max_conns, sizeof(*L.conns));
	L.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!L.conns || L.ep < 0) {
		srv_log("worker: %s", strerror(errno));
		_exit(1);
	}
	if (S.handshaked)
		hsd_watch();
	listen_on(1);
	while (!stopping) {
		now = srv_now_ms();
		n = epoll_wait(L.ep, evs, 128, next_sweep > now ? (int)(next_sweep - now) : 0);
		if (n < 0 && errno != EINTR) {
			srv_log("epoll_wait: %s", strerror(errno));
			_exit(1);
		}
		for (i = 0; i < n; i++) {
			if (!evs[i].data.ptr)
				accept_some();
			else if (evs[i].data.ptr == &hsd_mark)
				hsd_results();
			else
				on_event(evs[i].data.ptr, evs[i].events);
		}
		now = srv_now_ms();
		if (now >= next_sweep) {
			next_sweep = now + SWEEP_MS;
			if (S.handshaked)
				hsd_watch();
			listen_on(my_turn());
			for (i = 0; i < S.max_conns; i++)
				if (L.conns[i] && now >= L.conns[i]->deadline)
					expire(L.conns[i]);
		}
	}
	for (i = 0; i < S.max_conns; i++)
		if (L.conns[i])
			conn_free(L.conns[i], 1);
	_exit(0);
}

/* The listening socket, bound before root is dropped. */
static int bind_one(const char *addr, long port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (void *)&ss;
	struct sockaddr_in6 *s6 = (void *)&ss;
	int one = 1, zero = 0, fam, fd;
	socklen_t sl;

	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		fam = AF_INET;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		fam = AF_INET6;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		sl = sizeof(*s6);
	} else {
		tool_usage_error("--addr takes an IPv4 or IPv6 address, not '%s'", addr);
	}
	fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		tool_die(1, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* "::" takes IPv4 clients too. */
	if (fam == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&ss, sl))
		tool_die(1, "cannot listen on %s port %ld: %s", addr, port,
			 errno == EADDRINUSE ? "the port is in use by another program" :
			 strerror(errno));
	if (listen(fd, 4096))
		tool_die(1, "listen: %s", strerror(errno));
	return fd;
}

/* Enough descriptors for every connection and its file, in every worker. */
static void fd_limit(int explicit_cap)
{
	rlim_t want = (rlim_t)S.max_conns * 2 + 64;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_max < want) {
		struct rlimit more = { want, want };

		if (!setrlimit(RLIMIT_NOFILE, &more))
			return;
		if (explicit_cap)
			tool_die(1, "--max-conns %ld needs %lu file descriptors, the limit is %lu "
				 "(ulimit -n)", S.max_conns, (unsigned long)want,
				 (unsigned long)rl.rlim_max);
		S.max_conns = (long)(rl.rlim_max - 64) / 2;
		tool_warn("--max-conns lowered to %ld: the file descriptor limit is %lu",
			  S.max_conns, (unsigned long)rl.rlim_max);
		want = rl.rlim_max;
	}
	rl.rlim_cur = want;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/*
 * Fail at the start, not at the first client, if the daemon is not there
 * or will not serve this user (it says so at once: REFUSED).
 */
static void probe_daemon(void)
{
	struct ktlsh_conn *tls;
	struct ktlsh_hsd *h;
	struct ktlsh_err err;
	struct pollfd p;
	void *cookie;

	if (ktlsh_hsd_open(S.handshaked, &h, &err))
		tool_die(1, "%s", err.msg);
	p.fd = ktlsh_hsd_fd(h);
	p.events = POLLIN;
	if (poll(&p, 1, 300) == 1 &&
	    ktlsh_hsd_result(h, &tls, &cookie, &err) == KTLSH_E_CLOSED)
		tool_die(1, "%s", err.msg);
	ktlsh_hsd_close(h);
}

/* A worker (srv_supervise): its index, then its loop. */
static void run_worker(long index)
{
	S.me = index;
	worker(S.listen_fd);
}

/* Not counted by the others until it runs again. */
static void worker_died(long index)
{
	atomic_store(&S.shared->conns[index], -1);
}

static const char *set_idle(const char *val, void *ptr)
{
	char *end;
	long t = strtol(val, &end, 10);

	(void)ptr;
	if (!*val || *end || t < 1 || t > 86400)
		return "takes seconds, from 1 to 86400";
	S.handshake_s = S.request_s = S.keepalive_s = t;
	return NULL;
}

static const char epilog[] =
	"Every connection is bounded in time: the handshake, each request head, each\n"
	"answer (request timeout plus the body at --min-rate), and the wait for the\n"
	"next request; each worker holds at most --max-conns connections.\n";

int main(int argc, char **argv)
{
	struct ktlsh_config cfg = { .role = KTLSH_SERVER };
	const char *pos[1], *addr = "127.0.0.1", *client_ca = NULL, *user = NULL;
	long port = 4433, workers = 0, max_conns = 0;
	const struct tool_opt opts[] = {
		{ "--cert", "FILE", OPT_STR, &cfg.cert_file, 0, 0, NULL,
		  "the server's certificate (chain), PEM (required)" },
		{ "--key", "FILE", OPT_STR, &cfg.key_file, 0, 0, NULL,
		  "its private key, PEM (required)" },
		{ "--port", "N", OPT_NUM, &port, 1, 65535, NULL, "TCP port (default 4433)" },
		{ "--addr", "ADDR", OPT_STR, &addr, 0, 0, NULL,
		  "IPv4 or IPv6 address to listen on (default 127.0.0.1;\n"
		  ":: for every address, IPv6 and IPv4)" },
		{ "--workers", "N", OPT_NUM, &workers, 1, MAX_WORKERS, NULL,
		  "worker processes (default: one per CPU)" },
		{ "--max-conns", "N", OPT_NUM, &max_conns, 1, 1000000, NULL,
		  "connections per worker at most (default 1024)" },
		{ "--handshake-timeout", "S", OPT_NUM, &S.handshake_s, 1, 86400, NULL,
		  "the TLS handshake must end within S seconds (default 10)" },
		{ "--request-timeout", "S", OPT_NUM, &S.request_s, 1, 86400, NULL,
		  "each request head, and then its answer, within S seconds of\n"
		  "its first byte (default 30; the answer also gets --min-rate)" },
		{ "--min-rate", "BYTES", OPT_NUM, &S.min_rate, 1, 1L << 40, NULL,
		  "per second: the time an answer gets for its body (default 65536)" },
		{ "--keepalive-timeout", "S", OPT_NUM, &S.keepalive_s, 1, 86400, NULL,
		  "close a connection with no new request for S seconds (default 15)" },
		{ "--keepalive-requests", "N", OPT_NUM, &S.keepalive_requests, 1, 1000000000, NULL,
		  "close a connection after N requests (default 1000)" },
		{ "--idle-timeout", "S", OPT_CALL, NULL, 0, 0, set_idle,
		  "the handshake, request and keep-alive timeouts at once" },
		{ "--user", "NAME", OPT_STR, &user, 0, 0, NULL,
		  "run as this user once the port is bound and the key read" },
		{ "--handshaked", "PATH", OPT_STR, &S.handshaked, 0, 0, NULL,
		  "hand the handshakes to ktls-handshaked at this socket: no\n"
		  "--cert or --key here, the daemon holds them" },
		TOOL_TLS_OPTS(&cfg),
		{ "--client-ca", "FILE", OPT_STR, &client_ca, 0, 0, NULL,
		  "ask for client certificates and check them against FILE" },
		{ "-v", NULL, OPT_FLAG, &S.verbose, 0, 0, NULL,
		  "log each connection and request on stderr" },
		{ NULL },
	};
	const struct tool tool = { "ktls-serve", "--cert FILE --key FILE [options] DIR", opts,
				   epilog };
	struct ktlsh_err err;
	int fd, i;

	if (!tool_parse(&tool, argc, argv, pos, 1))
		tool_usage_error("no directory to serve");
	if (S.handshaked && (cfg.cert_file || cfg.key_file || client_ca || cfg.userspace ||
			     cfg.cipher_list || cfg.ciphersuites || cfg.min_version ||
			     cfg.unsupported))
		tool_usage_error("--handshaked: the certificate, key and TLS options are "
				 "ktls-handshaked's, not given here");
	if (!S.handshaked && (!cfg.cert_file || !cfg.key_file))
		tool_usage_error("--cert and --key are required");
	if (client_ca) {
		cfg.ca_file = client_ca;
		cfg.verify_peer = 1;
	}
	S.workers = workers ? workers : sysconf(_SC_NPROCESSORS_ONLN);
	if (S.workers < 1)
		S.workers = 1;
	if (S.workers > MAX_WORKERS)
		S.workers = MAX_WORKERS;
	if (max_conns)
		S.max_conns = max_conns;
	signal(SIGPIPE, SIG_IGN);

	if (!S.handshaked && ktlsh_ctx_new(&cfg, &S.ctx, &err))
		tool_die(1, "%s", err.msg);
	S.root = open(pos[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (S.root < 0 || access(pos[0], R_OK | X_OK))
		tool_die(1, "cannot serve '%s': %s", pos[0], strerror(errno));
	fd = bind_one(addr, port);
	S.shared = mmap(NULL, sizeof(*S.shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			-1, 0);
	if (S.shared == MAP_FAILED)
		tool_die(1, "mmap: %s", strerror(errno));
	for (i = 0; i < MAX_WORKERS; i++)
		atomic_store(&S.shared->conns[i], -1);
	fd_limit(max_conns != 0);
	if (user)
		srv_drop_root(user, NULL);
	if (S.handshaked)
		probe_daemon();
	fprintf(stderr, "ktls-serve: serving %s on https://%s%s%s:%ld/ with %ld worker%s of %ld "
		"connections, records %s\n", pos[0], strchr(addr, ':') ? "[" : "", addr,
		strchr(addr, ':') ? "]" : "", port, S.workers, S.workers > 1 ? "s" : "",
		S.max_conns, cfg.userspace ? "in userspace OpenSSL (--userspace)" :
		S.handshaked ? "through the kernel module, handshakes by ktls-handshaked" :
		"through the kernel module");
	S.listen_fd = fd;
	srv_supervise(S.workers, run_worker, worker_died);
	return 0;
}
