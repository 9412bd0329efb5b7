/**
 * Fleet mode: the operator's view. N machines, each drawn from a workload
 * distribution (a mix of the built-in profiles at random sizes, or copies of
 * one model with their own seeds), each simulated under the chosen models;
 * reported as distributions: completion time p50/p99/max, the share of
 * machines stalled past 60 s, the share that would need `force`, the share
 * where the load failed, and the most common stall.
 *
 * Machines are independent, so the work is split over worker threads
 * (out/simWorker.js); each worker returns one small record per machine and
 * the main thread aggregates them in machine order, so the result does not
 * depend on the number of workers.
 */
import { hashSeed, Rng } from './rng';
import { builtinProfile, type ProfileName } from './profiles';
import { simulate } from './simulate';
import { programShape } from './world';
import type { ModelId, ModelSpec, PatchSpec, TaskSpec, ViolationClass } from './types';

/** How machines are drawn. */
export type FleetSource =
  /** Copies of one model, each with its own seed. */
  | { kind: 'model'; spec: ModelSpec }
  /** A mix of the built-in profiles carrying the patch's workload. */
  | {
      kind: 'mix';
      patch: PatchSpec;
      /** The patch's workload: the tasks inside or calling the patched functions. */
      tasks: TaskSpec[];
      kernel?: ModelSpec['kernel'];
      /** Share of machines that carry that workload, for every profile (default: each profile's own). */
      prevalence?: number;
    }
  /** Machines captured from real ones (`klp-lens capture`), in turn, each with its own seed. */
  | { kind: 'captures'; specs: ModelSpec[] };

/** The default fleet: what a distro vendor's customers run, roughly. */
/**
 * `prevalence`: the share of such machines on which some task is inside, or keeps calling, the
 * patched functions when the patch is enabled (the patch's workload runs there). An assumption
 * to be replaced by captures of the real fleet (`--fleet DIR`) or the prevalence setting.
 */
export const DEFAULT_MIX: { profile: ProfileName; weight: number; scale: [number, number]; prevalence: number }[] = [
  { profile: 'idle-server', weight: 0.45, scale: [1, 1], prevalence: 0.1 },
  { profile: 'web-server-64', weight: 0.35, scale: [0.01, 0.05], prevalence: 0.3 },
  { profile: 'storage-box', weight: 0.2, scale: [1, 1], prevalence: 0.5 },
];

/** One machine's outcome under one model (what a worker sends back). */
export interface MachineOutcome {
  profile: string;
  kernel: string;
  /** The machine carries the patch's workload (a task inside or calling the patched functions). */
  carrier: boolean;
  /** Per model, in the order asked: completion ms or -1, failed, stall reason, violation classes seen. */
  r: { t: number; failed: boolean; stall?: string; v: ViolationClass[] }[];
}

/** The spec of machine i (deterministic in seed and i). */
export function fleetMachine(src: FleetSource, seed: number, i: number): { spec: ModelSpec; seed: number; profile: string; carrier: boolean } {
  const ms = hashSeed(seed, `machine${i}`);
  if (src.kind === 'model') return { spec: src.spec, seed: ms, profile: src.spec.name, carrier: true };
  if (src.kind === 'captures') {
    const spec = src.specs[i % src.specs.length];
    const patched = new Set(spec.patch.functions);
    return { spec, seed: ms, profile: `captured (kernel ${spec.kernel})`, carrier: spec.tasks.some((t) => programShape(t.program, patched).relevant) };
  }
  const rng = new Rng(ms);
  let u = rng.next();
  let pick = DEFAULT_MIX[DEFAULT_MIX.length - 1];
  for (const m of DEFAULT_MIX) {
    if (u < m.weight) {
      pick = m;
      break;
    }
    u -= m.weight;
  }
  const scale = pick.scale[0] + (pick.scale[1] - pick.scale[0]) * rng.next();
  const carrier = rng.next() < (src.prevalence ?? pick.prevalence);
  const spec = builtinProfile(pick.profile, { patch: src.patch, extraTasks: carrier ? src.tasks : [], scale, ...(src.kernel ? { kernel: src.kernel } : {}) });
  return { spec, seed: ms, profile: pick.profile, carrier };
}

/** Simulates machines [from, to) (inline or in a worker). */
export function runMachines(src: FleetSource, seed: number, models: ModelId[], from: number, to: number): MachineOutcome[] {
  const out: MachineOutcome[] = [];
  for (let i = from; i < to; i++) {
    const { spec, seed: s, profile, carrier } = fleetMachine(src, seed, i);
    const res = simulate(spec, { seed: s, models });
    out.push({
      profile,
      kernel: spec.kernel,
      carrier,
      r: res.models.map((m) => ({
        t: m.completionTimeMs ?? -1,
        failed: !!m.failed,
        ...(m.stalledTasks[0] ? { stall: `${m.stalledTasks[0].reason}${m.stalledTasks[0].function ? ` in ${m.stalledTasks[0].function}` : ''}` } : {}),
        v: (Object.keys(m.violationCounts) as ViolationClass[]).filter((c) => m.violationCounts[c] > 0),
      })),
    });
  }
  return out;
}

export interface FleetModelSummary {
  name: ModelId;
  machines: number;
  completed: number;
  /** Completion time from enable over the machines that completed (ms). */
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** Share of machines not done 60 s after enable (stalled or failed). */
  stalledPast60s: number;
  /** Share whose transition could not finish by itself within the modeled time (hybrid, kGraft): force, reverse or a reboot is needed. */
  needsForce: number;
  /** Share where the load failed (stop-machine retries exhausted, refcount EBUSY/ETIME). */
  failed: number;
  /** Share of machines that saw each violation class. */
  violations: Record<ViolationClass, number>;
  /** The most common reasons machines stalled, with their counts. */
  topStalls: { reason: string; machines: number }[];
  /** Machines per completion-time bucket: [fromMs, toMs) ranges in HISTOGRAM_EDGES, then one bucket for "not done". */
  histogram: number[];
  /** Per kernel version: machines, and how many never finish by themselves on it (force, reverse or reboot needed). */
  byKernel: { kernel: string; machines: number; neverFinish: number }[];
}

/** Bucket edges of the completion-time histogram (ms after enable). */
export const HISTOGRAM_EDGES = [0, 1000, 2000, 5000, 10_000, 20_000, 30_000, 60_000, 120_000, Infinity];

export interface FleetResult {
  machines: number;
  seed: number;
  mix: { profile: string; machines: number }[];
  /** Machines that carry the patch's workload (someone inside or calling the patched functions). */
  carriers: number;
  models: FleetModelSummary[];
}

function histogramOf(times: number[]): number[] {
  const h = new Array<number>(HISTOGRAM_EDGES.length).fill(0);
  for (const t of times) {
    if (t < 0) {
      h[h.length - 1]++;
      continue;
    }
    let b = 0;
    while (b < HISTOGRAM_EDGES.length - 2 && t >= HISTOGRAM_EDGES[b + 1]) b++;
    h[b]++;
  }
  return h;
}

function byKernel(outcomes: MachineOutcome[], k: number): FleetModelSummary['byKernel'] {
  const m = new Map<string, { machines: number; neverFinish: number }>();
  for (const o of outcomes) {
    const e = m.get(o.kernel) ?? { machines: 0, neverFinish: 0 };
    e.machines++;
    if (o.r[k].t < 0 && !o.r[k].failed) e.neverFinish++;
    m.set(o.kernel, e);
  }
  return [...m].map(([kernel, e]) => ({ kernel, ...e })).sort((a, b) => a.kernel.localeCompare(b.kernel, undefined, { numeric: true }));
}

function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function summarize(outcomes: MachineOutcome[], models: ModelId[], seed: number): FleetResult {
  const n = outcomes.length;
  const share = (k: number) => (n ? Math.round((k / n) * 10000) / 10000 : 0);
  const mix = new Map<string, number>();
  for (const o of outcomes) mix.set(o.profile, (mix.get(o.profile) ?? 0) + 1);
  return {
    machines: n,
    seed,
    mix: [...mix].map(([profile, machines]) => ({ profile, machines })).sort((a, b) => b.machines - a.machines || a.profile.localeCompare(b.profile)),
    carriers: outcomes.filter((o) => o.carrier).length,
    models: models.map((name, k) => {
      const times = outcomes.map((o) => o.r[k].t).filter((t) => t >= 0).sort((a, b) => a - b);
      const late = outcomes.filter((o) => o.r[k].t < 0 || o.r[k].t > 60_000).length;
      const failed = outcomes.filter((o) => o.r[k].failed).length;
      const stuck = outcomes.filter((o) => o.r[k].t < 0 && !o.r[k].failed).length;
      const stalls = new Map<string, number>();
      for (const o of outcomes) if (o.r[k].t < 0 && o.r[k].stall) stalls.set(o.r[k].stall!, (stalls.get(o.r[k].stall!) ?? 0) + 1);
      const violations = { U: 0, V1: 0, V2: 0, V3: 0, V4: 0 } as Record<ViolationClass, number>;
      for (const o of outcomes) for (const c of o.r[k].v) violations[c]++;
      for (const c of Object.keys(violations) as ViolationClass[]) violations[c] = share(violations[c]);
      return {
        name,
        machines: n,
        completed: times.length,
        p50Ms: quantile(times, 0.5),
        p99Ms: quantile(times, 0.99),
        maxMs: times.length ? times[times.length - 1] : null,
        stalledPast60s: share(late),
        needsForce: share(stuck),
        failed: share(failed),
        violations,
        histogram: histogramOf(outcomes.map((o) => o.r[k].t)),
        byKernel: byKernel(outcomes, k),
        topStalls: [...stalls].map(([reason, machines]) => ({ reason, machines })).sort((a, b) => b.machines - a.machines || a.reason.localeCompare(b.reason)).slice(0, 5),
      };
    }),
  };
}
