/**
 * Property tests (fast-check) over the parser, the analysis with every rule,
 * the model-file and capture readers, and the simulator's invariants: a
 * bounded number of cases per property here (seeded: the same cases every
 * run), the long campaign in `npm run fuzz`. Every input the campaign found
 * failing is kept in test/fixtures/fuzz/<property>/ and replayed first.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import fc from 'fast-check';
import { initParser } from '../../server/src/core/syntax/parser';
import { FIXTURES } from '../helpers';
import { ALL_PROPERTIES as PROPERTIES } from '../props/all';

before(async () => {
  await initParser();
});

for (const p of PROPERTIES) {
  test(`property: ${p.name} (${p.runs} cases, and the kept failures)`, async () => {
    const kept = join(FIXTURES, 'fuzz', p.name);
    if (existsSync(kept)) for (const f of readdirSync(kept).sort()) await assert.doesNotReject(async () => p.check(p.load(readFileSync(join(kept, f), 'utf8'))), `kept input ${p.name}/${f}`);
    const r = await fc.check(fc.asyncProperty(p.arb, async (x) => p.check(x)), { numRuns: p.runs, seed: 20261203 });
    if (r.failed) {
      const why = r.errorInstance instanceof Error ? r.errorInstance.message : String(r.errorInstance);
      assert.fail(`${p.name} failed after ${r.numRuns} cases: ${why}\ninput (shrunk): ${p.save(r.counterexample?.[0]).slice(0, 4000)}`);
    }
  });
}
