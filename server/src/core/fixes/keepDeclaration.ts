/**
 * KLP101 for members the patch packs into bitfields (`bool more;` →
 * `u32 more:1,`, as CVE-2025-39964 does to struct af_alg_ctx while adding a
 * flag): every value the new bitfield holds, the old declaration holds too,
 * so the livepatch keeps the old declarations and the struct keeps its
 * layout. The code compiles the same against either (kpatch guide, "Data
 * structure changes": keep the layout).
 *
 * Only packing is offered. Unpacking (`bool x:1` → `bool x`) usually fixes a
 * data race on the word neighbouring bitfields share; keeping the old layout
 * would keep the race, so it is not offered. A declaration that also adds a
 * member is refused until shadow-field has moved that member out (the fix
 * driver runs them in that order).
 */
import type { FileAnalysis } from '../analysis';
import type { Side } from '../entities/diff';
import type { Entity } from '../entities/extract';
import { declaratorName } from '../entities/extract';
import type { Node } from '../syntax/parser';
import type { Fix } from './index';
import { FixError } from './patchEdit';
import { Editors, fileOf, nodesOf, postEntity, postSide, preSide } from './edit';

/** Bits of the integer types a packed member may have had before. */
const BITS: Record<string, number> = {
  bool: 1,
  _Bool: 1,
  u8: 8,
  s8: 8,
  char: 8,
  'unsigned char': 8,
  u16: 16,
  s16: 16,
  short: 16,
  'unsigned short': 16,
  u32: 32,
  s32: 32,
  int: 32,
  unsigned: 32,
  'unsigned int': 32,
  u64: 64,
  s64: 64,
  long: 64,
  'unsigned long': 64,
};

interface Decl {
  node: Node;
  names: string[];
  /** Bitfield width per name, when it has one. */
  widths: Map<string, number>;
  type: string;
  first: number;
  last: number;
}

function declsOf(side: Side, e: Entity): Decl[] {
  const out: Decl[] = [];
  for (const node of nodesOf(e, 'field_declaration')) {
    const kids = node.children.filter((c): c is Node => !!c);
    const names: string[] = [];
    const widths = new Map<string, number>();
    kids.forEach((k, i) => {
      if (node.childrenForFieldName('declarator').some((d) => d?.startIndex === k.startIndex)) {
        const name = declaratorName(k)?.text;
        if (!name) return;
        names.push(name);
        const bits = kids[i + 1]?.type === 'bitfield_clause' ? Number(kids[i + 1].text.replace(/^:\s*/, '')) : NaN;
        if (Number.isInteger(bits)) widths.set(name, bits);
      }
    });
    const typeNode = node.childForFieldName('type');
    const type = typeNode ? side.src.raw.slice(typeNode.startIndex, typeNode.endIndex).replace(/\s+/g, ' ').trim() : '';
    out.push({ node, names, widths, type, first: side.src.toImage[node.startPosition.row] ?? -1, last: side.src.toImage[node.endPosition.row] ?? -1 });
  }
  return out;
}

/** Why the old declaration cannot hold what the packed one does, or undefined when it can. */
function packingRefusal(name: string, old: Decl, now: Decl): string | undefined {
  const width = now.widths.get(name);
  if (width === undefined) return `${name} is not a bitfield in the new struct: restoring its old type would change what it holds; convert it by hand`;
  if (old.widths.has(name)) return `${name} was a bitfield before: only packing into bitfields is undone mechanically`;
  const bits = BITS[old.type.replace(/^(const|volatile) /, '')];
  if (bits === undefined) return `${name} was ${old.type}: not an integer type the fix knows`;
  if (width > bits) return `${name}:${width} holds more than ${old.type} did`;
  return undefined;
}

interface Restore {
  struct: string;
  names: string[];
  post: Decl;
  pre: Decl[];
}

/** The member declarations of the old version of a struct entity. */
function oldDecls(f: FileAnalysis, e: Entity): Decl[] {
  const pre = preSide(f);
  const old = pre?.ents.byKey.get(e.key);
  if (!pre || !old) throw new FixError(`the old ${e.kind} ${e.name} is not in the patch`);
  return declsOf(pre, old);
}

/** Every line of the declaration is in the patch (its rows map to consecutive image lines). */
const whole = (d: Decl) => d.first >= 0 && d.last - d.first === d.node.endPosition.row - d.node.startPosition.row;

/** The old declaration's text, line by line. */
const preLines = (f: FileAnalysis, d: Decl) => Array.from({ length: d.last - d.first + 1 }, (_, k) => f.pre.lines[d.first + k] ?? '');

function restoreOf(f: FileAnalysis, e: Entity, member: string): Restore {
  const now = declsOf(postSide(f), e).find((d) => d.names.includes(member));
  if (!now) throw new FixError(`no declaration of ${member} in the new ${e.kind} ${e.name}`);
  const before = oldDecls(f, e);
  const pres: Decl[] = [];
  for (const name of now.names) {
    const d = before.find((x) => x.names.includes(name));
    if (!d) throw new FixError(`${name} is new in the same declaration: move it to a shadow variable first (shadow-field), then keep the old declarations`);
    if (d.names.some((n) => !now.names.includes(n))) throw new FixError(`the old declaration of ${name} also declares ${d.names.filter((n) => !now.names.includes(n)).join(', ')}; convert it by hand`);
    const why = packingRefusal(name, d, now);
    if (why) throw new FixError(why);
    if (!pres.includes(d)) pres.push(d);
  }
  if (!whole(now)) throw new FixError(`the new declaration of ${member} is not all in the patch`);
  for (const d of pres) if (!whole(d)) throw new FixError(`the old declaration of ${d.names[0]} is not all in the patch`);
  return { struct: `${e.kind} ${e.name}`, names: now.names, post: now, pre: pres.sort((a, b) => a.first - b.first) };
}

/** The lines of a member's old declaration (one that declares it alone), for a fix that keeps it. */
export function oldDeclaration(f: FileAnalysis, e: Entity, member: string): string[] {
  const d = oldDecls(f, e).find((x) => x.names.includes(member));
  if (!d) throw new FixError(`no declaration of ${member} in the old ${e.kind} ${e.name}`);
  if (d.names.length > 1) throw new FixError(`the old declaration of ${member} also declares ${d.names.filter((n) => n !== member).join(', ')}; convert it by hand`);
  if (!whole(d)) throw new FixError(`the old declaration of ${member} is not all in the patch`);
  return preLines(f, d);
}

export const keepDeclarationFix = {
  id: 'keep-old-declaration',
  codes: ['KLP101'],
  // after shadow-field has moved out a member added to the same declaration
  order: 1,
  title(_ctx, finding) {
    const d = finding.data as { struct?: string; member?: string; change?: string; decl?: string; old?: string } | undefined;
    if (d?.change !== 'retyped' || !d.member || !/:\s*\d+\s*$/.test(d.decl ?? '') || /:\s*\d+\s*$/.test(d.old ?? '')) return undefined;
    const bits = /:\s*(\d+)\s*$/.exec(d.decl ?? '')![1];
    return `Keep ${d.struct}'s layout: restore the old declaration of ${d.member} (${(d.old ?? '').replace(/\s*\$.*/, '')}); it holds every value of the ${bits}-bit bitfield`;
  },
  plan(ctx, finding) {
    const f = fileOf(ctx, finding);
    const member = (finding.data as { member: string }).member;
    const r = restoreOf(f, postEntity(f, finding), member);
    const editors = new Editors();
    const ed = editors.get(f);
    for (let i = r.post.first; i <= r.post.last; i++) ed.remove(i);
    ed.insertBefore(r.post.first, r.pre.flatMap((d) => preLines(f, d)));
    return {
      files: editors.files(),
      notes: [`${r.struct} keeps the old declarations of ${r.names.join(', ')}: the patch packed them into bitfields, and the old types hold every value the bitfields do, so the code is the same and the layout stays.`],
    };
  },
} satisfies Fix;
