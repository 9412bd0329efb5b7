/**
 * Properties that need a kernel tree: the fixes and `generate`. Bases are the
 * fixture patches on the fixture tree and, when linux-source-6.1 is unpacked,
 * the kernel fixtures' real fixes on it.
 *
 * - fixes: any chain of offered fixes, in any order, for either tool, leaves
 *   a patch that still applies to the same tree (`git apply --check`, and no
 *   new "does not apply" finding) and whose answered finding is gone;
 * - generate: the output folder holds exactly the module's files, with plain
 *   names, and nothing else anywhere is written (the sandbox and the patched
 *   tree files are unchanged).
 */
import fc from 'fast-check';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzePatch, targetOf, type AnalyzeOptions, type PatchAnalysis } from '../../server/src/core/analysis';
import { applyFix, fixesFor, FixError } from '../../server/src/core/fixes';
import type { Finding } from '../../server/src/core/findings';
import { KernelTree } from '../../server/src/core/tree/kernelTree';
import { generateInto, GenerateError } from '../../server/src/services/generate';
import { gitApplyCheck, linuxSourceTree, TREE_DIR } from '../helpers';
import { KERNEL_PATCHES, PATCHES, type Property } from './properties';

interface Base {
  name: string;
  text: string;
  tree: KernelTree;
}

let bases: Base[] | undefined;

/** The patches and the trees they apply to (opened once). */
export function treeBases(): Base[] {
  if (bases) return bases;
  const fixtureTree = KernelTree.detect(TREE_DIR)!;
  bases = PATCHES.map((text, i) => ({ name: `fixture ${i}`, text, tree: fixtureTree }));
  const linux = linuxSourceTree();
  if (linux) {
    const tree = KernelTree.open(linux).tree!;
    bases.push(...KERNEL_PATCHES.map((text, i) => ({ name: `kernel fixture ${i}`, text, tree })));
  }
  return bases;
}

const applying = new Map<Base, boolean>();
/** Whether git applies the base patch itself (the fixture with a binary file and a rename does not apply to the fixture tree). */
const baseApplies = (b: Base) => applying.get(b) ?? (applying.set(b, gitApplyCheck(b.text, b.tree.root) === ''), applying.get(b)!);

const INPUT = new Set(['KLP001', 'KLP002', 'KLP007']);
const inputProblems = (a: PatchAnalysis) => a.findings.filter((f) => INPUT.has(f.code)).length;
/** A finding as the fix driver tells findings apart: code, file and the rule's data (entity names, not lines). */
const keyOf = (f: Finding) => `${f.code}|${f.file ?? ''}|${JSON.stringify(f.data ?? {})}`;

export interface FixCase {
  base: number;
  tool?: 'kpatch-build' | 'klp-build';
  generating: boolean;
  picks: number[];
}

export const fixCase: fc.Arbitrary<FixCase> = fc.record({
  base: fc.nat(),
  tool: fc.constantFrom(undefined, 'kpatch-build' as const, 'klp-build' as const),
  generating: fc.boolean(),
  picks: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
});

/** One step: apply the picked offer; the next text, or undefined when nothing was offered. */
async function fixStep(text: string, b: Base, opts: AnalyzeOptions, c: FixCase, pick: number): Promise<string | undefined> {
  const a = await analyzePatch(text, { ...opts, keepSyntax: true });
  try {
    const ctx = { text, analysis: a, tree: b.tree, target: targetOf(opts), generating: c.generating };
    const offers = a.findings.flatMap((f) => fixesFor(ctx, f).map((o) => ({ f, o })));
    if (!offers.length) return undefined;
    const { f, o } = offers[pick % offers.length];
    let next: string;
    try {
      next = applyFix(ctx, o.fix, f).text;
    } catch (e) {
      if (e instanceof FixError) return text; // refused, with its reason: allowed
      throw e;
    }
    const where = `${b.name}: ${o.fix.id} on ${f.code} "${f.message.slice(0, 80)}"`;
    if (process.env.PROP_DEBUG) console.error(where);
    const err = baseApplies(b) ? gitApplyCheck(next, b.tree.root) : '';
    if (err) throw new Error(`${where}: the fixed patch does not apply: ${err}`);
    const after = await analyzePatch(next, opts);
    try {
      if (inputProblems(after) > inputProblems(a)) throw new Error(`${where}: the fixed patch no longer applies by the analysis (${after.findings.filter((x) => INPUT.has(x.code)).map((x) => x.message).join('; ')})`);
      if (after.findings.some((x) => keyOf(x) === keyOf(f))) throw new Error(`${where}: the finding is still there after the fix`);
    } finally {
      after.dispose();
    }
    return next;
  } finally {
    a.dispose();
  }
}

let fixable: Base[] | undefined;

/** The bases with at least one fix on offer (either tool): the others would test nothing. */
async function fixableBases(): Promise<Base[]> {
  if (fixable) return fixable;
  const out: Base[] = [];
  for (const b of treeBases()) {
    for (const tool of ['kpatch-build', 'klp-build'] as const) {
      const a = await analyzePatch(b.text, { tree: b.tree, tool, keepSyntax: true });
      const ctx = { text: b.text, analysis: a, tree: b.tree, target: targetOf({ tree: b.tree, tool }), generating: true };
      const offered = a.findings.some((f) => fixesFor(ctx, f).length > 0);
      a.dispose();
      if (offered) {
        out.push(b);
        break;
      }
    }
  }
  return (fixable = out);
}

export async function fixesHold(c: FixCase): Promise<void> {
  const all = await fixableBases();
  const b = all[c.base % all.length];
  const opts: AnalyzeOptions = { tree: b.tree, ...(c.tool ? { tool: c.tool } : {}) };
  let text = b.text;
  for (const pick of c.picks) {
    const next = await fixStep(text, b, opts, c, pick);
    if (next === undefined) return;
    text = next;
  }
}

export interface GenerateCase {
  base: number;
  fix: boolean;
  name?: string;
}

export const generateCase: fc.Arbitrary<GenerateCase> = fc.record({
  base: fc.nat(),
  fix: fc.boolean(),
  name: fc.option(fc.constantFrom('lens_fix', '../evil', 'a/b', 'x\0y', 'UPPER_ok', '', 'n'.repeat(80)), { nil: undefined }),
});

const mtimes = (tree: KernelTree, paths: string[]) => paths.map((p) => `${p}:${statSync(join(tree.root, p), { throwIfNoEntry: false })?.mtimeMs ?? '-'}`).join(',');

const listing = (dir: string): string[] => readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();

export async function generateHolds(c: GenerateCase): Promise<void> {
  const all = treeBases();
  const b = all[c.base % all.length];
  const sandbox = mkdtempSync(join(tmpdir(), 'klp-gen-prop-'));
  const out = join(sandbox, 'module');
  const touched = [...b.text.matchAll(/^\+\+\+ b\/(\S+)/gm)].map((m) => m[1]);
  const before = mtimes(b.tree, touched);
  try {
    let r;
    try {
      r = await generateInto({ text: b.text, source: 'p.patch', tree: b.tree, out, name: c.name, options: {}, generator: 'property', fix: c.fix });
    } catch (e) {
      if (e instanceof GenerateError) return; // refused with a message (a bad --name)
      throw e;
    }
    const files = r.module.files.map((f) => f.path).sort();
    for (const f of files) if (!/^[A-Za-z0-9_.-]+$/.test(f)) throw new Error(`${b.name}: a generated file is named ${JSON.stringify(f)}`);
    const inOut = listing(out);
    if (JSON.stringify(inOut) !== JSON.stringify(files)) throw new Error(`${b.name}: the folder holds ${inOut.join(' ')}, the module ${files.join(' ')}`);
    if (JSON.stringify(listing(sandbox)) !== JSON.stringify(['module', ...files.map((f) => `module/${f}`)].sort())) throw new Error(`${b.name}: something was written beside the folder: ${listing(sandbox).join(' ')}`);
    for (const f of r.module.files) if (readFileSync(join(out, f.path), 'utf8') !== f.text) throw new Error(`${b.name}: ${f.path} on disk is not what was generated`);
    if (mtimes(b.tree, touched) !== before) throw new Error(`${b.name}: a tree file was written`);
  } finally {
    rmSync(sandbox, { recursive: true, force: true });
  }
}

export const TREE_PROPERTIES: Property<unknown>[] = [
  { name: 'fixes', arb: fixCase, check: fixesHold, runs: 40, save: (x: FixCase) => JSON.stringify(x), load: (s: string) => JSON.parse(s) as FixCase },
  { name: 'generate', arb: generateCase, check: generateHolds, runs: 25, save: (x: GenerateCase) => JSON.stringify(x), load: (s: string) => JSON.parse(s) as GenerateCase },
] as Property<unknown>[];
