/**
 * End to end in real VS Code: code-server 4.100.3 (VS Code 1.100.3) driven by
 * Debian's chromium through playwright-core. Installs the built .vsix into a
 * fresh extensions folder, opens a workspace with fixture patches, and checks
 * what a user sees: the Problems entries, a quick fix applied to the text,
 * and the simulation view (table and timeline), with screenshots in light and
 * dark themes saved to e2e-artifacts/.
 *
 * `npm run test:e2e` packages the extension and runs scripts/e2e-setup.sh
 * first (the install is cached outside the repo, KLP_E2E_CACHE).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const CACHE = process.env.KLP_E2E_CACHE ?? join(homedir(), '.cache', 'livepatch-lens-e2e');
const CS = join(CACHE, 'node_modules', '.bin', 'code-server');
const VSIX = join(ROOT, 'livepatch-lens.vsix');
const ARTIFACTS = join(ROOT, 'e2e-artifacts');

import { chromium, type Browser, type Page } from 'playwright-core';

const ready = existsSync(CS) && existsSync(VSIX);
const skip = ready ? false : `run npm run test:e2e (needs ${existsSync(VSIX) ? '' : 'livepatch-lens.vsix, '}code-server in ${CACHE})`;

let extensions = '';
let workspace = '';
let browser: Browser | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

async function startCodeServer(theme: string, restricted = false): Promise<{ cs: ChildProcess; url: string; log: () => string }> {
  const data = mkdtempSync(join(tmpdir(), 'klp-e2e-data-'));
  mkdirSync(join(data, 'User'), { recursive: true });
  writeFileSync(
    join(data, 'User', 'settings.json'),
    JSON.stringify({
      'workbench.colorTheme': theme,
      'workbench.startupEditor': 'none',
      // Restricted Mode: trust on, the folder untrusted, no start-up prompt (the user chose "No, I don't trust")
      'security.workspace.trust.enabled': restricted,
      ...(restricted ? { 'security.workspace.trust.startupPrompt': 'never', 'security.workspace.trust.untrustedFiles': 'open' } : {}),
      'livepatchLens.debounceMs': 50,
      'editor.minimap.enabled': false,
    }),
  );
  const port = await freePort();
  const trustArgs = restricted ? [] : ['--disable-workspace-trust'];
  const cs = spawn(CS, ['--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--user-data-dir', data, '--extensions-dir', extensions, '--disable-telemetry', '--disable-update-check', ...trustArgs, workspace], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  cs.stdout!.on('data', (d) => (log += d));
  cs.stderr!.on('data', (d) => (log += d));
  const deadline = Date.now() + 60_000;
  while (!/HTTP server listening/.test(log)) {
    if (Date.now() > deadline || cs.exitCode !== null) throw new Error(`code-server did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { cs, url: `http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`, log: () => log };
}

async function openWorkbench(url: string): Promise<Page> {
  const page = await browser!.newPage({ viewport: { width: 1600, height: 1000 } });
  await page.goto(url);
  await page.waitForSelector('.monaco-workbench', { timeout: 90_000 });
  await page.waitForSelector('.statusbar', { timeout: 30_000 });
  return page;
}

/** Types into the quick input opened by `key` and takes the row that shows `row`. */
async function quickInput(page: Page, key: string, text: string, row: string): Promise<void> {
  await page.keyboard.press(key);
  await page.waitForSelector('.quick-input-widget:not([style*="display: none"]) input', { timeout: 10_000 });
  await page.keyboard.type(text, { delay: 10 });
  await page.waitForSelector(`.quick-input-list .monaco-list-row:has-text("${row}")`, { timeout: 15_000 });
  await page.keyboard.press('Enter');
}

async function command(page: Page, name: string): Promise<void> {
  await quickInput(page, 'F1', `>${name}`, name);
}

async function openFile(page: Page, name: string): Promise<void> {
  await quickInput(page, 'Control+P', name, name);
  await page.waitForSelector(`.tab.active:has-text("${name}")`, { timeout: 15_000 });
}

/** The simulation view's document: webview content sits in nested iframes. */
async function simulationFrame(page: Page, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const f of page.frames()) {
      const has = await f.$('table.compare').catch(() => null);
      if (has) return f;
    }
    await page.waitForTimeout(300);
  }
  throw new Error('the simulation view did not show its table');
}

before(async () => {
  if (skip) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  extensions = mkdtempSync(join(tmpdir(), 'klp-e2e-ext-'));
  const inst = spawnSync(CS, ['--install-extension', VSIX, '--extensions-dir', extensions], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(inst.status, 0, inst.stderr + inst.stdout);
  workspace = mkdtempSync(join(tmpdir(), 'klp-e2e-ws-'));
  copyFileSync(join(ROOT, 'examples', 'kthread-unpark.patch'), join(workspace, 'kthread-unpark.patch'));
  copyFileSync(join(ROOT, 'test', 'fixtures', 'patches', 'body-struct-key.patch'), join(workspace, 'trace-key.patch'));
  copyFileSync(join(ROOT, 'test', 'fixtures', 'patches', 'sim-sleeping-func.patch'), join(workspace, 'sleeping-read.patch'));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
});

after(async () => {
  await browser?.close();
  if (extensions) rmSync(extensions, { recursive: true, force: true });
});

test('VS Code: the Problems view lists the hazards, the status bar counts them, a quick fix edits the patch', { skip, timeout: 240_000 }, async () => {
  const { cs, url, log } = await startCodeServer('Default Dark Modern');
  let page: Page | undefined;
  try {
    page = await openWorkbench(url);
    await openFile(page, 'kthread-unpark.patch');
    await page.keyboard.press('Control+Shift+M');
    const row = page.locator('.markers-panel .monaco-list-row', { hasText: 'struct kthread adds field offline_unparks' });
    await row.first().waitFor({ timeout: 60_000 });
    const problems = (await page.locator('.markers-panel .monaco-list-row').allTextContents()).join('\n');
    assert.match(problems, /KLP101/);
    assert.match(problems, /KLP190/);
    // The status bar item counts this patch's hazards (its accessible label says them in words).
    await page.locator('[aria-label^="Livepatch hazards in this patch: 1 error, 0 warnings, 4 notes"]').first().waitFor({ timeout: 20_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'problems-dark.png') });
    // A quick fix from the lightbulb: the jump label on an existing key (KLP190) → static_key_enabled().
    await openFile(page, 'trace-key.patch');
    const marker = page.locator('.markers-panel .monaco-list-row', { hasText: 'lens_trace_key' });
    await marker.first().waitFor({ timeout: 60_000 });
    await marker.first().dblclick(); // reveals the line in the editor and focuses it
    await page.waitForTimeout(500);
    await page.keyboard.press('Control+.');
    const action = page.locator('.action-widget .monaco-list-row', { hasText: 'Use static_key_enabled(&lens_trace_key)' });
    await action.first().waitFor({ timeout: 20_000 });
    // Walk the list with the keyboard to the fix (a click races the widget's layout).
    for (let i = 0; i < 10 && !(await action.first().getAttribute('class'))?.includes('focused'); i++) await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    const file = join(workspace, 'trace-key.patch');
    await page.waitForTimeout(1000);
    await page.keyboard.press('Control+S');
    const deadline = Date.now() + 20_000;
    while (!readFileSync(file, 'utf8').includes('static_key_enabled(&lens_trace_key)') && Date.now() < deadline) await page.waitForTimeout(300);
    const text = readFileSync(file, 'utf8');
    assert.match(text, /^\+.*static_key_enabled\(&lens_trace_key\)/m);
    assert.doesNotMatch(text, /^\+.*static_branch_unlikely\(&lens_trace_key\)/m);
  } catch (e) {
    await page?.screenshot({ path: join(ARTIFACTS, 'failure-problems.png') }).catch(() => undefined);
    throw new Error(`${(e as Error).message}\n--- code-server log ---\n${log().slice(-3000)}`);
  } finally {
    cs.kill();
  }
});

for (const [theme, name] of [
  ['Default Light Modern', 'light'],
  ['Default Dark Modern', 'dark'],
] as const) {
  test(`VS Code (${name} theme): Livepatch: Simulate Patch shows the model table and the timeline`, { skip, timeout: 240_000 }, async () => {
    const { cs, url, log } = await startCodeServer(theme);
    let page: Page | undefined;
    try {
      page = await openWorkbench(url);
      const cls = name === 'light' ? '.monaco-workbench.vs' : '.monaco-workbench.vs-dark';
      await page.waitForSelector(cls, { timeout: 30_000 });
      await openFile(page, 'sleeping-read.patch');
      // The code lens at the top of the patch offers the simulation.
      await page.locator('.codelens-decoration', { hasText: 'Simulate the transition' }).first().waitFor({ timeout: 60_000 });
      await page.keyboard.press('Control+B'); // the side bar away: room for the view
      await command(page, 'Livepatch: Simulate Patch');
      const frame = await simulationFrame(page);
      await frame.waitForSelector('svg.timeline', { timeout: 30_000 });
      const rows = await frame.$$eval('table.compare tbody tr', (trs) => trs.map((tr) => (tr as unknown as { innerText: string }).innerText.replace(/\s+/g, ' ')));
      assert.equal(rows.length, 8, rows.join('\n'));
      assert.match(rows.find((r) => r.startsWith('hybrid'))!, /done in 15\.9 s/);
      assert.match(rows.find((r) => r.startsWith('kpatch'))!, /load failed/);
      assert.match(rows.find((r) => r.startsWith('ksplice'))!, /load failed/);
      const lanes = await frame.$$eval('svg.timeline .lane-label', (ts) => ts.map((t) => t.textContent));
      assert.equal(lanes[0], 'lens_fifo_read-sleeper');
      await page.waitForTimeout(500);
      await page.screenshot({ path: join(ARTIFACTS, `simulation-${name}.png`) });
      // A violation's link reveals the patched function in the patch: the null model's U on lens_fifo_read.
      await frame.click('a.pick[data-model="null"]');
      const link = await frame.waitForSelector('a.reveal[data-fn="lens_fifo_read"]', { timeout: 20_000 });
      await link.click();
      await page.locator('.statusbar-item', { hasText: 'Ln 30, Col 1' }).first().waitFor({ timeout: 20_000 });
      await frame.$eval('svg.timeline', (e) => e.scrollIntoView());
      await page.waitForTimeout(300);
      await page.screenshot({ path: join(ARTIFACTS, `simulation-timeline-${name}.png`) });
      if (name === 'dark') {
        // An edit to the patch refreshes the view (debounced): one more run.
        assert.equal(await frame.$eval('table.compare', (e) => e.getAttribute('data-run')), '1');
        await page.locator('.monaco-editor .view-lines').first().click();
        await page.keyboard.press('Control+End');
        await page.keyboard.type('\n');
        await frame.waitForSelector('table.compare[data-run="2"]', { timeout: 30_000 });
        // The fleet: a histogram per model.
        await frame.click('#fleet');
        await frame.waitForSelector('svg.hist', { timeout: 120_000 });
        assert.equal((await frame.$$('svg.hist')).length, 8);
        await frame.$eval('.fleet', (e) => e.scrollIntoView());
        await page.waitForTimeout(300);
        await page.screenshot({ path: join(ARTIFACTS, 'simulation-fleet-dark.png') });
      }
    } catch (e) {
      await page?.screenshot({ path: join(ARTIFACTS, `failure-simulation-${name}.png`) }).catch(() => undefined);
      throw new Error(`${(e as Error).message}\n--- code-server log ---\n${log().slice(-3000)}`);
    } finally {
      cs.kill();
    }
  });
}

test('VS Code in Restricted Mode: diagnostics appear, and Generate Module asks for trust instead of writing', { skip, timeout: 240_000 }, async () => {
  const { cs, url, log } = await startCodeServer('Default Dark Modern', true);
  let page: Page | undefined;
  try {
    page = await openWorkbench(url);
    // the workbench says it is in Restricted Mode
    await page.locator('.statusbar-item', { hasText: 'Restricted Mode' }).first().waitFor({ timeout: 30_000 });
    await openFile(page, 'kthread-unpark.patch');
    await page.keyboard.press('Control+Shift+M');
    await page.locator('.markers-panel .monaco-list-row', { hasText: 'struct kthread adds field offline_unparks' }).first().waitFor({ timeout: 60_000 });
    const problems = (await page.locator('.markers-panel .monaco-list-row').allTextContents()).join('\n');
    assert.match(problems, /KLP101/);
    await command(page, 'Livepatch: Generate Module');
    const toast = page.locator('.notification-toast', { hasText: 'needs a trusted workspace' });
    await toast.first().waitFor({ timeout: 20_000 });
    assert.match(await toast.first().innerText(), /Generating a module writes files and runs kbuild \(make\), so it needs a trusted workspace/);
    assert.ok(await toast.locator('a.monaco-button, .monaco-button', { hasText: 'Manage Workspace Trust' }).count() > 0, 'the message offers Manage Workspace Trust');
    await page.screenshot({ path: join(ARTIFACTS, 'restricted-mode.png') });
  } catch (e) {
    await page?.screenshot({ path: join(ARTIFACTS, 'failure-restricted.png') }).catch(() => undefined);
    throw new Error(`${(e as Error).message}\n--- code-server log ---\n${log().slice(-3000)}`);
  } finally {
    cs.kill();
  }
});
