/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What ktls-serve and ktls-get share: a table of options that is both the
 * parser and the --help text, the TLS options both take, one-line errors,
 * and the escaping of bytes from the network before they are printed.
 */
#ifndef KTLS_TOOLS_COMMON_H
#define KTLS_TOOLS_COMMON_H

#include <stddef.h>

#include "ktlsh.h"

enum tool_opt_kind {
	OPT_FLAG,		/* int *: set to 1 */
	OPT_STR,		/* const char **: the value */
	OPT_NUM,		/* long *: a whole number from min to max */
	OPT_CALL,		/* call(value, ptr): 0, or a usage message */
};

struct tool_opt {
	const char *name;	/* "--port", "-v" */
	const char *meta;	/* "N", "FILE": what the value is; NULL for a flag */
	enum tool_opt_kind kind;
	void *ptr;
	long min, max;		/* OPT_NUM */
	const char *(*call)(const char *val, void *ptr);
	const char *help;	/* one line; "\n" starts a second */
};

struct tool {
	const char *name;	/* "ktls-serve" */
	const char *synopsis;	/* after the name in the usage line */
	const struct tool_opt *opts;	/* ends with { NULL } */
	const char *epilog;	/* after the options in --help, or NULL */
};

/* The TLS options of both tools, into a ktlsh_config. */
#define TOOL_TLS_OPTS(cfg)							\
	{ "--tls", "1.2|1.3", OPT_CALL, (cfg), 0, 0, tool_set_tls,		\
	  "use only this TLS version" },					\
	{ "--ciphers", "LIST", OPT_STR, &(cfg)->cipher_list, 0, 0, NULL,	\
	  "TLS 1.2 cipher suites (OpenSSL syntax; default: those the module takes)" }, \
	{ "--ciphersuites", "LIST", OPT_STR, &(cfg)->ciphersuites, 0, 0, NULL,	\
	  "TLS 1.3 cipher suites (OpenSSL syntax)" },				\
	{ "--fallback", NULL, OPT_CALL, (cfg), 0, 0, tool_set_fallback,		\
	  "keep a suite the module cannot take in userspace OpenSSL\n"	\
	  "(default: refuse the connection)" },					\
	{ "--userspace", NULL, OPT_FLAG, &(cfg)->userspace, 0, 0, NULL,		\
	  "never use the module: records stay in OpenSSL" }

const char *tool_set_tls(const char *val, void *cfg);
const char *tool_set_fallback(const char *val, void *cfg);

/*
 * Parse argv by t's options; the other arguments go to pos[] (at most
 * npos). --help prints the usage and exits 0; a bad option or value, or
 * too many arguments, is a usage error (exit 2). Returns how many
 * arguments went to pos.
 */
int tool_parse(const struct tool *t, int argc, char **argv, const char **pos, int npos);

/* The name of the tool whose options were parsed ("ktls-serve"). */
const char *tool_name(void);

/* "ktls-serve: MSG" and the usage on stderr, exit 2. */
void tool_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* "ktls-serve: MSG" on stderr, exit status. */
void tool_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* "ktls-serve: MSG" on stderr. */
void tool_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Bytes from the network, made safe to print on one line: printable ASCII
 * as is (backslash and double quote escaped), anything else \xHH; cut to
 * fit out (out_len >= 1) with "..." at the end. Returns out.
 */
char *tool_escape(char *out, size_t out_len, const void *in, size_t in_len);

/* A duration or count option's value, already checked by tool_parse. */
#define TOOL_MS(seconds) ((long long)(seconds) * 1000)

#endif
