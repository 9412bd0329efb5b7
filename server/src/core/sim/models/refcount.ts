/**
 * Masami Hiramatsu's refcounting kpatch (2014), research note section 8: no
 * stop_machine. Kretprobes on the old functions count activations once the
 * update is open; threads not running are stack-checked at once (a target on
 * the stack: -EBUSY); running threads are checked when they next switch out,
 * waiting up to 128 RCU-sched grace periods (-ETIME); if the count is zero
 * at the end every context switches at once, else -EBUSY.
 */
import { Run, inUse, type ConsistencyModel } from '../engine';
import type { Task, Version } from '../world';
import type { ModelResult } from '../types';

export const refcount: ConsistencyModel = {
  id: 'refcount',
  title: "Masami Hiramatsu's refcount kpatch: kretprobe counts, no stop_machine",
  run: (m, opts) => new RefcountRun(m, opts).go(),
};

/** A task running user code is switched out by the scheduler tick within this long. */
const TICK_MS = 4;
const MONITOR_POOL = 128;

class RefcountRun extends Run {
  constructor(...a: ConstructorParameters<typeof Run>) {
    super(...a);
    this.oracle.collect = false;
  }

  private switchAt = Infinity;

  resolve(_task: Task, _fn: string, t: number): Version {
    return t >= this.switchAt ? 1 : 0;
  }

  go(): ModelResult {
    const t0 = this.t0;
    const gp = this.timing.gracePeriodMs;
    const limit = t0 + this.timing.refcountGracePeriods * gp;
    this.callback('pre_patch', t0);
    let failed: string | undefined;
    let waitUntil = t0;
    let monitored = 0;
    for (const task of this.m.tasks) {
      const c = this.cursor(task);
      c.stepTo(t0);
      if (c.mode === 'exited') continue;
      if (!c.running()) {
        const f = c.frameNot(1, this.m.patched);
        if (f && !failed) {
          failed = `-EBUSY: ${task.name} has ${f.fn} on its stack`;
          this.stall.set(task.id, inUse(c, f));
        }
        continue;
      }
      // Monitored: checked when it next switches out.
      monitored++;
      const cr = c.condResched();
      let cs = c.mode === 'user' ? Math.min(c.end, t0 + TICK_MS) : cr ? c.start + cr * Math.ceil((t0 - c.start) / cr + 1e-9) : c.end;
      if (c.mode === 'kernel' && !cr) {
        // No cond_resched: it switches out when it sleeps, or on its way back to user mode.
        let guard = 0;
        while (c.mode === 'kernel' && c.running() && c.end <= limit && guard++ < 100_000) c.advance();
        cs = c.mode === 'kernel' && c.running() ? Infinity : c.start;
      }
      if (cs > limit) {
        if (!failed) failed = `-ETIME: Safeness check timed out (${task.name} did not context-switch within ${this.timing.refcountGracePeriods} grace periods)`;
        this.stall.set(task.id, { reason: 'NO_CONTEXT_SWITCH' });
        continue;
      }
      c.stepTo(cs);
      const f = c.frameNot(1, this.m.patched);
      if (f && !failed) {
        failed = `-EBUSY: ${task.name} switched out inside ${f.fn}`;
        this.stall.set(task.id, inUse(c, f));
      }
      waitUntil = Math.max(waitUntil, cs);
    }
    if (monitored > MONITOR_POOL) this.notes.push(`${monitored} running tasks to monitor; the code's pool holds ${MONITOR_POOL} ("TODO: this will not fit all")`);
    const te = t0 + Math.max(1, Math.ceil((waitUntil - t0) / gp)) * gp;
    if (!failed) {
      // The kretprobe count: activations of old functions entered after the update opened, still running at te.
      for (const task of this.m.tasks) {
        if (!task.relevant) continue;
        const c = this.cursor(task);
        c.stepTo(te);
        const f = c.stack.find((fr) => fr.tracked && this.m.patched.has(fr.fn) && fr.since >= t0);
        if (f) {
          failed = `-EBUSY: the kretprobe count of ${f.fn} is not zero (${task.name} is inside it) after the wait`;
          this.stall.set(task.id, inUse(c, f));
          break;
        }
      }
    }
    if (!failed) {
      this.switchAt = te;
      this.lane('all contexts', 'global', t0, 'pending', 'update open');
      this.lane('all contexts', 'global', te, 'new', 'refcount zero');
      this.stall.clear();
      for (const task of this.m.tasks) if (task.relevant) this.oracle.onSwitch(this.cursor(task), 1, te, 'GLOBAL');
      this.log(te, undefined, 'switch', `refcount reached zero after ${Math.round((te - t0) / gp)} grace periods: every context switches to the new code`);
      this.callback('post_patch', te);
    } else {
      this.log(te, undefined, 'fail', failed);
      this.lane('all contexts', 'global', t0, 'pending', 'update open');
      this.lane('all contexts', 'global', te, 'old', failed);
    }
    const sw = this.switchAt;
    if (sw < Infinity) this.settleAfterSwitch(() => sw, () => 1, null);
    return this.result('refcount', sw < Infinity ? sw : null, { ...(failed ? { failed } : {}), postPatchAtMs: sw < Infinity ? sw : null });
  }
}
