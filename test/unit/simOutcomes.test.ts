/**
 * One machine, many seeds (`klp-lens simulate --runs`): the ways its
 * transition comes out and how often. The machine is a capture of an idle
 * Debian 6.1 guest under qemu; the patch is the kernel tests' lens_answer.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { modelFromRaw } from '../../server/src/core/capture/load';
import { composeModel } from '../../server/src/core/sim/compose';
import type { ModelFileSpec } from '../../server/src/core/sim/modelFile';
import { outcomesOver, outcomesText } from '../../server/src/core/sim/outcomes';
import { FIXTURES, ROOT } from '../helpers';

const RAW = join(FIXTURES, 'capture', 'debian-6.1-qemu-idle.raw');
const CLI = join(ROOT, 'out', 'cli.js');
const machine = () => composeModel({ ...modelFromRaw(readFileSync(RAW, 'utf8'), 'raw'), patch: undefined } as unknown as ModelFileSpec, { patch: { functions: ['lens_answer'] }, tasks: [] });

test('outcomes over seeds: the idle CPU holds attempt 0 in most runs and passes its idle loop during it in a few', () => {
  const r = outcomesOver(machine(), { runs: 300, firstSeed: 7, models: ['hybrid', 'kpatch'] });
  assert.equal(r.runs, 300);
  const h = r.models.find((m) => m.name === 'hybrid')!;
  assert.equal(h.runs.length, 300);
  assert.deepEqual(h.runs.slice(0, 2).map((o) => o.seed), [7, 8]);
  assert.equal(h.classes.reduce((a, c) => a + c.runs, 0), 300);
  const [top, ...rest] = h.classes;
  assert.equal(top.outcome, 'complete');
  assert.equal(top.holder, 'swapper/1');
  assert.ok(top.completionMs! >= 750 && top.completionMs! <= 1750, String(top.completionMs));
  const atOnce = rest.find((c) => c.holder === null)!;
  assert.equal(atOnce.completionMs, 0);
  assert.ok(atOnce.share > 0.01 && atOnce.share < 0.2, String(atOnce.share));
  assert.ok(h.classes.every((c, i) => i === 0 || c.runs <= h.classes[i - 1].runs), 'most frequent first');
  const text = outcomesText(r).join('\n');
  assert.match(text, /over 300 runs \(seeds 7 to 306\):/);
  assert.match(text, /% {2}complete at 0 ms, no task held it past attempt 0 \(seed \d+\)/);
  assert.deepEqual(outcomesOver(machine(), { runs: 300, firstSeed: 7, models: ['hybrid'] }).models[0].classes, h.classes, 'same seeds, same outcomes');
});

test('klp-lens simulate --runs on a capture: JSON lists every run, text the shares; --runs with --fleet is refused', () => {
  const model = join(FIXTURES, 'capture', 'debian-6.1-qemu-idle.raw');
  const patch = join(ROOT, 'test', 'kernel', 'transitions', 'patches', 'answer.patch');
  const cap = spawnSync(process.execPath, [CLI, 'capture', '--from', model], { encoding: 'utf8' });
  assert.equal(cap.status, 0, cap.stderr);
  const file = join(tmpdir(), `klp-runs-${process.pid}.klpmodel.json`);
  writeFileSync(file, cap.stdout);
  const json = spawnSync(process.execPath, [CLI, 'simulate', patch, '--model', file, '--models', 'hybrid', '--runs', '50', '--format', 'json', '--no-tree'], { encoding: 'utf8' });
  assert.equal(json.status, 0, json.stderr);
  const r = JSON.parse(json.stdout);
  assert.equal(r.models[0].name, 'hybrid', 'the first seed result stays where it was');
  assert.equal(r.outcomes.models[0].runs.length, 50);
  const text = spawnSync(process.execPath, [CLI, 'simulate', patch, '--model', file, '--models', 'hybrid', '--runs', '50', '--no-tree'], { encoding: 'utf8' });
  assert.match(text.stdout, /over 50 runs \(seeds 1 to 50\):\n {2}hybrid:\n +\d+\.\d% {2}complete at/);
  const both = spawnSync(process.execPath, [CLI, 'simulate', patch, '--model', file, '--runs', '5', '--fleet', '3', '--no-tree'], { encoding: 'utf8' });
  assert.equal(both.status, 2);
  assert.match(both.stderr, /--runs simulates one machine with many seeds; --fleet already gives each machine its own seed/);
  rmSync(file, { force: true });
});
