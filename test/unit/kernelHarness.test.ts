// The real-kernel harness's own logic (npm run test:kernel runs the guests): what the guest
// reports is read back faithfully, and a missing or partial report fails the right column.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Generated } from '../kernel/lib/generate';
import { firstFailure, makeRow } from '../kernel/lib/report';
import { guestScript, parseGuest } from '../kernel/lib/script';

const SERIAL = [
  'LENS-BOOT 6.1.0-57-amd64',
  'LENS-NOTE module binfmt_misc: insmod: can\'t insert',
  'LENS-DMESG id=body-change [   12.1] livepatch: enabling patch \'lp_a\'',
  'LENS-NOTE id=body-change after insmod: enabled=1 transition=0',
  'LENS-RESULT id=body-change before=fail loaded=1 complete=1 effect=1 reverted=1 unloaded=1 dmesg=1',
  'LENS-NOTE id=sympos insmod: insmod: can\'t insert \'/lp/lp_b.ko\': unknown symbol in module',
  'LENS-DMESG id=sympos [   13.0] livepatch: symbol \'seq_show\' not found in symbol table',
  'LENS-RESULT id=sympos before=fail loaded=0 complete=0 effect=0 reverted=0 unloaded=0 dmesg=1\r',
  'LENS-RESULT id=static-locals before=pass loaded=1 complete=1 effect=1 reverted=1 unloaded=1 dmesg=0',
].join('\n');

const gen = (fixture: string, built = true): Generated => ({ fixture, kernel: '6.1', generated: true, built, name: built ? `lp_${fixture.replace(/-/g, '_')}` : undefined, out: '/x', log: '', seconds: 1 });
const k = { id: '6.1', abi: '6.1.0-57-amd64' };

test('the guest report: results, notes and dmesg per fixture; CRLF tolerated; no LENS-DONE means not done', () => {
  const r = parseGuest(SERIAL);
  assert.equal(r.kernel, '6.1.0-57-amd64');
  assert.equal(r.done, false);
  assert.deepEqual(r.notes, ["module binfmt_misc: insmod: can't insert"]);
  const ok = r.results.get('body-change')!;
  assert.deepEqual([ok.beforeFailed, ok.loaded, ok.complete, ok.effect, ok.reverted, ok.unloaded, ok.dmesgClean], [true, true, true, true, true, true, true]);
  assert.equal(ok.dmesg.length, 1);
  const bad = r.results.get('sympos')!;
  assert.equal(bad.loaded, false);
  assert.match(bad.notes[0], /unknown symbol/);
  assert.match(bad.dmesg[0], /not found in symbol table/);
  assert.equal(parseGuest(SERIAL + '\nLENS-DONE\n').done, true);
});

test('rows: the first failing column is named; an effect seen although the check passed before counts as not seen', () => {
  const r = parseGuest(SERIAL);
  assert.equal(firstFailure(makeRow({ id: 'body-change', class: 'c' }, k, gen('body-change'), r.results.get('body-change'), '')), undefined);
  assert.equal(firstFailure(makeRow({ id: 'sympos', class: 'c' }, k, gen('sympos'), r.results.get('sympos'), '')), 'loaded');
  assert.equal(firstFailure(makeRow({ id: 'static-locals', class: 'c' }, k, gen('static-locals'), r.results.get('static-locals'), '')), 'effect');
  const lost = makeRow({ id: 'syscall', class: 'c' }, k, gen('syscall'), undefined, 'the guest stopped before the end');
  assert.equal(firstFailure(lost), 'loaded');
  assert.deepEqual(lost.notes, ['the guest stopped before the end']);
  assert.equal(firstFailure(makeRow({ id: 'fuzz', class: 'c' }, k, gen('fuzz', false), undefined, 'x')), 'built');
});

test('the guest script runs every fixture in order and refuses names a shell would read as code', () => {
  const lines = guestScript(['binfmt_misc'], [
    { id: 'body-change', name: 'lp_a' },
    { id: 'sympos', name: 'lp_b' },
  ]);
  const runs = lines.filter((l) => l.startsWith('run_fixture '));
  assert.deepEqual(runs, ['run_fixture body-change lp_a', 'run_fixture sympos lp_b']);
  assert.ok(lines.some((l) => l.startsWith('insmod /mod/binfmt_misc.ko')));
  assert.equal(lines.at(-1), 'poweroff -f');
  assert.throws(() => guestScript([], [{ id: 'x;reboot', name: 'lp' }]), /unsafe/);
  assert.throws(() => guestScript([], [{ id: 'x', name: 'lp$(id)' }]), /unsafe/);
});

test('the transition timeline of a real 6.12 force (scenario 9): attempts from the function tracer, the holder, the force, the printed completion', async () => {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { FIXTURES } = await import('../helpers');
  const { parseTransitionGuest, timelineOf, predictionOf, agreement, agreementOverRuns, taskKey } = await import('../kernel/lib/transitions');
  const g = parseTransitionGuest(readFileSync(join(FIXTURES, 'kernel', '6.12-s9-force.serial'), 'utf8'));
  const s = g.scenarios.get('s9-force')!;
  assert.equal(s.removable, true);
  const t = timelineOf(s.dmesg, s.trace, 'lens_lp_sleep', 250);
  assert.equal(t.outcome, 'complete');
  assert.deepEqual(t.attempts, [0, 1671, 2666, 3655]);
  assert.equal(Math.round(t.completionMs!), 3655, 'the attempt that completed, not the later "patching complete" line');
  assert.equal(Math.round(t.completePrintedMs!), 4587);
  assert.equal(Math.round(t.actionMs!), 3313);
  assert.equal(t.holder, 'cat:1642');
  assert.equal(t.startJiffies, 4294905805 + Math.round(((54420.051 - 54292.887) * 250) / 1000));
  assert.equal(taskKey('pid 1642 cat'), 'cat:1642');
  assert.equal(taskKey('swapper/1'), 'swapper/1:0');
  const sim = predictionOf({ completed: true, completionTimeMs: 3600, removable: true, stalledTasks: [], heldBy: [{ task: 'pid 1642 cat', switchedAtMs: 3413 }, { task: 'swapper/1', switchedAtMs: 100 }] });
  assert.deepEqual(agreement(t, true, sim), { outcome: true, completion: true, signal: true, holder: true, removable: true });
  const late = agreement(t, true, { ...sim, completionMs: 3300 });
  assert.equal(late.completion, false, '355 ms off is outside ±250 ms');
  // Over many seeds: a run that agrees on everything counts, with its share; with none, the most frequent run's misses show.
  const other = { ...sim, holder: 'swapper/1:0' };
  const over = agreementOverRuns(t, true, [other, other, sim, { ...sim, completionMs: 3300 }]);
  assert.equal(over.share, 0.25);
  assert.equal(over.sim.holder, 'cat:1642');
  const none = agreementOverRuns(t, true, [other, other, { ...sim, completionMs: 3300 }]);
  assert.equal(none.share, 0);
  assert.deepEqual(none.agree, { outcome: true, completion: true, signal: true, holder: false, removable: true });
  assert.throws(() => timelineOf(s.dmesg, [], 'lens_lp_sleep', 250), /no klp_try_complete_transition call/);
});
