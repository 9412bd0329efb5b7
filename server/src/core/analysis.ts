/**
 * The pipeline from patch text to findings, shared by the CLI, the server and
 * the tests:
 *
 *   text → PatchSet (patch/parse) → FileChange images (patch/images)
 *        → ParseSource + tree-sitter trees (syntax/) → EntityChange[] (entities/)
 *        → Finding[] (input problems + rules/)
 *
 * Trees live on the wasm heap: call dispose() when the analysis is no longer used.
 */
import { parsePatch } from './patch/parse';
import type { PatchSet } from './patch/model';
import { buildImages, type FileChange } from './patch/images';
import type { KernelTree } from './tree/kernelTree';
import { buildParseSource } from './syntax/source';
import { initParser, parseC, type Node, type Tree } from './syntax/parser';
import type { Edit } from 'web-tree-sitter';
import type { ParseSource } from './syntax/source';
import type { ParseCache } from './syntax/cache';
import type { FileResultCache } from './resultCache';
import { extractEntities } from './entities/extract';
import { diffEntities, type EntityChange, type Side } from './entities/diff';
import { finding, sortFindings, type Finding } from './findings';
import { collectFileFacts, emptyFacts, type FileFacts } from './facts';
import type { DecodedText } from './text';
import { range as mkRange, lineContentRange } from './text';
import type { SymbolTable } from './symbols/table';
import { runRules, type BuildTool, type RuleContext, type Target, type TreeFacts } from './rules';
import { append } from './arrays';
import { MAX_C_NESTING, maxNesting } from './syntax/nesting';
import { parseKernelVersion, versionAtLeast } from './kernelVersion';
import { CancelledError } from './cancel';

export interface FileAnalysis extends FileChange {
  entities: EntityChange[];
  /** What the changed functions do (calls, effects on shared state, accesses), both sides. */
  facts: FileFacts;
  /**
   * Parsed sides of a C file, kept only with `keepSyntax` (their trees then
   * live until dispose()). Without it each file's trees are released as soon as
   * the file is analysed, so memory stays bounded by the largest file.
   */
  preSide?: Side;
  postSide?: Side;
}

export interface PatchAnalysis {
  set: PatchSet;
  files: FileAnalysis[];
  findings: Finding[];
  tree?: KernelTree;
  dispose(): void;
}

export { CancelledError };

export interface AnalyzeOptions {
  tree?: KernelTree;
  /** How the text was decoded from bytes (CLI): adds a KLP005 note for non-UTF-8 input. */
  decoded?: DecodedText;
  /** Inputs longer than this (UTF-16 units) are not analysed; KLP011 says so. */
  maxLength?: number;
  /** Called between files; return true to abandon the analysis (CancelledError). */
  isCancelled?: () => boolean;
  /** Awaited between files so a server can serve other requests meanwhile. */
  yieldBetweenFiles?: () => Promise<void>;
  /** Keep the syntax trees and parse sources of every file (the caller must call dispose()). */
  keepSyntax?: boolean;
  /** Keep them for this file only (by path): the others may come from the result cache (a code action's edit). */
  syntaxFor?: string;
  /** Reuse parsed pre-images of tree files between analyses (the server keeps one). */
  parseCache?: ParseCache;
  /** Reuse the per-file results of files whose part of the patch did not change (the server keeps one; ignored with keepSyntax). */
  resultCache?: FileResultCache;
  /** false: build the patch model only (entities), without the facts and hazard rules (benchmarks of the model). */
  rules?: boolean;
  /** The tree's index, when built: rules use it for cross-file facts. */
  index?: TreeFacts;
  /** Target kernel version ("6.1") and arch ("x86_64"); the version defaults to the tree's. */
  kernelVersion?: string;
  arch?: string;
  /** The build tool fixes write for; default: klp-build from kernel 6.19 on, kpatch-build before. */
  tool?: BuildTool;
  /** The target kernel's symbol table: patched functions it does not have are reported (KLP340–342). */
  symbols?: SymbolTable;
}

/** The architecture a kernel .config is for (the tree's index answers), or undefined. */
export function archOfConfig(index: Pick<TreeFacts, 'configValue' | 'hasConfig'> | undefined): string | undefined {
  if (!index?.hasConfig) return undefined;
  const on = (s: string) => index.configValue(s) === 'y';
  if (on('X86_64')) return 'x86_64';
  if (on('PPC64')) return on('CPU_LITTLE_ENDIAN') ? 'ppc64le' : 'ppc64';
  if (on('S390')) return 's390x';
  if (on('ARM64')) return 'arm64';
  if (on('LOONGARCH')) return 'loongarch64';
  return undefined;
}

/** The target of the livepatch: explicit settings first, then what the tree says (Makefile, .config), then x86_64. */
export function targetOf(options: Pick<AnalyzeOptions, 'tree' | 'kernelVersion' | 'arch' | 'index' | 'tool'>): Target {
  const target: Target = { arch: options.arch || archOfConfig(options.index) || 'x86_64', tool: 'kpatch-build' };
  const v = parseKernelVersion(options.kernelVersion ?? '');
  if (v) target.kernel = { ...v, text: options.kernelVersion as string };
  else if (options.tree?.version) target.kernel = { major: options.tree.version.version, minor: options.tree.version.patchlevel, text: options.tree.version.text };
  // klp-build ships with the kernel from 6.19 on; before it, kpatch-build is the tool
  const k = target.kernel;
  target.tool = options.tool ?? (k && versionAtLeast(k, 6, 19) ? 'klp-build' : 'kpatch-build');
  return target;
}

export const DEFAULT_MAX_LENGTH = 16 * 1024 * 1024;

function disposeSides(files: FileAnalysis[], cache?: ParseCache): void {
  const seen = new Set<Tree>();
  for (const f of files) {
    for (const s of [f.preSide, f.postSide]) {
      const t = s?.tree;
      if (t && !seen.has(t) && !cache?.owns(t)) {
        seen.add(t);
        t.delete();
      }
    }
  }
}

export async function analyzePatch(text: string, options: AnalyzeOptions = {}): Promise<PatchAnalysis> {
  await initParser();
  return analyzeLoaded(text, options, true);
}

/** Synchronous analysis once initParser() has resolved (benchmarks, batch CLI). */
export function analyzePatchSync(text: string, options: AnalyzeOptions = {}): PatchAnalysis {
  const r = analyzeLoaded(text, options, false);
  if (r instanceof Promise) throw new Error('unreachable');
  return r as PatchAnalysis;
}

function analyzeLoaded(text: string, options: AnalyzeOptions, async: true): Promise<PatchAnalysis>;
function analyzeLoaded(text: string, options: AnalyzeOptions, async: false): PatchAnalysis;
function analyzeLoaded(text: string, options: AnalyzeOptions, async: boolean): PatchAnalysis | Promise<PatchAnalysis> {
  const max = options.maxLength ?? DEFAULT_MAX_LENGTH;
  const findings: Finding[] = [];
  if (options.decoded) findings.push(...encodingFindings(options.decoded));
  if (text.length > max) {
    const set: PatchSet = { format: 'empty', patches: [], problems: [], lineCount: 0, lines: [] };
    findings.push(
      finding('KLP011', `The patch is ${(text.length / 1048576).toFixed(1)} MiB, above the ${(max / 1048576).toFixed(0)} MiB limit (setting livepatchLens.maxPatchBytes, CLI --max-bytes); it is not analysed. Split the series and check it patch by patch.`, mkRange(0, 0, 0, 0)),
    );
    const result: PatchAnalysis = { set, files: [], findings, tree: options.tree, dispose() {} };
    return async ? Promise.resolve(result) : result;
  }
  const set = parsePatch(text);
  for (const p of set.problems) findings.push(finding(p.code, p.message, p.range, { severity: p.severity }));
  const images = buildImages(set, options.tree);
  for (const p of images.problems) findings.push(finding(p.code, p.message, p.range, { severity: p.severity }));

  const files: FileAnalysis[] = [];
  const finish = (): PatchAnalysis => {
    const ctx: RuleContext = { set, files, tree: options.tree, index: options.index, target: targetOf(options), symbols: options.symbols };
    if (options.rules !== false) append(findings, runRules(ctx));
    sortFindings(findings);
    let disposed = false;
    return {
      set,
      files,
      findings,
      tree: options.tree,
      dispose() {
        if (!disposed) disposeSides(files, options.parseCache);
        disposed = true;
      },
    };
  };

  if (!async) {
    for (const fc of images.files) files.push(analyzeFile(fc, set, findings, options));
    return finish();
  }
  return (async () => {
    try {
      for (const fc of images.files) {
        if (options.isCancelled?.()) throw new CancelledError('analysis');
        files.push(analyzeFile(fc, set, findings, options));
        if (options.yieldBetweenFiles) await options.yieldBetweenFiles();
      }
      if (options.isCancelled?.()) throw new CancelledError('analysis');
    } catch (e) {
      disposeSides(files, options.parseCache);
      throw e;
    }
    return finish();
  })();
}

function sideOf(image: FileChange['pre'], src: ParseSource, tree: Tree): Side {
  return { image, src, ents: extractEntities(tree, src, (img) => (img >= 0 ? image.docLine[img] : -1)), tree };
}

/**
 * Tree-sitter edits that turn the pre-image parse text into the post-image one,
 * from line provenance: a post line kept from the pre-image (same masked text)
 * is unchanged; every gap between unchanged runs is one edit. Applied to a copy
 * of the pre tree they let tree-sitter re-parse only what the patch touched.
 */
export function lineEdits(pre: ParseSource, post: ParseSource, origLine: Int32Array): Edit[] {
  const preLines = pre.lineStarts.length;
  const postLines = post.lineStarts.length;
  const start = (src: ParseSource, n: number, lines: number) => (n >= lines ? src.text.length : src.lineStarts[n]);
  const same = (p: number, q: number) => {
    const a0 = post.lineStarts[p];
    const a1 = start(post, p + 1, postLines);
    const b0 = pre.lineStarts[q];
    const b1 = start(pre, q + 1, preLines);
    return a1 - a0 === b1 - b0 && post.text.slice(a0, a1) === pre.text.slice(b0, b1);
  };
  const edits: Edit[] = [];
  let p0 = 0; // first post line after the last unchanged one
  let q0 = 0;
  const gap = (p1: number, q1: number) => {
    if (p1 === p0 && q1 === q0) return;
    const startIndex = start(pre, q0, preLines);
    edits.push({
      startIndex,
      oldEndIndex: start(pre, q1, preLines),
      newEndIndex: startIndex + (start(post, p1, postLines) - start(post, p0, postLines)),
      startPosition: { row: q0, column: 0 },
      oldEndPosition: { row: q1, column: 0 },
      newEndPosition: { row: q0 + (p1 - p0), column: 0 },
    });
  };
  for (let p = 0; p < postLines; p++) {
    const img = post.toImage[p];
    const o = img >= 0 ? origLine[img] : -1;
    let q = o >= 0 && o < pre.fromImage.length ? pre.fromImage[o] : -1;
    // Synthetic lines (fragment wrappers and closers) pair up in order when their text is the same.
    if (img < 0 && q0 < preLines && pre.toImage[q0] < 0) q = q0;
    if (q < q0 || q < 0 || !same(p, q)) continue;
    gap(p, q);
    p0 = p + 1;
    q0 = q + 1;
  }
  gap(postLines, preLines);
  return edits;
}

function parseSides(fc: FileChange, cache?: ParseCache): { pre?: Side; post?: Side } {
  let pre: Side | undefined;
  let post: Side | undefined;
  if (fc.pre.exists) {
    // a tree file's pre-image is the file itself: reuse its parse while the file is unchanged
    const cacheable = cache && fc.confidence === 'tree' && fc.pre.complete;
    const hit = cacheable ? cache.get(fc.pre.lines as string[]) : undefined;
    if (hit) pre = { image: fc.pre, src: hit.src, ents: hit.ents, tree: hit.tree };
    else {
      const src = buildParseSource(fc.pre);
      pre = sideOf(fc.pre, src, parseC(src.text));
      if (cacheable && pre.tree) cache.set(fc.pre.lines as string[], { src, tree: pre.tree, ents: pre.ents });
    }
  }
  if (fc.post.exists) {
    const src = buildParseSource(fc.post);
    let tree: Tree;
    if (pre?.tree && fc.post.origLine) {
      // Incremental: the post-image is the pre-image plus the patch's edits.
      const old = pre.tree.copy();
      const edits = lineEdits(pre.src, src, fc.post.origLine);
      for (let k = edits.length - 1; k >= 0; k--) old.edit(edits[k]);
      tree = parseC(src.text, old);
      old.delete();
    } else tree = parseC(src.text);
    post = sideOf(fc.post, src, tree);
  }
  return { pre, post };
}

/** The file's syntax trees outlive its analysis. */
const keepsSyntax = (fc: FileChange, options: AnalyzeOptions) => options.keepSyntax === true || (options.syntaxFor !== undefined && options.syntaxFor === fc.path);

function analyzeFile(fc: FileChange, set: PatchSet, findings: Finding[], options: AnalyzeOptions): FileAnalysis {
  const cache = keepsSyntax(fc, options) || options.rules === false ? undefined : options.resultCache;
  const key = cache?.keyOf(fc, set.lines);
  const hit = key !== undefined ? cache!.get(key) : undefined;
  if (hit) {
    append(findings, hit.findings);
    return { ...fc, entities: hit.entities, facts: hit.facts };
  }
  const own: Finding[] = [];
  const fa = analyzeFileNow(fc, set, own, options);
  append(findings, own);
  if (key !== undefined) cache!.set(key, { entities: fa.entities, facts: fa.facts, findings: own });
  return fa;
}

function analyzeFileNow(fc: FileChange, set: PatchSet, findings: Finding[], options: AnalyzeOptions): FileAnalysis {
  const keepSyntax = keepsSyntax(fc, options);
  const fa: FileAnalysis = { ...fc, entities: [], facts: emptyFacts() };
  if (fc.binary) {
    findings.push(
      finding('KLP004', `Binary change to ${fc.path}: a livepatch module carries only replaced functions, never binary files (firmware, images). Ship this part of the fix another way or drop it from the livepatch.`, lineContentRange(set.lines, fc.headerLine), { file: fc.path }),
    );
    return fa;
  }
  if (fc.language !== 'c' && fc.language !== 'header') return fa;
  const deep = tooDeep(fc, set);
  if (deep) {
    findings.push(deep);
    return fa;
  }
  const { pre, post } = parseSides(fc, options.parseCache);
  try {
    const emptySide = (img: FileChange['pre']): Side => ({ image: img, src: buildParseSource(img), ents: { entities: [], byKey: new Map(), localsOf: () => [] } });
    fa.entities = diffEntities(pre ?? emptySide(fc.pre), post ?? emptySide(fc.post), set.lines);
    if (options.rules !== false) fa.facts = collectFileFacts(fa.entities, pre, post, undefined, keepSyntax ? undefined : options.resultCache?.functions);
    const err = firstParseError(fc.path, post, set.lines);
    if (err) findings.push(err);
  } finally {
    if (keepSyntax) {
      fa.preSide = pre;
      fa.postSide = post;
    } else {
      if (!options.parseCache?.owns(pre?.tree)) pre?.tree?.delete();
      post?.tree?.delete();
    }
  }
  return fa;
}

/** KLP011 for a side of a C file nested deeper than MAX_C_NESTING: the file is not analysed. */
function tooDeep(fc: FileChange, set: PatchSet): Finding | undefined {
  for (const img of [fc.post, fc.pre]) {
    const n = maxNesting(img.lines, MAX_C_NESTING);
    if (n.depth <= MAX_C_NESTING) continue;
    const doc = img.docLine[n.line] >= 0 ? img.docLine[n.line] : fc.headerLine;
    const msg = `${fc.path} nests brackets more than ${MAX_C_NESTING.toLocaleString('en-US')} levels deep (line ${n.line + 1} of the file${img === fc.pre ? ' before the patch' : ''}), the limit of the analysis: the file is not analysed. Kernel code stays far below this; check that the file is C source and not generated data.`;
    return finding('KLP011', msg, lineContentRange(set.lines, doc), { file: fc.path });
  }
  return undefined;
}

/**
 * A top-level parse error overlapping changed lines of a complete post-image:
 * tree-sitter lost track of a declaration there (typically an annotation macro
 * it does not know), so entities around it may be misread. Errors nested in
 * function bodies (e.g. DEFINE_RATELIMIT_STATE) do not hide entities and are
 * not reported.
 */
function firstParseError(path: string, side: Side | undefined, docLines: readonly string[]): Finding | undefined {
  if (!side?.tree || !side.image.complete || !side.tree.rootNode.hasError) return undefined;
  const changedRow = (from: number, to: number): number => {
    for (let r = from; r <= to; r++) {
      const img = side.src.toImage[r];
      if (img >= 0 && side.image.changed[img] && side.image.docLine[img] >= 0) return side.image.docLine[img];
    }
    return -1;
  };
  const visit = (n: Node): Finding | undefined => {
    for (const c of n.children) {
      if (!c || !c.hasError) continue;
      if (c.type === 'ERROR') {
        const doc = changedRow(c.startPosition.row, c.endPosition.row);
        if (doc >= 0) {
          return finding(
            'KLP009',
            `tree-sitter could not parse this changed code of ${path} (often a macro the C grammar does not know): entities and hazards around it may be incomplete.`,
            lineContentRange(docLines, doc, 1),
            { file: path },
          );
        }
      } else if (c.type.startsWith('preproc_')) {
        const f = visit(c);
        if (f) return f;
      }
    }
    return undefined;
  };
  return visit(side.tree.rootNode);
}

function encodingFindings(d: DecodedText): Finding[] {
  const out: Finding[] = [];
  if (d.invalidAt) {
    const { line, column } = d.invalidAt;
    out.push(
      finding('KLP005', `Byte ${d.invalidAt.byteOffset} (line ${line + 1}, column ${column + 1}) is not valid UTF-8; the patch was read as Latin-1. Kernel patches are UTF-8: re-export the patch, or check that it is not a binary file.`, mkRange(line, column, line, column + 1)),
    );
  }
  if (d.nulAt) {
    const { line, column } = d.nulAt;
    out.push(finding('KLP005', `A NUL byte at line ${line + 1}, column ${column + 1}: this does not look like a text patch.`, mkRange(line, column, line, column + 1)));
  }
  return out;
}

export type { EntityChange };
