/**
 * Hidden statics of macros (H05): WARN_ONCE/pr_*_once flags, ratelimit state,
 * lockdep class keys of spin_lock_init/mutex_init/... The tools never correlate
 * them with the originals, so a patched function gets fresh copies: a once
 * warning can fire again, ratelimiting starts over, locks initialised by the
 * patched code get a new lockdep class.
 */
import { finding, type Finding } from '../findings';
import type { Rule } from './index';
import { at, cFiles, changedCode, factsOf, list } from './util';
import { LOCKDEP_INITS, ONCE_MACROS } from '../facts/ops';

export const onceMacroRule: Rule = {
  id: 'once-macro',
  run(ctx) {
    const out: Finding[] = [];
    for (const f of cFiles(ctx)) {
      for (const e of changedCode(f)) {
        const facts = factsOf(f, e, 'post');
        if (!facts) continue;
        const once = facts.calls.filter((c) => ONCE_MACROS.test(c.name));
        const lockdep = facts.calls.filter((c) => LOCKDEP_INITS.test(c.name));
        if (once.length === 0 && lockdep.length === 0) continue;
        const parts: string[] = [];
        if (once.length) parts.push(`${list(once.map((c) => c.name))} get a fresh once/ratelimit state in the livepatch (a warning that already fired can fire again)`);
        if (lockdep.length) parts.push(`locks set up by ${list(lockdep.map((c) => c.name))} get a new lockdep class key, separate from the original's`);
        const first = [...once, ...lockdep].sort((x, y) => Number(y.site.changed) - Number(x.site.changed))[0];
        out.push(
          finding('KLP130', `In the patched ${e.name}(), ${parts.join('; ')}. This is usually harmless; on kernels that keep printk_once flags in .data..read_mostly kpatch-build rejects it — use a plain static bool there.`, at(ctx, e, first.site, first.name.length), {
            file: f.path,
            data: { entity: e.key, macros: [...new Set([...once, ...lockdep].map((c) => c.name))] },
          }),
        );
      }
    }
    return out;
  },
};
