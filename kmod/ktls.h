/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktls-offload: internal declarations, grouped by the file that defines them.
 *
 * Every socket that attaches our ULP gets a struct kto_ctx, reachable through
 * inet_csk(sk)->icsk_ulp_data. It lives from kto_ctx_attach() (ULP init,
 * socket locked) until close (or the ULP release hook), and is freed after an
 * RCU grace period. Each direction with a key has its own state: struct
 * kto_tx (tx.c) and struct kto_rx (rx.c), both built on struct kto_crypto
 * (crypto.c).
 */
#ifndef KTO_KTLS_H
#define KTO_KTLS_H

#include <linux/types.h>
#include <linux/bvec.h>
#include <linux/lockdep.h>
#include <linux/wait.h>
#include <linux/net.h>
#include <linux/scatterlist.h>
#include <linux/tls.h>
#include <linux/workqueue.h>
#include <net/sock.h>
#include <net/inet_connection_sock.h>

/* Content types (RFC 8446 5.1) that the record layer itself uses. */
#define KTO_TYPE_HANDSHAKE	22
#define KTO_TYPE_DATA		23
#define KTO_HS_KEY_UPDATE	24	/* handshake message type */

/* Smallest TLS_TX_MAX_PAYLOAD_LEN: RFC 8449's limit of 64 bytes (63 of
 * payload in TLS 1.3, whose content type byte counts against the limit).
 */
#define KTO_MIN_PAYLOAD_LIMIT	64

/* Record layout limits (RFC 8446 5.1/5.2, RFC 5246 6.2). */
#define KTO_HDR_LEN		5
#define KTO_MAX_PLAIN		(1 << 14)
#define KTO_TAG_LEN		16
#define KTO_MAX_EXPLICIT	8
/* Largest record on the wire we build or accept: header, explicit nonce,
 * plaintext, TLS 1.3 content type byte, tag.
 */
#define KTO_MAX_RECORD		(KTO_HDR_LEN + KTO_MAX_EXPLICIT + KTO_MAX_PLAIN + \
				 1 + KTO_TAG_LEN)
/* Pages of a whole record, which may start anywhere in its first page. */
#define KTO_REC_PAGES		(DIV_ROUND_UP(KTO_MAX_RECORD, PAGE_SIZE) + 1)

/* Which direction a record buffer serves (pages.c keeps spares per direction). */
enum kto_dir {
	KTO_TX,
	KTO_RX,
	KTO_DIRS,
};

/*
 * One record's bytes over order-0 pages (pages.c): byte 0 of the record is
 * at offset base of p[0] (always 0 for RX).
 */
struct kto_pages {
	struct page *p[KTO_REC_PAGES];
	u16 base;
	u8 n;
};

/*
 * A direction's lock (lock.c): a sleeping lock whose waits honour
 * O_NONBLOCK, the socket's timeout and signals. Taken before the socket
 * lock.
 */
struct kto_lock {
	unsigned long bits;
	wait_queue_head_t wq;
	struct lockdep_map dep_map;
};

/* Per-direction configuration, as in the proto table indices. */
enum kto_conf {
	KTO_CONF_BASE,	/* ULP attached, no key for this direction */
	KTO_CONF_SW,	/* records processed by this module */
	KTO_CONF_NUM,
};

/* Any of the crypto_info structs of <linux/tls.h> we accept. */
union kto_crypto_info {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 aes_gcm_128;
	struct tls12_crypto_info_aes_gcm_256 aes_gcm_256;
	struct tls12_crypto_info_aes_ccm_128 aes_ccm_128;
	struct tls12_crypto_info_chacha20_poly1305 chacha20_poly1305;
};

struct kto_cipher;

/* One direction's AEAD, nonce and sequence state. */
struct kto_crypto {
	const struct kto_cipher *cipher;
	struct crypto_aead *aead;
	struct aead_request *req;	/* on first use, then kept */
	u16 version;			/* TLS_1_2_VERSION or TLS_1_3_VERSION */
	u8 explicit_len;		/* explicit nonce bytes on the wire */
	u8 tail_len;			/* tag, plus the TLS 1.3 type byte */
	bool exhausted;			/* all 2^64 sequence numbers used */
	bool tx;
	u8 iv[12];			/* salt || iv (static nonce part) */
	u8 explicit[KTO_MAX_EXPLICIT];	/* TX, TLS 1.2 GCM/CCM: next explicit nonce */
	u64 seq;			/* next record sequence number */
	union kto_crypto_info info;	/* as installed, for getsockopt */
	u8 aad[16];
	u8 inner_type;			/* TLS 1.3 type byte outside the record's pages */
};

/* What kto_crypto_open() found in a record. */
struct kto_opened {
	u32 off;	/* plaintext offset in the record's pages (in place) */
	u32 len;	/* plaintext bytes */
	u8 type;	/* content type */
};

/* kto_crypto_open() into a reader's pages found a record it cannot take. */
#define KTO_OPEN_RETRY	1

/*
 * TX state. Locking (design.rst, "Locking"): @lock is held to build or
 * seal a record, change the key or the record size limit; never while
 * waiting for TCP. The socket lock covers everything else, and alone is
 * enough to push a closed record (the write-space work does).
 */
struct kto_tx {
	struct kto_crypto c;
	struct kto_lock lock;
	struct sock *sk;
	/*
	 * One record at a time: an open record collects plaintext at offset
	 * KTO_HDR_LEN + explicit_len of pg; once closed it is sealed and its
	 * pages are handed to TCP from push_off to rec_len.
	 */
	struct kto_pages pg;
	u32 plain_len;		/* plaintext bytes of the open record */
	u32 rec_len;		/* closed record: bytes on the wire */
	u32 push_off;		/* closed record: bytes already given to TCP */
	u8 open_type;		/* content type of the open record */
	int err;		/* sticky write error */
	unsigned int writers;	/* send calls in progress */
	struct work_struct work;	/* pushes a closed record on write space */
	unsigned long flags;
};

enum {
	KTO_TX_WORK_PENDING,
	KTO_TX_CLOSING,
};

/* A decrypted record set aside by MSG_PEEK so the buffer can take the next. */
struct kto_rec {
	struct list_head list;
	u32 len;
	u32 off;
	u8 type;
	u8 data[];
};

/*
 * RX state. Locking: @lock is held by a reader for its whole call (it
 * waits for records with the socket lock released); the socket lock
 * covers the rest, and softirq fills pg under the socket spinlock.
 */
struct kto_rx {
	struct kto_crypto c;
	struct kto_lock lock;
	struct kto_pages pg;	/* one ciphertext record */
	u32 have;		/* ciphertext bytes read into pg */
	u32 need;		/* bytes of the whole record (0: header unknown) */
	/* When opened in place: plaintext at offset plain_off of pg. */
	bool decrypted;
	u8 type;
	u32 plain_off;
	u32 plain_len;
	struct list_head peeked;	/* struct kto_rec, before pg's record */
	u32 peeked_bytes;	/* charged to the socket for them */
	/* Handshake messages across records, for KeyUpdate (rx_handshake). */
	u32 hs_left;		/* body bytes of the current message still to come */
	u8 hs_hdr[4];		/* a message header split across records */
	u8 hs_hdr_len;
	bool hs_key_update;	/* the current message is a KeyUpdate */
	bool stopped;		/* framing error reported: no more records */
	bool key_update;	/* a KeyUpdate was read: wait for the next key */
	int err;		/* sticky decrypt error (-EBADMSG) */
	bool ready;		/* a whole record can be read: for poll */
	bool need_alloc;	/* softirq could not get pages: reader must */
};

struct kto_ctx {
	/* What we wrap: restored on close. */
	struct proto *sk_proto;
	const struct proto_ops *sk_ops;
	void (*sk_write_space)(struct sock *sk);
	void (*sk_data_ready)(struct sock *sk);

	u8 tx_conf;
	u8 rx_conf;
	bool zc_ro;		/* TLS_TX_ZEROCOPY_RO (a hint we do not need) */
	bool rx_no_pad;		/* TLS_RX_EXPECT_NO_PAD */
	bool keys_write_only;	/* TLS_KTO_KEYS_WRITE_ONLY: set for good */
	u16 tx_max_payload;	/* TLS_TX_MAX_PAYLOAD_LEN, RFC 8449 */
	u16 version;		/* of the first key installed, for sock_diag */
	u16 cipher_type;
	struct kto_tx *tx;
	struct kto_rx *rx;

	struct rcu_head rcu;
};

static inline struct kto_ctx *kto_ctx_get(const struct sock *sk)
{
	/* Only called with the socket locked or from its own callbacks. */
	return (__force struct kto_ctx *)inet_csk(sk)->icsk_ulp_data;
}

/* ctx.c */
int kto_ctx_attach(struct sock *sk);
void kto_ctx_release(struct sock *sk);
int kto_ctx_get_info(struct sock *sk, struct sk_buff *skb);
size_t kto_ctx_get_info_size(const struct sock *sk);

/* crypto.c */
const struct kto_cipher *kto_crypto_cipher(u16 cipher_type);
unsigned int kto_crypto_info_size(const struct kto_cipher *cipher);
int kto_crypto_init(struct kto_crypto *c, const union kto_crypto_info *info,
		    bool tx);
void kto_crypto_uninit(struct kto_crypto *c);
int kto_crypto_prepare(struct kto_crypto *c);
int kto_crypto_rekey(struct kto_crypto *c, const union kto_crypto_info *info);
void kto_crypto_get_info(const struct kto_crypto *c,
			 union kto_crypto_info *out);
int kto_crypto_seal(struct kto_crypto *c, struct kto_pages *pg, u32 plain_len,
		    u8 type, const struct bio_vec *src, int nsrc);
bool kto_crypto_can_seal_from(const struct kto_crypto *c);
int kto_crypto_open(struct kto_crypto *c, struct kto_pages *pg, u32 rec_len,
		    const struct bio_vec *dst, int ndst,
		    struct kto_opened *out);
u32 kto_crypto_data_len(const struct kto_crypto *c, u32 rec_len);

/* lock.c */
void __kto_lock_init(struct kto_lock *l, const char *name,
		     struct lock_class_key *key);
#define kto_lock_init(l)						\
	do {								\
		static struct lock_class_key __key;			\
									\
		__kto_lock_init((l), #l, &__key);			\
	} while (0)
int kto_lock(struct kto_lock *l, long *timeo);
void kto_lock_nofail(struct kto_lock *l);
bool kto_unlock(struct kto_lock *l);

/* pages.c */
int kto_pages_ensure(struct sock *sk, struct kto_pages *pg, u32 len,
		     enum kto_dir dir, gfp_t gfp);
void kto_pages_recycle(struct sock *sk, struct kto_pages *pg, enum kto_dir dir,
		       u32 len);
void kto_pages_release(struct sock *sk, struct kto_pages *pg, enum kto_dir dir);
void kto_pages_release_clear(struct sock *sk, struct kto_pages *pg,
			     enum kto_dir dir);
int kto_pages_init(void);
void kto_pages_uninit(void);
int kto_mem_charge(struct sock *sk, enum kto_dir dir, int size);
void kto_mem_uncharge(struct sock *sk, enum kto_dir dir, int size);
struct page *kto_pages_at(const struct kto_pages *pg, u32 off, u32 *poff);
u8 *kto_pages_ptr(const struct kto_pages *pg, u32 off);
u32 kto_pages_run(const struct kto_pages *pg, u32 off);
void kto_pages_read(const struct kto_pages *pg, u32 off, void *dst, u32 len);
void kto_pages_write(struct kto_pages *pg, u32 off, const void *src, u32 len);
int kto_pages_sg(const struct kto_pages *pg, struct scatterlist *sg, int max,
		 u32 off, u32 len);
int kto_pages_get_iter(struct iov_iter *iter, u32 len, struct bio_vec *bv);
void kto_pages_put_iter(struct bio_vec *bv, int n, bool dirty);

/* tx.c */
int kto_tx_init(struct sock *sk, struct kto_ctx *ctx,
		const union kto_crypto_info *info);
void kto_tx_uninit(struct sock *sk, struct kto_ctx *ctx);
void kto_tx_stop_work(struct kto_ctx *ctx);
void kto_tx_close_prepare(struct kto_ctx *ctx);
void kto_tx_close_flush(struct sock *sk, struct kto_ctx *ctx);
void kto_tx_build_proto(struct proto *prot, struct proto_ops *ops);
int kto_tx_rekey(struct sock *sk, struct kto_ctx *ctx,
		 const union kto_crypto_info *info);
int kto_tx_setsockopt_zc(struct kto_ctx *ctx, sockptr_t optval,
			 unsigned int optlen);
int kto_tx_setsockopt_max_payload(struct sock *sk, struct kto_ctx *ctx,
				  sockptr_t optval, unsigned int optlen);

/* rx.c */
int kto_rx_init(struct sock *sk, struct kto_ctx *ctx,
		const union kto_crypto_info *info);
void kto_rx_uninit(struct sock *sk, struct kto_ctx *ctx);
int kto_rx_rekey(struct sock *sk, struct kto_ctx *ctx,
		 const union kto_crypto_info *info);
void kto_rx_build_proto(struct proto *prot, struct proto_ops *ops);
int kto_rx_setsockopt_no_pad(struct sock *sk, struct kto_ctx *ctx,
			     sockptr_t optval, unsigned int optlen);

/* stats.c */
enum kto_stat {
	KTO_STAT_CURR_TX,
	KTO_STAT_CURR_RX,
	KTO_STAT_TX,
	KTO_STAT_RX,
	KTO_STAT_TX_RECORDS,
	KTO_STAT_RX_RECORDS,
	KTO_STAT_DECRYPT_ERROR,
	KTO_STAT_RX_BAD_RECORD,
	KTO_STAT_RX_NO_PAD_VIOLATION,
	KTO_STAT_DECRYPT_RETRY,
	KTO_STAT_TX_CLOSE_DROPPED,
	KTO_STAT_TX_REKEY_OK,
	KTO_STAT_RX_REKEY_OK,
	KTO_STAT_TX_REKEY_ERROR,
	KTO_STAT_RX_REKEY_ERROR,
	KTO_STAT_RX_REKEY_RECEIVED,
	KTO_STAT_TX_AES_GCM_128,
	KTO_STAT_TX_AES_GCM_256,
	KTO_STAT_TX_AES_CCM_128,
	KTO_STAT_TX_CHACHA20_POLY1305,
	KTO_STAT_RX_AES_GCM_128,
	KTO_STAT_RX_AES_GCM_256,
	KTO_STAT_RX_AES_CCM_128,
	KTO_STAT_RX_CHACHA20_POLY1305,
	KTO_STAT_NUM,
};

/* Module-wide counts of what we allocate, for leak checks. */
enum kto_live {
	KTO_LIVE_CONTEXTS,
	KTO_LIVE_PAGES,
	KTO_LIVE_PEEKED,
	KTO_LIVE_SPARE,
	KTO_LIVE_NUM,
};

void kto_stats_live_add(enum kto_live what, long n);
int kto_stats_init(void);
void kto_stats_uninit(void);
void kto_stats_add(const struct sock *sk, enum kto_stat stat, long n);
enum kto_stat kto_stats_cipher(u16 cipher_type, bool tx);

#endif /* KTO_KTLS_H */
