/* SPDX-License-Identifier: GPL-2.0 */
/*
 * One direction's keys as setsockopt(SOL_TLS, TLS_TX / TLS_RX) takes them:
 * the structs of <linux/tls.h> for the ciphers the module implements, in
 * one union, and each cipher's struct size and name. Header-only, for
 * libktlsh, the tools, the benchmark and the selftests alike; a new cipher
 * is added here once.
 */
#ifndef KTO_CRYPTO_INFO_H
#define KTO_CRYPTO_INFO_H

#include <stddef.h>
#include <stdint.h>
#include <linux/tls.h>

union kto_crypto_info {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_aes_ccm_128 ccm128;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

/* The crypto_info size of a cipher the module takes, or 0. */
static inline size_t kto_crypto_info_len(uint16_t cipher)
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

/* The cipher's name as the tools spell it (--cipher), or NULL. */
static inline const char *kto_crypto_info_name(uint16_t cipher)
{
	switch (cipher) {
	case TLS_CIPHER_AES_GCM_128:
		return "aes-gcm-128";
	case TLS_CIPHER_AES_GCM_256:
		return "aes-gcm-256";
	case TLS_CIPHER_AES_CCM_128:
		return "aes-ccm-128";
	case TLS_CIPHER_CHACHA20_POLY1305:
		return "chacha20-poly1305";
	}
	return NULL;
}

#endif /* KTO_CRYPTO_INFO_H */
