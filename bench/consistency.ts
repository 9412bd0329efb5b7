/**
 * Agreement between the two ways of reading a patch: from the hunks alone and
 * from a kernel tree. For files where every hunk applies, the tree analysis is
 * the reference; the hunks-only analysis should find the same entities.
 *
 *   node out/bench/consistency.js PATCH TREE_DIR [--verbose]
 */
import { readFileSync } from 'node:fs';
import { analyzePatch } from '../server/src/core/analysis';
import { KernelTree } from '../server/src/core/tree/kernelTree';

function fmt(file: string, e: { kind: string; name: string; change: string; aspects: string[] }): string {
  return `${file} | ${e.kind} ${e.name} ${e.change}(${e.aspects.join(',')})`;
}

void (async () => {
  const [patchPath, treeDir] = process.argv.slice(2);
  const verbose = process.argv.includes('--verbose');
  const text = readFileSync(patchPath, 'utf8');
  const tree = KernelTree.open(treeDir).tree!;
  const hunks = await analyzePatch(text, {});
  const withTree = await analyzePatch(text, { tree });
  const usable = new Set(withTree.files.filter((f) => f.confidence === 'tree' && f.applications.every((a) => a.status === 'exact' || a.status === 'offset')).map((f) => f.path));
  const ref = new Set(withTree.files.filter((f) => usable.has(f.path)).flatMap((f) => f.entities.map((e) => fmt(f.path, e))));
  const got = new Set(hunks.files.filter((f) => usable.has(f.path)).flatMap((f) => f.entities.map((e) => fmt(f.path, e))));
  const common = [...ref].filter((x) => got.has(x)).length;
  const recall = ref.size ? common / ref.size : 1;
  const precision = got.size ? common / got.size : 1;
  console.log(`files compared ${usable.size}; tree entities ${ref.size}, hunks-only entities ${got.size}, agreeing ${common}; recall ${(recall * 100).toFixed(1)}%, precision ${(precision * 100).toFixed(1)}%`);
  if (verbose) {
    for (const x of ref) if (!got.has(x)) console.log('  missed by hunks:', x);
    for (const x of got) if (!ref.has(x)) console.log('  only in hunks:  ', x);
  }
  hunks.dispose();
  withTree.dispose();
})();
