/**
 * `klp-lens capture` and precheck on a real snapshot: the Debian 6.1 kernel
 * under qemu (busybox, 2 CPUs), with `sleep 1000 | cat` running, taken by
 * capture.sh itself (test/fixtures/capture/debian-6.1-qemu.raw).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cpuList, frameName, parseCapture, parseStat } from '../../server/src/core/capture/parse';
import { captureToModel, FOREVER_MS, profileForRelease, programOf } from '../../server/src/core/capture/toModel';
import { CAPTURE_NOT_ROOT, CAPTURE_SCRIPT } from '../../server/src/core/capture/script';
import { modelFromRaw } from '../../server/src/core/capture/load';
import { precheck, PRECHECK_EXIT } from '../../server/src/core/sim/precheck';
import { parseModelFile } from '../../server/src/core/sim/modelFile';
import { FIXTURES } from '../helpers';

const RAW = readFileSync(join(FIXTURES, 'capture', 'debian-6.1-qemu.raw'), 'utf8');

test('the raw snapshot of a real 6.1 guest parses: kernel, config, CPUs, three samples with jiffies, stacks outermost first', () => {
  const { capture: c, errors } = parseCapture(RAW);
  assert.deepEqual(errors, []);
  assert.equal(c.release, '6.1.0-57-amd64');
  assert.equal(c.machine, 'x86_64');
  assert.equal(c.config.CONFIG_LIVEPATCH, 'y');
  assert.equal(c.config.CONFIG_HZ, '250');
  assert.deepEqual(c.cpusOnline, [0, 1]);
  assert.equal(c.samples.length, 3);
  assert.ok(c.samples.every((s) => typeof s.jiffies === 'number'));
  assert.ok(c.complete);
  const cat = c.samples[2].tasks.find((t) => t.comm === 'cat')!;
  assert.equal(cat.state, 'S');
  assert.equal(cat.kthread, false);
  assert.deepEqual(cat.stack.slice(-2), ['vfs_read', 'pipe_read']);
  assert.equal(cat.stack[0], 'entry_SYSCALL_64_after_hwframe');
  const kthreadd = c.samples[0].tasks.find((t) => t.pid === 2)!;
  assert.equal(kthreadd.kthread, true);
});

test('the model of the capture: 6.1 profile, ORC, 2 CPUs, jiffies at the last sample, no task of the capture itself', () => {
  const { capture } = parseCapture(RAW);
  const m = captureToModel(capture);
  assert.equal(m.kernel, '6.1');
  assert.equal(m.arch.unwinder, 'orc');
  assert.equal(m.cpus, 2);
  assert.deepEqual(m.jiffies, { hz: 250, atEnable: capture.samples[2].jiffies });
  const self = capture.self!;
  assert.ok(!m.tasks.some((t) => t.name.startsWith(`pid ${self} `)), 'the capture script is left out');
  assert.ok(capture.samples[0].tasks.some((t) => t.pid === self), 'the script saw itself');
  assert.ok(m.tasks.some((t) => t.name === 'pid 1 init' || t.name === 'pid 1 sh'), 'the shell that ran it is kept');
  const cat = m.tasks.find((t) => / cat$/.test(t.name))!;
  assert.equal(cat.kind, 'user');
  assert.deepEqual(cat.program, [{ sleep: ['entry_SYSCALL_64_after_hwframe', 'do_syscall_64', 'ksys_read', 'vfs_read', 'pipe_read'], ms: FOREVER_MS, state: 'interruptible' }]);
  assert.equal(m.capture.preemption, 'voluntary (dynamic)');
  assert.equal(m.capture.livepatchConfigured, true);
  // A model file that the model-file reader accepts as it is.
  const { errors } = parseModelFile(JSON.stringify(m), 'm.klpmodel.json');
  assert.deepEqual(errors, []);
});

test('precheck on the capture: the cat asleep in pipe_read holds the transition until the fake signal; the idle CPU explains attempt 0', () => {
  const r = precheck(modelFromRaw(RAW, 'raw'), { functions: ['pipe_read'] });
  assert.equal(r.verdict, 'after-signals');
  assert.equal(PRECHECK_EXIT[r.verdict], 0);
  assert.equal(r.model, 'hybrid');
  // Signals at attempt 15, completion at attempt 16: the first retry lands in (0.75, 1.75] s.
  assert.ok(r.signalsAtMs[0] > 14_750 && r.signalsAtMs[0] <= 15_750, String(r.signalsAtMs[0]));
  assert.ok(r.completionTimeMs! > 15_750 && r.completionTimeMs! <= 16_750, String(r.completionTimeMs));
  const cat = r.holders[0];
  assert.match(cat.why, /^pid \d+ cat asleep interruptibly in pipe_read: the fake signal at ~15\.\d s moves it$/);
  assert.equal(cat.mechanism, 'EXIT_TO_USER');
  assert.ok(r.holders.some((h) => h.kind === 'idle'));
});

test('precheck: a patch of a function no task is in completes at the first retry; one the kthreads sleep in needs force', () => {
  const model = modelFromRaw(RAW, 'raw');
  const quiet = precheck(model, { functions: ['tcp_sendmsg'] });
  assert.equal(quiet.verdict, 'ready');
  assert.ok(quiet.completionTimeMs! > 750 && quiet.completionTimeMs! <= 1750);
  const kthread = precheck(model, { functions: ['worker_thread'] });
  assert.equal(kthread.verdict, 'needs-force');
  assert.equal(PRECHECK_EXIT[kthread.verdict], 1);
  const w = kthread.holders.find((h) => / kworker\//.test(h.task))!;
  assert.match(w.why, /asleep (interruptibly|uninterruptibly) in worker_thread: holds it for the whole 119\.9 s modeled: needs force/);
});

test('a kernel without CONFIG_LIVEPATCH, or with a livepatch in transition, cannot load the patch', () => {
  const noLp = RAW.replace('config CONFIG_LIVEPATCH=y\n', '');
  assert.equal(precheck(modelFromRaw(noLp, 'raw'), { functions: ['pipe_read'] }).verdict, 'cannot-load');
  const busy = RAW.replace('self ', 'livepatch kpatch_old 1 1\nself ');
  const r = precheck(modelFromRaw(busy, 'raw'), { functions: ['pipe_read'] });
  assert.equal(r.verdict, 'cannot-load');
  assert.match(r.blockers[0], /kpatch_old is in transition/);
});

test('bad snapshots get positioned messages: truncated, not a capture, binary, a broken stat line; CRLF reads the same', () => {
  const cut = RAW.slice(0, RAW.indexOf('sample 3'));
  assert.match(parseCapture(cut).errors[0].message, /truncated \(no "end" line after 2 samples\)/);
  assert.equal(parseCapture('hello\n').errors[0].line, 1);
  assert.match(parseCapture('hello\n').errors[0].message, /not a klp-lens capture/);
  assert.match(parseCapture('klp-capture 1\n\0\0\x7f').errors[0].message, /binary/);
  const lines = RAW.split('\n');
  const i = lines.findIndex((l) => l.startsWith('stat '));
  lines[i] = 'stat garbage';
  const broken = parseCapture(lines.join('\n')).errors;
  assert.equal(broken[0].line, i + 1);
  assert.match(broken[0].message, /not a \/proc\/PID\/stat line/);
  assert.throws(() => modelFromRaw(cut, 'cut.raw'), /^Error: cut\.raw:\d+: the capture is truncated/);
  const crlf = parseCapture(RAW.replace(/\n/g, '\r\n'));
  assert.deepEqual(crlf.errors, []);
  assert.deepEqual(crlf.capture.samples[2].tasks.find((t) => t.comm === 'cat')!.stack, parseCapture(RAW).capture.samples[2].tasks.find((t) => t.comm === 'cat')!.stack);
});

test('the pieces: CPU lists, stat lines with spaces and parentheses in comm, frame names, release → profile', () => {
  assert.deepEqual(cpuList('0-2,5,7-8'), [0, 1, 2, 5, 7, 8]);
  assert.equal(cpuList('0-x'), undefined);
  const st = parseStat('812 (my (odd) cmd) S 1 812 812 0 -1 2097216 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 3 0 0');
  assert.equal(st?.comm, 'my (odd) cmd');
  assert.equal(st?.kthread, true);
  assert.equal(st?.cpu, 3);
  assert.equal(frameName('[<0>] jbd2_journal_commit_transaction+0x1e5/0x1a30 [jbd2]'), 'jbd2_journal_commit_transaction');
  assert.equal(profileForRelease('6.12.118+deb12-amd64'), '6.4');
  assert.equal(profileForRelease('5.10.0-30-amd64'), '5.1');
  assert.equal(profileForRelease('3.10.0'), undefined);
});

test('programs are drawn from the samples: the sleeps get the time seen, a kthread caught running between sleeps a short burst, starting where it was seen last', () => {
  const at = (state: string, stack: string[]) => ({ pid: 5, tid: 5, comm: 'w', state, ppid: 2, kthread: true, cpu: 0, stack });
  const p = programOf([at('S', ['kthread', 'a']), at('S', ['kthread', 'a']), at('S', ['kthread', 'a']), at('R', ['kthread', 'g', '__cond_resched'])], 100)!;
  assert.deepEqual(p, [
    { kernel: ['kthread', 'g'], ms: { exp: 1 }, condResched: 1 },
    { sleep: ['kthread', 'a'], ms: { exp: 300 }, state: 'interruptible' },
  ]);
});

test('the script runs under sh here and refuses to run as a normal user, with the reason', { skip: process.platform !== 'linux' || process.getuid?.() !== 0 }, () => {
  const r = spawnSync('sh', ['-s', '--', '1', '0.1'], { input: CAPTURE_SCRIPT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const { capture, errors } = parseCapture(r.stdout);
  assert.deepEqual(errors, []);
  assert.ok(capture.samples[0].tasks.length > 0);
  const nobody = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-s'], { input: CAPTURE_SCRIPT, encoding: 'utf8' });
  if (nobody.error) return;
  assert.equal(nobody.status, CAPTURE_NOT_ROOT);
  assert.match(nobody.stderr, /must run as root: the kernel stacks in \/proc\/PID\/stack are readable by root only/);
});

// A capture of an idle 6.1 guest (qemu TCG, 2 CPUs, the shell pinned to CPU 0) with each task's
// /proc/PID/schedstat: the tasks on CPU 1 were put on a CPU every ~8.7 ms between the two samples.
const IDLE_RAW = readFileSync(join(FIXTURES, 'capture', 'debian-6.1-qemu-idle.raw'), 'utf8');

test('each CPU idle-loop rate comes from the tasks schedstat counts between the samples; without them the model says so', () => {
  const { capture, errors } = parseCapture(IDLE_RAW);
  assert.deepEqual(errors, []);
  const rcu = capture.samples[1].tasks.find((t) => t.comm === 'rcu_preempt')!;
  assert.ok(rcu.timeslices! > capture.samples[0].tasks.find((t) => t.comm === 'rcu_preempt')!.timeslices!, 'rcu_preempt ran between the samples');
  const m = captureToModel(capture);
  assert.equal(m.idleLoopMs!.length, 2);
  assert.ok(m.idleLoopMs![1] > 5 && m.idleLoopMs![1] < 15, String(m.idleLoopMs));
  assert.ok(!m.capture.unseen.some((u) => /schedstat/.test(u)));
  const old = captureToModel(parseCapture(RAW).capture);
  assert.equal(old.idleLoopMs, undefined);
  assert.ok(old.capture.unseen.some((u) => /no \/proc\/PID\/schedstat .* every 250 ms/.test(u)));
  assert.deepEqual(parseModelFile(JSON.stringify(m), 'm.klpmodel.json').errors, []);
  const bad = parseCapture(IDLE_RAW.replace(/^schedstat .*$/m, 'schedstat lots of time'));
  assert.match(bad.errors[0].message, /"schedstat lots of time" is not run time, wait time and a count/);
});

test('precheck --runs: an idle CPU passing its idle loop while attempt 0 checks the other tasks completes it at once in a few seeds', () => {
  const r = precheck(modelFromRaw(IDLE_RAW, 'raw'), { functions: ['lens_answer'] }, 1, 200);
  assert.equal(r.outcomes!.reduce((a, o) => a + o.runs, 0), 200);
  const held = r.outcomes!.find((o) => o.holder === 'swapper/1')!;
  const atOnce = r.outcomes!.find((o) => o.holder === null)!;
  assert.equal(held.verdict, 'ready');
  assert.equal(atOnce.verdict, 'ready');
  assert.equal(atOnce.completionTimeMs, 0);
  // 56 tasks at 10 µs each before the idle tasks, one pass every ~8.7 ms: about 6% of the runs.
  assert.ok(atOnce.share > 0.01 && atOnce.share < 0.2, String(atOnce.share));
  assert.ok(held.share > 0.8, String(held.share));
  assert.equal(precheck(modelFromRaw(IDLE_RAW, 'raw'), { functions: ['lens_answer'] }, 1, 200).outcomes!.map((o) => o.runs).join(), r.outcomes!.map((o) => o.runs).join(), 'the same seeds give the same counts');
});
