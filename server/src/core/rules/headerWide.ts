/**
 * Header changes (H21): every object that includes a changed header is
 * rebuilt, so inline code, macros and types in it ripple into many functions
 * (kpatch's unexpected changed functions, slow or failing builds), and data
 * layout changes there reach every user.
 */
import { finding, type Finding } from '../findings';
import type { Rule } from './index';
import { fileRange, list, plural } from './util';

export const headerWideRule: Rule = {
  id: 'header-wide',
  run(ctx) {
    const out: Finding[] = [];
    for (const f of ctx.files) {
      if (f.language !== 'header' || f.status === 'added') continue;
      const real = f.entities.filter((e) => !(e.aspects.length === 1 && e.aspects[0] === 'cosmetic'));
      const what = real.length ? list(real.map((e) => `${e.kind} ${e.name}`), 5) : 'only comments or layout';
      let reach = '';
      if (ctx.index) {
        const direct = ctx.index.includersOf(f.path, false);
        const all = ctx.index.includersOf(f.path, true);
        reach = ` ${plural(direct.length, 'file')} include it directly, and ${plural(all.length, '.c file')} in all, directly or through other headers (e.g. ${list(all.slice(0, 4), 4)}); each of them is rebuilt and compared.`;
      } else if (/^include\//.test(f.path)) reach = ' It is a shared kernel header: many objects include it.';
      out.push(
        finding(
          'KLP290',
          `${f.path} is a header (${what}): every object that includes it is rebuilt, so its inline code, macros and types can change many functions the fix did not mean to touch, and a layout change reaches every user.${reach} Move new helpers and macros into the .c file that needs them, and keep data definitions in headers unchanged.`,
          fileRange(ctx, f),
          { file: f.path, severity: real.length ? 'warning' : 'information', data: { entities: real.map((e) => e.key) } },
        ),
      );
    }
    return out;
  },
};
