// SPDX-License-Identifier: GPL-2.0
/*
 * Record buffers as vectors of order-0 pages. A record (at most
 * KTO_MAX_RECORD bytes) starts at offset base of its first page (0 for
 * RX) and runs on through the next pages; pages are taken as the record grows and given back once it is consumed (RX) or
 * handed to TCP (TX, which takes its own page references). An idle socket
 * holds no record memory, and no allocation is ever above order 0.
 *
 * Pages given back go to a small per-CPU FIFO of spares per direction,
 * shared by all sockets, instead of straight to the page allocator: a
 * fresh page costs a clear_page() (Debian's kernels zero every allocation,
 * init_on_alloc), which was about 9% of the CPU time of a bulk transfer.
 * A spare TX page is taken again only once TCP has dropped all its
 * references (page count back to our one), so a page still queued or
 * unacknowledged is never written; TCP frees in send order, so only the
 * oldest few spares are probed. Spare pages never leave the module with
 * stale bytes: TX pages only ever held ciphertext that was sent, and only
 * the bytes of a record are handed to TCP; RX pages are never handed out
 * at all. The FIFOs hold at most spare_pages pages per CPU and direction
 * (module parameter; the oldest is dropped when full) and are freed,
 * RX ones cleared, at module exit.
 *
 * Every page a record holds is charged to its socket, as TCP charges its
 * own buffers (sk_wmem_schedule()/__sk_mem_schedule() and
 * sk_mem_charge()): so the open TX record and a partly received RX record,
 * which a writer or a peer makes us hold, count against tcp_mem and the
 * socket's memory cgroup. RX pages are not added to sk_rmem_alloc: TCP's
 * window must open as we copy a record out of its queue, or a record
 * larger than the receive buffer could never complete.
 *
 * TX records also share pages, as TCP's page fragments do: the room left
 * after a sent record in its last page (the per-CPU tail) is where the
 * next TX record on that CPU starts. TCP only ever reads the byte range
 * it was given, so the earlier record's bytes are not touched and the
 * later record's are not seen before they are sealed.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uio.h>

#include "ktls.h"

#define KTO_SPARE_MAX		1024
#define KTO_SPARE_PROBES	4

static unsigned int spare_pages = 128;
module_param(spare_pages, uint, 0444);
MODULE_PARM_DESC(spare_pages,
		 "pages kept for reuse per CPU and direction (default 128, max 1024, 0 = none)");

struct kto_spare {
	unsigned int head;	/* oldest */
	unsigned int count;
	struct page **p;	/* spare_pages slots */
};

static DEFINE_PER_CPU(struct kto_spare, kto_spare[KTO_DIRS]);

/* Least room worth keeping after a TX record for the next one. */
#define KTO_TAIL_MIN	256

/* The unused end of the page the last TX record on this CPU ended in. */
struct kto_tail {
	struct page *page;	/* our reference, or NULL */
	u32 off;		/* first free byte */
};

static DEFINE_PER_CPU(struct kto_tail, kto_tail);

/* A spare page nobody else references any more, or NULL. BH disabled. */
static struct page *spare_get(struct kto_spare *s)
{
	unsigned int i, probes = min(s->count, KTO_SPARE_PROBES);

	for (i = 0; i < probes; i++) {
		unsigned int slot = (s->head + i) % spare_pages;
		struct page *p = s->p[slot];

		if (page_ref_count(p) != 1)
			continue;
		/* Take it; the head's page moves to its slot. */
		s->p[slot] = s->p[s->head];
		s->head = (s->head + 1) % spare_pages;
		s->count--;
		kto_stats_live_add(KTO_LIVE_SPARE, -1);
		return p;
	}
	return NULL;
}

/* Let go of a page that may hold plaintext or key stream. */
static void drop_page(struct page *p, enum kto_dir dir)
{
	/* RX pages held plaintext; TX pages only ciphertext that was sent. */
	if (dir == KTO_RX)
		clear_page(page_address(p));
	put_page(p);
}

/* Keep @p (our reference) as a spare, dropping the oldest. BH disabled. */
static void spare_put(struct kto_spare *s, struct page *p, enum kto_dir dir)
{
	if (s->count == spare_pages) {
		drop_page(s->p[s->head], dir);
		s->head = (s->head + 1) % spare_pages;
		s->count--;
		kto_stats_live_add(KTO_LIVE_SPARE, -1);
	}
	s->p[(s->head + s->count) % spare_pages] = p;
	s->count++;
	kto_stats_live_add(KTO_LIVE_SPARE, 1);
}

/*
 * Charge @size bytes of record memory to @sk, as TCP charges its send
 * (TX) or receive (RX) buffers, which also charges the socket's memory
 * cgroup. Socket locked (owner, or softirq with its spinlock). 0, or
 * -ENOBUFS when tcp_mem or the cgroup says no.
 */
int kto_mem_charge(struct sock *sk, enum kto_dir dir, int size)
{
	int delta = size - sk->sk_forward_alloc;

	if (dir == KTO_TX) {
		if (!sk_wmem_schedule(sk, size))
			return -ENOBUFS;
	} else if (sk_has_account(sk) && delta > 0 &&
		   !__sk_mem_schedule(sk, delta, SK_MEM_RECV)) {
		return -ENOBUFS;
	}
	sk_mem_charge(sk, size);
	return 0;
}

void kto_mem_uncharge(struct sock *sk, enum kto_dir dir, int size)
{
	sk_mem_uncharge(sk, size);
}

/*
 * A new TX record starts where the last record sent from this CPU ended,
 * if that left room in its page: small records share pages, as TCP's own
 * page fragments do. BH disabled.
 */
static void tail_get(struct kto_pages *pg)
{
	struct kto_tail *t = this_cpu_ptr(&kto_tail);

	if (!t->page)
		return;
	pg->p[pg->n++] = t->page;
	pg->base = t->off;
	t->page = NULL;
	kto_stats_live_add(KTO_LIVE_SPARE, -1);
}

/*
 * Make the vector cover @len bytes, charging new pages to @sk. Returns 0,
 * -EINVAL, -ENOMEM, or -ENOBUFS (not allowed to charge more).
 */
int kto_pages_ensure(struct sock *sk, struct kto_pages *pg, u32 len,
		     enum kto_dir dir, gfp_t gfp)
{
	u32 want;

	if (len > KTO_MAX_RECORD)
		return -EINVAL;
	if (!pg->n && dir == KTO_TX && spare_pages) {
		if (kto_mem_charge(sk, dir, PAGE_SIZE))
			return -ENOBUFS;
		local_bh_disable();
		tail_get(pg);
		local_bh_enable();
		if (pg->n)
			kto_stats_live_add(KTO_LIVE_PAGES, 1);
		else
			kto_mem_uncharge(sk, dir, PAGE_SIZE);
	}
	want = DIV_ROUND_UP(pg->base + len, PAGE_SIZE);
	while (pg->n < want) {
		struct page *p;

		if (kto_mem_charge(sk, dir, PAGE_SIZE))
			return -ENOBUFS;
		p = NULL;
		if (spare_pages) {
			local_bh_disable();
			p = spare_get(this_cpu_ptr(&kto_spare[dir]));
			local_bh_enable();
		}
		if (!p)
			p = alloc_page(gfp | __GFP_NOWARN);
		if (!p) {
			kto_mem_uncharge(sk, dir, PAGE_SIZE);
			return -ENOMEM;
		}
		pg->p[pg->n++] = p;
		kto_stats_live_add(KTO_LIVE_PAGES, 1);
	}
	return 0;
}

/*
 * Give the pages back as spares (uncharging them from @sk). Only for
 * pages whose bytes may stay (see above): sent TX records, consumed RX
 * records. For TX, @len is the record's length: the room after it in its
 * last page is kept for the next record built on this CPU.
 */
void kto_pages_recycle(struct sock *sk, struct kto_pages *pg, enum kto_dir dir,
		       u32 len)
{
	u32 end = (pg->base + len) % PAGE_SIZE;
	struct kto_spare *s;
	struct kto_tail *t;

	if (!spare_pages) {
		/* TCP may still be sending TX pages: only RX ones are cleared. */
		if (dir == KTO_RX)
			kto_pages_release_clear(sk, pg, dir);
		else
			kto_pages_release(sk, pg, dir);
		return;
	}
	kto_mem_uncharge(sk, dir, pg->n * PAGE_SIZE);
	kto_stats_live_add(KTO_LIVE_PAGES, -(long)pg->n);
	local_bh_disable();
	t = this_cpu_ptr(&kto_tail);
	if (dir == KTO_TX && pg->n && end && end <= PAGE_SIZE - KTO_TAIL_MIN &&
	    pg->n == DIV_ROUND_UP(pg->base + len, PAGE_SIZE) && !t->page) {
		t->page = pg->p[--pg->n];
		t->off = end;
		kto_stats_live_add(KTO_LIVE_SPARE, 1);
	}
	s = this_cpu_ptr(&kto_spare[dir]);
	while (pg->n)
		spare_put(s, pg->p[--pg->n], dir);
	local_bh_enable();
	pg->base = 0;
}

int kto_pages_init(void)
{
	int cpu, d;

	if (spare_pages > KTO_SPARE_MAX) {
		pr_err("module parameter spare_pages must be at most %d\n",
		       KTO_SPARE_MAX);
		return -EINVAL;
	}
	if (!spare_pages)
		return 0;
	for_each_possible_cpu(cpu) {
		for (d = 0; d < KTO_DIRS; d++) {
			struct kto_spare *s = per_cpu_ptr(&kto_spare[d], cpu);

			s->p = kcalloc_node(spare_pages, sizeof(*s->p),
					    GFP_KERNEL, cpu_to_node(cpu));
			if (!s->p) {
				kto_pages_uninit();
				return -ENOMEM;
			}
		}
	}
	return 0;
}

/* Module exit (or failed init): no socket uses the module. */
void kto_pages_uninit(void)
{
	int cpu, d;

	for_each_possible_cpu(cpu) {
		struct kto_tail *t = per_cpu_ptr(&kto_tail, cpu);

		/* Sent ciphertext, maybe still in TCP: left as it is. */
		if (t->page) {
			put_page(t->page);
			t->page = NULL;
			kto_stats_live_add(KTO_LIVE_SPARE, -1);
		}
		for (d = 0; d < KTO_DIRS; d++) {
			struct kto_spare *s = per_cpu_ptr(&kto_spare[d], cpu);

			for (; s->count; s->count--) {
				struct page *p = s->p[s->head];

				/*
				 * RX spares may hold plaintext. TX spares hold
				 * sent ciphertext that TCP may still be sending
				 * for a closed socket: leave their bytes alone.
				 */
				drop_page(p, d);
				s->head = (s->head + 1) % spare_pages;
				kto_stats_live_add(KTO_LIVE_SPARE, -1);
			}
			kfree(s->p);
			s->p = NULL;
		}
	}
}

/*
 * Drop our references and uncharge them from @sk; pages TCP still holds
 * live on until it is done. For pages whose bytes may stay.
 */
void kto_pages_release(struct sock *sk, struct kto_pages *pg, enum kto_dir dir)
{
	kto_mem_uncharge(sk, dir, pg->n * PAGE_SIZE);
	kto_stats_live_add(KTO_LIVE_PAGES, -(long)pg->n);
	while (pg->n)
		put_page(pg->p[--pg->n]);
	pg->base = 0;
}

/*
 * Release, clearing the record's bytes first: they may hold plaintext or
 * key stream. Bytes before base in the first page belong to an earlier
 * record that TCP may still be sending: they stay.
 */
void kto_pages_release_clear(struct sock *sk, struct kto_pages *pg,
			     enum kto_dir dir)
{
	u8 i;

	for (i = 0; i < pg->n; i++) {
		u32 from = i ? 0 : pg->base;

		memzero_explicit((u8 *)page_address(pg->p[i]) + from,
				 PAGE_SIZE - from);
	}
	kto_pages_release(sk, pg, dir);
}

/* The page holding byte @off of the record, and the offset in it. */
struct page *kto_pages_at(const struct kto_pages *pg, u32 off, u32 *poff)
{
	off += pg->base;
	*poff = off % PAGE_SIZE;
	return pg->p[off / PAGE_SIZE];
}

u8 *kto_pages_ptr(const struct kto_pages *pg, u32 off)
{
	u32 poff;
	struct page *p = kto_pages_at(pg, off, &poff);

	return (u8 *)page_address(p) + poff;
}

/* Bytes from byte @off of the record to the end of its page. */
u32 kto_pages_run(const struct kto_pages *pg, u32 off)
{
	return PAGE_SIZE - (pg->base + off) % PAGE_SIZE;
}

void kto_pages_read(const struct kto_pages *pg, u32 off, void *dst, u32 len)
{
	while (len) {
		u32 n = min(len, kto_pages_run(pg, off));

		memcpy(dst, kto_pages_ptr(pg, off), n);
		dst += n;
		off += n;
		len -= n;
	}
}

void kto_pages_write(struct kto_pages *pg, u32 off, const void *src, u32 len)
{
	while (len) {
		u32 n = min(len, kto_pages_run(pg, off));

		memcpy(kto_pages_ptr(pg, off), src, n);
		src += n;
		off += n;
		len -= n;
	}
}

/*
 * Take references on the pages behind the next @len bytes of @iter (user
 * memory, or the pages of a bvec iterator) and describe them in @bv,
 * which has room for KTO_REC_PAGES entries. Returns the number of
 * entries, or -EAGAIN with nothing taken and @iter as it was if they
 * cannot all be had in KTO_REC_PAGES pages (or not at all: the caller
 * copies instead, which reports a bad address as such).
 */
int kto_pages_get_iter(struct iov_iter *iter, u32 len, struct bio_vec *bv)
{
	struct page *pages[KTO_REC_PAGES];
	u32 taken = 0;
	int np = 0;

	/* One segment (iovec, or bvec) per call. */
	while (taken < len && np < KTO_REC_PAGES) {
		size_t poff;
		ssize_t got = iov_iter_get_pages2(iter, pages + np, len - taken,
						  KTO_REC_PAGES - np, &poff);

		if (got <= 0)
			break;
		taken += got;
		while (got) {
			u32 chunk = min_t(size_t, got, PAGE_SIZE - poff);

			bvec_set_page(&bv[np], pages[np], chunk, poff);
			np++;
			got -= chunk;
			poff = 0;
		}
	}
	if (taken == len)
		return np;
	kto_pages_put_iter(bv, np, false);
	iov_iter_revert(iter, taken);
	return -EAGAIN;
}

/* Drop what kto_pages_get_iter() took; @dirty if we wrote to the pages. */
void kto_pages_put_iter(struct bio_vec *bv, int n, bool dirty)
{
	int i;

	for (i = 0; i < n; i++) {
		/* Written through the kernel's mapping: tell the page's owner. */
		if (dirty && !PageDirty(bv[i].bv_page))
			set_page_dirty_lock(bv[i].bv_page);
		put_page(bv[i].bv_page);
	}
}

/* Describe [off, off + len) in @sg; returns the entries used. */
int kto_pages_sg(const struct kto_pages *pg, struct scatterlist *sg, int max,
		 u32 off, u32 len)
{
	int n = 0;

	while (len) {
		u32 chunk = min(len, kto_pages_run(pg, off));
		u32 poff;
		struct page *p = kto_pages_at(pg, off, &poff);

		if (n == max)
			return -EINVAL;
		sg_set_page(&sg[n++], p, chunk, poff);
		off += chunk;
		len -= chunk;
	}
	return n;
}
