/**
 * Spreads a fleet over worker threads: chunks of machines go to whichever
 * worker is free; the outcomes are put back in machine order. Small fleets
 * (or no worker bundle) run on the calling thread.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { runMachines, summarize, type FleetResult, type FleetSource, type MachineOutcome } from './fleet';
import { locateAsset } from '../syntax/parser';
import { simulate } from './simulate';
import type { ModelId, ModelSpec, SimResult } from './types';
import { append } from '../arrays';
import { CancelledError } from '../cancel';

export interface FleetOptions {
  machines: number;
  seed: number;
  models: ModelId[];
  /** Worker threads (default: the cores available). 0: run inline. */
  threads?: number;
  workerFile?: string;
  onProgress?: (done: number, total: number) => void;
  /** Aborting stops the workers; the promise rejects with CancelledError. */
  signal?: AbortSignal;
}

export async function runFleet(src: FleetSource, opts: FleetOptions): Promise<FleetResult> {
  const n = opts.machines;
  const threads = Math.min(opts.threads ?? availableParallelism(), Math.ceil(n / 50));
  const file = threads > 0 ? workerFile(opts.workerFile) : undefined;
  if (!file) {
    const out = runMachines(src, opts.seed, opts.models, 0, n);
    opts.onProgress?.(n, n);
    return summarize(out, opts.models, opts.seed);
  }
  const chunk = Math.max(10, Math.min(250, Math.ceil(n / (threads * 8))));
  const results: MachineOutcome[][] = [];
  let next = 0;
  let done = 0;
  if (opts.signal?.aborted) throw new CancelledError('simulation');
  await new Promise<void>((resolve, reject) => {
    let live = threads;
    let failed = false;
    const workers: Worker[] = [];
    const onAbort = () => stop(new CancelledError('simulation'));
    // One end for every way out: the abort listener goes, and on a failure every worker stops.
    const stop = (err?: Error) => {
      if (failed) return;
      opts.signal?.removeEventListener('abort', onAbort);
      if (!err) return resolve();
      failed = true;
      for (const w of workers) void w.terminate();
      reject(err);
    };
    opts.signal?.addEventListener('abort', onAbort);
    for (let w = 0; w < threads; w++) {
      const worker = new Worker(file!, { workerData: { src, seed: opts.seed, models: opts.models } });
      workers.push(worker);
      const feed = () => {
        if (failed || next >= n) {
          worker.postMessage(null);
          return;
        }
        const from = next;
        next = Math.min(n, next + chunk);
        worker.postMessage({ from, to: next });
      };
      worker.on('message', (m: { from: number; outcomes?: MachineOutcome[]; error?: string }) => {
        if (m.error) return stop(new Error(`fleet machine ${m.from}: ${m.error}`));
        results[m.from] = m.outcomes!;
        done += m.outcomes!.length;
        opts.onProgress?.(done, n);
        feed();
      });
      worker.on('error', (e) => stop(e));
      worker.on('exit', () => {
        if (--live === 0) stop();
      });
      feed();
    }
  });
  const outcomes: MachineOutcome[] = [];
  for (const k of Object.keys(results).map(Number).sort((a, b) => a - b)) append(outcomes, results[k]);
  return summarize(outcomes, opts.models, opts.seed);
}

function workerFile(given?: string): string | undefined {
  if (given) return given;
  try {
    return locateAsset('simWorker.js');
  } catch {
    return undefined;
  }
}

/**
 * One machine on a worker thread (the language server's way: it keeps
 * answering meanwhile, and aborting terminates the run). Without the worker
 * bundle it runs on the calling thread.
 */
export function simulateInWorker(spec: ModelSpec, opts: { seed?: number; models: ModelId[]; trace: boolean; signal?: AbortSignal; workerFile?: string }): Promise<SimResult> {
  const file = workerFile(opts.workerFile);
  if (opts.signal?.aborted) return Promise.reject(new CancelledError('simulation'));
  if (!file) return Promise.resolve(simulate(spec, { ...(opts.seed !== undefined ? { seed: opts.seed } : {}), models: opts.models, trace: opts.trace }));
  return new Promise((resolve, reject) => {
    const worker = new Worker(file, { workerData: { single: { spec, seed: opts.seed, models: opts.models, trace: opts.trace } } });
    let settled = false;
    const done = (f: () => void) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      f();
    };
    const onAbort = () => {
      void worker.terminate();
      done(() => reject(new CancelledError('simulation')));
    };
    opts.signal?.addEventListener('abort', onAbort);
    worker.on('message', (m: { result?: SimResult; error?: string }) => {
      void worker.terminate();
      done(() => (m.result ? resolve(m.result) : reject(new Error(m.error ?? 'the simulation worker failed'))));
    });
    worker.on('error', (e) => done(() => reject(e)));
    worker.on('exit', (code) => done(() => reject(new Error(`the simulation worker exited (${code})`))));
  });
}
