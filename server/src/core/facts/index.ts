/**
 * Facts of one patched file: for every changed function (both sides) its
 * FunctionFacts, the unchanged functions of the file that touch the same
 * fields (the other sites of a protocol the patch changes), and file-scope
 * facts the rules need about code the patch does not change (exports,
 * initcalls, driver probe functions, callback tables, __LINE__ users, callers
 * of changed inline helpers). Collected while the trees are alive, kept as
 * plain data.
 */
import type { Side, EntityChange } from '../entities/diff';
import type { Entity } from '../entities/extract';
import { functionFacts, structTypesOf, type FunctionFacts, type StructTypes } from './extract';
import { LINE_USERS } from './ops';
import { createHash } from 'node:crypto';

/** FunctionFacts kept between analyses (FileResultCache provides one), by factsKey(). */
export interface FactsMemo {
  get(key: string): FunctionFacts | undefined;
  set(key: string, facts: FunctionFacts): void;
}

/**
 * What a function's facts depend on: its text on this side, where each of its
 * rows lands in the image and the patch document (every Site comes from
 * that), the file's function names and struct member types (`context`).
 */
function factsKey(side: Side, e: Entity, context: string): string {
  const h = createHash('sha1');
  h.update(`${e.kind}\0${e.key}\0${context}`);
  for (const n of [e.node, ...(e.extra ?? []).map((x) => x.node)]) {
    h.update(`\0${n.startPosition.column}\0`);
    h.update(side.src.text.slice(n.startIndex, n.endIndex));
    const rows: string[] = [];
    for (let r = n.startPosition.row; r <= n.endPosition.row; r++) {
      const img = side.src.toImage[r] ?? -1;
      rows.push(img < 0 ? '-' : `${img}:${side.image.docLine[img]}:${side.image.changed[img]}`);
    }
    h.update(rows.join(','));
  }
  return h.digest('base64');
}

function contextKey(fns: ReadonlySet<string>, types: StructTypes): string {
  const h = createHash('sha1');
  h.update([...fns].sort().join(','));
  for (const [t, fields] of [...types].sort((a, b) => (a[0] < b[0] ? -1 : 1))) h.update(`\0${t}{${[...fields].map(([f, ft]) => `${f}:${ft}`).join(';')}}`);
  return h.digest('base64');
}

export interface ScopeFacts {
  /** Symbols exported in this file (after the patch, else before): name → EXPORT_SYMBOL flavour. */
  exports: Map<string, string>;
  /** Namespaces of EXPORT_SYMBOL_NS* exports in this file: name → namespace. */
  exportNamespaces: Map<string, string>;
  /** File-scope macro invocations: module_init(f), __setup("x", f), KLP_PRE_PATCH_CALLBACK(f)... */
  invocations: { macro: string; args: string[] }[];
  /** Functions set as .probe of a driver structure. */
  probeFns: Set<string>;
  /** Functions set as callbacks of a klp_callbacks structure: field → function. */
  callbackFields: { field: string; fn: string }[];
  /** Functions (post-image) whose body uses a macro that embeds __LINE__, with their first post-image line. */
  lineUsers: { name: string; line: number; changed: boolean }[];
  /**
   * For changed inline functions, changed static functions and function-like
   * macros of the file: the other functions of the file that call them, and,
   * for callers that are static themselves, their callers in turn (a static
   * the compiler inlined lives on in its callers' code).
   */
  callersInFile: Map<string, string[]>;
  /** Names of the file's functions and data (post image): the neighbours that identify it in a symbol table. */
  definedNames: Set<string>;
  /** Static functions defined in the file (post image). */
  staticFns: Set<string>;
  /** Static keys defined in the file (DEFINE_STATIC_KEY_*). */
  staticKeys: Set<string>;
  /** Functions of the file declared inline (`inline`, `__always_inline`). */
  inlineFns: Set<string>;
}

export interface FileFacts {
  /** Changed functions, by entity key. */
  pre: Map<string, FunctionFacts>;
  post: Map<string, FunctionFacts>;
  /** Unchanged functions (post side) that touch a field a changed function touches. */
  context: Map<string, FunctionFacts>;
  scope: ScopeFacts;
}

const CODE = new Set(['function', 'syscall', 'fragment']);

function emptyScope(): ScopeFacts {
  return { exports: new Map(), exportNamespaces: new Map(), invocations: [], probeFns: new Set(), callbackFields: [], lineUsers: [], callersInFile: new Map(), definedNames: new Set(), staticFns: new Set(), staticKeys: new Set(), inlineFns: new Set() };
}

export function emptyFacts(): FileFacts {
  return { pre: new Map(), post: new Map(), context: new Map(), scope: emptyScope() };
}

function functionNames(side: Side | undefined): Set<string> {
  return new Set((side?.ents.entities ?? []).filter((e) => e.kind === 'function').map((e) => e.name));
}

function textOf(side: Side, e: Entity): string {
  return side.src.text.slice(e.node.startIndex, e.node.endIndex);
}

function collectScope(entities: EntityChange[], pre: Side | undefined, post: Side | undefined): ScopeFacts {
  const scope = emptyScope();
  const side = post ?? pre;
  if (!side) return scope;
  const lineUser = new RegExp(`\\b(${LINE_USERS.source.replace(/^\^\(|\)\$$/g, '')}|__LINE__)\\s*[(;]`);
  const changedNames = new Set(entities.filter((e) => e.change !== 'removed').map((e) => e.name));
  for (const e of side.ents.entities) {
    if (e.kind === 'export') {
      scope.exports.set(e.name, e.definedBy ?? 'EXPORT_SYMBOL');
      if (/_NS/.test(e.definedBy ?? '') && e.args?.[1]) scope.exportNamespaces.set(e.name, e.args[1].replace(/"/g, ''));
    }
    else if (e.kind === 'invocation') scope.invocations.push({ macro: e.definedBy ?? '', args: e.args ?? [] });
    else if (e.kind === 'function') {
      scope.definedNames.add(e.name);
      if (e.storage.includes('static')) scope.staticFns.add(e.name);
      if (e.storage.includes('inline') || e.annotations.some((a) => a.name === '__always_inline')) scope.inlineFns.add(e.name);
    } else if (e.kind === 'variable') {
      scope.definedNames.add(e.name);
      if (/STATIC_KEY/.test(e.definedBy ?? '')) scope.staticKeys.add(e.name);
    }
    if (side === post && CODE.has(e.kind) && lineUser.test(textOf(side, e))) {
      const img = side.src.toImage[e.startRow] ?? -1;
      scope.lineUsers.push({ name: e.name, line: img, changed: changedNames.has(e.name) });
    }
  }
  // driver .probe and klp_callbacks fields anywhere in the file's text
  for (const m of side.src.text.matchAll(/\.probe\s*=\s*&?([A-Za-z_]\w*)/g)) scope.probeFns.add(m[1]);
  for (const m of side.src.text.matchAll(/\.(pre_patch|post_patch|pre_unpatch|post_unpatch)\s*=\s*&?([A-Za-z_]\w*)/g)) scope.callbackFields.push({ field: m[1], fn: m[2] });
  // callers, in this file, of changed inline and static functions and function-like macros
  const names = entities
    .filter((e) => e.change === 'changed' && ((e.kind === 'function' && (e.new?.entity.storage.some((x) => x === 'inline' || x === 'static') || e.new?.annotations.includes('__always_inline'))) || (e.kind === 'macro' && /#define\s+\w+\(/.test(e.new?.text ?? ''))))
    .map((e) => e.name);
  if (post && names.length) collectCallers(post, names, scope);
  return scope;
}

const CALLER_DEPTH = 4;

/** Fill scope.callersInFile for `names`, then for the static callers among them, a few levels up. */
function collectCallers(post: Side, names: string[], scope: ScopeFacts): void {
  const code = post.ents.entities.filter((e) => CODE.has(e.kind)).map((e) => ({ e, text: textOf(post, e) }));
  let round = names;
  for (let depth = 0; depth < CALLER_DEPTH && round.length; depth++) {
    const call = new RegExp(`\\b(${round.map((n) => n.replace(/\W/g, '')).join('|')})\\s*\\(`, 'g');
    const next = new Set<string>();
    for (const { e, text } of code) {
      for (const m of text.matchAll(call)) {
        if (m[1] === e.name) continue;
        const l = scope.callersInFile.get(m[1]) ?? [];
        if (!l.includes(e.name)) l.push(e.name);
        scope.callersInFile.set(m[1], l);
        if (e.kind === 'function' && e.storage.includes('static') && !scope.callersInFile.has(e.name)) next.add(e.name);
      }
    }
    round = [...next];
  }
}

/**
 * Resources whose use changes in a changed function: the multiset of what the
 * function does to them (operation, amount, API, read or write) differs
 * between its old and new version. A function that is added or removed, or
 * whose locking changes, changes every resource it touches. Only these can
 * make a protocol with unchanged functions inconsistent, so only they are
 * looked up in the rest of the file.
 */
function changedResources(facts: FileFacts): Set<string> {
  const out = new Set<string>();
  const uses = (f: FunctionFacts) => {
    const m = new Map<string, string[]>();
    const add = (r: string, sig: string) => {
      const l = m.get(r);
      if (l) l.push(sig);
      else m.set(r, [sig]);
    };
    for (const e of f.effects) add(e.resource, `${e.op}|${e.amount}|${e.via}`);
    for (const a of f.accesses) add(a.resource, a.write ? 'w' : 'r');
    return m;
  };
  const lockSig = (f: FunctionFacts) =>
    f.effects
      .filter((e) => e.op === 'lock' || e.op === 'unlock')
      .map((e) => `${e.resource}|${e.op}|${e.via}`)
      .join('\0');
  for (const key of new Set([...facts.pre.keys(), ...facts.post.keys()])) {
    const a = facts.pre.get(key);
    const b = facts.post.get(key);
    if (!a || !b || lockSig(a) !== lockSig(b)) {
      for (const f of [a, b]) if (f) for (const x of [...f.effects, ...f.accesses]) out.add(x.resource);
      continue;
    }
    const ua = uses(a);
    const ub = uses(b);
    for (const r of new Set([...ua.keys(), ...ub.keys()])) {
      const x = (ua.get(r) ?? []).sort().join('\0');
      const y = (ub.get(r) ?? []).sort().join('\0');
      if (x !== y) out.add(r);
    }
  }
  return out;
}

export function collectFileFacts(entities: EntityChange[], pre: Side | undefined, post: Side | undefined, shared?: StructTypes, memo?: FactsMemo): FileFacts {
  const facts = emptyFacts();
  facts.scope = collectScope(entities, pre, post);
  const changed = entities.filter((e) => CODE.has(e.kind));
  if (changed.length === 0) return facts;
  const fnPre = functionNames(pre);
  const fnPost = functionNames(post);
  const typesPre: StructTypes = pre ? structTypesOf(pre, new Map(shared ?? [])) : new Map(shared ?? []);
  const typesPost: StructTypes = post ? structTypesOf(post, new Map(shared ?? [])) : new Map(shared ?? []);
  // facts of a function whose text and position did not change come from the memo
  const ctxPre = memo && pre ? contextKey(fnPre, typesPre) : '';
  const ctxPost = memo && post ? contextKey(fnPost, typesPost) : '';
  const factsOf = (side: Side, e: Entity, fns: ReadonlySet<string>, types: StructTypes, ctx: string): FunctionFacts => {
    if (!memo) return functionFacts(side, e, fns, types);
    const key = factsKey(side, e, ctx);
    let f = memo.get(key);
    if (!f) memo.set(key, (f = functionFacts(side, e, fns, types)));
    return f;
  };
  for (const e of changed) {
    const a = pre?.ents.byKey.get(e.key);
    const b = post?.ents.byKey.get(e.key);
    if (a && pre && CODE.has(a.kind)) facts.pre.set(e.key, factsOf(pre, a, fnPre, typesPre, ctxPre));
    if (b && post && CODE.has(b.kind)) facts.post.set(e.key, factsOf(post, b, fnPost, typesPost, ctxPost));
  }
  // Fields the changed code touches: find the other functions of the file that touch them.
  if (post) {
    // needles from the resources whose use changes: field names (->f, .f), reference-count API
    // stems (foo_get/put_foo), global counters
    const fields = new Set<string>();
    const stems = new Set<string>();
    const globals = new Set<string>();
    for (const resource of changedResources(facts)) {
      const m = /::(?:.*\.)?([A-Za-z_]\w*)(\[\])?$/.exec(resource);
      if (m && m[1].length > 2) fields.add(m[1]);
      else if (resource.startsWith('api:')) stems.add(resource.slice(4));
      else if (/^[A-Za-z_]\w{3,}$/.test(resource)) globals.add(resource);
    }
    const alts: string[] = [];
    if (fields.size) alts.push(`(->|\\.)\\s*(${[...fields].join('|')})\\b`);
    if (stems.size) alts.push(`\\b((${[...stems].join('|')})_(get|put|hold|release|grab|drop|ref|unref)|(get|put|grab|drop|hold|release)_(${[...stems].join('|')}))\\s*\\(`);
    if (globals.size) alts.push(`\\b(${[...globals].join('|')})\\b`);
    if (alts.length > 0) {
      const pattern = new RegExp(alts.join('|'));
      for (const e of post.ents.entities) {
        if (!CODE.has(e.kind) || facts.post.has(e.key)) continue;
        if (!pattern.test(textOf(post, e))) continue;
        facts.context.set(e.key, factsOf(post, e, fnPost, typesPost, ctxPost));
      }
    }
  }
  return facts;
}
