/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the kernel lines we build for (Debian 6.1 and 6.12)
 * live here and nowhere else. Force-included by Kbuild into every file.
 */
#ifndef KTO_COMPAT_H
#define KTO_COMPAT_H

/*
 * Feature flags come from probes in kmod/Kbuild:
 * KTO_HAVE_SENDPAGE: struct proto has ->sendpage (6.1). Without it (6.12),
 * sendfile and splice reach sendmsg with MSG_SPLICE_PAGES.
 * KTO_HAVE_LINUX_UNALIGNED_H: <linux/unaligned.h> replaced <asm/unaligned.h>.
 */

#include <linux/socket.h>
#include <linux/uio.h>

/* Gone in 6.12, where splice sets MSG_MORE itself. */
#ifndef MSG_SENDPAGE_NOTLAST
#define MSG_SENDPAGE_NOTLAST 0
#endif

#include <linux/fs.h>
#include <linux/splice.h>

/* Splice from a file through its read_iter (here: our recvmsg). */
#ifdef KTO_HAVE_SENDPAGE
#define kto_copy_splice_read generic_file_splice_read
#else
#define kto_copy_splice_read copy_splice_read
#endif

/*
 * Record size limit (RFC 8449), upstream since 6.19: the uapi headers of
 * the kernels we build for do not have it yet. Same numbers as upstream.
 */
#ifndef TLS_TX_MAX_PAYLOAD_LEN
#define TLS_TX_MAX_PAYLOAD_LEN 5
#define TLS_INFO_TX_MAX_PAYLOAD_LEN 7
#endif

/* get_unaligned_be16() and friends moved in 6.12. */
#ifdef KTO_HAVE_LINUX_UNALIGNED_H
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

#endif /* KTO_COMPAT_H */
