// SPDX-License-Identifier: GPL-2.0
/*
 * Record size limit (RFC 8449): TLS_TX_MAX_PAYLOAD_LEN caps the plaintext
 * of every record we send (upstream API of Linux 6.19, here on 6.1/6.12).
 */
#include <linux/tls.h>
#include <sys/random.h>

#include "kselftest_harness.h"
#include "kto_test.h"

FIXTURE(limit)
{
	int tx, tap;	/* tx has TLS_TX; tap reads the wire */
	int fwd, rx;	/* fwd writes the wire on to rx, which has TLS_RX */
	struct tls12_crypto_info_aes_gcm_128 ci;
};

FIXTURE_VARIANT(limit)
{
	uint16_t version;
};

FIXTURE_VARIANT_ADD(limit, tls12) { .version = TLS_1_2_VERSION };
FIXTURE_VARIANT_ADD(limit, tls13) { .version = TLS_1_3_VERSION };

FIXTURE_SETUP(limit)
{
	struct timeval tv = { .tv_sec = 10 };

	ASSERT_EQ(getrandom(&self->ci, sizeof(self->ci), 0), sizeof(self->ci));
	self->ci.info.version = variant->version;
	self->ci.info.cipher_type = TLS_CIPHER_AES_GCM_128;
	ASSERT_EQ(kto_tcp_pair(AF_INET, &self->tx, &self->tap), 0);
	ASSERT_EQ(kto_tcp_pair(AF_INET, &self->fwd, &self->rx), 0);
	ASSERT_EQ(setsockopt(self->tx, IPPROTO_TCP, TCP_ULP, "tls", 4), 0);
	ASSERT_EQ(setsockopt(self->rx, IPPROTO_TCP, TCP_ULP, "tls", 4), 0);
	ASSERT_EQ(setsockopt(self->tx, SOL_TLS, TLS_TX, &self->ci, sizeof(self->ci)), 0);
	ASSERT_EQ(setsockopt(self->rx, SOL_TLS, TLS_RX, &self->ci, sizeof(self->ci)), 0);
	setsockopt(self->tap, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(self->rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

FIXTURE_TEARDOWN(limit)
{
	close(self->tx);
	close(self->tap);
	close(self->fwd);
	close(self->rx);
}

static int set_limit(int fd, uint16_t v)
{
	return setsockopt(fd, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN, &v, sizeof(v));
}

static int read_full(int fd, unsigned char *p, size_t n)
{
	while (n) {
		ssize_t r = recv(fd, p, n, 0);

		if (r <= 0)
			return -1;
		p += r;
		n -= r;
	}
	return 0;
}

TEST_F(limit, default_and_bounds)
{
	uint16_t v = 0;
	socklen_t len = sizeof(v) + 2;
	uint32_t big = 100;

	ASSERT_EQ(getsockopt(self->tx, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN, &v, &len), 0);
	EXPECT_EQ(len, sizeof(v));
	EXPECT_EQ(v, 16384);
	len = 1;
	EXPECT_EQ(getsockopt(self->tx, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN, &v, &len), -1);
	EXPECT_EQ(errno, EINVAL);

	EXPECT_EQ(set_limit(self->tx, 16385), -1);
	EXPECT_EQ(errno, EINVAL);
	EXPECT_EQ(set_limit(self->tx, 62), -1);
	EXPECT_EQ(errno, EINVAL);
	/* TLS 1.3's content type byte counts against the record's limit. */
	EXPECT_EQ(set_limit(self->tx, 63), variant->version == TLS_1_3_VERSION ? 0 : -1);
	EXPECT_EQ(set_limit(self->tx, 64), 0);
	EXPECT_EQ(setsockopt(self->tx, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN, &big, sizeof(big)), -1);
	EXPECT_EQ(errno, EINVAL);
	EXPECT_EQ(setsockopt(self->tx, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN, NULL, 2), -1);
	EXPECT_EQ(errno, EINVAL);

	/* Not while a record is open. */
	ASSERT_EQ(send(self->tx, "x", 1, MSG_MORE), 1);
	EXPECT_EQ(set_limit(self->tx, 128), -1);
	EXPECT_EQ(errno, EBUSY);
	len = sizeof(v);
	ASSERT_EQ(getsockopt(self->tx, SOL_TLS, TLS_TX_MAX_PAYLOAD_LEN, &v, &len), 0);
	EXPECT_EQ(v, 64);
}

/* Every record on the wire respects the limit; the bytes arrive intact. */
TEST_F(limit, records_never_over)
{
	static unsigned char data[5000], wire[16 * 1024], got[5000];
	size_t overhead = 16 + (variant->version == TLS_1_2_VERSION ? 8 : 1);
	size_t off = 0, records = 0, total = 0;

	ASSERT_EQ(getrandom(data, sizeof(data), 0), sizeof(data));
	ASSERT_EQ(set_limit(self->tx, 128), 0);
	ASSERT_EQ(send(self->tx, data, sizeof(data), 0), sizeof(data));

	while (total < sizeof(data)) {
		unsigned int len;

		ASSERT_LT(off + 5, sizeof(wire));
		ASSERT_EQ(read_full(self->tap, wire + off, 5), 0);
		len = (wire[off + 3] << 8) | wire[off + 4];
		ASSERT_LE(len, 128 + overhead);
		ASSERT_EQ(read_full(self->tap, wire + off + 5, len), 0);
		total += len - overhead;
		off += 5 + len;
		records++;
	}
	EXPECT_EQ(total, sizeof(data));
	EXPECT_EQ(records, (sizeof(data) + 127) / 128);

	ASSERT_EQ(send(self->fwd, wire, off, 0), (ssize_t)off);
	ASSERT_EQ(recv(self->rx, got, sizeof(got), MSG_WAITALL), sizeof(got));
	EXPECT_EQ(memcmp(got, data, sizeof(data)), 0);
}

TEST_HARNESS_MAIN
