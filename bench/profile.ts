/** Profiling helper: node --cpu-prof out/bench/profile.js [lines] [tree] */
import { analyzePatchSync } from '../server/src/core/analysis';
import { initParser } from '../server/src/core/syntax/parser';
import { KernelTree } from '../server/src/core/tree/kernelTree';
import { benchTree, makePatch } from './lib/gen';
import { join } from 'node:path';

void (async () => {
  await initParser();
  const bt = benchTree(join(__dirname, '..', '..', '.bench-cache'));
  const lines = +(process.argv[2] ?? 300);
  const tree = process.argv[3] === 'tree' ? KernelTree.open(bt.root).tree : undefined;
  const { text } = makePatch(bt, lines, 42);
  const n = lines > 1000 ? 5 : 300;
  const t0 = Date.now();
  for (let i = 0; i < n; i++) analyzePatchSync(text, { tree }).dispose();
  console.log(`${((Date.now() - t0) / n).toFixed(2)} ms per analysis`);
})();
