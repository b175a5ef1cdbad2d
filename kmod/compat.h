/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the kernel lines we build for (Debian 6.1 and 6.12)
 * live here and nowhere else. Force-included by Kbuild into every file.
 */
#ifndef KTO_COMPAT_H
#define KTO_COMPAT_H

#include <linux/version.h>

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
/* sendpage is gone; splice and sendfile arrive as MSG_SPLICE_PAGES. */
#define KTO_HAVE_SPLICE_PAGES 1
#else
#define KTO_HAVE_SENDPAGE 1
#endif

#endif /* KTO_COMPAT_H */
