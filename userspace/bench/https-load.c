// SPDX-License-Identifier: GPL-2.0
/*
 * https-load: the client of make bench's HTTPS section. It opens --conns
 * keep-alive connections to an HTTPS server (records in userspace OpenSSL,
 * the certificate checked against --cacert, the version and cipher the
 * ones asked for), completes every handshake, and only then starts the
 * clock: for --time seconds one GET of the same file is in flight on every
 * connection, driven by one epoll loop, each body byte compared with the
 * local copy of the file. A connection whose response ends after the
 * deadline asks nothing more; the clock stops when the last one is done.
 *
 * The server's CPU time (utime + stime of its process tree, children it
 * has reaped included: /proc/PID/stat) and the busy and softirq time of
 * the server's CPU and of the whole machine (/proc/stat) are read at those
 * two instants, so the handshakes are outside the figures and what is left
 * is the cost of serving the bytes. One line of key=value pairs on stdout;
 * exit 1 with one line on stderr at the first wrong byte, short or extra
 * body, status other than 200, connection the server ends, or when nothing
 * moves for --timeout seconds; 2 for bad options.
 *
 * With --handshakes the figure is the handshake instead: the clock starts
 * at once, and until --time is up each of the --conns connections loops
 * connect, a full handshake (a fresh SSL each time, no session cache, no
 * ticket: a resumed session is an error), one GET of --file (every byte
 * checked), close_notify and close. The CPU figures then cover all of it
 * and are reported per handshake by the caller.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS	1024
#define HEAD_MAX	8192		/* a response head longer than this is an error */
#define READ_BUF	(256 * 1024)

static const char usage_text[] =
	"usage: https-load --port N --path /FILE --file LOCAL --cacert FILE [options]\n"
	"  --host ADDR        server's IPv4 address (default 127.0.0.1)\n"
	"  --sni NAME         name to ask for and check in the certificate (default localhost)\n"
	"  --conns N          concurrent keep-alive connections, 1..1024 (default 1)\n"
	"  --time S           seconds of requests after the handshakes (default 3)\n"
	"  --tls 1.2|1.3      offer only this version (default: both)\n"
	"  --cipher NAME      offer only aes-128-gcm, aes-256-gcm or chacha20-poly1305 and\n"
	"                     check that it was chosen (default: OpenSSL's list)\n"
	"  --server-pid LIST  the server's process trees (PIDs, comma-separated, up to 8)\n"
	"                     whose CPU time is reported, counted once each\n"
	"  --handshakes       each connection loops connect, full handshake, one GET,\n"
	"                     close for --time seconds (no resumption); prints\n"
	"                     handshakes and hs_per_s instead of gib and mbps\n"
	"  --server-cpu N     the CPU the server is pinned to (its busy and softirq time)\n"
	"  --timeout S        fail when no byte moves for S seconds (default 30)\n"
	"Prints: requests body_bytes seconds mbps server_cpu cpu_busy cpu_softirq\n"
	"vm_busy vm_softirq client_cpu (CPU seconds) version cipher, as key=value.\n"
	"\n"
	"usage: https-load --spin S --server-cpu N\n"
	"  spins S seconds on this CPU (pin it to CPU N) and prints how much of it\n"
	"  CPU N's busy ticks in /proc/stat saw (cpu_busy) and this process's own\n"
	"  utime + stime (client_cpu): under emulation on a busy host the first is\n"
	"  what the vCPU ran, the second also counts the time it was preempted.\n";

static struct {
	const char *host, *sni, *path, *file, *cacert;
	int port, conns, tls, cipher_nid, server_cpu;
	long server_pid[8];
	int nr_server_pids, handshakes;
	double seconds, timeout;
} opt = {
	.host = "127.0.0.1", .sni = "localhost", .conns = 1, .seconds = 3, .timeout = 30,
	.server_cpu = -1,
};
static double spin_s;

static const struct {
	const char *name, *tls12, *tls13;
	int nid;
} ciphers[] = {
	{ "aes-128-gcm", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
	  "TLS_AES_128_GCM_SHA256", NID_aes_128_gcm },
	{ "aes-256-gcm", "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384",
	  "TLS_AES_256_GCM_SHA384", NID_aes_256_gcm },
	{ "chacha20-poly1305", "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
	  "TLS_CHACHA20_POLY1305_SHA256", NID_chacha20_poly1305 },
};
#define NR_CIPHERS ((int)(sizeof(ciphers) / sizeof(ciphers[0])))

static void __attribute__((format(printf, 2, 3), noreturn)) die(int rc, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "https-load: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(rc);
}

static const char *ossl_error(void)
{
	static char buf[160];
	unsigned long e = ERR_get_error();

	if (!e)
		return "no OpenSSL error queued";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long num_parse(const char *o, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		die(2, "bad %s '%s' (a number from %ld to %ld)", o, s, lo, hi);
	return v;
}

static double secs_parse(const char *o, const char *s, double lo, double hi)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v >= lo && v <= hi))
		die(2, "bad %s '%s' (seconds, %g to %g)", o, s, lo, hi);
	return v;
}

static int cipher_index = -1;

/* Every option but --help takes a value. */
static int known(const char *o)
{
	static const char *const names[] = {
		"--port", "--host", "--sni", "--path", "--file", "--cacert", "--conns", "--time",
		"--timeout", "--tls", "--cipher", "--server-pid", "--server-cpu", "--spin",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(o, names[i]))
			return 1;
	return 0;
}

static void options_parse(int argc, char **argv)
{
	int i, c;

	for (i = 1; i < argc; i++) {
		const char *o = argv[i], *a = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (strncmp(o, "--", 2))
			die(2, "unexpected argument '%s' (see --help)", o);
		if (!strcmp(o, "--handshakes")) {	/* the one option without a value */
			opt.handshakes = 1;
			continue;
		}
		if (!known(o))
			die(2, "unknown option '%s' (see --help)", o);
		if (!a)
			die(2, "%s needs a value (see --help)", o);
		i++;
		if (!strcmp(o, "--port")) {
			opt.port = num_parse(o, a, 1, 65535);
		} else if (!strcmp(o, "--host")) {
			opt.host = a;
		} else if (!strcmp(o, "--sni")) {
			opt.sni = a;
		} else if (!strcmp(o, "--path")) {
			if (a[0] != '/' || strpbrk(a, " \r\n"))
				die(2, "bad --path '%s' (an absolute URL path, no spaces)", a);
			opt.path = a;
		} else if (!strcmp(o, "--file")) {
			opt.file = a;
		} else if (!strcmp(o, "--cacert")) {
			opt.cacert = a;
		} else if (!strcmp(o, "--conns")) {
			opt.conns = num_parse(o, a, 1, MAX_CONNS);
		} else if (!strcmp(o, "--time")) {
			opt.seconds = secs_parse(o, a, 0.1, 3600);
		} else if (!strcmp(o, "--timeout")) {
			opt.timeout = secs_parse(o, a, 1, 3600);
		} else if (!strcmp(o, "--tls")) {
			if (!strcmp(a, "1.2"))
				opt.tls = TLS1_2_VERSION;
			else if (!strcmp(a, "1.3"))
				opt.tls = TLS1_3_VERSION;
			else
				die(2, "bad --tls '%s' (1.2 or 1.3)", a);
		} else if (!strcmp(o, "--cipher")) {
			for (c = 0; c < NR_CIPHERS && strcmp(a, ciphers[c].name); c++)
				;
			if (c == NR_CIPHERS)
				die(2, "bad --cipher '%s' (aes-128-gcm, aes-256-gcm, chacha20-poly1305)",
				    a);
			cipher_index = c;
		} else if (!strcmp(o, "--server-pid")) {
			char buf[256], *t, *save = NULL;

			snprintf(buf, sizeof(buf), "%s", a);
			opt.nr_server_pids = 0;
			for (t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				if (opt.nr_server_pids == 8)
					die(2, "--server-pid: 8 PIDs at most");
				opt.server_pid[opt.nr_server_pids++] = num_parse(o, t, 1, 1L << 30);
			}
			if (!opt.nr_server_pids)
				die(2, "bad --server-pid '%s' (PIDs, comma-separated)", a);
		} else if (!strcmp(o, "--server-cpu")) {
			opt.server_cpu = num_parse(o, a, 0, 4095);
		} else if (!strcmp(o, "--spin")) {
			spin_s = secs_parse(o, a, 0.1, 60);
		} else {
			die(2, "unknown option '%s' (see --help)", o);
		}
	}
	if (spin_s) {
		if (opt.server_cpu < 0)
			die(2, "--spin needs --server-cpu, the CPU it is pinned to");
		return;
	}
	if (!opt.port || !opt.path || !opt.file || !opt.cacert)
		die(2, "--port, --path, --file and --cacert are required (see --help)");
}

/* CPU time ------------------------------------------------------------- */

struct cpu_sample {
	double server;		/* utime+stime+cutime+cstime of the server's tree */
	double cpu_busy, cpu_sirq;	/* the server's CPU */
	double vm_busy, vm_sirq;	/* all CPUs */
	double client;		/* this process */
};

struct proc {
	long pid, ppid;
	unsigned long long ticks;
	int in;
};

/* Fields 4 (ppid) and 14-17 (utime, stime, cutime, cstime) of /proc/PID/stat. */
static int proc_read(const char *pid, struct proc *p)
{
	char path[300], buf[1024], *s;
	unsigned long long ut, st;
	long long cut, cst;
	ssize_t n;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	s = strrchr(buf, ')');	/* the command name may hold anything */
	if (!s || sscanf(s + 2, "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
			 &p->ppid, &ut, &st, &cut, &cst) != 5)
		return -1;
	p->pid = atol(pid);
	p->ticks = ut + st + cut + cst;
	p->in = 0;
	for (i = 0; i < opt.nr_server_pids; i++)
		if (p->pid == opt.server_pid[i])
			p->in = 1;
	return 0;
}

/*
 * The live processes of the tree and what their reaped children left in
 * cutime/cstime: every CPU second of the tree, counted once.
 */
static double tree_cpu(void)
{
	static struct proc *procs;
	static size_t cap;
	unsigned long long sum = 0;
	size_t n = 0, i, j;
	struct dirent *d;
	int changed, roots = 0;
	DIR *dir = opendir("/proc");

	if (!dir)
		die(1, "cannot read /proc: %s", strerror(errno));
	while ((d = readdir(dir))) {
		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			procs = realloc(procs, cap * sizeof(*procs));
			if (!procs)
				die(1, "out of memory");
		}
		if (!proc_read(d->d_name, &procs[n]))
			roots += procs[n++].in;
	}
	closedir(dir);
	if (roots != opt.nr_server_pids)
		die(1, "a server process (--server-pid) is gone");
	do {
		changed = 0;
		for (i = 0; i < n; i++)
			for (j = 0; !procs[i].in && j < n; j++)
				if (procs[j].in && procs[j].pid == procs[i].ppid)
					procs[i].in = changed = 1;
	} while (changed);
	for (i = 0; i < n; i++)
		if (procs[i].in)
			sum += procs[i].ticks;
	return (double)sum / sysconf(_SC_CLK_TCK);
}

/* Busy (user nice system irq softirq steal) and softirq seconds of a /proc/stat line. */
static void stat_line(const char *line, double *busy, double *sirq)
{
	unsigned long long v[8] = { 0 };

	sscanf(line, "%*s %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
	       &v[4], &v[5], &v[6], &v[7]);
	*busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / sysconf(_SC_CLK_TCK);
	*sirq = (double)v[6] / sysconf(_SC_CLK_TCK);
}

static void cpu_sample(struct cpu_sample *s)
{
	char line[512], want[16];
	struct rusage ru;
	FILE *f = fopen("/proc/stat", "r");

	memset(s, 0, sizeof(*s));
	if (!f)
		die(1, "cannot read /proc/stat: %s", strerror(errno));
	snprintf(want, sizeof(want), "cpu%d ", opt.server_cpu);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "cpu ", 4))
			stat_line(line, &s->vm_busy, &s->vm_sirq);
		else if (opt.server_cpu >= 0 && !strncmp(line, want, strlen(want)))
			stat_line(line, &s->cpu_busy, &s->cpu_sirq);
	}
	fclose(f);
	if (opt.nr_server_pids)
		s->server = tree_cpu();
	getrusage(RUSAGE_SELF, &ru);
	s->client = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
		    ru.ru_stime.tv_usec / 1e6;
}

/* Connections ------------------------------------------------------------ */

enum state { ST_HS, ST_WRITE, ST_HEAD, ST_BODY, ST_DONE };

struct conn {
	int fd, idx;
	SSL *ssl;
	enum state st;
	size_t wr_off;
	char head[HEAD_MAX];
	size_t head_len;
	uint64_t body_off;	/* body bytes of the current response so far */
	uint64_t requests;
	int closing;		/* the response said "Connection: close" */
	int want_out;		/* EPOLLOUT registered */
	double last;		/* last time a byte moved */
};

static const unsigned char *content;	/* the file, mapped */
static uint64_t content_len;
static char request[512];
static size_t request_len;
static double deadline;
static uint64_t total_requests, total_bytes, total_handshakes;
static const char *neg_version, *neg_cipher;	/* what the first handshake got */
static SSL_CTX *hs_ctx;		/* --handshakes: for the next connections */
static int epfd, active;
static unsigned char rbuf[READ_BUF];

static SSL_CTX *ctx_make(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		die(1, "SSL_CTX_new: %s", ossl_error());
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (!SSL_CTX_load_verify_locations(ctx, opt.cacert, NULL))
		die(1, "cannot load the CA certificate '%s': %s", opt.cacert, ossl_error());
	SSL_CTX_clear_options(ctx, SSL_OP_ENABLE_KTLS);	/* the client stays constant */
	if (opt.handshakes) {
		/* Every handshake a full one: nothing kept to resume with. */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	}
	SSL_CTX_set_min_proto_version(ctx, opt.tls ? opt.tls : TLS1_2_VERSION);
	if (opt.tls)
		SSL_CTX_set_max_proto_version(ctx, opt.tls);
	if (cipher_index >= 0) {
		/* Each call fails if nothing of the list is left; one version may not need it. */
		if (opt.tls != TLS1_3_VERSION &&
		    !SSL_CTX_set_cipher_list(ctx, ciphers[cipher_index].tls12))
			die(1, "OpenSSL refuses the TLS 1.2 suites of %s: %s",
			    ciphers[cipher_index].name, ossl_error());
		if (opt.tls != TLS1_2_VERSION &&
		    !SSL_CTX_set_ciphersuites(ctx, ciphers[cipher_index].tls13))
			die(1, "OpenSSL refuses the TLS 1.3 suite of %s: %s",
			    ciphers[cipher_index].name, ossl_error());
	}
	return ctx;
}

/* The handshake of c is done: what it negotiated must be what was asked for. */
static void hs_check(struct conn *c)
{
	const SSL_CIPHER *ci = SSL_get_current_cipher(c->ssl);

	if (cipher_index >= 0 && SSL_CIPHER_get_cipher_nid(ci) != ciphers[cipher_index].nid)
		die(1, "connection %d: the server chose %s, not %s", c->idx,
		    SSL_CIPHER_get_name(ci), ciphers[cipher_index].name);
	if (opt.tls && SSL_version(c->ssl) != opt.tls)
		die(1, "connection %d: the server chose %s", c->idx, SSL_get_version(c->ssl));
	if (SSL_session_reused(c->ssl))
		die(1, "connection %d: a resumed session, not a full handshake", c->idx);
	if (!neg_version) {
		neg_version = SSL_get_version(c->ssl);
		neg_cipher = SSL_CIPHER_get_name(ci);
	}
}

static void hs_fail(struct conn *c)
{
	long v = SSL_get_verify_result(c->ssl);

	die(1, "connection %d: handshake %llu: %s", c->idx,
	    (unsigned long long)total_handshakes + 1,
	    v != X509_V_OK ? X509_verify_cert_error_string(v) : ossl_error());
}

static void conn_request(struct conn *c);
static int ssl_retry(struct conn *c, int r, const char *what);

/* --handshakes: one step of c's nonblocking handshake; then its request. */
static void hs_step(struct conn *c)
{
	int r = SSL_do_handshake(c->ssl), e;

	if (r == 1) {
		c->last = now();
		hs_check(c);
		conn_request(c);
		return;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		ssl_retry(c, r, "handshake");
		return;
	}
	hs_fail(c);
}

/*
 * A blocking connect (loopback: the kernel answers it, not the server),
 * bounded by --timeout; then a blocking handshake, or with --handshakes a
 * nonblocking one driven by the epoll loop. The socket ends nonblocking.
 */
static void conn_open(struct conn *c, SSL_CTX *ctx, int idx)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(opt.port) };
	struct timeval tv = { .tv_sec = (time_t)opt.timeout };
	struct epoll_event ev;
	int one = 1;

	memset(c, 0, sizeof(*c));
	c->idx = idx;
	c->last = now();
	if (inet_pton(AF_INET, opt.host, &sin.sin_addr) != 1)
		die(2, "bad --host '%s' (an IPv4 address)", opt.host);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die(1, "socket: %s", strerror(errno));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)))
		die(1, "connection %d: connect to %s:%d: %s", idx, opt.host, opt.port,
		    strerror(errno));
	c->ssl = SSL_new(ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd) || !SSL_set_tlsext_host_name(c->ssl, opt.sni) ||
	    !SSL_set1_host(c->ssl, opt.sni))
		die(1, "SSL_new: %s", ossl_error());
	if (!opt.handshakes) {
		if (SSL_connect(c->ssl) != 1)
			hs_fail(c);
		hs_check(c);
	}
	if (fcntl(c->fd, F_SETFL, O_NONBLOCK))
		die(1, "fcntl: %s", strerror(errno));
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev))
		die(1, "epoll_ctl: %s", strerror(errno));
	if (opt.handshakes) {
		c->st = ST_HS;
		SSL_set_connect_state(c->ssl);
		hs_step(c);
	}
}

/* --handshakes: the answer is complete; close (close_notify, no wait for the peer's). */
static void conn_close(struct conn *c)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	SSL_shutdown(c->ssl);
	SSL_free(c->ssl);
	c->ssl = NULL;
	close(c->fd);
	c->fd = -1;
}

static void want_out(struct conn *c, int on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c };

	if (c->want_out == on)
		return;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev))
		die(1, "epoll_ctl: %s", strerror(errno));
	c->want_out = on;
}

/* Whether an SSL call that returned r may be retried when the socket is ready. */
static int ssl_retry(struct conn *c, int r, const char *what)
{
	int e = SSL_get_error(c->ssl, r);

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		want_out(c, e == SSL_ERROR_WANT_WRITE);
		return 1;
	}
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !ERR_peek_error()))
		die(1, "connection %d: the server ended the connection after %llu responses (%s, "
		    "%s, %llu body bytes into the current one)", c->idx,
		    (unsigned long long)c->requests,
		    e == SSL_ERROR_ZERO_RETURN ? "close_notify" : errno ? strerror(errno) : "EOF",
		    what, (unsigned long long)c->body_off);
	die(1, "connection %d: %s: %s", c->idx, what, ossl_error());
}

static void conn_write(struct conn *c)
{
	while (c->wr_off < request_len) {
		int r = SSL_write(c->ssl, request + c->wr_off, request_len - c->wr_off);

		if (r <= 0) {
			ssl_retry(c, r, "SSL_write");
			return;
		}
		c->wr_off += r;
		c->last = now();
	}
	want_out(c, 0);
	c->st = ST_HEAD;
	c->head_len = 0;
	c->body_off = 0;
}

static void conn_request(struct conn *c)
{
	c->st = ST_WRITE;
	c->wr_off = 0;
	conn_write(c);
}

/* The response head is complete in c->head[0..len): check it. */
static void head_check(struct conn *c, size_t len)
{
	char *h = c->head, *line, *save = NULL;
	int cl = 0;

	h[len] = 0;
	if (strncmp(h, "HTTP/1.1 200 ", 13) && strncmp(h, "HTTP/1.0 200 ", 13))
		die(1, "connection %d: answer %llu: %.*s", c->idx,
		    (unsigned long long)c->requests + 1, (int)strcspn(h, "\r\n"), h);
	c->closing = 0;
	for (line = strtok_r(h, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		if (!strncasecmp(line, "Content-Length:", 15)) {
			unsigned long long v = strtoull(line + 15, NULL, 10);

			if (v != content_len)
				die(1, "connection %d: Content-Length %llu, the file has %llu bytes",
				    c->idx, v, (unsigned long long)content_len);
			cl = 1;
		} else if (!strncasecmp(line, "Transfer-Encoding:", 18)) {
			die(1, "connection %d: a Transfer-Encoding answer for a static file",
			    c->idx);
		} else if (!strncasecmp(line, "Connection:", 11) && strcasestr(line, "close")) {
			c->closing = 1;
		}
	}
	if (!cl)
		die(1, "connection %d: an answer without Content-Length", c->idx);
}

static void body_check(struct conn *c, const unsigned char *p, size_t n)
{
	size_t i;

	if (memcmp(p, content + c->body_off, n)) {
		for (i = 0; p[i] == content[c->body_off + i]; i++)
			;
		die(1, "connection %d: answer %llu: body byte %llu differs from the file", c->idx,
		    (unsigned long long)c->requests + 1, (unsigned long long)(c->body_off + i));
	}
	c->body_off += n;
}

static void response_done(struct conn *c)
{
	c->requests++;
	total_requests++;
	total_bytes += content_len;
	if (opt.handshakes) {
		total_handshakes++;
		conn_close(c);
		if (now() >= deadline) {
			c->st = ST_DONE;
			active--;
		} else {
			conn_open(c, hs_ctx, c->idx);
		}
		return;
	}
	if (now() >= deadline) {
		c->st = ST_DONE;
		active--;
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		return;
	}
	if (c->closing)
		die(1, "connection %d: the server closes keep-alive connections after %llu "
		    "requests; raise its limit", c->idx, (unsigned long long)c->requests);
	conn_request(c);
}

/* Bytes of one SSL_read: the head, then the body; nothing may follow it. */
static void conn_input(struct conn *c, const unsigned char *p, size_t n)
{
	while (n) {
		if (c->st == ST_HEAD) {
			size_t take = n < HEAD_MAX - 1 - c->head_len ? n : HEAD_MAX - 1 - c->head_len;
			char *end;

			memcpy(c->head + c->head_len, p, take);
			c->head[c->head_len + take] = 0;
			end = strstr(c->head, "\r\n\r\n");
			if (!end) {
				if (c->head_len + take >= HEAD_MAX - 1)
					die(1, "connection %d: a response head over %d bytes", c->idx,
					    HEAD_MAX);
				c->head_len += take;
				return;
			}
			take = end + 4 - c->head - c->head_len;
			head_check(c, end + 4 - c->head);
			p += take;
			n -= take;
			c->st = ST_BODY;
			if (!content_len)
				response_done(c);
		} else if (c->st == ST_BODY) {
			size_t take = n < content_len - c->body_off ? n : content_len - c->body_off;

			body_check(c, p, take);
			p += take;
			n -= take;
			if (c->body_off == content_len)
				response_done(c);
		} else {
			die(1, "connection %d: %zu bytes after the answer to the last request",
			    c->idx, n);
		}
	}
}

static void conn_event(struct conn *c)
{
	int r;

	if (c->st == ST_HS) {
		hs_step(c);
		if (c->st == ST_HS)
			return;
	}
	if (c->st == ST_WRITE) {
		conn_write(c);
		if (c->st == ST_WRITE)
			return;
	}
	/* Drain OpenSSL: it may hold a decrypted record epoll knows nothing of. */
	for (;;) {
		r = SSL_read(c->ssl, rbuf, sizeof(rbuf));
		if (r <= 0) {
			if (c->st == ST_DONE && SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_READ)
				return;
			ssl_retry(c, r, "SSL_read");
			return;
		}
		c->last = now();
		conn_input(c, rbuf, r);
		if (c->st == ST_WRITE || c->st == ST_HS || !c->ssl)
			return;	/* the next request waits for EPOLLOUT; a new connection */
	}
}

static void content_map(void)
{
	struct stat st;
	int fd = open(opt.file, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st))
		die(1, "cannot open '%s': %s", opt.file, strerror(errno));
	content_len = st.st_size;
	if (content_len) {
		content = mmap(NULL, content_len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		if (content == MAP_FAILED)
			die(1, "cannot map '%s': %s", opt.file, strerror(errno));
	}
	close(fd);
}

/* The calibration: CPU time seen by the tick counters against the task's own. */
static int spin(void)
{
	struct cpu_sample a, b;
	volatile unsigned long n = 0;
	double t0;

	cpu_sample(&a);
	t0 = now();
	while (now() - t0 < spin_s)
		n++;
	cpu_sample(&b);
	printf("seconds=%.3f cpu_busy=%.3f client_cpu=%.3f\n", now() - t0,
	       b.cpu_busy - a.cpu_busy, b.client - a.client);
	return 0;
}

int main(int argc, char **argv)
{
	struct cpu_sample a, b;
	struct epoll_event ev[64];
	struct conn *conns;
	SSL_CTX *ctx;
	double t0, t1, gib;
	int i, n;

	options_parse(argc, argv);
	if (spin_s)
		return spin();
	content_map();
	request_len = snprintf(request, sizeof(request),
			       "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: https-load\r\n\r\n",
			       opt.path, opt.sni);
	if (request_len >= sizeof(request))
		die(2, "--path is too long");
	epfd = epoll_create1(EPOLL_CLOEXEC);
	conns = calloc(opt.conns, sizeof(*conns));
	if (epfd < 0 || !conns)
		die(1, "epoll/memory: %s", strerror(errno));
	ctx = hs_ctx = ctx_make();
	if (opt.handshakes) {
		/* The clock covers the connects and handshakes: they are the figure. */
		cpu_sample(&a);
		t0 = now();
		deadline = t0 + opt.seconds;
		active = opt.conns;
		for (i = 0; i < opt.conns; i++)
			conn_open(&conns[i], ctx, i);
	} else {
		for (i = 0; i < opt.conns; i++)
			conn_open(&conns[i], ctx, i);
		cpu_sample(&a);
		t0 = now();
		deadline = t0 + opt.seconds;
		active = opt.conns;
		for (i = 0; i < opt.conns; i++) {
			conns[i].last = t0;
			conn_request(&conns[i]);
		}
	}
	while (active) {
		double t;

		n = epoll_wait(epfd, ev, 64, 500);
		if (n < 0 && errno != EINTR)
			die(1, "epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++)
			if (((struct conn *)ev[i].data.ptr)->st != ST_DONE)
				conn_event(ev[i].data.ptr);
		t = now();
		for (i = 0; i < opt.conns; i++)
			if (conns[i].st != ST_DONE && t - conns[i].last > opt.timeout)
				die(1, "connection %d: nothing moved for %.0f s (%s, answer %llu, "
				    "%llu body bytes)", i, opt.timeout,
				    conns[i].st == ST_HS ? "in the handshake" :
				    conns[i].st == ST_WRITE ? "sending the request" :
				    conns[i].st == ST_HEAD ? "waiting for the head" : "in the body",
				    (unsigned long long)conns[i].requests + 1,
				    (unsigned long long)conns[i].body_off);
	}
	t1 = now();
	cpu_sample(&b);

	if (opt.handshakes) {
		printf("handshakes=%llu requests=%llu body_bytes=%llu seconds=%.3f hs_per_s=%.2f "
		       "server_cpu=%.3f cpu_busy=%.3f cpu_softirq=%.3f vm_busy=%.3f "
		       "vm_softirq=%.3f client_cpu=%.3f version=%s cipher=%s\n",
		       (unsigned long long)total_handshakes, (unsigned long long)total_requests,
		       (unsigned long long)total_bytes, t1 - t0, total_handshakes / (t1 - t0),
		       b.server - a.server, b.cpu_busy - a.cpu_busy, b.cpu_sirq - a.cpu_sirq,
		       b.vm_busy - a.vm_busy, b.vm_sirq - a.vm_sirq, b.client - a.client,
		       neg_version, neg_cipher);
		SSL_CTX_free(ctx);
		return 0;
	}
	gib = total_bytes / (1024.0 * 1024 * 1024);
	printf("requests=%llu body_bytes=%llu seconds=%.3f mbps=%.2f server_cpu=%.3f "
	       "cpu_busy=%.3f cpu_softirq=%.3f vm_busy=%.3f vm_softirq=%.3f client_cpu=%.3f "
	       "gib=%.6f version=%s cipher=%s\n",
	       (unsigned long long)total_requests, (unsigned long long)total_bytes, t1 - t0,
	       total_bytes / (t1 - t0) / 1e6, b.server - a.server, b.cpu_busy - a.cpu_busy,
	       b.cpu_sirq - a.cpu_sirq, b.vm_busy - a.vm_busy, b.vm_sirq - a.vm_sirq,
	       b.client - a.client, gib, SSL_get_version(conns[0].ssl),
	       SSL_CIPHER_get_name(SSL_get_current_cipher(conns[0].ssl)));
	for (i = 0; i < opt.conns; i++) {
		SSL_shutdown(conns[i].ssl);
		SSL_free(conns[i].ssl);
		close(conns[i].fd);
	}
	SSL_CTX_free(ctx);
	return 0;
}
