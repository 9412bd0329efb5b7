/**
 * Deterministic benchmark inputs: patches made by editing real kernel files
 * (linux-source-6.1 when present) or, without it, synthetic kernel-style files.
 * Edits are seeded so every run measures the same input.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTwoFilesPatch } from 'diff';

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Edit a C file: add statements in function bodies and fields in structs. */
export function editFile(text: string, edits: number, rand: () => number): string {
  const lines = text.split('\n');
  const candidates: number[] = [];
  // Only statements inside function bodies: a body opens with "{" alone at column 0 and ends at "}".
  let inFunction = false;
  for (let i = 1; i < lines.length - 1; i++) {
    const l = lines[i];
    if (l === '{') inFunction = true;
    else if (l.startsWith('}')) inFunction = false;
    if (inFunction && /^\t[a-z_][\w>.-]*(\(.*\))?.*;$/.test(l) && !/^\t(return|goto|break|continue)\b/.test(l) && !lines[i + 1].startsWith('\t\t')) candidates.push(i);
  }
  const chosen = new Set<number>();
  while (chosen.size < Math.min(edits, candidates.length)) chosen.add(candidates[Math.floor(rand() * candidates.length)]);
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    out.push(lines[i]);
    if (!chosen.has(i)) continue;
    const kind = rand();
    if (kind < 0.7) out.push('\tWRITE_ONCE(klp_bench_seq, READ_ONCE(klp_bench_seq) + 1);');
    else if (kind < 0.9) out.push('\tif (unlikely(klp_bench_seq < 0))', '\t\treturn -EINVAL;');
    else out.push('\tklp_bench_note(__func__, __LINE__);');
  }
  return out.join('\n');
}

export interface BenchTree {
  root: string;
  real: boolean;
  files: string[];
}

function walkC(dir: string, acc: string[], limit: number, minBytes: number, maxBytes: number): void {
  for (const name of readdirSync(dir).sort()) {
    if (acc.length >= limit) return;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) walkC(p, acc, limit, minBytes, maxBytes);
    else if (name.endsWith('.c') && st.size >= minBytes && st.size <= maxBytes) acc.push(p);
  }
}

/** linux-source-6.1 when installed; otherwise a generated tree of kernel-style files. */
export function benchTree(cacheDir: string): BenchTree {
  for (const root of [process.env.KLP_LENS_LINUX_SOURCE, '/usr/src/linux-source-6.1']) {
    if (root && existsSync(join(root, 'Makefile')) && existsSync(join(root, 'kernel'))) {
      const files: string[] = [];
      for (const sub of ['kernel', 'fs', 'mm', 'net/ipv4']) walkC(join(root, sub), files, files.length + 20, 20_000, 120_000);
      return { root, real: true, files: files.map((f) => f.slice(root.length + 1)) };
    }
  }
  const root = join(cacheDir, 'synthetic-tree');
  const files: string[] = [];
  mkdirSync(join(root, 'kernel'), { recursive: true });
  writeFileSync(join(root, 'Makefile'), 'VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\nEXTRAVERSION =\n');
  writeFileSync(join(root, 'Kconfig'), '\n');
  for (let k = 0; k < 60; k++) {
    const rel = `kernel/synth_${k}.c`;
    writeFileSync(join(root, rel), syntheticFile(k));
    files.push(rel);
  }
  return { root, real: false, files };
}

function syntheticFile(k: number): string {
  const out = ['// SPDX-License-Identifier: GPL-2.0', '#include <linux/kernel.h>', '#include <linux/slab.h>', ''];
  out.push(`struct synth_${k} {`, '\tspinlock_t lock;', '\tstruct list_head list;', '\tunsigned long flags;', '\tint refs;', '};', '');
  for (let f = 0; f < 40; f++) {
    out.push(`static int synth_${k}_op${f}(struct synth_${k} *s, int arg)`, '{', '\tint ret = 0;', '');
    out.push('\tspin_lock(&s->lock);', '\ts->refs += arg;', '\tret = s->refs;', '\tspin_unlock(&s->lock);');
    out.push(`\tpr_debug("op${f}: %d\\n", ret);`, '\tsmp_mb();', '\treturn ret;', '}', '');
  }
  return out.join('\n') + '\n';
}

/** A patch of about `targetLines` lines over files of the tree, as git diff output. */
export function makePatch(tree: BenchTree, targetLines: number, seed: number): { text: string; files: number } {
  const rand = rng(seed);
  const parts: string[] = [];
  let lines = 0;
  let files = 0;
  for (const rel of tree.files) {
    if (lines >= targetLines) break;
    const before = readFileSync(join(tree.root, rel), 'utf8');
    const remaining = targetLines - lines;
    const edits = Math.max(1, Math.min(60, Math.round(remaining / 9)));
    const after = editFile(before, edits, rand);
    const p = createTwoFilesPatch(`a/${rel}`, `b/${rel}`, before, after, '', '', { context: 3 });
    const body = p.split('\n').slice(2).join('\n'); // drop jsdiff's "Index:"/"===" lines
    const chunk = `diff --git a/${rel} b/${rel}\n${body}`;
    parts.push(chunk);
    lines += chunk.split('\n').length;
    files++;
  }
  return { text: parts.join(''), files };
}
