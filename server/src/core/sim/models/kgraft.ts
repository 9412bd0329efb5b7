/**
 * kGraft (SUSE, 2014–2017), research note section 6: every task is marked
 * "in progress" and runs the old universe until it migrates; user tasks
 * migrate at the kernel boundary (syscall entry or exit), kthreads only at
 * freezer points (try_to_freeze after a freezable sleep) or an annotated
 * kgr_task_safe() safe point. Interrupt context flips per CPU right after
 * apply, whatever the interrupted task is. Every KGR_TIMEOUT the work checks
 * for tasks still in progress; later versions send them a fake signal; none
 * left: finalize. There are no stack checks. Which kthread loops count as
 * annotated: CORE_LOOPS below.
 */
import { Run, V3_WINDOW_MS, type ConsistencyModel, type Stall } from '../engine';
import { irqCpus, irqPass } from '../irq';
import type { Cursor, Task, Version } from '../world';
import type { AdminAction, ModelResult, Segment } from '../types';

export const kgraft: ConsistencyModel = {
  id: 'kgraft',
  title: 'kGraft: per-task universe, switched at the kernel boundary',
  run: (m, opts) => new KgraftRun(m, opts).go(),
};

/**
 * Loops that migrate at their top: workqueue workers and kthread_worker
 * loops (the kGraft core), and the base kernel's kthread main loops, where the
 * SLE kernels that shipped kGraft call kgr_task_safe() (the base kernel's and
 * its in-tree modules'). A kthread outside this
 * list (a driver's, or one the patch adds) migrates only at a freezer point or
 * a `safePoint` the model declares.
 */
const CORE_LOOPS = new Set([
  'worker_thread',
  'rescuer_thread',
  'kthread_worker_fn',
  'smpboot_thread_fn',
  'rcu_gp_kthread',
  'rcu_tasks_kthread',
  'kswapd',
  'kcompactd',
  'khugepaged',
  'kjournald2',
  'kauditd_thread',
  'watchdog',
  'oom_reaper',
  'kthreadd',
  // in-tree modules the distribution kernel ships
  'md_thread',
  'xfsaild',
  'nfsd',
  'lockd',
  'scsi_error_handler',
]);

/** A kthread whose program has no freezer point, safe point or core-handled loop can never migrate. */
function canMigrate(task: Task): boolean {
  if (task.kind === 'user') return true;
  const seen = new Set<Segment[]>();
  const walk = (p: Segment[]): boolean => {
    if (seen.has(p)) return false;
    seen.add(p);
    return p.some((s) =>
      'sleep' in s ? !!s.freezable || s.sleep.some((f) => CORE_LOOPS.has(f)) : 'kernel' in s ? !!s.safePoint || s.kernel.some((f) => CORE_LOOPS.has(f)) : 'fork' in s ? walk(s.fork.program) : false,
    );
  };
  return walk(task.program);
}

/** A kthread's main loop function: the first frame after kthread(). */
const loopOf = (c: Cursor) => c.stack.find((f) => f.fn !== 'kthread')?.fn;

class KgraftRun extends Run {
  private inTransition = false;
  /** The universe every context runs outside a transition. */
  private global: Version = 0;
  private target: Version = 1;
  private finalAt: number | null = null;
  private afterSafe: boolean[] = [];

  resolve(task: Task, _fn: string, _t: number): Version {
    return this.inTransition ? (this.ps[task.id] ?? this.global) : this.global;
  }

  private migrating(c: Cursor): boolean {
    return this.inTransition && !!this.pending[c.task.id];
  }

  onEnterKernel(c: Cursor, t: number): void {
    if (this.migrating(c) && c.task.kind === 'user') this.switchTask(c, this.target, t, 'KERNEL_ENTRY');
  }

  onExitToUser(c: Cursor, t: number): void {
    if (this.migrating(c)) this.switchTask(c, this.target, t, 'EXIT_TO_USER');
  }

  /** Workqueue workers, kthread_worker loops and the annotated kthread loops migrate at each loop. */
  onLoop(c: Cursor, t: number): void {
    if (this.migrating(c) && c.stack.some((f) => CORE_LOOPS.has(f.fn))) this.switchTask(c, this.target, t, 'KGR_SAFE_POINT');
  }

  onSegment(c: Cursor, t: number): void {
    const id = c.task.id;
    if (c.task.kind !== 'user' && this.migrating(c) && this.afterSafe[id]) this.switchTask(c, this.target, t, 'KGR_SAFE_POINT');
    this.afterSafe[id] = c.freezable() || c.safePoint();
  }

  /** Marks every task that is not in the target universe (kgr_mark_processes). */
  private mark(t: number, target: Version): void {
    this.target = target;
    this.inTransition = true;
    for (const task of this.m.tasks) {
      const c = this.cursor(task);
      c.stepTo(t);
      this.ps[task.id] ??= this.global;
      this.pending[task.id] = c.mode !== 'exited' && this.ps[task.id] !== target;
      if (this.pending[task.id]) this.taskLane(task, t, 'pending');
    }
  }

  go(): ModelResult {
    const t0 = this.t0;
    this.callback('pre_patch', t0);
    this.log(t0, undefined, 'enable', 'kgr_modify_kernel: slow stubs in place, every task marked in progress, IRQ context switched per CPU');
    this.mark(t0, 1);
    this.notes.push('idle tasks and interrupt context migrate right after apply (schedule_on_each_cpu)');
    const every = this.timing.kgraftTimeoutMs;
    const stuck = new Set<number>();
    for (const task of this.m.tasks) if (!canMigrate(task) && !task.relevant) stuck.add(task.id);
    const actions = [...(this.m.spec.actions ?? [])].sort((a, b) => a.atMs - b.atMs);
    let ai = 0;
    let idleUntil = Infinity;
    for (let t = t0 + every; t <= this.horizon; t += every) {
      while (ai < actions.length && actions[ai].atMs <= t) this.action(actions[ai].do, actions[ai++].atMs);
      if (!this.inTransition) {
        if (ai >= actions.length) break;
        continue;
      }
      if (t < idleUntil) {
        const left = this.check(t, stuck);
        if (left === 0) {
          this.finalize(t);
          continue;
        }
        this.retries++;
        if (left === stuck.size && stuck.size > 0) {
          // Only kthreads that can never migrate are left: nothing changes until an action or the end.
          this.log(t, undefined, 'check', `${left} kthreads still in progress and none of them has a migration point (kgr_task_safe, try_to_freeze): the patch stays in transition`);
          idleUntil = ai < actions.length ? actions[ai].atMs : Infinity;
          continue;
        }
        this.log(t, undefined, 'check', `${left} tasks still in progress after timeout; signalling them`);
        this.signal(t);
      } else {
        this.retries++;
        this.signalsSent += stuck.size;
      }
    }
    if (this.inTransition) for (const task of this.m.tasks) if (this.pending[task.id]) this.stall.set(task.id, this.why(this.cursor(task)));
    const end = this.finalAt ?? this.horizon;
    if (irqCpus(this).size) irqPass(this, t0, Math.min(end, t0 + 30_000), () => ({ version: 1, on: 'the CPU ran the kGraft work item' }));
    this.settleAfterSwitch((c) => this.lastSwitch[c.task.id] ?? -Infinity, (c) => this.ps[c.task.id] ?? 0, Math.min(end, this.t0 + V3_WINDOW_MS));
    return this.result('kgraft', this.finalAt, { postPatchAtMs: this.finalAt });
  }

  /** Walks a task towards t, only until it migrates: the settle pass follows it further if the oracle needs it. */
  private walkPending(c: Cursor, t: number): Cursor {
    while (c.end <= t && c.mode !== 'exited' && this.pending[c.task.id]) c.advance();
    return c;
  }

  /** Walks the tasks still in progress to t; returns how many are left. */
  private check(t: number, stuck: Set<number>): number {
    let left = 0;
    for (let i = 0; i < this.m.tasks.length; i++) {
      const task = this.m.tasks[i];
      if (!this.pending[task.id]) continue;
      if (stuck.has(task.id)) {
        left++;
        continue;
      }
      const c = this.walkPending(this.cursor(task), t);
      if (!this.pending[task.id]) continue;
      if (c.mode === 'exited') {
        this.pending[task.id] = false;
        continue;
      }
      left++;
      this.stall.set(task.id, this.why(c));
    }
    return left;
  }

  /** Why a task has not migrated yet: a user task has not crossed the kernel boundary, a kthread has no migration point. */
  private why(c: Cursor): Stall {
    if (c.task.kind !== 'user') {
      const loop = loopOf(c);
      return { reason: canMigrate(c.task) ? 'IN_KERNEL' : 'NOT_ANNOTATED', ...(loop ? { function: loop } : {}) };
    }
    const top = c.patchedFrame(this.m.patched) ?? [...c.stack].reverse().find((f) => !/^_*schedule/.test(f.fn));
    return { reason: 'IN_KERNEL', ...(top ? { function: top.fn } : {}) };
  }

  /** Later kGraft: a fake signal to every task still in progress. */
  private signal(t: number): void {
    for (const task of this.m.tasks) {
      if (!this.pending[task.id]) continue;
      const c = this.cursor(task);
      this.signalsSent++;
      const st = c.sleepState();
      if (task.kind === 'user') {
        if (st === 'interruptible') c.wake(t, 'exit');
      } else if (st && st !== 'killable' && (c.freezable() || c.stack.some((f) => CORE_LOOPS.has(f.fn)))) {
        // wake_up_process: the kthread wakes, passes try_to_freeze() or its loop's kgr_task_safe(), and migrates.
        this.switchTask(c, this.target, t, 'KGR_SAFE_POINT');
      }
    }
  }

  private finalize(t: number): void {
    this.inTransition = false;
    this.global = this.target;
    this.stall.clear();
    if (this.target) {
      this.finalAt ??= t;
      this.log(t, undefined, 'finalize', 'kgr_finalize: fast stubs, every context runs the new code');
      this.callback('post_patch', t);
    } else {
      this.log(t, undefined, 'finalize', 'kgr_finalize: revert complete, every context runs the old code');
      this.notes.push(`revert complete ${this.after(t)}: every context runs the old code again`);
      this.callback('post_unpatch', t);
    }
  }

  private action(what: AdminAction, t: number): void {
    if (what === 'force') {
      if (!this.inTransition) return void this.notes.push(`force ${this.after(t)}: no migration in progress`);
      // kgr_unmark_processes(): every task is declared migrated, wherever it is.
      this.log(t, undefined, 'force', 'kgr_unmark_processes: every task marked migrated');
      for (const task of this.m.tasks) {
        if (!this.pending[task.id]) continue;
        const c = this.walkPending(this.cursor(task), t);
        if (this.pending[task.id]) this.switchTask(c, this.target, t, 'FORCE');
      }
      this.notes.push(`forced ${this.after(t)} (kgr_unmark_processes): tasks inside patched functions return into the other universe`);
      return;
    }
    // Reverse or disable: REVERT_SLOW, the migrated tasks go back at their next boundary.
    if (!this.inTransition && this.global === 0) return void this.notes.push(`${what} ${this.after(t)}: the patch is not applied`);
    this.log(t, undefined, 'revert', 'REVERT_SLOW: migrated tasks go back to the old universe at their next kernel boundary');
    if (!this.inTransition) this.callback('pre_unpatch', t);
    for (const c of this.cursors) if (c) c.stepTo(t);
    if (!this.inTransition) for (const task of this.m.tasks) this.ps[task.id] = this.global;
    this.global = 0;
    this.mark(t, 0);
  }
}
