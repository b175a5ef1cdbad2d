// SPDX-License-Identifier: GPL-2.0
/*
 * Write-only keys (TLS_KTO_KEYS_WRITE_ONLY, ours: the in-tree kTLS has no
 * such option): once set on a socket, getsockopt(TLS_TX/TLS_RX) gives
 * version and cipher only and refuses the full struct with EACCES, before
 * or after the keys are installed, across a rekey, and for good (EPERM to
 * clear it); records flow as before. The module parameter that sets it on
 * every socket is in lifecycle.c, sock_diag with it in diag.c.
 */
#include <linux/tls.h>

#include "kselftest_harness.h"
#include "kto_test.h"
#include "ktls_offload.h"

static const unsigned char key_update[] = { 24, 0, 0, 1, 0 };

static int set_wo(int fd, int val)
{
	return setsockopt(fd, SOL_TLS, TLS_KTO_KEYS_WRITE_ONLY, &val, sizeof(val));
}

static int get_wo(int fd)
{
	socklen_t len = sizeof(int);
	int val = -1;

	if (getsockopt(fd, SOL_TLS, TLS_KTO_KEYS_WRITE_ONLY, &val, &len))
		return -1;
	return val;
}

/* Reading back @dir: the header works, the whole struct does not. */
static void expect_write_only(struct __test_metadata *_metadata, int fd,
			      int dir, const struct kto_key *k)
{
	union kto_crypto_info got;
	socklen_t len;

	memset(&got, 0xee, sizeof(got));
	len = k->len;
	EXPECT_EQ(getsockopt(fd, SOL_TLS, dir, &got, &len), -1);
	EXPECT_EQ(errno, EACCES) TH_LOG("%s", strerror(errno));
	/* Not a byte of it was written. */
	EXPECT_EQ(((unsigned char *)&got)[sizeof(got.info)], 0xee);
	len = sizeof(got.info);
	ASSERT_EQ(getsockopt(fd, SOL_TLS, dir, &got, &len), 0)
		TH_LOG("%s", strerror(errno));
	EXPECT_EQ(len, sizeof(got.info));
	EXPECT_EQ(got.info.version, k->u.info.version);
	EXPECT_EQ(got.info.cipher_type, k->u.info.cipher_type);
}

static void roundtrip(struct __test_metadata *_metadata, int c, int s)
{
	char buf[16];

	ASSERT_EQ(send(c, "there", 5, 0), 5);
	EXPECT_EQ(recv(s, buf, sizeof(buf), 0), 5);
	EXPECT_EQ(memcmp(buf, "there", 5), 0);
	ASSERT_EQ(send(s, "again", 5, 0), 5);
	EXPECT_EQ(recv(c, buf, sizeof(buf), 0), 5);
	EXPECT_EQ(memcmp(buf, "again", 5), 0);
}

static void pair(struct __test_metadata *_metadata, int *c, int *s)
{
	ASSERT_EQ(kto_tcp_pair(AF_INET, c, s), 0);
	ASSERT_EQ(kto_timeouts(*c, 5000), 0);
	ASSERT_EQ(kto_timeouts(*s, 5000), 0);
	ASSERT_EQ(kto_ulp(*c), 0);
	ASSERT_EQ(kto_ulp(*s), 0);
}

/* Without the option, the whole struct comes back, key bytes and all. */
TEST(readable_by_default)
{
	struct kto_key k;
	union kto_crypto_info got;
	socklen_t len;
	int c, s;

	KTO_MODULE_ONLY("TLS_KTO_KEYS_WRITE_ONLY");
	pair(_metadata, &c, &s);
	EXPECT_EQ(get_wo(c), 0);
	ASSERT_EQ(kto_key_random(&k, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_256), 0);
	ASSERT_EQ(kto_install(c, TLS_RX, &k), 0);
	len = k.len;
	ASSERT_EQ(getsockopt(c, SOL_TLS, TLS_RX, &got, &len), 0);
	EXPECT_EQ(memcmp(&got, &k.u, k.len), 0);
	close(c);
	close(s);
}

/* Set after the keys; refused, kept across a TLS 1.3 rekey, never cleared. */
TEST(after_keys)
{
	struct kto_key a, b, a2;
	int c, s, val;

	KTO_MODULE_ONLY("TLS_KTO_KEYS_WRITE_ONLY");
	pair(_metadata, &c, &s);
	ASSERT_EQ(kto_key_random(&a, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128), 0);
	ASSERT_EQ(kto_key_random(&b, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128), 0);
	ASSERT_EQ(kto_install(c, TLS_TX, &a), 0);
	ASSERT_EQ(kto_install(s, TLS_RX, &a), 0);
	ASSERT_EQ(kto_install(s, TLS_TX, &b), 0);
	ASSERT_EQ(kto_install(c, TLS_RX, &b), 0);

	ASSERT_EQ(set_wo(c, 1), 0) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(get_wo(c), 1);
	expect_write_only(_metadata, c, TLS_TX, &a);
	expect_write_only(_metadata, c, TLS_RX, &b);
	roundtrip(_metadata, c, s);

	/* Once set, for good; nothing but 0 and 1. */
	EXPECT_EQ(set_wo(c, 0), -1);
	EXPECT_EQ(errno, EPERM);
	EXPECT_EQ(set_wo(c, 1), 0);
	EXPECT_EQ(set_wo(c, 2), -1);
	EXPECT_EQ(errno, EINVAL);
	val = 1;
	EXPECT_EQ(setsockopt(c, SOL_TLS, TLS_KTO_KEYS_WRITE_ONLY, &val, 2), -1);
	EXPECT_EQ(errno, EINVAL);
	EXPECT_EQ(get_wo(c), 1);

	/* A rekey does not make the new key readable. */
	ASSERT_EQ(kto_send_typed(c, 22, key_update, sizeof(key_update), 0),
		  (ssize_t)sizeof(key_update));
	ASSERT_EQ(kto_key_random(&a2, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128), 0);
	ASSERT_EQ(kto_install(c, TLS_TX, &a2), 0);
	expect_write_only(_metadata, c, TLS_TX, &a2);
	{
		char buf[16];
		int type;

		EXPECT_EQ(kto_recv_typed(s, buf, sizeof(buf), 0, &type), 5);
		EXPECT_EQ(type, 22);
		EXPECT_EQ(recv(s, buf, sizeof(buf), 0), -1);
		EXPECT_EQ(errno, EKEYEXPIRED);
		ASSERT_EQ(kto_install(s, TLS_RX, &a2), 0);
	}
	roundtrip(_metadata, c, s);
	/* The peer, which never set it, still reads its keys. */
	EXPECT_EQ(get_wo(s), 0);
	close(c);
	close(s);
}

/* Set before any key: the keys installed after it are write-only too. */
TEST(before_keys)
{
	struct kto_key k;
	int c, s;

	KTO_MODULE_ONLY("TLS_KTO_KEYS_WRITE_ONLY");
	pair(_metadata, &c, &s);
	ASSERT_EQ(set_wo(c, 1), 0);
	ASSERT_EQ(kto_key_random(&k, TLS_1_2_VERSION, TLS_CIPHER_CHACHA20_POLY1305), 0);
	ASSERT_EQ(kto_install(c, TLS_TX, &k), 0);
	ASSERT_EQ(kto_install(s, TLS_RX, &k), 0);
	expect_write_only(_metadata, c, TLS_TX, &k);
	/* No key in that direction yet: EBUSY, as without the option. */
	{
		union kto_crypto_info got;
		socklen_t len = sizeof(got.info);

		EXPECT_EQ(getsockopt(c, SOL_TLS, TLS_RX, &got, &len), -1);
		EXPECT_EQ(errno, EBUSY);
	}
	{
		char buf[8];

		ASSERT_EQ(send(c, "wo", 2, 0), 2);
		EXPECT_EQ(recv(s, buf, sizeof(buf), 0), 2);
	}
	close(c);
	close(s);
}

/*
 * The option is ours: the in-tree kTLS answers ENOPROTOOPT, so a program
 * that needs write-only keys can tell it does not have them.
 */
TEST(known_only_to_us)
{
	int c, s, ret, err;

	pair(_metadata, &c, &s);
	ret = set_wo(c, 1);
	err = errno;	/* kto_intree() calls access() */
	if (kto_intree()) {
		EXPECT_EQ(ret, -1);
		EXPECT_EQ(err, ENOPROTOOPT);
	} else {
		EXPECT_EQ(ret, 0) TH_LOG("%s", strerror(err));
	}
	close(c);
	close(s);
}

TEST_HARNESS_MAIN
