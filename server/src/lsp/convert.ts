/**
 * Conversions from the core's plain data to LSP types. No analysis here.
 */
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import {
  DiagnosticSeverity,
  SymbolKind,
  type Diagnostic,
  type DocumentSymbol,
  type FoldingRange,
  FoldingRangeKind,
} from 'vscode-languageserver';
import type { Finding } from '../core/findings';
import type { PatchAnalysis } from '../core/analysis';
import type { EntityChange } from '../core/entities/diff';
import type { EntityKind } from '../core/entities/extract';
import type { Range } from '../core/text';
import { docsPath } from '../core/codes';

const SEVERITY: Record<Finding['severity'], DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  information: DiagnosticSeverity.Information,
  hint: DiagnosticSeverity.Hint,
};

export interface ConvertContext {
  /** Folder holding docs/hazards (the extension or package root). */
  docsRoot: string;
  /** Root of the kernel tree, to turn related sites in tree files into URIs. */
  treeRoot?: string;
  relatedInformation: boolean;
}

export function toDiagnostic(f: Finding, uri: string, ctx: ConvertContext): Diagnostic {
  const d: Diagnostic = {
    range: f.range,
    severity: SEVERITY[f.severity],
    code: f.code,
    codeDescription: { href: pathToFileURL(join(ctx.docsRoot, docsPath(f.code))).toString() },
    source: 'livepatch-lens',
    message: f.message,
    data: { category: f.category, ...(f.data ?? {}) },
  };
  if (ctx.relatedInformation && f.related?.length) {
    d.relatedInformation = f.related.map((r) => ({
      location: { uri: r.path && ctx.treeRoot ? pathToFileURL(join(ctx.treeRoot, r.path)).toString() : uri, range: r.range },
      message: r.message,
    }));
  }
  return d;
}

const SYMBOL: Record<EntityKind, SymbolKind> = {
  function: SymbolKind.Function,
  syscall: SymbolKind.Function,
  prototype: SymbolKind.Interface,
  struct: SymbolKind.Struct,
  union: SymbolKind.Struct,
  enum: SymbolKind.Enum,
  typedef: SymbolKind.TypeParameter,
  variable: SymbolKind.Variable,
  'static-local': SymbolKind.Variable,
  macro: SymbolKind.Constant,
  include: SymbolKind.Package,
  export: SymbolKind.Key,
  invocation: SymbolKind.Event,
  fragment: SymbolKind.Function,
};

export function changeLabel(e: EntityChange): string {
  return e.change === 'changed' ? `changed (${e.aspects.join(', ')})` : e.change;
}

function lineRange(lines: readonly string[], start: number, end: number): Range {
  return { start: { line: start, character: 0 }, end: { line: end, character: lines[end]?.length ?? 0 } };
}

function within(outer: Range, inner: Range): Range {
  // selectionRange must be contained in range
  if (inner.start.line < outer.start.line || inner.end.line > outer.end.line) return { start: outer.start, end: outer.start };
  return inner;
}

/** The patch outline: (patch →) file → changed entities with their change kind. */
export function documentSymbols(a: PatchAnalysis): DocumentSymbol[] {
  const lines = a.set.lines;
  const symbolsFor = (fileStart: number, fileEnd: number, entities: EntityChange[]): DocumentSymbol[] =>
    entities
      .filter((e) => e.range.start.line >= fileStart && e.range.start.line <= fileEnd)
      .map((e) => {
        const r = lineRange(lines, Math.max(fileStart, Math.min(e.span.startLine, e.range.start.line)), Math.min(fileEnd, Math.max(e.span.endLine, e.range.end.line)));
        return { name: e.name, detail: `${e.kind} ${changeLabel(e)}`, kind: SYMBOL[e.kind], range: r, selectionRange: within(r, e.range) };
      });
  const filesOf = (patchIndex: number): DocumentSymbol[] => {
    const out: DocumentSymbol[] = [];
    for (const f of a.files) {
      for (const d of f.diffs) {
        if (d.patchIndex !== patchIndex) continue;
        const r = lineRange(lines, d.headerLine, d.endLine);
        const header = { start: { line: d.headerLine, character: 0 }, end: { line: d.headerLine, character: lines[d.headerLine]?.length ?? 0 } };
        out.push({
          name: f.path,
          detail: `${d.status}${f.confidence === 'hunks' ? ' (hunks only)' : ''}`,
          kind: SymbolKind.File,
          range: r,
          selectionRange: header,
          children: symbolsFor(d.headerLine, d.endLine, f.entities),
        });
      }
    }
    return out;
  };
  if (a.set.patches.length <= 1) return a.set.patches.length ? filesOf(a.set.patches[0].index) : [];
  return a.set.patches.map((p) => {
    const r = lineRange(lines, p.startLine, p.endLine);
    const name = p.header?.subject ?? `patch ${p.index + 1}`;
    return { name, detail: p.header?.from ?? '', kind: SymbolKind.Module, range: r, selectionRange: { start: r.start, end: { line: r.start.line, character: lines[r.start.line]?.length ?? 0 } }, children: filesOf(p.index) };
  });
}

/** Folds: each patch of a series, mail header, commit message, diffstat, each file, each hunk. */
export function foldingRanges(a: PatchAnalysis): FoldingRange[] {
  const out: FoldingRange[] = [];
  const add = (start: number, end: number, kind?: FoldingRangeKind) => {
    if (end > start) out.push({ startLine: start, endLine: end, ...(kind ? { kind } : {}) });
  };
  for (const p of a.set.patches) {
    if (a.set.patches.length > 1) add(p.startLine, p.endLine);
    if (p.header) add(p.header.startLine, p.header.endLine, FoldingRangeKind.Imports);
    if (p.message) add(p.message.startLine, p.message.endLine, FoldingRangeKind.Comment);
    if (p.diffstat) add(p.diffstat.startLine, p.diffstat.endLine);
    for (const f of p.files) {
      add(f.headerLine, f.endLine);
      for (const h of f.hunks) add(h.headerLine, h.endLine, FoldingRangeKind.Region);
    }
  }
  return out;
}
