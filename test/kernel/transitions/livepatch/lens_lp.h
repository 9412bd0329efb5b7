/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The test livepatches of lens_target: each .c defines the functions it
 * replaces (LENS_FUNCS) and includes this for the klp boilerplate.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/sched.h>
#include <linux/wait.h>
#include "../target/lens_target.h"

static struct klp_func funcs[] = { LENS_FUNCS {} };
static struct klp_object objs[] = { { .name = "lens_target", .funcs = funcs }, {} };
static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs };

static int __init lens_lp_init(void)
{
	return klp_enable_patch(&patch);
}

static void __exit lens_lp_exit(void)
{
}

module_init(lens_lp_init);
module_exit(lens_lp_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
