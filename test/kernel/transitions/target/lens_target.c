// SPDX-License-Identifier: GPL-2.0
/*
 * lens_target: the module the transition tests livepatch. Its functions are
 * noinline (and traceable) so each is a patch target of its own:
 *
 *   /proc/lens_target/answer  read: lens_answer() (41 here, 42 patched)
 *   /proc/lens_target/sleep   read: lens_sleep_outer() -> lens_sleep_f(), which
 *                             sleeps interruptibly until "wake" is written
 *   /proc/lens_target/ctl     write: "wake", "sleep" (re-arm), "busy" (a
 *                             kthread on CPU 1 spinning in lens_busy_g() with
 *                             cond_resched()), "stop" (stops it)
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/proc_fs.h>
#include <linux/uaccess.h>
#include <linux/kthread.h>
#include <linux/delay.h>
#include <linux/sched.h>
#include <linux/string.h>
#include "lens_target.h"

struct lens_shared lens_shared;
EXPORT_SYMBOL_GPL(lens_shared);

static struct proc_dir_entry *dir;
static struct task_struct *busy;

noinline int lens_answer(void)
{
	return 41;
}

noinline int lens_sleep_f(void)
{
	int ret = wait_event_interruptible(lens_shared.wq, READ_ONCE(lens_shared.wake));

	return ret ? ret : 1;
}

noinline int lens_sleep_outer(void)
{
	int ret = lens_sleep_f();

	if (ret > 0)
		lens_shared.reads++;
	return ret;
}

noinline void lens_busy_g(void)
{
	udelay(500);
	cond_resched();
}

static int lens_busy_fn(void *unused)
{
	while (!kthread_should_stop())
		lens_busy_g();
	return 0;
}

static ssize_t answer_read(struct file *f, char __user *buf, size_t n, loff_t *pos)
{
	char s[16];
	int len = scnprintf(s, sizeof(s), "%d\n", lens_answer());

	return simple_read_from_buffer(buf, n, pos, s, len);
}

static ssize_t sleep_read(struct file *f, char __user *buf, size_t n, loff_t *pos)
{
	int ret;

	if (*pos)
		return 0;
	ret = lens_sleep_outer();
	if (ret < 0)
		return ret;
	return simple_read_from_buffer(buf, n, pos, "woken\n", 6);
}

static ssize_t ctl_write(struct file *f, const char __user *buf, size_t n, loff_t *pos)
{
	char s[16] = {};

	if (copy_from_user(s, buf, min(n, sizeof(s) - 1)))
		return -EFAULT;
	if (!strncmp(s, "wake", 4)) {
		WRITE_ONCE(lens_shared.wake, 1);
		wake_up_all(&lens_shared.wq);
	} else if (!strncmp(s, "sleep", 5)) {
		WRITE_ONCE(lens_shared.wake, 0);
	} else if (!strncmp(s, "busy", 4) && !busy) {
		busy = kthread_create(lens_busy_fn, NULL, "lens_busy");
		if (IS_ERR(busy)) {
			busy = NULL;
			return -ENOMEM;
		}
		kthread_bind(busy, 1);
		wake_up_process(busy);
	} else if (!strncmp(s, "stop", 4) && busy) {
		kthread_stop(busy);
		busy = NULL;
	} else {
		return -EINVAL;
	}
	return n;
}

static const struct proc_ops answer_ops = { .proc_read = answer_read };
static const struct proc_ops sleep_ops = { .proc_read = sleep_read };
static const struct proc_ops ctl_ops = { .proc_write = ctl_write };

static int __init lens_target_init(void)
{
	init_waitqueue_head(&lens_shared.wq);
	dir = proc_mkdir("lens_target", NULL);
	if (!dir)
		return -ENOMEM;
	proc_create("answer", 0444, dir, &answer_ops);
	proc_create("sleep", 0444, dir, &sleep_ops);
	proc_create("ctl", 0200, dir, &ctl_ops);
	return 0;
}

static void __exit lens_target_exit(void)
{
	if (busy)
		kthread_stop(busy);
	proc_remove(dir);
}

module_init(lens_target_init);
module_exit(lens_target_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Livepatch Lens transition-test target");
