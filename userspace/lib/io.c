// SPDX-License-Identifier: GPL-2.0
/*
 * Application data after the handshake: through the module (plain socket
 * calls on a kTLS socket) or, when the connection was left in userspace,
 * through OpenSSL.
 *
 * The module reports each record's content type in a TLS_GET_RECORD_TYPE
 * control message. Non-data records are handled here: close_notify ends
 * the stream, another alert is an error; handshake records are TLS 1.3
 * post-handshake messages, which RFC 8446 5.1 lets a peer cut across
 * records (or put several in one): they are put together here, then a
 * NewSessionTicket goes to session.c (client) and a KeyUpdate to update.c.
 * A KeyUpdate must end its record (no message spans a key change), and no
 * other record may come between the pieces of a message. ktlsh_shutdown
 * sends close_notify as an alert record through the module with
 * TLS_SET_RECORD_TYPE.
 *
 * Everything written to the socket after the switch is written under
 * conn->tx_lock (update.c), so that a KeyUpdate the read side owes the peer
 * goes out between two writes, never inside one; a long sendfile goes in
 * chunks of KTLSH_SENDFILE_CHUNK, with what is owed sent between two.
 *
 * Waiting: on a nonblocking socket nothing here waits (KTLSH_WANT_READ /
 * KTLSH_WANT_WRITE); on a blocking one, EAGAIN from the kernel is the
 * socket's SO_RCVTIMEO/SO_SNDTIMEO running out, a KTLSH_E_SYSTEM
 * ETIMEDOUT error. OpenSSL never waits in the kernel (bio.c): a blocking
 * call polls outside conn->ssl_lock, so a reader waiting for the peer
 * does not hold up a writer.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

int ktlsh_io_nonblocking(const struct ktlsh_conn *conn)
{
	int fl = fcntl(conn->fd, F_GETFL);

	return fl >= 0 && (fl & O_NONBLOCK);
}

/* The kernel said EAGAIN for direction dir (KTLSH_READ or KTLSH_WRITE). */
int ktlsh_io_would_block(struct ktlsh_conn *conn, int dir, struct ktlsh_err *err)
{
	int want = dir == KTLSH_READ ? KTLSH_WANT_READ : KTLSH_WANT_WRITE;

	if (ktlsh_io_nonblocking(conn))
		return ktlsh_err_set(err, want, "the socket is not %s",
				     dir == KTLSH_READ ? "readable" : "writable");
	return ktlsh_err_sys(err, KTLSH_E_SYSTEM, ETIMEDOUT, "%s the peer",
			     dir == KTLSH_READ ? "waiting for data from" : "sending to");
}

long long ktlsh_io_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/*
 * Wait until the socket is ready for want (KTLSH_WANT_READ or _WRITE),
 * for at most its SO_RCVTIMEO or SO_SNDTIMEO (none: no limit).
 */
int ktlsh_io_wait(struct ktlsh_conn *conn, int want, struct ktlsh_err *err)
{
	int rd = want == KTLSH_WANT_READ;
	struct pollfd p = { .fd = conn->fd, .events = rd ? POLLIN : POLLOUT };
	struct timeval tv = { 0 };
	socklen_t tl = sizeof(tv);
	long long end = -1, left;
	int n;

	if (!getsockopt(conn->fd, SOL_SOCKET, rd ? SO_RCVTIMEO : SO_SNDTIMEO, &tv, &tl) &&
	    (tv.tv_sec || tv.tv_usec))
		end = ktlsh_io_now_ms() + tv.tv_sec * 1000LL + (tv.tv_usec + 999) / 1000;
	for (;;) {
		left = end < 0 ? -1 : end - ktlsh_io_now_ms();
		if (end >= 0 && left < 0)
			left = 0;
		n = poll(&p, 1, left > 0x7fffffff ? 0x7fffffff : (int)left);
		if (n > 0)
			return 0;
		if (n == 0)
			return ktlsh_err_sys(err, KTLSH_E_SYSTEM, ETIMEDOUT, "%s the peer",
					     rd ? "waiting for data from" : "sending to");
		if (errno != EINTR)
			return ktlsh_err_sys(err, KTLSH_E_SYSTEM, errno, "poll");
	}
}

/* One recvmsg from the module into buf (room for a record): bytes, or a negative code. */
static ssize_t recv_record(struct ktlsh_conn *conn, void *buf, size_t len, unsigned char *type,
			   struct ktlsh_err *err)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov = { buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n;

	do
		n = recvmsg(conn->fd, &msg, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return ktlsh_io_would_block(conn, KTLSH_READ, err);
		if (errno == EBADMSG)
			return ktlsh_err_set(err, KTLSH_E_PROTOCOL,
					     "a record from the peer did not authenticate "
					     "(wrong keys or a corrupted stream)");
		if (errno == ECONNRESET)
			return ktlsh_err_set(err, KTLSH_E_CLOSED, "the peer reset the connection");
		if (errno == EKEYEXPIRED)
			return ktlsh_err_set(err, KTLSH_E_KERNEL,
					     "the module holds records after what it took for the "
					     "peer's KeyUpdate, and has no next receive key "
					     "(EKEYEXPIRED)");
		return ktlsh_err_sys(err, KTLSH_E_SYSTEM, errno, "receiving through the module");
	}
	*type = KTLSH_RT_DATA;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
			*type = *CMSG_DATA(cm);
	return n;
}

/* A fatal alert to the peer, then the error. */
#define protocol_error(conn, alert, err, ...) \
	(ktlsh_io_send_alert(conn, alert), ktlsh_err_set(err, KTLSH_E_PROTOCOL, __VA_ARGS__))

/*
 * A post-handshake message is whole (header in hs_hdr, body in hs_body
 * if it was kept), and the record it ended in has left bytes after it.
 */
static int message(struct ktlsh_conn *conn, size_t left, struct ktlsh_err *err)
{
	int client = conn->ctx->cfg.role == KTLSH_CLIENT;
	unsigned char type = conn->hs_hdr[0];

	if (type == KTLSH_HS_KEY_UPDATE) {
		if (left)
			return protocol_error(conn, SSL_AD_UNEXPECTED_MESSAGE, err,
					      "the peer's KeyUpdate does not end its record (%u "
					      "more bytes under the old key)", (unsigned int)left);
		if (conn->hs_body[0] > 1)
			return protocol_error(conn, SSL_AD_ILLEGAL_PARAMETER, err,
					      "the peer's KeyUpdate has request_update %u (0 or 1 "
					      "allowed)", conn->hs_body[0]);
		return ktlsh_update_received(conn, conn->hs_body[0], err);
	}
	/* A NewSessionTicket, from a server; a ticket too large to keep is dropped. */
	if (client && conn->hs_body) {
		pthread_mutex_lock(&conn->ssl_lock);
		ktlsh_session_ticket(conn, conn->hs_body, conn->hs_body_len);
		pthread_mutex_unlock(&conn->ssl_lock);
	}
	return 0;
}

/* The header of the next post-handshake message is in hs_hdr: may it come? */
static int header(struct ktlsh_conn *conn, struct ktlsh_err *err)
{
	int client = conn->ctx->cfg.role == KTLSH_CLIENT;
	const unsigned char *h = conn->hs_hdr;
	size_t len = (h[1] << 16) | (h[2] << 8) | h[3];

	if (conn->tls_version != TLS1_3_VERSION)
		return protocol_error(conn, SSL_AD_UNEXPECTED_MESSAGE, err,
				      "the peer sent handshake message type %u after a TLS 1.2 "
				      "handshake (renegotiation is not supported)", h[0]);
	if (h[0] == KTLSH_HS_KEY_UPDATE && len != 1)
		return protocol_error(conn, SSL_AD_DECODE_ERROR, err,
				      "the peer sent a malformed KeyUpdate (length %u, not 1)",
				      (unsigned int)len);
	if (h[0] != KTLSH_HS_KEY_UPDATE && (h[0] != KTLSH_HS_NEW_SESSION_TICKET || !client))
		return protocol_error(conn, SSL_AD_UNEXPECTED_MESSAGE, err,
				      "the peer sent handshake message type %u after the handshake",
				      h[0]);
	conn->hs_body_len = len;
	conn->hs_body_have = 0;
	free(conn->hs_body);
	conn->hs_body = len <= KTLSH_HS_MAX ? malloc(len ? len : 1) : NULL;
	if (!conn->hs_body && h[0] == KTLSH_HS_KEY_UPDATE)
		return ktlsh_err_sys(err, KTLSH_E_SYSTEM, ENOMEM, "KeyUpdate");
	return 0;
}

/*
 * A handshake record of n bytes at p: feed its bytes to the message being
 * put together; each whole message is handled. 0, or a code.
 */
static int handshake_record(struct ktlsh_conn *conn, const unsigned char *p, size_t n,
			    struct ktlsh_err *err)
{
	size_t take;
	int rc;

	if (!n)
		return protocol_error(conn, SSL_AD_UNEXPECTED_MESSAGE, err,
				      "the peer sent an empty handshake record");
	while (n) {
		if (conn->hs_hdr_len < 4) {
			take = 4 - conn->hs_hdr_len < n ? 4 - conn->hs_hdr_len : n;
			memcpy(conn->hs_hdr + conn->hs_hdr_len, p, take);
			conn->hs_hdr_len += take;
			p += take;
			n -= take;
			if (conn->hs_hdr_len < 4)
				break;
			rc = header(conn, err);
			if (rc)
				return rc;
		}
		take = conn->hs_body_len - conn->hs_body_have;
		if (take > n)
			take = n;
		if (conn->hs_body)	/* else skipped: too large to keep */
			memcpy(conn->hs_body + conn->hs_body_have, p, take);
		conn->hs_body_have += take;
		p += take;
		n -= take;
		if (conn->hs_body_have < conn->hs_body_len)
			break;
		conn->hs_hdr_len = 0;
		rc = message(conn, n, err);
		free(conn->hs_body);
		conn->hs_body = NULL;
		conn->hs_body_len = conn->hs_body_have = 0;
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * A record that is not application data (n bytes at p): 0 to read on, 1
 * at close_notify, or a code.
 */
static int control_record(struct ktlsh_conn *conn, unsigned char type, const unsigned char *p,
			  ssize_t n, struct ktlsh_err *err)
{
	if (type == KTLSH_RT_ALERT) {
		if (n >= 2 && p[1] == 0) {
			conn->eof = 1;
			return 1;
		}
		return ktlsh_err_set(err, KTLSH_E_PROTOCOL, "the peer sent the TLS alert %s",
				     n >= 2 ? SSL_alert_desc_string_long(p[1]) : "(truncated)");
	}
	if (type == KTLSH_RT_HANDSHAKE)
		return handshake_record(conn, p, n, err);
	return protocol_error(conn, SSL_AD_UNEXPECTED_MESSAGE, err,
			      "the peer sent a record of content type %u", type);
}

/*
 * Through the module. A buffer with room for a whole record takes it
 * straight from the kernel; a smaller one gets it through conn->rbuf,
 * which is freed once the caller has all of it (an idle connection keeps
 * no buffer).
 */
static ssize_t read_offloaded(struct ktlsh_conn *conn, void *buf, size_t len, struct ktlsh_err *err)
{
	unsigned char type = KTLSH_RT_DATA, *dst;
	ssize_t n;
	int rc;

	while (conn->roff == conn->rlen) {
		if (conn->eof)
			return 0;
		if (len >= KTLSH_RBUF) {
			dst = buf;
		} else {
			if (!conn->rbuf)
				conn->rbuf = malloc(KTLSH_RBUF);
			if (!conn->rbuf)
				return ktlsh_err_sys(err, KTLSH_E_SYSTEM, ENOMEM, "read buffer");
			dst = conn->rbuf;
		}
		conn->roff = conn->rlen = 0;
		n = recv_record(conn, dst, dst == buf ? len : KTLSH_RBUF, &type, err);
		if (n < 0)
			return n;
		if (n == 0 && type == KTLSH_RT_DATA)
			return ktlsh_err_set(err, KTLSH_E_CLOSED,
					     "the peer closed the connection without close_notify");
		/* RFC 8446 5.1: the pieces of a handshake message come one after another. */
		if (type != KTLSH_RT_HANDSHAKE && conn->hs_hdr_len)
			return protocol_error(conn, SSL_AD_UNEXPECTED_MESSAGE, err,
					      "the peer sent a record of type %u in the middle of "
					      "a handshake message", type);
		if (type == KTLSH_RT_DATA) {
			if (dst == buf)
				return n;
			conn->rlen = n;
			break;
		}
		rc = control_record(conn, type, dst, n, err);
		if (rc)
			return rc > 0 ? 0 : rc;
	}
	n = conn->rlen - conn->roff < len ? conn->rlen - conn->roff : len;
	memcpy(buf, conn->rbuf + conn->roff, n);
	conn->roff += n;
	if (conn->roff == conn->rlen) {
		free(conn->rbuf);
		conn->rbuf = NULL;
		conn->roff = conn->rlen = 0;
	}
	return n;
}

/* An SSL_read or SSL_write that did not succeed, ssl_lock held: its code. */
static int ssl_failure(struct ktlsh_conn *conn, int r, const char *what, struct ktlsh_err *err)
{
	int e = SSL_get_error(conn->ssl, r), saved = errno;
	char why[128];

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return KTLSH_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return KTLSH_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error())
			break;
		if (!saved || r == 0 || saved == ECONNRESET || saved == EPIPE)
			return ktlsh_err_set(err, KTLSH_E_CLOSED,
					     "the peer closed the connection without close_notify");
		return ktlsh_err_sys(err, KTLSH_E_SYSTEM, saved, "%s", what);
	}
	return ktlsh_err_set(err, KTLSH_E_PROTOCOL, "%s: %s", what,
			     ktlsh_err_openssl(why, sizeof(why)));
}

/*
 * A want (KTLSH_WANT_*) from OpenSSL, ssl_lock released: on a nonblocking
 * socket, return it; on a blocking one, wait for the socket (0: again).
 */
static int ssl_wait(struct ktlsh_conn *conn, int want, struct ktlsh_err *err)
{
	if (ktlsh_io_nonblocking(conn))
		return ktlsh_err_set(err, want, "the socket is not %s",
				     want == KTLSH_WANT_READ ? "readable" : "writable");
	return ktlsh_io_wait(conn, want, err);
}

static ssize_t read_ssl(struct ktlsh_conn *conn, void *buf, size_t len, struct ktlsh_err *err)
{
	int r, rc;

	for (;;) {
		pthread_mutex_lock(&conn->ssl_lock);
		r = SSL_read(conn->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
		rc = r > 0 ? r : ssl_failure(conn, r, "reading through OpenSSL", err);
		if (!rc)
			conn->eof = 1;
		ERR_clear_error();
		pthread_mutex_unlock(&conn->ssl_lock);
		if (rc != KTLSH_WANT_READ && rc != KTLSH_WANT_WRITE)
			return rc;
		rc = ssl_wait(conn, rc, err);
		if (rc)
			return rc;
	}
}

ssize_t ktlsh_read(struct ktlsh_conn *conn, void *buf, size_t len, struct ktlsh_err *err)
{
	if (conn->state != KTLSH_ST_OPEN)
		return ktlsh_err_set(err, KTLSH_E_INVALID, "ktlsh_read before the handshake is done");
	if (conn->offloaded || conn->roff < conn->rlen)
		return read_offloaded(conn, buf, len, err);
	if (conn->eof)
		return 0;
	return read_ssl(conn, buf, len, err);
}

/*
 * A send or sendfile through the module failed with errno e after done
 * bytes: it would block (then the bytes so far, if any, else the wait
 * code), the peer is gone, or another error.
 */
static ssize_t tx_failed(struct ktlsh_conn *conn, size_t done, int e, const char *what,
			 struct ktlsh_err *err)
{
	int rc;

	if (e == EAGAIN || e == EWOULDBLOCK) {
		rc = ktlsh_io_would_block(conn, KTLSH_WRITE, err);
		return done && rc == KTLSH_WANT_WRITE ? (ssize_t)done : rc;
	}
	return ktlsh_err_sys(err, e == EPIPE || e == ECONNRESET ? KTLSH_E_CLOSED : KTLSH_E_SYSTEM,
			     e, what);
}

/* What the socket takes of buf, through the module; tx_lock held. */
static ssize_t send_some(struct ktlsh_conn *conn, const void *buf, size_t len,
			 struct ktlsh_err *err)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = send(conn->fd, (const char *)buf + done, len - done, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return tx_failed(conn, done, errno, "sending through the module", err);
		done += n;
	}
	return done;
}

/* Let go of the sending side after n (bytes, or a code), sending an owed KeyUpdate. */
static ssize_t tx_done(struct ktlsh_conn *conn, ssize_t n, struct ktlsh_err *err)
{
	struct ktlsh_err uerr;
	int rc = ktlsh_update_tx_unlock(conn, &uerr);

	if (rc && n >= 0) {
		if (err)
			*err = uerr;
		return rc;
	}
	return n;
}

/* Through OpenSSL: what the socket takes (all of it, blocking). */
static ssize_t write_ssl(struct ktlsh_conn *conn, const void *buf, size_t len,
			 struct ktlsh_err *err)
{
	size_t done = 0;
	int r, rc;

	while (done < len) {
		pthread_mutex_lock(&conn->ssl_lock);
		r = SSL_write(conn->ssl, (const char *)buf + done,
			      len - done > INT32_MAX ? INT32_MAX : (int)(len - done));
		rc = r > 0 ? 0 : ssl_failure(conn, r, "writing through OpenSSL", err);
		ERR_clear_error();
		pthread_mutex_unlock(&conn->ssl_lock);
		if (r > 0) {
			done += r;
			continue;
		}
		if (!rc)
			rc = ktlsh_err_set(err, KTLSH_E_CLOSED, "the peer sent close_notify");
		if (rc == KTLSH_WANT_READ || rc == KTLSH_WANT_WRITE)
			rc = ssl_wait(conn, rc, err);
		if (rc)
			return done && (rc == KTLSH_WANT_READ || rc == KTLSH_WANT_WRITE) ?
			       (ssize_t)done : rc;
	}
	return done;
}

ssize_t ktlsh_write(struct ktlsh_conn *conn, const void *buf, size_t len, struct ktlsh_err *err)
{
	int rc;

	if (conn->state != KTLSH_ST_OPEN)
		return ktlsh_err_set(err, KTLSH_E_INVALID, "ktlsh_write before the handshake is done");
	if (!conn->offloaded)
		return write_ssl(conn, buf, len, err);
	ktlsh_update_tx_lock(conn);
	/* What is owed to the peer goes before any more data (RFC 8446 4.6.3). */
	rc = ktlsh_update_send_owed(conn, err);
	if (rc) {
		pthread_mutex_unlock(&conn->tx_lock);
		return rc;
	}
	return tx_done(conn, send_some(conn, buf, len, err), err);
}

/* Through the module, in chunks, with an owed KeyUpdate between two; tx_lock held. */
static ssize_t sendfile_chunks(struct ktlsh_conn *conn, int file_fd, off_t offset, size_t count,
			       struct ktlsh_err *err)
{
	size_t done = 0, want;
	ssize_t n;
	int rc;

	while (done < count) {
		rc = ktlsh_update_send_owed(conn, err);
		if (rc)
			return done && rc == KTLSH_WANT_WRITE ? (ssize_t)done : rc;
		want = count - done < KTLSH_SENDFILE_CHUNK ? count - done : KTLSH_SENDFILE_CHUNK;
		n = sendfile(conn->fd, file_fd, &offset, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return tx_failed(conn, done, errno, "sendfile through the module", err);
		if (n == 0)
			return ktlsh_err_set(err, KTLSH_E_SYSTEM,
					     "the file ended %zu bytes early", count - done);
		done += n;
	}
	return done;
}

ssize_t ktlsh_sendfile(struct ktlsh_conn *conn, int file_fd, off_t offset, size_t count,
		       struct ktlsh_err *err)
{
	char buf[16384];
	size_t done = 0;
	ssize_t n, w;

	if (conn->state != KTLSH_ST_OPEN)
		return ktlsh_err_set(err, KTLSH_E_INVALID,
				     "ktlsh_sendfile before the handshake is done");
	if (conn->offloaded) {
		ktlsh_update_tx_lock(conn);
		return tx_done(conn, sendfile_chunks(conn, file_fd, offset, count, err), err);
	}
	while (done < count) {
		n = pread(file_fd, buf, count - done < sizeof(buf) ? count - done : sizeof(buf),
			  offset + done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ktlsh_err_sys(err, KTLSH_E_SYSTEM, errno, "reading the file");
		if (n == 0)
			return ktlsh_err_set(err, KTLSH_E_SYSTEM,
					     "the file ended %zu bytes early", count - done);
		w = write_ssl(conn, buf, n, err);
		if (w < 0)
			return done && (w == KTLSH_WANT_READ || w == KTLSH_WANT_WRITE) ?
			       (ssize_t)done : w;
		done += w;
		if (w < n)
			break;		/* the socket is full */
	}
	return done;
}

/*
 * One record of the given content type through the module
 * (TLS_SET_RECORD_TYPE); tx_lock held, or no other thread about.
 */
int ktlsh_io_send_record(struct ktlsh_conn *conn, unsigned char type, const void *buf,
			 size_t len, struct ktlsh_err *err)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov = { (void *)buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	ssize_t n;

	memset(cbuf, 0, sizeof(cbuf));
	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(unsigned char));
	*CMSG_DATA(cm) = type;
	do
		n = sendmsg(conn->fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return ktlsh_io_would_block(conn, KTLSH_WRITE, err);
	if (n != (ssize_t)len)
		return ktlsh_err_sys(err, n < 0 && (errno == EPIPE || errno == ECONNRESET) ?
					  KTLSH_E_CLOSED : KTLSH_E_SYSTEM, n < 0 ? errno : EIO,
				     "sending a %s record through the module",
				     type == KTLSH_RT_ALERT ? "alert" :
				     type == KTLSH_RT_HANDSHAKE ? "handshake" : "TLS");
	return 0;
}

/* A fatal alert before giving up on the connection; best effort. */
void ktlsh_io_send_alert(struct ktlsh_conn *conn, unsigned char desc)
{
	unsigned char alert[2] = { 2, desc };	/* fatal */

	if (!conn->offloaded)
		return;
	ktlsh_update_tx_lock(conn);
	ktlsh_io_send_record(conn, KTLSH_RT_ALERT, alert, sizeof(alert), NULL);
	pthread_mutex_unlock(&conn->tx_lock);
}

int ktlsh_shutdown(struct ktlsh_conn *conn, struct ktlsh_err *err)
{
	unsigned char close_notify[2] = { 1, 0 };	/* warning, close_notify */
	int r, rc = 0;

	if (conn->state != KTLSH_ST_OPEN)
		return ktlsh_err_set(err, KTLSH_E_INVALID,
				     "ktlsh_shutdown before the handshake is done");
	if (conn->shut)
		return 0;
	if (conn->offloaded) {
		ktlsh_update_tx_lock(conn);
		/* A KeyUpdate the peer asked for goes first (it may wait for it). */
		rc = ktlsh_update_send_owed(conn, err);
		if (!rc)
			rc = ktlsh_io_send_record(conn, KTLSH_RT_ALERT, close_notify,
						  sizeof(close_notify), err);
		pthread_mutex_unlock(&conn->tx_lock);
	} else {
		pthread_mutex_lock(&conn->ssl_lock);
		r = SSL_shutdown(conn->ssl);
		rc = r >= 0 ? 0 : ssl_failure(conn, r, "sending close_notify through OpenSSL", err);
		ERR_clear_error();
		pthread_mutex_unlock(&conn->ssl_lock);
		if (rc == KTLSH_WANT_READ)
			rc = 0;		/* sent; OpenSSL would wait for the peer's */
	}
	if (!rc)
		conn->shut = 1;
	return rc;
}
