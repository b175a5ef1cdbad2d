// SPDX-License-Identifier: GPL-2.0
/*
 * ktls-offload: module init and exit, ULP registration, module parameters.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/string.h>
#include <net/tcp.h>

#include "ktls.h"

static char ulp_name[TCP_ULP_NAME_MAX] = "tls";
module_param_string(ulp_name, ulp_name, sizeof(ulp_name), 0444);
MODULE_PARM_DESC(ulp_name,
		 "TCP ULP name to register (default \"tls\", as the in-tree kTLS)");

static struct tcp_ulp_ops kto_ulp_ops = {
	.init		= kto_ctx_attach,
	.release	= kto_ctx_release,
	.get_info	= kto_ctx_get_info,
	.get_info_size	= kto_ctx_get_info_size,
	.owner		= THIS_MODULE,
};

static int __init kto_mod_init(void)
{
	int err;

	if (!ulp_name[0]) {
		pr_err("module parameter ulp_name must not be empty\n");
		return -EINVAL;
	}
	strscpy(kto_ulp_ops.name, ulp_name, sizeof(kto_ulp_ops.name));

	err = kto_pages_init();
	if (err)
		return err;
	err = kto_stats_init();
	if (err)
		goto err_pages;

	err = tcp_register_ulp(&kto_ulp_ops);
	if (err == -EEXIST) {
		pr_err("a TCP ULP named \"%s\" is already registered (the in-tree tls module?); unload it or load us with ulp_name=<other name>\n",
		       ulp_name);
		goto err_stats;
	}
	if (err) {
		pr_err("cannot register TCP ULP \"%s\": %d\n", ulp_name, err);
		goto err_stats;
	}

	pr_info("registered TCP ULP \"%s\"\n", ulp_name);
	return 0;

err_stats:
	kto_stats_uninit();
err_pages:
	kto_pages_uninit();
	return err;
}

static void __exit kto_mod_exit(void)
{
	tcp_unregister_ulp(&kto_ulp_ops);
	kto_stats_uninit();
	kto_pages_uninit();
}

module_init(kto_mod_init);
module_exit(kto_mod_exit);

MODULE_DESCRIPTION("ktls-offload: kernel TLS record layer, a drop-in for kTLS");
MODULE_AUTHOR("ktls-offload developers");
MODULE_LICENSE("GPL");
/*
 * Let TCP_ULP "tls" autoload us. Where the in-tree tls.ko is installed too,
 * blacklist it (README: loading it in place of tls.ko).
 */
MODULE_ALIAS_TCP_ULP("tls");
