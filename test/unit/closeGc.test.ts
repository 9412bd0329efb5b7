/** The server's collection after closes: one per batch of closes, none before a close. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CloseCollector } from '../../server/src/lsp/closeGc';

test('close collection: closes handled together share one GC, a later close gets its own, dispose cancels', async () => {
  let runs = 0;
  const c = new CloseCollector(() => runs++);
  c.freed();
  c.freed();
  c.freed();
  assert.equal(runs, 0, 'not inside the close handler itself');
  await sleep(5);
  assert.equal(runs, 1, 'three closes in one batch: one collection');
  c.freed();
  await sleep(5);
  assert.equal(runs, 2);
  c.freed();
  c.dispose();
  await sleep(5);
  assert.equal(runs, 2, 'disposed before it ran');
});
