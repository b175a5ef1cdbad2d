// SPDX-License-Identifier: GPL-2.0
/*
 * rekey-peer: the ktlsh side of the KeyUpdate test (vm-tests, group
 * "keyupdate"). Accepts one TLS 1.3 connection (openssl s_client is the
 * peer), then at once
 *   - sends FILE in CHUNKS pieces, with ktlsh_key_update between two
 *     pieces (every other one with update_requested), PAUSE ms apart, and
 *   - in a second thread, reads everything the peer sends into OUT (the
 *     peer's KeyUpdates are handled inside ktlsh_read, and answered when
 *     asked for) until the peer's close_notify.
 * Then closes, and prints one line with the bytes and KeyUpdates counted
 * by ktlsh. Exit 0 only if every step succeeded.
 *
 * --sendfile: send FILE with one ktlsh_sendfile instead (no KeyUpdates of
 * our own), while the reader thread takes the peer's (ku-probe asks for
 * one in the middle). --userspace: the records stay in OpenSSL (the reader
 * and the writer thread then share one SSL, serialized by ktlsh).
 *
 * --handshaked PATH: the handshake is ktls-handshaked's (ktlsh_hsd_accept,
 * no --cert/--key here); then getsockopt(TLS_TX) and (TLS_RX) of the full
 * struct must be refused with EACCES (the keys are write-only), while the
 * 4-byte header still names TLS 1.3 and the cipher, and every KeyUpdate
 * goes through the daemon.
 *
 * usage: rekey-peer --port N --cert F --key F --send FILE --out FILE
 *                   [--chunks N] [--pause MS] [--ciphersuites L]
 *                   [--sendfile 1] [--userspace 1]
 */
#include <arpa/inet.h>
#include <linux/tls.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ktlsh.h"

struct reader {
	struct ktlsh_conn *conn;
	int out;
	long long got;
	int rc;
	struct ktlsh_err err;
};

static void *read_all(void *arg)
{
	struct reader *r = arg;
	static char buf[65536];
	ssize_t n;

	for (;;) {
		n = ktlsh_read(r->conn, buf, sizeof(buf), &r->err);
		if (n <= 0) {
			r->rc = (int)n;
			return NULL;
		}
		if (write(r->out, buf, n) != n) {
			r->rc = KTLSH_E_SYSTEM;
			snprintf(r->err.msg, sizeof(r->err.msg), "writing the output: %s",
				 strerror(errno));
			return NULL;
		}
		r->got += n;
	}
}

static void __attribute__((noreturn)) fail(const char *what, const char *why)
{
	fprintf(stderr, "rekey-peer: %s: %s\n", what, why);
	exit(1);
}

/* The keys ktls-handshaked installed cannot be read back; their header can. */
static void write_only(int fd)
{
	static const int opts[2] = { TLS_TX, TLS_RX };
	unsigned char full[sizeof(struct tls12_crypto_info_aes_gcm_256)];
	struct tls_crypto_info head;
	socklen_t len;
	int i;

	for (i = 0; i < 2; i++) {
		memset(full, 0, sizeof(full));
		len = sizeof(full);
		if (!getsockopt(fd, SOL_TLS, opts[i], full, &len) || errno != EACCES) {
			fprintf(stderr, "rekey-peer: getsockopt(%s) gave %u bytes of key material "
				"(%s), not EACCES\n", i ? "TLS_RX" : "TLS_TX", (unsigned int)len,
				strerror(errno));
			exit(1);
		}
		len = sizeof(head);
		if (getsockopt(fd, SOL_TLS, opts[i], &head, &len) ||
		    head.version != TLS_1_3_VERSION) {
			fprintf(stderr, "rekey-peer: getsockopt(%s) of the header: %s\n",
				i ? "TLS_RX" : "TLS_TX", strerror(errno));
			exit(1);
		}
	}
	fprintf(stderr, "rekey-peer: keys write-only: TLS_TX and TLS_RX refused with EACCES, "
		"header cipher %u\n", head.cipher_type);
}

int main(int argc, char **argv)
{
	struct ktlsh_config cfg = { .role = KTLSH_SERVER, .min_version = 0x0304,
				    .max_version = 0x0304 };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	const char *send_path = NULL, *out_path = NULL, *hsd_path = NULL;
	struct ktlsh_hsd *hsd = NULL;
	long chunks = 16, pause_ms = 0, i;
	int use_sendfile = 0, file_fd = -1;
	struct reader rd = { 0 };
	unsigned long urx, utx;
	struct ktlsh_ctx *ctx = NULL;
	struct ktlsh_err err;
	size_t size, off, piece;
	struct stat st;
	pthread_t th;
	char *data;
	int l, fd, one = 1, rc = 0;

	for (i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];

		if (!strcmp(a, "--port"))
			sin.sin_port = htons(atoi(v));
		else if (!strcmp(a, "--cert"))
			cfg.cert_file = v;
		else if (!strcmp(a, "--key"))
			cfg.key_file = v;
		else if (!strcmp(a, "--ciphersuites"))
			cfg.ciphersuites = v;
		else if (!strcmp(a, "--send"))
			send_path = v;
		else if (!strcmp(a, "--out"))
			out_path = v;
		else if (!strcmp(a, "--chunks"))
			chunks = atol(v);
		else if (!strcmp(a, "--pause"))
			pause_ms = atol(v);
		else if (!strcmp(a, "--sendfile"))
			use_sendfile = atoi(v);
		else if (!strcmp(a, "--userspace"))
			cfg.userspace = atoi(v);
		else if (!strcmp(a, "--handshaked"))
			hsd_path = v;
		else
			fail("usage", "unknown option (see the comment at the top of rekey-peer.c)");
	}
	if (i != argc || !send_path || !out_path || chunks < 1 || !sin.sin_port)
		fail("usage", "rekey-peer --port N --cert F --key F --send FILE --out FILE "
		     "[--chunks N] [--pause MS] [--ciphersuites L]");

	fd = open(send_path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		fail(send_path, strerror(errno));
	size = st.st_size;
	data = malloc(size + 1);
	if (!data || read(fd, data, size) != (ssize_t)size)
		fail(send_path, "cannot read it whole");
	if (use_sendfile)
		file_fd = fd;
	else
		close(fd);
	rd.out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (rd.out < 0)
		fail(out_path, strerror(errno));

	signal(SIGPIPE, SIG_IGN);
	if (hsd_path ? ktlsh_hsd_open(hsd_path, &hsd, &err) : ktlsh_ctx_new(&cfg, &ctx, &err))
		fail("context", err.msg);
	l = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (struct sockaddr *)&sin, sizeof(sin)) || listen(l, 1))
		fail("listen", strerror(errno));
	fprintf(stderr, "rekey-peer: listening\n");
	fd = accept(l, NULL, NULL);
	if (fd < 0)
		fail("accept", strerror(errno));
	close(l);
	if (hsd ? ktlsh_hsd_accept(hsd, fd, NULL, &rd.conn, &err) :
		  ktlsh_accept(ctx, fd, &rd.conn, &err))
		fail("handshake", err.msg);
	if (hsd)
		write_only(ktlsh_conn_fd(rd.conn));
	if (!ktlsh_conn_offloaded(rd.conn) && !cfg.userspace)
		fail("handshake", "the records are not in the module");
	fprintf(stderr, "rekey-peer: %s %s, records %s\n", ktlsh_conn_version(rd.conn),
		ktlsh_conn_cipher(rd.conn), ktlsh_conn_offloaded(rd.conn) ?
		"through the kernel module" : "in userspace OpenSSL");
	if (pthread_create(&th, NULL, read_all, &rd))
		fail("thread", strerror(errno));

	if (use_sendfile) {
		ssize_t n = ktlsh_sendfile(rd.conn, file_fd, 0, size, &err);

		if (n != (ssize_t)size) {
			fprintf(stderr, "rekey-peer: sendfile: %s\n", n < 0 ? err.msg : "short");
			rc = 1;
		}
		chunks = 0;
		off = size;
	}
	for (i = 0, off = use_sendfile ? off : 0; i < chunks; i++, off += piece) {
		piece = size / chunks + (i == chunks - 1 ? size % chunks : 0);
		if (piece && ktlsh_write(rd.conn, data + off, piece, &err) < 0) {
			fprintf(stderr, "rekey-peer: sending chunk %ld: %s\n", i, err.msg);
			rc = 1;
			break;
		}
		if (i == chunks - 1)
			break;
		if (ktlsh_key_update(rd.conn, i % 2, &err)) {
			fprintf(stderr, "rekey-peer: KeyUpdate %ld: %s (%s)\n", i + 1, err.msg,
				ktlsh_code_name(err.code));
			rc = 1;
			break;
		}
		if (pause_ms) {
			struct timespec ts = { pause_ms / 1000, pause_ms % 1000 * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
	pthread_join(th, NULL);
	if (rd.rc < 0) {
		fprintf(stderr, "rekey-peer: reading after %lld bytes: %s (%s)\n", rd.got,
			rd.err.msg, ktlsh_code_name(rd.rc));
		rc = 1;
	}
	ktlsh_conn_key_updates(rd.conn, &urx, &utx);
	printf("sent %zu received %lld keyupdates-sent %lu keyupdates-received %lu\n",
	       rc ? off : size, rd.got, utx, urx);
	fflush(stdout);
	if (ktlsh_close(rd.conn, &err))
		fprintf(stderr, "rekey-peer: closing: %s\n", err.msg);
	close(rd.out);
	if (hsd)
		ktlsh_hsd_close(hsd);
	else
		ktlsh_ctx_free(ctx);
	free(data);
	return rc;
}
