/**
 * Declarations a livepatch unit writes for code it does not copy: an `extern`
 * prototype for a function of the target, an `extern` declaration for its
 * data. Everything the unit copies keeps its text as it is (storage class,
 * qualifiers, sections); only these derived declarations are built here, and
 * only the head of a replaced function loses its `static`.
 */
import type { Side } from '../entities/diff';
import type { Entity } from '../entities/extract';
import type { Node } from '../syntax/parser';

export function rawOf(side: Side, n: Node): string {
  return side.src.raw.slice(n.startIndex, n.endIndex);
}

/** Identifier nodes under a node. */
export function identifiers(n: Node): Node[] {
  return n.descendantsOfType('identifier').filter((x): x is Node => x !== null);
}

/** The text of `n` with some identifiers renamed (by position). */
export function renamed(side: Side, n: Node, names: ReadonlyMap<string, string>, text = rawOf(side, n), base = n.startIndex): string {
  const edits = identifiers(n)
    .filter((id) => names.has(id.text))
    .map((id) => ({ at: id.startIndex - base, len: id.endIndex - id.startIndex, to: names.get(id.text)! }))
    .sort((a, b) => b.at - a.at);
  let out = text;
  for (const e of edits) out = out.slice(0, e.at) + e.to + out.slice(e.at + e.len);
  return out;
}

/** Words a prototype of the target's function must not carry (storage, inlining, init sections). */
const HEAD_WORDS = /\b(static|extern|inline|__always_inline|noinline|__noinline|__init|__exit|__ref|__cold|__maybe_unused|notrace|__visible|__weak|__used)\b\s*/g;

/** `extern <head>;` for a function (definition or prototype), optionally bound to a placeholder symbol. */
export function externPrototype(side: Side, n: Node, asmName?: string): string {
  const body = n.childForFieldName('body');
  let head = side.src.raw.slice(n.startIndex, body ? body.startIndex : n.endIndex).trim().replace(/;$/, '');
  head = head.replace(HEAD_WORDS, '').replace(/\s+/g, ' ').trim();
  return `extern ${head}${asmName ? ` __asm__("${asmName}")` : ''};`;
}

/**
 * A replaced function's definition: the head loses `static`, `inline` and init
 * sections (the module's copy is a global function the klp tables name); the
 * body is kept word for word, so static locals stay static.
 */
export function replacementText(fn: Node, text: string): string {
  const decl = fn.childForFieldName('declarator');
  const headLen = decl ? decl.startIndex - fn.startIndex : 0;
  const head = text.slice(0, headLen).replace(/\b(static|inline|__always_inline|__init|__exit|__ref)\b\s*/g, '');
  return head + text.slice(headLen);
}

/** Variables defined through macros: their extern declaration. */
const DEFINE_MACROS: Record<string, (a: string[]) => string | undefined> = {
  DEFINE_SPINLOCK: (a) => `extern spinlock_t ${a[0]};`,
  DEFINE_RAW_SPINLOCK: (a) => `extern raw_spinlock_t ${a[0]};`,
  DEFINE_RWLOCK: (a) => `extern rwlock_t ${a[0]};`,
  DEFINE_SEQLOCK: (a) => `extern seqlock_t ${a[0]};`,
  DEFINE_MUTEX: (a) => `extern struct mutex ${a[0]};`,
  DECLARE_RWSEM: (a) => `extern struct rw_semaphore ${a[0]};`,
  DEFINE_SEMAPHORE: (a) => `extern struct semaphore ${a[0]};`,
  LIST_HEAD: (a) => `extern struct list_head ${a[0]};`,
  HLIST_HEAD: (a) => `extern struct hlist_head ${a[0]};`,
  DECLARE_WAIT_QUEUE_HEAD: (a) => `extern wait_queue_head_t ${a[0]};`,
  DECLARE_COMPLETION: (a) => `extern struct completion ${a[0]};`,
  DEFINE_IDR: (a) => `extern struct idr ${a[0]};`,
  DEFINE_IDA: (a) => `extern struct ida ${a[0]};`,
  DEFINE_XARRAY: (a) => `extern struct xarray ${a[0]};`,
  DEFINE_XARRAY_ALLOC: (a) => `extern struct xarray ${a[0]};`,
  DEFINE_SRCU: (a) => `extern struct srcu_struct ${a[0]};`,
  DEFINE_STATIC_SRCU: (a) => `extern struct srcu_struct ${a[0]};`,
  DEFINE_RATELIMIT_STATE: (a) => `extern struct ratelimit_state ${a[0]};`,
  DEFINE_STATIC_KEY_FALSE: (a) => `extern struct static_key_false ${a[0]};`,
  DEFINE_STATIC_KEY_TRUE: (a) => `extern struct static_key_true ${a[0]};`,
  DEFINE_STATIC_KEY_FALSE_RO: (a) => `extern struct static_key_false ${a[0]};`,
  DEFINE_STATIC_KEY_TRUE_RO: (a) => `extern struct static_key_true ${a[0]};`,
  DEFINE_HASHTABLE: (a) => `extern struct hlist_head ${a[0]}[1 << (${a[1]})];`,
  DECLARE_BITMAP: (a) => `extern unsigned long ${a[0]}[BITS_TO_LONGS(${a[1]})];`,
  DEFINE_PER_CPU: (a) => (a.length === 2 ? `DECLARE_PER_CPU(${a[0]}, ${a[1]});` : undefined),
  DEFINE_PER_CPU_READ_MOSTLY: (a) => (a.length === 2 ? `DECLARE_PER_CPU_READ_MOSTLY(${a[0]}, ${a[1]});` : undefined),
  DEFINE_PER_CPU_ALIGNED: (a) => (a.length === 2 ? `DECLARE_PER_CPU_ALIGNED(${a[0]}, ${a[1]});` : undefined),
  DEFINE_PER_CPU_SHARED_ALIGNED: (a) => (a.length === 2 ? `DECLARE_PER_CPU_SHARED_ALIGNED(${a[0]}, ${a[1]});` : undefined),
};

/** Annotations that place or align a definition; meaningless on an extern declaration. */
const PLACEMENT = /\b(__read_mostly|__ro_after_init|__initdata|__initconst|__refdata|__exitdata|__maybe_unused|__used|__cacheline_aligned(_in_smp)?|____cacheline_aligned(_in_smp)?|__page_aligned_(bss|data)|__visible|__weak|__nosavedata)\b/g;
const PLACEMENT_CALLS = /\b(__section|__aligned|__attribute__|__cacheline_aligned_in_smp)\s*\((?:[^()]|\([^()]*\))*\)/g;

/**
 * `extern …;` for a file-scope variable the unit does not copy, keeping its
 * type and qualifiers (`const`, `volatile`) and dropping its initializer and
 * placement. Undefined when its form is not known (several declarators, a
 * macro the table does not list).
 */
export function externOf(side: Side, e: Entity, asmName?: string): string | undefined {
  if (e.definedBy) {
    const make = DEFINE_MACROS[e.definedBy];
    const decl = make?.((e.args ?? []).map((x) => x.trim()));
    if (!decl || !asmName || !decl.startsWith('extern ')) return decl;
    return decl.replace(/;$/, ` __asm__("${asmName}");`);
  }
  const text = rawOf(side, e.node).replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\s+/g, ' ').trim();
  const head = cutInitializer(text).replace(PLACEMENT_CALLS, ' ').replace(PLACEMENT, ' ').replace(/\b(static|extern)\b/g, ' ').replace(/\s+/g, ' ').trim().replace(/;$/, '').trim();
  if (!new RegExp(`\\b${e.name}\\b`).test(head) || hasTopLevelComma(head)) return undefined;
  return `extern ${head.replace(/\[[^\]]*\]/, '[]')}${asmName ? ` __asm__("${asmName}")` : ''};`;
}

/** The declaration text before its `=` (not one inside brackets or parentheses). */
function cutInitializer(text: string): string {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    else if (c === '=' && depth === 0) return text.slice(0, i);
  }
  return text;
}

function hasTopLevelComma(text: string): boolean {
  let depth = 0;
  for (const c of text) {
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) return true;
  }
  return false;
}

/** Whether a variable entity is read-only data (a copy of it behaves like the original). */
export function isConstData(side: Side, e: Entity): boolean {
  if (e.definedBy) return false;
  const head = cutInitializer(rawOf(side, e.node));
  return /\bconst\b/.test(head.replace(/\*\s*const\b/g, '*')) && !/\*\s*$/.test(head.split(e.name)[0] ?? '');
}

/** Whether a variable is an array whose size only its initializer gives (`x[] = { … }`). */
export function isUnsizedArray(side: Side, e: Entity): boolean {
  if (e.definedBy) return false;
  const head = cutInitializer(rawOf(side, e.node));
  return head.length < rawOf(side, e.node).length && new RegExp(`\\b${e.name}\\s*\\[\\s*\\]`).test(head);
}
