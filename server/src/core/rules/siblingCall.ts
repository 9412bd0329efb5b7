/**
 * Sibling (tail) calls on ppc64le (H16): a patched function that ends with
 * `return other(...)` may be compiled to a tail call that jumps across the
 * module boundary with the livepatch module's TOC, corrupting the caller's r2.
 * kpatch-build: "Found an unsupported sibling call". Only the ppc64le target.
 * A callee that is inlined (an inline function of the patch or, with the
 * index, an inline helper of the tree) or a function-like macro makes no call.
 */
import { finding, type Finding } from '../findings';
import type { Rule } from './index';
import { at, cFiles, changedCode, factsOf } from './util';

export const siblingCallRule: Rule = {
  id: 'sibling-call',
  run(ctx) {
    const out: Finding[] = [];
    if (!/^(ppc64le|ppc64|powerpc)$/.test(ctx.target.arch)) return out;
    const inlined = new Set<string>();
    for (const f of ctx.files) {
      for (const n of f.facts.scope.inlineFns) inlined.add(n);
      for (const e of f.entities) {
        for (const side of [e.old, e.new]) {
          const en = side?.entity;
          if (!en) continue;
          if (e.kind === 'macro' || (e.kind === 'function' && (en.storage.includes('inline') || side.annotations.includes('__always_inline')))) inlined.add(e.name);
        }
      }
    }
    const isInlined = (name: string) => inlined.has(name) || ctx.index?.inlineHelper(name) !== undefined || ctx.index?.isFunctionMacro(name) !== undefined;
    for (const f of cFiles(ctx)) {
      for (const e of changedCode(f)) {
        const t = factsOf(f, e, 'post')?.tailCall;
        if (!t || isInlined(t.callee)) continue;
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
