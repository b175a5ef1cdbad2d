// SPDX-License-Identifier: GPL-2.0
/*
 * Servers' I/O models on a kTLS socket, end to end: edge-triggered epoll
 * with O_NONBLOCK through records that arrive in pieces, EPOLLOUT after a
 * peer that stopped reading reads again, EPOLLRDHUP with and without a
 * partial record pending, SO_SNDTIMEO and SO_RCVTIMEO on blocked calls,
 * and io_uring send, recv, splice and a recv cancelled while it waits.
 *
 * In each test self->k is the kTLS end (TLS_TX and TLS_RX, each with its
 * own random keys) and self->raw its plain TCP peer, which seals what k
 * reads and opens what k writes with the independent tlsrec codec
 * (OpenSSL). Every byte either way is a known function of its offset in
 * the stream, so a byte lost, doubled or moved fails the check.
 *
 * Every case describes kTLS behaviour, none is our module's own: this
 * test is in run-intree, and each case passes against the in-tree tls.ko
 * as well (selftests/vm/run --intree --no-module).
 */
#include <fcntl.h>
#include <liburing.h>
#include <linux/tls.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include <time.h>

#include "kselftest_harness.h"
#include "kto_test.h"
#include "tlsrec.h"

#define TIMEO_SEC	10		/* nothing a test waits for takes longer */
#define TIMEO_MS	(TIMEO_SEC * 1000)
#define WIRE_CAP	(4 * TLSREC_MAX_WIRE)
#define BUF_LEN		(1 << 20)
#define SMALL_BUF	16384		/* SO_SNDBUF/SO_RCVBUF when a peer stalls */
/* Long enough that 75% more is not scheduling noise on a busy machine. */
#define SNDTIMEO_MS	2000

FIXTURE(io)
{
	int k;			/* the kTLS end */
	int raw;		/* its plain TCP peer */
	struct tlsrec to_k;	/* seals what raw sends to k */
	struct tlsrec from_k;	/* opens what k sends to raw */
	unsigned char *wire;	/* WIRE_CAP bytes of records */
	unsigned char *buf;	/* BUF_LEN bytes of plaintext */
};

FIXTURE_VARIANT(io)
{
	uint16_t version;
	uint16_t cipher;
};

FIXTURE_VARIANT_ADD(io, tls12_aes_gcm_128)
{
	.version = TLS_1_2_VERSION,
	.cipher = TLS_CIPHER_AES_GCM_128,
};

FIXTURE_VARIANT_ADD(io, tls13_chacha20_poly1305)
{
	.version = TLS_1_3_VERSION,
	.cipher = TLS_CIPHER_CHACHA20_POLY1305,
};

static int set_timeo_ms(int fd, int opt, long ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000 };

	return setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

FIXTURE_SETUP(io)
{
	union tlsrec_keys tx, rx;
	int txlen, rxlen, one = 1;

	self->k = self->raw = -1;
	ASSERT_EQ(kto_tcp_pair(AF_INET, &self->k, &self->raw), 0);
	/* A call that never completes fails the test instead of hanging it. */
	ASSERT_EQ(set_timeo_ms(self->k, SO_RCVTIMEO, TIMEO_MS), 0);
	ASSERT_EQ(set_timeo_ms(self->k, SO_SNDTIMEO, TIMEO_MS), 0);
	ASSERT_EQ(set_timeo_ms(self->raw, SO_RCVTIMEO, TIMEO_MS), 0);
	ASSERT_EQ(set_timeo_ms(self->raw, SO_SNDTIMEO, TIMEO_MS), 0);
	/* Each piece the raw peer trickles is a segment of its own. */
	ASSERT_EQ(setsockopt(self->raw, IPPROTO_TCP, TCP_NODELAY, &one,
			     sizeof(one)), 0);

	txlen = tlsrec_keys_random(&tx, variant->version, variant->cipher);
	rxlen = tlsrec_keys_random(&rx, variant->version, variant->cipher);
	ASSERT_GT(txlen, 0);
	ASSERT_GT(rxlen, 0);
	ASSERT_EQ(setsockopt(self->k, IPPROTO_TCP, TCP_ULP, "tls",
			     sizeof("tls")), 0);
	ASSERT_EQ(setsockopt(self->k, SOL_TLS, TLS_TX, &tx, txlen), 0)
		TH_LOG("TLS_TX: %s", strerror(errno));
	ASSERT_EQ(setsockopt(self->k, SOL_TLS, TLS_RX, &rx, rxlen), 0)
		TH_LOG("TLS_RX: %s", strerror(errno));
	ASSERT_EQ(tlsrec_init(&self->from_k, &tx, txlen), 0);
	ASSERT_EQ(tlsrec_init(&self->to_k, &rx, rxlen), 0);

	self->wire = malloc(WIRE_CAP);
	self->buf = malloc(BUF_LEN);
	ASSERT_NE(self->wire, NULL);
	ASSERT_NE(self->buf, NULL);
}

FIXTURE_TEARDOWN(io)
{
	if (self->k >= 0)
		close(self->k);
	if (self->raw >= 0)
		close(self->raw);
	tlsrec_uninit(&self->to_k);
	tlsrec_uninit(&self->from_k);
	free(self->wire);
	free(self->buf);
}

/* ---- the byte stream ---- */

/* The byte at offset @off of every stream: a hash, so no shift matches. */
static unsigned char pat(uint64_t off)
{
	uint64_t h = (off + 1) * 0x9e3779b97f4a7c15ULL;

	return (h ^ h >> 29) >> 56;
}

static void pat_fill(unsigned char *p, uint64_t off, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = pat(off + i);
}

/* The first index where @p is not the stream at @off, or -1. */
static ssize_t pat_diff(const unsigned char *p, uint64_t off, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != pat(off + i))
			return i;
	return -1;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int nonblock(int fd)
{
	return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* ---- the raw peer ---- */

/*
 * Seal the stream's bytes [@off, @off + @len) as one data record at @out;
 * returns its length on the wire.
 */
static size_t seal(struct __test_metadata *_metadata, struct tlsrec *r,
		   uint64_t off, size_t len, unsigned char *out)
{
	unsigned char plain[TLSREC_MAX_PLAIN];
	ssize_t n;

	pat_fill(plain, off, len);
	n = tlsrec_seal(r, TLSREC_TYPE_DATA, plain, len, 0, out,
			TLSREC_MAX_WIRE);
	ASSERT_GT(n, 0) TH_LOG("seal: %s", tlsrec_strerror(n));
	return n;
}

/*
 * Reads k's records off the raw end and checks their bytes against the
 * stream, until @want bytes: in the test's thread (opener_run) or in a
 * thread of its own while the test writes (opener_resume, then join).
 */
struct opener {
	pthread_t thread;
	int fd;
	struct tlsrec *rec;
	uint64_t want;
	uint64_t got;
	size_t have;			/* raw bytes buffered in wire */
	int eof;			/* the stream ended before @want */
	unsigned char wire[WIRE_CAP];
	unsigned char plain[TLSREC_MAX_WIRE];
	char err[160];			/* empty if every byte checked out */
};

static int opener_run(struct opener *o)
{
	ssize_t n, wl, pl, bad;
	uint8_t type;

	while (o->got < o->want) {
		n = recv(o->fd, o->wire + o->have, sizeof(o->wire) - o->have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			o->eof = !n;
			snprintf(o->err, sizeof(o->err),
				 "the peer read %llu of %llu bytes, then %s",
				 (unsigned long long)o->got,
				 (unsigned long long)o->want,
				 n ? strerror(errno) : "EOF");
			return -1;
		}
		o->have += n;
		for (;;) {
			wl = tlsrec_wire_len(o->wire, o->have);
			if (wl < 0 || (size_t)wl > o->have)
				break;
			pl = tlsrec_open(o->rec, o->wire, wl, &type, o->plain,
					 sizeof(o->plain), NULL);
			if (pl < 0 || type != TLSREC_TYPE_DATA) {
				snprintf(o->err, sizeof(o->err),
					 "record at byte %llu: %s (type %u)",
					 (unsigned long long)o->got,
					 pl < 0 ? tlsrec_strerror(pl) : "opened",
					 type);
				return -1;
			}
			bad = pat_diff(o->plain, o->got, pl);
			if (bad >= 0 || o->got + pl > o->want) {
				snprintf(o->err, sizeof(o->err),
					 "record of %zd bytes at byte %llu: %s %llu",
					 pl, (unsigned long long)o->got,
					 bad >= 0 ? "wrong byte at" : "runs past byte",
					 (unsigned long long)(bad >= 0 ? o->got + bad : o->want));
				return -1;
			}
			o->got += pl;
			o->have -= wl;
			memmove(o->wire, o->wire + wl, o->have);
		}
		if (wl > (ssize_t)sizeof(o->wire)) {
			snprintf(o->err, sizeof(o->err), "a %zd-byte record", wl);
			return -1;
		}
	}
	return 0;
}

static void *opener_thread(void *arg)
{
	opener_run(arg);
	return NULL;
}

/*
 * The stalled peer starts reading, in a thread, with a receive buffer no
 * longer small (the rest of the stream need not crawl through 16 KiB).
 */
static int opener_resume(struct opener *o)
{
	int big = 1 << 20;

	setsockopt(o->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	return pthread_create(&o->thread, NULL, opener_thread, o);
}

static struct opener *opener_new(FIXTURE_DATA(io) *self, uint64_t want)
{
	struct opener *o = calloc(1, sizeof(*o));

	if (o) {
		o->fd = self->raw;
		o->rec = &self->from_k;
		o->want = want;
	}
	return o;
}

/* ---- epoll ---- */

static int epoll_on(int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };
	int ep = epoll_create1(0);

	if (ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
		close(ep);
		return -1;
	}
	return ep;
}

/* The events of one epoll_wait(@ms), 0 if none, or (uint32_t)-1. */
static uint32_t wait_once(int ep, int ms)
{
	struct epoll_event ev;
	int n = epoll_wait(ep, &ev, 1, ms);

	return n < 0 ? (uint32_t)-1 : n ? ev.events : 0;
}

/* The union of the events reported until it has all of @want, or @ms pass. */
static uint32_t wait_for(int ep, uint32_t want, int ms)
{
	double end = now() + ms / 1000.0;
	uint32_t seen = 0, ev;

	while ((seen & want) != want && now() < end) {
		ev = wait_once(ep, (end - now()) * 1000 + 1);
		if (ev == (uint32_t)-1)
			break;
		seen |= ev;
	}
	return seen;
}

/*
 * recv() with O_NONBLOCK in @chunk-sized reads until EAGAIN, as an
 * edge-triggered server does; checks the bytes against the stream at
 * *@off and advances it. Returns the bytes read, or -1 if a recv failed
 * otherwise than with EAGAIN (errno kept).
 */
static ssize_t drain(struct __test_metadata *_metadata, int fd,
		     unsigned char *buf, size_t chunk, uint64_t *off)
{
	ssize_t n, total = 0, bad;

	for (;;) {
		n = recv(fd, buf, chunk, MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN ? total : -1;
		if (!n)
			return total;
		bad = pat_diff(buf, *off, n);
		EXPECT_EQ(bad, -1) TH_LOG("wrong byte at stream offset %llu",
					 (unsigned long long)(*off + bad));
		*off += n;
		total += n;
	}
}

/*
 * kTLS behaviour (tls.ko too). Edge-triggered epoll on an O_NONBLOCK
 * socket: a record trickled in byte by byte, its header too, raises no
 * EPOLLIN and reads EAGAIN until its last byte is in; then EPOLLIN fires
 * and one recv gives the whole record, the next EAGAIN.
 */
TEST_F(io, epoll_et_record_trickled_bytewise)
{
	const size_t len = 300;
	size_t wl, i, early = 0;
	uint32_t ev;
	int ep;

	ASSERT_EQ(nonblock(self->k), 0);
	ep = epoll_on(self->k, EPOLLIN | EPOLLRDHUP | EPOLLET);
	ASSERT_GE(ep, 0);
	wl = seal(_metadata, &self->to_k, 0, len, self->wire);
	EXPECT_EQ(wait_once(ep, 0), 0);
	for (i = 0; i + 1 < wl; i++) {
		ASSERT_EQ(send(self->raw, self->wire + i, 1, 0), 1);
		/* A millisecond for the byte to land on loopback. */
		ev = wait_once(ep, 1);
		errno = 0;
		if (ev || recv(self->k, self->buf, BUF_LEN, 0) != -1 ||
		    errno != EAGAIN) {
			early = i + 1;
			break;
		}
	}
	EXPECT_EQ(early, 0) TH_LOG("with %zu of the record's %zu bytes in: "
				   "events %#x, recv errno %d (%s)", early, wl,
				   ev, errno, strerror(errno));
	ASSERT_EQ(send(self->raw, self->wire + i, wl - i, 0), (ssize_t)(wl - i));
	ev = wait_once(ep, TIMEO_MS);
	EXPECT_EQ(ev, EPOLLIN) TH_LOG("events %#x", ev);
	ASSERT_EQ(recv(self->k, self->buf, BUF_LEN, 0), (ssize_t)len);
	EXPECT_EQ(pat_diff(self->buf, 0, len), -1);
	errno = 0;
	EXPECT_EQ(recv(self->k, self->buf, BUF_LEN, 0), -1);
	EXPECT_EQ(errno, EAGAIN);
	EXPECT_EQ(wait_once(ep, 0), 0);
	close(ep);
}

/*
 * kTLS behaviour (tls.ko too). Edge-triggered epoll fires again for the
 * next record after the reader drained to EAGAIN: also when the next
 * record's first half was already in while the reader drained the one
 * before it, and not before that record is whole.
 */
TEST_F(io, epoll_et_next_record_after_drain)
{
	size_t a = 1000, b = TLSREC_MAX_PLAIN, c = 5000;
	size_t wa, wb, wc, half, i;
	uint64_t off = 0;
	uint32_t ev = 0;
	int ep;

	ASSERT_EQ(nonblock(self->k), 0);
	ep = epoll_on(self->k, EPOLLIN | EPOLLRDHUP | EPOLLET);
	ASSERT_GE(ep, 0);
	wa = seal(_metadata, &self->to_k, 0, a, self->wire);
	wb = seal(_metadata, &self->to_k, a, b, self->wire + wa);
	half = wa + wb / 2;

	ASSERT_EQ(kto_write_full(self->raw, self->wire, half), 0);
	EXPECT_EQ(wait_once(ep, TIMEO_MS), EPOLLIN);
	EXPECT_EQ(drain(_metadata, self->k, self->buf, 700, &off), (ssize_t)a);
	/* No new edge while the rest of the second record is out. */
	EXPECT_EQ(wait_once(ep, 100), 0);
	for (i = half; i < wa + wb - 1000; i += 1000) {
		ASSERT_EQ(kto_write_full(self->raw, self->wire + i, 1000), 0);
		ev = wait_once(ep, 1);
		if (ev)
			break;
	}
	EXPECT_EQ(ev, 0) TH_LOG("events %#x with %zu of %zu bytes of the "
				"second record in", ev, i + 1000 - wa, wb);
	ASSERT_EQ(kto_write_full(self->raw, self->wire + i, wa + wb - i), 0);
	EXPECT_EQ(wait_once(ep, TIMEO_MS), EPOLLIN);
	EXPECT_EQ(drain(_metadata, self->k, self->buf, 4096, &off), (ssize_t)b);
	EXPECT_EQ(wait_once(ep, 0), 0);

	/* A third, in one piece. */
	wc = seal(_metadata, &self->to_k, a + b, c, self->wire);
	ASSERT_EQ(kto_write_full(self->raw, self->wire, wc), 0);
	EXPECT_EQ(wait_once(ep, TIMEO_MS), EPOLLIN);
	EXPECT_EQ(drain(_metadata, self->k, self->buf, BUF_LEN, &off), (ssize_t)c);
	EXPECT_EQ(off, a + b + c);
	close(ep);
}

/*
 * Make k an O_NONBLOCK writer stalled by a peer that reads nothing, with
 * small buffers, registered in a new epoll set (*@ep, edge-triggered
 * EPOLLOUT), and self->buf holding the stream from offset 0: send until
 * EAGAIN, and again after every EPOLLOUT (at first ACKs of what was in
 * flight free space), until EPOLLOUT stays quiet for half a second.
 * Returns the bytes k took.
 */
static uint64_t stall(struct __test_metadata *_metadata,
		      FIXTURE_DATA(io) *self, int *ep)
{
	int small = SMALL_BUF, round, quiet = 0;
	uint64_t sent = 0;
	ssize_t n;

	ASSERT_EQ(setsockopt(self->k, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	ASSERT_EQ(setsockopt(self->raw, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	ASSERT_EQ(nonblock(self->k), 0);
	*ep = epoll_on(self->k, EPOLLOUT | EPOLLET);
	ASSERT_GE(*ep, 0);
	pat_fill(self->buf, 0, BUF_LEN);
	for (round = 0; round < 100 && !quiet; round++) {
		for (;;) {
			n = send(self->k, self->buf + sent,
				 BUF_LEN - sent < 65536 ? BUF_LEN - sent : 65536, 0);
			if (n < 0)
				break;
			sent += n;
			ASSERT_LT(sent, BUF_LEN / 2) TH_LOG("the peer reads nothing, "
							    "yet %llu bytes went",
							    (unsigned long long)sent);
		}
		ASSERT_EQ(errno, EAGAIN) TH_LOG("send: %s", strerror(errno));
		quiet = wait_once(*ep, 500) == 0;
	}
	EXPECT_TRUE(quiet) TH_LOG("EPOLLOUT kept firing while the peer read nothing");
	TH_LOG("%llu bytes taken before the stall", (unsigned long long)sent);
	return sent;
}

/*
 * kTLS behaviour (tls.ko too). An O_NONBLOCK writer with edge-triggered
 * EPOLLOUT: the peer stops reading, sends fill its window and both
 * buffers until EAGAIN, after which EPOLLOUT stays quiet; the peer starts
 * reading again, EPOLLOUT fires, and the writer sends the rest. The peer
 * gets every byte, in order, each exactly once.
 */
TEST_F_TIMEOUT(io, epoll_et_out_after_zero_window, 90)
{
	const uint64_t total = 512 * 1024;
	struct opener *o;
	uint64_t sent;
	uint32_t ev;
	ssize_t n;
	int ep;

	o = opener_new(self, total);
	ASSERT_NE(o, NULL);
	sent = stall(_metadata, self, &ep);
	ASSERT_EQ(opener_resume(o), 0);
	while (sent < total) {
		ev = wait_once(ep, TIMEO_MS);
		EXPECT_TRUE(ev & EPOLLOUT) TH_LOG("no EPOLLOUT within %d s while "
						  "the peer reads (%llu of %llu sent, "
						  "events %#x)", TIMEO_SEC,
						  (unsigned long long)sent,
						  (unsigned long long)total, ev);
		if (!(ev & EPOLLOUT))
			break;
		while (sent < total) {
			size_t len = total - sent < 65536 ? total - sent : 65536;

			pat_fill(self->buf, sent, len);
			n = send(self->k, self->buf, len, 0);
			if (n < 0)
				break;
			sent += n;
		}
		if (sent < total)
			ASSERT_EQ(errno, EAGAIN) TH_LOG("send: %s", strerror(errno));
	}
	ASSERT_EQ(pthread_join(o->thread, NULL), 0);
	EXPECT_EQ(o->err[0], 0) TH_LOG("%s", o->err);
	EXPECT_EQ(o->got, total);
	free(o);
	close(ep);
}

/* ---- the peer goes away: EPOLLRDHUP ---- */

enum peer_end { PEER_SHUT_WR, PEER_CLOSE, PEER_RESET };

static const char *const end_names[] = {
	"shutdown(SHUT_WR)", "close()", "close() with SO_LINGER 0 (reset)",
};

/*
 * The raw peer sends @full whole 1000-byte records and the first
 * @partial bytes of one more, then ends as @end says. k, O_NONBLOCK with
 * edge-triggered EPOLLIN | EPOLLRDHUP, must be told (EPOLLIN with
 * EPOLLRDHUP, and EPOLLHUP | EPOLLERR for a reset), read the whole
 * records' bytes, then get @want (0 for EOF, or -1 with @want_errno),
 * and EOF on the next read.
 */
static void peer_ends(struct __test_metadata *_metadata,
		      FIXTURE_DATA(io) *self, int full, size_t partial,
		      enum peer_end end, ssize_t want, int want_errno)
{
	struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	uint32_t want_ev = EPOLLIN | EPOLLRDHUP, ev;
	size_t wl = 0, last;
	uint64_t off = 0;
	ssize_t n;
	int ep, i;

	ASSERT_EQ(nonblock(self->k), 0);
	ep = epoll_on(self->k, EPOLLIN | EPOLLRDHUP | EPOLLET);
	ASSERT_GE(ep, 0);
	for (i = 0; i < full; i++)
		wl += seal(_metadata, &self->to_k, i * 1000, 1000, self->wire + wl);
	if (partial) {
		last = seal(_metadata, &self->to_k, full * 1000, 1000, self->wire + wl);
		ASSERT_LT(partial, last);
		wl += partial;
	}
	ASSERT_EQ(kto_write_full(self->raw, self->wire, wl), 0);
	if (full)
		EXPECT_EQ(wait_for(ep, EPOLLIN, TIMEO_MS) & EPOLLIN, EPOLLIN);
	switch (end) {
	case PEER_SHUT_WR:
		ASSERT_EQ(shutdown(self->raw, SHUT_WR), 0);
		break;
	case PEER_RESET:
		ASSERT_EQ(setsockopt(self->raw, SOL_SOCKET, SO_LINGER, &rst,
				     sizeof(rst)), 0);
		want_ev |= EPOLLHUP | EPOLLERR;
		/* fall through */
	case PEER_CLOSE:
		close(self->raw);
		self->raw = -1;
		break;
	}
	ev = wait_for(ep, want_ev, TIMEO_MS);
	EXPECT_EQ(ev & want_ev, want_ev)
		TH_LOG("peer %s with %d records and %zu bytes of one more: "
		       "events %#x, want %#x", end_names[end], full, partial, ev,
		       want_ev);
	if (full)
		EXPECT_EQ(drain(_metadata, self->k, self->buf, BUF_LEN, &off),
			  full * 1000);
	/* An error is reported once, as on plain TCP; then EOF. */
	for (i = 0; i < 2; i++, want = 0) {
		errno = 0;
		n = recv(self->k, self->buf, BUF_LEN, MSG_DONTWAIT);
		EXPECT_EQ(n, want) TH_LOG("peer %s, read %d after the data: %zd (%s)",
					  end_names[end], i + 1, n, strerror(errno));
		if (want < 0)
			EXPECT_EQ(errno, want_errno) TH_LOG("%s", strerror(errno));
	}
	close(ep);
}

/* kTLS behaviour (tls.ko too): a clean end with nothing pending is EOF. */
TEST_F(io, epoll_rdhup_shutdown_no_record)
{
	peer_ends(_metadata, self, 0, 0, PEER_SHUT_WR, 0, 0);
}

/* kTLS behaviour (tls.ko too): the records before the FIN read, then EOF. */
TEST_F(io, epoll_rdhup_shutdown_after_records)
{
	peer_ends(_metadata, self, 3, 0, PEER_SHUT_WR, 0, 0);
}

/*
 * kTLS behaviour (tls.ko too): a FIN in the middle of a record raises
 * EPOLLIN | EPOLLRDHUP (not EPOLLIN held back for a record that can no
 * longer complete) and the read gives EOF, the partial record dropped.
 */
TEST_F(io, epoll_rdhup_shutdown_mid_record)
{
	peer_ends(_metadata, self, 0, 500, PEER_SHUT_WR, 0, 0);
}

/* kTLS behaviour (tls.ko too): whole records, then a FIN mid-record. */
TEST_F(io, epoll_rdhup_shutdown_records_then_partial)
{
	peer_ends(_metadata, self, 2, 3, PEER_SHUT_WR, 0, 0);
}

/* kTLS behaviour (tls.ko too): the peer's close() mid-record, as its FIN. */
TEST_F(io, epoll_rdhup_close_mid_record)
{
	peer_ends(_metadata, self, 1, 700, PEER_CLOSE, 0, 0);
}

/*
 * kTLS behaviour (tls.ko too): a reset mid-record raises EPOLLHUP and
 * EPOLLERR too; the read gives ECONNRESET, then EOF (the error is
 * reported once, as on plain TCP).
 */
TEST_F(io, epoll_rdhup_reset_mid_record)
{
	peer_ends(_metadata, self, 0, 700, PEER_RESET, -1, ECONNRESET);
}

/* ---- close with a stalled peer ---- */

struct closer {
	pthread_t thread;
	int fd;
	double took;
};

static void *closer_run(void *arg)
{
	struct closer *c = arg;
	double t0 = now();

	close(c->fd);
	c->took = now() - t0;
	return NULL;
}

/*
 * kTLS behaviour (tls.ko too). close() of an O_NONBLOCK socket whose
 * send got EAGAIN because the peer stopped reading (an HTTP server
 * dropping a stuck client) returns at once, as on plain TCP, instead of
 * waiting for the peer. What reaches the peer afterwards is the stream
 * in whole records, in order, each intact; a record cut short by the
 * close may end it.
 */
TEST_F_TIMEOUT(io, close_nonblocking_stalled_peer, 60)
{
	struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	struct closer c = { .took = -1 };
	struct timespec until;
	struct opener *o;
	uint64_t sent;
	int ep, late;

	o = opener_new(self, BUF_LEN);
	ASSERT_NE(o, NULL);
	/* As a server does: no SO_SNDTIMEO. */
	ASSERT_EQ(set_timeo_ms(self->k, SO_SNDTIMEO, 0), 0);
	sent = stall(_metadata, self, &ep);
	close(ep);

	c.fd = self->k;
	self->k = -1;
	ASSERT_EQ(pthread_create(&c.thread, NULL, closer_run, &c), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 3;
	late = pthread_timedjoin_np(c.thread, NULL, &until);
	if (late) {
		/* Free it by resetting the peer, so that the test ends. */
		setsockopt(self->raw, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
		close(self->raw);
		self->raw = -1;
		pthread_join(c.thread, NULL);
		free(o);
	}
	ASSERT_EQ(late, 0) TH_LOG("close() of an O_NONBLOCK socket with %llu bytes "
				  "sent to a peer that reads nothing did not return "
				  "within 3 s (it returned after %.1f s, once the "
				  "peer reset)",
				  (unsigned long long)sent, c.took);

	/* The peer reads now: whole records of the stream, then the end. */
	o->want = sent;
	opener_run(o);
	TH_LOG("close() took %.3f s; the peer got %llu of %llu bytes (%s)", c.took,
	       (unsigned long long)o->got, (unsigned long long)sent,
	       o->err[0] ? o->err : "all");
	EXPECT_TRUE(!o->err[0] || o->eof) TH_LOG("%s", o->err);
	free(o);
}

/* ---- SO_SNDTIMEO, SO_RCVTIMEO ---- */

/*
 * kTLS behaviour (tls.ko too). SO_SNDTIMEO on a blocking send() that a
 * peer who stopped reading stalls: it returns after about the timeout
 * (once, not once per record or TCP call inside it) with the count of the
 * bytes it took; the next send() takes nothing and fails with EAGAIN after
 * the timeout again. When the peer reads, it gets exactly the bytes
 * counted and then the rest, sent afterwards.
 */
TEST_F_TIMEOUT(io, sndtimeo_stalled_send, 90)
{
	const size_t total = 512 * 1024;
	int small = SMALL_BUF;
	struct opener *o;
	ssize_t n1, n2;
	double t0, dt1, dt2;

	o = opener_new(self, total);
	ASSERT_NE(o, NULL);
	ASSERT_EQ(setsockopt(self->k, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	ASSERT_EQ(setsockopt(self->raw, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	ASSERT_EQ(set_timeo_ms(self->k, SO_SNDTIMEO, SNDTIMEO_MS), 0);
	pat_fill(self->buf, 0, total);

	t0 = now();
	n1 = send(self->k, self->buf, total, 0);
	dt1 = now() - t0;
	EXPECT_GT(n1, 0) TH_LOG("send: %s", strerror(errno));
	EXPECT_LT(n1, (ssize_t)total);
	EXPECT_GE(dt1, SNDTIMEO_MS * 0.9 / 1000);
	EXPECT_LT(dt1, SNDTIMEO_MS * 1.75 / 1000)
		TH_LOG("SO_SNDTIMEO is %d ms, send took %.2f s", SNDTIMEO_MS, dt1);
	if (n1 < 0)
		n1 = 0;
	t0 = now();
	errno = 0;
	n2 = send(self->k, self->buf + n1, total - n1, 0);
	dt2 = now() - t0;
	EXPECT_EQ(n2, -1) TH_LOG("a second send into a stalled peer took %zd", n2);
	EXPECT_EQ(errno, EAGAIN) TH_LOG("%s", strerror(errno));
	EXPECT_GE(dt2, SNDTIMEO_MS * 0.9 / 1000);
	EXPECT_LT(dt2, SNDTIMEO_MS * 1.75 / 1000)
		TH_LOG("SO_SNDTIMEO is %d ms, send took %.2f s", SNDTIMEO_MS, dt2);
	TH_LOG("took %zd bytes in %.2f s, then %zd (%s) in %.2f s", n1, dt1, n2,
	       strerror(errno), dt2);
	if (n2 > 0)
		n1 += n2;

	ASSERT_EQ(opener_resume(o), 0);
	ASSERT_EQ(set_timeo_ms(self->k, SO_SNDTIMEO, TIMEO_MS), 0);
	EXPECT_EQ(kto_write_full(self->k, self->buf + n1, total - n1), 0)
		TH_LOG("send of the rest: %s", strerror(errno));
	ASSERT_EQ(pthread_join(o->thread, NULL), 0);
	EXPECT_EQ(o->err[0], 0) TH_LOG("%s", o->err);
	EXPECT_EQ(o->got, total);
	free(o);
}

/*
 * kTLS behaviour (tls.ko too). SO_RCVTIMEO on a blocking recv() waiting
 * for a record whose tail never comes, cut in its header and then just
 * before its tag's end: EAGAIN after about the timeout each time, and
 * the record reads whole once its tail is in.
 */
TEST_F_TIMEOUT(io, rcvtimeo_record_tail_missing, 60)
{
	size_t wl, cuts[2], sent = 0;
	double t0, dt;
	ssize_t n;
	int i;

	wl = seal(_metadata, &self->to_k, 0, 1000, self->wire);
	cuts[0] = 3;
	cuts[1] = wl - 10;
	ASSERT_EQ(set_timeo_ms(self->k, SO_RCVTIMEO, 1000), 0);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(kto_write_full(self->raw, self->wire + sent, cuts[i] - sent), 0);
		sent = cuts[i];
		t0 = now();
		errno = 0;
		n = recv(self->k, self->buf, BUF_LEN, 0);
		dt = now() - t0;
		EXPECT_EQ(n, -1) TH_LOG("with %zu of %zu bytes in", sent, wl);
		EXPECT_EQ(errno, EAGAIN) TH_LOG("%s", strerror(errno));
		EXPECT_GE(dt, 0.9);
		EXPECT_LT(dt, TIMEO_SEC);
	}
	ASSERT_EQ(kto_write_full(self->raw, self->wire + sent, wl - sent), 0);
	ASSERT_EQ(set_timeo_ms(self->k, SO_RCVTIMEO, TIMEO_MS), 0);
	ASSERT_EQ(recv(self->k, self->buf, BUF_LEN, 0), 1000);
	EXPECT_EQ(pat_diff(self->buf, 0, 1000), -1);
}

/* ---- io_uring ---- */

/* The next completion within @ms: its result in *@res, user_data returned. */
static int ring_wait(struct io_uring *ring, int ms, uint64_t *data, int *res)
{
	struct __kernel_timespec ts = {
		.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L,
	};
	struct io_uring_cqe *cqe;
	int err = io_uring_wait_cqe_timeout(ring, &cqe, &ts);

	if (err)
		return err;
	*data = cqe->user_data;
	*res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return 0;
}

static void ring_init(struct __test_metadata *_metadata, struct io_uring *ring)
{
	int err = io_uring_queue_init(8, ring, 0);

	ASSERT_EQ(err, 0) TH_LOG("io_uring_queue_init: %s", strerror(-err));
}

/*
 * kTLS behaviour (tls.ko too). IORING_OP_SEND of 300 000 bytes on a
 * TLS_TX socket, more than its buffers hold: one completion with every
 * byte, and the peer opens them all, in order.
 */
TEST_F_TIMEOUT(io, uring_send, 60)
{
	const size_t len = 300000;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	struct opener *o;
	uint64_t data;
	int res;

	o = opener_new(self, len);
	ASSERT_NE(o, NULL);
	ring_init(_metadata, &ring);
	pat_fill(self->buf, 0, len);
	/* The peer reads in a thread: completions run in the ring's task. */
	ASSERT_EQ(pthread_create(&o->thread, NULL, opener_thread, o), 0);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_send(sqe, self->k, self->buf, len, 0);
	sqe->user_data = 1;
	ASSERT_EQ(io_uring_submit(&ring), 1);
	ASSERT_EQ(ring_wait(&ring, TIMEO_MS, &data, &res), 0);
	EXPECT_EQ(res, (int)len) TH_LOG("send: %s", res < 0 ? strerror(-res) : "short");
	ASSERT_EQ(pthread_join(o->thread, NULL), 0);
	EXPECT_EQ(o->err[0], 0) TH_LOG("%s", o->err);
	EXPECT_EQ(o->got, len);
	io_uring_queue_exit(&ring);
	free(o);
}

/*
 * kTLS behaviour (tls.ko too). IORING_OP_RECV queued on a TLS_RX socket
 * before anything came: no completion while only half a record is in,
 * then one with that whole record; then three full-size records back to
 * back read by further recvs, every byte in order.
 */
TEST_F_TIMEOUT(io, uring_recv_waits_for_whole_record, 60)
{
	const size_t first = 5000, more = 3 * TLSREC_MAX_PLAIN;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	uint64_t data, off = 0;
	size_t wl, i;
	int res;

	ring_init(_metadata, &ring);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_recv(sqe, self->k, self->buf, BUF_LEN, 0);
	ASSERT_EQ(io_uring_submit(&ring), 1);
	EXPECT_EQ(ring_wait(&ring, 300, &data, &res), -ETIME);
	wl = seal(_metadata, &self->to_k, 0, first, self->wire);
	ASSERT_EQ(kto_write_full(self->raw, self->wire, wl / 2), 0);
	EXPECT_EQ(ring_wait(&ring, 300, &data, &res), -ETIME)
		TH_LOG("a recv completed with half a record in: %d", res);
	ASSERT_EQ(kto_write_full(self->raw, self->wire + wl / 2, wl - wl / 2), 0);
	ASSERT_EQ(ring_wait(&ring, TIMEO_MS, &data, &res), 0);
	ASSERT_EQ(res, (int)first) TH_LOG("recv: %s", res < 0 ? strerror(-res) : "short");
	EXPECT_EQ(pat_diff(self->buf, 0, first), -1);
	off = first;

	for (wl = 0, i = 0; i < 3; i++)
		wl += seal(_metadata, &self->to_k, first + i * TLSREC_MAX_PLAIN,
			   TLSREC_MAX_PLAIN, self->wire + wl);
	ASSERT_EQ(kto_write_full(self->raw, self->wire, wl), 0);
	while (off < first + more) {
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_recv(sqe, self->k, self->buf, 7000, 0);
		ASSERT_EQ(io_uring_submit(&ring), 1);
		ASSERT_EQ(ring_wait(&ring, TIMEO_MS, &data, &res), 0);
		ASSERT_GT(res, 0) TH_LOG("recv at byte %llu: %s",
					 (unsigned long long)off, strerror(-res));
		ASSERT_EQ(pat_diff(self->buf, off, res), -1)
			TH_LOG("recv of %d at byte %llu", res, (unsigned long long)off);
		off += res;
	}
	EXPECT_EQ(off, first + more);
	io_uring_queue_exit(&ring);
}

/*
 * kTLS behaviour (tls.ko too). IORING_OP_SPLICE from a pipe into a
 * TLS_TX socket, the way io_uring servers send files: every byte comes
 * out in records, in order.
 */
TEST_F_TIMEOUT(io, uring_splice_to_socket, 60)
{
	const size_t total = 256 * 1024, chunk = 60000;
	size_t done = 0, len, left;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	struct opener *o;
	uint64_t data;
	int p[2], res;

	o = opener_new(self, total);
	ASSERT_NE(o, NULL);
	ASSERT_EQ(pipe(p), 0);
	ring_init(_metadata, &ring);
	ASSERT_EQ(pthread_create(&o->thread, NULL, opener_thread, o), 0);
	while (done < total) {
		len = total - done < chunk ? total - done : chunk;
		pat_fill(self->buf, done, len);
		ASSERT_EQ(write(p[1], self->buf, len), (ssize_t)len);
		for (left = len; left; left -= res) {
			sqe = io_uring_get_sqe(&ring);
			io_uring_prep_splice(sqe, p[0], -1, self->k, -1, left, 0);
			ASSERT_EQ(io_uring_submit(&ring), 1);
			ASSERT_EQ(ring_wait(&ring, TIMEO_MS, &data, &res), 0);
			ASSERT_GT(res, 0) TH_LOG("splice at byte %zu: %s",
						 done + len - left, strerror(-res));
		}
		done += len;
	}
	ASSERT_EQ(pthread_join(o->thread, NULL), 0);
	EXPECT_EQ(o->err[0], 0) TH_LOG("%s", o->err);
	EXPECT_EQ(o->got, total);
	io_uring_queue_exit(&ring);
	close(p[0]);
	close(p[1]);
	free(o);
}

/*
 * kTLS behaviour (tls.ko too). IORING_OP_SPLICE from a TLS_RX socket
 * into a pipe: the records' plaintext, in order.
 */
TEST_F_TIMEOUT(io, uring_splice_from_socket, 60)
{
	const size_t rec = 10000, total = 3 * rec;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	uint64_t data, off = 0;
	size_t wl = 0, i;
	int p[2], res;

	ASSERT_EQ(pipe(p), 0);
	ring_init(_metadata, &ring);
	for (i = 0; i < 3; i++)
		wl += seal(_metadata, &self->to_k, i * rec, rec, self->wire + wl);
	ASSERT_EQ(kto_write_full(self->raw, self->wire, wl), 0);
	while (off < total) {
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_splice(sqe, self->k, -1, p[1], -1, 65536, 0);
		ASSERT_EQ(io_uring_submit(&ring), 1);
		ASSERT_EQ(ring_wait(&ring, TIMEO_MS, &data, &res), 0);
		ASSERT_GT(res, 0) TH_LOG("splice at byte %llu: %s",
					 (unsigned long long)off, strerror(-res));
		ASSERT_EQ(read(p[0], self->buf, res), res);
		ASSERT_EQ(pat_diff(self->buf, off, res), -1)
			TH_LOG("splice of %d at byte %llu", res, (unsigned long long)off);
		off += res;
	}
	EXPECT_EQ(off, total);
	io_uring_queue_exit(&ring);
	close(p[0]);
	close(p[1]);
}

/*
 * kTLS behaviour (tls.ko too). An IORING_OP_RECV waiting on a TLS_RX
 * socket with half a record in, cancelled by IORING_OP_ASYNC_CANCEL:
 * it completes with -ECANCELED having taken nothing, and the record,
 * once whole, reads complete with recv().
 */
TEST_F_TIMEOUT(io, uring_recv_cancelled, 60)
{
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	int res, res_recv = 1, res_cancel = 1, i;
	uint64_t data;
	size_t wl;

	ring_init(_metadata, &ring);
	wl = seal(_metadata, &self->to_k, 0, 1000, self->wire);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_recv(sqe, self->k, self->buf, BUF_LEN, 0);
	sqe->user_data = 1;
	ASSERT_EQ(io_uring_submit(&ring), 1);
	ASSERT_EQ(kto_write_full(self->raw, self->wire, wl / 2), 0);
	EXPECT_EQ(ring_wait(&ring, 300, &data, &res), -ETIME);

	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_cancel64(sqe, 1, 0);
	sqe->user_data = 2;
	ASSERT_EQ(io_uring_submit(&ring), 1);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(ring_wait(&ring, TIMEO_MS, &data, &res), 0);
		if (data == 1)
			res_recv = res;
		else
			res_cancel = res;
	}
	EXPECT_EQ(res_recv, -ECANCELED) TH_LOG("the recv: %d", res_recv);
	EXPECT_EQ(res_cancel, 0) TH_LOG("the cancel: %d", res_cancel);

	ASSERT_EQ(kto_write_full(self->raw, self->wire + wl / 2, wl - wl / 2), 0);
	ASSERT_EQ(recv(self->k, self->buf, BUF_LEN, 0), 1000);
	EXPECT_EQ(pat_diff(self->buf, 0, 1000), -1);
	errno = 0;
	EXPECT_EQ(recv(self->k, self->buf, BUF_LEN, MSG_DONTWAIT), -1);
	EXPECT_EQ(errno, EAGAIN);
	io_uring_queue_exit(&ring);
}

TEST_HARNESS_MAIN
