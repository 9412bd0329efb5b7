import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePatch, stripPaths } from '../../server/src/core/patch/parse';
import { allFileDiffs } from '../../server/src/core/patch/model';
import { fixture, docLine } from '../helpers';

test('git format-patch: mail header, message, diffstat, hunks, signature', () => {
  const text = fixture('body-struct-key.patch');
  const set = parsePatch(text);
  assert.equal(set.format, 'format-patch');
  assert.equal(set.problems.length, 0);
  assert.equal(set.patches.length, 1);
  const p = set.patches[0];
  assert.equal(p.header?.from, 'Jane Developer <jane@example.org>');
  assert.equal(p.header?.subject, '[PATCH] lens: reject negative offsets in lens_read()');
  assert.match(p.message?.text ?? '', /A negative \*ppos reaches simple_read_from_buffer\(\)/);
  assert.ok(p.diffstat, 'diffstat found');
  assert.equal(p.signatureLine, text.split('\n').indexOf('-- '));
  assert.equal(p.files.length, 1);
  const f = p.files[0];
  assert.equal(f.oldPath, 'drivers/misc/lens_demo.c');
  assert.equal(f.newPath, 'drivers/misc/lens_demo.c');
  assert.equal(f.status, 'modified');
  assert.equal(f.hunks.length, 3);
  const h = f.hunks[2];
  assert.equal(h.section, 'static ssize_t lens_read(struct file *file, char __user *buf, size_t count,');
  const plus = h.lines.filter((l) => l.kind === '+');
  assert.deepEqual(
    plus.map((l) => l.text),
    ['\tif (*ppos < 0) {', '\t\tr->dev->nr_errors++;', '\t\treturn -EINVAL;', '\t}'],
  );
  // every hunk line knows its document line and its file line
  assert.equal(plus[1].docLine, docLine(text, '+\t\tr->dev->nr_errors++;'));
  assert.equal(plus[0].newLine, h.newStart + h.lines.findIndex((l) => l.kind === '+'));
});

test('mbox series: one patch per mail, [PATCH n/m] parsed, files in order', () => {
  const set = parsePatch(fixture('series.mbox'));
  assert.equal(set.format, 'mbox');
  assert.equal(set.problems.length, 0);
  assert.equal(set.patches.length, 3);
  assert.deepEqual(
    set.patches.map((p) => p.header?.series),
    [
      { index: 1, total: 3 },
      { index: 2, total: 3 },
      { index: 3, total: 3 },
    ],
  );
  assert.deepEqual(
    set.patches.map((p) => p.files.map((f) => f.newPath)),
    [['drivers/misc/lens_demo.c'], ['drivers/misc/lens_demo.c'], ['include/linux/lens.h']],
  );
  assert.deepEqual(
    allFileDiffs(set).map((f) => f.patchIndex),
    [0, 1, 2],
  );
});

test('git extended headers: mode change, new file, binary, rename with similarity', () => {
  const set = parsePatch(fixture('git-extended.diff'));
  assert.equal(set.format, 'git-diff');
  assert.equal(set.problems.length, 0);
  const files = set.patches[0].files;
  const by = (p: string) => files.find((f) => f.newPath === p || f.oldPath === p)!;
  assert.deepEqual([by('drivers/misc/Kconfig').oldMode, by('drivers/misc/Kconfig').newMode, by('drivers/misc/Kconfig').hunks.length], ['100644', '100755', 0]);
  assert.equal(by('drivers/misc/lens_extra.c').status, 'added');
  assert.equal(by('drivers/misc/lens_extra.c').oldPath, null);
  assert.equal(by('drivers/misc/lens_fw.bin').binary, true);
  const ren = by('kernel/lens_syscall.c');
  assert.equal(ren.status, 'renamed');
  assert.equal(ren.oldPath, 'kernel/lens_sys.c');
  assert.equal(ren.similarity, 97);
  assert.equal(ren.hunks.length, 1);
});

test('plain diff -ruN: timestamps dropped, first path component stripped, no hunk heading', () => {
  const set = parsePatch(fixture('plain-u.diff'));
  assert.equal(set.format, 'unified');
  const f = set.patches[0].files[0];
  assert.equal(f.oldPath, 'drivers/misc/lens_demo.c');
  assert.equal(f.rawOldPath, 'linux.orig/drivers/misc/lens_demo.c');
  assert.equal(f.hunks[0].section, '');
  assert.equal(f.hunks[0].oldLines, 8);
  assert.equal(f.hunks[0].newLines, 9);
});

test('CRLF line endings parse like LF and keep document lines', () => {
  const lf = fixture('body-struct-key.patch');
  const crlf = lf.replace(/\n/g, '\r\n');
  const a = parsePatch(lf);
  const b = parsePatch(crlf);
  assert.equal(b.problems.length, 0);
  const la = a.patches[0].files[0].hunks.flatMap((h) => h.lines);
  const lb = b.patches[0].files[0].hunks.flatMap((h) => h.lines);
  assert.deepEqual(
    lb.map((l) => [l.kind, l.text, l.docLine]),
    la.map((l) => [l.kind, l.text, l.docLine]),
  );
  assert.ok(lb.every((l) => !l.text.endsWith('\r')));
});

test('"\\ No newline at end of file" marks the line before it', () => {
  const set = parsePatch(fixture('no-newline.diff'));
  const lines = set.patches[0].files[0].hunks[0].lines;
  const minus = lines.find((l) => l.kind === '-')!;
  const plus = lines.find((l) => l.kind === '+')!;
  assert.equal(minus.noNewline, true);
  assert.equal(plus.noNewline, true);
  assert.equal(set.problems.length, 0);
});

test('git log -p / git show output: one patch per commit', () => {
  const text = [
    'commit 1111111111111111111111111111111111111111',
    'Author: Jane Developer <jane@example.org>',
    'Date:   Fri Nov 20 10:00:00 2026 +0000',
    '',
    '    lens: first',
    '',
    'diff --git a/kernel/lens_sys.c b/kernel/lens_sys.c',
    'index 2b41659..1dc5f7b 100644',
    '--- a/kernel/lens_sys.c',
    '+++ b/kernel/lens_sys.c',
    '@@ -23,2 +23,2 @@ SYSCALL_DEFINE2(lens_ping, int, fd, unsigned int __user *, out)',
    ' \tif (fd < 0)',
    '-\t\treturn -EBADF;',
    '+\t\treturn -EINVAL;',
    '',
    'commit 2222222222222222222222222222222222222222',
    'Author: Jane Developer <jane@example.org>',
    'Date:   Fri Nov 20 11:00:00 2026 +0000',
    '',
    '    lens: second',
    '',
    'diff --git a/kernel/lens_sys.c b/kernel/lens_sys.c',
    '--- a/kernel/lens_sys.c',
    '+++ b/kernel/lens_sys.c',
    '@@ -23,2 +23,2 @@ SYSCALL_DEFINE2(lens_ping, int, fd, unsigned int __user *, out)',
    ' \tif (fd < 0)',
    '-\t\treturn -EINVAL;',
    '+\t\treturn -EBADFD;',
    '',
  ].join('\n');
  const set = parsePatch(text);
  assert.equal(set.problems.length, 0);
  assert.equal(set.patches.length, 2);
  assert.deepEqual(
    set.patches.map((p) => p.header?.subject),
    ['lens: first', 'lens: second'],
  );
});

test('quoted paths with spaces, deleted files, and mailer-stripped empty context lines', () => {
  const text = [
    'diff --git "a/drivers/misc/lens notes.txt" "b/drivers/misc/lens notes.txt"',
    'deleted file mode 100644',
    'index 3b18e51..0000000',
    '--- "a/drivers/misc/lens notes.txt"',
    '+++ /dev/null',
    '@@ -1,2 +0,0 @@',
    '-first',
    '-second',
    'diff --git a/drivers/misc/lens_demo.c b/drivers/misc/lens_demo.c',
    '--- a/drivers/misc/lens_demo.c',
    '+++ b/drivers/misc/lens_demo.c',
    '@@ -121,4 +121,5 @@ static int __init lens_init(void)',
    ' \tstrscpy(lens_device->name, "lens0", sizeof(lens_device->name));',
    '+\tlens_device->state = LENS_OPEN;',
    ' \treturn misc_register(&lens_misc);',
    ' }',
    '',
    '',
  ].join('\n');
  const set = parsePatch(text);
  assert.deepEqual(set.problems, []);
  const [del, mod] = set.patches[0].files;
  assert.equal(del.status, 'deleted');
  assert.equal(del.oldPath, 'drivers/misc/lens notes.txt');
  assert.equal(del.newPath, null);
  // the last context line of the second hunk was an empty line whose leading space a mailer stripped
  assert.equal(mod.hunks[0].lines.length, 5);
  assert.equal(mod.hunks[0].broken, false);
});

test('malformed input yields positioned problems, never an exception', () => {
  const cases: { name: string; text: string; code: string; line: number; severity?: string }[] = [
    {
      name: 'bad hunk header',
      text: 'diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1,2 +1,2 @ broken\n-a\n+b\n',
      code: 'KLP001',
      line: 3,
    },
    {
      name: 'counts larger than the hunk',
      text: 'diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -10,6 +10,7 @@ int f(void)\n int a;\n-int b;\n+int c;\ndiff --git a/y.c b/y.c\n',
      code: 'KLP001',
      line: 3,
    },
    { name: 'hunk before any file', text: 'Subject: x\n\n@@ -1 +1 @@\n-a\n+b\n', code: 'KLP001', line: 2 },
    { name: '--- without +++', text: 'diff --git a/x.c b/x.c\n--- a/x.c\nint x;\n', code: 'KLP001', line: 1 },
    {
      name: 'quoted-printable mail',
      text: 'From: a@b\nSubject: [PATCH] x\nContent-Transfer-Encoding: quoted-printable\n\nmsg\n---\ndiff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a =3D 1;\n+a =3D 2;\n',
      code: 'KLP008',
      line: 2,
    },
    { name: 'combined diff', text: 'diff --cc kernel/fork.c\nindex 1,2..3\n--- a/kernel/fork.c\n+++ b/kernel/fork.c\n@@@ -1,1 -1,1 +1,1 @@@\n', code: 'KLP008', line: 0 },
    { name: 'no diff at all', text: 'Hello,\n\nthis mail has no patch in it.\n', code: 'KLP006', line: 0, severity: 'warning' },
  ];
  for (const c of cases) {
    const set = parsePatch(c.text);
    const p = set.problems.find((x) => x.code === c.code);
    assert.ok(p, `${c.name}: expected ${c.code}, got ${JSON.stringify(set.problems)}`);
    assert.equal(p.range.start.line, c.line, `${c.name}: line`);
    assert.equal(p.severity, c.severity ?? 'error', `${c.name}: severity`);
  }
  // counts mismatch marks the hunk broken so it is never applied
  const broken = parsePatch(cases[1].text).patches[0].files[0].hunks[0];
  assert.equal(broken.broken, true);
});

test('binary garbage, empty input and a huge single line do not throw', () => {
  const bytes = Buffer.alloc(4096);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + 7) % 256;
  for (const text of ['', '\0\0\0', bytes.toString('latin1'), '@@'.repeat(100000), '+'.repeat(1 << 20), 'diff --git a/x b/x\n'.repeat(2000)]) {
    const set = parsePatch(text);
    assert.ok(Array.isArray(set.problems));
  }
});

test('path stripping: git prefixes, plain diffs, tree-relative paths', () => {
  assert.deepEqual(stripPaths('a/fs/aio.c', 'b/fs/aio.c'), ['fs/aio.c', 'fs/aio.c']);
  assert.deepEqual(stripPaths(null, 'b/fs/new.c'), [null, 'fs/new.c']);
  assert.deepEqual(stripPaths('linux-6.1.orig/fs/aio.c', 'linux-6.1/fs/aio.c'), ['fs/aio.c', 'fs/aio.c']);
  // already relative to the tree (git diff --no-prefix): kept
  assert.deepEqual(stripPaths('fs/aio.c', 'fs/aio.c'), ['fs/aio.c', 'fs/aio.c']);
  assert.deepEqual(stripPaths('aio.c', 'aio.c'), ['aio.c', 'aio.c']);
});

test('RFC 2047 mail headers decode in their charset: iso-8859-2, UTF-8 (B and Q, split words), Latin-1, and a broken word left as written', () => {
  const header = (from: string, subject: string) => fixture('body-struct-key.patch').replace('From: Jane Developer <jane@example.org>', `From: ${from}`).replace('Subject: [PATCH] lens: reject negative offsets in lens_read()', `Subject: ${subject}`);
  const cases: [string, string, string, string][] = [
    ['=?iso-8859-2?Q?Pawe=B3_=A3ukasz?= <pawel@example.pl>', '=?iso-8859-2?Q?[PATCH]_lens:_popraw_b=B3=B1d?=', 'Paweł Łukasz <pawel@example.pl>', '[PATCH] lens: popraw błąd'],
    ['=?UTF-8?B?SsOpcsO0bWU=?= Dev <j@example.org>', '=?UTF-8?Q?[PATCH_v2_1/3]_lens:_fix_?=\n =?UTF-8?Q?caf=C3=A9?=', 'Jérôme Dev <j@example.org>', '[PATCH v2 1/3] lens: fix café'],
    ['=?ISO-8859-1?Q?Fran=E7ois?= <f@example.fr>', '[PATCH] plain', 'François <f@example.fr>', '[PATCH] plain'],
    ['=?x-unknown?Q?abc?= <x@example.org>', '[PATCH] =?utf-8?B?@@@?= tail', '', ''],
  ];
  for (const [from, subject, wantFrom, wantSubject] of cases) {
    const p = parsePatch(header(from, subject)).patches[0];
    if (!wantFrom) {
      // never a throw, never an empty header: something readable stays
      assert.ok((p.header?.from ?? '').includes('x@example.org'));
      assert.ok((p.header?.subject ?? '').includes('tail'));
      continue;
    }
    assert.equal(p.header?.from, wantFrom);
    assert.equal(p.header?.subject, wantSubject);
  }
  assert.equal(parsePatch(header(cases[1][0], cases[1][1])).patches[0].header?.series?.version, 2);
});
