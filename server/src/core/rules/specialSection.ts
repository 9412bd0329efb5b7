/**
 * Special sections (H13): inline assembly and alternatives leave entries in
 * tables (.altinstructions, __ex_table, .smp_locks, ...) that the tools must
 * rebuild for the copied function, and asm itself is invisible to any C-level
 * review. The tools usually cope; a changed asm statement needs a human look.
 */
import { finding, type Finding } from '../findings';
import type { Rule } from './index';
import { at, cFiles, changedCode, factsOf } from './util';

const ALTERNATIVES = /^(alternative\w*|ALTERNATIVE\w*|static_cpu_has|asm_inline)$/;

export const specialSectionRule: Rule = {
  id: 'special-section',
  run(ctx) {
    const out: Finding[] = [];
    for (const f of cFiles(ctx)) {
      for (const e of changedCode(f)) {
        const facts = factsOf(f, e, 'post');
        if (!facts) continue;
        const asm = facts.asm.filter((s) => s.changed);
        const alt = facts.calls.filter((c) => ALTERNATIVES.test(c.name) && c.site.changed);
        if (asm.length === 0 && alt.length === 0) continue;
        const site = asm[0] ?? alt[0].site;
        out.push(
          finding(
            'KLP220',
            `${e.name}() changes inline assembly${alt.length ? ` or alternatives (${alt.map((c) => c.name).join(', ')})` : ''}: its special-section entries (alternatives, exception table, smp_locks) must be regenerated for the patched copy, and with a module target kpatch-build rejects klp relocations in module-specific special sections. Review the assembly; prefer expressing the fix in C.`,
            at(ctx, e, site, 3),
            { file: f.path, data: { entity: e.key } },
          ),
        );
      }
    }
    return out;
  },
};
