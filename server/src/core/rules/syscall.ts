/**
 * System calls (H18): SYSCALL_DEFINEn(name, ...) puts the body in an inline
 * __do_sys_name(), and inline implies notrace, so the body cannot be
 * redirected. The fix: KLP_SYSCALL_DEFINEn (<linux/livepatch_helpers.h>) or
 * kpatch's KPATCH_SYSCALL_DEFINEn ("kpatch-syscall.h"), which make the body a
 * new function called from the patchable __x64_sys_name stub.
 */
import { finding, type Finding } from '../findings';
import type { Rule } from './index';
import { cFiles } from './util';

/**
 * A changed body: a warning, since the build fails only when the compiler keeps __do_sys_NAME out of
 * line. Usually it is inlined into the traced __se_sys_NAME wrapper (static inline, one caller), the
 * wrapper's object code changes, and the tools replace the wrapper; vendors have shipped such fixes.
 */
function bodyMessage(macro: string, name: string, n: string, compat: boolean): string {
  const inner = `__do_${compat ? 'compat_' : ''}sys_${name}()`;
  const outer = `__se_${compat ? 'compat_' : ''}sys_${name}()`;
  const fix = compat
    ? 'To be sure, move the fix into a helper function the compat entry calls and patch that'
    : `To be sure either way, define it with KLP_SYSCALL_DEFINE${n}(${name}, …) and <linux/livepatch_helpers.h> (klp-build) or KPATCH_SYSCALL_DEFINE${n} and "kpatch-syscall.h" (kpatch-build); the quick fix does, and klp-lens generate builds from that`;
  return (
    `${macro}(${name}) changes: its body is the static inline (so notrace) ${inner}. When the compiler inlines it into the traced ${outer} (the usual case), ` +
    `kpatch-build and klp-build see ${outer} change and replace it; when ${inner} is kept out of line, kpatch-build fails on it (no ftrace entry) and the change cannot be patched as it is. ${fix}.`
  );
}

export const syscallRule: Rule = {
  id: 'syscall',
  run(ctx) {
    const out: Finding[] = [];
    for (const f of cFiles(ctx)) {
      for (const e of f.entities) {
        if (e.kind !== 'syscall' || e.change === 'removed' || (e.aspects.length === 1 && e.aspects[0] === 'cosmetic')) continue;
        const macro = e.new?.entity.definedBy ?? e.old?.entity.definedBy ?? 'SYSCALL_DEFINEn';
        // already defined with the livepatch tools' macro: patchable as it is
        if (/^(KLP|KPATCH)_SYSCALL_DEFINE/.test(e.new?.entity.definedBy ?? '')) continue;
        const n = /(\d)$/.exec(macro)?.[1] ?? 'n';
        const compat = macro.startsWith('COMPAT_');
        out.push(
          finding(
            'KLP210',
            e.change === 'added'
              ? `${macro}(${e.name}) adds a system call: a livepatch cannot add entries to the system call table. Keep the fix inside existing system calls.`
              : bodyMessage(macro, e.name, n, compat),
            e.range,
            { file: f.path, ...(e.change === 'added' ? { severity: 'error' as const } : {}), data: { entity: e.key, macro, syscall: e.name } },
          ),
        );
      }
    }
    return out;
  },
};
