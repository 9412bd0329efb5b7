/**
 * `klp-lens capture`, `klp-lens precheck` and `simulate --fleet DIR` end to
 * end, on the real snapshot of a Debian 6.1 guest (test/fixtures/capture).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { FIXTURES, ROOT } from '../helpers';
import type { FleetResult } from '../../server/src/core/sim/fleet';

const CLI = join(ROOT, 'out', 'cli.js');
const RAW = join(FIXTURES, 'capture', 'debian-6.1-qemu.raw');
const PATCH = join(FIXTURES, 'capture', 'pipe-read.patch');

function run(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, ...(input !== undefined ? { input } : {}) });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The snapshot without the `sleep 1000 | cat` pipeline: nothing sleeps in pipe_read there. */
function withoutCat(raw: string): string {
  return raw.replace(/^task (\d+) \1\nstat \1 \(cat\)[^\n]*\n(k [^\n]*\n)*/gm, '');
}

test('capture --from converts a raw snapshot into a model file and says what it could not see', () => {
  const dir = mkdtempSync(join(tmpdir(), 'klp-capture-'));
  const out = join(dir, 'guest.klpmodel.json');
  const r = run(['capture', '--from', RAW, '--out', out]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /guest\.klpmodel\.json: \d+ tasks of machine \(6\.1\.0-57-amd64, 6\.1 model, x86_64\), 3 samples/);
  const m = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(m.capture.release, '6.1.0-57-amd64');
  assert.ok(m.tasks.some((t: { name: string }) => / cat$/.test(t.name)));
  // The model file simulates on its own once a patch brings the functions.
  const s = run(['simulate', PATCH, '--model', out, '--models', 'hybrid', '--format', 'json', '--no-tree']);
  assert.equal(s.code, 0, s.err);
  const h = JSON.parse(s.out).models[0];
  assert.equal(h.completed, true);
  assert.ok(h.heldBy.some((x: { task: string; mechanism: string }) => / cat$/.test(x.task) && x.mechanism === 'EXIT_TO_USER'));
});

test('capture --print-script prints the POSIX snapshot script', () => {
  const r = run(['capture', '--print-script']);
  assert.equal(r.code, 0);
  assert.match(r.out, /^#!\/bin\/sh\n# klp-lens capture/);
  assert.match(r.out, /\/proc\/\[0-9\]\*\/task\/\[0-9\]\*/);
});

test('precheck names the task that would hold the transition, why, and when it moves; exit 0 because it completes by itself', () => {
  const r = run(['precheck', PATCH, '--capture', RAW, '--no-tree']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /hybrid model \(kernel profile 6\.1\): the transition would complete, after fake signals, 1[56]\.\d s after enable/);
  assert.match(r.out, /^ {4}pid 91 cat asleep interruptibly in pipe_read: the fake signal at ~15\.\d s moves it$/m);
  const j = JSON.parse(run(['precheck', PATCH, '--capture', RAW, '--no-tree', '--format', 'json']).out);
  assert.equal(j.verdict, 'after-signals');
  assert.deepEqual(j.functions, ['pipe_read']);
});

test('precheck exits 1 when the transition would not complete by itself, and 2 on a truncated capture, with its line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'klp-precheck-'));
  const worker = join(dir, 'worker.patch');
  writeFileSync(worker, readFileSync(PATCH, 'utf8').replace(/fs\/pipe\.c/g, 'kernel/workqueue.c').replace('pipe_read(struct kiocb *iocb, struct iov_iter *to)', 'worker_thread(void *__worker)'));
  const r = run(['precheck', worker, '--capture', RAW, '--no-tree']);
  assert.equal(r.code, 1, r.out + r.err);
  assert.match(r.out, /would NOT complete by itself/);
  assert.match(r.out, /kworker\/[^ ]+ asleep \w+ in worker_thread: holds it for the whole 119\.9 s modeled: needs force/);
  const cut = join(dir, 'cut.raw');
  const raw = readFileSync(RAW, 'utf8');
  writeFileSync(cut, raw.slice(0, raw.indexOf('sample 2')));
  const bad = run(['precheck', PATCH, '--capture', cut, '--no-tree']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /^klp-lens: .*cut\.raw:\d+: the capture is truncated \(no "end" line after 1 sample\): capture again\n$/);
});

test('simulate --fleet DIR draws one machine per capture: carriers and completion times differ between them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'klp-fleet-'));
  const raw = readFileSync(RAW, 'utf8');
  writeFileSync(join(dir, 'a.raw'), raw);
  writeFileSync(join(dir, 'b.raw'), withoutCat(raw));
  const m = run(['capture', '--from', join(dir, 'b.raw')]);
  writeFileSync(join(dir, 'c.klpmodel.json'), m.out);
  writeFileSync(join(dir, 'notes.txt'), 'not a capture');
  const r = run(['simulate', PATCH, '--fleet', dir, '--models', 'hybrid', '--threads', '0', '--format', 'json', '--no-tree']);
  assert.equal(r.code, 0, r.err);
  const f = JSON.parse(r.out).fleet as FleetResult;
  assert.equal(f.machines, 3);
  assert.equal(f.carriers, 1);
  assert.deepEqual(f.mix, [{ profile: 'captured (kernel 6.1)', machines: 3 }]);
  const h = f.models[0];
  assert.ok(h.p50Ms! <= 1750, String(h.p50Ms));
  assert.ok(h.maxMs! > 15_000, String(h.maxMs));
  const glob = run(['simulate', PATCH, '--fleet', join(dir, '*.raw'), '--models', 'hybrid', '--threads', '0', '--no-tree']);
  assert.equal(glob.code, 0, glob.err);
  assert.match(glob.out, /^fleet of 2 machines/);
  const none = run(['simulate', PATCH, '--fleet', join(dir, 'nothing-*.raw'), '--no-tree']);
  assert.equal(none.code, 2);
  assert.match(none.err, /no captures there/);
});

test('capture as a normal user says it needs root, and why', { skip: process.getuid?.() !== 0 || spawnSync('setpriv', ['--version']).error !== undefined }, () => {
  // A copy the unprivileged user can read (a clone under a private temporary folder is not).
  const dir = mkdtempSync(join(tmpdir(), 'klp-nobody-'));
  chmodSync(dir, 0o755);
  for (const f of ['cli.js', 'klp-lens.js']) copyFileSync(join(dirname(CLI), f), join(dir, f)); // the entry and the bundle it loads
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, join(dir, 'cli.js'), 'capture'], { encoding: 'utf8', cwd: '/' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^klp-lens: must run as root: the kernel stacks in \/proc\/PID\/stack are readable by root only \(running as uid 65534\); run it with sudo\n$/);
});
