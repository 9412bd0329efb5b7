/**
 * The entity diff: which functions, types, globals, statics, macros, includes,
 * exports and invocations the series adds, removes or changes, how (body,
 * signature, attributes, initializer, layout...), and where in the patch
 * document the change shows.
 */
import type { Range } from '../text';
import { lineContentRange, range as mkRange } from '../text';
import type { SideImage } from '../patch/images';
import type { Node, Tree } from '../syntax/parser';
import type { ParseSource } from '../syntax/source';
import { annotationsIn } from '../syntax/source';
import { normalizeC } from '../syntax/normalize';
import type { Entity, EntityKind, SideEntities } from './extract';
import { declaratorName } from './extract';
import { maxOf, minOf } from '../arrays';

export type ChangeKind = 'added' | 'removed' | 'changed';

export type Aspect =
  | 'signature' // return type, name or parameters of a function/prototype; parameters of a macro
  | 'body' // statements of a function
  | 'attributes' // storage class, inline, section and other annotations, EXPORT_SYMBOL flavour
  | 'type' // type of a variable or typedef (const, array size, pointer level...)
  | 'initializer' // initial value of a variable or the arguments of a DEFINE_* macro
  | 'layout' // members of a struct/union
  | 'values' // enumerators of an enum
  | 'value' // replacement text of a macro
  | 'cosmetic'; // only comments or whitespace differ

export type MemberChangeKind = 'added' | 'removed' | 'retyped' | 'moved';

export interface Member {
  name: string;
  /** Normalised declaration with the name replaced by `$` (type, pointers, array size, bitfield, #if guard). */
  decl: string;
  /** Image line of the member's name. */
  imageLine: number;
  nameColumn: number;
}

export interface MemberChange {
  name: string;
  change: MemberChangeKind;
  old?: string;
  new?: string;
  /** For an added member: the members that follow it on the new side (empty when appended at the end). */
  followers?: string[];
  /** Where the member shows in the patch document (its +/- line when it has one). */
  range?: Range;
}

/** What an entity is, without its syntax nodes (which die with their tree). */
export type EntityInfo = Omit<Entity, 'node' | 'extra'>;

/** One side of a changed entity. */
export interface EntitySide {
  entity: EntityInfo;
  /** Image lines (0-based, inclusive) the entity spans on this side. */
  imageStart: number;
  imageEnd: number;
  /** Source text of the entity on this side; unknown lines (hunks only) shown as "…". */
  text: string;
  /** Annotation names on its declaration (e.g. __init, __read_mostly, notrace). */
  annotations: string[];
  /** Document lines of this side's -/+ lines inside the entity. */
  changedDocLines: number[];
}

export interface EntityChange {
  kind: EntityKind;
  name: string;
  key: string;
  change: ChangeKind;
  aspects: Aspect[];
  old?: EntitySide;
  new?: EntitySide;
  /** Where the change shows in the patch document: the first -/+ line of the entity (its name when added or removed). */
  range: Range;
  /** First and last document lines that show the entity (context included). */
  span: { startLine: number; endLine: number };
  members?: MemberChange[];
  /** Name taken from a hunk heading (hunks-only analysis), not seen in the file. */
  synthetic: boolean;
}

export interface Side {
  image: SideImage;
  src: ParseSource;
  ents: SideEntities;
  /** The tree-sitter tree the entities point into (absent for a side that does not exist). */
  tree?: Tree;
}

interface Located {
  e: Entity;
  imageStart: number;
  imageEnd: number;
  changedDoc: number[];
  visibleDoc: number[];
  allChanged: boolean;
}

function locate(side: Side, e: Entity): Located {
  let imageStart = -1;
  let imageEnd = -1;
  const changedDoc: number[] = [];
  const visibleDoc: number[] = [];
  let visible = 0;
  let changed = 0;
  const rows: [number, number][] = [[e.startRow, e.endRow], ...(e.extra ?? []).map((p): [number, number] => [p.startRow, p.endRow])];
  for (const [from, to] of rows)
  for (let row = from; row <= to; row++) {
    const img = side.src.toImage[row];
    if (img === undefined || img < 0) continue;
    if (imageStart < 0) imageStart = img;
    imageEnd = img;
    visible++;
    const d = side.image.docLine[img];
    if (d >= 0) visibleDoc.push(d);
    if (side.image.changed[img]) {
      changed++;
      if (d >= 0) changedDoc.push(d);
    }
  }
  return { e, imageStart, imageEnd, changedDoc, visibleDoc, allChanged: visible > 0 && changed === visible };
}

function nodeText(src: ParseSource, n: Node | null | undefined): string {
  return n ? src.text.slice(n.startIndex, n.endIndex) : '';
}

function norm(src: ParseSource, n: Node | null | undefined): string {
  return n ? normalizeC(nodeText(src, n)) : '';
}

function sideText(side: Side, imageStart: number, imageEnd: number): string {
  if (imageStart < 0) return '';
  const out: string[] = [];
  let gap = false;
  for (let i = imageStart; i <= imageEnd; i++) {
    const l = side.image.lines[i];
    if (l === undefined) {
      if (!gap) out.push('…');
      gap = true;
    } else {
      out.push(l);
      gap = false;
    }
  }
  return out.join('\n');
}

/** Parts of an entity that are compared to classify a change. */
interface Parts {
  signature?: string;
  body?: string;
  attributes?: string;
  type?: string;
  initializer?: string;
  value?: string;
  members?: Member[];
  all: string;
}

function storageAndAttributes(src: ParseSource, node: Node, e: Entity): string {
  const bits: string[] = [];
  for (const c of node.children) {
    if (!c) continue;
    if (c.type === 'storage_class_specifier' || c.type === 'attribute_specifier' || c.type === 'attribute_declaration' || c.type === 'ms_declspec_modifier') {
      bits.push(normalizeC(nodeText(src, c)));
    }
  }
  for (const a of e.annotations) bits.push(a.args !== undefined ? `${a.name}(${normalizeC(a.args)})` : a.name);
  return bits.sort().join(' ');
}

function membersOf(side: Side, body: Node | null, kind: EntityKind): Member[] {
  const out: Member[] = [];
  if (!body) return out;
  const src = side.src;
  const walk = (list: Node, prefix: string, cond: string) => {
    for (const c of list.namedChildren) {
      if (!c) continue;
      if (kind === 'enum') {
        if (c.type === 'enumerator') {
          const name = c.childForFieldName('name');
          if (!name) continue;
          out.push({ name: prefix + name.text, decl: `${cond}= ${norm(src, c.childForFieldName('value'))}`, imageLine: src.toImage[name.startPosition.row], nameColumn: name.startPosition.column });
        } else if (c.type.startsWith('preproc_')) walk(c, prefix, cond + condOf(src, c));
        continue;
      }
      if (c.type === 'field_declaration') {
        const type = c.childForFieldName('type');
        const decls = c.childrenForFieldName('declarator').filter((d): d is Node => d !== null);
        if (decls.length === 0 && type && (type.type === 'struct_specifier' || type.type === 'union_specifier') && type.childForFieldName('body')) {
          // anonymous struct/union: its members belong to the enclosing one
          walk(type.childForFieldName('body') as Node, prefix, cond + type.type.replace('_specifier', '') + ' ');
          continue;
        }
        const typeText = normalizeC(src.text.slice(c.startIndex, decls[0]?.startIndex ?? c.endIndex));
        const bit = c.children.find((k) => k?.type === 'bitfield_clause');
        for (const d of decls) {
          const nameNode = declaratorName(d);
          if (!nameNode) continue;
          const shape = normalizeC(src.text.slice(d.startIndex, nameNode.startIndex) + '$' + src.text.slice(nameNode.endIndex, d.endIndex));
          // annotations (__rcu, __percpu, __aligned(8)...) do not change the layout but say how the member is used
          const ann = annotationsIn(src, c.startIndex, c.endIndex).map((a) => (a.args !== undefined ? `${a.name}(${a.args})` : a.name));
          out.push({
            name: prefix + nameNode.text,
            decl: `${cond}${typeText} ${shape}${bit ? ' ' + norm(src, bit) : ''}${ann.length ? ` [${ann.join(' ')}]` : ''}`,
            imageLine: src.toImage[nameNode.startPosition.row],
            nameColumn: nameNode.startPosition.column,
          });
        }
      } else if (c.type.startsWith('preproc_')) {
        walk(c, prefix, cond + condOf(src, c));
      }
    }
  };
  walk(body, '', '');
  return out;
}

function condOf(src: ParseSource, n: Node): string {
  const name = n.childForFieldName('name') ?? n.childForFieldName('condition');
  const head = n.type === 'preproc_ifdef' ? nodeText(src, n).split('\n')[0].trim().split(/\s+/)[0] : n.type;
  return name ? `[${head} ${normalizeC(nodeText(src, name))}] ` : `[${head}] `;
}

function partsOf(side: Side, e: Entity): Parts {
  const src = side.src;
  const n = e.node;
  const all = norm(src, n);
  switch (e.kind) {
    case 'function':
    case 'syscall': {
      // KLP_/KPATCH_SYSCALL_DEFINEn define the same system call as SYSCALL_DEFINEn (the livepatch way)
      const head = (s: string) => (e.kind === 'syscall' ? s.replace(/\b(KLP|KPATCH)_(?=SYSCALL_DEFINE)/, '') : s);
      if (n.type === 'compound_statement') {
        // macro-defined function: the head is the macro invocation before the block
        const prev = n.previousSibling;
        return { signature: head(norm(src, prev)), body: all, attributes: e.annotations.map((a) => a.name).sort().join(' '), all };
      }
      return {
        signature: e.synthetic ? undefined : head(normalizeC(nodeText(src, n.childForFieldName('type')) + ' ' + nodeText(src, n.childForFieldName('declarator')))),
        body: [n, ...(e.extra ?? []).map((p) => p.node)].map((x) => norm(src, x.childForFieldName('body'))).join(' … '),
        attributes: e.synthetic ? undefined : storageAndAttributes(src, n, e) + (n.children.some((c) => c?.type === 'type_qualifier' && c.text === 'inline') ? ' inline' : ''),
        all,
      };
    }
    case 'prototype':
      return { signature: normalizeC(nodeText(src, n.childForFieldName('type')) + ' ' + n.childrenForFieldName('declarator').map((d) => nodeText(src, d)).join(',')), attributes: storageAndAttributes(src, n, e), all };
    case 'variable':
    case 'static-local': {
      if (e.definedBy) {
        const rest = (e.args ?? []).filter((a) => a !== e.name).map(normalizeC).join(' , ');
        // DEFINE_PER_CPU(type, name): the other arguments are the type. DEFINE_STATIC_KEY_TRUE/FALSE: the initial value.
        const key = /^(DEFINE|DECLARE)_STATIC_KEY_(TRUE|FALSE)(_RO)?$/.exec(e.definedBy);
        if (key) return { type: e.definedBy.replace(/_(TRUE|FALSE)/, ''), initializer: key[2], attributes: storageAndAttributes(src, n, e), all };
        if (/PER_CPU/.test(e.definedBy)) return { type: `${e.definedBy} ${rest}`, attributes: storageAndAttributes(src, n, e), all };
        return { type: e.definedBy, initializer: rest, attributes: storageAndAttributes(src, n, e), all };
      }
      const decl = n.childrenForFieldName('declarator').find((d) => d !== null && declaratorName(d)?.text === e.name) ?? null;
      const value = decl?.type === 'init_declarator' ? decl.childForFieldName('value') : null;
      const typeNode = n.childForFieldName('type');
      const qualifiers = n.children.filter((c) => c?.type === 'type_qualifier').map((c) => c?.text).join(' ');
      const shape = decl ? (decl.type === 'init_declarator' ? nodeText(src, decl.childForFieldName('declarator')) : nodeText(src, decl)) : '';
      return {
        type: normalizeC(`${qualifiers} ${nodeText(src, typeNode)} ${shape}`),
        initializer: norm(src, value),
        attributes: storageAndAttributes(src, n, e),
        all,
      };
    }
    case 'struct':
    case 'union':
    case 'enum':
      return {
        members: [n, ...(e.extra ?? []).map((p) => p.node)].flatMap((x) => membersOf(side, x.childForFieldName('body'), e.kind)),
        attributes: e.annotations.map((a) => a.name).sort().join(' '),
        all: [n, ...(e.extra ?? []).map((p) => p.node)].map((x) => norm(src, x)).join(' … '),
      };
    case 'typedef':
      return { type: all, all };
    case 'macro': {
      const params = n.childForFieldName('parameters');
      const value = n.childForFieldName('value');
      return { signature: params ? norm(src, params) : '', value: value ? normalizeC(nodeText(src, value)) : '', all };
    }
    case 'export':
      return { attributes: e.definedBy ?? '', all };
    case 'invocation':
      return { value: (e.args ?? []).map(normalizeC).join(' , '), all };
    case 'fragment':
      return { body: all, all };
    default:
      return { all };
  }
}

function diffMembers(pre: Side, post: Side, a: Member[], b: Member[]): MemberChange[] {
  const out: MemberChange[] = [];
  const inA = new Map(a.map((m) => [m.name, m]));
  const inB = new Map(b.map((m) => [m.name, m]));
  const at = (side: Side, m: Member): Range | undefined => {
    const d = m.imageLine >= 0 ? side.image.docLine[m.imageLine] : -1;
    return d >= 0 ? mkRange(d, m.nameColumn + 1, d, m.nameColumn + 1 + m.name.replace(/^.*\./, '').length) : undefined;
  };
  b.forEach((m, i) => {
    if (!inA.has(m.name)) out.push({ name: m.name, change: 'added', new: m.decl, range: at(post, m), followers: b.slice(i + 1).map((x) => x.name) });
  });
  for (const m of a) if (!inB.has(m.name)) out.push({ name: m.name, change: 'removed', old: m.decl, range: at(pre, m) });
  for (const m of b) {
    const o = inA.get(m.name);
    if (o && o.decl !== m.decl) out.push({ name: m.name, change: 'retyped', old: o.decl, new: m.decl, range: at(post, m) ?? at(pre, o) });
  }
  // Reordering: common members not on a longest common subsequence moved.
  const ca = a.filter((m) => inB.has(m.name)).map((m) => m.name);
  const cb = b.filter((m) => inA.has(m.name)).map((m) => m.name);
  const keep = lcs(ca, cb);
  for (const m of b) {
    if (inA.has(m.name) && !keep.has(m.name)) out.push({ name: m.name, change: 'moved', old: inA.get(m.name)?.decl, new: m.decl, range: at(post, m) ?? at(pre, inA.get(m.name) as Member) });
  }
  return out;
}

function lcs(a: string[], b: string[]): Set<string> {
  const n = a.length;
  const m = b.length;
  if (n === 0 || m === 0) return new Set();
  if (n * m > 4_000_000) return new Set(a.filter((x, i) => b[i] === x));
  const dp: Uint16Array[] = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) dp[i][j] = a[i] === b[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
  const keep = new Set<string>();
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      keep.add(a[i]);
      i++;
      j++;
    } else if (dp[i + 1][j] >= dp[i][j + 1]) i++;
    else j++;
  }
  return keep;
}

function aspectsOf(pre: Side, post: Side, a: Entity, b: Entity): { aspects: Aspect[]; members?: MemberChange[] } {
  const pa = partsOf(pre, a);
  const pb = partsOf(post, b);
  const aspects: Aspect[] = [];
  let members: MemberChange[] | undefined;
  const differs = (x?: string, y?: string) => x !== undefined && y !== undefined && x !== y;
  if (differs(pa.signature, pb.signature)) aspects.push('signature');
  if (differs(pa.type, pb.type)) aspects.push('type');
  if (differs(pa.attributes, pb.attributes)) aspects.push('attributes');
  if (differs(pa.initializer, pb.initializer)) aspects.push('initializer');
  if (differs(pa.value, pb.value)) aspects.push('value');
  if (differs(pa.body, pb.body)) aspects.push('body');
  if (pa.members && pb.members) {
    members = diffMembers(pre, post, pa.members, pb.members);
    if (members.length > 0) aspects.push(a.kind === 'enum' ? 'values' : 'layout');
  }
  if (aspects.length === 0 && pa.all !== pb.all) {
    // Something changed that none of the parts above captures (e.g. text between members).
    aspects.push(a.kind === 'struct' || a.kind === 'union' ? 'layout' : a.kind === 'enum' ? 'values' : 'body');
  }
  return { aspects, members };
}

function toSide(side: Side, l: Located): EntitySide {
  const { node: _node, extra: _extra, ...info } = l.e;
  return {
    entity: info,
    imageStart: l.imageStart,
    imageEnd: l.imageEnd,
    text: sideText(side, l.imageStart, l.imageEnd),
    annotations: [...new Set(l.e.annotations.map((a) => a.name))],
    changedDocLines: l.changedDoc,
  };
}

/** Compare the entities of the two sides of one file. */
export function diffEntities(pre: Side, post: Side, docLines: readonly string[]): EntityChange[] {
  const cand = new Map<string, { a?: Located; b?: Located }>();
  const order: string[] = [];
  const note = (key: string) => {
    if (!cand.has(key)) {
      cand.set(key, {});
      order.push(key);
    }
    return cand.get(key)!;
  };
  for (const e of [...pre.ents.entities]) {
    const l = locate(pre, e);
    if (l.changedDoc.length > 0) note(e.key).a = l;
  }
  for (const e of [...post.ents.entities]) {
    const l = locate(post, e);
    if (l.changedDoc.length > 0) note(e.key).b = l;
  }
  // Static locals of every changed function, on both sides: one may exist on one side only.
  for (const key of [...order]) {
    for (const [side, slot] of [
      [pre, 'a'],
      [post, 'b'],
    ] as const) {
      const fn = side.ents.byKey.get(key);
      if (!fn || (fn.kind !== 'function' && fn.kind !== 'syscall')) continue;
      for (const local of side.ents.localsOf(fn)) note(local.key)[slot] = locate(side, local);
    }
  }
  const out: EntityChange[] = [];
  for (const key of order) {
    const c = cand.get(key)!;
    // The counterpart may be unchanged text elsewhere in the file (e.g. a function moved).
    if (!c.a) {
      const e = pre.ents.byKey.get(key);
      if (e) c.a = locate(pre, e);
    }
    if (!c.b) {
      const e = post.ents.byKey.get(key);
      if (e) c.b = locate(post, e);
    }
    const { a, b } = c;
    let change: ChangeKind;
    let aspects: Aspect[] = [];
    let members: MemberChange[] | undefined;
    if (a && b) {
      change = 'changed';
      ({ aspects, members } = aspectsOf(pre, post, a.e, b.e));
      if (aspects.length === 0) {
        if (a.changedDoc.length === 0 && b.changedDoc.length === 0) continue;
        aspects = ['cosmetic'];
      }
    } else if (b) {
      // Without the whole file a missing counterpart may just be out of view, unless the line
      // that names the entity is itself added: then the name did not exist before.
      change = (post.image.complete && pre.image.complete) || b.allChanged || !pre.image.exists || nameLineChanged(post, b.e) ? 'added' : 'changed';
      if (change === 'changed') aspects = [defaultAspect(b.e.kind)];
    } else if (a) {
      change = (pre.image.complete && post.image.complete) || a.allChanged || !post.image.exists || nameLineChanged(pre, a.e) ? 'removed' : 'changed';
      if (change === 'changed') aspects = [defaultAspect(a.e.kind)];
    } else continue;
    const ent = (b ?? a)!.e;
    const changedDoc = [...(a?.changedDoc ?? []), ...(b?.changedDoc ?? [])].sort((x, y) => x - y);
    const visible = [...(a?.visibleDoc ?? []), ...(b?.visibleDoc ?? []), ...changedDoc];
    if (visible.length === 0) continue;
    let anchor: Range;
    const named = change === 'added' ? b : change === 'removed' ? a : undefined;
    const nameDoc = named && named.e.nameRow >= 0 ? docLineOfRow(change === 'added' ? post : pre, named.e.nameRow) : -1;
    if (named && nameDoc >= 0) {
      const col = named.e.nameColumn + 1;
      const nameLen = named.e.kind === 'invocation' || named.e.kind === 'include' ? (docLines[nameDoc]?.length ?? col) - col : named.e.name.length;
      anchor = mkRange(nameDoc, col, nameDoc, Math.min(col + nameLen, docLines[nameDoc]?.length ?? col + nameLen));
    } else {
      // A layout change shows best on the first member that changed.
      const member = members?.filter((m) => m.range).sort((x, y) => x.range!.start.line - y.range!.start.line)[0];
      const first = changedDoc.length > 0 ? changedDoc[0] : minOf(visible);
      anchor = member?.range && member.range.start.line >= first ? lineContentRange(docLines, member.range.start.line, 1) : lineContentRange(docLines, first, 1);
    }
    out.push({
      kind: ent.kind,
      name: ent.kind === 'static-local' && ent.scope ? `${ent.scope}::${ent.name}` : ent.name,
      key,
      change,
      aspects,
      old: a ? toSide(pre, a) : undefined,
      new: b ? toSide(post, b) : undefined,
      range: anchor,
      span: { startLine: minOf(visible), endLine: maxOf(visible) },
      members,
      synthetic: (a?.e.synthetic ?? false) || (b?.e.synthetic ?? false),
    });
  }
  out.sort((x, y) => x.range.start.line - y.range.start.line || x.range.start.character - y.range.start.character);
  return out;
}

function defaultAspect(kind: EntityKind): Aspect {
  switch (kind) {
    case 'struct':
    case 'union':
      return 'layout';
    case 'enum':
      return 'values';
    case 'variable':
    case 'static-local':
      return 'initializer';
    case 'macro':
      return 'value';
    case 'typedef':
      return 'type';
    case 'invocation':
      return 'value';
    default:
      return 'body';
  }
}


/** The line that carries the entity's name is a -/+ line (and is real, not a hunk heading). */
function nameLineChanged(side: Side, e: Entity): boolean {
  if (e.synthetic || e.nameRow < 0) return false;
  const img = side.src.toImage[e.nameRow];
  return img !== undefined && img >= 0 && side.image.changed[img] === 1;
}

function docLineOfRow(side: Side, row: number): number {
  const img = side.src.toImage[row];
  return img !== undefined && img >= 0 ? side.image.docLine[img] : -1;
}
