// SPDX-License-Identifier: GPL-2.0
/*
 * Traffic keys for the module, per direction, in the structs of
 * <linux/tls.h>.
 *
 * TLS 1.3: key = HKDF-Expand-Label(secret, "key", "", key_len) and
 * iv = HKDF-Expand-Label(secret, "iv", "", 12) from the application traffic
 * secret (RFC 8446 7.3); the secret comes from OpenSSL's keylog callback.
 * TLS 1.2: the key block PRF(master_secret, "key expansion",
 * server_random + client_random) is client key, server key, client IV,
 * server IV (RFC 5246 6.3; AEAD suites have no MAC keys). The IV is the
 * 4-byte implicit nonce (GCM, CCM, RFC 5288/6655) or 12 bytes (ChaCha20,
 * RFC 7905).
 */
#include <linux/tls.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <string.h>

#include "internal.h"

static const struct {
	int nid;
	unsigned short type;
	size_t key_len, size;
} kinds[] = {
	{ NID_aes_128_gcm, TLS_CIPHER_AES_GCM_128, 16, sizeof(struct tls12_crypto_info_aes_gcm_128) },
	{ NID_aes_256_gcm, TLS_CIPHER_AES_GCM_256, 32, sizeof(struct tls12_crypto_info_aes_gcm_256) },
	{ NID_aes_128_ccm, TLS_CIPHER_AES_CCM_128, 16, sizeof(struct tls12_crypto_info_aes_ccm_128) },
	{ NID_chacha20_poly1305, TLS_CIPHER_CHACHA20_POLY1305, 32,
	  sizeof(struct tls12_crypto_info_chacha20_poly1305) },
};

static int kind_of(const SSL_CIPHER *cipher)
{
	const char *name = SSL_CIPHER_get_name(cipher);
	int nid = SSL_CIPHER_get_cipher_nid(cipher);
	size_t i;

	/* CCM with an 8-byte tag shares the NID; the module takes 16-byte tags only. */
	if (strstr(name, "CCM8") || strstr(name, "CCM_8"))
		return -1;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].nid == nid)
			return (int)i;
	return -1;
}

/* NULL if the module can take this suite, else why not. */
const char *ktlsh_keys_unsupported(const SSL_CIPHER *cipher, int version)
{
	if (version != TLS1_2_VERSION && version != TLS1_3_VERSION)
		return "the module takes TLS 1.2 and 1.3 only";
	if (kind_of(cipher) < 0)
		return "the module takes AES-GCM-128/256, AES-CCM-128 (16-byte tag) "
		       "and ChaCha20-Poly1305 only";
	return NULL;
}

static int hkdf_expand_label(const char *md, const unsigned char *secret, size_t secret_len,
			     const char *label, unsigned char *out, size_t out_len)
{
	unsigned char info[2 + 1 + 255 + 1];
	size_t llen = strlen("tls13 ") + strlen(label), n = 0;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, ok;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5];

	info[n++] = out_len >> 8;
	info[n++] = out_len & 0xff;
	info[n++] = llen;
	memcpy(info + n, "tls13 ", 6);
	memcpy(info + n + 6, label, strlen(label));
	n += llen;
	info[n++] = 0;		/* empty context */
	params[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret,
						      secret_len);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
	params[4] = OSSL_PARAM_construct_end();
	ok = kctx && EVP_KDF_derive(kctx, out, out_len, params) > 0;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ok;
}

static int tls12_key_block(const char *md, SSL *ssl, unsigned char *out, size_t out_len)
{
	unsigned char master[SSL_MAX_MASTER_KEY_LENGTH];
	unsigned char seed[13 + 2 * SSL3_RANDOM_SIZE];
	SSL_SESSION *sess = SSL_get_session(ssl);
	size_t mlen = sess ? SSL_SESSION_get_master_key(sess, master, sizeof(master)) : 0;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[4];
	int ok;

	memcpy(seed, "key expansion", 13);
	SSL_get_server_random(ssl, seed + 13, SSL3_RANDOM_SIZE);
	SSL_get_client_random(ssl, seed + 13 + SSL3_RANDOM_SIZE, SSL3_RANDOM_SIZE);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, master, mlen);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof(seed));
	params[3] = OSSL_PARAM_construct_end();
	ok = mlen && kctx && EVP_KDF_derive(kctx, out, out_len, params) > 0;
	OPENSSL_cleanse(master, sizeof(master));
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ok;
}

static void put_be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = v & 0xff;
}

/* TLS 1.3 record key and IV from a traffic secret (RFC 8446 7.3). */
static int tls13_key_iv(const char *md, const unsigned char *secret, size_t len,
			unsigned char *key, size_t klen, unsigned char iv[12])
{
	return hkdf_expand_label(md, secret, len, "key", key, klen) &&
	       hkdf_expand_label(md, secret, len, "iv", iv, 12);
}

static const char *digest_of(const struct ktlsh_conn *conn)
{
	const EVP_MD *hmd = SSL_CIPHER_get_handshake_digest(conn->cipher);

	return hmd ? EVP_MD_get0_name(hmd) : NULL;
}

/*
 * Fill *info (a tls12_crypto_info_* of *size bytes) for direction dir
 * (KTLSH_READ or KTLSH_WRITE) of conn, with the record sequence number the
 * msg callback counted in the current epoch.
 */
int ktlsh_keys_derive(struct ktlsh_conn *conn, int dir, union kto_crypto_info *info,
		      size_t *size, struct ktlsh_err *err)
{
	int version = conn->tls_version, k = kind_of(conn->cipher);
	int client = conn->ctx->cfg.role == KTLSH_CLIENT;
	/* Whose keys: the client's when the client writes or the server reads. */
	int clients_keys = (dir == KTLSH_WRITE) == client;
	const char *md = digest_of(conn);
	unsigned char key[32], iv[12], block[2 * 32 + 2 * 12], seq[8];
	size_t klen, ivlen;
	int ok;

	if (k < 0 || !md)
		return ktlsh_err_set(err, KTLSH_E_UNSUPPORTED, "no kernel keys for %s",
				     conn->cipher_name);
	klen = kinds[k].key_len;
	if (version == TLS1_3_VERSION) {
		if (!conn->secret_len[dir])
			return ktlsh_err_set(err, KTLSH_E_HANDSHAKE,
					     "OpenSSL did not report the TLS 1.3 %s traffic secret",
					     clients_keys ? "client" : "server");
		ivlen = 12;
		ok = tls13_key_iv(md, conn->secret[dir], conn->secret_len[dir], key, klen, iv);
	} else {
		ivlen = kinds[k].type == TLS_CIPHER_CHACHA20_POLY1305 ? 12 : 4;
		ok = tls12_key_block(md, conn->ssl, block, 2 * klen + 2 * ivlen);
		if (ok) {
			memcpy(key, block + (clients_keys ? 0 : klen), klen);
			memcpy(iv, block + 2 * klen + (clients_keys ? 0 : ivlen), ivlen);
		}
	}
	OPENSSL_cleanse(block, sizeof(block));
	if (!ok) {
		char why[128];

		OPENSSL_cleanse(key, sizeof(key));
		return ktlsh_err_set(err, KTLSH_E_HANDSHAKE, "deriving the traffic keys failed: %s",
				     ktlsh_err_openssl(why, sizeof(why)));
	}
	put_be64(seq, conn->seq[dir]);
	memset(info, 0, sizeof(*info));
	info->info.version = version == TLS1_3_VERSION ? TLS_1_3_VERSION : TLS_1_2_VERSION;
	info->info.cipher_type = kinds[k].type;
	*size = kinds[k].size;

#define FILL(s, explicit)							\
	do {									\
		memcpy((s)->key, key, sizeof((s)->key));			\
		memcpy((s)->rec_seq, seq, sizeof((s)->rec_seq));		\
		if (version == TLS1_3_VERSION) {				\
			memcpy((s)->salt, iv, sizeof((s)->salt));		\
			memcpy((s)->iv, iv + sizeof((s)->salt), sizeof((s)->iv)); \
		} else {							\
			memcpy((s)->salt, iv, sizeof((s)->salt));		\
			memcpy((s)->iv, explicit, sizeof((s)->iv));		\
		}								\
	} while (0)

	switch (kinds[k].type) {
	case TLS_CIPHER_AES_GCM_128:
		/* TLS 1.2: the explicit nonce of the next record is its sequence number. */
		FILL(&info->gcm128, seq);
		break;
	case TLS_CIPHER_AES_GCM_256:
		FILL(&info->gcm256, seq);
		break;
	case TLS_CIPHER_AES_CCM_128:
		FILL(&info->ccm128, seq);
		break;
	case TLS_CIPHER_CHACHA20_POLY1305:
		/* No salt and no explicit nonce: the 12-byte IV in both versions. */
		memcpy(info->chacha.key, key, sizeof(info->chacha.key));
		memcpy(info->chacha.iv, iv, sizeof(info->chacha.iv));
		memcpy(info->chacha.rec_seq, seq, sizeof(info->chacha.rec_seq));
		break;
	}
#undef FILL
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	return 0;
}

/*
 * TLS 1.3: the record key (*key_len bytes) and 12-byte IV of a traffic
 * secret, for sealing a record in userspace (session.c). 1 on success.
 */
int ktlsh_keys_record(struct ktlsh_conn *conn, const unsigned char *secret, size_t len,
		      unsigned char key[32], size_t *key_len, unsigned char iv[12])
{
	int k = kind_of(conn->cipher);
	const char *md = digest_of(conn);

	if (k < 0 || !md || conn->tls_version != TLS1_3_VERSION)
		return 0;
	*key_len = kinds[k].key_len;
	return tls13_key_iv(md, secret, len, key, *key_len, iv);
}

/*
 * TLS 1.3 KeyUpdate: replace direction dir's application traffic secret
 * with the next one, HKDF-Expand-Label(secret_N, "traffic upd", "",
 * Hash.length) (RFC 8446 7.2), and restart that direction's record count.
 */
int ktlsh_keys_next_secret(struct ktlsh_conn *conn, int dir, struct ktlsh_err *err)
{
	const EVP_MD *hmd = SSL_CIPHER_get_handshake_digest(conn->cipher);
	size_t len = conn->secret_len[dir];
	unsigned char next[KTLSH_SECRET_MAX];
	char why[128];

	if (!hmd || !len || (size_t)EVP_MD_get_size(hmd) != len)
		return ktlsh_err_set(err, KTLSH_E_HANDSHAKE,
				     "KeyUpdate: no TLS 1.3 %s traffic secret to derive the next "
				     "one from", dir == KTLSH_WRITE ? "sending" : "receiving");
	if (!hkdf_expand_label(EVP_MD_get0_name(hmd), conn->secret[dir], len, "traffic upd",
			       next, len)) {
		OPENSSL_cleanse(next, sizeof(next));
		return ktlsh_err_set(err, KTLSH_E_HANDSHAKE,
				     "KeyUpdate: deriving the next traffic secret failed: %s",
				     ktlsh_err_openssl(why, sizeof(why)));
	}
	memcpy(conn->secret[dir], next, len);
	OPENSSL_cleanse(next, sizeof(next));
	conn->seq[dir] = 0;
	return 0;
}
