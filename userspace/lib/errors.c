// SPDX-License-Identifier: GPL-2.0
/* ktlsh error reporting: one line per failure, naming the cause. */
#include <errno.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static int vset(struct ktlsh_err *err, int code, int errnum, const char *fmt, va_list ap)
{
	size_t n;

	if (!err)
		return code;
	err->code = code;
	err->sys_errno = errnum;
	err->installed = 0;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (errnum) {
		n = strlen(err->msg);
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
	}
	return code;
}

int ktlsh_err_set(struct ktlsh_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(err, code, 0, fmt, ap);
	va_end(ap);
	return code;
}

int ktlsh_err_sys(struct ktlsh_err *err, int code, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(err, code, errnum, fmt, ap);
	va_end(ap);
	return code;
}

/* The reason of the oldest OpenSSL error queued (the root cause), then clear the queue. */
const char *ktlsh_err_openssl(char *buf, size_t len)
{
	unsigned long e = ERR_peek_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	snprintf(buf, len, "%s", r ? r : "no OpenSSL error recorded");
	ERR_clear_error();
	return buf;
}

/* Put prefix before the message of an error set further down; returns code. */
int ktlsh_err_prefix(struct ktlsh_err *err, int code, const char *prefix)
{
	size_t p = strlen(prefix), n;

	if (!err || p >= sizeof(err->msg))
		return code;
	n = strnlen(err->msg, sizeof(err->msg) - 1 - p);
	memmove(err->msg + p, err->msg, n);
	memcpy(err->msg, prefix, p);
	err->msg[p + n] = 0;
	return code;
}

const char *ktlsh_code_name(int code)
{
	switch (code) {
	case KTLSH_OK: return "ok";
	case KTLSH_E_SYSTEM: return "system error";
	case KTLSH_E_CONFIG: return "configuration error";
	case KTLSH_E_HANDSHAKE: return "handshake failed";
	case KTLSH_E_NOT_TLS: return "peer does not speak TLS";
	case KTLSH_E_CERT_CHAIN: return "certificate chain";
	case KTLSH_E_CERT_SELF_SIGNED: return "self-signed certificate";
	case KTLSH_E_CERT_EXPIRED: return "certificate expired";
	case KTLSH_E_CERT_NOT_YET_VALID: return "certificate not yet valid";
	case KTLSH_E_CERT_HOST: return "certificate host name";
	case KTLSH_E_CERT_OTHER: return "certificate check";
	case KTLSH_E_UNSUPPORTED: return "cipher suite not supported by the module";
	case KTLSH_E_KERNEL: return "kernel module";
	case KTLSH_E_PROTOCOL: return "protocol error";
	case KTLSH_E_CLOSED: return "connection closed";
	case KTLSH_E_INVALID: return "not possible on this connection";
	case KTLSH_WANT_READ: return "waits until the socket is readable";
	case KTLSH_WANT_WRITE: return "waits until the socket is writable";
	}
	return "unknown error";
}
