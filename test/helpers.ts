/**
 * Shared helpers for the tests. Test bundles live in out/test/<suite>/, so
 * paths are resolved from the repository root found by walking up.
 */
import { existsSync, readFileSync } from 'node:fs';
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
