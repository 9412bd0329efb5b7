/**
 * `klp-lens simulate`: previews the patch transition on a modeled machine
 * under the consistency models, or over a fleet.
 */
import { readFileSync } from 'node:fs';
import { analyzePatch } from '../core/analysis';
import { decodeBytes } from '../core/text';
import { workloadFromAnalysis } from '../core/sim/fromPatch';
import { parseModelFile, formatModelFileErrors } from '../core/sim/modelFile';
import { composeModel, ComposeError, type Workload } from '../core/sim/compose';
import { isProfileName, taskCount } from '../core/sim/profiles';
import { parseModelList, simulate, MODELS } from '../core/sim/simulate';
import { runFleet } from '../core/sim/fleetPool';
import type { FleetResult } from '../core/sim/fleet';
import type { KernelProfile, ModelId, ModelResult, ModelSpec, SimResult } from '../core/sim/types';

export class SimulateUsageError extends Error {}

export interface SimulateCliOptions {
  model?: string;
  models?: string;
  fleet?: number;
  seed?: number;
  format: 'text' | 'json';
  trace?: boolean;
  kernel?: KernelProfile;
  threads?: number;
}

const KERNELS: KernelProfile[] = ['4.0', '4.12', '4.15', '5.1', '5.16', '6.1', '6.4', '6.16'];
export const kernelProfiles = KERNELS;

function loadModelFile(path: string): ReturnType<typeof parseModelFile>['model'] {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
    const buf = Buffer.from(text, 'latin1');
    text = decodeBytes(buf).text;
  } catch (e) {
    throw new SimulateUsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const { model, errors } = parseModelFile(text, path);
  if (errors.length || !model) throw new SimulateUsageError(formatModelFileErrors(path, errors).trimEnd());
  return model;
}

async function workloadOf(path: string, notes: string[]): Promise<Workload> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new SimulateUsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const decoded = decodeBytes(bytes);
  const analysis = await analyzePatch(decoded.text, {});
  try {
    if (analysis.files.length === 0) throw new SimulateUsageError(`${path}: no file changes found; is it a unified diff?`);
    const w = workloadFromAnalysis(analysis);
    notes.push(...w.notes);
    if (w.patch.functions.length === 0) throw new SimulateUsageError(`${path}: the patch changes no function, so there is no transition to simulate`);
    return { patch: w.patch, tasks: w.tasks };
  } finally {
    analysis.dispose();
  }
}

/** Resolves the inputs into one machine spec. */
export async function specFor(file: string, opts: SimulateCliOptions, notes: string[]): Promise<ModelSpec> {
  try {
    if (file.endsWith('.klpmodel.json')) {
      if (opts.model) throw new SimulateUsageError('give either a model file or --model, not both');
      return composeModel(loadModelFile(file)!, undefined, opts.kernel);
    }
    const workload = await workloadOf(file, notes);
    const m = opts.model ?? 'idle-server';
    if (isProfileName(m)) return composeModel(m, workload, opts.kernel);
    if (m.endsWith('.json')) return composeModel(loadModelFile(m)!, workload, opts.kernel);
    return composeModel(m as never, workload, opts.kernel);
  } catch (e) {
    if (e instanceof ComposeError) throw new SimulateUsageError(e.message);
    throw e;
  }
}

export function modelsOf(opts: SimulateCliOptions): ModelId[] {
  if (!opts.models) return Object.keys(MODELS) as ModelId[];
  const { models, unknown } = parseModelList(opts.models);
  if (unknown.length) throw new SimulateUsageError(`unknown model ${unknown.map((u) => `"${u}"`).join(', ')}: use ${Object.keys(MODELS).join(', ')} or all`);
  if (models.length === 0) throw new SimulateUsageError('--models: no model named');
  return models;
}

const sec = (ms: number | null) => (ms === null ? '-' : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

function modelText(m: ModelResult): string[] {
  const head = m.failed
    ? `FAILED: ${m.failed}`
    : m.completed
      ? `completed ${sec(m.completionTimeMs)} after enable`
      : `NOT complete (${m.stalledCount} task${m.stalledCount === 1 ? '' : 's'} holding it)`;
  const lines = [`${m.name.padEnd(12)} ${head}`];
  const facts: string[] = [];
  if (m.retries) facts.push(`retries ${m.retries}`);
  if (m.signalsSent) facts.push(`fake signals ${m.signalsSent}`);
  if (m.pauses.count) facts.push(`stop_machine pauses ${m.pauses.count} (max ${m.pauses.maxMs} ms, total ${m.pauses.totalMs} ms)`);
  if (!m.removable) facts.push('module can NOT be removed (forced)');
  if (facts.length) lines.push(`${''.padEnd(12)} ${facts.join(', ')}`);
  for (const h of m.heldBy ?? []) lines.push(`${''.padEnd(12)} held up by: ${h.task} ${h.reason}${h.function ? ` (${h.function})` : ''} until ${sec(h.switchedAtMs)}, then switched by ${h.mechanism}`);
  for (const s of m.stalledTasks.slice(0, 5)) lines.push(`${''.padEnd(12)} stalled: ${s.task} ${s.reason}${s.function ? ` (${s.function})` : ''}`);
  if (m.stalledCount > 5) lines.push(`${''.padEnd(12)} … and ${m.stalledCount - 5} more`);
  for (const v of m.violations.slice(0, 6)) lines.push(`${''.padEnd(12)} ${v.class} at ${sec(v.timeMs)}: ${v.explanation}`);
  const more = Object.values(m.violationCounts).reduce((a, b) => a + b, 0) - Math.min(6, m.violations.length);
  if (more > 0) lines.push(`${''.padEnd(12)} (${more} more violations: ${Object.entries(m.violationCounts).filter(([, n]) => n).map(([c, n]) => `${c} ${n}`).join(', ')})`);
  for (const n of m.notes ?? []) lines.push(`${''.padEnd(12)} note: ${n}`);
  if (m.trace) for (const e of m.trace) lines.push(`${''.padEnd(14)}${String(e.timeMs).padStart(10)} ms  ${e.task ?? ''} ${e.event}${e.detail ? `: ${e.detail}` : ''}`);
  return lines;
}

export function formatSimText(r: SimResult, spec: ModelSpec, notes: string[]): string {
  const lines = [
    `${spec.name}: kernel ${r.kernel}, ${r.arch}${spec.arch.reliableStacktrace ? '' : ' (no reliable stacktrace)'}, ${spec.cpus} CPUs, ${taskCount(spec)} tasks, seed ${r.seed}`,
    `patched: ${spec.patch.functions.join(', ')}${spec.patch.dataSemantics ? ' (changes data semantics)' : ''}`,
    ...notes.map((n) => `  ${n}`),
    '',
  ];
  for (const m of r.models) lines.push(...modelText(m), '');
  return lines.join('\n');
}

export function formatFleetText(f: FleetResult): string {
  const lines = [`fleet of ${f.machines} machines (seed ${f.seed}): ${f.mix.map((m) => `${m.machines} ${m.profile}`).join(', ')}`, ''];
  lines.push(`${'model'.padEnd(12)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)} ${'>60 s'.padStart(8)} ${'force'.padStart(8)} ${'failed'.padStart(8)}  top stall`);
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  for (const m of f.models) {
    lines.push(`${m.name.padEnd(12)} ${sec(m.p50Ms).padStart(8)} ${sec(m.p99Ms).padStart(8)} ${sec(m.maxMs).padStart(8)} ${pct(m.stalledPast60s).padStart(8)} ${pct(m.needsForce).padStart(8)} ${pct(m.failed).padStart(8)}  ${m.topStalls[0] ? `${m.topStalls[0].reason} (${m.topStalls[0].machines})` : ''}`);
  }
  return lines.join('\n') + '\n';
}

export async function runSimulate(file: string, opts: SimulateCliOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const notes: string[] = [];
  const models = modelsOf(opts);
  if (opts.fleet !== undefined) {
    let src: Parameters<typeof runFleet>[0];
    if (file.endsWith('.klpmodel.json') || (opts.model && !isProfileName(opts.model))) {
      src = { kind: 'model', spec: await specFor(file, opts, notes) };
    } else if (opts.model) {
      src = { kind: 'model', spec: await specFor(file, opts, notes) };
    } else {
      const w = await workloadOf(file, notes);
      src = { kind: 'mix', patch: w.patch, tasks: w.tasks, ...(opts.kernel ? { kernel: opts.kernel } : {}) };
    }
    const f = await runFleet(src, {
      machines: opts.fleet,
      seed: opts.seed ?? 1,
      models,
      ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
      onProgress: process.stderr.isTTY ? (d, n) => err(`\rsimulated ${d}/${n} machines`) : undefined,
    });
    if (process.stderr.isTTY) err('\n');
    out(opts.format === 'json' ? JSON.stringify({ fleet: f }, null, 2) + '\n' : formatFleetText(f));
    return 0;
  }
  const spec = await specFor(file, opts, notes);
  const r = simulate(spec, { ...(opts.seed !== undefined ? { seed: opts.seed } : {}), models, trace: !!opts.trace });
  out(opts.format === 'json' ? JSON.stringify(r, null, 2) + '\n' : formatSimText(r, spec, notes));
  return 0;
}
