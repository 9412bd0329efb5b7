/**
 * One machine, many seeds: the outcomes a transition can have there and how
 * often each came out. A run draws when idle CPUs pass their idle loop, when
 * sleepers wake, how tasks answer fake signals; one seed shows one of the
 * possible transitions. `klp-lens simulate --runs N` runs seeds S to S+N-1 and
 * groups them by what an operator would see: the outcome, the completing
 * attempt, the first fake signal, the last task to hold the transition, and
 * whether the module can be removed.
 */
import { simulate } from './simulate';
import type { ModelId, ModelResult, ModelSpec } from './types';

export type Outcome = 'complete' | 'reversed' | 'stalled';

/** What one run of one model came to. Times are ms after the enable. */
export interface RunOutcome {
  seed: number;
  outcome: Outcome;
  completionMs: number | null;
  firstSignalMs: number | null;
  /** The last task to hold the transition: the last to switch, the one a reverse found holding it, or the one still holding it. */
  holder: string | null;
  removable: boolean;
}

/** Runs that came to the same thing, within a 100 ms bucket of completion and first signal. */
export interface OutcomeClass extends Omit<RunOutcome, 'seed'> {
  runs: number;
  share: number;
  /** The first seed that gives it: `--seed` it with `--trace` to see how. */
  seed: number;
}

export interface ModelOutcomes {
  name: ModelId;
  /** Most frequent first. */
  classes: OutcomeClass[];
  runs: RunOutcome[];
}

export interface OutcomesResult {
  runs: number;
  firstSeed: number;
  models: ModelOutcomes[];
}

/** The longest a --runs may be. */
export const MAX_RUNS = 10_000;

/** The outcome of one model's run, read from its result. */
export function outcomeOf(m: ModelResult, seed: number): RunOutcome {
  const u = m.unpatching;
  const reversed = !m.completed && !!u?.completed;
  const holder = m.completed ? m.heldBy?.[0]?.task : reversed ? (u!.heldBy?.[0]?.task ?? u!.reversedWhileHeldBy?.[0]?.task) : m.stalledTasks[0]?.task;
  return {
    seed,
    outcome: m.completed ? 'complete' : reversed ? 'reversed' : 'stalled',
    completionMs: m.completed ? m.completionTimeMs : reversed && u!.completionTimeMs !== null ? u!.startedAfterEnableMs + u!.completionTimeMs : null,
    firstSignalMs: m.signalsAtMs?.[0] ?? null,
    holder: holder ?? null,
    removable: m.removable,
  };
}

const bucket = (ms: number | null) => (ms === null ? 'none' : String(Math.round(ms / 100)));
const keyOf = (o: RunOutcome) => [o.outcome, bucket(o.completionMs), bucket(o.firstSignalMs), o.holder ?? '', o.removable].join('|');

function classesOf(runs: RunOutcome[]): OutcomeClass[] {
  const byKey = new Map<string, OutcomeClass>();
  for (const o of runs) {
    const k = keyOf(o);
    const c = byKey.get(k);
    if (c) c.runs++;
    else byKey.set(k, { outcome: o.outcome, completionMs: o.completionMs, firstSignalMs: o.firstSignalMs, holder: o.holder, removable: o.removable, runs: 1, share: 0, seed: o.seed });
  }
  const out = [...byKey.values()];
  for (const c of out) c.share = c.runs / runs.length;
  return out.sort((a, b) => b.runs - a.runs || a.seed - b.seed);
}

/** Simulates `spec` with seeds firstSeed … firstSeed + runs - 1 under `models`. */
export function outcomesOver(spec: ModelSpec, opts: { runs: number; firstSeed: number; models: ModelId[] }): OutcomesResult {
  const per = new Map<ModelId, RunOutcome[]>(opts.models.map((id) => [id, []]));
  for (let i = 0; i < opts.runs; i++) {
    const seed = (opts.firstSeed + i) >>> 0;
    for (const m of simulate(spec, { seed, models: opts.models }).models) per.get(m.name)?.push(outcomeOf(m, seed));
  }
  return { runs: opts.runs, firstSeed: opts.firstSeed, models: [...per].map(([name, runs]) => ({ name, classes: classesOf(runs), runs })) };
}

const sec = (ms: number | null) => (ms === null ? '-' : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`);

/** One line per class, for the text report. */
export function outcomesText(r: OutcomesResult): string[] {
  const lines = [`over ${r.runs} runs (seeds ${r.firstSeed} to ${r.firstSeed + r.runs - 1}):`];
  for (const m of r.models) {
    lines.push(`  ${m.name}:`);
    for (const c of m.classes.slice(0, 8)) {
      const what = c.outcome === 'stalled' ? 'stalled' : `${c.outcome === 'reversed' ? 'reversed' : 'complete'} at ${sec(c.completionMs)}`;
      const sig = c.firstSignalMs !== null ? `, fake signals from ${sec(c.firstSignalMs)}` : '';
      const who = c.holder ? `, last held by ${c.holder}` : ', no task held it past attempt 0';
      lines.push(`    ${(c.share * 100).toFixed(1).padStart(5)}%  ${what}${sig}${who}${c.removable ? '' : ', module not removable'} (seed ${c.seed})`);
    }
    if (m.classes.length > 8) lines.push(`    … ${m.classes.length - 8} more (--format json lists every run)`);
  }
  return lines;
}
