import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maskAnnotations, braceProfile } from '../../server/src/core/syntax/annotations';
import { normalizeC } from '../../server/src/core/syntax/normalize';
import { wrapperHeader, buildParseSource } from '../../server/src/core/syntax/source';
import { initParser, parseC } from '../../server/src/core/syntax/parser';
import { extractEntities } from '../../server/src/core/entities/extract';
import { decodeBytes, splitLines } from '../../server/src/core/text';

test('annotation masking keeps every offset and remembers what was there', () => {
  const src = 'static int __init foo_init(void)\n{\n\tvoid __user *p = NULL;\n}\nstatic u64 x __section(".data..lens") __aligned(8) = 1;\n';
  const m = maskAnnotations(src);
  assert.equal(m.text.length, src.length);
  assert.equal(m.text.split('\n').length, src.split('\n').length);
  assert.deepEqual(
    m.annotations.map((a) => [a.name, a.kind, a.args, src.slice(a.offset, a.offset + a.length)]),
    [
      ['__init', 'section', undefined, '__init'],
      ['__user', 'address-space', undefined, '__user'],
      ['__section', 'section', '".data..lens"', '__section(".data..lens")'],
      ['__aligned', 'attribute', '8', '__aligned(8)'],
    ],
  );
  assert.match(m.text, /^static int {8}foo_init\(void\)/);
});

test('masking skips comments, strings and preprocessor lines', () => {
  const src = '/* __init here */ char *s = "__init";\n#define X __init\nint __init f(void);\n';
  const m = maskAnnotations(src);
  assert.deepEqual(
    m.annotations.map((a) => a.offset),
    [src.lastIndexOf('__init')],
  );
});

test('without masking tree-sitter loses the name; with masking it parses', async () => {
  await initParser();
  const src = 'static int __init lens_init(void)\n{\n\treturn 0;\n}\n';
  const raw = parseC(src);
  assert.ok(raw.rootNode.hasError, 'tree-sitter-c alone cannot read __init');
  raw.delete();
  const masked = parseC(maskAnnotations(src).text);
  assert.equal(masked.rootNode.hasError, false);
  assert.equal(masked.rootNode.namedChildren[0]?.type, 'function_definition');
  masked.delete();
});

test('brace profile sees a fragment that starts inside a block', () => {
  const p = braceProfile(['\t\tkfree(r);', '\t}', '\treturn 0;', '}', '', 'static int g(void)', '{', '\tif (x) {']);
  assert.equal(p.minDepth, -2);
  assert.equal(p.endDepth, -0 + -2 + 2);
  assert.equal(p.firstCodeIndent, 2);
  assert.equal(braceProfile(['\t}', '', '\tx = 1;']).firstCodeIndent, 2, 'a closing brace at one tab closes a block two deep');
  assert.equal(braceProfile(['out_unlock:', '\tspin_unlock(&l);']).firstCodeIndent, 1, 'labels are skipped');
  assert.deepEqual(p.closers, ['}', '}']);
  const s = braceProfile([' * describes the thing', ' */', 'struct lens_x {', '\tint a;']);
  assert.equal(s.startsInComment, true);
  assert.deepEqual(s.closers, ['};']);
  const d = braceProfile(['\tif (!x) {', '\t\tdo {', '\t\t\tif (avail < y)']);
  assert.deepEqual(d.closers, ['}', '} while (0);']);
  assert.equal(d.endsAwaitingBody, true);
});

test('hunk headings become wrapper headers', () => {
  assert.deepEqual(wrapperHeader('static int lens_open(struct inode *inode, struct file *file)'), { line: 'static int lens_open(struct inode *inode, struct file *file) {', kind: 'function' });
  // git truncates long headings: the parameter list is closed
  assert.deepEqual(wrapperHeader('static ssize_t lens_read(struct file *file, char __user *buf, size_t count,'), {
    line: 'static ssize_t lens_read(struct file *file, char __user *buf, size_t count) {',
    kind: 'function',
  });
  assert.deepEqual(wrapperHeader('struct lens_dev {'), { line: 'struct lens_dev {', kind: 'struct' });
  assert.deepEqual(wrapperHeader('static const struct file_operations lens_fops = {'), { line: 'static const struct file_operations lens_fops = {', kind: 'initializer' });
  assert.equal(wrapperHeader('skip_classify:').kind, 'anonymous');
  assert.equal(wrapperHeader(undefined).kind, 'anonymous');
});

test('a sparse image becomes parseable C with real lines mapped back', async () => {
  await initParser();
  const lines: (string | undefined)[] = [];
  lines[40] = '\tspin_lock(&dev->lock);';
  lines[41] = '\tdev->nr_readers++;';
  lines[42] = '\tspin_unlock(&dev->lock);';
  lines[43] = '\treturn 0;';
  lines[44] = '}';
  const image = { exists: true, complete: false, lines, docLine: new Int32Array(45).fill(-1), changed: new Uint8Array(45), headings: new Map([[40, 'static int lens_open(struct inode *inode, struct file *file)']]) };
  const src = buildParseSource(image);
  const tree = parseC(src.text);
  assert.equal(tree.rootNode.hasError, false, src.raw);
  const ents = extractEntities(tree, src);
  assert.deepEqual(
    ents.entities.map((e) => [e.kind, e.name, e.synthetic]),
    [['function', 'lens_open', true]],
  );
  assert.equal(src.toImage[src.fromImage[41]], 41);
  tree.delete();
});

test('normalisation ignores comments and layout, not tokens', () => {
  assert.equal(normalizeC('a+b; /* x */ // y\n'), normalizeC('a + b;'));
  assert.notEqual(normalizeC('a += 2;'), normalizeC('a += 1;'));
  assert.equal(normalizeC('x->y'), 'x -> y');
  assert.equal(normalizeC('"a  b"'), '"a  b"');
});

test('decoding: UTF-8, Latin-1 fallback with the first bad byte, NUL detection, BOM', () => {
  assert.equal(decodeBytes(Buffer.from('é\n', 'utf8')).encoding, 'utf-8');
  const bad = decodeBytes(Buffer.from([0x61, 0x0a, 0x62, 0xe9, 0x0a]));
  assert.equal(bad.encoding, 'latin1');
  assert.deepEqual(bad.invalidAt, { line: 1, column: 1, byteOffset: 3 });
  assert.equal(bad.text, 'a\nbé\n');
  assert.deepEqual(decodeBytes(Buffer.from([0x61, 0x00])).nulAt, { line: 0, column: 1, byteOffset: 1 });
  const bom = decodeBytes(Buffer.from([0xef, 0xbb, 0xbf, 0x78]));
  assert.equal(bom.text, 'x');
  assert.equal(bom.bom, true);
  // overlong encodings and surrogates are not UTF-8
  assert.equal(decodeBytes(Buffer.from([0xc0, 0xaf])).encoding, 'latin1');
  assert.equal(decodeBytes(Buffer.from([0xed, 0xa0, 0x80])).encoding, 'latin1');
});

test('line splitting keeps CRLF apart from the content', () => {
  const t = splitLines('a\r\nb\nc');
  assert.deepEqual(t.lines, ['a', 'b', 'c']);
  assert.deepEqual(t.crlf, [true, false, false]);
  assert.deepEqual(t.lineStarts, [0, 3, 5]);
  assert.equal(t.finalNewline, false);
});

test('incremental post-image parse equals a fresh parse (tree and hunks modes, every fixture)', async () => {
  await initParser();
  const { readdirSync, readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { parsePatch } = await import('../../server/src/core/patch/parse');
  const { buildImages } = await import('../../server/src/core/patch/images');
  const { lineEdits } = await import('../../server/src/core/analysis');
  const { FIXTURES, fixtureTree } = await import('../helpers');
  let compared = 0;
  for (const name of readdirSync(join(FIXTURES, 'patches'))) {
    const set = parsePatch(readFileSync(join(FIXTURES, 'patches', name), 'utf8'));
    for (const tree of [fixtureTree(), undefined]) {
      for (const f of buildImages(set, tree).files) {
        if (!f.pre.exists || !f.post.exists || (f.language !== 'c' && f.language !== 'header')) continue;
        const pre = buildParseSource(f.pre);
        const post = buildParseSource(f.post);
        const preTree = parseC(pre.text);
        const old = preTree.copy();
        const edits = lineEdits(pre, post, f.post.origLine!);
        assert.ok(edits.length > 0, `${name}: the patch changes ${f.path}`);
        for (let k = edits.length - 1; k >= 0; k--) old.edit(edits[k]);
        const inc = parseC(post.text, old);
        const fresh = parseC(post.text);
        assert.equal(inc.rootNode.toString(), fresh.rootNode.toString(), `${name} ${f.path} ${tree ? 'tree' : 'hunks'}`);
        compared++;
        for (const t of [preTree, old, inc, fresh]) t.delete();
      }
    }
  }
  assert.ok(compared >= 12, `compared ${compared} files`);
});
