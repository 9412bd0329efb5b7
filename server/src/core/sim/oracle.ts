/**
 * The oracle: watches calls, returns and switches while a model drives the
 * tasks, and classifies what it sees as the research note's violation classes
 * (section 1.6):
 *
 *   U   a task switched while an activation of a to-be-replaced version was on its stack
 *   V1  one stack holds old and new versions of patched functions
 *   V2  one kernel entry episode called old versions and new ones
 *   V3  one context runs an old version while another runs a new one, on data
 *       they share (only when the patch changes data semantics or the model
 *       declares shared data)
 *   V4  one context reaches new f and old f' at the same instant (reported by
 *       the null model, the only one with per-function switching)
 *
 * Each violation carries its minimal explaining trace. The list keeps the
 * first violation of each class per task (at most 10 per class); the counts
 * have them all.
 */
import type { Cursor, Frame, Machine, Version } from './world';
import type { Violation, ViolationClass } from './types';

interface Interval {
  ctx: string;
  fn: string;
  v: Version;
  start: number;
  end: number;
}

interface EpisodeState {
  kee: number;
  old?: { fn: string; t: number };
  neu?: { fn: string; t: number };
  reported: boolean;
}

const MAX_PER_CLASS = 10;
const ver = (v: Version) => (v ? 'new' : 'old');

export class Oracle {
  readonly violations: Violation[] = [];
  readonly counts: Record<ViolationClass, number> = { U: 0, V1: 0, V2: 0, V3: 0, V4: 0 };
  private readonly seen = new Set<string>();
  private readonly perClass: Record<ViolationClass, number> = { U: 0, V1: 0, V2: 0, V3: 0, V4: 0 };
  private readonly episodes = new Map<number, EpisodeState>();
  private readonly intervals: Interval[] = [];
  private readonly shared: Map<string, Set<string>> | undefined;
  /** V3 is a hazard for this patch (data semantics change or shared data declared). */
  readonly v3: boolean;
  /**
   * Follow activations for V3. Models that switch every context at one
   * instant after a stack check leave it off: old and new code cannot
   * overlap there unless the check missed a frame, which is reported as U.
   */
  collect = true;

  /** A run time in an explanation: measured from the enable, as all text output is. */
  private readonly ms: (t: number) => string;

  constructor(private readonly m: Machine) {
    const t0 = m.spec.enableAtMs ?? 100;
    this.ms = (t: number) => {
      const d = Math.round((t - t0) * 10) / 10;
      return d < 0 ? `${-d} ms before enable` : `${d} ms after enable`;
    };
    const p = m.spec.patch;
    this.v3 = !!p.dataSemantics || (p.sharedData?.length ?? 0) > 0;
    if (p.sharedData?.length) {
      this.shared = new Map();
      const add = (a: string, b: string) => {
        let s = this.shared!.get(a);
        if (!s) this.shared!.set(a, (s = new Set()));
        s.add(b);
      };
      for (const [a, b] of p.sharedData) {
        add(a, b);
        add(b, a);
      }
    }
  }

  add(cls: ViolationClass, task: string, functions: string[], t: number, explanation: string, steps: Violation['steps']): void {
    this.counts[cls]++;
    const key = `${cls}\u0000${task}`;
    if (this.seen.has(key) || this.perClass[cls] >= MAX_PER_CLASS) return;
    this.seen.add(key);
    this.perClass[cls]++;
    this.violations.push({ class: cls, task, functions, timeMs: round(t), explanation, steps: steps.map((s) => ({ ...s, timeMs: round(s.timeMs) })) });
  }

  /** A call of a tracked function (the frame is on the stack already). */
  onCall(c: Cursor, f: Frame, t: number): void {
    const patched = this.m.patched;
    if (patched.has(f.fn)) {
      // V1: another patched frame on this stack runs the other version.
      const st = c.stack;
      for (let j = st.length - 2; j >= 0; j--) {
        const g = st[j];
        if (g.tracked && patched.has(g.fn) && g.version !== f.version) {
          this.add(
            'V1',
            c.task.name,
            [`${g.fn} (${ver(g.version)})`, `${f.fn} (${ver(f.version)})`],
            t,
            `${c.task.name}: ${ver(g.version)} ${g.fn}, called at ${this.ms(g.since)}, is still on the stack when ${ver(f.version)} ${f.fn} is called at ${this.ms(t)}: one call chain mixes the two versions of the patch.`,
            [
              { timeMs: g.since, task: c.task.name, event: `calls ${ver(g.version)} ${g.fn}` },
              { timeMs: t, task: c.task.name, event: `calls ${ver(f.version)} ${f.fn} with ${g.fn} on the stack` },
            ],
          );
          break;
        }
      }
      // V2: this kernel entry episode already called the other version.
      let e = this.episodes.get(c.task.id);
      if (!e || e.kee !== c.kee) {
        e = { kee: c.kee, reported: false };
        this.episodes.set(c.task.id, e);
      }
      if (f.version) e.neu ??= { fn: f.fn, t };
      else e.old ??= { fn: f.fn, t };
      if (e.old && e.neu && !e.reported) {
        e.reported = true;
        const first = e.old.t <= e.neu.t ? { ...e.old, v: 0 as Version } : { ...e.neu, v: 1 as Version };
        const second = e.old.t <= e.neu.t ? { ...e.neu, v: 1 as Version } : { ...e.old, v: 0 as Version };
        const what = c.task.kind === 'user' ? 'one kernel entry (system call)' : 'one iteration of its loop';
        this.add(
          'V2',
          c.task.name,
          [`${first.fn} (${ver(first.v)})`, `${second.fn} (${ver(second.v)})`],
          t,
          `${c.task.name}: ${what} that began at ${this.ms(c.keeStart)} called ${ver(first.v)} ${first.fn} at ${this.ms(first.t)} and ${ver(second.v)} ${second.fn} at ${this.ms(second.t)}: state the old code left behind is handled by the new code within the same call.`,
          [
            { timeMs: c.keeStart, task: c.task.name, event: 'enters the kernel' },
            { timeMs: first.t, task: c.task.name, event: `calls ${ver(first.v)} ${first.fn}` },
            { timeMs: second.t, task: c.task.name, event: `calls ${ver(second.v)} ${second.fn}` },
          ],
        );
      }
    }
    if (this.v3 && this.collect) {
      const iv: Interval = { ctx: c.task.name, fn: f.fn, v: f.version, start: t, end: Infinity };
      this.intervals.push(iv);
      f.iv = iv;
    }
  }

  onReturn(_c: Cursor, f: Frame, t: number): void {
    if (f.iv) f.iv.end = t;
  }

  /** A task's version for S(P) changes to `to` at t: U when an activation of the other version is still on its stack. */
  onSwitch(c: Cursor, to: Version, t: number, mechanism: string): void {
    const f = c.frameNot(to, this.m.patched);
    if (!f) return;
    this.add(
      'U',
      c.task.name,
      [`${f.fn} (${ver(f.version)})`],
      t,
      `${c.task.name} was switched to the ${ver(to)} code (${mechanism}) at ${this.ms(t)} while ${ver(f.version)} ${f.fn}, called at ${this.ms(f.since)}, was still on its stack: it will return into code of the other version.`,
      [
        { timeMs: f.since, task: c.task.name, event: `calls ${ver(f.version)} ${f.fn}` },
        { timeMs: t, task: c.task.name, event: `switched to ${ver(to)} (${mechanism})` },
      ],
    );
  }

  /** An activation outside any task's stack (an interrupt handler on a CPU). */
  interval(ctx: string, fn: string, v: Version, start: number, end: number): void {
    if (this.v3 && this.collect) this.intervals.push({ ctx, fn, v, start, end });
  }

  private conflicts(a: string, b: string): boolean {
    if (!this.shared) return this.m.patched.has(a) && this.m.patched.has(b);
    return this.shared.get(a)?.has(b) ?? false;
  }

  /**
   * V3: the earliest instant an old and a new activation of functions that
   * share data overlap in two contexts. `until` closes activations still open
   * where the model stopped following their task.
   */
  finish(until: number, windowEnd: number | null): void {
    if (!this.v3 || this.intervals.length === 0) return;
    // Nothing overlaps new code before the first new activation: drop the old ones that ended earlier.
    let firstNew = Infinity;
    for (const iv of this.intervals) if (iv.v === 1 && iv.start < firstNew) firstNew = iv.start;
    if (firstNew === Infinity) return;
    const ivs: Interval[] = [];
    for (const iv of this.intervals) {
      const end = iv.end === Infinity ? until : iv.end;
      if (iv.v === 0 && end <= firstNew && iv.end !== Infinity) continue;
      ivs.push(iv.end === Infinity ? { ...iv, end } : iv);
    }
    ivs.sort((a, b) => a.start - b.start || a.ctx.localeCompare(b.ctx) || a.fn.localeCompare(b.fn));
    const active: Interval[][] = [[], []];
    for (const iv of ivs) {
      const s = iv.start;
      for (const list of active) {
        let w = 0;
        for (const a of list) if (a.end > s) list[w++] = a;
        list.length = w;
      }
      const other = active[iv.v ? 0 : 1].find((a) => a.ctx !== iv.ctx && this.conflicts(a.fn, iv.fn));
      if (other) {
        const [o, n] = iv.v ? [other, iv] : [iv, other];
        const until = windowEnd === null ? 'and the transition did not complete, so the overlap can go on' : `and can recur until ${this.ms(windowEnd)}, when every context runs the new code`;
        this.add(
          'V3',
          n.ctx,
          [`${o.fn} (old)`, `${n.fn} (new)`],
          s,
          `${o.ctx} runs old ${o.fn} (since ${this.ms(o.start)}) while ${n.ctx} runs new ${n.fn} (from ${this.ms(n.start)}); the patch changes the meaning of data the two share, ${until}.`,
          [
            { timeMs: o.start, task: o.ctx, event: `calls old ${o.fn}` },
            { timeMs: n.start, task: n.ctx, event: `calls new ${n.fn} while old ${o.fn} runs in ${o.ctx}` },
          ],
        );
        return;
      }
      active[iv.v].push(iv);
    }
  }
}

export function round(t: number): number {
  return Math.round(t * 1000) / 1000;
}
