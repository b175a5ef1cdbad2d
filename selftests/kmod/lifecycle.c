// SPDX-License-Identifier: GPL-2.0
/*
 * Module lifecycle: a socket using the ULP pins the module; rmmod works
 * once the sockets are gone; a ULP name already taken (by the in-tree
 * tls.ko) makes loading fail with a message naming ulp_name; the
 * spare_pages parameter is range-checked, and records come out byte-exact
 * with page reuse off and on; pages that held plaintext are cleared before
 * the module lets go of them; the proto tables a fresh module builds do
 * not depend on which socket attaches first.
 *
 * Runs last in the VM: it unloads and reloads modules, and leaves our
 * module loaded with default parameters when it is done.
 */
#include <elf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/klog.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#include "kselftest_harness.h"
#include "kto_test.h"
#include "ktls_offload.h"

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

/*
 * keys_write_only=1: every socket starts with TLS_KTO_KEYS_WRITE_ONLY set
 * (ours), which it cannot clear; the parameter is range-checked as a bool.
 */
TEST(keys_write_only_param)
{
	union kto_crypto_info got;
	struct kto_key k;
	socklen_t len;
	int c, s, val = 0;

	ASSERT_EQ(unload_wait(KTO_MODULE), 0);
	EXPECT_EQ(load_ours("keys_write_only=maybe"), -1);
	EXPECT_EQ(errno, EINVAL);
	ASSERT_EQ(load_ours("keys_write_only=1"), 0);
	ASSERT_EQ(kto_tcp_pair(AF_INET, &c, &s), 0);
	ASSERT_EQ(kto_ulp(c), 0);
	len = sizeof(val);
	ASSERT_EQ(getsockopt(c, SOL_TLS, TLS_KTO_KEYS_WRITE_ONLY, &val, &len), 0);
	EXPECT_EQ(val, 1);
	val = 0;
	EXPECT_EQ(setsockopt(c, SOL_TLS, TLS_KTO_KEYS_WRITE_ONLY, &val,
			     sizeof(val)), -1);
	EXPECT_EQ(errno, EPERM);
	ASSERT_EQ(kto_key_random(&k, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_256), 0);
	ASSERT_EQ(kto_install(c, TLS_TX, &k), 0);
	len = k.len;
	EXPECT_EQ(getsockopt(c, SOL_TLS, TLS_TX, &got, &len), -1);
	EXPECT_EQ(errno, EACCES);
	close(c);
	close(s);
	ASSERT_EQ(unload_wait(KTO_MODULE), 0);
	ASSERT_EQ(load_ours(""), 0);
}

/* ---- the first socket after loading: a BPF sockmap one ---- */

static int sockmap_with(int fd)
{
	union bpf_attr a = {
		.map_type = BPF_MAP_TYPE_SOCKMAP,
		.key_size = 4,
		.value_size = 4,
		.max_entries = 1,
	};
	uint32_t key = 0, val = fd;
	int map = syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof(a));

	if (map < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.map_fd = map;
	a.key = (uintptr_t)&key;
	a.value = (uintptr_t)&val;
	a.flags = BPF_ANY;
	if (syscall(SYS_bpf, BPF_MAP_UPDATE_ELEM, &a, sizeof(a))) {
		close(map);
		return -1;
	}
	return map;
}

/*
 * A socket in a sockmap (whose proto BPF replaced) as the first socket to
 * try the ULP after the module loads, per family: refused with
 * EOPNOTSUPP, and the ordinary sockets after it attach and work. (Tables
 * once built from whatever socket came first made every later ordinary
 * socket fail.)
 */
TEST(sockmap_socket_first)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct kto_key k;
	unsigned int i;
	char buf[8];

	ASSERT_EQ(unload_wait(KTO_MODULE), 0);
	ASSERT_EQ(load_ours(""), 0);
	ASSERT_EQ(kto_key_random(&k, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128), 0);
	for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		int a, b, c, s, map;

		ASSERT_EQ(kto_tcp_pair(families[i], &a, &b), 0);
		map = sockmap_with(a);
		ASSERT_GE(map, 0) TH_LOG("sockmap: %s", strerror(errno));
		EXPECT_EQ(kto_ulp(a), -1);
		EXPECT_EQ(errno, EOPNOTSUPP);

		ASSERT_EQ(kto_tcp_pair(families[i], &c, &s), 0);
		ASSERT_EQ(kto_timeouts(s, 5000), 0);
		ASSERT_EQ(kto_tls_keys(c, s, &k, NULL), 0) TH_LOG("%s", strerror(errno));
		ASSERT_EQ(send(c, "plain", 5, 0), 5);
		EXPECT_EQ(recv(s, buf, sizeof(buf), 0), 5);
		EXPECT_EQ(memcmp(buf, "plain", 5), 0);
		close(map);
		close(a);
		close(b);
		close(c);
		close(s);
	}
}

/* ---- plaintext in pages the module let go of (/proc/kcore) ---- */

/*
 * The plaintext sent below is one 8-byte word, repeated: every aligned
 * word of it in memory is the same rotation of that word. The scan keeps
 * only the complements of the rotations, so its own needle never matches.
 */
struct marker {
	uint64_t not_rot[8];	/* ~(the word rotated by 0..7 bytes) */
};

static void marker_make(struct marker *m, uint64_t w)
{
	int i;

	for (i = 0; i < 8; i++)
		m->not_rot[i] = ~(i ? (w >> (8 * i)) | (w << (64 - 8 * i)) : w);
}

static int marker_word(const struct marker *m, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		if ((v ^ m->not_rot[i]) == ~0ULL)
			return 1;
	return 0;
}

/*
 * Runs of at least 8 aligned words of the marker in @buf (@n words),
 * continuing a run of *run words from the previous buffer.
 */
static long marker_hits(const struct marker *m, const uint64_t *buf, size_t n,
			int *run)
{
	long hits = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		/* Cheap first: a run repeats its word (and is not 0 or ~0). */
		if (i && buf[i] == buf[i - 1] && *run && marker_word(m, buf[i])) {
			if (++*run == 8)
				hits++;
			continue;
		}
		*run = buf[i] && ~buf[i] && marker_word(m, buf[i]) ? 1 : 0;
	}
	return hits;
}

/*
 * Runs of each of the @n markers in all RAM, read through /proc/kcore,
 * into @hits. Returns 0, or -1 if kcore cannot be read.
 */
static int kcore_hits(const struct marker *m, int n, long *hits)
{
	static uint64_t buf[(1 << 20) / 8];
	Elf64_Ehdr eh;
	int fd, i, j;

	fd = open("/proc/kcore", O_RDONLY);
	if (fd < 0 || pread(fd, &eh, sizeof(eh), 0) != sizeof(eh))
		return -1;
	for (j = 0; j < n; j++)
		hits[j] = 0;
	for (i = 0; i < eh.e_phnum; i++) {
		int run[2] = { 0, 0 };
		Elf64_Phdr ph;
		uint64_t off;

		if (pread(fd, &ph, sizeof(ph), eh.e_phoff + i * sizeof(ph)) !=
		    sizeof(ph))
			return -1;
		/* RAM (the direct map) has its physical address; skip the rest. */
		if (ph.p_type != PT_LOAD || ph.p_paddr == (Elf64_Addr)-1)
			continue;
		for (off = 0; off < ph.p_memsz; off += sizeof(buf)) {
			ssize_t got = pread(fd, buf, sizeof(buf), ph.p_offset + off);

			if (got <= 0)
				break;
			for (j = 0; j < n && j < 2; j++)
				hits[j] += marker_hits(&m[j], buf, got / 8, &run[j]);
		}
	}
	close(fd);
	return 0;
}

/* 1 MiB of @w through a TLS 1.3 pair of ours, received whole. */
static int send_marked(uint64_t w, uint64_t *buf, size_t words)
{
	struct kto_key k;
	size_t i;
	int c, s, ret = -1;

	for (i = 0; i < words; i++)
		buf[i] = w;
	if (kto_key_random(&k, TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128) ||
	    kto_tcp_pair(AF_INET, &c, &s))
		return -1;
	if (!kto_tls_keys(c, s, &k, NULL) && !kto_timeouts(s, 10000) &&
	    !kto_write_full(c, buf, words * 8)) {
		explicit_bzero(buf, words * 8);
		ret = kto_read_full(s, buf, words * 8) == (ssize_t)(words * 8) ?
		      0 : -1;
	}
	close(c);
	close(s);
	return ret;
}

/*
 * Plaintext does not stay behind in pages the module gives back to the
 * kernel: with spare_pages=0 (every record's pages freed at once) and
 * spare_pages=1 (nearly every page pushed out of a full FIFO), no run of
 * the plaintext sent is left anywhere in RAM once the sockets are closed
 * and the module unloaded (which clears the RX spares). Each case is
 * scanned on its own, before later allocations could reuse (and so zero)
 * the pages it freed. The same scan must find a second marker planted in
 * a page of ours, or it proves nothing. (That one gets its own marker:
 * reading a page through /proc/kcore leaves a copy in a freed bounce
 * buffer on 6.1.)
 */
FIXTURE(scan)
{
	uint64_t *buf;
	uint64_t *probe;
};

FIXTURE_SETUP(scan)
{
	self->buf = malloc(1 << 20);
	self->probe = aligned_alloc(4096, 4096);
	ASSERT_NE(self->buf, NULL);
	ASSERT_NE(self->probe, NULL);
}

FIXTURE_TEARDOWN(scan)
{
	free(self->buf);
	free(self->probe);
}

static void marked_run(struct __test_metadata *_metadata,
		       FIXTURE_DATA(scan) *self, const char *params)
{
	const size_t words = (1 << 20) / 8;
	struct marker m[2];
	long hits[2];
	uint64_t w[2];
	size_t i;

	ASSERT_EQ(getrandom(w, sizeof(w), 0), (ssize_t)sizeof(w));
	marker_make(&m[0], w[0]);
	marker_make(&m[1], w[1]);
	ASSERT_EQ(unload_wait(KTO_MODULE), 0);
	ASSERT_EQ(load_ours(params), 0);
	ASSERT_EQ(send_marked(w[0], self->buf, words), 0);
	explicit_bzero(self->buf, words * 8);
	ASSERT_EQ(unload_wait(KTO_MODULE), 0);

	for (i = 0; i < 4096 / 8; i++)
		self->probe[i] = w[1];
	explicit_bzero(w, sizeof(w));
	ASSERT_EQ(kcore_hits(m, 2, hits), 0) TH_LOG("cannot read /proc/kcore");
	explicit_bzero(self->probe, 4096);
	EXPECT_GE(hits[1], 1) TH_LOG("the scan did not find the planted page");
	EXPECT_EQ(hits[0], 0) TH_LOG("%s: %ld runs of plaintext left in RAM",
				     params, hits[0]);
	ASSERT_EQ(load_ours(""), 0);
}

TEST_F_TIMEOUT(scan, plaintext_not_left_in_freed_pages, 300)
{
	marked_run(_metadata, self, "spare_pages=0");
	marked_run(_metadata, self, "spare_pages=1");
}

TEST_HARNESS_MAIN
