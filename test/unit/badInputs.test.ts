/**
 * Every bad input of docs/reliability.md through the real CLI: a clear,
 * positioned answer, the documented exit code, and an answer at all (no hang:
 * each run has a bound). Time and memory are measured by npm run bench.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BAD_INPUTS } from '../badinputs/cases';
import { runBadInput } from '../badinputs/run';
import { ROOT } from '../helpers';

const CLI = join(ROOT, 'out', 'cli.js');
for (const c of BAD_INPUTS) {
  test(`bad input: ${c.input}`, () => {
    const dir = mkdtempSync(join(tmpdir(), `klp-bad-${c.id}-`));
    try {
      const r = runBadInput(c, CLI, dir);
      assert.equal(r.timedOut, false, `no answer within ${c.timeoutMs} ms`);
      const shown = r.out.slice(0, 3000);
      if (process.env.BAD_DEBUG) console.log(`=== ${c.id} exit ${r.code} ${r.ms.toFixed(0)} ms\n${r.out.slice(0, 1500)}`);
      assert.ok(c.exit.includes(r.code ?? -1), `exit ${r.code}, expected ${c.exit.join(' or ')}:\n${shown}`);
      for (const re of c.expect) assert.match(r.out, re, shown);
      assert.doesNotMatch(r.out, /internal error|RangeError|TypeError|Maximum call stack|FATAL ERROR|KLP012/, shown);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
