// SPDX-License-Identifier: GPL-2.0
/*
 * A syscall-sequence fuzzer, the way syzkaller found most kTLS bugs:
 * seeded random interleavings of what applications do to a TCP pair with
 * TLS_TX and TLS_RX on both ends, from several threads at once.
 *
 * End A, the one under attack, has 1-4 worker threads, each running its
 * own random sequence of: send and sendmsg (MSG_MORE, MSG_DONTWAIT,
 * iovecs, TLS_SET_RECORD_TYPE cmsgs), empty sends, sendfile, splice into
 * the socket; recv, recvmsg and read (MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT,
 * with and without room for the record type), splice out of it; poll,
 * epoll, ioctl; setsockopt (TLS 1.3 KeyUpdate, TLS_TX_MAX_PAYLOAD_LEN,
 * TLS_RX_EXPECT_NO_PAD, TLS_TX_ZEROCOPY_RO, buffer sizes, TCP_NODELAY,
 * SO_RCVLOWAT, O_NONBLOCK) and getsockopt; while signals interrupt them.
 * End B, the peer, has one reader (fast, slow, stalling, or reading only
 * at the end) and one writer (data, control records, KeyUpdates). A
 * connection ends gracefully, or abruptly: close, shutdown or RST from
 * either end, at a random point of A's operations.
 *
 * What must hold:
 *   - every byte a send accepted arrives once and in order: each byte
 *     names the writer that sent it and is a function of its offset in
 *     that writer's stream, so the reader checks it whatever the
 *     interleaving of writers;
 *   - after a graceful end, all of them arrive, then EOF, and no call saw
 *     an error; after an abrupt one, a prefix of them, then EOF or an
 *     error; never a byte that no send accepted;
 *   - every call fails only with an errno its situation allows;
 *   - nothing gets stuck: after the last operation, with no call on A
 *     left to push, the peer still receives everything (a lost wakeup of
 *     the TX work stalls it), and no call blocks past its timeout;
 *   - the module's socket, context and peeked-record counts return to
 *     their baseline; on the debug kernel, the checkers stay quiet.
 *
 * Two weaker checks, where the application itself races: with KeyUpdates
 * racing A's writers (plan "rekey racing"), a record can be sealed with
 * the old key after the KeyUpdate went out (the module refuses the next
 * key with EBUSY while a send is in flight, and the fuzzer retries until it
 * returns), which B must reject with EBADMSG rather than deliver; with several A threads reading at once
 * (plan "racing readers"), which chunk left the socket first is
 * unknowable, so each chunk is only found at some place of B's stream,
 * and the byte counts and value histograms must add up.
 *
 * Everything is drawn from one seed, printed at the start; one connection
 * of one variant replays alone:
 *   ./seqfuzz [--seed=N] [--conns=N] [--ops=N] [--conn=I] [harness options]
 *   e.g. ./seqfuzz --seed=42 --conn=3 -v tls13_chacha
 * (KTO_SEQFUZZ_SEED, KTO_SEQFUZZ_CONNS and KTO_SEQFUZZ_OPS do the same.)
 * Thread timing is not replayed, only each thread's sequence of calls.
 */
#include <execinfo.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>

#include "kselftest_harness.h"
#include "kto_test.h"

#define MAX_WORKERS	4
#define IO_MAX		(64 * 1024)
#define TYPE_HANDSHAKE	22
#define TYPE_DATA	23
#define HS_KEY_UPDATE	24
#define HS_OTHER	4	/* our control messages: NewSessionTicket's type */
/* A control message (4-byte header + body) fits in one record under
 * every TLS_TX_MAX_PAYLOAD_LEN, so it always arrives as one record.
 */
#define CTL_BODY_MAX	55
#define STALL_SEC	60	/* no progress for this long: stuck */
/* A chunk of A's reading this long is found at its one place in B's stream. */
#define LOCATE_MIN	16
#define LOCATE_WINDOW	((MAX_WORKERS + 1) * IO_MAX)

static uint64_t opt_seed;
static int opt_conns = 3, opt_ops = 40, opt_conn = -1;

/* ---- the plan of one connection, drawn from its seed ---- */

enum end_mode {
	END_GRACEFUL,
	END_A_CLOSE,
	END_A_SHUTDOWN,
	END_A_RST,
	END_B_CLOSE,
	END_B_RST,
};

static const char *const end_names[] = {
	"graceful", "A closes", "A shuts down", "A resets", "B closes", "B resets",
};

enum rekey_mode { REKEY_NONE, REKEY_SERIAL, REKEY_RACING };
static const char *const rekey_names[] = { "none", "serialised", "racing" };

enum peer_style { PEER_FAST, PEER_SLOW, PEER_STALLS, PEER_LATE };
static const char *const peer_names[] = { "fast", "slow", "stalling", "late" };

struct plan {
	int family;
	int workers;		/* A's threads */
	int ops;		/* per A worker, and for B's writer */
	enum end_mode end;
	int end_at;		/* abrupt ends: at this one of A's operations */
	enum rekey_mode rekey;	/* TLS 1.3 only */
	bool racing_readers;
	bool signals;
	enum peer_style peer;
	int a_sndbuf, b_rcvbuf;	/* 0: the default */
	int timeo_ms;		/* SO_SNDTIMEO and SO_RCVTIMEO of both ends */
	unsigned int max_payload;	/* 0: the default */
};

static bool abrupt_a(const struct plan *p)
{
	return p->end == END_A_CLOSE || p->end == END_A_SHUTDOWN ||
	       p->end == END_A_RST;
}

static bool abrupt_b(const struct plan *p)
{
	return p->end == END_B_CLOSE || p->end == END_B_RST;
}

static void plan_draw(struct plan *p, struct rng *r, uint16_t version)
{
	memset(p, 0, sizeof(*p));
	p->family = rng_chance(r, 30) ? AF_INET6 : AF_INET;
	p->workers = rng_range(r, 1, MAX_WORKERS);
	p->ops = opt_ops;
	p->end = rng_chance(r, 50) ? END_GRACEFUL : rng_range(r, END_A_CLOSE, END_B_RST);
	p->end_at = rng_range(r, 0, p->workers * p->ops - 1);
	p->rekey = version == TLS_1_3_VERSION ? rng_range(r, REKEY_NONE, REKEY_RACING) :
		   REKEY_NONE;
	p->racing_readers = p->workers > 1 && rng_chance(r, 25);
	p->signals = rng_chance(r, 50);
	p->peer = rng_range(r, PEER_FAST, PEER_LATE);
	p->a_sndbuf = rng_chance(r, 30) ? rng_range(r, 4096, 65536) : 0;
	p->b_rcvbuf = rng_chance(r, 30) ? rng_range(r, 4096, 65536) : 0;
	p->timeo_ms = rng_range(r, 100, 500);
	p->max_payload = rng_chance(r, 30) ? rng_range(r, 64, 16384) : 0;
}

static void plan_describe(const struct plan *p, char *out, size_t len)
{
	snprintf(out, len, "%s, %d thread%s%s, rekey %s, peer %s%s, timeouts %d ms%s, end: %s",
		 p->family == AF_INET6 ? "IPv6" : "IPv4", p->workers,
		 p->workers > 1 ? "s" : "", p->racing_readers ? " (racing readers)" : "",
		 rekey_names[p->rekey], peer_names[p->peer],
		 p->signals ? ", signals" : "", p->timeo_ms,
		 p->max_payload ? ", max payload set" : "", end_names[p->end]);
}

/* ---- the byte streams ---- */

/*
 * Byte @off of writer @t's stream: the writer in the top two bits, 6 bits
 * of a hash of the offset below, so a lost, repeated or foreign byte shows
 * wherever it lands.
 */
static inline unsigned char tag(uint64_t key, int t, uint64_t off)
{
	uint64_t z = (off + key + ((uint64_t)t << 58)) * 0x9e3779b97f4a7c15ULL;

	z ^= z >> 29;
	return (unsigned char)(t << 6 | ((z >> 40) & 63));
}

static void fill(uint64_t key, int t, uint64_t off, unsigned char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = tag(key, t, off + i);
}

/* Sizes for sends and reads: tiny, small, large, and record boundaries. */
static size_t pick_size(struct rng *r, size_t min)
{
	size_t n;

	switch (rng_range(r, 0, 9)) {
	case 0: case 1:
		n = rng_range(r, 1, 64);
		break;
	case 2: case 3: case 4:
		n = rng_range(r, 65, 4096);
		break;
	case 5: case 6: case 7:
		n = rng_range(r, 4097, IO_MAX);
		break;
	case 8:
		n = 16384 * rng_range(r, 1, 3) + rng_range(r, 0, 2) - 1;
		break;
	default:
		n = rng_range(r, 1, IO_MAX);
		break;
	}
	if (n > IO_MAX)
		n = IO_MAX;
	return n < min ? min : n;
}

/* ---- one connection ---- */

enum {
	ACT_B_READER = MAX_WORKERS,
	ACT_B_WRITER,
	ACT_NUM,
};

struct conn;

struct actor {
	struct conn *c;
	int id;			/* A workers 0..MAX_WORKERS-1, then B's two */
	int fd;
	struct rng r;
	pthread_t th;
	bool started;
	pid_t tid;
	const char *volatile op;	/* what it is doing, for the watchdog */
	volatile long op_since;	/* ms */
	volatile int done;
	int pipe[2];
	int memfd;
	int ep;
	unsigned char *buf;
	uint64_t sent;		/* writers: bytes their sends accepted */
	/* B's reader: per A writer, bytes checked */
	uint64_t got[MAX_WORKERS];
};

struct conn {
	const struct plan *p;
	int index;
	uint64_t seed;
	uint16_t version, cipher;
	uint64_t key_a, key_b;	/* the two byte streams */
	int a, b;		/* the original descriptors (-1 once closed) */
	struct actor act[ACT_NUM];

	pthread_mutex_t lock;	/* the failure message */
	volatile int failed;
	char why[768];

	volatile int ended;	/* an abrupt end has begun */
	volatile int a_closing;	/* A's workers: stop and close */
	volatile int b_stop;	/* B's threads: stop and close */
	volatile int drain;	/* operations over: B reads whatever its style */
	volatile int a_shut_wr;	/* graceful end: A sent its FIN */
	volatile int b_shut_wr;	/* and B its own */
	int ops_started;	/* A's operations, all workers */
	volatile long progress;	/* ms of the last byte moved or call returned */

	/* A -> B: what A's writers sent; B's reader checks per writer. */
	long a_ctl_sent;
	long b_ctl_got;
	volatile int b_eof;
	volatile int b_err;
	unsigned char b_ctl[64];
	int b_ctl_have;

	/* B -> A: B's writer is act[ACT_B_WRITER]; A's readers check. */
	long b_ctl_sent;
	pthread_mutex_t consume;	/* serialised readers: one consumes at a time */
	uint64_t a_got;			/* bytes of B's stream consumed */
	long a_ctl_got;
	unsigned char a_ctl[64];	/* serialised: a control message so far */
	int a_ctl_have;
	uint64_t a_hist[64];		/* racing readers: values consumed */
	volatile int a_eof;

	/* KeyUpdates: generations of each direction's key. */
	pthread_rwlock_t senders;	/* serialised rekey: senders share it */
	pthread_mutex_t rekey;		/* one A rekey at a time */
	pthread_mutex_t a_rx_key;
	int a_tx_gen, b_rx_gen;		/* A -> B */
	int b_tx_gen, a_rx_gen;		/* B -> A */
	long a_rekeys, b_rekeys;
	uint32_t a_rec_seq_hi, b_rec_seq_hi;	/* generation 0's rec_seq */
};

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000L + t.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&t, &t) && errno == EINTR)
		;
}

static void touch(struct conn *c)
{
	c->progress = now_ms();
}

static void fail(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&c->lock);
	if (!c->failed) {
		va_start(ap, fmt);
		vsnprintf(c->why, sizeof(c->why), fmt, ap);
		va_end(ap);
		c->failed = 1;
		printf("# seqfuzz: conn %d: FAIL: %s\n", c->index, c->why);
		fflush(stdout);
	}
	pthread_mutex_unlock(&c->lock);
}

static void set_op(struct actor *w, const char *op)
{
	w->op = op;
	w->op_since = now_ms();
}

/* The key of direction @a2b's generation @gen, the same on both ends. */
static void key_of(struct conn *c, bool a2b, int gen, union kto_crypto_info *k)
{
	struct rng r = { .s = c->seed ^ (a2b ? 0xa2b : 0xb2a) ^ ((uint64_t)gen << 32) };
	unsigned char *seq;

	memset(k, 0, sizeof(*k));
	rng_fill(&r, k, sizeof(*k));
	k->info.version = c->version;
	k->info.cipher_type = c->cipher;
	seq = kto_keys_rec_seq(k);
	memset(seq, 0, 8);
	/* The first key starts anywhere (far from 2^64); a KeyUpdate resets to 0. */
	if (!gen) {
		uint32_t hi = a2b ? c->a_rec_seq_hi : c->b_rec_seq_hi;

		seq[1] = hi >> 16;
		seq[2] = hi >> 8;
		seq[3] = hi;
		seq[7] = hi >> 24;
	}
}

static int set_key(int fd, int dir, const union kto_crypto_info *k)
{
	return setsockopt(fd, SOL_TLS, dir, k, kto_crypto_info_len(k->info.cipher_type));
}

/* ---- what errors a call may see ---- */

/* Errors any call on either end may return in this connection's state. */
static bool err_common(struct conn *c, int err)
{
	switch (err) {
	case EAGAIN:	/* MSG_DONTWAIT, O_NONBLOCK, or SO_SNDTIMEO/SO_RCVTIMEO */
		return true;
	case EINTR:
		return c->p->signals;
	case EPIPE:
	case ECONNRESET:
	case ENOTCONN:
		return c->ended;
	}
	return false;
}

/*
 * B's calls: B's RX rejecting a record that raced A's KeyUpdate (EBADMSG)
 * is reported once more by the next call, as TCP reports its errors.
 */
static bool err_ok(struct actor *w, int err)
{
	return err_common(w->c, err) ||
	       (err == EBADMSG && w->id >= MAX_WORKERS && w->c->p->rekey == REKEY_RACING);
}

static void bad_errno(struct actor *w, const char *call, int err)
{
	fail(w->c, "thread %d: %s failed with %s (errno %d)%s", w->id, call,
	     strerror(err), err, w->c->ended ? " after the end began" : "");
}

/* ---- reading what B sent (on A) ---- */

/*
 * Where in B's stream does @buf start? Tried around the consumed count
 * (chunks of racing readers, peeks): -1 if nowhere.
 */
static int64_t locate(struct conn *c, const unsigned char *buf, size_t n,
		      uint64_t around)
{
	uint64_t d, o;
	size_t i;
	int side;

	/* Outwards from where it most likely is. */
	for (d = 0; d <= LOCATE_WINDOW; d++) {
		for (side = 0; side < 2; side++) {
			if (side && (!d || d > around))
				continue;
			o = side ? around - d : around + d;
			for (i = 0; i < n && buf[i] == tag(c->key_b, 0, o + i); i++)
				;
			if (i == n)
				return o;
		}
	}
	return -1;
}

/* Bytes of B's stream at @off must be @buf. */
static bool check_b_stream(struct actor *w, const unsigned char *buf, size_t n,
			   uint64_t off, const char *how)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char want = tag(w->c->key_b, 0, off + i);

		if (buf[i] != want) {
			fail(w->c, "thread %d: %s: B's byte %llu (byte %zu of %zu read) is 0x%02x, not 0x%02x",
			     w->id, how, (unsigned long long)(off + i), i, n, buf[i], want);
			return false;
		}
	}
	return true;
}

/*
 * A whole control message: ours (type HS_OTHER, self-checking body) or a
 * KeyUpdate. Returns 1 for a KeyUpdate, 0 for ours, -1 if malformed.
 */
static int ctl_parse(const unsigned char *m, int len)
{
	int i, body;

	if (len < 4)
		return -1;
	body = m[1] << 16 | m[2] << 8 | m[3];
	if (body != len - 4)
		return -1;
	if (m[0] == HS_KEY_UPDATE)
		return body == 1 && m[4] <= 1 ? 1 : -1;
	if (m[0] != HS_OTHER || !body)
		return -1;
	for (i = 1; i < body; i++)
		if (m[4 + i] != (unsigned char)(m[4] + 37 * i))
			return -1;
	return 0;
}

/* A read a KeyUpdate from B: install B's next key. */
static void a_install_rx(struct actor *w, int fd)
{
	struct conn *c = w->c;
	union kto_crypto_info k;

	pthread_mutex_lock(&c->a_rx_key);
	key_of(c, false, c->a_rx_gen + 1, &k);
	if (set_key(fd, TLS_RX, &k))
		fail(c, "thread %d: TLS_RX with B's key %d after its KeyUpdate: %s",
		     w->id, c->a_rx_gen + 1, strerror(errno));
	else
		c->a_rx_gen++;
	pthread_mutex_unlock(&c->a_rx_key);
}

/* A whole control message consumed on A. */
static void a_ctl_done(struct actor *w, int fd, const unsigned char *m, int len)
{
	struct conn *c = w->c;

	switch (ctl_parse(m, len)) {
	case 1:
		a_install_rx(w, fd);
		break;
	case 0:
		__atomic_add_fetch(&c->a_ctl_got, 1, __ATOMIC_RELAXED);
		break;
	default:
		fail(c, "thread %d: a malformed control message from B (%d bytes, type %u)",
		     w->id, len, m[0]);
	}
}

/*
 * What a read on A returned: @n bytes of record type @type (0 if the call
 * could not tell). @exact: the caller holds c->consume (or is alone), so
 * the bytes must be at c->a_got.
 */
static void a_took(struct actor *w, int fd, const unsigned char *buf, size_t n,
		   int type, bool peek, bool exact)
{
	struct conn *c = w->c;
	size_t i;

	touch(c);
	if (type == TYPE_HANDSHAKE) {
		if (peek)
			return;
		if (exact) {
			if (c->a_ctl_have + n > sizeof(c->a_ctl)) {
				fail(c, "thread %d: a control record from B longer than any sent", w->id);
				return;
			}
			memcpy(c->a_ctl + c->a_ctl_have, buf, n);
			c->a_ctl_have += n;
			if (c->a_ctl_have >= 4 &&
			    c->a_ctl_have >= 4 + (c->a_ctl[1] << 16 | c->a_ctl[2] << 8 | c->a_ctl[3])) {
				a_ctl_done(w, fd, c->a_ctl, c->a_ctl_have);
				c->a_ctl_have = 0;
			}
		} else {
			/* Racing readers read with room for any whole control record. */
			a_ctl_done(w, fd, buf, n);
		}
		return;
	}
	if (type && type != TYPE_DATA) {
		fail(c, "thread %d: a record of type %d from B, which sends only 22 and 23",
		     w->id, type);
		return;
	}
	if (exact) {
		if (c->a_ctl_have) {
			fail(c, "thread %d: data inside a control message from B", w->id);
			return;
		}
		if (!check_b_stream(w, buf, n, c->a_got, peek ? "peek" : "read") || peek)
			return;
		c->a_got += n;
		if (c->p->racing_readers)
			for (i = 0; i < n; i++)
				__atomic_add_fetch(&c->a_hist[buf[i]], 1, __ATOMIC_RELAXED);
		return;
	}
	/* Unordered: find the chunk in B's stream, count it. */
	for (i = 0; i < n; i++)
		if (buf[i] >> 6) {
			fail(c, "thread %d: byte %zu of %zu read is 0x%02x, not from B's stream",
			     w->id, i, n, buf[i]);
			return;
		}
	if (n >= LOCATE_MIN &&
	    locate(c, buf, n, __atomic_load_n(&c->a_got, __ATOMIC_RELAXED)) < 0) {
		fail(c, "thread %d: %s %zu bytes that are nowhere near where B's stream is read (%llu)",
		     w->id, peek ? "peeked" : "read", n,
		     (unsigned long long)__atomic_load_n(&c->a_got, __ATOMIC_RELAXED));
		return;
	}
	if (peek)
		return;
	__atomic_add_fetch(&c->a_got, n, __ATOMIC_RELAXED);
	for (i = 0; i < n; i++)
		__atomic_add_fetch(&c->a_hist[buf[i]], 1, __ATOMIC_RELAXED);
}

/* recvmsg into @n bytes split over up to four iovecs; *type from the cmsg. */
static ssize_t recv_split(struct actor *w, int fd, unsigned char *buf, size_t n,
			  int flags, bool room, int *type)
{
	char cbuf[CMSG_SPACE(1)];
	struct iovec iov[4];
	struct msghdr msg = { .msg_iov = iov };
	struct cmsghdr *cm;
	size_t off = 0;
	ssize_t r;
	int k = rng_range(&w->r, 1, 4);

	while (off < n && (int)msg.msg_iovlen < k) {
		size_t len = (int)msg.msg_iovlen == k - 1 ? n - off :
			     rng_range(&w->r, 1, n - off);

		iov[msg.msg_iovlen].iov_base = buf + off;
		iov[msg.msg_iovlen].iov_len = len;
		msg.msg_iovlen++;
		off += len;
	}
	if (room) {
		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
	}
	*type = 0;
	r = recvmsg(fd, &msg, flags);
	if (r < 0)
		return r;
	cm = room ? CMSG_FIRSTHDR(&msg) : NULL;
	if (cm && cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
		*type = *CMSG_DATA(cm);
	else if (r > 0 && room)
		*type = -1;
	return r;
}

enum rd_kind { RD_RECVMSG, RD_PLAIN, RD_PEEK, RD_SPLICE };

/* One read on A by a worker (or by the drain, which is alone). */
static int a_read(struct actor *w, int fd, enum rd_kind kind, bool alone)
{
	struct conn *c = w->c;
	const struct plan *p = c->p;
	bool peek = kind == RD_PEEK, room = kind != RD_PLAIN && kind != RD_SPLICE;
	bool exact = alone || !p->racing_readers;
	size_t n = pick_size(&w->r, exact ? 1 : 64);
	int flags = 0, type = 0, err;
	const char *call;
	ssize_t r;

	if (!alone && rng_chance(&w->r, 25))
		flags |= MSG_DONTWAIT;
	if (!alone && rng_chance(&w->r, 15))
		flags |= MSG_WAITALL;
	if (peek) {
		flags |= MSG_PEEK;
		/* A peek by a thread that is not the consumer: a probe. */
		if (exact && !alone && rng_chance(&w->r, 50))
			exact = false;
	}
	if (exact && !alone)
		pthread_mutex_lock(&c->consume);

	switch (kind) {
	case RD_SPLICE:
		call = "splice from the socket";
		set_op(w, call);
		if (n > 65536)
			n = 65536;
		r = splice(fd, NULL, w->pipe[1], NULL, n,
			   flags & MSG_DONTWAIT ? SPLICE_F_NONBLOCK : 0);
		if (r > 0) {
			ssize_t got = 0, m;

			while (got < r && (m = read(w->pipe[0], w->buf + got, r - got)) > 0)
				got += m;
			if (got != r) {
				fail(c, "thread %d: the pipe holds %zd of the %zd bytes spliced",
				     w->id, got, r);
				r = -1;
				errno = 0;
			}
		}
		type = TYPE_DATA;
		break;
	case RD_PLAIN:
		call = "read/recv";
		set_op(w, call);
		if (!flags && rng_chance(&w->r, 50))
			r = read(fd, w->buf, n);
		else
			r = recv(fd, w->buf, n, flags);
		break;
	default:
		call = peek ? "recvmsg(MSG_PEEK)" : "recvmsg";
		set_op(w, call);
		r = recv_split(w, fd, w->buf, n, flags, room, &type);
		break;
	}
	err = errno;

	if (r > 0) {
		if ((size_t)r > n) {
			fail(c, "thread %d: %s returned %zd for %zu bytes", w->id, call, r, n);
		} else if (type < 0) {
			fail(c, "thread %d: %s returned %zd bytes without their record type",
			     w->id, call, r);
		} else {
			a_took(w, fd, w->buf, r, type, peek, exact);
		}
	} else if (r == 0) {
		c->a_eof = 1;
		if (!c->ended && !c->b_shut_wr)
			fail(c, "thread %d: %s: EOF before B ended", w->id, call);
	} else if (err) {
		bool ok = err_common(c, err);

		/* A record not of data: read() and splice cannot tell its type. */
		if ((err == EIO && kind == RD_PLAIN) || (err == EINVAL && kind == RD_SPLICE))
			ok = true;
		/* A reader that is not the one that read B's KeyUpdate. */
		if (err == EKEYEXPIRED && p->rekey != REKEY_NONE && !(exact && !peek))
			ok = true;
		if (!ok)
			bad_errno(w, call, err);
	}
	if (exact && !alone)
		pthread_mutex_unlock(&c->consume);
	touch(c);
	return r < 0 ? -err : (int)r;
}

/* ---- A's sends ---- */

static void senders_enter(struct conn *c)
{
	if (c->p->rekey == REKEY_SERIAL)
		pthread_rwlock_rdlock(&c->senders);
}

static void senders_leave(struct conn *c)
{
	if (c->p->rekey == REKEY_SERIAL)
		pthread_rwlock_unlock(&c->senders);
}

enum wr_kind { WR_SEND, WR_SENDMSG, WR_SENDFILE, WR_SPLICE };

static void a_write(struct actor *w, int fd, enum wr_kind kind)
{
	struct conn *c = w->c;
	size_t n = pick_size(&w->r, 1);
	int flags = MSG_NOSIGNAL;
	const char *call;
	ssize_t r = -1;
	int err = 0;

	if (rng_chance(&w->r, 25))
		flags |= MSG_MORE;
	if (rng_chance(&w->r, 30))
		flags |= MSG_DONTWAIT;
	fill(c->key_a, w->id, w->sent, w->buf, n);

	senders_enter(c);
	switch (kind) {
	case WR_SEND:
		call = "send";
		set_op(w, call);
		r = send(fd, w->buf, n, flags);
		break;
	case WR_SENDMSG: {
		struct iovec iov[4];
		struct msghdr msg = { .msg_iov = iov };
		size_t off = 0;
		int k = rng_range(&w->r, 1, 4);

		while (off < n && (int)msg.msg_iovlen < k) {
			size_t len = (int)msg.msg_iovlen == k - 1 ? n - off :
				     rng_range(&w->r, 1, n - off);

			iov[msg.msg_iovlen].iov_base = w->buf + off;
			iov[msg.msg_iovlen].iov_len = len;
			msg.msg_iovlen++;
			off += len;
		}
		call = "sendmsg";
		set_op(w, call);
		r = sendmsg(fd, &msg, flags);
		break;
	}
	case WR_SENDFILE: {
		/*
		 * The file holds the stream at its own offsets: a page the
		 * socket still holds is never rewritten with other bytes.
		 */
		off_t off = w->sent;

		call = "sendfile";
		if (pwrite(w->memfd, w->buf, n, off) != (ssize_t)n) {
			fail(c, "thread %d: pwrite to the memfd: %s", w->id, strerror(errno));
			break;
		}
		set_op(w, call);
		r = sendfile(fd, w->memfd, &off, n);
		err = errno;
		if (r >= 0 && off - (off_t)w->sent != r)
			fail(c, "thread %d: sendfile returned %zd but moved the offset by %lld",
			     w->id, r, (long long)(off - (off_t)w->sent));
		errno = err;
		break;
	}
	case WR_SPLICE: {
		ssize_t in, left;
		char sink[4096];

		call = "splice into the socket";
		if (n > 65536)
			n = 65536;
		in = write(w->pipe[1], w->buf, n);
		if (in <= 0) {
			fail(c, "thread %d: write to the pipe: %s", w->id, strerror(errno));
			break;
		}
		set_op(w, call);
		r = splice(w->pipe[0], NULL, fd, NULL, in,
			   (flags & MSG_MORE ? SPLICE_F_MORE : 0) |
			   (flags & MSG_DONTWAIT ? SPLICE_F_NONBLOCK : 0));
		err = errno;
		/* What the socket did not take goes: the stream continues after r. */
		left = in - (r > 0 ? r : 0);
		while (left > 0) {
			ssize_t m = read(w->pipe[0], sink, left < (ssize_t)sizeof(sink) ?
					 left : (ssize_t)sizeof(sink));

			if (m <= 0)
				break;
			left -= m;
		}
		errno = err;
		n = in;
		break;
	}
	}
	err = errno;
	senders_leave(c);

	if (r > 0) {
		if ((size_t)r > n)
			fail(c, "thread %d: %s accepted %zd of %zu bytes", w->id, call, r, n);
		w->sent += r;
	} else if (r == 0) {
		fail(c, "thread %d: %s of %zu bytes returned 0", w->id, call, n);
	} else if (err && !err_common(c, err)) {
		char what[128];

		snprintf(what, sizeof(what), "%s of %zu bytes (flags 0x%x, %llu sent before)",
			 call, n, flags, (unsigned long long)w->sent);
		bad_errno(w, what, err);
	}
	touch(c);
}

/* sendmsg of one record of @type; @more adds MSG_MORE (which must fail). */
static ssize_t send_record(int fd, unsigned char type, const void *buf, size_t len,
			   int flags)
{
	char cbuf[CMSG_SPACE(1)] = { 0 };
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(1);
	*CMSG_DATA(cm) = type;
	return sendmsg(fd, &msg, flags | MSG_NOSIGNAL);
}

/* Our control message: 4-byte handshake header, a self-checking body. */
static int ctl_make(struct rng *r, unsigned char *m)
{
	int i, body = rng_range(r, 1, CTL_BODY_MAX);

	m[0] = HS_OTHER;
	m[1] = 0;
	m[2] = 0;
	m[3] = body;
	m[4] = rng_next(r);
	for (i = 1; i < body; i++)
		m[4 + i] = m[4] + 37 * i;
	return 4 + body;
}

/* A control record from A (or B's writer): whole or not at all. */
static void send_ctl(struct actor *w, int fd, long *count)
{
	struct conn *c = w->c;
	unsigned char m[64];
	int len = ctl_make(&w->r, m), flags = 0;
	ssize_t r;

	if (rng_chance(&w->r, 30))
		flags |= MSG_DONTWAIT;
	if (rng_chance(&w->r, 10)) {
		/* A record of another type cannot stay open. */
		set_op(w, "sendmsg(cmsg, MSG_MORE)");
		r = send_record(fd, TYPE_HANDSHAKE, m, len, MSG_MORE);
		if (r != -1 || errno != EINVAL)
			fail(c, "thread %d: a control record with MSG_MORE gave %zd (%s), not EINVAL",
			     w->id, r, r < 0 ? strerror(errno) : "accepted");
		return;
	}
	if (w->id < MAX_WORKERS)
		senders_enter(c);
	set_op(w, "sendmsg(cmsg)");
	r = send_record(fd, TYPE_HANDSHAKE, m, len, flags);
	if (r == len)
		__atomic_add_fetch(count, 1, __ATOMIC_RELAXED);
	else if (r >= 0)
		fail(c, "thread %d: a control record of %d bytes was taken in part (%zd)",
		     w->id, len, r);
	else if (!err_ok(w, errno))
		bad_errno(w, "sendmsg(cmsg)", errno);
	if (w->id < MAX_WORKERS)
		senders_leave(c);
	touch(c);
}

static const unsigned char key_update[] = { HS_KEY_UPDATE, 0, 0, 1, 0 };

/*
 * The next TX key. A writer of another thread in a send makes the module
 * refuse it with EBUSY until the send returns (user-api.rst); an
 * application retries. Every send returns within the plan's timeouts, so
 * 10 s of EBUSY is a failure.
 */
static int set_next_tx_key(int fd, const union kto_crypto_info *k)
{
	double end = kto_now() + 10;
	int r;

	while ((r = set_key(fd, TLS_TX, k)) && errno == EBUSY && kto_now() < end)
		sleep_ms(1);
	return r;
}

/*
 * KeyUpdate from A: the KeyUpdate record under the old key, then the new
 * key. Serialised mode keeps every sender out meanwhile, as a correct
 * application does; racing mode lets them in.
 */
static void a_rekey(struct actor *w, int fd)
{
	struct conn *c = w->c;
	union kto_crypto_info k;
	ssize_t r;

	if (c->version != TLS_1_3_VERSION) {
		key_of(c, true, 0, &k);
		set_op(w, "setsockopt(TLS_TX) again");
		if (set_key(fd, TLS_TX, &k) != -1 || errno != EBUSY)
			fail(c, "thread %d: a second TLS 1.2 TX key gave %s, not EBUSY", w->id,
			     errno ? strerror(errno) : "success");
		return;
	}
	if (c->p->rekey == REKEY_NONE)
		return;
	pthread_mutex_lock(&c->rekey);
	if (c->p->rekey == REKEY_SERIAL)
		pthread_rwlock_wrlock(&c->senders);
	set_op(w, "KeyUpdate record");
	r = send_record(fd, TYPE_HANDSHAKE, key_update, sizeof(key_update), 0);
	if (r == sizeof(key_update)) {
		/*
		 * Racing: give other writers time to start a send (and sleep
		 * in it, the peer not reading) before the key changes under
		 * them.
		 */
		if (c->p->rekey == REKEY_RACING)
			sleep_ms(rng_range(&w->r, 0, 20));
		key_of(c, true, c->a_tx_gen + 1, &k);
		set_op(w, "setsockopt(TLS_TX) KeyUpdate");
		if (set_next_tx_key(fd, &k)) {
			fail(c, "thread %d: TLS_TX with the next key after the KeyUpdate: %s",
			     w->id, strerror(errno));
		} else {
			c->a_tx_gen++;
			c->a_rekeys++;
		}
	} else if (r >= 0) {
		fail(c, "thread %d: the KeyUpdate record was taken in part (%zd)", w->id, r);
	} else if (!err_common(c, errno)) {
		bad_errno(w, "KeyUpdate record", errno);
	}
	if (c->p->rekey == REKEY_SERIAL)
		pthread_rwlock_unlock(&c->senders);
	pthread_mutex_unlock(&c->rekey);
	touch(c);
}

/* ---- A's other calls ---- */

static void a_setsockopt(struct actor *w, int fd)
{
	struct conn *c = w->c;
	bool v13 = c->version == TLS_1_3_VERSION;
	int r, err, val;

	switch (rng_range(&w->r, 0, 7)) {
	case 0: case 1: {	/* TLS_TX_MAX_PAYLOAD_LEN */
		unsigned int min = v13 ? 63 : 64;
		bool valid = rng_chance(&w->r, 80);
		uint16_t v = valid ? rng_range(&w->r, min, 16384) :
			     (rng_chance(&w->r, 50) ? min - 1 : 16385);

		set_op(w, "setsockopt(TLS_TX_MAX_PAYLOAD_LEN)");
		r = setsockopt(fd, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN, &v, sizeof(v));
		err = errno;
		/* EBUSY: a record is open (checked before the value). */
		if (r ? err != EBUSY && (valid || err != EINVAL) : !valid)
			fail(c, "thread %d: TLS_TX_MAX_PAYLOAD_LEN %u gave %s", w->id, v,
			     r ? strerror(err) : "success");
		break;
	}
	case 2:			/* TLS_RX_EXPECT_NO_PAD: TLS 1.3 RX only */
		val = rng_range(&w->r, 0, 1);
		set_op(w, "setsockopt(TLS_RX_EXPECT_NO_PAD)");
		r = setsockopt(fd, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &val, sizeof(val));
		err = errno;
		if (v13 ? r != 0 : (r != -1 || err != EINVAL))
			fail(c, "thread %d: TLS_RX_EXPECT_NO_PAD %d gave %s", w->id, val,
			     r ? strerror(err) : "success");
		break;
	case 3:
		val = rng_range(&w->r, 0, 1);
		set_op(w, "setsockopt(TLS_TX_ZEROCOPY_RO)");
		if (setsockopt(fd, SOL_TLS, TLS_TX_ZEROCOPY_RO, &val, sizeof(val)))
			fail(c, "thread %d: TLS_TX_ZEROCOPY_RO %d: %s", w->id, val,
			     strerror(errno));
		break;
	case 4:
		val = rng_range(&w->r, 4096, 262144);
		set_op(w, "setsockopt(SO_SNDBUF/SO_RCVBUF)");
		if (setsockopt(fd, SOL_SOCKET, rng_chance(&w->r, 50) ? SO_SNDBUF : SO_RCVBUF,
			       &val, sizeof(val)))
			fail(c, "thread %d: SO_SNDBUF/SO_RCVBUF: %s", w->id, strerror(errno));
		break;
	case 5:
		val = rng_range(&w->r, 0, 1);
		set_op(w, "setsockopt(TCP_NODELAY)");
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &val, sizeof(val)))
			fail(c, "thread %d: TCP_NODELAY: %s", w->id, strerror(errno));
		break;
	case 6:
		/* A low-water mark makes readers wait for more than one byte. */
		val = rng_chance(&w->r, 50) ? 1 : (int)rng_range(&w->r, 2, 4096);
		set_op(w, "setsockopt(SO_RCVLOWAT)");
		if (setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &val, sizeof(val)))
			fail(c, "thread %d: SO_RCVLOWAT: %s", w->id, strerror(errno));
		break;
	default:
		set_op(w, "fcntl(O_NONBLOCK)");
		val = fcntl(fd, F_GETFL);
		if (val < 0 || fcntl(fd, F_SETFL, val ^ O_NONBLOCK))
			fail(c, "thread %d: toggling O_NONBLOCK: %s", w->id, strerror(errno));
		break;
	}
}

static void a_getsockopt(struct actor *w, int fd)
{
	struct conn *c = w->c;
	union kto_crypto_info k;
	socklen_t len;
	uint16_t v16;
	char ulp[16];
	int val, r;

	switch (rng_range(&w->r, 0, 5)) {
	case 0: case 1: {
		int dir = rng_chance(&w->r, 50) ? TLS_TX : TLS_RX;

		len = rng_chance(&w->r, 20) ? sizeof(k.info) : kto_crypto_info_len(c->cipher);
		set_op(w, "getsockopt(TLS_TX/TLS_RX)");
		r = getsockopt(fd, SOL_TLS, dir, &k, &len);
		if (r || k.info.version != c->version || k.info.cipher_type != c->cipher)
			fail(c, "thread %d: getsockopt(%s) gave %s, version 0x%x cipher %u",
			     w->id, dir == TLS_TX ? "TLS_TX" : "TLS_RX",
			     r ? strerror(errno) : "success", k.info.version, k.info.cipher_type);
		break;
	}
	case 2:
		len = sizeof(v16);
		set_op(w, "getsockopt(TLS_TX_MAX_PAYLOAD_LEN)");
		r = getsockopt(fd, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN, &v16, &len);
		if (r || len != sizeof(v16) || v16 < 63 || v16 > 16384)
			fail(c, "thread %d: getsockopt(TLS_TX_MAX_PAYLOAD_LEN) gave %s, %u",
			     w->id, r ? strerror(errno) : "success", v16);
		break;
	case 3:
		len = sizeof(val);
		set_op(w, "getsockopt(TLS_RX_EXPECT_NO_PAD)");
		r = getsockopt(fd, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &val, &len);
		if (c->version == TLS_1_3_VERSION ? (r || (val != 0 && val != 1)) :
		    (r != -1 || errno != EINVAL))
			fail(c, "thread %d: getsockopt(TLS_RX_EXPECT_NO_PAD) gave %s, %d",
			     w->id, r ? strerror(errno) : "success", val);
		break;
	case 4:
		len = sizeof(val);
		set_op(w, "getsockopt(SO_ERROR)");
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &val, &len))
			fail(c, "thread %d: getsockopt(SO_ERROR): %s", w->id, strerror(errno));
		else if (val && !err_common(c, val))
			bad_errno(w, "SO_ERROR", val);
		break;
	default:
		len = sizeof(ulp);
		set_op(w, "getsockopt(TCP_ULP)");
		r = getsockopt(fd, IPPROTO_TCP, TCP_ULP, ulp, &len);
		if (r || strncmp(ulp, "tls", 3))
			fail(c, "thread %d: getsockopt(TCP_ULP) gave %s", w->id,
			     r ? strerror(errno) : "another ULP");
		break;
	}
}

static void a_wait(struct actor *w, int fd)
{
	struct conn *c = w->c;
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLOUT | POLLRDHUP };
	struct epoll_event ev[4];
	int r, val;

	switch (rng_range(&w->r, 0, 3)) {
	case 0:
		set_op(w, "poll");
		r = poll(&pfd, 1, rng_range(&w->r, 0, 20));
		if ((r < 0 && !err_common(c, errno)) || (r > 0 && (pfd.revents & POLLNVAL)))
			fail(c, "thread %d: poll gave %d, revents 0x%x (%s)", w->id, r,
			     pfd.revents, r < 0 ? strerror(errno) : "");
		break;
	case 1:
		set_op(w, "epoll_wait");
		r = epoll_wait(w->ep, ev, 4, rng_range(&w->r, 0, 20));
		if (r < 0 && !err_common(c, errno))
			bad_errno(w, "epoll_wait", errno);
		break;
	case 2:
		set_op(w, "ioctl(SIOCINQ/SIOCOUTQ)");
		if (ioctl(fd, rng_chance(&w->r, 50) ? SIOCINQ : SIOCOUTQ, &val))
			fail(c, "thread %d: ioctl: %s", w->id, strerror(errno));
		break;
	default:
		set_op(w, "pause");
		if (rng_chance(&w->r, 50))
			sched_yield();
		else
			sleep_ms(rng_range(&w->r, 0, 3));
		break;
	}
}

/* An abrupt end from A: close, shutdown or RST. */
static void a_end(struct actor *w, int fd)
{
	struct conn *c = w->c;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	static const int hows[] = { SHUT_RD, SHUT_WR, SHUT_RDWR };
	int how;

	c->ended = 1;
	switch (c->p->end) {
	case END_A_SHUTDOWN:
		how = hows[rng_range(&w->r, 0, 2)];
		set_op(w, "shutdown");
		if (shutdown(fd, how) && !err_common(c, errno))
			bad_errno(w, "shutdown", errno);
		break;
	case END_A_RST:
		set_op(w, "setsockopt(SO_LINGER 0)");
		if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
			fail(c, "thread %d: SO_LINGER: %s", w->id, strerror(errno));
		/* fall through */
	default:
		/* The socket goes when the last thread's descriptor does. */
		c->a_closing = 1;
		break;
	}
}

enum a_op {
	OP_SEND, OP_SENDMSG, OP_SENDFILE, OP_SPLICE_IN, OP_SEND_CTL, OP_SEND_EMPTY,
	OP_RECVMSG, OP_READ, OP_PEEK, OP_SPLICE_OUT, OP_REKEY, OP_SETSOCKOPT,
	OP_GETSOCKOPT, OP_WAIT, OP_NUM,
};

static const int op_weight[OP_NUM] = {
	[OP_SEND] = 10, [OP_SENDMSG] = 8, [OP_SENDFILE] = 5, [OP_SPLICE_IN] = 5,
	[OP_SEND_CTL] = 3, [OP_SEND_EMPTY] = 2, [OP_RECVMSG] = 12, [OP_READ] = 4,
	[OP_PEEK] = 5, [OP_SPLICE_OUT] = 4, [OP_REKEY] = 3, [OP_SETSOCKOPT] = 6,
	[OP_GETSOCKOPT] = 5, [OP_WAIT] = 8,
};

static enum a_op pick_op(struct rng *r)
{
	int total = 0, i, x;

	for (i = 0; i < OP_NUM; i++)
		total += op_weight[i];
	x = rng_range(r, 0, total - 1);
	for (i = 0; i < OP_NUM; i++) {
		x -= op_weight[i];
		if (x < 0)
			return i;
	}
	return OP_WAIT;
}

static void *a_worker(void *arg)
{
	struct actor *w = arg;
	struct conn *c = w->c;
	const struct plan *p = c->p;
	int i;

	w->tid = syscall(SYS_gettid);
	for (i = 0; i < p->ops && !c->a_closing && !c->failed; i++) {
		int at = __atomic_fetch_add(&c->ops_started, 1, __ATOMIC_RELAXED);
		enum a_op op = pick_op(&w->r);

		if (at == p->end_at) {
			if (abrupt_a(p))
				a_end(w, w->fd);
			else if (abrupt_b(p))
				c->ended = c->b_stop = 1;
			if (c->a_closing)
				break;
		}
		switch (op) {
		case OP_SEND:
			a_write(w, w->fd, WR_SEND);
			break;
		case OP_SENDMSG:
			a_write(w, w->fd, WR_SENDMSG);
			break;
		case OP_SENDFILE:
			a_write(w, w->fd, WR_SENDFILE);
			break;
		case OP_SPLICE_IN:
			a_write(w, w->fd, WR_SPLICE);
			break;
		case OP_SEND_CTL:
			send_ctl(w, w->fd, &c->a_ctl_sent);
			break;
		case OP_SEND_EMPTY: {
			int flags = MSG_NOSIGNAL | (rng_chance(&w->r, 50) ? MSG_DONTWAIT : 0) |
				    (rng_chance(&w->r, 30) ? MSG_MORE : 0);
			ssize_t r;

			senders_enter(c);
			set_op(w, "send of 0 bytes");
			r = send(w->fd, w->buf, 0, flags);
			if (r > 0 || (r < 0 && !err_common(c, errno)))
				fail(c, "thread %d: an empty send gave %zd (%s)", w->id, r,
				     r < 0 ? strerror(errno) : "bytes");
			senders_leave(c);
			break;
		}
		case OP_RECVMSG:
			a_read(w, w->fd, RD_RECVMSG, false);
			break;
		case OP_READ:
			a_read(w, w->fd, RD_PLAIN, false);
			break;
		case OP_PEEK:
			a_read(w, w->fd, RD_PEEK, false);
			break;
		case OP_SPLICE_OUT:
			a_read(w, w->fd, RD_SPLICE, false);
			break;
		case OP_REKEY:
			a_rekey(w, w->fd);
			break;
		case OP_SETSOCKOPT:
			a_setsockopt(w, w->fd);
			break;
		case OP_GETSOCKOPT:
			a_getsockopt(w, w->fd);
			break;
		default:
			a_wait(w, w->fd);
			break;
		}
		touch(c);
	}
	set_op(w, "close");
	close(w->fd);
	w->fd = -1;
	set_op(w, "done");
	w->done = 1;
	return NULL;
}

/* ---- B: the peer ---- */

/* A whole control message or KeyUpdate that B read from A. */
static void b_ctl_done(struct actor *w)
{
	struct conn *c = w->c;
	union kto_crypto_info k;

	switch (ctl_parse(c->b_ctl, c->b_ctl_have)) {
	case 1:
		key_of(c, true, c->b_rx_gen + 1, &k);
		if (set_key(w->fd, TLS_RX, &k))
			fail(c, "B: TLS_RX with A's key %d after its KeyUpdate: %s",
			     c->b_rx_gen + 1, strerror(errno));
		else
			c->b_rx_gen++;
		break;
	case 0:
		c->b_ctl_got++;
		break;
	default:
		fail(c, "B: a malformed control message from A (%d bytes, type %u)",
		     c->b_ctl_have, c->b_ctl[0]);
	}
	c->b_ctl_have = 0;
}

/* Check what B read against A's writers' streams (exact: B reads alone). */
static void b_took(struct actor *w, const unsigned char *buf, size_t n, int type,
		   bool peek)
{
	struct conn *c = w->c;
	uint64_t got[MAX_WORKERS];
	size_t i;

	touch(c);
	if (type == TYPE_HANDSHAKE) {
		if (peek)
			return;
		if (c->b_ctl_have + n > sizeof(c->b_ctl)) {
			fail(c, "B: a control record from A longer than any sent");
			return;
		}
		memcpy(c->b_ctl + c->b_ctl_have, buf, n);
		c->b_ctl_have += n;
		if (c->b_ctl_have >= 4 &&
		    c->b_ctl_have >= 4 + (c->b_ctl[1] << 16 | c->b_ctl[2] << 8 | c->b_ctl[3]))
			b_ctl_done(w);
		return;
	}
	if (type != TYPE_DATA) {
		fail(c, "B: a record of type %d from A", type);
		return;
	}
	if (c->b_ctl_have) {
		fail(c, "B: data inside a control message from A");
		return;
	}
	memcpy(got, w->got, sizeof(got));
	for (i = 0; i < n; i++) {
		int t = buf[i] >> 6;

		if (t >= c->p->workers || buf[i] != tag(c->key_a, t, got[t])) {
			fail(c, "B: %s byte %zu of %zu is 0x%02x: not byte %llu of A's thread %d (0x%02x)%s",
			     peek ? "peeked" : "read", i, n, buf[i], (unsigned long long)got[t],
			     t, t < c->p->workers ? tag(c->key_a, t, got[t]) : 0,
			     t < c->p->workers ? "" : ", which does not exist");
			return;
		}
		got[t]++;
	}
	if (!peek)
		memcpy(w->got, got, sizeof(got));
}

static void *b_reader(void *arg)
{
	struct actor *w = arg;
	struct conn *c = w->c;
	const struct plan *p = c->p;

	w->tid = syscall(SYS_gettid);
	while (!c->b_stop && !c->failed) {
		bool drain = c->drain;
		int flags = 0, type;
		size_t n;
		ssize_t r;

		if (p->peer == PEER_LATE && !drain) {
			set_op(w, "not reading");
			sleep_ms(5);
			continue;
		}
		if (!drain && p->peer == PEER_STALLS && rng_chance(&w->r, 10)) {
			set_op(w, "stalling");
			sleep_ms(rng_range(&w->r, 20, 200));
		}
		n = !drain && p->peer == PEER_SLOW ? rng_range(&w->r, 1, 4096) :
		    pick_size(&w->r, 1);
		if (!drain) {
			if (rng_chance(&w->r, 10))
				flags |= MSG_PEEK;
			if (rng_chance(&w->r, 10))
				flags |= MSG_WAITALL;
			if (rng_chance(&w->r, 10))
				flags |= MSG_DONTWAIT;
		}
		set_op(w, "recvmsg");
		r = recv_split(w, w->fd, w->buf, n, flags, true, &type);
		if (r > 0) {
			if (type <= 0)
				fail(c, "B: recvmsg returned %zd bytes without their record type", r);
			else
				b_took(w, w->buf, r, type, flags & MSG_PEEK);
		} else if (r == 0) {
			c->b_eof = 1;
			if (!c->ended && !c->a_shut_wr)
				fail(c, "B: EOF before A ended");
			break;
		} else if (errno == EBADMSG && p->rekey == REKEY_RACING) {
			/* A's writers raced its KeyUpdate: allowed, and final. */
			c->b_err = errno;
			break;
		} else if (errno == EPIPE || errno == ECONNRESET) {
			c->b_err = errno;
			if (!c->ended)
				bad_errno(w, "B's recvmsg", errno);
			break;
		} else if (errno != EAGAIN) {
			bad_errno(w, "B's recvmsg", errno);
			break;
		}
		if (!drain && p->peer == PEER_SLOW)
			sleep_ms(rng_range(&w->r, 0, 2));
	}
	if (abrupt_b(p) && c->b_stop) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		if (p->end == END_B_RST)
			setsockopt(w->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		/* B's socket goes when its writer's copy goes too. */
		close(w->fd);
		w->fd = -1;
	}
	set_op(w, "done");
	w->done = 1;
	return NULL;
}

static void b_rekey(struct actor *w)
{
	struct conn *c = w->c;
	union kto_crypto_info k;
	ssize_t r;

	set_op(w, "B's KeyUpdate record");
	r = send_record(w->fd, TYPE_HANDSHAKE, key_update, sizeof(key_update), 0);
	if (r == sizeof(key_update)) {
		key_of(c, false, c->b_tx_gen + 1, &k);
		if (set_key(w->fd, TLS_TX, &k))
			fail(c, "B: TLS_TX with the next key: %s", strerror(errno));
		else
			c->b_tx_gen++, c->b_rekeys++;
	} else if (r >= 0) {
		fail(c, "B: the KeyUpdate record was taken in part (%zd)", r);
	} else if (!err_ok(w, errno)) {
		bad_errno(w, "B's KeyUpdate record", errno);
	}
}

static void *b_writer(void *arg)
{
	struct actor *w = arg;
	struct conn *c = w->c;
	int i;

	w->tid = syscall(SYS_gettid);
	for (i = 0; i < c->p->ops && !c->b_stop && !c->failed && !c->b_err; i++) {
		int x = rng_range(&w->r, 0, 99), flags = MSG_NOSIGNAL;
		size_t n;
		ssize_t r;

		if (x < 70) {
			n = pick_size(&w->r, 1);
			if (rng_chance(&w->r, 20))
				flags |= MSG_MORE;
			if (rng_chance(&w->r, 20))
				flags |= MSG_DONTWAIT;
			fill(c->key_b, 0, w->sent, w->buf, n);
			set_op(w, "B's send");
			r = send(w->fd, w->buf, n, flags);
			if (r > 0) {
				w->sent += r;
			} else if (r < 0 && (errno == EPIPE || errno == ECONNRESET) && c->ended) {
				break;
			} else if (r < 0 && errno == EBADMSG && err_ok(w, errno)) {
				break;
			} else if (r == 0 || !err_ok(w, errno)) {
				bad_errno(w, "B's send", r ? errno : 0);
			}
		} else if (x < 78) {
			send_ctl(w, w->fd, &c->b_ctl_sent);
		} else if (x < 83) {
			if (c->version == TLS_1_3_VERSION && c->p->rekey != REKEY_NONE)
				b_rekey(w);
		} else {
			set_op(w, "B's pause");
			sleep_ms(rng_range(&w->r, 0, 20));
		}
		touch(c);
	}
	if (abrupt_b(c->p) && c->b_stop) {
		close(w->fd);
		w->fd = -1;
	}
	set_op(w, "done");
	w->done = 1;
	return NULL;
}

/* ---- one connection from start to end ---- */

static void sigusr1(int sig)
{
	(void)sig;
}

/*
 * A stuck thread's own backtrace (SIGUSR2, from dump_stuck): where it is
 * in userspace, for a thread the kernel shows no stack for. Addresses
 * only (a static binary has no symbol table for backtrace_symbols):
 * addr2line -f -e build/tests/seqfuzz ADDR names them.
 */
static volatile sig_atomic_t backtrace_done;

static void sigusr2(int sig)
{
	void *frames[32];
	int n = backtrace(frames, 32);

	(void)sig;
	backtrace_symbols_fd(frames, n, STDOUT_FILENO);
	backtrace_done = 1;
}

/* Where the bytes sit: TCP's queues of both ends, the module's counters. */
static void dump_queues(struct conn *c)
{
	const char *names[] = { "A", "B" };
	int fds[] = { c->a, c->b }, i, inq, outq;
	char line[128];
	FILE *f;

	for (i = 0; i < 2; i++) {
		if (fds[i] < 0 || ioctl(fds[i], SIOCINQ, &inq) || ioctl(fds[i], SIOCOUTQ, &outq))
			continue;
		printf("# seqfuzz: conn %d: %s: TCP receive queue %d bytes, send queue %d\n",
		       c->index, names[i], inq, outq);
	}
	f = fopen(KTO_STAT_FILE, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "Kto", 3) || strstr(line, "Records") || strstr(line, "Error"))
			printf("#     %s", line);
	if (f)
		fclose(f);
}

/* Where a thread spends its CPU: user and system ticks over 0.5 s, state. */
static const char *cpu_of(int tid)
{
	static char out[384];
	unsigned long u[2] = { 0 }, k[2] = { 0 };
	unsigned long long run[2] = { 0 }, wait[2] = { 0 }, slices[2] = { 0 };
	char path[64], sched[64], st[2] = "?";
	int i;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	/* schedstat: ns on a CPU, ns runnable but waiting for one, timeslices */
	snprintf(sched, sizeof(sched), "/proc/self/task/%d/schedstat", tid);
	for (i = 0; i < 2; i++) {
		FILE *f = fopen(path, "r");
		char buf[512], *p;

		if (f && fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
			sscanf(p + 2, "%1s %*s %*s %*s %*s %*s %*s %*s %*s %*s %lu %lu",
			       st, &u[i], &k[i]);
		if (f)
			fclose(f);
		f = fopen(sched, "r");
		if (f && fscanf(f, "%llu %llu %llu", &run[i], &wait[i], &slices[i]) != 3)
			run[i] = wait[i] = slices[i] = 0;
		if (f)
			fclose(f);
		if (!i)
			usleep(500 * 1000);
	}
	snprintf(out, sizeof(out),
		 "state %s, +%lu user +%lu system ticks in 0.5 s (on a CPU +%llu us, waiting for one +%llu us, +%llu timeslices), syscall ",
		 st, u[1] - u[0], k[1] - k[0], (run[1] - run[0]) / 1000,
		 (wait[1] - wait[0]) / 1000, slices[1] - slices[0]);
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	{
		FILE *f = fopen(path, "r");
		size_t l = strlen(out);

		if (f && fgets(out + l, sizeof(out) - l, f))
			out[strcspn(out, "\n")] = 0;
		if (f)
			fclose(f);
	}
	return out;
}

/* The kernel's own report into its log (the VM's console), if it has sysrq. */
static void sysrq(const char *what)
{
	FILE *f = fopen("/proc/sysrq-trigger", "w");

	printf("# seqfuzz: sysrq %s: %s\n", what, f ? "into the kernel log" : strerror(errno));
	fflush(stdout);
	if (!f)
		return;
	fputs(what, f);
	fclose(f);
	sleep_ms(2000);
}

static void dump_stuck(struct conn *c)
{
	long now = now_ms();
	int i;

	dump_queues(c);
	for (i = 0; i < ACT_NUM; i++) {
		struct actor *w = &c->act[i];
		char path[64], line[256];
		FILE *f;

		if (!w->started || w->done)
			continue;
		printf("# seqfuzz: conn %d: thread %d (tid %d) in %s for %ld ms; %s; kernel stack:\n",
		       c->index, i, w->tid, w->op, now - w->op_since, cpu_of(w->tid));
		snprintf(path, sizeof(path), "/proc/self/task/%d/stack", w->tid);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			printf("#     %s", line);
		if (f)
			fclose(f);
		printf("# seqfuzz: conn %d: thread %d's userspace backtrace:\n", c->index, i);
		fflush(stdout);
		backtrace_done = 0;
		pthread_kill(w->th, SIGUSR2);
		for (int t = 0; t < 200 && !backtrace_done; t++)
			usleep(10 * 1000);
		if (!backtrace_done)
			printf("#     (no answer to SIGUSR2 within 2 s: the thread does not run)\n");
	}
	fflush(stdout);
	sysrq("l");	/* what each CPU runs now */
	sysrq("t");	/* every task's state and kernel stack, running ones too */
}

static bool all_done(struct conn *c, int from, int to)
{
	int i;

	for (i = from; i < to; i++)
		if (c->act[i].started && !c->act[i].done)
			return false;
	return true;
}

/* Wait for threads [from, to), interrupting A's workers if the plan says. */
static bool wait_threads(struct conn *c, struct rng *r, int from, int to, long limit_ms)
{
	long start = now_ms();

	while (!all_done(c, from, to)) {
		long now = now_ms();

		if (c->p->signals) {
			struct actor *w = &c->act[rng_range(r, 0, c->p->workers - 1)];

			if (!w->done)
				pthread_kill(w->th, SIGUSR1);
		}
		if (now - start > limit_ms && now - c->progress > STALL_SEC * 1000) {
			fail(c, "threads stuck: no progress for %d s", STALL_SEC);
			dump_stuck(c);
			return false;
		}
		sleep_ms(rng_range(r, 2, 20));
	}
	return true;
}

/*
 * B's RX rejected a record that raced A's KeyUpdate: as in kTLS, that
 * error is fatal to B's socket (every later send fails), so bytes B's sends
 * had put in an open MSG_MORE record never leave. A has all it will get
 * once nothing is in flight: B's TCP send queue and A's receive queue are
 * empty and A has nothing to read.
 */
static bool b_dead_and_flushed(struct conn *c)
{
	struct pollfd pfd = { .fd = c->a, .events = POLLIN };
	int outq = -1, inq = -1;

	if (c->b_err != EBADMSG || c->p->rekey != REKEY_RACING || c->b < 0)
		return false;
	if (ioctl(c->b, SIOCOUTQ, &outq) || ioctl(c->a, SIOCINQ, &inq))
		return false;
	return !outq && !inq && poll(&pfd, 1, 0) == 0;
}

/* The graceful end: everything accepted arrives, with no call left to push it. */
/* Everything each side sent has been read (or B's reading ended, allowed). */
static bool drained(struct conn *c, uint64_t a_sent, bool a_side)
{
	uint64_t b_got = 0;
	int i;

	/* KeyUpdates count: a reader has installed the key after each. */
	if (a_side && b_dead_and_flushed(c))
		return c->a_got <= c->act[ACT_B_WRITER].sent;
	if (a_side)
		return c->a_got == c->act[ACT_B_WRITER].sent &&
		       c->a_ctl_got == c->b_ctl_sent && !c->a_ctl_have &&
		       c->a_rx_gen == c->b_tx_gen;
	/* B rejected a record that raced a KeyUpdate: nothing more comes. */
	if (c->b_err == EBADMSG && c->p->rekey == REKEY_RACING)
		return true;
	for (i = 0; i < c->p->workers; i++)
		b_got += c->act[ACT_B_READER].got[i];
	return a_sent == b_got && c->b_ctl_got == c->a_ctl_sent && !c->b_ctl_have &&
	       c->b_rx_gen == c->a_tx_gen;
}

static void drain(struct conn *c, struct actor *self)
{
	uint64_t a_sent = 0;
	int i, one = 1, fl;
	bool b_dead;

	for (i = 0; i < c->p->workers; i++)
		a_sent += c->act[i].sent;
	c->drain = 1;
	/* Undo what the workers may have left: a low-water mark, O_NONBLOCK. */
	fl = fcntl(c->a, F_GETFL);
	if (setsockopt(c->a, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one)) || fl < 0 ||
	    fcntl(c->a, F_SETFL, fl & ~O_NONBLOCK))
		fail(c, "A: resetting SO_RCVLOWAT and O_NONBLOCK: %s", strerror(errno));
	/* End a record MSG_MORE left open, on both ends; TX work pushes the rest. */
	if (send(c->a, self->buf, 0, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
		fail(c, "A: the empty send ending the last record: %s", strerror(errno));
	/* B's RX error (a record that raced a KeyUpdate) is reported once more. */
	if (send(c->b, self->buf, 0, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN &&
	    !(errno == EBADMSG && c->b_err == EBADMSG))
		fail(c, "B: the empty send ending the last record: %s", strerror(errno));
	touch(c);
	/* A reads what B sent; B's reader reads what A sent. */
	while (!c->failed && !(drained(c, a_sent, true) && drained(c, a_sent, false))) {
		struct pollfd pfd = { .fd = c->a, .events = POLLIN };
		int r;

		if (c->act[ACT_B_READER].done && !drained(c, a_sent, false)) {
			fail(c, "B's reader stopped before the end (%s)", strerror(c->b_err));
			return;
		}
		if (now_ms() - c->progress > STALL_SEC * 1000) {
			uint64_t b_got = 0;

			for (i = 0; i < c->p->workers; i++)
				b_got += c->act[ACT_B_READER].got[i];
			fail(c, "drain stalled for %d s with no call left to push: B has %llu of A's %llu bytes (%ld of %ld control records), A has %llu of B's %llu (%ld of %ld)",
			     STALL_SEC, (unsigned long long)b_got, (unsigned long long)a_sent,
			     c->b_ctl_got, c->a_ctl_sent, (unsigned long long)c->a_got,
			     (unsigned long long)c->act[ACT_B_WRITER].sent, c->a_ctl_got,
			     c->b_ctl_sent);
			dump_stuck(c);
			return;
		}
		if (drained(c, a_sent, true)) {
			sleep_ms(2);
			continue;
		}
		if (poll(&pfd, 1, 100) > 0) {
			r = a_read(self, c->a, RD_RECVMSG, true);
			if (r < 0 && r != -EAGAIN)
				return;
		}
	}
	if (c->failed)
		return;
	/* Then EOF, each way. */
	c->a_shut_wr = 1;
	if (shutdown(c->a, SHUT_WR))
		fail(c, "A: shutdown(SHUT_WR): %s", strerror(errno));
	while (!c->b_eof && !c->failed && !c->b_err) {
		if (c->act[ACT_B_READER].done) {
			/*
			 * The reader sets b_eof or b_err before done: if it
			 * ended between this loop's test and here, look again.
			 */
			if (c->b_eof || c->b_err || c->failed)
				break;
			fail(c, "B's reader stopped without EOF (%s)", strerror(c->b_err));
			return;
		}
		if (now_ms() - c->progress > STALL_SEC * 1000) {
			fail(c, "B saw no EOF %d s after A's shutdown(SHUT_WR)", STALL_SEC);
			dump_stuck(c);
			return;
		}
		sleep_ms(2);
	}
	b_dead = c->b_err == EBADMSG && c->p->rekey == REKEY_RACING;
	c->b_shut_wr = 1;
	if (shutdown(c->b, SHUT_WR))
		fail(c, "B: shutdown(SHUT_WR): %s", strerror(errno));
	while (!c->a_eof && !c->failed) {
		struct pollfd pfd = { .fd = c->a, .events = POLLIN };

		if (now_ms() - c->progress > STALL_SEC * 1000) {
			fail(c, "A saw no EOF %d s after B's shutdown(SHUT_WR)", STALL_SEC);
			return;
		}
		/*
		 * Unless B's sends were refused after its RX error: its
		 * shutdown still pushes the record they had left open.
		 */
		if (poll(&pfd, 1, 100) > 0 && a_read(self, c->a, RD_RECVMSG, true) > 0 &&
		    !b_dead)
			fail(c, "A read data after everything B sent");
	}
}

static void check_counts(struct conn *c)
{
	const struct plan *p = c->p;
	bool all = p->end == END_GRACEFUL;
	bool b_dead = c->b_err == EBADMSG && p->rekey == REKEY_RACING;
	uint64_t hist[64] = { 0 }, b_sent = c->act[ACT_B_WRITER].sent, o;
	int t;

	for (t = 0; t < p->workers; t++) {
		uint64_t s = c->act[t].sent, g = c->act[ACT_B_READER].got[t];

		if (g > s || (all && g != s && !c->b_err))
			fail(c, "B got %llu bytes from A's thread %d, which sent %llu",
			     (unsigned long long)g, t, (unsigned long long)s);
	}
	if (c->b_ctl_got > c->a_ctl_sent || (all && !c->b_err && c->b_ctl_got != c->a_ctl_sent))
		fail(c, "B got %ld control records, A sent %ld", c->b_ctl_got, c->a_ctl_sent);
	/* B's RX error is fatal to its sends: A then gets a prefix (drained()). */
	if (c->a_got > b_sent || (all && !b_dead && c->a_got != b_sent))
		fail(c, "A got %llu bytes, B sent %llu", (unsigned long long)c->a_got,
		     (unsigned long long)b_sent);
	if (c->a_ctl_got > c->b_ctl_sent || (all && !b_dead && c->a_ctl_got != c->b_ctl_sent))
		fail(c, "A got %ld control records, B sent %ld", c->a_ctl_got, c->b_ctl_sent);
	if (c->a_rx_gen > c->b_tx_gen || c->b_rx_gen > c->a_tx_gen ||
	    (all && ((!b_dead && c->a_rx_gen != c->b_tx_gen) ||
		     (!c->b_err && c->b_rx_gen != c->a_tx_gen))))
		fail(c, "KeyUpdates: A sent %d, B installed %d; B sent %d, A installed %d",
		     c->a_tx_gen, c->b_rx_gen, c->b_tx_gen, c->a_rx_gen);
	if (all && c->b_err && p->rekey != REKEY_RACING)
		fail(c, "B's reader ended with %s", strerror(c->b_err));
	if (!p->racing_readers)
		return;
	/* Racing readers: the values read are the values B sent, no more. */
	for (o = 0; o < b_sent; o++)
		hist[tag(c->key_b, 0, o)]++;
	for (t = 0; t < 64; t++)
		if (c->a_hist[t] > hist[t] || (all && !b_dead && c->a_hist[t] != hist[t])) {
			fail(c, "A read %llu bytes of value 0x%02x, B sent %llu",
			     (unsigned long long)c->a_hist[t], t, (unsigned long long)hist[t]);
			return;
		}
}

static int start(struct actor *w, void *(*fn)(void *))
{
	w->started = true;
	return pthread_create(&w->th, NULL, fn, w);
}

static int actor_init(struct conn *c, struct actor *w, int id, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP };

	w->c = c;
	w->id = id;
	w->r.s = c->seed * 31 + id + 1;
	w->pipe[0] = w->pipe[1] = w->memfd = w->ep = -1;
	w->buf = malloc(IO_MAX);
	w->fd = fd >= 0 ? dup(fd) : -1;
	if (!w->buf || (fd >= 0 && w->fd < 0))
		return -1;
	if (id >= MAX_WORKERS)
		return 0;
	if (pipe2(w->pipe, O_NONBLOCK))
		return -1;
	w->memfd = memfd_create("seqfuzz", 0);
	w->ep = epoll_create1(0);
	if (w->memfd < 0 || w->ep < 0)
		return -1;
	if (rng_chance(&w->r, 30))
		ev.events |= EPOLLET;
	return epoll_ctl(w->ep, EPOLL_CTL_ADD, w->fd, &ev);
}

static void actor_free(struct actor *w)
{
	int *fds[] = { &w->fd, &w->pipe[0], &w->pipe[1], &w->memfd, &w->ep };
	unsigned int i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
	free(w->buf);
}

static int conn_setup(struct conn *c)
{
	const struct plan *p = c->p;
	struct timeval tv = { .tv_sec = p->timeo_ms / 1000,
			      .tv_usec = (p->timeo_ms % 1000) * 1000 };
	union kto_crypto_info k;
	int fd, i;

	if (kto_tcp_pair(p->family, &c->a, &c->b))
		return -1;
	for (i = 0; i < 2; i++) {
		fd = i ? c->b : c->a;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
		    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
		    setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")))
			return -1;
	}
	if ((p->a_sndbuf && setsockopt(c->a, SOL_SOCKET, SO_SNDBUF, &p->a_sndbuf,
				       sizeof(p->a_sndbuf))) ||
	    (p->b_rcvbuf && setsockopt(c->b, SOL_SOCKET, SO_RCVBUF, &p->b_rcvbuf,
				       sizeof(p->b_rcvbuf))))
		return -1;
	key_of(c, true, 0, &k);
	if (set_key(c->a, TLS_TX, &k) || set_key(c->b, TLS_RX, &k))
		return -1;
	key_of(c, false, 0, &k);
	if (set_key(c->b, TLS_TX, &k) || set_key(c->a, TLS_RX, &k))
		return -1;
	if (p->max_payload) {
		uint16_t v = p->max_payload;

		if (setsockopt(c->a, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN, &v, sizeof(v)))
			return -1;
	}
	return 0;
}

/* Run connection @index of a variant; false if it failed (reason printed). */
static bool run_conn(uint16_t version, uint16_t cipher, int variant, int index,
		     struct conn *c, struct plan *p)
{
	struct rng r = { .s = opt_seed ^ ((uint64_t)variant << 48) ^ ((uint64_t)index << 20) };
	char desc[256];
	long t0 = now_ms(), limit;
	struct actor self = { 0 };
	pthread_rwlockattr_t rwa;
	int i;

	rng_next(&r);
	memset(c, 0, sizeof(*c));
	c->seed = rng_next(&r);
	c->index = index;
	c->version = version;
	c->cipher = cipher;
	c->key_a = rng_next(&r);
	c->key_b = rng_next(&r);
	c->a_rec_seq_hi = rng_next(&r);
	c->b_rec_seq_hi = rng_next(&r);
	plan_draw(p, &r, version);
	c->p = p;
	c->a = c->b = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->consume, NULL);
	pthread_mutex_init(&c->rekey, NULL);
	pthread_mutex_init(&c->a_rx_key, NULL);
	pthread_rwlockattr_init(&rwa);
	/* A KeyUpdate must not starve behind a stream of senders. */
	pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&c->senders, &rwa);
	plan_describe(p, desc, sizeof(desc));
	printf("# seqfuzz: conn %d: %s\n", index, desc);
	fflush(stdout);
	touch(c);

	if (conn_setup(c)) {
		fail(c, "setting up the TLS pair: %s", strerror(errno));
		goto out;
	}
	self.c = c;
	self.id = ACT_NUM;	/* "thread 6": the drain, reading as A's consumer */
	self.r.s = c->seed ^ 0x5e1f;
	self.fd = self.pipe[0] = self.pipe[1] = self.memfd = self.ep = -1;
	self.buf = malloc(IO_MAX);
	if (!self.buf)
		goto out;
	for (i = 0; i < p->workers; i++)
		if (actor_init(c, &c->act[i], i, c->a))
			goto setup_failed;
	if (actor_init(c, &c->act[ACT_B_READER], ACT_B_READER, c->b) ||
	    actor_init(c, &c->act[ACT_B_WRITER], ACT_B_WRITER, c->b))
		goto setup_failed;
	/* An abrupt end releases that socket when its threads' copies close. */
	if (abrupt_a(p)) {
		close(c->a);
		c->a = -1;
	}
	if (abrupt_b(p)) {
		close(c->b);
		c->b = -1;
	}
	if (start(&c->act[ACT_B_READER], b_reader) || start(&c->act[ACT_B_WRITER], b_writer))
		goto setup_failed;
	for (i = 0; i < p->workers; i++)
		if (start(&c->act[i], a_worker))
			goto setup_failed;

	/* Each call returns within its timeout, so this bounds a healthy run. */
	limit = (long)p->ops * (4 * p->timeo_ms + 100) + STALL_SEC * 1000;
	if (!wait_threads(c, &r, 0, MAX_WORKERS, limit))
		goto unstick;
	if (abrupt_b(p)) {
		/* B ends with A's operations at the latest; its socket goes with its threads. */
		c->ended = c->b_stop = 1;
		if (!wait_threads(c, &r, ACT_B_READER, ACT_NUM, limit))
			goto unstick;
	} else {
		if (!wait_threads(c, &r, ACT_B_WRITER, ACT_NUM, limit))
			goto unstick;
		if (p->end == END_GRACEFUL) {
			drain(c, &self);
		} else {
			/* A ended: B reads until EOF or an error. */
			c->drain = 1;
			if (!wait_threads(c, &r, ACT_B_READER, ACT_NUM, limit))
				goto unstick;
		}
	}
	c->b_stop = 1;
	if (!wait_threads(c, &r, ACT_B_READER, ACT_NUM, limit))
		goto unstick;
	for (i = 0; i < ACT_NUM; i++)
		if (c->act[i].started)
			pthread_join(c->act[i].th, NULL);
	if (!c->failed)
		check_counts(c);
	goto out;

unstick:
	/* Wake every call still waiting; if that does not help, give up. */
	c->a_closing = c->b_stop = 1;
	for (i = 0; i < ACT_NUM; i++)
		if (c->act[i].fd >= 0)
			shutdown(c->act[i].fd, SHUT_RDWR);
	c->progress = now_ms();
	if (!wait_threads(c, &r, 0, ACT_NUM, 10000)) {
		printf("# seqfuzz: conn %d: threads still stuck after shutdown; giving up\n", index);
		fflush(stdout);
		_exit(KSFT_FAIL);
	}
	for (i = 0; i < ACT_NUM; i++)
		if (c->act[i].started)
			pthread_join(c->act[i].th, NULL);
	goto out;

setup_failed:
	fail(c, "setting up the threads: %s", strerror(errno));
	c->a_closing = c->b_stop = 1;
	for (i = 0; i < ACT_NUM; i++)
		if (c->act[i].started)
			pthread_join(c->act[i].th, NULL);
out:
	for (i = 0; i < ACT_NUM; i++)
		actor_free(&c->act[i]);
	free(self.buf);
	if (c->a >= 0)
		close(c->a);
	if (c->b >= 0)
		close(c->b);
	if (!c->failed) {
		uint64_t a_sent = 0;

		for (i = 0; i < p->workers; i++)
			a_sent += c->act[i].sent;
		printf("# seqfuzz: conn %d: ok in %.1f s: A sent %llu bytes, %ld control, %ld KeyUpdates; B sent %llu, %ld, %ld\n",
		       index, (now_ms() - t0) / 1000.0, (unsigned long long)a_sent,
		       c->a_ctl_sent, c->a_rekeys,
		       (unsigned long long)c->act[ACT_B_WRITER].sent, c->b_ctl_sent,
		       c->b_rekeys);
		if (c->b_err == EBADMSG)
			printf("# seqfuzz: conn %d: B's RX rejected a record that raced a KeyUpdate (EBADMSG); A got %llu of B's bytes\n",
			       index, (unsigned long long)c->a_got);
	} else {
		printf("# seqfuzz: conn %d: reproduce: ./seqfuzz --seed=%llu --conn=%d --ops=%d (and -v with this variant)\n",
		       index, (unsigned long long)opt_seed, index, opt_ops);
	}
	fflush(stdout);
	return !c->failed;
}

/* ---- the variants ---- */

FIXTURE(seqfuzz)
{
	long base_tx, base_rx, base_ctx, base_peeked;
};

FIXTURE_VARIANT(seqfuzz)
{
	uint16_t version;
	uint16_t cipher;
	int id;
};

FIXTURE_VARIANT_ADD(seqfuzz, tls12_gcm128) {
	.version = TLS_1_2_VERSION, .cipher = TLS_CIPHER_AES_GCM_128, .id = 1 };
FIXTURE_VARIANT_ADD(seqfuzz, tls12_gcm256) {
	.version = TLS_1_2_VERSION, .cipher = TLS_CIPHER_AES_GCM_256, .id = 2 };
FIXTURE_VARIANT_ADD(seqfuzz, tls12_ccm) {
	.version = TLS_1_2_VERSION, .cipher = TLS_CIPHER_AES_CCM_128, .id = 3 };
FIXTURE_VARIANT_ADD(seqfuzz, tls12_chacha) {
	.version = TLS_1_2_VERSION, .cipher = TLS_CIPHER_CHACHA20_POLY1305, .id = 4 };
FIXTURE_VARIANT_ADD(seqfuzz, tls13_gcm128) {
	.version = TLS_1_3_VERSION, .cipher = TLS_CIPHER_AES_GCM_128, .id = 5 };
FIXTURE_VARIANT_ADD(seqfuzz, tls13_gcm256) {
	.version = TLS_1_3_VERSION, .cipher = TLS_CIPHER_AES_GCM_256, .id = 6 };
FIXTURE_VARIANT_ADD(seqfuzz, tls13_ccm) {
	.version = TLS_1_3_VERSION, .cipher = TLS_CIPHER_AES_CCM_128, .id = 7 };
FIXTURE_VARIANT_ADD(seqfuzz, tls13_chacha) {
	.version = TLS_1_3_VERSION, .cipher = TLS_CIPHER_CHACHA20_POLY1305, .id = 8 };

FIXTURE_SETUP(seqfuzz)
{
	struct sigaction sa = { .sa_handler = sigusr1 };
	struct sigaction bt = { .sa_handler = sigusr2, .sa_flags = SA_RESTART };
	void *frame;

	/* No SA_RESTART: a signal makes the call it hits return EINTR or short. */
	ASSERT_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
	/* The first backtrace() may allocate: not in the handler. */
	backtrace(&frame, 1);
	ASSERT_EQ(sigaction(SIGUSR2, &bt, NULL), 0);
	signal(SIGPIPE, SIG_IGN);
	self->base_tx = kto_stat_get("TlsCurrTxSw");
	self->base_rx = kto_stat_get("TlsCurrRxSw");
	self->base_ctx = kto_stat_get("KtoLiveContexts");
	self->base_peeked = kto_stat_get("KtoLivePeekedRecords");
}

FIXTURE_TEARDOWN(seqfuzz)
{
}

/* Counters back at their baseline once the sockets are gone (RCU, TCP). */
static bool counters_settle(FIXTURE_DATA(seqfuzz) *self)
{
	int i;

	for (i = 0; i < 300; i++) {
		if (kto_stat_get("TlsCurrTxSw") == self->base_tx &&
		    kto_stat_get("TlsCurrRxSw") == self->base_rx &&
		    kto_stat_get("KtoLiveContexts") == self->base_ctx &&
		    kto_stat_get("KtoLivePeekedRecords") == self->base_peeked)
			return true;
		sleep_ms(100);
	}
	return false;
}

TEST_F_TIMEOUT(seqfuzz, sequences, 7200)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct plan p;
	int i, failed = 0, n = 0;

	ASSERT_NE(c, NULL);
	for (i = opt_conn >= 0 ? opt_conn : 0;
	     i < (opt_conn >= 0 ? opt_conn + 1 : opt_conns); i++, n++)
		if (!run_conn(variant->version, variant->cipher, variant->id, i, c, &p))
			failed++;
	free(c);
	EXPECT_EQ(failed, 0);
	EXPECT_TRUE(counters_settle(self)) {
		TH_LOG("counters not back: TlsCurrTxSw %ld (was %ld), TlsCurrRxSw %ld (%ld), KtoLiveContexts %ld (%ld), KtoLivePeekedRecords %ld (%ld)",
		       kto_stat_get("TlsCurrTxSw"), self->base_tx,
		       kto_stat_get("TlsCurrRxSw"), self->base_rx,
		       kto_stat_get("KtoLiveContexts"), self->base_ctx,
		       kto_stat_get("KtoLivePeekedRecords"), self->base_peeked);
	}
	TH_LOG("%d connections, %d failed", n, failed);
}

static long arg_long(const char *s, long min, const char *what)
{
	char *end;
	long v = strtol(s, &end, 0);

	if (*s == '\0' || *end != '\0' || v < min) {
		fprintf(stderr, "seqfuzz: %s must be a number >= %ld, got '%s'\n", what, min, s);
		exit(KSFT_FAIL);
	}
	return v;
}

/* Strip our options; the rest goes to the harness. */
static void parse_args(int *argc, char **argv)
{
	const char *env;
	int i, j;

	opt_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	env = getenv("KTO_SEQFUZZ_SEED");
	if (env && *env)
		opt_seed = strtoull(env, NULL, 0);
	env = getenv("KTO_SEQFUZZ_CONNS");
	if (env && *env)
		opt_conns = arg_long(env, 1, "KTO_SEQFUZZ_CONNS");
	env = getenv("KTO_SEQFUZZ_OPS");
	if (env && *env)
		opt_ops = arg_long(env, 1, "KTO_SEQFUZZ_OPS");
	for (i = j = 1; i < *argc; i++) {
		if (!strncmp(argv[i], "--seed=", 7))
			opt_seed = strtoull(argv[i] + 7, NULL, 0);
		else if (!strncmp(argv[i], "--conns=", 8))
			opt_conns = arg_long(argv[i] + 8, 1, "--conns");
		else if (!strncmp(argv[i], "--ops=", 6))
			opt_ops = arg_long(argv[i] + 6, 1, "--ops");
		else if (!strncmp(argv[i], "--conn=", 7))
			opt_conn = arg_long(argv[i] + 7, 0, "--conn");
		else
			argv[j++] = argv[i];
	}
	argv[j] = NULL;
	*argc = j;
}

int main(int argc, char **argv)
{
	parse_args(&argc, argv);
	printf("# seqfuzz: seed=%llu conns=%d ops=%d (reproduce: ./seqfuzz --seed=%llu --conns=%d --ops=%d)\n",
	       (unsigned long long)opt_seed, opt_conns, opt_ops,
	       (unsigned long long)opt_seed, opt_conns, opt_ops);
	fflush(stdout);
	return test_harness_run(argc, argv);
}
