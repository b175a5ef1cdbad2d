// SPDX-License-Identifier: GPL-2.0
/*
 * The crypto floor: the kernel's own AEAD for the cipher (the same
 * "gcm(aes)" / "rfc7539(chacha20,poly1305)" transform kTLS allocates),
 * driven from userspace through AF_ALG (algif_aead). Each operation
 * encrypts, or decrypts and authenticates, one record-sized chunk
 * (min(size, 16 KiB)) with a TLS-like AAD (13 bytes for 1.2, 5 for 1.3):
 * one sendmsg() that copies AAD and input in, one read() that has them
 * copied to the caller's pages and transformed there. kTLS does not pay
 * those two syscalls and copies per record, so the same is measured with
 * a null AEAD ("authenc(digest_null,ecb(cipher_null))", no key, no tag):
 * the AEAD's own cost is the difference (ktls-bench's "AEAD floor").
 */
#include <errno.h>
#include <linux/if_alg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bench.h"

#ifndef SOL_ALG
#define SOL_ALG 279
#endif

#define CHUNK_MAX 16384
#define IV_LEN 12
#define NULL_AEAD "authenc(digest_null,ecb(cipher_null))"

/* authenc's key: an rtattr holding the cipher key's length (0), then the keys (none). */
static const unsigned char null_key[8] = { 8, 0, 1, 0, 0, 0, 0, 0 };

static int alg_open(const struct bench_job *job, size_t tag_len, char *err, size_t errlen)
{
	struct sockaddr_alg sa = { .salg_family = AF_ALG, .salg_type = "aead" };
	const char *name = job->null_aead ? NULL_AEAD : job->cipher->alg;
	size_t key_len = job->null_aead ? sizeof(null_key) : job->cipher->key_len;
	unsigned char key[32];
	int tfm, op = -1;

	strncpy((char *)sa.salg_name, name, sizeof(sa.salg_name) - 1);
	tfm = socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (tfm < 0) {
		snprintf(err, errlen, "AF_ALG socket: %s", strerror(errno));
		return -1;
	}
	if (bind(tfm, (struct sockaddr *)&sa, sizeof(sa))) {
		snprintf(err, errlen, "AF_ALG \"%s\": %s", name, strerror(errno));
		goto out;
	}
	if (job->null_aead) {
		memcpy(key, null_key, key_len);
	} else if (getrandom(key, key_len, 0) != (ssize_t)key_len) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		goto out;
	}
	if (setsockopt(tfm, SOL_ALG, ALG_SET_KEY, key, key_len) ||
	    setsockopt(tfm, SOL_ALG, ALG_SET_AEAD_AUTHSIZE, NULL, tag_len)) {
		snprintf(err, errlen, "AF_ALG key/tag size: %s", strerror(errno));
		goto out;
	}
	op = accept4(tfm, NULL, NULL, SOCK_CLOEXEC);
	if (op < 0)
		snprintf(err, errlen, "AF_ALG accept: %s", strerror(errno));
out:
	memset(key, 0, sizeof(key));
	close(tfm);
	return op;
}

/*
 * One operation: AAD and input in, AAD and output (with or without the
 * tag) out. The null AEAD takes no IV (its ivsize is 0, and AF_ALG refuses
 * an IV of another length).
 */
static int alg_op(int op, int null, unsigned int dir, unsigned char *in, size_t inlen,
		  unsigned char *out, size_t outlen, unsigned int assoclen, uint64_t seq)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned int)) +
		  CMSG_SPACE(sizeof(struct af_alg_iv) + IV_LEN) +
		  CMSG_SPACE(sizeof(unsigned int))] = { 0 };
	struct iovec iov = { .iov_base = in, .iov_len = inlen };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = null ? 2 * CMSG_SPACE(sizeof(unsigned int)) : sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	struct af_alg_iv *iv;

	cm->cmsg_level = SOL_ALG;
	cm->cmsg_type = ALG_SET_OP;
	cm->cmsg_len = CMSG_LEN(sizeof(unsigned int));
	*(unsigned int *)CMSG_DATA(cm) = dir;
	if (!null) {
		cm = CMSG_NXTHDR(&msg, cm);
		cm->cmsg_level = SOL_ALG;
		cm->cmsg_type = ALG_SET_IV;
		cm->cmsg_len = CMSG_LEN(sizeof(struct af_alg_iv) + IV_LEN);
		iv = (struct af_alg_iv *)CMSG_DATA(cm);
		iv->ivlen = IV_LEN;
		memset(iv->iv, 0, IV_LEN);
		memcpy(iv->iv + IV_LEN - sizeof(seq), &seq, sizeof(seq));
	}
	cm = CMSG_NXTHDR(&msg, cm);
	cm->cmsg_level = SOL_ALG;
	cm->cmsg_type = ALG_SET_AEAD_ASSOCLEN;
	cm->cmsg_len = CMSG_LEN(sizeof(unsigned int));
	*(unsigned int *)CMSG_DATA(cm) = assoclen;

	if (sendmsg(op, &msg, 0) != (ssize_t)inlen)
		return -1;
	return read(op, out, outlen) == (ssize_t)outlen ? 0 : -1;
}

int bench_alg_run(const struct bench_job *job, struct bench_result *res, char *err,
		  size_t errlen)
{
	size_t chunk = job->size < CHUNK_MAX ? job->size : CHUNK_MAX;
	size_t tag = job->null_aead ? 0 : 16;
	const char *name = job->null_aead ? NULL_AEAD : job->cipher->alg;
	unsigned int assoclen = job->tls13 ? 5 : 13;
	unsigned int dir = job->mode == BENCH_DECRYPT ? ALG_OP_DECRYPT : ALG_OP_ENCRYPT;
	size_t plain = assoclen + chunk, sealed = plain + tag;
	unsigned char *pt = calloc(1, plain), *ct = calloc(1, sealed), *out = calloc(1, sealed);
	const char *what = dir == ALG_OP_DECRYPT ? "decrypt" : "encrypt";
	double t0, c0, deadline;
	uint64_t ops = 0;
	int op = -1, rc = -1;

	if (!pt || !ct || !out) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	op = alg_open(job, tag, err, errlen);
	if (op < 0)
		goto out;
	/* Decryption opens one sealed chunk again and again: same IV, valid tag. */
	if (dir == ALG_OP_DECRYPT &&
	    alg_op(op, job->null_aead, ALG_OP_ENCRYPT, pt, plain, ct, sealed, assoclen, 0)) {
		snprintf(err, errlen, "AF_ALG encrypt (%s): %s", name, strerror(errno));
		goto out;
	}
	c0 = bench_cpu_seconds();
	t0 = bench_now();
	deadline = t0 + job->seconds;
	while (bench_now() < deadline) {
		int r = dir == ALG_OP_DECRYPT ?
			alg_op(op, job->null_aead, dir, ct, sealed, out, plain, assoclen, 0) :
			alg_op(op, job->null_aead, dir, pt, plain, out, sealed, assoclen, ops);

		if (r) {
			snprintf(err, errlen, "AF_ALG %s (%s): %s", what, name, strerror(errno));
			goto out;
		}
		ops++;
	}
	res->wall = bench_now() - t0;
	res->cpu = bench_cpu_seconds() - c0;
	res->bytes = ops * chunk;
	rc = 0;
out:
	if (op >= 0)
		close(op);
	free(pt);
	free(ct);
	free(out);
	return rc;
}
