/**
 * `klp-lens generate` (a livepatch module source folder from a patch) and
 * `klp-lens klp-relocs` (the post-link step of that folder's Makefile).
 * Shared with the language server's "Generate Module" command.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { analyzePatch, targetOf, type AnalyzeOptions } from '../core/analysis';
import { generateModule, type GeneratedModule, type GenerateProblem } from '../core/generate/module';
import { readSymbolTable, SymbolTableError, type SymbolTable } from '../core/symbols/table';
import { resolveSymbol } from '../core/symbols/resolve';
import { convertKlpRelocations, KlpRelocError, readModuleSymvers, undefinedSymbols, type KlpSymbol, type SymversEntry } from '../core/generate/klpReloc';
import type { TreeFacts } from '../core/rules';
import { fixPatch } from '../core/fixes/driver';
import type { KernelTree } from '../core/tree/kernelTree';

export class GenerateError extends Error {}

export interface GenerateRequest {
  text: string;
  source: string;
  tree: KernelTree;
  index?: TreeFacts;
  out: string;
  name?: string;
  /** Kernel headers of the target (Module.symvers, and KDIR for a build). */
  headers?: string;
  symvers?: string;
  /** The target's symbol table (System.map, /proc/kallsyms copy, vmlinux). */
  symbols?: string;
  options: Omit<AnalyzeOptions, 'tree' | 'index'>;
  generator: string;
  /** Apply the data-layout and data-value fixes first (default); false generates the patch as it is. */
  fix?: boolean;
}

export interface GenerateOutcome {
  module: GeneratedModule;
  written: string[];
  /** Fixes applied to the patch before generating. */
  applied: { code: string; title: string; notes: string[] }[];
  /** What the symbol table is, when one was given. */
  symbols?: string;
}

/** Read the target's symbol table; its problems are positioned GenerateErrors. */
export function loadSymbols(path: string): SymbolTable {
  try {
    return readSymbolTable(path);
  } catch (e) {
    if (e instanceof SymbolTableError) throw new GenerateError(e.message);
    throw new GenerateError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** Read Module.symvers: the explicit file, else the headers'. */
export function loadSymvers(symvers?: string, headers?: string): Map<string, SymversEntry> | undefined {
  const file = symvers ?? (headers ? join(headers, 'Module.symvers') : undefined);
  if (!file) return undefined;
  try {
    return readModuleSymvers(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new GenerateError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** Generate the module and write its files into `out` (created if needed; nothing is written elsewhere). */
/** The fixes generation applies first: what a module cannot carry as the patch wrote it (data layout, data values). */
const GENERATE_FIXES = new Set(['KLP101', 'KLP110', 'KLP190']);

export async function generateInto(req: GenerateRequest): Promise<GenerateOutcome> {
  const symvers = loadSymvers(req.symvers, req.headers);
  const symbols = req.symbols ? loadSymbols(resolve(req.symbols)) : undefined;
  const options = { ...req.options, tree: req.tree, index: req.index };
  // shadow variables for new fields, callbacks for changed defaults: applied before generating
  const fixed = req.fix === false ? undefined : await fixPatch(req.text, GENERATE_FIXES, options, 100, true);
  const a = await analyzePatch(fixed?.text ?? req.text, { ...options, keepSyntax: true });
  let module: GeneratedModule;
  try {
    module = generateModule({ analysis: a, tree: req.tree, index: req.index, target: targetOf(options) }, { name: req.name, symvers, symbols, source: req.source, generator: req.generator, applied: fixed?.applied });
  } finally {
    a.dispose();
  }
  for (const r of fixed?.refused ?? []) module.problems.push({ severity: 'warning', message: `${r.title}: not applied: ${r.reason}` });
  const out = resolve(req.out);
  if (existsSync(out) && !statSync(out).isDirectory()) throw new GenerateError(`${req.out} exists and is not a directory`);
  mkdirSync(out, { recursive: true });
  const root = realpathSync(out);
  const written: string[] = [];
  for (const f of module.files) {
    const target = resolve(root, f.path);
    const rel = relative(root, target);
    if (rel.startsWith('..') || isAbsolute(rel) || rel.includes('/') || rel.includes('\0')) throw new GenerateError(`refusing to write ${f.path} outside ${req.out}`);
    if (isSymlink(target)) throw new GenerateError(`refusing to write ${f.path}: it is a symbolic link in ${req.out} (writing would follow it out of the folder); remove it or choose another folder`);
    writeFileSync(target, f.text);
    written.push(target);
  }
  return { module, written, applied: fixed?.applied ?? [], symbols: symbols?.describe() };
}

function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Build the generated folder with kbuild; undefined symbols modpost names become problems. */
export function buildModule(dir: string, headers: string, klpLens: string[]): { ok: boolean; log: string; problems: GenerateProblem[] } {
  const r = spawnSync('make', ['-C', dir, `KDIR=${headers}`, `KLP_LENS=${klpLens.map((x) => (/\s/.test(x) ? `'${x}'` : x)).join(' ')}`], { encoding: 'utf8', timeout: 600_000 });
  const log = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const problems: GenerateProblem[] = [];
  // names the post-link step made klp relocations: modpost's "undefined" about them is expected
  const converted = new Set([...log.matchAll(/made klp relocations \(([^)]*)\)/g)].flatMap((m) => m[1].split(', ')));
  for (const m of log.matchAll(/modpost: "([^"]+)" \[[^\]]+\] undefined!/g)) {
    if (!converted.has(m[1])) problems.push({ severity: 'warning', message: `modpost: ${m[1]} is not exported by the target kernel (a klp relocation must reach it)` });
  }
  for (const m of log.matchAll(/^klp-lens: (.*)$/gm)) problems.push({ severity: 'warning', message: m[1] });
  for (const m of log.matchAll(/^([^:\n]+\.c):(\d+):\d+: error: (.*)$/gm)) problems.push({ severity: 'error', message: `${m[1]}:${m[2]}: ${m[3]}` });
  if (r.error) problems.push({ severity: 'error', message: `make could not run: ${r.error.message}` });
  return { ok: r.status === 0, log, problems };
}

export interface KlpRelocsOutcome {
  moved: number;
  converted: string[];
  missing: string[];
  warnings: string[];
  /** Warnings that do not fail the step (references taken unchecked). */
  notes: string[];
}

/** The Makefile's post-link step: convert the module's undefined references listed in the map. */
export function klpRelocs(koPath: string, mapPath: string, symversPath: string | undefined, outPath?: string): KlpRelocsOutcome {
  let map: { symbols?: KlpSymbol[]; table?: string };
  try {
    map = JSON.parse(readFileSync(mapPath, 'utf8'));
  } catch (e) {
    throw new GenerateError(`cannot read ${mapPath}: ${(e as Error).message}`);
  }
  if (!Array.isArray(map.symbols)) throw new GenerateError(`${mapPath}: no "symbols" list`);
  let ko: Buffer;
  try {
    ko = readFileSync(koPath);
  } catch (e) {
    throw new GenerateError(`cannot read ${koPath}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const symvers = symversPath ? loadSymvers(symversPath) : undefined;
  const exported = symvers ? new Set(symvers.keys()) : undefined;
  const undef = new Set(undefinedSymbols(ko));
  // the map lists candidates; only the names the linked module really leaves undefined are converted
  const symbols = map.symbols.filter((s) => undef.has(s.placeholder) && !exported?.has(s.placeholder));
  // references the unit's code could not show (inline functions of the headers calling unexported
  // globals): resolved against the target's symbol table the module was generated with
  const leftover = exported ? [...undef].filter((n) => !exported.has(n) && !symbols.some((s) => s.placeholder === n)) : [];
  const unchecked: string[] = [];
  if (map.table) symbols.push(...fromTable(loadSymbols(map.table), leftover));
  else {
    // no symbol table: a global of vmlinux is the only thing a module could reach; unchecked, and said so
    for (const name of leftover.filter((n) => !n.includes('.'))) symbols.push({ placeholder: name, object: 'vmlinux', name, sympos: 0 });
    unchecked.push(...leftover.filter((n) => !n.includes('.')));
  }
  const result = convertKlpRelocations(ko, symbols, { exported });
  writeFileSync(outPath ?? koPath, result.ko);
  const converted = new Set(symbols.map((s) => s.placeholder));
  const missing = [...undef].filter((n) => !converted.has(n) && exported !== undefined && !exported.has(n));
  const warnings = [...result.warnings];
  if (unchecked.length) warnings.push(`${unchecked.join(', ')}: taken as unexported globals of vmlinux without a symbol table to check them (generate --symbols FILE checks every reference); if one is not there, insmod fails with "symbol … not found"`);
  return { moved: result.moved.length, converted: [...converted], missing, warnings, notes: unchecked.length ? warnings.slice(-1) : [] };
}

/** Unexported globals of vmlinux the table lists, as klp relocation targets. */
function fromTable(table: SymbolTable, names: string[]): KlpSymbol[] {
  const out: KlpSymbol[] = [];
  for (const name of names) {
    const r = resolveSymbol(table, () => false, name, { file: '', object: 'vmlinux', fileNames: new Set() }, false);
    if (r.kind === 'present') out.push({ placeholder: name, object: r.object, name, sympos: r.sympos });
  }
  return out;
}

export { KlpRelocError };
