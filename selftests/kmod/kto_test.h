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
#include <sys/socket.h>
#include <unistd.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif
/* Upstream 6.19 (RFC 8449): newer than the headers Debian 12 ships. */
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

/* Key material as setsockopt(SOL_TLS, TLS_TX/TLS_RX) takes it. */
union kto_keys {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_aes_ccm_128 ccm128;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

/* The crypto_info size of a cipher the module takes, or 0. */
static inline socklen_t kto_keys_len(uint16_t cipher)
{
	switch (cipher) {
	case TLS_CIPHER_AES_GCM_128:
		return sizeof(struct tls12_crypto_info_aes_gcm_128);
	case TLS_CIPHER_AES_GCM_256:
		return sizeof(struct tls12_crypto_info_aes_gcm_256);
	case TLS_CIPHER_AES_CCM_128:
		return sizeof(struct tls12_crypto_info_aes_ccm_128);
	case TLS_CIPHER_CHACHA20_POLY1305:
		return sizeof(struct tls12_crypto_info_chacha20_poly1305);
	}
	return 0;
}

/* Where a cipher's crypto_info keeps the record sequence number. */
static inline unsigned char *kto_keys_rec_seq(union kto_keys *k)
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
 * server end. Returns 0 or -errno.
 */
static inline int kto_tcp_pair(int family, int *cfd, int *sfd)
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
	if (bind(lfd, (struct sockaddr *)&ss, sizeof(ss)) ||
	    listen(lfd, 8) ||
	    getsockname(lfd, (struct sockaddr *)&ss, &len)) {
		err = -errno;
		close(lfd);
		return err;
	}
	c = socket(family, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&ss, len)) {
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
