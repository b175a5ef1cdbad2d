// SPDX-License-Identifier: GPL-2.0
/*
 * The record layer as a user sees it: setsockopt/getsockopt of SOL_TLS,
 * what send() puts on the wire, what recv() returns, with which errno.
 *
 * Most tests use a loopback pair whose client end has TLS_TX and whose
 * server end has TLS_RX, both with the same random keys. Tests that look
 * at the wire add pairs with a plain TCP end: tx_only() (TLS_TX -> raw),
 * rx_only() (raw -> TLS_RX), and produce(), which turns plaintext into the
 * records a TLS_TX socket makes of it, as the kernel's own tls selftest
 * does. Fixture "rec" runs every TLS version x cipher; fixture "api" runs
 * the cipher-independent behaviour on two of them.
 */
#include <fcntl.h>
#include <linux/tls.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>

#include "kselftest_harness.h"
#include "kto_test.h"
#include "tls_variants.h"

#define HDR_LEN		5
#define MAX_PLAIN	16384
#define TYPE_DATA	23
#define TYPE_HANDSHAKE	22
#define WIRE_CAP	(4 * (MAX_PLAIN + 64))
#define TIMEO_SEC	10

#ifndef TLS_CIPHER_SM4_GCM
#define TLS_CIPHER_SM4_GCM		55
#endif
#ifndef TLS_CIPHER_ARIA_GCM_128
#define TLS_CIPHER_ARIA_GCM_128		57
#endif

/*
 * Key material as setsockopt takes it. Every struct we use ends in the
 * 8-byte rec_seq and starts with the 4-byte header.
 */
struct keys {
	union {
		struct tls_crypto_info info;
		struct tls12_crypto_info_aes_gcm_128 gcm128;
		struct tls12_crypto_info_aes_gcm_256 gcm256;
		struct tls12_crypto_info_aes_ccm_128 ccm128;
		struct tls12_crypto_info_chacha20_poly1305 chacha;
		unsigned char raw[64];
	};
	socklen_t len;
};

/* TLS 1.2 AES-GCM/CCM put an 8-byte explicit nonce in every record. */
static int explicit_nonce(uint16_t version, uint16_t cipher)
{
	return version == TLS_1_2_VERSION &&
	       cipher != TLS_CIPHER_CHACHA20_POLY1305;
}

/* Bytes a record adds to its plaintext, header not counted. */
static int overhead(uint16_t version, uint16_t cipher)
{
	return 16 + (explicit_nonce(version, cipher) ? 8 : 0) +
	       (version == TLS_1_3_VERSION ? 1 : 0);
}

static uint64_t get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = v & 0xff;
}

static uint64_t keys_seq(const struct keys *k)
{
	return get_be64(k->raw + k->len - 8);
}

static void keys_set_seq(struct keys *k, uint64_t seq)
{
	put_be64(k->raw + k->len - 8, seq);
}

/* Fresh random keys; rec_seq random too, far enough from 2^64 to add to. */
static int keys_make(struct keys *k, uint16_t version, uint16_t cipher)
{
	memset(k, 0, sizeof(*k));
	k->len = kto_crypto_info_len(cipher);
	if (!k->len)
		return -1;
	k->info.version = version;
	k->info.cipher_type = cipher;
	if (getrandom(k->raw + 4, k->len - 4, 0) != (ssize_t)(k->len - 4))
		return -1;
	k->raw[k->len - 8] &= 0x7f;
	return 0;
}

static int install(int fd, int dir, const struct keys *k)
{
	return setsockopt(fd, SOL_TLS, dir, k->raw, k->len);
}

/*
 * A pair whose @tx end (if not NULL) gets TLS_TX and whose @rx end gets
 * TLS_RX (if @rx_keys), each with the ULP only if it installs something.
 */
static int make_pair(int family, const struct keys *tx_keys,
		     const struct keys *rx_keys, int *tx, int *rx)
{
	if (kto_tcp_pair(family, tx, rx))
		return -1;
	if (kto_timeouts(*tx, TIMEO_SEC * 1000) || kto_timeouts(*rx, TIMEO_SEC * 1000))
		return -1;
	if (tx_keys && (kto_ulp(*tx) || install(*tx, TLS_TX, tx_keys)))
		return -1;
	if (rx_keys && (kto_ulp(*rx) || install(*rx, TLS_RX, rx_keys)))
		return -1;
	return 0;
}

/* Read one raw record into @buf; returns its wire length or -1. */
static ssize_t read_raw_record(int fd, unsigned char *buf, size_t cap)
{
	size_t len;

	if (kto_read_full(fd, buf, HDR_LEN) != HDR_LEN)
		return -1;
	len = HDR_LEN + (buf[3] << 8 | buf[4]);
	if (len > cap)
		return -1;
	if (kto_read_full(fd, buf + HDR_LEN, len - HDR_LEN) !=
	    (ssize_t)(len - HDR_LEN))
		return -1;
	return len;
}

/*
 * The records a TLS_TX socket with @k makes of @n sends of @len bytes
 * each (one record per send), read raw off its peer; returns their total
 * length or -1.
 */
static ssize_t produce(const struct keys *k, const void *data, size_t len,
		       int n, unsigned char *out, size_t cap)
{
	ssize_t got = -1;
	int t, r, i;

	if (make_pair(AF_INET, k, NULL, &t, &r))
		return -1;
	for (i = 0; i < n; i++)
		if (send(t, data, len, 0) != (ssize_t)len)
			goto out;
	/* close() flushes the records and ends the stream. */
	close(t);
	t = -1;
	got = kto_read_full(r, out, cap);
	if (got == (ssize_t)cap)
		got = -1;
out:
	if (t >= 0)
		close(t);
	close(r);
	return got;
}

static void fill_random(void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = random() & 0xff;
}

/* Nothing to read right now: recv(MSG_DONTWAIT) says EAGAIN. */
static int nothing_readable(int fd)
{
	char c;

	return recv(fd, &c, 1, MSG_DONTWAIT) == -1 && errno == EAGAIN;
}

/* A reader thread, for sends that do not fit in the socket buffers. */
struct reader {
	pthread_t thread;
	int fd;
	void *buf;
	size_t len;
	ssize_t got;
};

static void *reader_run(void *arg)
{
	struct reader *rd = arg;

	rd->got = kto_read_full(rd->fd, rd->buf, rd->len);
	return NULL;
}


static const char *cipher_stat_suffix(uint16_t cipher)
{
	switch (cipher) {
	case TLS_CIPHER_AES_GCM_256:
		return "AesGcm256";
	case TLS_CIPHER_AES_CCM_128:
		return "AesCcm128";
	case TLS_CIPHER_CHACHA20_POLY1305:
		return "ChaCha20Poly1305";
	}
	return "AesGcm128";
}

/* ---- setsockopt / getsockopt without a fixture ---- */

/* A connected pair with the ULP on both ends and no key yet. */
static void bare_pair(struct __test_metadata *_metadata, int *c, int *s)
{
	ASSERT_EQ(kto_tcp_pair(AF_INET, c, s), 0);
	ASSERT_EQ(kto_timeouts(*c, TIMEO_SEC * 1000), 0);
	ASSERT_EQ(kto_timeouts(*s, TIMEO_SEC * 1000), 0);
	ASSERT_EQ(kto_ulp(*c), 0);
	ASSERT_EQ(kto_ulp(*s), 0);
}

static void expect_set_errno(struct __test_metadata *_metadata, int fd,
			     int opt, const void *val, socklen_t len, int err)
{
	const struct tls_crypto_info *ci = val;

	errno = 0;
	EXPECT_EQ(setsockopt(fd, SOL_TLS, opt, val, len), -1);
	EXPECT_EQ(errno, err)
		TH_LOG("optname %d optlen %u (version %#x cipher %u): %s",
		       opt, len, ci && len >= 4 ? ci->version : 0,
		       ci && len >= 4 ? ci->cipher_type : 0, strerror(errno));
}

TEST(setsockopt_invalid)
{
	static const uint16_t bad_versions[] = { 0, 0x0302, 0x0305, 0x0403 };
	static const uint16_t bad_ciphers[] = {
		0, 50, 99, TLS_CIPHER_SM4_GCM, TLS_CIPHER_ARIA_GCM_128,
	};
	struct keys k, bad;
	char buf[16];
	int c, s, dir;
	size_t i;

	bare_pair(_metadata, &c, &s);
	ASSERT_EQ(keys_make(&k, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128), 0);

	for (dir = TLS_TX; dir <= TLS_RX; dir++) {
		expect_set_errno(_metadata, c, dir, NULL, k.len, EINVAL);
		expect_set_errno(_metadata, c, dir, k.raw, 0, EINVAL);
		expect_set_errno(_metadata, c, dir, k.raw, 2, EINVAL);
		/* The header alone, and every length but the struct's own. */
		expect_set_errno(_metadata, c, dir, k.raw, 4, EINVAL);
		expect_set_errno(_metadata, c, dir, k.raw, k.len - 1, EINVAL);
		expect_set_errno(_metadata, c, dir, k.raw, k.len + 1, EINVAL);
		expect_set_errno(_metadata, c, dir, k.raw,
				 kto_crypto_info_len(TLS_CIPHER_AES_GCM_256), EINVAL);

		for (i = 0; i < sizeof(bad_versions) / sizeof(bad_versions[0]); i++) {
			bad = k;
			bad.info.version = bad_versions[i];
			expect_set_errno(_metadata, c, dir, bad.raw, bad.len,
					 EINVAL);
		}
		/* Sized like AES-GCM-128, as SM4 and ARIA-128 would be. */
		for (i = 0; i < sizeof(bad_ciphers) / sizeof(bad_ciphers[0]); i++) {
			bad = k;
			bad.info.cipher_type = bad_ciphers[i];
			expect_set_errno(_metadata, c, dir, bad.raw, bad.len,
					 EINVAL);
		}
	}
	expect_set_errno(_metadata, c, 12345, k.raw, k.len, ENOPROTOOPT);

	/* None of that changed the socket: plain bytes pass both ways... */
	ASSERT_EQ(send(c, "plain", 5, 0), 5);
	ASSERT_EQ(kto_read_full(s, buf, 5), 5);
	EXPECT_EQ(memcmp(buf, "plain", 5), 0);
	ASSERT_EQ(send(s, "reply", 5, 0), 5);
	ASSERT_EQ(kto_read_full(c, buf, 5), 5);
	EXPECT_EQ(memcmp(buf, "reply", 5), 0);

	/* ...and a correct install after them works. */
	ASSERT_EQ(install(c, TLS_TX, &k), 0) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(install(s, TLS_RX, &k), 0) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(send(c, "secret", 6, 0), 6);
	ASSERT_EQ(recv(s, buf, sizeof(buf), 0), 6);
	EXPECT_EQ(memcmp(buf, "secret", 6), 0);
	close(c);
	close(s);
}

TEST(setsockopt_second_install_busy)
{
	struct keys k, k2;
	char buf[8];
	int c, s;

	/* TLS 1.2 has no KeyUpdate (for TLS 1.3 a second key rekeys: rekey.c). */
	bare_pair(_metadata, &c, &s);
	ASSERT_EQ(keys_make(&k, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256), 0);
	ASSERT_EQ(keys_make(&k2, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256), 0);
	ASSERT_EQ(install(c, TLS_TX, &k), 0);
	ASSERT_EQ(install(s, TLS_RX, &k), 0);

	expect_set_errno(_metadata, c, TLS_TX, k2.raw, k2.len, EBUSY);
	expect_set_errno(_metadata, s, TLS_RX, k2.raw, k2.len, EBUSY);
	/* The first keys stay in use. */
	ASSERT_EQ(send(c, "abc", 3, 0), 3);
	ASSERT_EQ(recv(s, buf, sizeof(buf), 0), 3);
	EXPECT_EQ(memcmp(buf, "abc", 3), 0);
	close(c);
	close(s);
}

/* Both directions of one socket speak one version and one cipher. */
TEST(setsockopt_tx_rx_mismatch)
{
	struct keys k, other;
	char buf[8];
	int c, s;

	bare_pair(_metadata, &c, &s);
	ASSERT_EQ(keys_make(&k, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128), 0);
	ASSERT_EQ(install(c, TLS_TX, &k), 0);

	ASSERT_EQ(keys_make(&other, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128), 0);
	expect_set_errno(_metadata, c, TLS_RX, other.raw, other.len, EINVAL);
	ASSERT_EQ(keys_make(&other, TLS_1_2_VERSION, TLS_CIPHER_AES_CCM_128), 0);
	expect_set_errno(_metadata, c, TLS_RX, other.raw, other.len, EINVAL);
	ASSERT_EQ(keys_make(&other, TLS_1_2_VERSION,
			    TLS_CIPHER_CHACHA20_POLY1305), 0);
	expect_set_errno(_metadata, c, TLS_RX, other.raw, other.len, EINVAL);

	/* The other way round: RX first, then a mismatching TX. */
	ASSERT_EQ(install(s, TLS_RX, &k), 0);
	ASSERT_EQ(keys_make(&other, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256), 0);
	expect_set_errno(_metadata, s, TLS_TX, other.raw, other.len, EINVAL);

	/* A matching one still goes in on both. */
	ASSERT_EQ(keys_make(&other, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128), 0);
	EXPECT_EQ(install(c, TLS_RX, &other), 0);
	EXPECT_EQ(install(s, TLS_TX, &other), 0);
	ASSERT_EQ(send(c, "xyz", 3, 0), 3);
	ASSERT_EQ(recv(s, buf, sizeof(buf), 0), 3);
	EXPECT_EQ(memcmp(buf, "xyz", 3), 0);
	close(c);
	close(s);
}

TEST(getsockopt_before_install)
{
	struct keys k;
	socklen_t len;
	int c, s;

	bare_pair(_metadata, &c, &s);
	len = sizeof(k.gcm128);
	EXPECT_EQ(getsockopt(c, SOL_TLS, TLS_TX, k.raw, &len), -1);
	EXPECT_EQ(errno, EBUSY);
	len = sizeof(k.info);
	EXPECT_EQ(getsockopt(c, SOL_TLS, TLS_RX, k.raw, &len), -1);
	EXPECT_EQ(errno, EBUSY);
	len = sizeof(int);
	EXPECT_EQ(getsockopt(c, SOL_TLS, 12345, k.raw, &len), -1);
	EXPECT_EQ(errno, ENOPROTOOPT);
	close(c);
	close(s);
}

TEST(zerocopy_ro)
{
	int c, s, val;
	socklen_t len;
	struct keys k;
	char buf[8];

	bare_pair(_metadata, &c, &s);
	ASSERT_EQ(keys_make(&k, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128), 0);
	ASSERT_EQ(install(c, TLS_TX, &k), 0);
	ASSERT_EQ(install(s, TLS_RX, &k), 0);

	val = -1;
	len = sizeof(val);
	ASSERT_EQ(getsockopt(c, SOL_TLS, TLS_TX_ZEROCOPY_RO, &val, &len), 0);
	EXPECT_EQ(val, 0);
	EXPECT_EQ(len, sizeof(val));

	val = 1;
	ASSERT_EQ(setsockopt(c, SOL_TLS, TLS_TX_ZEROCOPY_RO, &val,
			     sizeof(val)), 0);
	val = -1;
	ASSERT_EQ(getsockopt(c, SOL_TLS, TLS_TX_ZEROCOPY_RO, &val, &len), 0);
	EXPECT_EQ(val, 1);

	val = 2;
	expect_set_errno(_metadata, c, TLS_TX_ZEROCOPY_RO, &val, sizeof(val),
			 EINVAL);
	val = 0;
	expect_set_errno(_metadata, c, TLS_TX_ZEROCOPY_RO, &val, 2, EINVAL);
	expect_set_errno(_metadata, c, TLS_TX_ZEROCOPY_RO, &val, 8, EINVAL);
	expect_set_errno(_metadata, c, TLS_TX_ZEROCOPY_RO, NULL, sizeof(val),
			 EINVAL);
	len = 2;
	EXPECT_EQ(getsockopt(c, SOL_TLS, TLS_TX_ZEROCOPY_RO, &val, &len), -1);
	EXPECT_EQ(errno, EINVAL);
	/* The refused values left it at 1. */
	len = sizeof(val);
	ASSERT_EQ(getsockopt(c, SOL_TLS, TLS_TX_ZEROCOPY_RO, &val, &len), 0);
	EXPECT_EQ(val, 1);

	/* The hint does not change the bytes. */
	ASSERT_EQ(send(c, "zcro", 4, 0), 4);
	ASSERT_EQ(recv(s, buf, sizeof(buf), 0), 4);
	EXPECT_EQ(memcmp(buf, "zcro", 4), 0);

	val = 0;
	ASSERT_EQ(setsockopt(c, SOL_TLS, TLS_TX_ZEROCOPY_RO, &val,
			     sizeof(val)), 0);
	val = -1;
	ASSERT_EQ(getsockopt(c, SOL_TLS, TLS_TX_ZEROCOPY_RO, &val, &len), 0);
	EXPECT_EQ(val, 0);
	close(c);
	close(s);
}

TEST(rx_expect_no_pad)
{
	unsigned char data[3000], out[3000];
	struct keys k12, k13;
	int c, s, val;
	socklen_t len = sizeof(val);

	fill_random(data, sizeof(data));
	ASSERT_EQ(keys_make(&k12, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128), 0);
	ASSERT_EQ(keys_make(&k13, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128), 0);

	/* Without RX, and with TLS 1.2 RX, there is no such option. */
	bare_pair(_metadata, &c, &s);
	val = 1;
	expect_set_errno(_metadata, s, TLS_RX_EXPECT_NO_PAD, &val, sizeof(val),
			 EINVAL);
	EXPECT_EQ(getsockopt(s, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &val, &len), -1);
	EXPECT_EQ(errno, EINVAL);
	ASSERT_EQ(install(s, TLS_RX, &k12), 0);
	expect_set_errno(_metadata, s, TLS_RX_EXPECT_NO_PAD, &val, sizeof(val),
			 EINVAL);
	EXPECT_EQ(getsockopt(s, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &val, &len), -1);
	EXPECT_EQ(errno, EINVAL);
	close(c);
	close(s);

	bare_pair(_metadata, &c, &s);
	ASSERT_EQ(install(c, TLS_TX, &k13), 0);
	ASSERT_EQ(install(s, TLS_RX, &k13), 0);
	val = -1;
	ASSERT_EQ(getsockopt(s, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &val, &len), 0);
	EXPECT_EQ(val, 0);
	val = 1;
	ASSERT_EQ(setsockopt(s, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &val,
			     sizeof(val)), 0);
	val = -1;
	ASSERT_EQ(getsockopt(s, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &val, &len), 0);
	EXPECT_EQ(val, 1);
	val = 2;
	expect_set_errno(_metadata, s, TLS_RX_EXPECT_NO_PAD, &val, sizeof(val),
			 EINVAL);
	expect_set_errno(_metadata, s, TLS_RX_EXPECT_NO_PAD, &val, 2, EINVAL);

	/* Records (unpadded, as ours are) still come out right. */
	ASSERT_EQ(send(c, data, 1000, 0), 1000);
	ASSERT_EQ(send(c, data + 1000, 2000, 0), 2000);
	ASSERT_EQ(kto_read_full(s, out, sizeof(out)), sizeof(out));
	EXPECT_EQ(memcmp(out, data, sizeof(out)), 0);

	val = 0;
	ASSERT_EQ(setsockopt(s, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &val,
			     sizeof(val)), 0);
	val = -1;
	ASSERT_EQ(getsockopt(s, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &val, &len), 0);
	EXPECT_EQ(val, 0);
	close(c);
	close(s);
}

TEST(ipv6_send_recv)
{
	unsigned char data[20000], out[20000];
	unsigned char wire[WIRE_CAP];
	struct keys k;
	int c, s, t, r;

	fill_random(data, sizeof(data));
	ASSERT_EQ(keys_make(&k, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128), 0);
	ASSERT_EQ(make_pair(AF_INET6, &k, &k, &c, &s), 0)
		TH_LOG("%s", strerror(errno));
	ASSERT_EQ(send(c, data, sizeof(data), 0), sizeof(data));
	ASSERT_EQ(kto_read_full(s, out, sizeof(out)), sizeof(out));
	EXPECT_EQ(memcmp(out, data, sizeof(out)), 0);
	close(c);
	close(s);

	/* The same records as over IPv4. */
	ASSERT_EQ(make_pair(AF_INET6, &k, NULL, &t, &r), 0);
	ASSERT_EQ(send(t, data, 100, 0), 100);
	ASSERT_EQ(read_raw_record(r, wire, sizeof(wire)),
		  HDR_LEN + 100 + overhead(TLS_1_3_VERSION,
					   TLS_CIPHER_AES_GCM_128));
	EXPECT_EQ(wire[0], TYPE_DATA);
	close(t);
	close(r);
}

/* ---- fixtures ---- */

/* c: TLS_TX, s: TLS_RX, same keys; the buffers are scratch. */
#define PAIR_FIELDS							\
	int c, s;							\
	struct keys k;							\
	unsigned char *data;	/* random plaintext */			\
	unsigned char *out;	/* what came back */			\
	unsigned char *wire;	/* raw records */

#define BUF_LEN		(128 * 1024)

#define PAIR_SETUP(f)							\
	do {								\
		self->c = self->s = -1;					\
		self->data = malloc(BUF_LEN);				\
		self->out = malloc(BUF_LEN);				\
		self->wire = malloc(BUF_LEN);				\
		ASSERT_NE(self->data, NULL);				\
		ASSERT_NE(self->out, NULL);				\
		ASSERT_NE(self->wire, NULL);				\
		srandom(getpid());					\
		fill_random(self->data, BUF_LEN);			\
		ASSERT_EQ(keys_make(&self->k, variant->version,		\
				    variant->cipher), 0);		\
		ASSERT_EQ(make_pair(AF_INET, &self->k, &self->k,	\
				    &self->c, &self->s), 0)		\
			TH_LOG("install: %s", strerror(errno));		\
	} while (0)

#define PAIR_TEARDOWN()							\
	do {								\
		if (self->c >= 0)					\
			close(self->c);					\
		if (self->s >= 0)					\
			close(self->s);					\
		free(self->data);					\
		free(self->out);					\
		free(self->wire);					\
	} while (0)

FIXTURE(rec)
{
	PAIR_FIELDS
};

FIXTURE_VARIANT(rec)
{
	uint16_t version;
	uint16_t cipher;
};

TLS_VARIANTS(rec);

FIXTURE_SETUP(rec)
{
	PAIR_SETUP(rec);
}

FIXTURE_TEARDOWN(rec)
{
	PAIR_TEARDOWN();
}

FIXTURE(api)
{
	PAIR_FIELDS
};

FIXTURE_VARIANT(api)
{
	uint16_t version;
	uint16_t cipher;
};

FIXTURE_VARIANT_ADD(api, tls12_aes_gcm_128)
{
	.version = TLS_1_2_VERSION,
	.cipher = TLS_CIPHER_AES_GCM_128,
};

FIXTURE_VARIANT_ADD(api, tls13_chacha20_poly1305)
{
	.version = TLS_1_3_VERSION,
	.cipher = TLS_CIPHER_CHACHA20_POLY1305,
};

FIXTURE_SETUP(api)
{
	PAIR_SETUP(api);
}

FIXTURE_TEARDOWN(api)
{
	PAIR_TEARDOWN();
}

/* ---- per cipher ---- */

TEST_F(rec, send_recv)
{
	static const size_t sizes[] = { 1, 1000, MAX_PLAIN, MAX_PLAIN + 1 };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		ASSERT_EQ(send(self->c, self->data, sizes[i], 0), sizes[i]);
		ASSERT_EQ(kto_read_full(self->s, self->out, sizes[i]), sizes[i]);
		EXPECT_EQ(memcmp(self->out, self->data, sizes[i]), 0)
			TH_LOG("%zu bytes differ", sizes[i]);
	}
}

/* 40000 bytes: records of 16384, 16384, 7232, which an RX socket opens. */
TEST_F(rec, tx_record_sizes)
{
	static const size_t plain[] = { MAX_PLAIN, MAX_PLAIN, 40000 - 2 * MAX_PLAIN };
	int ovh = overhead(variant->version, variant->cipher);
	size_t i, off = 0;
	ssize_t n;
	int t, r, w, rx;

	ASSERT_EQ(make_pair(AF_INET, &self->k, NULL, &t, &r), 0);
	ASSERT_EQ(send(t, self->data, 40000, 0), 40000);
	for (i = 0; i < 3; i++) {
		n = read_raw_record(r, self->wire + off, BUF_LEN - off);
		ASSERT_EQ(n, HDR_LEN + plain[i] + ovh) TH_LOG("record %zu", i);
		EXPECT_EQ(self->wire[off], TYPE_DATA);
		EXPECT_EQ(self->wire[off + 1], 3);
		EXPECT_EQ(self->wire[off + 2], 3);
		off += n;
	}
	EXPECT_TRUE(nothing_readable(r));

	/* Fed raw to an RX socket with the same keys: the same 40000 bytes. */
	ASSERT_EQ(make_pair(AF_INET, NULL, &self->k, &w, &rx), 0);
	ASSERT_EQ(kto_write_full(w, self->wire, off), 0);
	ASSERT_EQ(kto_read_full(rx, self->out, 40000), 40000);
	EXPECT_EQ(memcmp(self->out, self->data, 40000), 0);
	close(t);
	close(r);
	close(w);
	close(rx);
}

/* MSG_MORE holds the record back; the send without it ends one record. */
TEST_F(rec, tx_msg_more_one_record)
{
	int ovh = overhead(variant->version, variant->cipher);
	int t, r;

	ASSERT_EQ(make_pair(AF_INET, &self->k, NULL, &t, &r), 0);
	ASSERT_EQ(send(t, self->data, 1000, MSG_MORE), 1000);
	ASSERT_EQ(send(t, self->data + 1000, 500, MSG_MORE), 500);
	usleep(50 * 1000);
	EXPECT_TRUE(nothing_readable(r));
	ASSERT_EQ(send(t, self->data + 1500, 100, 0), 100);
	ASSERT_EQ(read_raw_record(r, self->wire, BUF_LEN), HDR_LEN + 1600 + ovh);
	usleep(50 * 1000);
	EXPECT_TRUE(nothing_readable(r));

	/* And on the TLS pair: nothing, then all 1600 bytes at once. */
	ASSERT_EQ(send(self->c, self->data, 1000, MSG_MORE), 1000);
	ASSERT_EQ(send(self->c, self->data + 1000, 500, MSG_MORE), 500);
	usleep(50 * 1000);
	EXPECT_TRUE(nothing_readable(self->s));
	ASSERT_EQ(send(self->c, self->data + 1500, 100, 0), 100);
	ASSERT_EQ(recv(self->s, self->out, BUF_LEN, 0), 1600);
	EXPECT_EQ(memcmp(self->out, self->data, 1600), 0);
	close(t);
	close(r);
}

/*
 * Three records advance rec_seq by three: on TX when sent, on RX when
 * read. Key and salt come back as installed.
 */
TEST_F(rec, getsockopt_rec_seq)
{
	uint64_t start = keys_seq(&self->k);
	int expl = explicit_nonce(variant->version, variant->cipher);
	struct keys got;
	socklen_t len;
	int i, dir;

	memset(&got, 0, sizeof(got));
	got.len = self->k.len;
	for (dir = TLS_TX; dir <= TLS_RX; dir++) {
		int fd = dir == TLS_TX ? self->c : self->s;

		len = sizeof(got.info);
		ASSERT_EQ(getsockopt(fd, SOL_TLS, dir, got.raw, &len), 0);
		EXPECT_EQ(len, sizeof(got.info));
		EXPECT_EQ(got.info.version, variant->version);
		EXPECT_EQ(got.info.cipher_type, variant->cipher);

		len = self->k.len;
		ASSERT_EQ(getsockopt(fd, SOL_TLS, dir, got.raw, &len), 0);
		EXPECT_EQ(len, self->k.len);
		EXPECT_EQ(memcmp(got.raw, self->k.raw, self->k.len), 0);

		/* Neither a part of the struct nor more of it. */
		for (len = 0; len < self->k.len + 2; len++) {
			socklen_t l = len;

			if (len == sizeof(got.info) || len == self->k.len)
				continue;
			errno = 0;
			EXPECT_EQ(getsockopt(fd, SOL_TLS, dir, got.raw, &l), -1)
				TH_LOG("dir %d optlen %u", dir, len);
			EXPECT_EQ(errno, EINVAL);
		}
	}

	for (i = 0; i < 3; i++)
		ASSERT_EQ(send(self->c, self->data + 100 * i, 100, 0), 100);
	len = self->k.len;
	ASSERT_EQ(getsockopt(self->c, SOL_TLS, TLS_TX, got.raw, &len), 0);
	EXPECT_EQ(keys_seq(&got), start + 3);
	/* Key, salt and (where it is implicit) iv unchanged. */
	keys_set_seq(&got, start);
	if (expl) {
		/* The explicit nonce counts records too. */
		unsigned char *iv = got.raw + 4, *iv0 = self->k.raw + 4;

		EXPECT_EQ(get_be64(iv), get_be64(iv0) + 3);
		memcpy(iv, iv0, 8);
	}
	EXPECT_EQ(memcmp(got.raw, self->k.raw, self->k.len), 0);

	/* RX counts only what was read. */
	usleep(50 * 1000);
	len = self->k.len;
	ASSERT_EQ(getsockopt(self->s, SOL_TLS, TLS_RX, got.raw, &len), 0);
	EXPECT_EQ(keys_seq(&got), start);
	ASSERT_EQ(kto_read_full(self->s, self->out, 300), 300);
	EXPECT_EQ(memcmp(self->out, self->data, 300), 0);
	len = self->k.len;
	ASSERT_EQ(getsockopt(self->s, SOL_TLS, TLS_RX, got.raw, &len), 0);
	EXPECT_EQ(keys_seq(&got), start + 3);
	keys_set_seq(&got, start);
	/* The iv of a TLS 1.2 GCM/CCM receiver is not used: not compared. */
	if (expl)
		memcpy(got.raw + 4, self->k.raw + 4, 8);
	EXPECT_EQ(memcmp(got.raw, self->k.raw, self->k.len), 0);
}

/* A bad tag: EBADMSG, and again on the next recv. */
TEST_F(rec, rx_corrupted_record)
{
	ssize_t wlen, first;
	int w, rx;

	wlen = produce(&self->k, self->data, 100, 2, self->wire, BUF_LEN);
	first = HDR_LEN + 100 + overhead(variant->version, variant->cipher);
	ASSERT_EQ(wlen, 2 * first);
	self->wire[first - 1] ^= 0x01;

	ASSERT_EQ(make_pair(AF_INET, NULL, &self->k, &w, &rx), 0);
	ASSERT_EQ(kto_write_full(w, self->wire, wlen), 0);
	errno = 0;
	EXPECT_EQ(recv(rx, self->out, BUF_LEN, 0), -1);
	EXPECT_EQ(errno, EBADMSG);
	errno = 0;
	EXPECT_EQ(recv(rx, self->out, BUF_LEN, 0), -1);
	EXPECT_EQ(errno, EBADMSG);
	close(w);
	close(rx);
}

/*
 * A record whose ciphertext (not tag) was changed: the reader gets EBADMSG
 * and its buffer holds none of the unauthenticated plaintext (TLS 1.2 data
 * records are decrypted straight into the reader's buffer).
 */
TEST_F(rec, rx_corrupted_leaves_no_plaintext)
{
	const size_t len = 4000;
	ssize_t wlen;
	size_t i, same = 0;
	int w, rx;

	wlen = produce(&self->k, self->data, len, 1, self->wire, BUF_LEN);
	ASSERT_EQ(wlen, HDR_LEN + len + overhead(variant->version, variant->cipher));
	self->wire[wlen / 2] ^= 0x10;

	ASSERT_EQ(make_pair(AF_INET, NULL, &self->k, &w, &rx), 0);
	ASSERT_EQ(kto_write_full(w, self->wire, wlen), 0);
	memset(self->out, 0xaa, BUF_LEN);
	errno = 0;
	EXPECT_EQ(recv(rx, self->out, BUF_LEN, 0), -1);
	EXPECT_EQ(errno, EBADMSG);
	/* Random plaintext matches a wiped or untouched buffer ~2/256 of the time. */
	for (i = 0; i < len; i++)
		same += self->out[i] == self->data[i];
	EXPECT_LT(same, len / 16) TH_LOG("%zu of %zu plaintext bytes reached the buffer",
					 same, len);
	for (i = 0; i < BUF_LEN; i++)
		if (self->out[i] != 0xaa && self->out[i] != 0)
			break;
	EXPECT_EQ(i, BUF_LEN) TH_LOG("byte %zu is %#x", i, self->out[i]);
	close(w);
	close(rx);
}

/*
 * Records read into buffers of every shape: one buffer larger than all
 * (straight decryption for TLS 1.2), scattered iovecs, a buffer smaller
 * than a record, and a shared file mapping whose pages must end up with
 * the plaintext in the file.
 */
TEST_F(rec, rx_buffer_shapes)
{
	const size_t total = 2 * MAX_PLAIN + 100;
	struct iovec iov[3];
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 3 };
	unsigned char *map;
	size_t got;
	int fd;

	/* One large buffer. */
	ASSERT_EQ(send(self->c, self->data, total, 0), total);
	ASSERT_EQ(kto_read_full(self->s, self->out, total), total);
	EXPECT_EQ(memcmp(self->out, self->data, total), 0);

	/* Three iovecs cutting across record boundaries. */
	memset(self->out, 0, BUF_LEN);
	ASSERT_EQ(send(self->c, self->data, total, 0), total);
	for (got = 0; got < total;) {
		ssize_t n;

		iov[0].iov_base = self->out + got;
		iov[0].iov_len = 7000;
		iov[1].iov_base = self->out + got + 7000;
		iov[1].iov_len = 20000;
		iov[2].iov_base = self->out + got + 27000;
		iov[2].iov_len = 9000;
		n = recvmsg(self->s, &m, 0);
		ASSERT_GT(n, 0) TH_LOG("recvmsg: %s", strerror(errno));
		got += n;
	}
	EXPECT_EQ(got, total);
	EXPECT_EQ(memcmp(self->out, self->data, total), 0);

	/* A buffer smaller than one record. */
	memset(self->out, 0, BUF_LEN);
	ASSERT_EQ(send(self->c, self->data, MAX_PLAIN, 0), MAX_PLAIN);
	for (got = 0; got < MAX_PLAIN;) {
		ssize_t n = recv(self->s, self->out + got, 1000, 0);

		ASSERT_GT(n, 0);
		got += n;
	}
	EXPECT_EQ(memcmp(self->out, self->data, MAX_PLAIN), 0);

	/* A shared mapping of a file: the file gets the plaintext. */
	fd = memfd_create("rx_buffer_shapes", MFD_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(ftruncate(fd, total), 0);
	map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(map, MAP_FAILED);
	ASSERT_EQ(send(self->c, self->data, total, 0), total);
	ASSERT_EQ(kto_read_full(self->s, map + 1, total - 1), total - 1);
	ASSERT_EQ(munmap(map, total), 0);
	ASSERT_EQ(pread(fd, self->out, total - 1, 1), total - 1);
	EXPECT_EQ(memcmp(self->out, self->data, total - 1), 0);
	close(fd);
	ASSERT_EQ(recv(self->s, self->out, 1, 0), 1);
	EXPECT_EQ(self->out[0], self->data[total - 1]);
}

/* Keeps changing a buffer until told to stop. */
struct scribbler {
	pthread_t thread;
	volatile unsigned char *buf;
	size_t len;
	volatile int stop;
};

static void *scribble_run(void *arg)
{
	struct scribbler *sc = arg;
	size_t i = 0;

	while (!sc->stop) {
		sc->buf[i]++;
		i = (i + 61) % sc->len;
	}
	return NULL;
}

/*
 * A sender whose buffer changes while it is sent still produces records
 * that authenticate (whole records are sealed straight from the sender's
 * pages except with AES-CCM, whose MAC would read the plaintext again).
 */
TEST_F(rec, tx_buffer_changing_meanwhile)
{
	const size_t total = 7 * MAX_PLAIN;	/* fits in self->out */
	struct scribbler sc = { .buf = self->data, .len = MAX_PLAIN };
	long errors = kto_stat_get("TlsDecryptError");
	int round;

	ASSERT_EQ(pthread_create(&sc.thread, NULL, scribble_run, &sc), 0);
	for (round = 0; round < 10; round++) {
		struct reader rd = { .fd = self->s, .buf = self->out, .len = total };
		size_t sent;

		ASSERT_EQ(pthread_create(&rd.thread, NULL, reader_run, &rd), 0);
		for (sent = 0; sent < total; sent += MAX_PLAIN)
			if (send(self->c, self->data, MAX_PLAIN, 0) != MAX_PLAIN)
				break;
		pthread_join(rd.thread, NULL);
		EXPECT_EQ(sent, total);
		EXPECT_EQ(rd.got, (ssize_t)total)
			TH_LOG("round %d: the reader failed (a record did not authenticate?)",
			       round);
		if (rd.got != (ssize_t)total)
			break;
	}
	sc.stop = 1;
	pthread_join(sc.thread, NULL);
	EXPECT_EQ(kto_stat_get("TlsDecryptError"), errors);
}

/* A header claiming more than the largest record: EMSGSIZE. */
TEST_F(rec, rx_record_too_long)
{
	int max = MAX_PLAIN + overhead(variant->version, variant->cipher);
	unsigned char hdr[HDR_LEN + 64] = { TYPE_DATA, 3, 3 };
	int w, rx;

	hdr[3] = (max + 1) >> 8;
	hdr[4] = (max + 1) & 0xff;
	ASSERT_EQ(make_pair(AF_INET, NULL, &self->k, &w, &rx), 0);
	ASSERT_EQ(kto_write_full(w, hdr, sizeof(hdr)), 0);
	errno = 0;
	EXPECT_EQ(recv(rx, self->out, BUF_LEN, 0), -1);
	EXPECT_EQ(errno, EMSGSIZE);
	close(w);
	close(rx);
}

/* The largest legal length is taken as a record (and fails to open). */
TEST_F(rec, rx_record_longest_accepted)
{
	int max = MAX_PLAIN + overhead(variant->version, variant->cipher);
	int w, rx;

	memset(self->wire, 0, HDR_LEN + max);
	self->wire[0] = TYPE_DATA;
	self->wire[1] = self->wire[2] = 3;
	self->wire[3] = max >> 8;
	self->wire[4] = max & 0xff;
	ASSERT_EQ(make_pair(AF_INET, NULL, &self->k, &w, &rx), 0);
	ASSERT_EQ(kto_write_full(w, self->wire, HDR_LEN + max), 0);
	errno = 0;
	EXPECT_EQ(recv(rx, self->out, BUF_LEN, 0), -1);
	EXPECT_EQ(errno, EBADMSG);
	close(w);
	close(rx);
}

/*
 * The last sequence number seals one record; after it the module refuses
 * to reuse a nonce (kmod/crypto.c): EKEYEXPIRED, and nothing on the wire.
 */
TEST_F(rec, tx_seq_exhausted)
{
	struct keys k = self->k;
	ssize_t n;
	int t, r, w, rx;

	keys_set_seq(&k, UINT64_MAX);
	ASSERT_EQ(make_pair(AF_INET, &k, NULL, &t, &r), 0);
	ASSERT_EQ(send(t, self->data, 100, 0), 100)
		TH_LOG("the record with the last sequence number: %s",
		       strerror(errno));
	n = read_raw_record(r, self->wire, BUF_LEN);
	ASSERT_EQ(n, HDR_LEN + 100 + overhead(variant->version, variant->cipher));

	/* Not "100 bytes sent" for bytes that will never be. */
	errno = 0;
	EXPECT_EQ(send(t, self->data, 100, 0), -1);
	EXPECT_EQ(errno, EKEYEXPIRED);
	errno = 0;
	EXPECT_EQ(send(t, self->data, 100, 0), -1);
	EXPECT_EQ(errno, EKEYEXPIRED);
	usleep(50 * 1000);
	EXPECT_TRUE(nothing_readable(r));

	/* The one record sent opens with the same keys. */
	ASSERT_EQ(make_pair(AF_INET, NULL, &k, &w, &rx), 0);
	ASSERT_EQ(kto_write_full(w, self->wire, n), 0);
	ASSERT_EQ(recv(rx, self->out, BUF_LEN, 0), 100);
	EXPECT_EQ(memcmp(self->out, self->data, 100), 0);
	close(t);
	close(r);
	close(w);
	close(rx);
}

/* After the record with the last sequence number, RX takes no other. */
TEST_F(rec, rx_seq_exhausted)
{
	struct keys k = self->k, k0 = self->k;
	ssize_t n1, n2;
	int w, rx;

	keys_set_seq(&k, UINT64_MAX);
	keys_set_seq(&k0, 0);
	n1 = produce(&k, "last", 4, 1, self->wire, BUF_LEN);
	ASSERT_GT(n1, 0) TH_LOG("TLS_TX cannot send with rec_seq 2^64-1");
	/* What a sender that wrapped around would send next. */
	n2 = produce(&k0, "wrapped", 7, 1, self->wire + n1, BUF_LEN - n1);
	ASSERT_GT(n2, 0);

	ASSERT_EQ(make_pair(AF_INET, NULL, &k, &w, &rx), 0);
	ASSERT_EQ(kto_write_full(w, self->wire, n1 + n2), 0);
	ASSERT_EQ(kto_read_full(rx, self->out, 4), 4);
	EXPECT_EQ(memcmp(self->out, "last", 4), 0);
	errno = 0;
	EXPECT_EQ(recv(rx, self->out, BUF_LEN, 0), -1);
	EXPECT_EQ(errno, EKEYEXPIRED);
	errno = 0;
	EXPECT_EQ(recv(rx, self->out, BUF_LEN, 0), -1);
	EXPECT_EQ(errno, EKEYEXPIRED);
	close(w);
	close(rx);
}

/* Each install counts once under its cipher, per direction. */
TEST_F(rec, stat_cipher_counters)
{
	const char *sfx = cipher_stat_suffix(variant->cipher);
	char tx_name[64], rx_name[64];
	long tx0, rx0;
	int c, s;

	if (access(KTO_STAT_FILE, R_OK))
		SKIP(return, "no %s (not our module)", KTO_STAT_FILE);
	snprintf(tx_name, sizeof(tx_name), "TlsTx%s", sfx);
	snprintf(rx_name, sizeof(rx_name), "TlsRx%s", sfx);
	tx0 = kto_stat_get(tx_name);
	rx0 = kto_stat_get(rx_name);
	ASSERT_GE(tx0, 1);	/* the fixture's own pair */
	ASSERT_GE(rx0, 1);

	ASSERT_EQ(make_pair(AF_INET, &self->k, &self->k, &c, &s), 0);
	EXPECT_EQ(kto_stat_get(tx_name), tx0 + 1);
	EXPECT_EQ(kto_stat_get(rx_name), rx0 + 1);
	ASSERT_EQ(install(s, TLS_TX, &self->k), 0);
	EXPECT_EQ(kto_stat_get(tx_name), tx0 + 2);
	close(c);
	close(s);
	/* Installs, not sockets in use: closing does not take them back. */
	EXPECT_EQ(kto_stat_get(tx_name), tx0 + 2);
	EXPECT_EQ(kto_stat_get(rx_name), rx0 + 1);
}

/* ---- cipher-independent ---- */

TEST_F(api, tx_flags)
{
	errno = 0;
	EXPECT_EQ(send(self->c, self->data, 10, MSG_MORE | MSG_EOR), -1);
	EXPECT_EQ(errno, EINVAL);
	errno = 0;
	EXPECT_EQ(send(self->c, self->data, 10, MSG_OOB), -1);
	EXPECT_EQ(errno, EOPNOTSUPP);
	errno = 0;
	EXPECT_EQ(kto_send_typed(self->c, TYPE_HANDSHAKE, self->data, 10, MSG_MORE),
		  -1);
	EXPECT_EQ(errno, EINVAL);

	/* MSG_EOR alone is a plain send; nothing of the refused ones went out. */
	ASSERT_EQ(send(self->c, self->data, 10, MSG_EOR), 10);
	ASSERT_EQ(recv(self->s, self->out, BUF_LEN, 0), 10);
	EXPECT_EQ(memcmp(self->out, self->data, 10), 0);
	usleep(50 * 1000);
	EXPECT_TRUE(nothing_readable(self->s));
}

TEST_F(api, tx_sendfile)
{
	const size_t len = 100000;
	char path[] = "/tmp/record-sendfile-XXXXXX";
	struct reader rd = { .fd = self->s, .buf = self->out, .len = len };
	off_t off = 0;
	ssize_t n;
	int fd;

	fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	unlink(path);
	ASSERT_EQ(write(fd, self->data, len), len);

	ASSERT_EQ(pthread_create(&rd.thread, NULL, reader_run, &rd), 0);
	while ((size_t)off < len) {
		n = sendfile(self->c, fd, &off, len - off);
		if (n <= 0)
			break;
	}
	EXPECT_EQ(off, len) TH_LOG("sendfile: %s", strerror(errno));
	pthread_join(rd.thread, NULL);
	ASSERT_EQ(rd.got, len);
	EXPECT_EQ(memcmp(self->out, self->data, len), 0);
	close(fd);
}

TEST_F(api, tx_splice_from_pipe)
{
	const size_t len = 40000;
	size_t done = 0;
	int p[2];
	ssize_t n;

	ASSERT_EQ(pipe(p), 0);
	ASSERT_EQ(write(p[1], self->data, len), len);
	while (done < len) {
		n = splice(p[0], NULL, self->c, NULL, len - done, 0);
		if (n <= 0)
			break;
		done += n;
	}
	EXPECT_EQ(done, len) TH_LOG("splice: %s", strerror(errno));
	ASSERT_EQ(kto_read_full(self->s, self->out, len), len);
	EXPECT_EQ(memcmp(self->out, self->data, len), 0);
	close(p[0]);
	close(p[1]);
}

/* The open record goes out before the FIN (kto_shutdown() says it flushes). */
TEST_F(api, tx_shutdown_flushes_more)
{
	ASSERT_EQ(send(self->c, self->data, 1000, MSG_MORE), 1000);
	usleep(50 * 1000);
	EXPECT_TRUE(nothing_readable(self->s));
	ASSERT_EQ(shutdown(self->c, SHUT_WR), 0);
	ASSERT_EQ(recv(self->s, self->out, BUF_LEN, 0), 1000);
	EXPECT_EQ(memcmp(self->out, self->data, 1000), 0);
	EXPECT_EQ(recv(self->s, self->out, BUF_LEN, 0), 0);
}

/* And before close(); the in-tree kTLS drops an open record there. */
TEST_F(api, tx_close_flushes_more)
{
	ASSERT_EQ(send(self->c, self->data, 1000, MSG_MORE), 1000);
	close(self->c);
	self->c = -1;
	ASSERT_EQ(kto_read_full(self->s, self->out, 1000), 1000);
	EXPECT_EQ(memcmp(self->out, self->data, 1000), 0);
	EXPECT_EQ(recv(self->s, self->out, BUF_LEN, 0), 0);
}

/*
 * A control record needs room for its type: recv without it fails with
 * EIO and leaves the record for a recvmsg with a cmsg buffer.
 */
TEST_F(api, rx_control_needs_cmsg)
{
	int type;

	ASSERT_EQ(kto_send_typed(self->c, TYPE_HANDSHAKE, "hello", 5, 0), 5);
	errno = 0;
	EXPECT_EQ(recv(self->s, self->out, BUF_LEN, 0), -1);
	EXPECT_EQ(errno, EIO);
	errno = 0;
	EXPECT_EQ(recv(self->s, self->out, BUF_LEN, 0), -1);
	EXPECT_EQ(errno, EIO);
	ASSERT_EQ(kto_recv_typed(self->s, self->out, BUF_LEN, 0, &type), 5);
	EXPECT_EQ(type, TYPE_HANDSHAKE);
	EXPECT_EQ(memcmp(self->out, "hello", 5), 0);
	EXPECT_TRUE(nothing_readable(self->s));
}

/* Records of different types never come out of one recv. */
TEST_F(api, rx_types_not_merged)
{
	int type;

	ASSERT_EQ(send(self->c, "aaaa", 4, 0), 4);
	ASSERT_EQ(kto_send_typed(self->c, TYPE_HANDSHAKE, "bbbbbb", 6, 0), 6);
	ASSERT_EQ(send(self->c, "cc", 2, 0), 2);
	ASSERT_EQ(send(self->c, "dd", 2, 0), 2);

	/* MSG_WAITALL would take more, were it the same type. */
	ASSERT_EQ(kto_recv_typed(self->s, self->out, 100, MSG_WAITALL, &type), 4);
	EXPECT_EQ(type, TYPE_DATA);
	EXPECT_EQ(memcmp(self->out, "aaaa", 4), 0);
	ASSERT_EQ(kto_recv_typed(self->s, self->out, 100, MSG_WAITALL, &type), 6);
	EXPECT_EQ(type, TYPE_HANDSHAKE);
	EXPECT_EQ(memcmp(self->out, "bbbbbb", 6), 0);
	/* Two data records do merge. */
	ASSERT_EQ(kto_recv_typed(self->s, self->out, 4, MSG_WAITALL, &type), 4);
	EXPECT_EQ(type, TYPE_DATA);
	EXPECT_EQ(memcmp(self->out, "ccdd", 4), 0);
}

TEST_F(api, rx_peek_then_read)
{
	unsigned char *again = self->wire;
	int i;

	for (i = 0; i < 3; i++)
		ASSERT_EQ(send(self->c, self->data + 1000 * i, 1000, 0), 1000);

	ASSERT_EQ(recv(self->s, self->out, 3000, MSG_PEEK | MSG_WAITALL), 3000);
	EXPECT_EQ(memcmp(self->out, self->data, 3000), 0);
	/* Peeking again sees the same, from the start. */
	ASSERT_EQ(recv(self->s, again, 1500, MSG_PEEK | MSG_WAITALL), 1500);
	EXPECT_EQ(memcmp(again, self->data, 1500), 0);
	/* The read takes exactly what the peeks saw. */
	memset(self->out, 0, 3000);
	ASSERT_EQ(recv(self->s, self->out, 3000, MSG_WAITALL), 3000);
	EXPECT_EQ(memcmp(self->out, self->data, 3000), 0);
	EXPECT_TRUE(nothing_readable(self->s));

	/* A peek shorter than a record, then reads in pieces. */
	ASSERT_EQ(send(self->c, self->data, 1000, 0), 1000);
	ASSERT_EQ(recv(self->s, self->out, 10, MSG_PEEK), 10);
	EXPECT_EQ(memcmp(self->out, self->data, 10), 0);
	ASSERT_EQ(recv(self->s, self->out, 600, 0), 600);
	ASSERT_EQ(recv(self->s, self->out + 600, 1000, 0), 400);
	EXPECT_EQ(memcmp(self->out, self->data, 1000), 0);
}

struct delayed_send {
	pthread_t thread;
	int fd;
	const unsigned char *buf;
	int ret;
};

static void *delayed_send_run(void *arg)
{
	struct delayed_send *d = arg;

	usleep(100 * 1000);
	d->ret = send(d->fd, d->buf, 1000, 0) == 1000 ? 0 : -1;
	usleep(100 * 1000);
	if (!d->ret)
		d->ret = send(d->fd, d->buf + 1000, 1000, 0) == 1000 ? 0 : -1;
	return NULL;
}

/* MSG_WAITALL waits for records still to come, and collects them. */
TEST_F(api, rx_waitall_across_records)
{
	struct delayed_send d = { .fd = self->c, .buf = self->data + 1000 };

	ASSERT_EQ(send(self->c, self->data, 1000, 0), 1000);
	ASSERT_EQ(pthread_create(&d.thread, NULL, delayed_send_run, &d), 0);
	EXPECT_EQ(recv(self->s, self->out, 3000, MSG_WAITALL), 3000);
	pthread_join(d.thread, NULL);
	EXPECT_EQ(d.ret, 0);
	EXPECT_EQ(memcmp(self->out, self->data, 3000), 0);
}

/*
 * A peek that wants more than the records there (MSG_WAITALL, or a
 * SO_RCVLOWAT above them) has to set them aside and wait for the next:
 * it waits as a read does, up to SO_RCVTIMEO, then returns what it saw;
 * a record arriving meanwhile joins it; a read then takes them all, in
 * order. (The module used to spin in the kernel there, for ever: the
 * set-aside records made its wait end at once and never time out.)
 */
TEST_F(api, rx_peek_waits_past_set_aside)
{
	struct delayed_send d = { .fd = self->c, .buf = self->data + 1000 };
	int lowat = 3000;
	double t0, dt;
	int i;

	ASSERT_EQ(send(self->c, self->data, 1000, 0), 1000);
	ASSERT_EQ(kto_set_timeo_ms(self->s, SO_RCVTIMEO, 300), 0);
	ASSERT_EQ(recv(self->s, self->out, 10, MSG_PEEK), 10);
	/* The first time the record is set aside, then with it set aside. */
	for (i = 0; i < 2; i++) {
		memset(self->out, 0, 1000);
		t0 = kto_now();
		EXPECT_EQ(recv(self->s, self->out, 3000, MSG_PEEK | MSG_WAITALL), 1000);
		dt = kto_now() - t0;
		EXPECT_GE(dt, 0.25) TH_LOG("peek %d took %.2f s", i, dt);
		EXPECT_LT(dt, 5.0) TH_LOG("peek %d took %.2f s", i, dt);
		EXPECT_EQ(memcmp(self->out, self->data, 1000), 0);
	}
	ASSERT_EQ(setsockopt(self->s, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat)), 0);
	t0 = kto_now();
	EXPECT_EQ(recv(self->s, self->out, 3000, MSG_PEEK), 1000);
	dt = kto_now() - t0;
	EXPECT_GE(dt, 0.25) TH_LOG("SO_RCVLOWAT peek took %.2f s", dt);
	EXPECT_LT(dt, 5.0) TH_LOG("SO_RCVLOWAT peek took %.2f s", dt);
	lowat = 1;
	ASSERT_EQ(setsockopt(self->s, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat)), 0);

	ASSERT_EQ(kto_set_timeo_ms(self->s, SO_RCVTIMEO, TIMEO_SEC * 1000), 0);
	ASSERT_EQ(pthread_create(&d.thread, NULL, delayed_send_run, &d), 0);
	memset(self->out, 0, 3000);
	EXPECT_EQ(recv(self->s, self->out, 3000, MSG_PEEK | MSG_WAITALL), 3000);
	pthread_join(d.thread, NULL);
	EXPECT_EQ(d.ret, 0);
	EXPECT_EQ(memcmp(self->out, self->data, 3000), 0);
	memset(self->out, 0, 3000);
	ASSERT_EQ(recv(self->s, self->out, 3000, MSG_WAITALL), 3000);
	EXPECT_EQ(memcmp(self->out, self->data, 3000), 0);
	EXPECT_TRUE(nothing_readable(self->s));
}

TEST_F(api, rx_nonblock_and_timeout)
{
	double t0, dt;

	errno = 0;
	EXPECT_EQ(recv(self->s, self->out, BUF_LEN, MSG_DONTWAIT), -1);
	EXPECT_EQ(errno, EAGAIN);

	ASSERT_EQ(kto_set_timeo_ms(self->s, SO_RCVTIMEO, 300), 0);
	t0 = kto_now();
	errno = 0;
	EXPECT_EQ(recv(self->s, self->out, BUF_LEN, 0), -1);
	dt = kto_now() - t0;
	EXPECT_EQ(errno, EAGAIN);
	EXPECT_GE(dt, 0.25);
	EXPECT_LT(dt, 5.0);

	/* Still fine afterwards. */
	ASSERT_EQ(send(self->c, "late", 4, 0), 4);
	ASSERT_EQ(kto_set_timeo_ms(self->s, SO_RCVTIMEO, TIMEO_SEC * 1000), 0);
	ASSERT_EQ(recv(self->s, self->out, BUF_LEN, 0), 4);
	EXPECT_EQ(memcmp(self->out, "late", 4), 0);
}

/* POLLIN only when the whole record is in, not on its first half. */
TEST_F(api, rx_poll_whole_record)
{
	struct pollfd pfd = { .events = POLLIN };
	ssize_t wlen;
	int w, rx;

	wlen = produce(&self->k, self->data, 1000, 1, self->wire, BUF_LEN);
	ASSERT_GT(wlen, 0);
	ASSERT_EQ(make_pair(AF_INET, NULL, &self->k, &w, &rx), 0);
	pfd.fd = rx;

	EXPECT_EQ(poll(&pfd, 1, 50), 0);
	ASSERT_EQ(kto_write_full(w, self->wire, wlen / 2), 0);
	EXPECT_EQ(poll(&pfd, 1, 200), 0) TH_LOG("revents %#x", pfd.revents);
	EXPECT_TRUE(nothing_readable(rx));
	ASSERT_EQ(kto_write_full(w, self->wire + wlen / 2, wlen - wlen / 2), 0);
	EXPECT_EQ(poll(&pfd, 1, TIMEO_SEC * 1000), 1);
	EXPECT_TRUE(pfd.revents & POLLIN);
	ASSERT_EQ(recv(rx, self->out, BUF_LEN, MSG_DONTWAIT), 1000);
	EXPECT_EQ(memcmp(self->out, self->data, 1000), 0);
	close(w);
	close(rx);
}

TEST_F(api, rx_eof)
{
	ASSERT_EQ(shutdown(self->c, SHUT_WR), 0);
	EXPECT_EQ(recv(self->s, self->out, BUF_LEN, 0), 0);
	EXPECT_EQ(recv(self->s, self->out, BUF_LEN, 0), 0);
}

/* EOF in the middle of a record is not a clean end. */
TEST_F(api, rx_eof_mid_record)
{
	ssize_t wlen;
	int w, rx;

	wlen = produce(&self->k, self->data, 1000, 1, self->wire, BUF_LEN);
	ASSERT_GT(wlen, 0);
	ASSERT_EQ(make_pair(AF_INET, NULL, &self->k, &w, &rx), 0);
	ASSERT_EQ(kto_write_full(w, self->wire, wlen / 2), 0);
	ASSERT_EQ(shutdown(w, SHUT_WR), 0);
	/* Either an error or a plain EOF, but never data and never a hang. */
	errno = 0;
	EXPECT_LE(recv(rx, self->out, BUF_LEN, 0), 0);
	TH_LOG("recv after a half record and EOF: errno %d (%s)", errno,
	       strerror(errno));
	close(w);
	close(rx);
}

/* ---- statistics ---- */

TEST_F(api, stat_curr_and_records)
{
	long tx0, rx0, ctx0, crx0, c0, r0;
	int c, s, i;

	if (access(KTO_STAT_FILE, R_OK))
		SKIP(return, "no %s (not our module)", KTO_STAT_FILE);
	ctx0 = kto_stat_get("TlsCurrTxSw");
	crx0 = kto_stat_get("TlsCurrRxSw");
	tx0 = kto_stat_get("TlsTxSw");
	rx0 = kto_stat_get("TlsRxSw");
	ASSERT_GE(ctx0, 1);
	ASSERT_GE(crx0, 1);

	ASSERT_EQ(make_pair(AF_INET, &self->k, &self->k, &c, &s), 0);
	EXPECT_EQ(kto_stat_get("TlsCurrTxSw"), ctx0 + 1);
	EXPECT_EQ(kto_stat_get("TlsCurrRxSw"), crx0 + 1);
	EXPECT_EQ(kto_stat_get("TlsTxSw"), tx0 + 1);
	EXPECT_EQ(kto_stat_get("TlsRxSw"), rx0 + 1);

	c0 = kto_stat_get("TlsTxRecords");
	r0 = kto_stat_get("TlsRxRecords");
	for (i = 0; i < 3; i++)
		ASSERT_EQ(send(c, self->data, 100, 0), 100);
	/* 40000 bytes: three more records. */
	ASSERT_EQ(send(c, self->data, 40000, 0), 40000);
	EXPECT_EQ(kto_stat_get("TlsTxRecords"), c0 + 6);
	ASSERT_EQ(kto_read_full(s, self->out, 40300), 40300);
	EXPECT_EQ(kto_stat_get("TlsRxRecords"), r0 + 6);

	close(c);
	EXPECT_EQ(kto_stat_get("TlsCurrTxSw"), ctx0);
	EXPECT_EQ(kto_stat_get("TlsCurrRxSw"), crx0 + 1);
	close(s);
	EXPECT_EQ(kto_stat_get("TlsCurrRxSw"), crx0);
	/* Totals stay. */
	EXPECT_EQ(kto_stat_get("TlsTxSw"), tx0 + 1);
	EXPECT_EQ(kto_stat_get("TlsRxSw"), rx0 + 1);
}

TEST_F(api, stat_decrypt_error)
{
	long e0;
	ssize_t wlen;
	int w, rx;

	if (access(KTO_STAT_FILE, R_OK))
		SKIP(return, "no %s (not our module)", KTO_STAT_FILE);
	wlen = produce(&self->k, self->data, 100, 1, self->wire, BUF_LEN);
	ASSERT_GT(wlen, 0);
	self->wire[wlen - 1] ^= 0x80;

	e0 = kto_stat_get("TlsDecryptError");
	ASSERT_GE(e0, 0);
	ASSERT_EQ(make_pair(AF_INET, NULL, &self->k, &w, &rx), 0);
	ASSERT_EQ(kto_write_full(w, self->wire, wlen), 0);
	EXPECT_EQ(recv(rx, self->out, BUF_LEN, 0), -1);
	EXPECT_EQ(errno, EBADMSG);
	EXPECT_EQ(kto_stat_get("TlsDecryptError"), e0 + 1);
	close(w);
	close(rx);
}

TEST_HARNESS_MAIN
