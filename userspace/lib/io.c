// SPDX-License-Identifier: GPL-2.0
/*
 * Application data after the handshake: through the module (plain socket
 * calls on a kTLS socket) or, when the connection was left in userspace,
 * through OpenSSL.
 *
 * The module reports each record's content type in a TLS_GET_RECORD_TYPE
 * control message. Non-data records are handled here: close_notify ends
 * the stream, another alert is an error; handshake records are TLS 1.3
 * post-handshake messages: NewSessionTicket is consumed and ignored (ktlsh
 * does not resume sessions), KeyUpdate goes to update.c. ktlsh_close sends
 * close_notify as an alert record through the module with
 * TLS_SET_RECORD_TYPE.
 *
 * Everything written to the socket after the switch is written under
 * conn->tx_lock (update.c), so that a KeyUpdate the read side owes the peer
 * goes out between two writes, never inside one.
 */
#include <errno.h>
#include <linux/tls.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

#define RT_ALERT KTLSH_RT_ALERT
#define RT_HANDSHAKE KTLSH_RT_HANDSHAKE
#define RT_DATA KTLSH_RT_DATA
#define HS_NEW_SESSION_TICKET 4
#define HS_KEY_UPDATE 24

/* One recvmsg from the module into conn->rbuf: bytes, or a negative code. */
static ssize_t recv_record(struct ktlsh_conn *conn, unsigned char *type, struct ktlsh_err *err)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov = { conn->rbuf, KTLSH_RBUF };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	ssize_t n;

	do
		n = recvmsg(conn->fd, &msg, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EBADMSG)
			return ktlsh_err_set(err, KTLSH_E_PROTOCOL,
					     "a record from the peer did not authenticate "
					     "(wrong keys or a corrupted stream)");
		if (errno == ECONNRESET)
			return ktlsh_err_set(err, KTLSH_E_CLOSED, "the peer reset the connection");
		if (errno == EKEYEXPIRED)
			return ktlsh_err_set(err, KTLSH_E_KERNEL,
					     "the module holds records after the peer's KeyUpdate "
					     "and has no next receive key (EKEYEXPIRED)");
		return ktlsh_err_sys(err, KTLSH_E_SYSTEM, errno, "receiving through the module");
	}
	*type = RT_DATA;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
			*type = *CMSG_DATA(cm);
	return n;
}

/*
 * A post-handshake handshake record (TLS 1.3): tickets are skipped, a
 * KeyUpdate (which must end its record: RFC 8446 5.1, no message spans a
 * key change) installs the peer's next key. 0, or a negative code.
 */
static int handshake_record(struct ktlsh_conn *conn, size_t n, struct ktlsh_err *err)
{
	const unsigned char *p = conn->rbuf;
	size_t len, skip = conn->hs_skip < n ? conn->hs_skip : n;

	/* The rest of a ticket that began in an earlier record. */
	p += skip;
	n -= skip;
	conn->hs_skip -= skip;
	while (n >= 4) {
		len = (p[1] << 16) | (p[2] << 8) | p[3];
		if (p[0] == HS_KEY_UPDATE)
			return ktlsh_update_received(conn, p, n, err);
		if (p[0] != HS_NEW_SESSION_TICKET) {
			ktlsh_io_send_alert(conn, SSL_AD_UNEXPECTED_MESSAGE);
			return ktlsh_err_set(err, KTLSH_E_PROTOCOL,
					     "the peer sent handshake message type %u after the "
					     "handshake", p[0]);
		}
		if (len + 4 > n) {
			conn->hs_skip = len + 4 - n;
			break;
		}
		p += len + 4;
		n -= len + 4;
	}
	return 0;
}

static ssize_t read_offloaded(struct ktlsh_conn *conn, void *buf, size_t len, struct ktlsh_err *err)
{
	unsigned char type;
	ssize_t n;

	while (conn->roff == conn->rlen) {
		if (conn->eof)
			return 0;
		n = recv_record(conn, &type, err);
		if (n < 0)
			return n;
		if (n == 0 && type == RT_DATA)
			return ktlsh_err_set(err, KTLSH_E_CLOSED,
					     "the peer closed the connection without close_notify");
		conn->roff = conn->rlen = 0;
		if (type == RT_DATA) {
			conn->rlen = n;
		} else if (type == RT_ALERT) {
			if (n >= 2 && conn->rbuf[1] == 0) {
				conn->eof = 1;
				return 0;
			}
			return ktlsh_err_set(err, KTLSH_E_PROTOCOL, "the peer sent the TLS alert %s",
					     n >= 2 ? SSL_alert_desc_string_long(conn->rbuf[1]) :
						      "(truncated)");
		} else if (type == RT_HANDSHAKE) {
			if (handshake_record(conn, n, err))
				return err ? err->code : KTLSH_E_PROTOCOL;
		} else {
			return ktlsh_err_set(err, KTLSH_E_PROTOCOL,
					     "the peer sent a record of content type %u", type);
		}
	}
	n = conn->rlen - conn->roff < len ? conn->rlen - conn->roff : len;
	memcpy(buf, conn->rbuf + conn->roff, n);
	conn->roff += n;
	return n;
}

static ssize_t ssl_failure(struct ktlsh_conn *conn, int r, const char *what, struct ktlsh_err *err)
{
	int e = SSL_get_error(conn->ssl, r);
	char why[128];

	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	if (e == SSL_ERROR_SYSCALL && !ERR_peek_error())
		return errno ? ktlsh_err_sys(err, KTLSH_E_SYSTEM, errno, "%s", what) :
			       ktlsh_err_set(err, KTLSH_E_CLOSED,
					     "the peer closed the connection without close_notify");
	return ktlsh_err_set(err, KTLSH_E_PROTOCOL, "%s: %s", what,
			     ktlsh_err_openssl(why, sizeof(why)));
}

ssize_t ktlsh_read(struct ktlsh_conn *conn, void *buf, size_t len, struct ktlsh_err *err)
{
	int r;

	if (conn->offloaded || conn->roff < conn->rlen)
		return read_offloaded(conn, buf, len, err);
	if (conn->eof)
		return 0;
	r = SSL_read(conn->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (r > 0)
		return r;
	return ssl_failure(conn, r, "reading through OpenSSL", err);
}

/* Everything from buf, through the module; tx_lock held. */
static ssize_t send_all(struct ktlsh_conn *conn, const void *buf, size_t len, struct ktlsh_err *err)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = send(conn->fd, (const char *)buf + done, len - done, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ktlsh_err_sys(err, errno == EPIPE || errno == ECONNRESET ?
						  KTLSH_E_CLOSED : KTLSH_E_SYSTEM,
					     errno, "sending through the module");
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

ssize_t ktlsh_write(struct ktlsh_conn *conn, const void *buf, size_t len, struct ktlsh_err *err)
{
	size_t done = 0;
	int r;

	if (conn->offloaded) {
		ktlsh_update_tx_lock(conn);
		return tx_done(conn, send_all(conn, buf, len, err), err);
	}
	while (done < len) {
		r = SSL_write(conn->ssl, (const char *)buf + done,
			      len - done > INT32_MAX ? INT32_MAX : (int)(len - done));
		if (r <= 0)
			return ssl_failure(conn, r, "writing through OpenSSL", err) ?:
				KTLSH_E_CLOSED;
		done += r;
	}
	return done;
}

static ssize_t sendfile_all(struct ktlsh_conn *conn, int file_fd, off_t offset, size_t count,
			    struct ktlsh_err *err)
{
	size_t done = 0;
	ssize_t n;

	while (done < count) {
		n = sendfile(conn->fd, file_fd, &offset, count - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ktlsh_err_sys(err, errno == EPIPE || errno == ECONNRESET ?
						  KTLSH_E_CLOSED : KTLSH_E_SYSTEM,
					     errno, "sendfile through the module");
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

	if (conn->offloaded) {
		ktlsh_update_tx_lock(conn);
		return tx_done(conn, sendfile_all(conn, file_fd, offset, count, err), err);
	}
	while (done < count) {
		n = pread(file_fd, buf, count - done < sizeof(buf) ? count - done : sizeof(buf),
			  offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ktlsh_err_sys(err, KTLSH_E_SYSTEM, errno, "reading the file");
		if (n == 0)
			return ktlsh_err_set(err, KTLSH_E_SYSTEM,
					     "the file ended %zu bytes early", count - done);
		w = ktlsh_write(conn, buf, n, err);
		if (w < 0)
			return w;
		offset += n;
		done += n;
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
	if (n != (ssize_t)len)
		return ktlsh_err_sys(err, n < 0 && (errno == EPIPE || errno == ECONNRESET) ?
					  KTLSH_E_CLOSED : KTLSH_E_SYSTEM, n < 0 ? errno : EIO,
				     "sending a %s record through the module",
				     type == RT_ALERT ? "alert" : type == RT_HANDSHAKE ?
				     "handshake" : "TLS");
	return 0;
}

/* A fatal alert before giving up on the connection; best effort. */
void ktlsh_io_send_alert(struct ktlsh_conn *conn, unsigned char desc)
{
	unsigned char alert[2] = { 2, desc };	/* fatal */

	if (!conn->offloaded)
		return;
	ktlsh_update_tx_lock(conn);
	ktlsh_io_send_record(conn, RT_ALERT, alert, sizeof(alert), NULL);
	pthread_mutex_unlock(&conn->tx_lock);
}

int ktlsh_close(struct ktlsh_conn *conn, struct ktlsh_err *err)
{
	unsigned char close_notify[2] = { 1, 0 };	/* warning, close_notify */
	int rc = 0;

	if (!conn)
		return 0;
	if (conn->offloaded) {
		/* A KeyUpdate the peer asked for goes first (it may wait for it). */
		ktlsh_update_tx_lock(conn);
		rc = ktlsh_update_tx_unlock(conn, err);
		if (!rc)
			rc = ktlsh_io_send_record(conn, RT_ALERT, close_notify,
						  sizeof(close_notify), err);
	} else if (SSL_shutdown(conn->ssl) < 0) {
		rc = ssl_failure(conn, -1, "sending close_notify through OpenSSL", err);
		if (!rc)
			rc = KTLSH_E_CLOSED;
	}
	ERR_clear_error();
	close(conn->fd);
	ktlsh_conn_free(conn);
	return rc;
}
