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
function continuesDeclarator(seg: string[]): boolean {
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

export function buildParseSource(image: SideImage): ParseSource {
  const n = image.lines.length;
  const outLines: string[] = [];
  const toImage: number[] = [];
  const fromImage = new Int32Array(n).fill(-1);
  const wrappers: Wrapper[] = [];
  const push = (text: string, img: number) => {
    if (img >= 0) fromImage[img] = outLines.length;
    outLines.push(text);
    toImage.push(img);
  };

  if (image.complete) {
    for (let i = 0; i < n; i++) push(image.lines[i] ?? '', i);
  } else {
    let i = 0;
    while (i < n) {
      if (image.lines[i] === undefined) {
        i++;
        continue;
      }
      let j = i;
      while (j < n && image.lines[j] !== undefined) j++;
      const seg = image.lines.slice(i, j) as string[];
      const prof = { ...braceProfile(seg) };
      if (outLines.length > 0) push('', -1);
      let wrapper: Wrapper | undefined;
      let opens = 0;
      // The fragment starts inside #if blocks (an #else or #endif it cannot match): open them at the
      // depth the directive shows at, outside the wrapper when it sits at file scope.
      // How deep the fragment starts: a '}' at column 0 says it exactly; else braces and indentation bound it.
      const blockDepth = i === 0 ? 0 : prof.topCloseDepth !== undefined ? Math.max(-prof.topCloseDepth, -prof.minDepth) : Math.max(-prof.minDepth, prof.firstCodeIndent);
      const outerConds = prof.condOpenDepths.filter((d) => d + blockDepth <= 0).length;
      for (let k = 0; k < outerConds; k++) push('#if 1', -1);
      if (prof.firstCodeContinues && i > 0) {
        // Inside a multi-line #define: give the macro a placeholder name.
        wrapper = { headerLine: outLines.length, closeLine: -1, kind: 'macro' };
        push(`#define ${MACRO_FRAGMENT} \\`, -1);
      } else if (i > 0 && prof.minParen < 0 && headingOpenParens(image.headings.get(i)) === -prof.minParen && continuesDeclarator(seg)) {
        // git cut the function's parameter list short: the fragment continues the heading's declarator.
        wrapper = { headerLine: outLines.length, closeLine: -1, kind: 'function', heading: image.headings.get(i) };
        const h = (image.headings.get(i) as string).replace(/\/\*.*?(\*\/|$)/g, ' ').trimEnd();
        push(/^[A-Za-z_]\w*\s*\(/.test(h) ? `int ${h}` : h, -1);
        prof.minParen = 0;
      } else {
        // Kernel code at file scope is not indented: an indented first line sits inside the blocks the heading names.
        opens = blockDepth;
        const firstLine = seg.find((l) => l.trim() !== '')?.trimEnd();
        const heading = image.headings.get(i)?.trim();
        if (opens === 0 && i > 0 && heading && firstLine && /^[A-Za-z_]\w*\s*\(/.test(firstLine) && !/[({;=}]/.test(heading)) {
          // "static inline void" above "current_restore_flags(...)": the heading is the return type.
          push(heading, -1);
        } else if (opens === 0 && i > 0 && firstLine === '{') {
          // The fragment starts with a function's opening brace: the heading is the signature above it.
          const head = wrapperHeader(image.headings.get(i));
          if (head.kind === 'function') {
            wrapper = { headerLine: outLines.length, closeLine: -1, kind: 'function', heading: image.headings.get(i) };
            push(head.line.replace(/\s*\{$/, ''), -1);
          }
        }
        if (opens > 0) {
          const head = wrapperHeader(image.headings.get(i));
          wrapper = { headerLine: outLines.length, closeLine: -1, kind: head.kind, heading: image.headings.get(i) };
          push(head.line, -1);
          // Inner blocks of a function open as "if (1) {" so that a "} else {" in the fragment still parses.
          for (let k = 1; k < opens; k++) push(head.kind === 'struct' || head.kind === 'initializer' ? '{' : 'if (1) {', -1);
        }
      }
      for (let k = outerConds; k < -prof.minCond; k++) push('#if 1', -1);
      if (prof.startsInComment) push('/*', -1);
      // A fragment that starts or ends inside an argument list: balance the parentheses.
      const openParens = -prof.minParen;
      if (openParens > 0 && !prof.startsInComment) push('('.repeat(openParens), -1);
      for (let k = i; k < j; k++) push(image.lines[k] as string, k);
      if (prof.endsInComment) push('*/', -1);
      // ...and close the #if blocks it leaves open, so they do not swallow the next fragment.
      for (let k = 0; k < prof.endCond - prof.minCond; k++) push('#endif', -1);
      const unclosed = Math.max(0, openParens + prof.endParen);
      if (unclosed > 0) push(')'.repeat(unclosed) + ';', -1);
      // A control statement waiting for its body gets an empty one; a dangling declarator
      // (the next function's signature at the end of a hunk) is ended so it does not swallow what follows.
      if ((prof.endsAwaitingBody || prof.endsOpen) && !prof.endsInComment && unclosed === 0) push(';', -1);
      // Close what the fragment left open (innermost first), then the wrapper's braces.
      const own = prof.closers;
      for (let k = own.length - 1; k >= 0; k--) push(own[k], -1);
      const wrapperClosers = wrapper?.kind === 'macro' ? 0 : opens + prof.endDepth - own.length;
      for (let k = 0; k < wrapperClosers; k++) {
        const outermost = k === wrapperClosers - 1;
        push(outermost && (wrapper?.kind === 'struct' || wrapper?.kind === 'initializer') ? '};' : '}', -1);
      }
      if (wrapper) {
        wrapper.closeLine = outLines.length - 1;
        wrappers.push(wrapper);
      }
      i = j;
    }
  }
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
