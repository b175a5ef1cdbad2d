// SPDX-License-Identifier: GPL-2.0
/*
 * Attaching the ULP: which sockets take it, with which errno the others
 * refuse it, and that the ULP in use is this module's.
 */
#include <linux/tls.h>

#include "kselftest_harness.h"
#include "kto_test.h"

static void attach_ok(struct __test_metadata *_metadata, int fd)
{
	char name[16] = { 0 };
	socklen_t len = sizeof(name);

	ASSERT_EQ(setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")), 0);
	ASSERT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_ULP, name, &len), 0);
	EXPECT_STREQ(name, "tls");
}

TEST(established_ipv4)
{
	int c, s;

	ASSERT_EQ(kto_tcp_pair(AF_INET, &c, &s), 0);
	attach_ok(_metadata, c);
	attach_ok(_metadata, s);
	close(c);
	close(s);
}

TEST(established_ipv6)
{
	int c, s;

	ASSERT_EQ(kto_tcp_pair(AF_INET6, &c, &s), 0);
	attach_ok(_metadata, c);
	attach_ok(_metadata, s);
	close(c);
	close(s);
}

TEST(unconnected_refused)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ASSERT_GE(fd, 0);
	EXPECT_EQ(setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")), -1);
	EXPECT_EQ(errno, ENOTCONN);
	close(fd);
}

TEST(listening_refused)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ASSERT_GE(fd, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ASSERT_EQ(listen(fd, 1), 0);
	EXPECT_EQ(setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")), -1);
	EXPECT_EQ(errno, ENOTCONN);
	close(fd);
}

TEST(second_ulp_refused)
{
	int c, s;

	ASSERT_EQ(kto_tcp_pair(AF_INET, &c, &s), 0);
	attach_ok(_metadata, c);
	EXPECT_EQ(setsockopt(c, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")), -1);
	EXPECT_EQ(errno, EEXIST);
	close(c);
	close(s);
}

/* Each attached socket holds a reference on this module, not on tls.ko. */
TEST(ulp_is_ours)
{
	int c, s, before;

	before = kto_module_refcnt(KTO_MODULE);
	ASSERT_GE(before, 0);
	EXPECT_EQ(kto_module_refcnt("tls"), -1);
	ASSERT_EQ(kto_tcp_pair(AF_INET, &c, &s), 0);
	attach_ok(_metadata, c);
	attach_ok(_metadata, s);
	EXPECT_EQ(kto_module_refcnt(KTO_MODULE), before + 2);
	EXPECT_EQ(kto_module_refcnt("tls"), -1);
	close(c);
	close(s);
}

/* Before any key is installed, bytes pass through untouched both ways. */
TEST(no_key_passthrough)
{
	char buf[64];
	int c, s;

	ASSERT_EQ(kto_tcp_pair(AF_INET, &c, &s), 0);
	attach_ok(_metadata, c);
	attach_ok(_metadata, s);
	ASSERT_EQ(send(c, "hello", 5, 0), 5);
	ASSERT_EQ(recv(s, buf, 5, MSG_WAITALL), 5);
	EXPECT_EQ(memcmp(buf, "hello", 5), 0);
	ASSERT_EQ(send(s, "world", 5, 0), 5);
	ASSERT_EQ(recv(c, buf, 5, MSG_WAITALL), 5);
	EXPECT_EQ(memcmp(buf, "world", 5), 0);
	close(c);
	close(s);
}

TEST(getsockopt_without_key)
{
	struct tls12_crypto_info_aes_gcm_128 ci;
	socklen_t len = sizeof(ci);
	int c, s;

	ASSERT_EQ(kto_tcp_pair(AF_INET, &c, &s), 0);
	attach_ok(_metadata, c);
	EXPECT_EQ(getsockopt(c, SOL_TLS, TLS_TX, &ci, &len), -1);
	EXPECT_EQ(errno, EBUSY);
	EXPECT_EQ(getsockopt(c, SOL_TLS, TLS_RX, &ci, &len), -1);
	EXPECT_EQ(errno, EBUSY);
	EXPECT_EQ(getsockopt(c, SOL_TLS, 12345, &ci, &len), -1);
	EXPECT_EQ(errno, ENOPROTOOPT);
	close(c);
	close(s);
}

TEST_HARNESS_MAIN
