/**
 * The pre-4.12 null model (Linux 4.0–4.11; also `immediate` patches on
 * 4.12–4.15), research note section 4: no per-task state. Enabling walks the
 * patch's functions in order; from each function's switch instant t_f every
 * new call of it, from any context, reaches the new version, while
 * activations already running stay old until they return. The spacing of the
 * t_f is one ftrace registration (nullPerFunctionMs).
 *
 * Every violation class is possible: V4 while the enable loop runs, U and V1
 * when an old activation calls a function that has switched meanwhile.
 */
import { Run, type ConsistencyModel } from '../engine';
import { irqPass } from '../irq';
import type { Task, Version } from '../world';
import type { ModelResult } from '../types';

export const nullModel: ConsistencyModel = {
  id: 'null',
  title: 'livepatch null model (4.0–4.11): functions switch one by one',
  run: (m, opts) => new NullRun(m, opts).go(),
};

class NullRun extends Run {
  private readonly tf = new Map<string, number>();

  resolve(_task: Task, fn: string, t: number): Version {
    const s = this.tf.get(fn);
    return s !== undefined && t >= s ? 1 : 0;
  }

  go(): ModelResult {
    const spec = this.m.spec;
    const fns = [...spec.patch.functions, ...(spec.patch.nops ?? [])];
    let t = this.t0;
    this.log(t, undefined, 'enable', 'enabling patch (no consistency model: each function switches when its ftrace handler is registered)');
    this.callback('pre_patch', t);
    for (const fn of fns) {
      t += this.timing.nullPerFunctionMs;
      this.tf.set(fn, t);
      this.lane(fn, 'function', t, 'new', 'ftrace handler registered', 1);
    }
    const last = t;
    // Walk the tasks that call patched code through every switch instant: an
    // old activation still on a stack when its function (or a sibling) switches is U.
    for (const task of this.m.tasks) {
      if (!task.relevant) continue;
      const c = this.cursor(task);
      for (const fn of fns) {
        const at = this.tf.get(fn)!;
        c.stepTo(at);
        this.log(at, undefined, 'switch', `${fn}: new calls reach the new version`);
        if (c.stack.some((f) => f.tracked && this.m.patched.has(f.fn) && f.version === 0)) this.oracle.onSwitch(c, 1, at, `ftrace handler for ${fn} registered`);
      }
    }
    if (fns.length >= 2) {
      const [a, b] = [fns[0], fns[fns.length - 1]];
      this.oracle.add(
        'V4',
        'every context',
        [`${a} (new)`, `${b} (old)`],
        this.tf.get(a)!,
        `From ${this.tf.get(a)! - this.t0} ms to ${this.tf.get(b)! - this.t0} ms after enable the enable loop has switched ${a} but not yet ${b}: any context calling both gets new ${a} and old ${b}.`,
        [
          { timeMs: this.tf.get(a)!, task: 'enable loop', event: `${a} switches to new` },
          { timeMs: this.tf.get(b)!, task: 'enable loop', event: `${b} switches to new` },
        ],
      );
    }
    this.callback('post_patch', last);
    if (this.m.spec.irqs?.length) irqPass(this, this.t0, last + 1000, (_cpu, at) => ({ version: fns.every((f) => at >= this.tf.get(f)!) ? 1 : 0, on: 'the function has switched' }));
    this.settleAfterSwitch(() => last, () => 1, last + 1000);
    return this.result('null', last, { postPatchAtMs: last });
  }
}
