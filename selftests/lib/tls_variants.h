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

/* The four ciphers of one version: variants tls12_aes_gcm_128 and so on. */
#define TLS_VARIANTS_OF(fixture, v, version)				\
	TLS_VARIANT_ADD(fixture, tls##v##_aes_gcm_128, version,		\
			TLS_CIPHER_AES_GCM_128);			\
	TLS_VARIANT_ADD(fixture, tls##v##_aes_gcm_256, version,		\
			TLS_CIPHER_AES_GCM_256);			\
	TLS_VARIANT_ADD(fixture, tls##v##_aes_ccm_128, version,		\
			TLS_CIPHER_AES_CCM_128);			\
	TLS_VARIANT_ADD(fixture, tls##v##_chacha20_poly1305, version,	\
			TLS_CIPHER_CHACHA20_POLY1305)

#define TLS_VARIANTS(fixture)						\
	TLS_VARIANTS_OF(fixture, 12, TLS_1_2_VERSION);			\
	TLS_VARIANTS_OF(fixture, 13, TLS_1_3_VERSION)

#endif
