/**
 * Precheck: before the load, which tasks of a captured machine would hold the
 * patch's transition, for how long, and why, under the target kernel's model
 * (upstream hybrid from 4.12, the null model before). It runs the simulator on
 * the capture with the patch's functions and reads each task's lane: a task
 * that did not switch at attempt 0 held the transition. The sentence for each
 * comes from what the capture saw it doing and how it switched in the end.
 */
import { composeModel } from './compose';
import { simulate } from './simulate';
import type { ModelFileSpec } from './modelFile';
import { DEFAULT_DURATION_MS } from './engine';
import { kernelNumber } from '../kernelVersion';
import type { KernelProfile, Lane, ModelId, ModelResult, ModelSpec, PatchSpec, Segment } from './types';
import { UNSEEN_FRAME } from '../capture/toModel';

export type PrecheckVerdict = 'ready' | 'after-signals' | 'needs-force' | 'cannot-load';

export interface PrecheckHolder {
  task: string;
  kind: Lane['kind'];
  /** What the capture saw it doing, e.g. "asleep interruptibly in pipe_read". */
  doing: string;
  /** The patched function on its stack, if any. */
  function?: string;
  /** When it switched, ms after enable; null when it never did within the run. */
  switchedAfterMs: number | null;
  mechanism?: string;
  /** One sentence: who, where, and what moves it. */
  why: string;
}

export interface PrecheckResult {
  machine: string;
  kernel: KernelProfile;
  model: ModelId;
  verdict: PrecheckVerdict;
  completed: boolean;
  completionTimeMs: number | null;
  signalsAtMs: number[];
  /** Longest-holding first. */
  holders: PrecheckHolder[];
  /** The run followed only the first 200 contexts: there may be more holders than listed. */
  holdersTruncated: boolean;
  /** Why the patch cannot be loaded now at all. */
  blockers: string[];
  /** What the capture could not see. */
  unseen: string[];
  horizonMs: number;
  /** With runs > 1: what each seed from `seed` gave, grouped, most frequent first. */
  outcomes?: PrecheckOutcome[];
}

/** Runs of precheck with different seeds that gave the same verdict and the same longest holder. */
export interface PrecheckOutcome {
  verdict: PrecheckVerdict;
  /** The task that held the transition longest, or null when none held it past attempt 0. */
  holder: string | null;
  completionTimeMs: number | null;
  runs: number;
  share: number;
  /** The first seed that gave it. */
  seed: number;
}

/** Exit statuses of `klp-lens precheck`. */
export const PRECHECK_EXIT: Record<PrecheckVerdict, number> = { ready: 0, 'after-signals': 0, 'needs-force': 1, 'cannot-load': 1 };

const sec = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

function blockersOf(m: ModelFileSpec): string[] {
  const out: string[] = [];
  const c = m.capture;
  if (!c) return out;
  if (c.livepatchConfigured === false) out.push(`kernel ${c.release} is built without CONFIG_LIVEPATCH: it cannot load a livepatch`);
  for (const p of c.livepatches) if (p.transition === '1') out.push(`livepatch ${p.name} is in transition: a new patch cannot be enabled until it completes (klp_enable_patch returns -EBUSY)`);
  return out;
}

function doingOf(step: Segment | undefined, patched: Set<string>): { doing: string; fn?: string } {
  if (!step) return { doing: 'idle' };
  if ('user' in step) return { doing: 'running in user mode' };
  if ('kernel' in step) {
    const fn = [...step.kernel].reverse().find((f) => patched.has(f));
    const at = fn ?? step.kernel[step.kernel.length - 1];
    const where = at === UNSEEN_FRAME ? 'running in the kernel where the capture could not look (it was on a CPU)' : `running in the kernel in ${at}${step.condResched ? ' (calls cond_resched())' : ''}`;
    return { doing: where, ...(fn ? { fn } : {}) };
  }
  if ('sleep' in step) {
    const fn = [...step.sleep].reverse().find((f) => patched.has(f));
    const how = step.state === 'uninterruptible' ? 'uninterruptibly' : step.state === 'killable' ? 'killably' : 'interruptibly';
    return { doing: `asleep ${how} in ${fn ?? step.sleep[step.sleep.length - 1]}`, ...(fn ? { fn } : {}) };
  }
  return { doing: 'forking or exiting' };
}

/** A running step that shares its CPU: how much of the time it holds it, and whether 6.4's cond_resched() switching would move it. */
interface Sharing {
  onCpu?: number;
  before64: boolean;
}

const pctOf = (x: number) => `${Math.round(x * 1000) / 10}%`;

function moveOf(lane: Lane, switched: Lane['changes'][number] | undefined, signals: number[], alt: boolean, horizonMs: number, enable: number, sharing: Sharing): string {
  const waits = sharing.onCpu !== undefined ? `it holds its CPU ${pctOf(sharing.onCpu)} of the time, waiting to run the rest` : '';
  if (!switched) {
    const hint = alt ? 'needs force, or a 6.4+ kernel (it switches at cond_resched() there)' : 'needs force';
    return `holds it for the whole ${sec(horizonMs)} modeled${waits ? ` (${waits}; no attempt caught it waiting)` : ''}: ${hint}`;
  }
  const at = switched.timeMs - enable;
  const near = signals.find((s) => Math.abs(s - at) < 5);
  switch (switched.why) {
    case 'EXIT_TO_USER':
      return near !== undefined ? `the fake signal at ~${sec(near)} moves it` : `switches when it returns to user space, ~${sec(at)} after enable`;
    case 'IDLE_LOOP':
      if (lane.kind !== 'idle') return `switches in the idle loop at ~${sec(at)}`;
      return `its CPU was idle at attempt 0, so it was running; the kick sends it through the idle loop, where it switches ${at < 10 ? 'at once' : `at ~${sec(at)}`}, and the next attempt completes`;
    case 'SCHED_HOOK':
      return `switches at its next cond_resched() or schedule() (~${sec(at)})`;
    case 'FORCE':
      return `only force moves it (~${sec(at)})`;
    case 'STACK_CHECK':
      if (waits) return `the attempt at ~${sec(at)} catches it waiting for its CPU (${waits})${sharing.before64 ? '; a 6.4+ kernel switches it at its next cond_resched()' : ''}`;
      return `switches at the attempt at ~${sec(at)}, once the patched code is off its stack`;
    default:
      return `switches at ~${sec(at)} (${switched.why ?? 'switch'})`;
  }
}

function sharingOf(step: Segment | undefined, spec: ModelSpec): Sharing {
  if (!step || !('kernel' in step) || step.onCpu === undefined || step.onCpu >= 1) return { before64: false };
  return { onCpu: step.onCpu, before64: !!step.condResched && kernelNumber(spec.kernel) < 604 };
}

/** `enable`: the run time of the enable; `horizon`: how long after it the run went. */
function holdersOf(spec: ModelSpec, r: ModelResult, alt: Set<string>, enable: number, horizon: number): PrecheckHolder[] {
  const patched = new Set([...spec.patch.functions, ...(spec.patch.nops ?? [])]);
  const byName = new Map(spec.tasks.map((t) => [t.name, t]));
  const out: PrecheckHolder[] = [];
  // Attempt 0 completed: whoever switched during it (an idle CPU passing its idle loop) held nothing.
  if (r.completed && r.completionTimeMs === 0) return out;
  for (const lane of r.timeline ?? []) {
    const pending = lane.changes.find((c) => c.state === 'pending');
    if (!pending) continue;
    const switched = lane.changes.find((c) => c.state === 'new' && c.timeMs >= pending.timeMs);
    if (switched && switched.timeMs <= enable) continue;
    const task = byName.get(lane.task);
    // A captured task's program starts where the capture saw it.
    const step = lane.kind === 'idle' ? undefined : task?.program[0];
    const { doing, fn } = lane.kind === 'idle' ? { doing: 'the idle task', fn: undefined } : doingOf(step, patched);
    const why = `${lane.task} ${doing}: ${moveOf(lane, switched, r.signalsAtMs ?? [], alt.has(lane.task), horizon, enable, sharingOf(step, spec))}`;
    out.push({ task: lane.task, kind: lane.kind, doing, ...(fn ? { function: fn } : {}), switchedAfterMs: switched ? switched.timeMs - enable : null, ...(switched?.why ? { mechanism: switched.why } : {}), why });
  }
  return out.sort((a, b) => (b.switchedAfterMs ?? Infinity) - (a.switchedAfterMs ?? Infinity) || a.task.localeCompare(b.task));
}

/** Tasks still holding on `spec`'s kernel that a 6.4+ kernel (cond_resched switching) would move. */
function movedOn64(spec: ModelSpec, r: ModelResult, seed: number): Set<string> {
  if (r.completed || kernelNumber(spec.kernel) >= 604 || r.name !== 'hybrid') return new Set();
  const alt = simulate({ ...spec, kernel: '6.4' }, { seed, models: ['hybrid'] }).models[0];
  const still = new Set(alt.stalledTasks.map((s) => s.task));
  return new Set(r.stalledTasks.map((s) => s.task).filter((t) => !still.has(t)));
}

/**
 * Precheck `patch` on a captured (or any) model file. With `runs` > 1 the seeds `seed` to
 * `seed + runs - 1` are prechecked too and their verdicts and longest holders counted: how an idle
 * CPU or a sleeper happens to move makes one machine's transition come out more than one way.
 */
export function precheck(model: ModelFileSpec, patch: PatchSpec, seed = 1, runs = 1): PrecheckResult {
  const r = precheckOne(model, patch, seed);
  if (runs <= 1) return r;
  const byKey = new Map<string, PrecheckOutcome>();
  for (let i = 0; i < runs; i++) {
    const s = (seed + i) >>> 0;
    const one = i === 0 ? r : precheckOne(model, patch, s);
    const holder = one.holders[0]?.task ?? null;
    const key = `${one.verdict}|${holder ?? ''}`;
    const o = byKey.get(key);
    if (o) o.runs++;
    else byKey.set(key, { verdict: one.verdict, holder, completionTimeMs: one.completionTimeMs, runs: 1, share: 0, seed: s });
  }
  const outcomes = [...byKey.values()].sort((a, b) => b.runs - a.runs || a.seed - b.seed);
  for (const o of outcomes) o.share = o.runs / runs;
  return { ...r, outcomes };
}

function precheckOne(model: ModelFileSpec, patch: PatchSpec, seed: number): PrecheckResult {
  const spec = composeModel({ ...model, patch: undefined } as unknown as ModelFileSpec, { patch, tasks: [] });
  const id: ModelId = kernelNumber(spec.kernel) >= 412 ? 'hybrid' : 'null';
  const run = simulate(spec, { seed, models: [id], trace: true });
  const r = run.models[0];
  const horizonMs = (spec.durationMs ?? DEFAULT_DURATION_MS) - run.enableAtMs;
  const alt = movedOn64(spec, r, seed);
  const blockers = blockersOf(model);
  const holders = holdersOf(spec, r, alt, run.enableAtMs, horizonMs);
  const verdict: PrecheckVerdict = blockers.length ? 'cannot-load' : !r.completed ? 'needs-force' : r.signalsSent > 0 ? 'after-signals' : 'ready';
  return {
    machine: spec.name,
    kernel: spec.kernel,
    model: id,
    verdict,
    completed: r.completed,
    completionTimeMs: r.completionTimeMs,
    signalsAtMs: r.signalsAtMs ?? [],
    holders,
    holdersTruncated: (r.timelineLanes ?? 0) > (r.timeline?.length ?? 0),
    blockers,
    unseen: model.capture?.unseen ?? [],
    horizonMs,
  };
}

const secOrDash = (ms: number | null) => (ms === null ? '-' : sec(ms));

const HEAD: Record<PrecheckResult['verdict'], string> = {
  ready: 'the transition would complete by itself',
  'after-signals': 'the transition would complete, after fake signals',
  'needs-force': 'the transition would NOT complete by itself',
  'cannot-load': 'the patch cannot be loaded now',
};

/** The text `klp-lens precheck` prints and the editor command shows. */
export function precheckText(r: PrecheckResult, patchName: string): string {
  const lines = [`${patchName} on ${r.machine}, ${r.model} model (kernel profile ${r.kernel}): ${HEAD[r.verdict]}${r.completed ? `${r.verdict === 'cannot-load' ? '; once it can, it would complete' : ','} ${secOrDash(r.completionTimeMs)} after enable` : ''}`];
  for (const b of r.blockers) lines.push(`  blocked: ${b}`);
  if (r.signalsAtMs.length) lines.push(`  fake signals at ${r.signalsAtMs.slice(0, 3).map((s) => `~${sec(s)}`).join(', ')} after enable`);
  const shown = r.holders.slice(0, 20);
  if (shown.length) lines.push(`  ${r.holdersTruncated ? 'at least ' : ''}${r.holders.length} task${r.holders.length === 1 ? '' : 's'} would hold it:`);
  for (const h of shown) lines.push(`    ${h.why}`);
  if (r.holders.length > shown.length) lines.push(`    … and ${r.holders.length - shown.length} more (--format json lists them all)`);
  if (!r.holders.length && !r.blockers.length) lines.push('  no task would hold it past attempt 0');
  if (r.outcomes) {
    const n = r.outcomes.reduce((a, o) => a + o.runs, 0);
    lines.push(`  over ${n} runs with other seeds:`);
    for (const o of r.outcomes.slice(0, 6))
      lines.push(`    ${(o.share * 100).toFixed(1).padStart(5)}%  ${o.verdict}${o.completionTimeMs !== null ? `, complete ${secOrDash(o.completionTimeMs)} after enable` : ''}, ${o.holder ? `held longest by ${o.holder}` : 'no task holds it past attempt 0'} (seed ${o.seed})`);
    if (r.outcomes.length > 6) lines.push(`    … ${r.outcomes.length - 6} more (--format json lists them)`);
  }
  for (const u of r.unseen) lines.push(`  not seen: ${u}`);
  return lines.join('\n') + '\n';
}

