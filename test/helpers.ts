/**
 * Shared helpers for the tests. Test bundles live in out/test/<suite>/, so
 * paths are resolved from the repository root found by walking up.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { analyzePatch, type AnalyzeOptions, type PatchAnalysis } from '../server/src/core/analysis';
import { KernelTree } from '../server/src/core/tree/kernelTree';
import type { EntityChange } from '../server/src/core/entities/diff';

export function repoRoot(): string {
  let dir = __dirname;
  for (let k = 0; k < 6; k++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'livepatch-lens') return dir;
    dir = dirname(dir);
  }
  throw new Error('repository root not found');
}

export const ROOT = repoRoot();
export const FIXTURES = join(ROOT, 'test', 'fixtures');
export const TREE_DIR = join(FIXTURES, 'tree');

export function fixture(name: string): string {
  return readFileSync(join(FIXTURES, 'patches', name), 'utf8');
}

export function fixtureTree(): KernelTree {
  const t = KernelTree.detect(TREE_DIR);
  if (!t) throw new Error('fixture tree not detected');
  return t;
}

/** Analyse, hand the result to `fn`, release the trees. */
export async function withAnalysis<T>(text: string, opts: AnalyzeOptions, fn: (a: PatchAnalysis) => T | Promise<T>): Promise<T> {
  const a = await analyzePatch(text, opts);
  try {
    return await fn(a);
  } finally {
    a.dispose();
  }
}

/** Entities of one source file as compact strings "kind name change(aspects)". */
export function entitySummary(a: PatchAnalysis, path?: string): string[] {
  return a.files
    .filter((f) => path === undefined || f.path === path)
    .flatMap((f) => f.entities.map((e) => brief(e)));
}

export function brief(e: EntityChange): string {
  return `${e.kind} ${e.name} ${e.change}${e.aspects.length ? `(${e.aspects.join(',')})` : ''}`;
}

export function entity(a: PatchAnalysis, name: string, kind?: string): EntityChange {
  const found = a.files.flatMap((f) => f.entities).filter((e) => e.name === name && (kind === undefined || e.kind === kind));
  if (found.length !== 1) throw new Error(`expected one entity ${kind ?? ''} ${name}, found ${found.length}: ${a.files.flatMap((f) => f.entities.map(brief)).join('; ')}`);
  return found[0];
}

/** The patch document line (0-based) holding `needle`, searched from `from`. */
export function docLine(text: string, needle: string, from = 0): number {
  const lines = text.split(/\r?\n/);
  for (let i = from; i < lines.length; i++) if (lines[i].includes(needle)) return i;
  throw new Error(`"${needle}" not in document`);
}

export function hasSharedCorpus(): string | undefined {
  const dir = join(ROOT, '..', 'shared', 'corpus', 'anolis-kpatch-rewrite');
  return existsSync(dir) ? dir : undefined;
}

export function linuxSourceTree(): string | undefined {
  for (const d of [process.env.KLP_LENS_LINUX_SOURCE, '/usr/src/linux-source-6.1']) {
    if (d && existsSync(join(d, 'Makefile')) && existsSync(join(d, 'kernel'))) return d;
  }
  return undefined;
}

/**
 * A one-file diff in `git diff` format with git's hunk headings for C
 * (diff=cpp): the last line before the hunk that starts with a letter or '_'
 * and is not a label, cut at 80 characters.
 */
export function gitStyleDiff(path: string, before: string, after: string): string {
  const { structuredPatch } = require('diff') as typeof import('diff');
  const p = structuredPatch(`a/${path}`, `b/${path}`, before, after, '', '', { context: 3 });
  const old = before.split('\n');
  const out = [`diff --git a/${path} b/${path}`, `--- a/${path}`, `+++ b/${path}`];
  for (const h of p.hunks) {
    let heading = '';
    for (let k = h.oldStart - 2; k >= 0; k--) {
      const l = old[k];
      if (/^[A-Za-z_]/.test(l) && !/^[A-Za-z_]\w*:\s*($|\/[/*])/.test(l)) {
        heading = l.slice(0, 80).trimEnd();
        break;
      }
    }
    out.push(`@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@${heading ? ' ' + heading : ''}`);
    out.push(...h.lines);
  }
  return out.join('\n') + '\n';
}

/** A throwaway kernel-style tree (top Makefile, Kconfig, kernel/) holding the given files. */
export function tempKernelTree(files: Record<string, string>): KernelTree {
  const { mkdtempSync, mkdirSync, writeFileSync } = require('node:fs') as typeof import('node:fs');
  const { tmpdir } = require('node:os') as typeof import('node:os');
  const root = mkdtempSync(join(tmpdir(), 'klp-lens-tree-'));
  writeFileSync(join(root, 'Makefile'), 'VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\nEXTRAVERSION =\n');
  writeFileSync(join(root, 'Kconfig'), '\n');
  mkdirSync(join(root, 'kernel'), { recursive: true });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  const t = KernelTree.detect(root);
  if (!t) throw new Error('temp tree not detected');
  return t;
}

/**
 * A patch to the fixture tree whose findings need the tree's index: the
 * patched file is built as a module (drivers/lensmod/Makefile, obj-m) and
 * the new code calls lens_trace_on(), an inline helper in a header that
 * tests the static key lens_trace_enabled (KLP192, KLP300).
 */
export function indexedTreePatch(): string {
  const path = 'drivers/lensmod/lensmod_extra.c';
  const before = readFileSync(join(TREE_DIR, path), 'utf8');
  const after = before.replace('#include "lensmod.h"\n', '#include "lensmod.h"\n#include <linux/lens_trace.h>\n').replace('\treturn 1;', '\tif (lens_trace_on())\n\t\treturn 2;\n\treturn 1;');
  if (after === before) throw new Error(`${path} changed: indexedTreePatch() no longer applies`);
  return gitStyleDiff(path, before, after);
}

/**
 * A kernel-style tree and a patch against it that together raise every
 * hazard category (with arch ppc64le for the sibling call): drivers/zoo/zoo.c
 * built as a module (obj-m via CONFIG_ZOO=m), a header, a lib/ file, and a
 * .config with a livepatch blocker. The CLI and the server must report the
 * same findings on it.
 */
export function hazardZoo(): { root: string; patch: string } {
  const { mkdtempSync, mkdirSync, writeFileSync } = require('node:fs') as typeof import('node:fs');
  const { tmpdir } = require('node:os') as typeof import('node:os');
  const C = (...l: string[]) => l.join('\n') + '\n';
  const files: Record<string, [string, string]> = {};
  const header = C(
    '/* SPDX-License-Identifier: GPL-2.0 */',
    '#ifndef _LINUX_ZOO_H',
    '#define _LINUX_ZOO_H',
    '',
    'struct zoo_dev {',
    '\tspinlock_t lock;',
    '\tunsigned int users;',
    '\tunsigned long flags;',
    '};',
    '',
    'static inline int zoo_scale(int x)',
    '{',
    '\treturn x * 2;',
    '}',
    '',
    '#endif /* _LINUX_ZOO_H */',
  );
  files['include/linux/zoo.h'] = [header, header.replace('\tunsigned long flags;\n', '\tunsigned long flags;\n\tunsigned int errors;\n').replace('return x * 2;', 'return x * 3;')];
  const zoo = C(
    '// SPDX-License-Identifier: GPL-2.0',
    '#include <linux/module.h>',
    '#include <linux/livepatch.h>',
    '#include <linux/zoo.h>',
    '',
    'DEFINE_STATIC_KEY_FALSE(zoo_key);',
    'DEFINE_STATIC_CALL(zoo_notify, zoo_notify_default);',
    '',
    'static int zoo_limit = 16;',
    '',
    'int zoo_sum(int a)',
    '{',
    '\treturn a;',
    '}',
    'EXPORT_SYMBOL_NS_GPL(zoo_sum, ZOO);',
    '',
    'void zoo_get(struct zoo_dev *d)',
    '{',
    '\td->users++;',
    '}',
    '',
    'void zoo_put(struct zoo_dev *d)',
    '{',
    '\td->users--;',
    '}',
    '',
    'static int zoo_use(struct zoo_dev *d, int x)',
    '{',
    '\tspin_lock(&d->lock);',
    '\td->flags |= 1;',
    '\tspin_unlock(&d->lock);',
    '\treturn zoo_scale(x);',
    '}',
    '',
    'static void zoo_check(struct zoo_dev *d)',
    '{',
    '\tWARN_ON(!d);',
    '}',
    '',
    'static int zoo_tail(struct zoo_dev *d)',
    '{',
    '\treturn zoo_use(d, 1);',
    '}',
    '',
    'static int __init zoo_init(void)',
    '{',
    '\treturn 0;',
    '}',
    'module_init(zoo_init);',
    '',
    'static void __sched zoo_wait(void)',
    '{',
    '\tschedule();',
    '}',
    '',
    'static notrace u64 zoo_clock(void)',
    '{',
    '\treturn 0;',
    '}',
    '',
    'int zoo_reset(struct zoo_dev *d)',
    '{',
    '\td->users = 0;',
    '\treturn 0;',
    '}',
    '',
    'SYSCALL_DEFINE1(zoo_ping, int, fd)',
    '{',
    '\treturn fd < 0 ? -EBADF : 0;',
    '}',
    '',
    'static int zoo_quick(void)',
    '{',
    '\treturn 0;',
    '}',
    '',
    'MODULE_LICENSE("GPL");',
  );
  const zooAfter = zoo
    .replace('static int zoo_limit = 16;', 'static int zoo_limit = 32;')
    .replace('\td->users++;', '\td->users += 2;')
    .replace('\td->users--;', '\td->users -= 2;')
    .replace(
      '\tspin_lock(&d->lock);\n\td->flags |= 1;',
      '\tstatic int calls;\n\n\tcalls++;\n\tif (static_branch_unlikely(&zoo_key))\n\t\tWARN_ONCE(x < 0, "zoo: %d\\n", x);\n\tstatic_call(zoo_notify)(d);\n\tasm volatile("" ::: "memory");\n\tklp_shadow_alloc(d, 1, sizeof(int), GFP_ATOMIC, NULL, NULL);\n\tspin_lock(&d->lock);\n\td->flags |= 1;',
    )
    .replace('\treturn zoo_use(d, 1);', '\treturn zoo_use(d, 2);')
    .replace('static int __init zoo_init(void)\n{\n\treturn 0;', 'static int __init zoo_init(void)\n{\n\treturn zoo_sum(0);')
    .replace('\tschedule();', '\tschedule();\n\tcpu_relax();')
    .replace('\treturn 0;\n}\n\nint zoo_reset', '\treturn 1;\n}\n\nint zoo_reset')
    .replace('int zoo_reset(struct zoo_dev *d)', 'static int zoo_reset(struct zoo_dev *d)')
    .replace('fd < 0 ? -EBADF : 0', 'fd < 0 ? -EBADF : -ENOSYS')
    .replace('MODULE_LICENSE("GPL");', 'EXPORT_SYMBOL(zoo_quick);\nKPATCH_IGNORE_FUNCTION(zoo_quick);\nKLP_PRE_PATCH_CALLBACK(zoo_init);\nMODULE_LICENSE("GPL");');
  files['drivers/zoo/zoo.c'] = [zoo, zooAfter];
  const lib = C('// SPDX-License-Identifier: GPL-2.0', 'int zoo_hash(int x)', '{', '\treturn x;', '}');
  files['lib/zoo_hash.c'] = [lib, lib.replace('\treturn x;', '\treturn x * 31;')];

  const root = mkdtempSync(join(tmpdir(), 'klp-lens-zoo-'));
  const put = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  put('Makefile', 'VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\nEXTRAVERSION =\n');
  put('Kconfig', 'source "drivers/zoo/Kconfig"\n');
  put('kernel/Makefile', 'obj-y += fork.o\n');
  put('drivers/zoo/Kconfig', 'config ZOO\n\ttristate "Zoo"\n');
  put('drivers/zoo/Makefile', 'obj-$(CONFIG_ZOO) += zoo.o\n');
  put('lib/Makefile', 'obj-y += zoo_hash.o\n');
  put('.config', 'CONFIG_LIVEPATCH=y\nCONFIG_DEBUG_INFO=y\nCONFIG_GCC_PLUGIN_RANDSTRUCT=y\nCONFIG_ZOO=m\n');
  const parts: string[] = [];
  for (const [path, [before, after]] of Object.entries(files)) {
    put(path, before);
    parts.push(gitStyleDiff(path, before, after));
  }
  return { root, patch: parts.join('') };
}

/**
 * `git apply --check` of a patch in a tree's folder: '' when it applies, else
 * git's complaint. Never in an enclosing repository (the fixture tree sits in
 * this one, where git would take the paths as relative to the repository).
 */
/** `git apply --check` of a patch on a tree made of these files (path → text); '' when it applies. */
export function gitApplyCheckOn(files: Record<string, string>, patch: string): string {
  const root = mkdtempSync(join(tmpdir(), 'klp-lens-tree-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return gitApplyCheck(patch, root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export function gitApplyCheck(patch: string, root: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'klp-lens-apply-'));
  try {
    writeFileSync(join(dir, 'p.patch'), patch);
    const r = spawnSync('git', ['apply', '--check', join(dir, 'p.patch')], { cwd: root, encoding: 'utf8', env: { ...process.env, GIT_CEILING_DIRECTORIES: dirname(root) } });
    return r.status === 0 ? '' : r.stderr || `git apply exited ${r.status}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
