// SPDX-License-Identifier: GPL-2.0
/*
 * Transmit: sendmsg, sendpage (6.1) and spliced pages (6.12), record
 * building, sealing, and pushing records into TCP; shutdown and close.
 *
 * Locking (Documentation/design.rst, "Locking"): tx->lock, taken before
 * the socket lock, is held to build or seal a record and to change the
 * key or the record size limit. It is never held while waiting for TCP:
 * a writer that waits for room drops both locks, so a second writer, a
 * rekey or a shutdown never waits behind a peer that does not read. The
 * closed record being pushed needs only the socket lock (the write-space
 * work pushes it so). tx->writers counts the send calls in progress; a
 * rekey or a new record size limit is refused with EBUSY while any is,
 * so all of one call is sealed with one key, under one limit.
 */
#include <linux/module.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <net/tcp.h>

#include "ktls.h"

static u32 prepend(const struct kto_tx *tx)
{
	return KTO_HDR_LEN + tx->c.explicit_len;
}

#ifdef KTO_HAVE_SENDPAGE
/* Hand [off, off + len) of the record's pages to TCP; it takes references. */
static int push_pages(struct sock *sk, struct kto_pages *pg, u32 off, u32 len,
		      int flags)
{
	int done = 0;

	while (len) {
		u32 chunk = min(len, kto_pages_run(pg, off));
		int f = flags | (chunk < len ? MSG_SENDPAGE_NOTLAST | MSG_MORE : 0);
		struct page *p;
		u32 poff;
		int n;

		p = kto_pages_at(pg, off, &poff);
		n = do_tcp_sendpages(sk, p, poff, chunk, f);
		if (n <= 0)
			return done ? done : n;
		done += n;
		if (n < chunk)
			break;
		off += n;
		len -= n;
	}
	return done;
}
#else
/* Hand [off, off + len) of the record's pages to TCP; it takes references. */
static int push_pages(struct sock *sk, struct kto_pages *pg, u32 off, u32 len,
		      int flags)
{
	struct bio_vec bv[KTO_REC_PAGES];
	struct msghdr m = { .msg_flags = flags | MSG_SPLICE_PAGES };
	u32 total = len;
	int n = 0;

	while (len) {
		u32 chunk = min(len, kto_pages_run(pg, off));

		bv[n].bv_page = kto_pages_at(pg, off, &bv[n].bv_offset);
		bv[n].bv_len = chunk;
		n++;
		off += chunk;
		len -= chunk;
	}
	iov_iter_bvec(&m.msg_iter, ITER_SOURCE, bv, n, total);
	return tcp_sendmsg_locked(sk, &m, total);
}
#endif

/*
 * Give the rest of the closed record to TCP, without waiting. Returns 0
 * once all of it is queued in TCP, or -errno (-EAGAIN: no room now).
 * TCP holds its own page references, so ours go when the record is out.
 */
static int tx_push(struct sock *sk, struct kto_tx *tx, int flags)
{
	sock_owned_by_me(sk);
	flags = (flags & (MSG_NOSIGNAL | MSG_MORE)) | MSG_DONTWAIT;
	while (tx->push_off < tx->rec_len) {
		int n = push_pages(sk, &tx->pg, tx->push_off,
				   tx->rec_len - tx->push_off, flags);

		if (n < 0)
			return n;
		if (!n)
			return -EAGAIN;
		tx->push_off += n;
	}
	if (tx->rec_len)
		kto_pages_recycle(sk, &tx->pg, KTO_TX, tx->rec_len);
	tx->rec_len = 0;
	tx->push_off = 0;
	return 0;
}

/*
 * Drop the TX lock. A non-blocking writer turned away from it meanwhile
 * hears about it as write space (so edge-triggered epoll works).
 */
static void tx_drop_lock(struct sock *sk, struct kto_tx *tx)
{
	if (kto_unlock(&tx->lock))
		kto_ctx_get(sk)->sk_write_space(sk);
}

/*
 * Wait for TCP to make room, with neither lock held: other writers, a
 * rekey or shutdown may run meanwhile. Called and returns with both
 * locks held; 0 or -errno (-EAGAIN when *timeo ran out, -EPIPE, ...).
 */
static int tx_wait_room(struct sock *sk, struct kto_tx *tx, long *timeo)
{
	int err;

	tx_drop_lock(sk, tx);
	err = sk_stream_wait_memory(sk, timeo);
	release_sock(sk);
	/* Never held across waits, so this is never long. */
	kto_lock_nofail(&tx->lock);
	lock_sock(sk);
	return err;
}

/* Seal the open record in place; the caller pushes it. */
static int tx_close_record(struct sock *sk, struct kto_tx *tx)
{
	int len;

	lockdep_assert_held(&tx->lock);
	len = kto_crypto_seal(&tx->c, &tx->pg, tx->plain_len, tx->open_type,
			      NULL, 0);
	if (len < 0) {
		/* The buffer may be half-encrypted: nothing sane to send. */
		tx->err = len;
		return len;
	}
	tx->rec_len = len;
	tx->push_off = 0;
	tx->plain_len = 0;
	kto_stats_add(sk, KTO_STAT_TX_RECORDS, 1);
	return 0;
}

static int tx_close_and_push(struct sock *sk, struct kto_tx *tx, int flags)
{
	int err = 0;

	if (tx->plain_len)
		err = kto_crypto_prepare(&tx->c) ?: tx_close_record(sk, tx);
	if (!err)
		err = tx_push(sk, tx, flags);
	return err;
}

/* Copy up to @len bytes from @from to offset @off of the record. */
static size_t copy_in(struct kto_pages *pg, u32 off, size_t len,
		      struct iov_iter *from)
{
	size_t done = 0;

	while (done < len) {
		size_t chunk = min_t(size_t, len - done, kto_pages_run(pg, off));
		u32 poff;
		struct page *p = kto_pages_at(pg, off, &poff);
		size_t got = copy_page_from_iter(p, poff, chunk, from);

		done += got;
		off += got;
		if (got != chunk)
			break;
	}
	return done;
}

/*
 * A whole record's plaintext, all of it in the caller's buffer (user
 * memory, or the page cache pages sendfile splices): seal it straight
 * from there into the record's pages, saving the copy, as the in-tree
 * kTLS does. Returns 0 with the record closed, -EAGAIN if the buffer
 * could not be mapped in one go (nothing taken: copy instead), or -errno
 * with the bytes taken and lost.
 */
static int tx_seal_from(struct sock *sk, struct kto_tx *tx,
			struct iov_iter *from, u32 n)
{
	struct bio_vec src[KTO_REC_PAGES];
	int nsrc, len;

	nsrc = kto_pages_get_iter(from, n, src);
	if (nsrc < 0)
		return nsrc;
	len = kto_crypto_seal(&tx->c, &tx->pg, n, tx->open_type, src, nsrc);
	kto_pages_put_iter(src, nsrc, false);
	if (len < 0) {
		tx->err = len;
		return len;
	}
	tx->rec_len = len;
	tx->push_off = 0;
	kto_stats_add(sk, KTO_STAT_TX_RECORDS, 1);
	return 0;
}

/* Can this chunk of @n bytes become a record sealed from the caller's pages? */
static bool tx_whole_record(const struct kto_tx *tx, struct iov_iter *from,
			    size_t n, u32 max, bool more)
{
	return !tx->plain_len && n >= PAGE_SIZE &&
	       (n == max || (n == iov_iter_count(from) && !more)) &&
	       (user_backed_iter(from) || iov_iter_is_bvec(from)) &&
	       kto_crypto_can_seal_from(&tx->c);
}

/* State of one tx_send() call. */
struct tx_call {
	struct iov_iter *from;
	long timeo;
	u8 type;
	bool more;		/* MSG_MORE: leave the last record open */
	int flags;		/* MSG_NOSIGNAL, MSG_DONTWAIT */
	size_t copied;		/* bytes taken */
	size_t rec_copied;	/* of them, in the open record */
};

/* MSG_MORE for TCP while more records of this call (or a later one) follow. */
static int tx_more(const struct tx_call *call)
{
	return call->flags |
	       (iov_iter_count(call->from) || call->more ? MSG_MORE : 0);
}

/*
 * Step 1 of a record: make room for it. Push the closed record waiting
 * for TCP, and close an open record of another content type (a record
 * holds one type). 0 when the open record (if any) can take bytes of
 * this call, else -errno; -EAGAIN with call->timeo left means "wait".
 */
static int tx_make_room(struct sock *sk, struct kto_tx *tx,
			struct tx_call *call)
{
	int err;

	if (tx->err)
		return tx->err;
	/* As TCP: nothing is taken once the socket cannot send it. */
	if (sk->sk_err || (sk->sk_shutdown & SEND_SHUTDOWN))
		return -EPIPE;
	if (tx->rec_len) {
		err = tx_push(sk, tx, tx_more(call));
		if (err)
			return err;
	}
	if (tx->plain_len && tx->open_type != call->type) {
		err = tx_close_record(sk, tx) ?: tx_push(sk, tx, tx_more(call));
		if (err)
			return err;
	}
	if (!tx->plain_len) {
		/* Take no byte that could never be sent. */
		if (tx->c.exhausted)
			return -EKEYEXPIRED;
		tx->open_type = call->type;
		call->rec_copied = 0;
	}
	return 0;
}

/*
 * Step 2: take up to a record's worth of the caller's bytes, and close
 * and push the record if it is full or the call ends it. Returns 0 or
 * -errno (as tx_make_room()).
 */
static int tx_fill_record(struct sock *sk, struct kto_tx *tx,
			  struct tx_call *call)
{
	u32 max = kto_ctx_get(sk)->tx_max_payload;
	struct iov_iter *from = call->from;
	size_t n, got;
	int err;

	/* The limit may have been lowered under an open record. */
	if (tx->plain_len >= max)
		goto close;
	n = min_t(size_t, iov_iter_count(from), max - tx->plain_len);
	/* Pages for the new bytes and the record's tail. */
	err = kto_pages_ensure(sk, &tx->pg, prepend(tx) + tx->plain_len + n +
			       tx->c.tail_len, KTO_TX, sk->sk_allocation);
	if (err)
		return err == -ENOBUFS ? -EAGAIN : err;

	if (tx_whole_record(tx, from, n, max, call->more)) {
		err = tx_seal_from(sk, tx, from, n);
		if (!err) {
			call->copied += n;
			return tx_push(sk, tx, tx_more(call));
		}
		if (err != -EAGAIN)
			return err;
	}
	got = copy_in(&tx->pg, prepend(tx) + tx->plain_len, n, from);
	tx->plain_len += got;
	call->copied += got;
	call->rec_copied += got;
	if (got != n)
		return -EFAULT;
	if (tx->plain_len < max && (iov_iter_count(from) || call->more))
		return 0;
close:
	err = tx_close_record(sk, tx);
	if (err) {
		/* This call's part of the lost record was not sent. */
		call->copied -= call->rec_copied;
		return err;
	}
	return tx_push(sk, tx, tx_more(call));
}

/*
 * Append @from to the record stream as records of @type: make room, fill
 * a record, seal and push it, and again until @from is empty. Waits for
 * room (dropping both locks) unless non-blocking. MSG_MORE keeps the last
 * record open. Returns the bytes taken, or -errno if none were.
 */
static int tx_send(struct sock *sk, struct kto_tx *tx, struct iov_iter *from,
		   u8 type, int flags)
{
	struct tx_call call = {
		.from = from,
		.timeo = sock_sndtimeo(sk, flags & MSG_DONTWAIT),
		.type = type,
		.more = flags & (MSG_MORE | MSG_SENDPAGE_NOTLAST),
		.flags = flags & MSG_NOSIGNAL,
	};
	int err;

	err = kto_crypto_prepare(&tx->c);
	if (err)
		return err;
	tx->writers++;
	while (!err && iov_iter_count(from)) {
		err = tx_make_room(sk, tx, &call) ?:
		      tx_fill_record(sk, tx, &call);
		/*
		 * All taken and sealed, only the push is short: the write-space
		 * work sends the rest, as TCP sends what it queued.
		 */
		if (err == -EAGAIN && !iov_iter_count(from) && tx->rec_len &&
		    !tx->plain_len)
			err = 0;
		if (err == -EAGAIN && call.timeo) {
			err = tx_wait_room(sk, tx, &call.timeo);
			/* The key may have changed meanwhile. */
			if (!err)
				err = kto_crypto_prepare(&tx->c);
			call.rec_copied = 0;
		}
	}
	/* An empty write without MSG_MORE still ends the open record. */
	if (!err && !call.more && tx->plain_len) {
		err = tx_close_and_push(sk, tx, call.flags);
		if (err == -EAGAIN)
			err = 0;
	}
	tx->writers--;

	if (call.copied)
		return call.copied;
	return err == -EPIPE ? sk_stream_error(sk, flags, err) : err;
}

static int parse_cmsg(struct msghdr *msg, u8 *type)
{
	struct cmsghdr *cmsg;
	int err = -EINVAL;

	for_each_cmsghdr(cmsg, msg) {
		if (!CMSG_OK(msg, cmsg))
			return -EINVAL;
		if (cmsg->cmsg_level != SOL_TLS)
			continue;
		if (cmsg->cmsg_type != TLS_SET_RECORD_TYPE ||
		    cmsg->cmsg_len < CMSG_LEN(sizeof(*type)))
			return -EINVAL;
		/* A record of another type cannot be left open. */
		if (msg->msg_flags & MSG_MORE)
			return -EINVAL;
		*type = *(u8 *)CMSG_DATA(cmsg);
		err = 0;
	}
	return err;
}

/* Take the TX lock as a send would: EAGAIN at once, or within SO_SNDTIMEO. */
static int tx_lock(struct sock *sk, struct kto_tx *tx, int flags)
{
	long timeo = sock_sndtimeo(sk, flags & MSG_DONTWAIT);

	return kto_lock(&tx->lock, &timeo);
}

static void tx_unlock(struct sock *sk, struct kto_tx *tx)
{
	tx_drop_lock(sk, tx);
	release_sock(sk);
}

static int kto_sendmsg(struct sock *sk, struct msghdr *msg, size_t size)
{
	struct kto_tx *tx = kto_ctx_get(sk)->tx;
	int flags = msg->msg_flags;
	u8 type = KTO_TYPE_DATA;
	int ret;

	if (flags & ~(MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL | MSG_CMSG_COMPAT |
		      MSG_SPLICE_PAGES | MSG_EOR | MSG_SENDPAGE_NOPOLICY))
		return -EOPNOTSUPP;
	if ((flags & MSG_MORE) && (flags & MSG_EOR))
		return -EINVAL;

	/* Bad arguments are refused before anything waits. */
	if (msg->msg_controllen) {
		ret = parse_cmsg(msg, &type);
		if (ret)
			return ret;
	}
	ret = tx_lock(sk, tx, flags);
	if (ret)
		return ret;
	lock_sock(sk);
	ret = tx_send(sk, tx, &msg->msg_iter, type, flags);
	tx_unlock(sk, tx);
	return ret;
}

#ifdef KTO_HAVE_SENDPAGE
static int kto_sendpage(struct sock *sk, struct page *page, int offset,
			size_t size, int flags)
{
	struct kto_tx *tx = kto_ctx_get(sk)->tx;
	struct bio_vec bv;
	struct iov_iter it;
	int ret;

	if (flags & ~(MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL |
		      MSG_SENDPAGE_NOTLAST | MSG_SENDPAGE_NOPOLICY))
		return -EOPNOTSUPP;

	bv.bv_page = page;
	bv.bv_offset = offset;
	bv.bv_len = size;
	iov_iter_bvec(&it, ITER_SOURCE, &bv, 1, size);

	ret = tx_lock(sk, tx, flags);
	if (ret)
		return ret;
	lock_sock(sk);
	ret = tx_send(sk, tx, &it, KTO_TYPE_DATA, flags);
	tx_unlock(sk, tx);
	return ret;
}
#endif

/* End of a splice or sendfile: the last record may have been left open. */
static void kto_splice_eof(struct socket *sock)
{
	struct sock *sk = sock->sk;
	struct kto_tx *tx = kto_ctx_get(sk)->tx;

	kto_lock_nofail(&tx->lock);
	lock_sock(sk);
	if (!tx->err && tx->plain_len)
		tx_close_and_push(sk, tx, MSG_NOSIGNAL);
	tx_unlock(sk, tx);
}

/*
 * The end of the stream, for shutdown and close: seal the open record and
 * hand everything to TCP now, without waiting for the peer, so it goes
 * out before the FIN, as TCP queues its own FIN behind queued data. TCP's
 * send buffer may be full: it is allowed to take this one last record
 * beyond its limit (at most a record's worth, once per socket). Both
 * locks held.
 */
static void tx_flush_final(struct sock *sk, struct kto_tx *tx)
{
	int sndbuf = READ_ONCE(sk->sk_sndbuf);
	int err = 0;

	lockdep_assert_held(&tx->lock);
	sock_owned_by_me(sk);
	if (tx->err || (!tx->plain_len && !tx->rec_len))
		return;
	if (sk->sk_state != TCP_ESTABLISHED && sk->sk_state != TCP_CLOSE_WAIT)
		return;
	if (tx->plain_len)
		err = kto_crypto_prepare(&tx->c) ?: tx_close_record(sk, tx);
	if (!err) {
		u32 left = tx->rec_len - tx->push_off;

		/* Room for the rest and the skbs that carry it. */
		WRITE_ONCE(sk->sk_sndbuf, max_t(int, sndbuf,
				READ_ONCE(sk->sk_wmem_queued) + 2 * left +
				4 * SKB_TRUESIZE(PAGE_SIZE)));
		err = tx_push(sk, tx, MSG_NOSIGNAL);
		WRITE_ONCE(sk->sk_sndbuf, sndbuf);
	}
	if (err) {
		/* TCP's memory is exhausted, or the socket failed. */
		kto_stats_add(sk, KTO_STAT_TX_CLOSE_DROPPED, 1);
		tx->err = err;
	}
}

/*
 * shutdown(SHUT_WR or SHUT_RDWR): the open record and the rest of a
 * closed one go out before TCP's FIN, without waiting for the peer. This
 * must run before inet_shutdown(), which marks the socket shut for
 * sending before it calls into the protocol. A writer waiting for room
 * meanwhile wakes up with EPIPE; its records are queued already.
 */
static int kto_ops_shutdown(struct socket *sock, int how)
{
	struct sock *sk = sock->sk;
	struct kto_ctx *ctx = kto_ctx_get(sk);
	struct kto_tx *tx = ctx->tx;

	if (how == SHUT_WR || how == SHUT_RDWR) {
		kto_lock_nofail(&tx->lock);
		lock_sock(sk);
		tx_flush_final(sk, tx);
		tx_unlock(sk, tx);
	}
	return ctx->sk_ops->shutdown(sock, how);
}

/* Stop the write-space work for good. Process context, socket not locked. */
void kto_tx_stop_work(struct kto_ctx *ctx)
{
	set_bit(KTO_TX_CLOSING, &ctx->tx->flags);
	cancel_work_sync(&ctx->tx->work);
}

/*
 * Close, first step, without the socket lock: stop the write-space work
 * for good (it takes the socket lock) and take the TX lock (which nobody
 * else can want any more: no send can be in progress, the file is gone).
 */
void kto_tx_close_prepare(struct kto_ctx *ctx)
{
	kto_tx_stop_work(ctx);
	kto_lock_nofail(&ctx->tx->lock);
}

/*
 * Close, second step, socket locked: as shutdown, unless SO_LINGER with a
 * zero time asks TCP to reset the connection and drop what is queued.
 */
void kto_tx_close_flush(struct sock *sk, struct kto_ctx *ctx)
{
	struct kto_tx *tx = ctx->tx;

	if (!sock_flag(sk, SOCK_LINGER) || sk->sk_lingertime)
		tx_flush_final(sk, tx);
	kto_unlock(&tx->lock);
}

/* Push the rest of a record TCP had no room for, now that it has. */
static void tx_work(struct work_struct *work)
{
	struct kto_tx *tx = container_of(work, struct kto_tx, work);
	struct sock *sk = tx->sk;

	if (test_bit(KTO_TX_CLOSING, &tx->flags))
		return;
	clear_bit(KTO_TX_WORK_PENDING, &tx->flags);
	lock_sock(sk);
	if (tx->rec_len && !tx->err)
		tx_push(sk, tx, MSG_NOSIGNAL);
	release_sock(sk);
}

/* TCP made room (softirq or backlog, socket spinlock held). */
static void kto_write_space(struct sock *sk)
{
	struct kto_ctx *ctx = kto_ctx_get(sk);
	struct kto_tx *tx = ctx->tx;

	if (READ_ONCE(tx->rec_len) &&
	    !test_and_set_bit(KTO_TX_WORK_PENDING, &tx->flags))
		schedule_work(&tx->work);
	ctx->sk_write_space(sk);
}

/*
 * TLS 1.3 KeyUpdate on TX. Both locks held. Refused while a send is in
 * progress (a writer waiting for room), so one call's bytes never span
 * two keys. An open record is sealed with the old key first: everything
 * written before the new key uses the old one.
 */
int kto_tx_rekey(struct sock *sk, struct kto_ctx *ctx,
		 const union kto_crypto_info *info)
{
	struct kto_tx *tx = ctx->tx;
	int err;

	lockdep_assert_held(&tx->lock);
	sock_owned_by_me(sk);
	if (tx->writers)
		return -EBUSY;
	if (tx->plain_len && !tx->err && !tx->rec_len) {
		err = kto_crypto_prepare(&tx->c) ?: tx_close_record(sk, tx);
		if (err)
			return err;
		err = tx_push(sk, tx, MSG_NOSIGNAL);
		if (err && err != -EAGAIN)
			return err;
	}
	return kto_crypto_rekey(&tx->c, info);
}

int kto_tx_setsockopt_zc(struct kto_ctx *ctx, sockptr_t optval,
			 unsigned int optlen)
{
	unsigned int val;

	if (sockptr_is_null(optval) || optlen != sizeof(val))
		return -EINVAL;
	if (copy_from_sockptr(&val, optval, sizeof(val)))
		return -EFAULT;
	if (val > 1)
		return -EINVAL;
	/*
	 * A promise that the sender leaves its buffer alone: we do not need
	 * it (a buffer that changes while it is sealed still gives records
	 * that authenticate, see kto_crypto_can_seal_from()), so it is only
	 * reported.
	 */
	ctx->zc_ro = val;
	return 0;
}

/*
 * TLS_TX_MAX_PAYLOAD_LEN (RFC 8449 record_size_limit, minus the content
 * type byte in TLS 1.3). Socket locked, and the TX lock if TX has a key.
 * Not while a record is open or a send is in progress: their sizes were
 * decided under the old limit.
 */
int kto_tx_setsockopt_max_payload(struct sock *sk, struct kto_ctx *ctx,
				  sockptr_t optval, unsigned int optlen)
{
	unsigned int min = KTO_MIN_PAYLOAD_LIMIT;
	u16 val;

	sock_owned_by_me(sk);
	if (ctx->tx) {
		lockdep_assert_held(&ctx->tx->lock);
		if (ctx->tx->plain_len || ctx->tx->writers)
			return -EBUSY;
	}
	if (sockptr_is_null(optval) || optlen != sizeof(val))
		return -EINVAL;
	if (copy_from_sockptr(&val, optval, sizeof(val)))
		return -EFAULT;
	if (ctx->tx && ctx->tx->c.version == TLS_1_3_VERSION)
		min--;
	if (val < min || val > KTO_MAX_PLAIN)
		return -EINVAL;
	ctx->tx_max_payload = val;
	return 0;
}

/* Socket locked. On error nothing is left allocated or installed. */
int kto_tx_init(struct sock *sk, struct kto_ctx *ctx,
		const union kto_crypto_info *info)
{
	struct kto_tx *tx;
	int err;

	tx = kzalloc(sizeof(*tx), GFP_KERNEL);
	if (!tx)
		return -ENOMEM;
	err = kto_crypto_init(&tx->c, info, true);
	if (err) {
		kfree_sensitive(tx);
		return err;
	}

	tx->sk = sk;
	kto_lock_init(&tx->lock);
	INIT_WORK(&tx->work, tx_work);
	ctx->tx = tx;

	write_lock_bh(&sk->sk_callback_lock);
	sk->sk_write_space = kto_write_space;
	write_unlock_bh(&sk->sk_callback_lock);
	return 0;
}

/*
 * After the socket's callbacks were restored and the work stopped
 * (kto_tx_close_prepare()): free. Socket locked, for the uncharge.
 */
void kto_tx_uninit(struct sock *sk, struct kto_ctx *ctx)
{
	struct kto_tx *tx = ctx->tx;

	if (!tx)
		return;
	kto_crypto_uninit(&tx->c);
	/*
	 * A record partly given to TCP is ciphertext that TCP still sends;
	 * an open record that never went out holds plaintext: clear it.
	 */
	if (tx->rec_len)
		kto_pages_release(sk, &tx->pg, KTO_TX);
	else
		kto_pages_release_clear(sk, &tx->pg, KTO_TX);
	kfree_sensitive(tx);
	ctx->tx = NULL;
}

void kto_tx_build_proto(struct proto *prot, struct proto_ops *ops)
{
	prot->sendmsg = kto_sendmsg;
#ifdef KTO_HAVE_SENDPAGE
	prot->sendpage = kto_sendpage;
#endif
	prot->splice_eof = kto_splice_eof;
	ops->shutdown = kto_ops_shutdown;
}
