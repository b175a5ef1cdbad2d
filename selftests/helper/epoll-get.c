// SPDX-License-Identifier: GPL-2.0
/*
 * epoll-get: the event-loop API from the client side (the server side is
 * ktls-serve). CONNS nonblocking connections at once to 127.0.0.1:PORT,
 * each driven from one epoll loop: ktlsh_conn_new, ktlsh_handshake until
 * it is done, then the request and the answer with ktlsh_write and
 * ktlsh_read, which return KTLSH_WANT_READ / KTLSH_WANT_WRITE instead of
 * blocking. Every body must be EXPECT's bytes. Prints
 *   "conns=N ok=N offloaded=N wants=N"
 * (wants: how often a call said the socket was not ready); exit 0 if all
 * were byte-exact.
 *
 * usage: epoll-get --port N --ca F --path P --expect FILE [--conns N]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ktlsh.h"

struct client {
	int fd, done, ok;
	struct ktlsh_conn *c;
	int handshaken, offloaded;
	char req[256];
	size_t req_len, req_off;
	char *resp;
	size_t have, cap;
};

static char *expect;
static size_t expect_len;
static long wants;

static void __attribute__((noreturn)) fail(const char *what, const char *why)
{
	fprintf(stderr, "epoll-get: %s: %s\n", what, why);
	exit(2);
}

/* Wait for what ktlsh asked for: the socket readable or writable. */
static void want(int ep, struct client *cl, int rc)
{
	struct epoll_event ev = { .events = rc == KTLSH_WANT_READ ? EPOLLIN : EPOLLOUT,
				  .data.ptr = cl };

	wants++;
	epoll_ctl(ep, EPOLL_CTL_MOD, cl->fd, &ev);
}

static void finish(struct client *cl, int ok)
{
	char *body = cl->resp ? memmem(cl->resp, cl->have, "\r\n\r\n", 4) : NULL;

	cl->done = 1;
	cl->ok = ok && body && cl->have - (body + 4 - cl->resp) == expect_len &&
		 !memcmp(body + 4, expect, expect_len) && !strncmp(cl->resp, "HTTP/1.1 200", 12);
	ktlsh_close(cl->c, NULL);
}

/* As far as the socket lets this connection go. */
static void drive(int ep, struct client *cl)
{
	struct ktlsh_err err;
	ssize_t n;
	int rc;

	if (!cl->handshaken) {
		rc = ktlsh_handshake(cl->c, &err);
		if (rc == KTLSH_WANT_READ || rc == KTLSH_WANT_WRITE)
			return want(ep, cl, rc);
		if (rc) {
			fprintf(stderr, "epoll-get: handshake: %s\n", err.msg);
			return finish(cl, 0);
		}
		cl->handshaken = 1;
		cl->offloaded = ktlsh_conn_offloaded(cl->c);
	}
	while (cl->req_off < cl->req_len) {
		n = ktlsh_write(cl->c, cl->req + cl->req_off, cl->req_len - cl->req_off, &err);
		if (n == KTLSH_WANT_WRITE || n == KTLSH_WANT_READ)
			return want(ep, cl, (int)n);
		if (n < 0) {
			fprintf(stderr, "epoll-get: request: %s\n", err.msg);
			return finish(cl, 0);
		}
		cl->req_off += n;
	}
	/* Read until ktlsh says the socket is empty: it may hold a record's rest. */
	for (;;) {
		if (cl->cap - cl->have < 65536) {
			cl->cap = cl->cap * 2 + 65536;
			cl->resp = realloc(cl->resp, cl->cap);
			if (!cl->resp)
				fail("memory", strerror(ENOMEM));
		}
		n = ktlsh_read(cl->c, cl->resp + cl->have, cl->cap - cl->have, &err);
		if (n == KTLSH_WANT_READ || n == KTLSH_WANT_WRITE)
			return want(ep, cl, (int)n);
		if (n == 0)
			return finish(cl, 1);	/* close_notify after "Connection: close" */
		if (n < 0) {
			fprintf(stderr, "epoll-get: response: %s\n", err.msg);
			return finish(cl, 0);
		}
		cl->have += n;
	}
}

int main(int argc, char **argv)
{
	struct ktlsh_config cfg = { .role = KTLSH_CLIENT };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	const char *path = NULL, *expect_path = NULL;
	struct epoll_event ev, evs[64];
	long conns = 8, i, ok = 0, off = 0, left;
	struct ktlsh_ctx *ctx;
	struct ktlsh_err err;
	struct client *cls;
	struct stat st;
	int ep, n, fd;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			sin.sin_port = htons(atoi(argv[i + 1]));
		else if (!strcmp(argv[i], "--ca"))
			cfg.ca_file = argv[i + 1];
		else if (!strcmp(argv[i], "--path"))
			path = argv[i + 1];
		else if (!strcmp(argv[i], "--expect"))
			expect_path = argv[i + 1];
		else if (!strcmp(argv[i], "--conns"))
			conns = atol(argv[i + 1]);
		else
			break;
	}
	if (i != argc || !cfg.ca_file || !path || !expect_path || !sin.sin_port || conns < 1)
		fail("usage", "epoll-get --port N --ca F --path P --expect FILE [--conns N]");
	fd = open(expect_path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		fail(expect_path, strerror(errno));
	expect_len = st.st_size;
	expect = malloc(expect_len + 1);
	if (!expect || read(fd, expect, expect_len) != (ssize_t)expect_len)
		fail(expect_path, "cannot read it");
	close(fd);
	if (ktlsh_ctx_new(&cfg, &ctx, &err))
		fail("context", err.msg);
	cls = calloc(conns, sizeof(*cls));
	ep = epoll_create1(0);
	if (!cls || ep < 0)
		fail("setup", strerror(errno));
	for (i = 0; i < conns; i++) {
		struct client *cl = &cls[i];

		cl->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (cl->fd < 0 || (connect(cl->fd, (struct sockaddr *)&sin, sizeof(sin)) &&
				   errno != EINPROGRESS))
			fail("connect", strerror(errno));
		if (ktlsh_conn_new(ctx, cl->fd, "localhost", &cl->c, &err))
			fail("ktlsh_conn_new", err.msg);
		cl->req_len = snprintf(cl->req, sizeof(cl->req), "GET %s HTTP/1.1\r\nHost: localhost"
				       "\r\nConnection: close\r\n\r\n", path);
		/* Connecting: writable once connected, then ktlsh_handshake says what it wants. */
		ev.events = EPOLLOUT;
		ev.data.ptr = cl;
		epoll_ctl(ep, EPOLL_CTL_ADD, cl->fd, &ev);
	}
	for (left = conns; left > 0;) {
		n = epoll_wait(ep, evs, 64, 60000);
		if (n <= 0)
			fail("epoll_wait", n ? strerror(errno) : "nothing for 60 s");
		for (i = 0; i < n; i++) {
			struct client *cl = evs[i].data.ptr;

			if (cl->done)
				continue;
			drive(ep, cl);
			if (cl->done)
				left--;
		}
	}
	for (i = 0; i < conns; i++) {
		ok += cls[i].ok;
		off += cls[i].offloaded;
	}
	printf("conns=%ld ok=%ld offloaded=%ld wants=%ld\n", conns, ok, off, wants);
	ktlsh_ctx_free(ctx);
	return ok == conns ? 0 : 1;
}
