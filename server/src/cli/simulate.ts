/**
 * `klp-lens simulate`: previews the patch transition on a modeled machine
 * under the consistency models, or over a fleet. The request handling is
 * core/sim/session.ts (shared with the language server); this file reads the
 * inputs and prints.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import fg from 'fast-glob';
import { analyzePatch } from '../core/analysis';
import { decodeBytes } from '../core/text';
import type { KernelTree } from '../core/tree/kernelTree';
import { runRequest, SimRequestError, workloadOf, modelsFrom, type PatchWorkload, type SimRequest } from '../core/sim/session';
import { taskCount } from '../core/sim/profiles';
import { outcomesText } from '../core/sim/outcomes';
import type { FleetResult } from '../core/sim/fleet';
import type { KernelProfile, ModelResult, ModelSpec, SimResult } from '../core/sim/types';

export { SimRequestError as SimulateUsageError } from '../core/sim/session';
export { KERNEL_PROFILES as kernelProfiles, ARCH_PROFILES as archProfiles } from '../core/sim/session';

export interface SimulateCliOptions {
  model?: string;
  models?: string;
  /** A number of machines, or a folder or glob of captures. */
  fleet?: number | string;
  prevalence?: number;
  seed?: number;
  format: 'text' | 'json';
  trace?: boolean;
  kernel?: KernelProfile;
  arch?: string;
  threads?: number;
  runs?: number;
}

export async function patchWorkload(path: string, tree: KernelTree | undefined, maxBytes: number): Promise<PatchWorkload> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new SimRequestError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (bytes.length > maxBytes) throw new SimRequestError(`${path} is ${bytes.length} bytes, above --max-bytes ${maxBytes}`);
  const analysis = await analyzePatch(decodeBytes(bytes).text, { tree, maxLength: maxBytes });
  try {
    return workloadOf(analysis, path);
  } finally {
    analysis.dispose();
  }
}

const sec = (ms: number | null) => (ms === null ? '-' : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);
const pad = ''.padEnd(12);

const holding = (n: number) => `${n} task${n === 1 ? '' : 's'} holding it`;

function headline(m: ModelResult): string {
  if (m.failed) return `FAILED: ${m.failed}`;
  if (m.completed) return `completed ${sec(m.completionTimeMs)} after enable`;
  const u = m.unpatching;
  if (u?.trigger === 'reverse') return `reversed ${sec(u.startedAfterEnableMs)} after enable; the unpatching ${u.completed ? `completed ${sec(u.completionTimeMs)} after the reverse` : `is NOT complete (${holding(u.stalledCount)})`}`;
  return `NOT complete (${holding(m.stalledCount)})`;
}

/** Every time in the text is measured from the enable (`enable`: its run time). */
function modelText(m: ModelResult, enable: number): string[] {
  const lines = [`${m.name.padEnd(12)} ${headline(m)}`];
  const u = m.unpatching;
  if (u?.trigger === 'disable') lines.push(`${pad} disabled ${sec(u.startedAfterEnableMs)} after enable; the unpatching ${u.completed ? `completed ${sec(u.completionTimeMs)} after the disable` : `is NOT complete (${holding(u.stalledCount)})`}`);
  for (const h of u?.reversedWhileHeldBy?.slice(0, 5) ?? []) lines.push(`${pad} reversed while held by: ${h.task} ${h.reason}${h.function ? ` (${h.function})` : ''}`);
  for (const h of u?.heldBy ?? []) lines.push(`${pad} unpatching held up by: ${h.task} ${h.reason}${h.function ? ` (${h.function})` : ''} until ${sec(h.switchedAtMs - enable)} after enable, then switched by ${h.mechanism}`);
  const facts: string[] = [];
  if (m.retries) facts.push(`retries ${m.retries}`);
  if (m.signalsSent) facts.push(`fake signals ${m.signalsSent}`);
  if (m.pauses.count) facts.push(`stop_machine pauses ${m.pauses.count} (max ${m.pauses.maxMs} ms, total ${m.pauses.totalMs} ms)`);
  if (!m.removable) facts.push('module can NOT be removed (forced)');
  if (facts.length) lines.push(`${pad} ${facts.join(', ')}`);
  for (const h of m.heldBy ?? []) lines.push(`${pad} held up by: ${h.task} ${h.reason}${h.function ? ` (${h.function})` : ''} until ${sec(h.switchedAtMs - enable)} after enable, then switched by ${h.mechanism}`);
  for (const s of m.stalledTasks.slice(0, 5)) lines.push(`${pad} stalled: ${s.task} ${s.reason}${s.function ? ` (${s.function})` : ''}`);
  if (m.stalledCount > 5) lines.push(`${pad} … and ${m.stalledCount - 5} more`);
  for (const v of m.violations.slice(0, 6)) lines.push(`${pad} ${v.class} ${sec(v.timeMs - enable)} after enable: ${v.explanation}`);
  const more = Object.values(m.violationCounts).reduce((a, b) => a + b, 0) - Math.min(6, m.violations.length);
  if (more > 0) lines.push(`${pad} (${more} more violations: ${Object.entries(m.violationCounts).filter(([, n]) => n).map(([c, n]) => `${c} ${n}`).join(', ')})`);
  for (const n of m.notes ?? []) lines.push(`${pad} note: ${n}`);
  if (m.trace) {
    lines.push(`${pad}  trace (ms after enable):`);
    for (const e of m.trace) lines.push(`${pad}  ${String(Math.round((e.timeMs - enable) * 1000) / 1000).padStart(10)} ms  ${e.task ?? ''} ${e.event}${e.detail ? `: ${e.detail}` : ''}`);
  }
  return lines;
}

export function formatSimText(r: SimResult, spec: ModelSpec, notes: string[]): string {
  const lines = [
    `${spec.name}: kernel ${r.kernel}, ${r.arch}${spec.arch.reliableStacktrace ? '' : ' (no reliable stacktrace)'}, ${spec.cpus} CPUs, ${taskCount(spec)} tasks, seed ${r.seed}`,
    `patched: ${spec.patch.functions.join(', ')}${spec.patch.dataSemantics ? ' (changes data semantics)' : ''}`,
    ...notes.map((n) => `  ${n}`),
    '',
  ];
  for (const m of r.models) lines.push(...modelText(m, r.enableAtMs), '');
  return lines.join('\n');
}

export function formatFleetText(f: FleetResult): string {
  const lines = [
    `fleet of ${f.machines} machines (seed ${f.seed}): ${f.mix.map((m) => `${m.machines} ${m.profile}`).join(', ')}`,
    `${f.carriers} of them carry the patch's workload (a task inside or calling the patched functions)`,
    '',
  ];
  lines.push(`${'model'.padEnd(12)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)} ${'>60 s'.padStart(8)} ${'force'.padStart(8)} ${'failed'.padStart(8)}  top stall`);
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  for (const m of f.models) {
    lines.push(
      `${m.name.padEnd(12)} ${sec(m.p50Ms).padStart(8)} ${sec(m.p99Ms).padStart(8)} ${sec(m.maxMs).padStart(8)} ${pct(m.stalledPast60s).padStart(8)} ${pct(m.needsForce).padStart(8)} ${pct(m.failed).padStart(8)}  ${m.topStalls[0] ? `${m.topStalls[0].reason} (${m.topStalls[0].machines})` : ''}`,
    );
  }
  for (const m of f.models) {
    const stuck = m.byKernel.filter((k) => k.neverFinish > 0);
    if (stuck.length) lines.push(`${m.name}: never finishes by itself on ${stuck.map((k) => `${k.neverFinish} of ${k.machines} machines with kernel ${k.kernel}`).join(', ')} (force, reverse or reboot)`);
  }
  lines.push('', 'p50/p99/max: completion after enable over the machines that completed; >60 s: not done 60 s after enable; force: transition stuck at the end (force, reverse or reboot needed); failed: the load gave up.');
  return lines.join('\n') + '\n';
}

/**
 * The capture files of a folder (*.klpmodel.json and raw snapshots, *.raw) or matching a glob, sorted.
 * fast-glob: node 20 has no fs.glob, and a maintained matcher beats a hand-written one.
 */
export function captureFiles(where: string): string[] {
  let files: string[];
  if (existsSync(where) && statSync(where).isDirectory()) files = fg.sync(['*.klpmodel.json', '*.raw'], { cwd: where, absolute: true, onlyFiles: true });
  else files = fg.sync(where, { absolute: true, onlyFiles: true });
  if (files.length === 0) throw new SimRequestError(`--fleet ${where}: no captures there (*.klpmodel.json files or raw snapshots *.raw from klp-lens capture)`);
  return files.sort();
}

export async function runSimulate(file: string, opts: SimulateCliOptions, tree: KernelTree | undefined, maxBytes: number, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const req: SimRequest = {
    ...(opts.model ? { model: opts.model } : {}),
    ...(opts.models ? { models: modelsFrom(opts.models) } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.kernel ? { kernel: opts.kernel } : {}),
    ...(opts.arch ? { arch: opts.arch } : {}),
    ...(opts.trace ? { trace: true } : {}),
    ...(typeof opts.fleet === 'number' ? { fleet: opts.fleet } : {}),
    ...(typeof opts.fleet === 'string' ? { fleetFrom: captureFiles(opts.fleet) } : {}),
    ...(opts.prevalence !== undefined ? { prevalence: opts.prevalence } : {}),
    ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
    ...(opts.runs !== undefined ? { runs: opts.runs } : {}),
  };
  if (req.runs !== undefined && (req.fleet !== undefined || req.fleetFrom)) throw new SimRequestError('--runs simulates one machine with many seeds; --fleet already gives each machine its own seed: use one or the other');
  const isModel = file.endsWith('.klpmodel.json');
  const workload = isModel ? undefined : await patchWorkload(file, tree, maxBytes);
  const progress = process.stderr.isTTY && (req.fleet || req.fleetFrom) ? (d: number, n: number) => err(`\rsimulated ${d}/${n} machines`) : undefined;
  const r = await runRequest(workload, req, isModel ? file : undefined, progress);
  if (progress) err('\n');
  if (r.kind === 'fleet') out(opts.format === 'json' ? JSON.stringify({ fleet: r.result }, null, 2) + '\n' : formatFleetText(r.result));
  else if (opts.format === 'json') out(JSON.stringify(r.outcomes ? { ...r.result, outcomes: r.outcomes } : r.result, null, 2) + '\n');
  else out(formatSimText(r.result, r.spec, workload?.notes ?? []) + (r.outcomes ? outcomesText(r.outcomes).join('\n') + '\n' : ''));
  return 0;
}
