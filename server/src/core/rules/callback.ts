/**
 * Livepatch callbacks (H23): pre-patch pairs with post-unpatch, post-patch
 * with pre-unpatch. A set-up without its tear-down leaves state behind when
 * the patch is disabled (or replaced by a cumulative one).
 */
import { finding, type Finding } from '../findings';
import type { Rule } from './index';
import { cFiles, fileRange, list } from './util';

const MACRO = /^(KPATCH|KLP)_(PRE|POST)_(PATCH|UNPATCH)_CALLBACK$/;

export const callbackRule: Rule = {
  id: 'callback',
  run(ctx) {
    const out: Finding[] = [];
    // callbacks of the whole patch: a livepatch may register its set-up in one file and its tear-down in another
    const all = new Map<string, string>();
    for (const f of cFiles(ctx)) {
      for (const inv of f.facts.scope.invocations) {
        const m = MACRO.exec(inv.macro);
        if (m) all.set(`${m[2].toLowerCase()}_${m[3].toLowerCase()}`, inv.args[0] ?? '?');
      }
      for (const cb of f.facts.scope.callbackFields) all.set(cb.field, cb.fn);
    }
    for (const f of cFiles(ctx)) {
      const found = new Map<string, string>();
      for (const inv of f.facts.scope.invocations) {
        const m = MACRO.exec(inv.macro);
        if (m) found.set(`${m[2].toLowerCase()}_${m[3].toLowerCase()}`, inv.args[0] ?? '?');
      }
      for (const cb of f.facts.scope.callbackFields) found.set(cb.field, cb.fn);
      if (found.size === 0) continue;
      const pairs: [string, string][] = [
        ['pre_patch', 'post_unpatch'],
        ['post_patch', 'pre_unpatch'],
      ];
      out.push(finding('KLP311', `${f.path} registers livepatch callbacks: ${list([...found].map(([k, v]) => `${k} → ${v}()`))}. They run around the transition, only while the target object is loaded; with cumulative replace only the newest patch's callbacks run.`, fileRange(ctx, f), { file: f.path, data: { callbacks: Object.fromEntries(found) } }));
      // a set-up without its tear-down leaves state behind; a lone tear-down (e.g. klp_shadow_free_all in post_unpatch) is fine
      for (const [setup, teardown] of pairs) {
        if (!found.has(setup) || all.has(teardown)) continue;
        out.push(
          finding('KLP310', `${f.path} has a ${setup} callback (${found.get(setup)}()) but the patch has no ${teardown} callback: what it sets up is never undone when the livepatch is disabled or replaced. Add the matching ${teardown} callback.`, fileRange(ctx, f), {
            file: f.path,
            data: { have: setup, missing: teardown },
          }),
        );
      }
    }
    return out;
  },
};
