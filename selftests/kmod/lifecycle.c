// SPDX-License-Identifier: GPL-2.0
/*
 * Module lifecycle: a socket using the ULP pins the module; rmmod works
 * once the sockets are gone; a ULP name already taken (by the in-tree
 * tls.ko) makes loading fail with a message naming ulp_name.
 *
 * Runs last in the VM: it unloads and reloads modules, and leaves our
 * module loaded with default parameters when it is done.
 */
#include <fcntl.h>
#include <sys/klog.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
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

TEST_HARNESS_MAIN
