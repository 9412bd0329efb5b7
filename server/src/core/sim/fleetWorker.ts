/**
 * Simulator worker thread (bundled to out/simWorker.js). Two jobs:
 * - a fleet: simulates the machine ranges it is sent and posts their outcomes back;
 * - one run (workerData.single): simulates one machine and posts the result, so a
 *   language server stays responsive and a cancelled run can be stopped outright.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runMachines, type FleetSource } from './fleet';
import { simulate } from './simulate';
import type { ModelId, ModelSpec } from './types';

const data = workerData as { src: FleetSource; seed: number; models: ModelId[]; single?: undefined } | { single: { spec: ModelSpec; seed?: number; models: ModelId[]; trace: boolean } };
if (data.single) {
  const { spec, seed, models, trace } = data.single;
  try {
    parentPort!.postMessage({ result: simulate(spec, { ...(seed !== undefined ? { seed } : {}), models, trace }) });
  } catch (e) {
    parentPort!.postMessage({ error: e instanceof Error ? e.message : String(e), model: e instanceof Error && e.name === 'ModelError' });
  }
} else {
  const { src, seed, models } = data;
  parentPort!.on('message', (job: { from: number; to: number } | null) => {
    if (!job) return process.exit(0);
    try {
      parentPort!.postMessage({ from: job.from, outcomes: runMachines(src, seed, models, job.from, job.to) });
    } catch (e) {
      parentPort!.postMessage({ from: job.from, error: e instanceof Error ? e.message : String(e) });
    }
  });
}
