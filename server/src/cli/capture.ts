/**
 * `klp-lens capture` and `klp-lens precheck`: snapshot this machine (or read
 * a snapshot taken elsewhere with the printed script), and say before a load
 * which tasks would hold the patch's transition.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { CAPTURE_NOT_ROOT, CAPTURE_SCRIPT } from '../core/capture/script';
import { CaptureLoadError, loadCapture, modelFromRaw } from '../core/capture/load';
import { precheck, PRECHECK_EXIT, precheckText } from '../core/sim/precheck';
import type { ModelFileSpec } from '../core/sim/modelFile';
import type { PatchWorkload } from '../core/sim/session';

export class CaptureUsageError extends Error {}

export interface CaptureCliOptions {
  out?: string;
  samples: number;
  interval: number;
  from?: string;
  raw?: string;
  printScript?: boolean;
}

/** Runs the snapshot script here; its raw output. */
export function snapshotHere(samples: number, intervalMs: number): string {
  if (process.platform !== 'linux') throw new CaptureUsageError(`capture reads /proc of a running Linux kernel; this is ${process.platform} (run klp-lens capture --print-script > capture.sh there, and --from its output here)`);
  const r = spawnSync('sh', ['-s', '--', String(samples), String(intervalMs / 1000)], { input: CAPTURE_SCRIPT, encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.error) throw new CaptureUsageError(`cannot run sh: ${r.error.message}`);
  if (r.status === CAPTURE_NOT_ROOT) throw new CaptureUsageError(`${r.stderr.trim().replace(/^klp-lens capture: /, '')}; run it with sudo`);
  if (r.status !== 0) throw new CaptureUsageError(`the snapshot script failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
  return r.stdout;
}

function toModel(raw: string, name: string): ModelFileSpec {
  try {
    return modelFromRaw(raw, name);
  } catch (e) {
    if (e instanceof CaptureLoadError) throw new CaptureUsageError(e.message);
    throw e;
  }
}

export function runCapture(opts: CaptureCliOptions, out: (s: string) => void, err: (s: string) => void): number {
  if (opts.printScript) {
    out(CAPTURE_SCRIPT);
    return 0;
  }
  let raw: string;
  if (opts.from) {
    try {
      raw = readFileSync(opts.from, 'utf8');
    } catch (e) {
      throw new CaptureUsageError(`cannot read ${opts.from}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  } else raw = snapshotHere(opts.samples, opts.interval);
  if (opts.raw) writeFileSync(opts.raw, raw);
  const model = toModel(raw, opts.from ?? 'the snapshot');
  const json = JSON.stringify(model, null, 2) + '\n';
  const c = model.capture!;
  if (opts.out && opts.out !== '-') {
    writeFileSync(opts.out, json);
    err(`klp-lens: ${opts.out}: ${c.tasks} tasks of ${c.node && c.node !== '(none)' ? c.node : 'machine'} (${c.release}, ${model.kernel} model, ${model.arch.name}), ${c.samples} sample${c.samples === 1 ? '' : 's'}\n`);
  } else out(json);
  for (const u of c.unseen) err(`klp-lens: not seen: ${u}\n`);
  return 0;
}

export interface PrecheckCliOptions {
  capture?: string;
  samples: number;
  interval: number;
  seed?: number;
  runs?: number;
  /** Seconds after the enable the transition is watched (the model's window otherwise, 120 s by default). */
  within?: number;
  format: 'text' | 'json';
}

/** Precheck a patch's workload on a capture file or a fresh capture; the exit status. */
export function runPrecheck(workload: PatchWorkload, patchName: string, opts: PrecheckCliOptions, out: (s: string) => void): number {
  let model: ModelFileSpec;
  try {
    model = opts.capture ? loadCapture(opts.capture) : toModel(snapshotHere(opts.samples, opts.interval), 'the snapshot');
  } catch (e) {
    if (e instanceof CaptureLoadError) throw new CaptureUsageError(e.message);
    throw e;
  }
  if (opts.within !== undefined) model = { ...model, durationMs: (model.enableAtMs ?? 100) + opts.within * 1000 };
  const r = precheck(model, workload.patch, opts.seed ?? 1, opts.runs ?? 1);
  out(opts.format === 'json' ? JSON.stringify({ patch: patchName, functions: workload.patch.functions, ...r }, null, 2) + '\n' : precheckText(r, patchName));
  return PRECHECK_EXIT[r.verdict];
}
