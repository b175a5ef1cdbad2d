/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktls-offload: internal declarations, grouped by the file that defines them.
 *
 * Every socket that attaches our ULP gets a struct kto_ctx, reachable through
 * inet_csk(sk)->icsk_ulp_data. Its lifetime is: kto_ctx_attach() (ULP init,
 * socket locked) until kto_close() (or the ULP release hook for sockets that
 * are destroyed without close), freed after an RCU grace period because
 * sock_diag readers look at it under rcu_read_lock().
 */
#ifndef KTO_KTLS_H
#define KTO_KTLS_H

#include <linux/types.h>
#include <linux/net.h>
#include <net/sock.h>
#include <net/inet_connection_sock.h>

/* Per-direction configuration, as in the proto table indices. */
enum kto_conf {
	KTO_CONF_BASE,	/* ULP attached, no key for this direction */
	KTO_CONF_SW,	/* records processed by this module */
	KTO_CONF_NUM,
};

struct kto_ctx {
	struct sock *sk;
	/* What we wrap: restored on close. */
	struct proto *sk_proto;
	const struct proto_ops *sk_ops;
	void (*sk_write_space)(struct sock *sk);
	void (*sk_data_ready)(struct sock *sk);

	u8 tx_conf:2;
	u8 rx_conf:2;

	struct rcu_head rcu;
};

static inline struct kto_ctx *kto_ctx_get(const struct sock *sk)
{
	/* Only called with the socket locked or from its own callbacks. */
	return (__force struct kto_ctx *)inet_csk(sk)->icsk_ulp_data;
}

/* ctx.c */
int kto_ctx_init(void);
void kto_ctx_uninit(void);
int kto_ctx_attach(struct sock *sk);
void kto_ctx_release(struct sock *sk);

#endif /* KTO_KTLS_H */
