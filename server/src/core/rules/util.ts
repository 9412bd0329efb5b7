/**
 * Small helpers shared by the rules: where to put a finding, how to name an
 * entity, what the target kernel is.
 */
import type { Range } from '../text';
import { range, lineContentRange } from '../text';
import type { FileAnalysis } from '../analysis';
import type { Hunk } from '../patch/model';
import type { EntityChange } from '../entities/diff';
import type { FunctionFacts, Site } from '../facts/extract';
import type { RelatedSite } from '../findings';
import type { RuleContext } from './index';
import { versionAtLeast } from '../kernelVersion';

export const CODE_KINDS = new Set(['function', 'syscall', 'fragment']);

export function cFiles(ctx: RuleContext): FileAnalysis[] {
  return ctx.files.filter((f) => f.language === 'c' || f.language === 'header');
}

/** A function-like entity whose code changes (not only comments). */
export function changedCode(f: FileAnalysis): EntityChange[] {
  return f.entities.filter((e) => CODE_KINDS.has(e.kind) && e.change !== 'removed' && !(e.aspects.length === 1 && e.aspects[0] === 'cosmetic'));
}

export function label(e: EntityChange): string {
  if (e.kind === 'function' || e.kind === 'prototype') return `${e.name}()`;
  if (e.kind === 'syscall') return `syscall ${e.name}`;
  if (e.kind === 'struct' || e.kind === 'union' || e.kind === 'enum') return `${e.kind} ${e.name}`;
  if (e.kind === 'fragment') return `the ${e.name}`;
  return e.name;
}

/** Range of a fact's site in the patch document: from its column to `length` characters (or the line's end). */
export function siteRange(ctx: RuleContext, site: Site, length?: number): Range | undefined {
  if (site.docLine < 0) return undefined;
  const line = ctx.set.lines[site.docLine] ?? '';
  const start = Math.min(site.column + 1, line.length);
  const end = length === undefined ? line.length : Math.min(line.length, start + length);
  return range(site.docLine, start, site.docLine, Math.max(start, end));
}

/** A site as related information: in the patch when it shows there, else in the tree file (pre-image line). */
export function relatedSite(ctx: RuleContext, f: FileAnalysis, site: Site, side: 'pre' | 'post', message: string): RelatedSite | undefined {
  const r = siteRange(ctx, site);
  if (r) return { message, range: r };
  if (site.imageLine < 0 || f.confidence !== 'tree') return undefined;
  let line = site.imageLine;
  if (side === 'post') line = f.post.origLine?.[line] ?? -1;
  const path = f.oldPath;
  if (line < 0 || !path) return undefined;
  return { message, range: range(line, 0, line, 0), path };
}

/** Where a finding about an entity goes: the site when it shows in the patch, else the entity's own range. */
export function at(ctx: RuleContext, e: EntityChange, site?: Site, length?: number): Range {
  return (site && siteRange(ctx, site, length)) || e.range;
}

export function fileRange(ctx: RuleContext, f: FileAnalysis): Range {
  return lineContentRange(ctx.set.lines, f.headerLine);
}

export function list(items: string[], max = 6): string {
  const uniq = [...new Set(items)];
  if (uniq.length <= max) return uniq.join(', ');
  return `${uniq.slice(0, max).join(', ')} and ${uniq.length - max} more`;
}

export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** true/false when the target kernel version is known, undefined otherwise. */
export function kernelAtLeast(ctx: RuleContext, major: number, minor: number): boolean | undefined {
  const k = ctx.target.kernel;
  if (!k) return undefined;
  return versionAtLeast(k, major, minor);
}

export function factsOf(f: FileAnalysis, e: EntityChange, side: 'pre' | 'post'): FunctionFacts | undefined {
  return f.facts[side].get(e.key);
}

export function isHeader(path: string): boolean {
  return /\.h$/.test(path);
}

/**
 * The 1-based line of the original file where a hunk's first old line is:
 * from the pre-image line that shows it (exact with a tree, the header's
 * number in sparse images); a hunk without old lines falls back to its
 * header.
 */
export function hunkOldStart(f: FileAnalysis, hunk: Hunk): number {
  const first = hunk.lines.find((l) => l.kind !== '+');
  if (first) {
    const q = f.pre.docLine.indexOf(first.docLine);
    if (q >= 0) return q + 1;
  }
  return Math.max(1, hunk.oldStart + (hunk.oldLines === 0 ? 1 : 0));
}
