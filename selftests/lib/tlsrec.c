// SPDX-License-Identifier: GPL-2.0
/*
 * tlsrec: TLS 1.2 / 1.3 record protection over OpenSSL EVP AEADs. See
 * tlsrec.h for the wire formats; this file only follows them.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "tlsrec.h"

/* Where a crypto_info keeps its fields, and what the cipher needs. */
struct suite {
	uint16_t cipher;
	size_t info_size;
	size_t key_len;
	size_t salt_len;
	size_t iv_len;
	const EVP_CIPHER *(*evp)(void);
};

static const struct suite suites[] = {
	{ TLS_CIPHER_AES_GCM_128, sizeof(struct tls12_crypto_info_aes_gcm_128),
	  TLS_CIPHER_AES_GCM_128_KEY_SIZE, TLS_CIPHER_AES_GCM_128_SALT_SIZE,
	  TLS_CIPHER_AES_GCM_128_IV_SIZE, EVP_aes_128_gcm },
	{ TLS_CIPHER_AES_GCM_256, sizeof(struct tls12_crypto_info_aes_gcm_256),
	  TLS_CIPHER_AES_GCM_256_KEY_SIZE, TLS_CIPHER_AES_GCM_256_SALT_SIZE,
	  TLS_CIPHER_AES_GCM_256_IV_SIZE, EVP_aes_256_gcm },
	{ TLS_CIPHER_CHACHA20_POLY1305,
	  sizeof(struct tls12_crypto_info_chacha20_poly1305),
	  TLS_CIPHER_CHACHA20_POLY1305_KEY_SIZE,
	  TLS_CIPHER_CHACHA20_POLY1305_SALT_SIZE,
	  TLS_CIPHER_CHACHA20_POLY1305_IV_SIZE, EVP_chacha20_poly1305 },
	{ TLS_CIPHER_AES_CCM_128, sizeof(struct tls12_crypto_info_aes_ccm_128),
	  TLS_CIPHER_AES_CCM_128_KEY_SIZE, TLS_CIPHER_AES_CCM_128_SALT_SIZE,
	  TLS_CIPHER_AES_CCM_128_IV_SIZE, EVP_aes_128_ccm },
};

static const struct suite *suite_of(uint16_t cipher)
{
	size_t i;

	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (suites[i].cipher == cipher)
			return &suites[i];
	return NULL;
}

/*
 * The four crypto_info layouts share one order (info, iv, key, salt,
 * rec_seq) with different sizes; find the fields of @keys.
 */
static void fields(const struct suite *s, unsigned char *keys,
		   unsigned char **iv, unsigned char **key,
		   unsigned char **salt, unsigned char **rec_seq)
{
	*iv = keys + sizeof(struct tls_crypto_info);
	*key = *iv + s->iv_len;
	*salt = *key + s->key_len;
	*rec_seq = *salt + s->salt_len;
}

size_t tlsrec_keys_size(uint16_t cipher)
{
	const struct suite *s = suite_of(cipher);

	return s ? s->info_size : 0;
}

int tlsrec_keys_random(union tlsrec_keys *keys, uint16_t version,
		       uint16_t cipher)
{
	const struct suite *s = suite_of(cipher);
	unsigned char *iv, *key, *salt, *rec_seq;

	if (!keys || !s ||
	    (version != TLS_1_2_VERSION && version != TLS_1_3_VERSION))
		return TLSREC_EINVAL;
	memset(keys, 0, sizeof(*keys));
	keys->info.version = version;
	keys->info.cipher_type = cipher;
	fields(s, (unsigned char *)keys, &iv, &key, &salt, &rec_seq);
	/* iv, key, salt and rec_seq are contiguous: one draw fills them. */
	if (RAND_bytes(iv, (int)(s->info_size - sizeof(keys->info))) != 1)
		return TLSREC_ECRYPTO;
	rec_seq[0] &= 0x7f;
	return (int)s->info_size;
}

int tlsrec_init(struct tlsrec *r, const void *crypto_info, size_t len)
{
	struct tls_crypto_info info;
	unsigned char *iv, *key, *salt, *rec_seq;
	const struct suite *s;
	int i;

	if (!r || !crypto_info || len < sizeof(info))
		return TLSREC_EINVAL;
	memset(r, 0, sizeof(*r));
	memcpy(&info, crypto_info, sizeof(info));
	s = suite_of(info.cipher_type);
	if (!s || len < s->info_size ||
	    (info.version != TLS_1_2_VERSION && info.version != TLS_1_3_VERSION))
		return TLSREC_EINVAL;

	fields(s, (unsigned char *)crypto_info, &iv, &key, &salt, &rec_seq);
	r->version = info.version;
	r->cipher = info.cipher_type;
	r->key_len = s->key_len;
	memcpy(r->key, key, s->key_len);
	/* salt | iv is 12 bytes for every cipher here (ChaCha: 0 + 12). */
	memcpy(r->nonce, salt, s->salt_len);
	memcpy(r->nonce + s->salt_len, iv, s->iv_len);
	if (r->version == TLS_1_2_VERSION &&
	    r->cipher != TLS_CIPHER_CHACHA20_POLY1305) {
		r->explicit_len = 8;
		memcpy(r->explicit_iv, iv, 8);
	}
	for (i = 0; i < 8; i++)
		r->seq = r->seq << 8 | rec_seq[i];
	return 0;
}

void tlsrec_uninit(struct tlsrec *r)
{
	if (r)
		OPENSSL_cleanse(r, sizeof(*r));
}

uint64_t tlsrec_seq(const struct tlsrec *r)
{
	return r->seq;
}

size_t tlsrec_overhead(const struct tlsrec *r, size_t pad)
{
	size_t n = TLSREC_HDR_LEN + r->explicit_len + TLSREC_TAG_LEN;

	return r->version == TLS_1_3_VERSION ? n + 1 + pad : n;
}

static void put_be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = v & 0xff;
}

/*
 * The per-record nonce. TLS 1.2 GCM/CCM: salt | explicit nonce from the
 * record. Everything else: the 12-byte static iv XOR the sequence number
 * (RFC 7905 section 2, RFC 8446 section 5.3).
 */
static void make_nonce(const struct tlsrec *r, const unsigned char *explicit,
		       unsigned char *nonce)
{
	unsigned char seq[8];
	int i;

	memcpy(nonce, r->nonce, TLSREC_NONCE_LEN);
	if (r->explicit_len) {
		memcpy(nonce + 4, explicit, 8);
		return;
	}
	put_be64(seq, r->seq);
	for (i = 0; i < 8; i++)
		nonce[4 + i] ^= seq[i];
}

/* TLS 1.2 AAD: seq | type | version | plaintext length. */
static void make_aad12(const struct tlsrec *r, uint8_t type, size_t len,
		       unsigned char *aad)
{
	put_be64(aad, r->seq);
	aad[8] = type;
	aad[9] = 3;
	aad[10] = 3;
	aad[11] = len >> 8;
	aad[12] = len & 0xff;
}

static void advance(struct tlsrec *r)
{
	if (++r->seq == 0)
		r->seq_exhausted = 1;
}

ssize_t tlsrec_seal(struct tlsrec *r, uint8_t type, const void *data,
		    size_t len, size_t pad, void *out, size_t out_size)
{
	int tls13 = r && r->version == TLS_1_3_VERSION;
	unsigned char nonce[TLSREC_NONCE_LEN], aad[13], *o = out, *p;
	size_t inner, rec_len;
	int err, i;

	if (!r || !out || (len && !data) || (!tls13 && pad) ||
	    (tls13 && type == 0))
		return TLSREC_EINVAL;
	if (len > TLSREC_MAX_PLAIN || pad > TLSREC_MAX_PLAIN - len)
		return TLSREC_ELENGTH;
	if (r->seq_exhausted)
		return TLSREC_ESEQ;
	inner = tls13 ? len + 1 + pad : len;
	rec_len = r->explicit_len + inner + TLSREC_TAG_LEN;
	if (out_size < TLSREC_HDR_LEN + rec_len)
		return TLSREC_ESPACE;

	o[0] = tls13 ? TLSREC_TYPE_DATA : type;
	o[1] = 3;
	o[2] = 3;
	o[3] = rec_len >> 8;
	o[4] = rec_len & 0xff;
	memcpy(o + TLSREC_HDR_LEN, r->explicit_iv, r->explicit_len);
	p = o + TLSREC_HDR_LEN + r->explicit_len;
	if (len)
		memmove(p, data, len);
	if (tls13) {
		p[len] = type;
		memset(p + len + 1, 0, pad);
	}

	make_nonce(r, r->explicit_iv, nonce);
	if (tls13)
		memcpy(aad, o, TLSREC_HDR_LEN);
	else
		make_aad12(r, type, len, aad);
	err = tlsrec_aead(r->cipher, 1, r->key, nonce, sizeof(nonce), aad,
			  tls13 ? TLSREC_HDR_LEN : 13, p, inner, p, p + inner,
			  TLSREC_TAG_LEN);
	if (err)
		return err;

	/* Like kTLS, the explicit nonce counts records, big-endian. */
	for (i = (int)r->explicit_len - 1; i >= 0; i--)
		if (++r->explicit_iv[i])
			break;
	advance(r);
	return (ssize_t)(TLSREC_HDR_LEN + rec_len);
}

ssize_t tlsrec_wire_len(const void *buf, size_t len)
{
	const unsigned char *h = buf;

	if (!buf || len < TLSREC_HDR_LEN)
		return TLSREC_ESHORT;
	return TLSREC_HDR_LEN + (h[3] << 8 | h[4]);
}

ssize_t tlsrec_open(struct tlsrec *r, const void *wire, size_t len,
		    uint8_t *type, void *out, size_t out_size, size_t *used)
{
	int tls13 = r && r->version == TLS_1_3_VERSION;
	const unsigned char *h = wire, *ct;
	unsigned char nonce[TLSREC_NONCE_LEN], aad[13], *plain;
	size_t rec_len, inner, content;
	ssize_t ret;

	if (!r || !wire || !type || (out_size && !out))
		return TLSREC_EINVAL;
	if (len < TLSREC_HDR_LEN)
		return TLSREC_ESHORT;
	if (h[1] != 3 || h[2] != 3 || (tls13 && h[0] != TLSREC_TYPE_DATA))
		return TLSREC_EHEADER;
	/*
	 * 1.2: at most 2^14 content bytes; 1.3: 2^14 + 1 inner plaintext.
	 * Checked before waiting for the body, as a stream parser would.
	 */
	rec_len = (size_t)(h[3] << 8 | h[4]);
	if (rec_len < r->explicit_len + TLSREC_TAG_LEN + (tls13 ? 1 : 0))
		return TLSREC_ELENGTH;
	inner = rec_len - r->explicit_len - TLSREC_TAG_LEN;
	if (inner > TLSREC_MAX_PLAIN + (tls13 ? 1 : 0))
		return TLSREC_ELENGTH;
	if (len < TLSREC_HDR_LEN + rec_len)
		return TLSREC_ESHORT;
	if (r->seq_exhausted)
		return TLSREC_ESEQ;

	ct = h + TLSREC_HDR_LEN + r->explicit_len;
	make_nonce(r, h + TLSREC_HDR_LEN, nonce);
	if (tls13)
		memcpy(aad, h, TLSREC_HDR_LEN);
	else
		make_aad12(r, h[0], inner, aad);
	/* Padding makes the inner plaintext longer than the content. */
	plain = malloc(inner + 1);
	if (!plain)
		return TLSREC_ECRYPTO;
	/* EVP wants a writable tag pointer even though it only reads it. */
	ret = tlsrec_aead(r->cipher, 0, r->key, nonce, sizeof(nonce), aad,
			  tls13 ? TLSREC_HDR_LEN : 13, ct, inner, plain,
			  (void *)(ct + inner), TLSREC_TAG_LEN);
	if (ret)
		goto out;

	content = inner;
	if (tls13) {
		while (content > 0 && plain[content - 1] == 0)
			content--;
		if (content == 0) {
			ret = TLSREC_ENOTYPE;
			goto out;
		}
		*type = plain[--content];
	} else {
		*type = h[0];
	}
	if (content > out_size) {
		ret = TLSREC_ESPACE;
		goto out;
	}
	if (content)
		memcpy(out, plain, content);
	if (used)
		*used = TLSREC_HDR_LEN + rec_len;
	advance(r);
	ret = (ssize_t)content;
out:
	OPENSSL_cleanse(plain, inner + 1);
	free(plain);
	return ret;
}

int tlsrec_aead(uint16_t cipher, int enc, const void *key,
		const void *nonce, size_t nonce_len,
		const void *aad, size_t aad_len,
		const void *in, size_t len, void *out,
		void *tag, size_t tag_len)
{
	const struct suite *s = suite_of(cipher);
	int ccm = cipher == TLS_CIPHER_AES_CCM_128;
	unsigned char dummy[16];
	EVP_CIPHER_CTX *ctx;
	int n, ret = TLSREC_ECRYPTO;

	if (!s || !key || !nonce || !tag || (aad_len && !aad) ||
	    (len && (!in || !out)) || len > INT_MAX || aad_len > INT_MAX ||
	    nonce_len > 16 || tag_len > 16)
		return TLSREC_EINVAL;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return TLSREC_ECRYPTO;
	if (EVP_CipherInit_ex(ctx, s->evp(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, (int)nonce_len,
				NULL) != 1)
		goto out;
	/* CCM fixes the tag length (and, to decrypt, the tag) before the key. */
	if (ccm && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)tag_len,
				       enc ? NULL : tag) != 1)
		goto out;
	if (EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1)
		goto out;
	/* CCM encodes the message length ahead of the AAD. */
	if (ccm && EVP_CipherUpdate(ctx, NULL, &n, NULL, (int)len) != 1)
		goto out;
	if (aad_len && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		goto out;
	/*
	 * CCM computes and checks the tag in this call, so it must happen
	 * even for an empty message (with non-NULL pointers).
	 */
	if (len || ccm) {
		if (EVP_CipherUpdate(ctx, len ? out : dummy, &n,
				     len ? in : dummy, (int)len) != 1) {
			ret = enc ? TLSREC_ECRYPTO : TLSREC_EAUTH;
			goto out;
		}
	}
	if (!enc && !ccm &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)tag_len,
				tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, dummy, &n) != 1) {
		ret = enc ? TLSREC_ECRYPTO : TLSREC_EAUTH;
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, (int)tag_len,
				       tag) != 1)
		goto out;
	ret = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

const char *tlsrec_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case TLSREC_EINVAL:
		return "invalid argument or unsupported version/cipher";
	case TLSREC_ESPACE:
		return "output buffer too small";
	case TLSREC_ESHORT:
		return "record incomplete: fewer bytes than its header announces";
	case TLSREC_EHEADER:
		return "bad record header (version or outer content type)";
	case TLSREC_ELENGTH:
		return "record length out of bounds";
	case TLSREC_EAUTH:
		return "authentication failed (bad tag)";
	case TLSREC_ENOTYPE:
		return "TLS 1.3 inner plaintext has no content type";
	case TLSREC_ESEQ:
		return "sequence number exhausted";
	case TLSREC_ECRYPTO:
		return "OpenSSL error";
	default:
		return "unknown tlsrec error";
	}
}
