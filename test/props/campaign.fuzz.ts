/**
 * `npm run fuzz`: a long fast-check campaign over the properties of
 * test/props/properties.ts (at least 100,000 cases in all; FUZZ_CASES sets
 * the total, FUZZ_SEED the seed). A failing input, shrunk, is written to
 * test/fixtures/fuzz/<property>/ and replayed by npm test from then on.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import fc from 'fast-check';
import { initParser } from '../../server/src/core/syntax/parser';
import { FIXTURES } from '../helpers';
import { ALL_PROPERTIES as PROPERTIES } from './all';

async function main(): Promise<void> {
  await initParser();
  const total = Number(process.env.FUZZ_CASES) || 100_000;
  const seed = Number(process.env.FUZZ_SEED) || Date.now() % 2 ** 31;
  const weight = PROPERTIES.reduce((a, p) => a + p.runs, 0);
  let failures = 0;
  let cases = 0;
  console.log(`fuzz: ${total.toLocaleString('en-US')} cases, seed ${seed}`);
  for (const p of PROPERTIES) {
    const runs = Math.max(100, Math.round((total * p.runs) / weight));
    const t = performance.now();
    const r = await fc.check(fc.asyncProperty(p.arb, async (x) => p.check(x)), { numRuns: runs, seed });
    cases += r.numRuns;
    const s = ((performance.now() - t) / 1000).toFixed(1);
    if (!r.failed) {
      console.log(`  ${p.name.padEnd(11)} ${r.numRuns.toLocaleString('en-US').padStart(8)} cases, no failure (${s} s)`);
      continue;
    }
    failures++;
    const input = r.counterexample?.[0];
    const text = p.save(input);
    const dir = join(FIXTURES, 'fuzz', p.name);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${createHash('sha1').update(text).digest('hex').slice(0, 12)}.txt`);
    writeFileSync(file, text);
    console.log(`  ${p.name.padEnd(11)} FAILED after ${r.numRuns} cases (${s} s): ${String(r.errorInstance instanceof Error ? r.errorInstance.message : r.errorInstance).split('\n')[0]}\n              kept as ${file}`);
  }
  console.log(`fuzz: ${cases.toLocaleString('en-US')} cases run, ${failures} propert${failures === 1 ? 'y' : 'ies'} failed`);
  process.exit(failures ? 1 : 0);
}

void main();
