/**
 * Helpers the fixes share: a PostEditor collects changes to one file's
 * post-image (text replaced inside a line, lines inserted before or after a
 * line, lines removed) and hands them to patch/rewriteFile as non-overlapping
 * PostEdits; and the syntax lookups fixes need on the post side.
 */
import type { FileAnalysis } from '../analysis';
import type { Side } from '../entities/diff';
import type { Entity } from '../entities/extract';
import type { Finding } from '../findings';
import type { Node } from '../syntax/parser';
import { FixError, type PostEdit } from './patchEdit';
import type { FixContext } from './index';

export class PostEditor {
  private replaced = new Map<number, { column: number; length: number; text: string }[]>();
  private before = new Map<number, string[]>();
  private after = new Map<number, string[]>();
  private removed = new Set<number>();

  constructor(readonly file: FileAnalysis) {}

  private known(line: number): string {
    const t = this.file.post.lines[line];
    if (line < 0 || t === undefined) throw new FixError(`line ${line + 1} of the new ${this.file.path} is not in the patch; a kernel tree is needed`);
    return t;
  }

  /** Replace `length` characters at `column` of post-image line `line`. */
  replace(line: number, column: number, length: number, text: string): this {
    const t = this.known(line);
    if (column < 0 || column + length > t.length) throw new FixError(`column ${column + 1} is outside line ${line + 1} of ${this.file.path}`);
    const l = this.replaced.get(line) ?? [];
    if (l.some((r) => column < r.column + r.length && r.column < column + length)) throw new FixError(`overlapping replacements on line ${line + 1} of ${this.file.path}`);
    l.push({ column, length, text });
    this.replaced.set(line, l);
    return this;
  }

  /** Replace the whole text of a line. */
  setLine(line: number, text: string): this {
    const t = this.known(line);
    return this.replace(line, 0, t.length, text);
  }

  insertBefore(line: number, lines: string[]): this {
    this.known(line);
    this.before.set(line, [...(this.before.get(line) ?? []), ...lines]);
    return this;
  }

  insertAfter(line: number, lines: string[]): this {
    this.known(line);
    this.after.set(line, [...(this.after.get(line) ?? []), ...lines]);
    return this;
  }

  /** The lines already queued after `line` (live: a caller may splice into them). */
  pendingAfter(line: number): string[] {
    let l = this.after.get(line);
    if (!l) this.after.set(line, (l = []));
    return l;
  }

  remove(line: number): this {
    this.known(line);
    this.removed.add(line);
    return this;
  }

  /** The current text of a line with this editor's replacements. */
  textOf(line: number): string {
    let t = this.known(line);
    for (const r of [...(this.replaced.get(line) ?? [])].sort((a, b) => b.column - a.column)) t = t.slice(0, r.column) + r.text + t.slice(r.column + r.length);
    return t;
  }

  get empty(): boolean {
    const some = (m: Map<number, string[]>) => [...m.values()].some((l) => l.length > 0);
    return this.replaced.size === 0 && this.removed.size === 0 && !some(this.before) && !some(this.after);
  }

  edits(): PostEdit[] {
    const lines = new Set<number>([...this.replaced.keys(), ...this.before.keys(), ...this.after.keys(), ...this.removed]);
    const out: PostEdit[] = [];
    for (const line of [...lines].sort((a, b) => a - b)) {
      const changed = this.replaced.has(line) || this.removed.has(line);
      const pre = this.before.get(line) ?? [];
      const post = this.after.get(line) ?? [];
      if (changed) out.push({ line, remove: 1, insert: [...pre, ...(this.removed.has(line) ? [] : [this.textOf(line)]), ...post] });
      else {
        if (pre.length) out.push({ line, remove: 0, insert: pre });
        if (post.length) out.push({ line: line + 1, remove: 0, insert: post });
      }
    }
    // an insertion after line L and one before line L+1 land on the same spot: one edit, in order
    const merged: PostEdit[] = [];
    for (const e of out.sort((a, b) => a.line - b.line || a.remove - b.remove)) {
      const last = merged[merged.length - 1];
      if (last && last.remove === 0 && e.remove === 0 && last.line === e.line) last.insert = [...last.insert, ...e.insert];
      else merged.push(e);
    }
    return merged;
  }
}

/** The analysed file a finding is about. */
export function fileOf(ctx: FixContext, finding: Finding): FileAnalysis {
  const f = ctx.analysis.files.find((x) => x.path === finding.file);
  if (!f) throw new FixError(`no file ${finding.file ?? '(none)'} in the patch`);
  return f;
}

/** The post side with its syntax (the analysis must keep it). */
export function postSide(f: FileAnalysis): Side {
  const s = f.postSide;
  if (!s?.tree) throw new FixError(`${f.path} has no parsed new version (the analysis did not keep its syntax)`);
  return s;
}

export function preSide(f: FileAnalysis): Side | undefined {
  return f.preSide?.tree ? f.preSide : undefined;
}

/** The post-side entity a finding names (data.entity), or the one at its line. */
export function postEntity(f: FileAnalysis, finding: Finding): Entity {
  const side = postSide(f);
  const key = (finding.data as { entity?: string } | undefined)?.entity;
  const e = key ? side.ents.byKey.get(key) : undefined;
  if (e) return e;
  const line = imageLineOfDoc(f, finding.range.start.line);
  const row = line >= 0 ? side.src.fromImage[line] : -1;
  const hit = side.ents.entities.find((x) => x.startRow <= row && row <= x.endRow);
  if (!hit) throw new FixError(`no entity of the new ${f.path} at the finding`);
  return hit;
}

/** Post-image line shown on a document line, or -1. */
export function imageLineOfDoc(f: FileAnalysis, docLine: number): number {
  const d = f.post.docLine;
  for (let i = 0; i < d.length; i++) if (d[i] === docLine) return i;
  return -1;
}

/** The post-image line of a syntax node's first row (-1 for synthetic lines). */
export function imageLine(side: Side, n: Node): number {
  return side.src.toImage[n.startPosition.row] ?? -1;
}

/** Every node of the entity (all its pieces) of one of the given types. */
export function nodesOf(e: Entity, types: string | string[]): Node[] {
  const out: Node[] = [];
  for (const part of [e.node, ...(e.extra ?? []).map((x) => x.node)]) for (const n of part.descendantsOfType(types)) if (n) out.push(n);
  return out;
}

/** The text of every piece of an entity (parse text), for quick filters. */
export function entityText(side: Side, e: Entity): string {
  return [e.node, ...(e.extra ?? []).map((x) => x.node)].map((n) => side.src.text.slice(n.startIndex, n.endIndex)).join('\n');
}

/** The name a call_expression calls (identifier callee), or ''. */
export function calleeName(call: Node): string {
  const fn = call.childForFieldName('function');
  return fn?.type === 'identifier' ? fn.text : '';
}

/** The post-image line after the last `#include` of the file, for new includes; throws without one. */
export function includeLine(f: FileAnalysis): number {
  let last = -1;
  f.post.lines.forEach((l, i) => {
    if (l !== undefined && /^\s*#\s*include\b/.test(l)) last = i;
  });
  if (last < 0) throw new FixError(`the #include lines of ${f.path} are not in the patch; a kernel tree is needed to add an include`);
  return last;
}

/** Does the new file already include `header` (as "<x>" or "\"x\"")? */
export function includes(f: FileAnalysis, header: string): boolean {
  const name = header.replace(/^[<"]|[>"]$/g, '');
  return f.post.lines.some((l) => l !== undefined && new RegExp(`^\\s*#\\s*include\\s*[<"]${name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}[>"]`).test(l));
}

/**
 * Add `#include header` after the file's last include unless it is there. In a
 * file that exports symbols it goes inside `#ifndef __GENKSYMS__`, so that
 * genksyms computes the same CRCs as before (kpatch patch author guide).
 */
export function addInclude(ed: PostEditor, header: string): void {
  if (includes(ed.file, header)) return;
  const at = includeLine(ed.file);
  const pending = ed.pendingAfter(at);
  if (pending.includes(`#include ${header}`)) return;
  if (ed.file.facts.scope.exports.size > 0) {
    // one #ifndef __GENKSYMS__ block for all the includes a fix adds
    const end = pending.lastIndexOf('#endif');
    if (end > 0 && pending[end - 1].startsWith('#include')) pending.splice(end, 0, `#include ${header}`);
    else ed.insertAfter(at, ['#ifndef __GENKSYMS__', `#include ${header}`, '#endif']);
  } else ed.insertAfter(at, [`#include ${header}`]);
}

/** Add an include, or, when the file's includes are not in the patch, a note asking the author to. */
export function includeOrNote(ed: PostEditor, header: string, notes: string[]): void {
  try {
    addInclude(ed, header);
  } catch (err) {
    if (!(err instanceof FixError)) throw err;
    notes.push(`Add #include ${header} to ${ed.file.path}: its includes are not in the patch.`);
  }
}

/** One PostEditor per file a fix touches. */
export class Editors {
  private map = new Map<FileAnalysis, PostEditor>();
  get(file: FileAnalysis): PostEditor {
    let ed = this.map.get(file);
    if (!ed) this.map.set(file, (ed = new PostEditor(file)));
    return ed;
  }
  /** The plan's file list. */
  files(): { file: FileAnalysis; edits: PostEdit[] }[] {
    return [...this.map].map(([file, ed]) => ({ file, edits: ed.edits() }));
  }
}
