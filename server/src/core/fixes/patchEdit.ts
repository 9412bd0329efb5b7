/**
 * Edits to the code a patch produces, turned back into a patch.
 *
 * A fix says what the post-image of a file should look like (PostEdit: replace
 * or insert post-image lines); this module rewrites that file's hunks so that
 * the patch, applied to the same tree, yields exactly the edited post-image.
 *
 * The post-image keeps, for every line, the pre-image line it came from
 * (`origLine`), so the whole file is an alignment of kept, removed and added
 * lines. Hunks the edits do not touch are copied as they are (only their
 * `+` start moves when lines before them changed); a touched hunk is rebuilt
 * from the alignment over its own extent; an edit outside every hunk (possible
 * only with a kernel tree, where every line is known) gets a new hunk with three
 * lines of context, merged with its neighbours when they touch. Hunks left
 * without a change are dropped, and a file left without one loses its section.
 * Headers are recounted; `\ No newline at end of file` markers are kept.
 */
import { diffArrays } from 'diff';
import type { FileChange, SideImage } from '../patch/images';
import type { FileDiff, Hunk, PatchSet } from '../patch/model';
import { splitLines } from '../text';
import { append } from '../arrays';

/** Replace `remove` post-image lines starting at `line` (0-based) by `insert`; remove 0 inserts before `line`. */
export interface PostEdit {
  line: number;
  remove: number;
  insert: string[];
}

/** A change to the patch document: replace lines [start, end) (0-based, end exclusive) by `lines`. */
export interface DocChange {
  start: number;
  end: number;
  lines: string[];
}

export interface RewriteResult {
  /** The edited post-image of the file (undefined where the hunks do not show the line). */
  post: (string | undefined)[];
  /** What replaces the file's hunks in the document (the whole section when no change is left). */
  change: DocChange;
}

export class FixError extends Error {}

const CONTEXT = 3;

type OpKind = ' ' | '-' | '+' | 'gap';
interface Op {
  kind: OpKind;
  /** Pre-image line (' ' and '-'). */
  pre: number;
  /** Post-image line after the edits (' ' and '+'). */
  post: number;
  text: string;
  /** Document line this op had in the original patch, -1 for lines the edits add or newly remove. */
  doc: number;
  /** The op is not in the original patch: an added line or a kept line the edits remove. */
  dirty: boolean;
}

/** The single diff of a file that a fix may edit, or a reason why not. */
export function editableDiff(fc: FileChange): FileDiff {
  if (fc.binary) throw new FixError(`${fc.path} is a binary change`);
  if (fc.diffs.length !== 1) throw new FixError(`${fc.path} is changed by ${fc.diffs.length} patches of the series; fix it in one patch first`);
  if (!fc.post.exists) throw new FixError(`${fc.path} is deleted by the patch`);
  const d = fc.diffs[0];
  if (d.hunks.some((h) => h.broken)) throw new FixError(`${fc.path} has a hunk whose line counts do not match its header (KLP001)`);
  if (fc.applications.some((a) => a.status === 'failed')) throw new FixError(`a hunk of ${fc.path} does not apply to the kernel tree (KLP002)`);
  return d;
}

/** Apply post-image edits, keeping each line's origin; edits must not overlap. */
function applyEdits(post: SideImage, edits: PostEdit[]): { lines: (string | undefined)[]; orig: number[]; doc: number[]; removedDocs: number[] } {
  const sorted = [...edits].sort((a, b) => a.line - b.line || a.remove - b.remove);
  const n = post.lines.length;
  const lines: (string | undefined)[] = [];
  const orig: number[] = [];
  const doc: number[] = [];
  const removedDocs: number[] = [];
  let at = 0;
  const known = (i: number) => i >= 0 && i < n && post.lines[i] !== undefined;
  for (const e of sorted) {
    if (e.line < at) throw new FixError(`overlapping edits at post-image line ${e.line + 1}`);
    if (e.line < 0 || e.line + e.remove > n) throw new FixError(`edit outside the file (post-image line ${e.line + 1})`);
    for (let i = e.line; i < e.line + e.remove; i++) if (!known(i)) throw new FixError(`line ${i + 1} of the new file is not in the patch's hunks; a kernel tree is needed to edit it`);
    if (e.remove === 0 && !known(e.line) && !known(e.line - 1)) throw new FixError(`line ${e.line + 1} of the new file is not next to the patch's hunks; a kernel tree is needed to insert there`);
    for (; at < e.line; at++) {
      lines.push(post.lines[at]);
      orig.push(post.origLine?.[at] ?? -1);
      doc.push(post.docLine[at]);
    }
    for (let i = e.line; i < e.line + e.remove; i++) if (post.docLine[i] >= 0) removedDocs.push(post.docLine[i]);
    for (const t of e.insert) {
      lines.push(t);
      orig.push(-1);
      doc.push(-1);
    }
    at = e.line + e.remove;
  }
  for (; at < n; at++) {
    lines.push(post.lines[at]);
    orig.push(post.origLine?.[at] ?? -1);
    doc.push(post.docLine[at]);
  }
  return { lines, orig, doc, removedDocs };
}

/** The whole file as kept / removed / added lines, in order; unknown stretches become gaps. */
function align(pre: SideImage, post: { lines: (string | undefined)[]; orig: number[]; doc: number[] }): Op[] {
  const ops: Op[] = [];
  const block: Op[] = [];
  const flush = () => {
    // within a change, removed lines first, as diff tools write them; a line removed and added
    // back unchanged (an edit that restores old text) is kept instead
    const minus = block.filter((o) => o.kind === '-');
    const plus = block.filter((o) => o.kind === '+');
    block.length = 0;
    if (minus.length === 0 || plus.length === 0) {
      append(append(ops, minus), plus);
      return;
    }
    let i = 0;
    let j = 0;
    for (const part of diffArrays(minus.map((o) => o.text), plus.map((o) => o.text))) {
      const n = part.value.length;
      if (part.removed) append(ops, minus.slice(i, (i += n)));
      else if (part.added) append(ops, plus.slice(j, (j += n)));
      else
        for (let k = 0; k < n; k++, i++, j++) {
          const m = minus[i];
          const p = plus[j];
          ops.push({ kind: ' ', pre: m.pre, post: p.post, text: p.text, doc: m.doc >= 0 ? m.doc : p.doc, dirty: false });
        }
    }
  };
  const gap = () => {
    flush();
    if (ops.length && ops[ops.length - 1].kind !== 'gap') ops.push({ kind: 'gap', pre: -1, post: -1, text: '', doc: -1, dirty: false });
  };
  const preLen = pre.exists ? pre.lines.length : 0;
  const removeUpTo = (q: number, end: number) => {
    for (; q < end; q++) {
      const t = pre.lines[q];
      if (t === undefined) gap();
      else block.push({ kind: '-', pre: q, post: -1, text: t, doc: pre.docLine[q], dirty: pre.changed[q] !== 1 });
    }
  };
  let q = 0;
  for (let p = 0; p < post.lines.length; p++) {
    const o = post.orig[p];
    const t = post.lines[p];
    if (o >= 0) {
      removeUpTo(q, o);
      q = o + 1;
      if (t === undefined) gap();
      else {
        flush();
        ops.push({ kind: ' ', pre: o, post: p, text: t, doc: post.doc[p], dirty: false });
      }
    } else if (t === undefined) gap();
    else block.push({ kind: '+', pre: -1, post: p, text: t, doc: post.doc[p], dirty: post.doc[p] < 0 });
  }
  removeUpTo(q, preLen);
  flush();
  return ops;
}

/** git's hunk heading: the last line before `pre` that starts with a letter, '_' or '$' and is not a label. */
function heading(pre: SideImage, before: number): string {
  for (let k = before - 1; k >= 0; k--) {
    const l = pre.lines[k];
    if (l !== undefined && /^[A-Za-z_$]/.test(l) && !/^[A-Za-z_]\w*:\s*($|\/[/*])/.test(l)) return l.slice(0, 80).trimEnd();
  }
  return '';
}

interface Region {
  from: number;
  to: number; // inclusive op indices
  hunks: Hunk[];
  touched: boolean;
}

/**
 * Rewrite one file's hunks so that the patch yields the edited post-image.
 * Throws FixError when the file cannot be edited this way.
 */
export function rewriteFile(set: PatchSet, fc: FileChange, edits: PostEdit[]): RewriteResult {
  const diff = editableDiff(fc);
  const post = applyEdits(fc.post, edits);
  const ops = align(fc.pre, post);

  // which original hunk each op belongs to, by its document line
  const hunkOf = (doc: number): Hunk | undefined => (doc < 0 ? undefined : diff.hunks.find((h) => doc > h.headerLine && doc <= h.endLine));
  const touched = new Set<Hunk>();
  for (const d of post.removedDocs) {
    const h = hunkOf(d);
    if (h) touched.add(h);
  }
  const regions: Region[] = [];
  const byHunk = new Map<Hunk, Region>();
  ops.forEach((op, i) => {
    const h = op.kind === 'gap' ? undefined : hunkOf(op.doc);
    if (h) {
      const r = byHunk.get(h);
      if (r) r.to = i;
      else {
        const nr: Region = { from: i, to: i, hunks: [h], touched: false };
        byHunk.set(h, nr);
        regions.push(nr);
      }
    }
  });
  for (const [h, r] of byHunk) if (touched.has(h)) r.touched = true;
  // a dirty op inside a hunk's extent touches it; elsewhere it makes a new hunk with context
  const contextAfter = (i: number) => {
    let to = i;
    for (let k = 0; k < CONTEXT && to < ops.length - 1 && ops[to + 1].kind !== 'gap'; k++) to++;
    return to;
  };
  ops.forEach((op, i) => {
    if (!op.dirty) return;
    const inside = regions.find((r) => r.from <= i && i <= r.to);
    if (inside) {
      inside.touched = true;
      // a new hunk grows with its changes: context follows the last one
      if (inside.hunks.length === 0) inside.to = Math.max(inside.to, contextAfter(i));
      return;
    }
    let from = i;
    for (let k = 0; k < CONTEXT && from > 0 && ops[from - 1].kind !== 'gap'; k++) from--;
    regions.push({ from, to: contextAfter(i), hunks: [], touched: true });
  });
  // a region must not take in a gap; merge regions that overlap or touch
  regions.sort((a, b) => a.from - b.from);
  const merged: Region[] = [];
  for (const r of regions) {
    const last = merged[merged.length - 1];
    const joinable = last && r.from <= last.to + 1 && !ops.slice(last.to + 1, r.from).some((o) => o.kind === 'gap');
    if (last && joinable) {
      last.to = Math.max(last.to, r.to);
      append(last.hunks, r.hunks);
      last.touched = last.touched || r.touched;
    } else merged.push({ ...r, hunks: [...r.hunks] });
  }

  // where the file lacks a final newline (from the original markers)
  const preLen = fc.pre.exists ? fc.pre.lines.length : 0;
  let preNoEol = false;
  let postNoEol = false;
  for (const h of diff.hunks)
    for (const l of h.lines)
      if (l.noNewline) {
        if (l.kind !== '+') preNoEol = true;
        if (l.kind !== '-') postNoEol = true;
      }

  const out: string[] = [];
  let delta = 0;
  for (const r of merged) {
    const body = ops.slice(r.from, r.to + 1).filter((o) => o.kind !== 'gap');
    if (!body.some((o) => o.kind !== ' ')) continue; // nothing changes here any more
    const preOps = body.filter((o) => o.kind !== '+');
    const postOps = body.filter((o) => o.kind !== '-');
    // 0-based first line, or for an empty side the insertion point (= 1-based number of the line before)
    const firstPre = preOps.length ? preOps[0].pre : precedingPre(ops, r.from) + 1;
    const oldCount = preOps.length;
    const newCount = postOps.length;
    const oldStart = oldCount ? firstPre + 1 : firstPre;
    const newStart = newCount ? oldStart + delta + (oldCount ? 0 : 1) : oldStart + delta - (oldCount ? 1 : 0);
    delta += newCount - oldCount;
    const verbatim = !r.touched && r.hunks.length === 1;
    const section = r.hunks.length ? r.hunks[0].section : heading(fc.pre, firstPre);
    out.push(`@@ -${oldStart},${oldCount} +${newStart},${newCount} @@${section ? ' ' + section : ''}`);
    if (verbatim) {
      for (let k = r.hunks[0].headerLine + 1; k <= r.hunks[0].endLine; k++) out.push(set.lines[k]);
      continue;
    }
    for (const o of body) {
      out.push(o.kind + o.text);
      const lastPre = o.kind !== '+' && o.pre === preLen - 1 && preNoEol;
      const lastPost = o.kind !== '-' && o.post === post.lines.length - 1 && postNoEol;
      if ((o.kind === '-' && lastPre) || (o.kind === '+' && lastPost) || (o.kind === ' ' && (lastPre || lastPost))) out.push('\\ No newline at end of file');
    }
  }
  const first = diff.hunks[0];
  const last = diff.hunks[diff.hunks.length - 1];
  const change: DocChange = out.length
    ? { start: first.headerLine, end: last.endLine + 1, lines: out }
    : { start: diff.headerLine, end: last.endLine + 1, lines: [] };
  return { post: post.lines, change };
}

function precedingPre(ops: Op[], i: number): number {
  for (let k = i - 1; k >= 0; k--) if (ops[k].kind === ' ' || ops[k].kind === '-') return ops[k].pre;
  return -1;
}

/**
 * Apply document changes (non-overlapping whole-line replacements) to the
 * patch text, keeping every untouched line byte for byte: its line break
 * (LF or CRLF) and the presence of a final newline. New lines take the
 * line break of the line they replace (else the document's first one).
 */
export function applyDocChangesToText(text: string, changes: DocChange[]): string {
  const t = splitLines(text);
  const eolAt = (i: number) => (i < t.lines.length ? (t.crlf[i] ? '\r\n' : i === t.lines.length - 1 && !t.finalNewline ? '' : '\n') : '');
  const defaultEol = t.crlf[0] ? '\r\n' : '\n';
  const out: string[] = [];
  let at = 0;
  for (const c of [...changes].sort((a, b) => a.start - b.start)) {
    for (; at < c.start; at++) out.push(t.lines[at] + eolAt(at));
    const eol = c.start < t.lines.length && t.crlf[c.start] ? '\r\n' : defaultEol;
    // the last line of the document keeps its (missing) final newline
    const endsDoc = c.end >= t.lines.length;
    c.lines.forEach((l, k) => out.push(l + (k === c.lines.length - 1 && endsDoc && !t.finalNewline ? '' : eol)));
    at = Math.max(at, c.end);
  }
  for (; at < t.lines.length; at++) out.push(t.lines[at] + eolAt(at));
  return out.join('');
}

/** Apply document changes (non-overlapping) to the patch's lines. */
export function applyDocChanges(lines: readonly string[], changes: DocChange[]): string[] {
  const sorted = [...changes].sort((a, b) => b.start - a.start);
  const out = lines.slice();
  for (const c of sorted) out.splice(c.start, c.end - c.start, ...c.lines);
  return out;
}

/** A replacement of a text range (LSP TextEdit shape: 0-based lines, UTF-16 characters). */
export interface TextReplacement {
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  newText: string;
}

/**
 * The smallest whole-line replacements that turn `before` into `after`
 * (lines compared with their line breaks), for editors that show or apply
 * a fix as edits of the open document.
 */
export function lineReplacements(before: string, after: string): TextReplacement[] {
  const withEol = (t: string) => {
    const s = splitLines(t);
    return s.lines.map((l, i) => l + (s.crlf[i] ? '\r\n' : i < s.lines.length - 1 || s.finalNewline ? '\n' : ''));
  };
  const a = withEol(before);
  const b = withEol(after);
  const old = splitLines(before);
  const pos = (i: number) => (i < a.length ? { line: i, character: 0 } : old.finalNewline || a.length === 0 ? { line: a.length, character: 0 } : { line: a.length - 1, character: old.lines[a.length - 1].length });
  const out: TextReplacement[] = [];
  let i = 0;
  let pending: { from: number; to: number; text: string } | undefined;
  const flush = () => {
    if (pending) out.push({ range: { start: pos(pending.from), end: pos(pending.to) }, newText: pending.text });
    pending = undefined;
  };
  for (const part of diffArrays(a, b)) {
    const n = part.value.length;
    if (!part.added && !part.removed) {
      flush();
      i += n;
    } else if (part.removed) {
      pending = pending ? { ...pending, to: i + n } : { from: i, to: i + n, text: '' };
      i += n;
    } else pending = pending ? { ...pending, text: pending.text + part.value.join('') } : { from: i, to: i, text: part.value.join('') };
  }
  flush();
  return out;
}
