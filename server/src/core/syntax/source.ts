/**
 * Turns one side of a file (a SideImage) into the C text tree-sitter parses.
 *
 * A complete image is parsed as is. A sparse image (hunks only) is a set of
 * fragments that often start in the middle of a function; each fragment is
 * wrapped so it parses as the construct it sits in: the hunk's "@@" section
 * (git's function context, e.g. "static int foo(struct bar *b)") becomes a
 * synthetic header, and missing braces or an open comment are closed.
 * Synthetic lines map to image line -1; real lines keep their image line.
 * Kernel annotations are masked (see annotations.ts) in the parsed text.
 */
import type { SideImage } from '../patch/images';
import { braceProfile, maskAnnotations, type Annotation } from './annotations';

export interface Wrapper {
  /** Lines of the parse text holding the synthetic header and closers. */
  headerLine: number;
  closeLine: number;
  kind: 'function' | 'struct' | 'initializer' | 'macro' | 'anonymous';
  /** The heading it came from, if any. */
  heading?: string;
}

export interface ParseSource {
  /** Text handed to tree-sitter (annotations masked). */
  text: string;
  /** Same text before masking (for entity text and annotation arguments). */
  raw: string;
  annotations: Annotation[];
  /** Parse-text line → image line (-1 for synthetic lines). */
  toImage: Int32Array;
  /** Image line → parse-text line (-1 when the line is not in the text). */
  fromImage: Int32Array;
  /** Offset of each parse-text line. */
  lineStarts: number[];
  wrappers: Wrapper[];
}

const KEYWORDS = new Set(['if', 'for', 'while', 'switch', 'return', 'sizeof', 'do', 'else', 'case', 'goto', 'typeof', '__typeof__', 'defined']);

/** Anonymous fragments get a placeholder function so statements parse as statements. */
export const FRAGMENT_FUNCTION = '__klp_lens_fragment';
/** Fragments of a multi-line #define get a placeholder macro name. */
export const MACRO_FRAGMENT = '__KLP_LENS_MACRO_FRAGMENT';

/**
 * Whether a fragment continues a function's parameter list: its first line
 * ending in ')' comes before any ';' and is followed by a '{' line.
 */
function continuesDeclarator(seg: readonly string[]): boolean {
  for (let k = 0; k < seg.length; k++) {
    const t = seg[k].trim();
    if (t.endsWith(';')) return false;
    if (t.endsWith(')')) {
      const next = seg.slice(k + 1).find((l) => l.trim() !== '');
      return next?.trim() === '{';
    }
  }
  return false;
}

/** Parentheses a heading leaves open (git truncates headings at 80 characters). */
function headingOpenParens(heading: string | undefined): number {
  if (!heading) return 0;
  let depth = 0;
  for (const ch of heading.replace(/\/\*.*?(\*\/|$)/g, ' ')) {
    if (ch === '(') depth++;
    else if (ch === ')') depth = Math.max(0, depth - 1);
  }
  return depth;
}

/** A heading as a declarator line: cut at a '{', close a parameter list git truncated. */
function balanceParens(h: string): string {
  let out = h;
  const brace = out.indexOf('{');
  if (brace >= 0) out = out.slice(0, brace);
  out = out.trimEnd();
  let depth = 0;
  for (const ch of out) {
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
  }
  if (depth > 0) {
    out = out.replace(/,\s*$/, '');
    out += ')'.repeat(depth);
  }
  return out;
}

/** Classify a hunk heading and build the synthetic header line for a fragment that starts inside it. */
export function wrapperHeader(heading: string | undefined): { line: string; kind: Wrapper['kind'] } {
  const h = (heading ?? '')
    .replace(/\/\*.*?(\*\/|$)/g, ' ')
    .replace(/\/\/.*$/, '')
    .trim();
  const agg = /^(?:typedef\s+)?(?:static\s+)?(?:const\s+)?(struct|union|enum)\s+([A-Za-z_]\w*)?\s*\{?\s*$/.exec(h);
  if (agg) return { line: `${agg[1]} ${agg[2] ?? ''} {`, kind: 'struct' };
  if (/=\s*\{\s*$/.test(h) && !/^\s*(if|for|while|switch|return)\b/.test(h)) return { line: h, kind: 'initializer' };
  const fn = /([A-Za-z_]\w*)\s*\(/.exec(h);
  if (fn && !KEYWORDS.has(fn[1]) && !h.startsWith('#') && !/[;=]/.test(h.slice(0, fn.index)) && !/^\s*(if|for|while|switch|return)\b/.test(h)) {
    // Kernel style often puts the return type on the line above: "nfsd4_renew(struct svc_rqst *rqstp,".
    const typeless = fn.index === h.search(/\S/);
    return { line: `${typeless ? 'int ' : ''}${balanceParens(h)} {`, kind: 'function' };
  }
  return { line: `void ${FRAGMENT_FUNCTION}(void) {`, kind: 'anonymous' };
}

/** Collects the parse text line by line with each line's image line (-1 synthetic). */
const LINE_DIRECTIVE = /^\s*#\s*line\s+\d+(\s+"[^"]*")?\s*$/;

class TextBuilder {
  readonly lines: string[] = [];
  readonly toImage: number[] = [];
  readonly wrappers: Wrapper[] = [];
  constructor(readonly fromImage: Int32Array) {}
  push(text: string, img: number): void {
    if (img >= 0) this.fromImage[img] = this.lines.length;
    // `#line N` only renumbers lines (klp-build's fix-patch-lines, our line-directives fix):
    // blanked, so that it is neither code nor a change
    this.lines.push(LINE_DIRECTIVE.test(text) ? ' '.repeat(text.length) : text);
    this.toImage.push(img);
  }
}

/** A line that starts a new file-scope item in kernel style: column 0, a letter or '_', not a label. */
function startsTopLevel(line: string): boolean {
  return /^[A-Za-z_]/.test(line) && !/^[A-Za-z_]\w*:\s*($|\/[/*])/.test(line);
}

/**
 * Split a run of known lines where kernel style starts a new file-scope item
 * (a blank line, then a column-0 declaration): what comes before belongs to the
 * construct the hunk heading names, what follows stands at file scope.
 */
function splitAtTopLevel(seg: readonly string[]): number[] {
  const cuts = [0];
  for (let k = 1; k < seg.length; k++) if (seg[k - 1].trim() === '' && startsTopLevel(seg[k]) && k > cuts[cuts.length - 1]) cuts.push(k);
  return cuts;
}

/**
 * Emit one fragment (image lines [start, start + seg.length)) so that it parses
 * as the construct it sits in; see the module comment.
 */
function emitFragment(out: TextBuilder, seg: readonly string[], start: number, heading: string | undefined, atFileStart: boolean): void {
  const prof = { ...braceProfile(seg) };
  const inside = !atFileStart;
  let wrapper: Wrapper | undefined;
  let opens = 0;
  // How deep the fragment starts: a '}' at column 0 says it exactly; else braces and indentation bound it.
  const blockDepth = !inside ? 0 : prof.topCloseDepth !== undefined ? Math.max(-prof.topCloseDepth, -prof.minDepth) : Math.max(-prof.minDepth, prof.firstCodeIndent);
  // #else/#endif without their #if: open the conditional at the depth the directive shows at
  // (outside the wrapper when it sits at file scope), so braces and conditionals nest.
  const outerConds = prof.condOpenDepths.filter((d) => d + blockDepth <= 0).length;
  for (let k = 0; k < outerConds; k++) out.push('#if 1', -1);
  const firstLine = seg.find((l) => l.trim() !== '')?.trimEnd();
  const head = heading?.trim();
  if (inside && prof.firstCodeContinues) {
    // Inside a multi-line #define: give the macro a placeholder name.
    wrapper = { headerLine: out.lines.length, closeLine: -1, kind: 'macro' };
    out.push(`#define ${MACRO_FRAGMENT} \\`, -1);
  } else if (inside && prof.minParen < 0 && headingOpenParens(heading) === -prof.minParen && continuesDeclarator(seg)) {
    // git cut the function's parameter list short: the fragment continues the heading's declarator.
    wrapper = { headerLine: out.lines.length, closeLine: -1, kind: 'function', heading };
    const h = (heading as string).replace(/\/\*.*?(\*\/|$)/g, ' ').trimEnd();
    out.push(/^[A-Za-z_]\w*\s*\(/.test(h) ? `int ${h}` : h, -1);
    prof.minParen = 0;
  } else if (inside && blockDepth === 0 && head && firstLine && /^[A-Za-z_]\w*\s*\(/.test(firstLine) && !/[({;=}]/.test(head)) {
    // "static inline void" above "current_restore_flags(...)": the heading is the return type.
    out.push(head, -1);
  } else if (inside && blockDepth === 0 && firstLine === '{') {
    // The fragment starts with a function's opening brace: the heading is the signature above it.
    const w = wrapperHeader(heading);
    if (w.kind === 'function') {
      wrapper = { headerLine: out.lines.length, closeLine: -1, kind: 'function', heading };
      out.push(w.line.replace(/\s*\{$/, ''), -1);
    }
  } else if (blockDepth > 0) {
    // Kernel code at file scope is not indented: the fragment sits inside the blocks the heading names.
    opens = blockDepth;
    const w = wrapperHeader(heading);
    wrapper = { headerLine: out.lines.length, closeLine: -1, kind: w.kind, heading };
    out.push(w.line, -1);
    // Inner blocks open as "if (1) {" in code (a "} else {" in the fragment still parses) and as
    // anonymous unions in a struct (the fragment's "};" closes them).
    for (let k = 1; k < opens; k++) out.push(w.kind === 'struct' ? 'union {' : w.kind === 'initializer' ? '{' : 'if (1) {', -1);
  }
  for (let k = outerConds; k < -prof.minCond; k++) out.push('#if 1', -1);
  if (prof.startsInComment) out.push('/*', -1);
  // A fragment that starts or ends inside an argument list: balance the parentheses.
  const openParens = -prof.minParen;
  if (openParens > 0 && !prof.startsInComment) out.push('('.repeat(openParens), -1);
  seg.forEach((l, k) => out.push(l, start + k));
  if (prof.endsInComment) out.push('*/', -1);
  // ...and close the #if blocks it leaves open, so they do not swallow the next fragment.
  for (let k = 0; k < prof.endCond - prof.minCond; k++) out.push('#endif', -1);
  const unclosed = Math.max(0, openParens + prof.endParen);
  if (unclosed > 0) out.push(')'.repeat(unclosed) + ';', -1);
  // A control statement waiting for its body gets an empty one; a dangling declarator
  // (the next function's signature at the end of a hunk) is ended so it does not swallow what follows.
  if ((prof.endsAwaitingBody || prof.endsOpen) && !prof.endsInComment && unclosed === 0) out.push(';', -1);
  // Close what the fragment left open (innermost first), then the wrapper's braces.
  const own = prof.closers;
  for (let k = own.length - 1; k >= 0; k--) out.push(own[k], -1);
  const wrapperClosers = wrapper?.kind === 'macro' ? 0 : opens + prof.endDepth - own.length;
  for (let k = 0; k < wrapperClosers; k++) {
    const outermost = k === wrapperClosers - 1;
    const aggregate = wrapper?.kind === 'struct' || wrapper?.kind === 'initializer';
    out.push(aggregate ? '};' : '}', -1);
    if (outermost && wrapper) wrapper.closeLine = out.lines.length - 1;
  }
  if (wrapper) {
    if (wrapper.closeLine < 0) wrapper.closeLine = out.lines.length - 1;
    out.wrappers.push(wrapper);
  }
}

export function buildParseSource(image: SideImage): ParseSource {
  const n = image.lines.length;
  const out = new TextBuilder(new Int32Array(n).fill(-1));
  if (image.complete) {
    for (let i = 0; i < n; i++) out.push(image.lines[i] ?? '', i);
  } else {
    let i = 0;
    while (i < n) {
      if (image.lines[i] === undefined) {
        i++;
        continue;
      }
      let j = i;
      while (j < n && image.lines[j] !== undefined) j++;
      const run = image.lines.slice(i, j) as string[];
      const cuts = splitAtTopLevel(run);
      cuts.forEach((c, k) => {
        const end = k + 1 < cuts.length ? cuts[k + 1] : run.length;
        if (out.lines.length > 0) out.push('', -1);
        // Only the first piece sits under the hunk heading; later pieces start at file scope.
        emitFragment(out, run.slice(c, end), i + c, k === 0 ? image.headings.get(i) : undefined, i + c === 0 || k > 0);
      });
      i = j;
    }
  }
  const outLines = out.lines;
  const toImage = out.toImage;
  const fromImage = out.fromImage;
  const wrappers = out.wrappers;
  const raw = outLines.join('\n') + '\n';
  const lineStarts: number[] = [];
  let off = 0;
  for (const l of outLines) {
    lineStarts.push(off);
    off += l.length + 1;
  }
  const masked = maskAnnotations(raw);
  return { text: masked.text, raw, annotations: masked.annotations, toImage: Int32Array.from(toImage), fromImage, lineStarts, wrappers };
}

/** Annotations whose offset lies in [start, end). */
export function annotationsIn(src: ParseSource, start: number, end: number): Annotation[] {
  // annotations are sorted by offset
  const a = src.annotations;
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid].offset < start) lo = mid + 1;
    else hi = mid;
  }
  const out: Annotation[] = [];
  for (let k = lo; k < a.length && a[k].offset < end; k++) out.push(a[k]);
  return out;
}
