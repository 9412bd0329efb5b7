/**
 * Machines that cannot run give a message naming the task, never a hang:
 * programs that take no time, fork bombs, broken timing, odd durations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simulate } from '../../server/src/core/sim/simulate';
import { ModelError } from '../../server/src/core/sim/world';
import { runRequest, SimRequestError } from '../../server/src/core/sim/session';
import { machine, background } from '../sim/scenarios';

test('a program that takes no time is refused with the task named', () => {
  const spec = machine({ tasks: [...background(), { name: 'spinner', kind: 'kthread', program: [{ kernel: ['kthread', 'spin'], ms: 0 }] }] });
  assert.throws(() => simulate(spec, { models: ['hybrid'] }), (e: Error) => e instanceof ModelError && /task spinner: its program takes no time/.test(e.message));
});

test('the session turns a broken machine into a request error (the CLI exits 2 with it)', async () => {
  const broken = machine({ tasks: [{ name: 'empty', kind: 'user', program: [] }] });
  await assert.rejects(runRequest({ patch: broken.patch, tasks: broken.tasks }, { model: 'idle-server' }), (e: Error) => e instanceof SimRequestError && /task empty: its program is empty/.test(e.message));
  await assert.rejects(runRequest(undefined, {}), (e: Error) => e instanceof SimRequestError && /needs a patch/.test(e.message));
});

test('a fork bomb is bounded: the machine stops forking at its task limit and says so', () => {
  const spec = machine({
    durationMs: 5000,
    tasks: [...background(), { name: 'bomb', kind: 'user', cpu: 1, phase: 'start', program: [{ user: 0.004 }, { fork: { program: [{ user: 1000 }, { exit: true }] } }] }],
  });
  const t = Date.now();
  const r = simulate(spec, { models: ['hybrid'] }).models[0];
  assert.ok(Date.now() - t < 60_000);
  assert.ok(r.completed);
  assert.ok(r.notes!.some((n) => /task limit/.test(n)), JSON.stringify(r.notes));
});

test('timing that would never advance is refused', () => {
  const spec = machine({ tasks: background(), timing: { retryMs: 0 } });
  assert.throws(() => simulate(spec, { models: ['hybrid'] }), /timing\.retryMs must be a positive number/);
  const spec2 = machine({ tasks: background(), timing: { kpatchAttempts: 1e9, kpatchRetryMs: 0 } });
  assert.throws(() => simulate(spec2, { models: ['kpatch'] }), /timing\.kpatchAttempts/);
});

test('negative or NaN durations from a hand-built spec count as zero, time never runs backwards', () => {
  const spec = machine({ tasks: [...background(), { name: 'odd', kind: 'user', cpu: 2, program: [{ user: { uniform: [-5, 5] } }, { kernel: ['entry_SYSCALL_64', 'f'], ms: Number.NaN }, { kernel: ['entry_SYSCALL_64', 'f'], ms: -3 }, { user: 1 }] }] });
  const r = simulate(spec, { models: ['hybrid', 'kpatch', 'null'] });
  for (const m of r.models) assert.ok(m.completed, m.name);
});

test('the fleet pool: one worker\'s error stops the others at once, and the abort listener is removed however the run ends', async () => {
  const { runFleet } = await import('../../server/src/core/sim/fleetPool');
  const { CancelledError } = await import('../../server/src/core/cancel');
  const getEventListeners = (await import('node:events')).EventEmitter.getEventListeners;
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  // A worker that fails its first chunk and never answers any other: the pool must not wait for those.
  const file = join(mkdtempSync(join(tmpdir(), 'klp-pool-')), 'worker.js');
  writeFileSync(file, "const { parentPort } = require('node:worker_threads');\nparentPort.on('message', (m) => { if (m && m.from === 0) parentPort.postMessage({ from: 0, error: 'machine 0 is broken' }); });\n");
  const src = { kind: 'model' as const, spec: machine({ kernel: '6.1', cpus: 2, tasks: background() }) };
  const ac = new AbortController();
  const t = Date.now();
  await assert.rejects(runFleet(src, { machines: 400, seed: 1, models: ['hybrid'], threads: 2, workerFile: file, signal: ac.signal }), /fleet machine 0: machine 0 is broken/);
  assert.ok(Date.now() - t < 10_000, 'the silent worker was terminated, not waited for');
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
  // A cancelled run rejects with CancelledError and leaves no listener either.
  const ac2 = new AbortController();
  const run = runFleet(src, { machines: 400, seed: 1, models: ['hybrid'], threads: 2, workerFile: file.replace('worker.js', 'silent.js'), signal: ac2.signal });
  writeFileSync(file.replace('worker.js', 'silent.js'), "require('node:worker_threads').parentPort.on('message', () => {});\n");
  setTimeout(() => ac2.abort(), 100);
  await assert.rejects(run, CancelledError);
  assert.equal(getEventListeners(ac2.signal, 'abort').length, 0);
  // A run that completes removes it too.
  const ac3 = new AbortController();
  const ok = await runFleet(src, { machines: 60, seed: 1, models: ['hybrid'], threads: 0, signal: ac3.signal });
  assert.equal(ok.machines, 60);
  assert.equal(getEventListeners(ac3.signal, 'abort').length, 0);
});
