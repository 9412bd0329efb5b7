/**
 * Rewriting a patch from edits to its post-image: every result must apply to
 * the tree with `git apply` and produce exactly the edited file; hunks the
 * edits do not touch stay as they were.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzePatch } from '../../server/src/core/analysis';
import { applyDocChanges, FixError, rewriteFile, type PostEdit } from '../../server/src/core/fixes/patchEdit';
import type { FileChange } from '../../server/src/core/patch/images';
import { KernelTree } from '../../server/src/core/tree/kernelTree';
import { fixture, fixtureTree, TREE_DIR } from '../helpers';

/** `git apply` the patch to a copy of a tree (the fixture tree by default); the patched file's text, or the error. */
function gitApply(patch: string, path: string, from = TREE_DIR): { ok: boolean; text?: string; err: string } {
  const dir = mkdtempSync(join(tmpdir(), 'klp-lens-apply-'));
  cpSync(from, dir, { recursive: true });
  writeFileSync(join(dir, 'x.patch'), patch);
  const r = spawnSync('git', ['apply', '--whitespace=nowarn', 'x.patch'], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, err: r.stderr };
  return { ok: true, text: readFileSync(join(dir, path), 'utf8'), err: '' };
}

async function setup(name: string, withTree: boolean, tree = fixtureTree()) {
  const text = fixture(name);
  const a = await analyzePatch(text, withTree ? { tree } : {});
  a.dispose();
  const fc = a.files[0] as FileChange;
  /** Post-image line holding `needle`. */
  const at = (needle: string) => {
    const k = fc.post.lines.findIndex((l) => l !== undefined && l.includes(needle));
    assert.ok(k >= 0, needle);
    return k;
  };
  const rewrite = (edits: PostEdit[]) => {
    const r = rewriteFile(a.set, fc, edits);
    return { ...r, patch: applyDocChanges(a.set.lines, [r.change]).join('\n') };
  };
  return { text, set: a.set, fc, at, rewrite };
}

const PATH = 'drivers/misc/lens_demo.c';

for (const withTree of [true, false]) {
  const mode = withTree ? 'with the tree' : 'from the hunks';

  test(`${mode}: replacing, inserting and removing + lines; the result applies and gives the edited file`, async () => {
    const s = await setup('body-struct-key.patch', withTree);
    const expected = gitApply(s.text, PATH);
    assert.ok(expected.ok, expected.err);
    // 1) replace a + line, insert after another, remove the struct field line
    const r = s.rewrite([
      { line: s.at('r->dev->nr_errors++;'), remove: 1, insert: ['\t\tpr_debug("lens: negative offset\\n");'] },
      { line: s.at('return -EINVAL;') + 1, remove: 0, insert: ['\t\t/* nothing was read */'] },
      { line: s.at('unsigned int nr_errors;'), remove: 1, insert: [] },
    ]);
    const got = gitApply(r.patch, PATH);
    assert.ok(got.ok, `${got.err}\n${r.patch}`);
    const want = expected.text!
      .replace('\t\tr->dev->nr_errors++;\n', '\t\tpr_debug("lens: negative offset\\n");\n')
      .replace('\t\treturn -EINVAL;\n', '\t\treturn -EINVAL;\n\t\t/* nothing was read */\n')
      .replace('\tunsigned int nr_errors;\n', '');
    assert.equal(got.text, want);
    // the struct hunk had only that + line: it is gone; the untouched static-key hunk is copied as it was
    assert.doesNotMatch(r.patch, /@@ -21,6 \+21,7 @@ struct lens_dev/);
    assert.match(r.patch, /@@ -35,6 \+35,7 @@ static int lens_verbose;\n module_param\(lens_verbose, int, 0644\);\n \n static DEFINE_STATIC_KEY_FALSE\(lens_trace_key\);\n\+DEFINE_STATIC_KEY_FALSE\(lens_debug_key\);/);
    // the mail around the diff is untouched
    assert.ok(r.patch.startsWith(s.text.slice(0, s.text.indexOf('diff --git'))));
    assert.ok(r.patch.endsWith('-- \n2.39.5\n'));
  });

  test(`${mode}: editing a context line turns it into a removed and an added line`, async () => {
    const s = await setup('body-struct-key.patch', withTree);
    const k = s.at('pr_info("lens: read %lu\\n", calls);');
    const r = s.rewrite([{ line: k, remove: 1, insert: ['\t\tpr_info("lens: read %lu calls\\n", calls);'] }]);
    assert.match(r.patch, /\n-\t\tpr_info\("lens: read %lu\\n", calls\);\n\+\t\tpr_info\("lens: read %lu calls\\n", calls\);\n/);
    const got = gitApply(r.patch, PATH);
    assert.ok(got.ok, got.err);
    assert.match(got.text!, /read %lu calls/);
  });

  test(`${mode}: removing every change of the file drops its section`, async () => {
    const s = await setup('body-struct-key.patch', withTree);
    const plus = s.fc.post.lines.flatMap((l, i) => (l !== undefined && s.fc.post.changed[i] ? [i] : []));
    const edits: PostEdit[] = [];
    for (const i of plus) edits.push({ line: i, remove: 1, insert: [] });
    const r = s.rewrite(edits);
    assert.equal(r.change.lines.length, 0);
    assert.doesNotMatch(r.patch, /diff --git/);
  });
}

test('with the tree: an edit far from every hunk gets its own hunk; one next to a hunk joins it', async () => {
  const s = await setup('body-struct-key.patch', true);
  const far = s.at('lens_device = kzalloc(sizeof(*lens_device), GFP_KERNEL);');
  let r = s.rewrite([{ line: far, remove: 0, insert: ['\tpr_info("lens: init\\n");'] }]);
  let got = gitApply(r.patch, PATH);
  assert.ok(got.ok, `${got.err}\n${r.patch}`);
  assert.match(got.text!, /static int __init lens_init\(void\)\n\{\n\tpr_info\("lens: init\\n"\);\n\tlens_device = kzalloc/);
  // a new hunk: three lines of context, git's heading (the last line before it that starts a declaration)
  assert.match(r.patch, /@@ -120,6 \+126,7 @@ EXPORT_SYMBOL_GPL\(lens_put\);\n \n static int __init lens_init\(void\)\n \{\n\+\tpr_info\("lens: init\\n"\);\n/);
  assert.equal((r.patch.match(/^@@ /gm) ?? []).length, 4);
  // two lines below the read hunk's last line: merged into that hunk
  const near = s.at('return simple_read_from_buffer(buf, count, ppos, tmp, len);');
  r = s.rewrite([{ line: near + 2, remove: 0, insert: ['/* end of reads */'] }]);
  got = gitApply(r.patch, PATH);
  assert.ok(got.ok, `${got.err}\n${r.patch}`);
  assert.equal((r.patch.match(/^@@ /gm) ?? []).length, 3);
  assert.match(got.text!, /return simple_read_from_buffer\(buf, count, ppos, tmp, len\);\n\}\n\/\* end of reads \*\/\n\n/);
});

test('from the hunks: an edit outside the hunks is refused with the reason', async () => {
  const s = await setup('body-struct-key.patch', false);
  const firstUnknown = s.fc.post.lines.findIndex((l) => l === undefined);
  assert.throws(() => s.rewrite([{ line: firstUnknown + 1, remove: 1, insert: ['x'] }]), (e: Error) => e instanceof FixError && /not in the patch's hunks; a kernel tree is needed/.test(e.message));
});

// the no-newline fixture was made against the demo file without its final newline
const NO_EOL_TREE = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'klp-lens-noeol-'));
  cpSync(TREE_DIR, dir, { recursive: true });
  const f = join(dir, PATH);
  writeFileSync(f, readFileSync(f, 'utf8').replace(/\n$/, ''));
  return dir;
})();

for (const withTree of [true, false]) {
  test(`${withTree ? 'with the tree' : 'from the hunks'}: the last line without a newline keeps its marker`, async () => {
    const s = await setup('no-newline.diff', withTree, KernelTree.open(NO_EOL_TREE).tree!);
    assert.ok(gitApply(s.text, PATH, NO_EOL_TREE).ok, 'the fixture applies');
    const k = s.at('MODULE_DESCRIPTION(');
    const r = s.rewrite([{ line: k, remove: 1, insert: ['MODULE_DESCRIPTION("Lens demo driver");'] }]);
    assert.match(r.patch, /\+MODULE_DESCRIPTION\("Lens demo driver"\);\n\\ No newline at end of file/);
    const got = gitApply(r.patch, PATH, NO_EOL_TREE);
    assert.ok(got.ok, `${got.err}\n${r.patch}`);
    assert.ok(got.text!.endsWith('MODULE_DESCRIPTION("Lens demo driver");'));
    // a line added before the last one: the marker stays on the last line only
    const r2 = s.rewrite([{ line: k, remove: 0, insert: ['MODULE_AUTHOR("Jane");'] }]);
    const got2 = gitApply(r2.patch, PATH, NO_EOL_TREE);
    assert.ok(got2.ok, `${got2.err}\n${r2.patch}`);
    assert.ok(got2.text!.endsWith('MODULE_AUTHOR("Jane");\nMODULE_DESCRIPTION("Lens demo character device driver");'));
  });
}

test('a file changed by several patches of a series is not edited', async () => {
  const text = fixture('series.mbox');
  const a = await analyzePatch(text, {});
  a.dispose();
  const multi = a.files.find((f) => f.diffs.length > 1);
  assert.ok(multi, 'the series changes one file twice');
  assert.throws(() => rewriteFile(a.set, multi, [{ line: 0, remove: 0, insert: [] }]), /changed by 2 patches of the series/);
});
