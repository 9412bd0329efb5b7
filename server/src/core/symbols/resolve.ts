/**
 * What a name the livepatch code references is in the target kernel:
 *
 * - exported (Module.symvers): the module links against it as it is;
 * - present, not exported: a klp relocation to its object, with `sympos` when
 *   the name occurs more than once there. Which occurrence is the patched
 *   file's comes from the table's file names (a vmlinux's STT_FILE symbols),
 *   else from its neighbours: a translation unit's functions and data lie
 *   together, so the occurrence surrounded by other names of the patched file
 *   is that file's. When neither tells, the candidates are listed, never guessed;
 * - absent: a static the compiler inlined everywhere or folded away (its
 *   definition must travel with the module), or, for a global, an error.
 */
import { basename } from 'node:path';
import { isLocalType, type KernelSymbol, type SymbolTable } from './table';

export interface SymbolScope {
  /** Tree path of the file whose code references the name. */
  file: string;
  /** The object that file is built into: vmlinux or a module name. */
  object: string;
  /** File-scope names the file defines (functions and data): the neighbour evidence. */
  fileNames: ReadonlySet<string>;
}

export type Resolution =
  | { kind: 'exported' }
  | { kind: 'present'; object: string; sympos: number; symbol: KernelSymbol; evidence?: string }
  | { kind: 'ambiguous'; object: string; candidates: KernelSymbol[]; why: string }
  | { kind: 'absent'; object: string; moduleMissing?: boolean }
  | { kind: 'unknown' };

/** How many symbols around an occurrence are looked at for names of the patched file. */
const RADIUS = 12;

/** 0 when the name is unique in its object, else its 1-based position among the object's entries of that name. */
export function symposOf(table: SymbolTable, sym: KernelSymbol): number {
  const all = table.lookup(sym.name, sym.object);
  return all.length === 1 ? 0 : all.indexOf(sym) + 1;
}

/** The occurrence of a local name that belongs to `scope.file`, or why none can be chosen. */
export function chooseLocal(table: SymbolTable, name: string, scope: SymbolScope, candidates: KernelSymbol[]): { symbol?: KernelSymbol; evidence?: string; why?: string } {
  if (candidates.length === 1) return { symbol: candidates[0] };
  if (table.knowsFiles) {
    const base = basename(scope.file);
    const same = candidates.filter((c) => c.file === base);
    if (same.length === 1) return { symbol: same[0], evidence: `the symbol table says it comes from ${base}` };
    if (same.length > 1) candidates = same;
  }
  const scored = candidates.map((c) => {
    // only names unique in the object identify a translation unit (c_next lies next to every c_start)
    const near = table.neighbours(c, RADIUS).filter((n) => n.name !== name && scope.fileNames.has(n.name) && table.lookup(n.name, n.object).length === 1);
    return { c, near: [...new Set(near.map((n) => n.name))] };
  });
  scored.sort((a, b) => b.near.length - a.near.length);
  const [best, second] = scored;
  if (best.near.length > 0 && best.near.length > (second?.near.length ?? 0)) {
    return { symbol: best.c, evidence: `its neighbours in the symbol table (${best.near.slice(0, 4).join(', ')}) are defined in ${scope.file}` };
  }
  return { why: best.near.length > 0 ? `as many of ${scope.file}'s names lie next to two of them` : `no name of ${scope.file} lies next to any of them` };
}

/** Resolve a name referenced from `scope`; `local` when the file defines it static. */
export function resolveSymbol(table: SymbolTable | undefined, exported: (name: string) => boolean, name: string, scope: SymbolScope, local: boolean): Resolution {
  if (!local && exported(name)) return { kind: 'exported' };
  if (!table) return { kind: 'unknown' };
  if (local) return resolveLocal(table, name, scope);
  return resolveGlobal(table, name, scope);
}

function resolveLocal(table: SymbolTable, name: string, scope: SymbolScope): Resolution {
  if (scope.object !== 'vmlinux' && !table.hasObject(scope.object)) return { kind: 'absent', object: scope.object, moduleMissing: true };
  const candidates = table.lookup(name, scope.object).filter((s) => isLocalType(s.type));
  if (candidates.length === 0) return { kind: 'absent', object: scope.object };
  const pick = chooseLocal(table, name, scope, candidates);
  if (!pick.symbol) return { kind: 'ambiguous', object: scope.object, candidates, why: pick.why ?? '' };
  return { kind: 'present', object: scope.object, sympos: symposOf(table, pick.symbol), symbol: pick.symbol, evidence: pick.evidence };
}

function resolveGlobal(table: SymbolTable, name: string, scope: SymbolScope): Resolution {
  const all = table.lookup(name).filter((s) => !isLocalType(s.type));
  const inOwn = all.filter((s) => s.object === scope.object);
  const inVmlinux = all.filter((s) => s.object === 'vmlinux');
  const pool = inOwn.length ? inOwn : inVmlinux.length ? inVmlinux : all;
  if (pool.length === 0) return { kind: 'absent', object: scope.object };
  const sym = pool[0];
  return { kind: 'present', object: sym.object, sympos: symposOf(table, sym), symbol: sym };
}

/** "fs/proc/fd.c (vmlinux), seq_show: candidates 1 (near proc_readfd) and 2 (near nf_log_set)". */
export function describeCandidates(table: SymbolTable, candidates: KernelSymbol[]): string {
  return candidates
    .map((c) => {
      const pos = symposOf(table, c);
      const near = table
        .neighbours(c, 2)
        .map((n) => n.name)
        .slice(0, 2);
      return `sympos ${pos}${c.file ? ` in ${c.file}` : ''}${near.length ? ` (next to ${near.join(', ')})` : ''}`;
    })
    .join('; ');
}
