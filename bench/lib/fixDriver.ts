/**
 * The fix driver (`klp-lens fix --apply all`) on real fixes: it applies one fix, re-analyses, and
 * goes on until nothing is left to fix, so its cost is the analyses it runs. Per patch: the time of
 * the whole run over its steps (each fix applied, plus the analysis that finds nothing more, plus
 * the final one that lists what remains), against one analysis of the same patch.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzePatch } from '../../server/src/core/analysis';
import { FIXABLE_CODES } from '../../server/src/core/fixes';
import { fixPatch } from '../../server/src/core/fixes/driver';

export interface FixDriverBench {
  patches: number;
  applied: number;
  stepMedianMs: number;
  analysisMedianMs: number;
  totalMs: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** The corpus's original fixes (where the development corpus is next to the project), else the fixture patches. */
export function fixDriverPatches(root: string): string[] {
  const cases = join(root, '..', 'shared', 'corpus', 'anolis-kpatch-rewrite', 'cases');
  if (existsSync(cases)) return readdirSync(cases).sort().map((id) => join(cases, id, 'original.patch')).filter(existsSync);
  const dir = join(root, 'test', 'fixtures', 'patches');
  return readdirSync(dir).sort().map((n) => join(dir, n));
}

export async function fixDriverBench(files: string[]): Promise<FixDriverBench> {
  const steps: number[] = [];
  const single: number[] = [];
  let applied = 0;
  let total = 0;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const t0 = performance.now();
    const run = await fixPatch(text, FIXABLE_CODES);
    const ms = performance.now() - t0;
    total += ms;
    applied += run.applied.length;
    steps.push(ms / (run.applied.length + 2));
    const t1 = performance.now();
    (await analyzePatch(text, { keepSyntax: true })).dispose();
    single.push(performance.now() - t1);
  }
  return { patches: files.length, applied, stepMedianMs: median(steps), analysisMedianMs: median(single), totalMs: total };
}
