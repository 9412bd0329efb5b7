/**
 * Patched functions against the target kernel's symbol table (with
 * `--symbols` / livepatchLens.kernelSymbols): a livepatch redirects a
 * function by its symbol, so what matters is what the compiled target has,
 * not what the source says.
 *
 * - KLP340: a changed static function has no symbol: GCC inlined it into every
 *   caller (or dropped it). The callers that carry its code must be replaced;
 *   the message names them, walking up through callers inlined in turn.
 * - KLP341: the name occurs several times in the object and nothing tells
 *   which is this file's: the klp_func needs `old_sympos`.
 * - KLP342: a changed global function is not in the table at all: the table is
 *   not the target's, or the function is configured out there.
 */
import type { FileAnalysis } from '../analysis';
import type { EntityChange } from '../entities/diff';
import { finding, type Finding } from '../findings';
import { describeCandidates, resolveSymbol, type SymbolScope } from '../symbols/resolve';
import type { SymbolTable } from '../symbols/table';
import type { Rule, RuleContext } from './index';
import { changedCode, list } from './util';

const MAX_DEPTH = 4;
const none = () => false;

function scopeOf(ctx: RuleContext, f: FileAnalysis): SymbolScope {
  const object = ctx.index?.objectKind(f.path) === 'module' ? (ctx.index.moduleName(f.path) ?? 'vmlinux').replace(/-/g, '_') : 'vmlinux';
  return { file: f.path, object, fileNames: f.facts.scope.definedNames };
}

/** The functions the target has that carry `name`'s code, walking up through callers it inlined too. */
function carriers(table: SymbolTable, f: FileAnalysis, scope: SymbolScope, name: string, depth = 0, seen = new Set<string>()): { present: string[]; inlined: string[] } {
  const out = { present: [] as string[], inlined: [] as string[] };
  for (const caller of f.facts.scope.callersInFile.get(name) ?? []) {
    if (seen.has(caller)) continue;
    seen.add(caller);
    const r = resolveSymbol(table, none, caller, scope, f.facts.scope.staticFns.has(caller));
    if (r.kind !== 'absent' || r.moduleMissing) out.present.push(caller);
    else if (depth < MAX_DEPTH) {
      out.inlined.push(caller);
      const up = carriers(table, f, scope, caller, depth + 1, seen);
      out.present.push(...up.present);
      out.inlined.push(...up.inlined);
    }
  }
  return out;
}

function absentStatic(table: SymbolTable, f: FileAnalysis, scope: SymbolScope, e: EntityChange): Finding {
  const { present, inlined } = carriers(table, f, scope, e.name);
  const via = inlined.length ? ` (through ${list(inlined.map((n) => `${n}()`))}, inlined as well)` : '';
  const what = present.length
    ? `the livepatch must replace ${present.length === 1 ? 'its caller' : 'the callers'} ${list(present.map((n) => `${n}()`))}${via} instead; klp-lens generate does so.`
    : 'no function of the file that the target has calls it, so there is nothing to replace: check that the table is the target kernel\'s.';
  return finding('KLP340', `${e.name}() has no symbol in the target kernel (${table.path}): the compiler inlined it into its callers or dropped it, so a klp_func naming it fails to load; ${what}`, e.range, {
    file: f.path,
    data: { entity: e.key, callers: present, inlined },
  });
}

function check(table: SymbolTable, f: FileAnalysis, scope: SymbolScope, e: EntityChange): Finding | undefined {
  const local = e.new?.entity.storage.includes('static') ?? false;
  const r = resolveSymbol(table, none, e.name, scope, local);
  if (r.kind === 'ambiguous') {
    return finding('KLP341', `${e.name}() occurs ${r.candidates.length} times in the target's ${r.object} (${table.path}) and ${r.why}: ${describeCandidates(table, r.candidates)}. Give the klp_func the right old_sympos, or use the target's vmlinux as the symbol table (its file symbols tell them apart).`, e.range, {
      file: f.path,
      data: { entity: e.key, candidates: r.candidates.length },
    });
  }
  if (r.kind !== 'absent' || r.moduleMissing) return undefined;
  if (local) return absentStatic(table, f, scope, e);
  return finding('KLP342', `${e.name}() is global but not in the target's symbol table (${table.path}): the table is not the target kernel's, or ${e.name}() is configured out there. Check the table and the target's .config.`, e.range, {
    file: f.path,
    data: { entity: e.key },
  });
}

export const targetSymbolsRule: Rule = {
  id: 'target-symbols',
  run(ctx) {
    const table = ctx.symbols;
    if (!table) return [];
    const out: Finding[] = [];
    for (const f of ctx.files) {
      if (f.language !== 'c') continue;
      const scope = scopeOf(ctx, f);
      for (const e of changedCode(f)) {
        if (e.kind !== 'function' || e.change !== 'changed') continue;
        const found = check(table, f, scope, e);
        if (found) out.push(found);
      }
    }
    return out;
  },
};
