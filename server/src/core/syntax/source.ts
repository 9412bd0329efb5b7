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
  kind: 'function' | 'struct' | 'initializer' | 'anonymous';
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
  const h = (heading ?? '').trim();
  const agg = /^(?:typedef\s+)?(?:static\s+)?(?:const\s+)?(struct|union|enum)\s+([A-Za-z_]\w*)?\s*\{?\s*$/.exec(h);
  if (agg) return { line: `${agg[1]} ${agg[2] ?? ''} {`, kind: 'struct' };
  if (/=\s*\{\s*$/.test(h) && !/^\s*(if|for|while|switch|return)\b/.test(h)) return { line: h, kind: 'initializer' };
  const fn = /([A-Za-z_]\w*)\s*\(/.exec(h);
  if (fn && !KEYWORDS.has(fn[1]) && !h.startsWith('#') && !/[;=]/.test(h.slice(0, fn.index)) && !/^\s*(if|for|while|switch|return)\b/.test(h)) {
    return { line: `${balanceParens(h)} {`, kind: 'function' };
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
      const prof = braceProfile(seg);
      if (outLines.length > 0) push('', -1);
      // Kernel code at file scope is not indented: an indented first line sits inside the block the heading names.
      const opens = Math.max(-prof.minDepth, prof.firstCodeIndented ? 1 : 0);
      let wrapper: Wrapper | undefined;
      if (opens > 0 && i > 0) {
        const head = wrapperHeader(image.headings.get(i));
        wrapper = { headerLine: outLines.length, closeLine: -1, kind: head.kind, heading: image.headings.get(i) };
        push(head.line, -1);
        for (let k = 1; k < opens; k++) push('{', -1);
      }
      if (prof.startsInComment) push('/*', -1);
      for (let k = i; k < j; k++) push(image.lines[k] as string, k);
      if (prof.endsInComment) push('*/', -1);
      // Close what the fragment left open (innermost first), then the wrapper's braces.
      const own = prof.openNeedsSemicolon;
      for (let k = own.length - 1; k >= 0; k--) push(own[k] ? '};' : '}', -1);
      const wrapperClosers = (i > 0 ? opens : 0) + prof.endDepth - own.length;
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
