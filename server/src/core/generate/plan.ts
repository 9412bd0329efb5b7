/**
 * Which functions of the target a unit replaces. A changed function the
 * target has is replaced (with `old_sympos` when its name occurs more than
 * once); a changed static function the target does not have was inlined into
 * its callers (or cloned: `.isra`, `.constprop`, `.part` copies with another
 * calling convention), so the callers are replaced instead, walking up until a
 * caller the target has. A changed system call replaces its arch wrappers.
 */
import type { Side } from '../entities/diff';
import type { Entity } from '../entities/extract';
import { describeCandidates, resolveSymbol, type SymbolScope } from '../symbols/resolve';
import type { SymbolTable } from '../symbols/table';
import { identifiers } from './decls';
import { syscallStubs, SYSCALL_MACRO } from './syscall';
import type { GenerateProblem } from './types';

export interface ReplacedFunction {
  /** The C name in the patched file (the syscall's name for a syscall). */
  name: string;
  /** The target's symbol the klp_func names. */
  oldName: string;
  /** The module's function. */
  newName: string;
  sympos: number;
  /** Why it is replaced although the patch does not change it. */
  reason?: string;
  syscall?: boolean;
  entity: Entity;
}

export interface PlanInput {
  path: string;
  side: Side;
  object: string;
  /** Changed functions and syscalls of the file (post side). */
  changed: Entity[];
  table?: SymbolTable;
  scope: SymbolScope;
  arch: string;
  config: (s: string) => string | undefined;
  /** Names the module already uses for replaced functions (other units). */
  taken: Set<string>;
}

const MAX_DEPTH = 8;

export function isStatic(e: Entity): boolean {
  return e.storage.includes('static');
}

/** Functions of the file whose body names `name` (the call sites an inlined copy lives in). */
export function callersOf(side: Side, name: string): Entity[] {
  return side.ents.entities.filter((e) => (e.kind === 'function' || e.kind === 'syscall') && e.name !== name && [e.node, ...(e.extra ?? []).map((x) => x.node)].some((n) => identifiers(n).some((id) => id.text === name)));
}

export function planReplacements(input: PlanInput, problems: GenerateProblem[]): ReplacedFunction[] {
  const out = new Map<string, ReplacedFunction>();
  for (const e of input.changed) {
    if (e.kind === 'syscall') addSyscall(input, e, out, problems);
    else replaceOrCallers(input, e, undefined, 0, out, problems);
  }
  return [...out.values()];
}

function newNameFor(input: PlanInput, name: string): string {
  let n = `livepatch_${name}`;
  if (input.taken.has(n)) n = `livepatch_${input.scope.file.replace(/\W+/g, '_')}_${name}`;
  input.taken.add(n);
  return n;
}

function addSyscall(input: PlanInput, e: Entity, out: Map<string, ReplacedFunction>, problems: GenerateProblem[]): void {
  const macro = e.definedBy ?? 'SYSCALL_DEFINE';
  const stubs = syscallStubs(input.arch, macro.replace(/^(KPATCH_|KLP_)/, ''), e.name, input.table, input.config);
  if (stubs.length === 0) {
    problems.push({ severity: 'error', message: `${input.path}: no entry wrapper of the system call ${e.name} is known for ${input.arch}${input.table ? ` in ${input.table.path}` : ''}: nothing to replace.`, file: input.path });
    return;
  }
  for (const s of stubs) out.set(s.oldName, { name: e.name, oldName: s.oldName, newName: s.newName, sympos: 0, syscall: true, entity: e });
  if (!SYSCALL_MACRO.test(macro)) problems.push({ severity: 'warning', message: `${input.path}: ${macro}(${e.name}) is replaced through the wrappers ${stubs.map((s) => s.oldName).join(', ')}.`, file: input.path });
}

function replaceOrCallers(input: PlanInput, e: Entity, via: string | undefined, depth: number, out: Map<string, ReplacedFunction>, problems: GenerateProblem[]): void {
  if (out.has(e.name)) return;
  const reason = via ? `the target inlined ${via}() into it` : undefined;
  if (e.kind === 'syscall') return addSyscall(input, e, out, problems);
  const r = resolveSymbol(input.table, () => false, e.name, input.scope, isStatic(e));
  if (r.kind === 'present' || r.kind === 'unknown' || (r.kind === 'absent' && r.moduleMissing)) {
    out.set(e.name, { name: e.name, oldName: e.name, newName: newNameFor(input, e.name), sympos: r.kind === 'present' ? r.sympos : 0, reason, entity: e });
    return;
  }
  if (r.kind === 'ambiguous') {
    problems.push({ severity: 'error', message: `${input.path}: ${e.name}() occurs ${r.candidates.length} times in ${input.table!.path} (${r.object}) and ${r.why}: ${describeCandidates(input.table!, r.candidates)}. Name the position with a vmlinux symbol table (its STT_FILE symbols say which is ${input.path}'s).`, file: input.path });
    return;
  }
  if (!isStatic(e)) {
    problems.push({ severity: 'error', message: `${input.path}: ${e.name}() is global but not in the target's symbol table (${input.table!.path}): the table is not the target kernel's, or the function is configured out.`, file: input.path });
    return;
  }
  const callers = callersOf(input.side, e.name).filter((c) => !c.annotations.some((a) => a.name === '__init' || a.name === '__exit'));
  if (callers.length === 0 || depth >= MAX_DEPTH) {
    problems.push({ severity: 'error', message: `${input.path}: ${e.name}() is not in the target's symbol table and no function of the file that the target has calls it: nothing to replace.`, file: input.path });
    return;
  }
  for (const c of callers) replaceOrCallers(input, c, e.name, depth + 1, out, problems);
}
