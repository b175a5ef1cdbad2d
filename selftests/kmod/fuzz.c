// SPDX-License-Identifier: GPL-2.0
/*
 * A hostile peer for the RX path: for every TLS version x cipher, a plain
 * TCP end writes records built with the userspace codec (tlsrec) to a
 * socket with TLS_RX, valid and mutated, whole and in pieces, and every
 * recv() is checked against what the record layer must do:
 *
 *   - valid records of every length (0 to 2^14 content bytes, TLS 1.3
 *     padding up to the limit), data and other content types, written in
 *     random pieces: the plaintext and types come back exactly;
 *   - one small record split at every byte offset, one full-size record
 *     at random offsets: nothing readable until the record is whole;
 *   - a fresh connection per stream-killing record: bad tags, flipped
 *     ciphertext, nonce, outer type or sequence number, header lengths
 *     over all of 0..2^16-1, bad version bytes, TLS 1.3 all padding,
 *     TLS 1.2 content type 0, garbage, truncation at EOF. Valid records
 *     before the bad one are delivered; the documented errno follows
 *     (header errors once, then nothing; authentication errors on every
 *     read); valid records after it never are.
 *
 * Everything is drawn from one seed, printed at the start:
 *   ./fuzz --seed=N [--scale=M] [kselftest harness options]
 * (KTO_FUZZ_SEED and KTO_FUZZ_SCALE in the environment do the same).
 * --scale multiplies the number of records; make soak uses it.
 */
#include <fcntl.h>
#include <linux/tls.h>
#include <poll.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>

#include "kselftest_harness.h"
#include "kto_test.h"
#include "tlsrec.h"
#include "tls_variants.h"

#define TYPE_DATA	23
#define MAX_PLAIN	16384
#define WIRE_CAP	(256 * 1024)
#define BATCH_WIRE	(40 * 1024)	/* fits loopback buffers unread */
#define BATCH_RECORDS	48
#define TIMEO_SEC	10

/* Per variant and --scale 1; see Documentation/robustness.rst. */
#define STREAM_RECORDS	20000
#define SPLIT_SMALL	10	/* records split at every offset */
#define SPLIT_BIG	48		/* offsets of one full-size record */
#define KILL_CASES	1000		/* fresh connections */

static uint64_t fuzz_seed;
/* May be a fraction: the debug kernel runs fewer (at least one of each). */
static double fuzz_scale = 1;

static long scaled(long n)
{
	long v = n * fuzz_scale;

	return v < 1 ? 1 : v;
}

/* Totals over all tests (each runs in its own child process). */
struct fuzz_totals {
	long records, valid, invalid, connections;
};
static struct fuzz_totals *totals;

/* ---- seeded randomness (struct rng: kto_test.h) ---- */

/* One stream per (seed, test, variant), so each reproduces alone. */
static void rng_init(struct rng *r, const char *test, uint16_t version,
		     uint16_t cipher)
{
	const char *s;

	r->s = fuzz_seed ^ ((uint64_t)version << 16 | cipher);
	for (s = test; *s; s++)
		r->s = (r->s ^ (unsigned char)*s) * 0x100000001b3ULL;
}

/* ---- keys and records ---- */

static int keys_make(struct rng *r, union tlsrec_keys *k, uint16_t version,
		     uint16_t cipher)
{
	size_t size = tlsrec_keys_size(cipher);
	unsigned char *p = (unsigned char *)k;

	if (!size)
		return -1;
	memset(k, 0, sizeof(*k));
	rng_fill(r, p + sizeof(k->info), size - sizeof(k->info));
	k->info.version = version;
	k->info.cipher_type = cipher;
	/* rec_seq ends every struct; stay far from its end. */
	p[size - 8] &= 0x3f;
	return size;
}

/*
 * A TLS 1.3 record whose inner plaintext is @len zero bytes: no content
 * type at all (RFC 8446 5.4). tlsrec refuses to make one; seal it by hand
 * with the next sequence number of @rec.
 */
static ssize_t seal_all_padding(const union tlsrec_keys *k,
				const struct tlsrec *rec, size_t len,
				unsigned char *out)
{
	const unsigned char *key, *iv, *salt = NULL;
	unsigned char nonce[12], *ct = out + 5;
	uint64_t seq = tlsrec_seq(rec);
	int i;

	switch (k->info.cipher_type) {
	case TLS_CIPHER_AES_GCM_128:
		key = k->gcm128.key, iv = k->gcm128.iv, salt = k->gcm128.salt;
		break;
	case TLS_CIPHER_AES_GCM_256:
		key = k->gcm256.key, iv = k->gcm256.iv, salt = k->gcm256.salt;
		break;
	case TLS_CIPHER_AES_CCM_128:
		key = k->ccm128.key, iv = k->ccm128.iv, salt = k->ccm128.salt;
		break;
	default:
		key = k->chacha.key, iv = k->chacha.iv;
		break;
	}
	if (salt) {
		memcpy(nonce, salt, 4);
		memcpy(nonce + 4, iv, 8);
	} else {
		memcpy(nonce, iv, 12);
	}
	for (i = 0; i < 8; i++)
		nonce[4 + i] ^= seq >> (56 - 8 * i);

	out[0] = TYPE_DATA;
	out[1] = 3;
	out[2] = 3;
	out[3] = (len + TLSREC_TAG_LEN) >> 8;
	out[4] = (len + TLSREC_TAG_LEN) & 0xff;
	memset(ct, 0, len);
	if (tlsrec_aead(k->info.cipher_type, 1, key, nonce, sizeof(nonce),
			out, 5, ct, len, ct, ct + len, TLSREC_TAG_LEN))
		return -1;
	return 5 + len + TLSREC_TAG_LEN;
}

/* ---- sockets ---- */

/* recvmsg with room for the record type; returns bytes or -errno. */
static ssize_t rx(int fd, void *buf, size_t len, int flags, int *type)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	ssize_t n;

	n = recvmsg(fd, &msg, flags);
	if (n < 0)
		return -errno;
	*type = -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (cm && cm->cmsg_level == SOL_TLS &&
	    cm->cmsg_type == TLS_GET_RECORD_TYPE)
		*type = *(unsigned char *)CMSG_DATA(cm);
	return n;
}

static int readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/*
 * The pair under test: *w a plain TCP end the records are written to
 * (TCP_NODELAY: pieces travel as written), *r the TLS_RX end.
 */
static int fuzz_pair(const union tlsrec_keys *k, int klen, int *w, int *r)
{
	struct timeval tv = { .tv_sec = TIMEO_SEC };
	int one = 1;

	if (kto_tcp_pair(AF_INET, w, r))
		return -1;
	if (setsockopt(*w, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    setsockopt(*r, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(*w, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(*r, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) ||
	    setsockopt(*r, SOL_TLS, TLS_RX, k, klen)) {
		close(*w);
		close(*r);
		return -1;
	}
	__atomic_add_fetch(&totals->connections, 1, __ATOMIC_RELAXED);
	return 0;
}

static void count(long valid, long invalid)
{
	__atomic_add_fetch(&totals->records, valid + invalid, __ATOMIC_RELAXED);
	__atomic_add_fetch(&totals->valid, valid, __ATOMIC_RELAXED);
	__atomic_add_fetch(&totals->invalid, invalid, __ATOMIC_RELAXED);
}

/* ---- what the reader must see: records as (type, plaintext) ---- */

struct seg {
	int type;
	uint32_t off, len;
};

struct expect {
	struct seg seg[BATCH_RECORDS + 2];
	int nseg;
	int cur;		/* next segment to read */
	uint32_t pos;		/* bytes of it already read */
	unsigned char *plain;	/* all segments' plaintext, back to back */
	uint32_t plain_len;
};

static void expect_reset(struct expect *e)
{
	e->nseg = e->cur = 0;
	e->pos = e->plain_len = 0;
}

static int expect_done(struct expect *e)
{
	while (e->cur < e->nseg && e->seg[e->cur].len == e->pos) {
		e->cur++;
		e->pos = 0;
	}
	return e->cur == e->nseg;
}

/*
 * Match one recv() result against the expected records. Returns NULL or
 * what is wrong. Data records may be read together; a record of another
 * type comes alone; a reader with a short buffer gets a record in parts.
 */
static const char *expect_take(struct expect *e, const unsigned char *buf,
			       size_t n, int type)
{
	size_t done = 0, m;
	struct seg *s;

	if (!n)
		return "recv returned 0 (EOF) with records still due";
	while (done < n) {
		if (expect_done(e))
			return "more bytes than the valid records hold";
		s = &e->seg[e->cur];
		if (s->type != type)
			return "content type differs from the record's";
		if (done && type != TYPE_DATA)
			return "a non-data record was merged with another";
		m = s->len - e->pos;
		if (m > n - done)
			m = n - done;
		if (memcmp(buf + done, e->plain + s->off + e->pos, m))
			return "plaintext differs from what was sealed";
		done += m;
		e->pos += m;
		if (e->pos == s->len) {
			e->cur++;
			e->pos = 0;
			if (type != TYPE_DATA && done < n)
				return "a non-data record was merged with another";
		}
	}
	return NULL;
}

/* ---- fixture: every TLS version x cipher ---- */

FIXTURE(fuzz)
{
	struct rng rng;
	union tlsrec_keys keys;
	int klen;
	struct tlsrec rec;
	int w, r;
	unsigned char *wire, *plain, *buf;
	struct expect exp;
	int explicit_len, max_len, min_len;	/* header length bounds */
};

FIXTURE_VARIANT(fuzz)
{
	uint16_t version;
	uint16_t cipher;
};

TLS_VARIANTS(fuzz);

FIXTURE_SETUP(fuzz)
{
	int tls13 = variant->version == TLS_1_3_VERSION;

	self->w = self->r = -1;
	rng_init(&self->rng, _metadata->name, variant->version,
		 variant->cipher);
	self->klen = keys_make(&self->rng, &self->keys, variant->version,
			       variant->cipher);
	ASSERT_GT(self->klen, 0);
	ASSERT_EQ(tlsrec_init(&self->rec, &self->keys, self->klen), 0);
	self->wire = malloc(WIRE_CAP);
	self->plain = malloc(WIRE_CAP);
	self->buf = malloc(WIRE_CAP);
	ASSERT_NE(self->wire, NULL);
	ASSERT_NE(self->plain, NULL);
	ASSERT_NE(self->buf, NULL);
	self->exp.plain = self->plain;
	/* The record layer's header checks (design.rst, RX step 1). */
	self->explicit_len = !tls13 && variant->cipher !=
			     TLS_CIPHER_CHACHA20_POLY1305 ? 8 : 0;
	self->max_len = MAX_PLAIN + self->explicit_len + TLSREC_TAG_LEN + tls13;
	self->min_len = self->explicit_len + TLSREC_TAG_LEN;
}

FIXTURE_TEARDOWN(fuzz)
{
	if (self->w >= 0)
		close(self->w);
	if (self->r >= 0)
		close(self->r);
	tlsrec_uninit(&self->rec);
	free(self->wire);
	free(self->plain);
	free(self->buf);
}

/* A fresh connection and codec with new keys. */
static void reconnect(struct __test_metadata *_metadata,
		      FIXTURE_DATA(fuzz) *self, const FIXTURE_VARIANT(fuzz) *variant)
{
	if (self->w >= 0)
		close(self->w);
	if (self->r >= 0)
		close(self->r);
	self->w = self->r = -1;
	tlsrec_uninit(&self->rec);
	self->klen = keys_make(&self->rng, &self->keys, variant->version,
			       variant->cipher);
	ASSERT_EQ(tlsrec_init(&self->rec, &self->keys, self->klen), 0);
	ASSERT_EQ(fuzz_pair(&self->keys, self->klen, &self->w, &self->r), 0)
		TH_LOG("connection setup: %s", strerror(errno));
}

/* A content type for a valid record: mostly data, else any other. */
static int pick_type(struct rng *r, int tls13)
{
	int t;

	if (rng_chance(r, 85))
		return TYPE_DATA;
	do {
		t = rng_range(r, 1, 255);
		/* TLS 1.3 handshake records are parsed for KeyUpdate. */
	} while (t == TYPE_DATA || (tls13 && t == 22));
	return t;
}

static uint32_t pick_len(struct rng *r)
{
	uint32_t p = rng_range(r, 0, 99);

	if (p < 55)
		return rng_range(r, 0, 64);
	if (p < 85)
		return rng_range(r, 65, 1500);
	if (p < 97)
		return rng_range(r, 1501, MAX_PLAIN);
	return MAX_PLAIN;
}

/*
 * Seal one valid record into wire at *wlen and note it in the expected
 * stream. Returns 0 or -1.
 */
static int add_valid(FIXTURE_DATA(fuzz) *self, int tls13, int type,
		     uint32_t len, size_t *wlen)
{
	struct expect *e = &self->exp;
	size_t pad = 0;
	ssize_t n;

	if (tls13 && len < MAX_PLAIN && rng_chance(&self->rng, 30))
		pad = rng_chance(&self->rng, 10) ? MAX_PLAIN - len :
		      rng_range(&self->rng, 1, MAX_PLAIN - len < 300 ?
				MAX_PLAIN - len : 300);
	rng_fill(&self->rng, e->plain + e->plain_len, len);
	n = tlsrec_seal(&self->rec, type, e->plain + e->plain_len, len, pad,
			self->wire + *wlen, WIRE_CAP - *wlen);
	if (n < 0)
		return -1;
	*wlen += n;
	e->seg[e->nseg].type = type;
	e->seg[e->nseg].off = e->plain_len;
	e->seg[e->nseg].len = len;
	e->nseg++;
	e->plain_len += len;
	return 0;
}

/* One recv of a random size; checks it. 0, or 1 for EAGAIN. */
static void read_some(struct __test_metadata *_metadata,
		      FIXTURE_DATA(fuzz) *self, int flags, int *again)
{
	size_t want = rng_chance(&self->rng, 50) ? WIRE_CAP :
		      rng_range(&self->rng, 1, 4096);
	const char *bad;
	ssize_t n;
	int type;

	n = rx(self->r, self->buf, want, flags, &type);
	if (n == -EAGAIN && (flags & MSG_DONTWAIT)) {
		*again = 1;
		return;
	}
	*again = 0;
	ASSERT_GT(n, 0) TH_LOG("recv: %s (segment %d of %d)",
			       n ? strerror(-n) : "EOF", self->exp.cur,
			       self->exp.nseg);
	bad = expect_take(&self->exp, self->buf, n, type);
	ASSERT_EQ(bad, NULL) TH_LOG("recv of %zd bytes, type %d: %s (segment %d of %d)",
				    n, type, bad, self->exp.cur, self->exp.nseg);
}

/*
 * Valid records, many per connection: random lengths, types and padding,
 * written in random pieces, read with random buffer sizes in between.
 */
TEST_F_TIMEOUT(fuzz, valid_stream, 600)
{
	int tls13 = variant->version == TLS_1_3_VERSION;
	long target = scaled(STREAM_RECORDS), done = 0;
	struct rng *rng = &self->rng;
	int again;

	reconnect(_metadata, self, variant);
	while (done < target) {
		size_t wlen = 0, sent = 0, piece;
		int force_data = 0, nrec = 0;

		expect_reset(&self->exp);
		while (nrec < BATCH_RECORDS - 1 && wlen < BATCH_WIRE / 2) {
			int type = force_data ? TYPE_DATA : pick_type(rng, tls13);
			uint32_t len = pick_len(rng);

			if (wlen && len > 2048 && wlen + len > BATCH_WIRE / 2)
				break;
			/*
			 * An empty record reads as nothing: only data, and
			 * only with a non-empty data record after it.
			 */
			if (force_data && !len)
				len = 1;
			if (type != TYPE_DATA && !len)
				len = 1;
			ASSERT_EQ(add_valid(self, tls13, type, len, &wlen), 0);
			force_data = !len;
			nrec++;
		}
		if (force_data) {
			ASSERT_EQ(add_valid(self, tls13, TYPE_DATA, 1, &wlen), 0);
			nrec++;
		}

		while (sent < wlen) {
			ssize_t n;

			switch (rng_range(rng, 0, 3)) {
			case 0:
				piece = rng_range(rng, 1, 8);
				break;
			case 1:
				piece = rng_range(rng, 1, 600);
				break;
			default:
				piece = rng_range(rng, 1, wlen);
				break;
			}
			if (piece > wlen - sent)
				piece = wlen - sent;
			n = send(self->w, self->wire + sent, piece,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n < 0 && errno == EAGAIN) {
				read_some(_metadata, self, 0, &again);
				continue;
			}
			ASSERT_GT(n, 0) TH_LOG("send: %s", strerror(errno));
			sent += n;
			if (rng_chance(rng, 15))
				read_some(_metadata, self, MSG_DONTWAIT, &again);
		}
		while (!expect_done(&self->exp))
			read_some(_metadata, self, 0, &again);
		/* Nothing beyond the valid records. */
		ASSERT_EQ(readable(self->r), 0);
		count(nrec, 0);
		done += nrec;
	}
	TH_LOG("%ld valid records on one connection", done);
}

/*
 * Deliver one record in two writes split at @off: nothing may be
 * readable before the second, the plaintext must come after it.
 */
static void split_one(struct __test_metadata *_metadata,
		      FIXTURE_DATA(fuzz) *self, int tls13, uint32_t len,
		      size_t off, int check_poll)
{
	size_t wlen = 0;
	int again, type = TYPE_DATA;

	expect_reset(&self->exp);
	if (len && rng_chance(&self->rng, 20))
		type = pick_type(&self->rng, tls13);
	ASSERT_EQ(add_valid(self, tls13, type, len, &wlen), 0);
	if (off >= wlen)
		off = wlen - 1;
	ASSERT_EQ(kto_write_full(self->w, self->wire, off), 0);
	if (check_poll) {
		ASSERT_EQ(readable(self->r), 0)
			TH_LOG("readable with %zu of %zu bytes of a record", off, wlen);
		ASSERT_EQ(rx(self->r, self->buf, WIRE_CAP, MSG_DONTWAIT, &again),
			  -EAGAIN)
			TH_LOG("recv with %zu of %zu bytes of a record", off, wlen);
	}
	ASSERT_EQ(kto_write_full(self->w, self->wire + off, wlen - off), 0);
	while (!expect_done(&self->exp))
		read_some(_metadata, self, 0, &again);
	count(1, 0);
}

/* Records split at every byte boundary, then one more valid record. */
TEST_F_TIMEOUT(fuzz, split_every_offset, 600)
{
	int tls13 = variant->version == TLS_1_3_VERSION;
	int i, n_small = scaled(SPLIT_SMALL), n_big = scaled(SPLIT_BIG);
	size_t off;
	long recs = 0;

	reconnect(_metadata, self, variant);
	for (i = 0; i < n_small; i++) {
		uint32_t len = rng_range(&self->rng, 1, 48);
		size_t wire = 5 + self->explicit_len + len + tls13 + 16;

		/* Each offset gets a record of that length (fresh nonce). */
		for (off = 1; off < wire; off++, recs++)
			split_one(_metadata, self, tls13, len, off, off % 2);
	}
	for (i = 0; i < n_big; i++, recs++)
		split_one(_metadata, self, tls13, MAX_PLAIN,
			  i < 6 ? (size_t)i + 1 :
			  rng_range(&self->rng, 1, MAX_PLAIN), 1);
	TH_LOG("%ld records split in two", recs);
}

/* ---- stream-killing records, one fresh connection each ---- */

enum outcome {
	BAD_AUTH,	/* EBADMSG on this and every later read */
	BAD_HEADER,	/* an errno once, then nothing more */
	BAD_EOF,	/* the stream ends: 0 */
};

enum kill {
	K_TAG, K_CIPHERTEXT, K_NONCE, K_OUTER_TYPE, K_SEQ, K_LEN_INBOUNDS,
	K_LEN_ANY, K_LEN_EDGE, K_VERSION, K_ALL_PADDING, K_TYPE0, K_GARBAGE,
	K_TRUNC_EOF, K_NUM,
};

static const char *const kill_names[K_NUM] = {
	"bad tag", "flipped ciphertext", "flipped explicit nonce",
	"changed outer type", "skipped sequence number",
	"in-bounds wrong length", "header length 0..65535",
	"header length at a bound", "bad version bytes",
	"TLS 1.3 all padding", "TLS 1.2 content type 0", "garbage record",
	"truncated at EOF",
};

/* Expected outcome of a record whose header says @len (body supplied). */
static enum outcome by_len(FIXTURE_DATA(fuzz) *self, uint32_t len, int *err)
{
	if ((int)len > self->max_len) {
		*err = EMSGSIZE;
		return BAD_HEADER;
	}
	if ((int)len < self->min_len) {
		*err = EBADMSG;
		return BAD_HEADER;
	}
	*err = EBADMSG;
	return BAD_AUTH;
}

/*
 * Build the bad record for @kind at wire + *wlen. Returns the expected
 * outcome and errno; -1 if this kind does not apply to the variant.
 */
static int make_bad(FIXTURE_DATA(fuzz) *self, int tls13, enum kill kind,
		    size_t *wlen, int *err, size_t *cut)
{
	struct rng *rng = &self->rng;
	unsigned char *rec = self->wire + *wlen, scratch[64];
	uint32_t len = rng_range(rng, 0, 300), hlen;
	ssize_t n;

	*err = EBADMSG;
	if (kind == K_ALL_PADDING) {
		if (!tls13)
			return -1;
		n = seal_all_padding(&self->keys, &self->rec,
				     rng_range(rng, 1, MAX_PLAIN + 1), rec);
		if (n < 0)
			return -1;
		*wlen += n;
		return BAD_AUTH;
	}
	if (kind == K_TYPE0) {
		if (tls13)
			return -1;
		rng_fill(rng, scratch, sizeof(scratch));
		n = tlsrec_seal(&self->rec, 0, scratch, rng_range(rng, 0, 64), 0,
				rec, WIRE_CAP - *wlen);
		if (n < 0)
			return -1;
		*wlen += n;
		return BAD_AUTH;
	}
	if (kind == K_SEQ)	/* a record the reader never sees */
		tlsrec_seal(&self->rec, TYPE_DATA, "x", 1, 0, rec, WIRE_CAP - *wlen);
	if (kind == K_TAG || kind == K_CIPHERTEXT)
		len = rng_range(rng, 1, 300);
	if (kind == K_NONCE && !self->explicit_len)
		return -1;
	rng_fill(rng, self->buf, len);
	n = tlsrec_seal(&self->rec, TYPE_DATA, self->buf, len, 0, rec,
			WIRE_CAP - *wlen);
	if (n < 0)
		return -1;
	hlen = n - 5;

	switch (kind) {
	case K_TAG:
		rec[n - 1 - rng_range(rng, 0, 15)] ^= 1 << rng_range(rng, 0, 7);
		break;
	case K_CIPHERTEXT:
		rec[5 + self->explicit_len +
		    rng_range(rng, 0, hlen - self->explicit_len - 17)] ^=
			1 << rng_range(rng, 0, 7);
		break;
	case K_NONCE:
		rec[5 + rng_range(rng, 0, 7)] ^= 1 << rng_range(rng, 0, 7);
		break;
	case K_OUTER_TYPE:
		rec[0] = rng_range(rng, 0, 254);
		if (rec[0] >= TYPE_DATA)
			rec[0]++;
		break;
	case K_SEQ:
		break;
	case K_LEN_INBOUNDS:
		/* Claim a different length, and supply that many bytes. */
		do {
			hlen = rng_range(rng, self->min_len, self->max_len);
		} while (hlen == (uint32_t)n - 5);
		rec[3] = hlen >> 8;
		rec[4] = hlen & 0xff;
		if (hlen > (uint32_t)n - 5)
			rng_fill(rng, rec + n, hlen - (n - 5));
		*wlen += 5 + hlen;
		return BAD_AUTH;
	case K_LEN_ANY:
	case K_LEN_EDGE: {
		const int edges[] = {
			0, 1, self->min_len - 1, self->min_len,
			self->min_len + tls13, self->max_len, self->max_len + 1,
			self->max_len + 2, 0x7fff, 0x8000, 0xffff,
		};
		enum outcome o;

		hlen = kind == K_LEN_ANY ? rng_range(rng, 0, 0xffff) :
		       (uint32_t)edges[rng_range(rng, 0, sizeof(edges) / sizeof(edges[0]) - 1)];
		o = by_len(self, hlen, err);
		rec[3] = hlen >> 8;
		rec[4] = hlen & 0xff;
		/*
		 * The body: all of it when the header is acceptable; else
		 * a few bytes, or up to all 64 KiB it claims.
		 */
		if (o == BAD_HEADER)
			hlen = rng_chance(rng, 10) ? hlen : rng_range(rng, 0, 64);
		rng_fill(rng, rec + 5, hlen);
		*wlen += 5 + hlen;
		return o;
	}
	case K_VERSION:
		do {
			rec[1] = rng_chance(rng, 50) ? 3 : rng_range(rng, 0, 255);
			rec[2] = rng_range(rng, 0, 255);
		} while (rec[1] == 3 && rec[2] == 3);
		*err = EINVAL;
		*wlen += n;
		return BAD_HEADER;
	case K_GARBAGE:
		hlen = rng_range(rng, self->min_len, self->max_len);
		rec[0] = rng_range(rng, 0, 255);
		rec[3] = hlen >> 8;
		rec[4] = hlen & 0xff;
		rng_fill(rng, rec + 5, hlen);
		*wlen += 5 + hlen;
		return BAD_AUTH;
	case K_TRUNC_EOF:
		*cut = *wlen + rng_range(rng, 1, n - 1);
		*wlen += n;
		return BAD_EOF;
	default:
		break;
	}
	*wlen += n;
	return BAD_AUTH;
}

static void kill_case(struct __test_metadata *_metadata,
		      FIXTURE_DATA(fuzz) *self,
		      const FIXTURE_VARIANT(fuzz) *variant, int idx,
		      enum kill kind)
{
	int tls13 = variant->version == TLS_1_3_VERSION;
	struct rng *rng = &self->rng;
	int i, npre, npost, err = 0, o, again, type;
	size_t wlen = 0, cut = 0, sent, piece;
	ssize_t n;

	reconnect(_metadata, self, variant);
	expect_reset(&self->exp);
	npre = rng_range(rng, 0, 3);
	for (i = 0; i < npre; i++)
		ASSERT_EQ(add_valid(self, tls13, TYPE_DATA,
				    rng_range(rng, 1, 200), &wlen), 0);
	/* A kind that does not apply to this variant makes way for the next. */
	while ((o = make_bad(self, tls13, kind, &wlen, &err, &cut)) < 0)
		kind = (kind + 1) % K_NUM;
	/* Valid records after the bad one: none may ever be read. */
	npost = o == BAD_EOF ? 0 : rng_range(rng, 1, 3);
	for (i = 0; i < npost; i++) {
		ssize_t m = tlsrec_seal(&self->rec, TYPE_DATA, "after", 5, 0,
					self->wire + wlen, WIRE_CAP - wlen);

		ASSERT_GT(m, 0);
		wlen += m;
	}
	if (cut)
		wlen = cut;

	/* In up to three pieces. */
	for (sent = 0; sent < wlen; sent += piece) {
		piece = rng_chance(rng, 70) ? wlen - sent :
			rng_range(rng, 1, wlen - sent);
		ASSERT_EQ(kto_write_full(self->w, self->wire + sent, piece), 0);
	}
	if (o == BAD_EOF)
		ASSERT_EQ(shutdown(self->w, SHUT_WR), 0);
	count(npre + npost, 1);

	while (!expect_done(&self->exp))
		read_some(_metadata, self, 0, &again);

	n = rx(self->r, self->buf, WIRE_CAP, 0, &type);
	switch (o) {
	case BAD_AUTH:
		ASSERT_EQ(n, -EBADMSG)
			TH_LOG("case %d (%s): first read after %d valid records: %zd %s",
			       idx, kill_names[kind], npre, n,
			       n < 0 ? strerror(-n) : "bytes");
		n = rx(self->r, self->buf, WIRE_CAP, MSG_DONTWAIT, &type);
		ASSERT_EQ(n, -EBADMSG)
			TH_LOG("case %d (%s): second read: %zd", idx,
			       kill_names[kind], n);
		ASSERT_EQ(readable(self->r), 1);
		break;
	case BAD_HEADER:
		ASSERT_EQ(n, -err)
			TH_LOG("case %d (%s): expected %s, got %zd %s", idx,
			       kill_names[kind], strerror(err), n,
			       n < 0 ? strerror(-n) : "bytes");
		n = rx(self->r, self->buf, WIRE_CAP, MSG_DONTWAIT, &type);
		ASSERT_EQ(n, -EAGAIN)
			TH_LOG("case %d (%s): after the error: %zd", idx,
			       kill_names[kind], n);
		ASSERT_EQ(readable(self->r), 0);
		break;
	case BAD_EOF:
		ASSERT_EQ(n, 0)
			TH_LOG("case %d (%s): %zd", idx, kill_names[kind], n);
		ASSERT_EQ(rx(self->r, self->buf, WIRE_CAP, 0, &type), 0);
		break;
	}
	/* One more valid record now changes nothing. */
	if (o != BAD_EOF) {
		n = tlsrec_seal(&self->rec, TYPE_DATA, "late", 4, 0, self->wire,
				WIRE_CAP);
		ASSERT_GT(n, 0);
		ASSERT_EQ(kto_write_full(self->w, self->wire, n), 0);
		count(1, 0);
		n = rx(self->r, self->buf, WIRE_CAP, MSG_DONTWAIT, &type);
		ASSERT_EQ(n, o == BAD_AUTH ? -EBADMSG : -EAGAIN)
			TH_LOG("case %d (%s): after a late valid record: %zd",
			       idx, kill_names[kind], n);
	}
}

TEST_F_TIMEOUT(fuzz, stream_killers, 600)
{
	int i, cases = scaled(KILL_CASES);

	/* Every kind once first, then at random. */
	for (i = 0; i < cases; i++) {
		enum kill kind = i < K_NUM ? (enum kill)i :
				 (enum kill)rng_range(&self->rng, 0, K_NUM - 1);

		kill_case(_metadata, self, variant, i, kind);
	}
	TH_LOG("%d connections with a stream-killing record", i);
}

/* Strip --seed=N and --scale=N; the rest goes to the harness. */
static void parse_args(int *argc, char **argv)
{
	const char *env;
	int i, j;

	fuzz_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	env = getenv("KTO_FUZZ_SEED");
	if (env && *env)
		fuzz_seed = strtoull(env, NULL, 0);
	env = getenv("KTO_FUZZ_SCALE");
	if (env && *env)
		fuzz_scale = strtod(env, NULL);
	for (i = j = 1; i < *argc; i++) {
		if (!strncmp(argv[i], "--seed=", 7))
			fuzz_seed = strtoull(argv[i] + 7, NULL, 0);
		else if (!strncmp(argv[i], "--scale=", 8))
			fuzz_scale = strtod(argv[i] + 8, NULL);
		else
			argv[j++] = argv[i];
	}
	argv[j] = NULL;
	*argc = j;
	if (!(fuzz_scale > 0))
		fuzz_scale = 1;
}

static struct timespec t_start;

/* The harness exits from test_harness_run(): report from atexit. */
static void report(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	printf("# fuzz: seed=%llu: %ld records (%ld valid, %ld invalid) on %ld connections in %.0f s\n",
	       (unsigned long long)fuzz_seed, totals->records, totals->valid,
	       totals->invalid, totals->connections,
	       (t.tv_sec - t_start.tv_sec) + (t.tv_nsec - t_start.tv_nsec) / 1e9);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	parse_args(&argc, argv);
	totals = mmap(NULL, sizeof(*totals), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (totals == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	printf("# fuzz: seed=%llu scale=%g (reproduce: ./fuzz --seed=%llu --scale=%g)\n",
	       (unsigned long long)fuzz_seed, fuzz_scale,
	       (unsigned long long)fuzz_seed, fuzz_scale);
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &t_start);
	atexit(report);
	return test_harness_run(argc, argv);
}
