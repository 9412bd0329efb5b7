/**
 * A raw snapshot (parse.ts) becomes a model of the machine it was taken on:
 * its kernel profile and arch from uname and the config, its CPUs, and one
 * task per thread seen, whose program is drawn from what the samples showed
 * (how often it slept where, ran, or was preempted). What the snapshot could
 * not see is said in `capture.unseen` and modeled the optimistic way (outside
 * the patch), so precheck can say so next to its verdict.
 */
import { ARCH_PROFILES, KERNEL_PROFILES, type ArchProfile, type CaptureInfo, type Dist, type KernelProfile, type Segment, type TaskSpec } from '../sim/types';
import type { ModelFileSpec } from '../sim/modelFile';
import type { RawCapture, TaskSample } from './parse';
import { maxOf } from '../arrays';
import { kernelNumber } from '../kernelVersion';

/** A task seen in the same state at every sample stays there for this long (beyond any modeled run). */
export const FOREVER_MS = 3_600_000;
/** Mean length of a kernel burst of a thread seen both running and asleep. */
export const KERNEL_BURST_MS = 1;
/** The frame a running task's unseen stack is modeled with. */
export const UNSEEN_FRAME = '(stack not seen: running)';
const UNREADABLE_FRAME = '(stack not readable)';
const COND_RESCHED = new Set(['__cond_resched', '_cond_resched', 'cond_resched', 'preempt_schedule_common', '__cond_resched_lock']);
const PREEMPTED = new Set(['preempt_schedule_irq', 'irqentry_exit', 'preempt_schedule', 'preempt_schedule_thunk', 'asm_sysvec_apic_timer_interrupt', 'asm_sysvec_reschedule_ipi']);

/** A model file without a patch (the patch being checked brings it). */
export type CapturedModel = Omit<ModelFileSpec, 'patch'> & { capture: CaptureInfo };

/** The newest kernel profile at or below the release (6.12 → 6.4, 6.1 → 6.1). */
export function profileForRelease(release: string): KernelProfile | undefined {
  const n = kernelNumber(release);
  if (Number.isNaN(n)) return undefined;
  let best: KernelProfile | undefined;
  for (const p of KERNEL_PROFILES) if (kernelNumber(p) <= n) best = p;
  return best;
}

function archFor(machine: string, config: Record<string, string>): ArchProfile {
  const reliable = Object.keys(config).length === 0 || config.CONFIG_HAVE_RELIABLE_STACKTRACE === 'y';
  if (!reliable) return ARCH_PROFILES['no-reliable-stacktrace'];
  const name = machine === 'aarch64' ? 'arm64' : machine;
  if (name === 'x86_64') return config.CONFIG_UNWINDER_FRAME_POINTER === 'y' ? ARCH_PROFILES['x86_64-fp'] : ARCH_PROFILES.x86_64;
  return ARCH_PROFILES[name] ?? { name, reliableStacktrace: true, unwinder: 'fp' };
}

function preemptionOf(config: Record<string, string>): string {
  if (config.CONFIG_PREEMPT_RT === 'y') return 'rt';
  const base = config.CONFIG_PREEMPT === 'y' ? 'full' : config.CONFIG_PREEMPT_VOLUNTARY === 'y' ? 'voluntary' : config.CONFIG_PREEMPT_NONE === 'y' ? 'none' : 'unknown';
  return config.CONFIG_PREEMPT_DYNAMIC === 'y' ? `${base} (dynamic)` : base;
}

/** One observation as a program step with a duration still to fill in. */
function stepOf(s: TaskSample): Segment | undefined {
  const frames = s.stack.length ? s.stack : [s.stackError ? UNREADABLE_FRAME : UNSEEN_FRAME];
  switch (s.state) {
    case 'Z':
    case 'X':
      return undefined;
    case 'R':
      if (!s.kthread) return { user: 0 };
      // Busy where the capture cannot look: a kthread that stays on a CPU calls cond_resched() (else the soft-lockup watchdog fires).
      if (!s.stack.length) return { kernel: [UNSEEN_FRAME], ms: 0, condResched: 1 };
      if (s.stack.some((f) => COND_RESCHED.has(f))) return { kernel: s.stack.filter((f) => !COND_RESCHED.has(f)), ms: 0, condResched: 1 };
      return { kernel: s.stack, ms: 0, ...(s.stack.some((f) => PREEMPTED.has(f)) ? { preempted: true } : {}) };
    case 'S':
      return { sleep: frames, ms: 0, state: 'interruptible' };
    case 'K':
      return { sleep: frames, ms: 0, state: 'killable' };
    default:
      // D, I (TASK_IDLE: uninterruptible, no load), T and t (stopped, traced), W, P
      return { sleep: frames, ms: 0, state: 'uninterruptible' };
  }
}

const keyOf = (g: Segment) => JSON.stringify(g);

/** The program of one thread from its observations (oldest first); it starts where the last sample saw it. */
export function programOf(seen: TaskSample[], intervalMs: number): Segment[] | undefined {
  const steps = seen.map(stepOf);
  const last = steps[steps.length - 1];
  if (!last) return undefined;
  const runs = new Map<string, { step: Segment; count: number; runs: number; order: number }>();
  let prev = '';
  for (const [i, st] of steps.entries()) {
    if (!st) continue;
    const k = keyOf(st);
    const r = runs.get(k) ?? { step: st, count: 0, runs: 0, order: i };
    r.count++;
    if (k !== prev) r.runs++;
    runs.set(k, r);
    prev = k;
  }
  const withMs = (st: Segment, ms: Dist): Segment => ('user' in st ? { user: ms } : ({ ...st, ms } as Segment));
  if (runs.size === 1) return [withMs(last, FOREVER_MS)];
  const ordered = [...runs.values()].sort((a, b) => a.order - b.order);
  const lastKey = keyOf(last);
  const at = ordered.findIndex((r) => keyOf(r.step) === lastKey);
  const rotated = [...ordered.slice(at), ...ordered.slice(0, at)];
  // A sample is a point: a thread also seen asleep was caught in a burst of kernel work whose length
  // the samples cannot tell; bursts are short (KERNEL_BURST_MS), the sleeps get the time seen.
  const slept = rotated.some((r) => 'sleep' in r.step);
  return rotated.map((r) => withMs(r.step, { exp: slept && 'kernel' in r.step ? KERNEL_BURST_MS : Math.max(1, Math.round((r.count * intervalMs) / r.runs)) }));
}

function intervalOf(cap: RawCapture): number {
  const s = cap.samples;
  if (s.length < 2) return 0;
  return Math.max(1, Math.round(((s[s.length - 1].uptime - s[0].uptime) * 1000) / (s.length - 1)));
}

/**
 * The share of the time a thread seen running at every sample held its CPU: its run time over its run
 * plus runqueue wait time between the first and the last sample (/proc/PID/schedstat). Undefined when
 * it was seen once, asleep, or without the counts.
 */
export function onCpuOf(seen: TaskSample[]): number | undefined {
  const a = seen[0];
  const b = seen[seen.length - 1];
  if (a === b || seen.some((t) => t.state !== 'R') || a.runNs === undefined || b.runNs === undefined || a.waitNs === undefined || b.waitNs === undefined) return undefined;
  const run = b.runNs - a.runNs;
  const wait = b.waitNs - a.waitNs;
  if (run < 0 || wait < 0 || run + wait <= 0) return undefined;
  return Math.round((run / (run + wait)) * 10_000) / 10_000;
}

/** A running kernel step of a thread that waited for its CPU part of the time says so (onCpu). */
function withOnCpu(program: Segment[], seen: TaskSample[]): Segment[] {
  const share = onCpuOf(seen);
  const only = program[0];
  if (share === undefined || share >= 1 || program.length !== 1 || !('kernel' in only)) return program;
  return [{ ...only, onCpu: share }];
}

/**
 * Each CPU's mean time between passes through its idle loop, in ms: the times the tasks last seen on
 * it were put on a CPU between the first and the last sample (their /proc/PID/schedstat), over that
 * time. On a mostly idle CPU nearly every one of them ends in the idle loop, where a pending idle task
 * switches. With no such count a CPU gets the whole span (no pass seen in it); undefined without two
 * samples that carry the counts.
 */
export function idleLoopMsOf(cap: RawCapture, threads: Map<number, TaskSample[]>, cpus: number): number[] | undefined {
  const s = cap.samples;
  if (s.length < 2) return undefined;
  const spanMs = (s[s.length - 1].uptime - s[0].uptime) * 1000;
  if (!(spanMs > 0)) return undefined;
  const passes = new Array<number>(cpus).fill(0);
  let counted = false;
  for (const seen of threads.values()) {
    const a = seen[0];
    const b = seen[seen.length - 1];
    if (a === b || a.timeslices === undefined || b.timeslices === undefined) continue;
    counted = true;
    if (b.cpu < cpus) passes[b.cpu] += Math.max(0, b.timeslices - a.timeslices);
  }
  if (!counted) return undefined;
  return passes.map((n) => Math.round((spanMs / Math.max(1, n)) * 100) / 100);
}

/** Threads by tid with their observations, the capture's own processes left out. */
function threadsOf(cap: RawCapture): Map<number, TaskSample[]> {
  const self = cap.self;
  const byTid = new Map<number, TaskSample[]>();
  for (const s of cap.samples)
    for (const t of s.tasks) {
      if (self !== undefined && (t.pid === self || t.ppid === self)) continue;
      byTid.set(t.tid, [...(byTid.get(t.tid) ?? []), t]);
    }
  return byTid;
}

function unseenOf(cap: RawCapture, threads: Map<number, TaskSample[]>): string[] {
  const out: string[] = [];
  const lastSeen = [...threads.values()].map((l) => l[l.length - 1]);
  const unreadable = lastSeen.filter((t) => t.stackError);
  if (unreadable.length) out.push(`the kernel stacks of ${unreadable.length} of ${lastSeen.length} tasks could not be read (${unreadable[0].stackError}): they are modeled outside the patch; capture as root outside a container`);
  const running = lastSeen.filter((t) => t.state === 'R' && !t.stack.length && !t.stackError);
  if (running.length) out.push(`${running.length} task${running.length === 1 ? ' was' : 's were'} running, so ${running.length === 1 ? 'its stack' : 'their stacks'} could not be seen (${running.slice(0, 3).map((t) => `pid ${t.tid} ${t.comm}`).join(', ')}): a running kthread is modeled busy in the kernel outside the patch, calling cond_resched(), a running user task in user mode`);
  if (!cap.samples.some((s) => s.jiffies !== undefined)) out.push('no /proc/schedstat (CONFIG_SCHEDSTATS): the whole-second phase of the retries is unknown, so the times may be off by up to 0.75 s');
  if (Object.keys(cap.config).length === 0) out.push('no kernel config (/proc/config.gz, /boot/config-*): assumed CONFIG_LIVEPATCH, a reliable stacktrace and the ORC unwinder');
  if (cap.samples.length === 1) out.push('one sample: every task is modeled staying where it was seen; capture with --samples for how often tasks move');
  else if (!cap.samples.some((s) => s.tasks.some((t) => t.timeslices !== undefined))) out.push('no /proc/PID/schedstat (CONFIG_SCHED_INFO): how often each idle CPU passes its idle loop is unknown, so an idle CPU is modeled waking every 250 ms');
  return out;
}

export class CaptureModelError extends Error {}

/** The model of the captured machine (no patch: precheck and simulate add the patch's). */
export function captureToModel(cap: RawCapture): CapturedModel {
  const kernel = profileForRelease(cap.release);
  if (!kernel) throw new CaptureModelError(`kernel ${cap.release}: no livepatch model for it (the simulator covers ${KERNEL_PROFILES[0]} and later)`);
  const threads = threadsOf(cap);
  const intervalMs = intervalOf(cap);
  const tasks: TaskSpec[] = [];
  const possible = cap.cpusPossible?.length ? maxOf(cap.cpusPossible) + 1 : Math.max(1, maxOf([...threads.values()].map((l) => l[l.length - 1].cpu + 1)));
  const online = cap.cpusOnline ?? Array.from({ length: possible }, (_, i) => i);
  for (const [tid, seen] of [...threads].sort((a, b) => a[0] - b[0])) {
    const steps = programOf(seen, intervalMs || 100);
    if (!steps) continue;
    const program = withOnCpu(steps, seen);
    const last = seen[seen.length - 1];
    tasks.push({ name: `pid ${tid} ${last.comm}`, kind: last.kthread ? 'kthread' : 'user', cpu: Math.min(last.cpu, possible - 1), phase: 'start', program });
  }
  const lastSample = cap.samples[cap.samples.length - 1];
  const idleLoopMs = idleLoopMsOf(cap, threads, possible);
  const hz = Number(cap.config.CONFIG_HZ) || undefined;
  const parent = lastSample?.tasks.find((t) => t.pid === cap.samples[0]?.tasks.find((x) => x.pid === cap.self)?.ppid);
  const info: CaptureInfo = {
    release: cap.release,
    machine: cap.machine,
    node: cap.node,
    samples: cap.samples.length,
    intervalMs,
    tasks: tasks.length,
    preemption: preemptionOf(cap.config),
    ...(hz ? { hz } : {}),
    livepatches: cap.livepatches,
    ...(Object.keys(cap.config).length ? { livepatchConfigured: cap.config.CONFIG_LIVEPATCH === 'y' } : {}),
    unseen: unseenOf(cap, threads),
  };
  return {
    name: `${cap.node && cap.node !== '(none)' ? cap.node : 'machine'} (${cap.release}, captured)`,
    kernel,
    arch: archFor(cap.machine, cap.config),
    cpus: possible,
    ...(possible - online.length > 0 ? { offlineCpus: possible - online.length } : {}),
    ...(idleLoopMs ? { idleLoopMs } : {}),
    tasks,
    ...(parent ? { runner: { cpu: parent.cpu } } : {}),
    ...(hz && lastSample?.jiffies !== undefined ? { jiffies: { hz, atEnable: lastSample.jiffies } } : {}),
    capture: info,
  };
}
