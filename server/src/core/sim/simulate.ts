/**
 * The simulator's entry point: one modeled machine, every requested
 * consistency model, the same seeded workload for each.
 */
import { buildMachine } from './world';
import type { ConsistencyModel } from './engine';
import { nullModel } from './models/null';
import { hybrid } from './models/hybrid';
import { kgraft } from './models/kgraft';
import { kpatch } from './models/kpatch';
import { ksplice } from './models/ksplice';
import { refcount } from './models/refcount';
import { directJump } from './models/directJump';
import { reboot } from './models/reboot';
import { MODEL_IDS, type ModelId, type ModelSpec, type SimResult } from './types';

export const MODELS: Record<ModelId, ConsistencyModel> = {
  null: nullModel,
  hybrid,
  kgraft,
  kpatch,
  ksplice,
  refcount,
  'direct-jump': directJump,
  reboot,
};

const ALIASES: Record<string, ModelId> = {
  'kpatch.ko': 'kpatch',
  livepatch: 'hybrid',
  upstream: 'hybrid',
  masami: 'refcount',
  kexec: 'reboot',
  direct: 'direct-jump',
  'null-model': 'null',
};

/** Model names from a comma-separated list ("hybrid,kpatch"); unknown names are reported. */
export function parseModelList(list: string): { models: ModelId[]; unknown: string[] } {
  const models: ModelId[] = [];
  const unknown: string[] = [];
  for (const raw of list.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)) {
    if (raw === 'all') {
      models.push(...MODEL_IDS);
      continue;
    }
    const id = (MODEL_IDS as readonly string[]).includes(raw) ? (raw as ModelId) : ALIASES[raw];
    if (id) {
      if (!models.includes(id)) models.push(id);
    } else unknown.push(raw);
  }
  return { models, unknown };
}

export interface SimulateOptions {
  seed?: number;
  models?: readonly ModelId[];
  trace?: boolean;
}

export interface SimulateStats {
  /** Segments walked over all models (the events simulated). */
  events: number;
}

/** Runs each model on a fresh instance of the machine (same seed, same workload). */
export function simulate(spec: ModelSpec, opts: SimulateOptions = {}, stats?: SimulateStats): SimResult {
  const seed = (opts.seed ?? spec.seed ?? 1) >>> 0;
  const ids = opts.models ?? MODEL_IDS;
  const models = ids.map((id) => {
    const m = buildMachine(spec, seed);
    return MODELS[id].run(m, { trace: opts.trace, stats });
  });
  return { model: spec.name, seed, kernel: spec.kernel, arch: spec.arch.name, enableAtMs: spec.enableAtMs ?? 100, models };
}
