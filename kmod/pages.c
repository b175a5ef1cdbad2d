// SPDX-License-Identifier: GPL-2.0
/*
 * Record buffers as vectors of order-0 pages. A record (at most
 * KTO_MAX_RECORD bytes) lives at byte offsets 0.. of its vector; pages are
 * allocated as the record grows and released once it is consumed (RX) or
 * handed to TCP (TX, which takes its own page references). An idle socket
 * holds no record memory, and no allocation is ever above order 0.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/string.h>

#include "ktls.h"

/* Make the vector cover @len bytes. Returns 0 or -ENOMEM. */
int kto_pages_ensure(struct kto_pages *pg, u32 len, gfp_t gfp)
{
	u32 want = DIV_ROUND_UP(len, PAGE_SIZE);

	if (want > KTO_REC_PAGES)
		return -EINVAL;
	while (pg->n < want) {
		struct page *p = alloc_page(gfp | __GFP_NOWARN);

		if (!p)
			return -ENOMEM;
		pg->p[pg->n++] = p;
		kto_live_add(KTO_LIVE_PAGES, 1);
	}
	return 0;
}

/* Drop our references; pages TCP still holds live on until it is done. */
void kto_pages_release(struct kto_pages *pg)
{
	kto_live_add(KTO_LIVE_PAGES, -(long)pg->n);
	while (pg->n)
		put_page(pg->p[--pg->n]);
}

/* Release, clearing first: the pages may hold plaintext or key stream. */
void kto_pages_release_clear(struct kto_pages *pg)
{
	u8 i;

	for (i = 0; i < pg->n; i++)
		clear_page(page_address(pg->p[i]));
	kto_pages_release(pg);
}

u8 *kto_pages_ptr(const struct kto_pages *pg, u32 off)
{
	return (u8 *)page_address(pg->p[off / PAGE_SIZE]) + off % PAGE_SIZE;
}

/* Bytes from @off to the end of its page. */
u32 kto_pages_run(u32 off)
{
	return PAGE_SIZE - off % PAGE_SIZE;
}

void kto_pages_read(const struct kto_pages *pg, u32 off, void *dst, u32 len)
{
	while (len) {
		u32 n = min(len, kto_pages_run(off));

		memcpy(dst, kto_pages_ptr(pg, off), n);
		dst += n;
		off += n;
		len -= n;
	}
}

void kto_pages_write(struct kto_pages *pg, u32 off, const void *src, u32 len)
{
	while (len) {
		u32 n = min(len, kto_pages_run(off));

		memcpy(kto_pages_ptr(pg, off), src, n);
		src += n;
		off += n;
		len -= n;
	}
}

/* Describe [off, off + len) in @sg; returns the entries used. */
int kto_pages_sg(const struct kto_pages *pg, struct scatterlist *sg, int max,
		 u32 off, u32 len)
{
	int n = 0;

	while (len) {
		u32 chunk = min(len, kto_pages_run(off));

		if (n == max)
			return -EINVAL;
		sg_set_page(&sg[n++], pg->p[off / PAGE_SIZE], chunk,
			    off % PAGE_SIZE);
		off += chunk;
		len -= chunk;
	}
	return n;
}
