/**
 * KLP210: a changed `SYSCALL_DEFINEn(name, …)` body → `KPATCH_SYSCALL_DEFINEn`
 * ("kpatch-syscall.h", kpatch-build) or `KLP_SYSCALL_DEFINEn`
 * (<linux/livepatch_helpers.h>, klp-build). The kernel's macro puts the body
 * in an inline, notrace __do_sys_<name>() that livepatch cannot redirect; the
 * livepatch macros make the body a new function called from the patched
 * __x64_sys_<name>() stub. Compat entries have no such macro and are refused.
 */
import type { Fix } from './index';
import { FixError } from './patchEdit';
import { includeOrNote, fileOf, postEntity, postSide, PostEditor } from './edit';
import type { BuildTool } from '../rules';

function syscallMacros(tool: BuildTool): { prefix: string; header: string } {
  return tool === 'klp-build' ? { prefix: 'KLP_', header: '<linux/livepatch_helpers.h>' } : { prefix: 'KPATCH_', header: '"kpatch-syscall.h"' };
}

export const syscallFix = {
  id: 'syscall-define',
  codes: ['KLP210'],
  title(ctx) {
    const { prefix } = syscallMacros(ctx.target.tool);
    return `Define the system call with ${prefix}SYSCALL_DEFINEn (${ctx.target.tool})`;
  },
  plan(ctx, finding) {
    const f = fileOf(ctx, finding);
    const side = postSide(f);
    const e = postEntity(f, finding);
    const macro = e.definedBy ?? '';
    if (/^COMPAT_/.test(macro)) throw new FixError(`${macro}(${e.name}) has no livepatch variant: move the fix into the helper the compat entry calls`);
    const m = /^SYSCALL_DEFINE([0-6])$/.exec(macro);
    if (!m) throw new FixError(`${e.name} is not defined with SYSCALL_DEFINEn`);
    const { prefix, header } = syscallMacros(ctx.target.tool);
    const row = e.nameRow >= 0 ? e.nameRow : e.node.startPosition.row;
    const line = side.src.toImage[row] ?? -1;
    const text = line >= 0 ? f.post.lines[line] : undefined;
    const col = text?.indexOf(macro) ?? -1;
    if (line < 0 || text === undefined || col < 0) throw new FixError(`the line ${macro}(${e.name}, …) is not in the patch; a kernel tree is needed to rewrite it`);
    const ed = new PostEditor(f).replace(line, col, macro.length, `${prefix}${macro}`);
    const notes = [`${e.name}: the body is now a new function the livepatch calls from the patched system-call stub.`];
    includeOrNote(ed, header, notes);
    return { files: [{ file: f, edits: ed.edits() }], notes };
  },
} satisfies Fix;
