/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ktls-offload: what the module adds to the kTLS socket API of
 * <linux/tls.h>. Userspace includes this next to <linux/tls.h>.
 */
#ifndef _UAPI_KTLS_OFFLOAD_H
#define _UAPI_KTLS_OFFLOAD_H

/*
 * SOL_TLS option, an int: once set to 1, getsockopt(TLS_TX or TLS_RX)
 * gives only struct tls_crypto_info (version and cipher) and refuses the
 * full struct with EACCES, so no key, IV, salt or sequence number can be
 * read back from the socket. It cannot be cleared (EPERM). The module
 * parameter keys_write_only=1 sets it on every socket from the start.
 * The number is far from upstream's, which count up from 1; the in-tree
 * kTLS answers ENOPROTOOPT.
 */
#define TLS_KTO_KEYS_WRITE_ONLY	0x4b01

#endif /* _UAPI_KTLS_OFFLOAD_H */
