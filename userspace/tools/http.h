/* SPDX-License-Identifier: GPL-2.0 */
/*
 * HTTP/1.1 message parsing for ktls-serve (requests) and ktls-get
 * (responses), without I/O, so that it can be unit-tested on the host
 * (selftests/unit/http_test.c, make unit).
 */
#ifndef KTLS_TOOLS_HTTP_H
#define KTLS_TOOLS_HTTP_H

#include <stddef.h>
#include <time.h>

/* Limits: a longer request line is 414, a longer head 431. */
#define HTTP_LINE_MAX 8192
#define HTTP_HEAD_MAX 16384

struct http_req {
	char method[16];
	char target[256];	/* as sent (for the log), cut to fit */
	char path[4096];	/* percent-decoded, without query */
	int minor;		/* HTTP/1.minor (a higher 1.x is taken as 1.1) */
	int keep_alive;
	int has_body;		/* a body this server does not read: close after the answer */
	long long content_length;	/* -1: none */
	time_t if_modified_since;	/* -1: none or not a date */
	time_t if_range;		/* -1: none; 0: not a date (an entity tag) */
	char range[128];	/* the Range value, "" if none */
};

/*
 * The length of the request or response head at the start of buf[0..have),
 * with its blank line; 0 if more is needed; or minus the status to answer
 * a request with: 400 for a NUL or another control byte, or a CR or LF
 * that is not part of a CRLF; 414 for a first line over HTTP_LINE_MAX;
 * 431 for a head over HTTP_HEAD_MAX.
 */
int http_head_len(const unsigned char *buf, size_t have);

/*
 * Parse a request head that http_head_len accepted (len bytes, up to and
 * with its blank line) into *r. Returns 0, or the status to answer with:
 * 400 (malformed: request line, header syntax, Content-Length, a missing
 * or repeated Host in HTTP/1.1, a ".." segment), 405 (not GET or HEAD),
 * 414 (a path too long), 505 (not HTTP/1.x).
 */
int http_parse_request(const char *head, size_t len, struct http_req *r);

/*
 * Which part of a file of size bytes to send for r: 200 (all of it: no
 * Range, one that is not a single byte range, or If-Range that does not
 * match mtime), 206 with *first and *last (inclusive), or 416.
 */
int http_range(const struct http_req *r, long long size, time_t mtime,
	       long long *first, long long *last);

struct http_resp {
	int status;
	long long content_length;	/* -1: none */
	int chunked;
	int close;		/* Connection: close */
};

/* Parse a response head (len bytes, with its blank line): 0, or -1 if it is not HTTP/1.x. */
int http_parse_response(const char *head, size_t len, struct http_resp *r);

/* An HTTP-date (RFC 9110 5.6.7: IMF-fixdate, RFC 850, asctime) into *t: 0, or -1. */
int http_date_parse(const char *s, size_t len, time_t *t);
/* IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT": 30 bytes with the NUL. */
#define HTTP_DATE_LEN 30
void http_date_format(time_t t, char out[HTTP_DATE_LEN]);

/* The media type for a file name, by its extension. */
const char *http_mime_type(const char *name);
const char *http_status_text(int status);

#endif
