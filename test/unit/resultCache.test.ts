/**
 * The server's caches (per-file results, per-function facts, parsed tree
 * files) must never change an answer: every analysis with warm caches equals
 * a cold analysis of the same text, and the caches are reused only for files
 * whose part of the patch did not change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzePatch, type AnalyzeOptions, type PatchAnalysis } from '../../server/src/core/analysis';
import { FileResultCache } from '../../server/src/core/resultCache';
import { ParseCache } from '../../server/src/core/syntax/cache';
import { KernelTree } from '../../server/src/core/tree/kernelTree';
import { fixture, fixtureTree, gitStyleDiff, tempKernelTree } from '../helpers';

/** Everything the front ends show: findings and entities, as plain JSON. */
function visible(a: PatchAnalysis): string {
  return JSON.stringify({
    findings: a.findings.map((f) => ({ code: f.code, severity: f.severity, message: f.message, range: f.range, file: f.file, related: f.related })),
    entities: a.files.map((f) => ({ path: f.path, entities: f.entities.map((e) => ({ key: e.key, change: e.change, aspects: e.aspects, range: e.range })) })),
    facts: a.files.map((f) => [...f.facts.post.values()].map((x) => ({ name: x.name, effects: x.effects, calls: x.calls.length }))),
  });
}

async function cold(text: string, opts: AnalyzeOptions = {}): Promise<string> {
  const a = await analyzePatch(text, opts);
  try {
    return visible(a);
  } finally {
    a.dispose();
  }
}

function editLine(text: string, needle: string, replacement: string): string {
  assert.ok(text.includes(needle), needle);
  return text.replace(needle, replacement);
}

test('hunks only: an edit in one file reuses the others; every answer equals a cold analysis', async () => {
  const resultCache = new FileResultCache();
  const warm = async (text: string) => {
    const a = await analyzePatch(text, { resultCache });
    a.dispose();
    return a;
  };
  const v1 = fixture('entities.patch');
  const a1 = await warm(v1);
  assert.equal(visible(a1), await cold(v1));
  assert.equal(resultCache.size, 3);

  // an edit inside kernel/lens_sys.c: the two files before it come from the cache (same objects)
  const v2 = editLine(v1, '+\t\tthis_cpu_dec(lens_pings);', '+\t\tthis_cpu_sub(lens_pings, 2);');
  const a2 = await warm(v2);
  assert.equal(visible(a2), await cold(v2));
  const byPath = (a: PatchAnalysis, p: string) => a.files.find((f) => f.path === p)!;
  assert.equal(byPath(a2, 'drivers/misc/lens_demo.c').entities, byPath(a1, 'drivers/misc/lens_demo.c').entities);
  assert.equal(byPath(a2, 'include/linux/lens.h').facts, byPath(a1, 'include/linux/lens.h').facts);
  assert.notEqual(byPath(a2, 'kernel/lens_sys.c').entities, byPath(a1, 'kernel/lens_sys.c').entities);

  // a line added in the first file moves every later line: later files are analysed again, at their new place
  const v3 = editLine(v2, '+#include <linux/ratelimit.h>\n', '+#include <linux/ratelimit.h>\n+#include <linux/printk.h>\n').replace('@@ -11,9 +11,10 @@', '@@ -11,9 +11,11 @@');
  const a3 = await warm(v3);
  assert.equal(visible(a3), await cold(v3));
  assert.notEqual(byPath(a3, 'kernel/lens_sys.c').entities, byPath(a2, 'kernel/lens_sys.c').entities);
  const sys3 = byPath(a3, 'kernel/lens_sys.c').entities.find((e) => e.name === 'lens_ping')!;
  const sys2 = byPath(a2, 'kernel/lens_sys.c').entities.find((e) => e.name === 'lens_ping')!;
  assert.equal(sys3.range.start.line, sys2.range.start.line + 1);

  // back to the first text: the same answer as at first (now from the cache)
  const a4 = await warm(v1);
  assert.equal(visible(a4), visible(a1));
});

test('an edited function gets new facts; the unchanged functions of the same file keep theirs', async () => {
  const resultCache = new FileResultCache();
  const base = fixture('entities.patch');
  const a1 = await analyzePatch(base, { resultCache });
  a1.dispose();
  const file = (a: PatchAnalysis) => a.files.find((f) => f.path === 'drivers/misc/lens_demo.c')!;
  const factsOf = (a: PatchAnalysis, name: string) => [...file(a).facts.post.values()].find((f) => f.name === name)!;
  // lens_put() is edited; lens_get() and lens_release() are not
  // a context line becomes a -/+ pair: the hunk's line counts stay as they are
  const fixed = editLine(base, ' \tst->reads--;\n }', '-\tst->reads--;\n+\tst->reads -= 2;\n }');
  const a2 = await analyzePatch(fixed, { resultCache });
  a2.dispose();
  assert.equal(visible(a2), await cold(fixed));
  assert.equal(factsOf(a2, 'lens_release'), factsOf(a1, 'lens_release'), 'unchanged function: facts reused');
  assert.notEqual(factsOf(a2, 'lens_put'), factsOf(a1, 'lens_put'));
  assert.deepEqual(
    factsOf(a2, 'lens_put').effects.map((e) => [e.resource, e.op, e.amount]),
    [['struct lens_stats::reads', 'dec', '2']],
  );
});

test('with a kernel tree: warm equals cold; a tree file changed on disk is read and analysed again', async () => {
  const path = 'kernel/lens_cache.c';
  const before = [
    '// SPDX-License-Identifier: GPL-2.0',
    '#include <linux/kernel.h>',
    '',
    'struct lens_cache {',
    '\tint users;',
    '};',
    '',
    'static int lens_cache_users;',
    '',
    'void lens_cache_get(struct lens_cache *c)',
    '{',
    '\tc->users++;',
    '}',
    '',
    'void lens_cache_put(struct lens_cache *c)',
    '{',
    '\tc->users--;',
    '}',
    '',
  ].join('\n');
  const tree: KernelTree = tempKernelTree({ [path]: before });
  const after = before.replace('\tc->users++;', '\tc->users += 2;');
  const patch = gitStyleDiff(path, before, after);
  const parseCache = new ParseCache();
  const resultCache = new FileResultCache();
  const opts = { tree, parseCache, resultCache };
  const a1 = await analyzePatch(patch, opts);
  a1.dispose();
  const c1 = await cold(patch, { tree });
  assert.equal(visible(a1), c1);
  assert.ok(a1.findings.some((f) => f.code === 'KLP140'), 'the paired counter change is found');
  const a2 = await analyzePatch(patch, opts);
  a2.dispose();
  assert.equal(a2.files[0].entities, a1.files[0].entities, 'unchanged patch and tree: reused');

  // the file changes on disk (a line above the hunk): the hunk now applies with an offset
  const abs = join(tree.root, path);
  writeFileSync(abs, readFileSync(abs, 'utf8').replace('#include <linux/kernel.h>\n', '#include <linux/kernel.h>\n#include <linux/slab.h>\n'));
  const fresh = KernelTree.open(tree.root).tree!;
  const a3 = await analyzePatch(patch, { ...opts, tree: fresh });
  a3.dispose();
  assert.equal(visible(a3), await cold(patch, { tree: KernelTree.open(tree.root).tree! }));
  assert.notEqual(a3.files[0].entities, a1.files[0].entities);
  assert.ok(a3.findings.some((f) => f.code === 'KLP003'), 'applied with an offset');
  parseCache.dispose();
});

test('the fixture tree: a warm re-analysis after each of several edits equals a cold one', async () => {
  const tree = fixtureTree();
  const parseCache = new ParseCache();
  const resultCache = new FileResultCache();
  let text = fixture('entities.patch');
  const edits: [string, string][] = [
    ['+\t\tst->writes++;', '+\t\tst->writes += 2;'],
    ['+\tLENS_PAUSED,', '+\tLENS_PAUSED = 7,'],
    ['+static int lens_verbose = 1;', '+static int lens_verbose = 2;'],
  ];
  try {
    for (const [from, to] of edits) {
      text = editLine(text, from, to);
      const a = await analyzePatch(text, { tree, parseCache, resultCache });
      a.dispose();
      assert.equal(visible(a), await cold(text, { tree }), `after ${to}`);
    }
  } finally {
    parseCache.dispose();
  }
});
