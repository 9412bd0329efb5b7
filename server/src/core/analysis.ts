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
import { extractEntities } from './entities/extract';
import { diffEntities, type EntityChange, type Side } from './entities/diff';
import { finding, sortFindings, type Finding } from './findings';
import type { DecodedText } from './text';
import { range as mkRange, lineContentRange } from './text';
import { RULES, type RuleContext } from './rules';

export interface FileAnalysis extends FileChange {
  entities: EntityChange[];
  /** Parsed sides for C files (absent for other languages or a side that does not exist). */
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

export class CancelledError extends Error {
  constructor() {
    super('analysis cancelled');
  }
}

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
}

export const DEFAULT_MAX_LENGTH = 16 * 1024 * 1024;

function disposeSides(files: FileAnalysis[]): void {
  const seen = new Set<Tree>();
  for (const f of files) {
    for (const s of [f.preSide, f.postSide]) {
      const t = s?.tree;
      if (t && !seen.has(t)) {
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
    const ctx: RuleContext = { set, files, tree: options.tree };
    for (const rule of RULES) findings.push(...rule.run(ctx));
    sortFindings(findings);
    let disposed = false;
    return {
      set,
      files,
      findings,
      tree: options.tree,
      dispose() {
        if (!disposed) disposeSides(files);
        disposed = true;
      },
    };
  };

  if (!async) {
    for (const fc of images.files) files.push(analyzeFile(fc, set, findings));
    return finish();
  }
  return (async () => {
    try {
      for (const fc of images.files) {
        if (options.isCancelled?.()) throw new CancelledError();
        files.push(analyzeFile(fc, set, findings));
        if (options.yieldBetweenFiles) await options.yieldBetweenFiles();
      }
      if (options.isCancelled?.()) throw new CancelledError();
    } catch (e) {
      disposeSides(files);
      throw e;
    }
    return finish();
  })();
}

function parseSide(image: FileChange['pre']): Side {
  const src = buildParseSource(image);
  const tree = parseC(src.text);
  return { image, src, ents: extractEntities(tree, src, (img) => (img >= 0 ? image.docLine[img] : -1)), tree };
}

function analyzeFile(fc: FileChange, set: PatchSet, findings: Finding[]): FileAnalysis {
  const fa: FileAnalysis = { ...fc, entities: [] };
  if (fc.binary) {
    findings.push(
      finding('KLP004', `Binary change to ${fc.path}: a livepatch module carries only replaced functions, never binary files (firmware, images). Ship this part of the fix another way or drop it from the livepatch.`, lineContentRange(set.lines, fc.headerLine), { file: fc.path }),
    );
    return fa;
  }
  if (fc.language !== 'c' && fc.language !== 'header') return fa;
  if (fc.pre.exists) fa.preSide = parseSide(fc.pre);
  if (fc.post.exists) fa.postSide = parseSide(fc.post);
  const emptySide = (img: FileChange['pre']): Side => ({ image: img, src: buildParseSource(img), ents: { entities: [], byKey: new Map() } });
  fa.entities = diffEntities(fa.preSide ?? emptySide(fc.pre), fa.postSide ?? emptySide(fc.post), set.lines);
  const err = firstParseError(fa, set.lines);
  if (err) findings.push(err);
  return fa;
}

/**
 * A top-level parse error overlapping changed lines of a complete post-image:
 * tree-sitter lost track of a declaration there (typically an annotation macro
 * it does not know), so entities around it may be misread. Errors nested in
 * function bodies (e.g. DEFINE_RATELIMIT_STATE) do not hide entities and are
 * not reported.
 */
function firstParseError(fa: FileAnalysis, docLines: readonly string[]): Finding | undefined {
  const side = fa.postSide;
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
            `tree-sitter could not parse this changed code of ${fa.path} (often a macro the C grammar does not know): entities and hazards around it may be incomplete.`,
            lineContentRange(docLines, doc, 1),
            { file: fa.path },
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
