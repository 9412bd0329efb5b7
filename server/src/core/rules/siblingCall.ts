/**
 * Sibling (tail) calls on ppc64le (H16): a patched function that ends with
 * `return other(...)` may be compiled to a tail call that jumps across the
 * module boundary with the livepatch module's TOC, corrupting the caller's r2.
 * kpatch-build: "Found an unsupported sibling call". Only the ppc64le target.
 */
import { finding, type Finding } from '../findings';
import type { Rule } from './index';
import { at, cFiles, changedCode, factsOf } from './util';

export const siblingCallRule: Rule = {
  id: 'sibling-call',
  run(ctx) {
    const out: Finding[] = [];
    if (!/^(ppc64le|ppc64|powerpc)$/.test(ctx.target.arch)) return out;
    for (const f of cFiles(ctx)) {
      for (const e of changedCode(f)) {
        const t = factsOf(f, e, 'post')?.tailCall;
        if (!t) continue;
        out.push(
          finding('KLP250', `${e.name}() ends with return ${t.callee}(...): on ${ctx.target.arch} the compiler may turn it into a sibling call, which from the livepatch module corrupts the caller's TOC (kpatch-build: "unsupported sibling call"). Add __attribute__((optimize("-fno-optimize-sibling-calls"))) to ${e.name}() in the livepatch.`, at(ctx, e, t.site, t.callee.length), {
            file: f.path,
            data: { entity: e.key, callee: t.callee },
          }),
        );
      }
    }
    return out;
  },
};
