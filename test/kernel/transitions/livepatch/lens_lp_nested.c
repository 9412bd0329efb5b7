// SPDX-License-Identifier: GPL-2.0
/* Replaces lens_sleep_outer() and the lens_sleep_f() it calls (scenario 6). */
#include <linux/sched.h>
#include <linux/wait.h>
#include "../target/lens_target.h"

static noinline int livepatch_lens_sleep_f(void)
{
	int ret = wait_event_interruptible(lens_shared.wq, READ_ONCE(lens_shared.wake));

	return ret ? ret : 2;
}

static noinline int livepatch_lens_sleep_outer(void)
{
	int ret = livepatch_lens_sleep_f();

	if (ret > 0)
		lens_shared.reads += 2;
	return ret;
}

#define LENS_FUNCS \
	{ .old_name = "lens_sleep_outer", .new_func = livepatch_lens_sleep_outer }, \
	{ .old_name = "lens_sleep_f", .new_func = livepatch_lens_sleep_f },
#include "lens_lp.h"
