/** The kernels `scripts/kernel-setup.sh` prepared: images, headers and source trees, per ABI. */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface KernelEntry {
  /** "6.1", "6.12" */
  id: string;
  abi: string;
  package: string;
  version: string;
  vmlinuz: string;
  config: string;
  /** lib/modules/<abi> of the unpacked image. */
  modules: string;
  headers: string;
  source: string;
  sourceVersion: string;
  sourceDiffers: boolean;
}

export function kernelCache(): string {
  return process.env.KLP_LENS_KERNEL_CACHE ?? join(homedir(), '.cache', 'livepatch-lens', 'kernels');
}

const FIELDS: (keyof KernelEntry)[] = ['id', 'abi', 'vmlinuz', 'config', 'modules', 'headers', 'source'];

/** Read and check the manifest; every path it names must exist. */
export function readManifest(cache = kernelCache()): KernelEntry[] {
  const path = join(cache, 'manifest.json');
  if (!existsSync(path)) throw new Error(`${path} is missing: run bash scripts/kernel-setup.sh (npm run test:kernel does)`);
  const data = JSON.parse(readFileSync(path, 'utf8')) as { kernels?: KernelEntry[] };
  if (!Array.isArray(data.kernels) || data.kernels.length === 0) throw new Error(`${path}: no "kernels" list`);
  for (const k of data.kernels) {
    for (const f of FIELDS) if (typeof k[f] !== 'string' || !k[f]) throw new Error(`${path}: kernel ${k.id ?? '?'} has no "${f}"`);
    for (const f of ['vmlinuz', 'modules', 'headers', 'source'] as const) if (!existsSync(k[f])) throw new Error(`${path}: kernel ${k.id}: ${f} ${k[f]} does not exist`);
  }
  return data.kernels;
}
