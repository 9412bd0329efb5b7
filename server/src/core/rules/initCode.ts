/**
 * Init and exit code (H08): __init/__exit functions, initcalls and boot
 * parameter handlers have run already (and __init memory is freed); __initdata
 * is gone; a driver's probe only runs for devices bound after patching.
 * kpatch-build stops with "changed section .init.text not selected for inclusion".
 */
import { finding, type Finding } from '../findings';
import type { Rule } from './index';
import { cFiles, changedCode, list } from './util';

const INIT_TEXT = new Set(['__init', '__exit', '__meminit', '__cpuinit', '__devinit', '__devexit', '__init_or_module', '__init_memblock']);
const INIT_DATA = new Set(['__initdata', '__initconst', '__meminitdata', '__meminitconst', '__exitdata', '__devinitdata', '__cpuinitdata', '__initdata_memblock']);
const INITCALLS = /^(module_init|module_exit|(early|pure|core|postcore|arch|subsys|fs|rootfs|device|late)_initcall(_sync)?|__initcall|__exitcall|console_initcall|security_initcall|early_param|__setup|core_param|postcore_initcall|late_initcall_sync)$/;

export const initCodeRule: Rule = {
  id: 'init-code',
  run(ctx) {
    const out: Finding[] = [];
    for (const f of cFiles(ctx)) {
      const registered = new Map<string, string>();
      for (const inv of f.facts.scope.invocations) {
        if (!INITCALLS.test(inv.macro)) continue;
        for (const a of inv.args) if (/^[A-Za-z_]\w*$/.test(a)) registered.set(a, inv.macro);
      }
      for (const e of changedCode(f)) {
        const ann = [...new Set([...(e.old?.annotations ?? []), ...(e.new?.annotations ?? [])])];
        const init = ann.filter((a) => INIT_TEXT.has(a));
        const data = { entity: e.key, function: e.name };
        if (init.length) {
          const exit = init.every((a) => /exit/.test(a));
          out.push(
            finding(
              'KLP160',
              exit
                ? `${e.name}() is ${init.join(' ')} code: it runs only when the module is unloaded (or is discarded in built-in code), and kpatch-build rejects changes to .exit.text. Put the fix in a pre-unpatch/post-unpatch callback or leave it out of the livepatch.`
                : `${e.name}() is ${init.join(' ')} code: it ran at boot or module load and its memory may be freed, so a livepatch cannot change what it did (kpatch-build: "changed section .init.text not selected for inclusion"). Fix the state it set up from a pre-patch or post-patch callback instead.`,
              e.range,
              { file: f.path, data },
            ),
          );
          continue;
        }
        const reg = registered.get(e.name);
        if (reg) {
          out.push(
            finding('KLP161', `${e.name}() is registered with ${reg}(): it has already run on the live system, so changing it has no effect on it (and the tools never correlate initcall symbols). Apply the change to the existing state from a callback.`, e.range, {
              file: f.path,
              data: { ...data, registeredBy: reg },
            }),
          );
          continue;
        }
        if (f.facts.scope.probeFns.has(e.name)) {
          out.push(
            finding('KLP163', `${e.name}() is a driver probe function: devices that are already bound were probed by the old code and will not be probed again, so they do not get the fix. Handle bound devices from a post-patch callback (or require a rebind).`, e.range, {
              file: f.path,
              data,
            }),
          );
        }
      }
      for (const e of f.entities) {
        if (e.kind !== 'variable' || e.change === 'removed') continue;
        const ann = [...new Set([...(e.old?.annotations ?? []), ...(e.new?.annotations ?? [])])].filter((a) => INIT_DATA.has(a));
        if (ann.length === 0 || (e.aspects.length === 1 && e.aspects[0] === 'cosmetic')) continue;
        out.push(
          finding('KLP162', `${e.name} is ${list(ann)} data: it is used only during boot or module init and freed afterwards, so a livepatch change to it never takes effect. Apply the new value to the state it initialised from a callback.`, e.range, {
            file: f.path,
            data: { entity: e.key, variable: e.name },
          }),
        );
      }
    }
    return out;
  },
};
