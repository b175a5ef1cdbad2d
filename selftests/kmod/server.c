// SPDX-License-Identifier: GPL-2.0
/*
 * The record layer under the conditions servers meet: a peer that stops
 * reading, O_NONBLOCK close and shutdown, SO_LINGER, a second thread on
 * the same socket, a rekey while a writer sleeps, signals in the middle of
 * blocking calls, MSG_PEEK against a flood of records, connect(AF_UNSPEC),
 * TLS_RX_EXPECT_NO_PAD, and a lost write-space wakeup.
 *
 * Each test says what it checks and whose behaviour that is: "kTLS" (the
 * in-tree tls.ko does the same; the test passes against it, run with
 * selftests/vm/run --intree --no-module) or "ours" (checked only against
 * our module: KTO_MODULE_ONLY(), or an assertion under !kto_intree()).
 *
 * A stuck peer is the server end of a pair with small buffers, with the
 * keys, that reads nothing until a drain thread starts after a delay; the
 * drain reads everything and checks it against the byte pattern the sender
 * used, so a test that would block forever on a broken module ends at the
 * drain and fails on the time it took instead of hanging.
 */
#include <fcntl.h>
#include <linux/bpf.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "kto_test.h"
#include "tlsrec.h"

#define SMALL_BUF	16384	/* SO_SNDBUF/SO_RCVBUF of stuck pairs */
#define CHUNK		16384
#define DRAIN_DELAY	7.0	/* seconds before a stuck peer reads */
#define QUICK		3.0	/* "returns at once", on a slow shared VM */

static const unsigned char key_update[] = { 24, 0, 0, 1, 0 };

/* The byte at stream offset @off: senders and the drain agree on it. */
static unsigned char pattern(uint64_t off)
{
	return (off * 131 + (off >> 12) * 7 + 1) & 0xff;
}

static void fill_pattern(unsigned char *buf, uint64_t off, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = pattern(off + i);
}

static void set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/* ---- a drain thread: the stuck peer starts reading after a delay ---- */

struct drain {
	pthread_t thread;
	int fd;
	double delay;
	int typed;		/* expect a KeyUpdate, then rekey with @next */
	const struct kto_key *next;
	uint64_t got;		/* data bytes read, all matching pattern() */
	uint64_t bad_at;	/* first mismatching offset + 1, or 0 */
	int err;		/* errno of the final recv, 0 for EOF */
	int key_updates;
};

static void *drain_run(void *arg)
{
	struct drain *d = arg;
	static __thread unsigned char buf[65536];
	double until = kto_now() + d->delay;
	ssize_t n, i;
	int type;

	while (kto_now() < until)
		usleep(20000);
	for (;;) {
		n = kto_recv_typed(d->fd, buf, sizeof(buf), 0, &type);
		if (n < 0 && errno == EKEYEXPIRED && d->next) {
			if (kto_install(d->fd, TLS_RX, d->next)) {
				d->err = errno;
				break;
			}
			d->next = NULL;
			continue;
		}
		if (n < 0) {
			d->err = errno;
			break;
		}
		if (!n) {
			d->err = 0;
			break;
		}
		if (type == 22 && n == sizeof(key_update) &&
		    !memcmp(buf, key_update, n)) {
			d->key_updates++;
			continue;
		}
		for (i = 0; i < n && !d->bad_at; i++)
			if (buf[i] != pattern(d->got + i))
				d->bad_at = d->got + i + 1;
		d->got += n;
	}
	return NULL;
}

static void drain_start(struct __test_metadata *_metadata, struct drain *d,
			int fd, double delay)
{
	memset(d, 0, sizeof(*d));
	d->fd = fd;
	d->delay = delay;
	ASSERT_EQ(kto_set_timeo_ms(fd, SO_RCVTIMEO, 15000), 0);
	ASSERT_EQ(pthread_create(&d->thread, NULL, drain_run, d), 0);
}

/* ---- a writer thread blocked in send() on a stuck peer ---- */

struct writer {
	pthread_t thread;
	int fd;
	uint64_t off;		/* stream offset of its first byte */
	size_t len;
	ssize_t ret;
	int err;
	int started;
};

static void *writer_run(void *arg)
{
	struct writer *w = arg;
	unsigned char *buf = malloc(w->len);

	if (!buf) {
		w->ret = -1;
		w->err = ENOMEM;
		return NULL;
	}
	fill_pattern(buf, w->off, w->len);
	__atomic_store_n(&w->started, 1, __ATOMIC_RELEASE);
	w->ret = send(w->fd, buf, w->len, MSG_NOSIGNAL);
	w->err = w->ret < 0 ? errno : 0;
	free(buf);
	return NULL;
}

static void writer_start(struct __test_metadata *_metadata, struct writer *w,
			 int fd, uint64_t off, size_t len)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->off = off;
	w->len = len;
	ASSERT_EQ(pthread_create(&w->thread, NULL, writer_run, w), 0);
	while (!__atomic_load_n(&w->started, __ATOMIC_ACQUIRE))
		usleep(1000);
	/* Long enough to fill the buffers and go to sleep in send(). */
	usleep(800 * 1000);
}

/* ---- signals that interrupt, without SA_RESTART ---- */

static void on_signal(int sig)
{
	(void)sig;
}

static void no_restart_handler(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
}

struct kicker {
	pthread_t thread, target;
	double delay;
};

static void *kicker_run(void *arg)
{
	struct kicker *k = arg;

	usleep(k->delay * 1e6);
	pthread_kill(k->target, SIGUSR1);
	return NULL;
}

/* Send SIGUSR1 to the calling thread after @delay seconds. */
static void kick_me(struct kicker *k, double delay)
{
	no_restart_handler();
	k->target = pthread_self();
	k->delay = delay;
	pthread_create(&k->thread, NULL, kicker_run, k);
}

/* ---- stuck pairs ---- */

/*
 * A pair with keys both ways (TLS 1.3 AES-GCM-128 unless @version says
 * otherwise) and small buffers: *c sends, *s is the peer that does not
 * read. @k_c2s gets the key of c -> s, for tests that rekey.
 */
static void stuck_pair(struct __test_metadata *_metadata, uint16_t version,
		       int *c, int *s, struct kto_key *k_c2s)
{
	struct kto_key a, b;

	ASSERT_EQ(kto_tcp_pair_bufs(AF_INET, SMALL_BUF, SMALL_BUF, c, s), 0);
	ASSERT_EQ(kto_key_random(&a, version, TLS_CIPHER_AES_GCM_128), 0);
	ASSERT_EQ(kto_key_random(&b, version, TLS_CIPHER_AES_GCM_128), 0);
	ASSERT_EQ(kto_tls_keys(*c, *s, &a, &b), 0) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(kto_timeouts(*c, 30000), 0);
	if (k_c2s)
		*k_c2s = a;
}

/*
 * Send pattern bytes on O_NONBLOCK @fd until nothing more is taken, even
 * after a while: then the module holds a record TCP has no room for (a
 * send only fails with EAGAIN when one is waiting). Returns the bytes
 * taken: all of them must reach the peer.
 */
static uint64_t fill(struct __test_metadata *_metadata, int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	unsigned char buf[CHUNK];
	uint64_t off = 0;
	ssize_t n;

	set_nonblock(fd, 1);
	for (;;) {
		fill_pattern(buf, off, sizeof(buf));
		n = send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
		if (n > 0) {
			off += n;
			ASSERT_LT(off, 64 << 20) TH_LOG("the peer never filled up");
			continue;
		}
		ASSERT_EQ(errno, EAGAIN) TH_LOG("%s", strerror(errno));
		/* The write-space work may still push the waiting record. */
		if (poll(&pfd, 1, 500) == 0)
			break;
	}
	/* Now TCP takes nothing: this record (or the one before) waits. */
	fill_pattern(buf, off, sizeof(buf));
	n = send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
	if (n > 0)
		off += n;
	else
		EXPECT_EQ(errno, EAGAIN);
	return off;
}

/* The drain read exactly @sent pattern bytes, then EOF. */
static void expect_all(struct __test_metadata *_metadata, struct drain *d,
		       uint64_t sent)
{
	EXPECT_EQ(d->bad_at, 0) TH_LOG("byte %llu differs",
				       (unsigned long long)d->bad_at - 1);
	EXPECT_EQ(d->got, sent);
	EXPECT_EQ(d->err, 0) TH_LOG("stream ended with %s", strerror(d->err));
}

/*
 * How a stuck-peer case ends the sending side: a pair whose peer has
 * stopped reading is filled up; the sender is then made blocking or not
 * and given SO_LINGER (linger >= 0), and ended with close() or
 * shutdown(SHUT_WR) while the peer starts reading after drain_after s.
 */
struct stuck_end {
	uint16_t version;
	int nonblock;
	int linger;
	bool shut;
	double drain_after;
};

/*
 * Run one stuck-peer ending: returns how long close() or shutdown() took;
 * what the peer read is in *d (its thread joined), what send() took in
 * *sent.
 */
static double end_stuck(struct __test_metadata *_metadata,
			const struct stuck_end *e, struct drain *d,
			uint64_t *sent)
{
	struct linger lg = { .l_onoff = 1, .l_linger = e->linger };
	double t;
	int c, s;

	stuck_pair(_metadata, e->version, &c, &s, NULL);
	*sent = fill(_metadata, c);
	set_nonblock(c, e->nonblock);
	if (e->linger >= 0)
		ASSERT_EQ(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	drain_start(_metadata, d, s, e->drain_after);
	t = kto_now();
	if (e->shut) {
		EXPECT_EQ(shutdown(c, SHUT_WR), 0) TH_LOG("%s", strerror(errno));
	} else {
		EXPECT_EQ(close(c), 0);
	}
	t = kto_now() - t;
	if (e->shut) {
		/* Nothing more goes out after the FIN. */
		EXPECT_EQ(send(c, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT), -1);
		EXPECT_EQ(errno, EPIPE);
	}
	pthread_join(d->thread, NULL);
	if (e->shut)
		close(c);
	close(s);
	return t;
}

/*
 * close() of a socket whose peer does not read returns at once, O_NONBLOCK
 * or blocking (kTLS: TCP's close does not wait either), and every byte
 * send() took still arrives, followed by EOF (ours: the in-tree kTLS drops
 * a record TCP had no room for yet).
 */
static void close_stuck(struct __test_metadata *_metadata, uint16_t version,
			int nonblock)
{
	const struct stuck_end e = {
		.version = version, .nonblock = nonblock, .linger = -1,
		.drain_after = DRAIN_DELAY,
	};
	struct drain d;
	uint64_t sent;
	double t = end_stuck(_metadata, &e, &d, &sent);

	EXPECT_LT(t, QUICK) TH_LOG("close took %.1f s", t);
	if (!kto_intree())
		expect_all(_metadata, &d, sent);
}

TEST(close_nonblock_stuck_peer)
{
	close_stuck(_metadata, TLS_1_3_VERSION, 1);
}

TEST(close_blocking_stuck_peer)
{
	close_stuck(_metadata, TLS_1_2_VERSION, 0);
}

/*
 * shutdown(SHUT_WR) does not wait for a peer that does not read, blocking
 * socket or not (kTLS: it leaves the socket to TCP), and queues every
 * byte taken before the FIN (ours: the in-tree kTLS does not push a
 * record TCP had no room for before the FIN).
 */
static void shutdown_stuck(struct __test_metadata *_metadata, int nonblock)
{
	const struct stuck_end e = {
		.version = TLS_1_3_VERSION, .nonblock = nonblock, .linger = -1,
		.shut = true, .drain_after = DRAIN_DELAY,
	};
	struct drain d;
	uint64_t sent;
	double t = end_stuck(_metadata, &e, &d, &sent);

	EXPECT_LT(t, QUICK) TH_LOG("shutdown took %.1f s", t);
	if (!kto_intree())
		expect_all(_metadata, &d, sent);
}

TEST(shutdown_nonblock_stuck_peer)
{
	shutdown_stuck(_metadata, 1);
}

TEST(shutdown_blocking_stuck_peer)
{
	shutdown_stuck(_metadata, 0);
}

/* SO_LINGER with 0: close returns at once and resets the peer (kTLS). */
TEST(linger_zero_resets)
{
	const struct stuck_end e = {
		.version = TLS_1_3_VERSION, .nonblock = 1, .linger = 0,
		.drain_after = 1.0,
	};
	struct drain d;
	uint64_t sent;
	double t = end_stuck(_metadata, &e, &d, &sent);

	EXPECT_LT(t, QUICK) TH_LOG("close took %.1f s", t);
	EXPECT_EQ(d.bad_at, 0);
	EXPECT_EQ(d.err, ECONNRESET) TH_LOG("stream ended with %s",
					    d.err ? strerror(d.err) : "EOF");
}

/*
 * SO_LINGER with 2 s: close waits for the peer that long, no longer (kTLS:
 * TCP's linger), and the data still arrives once the peer reads (ours).
 */
TEST(linger_two_seconds)
{
	const struct stuck_end e = {
		.version = TLS_1_3_VERSION, .nonblock = 0, .linger = 2,
		.drain_after = DRAIN_DELAY + 2,
	};
	struct drain d;
	uint64_t sent;
	double t = end_stuck(_metadata, &e, &d, &sent);

	EXPECT_GT(t, 1.5) TH_LOG("close took %.1f s", t);
	EXPECT_LT(t, DRAIN_DELAY) TH_LOG("close took %.1f s", t);
	if (!kto_intree())
		expect_all(_metadata, &d, sent);
}

/*
 * close() while another thread is blocked in send() on the same socket
 * returns at once; the send goes on until the peer reads, and everything
 * arrives, then EOF (kTLS: the file stays open until the send returns).
 */
TEST(close_while_other_thread_sends)
{
	struct writer w;
	struct drain d;
	double t;
	int c, s;

	stuck_pair(_metadata, TLS_1_3_VERSION, &c, &s, NULL);
	writer_start(_metadata, &w, c, 0, 2 << 20);
	drain_start(_metadata, &d, s, 1.0);
	t = kto_now();
	EXPECT_EQ(close(c), 0);
	t = kto_now() - t;
	EXPECT_LT(t, QUICK) TH_LOG("close took %.1f s", t);
	pthread_join(w.thread, NULL);
	EXPECT_EQ(w.ret, (ssize_t)w.len) TH_LOG("send: %s", strerror(w.err));
	pthread_join(d.thread, NULL);
	expect_all(_metadata, &d, w.len);
	close(s);
}

struct blocked_reader {
	pthread_t thread;
	int fd;
	char buf[64];
	ssize_t ret;
	int err;
};

static void *blocked_reader_run(void *arg)
{
	struct blocked_reader *r = arg;

	r->ret = recv(r->fd, r->buf, sizeof(r->buf), 0);
	r->err = r->ret < 0 ? errno : 0;
	return NULL;
}

/*
 * close() while another thread is blocked in recv() returns at once; the
 * recv still gets the next record (kTLS).
 */
TEST(close_while_other_thread_receives)
{
	struct blocked_reader r = { 0 };
	double t;
	int c, s;

	stuck_pair(_metadata, TLS_1_2_VERSION, &c, &s, NULL);
	r.fd = c;
	ASSERT_EQ(pthread_create(&r.thread, NULL, blocked_reader_run, &r), 0);
	usleep(500 * 1000);
	t = kto_now();
	EXPECT_EQ(close(c), 0);
	t = kto_now() - t;
	EXPECT_LT(t, QUICK);
	usleep(200 * 1000);
	ASSERT_EQ(send(s, "hello", 5, 0), 5);
	pthread_join(r.thread, NULL);
	EXPECT_EQ(r.ret, 5) TH_LOG("recv: %s", strerror(r.err));
	EXPECT_EQ(memcmp(r.buf, "hello", 5), 0);
	close(s);
}

/*
 * TLS 1.3 rekey while another thread's send() is in flight: refused with
 * EBUSY, as is a new TLS_TX_MAX_PAYLOAD_LEN, and the writer's send
 * completes with the old key. Once it returned, KeyUpdate + the new key
 * work, and the peer decrypts every byte across the boundary (ours: the
 * in-tree kTLS of 6.1/6.12 has no TLS 1.3 rekey).
 */
TEST(rekey_while_writer_in_flight)
{
	static unsigned char more[65536];
	struct kto_key k1, k2;
	uint16_t limit = 1000;
	struct writer w;
	struct drain d;
	int c, s;

	KTO_MODULE_ONLY("TLS 1.3 rekey");
	stuck_pair(_metadata, TLS_1_3_VERSION, &c, &s, &k1);
	k2 = k1;
	ASSERT_EQ(kto_key_random(&k2, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128), 0);
	writer_start(_metadata, &w, c, 0, 1 << 20);

	errno = 0;
	EXPECT_EQ(kto_install(c, TLS_TX, &k2), -1);
	EXPECT_EQ(errno, EBUSY) TH_LOG("rekey under a writer: %s", strerror(errno));
	errno = 0;
	EXPECT_EQ(setsockopt(c, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN, &limit,
			     sizeof(limit)), -1);
	EXPECT_EQ(errno, EBUSY);

	drain_start(_metadata, &d, s, 0.5);
	d.next = &k2;
	pthread_join(w.thread, NULL);
	EXPECT_EQ(w.ret, (ssize_t)w.len) TH_LOG("send: %s", strerror(w.err));

	ASSERT_EQ(kto_send_typed(c, 22, key_update, sizeof(key_update), 0),
		  (ssize_t)sizeof(key_update));
	ASSERT_EQ(kto_install(c, TLS_TX, &k2), 0) TH_LOG("%s", strerror(errno));
	fill_pattern(more, w.len, sizeof(more));
	ASSERT_EQ(kto_write_full(c, more, sizeof(more)), 0);
	ASSERT_EQ(shutdown(c, SHUT_WR), 0);
	pthread_join(d.thread, NULL);
	EXPECT_EQ(d.key_updates, 1);
	expect_all(_metadata, &d, w.len + sizeof(more));
	close(c);
	close(s);
}

/*
 * A second writer while the first sleeps in send() on a stuck peer: with
 * MSG_DONTWAIT it gets EAGAIN at once; blocking, it honours SO_SNDTIMEO and
 * signals (ours: the in-tree kTLS sleeps uninterruptibly for its TX lock).
 */
enum second { SECOND_DONTWAIT, SECOND_TIMEO, SECOND_SIGNAL };

static void second_writer(struct __test_metadata *_metadata, enum second how)
{
	struct kicker k;
	struct writer w;
	struct drain d;
	uint64_t sent;
	ssize_t n;
	double t;
	int c, s, err;

	KTO_MODULE_ONLY("the in-tree kTLS waits for its TX lock");
	stuck_pair(_metadata, TLS_1_3_VERSION, &c, &s, NULL);
	/* TCP is full and a record waits: the first writer must sleep. */
	sent = fill(_metadata, c);
	set_nonblock(c, 0);
	writer_start(_metadata, &w, c, sent, 1 << 20);
	drain_start(_metadata, &d, s, DRAIN_DELAY);
	if (how == SECOND_TIMEO)
		ASSERT_EQ(kto_set_timeo_ms(c, SO_SNDTIMEO, 1000), 0);
	if (how == SECOND_SIGNAL)
		kick_me(&k, 1.0);
	t = kto_now();
	n = send(c, "x", 1, MSG_NOSIGNAL | (how == SECOND_DONTWAIT ? MSG_DONTWAIT : 0));
	err = errno;
	t = kto_now() - t;
	EXPECT_EQ(n, -1);
	EXPECT_EQ(err, how == SECOND_SIGNAL ? EINTR : EAGAIN)
		TH_LOG("second send: %s", strerror(err));
	EXPECT_LT(t, how == SECOND_DONTWAIT ? 2.0 : 6.0) TH_LOG("took %.1f s", t);
	if (how != SECOND_DONTWAIT)
		EXPECT_GT(t, 0.5);
	if (how == SECOND_SIGNAL)
		pthread_join(k.thread, NULL);
	pthread_join(w.thread, NULL);
	EXPECT_EQ(w.ret, (ssize_t)w.len);
	ASSERT_EQ(shutdown(c, SHUT_WR), 0);
	pthread_join(d.thread, NULL);
	expect_all(_metadata, &d, sent + w.len);
	close(c);
	close(s);
}

TEST(second_writer_dontwait)
{
	second_writer(_metadata, SECOND_DONTWAIT);
}

TEST(second_writer_sndtimeo)
{
	second_writer(_metadata, SECOND_TIMEO);
}

TEST(second_writer_signal)
{
	second_writer(_metadata, SECOND_SIGNAL);
}

/*
 * The same for a second reader while the first waits in recv() for a
 * record: EAGAIN at once with MSG_DONTWAIT, SO_RCVTIMEO and signals
 * honoured, and the first reader still gets the record (kTLS).
 */
static void second_reader(struct __test_metadata *_metadata, enum second how)
{
	struct blocked_reader r = { 0 };
	struct kicker k;
	char buf[16];
	ssize_t n;
	double t;
	int c, s, err;

	stuck_pair(_metadata, TLS_1_2_VERSION, &c, &s, NULL);
	r.fd = c;
	ASSERT_EQ(pthread_create(&r.thread, NULL, blocked_reader_run, &r), 0);
	usleep(500 * 1000);
	if (how == SECOND_TIMEO)
		ASSERT_EQ(kto_set_timeo_ms(c, SO_RCVTIMEO, 1000), 0);
	if (how == SECOND_SIGNAL)
		kick_me(&k, 1.0);
	t = kto_now();
	n = recv(c, buf, sizeof(buf), how == SECOND_DONTWAIT ? MSG_DONTWAIT : 0);
	err = errno;
	t = kto_now() - t;
	EXPECT_EQ(n, -1);
	EXPECT_EQ(err, how == SECOND_SIGNAL ? EINTR : EAGAIN)
		TH_LOG("second recv: %s", strerror(err));
	EXPECT_LT(t, how == SECOND_DONTWAIT ? 2.0 : 6.0) TH_LOG("took %.1f s", t);
	if (how != SECOND_DONTWAIT)
		EXPECT_GT(t, 0.5);
	if (how == SECOND_SIGNAL)
		pthread_join(k.thread, NULL);
	ASSERT_EQ(send(s, "hello", 5, 0), 5);
	pthread_join(r.thread, NULL);
	EXPECT_EQ(r.ret, 5) TH_LOG("first recv: %s", strerror(r.err));
	EXPECT_EQ(memcmp(r.buf, "hello", 5), 0);
	close(c);
	close(s);
}

TEST(second_reader_dontwait)
{
	second_reader(_metadata, SECOND_DONTWAIT);
}

TEST(second_reader_rcvtimeo)
{
	second_reader(_metadata, SECOND_TIMEO);
}

TEST(second_reader_signal)
{
	second_reader(_metadata, SECOND_SIGNAL);
}

/*
 * A signal during a blocking send() or sendfile() to a stuck peer ends it
 * with the count of bytes taken (or EINTR if none); exactly those bytes
 * arrive, and sending the rest afterwards gives the whole stream once, in
 * order (kTLS).
 */
#define SIG_TOTAL	(4 << 20)

static void interrupted_send(struct __test_metadata *_metadata, int use_file)
{
	unsigned char *buf = malloc(SIG_TOTAL);
	char path[] = "/tmp/kto-server-XXXXXX";
	struct kicker k;
	struct drain d;
	off_t foff = 0;
	uint64_t done;
	ssize_t n;
	int c, s, f = -1;

	ASSERT_NE(buf, NULL);
	fill_pattern(buf, 0, SIG_TOTAL);
	if (use_file) {
		f = mkstemp(path);
		ASSERT_GE(f, 0);
		unlink(path);
		ASSERT_EQ(write(f, buf, SIG_TOTAL), SIG_TOTAL);
	}
	stuck_pair(_metadata, TLS_1_3_VERSION, &c, &s, NULL);
	kick_me(&k, 1.0);
	n = use_file ? sendfile(c, f, &foff, SIG_TOTAL) :
		       send(c, buf, SIG_TOTAL, MSG_NOSIGNAL);
	if (n < 0) {
		EXPECT_EQ(errno, EINTR) TH_LOG("%s", strerror(errno));
		n = 0;
	}
	EXPECT_LT(n, SIG_TOTAL) TH_LOG("the signal did not interrupt");
	if (use_file)
		EXPECT_EQ(foff, n);
	pthread_join(k.thread, NULL);
	done = n;

	drain_start(_metadata, &d, s, 0.2);
	while (done < SIG_TOTAL) {
		n = use_file ? sendfile(c, f, &foff, SIG_TOTAL - done) :
			       send(c, buf + done, SIG_TOTAL - done, MSG_NOSIGNAL);
		ASSERT_GT(n, 0) TH_LOG("%s", strerror(errno));
		done += n;
	}
	ASSERT_EQ(shutdown(c, SHUT_WR), 0);
	pthread_join(d.thread, NULL);
	expect_all(_metadata, &d, SIG_TOTAL);
	close(c);
	close(s);
	if (f >= 0)
		close(f);
	free(buf);
}

TEST(signal_mid_send)
{
	interrupted_send(_metadata, 0);
}

TEST(signal_mid_sendfile)
{
	interrupted_send(_metadata, 1);
}

/*
 * A signal during a blocking recv() or splice() that waits for a record:
 * EINTR, and the record that comes later is read whole (kTLS).
 */
static void interrupted_read(struct __test_metadata *_metadata, int use_splice)
{
	struct kicker k;
	char buf[64];
	int c, s, p[2];
	ssize_t n;

	stuck_pair(_metadata, TLS_1_2_VERSION, &c, &s, NULL);
	ASSERT_EQ(pipe(p), 0);
	kick_me(&k, 1.0);
	n = use_splice ? splice(c, NULL, p[1], NULL, sizeof(buf), 0) :
			 recv(c, buf, sizeof(buf), 0);
	EXPECT_EQ(n, -1);
	EXPECT_EQ(errno, EINTR) TH_LOG("%s", strerror(errno));
	pthread_join(k.thread, NULL);

	ASSERT_EQ(send(s, "after the signal", 16, 0), 16);
	if (use_splice) {
		ASSERT_EQ(splice(c, NULL, p[1], NULL, sizeof(buf), 0), 16);
		n = read(p[0], buf, sizeof(buf));
	} else {
		n = recv(c, buf, sizeof(buf), 0);
	}
	EXPECT_EQ(n, 16);
	EXPECT_EQ(memcmp(buf, "after the signal", 16), 0);
	close(p[0]);
	close(p[1]);
	close(c);
	close(s);
}

TEST(signal_mid_recv)
{
	interrupted_read(_metadata, 0);
}

TEST(signal_mid_splice_read)
{
	interrupted_read(_metadata, 1);
}

/*
 * Request/response with non-blocking, edge-triggered epoll clients whose
 * records TCP often takes only in part: the write-space work must push
 * every record's tail, or a server waits for the rest of a request forever
 * (kTLS). Four connections at once, 300 rounds each of a 40 KiB request
 * and a 1-byte answer: the old work gave up when a writer held the TX lock
 * at that moment, a race that needs the work and a writer on two CPUs.
 * Clients stop early at PP_SECONDS (the debug kernel is several times
 * slower) but must have done PP_MIN_ROUNDS by then; a stall is a 10 s
 * wait for nothing, within the harness's 30 s.
 */
#define PP_PAIRS	4
#define PP_ROUNDS	300
#define PP_MIN_ROUNDS	30
#define PP_SECONDS	12.0
#define PP_REQ		(40 * 1024)

struct pp_server {
	pthread_t thread;
	int fd;
	int rounds;
	int err;
};

static void *pp_server_run(void *arg)
{
	static __thread unsigned char req[PP_REQ];
	struct pp_server *p = arg;
	int i;

	for (i = 0; i < PP_ROUNDS; i++) {
		if (kto_read_full(p->fd, req, PP_REQ) != PP_REQ) {
			p->err = errno ? errno : EPIPE;
			return NULL;
		}
		if (send(p->fd, "k", 1, MSG_NOSIGNAL) != 1) {
			p->err = errno;
			return NULL;
		}
		p->rounds++;
	}
	return NULL;
}

struct pp_client {
	pthread_t thread;
	int fd;
	int rounds;
	int stalled;		/* 1: waited 10 s for nothing */
	int err;
};

/* One round: the request, through EAGAIN; then the answer. 0 or -1. */
static int pp_round(struct pp_client *cl, int ep, const unsigned char *req)
{
	struct epoll_event ev;
	size_t off = 0;
	char k;

	while (off < PP_REQ) {
		ssize_t n = send(cl->fd, req + off, PP_REQ - off, MSG_NOSIGNAL);

		if (n > 0) {
			off += n;
			continue;
		}
		if (errno != EAGAIN) {
			cl->err = errno;
			return -1;
		}
		if (epoll_wait(ep, &ev, 1, 10000) != 1) {
			cl->stalled = 1;
			return -1;
		}
	}
	for (;;) {
		ssize_t n = recv(cl->fd, &k, 1, 0);

		if (n == 1)
			return 0;
		if (n == 0 || errno != EAGAIN) {
			cl->err = n ? errno : EPIPE;
			return -1;
		}
		if (epoll_wait(ep, &ev, 1, 10000) != 1) {
			cl->stalled = 1;
			return -1;
		}
	}
}

static void *pp_client_run(void *arg)
{
	static __thread unsigned char req[PP_REQ];
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET };
	struct pp_client *cl = arg;
	int ep = epoll_create1(0);
	double end = kto_now() + PP_SECONDS;

	memset(req, 'q', sizeof(req));
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, cl->fd, &ev)) {
		cl->err = errno;
		return NULL;
	}
	while (cl->rounds < PP_ROUNDS && kto_now() < end && !pp_round(cl, ep, req))
		cl->rounds++;
	close(ep);
	return NULL;
}

TEST(request_response_no_stall)
{
	struct pp_server srv[PP_PAIRS] = { 0 };
	struct pp_client cl[PP_PAIRS] = { 0 };
	int c[PP_PAIRS], s[PP_PAIRS], i;

	for (i = 0; i < PP_PAIRS; i++) {
		stuck_pair(_metadata, TLS_1_3_VERSION, &c[i], &s[i], NULL);
		ASSERT_EQ(kto_timeouts(s[i], 10000), 0);
		set_nonblock(c[i], 1);
		srv[i].fd = s[i];
		cl[i].fd = c[i];
		ASSERT_EQ(pthread_create(&srv[i].thread, NULL, pp_server_run,
					 &srv[i]), 0);
		ASSERT_EQ(pthread_create(&cl[i].thread, NULL, pp_client_run,
					 &cl[i]), 0);
	}
	for (i = 0; i < PP_PAIRS; i++) {
		pthread_join(cl[i].thread, NULL);
		shutdown(c[i], SHUT_RDWR);
		pthread_join(srv[i].thread, NULL);
		EXPECT_EQ(cl[i].stalled, 0)
			TH_LOG("pair %d stalled in round %d (server got %d)", i,
			       cl[i].rounds, srv[i].rounds);
		EXPECT_EQ(cl[i].err, 0) TH_LOG("pair %d: %s", i, strerror(cl[i].err));
		EXPECT_GE(cl[i].rounds, PP_MIN_ROUNDS);
		close(c[i]);
		close(s[i]);
	}
}

/* ---- a raw peer that seals records in userspace (tlsrec) ---- */

struct raw_peer {
	int tls, raw;		/* our TLS_RX end, and the plain TCP end */
	struct tlsrec rec;
	union tlsrec_keys keys;
};

static void raw_peer_make(struct __test_metadata *_metadata,
			  struct raw_peer *p, uint16_t version, int rcvbuf)
{
	int len;

	ASSERT_EQ(kto_tcp_pair_bufs(AF_INET, 0, rcvbuf, &p->raw, &p->tls), 0);
	ASSERT_EQ(kto_timeouts(p->tls, 10000), 0);
	ASSERT_EQ(kto_timeouts(p->raw, 10000), 0);
	len = tlsrec_keys_random(&p->keys, version, TLS_CIPHER_AES_GCM_128);
	ASSERT_GT(len, 0);
	ASSERT_EQ(tlsrec_init(&p->rec, &p->keys, len), 0);
	ASSERT_EQ(kto_ulp(p->tls), 0);
	ASSERT_EQ(setsockopt(p->tls, SOL_TLS, TLS_RX, &p->keys, len), 0)
		TH_LOG("%s", strerror(errno));
}

static void raw_peer_free(struct raw_peer *p)
{
	tlsrec_uninit(&p->rec);
	close(p->tls);
	close(p->raw);
}

/* Seal and write one record. */
static void raw_send(struct __test_metadata *_metadata, struct raw_peer *p,
		     uint8_t type, const void *data, size_t len, size_t pad)
{
	unsigned char wire[TLSREC_MAX_WIRE + 256];
	ssize_t n;

	n = tlsrec_seal(&p->rec, type, data, len, pad, wire, sizeof(wire));
	ASSERT_GT(n, 0) TH_LOG("%s", tlsrec_strerror(n));
	ASSERT_EQ(kto_write_full(p->raw, wire, n), 0);
}

/*
 * MSG_PEEK over a flood of empty data records before one byte of data:
 * the peek returns that byte without keeping every empty record (ours:
 * they were stashed one by one, without bound).
 */
struct flood {
	pthread_t thread;
	struct raw_peer *p;
	int records;
	int err;
};

static void *flood_run(void *arg)
{
	struct flood *f = arg;
	unsigned char *wire = malloc(64 * (size_t)f->records + 64);
	size_t off = 0;
	int i;

	if (!wire) {
		f->err = ENOMEM;
		return NULL;
	}
	for (i = 0; i < f->records; i++) {
		ssize_t n = tlsrec_seal(&f->p->rec, TLSREC_TYPE_DATA, "", 0, 0,
					wire + off, 64);

		if (n < 0) {
			f->err = EINVAL;
			goto out;
		}
		off += n;
	}
	off += tlsrec_seal(&f->p->rec, TLSREC_TYPE_DATA, "x", 1, 0, wire + off, 64);
	if (kto_write_full(f->p->raw, wire, off))
		f->err = errno;
out:
	free(wire);
	return NULL;
}

TEST(peek_past_empty_records)
{
	struct raw_peer p;
	struct flood f = { .p = &p, .records = 20000 };
	long peeked;
	char c;

	KTO_MODULE_ONLY("KtoLivePeekedRecords");
	raw_peer_make(_metadata, &p, TLS_1_3_VERSION, 0);
	ASSERT_EQ(pthread_create(&f.thread, NULL, flood_run, &f), 0);
	ASSERT_EQ(kto_set_timeo_ms(p.tls, SO_RCVTIMEO, 60000), 0);
	EXPECT_EQ(recv(p.tls, &c, 1, MSG_PEEK), 1) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(c, 'x');
	peeked = kto_stat_get("KtoLivePeekedRecords");
	EXPECT_LE(peeked, 4) TH_LOG("%ld records held for one peeked byte", peeked);
	c = 0;
	EXPECT_EQ(recv(p.tls, &c, 1, 0), 1);
	EXPECT_EQ(c, 'x');
	pthread_join(f.thread, NULL);
	EXPECT_EQ(f.err, 0);
	raw_peer_free(&p);
}

/*
 * A peek that asks for more than the receive buffer while the peer keeps
 * sending returns at most about SO_RCVBUF (ours: it held everything the
 * peer sent meanwhile); reads then get the whole stream in order.
 */
#define PEEK_TOTAL	(2 << 20)

struct streamer {
	pthread_t thread;
	struct raw_peer *p;
	int err;
};

static void *streamer_run(void *arg)
{
	struct streamer *st = arg;
	static __thread unsigned char buf[CHUNK];
	static __thread unsigned char wire[TLSREC_MAX_WIRE];
	uint64_t off;

	for (off = 0; off < PEEK_TOTAL; off += CHUNK) {
		ssize_t n;

		fill_pattern(buf, off, CHUNK);
		n = tlsrec_seal(&st->p->rec, TLSREC_TYPE_DATA, buf, CHUNK, 0,
				wire, sizeof(wire));
		if (n < 0 || kto_write_full(st->p->raw, wire, n)) {
			st->err = n < 0 ? EINVAL : errno;
			break;
		}
	}
	shutdown(st->p->raw, SHUT_WR);
	return NULL;
}

TEST(peek_bounded_by_rcvbuf)
{
	unsigned char *buf = malloc(PEEK_TOTAL);
	struct streamer st = { 0 };
	struct raw_peer p;
	socklen_t len = sizeof(int);
	int rcvbuf = 0, i;
	uint64_t got;
	ssize_t n;

	KTO_MODULE_ONLY("bound on peeked records");
	ASSERT_NE(buf, NULL);
	raw_peer_make(_metadata, &p, TLS_1_2_VERSION, 65536);
	ASSERT_EQ(getsockopt(p.tls, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len), 0);
	st.p = &p;
	ASSERT_EQ(pthread_create(&st.thread, NULL, streamer_run, &st), 0);
	usleep(500 * 1000);
	n = recv(p.tls, buf, PEEK_TOTAL, MSG_PEEK | MSG_WAITALL);
	EXPECT_GT(n, 0) TH_LOG("%s", strerror(errno));
	EXPECT_LE(n, rcvbuf + 2 * CHUNK) TH_LOG("peeked %zd, SO_RCVBUF %d", n, rcvbuf);
	for (i = 0; i < n; i++)
		if (buf[i] != pattern(i))
			break;
	EXPECT_EQ(i, n);
	got = kto_read_full(p.tls, buf, PEEK_TOTAL);
	EXPECT_EQ(got, PEEK_TOTAL);
	for (i = 0; i < (int)got; i++)
		if (buf[i] != pattern(i))
			break;
	EXPECT_EQ(i, (int)got);
	pthread_join(st.thread, NULL);
	EXPECT_EQ(st.err, 0);
	raw_peer_free(&p);
	free(buf);
}

/*
 * TLS_RX_EXPECT_NO_PAD (TLS 1.3): records come out right whatever the
 * peer sends; a padded data record counts a no-pad violation and a
 * decrypt retry, a non-data record only a retry (kTLS's counters).
 */
TEST(rx_expect_no_pad)
{
	unsigned char data[3000], out[4000];
	long retry, viol;
	struct raw_peer p;
	int one = 1, type;
	ssize_t n;

	raw_peer_make(_metadata, &p, TLS_1_3_VERSION, 0);
	ASSERT_EQ(setsockopt(p.tls, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &one,
			     sizeof(one)), 0);
	fill_pattern(data, 0, sizeof(data));
	retry = kto_stat_get("TlsDecryptRetry");
	viol = kto_stat_get("TlsRxNoPadViolation");
	ASSERT_GE(retry, 0) TH_LOG("no TlsDecryptRetry counter");
	ASSERT_GE(viol, 0);

	/* No padding: straight into the buffer, no retry. */
	raw_send(_metadata, &p, TLSREC_TYPE_DATA, data, sizeof(data), 0);
	n = kto_recv_typed(p.tls, out, sizeof(out), 0, &type);
	EXPECT_EQ(n, (ssize_t)sizeof(data));
	EXPECT_EQ(type, TLSREC_TYPE_DATA);
	EXPECT_EQ(memcmp(out, data, sizeof(data)), 0);
	EXPECT_EQ(kto_stat_get("TlsDecryptRetry"), retry);
	EXPECT_EQ(kto_stat_get("TlsRxNoPadViolation"), viol);

	/* Padded: right bytes, one violation, one retry. */
	raw_send(_metadata, &p, TLSREC_TYPE_DATA, data, 1000, 200);
	memset(out, 0, sizeof(out));
	n = kto_recv_typed(p.tls, out, sizeof(out), 0, &type);
	EXPECT_EQ(n, 1000);
	EXPECT_EQ(memcmp(out, data, 1000), 0);
	EXPECT_EQ(kto_stat_get("TlsDecryptRetry"), retry + 1);
	EXPECT_EQ(kto_stat_get("TlsRxNoPadViolation"), viol + 1);

	/* A handshake record: returned as such, one retry, no violation. */
	raw_send(_metadata, &p, TLSREC_TYPE_HANDSHAKE, "\x04\0\0\x02hi", 6, 0);
	n = kto_recv_typed(p.tls, out, sizeof(out), 0, &type);
	EXPECT_EQ(n, 6);
	EXPECT_EQ(type, TLSREC_TYPE_HANDSHAKE);
	EXPECT_EQ(memcmp(out, "\x04\0\0\x02hi", 6), 0);
	EXPECT_EQ(kto_stat_get("TlsDecryptRetry"), retry + 2);
	EXPECT_EQ(kto_stat_get("TlsRxNoPadViolation"), viol + 1);

	/* Data again, then a buffer smaller than the record: no retry. */
	raw_send(_metadata, &p, TLSREC_TYPE_DATA, data, sizeof(data), 0);
	n = recv(p.tls, out, 100, 0);
	EXPECT_EQ(n, 100);
	n = recv(p.tls, out + 100, sizeof(out) - 100, 0);
	EXPECT_EQ(n, (ssize_t)sizeof(data) - 100);
	EXPECT_EQ(memcmp(out, data, sizeof(data)), 0);
	EXPECT_EQ(kto_stat_get("TlsDecryptRetry"), retry + 2);
	raw_peer_free(&p);
}

/* connect(AF_UNSPEC) on a TLS socket: EOPNOTSUPP; the socket goes on (kTLS). */
TEST(disconnect_refused)
{
	struct sockaddr sa = { .sa_family = AF_UNSPEC };
	char buf[8];
	int c, s;

	stuck_pair(_metadata, TLS_1_2_VERSION, &c, &s, NULL);
	EXPECT_EQ(connect(c, &sa, sizeof(sa)), -1);
	EXPECT_EQ(errno, EOPNOTSUPP) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(send(c, "still", 5, 0), 5);
	ASSERT_EQ(kto_set_timeo_ms(s, SO_RCVTIMEO, 5000), 0);
	EXPECT_EQ(recv(s, buf, sizeof(buf), 0), 5);
	EXPECT_EQ(memcmp(buf, "still", 5), 0);
	ASSERT_EQ(send(s, "there", 5, 0), 5);
	EXPECT_EQ(recv(c, buf, sizeof(buf), 0), 5);
	EXPECT_EQ(memcmp(buf, "there", 5), 0);
	close(c);
	close(s);
}

/* ---- TLS 1.3 handshake messages across records (KeyUpdate) ---- */

/* The next record's type and bytes, which must be @want. */
static void expect_record(struct __test_metadata *_metadata, int fd, int type,
			  const void *want, size_t len)
{
	unsigned char buf[256];
	int got_type;
	ssize_t n;

	n = kto_recv_typed(fd, buf, sizeof(buf), 0, &got_type);
	ASSERT_EQ(n, (ssize_t)len) TH_LOG("%s", n < 0 ? strerror(errno) : "");
	EXPECT_EQ(got_type, type);
	EXPECT_EQ(memcmp(buf, want, len), 0);
}

/*
 * A KeyUpdate whose header and body come in two records: the key changes
 * after the record that ends it, not after the first (ours: the in-tree
 * kTLS of 6.1/6.12 has no rekey; 6.14's looks only at a record's first
 * byte).
 */
TEST(key_update_split_across_records)
{
	struct raw_peer p;
	struct kto_key k2;
	ssize_t n;
	char buf[16];

	KTO_MODULE_ONLY("TLS 1.3 rekey");
	raw_peer_make(_metadata, &p, TLS_1_3_VERSION, 0);
	raw_send(_metadata, &p, TLSREC_TYPE_HANDSHAKE, key_update, 4, 0);
	raw_send(_metadata, &p, TLSREC_TYPE_HANDSHAKE, key_update + 4, 1, 0);
	ASSERT_EQ(kto_key_random(&k2, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128), 0);
	tlsrec_uninit(&p.rec);
	ASSERT_EQ(tlsrec_init(&p.rec, &k2.u, k2.len), 0);
	raw_send(_metadata, &p, TLSREC_TYPE_DATA, "new key", 7, 0);

	expect_record(_metadata, p.tls, TLSREC_TYPE_HANDSHAKE, key_update, 4);
	expect_record(_metadata, p.tls, TLSREC_TYPE_HANDSHAKE, key_update + 4, 1);
	EXPECT_EQ(recv(p.tls, buf, sizeof(buf), 0), -1);
	EXPECT_EQ(errno, EKEYEXPIRED);
	ASSERT_EQ(kto_install(p.tls, TLS_RX, &k2), 0) TH_LOG("%s", strerror(errno));
	n = recv(p.tls, buf, sizeof(buf), 0);
	EXPECT_EQ(n, 7) TH_LOG("%s", n < 0 ? strerror(errno) : "");
	EXPECT_EQ(memcmp(buf, "new key", 7), 0);
	raw_peer_free(&p);
}

/*
 * A handshake message spanning two records whose second part starts with
 * the bytes of a KeyUpdate header is not a KeyUpdate; neither is a
 * KeyUpdate type byte inside a message body; records after them keep the
 * old key (ours).
 */
TEST(key_update_lookalikes)
{
	/* NewSessionTicket (4) of 6 body bytes: 2 in the first record. */
	static const unsigned char a[] = { 4, 0, 0, 6, 1, 2 };
	static const unsigned char b[] = { 24, 0, 0, 1 };
	/* A message whose body holds a KeyUpdate header, in one record. */
	static const unsigned char c[] = { 4, 0, 0, 5, 24, 0, 0, 1, 0 };
	struct raw_peer p;
	long rekeys;
	char buf[16];

	KTO_MODULE_ONLY("TLS 1.3 rekey");
	rekeys = kto_stat_get("TlsRxRekeyReceived");
	raw_peer_make(_metadata, &p, TLS_1_3_VERSION, 0);
	raw_send(_metadata, &p, TLSREC_TYPE_HANDSHAKE, a, sizeof(a), 0);
	raw_send(_metadata, &p, TLSREC_TYPE_HANDSHAKE, b, sizeof(b), 0);
	raw_send(_metadata, &p, TLSREC_TYPE_HANDSHAKE, c, sizeof(c), 0);
	raw_send(_metadata, &p, TLSREC_TYPE_DATA, "old key", 7, 0);

	expect_record(_metadata, p.tls, TLSREC_TYPE_HANDSHAKE, a, sizeof(a));
	expect_record(_metadata, p.tls, TLSREC_TYPE_HANDSHAKE, b, sizeof(b));
	expect_record(_metadata, p.tls, TLSREC_TYPE_HANDSHAKE, c, sizeof(c));
	EXPECT_EQ(recv(p.tls, buf, sizeof(buf), 0), 7) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(memcmp(buf, "old key", 7), 0);
	EXPECT_EQ(kto_stat_get("TlsRxRekeyReceived"), rekeys);
	raw_peer_free(&p);
}

/* ---- memory accounting: the memory cgroup and tcp_mem ---- */

#define CG_ROOT		"/sys/fs/cgroup"
#define TCP_MEM		"/proc/sys/net/ipv4/tcp_mem"
#define MEM_PAIRS	16
#define MEM_OPEN	12000	/* plaintext of each open TX record */
#define MEM_PARTIAL	12000	/* bytes of each partial RX record */

static int file_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ret;

	if (fd < 0)
		return -1;
	ret = write(fd, val, strlen(val)) == (ssize_t)strlen(val) ? 0 : -1;
	close(fd);
	return ret;
}

/*
 * The number after @name on a line of @path ("name value" files such as
 * memory.stat; @name NULL: the first number in the file), or -1.
 */
static long file_read(const char *path, const char *name)
{
	char line[512], key[128];
	long val, found = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!name && sscanf(line, "%ld", &val) == 1) {
			found = val;
			break;
		}
		if (name && sscanf(line, "%127s %ld", key, &val) == 2 &&
		    !strcmp(key, name)) {
			found = val;
			break;
		}
	}
	fclose(f);
	return found;
}

/* Pages TCP has charged right now (the "mem" of /proc/net/sockstat). */
static long tcp_mem_pages(void)
{
	char line[256];
	long mem = -1;
	FILE *f = fopen("/proc/net/sockstat", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, " mem ");

		if (!strncmp(line, "TCP:", 4) && p)
			mem = strtol(p + 5, NULL, 10);
	}
	fclose(f);
	return mem;
}

FIXTURE(mem)
{
	char cg[64];
	char tcp_mem[128];	/* to restore */
	int c[MEM_PAIRS], s[MEM_PAIRS];	/* c: TLS_TX, s: its TLS_RX peer */
	int q[MEM_PAIRS], t[MEM_PAIRS];	/* q: raw records, t: TLS_RX */
	struct kto_key k;
	struct tlsrec rec[MEM_PAIRS];	/* what q[i] seals with */
};

/*
 * The test joins a fresh cgroup with the memory controller, then makes
 * the pairs, whose sockets are charged to it.
 */
FIXTURE_SETUP(mem)
{
	FILE *f;
	int i;

	self->tcp_mem[0] = 0;
	for (i = 0; i < MEM_PAIRS; i++)
		self->c[i] = self->s[i] = self->q[i] = self->t[i] = -1;
	f = fopen(TCP_MEM, "r");
	ASSERT_NE(f, NULL);
	ASSERT_NE(fgets(self->tcp_mem, sizeof(self->tcp_mem), f), NULL);
	fclose(f);

	if (access(CG_ROOT "/cgroup.controllers", F_OK))
		ASSERT_EQ(mount("none", CG_ROOT, "cgroup2", 0, NULL), 0)
			TH_LOG("mount cgroup2: %s", strerror(errno));
	file_write(CG_ROOT "/cgroup.subtree_control", "+memory");
	snprintf(self->cg, sizeof(self->cg), CG_ROOT "/kto-mem-%d", getpid());
	ASSERT_EQ(mkdir(self->cg, 0755), 0) TH_LOG("%s", strerror(errno));
	{
		char procs[96];

		snprintf(procs, sizeof(procs), "%s/cgroup.procs", self->cg);
		ASSERT_EQ(file_write(procs, "0"), 0) TH_LOG("%s", strerror(errno));
	}
	ASSERT_EQ(kto_key_random(&self->k, TLS_1_3_VERSION,
				 TLS_CIPHER_AES_GCM_128), 0);
	for (i = 0; i < MEM_PAIRS; i++) {
		ASSERT_EQ(kto_tcp_pair_bufs(AF_INET, 1 << 20, 1 << 20,
					    &self->c[i], &self->s[i]), 0);
		ASSERT_EQ(kto_tls_keys(self->c[i], self->s[i], &self->k, NULL), 0);
		ASSERT_EQ(kto_timeouts(self->s[i], 20000), 0);
		ASSERT_EQ(kto_timeouts(self->c[i], 20000), 0);
		ASSERT_EQ(kto_tcp_pair_bufs(AF_INET, 1 << 20, 1 << 20,
					    &self->q[i], &self->t[i]), 0);
		ASSERT_EQ(kto_ulp(self->t[i]), 0);
		ASSERT_EQ(kto_install(self->t[i], TLS_RX, &self->k), 0);
		ASSERT_EQ(kto_timeouts(self->t[i], 20000), 0);
		ASSERT_EQ(tlsrec_init(&self->rec[i], &self->k.u, self->k.len), 0);
	}
}

FIXTURE_TEARDOWN(mem)
{
	int i;

	if (self->tcp_mem[0])
		file_write(TCP_MEM, self->tcp_mem);
	for (i = 0; i < MEM_PAIRS; i++) {
		if (self->c[i] >= 0)
			close(self->c[i]);
		if (self->s[i] >= 0)
			close(self->s[i]);
		if (self->q[i] >= 0)
			close(self->q[i]);
		if (self->t[i] >= 0)
			close(self->t[i]);
		tlsrec_uninit(&self->rec[i]);
	}
	file_write(CG_ROOT "/cgroup.procs", "0");
	rmdir(self->cg);
}

/* memory.stat's socket memory, once per-socket reserves settled. */
static long cg_sock_bytes(const char *cg)
{
	char path[96];

	usleep(300 * 1000);
	snprintf(path, sizeof(path), "%s/memory.stat", cg);
	return file_read(path, "sock");
}

/*
 * An open TX record and a partly received RX record are charged to their
 * socket, and so to its memory cgroup ("sock" in memory.stat), as the
 * in-tree kTLS charges its open record and leaves a partial record in
 * TCP's queue (kTLS).
 */
TEST_F(mem, cgroup_sees_records)
{
	static unsigned char buf[MEM_OPEN], wire[TLSREC_MAX_WIRE];
	long before, after;
	ssize_t n;
	int i;

	before = cg_sock_bytes(self->cg);
	ASSERT_GE(before, 0) TH_LOG("no sock line in %s/memory.stat", self->cg);
	fill_pattern(buf, 0, sizeof(buf));
	for (i = 0; i < MEM_PAIRS; i++) {
		ASSERT_EQ(send(self->c[i], buf, MEM_OPEN, MSG_MORE), MEM_OPEN);
		n = tlsrec_seal(&self->rec[i], TLSREC_TYPE_DATA, buf, MEM_OPEN, 0,
				wire, sizeof(wire));
		ASSERT_GT(n, MEM_PARTIAL);
		ASSERT_EQ(kto_write_full(self->q[i], wire, MEM_PARTIAL), 0);
	}
	after = cg_sock_bytes(self->cg);
	EXPECT_GE(after - before, (long)MEM_PAIRS * (MEM_OPEN + MEM_PARTIAL) * 3 / 4)
		TH_LOG("memory.stat sock: %ld before, %ld after", before, after);
}

struct raw_writer {
	pthread_t thread;
	int fd;
	struct tlsrec *rec;
	int records;
	int err;
};

/* Seal and write @records records of pattern bytes (blocking). */
static void *raw_writer_run(void *arg)
{
	static __thread unsigned char buf[CHUNK], wire[TLSREC_MAX_WIRE];
	struct raw_writer *w = arg;
	int i;

	for (i = 0; i < w->records; i++) {
		ssize_t n;

		fill_pattern(buf, (uint64_t)i * CHUNK, CHUNK);
		n = tlsrec_seal(w->rec, TLSREC_TYPE_DATA, buf, CHUNK, 0, wire,
				sizeof(wire));
		if (n < 0 || kto_write_full(w->fd, wire, n)) {
			w->err = n < 0 ? EINVAL : errno;
			break;
		}
	}
	return NULL;
}

/*
 * Past TCP's hard memory limit (tcp_mem), writers get EAGAIN and records
 * from the peer wait in TCP (kTLS); once memory is there again, every
 * byte taken on either side arrives, in order. (Past a cgroup's
 * memory.max a charge from a process instead makes the cgroup reclaim
 * and, failing that, OOM-kill, for TCP and kTLS alike.)
 */
TEST_F_TIMEOUT(mem, tcp_mem_limit_fails_cleanly, 120)
{
	static unsigned char buf[CHUNK], in[CHUNK];
	struct raw_writer rw[MEM_PAIRS] = { 0 };
	uint64_t sent[MEM_PAIRS];
	long pages, failed = 0;
	char val[96];
	int i;

	/*
	 * The in-tree kTLS of 6.1 fails this now and then (CI): a record TCP
	 * had no room for under tcp_mem pressure is not pushed once it has,
	 * and a later send() returned -13866 (not -1). 6.12's passes.
	 */
	if (kto_intree() && kto_kernel_is("6.1."))
		SKIP(return, "the in-tree kTLS of 6.1 leaves records unsent past tcp_mem");
	pages = tcp_mem_pages();
	ASSERT_GE(pages, 0);
	snprintf(val, sizeof(val), "%ld %ld %ld", pages + 8, pages + 8, pages + 16);
	ASSERT_EQ(file_write(TCP_MEM, val), 0) TH_LOG("%s", strerror(errno));

	/* Writers: non-blocking, until memory (not buffer space) runs out. */
	for (i = 0; i < MEM_PAIRS; i++) {
		int round;

		sent[i] = 0;
		for (round = 0; round < 256; round++) {
			ssize_t n;

			fill_pattern(buf, sent[i], CHUNK);
			n = send(self->c[i], buf, CHUNK, MSG_DONTWAIT);
			if (n > 0) {
				sent[i] += n;
				continue;
			}
			EXPECT_TRUE(errno == EAGAIN || errno == ENOBUFS ||
				    errno == ENOMEM) TH_LOG("%s", strerror(errno));
			failed++;
			break;
		}
	}
	EXPECT_EQ(failed, MEM_PAIRS) TH_LOG("sends kept succeeding past tcp_mem");
	/* Peers' records arrive meanwhile; nobody reads yet. */
	for (i = 0; i < MEM_PAIRS; i++) {
		rw[i].fd = self->q[i];
		rw[i].rec = &self->rec[i];
		rw[i].records = 16;
		ASSERT_EQ(pthread_create(&rw[i].thread, NULL, raw_writer_run,
					 &rw[i]), 0);
	}
	sleep(1);
	ASSERT_EQ(file_write(TCP_MEM, self->tcp_mem), 0);
	for (i = 0; i < MEM_PAIRS; i++) {
		uint64_t got = 0;
		size_t j;

		/*
		 * What c[i] took (records TCP had no room for go out when
		 * it has), then what q[i] wrote, all byte-exact.
		 */
		while (got < sent[i]) {
			ssize_t n = recv(self->s[i], in, sizeof(in), 0);

			ASSERT_GT(n, 0) TH_LOG("pair %d at %llu: %s", i,
					      (unsigned long long)got,
					      strerror(errno));
			for (j = 0; j < (size_t)n; j++)
				ASSERT_EQ(in[j], pattern(got + j));
			got += n;
		}
		EXPECT_EQ(recv(self->s[i], in, sizeof(in), MSG_DONTWAIT), -1);
		pthread_join(rw[i].thread, NULL);
		EXPECT_EQ(rw[i].err, 0);
		for (got = 0; got < 16 * CHUNK; ) {
			ssize_t n = recv(self->t[i], in, sizeof(in), 0);

			ASSERT_GT(n, 0) TH_LOG("%s", strerror(errno));
			for (j = 0; j < (size_t)n; j++)
				ASSERT_EQ(in[j], pattern(got + j));
			got += n;
		}
	}
}

/* ---- BPF sockmap ---- */

static int sockmap_create(void)
{
	union bpf_attr a = {
		.map_type = BPF_MAP_TYPE_SOCKMAP,
		.key_size = 4,
		.value_size = 4,
		.max_entries = 2,
	};

	return syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof(a));
}

static int sockmap_add(int map, uint32_t key, int fd)
{
	uint32_t val = fd;
	union bpf_attr a = {
		.map_fd = map,
		.key = (uintptr_t)&key,
		.value = (uintptr_t)&val,
		.flags = BPF_ANY,
	};

	return syscall(SYS_bpf, BPF_MAP_UPDATE_ELEM, &a, sizeof(a));
}

/*
 * A socket already in a sockmap (whose proto BPF replaced): we refuse the
 * ULP with EOPNOTSUPP, where the in-tree kTLS takes it; either way a plain
 * socket attached afterwards works (kTLS). Which socket comes first after
 * the module loads matters: lifecycle.c repeats this on fresh tables.
 */
static void sockmap_then_plain(struct __test_metadata *_metadata, int family)
{
	struct kto_key k;
	int map, a, b, c, s, ret, err;
	char buf[8];

	map = sockmap_create();
	ASSERT_GE(map, 0) TH_LOG("BPF_MAP_CREATE: %s", strerror(errno));
	ASSERT_EQ(kto_tcp_pair(family, &a, &b), 0);
	ASSERT_EQ(sockmap_add(map, 0, a), 0) TH_LOG("%s", strerror(errno));
	ret = kto_ulp(a);
	err = errno;
	if (kto_intree()) {
		EXPECT_EQ(ret, 0);
	} else {
		EXPECT_EQ(ret, -1);
		EXPECT_EQ(err, EOPNOTSUPP);
	}

	ASSERT_EQ(kto_tcp_pair(family, &c, &s), 0);
	ASSERT_EQ(kto_timeouts(s, 5000), 0);
	ASSERT_EQ(kto_key_random(&k, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128), 0);
	ASSERT_EQ(kto_tls_keys(c, s, &k, NULL), 0) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(send(c, "plain", 5, 0), 5);
	EXPECT_EQ(recv(s, buf, sizeof(buf), 0), 5);
	EXPECT_EQ(memcmp(buf, "plain", 5), 0);
	close(a);
	close(b);
	close(c);
	close(s);
	close(map);
}

TEST(sockmap_socket_then_plain_v4)
{
	sockmap_then_plain(_metadata, AF_INET);
}

TEST(sockmap_socket_then_plain_v6)
{
	sockmap_then_plain(_metadata, AF_INET6);
}

TEST_HARNESS_MAIN
