// SPDX-License-Identifier: GPL-2.0
/*
 * sock_diag: the ULP info that `ss -i` shows (INET_DIAG_ULP_INFO), read
 * with a NETLINK_SOCK_DIAG query for one socket.
 */
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tls.h>

#include "kselftest_harness.h"
#include "kto_test.h"
#include "ktls_offload.h"

struct ulp_info {
	char name[16];
	int version, cipher, txconf, rxconf, zc_ro, no_pad;
};

static void parse_tls(struct nlattr *nest, struct ulp_info *u)
{
	int len = nest->nla_len - NLA_HDRLEN;
	struct nlattr *a = (struct nlattr *)((char *)nest + NLA_HDRLEN);

	for (; len >= (int)NLA_HDRLEN && a->nla_len >= NLA_HDRLEN &&
	     a->nla_len <= len;
	     len -= NLA_ALIGN(a->nla_len),
	     a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len))) {
		unsigned short v = 0;

		if (a->nla_len >= NLA_HDRLEN + 2)
			memcpy(&v, (char *)a + NLA_HDRLEN, 2);
		switch (a->nla_type) {
		case TLS_INFO_VERSION: u->version = v; break;
		case TLS_INFO_CIPHER: u->cipher = v; break;
		case TLS_INFO_TXCONF: u->txconf = v; break;
		case TLS_INFO_RXCONF: u->rxconf = v; break;
		case TLS_INFO_ZC_RO_TX: u->zc_ro = 1; break;
		case TLS_INFO_RX_NO_PAD: u->no_pad = 1; break;
		}
	}
}

/* Query the socket @fd (TCP, IPv4) through sock_diag. Returns 0 or -1. */
static int diag_ulp(int fd, struct ulp_info *u)
{
	struct sockaddr_in src, dst;
	socklen_t len = sizeof(src);
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} q = { 0 };
	char buf[8192];
	int nl, n, found = -1;

	memset(u, 0, sizeof(*u));
	if (getsockname(fd, (struct sockaddr *)&src, &len))
		return -1;
	len = sizeof(dst);
	if (getpeername(fd, (struct sockaddr *)&dst, &len))
		return -1;

	nl = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -1;
	q.nlh.nlmsg_len = sizeof(q);
	q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nlh.nlmsg_flags = NLM_F_REQUEST;
	q.req.sdiag_family = AF_INET;
	q.req.sdiag_protocol = IPPROTO_TCP;
	/* The ULP info comes with the TCP info (tcp_diag_get_aux). */
	q.req.idiag_ext = 1 << (INET_DIAG_INFO - 1);
	q.req.idiag_states = ~0U;
	q.req.id.idiag_sport = src.sin_port;
	q.req.id.idiag_dport = dst.sin_port;
	q.req.id.idiag_src[0] = src.sin_addr.s_addr;
	q.req.id.idiag_dst[0] = dst.sin_addr.s_addr;
	q.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	q.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (send(nl, &q, sizeof(q), 0) != sizeof(q)) {
		close(nl);
		return -1;
	}
	n = recv(nl, buf, sizeof(buf), 0);
	close(nl);
	if (n > (int)NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
		struct nlmsghdr *h = (struct nlmsghdr *)buf;
		struct inet_diag_msg *m = NLMSG_DATA(h);
		struct rtattr *a = (struct rtattr *)(m + 1);
		int alen = h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));

		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
			return -1;
		found = 0;
		for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
			struct nlattr *na, *end;

			if (a->rta_type != INET_DIAG_ULP_INFO)
				continue;
			na = RTA_DATA(a);
			end = (struct nlattr *)((char *)na + RTA_PAYLOAD(a));
			for (; na < end && na->nla_len >= NLA_HDRLEN;
			     na = (struct nlattr *)((char *)na + NLA_ALIGN(na->nla_len))) {
				if (na->nla_type == INET_ULP_INFO_NAME)
					snprintf(u->name, sizeof(u->name), "%.*s",
						 (int)(na->nla_len - NLA_HDRLEN),
						 (char *)na + NLA_HDRLEN);
				else if ((na->nla_type & NLA_TYPE_MASK) == INET_ULP_INFO_TLS)
					parse_tls(na, u);
			}
		}
	}
	return found;
}

TEST(ulp_info)
{
	struct tls12_crypto_info_chacha20_poly1305 ci = { 0 };
	struct ulp_info u;
	int c = -1, s = -1, one = 1;

	ASSERT_EQ(kto_tcp_pair(AF_INET, &c, &s), 0);

	ASSERT_EQ(diag_ulp(c, &u), 0);
	EXPECT_STREQ(u.name, "");

	ASSERT_EQ(setsockopt(c, IPPROTO_TCP, TCP_ULP, "tls", 4), 0);
	ASSERT_EQ(diag_ulp(c, &u), 0);
	EXPECT_STREQ(u.name, "tls");
	EXPECT_EQ(u.version, 0);
	EXPECT_EQ(u.txconf, TLS_CONF_BASE);
	EXPECT_EQ(u.rxconf, TLS_CONF_BASE);

	ci.info.version = TLS_1_3_VERSION;
	ci.info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
	ASSERT_EQ(setsockopt(c, SOL_TLS, TLS_TX, &ci, sizeof(ci)), 0);
	ASSERT_EQ(diag_ulp(c, &u), 0);
	EXPECT_EQ(u.version, TLS_1_3_VERSION);
	EXPECT_EQ(u.cipher, TLS_CIPHER_CHACHA20_POLY1305);
	EXPECT_EQ(u.txconf, TLS_CONF_SW);
	EXPECT_EQ(u.rxconf, TLS_CONF_BASE);
	EXPECT_EQ(u.no_pad, 0);

	ASSERT_EQ(setsockopt(c, SOL_TLS, TLS_RX, &ci, sizeof(ci)), 0);
	ASSERT_EQ(setsockopt(c, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &one, sizeof(one)), 0);
	ASSERT_EQ(setsockopt(c, SOL_TLS, TLS_TX_ZEROCOPY_RO, &one, sizeof(one)), 0);
	ASSERT_EQ(diag_ulp(c, &u), 0);
	EXPECT_EQ(u.rxconf, TLS_CONF_SW);
	EXPECT_EQ(u.no_pad, 1);
	EXPECT_EQ(u.zc_ro, 1);

	/* Write-only keys change nothing sock_diag shows (it shows no key). */
	ASSERT_EQ(setsockopt(c, SOL_TLS, TLS_KTO_KEYS_WRITE_ONLY, &one,
			     sizeof(one)), 0);
	{
		struct ulp_info w;

		ASSERT_EQ(diag_ulp(c, &w), 0);
		EXPECT_EQ(memcmp(&w, &u, sizeof(w)), 0);
	}
	close(c);
	close(s);
}

TEST_HARNESS_MAIN
