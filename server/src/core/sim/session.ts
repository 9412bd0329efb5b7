/**
 * One simulation request, as the CLI and the language server take it: which
 * machine (a built-in profile or a model file), which models, seed, kernel,
 * trace, fleet. Validates requests that come from outside (the server's
 * clients, a webview) and turns a patch analysis plus a request into a
 * machine, a run or a fleet.
 */
import { readFileSync, statSync } from 'node:fs';
import type { PatchAnalysis } from '../analysis';
import { decodeBytes } from '../text';
import { workloadFromAnalysis } from './fromPatch';
import { parseModelFile, formatModelFileErrors, MAX_MODEL_FILE_BYTES, type ModelFileSpec } from './modelFile';
import { composeModel, ComposeError, type Workload } from './compose';
import { isProfileName, PROFILE_NAMES } from './profiles';
import { parseModelList, simulate } from './simulate';
import { runFleet, simulateInWorker } from './fleetPool';
import type { FleetResult } from './fleet';
import { buildMachine, ModelError } from './world';
import { CaptureLoadError, loadCapture } from '../capture/load';
import { MAX_RUNS, outcomesOver, type OutcomesResult } from './outcomes';
import { ARCH_PROFILES, KERNEL_PROFILES, MODEL_IDS, type KernelProfile, type ModelId, type ModelSpec, type SimResult } from './types';

export { KERNEL_PROFILES, ARCH_PROFILES } from './types';

export interface SimRequest {
  /** A built-in profile name or the path of a *.klpmodel.json file (default idle-server). */
  model?: string;
  /** Model ids (or a comma-separated list); default all. */
  models?: ModelId[];
  seed?: number;
  kernel?: KernelProfile;
  /** An arch profile name (ARCH_PROFILES) in place of the machine's. */
  arch?: string;
  trace?: boolean;
  /** Simulate a fleet of this many machines instead of one. */
  fleet?: number;
  /** A fleet of these captured machines (klp-lens capture files or raw snapshots), one machine each. */
  fleetFrom?: string[];
  /** Fleets from the built-in mix: the share of machines that carry the patch's workload (default: each profile's). */
  prevalence?: number;
  threads?: number;
  /** One machine, this many seeds from `seed`: the outcomes and how often each came out (outcomes.ts). */
  runs?: number;
}

/** Bad input from the user or a client: the message says what to change. */
export class SimRequestError extends Error {}

/** Checks a request that comes from outside (JSON over LSP, a webview message). */
export function validateSimRequest(x: unknown): SimRequest {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) throw new SimRequestError('the simulation request must be an object');
  const o = x as Record<string, unknown>;
  const known = new Set(['uri', 'model', 'models', 'seed', 'kernel', 'arch', 'trace', 'fleet', 'prevalence', 'threads', 'runs']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw new SimRequestError(`unknown field "${k}" in the simulation request`);
  const r: SimRequest = {};
  if (o.model !== undefined) {
    if (typeof o.model !== 'string' || o.model.length === 0 || o.model.length > 4096) throw new SimRequestError('"model" must be a profile name or a model file path');
    r.model = o.model;
  }
  if (o.models !== undefined) {
    const list = typeof o.models === 'string' ? o.models : Array.isArray(o.models) && o.models.every((m) => typeof m === 'string') ? o.models.join(',') : undefined;
    if (list === undefined) throw new SimRequestError('"models" must be a list of model names');
    r.models = modelsFrom(list);
  }
  if (o.seed !== undefined) {
    if (typeof o.seed !== 'number' || !Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) throw new SimRequestError('"seed" must be a whole number from 0 to 4294967295');
    r.seed = o.seed;
  }
  if (o.kernel !== undefined) {
    if (typeof o.kernel !== 'string' || !(KERNEL_PROFILES as string[]).includes(o.kernel)) throw new SimRequestError(`"kernel" must be one of ${KERNEL_PROFILES.join(', ')}`);
    r.kernel = o.kernel as KernelProfile;
  }
  if (o.arch !== undefined) {
    if (typeof o.arch !== 'string' || !Object.hasOwn(ARCH_PROFILES, o.arch)) throw new SimRequestError(`"arch" must be one of ${Object.keys(ARCH_PROFILES).join(', ')}`);
    r.arch = o.arch;
  }
  if (o.trace !== undefined) {
    if (typeof o.trace !== 'boolean') throw new SimRequestError('"trace" must be true or false');
    r.trace = o.trace;
  }
  if (o.fleet !== undefined) {
    if (typeof o.fleet !== 'number' || !Number.isInteger(o.fleet) || o.fleet < 1 || o.fleet > 10_000_000) throw new SimRequestError('"fleet" must be a whole number of machines from 1');
    r.fleet = o.fleet;
  }
  if (o.prevalence !== undefined && o.prevalence !== null) {
    if (typeof o.prevalence !== 'number' || !(o.prevalence >= 0 && o.prevalence <= 1)) throw new SimRequestError('"prevalence" must be a share from 0 to 1');
    r.prevalence = o.prevalence;
  }
  if (o.threads !== undefined) {
    if (typeof o.threads !== 'number' || !Number.isInteger(o.threads) || o.threads < 0 || o.threads > 256) throw new SimRequestError('"threads" must be a whole number from 0 to 256');
    r.threads = o.threads;
  }
  if (o.runs !== undefined) {
    if (typeof o.runs !== 'number' || !Number.isInteger(o.runs) || o.runs < 1 || o.runs > MAX_RUNS) throw new SimRequestError(`"runs" must be a whole number from 1 to ${MAX_RUNS}`);
    r.runs = o.runs;
  }
  return r;
}

/** Model ids from "hybrid,kpatch" or "all"; unknown names are an error. */
export function modelsFrom(list: string): ModelId[] {
  const { models, unknown } = parseModelList(list);
  if (unknown.length) throw new SimRequestError(`unknown model ${unknown.map((u) => `"${u}"`).join(', ')}: use ${MODEL_IDS.join(', ')} or all`);
  if (models.length === 0) throw new SimRequestError('no consistency model named');
  return models;
}

/** Reads and validates a *.klpmodel.json file; errors come back positioned, one per line. */
export function loadModelFile(path: string): ModelFileSpec {
  let bytes: Buffer;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new SimRequestError(`cannot read ${path}: it is a directory`);
    if (st.size > MAX_MODEL_FILE_BYTES) throw new SimRequestError(`${path} is ${st.size} bytes; model files are limited to ${MAX_MODEL_FILE_BYTES} bytes`);
    bytes = readFileSync(path);
  } catch (e) {
    if (e instanceof SimRequestError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new SimRequestError(code === 'ENOENT' ? `cannot read ${path}: no such file` : `cannot read ${path}: ${code ?? String(e)}`);
  }
  const { model, errors } = parseModelFile(decodeBytes(bytes).text, path);
  if (errors.length || !model) throw new SimRequestError(formatModelFileErrors(path, errors).trimEnd());
  return model;
}

export interface PatchWorkload extends Workload {
  notes: string[];
}

/** The workload a patch analysis implies; an error when the patch changes no function. */
export function workloadOf(analysis: PatchAnalysis, name: string): PatchWorkload {
  if (analysis.files.length === 0) throw new SimRequestError(`${name}: no file changes found; is it a unified diff?`);
  const w = workloadFromAnalysis(analysis);
  if (w.patch.functions.length === 0) throw new SimRequestError(`${name}: the patch changes no function, so there is no transition to simulate${w.notes.length ? ` (${w.notes[0]})` : ''}`);
  return w;
}

/** The machine for a request: a model file on its own, or a profile / model file carrying the patch's workload. */
export function machineFor(workload: Workload | undefined, req: SimRequest, modelFile?: string): ModelSpec {
  const spec = baseMachine(workload, req, modelFile);
  if (req.arch === undefined) return spec;
  const arch = ARCH_PROFILES[req.arch];
  if (!arch) throw new SimRequestError(`unknown arch "${req.arch}": use one of ${Object.keys(ARCH_PROFILES).join(', ')}`);
  return { ...spec, arch };
}

function baseMachine(workload: Workload | undefined, req: SimRequest, modelFile?: string): ModelSpec {
  try {
    if (modelFile) {
      if (req.model) throw new SimRequestError('give either a model file or a model, not both');
      return composeModel(loadModelFile(modelFile), workload, req.kernel);
    }
    const m = req.model ?? 'idle-server';
    if (isProfileName(m)) return composeModel(m, workload, req.kernel);
    if (m.endsWith('.json')) return composeModel(loadModelFile(m), workload, req.kernel);
    throw new SimRequestError(`unknown model "${m}": use one of ${PROFILE_NAMES.join(', ')} or a .klpmodel.json file`);
  } catch (e) {
    if (e instanceof ComposeError) throw new SimRequestError(e.message);
    throw e;
  }
}

/** Captured machines for a fleet, each with the patch (a capture gets no invented workload). */
export function captureFleet(files: string[], workload: Workload | undefined, kernel?: KernelProfile): ModelSpec[] {
  if (files.length === 0) throw new SimRequestError('the fleet has no captures');
  return files.map((f) => {
    let model: ModelFileSpec;
    try {
      model = loadCapture(f);
    } catch (e) {
      if (e instanceof CaptureLoadError) throw new SimRequestError(e.message);
      throw e;
    }
    try {
      const spec = composeModel(model, workload, kernel);
      buildMachine(spec, 0); // a broken machine fails here, with its file's name, not in a worker
      return spec;
    } catch (e) {
      if (e instanceof ComposeError || e instanceof ModelError) throw new SimRequestError(`${f}: ${e.message}`);
      throw e;
    }
  });
}

export type SimOutcome = { kind: 'run'; spec: ModelSpec; result: SimResult; outcomes?: OutcomesResult } | { kind: 'fleet'; result: FleetResult };

/** Runs a request: one machine, or a fleet (drawn from the built-in mix unless a model is named). */
export async function runRequest(workload: Workload | undefined, req: SimRequest, modelFile?: string, onProgress?: (done: number, total: number) => void, signal?: AbortSignal, inWorker = false): Promise<SimOutcome> {
  try {
    return await runChecked(workload, req, modelFile, onProgress, signal, inWorker);
  } catch (e) {
    if (e instanceof ModelError) throw new SimRequestError(e.message);
    throw e;
  }
}

async function runChecked(workload: Workload | undefined, req: SimRequest, modelFile?: string, onProgress?: (done: number, total: number) => void, signal?: AbortSignal, inWorker = false): Promise<SimOutcome> {
  const models = req.models ?? [...MODEL_IDS];
  if (req.fleetFrom) {
    const specs = captureFleet(req.fleetFrom, workload, req.kernel);
    const result = await runFleet({ kind: 'captures', specs }, { machines: specs.length, seed: req.seed ?? 1, models, ...(req.threads !== undefined ? { threads: req.threads } : {}), ...(onProgress ? { onProgress } : {}), ...(signal ? { signal } : {}) });
    return { kind: 'fleet', result };
  }
  if (req.fleet !== undefined) {
    const src =
      modelFile || req.model || req.arch || !workload
        ? { kind: 'model' as const, spec: machineFor(workload, req, modelFile) }
        : { kind: 'mix' as const, patch: workload.patch, tasks: workload.tasks, ...(req.kernel ? { kernel: req.kernel } : {}), ...(req.prevalence !== undefined ? { prevalence: req.prevalence } : {}) };
    if (src.kind === 'model') buildMachine(src.spec, 0); // a broken machine fails here, with its message, not in a worker
    const result = await runFleet(src, { machines: req.fleet, seed: req.seed ?? 1, models, ...(req.threads !== undefined ? { threads: req.threads } : {}), ...(onProgress ? { onProgress } : {}), ...(signal ? { signal } : {}) });
    return { kind: 'fleet', result };
  }
  const spec = machineFor(workload, req, modelFile);
  if (inWorker) {
    buildMachine(spec, 0); // a broken machine fails here, with its message, not in the worker
    const result = await simulateInWorker(spec, { ...(req.seed !== undefined ? { seed: req.seed } : {}), models, trace: !!req.trace, ...(signal ? { signal } : {}) });
    return { kind: 'run', spec, result };
  }
  const result = simulate(spec, { ...(req.seed !== undefined ? { seed: req.seed } : {}), models, trace: !!req.trace });
  if (req.runs !== undefined && req.runs > 1) return { kind: 'run', spec, result, outcomes: outcomesOver(spec, { runs: req.runs, firstSeed: result.seed, models }) };
  return { kind: 'run', spec, result };
}
