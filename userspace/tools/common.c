// SPDX-License-Identifier: GPL-2.0
/* What ktls-serve and ktls-get share: options, usage, errors, escaping. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const struct tool *current;

static void usage(FILE *f, const struct tool *t)
{
	const struct tool_opt *o;
	const char *h, *nl;
	char left[64];

	fprintf(f, "usage: %s %s\n", t->name, t->synopsis);
	for (o = t->opts; o->name; o++) {
		snprintf(left, sizeof(left), "%s%s%s", o->name, o->meta ? " " : "",
			 o->meta ? o->meta : "");
		for (h = o->help; h; h = nl ? nl + 1 : NULL) {
			nl = strchr(h, '\n');
			fprintf(f, "  %-22s %.*s\n", h == o->help ? left : "",
				nl ? (int)(nl - h) : (int)strlen(h), h);
		}
	}
	if (t->epilog)
		fputs(t->epilog, f);
}

void tool_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", current ? current->name : "ktls");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see --help)\n");
	exit(2);
}

void tool_die(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", current ? current->name : "ktls");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

void tool_warn(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", current ? current->name : "ktls");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *tool_set_tls(const char *val, void *ptr)
{
	struct ktlsh_config *cfg = ptr;

	if (!strcmp(val, "1.2"))
		cfg->min_version = cfg->max_version = 0x0303;
	else if (!strcmp(val, "1.3"))
		cfg->min_version = cfg->max_version = 0x0304;
	else
		return "takes 1.2 or 1.3";
	return NULL;
}

const char *tool_set_fallback(const char *val, void *ptr)
{
	(void)val;
	((struct ktlsh_config *)ptr)->unsupported = KTLSH_UNSUPPORTED_USERSPACE;
	return NULL;
}

static void set(const struct tool_opt *o, const char *val)
{
	const char *why;
	char *end;
	long n;

	switch (o->kind) {
	case OPT_FLAG:
		*(int *)o->ptr = 1;
		break;
	case OPT_STR:
		if (!*val)
			tool_usage_error("%s takes a %s, not an empty string", o->name, o->meta);
		*(const char **)o->ptr = val;
		break;
	case OPT_NUM:
		errno = 0;
		n = strtol(val, &end, 10);
		if (!*val || *end || errno || n < o->min || n > o->max)
			tool_usage_error("%s takes a whole number from %ld to %ld, not '%s'",
					 o->name, o->min, o->max, val);
		*(long *)o->ptr = n;
		break;
	case OPT_CALL:
		why = o->call(val, o->ptr);
		if (why)
			tool_usage_error("%s %s, not '%s'", o->name, why, val);
		break;
	}
}

const char *tool_name(void)
{
	return current ? current->name : "ktls";
}

int tool_parse(const struct tool *t, int argc, char **argv, const char **pos, int npos)
{
	const struct tool_opt *o;
	int i, n = 0;

	current = t;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout, t);
			exit(0);
		}
		if (a[0] != '-' || !strcmp(a, "-")) {
			if (n == npos)
				tool_usage_error("one argument too many: '%s'", a);
			pos[n++] = a;
			continue;
		}
		for (o = t->opts; o->name && strcmp(o->name, a); o++)
			;
		if (!o->name)
			tool_usage_error("unknown option '%s'", a);
		if (o->meta && i + 1 == argc)
			tool_usage_error("%s needs a value (%s)", a, o->meta);
		set(o, o->meta ? argv[++i] : "");
	}
	return n;
}

/* The escaped form of one byte into piece (at most 4 bytes): its length. */
static size_t escape_byte(unsigned char ch, char *piece)
{
	static const char hex[] = "0123456789abcdef";

	if (ch == '\\' || ch == '"') {
		piece[0] = '\\';
		piece[1] = ch;
		return 2;
	}
	if (ch >= 0x20 && ch < 0x7f) {
		piece[0] = ch;
		return 1;
	}
	piece[0] = '\\';
	piece[1] = 'x';
	piece[2] = hex[ch >> 4];
	piece[3] = hex[ch & 15];
	return 4;
}

char *tool_escape(char *out, size_t out_len, const void *in, size_t in_len)
{
	const unsigned char *p = in;
	size_t o = 0, i, need = 0, pl, room;
	char piece[4];

	for (i = 0; i < in_len; i++)
		need += escape_byte(p[i], piece);
	/* All of it if it fits; else as much as leaves room for "..." */
	room = need < out_len ? out_len : out_len > 3 ? out_len - 3 : 0;
	for (i = 0; i < in_len; i++) {
		pl = escape_byte(p[i], piece);
		if (o + pl + 1 > room)
			break;
		memcpy(out + o, piece, pl);
		o += pl;
	}
	if (i < in_len && o + 4 <= out_len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	if (out_len)
		out[o] = 0;
	return out;
}
