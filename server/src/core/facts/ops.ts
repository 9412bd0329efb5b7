/**
 * Kernel APIs that act on shared state, as data: adding an API is one line.
 * Each entry says what the call does to which argument: `res` is the index of
 * the argument naming the resource (its address is taken with & or it is a
 * pointer), `amount` the index of the argument giving the amount, if any.
 */

export type EffectOp =
  | 'inc' // counter up (++, +=, atomic_inc, refcount_inc, kref_get, *_get)
  | 'dec' // counter down (--, -=, atomic_dec, refcount_dec, kref_put, *_put)
  | 'lock' // lock taken (spin_lock, mutex_lock, down, rcu_read_lock...)
  | 'unlock'
  | 'alloc' // object allocated (kmalloc, kzalloc, kmem_cache_alloc...)
  | 'free' // object freed (kfree, kmem_cache_free, vfree...)
  | 'list-add' // object linked into a list
  | 'list-del' // object unlinked
  | 'bit-set' // flag bit set (set_bit, |=)
  | 'bit-clear' // flag bit cleared (clear_bit, &= ~)
  | 'assign'; // plain store of a value (x->f = v)

export interface OpSpec {
  op: EffectOp;
  /** Argument naming the resource. */
  res: number;
  /** Argument giving the amount (counter step, bit number). */
  amount?: number;
  /** Fixed amount when the API implies one. */
  fixed?: string;
}

const T: [string, OpSpec][] = [];
const add = (names: string, spec: OpSpec) => {
  for (const n of names.split(/\s+/)) if (n) T.push([n, spec]);
};

// counters
add('atomic_inc atomic64_inc atomic_long_inc local_inc percpu_counter_inc this_cpu_inc __this_cpu_inc', { op: 'inc', res: 0, fixed: '1' });
add('atomic_dec atomic64_dec atomic_long_dec local_dec percpu_counter_dec this_cpu_dec __this_cpu_dec', { op: 'dec', res: 0, fixed: '1' });
add('atomic_inc_return atomic64_inc_return atomic_long_inc_return atomic_inc_not_zero atomic_inc_and_test this_cpu_inc_return', { op: 'inc', res: 0, fixed: '1' });
add('atomic_dec_return atomic64_dec_return atomic_long_dec_return atomic_dec_and_test atomic64_dec_and_test atomic_long_dec_and_test atomic_dec_if_positive atomic_dec_and_lock', { op: 'dec', res: 0, fixed: '1' });
add('atomic_add atomic64_add atomic_long_add atomic_add_return atomic64_add_return atomic_long_add_return atomic_add_unless percpu_counter_add this_cpu_add', { op: 'inc', res: 1, amount: 0 });
add('atomic_sub atomic64_sub atomic_long_sub atomic_sub_return atomic64_sub_return atomic_long_sub_return atomic_sub_and_test this_cpu_sub', { op: 'dec', res: 1, amount: 0 });
add('refcount_inc refcount_inc_not_zero kref_get kref_get_unless_zero percpu_ref_get percpu_ref_tryget get_device get_task_struct sock_hold dget mntget get_file', { op: 'inc', res: 0, fixed: '1' });
add('refcount_dec refcount_dec_and_test refcount_dec_not_one refcount_dec_if_one kref_put percpu_ref_put put_device put_task_struct sock_put dput mntput fput', { op: 'dec', res: 0, fixed: '1' });
add('refcount_add refcount_add_not_zero', { op: 'inc', res: 1, amount: 0 });
add('refcount_sub_and_test', { op: 'dec', res: 1, amount: 0 });

// locks
add(
  'spin_lock spin_lock_bh spin_lock_irq spin_lock_irqsave spin_trylock raw_spin_lock raw_spin_lock_irq raw_spin_lock_irqsave mutex_lock mutex_lock_interruptible mutex_lock_killable mutex_trylock down down_interruptible down_killable down_trylock down_read down_write down_read_trylock down_write_trylock read_lock read_lock_bh read_lock_irqsave write_lock write_lock_bh write_lock_irq write_lock_irqsave spin_lock_nested mutex_lock_nested write_seqlock read_seqbegin',
  { op: 'lock', res: 0 },
);
add(
  'spin_unlock spin_unlock_bh spin_unlock_irq spin_unlock_irqrestore raw_spin_unlock raw_spin_unlock_irq raw_spin_unlock_irqrestore mutex_unlock up up_read up_write read_unlock read_unlock_bh read_unlock_irqrestore write_unlock write_unlock_bh write_unlock_irq write_unlock_irqrestore write_sequnlock read_seqretry',
  { op: 'unlock', res: 0 },
);
add('rcu_read_lock rcu_read_lock_bh rcu_read_lock_sched srcu_read_lock local_irq_disable local_bh_disable preempt_disable', { op: 'lock', res: -1 });
add('rcu_read_unlock rcu_read_unlock_bh rcu_read_unlock_sched srcu_read_unlock local_irq_enable local_bh_enable preempt_enable', { op: 'unlock', res: -1 });

// allocation
add('kmalloc kzalloc kcalloc kmalloc_array kvmalloc kvzalloc vmalloc vzalloc kmem_cache_alloc kmem_cache_zalloc kmalloc_node kzalloc_node devm_kzalloc devm_kmalloc kmemdup kstrdup alloc_percpu', { op: 'alloc', res: -2 });
add('kfree kvfree vfree kfree_sensitive kfree_rcu free_percpu', { op: 'free', res: 0 });
add('kmem_cache_free', { op: 'free', res: 1 });

// lists
add('list_add list_add_tail list_add_rcu list_add_tail_rcu hlist_add_head hlist_add_head_rcu hlist_add_before hlist_add_behind list_move list_move_tail llist_add', { op: 'list-add', res: 0 });
add('list_del list_del_init list_del_rcu hlist_del hlist_del_init hlist_del_rcu list_del_init_careful', { op: 'list-del', res: 0 });

// bits
add('set_bit __set_bit test_and_set_bit __test_and_set_bit set_bit_lock', { op: 'bit-set', res: 1, amount: 0 });
add('clear_bit __clear_bit test_and_clear_bit __test_and_clear_bit clear_bit_unlock', { op: 'bit-clear', res: 1, amount: 0 });

export const OPS: ReadonlyMap<string, OpSpec> = new Map(T);

/** Paired operations: what undoes what. */
export const PAIR: Record<EffectOp, EffectOp | undefined> = {
  inc: 'dec',
  dec: 'inc',
  lock: 'unlock',
  unlock: 'lock',
  alloc: 'free',
  free: 'alloc',
  'list-add': 'list-del',
  'list-del': 'list-add',
  'bit-set': 'bit-clear',
  'bit-clear': 'bit-set',
  assign: undefined,
};

/** Calls that may sleep (a task can be parked inside them). */
export const SLEEPERS = new Set(
  'schedule schedule_timeout schedule_timeout_interruptible schedule_timeout_uninterruptible schedule_timeout_killable io_schedule msleep msleep_interruptible ssleep usleep_range fsleep wait_event wait_event_interruptible wait_event_timeout wait_event_interruptible_timeout wait_event_killable wait_for_completion wait_for_completion_interruptible wait_for_completion_timeout wait_for_completion_killable mutex_lock mutex_lock_interruptible mutex_lock_killable down down_interruptible down_killable down_read down_write synchronize_rcu synchronize_srcu flush_work flush_workqueue cancel_work_sync cancel_delayed_work_sync kthread_parkme freezable_schedule wait_var_event'.split(' '),
);

/** Macros whose expansion embeds __LINE__ (WARN/BUG tables, might_sleep, lockdep, printk index). */
export const LINE_USERS = /^(WARN|WARN_ON|WARN_ON_ONCE|WARN_ONCE|WARN_RATELIMIT|BUG|BUG_ON|might_sleep|might_sleep_if|might_fault|might_resched|lockdep_\w+|RCU_LOCKDEP_WARN|btrfs_abort_transaction|btrfs_handle_fs_error|btrfs_panic|__might_sleep)$/;

/** Macros that create hidden static state (once flags, ratelimit state, lockdep class keys). */
export const ONCE_MACROS = /^(WARN_ONCE|WARN_ON_ONCE|printk_once|printk_deferred_once|pr_\w+_once|dev_\w+_once|netdev_\w+_once|DO_ONCE|DO_ONCE_LITE|DO_ONCE_LITE_IF|printk_ratelimited|pr_\w+_ratelimited|dev_\w+_ratelimited|net_ratelimit|net_\w+_ratelimited|WARN_RATELIMIT)$/;
export const LOCKDEP_INITS = /^(spin_lock_init|raw_spin_lock_init|mutex_init|init_rwsem|init_waitqueue_head|seqcount_init|seqlock_init|rwlock_init|init_completion|lockdep_set_class|__mutex_init|timer_setup|INIT_WORK|INIT_DELAYED_WORK)$/;

/** Jump-label users: each leaves an entry in __jump_table for the key. */
export const JUMP_LABELS = /^(static_branch_likely|static_branch_unlikely|static_key_true|static_key_false|static_branch_maybe|likely_static_branch)$/;
/** Calls that change a key's state (no __jump_table entry in the caller). */
export const KEY_UPDATES = /^(static_branch_enable|static_branch_disable|static_branch_inc|static_branch_dec|static_key_enable|static_key_disable|static_key_slow_inc|static_key_slow_dec|static_branch_enable_cpuslocked|static_branch_disable_cpuslocked)$/;
/** Dynamic debug: a jump label per call site when CONFIG_DYNAMIC_DEBUG and CONFIG_JUMP_LABEL are on. */
export const DYNAMIC_DEBUG = /^(pr_debug|dev_dbg|netdev_dbg|netif_dbg|dynamic_pr_debug|dynamic_dev_dbg|print_hex_dump_debug|ibdev_dbg|drm_dbg\w*|pr_devel)$/;
/** Tracepoints: trace_<event>() tests the event's static key. */
export const TRACEPOINT = /^trace_[a-z0-9_]+$/;
