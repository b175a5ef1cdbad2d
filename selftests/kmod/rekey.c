// SPDX-License-Identifier: GPL-2.0
/*
 * TLS 1.3 KeyUpdate (issue 7, module side): a second TLS_TX or TLS_RX with
 * the same version and cipher replaces the key; after reading a KeyUpdate,
 * RX refuses to decrypt (EKEYEXPIRED, no POLLIN) until the next key is set.
 * TLS 1.2 refuses a second key with EBUSY.
 */
#include <linux/tls.h>
#include <poll.h>
#include <sys/random.h>

#include "kselftest_harness.h"
#include "kto_test.h"

/* key_update, length 1, update_not_requested */
static const unsigned char key_update[] = { 24, 0, 0, 1, 0 };

/* Random key material, rec_seq 0 (as after every KeyUpdate). */
static void keys_new(union kto_crypto_info *k, uint16_t version, uint16_t cipher)
{
	if (getrandom(k, sizeof(*k), 0) != sizeof(*k))
		abort();
	k->info.version = version;
	k->info.cipher_type = cipher;
	memset(kto_keys_rec_seq(k), 0, 8);
}

static int set_key(int fd, int dir, const union kto_crypto_info *k)
{
	return setsockopt(fd, SOL_TLS, dir, k, kto_crypto_info_len(k->info.cipher_type));
}

static ssize_t send_type(int fd, unsigned char type, const void *buf,
			 size_t len)
{
	char cbuf[CMSG_SPACE(1)] = { 0 };
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);

	cmsg->cmsg_level = SOL_TLS;
	cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
	cmsg->cmsg_len = CMSG_LEN(1);
	*CMSG_DATA(cmsg) = type;
	return sendmsg(fd, &msg, 0);
}

/* recvmsg with room for the record type; *type is 0 if none was given. */
static ssize_t recv_type(int fd, void *buf, size_t len, int flags, int *type)
{
	char cbuf[CMSG_SPACE(1)];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cmsg;
	ssize_t n = recvmsg(fd, &msg, flags);

	*type = 0;
	cmsg = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (cmsg && cmsg->cmsg_level == SOL_TLS &&
	    cmsg->cmsg_type == TLS_GET_RECORD_TYPE)
		*type = *CMSG_DATA(cmsg);
	return n;
}

static int readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

FIXTURE(rekey)
{
	int c, s;	/* each end has TX and RX */
	union kto_crypto_info c2s, s2c;
};

FIXTURE_VARIANT(rekey)
{
	uint16_t cipher;
};

FIXTURE_VARIANT_ADD(rekey, aes_gcm_128) { .cipher = TLS_CIPHER_AES_GCM_128 };
FIXTURE_VARIANT_ADD(rekey, aes_gcm_256) { .cipher = TLS_CIPHER_AES_GCM_256 };
FIXTURE_VARIANT_ADD(rekey, chacha20) { .cipher = TLS_CIPHER_CHACHA20_POLY1305 };
FIXTURE_VARIANT_ADD(rekey, aes_ccm_128) { .cipher = TLS_CIPHER_AES_CCM_128 };

FIXTURE_SETUP(rekey)
{
	struct timeval tv = { .tv_sec = 10 };

	ASSERT_EQ(kto_tcp_pair(AF_INET, &self->c, &self->s), 0);
	ASSERT_EQ(setsockopt(self->c, IPPROTO_TCP, TCP_ULP, "tls", 4), 0);
	ASSERT_EQ(setsockopt(self->s, IPPROTO_TCP, TCP_ULP, "tls", 4), 0);
	keys_new(&self->c2s, TLS_1_3_VERSION, variant->cipher);
	keys_new(&self->s2c, TLS_1_3_VERSION, variant->cipher);
	ASSERT_EQ(set_key(self->c, TLS_TX, &self->c2s), 0);
	ASSERT_EQ(set_key(self->s, TLS_RX, &self->c2s), 0);
	ASSERT_EQ(set_key(self->s, TLS_TX, &self->s2c), 0);
	ASSERT_EQ(set_key(self->c, TLS_RX, &self->s2c), 0);
	setsockopt(self->c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(self->s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

FIXTURE_TEARDOWN(rekey)
{
	close(self->c);
	close(self->s);
}

/*
 * One KeyUpdate from @tx to @rx: data under the old key, the KeyUpdate
 * record, data under the new key; the reader sees the old data, the
 * KeyUpdate, EKEYEXPIRED (blocking and not), then the new data once it
 * installs the key.
 */
static void one_update(struct __test_metadata *_metadata, int tx, int rx,
		       union kto_crypto_info *k, unsigned int round)
{
	char before[64], after[3000], buf[4096];
	int type;

	memset(before, 'a' + round % 26, sizeof(before));
	memset(after, 'A' + round % 26, sizeof(after));
	snprintf(before, sizeof(before), "before update %u", round);
	snprintf(after, sizeof(after), "after update %u", round);

	ASSERT_EQ(send(tx, before, sizeof(before), 0), sizeof(before));
	ASSERT_EQ(send_type(tx, 22, key_update, sizeof(key_update)), sizeof(key_update));
	keys_new(k, TLS_1_3_VERSION, k->info.cipher_type);
	ASSERT_EQ(set_key(tx, TLS_TX, k), 0);
	ASSERT_EQ(send(tx, after, sizeof(after), 0), sizeof(after));

	/* Data and the KeyUpdate are never merged in one read. */
	ASSERT_EQ(recv_type(rx, buf, sizeof(buf), 0, &type), sizeof(before));
	EXPECT_EQ(type, 23);
	EXPECT_EQ(memcmp(buf, before, sizeof(before)), 0);
	/* Without room for the record type, the KeyUpdate is not read. */
	EXPECT_EQ(recv(rx, buf, sizeof(buf), 0), -1);
	EXPECT_EQ(errno, EIO);
	ASSERT_EQ(recv_type(rx, buf, sizeof(buf), 0, &type), sizeof(key_update));
	EXPECT_EQ(type, 22);
	EXPECT_EQ(memcmp(buf, key_update, sizeof(key_update)), 0);

	/* The next record is under a key we do not have yet. */
	EXPECT_EQ(recv(rx, buf, sizeof(buf), 0), -1);
	EXPECT_EQ(errno, EKEYEXPIRED);
	EXPECT_EQ(recv(rx, buf, sizeof(buf), MSG_DONTWAIT), -1);
	EXPECT_EQ(errno, EKEYEXPIRED);
	EXPECT_FALSE(readable(rx));

	ASSERT_EQ(set_key(rx, TLS_RX, k), 0);
	EXPECT_TRUE(readable(rx));
	ASSERT_EQ(recv(rx, buf, sizeof(after), MSG_WAITALL), sizeof(after));
	EXPECT_EQ(memcmp(buf, after, sizeof(after)), 0);
}

TEST_F(rekey, many_updates_both_ways)
{
	unsigned int i;

	for (i = 0; i < 40 && !_metadata->exit_code; i++) {
		one_update(_metadata, self->c, self->s, &self->c2s, i);
		one_update(_metadata, self->s, self->c, &self->s2c, i);
	}
}

/* getsockopt returns the new key, with the new record sequence. */
TEST_F(rekey, getsockopt_new_key)
{
	socklen_t len = kto_crypto_info_len(variant->cipher);
	union kto_crypto_info got, want;
	char buf[16];

	one_update(_metadata, self->c, self->s, &self->c2s, 0);
	ASSERT_EQ(send(self->c, "x", 1, 0), 1);
	ASSERT_EQ(recv(self->s, buf, sizeof(buf), 0), 1);

	/* Two records ("after", "x") went out under the new key. */
	want = self->c2s;
	kto_keys_rec_seq(&want)[7] = 2;
	ASSERT_EQ(getsockopt(self->c, SOL_TLS, TLS_TX, &got, &len), 0);
	EXPECT_EQ(len, kto_crypto_info_len(variant->cipher));
	EXPECT_EQ(memcmp(&got, &want, len), 0);
	ASSERT_EQ(getsockopt(self->s, SOL_TLS, TLS_RX, &got, &len), 0);
	EXPECT_EQ(memcmp(&got, &want, len), 0);
}

/*
 * Records written before the new TX key was set keep the old key: a
 * closed record, and an open (MSG_MORE) one, which the rekey seals first.
 */
TEST_F(rekey, records_before_new_key_keep_old)
{
	static const int flags[] = { MSG_MORE, 0 };
	char buf[64];
	unsigned int i;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		ASSERT_EQ(send(self->c, "first", 5, flags[i]), 5);
		keys_new(&self->c2s, TLS_1_3_VERSION, variant->cipher);
		ASSERT_EQ(set_key(self->c, TLS_TX, &self->c2s), 0);
		ASSERT_EQ(send(self->c, "second", 6, 0), 6);

		/*
		 * Without a KeyUpdate message the receiver cannot know where
		 * the key changes: read exactly the first record, then switch.
		 */
		ASSERT_EQ(recv(self->s, buf, 5, 0), 5);
		EXPECT_EQ(memcmp(buf, "first", 5), 0);
		ASSERT_EQ(set_key(self->s, TLS_RX, &self->c2s), 0);
		ASSERT_EQ(recv(self->s, buf, sizeof(buf), 0), 6);
		EXPECT_EQ(memcmp(buf, "second", 6), 0);
	}
}

/* A KeyUpdate after another handshake message in the same record counts. */
TEST_F(rekey, key_update_after_ticket)
{
	unsigned char rec[4 + 8 + sizeof(key_update)] = {
		4, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8,	/* "NewSessionTicket" */
	};
	char buf[64];
	int type;

	memcpy(rec + 12, key_update, sizeof(key_update));
	ASSERT_EQ(send_type(self->c, 22, rec, sizeof(rec)), sizeof(rec));
	ASSERT_EQ(send(self->c, "data", 4, 0), 4);
	ASSERT_EQ(recv_type(self->s, buf, sizeof(buf), 0, &type), sizeof(rec));
	EXPECT_EQ(type, 22);
	EXPECT_EQ(recv(self->s, buf, sizeof(buf), MSG_DONTWAIT), -1);
	EXPECT_EQ(errno, EKEYEXPIRED);
}

/* Other handshake messages (a ticket alone) do not stop RX. */
TEST_F(rekey, ticket_alone_does_not_stop)
{
	unsigned char rec[] = { 4, 0, 0, 2, 9, 9 };
	char buf[64];
	int type;

	ASSERT_EQ(send_type(self->c, 22, rec, sizeof(rec)), sizeof(rec));
	ASSERT_EQ(send(self->c, "data", 4, 0), 4);
	ASSERT_EQ(recv_type(self->s, buf, sizeof(buf), 0, &type), sizeof(rec));
	EXPECT_EQ(type, 22);
	ASSERT_EQ(recv_type(self->s, buf, sizeof(buf), 0, &type), 4);
	EXPECT_EQ(type, 23);
}

/* Version and cipher cannot change; the old key stays in use. */
TEST_F(rekey, change_refused)
{
	union kto_crypto_info k;
	char buf[8];

	keys_new(&k, TLS_1_2_VERSION, variant->cipher);
	EXPECT_EQ(set_key(self->c, TLS_TX, &k), -1);
	EXPECT_EQ(errno, EINVAL);
	EXPECT_EQ(set_key(self->s, TLS_RX, &k), -1);
	EXPECT_EQ(errno, EINVAL);
	keys_new(&k, TLS_1_3_VERSION, variant->cipher == TLS_CIPHER_AES_GCM_128 ?
		 TLS_CIPHER_AES_GCM_256 : TLS_CIPHER_AES_GCM_128);
	EXPECT_EQ(set_key(self->c, TLS_TX, &k), -1);
	EXPECT_EQ(errno, EINVAL);
	ASSERT_EQ(send(self->c, "ok", 2, 0), 2);
	ASSERT_EQ(recv(self->s, buf, sizeof(buf), 0), 2);
	EXPECT_EQ(memcmp(buf, "ok", 2), 0);
}

TEST(tls12_second_key_busy)
{
	union kto_crypto_info k1, k2;
	char buf[8];
	int c, s;

	ASSERT_EQ(kto_tcp_pair(AF_INET, &c, &s), 0);
	ASSERT_EQ(setsockopt(c, IPPROTO_TCP, TCP_ULP, "tls", 4), 0);
	ASSERT_EQ(setsockopt(s, IPPROTO_TCP, TCP_ULP, "tls", 4), 0);
	keys_new(&k1, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128);
	keys_new(&k2, TLS_1_2_VERSION, TLS_CIPHER_AES_GCM_128);
	ASSERT_EQ(set_key(c, TLS_TX, &k1), 0);
	ASSERT_EQ(set_key(s, TLS_RX, &k1), 0);
	EXPECT_EQ(set_key(c, TLS_TX, &k2), -1);
	EXPECT_EQ(errno, EBUSY);
	EXPECT_EQ(set_key(s, TLS_RX, &k2), -1);
	EXPECT_EQ(errno, EBUSY);
	ASSERT_EQ(send(c, "ok", 2, 0), 2);
	ASSERT_EQ(recv(s, buf, sizeof(buf), 0), 2);
	close(c);
	close(s);
}

TEST_HARNESS_MAIN
