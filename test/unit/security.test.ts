/**
 * Paths a patch names never reach outside the kernel tree, symlinks in the
 * tree are not followed out of it, `generate` writes only into its folder,
 * and nothing from an input is ever handed to a shell.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzePatch } from '../../server/src/core/analysis';
import { KernelTree } from '../../server/src/core/tree/kernelTree';
import { generateInto, GenerateError } from '../../server/src/services/generate';
import { fixture, ROOT, TREE_DIR } from '../helpers';

const DEMO = 'drivers/misc/lens_demo.c';

/** A copy of the fixture tree beside an `outside` folder holding a file the patch would apply to. */
function sandbox(): { dir: string; tree: string; outside: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'klp-sec-'));
  const tree = join(dir, 'linux');
  const outside = join(dir, 'outside');
  cpSync(TREE_DIR, tree, { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'lens_demo.c'), readFileSync(join(TREE_DIR, DEMO)));
  return { dir, tree, outside, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** plain-u.diff with its file path replaced. */
const patchFor = (path: string) => fixture('plain-u.diff').replace(/linux(\.orig)?\/drivers\/misc\/lens_demo\.c/g, (_m, orig) => (orig ? `a/${path}` : `b/${path}`));

async function codesFor(tree: KernelTree, path: string): Promise<string[]> {
  const a = await analyzePatch(patchFor(path), { tree });
  try {
    return a.findings.map((f) => f.code);
  } finally {
    a.dispose();
  }
}

test('the tree reader refuses .., absolute paths, NUL bytes and symlinks that leave the tree', () => {
  const s = sandbox();
  try {
    symlinkSync(join(s.outside, 'lens_demo.c'), join(s.tree, 'drivers/misc/lens_link.c'));
    symlinkSync(s.outside, join(s.tree, 'drivers/ext'));
    symlinkSync(join(s.tree, DEMO), join(s.tree, 'drivers/misc/lens_alias.c'));
    const t = KernelTree.open(s.tree).tree!;
    assert.ok(t.read(DEMO), 'a plain file of the tree is read');
    assert.ok(t.read('drivers/misc/lens_alias.c'), 'a symlink that stays inside the tree is read');
    for (const rel of ['../outside/lens_demo.c', join(s.outside, 'lens_demo.c'), 'drivers/misc/lens_link.c', 'drivers/ext/lens_demo.c', `${DEMO}\0`, 'drivers/misc/../../../outside/lens_demo.c']) {
      assert.equal(t.read(rel), undefined, `read ${JSON.stringify(rel)}`);
      assert.equal(t.exists(rel), false, `exists ${JSON.stringify(rel)}`);
    }
  } finally {
    s.cleanup();
  }
});

test('a patch naming a path outside the tree gets "missing from the tree", never the outside file', async () => {
  const s = sandbox();
  try {
    symlinkSync(join(s.outside, 'lens_demo.c'), join(s.tree, 'drivers/misc/lens_link.c'));
    symlinkSync(s.outside, join(s.tree, 'drivers/ext'));
    const t = KernelTree.open(s.tree).tree!;
    assert.ok(!(await codesFor(t, DEMO)).includes('KLP007'), 'the control patch applies to the tree');
    for (const path of ['drivers/misc/lens_link.c', 'drivers/ext/lens_demo.c', '../outside/lens_demo.c']) {
      const codes = await codesFor(t, path);
      assert.ok(codes.includes('KLP007'), `${path}: ${codes.join(' ')}`);
    }
  } finally {
    s.cleanup();
  }
});

test('generate writes only its folder, whatever the diff headers say, and does not write through a symlink there', async () => {
  const s = sandbox();
  try {
    const tree = KernelTree.open(s.tree).tree!;
    const before = readdirSync(s.dir).sort();
    const text = patchFor(DEMO).replace(`+++ b/${DEMO}`, '+++ b/../../../outside/evil.c');
    const out = join(s.dir, 'out');
    const r = await generateInto({ text, source: 'p.patch', tree, out, options: {}, generator: 'test' });
    assert.ok(r.written.length > 0);
    for (const w of r.written) assert.ok(w.startsWith(out + '/'), w);
    assert.deepEqual(readdirSync(s.dir).sort(), [...before, 'out'].sort());
    assert.deepEqual(readdirSync(s.outside), ['lens_demo.c']);
    // a planted link in the output folder: refused, the file it points to untouched
    const victim = join(s.outside, 'lens_demo.c');
    const old = readFileSync(victim, 'utf8');
    const out2 = join(s.dir, 'out2');
    mkdirSync(out2);
    symlinkSync(victim, join(out2, 'livepatch-main.c'));
    await assert.rejects(generateInto({ text: patchFor(DEMO), source: 'p.patch', tree, out: out2, options: {}, generator: 'test' }), (e: unknown) => e instanceof GenerateError && /symbolic link/.test(e.message));
    assert.equal(readFileSync(victim, 'utf8'), old);
  } finally {
    s.cleanup();
  }
});

test('no shell is started: every child process is a fixed program with an argument list', () => {
  const src = join(ROOT, 'server', 'src');
  const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  const calls: string[] = [];
  for (const f of files) {
    const text = readFileSync(join(src, f), 'utf8');
    assert.doesNotMatch(text, /(?<![.\w])(exec|execSync)\s*\(|shell\s*:\s*true|new Function\s*\(|(?<![.\w])eval\s*\(/, f);
    for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'(?:node:)?child_process'/g)) assert.match(m[1].trim(), /^(spawnSync|spawn)$/, `${f} imports ${m[1]} from child_process`);
    for (const m of text.matchAll(/\b(spawn|spawnSync|execFile|execFileSync|fork)\s*\(\s*([^,)]*)/g)) calls.push(`${f}: ${m[1]}(${m[2]})`);
  }
  // the capture snapshot (a script bundled with the CLI, fed on stdin) and kbuild
  assert.deepEqual(calls.sort(), ["cli/capture.ts: spawnSync('sh')", "services/generate.ts: spawnSync('make')"]);
});
