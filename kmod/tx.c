// SPDX-License-Identifier: GPL-2.0
/*
 * Transmit: sendmsg, sendpage (6.1) and spliced pages (6.12), record
 * building, sealing, and pushing records into TCP.
 *
 * Locking: tx->lock (a mutex) is taken before lock_sock() by every writer,
 * because pushing into TCP may sleep with the socket lock released, and
 * another writer must not touch the record buffer meanwhile.
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
 * Give the rest of the closed record to TCP. Returns 0 once all of it is
 * queued in TCP, or -errno (-EAGAIN when it would block). TCP holds its own
 * references on the pages, so ours go when the record is all out.
 */
static int tx_push(struct sock *sk, struct kto_tx *tx, int flags)
{
	flags &= MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE;
	while (tx->push_off < tx->rec_len) {
		int n = push_pages(sk, &tx->pg, tx->push_off,
				   tx->rec_len - tx->push_off, flags);

		if (n < 0)
			return n;
		if (!n)
			return -EAGAIN;
		tx->push_off += n;
	}
	kto_pages_recycle(&tx->pg, KTO_TX, tx->rec_len);
	tx->rec_len = 0;
	tx->push_off = 0;
	return 0;
}

/* Seal the open record; the caller pushes it. */
static int tx_close_record(struct sock *sk, struct kto_tx *tx)
{
	int len;

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
 * memory, or the page cache pages sendfile splices): encrypt it straight
 * from there into the record's pages, saving the copy, as the in-tree kTLS
 * does. Returns 0 with the record closed, -EAGAIN if the buffer could not
 * be mapped in one go (nothing taken: copy instead), or -errno with the
 * bytes taken and lost.
 */
static int tx_seal_from(struct sock *sk, struct kto_tx *tx,
			struct iov_iter *from, u32 n)
{
	struct scatterlist src[KTO_SG_MAX + 1];
	struct page *pages[KTO_REC_PAGES];
	int np, len;

	sg_init_table(src, KTO_SG_MAX + 1);
	np = kto_pages_get_iter(from, n, pages, &src[1]);
	if (np < 0)
		return np;
	len = kto_crypto_seal(&tx->c, &tx->pg, n, tx->open_type, src, np + 1);
	kto_pages_put_iter(pages, np, false);
	if (len < 0) {
		tx->err = len;
		return len;
	}
	tx->rec_len = len;
	tx->push_off = 0;
	kto_stats_add(sk, KTO_STAT_TX_RECORDS, 1);
	return 0;
}

static int tx_close_and_push(struct sock *sk, struct kto_tx *tx, int flags)
{
	int err = 0;

	if (tx->plain_len)
		err = tx_close_record(sk, tx);
	if (!err)
		err = tx_push(sk, tx, flags);
	return err;
}

/*
 * Append @from to the record stream as records of @type. @flags are the
 * caller's MSG_* flags; MSG_MORE keeps the last record open. Returns the
 * bytes taken, or -errno if none were.
 */
static int tx_send(struct sock *sk, struct kto_tx *tx, struct iov_iter *from,
		   u8 type, int flags)
{
	u32 max = kto_ctx_get(sk)->tx_max_payload;
	bool more = flags & (MSG_MORE | MSG_SENDPAGE_NOTLAST);
	int push_flags = flags & (MSG_DONTWAIT | MSG_NOSIGNAL);
	size_t copied = 0, rec_copied = 0;
	int err = 0;

	if (tx->err)
		return tx->err;
	/* As TCP: nothing is taken once the socket cannot send it. */
	if (sk->sk_err || (sk->sk_shutdown & SEND_SHUTDOWN))
		return sk_stream_error(sk, flags, -EPIPE);
	err = kto_crypto_prepare(&tx->c);
	if (err)
		return err;

	/* A record holds one content type. */
	if (tx->plain_len && tx->open_type != type) {
		err = tx_close_and_push(sk, tx, push_flags);
		if (err)
			goto out;
	}

	while (iov_iter_count(from)) {
		size_t n, got;

		if (tx->rec_len) {
			err = tx_push(sk, tx, push_flags | MSG_MORE);
			if (err)
				goto out;
		}
		if (!tx->plain_len) {
			/* Take no byte that could never be sent. */
			if (tx->c.exhausted) {
				err = -EKEYEXPIRED;
				goto out;
			}
			tx->open_type = type;
			rec_copied = 0;
		}

		n = min_t(size_t, iov_iter_count(from), max - tx->plain_len);
		/* Pages for the new bytes and the record's tail. */
		err = kto_pages_ensure(&tx->pg, prepend(tx) + tx->plain_len + n +
				       tx->c.tail_len, KTO_TX, sk->sk_allocation);
		if (err)
			goto out;
		/* A whole record in the caller's pages: seal from there. */
		if (!tx->plain_len && n >= PAGE_SIZE &&
		    (n == max || (n == iov_iter_count(from) && !more)) &&
		    (user_backed_iter(from) || iov_iter_is_bvec(from)) &&
		    kto_crypto_can_seal_from(&tx->c)) {
			err = tx_seal_from(sk, tx, from, n);
			if (!err) {
				copied += n;
				err = tx_push(sk, tx, push_flags |
					      (iov_iter_count(from) || more ?
					       MSG_MORE : 0));
				if (err)
					goto out;
				continue;
			}
			if (err != -EAGAIN)
				goto out;
		}
		got = copy_in(&tx->pg, prepend(tx) + tx->plain_len, n, from);
		tx->plain_len += got;
		copied += got;
		rec_copied += got;
		if (got != n) {
			err = -EFAULT;
			goto out;
		}

		if (tx->plain_len == max || (!iov_iter_count(from) && !more)) {
			err = tx_close_record(sk, tx);
			if (err) {
				/* This call's part of the lost record was not sent. */
				copied -= rec_copied;
				goto out;
			}
			err = tx_push(sk, tx, push_flags |
				      (iov_iter_count(from) || more ? MSG_MORE : 0));
			if (err)
				goto out;
		}
	}

	/* An empty write without MSG_MORE still ends the open record. */
	if (!more && tx->plain_len)
		err = tx_close_and_push(sk, tx, push_flags);
out:
	if (copied)
		return copied;
	return err;
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

	mutex_lock(&tx->lock);
	lock_sock(sk);
	if (msg->msg_controllen) {
		ret = parse_cmsg(msg, &type);
		if (ret)
			goto out;
	}
	ret = tx_send(sk, tx, &msg->msg_iter, type, flags);
out:
	release_sock(sk);
	mutex_unlock(&tx->lock);
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

	mutex_lock(&tx->lock);
	lock_sock(sk);
	ret = tx_send(sk, tx, &it, KTO_TYPE_DATA, flags);
	release_sock(sk);
	mutex_unlock(&tx->lock);
	return ret;
}
#endif

/* End of a splice or sendfile: the last record may have been left open. */
static void kto_splice_eof(struct socket *sock)
{
	struct sock *sk = sock->sk;
	struct kto_tx *tx = kto_ctx_get(sk)->tx;

	mutex_lock(&tx->lock);
	lock_sock(sk);
	if (!tx->err && tx->plain_len)
		tx_close_and_push(sk, tx, MSG_NOSIGNAL);
	release_sock(sk);
	mutex_unlock(&tx->lock);
}

/*
 * shutdown(SHUT_WR or SHUT_RDWR): send the open record before TCP's FIN.
 * This must run before inet_shutdown(), which marks the socket shut for
 * sending before it calls into the protocol. A writer blocked in TCP holds
 * the TX mutex: then its own data is what is in flight, and shutdown must
 * not wait for it (TCP's shutdown wakes it with EPIPE).
 */
static int kto_ops_shutdown(struct socket *sock, int how)
{
	struct sock *sk = sock->sk;
	struct kto_ctx *ctx = kto_ctx_get(sk);
	struct kto_tx *tx = ctx->tx;

	if ((how == SHUT_WR || how == SHUT_RDWR) && mutex_trylock(&tx->lock)) {
		lock_sock(sk);
		if (!tx->err && (sk->sk_state == TCP_ESTABLISHED ||
				 sk->sk_state == TCP_CLOSE_WAIT))
			tx_close_and_push(sk, tx, MSG_NOSIGNAL);
		release_sock(sk);
		mutex_unlock(&tx->lock);
	}
	return ctx->sk_ops->shutdown(sock, how);
}

/* Flush on close: the open record and any unsent part of the last one. */
void kto_tx_flush(struct sock *sk, struct kto_ctx *ctx, long timeo)
{
	struct kto_tx *tx = ctx->tx;

	if (tx->err || (!tx->plain_len && !tx->rec_len))
		return;
	if (sk->sk_state != TCP_ESTABLISHED && sk->sk_state != TCP_CLOSE_WAIT)
		return;
	tx_close_and_push(sk, tx, MSG_NOSIGNAL | (timeo ? 0 : MSG_DONTWAIT));
}

static void tx_work(struct work_struct *work)
{
	struct kto_tx *tx = container_of(work, struct kto_tx, work);
	struct sock *sk = tx->sk;

	if (test_bit(KTO_TX_CLOSING, &tx->flags))
		return;
	clear_bit(KTO_TX_WORK_PENDING, &tx->flags);
	/* A writer holding the mutex pushes the record itself. */
	if (!mutex_trylock(&tx->lock))
		return;
	lock_sock(sk);
	if (tx->rec_len && !tx->err)
		tx_push(sk, tx, MSG_DONTWAIT | MSG_NOSIGNAL);
	release_sock(sk);
	mutex_unlock(&tx->lock);
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
 * TLS 1.3 KeyUpdate on TX. Socket locked. A writer may be asleep in TCP
 * (socket lock released, TX mutex held), but then its record is already
 * sealed with the old key, which is what it must carry. An open record,
 * which only exists when no writer is inside, is sealed with the old key
 * first: everything the caller wrote before the new key uses the old one.
 */
int kto_tx_rekey(struct sock *sk, struct kto_ctx *ctx,
		 const union kto_crypto_info *info)
{
	struct kto_tx *tx = ctx->tx;
	int err;

	if (tx->plain_len && !tx->err && !tx->rec_len) {
		err = kto_crypto_prepare(&tx->c);
		if (!err)
			err = tx_close_record(sk, tx);
		if (err)
			return err;
		err = tx_push(sk, tx, MSG_DONTWAIT | MSG_NOSIGNAL);
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
	/* We always copy, so this hint changes nothing but what we report. */
	ctx->zc_ro = val;
	return 0;
}

/*
 * TLS_TX_MAX_PAYLOAD_LEN (RFC 8449 record_size_limit, minus the content
 * type byte in TLS 1.3). Socket locked. Not while a record is open: its
 * size was decided under the old limit.
 */
int kto_tx_setsockopt_max_payload(struct kto_ctx *ctx, sockptr_t optval,
				  unsigned int optlen)
{
	unsigned int min = KTO_MIN_PAYLOAD_LIMIT;
	u16 val;

	if (ctx->tx && ctx->tx->plain_len)
		return -EBUSY;
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
		kfree(tx);
		return err;
	}

	tx->sk = sk;
	mutex_init(&tx->lock);
	INIT_WORK(&tx->work, tx_work);
	ctx->tx = tx;

	write_lock_bh(&sk->sk_callback_lock);
	sk->sk_write_space = kto_write_space;
	write_unlock_bh(&sk->sk_callback_lock);
	return 0;
}

/*
 * After the socket's callbacks were restored (no new work can be queued):
 * stop the work, then free. Called without the socket lock.
 */
void kto_tx_uninit(struct sock *sk, struct kto_ctx *ctx)
{
	struct kto_tx *tx = ctx->tx;

	if (!tx)
		return;
	set_bit(KTO_TX_CLOSING, &tx->flags);
	cancel_work_sync(&tx->work);
	kto_crypto_uninit(&tx->c);
	/*
	 * A record partly given to TCP is ciphertext that TCP still sends;
	 * an open record that never went out holds plaintext: clear it.
	 */
	if (tx->rec_len)
		kto_pages_release(&tx->pg);
	else
		kto_pages_release_clear(&tx->pg);
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
