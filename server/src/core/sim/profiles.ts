/**
 * Built-in machines for the simulator: realistic task populations of a Linux
 * 6.1 box, as ModelSpecs. A patch (and the tasks derived from it, see
 * fromPatch.ts) is dropped into one of them to preview its transition.
 *
 * How programs are written (the engine's reading, see types.ts):
 * - a task repeats its program; a `user` segment empties the kernel stack (the
 *   end of a kernel entry episode), so two system calls are always separated
 *   by a `user` segment;
 * - consecutive kernel/sleep segments that share a chain prefix keep those
 *   activations (the function did not return): a syscall that runs, sleeps
 *   and runs again names the same chain up to the function that sleeps;
 * - every segment of a kthread starts with `['kthread', <its thread function>]`
 *   (kthreadd: `['kthreadd']`), so its main loop never leaves the stack;
 * - sleep chains end in the scheduler (`schedule`, `__schedule`), like a real
 *   trace of a task that is off the CPU.
 *
 * Sleep states follow what `ps` shows on 6.1: TASK_IDLE ("I": idle kworkers,
 * rescuers, the RCU grace-period kthread) is uninterruptible to livepatch's
 * fake signal, so it is modelled as `uninterruptible`. The 6.1 freezer rework
 * made futex waits and nanosleep TASK_FREEZABLE; freezable kthread waits are
 * wait_event_freezable*() and xfsaild's TASK_FREEZABLE sleep.
 *
 * Function names are those of x86_64 6.1 kernels; for other kernel profiles
 * and for ppc32 the entry, syscall wrapper and interrupt frames are renamed
 * (namingFor). Nothing here is random: the engine draws the durations.
 */
import { PROFILE_NAMES, type ArchProfile, type Dist, type IrqSpec, type KernelProfile, type ModelSpec, type PatchSpec, type Segment, type TaskSpec } from './types';
import { kernelNumber } from '../kernelVersion';

export { PROFILE_NAMES };
export type ProfileName = (typeof PROFILE_NAMES)[number];

export interface ProfileOptions {
  /** The patched set and its data-semantics flags (default: no functions). */
  patch?: PatchSpec;
  /** Tasks appended to the machine's own (the tasks derived from the patch). */
  extraTasks?: TaskSpec[];
  /** Kernel version profile (default 6.1). */
  kernel?: KernelProfile;
  /** Multiplies the counts of the task groups (default 1): a fleet can model smaller machines. Per-CPU kthreads and single tasks stay. */
  scale?: number;
}

type SleepState = 'interruptible' | 'uninterruptible' | 'killable';
type Chain = string[];

// ---------------------------------------------------------------- chains

const SCHED = ['schedule', '__schedule'];
export const SYSCALL_ENTRY = ['entry_SYSCALL_64', 'do_syscall_64'];
/** A system call's chain on x86_64 6.1: entry, do_syscall_64, the __x64_sys_ wrapper, then the named functions. */
export const sys = (name: string, ...rest: string[]): Chain => [...SYSCALL_ENTRY, `__x64_sys_${name}`, ...rest];
/** A kthread's chain: kthread(), its thread function, then the named functions. */
export const kth = (fn: string, ...rest: string[]): Chain => ['kthread', fn, ...rest];
/** A page fault taken in user mode (a kernel entry of its own). */
export const FAULT = ['asm_exc_page_fault', 'exc_page_fault', 'do_user_addr_fault', 'handle_mm_fault', '__handle_mm_fault'];

const EPOLL_WAIT = sys('epoll_wait', 'do_epoll_wait', 'ep_poll', 'schedule_hrtimeout_range', 'schedule_hrtimeout_range_clock');
const EPOLL_PWAIT = sys('epoll_pwait', 'do_epoll_pwait', 'do_epoll_wait', 'ep_poll', 'schedule_hrtimeout_range', 'schedule_hrtimeout_range_clock');
const FUTEX_WAIT = sys('futex', 'do_futex', 'futex_wait', 'futex_wait_queue');
const NANOSLEEP = sys('clock_nanosleep', 'common_nsleep', 'hrtimer_nanosleep', 'do_nanosleep');
const PPOLL = sys('ppoll', 'do_sys_poll', 'do_poll', 'poll_schedule_timeout', 'schedule_hrtimeout_range', 'schedule_hrtimeout_range_clock');
const PSELECT = sys('pselect6', 'do_pselect', 'core_sys_select', 'do_select', 'poll_schedule_timeout', 'schedule_hrtimeout_range', 'schedule_hrtimeout_range_clock');
const TTY_READ = sys('read', 'ksys_read', 'vfs_read', 'tty_read', 'iterate_tty_read', 'n_tty_read');
const WAIT4 = sys('wait4', 'kernel_wait4', 'do_wait');
const UNIX_RECV = sys('recvmsg', '__sys_recvmsg', '___sys_recvmsg', '____sys_recvmsg', 'sock_recvmsg', 'unix_stream_recvmsg', 'unix_stream_read_generic');
const UNIX_DGRAM_RECV = sys('recvmsg', '__sys_recvmsg', '___sys_recvmsg', '____sys_recvmsg', 'sock_recvmsg', 'unix_dgram_recvmsg', '__unix_dgram_recvmsg');
const UNIX_SEND = sys('sendmsg', '__sys_sendmsg', '___sys_sendmsg', '____sys_sendmsg', 'sock_sendmsg', 'unix_stream_sendmsg');
const UDP_RECV = sys('recvmsg', '__sys_recvmsg', '___sys_recvmsg', '____sys_recvmsg', 'sock_recvmsg', 'inet_recvmsg', 'udp_recvmsg');
const TCP_RECV = sys('recvfrom', '__sys_recvfrom', 'sock_recvmsg', 'inet_recvmsg', 'tcp_recvmsg', 'tcp_recvmsg_locked');
const TCP_READ = sys('read', 'ksys_read', 'vfs_read', 'sock_read_iter', 'sock_recvmsg', 'inet_recvmsg', 'tcp_recvmsg', 'tcp_recvmsg_locked');
const TCP_SEND = sys('sendto', '__sys_sendto', 'sock_sendmsg', 'inet_sendmsg', 'tcp_sendmsg', 'tcp_sendmsg_locked');
const TCP_WRITEV = sys('writev', 'do_writev', 'vfs_writev', 'do_iter_write', 'do_iter_readv_writev', 'sock_write_iter', 'sock_sendmsg', 'inet_sendmsg', 'tcp_sendmsg', 'tcp_sendmsg_locked');
const TCP_XMIT = ['tcp_push', '__tcp_push_pending_frames', 'tcp_write_xmit', '__tcp_transmit_skb', '__ip_queue_xmit', 'ip_finish_output2', '__dev_queue_xmit'];
const ACCEPT = sys('accept4', '__sys_accept4', '__sys_accept4_file', 'do_accept', 'inet_accept', 'inet_csk_accept');
const UNIX_ACCEPT = sys('accept', '__sys_accept4', '__sys_accept4_file', 'do_accept', 'unix_accept');
const OPENAT = sys('openat', 'do_sys_openat2', 'do_filp_open', 'path_openat');
const STATX = sys('newfstatat', 'vfs_fstatat', 'vfs_statx', 'filename_lookup', 'path_lookupat');
const CLOSE = sys('close', 'close_fd', 'filp_close');
const EXT4_WRITE = sys('write', 'ksys_write', 'vfs_write', 'ext4_file_write_iter', 'ext4_buffered_write_iter', 'generic_perform_write');
const EXT4_WRITEV = sys('writev', 'do_writev', 'vfs_writev', 'do_iter_write', 'do_iter_readv_writev', 'ext4_file_write_iter', 'ext4_buffered_write_iter', 'generic_perform_write');
const EXT4_READ = sys('read', 'ksys_read', 'vfs_read', 'ext4_file_read_iter', 'generic_file_read_iter', 'filemap_read');
const XFS_PREAD = sys('pread64', 'ksys_pread64', 'vfs_read', 'xfs_file_read_iter', 'xfs_file_buffered_read', 'filemap_read');
const XFS_PWRITE = sys('pwrite64', 'ksys_pwrite64', 'vfs_write', 'xfs_file_write_iter', 'xfs_file_buffered_write', 'iomap_file_buffered_write');
const SEQ_READ = sys('read', 'ksys_read', 'vfs_read', 'seq_read', 'seq_read_iter');
const INOTIFY_READ = sys('read', 'ksys_read', 'vfs_read', 'inotify_read', 'wait_woken', 'schedule_timeout');
const KMSG_READ = sys('read', 'ksys_read', 'vfs_read', 'proc_reg_read', 'kmsg_read', 'do_syslog', 'syslog_print');
const MMAP = sys('mmap', 'ksys_mmap_pgoff', 'vm_mmap_pgoff', 'do_mmap', 'mmap_region');
const ANON_FAULT = [...FAULT, 'handle_pte_fault', 'do_anonymous_page'];
/** Waiting for a page-cache read (filemap_update_page → folio_put_wait_locked, TASK_KILLABLE). */
const FOLIO_WAIT_READ = ['filemap_get_pages', 'filemap_update_page', 'folio_put_wait_locked', 'folio_wait_bit_common', 'io_schedule'];
/** Waiting for writeback of a range (fsync, sync_file_range). */
const FDATAWAIT = ['file_write_and_wait_range', 'filemap_fdatawait_range', '__filemap_fdatawait_range', 'folio_wait_writeback', 'folio_wait_bit', 'folio_wait_bit_common', 'io_schedule'];
/** The XFS log force an fsync waits for. */
const XLOG_WAIT = ['xfs_file_fsync', 'xfs_log_force_seq', 'xlog_force_lsn', 'xlog_wait_on_iclog', 'xlog_wait'];

// ---------------------------------------------------------------- segments

const user = (ms: Dist): Segment => ({ user: ms });
const run = (kernel: Chain, ms: Dist, condResched?: number): Segment => (condResched === undefined ? { kernel, ms } : { kernel, ms, condResched });
const sleep = (chain: Chain, ms: Dist, state: SleepState, freezable = false): Segment => ({ sleep: [...chain, ...SCHED], ms, state, ...(freezable ? { freezable: true } : {}) });
const I: SleepState = 'interruptible';
const D: SleepState = 'uninterruptible';
const K: SleepState = 'killable';

// ---------------------------------------------------------------- naming per kernel and arch

type Rename = (frame: string) => string;


/**
 * Frame names differ across kernels and arches: __x64_sys_ wrappers exist from
 * 4.17, the asm_ interrupt entries from 5.8; ppc32 has its own entry code.
 * The names the patch uses are renamed the same way, so they keep matching.
 */
export function namingFor(kernel: KernelProfile, arch: string): Rename {
  const v = kernelNumber(kernel);
  if (arch === 'ppc32') {
    const map: Record<string, string> = {
      entry_SYSCALL_64: 'transfer_to_syscall',
      do_syscall_64: 'system_call_exception',
      asm_exc_page_fault: 'DataAccess',
      exc_page_fault: 'do_page_fault',
      do_user_addr_fault: '___do_page_fault',
    };
    return (f) => map[f] ?? f.replace(/^__x64_sys_/, 'sys_');
  }
  const map: Record<string, string> = {};
  if (v < 508) {
    Object.assign(map, {
      asm_sysvec_apic_timer_interrupt: 'apic_timer_interrupt',
      sysvec_apic_timer_interrupt: 'smp_apic_timer_interrupt',
      __sysvec_apic_timer_interrupt: 'local_apic_timer_interrupt',
      asm_common_interrupt: 'common_interrupt',
      common_interrupt: 'do_IRQ',
      __common_interrupt: 'handle_irq',
      asm_exc_page_fault: 'page_fault',
      exc_page_fault: 'do_page_fault',
      do_user_addr_fault: '__do_page_fault',
    });
  }
  return (f) => {
    const m = map[f];
    if (m) return m;
    return v < 417 ? f.replace(/^__x64_sys_/, 'sys_') : f;
  };
}

function renameSegment(s: Segment, r: Rename): Segment {
  if ('kernel' in s) return { ...s, kernel: s.kernel.map(r) };
  if ('sleep' in s) return { ...s, sleep: s.sleep.map(r) };
  if ('fork' in s) return { fork: { ...s.fork, program: s.fork.program.map((x) => renameSegment(x, r)) } };
  return s;
}

function renameTask(t: TaskSpec, r: Rename): TaskSpec {
  return { ...t, program: t.program.map((s) => renameSegment(s, r)) };
}

function renamePatch(p: PatchSpec, r: Rename): PatchSpec {
  const out: PatchSpec = { ...p, functions: p.functions.map(r) };
  if (p.sharedData) out.sharedData = p.sharedData.map(([a, b]) => [r(a), r(b)]);
  if (p.traced) out.traced = p.traced.map(r);
  return out;
}

// ---------------------------------------------------------------- task builder

class Tasks {
  readonly list: TaskSpec[] = [];
  constructor(private readonly scale: number) {}

  /** One task, or a group of `count` (scaled, at least 1) identical ones. */
  user(name: string, program: Segment[], count = 1): void {
    this.push({ name, kind: 'user', program }, count);
  }

  kthread(name: string, program: Segment[], count = 1): void {
    this.push({ name, kind: 'kthread', program }, count);
  }

  /** A per-CPU kthread: one task pinned to each CPU (never scaled). */
  perCpu(name: (cpu: number) => string, cpus: number, program: (cpu: number) => Segment[]): void {
    for (let c = 0; c < cpus; c++) this.list.push({ name: name(c), kind: 'kthread', cpu: c, program: program(c) });
  }

  private push(t: TaskSpec, count: number): void {
    const n = count > 1 ? Math.max(1, Math.round(count * this.scale)) : 1;
    this.list.push(n > 1 ? { ...t, count: n } : t);
  }
}

// ---------------------------------------------------------------- shared pieces

/** The per-CPU kthreads every SMP box has. `busy` raises softirq and migration activity. */
function perCpuKthreads(t: Tasks, cpus: number, busy: boolean, softirq: Chain, extraWorkers: 'none' | 'highpri' | 'blk'): void {
  t.perCpu((c) => `cpuhp/${c}`, cpus, () => [sleep(kth('smpboot_thread_fn'), { exp: 600000 }, I)]);
  t.perCpu((c) => `migration/${c}`, cpus, () => [sleep(kth('smpboot_thread_fn'), { exp: busy ? 200 : 5000 }, I), run(kth('smpboot_thread_fn', 'cpu_stopper_thread', 'migration_cpu_stop', 'move_queued_task'), 0.01)]);
  t.perCpu((c) => `ksoftirqd/${c}`, cpus, () => [sleep(kth('smpboot_thread_fn'), { exp: busy ? 20 : 3000 }, I), run(kth('smpboot_thread_fn', 'run_ksoftirqd', '__do_softirq', ...softirq), { exp: busy ? 0.5 : 0.05 })]);
  t.perCpu((c) => `kworker/${c}:0`, cpus, () => [
    sleep(kth('worker_thread'), { exp: 1000 }, D),
    run(kth('worker_thread', 'process_one_work', 'vmstat_update', 'refresh_cpu_vm_stats'), 0.02),
    sleep(kth('worker_thread'), { exp: 1000 }, D),
    run(kth('worker_thread', 'process_one_work', 'lru_add_drain_per_cpu', 'lru_add_drain'), 0.01),
  ]);
  t.perCpu((c) => `kworker/${c}:1`, cpus, () => [sleep(kth('worker_thread'), { exp: busy ? 100 : 4000 }, D), run(kth('worker_thread', 'process_one_work', 'psi_avgs_work', 'collect_percpu_times'), 0.01)]);
  if (extraWorkers === 'highpri') t.perCpu((c) => `kworker/${c}:0H`, cpus, () => [sleep(kth('worker_thread'), { exp: 60000 }, D), run(kth('worker_thread', 'process_one_work', 'flush_backlog'), 0.01)]);
  if (extraWorkers === 'blk') {
    t.perCpu((c) => `kworker/${c}:1H`, cpus, () => [sleep(kth('worker_thread'), { exp: 50 }, D), run(kth('worker_thread', 'process_one_work', 'blk_mq_run_work_fn', '__blk_mq_run_hw_queue', 'blk_mq_sched_dispatch_requests', '__blk_mq_sched_dispatch_requests', 'blk_mq_dispatch_rq_list', 'scsi_queue_rq'), 0.02)]);
  }
}

/** Kthreads of any 6.1 box (memory management, RCU, watchdogs, workqueue rescuers). */
function coreKthreads(t: Tasks, opts: { numaNodes: number; rootJournal: string; unbound: string; unboundCount: number; busy: boolean }): void {
  t.list.push({ name: 'kthreadd', kind: 'kthread', program: [sleep(['kthreadd'], { exp: opts.busy ? 5000 : 60000 }, I), run(['kthreadd', 'create_kthread', 'kernel_thread', 'kernel_clone', 'copy_process'], 0.05)] });
  t.kthread('rcu_preempt', [
    sleep(kth('rcu_gp_kthread'), { exp: opts.busy ? 5 : 40 }, D),
    run(kth('rcu_gp_kthread', 'rcu_gp_init'), 0.01),
    sleep(kth('rcu_gp_kthread', 'rcu_gp_fqs_loop', 'schedule_timeout'), 3, D),
    run(kth('rcu_gp_kthread', 'rcu_gp_fqs_loop', 'rcu_gp_fqs', 'force_qs_rnp'), 0.01),
    run(kth('rcu_gp_kthread', 'rcu_gp_cleanup'), 0.01),
  ]);
  t.kthread('rcu_tasks_kthread', [sleep(kth('rcu_tasks_kthread'), { exp: 60000 }, D)]);
  for (let n = 0; n < opts.numaNodes; n++) {
    t.kthread(`kswapd${n}`, [sleep(kth('kswapd', 'kswapd_try_to_sleep'), { exp: 120000 }, I), run(kth('kswapd', 'balance_pgdat', 'kswapd_shrink_node', 'shrink_node'), { exp: 5 }, 0.5)]);
    t.kthread(`kcompactd${n}`, [sleep(kth('kcompactd', 'schedule_timeout'), 500, I, true), run(kth('kcompactd', 'kcompactd_do_work'), 0.05)]);
  }
  t.kthread('khugepaged', [sleep(kth('khugepaged', 'khugepaged_wait_work', 'schedule_timeout'), 10000, I, true), run(kth('khugepaged', 'khugepaged_do_scan', 'khugepaged_scan_mm_slot', 'hpage_collapse_scan_pmd'), { exp: 3 }, 0.5)]);
  t.kthread('khungtaskd', [sleep(kth('watchdog', 'schedule_timeout_interruptible', 'schedule_timeout'), 120000, I), run(kth('watchdog', 'check_hung_uninterruptible_tasks'), 0.2)]);
  t.kthread('oom_reaper', [sleep(kth('oom_reaper'), { exp: 600000 }, I, true)]);
  t.kthread('kauditd', [sleep(kth('kauditd_thread'), { exp: 30000 }, I, true), run(kth('kauditd_thread', 'kauditd_send_queue', 'netlink_unicast'), 0.02)]);
  t.kthread('kblockd', [sleep(kth('rescuer_thread'), { exp: 600000 }, D)]);
  t.kthread('mm_percpu_wq', [sleep(kth('rescuer_thread'), { exp: 600000 }, D)]);
  t.kthread(`jbd2/${opts.rootJournal}-8`, [
    sleep(kth('kjournald2'), { exp: 5000 }, I),
    run(kth('kjournald2', 'jbd2_journal_commit_transaction'), { exp: 0.5 }),
    sleep(kth('kjournald2', 'jbd2_journal_commit_transaction', '__wait_on_buffer', 'out_of_line_wait_on_bit', '__wait_on_bit', 'bit_wait_io', 'io_schedule'), { exp: 2 }, D),
    run(kth('kjournald2', 'jbd2_journal_commit_transaction', 'jbd2_journal_write_metadata_buffer'), 0.05),
  ]);
  t.kthread(`ext4-rsv-conver`, [sleep(kth('rescuer_thread'), { exp: 600000 }, D)]);
  t.kthread(
    opts.unbound,
    [
      sleep(kth('worker_thread'), { exp: opts.busy ? 200 : 5000 }, D),
      run(kth('worker_thread', 'process_one_work', 'wb_workfn', 'wb_do_writeback', 'wb_writeback', '__writeback_inodes_wb', 'writeback_sb_inodes', '__writeback_single_inode', 'do_writepages', 'ext4_writepages'), { exp: 1 }, 0.5),
      sleep(kth('worker_thread'), { exp: opts.busy ? 200 : 5000 }, D),
      run(kth('worker_thread', 'process_one_work', 'flush_to_ldisc', 'tty_port_default_receive_buf'), 0.01),
    ],
    opts.unboundCount,
  );
}

/** The system daemons of a systemd server. */
function systemDaemons(t: Tasks, opts: { interactive: boolean }): void {
  t.user('systemd', [sleep(EPOLL_WAIT, { exp: 10000 }, I), run(UNIX_RECV, 0.03), user({ exp: 0.3 }), run(OPENAT, 0.02), user({ exp: 0.2 }), run(sys('waitid', 'kernel_waitid', 'do_wait'), 0.01), user(0.1)]);
  t.user('systemd-journal', [sleep(EPOLL_WAIT, { exp: 2000 }, I), run(UNIX_DGRAM_RECV, 0.02), user({ exp: 0.2 }), run(EXT4_WRITEV, { exp: 0.05 }), user(0.1)]);
  t.user('systemd-udevd', [sleep(EPOLL_WAIT, { exp: 60000 }, I), run(sys('recvmsg', '__sys_recvmsg', '___sys_recvmsg', '____sys_recvmsg', 'sock_recvmsg', 'netlink_recvmsg'), 0.02), user(0.5)]);
  t.user('systemd-logind', [sleep(EPOLL_WAIT, { exp: 30000 }, I), run(UNIX_RECV, 0.02), user(0.2)]);
  t.user('systemd-network', [sleep(EPOLL_WAIT, { exp: 30000 }, I), run(sys('recvmsg', '__sys_recvmsg', '___sys_recvmsg', '____sys_recvmsg', 'sock_recvmsg', 'netlink_recvmsg'), 0.02), user(0.2)]);
  t.user('systemd-resolve', [sleep(EPOLL_WAIT, { exp: 5000 }, I), run(UDP_RECV, 0.02), user(0.1), run(sys('sendmsg', '__sys_sendmsg', '___sys_sendmsg', '____sys_sendmsg', 'sock_sendmsg', 'udp_sendmsg'), 0.02), user(0.1)]);
  t.user('systemd-timesyn', [sleep(EPOLL_WAIT, { exp: 32000 }, I), run(UDP_RECV, 0.02), user(0.1)]);
  t.user('dbus-daemon', [sleep(EPOLL_WAIT, { exp: 10000 }, I), run(UNIX_RECV, 0.02), user({ exp: 0.1 }), run(UNIX_SEND, 0.02), user(0.05)]);
  t.user('sshd', [sleep(PSELECT, { exp: 120000 }, I), run(ACCEPT, 0.01), user(0.2), run(sys('clone', 'kernel_clone', 'copy_process'), 0.2), user(0.1)]);
  t.user('cron', [sleep(NANOSLEEP, { uniform: [1000, 60000] }, I, true), run(STATX, 0.01), user(0.1)]);
  t.user('rsyslogd', [sleep(PSELECT, { exp: 30000 }, I), user(0.05)]);
  t.user('rs:main Q:Reg', [sleep(FUTEX_WAIT, { exp: 3000 }, I, true), user(0.05), run(EXT4_WRITE, { exp: 0.03 }), user(0.02)]);
  t.user('in:imuxsock', [sleep([...UNIX_DGRAM_RECV, '__skb_wait_for_more_packets', 'schedule_timeout'], { exp: 3000 }, I), run(UNIX_DGRAM_RECV, 0.01), user(0.02), run(sys('futex', 'do_futex', 'futex_wake'), 0.005), user(0.01)]);
  t.user('in:imklog', [sleep(KMSG_READ, { exp: 60000 }, I), run(KMSG_READ, 0.02), user(0.05)]);
  t.user('chronyd', [sleep(PSELECT, { exp: 2000 }, I), run(UDP_RECV, 0.02), user(0.1), run(sys('clock_adjtime', 'do_clock_adjtime', 'do_adjtimex'), 0.01), user(0.05)]);
  t.user('irqbalance', [sleep(NANOSLEEP, 10000, I, true), run(SEQ_READ.concat('show_interrupts'), 0.5), user(2)]);
  t.user('polkitd', [sleep(PPOLL, { exp: 60000 }, I), user(0.1)]);
  t.user('gmain', [sleep(PPOLL, { exp: 60000 }, I), user(0.05)], 2);
  t.user('node_exporter', [sleep(FUTEX_WAIT, { exp: 5000 }, I, true), user({ exp: 0.5 }), run(SEQ_READ, { exp: 0.2 }), user({ exp: 0.3 })], 6);
  t.user('node_exporter-net', [sleep(EPOLL_PWAIT, { exp: 15000 }, I), run(TCP_READ, 0.02), user(1), run(TCP_WRITEV, 0.05), user(0.1)]);
  t.user('atd', [sleep(NANOSLEEP, 3600000, I, true)]);
  t.user('agetty', [sleep([...TTY_READ, 'wait_woken', 'schedule_timeout'], { exp: 600000 }, I)]);
  if (opts.interactive) {
    t.user('sshd-session', [sleep(PPOLL, { exp: 5000 }, I), run(TTY_READ, 0.01), user(0.05), run(TCP_WRITEV, 0.02), user(0.05)]);
    t.user('bash', [sleep([...TTY_READ, 'wait_woken', 'schedule_timeout'], { exp: 20000 }, I), run(TTY_READ, 0.01), user({ exp: 1 }), run(sys('clone', 'kernel_clone', 'copy_process'), 0.1), user(0.1)]);
    t.user('bash-waiting', [sleep(WAIT4, { exp: 30000 }, I), run(WAIT4.concat('wait_consider_task', 'release_task'), 0.01), user({ exp: 1 })]);
  }
}

const TIMER_IRQ: IrqSpec = {
  cpus: 'all',
  everyMs: 4,
  stack: ['asm_sysvec_apic_timer_interrupt', 'sysvec_apic_timer_interrupt', '__sysvec_apic_timer_interrupt', 'hrtimer_interrupt', '__hrtimer_run_queues', 'tick_sched_timer', 'tick_sched_handle', 'update_process_times', 'scheduler_tick'],
  ms: 0.005,
};

const x86 = (kernel: KernelProfile): ArchProfile => {
  const v = kernelNumber(kernel);
  // ORC from 4.14; before it the frame-pointer unwinder, reliable (objtool) from 4.12
  return { name: 'x86_64', reliableStacktrace: v >= 412, unwinder: v >= 414 ? 'orc' : 'fp', maxStackEntries: 100 };
};

// ---------------------------------------------------------------- the profiles

function idleServer(t: Tasks): Pick<ModelSpec, 'cpus' | 'irqs'> {
  const cpus = 4;
  perCpuKthreads(t, cpus, false, ['rcu_core_si', 'rcu_core', 'rcu_do_batch'], 'none');
  coreKthreads(t, { numaNodes: 1, rootJournal: 'sda1', unbound: 'kworker/u8', unboundCount: 2, busy: false });
  systemDaemons(t, { interactive: true });
  return { cpus, irqs: [{ ...TIMER_IRQ, everyMs: 10 }] };
}

const NET_RX = ['net_rx_action', '__napi_poll', 'mlx5e_napi_poll', 'mlx5e_poll_rx_cq', 'napi_gro_receive', 'gro_normal_list', 'netif_receive_skb_list_internal', '__netif_receive_skb_list_core', 'ip_list_rcv', 'ip_sublist_rcv', 'ip_sublist_rcv_finish', 'ip_local_deliver', 'ip_local_deliver_finish', 'ip_protocol_deliver_rcu', 'tcp_v4_rcv', 'tcp_v4_do_rcv', 'tcp_rcv_established'];

function webServer64(t: Tasks): Pick<ModelSpec, 'cpus' | 'irqs'> {
  const cpus = 64;
  perCpuKthreads(t, cpus, true, NET_RX, 'highpri');
  coreKthreads(t, { numaNodes: 2, rootJournal: 'nvme0n1p2', unbound: 'kworker/u128', unboundCount: 32, busy: true });
  systemDaemons(t, { interactive: false });

  // nginx: one event loop per CPU, requests served from the page cache (sendfile) and proxied to php-fpm
  t.user('nginx-master', [sleep(sys('rt_sigsuspend', 'sigsuspend'), { exp: 600000 }, I)]);
  t.user(
    'nginx-worker',
    [
      sleep(EPOLL_WAIT, { exp: 4 }, I),
      user({ exp: 0.02 }),
      run(ACCEPT, 0.005),
      user(0.01),
      run(TCP_RECV, { exp: 0.01 }),
      user({ exp: 0.08 }),
      run(UNIX_SEND, 0.01),
      user(0.01),
      run(sys('sendfile64', 'do_sendfile', 'do_splice_direct', 'splice_direct_to_actor'), { exp: 0.03 }),
      user(0.01),
      run([...TCP_WRITEV, ...TCP_XMIT], { exp: 0.03 }),
      user({ exp: 0.05 }),
      run([...CLOSE, 'fput'], 0.005),
      user(0.01),
    ],
    64,
  );
  // php-fpm: a large static pool; each child accepts a FastCGI request, runs PHP, queries the database
  t.user('php-fpm-master', [sleep(EPOLL_WAIT, { exp: 1000 }, I), user(0.05)]);
  t.user(
    'php-fpm',
    [
      sleep([...UNIX_ACCEPT, 'schedule_timeout'], { exp: 1500 }, I),
      run(UNIX_RECV, 0.01),
      user({ exp: 4 }),
      run(TCP_SEND, 0.02),
      sleep([...TCP_RECV, 'sk_wait_data', 'wait_woken', 'schedule_timeout'], { exp: 2 }, I),
      run([...TCP_RECV, 'skb_copy_datagram_iter'], 0.005),
      user({ exp: 6 }),
      run(ANON_FAULT, 0.003),
      user({ exp: 2 }),
      run(UNIX_SEND, 0.01),
      user(0.05),
    ],
    2400,
  );
  // one JVM: Tomcat executor threads parked in futex most of the time, pollers, GC, compiler, timers
  t.user(
    'http-nio-8080-exec',
    [
      sleep(FUTEX_WAIT, { exp: 1200 }, I, true),
      user({ exp: 2 }),
      run(TCP_READ, 0.01),
      user({ exp: 3 }),
      run(TCP_SEND, 0.02),
      sleep([...TCP_RECV, 'sk_wait_data', 'wait_woken', 'schedule_timeout'], { exp: 3 }, I),
      run([...TCP_RECV, 'skb_copy_datagram_iter'], 0.005),
      user({ exp: 3 }),
      run([...TCP_WRITEV, ...TCP_XMIT], 0.03),
      user(0.1),
    ],
    5200,
  );
  t.user('http-nio-8080-Poller', [sleep(EPOLL_WAIT, { exp: 2 }, I), user(0.02), run(sys('futex', 'do_futex', 'futex_wake'), 0.003), user(0.01)], 2);
  t.user('http-nio-8080-Acceptor', [sleep([...ACCEPT, 'inet_csk_wait_for_connect', 'schedule_timeout'], { exp: 5 }, I), run(ACCEPT, 0.005), user(0.02)]);
  t.user('GC Thread', [sleep(FUTEX_WAIT, { exp: 2000 }, I, true), user({ exp: 40 }), run(ANON_FAULT, 0.005), user({ exp: 20 }), run(sys('madvise', 'do_madvise', 'madvise_vma_behavior', 'zap_page_range'), 0.2), user(1)], 43);
  t.user('C2 CompilerThre', [sleep(FUTEX_WAIT, { exp: 10000 }, I, true), user({ exp: 30 }), run(MMAP, 0.02), user({ exp: 10 })], 16);
  t.user('VM Thread', [sleep(FUTEX_WAIT, { exp: 1000 }, I, true), user({ exp: 1 })]);
  t.user('java-pool', [sleep(FUTEX_WAIT, { exp: 5000 }, I, true), user({ exp: 0.5 }), run(sys('futex', 'do_futex', 'futex_wake'), 0.003), user(0.1)], 1700);
  // memcached: a worker per CPU on epoll
  t.user('memcached', [sleep(EPOLL_WAIT, { exp: 3 }, I), run(TCP_READ, 0.01), user({ exp: 0.02 }), run([...TCP_SEND, ...TCP_XMIT], 0.02), user(0.01)], 64);
  // a log shipper (Go) following the access logs
  t.user('filebeat', [sleep(FUTEX_WAIT, { exp: 1000 }, I, true), user({ exp: 0.5 }), run(EXT4_READ, { exp: 0.05 }), user({ exp: 1 }), run(TCP_SEND, 0.02), user(0.1)], 20);
  t.user('filebeat-inotify', [sleep(INOTIFY_READ, { exp: 100 }, I), run(INOTIFY_READ.slice(0, -2), 0.01), user(0.05)]);

  const rx: IrqSpec = { cpus: 'all', everyMs: 2, stack: ['asm_common_interrupt', 'common_interrupt', 'irq_exit_rcu', '__irq_exit_rcu', '__do_softirq', ...NET_RX], ms: 0.02 };
  return { cpus, irqs: [TIMER_IRQ, rx] };
}

function storageBox(t: Tasks): Pick<ModelSpec, 'cpus' | 'irqs'> {
  const cpus = 16;
  perCpuKthreads(t, cpus, true, ['blk_done_softirq', 'blk_complete_reqs', 'scsi_complete', 'scsi_finish_command', 'scsi_io_completion', 'scsi_end_request', 'blk_update_request', 'bio_endio'], 'blk');
  coreKthreads(t, { numaNodes: 1, rootJournal: 'sda2', unbound: 'kworker/u32', unboundCount: 8, busy: true });
  systemDaemons(t, { interactive: false });

  // md RAID 6 over 12 SATA disks, XFS on top (/srv), ext4 root
  t.kthread('md0_raid6', [
    sleep(kth('md_thread', 'schedule_timeout'), { exp: 5 }, I),
    run(kth('md_thread', 'raid5d', 'handle_active_stripes', 'handle_stripe', 'handle_stripe_fill'), { exp: 2 }, 0.5),
    run(kth('md_thread', 'raid5d', 'handle_active_stripes', 'handle_stripe', 'ops_run_io', 'submit_bio_noacct'), 0.05),
  ]);
  // a resync running: busy in md_do_sync, throttled with msleep(500), waiting for stripes (uninterruptible)
  t.kthread('md0_resync', [
    run(kth('md_thread', 'md_do_sync', 'raid5_sync_request', 'raid5_get_active_stripe'), { exp: 20 }, 1),
    sleep(kth('md_thread', 'md_do_sync', 'raid5_sync_request', 'raid5_get_active_stripe'), { exp: 30 }, D),
    run(kth('md_thread', 'md_do_sync', 'is_mddev_idle'), 0.01),
    sleep(kth('md_thread', 'md_do_sync', 'msleep', 'schedule_timeout'), 500, D),
  ]);
  t.kthread('xfsaild/md0', [
    sleep(kth('xfsaild', 'schedule_timeout'), { exp: 50 }, I, true),
    run(kth('xfsaild', 'xfsaild_push', 'xfsaild_push_item', 'xfs_inode_item_push', 'xfs_iflush_cluster'), { exp: 1 }, 0.2),
  ]);
  t.kthread('xfs-cil/md0', [
    sleep(kth('worker_thread'), { exp: 30 }, D),
    run(kth('worker_thread', 'process_one_work', 'xlog_cil_push_work', 'xlog_write'), { exp: 0.3 }),
    sleep(kth('worker_thread', 'process_one_work', 'xlog_cil_push_work', 'xlog_wait_on_iclog', 'xlog_wait'), { exp: 5 }, D),
  ]);
  t.kthread(
    'kworker/u32:flush-9:0',
    [
      sleep(kth('worker_thread'), { exp: 500 }, D),
      run(kth('worker_thread', 'process_one_work', 'wb_workfn', 'wb_do_writeback', 'wb_writeback', '__writeback_inodes_wb', 'writeback_sb_inodes', '__writeback_single_inode', 'do_writepages', 'xfs_vm_writepages', 'iomap_writepages', 'write_cache_pages'), { exp: 200 }, 1),
      sleep(kth('worker_thread', 'process_one_work', 'wb_workfn', 'wb_do_writeback', 'wb_writeback', '__writeback_inodes_wb', 'writeback_sb_inodes', '__writeback_single_inode', 'do_writepages', 'xfs_vm_writepages', 'iomap_writepages', 'write_cache_pages', 'iomap_do_writepage', 'iomap_submit_ioend', 'submit_bio_noacct', 'blk_mq_submit_bio', 'blk_mq_get_new_requests', '__blk_mq_alloc_requests', 'blk_mq_get_tag', 'io_schedule'), { uniform: [5, 2000] }, D),
    ],
    2,
  );
  t.kthread('kworker/u32:flush-8:0', [
    sleep(kth('worker_thread'), { exp: 5000 }, D),
    run(kth('worker_thread', 'process_one_work', 'wb_workfn', 'wb_do_writeback', 'wb_writeback', '__writeback_inodes_wb', 'writeback_sb_inodes', '__writeback_single_inode', 'do_writepages', 'ext4_writepages'), { exp: 5 }, 0.5),
  ]);
  t.kthread('scsi_eh', [sleep(kth('scsi_error_handler'), { exp: 600000 }, I)], 4);
  t.kthread('md0_reclaim', [sleep(kth('md_thread', 'schedule_timeout'), { exp: 5000 }, I)]);
  // the NFS server: freezable sleeps in svc_recv, D-state waits in the XFS log on COMMIT
  const nfsd = (...rest: string[]) => kth('nfsd', 'svc_process', 'svc_process_common', 'nfsd_dispatch', 'nfsd4_proc_compound', ...rest);
  t.kthread(
    'nfsd',
    [
      sleep(kth('nfsd', 'svc_recv', 'svc_get_next_xprt', 'schedule_timeout'), { exp: 20 }, I, true),
      run(kth('nfsd', 'svc_recv', 'svc_handle_xprt', 'svc_tcp_recvfrom', 'sock_recvmsg', 'tcp_recvmsg'), 0.01),
      run(nfsd('nfsd4_write', 'nfsd_vfs_write', 'vfs_iter_write', 'do_iter_write', 'do_iter_readv_writev', 'xfs_file_write_iter', 'xfs_file_buffered_write', 'iomap_file_buffered_write'), { exp: 0.2 }),
      run(nfsd('nfsd4_commit', 'nfsd_commit', 'nfsd_file_acquire'), 0.01),
      sleep(nfsd('nfsd4_commit', 'nfsd_commit', 'vfs_fsync_range', ...XLOG_WAIT), { exp: 8 }, D),
      run(kth('nfsd', 'svc_send', 'svc_tcp_sendto', 'xprt_sock_sendmsg', 'sock_sendmsg', 'tcp_sendmsg'), 0.02),
    ],
    16,
  );
  t.kthread('lockd', [sleep(kth('lockd', 'svc_recv', 'svc_get_next_xprt', 'schedule_timeout'), { exp: 30000 }, I, true)]);

  // PostgreSQL on XFS: backends read pages (killable page-cache waits), the WAL writer fdatasyncs, the checkpointer fsyncs for seconds
  t.user(
    'postgres',
    [
      sleep(EPOLL_WAIT, { exp: 50 }, I),
      run(TCP_RECV, 0.01),
      user({ exp: 2 }),
      run(XFS_PREAD, 0.02),
      sleep([...XFS_PREAD, ...FOLIO_WAIT_READ], { exp: 6 }, K),
      run([...XFS_PREAD, 'copy_page_to_iter'], 0.01),
      user({ exp: 3 }),
      run([...TCP_SEND, ...TCP_XMIT], 0.02),
      user(0.05),
    ],
    64,
  );
  t.user('postgres: walwriter', [
    sleep(EPOLL_WAIT, { exp: 200 }, I),
    run(sys('pwrite64', 'ksys_pwrite64', 'vfs_write', 'xfs_file_write_iter', 'xfs_file_buffered_write', 'iomap_file_buffered_write'), 0.05),
    user(0.02),
    run(sys('fdatasync', 'do_fsync', 'vfs_fsync_range', 'xfs_file_fsync', 'file_write_and_wait_range', '__filemap_fdatawrite_range', 'filemap_fdatawrite_wbc', 'do_writepages', 'xfs_vm_writepages'), 0.1),
    sleep(sys('fdatasync', 'do_fsync', 'vfs_fsync_range', ...XLOG_WAIT), { exp: 4 }, D),
    user(0.05),
  ]);
  t.user('postgres: checkpointer', [
    sleep(EPOLL_WAIT, { exp: 30000 }, I),
    run(XFS_PWRITE, { exp: 20 }),
    user(0.1),
    run(sys('fsync', 'do_fsync', 'vfs_fsync_range', 'xfs_file_fsync', 'file_write_and_wait_range'), 0.2),
    sleep(sys('fsync', 'do_fsync', 'vfs_fsync_range', 'xfs_file_fsync', ...FDATAWAIT), { uniform: [50, 4000] }, D),
    user(0.1),
  ]);
  t.user('postgres: bgwriter', [sleep(EPOLL_WAIT, 200, I), run(XFS_PWRITE, { exp: 0.5 }), user(0.1)]);
  t.user('postgres: autovacuum', [sleep(EPOLL_WAIT, { exp: 60000 }, I), run(XFS_PREAD, 0.05), sleep([...XFS_PREAD, ...FOLIO_WAIT_READ], { exp: 6 }, K), user({ exp: 5 })]);
  // a backup copying to the array: throttled in balance_dirty_pages (killable), reading from the ext4 root
  t.user(
    'rsync',
    [
      run(EXT4_READ, 0.05),
      sleep([...EXT4_READ, ...FOLIO_WAIT_READ], { exp: 4 }, K),
      user({ exp: 0.2 }),
      run(XFS_PWRITE, { exp: 0.1 }),
      sleep([...XFS_PWRITE, 'iomap_write_iter', 'balance_dirty_pages_ratelimited_flags', 'balance_dirty_pages', 'io_schedule_timeout', 'schedule_timeout'], { exp: 80 }, K),
      user(0.1),
    ],
    2,
  );
  t.user('mdadm', [sleep(PSELECT, { exp: 60000 }, I), run(SEQ_READ.concat('md_seq_show'), 0.05), user(0.1)]);
  t.user('smartd', [sleep(NANOSLEEP, 1800000, I, true), run(sys('ioctl', 'sd_ioctl', 'scsi_ioctl', 'sg_io', 'blk_execute_rq', 'blk_wait_io', 'wait_for_completion_io_timeout'), 20), user(1)]);
  const ahci = [
    'asm_common_interrupt',
    'common_interrupt',
    '__common_interrupt',
    'handle_edge_irq',
    'handle_irq_event',
    '__handle_irq_event_percpu',
    'ahci_single_level_irq_intr',
    'ahci_handle_port_intr',
    'ahci_handle_port_interrupt',
    'ata_qc_complete_multiple',
    'ata_qc_complete',
    '__ata_qc_complete',
    'ata_scsi_qc_complete',
    'scsi_done',
    'blk_mq_complete_request',
  ];
  return { cpus, irqs: [TIMER_IRQ, { cpus: [0, 1, 2, 3], everyMs: 1, stack: ahci, ms: 0.01 }] };
}

const PPC_ENTRY = ['transfer_to_syscall', 'system_call_exception'];
const psys = (name: string, ...rest: string[]): Chain => [...PPC_ENTRY, `sys_${name}`, ...rest];

function noReliableStacktrace(t: Tasks): Pick<ModelSpec, 'cpus' | 'irqs'> {
  // an 8-core e500mc (NXP P4080-class) network appliance: ppc32 has livepatch but no reliable stack traces
  const cpus = 8;
  const ppcK = (fn: string, ...rest: string[]) => kth(fn, ...rest);
  t.perCpu((c) => `cpuhp/${c}`, cpus, () => [sleep(ppcK('smpboot_thread_fn'), { exp: 600000 }, I)]);
  t.perCpu((c) => `migration/${c}`, cpus, () => [sleep(ppcK('smpboot_thread_fn'), { exp: 1000 }, I), run(ppcK('smpboot_thread_fn', 'cpu_stopper_thread', 'migration_cpu_stop'), 0.02)]);
  t.perCpu((c) => `ksoftirqd/${c}`, cpus, () => [sleep(ppcK('smpboot_thread_fn'), { exp: 30 }, I), run(ppcK('smpboot_thread_fn', 'run_ksoftirqd', '__do_softirq', 'net_rx_action', '__napi_poll', 'gfar_poll_rx_sq', 'gfar_clean_rx_ring'), { exp: 0.3 })]);
  t.perCpu((c) => `kworker/${c}:0`, cpus, () => [sleep(ppcK('worker_thread'), { exp: 1000 }, D), run(ppcK('worker_thread', 'process_one_work', 'vmstat_update', 'refresh_cpu_vm_stats'), 0.03)]);
  t.list.push({ name: 'kthreadd', kind: 'kthread', program: [sleep(['kthreadd'], { exp: 60000 }, I), run(['kthreadd', 'create_kthread', 'kernel_thread', 'kernel_clone', 'copy_process'], 0.1)] });
  t.kthread('rcu_preempt', [sleep(ppcK('rcu_gp_kthread'), { exp: 30 }, D), run(ppcK('rcu_gp_kthread', 'rcu_gp_init'), 0.02), sleep(ppcK('rcu_gp_kthread', 'rcu_gp_fqs_loop', 'schedule_timeout'), 3, D), run(ppcK('rcu_gp_kthread', 'rcu_gp_cleanup'), 0.02)]);
  t.kthread('kswapd0', [sleep(ppcK('kswapd', 'kswapd_try_to_sleep'), { exp: 60000 }, I), run(ppcK('kswapd', 'balance_pgdat', 'kswapd_shrink_node', 'shrink_node'), { exp: 5 }, 0.5)]);
  t.kthread('kcompactd0', [sleep(ppcK('kcompactd', 'schedule_timeout'), 500, I, true), run(ppcK('kcompactd', 'kcompactd_do_work'), 0.1)]);
  t.kthread('khungtaskd', [sleep(ppcK('watchdog', 'schedule_timeout_interruptible', 'schedule_timeout'), 120000, I), run(ppcK('watchdog', 'check_hung_uninterruptible_tasks'), 0.3)]);
  t.kthread('oom_reaper', [sleep(ppcK('oom_reaper'), { exp: 600000 }, I, true)]);
  // raw NAND flash: UBI's background thread (wear levelling, busy with cond_resched) and UBIFS's commit thread
  t.kthread('ubi_bgt0d', [sleep(ppcK('ubi_thread'), { exp: 20000 }, I), run(ppcK('ubi_thread', 'do_work', 'wear_leveling_worker', 'ubi_eba_copy_leb', 'ubi_io_read', 'nand_read_oob'), { exp: 15 }, 1)]);
  t.kthread('ubifs_bgt0_0', [sleep(ppcK('ubifs_bg_thread'), { exp: 5000 }, I), run(ppcK('ubifs_bg_thread', 'ubifs_bg_wbufs_sync', 'ubifs_wbuf_sync_nolock', 'ubifs_leb_write'), { exp: 2 }), sleep(ppcK('ubifs_bg_thread', 'ubifs_bg_wbufs_sync', 'mutex_lock_nested', '__mutex_lock', 'schedule_preempt_disabled'), { exp: 1 }, D)]);
  t.kthread('spi0', [sleep(ppcK('kthread_worker_fn'), { exp: 1000 }, I), run(ppcK('kthread_worker_fn', 'spi_pump_messages', '__spi_pump_messages', 'fsl_espi_transfer_one_message'), 0.5)]);
  t.kthread('kworker/u16', [sleep(ppcK('worker_thread'), { exp: 2000 }, D), run(ppcK('worker_thread', 'process_one_work', 'caam_jr_dequeue', 'skcipher_crypt_done'), 0.05)], 3);

  t.user('systemd', [sleep(psys('epoll_wait', 'do_epoll_wait', 'ep_poll', 'schedule_hrtimeout_range', 'schedule_hrtimeout_range_clock'), { exp: 10000 }, I), run(psys('recvmsg', '__sys_recvmsg', '___sys_recvmsg', '____sys_recvmsg', 'sock_recvmsg', 'unix_stream_recvmsg'), 0.05), user({ exp: 0.5 })]);
  t.user('systemd-journal', [sleep(psys('epoll_wait', 'do_epoll_wait', 'ep_poll', 'schedule_hrtimeout_range', 'schedule_hrtimeout_range_clock'), { exp: 3000 }, I), run(psys('writev', 'do_writev', 'vfs_writev', 'do_iter_write', 'ubifs_write_iter', 'generic_file_write_iter'), 0.1), user(0.2)]);
  t.user('dropbear', [sleep(psys('pselect6_time32', 'do_pselect', 'core_sys_select', 'do_select', 'poll_schedule_timeout', 'schedule_hrtimeout_range', 'schedule_hrtimeout_range_clock'), { exp: 60000 }, I), user(0.5)]);
  const ppoll = psys('ppoll_time32', 'do_sys_poll', 'do_poll', 'poll_schedule_timeout', 'schedule_hrtimeout_range', 'schedule_hrtimeout_range_clock');
  const netlinkRecv = psys('recvmsg', '__sys_recvmsg', '___sys_recvmsg', '____sys_recvmsg', 'sock_recvmsg', 'netlink_recvmsg');
  t.user('zebra', [sleep(ppoll, { exp: 500 }, I), run(netlinkRecv, 0.05), user({ exp: 0.5 }), run(psys('sendmsg', '__sys_sendmsg', '___sys_sendmsg', '____sys_sendmsg', 'sock_sendmsg', 'netlink_sendmsg', 'netlink_unicast', 'rtnetlink_rcv', 'netlink_rcv_skb', 'rtnetlink_rcv_msg', 'inet_rtm_newroute', 'fib_table_insert'), 0.2), user(0.1)]);
  t.user('bgpd', [sleep(ppoll, { exp: 100 }, I), run(psys('read', 'ksys_read', 'vfs_read', 'sock_read_iter', 'sock_recvmsg', 'inet_recvmsg', 'tcp_recvmsg', 'tcp_recvmsg_locked'), 0.05), user({ exp: 2 }), run(psys('write', 'ksys_write', 'vfs_write', 'sock_write_iter', 'sock_sendmsg', 'inet_sendmsg', 'tcp_sendmsg', 'tcp_sendmsg_locked'), 0.05), user(0.1)]);
  t.user('bgpd_io', [sleep(ppoll, { exp: 20 }, I), user(0.1), run(psys('futex_time32', 'do_futex', 'futex_wake'), 0.01), user(0.05)], 2);
  t.user('ospfd', [sleep(ppoll, { exp: 1000 }, I), run(psys('recvmsg', '__sys_recvmsg', '___sys_recvmsg', '____sys_recvmsg', 'sock_recvmsg', 'inet_recvmsg', 'raw_recvmsg'), 0.05), user(0.5)]);
  t.user('dnsmasq', [sleep(psys('pselect6_time32', 'do_pselect', 'core_sys_select', 'do_select', 'poll_schedule_timeout', 'schedule_hrtimeout_range', 'schedule_hrtimeout_range_clock'), { exp: 2000 }, I), run(psys('recvmsg', '__sys_recvmsg', '___sys_recvmsg', '____sys_recvmsg', 'sock_recvmsg', 'inet_recvmsg', 'udp_recvmsg'), 0.05), user(0.3)]);
  t.user('snmpd', [sleep(psys('pselect6_time32', 'do_pselect', 'core_sys_select', 'do_select', 'poll_schedule_timeout', 'schedule_hrtimeout_range', 'schedule_hrtimeout_range_clock'), { exp: 5000 }, I), run(psys('read', 'ksys_read', 'vfs_read', 'seq_read', 'seq_read_iter', 'dev_seq_show'), 1), user(2)]);
  t.user('lighttpd', [sleep(psys('epoll_wait', 'do_epoll_wait', 'ep_poll', 'schedule_hrtimeout_range', 'schedule_hrtimeout_range_clock'), { exp: 20000 }, I), run(psys('read', 'ksys_read', 'vfs_read', 'sock_read_iter', 'sock_recvmsg', 'inet_recvmsg', 'tcp_recvmsg'), 0.05), user(5)]);
  t.user('crond', [sleep(psys('clock_nanosleep_time32', 'common_nsleep', 'hrtimer_nanosleep', 'do_nanosleep'), 60000, I, true), run(psys('stat64', 'vfs_fstatat', 'vfs_statx'), 0.05), user(0.1)]);
  t.user('syslogd', [sleep(psys('read', 'ksys_read', 'vfs_read', 'sock_read_iter', 'sock_recvmsg', 'unix_dgram_recvmsg', '__unix_dgram_recvmsg', '__skb_wait_for_more_packets', 'schedule_timeout'), { exp: 2000 }, I), user(0.1), run(psys('write', 'ksys_write', 'vfs_write', 'ubifs_write_iter', 'generic_file_write_iter', 'generic_perform_write'), 0.1), user(0.05)]);
  t.user('ntpd', [sleep(psys('pselect6_time32', 'do_pselect', 'core_sys_select', 'do_select', 'poll_schedule_timeout', 'schedule_hrtimeout_range', 'schedule_hrtimeout_range_clock'), { exp: 16000 }, I), user(0.2)]);
  // the data-plane control app: mostly in user space, raw packet I/O
  t.user('fwd-ctl', [user({ exp: 5 }), run(psys('sendto', '__sys_sendto', 'sock_sendmsg', 'packet_sendmsg', 'packet_snd', 'dev_queue_xmit', '__dev_queue_xmit'), 0.02), user({ exp: 5 }), sleep(psys('recvfrom', '__sys_recvfrom', 'sock_recvmsg', 'packet_recvmsg', 'skb_recv_datagram', '__skb_recv_datagram', '__skb_wait_for_more_packets', 'schedule_timeout'), { exp: 1 }, I)], 4);
  t.user('getty', [sleep(psys('read', 'ksys_read', 'vfs_read', 'tty_read', 'iterate_tty_read', 'n_tty_read', 'wait_woken', 'schedule_timeout'), { exp: 600000 }, I)]);

  const timer: IrqSpec = { cpus: 'all', everyMs: 4, stack: ['timer_interrupt', 'hrtimer_interrupt', '__hrtimer_run_queues', 'tick_sched_timer', 'tick_sched_handle', 'update_process_times', 'scheduler_tick'], ms: 0.01 };
  const eth: IrqSpec = {
    cpus: [0, 1, 2, 3],
    everyMs: 1,
    stack: ['do_IRQ', 'irq_exit', '__irq_exit_rcu', 'do_softirq_own_stack', 'call_do_softirq', '__do_softirq', 'net_rx_action', '__napi_poll', 'gfar_poll_rx_sq', 'gfar_clean_rx_ring', 'napi_gro_receive', 'gro_normal_list', 'netif_receive_skb_list_internal', '__netif_receive_skb_list_core', 'ip_list_rcv', 'ip_sublist_rcv', 'ip_sublist_rcv_finish', 'ip_forward', 'ip_forward_finish', 'ip_output', 'ip_finish_output2', '__dev_queue_xmit'],
    ms: 0.03,
  };
  return { cpus, irqs: [timer, eth] };
}

const BUILDERS: Record<ProfileName, (t: Tasks) => Pick<ModelSpec, 'cpus' | 'irqs'>> = {
  'idle-server': idleServer,
  'web-server-64': webServer64,
  'storage-box': storageBox,
  'no-reliable-stacktrace': noReliableStacktrace,
};

const DESCRIPTIONS: Record<ProfileName, string> = {
  'idle-server':
    'An idle 4-CPU x86_64 server (~60 tasks): systemd and its daemons, sshd, cron, rsyslog asleep in ep_poll, select, nanosleep and futex waits for seconds; per-CPU kthreads (ksoftirqd, migration, kworkers), RCU, kswapd, freezable kcompactd/khugepaged, a jbd2 journal; a 100 Hz timer interrupt.',
  'web-server-64':
    'A busy 64-CPU x86_64 web server (~10,000 tasks): nginx workers, a 2,400-child php-fpm pool and a JVM with ~7,000 threads cycling between user space and short system calls (tcp_sendmsg, tcp_recvmsg, ep_poll, futex waits), memcached, per-CPU kthreads on every CPU, and network receive interrupts (net_rx_action → napi → tcp_v4_rcv) on all CPUs. `scale` shrinks the task groups for fleet runs.',
  'storage-box':
    'A 16-CPU x86_64 storage server (md RAID 6 + XFS, ext4 root, NFS server, PostgreSQL): jbd2, xfsaild, md raid and resync kthreads busy with cond_resched, writeback kworkers (wb_workfn) and nfsd threads, user tasks in fsync/read/write that wait in D state (io_schedule, xlog_wait) for milliseconds to seconds.',
  'no-reliable-stacktrace':
    'An 8-core ppc32 (e500mc) network appliance: livepatch works but there is no HAVE_RELIABLE_STACKTRACE (frame-pointer unwinder), so kthreads can never be stack-checked. Routing daemons, systemd, dropbear, UBI/UBIFS and per-CPU kthreads.',
};

export function profileDescription(name: ProfileName): string {
  return DESCRIPTIONS[name];
}

export function isProfileName(name: string): name is ProfileName {
  return (PROFILE_NAMES as readonly string[]).includes(name);
}

/** Task names must be unique in a model: a derived task that takes a machine's name gets a suffix. */
function uniqueNames(tasks: TaskSpec[]): TaskSpec[] {
  const seen = new Set<string>();
  return tasks.map((t) => {
    let name = t.name;
    for (let k = 2; seen.has(name); k++) name = `${t.name}#${k}`;
    seen.add(name);
    return name === t.name ? t : { ...t, name };
  });
}

/** The total number of tasks a model describes (counts included). */
export function taskCount(spec: Pick<ModelSpec, 'tasks'>): number {
  return spec.tasks.reduce((n, t) => n + (t.count ?? 1), 0);
}

export function builtinProfile(name: ProfileName, opts: ProfileOptions = {}): ModelSpec {
  const kernel = opts.kernel ?? '6.1';
  const scale = opts.scale ?? 1;
  if (!(scale > 0) || !Number.isFinite(scale)) throw new RangeError(`scale must be a positive number, got ${scale}`);
  const tasks = new Tasks(scale);
  const { cpus, irqs } = BUILDERS[name](tasks);
  const arch: ArchProfile = name === 'no-reliable-stacktrace' ? { name: 'ppc32', reliableStacktrace: false, unwinder: 'fp', maxStackEntries: 100 } : x86(kernel);
  const rename = namingFor(kernel, arch.name);
  const patch = renamePatch(opts.patch ?? { functions: [] }, rename);
  const all = uniqueNames([...tasks.list, ...(opts.extraTasks ?? [])].map((t) => renameTask(t, rename)));
  return {
    name,
    kernel,
    arch,
    cpus,
    patch,
    tasks: all,
    irqs: (irqs ?? []).map((q) => ({ ...q, stack: q.stack.map(rename) })),
  };
}
