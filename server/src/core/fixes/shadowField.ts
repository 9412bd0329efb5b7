/**
 * KLP101 (a field added to a struct) → keep the struct's layout and hold the
 * new field in a klp shadow variable, following the upstream pattern
 * (samples/livepatch/livepatch-shadow-fix1/2, Documentation/livepatch/shadow-vars.rst):
 *
 *  - the field's line leaves the struct hunk;
 *  - each file that uses it gets a documented, unique shadow id and small helpers:
 *    `klp_<S>_<f>(obj, gfp)` (klp_shadow_get_or_alloc, with a constructor when the
 *    data needs one) for writes, `klp_<S>_<f>_read(obj)` (klp_shadow_get, 0 for
 *    objects created before the patch) for reads;
 *  - each write `x->f = v;` / `x->f++;` becomes a guarded write through the shadow,
 *    each read a call of the read helper; gfp flags follow the context
 *    (GFP_ATOMIC under a spinlock, RCU or with interrupts off, or when it is
 *    unknown whether the function may sleep; GFP_KERNEL where it sleeps anyway);
 *  - every place in the patched files that frees the object gains
 *    `klp_shadow_free()` just before, and a post-unpatch callback frees all;
 *  - lock fields (spinlock_t, struct mutex, …) become one global lock instead, as
 *    shipped livepatches mostly did: nothing to allocate, no object without a
 *    lock; `*_init(&x->lock)` calls go away.
 *
 *  - a plain struct field is a zeroed shadow: reads of it or its members go through
 *    `klp_<S>_<f>_peek(obj)` (a zeroed stand-in for objects without one), writes
 *    through the get_or_alloc helper, `sizeof(x->f)` becomes `sizeof(T)`;
 *  - a field added to a declaration of several leaves it; the declaration goes back.
 *
 * What cannot be converted mechanically (a write inside an expression, a field
 * that needs its initialiser and owner such as a work item or a timer, a lock
 * shared between files) is refused with the reason.
 */
import type { FileAnalysis } from '../analysis';
import type { Entity } from '../entities/extract';
import { declaratorName } from '../entities/extract';
import type { FunctionFacts } from '../facts/extract';
import type { Node } from '../syntax/parser';
import type { Side } from '../entities/diff';
import type { Fix, FixContext } from './index';
import { FixError } from './patchEdit';
import { Editors, fileOf, imageLine, nodesOf, postEntity, postSide, PostEditor } from './edit';
import { oldDeclaration } from './keepDeclaration';
import { allocationSites, definitionsSpot, fnv1a, freeSites, ident, insertAt, objectOf, placeDefinitions, replaceStatement, statementOf } from './shadow';

type Kind = 'scalar' | 'counter' | 'list' | 'lock' | 'aggregate';

interface Member {
  structType: string; // "struct lens_dev"
  tag: string; // "lens_dev"
  field: string;
  /** The C type of the field ("unsigned int", "struct foo *"). */
  type: string;
  kind: Kind;
  /** Lock flavour: the DEFINE macro for one global lock of this type. */
  lockDefine?: string;
  lockInits?: RegExp;
  lockInit?: string;
  /** Post-image lines of the declaration (and of the comment lines the patch added right above it). */
  lines: number[];
  /** What stands in their place: the declaration without this declarator, when it declares others too. */
  replacement?: string[];
  /** The declaration's type is before the hunk (a bitfield held as unsigned int). */
  typeOutOfView?: boolean;
  file: FileAnalysis;
}

const LOCKS: Record<string, { define: string; inits: RegExp; init: string }> = {
  spinlock_t: { define: 'DEFINE_SPINLOCK', inits: /^spin_lock_init$/, init: 'spin_lock_init' },
  raw_spinlock_t: { define: 'DEFINE_RAW_SPINLOCK', inits: /^raw_spin_lock_init$/, init: 'raw_spin_lock_init' },
  rwlock_t: { define: 'DEFINE_RWLOCK', inits: /^rwlock_init$/, init: 'rwlock_init' },
  'struct mutex': { define: 'DEFINE_MUTEX', inits: /^mutex_init$/, init: 'mutex_init' },
  'struct rw_semaphore': { define: 'DECLARE_RWSEM', inits: /^init_rwsem$/, init: 'init_rwsem' },
  seqlock_t: { define: 'DEFINE_SEQLOCK', inits: /^seqlock_init$/, init: 'seqlock_init' },
};
/** A member declaration (as the rule reports it) that is a lock the fixes know. */
const LOCK_DECL = /^(spinlock_t|raw_spinlock_t|rwlock_t|struct mutex|struct rw_semaphore|seqlock_t)\s+\$/;
const COUNTERS = /^(atomic_t|atomic64_t|atomic_long_t|refcount_t)$/;
const PURE_READERS = /^(atomic_read|atomic64_read|atomic_long_read|refcount_read|list_empty|list_empty_careful)$/;

/** Aggregates a zeroed shadow would leave broken: they need their initialiser (and work items their owner). */
const NEEDS_INIT = /^(struct (work_struct|delayed_work|rcu_work|timer_list|hrtimer|completion|kref|kthread_work|kthread_delayed_work|xarray|idr|ida|swait_queue_head|srcu_struct|percpu_ref|mutex|rw_semaphore|semaphore)|wait_queue_head_t|spinlock_t|seqcount_t|seqlock_t)$/;

function kindOf(type: string, pointer: boolean, array: boolean): Kind | undefined {
  if (array) return undefined;
  if (pointer) return 'scalar';
  if (LOCKS[type]) return 'lock';
  if (COUNTERS.test(type)) return 'counter';
  if (type === 'struct list_head') return 'list';
  if (/^(struct|union)\s/.test(type)) return NEEDS_INIT.test(type) ? undefined : 'aggregate';
  return 'scalar';
}

/** The member the finding is about, from the post-side struct. */
function memberOf(f: FileAnalysis, structEntity: Entity, field: string): Member {
  const side = postSide(f);
  // every piece of the struct (a struct seen through several hunks has several)
  for (const decl of nodesOf(structEntity, 'field_declaration')) {
    if (!decl) continue;
    const d = decl.childrenForFieldName('declarator').find((x) => x && declaratorName(x)?.text === field);
    if (!d) continue;
    const others = decl.childrenForFieldName('declarator').length > 1;
    const { base, outOfView } = declaredType(side, decl, field);
    const qualifiers = decl.children.filter((c) => c?.type === 'type_qualifier').map((c) => c!.text);
    const dText = side.src.raw.slice(d.startIndex, d.endIndex);
    const stars = (dText.match(/\*/g) ?? []).length;
    const array = /\[/.test(dText);
    if (/\(/.test(dText)) throw new FixError(`${field} is a function pointer or a complex declarator; convert it by hand`);
    const type = [...qualifiers.filter((q) => q !== 'volatile'), base].join(' ') + (stars ? ' ' + '*'.repeat(stars) : '');
    const kind = kindOf(base, stars > 0, array);
    if (!kind) throw new FixError(NEEDS_INIT.test(base) && !array ? `${field} (${type}) needs its initialiser and its owner (a zeroed shadow copy would not work); convert it by hand` : `${field} (${type}${array ? ', an array' : ''}) is not a scalar, counter, list head, lock or plain struct; convert it by hand`);
    const first = imageLine(side, decl);
    const last = side.src.toImage[decl.endPosition.row] ?? -1;
    if (first < 0 || last < first) throw new FixError(`the declaration of ${field} is not in the patch`);
    const lines: number[] = [];
    for (let i = first; i <= last; i++) lines.push(i);
    // a declaration of several members keeps the others: it is rewritten without this one
    if (others && last - first !== decl.endPosition.row - decl.startPosition.row) throw new FixError(`the declaration of ${field} is not all in the patch`);
    if (!others) withAddedComments(f, lines);
    const tag = structEntity.name;
    const structType = `${structEntity.kind} ${tag}`;
    const replacement = others ? { replacement: withoutDeclarator(side, decl, d) } : {};
    return { structType, tag, field, type, kind, lockDefine: LOCKS[base]?.define, lockInits: LOCKS[base]?.inits, lockInit: LOCKS[base]?.init, lines, ...replacement, ...(outOfView ? { typeOutOfView: true } : {}), file: f };
  }
  throw new FixError(`no field ${field} in the new ${structEntity.kind} ${structEntity.name}`);
}

/** Comment lines the patch added right above a field's declaration go with it, and a blank line it added after them when the block stood between blank lines. */
function withAddedComments(f: FileAnalysis, lines: number[]): void {
  const last = lines[lines.length - 1];
  for (let i = lines[0] - 1; i >= 0 && f.post.changed[i] && /^\s*(\/\*|\*|\/\/)/.test(f.post.lines[i] ?? ''); i--) lines.unshift(i);
  const after = last + 1;
  const before = lines[0] - 1;
  if (f.post.changed[after] && f.post.lines[after]?.trim() === '' && f.post.lines[before]?.trim() === '') lines.push(after);
}

/**
 * The base type of a member's declaration. A bitfield declaration that starts before the hunk (its
 * first declarator missing, the type taken for it) has its type out of view: the shadow holds the
 * value as an unsigned int, wide enough for any bitfield the kernel declares.
 */
function declaredType(side: Side, decl: Node, field: string): { base: string; outOfView?: true } {
  const first = decl.childrenForFieldName('declarator')[0];
  if (first && (first.isMissing || first.text === '')) {
    if (!decl.children.some((c) => c?.type === 'bitfield_clause')) throw new FixError(`the type of ${field}'s declaration is before the hunk; a kernel tree shows it`);
    return { base: 'unsigned int', outOfView: true };
  }
  const typeNode = decl.childForFieldName('type');
  return { base: (typeNode ? side.src.raw.slice(typeNode.startIndex, typeNode.endIndex) : '').replace(/\s+/g, ' ').trim() };
}

/**
 * The lines of a declaration of several members without the declarator `d` (with its bitfield and the
 * comma that joined it to its neighbour), as they stand in the post-image.
 */
function withoutDeclarator(side: Side, decl: Node, d: Node): string[] {
  const raw = side.src.raw;
  const kids = decl.children.filter((c): c is Node => !!c);
  const at = kids.findIndex((c) => c.startIndex === d.startIndex && c.type === d.type);
  let end = at;
  if (kids[end + 1]?.type === 'bitfield_clause') end++;
  let cutFrom: number;
  let cutTo: number;
  if (kids[at - 1]?.type === ',') {
    cutFrom = kids[at - 2]?.endIndex ?? kids[at - 1].startIndex;
    cutTo = kids[end].endIndex;
  } else {
    cutFrom = kids[at].startIndex;
    const next = kids[end + 1]?.type === ',' ? kids[end + 2] : undefined;
    cutTo = next ? next.startIndex : kids[end].endIndex;
  }
  const lineStart = raw.lastIndexOf('\n', decl.startIndex - 1) + 1;
  const nl = raw.indexOf('\n', decl.endIndex);
  const lineEnd = nl < 0 ? raw.length : nl;
  return (raw.slice(lineStart, cutFrom) + raw.slice(cutTo, lineEnd)).split('\n');
}

interface Use {
  file: FileAnalysis;
  fn: Entity;
  facts: FunctionFacts;
  node: Node; // the field_expression
  how: 'read' | 'write' | 'address' | 'size';
}

/** The expression a use of an aggregate x->f stands in: x->f itself, or x->f.a[i].b for a member of it. */
function outerOf(n: Node): Node {
  let o = n;
  const member = (p: Node) => p.type === 'field_expression' && p.children.some((c) => c?.type === '.');
  while (o.parent && (member(o.parent) || (o.parent.type === 'subscript_expression' && o !== n)) && o.parent.childForFieldName('argument')?.id === o.id) o = o.parent;
  return o;
}

/**
 * How a use of x->f is used: written, its address taken, its size asked, or read. For an aggregate, a
 * member of it counts as the field (x->f.a = v writes f); for the rest only x->f itself does (x->p->a = v reads p).
 */
function accessKind(n: Node, aggregate: boolean): Use['how'] {
  const o = aggregate ? outerOf(n) : n;
  let p = o.parent;
  while (p?.type === 'parenthesized_expression') p = p.parent;
  if (p?.type === 'sizeof_expression') return 'size';
  if (p?.type === 'pointer_expression' && p.text.startsWith('&')) return 'address';
  if ((p?.type === 'assignment_expression' && p.childForFieldName('left')?.id === o.id) || p?.type === 'update_expression') return 'write';
  return 'read';
}

/** The field_expression nodes of changed functions that are this member (by the facts' resolved types). */
function usesOf(ctx: FixContext, m: Member): Use[] {
  const typed: Use[] = [];
  const unresolved: Use[] = [];
  const wanted = `${m.structType}::${m.field}`;
  // the field's owner is out of view: "x::f" with x untyped, "struct s::a.f" with the type of a unknown
  const ownerUnknown = (r: string) => r.endsWith(`::${m.field}`) ? !/^(struct|union) /.test(r) : r.endsWith(`.${m.field}`);
  for (const f of ctx.analysis.files) {
    const side = f.postSide;
    if (!side?.tree) continue;
    for (const [key, facts] of f.facts.post) {
      const fn = side.ents.byKey.get(key);
      if (!fn) continue;
      for (const n of nodesOf(fn, 'field_expression')) {
        if (n.childForFieldName('field')?.text !== m.field) continue;
        const line = imageLine(side, n);
        const access = facts.accesses.find((a) => a.site.imageLine === line && a.site.column === n.startPosition.column && (a.resource.endsWith(`::${m.field}`) || a.resource.endsWith(`.${m.field}`) || a.resource.startsWith(wanted + '[')));
        if (!access) continue;
        const exact = access.resource === wanted || access.resource.startsWith(wanted + '[');
        if (!exact && !ownerUnknown(access.resource)) continue; // another struct's field of that name
        (exact ? typed : unresolved).push({ file: f, fn, facts, node: n, how: accessKind(n, m.kind === 'aggregate') });
      }
    }
  }
  if (unresolved.length === 0) return typed;
  // uses whose object type is out of view count only when they are unambiguous: the same object
  // expression as a known use, or (with none known) one object expression for them all
  const objectText = (u: Use) => {
    const arg = u.node.childForFieldName('argument');
    return arg ? postSide(u.file).src.raw.slice(arg.startIndex, arg.endIndex).replace(/\s+/g, '') : '';
  };
  const known = new Set(typed.map(objectText));
  const others = [...new Set(unresolved.map(objectText))].filter((t) => !known.has(t));
  if (others.length > (typed.length ? 0 : 1))
    throw new FixError(`the types of ${others.map((t) => `${t}->${m.field}`).join(', ')} are out of view: it is unclear which of them is ${m.structType}::${m.field}${ctx.tree ? '' : ' (a kernel tree shows more of the code)'}; convert by hand`);
  return [...typed, ...unresolved];
}

/** GFP flags for an allocation at `line` of a function: atomic under a spinlock/RCU/irqs off, or when sleeping is not known to be allowed. */
function gfpAt(use: Use, line: number): string {
  const held = new Set<string>();
  let via = new Map<string, string>();
  for (const e of use.facts.effects) {
    if (e.site.imageLine > line) break;
    held.clear();
    for (const l of e.locksHeld) held.add(l);
    if (e.op === 'lock') {
      held.add(e.resource);
      via = new Map(via).set(e.resource, e.via);
    }
    if (e.op === 'unlock') held.delete(e.resource);
  }
  const atomic = [...held].some((l) => !/^(mutex_|down|rt_mutex)/.test(via.get(l) ?? 'spin'));
  if (atomic || /_(irq|isr|interrupt)$/.test(use.fn.name)) return 'GFP_ATOMIC';
  return use.facts.sleeps ? 'GFP_KERNEL' : 'GFP_ATOMIC';
}

interface FnSpot {
  fn: string;
  line: number;
  indent: string;
}

/**
 * Where a static can go inside the one function that holds all these uses, when the file scope is out
 * of view: after the last declaration of its body the hunks show before the first use (undefined
 * when the uses span functions or no such declaration is shown).
 */
function functionScopeSpot(file: FileAnalysis, m: Member, uses: Use[]): FnSpot | undefined {
  if (uses.length === 0 || uses.some((u) => u.fn !== uses[0].fn)) return undefined;
  try {
    definitionsSpot(file, m, [uses[0].fn]);
    return undefined; // the file scope is in view: use it
  } catch {
    // out of view: look inside the function
  }
  const side = postSide(file);
  const body = uses[0].fn.node.childForFieldName('body');
  const first = Math.min(...uses.map((u) => imageLine(side, u.node)));
  const decls = (body?.children ?? []).filter((c): c is Node => c?.type === 'declaration').filter((d) => {
    const at = imageLine(side, d);
    return at >= 0 && at < first && file.post.lines[at] !== undefined;
  });
  const last = decls[decls.length - 1];
  if (!last) return undefined;
  const line = side.src.toImage[last.endPosition.row] ?? -1;
  if (line < 0) return undefined;
  return { fn: uses[0].fn.name, line, indent: /^\s*/.exec(file.post.lines[line] ?? '')![0] };
}

/** Insert block-scope lines after a declaration inside a function. */
function insertInFunction(ed: PostEditor, at: FnSpot, lines: string[]): void {
  ed.insertAfter(at.line, lines.map((l) => at.indent + l));
}

/** The `*_init(&x->f)` call a use of a lock field is the argument of: a statement the global-lock fix drops. */
function lockInitCall(m: Member, u: Use): Node | undefined {
  const call = u.node.parent?.parent?.parent;
  return u.how === 'address' && call?.type === 'call_expression' && m.lockInits!.test(call.childForFieldName('function')?.text ?? '') ? call : undefined;
}

/**
 * The uses of a lock field: `*_init(&x->f);` statements go (the replacement is initialised
 * elsewhere), or call `oldInit` instead when the old lock stays; every `&x->f` becomes
 * `replacement(x)`; anything else is refused.
 */
function rewriteLockUses(m: Member, uses: Use[], editor: (f: FileAnalysis) => PostEditor, replacement: (obj: string) => string, oldInit?: string): void {
  for (const u of uses) {
    const side = postSide(u.file);
    const ed = editor(u.file);
    if (u.how !== 'address') throw new FixError(`${u.fn.name}() uses the lock ${m.field} without taking its address; convert it by hand`);
    const call = lockInitCall(m, u);
    if (call && oldInit) {
      // the old lock stays in the struct: objects created after the patch still initialise it
      const fnNode = call.childForFieldName('function')!;
      ed.replace(imageLine(side, fnNode), fnNode.startPosition.column, fnNode.endPosition.column - fnNode.startPosition.column, oldInit);
      continue;
    }
    if (call) {
      const callee = call.childForFieldName('function')?.text ?? '';
      const stmt = statementOf(call);
      if (!stmt) throw new FixError(`${callee}(&…->${m.field}) in ${u.fn.name}() is not a statement of its own`);
      const first = imageLine(side, stmt);
      const last = side.src.toImage[stmt.endPosition.row] ?? -1;
      for (let i = first; i <= last; i++) ed.remove(i);
      continue;
    }
    const amp = u.node.parent!;
    ed.replace(imageLine(side, amp), amp.startPosition.column, amp.endPosition.column - amp.startPosition.column, replacement(objectOf(side, u.node)));
  }
}

interface Span {
  from: number;
  to: number;
  text: string;
}

/** The sizeof expression around a use of x->f (parentheses included). */
function sizeofOf(n: Node): Node {
  let p = n.parent;
  while (p && p.type !== 'sizeof_expression') p = p.parent;
  if (!p) throw new FixError(`no sizeof around ${n.text}`);
  return p;
}

/** sizeof(x->f) → sizeof(T). */
function sizeSpan(n: Node, T: string): Span {
  const p = sizeofOf(n);
  return { from: p.startIndex, to: p.endIndex, text: `sizeof(${T})` };
}

/** A statement's text with spans of it replaced. */
function spliced(raw: string, stmt: Node, spans: Span[]): string {
  let text = raw.slice(stmt.startIndex, stmt.endIndex);
  for (const sp of [...spans].sort((a, b) => b.from - a.from)) text = text.slice(0, sp.from - stmt.startIndex) + sp.text + text.slice(sp.to - stmt.startIndex);
  return text;
}

/** The statement of a block (a child of a `{ }`) that contains a node: where a line can go before it. */
function blockStatementOf(n: Node): Node {
  let s: Node = n;
  while (s.parent && s.parent.type !== 'compound_statement' && s.parent.type !== 'translation_unit') s = s.parent;
  return s;
}

export const shadowFieldFix = {
  id: 'shadow-field',
  codes: ['KLP101'],
  preview: true,
  title(_ctx, finding) {
    const d = finding.data as { struct?: string; member?: string; change?: string; decl?: string; old?: string } | undefined;
    if (!d?.member) return undefined;
    const lock = LOCK_DECL.test((d.decl ?? '').trim());
    if (d.change === 'retyped' && lock && LOCK_DECL.test((d.old ?? '').trim())) return `Keep ${d.struct}'s layout: keep ${d.member} as it was (${(d.old ?? '').replace(/\s*\$.*/, '')}) and take one global ${(d.decl ?? '').replace(/\s*\$.*/, '')} in its place`;
    if (d.change !== 'added') return undefined;
    return lock ? `Keep ${d.struct}'s layout: replace the lock ${d.member} by one global lock` : `Keep ${d.struct}'s layout: hold ${d.member} in a shadow variable`;
  },
  plan(ctx, finding) {
    const f = fileOf(ctx, finding);
    const structEntity = postEntity(f, finding);
    const data = finding.data as { member: string; change?: string; old?: string };
    const field = data.member;
    const m = memberOf(f, structEntity, field);
    // a lock retyped (mutex → spinlock): the old declaration stays, the new lock is a global one
    const retyped = data.change === 'retyped';
    if (retyped) {
      if (m.kind !== 'lock') throw new FixError(`${field} changes type; only a lock replaced by another kind of lock is converted`);
      m.replacement = oldDeclaration(f, structEntity, field);
    }
    const uses = usesOf(ctx, m);
    const editors = new Editors();
    const editor = (file: FileAnalysis) => editors.get(file);
    // the struct keeps its layout
    for (const l of m.lines) editor(f).remove(l);
    if (m.replacement) editor(f).insertBefore(m.lines[0], m.replacement);
    const notes: string[] = [];
    if (m.typeOutOfView) notes.push(`The type of ${m.field}'s declaration is before the hunk: the shadow holds the bitfield as unsigned int; a kernel tree shows the declared type.`);
    const base = ident(`${m.tag}_${m.field}`);
    const id = `KLP_SHADOW_${base.toUpperCase()}`;
    const patchName = ctx.analysis.set.patches[0]?.header ? ctx.analysis.set.lines.find((l) => /^Subject:/i.test(l)) ?? '' : f.path;
    const idValue = `0x${fnv1a(`${patchName}\0${m.structType}::${m.field}`).toString(16).padStart(8, '0')}UL`;
    const useFiles = [...new Set(uses.map((u) => u.file))];
    // the functions that use the field, per file: their heads are file scope the patch may show
    const nearOf = (file: FileAnalysis) => uses.filter((u) => u.file === file).map((u) => u.fn);
    if (uses.length === 0) {
      notes.push(`No changed code uses ${m.structType}::${m.field}: the field is simply left out, nothing else changes.`);
      return { files: editors.files(), notes };
    }

    if (m.kind === 'lock') {
      const lockName = `klp_${base}_lock`;
      const oldInit = retyped ? LOCKS[(data.old ?? '').replace(/\s*\$.*/, '').trim()]?.init : undefined;
      rewriteLockUses(m, uses, editor, () => `&${lockName}`, oldInit);
      if (oldInit) notes.push(`The old ${m.field} stays in ${m.structType} with its ${oldInit}() where the patch initialised the new one: code the livepatch does not replace may still take it.`);
      // the lock is defined in the first file that takes it (a file that only initialised it needs
      // nothing); with several files it is global (the livepatch links them into one module) and
      // declared extern in the others
      const takers = useFiles.filter((file) => uses.some((u) => u.file === file && !lockInitCall(m, u)));
      const home = takers[0] ?? f;
      const shared = takers.length > 1;
      const what = retyped ? `the new lock of ${m.structType}::${m.field}, which the patch would have retyped (the struct keeps its layout and the old ${m.field})` : `${m.structType}::${m.field}, which the patch would have added (the struct keeps its layout)`;
      const def = [`/* Livepatch: one global lock stands for ${what}. */`, `${shared ? '' : 'static '}${m.lockDefine}(${lockName});`];
      const inFn = shared ? undefined : functionScopeSpot(home, m, uses.filter((u) => u.file === home && !lockInitCall(m, u)));
      if (inFn) {
        insertInFunction(editor(home), inFn, def);
        notes.push(`${home.path}: its file scope is not in the patch, and every use of the lock is in ${inFn.fn}(), so the lock is a static at the top of ${inFn.fn}() (the same single lock).`);
      } else insertAt(editor(home), definitionsSpot(home, m, nearOf(home)), ['', ...def]);
      for (const other of takers.slice(1)) insertAt(editor(other), definitionsSpot(other, m, nearOf(other)), ['', `/* Livepatch: the global lock for ${m.structType}::${m.field}, defined in ${home.path} */`, `extern ${m.type} ${lockName};`]);
      notes.push(`${m.structType}::${m.field} became the global lock ${lockName}: every object shares it, so unrelated objects now exclude each other (coarser, but nothing to allocate or free, and no object without a lock). If contention matters, keep a per-object lock in a shadow variable instead.`);
      return { files: editors.files(), notes };
    }

    const T = m.type;
    const ctor = m.kind === 'list' ? `klp_${base}_ctor` : undefined;
    const used = new Map<FileAnalysis, Set<'read' | 'ptr' | 'peek'>>();
    const need = (file: FileAnalysis, what: 'read' | 'ptr' | 'peek') => {
      const s = used.get(file) ?? new Set();
      s.add(what);
      used.set(file, s);
    };
    // A file whose file scope the patch does not show (hunks only, struct defined elsewhere) gets the
    // inline form: the id defined before its first use, the shadow API written out at each use.
    const inlineFiles = new Set<FileAnalysis>();
    for (const file of useFiles) {
      try {
        definitionsSpot(file, m, nearOf(file));
      } catch {
        inlineFiles.add(file);
      }
    }
    if (inlineFiles.size && m.kind === 'list') throw new FixError(`a list head needs a constructor function at file scope, and the file scope of ${[...inlineFiles].map((x) => x.path).join(', ')} is not in the patch; a kernel tree is needed`);
    const ptrT = T.endsWith('*') ? T : T + ' ';
    const firstUse = new Map<FileAnalysis, number>();
    const handled = new Set<number>();
    // statements that write the field: reads of it inside them are rewritten with them
    const writes = new Set(uses.filter((u) => u.how === 'write' || u.how === 'address').map((u) => statementOf(u.node)?.id).filter((x) => x !== undefined));
    const inWrite = (u: Use) => u.how === 'read' && writes.has(statementOf(u.node)?.id ?? -1);
    for (const u of uses) {
      const side = postSide(u.file);
      const ed = editor(u.file);
      const line = imageLine(side, u.node);
      const obj = objectOf(side, u.node);
      const gfp = gfpAt(u, line);
      const inl = inlineFiles.has(u.file);
      if (inl) {
        const stmtStart = imageLine(side, blockStatementOf(u.node));
        firstUse.set(u.file, Math.min(firstUse.get(u.file) ?? Infinity, stmtStart >= 0 ? stmtStart : line));
      }
      if (u.how === 'size' || inWrite(u)) continue; // sizeof(x->f) after the statements; reads with their statement
      if (u.how === 'read' && m.kind === 'aggregate') {
        if (inl) throw new FixError(`reading ${m.field} (${T}) needs a helper at file scope, and the file scope of ${u.file.path} is not in the patch; a kernel tree is needed`);
        need(u.file, 'peek');
        ed.replace(line, u.node.startPosition.column, u.node.endPosition.column - u.node.startPosition.column, `(*klp_${base}_peek(${obj}))`);
        continue;
      }
      if (u.how === 'read') {
        if (m.kind !== 'scalar') throw new FixError(`${u.fn.name}() reads ${m.field} (${T}) by value; convert it by hand`);
        need(u.file, 'read');
        ed.replace(line, u.node.startPosition.column, u.node.endPosition.column - u.node.startPosition.column, inl ? `({ ${ptrT}*klp_sv = klp_shadow_get(${obj}, ${id}); klp_sv ? *klp_sv : 0; })` : `klp_${base}_read(${obj})`);
        continue;
      }
      if (u.how === 'address' && m.kind === 'scalar') throw new FixError(`${u.fn.name}() takes the address of ${m.field}; convert it by hand`);
      // pure readers of counters and lists: a pointer that is never NULL (an empty stand-in for old objects)
      const amp = u.how === 'address' ? u.node.parent! : u.node;
      const call = amp.parent?.type === 'argument_list' ? amp.parent.parent : undefined;
      const callee = call?.type === 'call_expression' ? call.childForFieldName('function')?.text ?? '' : '';
      if (u.how === 'address' && PURE_READERS.test(callee)) {
        need(u.file, 'peek');
        if (inl) {
          // the whole read, with what an object without a shadow shows: 0, or an empty list
          const c = call!;
          const cLine = imageLine(side, c);
          if (cLine !== side.src.toImage[c.endPosition.row]) throw new FixError(`${callee}(&…->${m.field}) in ${u.fn.name}() spans lines; convert it by hand`);
          const none = /^list_empty/.test(callee) ? 'true' : '0';
          ed.replace(cLine, c.startPosition.column, c.endPosition.column - c.startPosition.column, `({ ${T} *klp_sv = klp_shadow_get(${obj}, ${id}); klp_sv ? ${callee}(klp_sv) : ${none}; })`);
        } else ed.replace(imageLine(side, amp), amp.startPosition.column, amp.endPosition.column - amp.startPosition.column, `klp_${base}_peek(${obj})`);
        continue;
      }
      const stmt = statementOf(u.how === 'address' ? call ?? amp : u.node.parent!);
      if (!stmt) throw new FixError(`${u.fn.name}() ${u.how === 'write' ? 'writes' : 'uses'} ${m.field} inside an expression; split it into a statement of its own first`);
      if (handled.has(stmt.id)) throw new FixError(`${u.fn.name}() uses ${m.field} twice in one statement; convert it by hand`);
      handled.add(stmt.id);
      need(u.file, 'ptr');
      const sv = `klp_${m.field}`;
      const spans: Span[] = [{ from: amp.startIndex, to: amp.endIndex, text: u.how === 'address' ? sv : `(*${sv})` }];
      for (const z of uses) {
        if (z.file !== u.file || z === u || statementOf(z.node)?.id !== stmt.id) continue;
        if (z.how === 'size') spans.push(sizeSpan(z.node, T));
        else if (inWrite(z)) spans.push({ from: z.node.startIndex, to: z.node.endIndex, text: `(*${sv})` });
      }
      const replaced = spliced(side.src.raw, stmt, spans);
      const decl = inl ? `${ptrT}*${sv} = klp_shadow_get_or_alloc(${obj}, ${id}, sizeof(${T}), ${gfp}, NULL, NULL);` : `${ptrT}*${sv} = klp_${base}(${obj}, ${gfp});`;
      replaceStatement(
        ed,
        side,
        stmt,
        (indent) => [`${indent}{`, `${indent}\t${decl}`, '', `${indent}\tif (${sv})`, `${indent}\t\t${replaced.replace(/\n\s*/g, ' ')}`, `${indent}}`],
        `{ ${decl} if (${sv}) ${replaced.replace(/\n\s*/g, ' ')} }`,
      );
    }

    // sizeof(x->f) outside the rewritten statements
    for (const z of uses) {
      if (z.how !== 'size') continue;
      const stmt = statementOf(z.node);
      if (stmt && handled.has(stmt.id)) continue;
      const so = sizeofOf(z.node);
      if (so.startPosition.row !== so.endPosition.row) throw new FixError(`sizeof(…->${m.field}) in ${z.fn.name}() spans lines; convert it by hand`);
      editor(z.file).replace(imageLine(postSide(z.file), so), so.startPosition.column, so.endPosition.column - so.startPosition.column, `sizeof(${T})`);
    }

    // klp_shadow_free where the patched files free the object
    const skippedInit: string[] = [];
    const freed = freeSites(ctx, m, id, editor, skippedInit);
    if (skippedInit.length) notes.push(`Not patched to free the shadow: ${skippedInit.map((n) => n + '()').join(', ')} (init or exit code cannot be livepatched); klp_shadow_free_all() on unpatch releases what remains.`);
    else if (freed === 0) notes.push(`No place in the patched files frees ${m.structType}: add klp_shadow_free(obj, ${id}, NULL) where it is freed, or the shadow data stays until the patch is removed.`);

    // inline files: the id before the first use; what needs file scope is left to the author
    for (const [file, line] of firstUse) {
      const prev = line > 0 ? file.post.lines[line - 1] : undefined;
      if (prev !== undefined && /\\\s*$/.test(prev)) throw new FixError(`the first use of ${m.field} in ${file.path} continues a macro; convert it by hand`);
      editor(file).insertBefore(line, [`#define ${id}\t${idValue}\t/* Livepatch: shadow variable id for ${m.structType}::${m.field}; unique among livepatches */`]);
      notes.push(`${file.path}: its file scope is not in the patch, so the shadow API is written out at each use. Add #include <linux/livepatch.h>, and a post-unpatch callback that calls klp_shadow_free_all(${id}, NULL) (a kernel tree lets the fix do both).`);
    }

    // definitions in every file that uses the field
    let callbackDone = false;
    const defsFiles = (used.size ? [...used.keys()] : [f]).filter((file) => !inlineFiles.has(file));
    for (const file of defsFiles) {
      const what = used.get(file) ?? new Set();
      const helpers: string[] = [];
      if (ctor) helpers.push('', `static int ${ctor}(void *obj, void *shadow_data, void *ctor_data)`, '{', `\tINIT_LIST_HEAD((struct list_head *)shadow_data);`, '\treturn 0;', '}');
      if (what.has('ptr') || what.has('peek'))
        helpers.push('', `static ${T.endsWith('*') ? T : T + ' '}*klp_${base}(${m.structType} *obj, gfp_t gfp)`, '{', `\treturn klp_shadow_get_or_alloc(obj, ${id}, sizeof(${T}),`, `\t\t\t\t       gfp, ${ctor ?? 'NULL'}, NULL);`, '}');
      if (what.has('read')) helpers.push('', `static ${T} klp_${base}_read(${m.structType} *obj)`, '{', `\t${T.endsWith('*') ? T : T + ' '}*sv = klp_shadow_get(obj, ${id});`, '', `\treturn sv ? *sv : 0;`, '}');
      if (what.has('peek')) {
        const none = m.kind === 'list' ? `static struct list_head klp_${base}_none = LIST_HEAD_INIT(klp_${base}_none);` : `static ${T} klp_${base}_none;`;
        const shows = m.kind === 'list' ? 'an empty list' : m.kind === 'aggregate' ? `a zeroed ${T}` : 'an empty counter';
        const c = m.kind === 'aggregate' ? 'const ' : '';
        helpers.push('', `/* what objects without a shadow show to readers: ${shows} (never written) */`, none, '', `static ${c}${T} *klp_${base}_peek(${c}${m.structType} *obj)`, '{', `\t${c}${T} *sv = klp_shadow_get(${c ? '(void *)' : ''}obj, ${id});`, '', `\treturn sv ? sv : &klp_${base}_none;`, '}');
      }
      placeDefinitions(ctx, editor(file), m, {
        id,
        idValue,
        comment: `Livepatch: ${m.structType}::${m.field} (${T}) lives in a shadow variable, so the struct keeps its layout. Objects created before the patch have no shadow until first written${m.kind === 'scalar' ? ' and read as 0' : ''}. ${id} must be unique among all livepatches loaded together.`,
        helpers,
        callback: callbackDone ? undefined : `klp_${base}_post_unpatch`,
        near: nearOf(file),
      }, notes);
      callbackDone = true;
    }
    notes.unshift(`${m.structType}::${m.field} moved into shadow variable ${id} (${uses.length} use${uses.length === 1 ? '' : 's'} rewritten, ${freed} free site${freed === 1 ? '' : 's'}); objects created before the patch read it as ${m.kind === 'scalar' ? '0' : m.kind === 'aggregate' ? 'zeroed' : 'empty'} until they are written.`);
    if (m.kind === 'aggregate') notes.push(`The shadow ${T} starts zeroed (klp_shadow_get_or_alloc allocates it zeroed): if ${T} needs an initialiser, give klp_${base}() a constructor.`);
    return { files: editors.files(), notes };
  },
} satisfies Fix;


/**
 * KLP101 for a lock field, the other way: a lock per object in a shadow
 * variable. Objects allocated by the patched files get their lock there
 * (klp_shadow_alloc with a constructor that initialises it); every lock site
 * takes the object's shadow lock, or, for objects without one (created before
 * the patch, or whose allocation failed), a shared fallback lock. Whether an
 * object has a shadow is decided once, at creation, so its lock and unlock
 * sites always agree. Finer than one global lock, at the cost of an
 * allocation per object and a hash lookup per lock.
 */
export const shadowLockFix = {
  id: 'shadow-lock',
  codes: ['KLP101'],
  preview: true,
  title(_ctx, finding) {
    const d = finding.data as { struct?: string; member?: string; change?: string; decl?: string } | undefined;
    if (d?.change !== 'added' || !d.member || !LOCK_DECL.test((d.decl ?? '').trim())) return undefined;
    return `Keep ${d.struct}'s layout: give each new object its own ${d.member} in a shadow variable (older objects share a fallback lock)`;
  },
  plan(ctx, finding) {
    const f = fileOf(ctx, finding);
    const field = (finding.data as { member: string }).member;
    const m = memberOf(f, postEntity(f, finding), field);
    if (m.kind !== 'lock') throw new FixError(`${field} is not a lock`);
    const uses = usesOf(ctx, m);
    const allocs = allocationSites(ctx, m).filter((a) => !a.init);
    if (allocs.length === 0) throw new FixError(`no place in the patched files allocates ${m.structType} outside init code: objects could not get their own lock; use the one-global-lock fix${ctx.tree ? '' : ', or a kernel tree that shows the allocation'}`);
    const editors = new Editors();
    const editor = (file: FileAnalysis) => editors.get(file);
    for (const l of m.lines) editor(f).remove(l);
    if (m.replacement) editor(f).insertBefore(m.lines[0], m.replacement);
    const base = ident(`${m.tag}_${m.field}`);
    const id = `KLP_SHADOW_${base.toUpperCase()}`;
    const subject = ctx.analysis.set.lines.find((l) => /^Subject:/i.test(l)) ?? f.path;
    const idValue = `0x${fnv1a(`${subject}\0${m.structType}::${m.field}`).toString(16).padStart(8, '0')}UL`;
    const T = m.type;
    const lockOf = `klp_${base}`;
    const fallback = `klp_${base}_fallback`;
    const ctor = `klp_${base}_ctor`;
    rewriteLockUses(m, uses, editor, (obj) => `${lockOf}(${obj})`);
    for (const a of allocs) editor(a.file).insertAfter(a.after, [`${a.indent}if (${a.obj})`, `${a.indent}\tklp_shadow_alloc(${a.obj}, ${id}, sizeof(${T}), ${a.gfp}, ${ctor}, NULL);`]);
    const skippedFree: string[] = [];
    const freed = freeSites(ctx, m, id, editor, skippedFree);
    const files = [...new Set([...uses.map((u) => u.file), ...allocs.map((a) => a.file)])];
    const near = (file: FileAnalysis) => uses.filter((u) => u.file === file).map((u) => u.fn);
    const notes: string[] = [];
    files.forEach((file, k) => {
      const shared = files.length > 1;
      placeDefinitions(
        ctx,
        editor(file),
        m,
        {
          id,
          idValue,
          comment: `Livepatch: each ${m.structType} allocated after the patch has its own ${m.field} (${T}) in a shadow variable; older objects share ${fallback}. ${id} must be unique among all livepatches loaded together.`,
          helpers: [
            '',
            k === 0 ? `${shared ? '' : 'static '}${m.lockDefine}(${fallback});` : `extern ${T} ${fallback};`,
            '',
            `static int ${ctor}(void *obj, void *shadow_data, void *ctor_data)`,
            '{',
            `\t${m.lockInit}((${T} *)shadow_data);`,
            '\treturn 0;',
            '}',
            '',
            `static ${T} *${lockOf}(${m.structType} *obj)`,
            '{',
            `\t${T} *lock = klp_shadow_get(obj, ${id});`,
            '',
            `\treturn lock ? lock : &${fallback};`,
            '}',
          ],
          callback: k === 0 ? `klp_${base}_post_unpatch` : undefined,
          near: near(file),
        },
        notes,
      );
    });
    notes.unshift(`${m.structType}::${m.field} is a lock per object in shadow variable ${id}: ${allocs.length} allocation site${allocs.length === 1 ? '' : 's'} create it, ${uses.length} use${uses.length === 1 ? '' : 's'} take it (or ${fallback} for objects without one), ${freed} free site${freed === 1 ? '' : 's'} drop it.`);
    if (skippedFree.length) notes.push(`Not patched to free the shadow: ${skippedFree.map((n) => n + '()').join(', ')} (init or exit code); klp_shadow_free_all() on unpatch releases what remains.`);
    return { files: editors.files(), notes };
  },
} satisfies Fix;
