/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The TLS version x cipher matrix the record-level selftests run (record,
 * interop, the RX fuzzer, the codec's unit test): one list, expanded into
 * kselftest variants of a fixture whose FIXTURE_VARIANT has uint16_t
 * .version and .cipher. A new cipher is one line here.
 *
 *	FIXTURE_VARIANT(x) { uint16_t version; uint16_t cipher; };
 *	TLS_VARIANTS(x);
 */
#ifndef TLS_VARIANTS_H
#define TLS_VARIANTS_H

#include <linux/tls.h>

#define TLS_VARIANT_ADD(fixture, name, v, c)				\
	FIXTURE_VARIANT_ADD(fixture, name)				\
	{								\
		.version = v,						\
		.cipher = c,						\
	}

#define TLS_VARIANTS(fixture)						\
	TLS_VARIANT_ADD(fixture, tls12_aes_gcm_128, TLS_1_2_VERSION,	\
			TLS_CIPHER_AES_GCM_128);			\
	TLS_VARIANT_ADD(fixture, tls12_aes_gcm_256, TLS_1_2_VERSION,	\
			TLS_CIPHER_AES_GCM_256);			\
	TLS_VARIANT_ADD(fixture, tls12_aes_ccm_128, TLS_1_2_VERSION,	\
			TLS_CIPHER_AES_CCM_128);			\
	TLS_VARIANT_ADD(fixture, tls12_chacha20_poly1305,		\
			TLS_1_2_VERSION, TLS_CIPHER_CHACHA20_POLY1305);	\
	TLS_VARIANT_ADD(fixture, tls13_aes_gcm_128, TLS_1_3_VERSION,	\
			TLS_CIPHER_AES_GCM_128);			\
	TLS_VARIANT_ADD(fixture, tls13_aes_gcm_256, TLS_1_3_VERSION,	\
			TLS_CIPHER_AES_GCM_256);			\
	TLS_VARIANT_ADD(fixture, tls13_aes_ccm_128, TLS_1_3_VERSION,	\
			TLS_CIPHER_AES_CCM_128);			\
	TLS_VARIANT_ADD(fixture, tls13_chacha20_poly1305,		\
			TLS_1_3_VERSION, TLS_CIPHER_CHACHA20_POLY1305)

#endif
