/**
 * Seeded mutations of every fixture patch (lines dropped, duplicated, swapped,
 * truncated, bytes garbled, CRLF mixed in) must never make the analysis throw,
 * with or without a tree, no rule may crash (KLP012), and every finding and
 * entity range, start and end, must lie inside the document.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzePatch } from '../../server/src/core/analysis';
import { FIXTURES, fixtureTree } from '../helpers';
import { rangeProblem } from '../props/properties';

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function mutate(text: string, rand: () => number): string {
  const lines = text.split('\n');
  const pick = () => Math.floor(rand() * lines.length);
  switch (Math.floor(rand() * 7)) {
    case 0:
      lines.splice(pick(), 1 + Math.floor(rand() * 3));
      break;
    case 1: {
      const k = pick();
      lines.splice(k, 0, lines[k]);
      break;
    }
    case 2: {
      const a = pick();
      const b = pick();
      [lines[a], lines[b]] = [lines[b], lines[a]];
      break;
    }
    case 3:
      return text.slice(0, Math.floor(rand() * text.length));
    case 4: {
      const k = pick();
      const l = lines[k] ?? '';
      const at = Math.floor(rand() * (l.length + 1));
      lines[k] = l.slice(0, at) + String.fromCharCode(Math.floor(rand() * 0x2fff)) + l.slice(at + 1);
      break;
    }
    case 5:
      return lines.map((l) => (rand() < 0.3 ? l + '\r' : l)).join('\n');
    default: {
      const k = pick();
      lines[k] = (lines[k] ?? '').replace(/\d+/, String(Math.floor(rand() * 5000)));
    }
  }
  return lines.join('\n');
}

test('mutated patches never make the analysis throw; ranges stay in the document', async () => {
  const rand = rng(20261128);
  const tree = fixtureTree();
  let runs = 0;
  for (const name of readdirSync(join(FIXTURES, 'patches'))) {
    const base = readFileSync(join(FIXTURES, 'patches', name), 'utf8');
    for (let k = 0; k < 40; k++) {
      let text = base;
      for (let m = 0; m < 1 + Math.floor(rand() * 3); m++) text = mutate(text, rand);
      for (const t of [undefined, tree]) {
        const a = await analyzePatch(text, { tree: t });
        runs++;
        for (const f of a.findings) {
          assert.notEqual(f.code, 'KLP012', `${name}: a rule crashed: ${f.message}`);
          assert.equal(rangeProblem(f.range, a.set.lines), undefined, `${name}: ${f.code} ${JSON.stringify(f.range)}`);
          assert.ok(f.message.length > 0);
        }
        for (const e of a.files.flatMap((x) => x.entities)) assert.equal(rangeProblem(e.range, a.set.lines), undefined, `${name}: entity ${e.name} ${JSON.stringify(e.range)}`);
        a.dispose();
      }
    }
  }
  assert.ok(runs >= 400);
});
