/**
 * What the stop-the-world models share (kpatch.ko, Ksplice, direct-jump
 * patching): a global switch inside a stop_machine window after a check of
 * every thread's stack, retried a few times, then given up.
 *
 * One window: every CPU must reach the stopper. A CPU running kernel code
 * without preemption gets there at its task's next scheduling point (a
 * cond_resched() call or the end of the running stretch), so the window opens
 * at the latest of those. The stacks are then those of the frozen tasks. The
 * pause is the wait plus a fixed cost, a cost per CPU and a cost per frame
 * walked (research note 5.5); tasks that never call patched code are counted
 * for the frames they hold but not followed.
 *
 * Violations: the switch is global, so V3 and V4 cannot happen; V2 can (a
 * system call that slept outside the patched set across the window); U and V1
 * only when the check missed a frame (kpatch's best-effort unwinder stops after
 * 64 entries).
 */
import { Run, inUse, type Stall } from '../engine';
import { meanOf } from '../rng';
import type { Cursor, Task, Version } from '../world';
import type { ModelId, ModelResult, Segment } from '../types';

export interface StopMachineConfig {
  id: ModelId;
  /** Attempt instants, as offsets from the enable time. */
  attempts: number[];
  /** Frames the stack check sees from the innermost (kpatch's save_stack_trace_tsk: 64). */
  frameLimit: number;
  /** The result code of a busy check ("EBUSY", "CODE_BUSY"). */
  busy: string;
  /** The message when every attempt failed. */
  failMessage: (busy: string) => string;
  /** Refuse before trying (direct jumps over ftrace/kprobe sites). */
  precheck?: (run: StopMachineRun) => string | undefined;
}

/** Frames a task that never calls patched code holds, on average (for the pause cost). */
function meanDepth(program: Segment[]): number {
  let w = 0;
  let d = 0;
  for (const s of program) {
    if ('kernel' in s || 'sleep' in s) {
      const ms = meanOf(s.ms);
      w += ms;
      d += ms * (('kernel' in s ? s.kernel : s.sleep).length + (s.depth ?? 0) + 3);
    } else if ('user' in s) {
      const ms = meanOf(s.user);
      w += ms;
      d += ms * 2;
    }
  }
  return w > 0 ? d / w : 2;
}

export class StopMachineRun extends Run {
  switchAt = Infinity;
  unloadAt = Infinity;
  private forced = false;

  constructor(
    m: ConstructorParameters<typeof Run>[0],
    opts: ConstructorParameters<typeof Run>[1],
    readonly cfg: StopMachineConfig,
  ) {
    super(m, opts);
    this.oracle.collect = false;
  }

  resolve(_task: Task, _fn: string, t: number): Version {
    return t >= this.switchAt && t < this.unloadAt ? 1 : 0;
  }

  private relevant(): Cursor[] {
    const out: Cursor[] = [];
    for (const task of this.m.tasks) if (task.relevant) out.push(this.cursor(task));
    return out;
  }

  /**
   * Opens a window at about t: every CPU stops at once, except one running
   * kernel code, which stops at its task's next scheduling point (a
   * cond_resched() call or the end of the running stretch). Each task's
   * stack is taken where it stopped; the window opens when the last CPU has
   * stopped, which is returned.
   */
  private freeze(t: number, cursors: Cursor[]): number {
    let at = t;
    for (const c of cursors) {
      c.seekTo(t);
      if (c.mode !== 'kernel' || !c.running()) continue;
      const cr = c.condResched();
      const next = Math.min(cr ? c.start + cr * Math.ceil((t - c.start) / cr + 1e-9) : c.end, c.end);
      if (next >= c.end) c.stepTo(next);
      at = Math.max(at, next);
    }
    return at;
  }

  private plain = { tasks: -1, frames: 0 };

  /** Frames held by the tasks that never call patched code (not followed), computed again only when forks added tasks. */
  private plainFrames(): number {
    const tasks = this.m.tasks;
    if (this.plain.tasks !== tasks.length) {
      const byProgram = new Map<Segment[], number>();
      for (const task of tasks) if (!task.relevant) byProgram.set(task.program, (byProgram.get(task.program) ?? 0) + 1);
      let frames = 0;
      for (const [p, n] of byProgram) frames += n * meanDepth(p);
      this.plain = { tasks: tasks.length, frames };
    }
    return this.plain.frames;
  }

  private window(t: number, at: number, cursors: Cursor[]): number {
    const tm = this.timing;
    let frames = 0;
    for (const c of cursors) frames += c.depth();
    frames += this.plainFrames();
    const ms = at - t + tm.stopBaseMs + tm.stopPerCpuMs * this.m.spec.cpus + (tm.stopPerFrameUs * frames) / 1000;
    this.pause(ms);
    return ms;
  }

  /** The check inside the window: the busy tasks, or none. */
  private check(cursors: Cursor[], against: Version): { c: Cursor; s: Stall }[] {
    const busy: { c: Cursor; s: Stall }[] = [];
    for (const c of cursors) {
      const f = c.frameNot(against, this.m.patched, this.cfg.frameLimit);
      if (f) busy.push({ c, s: inUse(c, f) });
    }
    return busy;
  }

  go(): ModelResult {
    const cfg = this.cfg;
    const refused = cfg.precheck?.(this);
    if (refused) return this.result(cfg.id, null, { failed: refused, postPatchAtMs: null });
    const actions = [...(this.m.spec.actions ?? [])].sort((a, b) => a.atMs - b.atMs);
    const cursors = this.relevant();
    this.lane('all contexts', 'global', this.t0, 'pending', 'module loaded');
    this.callback('pre_patch', this.t0);
    let failed: string | undefined;
    for (let k = 0; k < cfg.attempts.length; k++) {
      const t = this.t0 + cfg.attempts[k];
      if (t > this.horizon) break;
      for (const a of actions) if (a.do === 'force' && a.atMs <= t) this.forced = true;
      if (actions.some((a) => a.do !== 'force' && a.atMs <= t)) {
        failed = 'the load was cancelled before it succeeded';
        break;
      }
      const at = this.freeze(t, cursors);
      const ms = this.window(t, at, cursors);
      const busy = this.forced ? [] : this.check(cursors, 1);
      if (busy.length === 0) {
        this.switchAt = at;
        this.lane('all contexts', 'global', at, 'new', `stop_machine window ${k + 1}`);
        for (const c of cursors) this.oracle.onSwitch(c, 1, at, 'GLOBAL');
        this.log(at, undefined, 'stop_machine', `window ${ms.toFixed(3)} ms: OK, every context switches to the new code`);
        this.callback('post_patch', at);
        this.stall.clear();
        break;
      }
      this.stall.clear();
      for (const b of busy) this.stall.set(b.c.task.id, b.s);
      this.log(at, undefined, 'stop_machine', `window ${ms.toFixed(3)} ms: ${cfg.busy}: ${busy.slice(0, 3).map((b) => `${b.c.task.name} in ${b.s.function}`).join(', ')}${busy.length > 3 ? ` and ${busy.length - 3} more` : ''}`);
      this.retries++;
      if (k === cfg.attempts.length - 1) failed = cfg.failMessage(busy[0].s.function ?? '');
    }
    if (this.switchAt === Infinity) this.lane('all contexts', 'global', this.t0 + (cfg.attempts[cfg.attempts.length - 1] ?? 0), 'old', failed ? 'load failed' : undefined);
    if (this.forced) {
      this.notes.push('forced: the stack check was skipped (KPATCH_FORCE_UNSAFE); tasks inside patched functions return into replaced code');
    }
    if (this.switchAt < Infinity) {
      for (const a of actions) {
        if ((a.do === 'disable' || a.do === 'reverse') && a.atMs > this.switchAt) {
          const at = this.freeze(a.atMs, cursors);
          const ms = this.window(a.atMs, at, cursors);
          const busy = this.check(cursors, 0);
          if (busy.length) this.notes.push(`unload ${this.after(a.atMs)}: ${cfg.busy}, ${busy[0].c.task.name} is in new ${busy[0].s.function}; the module stays`);
          else {
            this.unloadAt = at;
            this.lane('all contexts', 'global', at, 'old', 'unload window');
            this.callback('post_unpatch', at);
            this.log(at, undefined, 'stop_machine', `unload window ${ms.toFixed(3)} ms: OK, every context switches back to the old code`);
          }
          break;
        }
      }
    }
    const sw = this.switchAt;
    if (sw < Infinity) this.settleAfterSwitch(() => sw, () => 1, null);
    const done = sw < Infinity ? sw : null;
    if (done === null) this.removable = true;
    return this.result(cfg.id, done, { ...(failed ? { failed } : {}), postPatchAtMs: done });
  }
}
