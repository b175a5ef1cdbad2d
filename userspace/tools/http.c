// SPDX-License-Identifier: GPL-2.0
/*
 * HTTP/1.1 parsing (RFC 9110, 9112) for the tools: what a static file
 * server needs of a request (method, target, version, Host, Connection,
 * Content-Length and Transfer-Encoding, If-Modified-Since, Range and
 * If-Range) and a client of a response (status, length, framing). Strict
 * where leniency would let two parsers disagree about where a message
 * ends (Content-Length, obsolete line folding, whitespace before a colon).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

int http_head_len(const unsigned char *buf, size_t have)
{
	size_t i, line_end = 0;

	for (i = 0; i < have; i++) {
		unsigned char ch = buf[i];

		if (i && buf[i - 1] == '\r' && ch != '\n')
			return -400;
		if (ch == '\n') {
			if (!i || buf[i - 1] != '\r')
				return -400;
			if (!line_end)
				line_end = i;
			if (i >= 3 && buf[i - 2] == '\n')
				return i + 1;
			if (i == 1)
				return -400;	/* a head that starts with a blank line */
		} else if ((ch < 0x20 && ch != '\t' && ch != '\r') || ch == 0x7f) {
			return -400;
		}
		if (!line_end && i >= HTTP_LINE_MAX)
			return -414;
		if (i >= HTTP_HEAD_MAX)
			return -431;
	}
	return 0;
}

/* RFC 9110 5.6.2 token characters. */
static int tchar(unsigned char c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* One header line [p, end) split into name and value (OWS trimmed): 0 or -1. */
static int split_field(const char *p, const char *end, const char **name, size_t *nlen,
		       const char **val, size_t *vlen)
{
	const char *c = p;

	while (c < end && tchar(*c))
		c++;
	if (c == p || c == end || *c != ':')
		return -1;	/* no name, or whitespace before the colon */
	*name = p;
	*nlen = c - p;
	c++;
	while (c < end && (*c == ' ' || *c == '\t'))
		c++;
	while (end > c && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*val = c;
	*vlen = end - c;
	return 0;
}

static int is(const char *name, size_t len, const char *want)
{
	return len == strlen(want) && !strncasecmp(name, want, len);
}

/* Does the comma-separated list [v, v + len) hold token want? */
static int has_token(const char *v, size_t len, const char *want)
{
	const char *end = v + len, *t;

	while (v < end) {
		while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
			v++;
		t = v;
		while (v < end && *v != ',')
			v++;
		len = v - t;
		while (len && (t[len - 1] == ' ' || t[len - 1] == '\t'))
			len--;
		if (is(t, len, want))
			return 1;
	}
	return 0;
}

/* 1*DIGIT, no sign, no list, no overflow: the value, or -1. */
static long long content_length(const char *v, size_t len)
{
	long long n = 0;
	size_t i;

	if (!len || len > 18)
		return -1;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (v[i] - '0');
	}
	return n;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "HTTP/" DIGIT "." DIGIT: 0 with the minor version, else the status. */
static int version(const char *v, size_t len, int *minor)
{
	if (len != 8 || strncmp(v, "HTTP/", 5) || !isdigit((unsigned char)v[5]) ||
	    v[6] != '.' || !isdigit((unsigned char)v[7]))
		return 400;
	if (v[5] != '1')
		return 505;
	*minor = v[7] - '0';
	return 0;
}

/* The target's path, percent-decoded, into r->path; 0 or the status. */
static int decode_path(const char *t, size_t len, struct http_req *r)
{
	const char *end = t + len, *q;
	char *o = r->path;

	/* absolute-form (RFC 9112 3.2.2): the path of http[s]://authority/path */
	if (len > 7 && (!strncasecmp(t, "http://", 7) || !strncasecmp(t, "https://", 8))) {
		t = memchr(t, ':', len) + 3;
		q = memchr(t, '/', end - t);
		t = q ? q : end;
		if (t == end)
			t = "/", end = t + 1;
	}
	if (t == end || *t != '/')
		return 400;
	q = t;
	while (q < end && *q != '?' && *q != '#')
		q++;
	end = q;
	for (; t < end; t++) {
		if ((size_t)(o - r->path) >= sizeof(r->path) - 1)
			return 414;
		if (*t == '%') {
			int hi = end - t > 2 ? unhex(t[1]) : -1, lo = hi < 0 ? -1 : unhex(t[2]);

			if (lo < 0 || (hi == 0 && lo == 0))
				return 400;
			*o++ = hi * 16 + lo;
			t += 2;
		} else {
			*o++ = *t;
		}
	}
	*o = 0;
	for (o = r->path; (o = strstr(o, "..")); o += 2)
		if (o[-1] == '/' && (o[2] == '/' || o[2] == 0))
			return 400;
	return 0;
}

static int request_line(const char *p, const char *eol, struct http_req *r)
{
	const char *sp1 = memchr(p, ' ', eol - p), *sp2;
	int rc;

	if (!sp1 || sp1 == p || (size_t)(sp1 - p) >= sizeof(r->method))
		return 400;
	memcpy(r->method, p, sp1 - p);
	r->method[sp1 - p] = 0;
	for (rc = 0; r->method[rc]; rc++)
		if (!tchar(r->method[rc]))
			return 400;
	sp2 = memchr(sp1 + 1, ' ', eol - sp1 - 1);
	if (!sp2 || sp2 == sp1 + 1)
		return 400;
	snprintf(r->target, sizeof(r->target), "%.*s", (int)(sp2 - sp1 - 1), sp1 + 1);
	rc = version(sp2 + 1, eol - sp2 - 1, &r->minor);
	if (rc)
		return rc;
	return decode_path(sp1 + 1, sp2 - sp1 - 1, r);
}

int http_parse_request(const char *head, size_t len, struct http_req *r)
{
	const char *p = head, *end = head + len, *eol, *name, *val;
	long long cl;
	size_t nlen, vlen;
	int rc, hosts = 0, te = 0, conn_close = 0, conn_keep = 0;

	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	r->if_modified_since = -1;
	r->if_range = -1;
	eol = memmem(p, end - p, "\r\n", 2);
	if (!eol)
		return 400;
	rc = request_line(p, eol, r);
	if (rc == 505 || rc == 400)
		return rc;
	for (p = eol + 2; p < end && !(end - p >= 2 && p[0] == '\r' && p[1] == '\n'); p = eol + 2) {
		eol = memmem(p, end - p, "\r\n", 2);
		if (!eol || split_field(p, eol, &name, &nlen, &val, &vlen))
			return 400;	/* also obs-fold: a line that starts with whitespace */
		if (is(name, nlen, "Host")) {
			hosts++;
		} else if (is(name, nlen, "Connection")) {
			conn_close |= has_token(val, vlen, "close");
			conn_keep |= has_token(val, vlen, "keep-alive");
		} else if (is(name, nlen, "Content-Length")) {
			cl = content_length(val, vlen);
			if (cl < 0 || (r->content_length >= 0 && r->content_length != cl))
				return 400;
			r->content_length = cl;
		} else if (is(name, nlen, "Transfer-Encoding")) {
			te = 1;
		} else if (is(name, nlen, "If-Modified-Since")) {
			if (http_date_parse(val, vlen, &r->if_modified_since))
				r->if_modified_since = -1;	/* not a date: ignored */
		} else if (is(name, nlen, "If-Range")) {
			if (http_date_parse(val, vlen, &r->if_range))
				r->if_range = 0;
		} else if (is(name, nlen, "Range")) {
			snprintf(r->range, sizeof(r->range), "%.*s", (int)vlen, val);
			if (vlen >= sizeof(r->range))
				r->range[0] = 0;	/* too long to be one range: ignored */
		}
	}
	/* Both framings at once is how requests are smuggled (RFC 9112 6.1). */
	if (te && r->content_length >= 0)
		return 400;
	if (r->minor >= 1 && hosts != 1)
		return 400;
	if (hosts > 1)
		return 400;
	if (rc)
		return rc;	/* 414: the head was well formed */
	r->has_body = te || r->content_length > 0;
	r->keep_alive = !conn_close && (r->minor >= 1 || conn_keep) && !r->has_body;
	if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD"))
		return 405;
	return 0;
}

/* A decimal byte position: 0 and *v, or -1. */
static int position(const char **p, const char *end, long long *v)
{
	const char *s = *p;

	*v = 0;
	while (*p < end && **p >= '0' && **p <= '9') {
		if (*v > (1LL << 53))
			return -1;
		*v = *v * 10 + (**p - '0');
		(*p)++;
	}
	return *p == s ? -1 : 0;
}

int http_range(const struct http_req *r, long long size, time_t mtime,
	       long long *first, long long *last)
{
	const char *p = r->range, *end = p + strlen(p);
	long long a = -1, b = -1;

	if (strncasecmp(p, "bytes=", 6))
		return 200;
	if (r->if_range == 0 || (r->if_range > 0 && r->if_range != mtime))
		return 200;
	p += 6;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p < end && *p != '-' && position(&p, end, &a))
		return 200;
	if (p == end || *p != '-')
		return 200;
	p++;
	if (p < end && *p >= '0' && *p <= '9' && position(&p, end, &b))
		return 200;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p != end || (a < 0 && b < 0) || (a >= 0 && b >= 0 && b < a))
		return 200;	/* several ranges, or not a range: the whole file */
	if (a < 0) {		/* the last b bytes */
		if (b == 0 || size == 0)
			return 416;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 206;
	}
	if (a >= size)
		return 416;
	*first = a;
	*last = b < 0 || b >= size ? size - 1 : b;
	return 206;
}

int http_parse_response(const char *head, size_t len, struct http_resp *r)
{
	const char *p = head, *end = head + len, *eol, *name, *val;
	size_t nlen, vlen;
	long long cl;
	int minor;

	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	eol = memmem(p, end - p, "\r\n", 2);
	if (!eol || eol - p < 12 || version(p, 8, &minor) || p[8] != ' ' ||
	    !isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) ||
	    !isdigit((unsigned char)p[11]) || (eol - p > 12 && p[12] != ' '))
		return -1;
	r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	for (p = eol + 2; p < end && !(end - p >= 2 && p[0] == '\r' && p[1] == '\n'); p = eol + 2) {
		eol = memmem(p, end - p, "\r\n", 2);
		if (!eol || split_field(p, eol, &name, &nlen, &val, &vlen))
			return -1;
		if (is(name, nlen, "Content-Length")) {
			cl = content_length(val, vlen);
			if (cl < 0 || (r->content_length >= 0 && r->content_length != cl))
				return -1;
			r->content_length = cl;
		} else if (is(name, nlen, "Transfer-Encoding")) {
			r->chunked = 1;
		} else if (is(name, nlen, "Connection")) {
			r->close |= has_token(val, vlen, "close");
		}
	}
	return 0;
}

int http_date_parse(const char *s, size_t len, time_t *t)
{
	static const char *const formats[] = {
		"%a, %d %b %Y %H:%M:%S GMT",	/* IMF-fixdate */
		"%A, %d-%b-%y %H:%M:%S GMT",	/* RFC 850 */
		"%a %b %e %H:%M:%S %Y",		/* asctime */
	};
	char buf[64];
	struct tm tm;
	const char *e;
	size_t i;

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = 0;
	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		e = strptime(buf, formats[i], &tm);
		if (e && !*e) {
			*t = timegm(&tm);
			return *t < 0 ? -1 : 0;
		}
	}
	return -1;
}

void http_date_format(time_t t, char out[HTTP_DATE_LEN])
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, HTTP_DATE_LEN, "%.3s, %02u %.3s %04u %02u:%02u:%02u GMT",
		 days + 3 * (tm.tm_wday % 7), (unsigned int)tm.tm_mday % 100,
		 months + 3 * (tm.tm_mon % 12), (unsigned int)(tm.tm_year + 1900) % 10000,
		 (unsigned int)tm.tm_hour % 100, (unsigned int)tm.tm_min % 100,
		 (unsigned int)tm.tm_sec % 100);
}

static const struct {
	const char *ext;
	const char *type;
} mime[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "htm", "text/html; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "json", "application/json" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "md", "text/markdown; charset=utf-8" },
	{ "csv", "text/csv; charset=utf-8" },
	{ "xml", "application/xml" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "webp", "image/webp" },
	{ "avif", "image/avif" },
	{ "ico", "image/vnd.microsoft.icon" },
	{ "wasm", "application/wasm" },
	{ "pdf", "application/pdf" },
	{ "woff", "font/woff" },
	{ "woff2", "font/woff2" },
	{ "mp4", "video/mp4" },
	{ "webm", "video/webm" },
	{ "mp3", "audio/mpeg" },
	{ "ogg", "audio/ogg" },
	{ "zip", "application/zip" },
	{ "gz", "application/gzip" },
	{ "tar", "application/x-tar" },
};

const char *http_mime_type(const char *name)
{
	const char *slash = strrchr(name, '/'), *dot = strrchr(name, '.');
	size_t i;

	if (!dot || (slash && dot < slash) || dot == (slash ? slash + 1 : name))
		return "application/octet-stream";
	for (i = 0; i < sizeof(mime) / sizeof(mime[0]); i++)
		if (!strcasecmp(dot + 1, mime[i].ext))
			return mime[i].type;
	return "application/octet-stream";
}

const char *http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	}
	return "Error";
}
