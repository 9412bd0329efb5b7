/**
 * KLP013: what could not be checked. Several hazards are decided by the rest
 * of the kernel, not by the patch: where a static key or an export lives,
 * whether a file is built as a module, who else calls a changed inline
 * helper, what the .config enables. Without a kernel tree, before its index is
 * built, or without a .config, those checks are skipped or left undecided;
 * this note says which, once per patch, so that a quiet result is not read as
 * a clean one.
 */
import { lineContentRange } from '../text';
import { finding } from '../findings';
import type { Rule } from './index';
import { cFiles, isHeader, list } from './util';

export const coverageRule: Rule = {
  id: 'coverage',
  run(ctx) {
    const files = cFiles(ctx);
    if (files.length === 0) return [];
    const where = lineContentRange(ctx.set.lines, files[0].headerLine);
    const inlineChanged = files.some((f) => isHeader(f.path) || f.entities.some((e) => e.kind === 'macro' || (e.kind === 'function' && e.new?.entity.storage.includes('inline'))));
    const configChecks = ['config options that block livepatch builds (KLP330)', 'changed code that the configuration leaves out (KLP331)', 'whether files under obj-$(CONFIG_…) are built in or as modules (KLP300)'];
    if (!ctx.index) {
      const skipped = [
        'whether each patched file is built into vmlinux or as a module (KLP300), and so whether its static keys and calls may be used (KLP190, KLP200)',
        'where static keys used by patched code are defined (KLP190), and keys reached through inline helpers of headers (KLP192)',
        ...(inlineChanged ? ['the callers in other files of changed inline functions and macros (KLP240)'] : []),
        'exports and namespaces defined outside the patched files (KLP260, KLP270)',
        ...configChecks.slice(0, 2),
      ];
      const why = !ctx.tree
        ? 'Analysed from the hunks alone: without a kernel tree (setting livepatchLens.kernelTree, CLI --tree DIR)'
        : !ctx.tree.isKernel
          ? `${ctx.tree.root} is not a kernel source tree, so it is not indexed: without the index`
          : `The index of ${ctx.tree.root} is not available (still being built, or --no-index): until it is`;
      return [finding('KLP013', `${why} these are not checked: ${list(skipped, 8)}. A quiet result there is not a clean one.`, where, { data: { skipped: skipped.length, tree: ctx.tree?.root ?? null } })];
    }
    if (!ctx.index.hasConfig) {
      const tree = ctx.tree ? ` of ${ctx.tree.root}` : '';
      return [
        finding('KLP013', `The kernel tree${tree} has no .config (give one with the setting livepatchLens.kernelConfig or --config FILE): not checked are ${list(configChecks, 4)}.`, where, {
          data: { skipped: configChecks.length, tree: ctx.tree?.root ?? null },
        }),
      ];
    }
    return [];
  },
};
