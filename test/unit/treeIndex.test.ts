import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelTree } from '../../server/src/core/tree/kernelTree';
import { TreeIndex, defaultCacheDir, indexCacheFile, type IndexProgress } from '../../server/src/core/index/treeIndex';
import { ScanSession, scanKconfig, scanMakefile, parseDotConfig, KIND_C, KIND_H, KIND_S } from '../../server/src/core/index/scan';
import { deserializeIndex } from '../../server/src/core/index/cache';
import type { TreeFacts } from '../../server/src/core/rules';
import { TREE_DIR, fixtureTree } from '../helpers';

const temps: string[] = [];
function tempDir(tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `klp-index-${tag}-`));
  temps.push(d);
  return d;
}
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

/** A private copy of the fixture tree (tests that write files or a .config use one). */
function treeCopy(tag: string): { dir: string; tree: KernelTree } {
  const dir = join(tempDir(tag), 'linux');
  cpSync(TREE_DIR, dir, { recursive: true });
  const tree = KernelTree.detect(dir);
  assert.ok(tree, 'copy detected as a kernel tree');
  return { dir, tree };
}

/** Rewrite a file and move its mtime forward so the change is seen even within one clock tick. */
function edit(dir: string, rel: string, text: string): void {
  const p = join(dir, rel);
  const before = existsSync(p) ? statSync(p).mtimeMs : Date.now();
  writeFileSync(p, text);
  const t = new Date(before + 5000);
  utimesSync(p, t, t);
}

const sourceFiles = (dir: string): number => {
  let n = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (/\.(c|h|S)$|^Makefile$|^Kbuild$|^Kconfig/.test(e.name)) n++;
    }
  };
  walk(dir);
  return n;
};

// ---------------------------------------------------------------------------

describe('scanners', () => {
  const scan = (text: string, kind: 0 | 1 | 2 = KIND_H) => {
    const s = new ScanSession('/');
    const rec = s.scanBytes({ id: 7, path: 'x', kind }, Buffer.from(text, 'latin1'));
    assert.ok(rec && rec.t === 'src');
    const link = s.link(['api_fn', 'API_MACRO', 'other_fn', 'EXPORT_SYMBOL']);
    return { rec, called: link.names.sort() };
  };

  test('comments, strings, character literals and #define bodies hide definitions; lines are 0-based', () => {
    const { rec } = scan(
      [
        '/* EXPORT_SYMBOL(in_comment); */',
        '// DEFINE_STATIC_KEY_FALSE(in_line_comment);',
        'static const char *s = "EXPORT_SYMBOL(in_string)"; char q = \'"\';',
        '#define EXPORT_ALIAS(sym) EXPORT_SYMBOL(sym)',
        '#define DEF_KEY(k) \\',
        '\tDEFINE_STATIC_KEY_TRUE(k)',
        'EXPORT_SYMBOL(real_one);',
        'EXPORT_SYMBOL_NS_GPL(ns_one, MY_NS);',
        'EXPORT_SYMBOL_NS(ns_two, "QUOTED_NS");',
        'static DEFINE_STATIC_KEY_FALSE_RO(key_ro);',
        'DEFINE_STATIC_KEY_ARRAY_TRUE(key_arr, 4);',
        'DEFINE_STATIC_KEY_MAYBE(CONFIG_FOO, key_maybe);',
        'struct static_key_false key_old __read_mostly = STATIC_KEY_FALSE_INIT;',
        'DEFINE_STATIC_CALL_NULL(sc_null, void (*)(int));',
        'DECLARE_STATIC_KEY_FALSE(only_declared);',
      ].join('\n'),
    );
    assert.deepEqual(
      rec.exports.map((e) => [e.sym, e.macro, e.ns, e.line]),
      [
        ['real_one', 'EXPORT_SYMBOL', '', 6],
        ['ns_one', 'EXPORT_SYMBOL_NS_GPL', 'MY_NS', 7],
        ['ns_two', 'EXPORT_SYMBOL_NS', 'QUOTED_NS', 8],
      ],
    );
    assert.deepEqual(
      rec.keys.map((k) => [k.name, k.macro, k.line]),
      [
        ['key_ro', 'DEFINE_STATIC_KEY_FALSE_RO', 9],
        ['key_arr', 'DEFINE_STATIC_KEY_ARRAY_TRUE', 10],
        ['key_maybe', 'DEFINE_STATIC_KEY_MAYBE', 11],
        ['key_old', 'STATIC_KEY_FALSE_INIT', 12],
      ],
    );
    assert.deepEqual(rec.statics, [{ name: 'sc_null', line: 13 }]);
    assert.deepEqual(rec.macros, [
      { name: 'EXPORT_ALIAS', line: 3 },
      { name: 'DEF_KEY', line: 4 },
    ]);
  });

  test('inline helpers in headers: keys, calls; declarations are not calls; #else alternatives merge', () => {
    const { rec, called } = scan(
      [
        '#include <linux/jump_label.h>',
        '#include "local.h"',
        'extern int api_fn(int x);',
        'static inline struct foo *',
        'helper_a(int x)',
        '{',
        '\tif (static_branch_unlikely(&key_a))',
        '\t\treturn api_fn(x); /* other_fn(x) */',
        '\treturn API_MACRO(x);',
        '}',
        '#ifdef CONFIG_B',
        'static __always_inline void helper_b(void) { if (static_key_enabled(&key_b.key)) other_fn(1); }',
        '#else',
        'static __always_inline void helper_b(void) { static_branch_likely(&p->key); }',
        '#endif',
        'static void not_inline(void) { api_fn(2); }',
        'int counter = 0;',
      ].join('\n'),
    );
    assert.deepEqual(rec.includes, ['<linux/jump_label.h>', '"local.h"']);
    assert.deepEqual(
      rec.helpers.map((h) => [h.name, h.line, h.keys, h.calls]),
      [
        ['helper_a', 4, ['key_a'], ['static_branch_unlikely', 'api_fn', 'API_MACRO']],
        ['helper_b', 11, ['key_b'], ['static_key_enabled', 'other_fn', 'static_branch_likely']],
      ],
    );
    // the file calls api_fn (twice), API_MACRO and other_fn; "extern int api_fn(" declares
    assert.deepEqual(called, ['API_MACRO', 'api_fn', 'other_fn']);
  });

  test('a declaration is not a call, but a macro use after a storage class is, and so is every use in .S files', () => {
    const c = scan('int api_fn(void);\nstatic API_MACRO(x);\nint y = other_fn(3);\n', KIND_C);
    assert.deepEqual(c.called, ['API_MACRO', 'other_fn']);
    const s = scan('\tret\n\t.end clear_page\n\tEXPORT_SYMBOL(clear_page)\n', KIND_S);
    assert.deepEqual(s.rec.exports.map((e) => e.sym), ['clear_page']);
    assert.deepEqual(s.called, ['EXPORT_SYMBOL']);
  });

  test('Makefile object lists: continuations, operators, composites, guards, ignored variables', () => {
    const m = scanMakefile(
      [
        'obj-y += a.o b.o # comment c.o',
        'obj-$(CONFIG_FOO) := foo.o \\',
        '\tfoo2.o',
        'bar-objs = p.o q.o',
        'baz-$(CONFIG_BAZ) += r.o sub/s.o',
        'lib-y += l.o',
        'ccflags-y += -DX',
        'CFLAGS_a.o := -O2',
        'obj-$(BITS) += weird.o',
        'obj-y += dir/',
        'ifeq ($(CONFIG_G),y)',
        'obj-m += g.o',
        'else',
        'obj-m += h.o',
        'endif',
      ].join('\n'),
    );
    assert.deepEqual(
      m.assigns.map((a) => [a.base, a.cond, a.objs.join(' '), a.guards.map((g) => `${g.sym}${g.eq ? '==' : '!='}${g.value}`).join()]),
      [
        ['obj', 'y', 'a.o b.o', ''],
        ['obj', 'CONFIG_FOO', 'foo.o foo2.o', ''],
        ['bar', 'objs', 'p.o q.o', ''],
        ['baz', 'CONFIG_BAZ', 'r.o sub/s.o', ''],
        ['lib', 'y', 'l.o', ''],
        ['obj', '?', 'weird.o', ''],
        ['obj', 'm', 'g.o', 'G==y'],
        ['obj', 'm', 'h.o', 'G!=y'],
      ],
    );
  });

  test('Kconfig types skip help text; .config values', () => {
    const k = scanKconfig('config A\n\tbool "a"\n\thelp\n\t  config B\n\t  int\n\nmenuconfig C\n\tdef_tristate m\nconfig D\n\thex\n');
    assert.deepEqual(k.syms, [
      { name: 'A', type: 'bool' },
      { name: 'C', type: 'tristate' },
      { name: 'D', type: 'hex' },
    ]);
    const c = parseDotConfig('CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=m\nCONFIG_S="x \\"y\\""\nCONFIG_N=0x10\n');
    assert.deepEqual([...c], [
      ['A', 'y'],
      ['C', 'm'],
      ['S', 'x "y"'],
      ['N', '0x10'],
    ]);
  });

  test('binary and oversized files are skipped, latin1 is read', () => {
    const s = new ScanSession('/');
    assert.equal(s.scanBytes({ id: 1, path: 'b.c', kind: KIND_C }, Buffer.from([0x7f, 0x45, 0, 1, 2])), null);
    assert.equal(s.scanBytes({ id: 2, path: 'big.h', kind: KIND_H }, Buffer.alloc(4 * 1024 * 1024 + 1, 0x20)), null);
    const rec = s.scanBytes({ id: 3, path: 'l.c', kind: KIND_C }, Buffer.from('/* caf\xe9 */\nEXPORT_SYMBOL(caf\xe9_not_ident);\nEXPORT_SYMBOL(ok);\n', 'latin1'));
    assert.ok(rec && rec.t === 'src');
    assert.deepEqual(rec.exports.map((e) => [e.sym, e.line]), [['ok', 2]]);
  });
});

// ---------------------------------------------------------------------------

describe('the fixture tree, without a .config', () => {
  let index: TreeIndex;
  let cacheDir: string;
  before(async () => {
    cacheDir = tempDir('cache');
    index = await TreeIndex.build(fixtureTree(), { cacheDir, workers: 0 });
  });

  test('counts and files', () => {
    const facts: TreeFacts = index; // what the rules ask of an index
    assert.equal(facts.hasConfig, false);
    const s = index.stats();
    assert.equal(s.files, sourceFiles(TREE_DIR));
    assert.equal(index.fileCount, s.files);
    assert.equal(s.rescanned, s.files);
    assert.equal(s.fromCache, 0);
    assert.equal(s.skipped, 0);
    assert.ok(index.hasFile('drivers/misc/lens_demo.c'));
    assert.ok(!index.hasFile('drivers/misc/lens_gone.c'));
    assert.equal(index.root, TREE_DIR);
    assert.equal(index.hasConfig, false);
  });

  test('exports: macro, line, namespace (plain and quoted)', () => {
    assert.deepEqual(index.exportOf('lens_get'), { file: 'drivers/misc/lens_demo.c', line: 112, macro: 'EXPORT_SYMBOL_GPL' });
    assert.deepEqual(index.exportOf('lens_trace_emit'), { file: 'lib/lens/lens_keys.c', line: 24, macro: 'EXPORT_SYMBOL_NS_GPL', namespace: 'LENS_TRACE' });
    assert.deepEqual(index.exportOf('lensmod_read'), { file: 'drivers/lensmod/lensmod_io.c', line: 9, macro: 'EXPORT_SYMBOL_NS_GPL', namespace: 'LENS_MOD' });
    assert.equal(index.exportOf('lensmod_poll')?.macro, 'EXPORT_SYMBOL');
    assert.equal(index.exportOf('lens_busy'), undefined);
    assert.equal(index.exportOf('nothing_here'), undefined);
    assert.equal(readFileSync(join(TREE_DIR, 'drivers/misc/lens_demo.c'), 'utf8').split('\n')[112], 'EXPORT_SYMBOL_GPL(lens_get);');
  });

  test('static keys and static calls, with where their object links', () => {
    assert.deepEqual(index.staticKey('lens_trace_enabled'), { file: 'lib/lens/lens_keys.c', line: 9, macro: 'DEFINE_STATIC_KEY_FALSE', where: 'vmlinux' });
    // lens_demo.o is obj-$(CONFIG_LENS_DEMO), a tristate: without a .config its placement is unknown
    assert.deepEqual(index.staticKey('lens_trace_key'), { file: 'drivers/misc/lens_demo.c', line: 36, macro: 'DEFINE_STATIC_KEY_FALSE', where: 'unknown' });
    assert.deepEqual(index.staticKey('lens_fast_key'), { file: 'lib/lens/lens_keys.c', line: 12, macro: 'STATIC_KEY_TRUE_INIT', where: 'vmlinux' });
    assert.equal(index.staticKey('lensmod_key')?.macro, 'DEFINE_STATIC_KEY_TRUE');
    assert.equal(index.staticKey('only_declared'), undefined);
    assert.deepEqual(index.staticCall('lens_hook'), { file: 'lib/lens/lens_keys.c', line: 18, where: 'vmlinux' });
    assert.equal(index.staticCall('lens_trace_emit'), undefined);
  });

  test('inline helpers: keys they test, names they call; not .c statics, not comments or strings', () => {
    assert.deepEqual(index.inlineHelper('lens_trace_on'), {
      file: 'include/linux/lens_trace.h',
      line: 24,
      keys: ['lens_trace_enabled'],
      calls: ['static_branch_unlikely'],
    });
    const count = index.inlineHelper('lens_trace_count');
    assert.ok(count);
    assert.equal(count.line, 30, 'the line of the name, after a return type on its own line');
    assert.deepEqual(count.keys, []);
    assert.deepEqual(count.calls, ['lens_trace_on', 'lens_busy']);
    assert.deepEqual(index.inlineHelper('lens_busy'), { file: 'include/linux/lens.h', line: 22, keys: [], calls: [] });
    assert.deepEqual(index.inlineHelper('lens_trace_check')?.calls, ['lens_trace_emit'], '#ifdef alternatives are one helper');
    assert.equal(index.inlineHelper('lens_shape_restore'), undefined, 'a static inline in a .c file is not a header helper');
    assert.equal(index.inlineHelper('lens_get'), undefined);
  });

  test('function-like macros are those of headers', () => {
    assert.deepEqual(index.isFunctionMacro('LENS_TRACE'), { file: 'include/linux/lens_trace.h', line: 16 });
    assert.deepEqual(index.isFunctionMacro('LENS_ARCH_BITS'), { file: 'arch/x86/include/asm/lens_arch.h', line: 4 });
    assert.equal(index.isFunctionMacro('LENS_TRACE_LEVEL'), undefined, 'object-like');
    assert.equal(index.isFunctionMacro('LENS_SHAPE_CHECK'), undefined, 'defined in a .c file');
  });

  test('callers of inline helpers, function-like macros and exported functions', () => {
    assert.deepEqual(index.callersOf('lens_busy'), ['drivers/misc/lens_demo.c', 'include/linux/lens_trace.h', 'lib/lens/lens_lib.c']);
    assert.deepEqual(index.callersOf('lens_trace_count'), ['drivers/lensmod/lensmod.h', 'drivers/lensmod/lensmod_core.c']);
    assert.deepEqual(index.callersOf('lensmod_helper'), ['drivers/lensmod/lensmod_io.c']);
    assert.deepEqual(index.callersOf('LENS_TRACE'), ['drivers/lensmod/lensmod_core.c']);
    assert.deepEqual(index.callersOf('lens_trace_on'), ['include/linux/lens_trace.h'], 'the macro body and the helper in the header');
    assert.deepEqual(index.callersOf('LENS_ARCH_BITS'), ['lib/lens/lens_keys.c'], 'not the string in lensmod_core.c');
    // exported: called from the module, declared (not called) in lens.h and defined in lens_demo.c
    assert.deepEqual(index.callersOf('lens_get'), ['drivers/lensmod/lensmod_core.c']);
    assert.deepEqual(index.callersOf('lens_trace_emit'), ['include/linux/lens_trace.h']);
    // not API names: not indexed
    assert.deepEqual(index.callersOf('kzalloc'), []);
    assert.deepEqual(index.callersOf('lens_not_a_call'), []);
    assert.deepEqual(index.callersOf('lens_shape_restore'), []);
  });

  test('includers: direct, by include spec, arch headers, quoted includes, transitive (only .c files)', () => {
    const direct = ['drivers/misc/lens_demo.c', 'drivers/misc/lens_shapes.c', 'include/linux/lens_trace.h', 'kernel/lens_sys.c', 'lib/lens/lens_lib.c'];
    assert.deepEqual(index.includersOf('include/linux/lens.h'), direct);
    assert.deepEqual(index.includersOf('<linux/lens.h>'), direct);
    assert.deepEqual(index.includersOf('linux/lens.h'), direct);
    assert.deepEqual(index.includersOf('./include/linux/lens.h'), direct);
    assert.deepEqual(index.includersOf(join(TREE_DIR, 'include/linux/lens.h')), direct);
    assert.deepEqual(index.includersOf('arch/x86/include/asm/lens_arch.h'), ['include/linux/lens_trace.h']);
    assert.deepEqual(index.includersOf('drivers/lensmod/lensmod.h'), [
      'drivers/lensmod/lensmod_bool.c',
      'drivers/lensmod/lensmod_extra.c',
      'drivers/lensmod/lensmod_guarded.c',
      'drivers/lensmod/lensmod_io.c',
      'drivers/lensmod/lensmod_legacy_a.c',
      'drivers/lensmod/lensmod_legacy_b.c',
      'drivers/lensmod/lensmod_missing.c',
      'drivers/lensmod/lensmod_stats.c',
      'drivers/lensmod/lensmod_unlisted.c',
      'drivers/lensmod/lensmod_core.c',
    ].sort());
    const all = index.includersOf('include/linux/lens.h', true);
    assert.ok(all.every((f) => f.endsWith('.c')), all.join());
    for (const f of ['drivers/misc/lens_demo.c', 'kernel/lens_sys.c', 'lib/lens/lens_keys.c', 'drivers/lensmod/lensmod_io.c', 'drivers/lensmod/lensmod_unlisted.c']) {
      assert.ok(all.includes(f), f);
    }
    assert.equal(all.length, 15);
    assert.deepEqual(index.includersOf('include/linux/lens.h', true), all, 'memoised answer is a copy');
    assert.deepEqual(index.includersOf('arch/x86/include/asm/lens_arch.h', true).length, 11);
    assert.deepEqual(index.includersOf('include/linux/nothing.h'), []);
    assert.deepEqual(index.includersOf('drivers/misc/lens_demo.c'), []);
  });

  test('objectKind and moduleName without a .config', () => {
    const kind = (f: string) => [index.objectKind(f), index.moduleName(f)];
    assert.deepEqual(kind('kernel/lens_sys.c'), ['vmlinux', undefined]);
    assert.deepEqual(kind('drivers/misc/lens_shapes.c'), ['vmlinux', undefined]);
    assert.deepEqual(kind('lib/lens/lens_lib.c'), ['vmlinux', undefined], 'lib-y');
    assert.deepEqual(kind('drivers/misc/lens_demo.c'), ['unknown', 'lens_demo'], 'obj-$(tristate)');
    assert.deepEqual(kind('drivers/lensmod/lensmod_core.c'), ['unknown', 'lens_mod'], 'composite lens-mod.o under a tristate');
    assert.deepEqual(kind('drivers/lensmod/lensmod_io.c'), ['unknown', 'lens_mod'], 'continuation line');
    assert.deepEqual(kind('drivers/lensmod/lensmod_stats.c'), ['unknown', 'lens_mod'], 'composite part under a bool');
    assert.deepEqual(kind('drivers/lensmod/lensmod_extra.c'), ['module', 'lensmod_extra'], 'obj-m');
    assert.deepEqual(kind('drivers/lensmod/lensmod_bool.c'), ['vmlinux', undefined], 'obj-$(def_bool)');
    assert.deepEqual(kind('drivers/lensmod/lensmod_missing.c'), ['unknown', undefined], 'option without Kconfig entry');
    assert.deepEqual(kind('drivers/lensmod/lensmod_legacy_b.c'), ['unknown', 'lensdemo'], 'foo-objs composite');
    assert.deepEqual(kind('drivers/lensmod/lensmod_guarded.c'), ['vmlinux', undefined], 'ifdef guard unknown without .config');
    assert.deepEqual(kind('drivers/lensmod/lensmod_unlisted.c'), ['unknown', undefined]);
    assert.deepEqual(kind('include/linux/lens.h'), ['unknown', undefined]);
    assert.deepEqual(kind('drivers/nowhere/x.c'), ['unknown', undefined]);
  });

  test('Kconfig types', () => {
    assert.equal(index.kconfigType('LENS_DEMO'), 'tristate');
    assert.equal(index.kconfigType('CONFIG_LENS_DEMO'), 'tristate');
    assert.equal(index.kconfigType('LENS_MOD'), 'tristate', 'menuconfig');
    assert.equal(index.kconfigType('LENS_MOD_STATS'), 'bool');
    assert.equal(index.kconfigType('LENS_BOOL'), 'bool', 'def_bool');
    assert.equal(index.kconfigType('LENS_LEVEL'), 'int');
    assert.equal(index.kconfigType('LENS_MASK'), 'hex');
    assert.equal(index.kconfigType('LENS_NAME'), 'string');
    assert.equal(index.kconfigType('LENS_FAKE'), undefined, 'help text');
    assert.equal(index.kconfigType('NOPE'), undefined);
    assert.equal(index.configValue('LENS_DEMO'), undefined);
  });

  test('the cache: loadCached answers the same; the file name hashes the root', () => {
    const file = indexCacheFile(TREE_DIR, cacheDir);
    assert.ok(existsSync(file));
    assert.match(file, /tree-tree-[0-9a-f]{16}\.idx$/);
    assert.notEqual(indexCacheFile('/a/tree', cacheDir), indexCacheFile('/b/tree', cacheDir));
    const loaded = TreeIndex.loadCached(fixtureTree(), cacheDir);
    assert.ok(loaded);
    assert.equal(loaded.stats().rescanned, 0);
    assert.equal(loaded.stats().fromCache, index.fileCount);
    for (const q of ['lens_busy', 'lens_get', 'LENS_TRACE', 'lens_trace_count']) assert.deepEqual(loaded.callersOf(q), index.callersOf(q), q);
    assert.deepEqual(loaded.exportOf('lens_trace_emit'), index.exportOf('lens_trace_emit'));
    assert.deepEqual(loaded.inlineHelper('lens_trace_on'), index.inlineHelper('lens_trace_on'));
    assert.deepEqual(loaded.includersOf('include/linux/lens.h', true), index.includersOf('include/linux/lens.h', true));
    assert.deepEqual(loaded.objectKind('drivers/lensmod/lensmod_extra.c'), 'module');
    assert.equal(loaded.kconfigType('LENS_MASK'), 'hex');
    const { helpers, macros, exports, keys } = index.stats();
    assert.deepEqual([helpers, macros, exports, keys], [loaded.stats().helpers, loaded.stats().macros, loaded.stats().exports, loaded.stats().keys]);
    assert.equal(TreeIndex.loadCached(fixtureTree(), tempDir('empty')), undefined, 'no cache there');
  });

  test('defaultCacheDir follows XDG_CACHE_HOME', () => {
    const saved = process.env.XDG_CACHE_HOME;
    try {
      process.env.XDG_CACHE_HOME = '/var/tmp/xdg';
      assert.equal(defaultCacheDir(), '/var/tmp/xdg/livepatch-lens');
      delete process.env.XDG_CACHE_HOME;
      assert.match(defaultCacheDir(), /[\\/]\.cache[\\/]livepatch-lens$/);
    } finally {
      if (saved === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = saved;
    }
  });
});

// ---------------------------------------------------------------------------

describe('with a .config', () => {
  test('objectKind, moduleName, where and config values follow the .config', async () => {
    const { dir, tree } = treeCopy('config');
    writeFileSync(
      join(dir, '.config'),
      [
        '# Automatically generated file; DO NOT EDIT.',
        'CONFIG_LENS_DEMO=m',
        'CONFIG_LENS_MOD=y',
        '# CONFIG_LENS_MOD_STATS is not set',
        'CONFIG_LENS_BOOL=y',
        'CONFIG_LENS_LEGACY=m',
        'CONFIG_LENS_LEVEL=5',
        'CONFIG_LENS_NAME="lens x"',
        'CONFIG_X86=y',
        '',
      ].join('\n'),
    );
    const index = await TreeIndex.build(tree, { cacheDir: tempDir('cache'), workers: 0 });
    assert.equal(index.hasConfig, true);
    const kind = (f: string) => [index.objectKind(f), index.moduleName(f)];
    assert.deepEqual(kind('drivers/misc/lens_demo.c'), ['module', 'lens_demo']);
    assert.deepEqual(kind('drivers/lensmod/lensmod_core.c'), ['vmlinux', undefined]);
    assert.deepEqual(kind('drivers/lensmod/lensmod_stats.c'), ['not-built', undefined], 'composite part under an unset option');
    assert.deepEqual(kind('drivers/lensmod/lensmod_legacy_a.c'), ['module', 'lensdemo']);
    assert.deepEqual(kind('drivers/lensmod/lensmod_guarded.c'), ['not-built', undefined], 'ifdef CONFIG_LENS_GUARD, unset');
    assert.deepEqual(kind('drivers/lensmod/lensmod_missing.c'), ['not-built', undefined]);
    assert.deepEqual(kind('drivers/lensmod/lensmod_extra.c'), ['module', 'lensmod_extra']);
    assert.deepEqual(kind('kernel/lens_sys.c'), ['vmlinux', undefined]);
    assert.equal(index.staticKey('lens_trace_key')?.where, 'module');
    assert.equal(index.staticKey('lensmod_key')?.where, 'vmlinux');
    assert.equal(index.configValue('LENS_DEMO'), 'm');
    assert.equal(index.configValue('CONFIG_LENS_LEVEL'), '5');
    assert.equal(index.configValue('LENS_NAME'), 'lens x');
    assert.equal(index.configValue('LENS_MOD_STATS'), undefined);

    // another configuration of the same tree: the module build
    writeFileSync(join(dir, '.config'), 'CONFIG_LENS_MOD=m\nCONFIG_LENS_MOD_STATS=y\nCONFIG_LENS_GUARD=y\n');
    const again = await TreeIndex.build(tree, { cacheDir: tempDir('cache'), workers: 0 });
    assert.deepEqual([again.objectKind('drivers/lensmod/lensmod_stats.c'), again.moduleName('drivers/lensmod/lensmod_stats.c')], ['module', 'lens_mod']);
    assert.deepEqual([again.objectKind('drivers/lensmod/lensmod_io.c'), again.moduleName('drivers/lensmod/lensmod_io.c')], ['module', 'lens_mod']);
    assert.equal(again.objectKind('drivers/lensmod/lensmod_guarded.c'), 'vmlinux');
    assert.equal(again.objectKind('drivers/misc/lens_demo.c'), 'not-built');
    assert.equal(again.objectKind('drivers/lensmod/lensmod_bool.c'), 'not-built', 'def_bool, but not in this .config');
    // a .config given explicitly (an O= build directory); the cache does not depend on the .config
    const out = tempDir('objdir');
    writeFileSync(join(out, '.config'), 'CONFIG_LENS_DEMO=y\n');
    const cacheDir = tempDir('cache');
    const withO = await TreeIndex.build(tree, { cacheDir, workers: 0, configFile: join(out, '.config') });
    assert.equal(withO.objectKind('drivers/misc/lens_demo.c'), 'vmlinux');
    assert.equal(TreeIndex.loadCached(tree, cacheDir, { configFile: join(out, '.config') })?.objectKind('drivers/misc/lens_demo.c'), 'vmlinux');
    assert.equal(TreeIndex.loadCached(tree, cacheDir)?.objectKind('drivers/misc/lens_demo.c'), 'not-built');
  });
});

// ---------------------------------------------------------------------------

describe('incremental updates', () => {
  test('only changed files are rescanned; answers follow the change', async () => {
    const { dir, tree } = treeCopy('incr');
    const cacheDir = tempDir('cache');
    const first = await TreeIndex.build(tree, { cacheDir, workers: 0 });
    const n = first.fileCount;
    assert.equal(first.stats().rescanned, n);

    const same = await TreeIndex.build(tree, { cacheDir, workers: 0 });
    assert.equal(same.stats().rescanned, 0);
    assert.equal(same.stats().fromCache, n);
    assert.deepEqual(same.callersOf('lens_busy'), first.callersOf('lens_busy'));

    // one .c file changes: it now calls lens_trace_count and defines a static key
    assert.ok(!first.callersOf('lens_trace_count').includes('drivers/lensmod/lensmod_stats.c'));
    edit(
      dir,
      'drivers/lensmod/lensmod_stats.c',
      '#include "lensmod.h"\n\nDEFINE_STATIC_KEY_FALSE(lensmod_stats_key);\n\nint lensmod_stats_value(struct lens_stats *st)\n{\n\treturn lens_trace_count(st);\n}\n',
    );
    const changed = await TreeIndex.build(tree, { cacheDir, workers: 0 });
    assert.equal(changed.stats().rescanned, 1);
    assert.equal(changed.stats().fromCache, n - 1);
    assert.ok(changed.callersOf('lens_trace_count').includes('drivers/lensmod/lensmod_stats.c'));
    assert.deepEqual(changed.staticKey('lensmod_stats_key'), { file: 'drivers/lensmod/lensmod_stats.c', line: 2, macro: 'DEFINE_STATIC_KEY_FALSE', where: 'unknown' });
    assert.deepEqual(changed.callersOf('lens_busy'), first.callersOf('lens_busy'), 'postings of unchanged files survive');

    // the saved cache holds the update
    const loaded = TreeIndex.loadCached(tree, cacheDir);
    assert.ok(loaded?.callersOf('lens_trace_count').includes('drivers/lensmod/lensmod_stats.c'));

    // a file disappears, another appears
    unlinkSync(join(dir, 'drivers/lensmod/lensmod_extra.c'));
    edit(dir, 'drivers/lensmod/lensmod_new.c', '#include <linux/lens.h>\nint lensmod_new(struct lens_stats *st) { return lens_busy(st); }\n');
    const moved = await TreeIndex.build(tree, { cacheDir, workers: 0 });
    assert.equal(moved.stats().rescanned, 1);
    assert.equal(moved.fileCount, n);
    assert.ok(!moved.hasFile('drivers/lensmod/lensmod_extra.c'));
    assert.ok(moved.callersOf('lens_busy').includes('drivers/lensmod/lensmod_new.c'));
    assert.ok(moved.includersOf('include/linux/lens.h').includes('drivers/lensmod/lensmod_new.c'));
    assert.ok(!moved.includersOf('drivers/lensmod/lensmod.h').includes('drivers/lensmod/lensmod_extra.c'));
    assert.ok(moved.callersOf('lens_trace_count').includes('drivers/lensmod/lensmod_stats.c'));
  });

  test('a name that becomes an API name finds its callers in unchanged files, also when it comes back', async () => {
    const { dir, tree } = treeCopy('api');
    const cacheDir = tempDir('cache');
    const header = 'include/linux/lens_trace.h';
    const original = readFileSync(join(dir, header), 'utf8');
    const first = await TreeIndex.build(tree, { cacheDir, workers: 0 });
    // lensmod_io.c calls lens_trace_later(), which nothing defines yet
    assert.deepEqual(first.callersOf('lens_trace_later'), []);

    const helper = 'static inline void lens_trace_later(const struct lens_stats *st) { lens_trace_check(0); }\n';
    edit(dir, header, original.replace('#endif /* _LINUX_LENS_TRACE_H */', `${helper}\n#endif /* _LINUX_LENS_TRACE_H */`));
    const added = await TreeIndex.build(tree, { cacheDir, workers: 0 });
    assert.ok(added.inlineHelper('lens_trace_later'));
    assert.deepEqual(added.callersOf('lens_trace_later'), ['drivers/lensmod/lensmod_io.c']);
    const r = added.stats().rescanned;
    assert.ok(r >= 2 && r < first.fileCount / 2, `the header and the files that may call the new name, not everything (${r})`);

    edit(dir, header, original);
    const removed = await TreeIndex.build(tree, { cacheDir, workers: 0 });
    assert.equal(removed.stats().rescanned, 1);
    assert.equal(removed.inlineHelper('lens_trace_later'), undefined);
    assert.deepEqual(removed.callersOf('lens_trace_later'), []);

    edit(dir, header, original.replace('#endif /* _LINUX_LENS_TRACE_H */', `${helper}\n#endif /* _LINUX_LENS_TRACE_H */`));
    const back = await TreeIndex.build(tree, { cacheDir, workers: 0 });
    assert.deepEqual(back.callersOf('lens_trace_later'), ['drivers/lensmod/lensmod_io.c']);
  });
});

// ---------------------------------------------------------------------------

describe('cache robustness', () => {
  test('a corrupt, truncated, foreign or other-schema cache is ignored and rebuilt', async () => {
    const { tree } = treeCopy('corrupt');
    const cacheDir = tempDir('cache');
    const good = await TreeIndex.build(tree, { cacheDir, workers: 0 });
    const file = indexCacheFile(tree.root, cacheDir);
    const bytes = readFileSync(file);
    assert.ok(deserializeIndex(bytes, tree.root));
    assert.equal(deserializeIndex(bytes, '/some/other/root'), undefined);

    const variants: [string, Buffer][] = [
      ['empty', Buffer.alloc(0)],
      ['garbage', Buffer.from('not a cache at all, just text\n')],
      ['truncated', bytes.subarray(0, Math.floor(bytes.length / 2))],
      ['one byte flipped', (() => { const b = Buffer.from(bytes); b[b.length - 40] ^= 0xff; return b; })()],
      ['a name changed in place', (() => { const b = Buffer.from(bytes); b.write('lens_bosy', b.indexOf('lens_busy'), 'latin1'); return b; })()],
      ['other schema', (() => { const b = Buffer.from(bytes); b.writeUInt32LE(999, 8); return b; })()],
      ['json', Buffer.from(JSON.stringify({ schema: 1, root: tree.root }))],
    ];
    for (const [label, content] of variants) {
      writeFileSync(file, content);
      assert.equal(TreeIndex.loadCached(tree, cacheDir), undefined, label);
      const rebuilt = await TreeIndex.build(tree, { cacheDir, workers: 0 });
      assert.equal(rebuilt.stats().rescanned, good.fileCount, label);
      assert.deepEqual(rebuilt.callersOf('lens_busy'), good.callersOf('lens_busy'), label);
      assert.ok(TreeIndex.loadCached(tree, cacheDir), `${label}: rewritten`);
    }
    // a cache written for another root under this root's file name
    const other = treeCopy('other');
    writeFileSync(indexCacheFile(other.tree.root, cacheDir), readFileSync(file));
    assert.equal(TreeIndex.loadCached(other.tree, cacheDir), undefined);
    // no temporary files are left behind
    assert.deepEqual(readdirSync(cacheDir).filter((f) => f.endsWith('.tmp')), []);
  });

  test('an unwritable cache directory: the index is built anyway and says why it was not saved', async () => {
    const blocker = join(tempDir('blocked'), 'file');
    writeFileSync(blocker, 'x');
    const index = await TreeIndex.build(fixtureTree(), { cacheDir: join(blocker, 'cache'), workers: 0 });
    assert.ok(index.stats().cacheError);
    assert.deepEqual(index.exportOf('lens_put')?.file, 'drivers/misc/lens_demo.c');
  });
});

// ---------------------------------------------------------------------------

describe('workers and cancellation', () => {
  test('worker threads give the same index as the main thread; a missing worker bundle falls back', async () => {
    const inline = await TreeIndex.build(fixtureTree(), { cacheDir: tempDir('cache'), workers: 0 });
    const phases = new Set<string>();
    let scanned = 0;
    let overshoot = false;
    const threaded = await TreeIndex.build(fixtureTree(), {
      cacheDir: tempDir('cache'),
      workers: 2,
      onProgress: (p: IndexProgress) => {
        phases.add(p.phase);
        if (p.phase === 'scan') scanned = p.done;
        if (p.done > p.total) overshoot = true;
      },
    });
    assert.deepEqual([...phases], ['scan', 'link', 'save']);
    assert.equal(overshoot, false);
    assert.equal(scanned, inline.fileCount);
    const fallback = await TreeIndex.build(fixtureTree(), { cacheDir: tempDir('cache'), workers: 2, workerFile: join(tempDir('noworker'), 'indexWorker.js') });
    for (const index of [threaded, fallback]) {
      const a = { ...index.stats(), buildMs: 0, cacheBytes: 0 };
      const b = { ...inline.stats(), buildMs: 0, cacheBytes: 0 };
      assert.deepEqual(a, b);
      for (const q of ['lens_busy', 'lens_get', 'LENS_TRACE', 'lens_trace_count', 'lensmod_helper']) assert.deepEqual(index.callersOf(q), inline.callersOf(q), q);
      assert.deepEqual(index.includersOf('include/linux/lens.h', true), inline.includersOf('include/linux/lens.h', true));
    }
  });

  test('cancellation rejects, stops the workers and writes no cache', async () => {
    for (const workers of [0, 2]) {
      const cacheDir = tempDir('cache');
      const ac = new AbortController();
      const after: IndexProgress[] = [];
      await assert.rejects(
        TreeIndex.build(fixtureTree(), {
          cacheDir,
          workers,
          signal: ac.signal,
          onProgress: (p) => (ac.signal.aborted ? after.push(p) : p.phase === 'scan' && ac.abort()),
        }),
        (e: Error) => /cancel/i.test(e.message),
      );
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(after, [], `workers ${workers}: no file is scanned after the abort`);
      assert.equal(existsSync(indexCacheFile(TREE_DIR, cacheDir)), false, `workers ${workers}`);
    }
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(TreeIndex.build(fixtureTree(), { cacheDir: tempDir('cache'), signal: ac.signal }), /cancel/i);
  });
});

// ---------------------------------------------------------------------------

describe('odd trees', () => {
  test('binary, oversized, latin1, FIFO, symlinks and excluded directories', async () => {
    const { dir, tree } = treeCopy('odd');
    const outside = tempDir('outside');
    writeFileSync(join(outside, 'evil.c'), 'EXPORT_SYMBOL(from_outside);\n');
    mkdirSync(join(dir, 'drivers/odd'), { recursive: true });
    writeFileSync(join(dir, 'drivers/odd/blob.c'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0, 1]));
    writeFileSync(join(dir, 'drivers/odd/huge.h'), '/* filler */\n'.repeat(400_000));
    appendFileSync(join(dir, 'drivers/odd/huge.h'), '#define HUGE_MACRO(x) (x)\n');
    writeFileSync(join(dir, 'drivers/odd/latin1.c'), Buffer.from('/* Fran\xe7ois */\nint odd_fn(void) { return 0; }\nEXPORT_SYMBOL(odd_fn);\n', 'latin1'));
    symlinkSync(outside, join(dir, 'drivers/odd/linked_dir'));
    symlinkSync(join(outside, 'evil.c'), join(dir, 'drivers/odd/linked.c'));
    symlinkSync(join(dir, 'missing.c'), join(dir, 'drivers/odd/dangling.c'));
    let fifo = false;
    try {
      execFileSync('mkfifo', [join(dir, 'drivers/odd/pipe.c')]);
      fifo = true;
    } catch {
      // no mkfifo here: the rest still runs
    }
    for (const d of ['Documentation', 'tools/testing/selftests', '.git']) {
      mkdirSync(join(dir, d), { recursive: true });
      writeFileSync(join(dir, d, 'doc.c'), 'EXPORT_SYMBOL(excluded_export);\n');
    }
    mkdirSync(join(dir, 'tools/perf'), { recursive: true });
    writeFileSync(join(dir, 'tools/perf/perf.c'), 'EXPORT_SYMBOL(tools_export);\n');

    const cacheDir = tempDir('cache');
    const index = await TreeIndex.build(tree, { cacheDir, workers: 0 });
    assert.deepEqual(index.exportOf('odd_fn'), { file: 'drivers/odd/latin1.c', line: 2, macro: 'EXPORT_SYMBOL' });
    assert.equal(index.exportOf('from_outside'), undefined, 'symlinks are not followed');
    assert.equal(index.exportOf('excluded_export'), undefined);
    assert.ok(index.exportOf('tools_export'), 'tools/ outside selftests is indexed');
    assert.equal(index.isFunctionMacro('HUGE_MACRO'), undefined, 'over 4 MiB: skipped');
    assert.equal(index.stats().skipped, 2, 'blob.c and huge.h');
    assert.ok(index.hasFile('drivers/odd/huge.h'));
    assert.ok(!index.hasFile('drivers/odd/linked.c') && !index.hasFile('drivers/odd/dangling.c'));
    if (fifo) assert.ok(!index.hasFile('drivers/odd/pipe.c'));
    // skipped files are remembered: nothing is rescanned next time
    const again = await TreeIndex.build(tree, { cacheDir, workers: 0 });
    assert.equal(again.stats().skipped, 2);
    assert.equal(again.stats().rescanned, 0);
  });
});
