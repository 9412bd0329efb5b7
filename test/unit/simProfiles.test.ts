/**
 * The simulator's built-in machines (sim/profiles.ts) and the bridge from a
 * patch's analysis to a workload (sim/fromPatch.ts): every profile is a well
 * formed model, and a patch yields its patched set, a task parked in a
 * sleeping function, a kthread that never leaves its loop, and shared-data
 * pairs for data-semantic changes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzePatch, type AnalyzeOptions } from '../../server/src/core/analysis';
import { builtinProfile, PROFILE_NAMES, profileDescription, taskCount, type ProfileName } from '../../server/src/core/sim/profiles';
import { entryFor, modelFromPatch, sleepSite, workloadFromAnalysis, type PatchWorkload } from '../../server/src/core/sim/fromPatch';
import type { ModelSpec, Segment, TaskSpec } from '../../server/src/core/sim/types';
import { fixture, gitStyleDiff, tempKernelTree } from '../helpers';

const C = (...lines: string[]) => lines.join('\n') + '\n';

function chainOf(s: Segment): string[] | undefined {
  return 'kernel' in s ? s.kernel : 'sleep' in s ? s.sleep : undefined;
}

function assertWellFormed(spec: ModelSpec): void {
  assert.ok(spec.cpus >= 1);
  assert.ok(spec.tasks.length > 0);
  const names = new Set<string>();
  for (const t of spec.tasks) {
    assert.ok(!names.has(t.name), `duplicate task name ${t.name} in ${spec.name}`);
    names.add(t.name);
    assert.ok(t.program.length > 0, `${t.name}: empty program`);
    if (typeof t.cpu === 'number') assert.ok(t.cpu >= 0 && t.cpu < spec.cpus, `${t.name}: cpu ${t.cpu} of ${spec.cpus}`);
    if (t.count !== undefined) assert.ok(Number.isInteger(t.count) && t.count >= 1, `${t.name}: count ${t.count}`);
    for (const s of t.program) {
      const chain = chainOf(s);
      if (chain) assert.ok(chain.length > 0 && chain.every((f) => typeof f === 'string' && f.length > 0), `${t.name}: bad chain`);
      if ('sleep' in s) assert.deepEqual(s.sleep.slice(-2), ['schedule', '__schedule'], `${t.name}: a sleep ends in the scheduler`);
      if (t.kind === 'kthread' && chain) assert.ok(chain[0] === 'kthread' || chain[0] === 'kthreadd', `${t.name}: a kthread segment starts at kthread()`);
      if (t.kind === 'kthread') assert.ok(!('user' in s), `${t.name}: a kthread never runs in user mode`);
    }
    if (t.kind === 'kthread') {
      // the thread function stays on the stack: every segment shares kthread → fn
      const heads = new Set(t.program.map(chainOf).filter((c): c is string[] => !!c).map((c) => c.slice(0, c[0] === 'kthreadd' ? 1 : 2).join(' ')));
      assert.equal(heads.size, 1, `${t.name}: its loop function changes between segments (${[...heads].join(' | ')})`);
    }
  }
  for (const q of spec.irqs ?? []) {
    assert.ok(q.everyMs > 0 && q.stack.length > 0);
    if (q.cpus !== 'all') assert.ok(q.cpus.every((c) => c >= 0 && c < spec.cpus));
  }
}

test('sim profiles: every built-in machine is well formed and described', () => {
  for (const name of PROFILE_NAMES) {
    const spec = builtinProfile(name);
    assert.equal(spec.name, name);
    assert.equal(spec.kernel, '6.1');
    assert.deepEqual(spec.patch, { functions: [] });
    assertWellFormed(spec);
    assert.ok(profileDescription(name).length > 40);
    // deterministic: the same call gives the same model
    assert.deepEqual(builtinProfile(name), spec);
  }
  const idle = builtinProfile('idle-server');
  assert.equal(idle.cpus, 4);
  assert.ok(taskCount(idle) >= 45 && taskCount(idle) <= 80, `idle-server has ${taskCount(idle)} tasks`);
  assert.equal(idle.arch.reliableStacktrace, true);
  assert.equal(idle.arch.unwinder, 'orc');
  assert.ok(idle.tasks.some((t) => t.kind === 'kthread' && t.program.some((s) => 'sleep' in s && s.freezable)), 'a freezable kthread sleep');
  assert.ok(idle.tasks.some((t) => t.kind === 'kthread' && t.program.some((s) => 'sleep' in s && !s.freezable)), 'a non-freezable kthread sleep');
  assert.ok(idle.tasks.some((t) => t.program.some((s) => 'sleep' in s && s.sleep.includes('ep_poll') && s.state === 'interruptible')));

  const storage = builtinProfile('storage-box');
  assert.equal(storage.cpus, 16);
  assert.ok(storage.tasks.some((t) => t.kind === 'kthread' && t.program.some((s) => 'kernel' in s && s.condResched !== undefined)), 'a busy kthread with cond_resched');
  assert.ok(storage.tasks.some((t) => t.kind === 'user' && t.program.some((s) => 'sleep' in s && s.state === 'uninterruptible' && s.sleep.includes('io_schedule'))), 'a user task in D state in io_schedule');
  assert.ok(storage.tasks.some((t) => t.name.startsWith('jbd2/')) && storage.tasks.some((t) => t.name.startsWith('xfsaild/')));

  const ppc = builtinProfile('no-reliable-stacktrace');
  assert.equal(ppc.arch.reliableStacktrace, false);
  assert.equal(ppc.arch.unwinder, 'fp');
  assert.equal(ppc.cpus, 8);
  assert.ok(ppc.tasks.some((t) => t.kind === 'user') && ppc.tasks.some((t) => t.kind === 'kthread'));
  assert.ok(ppc.tasks.flatMap((t) => t.program.map(chainOf)).every((c) => !c || !c.includes('entry_SYSCALL_64')), 'ppc32 has its own entry code');
});

test('sim profiles: web-server-64 has ~10,000 tasks on 64 CPUs, fewer when scaled', () => {
  const web = builtinProfile('web-server-64');
  assert.equal(web.cpus, 64);
  const n = taskCount(web);
  assert.ok(n >= 9000 && n <= 11000, `web-server-64 has ${n} tasks`);
  for (let c = 0; c < 64; c++) assert.ok(web.tasks.some((t) => t.name === `ksoftirqd/${c}` && t.cpu === c), `ksoftirqd/${c}`);
  assert.ok(web.irqs?.some((q) => q.cpus === 'all' && q.stack.includes('net_rx_action') && q.stack.includes('__napi_poll')));
  assert.ok(web.tasks.some((t) => t.program.some((s) => 'kernel' in s && s.kernel.includes('tcp_sendmsg'))));
  assert.ok(web.tasks.some((t) => t.program.some((s) => 'sleep' in s && s.sleep.includes('futex_wait'))));
  const small = builtinProfile('web-server-64', { scale: 0.1 });
  assertWellFormed(small);
  assert.ok(taskCount(small) < n / 4, `scaled to ${taskCount(small)}`);
  assert.equal(small.cpus, 64);
});

test('sim profiles: options — patch, extra tasks (renamed on a clash), kernel naming', () => {
  const extra: TaskSpec = { name: 'systemd', kind: 'user', program: [{ kernel: ['entry_SYSCALL_64', 'do_syscall_64', '__x64_sys_read', 'f'], ms: 1 }, { user: 1 }] };
  const spec = builtinProfile('idle-server', { patch: { functions: ['f', '__x64_sys_read'] }, extraTasks: [extra] });
  assert.deepEqual(spec.patch.functions, ['f', '__x64_sys_read']);
  assertWellFormed(spec);
  assert.equal(spec.tasks[spec.tasks.length - 1].name, 'systemd#2');
  // before 4.17 there are no __x64_sys_ wrappers, before 4.14 no ORC; ppc32 has its own entry
  const old = builtinProfile('idle-server', { kernel: '4.12', patch: { functions: ['__x64_sys_read'] }, extraTasks: [extra] });
  assert.equal(old.kernel, '4.12');
  assert.equal(old.arch.unwinder, 'fp');
  assert.deepEqual(old.patch.functions, ['sys_read']);
  assert.deepEqual(chainOf(old.tasks[old.tasks.length - 1].program[0]), ['entry_SYSCALL_64', 'do_syscall_64', 'sys_read', 'f']);
  const ppc = builtinProfile('no-reliable-stacktrace', { extraTasks: [extra] });
  assert.deepEqual(chainOf(ppc.tasks[ppc.tasks.length - 1].program[0]), ['transfer_to_syscall', 'system_call_exception', 'sys_read', 'f']);
  assert.throws(() => builtinProfile('idle-server', { scale: 0 }), RangeError);
});

async function workload(text: string, opts: AnalyzeOptions = {}): Promise<PatchWorkload> {
  const a = await analyzePatch(text, opts);
  try {
    return workloadFromAnalysis(a);
  } finally {
    a.dispose();
  }
}

test('fromPatch: a read that sleeps in wait_event_interruptible() gets a user task parked inside it', async () => {
  const w = await workload(fixture('sim-sleeping-func.patch'));
  assert.deepEqual(w.patch.functions, ['lens_fifo_read']);
  assert.equal(w.patch.dataSemantics, undefined);
  assert.equal(w.patch.traced, undefined);
  assert.equal(w.tasks.length, 1);
  const t = w.tasks[0];
  assert.equal(t.kind, 'user');
  assert.equal(t.phase, 'start');
  const first = t.program[0];
  assert.ok('sleep' in first, 'it starts asleep');
  assert.equal(first.state, 'interruptible');
  assert.deepEqual(first.sleep, ['entry_SYSCALL_64', 'do_syscall_64', '__x64_sys_read', 'ksys_read', 'vfs_read', 'lens_fifo_read', 'schedule', '__schedule']);
  assert.ok(typeof first.ms === 'object' && 'uniform' in first.ms && first.ms.uniform[0] > 15000, 'a long sleep, past the first fake-signal round');
  assert.ok(t.program.some((s) => 'user' in s), 'it returns to user space between calls');
  assert.ok(w.notes.some((n) => /lens_fifo_read sleeps in wait_event_interruptible\(\)/.test(n) && n.includes(t.name)));
  assert.ok(w.notes.some((n) => /traced/.test(n)));

  const a = await analyzePatch(fixture('sim-sleeping-func.patch'));
  try {
    for (const profile of PROFILE_NAMES as readonly ProfileName[]) {
      const spec = modelFromPatch(a, profile, { scale: 0.05 });
      assertWellFormed(spec);
      assert.ok(spec.patch.functions.includes('lens_fifo_read'));
      assert.ok(spec.tasks.some((x) => x.name === 'lens_fifo_read-sleeper'));
    }
  } finally {
    a.dispose();
  }
});

const POLLER = C(
  '// SPDX-License-Identifier: GPL-2.0',
  '#include <linux/freezer.h>',
  '#include <linux/kthread.h>',
  '#include <linux/wait.h>',
  '',
  'struct lens_poller {',
  '\twait_queue_head_t wait;',
  '\tbool pending;',
  '\tunsigned int polls;',
  '};',
  '',
  'static int lens_poll_thread(void *data)',
  '{',
  '\tstruct lens_poller *lp = data;',
  '',
  '\tset_freezable();',
  '\twhile (!kthread_should_stop()) {',
  '\t\tlens_poll_once(lp);',
  '\t\twait_event_freezable_timeout(lp->wait,',
  '\t\t\t\t\t     lp->pending || kthread_should_stop(),',
  '\t\t\t\t\t     HZ);',
  '\t}',
  '\treturn 0;',
  '}',
);

test('fromPatch: a changed kthread_should_stop() loop gets a kthread that never leaves it', async () => {
  const after = POLLER.replace('\t\tlens_poll_once(lp);\n', '\t\tif (!READ_ONCE(lp->pending))\n\t\t\tlens_poll_once(lp);\n');
  const w = await workload(gitStyleDiff('drivers/misc/lens_poller.c', POLLER, after));
  assert.deepEqual(w.patch.functions, ['lens_poll_thread']);
  const k = w.tasks.filter((t) => t.kind === 'kthread');
  assert.equal(k.length, 1, JSON.stringify(w.tasks));
  assert.equal(w.tasks.filter((t) => t.kind === 'user').length, 0, 'no user task parks in a kthread function');
  const chains = k[0].program.map(chainOf).filter((c): c is string[] => !!c);
  assert.ok(chains.length >= 2);
  for (const c of chains) assert.deepEqual(c.slice(0, 2), ['kthread', 'lens_poll_thread']);
  const s = k[0].program.find((x) => 'sleep' in x);
  assert.ok(s && 'sleep' in s);
  assert.equal(s.state, 'interruptible');
  assert.equal(s.freezable, true);
  assert.ok(s.sleep.includes('schedule_timeout'), 'wait_event_freezable_timeout sleeps in schedule_timeout');
  assert.ok(w.notes.some((n) => /never leaves it/.test(n) && /freezable/.test(n)));

  // the thread function is recognised when kthread_run() names it, and its comm comes from the format
  const started = C(
    'static int lens_flush_thread(void *data)',
    '{',
    '\tstruct lens_poller *lp = data;',
    '',
    '\tlens_flush(lp);',
    '\treturn 0;',
    '}',
    '',
    'static int lens_flush_start(struct lens_poller *lp, int id)',
    '{',
    '\tstruct task_struct *t = kthread_run(lens_flush_thread, lp, "lens-flush/%d", id);',
    '',
    '\treturn PTR_ERR_OR_ZERO(t);',
    '}',
  );
  // kthread_run() is outside the hunk: with the tree the whole file is read
  const w2 = await workload(gitStyleDiff('drivers/misc/lens_flush.c', started, started.replace('\tlens_flush(lp);\n', '\tif (lp->pending)\n\t\tlens_flush(lp);\n')), {
    tree: tempKernelTree({ 'drivers/misc/lens_flush.c': started }),
  });
  const k2 = w2.tasks.find((t) => t.kind === 'kthread');
  assert.ok(k2, JSON.stringify(w2));
  assert.equal(k2.name, 'lens-flush/0');
});

const PAIRED = C(
  '#include <linux/atomic.h>',
  '',
  'static int widgets_in_flight;',
  '',
  'struct widget {',
  '\tspinlock_t lock;',
  '\tunsigned int users;',
  '};',
  '',
  'static void widget_start(struct widget *w)',
  '{',
  '\twidgets_in_flight++;',
  '\tw->users++;',
  '}',
  '',
  'static void widget_done(struct widget *w)',
  '{',
  '\twidgets_in_flight--;',
  '\tw->users--;',
  '}',
);

test('fromPatch: a data-semantic change sets dataSemantics, pairs the functions and adds their callers', async () => {
  const after = PAIRED.replace('\twidgets_in_flight++;', '\twidgets_in_flight += 2;').replace('\twidgets_in_flight--;', '\twidgets_in_flight -= 2;');
  const a = await analyzePatch(gitStyleDiff('kernel/widget.c', PAIRED, after));
  let w: PatchWorkload;
  try {
    assert.ok(a.findings.some((f) => f.code === 'KLP140'), a.findings.map((f) => f.code).join(' '));
    w = workloadFromAnalysis(a);
  } finally {
    a.dispose();
  }
  assert.deepEqual([...w.patch.functions].sort(), ['widget_done', 'widget_start']);
  assert.equal(w.patch.dataSemantics, true);
  assert.deepEqual(w.patch.sharedData, [['widget_done', 'widget_start']]);
  const callers = w.tasks.filter((t) => t.kind === 'user');
  assert.deepEqual(callers.map((t) => t.name).sort(), ['widget_done-caller', 'widget_start-caller']);
  for (const t of callers) {
    const fn = t.name.replace(/-caller$/, '');
    assert.ok(t.program.some((s) => 'user' in s));
    assert.ok(t.program.some((s) => 'kernel' in s && s.kernel[s.kernel.length - 1] === fn), `${t.name} calls ${fn}`);
  }
  assert.ok(w.notes.some((n) => n.startsWith('KLP140')));

  // a field written differently with no patched partner: the function is paired with itself, two callers
  const single = C('struct widget {', '\tunsigned int users;', '\tunsigned long mode;', '};', '', 'static void widget_set(struct widget *w)', '{', '\tw->mode = 1;', '}', '', 'static int widget_get_mode(struct widget *w)', '{', '\treturn w->mode;', '}');
  const b = await analyzePatch(gitStyleDiff('drivers/misc/widget.c', single, single.replace('\tw->mode = 1;', '\tw->mode = 2;')), { tree: tempKernelTree({ 'drivers/misc/widget.c': single }) });
  try {
    assert.ok(b.findings.some((f) => f.code === 'KLP143'), b.findings.map((f) => f.code).join(' '));
    const w2 = workloadFromAnalysis(b);
    assert.deepEqual(w2.patch.functions, ['widget_set']);
    assert.equal(w2.patch.dataSemantics, true);
    assert.deepEqual(w2.patch.sharedData, [['widget_set', 'widget_set']]);
    const t = w2.tasks.find((x) => x.name === 'widget_set-caller');
    assert.equal(t?.count, 2, JSON.stringify(w2.tasks));
    assert.ok(w2.notes.some((n) => /unchanged widget_get_mode also touches it/.test(n)), w2.notes.join('\n'));
  } finally {
    b.dispose();
  }
});

test('fromPatch: sleep states, entry chains and inline ripple', async () => {
  const facts = (calls: [string, string[]][]) => ({ key: 'fn:f', name: 'f', calls: calls.map(([name, args]) => ({ name, args, site: { imageLine: 0, docLine: 0, column: 0, changed: false } })), effects: [], accesses: [], fnRefs: [], asm: [], sleeps: true, kthreadLoop: false, locals: {} });
  assert.equal(sleepSite(facts([['mutex_lock', ['&x->lock']]]))?.state, 'uninterruptible');
  assert.equal(sleepSite(facts([['mutex_lock', ['&x->lock']], ['wait_for_completion_killable', ['&x->done']]]))?.primitive, 'wait_for_completion_killable', 'a wait ranks before a lock');
  assert.equal(sleepSite(facts([['set_current_state', ['TASK_INTERRUPTIBLE']], ['schedule', []]]))?.state, 'interruptible');
  assert.equal(sleepSite(facts([['prepare_to_wait', ['&q', '&wait', 'TASK_UNINTERRUPTIBLE']], ['schedule_timeout', ['HZ']]]))?.state, 'uninterruptible');
  const fz = sleepSite(facts([['set_current_state', ['TASK_INTERRUPTIBLE | TASK_FREEZABLE']], ['schedule', []]]));
  assert.equal(fz?.state, 'interruptible');
  assert.equal(fz?.freezable, true);
  assert.equal(sleepSite(facts([['msleep_interruptible', ['10']]]))?.state, 'interruptible');
  assert.equal(sleepSite(facts([['io_schedule', []]]))?.state, 'uninterruptible');
  assert.equal(sleepSite(facts([['wait_event_killable', ['q', 'c']]]))?.state, 'killable');
  assert.equal(sleepSite(facts([['cond_resched', []], ['copy_from_user', ['a', 'b', 'c']]])), undefined, 'cond_resched and copy_from_user are not sleeps');
  assert.deepEqual(sleepSite(facts([['mutex_lock', ['&m']]]))?.frames.slice(-2), ['schedule', '__schedule']);

  assert.deepEqual(entryFor('net/ipv4/tcp.c', 'tcp_sendmsg_locked').chain.slice(0, 3), ['entry_SYSCALL_64', 'do_syscall_64', '__x64_sys_sendmsg']);
  assert.deepEqual(entryFor('net/ipv4/tcp.c', 'tcp_recvmsg').chain.slice(2, 3), ['__x64_sys_recvmsg']);
  assert.deepEqual(entryFor('fs/ext4/file.c', 'ext4_file_write_iter').chain.slice(2), ['__x64_sys_write', 'ksys_write', 'vfs_write', 'new_sync_write']);
  assert.deepEqual(entryFor('kernel/foo.c', 'foo_do_work').chain, ['entry_SYSCALL_64', 'do_syscall_64']);

  // a for (;;) wait loop in a read() is a user path, not a kthread; the state comes from prepare_to_wait()
  const waitLoop = C(
    'static ssize_t lens_wait_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)',
    '{',
    '\tstruct lens_dev *ld = file->private_data;',
    '\tDEFINE_WAIT(wait);',
    '',
    '\tfor (;;) {',
    '\t\tprepare_to_wait(&ld->wq, &wait, TASK_INTERRUPTIBLE);',
    '\t\tif (ld->ready)',
    '\t\t\tbreak;',
    '\t\tschedule();',
    '\t}',
    '\tfinish_wait(&ld->wq, &wait);',
    '\treturn 0;',
    '}',
  );
  const wl = await workload(gitStyleDiff('drivers/misc/lens_wait.c', waitLoop, waitLoop.replace('if (ld->ready)', 'if (READ_ONCE(ld->ready))')));
  assert.deepEqual(wl.tasks.map((t) => t.kind), ['user'], JSON.stringify(wl.tasks));
  const ws = wl.tasks[0].program[0];
  assert.ok('sleep' in ws && ws.state === 'interruptible' && ws.sleep.includes('lens_wait_read'));

  // a changed static inline helper: its callers in the file are patched, not the helper
  const inl = C(
    'static inline int lens_ready(struct lens_dev *ld)',
    '{',
    '\treturn ld->state == 1;',
    '}',
    '',
    'int lens_poll_dev(struct lens_dev *ld)',
    '{',
    '\tif (!lens_ready(ld))',
    '\t\treturn -EAGAIN;',
    '\tmutex_lock(&ld->lock);',
    '\tld->polls++;',
    '\tmutex_unlock(&ld->lock);',
    '\treturn 0;',
    '}',
  );
  const w = await workload(gitStyleDiff('drivers/misc/lens_dev.c', inl, inl.replace('ld->state == 1;', 'ld->state >= 1;')), { tree: tempKernelTree({ 'drivers/misc/lens_dev.c': inl }) });
  assert.ok(!w.patch.functions.includes('lens_ready'), 'the inline helper has no frame');
  assert.ok(w.patch.functions.includes('lens_poll_dev'), JSON.stringify(w.patch));
  assert.ok(w.notes.some((n) => /inline lens_ready\(\) changes/.test(n) && /lens_poll_dev/.test(n)));
});
