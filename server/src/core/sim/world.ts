/**
 * The modeled machine: task instances and their timelines.
 *
 * A task runs its behaviour program (research note 1.2–1.4) as a sequence of
 * segments with durations drawn from the task's own random stream. A Cursor
 * walks one task's timeline forward, segment by segment, and keeps its kernel
 * stack as activations: consecutive segments that share a call-chain prefix
 * keep those frames (the function did not return); the frames that differ are
 * returns and calls. Each call of a function of the patched set is resolved to
 * a version (old 0 / new 1) by the model driving the cursor, at the instant of
 * the call, and keeps that version until it returns.
 *
 * Models never simulate ticks: they move each cursor to the instants that
 * matter (attempts, stop_machine windows, exits to user), so cost grows with
 * the segments a task runs before it is switched, not with modeled time.
 */
import { Rng, hashSeed, meanOf } from './rng';
import type { ModelSpec, Segment, TaskKind } from './types';

export type Version = 0 | 1;
export type Mode = 'user' | 'kernel' | 'sleep' | 'exited';

export interface Frame {
  fn: string;
  /** The version this activation runs (only meaningful for functions of interest). */
  version: Version;
  since: number;
  /** The function is in the patched set (or shares data with it). */
  tracked: boolean;
  /** The oracle's record of this activation (V3). */
  iv?: { end: number };
}

/** One modeled task (an instance of a TaskSpec, a forked child, or an idle task). */
export interface Task {
  id: number;
  name: string;
  kind: TaskKind | 'idle';
  cpu: number;
  program: Segment[];
  /** Random start point in the first cycle. */
  randomPhase: boolean;
  /** Stream key: the name for spec tasks, derived for children. */
  key: string;
  /** The chain prefix every kernel/sleep segment of the program shares (a kthread's loop), or 0. */
  persistent: number;
  /** The program calls a function of interest somewhere (tasks that never do need no stepping by global models). */
  relevant: boolean;
  /** The program has fork or exit steps (no re-phasing). */
  structural: boolean;
  /** Mean length of one cycle (ms). */
  cycleMean: number;
  parent?: Task;
  spawnedAt?: number;
}

export interface Machine {
  spec: ModelSpec;
  seed: number;
  tasks: Task[];
  idle: Task[];
  /** Patched set S(P), including nops. */
  patched: Set<string>;
  /** Functions whose activations the oracle follows: S(P) plus the shared-data functions. */
  tracked: Set<string>;
  onlineCpus: number;
  /** Tasks per CPU, for CPU occupancy. */
  byCpu: Task[][];
  /** Forked children get consecutive ids after the spec tasks. */
  nextId: number;
  /** How many tasks the spec itself has. */
  specTasks: number;
}

/** A machine that cannot be run (a program that takes no time, too many tasks): the message names the task. */
export class ModelError extends Error {}

/** Tasks a machine may have, forked children included. */
export const MAX_TASKS = 200_000;
/** Forked children a run follows (a fork bomb stops here, with a note). */
export const MAX_CHILDREN = 20_000;

/** Builds the task instances of a model. Deterministic: names, CPUs and ids depend only on the spec. */
export function buildMachine(spec: ModelSpec, seed: number): Machine {
  let total = 0;
  for (const ts of spec.tasks) {
    total += ts.count ?? 1;
    if (ts.program.length === 0) throw new ModelError(`task ${ts.name}: its program is empty`);
    if (!(programShape(ts.program, new Set()).cycleMean > 0)) throw new ModelError(`task ${ts.name}: its program takes no time (every step lasts 0 ms), so it would run forever at one instant; give a step a duration`);
  }
  if (total > MAX_TASKS) throw new ModelError(`the machine has ${total} tasks; the simulator takes at most ${MAX_TASKS}`);
  if (!(spec.cpus >= 1)) throw new ModelError('the machine needs at least one CPU');
  const patched = new Set([...spec.patch.functions, ...(spec.patch.nops ?? [])]);
  const tracked = new Set(patched);
  for (const [a, b] of spec.patch.sharedData ?? []) {
    tracked.add(a);
    tracked.add(b);
  }
  const tasks: Task[] = [];
  const byCpu: Task[][] = Array.from({ length: spec.cpus }, () => []);
  const online = Math.max(1, spec.cpus - (spec.offlineCpus ?? 0));
  let rr = 0;
  for (const ts of spec.tasks) {
    const n = ts.count ?? 1;
    const shape = programShape(ts.program, tracked);
    for (let k = 0; k < n; k++) {
      const name = n === 1 ? ts.name : `${ts.name}/${k}`;
      const cpu = typeof ts.cpu === 'number' ? ts.cpu : rr++ % online;
      const t: Task = {
        id: tasks.length,
        name,
        kind: ts.kind,
        cpu,
        program: ts.program,
        randomPhase: ts.phase !== 'start',
        key: name,
        ...shape,
      };
      tasks.push(t);
      byCpu[cpu]?.push(t);
    }
  }
  const idle: Task[] = [];
  for (let c = 0; c < spec.cpus; c++) {
    idle.push({
      id: -1 - c,
      name: `swapper/${c}`,
      kind: 'idle',
      cpu: c,
      program: [],
      randomPhase: false,
      key: `swapper/${c}`,
      persistent: 0,
      relevant: false,
      structural: false,
      cycleMean: 0,
    });
  }
  return { spec, seed, tasks, idle, patched, tracked, onlineCpus: online, byCpu, nextId: tasks.length, specTasks: tasks.length };
}

/** What a program does: whether it calls a function of `tracked`, forks or exits, its mean cycle, its persistent chain prefix. */
export function programShape(program: Segment[], tracked: Set<string>) {
  let relevant = false;
  let structural = false;
  let cycleMean = 0;
  let prefix: string[] | undefined;
  let hasUser = false;
  for (const s of program) {
    if ('user' in s) {
      hasUser = true;
      cycleMean += pos(meanOf(s.user));
    } else if ('kernel' in s || 'sleep' in s) {
      const chain = 'kernel' in s ? s.kernel : s.sleep;
      cycleMean += pos(meanOf(s.ms));
      if (chain.some((f) => tracked.has(f))) relevant = true;
      prefix = prefix === undefined ? chain.slice() : prefix.slice(0, commonPrefix(prefix, chain));
    } else {
      structural = true;
      if ('fork' in s && programShape(s.fork.program, tracked).relevant) relevant = true;
    }
  }
  return { relevant, structural, cycleMean, persistent: hasUser || !prefix ? 0 : prefix.length };
}

const pos = (x: number) => (x > 0 ? x : 0);

export function commonPrefix(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

const UNTRACKED = new Map<string, Frame>();

/** Scheduler frames below a sleeping task's chain (__schedule, schedule, ...). */
const SLEEP_FRAMES = 3;
/** An interrupt frame and the preemption path below a preempted task's chain. */
const PREEMPT_FRAMES = 4;

/** What the driving model decides about calls and boundaries. */
export interface CursorHost {
  /** The version a call of `fn` by this task at `t` reaches. */
  resolve(task: Task, fn: string, t: number): Version;
  /** Called for every call of a tracked function (after the frame is pushed). */
  onCall?(cursor: Cursor, frame: Frame, t: number): void;
  /** Called for every return of a tracked function (before the frame is popped). */
  onReturn?(cursor: Cursor, frame: Frame, t: number): void;
  /** The task returned to user mode at t (before the next segment's calls). */
  onExitToUser?(cursor: Cursor, t: number): void;
  /** The task entered the kernel from user mode at t (before the calls). */
  onEnterKernel?(cursor: Cursor, t: number): void;
  /** A kthread finished one iteration of its program (a new KEE). */
  onLoop?(cursor: Cursor, t: number): void;
  /** A new segment began (after calls). */
  onSegment?(cursor: Cursor, t: number): void;
  /** A fork step: the host creates the child. */
  onFork?(cursor: Cursor, program: Segment[], name: string | undefined, t: number): void;
}

/** One task's position in its timeline. */
export class Cursor {
  readonly rng: Rng;
  /** Index of the current segment in the program. */
  index = 0;
  start = 0;
  end = 0;
  mode: Mode = 'user';
  seg: Segment | undefined;
  /** The kernel stack: one frame per function of the current chain. */
  stack: Frame[] = [];
  /** Kernel entry episode counter and when the current one began. */
  kee = 0;
  keeStart = 0;
  /** Program index where the current episode began (a restarted syscall resumes there). */
  private keeIndex = 0;
  private restartAt = -1;
  /** Segments walked (for the benchmark's event count). */
  steps = 0;
  forks = 0;
  /** Signal wake-ups applied to this timeline. */
  readonly signals: { t: number; how: 'exit' | 'leave' }[] = [];

  constructor(
    readonly task: Task,
    readonly machine: Machine,
    readonly host: CursorHost,
    startAt = 0,
  ) {
    this.rng = new Rng(hashSeed(machine.seed, task.key));
    const p = task.program;
    if (p.length === 0) {
      this.mode = 'exited';
      this.end = Infinity;
      return;
    }
    if (task.randomPhase) this.placeRandomly(startAt);
    else {
      this.index = -1;
      this.end = startAt;
      this.advance();
    }
  }

  /** Starts at a uniformly random point of one cycle that contains time `at`. */
  private placeRandomly(at: number): void {
    const p = this.task.program;
    const d = p.map((s) => this.duration(s));
    const total = d.reduce((a, b) => a + b, 0);
    let off = this.rng.next() * total;
    let k = 0;
    while (k < p.length - 1 && off >= d[k]) off -= d[k++];
    // Steps of zero length (fork, exit) are not landed on.
    while (k < p.length - 1 && ('fork' in p[k] || 'exit' in p[k])) k++;
    this.index = k;
    this.start = at - off;
    this.end = this.start + d[k];
    this.keeIndex = 0;
    for (let j = k; j >= 0; j--) if ('user' in p[j]) {
      this.keeIndex = j + 1;
      break;
    }
    this.enter(p[k], this.start, true);
  }

  private duration(s: Segment): number {
    const d = 'user' in s ? this.rng.draw(s.user) : 'kernel' in s || 'sleep' in s ? this.rng.draw(s.ms) : 0;
    return d > 0 ? d : 0; // negative or NaN (a hand-built spec) counts as zero: time never runs backwards
  }

  /** Moves to the next segment. */
  advance(): void {
    const p = this.task.program;
    const t = this.end;
    this.steps++;
    if (this.restartAt >= 0) {
      // A fake signal: the sleep ended, the task returns to user mode and restarts the call.
      const next = this.restartAt;
      this.restartAt = -1;
      this.transition(t, [], 'user', undefined);
      this.host.onExitToUser?.(this, t);
      this.index = next - 1;
      this.end = t;
      return this.advance();
    }
    let i = this.index + 1;
    if (i >= p.length) {
      i = 0;
      if (this.task.kind !== 'user') {
        this.kee++;
        this.keeStart = t;
        this.host.onLoop?.(this, t);
      }
    }
    const s = p[i];
    this.index = i;
    if ('fork' in s) {
      // From user mode a fork is a clone() system call: into the kernel and back out.
      const syscall = this.mode === 'user' && this.task.kind === 'user';
      if (syscall) this.leftUser(t);
      this.host.onFork?.(this, s.fork.program, s.fork.name, t);
      if (syscall) this.host.onExitToUser?.(this, t);
      this.forks++;
      this.start = this.end = t;
      return this.advance();
    }
    if ('exit' in s) {
      this.transition(t, [], 'exited', s);
      this.start = t;
      this.end = Infinity;
      return;
    }
    this.start = t;
    this.end = t + this.duration(s);
    this.enter(s, t, false);
  }

  private enter(s: Segment, t: number, initial: boolean): void {
    if ('user' in s) {
      const wasKernel = this.mode === 'kernel' || this.mode === 'sleep';
      this.transition(t, [], 'user', s);
      if (wasKernel && !initial) this.host.onExitToUser?.(this, t);
      return;
    }
    const chain = 'kernel' in s ? s.kernel : 'sleep' in s ? s.sleep : [];
    const fromUser = this.mode === 'user';
    if (fromUser && !initial) this.leftUser(t);
    else if (initial) {
      this.kee = 1;
      this.keeStart = t;
    }
    this.transition(t, chain, 'kernel' in s ? 'kernel' : 'sleep', s);
  }

  private leftUser(t: number): void {
    this.kee++;
    this.keeStart = t;
    this.keeIndex = this.index;
    this.host.onEnterKernel?.(this, t);
  }

  /** Pops the frames the new chain does not share and pushes the new ones. */
  private transition(t: number, chain: readonly string[], mode: Mode, s: Segment | undefined): void {
    const st = this.stack;
    let keep = 0;
    const n = Math.min(st.length, chain.length);
    while (keep < n && st[keep].fn === chain[keep]) keep++;
    while (st.length > keep) {
      const f = st.pop()!;
      if (f.tracked) this.host.onReturn?.(this, f, t);
    }
    this.mode = mode;
    this.seg = s;
    const tracked = this.machine.tracked;
    for (let j = keep; j < chain.length; j++) {
      const fn = chain[j];
      if (!tracked.has(fn)) {
        // Frames of functions nobody follows carry no state: one shared object per name.
        let f = UNTRACKED.get(fn);
        if (!f) UNTRACKED.set(fn, (f = Object.freeze({ fn, version: 0, since: 0, tracked: false }) as Frame));
        st.push(f);
        continue;
      }
      const f: Frame = { fn, version: this.host.resolve(this.task, fn, t), since: t, tracked: true };
      st.push(f);
      this.host.onCall?.(this, f, t);
    }
    this.host.onSegment?.(this, t);
  }

  /** Walks forward until the segment that contains `t` (segments ending at or before t are done). */
  stepTo(t: number): void {
    while (this.end <= t && this.mode !== 'exited') this.advance();
  }

  /**
   * Like stepTo, for models that need only the state at `t` (stop_machine
   * windows): a task far from `t` whose timeline does not fork or exit is
   * placed at a fresh random point of a cycle around `t` instead of walking
   * every segment in between. Its persistent frames (a kthread's loop) stay.
   */
  seekTo(t: number): void {
    const task = this.task;
    if (!task.structural && task.cycleMean > 0 && t - this.end > 10 * task.cycleMean) {
      const keep = this.stack.slice(0, task.persistent);
      this.stack = keep;
      this.mode = keep.length ? 'kernel' : 'user';
      const p = task.program;
      const d = p.map((s) => this.duration(s));
      const total = d.reduce((a, b) => a + b, 0);
      let off = this.rng.next() * total;
      let k = 0;
      while (k < p.length - 1 && off >= d[k]) off -= d[k++];
      this.index = k;
      this.start = t - off;
      this.end = this.start + d[k];
      this.kee++;
      this.keeStart = this.start;
      this.keeIndex = 0;
      this.enter(p[k], this.start, false);
      this.steps++;
    }
    this.stepTo(t);
  }

  /** On a CPU at t (running user or kernel code, not preempted, not asleep). */
  running(): boolean {
    if (this.mode === 'user') return true;
    if (this.mode === 'kernel') return !(this.seg && 'kernel' in this.seg && this.seg.preempted);
    return false;
  }

  /** Preempted inside the kernel (an interrupt frame on the stack). */
  preempted(): boolean {
    return this.mode === 'kernel' && !!this.seg && 'kernel' in this.seg && !!this.seg.preempted;
  }

  /** A frame the reliable unwinder rejects. */
  unreliable(): boolean {
    const s = this.seg;
    return !!s && (('kernel' in s && !!s.kernel && !!s.unreliable) || ('sleep' in s && !!s.unreliable));
  }

  /** Stack entries a trace of this task holds. */
  depth(): number {
    if (this.mode === 'user' || this.mode === 'exited') return 0;
    const s = this.seg as { depth?: number };
    return this.stack.length + (s.depth ?? 0) + (this.mode === 'sleep' ? SLEEP_FRAMES : this.preempted() ? PREEMPT_FRAMES : 1) + 2;
  }

  sleepState(): 'interruptible' | 'uninterruptible' | 'killable' | undefined {
    const s = this.seg;
    if (this.mode !== 'sleep' || !s || !('sleep' in s)) return undefined;
    return s.state ?? 'interruptible';
  }

  freezable(): boolean {
    const s = this.seg;
    return this.mode === 'sleep' && !!s && 'sleep' in s && !!s.freezable;
  }

  /** The share of the time a running kernel step holds its CPU (1 unless the step says less). */
  onCpu(): number {
    const s = this.seg;
    return this.mode === 'kernel' && s && 'kernel' in s && typeof s.onCpu === 'number' ? s.onCpu : 1;
  }

  /** The cond_resched() period of the current kernel segment, or 0. */
  condResched(): number {
    const s = this.seg;
    return this.mode === 'kernel' && s && 'kernel' in s && s.condResched ? s.condResched : 0;
  }

  safePoint(): boolean {
    const s = this.seg;
    return this.mode === 'kernel' && !!s && 'kernel' in s && !!s.safePoint;
  }

  /**
   * A wake-up by a (fake) signal at t, while asleep: "exit" ends the sleep,
   * returns to user mode and restarts the call; "leave" ends the sleep and goes
   * on with the program.
   */
  wake(t: number, how: 'exit' | 'leave'): void {
    if (this.mode !== 'sleep' || t < this.start || t >= this.end) return;
    this.end = t;
    if (how === 'exit') this.restartAt = this.keeIndex;
    this.signals.push({ t, how });
    this.advance();
  }

  /** The first tracked frame whose version differs from `v`, searching `limit` entries from the innermost. */
  frameNot(v: Version, patchedOnly: Set<string>, limit = Infinity): Frame | undefined {
    const st = this.stack;
    // Extra depth and scheduler frames sit innermost; they count against the limit first.
    const s = this.seg as { depth?: number } | undefined;
    let seen = (s?.depth ?? 0) + (this.mode === 'sleep' ? SLEEP_FRAMES : 1);
    for (let j = st.length - 1; j >= 0; j--) {
      if (++seen > limit) return undefined;
      const f = st[j];
      if (f.tracked && f.version !== v && patchedOnly.has(f.fn)) return f;
    }
    return undefined;
  }

  /** The innermost tracked frame on the stack with any version (frame of S(P)). */
  patchedFrame(patched: Set<string>): Frame | undefined {
    for (let j = this.stack.length - 1; j >= 0; j--) if (patched.has(this.stack[j].fn)) return this.stack[j];
    return undefined;
  }

  /** The frame is part of the kthread's loop prefix (it never returns). */
  isPersistent(f: Frame): boolean {
    const k = this.stack.indexOf(f);
    return k >= 0 && k < this.task.persistent;
  }
}

/** A forked child of `parent`, with the next id; undefined past MAX_TASKS or for a child whose program takes no time. */
export function spawnChild(m: Machine, parent: Task, program: Segment[], name: string | undefined, t: number, n: number): Task | undefined {
  const shape = programShape(program, m.tracked);
  if (m.tasks.length >= MAX_TASKS || m.nextId - m.specTasks >= MAX_CHILDREN || !(shape.cycleMean > 0) && !program.some((s) => 'exit' in s)) return undefined;
  const child: Task = {
    id: m.nextId++,
    name: `${name ?? parent.name}[${parent.name}#${n}]`,
    kind: parent.kind === 'idle' ? 'kthread' : parent.kind,
    cpu: parent.cpu,
    program,
    randomPhase: false,
    key: `${parent.key}#${n}`,
    ...shape,
    parent,
    spawnedAt: t,
  };
  m.tasks.push(child);
  m.byCpu[child.cpu]?.push(child);
  return child;
}
