/**
 * Static calls (H12): static_call(name)(...) leaves a .static_call_sites entry
 * for the key __SCK__name; with the key in a module the entry is resolved too
 * late, like jump labels. kpatch-build: "Use KPATCH_STATIC_CALL() instead",
 * klp-build: "Use KLP_STATIC_CALL() instead".
 */
import { finding, type Finding } from '../findings';
import type { Rule } from './index';
import { at, cFiles, changedCode, factsOf } from './util';

export const staticCallRule: Rule = {
  id: 'static-call',
  run(ctx) {
    const out: Finding[] = [];
    for (const f of cFiles(ctx)) {
      for (const e of changedCode(f)) {
        const facts = factsOf(f, e, 'post');
        for (const call of facts?.calls ?? []) {
          const m = /^static_call(_cond|_mod)?\((.*)\)$/.exec(call.name);
          if (!m) continue;
          const name = m[2];
          const home = ctx.index?.staticCall(name);
          const inModule = home?.where === 'module' || (home === undefined && ctx.index?.objectKind(f.path) === 'module');
          const severity = inModule ? 'error' : home?.where === 'vmlinux' ? 'information' : 'warning';
          const why = inModule
            ? `its key __SCK__${name} is defined in a module, so the call site entry would be resolved after static-call init ran`
            : home?.where === 'vmlinux'
              ? `its key is in vmlinux (${home.file}), which the tools accept`
              : `whether its key __SCK__${name} lives in a module is unknown${ctx.tree ? '' : ' without a kernel tree'}; in a module it is rejected`;
          out.push(
            finding('KLP200', `static_call(${name}) in the patched ${e.name}(): ${why}. ${severity === 'information' ? 'No change needed.' : `Use KLP_STATIC_CALL(${name}) (<linux/livepatch_helpers.h>) or KPATCH_STATIC_CALL(${name}), an indirect call through the key.`}`, at(ctx, e, call.site, call.name.length), {
              file: f.path,
              severity,
              data: { entity: e.key, name },
            }),
          );
        }
      }
    }
    return out;
  },
};
