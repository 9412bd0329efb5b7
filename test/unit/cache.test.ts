import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { analyzePatch } from '../../server/src/core/analysis';
import { ParseCache } from '../../server/src/core/syntax/cache';
import { fixture, tempKernelTree, TREE_DIR, brief } from '../helpers';

test('the parse cache reuses a tree file between analyses and notices when it changes on disk', async () => {
  const demo = readFileSync(join(TREE_DIR, 'drivers/misc/lens_demo.c'), 'utf8');
  const tree = tempKernelTree({ 'drivers/misc/lens_demo.c': demo });
  const cache = new ParseCache(4);
  const text = fixture('body-struct-key.patch');
  const runs: string[][] = [];
  for (let k = 0; k < 3; k++) {
    const a = await analyzePatch(text, { tree, parseCache: cache });
    runs.push([...a.files.flatMap((f) => f.entities.map(brief)), ...a.findings.map((f) => `${f.code}@${f.range.start.line}`)]);
    a.dispose();
  }
  assert.equal(cache.size, 1);
  assert.deepEqual(runs[1], runs[0], 'a cached pre-image gives the same analysis');
  assert.deepEqual(runs[2], runs[0]);
  // the file changes on disk: a new parse (and the old one is kept until evicted)
  const path = join(tree.root, 'drivers/misc/lens_demo.c');
  writeFileSync(path, demo.replace('static int lens_verbose;', 'static int lens_verbose; /* debug */'));
  const later = new Date(Date.now() + 5000);
  utimesSync(path, later, later);
  const a = await analyzePatch(text, { tree, parseCache: cache });
  a.dispose();
  assert.equal(cache.size, 2);
  // eviction deletes trees; dispose deletes the rest without errors
  for (let k = 0; k < 6; k++) {
    writeFileSync(path, demo + `\n/* ${k} */\n`);
    utimesSync(path, new Date(Date.now() + 10000 + k * 1000), new Date(Date.now() + 10000 + k * 1000));
    (await analyzePatch(text, { tree, parseCache: cache })).dispose();
  }
  assert.equal(cache.size, 4);
  cache.dispose();
  assert.equal(cache.size, 0);
});
