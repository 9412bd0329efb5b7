/**
 * What a unit does with each name its code reaches, decided once per name:
 * replace it (a replaced function), copy its definition (new in the patch, an
 * inline function, or a static the target does not have), declare it `extern`
 * (the target has it; a klp relocation reaches it unless it is exported), or
 * leave it to the headers. Names the file does not define are looked up in the
 * symbol table: a global the target has but does not export is a relocation
 * candidate (the post-link step converts only the ones the linked module
 * really leaves undefined).
 */
import type { Side } from '../entities/diff';
import type { Entity } from '../entities/extract';
import { describeCandidates, resolveSymbol, type Resolution, type SymbolScope } from '../symbols/resolve';
import type { SymbolTable } from '../symbols/table';
import type { TreeFacts } from '../rules';
import type { KlpSymbol } from './klpReloc';
import { isConstData, isUnsizedArray } from './decls';
import { isStatic } from './plan';
import type { GenerateProblem } from './types';

export type Decision =
  | { kind: 'replace'; to: string }
  | { kind: 'copy'; carried?: boolean }
  | { kind: 'extern'; asm?: string }
  | { kind: 'header' };

/** klp relocation candidates of the whole module; a local symbol gets a placeholder of its unit. */
export class Relocations {
  private readonly bySymbol = new Map<string, KlpSymbol & { verified: boolean }>();

  /** The placeholder the unit's code links against. */
  add(name: string, object: string, sympos: number, local: boolean, slug: string, verified: boolean): string {
    const placeholder = local ? `${name}.klp_lens.${slug}` : name;
    const prev = this.bySymbol.get(placeholder);
    if (!prev) this.bySymbol.set(placeholder, { placeholder, object, name, sympos, verified });
    return placeholder;
  }

  has(placeholder: string): boolean {
    return this.bySymbol.has(placeholder);
  }

  get list(): (KlpSymbol & { verified: boolean })[] {
    return [...this.bySymbol.values()];
  }
}

export interface ReferenceContext {
  path: string;
  side: Side;
  object: string;
  slug: string;
  scope: SymbolScope;
  table?: SymbolTable;
  index?: TreeFacts;
  exported: (name: string) => boolean;
  relocations: Relocations;
  problems: GenerateProblem[];
  /** Names new in the patch (functions and data). */
  added: ReadonlySet<string>;
  /** Replaced functions: C name → the module's name. */
  replaced: ReadonlyMap<string, string>;
  /** References that could not be checked (no symbol table, or a module it does not list). */
  unverified: Set<string>;
  /** Statics the target does not have whose definitions travel with the module. */
  carried: Set<string>;
}

/** Names that are never symbols of the kernel (keywords tree-sitter reads as identifiers, common macros). */
const NOT_SYMBOLS = new Set(['current', 'true', 'false', 'NULL', 'this_cpu', 'raw_smp_processor_id', 'smp_processor_id', 'likely', 'unlikely', 'jiffies']);

export function isInline(e: Entity): boolean {
  return e.storage.includes('inline') || e.annotations.some((a) => a.name === '__always_inline');
}

/** The decision for a file-scope entity of the unit's file. */
export function decide(ctx: ReferenceContext, e: Entity): Decision {
  const to = ctx.replaced.get(e.name);
  if (to && e.kind === 'function') return { kind: 'replace', to };
  if (ctx.added.has(e.name)) return { kind: 'copy' };
  if (e.kind === 'function' && isInline(e)) return { kind: 'copy' };
  if (e.kind === 'variable' && e.declarationOnly) {
    outside(ctx, e.name);
    return { kind: 'header' };
  }
  // a read-only array sized by its initializer: an extern `[]` would lose the size (sizeof, ARRAY_SIZE); a copy reads the same
  if (e.kind === 'variable' && isConstData(ctx.side, e) && isUnsizedArray(ctx.side, e)) return { kind: 'copy' };
  const local = isStatic(e);
  const r = resolveSymbol(ctx.table, ctx.exported, e.name, ctx.scope, local);
  return fromResolution(ctx, e, r, local);
}

function fromResolution(ctx: ReferenceContext, e: Entity, r: Resolution, local: boolean): Decision {
  const what = e.kind === 'function' ? `${e.name}()` : e.name;
  switch (r.kind) {
    case 'exported':
      return { kind: 'extern' };
    case 'present':
      return externReloc(ctx, e.name, r.object, r.sympos, local, true);
    case 'unknown':
      ctx.unverified.add(e.name);
      return externReloc(ctx, e.name, ctx.object, 0, local, false);
    case 'ambiguous':
      ctx.problems.push({ severity: 'error', message: `${ctx.path}: ${what} occurs ${r.candidates.length} times in the symbol table (${r.object}) and ${r.why}: ${describeCandidates(ctx.table!, r.candidates)}. Use a vmlinux symbol table, whose STT_FILE symbols say which is ${ctx.path}'s.`, file: ctx.path });
      return externReloc(ctx, e.name, r.object, 0, local, false);
    case 'absent':
      if (r.moduleMissing) {
        ctx.unverified.add(e.name);
        return externReloc(ctx, e.name, ctx.object, 0, local, false);
      }
      if (!local) {
        ctx.problems.push({ severity: 'error', message: `${ctx.path}: ${what} is global but not in the target's symbol table (${ctx.table!.path}): the table is not the target kernel's, or ${what} is configured out there.`, file: ctx.path });
        return { kind: 'extern' };
      }
      return carry(ctx, e, what);
  }
}

function externReloc(ctx: ReferenceContext, name: string, object: string, sympos: number, local: boolean, verified: boolean): Decision {
  const asm = ctx.relocations.add(name, object, sympos, local, ctx.slug, verified);
  return { kind: 'extern', asm: asm === name ? undefined : asm };
}

function carry(ctx: ReferenceContext, e: Entity, what: string): Decision {
  ctx.carried.add(e.name);
  if (e.kind === 'variable' && !isConstData(ctx.side, e)) {
    ctx.problems.push({ severity: 'warning', message: `${ctx.path}: the static ${what} is not in the target's symbol table (the compiler folded it away), so the module carries its own copy; writes to it are not seen by the kernel's code.`, file: ctx.path });
  }
  return { kind: 'copy', carried: true };
}

/** A name the file does not define (headers, other files): a relocation candidate when the target has it unexported. */
export function outside(ctx: ReferenceContext, name: string, called = false): void {
  if (ctx.exported(name) || NOT_SYMBOLS.has(name) || /^__builtin_/.test(name)) return;
  if (ctx.table) {
    const r = resolveSymbol(ctx.table, ctx.exported, name, ctx.scope, false);
    if (r.kind === 'present') ctx.relocations.add(name, r.object, r.sympos, false, ctx.slug, true);
    return;
  }
  // no symbol table: calls of lower-case names that are neither macros nor inline helpers of the tree
  if (!called || !/^[a-z_][a-z0-9_]*$/.test(name)) return;
  if (ctx.index?.inlineHelper(name) || ctx.index?.isFunctionMacro(name)) return;
  ctx.unverified.add(name);
  // a global another file defines: vmlinux, where every non-exported global a module could reach lives
  ctx.relocations.add(name, 'vmlinux', 0, false, ctx.slug, false);
}
