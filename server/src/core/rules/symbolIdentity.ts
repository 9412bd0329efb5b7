/**
 * Symbol identity (H20): static↔global changes break symbol correlation
 * ("symbol info mismatch"); removed functions stay in the kernel and unpatched
 * callers keep calling them; renamed functions are new functions; a pointer to
 * a function that exists only in the livepatch module dangles once the module
 * is gone.
 */
import { finding, type Finding } from '../findings';
import type { EntityChange } from '../entities/diff';
import { normalizeC } from '../syntax/normalize';
import type { Rule } from './index';
import { at, cFiles, list } from './util';

function similarity(a: string, b: string): number {
  const ta = normalizeC(a).split(' ');
  const tb = normalizeC(b).split(' ');
  if (ta.length === 0 || tb.length === 0) return 0;
  const count = new Map<string, number>();
  for (const t of ta) count.set(t, (count.get(t) ?? 0) + 1);
  let common = 0;
  for (const t of tb) {
    const n = count.get(t) ?? 0;
    if (n > 0) {
      common++;
      count.set(t, n - 1);
    }
  }
  return (2 * common) / (ta.length + tb.length);
}

function bodyOf(text: string): string {
  const k = text.indexOf('{');
  return k >= 0 ? text.slice(k) : text;
}

export const symbolIdentityRule: Rule = {
  id: 'symbol-identity',
  run(ctx) {
    const out: Finding[] = [];
    for (const f of cFiles(ctx)) {
      const removed = f.entities.filter((e) => e.kind === 'function' && e.change === 'removed');
      const added = f.entities.filter((e) => e.kind === 'function' && e.change === 'added');
      const renamed = new Map<EntityChange, EntityChange>();
      for (const r of removed) {
        const best = added.map((a) => ({ a, s: similarity(bodyOf(r.old?.text ?? ''), bodyOf(a.new?.text ?? '')) })).sort((x, y) => y.s - x.s)[0];
        if (best && best.s >= 0.8 && ![...renamed.values()].includes(best.a)) renamed.set(r, best.a);
      }
      for (const [r, a] of renamed) {
        out.push(
          finding('KLP283', `${r.name}() is renamed to ${a.name}(): to livepatch tools this is a removed and a new function. The original ${r.name}() stays in the kernel, and callers that the livepatch does not replace keep calling it. Keep the old name in the livepatch, or patch every caller.`, a.range, {
            file: f.path,
            related: [{ message: `${r.name}() removed`, range: r.range }],
            data: { from: r.name, to: a.name },
          }),
        );
      }
      for (const e of f.entities) {
        // bindings are compared only where both declarations are in view (not a hunk heading)
        if ((e.kind === 'function' || e.kind === 'variable') && e.change === 'changed' && e.old && e.new && !e.old.entity.synthetic && !e.new.entity.synthetic) {
          const was = e.old?.entity.storage.includes('static') ?? false;
          const now = e.new?.entity.storage.includes('static') ?? false;
          if (was !== now) {
            out.push(
              finding('KLP280', `${e.name} ${now ? 'becomes static' : 'is no longer static'}: the symbol's binding changes, so the tools cannot correlate it with the original (kpatch-build: "symbol info mismatch: ${e.name}"). Keep the original binding in the livepatch.`, e.range, {
                file: f.path,
                data: { entity: e.key, static: now },
              }),
            );
          }
        }
        if (e.kind !== 'function') continue;
        if (e.change === 'removed' && !renamed.has(e)) {
          out.push(
            finding('KLP281', `${e.name}() is removed, but a livepatch cannot remove code: the original stays in the running kernel and every caller the livepatch does not replace still calls it. Make sure all its callers are patched, or keep it unchanged.`, e.range, {
              file: f.path,
              data: { entity: e.key },
            }),
          );
        } else if (e.change === 'added' && ![...renamed.values()].includes(e)) {
          const isStatic = e.new?.entity.storage.includes('static');
          out.push(
            finding('KLP282', `${e.name}() is new: it lives in the livepatch module and only patched code can call it${isStatic ? '' : ' (a livepatch exports nothing, so other modules cannot link to it even though it is not static)'}.`, e.range, {
              file: f.path,
              data: { entity: e.key },
            }),
          );
        }
      }
      // function pointers taken in patched code
      const newFns = new Set(added.map((e) => e.name));
      for (const [, facts] of f.facts.post) {
        const refs = facts.fnRefs.filter((r) => r.site.changed);
        if (refs.length === 0) continue;
        const toNew = refs.filter((r) => newFns.has(r.name));
        const e = f.entities.find((x) => x.key === facts.key);
        if (!e) continue;
        if (toNew.length) {
          out.push(
            finding('KLP284', `${facts.name}() stores a pointer to ${list(toNew.map((r) => r.name + '()'))}, which exists only in the livepatch module: if the pointer outlives the patch (a callback registered on an object, a work item, a timer), it dangles once the livepatch is disabled and removed. Unregister it on unpatch, or point to an original function.`, at(ctx, e, toNew[0].site, toNew[0].name.length), {
              file: f.path,
              severity: 'warning',
              data: { entity: e.key, functions: toNew.map((r) => r.name) },
            }),
          );
        } else {
          out.push(
            finding('KLP284', `${facts.name}() takes the address of ${list(refs.map((r) => r.name + '()'))}: in the livepatch this resolves to the original function (a klp relocation), which ftrace redirects to the patched version while the patch is enabled.`, at(ctx, e, refs[0].site, refs[0].name.length), {
              file: f.path,
              data: { entity: e.key, functions: refs.map((r) => r.name) },
            }),
          );
        }
      }
    }
    return out;
  },
};
