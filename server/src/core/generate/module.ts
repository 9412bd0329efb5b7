/**
 * A livepatch module source folder from a patch: what kbuild builds into a
 * `.ko` that `insmod` loads and `klp_enable_patch()` applies.
 *
 * For each patched C file a unit `<slug>.c` carries the file's context in its
 * own order (includes, macros, types, the static inline functions the patched
 * code reaches, `#if` structure kept) and the patched functions, renamed
 * `livepatch_<name>`. New functions and new data are copied as they are.
 * Symbols the patched code uses that the target kernel does not export (statics
 * of the file, unexported globals) are declared `extern` and listed in
 * `klp-relocs.json`: after kbuild links the module, `klp-lens klp-relocs`
 * turns those references into klp relocations (generate/klpReloc.ts), and
 * refuses if anything undefined is neither exported nor listed. Nothing is
 * left silently broken: what cannot be generated (system calls, changed data,
 * fragments without a tree) is a problem that names the entity and says why.
 *
 * `livepatch-main.c` holds the klp_func / klp_object / klp_patch tables (one
 * object per target: vmlinux, or the module Kbuild builds the file into),
 * the callbacks found in the patch, `MODULE_INFO(livepatch, "Y")`.
 */
import type { FileAnalysis, PatchAnalysis } from '../analysis';
import type { EntityChange, Side } from '../entities/diff';
import type { Entity } from '../entities/extract';
import { declaratorName } from '../entities/extract';
import type { Node } from '../syntax/parser';
import type { KernelTree } from '../tree/kernelTree';
import type { Target, TreeFacts } from '../rules';
import type { KlpSymbol, SymversEntry } from './klpReloc';

export interface GenerateProblem {
  severity: 'error' | 'warning';
  message: string;
  /** The patched file and document line it is about, when there is one. */
  file?: string;
  line?: number;
}

export interface GeneratedModule {
  name: string;
  files: { path: string; text: string }[];
  /** Candidates for klp relocations: symbols the code may leave undefined and where they live. */
  relocations: KlpSymbol[];
  problems: GenerateProblem[];
  /** One line per patched function: object, file, name. */
  functions: { object: string; file: string; name: string }[];
}

export interface GenerateContext {
  analysis: PatchAnalysis;
  tree?: KernelTree;
  index?: TreeFacts;
  target: Target;
}

export interface GenerateOptions {
  /** Module name; default from the patch subject or file name. */
  name?: string;
  /** Exported symbols of the target kernel (the headers' Module.symvers). */
  symvers?: ReadonlyMap<string, SymversEntry>;
  /** Shown in the generated comments. */
  source?: string;
  generator: string;
  /** Fixes applied to the patch before generating (listed in the README). */
  applied?: { code: string; title: string; notes: string[] }[];
}

/** Names that are never symbols of the kernel (keywords tree-sitter reads as identifiers, macros). */
const NOT_SYMBOLS = new Set(['current', 'true', 'false', 'this_cpu', 'raw_smp_processor_id', 'smp_processor_id', 'likely', 'unlikely']);
const CALLBACKS = /^(KPATCH|KLP)_(PRE_PATCH|POST_PATCH|PRE_UNPATCH|POST_UNPATCH)_CALLBACK$/;
const TOOL_HEADERS = /^\s*#\s*include\s*[<"](kpatch-macros\.h|kpatch-syscall\.h|linux\/livepatch_helpers\.h)[>"]/;
/** Variables defined through macros: how to declare them extern. */
const DEFINE_MACROS: Record<string, (args: string[]) => string | undefined> = {
  DEFINE_SPINLOCK: (a) => `spinlock_t ${a[0]}`,
  DEFINE_RAW_SPINLOCK: (a) => `raw_spinlock_t ${a[0]}`,
  DEFINE_RWLOCK: (a) => `rwlock_t ${a[0]}`,
  DEFINE_MUTEX: (a) => `struct mutex ${a[0]}`,
  DECLARE_RWSEM: (a) => `struct rw_semaphore ${a[0]}`,
  DEFINE_SEMAPHORE: (a) => `struct semaphore ${a[0]}`,
  LIST_HEAD: (a) => `struct list_head ${a[0]}`,
  DECLARE_WAIT_QUEUE_HEAD: (a) => `wait_queue_head_t ${a[0]}`,
  DECLARE_COMPLETION: (a) => `struct completion ${a[0]}`,
  DEFINE_IDR: (a) => `struct idr ${a[0]}`,
  DEFINE_IDA: (a) => `struct ida ${a[0]}`,
  DEFINE_XARRAY: (a) => `struct xarray ${a[0]}`,
  DEFINE_STATIC_KEY_FALSE: (a) => `struct static_key_false ${a[0]}`,
  DEFINE_STATIC_KEY_TRUE: (a) => `struct static_key_true ${a[0]}`,
  DEFINE_PER_CPU: (a) => (a.length === 2 ? `__PER_CPU__ ${a[0]}|${a[1]}` : undefined),
};

function slugOf(path: string): string {
  return path.replace(/\.c$/, '').replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '').toLowerCase();
}

/** A module name kbuild and the livepatch core accept: [a-z0-9_], at most 55 characters. */
export function moduleNameFor(a: PatchAnalysis, fallback: string): string {
  const subject = a.set.lines.find((l) => /^Subject:/i.test(l))?.replace(/^Subject:\s*(\[[^\]]*\]\s*)*/i, '');
  const base = (subject || fallback).toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  return `livepatch_${base || 'patch'}`.slice(0, 55).replace(/_+$/, '');
}

interface Unit {
  file: FileAnalysis;
  side: Side;
  object: string;
  slug: string;
  text: string;
  patched: string[];
  callbacks: Map<string, string>;
}

/** Identifier nodes under a node, with their text. */
function identifiers(n: Node): Node[] {
  return n.descendantsOfType('identifier').filter((x): x is Node => x !== null);
}

function rawOf(side: Side, n: Node): string {
  return side.src.raw.slice(n.startIndex, n.endIndex);
}

/** Parameters and local variables declared inside a function (they shadow file-scope names). */
function localNames(fn: Node): Set<string> {
  const out = new Set<string>();
  for (const d of fn.descendantsOfType(['parameter_declaration', 'declaration'])) {
    if (!d) continue;
    for (const decl of d.childrenForFieldName('declarator')) {
      const n = declaratorName(decl);
      if (n) out.add(n.text);
    }
  }
  return out;
}

/** The text of a node with some identifiers renamed (by position). */
function renamed(side: Side, n: Node, names: ReadonlyMap<string, string>): string {
  const text = rawOf(side, n);
  const edits = identifiers(n)
    .filter((id) => names.has(id.text))
    .map((id) => ({ at: id.startIndex - n.startIndex, len: id.endIndex - id.startIndex, to: names.get(id.text)! }))
    .sort((a, b) => b.at - a.at);
  let out = text;
  for (const e of edits) out = out.slice(0, e.at) + e.to + out.slice(e.at + e.len);
  return out;
}

/** The declaration `extern …;` for a file-scope variable, or undefined when its form is not known. */
function externOf(side: Side, e: Entity): string | undefined {
  const text = rawOf(side, e.node).replace(/\s+/g, ' ').trim();
  if (e.definedBy) {
    const make = DEFINE_MACROS[e.definedBy];
    const args = (e.args ?? []).map((x) => x.trim());
    const decl = make?.(args);
    if (!decl) return undefined;
    if (decl.startsWith('__PER_CPU__ ')) {
      const [type, name] = decl.slice(12).split('|');
      return `DECLARE_PER_CPU(${type}, ${name});`;
    }
    return `extern ${decl};`;
  }
  // "static const struct foo bar[] __read_mostly = { ... };" → "extern const struct foo bar[];"
  const head = text.split('=')[0].replace(/\b(static|__read_mostly|__ro_after_init|__initdata|__maybe_unused|__used|__cacheline_aligned(_in_smp)?)\b/g, ' ').replace(/\s+/g, ' ').trim().replace(/;$/, '');
  if (!new RegExp(`\\b${e.name}\\b`).test(head) || /,/.test(head)) return undefined;
  return `extern ${head.replace(/\[[^\]]*\]/, '[]')};`;
}

/** Build the module; problems with severity error mean it is incomplete. */
export function generateModule(ctx: GenerateContext, opts: GenerateOptions): GeneratedModule {
  const problems: GenerateProblem[] = [];
  const name = opts.name ?? moduleNameFor(ctx.analysis, 'patch');
  const relocations = new Map<string, KlpSymbol>();
  const units: Unit[] = [];
  const exported = (s: string) => opts.symvers?.has(s) ?? ctx.index?.exportOf(s) !== undefined;

  for (const f of ctx.analysis.files) {
    if (f.language === 'header') {
      if (f.entities.some((e) => e.change !== 'removed' && !(e.aspects.length === 1 && e.aspects[0] === 'cosmetic')))
        problems.push({ severity: 'warning', message: `${f.path} is a header: its changes reach the module only through the patched .c files that include it; every function that uses a changed inline or macro must be patched too (KLP240, KLP290).`, file: f.path, line: f.headerLine });
      continue;
    }
    if (f.language !== 'c') continue;
    const changed = f.entities.filter((e) => (e.kind === 'function' || e.kind === 'syscall' || e.kind === 'fragment') && e.change === 'changed' && !e.aspects.every((a) => a === 'cosmetic'));
    if (changed.length === 0 && !f.entities.some((e) => e.change === 'added')) continue;
    const side = f.postSide;
    if (!side?.tree || f.confidence !== 'tree' || !f.post.complete) {
      problems.push({ severity: 'error', message: `${f.path}: generating a module needs the whole file from a kernel tree (--tree DIR); from the hunks alone its context is unknown.`, file: f.path, line: f.headerLine });
      continue;
    }
    for (const e of changed) {
      if (e.kind === 'syscall') problems.push({ severity: 'error', message: `${f.path}: the system call ${e.name} is not generated: its body is an inline __do_sys_${e.name}() that livepatch cannot redirect; build it with kpatch-build (KPATCH_SYSCALL_DEFINEn) or klp-build (KLP_SYSCALL_DEFINEn).`, file: f.path, line: e.range.start.line });
      if (e.kind === 'fragment') problems.push({ severity: 'error', message: `${f.path}: a changed fragment without a function name cannot be generated.`, file: f.path, line: e.range.start.line });
    }
    for (const e of f.entities) {
      if (e.kind === 'variable' && e.change === 'changed' && !e.aspects.every((a) => a === 'cosmetic'))
        problems.push({ severity: 'error', message: `${f.path}: ${e.name} changes existing data, which a livepatch module cannot replace (KLP110–112); fix that first (e.g. klp-lens fix --apply KLP110).`, file: f.path, line: e.range.start.line });
      if (e.kind === 'struct' && e.change === 'changed' && e.aspects.includes('layout'))
        problems.push({ severity: 'error', message: `${f.path}: struct ${e.name} changes its layout (KLP101); the module would disagree with the running kernel about it. Fix that first (klp-lens fix --apply KLP101).`, file: f.path, line: e.range.start.line });
    }
    const kind = ctx.index?.objectKind(f.path);
    let object = 'vmlinux';
    if (kind === 'module') object = (ctx.index!.moduleName(f.path) ?? slugOf(f.path)).replace(/-/g, '_');
    else if (kind !== 'vmlinux')
      problems.push({ severity: 'warning', message: `${f.path}: ${ctx.index ? `Kbuild does not say whether it is built into vmlinux or a module${ctx.index.hasConfig ? '' : ' (no .config)'}` : 'no tree index to tell vmlinux from a module'}; assumed vmlinux.`, file: f.path, line: f.headerLine });
    units.push(buildUnit(ctx, f, side, object, changed.filter((e) => e.kind === 'function'), exported, relocations, problems));
  }

  // one klp_object per target object, in the order met
  const objects = new Map<string, Unit[]>();
  for (const u of units) objects.set(u.object, [...(objects.get(u.object) ?? []), u]);
  const funcs = units.flatMap((u) => u.patched.map((n) => ({ object: u.object, file: u.file.path, name: n })));
  if (funcs.length === 0) problems.push({ severity: 'error', message: 'the patch changes no function a livepatch could replace' });
  for (const [obj, us] of objects) {
    const withCallbacks = us.filter((u) => u.callbacks.size > 0);
    if (withCallbacks.length > 1) problems.push({ severity: 'error', message: `callbacks for ${obj} are registered in ${withCallbacks.map((u) => u.file.path).join(' and ')}; one object takes one set of callbacks: merge them into one file.` });
  }
  const main = mainSource(name, objects, opts, funcs);
  const files = [{ path: 'livepatch-main.c', text: main }, ...units.map((u) => ({ path: `${u.slug}.c`, text: u.text }))];
  const relocs = [...relocations.values()];
  files.push({ path: 'Kbuild', text: kbuild(name, units, ctx.tree) });
  files.push({ path: 'Makefile', text: makefile(name, relocs.length > 0) });
  if (relocs.length) files.push({ path: 'klp-relocs.json', text: JSON.stringify({ module: name, symbols: relocs }, null, 2) + '\n' });
  files.push({ path: 'README.md', text: readme(name, opts, funcs, relocs, problems) });
  return { name, files, relocations: relocs, problems, functions: funcs };
}

function buildUnit(
  ctx: GenerateContext,
  f: FileAnalysis,
  side: Side,
  object: string,
  patched: EntityChange[],
  exported: (s: string) => boolean,
  relocations: Map<string, KlpSymbol>,
  problems: GenerateProblem[],
): Unit {
  const ents = side.ents.entities;
  const byName = new Map<string, Entity[]>();
  for (const e of ents) byName.set(e.name, [...(byName.get(e.name) ?? []), e]);
  const patchedNames = new Set(patched.map((e) => e.name));
  const addedFns = new Set(f.entities.filter((e) => e.kind === 'function' && e.change === 'added').map((e) => e.name));
  const addedVars = new Set(f.entities.filter((e) => e.kind === 'variable' && e.change === 'added').map((e) => e.name));
  const rename = new Map([...patchedNames].map((n) => [n, `livepatch_${n}`]));
  const isInline = (e: Entity) => e.storage.includes('inline') || e.annotations.some((a) => a.name === '__always_inline');

  // what the patched code reaches: names, followed through copied inline functions and new functions
  const reached = new Set<string>();
  const queue: Node[] = [];
  for (const e of ents) if (e.kind === 'function' && (patchedNames.has(e.name) || addedFns.has(e.name))) queue.push(e.node);
  const callbackFns = new Map<string, string>();
  for (const e of ents) {
    const m = e.kind === 'invocation' ? CALLBACKS.exec(e.definedBy ?? '') : null;
    if (m && e.args?.[0]) {
      callbackFns.set(m[2].toLowerCase(), e.args[0].trim());
      reached.add(e.args[0].trim());
    }
  }
  for (const fn of callbackFns.values()) for (const e of byName.get(fn) ?? []) if (e.kind === 'function') queue.push(e.node);
  const seen = new Set<number>();
  while (queue.length) {
    const n = queue.pop()!;
    if (seen.has(n.id)) continue;
    seen.add(n.id);
    const locals = localNames(n);
    for (const id of identifiers(n)) {
      if (reached.has(id.text) || locals.has(id.text)) continue;
      reached.add(id.text);
      for (const e of byName.get(id.text) ?? []) if (e.kind === 'function' && (isInline(e) || addedFns.has(e.name))) queue.push(e.node);
    }
  }

  const lines: string[] = [
    `// SPDX-License-Identifier: GPL-2.0`,
    `/* Livepatch unit for ${f.path} (${object}): its context and patched functions. */`,
  ];
  const declared = new Set<string>();
  const usesPatchObject = ents.some((e) => e.kind === 'invocation' && /^KPATCH_/.test(e.definedBy ?? '')) || /\bpatch_object\b/.test(side.src.raw);
  const reloc = (sym: string) => {
    if (!relocations.has(sym)) relocations.set(sym, { placeholder: sym, object, name: sym, sympos: 0 });
  };

  // file-scope items in their order, through #if structure
  const emit = (node: Node) => {
    for (const c of node.namedChildren) {
      if (!c) continue;
      const row = c.startPosition.row;
      const img = side.src.toImage[row] ?? -1;
      if (img < 0 && !c.type.startsWith('preproc_if')) continue; // synthetic lines
      switch (c.type) {
        case 'preproc_include': {
          const t = rawOf(side, c).trimEnd();
          if (!TOOL_HEADERS.test(t)) lines.push(t);
          break;
        }
        case 'preproc_def':
        case 'preproc_function_def': {
          const t = rawOf(side, c).trimEnd();
          if (!/\bCREATE_TRACE_POINTS\b/.test(t)) lines.push(t);
          break;
        }
        case 'preproc_call': {
          const t = rawOf(side, c).trimEnd();
          if (/^#\s*(undef|pragma)\b/.test(t)) lines.push(t);
          break;
        }
        case 'preproc_if':
        case 'preproc_ifdef':
        case 'preproc_elif':
        case 'preproc_else':
        case 'preproc_elifdef': {
          // the directive line itself, the items, the rest of the chain, #endif
          const first = rawOf(side, c).split('\n')[0].trimEnd();
          lines.push(first);
          emit(c);
          if (c.type === 'preproc_if' || c.type === 'preproc_ifdef') lines.push('#endif');
          break;
        }
        case 'type_definition':
        case 'struct_specifier':
        case 'union_specifier':
        case 'enum_specifier':
          lines.push(rawOf(side, c).trimEnd() + (c.type === 'type_definition' ? '' : ';'));
          break;
        case 'function_definition': {
          const e = ents.find((x) => x.node.id === c.id);
          if (!e) break;
          if (patchedNames.has(e.name)) {
            lines.push('', `/* patched ${e.name}() */`, asReplacement(side, c, rename));
          } else if (addedFns.has(e.name) || (isInline(e) && reached.has(e.name)) || [...callbackFns.values()].includes(e.name)) {
            lines.push('', renamed(side, c, rename));
          } else if (reached.has(e.name) && !declared.has(e.name)) {
            declared.add(e.name);
            lines.push(externPrototype(side, c));
            if (!exported(e.name)) reloc(e.name);
          }
          break;
        }
        case 'declaration': {
          const fd = c.descendantsOfType('function_declarator')[0];
          const e = ents.find((x) => x.node.id === c.id);
          if (fd && !c.childForFieldName('declarator')?.type.includes('init')) {
            // a prototype
            const nameNode = declaratorName(c.childForFieldName('declarator'));
            const n = nameNode?.text ?? '';
            if (patchedNames.has(n)) {
              // callers before the definition see the replacement's prototype
              lines.push(renamed(side, c, rename).replace(/\b(static|inline|__always_inline|__init|__exit)\s+/g, ''));
              break;
            }
            if (addedFns.has(n) || !reached.has(n) || declared.has(n)) break;
            const def = ents.find((x) => x.kind === 'function' && x.name === n);
            if (def && (isInline(def) || addedFns.has(n))) lines.push(rawOf(side, c).trimEnd());
            else {
              declared.add(n);
              lines.push(externPrototype(side, c));
              if (def && !exported(n)) reloc(n);
            }
            break;
          }
          if (!e || e.kind !== 'variable') break;
          if (addedVars.has(e.name)) lines.push(rawOf(side, c).trimEnd());
          else if (reached.has(e.name) && !declared.has(e.name)) {
            declared.add(e.name);
            const ext = externOf(side, e);
            if (!ext) {
              problems.push({ severity: 'error', message: `${f.path}: the patched code uses ${e.name}, whose declaration (${rawOf(side, c).split('\n')[0].trim()}) cannot be turned into an extern one; declare it by hand.`, file: f.path });
              break;
            }
            lines.push(ext);
            if (!exported(e.name)) reloc(e.name);
          }
          break;
        }
        case 'expression_statement': {
          // file-scope macro invocations: DEFINE_* data the patch adds or the code uses
          const e = ents.find((x) => x.node.id === c.id);
          if (e?.kind === 'variable' && addedVars.has(e.name)) lines.push(rawOf(side, c).trimEnd());
          else if (e?.kind === 'variable' && reached.has(e.name) && !declared.has(e.name)) {
            declared.add(e.name);
            const ext = externOf(side, e);
            if (ext) {
              lines.push(ext);
              if (!exported(e.name)) reloc(e.name);
            } else problems.push({ severity: 'error', message: `${f.path}: the patched code uses ${e.name} (defined by ${e.definedBy}), which cannot be declared extern automatically; declare it by hand.`, file: f.path });
          }
          break;
        }
        default:
          break;
      }
    }
  };
  if (usesPatchObject) lines.push('#include <linux/livepatch.h>', '/* kpatch-build names the callback argument patch_object */', 'typedef struct klp_object patch_object;');
  if (/\b(KPATCH|KLP)_STATIC_CALL\s*\(/.test(side.src.raw))
    lines.push(
      '#include <linux/static_call.h>',
      '/* an indirect call through the static call\'s current target (what kpatch-build and klp-build provide) */',
      '#define KLP_LENS_STATIC_CALL(name) ((typeof(STATIC_CALL_TRAMP(name)) *)STATIC_CALL_KEY(name).func)',
      '#undef KPATCH_STATIC_CALL',
      '#define KPATCH_STATIC_CALL(name) KLP_LENS_STATIC_CALL(name)',
      '#undef KLP_STATIC_CALL',
      '#define KLP_STATIC_CALL(name) KLP_LENS_STATIC_CALL(name)',
    );
  emit(side.tree!.rootNode);

  // names the patched code uses that are defined neither here nor exported: klp relocations in this object
  // (module code can only reach vmlinux through exports, so these are in the same object)
  const defined = new Set(ents.map((e) => e.name));
  for (const e of ents) {
    if (e.kind !== 'function' || !(patchedNames.has(e.name) || addedFns.has(e.name))) continue;
    for (const call of e.node.descendantsOfType('call_expression')) {
      const fn = call?.childForFieldName('function');
      if (fn?.type !== 'identifier') continue;
      const n = fn.text;
      if (defined.has(n) || exported(n) || ctx.index?.inlineHelper(n) || ctx.index?.isFunctionMacro(n) || /^[A-Z_][A-Z0-9_]*$/.test(n) || /^__builtin_/.test(n)) continue;
      reloc(n);
    }
    // plain reads of globals defined elsewhere (nr_threads): candidates too; the conversion keeps only
    // the names the linked module really leaves undefined
    const locals = new Set([...Object.keys(f.facts.post.get(e.key)?.locals ?? {}), ...localNames(e.node)]);
    for (const id of identifiers(e.node)) {
      const n = id.text;
      if (defined.has(n) || locals.has(n) || exported(n) || relocations.has(n) || !/^[a-z_][a-z0-9_]*$/.test(n) || NOT_SYMBOLS.has(n)) continue;
      if (id.parent?.type === 'call_expression' && id.parent.childForFieldName('function')?.id === id.id) continue;
      if (ctx.index?.inlineHelper(n) || ctx.index?.isFunctionMacro(n)) continue;
      reloc(n);
    }
  }

  // callbacks of this object: wrappers the main table can reference
  const callbacks = new Map<string, string>();
  const slug = slugOf(f.path);
  for (const [kind, fn] of callbackFns) {
    const wrapper = `livepatch_${slug}_${kind}`;
    callbacks.set(kind, wrapper);
    lines.push('', kind === 'pre_patch' ? `int ${wrapper}(struct klp_object *obj)` : `void ${wrapper}(struct klp_object *obj)`, '{', kind === 'pre_patch' ? `\treturn ${fn}(obj);` : `\t${fn}(obj);`, '}');
  }
  return { file: f, side, object, slug, text: lines.join('\n') + '\n', patched: [...patchedNames], callbacks };
}

/** A patched function as the module's replacement: renamed, global (the main table names it), out of init sections. */
function asReplacement(side: Side, fn: Node, rename: ReadonlyMap<string, string>): string {
  let text = renamed(side, fn, rename);
  // the module's copy is a plain global function the main table names: no `static`, `inline` or init section
  text = text.replace(/\b(static|inline|__always_inline|__init|__exit|__ref)\s+/g, '');
  return text;
}

/** `extern <head>;` for a function (definition or prototype) of the patched file. */
function externPrototype(side: Side, n: Node): string {
  const body = n.childForFieldName('body');
  let head = side.src.raw.slice(n.startIndex, body ? body.startIndex : n.endIndex).trim().replace(/;$/, '');
  head = head.replace(/\b(static|inline|__always_inline|noinline|__init|__exit|__ref|__cold|__maybe_unused|notrace|__visible)\s+/g, '').replace(/\s+/g, ' ');
  return `extern ${head};`;
}

function mainSource(name: string, objects: Map<string, Unit[]>, opts: GenerateOptions, funcs: { object: string; file: string; name: string }[]): string {
  const out: string[] = [
    '// SPDX-License-Identifier: GPL-2.0',
    '/*',
    ` * ${name}: a livepatch generated by ${opts.generator}${opts.source ? ` from ${opts.source}` : ''}.`,
    ' * It replaces:',
    ...funcs.map((f) => ` *   ${f.object}: ${f.name}() (${f.file})`),
    ' */',
    '#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt',
    '',
    '#include <linux/module.h>',
    '#include <linux/kernel.h>',
    '#include <linux/livepatch.h>',
    '',
  ];
  const ident = (s: string) => s.replace(/\W/g, '_');
  for (const [obj, us] of objects) {
    for (const u of us) for (const n of u.patched) out.push(`void livepatch_${n}(void);`);
    for (const u of us) for (const [kind, w] of u.callbacks) out.push(kind === 'pre_patch' ? `int ${w}(struct klp_object *obj);` : `void ${w}(struct klp_object *obj);`);
    out.push('', `static struct klp_func funcs_${ident(obj)}[] = {`);
    for (const u of us) for (const n of u.patched) out.push(`\t{\n\t\t.old_name = "${n}",\n\t\t.new_func = livepatch_${n},\n\t},`);
    out.push('\t{ }', '};', '');
  }
  out.push('static struct klp_object objs[] = {');
  for (const [obj, us] of objects) {
    out.push('\t{');
    if (obj !== 'vmlinux') out.push(`\t\t.name = "${obj}",`);
    else out.push('\t\t/* name NULL: vmlinux */');
    out.push(`\t\t.funcs = funcs_${ident(obj)},`);
    const cbs = us.flatMap((u) => [...u.callbacks]);
    if (cbs.length) {
      out.push('\t\t.callbacks = {');
      for (const [kind, w] of cbs) out.push(`\t\t\t.${kind} = ${w},`);
      out.push('\t\t},');
    }
    out.push('\t},');
  }
  out.push(
    '\t{ }',
    '};',
    '',
    'static struct klp_patch patch = {',
    '\t.mod = THIS_MODULE,',
    '\t.objs = objs,',
    '};',
    '',
    'static int livepatch_init(void)',
    '{',
    '\treturn klp_enable_patch(&patch);',
    '}',
    '',
    'static void livepatch_exit(void)',
    '{',
    '}',
    '',
    'module_init(livepatch_init);',
    'module_exit(livepatch_exit);',
    'MODULE_LICENSE("GPL");',
    'MODULE_INFO(livepatch, "Y");',
    `MODULE_DESCRIPTION("Livepatch ${name.replace(/"/g, '')}");`,
    '',
  );
  return out.join('\n');
}

function kbuild(name: string, units: Unit[], tree?: KernelTree): string {
  const objs = ['livepatch-main.o', ...units.map((u) => `${u.slug}.o`)];
  const dirs = [...new Set(units.map((u) => u.file.path.replace(/\/[^/]*$/, '')))];
  const lines = [`# Kbuild for the livepatch ${name} (generated)`, `obj-m := ${name}.o`, `${name}-y := ${objs.join(' ')}`];
  // quoted includes of the patched files ("internal.h") resolve in their source directories
  if (tree) for (const d of dirs) lines.push(`ccflags-y += -I${tree.root}/${d}`);
  return lines.join('\n') + '\n';
}

function makefile(name: string, relocs: boolean): string {
  return [
    `# Build the livepatch ${name} against the target kernel's headers (generated).`,
    '#   make KDIR=/usr/src/linux-headers-$(uname -r)',
    'KDIR ?= /lib/modules/$(shell uname -r)/build',
    'KLP_LENS ?= klp-lens',
    '',
    'all:',
    ...(relocs
      ? [
          '\t# symbols the target does not export become klp relocations after linking (klp-relocs.json)',
          '\t$(MAKE) -C $(KDIR) M=$(CURDIR) KBUILD_MODPOST_WARN=1 modules',
          `\t$(KLP_LENS) klp-relocs ${name}.ko --map klp-relocs.json --symvers $(KDIR)/Module.symvers`,
        ]
      : ['\t$(MAKE) -C $(KDIR) M=$(CURDIR) modules']),
    '',
    'clean:',
    '\t$(MAKE) -C $(KDIR) M=$(CURDIR) clean',
    '',
    '.PHONY: all clean',
    '',
  ].join('\n');
}

function readme(name: string, opts: GenerateOptions, funcs: { object: string; file: string; name: string }[], relocs: KlpSymbol[], problems: GenerateProblem[]): string {
  const out = [`# ${name}`, '', `Generated by ${opts.generator}${opts.source ? ` from \`${opts.source}\`` : ''}.`, '', '## Replaced functions', ''];
  for (const f of funcs) out.push(`- \`${f.name}()\` in \`${f.file}\` (object \`${f.object}\`)`);
  out.push('', '## Build and load', '', '```sh', 'make KDIR=/usr/src/linux-headers-$(uname -r)   # or the headers of the target kernel', `sudo insmod ${name}.ko`, `cat /sys/kernel/livepatch/${name}/enabled /sys/kernel/livepatch/${name}/transition`, '```', '');
  if (relocs.length) {
    out.push('## Symbols reached through klp relocations', '', 'The target kernel does not export these; the Makefile builds with `KBUILD_MODPOST_WARN=1` and then runs `klp-lens klp-relocs`, which turns the references that are really undefined into klp relocations and stops if anything else is missing. `sympos` 0 assumes the name is unique in its object: check `/proc/kallsyms` on the target for duplicates.', '');
    for (const r of relocs) out.push(`- \`${r.name}\` in \`${r.object}\` (sympos ${r.sympos})`);
    out.push('');
  }
  if (opts.applied?.length) {
    out.push('## Fixes applied to the patch first', '');
    for (const a of opts.applied) out.push(`- ${a.code}: ${a.title}`, ...a.notes.map((n) => `  - ${n}`));
    out.push('');
  }
  if (problems.length) {
    out.push('## Problems', '');
    for (const p of problems) out.push(`- **${p.severity}**: ${p.message}`);
    out.push('');
  }
  return out.join('\n');
}
