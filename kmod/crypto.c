// SPDX-License-Identifier: GPL-2.0
/*
 * AEAD setup per cipher, nonce and additional data construction, sealing
 * and opening one record, in its own pages or to and from a caller's
 * pages. Shared by TX and RX. This file owns the scatterlist layout
 * (the additional data entry, the TLS 1.3 type byte, the end marks):
 * callers pass pages and lengths.
 *
 * Nonces (RFC 5288 3, RFC 6655 3, RFC 7905 2, RFC 8446 5.3):
 *   TLS 1.2 AES-GCM/CCM: salt(4) || explicit(8), the explicit part on the wire
 *   TLS 1.2 ChaCha20, TLS 1.3: iv(12) XOR (0^32 || seq(64))
 * Additional data: TLS 1.2: seq || type || version || plaintext length;
 * TLS 1.3: the record header.
 */
#include <crypto/aead.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "ktls.h"

struct kto_cipher {
	u16 type;
	u16 info_size;
	u8 key_size;
	u8 salt_size;
	u8 iv_size;
	u8 key_off;
	u8 salt_off;
	u8 iv_off;
	u8 seq_off;
	bool ccm;
	bool explicit_nonce;	/* TLS 1.2 carries the nonce's iv part on the wire */
	const char *alg;
};

#define KTO_CIPHER(_type, _st, _alg, _ccm, _explicit) {			\
	.type = _type,							\
	.info_size = sizeof(struct _st),				\
	.key_size = sizeof_field(struct _st, key),			\
	.salt_size = sizeof_field(struct _st, salt),			\
	.iv_size = sizeof_field(struct _st, iv),			\
	.key_off = offsetof(struct _st, key),				\
	.salt_off = offsetof(struct _st, salt),				\
	.iv_off = offsetof(struct _st, iv),				\
	.seq_off = offsetof(struct _st, rec_seq),			\
	.ccm = _ccm,							\
	.explicit_nonce = _explicit,					\
	.alg = _alg,							\
}

static const struct kto_cipher kto_ciphers[] = {
	KTO_CIPHER(TLS_CIPHER_AES_GCM_128, tls12_crypto_info_aes_gcm_128,
		   "gcm(aes)", false, true),
	KTO_CIPHER(TLS_CIPHER_AES_GCM_256, tls12_crypto_info_aes_gcm_256,
		   "gcm(aes)", false, true),
	KTO_CIPHER(TLS_CIPHER_AES_CCM_128, tls12_crypto_info_aes_ccm_128,
		   "ccm(aes)", true, true),
	KTO_CIPHER(TLS_CIPHER_CHACHA20_POLY1305,
		   tls12_crypto_info_chacha20_poly1305,
		   "rfc7539(chacha20,poly1305)", false, false),
};

const struct kto_cipher *kto_crypto_cipher(u16 cipher_type)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(kto_ciphers); i++)
		if (kto_ciphers[i].type == cipher_type)
			return &kto_ciphers[i];
	return NULL;
}

unsigned int kto_crypto_info_size(const struct kto_cipher *cipher)
{
	return cipher->info_size;
}

int kto_crypto_init(struct kto_crypto *c, const union kto_crypto_info *info,
		    bool tx)
{
	const struct kto_cipher *cipher = kto_crypto_cipher(info->info.cipher_type);
	const u8 *base = (const u8 *)info;
	int err;

	if (!cipher)
		return -EINVAL;

	c->cipher = cipher;
	c->version = info->info.version;
	c->tx = tx;
	c->explicit_len = (c->version == TLS_1_2_VERSION &&
			   cipher->explicit_nonce) ? cipher->iv_size : 0;
	c->tail_len = KTO_TAG_LEN + (c->version == TLS_1_3_VERSION ? 1 : 0);
	memcpy(c->iv, base + cipher->salt_off, cipher->salt_size);
	memcpy(c->iv + cipher->salt_size, base + cipher->iv_off, cipher->iv_size);
	if (tx && c->explicit_len)
		memcpy(c->explicit, base + cipher->iv_off, c->explicit_len);
	c->seq = get_unaligned_be64(base + cipher->seq_off);
	memcpy(&c->info, info, cipher->info_size);

	c->aead = crypto_alloc_aead(cipher->alg, 0, 0);
	if (IS_ERR(c->aead)) {
		err = PTR_ERR(c->aead);
		c->aead = NULL;
		pr_warn_ratelimited("cannot allocate %s: %d\n", cipher->alg, err);
		goto err;
	}
	err = crypto_aead_setkey(c->aead, base + cipher->key_off,
				 cipher->key_size);
	if (err)
		goto err;
	err = crypto_aead_setauthsize(c->aead, KTO_TAG_LEN);
	if (err)
		goto err;

	return 0;

err:
	kto_crypto_uninit(c);
	return err;
}

void kto_crypto_uninit(struct kto_crypto *c)
{
	kfree_sensitive(c->req);
	c->req = NULL;
	if (c->aead)
		crypto_free_aead(c->aead);	/* zeroes the expanded key */
	c->aead = NULL;
	memzero_explicit(c->iv, sizeof(c->iv));
	memzero_explicit(c->explicit, sizeof(c->explicit));
	memzero_explicit(&c->info, sizeof(c->info));
}

/*
 * The AEAD request, allocated on first use and kept: a socket that never
 * sends or receives a record holds none. Process context. Callers prepare
 * before they touch a record, so a failure here changes nothing.
 */
int kto_crypto_prepare(struct kto_crypto *c)
{
	if (likely(c->req))
		return 0;
	c->req = kmalloc(sizeof(*c->req) + crypto_aead_reqsize(c->aead),
			 GFP_KERNEL);
	if (!c->req)
		return -ENOMEM;
	aead_request_set_tfm(c->req, c->aead);
	return 0;
}

/*
 * Replace the key (TLS 1.3 KeyUpdate). The new AEAD is set up completely
 * before the old one is dropped, so a failure leaves the old key in use.
 * The request is kept when the new transform's fits in it.
 */
int kto_crypto_rekey(struct kto_crypto *c, const union kto_crypto_info *info)
{
	struct aead_request *req;
	unsigned int reqsize;
	struct kto_crypto *n;
	int err;

	n = kzalloc(sizeof(*n), GFP_KERNEL);
	if (!n)
		return -ENOMEM;
	err = kto_crypto_init(n, info, c->tx);
	if (!err) {
		req = c->req;
		reqsize = crypto_aead_reqsize(c->aead);
		c->req = NULL;
		kto_crypto_uninit(c);
		*c = *n;
		if (req && reqsize == crypto_aead_reqsize(c->aead)) {
			aead_request_set_tfm(req, c->aead);
			c->req = req;
		} else {
			kfree_sensitive(req);
		}
	}
	kfree_sensitive(n);
	return err;
}

void kto_crypto_get_info(const struct kto_crypto *c,
			 union kto_crypto_info *out)
{
	const struct kto_cipher *cipher = c->cipher;
	u8 *base = (u8 *)out;

	memcpy(out, &c->info, cipher->info_size);
	put_unaligned_be64(c->seq, base + cipher->seq_off);
	if (c->tx && c->explicit_len)
		memcpy(base + cipher->iv_off, c->explicit, c->explicit_len);
}

/* Build the AEAD IV for the record with sequence number c->seq. */
static void make_nonce(const struct kto_crypto *c, const u8 *explicit,
		       u8 *iv)
{
	u8 nonce[12];
	int i;

	if (c->explicit_len) {
		memcpy(nonce, c->iv, c->cipher->salt_size);
		memcpy(nonce + c->cipher->salt_size, explicit, c->explicit_len);
	} else {
		memcpy(nonce, c->iv, sizeof(nonce));
		for (i = 0; i < 8; i++)
			nonce[4 + i] ^= (u8)(c->seq >> (56 - 8 * i));
	}

	if (c->cipher->ccm) {
		/* RFC 3610 counter block: flags (L' = 15 - 12 - 1), nonce, counter */
		memset(iv, 0, 16);
		iv[0] = 2;
		memcpy(iv + 1, nonce, sizeof(nonce));
	} else {
		memcpy(iv, nonce, sizeof(nonce));
	}
	memzero_explicit(nonce, sizeof(nonce));
}

static unsigned int make_aad(struct kto_crypto *c, const u8 *hdr, u8 type,
			     u32 plain_len)
{
	if (c->version == TLS_1_3_VERSION) {
		memcpy(c->aad, hdr, KTO_HDR_LEN);
		return KTO_HDR_LEN;
	}
	put_unaligned_be64(c->seq, c->aad);
	c->aad[8] = type;
	c->aad[9] = TLS_1_2_VERSION_MAJOR;
	c->aad[10] = TLS_1_2_VERSION_MINOR;
	put_unaligned_be16(plain_len, c->aad + 11);
	return 13;
}

/* Entries: the additional data, a record's worth of pages, the type byte. */
#define KTO_SG_ENTRIES	(KTO_REC_PAGES + 2)

/* @sg = the additional data, then [@off, @off + @len) of @pg. */
static int sg_record(struct kto_crypto *c, struct scatterlist *sg,
		     unsigned int aad_len, const struct kto_pages *pg, u32 off,
		     u32 len)
{
	int n;

	sg_init_table(sg, KTO_SG_ENTRIES);
	sg_set_buf(&sg[0], c->aad, aad_len);
	n = kto_pages_sg(pg, &sg[1], KTO_SG_ENTRIES - 1, off, len);
	if (n < 0)
		return n;
	sg_mark_end(&sg[n]);
	return 0;
}

/*
 * @sg = the additional data, then the caller's pages @bv, then (TLS 1.3)
 * the content type byte, which lives in c->inner_type, not in the
 * caller's buffer.
 */
static void sg_caller(struct kto_crypto *c, struct scatterlist *sg,
		      unsigned int aad_len, const struct bio_vec *bv, int n)
{
	int i;

	sg_init_table(sg, KTO_SG_ENTRIES);
	sg_set_buf(&sg[0], c->aad, aad_len);
	for (i = 0; i < n; i++)
		sg_set_page(&sg[i + 1], bv[i].bv_page, bv[i].bv_len,
			    bv[i].bv_offset);
	if (c->version == TLS_1_3_VERSION)
		sg_set_buf(&sg[++n], &c->inner_type, 1);
	sg_mark_end(&sg[n]);
}

static int run_aead(struct kto_crypto *c, struct scatterlist *src,
		    struct scatterlist *dst, u32 crypt_len,
		    unsigned int aad_len, u8 *iv, bool enc)
{
	DECLARE_CRYPTO_WAIT(wait);

	aead_request_set_callback(c->req, CRYPTO_TFM_REQ_MAY_BACKLOG,
				  crypto_req_done, &wait);
	aead_request_set_ad(c->req, aad_len);
	aead_request_set_crypt(c->req, src, dst, crypt_len, iv);
	/* The request may complete asynchronously (cryptd): wait for it. */
	return crypto_wait_req(enc ? crypto_aead_encrypt(c->req) :
			       crypto_aead_decrypt(c->req), &wait);
}

/* Advance to the next sequence number; refuse to ever reuse one. */
static void next_seq(struct kto_crypto *c)
{
	if (c->seq == U64_MAX)
		c->exhausted = true;
	else
		c->seq++;
}

/*
 * Seal the record in @pg: the plaintext is at KTO_HDR_LEN + explicit_len,
 * and the pages cover the tail after it. Or, with @src, encrypt the
 * plaintext in the caller's pages @src (@nsrc entries, @plain_len bytes)
 * into @pg at that offset; see kto_crypto_can_seal_from(). Writes the
 * header and explicit nonce; returns the record's length on the wire or
 * -errno.
 */
int kto_crypto_seal(struct kto_crypto *c, struct kto_pages *pg, u32 plain_len,
		    u8 type, const struct bio_vec *src, int nsrc)
{
	struct scatterlist sg_src[KTO_SG_ENTRIES], sg_dst[KTO_SG_ENTRIES];
	u32 off = KTO_HDR_LEN + c->explicit_len;
	u32 inner_len = plain_len;
	u32 wire_len;
	u8 hdr[KTO_HDR_LEN];
	u8 iv[16];
	unsigned int aad_len;
	int err;

	if (c->exhausted)
		return -EKEYEXPIRED;
	if (!c->req)
		return -ENOMEM;	/* kto_crypto_prepare() was not called */

	if (c->version == TLS_1_3_VERSION) {
		/* The inner content type follows the plaintext. */
		c->inner_type = type;
		if (!src)
			kto_pages_write(pg, off + inner_len, &type, 1);
		inner_len++;
		hdr[0] = KTO_TYPE_DATA;
	} else {
		hdr[0] = type;
	}
	wire_len = c->explicit_len + inner_len + KTO_TAG_LEN;
	hdr[1] = TLS_1_2_VERSION_MAJOR;
	hdr[2] = TLS_1_2_VERSION_MINOR;
	put_unaligned_be16(wire_len, hdr + 3);
	kto_pages_write(pg, 0, hdr, KTO_HDR_LEN);
	if (c->explicit_len)
		kto_pages_write(pg, KTO_HDR_LEN, c->explicit, c->explicit_len);

	make_nonce(c, c->explicit, iv);
	aad_len = make_aad(c, hdr, type, plain_len);
	err = sg_record(c, sg_dst, aad_len, pg, off, inner_len + KTO_TAG_LEN);
	if (!err && src)
		sg_caller(c, sg_src, aad_len, src, nsrc);
	if (!err)
		err = run_aead(c, src ? sg_src : sg_dst, sg_dst, inner_len,
			       aad_len, iv, true);
	memzero_explicit(iv, sizeof(iv));
	if (err)
		return err;

	if (c->explicit_len) {
		int i;

		/* Big-endian increment of the explicit nonce counter. */
		for (i = c->explicit_len - 1; i >= 0 && !++c->explicit[i]; i--)
			;
	}
	next_seq(c);
	return KTO_HDR_LEN + wire_len;
}

/*
 * Open the whole record in @pg (header included, lengths already checked
 * by the caller): in place, the plaintext then at out->off of @pg; or,
 * with @dst, into the caller's pages @dst (@ndst entries covering
 * kto_crypto_data_len() bytes: a data record without padding). A TLS 1.3
 * record that turns out padded or not data cannot be delivered that way:
 * then KTO_OPEN_RETRY, the sequence number unchanged, to open it again in
 * place. On any failure @dst may hold bytes the caller must wipe.
 */
int kto_crypto_open(struct kto_crypto *c, struct kto_pages *pg, u32 rec_len,
		    const struct bio_vec *dst, int ndst,
		    struct kto_opened *out)
{
	struct scatterlist sg_src[KTO_SG_ENTRIES], sg_dst[KTO_SG_ENTRIES];
	u32 off = KTO_HDR_LEN + c->explicit_len;
	u8 hdr[KTO_HDR_LEN], explicit[KTO_MAX_EXPLICIT];
	u8 iv[16];
	unsigned int aad_len;
	u32 clen;
	int err;

	if (c->exhausted)
		return -EKEYEXPIRED;
	if (!c->req)
		return -ENOMEM;	/* kto_crypto_prepare() was not called */
	if (rec_len < off + c->tail_len)
		return -EBADMSG;
	clen = rec_len - off;

	kto_pages_read(pg, 0, hdr, KTO_HDR_LEN);
	kto_pages_read(pg, KTO_HDR_LEN, explicit, c->explicit_len);
	make_nonce(c, explicit, iv);
	aad_len = make_aad(c, hdr, hdr[0], clen - KTO_TAG_LEN);
	err = sg_record(c, sg_src, aad_len, pg, off, clen);
	if (!err && dst)
		sg_caller(c, sg_dst, aad_len, dst, ndst);
	if (!err)
		err = run_aead(c, sg_src, dst ? sg_dst : sg_src, clen, aad_len,
			       iv, false);
	memzero_explicit(iv, sizeof(iv));
	if (err)
		return err;

	clen -= KTO_TAG_LEN;
	if (dst) {
		if (c->version == TLS_1_3_VERSION) {
			if (c->inner_type != KTO_TYPE_DATA)
				return KTO_OPEN_RETRY;
			clen--;
		}
		out->type = KTO_TYPE_DATA;
	} else if (c->version == TLS_1_3_VERSION) {
		/* Inner plaintext: content || type || zeros (RFC 8446 5.4). */
		while (clen && !*kto_pages_ptr(pg, off + clen - 1))
			clen--;
		if (!clen)
			return -EBADMSG;
		out->type = *kto_pages_ptr(pg, off + --clen);
	} else {
		out->type = hdr[0];
	}
	next_seq(c);
	out->off = off;
	out->len = clen;
	return 0;
}

/*
 * Can a record be sealed from plaintext we do not own (the sender's
 * pages), which may change while we read it? Only where the tag covers
 * the ciphertext we write (GCM, ChaCha20-Poly1305): CCM's MAC reads the
 * plaintext a second time and could then disagree with the ciphertext.
 */
bool kto_crypto_can_seal_from(const struct kto_crypto *c)
{
	return !c->cipher->ccm;
}

/*
 * Content bytes of a record of @rec_len bytes on the wire if it carries
 * no padding (always so in TLS 1.2).
 */
u32 kto_crypto_data_len(const struct kto_crypto *c, u32 rec_len)
{
	return rec_len - KTO_HDR_LEN - c->explicit_len - c->tail_len;
}
