// SPDX-License-Identifier: GPL-2.0
/*
 * Bad local input that ulp.c and record.c leave out: the ULP on UDP and on
 * sockets that are shut down or reset, options at the wrong level, huge
 * and negative option lengths, unreadable and unwritable option buffers.
 * Each call gets its errno, takes no module reference, and leaves the
 * socket usable (checked by installing keys and moving a record after
 * the bad calls) or cleanly failed.
 */
#include <linux/tls.h>
#include <sys/mman.h>
#include <sys/time.h>

#include "kselftest_harness.h"
#include "kto_test.h"

static void keys(struct tls12_crypto_info_aes_gcm_128 *k, uint16_t version)
{
	memset(k, 0x5a, sizeof(*k));
	k->info.version = version;
	k->info.cipher_type = TLS_CIPHER_AES_GCM_128;
	memset(k->rec_seq, 0, sizeof(k->rec_seq));
}

static void timeouts(int fd)
{
	struct timeval tv = { .tv_sec = 5 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* An address no process can read or write. */
static void *unmapped(void)
{
	void *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? (void *)8 : p;
}

/* After the bad calls: keys go in on both ends and a record goes through. */
static void still_works(struct __test_metadata *_metadata, int c, int s)
{
	struct tls12_crypto_info_aes_gcm_128 k;
	char buf[16];

	keys(&k, TLS_1_2_VERSION);
	ASSERT_EQ(setsockopt(c, SOL_TLS, TLS_TX, &k, sizeof(k)), 0)
		TH_LOG("TLS_TX after bad calls: %s", strerror(errno));
	ASSERT_EQ(setsockopt(s, SOL_TLS, TLS_RX, &k, sizeof(k)), 0)
		TH_LOG("TLS_RX after bad calls: %s", strerror(errno));
	ASSERT_EQ(send(c, "still", 5, 0), 5);
	ASSERT_EQ(recv(s, buf, sizeof(buf), 0), 5);
	EXPECT_EQ(memcmp(buf, "still", 5), 0);
}

static void pair(struct __test_metadata *_metadata, int *c, int *s)
{
	ASSERT_EQ(kto_tcp_pair(AF_INET, c, s), 0);
	timeouts(*c);
	timeouts(*s);
}

/* UDP has no TCP options; SOL_TLS means nothing there either. */
TEST(udp_refused)
{
	struct tls12_crypto_info_aes_gcm_128 k;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9) };
	int refs = kto_module_refcnt(KTO_MODULE), fd;
	socklen_t len = sizeof(k);

	keys(&k, TLS_1_2_VERSION);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(kto_ulp(fd), -1);
	EXPECT_EQ(errno, ENOPROTOOPT);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	EXPECT_EQ(kto_ulp(fd), -1);
	EXPECT_EQ(errno, ENOPROTOOPT);
	EXPECT_EQ(setsockopt(fd, SOL_TLS, TLS_TX, &k, sizeof(k)), -1);
	EXPECT_EQ(errno, ENOPROTOOPT);
	/* ip_getsockopt's answer to a level it does not know. */
	EXPECT_EQ(getsockopt(fd, SOL_TLS, TLS_TX, &k, &len), -1);
	EXPECT_EQ(errno, EOPNOTSUPP);
	EXPECT_EQ(kto_module_refcnt(KTO_MODULE), refs);
	close(fd);
}

/* SOL_TLS on a TCP socket without the ULP is TCP's business. */
TEST(sol_tls_without_ulp)
{
	struct tls12_crypto_info_aes_gcm_128 k;
	socklen_t len = sizeof(k);
	int c, s;

	pair(_metadata, &c, &s);
	keys(&k, TLS_1_2_VERSION);
	EXPECT_EQ(setsockopt(c, SOL_TLS, TLS_TX, &k, sizeof(k)), -1);
	EXPECT_EQ(errno, ENOPROTOOPT);
	EXPECT_EQ(getsockopt(c, SOL_TLS, TLS_RX, &k, &len), -1);
	EXPECT_EQ(errno, EOPNOTSUPP);
	ASSERT_EQ(kto_ulp(c), 0);
	ASSERT_EQ(kto_ulp(s), 0);
	still_works(_metadata, c, s);
	close(c);
	close(s);
}

/* The ULP needs an established connection: not one being shut down. */
TEST(ulp_after_shutdown)
{
	int refs = kto_module_refcnt(KTO_MODULE), c, s;
	char b;

	pair(_metadata, &c, &s);
	ASSERT_EQ(shutdown(c, SHUT_WR), 0);
	ASSERT_EQ(recv(s, &b, 1, 0), 0);	/* s saw the FIN: CLOSE_WAIT */
	EXPECT_EQ(kto_ulp(c), -1);
	EXPECT_EQ(errno, ENOTCONN);
	EXPECT_EQ(kto_ulp(s), -1);
	EXPECT_EQ(errno, ENOTCONN);
	EXPECT_EQ(kto_module_refcnt(KTO_MODULE), refs);
	close(c);
	close(s);
}

TEST(ulp_after_reset)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int refs = kto_module_refcnt(KTO_MODULE), c, s;
	char b;

	pair(_metadata, &c, &s);
	ASSERT_EQ(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(s);
	EXPECT_EQ(recv(c, &b, 1, 0), -1);
	EXPECT_EQ(errno, ECONNRESET);
	EXPECT_EQ(kto_ulp(c), -1);
	EXPECT_EQ(errno, ENOTCONN);
	EXPECT_EQ(kto_module_refcnt(KTO_MODULE), refs);
	close(c);
}

/*
 * Keys on an attached socket that was then shut down: the install is a
 * local matter and succeeds; the socket then behaves as a shut-down TCP
 * socket (EPIPE, EOF) and closes cleanly.
 */
TEST(keys_after_shutdown)
{
	struct tls12_crypto_info_aes_gcm_128 k;
	char buf[8];
	int c, s;

	pair(_metadata, &c, &s);
	ASSERT_EQ(kto_ulp(c), 0);
	ASSERT_EQ(shutdown(c, SHUT_RDWR), 0);
	keys(&k, TLS_1_3_VERSION);
	EXPECT_EQ(setsockopt(c, SOL_TLS, TLS_TX, &k, sizeof(k)), 0)
		TH_LOG("TLS_TX: %s", strerror(errno));
	EXPECT_EQ(setsockopt(c, SOL_TLS, TLS_RX, &k, sizeof(k)), 0)
		TH_LOG("TLS_RX: %s", strerror(errno));
	EXPECT_EQ(send(c, "x", 1, MSG_NOSIGNAL), -1);
	EXPECT_EQ(errno, EPIPE);
	EXPECT_EQ(recv(c, buf, sizeof(buf), 0), 0);
	close(c);
	EXPECT_EQ(recv(s, buf, sizeof(buf), 0), 0);
	close(s);
}

/*
 * Levels other than SOL_TLS go to TCP, which knows none of these: the
 * errnos of a plain TCP socket (the IP layer's ENOPROTOOPT to set,
 * EOPNOTSUPP to get).
 */
TEST(wrong_level)
{
	static const int levels[] = { SOL_TLS + 1, IPPROTO_UDP, 0x7fffffff, -1 };
	struct tls12_crypto_info_aes_gcm_128 k;
	socklen_t len;
	size_t i;
	int c, s;

	pair(_metadata, &c, &s);
	ASSERT_EQ(kto_ulp(c), 0);
	ASSERT_EQ(kto_ulp(s), 0);
	keys(&k, TLS_1_2_VERSION);
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		errno = 0;
		EXPECT_EQ(setsockopt(c, levels[i], TLS_TX, &k, sizeof(k)), -1);
		EXPECT_EQ(errno, ENOPROTOOPT) TH_LOG("level %d", levels[i]);
		len = sizeof(k);
		errno = 0;
		EXPECT_EQ(getsockopt(c, levels[i], TLS_TX, &k, &len), -1);
		EXPECT_EQ(errno, EOPNOTSUPP) TH_LOG("level %d", levels[i]);
	}
	still_works(_metadata, c, s);
	close(c);
	close(s);
}

/* A length check comes before any copy: huge lengths are EINVAL. */
TEST(huge_and_negative_optlen)
{
	static const unsigned int lens[] = {
		4096, 1u << 20, 0x7fffffff, 0x80000000u, 0xffffffffu,
	};
	struct tls12_crypto_info_aes_gcm_128 k;
	int c, s, val = 1, dir;
	socklen_t len;
	size_t i;

	pair(_metadata, &c, &s);
	ASSERT_EQ(kto_ulp(c), 0);
	ASSERT_EQ(kto_ulp(s), 0);
	keys(&k, TLS_1_2_VERSION);
	for (dir = TLS_TX; dir <= TLS_RX; dir++) {
		for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			errno = 0;
			EXPECT_EQ(setsockopt(c, SOL_TLS, dir, &k, lens[i]), -1);
			EXPECT_EQ(errno, EINVAL) TH_LOG("setsockopt optlen %#x", lens[i]);
		}
	}
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		errno = 0;
		EXPECT_EQ(setsockopt(c, SOL_TLS, TLS_TX_ZEROCOPY_RO, &val, lens[i]), -1);
		EXPECT_EQ(errno, EINVAL) TH_LOG("zerocopy optlen %#x", lens[i]);
	}
	still_works(_metadata, c, s);

	/* getsockopt of an installed key: only the two exact sizes. */
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		len = lens[i];
		errno = 0;
		EXPECT_EQ(getsockopt(c, SOL_TLS, TLS_TX, &k, &len), -1);
		EXPECT_EQ(errno, EINVAL) TH_LOG("getsockopt optlen %#x", lens[i]);
		len = lens[i];
		errno = 0;
		EXPECT_EQ(getsockopt(c, SOL_TLS, TLS_TX_ZEROCOPY_RO, &val, &len), -1);
		EXPECT_EQ(errno, EINVAL) TH_LOG("zerocopy getsockopt optlen %#x", lens[i]);
	}
	len = sizeof(k);
	EXPECT_EQ(getsockopt(c, SOL_TLS, TLS_TX, &k, &len), 0);
	close(c);
	close(s);
}

/* Unreadable and unwritable buffers: EFAULT, and nothing changes. */
TEST(bad_pointers)
{
	struct tls12_crypto_info_aes_gcm_128 k;
	void *bad = unmapped();
	int c, s, val, dir;
	socklen_t len;

	pair(_metadata, &c, &s);
	ASSERT_EQ(kto_ulp(c), 0);
	ASSERT_EQ(kto_ulp(s), 0);

	for (dir = TLS_TX; dir <= TLS_RX; dir++) {
		errno = 0;
		EXPECT_EQ(setsockopt(c, SOL_TLS, dir, bad, sizeof(k)), -1);
		EXPECT_EQ(errno, EFAULT) TH_LOG("setsockopt %d", dir);
	}
	errno = 0;
	EXPECT_EQ(setsockopt(c, SOL_TLS, TLS_TX_ZEROCOPY_RO, bad, sizeof(int)), -1);
	EXPECT_EQ(errno, EFAULT);
	/* optlen itself unreadable, before and after a key is there. */
	errno = 0;
	EXPECT_EQ(getsockopt(c, SOL_TLS, TLS_TX, &k, bad), -1);
	EXPECT_EQ(errno, EFAULT);

	still_works(_metadata, c, s);

	for (dir = TLS_TX; dir <= TLS_RX; dir++) {
		int fd = dir == TLS_TX ? c : s;

		errno = 0;
		EXPECT_EQ(getsockopt(fd, SOL_TLS, dir, &k, bad), -1);
		EXPECT_EQ(errno, EFAULT) TH_LOG("getsockopt %d, optlen unreadable", dir);
		len = sizeof(k);
		errno = 0;
		EXPECT_EQ(getsockopt(fd, SOL_TLS, dir, bad, &len), -1);
		EXPECT_EQ(errno, EFAULT) TH_LOG("getsockopt %d, optval unwritable", dir);
		len = sizeof(k.info);
		errno = 0;
		EXPECT_EQ(getsockopt(fd, SOL_TLS, dir, bad, &len), -1);
		EXPECT_EQ(errno, EFAULT) TH_LOG("getsockopt %d, short form unwritable", dir);
		/* A NULL buffer is an argument error, not a fault. */
		len = sizeof(k);
		errno = 0;
		EXPECT_EQ(getsockopt(fd, SOL_TLS, dir, NULL, &len), -1);
		EXPECT_EQ(errno, EINVAL) TH_LOG("getsockopt %d, NULL optval", dir);
	}
	len = sizeof(int);
	errno = 0;
	EXPECT_EQ(getsockopt(c, SOL_TLS, TLS_TX_ZEROCOPY_RO, bad, &len), -1);
	EXPECT_EQ(errno, EFAULT);
	errno = 0;
	EXPECT_EQ(getsockopt(c, SOL_TLS, TLS_TX_ZEROCOPY_RO, &val, bad), -1);
	EXPECT_EQ(errno, EFAULT);

	/* The keys still work, and read back as installed. */
	ASSERT_EQ(send(c, "again", 5, 0), 5);
	ASSERT_EQ(recv(s, &k, sizeof(k), 0), 5);
	len = sizeof(k);
	EXPECT_EQ(getsockopt(c, SOL_TLS, TLS_TX, &k, &len), 0);
	EXPECT_EQ(k.info.cipher_type, TLS_CIPHER_AES_GCM_128);
	close(c);
	close(s);
}

/* Failed installs, many times over, hold nothing: the socket closes clean. */
TEST(failed_installs_release_everything)
{
	struct tls12_crypto_info_aes_gcm_128 k;
	int refs = kto_module_refcnt(KTO_MODULE), c, s, i;

	for (i = 0; i < 200; i++) {
		pair(_metadata, &c, &s);
		ASSERT_EQ(kto_ulp(c), 0);
		keys(&k, TLS_1_2_VERSION);
		k.info.cipher_type = 99;
		EXPECT_EQ(setsockopt(c, SOL_TLS, TLS_TX, &k, sizeof(k)), -1);
		keys(&k, 0x0301);
		EXPECT_EQ(setsockopt(c, SOL_TLS, TLS_RX, &k, sizeof(k)), -1);
		keys(&k, TLS_1_2_VERSION);
		EXPECT_EQ(setsockopt(c, SOL_TLS, TLS_RX, &k, sizeof(k) - 1), -1);
		close(c);
		close(s);
	}
	/* Socket teardown can trail close() by a moment. */
	for (i = 0; i < 50 && kto_module_refcnt(KTO_MODULE) != refs; i++)
		usleep(100 * 1000);
	EXPECT_EQ(kto_module_refcnt(KTO_MODULE), refs);
}

TEST_HARNESS_MAIN
