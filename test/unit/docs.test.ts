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
