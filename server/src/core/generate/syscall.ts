/**
 * System calls in a livepatch. `SYSCALL_DEFINEn(name, …)` expands, per arch,
 * into entry wrappers (`__x64_sys_name`, `__ia32_sys_name`, `__arm64_sys_name`…)
 * that call an inline `__do_sys_name`: the body has no symbol of its own, so
 * the wrappers are what a livepatch replaces. The unit keeps the kernel's own
 * macro, renamed (`SYSCALL_DEFINEn(livepatch_name, …)`), so the target's
 * headers emit the arch's wrappers for the new body; `SYSCALL_METADATA` is
 * emptied first, so the module does not register a second set of syscall trace
 * events (what kpatch's KPATCH_SYSCALL_DEFINEn and klp-build's
 * KLP_SYSCALL_DEFINEn leave out too). Each wrapper the target has becomes a
 * klp_func.
 */
import type { SymbolTable } from '../symbols/table';

/** Entry wrapper prefixes per arch (asm/syscall_wrapper.h), for SYSCALL_DEFINE and COMPAT_SYSCALL_DEFINE. */
const WRAPPERS: Record<string, { native: string[]; compat: string[] }> = {
  x86_64: { native: ['__x64_sys_', '__ia32_sys_'], compat: ['__ia32_compat_sys_', '__x64_compat_sys_'] },
  arm64: { native: ['__arm64_sys_'], compat: ['__arm64_compat_sys_'] },
  s390x: { native: ['__s390x_sys_', '__s390_sys_'], compat: ['__s390_compat_sys_'] },
  ppc64le: { native: ['sys_'], compat: ['compat_sys_'] },
  loongarch64: { native: ['sys_'], compat: [] },
};

export const SYSCALL_MACRO = /^(?:KPATCH_|KLP_)?((?:COMPAT_)?SYSCALL_DEFINE)(\d)$/;

export interface SyscallStub {
  /** The target's wrapper, e.g. `__x64_sys_newuname`. */
  oldName: string;
  /** The module's wrapper, e.g. `__x64_sys_livepatch_newuname`. */
  newName: string;
}

/** Whether an arch's syscall wrappers are known. */
export function knowsSyscallArch(arch: string): boolean {
  return arch in WRAPPERS;
}

/**
 * The wrappers of syscall `name` the target has: from the symbol table when
 * there is one, else every native wrapper of the arch (the ia32 one only with
 * CONFIG_IA32_EMULATION).
 */
export function syscallStubs(arch: string, macro: string, name: string, table: SymbolTable | undefined, config: (s: string) => string | undefined): SyscallStub[] {
  const w = WRAPPERS[arch];
  if (!w) return [];
  const compat = /COMPAT_/.test(macro);
  const prefixes = compat ? w.compat : w.native;
  const present = (p: string) => {
    if (table) return table.has(p + name, 'vmlinux');
    if (p.startsWith('__ia32') || p === '__x64_compat_sys_') return config('IA32_EMULATION') === 'y' || (p === '__x64_compat_sys_' && config('X86_X32_ABI') === 'y');
    if (p === '__s390_sys_' || p === 'compat_sys_' || p === '__arm64_compat_sys_') return config('COMPAT') === 'y';
    return true;
  };
  return prefixes.filter(present).map((p) => ({ oldName: p + name, newName: `${p}livepatch_${name}` }));
}

/** The definition's first line, renamed: `KPATCH_SYSCALL_DEFINE1(newuname,` → `SYSCALL_DEFINE1(livepatch_newuname,`. */
export function renameSyscall(text: string, name: string): string {
  return text.replace(new RegExp(`\\b(?:KPATCH_|KLP_)?((?:COMPAT_)?SYSCALL_DEFINE\\d)\\s*\\(\\s*${name}\\b`), `$1(livepatch_${name}`);
}

/** Emitted once before the first system call of a unit. */
export const SYSCALL_PREAMBLE = [
  '/* system calls: the arch wrappers of the target headers, without a second set of syscall trace events */',
  '#include <linux/syscalls.h>',
  '#undef SYSCALL_METADATA',
  '#define SYSCALL_METADATA(sname, nb, ...)',
];
