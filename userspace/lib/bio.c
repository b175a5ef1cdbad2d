// SPDX-License-Identifier: GPL-2.0
/*
 * OpenSSL's view of the socket: recv and send with MSG_DONTWAIT, whatever
 * the socket's own mode. So no OpenSSL call ever waits inside the kernel:
 * the handshake is a step function (handshake.c), and a thread that waits
 * for the peer does so in poll(2) without holding the lock that
 * serializes OpenSSL calls on the connection (io.c). MSG_NOSIGNAL: a peer
 * gone during the handshake is an error, not SIGPIPE.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

static BIO_METHOD *method;
static pthread_once_t method_once = PTHREAD_ONCE_INIT;

static int retry(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

static int bio_read(BIO *b, char *buf, int len)
{
	ssize_t n = recv(BIO_get_fd(b, NULL), buf, len, MSG_DONTWAIT);

	BIO_clear_retry_flags(b);
	if (n < 0 && retry(errno))
		BIO_set_retry_read(b);
	return (int)n;
}

static int bio_write(BIO *b, const char *buf, int len)
{
	ssize_t n = send(BIO_get_fd(b, NULL), buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

	BIO_clear_retry_flags(b);
	if (n < 0 && retry(errno))
		BIO_set_retry_write(b);
	return (int)n;
}

static int bio_puts(BIO *b, const char *s)
{
	return bio_write(b, s, (int)strlen(s));
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	switch (cmd) {
	case BIO_C_SET_FD:
		BIO_set_data(b, (void *)(intptr_t)*(int *)ptr);
		BIO_set_init(b, 1);
		return 1;
	case BIO_C_GET_FD:
		if (ptr)
			*(int *)ptr = (int)(intptr_t)BIO_get_data(b);
		return (int)(intptr_t)BIO_get_data(b);
	case BIO_CTRL_FLUSH:
		return 1;
	}
	(void)num;
	return 0;
}

static void make_method(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOURCE_SINK | BIO_get_new_index(), "ktlsh socket");

	if (m && BIO_meth_set_write(m, bio_write) && BIO_meth_set_read(m, bio_read) &&
	    BIO_meth_set_puts(m, bio_puts) && BIO_meth_set_ctrl(m, bio_ctrl)) {
		method = m;
		return;
	}
	BIO_meth_free(m);
}

/* A BIO on fd that never waits; the fd stays the caller's. */
BIO *ktlsh_bio_new(int fd)
{
	BIO *b;

	pthread_once(&method_once, make_method);
	b = method ? BIO_new(method) : NULL;
	if (b)
		BIO_set_fd(b, fd, BIO_NOCLOSE);
	return b;
}
