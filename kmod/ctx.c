// SPDX-License-Identifier: GPL-2.0
/*
 * Per-socket context: ULP attach, proto tables, setsockopt/getsockopt
 * dispatch, close and free.
 */
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/tls.h>
#include <net/tcp.h>

#include "ktls.h"

enum {
	KTO_FAMILY_V4,
	KTO_FAMILY_V6,
	KTO_FAMILY_NUM,
};

/*
 * Proto and proto_ops tables, one set per address family, built once from
 * the first socket of that family that attaches. Readers check @base with
 * an acquire load; the tables are written before the release store.
 */
struct kto_protos {
	const struct proto *base;
	const struct proto_ops *base_ops;
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

			*ops = *base_ops;
		}
	}
}

static struct kto_protos *protos_get(struct sock *sk)
{
	int family = sk->sk_family == AF_INET6 ? KTO_FAMILY_V6 : KTO_FAMILY_V4;
	struct kto_protos *p = &kto_protos[family];
	const struct proto *base;

	base = smp_load_acquire(&p->base);
	if (likely(base == sk->sk_prot))
		return p;
	if (base)
		return NULL;	/* a socket whose proto someone else replaced */

	mutex_lock(&kto_protos_lock);
	if (!p->base) {
		build_protos(p, sk->sk_prot, sk->sk_socket->ops);
		p->base_ops = sk->sk_socket->ops;
		smp_store_release(&p->base, sk->sk_prot);
	}
	mutex_unlock(&kto_protos_lock);

	return p->base == sk->sk_prot ? p : NULL;
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
		pr_warn_ratelimited("socket protocol was replaced by another layer; not attaching\n");
		return -EOPNOTSUPP;
	}

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;

	ctx->sk = sk;
	ctx->sk_proto = sk->sk_prot;
	ctx->sk_ops = sk->sk_socket->ops;
	ctx->sk_write_space = sk->sk_write_space;
	ctx->sk_data_ready = sk->sk_data_ready;

	rcu_assign_pointer(inet_csk(sk)->icsk_ulp_data, ctx);
	update_prot(sk, ctx);
	return 0;
}

static void ctx_free(struct kto_ctx *ctx)
{
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
 * ULP release: tcp_cleanup_ulp() on socket destruction. Normally close()
 * already detached and freed the context; this catches the rest.
 */
void kto_ctx_release(struct sock *sk)
{
	struct kto_ctx *ctx = kto_ctx_get(sk);

	if (!ctx)
		return;
	ctx_detach(sk, ctx);
	ctx_free(ctx);
}

static void kto_close(struct sock *sk, long timeout)
{
	struct kto_ctx *ctx = kto_ctx_get(sk);
	struct proto *base = ctx->sk_proto;

	lock_sock(sk);
	ctx_detach(sk, ctx);
	release_sock(sk);

	base->close(sk, timeout);
	ctx_free(ctx);
}

static int kto_setsockopt(struct sock *sk, int level, int optname,
			  sockptr_t optval, unsigned int optlen)
{
	struct kto_ctx *ctx = kto_ctx_get(sk);

	if (level != SOL_TLS)
		return ctx->sk_proto->setsockopt(sk, level, optname, optval,
						 optlen);

	switch (optname) {
	case TLS_TX:
	case TLS_RX:
		pr_info_once("TLS_TX/TLS_RX: record layer not implemented in this build\n");
		return -EOPNOTSUPP;
	default:
		return -ENOPROTOOPT;
	}
}

static int kto_getsockopt(struct sock *sk, int level, int optname,
			  char __user *optval, int __user *optlen)
{
	struct kto_ctx *ctx = kto_ctx_get(sk);

	if (level != SOL_TLS)
		return ctx->sk_proto->getsockopt(sk, level, optname, optval,
						 optlen);

	switch (optname) {
	case TLS_TX:
	case TLS_RX:
		/* No key installed in this direction. */
		return -EBUSY;
	default:
		return -ENOPROTOOPT;
	}
}

int kto_ctx_init(void)
{
	return 0;
}

void kto_ctx_uninit(void)
{
}
