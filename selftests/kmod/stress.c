// SPDX-License-Identifier: GPL-2.0
/*
 * Concurrency and lifecycle under load: many connections opened, used and
 * closed; threads sending and receiving on the same sockets at once;
 * shutdown and close while a send or recv is blocked; a process killed
 * mid-transfer. Afterwards the module's reference count is back where it
 * was, no socket is counted as having keys, kernel memory is back to its
 * baseline within a stated tolerance, and rmmod succeeds (the module is
 * loaded again at the end).
 *
 * Runs right before lifecycle in the VM (it unloads the module).
 * ./stress [--conns=N] [harness options]; KTO_STRESS_CONNS does the same.
 */
#include <fcntl.h>
#include <linux/tls.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#include "kselftest_harness.h"
#include "kto_test.h"

#define BASELINE_FILE	"/tmp/kto-stress-baseline"
#define SLABINFO_COPY	"/tmp/kto-stress-slabinfo"
/* Kernel memory allowed to stay allocated after everything is closed. */
/*
 * Slab totals count the objects SLUB keeps cached per CPU as in use, which
 * after thousands of connections moves by several hundred KiB with no leak
 * at all (seen up to ~600 KiB): the precise checks are the module's own
 * live-object counters and TCP's socket count, both exact.
 */
#define SLAB_TOLERANCE	(1024 * 1024)
#define PAGES_TOLERANCE	(4 * 1024 * 1024)

static long n_conns = 1000;
/*
 * KTO_STRESS_SLAB_TOLERANCE / KTO_STRESS_PAGES_TOLERANCE (bytes) widen
 * them on the debug kernel, where KASAN's quarantine keeps freed objects
 * (up to 1/32 of memory) and kmemleak's metadata lives in slab; kmemleak
 * is the leak check there.
 */
static long slab_tolerance = SLAB_TOLERANCE;
static long pages_tolerance = PAGES_TOLERANCE;

/* ---- helpers ---- */

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void timeouts(int fd, int sec)
{
	struct timeval tv = { .tv_sec = sec };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static const struct {
	uint16_t version, cipher;
	socklen_t len;
} suites[] = {
	{ TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128, sizeof(struct tls12_crypto_info_aes_gcm_128) },
	{ TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256, sizeof(struct tls12_crypto_info_aes_gcm_256) },
	{ TLS_1_2_VERSION, TLS_CIPHER_CHACHA20_POLY1305, sizeof(struct tls12_crypto_info_chacha20_poly1305) },
	{ TLS_1_2_VERSION, TLS_CIPHER_AES_CCM_128, sizeof(struct tls12_crypto_info_aes_ccm_128) },
	{ TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128, sizeof(struct tls12_crypto_info_aes_gcm_128) },
	{ TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_256, sizeof(struct tls12_crypto_info_aes_gcm_256) },
	{ TLS_1_3_VERSION, TLS_CIPHER_CHACHA20_POLY1305, sizeof(struct tls12_crypto_info_chacha20_poly1305) },
	{ TLS_1_3_VERSION, TLS_CIPHER_AES_CCM_128, sizeof(struct tls12_crypto_info_aes_ccm_128) },
};
#define N_SUITES (int)(sizeof(suites) / sizeof(suites[0]))

static socklen_t keys_make(union kto_crypto_info *k, int suite, unsigned int salt)
{
	unsigned char *p = (unsigned char *)k;
	socklen_t i;

	memset(k, 0, sizeof(*k));
	for (i = sizeof(k->info); i < suites[suite].len - 8; i++)
		p[i] = (i * 131 + salt) & 0xff;
	k->info.version = suites[suite].version;
	k->info.cipher_type = suites[suite].cipher;
	return suites[suite].len;
}

/* A loopback pair with TLS both ways on both ends (c's TX is s's RX). */
static int tls_pair(int suite, unsigned int salt, int *c, int *s)
{
	union kto_crypto_info a, b;
	socklen_t len;

	if (kto_tcp_pair(AF_INET, c, s))
		return -1;
	len = keys_make(&a, suite, salt);
	keys_make(&b, suite, salt + 77);
	if (setsockopt(*c, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) ||
	    setsockopt(*s, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) ||
	    setsockopt(*c, SOL_TLS, TLS_TX, &a, len) ||
	    setsockopt(*s, SOL_TLS, TLS_RX, &a, len) ||
	    setsockopt(*s, SOL_TLS, TLS_TX, &b, len) ||
	    setsockopt(*c, SOL_TLS, TLS_RX, &b, len)) {
		int err = errno;

		close(*c);
		close(*s);
		errno = err;
		return -1;
	}
	timeouts(*c, 10);
	timeouts(*s, 10);
	return 0;
}


static long meminfo_kb(const char *name)
{
	char line[256];
	size_t n = strlen(name);
	long val = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ':')
			val = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return val;
}

/*
 * Free pages, in KiB: MemFree leaves out the pages that sit on the
 * per-CPU free lists (the "count:" of each pageset in /proc/zoneinfo),
 * which come and go by many MiB with the allocation pattern.
 */
static long free_kb(void)
{
	char line[256];
	long pcp = 0, n;
	FILE *f = fopen("/proc/zoneinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " count: %ld", &n) == 1)
			pcp += n;
	fclose(f);
	return meminfo_kb("MemFree") + pcp * (sysconf(_SC_PAGESIZE) / 1024);
}

/*
 * Bytes in allocated slab objects, from /proc/slabinfo, leaving out the
 * caches of TIME_WAIT and request sockets: those belong to TCP and go
 * away on TCP's timers, not when our sockets close.
 */
static long slab_bytes(void)
{
	char line[512], name[128];
	long active, num, size, total = 0;
	FILE *f = fopen("/proc/slabinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%127s %ld %ld %ld", name, &active, &num, &size) != 4)
			continue;
		if (!strncmp(name, "tw_sock_", 8) || !strncmp(name, "request_sock_", 13))
			continue;
		total += active * size;
	}
	fclose(f);
	return total;
}

/* The caches that grew by more than @min bytes since the baseline. */
static void slab_growth(long min)
{
	char line[512], name[128], bname[128];
	long active, num, size, bactive, bsize;
	FILE *f = fopen("/proc/slabinfo", "r"), *b;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%127s %ld %ld %ld", name, &active, &num, &size) != 4)
			continue;
		b = fopen(SLABINFO_COPY, "r");
		if (!b)
			break;
		bactive = 0;
		bsize = size;
		while (fgets(line, sizeof(line), b))
			if (sscanf(line, "%127s %ld %*d %ld", bname, &num, &bsize) == 3 &&
			    !strcmp(bname, name))
				bactive = num;
		fclose(b);
		if ((active - bactive) * size > min)
			printf("#   %-24s %+ld objects of %ld bytes\n", name,
			       active - bactive, size);
	}
	fclose(f);
}

/* Let closed sockets finish (RCU, TCP teardown) and caches shrink. */
static void settle(void)
{
	int fd;

	usleep(500 * 1000);
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "3", 1) != 1)
			perror("drop_caches");
		close(fd);
	}
	usleep(500 * 1000);
}

struct mem {
	long slab, unreclaim_kb, free_kb;
};

/* The smallest of a few samples: transient allocations do not count. */
static void mem_sample(struct mem *m)
{
	int i;

	settle();
	m->slab = slab_bytes();
	m->unreclaim_kb = meminfo_kb("SUnreclaim");
	m->free_kb = free_kb();
	for (i = 0; i < 3; i++) {
		long s, u, f;

		usleep(200 * 1000);
		s = slab_bytes();
		u = meminfo_kb("SUnreclaim");
		f = free_kb();
		if (s < m->slab)
			m->slab = s;
		if (u < m->unreclaim_kb)
			m->unreclaim_kb = u;
		if (f > m->free_kb)
			m->free_kb = f;
	}
}

/* TCP sockets allocated (/proc/net/sockstat), once it drops to 0 or time is up. */
static long tcp_sockets_allocated(int seconds)
{
	char line[256];
	long alloc = -1;
	int i;

	for (i = 0; i < seconds * 10; i++) {
		FILE *f = fopen("/proc/net/sockstat", "r");

		alloc = -1;
		if (!f)
			return -1;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "TCP: inuse %*d orphan %*d tw %*d alloc %ld", &alloc) == 1)
				break;
		fclose(f);
		if (!alloc)
			return 0;
		usleep(100 * 1000);
	}
	return alloc;
}

static int wait_refcnt(int want, int seconds)
{
	int i, r = -2;

	for (i = 0; i < seconds * 10; i++) {
		r = kto_module_refcnt(KTO_MODULE);
		if (r == want)
			return r;
		usleep(100 * 1000);
	}
	return r;
}

/* Only for TEST_F_TIMEOUT: the default 30 s is too short under emulation. */
FIXTURE(stress) {
	int unused;
};

FIXTURE_SETUP(stress)
{
}

FIXTURE_TEARDOWN(stress)
{
}

/* ---- the baseline, after a warm-up that builds everything built once ---- */

static void warm_up(struct __test_metadata *_metadata, int rounds)
{
	char buf[64];
	int i, c, s;

	for (i = 0; i < rounds; i++) {
		ASSERT_EQ(tls_pair(i % N_SUITES, i, &c, &s), 0)
			TH_LOG("pair %d: %s", i, strerror(errno));
		ASSERT_EQ(send(c, "warm", 4, 0), 4);
		ASSERT_EQ(kto_read_exact(s, buf, 4), 0);
		ASSERT_EQ(send(s, "warm", 4, 0), 4);
		ASSERT_EQ(kto_read_exact(c, buf, 4), 0);
		close(c);
		close(s);
	}
}

TEST_F_TIMEOUT(stress, a_baseline, 120)
{
	struct mem m;
	FILE *f;

	ASSERT_EQ(wait_refcnt(0, 10), 0) TH_LOG("sockets of earlier tests still hold the module");
	/*
	 * No TIME_WAIT sockets: each holds TCP bind buckets for 60 s, which
	 * would look like a leak of two small objects per connection.
	 */
	f = fopen("/proc/sys/net/ipv4/tcp_max_tw_buckets", "w");
	ASSERT_NE(f, NULL);
	fprintf(f, "0\n");
	fclose(f);
	warm_up(_metadata, 4 * N_SUITES);
	ASSERT_EQ(wait_refcnt(0, 10), 0);
	mem_sample(&m);
	f = fopen(BASELINE_FILE, "w");
	ASSERT_NE(f, NULL);
	fprintf(f, "%ld %ld %ld\n", m.slab, m.unreclaim_kb, m.free_kb);
	fclose(f);
	ASSERT_EQ(system("cat /proc/slabinfo > " SLABINFO_COPY), 0);
	TH_LOG("baseline: slab objects %ld KiB, SUnreclaim %ld KiB, MemFree %ld KiB",
	       m.slab / 1024, m.unreclaim_kb, m.free_kb);
}

/* ---- many connections ---- */

TEST_F_TIMEOUT(stress, connections, 600)
{
	static char data[20000], buf[20000];
	struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	double t0 = now();
	long i;
	int c, s;

	for (i = 0; i < (long)sizeof(data); i++)
		data[i] = i * 7;
	for (i = 0; i < n_conns; i++) {
		size_t len = 1 + (i * 977) % sizeof(data);

		ASSERT_EQ(tls_pair(i % N_SUITES, i, &c, &s), 0)
			TH_LOG("connection %ld: %s", i, strerror(errno));
		ASSERT_EQ(send(c, data, len, 0), (ssize_t)len);
		ASSERT_EQ(kto_read_exact(s, buf, len), 0);
		ASSERT_EQ(memcmp(buf, data, len), 0);
		ASSERT_EQ(send(s, data, 100, 0), 100);
		ASSERT_EQ(kto_read_exact(c, buf, 100), 0);
		/* Close in every order, gracefully, half-way, or with a reset. */
		switch (i % 4) {
		case 0:
			close(c);
			close(s);
			break;
		case 1:
			ASSERT_EQ(shutdown(c, SHUT_WR), 0);
			ASSERT_EQ(recv(s, buf, 1, 0), 0);
			close(s);
			close(c);
			break;
		case 2:
			setsockopt(s, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
			close(s);
			close(c);
			break;
		default:
			/* Unread data on close: TCP resets. */
			ASSERT_EQ(send(c, data, 500, 0), 500);
			close(s);
			close(c);
			break;
		}
	}
	TH_LOG("%ld connections (TLS both ways, 8 suites) in %.1f s", n_conns,
	       now() - t0);
}

/* ---- several threads on the same sockets ---- */

#define FRAME		256
#define FRAMES		1500	/* per sender */
#define SENDERS		2	/* per direction */
#define READERS		2	/* per direction */

struct stream {
	int tx, rx;		/* the sending and the receiving socket */
	int dir;
	unsigned char seen[SENDERS][FRAMES];
	int received;		/* frames, atomic */
	int bad;		/* atomic */
	char why[128];
};

struct worker {
	struct stream *st;
	int id;
};

static void frame_fill(unsigned char *f, int dir, int sender, int seq)
{
	int i;

	f[0] = dir;
	f[1] = sender;
	f[2] = seq >> 8;
	f[3] = seq & 0xff;
	for (i = 4; i < FRAME; i++)
		f[i] = (i * 31 + seq * 7 + sender * 13 + dir) & 0xff;
}

static void *sender_run(void *arg)
{
	struct worker *w = arg;
	unsigned char buf[64 * FRAME];
	int seq = 0, k, i;

	while (seq < FRAMES) {
		k = 1 + (seq * 13 + w->id) % 64;
		if (k > FRAMES - seq)
			k = FRAMES - seq;
		for (i = 0; i < k; i++)
			frame_fill(buf + i * FRAME, w->st->dir, w->id, seq + i);
		/* One send is one contiguous run of whole frames. */
		if (send(w->st->tx, buf, k * FRAME, 0) != k * FRAME) {
			__atomic_store_n(&w->st->bad, 1, __ATOMIC_RELAXED);
			snprintf(w->st->why, sizeof(w->st->why), "send: %s",
				 strerror(errno));
			break;
		}
		seq += k;
	}
	return NULL;
}

static void *reader_run(void *arg)
{
	struct worker *w = arg;
	struct stream *st = w->st;
	unsigned char f[FRAME], want[FRAME];
	int last[SENDERS] = { -1, -1 };
	ssize_t n;

	while (__atomic_load_n(&st->received, __ATOMIC_RELAXED) < SENDERS * FRAMES &&
	       !__atomic_load_n(&st->bad, __ATOMIC_RELAXED)) {
		/* A whole frame under the RX lock, or nothing. */
		n = recv(st->rx, f, FRAME, MSG_WAITALL);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n != FRAME) {
			snprintf(st->why, sizeof(st->why), "recv: %zd (%s)", n,
				 n < 0 ? strerror(errno) : "short");
			__atomic_store_n(&st->bad, 1, __ATOMIC_RELAXED);
			break;
		}
		int sender = f[1], seq = f[2] << 8 | f[3];

		if (f[0] != st->dir || sender >= SENDERS || seq >= FRAMES) {
			snprintf(st->why, sizeof(st->why), "frame header %u %u %d",
				 f[0], f[1], seq);
			__atomic_store_n(&st->bad, 1, __ATOMIC_RELAXED);
			break;
		}
		frame_fill(want, st->dir, sender, seq);
		if (memcmp(f, want, FRAME) || st->seen[sender][seq] ||
		    seq <= last[sender]) {
			snprintf(st->why, sizeof(st->why),
				 "frame %d of sender %d: %s", seq, sender,
				 memcmp(f, want, FRAME) ? "corrupt" :
				 st->seen[sender][seq] ? "twice" : "out of order");
			__atomic_store_n(&st->bad, 1, __ATOMIC_RELAXED);
			break;
		}
		st->seen[sender][seq] = 1;
		last[sender] = seq;
		__atomic_add_fetch(&st->received, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

TEST_F_TIMEOUT(stress, threads_on_same_sockets, 300)
{
	struct stream *st[2];
	struct worker w[2][SENDERS + READERS];
	pthread_t th[2][SENDERS + READERS];
	struct timeval tv = { .tv_sec = 1 };
	int c, s, d, i, suite;
	double t0 = now();

	for (suite = 0; suite < N_SUITES; suite += 3) {
		ASSERT_EQ(tls_pair(suite, 99, &c, &s), 0);
		/* Readers wake up now and then to see whether all arrived. */
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		for (d = 0; d < 2; d++) {
			st[d] = calloc(1, sizeof(*st[d]));
			ASSERT_NE(st[d], NULL);
			st[d]->dir = d;
			st[d]->tx = d ? s : c;
			st[d]->rx = d ? c : s;
			for (i = 0; i < SENDERS + READERS; i++) {
				w[d][i].st = st[d];
				w[d][i].id = i < SENDERS ? i : i - SENDERS;
				ASSERT_EQ(pthread_create(&th[d][i], NULL,
							 i < SENDERS ? sender_run : reader_run,
							 &w[d][i]), 0);
			}
		}
		for (d = 0; d < 2; d++)
			for (i = 0; i < SENDERS + READERS; i++)
				pthread_join(th[d][i], NULL);
		for (d = 0; d < 2; d++) {
			EXPECT_EQ(st[d]->bad, 0) TH_LOG("suite %d dir %d: %s", suite, d, st[d]->why);
			EXPECT_EQ(st[d]->received, SENDERS * FRAMES);
			free(st[d]);
		}
		close(c);
		close(s);
	}
	TH_LOG("3 suites x 2 directions x %d senders + %d readers, %d KiB each way, %.1f s",
	       SENDERS, READERS, SENDERS * FRAMES * FRAME / 1024, now() - t0);
}

/* ---- waking blocked callers ---- */

struct blocked {
	int fd;
	ssize_t ret;
	int err;
	double t_end;
	size_t len;
	char *buf;
};

static void *recv_run(void *arg)
{
	struct blocked *b = arg;
	char buf[64];

	b->ret = recv(b->fd, buf, sizeof(buf), 0);
	b->err = errno;
	b->t_end = now();
	return NULL;
}

static void *send_run(void *arg)
{
	struct blocked *b = arg;

	b->ret = send(b->fd, b->buf, b->len, MSG_NOSIGNAL);
	b->err = errno;
	b->t_end = now();
	return NULL;
}

enum wake { W_SHUT_RD, W_SHUT_RDWR, W_PEER_CLOSE, W_PEER_RESET, W_CLOSE_THEN_PEER };

/* A reader blocked in recv() on a TLS_RX socket, woken in each way. */
TEST_F_TIMEOUT(stress, blocked_recv_wakes, 120)
{
	static const char *const names[] = {
		"shutdown(SHUT_RD)", "shutdown(SHUT_RDWR)", "peer close",
		"peer reset", "own close, then peer close",
	};
	struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	struct blocked b;
	pthread_t th;
	double t0;
	int c, s, how;

	for (how = W_SHUT_RD; how <= W_CLOSE_THEN_PEER; how++) {
		ASSERT_EQ(tls_pair(how % N_SUITES, how, &c, &s), 0);
		memset(&b, 0, sizeof(b));
		b.fd = s;
		ASSERT_EQ(pthread_create(&th, NULL, recv_run, &b), 0);
		usleep(300 * 1000);
		t0 = now();
		switch (how) {
		case W_SHUT_RD:
			ASSERT_EQ(shutdown(s, SHUT_RD), 0);
			break;
		case W_SHUT_RDWR:
			ASSERT_EQ(shutdown(s, SHUT_RDWR), 0);
			break;
		case W_PEER_CLOSE:
			close(c);
			c = -1;
			break;
		case W_PEER_RESET:
			setsockopt(c, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
			close(c);
			c = -1;
			break;
		case W_CLOSE_THEN_PEER:
			/* The blocked call keeps the socket alive until it returns. */
			close(s);
			s = -1;
			usleep(100 * 1000);
			close(c);
			c = -1;
			break;
		}
		pthread_join(th, NULL);
		EXPECT_LT(b.t_end - t0, 3.0) TH_LOG("%s: recv took %.1f s to return",
						     names[how], b.t_end - t0);
		if (how == W_PEER_RESET) {
			EXPECT_EQ(b.ret, -1);
			EXPECT_EQ(b.err, ECONNRESET) TH_LOG("%s: %s", names[how], strerror(b.err));
		} else {
			EXPECT_EQ(b.ret, 0) TH_LOG("%s: recv returned %zd (%s)", names[how],
						   b.ret, strerror(b.err));
		}
		if (c >= 0)
			close(c);
		if (s >= 0)
			close(s);
	}
}

/*
 * A writer blocked in send() on a TLS_TX socket (the peer reads nothing),
 * woken by shutdown(SHUT_WR) from another thread, by the peer's reset, or
 * by its own close from another thread followed by the peer's reset.
 * Neither the blocked call nor the waker may wait for the send timeout.
 */
TEST_F_TIMEOUT(stress, blocked_send_wakes, 120)
{
	static const char *const names[] = {
		"shutdown(SHUT_WR) from another thread", "peer reset",
		"own close, then peer reset",
	};
	struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	struct timeval tv = { .tv_sec = 8 };
	struct blocked b;
	double t0, t_waker;
	pthread_t th;
	int c, s, how, small = 16384, outq, prev;

	for (how = 0; how < 3; how++) {
		ASSERT_EQ(tls_pair(how, how, &c, &s), 0);
		setsockopt(c, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
		setsockopt(s, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
		setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		memset(&b, 0, sizeof(b));
		b.fd = c;
		b.len = 8 << 20;
		b.buf = calloc(1, b.len);
		ASSERT_NE(b.buf, NULL);
		ASSERT_EQ(pthread_create(&th, NULL, send_run, &b), 0);
		/* Wait until the send queue stops growing: the writer sleeps. */
		prev = -1;
		for (int i = 0; i < 50; i++) {
			usleep(100 * 1000);
			ASSERT_EQ(ioctl(c, TIOCOUTQ, &outq), 0);
			if (outq > 0 && outq == prev)
				break;
			prev = outq;
		}
		t0 = now();
		switch (how) {
		case 0:
			EXPECT_EQ(shutdown(c, SHUT_WR), 0) TH_LOG("%s", strerror(errno));
			break;
		case 1:
			setsockopt(s, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
			close(s);
			s = -1;
			break;
		case 2:
			close(c);
			c = -1;
			setsockopt(s, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
			close(s);
			s = -1;
			break;
		}
		t_waker = now() - t0;
		pthread_join(th, NULL);
		EXPECT_LT(t_waker, 3.0) TH_LOG("%s: the waker took %.1f s", names[how], t_waker);
		EXPECT_LT(b.t_end - t0, 3.0) TH_LOG("%s: send took %.1f s to return (%zd, %s)",
						     names[how], b.t_end - t0, b.ret,
						     strerror(b.err));
		/* Part of the data, or EPIPE/ECONNRESET; never all of it. */
		EXPECT_LT(b.ret, (ssize_t)b.len);
		if (b.ret < 0)
			EXPECT_TRUE(b.err == EPIPE || b.err == ECONNRESET)
				TH_LOG("%s: %s", names[how], strerror(b.err));
		free(b.buf);
		if (c >= 0)
			close(c);
		if (s >= 0)
			close(s);
	}
}

/* ---- a process killed mid-transfer ---- */

static void *pump_run(void *arg)
{
	int fd = *(int *)arg;
	static char buf[65536];

	for (;;)
		if (send(fd, buf, sizeof(buf), MSG_NOSIGNAL) < 0)
			return NULL;
}

static void *drain_run(void *arg)
{
	int fd = *(int *)arg;
	char buf[65536];

	for (;;)
		if (recv(fd, buf, sizeof(buf), 0) < 0 && errno != EAGAIN)
			return NULL;
}

#define KILL_PAIRS	12

static void child_transfer(int ready)
{
	static int fds[KILL_PAIRS][2];
	pthread_t th;
	int i;

	for (i = 0; i < KILL_PAIRS; i++) {
		if (tls_pair(i % N_SUITES, i, &fds[i][0], &fds[i][1]))
			_exit(1);
		/* Both ways on some, one way (the other end stalls) on others. */
		pthread_create(&th, NULL, pump_run, &fds[i][0]);
		pthread_create(&th, NULL, pump_run, &fds[i][1]);
		if (i % 3)
			pthread_create(&th, NULL, drain_run, &fds[i][1]);
		if (i % 2)
			pthread_create(&th, NULL, drain_run, &fds[i][0]);
	}
	if (write(ready, "r", 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

TEST_F_TIMEOUT(stress, killed_mid_transfer, 120)
{
	int base = kto_module_refcnt(KTO_MODULE), p[2], round, status;
	pid_t pid;
	char r;

	ASSERT_GE(base, 0);
	for (round = 0; round < 5; round++) {
		ASSERT_EQ(pipe(p), 0);
		pid = fork();
		ASSERT_GE(pid, 0);
		if (!pid) {
			close(p[0]);
			child_transfer(p[1]);
		}
		close(p[1]);
		ASSERT_EQ(read(p[0], &r, 1), 1) TH_LOG("the child could not set up its sockets");
		close(p[0]);
		usleep((100 + 150 * round) * 1000);
		EXPECT_GE(kto_module_refcnt(KTO_MODULE), base + 2 * KILL_PAIRS);
		ASSERT_EQ(kill(pid, SIGKILL), 0);
		ASSERT_EQ(waitpid(pid, &status, 0), pid);
		EXPECT_TRUE(WIFSIGNALED(status));
		EXPECT_EQ(wait_refcnt(base, 20), base)
			TH_LOG("round %d: the module is still referenced after the kill", round);
	}
}

/* ---- afterwards: nothing held, memory back, rmmod works ---- */

static int load_ours(void)
{
	char path[256];
	struct utsname u;
	int fd, ret;

	if (uname(&u))
		return -1;
	snprintf(path, sizeof(path), "/lib/modules/%s/extra/%s.ko", u.release,
		 KTO_MODULE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ret = syscall(SYS_finit_module, fd, "", 0);
	close(fd);
	return ret;
}

TEST_F_TIMEOUT(stress, z_no_leak_and_unload, 120)
{
	struct mem base, m;
	long spare_kb;
	FILE *f;
	int i;

	f = fopen(BASELINE_FILE, "r");
	ASSERT_NE(f, NULL) TH_LOG("no baseline: run the whole of ./stress");
	ASSERT_EQ(fscanf(f, "%ld %ld %ld", &base.slab, &base.unreclaim_kb,
			 &base.free_kb), 3);
	fclose(f);

	EXPECT_EQ(wait_refcnt(0, 20), 0);
	EXPECT_EQ(kto_stat_get("TlsCurrTxSw"), 0);
	EXPECT_EQ(kto_stat_get("TlsCurrRxSw"), 0);
	/* Everything the module allocated is back, exactly. */
	EXPECT_EQ(kto_stat_get("KtoLiveContexts"), 0);
	EXPECT_EQ(kto_stat_get("KtoLivePages"), 0);
	EXPECT_EQ(kto_stat_get("KtoLivePeekedRecords"), 0);
	/*
	 * Spare pages (pages.c): at most spare_pages per CPU and direction,
	 * plus one TX tail page per CPU.
	 */
	f = fopen("/sys/module/" KTO_MODULE "/parameters/spare_pages", "r");
	ASSERT_NE(f, NULL);
	ASSERT_EQ(fscanf(f, "%d", &i), 1);
	fclose(f);
	EXPECT_LE(kto_stat_get("KtoSparePages"),
		  (2L * i + 1) * sysconf(_SC_NPROCESSORS_CONF));
	/* And TCP has freed every socket of ours. */
	EXPECT_EQ(tcp_sockets_allocated(20), 0);
	mem_sample(&m);
	/* The spare pages are the module's on purpose: counted, not lost. */
	spare_kb = kto_stat_get("KtoSparePages") * (sysconf(_SC_PAGESIZE) / 1024);
	TH_LOG("slab objects %+ld KiB (tolerance %ld), SUnreclaim %+ld KiB, free pages %+ld KiB of which %ld KiB spare pages (tolerance %ld)",
	       (m.slab - base.slab) / 1024, slab_tolerance / 1024,
	       m.unreclaim_kb - base.unreclaim_kb, m.free_kb - base.free_kb,
	       spare_kb, pages_tolerance / 1024);
	if (m.slab - base.slab >= slab_tolerance / 4)
		slab_growth(32 * 1024);
	EXPECT_LT(m.slab - base.slab, slab_tolerance);
	EXPECT_LT((base.free_kb - m.free_kb - spare_kb) * 1024, pages_tolerance);

	/* rmmod works now, and the module comes back for what runs next. */
	for (i = 0; i < 100; i++) {
		if (!syscall(SYS_delete_module, KTO_MODULE, O_NONBLOCK))
			break;
		ASSERT_TRUE(errno == EWOULDBLOCK || errno == EAGAIN)
			TH_LOG("delete_module: %s", strerror(errno));
		usleep(100 * 1000);
	}
	EXPECT_EQ(kto_module_refcnt(KTO_MODULE), -1) TH_LOG("rmmod did not succeed");
	ASSERT_EQ(load_ours(), 0) TH_LOG("reloading: %s", strerror(errno));
	EXPECT_EQ(kto_module_refcnt(KTO_MODULE), 0);
}

int main(int argc, char **argv)
{
	const char *env = getenv("KTO_STRESS_CONNS");
	int i, j;

	if (env && *env)
		n_conns = strtol(env, NULL, 0);
	env = getenv("KTO_STRESS_SLAB_TOLERANCE");
	if (env && *env)
		slab_tolerance = strtol(env, NULL, 0);
	env = getenv("KTO_STRESS_PAGES_TOLERANCE");
	if (env && *env)
		pages_tolerance = strtol(env, NULL, 0);
	for (i = j = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--conns=", 8))
			n_conns = strtol(argv[i] + 8, NULL, 0);
		else
			argv[j++] = argv[i];
	}
	argv[j] = NULL;
	return test_harness_run(j, argv);
}
