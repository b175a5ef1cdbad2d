// SPDX-License-Identifier: GPL-2.0
/*
 * Interop with an independent record layer: the kernel's records, read
 * raw off the wire, must open with the userspace tlsrec codec (OpenSSL),
 * and records sealed by tlsrec must come out of recv() on a kTLS socket.
 * Every TLS version x cipher; fresh random keys (and rec_seq) per test.
 *
 * In each test self->c is the kTLS end and self->s its plain TCP peer,
 * where the test reads or writes the raw records.
 */
#include <linux/tls.h>
#include <pthread.h>
#include <sys/time.h>
#include <sys/uio.h>

#include "kselftest_harness.h"
#include "kto_test.h"
#include "tlsrec.h"
#include "tls_variants.h"

#define BIG		100000		/* the largest send */
#define OUT_LEN		(2 * BIG)

FIXTURE(interop)
{
	int c, s;
	union tlsrec_keys keys;
	int keys_len;
	struct tlsrec rec;
	unsigned char *data;	/* random bytes to send */
	unsigned char *out;	/* what came back */
	unsigned char *wire;	/* raw records */
};

FIXTURE_VARIANT(interop)
{
	uint16_t version;
	uint16_t cipher;
};

TLS_VARIANTS(interop);

FIXTURE_SETUP(interop)
{
	struct timeval tv = { .tv_sec = 10 };
	size_t i;

	self->c = self->s = -1;
	ASSERT_EQ(kto_tcp_pair(AF_INET, &self->c, &self->s), 0);
	/* A record that never comes fails the test instead of hanging it. */
	ASSERT_EQ(setsockopt(self->c, SOL_SOCKET, SO_RCVTIMEO, &tv,
			     sizeof(tv)), 0);
	ASSERT_EQ(setsockopt(self->s, SOL_SOCKET, SO_RCVTIMEO, &tv,
			     sizeof(tv)), 0);
	ASSERT_EQ(setsockopt(self->c, IPPROTO_TCP, TCP_ULP, "tls",
			     sizeof("tls")), 0);

	self->keys_len = tlsrec_keys_random(&self->keys, variant->version,
					    variant->cipher);
	ASSERT_GT(self->keys_len, 0);
	ASSERT_EQ(tlsrec_init(&self->rec, &self->keys, self->keys_len), 0);

	self->data = malloc(BIG);
	self->out = malloc(OUT_LEN);
	self->wire = malloc(OUT_LEN);
	ASSERT_NE(self->data, NULL);
	ASSERT_NE(self->out, NULL);
	ASSERT_NE(self->wire, NULL);
	/* The payload need not be secret, only unpredictable enough. */
	srandom(getpid());
	for (i = 0; i < BIG; i++)
		self->data[i] = random() & 0xff;
}

FIXTURE_TEARDOWN(interop)
{
	if (self->c >= 0)
		close(self->c);
	if (self->s >= 0)
		close(self->s);
	tlsrec_uninit(&self->rec);
	free(self->data);
	free(self->out);
	free(self->wire);
}

static void install(struct __test_metadata *_metadata,
		    FIXTURE_DATA(interop) *self, int dir)
{
	ASSERT_EQ(setsockopt(self->c, SOL_TLS, dir, &self->keys,
			     self->keys_len), 0)
		TH_LOG("setsockopt(%s): %s", dir == TLS_TX ? "TLS_TX" : "TLS_RX",
		       strerror(errno));
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = send(fd, (const char *)buf + done, len - done, 0);
		if (n <= 0)
			return -1;
		done += n;
	}
	return 0;
}

/* Read one raw record off @self->s and open it; returns the content length. */
static size_t read_record(struct __test_metadata *_metadata,
			  FIXTURE_DATA(interop) *self, uint8_t *type)
{
	ssize_t wlen, n;

	ASSERT_EQ(kto_read_exact(self->s, self->wire, TLSREC_HDR_LEN), 0)
		TH_LOG("no record header: %s", strerror(errno));
	wlen = tlsrec_wire_len(self->wire, TLSREC_HDR_LEN);
	ASSERT_GE(wlen, TLSREC_HDR_LEN);
	ASSERT_LE(wlen, TLSREC_MAX_WIRE + 256);
	ASSERT_EQ(kto_read_exact(self->s, self->wire + TLSREC_HDR_LEN,
			    wlen - TLSREC_HDR_LEN), 0)
		TH_LOG("record body (%zd bytes): %s", wlen, strerror(errno));
	n = tlsrec_open(&self->rec, self->wire, wlen, type, self->out,
			OUT_LEN, NULL);
	ASSERT_GE(n, 0) TH_LOG("record %llu: %s",
			       (unsigned long long)tlsrec_seq(&self->rec),
			       tlsrec_strerror(n));
	return n;
}

/* Seal one record into self->wire at @off; returns the new offset. */
static size_t seal_at(struct __test_metadata *_metadata,
		      FIXTURE_DATA(interop) *self, size_t off, uint8_t type,
		      const void *data, size_t len, size_t pad)
{
	ssize_t n;

	n = tlsrec_seal(&self->rec, type, data, len, pad, self->wire + off,
			OUT_LEN - off);
	ASSERT_GT(n, 0) TH_LOG("seal: %s", tlsrec_strerror(n));
	return off + n;
}

/* A blocking send() of a large buffer, run while the test reads. */
struct sender {
	pthread_t thread;
	int fd;
	const void *buf;
	size_t len;
	int ret;
	int err;
};

static void *sender_run(void *arg)
{
	struct sender *sd = arg;

	sd->ret = write_full(sd->fd, sd->buf, sd->len);
	sd->err = errno;
	return NULL;
}

/*
 * (a) kernel TX -> userspace RX: each send() comes out as full 2^14-byte
 * records and one last shorter record, every byte intact.
 */
TEST_F_TIMEOUT(interop, ktx_data, 120)
{
	static const size_t sizes[] = { 1, 100, 16384, 16385, BIG };
	size_t i, got, len;
	struct sender sd;
	uint8_t type;

	install(_metadata, self, TLS_TX);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		sd = (struct sender){ .fd = self->c, .buf = self->data,
				      .len = sizes[i] };
		ASSERT_EQ(pthread_create(&sd.thread, NULL, sender_run, &sd), 0);
		for (got = 0; got < sizes[i]; got += len) {
			len = read_record(_metadata, self, &type);
			ASSERT_EQ(type, TLSREC_TYPE_DATA);
			ASSERT_GT(len, 0);
			ASSERT_LE(len, TLSREC_MAX_PLAIN);
			ASSERT_LE(got + len, sizes[i])
				TH_LOG("a record spans two %zu-byte sends",
				       sizes[i]);
			ASSERT_EQ(memcmp(self->out, self->data + got, len), 0)
				TH_LOG("send of %zu: bytes %zu..%zu differ",
				       sizes[i], got, got + len);
			/* Only the last record of a send may be short. */
			if (got + len < sizes[i]) {
				EXPECT_EQ(len, TLSREC_MAX_PLAIN);
			}
		}
		ASSERT_EQ(pthread_join(sd.thread, NULL), 0);
		EXPECT_EQ(sd.ret, 0) TH_LOG("send: %s", strerror(sd.err));
	}
	EXPECT_EQ(recv(self->s, self->out, 1, MSG_DONTWAIT), -1);
	EXPECT_EQ(errno, EAGAIN);
}

/* (a) TLS_SET_RECORD_TYPE: each type gets its own record, in order. */
TEST_F(interop, ktx_record_type)
{
	static const unsigned char alert[] = { 1, 0 };	/* close_notify */
	static const char hs[] = "not really a handshake";
	uint8_t type;
	size_t len;

	install(_metadata, self, TLS_TX);
	ASSERT_EQ(send(self->c, "before", 6, 0), 6);
	ASSERT_EQ(kto_send_typed(self->c, TLSREC_TYPE_HANDSHAKE, hs, sizeof(hs), 0),
		  sizeof(hs));
	ASSERT_EQ(kto_send_typed(self->c, TLSREC_TYPE_ALERT, alert, sizeof(alert), 0),
		  sizeof(alert));
	ASSERT_EQ(kto_send_typed(self->c, TLSREC_TYPE_DATA, "typed", 5, 0), 5);
	ASSERT_EQ(send(self->c, "after", 5, 0), 5);

	len = read_record(_metadata, self, &type);
	EXPECT_EQ(type, TLSREC_TYPE_DATA);
	ASSERT_EQ(len, 6);
	EXPECT_EQ(memcmp(self->out, "before", 6), 0);

	len = read_record(_metadata, self, &type);
	EXPECT_EQ(type, TLSREC_TYPE_HANDSHAKE);
	ASSERT_EQ(len, sizeof(hs));
	EXPECT_EQ(memcmp(self->out, hs, sizeof(hs)), 0);

	len = read_record(_metadata, self, &type);
	EXPECT_EQ(type, TLSREC_TYPE_ALERT);
	ASSERT_EQ(len, sizeof(alert));
	EXPECT_EQ(memcmp(self->out, alert, sizeof(alert)), 0);

	len = read_record(_metadata, self, &type);
	EXPECT_EQ(type, TLSREC_TYPE_DATA);
	ASSERT_EQ(len, 5);
	EXPECT_EQ(memcmp(self->out, "typed", 5), 0);

	len = read_record(_metadata, self, &type);
	EXPECT_EQ(type, TLSREC_TYPE_DATA);
	ASSERT_EQ(len, 5);
	EXPECT_EQ(memcmp(self->out, "after", 5), 0);
}

/*
 * Receive @len data bytes from the kTLS end, possibly over several
 * recvmsg() calls, each reporting record type data; compare to @expect.
 */
static void recv_data(struct __test_metadata *_metadata,
		      FIXTURE_DATA(interop) *self, const void *expect,
		      size_t len)
{
	size_t got = 0;
	ssize_t n;
	int type;

	while (got < len) {
		n = kto_recv_typed(self->c, self->out + got, len - got, 0, &type);
		ASSERT_GT(n, 0) TH_LOG("after %zu of %zu bytes: %s", got, len,
				       n < 0 ? strerror(errno) : "EOF");
		EXPECT_EQ(type, TLSREC_TYPE_DATA);
		got += n;
	}
	EXPECT_EQ(memcmp(self->out, expect, len), 0);
}

/*
 * (b) userspace TX -> kernel RX: one record queued before TLS_RX is set,
 * the rest after; full-size, tiny, padded (TLS 1.3) and non-data records.
 */
TEST_F_TIMEOUT(interop, krx_records, 60)
{
	static const unsigned char alert[] = { 1, 0 };
	int tls13 = variant->version == TLS_1_3_VERSION;
	unsigned char *d = self->data;
	size_t off = 0, start;
	ssize_t n;
	int type;

	/* Already on the receive queue when the key arrives. */
	off = seal_at(_metadata, self, off, TLSREC_TYPE_DATA, d, 100, 0);
	ASSERT_EQ(write_full(self->s, self->wire, off), 0);
	install(_metadata, self, TLS_RX);

	start = off;
	off = seal_at(_metadata, self, off, TLSREC_TYPE_DATA, d + 100,
		      TLSREC_MAX_PLAIN, 0);
	off = seal_at(_metadata, self, off, TLSREC_TYPE_DATA,
		      d + 100 + TLSREC_MAX_PLAIN, 1, tls13 ? 200 : 0);
	off = seal_at(_metadata, self, off, TLSREC_TYPE_ALERT, alert,
		      sizeof(alert), tls13 ? 10 : 0);
	off = seal_at(_metadata, self, off, TLSREC_TYPE_DATA, d + 20000, 1000,
		      tls13 ? TLSREC_MAX_PLAIN - 1000 : 0);
	off = seal_at(_metadata, self, off, TLSREC_TYPE_HANDSHAKE, d + 30000,
		      300, 0);
	ASSERT_EQ(write_full(self->s, self->wire + start, off - start), 0);

	/* The three data records, which recvmsg may merge. */
	recv_data(_metadata, self, d, 100 + TLSREC_MAX_PLAIN + 1);

	/* A control record stops a plain recv(): it needs the cmsg. */
	EXPECT_EQ(recv(self->c, self->out, OUT_LEN, 0), -1);
	EXPECT_EQ(errno, EIO);
	n = kto_recv_typed(self->c, self->out, OUT_LEN, 0, &type);
	ASSERT_EQ(n, sizeof(alert));
	EXPECT_EQ(type, TLSREC_TYPE_ALERT);
	EXPECT_EQ(memcmp(self->out, alert, sizeof(alert)), 0);

	recv_data(_metadata, self, d + 20000, 1000);

	n = kto_recv_typed(self->c, self->out, OUT_LEN, 0, &type);
	ASSERT_EQ(n, 300);
	EXPECT_EQ(type, TLSREC_TYPE_HANDSHAKE);
	EXPECT_EQ(memcmp(self->out, d + 30000, 300), 0);

	EXPECT_EQ(recv(self->c, self->out, 1, MSG_DONTWAIT), -1);
	EXPECT_EQ(errno, EAGAIN);
}

/* (b) Many records at once, written in one go: 100000 bytes. */
TEST_F_TIMEOUT(interop, krx_bulk, 60)
{
	size_t off = 0, done, len;
	struct sender sd;

	install(_metadata, self, TLS_RX);
	for (done = 0; done < BIG; done += len) {
		len = BIG - done < 7000 ? BIG - done : 7000;
		off = seal_at(_metadata, self, off, TLSREC_TYPE_DATA,
			      self->data + done, len, 0);
	}
	sd = (struct sender){ .fd = self->s, .buf = self->wire, .len = off };
	ASSERT_EQ(pthread_create(&sd.thread, NULL, sender_run, &sd), 0);
	recv_data(_metadata, self, self->data, BIG);
	ASSERT_EQ(pthread_join(sd.thread, NULL), 0);
	EXPECT_EQ(sd.ret, 0) TH_LOG("send: %s", strerror(sd.err));
}

enum damage { CIPHERTEXT, TAG, HEADER };

/*
 * (c) A good record, then a damaged one: the good one reads, then recv()
 * fails with EBADMSG.
 */
static void corrupt(struct __test_metadata *_metadata,
		    FIXTURE_DATA(interop) *self, enum damage how)
{
	size_t first, off, rec_len;
	unsigned char *h;

	install(_metadata, self, TLS_RX);
	first = seal_at(_metadata, self, 0, TLSREC_TYPE_DATA, self->data, 100,
			0);
	off = seal_at(_metadata, self, first, TLSREC_TYPE_DATA,
		      self->data + 100, 100, 0);
	h = self->wire + first;
	switch (how) {
	case CIPHERTEXT:
		self->wire[off - TLSREC_TAG_LEN - 50] ^= 0x20;
		break;
	case TAG:
		self->wire[off - 1] ^= 0x20;
		break;
	case HEADER:
		if (self->rec.version == TLS_1_2_VERSION) {
			/* The type goes into the AAD. */
			h[0] = TLSREC_TYPE_HANDSHAKE;
		} else {
			/*
			 * The whole header is the AAD, but kTLS builds it with
			 * type 23 whatever the wire says; change the length
			 * instead, with one more byte to keep the framing.
			 */
			rec_len = (h[3] << 8 | h[4]) + 1;
			h[3] = rec_len >> 8;
			h[4] = rec_len & 0xff;
			self->wire[off++] = 0;
		}
		break;
	}
	ASSERT_EQ(write_full(self->s, self->wire, off), 0);

	ASSERT_EQ(recv(self->c, self->out, 100, MSG_WAITALL), 100);
	EXPECT_EQ(memcmp(self->out, self->data, 100), 0);
	EXPECT_EQ(recv(self->c, self->out, 100, 0), -1);
	EXPECT_EQ(errno, EBADMSG);
}

TEST_F(interop, krx_corrupt_ciphertext)
{
	corrupt(_metadata, self, CIPHERTEXT);
}

TEST_F(interop, krx_corrupt_tag)
{
	corrupt(_metadata, self, TAG);
}

/* The header is authenticated too (1.2: type and length; 1.3: length). */
TEST_F(interop, krx_corrupt_header)
{
	corrupt(_metadata, self, HEADER);
}

TEST_HARNESS_MAIN
