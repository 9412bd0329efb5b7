/**
 * The server in Neovim (Debian's 0.7.2, headless, its built-in LSP client):
 * diagnostics are pushed, with codes and positions, and document symbols
 * answer — the server follows LSP conventions outside VS Code too.
 * `npm run test:nvim`; .ci/run installs neovim.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const nvim = spawnSync('nvim', ['--version'], { encoding: 'utf8' });

test('Neovim 0.7 attached to klp-lens serve --stdio gets the hazards of a patch', { skip: nvim.status !== 0 && !process.env.CI ? 'nvim is not installed (apt-get install neovim)' : false }, () => {
  assert.equal(nvim.status, 0, 'nvim must be installed (apt-get install neovim)');
  assert.match(nvim.stdout, /NVIM v0\.\d+/);
  const out = join(mkdtempSync(join(tmpdir(), 'klp-nvim-')), 'result.json');
  const r = spawnSync('nvim', ['--headless', '--clean', '-c', `luafile ${join(ROOT, 'test', 'nvim', 'lsp.lua')}`], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 90_000,
    env: { ...process.env, KLP_ROOT: ROOT, KLP_PATCH: join(ROOT, 'examples', 'kthread-unpark.patch'), KLP_OUT: out, KLP_NODE: process.execPath },
  });
  assert.ok(existsSync(out), `nvim wrote no result (status ${r.status}): ${r.stderr}`);
  const res = JSON.parse(readFileSync(out, 'utf8')) as { error?: string; got: boolean; diagnostics: { lnum: number; col: number; severity: number; source: string; message: string; code?: string }[]; symbols: string[] };
  assert.equal(res.error, undefined, res.error);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(res.got, true, 'diagnostics arrived');
  const klp101 = res.diagnostics.find((d) => d.code === 'KLP101');
  assert.ok(klp101, JSON.stringify(res.diagnostics));
  assert.equal(klp101.severity, 1, 'error');
  assert.equal(klp101.source, 'livepatch-lens');
  assert.equal(klp101.lnum, 24, 'on the + line that adds the field (0-based)');
  assert.match(klp101.message, /struct kthread adds field offline_unparks/);
  assert.ok(res.diagnostics.some((d) => d.code === 'KLP190'));
  assert.ok(res.symbols.includes('kthread_unpark'), JSON.stringify(res.symbols));
});
