/**
 * out/cli.js keeps a V8 code cache of the bundle per build of it: a start after the first reads it,
 * and the folder keeps only the newest few (every rebuild or upgrade has its own key).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers';

const CLI = join(ROOT, 'out', 'cli.js');
const PATCH = join(ROOT, 'examples', 'kthread-unpark.patch');

test('the compile cache: written on the first start, read on the next, older builds pruned to the newest four', () => {
  const home = mkdtempSync(join(tmpdir(), 'klp-lens-cache-'));
  const dir = join(home, 'livepatch-lens', 'compile');
  try {
    mkdirSync(dir, { recursive: true });
    // six caches of earlier builds, oldest first
    for (let i = 0; i < 6; i++) {
      const f = join(dir, `klp-lens-v20.0.0-${1000 + i}-${i}.v8cache`);
      writeFileSync(f, 'stale');
      utimesSync(f, 1_700_000_000 + i, 1_700_000_000 + i);
    }
    writeFileSync(join(dir, 'notes.txt'), 'not a cache');
    const env = { ...process.env, XDG_CACHE_HOME: home };
    const run = () => spawnSync(process.execPath, [CLI, 'check', PATCH, '--no-tree', '--exit-zero'], { encoding: 'utf8', env });
    const first = run();
    assert.equal(first.status, 0, first.stderr);
    const after = readdirSync(dir).sort();
    const ours = after.filter((f) => f.endsWith('.v8cache') && !f.startsWith('klp-lens-v20.0.0-'));
    assert.equal(ours.length, 1, after.join(' '));
    // ours and the three newest stale ones; other files are left alone
    assert.deepEqual(after.filter((f) => f.startsWith('klp-lens-v20.0.0-')), ['klp-lens-v20.0.0-1003-3.v8cache', 'klp-lens-v20.0.0-1004-4.v8cache', 'klp-lens-v20.0.0-1005-5.v8cache']);
    assert.ok(after.includes('notes.txt'));
    const second = run();
    assert.equal(second.stdout, first.stdout, 'the same answer from the cached code');
    assert.deepEqual(readdirSync(dir).sort(), after, 'a start that reads the cache writes nothing');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
