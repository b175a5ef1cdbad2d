/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tlsrec: an independent userspace TLS record codec (OpenSSL EVP AEADs),
 * keyed with the same struct tls12_crypto_info_* a kTLS user hands to
 * setsockopt(SOL_TLS, TLS_TX/TLS_RX). The tests use it as the peer of the
 * kernel record layer: what one side seals, the other must open.
 *
 * Record protection, per cipher suite and version:
 *
 *   TLS 1.2 AES-GCM (RFC 5288), AES-CCM (RFC 6655):
 *     wire   = type | 03 03 | len | explicit(8) | ciphertext | tag(16)
 *     nonce  = salt(4) | explicit(8); the sender's explicit nonce starts at
 *              the crypto_info iv and counts up with every record (as kTLS)
 *     AAD    = seq(8) | type | 03 03 | plaintext length(2)
 *   TLS 1.2 ChaCha20-Poly1305 (RFC 7905):
 *     wire   = type | 03 03 | len | ciphertext | tag(16)
 *     nonce  = iv(12) XOR (0(4) | seq(8)); AAD as above
 *   TLS 1.3, any of the four (RFC 8446 section 5.2):
 *     wire   = 17 | 03 03 | len | AEAD(content | type | zeros) | tag(16)
 *     nonce  = (salt | iv)(12) XOR (0(4) | seq(8))
 *     AAD    = the 5-byte header, whose len counts ciphertext and tag
 *
 * The sequence number starts at the crypto_info rec_seq and advances by
 * one for every record sealed or successfully opened.
 */
#ifndef TLSREC_H
#define TLSREC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/tls.h>

#define TLSREC_HDR_LEN		5
#define TLSREC_TAG_LEN		16
#define TLSREC_NONCE_LEN	12
#define TLSREC_MAX_PLAIN	16384	/* 2^14: content bytes in one record */
/* The largest record tlsrec_seal() writes: 1.2 explicit nonce or 1.3 type. */
#define TLSREC_MAX_WIRE		(TLSREC_HDR_LEN + 8 + TLSREC_MAX_PLAIN + \
				 TLSREC_TAG_LEN)

#define TLSREC_TYPE_CHANGE_CIPHER_SPEC	20
#define TLSREC_TYPE_ALERT		21
#define TLSREC_TYPE_HANDSHAKE		22
#define TLSREC_TYPE_DATA		23

/* Every failure is one of these (negative); tlsrec_strerror() names it. */
enum tlsrec_err {
	TLSREC_EINVAL = -1,	/* bad argument, unknown version or cipher */
	TLSREC_ESPACE = -2,	/* the output buffer is too small */
	TLSREC_ESHORT = -3,	/* fewer bytes than the header announces */
	TLSREC_EHEADER = -4,	/* record header: bad version or outer type */
	TLSREC_ELENGTH = -5,	/* record length outside the RFC's bounds */
	TLSREC_EAUTH = -6,	/* AEAD tag check failed */
	TLSREC_ENOTYPE = -7,	/* TLS 1.3 inner plaintext is all zeros */
	TLSREC_ESEQ = -8,	/* the sequence number is exhausted */
	TLSREC_ECRYPTO = -9,	/* OpenSSL failed for another reason */
};

/* Any of the four key sets, as setsockopt(SOL_TLS) takes them. */
union tlsrec_keys {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
	struct tls12_crypto_info_aes_ccm_128 ccm128;
};

/* One direction of a connection. Treat the fields as private. */
struct tlsrec {
	uint16_t version;		/* TLS_1_2_VERSION or TLS_1_3_VERSION */
	uint16_t cipher;		/* TLS_CIPHER_* */
	size_t key_len;
	size_t explicit_len;		/* 8 for 1.2 GCM/CCM, else 0 */
	unsigned char key[32];
	unsigned char nonce[TLSREC_NONCE_LEN];	/* salt | iv */
	unsigned char explicit_iv[8];	/* next explicit nonce sealed */
	uint64_t seq;
	int seq_exhausted;
};

/* sizeof the crypto_info struct for @cipher, or 0 if unsupported. */
size_t tlsrec_keys_size(uint16_t cipher);

/*
 * Fill @keys for @version and @cipher with random key, iv, salt and
 * rec_seq (rec_seq stays below 2^63 so no test runs into its end).
 * Returns the size to pass to setsockopt, or a negative tlsrec_err.
 */
int tlsrec_keys_random(union tlsrec_keys *keys, uint16_t version,
		       uint16_t cipher);

/* Set up @r from a crypto_info of @len bytes. 0 or a negative tlsrec_err. */
int tlsrec_init(struct tlsrec *r, const void *crypto_info, size_t len);
/* Wipe the key material. */
void tlsrec_uninit(struct tlsrec *r);

/* The sequence number the next record will use. */
uint64_t tlsrec_seq(const struct tlsrec *r);

/* Bytes a sealed record adds to @len content bytes with @pad padding. */
size_t tlsrec_overhead(const struct tlsrec *r, size_t pad);

/*
 * Seal one record of content @type holding @len bytes of @data, with @pad
 * zero bytes of TLS 1.3 padding (must be 0 for TLS 1.2), into @out.
 * @len + @pad must not exceed TLSREC_MAX_PLAIN. Returns the record's
 * length on the wire or a negative tlsrec_err.
 */
ssize_t tlsrec_seal(struct tlsrec *r, uint8_t type, const void *data,
		    size_t len, size_t pad, void *out, size_t out_size);

/*
 * The full length (header included) of the record starting at @buf, read
 * from its header; TLSREC_ESHORT if fewer than 5 bytes are given.
 */
ssize_t tlsrec_wire_len(const void *buf, size_t len);

/*
 * Open the record at the start of @wire (@len bytes available, which may
 * run past the record). Stores the content type in *@type, the content in
 * @out, and the record's wire length in *@used (if not NULL). Returns the
 * content length or a negative tlsrec_err; on failure the sequence number
 * does not move.
 */
ssize_t tlsrec_open(struct tlsrec *r, const void *wire, size_t len,
		    uint8_t *type, void *out, size_t out_size, size_t *used);

/*
 * The bare AEAD as the codec drives it, exposed for known-answer tests:
 * encrypt (@enc = 1) @len bytes of @in into @out and write the tag to
 * @tag, or decrypt and check @tag. Returns 0, TLSREC_EAUTH on a tag
 * mismatch, or another negative tlsrec_err.
 */
int tlsrec_aead(uint16_t cipher, int enc, const void *key,
		const void *nonce, size_t nonce_len,
		const void *aad, size_t aad_len,
		const void *in, size_t len, void *out,
		void *tag, size_t tag_len);

const char *tlsrec_strerror(int err);

#endif /* TLSREC_H */
