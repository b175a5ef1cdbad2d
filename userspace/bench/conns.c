// SPDX-License-Identifier: GPL-2.0
/*
 * The timed phase of the socket paths: a sender and a receiver thread per
 * connection. Every thread first does its setup (the OpenSSL handshake),
 * then all meet at a barrier; the main thread reads the clock and the CPU
 * counters and releases them. Senders stop at the deadline and shut their
 * side down; the measurement ends when the last receiver has seen EOF.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct worker {
	pthread_t tid;
	const struct bench_conn_ops *ops;
	void *conn;
	int sender;
	int64_t bytes;
	char err[160];
};

static pthread_barrier_t ready, go;
static double deadline;

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int ok = w->ops->setup(w->conn, w->sender, w->err, sizeof(w->err)) == 0;

	pthread_barrier_wait(&ready);
	pthread_barrier_wait(&go);
	if (!ok) {
		w->bytes = -1;
		return NULL;
	}
	if (w->sender)
		w->bytes = w->ops->send(w->conn, deadline, w->err, sizeof(w->err));
	else
		w->bytes = w->ops->recv(w->conn, w->err, sizeof(w->err));
	return NULL;
}

int bench_run_conns(const struct bench_conn_ops *ops, void **conns, int n, double seconds,
		    struct bench_result *res, char *err, size_t errlen)
{
	struct worker *w;
	pthread_attr_t attr;
	double t0, c0;
	int i, started = 0, rc = 0;
	int64_t sent = 0, got = 0;

	if (n > BENCH_MAX_CONNS) {
		snprintf(err, errlen, "at most %d connections", BENCH_MAX_CONNS);
		return -1;
	}
	w = calloc(2 * n, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* 512 threads with glibc's 8 MiB stacks would be 4 GiB of address space. */
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_barrier_init(&ready, NULL, 2 * n + 1);
	pthread_barrier_init(&go, NULL, 2 * n + 1);
	for (i = 0; i < 2 * n; i++) {
		w[i].ops = ops;
		w[i].conn = conns[i / 2];
		w[i].sender = !(i & 1);
		if (pthread_create(&w[i].tid, &attr, worker_main, &w[i])) {
			/* Cannot meet the barrier count: nothing sane is left to do. */
			bench_fail("cannot create a thread (%d connections)", n);
		}
		started++;
	}
	pthread_attr_destroy(&attr);
	pthread_barrier_wait(&ready);
	c0 = bench_cpu_seconds();
	t0 = bench_now();
	deadline = t0 + seconds;
	pthread_barrier_wait(&go);
	for (i = 0; i < started; i++)
		pthread_join(w[i].tid, NULL);
	res->wall = bench_now() - t0;
	res->cpu = bench_cpu_seconds() - c0;
	pthread_barrier_destroy(&ready);
	pthread_barrier_destroy(&go);

	for (i = 0; i < started; i++) {
		if (w[i].bytes < 0) {
			if (!rc)
				snprintf(err, errlen, "%s %d: %s", w[i].sender ? "sender" : "receiver",
					 i / 2, w[i].err[0] ? w[i].err : "failed");
			rc = -1;
		} else if (w[i].sender) {
			sent += w[i].bytes;
		} else {
			got += w[i].bytes;
		}
	}
	if (!rc && sent != got) {
		snprintf(err, errlen, "the receivers got %lld bytes, the senders sent %lld",
			 (long long)got, (long long)sent);
		rc = -1;
	}
	res->bytes = got;
	free(w);
	return rc;
}
