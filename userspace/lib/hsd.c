// SPDX-License-Identifier: GPL-2.0
/*
 * A server's side of ktls-handshaked (hsd_proto.h): the handshake is done
 * in the daemon, which alone can read the private key; the server gets
 * the socket back with the keys in the module, write-only, and a
 * connection (struct ktlsh_conn) that reads and writes like any other but
 * holds no secret. A KeyUpdate, either way, asks the daemon for the next
 * key (UPDATE), which it installs on the socket; close_notify needs no
 * key and goes out from here.
 *
 * One UNIX connection per struct ktlsh_hsd, nonblocking, shared by the
 * handshakes in flight and the UPDATE round trips of the connections
 * made through it. h->lock is held around every use of it; an UPDATE
 * holds it for its whole round trip, and RESULTs that arrive meanwhile
 * are queued for ktlsh_hsd_result. Every submit gets exactly one result,
 * also when the daemon goes away (then KTLSH_E_CLOSED), so a caller may
 * use a pointer to its own state as the cookie.
 *
 * The connections keep the struct alive (h->refs): ktlsh_hsd_close drops
 * the caller's reference; it is freed with the last connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hsd_proto.h"
#include "internal.h"

#define RPC_TIMEOUT_MS	10000	/* an UPDATE's round trip */
#define SEND_TIMEOUT_MS	1000	/* a full UNIX socket: the daemon is not reading */

struct queued {
	struct queued *next;
	struct kthd_hdr hdr;
	struct kthd_result res;
	unsigned char *early;
	int fd;
};

struct pending {
	uint64_t tag;
	void *cookie;
};

struct ktlsh_hsd {
	pthread_mutex_t lock;
	atomic_int refs;
	int fd;			/* -1 once lost or closed */
	unsigned int gen;	/* counts connections: ids of an older one are void */
	int owner_closed;
	uint64_t next_tag;
	struct pending *pend;
	size_t npend, cap;
	struct queued *qhead, *qtail;
	unsigned char *buf;	/* KTHD_MSG_MAX: one received message */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char lost[256];		/* why the connection went, for the failed handshakes */
	struct ktlsh_ctx rctx;	/* what the connections made here point to (a server's) */
};

static void unref(struct ktlsh_hsd *h)
{
	struct queued *q;

	if (atomic_fetch_sub(&h->refs, 1) != 1)
		return;
	while ((q = h->qhead)) {
		h->qhead = q->next;
		if (q->fd >= 0)
			close(q->fd);
		free(q->early);
		free(q);
	}
	if (h->fd >= 0)
		close(h->fd);
	pthread_mutex_destroy(&h->lock);
	free(h->pend);
	free(h->buf);
	free(h);
}

/* lock held: the daemon went away or broke the protocol; the handshakes in flight fail. */
static void lose(struct ktlsh_hsd *h, const char *why)
{
	if (h->fd < 0)
		return;
	close(h->fd);
	h->fd = -1;
	snprintf(h->lost, sizeof(h->lost), "%s", why);
}

static int dial(struct ktlsh_hsd *h, struct ktlsh_err *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	memcpy(sun.sun_path, h->path, sizeof(h->path));
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ktlsh_err_sys(err, KTLSH_E_SYSTEM, errno, "socket for the handshake daemon");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		int e = errno;

		close(fd);
		return ktlsh_err_sys(err, KTLSH_E_SYSTEM, e, "connecting to the handshake daemon at %s%s",
				     h->path, e == ENOENT || e == ECONNREFUSED ?
				     " (is ktls-handshaked running?)" : "");
	}
	h->fd = fd;
	h->gen++;
	h->lost[0] = 0;
	return 0;
}

int ktlsh_hsd_open(const char *path, struct ktlsh_hsd **hp, struct ktlsh_err *err)
{
	struct ktlsh_hsd *h;
	int rc;

	*hp = NULL;
	if (!path || !*path || strlen(path) >= sizeof(h->path))
		return ktlsh_err_set(err, KTLSH_E_CONFIG,
				     "the handshake daemon's socket path is empty or longer than %zu "
				     "bytes", sizeof(h->path) - 1);
	h = calloc(1, sizeof(*h));
	if (h)
		h->buf = malloc(KTHD_MSG_MAX);
	if (!h || !h->buf) {
		free(h);
		return ktlsh_err_sys(err, KTLSH_E_SYSTEM, ENOMEM, "handshake daemon client");
	}
	pthread_mutex_init(&h->lock, NULL);
	atomic_init(&h->refs, 1);
	h->fd = -1;
	h->next_tag = 1;
	h->rctx.cfg.role = KTLSH_SERVER;
	snprintf(h->path, sizeof(h->path), "%s", path);
	rc = dial(h, err);
	if (rc) {
		unref(h);
		return rc;
	}
	*hp = h;
	return 0;
}

int ktlsh_hsd_reconnect(struct ktlsh_hsd *h, struct ktlsh_err *err)
{
	int rc = 0;

	pthread_mutex_lock(&h->lock);
	if (h->fd < 0 && h->npend)
		rc = ktlsh_err_set(err, KTLSH_E_INVALID, "%zu handshakes of the lost connection "
				   "still to be collected with ktlsh_hsd_result", h->npend);
	else if (h->fd < 0)
		rc = dial(h, err);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int ktlsh_hsd_fd(const struct ktlsh_hsd *h)
{
	return h->fd;
}

size_t ktlsh_hsd_pending(const struct ktlsh_hsd *h)
{
	return h->npend;
}

void ktlsh_hsd_close(struct ktlsh_hsd *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->owner_closed = 1;
	lose(h, "closed");
	h->npend = 0;
	pthread_mutex_unlock(&h->lock);
	unref(h);
}

/* lock held: wait until the socket is ready for events, or the deadline. */
static int wait_for(struct ktlsh_hsd *h, short events, long long deadline)
{
	struct pollfd p = { .fd = h->fd, .events = events };
	long long left;
	int r;

	for (;;) {
		left = deadline - ktlsh_io_now_ms();
		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return 0;
	}
}

long ktlsh_hsd_sendmsg(int sock, const struct iovec *iov, int iovcnt, int fd, int flags)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = iovcnt };
	struct cmsghdr *cm;

	if (fd >= 0) {
		memset(cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	return sendmsg(sock, &msg, flags);
}

/* lock held: one message out, with fd (or -1). 0, or -1 with errno. */
static int send_msg(struct ktlsh_hsd *h, uint16_t type, uint64_t tag, uint64_t id,
		    const void *body, size_t len, int fd)
{
	struct kthd_hdr hdr = { .magic = KTHD_MAGIC, .version = KTHD_VERSION, .type = type,
				.tag = tag, .id = id, .len = len };
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { (void *)body, len } };
	long long deadline = ktlsh_io_now_ms() + SEND_TIMEOUT_MS;

	if (h->fd < 0) {
		errno = ENOTCONN;
		return -1;
	}
	for (;;) {
		if (ktlsh_hsd_sendmsg(h->fd, iov, len ? 2 : 1, fd, MSG_NOSIGNAL) ==
		    (long)(sizeof(hdr) + len))
			return 0;
		if (errno == EINTR)
			continue;
		if ((errno != EAGAIN && errno != EWOULDBLOCK) || !wait_for(h, POLLOUT, deadline))
			return -1;
	}
}

static int str_ok(const char *s, size_t size)
{
	return memchr(s, 0, size) != NULL;
}

/*
 * lock held: one message in, checked, into *q (early data and the socket
 * taken). 1, 0 (nothing yet: EAGAIN), or -1 when the connection is lost.
 */
static int recv_msg(struct ktlsh_hsd *h, struct queued *q)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { h->buf, KTHD_MSG_MAX };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	const struct kthd_result *res = (const void *)(h->buf + sizeof(q->hdr));
	struct cmsghdr *cm;
	const char *bad = NULL;
	ssize_t n;
	int fd = -1;

	if (h->fd < 0)
		return -1;
	do
		n = recvmsg(h->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0) {
		lose(h, n ? "the handshake daemon's connection failed" :
		     "the handshake daemon closed the connection (stopped or restarted)");
		return -1;
	}
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			if (fd >= 0 || cm->cmsg_len != CMSG_LEN(sizeof(int)))
				bad = "more than one socket";
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
		}
	memset(q, 0, sizeof(*q));
	memcpy(&q->hdr, h->buf, (size_t)n < sizeof(q->hdr) ? (size_t)n : sizeof(q->hdr));
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		bad = "a message cut short";
	else if ((size_t)n < sizeof(q->hdr) || q->hdr.magic != KTHD_MAGIC ||
		 q->hdr.version != KTHD_VERSION || q->hdr.len != n - sizeof(q->hdr))
		bad = "a message without a valid header";
	else if (q->hdr.len < sizeof(*res))
		bad = "a message too short";
	else if (!str_ok(res->version, sizeof(res->version)) ||
		 !str_ok(res->cipher, sizeof(res->cipher)) ||
		 !str_ok(res->peer, sizeof(res->peer)) || !str_ok(res->msg, sizeof(res->msg)))
		bad = "an unterminated string";
	else if (q->hdr.type == KTHD_RESULT &&
		 (res->early_len > KTHD_EARLY_MAX ||
		  q->hdr.len != sizeof(*res) + res->early_len ||
		  (q->hdr.status == 0) != (fd >= 0)))
		bad = "a malformed handshake result";
	else if (q->hdr.type != KTHD_RESULT && (fd >= 0 || q->hdr.len != sizeof(*res)))
		bad = "a malformed answer";
	else if (q->hdr.type != KTHD_RESULT && q->hdr.type != KTHD_UPDATED &&
		 q->hdr.type != KTHD_REFUSED)
		bad = "a message of unknown type";
	if (!bad && res->early_len && q->hdr.type == KTHD_RESULT) {
		q->early = malloc(res->early_len);
		if (!q->early)
			bad = "no memory for the early data";
		else
			memcpy(q->early, res + 1, res->early_len);
	}
	if (bad) {
		char why[128];

		if (fd >= 0)
			close(fd);
		free(q->early);
		q->early = NULL;
		snprintf(why, sizeof(why), "the handshake daemon sent %s", bad);
		lose(h, why);
		return -1;
	}
	memcpy(&q->res, res, sizeof(*res));
	q->fd = fd;
	if (q->hdr.type == KTHD_REFUSED) {
		char why[256];

		snprintf(why, sizeof(why), "the handshake daemon refused this server: %.200s",
			 q->res.msg);
		lose(h, why);
		return -1;
	}
	return 1;
}

int ktlsh_hsd_submit(struct ktlsh_hsd *h, int fd, const char *name, void *cookie,
		     struct ktlsh_err *err)
{
	size_t len = name ? strlen(name) : 0;
	struct pending *p;
	int rc = 0;

	if (len > KTHD_NAME_MAX)
		return ktlsh_err_set(err, KTLSH_E_CONFIG, "server name longer than %d bytes",
				     KTHD_NAME_MAX);
	pthread_mutex_lock(&h->lock);
	if (h->fd < 0) {
		rc = ktlsh_err_sys(err, KTLSH_E_CLOSED, ENOTCONN, "no connection to the handshake "
				   "daemon%s%s", h->lost[0] ? ": " : "", h->lost);
		goto out;
	}
	if (h->npend == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;

		p = realloc(h->pend, cap * sizeof(*p));
		if (!p) {
			rc = ktlsh_err_sys(err, KTLSH_E_SYSTEM, ENOMEM, "handshake in flight");
			goto out;
		}
		h->pend = p;
		h->cap = cap;
	}
	if (send_msg(h, KTHD_HANDSHAKE, h->next_tag, 0, name, len, fd)) {
		int e = errno;

		rc = ktlsh_err_sys(err, e == EAGAIN ? KTLSH_E_SYSTEM : KTLSH_E_CLOSED, e,
				   e == EAGAIN ? "the handshake daemon is not taking requests" :
				   "sending the socket to the handshake daemon");
		if (e != EAGAIN)
			lose(h, "sending to the handshake daemon failed");
		goto out;
	}
	/* The daemon has the socket now: ours goes, so nothing here reads it meanwhile. */
	close(fd);
	h->pend[h->npend].tag = h->next_tag++;
	h->pend[h->npend].cookie = cookie;
	h->npend++;
out:
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* lock held: a RESULT made into a connection, or its error. */
static int take_result(struct ktlsh_hsd *h, struct queued *q, struct ktlsh_conn **connp,
		       void **cookiep, struct ktlsh_err *err)
{
	struct ktlsh_conn *conn;
	size_t i;

	for (i = 0; i < h->npend && h->pend[i].tag != q->hdr.tag; i++)
		;
	if (i == h->npend) {
		if (q->fd >= 0)
			close(q->fd);
		free(q->early);
		lose(h, "the handshake daemon answered a handshake never asked for");
		return 1;	/* try again: the pending ones now fail */
	}
	*cookiep = h->pend[i].cookie;
	h->pend[i] = h->pend[--h->npend];
	if (q->hdr.status) {
		free(q->early);
		if (err) {
			memset(err, 0, sizeof(*err));
			err->code = q->hdr.status < 0 && q->hdr.status > -20 ? q->hdr.status :
				    KTLSH_E_HANDSHAKE;
			err->sys_errno = q->res.sys_errno;
			snprintf(err->msg, sizeof(err->msg), "%s", q->res.msg);
		}
		return q->hdr.status < 0 && q->hdr.status > -20 ? q->hdr.status : KTLSH_E_HANDSHAKE;
	}
	conn = calloc(1, sizeof(*conn));
	if (!conn) {
		close(q->fd);
		free(q->early);
		return ktlsh_err_sys(err, KTLSH_E_SYSTEM, ENOMEM, "connection");
	}
	conn->ctx = &h->rctx;
	conn->fd = q->fd;
	conn->state = KTLSH_ST_OPEN;
	conn->offloaded = 1;
	conn->tls_version = q->res.tls_version;
	conn->resumed = q->res.resumed;
	conn->eof = q->res.eof;
	conn->max_fragment = q->res.max_fragment;
	snprintf(conn->version, sizeof(conn->version), "%s", q->res.version);
	snprintf(conn->cipher_name, sizeof(conn->cipher_name), "%s", q->res.cipher);
	snprintf(conn->peer, sizeof(conn->peer), "%s", q->res.peer);
	conn->rbuf = q->early;
	conn->rlen = q->res.early_len;
	pthread_mutex_init(&conn->tx_lock, NULL);
	pthread_mutex_init(&conn->ssl_lock, NULL);
	conn->hsd = h;
	conn->hsd_id = q->hdr.id;
	conn->hsd_gen = h->gen;
	atomic_fetch_add(&h->refs, 1);
	*connp = conn;
	return 0;
}

int ktlsh_hsd_result(struct ktlsh_hsd *h, struct ktlsh_conn **connp, void **cookiep,
		     struct ktlsh_err *err)
{
	struct queued one, *q;
	int rc, r;

	*connp = NULL;
	*cookiep = NULL;
	pthread_mutex_lock(&h->lock);
	for (;;) {
		q = h->qhead;
		if (q) {
			h->qhead = q->next;
			rc = take_result(h, q, connp, cookiep, err);
			free(q);
			if (rc != 1)
				break;
			continue;
		}
		r = recv_msg(h, &one);
		if (r > 0 && one.hdr.type == KTHD_RESULT) {
			rc = take_result(h, &one, connp, cookiep, err);
			if (rc != 1)
				break;
			continue;
		}
		if (r > 0)
			continue;	/* an UPDATED nobody waits for any more */
		if (!r) {
			rc = ktlsh_err_set(err, KTLSH_WANT_READ, "no handshake result yet");
			break;
		}
		/* Lost: each handshake in flight fails once, then the loss itself. */
		if (h->npend) {
			*cookiep = h->pend[--h->npend].cookie;
			rc = ktlsh_err_set(err, KTLSH_E_CLOSED, "%s; the handshake was lost with "
					   "its socket", h->lost);
		} else {
			rc = ktlsh_err_set(err, KTLSH_E_CLOSED, "%s", h->lost[0] ? h->lost :
					   "no connection to the handshake daemon");
		}
		if (err)
			err->sys_errno = ECONNRESET;
		break;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int ktlsh_hsd_accept(struct ktlsh_hsd *h, int fd, const char *name, struct ktlsh_conn **connp,
		     struct ktlsh_err *err)
{
	char mine;
	void *cookie;
	int rc;

	*connp = NULL;
	rc = ktlsh_hsd_submit(h, fd, name, &mine, err);
	if (rc)
		return rc;
	for (;;) {
		struct pollfd p = { .fd = h->fd, .events = POLLIN };

		rc = ktlsh_hsd_result(h, connp, &cookie, err);
		if (rc == KTLSH_WANT_READ) {
			if (poll(&p, 1, -1) < 0 && errno != EINTR)
				return ktlsh_err_sys(err, KTLSH_E_SYSTEM, errno, "poll");
			continue;
		}
		if (cookie == &mine || (rc == KTLSH_E_CLOSED && !cookie))
			return rc;
		/* Someone else's (another thread's submit): not ours to keep. */
		if (!rc)
			ktlsh_abort(*connp);
		*connp = NULL;
	}
}

/*
 * The next key of direction dir, from the daemon. Called with conn's
 * tx_lock held for KTLSH_WRITE (update.c), so no write is in flight.
 */
int ktlsh_hsd_update(struct ktlsh_conn *conn, int dir, struct ktlsh_err *err)
{
	struct ktlsh_hsd *h = conn->hsd;
	unsigned char d = dir == KTLSH_WRITE ? KTHD_DIR_TX : KTHD_DIR_RX;
	long long deadline = ktlsh_io_now_ms() + RPC_TIMEOUT_MS;
	uint64_t tag;
	struct queued q, *nq;
	int rc = 0, r;

	pthread_mutex_lock(&h->lock);
	if (h->fd < 0 || h->gen != conn->hsd_gen || !conn->hsd_id) {
		rc = ktlsh_err_sys(err, KTLSH_E_SYSTEM, ECONNRESET, "the handshake daemon that "
				   "holds this connection's traffic secrets is gone (stopped or "
				   "restarted since): no next %s key",
				   dir == KTLSH_WRITE ? "sending" : "receiving");
		goto out;
	}
	tag = h->next_tag++;
	if (send_msg(h, KTHD_UPDATE, tag, conn->hsd_id, &d, 1, conn->fd)) {
		rc = ktlsh_err_sys(err, KTLSH_E_SYSTEM, errno, "asking the handshake daemon for "
				   "the next key");
		goto out;
	}
	for (;;) {
		r = recv_msg(h, &q);
		if (r < 0) {
			rc = ktlsh_err_sys(err, KTLSH_E_SYSTEM, ECONNRESET, "%s", h->lost);
			break;
		}
		if (!r) {
			if (wait_for(h, POLLIN, deadline))
				continue;
			rc = ktlsh_err_sys(err, KTLSH_E_SYSTEM, ETIMEDOUT, "the handshake daemon did "
					   "not install the next key within %d s",
					   RPC_TIMEOUT_MS / 1000);
			break;
		}
		if (q.hdr.type == KTHD_UPDATED && q.hdr.tag == tag) {
			if (q.hdr.status) {
				rc = q.hdr.status < 0 && q.hdr.status > -20 ? q.hdr.status :
				     KTLSH_E_KERNEL;
				ktlsh_err_sys(err, rc, q.res.sys_errno, "handshake daemon: %.480s",
					      q.res.msg);
			}
			break;
		}
		if (q.hdr.type != KTHD_RESULT)
			continue;
		nq = malloc(sizeof(*nq));
		if (!nq) {
			if (q.fd >= 0)
				close(q.fd);
			free(q.early);
			lose(h, "no memory to keep a handshake result");
			continue;
		}
		*nq = q;
		nq->next = NULL;
		if (h->qtail && h->qhead)
			h->qtail->next = nq;
		else
			h->qhead = nq;
		h->qtail = nq;
	}
out:
	pthread_mutex_unlock(&h->lock);
	return rc;
}

/* The connection is freed: the daemon may drop its secrets (best effort). */
void ktlsh_hsd_forget(struct ktlsh_conn *conn)
{
	struct ktlsh_hsd *h = conn->hsd;
	struct kthd_hdr hdr = { .magic = KTHD_MAGIC, .version = KTHD_VERSION,
				.type = KTHD_FORGET, .id = conn->hsd_id };

	pthread_mutex_lock(&h->lock);
	/* Never waits: if the socket is full the daemon keeps them until we disconnect. */
	if (h->fd >= 0 && h->gen == conn->hsd_gen && conn->hsd_id)
		(void)!send(h->fd, &hdr, sizeof(hdr), MSG_DONTWAIT | MSG_NOSIGNAL);
	pthread_mutex_unlock(&h->lock);
	conn->hsd = NULL;
	unref(h);
}
