/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The protocol between a server (libktlsh, hsd.c) and ktls-handshaked on
 * the daemon's UNIX socket (SOCK_SEQPACKET: one message per datagram, no
 * framing to get wrong). Every message is a struct kthd_hdr and hdr.len
 * bytes of body; a socket travels as SCM_RIGHTS, one per message at most.
 * Both ends are on one machine, so integers are in host order. Anything
 * else (a wrong magic or version, an unknown type, a length other than the
 * type's, a cut message, a socket where none belongs or none where one
 * does) ends the connection: the daemon logs one line and drops it.
 * Documentation/handshaked.rst describes it for people.
 *
 * Server to daemon:
 *   HANDSHAKE  + the accepted TCP socket; body: the server name to use
 *              (0 to 255 bytes, no NUL; empty: the daemon's first
 *              certificate). tag: the server's, echoed in the RESULT.
 *   UPDATE     + the connection's socket; id: the connection's (from its
 *              RESULT); body: one byte, KTHD_DIR_RX (install the peer's
 *              next traffic key) or KTHD_DIR_TX (ours). Answered by an
 *              UPDATED with the same tag.
 *   FORGET     id: the daemon drops what it keeps for that connection
 *              (its traffic secrets). No answer, no body.
 * Daemon to server:
 *   RESULT     one per HANDSHAKE; status 0: the socket comes back (with the
 *              keys in the module, write-only) and the body is a struct
 *              kthd_result and then result.early_len bytes the client sent
 *              with its handshake; status < 0 (an enum ktlsh_code): no
 *              socket (the daemon closed it), the body is the struct with
 *              msg saying what failed. id: 0 when nothing is kept (TLS 1.2
 *              has no KeyUpdate), else what UPDATE and FORGET name.
 *   UPDATED    status 0 or a code; body: a struct kthd_result with msg set.
 *   REFUSED    the daemon will not serve this peer (SO_PEERCRED not on its
 *              allow-list, or too many servers); body: msg; then it closes.
 */
#ifndef KTLSH_HSD_PROTO_H
#define KTLSH_HSD_PROTO_H

#include <stdint.h>

#define KTHD_MAGIC	0x6b746864u	/* "ktdh" */
#define KTHD_VERSION	1

enum kthd_type {
	KTHD_HANDSHAKE = 1,
	KTHD_UPDATE = 2,
	KTHD_FORGET = 3,
	KTHD_RESULT = 0x81,
	KTHD_UPDATED = 0x82,
	KTHD_REFUSED = 0x83,
};

#define KTHD_DIR_RX	0
#define KTHD_DIR_TX	1
#define KTHD_NAME_MAX	255
#define KTHD_EARLY_MAX	65536	/* as KTLSH_EARLY_MAX */

struct kthd_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint64_t tag;
	uint64_t id;
	int32_t status;
	uint32_t len;		/* body bytes after the header */
};

/* Each string is NUL-terminated within its array (a receiver checks). */
struct kthd_result {
	uint16_t tls_version;	/* 0x0303 or 0x0304 */
	uint8_t resumed;
	uint8_t eof;		/* the client's close_notify came with the handshake */
	uint16_t max_fragment;	/* negotiated max_fragment_length, or 0 */
	uint16_t pad;
	uint32_t early_len;	/* bytes after this struct (RESULT only) */
	int32_t sys_errno;
	char version[16];
	char cipher[64];
	char peer[256];		/* the client's certificate, when it sent one, or "" */
	char msg[512];		/* what failed, or "" */
};

#define KTHD_MSG_MAX (sizeof(struct kthd_hdr) + sizeof(struct kthd_result) + KTHD_EARLY_MAX)

struct iovec;

/*
 * Both ends (hsd.c, ktls-handshaked): one sendmsg(2) of iov, with fd as
 * SCM_RIGHTS unless it is -1. What sendmsg returns, errno as it left it.
 */
long ktlsh_hsd_sendmsg(int sock, const struct iovec *iov, int iovcnt, int fd, int flags);

#endif
