// SPDX-License-Identifier: GPL-2.0
/*
 * The crypto ceiling: the kernel's own AEAD for the cipher (the same
 * "gcm(aes)" / "rfc7539(chacha20,poly1305)" transform kTLS allocates),
 * driven from userspace through AF_ALG (algif_aead). Each operation
 * encrypts one record-sized chunk (min(size, 16 KiB)) with a TLS-like AAD
 * (13 bytes for 1.2, 5 for 1.3): one sendmsg() that copies AAD and
 * plaintext in, one read() that copies AAD, ciphertext and tag out. So the
 * figure includes two syscalls and two copies per chunk, which kTLS does
 * not pay in that form; it is a ceiling for the cipher, not for kTLS.
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
#define TAG_LEN 16
#define IV_LEN 12

static int alg_open(const struct bench_job *job, char *err, size_t errlen)
{
	struct sockaddr_alg sa = { .salg_family = AF_ALG, .salg_type = "aead" };
	unsigned char key[32];
	int tfm, op = -1;

	strncpy((char *)sa.salg_name, job->cipher->alg, sizeof(sa.salg_name) - 1);
	tfm = socket(AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (tfm < 0) {
		snprintf(err, errlen, "AF_ALG socket: %s", strerror(errno));
		return -1;
	}
	if (bind(tfm, (struct sockaddr *)&sa, sizeof(sa))) {
		snprintf(err, errlen, "AF_ALG \"%s\": %s", job->cipher->alg, strerror(errno));
		goto out;
	}
	if (getrandom(key, job->cipher->key_len, 0) != (ssize_t)job->cipher->key_len ||
	    setsockopt(tfm, SOL_ALG, ALG_SET_KEY, key, job->cipher->key_len) ||
	    setsockopt(tfm, SOL_ALG, ALG_SET_AEAD_AUTHSIZE, NULL, TAG_LEN)) {
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

static int alg_encrypt(int op, unsigned char *in, size_t inlen, unsigned char *out,
		       size_t outlen, unsigned int assoclen, uint64_t seq)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned int)) +
		  CMSG_SPACE(sizeof(struct af_alg_iv) + IV_LEN) +
		  CMSG_SPACE(sizeof(unsigned int))] = { 0 };
	struct iovec iov = { .iov_base = in, .iov_len = inlen };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	struct af_alg_iv *iv;

	cm->cmsg_level = SOL_ALG;
	cm->cmsg_type = ALG_SET_OP;
	cm->cmsg_len = CMSG_LEN(sizeof(unsigned int));
	*(unsigned int *)CMSG_DATA(cm) = ALG_OP_ENCRYPT;
	cm = CMSG_NXTHDR(&msg, cm);
	cm->cmsg_level = SOL_ALG;
	cm->cmsg_type = ALG_SET_IV;
	cm->cmsg_len = CMSG_LEN(sizeof(struct af_alg_iv) + IV_LEN);
	iv = (struct af_alg_iv *)CMSG_DATA(cm);
	iv->ivlen = IV_LEN;
	memset(iv->iv, 0, IV_LEN);
	memcpy(iv->iv + IV_LEN - sizeof(seq), &seq, sizeof(seq));
	cm = CMSG_NXTHDR(&msg, cm);
	cm->cmsg_level = SOL_ALG;
	cm->cmsg_type = ALG_SET_AEAD_ASSOCLEN;
	cm->cmsg_len = CMSG_LEN(sizeof(unsigned int));
	*(unsigned int *)CMSG_DATA(cm) = assoclen;

	if (sendmsg(op, &msg, 0) != (ssize_t)inlen)
		return -1;
	return read(op, out, outlen) == (ssize_t)(inlen + TAG_LEN) ? 0 : -1;
}

int bench_alg_run(const struct bench_job *job, struct bench_result *res, char *err,
		  size_t errlen)
{
	size_t chunk = job->size < CHUNK_MAX ? job->size : CHUNK_MAX;
	unsigned int assoclen = job->tls13 ? 5 : 13;
	unsigned char *in = calloc(1, assoclen + chunk);
	unsigned char *out = calloc(1, assoclen + chunk + TAG_LEN);
	double t0, c0, deadline;
	uint64_t seq = 0;
	int op = -1, rc = -1;

	if (!in || !out) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	op = alg_open(job, err, errlen);
	if (op < 0)
		goto out;
	c0 = bench_cpu_seconds();
	t0 = bench_now();
	deadline = t0 + job->seconds;
	while (bench_now() < deadline) {
		if (alg_encrypt(op, in, assoclen + chunk, out, assoclen + chunk + TAG_LEN,
				assoclen, seq++)) {
			snprintf(err, errlen, "AF_ALG encrypt (%s): %s", job->cipher->alg,
				 strerror(errno));
			goto out;
		}
	}
	res->wall = bench_now() - t0;
	res->cpu = bench_cpu_seconds() - c0;
	res->bytes = seq * chunk;
	rc = 0;
out:
	if (op >= 0)
		close(op);
	free(in);
	free(out);
	return rc;
}
