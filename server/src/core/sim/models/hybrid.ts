/**
 * Upstream livepatch, the hybrid consistency model (Linux 4.12 and later),
 * after the research note's reference algorithm (section 3.12):
 *
 * - enable: every task and idle task UNPATCHED with TIF_PATCH_PENDING; attempt 0 at once;
 * - attempts about 1 s apart (the first at the next whole second after 0.75 s):
 *   each pending task is stack-checked (klp_try_switch_task): no reliable
 *   stacktrace, running, unreliable frame (or preempted with the FP unwinder,
 *   or a trace of 100+ entries), or a frame of the old version of S(P) keeps it;
 * - tasks switch without a check on return to user space (from a system call,
 *   or from the timer interrupt of a task running user code), idle tasks in the
 *   idle loop (kicked from 5.16; otherwise at their next wake-up), offline
 *   CPUs' idle tasks at once, kthreads at cond_resched() (6.4–6.15) or on a
 *   freezable sleep in __schedule() (6.16+), both after a stack check of self; on x86 the
 *   cond_resched() sites go live while klp_start_transition rewrites them, before attempt 0
 *   (timing.condReschedRewriteMs), so a busy kthread usually switches before attempt 0 checks it;
 * - a running task is not checkable, unless its step shares the CPU (onCpu < 1, from the capture's
 *   schedstat): then an attempt finds it waiting to run, at a cond_resched(), with the rest's chance;
 * - fake signals every 15th attempt (5.1+): user tasks in interruptible sleep
 *   return to user space (and switch), kthreads are woken and usually sleep again;
 * - completion only at an attempt that finds everyone switched; post_patch then;
 * - the context running each attempt (insmod, the kworker, the shell: spec.runner) is current
 *   on its CPU: it passes its own check, and that CPU's idle task is checked off the CPU;
 * - an idle task also switches whenever its CPU enters the idle loop after running something
 *   (passes at random, every spec.idleLoopMs[cpu] on average as captured, else timing.idleWakeMs),
 *   and at once on the runner's CPU after an action; an attempt checks the idle tasks last,
 *   timing.stackCheckUs per task checked after its start, so one whose CPU passed its idle loop
 *   meanwhile has switched (on a captured 6.1 guest, attempt 0 completed so in 1 run of 30);
 * - force switches everyone pending; before 5.18 the module can never be removed after it,
 *   since 5.18 (2957308343fa) only a forced unpatching blocks removal;
 *   reverse flips the target mid-transition; disable after completion starts
 *   the unpatching transition.
 *
 * Kernels before 4.12 have no consistency model: the null model applies.
 */
import { Run, V3_WINDOW_MS, inUse, type ConsistencyModel, type Stall } from '../engine';
import { Occupancy, irqCpus, irqPass } from '../irq';
import { Rng, hashSeed } from '../rng';
import type { Cursor, Machine, Task, Version } from '../world';
import type { AdminAction, ModelResult } from '../types';

const NO_LEAD = { lead: 0, phase: 0 };

/** A timer tick (HZ=250): a task running user code returns to user mode from an interrupt within this long. */
const TICK_MS = 4;

export const hybrid: ConsistencyModel = {
  id: 'hybrid',
  title: 'upstream livepatch, hybrid consistency model (4.12+)',
  run: (m, opts) => new HybridRun(m, opts).go(),
};

class HybridRun extends Run {
  private target: Version = 1;
  /** Start of the stretch of user time a pending user task is in (by task id). */
  private userSince = new Map<number, number>();
  /** The version everyone reaches outside a transition. */
  private global: Version = 0;
  private inTransition = false;
  private hookSince = Infinity;
  private cnt = 0;
  private idlePs: Version[] = [];
  private idlePending: boolean[] = [];
  private idleSwitchAt: number[] = [];
  private hookChecked: number[] = [];
  private completionAt: number | null = null;
  private transitionStart = 0;
  private postPatchAt: number | null = null;
  private occupancy: Occupancy;
  private readonly rng: Rng;
  /** Draws whether a running task that shares its CPU is off it at a check, and when its cond_resched() site went live. */
  private readonly cpuRng: Rng;
  /**
   * Per task (6.4–6.15 x86): how long before the transition's start its cond_resched() call site was
   * live, and the phase of its calls (a fraction of their period).
   */
  private hookSites = new Map<number, { lead: number; phase: number }>();
  private hookRewritten = false;
  /** The CPU the attempts and actions run on, and the model task that is that context (or -1). */
  private readonly runnerCpu: number;
  private readonly runnerTask: number;

  constructor(m: Machine, opts: { trace?: boolean }) {
    super(m, opts);
    this.occupancy = new Occupancy(irqCpus(this));
    this.rng = new Rng(hashSeed(m.seed, 'hybrid/idle'));
    this.cpuRng = new Rng(hashSeed(m.seed, 'hybrid/on-cpu'));
    this.runnerCpu = Math.min(Math.max(0, m.spec.runner?.cpu ?? 0), Math.max(0, m.onlineCpus - 1));
    const name = m.spec.runner?.task;
    this.runnerTask = name === undefined ? -1 : (m.tasks.find((t) => t.name === name)?.id ?? -1);
  }

  resolve(task: Task, _fn: string, _t: number): Version {
    return this.inTransition ? (this.ps[task.id] ?? 0) : this.global;
  }

  onExitToUser(c: Cursor, t: number): void {
    if (this.inTransition && this.pending[c.task.id]) this.switchTask(c, this.target, t, 'EXIT_TO_USER');
  }

  onSegment(c: Cursor, t: number): void {
    if (this.occupancy.cpus.has(c.task.cpu) && c.running() && c.end > this.t0) this.occupancy.add(c.task.cpu, t, c.end, c.task.name, this.resolve(c.task, '', t));
  }

  private get reliable(): boolean {
    return this.m.spec.arch.reliableStacktrace;
  }

  /**
   * klp_try_switch_task: undefined when the task switched. `self`: the task checks itself (scheduler
   * hooks, or it is the attempt's own context), so it is not "running". At an attempt, a task on the
   * runner's CPU is off that CPU: the runner preempted it.
   */
  private tryTask(c: Cursor, t: number, self: boolean, mechanism = 'STACK_CHECK', atAttempt = false): Stall | undefined {
    if (!this.reliable) return { reason: 'NO_RELIABLE_STACKTRACE' };
    const own = atAttempt && c.task.id === this.runnerTask;
    const preemptedByRunner = atAttempt && !own && c.task.cpu === this.runnerCpu && c.running();
    // A task sharing its CPU can be waiting to run at the check: off the CPU, it yielded at cond_resched().
    const waiting = atAttempt && !self && !own && !preemptedByRunner && c.running() && this.waitsToRun(c);
    if (!self && !own && !preemptedByRunner && !waiting && c.running()) return { reason: 'RUNNING' };
    const arch = this.m.spec.arch;
    const preempted = c.preempted() || ((preemptedByRunner || (waiting && !c.condResched())) && c.mode === 'kernel');
    if (c.unreliable() || (preempted && arch.unwinder === 'fp') || c.depth() >= (arch.maxStackEntries ?? 100)) return { reason: 'UNRELIABLE_STACK' };
    const f = c.frameNot(this.target, this.m.patched);
    if (f) return inUse(c, f);
    this.switchTask(c, this.target, t, mechanism);
    return undefined;
  }

  /** A running kernel step that shares its CPU (onCpu < 1) is off it at this check with the rest's chance. */
  private waitsToRun(c: Cursor): boolean {
    const share = c.onCpu();
    return share < 1 && this.cpuRng.next() >= share;
  }

  /** Walks a pending task to t, giving the scheduler hooks their chance on the way. */
  private stepTask(c: Cursor, t: number): void {
    for (;;) {
      if (!this.pending[c.task.id]) return; // switched on the way; the settle pass follows it further if needed
      if (c.mode === 'user' && c.task.kind === 'user') {
        // Running user code: the next timer interrupt returns to user mode through the same exit path.
        // Back-to-back user steps are one stretch of user time (a program of short user steps never enters the kernel).
        const since = this.userSince.get(c.task.id) ?? c.start;
        this.userSince.set(c.task.id, since);
        const at = Math.max(since, this.transitionStart) + TICK_MS;
        if (at < c.end && at <= t) {
          this.switchTask(c, this.target, at, 'EXIT_TO_USER');
          return;
        }
      } else this.userSince.delete(c.task.id);
      if (this.hookSince <= t) this.hook(c, Math.min(c.end, t));
      if (c.end > t || c.mode === 'exited') return;
      c.advance();
    }
  }

  private hook(c: Cursor, upto: number): void {
    const id = c.task.id;
    if (this.hookChecked[id] === c.steps) return;
    if (this.kernel >= 616) {
      // __schedule() with a freezable sleep state checks the task itself.
      if (c.freezable() && c.start >= this.hookSince) {
        this.hookChecked[id] = c.steps;
        this.tryTask(c, c.start, true, 'SCHED_HOOK');
      }
      return;
    }
    const cr = c.condResched();
    if (!cr) return;
    // Its cond_resched() calls come every cr ms (from the step's start, at a phase where the sites were
    // rewritten); the first after its site went live counts.
    const { lead, phase } = this.siteOf(id);
    const from = Math.max(c.start, this.hookSince - lead);
    const first = c.start + phase * cr;
    const p = first + cr * (Math.floor((from - first) / cr) + 1);
    if (p >= c.end || p > upto) return;
    this.hookChecked[id] = c.steps;
    const r = this.tryTask(c, Math.max(p, this.hookSince), true, 'SCHED_HOOK');
    if (r) this.stall.set(id, r);
  }

  private startTransition(t: number, target: Version): void {
    this.transitionStart = t;
    this.target = target;
    this.inTransition = true;
    this.cnt = 0;
    // Stall entries belong to one direction: the attempts of this one make their own.
    this.stall.clear();
    this.log(t, undefined, 'transition', target ? 'starting patching transition' : 'starting unpatching transition');
    for (const task of this.m.tasks) {
      const c = this.cursor(task);
      c.stepTo(t);
      this.pending[task.id] = c.mode !== 'exited' && (this.ps[task.id] ?? this.global) !== target;
      this.ps[task.id] ??= this.global;
      if (this.pending[task.id]) this.taskLane(task, t, 'pending');
    }
    for (let cpu = 0; cpu < this.m.spec.cpus; cpu++) {
      this.idlePs[cpu] ??= this.global;
      this.idlePending[cpu] = this.idlePs[cpu] !== target;
      if (this.idlePending[cpu]) this.lane(this.m.idle[cpu].name, 'idle', t, 'pending');
      // The CPU's next pass through the idle loop after running something (passes come at random: exponential).
      this.idleSwitchAt[cpu] = t - Math.log(1 - this.rng.next()) * this.idleLoopMs(cpu);
      // 6.4–6.15 on x86: klp_start_transition turns the cond_resched() hook on by rewriting its static
      // calls. On 6.12 under qemu every idle CPU had been through its idle loop (its idle task switched)
      // by attempt 0, in every transition observed.
      if (this.condReschedPatching) this.idleSwitchAt[cpu] = t;
    }
    // The sites are rewritten only when the hook was off (a reverse finds it on).
    this.hookSites.clear();
    this.hookRewritten = this.hookSince === Infinity;
    if (this.kernel >= 604) this.hookSince = t;
  }

  go(): ModelResult {
    const spec = this.m.spec;
    if (this.kernel < 412) {
      this.notes.push(`kernel ${spec.kernel} has no consistency model (hybrid came in 4.12): see the null model`);
      return this.result('hybrid', null, { failed: `the hybrid consistency model needs Linux 4.12 or later; ${spec.kernel} switches function by function (null model)`, postPatchAtMs: null });
    }
    if ((spec.patch.replace || spec.patch.nops?.length) && this.kernel < 501) {
      return this.result('hybrid', null, { failed: `atomic replace and nop functions need Linux 5.1 or later (kernel ${spec.kernel})`, postPatchAtMs: null });
    }
    const t0 = this.t0;
    this.log(t0, undefined, 'enable', `enabling patch (${spec.patch.functions.length} functions${spec.patch.nops?.length ? `, ${spec.patch.nops.length} nops` : ''})`);
    this.callback('pre_patch', t0);
    this.startTransition(t0, 1);
    const actions = [...(spec.actions ?? [])].sort((a, b) => a.atMs - b.atMs);
    let ai = 0;
    let next = t0;
    this.attempt(next, true);
    // The retry grid: the first from attempt 0's jiffies phase, then a second apart. It advances
    // whether or not a transition is running (a later action may start one).
    let first = true;
    while (next < this.horizon) {
      next = first ? t0 + this.firstRetryDelay() : next + this.timing.retryMs;
      first = false;
      while (ai < actions.length && actions[ai].atMs < next && actions[ai].atMs <= this.horizon) this.action(actions[ai].do, actions[ai++].atMs);
      if (next > this.horizon) break;
      if (this.inTransition) this.attempt(next, false);
      else if (ai >= actions.length) break;
    }
    if (this.inTransition) {
      this.log(this.horizon, undefined, 'stalled', `transition not complete after ${(this.horizon - t0) / 1000} s`);
    } else {
      this.stall.clear();
    }
    const done = this.completionAt;
    this.finishOracle();
    return this.result('hybrid', done, { postPatchAtMs: this.postPatchAt === null ? null : this.postPatchAt });
  }

  /**
   * round_jiffies_relative(HZ) from attempt 0, queued on the runner's CPU: the expiry is rounded to a
   * whole jiffies second (down when less than HZ/4 past one, else up), skewed 3 jiffies per CPU. The
   * first retry comes 0.75 to 1.75 s after the enable; the phase is the spec's jiffies clock, or the
   * run's own clock.
   */
  private firstRetryDelay(): number {
    const j = this.m.spec.jiffies;
    if (!j) {
      const p = ((this.t0 % 1000) + 1000) % 1000;
      return p < 250 ? 1000 - p : 2000 - p;
    }
    const p = (j.atEnable + this.runnerCpu * 3) % j.hz;
    return ((p < j.hz / 4 ? j.hz : 2 * j.hz) - p) * (1000 / j.hz);
  }

  private action(what: AdminAction, t: number): void {
    if (what === 'force') {
      if (!this.inTransition) return void this.notes.push(`force ${this.after(t)}: no transition in progress`);
      this.log(t, undefined, 'force', 'forcing remaining tasks to the target state');
      for (const task of this.m.tasks) {
        if (!this.pending[task.id]) continue;
        const c = this.cursor(task);
        c.stepTo(t);
        this.switchTask(c, this.target, t, 'FORCE');
      }
      for (let cpu = 0; cpu < this.m.spec.cpus; cpu++) if (this.idlePending[cpu]) this.switchIdle(cpu, t, 'FORCE');
      // Before 5.18 a forced patch is never removable; since 2957308343fa only patches being removed are marked forced.
      if (this.kernel < 518 || this.target === 0) {
        this.removable = false;
        this.notes.push(`forced ${this.after(t)}: the patch module can no longer be removed`);
      } else this.notes.push(`forced ${this.after(t)}: the module stays removable (a forced patching transition does not block removal since 5.18)`);
      return;
    }
    if (this.inTransition) {
      // Reverse (or disable mid-transition): back to where the transition started.
      this.log(t, undefined, 'reverse', `reversing transition from ${this.target ? 'patching' : 'unpatching'} to ${this.target ? 'unpatching' : 'patching'}`);
      for (const c of this.cursors) if (c) c.stepTo(t);
      const back: Version = this.target ? 0 : 1;
      this.global = back ? 0 : 1;
      if (back === 0) this.startUnpatch('reverse', t);
      this.startTransition(t, back);
      // The shell that wrote to sysfs returns, so its CPU enters the idle loop; and klp_synchronize_transition
      // (4.13+) runs a work item on every CPU, so each idle CPU passes its idle loop.
      if (this.kernel >= 415) for (let cpu = 0; cpu < this.m.onlineCpus; cpu++) this.throughIdleLoop(cpu, t);
      else this.throughIdleLoop(this.runnerCpu, t);
      return;
    }
    if (what === 'disable' || what === 'reverse') {
      if (this.global !== 1) return void this.notes.push(`${what} ${this.after(t)}: the patch is not enabled`);
      this.log(t, undefined, 'disable', 'disabling patch');
      this.callback('pre_unpatch', t);
      this.startUnpatch('disable', t);
      this.startTransition(t, 0);
      this.attempt(t, true);
    }
  }

  /** The CPU's mean time between passes through its idle loop: captured, or timing.idleWakeMs. */
  private idleLoopMs(cpu: number): number {
    const v = this.m.spec.idleLoopMs?.[cpu];
    return typeof v === 'number' && v > 0 ? v : this.timing.idleWakeMs;
  }

  /** The CPU passes through its idle loop right after t: its idle task, if pending, switches there. */
  private throughIdleLoop(cpu: number, t: number): void {
    if (this.idlePending[cpu]) this.idleSwitchAt[cpu] = Math.min(this.idleSwitchAt[cpu], t + 0.05);
  }

  /**
   * How long before the transition's start the task's cond_resched() site was live: klp_start_transition
   * rewrites the sites before attempt 0 (timing.condReschedRewriteMs), this one at a uniform point of it.
   */
  private siteOf(id: number): { lead: number; phase: number } {
    if (!this.condReschedPatching || !this.hookRewritten) return NO_LEAD;
    let site = this.hookSites.get(id);
    if (!site) this.hookSites.set(id, (site = { lead: this.cpuRng.next() * this.timing.condReschedRewriteMs, phase: this.cpuRng.next() }));
    return site;
  }

  /** klp_start_transition rewrites the cond_resched() static calls (6.4–6.15, x86 PREEMPT_DYNAMIC). */
  private get condReschedPatching(): boolean {
    return this.kernel >= 604 && this.kernel < 616 && this.m.spec.arch.name.startsWith('x86_64');
  }

  private switchIdle(cpu: number, t: number, mechanism: string): void {
    this.idlePs[cpu] = this.target;
    this.idlePending[cpu] = false;
    this.release(-1 - cpu, this.m.idle[cpu].name, t, mechanism);
    this.lane(this.m.idle[cpu].name, 'idle', t, this.target ? 'new' : 'old', mechanism);
    this.log(t, this.m.idle[cpu].name, 'switch', `${this.target ? 'old → new' : 'new → old'} (${mechanism})`);
  }

  private cpuBusy(cpu: number, t: number): boolean {
    for (const task of this.m.byCpu[cpu] ?? []) {
      const c = this.cursor(task);
      if (c.end <= t) c.stepTo(t);
      if (c.start <= t && c.running()) return true;
    }
    return false;
  }

  private attempt(t: number, first: boolean): void {
    let allDone = true;
    let checked = 0;
    const tasks = this.m.tasks;
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i];
      if (!this.pending[task.id]) continue;
      checked++;
      const c = this.cursor(task);
      this.stepTask(c, t);
      if (!this.pending[task.id]) continue;
      if (c.mode === 'exited') {
        this.pending[task.id] = false;
        this.stall.delete(task.id);
        this.taskLane(task, c.start, 'gone', 'exited');
        continue;
      }
      const r = this.tryTask(c, t, false, 'STACK_CHECK', true);
      if (r) {
        allDone = false;
        this.stall.set(task.id, r);
        this.taskLane(task, t, 'pending');
      }
    }
    if (!this.attemptIdle(t, t + (checked * this.timing.stackCheckUs) / 1000)) allDone = false;
    if (!first) this.retries++;
    if (!allDone) this.log(t, undefined, 'attempt', `attempt ${this.cnt}: ${this.stall.size} task${this.stall.size === 1 ? '' : 's'} not switched yet`);
    if (allDone) return this.complete(t);
    if (this.kernel >= 501 && this.cnt > 0 && this.cnt % this.timing.signalsEvery === 0) this.signals(t);
    this.cnt++;
  }

  /**
   * The idle tasks, checked last (at `at`, after the other tasks): one that passed its idle loop by
   * then has switched there. False when one still holds the transition.
   */
  private attemptIdle(t: number, at: number): boolean {
    let allDone = true;
    const online = this.m.onlineCpus;
    for (let cpu = 0; cpu < this.m.spec.cpus; cpu++) {
      if (!this.idlePending[cpu]) continue;
      if (this.idleSwitchAt[cpu] <= at) {
        this.switchIdle(cpu, this.idleSwitchAt[cpu], 'IDLE_LOOP');
        continue;
      }
      if (cpu >= online) {
        this.switchIdle(cpu, t, 'OFFLINE_CPU');
        continue;
      }
      // The runner is current on its CPU: that idle task is off the CPU and checkable.
      const busy = cpu === this.runnerCpu || this.cpuBusy(cpu, t);
      if (busy && this.reliable) {
        this.switchIdle(cpu, t, 'STACK_CHECK');
        continue;
      }
      allDone = false;
      this.stall.set(-1 - cpu, { reason: this.reliable ? 'RUNNING' : 'NO_RELIABLE_STACKTRACE' });
      // 5.16+ kicks the idle CPU (wake_up_if_idle); before, it switches at its next wake-up (drawn at the start).
      if (this.kernel >= 516) this.throughIdleLoop(cpu, at);
    }
    return allDone;
  }

  private signals(t: number): void {
    this.log(t, undefined, 'signal', 'signaling remaining tasks');
    this.signalTimes.push(t);
    const before = this.signalsSent;
    for (const task of this.m.tasks) {
      if (!this.pending[task.id]) continue;
      const c = this.cursor(task);
      this.signalsSent++;
      const state = c.sleepState();
      if (state !== 'interruptible') continue;
      const seg = c.seg as { onSignal?: 'exit' | 'resleep' | 'leave' };
      const how = seg.onSignal ?? (task.kind === 'user' ? 'exit' : 'resleep');
      if (how === 'resleep') {
        // The kthread re-checks its condition and sleeps again; a freezable sleep passes the __schedule hook.
        if (this.kernel >= 616 && c.freezable()) this.tryTask(c, t, true, 'SCHED_HOOK');
        continue;
      }
      this.log(t, task.name, 'wake', `fake signal: woken from an interruptible sleep in ${c.stack[c.stack.length - 1]?.fn ?? 'the kernel'}`);
      c.wake(t, how === 'exit' && task.kind === 'user' ? 'exit' : 'leave');
    }
    if (this.signalRounds++ < 3) this.notes.push(`fake signal round ${this.after(t)} (attempt ${this.cnt}): ${this.signalsSent - before} task${this.signalsSent - before === 1 ? '' : 's'} signalled`);
  }
  private signalRounds = 0;

  private complete(t: number): void {
    this.inTransition = false;
    this.global = this.target;
    this.hookSince = Infinity;
    this.log(t, undefined, 'complete', this.target ? 'patching complete' : 'unpatching complete');
    if (this.target) {
      this.completionAt ??= t;
      this.postPatchAt ??= t;
      this.callback('post_patch', t);
    } else {
      this.unpatchDone(t);
      this.callback('post_unpatch', t);
    }
    this.stall.clear();
  }

  private finishOracle(): void {
    const end = this.completionAt ?? this.horizon;
    const cpus = this.occupancy.cpus;
    if (cpus.size) {
      irqPass(this, this.t0, Math.min(end, this.t0 + 30_000), (cpu, t) => {
        const on = this.occupancy.at(cpu, t);
        if (on) return { version: on.v, on: `inherits the state of ${on.task}` };
        const v = this.completionAt !== null && t >= this.completionAt ? this.global : (this.idlePs[cpu] ?? 0);
        return { version: v, on: 'on a switched task or the idle task' };
      });
    }
    this.settleAfterSwitch((c) => this.lastSwitch[c.task.id] ?? -Infinity, (c) => this.ps[c.task.id] ?? 0, Math.min(end, this.t0 + V3_WINDOW_MS));
  }
}
