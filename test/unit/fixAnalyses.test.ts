/** The analyses code-action edits share: one per (document version, file), a few kept, freed when dropped or pushed out. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PatchAnalysis } from '../../server/src/core/analysis';
import { FixAnalyses } from '../../server/src/lsp/fixAnalyses';

test('fix analyses: reused for the same version and file, rebuilt for another, freed when dropped or past capacity', async () => {
  const made: string[] = [];
  const freed: string[] = [];
  const make = (name: string) => () => {
    made.push(name);
    return Promise.resolve({ dispose: () => freed.push(name) } as unknown as PatchAnalysis);
  };
  const c = new FixAnalyses(2);
  const a1 = await c.get('file:///a.patch', 3, 'drivers/a.c', make('a3'));
  assert.equal(await c.get('file:///a.patch', 3, 'drivers/a.c', make('again')), a1, 'same version and file: the same analysis');
  await c.get('file:///a.patch', 3, 'drivers/b.c', make('a3b'));
  await c.get('file:///b.patch', 1, undefined, make('b1'));
  await Promise.resolve();
  assert.deepEqual(made, ['a3', 'a3b', 'b1']);
  assert.deepEqual(freed, ['a3'], 'the least recently used is freed past the capacity');
  c.drop('file:///a.patch');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(freed, ['a3', 'a3b'], 'an edit of a.patch frees its entries only');
  await c.get('file:///b.patch', 1, undefined, make('b1 again'));
  assert.deepEqual(made, ['a3', 'a3b', 'b1'], 'b.patch kept');
});
