/* SPDX-License-Identifier: GPL-2.0 */
/* What the test target module shares with the test livepatches. */
#ifndef LENS_TARGET_H
#define LENS_TARGET_H
#include <linux/wait.h>

struct lens_shared {
	wait_queue_head_t wq;
	int wake;
	unsigned long reads;
};

extern struct lens_shared lens_shared;

/* The patch targets (noinline in lens_target.c). */
int lens_answer(void);
int lens_sleep_f(void);
int lens_sleep_outer(void);
void lens_busy_g(void);
#endif
