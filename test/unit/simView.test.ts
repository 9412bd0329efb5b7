/**
 * The simulation view's parts that run outside VS Code: message validation
 * (webview messages are untrusted), the page's CSP, and the markup the view
 * renders from real simulation results.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseViewMessage } from '../../client/src/simView/messages';
import { viewHtml, makeNonce } from '../../client/src/simView/page';
import { renderView, renderTimeline, renderFleet, esc, type ViewState } from '../../client/src/simView/render';
import { simulate } from '../../server/src/core/sim/simulate';
import { runMachines, summarize } from '../../server/src/core/sim/fleet';
import { SCENARIOS } from '../sim/scenarios';

const allowed = { profiles: ['idle-server', 'web-server-64'], kernels: ['5.1', '6.1'], arches: ['x86_64', 'ppc64le'], models: ['hybrid', 'kpatch'] };

test('webview messages: the ones the view sends pass, anything else is dropped', () => {
  assert.deepEqual(parseViewMessage({ type: 'run', model: 'web-server-64', kernel: '', arch: 'ppc64le', seed: 7 }, allowed), { type: 'run', model: 'web-server-64', kernel: '', arch: 'ppc64le', seed: 7 });
  assert.deepEqual(parseViewMessage({ type: 'select', model: 'kpatch' }, allowed), { type: 'select', model: 'kpatch' });
  assert.deepEqual(parseViewMessage({ type: 'reveal', fn: 'lens_fifo_read' }, allowed), { type: 'reveal', fn: 'lens_fifo_read' });
  assert.deepEqual(parseViewMessage({ type: 'ready' }, allowed), { type: 'ready' });
  for (const bad of [
    null,
    'run',
    [],
    { type: 'run', model: '/etc/passwd.klpmodel.json', kernel: '', arch: '', seed: 1 },
    { type: 'run', model: 'idle-server', kernel: '9.9', arch: '', seed: 1 },
    { type: 'run', model: 'idle-server', kernel: '', arch: 'vax', seed: 1 },
    { type: 'run', model: 'idle-server', kernel: '', arch: '', seed: -1 },
    { type: 'run', model: 'idle-server', kernel: '', arch: '', seed: 1.5 },
    { type: 'run', model: 'idle-server', kernel: '', arch: '', seed: 1, fleet: 1e9 },
    { type: 'select', model: 'rm -rf' },
    { type: 'reveal', fn: '<img src=x onerror=alert(1)>' },
    { type: 'reveal', fn: 'a'.repeat(500) },
    { type: 'fleet', machines: 10_000_000 },
    { type: 'eval', code: '1' },
  ])
    assert.equal(parseViewMessage(bad, allowed), undefined, JSON.stringify(bad));
});

test('the page: default-src none, our script only by nonce, no remote content', () => {
  const n = makeNonce((k) => new Uint8Array(k).map((_, i) => i * 7));
  assert.equal(n.length, 32);
  const html = viewHtml('https://file+.vscode-resource.vscode-cdn.net', 'https://file+.vscode-resource.vscode-cdn.net/ext/out/media/simView.js', 'https://file+.vscode-resource.vscode-cdn.net/ext/client/media/simView.css', n);
  const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)![1];
  assert.match(csp, /^default-src 'none'/);
  assert.match(csp, new RegExp(`script-src 'nonce-${n}'`));
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
  assert.equal((html.match(/<script/g) ?? []).length, 1);
  assert.match(html, new RegExp(`<script nonce="${n}" src="[^"]+simView\\.js"></script>`));
  assert.doesNotMatch(html, /http:\/\//);
});

function state(extra: Partial<ViewState> = {}): ViewState {
  return { patch: 'sleeping-read.patch', model: 'idle-server', kernel: '', arch: '', seed: 7, profiles: ['idle-server'], kernels: ['6.1'], arches: ['x86_64'], running: false, notes: [], locations: { f: 12 }, ...extra };
}

test('the view: a row per model, the timeline of the chosen model with its lanes and markers, violations with links to the patch', () => {
  // Kernel 5.16: before 5.18 a forced patch can never be removed, so the table says so.
  const result = simulate({ ...SCENARIOS.force(), kernel: '5.16' }, { seed: 7, trace: true });
  const html = renderView(state({ result, selected: 'hybrid', notes: ['T is parked in f'] }));
  for (const m of result.models) assert.match(html, new RegExp(`<tr data-model="${m.name}"`));
  assert.match(html, /<tr data-model="hybrid" class="selected">/);
  assert.match(html, /no \(forced\)/, 'hybrid after force: the module cannot be removed');
  assert.match(html, /<svg class="timeline"/);
  assert.match(html, /<text class="lane-label"[^>]*>T<\/text>/);
  assert.match(html, /class="s-pending"/);
  assert.match(html, /class="s-new"/);
  assert.match(html, /class="mark m-force"/);
  assert.match(html, /<span class="viol v-U">U<\/span> <strong>T<\/strong> at 5\.0 s — <a href="#" class="reveal" data-fn="f">f \(old\)<\/a>/);
  assert.match(html, /How the machine was built from the patch \(1\)/);
});

test('the view escapes every string from the data', () => {
  const spec = SCENARIOS.sleepInF();
  spec.tasks[2] = { ...spec.tasks[2], name: '<img src=x onerror=alert(1)>' };
  const result = simulate(spec, { seed: 1, trace: true, models: ['hybrid'] });
  const html = renderView(state({ result, patch: '"><script>alert(1)</script>', error: '<b>boom</b>' }));
  assert.doesNotMatch(html, /<img src=x/);
  assert.doesNotMatch(html, /<script>/);
  assert.match(html, /&lt;img src=x onerror=alert\(1\)&gt;/);
  assert.equal(esc(`<&"'>`), '&lt;&amp;&quot;&#39;&gt;');
});

test('timeline without trace data says so; the fleet view draws one histogram per model', () => {
  const r = simulate(SCENARIOS.idle(), { seed: 1, models: ['hybrid'] });
  assert.match(renderTimeline(r.models[0], 60_000), /No timeline for hybrid/);
  const models = ['hybrid', 'kpatch'] as const;
  const f = summarize(runMachines({ kind: 'model', spec: SCENARIOS.sleepInF() }, 1, [...models], 0, 12), [...models], 1);
  const html = renderFleet(f);
  assert.equal((html.match(/<svg viewBox="[^"]+" class="hist"/g) ?? []).length, 2);
  assert.match(html, /<strong>kpatch<\/strong>.*load failed 100\.0%/);
  assert.match(html, /not done: 12 machines/, 'every kpatch machine failed: all in the last bucket');
});

test('a fleet run can be cancelled: the workers stop and the promise says so', async () => {
  const { runFleet } = await import('../../server/src/core/sim/fleetPool');
  const { CancelledError } = await import('../../server/src/core/cancel');
  const { join } = await import('node:path');
  const { ROOT } = await import('../helpers');
  const ac = new AbortController();
  const q = runFleet({ kind: 'model', spec: SCENARIOS.sleepInF() }, { machines: 5000, seed: 1, models: ['hybrid'], threads: 2, workerFile: join(ROOT, 'out', 'simWorker.js'), signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  const t = Date.now();
  await assert.rejects(q, (e: Error) => e instanceof CancelledError);
  assert.ok(Date.now() - t < 5000, 'stopped, not run to the end');
});

test('one run on a worker thread gives the same result as inline, and an abort stops it', async () => {
  const { simulateInWorker } = await import('../../server/src/core/sim/fleetPool');
  const { CancelledError } = await import('../../server/src/core/cancel');
  const { join } = await import('node:path');
  const { ROOT } = await import('../helpers');
  const { builtinProfile } = await import('../../server/src/core/sim/profiles');
  const workerFile = join(ROOT, 'out', 'simWorker.js');
  const spec = SCENARIOS.dataSemantics();
  const inWorker = await simulateInWorker(spec, { seed: 9, models: ['hybrid', 'kpatch'], trace: true, workerFile });
  assert.deepEqual(inWorker, simulate(spec, { seed: 9, models: ['hybrid', 'kpatch'], trace: true }));
  const big = builtinProfile('web-server-64', { patch: { functions: ['tcp_sendmsg_locked'], dataSemantics: true } });
  const ac = new AbortController();
  const p = simulateInWorker(big, { seed: 1, models: ['null', 'hybrid', 'kgraft', 'kpatch', 'ksplice'], trace: true, workerFile, signal: ac.signal });
  setTimeout(() => ac.abort(), 20);
  await assert.rejects(p, (e: Error) => e instanceof CancelledError);
});

test('the view: a reverse that completed reads as reversed, not stuck', () => {
  const spec = { ...SCENARIOS.reverse(), cpus: 2, timing: { idleWakeMs: 100 } };
  const result = simulate(spec, { seed: 7 });
  const html = renderView(state({ result }));
  const row = html.split('<tr data-model="hybrid"')[1].split('</tr>')[0];
  assert.match(row, /reversed, back in/);
  assert.doesNotMatch(row, /stuck/);
});
