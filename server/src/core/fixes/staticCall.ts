/**
 * KLP200: `static_call(name)(args)` in patched code → an indirect call through
 * the key, `KPATCH_STATIC_CALL(name)(args)` ("kpatch-macros.h", kpatch-build)
 * or `KLP_STATIC_CALL(name)(args)` (<linux/livepatch_helpers.h>, klp-build):
 * no .static_call_sites entry for the livepatch. `static_call_cond` may have
 * no target (the call does nothing then): it is left to the author.
 */
import type { Fix } from './index';
import { FixError } from './patchEdit';
import { includeOrNote, calleeName, fileOf, imageLine, nodesOf, postEntity, postSide, PostEditor } from './edit';
import type { BuildTool } from '../rules';

export function helperMacros(tool: BuildTool): { staticCall: string; header: string } {
  return tool === 'klp-build' ? { staticCall: 'KLP_STATIC_CALL', header: '<linux/livepatch_helpers.h>' } : { staticCall: 'KPATCH_STATIC_CALL', header: '"kpatch-macros.h"' };
}

export const staticCallFix = {
  id: 'static-call-macro',
  codes: ['KLP200'],
  title(ctx, finding) {
    if (finding.severity === 'information') return undefined;
    const name = (finding.data as { name?: string } | undefined)?.name;
    if (!name) return undefined;
    return `Call ${name} through ${helperMacros(ctx.target.tool).staticCall}(${name}) (${ctx.target.tool})`;
  },
  plan(ctx, finding) {
    const f = fileOf(ctx, finding);
    const side = postSide(f);
    const e = postEntity(f, finding);
    const name = (finding.data as { name: string }).name;
    const { staticCall, header } = helperMacros(ctx.target.tool);
    const ed = new PostEditor(f);
    let n = 0;
    let cond = 0;
    for (const call of nodesOf(e, 'call_expression')) {
      const inner = call.childForFieldName('function');
      if (inner?.type !== 'call_expression') continue;
      const macro = calleeName(inner);
      const arg = inner.childForFieldName('arguments')?.namedChildren.find((a) => a && a.type !== 'comment')?.text.trim();
      if (arg !== name) continue;
      if (macro === 'static_call_cond') {
        cond++;
        continue;
      }
      if (macro !== 'static_call' && macro !== 'static_call_mod') continue;
      const id = inner.childForFieldName('function')!;
      const line = imageLine(side, id);
      if (line < 0) continue;
      ed.replace(line, id.startPosition.column, macro.length, staticCall);
      n++;
    }
    if (n === 0) throw new FixError(cond ? `static_call_cond(${name}) may have no target; test ${staticCall}(${name}) for NULL by hand` : `no static_call(${name}) found in the new ${e.name}()`);
    const notes = [`${e.name}() calls ${name} indirectly through ${staticCall}(${name}): the static call's current target, read at each call.`];
    includeOrNote(ed, header, notes);
    if (cond) notes.push(`static_call_cond(${name}) was left as it is: its target may be NULL; call ${staticCall}(${name}) only after testing it.`);
    return { files: [{ file: f, edits: ed.edits() }], notes };
  },
} satisfies Fix;
