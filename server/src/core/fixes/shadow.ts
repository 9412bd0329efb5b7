/**
 * What the shadow-variable fixes share: unique ids, where file-scope
 * definitions go, statement rewrites, klp_shadow_free() where the patched
 * files free an object, klp_shadow_free_all() on unpatch.
 */
import type { FileAnalysis } from '../analysis';
import type { Side } from '../entities/diff';
import { functionFacts, structTypesOf } from '../facts/extract';
import type { BuildTool } from '../rules';
import type { Node } from '../syntax/parser';
import type { Entity } from '../entities/extract';
import type { FixContext } from './index';
import { FixError } from './patchEdit';
import { addInclude, entityText, imageLine, includeLine, nodesOf, postSide, PostEditor } from './edit';

/** The struct (or union) a shadow variable hangs off. */
export interface ShadowOwner {
  /** "struct lens_dev" */
  structType: string;
  /** "lens_dev" */
  tag: string;
}

export const FREES: Record<string, number> = { kfree: 0, kvfree: 0, kfree_sensitive: 0, vfree: 0, kfree_rcu: 0, kvfree_rcu: 0, kmem_cache_free: 1 };

/** A 32-bit FNV-1a hash, for shadow ids that differ between patches and fields. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function ident(s: string): string {
  return s.replace(/\W+/g, '_');
}

/** The object expression of x->f (x) or x.f (&x), as written. */
export function objectOf(side: Side, n: Node): string {
  const arg = n.childForFieldName('argument');
  const text = arg ? side.src.raw.slice(arg.startIndex, arg.endIndex) : '';
  const op = n.children.find((c) => c?.type === '->' || c?.type === '.')?.type ?? '->';
  return op === '->' ? text : `&${/^[\w.]+$/.test(text) ? text : `(${text})`}`;
}

/** A C block comment wrapped at 80 columns. */
export function blockComment(text: string): string[] {
  const out = ['/*'];
  let line = ' *';
  for (const word of text.split(/\s+/)) {
    if (line.length + 1 + word.length > 78 && line !== ' *') {
      out.push(line);
      line = ' *';
    }
    line += ' ' + word;
  }
  out.push(line, ' */');
  return out;
}

export function lastInclude(f: FileAnalysis): number {
  try {
    return includeLine(f);
  } catch {
    return -1;
  }
}

export function indentOf(line: string): string {
  return /^\s*/.exec(line)?.[0] ?? '';
}

/** The expression_statement a node is the whole expression of, or undefined. */
export function statementOf(n: Node): Node | undefined {
  let s: Node | null = n;
  while (s && s.type !== 'expression_statement') {
    if (/_statement$|^compound_statement$|^declaration$/.test(s.type)) return undefined;
    s = s.parent;
  }
  return s ?? undefined;
}

/** Replace a whole statement: as lines when it stands alone on its lines, else inline. */
export function replaceStatement(ed: PostEditor, side: Side, stmt: Node, block: (indent: string) => string[], inline: string): void {
  const first = imageLine(side, stmt);
  const last = side.src.toImage[stmt.endPosition.row] ?? -1;
  if (first < 0 || last < first) throw new FixError('a statement to rewrite is not fully in the patch');
  const head = ed.textOf(first).slice(0, stmt.startPosition.column);
  const tail = ed.textOf(last).slice(stmt.endPosition.column);
  if (/^\s*$/.test(head) && /^\s*$/.test(tail)) {
    for (let i = first + 1; i <= last; i++) ed.remove(i);
    const [one, ...more] = block(head);
    ed.setLine(first, one);
    if (more.length) ed.insertAfter(first, more);
  } else if (first === last) {
    ed.replace(first, stmt.startPosition.column, stmt.endPosition.column - stmt.startPosition.column, inline);
  } else throw new FixError('a statement to rewrite shares its lines with other code');
}

export function callbackMacro(tool: BuildTool) {
  return tool === 'klp-build' ? { post: 'KLP_POST_UNPATCH_CALLBACK', obj: 'struct klp_object *obj', header: '<linux/livepatch_helpers.h>' } : { post: 'KPATCH_POST_UNPATCH_CALLBACK', obj: 'patch_object *obj', header: '"kpatch-macros.h"' };
}

/** A place for file-scope lines: after `line`, or before it. */
export interface Spot {
  line: number;
  before: boolean;
}

/**
 * Where file-scope definitions go: after the struct when this file defines
 * it, else after the includes, else (hunks alone) right before the first
 * function of `near` whose head line the patch shows. Throws when none is in
 * view.
 */
export function definitionsSpot(f: FileAnalysis, m: ShadowOwner, near: readonly Entity[] = []): Spot {
  const side = postSide(f);
  const structEntity = side.ents.entities.find((x) => (x.kind === 'struct' || x.kind === 'union') && x.name === m.tag && !x.declarationOnly);
  const end = structEntity ? (side.src.toImage[structEntity.endRow] ?? -1) : -1;
  if (end >= 0 && f.post.lines[end] !== undefined) return { line: end, before: false };
  const inc = lastInclude(f);
  // types the helpers name must be complete: after the includes only when the struct is not defined later in this file
  if (inc >= 0 && !structEntity) return { line: inc, before: false };
  const heads = near
    .map((e) => side.src.toImage[e.startRow] ?? -1)
    .filter((l) => l >= 0 && f.post.lines[l] !== undefined && (end < 0 || l > end))
    .sort((a, b) => a - b);
  if (heads.length && (!structEntity || end >= 0)) return { line: heads[0], before: true };
  throw new FixError(`no place at file scope of ${f.path} is in the patch (its #includes, or the head of a function that uses it); a kernel tree is needed`);
}

/** Insert file-scope lines at a spot. */
export function insertAt(ed: PostEditor, at: Spot, lines: string[]): void {
  if (at.before) ed.insertBefore(at.line, [...lines.filter((l, k) => k > 0 || l !== ''), '']);
  else ed.insertAfter(at.line, lines);
}

/** If the file already has a post-unpatch callback, free all the shadows there; true when done. */
export function addFreeAllToExisting(ed: PostEditor, id: string): boolean {
  const f = ed.file;
  const m = f.post.lines.map((l) => (l ? /\b(?:KLP|KPATCH)_POST_UNPATCH_CALLBACK\s*\(\s*(\w+)\s*\)/.exec(l) : null)).find((x) => x);
  if (!m) return false;
  const side = postSide(f);
  const fn = side.ents.entities.find((e) => e.kind === 'function' && e.name === m[1]);
  const body = fn?.node.childForFieldName('body');
  const open = body ? imageLine(side, body) : -1;
  if (!body || open < 0) throw new FixError(`${f.path} already registers ${m[1]}() as its post-unpatch callback, but its body is not in the patch: add klp_shadow_free_all(${id}, NULL) there by hand`);
  ed.insertAfter(open, [`\tklp_shadow_free_all(${id}, NULL);`]);
  return true;
}

/** Insert klp_shadow_free() before every statement of the patched files that frees an object of the member's struct. */
export function freeSites(ctx: FixContext, m: ShadowOwner, id: string, editor: (f: FileAnalysis) => PostEditor, skippedInit: string[]): number {
  let n = 0;
  for (const f of ctx.analysis.files) {
    const side = f.postSide;
    if (!side?.tree || (f.language !== 'c' && f.language !== 'header')) continue;
    const fns = new Set(side.ents.entities.filter((e) => e.kind === 'function').map((e) => e.name));
    const types = structTypesOf(side);
    // file-scope pointers to the struct (kfree(lens_device) with a global lens_device)
    const globals = new Set<string>();
    for (const v of side.ents.entities) {
      if (v.kind !== 'variable') continue;
      const t = side.src.raw.slice(v.node.startIndex, v.node.endIndex);
      const d = /^(?:(?:static|extern)\s+)?(struct|union)\s+(\w+)\s*\*\s*(\w+)\s*[;=]/.exec(t.trim());
      if (d && `${d[1]} ${d[2]}` === m.structType && d[3] === v.name) globals.add(v.name);
    }
    for (const e of side.ents.entities) {
      if (e.kind !== 'function') continue;
      const initOrExit = e.annotations.some((a) => /^__(dev|mem|cpu)?(init|exit)(data|const)?$/.test(a.name));
      const text = entityText(side, e);
      if (!/\b(kv?free(_rcu|_sensitive)?|vfree|kmem_cache_free)\s*\(/.test(text)) continue;
      const facts = functionFacts(side, e, fns, types);
      for (const ef of facts.effects) {
        if (ef.op !== 'free' || !(ef.via in FREES) || (ef.resource !== m.structType && !globals.has(ef.resource))) continue;
        const call = nodesOf(e, 'call_expression').find((c) => imageLine(side, c) === ef.site.imageLine && c.startPosition.column === ef.site.column);
        const arg = call?.childForFieldName('arguments')?.namedChildren.filter((a) => a && a.type !== 'comment')[FREES[ef.via]];
        const stmt = call ? statementOf(call) : undefined;
        if (!call || !arg || !stmt) continue;
        // init and exit code cannot be patched (KLP160): free_all on unpatch covers what it frees
        if (initOrExit) {
          if (!skippedInit.includes(e.name)) skippedInit.push(e.name);
          continue;
        }
        const line = imageLine(side, stmt);
        if (line < 0 || f.post.lines[line] === undefined) continue;
        const ed = editor(f);
        ed.insertBefore(line, [`${indentOf(f.post.lines[line]!)}klp_shadow_free(${side.src.raw.slice(arg.startIndex, arg.endIndex)}, ${id}, NULL);`]);
        n++;
      }
    }
  }
  return n;
}

/**
 * A shadow id's definitions in one file, after the struct (when the file
 * defines it) or the includes: the explanation, the `#define`, the helpers,
 * and when `callback` names one, the post-unpatch callback that frees every
 * shadow with this id (or a call in the file's existing post-unpatch
 * callback). Adds <linux/livepatch.h> (and the tool's callback header).
 */
export function placeDefinitions(
  ctx: FixContext,
  ed: PostEditor,
  owner: ShadowOwner,
  o: { id: string; idValue: string; comment: string; helpers: string[]; callback?: string; near?: readonly Entity[] },
  notes: string[],
): void {
  const file = ed.file;
  const { post: postMacro, obj: objParam, header } = callbackMacro(ctx.target.tool);
  const defs = ['', ...blockComment(o.comment), `#define ${o.id}\t${o.idValue}`, ...o.helpers];
  if (o.callback && !addFreeAllToExisting(ed, o.id)) defs.push('', `static void ${o.callback}(${objParam})`, '{', `\tklp_shadow_free_all(${o.id}, NULL);`, '}', `${postMacro}(${o.callback});`);
  const at = definitionsSpot(file, owner, o.near);
  // includes first: they go after the last #include, where the definitions may go too
  const needsHeader = defs.some((l) => l.includes(postMacro));
  if (lastInclude(file) >= 0) {
    addInclude(ed, '<linux/livepatch.h>');
    if (needsHeader) addInclude(ed, header);
  } else notes.push(`Add #include <linux/livepatch.h>${needsHeader ? ` and #include ${header}` : ''} to ${file.path}: its includes are not in the patch.`);
  // one blank line around the block
  const next = file.post.lines[at.line + 1];
  if (!at.before && next !== undefined && next.trim() !== '') defs.push('');
  insertAt(ed, at, defs);
}

const ALLOCS: Record<string, number> = { kzalloc: 1, kmalloc: 1, kvzalloc: 1, kvmalloc: 1, kcalloc: 2, kmalloc_array: 2, kmem_cache_alloc: 1, kmem_cache_zalloc: 1, kzalloc_node: 1, kmalloc_node: 1 };

/** A place where the patched files allocate an object of the struct. */
export interface AllocationSite {
  file: FileAnalysis;
  fn: string;
  /** In init code: objects made there exist before any livepatch. */
  init: boolean;
  /** The post-image line after which code about the new object goes. */
  after: number;
  indent: string;
  /** The variable or lvalue that holds the new object. */
  obj: string;
  /** The allocation's gfp flags, as written. */
  gfp: string;
}

export function allocationSites(ctx: FixContext, owner: ShadowOwner): AllocationSite[] {
  const out: AllocationSite[] = [];
  for (const f of ctx.analysis.files) {
    const side = f.postSide;
    if (!side?.tree || (f.language !== 'c' && f.language !== 'header')) continue;
    const fns = new Set(side.ents.entities.filter((e) => e.kind === 'function').map((e) => e.name));
    const types = structTypesOf(side);
    for (const e of side.ents.entities) {
      if (e.kind !== 'function') continue;
      if (!/\b(k[mvz]?[mz]?alloc|kcalloc|kmalloc_array|kmem_cache_z?alloc)\w*\s*\(/.test(entityText(side, e))) continue;
      const facts = functionFacts(side, e, fns, types);
      for (const ef of facts.effects) {
        if (ef.op !== 'alloc' || ef.resource !== owner.structType || !(ef.via in ALLOCS)) continue;
        const call = nodesOf(e, 'call_expression').find((c) => imageLine(side, c) === ef.site.imageLine && c.startPosition.column === ef.site.column);
        const stmt = call && (statementOf(call) ?? (call.parent?.type === 'init_declarator' ? (call.parent.parent ?? undefined) : undefined));
        const holder = call?.parent?.type === 'assignment_expression' ? call.parent.childForFieldName('left') : call?.parent?.type === 'init_declarator' ? call.parent.childForFieldName('declarator') : null;
        if (!call || !stmt || !holder) continue;
        const obj = side.src.raw.slice(holder.startIndex, holder.endIndex).replace(/^\*+\s*/, '');
        const gfpArg = call.childForFieldName('arguments')?.namedChildren.filter((a) => a && a.type !== 'comment')[ALLOCS[ef.via]];
        const gfp = gfpArg ? side.src.raw.slice(gfpArg.startIndex, gfpArg.endIndex) : 'GFP_ATOMIC';
        const last = side.src.toImage[stmt.endPosition.row] ?? -1;
        const first = imageLine(side, stmt);
        if (last < 0 || first < 0 || f.post.lines[last] === undefined) continue;
        out.push({ file: f, fn: e.name, init: e.annotations.some((a) => /^__(dev|mem|cpu)?init$/.test(a.name)), after: last, indent: indentOf(f.post.lines[first]!), obj, gfp });
      }
    }
  }
  return out;
}
