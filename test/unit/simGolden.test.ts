/**
 * The twelve golden scenarios of the consistency-model research note
 * (section 10), each checked under every model it names, plus determinism.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simulate } from '../../server/src/core/sim/simulate';
import type { ModelId, ModelResult, ModelSpec, SimResult } from '../../server/src/core/sim/types';
import { SCENARIOS } from '../sim/scenarios';

function run(spec: ModelSpec, seed = 7, trace = false): Record<ModelId, ModelResult> {
  const r: SimResult = simulate(spec, { seed, trace });
  return Object.fromEntries(r.models.map((m) => [m.name, m])) as Record<ModelId, ModelResult>;
}
const done = (m: ModelResult) => m.completionTimeMs ?? NaN;
const classes = (m: ModelResult) => Object.entries(m.violationCounts).filter(([, n]) => n > 0).map(([c]) => c).sort();
const stopModels: ModelId[] = ['kpatch', 'ksplice', 'direct-jump'];

test('1: idle box: hybrid done within ~1 s, kGraft at its first check, one pause for stop-machine models, refcount after one grace period, null flips each function', () => {
  const r = run(SCENARIOS.idle());
  assert.ok(r.hybrid.completed && done(r.hybrid) <= 1000, `hybrid ${done(r.hybrid)}`);
  assert.equal(r.kgraft.completionTimeMs, 2000);
  for (const id of stopModels) {
    assert.equal(r[id].completed, true, id);
    assert.equal(r[id].pauses.count, 1, id);
    assert.ok(r[id].pauses.maxMs > 0 && r[id].pauses.maxMs < 5, `${id} pause ${r[id].pauses.maxMs}`);
  }
  assert.ok(r.refcount.completed && done(r.refcount) <= 128 * 20);
  assert.equal(r.null.completionTimeMs, 5);
  for (const id of Object.keys(r) as ModelId[]) assert.deepEqual(classes(r[id]), [], id);
  assert.equal(r.reboot.completionTimeMs, 90_000);
});

test('2: T asleep interruptibly in f: hybrid stalls until the fake signal at ~15 s and completes at ~16 s; kpatch EBUSY x5 over ~8 s; Ksplice CODE_BUSY x5 ~1 s apart; refcount EBUSY', () => {
  const r = run(SCENARIOS.sleepInF(), 7, true);
  const h = r.hybrid;
  assert.equal(h.completed, true);
  assert.ok(done(h) > 15_000 && done(h) <= 16_000, `hybrid ${done(h)}`);
  assert.equal(h.signalsSent, 1);
  const sig = h.trace!.find((e) => e.event === 'signal')!;
  assert.equal(sig.timeMs, 15_000);
  const sw = h.trace!.find((e) => e.task === 'T' && e.event === 'switch')!;
  assert.equal(sw.timeMs, 15_000);
  assert.match(sw.detail!, /EXIT_TO_USER/);
  assert.deepEqual(classes(h), []);
  // The per-task timeline: T is the first lane (it held the transition): pending from enable, new at the signal.
  assert.deepEqual(h.timeline![0], { task: 'T', kind: 'user', changes: [{ timeMs: 100, state: 'pending' }, { timeMs: 15_000, state: 'new', why: 'EXIT_TO_USER' }] });
  assert.deepEqual(r.kpatch.timeline![0].changes.map((c) => c.state), ['pending', 'old']);

  assert.equal(r.kpatch.completed, false);
  assert.equal(r.kpatch.retries, 5);
  assert.equal(r.kpatch.pauses.count, 5);
  const kw = r.kpatch.trace!.filter((e) => e.event === 'stop_machine');
  assert.ok(kw.at(-1)!.timeMs - kw[0].timeMs >= 8000 && kw.at(-1)!.timeMs - kw[0].timeMs < 9000);
  assert.match(kw[0].detail!, /EBUSY: T in f/);
  assert.match(r.kpatch.failed!, /activeness safety check failed for f/);
  assert.deepEqual(r.kpatch.stalledTasks, [{ task: 'T', reason: 'IN_USE', function: 'f' }]);

  assert.equal(r.ksplice.retries, 5);
  const ks = r.ksplice.trace!.filter((e) => e.event === 'stop_machine').map((e) => e.timeMs);
  assert.deepEqual(ks.map((t, i) => Math.round(t - ks[0] - i * 1000)), [0, 0, 0, 0, 0]);
  assert.match(r.ksplice.failed!, /to-be-replaced code is busy/);
  assert.match(r.refcount.failed!, /EBUSY/);
  // kGraft: T blocks until it returns to user; the later kGraft signals it at its first check (2 s).
  assert.equal(r.kgraft.completionTimeMs, 4000);
  assert.equal(r.kgraft.heldBy!.find((x) => x.task === 'T')!.reason, 'IN_KERNEL');
  // Null model: new calls are new at once; T's old activation is the unsafe switch.
  assert.equal(r.null.completed, true);
  assert.deepEqual(classes(r.null), ['U']);
});

test('2, over seeds: the hybrid outcome does not hang on one lucky draw', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const h = simulate(SCENARIOS.sleepInF(), { seed, models: ['hybrid', 'kpatch'] }).models;
    assert.equal(h[0].completionTimeMs, 15_900, `seed ${seed}`);
    assert.equal(h[1].completed, false, `seed ${seed}`);
  }
});

test('3: T in D state for X s: hybrid waits X (+<=1 s), no signal helps; kpatch succeeds for X < ~8 s only, Ksplice for X < ~4 s only', () => {
  const short = run(SCENARIOS.dStateInF(3000));
  assert.ok(done(short.hybrid) >= 2900 && done(short.hybrid) <= 3900 + 1, `${done(short.hybrid)}`);
  assert.equal(short.kpatch.completed, true);
  assert.equal(short.ksplice.completed, true);
  const mid = run(SCENARIOS.dStateInF(6000));
  assert.equal(mid.kpatch.completed, true);
  assert.equal(mid.ksplice.completed, false);
  assert.equal(short.null.completed, true, 'null: as scenario 2, no waiting');
  assert.deepEqual(classes(short.null), ['U']);
  const long = run(SCENARIOS.dStateInF(20_000));
  assert.ok(done(long.hybrid) >= 19_900 && done(long.hybrid) <= 20_900, `${done(long.hybrid)}`);
  assert.equal(long.kpatch.completed, false);
  assert.equal(long.ksplice.completed, false);
  assert.equal(long.refcount.completed, false);
  assert.ok(long.kgraft.completed && done(long.kgraft) >= 19_900);
});

test('4: kthread K busy in g with cond_resched: hybrid <6.4 only when preempted with ORC, 6.4 at its next cond_resched, 6.16 as <6.4; kGraft never; stop-machine and refcount succeed', () => {
  const k61 = run(SCENARIOS.busyKthread('6.1'));
  assert.equal(k61.hybrid.completed, false);
  assert.deepEqual(k61.hybrid.stalledTasks, [{ task: 'K', reason: 'RUNNING' }]);
  assert.equal(run(SCENARIOS.busyKthread('6.1', 'orc', true)).hybrid.completed, true);
  const fp = run(SCENARIOS.busyKthread('6.1', 'fp', true)).hybrid;
  assert.equal(fp.completed, false);
  assert.ok(['RUNNING', 'UNRELIABLE_STACK'].includes(fp.stalledTasks[0].reason), 'preempted with FP: unreliable, running otherwise');
  const k64 = run(SCENARIOS.busyKthread('6.4'), 7, true);
  assert.ok(k64.hybrid.completed && done(k64.hybrid) <= 1000);
  assert.match(k64.hybrid.trace!.find((e) => e.task === 'K' && e.event === 'switch')!.detail!, /SCHED_HOOK/);
  assert.equal(run(SCENARIOS.busyKthread('6.16')).hybrid.completed, false);
  assert.equal(k61.kgraft.completed, false);
  assert.equal(k61.kgraft.stalledTasks[0].reason, 'NOT_ANNOTATED');
  for (const id of [...stopModels, 'refcount'] as ModelId[]) assert.equal(k61[id].completed, true, id);
});

test('5: one syscall calls f1, sleeps in g, calls f2: V2 under hybrid and the global-switch models, not under kGraft', () => {
  const r = run(SCENARIOS.mixedEpisode());
  for (const id of ['hybrid', ...stopModels, 'refcount'] as ModelId[]) {
    assert.deepEqual(classes(r[id]), ['V2'], id);
    const v = r[id].violations[0];
    assert.equal(v.task, 'T');
    assert.deepEqual(v.functions, ['f1 (old)', 'f2 (new)']);
    assert.equal(v.steps.length, 3);
  }
  assert.deepEqual(classes(r.kgraft), []);
  assert.ok(classes(r.null).includes('V2'));
});

test('6: f1 calls f2 and T sleeps in f2: V1 only in the null model; hybrid waits; stop-machine models and refcount refuse', () => {
  const r = run(SCENARIOS.nested());
  assert.ok(classes(r.null).includes('V1'));
  const v1 = r.null.violations.find((v) => v.class === 'V1')!;
  assert.deepEqual(v1.functions, ['f1 (old)', 'f2 (new)']);
  assert.equal(v1.task, 'T');
  for (const id of ['hybrid', 'kgraft'] as ModelId[]) assert.equal(r[id].violationCounts.V1, 0, id);
  assert.ok(r.hybrid.completed && done(r.hybrid) >= 9900);
  for (const id of [...stopModels, 'refcount'] as ModelId[]) {
    assert.equal(r[id].completed, false, id);
    assert.equal(r[id].stalledTasks[0].function, 'f2', id);
  }
});

test('7: data semantics change: V3 under null, hybrid (until completion) and kGraft; never under the global-switch models', () => {
  const r = run(SCENARIOS.dataSemantics());
  for (const id of ['null', 'hybrid', 'kgraft'] as ModelId[]) {
    assert.equal(r[id].violationCounts.V3, 1, id);
    const v = r[id].violations.find((x) => x.class === 'V3')!;
    assert.deepEqual(v.functions, ['f (old)', 'f (new)']);
    assert.ok(v.timeMs >= 100, `${id} ${v.timeMs}`);
  }
  assert.ok(r.hybrid.completed);
  for (const id of [...stopModels, 'refcount'] as ModelId[]) assert.equal(r[id].violationCounts.V3, 0, id);
  assert.ok(stopModels.some((id) => r[id].completed), 'a stop-machine model succeeded and still shows no V3');
});

test('8: an IRQ on a CPU whose task has not switched runs old f under hybrid (V3 against switched tasks) and new f under kGraft', () => {
  const r = run(SCENARIOS.irqOnUnswitched(), 7, true);
  const irq = (m: ModelResult) => m.trace!.find((e) => e.event === 'irq')!.detail!;
  assert.match(irq(r.hybrid), /runs the old f \(inherits the state of T\)/);
  assert.match(irq(r.kgraft), /runs the new f/);
  const v3 = r.hybrid.violations.find((v) => v.class === 'V3')!;
  assert.match(v3.explanation, /IRQ on CPU 3 runs old f/);
  for (const id of [...stopModels, 'refcount'] as ModelId[]) assert.equal(r[id].violationCounts.V3, 0, id);
  // The null model: the IRQ reaches new f once f has switched, whatever the interrupted task.
  assert.match(irq(r.null), /runs the new f/);
});

test('9: force during scenario 2: hybrid switches T with old f on its stack (U), then V1; removable since 5.18 unless the forced transition was an unpatching', () => {
  const r = run(SCENARIOS.force());
  const h = r.hybrid;
  // 6.4: klp_force_transition() marks only patches being removed as forced (2957308343fa, 5.18).
  assert.equal(h.removable, true);
  assert.ok(h.notes!.some((n) => /stays removable/.test(n)));
  assert.equal(run({ ...SCENARIOS.force(), kernel: '5.16' }).hybrid.removable, false);
  // Without reliable stacks the kthread holds both directions: force the patching, disable, force the unpatching.
  const unpatching = run(SCENARIOS.noReliable([{ atMs: 10_000, do: 'force' }, { atMs: 20_000, do: 'disable' }, { atMs: 30_000, do: 'force' }])).hybrid;
  assert.equal(unpatching.unpatching?.trigger, 'disable');
  assert.equal(unpatching.removable, false, 'a forced unpatching blocks removal');
  assert.equal(h.completed, true);
  const u = h.violations.find((v) => v.class === 'U')!;
  assert.equal(u.task, 'T');
  assert.equal(u.timeMs, 5000);
  assert.match(u.explanation, /FORCE/);
  assert.equal(h.violationCounts.V1, 1);
  // kGraft's analogue, kgr_unmark_processes(), declares T migrated while it sleeps in old f.
  assert.ok(r.kgraft.violations.some((v) => v.class === 'U' && v.task === 'T' && /FORCE/.test(v.explanation)));
  assert.ok(r.kgraft.completed);
  // kpatch's analogue (KPATCH_FORCE_UNSAFE) skips the check; Ksplice has none.
  assert.ok(r.kpatch.completed && r.kpatch.violationCounts.U === 1);
  assert.equal(r.ksplice.completed, false);
});

test('10: reverse mid-transition: the switched tasks go back, the transition completes as unpatching, post_unpatch only', () => {
  const r = run(SCENARIOS.reverse(), 7, true);
  const h = r.hybrid;
  assert.equal(h.completed, false);
  assert.deepEqual(h.callbacks!.map((c) => c.name), ['pre_patch', 'post_unpatch']);
  assert.ok(h.trace!.some((e) => e.event === 'reverse'));
  assert.ok(h.trace!.some((e) => e.event === 'switch' && /new → old/.test(e.detail!)));
  assert.ok(h.trace!.some((e) => e.event === 'complete' && e.detail === 'unpatching complete'));
  assert.deepEqual(classes(h), []);
  assert.match(r.kpatch.failed!, /cancelled/);
  // Once loaded, a reverse of Ksplice or kpatch is another stop_machine window (checked against the new code).
  const loaded = run({ ...SCENARIOS.reverse(), tasks: SCENARIOS.dStateInF(1500).tasks });
  for (const id of ['ksplice', 'kpatch'] as ModelId[]) {
    assert.equal(loaded[id].completed, true, id);
    assert.deepEqual(loaded[id].callbacks!.map((c) => c.name), ['pre_patch', 'post_patch', 'post_unpatch'], id);
    assert.equal(loaded[id].pauses.count, loaded[id].retries + 2, `${id}: failed tries, the load, the unload`);
  }
  // kGraft reverts through REVERT_SLOW: migrated tasks go back at their next boundary.
  const k = r.kgraft;
  assert.equal(k.completed, false);
  assert.ok(k.trace!.some((e) => e.event === 'revert'));
  assert.ok(k.trace!.some((e) => e.event === 'switch' && /new → old/.test(e.detail!)));
  assert.ok(k.callbacks!.some((c) => c.name === 'post_unpatch'));
});

test('11: fork during the transition: the child inherits the pending state and switches at its first return to user', () => {
  const r = run(SCENARIOS.fork(), 7, true);
  const h = r.hybrid;
  const fork = h.trace!.find((e) => e.event === 'fork')!;
  assert.equal(fork.timeMs, 500);
  const child = h.trace!.find((e) => e.event === 'switch' && e.task === fork.task)!;
  assert.match(child.detail!, /EXIT_TO_USER/);
  assert.ok(child.timeMs > 500 && child.timeMs < 501);
  assert.ok(h.completed);
  assert.ok(r.kgraft.trace!.some((e) => e.event === 'switch' && e.task === fork.task));
});

test('12: no reliable stacktrace: user tasks switch at exit, kthreads never (stuck until force), a reverse completes; kGraft needs no stack checks', () => {
  const r = run(SCENARIOS.noReliable());
  const h = r.hybrid;
  assert.equal(h.completed, false);
  assert.deepEqual(h.stalledTasks, [{ task: 'kworker/1:0', reason: 'NO_RELIABLE_STACKTRACE' }]);
  assert.equal(r.kgraft.completed, true);
  const forced = run(SCENARIOS.noReliable([{ atMs: 30_000, do: 'force' }])).hybrid;
  assert.ok(forced.completed && forced.removable);
  const reversed = run(SCENARIOS.noReliable([{ atMs: 30_000, do: 'reverse' }]), 7, true).hybrid;
  assert.ok(reversed.trace!.some((e) => e.event === 'complete' && e.detail === 'unpatching complete'));
});

test('the same seed gives byte-identical JSON; another seed gives another workload', () => {
  const a = JSON.stringify(simulate(SCENARIOS.dataSemantics(), { seed: 42, trace: true }));
  const b = JSON.stringify(simulate(SCENARIOS.dataSemantics(), { seed: 42, trace: true }));
  assert.equal(a, b);
  const c = JSON.stringify(simulate(SCENARIOS.dataSemantics(), { seed: 43, trace: true }));
  assert.notEqual(a, c);
});
