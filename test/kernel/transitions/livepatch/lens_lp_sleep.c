// SPDX-License-Identifier: GPL-2.0
/* Replaces lens_sleep_f(), where a reader sleeps (scenarios 2, 9 and 10). */
#include <linux/sched.h>
#include <linux/wait.h>
#include "../target/lens_target.h"

static noinline int livepatch_lens_sleep_f(void)
{
	int ret = wait_event_interruptible(lens_shared.wq, READ_ONCE(lens_shared.wake));

	return ret ? ret : 2;
}

#define LENS_FUNCS { .old_name = "lens_sleep_f", .new_func = livepatch_lens_sleep_f },
#include "lens_lp.h"
