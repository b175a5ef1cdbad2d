// SPDX-License-Identifier: GPL-2.0
/*
 * Receive: record framing from the TCP receive queue, decryption, recvmsg,
 * splice_read and poll.
 *
 * Ciphertext is copied out of TCP's queue into pages (pages.c) as it arrives (from
 * sk_data_ready, or by the reader), one record at a time, and decrypted in
 * place when a reader wants it. rx->ready tells poll() whether a whole
 * record (or an error) is waiting; it is written with the socket locked
 * (owner or softirq) and read locklessly.
 *
 * Locking: rx->lock (a mutex) is taken before lock_sock() by every reader,
 * since waiting for data releases the socket lock.
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
	struct kto_rx *rx;
	gfp_t gfp;
};

static int rx_actor(read_descriptor_t *desc, struct sk_buff *skb,
		    unsigned int offset, size_t len)
{
	struct rx_pull_arg *arg = desc->arg.data;
	struct kto_rx *rx = arg->rx;
	size_t n = min_t(size_t, len, desc->count), done = 0;

	if (kto_pages_ensure(&rx->pg, rx->have + n, KTO_RX, arg->gfp)) {
		desc->error = -ENOMEM;
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
	struct rx_pull_arg arg = { .rx = rx, .gfp = gfp };
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
 * page can be had the reader is woken to try with a sleeping allocation).
 * Returns true if a reader has something to pick up.
 */
static bool rx_fill(struct sock *sk, struct kto_rx *rx, gfp_t gfp)
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

	if (rx_fill(sk, ctx->rx, GFP_ATOMIC))
		ctx->sk_data_ready(sk);
}

/*
 * Does this TLS 1.3 handshake record (plaintext at @off, @len bytes) carry
 * a KeyUpdate (RFC 8446 4.6.3)?
 */
static bool has_key_update(const struct kto_pages *pg, u32 off, u32 len)
{
	u32 pos = 0;
	u8 h[4];

	while (len - pos >= sizeof(h)) {
		u32 msg_len;

		kto_pages_read(pg, off + pos, h, sizeof(h));
		if (h[0] == KTO_HS_KEY_UPDATE)
			return true;
		msg_len = get_unaligned_be24(h + 1);
		if (msg_len > len - pos - sizeof(h))
			break;
		pos += sizeof(h) + msg_len;
	}
	return false;
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

static int rx_decrypt(struct sock *sk, struct kto_rx *rx)
{
	u32 off, len;
	u8 type;
	int err;

	/* Out of memory leaves the record as it was, for another try. */
	err = kto_crypto_prepare(&rx->c);
	if (err)
		return err;
	err = kto_crypto_open(&rx->c, &rx->pg, rx->need, NULL, &off, &len,
			      &type);
	if (err)
		return rx_open_failed(sk, rx, err);
	if (rx->c.version == TLS_1_3_VERSION && kto_ctx_get(sk)->rx_no_pad &&
	    off + len + 1 + KTO_TAG_LEN != rx->need)
		kto_stats_add(sk, KTO_STAT_RX_NO_PAD_VIOLATION, 1);
	kto_stats_add(sk, KTO_STAT_RX_RECORDS, 1);
	/*
	 * Records after a KeyUpdate use the peer's next key, which userspace
	 * derives and installs: decrypt nothing more until then.
	 */
	if (rx->c.version == TLS_1_3_VERSION && type == KTO_TYPE_HANDSHAKE &&
	    has_key_update(&rx->pg, off, len)) {
		rx->key_update = true;
		kto_stats_add(sk, KTO_STAT_RX_REKEY_RECEIVED, 1);
	}
	rx->decrypted = true;
	rx->type = type;
	rx->plain_off = off;
	rx->plain_len = len;
	return 0;
}

/* The record in pg is consumed: an idle socket keeps no pages. */
static void rx_buf_done(struct kto_rx *rx)
{
	rx->decrypted = false;
	rx->have = 0;
	rx->need = 0;
	kto_pages_recycle(&rx->pg, KTO_RX, 0);
}

/* MSG_PEEK wants past the record in buf: set it aside so buf can refill. */
static int rx_stash(struct kto_rx *rx)
{
	struct kto_rec *r;

	r = kmalloc(struct_size(r, data, rx->plain_len), GFP_KERNEL);
	if (!r)
		return -ENOMEM;
	kto_live_add(KTO_LIVE_PEEKED, 1);
	r->len = rx->plain_len;
	r->off = 0;
	r->type = rx->type;
	kto_pages_read(&rx->pg, rx->plain_off, r->data, rx->plain_len);
	list_add_tail(&r->list, &rx->peeked);
	rx_buf_done(rx);
	return 0;
}

static void rx_free_peeked(struct kto_rx *rx)
{
	struct kto_rec *r, *tmp;

	list_for_each_entry_safe(r, tmp, &rx->peeked, list) {
		list_del(&r->list);
		kfree_sensitive(r);
		kto_live_add(KTO_LIVE_PEEKED, -1);
	}
}

/*
 * Wait until a whole record is in buf. Returns 1 when there is one, 0 at
 * end of stream, -errno otherwise.
 */
static int rx_wait(struct sock *sk, struct kto_rx *rx, long *timeo,
		   bool has_copied)
{
	DEFINE_WAIT_FUNC(wait, woken_wake_function);

	for (;;) {
		if (rx->err)
			return rx->err;
		if (rx->key_update)
			return -EKEYEXPIRED;
		rx_fill(sk, rx, sk->sk_allocation);
		if (rx_buf_full(rx))
			return 1;
		if (rx->need_alloc)
			return -ENOMEM;
		if (sk->sk_err)
			return has_copied ? -sk->sk_err : sock_error(sk);
		if (rx->err)
			return rx->err;
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
		sk_wait_event(sk, timeo,
			      READ_ONCE(rx->ready) || READ_ONCE(rx->need_alloc) ||
			      READ_ONCE(sk->sk_err) ||
			      (READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN),
			      &wait);
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

/*
 * With a whole record in pg, not yet decrypted: TLS 1.2 application data
 * whose plaintext fits in what the reader still wants is decrypted
 * straight into the reader's pages, saving the copy (the in-tree kTLS
 * does the same). TLS 1.3 records are not: their content type is only
 * known after decryption.
 */
static bool rx_direct_ok(const struct kto_rx *rx, struct msghdr *msg,
			 size_t room)
{
	u32 plain;

	if (rx->c.version != TLS_1_2_VERSION ||
	    !user_backed_iter(&msg->msg_iter))
		return false;
	if (*kto_pages_ptr(&rx->pg, 0) != KTO_TYPE_DATA)
		return false;
	plain = kto_crypto_plain_len(&rx->c, rx->need);
	return plain && plain <= room;
}

/*
 * Decrypt the whole record in pg into the reader's buffer. Returns the
 * bytes delivered, -EAGAIN if the buffer could not be mapped (nothing
 * done: decrypt in place instead), or -errno.
 */
static int rx_decrypt_direct(struct sock *sk, struct kto_rx *rx,
			     struct msghdr *msg)
{
	u32 plain = kto_crypto_plain_len(&rx->c, rx->need);
	struct page *pages[KTO_REC_PAGES];
	struct scatterlist dst[KTO_SG_MAX];
	u32 off_unused, len;
	int i, n, err;
	u8 type;

	err = kto_crypto_prepare(&rx->c);
	if (err)
		return err;
	sg_init_table(dst, KTO_SG_MAX);
	n = kto_pages_get_iter(&msg->msg_iter, plain, pages, &dst[1]);
	if (n < 0)
		return n;
	sg_mark_end(&dst[n]);
	err = kto_crypto_open(&rx->c, &rx->pg, rx->need, dst, &off_unused,
			      &len, &type);
	if (err) {
		/* Leave no unauthenticated byte in the reader's buffer. */
		for (i = 1; i <= n; i++)
			memzero_page(sg_page(&dst[i]), dst[i].offset,
				     dst[i].length);
	}
	kto_pages_put_iter(pages, n, true);
	if (err) {
		iov_iter_revert(&msg->msg_iter, plain);
		return rx_open_failed(sk, rx, err);
	}
	kto_stats_add(sk, KTO_STAT_RX_RECORDS, 1);
	rx_buf_done(rx);
	return plain;
}

/* Socket and rx->lock held. */
static int rx_recv(struct sock *sk, struct kto_rx *rx, struct msghdr *msg,
		   size_t len, int flags)
{
	long timeo = sock_rcvtimeo(sk, flags & MSG_DONTWAIT);
	int target = sock_rcvlowat(sk, flags & MSG_WAITALL, len);
	bool peek = flags & MSG_PEEK;
	struct kto_rec *pos = NULL;	/* peek: last stashed record read */
	bool buf_seen = false;		/* peek: buf's record was read */
	size_t copied = 0;
	u8 control = 0;
	int err = 0;

	while (copied < len) {
		struct kto_rec *r = NULL;
		u32 avail, n;
		u8 type, *data = NULL;

		if (!peek)
			r = list_first_entry_or_null(&rx->peeked, struct kto_rec, list);
		else if (!buf_seen)
			r = pos ? (list_is_last(&pos->list, &rx->peeked) ? NULL :
				   list_next_entry(pos, list)) :
				list_first_entry_or_null(&rx->peeked,
							 struct kto_rec, list);

		if (r) {
			type = r->type;
			data = r->data + r->off;
			avail = r->len - r->off;
		} else if (rx->decrypted && !buf_seen) {
			type = rx->type;
			avail = rx->plain_len;
		} else {
			/* Go on past the target only while records are waiting. */
			rx_fill(sk, rx, sk->sk_allocation);
			if (copied >= target && !rx_buf_full(rx))
				break;
			if (peek && rx->decrypted) {
				err = rx_stash(rx);
				if (err)
					break;
				pos = list_last_entry(&rx->peeked, struct kto_rec, list);
				buf_seen = false;
				continue;
			}
			err = rx_wait(sk, rx, &timeo, copied);
			if (err <= 0)
				break;
			if (!peek && (!control || control == KTO_TYPE_DATA) &&
			    rx_direct_ok(rx, msg, len - copied)) {
				int got = rx_decrypt_direct(sk, rx, msg);

				if (got > 0) {
					if (!control) {
						control = KTO_TYPE_DATA;
						put_cmsg(msg, SOL_TLS,
							 TLS_GET_RECORD_TYPE,
							 sizeof(control),
							 &control);
					}
					copied += got;
					msg->msg_flags |= MSG_EOR;
					continue;
				}
				if (got != -EAGAIN) {
					err = got;
					break;
				}
			}
			err = rx_decrypt(sk, rx);
			if (err)
				break;
			continue;
		}

		if (!control) {
			int cerr;

			control = type;
			if (!type) {
				err = -EBADMSG;
				break;
			}
			cerr = put_cmsg(msg, SOL_TLS, TLS_GET_RECORD_TYPE,
					sizeof(control), &control);
			if (type != KTO_TYPE_DATA &&
			    (cerr || (msg->msg_flags & MSG_CTRUNC))) {
				err = -EIO;
				break;
			}
		} else if (type != control) {
			break;
		}

		n = min_t(size_t, avail, len - copied);
		if ((data ? copy_to_iter(data, n, &msg->msg_iter) :
		     copy_out(&rx->pg, rx->plain_off, n, &msg->msg_iter)) != n) {
			err = -EFAULT;
			break;
		}
		copied += n;

		if (peek) {
			if (r)
				pos = r;
			else
				buf_seen = true;
		} else if (r) {
			r->off += n;
			if (r->off == r->len) {
				list_del(&r->list);
				kfree_sensitive(r);
				kto_live_add(KTO_LIVE_PEEKED, -1);
			}
		} else {
			rx->plain_off += n;
			rx->plain_len -= n;
			if (!rx->plain_len)
				rx_buf_done(rx);
		}
		if (n == avail)
			msg->msg_flags |= MSG_EOR;
		/* A control record goes to the caller on its own. */
		if (type != KTO_TYPE_DATA)
			break;
	}

	rx_fill(sk, rx, sk->sk_allocation);
	return copied ? copied : err;
}

static int rx_lock(struct kto_rx *rx, bool nonblock)
{
	if (nonblock)
		return mutex_trylock(&rx->lock) ? 0 : -EAGAIN;
	return mutex_lock_interruptible(&rx->lock) ? -ERESTARTSYS : 0;
}

static int kto_recvmsg(struct sock *sk, struct msghdr *msg, size_t len,
		       int flags, int *addr_len)
{
	struct kto_rx *rx = kto_ctx_get(sk)->rx;
	int ret;

	if (unlikely(flags & MSG_ERRQUEUE))
		return sock_recv_errqueue(sk, msg, len, SOL_IP, IP_RECVERR);
	if (flags & MSG_OOB)
		return -EINVAL;

	ret = rx_lock(rx, flags & MSG_DONTWAIT);
	if (ret)
		return ret;
	lock_sock(sk);
	ret = rx_recv(sk, rx, msg, len, flags);
	release_sock(sk);
	mutex_unlock(&rx->lock);
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

	err = kto_crypto_rekey(&rx->c, info);
	if (err)
		return err;
	rx->key_update = false;
	/* Records that waited for this key can be read now. */
	if (rx_fill(sk, rx, sk->sk_allocation))
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
		kfree(rx);
		return err;
	}

	mutex_init(&rx->lock);
	INIT_LIST_HEAD(&rx->peeked);
	ctx->rx = rx;

	write_lock_bh(&sk->sk_callback_lock);
	sk->sk_data_ready = kto_data_ready;
	write_unlock_bh(&sk->sk_callback_lock);

	/* Records may already be waiting in TCP's queue. */
	if (rx_fill(sk, rx, sk->sk_allocation))
		ctx->sk_data_ready(sk);
	return 0;
}

/* After the socket's callbacks were restored. */
void kto_rx_uninit(struct sock *sk, struct kto_ctx *ctx)
{
	struct kto_rx *rx = ctx->rx;

	if (!rx)
		return;
	rx_free_peeked(rx);
	kto_crypto_uninit(&rx->c);
	kto_pages_release_clear(&rx->pg);	/* may hold plaintext */
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
