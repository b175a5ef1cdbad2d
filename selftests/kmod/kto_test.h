/* SPDX-License-Identifier: GPL-2.0 */
/* Shared helpers for the ktls-offload selftests (run inside the test VM). */
#ifndef KTO_TEST_H
#define KTO_TEST_H

#include <arpa/inet.h>
#include <errno.h>
#include <linux/tls.h>
#include <stdint.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "kto_crypto_info.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif
/* Newer than the uapi headers of the build host (same numbers as upstream). */
#ifndef TLS_TX_ZEROCOPY_RO
#define TLS_TX_ZEROCOPY_RO 3
#endif
#ifndef TLS_RX_EXPECT_NO_PAD
#define TLS_RX_EXPECT_NO_PAD 4
#endif
#ifndef TLS_TX_MAX_PAYLOAD_LEN
#define TLS_TX_MAX_PAYLOAD_LEN 5
#endif

#define KTO_MODULE "ktls_offload"
#define KTO_STAT_FILE "/proc/net/ktls_offload_stat"
#define KTO_INTREE_STAT_FILE "/proc/net/tls_stat"

/*
 * Running against the in-tree tls.ko (selftests/vm/run --intree --no-module)
 * rather than our module? Tests that describe kTLS behaviour run in both
 * modes and must pass in both; a case that checks something only our module
 * does starts with KTO_MODULE_ONLY(), which skips it against tls.ko.
 */
static inline int kto_intree(void)
{
	return access(KTO_STAT_FILE, F_OK) && !access(KTO_INTREE_STAT_FILE, F_OK);
}

/* The running kernel's release starts with @prefix (e.g. "6.1."). */
static inline int kto_kernel_is(const char *prefix)
{
	struct utsname u;

	return !uname(&u) && !strncmp(u.release, prefix, strlen(prefix));
}

#define KTO_MODULE_ONLY(why)						\
	do {								\
		if (kto_intree())					\
			SKIP(return, "module only: %s", why);		\
	} while (0)

/* Seeded randomness for the fuzzers (splitmix64): one seed replays a run. */
struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static inline uint32_t rng_range(struct rng *r, uint32_t lo, uint32_t hi)
{
	return lo + rng_next(r) % ((uint64_t)hi - lo + 1);
}

static inline int rng_chance(struct rng *r, int percent)
{
	return (int)(rng_next(r) % 100) < percent;
}

static inline void rng_fill(struct rng *r, void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = rng_next(r);
}

/* Where a cipher's crypto_info keeps the record sequence number. */
static inline unsigned char *kto_keys_rec_seq(union kto_crypto_info *k)
{
	switch (k->info.cipher_type) {
	case TLS_CIPHER_AES_GCM_256:
		return k->gcm256.rec_seq;
	case TLS_CIPHER_AES_CCM_128:
		return k->ccm128.rec_seq;
	case TLS_CIPHER_CHACHA20_POLY1305:
		return k->chacha.rec_seq;
	default:
		return k->gcm128.rec_seq;
	}
}

/*
 * A counter of /proc/net/ktls_offload_stat (or, against the in-tree kTLS,
 * of /proc/net/tls_stat, which uses the same names), or -1.
 */
static inline long kto_stat_get(const char *name)
{
	char line[256], key[128];
	long val, found = -1;
	FILE *f = fopen(kto_intree() ? KTO_INTREE_STAT_FILE : KTO_STAT_FILE, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%127s %ld", key, &val) == 2 &&
		    !strcmp(key, name)) {
			found = val;
			break;
		}
	fclose(f);
	return found;
}

/*
 * A connected TCP pair over loopback: *cfd is the client, *sfd the accepted
 * server end. A nonzero @c_sndbuf / @s_rcvbuf is set (SO_SNDBUF on the
 * client, SO_RCVBUF on the listener, so the window scale matches) before
 * the handshake: a small pair fills up, and a peer that does not read
 * stops the sender soon. Returns 0 or -errno.
 */
static inline int kto_tcp_pair_bufs(int family, int c_sndbuf, int s_rcvbuf,
				    int *cfd, int *sfd)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = sizeof(ss);
	int lfd, c, s, err;

	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	lfd = socket(family, SOCK_STREAM, 0);
	if (lfd < 0)
		return -errno;
	if ((s_rcvbuf && setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &s_rcvbuf,
				    sizeof(s_rcvbuf))) ||
	    bind(lfd, (struct sockaddr *)&ss, sizeof(ss)) ||
	    listen(lfd, 8) ||
	    getsockname(lfd, (struct sockaddr *)&ss, &len)) {
		err = -errno;
		close(lfd);
		return err;
	}
	c = socket(family, SOCK_STREAM, 0);
	if (c < 0 ||
	    (c_sndbuf && setsockopt(c, SOL_SOCKET, SO_SNDBUF, &c_sndbuf,
				    sizeof(c_sndbuf))) ||
	    connect(c, (struct sockaddr *)&ss, len)) {
		err = -errno;
		if (c >= 0)
			close(c);
		close(lfd);
		return err;
	}
	s = accept(lfd, NULL, NULL);
	err = s < 0 ? -errno : 0;
	close(lfd);
	if (err) {
		close(c);
		return err;
	}
	*cfd = c;
	*sfd = s;
	return 0;
}

static inline int kto_tcp_pair(int family, int *cfd, int *sfd)
{
	return kto_tcp_pair_bufs(family, 0, 0, cfd, sfd);
}

/* Key material with its setsockopt length. */
struct kto_key {
	union kto_crypto_info u;
	socklen_t len;
};

/*
 * Fresh random key, iv, salt and rec_seq for @version and @cipher (rec_seq
 * below 2^63, so no test runs into its end). Returns 0 or -1.
 */
static inline int kto_key_random(struct kto_key *k, uint16_t version,
				 uint16_t cipher)
{
	unsigned char *p = (unsigned char *)&k->u;

	memset(k, 0, sizeof(*k));
	k->len = kto_crypto_info_len(cipher);
	if (!k->len)
		return -1;
	k->u.info.version = version;
	k->u.info.cipher_type = cipher;
	if (getrandom(p + sizeof(k->u.info), k->len - sizeof(k->u.info), 0) !=
	    (ssize_t)(k->len - sizeof(k->u.info)))
		return -1;
	p[k->len - 8] &= 0x7f;
	return 0;
}

static inline int kto_ulp(int fd)
{
	return setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls"));
}

static inline int kto_install(int fd, int dir, const struct kto_key *k)
{
	return setsockopt(fd, SOL_TLS, dir, &k->u, k->len);
}

static inline int kto_set_timeo_ms(int fd, int opt, long ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000 };

	return setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

/* Send and receive timeouts, so a test that goes wrong fails, not hangs. */
static inline int kto_timeouts(int fd, long ms)
{
	return kto_set_timeo_ms(fd, SO_RCVTIMEO, ms) ||
	       kto_set_timeo_ms(fd, SO_SNDTIMEO, ms);
}

/*
 * Keys both ways on a connected pair: @c's TX and @s's RX share @c2s,
 * @s's TX and @c's RX share @s2c (either may be NULL: that direction
 * stays plain TCP). Both ends get the ULP. Returns 0 or -1 with errno.
 */
static inline int kto_tls_keys(int c, int s, const struct kto_key *c2s,
			       const struct kto_key *s2c)
{
	if (kto_ulp(c) || kto_ulp(s))
		return -1;
	if (c2s && (kto_install(c, TLS_TX, c2s) || kto_install(s, TLS_RX, c2s)))
		return -1;
	if (s2c && (kto_install(s, TLS_TX, s2c) || kto_install(c, TLS_RX, s2c)))
		return -1;
	return 0;
}

/* recv until @len bytes, EOF or error; returns the bytes read, or -1. */
static inline ssize_t kto_read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = recv(fd, (char *)buf + got, len - got, 0);
		if (n < 0)
			return got ? (ssize_t)got : -1;
		if (!n)
			break;
		got += n;
	}
	return got;
}

/* recv exactly @len bytes: 0, or -1 (an error, or EOF before them). */
static inline int kto_read_exact(int fd, void *buf, size_t len)
{
	return kto_read_full(fd, buf, len) == (ssize_t)len ? 0 : -1;
}

/* send all of @buf; 0, or -1 with errno. */
static inline int kto_write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = send(fd, (const char *)buf + done, len - done, MSG_NOSIGNAL);
		if (n <= 0)
			return -1;
		done += n;
	}
	return 0;
}

/* sendmsg() of one record of content @type (TLS_SET_RECORD_TYPE). */
static inline ssize_t kto_send_typed(int fd, uint8_t type, const void *buf,
				     size_t len, int flags)
{
	char cbuf[CMSG_SPACE(sizeof(type))] = { 0 };
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr m = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);

	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(type));
	*CMSG_DATA(cm) = type;
	return sendmsg(fd, &m, flags);
}

/* recvmsg() with the TLS_GET_RECORD_TYPE it reports in *type (-1: none). */
static inline ssize_t kto_recv_typed(int fd, void *buf, size_t len, int flags,
				     int *type)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr m = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	ssize_t n;

	*type = -1;
	n = recvmsg(fd, &m, flags);
	if (n < 0)
		return n;
	cm = CMSG_FIRSTHDR(&m);
	if (cm && cm->cmsg_level == SOL_TLS &&
	    cm->cmsg_type == TLS_GET_RECORD_TYPE)
		*type = *CMSG_DATA(cm);
	return n;
}

static inline double kto_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The reference count /proc/modules shows for a module, or -1 if absent. */
static inline int kto_module_refcnt(const char *name)
{
	char line[512], mod[128];
	int refs, found = -1;
	FILE *f = fopen("/proc/modules", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%127s %*u %d", mod, &refs) == 2 &&
		    !strcmp(mod, name)) {
			found = refs;
			break;
		}
	}
	fclose(f);
	return found;
}

#endif /* KTO_TEST_H */
