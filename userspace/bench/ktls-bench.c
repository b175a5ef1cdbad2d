// SPDX-License-Identifier: GPL-2.0
/*
 * ktls-bench: throughput and CPU cost of TLS record paths, side by side in
 * one run. The matrix: plain TCP, the kernel's AEAD (AF_ALG, with a null
 * AEAD for AF_ALG's own cost, which gives the AEAD floor of a row: one
 * encryption and one decryption of its bytes), userspace OpenSSL, the
 * in-tree kTLS and ktls_offload (send and sendfile), per cipher, TLS
 * version, write size and number of connections. The scale section: the
 * kTLS paths at many connections, and kernel memory per idle kTLS
 * connection at several counts. Prints tables with ratios to OpenSSL and
 * to the in-tree kTLS, the CPU cost above the AEAD floor (the part a
 * record layer can win) and the spread of the rounds; --out writes the
 * same as TSV (for make bench's plots). See Documentation/benchmarks.rst.
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

enum section { SEC_MATRIX, SEC_SCALE };

/* The scale rows: what a static file server's connections do most. */
#define SCALE_CIPHER	0	/* AES-128-GCM */
#define SCALE_SIZE	16384
#define MAX_MEM		4

/* One row of a table: a measurement repeated once per round. */
struct cell {
	struct bench_job job;
	enum section section;
	int group;		/* cells compared with each other; -1: tcp/aead rows of the matrix */
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
	int scale[MAX_LIST], nr_scale;
	int mem[MAX_MEM], nr_mem;
	int paths[BENCH_NR_PATHS];
	int matrix, scaling;	/* the sections asked for */
	int reps;
	double seconds;
	const char *ulp, *intree_ulp, *out;
} opt;

static struct cell *cells;
static int nr_cells;

/* Idle memory: per count, per path (tcp, intree, ours), per round. */
static const enum bench_path mem_paths[3] = { BENCH_TCP, BENCH_INTREE, BENCH_OURS };
static struct bench_mem mem_samples[MAX_MEM][3][MAX_REPS];
static int mem_nr[MAX_MEM][3];

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
	       "round-robin, and their ratios are medians of per-round ratios.\n"
	       "The matrix:\n"
	       "  tcp      plain TCP, send and sendfile (the ceiling without crypto)\n"
	       "  aead     the kernel's AEAD through AF_ALG, one record-sized chunk per\n"
	       "           sendmsg+read, encryption and decryption, and a null AEAD for\n"
	       "           AF_ALG's own cost: the AEAD floor of a row is enc + dec - null\n"
	       "  openssl  userspace OpenSSL, SSL_write -> SSL_read after a real handshake\n"
	       "  intree   the in-tree kTLS (ULP \"tls\"), send and sendfile\n"
	       "  ours     ktls_offload (ULP \"kto\"), send and sendfile\n"
	       "The scale section: tcp, intree and ours with AES-128-GCM, TLS 1.3, 16 KiB\n"
	       "writes at --scale-conns connections; then kernel memory per idle connection\n"
	       "(keys in both directions on both ends) at each --mem-conns count.\n"
	       "Needs the in-tree tls.ko and ours loaded under another ULP name, e.g. in\n"
	       "the test VM:\n"
	       "  selftests/vm/run --kernel 6.12 --intree --modparam ulp_name=kto \\\n"
	       "      --add build/userspace/ktls-bench -- ./ktls-bench --quick\n"
	       "\n"
	       "options (LISTs are comma-separated):\n"
	       "  --sections LIST matrix,scale (default: both)\n"
	       "  --cipher LIST   aes-128-gcm,aes-256-gcm,chacha20-poly1305 (default: all)\n"
	       "  --tls LIST      1.2,1.3 (default: both)\n"
	       "  --size LIST     bytes per write, with k/m suffixes: 1k,16k,1m (default)\n"
	       "  --conns LIST    concurrent connections in the matrix, 1..%d (default: 1,8)\n"
	       "  --path LIST     tcp,aead,openssl,intree,ours (default: all)\n"
	       "  --scale-conns LIST  connections of the scale rows (default 1,8,64,256)\n"
	       "  --mem-conns LIST    idle connections for the memory rows, 1..20000, or 0\n"
	       "                  to skip them (default 1000,10000)\n"
	       "  --quick         only AES-128-GCM, TLS 1.3, 16 KiB; scale at 1 and 64\n"
	       "                  connections, memory at 1000\n"
	       "  --reps N        rounds, the median is reported (default 3, max %d)\n"
	       "  --time S        seconds each measurement sends (default 0.5)\n"
	       "  --ulp NAME      our module's ULP name (default kto)\n"
	       "  --intree-ulp NAME  the in-tree kTLS's ULP name (default tls)\n"
	       "  --out FILE      also write the results as TSV\n"
	       "  -h, --help      this text\n",
	       BENCH_MAX_CONNS, MAX_REPS);
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
	opt.conns[opt.nr_conns++] = int_parse(s, "connection count", 1, BENCH_MAX_CONNS);
}

static void add_scale(const char *s)
{
	if (opt.nr_scale == MAX_LIST)
		bench_fail("at most %d scale connection counts", MAX_LIST);
	opt.scale[opt.nr_scale++] = int_parse(s, "scale connection count", 1, BENCH_MAX_CONNS);
}

static void add_mem(const char *s)
{
	int n = int_parse(s, "--mem-conns count", 0, 20000);

	if (!n)
		return;
	if (opt.nr_mem == MAX_MEM)
		bench_fail("at most %d memory connection counts", MAX_MEM);
	opt.mem[opt.nr_mem++] = n;
}

static void add_section(const char *s)
{
	if (!strcmp(s, "matrix"))
		opt.matrix = 1;
	else if (!strcmp(s, "scale"))
		opt.scaling = 1;
	else
		bench_fail("unknown section '%s' (matrix, scale)", s);
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

/* Every option but --quick and --help takes a value. */
static int takes_value(const char *o)
{
	static const char *const names[] = {
		"--cipher", "--tls", "--size", "--conns", "--scale-conns", "--mem-conns",
		"--sections", "--path", "--reps", "--time", "--ulp", "--intree-ulp", "--out",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(o, names[i]))
			return 1;
	return 0;
}

static void options_parse(int argc, char **argv)
{
	int i, any_path = 0, quick = 0, any_section = 0, any_mem = 0;

	opt.reps = 3;
	opt.seconds = 0.5;
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
		if (!takes_value(o))
			bench_fail("unknown option '%s' (see --help)", o);
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
		} else if (!strcmp(o, "--scale-conns")) {
			list_parse(o, arg, add_scale);
		} else if (!strcmp(o, "--mem-conns")) {
			list_parse(o, arg, add_mem);
			any_mem = 1;
		} else if (!strcmp(o, "--sections")) {
			list_parse(o, arg, add_section);
			any_section = 1;
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
	if (!any_section)
		opt.matrix = opt.scaling = 1;
	if (quick) {
		if (opt.nr_ciphers || opt.nr_tls || opt.nr_sizes)
			bench_fail("--quick fixes cipher, TLS version and size; drop those options");
		add_cipher("aes-128-gcm");
		add_tls("1.3");
		add_size("16k");
		if (!opt.nr_scale) {
			add_scale("1");
			add_scale("64");
		}
		if (!any_mem)
			add_mem("1000");
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
	if (!opt.nr_scale) {
		add_scale("1");
		add_scale("8");
		add_scale("64");
		add_scale("256");
	}
	if (!any_mem && !opt.nr_mem) {
		add_mem("1000");
		add_mem("10000");
	}
	if (!any_path)
		for (i = 0; i < BENCH_NR_PATHS; i++)
			opt.paths[i] = 1;
}

static struct cell *cell_add(enum section sec, enum bench_path path, enum bench_mode mode,
			     int ci, int tls13, size_t size, int conns, int group, int block)
{
	struct cell *c = &cells[nr_cells++];

	memset(c, 0, sizeof(*c));
	c->section = sec;
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

/* The kTLS rows of one group: in-tree, then ours, send and sendfile. */
static void ktls_cells(enum section sec, int c, int v, size_t sz, int k, int group, int block)
{
	enum bench_path p;

	for (p = BENCH_INTREE; p <= BENCH_OURS; p++) {
		if (!opt.paths[p])
			continue;
		cell_add(sec, p, BENCH_SEND, c, v, sz, k, group, block);
		cell_add(sec, p, BENCH_SENDFILE, c, v, sz, k, group, block);
	}
}

/*
 * A block's AEAD rows, measured in it so that the floor and the rows it is
 * taken from share the host's mood: the cipher's and the null AEAD's
 * encryption and decryption of the block's writes, in record-sized chunks
 * (alg.c), on one thread.
 */
static void aead_cells(enum section sec, int c, int v, size_t sz, int block)
{
	enum bench_mode m;
	int null;

	for (null = 0; null <= 1; null++)
		for (m = BENCH_SEND; m <= BENCH_DECRYPT; m += BENCH_DECRYPT - BENCH_SEND)
			cell_add(sec, BENCH_AEAD, m, c, v, sz, 1, -1, block)->job.null_aead = null;
}

/* The tables, in print order: ceilings first, then one group per combination. */
static void cells_build(void)
{
	int ci, t, s, n, group = 0, block = 0;

	cells = calloc(opt.nr_sizes * opt.nr_conns * (2 + NR_CIPHERS * 2 * 5) +
		       opt.nr_sizes * NR_CIPHERS * 2 * 4 + opt.nr_scale * 10, sizeof(*cells));
	if (!cells)
		bench_fail("out of memory");
	for (s = 0; opt.matrix && opt.paths[BENCH_TCP] && s < opt.nr_sizes; s++)
		for (n = 0; n < opt.nr_conns; n++, block++) {
			cell_add(SEC_MATRIX, BENCH_TCP, BENCH_SEND, -1, -1, opt.sizes[s],
				 opt.conns[n], -1, block);
			cell_add(SEC_MATRIX, BENCH_TCP, BENCH_SENDFILE, -1, -1, opt.sizes[s],
				 opt.conns[n], -1, block);
		}
	/* A block per cipher, version and size: its AEAD rows, then a group per connections. */
	for (ci = 0; opt.matrix && ci < opt.nr_ciphers; ci++)
		for (t = 0; t < opt.nr_tls; t++)
			for (s = 0; s < opt.nr_sizes; s++, block++) {
				int c = opt.ciphers[ci], v = opt.tls[t];
				size_t sz = opt.sizes[s];

				if (opt.paths[BENCH_AEAD])
					aead_cells(SEC_MATRIX, c, v, sz, block);
				for (n = 0; n < opt.nr_conns; n++, group++) {
					if (opt.paths[BENCH_OPENSSL])
						cell_add(SEC_MATRIX, BENCH_OPENSSL, BENCH_SEND, c, v,
							 sz, opt.conns[n], group, block);
					ktls_cells(SEC_MATRIX, c, v, sz, opt.conns[n], group, block);
				}
			}
	for (n = 0; opt.scaling && n < opt.nr_scale; n++, group++, block++) {
		if (opt.paths[BENCH_TCP]) {
			cell_add(SEC_SCALE, BENCH_TCP, BENCH_SEND, -1, -1, SCALE_SIZE, opt.scale[n],
				 group, block);
			cell_add(SEC_SCALE, BENCH_TCP, BENCH_SENDFILE, -1, -1, SCALE_SIZE,
				 opt.scale[n], group, block);
		}
		if (opt.paths[BENCH_AEAD])
			aead_cells(SEC_SCALE, SCALE_CIPHER, 1, SCALE_SIZE, block);
		ktls_cells(SEC_SCALE, SCALE_CIPHER, 1, SCALE_SIZE, opt.scale[n], group, block);
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

/* Half the range of v[0..n): the noise of the rounds, in v's unit. */
static double half_range(const double *v, int n)
{
	double lo, hi;
	int i;

	if (!n)
		return 0;
	lo = hi = v[0];
	for (i = 1; i < n; i++) {
		lo = v[i] < lo ? v[i] : lo;
		hi = v[i] > hi ? v[i] : hi;
	}
	return (hi - lo) / 2;
}

/* The rounds of a per-round array that succeeded, into s; their count. */
static int cell_rounds(const struct cell *c, const double *v, double *s)
{
	int r, n = 0;

	for (r = 0; r < opt.reps; r++)
		if (c->ok[r])
			s[n++] = v[r];
	return n;
}

static double cell_median(const struct cell *c, const double *v)
{
	double s[MAX_REPS];

	return median(s, cell_rounds(c, v, s));
}

/* The spread of a cell's MB/s: half the range of the rounds over their median, in %. */
static double cell_spread(const struct cell *c)
{
	double s[MAX_REPS], m;
	int n = cell_rounds(c, c->mbps, s);

	m = median(s, n);
	return m > 0 ? 100 * half_range(s, n) / m : 0;
}

/*
 * Per round, c over o in MB/s, or (over) in CPU s/GiB above the round's
 * AEAD floor; the median and half the range of the rounds. 0 when no
 * round has both.
 */
static double floor_round(const struct cell *like, int r);

static double cell_ratio(const struct cell *c, const struct cell *o, int over, double *spread)
{
	double s[MAX_REPS], f;
	int r, n = 0;

	for (r = 0; r < opt.reps; r++) {
		if (!c->ok[r] || !o->ok[r])
			continue;
		if (!over && o->mbps[r] > 0)
			s[n++] = c->mbps[r] / o->mbps[r];
		else if (over && (f = floor_round(c, r)) >= 0 && o->cpu[r] - f > 0)
			s[n++] = (c->cpu[r] - f) / (o->cpu[r] - f);
	}
	if (spread)
		*spread = half_range(s, n);
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

/* A block's AEAD row: the cipher's or the null AEAD's, encryption or decryption. */
static const struct cell *aead_find(const struct cell *like, int null, enum bench_mode mode)
{
	int i;

	for (i = 0; i < nr_cells; i++) {
		const struct cell *c = &cells[i];

		if (c->block == like->block && c->job.path == BENCH_AEAD && c->job.mode == mode &&
		    c->job.null_aead == null)
			return c;
	}
	return NULL;
}

/*
 * The AEAD floor of a block in round r: one encryption and one decryption
 * of its bytes by the kernel's AEAD, AF_ALG's own syscalls and copies taken
 * out (the null AEAD's cost); CPU s/GiB. -1 when a row of it failed.
 */
static double floor_round(const struct cell *like, int r)
{
	const struct cell *e = aead_find(like, 0, BENCH_SEND);
	const struct cell *d = aead_find(like, 0, BENCH_DECRYPT);
	const struct cell *ne = aead_find(like, 1, BENCH_SEND);
	const struct cell *nd = aead_find(like, 1, BENCH_DECRYPT);

	if (!e || !d || !ne || !nd || !e->ok[r] || !d->ok[r] || !ne->ok[r] || !nd->ok[r])
		return -1;
	return e->cpu[r] - ne->cpu[r] + d->cpu[r] - nd->cpu[r];
}

/* The block's floor over the rounds: median and half the range; -1 without one. */
static double floor_median(const struct cell *like, double *spread)
{
	double s[MAX_REPS], f;
	int r, n = 0;

	for (r = 0; r < opt.reps; r++)
		if ((f = floor_round(like, r)) >= 0)
			s[n++] = f;
	if (spread)
		*spread = half_range(s, n);
	return n ? median(s, n) : -1;
}

/* A kTLS row's CPU s/GiB above its round's floor, median over the rounds; -1: none. */
static double cell_overhead(const struct cell *c)
{
	double s[MAX_REPS], f;
	int r, n = 0;

	for (r = 0; r < opt.reps; r++)
		if (c->ok[r] && (f = floor_round(c, r)) >= 0)
			s[n++] = c->cpu[r] - f;
	return n ? median(s, n) : -1;
}

static int is_ktls(const struct cell *c)
{
	return c->job.path == BENCH_INTREE || c->job.path == BENCH_OURS;
}

/* What a row's numbers are compared with; 0 where nothing applies. */
struct ratios {
	double x_ossl;		/* MB/s over OpenSSL's */
	double x_intree, x_intree_spread;	/* ours: MB/s over the in-tree kTLS's, same mode */
	double overhead;	/* kTLS: CPU s/GiB above the AEAD floor; -1: no floor */
	double x_over;		/* ours: overhead over the in-tree kTLS's */
};

static void ratios(const struct cell *c, struct ratios *x)
{
	const struct cell *o = cell_find(c, BENCH_OPENSSL, BENCH_SEND);
	const struct cell *t = cell_find(c, BENCH_INTREE, c->job.mode);

	memset(x, 0, sizeof(*x));
	x->overhead = -1;
	if (!c->nr || c->group < 0)
		return;
	if (is_ktls(c))
		x->overhead = cell_overhead(c);
	if (o && c->job.path != BENCH_OPENSSL && c->job.path != BENCH_AEAD)
		x->x_ossl = cell_ratio(c, o, 0, NULL);
	if (t && c->job.path == BENCH_OURS) {
		x->x_intree = cell_ratio(c, t, 0, &x->x_intree_spread);
		x->x_over = cell_ratio(c, t, 1, NULL);
	}
}

static const char *path_label(const struct cell *c)
{
	static char buf[32];

	switch (c->job.path) {
	case BENCH_AEAD:
		snprintf(buf, sizeof(buf), "%s %s", c->job.null_aead ? "null" : "aead",
			 c->job.mode == BENCH_DECRYPT ? "dec" : "enc");
		return buf;
	case BENCH_OPENSSL:
		return "openssl";
	default:
		snprintf(buf, sizeof(buf), "%s %s", path_names[c->job.path],
			 c->job.mode == BENCH_SENDFILE ? "sendfile" : "send");
		return buf;
	}
}

static const char *mode_name(const struct cell *c)
{
	if (c->job.path == BENCH_AEAD)
		return c->job.mode == BENCH_DECRYPT ? c->job.null_aead ? "null-decrypt" : "decrypt" :
		       c->job.null_aead ? "null-encrypt" : "encrypt";
	return c->job.mode == BENCH_SENDFILE ? "sendfile" : "send";
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

static void ratio_print(double x)
{
	if (x > 0)
		printf(" %8.2fx", x);
	else
		printf(" %9s", "-");
}

/* A block's AEAD floor as a row of the table, with the AF_ALG rows it comes from. */
static void floor_row_print(const struct cell *like)
{
	const struct cell *e = aead_find(like, 0, BENCH_SEND);
	const struct cell *d = aead_find(like, 0, BENCH_DECRYPT);
	const struct cell *ne = aead_find(like, 1, BENCH_SEND);
	const struct cell *nd = aead_find(like, 1, BENCH_DECRYPT);
	double sp, f = floor_median(like, &sp);

	if (!e)
		return;
	printf("%-18s %-17s %-3s %5s %5s", "AEAD floor", e->job.cipher->label,
	       e->job.tls13 ? "1.3" : "1.2", size_label(e->job.size), "1");
	if (f < 0) {
		printf("  failed: %s\n", e->err[0] ? e->err : d->err[0] ? d->err :
		       ne->err[0] ? ne->err : nd->err[0] ? nd->err : "a round without all four rows");
		return;
	}
	printf(" %9s %5s %9.2f  (+-%.2f; AF_ALG enc %.2f, dec %.2f, null enc %.2f, dec %.2f)\n",
	       "-", "-", f, sp, cell_median(e, e->cpu), cell_median(d, d->cpu),
	       cell_median(ne, ne->cpu), cell_median(nd, nd->cpu));
}

static void table_print(enum section sec)
{
	int i, last_group = -2, any_floor = 0;

	printf("%-18s %-17s %-3s %5s %5s %9s %5s %9s %8s %9s %9s %5s %8s\n", "path", "cipher", "tls",
	       "size", "conns", "MB/s", "+-%", "CPUs/GiB", "overhd", "xOpenSSL", "xIn-tree", "+-",
	       "xOverhd");
	for (i = 0; i < nr_cells; i++) {
		const struct cell *c = &cells[i];
		struct ratios x;

		if (c->section != sec || c->job.path == BENCH_AEAD)
			continue;
		if (c->group != last_group || (c->group < 0 && i &&
					       cells[i - 1].job.path != c->job.path))
			printf("\n");
		/* each group of kTLS rows under its block's AEAD floor */
		if (c->group >= 0 && c->group != last_group && aead_find(c, 0, BENCH_SEND)) {
			floor_row_print(c);
			any_floor = 1;
		}
		last_group = c->group;
		printf("%-18s %-17s %-3s %5s %5d", path_label(c),
		       c->job.cipher ? c->job.cipher->label : "-",
		       c->job.path == BENCH_TCP ? "-" : c->job.tls13 ? "1.3" : "1.2",
		       size_label(c->job.size), c->job.conns);
		if (!c->nr) {
			printf("  failed: %s\n", c->err);
			continue;
		}
		ratios(c, &x);
		printf(" %9.1f %5.1f %9.2f", cell_median(c, c->mbps), cell_spread(c),
		       cell_median(c, c->cpu));
		if (x.overhead != -1) {
			printf(" %8.2f", x.overhead);
		} else {
			printf(" %8s", "-");
		}
		ratio_print(x.x_ossl);
		ratio_print(x.x_intree);
		if (x.x_intree > 0)
			printf(" %5.2f", x.x_intree_spread);
		else
			printf(" %5s", "-");
		ratio_print(x.x_over);
		printf("\n");
	}
	if (!any_floor)
		printf("\n(no overhead column: the aead path was not run)\n");
}

static double mem_median(int m, int k, int used, double *spread)
{
	double v[MAX_REPS], med;
	int r;

	for (r = 0; r < mem_nr[m][k]; r++)
		v[r] = used ? mem_samples[m][k][r].used : mem_samples[m][k][r].slab;
	med = median(v, mem_nr[m][k]);
	if (spread)
		*spread = half_range(v, mem_nr[m][k]);
	return med;
}

static void mem_print(void)
{
	int m, k;

	printf("\nKernel memory per idle connection (both ends with AES-128-GCM TLS 1.3 keys for TX\n"
	       "and RX), median of %d rounds, +- half the range of the rounds:\n", opt.reps);
	printf("  %6s %-8s %24s %22s\n", "conns", "path", "slab+vmalloc+percpu", "MemTotal-MemFree");
	for (m = 0; m < opt.nr_mem; m++)
		for (k = 0; k < 3; k++) {
			double sp = 0, slab;

			if (!mem_nr[m][k])
				continue;
			slab = mem_median(m, k, 0, &sp);
			printf("  %6d %-8s %12.0f B +- %6.0f", opt.mem[m], path_names[mem_paths[k]],
			       slab, sp);
			printf(" %20.0f B\n", mem_median(m, k, 1, NULL));
		}
}

static void tsv_write(const char *path)
{
	FILE *f = fopen(path, "w");
	int i, m, k;

	if (!f)
		bench_fail("cannot write %s: %s", path, strerror(errno));
	fprintf(f, "# section\tpath\tmode\tcipher\ttls\tsize\tconns\tmbps\tmbps_spread_pct\t"
		"cpu_s_per_gib\toverhead\tx_openssl\tx_intree\tx_intree_spread\tx_overhead\truns\n");
	for (i = 0; i < nr_cells; i++) {
		const struct cell *c = &cells[i];
		struct ratios x;

		ratios(c, &x);
		fprintf(f, "%s\t%s\t%s\t%s\t%s\t%zu\t%d\t%.2f\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t"
			"%.3f\t%d\n", c->section == SEC_SCALE ? "scale" : "matrix",
			path_names[c->job.path], mode_name(c),
			c->job.cipher ? c->job.cipher->name : "-",
			c->job.path == BENCH_TCP ? "-" : c->job.tls13 ? "1.3" : "1.2", c->job.size,
			c->job.conns, cell_median(c, c->mbps), cell_spread(c), cell_median(c, c->cpu),
			x.overhead, x.x_ossl, x.x_intree, x.x_intree_spread, x.x_over, c->nr);
		/* after a group's last AEAD row, its floor */
		if (c->job.path == BENCH_AEAD && c->job.null_aead && c->job.mode == BENCH_DECRYPT) {
			double sp, fl = floor_median(c, &sp);

			fprintf(f, "%s\tfloor\t-\t%s\t%s\t%zu\t%d\t0\t0\t%.3f\t-1\t0\t0\t%.3f\t0\t%d\n",
				c->section == SEC_SCALE ? "scale" : "matrix", c->job.cipher->name,
				c->job.tls13 ? "1.3" : "1.2", c->job.size, c->job.conns, fl, sp,
				c->nr);
		}
	}
	fprintf(f, "# mem\tpath\tconns\tslab_bytes\tused_bytes\tslab_spread_bytes\truns\n");
	for (m = 0; m < opt.nr_mem; m++)
		for (k = 0; k < 3; k++) {
			double sp = 0, slab;

			if (!mem_nr[m][k])
				continue;
			slab = mem_median(m, k, 0, &sp);
			fprintf(f, "mem\t%s\t%d\t%.0f\t%.0f\t%.0f\t%d\n", path_names[mem_paths[k]],
				opt.mem[m], slab, mem_median(m, k, 1, NULL), sp, mem_nr[m][k]);
		}
	if (fclose(f))
		bench_fail("writing %s: %s", path, strerror(errno));
}

/* The targets, stated next to the numbers; informative only. */
static void targets_print(enum section sec)
{
	int i, m, rows = 0, below = 0, beyond = 0, oh_rows = 0, oh_met = 0;
	double oh_lo = 1e9, oh_hi = 0;

	printf("\nTargets, %s (ours against the in-tree kTLS, same-run ratios):\n",
	       sec == SEC_MATRIX ? "micro matrix" : "scale");
	for (i = 0; i < nr_cells; i++) {
		const struct cell *c = &cells[i];
		struct ratios x;

		if (c->section != sec || c->job.path != BENCH_OURS || !c->nr)
			continue;
		ratios(c, &x);
		if (x.x_intree <= 0)
			continue;
		rows++;
		if (x.x_intree < 1)
			below++;
		if (x.x_intree + x.x_intree_spread < 1) {
			beyond++;
			printf("  below beyond the spread: %s %s %s %s x%d: %.2fx +- %.2f\n",
			       path_label(c), c->job.cipher->label, c->job.tls13 ? "1.3" : "1.2",
			       size_label(c->job.size), c->job.conns, x.x_intree, x.x_intree_spread);
		}
		if (c->section == SEC_MATRIX && c->job.size >= 16384 && x.x_over > 0) {
			oh_rows++;
			oh_met += x.x_over <= 0.6;
			oh_lo = x.x_over < oh_lo ? x.x_over : oh_lo;
			oh_hi = x.x_over > oh_hi ? x.x_over : oh_hi;
		}
	}
	printf("  never below the in-tree kTLS: ours below it on %d of %d rows (MB/s, median of "
	       "per-round ratios), %d of them by more than the spread of the rounds%s\n", below,
	       rows, beyond, rows && !beyond ? "  (met)" : rows ? "  (NOT met)" : "");
	if (oh_rows)
		printf("  overhead above the AEAD floor <= 0.6x the in-tree kTLS's on the 16K and 1M "
		       "rows: %d of %d rows, ours/in-tree from %.2f to %.2f%s\n", oh_met, oh_rows,
		       oh_lo, oh_hi, oh_met == oh_rows ? "  (met)" : "  (NOT met)");
	for (m = 0; sec == SEC_SCALE && m < opt.nr_mem; m++)
		if (mem_nr[m][1] && mem_nr[m][2]) {
			double o = mem_median(m, 2, 0, NULL), t = mem_median(m, 1, 0, NULL);

			printf("  idle memory per connection at %d connections: ours %.0f B, in-tree "
			       "%.0f B%s\n", opt.mem[m], o, t, o <= t ? "  (met)" : "  (NOT met)");
		}
}

static void mem_run(void)
{
	char err[200];
	int m, r, i;

	for (m = 0; m < opt.nr_mem; m++) {
		for (r = 0; r < opt.reps; r++) {
			for (i = 0; i < 3; i++) {
				int k = r & 1 ? 2 - i : i;
				enum bench_path p = mem_paths[k];
				const char *ulp = p == BENCH_TCP ? NULL : p == BENCH_OURS ? opt.ulp :
									  opt.intree_ulp;

				if (p != BENCH_TCP && !opt.paths[p])
					continue;
				if (bench_mem_run(ulp, &ciphers[0], opt.mem[m],
						  &mem_samples[m][k][mem_nr[m][k]], err, sizeof(err)))
					fprintf(stderr, "%s: memory, %s, %d connections: %s\n",
						bench_prog, path_names[p], opt.mem[m], err);
				else
					mem_nr[m][k]++;
			}
		}
		fprintf(stderr, "%s: progress: memory at %d connections done\n", bench_prog,
			opt.mem[m]);
	}
}

int main(int argc, char **argv)
{
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
	if (opt.matrix && opt.paths[BENCH_OPENSSL] && bench_ossl_init(err, sizeof(err)))
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
	if (opt.scaling)
		mem_run();

	if (opt.matrix) {
		printf("\nThroughput over loopback, median of %d rounds (MB/s = 10^6 bytes/s; +-%% = "
		       "half the range of the rounds' MB/s over the median; CPUs/GiB = busy CPU "
		       "seconds of the whole machine per GiB moved; overhd = CPUs/GiB above the "
		       "AEAD floor; xIn-tree +- = half the range of the per-round ratios; xOverhd = "
		       "ours' overhd over the in-tree kTLS's)\n", opt.reps);
		table_print(SEC_MATRIX);
	}
	if (opt.scaling) {
		printf("\nScale: AES-128-GCM, TLS 1.3, %s writes, by connections (same columns)\n",
		       size_label(SCALE_SIZE));
		table_print(SEC_SCALE);
		if (opt.nr_mem)
			mem_print();
	}
	if (opt.paths[BENCH_OURS] && opt.matrix)
		targets_print(SEC_MATRIX);
	if (opt.paths[BENCH_OURS] && opt.scaling)
		targets_print(SEC_SCALE);
	printf("\nktls-bench: %.0f s in all\n", bench_now() - t0);
	if (opt.out)
		tsv_write(opt.out);
	bench_file_uninit();
	bench_ossl_uninit();
	return 0;
}
