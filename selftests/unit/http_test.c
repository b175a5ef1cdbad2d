// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side unit test of the tools' HTTP parsing (userspace/tools/http.c)
 * and log escaping (common.c): request heads good and bad, the statuses a
 * server answers them with, ranges, dates, media types, response heads.
 */
#include <string.h>

#include "kselftest_harness.h"
#include "common.h"
#include "http.h"

static int req(const char *head, struct http_req *r)
{
	return http_parse_request(head, strlen(head), r);
}

TEST(head_len)
{
	char big[HTTP_HEAD_MAX + 64];

	EXPECT_EQ(18, http_head_len((const unsigned char *)"GET / HTTP/1.1\r\n\r\nX", 19));
	EXPECT_EQ(0, http_head_len((const unsigned char *)"GET / HTTP/1.1\r\n", 16));
	EXPECT_EQ(-400, http_head_len((const unsigned char *)"GET / HTTP/1.1\n\n", 16));
	EXPECT_EQ(-400, http_head_len((const unsigned char *)"GET /\0 HTTP/1.1\r\n\r\n", 20));
	EXPECT_EQ(-400, http_head_len((const unsigned char *)"GET /\x1b HTTP/1.1\r\n\r\n", 20));
	EXPECT_EQ(-400, http_head_len((const unsigned char *)"GET /\r HTTP/1.1\r\n\r\n", 20));
	EXPECT_EQ(-400, http_head_len((const unsigned char *)"\r\nGET / HTTP/1.1\r\n\r\n", 20));
	memset(big, 'a', sizeof(big));
	EXPECT_EQ(-414, http_head_len((unsigned char *)big, HTTP_LINE_MAX + 10));
	memcpy(big, "GET / HTTP/1.1\r\n", 16);
	EXPECT_EQ(-431, http_head_len((unsigned char *)big, sizeof(big)));
}

TEST(request_basic)
{
	struct http_req r;

	ASSERT_EQ(0, req("GET /a/b.txt?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", &r));
	EXPECT_STREQ("GET", r.method);
	EXPECT_STREQ("/a/b.txt", r.path);
	EXPECT_STREQ("/a/b.txt?x=1", r.target);
	EXPECT_EQ(1, r.minor);
	EXPECT_EQ(1, r.keep_alive);
	EXPECT_EQ(0, r.has_body);
	EXPECT_EQ(-1, r.content_length);
	ASSERT_EQ(0, req("HEAD / HTTP/1.0\r\n\r\n", &r));
	EXPECT_EQ(0, r.keep_alive);
	ASSERT_EQ(0, req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r));
	EXPECT_EQ(1, r.keep_alive);
	ASSERT_EQ(0, req("GET /%41%2f HTTP/1.1\r\nHost: h\r\n\r\n", &r));
	EXPECT_STREQ("/A/", r.path);
	/* absolute-form */
	ASSERT_EQ(0, req("GET https://example.org:8443/x?q HTTP/1.1\r\nHost: e\r\n\r\n", &r));
	EXPECT_STREQ("/x", r.path);
	ASSERT_EQ(0, req("GET http://example.org HTTP/1.1\r\nHost: e\r\n\r\n", &r));
	EXPECT_STREQ("/", r.path);
}

TEST(request_versions)
{
	struct http_req r;

	EXPECT_EQ(505, req("GET / HTTP/2.0\r\nHost: h\r\n\r\n", &r));
	EXPECT_EQ(505, req("GET / HTTP/0.9\r\n\r\n", &r));
	EXPECT_EQ(400, req("GET / HTTP/1\r\nHost: h\r\n\r\n", &r));
	EXPECT_EQ(400, req("GET / HTTP/11.1\r\nHost: h\r\n\r\n", &r));
	EXPECT_EQ(400, req("GET / http/1.1\r\nHost: h\r\n\r\n", &r));
	EXPECT_EQ(400, req("GET /\r\n\r\n", &r));
	EXPECT_EQ(400, req("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", &r));
	ASSERT_EQ(0, req("GET / HTTP/1.7\r\nHost: h\r\n\r\n", &r));
	EXPECT_EQ(7, r.minor);
	EXPECT_EQ(1, r.keep_alive);
}

TEST(request_methods_and_paths)
{
	struct http_req r;

	EXPECT_EQ(405, req("POST / HTTP/1.1\r\nHost: h\r\n\r\n", &r));
	EXPECT_EQ(405, req("DELETE / HTTP/1.1\r\nHost: h\r\n\r\n", &r));
	EXPECT_EQ(400, req("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", &r));
	EXPECT_EQ(400, req("GET x HTTP/1.1\r\nHost: h\r\n\r\n", &r));
	EXPECT_EQ(400, req("GET /../etc HTTP/1.1\r\nHost: h\r\n\r\n", &r));
	EXPECT_EQ(400, req("GET /a/%2e%2e/b HTTP/1.1\r\nHost: h\r\n\r\n", &r));
	EXPECT_EQ(400, req("GET /a/.. HTTP/1.1\r\nHost: h\r\n\r\n", &r));
	EXPECT_EQ(0, req("GET /a..b HTTP/1.1\r\nHost: h\r\n\r\n", &r));
	EXPECT_EQ(400, req("GET /a%00 HTTP/1.1\r\nHost: h\r\n\r\n", &r));
	EXPECT_EQ(400, req("GET /a%4 HTTP/1.1\r\nHost: h\r\n\r\n", &r));
	EXPECT_EQ(400, req("GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n", &r));
}

TEST(request_long_path)
{
	static char head[6000];
	struct http_req r;
	size_t n;

	n = snprintf(head, sizeof(head), "GET /");
	memset(head + n, 'a', 4500);
	n += 4500;
	n += snprintf(head + n, sizeof(head) - n, " HTTP/1.1\r\nHost: h\r\n\r\n");
	EXPECT_EQ(414, http_parse_request(head, n, &r));
}

TEST(request_headers)
{
	struct http_req r;

	/* Host: exactly one in HTTP/1.1 */
	EXPECT_EQ(400, req("GET / HTTP/1.1\r\n\r\n", &r));
	EXPECT_EQ(400, req("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &r));
	EXPECT_EQ(0, req("GET / HTTP/1.0\r\n\r\n", &r));
	/* field syntax */
	EXPECT_EQ(400, req("GET / HTTP/1.1\r\nHost : h\r\n\r\n", &r));
	EXPECT_EQ(400, req("GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", &r));
	EXPECT_EQ(400, req("GET / HTTP/1.1\r\nHost: h\r\nno colon\r\n\r\n", &r));
	/* Connection is a list */
	ASSERT_EQ(0, req("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, close\r\n\r\n", &r));
	EXPECT_EQ(0, r.keep_alive);
	ASSERT_EQ(0, req("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n", &r));
	EXPECT_EQ(1, r.keep_alive);
	ASSERT_EQ(0, req("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive,CLOSE\r\n\r\n", &r));
	EXPECT_EQ(0, r.keep_alive);
}

TEST(request_content_length)
{
	struct http_req r;

	EXPECT_EQ(400, req("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", &r));
	EXPECT_EQ(400, req("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", &r));
	EXPECT_EQ(400, req("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", &r));
	EXPECT_EQ(400, req("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
			   "Content-Length: 2\r\n\r\n", &r));
	EXPECT_EQ(400, req("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n",
			   &r));
	EXPECT_EQ(400, req("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
			   "Transfer-Encoding: chunked\r\n\r\n", &r));
	ASSERT_EQ(0, req("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", &r));
	EXPECT_EQ(0, r.has_body);
	EXPECT_EQ(1, r.keep_alive);
	ASSERT_EQ(0, req("GET / HTTP/1.1\r\nHost: h\r\nContent-Length:  12 \r\n\r\n", &r));
	EXPECT_EQ(12, r.content_length);
	EXPECT_EQ(1, r.has_body);
	EXPECT_EQ(0, r.keep_alive);
	ASSERT_EQ(0, req("GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &r));
	EXPECT_EQ(1, r.has_body);
}

TEST(ranges)
{
	struct http_req r = { .if_range = -1 };
	long long a = -1, b = -1;

	strcpy(r.range, "bytes=0-9");
	ASSERT_EQ(206, http_range(&r, 100, 0, &a, &b));
	EXPECT_EQ(0, a);
	EXPECT_EQ(9, b);
	strcpy(r.range, "bytes=90-");
	ASSERT_EQ(206, http_range(&r, 100, 0, &a, &b));
	EXPECT_EQ(90, a);
	EXPECT_EQ(99, b);
	strcpy(r.range, "bytes=50-500");
	ASSERT_EQ(206, http_range(&r, 100, 0, &a, &b));
	EXPECT_EQ(99, b);
	strcpy(r.range, "bytes=-10");
	ASSERT_EQ(206, http_range(&r, 100, 0, &a, &b));
	EXPECT_EQ(90, a);
	EXPECT_EQ(99, b);
	strcpy(r.range, "bytes=-1000");
	ASSERT_EQ(206, http_range(&r, 100, 0, &a, &b));
	EXPECT_EQ(0, a);
	strcpy(r.range, "bytes=100-");
	EXPECT_EQ(416, http_range(&r, 100, 0, &a, &b));
	strcpy(r.range, "bytes=-0");
	EXPECT_EQ(416, http_range(&r, 100, 0, &a, &b));
	strcpy(r.range, "bytes=0-");
	EXPECT_EQ(416, http_range(&r, 0, 0, &a, &b));
	/* not one satisfiable byte range: the whole file */
	strcpy(r.range, "bytes=0-1,5-6");
	EXPECT_EQ(200, http_range(&r, 100, 0, &a, &b));
	strcpy(r.range, "bytes=9-1");
	EXPECT_EQ(200, http_range(&r, 100, 0, &a, &b));
	strcpy(r.range, "lines=1-2");
	EXPECT_EQ(200, http_range(&r, 100, 0, &a, &b));
	strcpy(r.range, "bytes=x-");
	EXPECT_EQ(200, http_range(&r, 100, 0, &a, &b));
	/* If-Range: the range only for the same Last-Modified */
	strcpy(r.range, "bytes=0-9");
	r.if_range = 1000;
	EXPECT_EQ(206, http_range(&r, 100, 1000, &a, &b));
	EXPECT_EQ(200, http_range(&r, 100, 1001, &a, &b));
	r.if_range = 0;		/* an entity tag: ktls-serve has none */
	EXPECT_EQ(200, http_range(&r, 100, 1000, &a, &b));
}

TEST(request_conditionals)
{
	struct http_req r;

	ASSERT_EQ(0, req("GET / HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
			 "Range: bytes=1-2\r\nIf-Range: \"etag\"\r\n\r\n", &r));
	EXPECT_EQ(784111777, r.if_modified_since);
	EXPECT_STREQ("bytes=1-2", r.range);
	EXPECT_EQ(0, r.if_range);
	ASSERT_EQ(0, req("GET / HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: yesterday\r\n\r\n", &r));
	EXPECT_EQ(-1, r.if_modified_since);
}

TEST(dates)
{
	char out[HTTP_DATE_LEN];
	time_t t;

	ASSERT_EQ(0, http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", 29, &t));
	EXPECT_EQ(784111777, t);
	ASSERT_EQ(0, http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", 30, &t));
	EXPECT_EQ(784111777, t);
	ASSERT_EQ(0, http_date_parse("Sun Nov  6 08:49:37 1994", 24, &t));
	EXPECT_EQ(784111777, t);
	EXPECT_EQ(-1, http_date_parse("06 Nov 1994", 11, &t));
	EXPECT_EQ(-1, http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT trailing", 38, &t));
	http_date_format(784111777, out);
	EXPECT_STREQ("Sun, 06 Nov 1994 08:49:37 GMT", out);
}

TEST(mime_types)
{
	EXPECT_STREQ("text/html; charset=utf-8", http_mime_type("index.html"));
	EXPECT_STREQ("text/html; charset=utf-8", http_mime_type("/a/B.HTM"));
	EXPECT_STREQ("text/css; charset=utf-8", http_mime_type("/s.css"));
	EXPECT_STREQ("text/javascript; charset=utf-8", http_mime_type("/app.js"));
	EXPECT_STREQ("application/json", http_mime_type("/d.json"));
	EXPECT_STREQ("image/svg+xml", http_mime_type("/i.svg"));
	EXPECT_STREQ("image/png", http_mime_type("/i.png"));
	EXPECT_STREQ("image/jpeg", http_mime_type("/i.jpg"));
	EXPECT_STREQ("image/gif", http_mime_type("/i.gif"));
	EXPECT_STREQ("image/webp", http_mime_type("/i.webp"));
	EXPECT_STREQ("application/wasm", http_mime_type("/m.wasm"));
	EXPECT_STREQ("text/plain; charset=utf-8", http_mime_type("/t.txt"));
	EXPECT_STREQ("application/octet-stream", http_mime_type("/noext"));
	EXPECT_STREQ("application/octet-stream", http_mime_type("/dir.d/noext"));
	EXPECT_STREQ("application/octet-stream", http_mime_type("/.css"));
	EXPECT_STREQ("application/octet-stream", http_mime_type("/x.unknown"));
}

TEST(response_heads)
{
	struct http_resp r;
	const char *h;

	h = "HTTP/1.1 200 OK\r\nContent-Length: 42\r\nConnection: close\r\n\r\n";
	ASSERT_EQ(0, http_parse_response(h, strlen(h), &r));
	EXPECT_EQ(200, r.status);
	EXPECT_EQ(42, r.content_length);
	EXPECT_EQ(1, r.close);
	h = "HTTP/1.0 404\r\nTransfer-Encoding: chunked\r\n\r\n";
	ASSERT_EQ(0, http_parse_response(h, strlen(h), &r));
	EXPECT_EQ(404, r.status);
	EXPECT_EQ(1, r.chunked);
	EXPECT_EQ(-1, r.content_length);
	h = "HTTP/1.1 200 OK\r\nContent-Length: 4x\r\n\r\n";
	EXPECT_EQ(-1, http_parse_response(h, strlen(h), &r));
	h = "SSH-2.0-OpenSSH\r\n\r\n";
	EXPECT_EQ(-1, http_parse_response(h, strlen(h), &r));
	h = "HTTP/1.1 20 OK\r\n\r\n";
	EXPECT_EQ(-1, http_parse_response(h, strlen(h), &r));
}

TEST(escape)
{
	char out[32];

	EXPECT_STREQ("GET /a b", tool_escape(out, sizeof(out), "GET /a b", 8));
	EXPECT_STREQ("\\x1b[2J\\x0d\\x0a\\\"\\\\", tool_escape(out, sizeof(out), "\x1b[2J\r\n\"\\", 8));
	EXPECT_STREQ("\\x00\\xff", tool_escape(out, sizeof(out), "\0\xff", 2));
	EXPECT_STREQ("abcdefgh...", tool_escape(out, 12, "abcdefghijklmnop", 16));
	EXPECT_STREQ("abcdefghijk", tool_escape(out, 12, "abcdefghijk", 11));
	EXPECT_STREQ("", tool_escape(out, 1, "abc", 3));
}

TEST_HARNESS_MAIN
