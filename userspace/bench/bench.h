/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktls-bench internals, by file. One measurement moves data for a fixed
 * time over one or more loopback connections (or through AF_ALG) and
 * reports the bytes the receivers got, the wall time and the CPU time the
 * whole machine spent (busy jiffies of /proc/stat).
 */
#ifndef KTLS_BENCH_H
#define KTLS_BENCH_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_MAX_CONNS 256	/* per measurement: two threads each */

enum bench_path {
	BENCH_TCP,	/* plain TCP: the ceiling without crypto */
	BENCH_AEAD,	/* the kernel's AEAD through AF_ALG: the crypto ceiling */
	BENCH_OPENSSL,	/* SSL_write -> SSL_read, records in userspace */
	BENCH_INTREE,	/* the in-tree kTLS (tls.ko), ULP "tls" */
	BENCH_OURS,	/* ktls_offload, ULP "kto" by default */
	BENCH_NR_PATHS
};

enum bench_mode {
	BENCH_SEND,	/* send() from a buffer; AF_ALG: encryption */
	BENCH_SENDFILE,	/* sendfile() from a file in /tmp */
	BENCH_DECRYPT,	/* AF_ALG only: decryption of what it encrypted once */
};

struct bench_cipher {
	const char *name;	/* command-line name */
	const char *label;	/* table name */
	unsigned short type;	/* TLS_CIPHER_* */
	size_t info_size;	/* sizeof(struct tls12_crypto_info_*) */
	size_t key_len;
	const char *alg;	/* AF_ALG name */
	const char *ossl12;	/* OpenSSL TLS 1.2 cipher list */
	const char *ossl13;	/* OpenSSL TLS 1.3 ciphersuite */
};

/* What one measurement runs. */
struct bench_job {
	enum bench_path path;
	enum bench_mode mode;
	const struct bench_cipher *cipher;
	int null_aead;		/* AF_ALG: the null AEAD instead of the cipher's */
	int tls13;
	size_t size;		/* bytes per send()/sendfile()/SSL_write() */
	int conns;
	double seconds;		/* how long the senders send */
	const char *ulp;	/* for the kTLS paths */
};

struct bench_result {
	uint64_t bytes;		/* received (AEAD: plaintext encrypted) */
	double wall;		/* seconds, start to the last receiver's EOF */
	double cpu;		/* busy CPU seconds of the whole VM meanwhile */
};

/* ktls-bench.c */
extern const char *bench_prog;
void bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* sock.c: loopback pairs, kTLS keys, the TCP and kTLS paths, the clock */
double bench_now(void);
double bench_cpu_seconds(void);
int bench_tcp_pair(int *a, int *b, char *err, size_t errlen);
int bench_ktls_install(int fd, const char *ulp, const struct bench_cipher *c, int tls13,
		       int tx, int rx, const unsigned char *keymat, char *err, size_t errlen);
int bench_ulp_probe(const char *ulp, char *err, size_t errlen);
int bench_file_init(size_t size, char *err, size_t errlen);
void bench_file_uninit(void);
int bench_sock_run(const struct bench_job *job, struct bench_result *res, char *err,
		   size_t errlen);

/* conns.c: the timed phase shared by the socket paths (threads, barriers) */
struct bench_conn_ops {
	/* Before the clock starts (handshakes); 0 or -1 with err set. */
	int (*setup)(void *conn, int sender, char *err, size_t errlen);
	/* Send until the deadline; bytes sent, -1 with err set. */
	int64_t (*send)(void *conn, double deadline, char *err, size_t errlen);
	/* Receive until EOF; bytes received, -1 with err set. */
	int64_t (*recv)(void *conn, char *err, size_t errlen);
};

int bench_run_conns(const struct bench_conn_ops *ops, void **conns, int n, double seconds,
		    struct bench_result *res, char *err, size_t errlen);

/* ossl.c: userspace OpenSSL */
int bench_ossl_init(char *err, size_t errlen);
void bench_ossl_uninit(void);
int bench_ossl_run(const struct bench_job *job, struct bench_result *res, char *err,
		   size_t errlen);

/* alg.c: AF_ALG, the kernel's AEAD or a null one for AF_ALG's own cost */
int bench_alg_run(const struct bench_job *job, struct bench_result *res, char *err,
		  size_t errlen);

/* mem.c: kernel memory per idle connection */
struct bench_mem {
	double slab;		/* Slab + VmallocUsed + Percpu growth, bytes per connection */
	double used;		/* MemTotal - MemFree growth, bytes per connection */
};

int bench_mem_run(const char *ulp, const struct bench_cipher *c, int pairs,
		  struct bench_mem *res, char *err, size_t errlen);

#endif
