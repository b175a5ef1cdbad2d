// SPDX-License-Identifier: GPL-2.0
/*
 * Module lifecycle: a socket using the ULP pins the module; rmmod works
 * once the sockets are gone; a ULP name already taken (by the in-tree
 * tls.ko) makes loading fail with a message naming ulp_name; the
 * spare_pages parameter is range-checked, and records come out byte-exact
 * with page reuse off and on.
 *
 * Runs last in the VM: it unloads and reloads modules, and leaves our
 * module loaded with default parameters when it is done.
 */
#include <fcntl.h>
#include <sys/klog.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#include "kselftest_harness.h"
#include "kto_test.h"

#define INTREE_TLS "/opt/intree/tls.ko"

static int load(const char *path, const char *params)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret, err;

	if (fd < 0)
		return -1;
	ret = syscall(SYS_finit_module, fd, params, 0);
	err = errno;
	close(fd);
	errno = err;
	return ret;
}

static int load_ours(const char *params)
{
	char path[256];
	struct utsname u;

	if (uname(&u))
		return -1;
	snprintf(path, sizeof(path), "/lib/modules/%s/extra/%s.ko", u.release,
		 KTO_MODULE);
	return load(path, params);
}

static int unload(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK);
}

/* rmmod, retrying while closed sockets finish their TCP teardown. */
static int unload_wait(const char *name)
{
	int i;

	for (i = 0; i < 100; i++) {
		if (!unload(name))
			return 0;
		if (errno != EWOULDBLOCK && errno != EAGAIN)
			return -1;
		usleep(100 * 1000);
	}
	return -1;
}

static int klog_has(const char *needle)
{
	static char buf[1 << 17];
	int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, sizeof(buf) - 1);

	if (n < 0)
		return 0;
	buf[n] = 0;
	return strstr(buf, needle) != NULL;
}

TEST(busy_while_socket_open)
{
	int c, s;

	ASSERT_EQ(kto_tcp_pair(AF_INET, &c, &s), 0);
	ASSERT_EQ(setsockopt(c, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")), 0);
	ASSERT_EQ(setsockopt(s, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")), 0);

	EXPECT_EQ(unload(KTO_MODULE), -1);
	EXPECT_EQ(errno, EWOULDBLOCK);
	EXPECT_GE(kto_module_refcnt(KTO_MODULE), 2);

	close(c);
	close(s);
	ASSERT_EQ(unload_wait(KTO_MODULE), 0);
	EXPECT_EQ(kto_module_refcnt(KTO_MODULE), -1);

	/*
	 * Without the module, TCP_ULP "tls" autoloads it (its alias
	 * tcp-ulp-tls), never the in-tree tls.ko, which is not in the
	 * module tree.
	 */
	ASSERT_EQ(kto_tcp_pair(AF_INET, &c, &s), 0);
	EXPECT_EQ(setsockopt(c, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")), 0);
	EXPECT_EQ(kto_module_refcnt(KTO_MODULE), 1);
	EXPECT_EQ(kto_module_refcnt("tls"), -1);
	close(c);
	close(s);
	ASSERT_EQ(unload_wait(KTO_MODULE), 0);

	ASSERT_EQ(load_ours(""), 0);
	EXPECT_EQ(kto_module_refcnt(KTO_MODULE), 0);
}

TEST(name_taken_by_intree_tls)
{
	int c, s;

	ASSERT_EQ(access(INTREE_TLS, R_OK), 0);
	ASSERT_EQ(unload_wait(KTO_MODULE), 0);
	ASSERT_EQ(load(INTREE_TLS, ""), 0);

	EXPECT_EQ(load_ours(""), -1);
	EXPECT_EQ(errno, EEXIST);
	EXPECT_TRUE(klog_has("ktls_offload: a TCP ULP named \"tls\" is already registered"));
	EXPECT_TRUE(klog_has("ulp_name="));
	EXPECT_EQ(kto_module_refcnt(KTO_MODULE), -1);

	/* Under another name both coexist, each serving its own ULP. */
	ASSERT_EQ(load_ours("ulp_name=kto_alt"), 0);
	ASSERT_EQ(kto_tcp_pair(AF_INET, &c, &s), 0);
	EXPECT_EQ(setsockopt(c, IPPROTO_TCP, TCP_ULP, "kto_alt", sizeof("kto_alt")), 0);
	EXPECT_EQ(setsockopt(s, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")), 0);
	EXPECT_EQ(kto_module_refcnt(KTO_MODULE), 1);
	close(c);
	close(s);

	EXPECT_EQ(unload_wait("tls"), 0);
	EXPECT_EQ(unload_wait(KTO_MODULE), 0);
	ASSERT_EQ(load_ours(""), 0);
}

TEST(empty_ulp_name_refused)
{
	ASSERT_EQ(unload_wait(KTO_MODULE), 0);
	EXPECT_EQ(load_ours("ulp_name="), -1);
	EXPECT_EQ(errno, EINVAL);
	ASSERT_EQ(load_ours(""), 0);
}

/*
 * Send @total bytes of a pattern c -> s through a fresh AES-128-GCM TLS 1.3
 * pair, in writes of @chunk, with the receiver reading in a second process
 * while the sender writes (so TX pages are still in flight when the next
 * records are built). Returns 0 if every byte arrived as sent.
 */
static int transfer_checked(size_t total, size_t chunk)
{
	struct tls12_crypto_info_aes_gcm_128 ci = {
		.info.version = TLS_1_3_VERSION,
		.info.cipher_type = TLS_CIPHER_AES_GCM_128,
	};
	static unsigned char buf[65536];
	int c, s, status, bad = 0;
	size_t i, done;
	pid_t pid;

	memset(ci.key, 0x5a, sizeof(ci.key));
	if (kto_tcp_pair(AF_INET, &c, &s) ||
	    setsockopt(c, IPPROTO_TCP, TCP_ULP, "tls", 4) ||
	    setsockopt(s, IPPROTO_TCP, TCP_ULP, "tls", 4) ||
	    setsockopt(c, SOL_TLS, TLS_TX, &ci, sizeof(ci)) ||
	    setsockopt(s, SOL_TLS, TLS_RX, &ci, sizeof(ci)))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		close(c);
		for (done = 0; done < total; done += i) {
			ssize_t n = recv(s, buf, sizeof(buf), 0);

			if (n <= 0)
				_exit(2);
			for (i = 0; i < (size_t)n; i++)
				bad |= buf[i] != (unsigned char)((done + i) * 7 + (done + i) / 4099);
		}
		_exit(bad);
	}
	close(s);
	for (done = 0; done < total; done += chunk) {
		size_t n = total - done < chunk ? total - done : chunk;

		for (i = 0; i < n; i++)
			buf[i] = (done + i) * 7 + (done + i) / 4099;
		if (send(c, buf, n, MSG_NOSIGNAL) != (ssize_t)n)
			bad = 1;
	}
	close(c);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return bad || WEXITSTATUS(status) ? -1 : 0;
}

TEST(spare_pages_param)
{
	ASSERT_EQ(unload_wait(KTO_MODULE), 0);
	EXPECT_EQ(load_ours("spare_pages=1025"), -1);
	EXPECT_EQ(errno, EINVAL);
	EXPECT_TRUE(klog_has("ktls_offload: module parameter spare_pages must be at most 1024"));

	/* No reuse: every page comes from the allocator and goes back. */
	ASSERT_EQ(load_ours("spare_pages=0"), 0);
	EXPECT_EQ(transfer_checked(8 << 20, 16384), 0);
	EXPECT_EQ(transfer_checked(1 << 20, 1000), 0);
	EXPECT_EQ(kto_stat_get("KtoSparePages"), 0);
	ASSERT_EQ(unload_wait(KTO_MODULE), 0);

	/* A tiny FIFO: reuse and eviction both happen all the time. */
	ASSERT_EQ(load_ours("spare_pages=3"), 0);
	EXPECT_EQ(transfer_checked(8 << 20, 16384), 0);
	EXPECT_EQ(transfer_checked(1 << 20, 1000), 0);
	EXPECT_GT(kto_stat_get("KtoSparePages"), 0);
	/* Two FIFOs of 3 and a TX tail page per CPU. */
	EXPECT_LE(kto_stat_get("KtoSparePages"), 7L * sysconf(_SC_NPROCESSORS_CONF));
	ASSERT_EQ(unload_wait(KTO_MODULE), 0);

	ASSERT_EQ(load_ours(""), 0);
	EXPECT_EQ(transfer_checked(8 << 20, 16384), 0);
	EXPECT_EQ(transfer_checked(1 << 20, 1000), 0);
	EXPECT_GT(kto_stat_get("KtoSparePages"), 0);
}

TEST_HARNESS_MAIN
