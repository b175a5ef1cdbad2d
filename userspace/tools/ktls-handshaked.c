// SPDX-License-Identifier: GPL-2.0
/*
 * ktls-handshaked: the TLS handshakes of servers that must never hold
 * their private key or their traffic keys. A server (libktlsh,
 * ktlsh_hsd_*) hands an accepted TCP socket over the daemon's UNIX socket
 * (SCM_RIGHTS, hsd_proto.h); the daemon does the handshake and the
 * certificate checks, installs the keys in the module write-only
 * (TLS_KTO_KEYS_WRITE_ONLY), zeroes its copies and hands the socket back.
 * For TLS 1.3 it keeps the two traffic secrets, and nothing else, until
 * the server says FORGET or goes away, to install the next key when
 * either side sends a KeyUpdate (UPDATE brings the socket back for that).
 *
 * One process, one epoll loop, every socket nonblocking: the servers'
 * UNIX connections (at most --max-servers, each checked by SO_PEERCRED
 * against --allow-uid / --allow-gid), the handshakes in flight (at most
 * --max-handshakes, each within --handshake-timeout), and what each
 * server may have it keep (at most --max-conns secrets). A server that
 * sends anything malformed is dropped with one line in the log; one that
 * goes away takes its handshakes in flight (their sockets are closed)
 * and its secrets (zeroed) with it. Root reads the keys and binds the
 * socket, then --user; the process is never dumpable (no core, no
 * ptrace by the same user), so the keys stay in it.
 *
 * usage: ktls-handshaked --socket PATH --cert FILE --key FILE [options]
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pwd.h>
#include <search.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "common.h"
#include "daemon.h"
#include "hsd_daemon.h"

#define MAX_IDS		8
#define MAX_ALLOW	32
#define SWEEP_MS	500
#define IN_MAX		(sizeof(struct kthd_hdr) + KTHD_NAME_MAX + 1)
#define PER_WAKEUP	64	/* messages read from one server per loop turn */
#define MAX_WORKERS	64

enum kind { K_LISTEN, K_SERVER, K_HS, K_DEAD };

struct kept {
	uint64_t id;
	dev_t dev;
	ino_t ino;
	struct ktlsh_secrets *sec;
};

struct out {
	struct out *next;
	int fd;			/* to send with it (closed once sent), or -1 */
	size_t len;
	unsigned char data[];
};

struct server;

struct hs {
	enum kind kind;		/* K_HS: first, for the epoll pointer */
	struct hs *next, **pprev;
	struct server *srv;
	uint64_t tag;
	int fd, flags;		/* flags: the socket's, given back as they came */
	struct ktlsh_conn *conn;
	long long deadline;
	char peer[64];
};

struct server {
	enum kind kind;		/* K_SERVER */
	struct server *next, **pprev;
	int fd;
	uid_t uid;
	pid_t pid;
	uint32_t events;
	struct hs *hs;		/* in flight */
	size_t nhs;
	void *kept;		/* tsearch tree of struct kept, by id */
	size_t nkept;
	uint64_t next_id;
	struct out *oq, **oq_tail;
};

static struct {
	const char *socket_path, *user, *client_ca;
	struct files {
		const char *v[MAX_IDS];
		int n;
	} certs, keys;
	struct ktlsh_ctx *ctx[MAX_IDS];
	X509 *x509[MAX_IDS];
	uid_t allow_uid[MAX_ALLOW];
	gid_t allow_gid[MAX_ALLOW];
	int nuid, ngid;
	long max_servers, max_hs, max_conns, timeout_s, workers;
	int verbose;
} O = { .max_servers = 64, .max_hs = 1024, .max_conns = 65536, .timeout_s = 10,
	.workers = 1 };

static struct {
	int ep, lfd;
	enum kind lkind;
	struct server *servers;
	long nservers, nhs;
	/*
	 * Freed after the epoll batch: a later event of the same batch may
	 * still point to a handshake or server gone meanwhile (K_DEAD).
	 */
	void **dead;
	size_t ndead, dead_cap;
} D = { .lkind = K_LISTEN };

static volatile sig_atomic_t stopping;

static void dispose(void *obj)
{
	void **more;

	*(enum kind *)obj = K_DEAD;
	if (D.ndead == D.dead_cap) {
		more = realloc(D.dead, (D.dead_cap ? D.dead_cap * 2 : 64) * sizeof(*more));
		if (!more) {
			srv_log("no memory: exiting");
			exit(1);
		}
		D.dead = more;
		D.dead_cap = D.dead_cap ? D.dead_cap * 2 : 64;
	}
	D.dead[D.ndead++] = obj;
}

static void bury(void)
{
	while (D.ndead)
		free(D.dead[--D.ndead]);
}

static int by_id(const void *a, const void *b)
{
	const struct kept *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static void watch(struct server *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	if (s->events != events && !epoll_ctl(D.ep, EPOLL_CTL_MOD, s->fd, &ev))
		s->events = events;
}

/* --- What goes back to a server: queued, sent as its socket takes it. */

static void flush(struct server *s)
{
	struct out *o;
	struct iovec iov;

	while ((o = s->oq)) {
		iov.iov_base = o->data;
		iov.iov_len = o->len;
		if (ktlsh_hsd_sendmsg(s->fd, &iov, 1, o->fd, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				watch(s, EPOLLIN | EPOLLOUT);
				return;
			}
			return;	/* the server is gone: its hangup drops it */
		}
		s->oq = o->next;
		if (!s->oq)
			s->oq_tail = &s->oq;
		if (o->fd >= 0)
			close(o->fd);
		OPENSSL_cleanse(o->data, o->len);	/* early data is the client's plaintext */
		free(o);
	}
	watch(s, EPOLLIN);
}

/* Queue a message (fd given away: closed once sent, or now on failure). */
static void reply(struct server *s, uint16_t type, uint64_t tag, uint64_t id, int status,
		  const struct kthd_result *res, const unsigned char *early, int fd)
{
	size_t elen = early ? res->early_len : 0;
	size_t len = sizeof(struct kthd_hdr) + sizeof(*res) + elen;
	struct kthd_hdr hdr = { .magic = KTHD_MAGIC, .version = KTHD_VERSION, .type = type,
				.tag = tag, .id = id, .status = status,
				.len = sizeof(*res) + elen };
	struct out *o = malloc(sizeof(*o) + len);

	if (!o) {
		srv_log("server pid %d: no memory for an answer", (int)s->pid);
		if (fd >= 0)
			close(fd);
		return;
	}
	o->next = NULL;
	o->fd = fd;
	o->len = len;
	memcpy(o->data, &hdr, sizeof(hdr));
	memcpy(o->data + sizeof(hdr), res, sizeof(*res));
	if (elen)
		memcpy(o->data + sizeof(hdr) + sizeof(*res), early, elen);
	*s->oq_tail = o;
	s->oq_tail = &o->next;
	flush(s);
}

static void reply_error(struct server *s, uint16_t type, uint64_t tag, int code, int sys,
			const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void reply_error(struct server *s, uint16_t type, uint64_t tag, int code, int sys,
			const char *fmt, ...)
{
	struct kthd_result res = { .sys_errno = sys };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res.msg, sizeof(res.msg), fmt, ap);
	va_end(ap);
	reply(s, type, tag, 0, code, &res, NULL, -1);
}

/* --- Handshakes in flight. */

static void hs_unlink(struct hs *h)
{
	epoll_ctl(D.ep, EPOLL_CTL_DEL, h->fd, NULL);
	*h->pprev = h->next;
	if (h->next)
		h->next->pprev = h->pprev;
	h->srv->nhs--;
	D.nhs--;
}

static void hs_fail(struct hs *h, const struct ktlsh_err *err)
{
	struct server *s = h->srv;

	srv_log("server pid %d, client %s: %s", (int)s->pid, h->peer, err->msg);
	hs_unlink(h);
	ktlsh_abort(h->conn);	/* closes our copy: the server has none */
	reply_error(s, KTHD_RESULT, h->tag, err->code, err->sys_errno, "%s", err->msg);
	dispose(h);
}

static void hs_done(struct hs *h)
{
	static unsigned char early[KTHD_EARLY_MAX];
	struct server *s = h->srv;
	struct ktlsh_secrets *sec;
	struct kthd_result res;
	struct kept *k = NULL;
	struct stat st;
	int fd;

	hs_unlink(h);
	fd = ktlsh_daemon_take(h->conn, &res, early, &sec);
	fcntl(fd, F_SETFL, h->flags);
	if (sec && !fstat(fd, &st)) {
		k = calloc(1, sizeof(*k));
		if (k) {
			k->id = ++s->next_id;
			k->dev = st.st_dev;
			k->ino = st.st_ino;
			k->sec = sec;
		}
		if (!k || !tsearch(k, &s->kept, by_id)) {
			free(k);
			k = NULL;
		}
	}
	if (sec && !k) {
		ktlsh_daemon_secrets_free(sec);
		srv_log("server pid %d, client %s: no memory to keep the secrets: KeyUpdate "
			"will fail on this connection", (int)s->pid, h->peer);
	}
	if (k)
		s->nkept++;
	if (O.verbose)
		srv_log("server pid %d, client %s: %s %s%s, keys installed write-only", (int)s->pid,
			h->peer, res.version, res.cipher, res.resumed ? ", resumed" : "");
	reply(s, KTHD_RESULT, h->tag, k ? k->id : 0, 0, &res, early, fd);
	OPENSSL_cleanse(early, res.early_len);
	dispose(h);
}

static void hs_step(struct hs *h)
{
	struct epoll_event ev = { .data.ptr = h };
	struct ktlsh_err err;
	int rc = ktlsh_handshake(h->conn, &err);

	if (rc == KTLSH_WANT_READ || rc == KTLSH_WANT_WRITE) {
		ev.events = rc == KTLSH_WANT_READ ? EPOLLIN : EPOLLOUT;
		if (!epoll_ctl(D.ep, EPOLL_CTL_MOD, h->fd, &ev))
			return;
		rc = ktlsh_err_sys(&err, KTLSH_E_SYSTEM, errno, "epoll");
	}
	if (rc)
		hs_fail(h, &err);
	else
		hs_done(h);
}

static void peer_of(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &sl))
		ss.ss_family = AF_UNSPEC;
	srv_peer_name(&ss, out, len);
}

/* A connected TCP socket? NULL, or why not. */
static const char *not_tcp(int fd)
{
	int v;
	socklen_t l = sizeof(v);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) || (v != AF_INET && v != AF_INET6))
		return "not an IPv4 or IPv6 socket";
	l = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &l) || v != IPPROTO_TCP)
		return "not a TCP socket";
	if (getpeername(fd, (struct sockaddr *)&ss, &sl))
		return "not connected (the client has gone)";
	return NULL;
}

static int pick_identity(const char *name)
{
	int i;

	if (!*name)
		return 0;
	for (i = 0; i < O.certs.n; i++)
		if (X509_check_host(O.x509[i], name, strlen(name), 0, NULL) == 1)
			return i;
	return -1;
}

static void on_handshake(struct server *s, const struct kthd_hdr *hdr, const char *body, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	char name[KTHD_NAME_MAX + 1];
	struct ktlsh_err err;
	const char *why;
	struct hs *h;
	size_t i;
	int id;

	memcpy(name, body, hdr->len);
	name[hdr->len] = 0;
	for (i = 0; i < hdr->len; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9') || name[i] == '.' || name[i] == '-' ||
		      name[i] == '*'))
			break;
	why = not_tcp(fd);
	if (why || i < hdr->len) {
		close(fd);
		reply_error(s, KTHD_RESULT, hdr->tag, KTLSH_E_CONFIG, 0, "the socket handed over "
			    "is %s", why ? why : "fine, but the server name is not a host name");
		return;
	}
	id = pick_identity(name);
	if (id < 0) {
		close(fd);
		reply_error(s, KTHD_RESULT, hdr->tag, KTLSH_E_CONFIG, 0, "no certificate of "
			    "ktls-handshaked is for the server name '%s'", name);
		return;
	}
	if (D.nhs >= O.max_hs || s->nhs + s->nkept >= (size_t)O.max_conns) {
		close(fd);
		reply_error(s, KTHD_RESULT, hdr->tag, KTLSH_E_SYSTEM, EBUSY, "ktls-handshaked is "
			    "at its limit (%s %ld)", D.nhs >= O.max_hs ? "--max-handshakes" :
			    "--max-conns", D.nhs >= O.max_hs ? O.max_hs : O.max_conns);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		close(fd);
		reply_error(s, KTHD_RESULT, hdr->tag, KTLSH_E_SYSTEM, ENOMEM, "no memory");
		return;
	}
	h->kind = K_HS;
	h->srv = s;
	h->tag = hdr->tag;
	h->fd = fd;
	h->flags = fcntl(fd, F_GETFL);
	h->deadline = srv_now_ms() + O.timeout_s * 1000LL;
	peer_of(fd, h->peer, sizeof(h->peer));
	fcntl(fd, F_SETFL, h->flags | O_NONBLOCK);
	if (ktlsh_conn_new(O.ctx[id], fd, NULL, &h->conn, &err)) {
		close(fd);
		reply_error(s, KTHD_RESULT, hdr->tag, err.code, err.sys_errno, "%s", err.msg);
		free(h);
		return;
	}
	ev.data.ptr = h;
	if (epoll_ctl(D.ep, EPOLL_CTL_ADD, fd, &ev)) {
		ktlsh_abort(h->conn);
		reply_error(s, KTHD_RESULT, hdr->tag, KTLSH_E_SYSTEM, errno, "epoll");
		free(h);
		return;
	}
	h->next = s->hs;
	h->pprev = &s->hs;
	if (s->hs)
		s->hs->pprev = &h->next;
	s->hs = h;
	s->nhs++;
	D.nhs++;
	hs_step(h);
}

static struct kept *find(struct server *s, uint64_t id)
{
	struct kept key = { .id = id }, **k = tfind(&key, &s->kept, by_id);

	return k ? *k : NULL;
}

static void on_update(struct server *s, const struct kthd_hdr *hdr, unsigned char dir, int fd)
{
	struct kept *k = find(s, hdr->id);
	struct kthd_result res = { 0 };
	struct ktlsh_err err = { 0 };
	struct stat st;
	int rc;

	if (!k)
		rc = ktlsh_err_set(&err, KTLSH_E_INVALID, "no connection %llu is kept for this "
				   "server", (unsigned long long)hdr->id);
	else if (fstat(fd, &st) || st.st_dev != k->dev || st.st_ino != k->ino)
		rc = ktlsh_err_set(&err, KTLSH_E_INVALID, "the socket handed over is not the one "
				   "of connection %llu", (unsigned long long)hdr->id);
	else
		rc = ktlsh_daemon_update(k->sec, fd, dir, &err);
	close(fd);
	if (rc)
		srv_log("server pid %d: KeyUpdate: %s", (int)s->pid, err.msg);
	res.sys_errno = err.sys_errno;
	snprintf(res.msg, sizeof(res.msg), "%s", rc ? err.msg : "");
	reply(s, KTHD_UPDATED, hdr->tag, hdr->id, rc, &res, NULL, -1);
}

static void on_forget(struct server *s, uint64_t id)
{
	struct kept *k = find(s, id);

	if (!k)
		return;
	tdelete(k, &s->kept, by_id);
	ktlsh_daemon_secrets_free(k->sec);
	free(k);
	s->nkept--;
}

/* --- Servers. */

static void free_kept(void *p)
{
	struct kept *k = p;

	ktlsh_daemon_secrets_free(k->sec);
	free(k);
}

static void server_drop(struct server *s, const char *why)
{
	struct out *o;
	struct hs *h;

	if (why && s->nhs)
		srv_log("server pid %d uid %d: %s; dropped with %zu handshakes in flight, their "
			"sockets closed", (int)s->pid, (int)s->uid, why, s->nhs);
	else if (why)
		srv_log("server pid %d uid %d: %s", (int)s->pid, (int)s->uid, why);
	while ((h = s->hs)) {
		hs_unlink(h);
		ktlsh_abort(h->conn);
		dispose(h);
	}
	tdestroy(s->kept, free_kept);
	while ((o = s->oq)) {
		s->oq = o->next;
		if (o->fd >= 0)
			close(o->fd);
		OPENSSL_cleanse(o->data, o->len);
		free(o);
	}
	epoll_ctl(D.ep, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	*s->pprev = s->next;
	if (s->next)
		s->next->pprev = s->pprev;
	D.nservers--;
	dispose(s);
}

/* One message from s: 1 to read on, 0 at EAGAIN, -1 when s was dropped. */
static int server_read(struct server *s)
{
	unsigned char buf[IN_MAX];
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct kthd_hdr hdr;
	struct cmsghdr *cm;
	int fds[4], nfd = 0, i, want_fd;
	const char *bad = NULL;
	ssize_t n;

	n = recvmsg(s->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n <= 0) {
		server_drop(s, O.verbose || s->nhs ? (n ? strerror(errno) :
						      "disconnected") : NULL);
		return -1;
	}
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
			bad = "a control message that is not SCM_RIGHTS";
			continue;
		}
		for (i = 0; (size_t)i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
			if (nfd < 4)
				memcpy(&fds[nfd++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
	}
	memset(&hdr, 0, sizeof(hdr));
	memcpy(&hdr, buf, (size_t)n < sizeof(hdr) ? (size_t)n : sizeof(hdr));
	want_fd = hdr.type == KTHD_HANDSHAKE || hdr.type == KTHD_UPDATE;
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		bad = "a message too long, or with too many sockets";
	else if ((size_t)n < sizeof(hdr))
		bad = "a message shorter than the header";
	else if (hdr.magic != KTHD_MAGIC || hdr.version != KTHD_VERSION)
		bad = "a wrong magic number or protocol version";
	else if (hdr.len != n - sizeof(hdr))
		bad = "a length that is not the message's";
	else if (hdr.type != KTHD_HANDSHAKE && hdr.type != KTHD_UPDATE && hdr.type != KTHD_FORGET)
		bad = "a message of unknown type";
	else if ((hdr.type == KTHD_HANDSHAKE && hdr.len > KTHD_NAME_MAX) ||
		 (hdr.type == KTHD_UPDATE && (hdr.len != 1 || buf[sizeof(hdr)] > KTHD_DIR_TX)) ||
		 (hdr.type == KTHD_FORGET && hdr.len))
		bad = "a body wrong for its type";
	else if (nfd > 1)
		bad = "more than one socket";
	else if (nfd != want_fd)
		bad = want_fd ? "no socket with a message that needs one" :
		      "a socket with a message that takes none";
	if (bad) {
		char why[160];

		for (i = 0; i < nfd; i++)
			close(fds[i]);
		snprintf(why, sizeof(why), "protocol error: %s", bad);
		server_drop(s, why);
		return -1;
	}
	if (hdr.type == KTHD_HANDSHAKE)
		on_handshake(s, &hdr, (const char *)buf + sizeof(hdr), fds[0]);
	else if (hdr.type == KTHD_UPDATE)
		on_update(s, &hdr, buf[sizeof(hdr)], fds[0]);
	else
		on_forget(s, hdr.id);
	return 1;
}

static int allowed(const struct ucred *c)
{
	int i;

	if (!O.nuid && !O.ngid)
		return c->uid == 0 || c->uid == geteuid();
	for (i = 0; i < O.nuid; i++)
		if (c->uid == O.allow_uid[i])
			return 1;
	for (i = 0; i < O.ngid; i++)
		if (c->gid == O.allow_gid[i])
			return 1;
	return 0;
}

static void refuse(int fd, const char *why)
{
	struct {
		struct kthd_hdr hdr;
		struct kthd_result res;
	} m = { .hdr = { .magic = KTHD_MAGIC, .version = KTHD_VERSION, .type = KTHD_REFUSED,
			 .status = KTLSH_E_CONFIG, .len = sizeof(struct kthd_result) } };

	snprintf(m.res.msg, sizeof(m.res.msg), "%s", why);
	(void)!send(fd, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
}

static void accept_some(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	struct server *s;
	char why[128];
	int fd, i;

	for (i = 0; i < 16; i++) {
		fd = accept4(D.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				srv_log("accept: %s", strerror(errno));
			return;
		}
		cl = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl)) {
			srv_log("SO_PEERCRED: %s", strerror(errno));
			close(fd);
			continue;
		}
		if (!allowed(&cred)) {
			snprintf(why, sizeof(why), "uid %d gid %d is not on the allow-list "
				 "(--allow-uid, --allow-gid)", (int)cred.uid, (int)cred.gid);
			srv_log("server pid %d refused: %s", (int)cred.pid, why);
			refuse(fd, why);
			continue;
		}
		if (D.nservers >= O.max_servers) {
			snprintf(why, sizeof(why), "too many servers connected (--max-servers %ld)",
				 O.max_servers);
			srv_log("server pid %d refused: %s", (int)cred.pid, why);
			refuse(fd, why);
			continue;
		}
		s = calloc(1, sizeof(*s));
		if (!s) {
			close(fd);
			continue;
		}
		s->kind = K_SERVER;
		s->fd = fd;
		s->uid = cred.uid;
		s->pid = cred.pid;
		s->events = EPOLLIN;
		s->oq_tail = &s->oq;
		ev.data.ptr = s;
		if (epoll_ctl(D.ep, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			free(s);
			continue;
		}
		s->next = D.servers;
		s->pprev = &D.servers;
		if (D.servers)
			D.servers->pprev = &s->next;
		D.servers = s;
		D.nservers++;
		if (O.verbose)
			srv_log("server pid %d uid %d connected", (int)cred.pid, (int)cred.uid);
	}
}

static void on_server(struct server *s, uint32_t events)
{
	int i;

	if (events & EPOLLOUT)
		flush(s);
	for (i = 0; i < PER_WAKEUP; i++)
		if (server_read(s) <= 0)
			return;
}

static void sweep(void)
{
	long long now = srv_now_ms();
	struct ktlsh_err err;
	struct server *s;
	struct hs *h, *next;

	for (s = D.servers; s; s = s->next)
		for (h = s->hs; h; h = next) {
			next = h->next;
			if (now < h->deadline)
				continue;
			ktlsh_err_sys(&err, KTLSH_E_SYSTEM, ETIMEDOUT, "no TLS handshake within %ld s",
				      O.timeout_s);
			hs_fail(h, &err);
		}
}

/* --- Setup. */

/* --cert and --key, in pairs by order. */
static const char *add_file(const char *val, void *ptr)
{
	struct files *f = ptr;

	if (f->n == MAX_IDS)
		return "is given too often (at most 8 certificates and keys)";
	f->v[f->n++] = val;
	return NULL;
}

static const char *add_ids(const char *val, int gid)
{
	char buf[256], *tok, *save, *end;
	unsigned long n;

	if (strlen(val) >= sizeof(buf))
		return "takes a shorter list";
	snprintf(buf, sizeof(buf), "%s", val);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if ((gid ? O.ngid : O.nuid) == MAX_ALLOW)
			return "takes at most 32 ids in all";
		errno = 0;
		n = strtoul(tok, &end, 10);
		if (*end || errno || n > 0x7fffffff) {
			struct passwd *pw = gid ? NULL : getpwnam(tok);
			struct group *gr = gid ? getgrnam(tok) : NULL;

			if (!pw && !gr)
				return gid ? "takes group ids or names that exist" :
					     "takes user ids or names that exist";
			n = pw ? pw->pw_uid : gr->gr_gid;
		}
		if (gid)
			O.allow_gid[O.ngid++] = n;
		else
			O.allow_uid[O.nuid++] = n;
	}
	return NULL;
}

static const char *add_uids(const char *val, void *ptr)
{
	(void)ptr;
	return add_ids(val, 0);
}

static const char *add_gids(const char *val, void *ptr)
{
	(void)ptr;
	return add_ids(val, 1);
}

static int listen_on(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, probe;

	if (strlen(path) >= sizeof(sun.sun_path))
		tool_usage_error("--socket: the path is longer than %zu bytes",
				 sizeof(sun.sun_path) - 1);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (!lstat(path, &st)) {
		if (!S_ISSOCK(st.st_mode))
			tool_die(1, "--socket %s: exists and is not a socket", path);
		probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (probe >= 0 && !connect(probe, (struct sockaddr *)&sun, sizeof(sun)))
			tool_die(1, "--socket %s: another ktls-handshaked is serving it", path);
		if (probe >= 0)
			close(probe);
		unlink(path);	/* left by one that died */
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)))
		tool_die(1, "--socket %s: %s", path, strerror(errno));
	/* Anyone may connect; SO_PEERCRED and the allow-list decide who is served. */
	if (chmod(path, 0666) || listen(fd, 128))
		tool_die(1, "--socket %s: %s", path, strerror(errno));
	return fd;
}

static void load_identities(struct ktlsh_config *cfg)
{
	struct ktlsh_err err;
	FILE *f;
	int i;

	if (!O.certs.n || O.certs.n != O.keys.n)
		tool_usage_error("give --cert and --key in pairs (%d certificates, %d keys)",
				 O.certs.n, O.keys.n);
	for (i = 0; i < O.certs.n; i++) {
		cfg->cert_file = O.certs.v[i];
		cfg->key_file = O.keys.v[i];
		if (ktlsh_ctx_new(cfg, &O.ctx[i], &err))
			tool_die(1, "%s", err.msg);
		ktlsh_ctx_set_keys_write_only(O.ctx[i], 1);
		f = fopen(O.certs.v[i], "r");
		O.x509[i] = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
		if (f)
			fclose(f);
		if (!O.x509[i])
			tool_die(1, "--cert %s: no PEM certificate in it", O.certs.v[i]);
	}
}

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

/* One worker's event loop, until SIGTERM: then every server is dropped. */
static void serve_loop(void)
{
	struct sigaction sa = { .sa_handler = on_term };
	struct epoll_event evs[64], ev = { .events = EPOLLIN | EPOLLEXCLUSIVE,
					   .data.ptr = &D.lkind };
	long long next_sweep;
	sigset_t none;
	int n, i;

	sigemptyset(&none);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	D.ep = epoll_create1(EPOLL_CLOEXEC);
	if (D.ep < 0 || epoll_ctl(D.ep, EPOLL_CTL_ADD, D.lfd, &ev))
		tool_die(1, "epoll: %s", strerror(errno));
	next_sweep = srv_now_ms() + SWEEP_MS;
	while (!stopping) {
		long long now = srv_now_ms();

		n = epoll_wait(D.ep, evs, 64, next_sweep > now ? (int)(next_sweep - now) : 0);
		if (n < 0 && errno != EINTR)
			tool_die(1, "epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++) {
			enum kind *k = evs[i].data.ptr;

			if (*k == K_LISTEN)
				accept_some();
			else if (*k == K_SERVER)
				on_server(evs[i].data.ptr, evs[i].events);
			else if (*k == K_HS)
				hs_step(evs[i].data.ptr);
		}
		if (srv_now_ms() >= next_sweep) {
			next_sweep = srv_now_ms() + SWEEP_MS;
			sweep();
		}
		bury();
	}
	while (D.servers)
		server_drop(D.servers, NULL);
	bury();
	free(D.dead);
}

/* At the stop (the socket's directory must be writable by --user for this). */
static void remove_socket(void)
{
	if (unlink(O.socket_path) && errno != ENOENT)
		srv_log("stopped; the socket %s is left: %s", O.socket_path, strerror(errno));
	else
		srv_log("stopped");
}

static void run_worker(long index)
{
	(void)index;
	serve_loop();
}

int main(int argc, char **argv)
{
	struct ktlsh_config cfg = { .role = KTLSH_SERVER };
	const struct tool_opt opts[] = {
		{ "--socket", "PATH", OPT_STR, &O.socket_path, 0, 0, NULL,
		  "the UNIX socket servers hand their connections to (required)" },
		{ "--cert", "FILE", OPT_CALL, &O.certs, 0, 0, add_file,
		  "a certificate (chain), PEM; up to 8, each with its --key\n"
		  "(a server names the one to use; none named: the first)" },
		{ "--key", "FILE", OPT_CALL, &O.keys, 0, 0, add_file,
		  "the private key of the --cert before it, PEM" },
		TOOL_TLS_OPTS(&cfg),
		{ "--client-ca", "FILE", OPT_STR, &O.client_ca, 0, 0, NULL,
		  "ask for client certificates and check them against FILE" },
		{ "--allow-uid", "LIST", OPT_CALL, NULL, 0, 0, add_uids,
		  "user ids or names (comma-separated) of servers to serve\n"
		  "(default, without --allow-uid and --allow-gid: root and our user)" },
		{ "--allow-gid", "LIST", OPT_CALL, NULL, 0, 0, add_gids,
		  "group ids or names of servers to serve" },
		{ "--user", "NAME", OPT_STR, &O.user, 0, 0, NULL,
		  "run as this user once the keys are read and the socket bound" },
		{ "--workers", "N", OPT_NUM, &O.workers, 1, MAX_WORKERS, NULL,
		  "worker processes (default 1); each serves the servers it accepts" },
		{ "--max-servers", "N", OPT_NUM, &O.max_servers, 1, 100000, NULL,
		  "server connections at most, per worker (default 64)" },
		{ "--max-handshakes", "N", OPT_NUM, &O.max_hs, 1, 1000000, NULL,
		  "handshakes in flight at most, per worker (default 1024)" },
		{ "--max-conns", "N", OPT_NUM, &O.max_conns, 1, 10000000, NULL,
		  "per server: connections whose secrets are kept, and handshakes\n"
		  "(default 65536)" },
		{ "--handshake-timeout", "S", OPT_NUM, &O.timeout_s, 1, 3600, NULL,
		  "each handshake must end within S seconds (default 10)" },
		{ "-v", NULL, OPT_FLAG, &O.verbose, 0, 0, NULL,
		  "log every server and handshake on stderr" },
		{ NULL },
	};
	const struct tool tool = { "ktls-handshaked", "--socket PATH --cert FILE --key FILE "
				   "[options]", opts, NULL };
	struct rlimit rl;

	if (tool_parse(&tool, argc, argv, NULL, 0))
		tool_usage_error("takes no arguments, only options");
	if (!O.socket_path)
		tool_usage_error("--socket is required");
	if (O.client_ca) {
		cfg.ca_file = O.client_ca;
		cfg.verify_peer = 1;
	}
	if (cfg.userspace)
		tool_usage_error("--userspace: the daemon exists to put the keys in the module");
	/* No core dump, no ptrace by our own user: the keys stay in here. */
	prctl(PR_SET_DUMPABLE, 0);
	signal(SIGPIPE, SIG_IGN);
	load_identities(&cfg);
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	D.lfd = listen_on(O.socket_path);
	if (O.user)
		srv_drop_root(O.user, O.socket_path);
	/* Again: a change of user resets it to fs.suid_dumpable. */
	prctl(PR_SET_DUMPABLE, 0);
	srv_log("serving %s with %d certificate%s, as uid %d, %ld worker%s", O.socket_path,
		O.certs.n, O.certs.n > 1 ? "s" : "", (int)geteuid(), O.workers,
		O.workers > 1 ? "s" : "");
	/*
	 * --workers N: N processes on the one listening socket (EPOLLEXCLUSIVE:
	 * a new server wakes one); each serves the servers it accepted. One that
	 * dies takes its servers' connections with it (they reconnect, to
	 * another) and is started again.
	 */
	if (O.workers > 1)
		srv_supervise(O.workers, run_worker, NULL);
	else
		serve_loop();
	remove_socket();
	return 0;
}

