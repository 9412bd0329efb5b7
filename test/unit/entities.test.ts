import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, fixtureTree, withAnalysis, entitySummary, entity, docLine } from '../helpers';

const modes = [
  { name: 'with the fixture tree', tree: () => fixtureTree() },
  { name: 'from the hunks alone', tree: () => undefined },
];

for (const mode of modes) {
  test(`body change, new struct field and new static key (${mode.name})`, async () => {
    const text = fixture('body-struct-key.patch');
    await withAnalysis(text, { tree: mode.tree() }, (a) => {
      assert.deepEqual(entitySummary(a), ['struct lens_dev changed(layout)', 'variable lens_debug_key added', 'function lens_read changed(body)']);
      const s = entity(a, 'lens_dev');
      assert.deepEqual(s.members, [{ name: 'nr_errors', change: 'added', new: 'unsigned int $', range: s.members![0].range, followers: ['name'] }]);
      const fieldLine = docLine(text, '+\tunsigned int nr_errors;');
      const fieldText = text.split('\n')[fieldLine];
      assert.deepEqual(s.members![0].range, { start: { line: fieldLine, character: fieldText.indexOf('nr_errors') }, end: { line: fieldLine, character: fieldText.indexOf(';') } });
      // ranges sit on the '+' lines of the patch document, after the marker and the indentation
      assert.deepEqual(s.range, { start: { line: fieldLine, character: 2 }, end: { line: fieldLine, character: fieldText.length } });
      const keyLine = docLine(text, '+DEFINE_STATIC_KEY_FALSE(lens_debug_key);');
      const key = entity(a, 'lens_debug_key');
      assert.equal(key.new?.entity.definedBy, 'DEFINE_STATIC_KEY_FALSE');
      assert.deepEqual(key.range, { start: { line: keyLine, character: 25 }, end: { line: keyLine, character: 39 } });
      const fn = entity(a, 'lens_read');
      const first = docLine(text, '+\tif (*ppos < 0) {');
      assert.deepEqual(fn.range, { start: { line: first, character: 2 }, end: { line: first, character: '+\tif (*ppos < 0) {'.length } });
      assert.deepEqual(fn.new?.changedDocLines, [first, first + 1, first + 2, first + 3]);
      assert.match(fn.new?.text ?? '', /r->dev->nr_errors\+\+;/);
      assert.doesNotMatch(fn.old?.text ?? '', /nr_errors/);
    });
  });

  test(`every kind of entity (${mode.name})`, async () => {
    const text = fixture('entities.patch');
    await withAnalysis(text, { tree: mode.tree() }, (a) => {
      assert.deepEqual(entitySummary(a, 'drivers/misc/lens_demo.c'), [
        'include <linux/ratelimit.h> added',
        'macro LENS_DEMO_MINOR changed(value)',
        'struct lens_reader changed(layout)',
        'variable lens_verbose changed(initializer)',
        'function lens_release changed(body)',
        'static-local lens_release::rs added',
        'variable lens_fops changed(initializer)',
        'function lens_get changed(signature,body)',
        'export lens_get changed(attributes)',
        'function lens_put changed(attributes)',
      ]);
      assert.deepEqual(entitySummary(a, 'include/linux/lens.h'), ['enum lens_state changed(values)', 'prototype lens_get changed(signature)']);
      assert.deepEqual(entitySummary(a, 'kernel/lens_sys.c'), ['variable lens_pings changed(type)', 'variable lens_ping_limit changed(attributes)', 'syscall lens_ping changed(body)']);
      assert.deepEqual(
        entity(a, 'lens_reader').members?.map((m) => [m.name, m.change]),
        [['dev', 'moved']],
      );
      assert.deepEqual(
        entity(a, 'lens_state').members?.map((m) => [m.name, m.change]),
        [['LENS_PAUSED', 'added']],
      );
      const put = entity(a, 'lens_put');
      assert.deepEqual([put.old?.annotations, put.new?.annotations], [[], ['__cold']]);
      const limit = entity(a, 'lens_ping_limit');
      assert.deepEqual([limit.old?.annotations, limit.new?.annotations], [['__read_mostly'], ['__ro_after_init']]);
      assert.equal(entity(a, 'lens_ping', 'syscall').new?.entity.definedBy, 'SYSCALL_DEFINE2');
      assert.equal(entity(a, 'lens_get', 'export').new?.entity.definedBy, 'EXPORT_SYMBOL');
      assert.equal(entity(a, 'lens_get', 'export').old?.entity.definedBy, 'EXPORT_SYMBOL_GPL');
    });
  });

  test(`a series: entities between the original and the end of the series (${mode.name})`, async () => {
    await withAnalysis(fixture('series.mbox'), { tree: mode.tree() }, (a) => {
      assert.deepEqual(entitySummary(a), [
        'function lens_open changed(body)',
        'function lens_accepting added',
        'macro LENS_MAX_READERS changed(value)',
        'struct lens_stats changed(layout)',
      ]);
    });
  });
}

test('hunks alone: a hunk without function context is an unnamed fragment; the tree names it', async () => {
  const text = fixture('plain-u.diff');
  await withAnalysis(text, {}, (a) => {
    assert.deepEqual(entitySummary(a), ['fragment unnamed function at patch line 5 changed(body)']);
  });
  await withAnalysis(text, { tree: fixtureTree() }, (a) => {
    assert.deepEqual(entitySummary(a), ['function lens_release changed(body)']);
  });
});

test('kernel annotations do not hide function names; attribute changes are their own aspect', async () => {
  const text = [
    'diff --git a/drivers/misc/lens_demo.c b/drivers/misc/lens_demo.c',
    '--- a/drivers/misc/lens_demo.c',
    '+++ b/drivers/misc/lens_demo.c',
    '@@ -118,7 +118,7 @@ void lens_put(struct lens_stats *st)',
    ' }',
    ' EXPORT_SYMBOL_GPL(lens_put);',
    ' ',
    '-static int __init lens_init(void)',
    '+static int __init __cold lens_init(void)',
    ' {',
    ' \tlens_device = kzalloc(sizeof(*lens_device), GFP_KERNEL);',
    ' \tif (!lens_device)',
    '',
  ].join('\n');
  for (const tree of [fixtureTree(), undefined]) {
    await withAnalysis(text, { tree }, (a) => {
      assert.deepEqual(entitySummary(a), ['function lens_init changed(attributes)']);
      const e = entity(a, 'lens_init');
      assert.deepEqual(e.new?.annotations, ['__init', '__cold']);
      assert.equal(e.range.start.line, 7, 'the first changed line of the function: its "-" line');
    });
  }
});

test('comment-only changes are cosmetic; moving a function is not a body change', async () => {
  const text = [
    'diff --git a/drivers/misc/lens_demo.c b/drivers/misc/lens_demo.c',
    '--- a/drivers/misc/lens_demo.c',
    '+++ b/drivers/misc/lens_demo.c',
    '@@ -112,6 +112,7 @@ int lens_get(struct lens_stats *st)',
    ' {',
    ' \tif (lens_busy(st))',
    ' \t\treturn -EBUSY;',
    '+\t/* the caller holds a reference on st */',
    ' \tst->reads++;',
    ' \treturn 0;',
    ' }',
    '',
  ].join('\n');
  await withAnalysis(text, { tree: fixtureTree() }, (a) => {
    assert.deepEqual(entitySummary(a), ['function lens_get changed(cosmetic)']);
  });
});
