// SPDX-License-Identifier: GPL-2.0
/*
 * ktls-bench: throughput and CPU cost of TLS record paths, side by side in
 * one run: plain TCP, the kernel's AEAD (AF_ALG), userspace OpenSSL, the
 * in-tree kTLS and ktls_offload (send and sendfile), per cipher, TLS
 * version, write size and number of connections; then kernel memory per
 * idle kTLS connection. Prints a table with ratios to OpenSSL and to the
 * in-tree kTLS; --out writes the same as TSV (for make bench's plot).
 * See Documentation/benchmarks.rst.
 */
#include <errno.h>
#include <linux/tls.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"

#define MAX_REPS 15
#define MAX_LIST 8
#define GIB (1024.0 * 1024.0 * 1024.0)

const char *bench_prog = "ktls-bench";

static const struct bench_cipher ciphers[] = {
	{ "aes-128-gcm", "AES-128-GCM", TLS_CIPHER_AES_GCM_128,
	  sizeof(struct tls12_crypto_info_aes_gcm_128), 16, "gcm(aes)",
	  "ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_AES_128_GCM_SHA256" },
	{ "aes-256-gcm", "AES-256-GCM", TLS_CIPHER_AES_GCM_256,
	  sizeof(struct tls12_crypto_info_aes_gcm_256), 32, "gcm(aes)",
	  "ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_AES_256_GCM_SHA384" },
	{ "chacha20-poly1305", "CHACHA20-POLY1305", TLS_CIPHER_CHACHA20_POLY1305,
	  sizeof(struct tls12_crypto_info_chacha20_poly1305), 32, "rfc7539(chacha20,poly1305)",
	  "ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_CHACHA20_POLY1305_SHA256" },
};
#define NR_CIPHERS ((int)(sizeof(ciphers) / sizeof(ciphers[0])))

static const char *const path_names[BENCH_NR_PATHS] = {
	[BENCH_TCP] = "tcp", [BENCH_AEAD] = "aead", [BENCH_OPENSSL] = "openssl",
	[BENCH_INTREE] = "intree", [BENCH_OURS] = "ours",
};

/* One row of the table: a measurement repeated once per round. */
struct cell {
	struct bench_job job;
	int group;		/* cells sharing cipher/tls/size/conns; -1 for ceilings */
	int block;		/* cells measured round-robin, next to each other */
	int nr;			/* rounds that succeeded */
	int ok[MAX_REPS];	/* per round */
	double mbps[MAX_REPS], cpu[MAX_REPS];
	char err[200];
};

static struct {
	int ciphers[NR_CIPHERS], nr_ciphers;
	int tls[2], nr_tls;
	size_t sizes[MAX_LIST];
	int nr_sizes;
	int conns[MAX_LIST], nr_conns;
	int paths[BENCH_NR_PATHS];
	int reps;
	double seconds;
	int mem_pairs;
	const char *ulp, *intree_ulp, *out;
} opt;

static struct cell *cells;
static int nr_cells;

void bench_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", bench_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void usage(void)
{
	printf("usage: ktls-bench [OPTIONS]\n"
	       "\n"
	       "Measures TLS record throughput (MB/s) and CPU cost (busy CPU seconds of\n"
	       "the whole machine per GiB moved, from /proc/stat) over loopback, median of\n"
	       "--reps rounds; the rows of one cipher/version/size/connections are measured\n"
	       "round-robin, and their ratios are medians of per-round ratios:\n"
	       "  tcp      plain TCP, send and sendfile (the ceiling without crypto)\n"
	       "  aead     the kernel's AEAD through AF_ALG, one record-sized chunk per\n"
	       "           sendmsg+read (the crypto ceiling, syscalls and copies included)\n"
	       "  openssl  userspace OpenSSL, SSL_write -> SSL_read after a real handshake\n"
	       "  intree   the in-tree kTLS (ULP \"tls\"), send and sendfile\n"
	       "  ours     ktls_offload (ULP \"kto\"), send and sendfile\n"
	       "Then kernel memory per idle connection (keys in both directions on both\n"
	       "ends) for tcp, intree and ours. Needs the in-tree tls.ko and ours loaded\n"
	       "under another ULP name, e.g. in the test VM:\n"
	       "  selftests/vm/run --kernel 6.12 --intree --modparam ulp_name=kto \\\n"
	       "      --add build/userspace/ktls-bench -- ./ktls-bench --quick\n"
	       "\n"
	       "options (LISTs are comma-separated):\n"
	       "  --cipher LIST   aes-128-gcm,aes-256-gcm,chacha20-poly1305 (default: all)\n"
	       "  --tls LIST      1.2,1.3 (default: both)\n"
	       "  --size LIST     bytes per write, with k/m suffixes: 1k,16k,1m (default)\n"
	       "  --conns LIST    concurrent connections, 1..64 (default: 1,8)\n"
	       "  --path LIST     tcp,aead,openssl,intree,ours (default: all)\n"
	       "  --quick         only AES-128-GCM, TLS 1.3, 16 KiB\n"
	       "  --reps N        rounds, the median is reported (default 3, max %d)\n"
	       "  --time S        seconds each measurement sends (default 0.5)\n"
	       "  --mem-conns N   idle connections for the memory measurement (default 1000,\n"
	       "                  0 skips it)\n"
	       "  --ulp NAME      our module's ULP name (default kto)\n"
	       "  --intree-ulp NAME  the in-tree kTLS's ULP name (default tls)\n"
	       "  --out FILE      also write the results as TSV\n"
	       "  -h, --help      this text\n",
	       MAX_REPS);
}

static int cipher_find(const char *name)
{
	int i;

	for (i = 0; i < NR_CIPHERS; i++)
		if (!strcasecmp(name, ciphers[i].name) || !strcasecmp(name, ciphers[i].label))
			return i;
	bench_fail("unknown cipher '%s' (known: aes-128-gcm, aes-256-gcm, chacha20-poly1305)",
		   name);
	return -1;
}

static size_t size_parse(const char *s)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		bench_fail("bad size '%s' (bytes, or with a k or m suffix: 1k, 16k, 1m)", s);
	if (!strcasecmp(end, "k") || !strcasecmp(end, "kib"))
		v <<= 10;
	else if (!strcasecmp(end, "m") || !strcasecmp(end, "mib"))
		v <<= 20;
	else if (*end)
		bench_fail("bad size '%s' (bytes, or with a k or m suffix: 1k, 16k, 1m)", s);
	if (v < 1 || v > (16 << 20))
		bench_fail("bad size '%s': must be between 1 byte and 16m", s);
	return v;
}

static int int_parse(const char *s, const char *what, int lo, int hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		bench_fail("bad %s '%s' (a number from %d to %d)", what, s, lo, hi);
	return v;
}

/* Split a comma list; call fn for each item. */
static void list_parse(const char *opt_name, char *arg, void (*fn)(const char *))
{
	char *save = NULL, *tok;
	int any = 0;

	for (tok = strtok_r(arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		fn(tok);
		any = 1;
	}
	if (!any)
		bench_fail("%s needs a non-empty list", opt_name);
}

static void add_cipher(const char *s)
{
	int c = cipher_find(s), i;

	for (i = 0; i < opt.nr_ciphers; i++)
		if (opt.ciphers[i] == c)
			return;
	opt.ciphers[opt.nr_ciphers++] = c;
}

static void add_tls(const char *s)
{
	int v, i;

	if (!strcmp(s, "1.2") || !strcmp(s, "12"))
		v = 0;
	else if (!strcmp(s, "1.3") || !strcmp(s, "13"))
		v = 1;
	else
		bench_fail("unknown TLS version '%s' (1.2 or 1.3)", s);
	for (i = 0; i < opt.nr_tls; i++)
		if (opt.tls[i] == v)
			return;
	opt.tls[opt.nr_tls++] = v;
}

static void add_size(const char *s)
{
	if (opt.nr_sizes == MAX_LIST)
		bench_fail("at most %d sizes", MAX_LIST);
	opt.sizes[opt.nr_sizes++] = size_parse(s);
}

static void add_conns(const char *s)
{
	if (opt.nr_conns == MAX_LIST)
		bench_fail("at most %d connection counts", MAX_LIST);
	opt.conns[opt.nr_conns++] = int_parse(s, "connection count", 1, 64);
}

static void add_path(const char *s)
{
	int p;

	for (p = 0; p < BENCH_NR_PATHS; p++)
		if (!strcmp(s, path_names[p])) {
			opt.paths[p] = 1;
			return;
		}
	bench_fail("unknown path '%s' (tcp, aead, openssl, intree, ours)", s);
}

static void options_parse(int argc, char **argv)
{
	int i, any_path = 0, quick = 0;

	opt.reps = 3;
	opt.seconds = 0.5;
	opt.mem_pairs = 1000;
	opt.ulp = "kto";
	opt.intree_ulp = "tls";
	for (i = 1; i < argc; i++) {
		const char *o = argv[i];
		char *arg = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
			usage();
			exit(0);
		} else if (!strcmp(o, "--quick")) {
			quick = 1;
			continue;
		}
		if (strncmp(o, "--", 2))
			bench_fail("unexpected argument '%s' (see --help)", o);
		if (!arg)
			bench_fail("%s needs a value (see --help)", o);
		i++;
		if (!strcmp(o, "--cipher")) {
			list_parse(o, arg, add_cipher);
		} else if (!strcmp(o, "--tls")) {
			list_parse(o, arg, add_tls);
		} else if (!strcmp(o, "--size")) {
			list_parse(o, arg, add_size);
		} else if (!strcmp(o, "--conns")) {
			list_parse(o, arg, add_conns);
		} else if (!strcmp(o, "--path")) {
			list_parse(o, arg, add_path);
			any_path = 1;
		} else if (!strcmp(o, "--reps")) {
			opt.reps = int_parse(arg, "--reps", 1, MAX_REPS);
		} else if (!strcmp(o, "--time")) {
			char *end;

			opt.seconds = strtod(arg, &end);
			if (end == arg || *end || !(opt.seconds >= 0.05 && opt.seconds <= 60))
				bench_fail("bad --time '%s' (seconds, 0.05 to 60)", arg);
		} else if (!strcmp(o, "--mem-conns")) {
			opt.mem_pairs = int_parse(arg, "--mem-conns", 0, 20000);
		} else if (!strcmp(o, "--ulp")) {
			opt.ulp = arg;
		} else if (!strcmp(o, "--intree-ulp")) {
			opt.intree_ulp = arg;
		} else if (!strcmp(o, "--out")) {
			opt.out = arg;
		} else {
			bench_fail("unknown option '%s' (see --help)", o);
		}
	}
	if (quick) {
		if (opt.nr_ciphers || opt.nr_tls || opt.nr_sizes)
			bench_fail("--quick fixes cipher, TLS version and size; drop those options");
		add_cipher("aes-128-gcm");
		add_tls("1.3");
		add_size("16k");
	}
	if (!opt.nr_ciphers)
		for (i = 0; i < NR_CIPHERS; i++)
			add_cipher(ciphers[i].name);
	if (!opt.nr_tls) {
		add_tls("1.2");
		add_tls("1.3");
	}
	if (!opt.nr_sizes) {
		add_size("1k");
		add_size("16k");
		add_size("1m");
	}
	if (!opt.nr_conns) {
		add_conns("1");
		add_conns("8");
	}
	if (!any_path)
		for (i = 0; i < BENCH_NR_PATHS; i++)
			opt.paths[i] = 1;
}

static struct cell *cell_add(enum bench_path path, enum bench_mode mode, int ci, int tls13,
			     size_t size, int conns, int group, int block)
{
	struct cell *c = &cells[nr_cells++];

	memset(c, 0, sizeof(*c));
	c->job.path = path;
	c->job.mode = mode;
	c->job.cipher = ci >= 0 ? &ciphers[ci] : NULL;
	c->job.tls13 = tls13;
	c->job.size = size;
	c->job.conns = conns;
	c->job.seconds = opt.seconds;
	c->job.ulp = path == BENCH_OURS ? opt.ulp : opt.intree_ulp;
	c->group = group;
	c->block = block;
	return c;
}

/* The table, in print order: ceilings first, then one group per combination. */
static void cells_build(void)
{
	int ci, t, s, n, group = 0, block = 0;

	cells = calloc(opt.nr_sizes * opt.nr_conns * (2 + NR_CIPHERS * 2 * 5) + NR_CIPHERS *
		       opt.nr_sizes, sizeof(*cells));
	if (!cells)
		bench_fail("out of memory");
	for (s = 0; opt.paths[BENCH_TCP] && s < opt.nr_sizes; s++)
		for (n = 0; n < opt.nr_conns; n++, block++) {
			cell_add(BENCH_TCP, BENCH_SEND, -1, -1, opt.sizes[s], opt.conns[n], -1, block);
			cell_add(BENCH_TCP, BENCH_SENDFILE, -1, -1, opt.sizes[s], opt.conns[n], -1,
				 block);
		}
	for (ci = 0; opt.paths[BENCH_AEAD] && ci < opt.nr_ciphers; ci++, block++)
		for (s = 0; s < opt.nr_sizes; s++)
			cell_add(BENCH_AEAD, BENCH_SEND, opt.ciphers[ci], 1, opt.sizes[s], 1, -1,
				 block);
	for (ci = 0; ci < opt.nr_ciphers; ci++)
		for (t = 0; t < opt.nr_tls; t++)
			for (s = 0; s < opt.nr_sizes; s++)
				for (n = 0; n < opt.nr_conns; n++, group++, block++) {
					int c = opt.ciphers[ci], v = opt.tls[t];
					size_t sz = opt.sizes[s];
					int k = opt.conns[n];

					if (opt.paths[BENCH_OPENSSL])
						cell_add(BENCH_OPENSSL, BENCH_SEND, c, v, sz, k, group,
							 block);
					if (opt.paths[BENCH_INTREE]) {
						cell_add(BENCH_INTREE, BENCH_SEND, c, v, sz, k, group,
							 block);
						cell_add(BENCH_INTREE, BENCH_SENDFILE, c, v, sz, k, group,
							 block);
					}
					if (opt.paths[BENCH_OURS]) {
						cell_add(BENCH_OURS, BENCH_SEND, c, v, sz, k, group,
							 block);
						cell_add(BENCH_OURS, BENCH_SENDFILE, c, v, sz, k, group,
							 block);
					}
				}
}

static void cell_run(struct cell *c, int round)
{
	struct bench_result r = { 0 };
	int rc;

	if (c->err[0])	/* failed before: do not spend time on it again */
		return;
	switch (c->job.path) {
	case BENCH_AEAD:
		rc = bench_alg_run(&c->job, &r, c->err, sizeof(c->err));
		break;
	case BENCH_OPENSSL:
		rc = bench_ossl_run(&c->job, &r, c->err, sizeof(c->err));
		break;
	default:
		rc = bench_sock_run(&c->job, &r, c->err, sizeof(c->err));
		break;
	}
	if (rc) {
		fprintf(stderr, "%s: %s %s: %s\n", bench_prog, path_names[c->job.path],
			c->job.cipher ? c->job.cipher->label : "", c->err);
		return;
	}
	c->err[0] = 0;
	c->mbps[round] = r.bytes / r.wall / 1e6;
	c->cpu[round] = r.bytes ? r.cpu / (r.bytes / GIB) : 0;
	c->ok[round] = 1;
	c->nr++;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
	double s[MAX_REPS];

	if (!n)
		return 0;
	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), dbl_cmp);
	return n & 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* Median of a per-round array over the rounds that succeeded. */
static double cell_median(const struct cell *c, const double *v)
{
	double s[MAX_REPS];
	int r, n = 0;

	for (r = 0; r < opt.reps; r++)
		if (c->ok[r])
			s[n++] = v[r];
	return median(s, n);
}

/* Median over rounds of c's MB/s over o's MB/s in the same round. */
static double cell_ratio(const struct cell *c, const struct cell *o)
{
	double s[MAX_REPS];
	int r, n = 0;

	for (r = 0; r < opt.reps; r++)
		if (c->ok[r] && o->ok[r] && o->mbps[r] > 0)
			s[n++] = c->mbps[r] / o->mbps[r];
	return median(s, n);
}

static const struct cell *cell_find(const struct cell *like, enum bench_path path,
				    enum bench_mode mode)
{
	int i;

	for (i = 0; i < nr_cells; i++)
		if (cells[i].group == like->group && like->group >= 0 &&
		    cells[i].job.path == path && cells[i].job.mode == mode && cells[i].nr)
			return &cells[i];
	return NULL;
}

static const char *path_label(const struct cell *c)
{
	static char buf[32];

	switch (c->job.path) {
	case BENCH_AEAD:
		return "aead (AF_ALG)";
	case BENCH_OPENSSL:
		return "openssl";
	default:
		snprintf(buf, sizeof(buf), "%s %s", path_names[c->job.path],
			 c->job.mode == BENCH_SENDFILE ? "sendfile" : "send");
		return buf;
	}
}

static const char *size_label(size_t size)
{
	static char buf[24];

	if (size >= (1 << 20) && !(size & ((1 << 20) - 1)))
		snprintf(buf, sizeof(buf), "%zuM", size >> 20);
	else if (size >= 1024 && !(size & 1023))
		snprintf(buf, sizeof(buf), "%zuK", size >> 10);
	else
		snprintf(buf, sizeof(buf), "%zu", size);
	return buf;
}

/* Ratios of a cell to OpenSSL and to the in-tree kTLS (same mode); 0: none. */
static void ratios(const struct cell *c, double *x_ossl, double *x_intree)
{
	const struct cell *o = cell_find(c, BENCH_OPENSSL, BENCH_SEND);
	const struct cell *t = cell_find(c, BENCH_INTREE, c->job.mode);
	*x_ossl = *x_intree = 0;
	if (!c->nr || c->group < 0)
		return;
	if (o && c->job.path != BENCH_OPENSSL)
		*x_ossl = cell_ratio(c, o);
	if (t && (c->job.path == BENCH_OURS))
		*x_intree = cell_ratio(c, t);
}

static void ratio_print(FILE *f, double x)
{
	if (x > 0)
		fprintf(f, " %8.2fx", x);
	else
		fprintf(f, " %9s", "-");
}

static void table_print(void)
{
	int i, last_group = -2;

	printf("%-18s %-17s %-3s %5s %5s %9s %10s %9s %9s\n", "path", "cipher", "tls", "size",
	       "conns", "MB/s", "CPUs/GiB", "xOpenSSL", "xIn-tree");
	for (i = 0; i < nr_cells; i++) {
		const struct cell *c = &cells[i];
		double xo, xt;

		if (c->group != last_group || (c->group < 0 && i &&
					       cells[i - 1].job.path != c->job.path))
			printf("\n");
		last_group = c->group;
		printf("%-18s %-17s %-3s %5s %5d", path_label(c),
		       c->job.cipher ? c->job.cipher->label : "-",
		       c->group < 0 ? "-" : c->job.tls13 ? "1.3" : "1.2", size_label(c->job.size),
		       c->job.conns);
		if (!c->nr) {
			printf("  failed: %s\n", c->err);
			continue;
		}
		printf(" %9.1f %10.2f", cell_median(c, c->mbps), cell_median(c, c->cpu));
		ratios(c, &xo, &xt);
		ratio_print(stdout, xo);
		ratio_print(stdout, xt);
		printf("\n");
	}
}

static void tsv_write(const char *path, const struct bench_mem *mem, const int *mem_ok)
{
	FILE *f = fopen(path, "w");
	int i;

	if (!f)
		bench_fail("cannot write %s: %s", path, strerror(errno));
	fprintf(f, "# path\tmode\tcipher\ttls\tsize\tconns\tmbps\tcpu_s_per_gib\tx_openssl\t"
		"x_intree\truns\n");
	for (i = 0; i < nr_cells; i++) {
		const struct cell *c = &cells[i];
		double xo, xt;

		ratios(c, &xo, &xt);
		fprintf(f, "%s\t%s\t%s\t%s\t%zu\t%d\t%.2f\t%.3f\t%.3f\t%.3f\t%d\n",
			path_names[c->job.path], c->job.mode == BENCH_SENDFILE ? "sendfile" : "send",
			c->job.cipher ? c->job.cipher->name : "-",
			c->group < 0 ? "-" : c->job.tls13 ? "1.3" : "1.2", c->job.size,
			c->job.conns, cell_median(c, c->mbps), cell_median(c, c->cpu), xo, xt,
			c->nr);
	}
	for (i = 0; i < 3; i++)
		if (mem_ok[i])
			fprintf(f, "# mem\t%s\t%.0f\t%.0f\n", i == 0 ? "tcp" : i == 1 ? "intree" : "ours",
				mem[i].slab, mem[i].used);
	if (fclose(f))
		bench_fail("writing %s: %s", path, strerror(errno));
}

/* The targets, stated next to the numbers; informative only. */
static void targets_print(const struct bench_mem *mem, const int *mem_ok)
{
	int i, below = 0;

	printf("\nTargets (AES-128-GCM, TLS 1.3, 16K; ours vs in-tree >= 1.5x and vs OpenSSL"
	       " >= 1.3x on sendfile):\n");
	for (i = 0; i < nr_cells; i++) {
		const struct cell *c = &cells[i];
		double xo, xt;

		if (c->job.path != BENCH_OURS || !c->nr)
			continue;
		ratios(c, &xo, &xt);
		if (xt > 0 && xt < 1)
			below++;
		if (c->job.cipher->type != TLS_CIPHER_AES_GCM_128 || !c->job.tls13 ||
		    c->job.size != 16384)
			continue;
		printf("  %-13s conns %-2d: %.2fx in-tree, %.2fx OpenSSL%s\n", path_label(c),
		       c->job.conns, xt, xo,
		       c->job.mode == BENCH_SENDFILE ?
		       (xt >= 1.5 && xo >= 1.3 ? "  (met)" : "  (NOT met)") : "");
	}
	printf("  rows where ours is below the in-tree kTLS: %d\n", below);
	if (mem_ok[1] && mem_ok[2])
		printf("  idle memory per connection: ours %.0f B, in-tree %.0f B%s\n", mem[2].slab,
		       mem[1].slab, mem[2].slab <= mem[1].slab ? "  (met)" : "  (NOT met)");
}

int main(int argc, char **argv)
{
	static const enum bench_path mem_paths[3] = { BENCH_TCP, BENCH_INTREE, BENCH_OURS };
	struct bench_mem mem[3] = { 0 }, samples[3][MAX_REPS];
	int mem_ok[3] = { 0 }, mem_nr[3] = { 0 };
	char err[200], cpu[128] = "unknown";
	struct utsname u;
	double t0;
	FILE *f;
	int r, i;

	options_parse(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* Probe the kTLS paths once, so a missing module is one clear line. */
	if (opt.paths[BENCH_INTREE] && bench_ulp_probe(opt.intree_ulp, err, sizeof(err))) {
		fprintf(stderr, "%s: skipping the in-tree kTLS: %s\n", bench_prog, err);
		opt.paths[BENCH_INTREE] = 0;
	}
	if (opt.paths[BENCH_OURS] && bench_ulp_probe(opt.ulp, err, sizeof(err))) {
		fprintf(stderr, "%s: skipping ours: %s\n", bench_prog, err);
		opt.paths[BENCH_OURS] = 0;
	}
	if (opt.paths[BENCH_OPENSSL] && bench_ossl_init(err, sizeof(err)))
		bench_fail("%s", err);
	if (bench_file_init(8 << 20, err, sizeof(err)))
		bench_fail("%s", err);
	cells_build();

	uname(&u);
	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(err, sizeof(err), f))
		if (!strncmp(err, "model name", 10) && strchr(err, ':')) {
			snprintf(cpu, sizeof(cpu), "%s", strchr(err, ':') + 2);
			cpu[strcspn(cpu, "\n")] = 0;
			break;
		}
	if (f)
		fclose(f);
	printf("ktls-bench: kernel %s %s, %ld CPUs (%s)\n", u.release, u.machine,
	       sysconf(_SC_NPROCESSORS_ONLN), cpu);
	printf("ktls-bench: %d rows x %d rounds of %.2f s; ULPs: in-tree \"%s\", ours "
	       "\"%s\"\n", nr_cells, opt.reps, opt.seconds, opt.intree_ulp, opt.ulp);

	t0 = bench_now();
	/*
	 * Block by block (the rows of one cipher/version/size/connections),
	 * round-robin within the block, the start rotated each round: the rows
	 * compared with each other are measured seconds apart, and each ratio
	 * is the median of per-round ratios, so slow drift cancels.
	 */
	for (i = 0; i < nr_cells; ) {
		int start = i, len, j;

		while (i < nr_cells && cells[i].block == cells[start].block)
			i++;
		len = i - start;
		for (r = 0; r < opt.reps; r++)
			for (j = 0; j < len; j++)
				cell_run(&cells[start + (j + r) % len], r);
		if (cells[start].block % 10 == 9 || i == nr_cells)
			fprintf(stderr, "%s: progress: %d/%d rows after %.0f s\n", bench_prog, i,
				nr_cells, bench_now() - t0);
	}
	for (r = 0; r < opt.reps; r++) {
		for (i = 0; opt.mem_pairs && i < 3; i++) {
			int k = r & 1 ? 2 - i : i;
			enum bench_path p = mem_paths[k];
			const char *ulp = p == BENCH_TCP ? NULL : p == BENCH_OURS ? opt.ulp :
								  opt.intree_ulp;

			if (p != BENCH_TCP && !opt.paths[p])
				continue;
			if (bench_mem_run(ulp, &ciphers[0], opt.mem_pairs, &samples[k][mem_nr[k]],
					  err, sizeof(err)))
				fprintf(stderr, "%s: memory, %s: %s\n", bench_prog, path_names[p],
					err);
			else
				mem_nr[k]++;
		}
	}
	for (i = 0; i < 3; i++) {
		double a[MAX_REPS], b[MAX_REPS];
		int k;

		for (k = 0; k < mem_nr[i]; k++) {
			a[k] = samples[i][k].slab;
			b[k] = samples[i][k].used;
		}
		mem_ok[i] = mem_nr[i] > 0;
		mem[i].slab = median(a, mem_nr[i]);
		mem[i].used = median(b, mem_nr[i]);
	}

	printf("\nThroughput over loopback, median of %d rounds (MB/s = 10^6 bytes/s; CPUs/GiB ="
	       " busy CPU seconds of the whole machine per GiB moved)\n", opt.reps);
	table_print();
	if (mem_ok[0] || mem_ok[1] || mem_ok[2]) {
		printf("\nKernel memory per idle connection (%d connections, both ends with "
		       "AES-128-GCM TLS 1.3 keys for TX and RX; median of %d):\n",
		       opt.mem_pairs, opt.reps);
		printf("  %-8s %22s %22s\n", "path", "slab+vmalloc+percpu", "MemTotal-MemFree");
		for (i = 0; i < 3; i++)
			if (mem_ok[i])
				printf("  %-8s %20.0f B %20.0f B\n", path_names[mem_paths[i]],
				       mem[i].slab, mem[i].used);
	}
	if (opt.paths[BENCH_OURS])
		targets_print(mem, mem_ok);
	printf("\nktls-bench: %.0f s in all\n", bench_now() - t0);
	if (opt.out)
		tsv_write(opt.out, mem, mem_ok);
	bench_file_uninit();
	bench_ossl_uninit();
	return 0;
}
