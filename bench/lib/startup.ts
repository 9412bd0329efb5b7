/**
 * Whole-process time of `klp-lens check --format json` on a small patch
 * against `checkpatch.pl --no-tree` on the same patch and a bare `node -e 0`,
 * interleaved in one run so the machine's state is the same for all three.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface Startup {
  runs: number;
  nodeMs: number;
  checkpatchMs?: number;
  klpMs: number;
  /** The same without the V8 code cache (KLP_LENS_NO_COMPILE_CACHE). */
  klpColdMs: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const t0 = process.hrtime.bigint();
  spawnSync(cmd, args, { stdio: 'ignore', env });
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export function startup(cli: string, patch: string, checkpatch: string, runs = 15): Startup {
  const has = existsSync(checkpatch);
  const node: number[] = [];
  const cp: number[] = [];
  const klp: number[] = [];
  const cold: number[] = [];
  timed(process.execPath, [cli, 'check', patch, '--format', 'json', '--no-tree']); // writes the code cache
  for (let i = 0; i < runs; i++) {
    node.push(timed(process.execPath, ['-e', '0']));
    if (has) cp.push(timed('perl', [checkpatch, '--no-tree', '-q', patch]));
    klp.push(timed(process.execPath, [cli, 'check', patch, '--format', 'json', '--no-tree']));
    cold.push(timed(process.execPath, [cli, 'check', patch, '--format', 'json', '--no-tree'], { ...process.env, KLP_LENS_NO_COMPILE_CACHE: '1' }));
  }
  return { runs, nodeMs: median(node), ...(has ? { checkpatchMs: median(cp) } : {}), klpMs: median(klp), klpColdMs: median(cold) };
}
