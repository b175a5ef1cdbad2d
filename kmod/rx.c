// SPDX-License-Identifier: GPL-2.0
/*
 * Receive: record framing from the TCP receive queue, decryption, recvmsg,
 * splice_read and poll.
 *
 * Ciphertext is copied out of TCP's queue into pages (pages.c) as it
 * arrives (from sk_data_ready, or by the reader), one record at a time,
 * and opened when a reader wants it: straight into the reader's pages if
 * it is a data record that fits, else in place and copied out. rx->ready
 * tells poll() whether a whole record (or an error) is waiting; it is
 * written with the socket locked (owner or softirq) and read locklessly.
 *
 * Locking (design.rst, "Locking"): rx->lock, taken before the socket lock,
 * is held by a reader for its whole call, since waiting for a record
 * releases the socket lock; a second reader gets EAGAIN at once when
 * non-blocking, else waits interruptibly within SO_RCVTIMEO.
 */
#include <linux/highmem.h>
#include <linux/module.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/splice.h>
#include <linux/uio.h>
#include <net/tcp.h>

#include "ktls.h"

static bool rx_buf_full(const struct kto_rx *rx)
{
	return rx->need && rx->have == rx->need;
}

static bool rx_ready(const struct kto_rx *rx)
{
	return rx->decrypted || !list_empty(&rx->peeked) ||
	       (rx_buf_full(rx) && !rx->key_update);
}

struct rx_pull_arg {
	struct sock *sk;
	struct kto_rx *rx;
	gfp_t gfp;
};

static int rx_actor(read_descriptor_t *desc, struct sk_buff *skb,
		    unsigned int offset, size_t len)
{
	struct rx_pull_arg *arg = desc->arg.data;
	struct kto_rx *rx = arg->rx;
	size_t n = min_t(size_t, len, desc->count), done = 0;
	int err;

	err = kto_pages_ensure(arg->sk, &rx->pg, rx->have + n, KTO_RX, arg->gfp);
	if (err) {
		desc->error = err == -EINVAL ? err : -ENOMEM;
		return 0;
	}
	while (done < n) {
		u32 chunk = min_t(size_t, n - done, kto_pages_run(&rx->pg, rx->have));

		if (skb_copy_bits(skb, offset + done,
				  kto_pages_ptr(&rx->pg, rx->have), chunk)) {
			desc->error = -EFAULT;
			break;
		}
		rx->have += chunk;
		done += chunk;
	}
	desc->count -= done;
	return done;
}

/* Copy from TCP's queue until @want bytes are in pg. */
static int rx_pull(struct sock *sk, struct kto_rx *rx, u32 want, gfp_t gfp)
{
	struct rx_pull_arg arg = { .sk = sk, .rx = rx, .gfp = gfp };
	read_descriptor_t desc = {
		.arg.data = &arg,
		.count = want - rx->have,
	};

	if (want > rx->have)
		tcp_read_sock(sk, &desc, rx_actor);
	return desc.error;
}

/* Check a complete header in pg; set rx->need. */
static int rx_parse_header(struct kto_rx *rx)
{
	const u8 *h = kto_pages_ptr(&rx->pg, 0);	/* in the first page */
	u32 len = get_unaligned_be16(h + 3);

	if (len > KTO_MAX_PLAIN + rx->c.explicit_len + rx->c.tail_len)
		return -EMSGSIZE;
	if (len < rx->c.explicit_len + KTO_TAG_LEN)
		return -EBADMSG;
	/* Both TLS 1.2 and 1.3 records say 3.3 on the wire. */
	if (h[1] != TLS_1_2_VERSION_MAJOR || h[2] != TLS_1_2_VERSION_MINOR)
		return -EINVAL;
	rx->need = KTO_HDR_LEN + len;
	return 0;
}

/*
 * A framing error ends the record stream: report it once through sk_err,
 * as TCP reports its own errors, and stop parsing.
 */
static void rx_stop(struct sock *sk, struct kto_rx *rx, int err)
{
	rx->stopped = true;
	kto_stats_add(sk, KTO_STAT_RX_BAD_RECORD, 1);
	WRITE_ONCE(sk->sk_err, -err);
	sk_error_report(sk);
}

/*
 * Copy ciphertext from TCP towards a whole record in pg. Socket locked
 * (owner, or softirq with the spinlock: then @gfp is atomic, and if no
 * page can be had or charged, the reader is woken to try with a sleeping
 * allocation; the bytes stay in TCP's queue meanwhile). Updates
 * rx->ready; returns true if a reader should be woken.
 */
static bool rx_fill_wake(struct sock *sk, struct kto_rx *rx, gfp_t gfp)
{
	int err;

	if (rx->decrypted || rx->stopped || rx->err)
		goto out;
	if (rx->have < KTO_HDR_LEN) {
		err = rx_pull(sk, rx, KTO_HDR_LEN, gfp);
		if (rx->have < KTO_HDR_LEN)
			goto out_pulled;
	}
	if (!rx->need) {
		err = rx_parse_header(rx);
		if (err) {
			rx_stop(sk, rx, err);
			goto out;
		}
	}
	err = rx_pull(sk, rx, rx->need, gfp);
out_pulled:
	rx->need_alloc = err == -ENOMEM;
out:
	WRITE_ONCE(rx->ready, rx_ready(rx));
	return rx->ready || rx->stopped || rx->err || rx->need_alloc;
}

static void kto_data_ready(struct sock *sk)
{
	struct kto_ctx *ctx = kto_ctx_get(sk);

	if (rx_fill_wake(sk, ctx->rx, GFP_ATOMIC))
		ctx->sk_data_ready(sk);
}

/*
 * Follow the TLS 1.3 handshake messages through this record's plaintext
 * (@off, @len in pg), which may continue a message from earlier records.
 * Returns true if a KeyUpdate (RFC 8446 4.6.3) ended in it: the records
 * after it use the peer's next key. A message never spans a key change
 * (RFC 8446 5.1), so one ending here means the next record is new-keyed.
 */
static bool rx_handshake(struct kto_rx *rx, u32 off, u32 len)
{
	bool key_update = false;

	while (len) {
		u32 n;

		if (rx->hs_left) {
			n = min(len, rx->hs_left);
			rx->hs_left -= n;
			if (!rx->hs_left && rx->hs_key_update)
				key_update = true;
		} else {
			n = min_t(u32, len, sizeof(rx->hs_hdr) - rx->hs_hdr_len);
			kto_pages_read(&rx->pg, off, rx->hs_hdr + rx->hs_hdr_len, n);
			rx->hs_hdr_len += n;
			if (rx->hs_hdr_len == sizeof(rx->hs_hdr)) {
				rx->hs_hdr_len = 0;
				rx->hs_key_update = rx->hs_hdr[0] == KTO_HS_KEY_UPDATE;
				rx->hs_left = get_unaligned_be24(rx->hs_hdr + 1);
				if (!rx->hs_left && rx->hs_key_update)
					key_update = true;
			}
		}
		off += n;
		len -= n;
	}
	return key_update;
}

/* A record that is not handshake: no handshake message continues past it. */
static void rx_handshake_reset(struct kto_rx *rx)
{
	rx->hs_left = 0;
	rx->hs_hdr_len = 0;
	rx->hs_key_update = false;
}

/* The record in pg failed to open: every later read reports it. */
static int rx_open_failed(struct sock *sk, struct kto_rx *rx, int err)
{
	rx->err = err == -EKEYEXPIRED ? err : -EBADMSG;
	kto_stats_add(sk, KTO_STAT_DECRYPT_ERROR, 1);
	WRITE_ONCE(sk->sk_err, -rx->err);
	sk_error_report(sk);
	return rx->err;
}

/* An opened record: count it, and watch TLS 1.3 handshakes for KeyUpdate. */
static void rx_opened(struct sock *sk, struct kto_rx *rx,
		      const struct kto_opened *o)
{
	kto_stats_add(sk, KTO_STAT_RX_RECORDS, 1);
	if (rx->c.version != TLS_1_3_VERSION)
		return;
	if (o->type != KTO_TYPE_HANDSHAKE) {
		rx_handshake_reset(rx);
		return;
	}
	/*
	 * Records after a KeyUpdate use the peer's next key, which userspace
	 * derives and installs: decrypt nothing more until then.
	 */
	if (rx_handshake(rx, o->off, o->len)) {
		rx->key_update = true;
		rx_handshake_reset(rx);
		kto_stats_add(sk, KTO_STAT_RX_REKEY_RECEIVED, 1);
	}
}

/* Open the whole record in pg in place. */
static int rx_decrypt(struct sock *sk, struct kto_rx *rx)
{
	struct kto_opened o;
	int err;

	/* Out of memory leaves the record as it was, for another try. */
	err = kto_crypto_prepare(&rx->c);
	if (err)
		return err;
	err = kto_crypto_open(&rx->c, &rx->pg, rx->need, NULL, 0, &o);
	if (err)
		return rx_open_failed(sk, rx, err);
	rx_opened(sk, rx, &o);
	rx->decrypted = true;
	rx->type = o.type;
	rx->plain_off = o.off;
	rx->plain_len = o.len;
	return 0;
}

/* The record in pg is consumed: an idle socket keeps no pages. */
static void rx_buf_done(struct sock *sk, struct kto_rx *rx)
{
	rx->decrypted = false;
	rx->have = 0;
	rx->need = 0;
	kto_pages_recycle(sk, &rx->pg, KTO_RX, 0);
}

static void rx_free_rec(struct sock *sk, struct kto_rx *rx, struct kto_rec *r)
{
	u32 size = struct_size(r, data, r->len);

	list_del(&r->list);
	kto_mem_uncharge(sk, KTO_RX, size);
	rx->peeked_bytes -= size;
	kfree_sensitive(r);
	kto_stats_live_add(KTO_LIVE_PEEKED, -1);
}

/*
 * MSG_PEEK wants past the record in pg: set it aside so pg can take the
 * next one. What a peek holds this way is charged to the socket and
 * bounded by its receive buffer (-ENOBUFS past that: the peek returns
 * what it has); an empty data record is only dropped, since it shows a
 * reader nothing, and keeping each would let a peer make a peek hold any
 * number of them.
 */
static int rx_stash(struct sock *sk, struct kto_rx *rx)
{
	struct kto_rec *r;
	u32 size = struct_size(r, data, rx->plain_len);

	if (!rx->plain_len && rx->type == KTO_TYPE_DATA) {
		rx_buf_done(sk, rx);
		return 0;
	}
	if (rx->peeked_bytes + size > READ_ONCE(sk->sk_rcvbuf))
		return -ENOBUFS;
	if (kto_mem_charge(sk, KTO_RX, size))
		return -ENOBUFS;
	r = kmalloc(size, GFP_KERNEL);
	if (!r) {
		kto_mem_uncharge(sk, KTO_RX, size);
		return -ENOMEM;
	}
	rx->peeked_bytes += size;
	kto_stats_live_add(KTO_LIVE_PEEKED, 1);
	r->len = rx->plain_len;
	r->off = 0;
	r->type = rx->type;
	kto_pages_read(&rx->pg, rx->plain_off, r->data, rx->plain_len);
	list_add_tail(&r->list, &rx->peeked);
	rx_buf_done(sk, rx);
	return 0;
}

static void rx_free_peeked(struct sock *sk, struct kto_rx *rx)
{
	struct kto_rec *r, *tmp;

	list_for_each_entry_safe(r, tmp, &rx->peeked, list)
		rx_free_rec(sk, rx, r);
}

/*
 * What ends rx_wait's sleep, read without the socket lock (rx_wait looks
 * again under it): a whole record in pg, pages wanted, an error or the
 * end. Not rx->ready: records a peek has set aside keep that set, and a
 * peek that has seen them waits past them for the next record; waking on
 * it, such a peek spun in rx_wait without ever sleeping or timing out.
 */
static bool rx_wait_over(const struct sock *sk, const struct kto_rx *rx)
{
	u32 need = READ_ONCE(rx->need);

	return (need && READ_ONCE(rx->have) == need) ||
	       READ_ONCE(rx->need_alloc) || READ_ONCE(sk->sk_err) ||
	       (READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN);
}

/*
 * Wait until a whole record is in pg. Returns 1 when there is one, 0 at
 * end of stream, -errno otherwise.
 */
static int rx_wait(struct sock *sk, struct kto_rx *rx, long *timeo,
		   bool has_copied)
{
	DEFINE_WAIT_FUNC(wait, woken_wake_function);

	for (;;) {
		/* Set by a reader only, under rx->lock: checked once a turn. */
		if (rx->err)
			return rx->err;
		if (rx->key_update)
			return -EKEYEXPIRED;
		rx_fill_wake(sk, rx, sk->sk_allocation);
		if (rx_buf_full(rx))
			return 1;
		if (rx->need_alloc)
			return -ENOMEM;
		if (sk->sk_err)
			return has_copied ? -sk->sk_err : sock_error(sk);
		if (sk->sk_shutdown & RCV_SHUTDOWN)
			return 0;
		if (sock_flag(sk, SOCK_DONE))
			return 0;
		if (!*timeo)
			return -EAGAIN;
		if (signal_pending(current))
			return sock_intr_errno(*timeo);

		add_wait_queue(sk_sleep(sk), &wait);
		sk_set_bit(SOCKWQ_ASYNC_WAITDATA, sk);
		sk_wait_event(sk, timeo, rx_wait_over(sk, rx), &wait);
		sk_clear_bit(SOCKWQ_ASYNC_WAITDATA, sk);
		remove_wait_queue(sk_sleep(sk), &wait);
	}
}

static size_t copy_out(const struct kto_pages *pg, u32 off, size_t len,
		       struct iov_iter *to)
{
	size_t done = 0;

	while (done < len) {
		size_t chunk = min_t(size_t, len - done, kto_pages_run(pg, off));
		size_t got = copy_to_iter(kto_pages_ptr(pg, off), chunk, to);

		done += got;
		off += got;
		if (got != chunk)
			break;
	}
	return done;
}

/* State of one reader call (rx_recv()). */
struct rx_call {
	struct msghdr *msg;
	size_t len;		/* what the reader asked for */
	int target;		/* SO_RCVLOWAT / MSG_WAITALL */
	long timeo;
	bool peek;
	struct kto_rec *pos;	/* peek: last peeked record read */
	bool buf_seen;		/* peek: pg's record was read */
	size_t copied;
	u8 control;		/* the content type of this call's records */
};

/*
 * Can the whole record in pg, not yet opened, go straight into the
 * reader's pages? A data record whose content fits in what the reader
 * still wants: always known for TLS 1.2 from the header; for TLS 1.3 only
 * when the peer promised no padding (TLS_RX_EXPECT_NO_PAD), since the
 * content type and the padding are inside the ciphertext.
 */
static bool rx_direct_ok(struct sock *sk, const struct kto_rx *rx,
			 const struct rx_call *call)
{
	u32 data;

	if (call->peek || !user_backed_iter(&call->msg->msg_iter) ||
	    (call->control && call->control != KTO_TYPE_DATA))
		return false;
	if (rx->c.version == TLS_1_3_VERSION && !kto_ctx_get(sk)->rx_no_pad)
		return false;
	if (*kto_pages_ptr(&rx->pg, 0) != KTO_TYPE_DATA)
		return false;
	data = kto_crypto_data_len(&rx->c, rx->need);
	return data && data <= call->len - call->copied;
}

/* Wipe what an open into the reader's pages left there. */
static void rx_wipe(struct bio_vec *bv, int n)
{
	int i;

	for (i = 0; i < n; i++)
		memzero_page(bv[i].bv_page, bv[i].bv_offset, bv[i].bv_len);
}

/*
 * Open the whole record in pg into the reader's buffer. Returns the bytes
 * delivered; -EAGAIN if that cannot be (the buffer could not be mapped,
 * or a TLS 1.3 record turned out padded or not data: a decrypt retry):
 * nothing consumed, open it in place instead; or -errno.
 */
static int rx_decrypt_direct(struct sock *sk, struct kto_rx *rx,
			     struct msghdr *msg)
{
	u32 data = kto_crypto_data_len(&rx->c, rx->need);
	struct bio_vec dst[KTO_REC_PAGES];
	struct kto_opened o;
	int n, err;

	err = kto_crypto_prepare(&rx->c);
	if (err)
		return err;
	n = kto_pages_get_iter(&msg->msg_iter, data, dst);
	if (n < 0)
		return n;
	err = kto_crypto_open(&rx->c, &rx->pg, rx->need, dst, n, &o);
	/* Leave no unauthenticated or undelivered byte in the reader's buffer. */
	if (err)
		rx_wipe(dst, n);
	kto_pages_put_iter(dst, n, true);
	if (err) {
		iov_iter_revert(&msg->msg_iter, data);
		if (err != KTO_OPEN_RETRY)
			return rx_open_failed(sk, rx, err);
		if (!rx->c.inner_type)
			kto_stats_add(sk, KTO_STAT_RX_NO_PAD_VIOLATION, 1);
		kto_stats_add(sk, KTO_STAT_DECRYPT_RETRY, 1);
		return -EAGAIN;
	}
	rx_opened(sk, rx, &o);
	rx_buf_done(sk, rx);
	return o.len;
}

/*
 * Step 1 of a read: the next plaintext for the reader, from a record set
 * aside by MSG_PEEK or the opened record in pg. Returns that record in
 * *r (NULL for pg's), or false if the next record is still to be got.
 */
static bool rx_next(struct kto_rx *rx, struct rx_call *call,
		    struct kto_rec **r)
{
	*r = NULL;
	if (!call->peek)
		*r = list_first_entry_or_null(&rx->peeked, struct kto_rec, list);
	else if (!call->buf_seen)
		*r = call->pos ? (list_is_last(&call->pos->list, &rx->peeked) ?
				  NULL : list_next_entry(call->pos, list)) :
			list_first_entry_or_null(&rx->peeked, struct kto_rec,
						 list);
	return *r || (rx->decrypted && !call->buf_seen);
}

/*
 * Step 2: get the next record into pg and open it (straight into the
 * reader's buffer if it can go there: then delivered already). Returns 1
 * to go on, 0 to end the call, -errno to end it with that error.
 */
static int rx_get_record(struct sock *sk, struct kto_rx *rx,
			 struct rx_call *call)
{
	int err, got;

	/* Go on past the target only while records are waiting. */
	rx_fill_wake(sk, rx, sk->sk_allocation);
	if (call->copied >= call->target && !rx_buf_full(rx))
		return 0;
	if (call->peek && rx->decrypted) {
		err = rx_stash(sk, rx);
		if (err)
			return call->copied ? 0 : err;
		call->pos = list_empty(&rx->peeked) ? NULL :
			list_last_entry(&rx->peeked, struct kto_rec, list);
		call->buf_seen = false;
		return 1;
	}
	err = rx_wait(sk, rx, &call->timeo, call->copied);
	if (err <= 0)
		return err;
	if (rx_direct_ok(sk, rx, call)) {
		got = rx_decrypt_direct(sk, rx, call->msg);
		if (got > 0) {
			if (!call->control) {
				call->control = KTO_TYPE_DATA;
				put_cmsg(call->msg, SOL_TLS, TLS_GET_RECORD_TYPE,
					 sizeof(call->control), &call->control);
			}
			call->copied += got;
			call->msg->msg_flags |= MSG_EOR;
			return 1;
		}
		if (got != -EAGAIN)
			return got;
	}
	err = rx_decrypt(sk, rx);
	return err ? err : 1;
}

/*
 * Step 3: hand the reader plaintext of one record (@r, or pg's), as much
 * as it wants, with the record's type in a control message. Returns 1 to
 * go on with the next record, 0 to end the call, -errno.
 */
static int rx_deliver(struct sock *sk, struct kto_rx *rx,
		      struct rx_call *call, struct kto_rec *r)
{
	struct msghdr *msg = call->msg;
	u8 type = r ? r->type : rx->type;
	u32 avail = r ? r->len - r->off : rx->plain_len;
	u32 n;

	if (!call->control) {
		int cerr;

		call->control = type;
		if (!type)
			return -EBADMSG;
		cerr = put_cmsg(msg, SOL_TLS, TLS_GET_RECORD_TYPE,
				sizeof(call->control), &call->control);
		if (type != KTO_TYPE_DATA &&
		    (cerr || (msg->msg_flags & MSG_CTRUNC)))
			return -EIO;
	} else if (type != call->control) {
		return 0;
	}

	n = min_t(size_t, avail, call->len - call->copied);
	if ((r ? copy_to_iter(r->data + r->off, n, &msg->msg_iter) :
	     copy_out(&rx->pg, rx->plain_off, n, &msg->msg_iter)) != n)
		return -EFAULT;
	call->copied += n;

	if (call->peek) {
		if (r)
			call->pos = r;
		else
			call->buf_seen = true;
	} else if (r) {
		r->off += n;
		if (r->off == r->len)
			rx_free_rec(sk, rx, r);
	} else {
		rx->plain_off += n;
		rx->plain_len -= n;
		if (!rx->plain_len)
			rx_buf_done(sk, rx);
	}
	if (n == avail)
		msg->msg_flags |= MSG_EOR;
	/* A control record goes to the caller on its own. */
	return type == KTO_TYPE_DATA ? 1 : 0;
}

/* A read: rx->lock and the socket lock held. */
static int rx_recv(struct sock *sk, struct kto_rx *rx, struct rx_call *call)
{
	struct kto_rec *r;
	int ret = 1;

	lockdep_assert_held(&rx->lock);
	sock_owned_by_me(sk);
	while (ret > 0 && call->copied < call->len) {
		if (rx_next(rx, call, &r))
			ret = rx_deliver(sk, rx, call, r);
		else
			ret = rx_get_record(sk, rx, call);
	}
	rx_fill_wake(sk, rx, sk->sk_allocation);
	return call->copied ? call->copied : min(ret, 0);
}

static int kto_recvmsg(struct sock *sk, struct msghdr *msg, size_t len,
		       int flags, int *addr_len)
{
	struct kto_rx *rx = kto_ctx_get(sk)->rx;
	struct rx_call call = {
		.msg = msg,
		.len = len,
		.timeo = sock_rcvtimeo(sk, flags & MSG_DONTWAIT),
		.target = sock_rcvlowat(sk, flags & MSG_WAITALL, len),
		.peek = flags & MSG_PEEK,
	};
	int ret;

	if (unlikely(flags & MSG_ERRQUEUE))
		return sock_recv_errqueue(sk, msg, len, SOL_IP, IP_RECVERR);
	if (flags & MSG_OOB)
		return -EINVAL;

	/* A second reader waits as for data: within the same timeout. */
	ret = kto_lock(&rx->lock, &call.timeo);
	if (ret)
		return ret;
	lock_sock(sk);
	ret = rx_recv(sk, rx, &call);
	/* A reader turned away meanwhile hears about what is left. */
	if (kto_unlock(&rx->lock) && READ_ONCE(rx->ready))
		kto_ctx_get(sk)->sk_data_ready(sk);
	release_sock(sk);
	return ret;
}

/*
 * splice from the socket goes through recvmsg; a record that is not data
 * cannot be spliced (there is no way to tell its type) and stays queued.
 */
static ssize_t kto_splice_read(struct socket *sock, loff_t *ppos,
			       struct pipe_inode_info *pipe, size_t len,
			       unsigned int flags)
{
	ssize_t ret = kto_copy_splice_read(sock->file, ppos, pipe, len, flags);

	return ret == -EIO ? -EINVAL : ret;
}

static __poll_t kto_poll(struct file *file, struct socket *sock,
			 struct poll_table_struct *wait)
{
	struct sock *sk = sock->sk;
	struct kto_ctx *ctx = kto_ctx_get(sk);
	__poll_t mask = ctx->sk_ops->poll(file, sock, wait);

	/*
	 * Readable only when a whole record (or an error, or EOF) is there,
	 * or when the softirq could not get pages and a reader must.
	 */
	if (!READ_ONCE(ctx->rx->ready) && !READ_ONCE(ctx->rx->need_alloc) &&
	    !(READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN) &&
	    !READ_ONCE(sk->sk_err))
		mask &= ~(EPOLLIN | EPOLLRDNORM);
	return mask;
}

static bool kto_sock_is_readable(struct sock *sk)
{
	struct kto_ctx *ctx = kto_ctx_get(sk);

	return ctx && ctx->rx && READ_ONCE(ctx->rx->ready);
}

static int kto_read_sock(struct sock *sk, read_descriptor_t *desc,
			 sk_read_actor_t recv_actor)
{
	pr_warn_ratelimited("read_sock on a socket with TLS_RX is not supported\n");
	return -EOPNOTSUPP;
}

/* TLS 1.3 KeyUpdate on RX: the peer's next key. Socket locked. */
int kto_rx_rekey(struct sock *sk, struct kto_ctx *ctx,
		 const union kto_crypto_info *info)
{
	struct kto_rx *rx = ctx->rx;
	int err;

	sock_owned_by_me(sk);
	err = kto_crypto_rekey(&rx->c, info);
	if (err)
		return err;
	rx->key_update = false;
	/* Records that waited for this key can be read now. */
	if (rx_fill_wake(sk, rx, sk->sk_allocation))
		ctx->sk_data_ready(sk);
	return 0;
}

int kto_rx_setsockopt_no_pad(struct sock *sk, struct kto_ctx *ctx,
			     sockptr_t optval, unsigned int optlen)
{
	u32 val;

	if (ctx->rx_conf != KTO_CONF_SW ||
	    ctx->rx->c.version != TLS_1_3_VERSION ||
	    sockptr_is_null(optval) || optlen < sizeof(val))
		return -EINVAL;
	if (copy_from_sockptr(&val, optval, sizeof(val)))
		return -EFAULT;
	if (val > 1)
		return -EINVAL;
	ctx->rx_no_pad = val;
	return 0;
}

/* Socket locked. On error nothing is left allocated or installed. */
int kto_rx_init(struct sock *sk, struct kto_ctx *ctx,
		const union kto_crypto_info *info)
{
	struct kto_rx *rx;
	int err;

	rx = kzalloc(sizeof(*rx), GFP_KERNEL);
	if (!rx)
		return -ENOMEM;
	err = kto_crypto_init(&rx->c, info, false);
	if (err) {
		kfree_sensitive(rx);
		return err;
	}

	kto_lock_init(&rx->lock);
	INIT_LIST_HEAD(&rx->peeked);
	ctx->rx = rx;

	write_lock_bh(&sk->sk_callback_lock);
	sk->sk_data_ready = kto_data_ready;
	write_unlock_bh(&sk->sk_callback_lock);

	/* Records may already be waiting in TCP's queue. */
	if (rx_fill_wake(sk, rx, sk->sk_allocation))
		ctx->sk_data_ready(sk);
	return 0;
}

/* After the socket's callbacks were restored. Socket locked (uncharge). */
void kto_rx_uninit(struct sock *sk, struct kto_ctx *ctx)
{
	struct kto_rx *rx = ctx->rx;

	if (!rx)
		return;
	rx_free_peeked(sk, rx);
	kto_crypto_uninit(&rx->c);
	kto_pages_release_clear(sk, &rx->pg, KTO_RX);	/* may hold plaintext */
	kfree_sensitive(rx);
	ctx->rx = NULL;
}

void kto_rx_build_proto(struct proto *prot, struct proto_ops *ops)
{
	prot->recvmsg = kto_recvmsg;
	prot->sock_is_readable = kto_sock_is_readable;
	ops->poll = kto_poll;
	ops->splice_read = kto_splice_read;
	ops->read_sock = kto_read_sock;
}
