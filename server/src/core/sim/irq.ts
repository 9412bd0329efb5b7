/**
 * Interrupts: handlers that run on a CPU on top of whatever task is current
 * there. Only handlers whose call chain reaches a tracked function matter to
 * the oracle; each occurrence becomes an activation of its own context
 * ("IRQ on CPU n") with the version the model gives that CPU at that instant
 * (hybrid: the current task's patch state; kGraft: the CPU's own flag; null:
 * the function's switch time).
 */
import { Rng, hashSeed } from './rng';
import type { Run } from './engine';
import type { Version } from './world';

const MAX_PER_CPU = 200;

export interface IrqView {
  version: Version;
  /** What the version was taken from, for the explanation ("on nginx/3", "per-CPU flag"). */
  on: string;
}

/** Running intervals of the tasks a model followed, per CPU, for "which task was current at t". */
export class Occupancy {
  private readonly spans = new Map<number, { start: number; end: number; task: string; v: Version }[]>();
  constructor(readonly cpus: Set<number>) {}
  add(cpu: number, start: number, end: number, task: string, v: Version): void {
    if (!this.cpus.has(cpu)) return;
    let l = this.spans.get(cpu);
    if (!l) this.spans.set(cpu, (l = []));
    l.push({ start, end, task, v });
  }
  at(cpu: number, t: number): { task: string; v: Version } | undefined {
    const l = this.spans.get(cpu);
    if (!l) return undefined;
    for (const s of l) if (s.start <= t && t < s.end) return s;
    return undefined;
  }
}

/** The CPUs whose interrupt handlers reach a tracked function. */
export function irqCpus(run: Run): Set<number> {
  const s = new Set<number>();
  const m = run.m;
  for (const irq of m.spec.irqs ?? []) {
    if (!irq.stack.some((f) => m.tracked.has(f))) continue;
    const cpus = irq.cpus === 'all' ? Array.from({ length: m.onlineCpus }, (_, i) => i) : irq.cpus;
    for (const c of cpus) s.add(c);
  }
  return s;
}

/** Replays the relevant interrupts between from and to and hands their activations to the oracle. */
export function irqPass(run: Run, from: number, to: number, view: (cpu: number, t: number) => IrqView): void {
  const m = run.m;
  (m.spec.irqs ?? []).forEach((irq, k) => {
    const fns = irq.stack.filter((f) => m.tracked.has(f));
    if (fns.length === 0 || irq.everyMs <= 0) return;
    const cpus = irq.cpus === 'all' ? Array.from({ length: m.onlineCpus }, (_, i) => i) : irq.cpus;
    for (const cpu of cpus) {
      const rng = new Rng(hashSeed(m.seed, `irq${k}/${cpu}`));
      let t = from + rng.next() * irq.everyMs;
      let first = true;
      for (let n = 0; n < MAX_PER_CPU && t < to; n++, t += irq.everyMs) {
        const v = view(cpu, t);
        const ctx = `IRQ on CPU ${cpu}`;
        for (const fn of fns) run.oracle.interval(ctx, fn, v.version, t, t + (irq.ms ?? 0.01));
        if (first) run.log(t, ctx, 'irq', `${irq.stack.join(' → ')} runs the ${v.version ? 'new' : 'old'} ${fns.join(', ')} (${v.on})`);
        first = false;
      }
    }
  });
}
