/**
 * Kernel configuration (H26), with a .config in the tree: options that make
 * kpatch-build or klp-build refuse the kernel, a kernel without livepatch
 * support, and changed code that this configuration does not compile.
 */
import { finding, type Finding } from '../findings';
import type { FileAnalysis } from '../analysis';
import type { Rule, RuleContext } from './index';
import { cFiles, fileRange, list } from './util';

const BLOCKERS: [string, string][] = [
  ['DEBUG_INFO_SPLIT', 'kpatch-build needs the debug info in the objects'],
  ['GCC_PLUGIN_LATENT_ENTROPY', 'the latent-entropy plugin changes code between builds'],
  ['GCC_PLUGIN_RANDSTRUCT', 'randomised struct layouts differ between builds'],
  ['X86_KERNEL_IBT', 'kpatch-build does not support IBT kernels'],
  ['LD_DEAD_CODE_DATA_ELIMINATION', 'klp-build does not support dead-code elimination'],
];

/** Is this line of the post image compiled under the configuration? Evaluates #ifdef/#ifndef/#if IS_ENABLED/defined chains. */
function configuredOut(f: FileAnalysis, ctx: RuleContext): number[] {
  const idx = ctx.index!;
  const lines = f.post.lines;
  const stack: boolean[] = []; // true = this branch is active
  const evalCond = (c: string): boolean | undefined => {
    const m = /^(!)?\s*(?:defined\s*\(?\s*|IS_ENABLED\s*\(\s*|IS_BUILTIN\s*\(\s*|IS_MODULE\s*\(\s*)?CONFIG_([A-Z0-9_]+)\s*\)?\s*$/.exec(c.trim());
    if (!m) return undefined;
    const v = idx.configValue(m[2]);
    const on = /IS_BUILTIN/.test(c) ? v === 'y' : /IS_MODULE/.test(c) ? v === 'm' : v === 'y' || v === 'm';
    return m[1] ? !on : on;
  };
  const out: number[] = [];
  const active = () => stack.every(Boolean);
  const branches: { taken: boolean }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l === undefined) continue;
    const d = /^\s*#\s*(ifdef|ifndef|if|elif|else|endif)\b\s*(.*)$/.exec(l);
    if (d) {
      const [, dir, rest] = d;
      if (dir === 'ifdef' || dir === 'ifndef') {
        const v = idx.configValue(rest.trim().replace(/^CONFIG_/, ''));
        const known = rest.trim().startsWith('CONFIG_');
        const on = v === 'y' || v === 'm';
        const val = known ? (dir === 'ifdef' ? on : !on) : true;
        stack.push(val);
        branches.push({ taken: val });
      } else if (dir === 'if') {
        const v = evalCond(rest);
        stack.push(v ?? true);
        branches.push({ taken: v ?? true });
      } else if (dir === 'elif') {
        const b = branches[branches.length - 1];
        const v = evalCond(rest);
        if (b) {
          stack[stack.length - 1] = !b.taken && (v ?? true);
          b.taken = b.taken || (v ?? true);
        }
      } else if (dir === 'else') {
        const b = branches[branches.length - 1];
        if (b) stack[stack.length - 1] = !b.taken;
      } else if (dir === 'endif') {
        stack.pop();
        branches.pop();
      }
      continue;
    }
    if (!active() && f.post.changed[i]) out.push(i);
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
    const blockers = BLOCKERS.filter(([s]) => on(s));
    if (idx.configValue('LIVEPATCH') !== 'y') {
      out.push(finding('KLP330', 'The kernel configuration of the tree does not set CONFIG_LIVEPATCH=y: this kernel cannot load livepatches at all.', where, { data: { missing: 'LIVEPATCH' } }));
    }
    if (blockers.length) {
      out.push(finding('KLP330', `The kernel configuration sets ${list(blockers.map(([s, why]) => `CONFIG_${s} (${why})`))}: livepatch builds for this kernel fail before looking at the patch.`, where, { data: { blockers: blockers.map(([s]) => s) } }));
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
