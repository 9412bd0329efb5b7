import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CODES, docsPath } from '../../server/src/core/codes';
import { ROOT } from '../helpers';

test('every diagnostic code has a docs page with why, an example, what to do and references', () => {
  assert.ok(CODES.size >= 11);
  for (const [code, info] of CODES) {
    const page = join(ROOT, docsPath(code));
    assert.ok(existsSync(page), `${page} missing`);
    const md = readFileSync(page, 'utf8');
    assert.match(md, new RegExp(`^# ${code} — `), `${code}: title`);
    assert.match(md, new RegExp('`' + info.category + '`'), `${code}: category ${info.category}`);
    for (const section of ['## Why', '## Example', '## What to do', '## References']) assert.ok(md.includes(section), `${code}: ${section}`);
  }
});

test('every error-severity hazard says why it is an error: the tools reject it, it cannot load, or it builds and is silently wrong', () => {
  const errors = [...CODES].filter(([, info]) => info.severity === 'error' && info.category !== 'input');
  assert.ok(errors.length >= 20, String(errors.length));
  for (const [code] of errors) {
    const md = readFileSync(join(ROOT, docsPath(code)), 'utf8');
    const why = /^\*\*Why an error:\*\* (.+)$/m.exec(md)?.[1];
    assert.ok(why, `${code}: no "**Why an error:**" line`);
    // the evidence: a tool's own message in backquotes, or what happens on the running kernel
    assert.match(why, /reject|cannot load|silently|never takes effect|refuse|stops|fails/, `${code}: ${why}`);
    assert.match(why, /kpatch-build|klp-build|klp_enable_patch|tools/, `${code}: names no tool: ${why}`);
  }
});

test('the extension settings and the server defaults name the same keys', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const all = Object.keys(pkg.contributes.configuration.properties).filter((k) => k !== 'livepatchLens.trace.server');
  // The simulation view's settings are the client's own (it sends them with each request).
  const keys = all.filter((k) => !k.startsWith('livepatchLens.simulation.'));
  const server = readFileSync(join(ROOT, 'server/src/lsp/server.ts'), 'utf8');
  const defaults = /const DEFAULTS: Settings = \{([^}]*)\}/.exec(server)?.[1] ?? '';
  const serverKeys = [...defaults.matchAll(/(\w+):/g)].map((m) => `livepatchLens.${m[1]}`);
  assert.deepEqual(keys.sort(), serverKeys.sort());
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  for (const k of all) assert.ok(readme.includes(k), `README documents ${k}`);
});
