/**
 * From the hazard analysis of a patch to a simulator workload: the patched set
 * S(P), whether the patch changes data semantics (and which functions share the
 * data), and the tasks the patch itself implies, to drop into a built-in
 * machine (profiles.ts):
 *
 * - a changed function whose old (else new) body can sleep gets a user task
 *   parked inside it, entered through a system call guessed from the file and
 *   the function's name, asleep in the state of its sleeping primitive;
 * - a changed kthread main loop (a kthread_should_stop() loop, or a function
 *   given to kthread_run/kthread_create) gets a kthread that never leaves it;
 * - data-semantic findings (KLP140–KLP144) set `dataSemantics` and
 *   `sharedData`, and add two user tasks per pair that call the functions over
 *   and over, so V3 (old and new code on the same data at once) can show.
 *
 * Everything comes from facts (calls in document order, loops) and findings;
 * without a kernel tree those cover only what the hunks show, and the notes say
 * what could not be resolved.
 */
import type { FileAnalysis, PatchAnalysis } from '../analysis';
import type { EntityChange } from '../entities/diff';
import type { Call, FunctionFacts } from '../facts/extract';
import type { Finding } from '../findings';
import type { Dist, ModelSpec, PatchSpec, Segment, TaskSpec } from './types';
import { builtinProfile, FAULT, sys, SYSCALL_ENTRY, type ProfileName, type ProfileOptions } from './profiles';

export interface PatchWorkload {
  patch: PatchSpec;
  tasks: TaskSpec[];
  notes: string[];
}

type SleepState = 'interruptible' | 'uninterruptible' | 'killable';

/**
 * How long a parked task sleeps: 20–40 s (mean 30 s). Never shorter than the
 * first fake-signal round (15 s), so the preview shows the mechanism (the
 * signal clears an interruptible sleeper; a D-state one holds the transition
 * for its whole sleep), not the luck of an early wake-up.
 */
export const PARKED_SLEEP: Dist = { uniform: [20000, 40000] };
const KTHREAD_SLEEP_MS = 1000;
const MAX_SLEEPERS = 8;
const MAX_KTHREADS = 4;
const MAX_PAIRS = 6;

// ---------------------------------------------------------------- sleeping primitives

interface Primitive {
  /** The task state, or 'context': the state set before it (set_current_state, prepare_to_wait). */
  state: SleepState | 'context';
  /** What 'context' falls back to when no state is found. */
  fallback?: SleepState;
  /** Frames between the caller and schedule() (6.1 names). */
  frames: string[];
  /** A lock: sleeps only under contention (ranked after real waits). */
  lock?: boolean;
  freezable?: boolean;
  /** The argument that carries the state (wait_woken, usleep_range_state, wait_event_state, wait_on_bit). */
  stateArg?: number;
}

const I: SleepState = 'interruptible';
const D: SleepState = 'uninterruptible';
const K: SleepState = 'killable';

const PRIMS = new Map<string, Primitive>();
const def = (names: string, p: Primitive | ((name: string) => Primitive)) => {
  for (const n of names.split(/\s+/)) if (n) PRIMS.set(n, typeof p === 'function' ? p(n) : p);
};
const COMPLETION = ['wait_for_completion', '__wait_for_common', 'schedule_timeout'];

def('schedule', { state: 'context', fallback: D, frames: [] });
def('schedule_timeout', { state: 'context', fallback: D, frames: ['schedule_timeout'] });
def('schedule_timeout_interruptible', { state: I, frames: ['schedule_timeout_interruptible', 'schedule_timeout'] });
def('schedule_timeout_uninterruptible schedule_timeout_idle', (n) => ({ state: D, frames: [n, 'schedule_timeout'] }));
def('schedule_timeout_killable', { state: K, frames: ['schedule_timeout_killable', 'schedule_timeout'] });
def('schedule_hrtimeout schedule_hrtimeout_range', (n) => ({ state: 'context', fallback: D, frames: [n, 'schedule_hrtimeout_range_clock'] }));
def('schedule_preempt_disabled', { state: 'context', fallback: D, frames: ['schedule_preempt_disabled'] });
def('io_schedule', { state: 'context', fallback: D, frames: ['io_schedule'] });
def('io_schedule_timeout', { state: 'context', fallback: D, frames: ['io_schedule_timeout', 'schedule_timeout'] });
def('freezable_schedule', { state: 'context', fallback: I, frames: [], freezable: true });
def('freezable_schedule_timeout freezable_schedule_timeout_interruptible', { state: I, frames: ['schedule_timeout'], freezable: true });
def('freezable_schedule_timeout_killable freezable_schedule_timeout_killable_unsafe', { state: K, frames: ['schedule_timeout'], freezable: true });
def('msleep ssleep', { state: D, frames: ['msleep', 'schedule_timeout'] });
def('msleep_interruptible', { state: I, frames: ['msleep_interruptible', 'schedule_timeout'] });
def('usleep_range fsleep', { state: D, frames: ['usleep_range_state', 'schedule_hrtimeout_range', 'schedule_hrtimeout_range_clock'] });
def('usleep_range_state', { state: 'context', fallback: D, stateArg: 2, frames: ['usleep_range_state', 'schedule_hrtimeout_range', 'schedule_hrtimeout_range_clock'] });
def('mutex_lock mutex_lock_io', { state: D, lock: true, frames: ['mutex_lock', '__mutex_lock_slowpath', '__mutex_lock', 'schedule_preempt_disabled'] });
def('mutex_lock_nested mutex_lock_io_nested', (n) => ({ state: D, lock: true, frames: [n, '__mutex_lock', 'schedule_preempt_disabled'] }));
def('mutex_lock_interruptible', { state: I, lock: true, frames: ['mutex_lock_interruptible', '__mutex_lock_interruptible_slowpath', '__mutex_lock', 'schedule_preempt_disabled'] });
def('mutex_lock_interruptible_nested', { state: I, lock: true, frames: ['mutex_lock_interruptible_nested', '__mutex_lock', 'schedule_preempt_disabled'] });
def('mutex_lock_killable', { state: K, lock: true, frames: ['mutex_lock_killable', '__mutex_lock_killable_slowpath', '__mutex_lock', 'schedule_preempt_disabled'] });
def('mutex_lock_killable_nested', { state: K, lock: true, frames: ['mutex_lock_killable_nested', '__mutex_lock', 'schedule_preempt_disabled'] });
def('down down_timeout', (n) => ({ state: D, lock: true, frames: [n, n === 'down' ? '__down' : '__down_timeout', '___down_common', 'schedule_timeout'] }));
def('down_interruptible', { state: I, lock: true, frames: ['down_interruptible', '__down_interruptible', '___down_common', 'schedule_timeout'] });
def('down_killable', { state: K, lock: true, frames: ['down_killable', '__down_killable', '___down_common', 'schedule_timeout'] });
def('down_read down_read_nested down_read_non_owner', (n) => ({ state: D, lock: true, frames: [n, 'rwsem_down_read_slowpath'] }));
def('down_write down_write_nested', (n) => ({ state: D, lock: true, frames: [n, 'rwsem_down_write_slowpath'] }));
def('down_read_killable down_read_killable_nested', (n) => ({ state: K, lock: true, frames: [n, 'rwsem_down_read_slowpath'] }));
def('down_write_killable down_write_killable_nested', (n) => ({ state: K, lock: true, frames: [n, 'rwsem_down_write_slowpath'] }));
def('down_read_interruptible', { state: I, lock: true, frames: ['down_read_interruptible', 'rwsem_down_read_slowpath'] });
def('percpu_down_write percpu_down_read rt_mutex_lock rt_mutex_lock_nested ww_mutex_lock', (n) => ({ state: D, lock: true, frames: [n] }));
def('rt_mutex_lock_interruptible ww_mutex_lock_interruptible', (n) => ({ state: I, lock: true, frames: [n] }));
def('lock_sock', { state: D, lock: true, frames: ['lock_sock_nested', '__lock_sock'] });
def('wait_for_completion wait_for_completion_timeout', (n) => ({ state: D, frames: [n, '__wait_for_common', 'schedule_timeout'] }));
def('wait_for_completion_io wait_for_completion_io_timeout', (n) => ({ state: D, frames: [n, '__wait_for_common', 'io_schedule_timeout', 'schedule_timeout'] }));
def('wait_for_completion_interruptible wait_for_completion_interruptible_timeout', (n) => ({ state: I, frames: [n, '__wait_for_common', 'schedule_timeout'] }));
def('wait_for_completion_killable wait_for_completion_killable_timeout wait_for_completion_state', (n) => ({ state: K, frames: [n, '__wait_for_common', 'schedule_timeout'] }));
def('synchronize_rcu synchronize_srcu synchronize_rcu_expedited synchronize_net rcu_barrier synchronize_rcu_tasks', (n) => ({ state: D, frames: [n, ...COMPLETION] }));
def('flush_work flush_delayed_work cancel_work_sync cancel_delayed_work_sync flush_workqueue drain_workqueue flush_scheduled_work kthread_stop kthread_park kthread_flush_work kthread_flush_worker kthread_cancel_work_sync kthread_cancel_delayed_work_sync', (n) => ({ state: D, frames: [n, ...COMPLETION] }));
def('kthread_parkme', { state: D, frames: ['kthread_parkme', '__kthread_parkme'] });
def('folio_lock lock_page __folio_lock __lock_page', { state: D, frames: ['__folio_lock', 'folio_wait_bit_common', 'io_schedule'] });
def('folio_lock_killable lock_page_killable __folio_lock_killable', { state: K, frames: ['__folio_lock_killable', 'folio_wait_bit_common', 'io_schedule'] });
def('folio_wait_locked wait_on_page_locked', { state: D, frames: ['folio_wait_bit_common', 'io_schedule'] });
def('folio_wait_locked_killable wait_on_page_locked_killable', { state: K, frames: ['folio_wait_bit_killable', 'folio_wait_bit_common', 'io_schedule'] });
def('folio_wait_writeback wait_on_page_writeback', { state: D, frames: ['folio_wait_writeback', 'folio_wait_bit', 'folio_wait_bit_common', 'io_schedule'] });
def('wait_on_buffer lock_buffer __wait_on_buffer __lock_buffer', { state: D, frames: ['__wait_on_buffer', 'out_of_line_wait_on_bit', '__wait_on_bit', 'bit_wait_io', 'io_schedule'] });
def('wait_on_bit wait_on_bit_io wait_on_bit_timeout wait_on_bit_lock wait_on_bit_lock_io', (n) => ({ state: 'context', fallback: D, stateArg: 2, frames: ['out_of_line_wait_on_bit', '__wait_on_bit', n.includes('_io') ? 'bit_wait_io' : 'bit_wait'] }));
def('wait_var_event wait_var_event_timeout', { state: D, frames: [] });
def('wait_var_event_killable', { state: K, frames: [] });
def('wait_var_event_interruptible', { state: I, frames: [] });
def('wait_woken', { state: 'context', fallback: I, stateArg: 1, frames: ['wait_woken', 'schedule_timeout'] });
def('sk_wait_data', { state: I, frames: ['sk_wait_data', 'wait_woken', 'schedule_timeout'] });
def('sk_wait_event', { state: I, frames: ['wait_woken', 'schedule_timeout'] });
def('sk_stream_wait_memory sk_stream_wait_connect', (n) => ({ state: I, frames: [n, 'wait_woken', 'schedule_timeout'] }));
def('io_wait_event', { state: D, frames: ['io_schedule'] });

/** wait_event*() and friends are macros: the caller's frame calls schedule() (or schedule_timeout()) itself. */
function primitive(name: string): Primitive | undefined {
  const p = PRIMS.get(name);
  if (p) return p;
  const m = /^(s?wait_event)(_\w+)?$/.exec(name);
  if (!m) return undefined;
  const rest = m[2] ?? '';
  const frames = /timeout/.test(rest) ? (/hrtimeout/.test(rest) ? ['schedule_hrtimeout', 'schedule_hrtimeout_range_clock'] : ['schedule_timeout']) : [];
  if (/^_freezable/.test(rest)) return { state: I, frames, freezable: true };
  if (/^_interruptible/.test(rest)) return { state: I, frames };
  if (/^_killable/.test(rest)) return { state: K, frames };
  if (/^_idle/.test(rest)) return { state: D, frames };
  if (/^_state/.test(rest)) return { state: 'context', fallback: D, stateArg: 2, frames };
  return { state: D, frames };
}

const STATE_SETTERS = new Set(['set_current_state', '__set_current_state', 'set_special_state', 'prepare_to_wait', 'prepare_to_wait_exclusive', 'prepare_to_wait_event', 'prepare_to_swait_exclusive', 'prepare_to_swait_event']);

function stateIn(text: string): { state?: SleepState; freezable: boolean } {
  const freezable = /TASK_FREEZABLE/.test(text);
  if (/TASK_KILLABLE/.test(text)) return { state: K, freezable };
  if (/TASK_INTERRUPTIBLE/.test(text)) return { state: I, freezable };
  if (/TASK_UNINTERRUPTIBLE|TASK_IDLE|TASK_PARKED/.test(text)) return { state: D, freezable };
  return { freezable };
}

export interface SleepSite {
  /** The call the task sleeps in. */
  primitive: string;
  state: SleepState;
  freezable: boolean;
  /** Frames from the function to the scheduler. */
  frames: string[];
  /** Its index in the function's calls (document order). */
  index: number;
  /** How the state was found. */
  how: string;
  lock: boolean;
}

/** Where a function sleeps: its first wait (wait_event, completion, schedule, sleep...), else its first sleeping lock. */
export function sleepSite(facts: FunctionFacts): SleepSite | undefined {
  let lock: SleepSite | undefined;
  const calls = facts.calls;
  for (let k = 0; k < calls.length; k++) {
    const c = calls[k];
    const p = primitive(c.name);
    if (!p) continue;
    let state: SleepState;
    let freezable = p.freezable === true;
    let how: string;
    if (p.state !== 'context') {
      state = p.state;
      how = `${c.name}()`;
    } else {
      const fromArg = p.stateArg !== undefined && c.args[p.stateArg] ? stateIn(c.args[p.stateArg]) : undefined;
      let found = fromArg?.state ? fromArg : undefined;
      let setter = found ? `${c.name}(…, ${c.args[p.stateArg!]})` : '';
      for (let j = k - 1; !found && j >= 0; j--) {
        if (!STATE_SETTERS.has(calls[j].name)) continue;
        const s = stateIn(calls[j].args.join(','));
        if (s.state) {
          found = s;
          setter = `${calls[j].name}(${calls[j].args.join(', ')})`;
        }
      }
      state = found?.state ?? p.fallback ?? D;
      freezable = freezable || found?.freezable === true;
      how = found ? `${setter} then ${c.name}()` : `${c.name}() (no task state seen before it: assumed ${state})`;
    }
    const site: SleepSite = { primitive: c.name, state, freezable, frames: [...p.frames, 'schedule', '__schedule'], index: k, how, lock: p.lock === true };
    if (!site.lock) return site;
    lock ??= site;
  }
  return lock;
}

// ---------------------------------------------------------------- entry chains

interface Entry {
  chain: string[];
  via: string;
}

const NAME_HINTS: [RegExp, () => string[], string][] = [
  [/_read_iter$/, () => sys('read', 'ksys_read', 'vfs_read', 'new_sync_read'), 'read(2) → vfs_read → ->read_iter'],
  [/_write_iter$/, () => sys('write', 'ksys_write', 'vfs_write', 'new_sync_write'), 'write(2) → vfs_write → ->write_iter'],
  [/(^|_)read$/, () => sys('read', 'ksys_read', 'vfs_read'), 'read(2) → vfs_read → ->read'],
  [/(^|_)write$/, () => sys('write', 'ksys_write', 'vfs_write'), 'write(2) → vfs_write → ->write'],
  [/ioctl$/, () => sys('ioctl'), 'ioctl(2) → ->unlocked_ioctl'],
  [/(^|_)open$/, () => sys('openat', 'do_sys_openat2', 'do_filp_open', 'path_openat', 'do_open', 'vfs_open', 'do_dentry_open'), 'openat(2) → do_dentry_open → ->open'],
  [/(^|_)(release|flush)$/, () => [...SYSCALL_ENTRY, 'syscall_exit_to_user_mode', 'exit_to_user_mode_prepare', 'exit_to_user_mode_loop', 'resume_user_mode_work', 'task_work_run', '____fput', '__fput'], 'close(2): the last fput runs ->release on the way back to user space'],
  [/(^|_)poll$/, () => sys('ppoll', 'do_sys_poll', 'do_poll', 'do_pollfd'), 'ppoll(2) → ->poll'],
  [/(^|_)mmap$/, () => sys('mmap', 'ksys_mmap_pgoff', 'vm_mmap_pgoff', 'do_mmap', 'mmap_region'), 'mmap(2) → ->mmap'],
  [/(^|_)(fault|page_mkwrite)$/, () => [...FAULT, 'handle_pte_fault', 'do_fault', '__do_fault'], 'a page fault → ->fault'],
  [/(^|_)(fsync|sync_file)$/, () => sys('fsync', 'do_fsync', 'vfs_fsync_range'), 'fsync(2) → ->fsync'],
  [/(^|_)(recvmsg|recv)$/, () => sys('recvmsg', '__sys_recvmsg', '___sys_recvmsg', '____sys_recvmsg', 'sock_recvmsg'), 'recvmsg(2) → sock_recvmsg'],
  [/(^|_)(sendmsg|send)$/, () => sys('sendmsg', '__sys_sendmsg', '___sys_sendmsg', '____sys_sendmsg', 'sock_sendmsg'), 'sendmsg(2) → sock_sendmsg'],
  [/(^|_)accept$/, () => sys('accept4', '__sys_accept4', '__sys_accept4_file', 'do_accept'), 'accept4(2) → do_accept'],
  [/(^|_)connect$/, () => sys('connect', '__sys_connect', '__sys_connect_file'), 'connect(2)'],
  [/(^|_)[gs]etsockopt$/, () => sys('setsockopt', '__sys_setsockopt'), 'setsockopt(2)'],
];

/** The kernel entry a user task takes to reach `fn` of `path`: a guess from the function's name, then its directory. */
export function entryFor(path: string, fn: string, syscall?: { symbol: string }): Entry {
  if (syscall) return { chain: [...SYSCALL_ENTRY], via: `the system call itself (${syscall.symbol})` };
  for (const [re, chain, via] of NAME_HINTS) if (re.test(fn)) return { chain: chain(), via };
  if (/^net\//.test(path)) {
    if (/send|xmit|output|push/.test(fn)) return { chain: sys('sendmsg', '__sys_sendmsg', '___sys_sendmsg', '____sys_sendmsg', 'sock_sendmsg'), via: 'sendmsg(2) (a net/ file)' };
    return { chain: sys('recvmsg', '__sys_recvmsg', '___sys_recvmsg', '____sys_recvmsg', 'sock_recvmsg'), via: 'recvmsg(2) (a net/ file)' };
  }
  if (/^fs\//.test(path)) return { chain: sys('read', 'ksys_read', 'vfs_read'), via: 'read(2) (an fs/ file)' };
  if (/^mm\//.test(path)) return { chain: [...FAULT], via: 'a page fault (an mm/ file)' };
  if (/^(drivers|sound)\//.test(path)) return { chain: sys('ioctl'), via: 'ioctl(2) (a driver: its file operations)' };
  return { chain: [...SYSCALL_ENTRY], via: 'a system call (entry_SYSCALL_64 → do_syscall_64, the path is unknown)' };
}

// ---------------------------------------------------------------- the patched set

interface Changed {
  file: FileAnalysis;
  /** Its name in the source (a syscall's name for SYSCALL_DEFINE). */
  name: string;
  /** The entity, when the patch shows the function (a ripple caller may be known by name only). */
  e?: EntityChange;
  /** The symbol the livepatch replaces. */
  symbol: string;
  pre?: FunctionFacts;
  post?: FunctionFacts;
  syscall: boolean;
  /** Added to S(P) because it inlines a changed helper. */
  ripple?: string;
}

const CODE = new Set(['function', 'syscall', 'fragment']);

function cosmeticOnly(e: EntityChange): boolean {
  return e.aspects.length === 1 && e.aspects[0] === 'cosmetic';
}

function isInline(e: EntityChange): boolean {
  const side = e.new ?? e.old;
  return e.kind === 'function' && !!side && (side.entity.storage.includes('inline') || side.annotations.includes('__always_inline'));
}

function syscallSymbol(e: EntityChange): string {
  const macro = e.new?.entity.definedBy ?? e.old?.entity.definedBy ?? '';
  return /^COMPAT_/.test(macro) ? `__ia32_compat_sys_${e.name}` : `__x64_sys_${e.name}`;
}

function listOf(names: string[], max = 6): string {
  const u = [...new Set(names)];
  return u.length <= max ? u.join(', ') : `${u.slice(0, max).join(', ')} and ${u.length - max} more`;
}

/** Every line of both images the analysis knows, per file (the whole file with a tree). */
function knownText(f: FileAnalysis): string {
  const join = (lines: (string | undefined)[]) => lines.map((l) => l ?? '').join('\n');
  return `${join(f.pre.lines)}\n${join(f.post.lines)}`;
}

const KTHREAD_CREATE = /\bkthread_(?:run|create|run_on_cpu|create_on_cpu|create_on_node)\s*\(\s*&?([A-Za-z_]\w*)\s*,([^;]*?)\)\s*;/g;

/** Thread functions given to kthread_run()/kthread_create() anywhere the analysis sees, with the comm format. */
function threadFunctions(files: FileAnalysis[]): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  for (const f of files) {
    for (const m of knownText(f).matchAll(KTHREAD_CREATE)) {
      const fmt = /"([^"]*)"/.exec(m[2])?.[1];
      if (!out.has(m[1]) || (fmt && !out.get(m[1]))) out.set(m[1], fmt);
    }
    for (const facts of [...f.facts.pre.values(), ...f.facts.post.values(), ...f.facts.context.values()]) {
      for (const c of facts.calls) {
        if (!/^kthread_(run|create|run_on_cpu|create_on_cpu|create_on_node)$/.test(c.name) || !c.args[0]) continue;
        const fn = c.args[0].replace(/^&\s*/, '');
        if (!/^[A-Za-z_]\w*$/.test(fn)) continue;
        const fmt = c.args.map((a) => /^"([^"]*)"$/.exec(a)?.[1]).find((x) => x !== undefined);
        if (!out.has(fn) || (fmt && !out.get(fn))) out.set(fn, fmt);
      }
    }
  }
  return out;
}

function commOf(fmt: string | undefined, fn: string): string {
  if (!fmt) return fn;
  return fmt.replace(/%[-+ #0-9.]*[lhz]*[a-zA-Z]/g, '0');
}

/** `int f(void *data)`: the shape of a kthread's thread function. */
function threadSignature(e: EntityChange | undefined): boolean {
  const text = e?.new?.text ?? e?.old?.text ?? '';
  const head = text.slice(0, Math.max(0, text.indexOf('{')) || text.length);
  return /\bint\s+\w+\s*\(\s*void\s*\*\s*\w*\s*\)/.test(head);
}

const FREEZE_CALLS = /^(try_to_freeze|set_freezable|kthread_freezable_should_stop|wait_event_freezable\w*|freezable_schedule\w*)$/;

// ---------------------------------------------------------------- the workload

export function workloadFromAnalysis(analysis: PatchAnalysis): PatchWorkload {
  const notes: string[] = [];
  const tasks: TaskSpec[] = [];
  const files = analysis.files.filter((f) => f.language === 'c' || f.language === 'header');
  const changed: Changed[] = [];
  const bySymbol = new Map<string, Changed>();
  const added: string[] = [];
  const removed: string[] = [];
  const cosmetic: string[] = [];
  const addChanged = (c: Changed) => {
    if (bySymbol.has(c.symbol)) return;
    bySymbol.set(c.symbol, c);
    changed.push(c);
  };

  // 1. changed functions; inline helpers and function-like macros ripple into their callers
  const ripples: { file: FileAnalysis; e: EntityChange; what: string }[] = [];
  for (const f of files) {
    for (const e of f.entities) {
      const fnMacro = e.kind === 'macro' && e.change === 'changed' && /#define\s+\w+\(/.test(e.new?.text ?? '');
      if (fnMacro && !cosmeticOnly(e)) {
        ripples.push({ file: f, e, what: `macro ${e.name}()` });
        continue;
      }
      if (!CODE.has(e.kind)) continue;
      if (e.kind === 'fragment') {
        if (e.change !== 'removed') notes.push(`${f.path}: ${e.name} changes, but the hunk has no function context: it is not in the patched set (use git diff, diff -p or a kernel tree to name it).`);
        continue;
      }
      if (e.change === 'added') {
        added.push(e.name);
        continue;
      }
      if (e.change === 'removed') {
        removed.push(e.name);
        continue;
      }
      if (cosmeticOnly(e)) {
        cosmetic.push(e.name);
        continue;
      }
      if (isInline(e)) {
        ripples.push({ file: f, e, what: `inline ${e.name}()` });
        continue;
      }
      const syscall = e.kind === 'syscall';
      addChanged({ file: f, name: e.name, e, symbol: syscall ? syscallSymbol(e) : e.name, pre: f.facts.pre.get(e.key), post: f.facts.post.get(e.key), syscall });
      if (syscall) notes.push(`syscall ${e.name}: the livepatch replaces ${syscallSymbol(e)} (KLP_SYSCALL_DEFINE / KPATCH_SYSCALL_DEFINE); its body __do_sys_${e.name}() is inline.`);
    }
  }
  for (const r of ripples) {
    const inFile = r.file.facts.scope.callersInFile.get(r.e.name) ?? [];
    const inPatch = files.flatMap((x) => [...x.facts.post.values()].filter((ff) => ff.name !== r.e.name && ff.calls.some((c) => c.name === r.e.name)).map((ff) => ff.name));
    const f240 = analysis.findings.find((x) => x.code === 'KLP240' && x.file === r.file.path && (x.data as { entity?: string } | undefined)?.entity === r.e.key);
    const externalFiles = (((f240?.data as { callers?: string[] } | undefined)?.callers ?? []) as string[]).filter((c) => c.includes('/'));
    const callers = [...new Set([...inFile, ...inPatch])].filter((c) => !/^unnamed function/.test(c));
    const nested: string[] = [];
    const took: string[] = [];
    for (const name of callers) {
      if (r.file.facts.scope.inlineFns.has(name)) {
        nested.push(name);
        continue;
      }
      const owner = files.find((x) => x.entities.some((en) => en.name === name && CODE.has(en.kind))) ?? r.file;
      const en = owner.entities.find((x) => x.name === name && CODE.has(x.kind));
      if (en && (en.change === 'added' || en.change === 'removed')) continue;
      if (!bySymbol.has(name)) took.push(name);
      // an unchanged caller: its facts are there when it touches what the patch changes
      const ctx = [...owner.facts.context.values()].find((x) => x.name === name);
      addChanged({ file: owner, name, e: en, symbol: name, pre: en ? owner.facts.pre.get(en.key) : ctx, post: en ? owner.facts.post.get(en.key) : ctx, syscall: false, ripple: r.e.name });
    }
    const parts = [`${r.what} changes: it has no frame of its own, the functions it is expanded into are patched instead`];
    parts.push(took.length ? `added to the patched set: ${listOf(took)}` : callers.length ? 'its callers here are already patched' : 'no caller of it is visible');
    if (nested.length) parts.push(`${listOf(nested)} ${nested.length === 1 ? 'is' : 'are'} inline too and their own callers were not followed`);
    if (externalFiles.length) parts.push(`it is also used in ${externalFiles.length} other file${externalFiles.length === 1 ? '' : 's'} of the tree (${listOf(externalFiles, 3)}), whose functions could not be named`);
    else if (/\.h$/.test(r.file.path)) parts.push('every file that includes the header may inline it; an indexed kernel tree would list them');
    notes.push(parts.join('; ') + '.');
  }
  if (added.length) notes.push(`new functions (${listOf(added)}) exist only in the new code: they are not in the patched set.`);
  if (removed.length) notes.push(`removed functions (${listOf(removed)}) are not replaced (a livepatch cannot remove code); their callers are.`);
  if (cosmetic.length) notes.push(`${listOf(cosmetic)}: only comments or whitespace change, nothing to patch.`);

  const symbols = changed.map((c) => c.symbol);
  const inSet = new Set(symbols);
  const nameToSymbol = new Map(changed.map((c) => [c.name, c.symbol] as [string, string]));
  const hunksOnly = files.some((f) => f.confidence !== 'tree');

  // 2. kthreads that never leave a changed function
  const threadFns = threadFunctions(files);
  const kthreadFns = new Set<string>();
  const usedNames = new Set<string>();
  const uniqueName = (base: string) => {
    let n = base;
    for (let k = 2; usedNames.has(n); k++) n = `${base}#${k}`;
    usedNames.add(n);
    return n;
  };
  let kthreadsLeft = MAX_KTHREADS;
  let sleepersLeft = MAX_SLEEPERS;
  const skippedK: string[] = [];
  const skippedS: string[] = [];

  /** Patched functions `c` calls, split at the call it sleeps in. */
  const patchedCallees = (c: Changed, facts: FunctionFacts | undefined, at: number): { before: string[]; after: string[] } => {
    const before: string[] = [];
    const after: string[] = [];
    (facts?.calls ?? []).forEach((call: Call, k) => {
      const s = nameToSymbol.get(call.name);
      if (!s || s === c.symbol) return;
      const into = k < at ? before : after;
      if (!into.includes(s) && into.length < 3) into.push(s);
    });
    return { before, after };
  };

  for (const c of changed) {
    const sides = [c.pre, c.post].filter((x): x is FunctionFacts => !!x);
    // a for (;;) loop around schedule() is also how syscalls wait: it counts only in a thread function (int f(void *)) or with the kthread/freezer API
    const kthreadApi = sides.some((s) => s.calls.some((x) => /^(kthread_should_park|kthread_parkme|try_to_freeze|set_freezable)$/.test(x.name)));
    const loop = sides.some((s) => s.kthreadLoop) && (kthreadApi || threadSignature(c.e));
    const stopCall = sides.some((s) => s.calls.some((x) => x.name === 'kthread_should_stop' || x.name === 'kthread_freezable_should_stop'));
    const created = threadFns.has(c.name);
    if (!loop && !stopCall && !created) continue;
    kthreadFns.add(c.symbol);
    if (kthreadsLeft-- <= 0) {
      skippedK.push(c.symbol);
      continue;
    }
    const preSite = c.pre ? sleepSite(c.pre) : undefined;
    const site = preSite ?? (c.post ? sleepSite(c.post) : undefined);
    const siteFacts = preSite ? c.pre : (c.post ?? c.pre);
    const freezeCall = sides.flatMap((s) => s.calls).find((x) => FREEZE_CALLS.test(x.name));
    const freezable = !!freezeCall || site?.freezable === true;
    const condResched = sides.some((s) => s.calls.some((x) => x.name === 'cond_resched'));
    const base = ['kthread', c.symbol];
    const { before, after } = patchedCallees(c, siteFacts, site?.index ?? Infinity);
    const program: Segment[] = [];
    const state: SleepState = site?.state ?? I;
    program.push({ sleep: [...base, ...(site?.frames ?? ['schedule', '__schedule'])], ms: { exp: KTHREAD_SLEEP_MS }, state, ...(freezable ? { freezable: true } : {}) });
    for (const g of after) program.push({ kernel: [...base, g], ms: 0.05 });
    program.push(condResched ? { kernel: base, ms: { exp: 20 }, condResched: 1 } : { kernel: base, ms: { exp: 0.5 } });
    for (const g of before) program.push({ kernel: [...base, g], ms: 0.05 });
    const name = uniqueName(commOf(threadFns.get(c.name), c.symbol));
    tasks.push({ name, kind: 'kthread', phase: 'start', program });
    const why = loop || stopCall ? `its ${stopCall ? 'kthread_should_stop()' : 'main'} loop` : 'it is the thread function given to kthread_run/kthread_create';
    const sleepWhy = site ? `sleeps in ${site.how} (${site.state}${freezable ? `, freezable: ${freezeCall ? `${freezeCall.name}()` : 'TASK_FREEZABLE'}` : ''})` : `no sleeping call is visible${hunksOnly ? ' in the hunks' : ''}: assumed to sleep in schedule() interruptibly`;
    const calls = before.length + after.length ? `; it calls patched ${listOf([...before, ...after])} (an old ${c.symbol} calling new callees, V1, once it is switched: by force, or at once under the null model)` : '';
    notes.push(`${c.symbol}: ${why} is a kthread that never leaves it: kthread "${name}" keeps kthread → ${c.symbol} on its stack and ${sleepWhy}${condResched ? ', busy between sleeps with cond_resched()' : ''}. Its stack always holds ${c.symbol}, so the transition cannot finish for it without force${calls}.`);
  }

  // 3. user tasks parked inside changed functions that sleep
  for (const c of changed) {
    if (kthreadFns.has(c.symbol)) continue;
    const preSite = c.pre ? sleepSite(c.pre) : undefined;
    const postSite = c.post ? sleepSite(c.post) : undefined;
    const site = preSite ?? postSite;
    if (!site) continue;
    if (sleepersLeft-- <= 0) {
      skippedS.push(c.symbol);
      continue;
    }
    const facts = preSite ? c.pre : c.post;
    const entry = entryFor(c.file.path, c.name, c.syscall ? { symbol: c.symbol } : undefined);
    const base = [...entry.chain, c.symbol];
    const { before, after } = patchedCallees(c, facts, site.index);
    const program: Segment[] = [{ sleep: [...base, ...site.frames], ms: PARKED_SLEEP, state: site.state, ...(site.freezable ? { freezable: true } : {}) }];
    for (const g of after) program.push({ kernel: [...base, g], ms: 0.02 });
    program.push({ kernel: base, ms: 0.02 });
    program.push({ user: { exp: 20 } });
    program.push({ kernel: base, ms: 0.02 });
    for (const g of before) program.push({ kernel: [...base, g], ms: 0.02 });
    const name = uniqueName(`${c.symbol}-sleeper`);
    tasks.push({ name, kind: 'user', phase: 'start', program });
    const side = preSite ? 'old' : 'new';
    const outcome =
      site.state === 'interruptible'
        ? 'an interruptible sleep: the hybrid model (5.1 and later) wakes it with the fake signal at ~15 s and it switches on its way back to user space'
        : `a${site.state === 'killable' ? ' killable' : 'n uninterruptible'} sleep: the fake signal does not wake it, the transition waits until it wakes on its own (after 20–40 s)`;
    const calls = before.length + after.length ? `; it calls patched ${listOf([...before, ...after])} ${before.length ? 'before' : 'after'} sleeping (a mixed episode, V2, when it switches in between)` : '';
    notes.push(
      `${c.symbol}${c.ripple ? ` (inlines ${c.ripple})` : ''} sleeps in ${site.how} (${side} code${site.lock ? ', under contention' : ''}): task "${name}" is parked inside it, entered through ${entry.via}. It starts asleep there (phase 'start') for 20–40 s, so it is inside ${c.symbol} when the patch is enabled; ${outcome}${calls}.`,
    );
  }
  if (skippedK.length) notes.push(`more kthread loops than modelled (${MAX_KTHREADS}): ${listOf(skippedK)} got no kthread.`);
  if (skippedS.length) notes.push(`more sleeping functions than modelled (${MAX_SLEEPERS}): ${listOf(skippedS)} got no parked task.`);
  const quiet = changed.filter((c) => !kthreadFns.has(c.symbol) && !(c.pre && sleepSite(c.pre)) && !(c.post && sleepSite(c.post))).map((c) => c.symbol);
  if (quiet.length) notes.push(`${listOf(quiet)} ${quiet.length === 1 ? 'does' : 'do'} not sleep${hunksOnly ? ' in what the hunks show (with a kernel tree the whole body is read)' : ''}: tasks only pass through ${quiet.length === 1 ? 'it' : 'them'}.`);

  // 4. data semantics
  const patch: PatchSpec = { functions: symbols };
  const ds = analysis.findings.filter((x) => x.category === 'dynamic-data-semantic');
  if (ds.length) {
    patch.dataSemantics = true;
    const { pairs, pairNotes } = sharedPairs(ds, files, inSet, nameToSymbol);
    notes.push(...pairNotes);
    const kept = pairs.slice(0, MAX_PAIRS);
    if (pairs.length > kept.length) notes.push(`more data-sharing pairs than modelled (${MAX_PAIRS}): ${pairs.length - kept.length} left out.`);
    if (kept.length) patch.sharedData = kept;
    // callers: two user tasks per pair (two of the same function for a pair with itself)
    const need = new Map<string, number>();
    for (const [a, b] of kept) {
      if (a === b) need.set(a, Math.max(need.get(a) ?? 0, 2));
      else for (const x of [a, b]) need.set(x, Math.max(need.get(x) ?? 0, 1));
    }
    for (const [fn, count] of need) {
      const c = bySymbol.get(fn);
      if (!c) continue;
      if (kthreadFns.has(fn)) {
        notes.push(`${fn} runs in its own kthread, which is the context that touches the data: no user caller added.`);
        continue;
      }
      const entry = entryFor(c.file.path, c.name, c.syscall ? { symbol: c.symbol } : undefined);
      const chain = [...entry.chain, fn];
      const name = uniqueName(`${fn}-caller`);
      const t: TaskSpec = { name, kind: 'user', program: [{ user: { exp: 1 } }, { kernel: chain, ms: { exp: 0.5 } }] };
      if (count > 1) t.count = count;
      tasks.push(t);
      const partners = kept.filter(([a, b]) => a === fn || b === fn).map(([a, b]) => (a === fn ? b : a));
      notes.push(`${fn} shares data with ${listOf(partners.map((p) => (p === fn ? 'itself (old and new code)' : p)))}: ${count > 1 ? `${count} user tasks ("${name}")` : `user task "${name}"`} call${count > 1 ? '' : 's'} it through ${entry.via} every ~1.5 ms (0.5 ms inside), so an old and a new version can run on the same data at once (V3).`);
    }
  }
  notes.push('ftrace and kprobe users of the patched functions cannot be known from a patch: `traced` is left empty.');
  return { patch, tasks, notes };
}

// ---------------------------------------------------------------- shared data

interface Toucher {
  name: string;
  changed: boolean;
}

function leafOf(resource: string): string | undefined {
  const m = /::(?:.*\.)?([A-Za-z_]\w*)(\[\])?$/.exec(resource);
  return m && m[1].length >= 4 ? m[1] : undefined;
}

/** Functions whose facts touch one of the resources (exactly, or the same distinctive field), changed or not. */
function touching(files: FileAnalysis[], resources: string[], prefixes: string[] = []): Toucher[] {
  const exact = new Set(resources);
  const leaves = new Set(resources.map(leafOf).filter((x): x is string => !!x));
  const hit = (r: string) => exact.has(r) || prefixes.some((p) => r.startsWith(p)) || (leaves.size > 0 && leaves.has(leafOf(r) ?? ''));
  const out = new Map<string, Toucher>();
  for (const f of files) {
    const scan = (ff: FunctionFacts, changed: boolean) => {
      if ([...ff.effects, ...ff.accesses].some((x) => hit(x.resource))) {
        const prev = out.get(ff.name);
        out.set(ff.name, { name: ff.name, changed: changed || prev?.changed === true });
      }
    };
    for (const ff of f.facts.pre.values()) scan(ff, true);
    for (const ff of f.facts.post.values()) scan(ff, true);
    for (const ff of f.facts.context.values()) scan(ff, false);
  }
  return [...out.values()];
}

/** Changed functions whose text (either side) mentions a word, plus unchanged ones whose facts do. */
function mentioning(files: FileAnalysis[], word: string): Toucher[] {
  const re = new RegExp(`\\b${word.replace(/\W/g, '')}\\b`);
  const out = new Map<string, Toucher>();
  for (const f of files) {
    for (const e of f.entities) {
      if (!CODE.has(e.kind) || e.change === 'removed') continue;
      if (re.test(e.old?.text ?? '') || re.test(e.new?.text ?? '')) out.set(e.name, { name: e.name, changed: true });
    }
    for (const ff of f.facts.context.values()) {
      if (out.has(ff.name)) continue;
      const used = ff.effects.some((x) => re.test(x.amount) || re.test(x.resource)) || ff.calls.some((c) => c.args.some((a) => re.test(a)));
      if (used) out.set(ff.name, { name: ff.name, changed: false });
    }
  }
  return [...out.values()];
}

function sharedPairs(ds: Finding[], files: FileAnalysis[], inSet: Set<string>, nameToSymbol: Map<string, string>): { pairs: [string, string][]; pairNotes: string[] } {
  const pairs: [string, string][] = [];
  const seen = new Set<string>();
  const pairNotes: string[] = [];
  const add = (a: string, b: string) => {
    const [x, y] = a <= b ? [a, b] : [b, a];
    const k = `${x}\0${y}`;
    if (seen.has(k)) return;
    seen.add(k);
    pairs.push([x, y]);
  };
  const sym = (n: string) => nameToSymbol.get(n) ?? n;
  for (const f of ds) {
    const data = (f.data ?? {}) as Record<string, unknown>;
    const fn = typeof data.function === 'string' ? data.function : undefined;
    let what: string;
    let found: Toucher[] = [];
    if (f.code === 'KLP142') {
      const locks = [...((data.gained as string[]) ?? []), ...((data.lost as string[]) ?? []), ...((data.retyped as string[]) ?? [])];
      found = touching(files, locks);
      what = `the locking of ${listOf(locks.map((l) => l.replace(/^(struct|union) /, '').replace('::', '->')), 3)}`;
    } else if (f.code === 'KLP144') {
      const macro = String(data.macro ?? '');
      found = macro ? mentioning(files, macro) : [];
      what = `the value of ${macro}`;
    } else if (typeof data.resource === 'string') {
      found = touching(files, [data.resource]);
      what = data.resource.replace(/^(struct|union) /, '').replace('::', '->').replace(/^api:/, '');
    } else if (typeof data.entity === 'string') {
      // KLP143 on a struct: existing members re-laid out
      const en = files.flatMap((x) => x.entities).find((x) => x.key === data.entity);
      const prefix = en ? `${en.kind} ${en.name}::` : '';
      const members = ((data.members as string[]) ?? []).map((m) => `${prefix}${m}`);
      found = prefix ? touching(files, members, [prefix]) : [];
      what = en ? `${en.kind} ${en.name}` : String(data.entity);
    } else {
      what = 'shared data';
    }
    const primaries = fn ? [fn] : found.filter((t) => t.changed).map((t) => t.name);
    const patchedPartners = found.filter((t) => t.changed && inSet.has(sym(t.name))).map((t) => sym(t.name));
    const unchanged = found.filter((t) => !t.changed || !inSet.has(sym(t.name))).map((t) => t.name).filter((n) => !primaries.includes(n));
    const before = pairs.length;
    for (const p of primaries.map(sym)) {
      if (!inSet.has(p)) continue;
      const others = patchedPartners.filter((q) => q !== p);
      if (others.length === 0) add(p, p);
      for (const q of others) add(p, q);
    }
    const made = pairs.slice(before).map(([a, b]) => (a === b ? `${a} with itself` : `${a}–${b}`));
    const unresolved = primaries.length === 0 || primaries.every((p) => !inSet.has(sym(p)));
    pairNotes.push(
      `${f.code}: ${what} changes meaning${fn ? ` in ${fn}` : ''}: ${made.length ? `shared-data pair${made.length === 1 ? '' : 's'} ${made.join(', ')}` : unresolved ? 'no patched function could be tied to it' : 'pairs already listed'}${unchanged.length ? `; unchanged ${listOf(unchanged, 4)} also touch${unchanged.length === 1 ? 'es' : ''} it (one version only, so not a V3 pair)` : ''}.`,
    );
  }
  return { pairs, pairNotes };
}

// ---------------------------------------------------------------- a model

/** The model of a patch on a built-in machine: its patched set and derived tasks dropped into the profile. */
export function modelFromPatch(analysis: PatchAnalysis, profile: ProfileName = 'idle-server', opts: Omit<ProfileOptions, 'patch'> = {}): ModelSpec {
  const w = workloadFromAnalysis(analysis);
  return builtinProfile(profile, { ...opts, patch: w.patch, extraTasks: [...w.tasks, ...(opts.extraTasks ?? [])] });
}

