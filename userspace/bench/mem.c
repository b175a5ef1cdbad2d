// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel memory per idle connection: open PAIRS connected loopback pairs,
 * attach the ULP to both ends and install keys for TX and RX on both (a
 * connection as a server holds it between requests), and read
 * /proc/meminfo before and after. Two figures per connection (both ends):
 * the growth of Slab + VmallocUsed + Percpu (the allocators kTLS uses),
 * and the growth of MemTotal - MemFree (everything, noisier). With ulp
 * NULL, the pairs stay plain TCP: the baseline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

struct meminfo {
	long long total, free, slab, vmalloc, percpu;	/* KiB */
};

static int meminfo_read(struct meminfo *m)
{
	char line[128];
	long long v;
	FILE *f = fopen("/proc/meminfo", "r");

	memset(m, 0, sizeof(*m));
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemTotal: %lld", &v) == 1)
			m->total = v;
		else if (sscanf(line, "MemFree: %lld", &v) == 1)
			m->free = v;
		else if (sscanf(line, "Slab: %lld", &v) == 1)
			m->slab = v;
		else if (sscanf(line, "VmallocUsed: %lld", &v) == 1)
			m->vmalloc = v;
		else if (sscanf(line, "Percpu: %lld", &v) == 1)
			m->percpu = v;
	}
	fclose(f);
	return 0;
}

static void settle(void)
{
	/* Let RCU callbacks and deferred frees from earlier runs finish. */
	sync();
	usleep(300 * 1000);
}

int bench_mem_run(const char *ulp, const struct bench_cipher *c, int pairs,
		  struct bench_mem *res, char *err, size_t errlen)
{
	rlim_t need = 2 * pairs + 64;
	struct rlimit rl;
	int *fds = calloc(2 * pairs, sizeof(int));
	struct linger lin = { .l_onoff = 1, .l_linger = 0 };
	unsigned char keymat[128];
	struct meminfo a, b;
	int i, n = 0, rc = -1;

	if (!fds) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
		rl.rlim_cur = need;
		if (rl.rlim_max < need)
			rl.rlim_max = need;
		if (setrlimit(RLIMIT_NOFILE, &rl)) {
			snprintf(err, errlen, "%d connections need %llu file descriptors", pairs,
				 (unsigned long long)need);
			goto out;
		}
	}
	settle();
	meminfo_read(&a);
	for (i = 0; i < pairs; i++) {
		if (bench_tcp_pair(&fds[2 * i], &fds[2 * i + 1], err, errlen))
			goto out;
		n++;
		if (!ulp)
			continue;
		if (getrandom(keymat, sizeof(keymat), 0) != sizeof(keymat)) {
			snprintf(err, errlen, "getrandom failed");
			goto out;
		}
		if (bench_ktls_install(fds[2 * i], ulp, c, 1, 1, 1, keymat, err, errlen) ||
		    bench_ktls_install(fds[2 * i + 1], ulp, c, 1, 1, 1, keymat, err, errlen))
			goto out;
	}
	settle();
	meminfo_read(&b);
	res->slab = ((b.slab + b.vmalloc + b.percpu) - (a.slab + a.vmalloc + a.percpu)) *
		    1024.0 / pairs;
	res->used = ((b.total - b.free) - (a.total - a.free)) * 1024.0 / pairs;
	rc = 0;
out:
	memset(keymat, 0, sizeof(keymat));
	/*
	 * Reset, not FIN: 10 000 pairs closed normally leave 10 000 sockets in
	 * TIME_WAIT for a minute, memory that would leave the next path's
	 * figure while it is measured.
	 */
	for (i = 0; i < 2 * n; i++) {
		setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
		close(fds[i]);
	}
	free(fds);
	return rc;
}
