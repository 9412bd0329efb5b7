/**
 * A livepatch module source folder from a patch: what kbuild builds into a
 * `.ko` that `insmod` loads and `klp_enable_patch()` applies.
 *
 * Per patched C file: plan.ts decides which functions of the target are
 * replaced (a changed static the target inlined everywhere is replaced through
 * its callers; a system call through its arch wrappers); unit.ts writes the
 * unit `<slug>.c` (the file's context, the replacements, what the module
 * carries), references.ts decides for each name it reaches whether to copy it,
 * declare it `extern`, or reach it through a klp relocation, checked against
 * the target's symbol table when there is one. tables.ts writes the klp tables,
 * kbuild.ts the Kbuild with the tree's own per-directory flags, readme.ts the
 * folder's README. Nothing is left silently broken: what cannot be generated
 * is a problem that names the entity and says why.
 */
import { createHash } from 'node:crypto';
import type { FileAnalysis, PatchAnalysis } from '../analysis';
import type { Entity } from '../entities/extract';
import type { SymbolScope } from '../symbols/resolve';
import { kbuildFile, makefile, unitFlags } from './kbuild';
import { callbackOf } from './kpatch';
import { planReplacements } from './plan';
import { readme } from './readme';
import { Relocations, type ReferenceContext } from './references';
import { mainSource } from './tables';
import type { GenerateContext, GeneratedModule, GenerateOptions, GenerateProblem, KlpFunc, Unit } from './types';
import { UnitBuilder } from './unit';

export type { GenerateContext, GeneratedModule, GenerateOptions, GenerateProblem, KlpFunc } from './types';

export function slugOf(path: string): string {
  return path.replace(/\.c$/, '').replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '').toLowerCase();
}

const MAX_NAME = 55;

/**
 * A module name kbuild and the livepatch core accept ([a-z0-9_], at most 55
 * characters), unique per patch: from the subject, else the patched files and
 * a hash of the patch, so two generated livepatches can be loaded together.
 */
export function moduleNameFor(a: PatchAnalysis): string {
  const subject = a.set.lines.find((l) => /^Subject:/i.test(l))?.replace(/^Subject:\s*(\[[^\]]*\]\s*)*/i, '');
  const clean = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  const base = clean(subject ?? '');
  if (base) return `livepatch_${base}`.slice(0, MAX_NAME).replace(/_+$/, '');
  const hash = createHash('sha256').update(a.set.lines.join('\n')).digest('hex').slice(0, 6);
  const files = a.files.filter((f) => f.language === 'c').map((f) => clean(f.path.replace(/^.*\//, '').replace(/\.c$/, '')));
  const stem = (files.length ? files.slice(0, 2).join('_') : 'patch').slice(0, MAX_NAME - 'livepatch__'.length - hash.length);
  return `livepatch_${stem.replace(/_+$/, '')}_${hash}`;
}

/** A name a user gave with --name: checked, never silently changed. */
export function checkModuleName(name: string): string | undefined {
  if (!/^[a-z0-9_]+$/i.test(name)) return `the module name ${JSON.stringify(name)} may only have letters, digits and _ (kbuild and /sys/kernel/livepatch/<name>)`;
  if (name.length > MAX_NAME) return `the module name ${name} is ${name.length} characters; at most ${MAX_NAME} fit MODULE_NAME_LEN`;
  return undefined;
}

interface Shared {
  ctx: GenerateContext;
  opts: GenerateOptions;
  problems: GenerateProblem[];
  relocations: Relocations;
  taken: Set<string>;
  exported: (s: string) => boolean;
  fuzzy: string[];
}

/** Build the module; problems with severity error mean it is incomplete. */
export function generateModule(ctx: GenerateContext, opts: GenerateOptions): GeneratedModule {
  const name = opts.name ?? moduleNameFor(ctx.analysis);
  const s: Shared = {
    ctx,
    opts,
    problems: [],
    relocations: new Relocations(),
    taken: new Set(),
    exported: (x) => (opts.symvers ? opts.symvers.has(x) : ctx.index?.exportOf(x) !== undefined),
    fuzzy: [],
  };
  const bad = opts.name ? checkModuleName(opts.name) : undefined;
  if (bad) s.problems.push({ severity: 'error', message: bad });
  const units: Unit[] = [];
  for (const f of ctx.analysis.files) {
    const u = unitFor(s, f);
    if (u) units.push(u);
  }
  const funcs = units.flatMap((u) => u.funcs);
  if (units.length === 0) s.problems.push({ severity: 'error', message: 'the patch changes no C function, data or callback a livepatch module could carry' });
  checkCallbacks(units, s.problems);
  const relocs = s.relocations.list;
  const files = [{ path: 'livepatch-main.c', text: mainSource(name, units, opts) }, ...units.map((u) => ({ path: `${u.slug}.c`, text: u.text }))];
  files.push({ path: 'Kbuild', text: kbuildFile(name, units, ctx.tree) });
  const post = relocs.length > 0 || opts.symbols !== undefined;
  files.push({ path: 'Makefile', text: makefile(name, post) });
  if (post) files.push({ path: 'klp-relocs.json', text: JSON.stringify({ module: name, table: opts.symbols?.path, symbols: relocs }, null, 2) + '\n' });
  files.push({ path: 'README.md', text: readme({ name, opts, funcs, units, relocs, problems: s.problems, fuzzy: s.fuzzy }) });
  return { name, files, relocations: relocs, problems: s.problems, functions: funcs, fuzzy: s.fuzzy };
}

function checkCallbacks(units: Unit[], problems: GenerateProblem[]): void {
  const byObject = new Map<string, Unit[]>();
  for (const u of units) if (u.callbacks.size) byObject.set(u.object, [...(byObject.get(u.object) ?? []), u]);
  for (const [obj, us] of byObject) {
    if (us.length > 1) problems.push({ severity: 'error', message: `callbacks for ${obj} are registered in ${us.map((u) => u.file.path).join(' and ')}; one klp_object takes one set of callbacks: merge them into one file.` });
  }
}

const CODE_KINDS = new Set(['function', 'syscall', 'fragment']);
const CARRIED_KINDS = new Set(['function', 'variable']);

function isChanged(e: { change: string; aspects: string[] }): boolean {
  return e.change === 'changed' && !e.aspects.every((a) => a === 'cosmetic');
}

function unitFor(s: Shared, f: FileAnalysis): Unit | undefined {
  if (f.language === 'header') return headerWarning(s, f);
  if (f.language !== 'c') return undefined;
  const side = f.postSide;
  const changed = f.entities.filter((e) => CODE_KINDS.has(e.kind) && isChanged(e));
  const added = new Set(f.entities.filter((e) => e.change === 'added' && CARRIED_KINDS.has(e.kind)).map((e) => e.name));
  const callbacks = side?.ents.entities.some((e) => e.kind === 'invocation' && callbackOf(e.definedBy ?? '', e.args ?? [])) ?? false;
  if (changed.length === 0 && added.size === 0 && !callbacks) return undefined;
  if (!side?.tree || f.confidence !== 'tree' || !f.post.complete) {
    s.problems.push({ severity: 'error', message: `${f.path}: generating a module needs the whole file from a kernel tree (--tree DIR); from the hunks alone its context is unknown.`, file: f.path, line: f.headerLine });
    return undefined;
  }
  dataProblems(s, f);
  noteFuzz(s, f);
  const object = objectOf(s, f);
  const slug = slugOf(f.path);
  const post = new Set(changed.map((e) => e.name));
  const changedEnts = side.ents.entities.filter((e) => (e.kind === 'function' || e.kind === 'syscall') && post.has(e.name));
  for (const e of changed) if (e.kind === 'fragment') s.problems.push({ severity: 'error', message: `${f.path}: a changed fragment without a function name cannot be generated.`, file: f.path, line: e.range.start.line });
  const scope: SymbolScope = { file: f.path, object, fileNames: new Set(side.ents.entities.filter((e) => CARRIED_KINDS.has(e.kind)).map((e) => e.name)) };
  const config = (x: string) => s.ctx.index?.configValue(x);
  const plan = planReplacements({ path: f.path, side, object, changed: changedEnts, table: s.opts.symbols, scope, arch: s.ctx.target.arch, config, taken: s.taken }, s.problems);
  const ref = referenceContext(s, f, object, slug, scope, added, plan);
  const code = new UnitBuilder(f, side, plan, ref).build();
  reportReferences(s, f, ref);
  const funcs: KlpFunc[] = plan.map((r) => ({ object, file: f.path, name: r.name, oldName: r.oldName, newName: r.newName, sympos: r.sympos, reason: r.reason }));
  const flags = unitFlags(s.ctx.tree, f.path, config);
  return { file: f, object, slug, text: code.text, funcs, callbacks: code.callbacks, cflags: flags.add, cflagsRemove: flags.remove };
}

function referenceContext(s: Shared, f: FileAnalysis, object: string, slug: string, scope: SymbolScope, added: Set<string>, plan: { name: string; newName: string; syscall?: boolean }[]): ReferenceContext {
  return {
    path: f.path,
    side: f.postSide!,
    object,
    slug,
    scope,
    table: s.opts.symbols,
    index: s.ctx.index,
    exported: s.exported,
    relocations: s.relocations,
    problems: s.problems,
    added,
    replaced: new Map(plan.filter((r) => !r.syscall).map((r) => [r.name, r.newName])),
    unverified: new Set(),
    carried: new Set(),
  };
}

function reportReferences(s: Shared, f: FileAnalysis, ref: ReferenceContext): void {
  if (ref.unverified.size === 0) return;
  const names = [...ref.unverified].sort();
  const why = s.opts.symbols ? `${s.opts.symbols.path} does not list ${ref.object}` : 'no symbol table of the target was given (--symbols System.map, /proc/kallsyms or vmlinux)';
  s.problems.push({
    severity: 'warning',
    message: `${f.path}: ${names.length} reference(s) could not be checked against the target, because ${why}: ${names.join(', ')}. A static the target inlined everywhere has no symbol, and the module would not load.`,
    file: f.path,
  });
}

function headerWarning(s: Shared, f: FileAnalysis): undefined {
  if (f.entities.some((e) => e.change !== 'removed' && !(e.aspects.length === 1 && e.aspects[0] === 'cosmetic')))
    s.problems.push({ severity: 'warning', message: `${f.path} is a header: its changes reach the module only through the patched .c files that include it; every function that uses a changed inline or macro must be patched too (KLP240, KLP290).`, file: f.path, line: f.headerLine });
  return undefined;
}

function dataProblems(s: Shared, f: FileAnalysis): void {
  for (const e of f.entities) {
    if (e.kind === 'variable' && isChanged(e))
      s.problems.push({ severity: 'error', message: `${f.path}: ${e.name} changes existing data, which a livepatch module cannot replace (KLP110–112); fix that first (e.g. klp-lens fix --apply KLP110).`, file: f.path, line: e.range.start.line });
    if (e.kind === 'struct' && e.change === 'changed' && e.aspects.includes('layout'))
      s.problems.push({ severity: 'error', message: `${f.path}: struct ${e.name} changes its layout (KLP101); the module would disagree with the running kernel about it. Fix that first (klp-lens fix --apply KLP101).`, file: f.path, line: e.range.start.line });
  }
}

/** Hunks the tree image was built with at an offset or with fuzz: the module is generated from that image. */
function noteFuzz(s: Shared, f: FileAnalysis): void {
  for (const app of f.applications) {
    if (app.status === 'exact' || app.status === 'failed') continue;
    const how = app.status === 'fuzz' ? `with fuzz ${app.fuzz}` : app.status === 'whitespace' ? 'ignoring whitespace' : `with an offset of ${app.offset} line(s)`;
    s.fuzzy.push(`${f.path}: the hunk @@ -${app.hunk.oldStart},${app.hunk.oldLines} @@${app.hunk.section ? ` ${app.hunk.section.trim()}` : ''} applies ${how} (at line ${app.appliedAt ?? '?'} of the tree's file)`);
  }
}

function objectOf(s: Shared, f: FileAnalysis): string {
  const index = s.ctx.index;
  const kind = index?.objectKind(f.path);
  if (kind === 'module') return (index!.moduleName(f.path) ?? slugOf(f.path)).replace(/-/g, '_');
  if (kind !== 'vmlinux')
    s.problems.push({ severity: 'warning', message: `${f.path}: ${index ? `Kbuild does not say whether it is built into vmlinux or a module${index.hasConfig ? '' : ' (no .config)'}` : 'no tree index to tell vmlinux from a module'}; assumed vmlinux.`, file: f.path, line: f.headerLine });
  return 'vmlinux';
}

export type { Entity };
