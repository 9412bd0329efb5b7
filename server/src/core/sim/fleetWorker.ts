/**
 * Fleet worker thread (bundled to out/simWorker.js): simulates the machines
 * of the ranges it is sent and posts their outcomes back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runMachines, type FleetSource } from './fleet';
import type { ModelId } from './types';

const { src, seed, models } = workerData as { src: FleetSource; seed: number; models: ModelId[] };
parentPort!.on('message', (job: { from: number; to: number } | null) => {
  if (!job) return process.exit(0);
  try {
    parentPort!.postMessage({ from: job.from, outcomes: runMachines(src, seed, models, job.from, job.to) });
  } catch (e) {
    parentPort!.postMessage({ from: job.from, error: e instanceof Error ? e.message : String(e) });
  }
});
