// SPDX-License-Identifier: GPL-2.0
/*
 * Per network namespace counters, shown in /proc/net/ktls_offload_stat in
 * the "Name value" format of the in-tree /proc/net/tls_stat. (Our own file
 * name: both modules may be loaded side by side.) After them, module-wide
 * counts of the contexts, pages and peeked records we hold, which leak
 * checks expect back at zero.
 */
#include <linux/percpu.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>

#include "ktls.h"

#define KTO_PROC_NAME "ktls_offload_stat"

struct kto_net {
	long __percpu *stats;	/* KTO_STAT_NUM counters per CPU */
};

static unsigned int kto_net_id __read_mostly;

static atomic_long_t kto_live[KTO_LIVE_NUM];

static const char *const kto_live_names[KTO_LIVE_NUM] = {
	[KTO_LIVE_CONTEXTS]	= "KtoLiveContexts",
	[KTO_LIVE_PAGES]	= "KtoLivePages",
	[KTO_LIVE_PEEKED]	= "KtoLivePeekedRecords",
	[KTO_LIVE_SPARE]	= "KtoSparePages",
};

void kto_stats_live_add(enum kto_live what, long n)
{
	atomic_long_add(n, &kto_live[what]);
}

static const char *const kto_stat_names[KTO_STAT_NUM] = {
	[KTO_STAT_CURR_TX]		= "TlsCurrTxSw",
	[KTO_STAT_CURR_RX]		= "TlsCurrRxSw",
	[KTO_STAT_TX]			= "TlsTxSw",
	[KTO_STAT_RX]			= "TlsRxSw",
	[KTO_STAT_TX_RECORDS]		= "TlsTxRecords",
	[KTO_STAT_RX_RECORDS]		= "TlsRxRecords",
	[KTO_STAT_DECRYPT_ERROR]	= "TlsDecryptError",
	[KTO_STAT_RX_BAD_RECORD]	= "TlsRxBadRecord",
	[KTO_STAT_RX_NO_PAD_VIOLATION]	= "TlsRxNoPadViolation",
	[KTO_STAT_DECRYPT_RETRY]	= "TlsDecryptRetry",
	[KTO_STAT_TX_CLOSE_DROPPED]	= "KtoTxCloseDropped",
	[KTO_STAT_TX_REKEY_OK]		= "TlsTxRekeyOk",
	[KTO_STAT_RX_REKEY_OK]		= "TlsRxRekeyOk",
	[KTO_STAT_TX_REKEY_ERROR]	= "TlsTxRekeyError",
	[KTO_STAT_RX_REKEY_ERROR]	= "TlsRxRekeyError",
	[KTO_STAT_RX_REKEY_RECEIVED]	= "TlsRxRekeyReceived",
	[KTO_STAT_TX_AES_GCM_128]	= "TlsTxAesGcm128",
	[KTO_STAT_TX_AES_GCM_256]	= "TlsTxAesGcm256",
	[KTO_STAT_TX_AES_CCM_128]	= "TlsTxAesCcm128",
	[KTO_STAT_TX_CHACHA20_POLY1305]	= "TlsTxChaCha20Poly1305",
	[KTO_STAT_RX_AES_GCM_128]	= "TlsRxAesGcm128",
	[KTO_STAT_RX_AES_GCM_256]	= "TlsRxAesGcm256",
	[KTO_STAT_RX_AES_CCM_128]	= "TlsRxAesCcm128",
	[KTO_STAT_RX_CHACHA20_POLY1305]	= "TlsRxChaCha20Poly1305",
};

enum kto_stat kto_stats_cipher(u16 cipher_type, bool tx)
{
	switch (cipher_type) {
	case TLS_CIPHER_AES_GCM_256:
		return tx ? KTO_STAT_TX_AES_GCM_256 : KTO_STAT_RX_AES_GCM_256;
	case TLS_CIPHER_AES_CCM_128:
		return tx ? KTO_STAT_TX_AES_CCM_128 : KTO_STAT_RX_AES_CCM_128;
	case TLS_CIPHER_CHACHA20_POLY1305:
		return tx ? KTO_STAT_TX_CHACHA20_POLY1305 :
			    KTO_STAT_RX_CHACHA20_POLY1305;
	default:
		return tx ? KTO_STAT_TX_AES_GCM_128 : KTO_STAT_RX_AES_GCM_128;
	}
}

void kto_stats_add(const struct sock *sk, enum kto_stat stat, long n)
{
	struct kto_net *kn = net_generic(sock_net(sk), kto_net_id);

	this_cpu_add(kn->stats[stat], n);
}

static int kto_stats_show(struct seq_file *seq, void *v)
{
	struct kto_net *kn = net_generic(seq_file_single_net(seq), kto_net_id);
	int i, cpu;

	for (i = 0; i < KTO_STAT_NUM; i++) {
		long sum = 0;

		for_each_possible_cpu(cpu)
			sum += per_cpu_ptr(kn->stats, cpu)[i];
		seq_printf(seq, "%-32s%ld\n", kto_stat_names[i], sum);
	}
	/* Module-wide, not per namespace: what we hold right now. */
	for (i = 0; i < KTO_LIVE_NUM; i++)
		seq_printf(seq, "%-32s%ld\n", kto_live_names[i],
			   atomic_long_read(&kto_live[i]));
	return 0;
}

static int __net_init kto_net_init(struct net *net)
{
	struct kto_net *kn = net_generic(net, kto_net_id);

	kn->stats = __alloc_percpu(sizeof(long) * KTO_STAT_NUM,
				   __alignof__(long));
	if (!kn->stats)
		return -ENOMEM;
	if (!proc_create_net_single(KTO_PROC_NAME, 0444, net->proc_net,
				    kto_stats_show, NULL)) {
		free_percpu(kn->stats);
		return -ENOMEM;
	}
	return 0;
}

static void __net_exit kto_net_exit(struct net *net)
{
	struct kto_net *kn = net_generic(net, kto_net_id);

	remove_proc_entry(KTO_PROC_NAME, net->proc_net);
	free_percpu(kn->stats);
}

static struct pernet_operations kto_net_ops = {
	.init = kto_net_init,
	.exit = kto_net_exit,
	.id = &kto_net_id,
	.size = sizeof(struct kto_net),
};

int kto_stats_init(void)
{
	return register_pernet_subsys(&kto_net_ops);
}

void kto_stats_uninit(void)
{
	unregister_pernet_subsys(&kto_net_ops);
}
