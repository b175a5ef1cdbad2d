/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktlsh: the ktls-offload userspace helper. OpenSSL does the TLS handshake
 * and the certificate checks; ktlsh then derives the traffic keys, takes
 * the record sequence numbers and installs TLS_TX and TLS_RX on the socket,
 * so that the kernel module carries every following record.
 *
 * Blocking use (server):
 *
 *	struct ktlsh_config cfg = { .role = KTLSH_SERVER,
 *				    .cert_file = "srv.pem", .key_file = "srv.key" };
 *	struct ktlsh_ctx *ctx;
 *	struct ktlsh_conn *c;
 *	struct ktlsh_err err;
 *
 *	if (ktlsh_ctx_new(&cfg, &ctx, &err))
 *		fprintf(stderr, "%s\n", err.msg), exit(1);
 *	fd = accept(...);
 *	if (ktlsh_accept(ctx, fd, &c, &err))
 *		fprintf(stderr, "%s\n", err.msg);	// fd is still the caller's
 *	ktlsh_read(c, ...); ktlsh_sendfile(c, ...);
 *	ktlsh_close(c);					// close_notify, closes fd
 *
 * Event-loop use: ktlsh_conn_new on a nonblocking socket, then
 * ktlsh_handshake each time the socket is ready until it returns 0 (it
 * returns KTLSH_WANT_READ or KTLSH_WANT_WRITE meanwhile, as
 * SSL_do_handshake would); ktlsh_read, ktlsh_write and ktlsh_sendfile
 * return the same two codes instead of blocking. The blocking calls are
 * this loop with poll(2). See Documentation/helper.rst for an epoll example.
 *
 * Every function that can fail returns 0 (or a byte count) on success and
 * a negative enum ktlsh_code on failure, and fills *err (when not NULL)
 * with that code and one line for a person: what failed and why.
 */
#ifndef KTLSH_H
#define KTLSH_H

#include <stddef.h>
#include <sys/types.h>

#define KTLSH_VERSION_MAJOR 1
#define KTLSH_VERSION_MINOR 1

enum ktlsh_code {
	KTLSH_OK = 0,
	KTLSH_E_SYSTEM = -1,		/* a system call failed (errno in err.sys_errno) */
	KTLSH_E_CONFIG = -2,		/* bad configuration: files, cipher lists, versions */
	KTLSH_E_HANDSHAKE = -3,		/* the TLS handshake failed (not a certificate check) */
	KTLSH_E_NOT_TLS = -4,		/* the peer does not speak TLS */
	KTLSH_E_CERT_CHAIN = -5,	/* peer certificate: no chain to a trusted CA */
	KTLSH_E_CERT_SELF_SIGNED = -6,	/* peer certificate: self-signed, not trusted */
	KTLSH_E_CERT_EXPIRED = -7,	/* peer certificate: past its notAfter date */
	KTLSH_E_CERT_NOT_YET_VALID = -8, /* peer certificate: before its notBefore date */
	KTLSH_E_CERT_HOST = -9,		/* peer certificate: host name does not match */
	KTLSH_E_CERT_OTHER = -10,	/* peer certificate: another check failed, or none */
	KTLSH_E_UNSUPPORTED = -11,	/* negotiated suite the module cannot take (refused) */
	KTLSH_E_KERNEL = -12,		/* the module refused the socket or the keys */
	KTLSH_E_PROTOCOL = -13,		/* the peer sent something unexpected after the handshake */
	KTLSH_E_CLOSED = -14,		/* the connection was reset or closed without close_notify */
	KTLSH_E_INVALID = -15,		/* not possible on this connection (KeyUpdate in TLS 1.2) */
	/*
	 * Not failures: on a nonblocking socket, call again when it is
	 * readable (WANT_READ) or writable (WANT_WRITE). After WANT_WRITE
	 * from ktlsh_write, call it again with the same bytes.
	 */
	KTLSH_WANT_READ = -20,
	KTLSH_WANT_WRITE = -21,
};

/* err.installed: keys left on the socket by a failed handshake (see ktlsh_connect). */
#define KTLSH_INSTALLED_TX 1
#define KTLSH_INSTALLED_RX 2

struct ktlsh_err {
	int code;			/* enum ktlsh_code */
	int sys_errno;			/* errno for KTLSH_E_SYSTEM and KTLSH_E_KERNEL, else 0 */
	unsigned int installed;		/* KTLSH_INSTALLED_*: only after KTLSH_E_KERNEL */
	char msg[512];			/* one line, no trailing newline */
};

enum ktlsh_role { KTLSH_CLIENT, KTLSH_SERVER };

/* What to do when the negotiated cipher suite is one the module cannot take. */
enum ktlsh_unsupported {
	KTLSH_UNSUPPORTED_REFUSE,	/* fail with KTLSH_E_UNSUPPORTED, close_notify sent */
	KTLSH_UNSUPPORTED_USERSPACE,	/* keep the connection in OpenSSL (see ktlsh_conn_offloaded) */
};

struct ktlsh_config {
	enum ktlsh_role role;
	int min_version, max_version;	/* 0x0303 (TLS 1.2) or 0x0304 (TLS 1.3); 0: both */
	/*
	 * TLS 1.2 suites, OpenSSL syntax. NULL: the AEAD suites the module
	 * takes (with KTLSH_UNSUPPORTED_USERSPACE: OpenSSL's default list).
	 * Anonymous (aNULL) and unencrypted (eNULL) suites are always removed.
	 */
	const char *cipher_list;
	const char *ciphersuites;	/* TLS 1.3 suites, OpenSSL syntax; NULL: all the module takes */
	const char *cert_file;		/* PEM certificate (chain); required for a server */
	const char *key_file;		/* PEM private key; required with cert_file */
	const char *ca_file;		/* trusted CAs, PEM file */
	const char *ca_dir;		/* trusted CAs, hashed directory (c_rehash) */
	int ca_system;			/* nonzero: also trust the system store */
	/*
	 * Client: the server's certificate is checked unless this is -1.
	 * Server: 1 asks for a client certificate, checked against the CAs,
	 * and refuses a client without one.
	 */
	int verify_peer;
	/*
	 * Client: nonzero lets ktlsh_connect/ktlsh_conn_new take host NULL:
	 * the server's certificate must then chain to a trusted CA but may
	 * carry any name. Without it a NULL host is a KTLSH_E_CONFIG error.
	 */
	int no_name_check;
	int userspace;			/* nonzero: never install keys, records stay in OpenSSL */
	/*
	 * Client: ask the server for RFC 6066 max_fragment_length, 512, 1024,
	 * 2048 or 4096 bytes of plaintext per record; 0: do not. (A server
	 * grants what a client asks for.) Whatever is negotiated becomes the
	 * module's TLS_TX_MAX_PAYLOAD_LEN; see ktlsh_conn_max_fragment.
	 */
	int max_fragment;
	enum ktlsh_unsupported unsupported;
};

struct ktlsh_ctx;
struct ktlsh_conn;

int ktlsh_ctx_new(const struct ktlsh_config *cfg, struct ktlsh_ctx **ctxp, struct ktlsh_err *err);
void ktlsh_ctx_free(struct ktlsh_ctx *ctx);

/*
 * Blocking handshake on a connected TCP socket: check the peer's
 * certificate (the client checks host, a DNS name or an IP address; NULL
 * only with no_name_check), then install the keys in the module. On
 * failure *connp is NULL, fd stays open and the caller's, and no key is
 * installed, except when the module took TLS_TX and then refused TLS_RX:
 * that is KTLSH_E_KERNEL with err.installed = KTLSH_INSTALLED_TX (a key
 * cannot be taken back; such a socket is good only for close).
 * On success fd belongs to the connection until ktlsh_close. The
 * socket's SO_RCVTIMEO and SO_SNDTIMEO bound each wait (KTLSH_E_SYSTEM,
 * ETIMEDOUT).
 */
int ktlsh_connect(struct ktlsh_ctx *ctx, int fd, const char *host,
		  struct ktlsh_conn **connp, struct ktlsh_err *err);
int ktlsh_accept(struct ktlsh_ctx *ctx, int fd, struct ktlsh_conn **connp,
		 struct ktlsh_err *err);

/*
 * The event-loop handshake. ktlsh_conn_new makes a connection on fd (host
 * as for ktlsh_connect; NULL for a server) that owns fd from then on:
 * ktlsh_close or ktlsh_abort close it. ktlsh_handshake does as much of
 * the handshake as the socket allows: 0 when it is done and the keys are
 * installed (then the connection is as ktlsh_connect leaves it),
 * KTLSH_WANT_READ or KTLSH_WANT_WRITE on a nonblocking socket (call again
 * when it is ready), or a negative code (then the same one on every later
 * call; end the connection with ktlsh_abort). On a blocking socket it
 * waits, as ktlsh_connect does. No timer is kept: the caller bounds the
 * handshake's time.
 */
int ktlsh_conn_new(struct ktlsh_ctx *ctx, int fd, const char *host,
		   struct ktlsh_conn **connp, struct ktlsh_err *err);
int ktlsh_handshake(struct ktlsh_conn *conn, struct ktlsh_err *err);

/*
 * Session resumption (client). ktlsh_conn_session copies the latest
 * session the server gave (a TLS 1.2 session id or ticket, a TLS 1.3
 * NewSessionTicket, which arrives after the handshake: read first) into
 * buf, as DER: its length, 0 if there is none yet, or a negative code if
 * buf is too small. ktlsh_conn_resume offers such a session on a new
 * connection, before its first ktlsh_handshake. Servers resume on their
 * own: TLS 1.3 tickets and TLS 1.2 tickets and session ids.
 */
ssize_t ktlsh_conn_session(struct ktlsh_conn *conn, void *buf, size_t len,
			   struct ktlsh_err *err);
int ktlsh_conn_resume(struct ktlsh_conn *conn, const void *der, size_t len,
		      struct ktlsh_err *err);
/* 1 if the handshake resumed a session, else 0. */
int ktlsh_conn_resumed(const struct ktlsh_conn *conn);

/* 1 if the kernel carries the records, 0 if OpenSSL does (userspace or fallback). */
int ktlsh_conn_offloaded(const struct ktlsh_conn *conn);
/* "TLSv1.3", "TLS_AES_128_GCM_SHA256": the negotiated version and suite. */
const char *ktlsh_conn_version(const struct ktlsh_conn *conn);
const char *ktlsh_conn_cipher(const struct ktlsh_conn *conn);
/* Why a negotiated suite was left in userspace, or "" */
const char *ktlsh_conn_note(const struct ktlsh_conn *conn);
/* The negotiated max_fragment_length in bytes (records sent carry no more), or 0. */
int ktlsh_conn_max_fragment(const struct ktlsh_conn *conn);
/*
 * TLS 1.3 KeyUpdates received from the peer and sent, so far (in OpenSSL,
 * not offloaded, only those sent with ktlsh_key_update are counted).
 */
void ktlsh_conn_key_updates(const struct ktlsh_conn *conn, unsigned long *received,
			    unsigned long *sent);

/*
 * Application data. ktlsh_read returns the number of bytes read, 0 at the
 * peer's close_notify, or a negative code. Handshake records after the
 * handshake are TLS 1.3 post-handshake messages, whole or in pieces over
 * several records: a NewSessionTicket is kept for ktlsh_conn_session
 * (client); a KeyUpdate makes ktlsh derive and install the peer's next
 * traffic key and, if the peer asked for it, send a KeyUpdate of its own
 * and switch to its own next key (see ktlsh_key_update). A fatal alert or
 * a malformed KeyUpdate is a KTLSH_E_PROTOCOL error.
 *
 * ktlsh_write sends all of buf on a blocking socket; on a nonblocking
 * one, what the socket takes (a count, or KTLSH_WANT_WRITE for none).
 * ktlsh_sendfile likewise, count bytes of file_fd from offset: sendfile(2)
 * when offloaded, at most 128 KiB per call into the kernel, so that a
 * KeyUpdate owed to the peer goes out between two.
 *
 * Threads: one thread may read while another writes (ktlsh_write,
 * ktlsh_sendfile, ktlsh_key_update). Offloaded, the sending side is
 * serialized inside ktlsh, so an answer to the peer's KeyUpdate never
 * lands inside a write; in OpenSSL (not offloaded), every call holds a
 * lock around OpenSSL but never while it waits for the socket. ktlsh_close
 * and ktlsh_abort only when no other call is running.
 */
ssize_t ktlsh_read(struct ktlsh_conn *conn, void *buf, size_t len, struct ktlsh_err *err);
ssize_t ktlsh_write(struct ktlsh_conn *conn, const void *buf, size_t len, struct ktlsh_err *err);
ssize_t ktlsh_sendfile(struct ktlsh_conn *conn, int file_fd, off_t offset, size_t count,
		       struct ktlsh_err *err);
/*
 * TLS 1.3 KeyUpdate (RFC 8446 4.6.3): send a KeyUpdate message and switch
 * to the next sending key (application_traffic_secret_N+1). With
 * request_peer nonzero, the message asks the peer to update its key too;
 * its answer is handled by ktlsh_read. KTLSH_E_INVALID on a TLS 1.2
 * connection. Works through the module and through OpenSSL alike.
 */
int ktlsh_key_update(struct ktlsh_conn *conn, int request_peer, struct ktlsh_err *err);
/*
 * Send close_notify (once; KTLSH_WANT_WRITE on a full nonblocking socket:
 * call again) and keep the connection: the peer's last bytes can still be
 * read. ktlsh_close sends it if not yet sent, closes fd and frees.
 */
int ktlsh_shutdown(struct ktlsh_conn *conn, struct ktlsh_err *err);
int ktlsh_close(struct ktlsh_conn *conn, struct ktlsh_err *err);
/* Close without close_notify (after an error). */
void ktlsh_abort(struct ktlsh_conn *conn);

const char *ktlsh_code_name(int code);

/* The connection's socket (it changes in ktlsh_hsd_result: the daemon's copy comes back). */
int ktlsh_conn_fd(const struct ktlsh_conn *conn);
/* The peer's certificate in one line ("subject /CN=..., issuer /CN=..."), or "" if none. */
const char *ktlsh_conn_peer(const struct ktlsh_conn *conn);
/*
 * Since 1.1. Nonzero: every socket of ctx gets TLS_KTO_KEYS_WRITE_ONLY
 * before its keys (<ktls_offload.h>), so that getsockopt(TLS_TX/TLS_RX)
 * gives back no key material; KTLSH_E_KERNEL where the kernel's kTLS is
 * not ktls-offload's (it has no such option).
 */
int ktlsh_ctx_set_keys_write_only(struct ktlsh_ctx *ctx, int on);

/*
 * ktls-handshaked (since 1.1; Documentation/handshaked.rst): the handshake
 * in a daemon that alone can read the private key; the server gets the
 * socket back with the keys in the module (write-only) and a connection
 * that holds no secret. TLS 1.3 KeyUpdates, either way, go to the daemon
 * for the next key, in one round trip on its UNIX socket inside
 * ktlsh_read / ktlsh_write / ktlsh_key_update (at most 10 s).
 *
 * ktlsh_hsd_open connects to the daemon's socket at path. Event-loop use:
 * ktlsh_hsd_submit hands over an accepted TCP socket fd (which it closes
 * on success: the daemon has it now; on failure fd stays the caller's;
 * take fd out of any epoll set first, and always EPOLL_CTL_DEL a socket
 * before closing it: the daemon may hold the same socket a moment longer,
 * and an epoll registration ends only when every descriptor is closed),
 * with the server name whose certificate to use (NULL: the daemon's
 * first) and a cookie. When ktlsh_hsd_fd is readable, ktlsh_hsd_result
 * gives one finished handshake: 0 and *connp (its socket is
 * ktlsh_conn_fd, a new descriptor), or a negative code naming what failed
 * (the daemon closed that socket), with that submit's cookie either way;
 * KTLSH_WANT_READ when none is ready. Every successful submit gets exactly
 * one result. If the daemon goes away, each handshake in flight fails
 * with KTLSH_E_CLOSED and its cookie, then KTLSH_E_CLOSED comes with
 * *cookiep NULL: call ktlsh_hsd_reconnect (after which ktlsh_hsd_fd is a
 * new descriptor). Connections made before keep working, but a KeyUpdate
 * on one then fails: the new daemon does not have its secrets.
 * ktlsh_hsd_accept is submit and wait, for a blocking server with one
 * thread. ktlsh_hsd_pending: submits whose result is not collected yet. Threads: any call from any thread; ktlsh_hsd_close when no
 * other call runs (connections made through h may outlive it).
 */
struct ktlsh_hsd;
int ktlsh_hsd_open(const char *path, struct ktlsh_hsd **hp, struct ktlsh_err *err);
int ktlsh_hsd_fd(const struct ktlsh_hsd *h);
size_t ktlsh_hsd_pending(const struct ktlsh_hsd *h);
int ktlsh_hsd_submit(struct ktlsh_hsd *h, int fd, const char *name, void *cookie,
		     struct ktlsh_err *err);
int ktlsh_hsd_result(struct ktlsh_hsd *h, struct ktlsh_conn **connp, void **cookiep,
		     struct ktlsh_err *err);
int ktlsh_hsd_accept(struct ktlsh_hsd *h, int fd, const char *name, struct ktlsh_conn **connp,
		     struct ktlsh_err *err);
int ktlsh_hsd_reconnect(struct ktlsh_hsd *h, struct ktlsh_err *err);
void ktlsh_hsd_close(struct ktlsh_hsd *h);

#endif
