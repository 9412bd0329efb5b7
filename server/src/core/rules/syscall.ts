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
              : `${macro}(${e.name}) changes: the body is the inline (and so notrace) __do_${compat ? 'compat_' : ''}sys_${e.name}(), which livepatch cannot redirect. ${compat ? 'Patch the compat entry through a helper function it calls' : `In the livepatch use KLP_SYSCALL_DEFINE${n}(${e.name}, …) with <linux/livepatch_helpers.h> (klp-build) or KPATCH_SYSCALL_DEFINE${n} with "kpatch-syscall.h" (kpatch-build)`}.`,
            e.range,
            { file: f.path, data: { entity: e.key, macro, syscall: e.name } },
          ),
        );
      }
    }
    return out;
  },
};
