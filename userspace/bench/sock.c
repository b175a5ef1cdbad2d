// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel socket paths: plain TCP and kTLS (the in-tree tls.ko or ours,
 * told apart only by the ULP name), with send() or sendfile(). No
 * handshake: both ends get the same random key, the sender TLS_TX, the
 * receiver TLS_RX.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "kto_crypto_info.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

#define RECV_BUF (256 * 1024)
#define FILE_PATH "/tmp/ktls-bench.data"

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Busy time of all CPUs: user, nice, system, irq, softirq, steal. */
double bench_cpu_seconds(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		   &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 8)
		return 0;
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / sysconf(_SC_CLK_TCK);
}

int bench_tcp_pair(int *a, int *b, char *err, size_t errlen)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*a = *b = -1;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&sin, sizeof(sin)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sin, &len))
		goto fail;
	*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*a < 0 || connect(*a, (struct sockaddr *)&sin, len))
		goto fail;
	*b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (*b < 0)
		goto fail;
	close(l);
	return 0;
fail:
	snprintf(err, errlen, "loopback TCP connection: %s", strerror(errno));
	if (l >= 0)
		close(l);
	if (*a >= 0)
		close(*a);
	*a = -1;
	return -1;
}

/*
 * Attach the ULP and install the key from keymat (random bytes, at least
 * sizeof(union kto_crypto_info) long) for TX and/or RX.
 */
int bench_ktls_install(int fd, const char *ulp, const struct bench_cipher *c, int tls13,
		       int tx, int rx, const unsigned char *keymat, char *err, size_t errlen)
{
	union kto_crypto_info ci;

	memcpy(&ci, keymat, sizeof(ci));
	ci.info.version = tls13 ? TLS_1_3_VERSION : TLS_1_2_VERSION;
	ci.info.cipher_type = c->type;
	if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, ulp, strlen(ulp) + 1)) {
		snprintf(err, errlen, "setsockopt(TCP_ULP, \"%s\"): %s%s", ulp, strerror(errno),
			 errno == ENOENT ? " (no such ULP: is the module loaded?)" : "");
		return -1;
	}
	if (tx && setsockopt(fd, SOL_TLS, TLS_TX, &ci, c->info_size)) {
		snprintf(err, errlen, "TLS_TX (%s, ULP \"%s\"): %s", c->label, ulp, strerror(errno));
		return -1;
	}
	if (rx && setsockopt(fd, SOL_TLS, TLS_RX, &ci, c->info_size)) {
		snprintf(err, errlen, "TLS_RX (%s, ULP \"%s\"): %s", c->label, ulp, strerror(errno));
		return -1;
	}
	memset(&ci, 0, sizeof(ci));
	return 0;
}

int bench_ulp_probe(const char *ulp, char *err, size_t errlen)
{
	int a, b, rc;

	if (bench_tcp_pair(&a, &b, err, errlen))
		return -1;
	rc = setsockopt(a, IPPROTO_TCP, TCP_ULP, ulp, strlen(ulp) + 1);
	if (rc)
		snprintf(err, errlen, "ULP \"%s\" is not available: %s", ulp, strerror(errno));
	close(a);
	close(b);
	return rc ? -1 : 0;
}

/* The file sendfile() reads, in tmpfs, cycled through by every sender. */
static size_t file_size;

int bench_file_init(size_t size, char *err, size_t errlen)
{
	unsigned char *buf = malloc(1 << 20);
	size_t done;
	int fd;

	fd = open(FILE_PATH, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !buf) {
		snprintf(err, errlen, "creating %s: %s", FILE_PATH, strerror(errno));
		goto fail;
	}
	for (done = 0; done < size; done += 1 << 20) {
		if (getrandom(buf, 1 << 20, 0) != 1 << 20 || write(fd, buf, 1 << 20) != 1 << 20) {
			snprintf(err, errlen, "writing %s: %s", FILE_PATH, strerror(errno));
			goto fail;
		}
	}
	close(fd);
	free(buf);
	file_size = done;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return -1;
}

void bench_file_uninit(void)
{
	unlink(FILE_PATH);
}

struct sock_conn {
	int snd, rcv, file;
	enum bench_mode mode;
	size_t size;
	unsigned char *buf;
};

static int sock_setup(void *conn, int sender, char *err, size_t errlen)
{
	(void)conn;
	(void)sender;
	(void)err;
	(void)errlen;
	return 0;
}

static int64_t sock_send(void *arg, double deadline, char *err, size_t errlen)
{
	struct sock_conn *c = arg;
	int64_t total = 0;
	off_t off = 0;
	size_t done;
	ssize_t n;

	while (bench_now() < deadline) {
		if (c->mode == BENCH_SENDFILE && off + c->size > file_size)
			off = 0;
		for (done = 0; done < c->size; done += n) {
			if (c->mode == BENCH_SENDFILE)
				n = sendfile(c->snd, c->file, &off, c->size - done);
			else
				n = send(c->snd, c->buf + done, c->size - done, 0);
			if (n <= 0) {
				snprintf(err, errlen, "%s: %s",
					 c->mode == BENCH_SENDFILE ? "sendfile" : "send",
					 n ? strerror(errno) : "wrote nothing");
				shutdown(c->snd, SHUT_RDWR);
				return -1;
			}
		}
		total += c->size;
	}
	if (shutdown(c->snd, SHUT_WR)) {
		snprintf(err, errlen, "shutdown: %s", strerror(errno));
		return -1;
	}
	return total;
}

static int64_t sock_recv(void *arg, char *err, size_t errlen)
{
	struct sock_conn *c = arg;
	unsigned char *buf = malloc(RECV_BUF);
	int64_t total = 0;
	ssize_t n;

	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while ((n = recv(c->rcv, buf, RECV_BUF, 0)) > 0)
		total += n;
	if (n < 0) {
		snprintf(err, errlen, "recv: %s", strerror(errno));
		total = -1;
	}
	free(buf);
	return total;
}

static const struct bench_conn_ops sock_ops = {
	.setup = sock_setup,
	.send = sock_send,
	.recv = sock_recv,
};

int bench_sock_run(const struct bench_job *job, struct bench_result *res, char *err,
		   size_t errlen)
{
	struct sock_conn conn[BENCH_MAX_CONNS];
	void *ptrs[BENCH_MAX_CONNS];
	unsigned char keymat[128];
	int i, n = 0, rc = -1;

	if (job->conns > BENCH_MAX_CONNS) {
		snprintf(err, errlen, "at most %d connections", BENCH_MAX_CONNS);
		return -1;
	}
	memset(conn, 0, sizeof(conn));
	for (i = 0; i < job->conns; i++) {
		struct sock_conn *c = &conn[i];

		c->file = -1;
		if (bench_tcp_pair(&c->snd, &c->rcv, err, errlen))
			goto out;
		n++;
		c->mode = job->mode;
		c->size = job->size;
		if (job->mode == BENCH_SENDFILE) {
			c->file = open(FILE_PATH, O_RDONLY | O_CLOEXEC);
			if (c->file < 0) {
				snprintf(err, errlen, "%s: %s", FILE_PATH, strerror(errno));
				goto out;
			}
		} else {
			c->buf = malloc(job->size);
			if (!c->buf) {
				snprintf(err, errlen, "out of memory");
				goto out;
			}
			memset(c->buf, 0x5a ^ i, job->size);
		}
		if (job->path != BENCH_TCP) {
			if (getrandom(keymat, sizeof(keymat), 0) != sizeof(keymat)) {
				snprintf(err, errlen, "getrandom: %s", strerror(errno));
				goto out;
			}
			if (bench_ktls_install(c->snd, job->ulp, job->cipher, job->tls13, 1, 0,
					       keymat, err, errlen) ||
			    bench_ktls_install(c->rcv, job->ulp, job->cipher, job->tls13, 0, 1,
					       keymat, err, errlen))
				goto out;
		}
		ptrs[i] = c;
	}
	rc = bench_run_conns(&sock_ops, ptrs, job->conns, job->seconds, res, err, errlen);
out:
	memset(keymat, 0, sizeof(keymat));
	for (i = 0; i < n; i++) {
		close(conn[i].snd);
		close(conn[i].rcv);
		if (conn[i].file >= 0)
			close(conn[i].file);
		free(conn[i].buf);
	}
	return rc;
}
