/**
 * kpatch escape hatches (H24): KPATCH_IGNORE_SECTION, KPATCH_IGNORE_FUNCTION
 * and KPATCH_FORCE_UNSAFE switch off checks of kpatch-build; KPATCH_PRINTK and
 * the kpatch headers only exist in kpatch-build. Each needs a reviewer's look.
 */
import { finding, type Finding } from '../findings';
import type { Rule } from './index';
import { at, cFiles, changedCode, factsOf } from './util';

const HATCH: Record<string, string> = {
  KPATCH_IGNORE_SECTION: 'ignores changes in a whole section: make sure they are harmless side effects',
  KPATCH_IGNORE_FUNCTION: 'declares a changed function unchanged: its new code is not in the livepatch',
  KPATCH_FORCE_UNSAFE: 'bypassed the activeness safety check of the old kpatch core; with upstream livepatch it has no effect',
};

export const kpatchMacroRule: Rule = {
  id: 'kpatch-macro',
  run(ctx) {
    const out: Finding[] = [];
    for (const f of cFiles(ctx)) {
      for (const e of f.entities) {
        if (e.change === 'removed') continue;
        if (e.kind === 'invocation' && e.new?.entity.definedBy && e.new.entity.definedBy in HATCH) {
          const m = e.new.entity.definedBy;
          out.push(finding('KLP320', `${e.name}: ${m} ${HATCH[m]}. It exists only for kpatch-build: its header "kpatch-macros.h" is not on klp-build's include path, so the patch must be ported before klp-build can build it. Keep it only with a reviewer's sign-off.`, e.range, { file: f.path, data: { macro: m } }));
        }
        if (e.kind === 'include' && /kpatch(-macros|-syscall)?\.h/.test(e.name)) {
          out.push(finding('KLP320', `#include ${e.name} ties the patch to kpatch-build: klp-build and upstream livepatch use <linux/livepatch.h> and <linux/livepatch_helpers.h>.`, e.range, { file: f.path, severity: 'information', data: { include: e.name } }));
        }
      }
      for (const e of changedCode(f)) {
        const facts = factsOf(f, e, 'post');
        const p = facts?.calls.find((c) => /^KPATCH_PRINTK(_DEFERRED)?$/.test(c.name));
        if (p) out.push(finding('KLP320', `${e.name}() uses ${p.name}, kpatch's printk wrapper that avoids cold-path side effects; it exists only with kpatch-build.`, at(ctx, e, p.site, p.name.length), { file: f.path, severity: 'information', data: { macro: p.name } }));
      }
    }
    return out;
  },
};
