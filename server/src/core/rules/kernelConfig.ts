/**
 * Kernel configuration (H26), with a .config in the tree: options that make
 * kpatch-build or klp-build refuse the kernel, a kernel without livepatch
 * support, and changed code that this configuration does not compile.
 */
import { finding, type Finding } from '../findings';
import type { FileAnalysis } from '../analysis';
import type { Rule, RuleContext } from './index';
import { cFiles, fileRange, list } from './util';

/** Options that make a livepatch build tool refuse the kernel: which tools, and why. */
const BLOCKERS: [string, ('kpatch-build' | 'klp-build')[], string][] = [
  ['GCC_PLUGIN_LATENT_ENTROPY', ['kpatch-build', 'klp-build'], 'the latent-entropy plugin changes code between builds'],
  ['GCC_PLUGIN_RANDSTRUCT', ['kpatch-build', 'klp-build'], 'randomised struct layouts differ between builds'],
  ['DEBUG_INFO_SPLIT', ['kpatch-build'], 'kpatch-build needs the debug info in the objects'],
  ['X86_KERNEL_IBT', ['kpatch-build'], 'kpatch-build does not support IBT kernels'],
  ['LD_DEAD_CODE_DATA_ELIMINATION', ['klp-build'], 'klp-build does not support dead-code elimination'],
];

/**
 * Changed post-image lines this configuration does not compile: inside a branch
 * of #ifdef/#ifndef/#if [!]defined/IS_ENABLED(CONFIG_X) that is definitely not
 * taken. A condition the rule cannot evaluate leaves all its branches unknown
 * (never "configured out").
 */
function configuredOut(f: FileAnalysis, ctx: RuleContext): number[] {
  const idx = ctx.index!;
  const lines = f.post.lines;
  type Tri = boolean | undefined;
  const evalCond = (c: string): Tri => {
    const m = /^(!)?\s*(?:defined\s*\(?\s*|IS_ENABLED\s*\(\s*|IS_BUILTIN\s*\(\s*|IS_MODULE\s*\(\s*)?CONFIG_([A-Z0-9_]+)\s*\)?\s*$/.exec(c.trim());
    if (!m) return undefined;
    const v = idx.configValue(m[2]);
    const on = /IS_BUILTIN/.test(c) ? v === 'y' : /IS_MODULE/.test(c) ? v === 'm' : v === 'y' || v === 'm';
    return m[1] ? !on : on;
  };
  // per open conditional: is the current branch taken (tri-state), and was any earlier branch taken
  const stack: { active: Tri; taken: Tri }[] = [];
  const out: number[] = [];
  const off = () => stack.some((s) => s.active === false);
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l === undefined) continue;
    const d = /^\s*#\s*(ifdef|ifndef|if|elif|else|endif)\b\s*(.*)$/.exec(l);
    if (d) {
      const [, dir, rest] = d;
      if (dir === 'ifdef' || dir === 'ifndef') {
        const sym = rest.trim();
        let v: Tri;
        if (sym.startsWith('CONFIG_')) {
          const val = idx.configValue(sym.slice(7));
          v = dir === 'ifdef' ? val === 'y' || val === 'm' : !(val === 'y' || val === 'm');
        }
        stack.push({ active: v, taken: v });
      } else if (dir === 'if') {
        const v = evalCond(rest);
        stack.push({ active: v, taken: v });
      } else if (dir === 'elif') {
        const top = stack[stack.length - 1];
        if (top) {
          const v = evalCond(rest);
          top.active = top.taken === true ? false : top.taken === false ? v : undefined;
          top.taken = top.taken === true || v === true ? true : top.taken === false && v === false ? false : undefined;
        }
      } else if (dir === 'else') {
        const top = stack[stack.length - 1];
        if (top) top.active = top.taken === undefined ? undefined : !top.taken;
      } else if (dir === 'endif') stack.pop();
      continue;
    }
    if (off() && f.post.changed[i]) out.push(i);
  }
  return out;
}

export const kernelConfigRule: Rule = {
  id: 'kernel-config',
  run(ctx) {
    const out: Finding[] = [];
    const idx = ctx.index;
    if (!idx?.hasConfig) return out;
    const first = ctx.files[0];
    const where = first ? fileRange(ctx, first) : { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
    const on = (s: string) => idx.configValue(s) === 'y';
    if (idx.configValue('LIVEPATCH') !== 'y') {
      out.push(finding('KLP330', 'The kernel configuration of the tree does not set CONFIG_LIVEPATCH=y: this kernel cannot load livepatches at all.', where, { data: { missing: 'LIVEPATCH' } }));
    }
    // kpatch-build also needs CONFIG_DEBUG_INFO; klp-build needs CONFIG_KLP_BUILD (Linux 6.19+)
    const blockers: [string, ('kpatch-build' | 'klp-build')[], string][] = [...BLOCKERS.filter(([s]) => on(s))];
    if (!on('DEBUG_INFO') && !on('DEBUG_INFO_DWARF4') && !on('DEBUG_INFO_DWARF5') && !on('DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT')) blockers.push(['DEBUG_INFO (not set)', ['kpatch-build'], 'kpatch-build reads the debug info']);
    if (idx.kconfigType('KLP_BUILD') !== undefined && !on('KLP_BUILD')) blockers.push(['KLP_BUILD (not set)', ['klp-build'], 'klp-build needs it']);
    const both = blockers.filter(([, tools]) => tools.length === 2);
    const one = blockers.filter(([, tools]) => tools.length === 1);
    if (both.length) {
      out.push(finding('KLP330', `The kernel configuration sets ${list(both.map(([s, , why]) => `CONFIG_${s} (${why})`))}: both kpatch-build and klp-build refuse this kernel before looking at the patch.`, where, { data: { blockers: both.map(([s]) => s) } }));
    }
    for (const tool of ['kpatch-build', 'klp-build'] as const) {
      const mine = one.filter(([, tools]) => tools.includes(tool));
      if (mine.length === 0) continue;
      out.push(finding('KLP330', `${tool} refuses this kernel configuration: ${list(mine.map(([s, , why]) => `CONFIG_${s} (${why})`))}. Use the other tool, or rebuild the kernel without it.`, where, { severity: 'warning', data: { tool, blockers: mine.map(([s]) => s) } }));
    }
    for (const f of cFiles(ctx)) {
      if (f.confidence !== 'tree') continue;
      const dead = configuredOut(f, ctx);
      if (dead.length === 0) continue;
      const docLine = f.post.docLine[dead[0]];
      const r = docLine >= 0 ? { start: { line: docLine, character: 1 }, end: { line: docLine, character: (ctx.set.lines[docLine] ?? '').length } } : fileRange(ctx, f);
      out.push(finding('KLP331', `${dead.length} changed line${dead.length === 1 ? '' : 's'} of ${f.path} sit in #if blocks this configuration does not compile: that part of the fix does nothing on this kernel (and is not in the livepatch).`, r, { file: f.path, data: { lines: dead.length } }));
    }
    return out;
  },
};
