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
import { PROPERTIES } from '../props/properties';

before(async () => {
  await initParser();
});

for (const p of PROPERTIES) {
  test(`property: ${p.name} (${p.runs} cases, and the kept failures)`, () => {
    const kept = join(FIXTURES, 'fuzz', p.name);
    if (existsSync(kept)) for (const f of readdirSync(kept).sort()) assert.doesNotThrow(() => p.check(p.load(readFileSync(join(kept, f), 'utf8'))), `kept input ${p.name}/${f}`);
    fc.assert(fc.property(p.arb, (x) => p.check(x)), { numRuns: p.runs, seed: 20261203 });
  });
}
