import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePatch } from '../../server/src/core/patch/parse';
import { buildImages } from '../../server/src/core/patch/images';
import { fixture, fixtureTree, TREE_DIR, docLine } from '../helpers';

const demoPath = 'drivers/misc/lens_demo.c';
const demo = () => readFileSync(join(TREE_DIR, demoPath), 'utf8').split('\n').slice(0, -1);

test('with a tree: the post-image is the tree file with the patch applied, lines mapped to the document', () => {
  const text = fixture('body-struct-key.patch');
  const set = parsePatch(text);
  const { files, problems } = buildImages(set, fixtureTree());
  assert.deepEqual(problems, []);
  const f = files[0];
  assert.equal(f.confidence, 'tree');
  assert.ok(f.pre.complete && f.post.complete);
  assert.deepEqual(f.pre.lines, demo());
  assert.equal(f.post.lines.length, demo().length + 6);
  assert.deepEqual(
    f.applications.map((a) => a.status),
    ['exact', 'exact', 'exact'],
  );
  // the added field: post-image line ↔ '+' line of the document
  const i = f.post.lines.indexOf('\tunsigned int nr_errors;');
  assert.equal(f.post.changed[i], 1);
  assert.equal(f.post.docLine[i], docLine(text, '+\tunsigned int nr_errors;'));
  // an untouched line far from any hunk is known but has no document line
  const far = f.post.lines.indexOf('MODULE_LICENSE("GPL");');
  assert.equal(f.post.docLine[far], -1);
  assert.equal(f.post.changed[far], 0);
});

test('without a tree: sparse images hold only what the hunks show', () => {
  const text = fixture('body-struct-key.patch');
  const { files } = buildImages(parsePatch(text));
  const f = files[0];
  assert.equal(f.confidence, 'hunks');
  assert.equal(f.pre.complete, false);
  const known = f.post.lines.filter((l) => l !== undefined).length;
  const hunkNew = parsePatch(text).patches[0].files[0].hunks.reduce((n, h) => n + h.newLines, 0);
  assert.equal(known, hunkNew);
  // header line numbers are kept: the hunk at @@ -72,6 +74,10 @@ lands at post line 74
  const h = parsePatch(text).patches[0].files[0].hunks[2];
  assert.equal(f.post.lines[h.newStart - 1], h.lines[0].text);
  assert.equal(f.post.headings.get(h.newStart - 1), h.section);
});

test('offsets, whitespace damage and fuzz are applied and reported', () => {
  const base = fixture('body-struct-key.patch');
  // 1. wrong line numbers: the hunk lands 5 lines away
  const shifted = base.replace('@@ -72,6 +74,10 @@', '@@ -67,6 +69,10 @@');
  let r = buildImages(parsePatch(shifted), fixtureTree());
  let app = r.files[0].applications[2];
  assert.equal(app.status, 'offset');
  assert.equal(app.offset, 5);
  const off = r.problems.find((p) => p.code === 'KLP003');
  assert.ok(off && off.severity === 'information' && /5 lines below/.test(off.message));
  assert.equal(off.range.start.line, docLine(shifted, '@@ -67,6 +69,10 @@'));

  // 2. tabs turned into spaces in a context line by a mailer
  const spaced = base.replace(' \t\tpr_info("lens: read %lu\\n", calls);', ' \t\tpr_info("lens: read %lu\\n",  calls);');
  r = buildImages(parsePatch(spaced), fixtureTree());
  app = r.files[0].applications[2];
  assert.equal(app.status, 'whitespace');
  assert.equal(r.problems.find((p) => p.code === 'KLP003')?.severity, 'warning');
  // the tree's own text is kept for context lines
  assert.ok(r.files[0].post.lines.includes('\t\tpr_info("lens: read %lu\\n", calls);'));

  // 3. a context line that differs: jsdiff's fuzzy matching applies it
  const fuzzy = base.replace(' \treturn simple_read_from_buffer(buf, count, ppos, tmp, len);', ' \treturn simple_read_from_buffer(buf, count, ppos, tmp, length);');
  r = buildImages(parsePatch(fuzzy), fixtureTree());
  app = r.files[0].applications[2];
  assert.equal(app.status, 'fuzz');
  assert.equal(app.fuzz, 1);
  const post = r.files[0].post;
  const added = post.lines.indexOf('\t\tr->dev->nr_errors++;');
  assert.ok(added > 0);
  assert.equal(post.docLine[added], docLine(fuzzy, '+\t\tr->dev->nr_errors++;'));
  assert.ok(post.lines.includes('\treturn simple_read_from_buffer(buf, count, ppos, tmp, len);'), 'context comes from the tree');
});

test('a hunk that does not apply is reported and the file is analysed from its hunks', () => {
  const bad = fixture('body-struct-key.patch').replace(' \tlen = scnprintf(tmp, sizeof(tmp), "%llu\\n", r->last);', ' \tlen = sprintf(tmp, "%llu\\n", r->last);').replace(' \treturn simple_read_from_buffer(buf, count, ppos, tmp, len);', ' \treturn simple_read(buf, count, ppos, tmp);').replace(' \tchar tmp[32];', ' \tchar tmp[64];').replace(' \tint len;', ' \tint n;');
  const set = parsePatch(bad);
  const r = buildImages(set, fixtureTree());
  const p = r.problems.find((x) => x.code === 'KLP002');
  assert.ok(p, JSON.stringify(r.problems));
  assert.equal(p.range.start.line, set.patches[0].files[0].hunks[2].headerLine);
  assert.match(p.message, /Hunk 3 of drivers\/misc\/lens_demo\.c does not apply/);
  const f = r.files[0];
  assert.equal(f.confidence, 'hunks');
  assert.equal(f.applications[2].status, 'failed');
  assert.equal(f.applications[0].status, 'exact');
  assert.equal(f.post.complete, false);
});

test('a file missing from the tree is reported; a new file that already exists is reported', () => {
  const text = fixture('body-struct-key.patch').replaceAll('drivers/misc/lens_demo.c', 'drivers/misc/lens_gone.c');
  const r = buildImages(parsePatch(text), fixtureTree());
  const p = r.problems.find((x) => x.code === 'KLP007');
  assert.ok(p);
  assert.equal(r.files[0].confidence, 'hunks');

  const exists = 'diff --git a/kernel/lens_sys.c b/kernel/lens_sys.c\nnew file mode 100644\n--- /dev/null\n+++ b/kernel/lens_sys.c\n@@ -0,0 +1 @@\n+int x;\n';
  const r2 = buildImages(parsePatch(exists), fixtureTree());
  assert.ok(r2.problems.some((x) => x.code === 'KLP002' && /already exists/.test(x.message)));
});

test('a series applies patch after patch; images span the whole series', () => {
  const text = fixture('series.mbox');
  const set = parsePatch(text);
  for (const tree of [fixtureTree(), undefined]) {
    const r = buildImages(set, tree);
    assert.deepEqual(r.problems, [], tree ? 'tree' : 'hunks');
    const f = r.files.find((x) => x.path === demoPath)!;
    assert.equal(f.diffs.length, 2, 'two patches touch the file');
    const post = f.post.lines;
    // patch 1 added a condition that patch 2 replaced: only patch 2's line survives
    assert.ok(post.includes('\tif (!lens_accepting(dev)) {'));
    assert.ok(!post.includes('\t    dev->nr_readers >= LENS_MAX_READERS) {'));
    const i = post.indexOf('\tif (!lens_accepting(dev)) {');
    assert.equal(f.post.docLine[i], docLine(text, '+\tif (!lens_accepting(dev)) {'));
    // the pre-image line patch 1 removed maps to patch 1's '-' line
    const pre = f.pre.lines.indexOf('\tif (dev->nr_readers >= LENS_MAX_READERS) {');
    assert.ok(pre >= 0);
    assert.equal(f.pre.docLine[pre], docLine(text, '-\tif (dev->nr_readers >= LENS_MAX_READERS) {'));
  }
});

test('renames and new files in a git diff', () => {
  const r = buildImages(parsePatch(fixture('git-extended.diff')), fixtureTree());
  const ren = r.files.find((f) => f.newPath === 'kernel/lens_syscall.c')!;
  assert.equal(ren.status, 'renamed');
  assert.equal(ren.oldPath, 'kernel/lens_sys.c');
  assert.equal(ren.confidence, 'tree');
  assert.ok(ren.post.lines.includes('\tif (fd < 0 || !out)'));
  const add = r.files.find((f) => f.newPath === 'drivers/misc/lens_extra.c')!;
  assert.equal(add.status, 'added');
  assert.equal(add.pre.exists, false);
  assert.equal(add.post.complete, true);
  assert.equal(r.problems.filter((p) => p.severity === 'error').length, 0, JSON.stringify(r.problems));
});
