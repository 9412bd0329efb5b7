/**
 * Hybrid-model behaviours seen on real 6.1 transitions under qemu that the
 * simulator once got wrong: the idle loop after a reverse, the context that
 * runs each attempt, heldBy at attempt 0, stall entries across a reverse, a
 * reverse's own completion, removability after force, and the text's time base.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatSimText } from '../../server/src/cli/simulate';
import { simulate } from '../../server/src/core/sim/simulate';
import type { ModelResult, ModelSpec } from '../../server/src/core/sim/types';
import { background, machine, sleeperIn, SCENARIOS } from '../sim/scenarios';

const hybrid = (spec: ModelSpec, trace = false): ModelResult => simulate(spec, { seed: 7, trace, models: ['hybrid'] }).models[0];
const SYS = ['entry_SYSCALL_64', 'do_syscall_64', '__x64_sys_read'];

/** 6.1 on 2 CPUs: T asleep in f in D state for a minute, reversed at 5.3 s. */
function reversed(extra: ModelSpec['tasks'] = []): ModelSpec {
  return machine({
    kernel: '6.1',
    cpus: 2,
    enableAtMs: 100,
    actions: [{ atMs: 5300, do: 'reverse' }],
    timing: { idleWakeMs: 100 },
    tasks: [...background(), { ...sleeperIn(['f'], 60_000, 'uninterruptible'), cpu: 1 }, ...extra],
  });
}

test('a reverse completes at the first attempt after it: idle tasks switch in the idle loop, not only after a failed attempt kicks them', () => {
  const h = hybrid(reversed(), true);
  assert.equal(h.completed, false);
  assert.equal(h.unpatching?.trigger, 'reverse');
  assert.equal(h.unpatching?.startedAfterEnableMs, 5200);
  assert.equal(h.unpatching?.completed, true);
  // attempts fall on whole seconds: the one at 6 s finds every context back in the old state
  assert.equal(h.unpatching?.completionTimeMs, 700);
  const idle = h.trace!.filter((e) => e.event === 'switch' && e.task?.startsWith('swapper/') && e.timeMs > 5300);
  assert.equal(idle.length, 2);
  assert.ok(idle.every((e) => /IDLE_LOOP/.test(e.detail!) && e.timeMs < 6000), JSON.stringify(idle));
});

test('the attempt runner is current on its CPU: a task named as the runner is never RUNNING, its CPU idle task is stack-checked at attempt 0', () => {
  const kworker = { name: 'kworker/1:1', kind: 'kthread' as const, cpu: 1, program: [{ kernel: ['kthread', 'worker_thread', 'process_one_work', 'klp_transition_work_fn'], ms: 120_000 }] };
  const spec = machine({ kernel: '6.1', cpus: 2, tasks: [...background(), kworker] });
  const without = hybrid(spec);
  assert.equal(without.completed, false);
  assert.deepEqual(without.stalledTasks, [{ task: 'kworker/1:1', reason: 'RUNNING' }]);
  const withRunner = hybrid({ ...spec, runner: { cpu: 1, task: 'kworker/1:1' } }, true);
  assert.equal(withRunner.completed, true);
  assert.ok(!(withRunner.heldBy ?? []).some((h) => h.task === 'kworker/1:1'));
  const idle1 = withRunner.trace!.find((e) => e.event === 'switch' && e.task === 'swapper/1')!;
  assert.equal(idle1.timeMs, 100);
  assert.match(idle1.detail!, /STACK_CHECK/);
});

test('heldBy names the idle task that failed attempt 0, with the idle loop that switched it', () => {
  const h = hybrid(machine({ kernel: '6.1', cpus: 2, tasks: background() }));
  assert.equal(h.completed, true);
  const idle = (h.heldBy ?? []).find((x) => x.task === 'swapper/1');
  assert.ok(idle, JSON.stringify(h.heldBy));
  assert.equal(idle.reason, 'RUNNING');
  assert.equal(idle.mechanism, 'IDLE_LOOP');
});

test('after a reverse, only the tasks pending in the new direction hold it: T, still in the old state, is not listed', () => {
  // W enters new f at 1 s and sleeps there: it holds the unpatching.
  const w = { name: 'W', kind: 'user' as const, cpu: 0, phase: 'start' as const, program: [{ user: 1000 }, { kernel: [...SYS, 'f'], ms: 0.02 }, { sleep: [...SYS, 'f'], ms: 100_000, state: 'uninterruptible' as const }] };
  const h = hybrid(reversed([w]));
  assert.equal(h.unpatching?.completed, false);
  assert.deepEqual(h.unpatching?.stalledTasks, [{ task: 'W', reason: 'IN_USE', function: 'f' }]);
  assert.deepEqual(h.stalledTasks, [{ task: 'W', reason: 'IN_USE', function: 'f' }]);
});

test('the text: a completed reverse is not a stall, and every time is measured from the enable', () => {
  const spec = reversed();
  const r = simulate(spec, { seed: 7, models: ['hybrid'] });
  const text = formatSimText(r, spec, []);
  assert.match(text, /reversed 5\.2 s after enable; the unpatching completed 700 ms after the reverse/);
  assert.doesNotMatch(text, /NOT complete/);
  const forced = SCENARIOS.force();
  const ft = formatSimText(simulate(forced, { seed: 7, models: ['hybrid'] }), forced, []);
  const held = ft.split('\n').filter((l) => /held up by/.test(l));
  assert.ok(held.length > 0);
  for (const l of held) assert.match(l, /until [\d.]+ (ms|s) after enable, then switched/);
  assert.match(ft, /note: forced 4\.9 s after enable/);
  assert.doesNotMatch(ft, /at \d+ ms(?! (after|before) enable)/);
});

// Seen on real 6.1 and 6.12 transitions in `npm run test:kernel` (test/kernel/transitions.kernel.ts).

test('the first retry follows round_jiffies_relative(HZ) from the jiffies clock at the enable, skewed 3 jiffies per CPU of the runner', () => {
  const spec = (atEnable: number, cpu = 0) => machine({ kernel: '6.1', cpus: 2, tasks: background(), jiffies: { hz: 250, atEnable }, runner: { cpu } });
  // 10 jiffies (40 ms) past a whole second: rounded down, the retry comes 960 ms later.
  assert.equal(hybrid(spec(250 * 1000 + 10)).completionTimeMs, 960);
  // 100 jiffies (400 ms) past: rounded up to the second after next, 1600 ms later.
  assert.equal(hybrid(spec(250 * 1000 + 100)).completionTimeMs, 1600);
  // On CPU 1 the expiry is judged 3 jiffies later and lands 3 jiffies (12 ms) earlier.
  assert.equal(hybrid(spec(250 * 1000 + 10, 1)).completionTimeMs, 948);
});

test('6.4–6.15 on x86: the idle CPUs have passed their idle loop by attempt 0 (the cond_resched static calls are rewritten), so an idle box completes at once', () => {
  const idle = (kernel: ModelSpec['kernel'], arch = machine({ tasks: [] }).arch) => hybrid(machine({ kernel, cpus: 2, arch, tasks: [] }));
  assert.equal(idle('6.4').completionTimeMs, 0);
  assert.ok(idle('6.1').completionTimeMs! >= 750, 'before 6.4 the idle CPU fails attempt 0');
  assert.ok(idle('6.16').completionTimeMs! >= 750, 'from 6.16 (no cond_resched hook) likewise');
  assert.ok(idle('6.4', { name: 'arm64', reliableStacktrace: true, unwinder: 'fp' }).completionTimeMs! >= 750, 'not on other arches');
});

test('a reverse sends every idle CPU through its idle loop (klp_synchronize_transition), so the unpatching completes at the next retry', () => {
  // The sleeper sits on CPU 2; CPUs 1 and 3 are idle when the reverse comes.
  const spec = machine({ kernel: '6.1', cpus: 4, timing: { idleWakeMs: 5000 }, actions: [{ atMs: 3400, do: 'reverse' }], tasks: [{ ...sleeperIn(['f'], 60_000) }] });
  const h = hybrid(spec);
  assert.equal(h.unpatching?.completed, true);
  assert.equal(h.unpatching?.startedAfterEnableMs, 3300);
  assert.equal(h.unpatching!.startedAfterEnableMs + h.unpatching!.completionTimeMs!, 3900);
  assert.deepEqual(h.unpatching?.reversedWhileHeldBy, [{ task: 'T', reason: 'IN_USE', function: 'f' }]);
  assert.equal(h.unpatching?.heldBy, undefined);
});

test('signalsAtMs says when the fake signals went out: attempt 15, after enable', () => {
  const h = hybrid(machine({ kernel: '6.1', cpus: 4, tasks: [sleeperIn(['f'], 60_000)] }));
  assert.equal(h.signalsAtMs?.[0], 14_900);
  assert.equal(h.completionTimeMs, 15_900);
});
