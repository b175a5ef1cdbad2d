// SPDX-License-Identifier: GPL-2.0
/*
 * install-fail: what a client's ktlsh_connect reports when the kernel
 * refuses one step of the key installation, against what is then really
 * on the socket. A seccomp filter makes one setsockopt(SOL_TLS, OPT) fail
 * with ENOMEM, as a kernel short of memory would: TLS_TX (1), TLS_RX (2)
 * or TLS_TX_MAX_PAYLOAD_LEN (5, with --max-fragment 1024). Then
 * getsockopt(SOL_TLS, TLS_TX / TLS_RX) says which keys the socket holds
 * (the module answers EBUSY for a direction without one).
 *
 * Prints one line: the code, err.installed, the socket's keys, the
 * message. Exit 0 only if the handshake failed with KTLSH_E_KERNEL and
 * err.installed names exactly the keys the socket holds.
 *
 * usage: install-fail --port N --ca FILE --fail tx|rx|maxfrag [--tls 1.2|1.3]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ktlsh.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

static void __attribute__((noreturn)) fail(const char *what, const char *why)
{
	fprintf(stderr, "install-fail: %s: %s\n", what, why);
	exit(2);
}

/* From now on setsockopt(*, SOL_TLS, optname, ...) fails with ENOMEM. */
static void refuse(int optname)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_setsockopt, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOL_TLS, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, optname, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOMEM),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		fail("seccomp", strerror(errno));
}

/* Does the socket hold a key for this direction? */
static int holds(int fd, int opt)
{
	unsigned char info[64];
	socklen_t len = sizeof(struct tls12_crypto_info_aes_gcm_256);

	memset(info, 0, sizeof(info));
	return !getsockopt(fd, SOL_TLS, opt, info, &len);
}

int main(int argc, char **argv)
{
	struct ktlsh_config cfg = { .role = KTLSH_CLIENT };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	const char *what = NULL;
	struct ktlsh_ctx *ctx;
	struct ktlsh_conn *c;
	struct ktlsh_err err;
	int i, fd, opt, rc, tx, rx, want;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			sin.sin_port = htons(atoi(argv[i + 1]));
		else if (!strcmp(argv[i], "--ca"))
			cfg.ca_file = argv[i + 1];
		else if (!strcmp(argv[i], "--fail"))
			what = argv[i + 1];
		else if (!strcmp(argv[i], "--tls"))
			cfg.min_version = cfg.max_version = strcmp(argv[i + 1], "1.2") ? 0x0304 : 0x0303;
		else
			fail("usage", "see the comment at the top of install-fail.c");
	}
	if (i != argc || !what || !cfg.ca_file || !sin.sin_port)
		fail("usage", "install-fail --port N --ca FILE --fail tx|rx|maxfrag [--tls V]");
	opt = !strcmp(what, "tx") ? TLS_TX : !strcmp(what, "rx") ? TLS_RX : 5;
	if (opt == 5)
		cfg.max_fragment = 1024;
	if (ktlsh_ctx_new(&cfg, &ctx, &err))
		fail("context", err.msg);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)))
		fail("connect", strerror(errno));
	refuse(opt);
	rc = ktlsh_connect(ctx, fd, "localhost", &c, &err);
	if (!rc)
		fail("handshake", "succeeded although the kernel refused a step");
	tx = holds(fd, TLS_TX);
	rx = holds(fd, TLS_RX);
	want = (tx ? KTLSH_INSTALLED_TX : 0) | (rx ? KTLSH_INSTALLED_RX : 0);
	printf("code=%s installed=%s%s socket=%s%s msg=%s\n", ktlsh_code_name(rc),
	       err.installed & KTLSH_INSTALLED_TX ? "tx" : "",
	       err.installed & KTLSH_INSTALLED_RX ? "rx" : err.installed ? "" : "none",
	       tx ? "tx" : "", rx ? "rx" : tx ? "" : "none", err.msg);
	close(fd);
	ktlsh_ctx_free(ctx);
	return rc == KTLSH_E_KERNEL && err.installed == (unsigned int)want ? 0 : 1;
}
