/**
 * Kernel-version variants, cumulative replace with nops, callbacks, disable,
 * and the model-specific failure modes (direct jumps over traced functions,
 * kpatch's 64-entry unwinder, refcount's grace-period limit).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simulate } from '../../server/src/core/sim/simulate';
import type { ModelId, ModelResult, ModelSpec } from '../../server/src/core/sim/types';
import { SCENARIOS, machine, background, sleeperIn } from '../sim/scenarios';

const one = (spec: ModelSpec, id: ModelId, trace = false): ModelResult => simulate(spec, { seed: 3, models: [id], trace }).models[0];

test('kernel profiles: no consistency model before 4.12, no automatic fake signals before 5.1', () => {
  const s40 = { ...SCENARIOS.sleepInF(), kernel: '4.0' as const };
  assert.match(one(s40, 'hybrid').failed!, /needs Linux 4\.12/);
  assert.equal(one(s40, 'null').completed, true);
  const s415 = { ...SCENARIOS.sleepInF(), kernel: '4.15' as const };
  const h = one(s415, 'hybrid');
  assert.equal(h.completed, false, '4.15 sends no fake signals: T stays asleep in f');
  assert.equal(h.signalsSent, 0);
  assert.deepEqual(h.stalledTasks, [{ task: 'T', reason: 'IN_USE', function: 'f' }]);
  assert.equal(one({ ...SCENARIOS.sleepInF(), kernel: '5.1' }, 'hybrid').completionTimeMs, 15_900);
});

test('idle CPUs: kicked at once from 5.16, switched at their next wake-up before', () => {
  const idle = (k: ModelSpec['kernel']) => one({ ...machine({ tasks: [{ name: 'sleeper', kind: 'user', cpu: 0, program: [{ user: 1 }, { sleep: ['entry_SYSCALL_64', 'do_syscall_64', '__x64_sys_nanosleep', 'hrtimer_nanosleep'], ms: 100_000 }] }] }), kernel: k }, 'hybrid', true);
  for (const k of ['5.1', '5.16'] as const) {
    const h = idle(k);
    assert.equal(h.completed, true, k);
    const sw = h.trace!.filter((e) => e.event === 'switch' && e.task?.startsWith('swapper/'));
    assert.equal(sw.length, 4, k);
    assert.ok(sw.every((e) => /IDLE_LOOP|STACK_CHECK/.test(e.detail!)), k);
    // The kick comes when attempt 0 reaches the idle tasks, after checking the others (timing.stackCheckUs each).
    if (k === '5.16') assert.ok(sw.every((e) => e.timeMs <= 101 || /STACK_CHECK/.test(e.detail!)), 'kicked right after attempt 0');
    else assert.ok(sw.some((e) => e.timeMs > 100.05), 'waits for the idle wake-up');
  }
});

test('cumulative replace: nops are part of the patched set (a task asleep in one holds the transition); refused before 5.1', () => {
  const spec = machine({ kernel: '6.1', patch: { functions: ['f'], replace: true, nops: ['old_fix'] }, tasks: [...background(), sleeperIn(['old_fix'], 5000, 'uninterruptible')] });
  const h = one(spec, 'hybrid', true);
  assert.ok(h.completed);
  assert.ok(h.completionTimeMs! >= 4900, String(h.completionTimeMs));
  assert.equal(h.heldBy![0].function, 'old_fix');
  assert.match(h.trace![0].detail!, /1 nops/);
  assert.match(one({ ...spec, kernel: '4.15' }, 'hybrid').failed!, /atomic replace .* 5\.1/);
});

test('callbacks: pre_patch at enable, post_patch at completion (hybrid) or inside the window (kpatch); disable runs pre/post_unpatch', () => {
  const spec = machine({ patch: { functions: ['f'], callbacks: true }, actions: [{ atMs: 10_000, do: 'disable' }], tasks: [...background(), sleeperIn(['f'], 2500, 'uninterruptible')] });
  const h = one(spec, 'hybrid', true);
  assert.deepEqual(h.callbacks!.map((c) => c.name), ['pre_patch', 'post_patch', 'pre_unpatch', 'post_unpatch']);
  assert.equal(h.callbacks![1].atMs, h.postPatchAtMs);
  assert.equal(h.callbacks![2].atMs, 10_000);
  assert.ok(h.completed, 'the patch did complete before it was disabled');
  assert.ok(h.trace!.some((e) => e.detail === 'unpatching complete'));
  const k = one(spec, 'kpatch');
  assert.deepEqual(k.callbacks!.map((c) => c.name), ['pre_patch', 'post_patch', 'post_unpatch']);
  assert.equal(k.pauses.count, 4, 'two failed tries while T sleeps in f, the load, then the unload');
});

test('direct jumps refuse functions with ftrace or kprobe users', () => {
  const spec = machine({ patch: { functions: ['f', 'g2'], traced: ['g2'] }, tasks: background() });
  const r = one(spec, 'direct-jump');
  assert.equal(r.completed, false);
  assert.match(r.failed!, /g2 has ftrace or kprobe users/);
  assert.equal(one(spec, 'kpatch').completed, true);
});

test("kpatch's best-effort unwinder stops at 64 entries: a patched frame deeper than that is missed (U); Ksplice's scan sees it", () => {
  const deep = { name: 'T', kind: 'user' as const, cpu: 2, phase: 'start' as const, program: [{ kernel: ['entry_SYSCALL_64', 'f', 'g'], ms: 0.01 }, { sleep: ['entry_SYSCALL_64', 'f', 'g'], ms: 30_000, state: 'uninterruptible' as const, depth: 80 }, { kernel: ['entry_SYSCALL_64', 'f'], ms: 0.01 }, { user: 100_000 }] };
  const spec = machine({ tasks: [...background(), deep] });
  const k = one(spec, 'kpatch');
  assert.equal(k.completed, true);
  const u = k.violations.find((v) => v.class === 'U')!;
  assert.equal(u.task, 'T');
  assert.match(u.explanation, /old f/);
  const ks = one(spec, 'ksplice');
  assert.equal(ks.completed, false);
  assert.equal(ks.violationCounts.U, 0);
});

test('refcount: a kthread that never context-switches times out after 128 grace periods', () => {
  const spec = machine({ tasks: [...background(), { name: 'spinner', kind: 'kthread', cpu: 3, program: [{ kernel: ['kthread', 'spin_main', 'g'], ms: 10_000 }] }] });
  const r = one(spec, 'refcount');
  assert.match(r.failed!, /-ETIME: Safeness check timed out \(spinner/);
  assert.deepEqual(r.stalledTasks, [{ task: 'spinner', reason: 'NO_CONTEXT_SWITCH' }]);
});

test('arch profiles: a request can swap the arch; frame-pointer style unwinders cannot vouch for a preempted task, ORC can', async () => {
  const { machineFor, validateSimRequest, SimRequestError } = await import('../../server/src/core/sim/session');
  const workload = { patch: { functions: ['f'] }, tasks: SCENARIOS.busyKthread('6.1', 'orc', true).tasks };
  const orc = machineFor(workload, { model: 'idle-server', kernel: '6.1', arch: 'loongarch64' });
  assert.equal(orc.arch.unwinder, 'orc');
  const ppc = machineFor(workload, { model: 'idle-server', kernel: '6.1', arch: 'ppc64le' });
  assert.equal(ppc.arch.name, 'ppc64le');
  const k = (spec: ModelSpec) => simulate(spec, { seed: 3, models: ['hybrid'] }).models[0].stalledTasks.find((s) => s.task === 'K');
  assert.equal(k(orc), undefined, 'ORC: K is switched while preempted');
  assert.ok(['RUNNING', 'UNRELIABLE_STACK'].includes(k(ppc)!.reason), 'ppc64le: never while preempted');
  const none = machineFor(workload, { model: 'idle-server', arch: 'no-reliable-stacktrace' });
  assert.equal(none.arch.reliableStacktrace, false);
  assert.throws(() => validateSimRequest({ arch: 'vax' }), (e: Error) => e instanceof SimRequestError && /"arch" must be one of x86_64/.test(e.message));
});
