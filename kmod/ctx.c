// SPDX-License-Identifier: GPL-2.0
/*
 * Per-socket context: ULP attach, proto tables, setsockopt/getsockopt
 * dispatch, close and free.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/inet_diag.h>
#include <linux/tls.h>
#include <net/netlink.h>
#include <net/tcp.h>

#include "ktls.h"
#include "uapi/ktls_offload.h"

static bool keys_write_only;
module_param(keys_write_only, bool, 0644);
MODULE_PARM_DESC(keys_write_only,
		 "every socket starts with TLS_KTO_KEYS_WRITE_ONLY set (default no)");

enum {
	KTO_FAMILY_V4,
	KTO_FAMILY_V6,
	KTO_FAMILY_NUM,
};

/*
 * Proto and proto_ops tables, one set per address family, built from
 * TCP's own proto and proto_ops for that family, as a socket nobody else
 * changed has them. Readers check @base with an acquire load; the tables
 * are written before the release store.
 */
struct kto_protos {
	const struct proto *base;
	struct proto prot[KTO_CONF_NUM][KTO_CONF_NUM];
	struct proto_ops ops[KTO_CONF_NUM][KTO_CONF_NUM];
};

static struct kto_protos kto_protos[KTO_FAMILY_NUM];
static DEFINE_MUTEX(kto_protos_lock);

static void kto_close(struct sock *sk, long timeout);
static int kto_setsockopt(struct sock *sk, int level, int optname,
			  sockptr_t optval, unsigned int optlen);
static int kto_getsockopt(struct sock *sk, int level, int optname,
			  char __user *optval, int __user *optlen);

/* connect(AF_UNSPEC) would reset TCP under the record layer: as kTLS, no. */
static int kto_disconnect(struct sock *sk, int flags)
{
	return -EOPNOTSUPP;
}

static void build_protos(struct kto_protos *p, const struct proto *base,
			 const struct proto_ops *base_ops)
{
	int tx, rx;

	for (tx = 0; tx < KTO_CONF_NUM; tx++) {
		for (rx = 0; rx < KTO_CONF_NUM; rx++) {
			struct proto *prot = &p->prot[tx][rx];
			struct proto_ops *ops = &p->ops[tx][rx];

			*prot = *base;
			prot->close = kto_close;
			prot->setsockopt = kto_setsockopt;
			prot->getsockopt = kto_getsockopt;
			prot->disconnect = kto_disconnect;

			*ops = *base_ops;
			if (tx == KTO_CONF_SW)
				kto_tx_build_proto(prot, ops);
			if (rx == KTO_CONF_SW)
				kto_rx_build_proto(prot, ops);
		}
	}
}

/*
 * The tables for @sk's family, or NULL if @sk's proto is not TCP's own:
 * another layer (a BPF sockmap, say) replaced it, and we do not stack on
 * top of that. The first socket of a family never decides what the
 * tables are made of: they come from a fresh kernel socket of the family.
 */
static struct kto_protos *protos_get(struct sock *sk)
{
	int family = sk->sk_family == AF_INET6 ? KTO_FAMILY_V6 : KTO_FAMILY_V4;
	struct kto_protos *p = &kto_protos[family];
	const struct proto *base;
	struct socket *probe;

	/* Pairs with the release below: tables are complete once base is set. */
	base = smp_load_acquire(&p->base);
	if (likely(base))
		return base == sk->sk_prot ? p : NULL;

	mutex_lock(&kto_protos_lock);
	if (!p->base && !sock_create_kern(&init_net, sk->sk_family, SOCK_STREAM,
					  IPPROTO_TCP, &probe)) {
		build_protos(p, probe->sk->sk_prot, probe->ops);
		/* Publish the tables before lockless readers can see base. */
		smp_store_release(&p->base, probe->sk->sk_prot);
		sock_release(probe);
	}
	mutex_unlock(&kto_protos_lock);

	return p->base && p->base == sk->sk_prot ? p : NULL;
}

/* Point the socket at the table for its current per-direction state. */
static void update_prot(struct sock *sk, struct kto_ctx *ctx)
{
	int family = sk->sk_family == AF_INET6 ? KTO_FAMILY_V6 : KTO_FAMILY_V4;
	struct kto_protos *p = &kto_protos[family];

	WRITE_ONCE(sk->sk_prot, &p->prot[ctx->tx_conf][ctx->rx_conf]);
	WRITE_ONCE(sk->sk_socket->ops, &p->ops[ctx->tx_conf][ctx->rx_conf]);
}

/* ULP init: called by tcp_set_ulp() with the socket locked. */
int kto_ctx_attach(struct sock *sk)
{
	struct kto_ctx *ctx;

	/*
	 * Only established sockets: a listener would hand our context to
	 * every accepted child, and an unconnected socket has no peer yet.
	 */
	if (sk->sk_state != TCP_ESTABLISHED)
		return -ENOTCONN;
	if (!sk->sk_socket)
		return -EINVAL;
	if (!protos_get(sk)) {
		pr_warn_ratelimited("socket protocol was replaced by another layer (a BPF sockmap?); not attaching\n");
		return -EOPNOTSUPP;
	}

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	kto_stats_live_add(KTO_LIVE_CONTEXTS, 1);

	ctx->sk_proto = sk->sk_prot;
	ctx->sk_ops = sk->sk_socket->ops;
	ctx->sk_write_space = sk->sk_write_space;
	ctx->sk_data_ready = sk->sk_data_ready;
	ctx->tx_max_payload = KTO_MAX_PLAIN;
	ctx->keys_write_only = READ_ONCE(keys_write_only);

	rcu_assign_pointer(inet_csk(sk)->icsk_ulp_data, ctx);
	update_prot(sk, ctx);
	return 0;
}

static void ctx_free(struct kto_ctx *ctx)
{
	kto_stats_live_add(KTO_LIVE_CONTEXTS, -1);
	kfree_rcu(ctx, rcu);
}

/* Give the socket back to TCP as it was before we attached. */
static void ctx_detach(struct sock *sk, struct kto_ctx *ctx)
{
	write_lock_bh(&sk->sk_callback_lock);
	rcu_assign_pointer(inet_csk(sk)->icsk_ulp_data, NULL);
	WRITE_ONCE(sk->sk_prot, ctx->sk_proto);
	if (sk->sk_socket)
		WRITE_ONCE(sk->sk_socket->ops, ctx->sk_ops);
	sk->sk_write_space = ctx->sk_write_space;
	sk->sk_data_ready = ctx->sk_data_ready;
	write_unlock_bh(&sk->sk_callback_lock);
}

/*
 * Socket locked (by close as owner, or in the destroy path), since the
 * record memory is uncharged from it.
 */
static void ctx_uninit_dirs(struct sock *sk, struct kto_ctx *ctx)
{
	if (ctx->tx_conf == KTO_CONF_SW)
		kto_stats_add(sk, KTO_STAT_CURR_TX, -1);
	if (ctx->rx_conf == KTO_CONF_SW)
		kto_stats_add(sk, KTO_STAT_CURR_RX, -1);
	kto_tx_uninit(sk, ctx);
	kto_rx_uninit(sk, ctx);
}

/*
 * ULP release: tcp_cleanup_ulp() on socket destruction. close() always
 * detached and freed the context already for a socket with a file; this
 * catches a socket destroyed without going through our close.
 */
void kto_ctx_release(struct sock *sk)
{
	struct kto_ctx *ctx = kto_ctx_get(sk);

	if (!ctx)
		return;
	if (ctx->tx)
		kto_tx_stop_work(ctx);
	ctx_detach(sk, ctx);
	ctx_uninit_dirs(sk, ctx);
	ctx_free(ctx);
}

/*
 * close(): hand the rest of the stream to TCP without waiting for the
 * peer (kto_tx_close_flush()), give the socket back to TCP as it was,
 * free our state, and let TCP close it, lingering as SO_LINGER says.
 * Nothing of ours can be in use: the file is gone, so no call is in
 * progress, and the write-space work is stopped first.
 */
static void kto_close(struct sock *sk, long timeout)
{
	struct kto_ctx *ctx = kto_ctx_get(sk);
	struct proto *base = ctx->sk_proto;

	if (ctx->tx)
		kto_tx_close_prepare(ctx);
	lock_sock(sk);
	sock_owned_by_me(sk);
	if (ctx->tx)
		kto_tx_close_flush(sk, ctx);
	ctx_detach(sk, ctx);
	ctx_uninit_dirs(sk, ctx);
	release_sock(sk);

	base->close(sk, timeout);
	ctx_free(ctx);
}

/* Socket locked. */
static int set_crypto(struct sock *sk, struct kto_ctx *ctx, sockptr_t optval,
		      unsigned int optlen, bool tx)
{
	const struct kto_crypto *cur = NULL, *other;
	const struct kto_cipher *cipher;
	union kto_crypto_info info;
	int err;

	if (sockptr_is_null(optval) || optlen < sizeof(info.info))
		return -EINVAL;
	/* A second key replaces the first: TLS 1.3 KeyUpdate only. */
	if ((tx ? ctx->tx_conf : ctx->rx_conf) != KTO_CONF_BASE) {
		cur = tx ? &ctx->tx->c : &ctx->rx->c;
		if (cur->version != TLS_1_3_VERSION)
			return -EBUSY;
	}

	memset(&info, 0, sizeof(info));
	if (copy_from_sockptr(&info.info, optval, sizeof(info.info)))
		return -EFAULT;
	if (info.info.version != TLS_1_2_VERSION &&
	    info.info.version != TLS_1_3_VERSION)
		return -EINVAL;
	/* Both directions, and both keys of one, use one version and cipher. */
	other = tx ? (ctx->rx ? &ctx->rx->c : NULL) : (ctx->tx ? &ctx->tx->c : NULL);
	if (other && (other->version != info.info.version ||
		      other->info.info.cipher_type != info.info.cipher_type))
		return -EINVAL;
	if (cur && (cur->version != info.info.version ||
		    cur->info.info.cipher_type != info.info.cipher_type))
		return -EINVAL;
	cipher = kto_crypto_cipher(info.info.cipher_type);
	if (!cipher || optlen != kto_crypto_info_size(cipher))
		return -EINVAL;

	if (copy_from_sockptr(&info, optval, optlen)) {
		err = -EFAULT;
		goto out;
	}

	if (cur) {
		err = tx ? kto_tx_rekey(sk, ctx, &info) :
			   kto_rx_rekey(sk, ctx, &info);
		kto_stats_add(sk, tx ? (err ? KTO_STAT_TX_REKEY_ERROR :
					KTO_STAT_TX_REKEY_OK) :
			      (err ? KTO_STAT_RX_REKEY_ERROR :
			       KTO_STAT_RX_REKEY_OK), 1);
		goto out;
	}

	if (tx) {
		err = kto_tx_init(sk, ctx, &info);
		if (err)
			goto out;
		ctx->tx_conf = KTO_CONF_SW;
		kto_stats_add(sk, KTO_STAT_CURR_TX, 1);
		kto_stats_add(sk, KTO_STAT_TX, 1);
	} else {
		err = kto_rx_init(sk, ctx, &info);
		if (err)
			goto out;
		ctx->rx_conf = KTO_CONF_SW;
		kto_stats_add(sk, KTO_STAT_CURR_RX, 1);
		kto_stats_add(sk, KTO_STAT_RX, 1);
	}
	kto_stats_add(sk, kto_stats_cipher(info.info.cipher_type, tx), 1);
	ctx->version = info.info.version;
	ctx->cipher_type = info.info.cipher_type;
	update_prot(sk, ctx);
out:
	memzero_explicit(&info, sizeof(info));
	return err;
}

static int get_crypto(struct kto_ctx *ctx, char __user *optval,
		      int __user *optlen, bool tx)
{
	const struct kto_crypto *c;
	union kto_crypto_info info;
	unsigned int size;
	int len, err = 0;

	if (get_user(len, optlen))
		return -EFAULT;
	if (!optval || len < (int)sizeof(info.info))
		return -EINVAL;
	if ((tx ? ctx->tx_conf : ctx->rx_conf) == KTO_CONF_BASE)
		return -EBUSY;
	/* Write-only keys: version and cipher, nothing more. */
	if (ctx->keys_write_only && len != sizeof(info.info))
		return -EACCES;

	c = tx ? &ctx->tx->c : &ctx->rx->c;
	kto_crypto_get_info(c, &info);
	size = kto_crypto_info_size(c->cipher);
	if (len == sizeof(info.info))
		size = sizeof(info.info);
	else if (len != size)
		err = -EINVAL;
	if (!err && copy_to_user(optval, &info, size))
		err = -EFAULT;
	memzero_explicit(&info, sizeof(info));
	return err;
}

/* TLS_KTO_KEYS_WRITE_ONLY: 1 for good, or 0 while it was never set. */
static int set_keys_write_only(struct kto_ctx *ctx, sockptr_t optval,
			       unsigned int optlen)
{
	int val;

	if (sockptr_is_null(optval) || optlen != sizeof(val))
		return -EINVAL;
	if (copy_from_sockptr(&val, optval, sizeof(val)))
		return -EFAULT;
	if (val != 0 && val != 1)
		return -EINVAL;
	if (!val && ctx->keys_write_only)
		return -EPERM;
	ctx->keys_write_only = val;
	return 0;
}

static int get_int(int val, char __user *optval, int __user *optlen)
{
	int len;

	if (get_user(len, optlen))
		return -EFAULT;
	if (len != sizeof(val))
		return -EINVAL;
	if (copy_to_user(optval, &val, sizeof(val)))
		return -EFAULT;
	return 0;
}

static int get_u16(u16 val, char __user *optval, int __user *optlen)
{
	int len;

	if (get_user(len, optlen))
		return -EFAULT;
	if (len < (int)sizeof(val))
		return -EINVAL;
	if (put_user(sizeof(val), optlen) ||
	    copy_to_user(optval, &val, sizeof(val)))
		return -EFAULT;
	return 0;
}

/* Options that change what a writer uses: they take the TX lock too. */
static bool tx_option(int optname)
{
	return optname == TLS_TX || optname == TLS_TX_MAX_PAYLOAD_LEN;
}

static int kto_setsockopt(struct sock *sk, int level, int optname,
			  sockptr_t optval, unsigned int optlen)
{
	struct kto_ctx *ctx = kto_ctx_get(sk);
	struct kto_tx *tx = NULL;
	int err;

	if (level != SOL_TLS)
		return ctx->sk_proto->setsockopt(sk, level, optname, optval,
						 optlen);

	lock_sock(sk);
	/*
	 * Once TX has a key it keeps it until close: its lock goes first,
	 * taken whatever it takes since it is never held for long (a send
	 * in progress is refused with EBUSY instead of waited for).
	 */
	if (tx_option(optname) && ctx->tx) {
		tx = ctx->tx;
		release_sock(sk);
		kto_lock_nofail(&tx->lock);
		lock_sock(sk);
	}
	switch (optname) {
	case TLS_TX:
	case TLS_RX:
		err = set_crypto(sk, ctx, optval, optlen, optname == TLS_TX);
		break;
	case TLS_TX_ZEROCOPY_RO:
		err = kto_tx_setsockopt_zc(ctx, optval, optlen);
		break;
	case TLS_RX_EXPECT_NO_PAD:
		err = kto_rx_setsockopt_no_pad(sk, ctx, optval, optlen);
		break;
	case TLS_TX_MAX_PAYLOAD_LEN:
		err = kto_tx_setsockopt_max_payload(sk, ctx, optval, optlen);
		break;
	case TLS_KTO_KEYS_WRITE_ONLY:
		err = set_keys_write_only(ctx, optval, optlen);
		break;
	default:
		err = -ENOPROTOOPT;
		break;
	}
	if (tx)
		kto_unlock(&tx->lock);
	release_sock(sk);
	return err;
}

static int kto_getsockopt(struct sock *sk, int level, int optname,
			  char __user *optval, int __user *optlen)
{
	struct kto_ctx *ctx = kto_ctx_get(sk);
	int err;

	if (level != SOL_TLS)
		return ctx->sk_proto->getsockopt(sk, level, optname, optval,
						 optlen);

	lock_sock(sk);
	switch (optname) {
	case TLS_TX:
	case TLS_RX:
		err = get_crypto(ctx, optval, optlen, optname == TLS_TX);
		break;
	case TLS_TX_ZEROCOPY_RO:
		err = get_int(ctx->zc_ro, optval, optlen);
		break;
	case TLS_RX_EXPECT_NO_PAD:
		err = -EINVAL;
		if (ctx->rx_conf == KTO_CONF_SW &&
		    ctx->rx->c.version == TLS_1_3_VERSION)
			err = get_int(ctx->rx_no_pad, optval, optlen);
		break;
	case TLS_TX_MAX_PAYLOAD_LEN:
		err = get_u16(ctx->tx_max_payload, optval, optlen);
		break;
	case TLS_KTO_KEYS_WRITE_ONLY:
		err = get_int(ctx->keys_write_only, optval, optlen);
		break;
	default:
		err = -ENOPROTOOPT;
		break;
	}
	release_sock(sk);
	return err;
}

/* sock_diag (ss -i): under rcu_read_lock(), without the socket lock. */
int kto_ctx_get_info(struct sock *sk, struct sk_buff *skb)
{
	struct kto_ctx *ctx;
	struct nlattr *start;
	int err = -EMSGSIZE;

	start = nla_nest_start_noflag(skb, INET_ULP_INFO_TLS);
	if (!start)
		return -EMSGSIZE;

	rcu_read_lock();
	ctx = rcu_dereference(inet_csk(sk)->icsk_ulp_data);
	if (!ctx) {
		err = 0;
		goto out;
	}
	if (ctx->version &&
	    (nla_put_u16(skb, TLS_INFO_VERSION, ctx->version) ||
	     nla_put_u16(skb, TLS_INFO_CIPHER, ctx->cipher_type)))
		goto out;
	if (nla_put_u16(skb, TLS_INFO_TXCONF, ctx->tx_conf == KTO_CONF_SW ?
			TLS_CONF_SW : TLS_CONF_BASE) ||
	    nla_put_u16(skb, TLS_INFO_RXCONF, ctx->rx_conf == KTO_CONF_SW ?
			TLS_CONF_SW : TLS_CONF_BASE))
		goto out;
	if (ctx->zc_ro && nla_put_flag(skb, TLS_INFO_ZC_RO_TX))
		goto out;
	if (ctx->rx_no_pad && nla_put_flag(skb, TLS_INFO_RX_NO_PAD))
		goto out;
	if (nla_put_u16(skb, TLS_INFO_TX_MAX_PAYLOAD_LEN, ctx->tx_max_payload))
		goto out;
	err = 0;
out:
	rcu_read_unlock();
	if (err) {
		nla_nest_cancel(skb, start);
		return err;
	}
	nla_nest_end(skb, start);
	return 0;
}

size_t kto_ctx_get_info_size(const struct sock *sk)
{
	return nla_total_size(0) +		/* INET_ULP_INFO_TLS */
		nla_total_size(sizeof(u16)) +	/* TLS_INFO_VERSION */
		nla_total_size(sizeof(u16)) +	/* TLS_INFO_CIPHER */
		nla_total_size(sizeof(u16)) +	/* TLS_INFO_RXCONF */
		nla_total_size(sizeof(u16)) +	/* TLS_INFO_TXCONF */
		nla_total_size(0) +		/* TLS_INFO_ZC_RO_TX */
		nla_total_size(0) +		/* TLS_INFO_RX_NO_PAD */
		nla_total_size(sizeof(u16));	/* TLS_INFO_TX_MAX_PAYLOAD_LEN */
}

