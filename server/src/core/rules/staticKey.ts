/**
 * Jump labels and static keys (H11). A patched function that uses
 * static_branch_likely/unlikely or static_key_true/false gets a __jump_table
 * entry for the key. When the key lives in a module that may load after the
 * livepatch, the entry's klp relocation is resolved after jump-label init ran
 * and the entry is corrupt, so kpatch-build and klp-build reject it; before
 * Linux 5.8 kpatch-build rejects every jump label in patched code. Tracepoints
 * and pr_debug/dev_dbg use keys too: with a module key they are silently
 * dropped (the trace event or debug print goes dead in the patched function).
 */
import { finding, type Finding } from '../findings';
import type { FileAnalysis } from '../analysis';
import type { Rule, RuleContext, ObjectKind } from './index';
import { at, cFiles, changedCode, factsOf, kernelAtLeast, list } from './util';
import { DYNAMIC_DEBUG, JUMP_LABELS, KEY_UPDATES, TRACEPOINT } from '../facts/ops';

const NOT_TRACEPOINTS = /^trace_(printk|puts|seq_\w+|array_\w+|dump_stack|event_\w+|handle_return|define_field|output_call|clock\w*|recursion\w*|\w+_enabled_noop)$/;

/** The key named by a jump-label argument: &foo, &foo.key, foo[i] → foo. */
export function keyName(arg: string | undefined): string {
  return (arg ?? '').replace(/^&\s*/, '').replace(/\s*(\.|->)\s*key$/, '').replace(/\s*\[.*\]$/, '').replace(/\s+/g, '');
}

/** Where a key is defined: the index, the patch itself, or unknown. */
function keyHome(ctx: RuleContext, f: FileAnalysis, key: string): { where: ObjectKind | 'patch'; file?: string } {
  for (const file of ctx.files) {
    const def = file.entities.find((e) => e.kind === 'variable' && e.name === key && /STATIC_KEY/.test(e.new?.entity.definedBy ?? ''));
    if (def?.change === 'added') return { where: 'patch', file: file.path };
  }
  const idx = ctx.index?.staticKey(key);
  if (idx) return { where: idx.where, file: idx.file };
  // defined in the patched file itself: where that file is built
  if (f.facts.scope.staticKeys.has(key) && ctx.index) return { where: ctx.index.objectKind(f.path), file: f.path };
  return { where: 'unknown' };
}

export const staticKeyRule: Rule = {
  id: 'static-key',
  run(ctx) {
    const out: Finding[] = [];
    const pre58 = kernelAtLeast(ctx, 5, 8) === false;
    for (const f of cFiles(ctx)) {
      const fileKind = ctx.index?.objectKind(f.path);
      for (const e of changedCode(f)) {
        const facts = factsOf(f, e, 'post');
        if (!facts) continue;
        for (const call of facts.calls) {
          if (JUMP_LABELS.test(call.name)) {
            const key = keyName(call.args[0]);
            const home = keyHome(ctx, f, key);
            let severity: 'error' | 'warning' | 'information';
            let why: string;
            if (pre58) {
              severity = 'error';
              why = `the target kernel ${ctx.target.kernel?.text} is older than 5.8, where kpatch-build rejects every jump label in patched code ("Jump labels aren't supported with this kernel")`;
            } else if (home.where === 'module') {
              severity = 'error';
              why = `the key is defined in a module (${home.file}): its __jump_table entry would be resolved after jump-label init ran (kpatch-build: "which is defined in a module"; klp-build: "unsupported static branch key")`;
            } else if (home.where === 'vmlinux' || home.where === 'patch') {
              severity = 'information';
              why = home.where === 'patch' ? 'the key is new in the patch, so it lives in the livepatch module itself; the tools accept it' : `the key is in vmlinux (${home.file}), which the tools accept from Linux 5.8 on`;
            } else {
              severity = 'warning';
              why = home.file
                ? `the key is defined in ${home.file}, which is built into vmlinux or as a module depending on the kernel configuration${ctx.index?.hasConfig ? '' : ' (no .config in the tree)'}: in a module it is rejected`
                : ctx.tree
                  ? `the key ${key} was not found in the tree${ctx.index ? "'s index" : ' (its index is not built yet)'}, so whether it lives in vmlinux (accepted from 5.8) or in a module (rejected) is unknown`
                  : 'without a kernel tree it is unknown whether the key lives in vmlinux (accepted from 5.8) or in a module (rejected)';
            }
            out.push(
              finding('KLP190', `${call.name}(&${key}) in the patched ${e.name}(): ${why}. ${severity === 'information' ? 'No change needed.' : `Use static_key_enabled(&${key}) instead (a plain test, no jump label).`}`, at(ctx, e, call.site, call.name.length), {
                file: f.path,
                severity,
                data: { entity: e.key, key, where: home.where, call: call.name },
              }),
            );
          } else if (KEY_UPDATES.test(call.name) && call.site.changed) {
            const key = keyName(call.args[0]);
            out.push(finding('KLP193', `${e.name}() now changes the state of ${key} with ${call.name}(): this flips code in the original functions too, not only in the livepatch. Make sure old code expects the new state, and restore it on unpatch.`, at(ctx, e, call.site, call.name.length), { file: f.path, data: { entity: e.key, key } }));
          }
        }
        const traces = facts.calls.filter((c) => (TRACEPOINT.test(c.name) && !NOT_TRACEPOINTS.test(c.name)) || DYNAMIC_DEBUG.test(c.name));
        if (traces.length) {
          const names = list(traces.map((c) => c.name));
          const first = traces.sort((x, y) => Number(y.site.changed) - Number(x.site.changed))[0];
          const inModule = fileKind === 'module';
          if (inModule || fileKind === undefined || fileKind === 'unknown') {
            out.push(
              finding(
                'KLP191',
                inModule
                  ? `${names} in the patched ${e.name}(): ${f.path} is built as a module, so these tracepoint/dynamic-debug keys live in it and the tools drop their entries from the livepatch (klp-build: "disabling unsupported tracepoint"): they stay silent in the patched function. Accept that, or emit them from a function of the module the livepatch does not replace.`
                  : `${names} in the patched ${e.name}() use static keys: if ${f.path} is built as a module, the tools drop these entries and they stay silent in the patched function${ctx.index ? '' : ' (with an indexed kernel tree this is checked)'}.`,
                at(ctx, e, first.site, first.name.length),
                { file: f.path, severity: inModule ? 'warning' : 'information', data: { entity: e.key, calls: traces.map((c) => c.name) } },
              ),
            );
          }
        }
        // keys reached through unchanged inline helpers (needs the index)
        if (ctx.index) {
          for (const call of facts.calls) {
            const helper = ctx.index.inlineHelper(call.name);
            if (!helper || helper.keys.length === 0) continue;
            const homes = helper.keys.map((k) => ({ k, home: ctx.index!.staticKey(k) }));
            const bad = homes.filter((h) => h.home?.where === 'module' || pre58);
            const fine = homes.every((h) => h.home?.where === 'vmlinux');
            out.push(
              finding(
                'KLP192',
                `The patched ${e.name}() calls ${call.name}() (${helper.file}), an inline helper that uses the static key${helper.keys.length > 1 ? 's' : ''} ${list(helper.keys)}: inlined, its jump label lands in the patched function. ${bad.length ? `${list(bad.map((b) => b.k))} ${pre58 ? 'cannot be used on kernels before 5.8' : 'is defined in a module'}, so the build is rejected — avoid the helper or copy it with static_key_enabled().` : fine ? 'The key is in vmlinux, which the tools accept from 5.8 on.' : 'Where the key lives is unknown: check it.'}`,
                at(ctx, e, call.site, call.name.length),
                { file: f.path, severity: bad.length ? 'error' : fine ? 'information' : 'warning', data: { entity: e.key, helper: call.name, keys: helper.keys } },
              ),
            );
          }
        }
      }
    }
    return out;
  },
};
