/**
 * What every consistency model shares: the run (cursors over the machine's
 * tasks, the oracle, the trace, per-task patch state), the stall record and
 * the result. A model subclasses Run, decides how calls resolve and when
 * contexts switch, and fills in its metrics.
 */
import { Oracle, round } from './oracle';
import { Cursor, MAX_CHILDREN, MAX_TASKS, ModelError, spawnChild, type CursorHost, type Frame, type Machine, type Task, type Version } from './world';
import { DEFAULT_TIMING, type HeldBy, type Lane, type LaneState, type ModelId, type ModelResult, type Segment, type StallReason, type Timing, type TraceEvent } from './types';
import { kernelNumber } from '../kernelVersion';

export interface RunOptions {
  trace?: boolean;
  /** Counts the segments every cursor walked (the benchmark's events). */
  stats?: { events: number };
}

/** A consistency model behind the one interface the simulator calls. */
export interface ConsistencyModel {
  id: ModelId;
  /** One line for reports. */
  title: string;
  run(m: Machine, opts: RunOptions): ModelResult;
}

/** The run's timing constants: the defaults with the model's overrides, checked (a zero period would never advance). */
export function timingOf(m: Machine): Timing {
  const timing = { ...DEFAULT_TIMING, ...(m.spec.timing ?? {}) };
  for (const [k, v] of Object.entries(timing)) {
    const periodic = k === 'retryMs' || k === 'kgraftTimeoutMs' || k === 'gracePeriodMs' || k === 'signalsEvery';
    const counted = k === 'kpatchAttempts' || k === 'kspliceTries';
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (periodic && v <= 0) || (counted && (v > 1000 || !Number.isInteger(v))))
      throw new ModelError(`timing.${k} must be a ${counted ? 'whole number up to 1000' : periodic ? 'positive number' : 'non-negative number'}, got ${String(v)}`);
  }
  return timing;
}

/** How long a run models when the spec does not say (ms from the start). */
export const DEFAULT_DURATION_MS = 120_000;

const MAX_TRACE = 5000;
/** The oracle follows tasks for V3 (old and new code at once) through this much of a transition. */
export const V3_WINDOW_MS = 10_000;
const MAX_STALLED = 20;

export interface Stall {
  reason: StallReason;
  function?: string;
}

export abstract class Run implements CursorHost {
  readonly timing: Timing;
  readonly t0: number;
  readonly horizon: number;
  readonly oracle: Oracle;
  readonly trace: TraceEvent[] | undefined;
  readonly kernel: number;
  /** Cursors by task id (spec tasks and forked children). */
  readonly cursors: (Cursor | undefined)[] = [];
  /** Per-task patch state (hybrid, kGraft): the version the task reaches, and whether it still has to switch. */
  readonly ps: Version[] = [];
  readonly pending: boolean[] = [];
  /** When each task last switched (per-task models). */
  readonly lastSwitch: number[] = [];
  readonly stall = new Map<number, Stall>();
  pauses = { count: 0, maxMs: 0, totalMs: 0 };
  retries = 0;
  signalsSent = 0;
  /** When fake signals went out (run time). */
  readonly signalTimes: number[] = [];
  removable = true;
  notes: string[] = [];
  callbacks: ModelResult['callbacks'] = [];
  private traced = 0;
  private forkRefused = false;
  private readonly lanes = new Map<string, Lane & { rank: number; order: number }>();
  private readonly held: HeldBy[] = [];
  /** The unpatching transition (a reverse or a disable); `heldFrom`: where its entries in `held` begin. */
  private unpatch: { trigger: 'reverse' | 'disable'; at: number; done: number | null; heldFrom: number; holding: ModelResult['stalledTasks'] } | undefined;

  constructor(
    readonly m: Machine,
    readonly opts: RunOptions,
  ) {
    this.timing = timingOf(m);
    this.t0 = m.spec.enableAtMs ?? 100;
    this.horizon = m.spec.durationMs ?? DEFAULT_DURATION_MS;
    this.oracle = new Oracle(m);
    this.trace = opts.trace ? [] : undefined;
    this.kernel = kernelNumber(m.spec.kernel);
  }

  abstract resolve(task: Task, fn: string, t: number): Version;

  cursor(task: Task): Cursor {
    let c = this.cursors[task.id];
    if (!c) {
      // A task with a random phase is placed at a random point of a cycle around the enable time
      // (nothing before it matters); a task that starts at its program's start does so at 0.
      c = new Cursor(task, this.m, this, task.spawnedAt ?? (task.randomPhase ? this.t0 : 0));
      this.cursors[task.id] = c;
    }
    return c;
  }

  /** Tasks that have called a new version (the oracle's V3 search needs each task's first new activations only). */
  readonly sawNew: boolean[] = [];

  onCall(c: Cursor, f: Frame, t: number): void {
    if (f.version === 1 && c.task.id >= 0) this.sawNew[c.task.id] = true;
    this.oracle.onCall(c, f, t);
  }

  onReturn(c: Cursor, f: Frame, t: number): void {
    this.oracle.onReturn(c, f, t);
  }

  onFork(c: Cursor, program: Segment[], name: string | undefined, t: number): void {
    const child = spawnChild(this.m, c.task, program, name, t, c.forks);
    if (!child) {
      if (!this.forkRefused) this.notes.push(`${c.task.name} forks ${this.after(t)}, but the machine is at its task limit (${MAX_CHILDREN.toLocaleString('en-US')} forked children, ${MAX_TASKS.toLocaleString('en-US')} tasks in all) or the child's program takes no time: later forks are not modeled`);
      this.forkRefused = true;
      return;
    }
    this.inherit(child, c.task, t);
    this.log(t, child.name, 'fork', `child of ${c.task.name}`);
  }

  /** A forked child's patch state (thread flags are copied at fork). */
  inherit(child: Task, parent: Task, _t: number): void {
    this.ps[child.id] = this.ps[parent.id] ?? 0;
    this.pending[child.id] = this.pending[parent.id] ?? false;
  }

  /** Switches a task's patch state (per-task models), with the oracle's U check. */
  switchTask(c: Cursor, to: Version, t: number, mechanism: string): void {
    const id = c.task.id;
    this.ps[id] = to;
    this.pending[id] = false;
    this.lastSwitch[id] = t;
    this.release(id, c.task.name, t, mechanism);
    this.taskLane(c.task, t, to ? 'new' : 'old', mechanism);
    this.oracle.onSwitch(c, to, t, mechanism);
    this.log(t, c.task.name, 'switch', `${to ? 'old → new' : 'new → old'} (${mechanism})`);
  }

  /** A context switched: if it held the transition, it joins heldBy. Ids below 0 are idle tasks (-1 - cpu). */
  release(id: number, name: string, t: number, mechanism: string): void {
    const held = this.stall.get(id);
    if (held) this.held.push({ task: name, reason: held.reason, ...(held.function ? { function: held.function } : {}), switchedAtMs: round(t), mechanism });
    this.stall.delete(id);
  }

  /** The unpatching transition starts (a reverse, or a disable after completion). */
  startUnpatch(trigger: 'reverse' | 'disable', t: number): void {
    // A reverse: the tasks that held the patching when it was turned back.
    this.unpatch = { trigger, at: t, done: null, heldFrom: this.held.length, holding: trigger === 'reverse' ? this.stalled() : [] };
  }

  /** The unpatching transition completed. */
  unpatchDone(t: number): void {
    if (this.unpatch) this.unpatch.done ??= t;
  }

  /** A run time as the text shows it: seconds after enable. */
  after(t: number): string {
    return `${((t - this.t0) / 1000).toFixed(1)} s after enable`;
  }

  /** Records a state change on a context's lane (only with --trace). rank: 0 held the transition, 1 calls patched code, 2 other. */
  lane(task: string, kind: Lane['kind'], t: number, state: LaneState, why?: string, rank = 2): void {
    if (!this.trace) return;
    let l = this.lanes.get(task);
    if (!l) this.lanes.set(task, (l = { task, kind, changes: [], rank, order: this.lanes.size }));
    l.rank = Math.min(l.rank, rank);
    const last = l.changes[l.changes.length - 1];
    if (last && last.state === state) return;
    const c: Lane['changes'][number] = { timeMs: round(t), state };
    if (why) c.why = why;
    l.changes.push(c);
  }

  /** The lane of a task, ranked by what it did. */
  taskLane(task: Task, t: number, state: LaneState, why?: string): void {
    if (!this.trace) return;
    const rank = this.stall.has(task.id) ? 0 : task.relevant ? 1 : 2;
    this.lane(task.name, task.kind, t, state, why, rank);
  }

  log(t: number, task: string | undefined, event: string, detail?: string): void {
    if (!this.trace || this.traced >= MAX_TRACE) return;
    this.traced++;
    const e: TraceEvent = { timeMs: round(t), event };
    if (task !== undefined) e.task = task;
    if (detail !== undefined) e.detail = detail;
    this.trace.push(e);
  }

  pause(ms: number): void {
    this.pauses.count++;
    this.pauses.totalMs += ms;
    this.pauses.maxMs = Math.max(this.pauses.maxMs, ms);
  }

  callback(name: 'pre_patch' | 'post_patch' | 'pre_unpatch' | 'post_unpatch', t: number): void {
    if (!this.m.spec.patch.callbacks) return;
    this.callbacks!.push({ name, atMs: round(t) });
    this.log(t, undefined, 'callback', name);
  }

  /** Steps every cursor it created to `t` (oracle bookkeeping at the end). */
  stepAll(t: number, pred: (c: Cursor) => boolean = () => true): void {
    for (const c of this.cursors) if (c && pred(c)) c.stepTo(t);
  }

  /** Segments walked by every cursor (events simulated). */
  events(): number {
    let n = 0;
    for (const c of this.cursors) if (c) n += c.steps;
    return n;
  }

  /** The stall records, sorted by task id; named kthread loops never leave. */
  stalled(): ModelResult['stalledTasks'] {
    const ids = [...this.stall.keys()].sort((a, b) => (a < 0 ? 1e9 - a : a) - (b < 0 ? 1e9 - b : b));
    return ids.slice(0, MAX_STALLED).map((id) => {
      const s = this.stall.get(id)!;
      const name = id < 0 ? this.m.idle[-1 - id].name : this.m.tasks[id].name;
      const r: ModelResult['stalledTasks'][number] = { task: name, reason: s.reason };
      if (s.function) r.function = s.function;
      return r;
    });
  }

  result(id: ModelId, completionAt: number | null, extra: Partial<ModelResult> = {}): ModelResult {
    this.oracle.finish(Math.min(this.horizon, this.maxStepped()), completionAt);
    if (this.opts.stats) this.opts.stats.events += this.events();
    const r: ModelResult = {
      name: id,
      completed: completionAt !== null,
      completionTimeMs: completionAt === null ? null : round(completionAt - this.t0),
      pauses: { count: this.pauses.count, maxMs: round(this.pauses.maxMs), totalMs: round(this.pauses.totalMs) },
      retries: this.retries,
      signalsSent: this.signalsSent,
      ...(this.signalTimes.length ? { signalsAtMs: this.signalTimes.slice(0, 20).map((t) => round(t - this.t0)) } : {}),
      stalledTasks: this.stalled(),
      stalledCount: this.stall.size,
      violations: this.oracle.violations.sort((a, b) => a.timeMs - b.timeMs || a.class.localeCompare(b.class) || a.task.localeCompare(b.task)),
      violationCounts: this.oracle.counts,
      removable: this.removable,
      ...extra,
    };
    const patching = this.held.slice(0, this.unpatch?.heldFrom);
    if (patching.length) r.heldBy = this.lastHeld(patching);
    if (this.unpatch) r.unpatching = this.unpatchResult();
    if (this.m.spec.patch.callbacks) r.callbacks = this.callbacks;
    if (this.notes.length) r.notes = this.notes;
    if (this.trace) {
      r.trace = this.trace;
      const lanes = [...this.lanes.values()].sort((a, b) => a.rank - b.rank || a.order - b.order);
      r.timeline = lanes.slice(0, 200).map(({ task, kind, changes }) => ({ task, kind, changes }));
      r.timelineLanes = lanes.length;
    }
    return r;
  }

  /** The last to switch; among equals, those held by a patched function first. */
  private lastHeld(list: HeldBy[]): HeldBy[] {
    const inP = (h: { function?: string }) => (h.function && this.m.patched.has(h.function) ? 0 : 1);
    return [...list].sort((a, b) => b.switchedAtMs - a.switchedAtMs || inP(a) - inP(b) || a.task.localeCompare(b.task)).slice(0, 5);
  }

  private unpatchResult(): NonNullable<ModelResult['unpatching']> {
    const u = this.unpatch!;
    const held = this.held.slice(u.heldFrom);
    const done = u.done !== null;
    return {
      trigger: u.trigger,
      startedAfterEnableMs: round(u.at - this.t0),
      completed: done,
      completionTimeMs: done ? round(u.done! - u.at) : null,
      ...(held.length ? { heldBy: this.lastHeld(held) } : {}),
      ...(u.holding.length ? { reversedWhileHeldBy: u.holding } : {}),
      stalledTasks: done ? [] : this.stalled(),
      stalledCount: done ? 0 : this.stall.size,
    };
  }

  private maxStepped(): number {
    let t = this.t0;
    for (const c of this.cursors) if (c && c.end !== Infinity) t = Math.max(t, Math.min(c.end, this.horizon));
    return t;
  }

  /**
   * After the model is done: follow each task that calls tracked functions a
   * little further so the oracle sees what the switch leads to: the rest of
   * the kernel entry that straddles it (V2), old activations returning into new
   * code (V1), and, for V3, the first new activations. Bounded by the horizon
   * and a budget of segments.
   */
  /**
   * The settle pass every model runs: a task is followed while the kernel
   * entry that straddles its switch goes on (V2), while an activation of the
   * other version is on its stack (U, V1), and, for V3, until its first new
   * call or `v3Until`.
   */
  settleAfterSwitch(switchedAt: (c: Cursor) => number, target: (c: Cursor) => Version, v3Until: number | null): void {
    const v3 = this.oracle.v3 && v3Until !== null;
    this.settle((c) => c.keeStart <= switchedAt(c) || !!c.frameNot(target(c), this.m.patched) || (v3 && !this.sawNew[c.task.id] && c.end <= v3Until!));
  }

  settle(cont: (c: Cursor) => boolean, budget = 2_000_000): void {
    let spent = 0;
    const tasks = this.m.tasks;
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i];
      if (!task.relevant) continue;
      const c = this.cursor(task);
      while (c.mode !== 'exited' && c.end <= this.horizon && spent < budget && cont(c)) {
        c.advance();
        spent++;
      }
      if (spent >= budget) {
        this.notes.push(`the oracle stopped following tasks after ${budget} segments; later violations may be missing`);
        return;
      }
    }
  }
}

/** The task state a model reports for a stalled task: a kthread loop function in S(P) never leaves. */
export function inUse(c: Cursor, f: Frame): Stall {
  return { reason: c.isPersistent(f) ? 'NEVER_LEAVES_KERNEL' : 'IN_USE', function: f.fn };
}
