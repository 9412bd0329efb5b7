/**
 * `klp-lens simulate` end to end: the sleeping-function fixture under the
 * hybrid 6.1 x86_64 profile, kpatch.ko and Ksplice; determinism of the JSON;
 * model files; fleet mode; bad input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, FIXTURES } from '../helpers';
import type { SimResult } from '../../server/src/core/sim/types';

const CLI = join(ROOT, 'out', 'cli.js');
const SLEEPER = join(FIXTURES, 'patches', 'sim-sleeping-func.patch');

function run(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('the sleeping-function fixture: hybrid 6.1 x86_64 stalls on the parked task until the fake-signal round, kpatch.ko and Ksplice fail their retries', () => {
  const r = run(['simulate', SLEEPER, '--models', 'hybrid,kpatch,ksplice', '--seed', '5', '--format', 'json', '--trace']);
  assert.equal(r.code, 0, r.err);
  const res = JSON.parse(r.out) as SimResult;
  assert.equal(res.kernel, '6.1');
  assert.equal(res.arch, 'x86_64');
  const [h, kp, ks] = res.models;
  assert.equal(h.name, 'hybrid');
  assert.equal(h.completed, true);
  assert.ok(h.completionTimeMs! > 14_000 && h.completionTimeMs! <= 16_000, String(h.completionTimeMs));
  assert.ok(h.signalsSent >= 1);
  const held = h.heldBy!.find((x) => x.function === 'lens_fifo_read')!;
  assert.equal(held.reason, 'IN_USE');
  assert.equal(held.mechanism, 'EXIT_TO_USER');
  assert.equal(held.switchedAtMs, 15_000);
  // Before the signal the attempts find it in use; the trace shows the signal round.
  assert.ok(h.trace!.some((e) => e.event === 'signal' && e.timeMs === 15_000));
  assert.equal(kp.name, 'kpatch');
  assert.equal(kp.completed, false);
  assert.equal(kp.retries, 5);
  assert.match(kp.failed!, /activeness safety check failed for lens_fifo_read/);
  assert.equal(ks.retries, 5);
  assert.match(ks.failed!, /to-be-replaced code is busy/);
  for (const m of [kp, ks]) assert.ok(m.stalledTasks.some((s) => s.function === 'lens_fifo_read' && s.reason === 'IN_USE'));

  const again = run(['simulate', SLEEPER, '--models', 'hybrid,kpatch,ksplice', '--seed', '5', '--format', 'json', '--trace']);
  assert.equal(again.out, r.out, 'same seed, byte-identical JSON');
});

test('text output names the task, the function and the signal round', () => {
  const r = run(['simulate', SLEEPER, '--models', 'hybrid']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /held up by: .* IN_USE \(lens_fifo_read\) until 14\.9 s after enable, then switched by EXIT_TO_USER/);
  assert.match(r.out, /fake signal round 14\.9 s after enable/);
});

test('a .klpmodel.json model file is simulated; a broken one gives positioned errors and exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'klpsim-'));
  const good = join(dir, 'box.klpmodel.json');
  writeFileSync(
    good,
    JSON.stringify({
      name: 'box',
      kernel: '6.1',
      arch: { name: 'x86_64', reliableStacktrace: true, unwinder: 'orc' },
      cpus: 2,
      patch: { functions: ['ext4_file_write_iter'] },
      tasks: [{ name: 'writer', kind: 'user', program: [{ user: 5 }, { kernel: ['entry_SYSCALL_64', 'do_syscall_64', 'ksys_write', 'vfs_write', 'ext4_file_write_iter'], ms: 0.2 }] }],
    }),
  );
  const r = run(['simulate', good, '--models', 'hybrid', '--format', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.equal((JSON.parse(r.out) as SimResult).models[0].completed, true);
  const bad = join(dir, 'bad.klpmodel.json');
  writeFileSync(bad, '{\n  "name": "x",\n  "kernel": "6.1",\n  "arch": {"name": "x86_64", "reliableStacktrace": true, "unwinder": "orc"},\n  "cpus": 2,\n  "tasks": [{"name": "t", "kind": "user", "program": [{"sleeep": ["f"], "ms": 1}]}]\n}\n');
  const b = run(['simulate', bad]);
  assert.equal(b.code, 2);
  assert.match(b.err, /bad\.klpmodel\.json:6:\d+: error: .*sleeep/);
});

test('bad usage: an unknown model, a non-patch file', () => {
  const r = run(['simulate', SLEEPER, '--models', 'hybrid,ksplic']);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown model "ksplic"/);
  const dir = mkdtempSync(join(tmpdir(), 'klpsim-'));
  const junk = join(dir, 'junk.patch');
  writeFileSync(junk, Buffer.from([0, 1, 2, 3, 255, 254, 0, 0]));
  const j = run(['simulate', junk]);
  assert.equal(j.code, 2);
  assert.match(j.err, /no file changes|changes no function/);
});

test('fleet mode: distributions over machines, the same for any number of worker threads', () => {
  const a = run(['simulate', SLEEPER, '--fleet', '60', '--prevalence', '1', '--models', 'hybrid,kpatch', '--format', 'json', '--threads', '0']);
  assert.equal(a.code, 0, a.err);
  const b = run(['simulate', SLEEPER, '--fleet', '60', '--prevalence', '1', '--models', 'hybrid,kpatch', '--format', 'json', '--threads', '2']);
  assert.equal(b.out, a.out);
  const f = JSON.parse(a.out).fleet;
  assert.equal(f.machines, 60);
  const [h, kp] = f.models;
  assert.equal(h.name, 'hybrid');
  // Every machine carries the parked task: hybrid waits for the signal round, kpatch fails everywhere.
  assert.ok(h.p50Ms >= 14_000 && h.p50Ms <= 16_000, String(h.p50Ms));
  assert.ok(h.p99Ms >= h.p50Ms && h.maxMs >= h.p99Ms);
  assert.equal(kp.failed, 1);
  assert.equal(kp.completed, 0);
  assert.equal(f.carriers, 60);
});

test("fleet mode: by default only some machines carry the patch's workload, so the completion times form a distribution", () => {
  const r = run(['simulate', SLEEPER, '--fleet', '200', '--models', 'hybrid', '--format', 'json', '--threads', '0']);
  assert.equal(r.code, 0, r.err);
  const f = JSON.parse(r.out).fleet;
  assert.ok(f.carriers > 10 && f.carriers < 120, `carriers ${f.carriers}`);
  const h = f.models[0];
  // quiet machines finish within ~2 s, carriers wait for the fake signal round at ~15 s
  assert.ok(h.histogram[0] + h.histogram[1] + h.histogram[2] >= 200 - f.carriers - 5, JSON.stringify(h.histogram));
  assert.ok(h.histogram[4] >= f.carriers - 5, JSON.stringify(h.histogram));
  assert.ok(h.p50Ms < 2000 && h.p99Ms > 14_000, `${h.p50Ms} ${h.p99Ms}`);
  assert.deepEqual(h.byKernel.map((k: { kernel: string }) => k.kernel), ['6.1']);
  const none = JSON.parse(run(['simulate', SLEEPER, '--fleet', '20', '--prevalence', '0', '--models', 'hybrid', '--format', 'json', '--threads', '0']).out).fleet;
  assert.equal(none.carriers, 0);
  assert.ok(none.models[0].maxMs < 2000);
  const bad = run(['simulate', SLEEPER, '--fleet', '20', '--prevalence', '1.5']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--prevalence: a share from 0 to 1/);
});
