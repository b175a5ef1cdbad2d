// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side unit test of the tlsrec codec (no VM, no kernel TLS): the
 * AEADs against published known answers, the TLS 1.3 framing against the
 * RFC 8448 records, the TLS 1.2 framing against nonces and AADs built by
 * hand here, round trips for every version x cipher, and the errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "kselftest_harness.h"
#include "tlsrec.h"
#include "tls_variants.h"

/* Hex digits to bytes; spaces are skipped. Returns the byte count. */
static size_t unhex(const char *s, unsigned char *out)
{
	size_t n = 0;
	unsigned int b;

	while (*s) {
		if (*s == ' ') {
			s++;
			continue;
		}
		if (sscanf(s, "%2x", &b) != 1)
			abort();
		out[n++] = (unsigned char)b;
		s += 2;
	}
	return n;
}

/* ---- AEAD known answers ---------------------------------------------- */

struct kat {
	uint16_t cipher;
	const char *key, *nonce, *aad, *pt, *ct, *tag;
};

static void check_kat(struct __test_metadata *_metadata, const struct kat *k)
{
	unsigned char key[32], nonce[16], aad[64], pt[128], ct[128], tag[16];
	unsigned char out[128], otag[16];
	size_t klen, nlen, alen, plen, clen, tlen;

	klen = unhex(k->key, key);
	nlen = unhex(k->nonce, nonce);
	alen = unhex(k->aad, aad);
	plen = unhex(k->pt, pt);
	clen = unhex(k->ct, ct);
	tlen = unhex(k->tag, tag);
	ASSERT_EQ(plen, clen);
	(void)klen;

	ASSERT_EQ(tlsrec_aead(k->cipher, 1, key, nonce, nlen, aad, alen, pt,
			      plen, out, otag, tlen), 0);
	EXPECT_EQ(memcmp(out, ct, clen), 0);
	EXPECT_EQ(memcmp(otag, tag, tlen), 0);

	ASSERT_EQ(tlsrec_aead(k->cipher, 0, key, nonce, nlen, aad, alen, ct,
			      clen, out, tag, tlen), 0);
	EXPECT_EQ(memcmp(out, pt, plen), 0);

	tag[tlen - 1] ^= 0x01;
	EXPECT_EQ(tlsrec_aead(k->cipher, 0, key, nonce, nlen, aad, alen, ct,
			      clen, out, tag, tlen), TLSREC_EAUTH);
	tag[tlen - 1] ^= 0x01;
	aad[0] ^= 0x80;
	EXPECT_EQ(tlsrec_aead(k->cipher, 0, key, nonce, nlen, aad, alen, ct,
			      clen, out, tag, tlen), TLSREC_EAUTH);
}

/* McGrew & Viega, "The Galois/Counter Mode of Operation", test case 4. */
static const char gcm_tc4_pt[] =
	"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";

TEST(kat_aes_gcm_128)
{
	const struct kat k = {
		.cipher = TLS_CIPHER_AES_GCM_128,
		.key = "feffe9928665731c6d6a8f9467308308",
		.nonce = "cafebabefacedbaddecaf888",
		.aad = "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		.pt = gcm_tc4_pt,
		.ct = "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e23"
		      "29aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac97"
		      "3d58e091",
		.tag = "5bc94fbc3221a5db94fae95ae7121a47",
	};

	check_kat(_metadata, &k);
}

/* Same document, test case 16 (the 256-bit key variant of case 4). */
TEST(kat_aes_gcm_256)
{
	const struct kat k = {
		.cipher = TLS_CIPHER_AES_GCM_256,
		.key = "feffe9928665731c6d6a8f9467308308"
		       "feffe9928665731c6d6a8f9467308308",
		.nonce = "cafebabefacedbaddecaf888",
		.aad = "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		.pt = gcm_tc4_pt,
		.ct = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd"
		      "2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0a"
		      "bcc9f662",
		.tag = "76fc6ece0f4e1768cddf8853bb2d551b",
	};

	check_kat(_metadata, &k);
}

/* RFC 8439 section 2.8.2. */
TEST(kat_chacha20_poly1305)
{
	static const char msg[] = "Ladies and Gentlemen of the class of '99: "
		"If I could offer you only one tip for the future, sunscreen "
		"would be it.";
	char pt[2 * sizeof(msg) + 1];
	size_t i;

	for (i = 0; i + 1 < sizeof(msg); i++)
		sprintf(pt + 2 * i, "%02x", (unsigned char)msg[i]);
	{
		const struct kat k = {
			.cipher = TLS_CIPHER_CHACHA20_POLY1305,
			.key = "808182838485868788898a8b8c8d8e8f"
			       "909192939495969798999a9b9c9d9e9f",
			.nonce = "070000004041424344454647",
			.aad = "50515253c0c1c2c3c4c5c6c7",
			.pt = pt,
			.ct = "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fe"
			      "a9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b"
			      "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c"
			      "9803aee328091b58fab324e4fad675945585808b4831d7bc"
			      "3ff4def08e4b7a9de576d26586cec64b61161ae10b594f09"
			      "e26a7e902ecbd0600691",
			.tag = "1ae10b594f09e26a7e902ecbd0600691",
		};
		struct kat fixed = k;
		char ct[sizeof(msg) * 2 + 1];

		/* The RFC prints ciphertext and tag apart; split them here. */
		memcpy(ct, k.ct, 2 * (sizeof(msg) - 1));
		ct[2 * (sizeof(msg) - 1)] = 0;
		fixed.ct = ct;
		check_kat(_metadata, &fixed);
	}
}

/* RFC 3610 section 8, packet vector #1 (13-byte nonce, 8-byte tag). */
TEST(kat_aes_ccm_128)
{
	const struct kat k = {
		.cipher = TLS_CIPHER_AES_CCM_128,
		.key = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf",
		.nonce = "00000003020100a0a1a2a3a4a5",
		.aad = "0001020304050607",
		.pt = "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e",
		.ct = "588c979a61c663d2f066d0c2c0f989806d5f6b61dac384",
		.tag = "17e8d12cfdf926e0",
	};

	check_kat(_metadata, &k);
}

/* ---- TLS 1.3 framing: RFC 8448 section 3 (TLS_AES_128_GCM_SHA256) ---- */

/* kTLS splits the 12-byte TLS 1.3 write iv into salt (4) and iv (8). */
static void keys_8448(union tlsrec_keys *k, const char *key, const char *iv,
		      uint64_t seq)
{
	unsigned char b[12];
	int i;

	memset(k, 0, sizeof(*k));
	k->info.version = TLS_1_3_VERSION;
	k->info.cipher_type = TLS_CIPHER_AES_GCM_128;
	unhex(key, k->gcm128.key);
	unhex(iv, b);
	memcpy(k->gcm128.salt, b, 4);
	memcpy(k->gcm128.iv, b + 4, 8);
	for (i = 7; i >= 0; i--, seq >>= 8)
		k->gcm128.rec_seq[i] = seq & 0xff;
}

static void check_8448(struct __test_metadata *_metadata,
		       const union tlsrec_keys *k, const char *record)
{
	unsigned char wire[128], out[128], pt[50];
	struct tlsrec tx, rx;
	size_t len, used = 0;
	uint8_t type = 0;
	int i;

	for (i = 0; i < 50; i++)
		pt[i] = i;
	len = unhex(record, wire);
	ASSERT_EQ(len, 72);

	ASSERT_EQ(tlsrec_init(&rx, k, sizeof(k->gcm128)), 0);
	ASSERT_EQ(tlsrec_open(&rx, wire, len, &type, out, sizeof(out), &used),
		  50);
	EXPECT_EQ(type, TLSREC_TYPE_DATA);
	EXPECT_EQ(used, 72);
	EXPECT_EQ(memcmp(out, pt, 50), 0);

	ASSERT_EQ(tlsrec_init(&tx, k, sizeof(k->gcm128)), 0);
	ASSERT_EQ(tlsrec_seal(&tx, TLSREC_TYPE_DATA, pt, 50, 0, out,
			      sizeof(out)), 72);
	EXPECT_EQ(memcmp(out, wire, 72), 0);
	tlsrec_uninit(&tx);
	tlsrec_uninit(&rx);
}

/* {client} send application_data record: the first record, seq 0. */
TEST(rfc8448_client_app_data)
{
	union tlsrec_keys k;

	keys_8448(&k, "17422dda596ed5d9acd890e3c63f5051",
		  "5b78923dee08579033e523d9", 0);
	check_8448(_metadata, &k,
		   "1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa"
		   "66bcab3f2b9819a8a5b46b395bd54a9a20441e2b62974e1f5a6292a2"
		   "977014bd1e3deae63aeebb21694915e4");
}

/* {server} send application_data record: seq 1 (after NewSessionTicket). */
TEST(rfc8448_server_app_data)
{
	union tlsrec_keys k;

	keys_8448(&k, "9f02283b6c9c07efc26bb9f2ac92e356",
		  "cf782b88dd83549aadf1e984", 1);
	check_8448(_metadata, &k,
		   "17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f"
		   "82aa1b36e30efaf97d90e6dffc602dcb501a59a8fcc49c4bf2e5f0a2"
		   "1c0047c2abf332540dd032e167c2955d");
}

/* ---- every version x cipher ------------------------------------------ */

FIXTURE(codec)
{
	union tlsrec_keys keys;
	int keys_len;
	struct tlsrec tx, rx;
	unsigned char *data, *wire, *out;
};

FIXTURE_VARIANT(codec)
{
	uint16_t version;
	uint16_t cipher;
};

TLS_VARIANTS(codec);

#define BUF_LEN (TLSREC_MAX_WIRE + 64)

FIXTURE_SETUP(codec)
{
	self->keys_len = tlsrec_keys_random(&self->keys, variant->version,
					    variant->cipher);
	ASSERT_GT(self->keys_len, 0);
	ASSERT_EQ(tlsrec_init(&self->tx, &self->keys, self->keys_len), 0);
	ASSERT_EQ(tlsrec_init(&self->rx, &self->keys, self->keys_len), 0);
	self->data = malloc(BUF_LEN);
	self->wire = malloc(BUF_LEN);
	self->out = malloc(BUF_LEN);
	ASSERT_NE(self->data, NULL);
	ASSERT_NE(self->wire, NULL);
	ASSERT_NE(self->out, NULL);
	ASSERT_EQ(RAND_bytes(self->data, BUF_LEN), 1);
}

FIXTURE_TEARDOWN(codec)
{
	tlsrec_uninit(&self->tx);
	tlsrec_uninit(&self->rx);
	free(self->data);
	free(self->wire);
	free(self->out);
}

/* Seal @len bytes (+@pad) of type @type, open them, compare. */
static void round_trip(struct __test_metadata *_metadata,
		       FIXTURE_DATA(codec) *self, uint8_t type, size_t len,
		       size_t pad)
{
	uint64_t seq = tlsrec_seq(&self->tx);
	ssize_t wlen, n;
	size_t used = 0;
	uint8_t got = 0;

	wlen = tlsrec_seal(&self->tx, type, self->data, len, pad, self->wire,
			   BUF_LEN);
	ASSERT_EQ(wlen, (ssize_t)(len + tlsrec_overhead(&self->tx, pad)))
		TH_LOG("seal %zu+%zu: %s", len, pad, tlsrec_strerror(wlen));
	EXPECT_EQ(tlsrec_wire_len(self->wire, wlen), wlen);
	n = tlsrec_open(&self->rx, self->wire, wlen, &got, self->out, BUF_LEN,
			&used);
	ASSERT_EQ(n, (ssize_t)len)
		TH_LOG("open %zu+%zu: %s", len, pad, tlsrec_strerror(n));
	EXPECT_EQ(got, type);
	EXPECT_EQ(used, (size_t)wlen);
	EXPECT_EQ(memcmp(self->out, self->data, len), 0);
	EXPECT_EQ(tlsrec_seq(&self->tx), seq + 1);
	EXPECT_EQ(tlsrec_seq(&self->rx), seq + 1);
}

TEST_F(codec, round_trip_sizes)
{
	static const size_t sizes[] = { 0, 1, 16383, 16384 };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		round_trip(_metadata, self, TLSREC_TYPE_DATA, sizes[i], 0);
	round_trip(_metadata, self, TLSREC_TYPE_ALERT, 2, 0);
	round_trip(_metadata, self, TLSREC_TYPE_HANDSHAKE, 300, 0);
}

TEST_F(codec, padding)
{
	if (variant->version != TLS_1_3_VERSION) {
		EXPECT_EQ(tlsrec_seal(&self->tx, TLSREC_TYPE_DATA, self->data,
				      10, 1, self->wire, BUF_LEN),
			  TLSREC_EINVAL);
		return;
	}
	round_trip(_metadata, self, TLSREC_TYPE_DATA, 1, 100);
	round_trip(_metadata, self, TLSREC_TYPE_DATA, 0, 16384);
	round_trip(_metadata, self, TLSREC_TYPE_ALERT, 2, 16382);
	round_trip(_metadata, self, TLSREC_TYPE_DATA, 16383, 1);
	EXPECT_EQ(tlsrec_seal(&self->tx, TLSREC_TYPE_DATA, self->data, 16384,
			      1, self->wire, BUF_LEN), TLSREC_ELENGTH);
}

/* Every byte of a record matters: header (AAD), nonce, ciphertext, tag. */
TEST_F(codec, tamper)
{
	size_t positions[] = { 0, 3, 5, 12, 40, 0 }, i;
	ssize_t wlen, n;
	uint8_t type;

	wlen = tlsrec_seal(&self->tx, TLSREC_TYPE_DATA, self->data, 100, 0,
			   self->wire, BUF_LEN);
	ASSERT_GT(wlen, 0);
	positions[5] = wlen - 1;
	for (i = 0; i < sizeof(positions) / sizeof(positions[0]); i++) {
		size_t p = positions[i];

		self->wire[p] ^= 0x04;
		n = tlsrec_open(&self->rx, self->wire, wlen, &type, self->out,
				BUF_LEN, NULL);
		if (p == 0 && variant->version == TLS_1_3_VERSION) {
			EXPECT_EQ(n, TLSREC_EHEADER);	/* outer type != 23 */
		} else if (p == 3) {
			EXPECT_EQ(n, TLSREC_ESHORT);	/* length + 1024 */
		} else {
			EXPECT_EQ(n, TLSREC_EAUTH) TH_LOG("byte %zu", p);
		}
		self->wire[p] ^= 0x04;
	}
	EXPECT_EQ(tlsrec_seq(&self->rx), tlsrec_seq(&self->tx) - 1);
	EXPECT_EQ(tlsrec_open(&self->rx, self->wire, wlen, &type, self->out,
			      BUF_LEN, NULL), 100);
}

/* A receiver one record ahead cannot open the record. */
TEST_F(codec, wrong_seq)
{
	uint8_t type;
	ssize_t wlen;

	wlen = tlsrec_seal(&self->tx, TLSREC_TYPE_DATA, self->data, 10, 0,
			   self->wire, BUF_LEN);
	ASSERT_GT(wlen, 0);
	ASSERT_EQ(tlsrec_seal(&self->rx, TLSREC_TYPE_DATA, self->data, 10, 0,
			      self->out, BUF_LEN), wlen);
	EXPECT_EQ(tlsrec_open(&self->rx, self->wire, wlen, &type, self->out,
			      BUF_LEN, NULL), TLSREC_EAUTH);
}

TEST_F(codec, bad_input)
{
	ssize_t wlen;
	uint8_t type;

	EXPECT_EQ(tlsrec_seal(&self->tx, TLSREC_TYPE_DATA, self->data, 16385,
			      0, self->wire, BUF_LEN), TLSREC_ELENGTH);
	EXPECT_EQ(tlsrec_seal(&self->tx, TLSREC_TYPE_DATA, self->data, 100, 0,
			      self->wire, 100), TLSREC_ESPACE);
	wlen = tlsrec_seal(&self->tx, TLSREC_TYPE_DATA, self->data, 100, 0,
			   self->wire, BUF_LEN);
	ASSERT_GT(wlen, 0);

	EXPECT_EQ(tlsrec_open(&self->rx, self->wire, 4, &type, self->out,
			      BUF_LEN, NULL), TLSREC_ESHORT);
	EXPECT_EQ(tlsrec_open(&self->rx, self->wire, wlen - 1, &type,
			      self->out, BUF_LEN, NULL), TLSREC_ESHORT);
	EXPECT_EQ(tlsrec_open(&self->rx, self->wire, wlen, &type, self->out,
			      99, NULL), TLSREC_ESPACE);
	self->wire[2] = 1;	/* TLS 1.0 */
	EXPECT_EQ(tlsrec_open(&self->rx, self->wire, wlen, &type, self->out,
			      BUF_LEN, NULL), TLSREC_EHEADER);
	self->wire[2] = 3;
	/* Too short to hold a tag. */
	self->wire[3] = 0;
	self->wire[4] = 10;
	EXPECT_EQ(tlsrec_open(&self->rx, self->wire, wlen, &type, self->out,
			      BUF_LEN, NULL), TLSREC_ELENGTH);
	/* Longer than any record may be: refused from the header alone. */
	self->wire[3] = 0x48;
	self->wire[4] = 0x20;
	EXPECT_EQ(tlsrec_open(&self->rx, self->wire, 5, &type,
			      self->out, BUF_LEN, NULL), TLSREC_ELENGTH);
	/* One byte over: 2^14 + 1 content (1.2) or inner plaintext + 1 (1.3). */
	wlen = 16384 + 1 + (variant->version == TLS_1_3_VERSION) + 16 +
	       (variant->version == TLS_1_2_VERSION &&
		variant->cipher != TLS_CIPHER_CHACHA20_POLY1305 ? 8 : 0);
	self->wire[3] = wlen >> 8;
	self->wire[4] = wlen & 0xff;
	EXPECT_EQ(tlsrec_open(&self->rx, self->wire, 5, &type,
			      self->out, BUF_LEN, NULL), TLSREC_ELENGTH);
	self->wire[4]--;
	EXPECT_EQ(tlsrec_open(&self->rx, self->wire, 5, &type,
			      self->out, BUF_LEN, NULL), TLSREC_ESHORT);
	EXPECT_EQ(tlsrec_init(&self->tx, &self->keys, 4), TLSREC_EINVAL);
}

/* TLS 1.3: an inner plaintext of zeros only carries no type. */
TEST(tls13_no_content_type)
{
	static const uint16_t ciphers[] = {
		TLS_CIPHER_AES_GCM_128, TLS_CIPHER_AES_GCM_256,
		TLS_CIPHER_CHACHA20_POLY1305, TLS_CIPHER_AES_CCM_128,
	};
	unsigned char wire[64], zeros[20] = { 0 }, nonce[12];
	const unsigned char *key;
	union tlsrec_keys keys;
	struct tlsrec rx;
	size_t i, c;
	uint8_t type;
	int len;

	for (c = 0; c < sizeof(ciphers) / sizeof(ciphers[0]); c++) {
		len = tlsrec_keys_random(&keys, TLS_1_3_VERSION, ciphers[c]);
		ASSERT_GT(len, 0);
		ASSERT_EQ(tlsrec_init(&rx, &keys, len), 0);
		/* Built by hand: header, then an all-zero inner plaintext. */
		wire[0] = 23;
		wire[1] = 3;
		wire[2] = 3;
		wire[3] = 0;
		wire[4] = sizeof(zeros) + 16;
		memcpy(nonce, rx.nonce, 12);	/* salt | iv */
		for (i = 0; i < 8; i++)
			nonce[4 + i] ^= tlsrec_seq(&rx) >> (56 - 8 * i);
		key = (unsigned char *)&keys + 4 + (c == 2 ? 12 : 8);
		ASSERT_EQ(tlsrec_aead(ciphers[c], 1, key, nonce, 12, wire, 5,
				      zeros, sizeof(zeros), wire + 5,
				      wire + 5 + sizeof(zeros), 16), 0);
		EXPECT_EQ(tlsrec_open(&rx, wire, 5 + sizeof(zeros) + 16, &type,
				      zeros, sizeof(zeros), NULL),
			  TLSREC_ENOTYPE);
		tlsrec_uninit(&rx);
	}
}

/*
 * The framing, checked against a nonce and an AAD built here from the
 * RFCs rather than by the codec: two records, so the sequence number and
 * (TLS 1.2 GCM/CCM) the explicit nonce are seen to move.
 */
TEST_F(codec, framing_by_hand)
{
	const unsigned char *iv, *key, *salt, *rec_seq;
	unsigned char nonce[12], aad[13], plain[64];
	size_t salt_len = variant->cipher == TLS_CIPHER_CHACHA20_POLY1305 ? 0 : 4;
	size_t iv_len = 12 - salt_len, key_len, explicit, i;
	int r, tls13 = variant->version == TLS_1_3_VERSION;
	uint64_t seq = 0;
	ssize_t wlen;

	key_len = variant->cipher == TLS_CIPHER_AES_GCM_128 ||
		  variant->cipher == TLS_CIPHER_AES_CCM_128 ? 16 : 32;
	iv = (unsigned char *)&self->keys + 4;
	key = iv + iv_len;
	salt = key + key_len;
	rec_seq = salt + salt_len;
	for (i = 0; i < 8; i++)
		seq = seq << 8 | rec_seq[i];
	explicit = !tls13 && salt_len ? 8 : 0;

	for (r = 0; r < 2; r++, seq++) {
		const unsigned char *h = self->wire;

		wlen = tlsrec_seal(&self->tx, TLSREC_TYPE_HANDSHAKE, self->data,
				   40, 0, self->wire, BUF_LEN);
		ASSERT_EQ(wlen, (ssize_t)(5 + explicit + 40 + tls13 + 16));
		EXPECT_EQ(h[0], tls13 ? 23 : 22);
		EXPECT_EQ(h[1], 3);
		EXPECT_EQ(h[2], 3);
		EXPECT_EQ((h[3] << 8 | h[4]), wlen - 5);

		memcpy(nonce, salt, salt_len);
		memcpy(nonce + salt_len, iv, iv_len);
		if (explicit) {
			/* RFC 5288/6655: salt | explicit; kTLS: iv + r. */
			unsigned char e[8];
			uint64_t v = 0;

			for (i = 0; i < 8; i++)
				v = v << 8 | iv[i];
			v += r;
			for (i = 0; i < 8; i++)
				e[i] = v >> (56 - 8 * i);
			EXPECT_EQ(memcmp(h + 5, e, 8), 0);
			memcpy(nonce + 4, e, 8);
		} else {
			for (i = 0; i < 8; i++)
				nonce[4 + i] ^= (seq >> (56 - 8 * i)) & 0xff;
		}
		if (tls13) {
			memcpy(aad, h, 5);
		} else {
			for (i = 0; i < 8; i++)
				aad[i] = seq >> (56 - 8 * i);
			aad[8] = 22;
			aad[9] = 3;
			aad[10] = 3;
			aad[11] = 0;
			aad[12] = 40;
		}
		ASSERT_EQ(tlsrec_aead(variant->cipher, 0, key, nonce,
				      12, aad, tls13 ? 5 : 13,
				      h + 5 + explicit, 40 + tls13, plain,
				      (void *)(h + 5 + explicit + 40 + tls13),
				      16), 0);
		EXPECT_EQ(memcmp(plain, self->data, 40), 0);
		if (tls13) {
			EXPECT_EQ(plain[40], 22);
		}
	}
}

TEST_HARNESS_MAIN
