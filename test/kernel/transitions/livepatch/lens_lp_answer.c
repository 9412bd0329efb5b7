// SPDX-License-Identifier: GPL-2.0
/* Replaces lens_answer(): no task is ever inside it (scenarios 1 and 4). */
static int livepatch_lens_answer(void)
{
	return 42;
}

#define LENS_FUNCS { .old_name = "lens_answer", .new_func = livepatch_lens_answer },
#include "lens_lp.h"
