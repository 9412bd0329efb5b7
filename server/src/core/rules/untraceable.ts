/**
 * Untraceable code (H10): livepatch redirects a function through its ftrace
 * entry. notrace functions have none; an `inline` function the compiler kept
 * out of line has none either (inline implies notrace in the kernel); lib/,
 * vdso, boot, realmode, EFI stub, assembly and the ftrace/livepatch core cannot
 * be patched ("unsupported patch to lib/", "doesn't have patchable function entry").
 */
import { finding, type Finding } from '../findings';
import type { Rule } from './index';
import { changedCode, cFiles, fileRange } from './util';

const PLACES: [RegExp, string][] = [
  [/^lib\//, 'lib/ is linked as an archive: kpatch-build and klp-build refuse patches to it ("unsupported patch to lib/")'],
  [/(^|\/)vdso\d*\//, 'vDSO code runs in user space and is mapped into every process: it cannot be livepatched'],
  [/^arch\/[^/]+\/(boot|realmode|purgatory)\//, 'boot, realmode and purgatory code never runs again after boot'],
  [/^drivers\/firmware\/efi\/libstub\//, 'the EFI stub runs before the kernel: it cannot be livepatched'],
  [/^kernel\/livepatch\//, 'the livepatch core cannot patch itself'],
  [/^kernel\/trace\/(ftrace|fgraph)\.c$/, 'ftrace is the mechanism livepatch redirects through: it cannot be patched with it'],
  [/\.[sS]$/, 'assembly has no ftrace entry: livepatch tools patch C functions only ("unsupported patch to assembly")'],
];

export const untraceableRule: Rule = {
  id: 'untraceable',
  run(ctx) {
    const out: Finding[] = [];
    for (const f of ctx.files) {
      const place = PLACES.find(([re]) => re.test(f.path));
      if (place && (f.language === 'c' || f.language === 'header' || f.language === 'asm')) {
        const isAsm = f.language === 'asm';
        out.push(
          finding('KLP182', `${f.path}: ${place[1]}. ${isAsm ? 'Rewrite the fix in C in a caller, or use a callback.' : 'Patch the callers outside this directory, or ship this part of the fix with a reboot.'}`, fileRange(ctx, f), {
            file: f.path,
          }),
        );
      }
    }
    for (const f of cFiles(ctx)) {
      for (const e of changedCode(f)) {
        const ann = [...new Set([...(e.old?.annotations ?? []), ...(e.new?.annotations ?? [])])];
        const storage = e.new?.entity.storage ?? e.old?.entity.storage ?? [];
        if (ann.includes('notrace') || /no_instrument_function/.test(e.new?.text.split('{')[0] ?? '')) {
          out.push(finding('KLP180', `${e.name}() is notrace: it has no ftrace entry, so livepatch cannot redirect it (kpatch-build: "doesn't have patchable function entry"). Patch its callers instead, or make it __always_inline so the change shows up in them.`, e.range, { file: f.path, data: { entity: e.key } }));
        } else if (storage.includes('inline') && !ann.includes('__always_inline') && e.kind === 'function') {
          out.push(
            finding(
              'KLP181',
              `${e.name}() is inline: where the compiler inlines it, every caller changes too (see the inline-ripple finding); where it keeps an out-of-line copy, that copy is notrace and cannot be patched (kpatch-build: "doesn't have patchable function entry"). Mark it __always_inline or noinline in the patch so the result does not depend on the compiler, and check the callers.`,
              e.range,
              { file: f.path, data: { entity: e.key } },
            ),
          );
        }
      }
    }
    return out;
  },
};
