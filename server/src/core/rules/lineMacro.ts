/**
 * __LINE__ shifts (H14): WARN/BUG/might_sleep/lockdep macros embed the line
 * number. A hunk that adds or removes lines moves every later line, so the
 * functions below that use these macros compile differently and look changed
 * to a binary diff. kpatch-build filters most such cases
 * (kpatch_line_macro_change_only) but not all; klp-build's fix-patch-lines
 * keeps line numbers stable with #line directives.
 */
import { finding, type Finding } from '../findings';
import type { Rule } from './index';
import { cFiles, fileRange, list, plural } from './util';

export const lineMacroRule: Rule = {
  id: 'line-macro',
  run(ctx) {
    const out: Finding[] = [];
    for (const f of cFiles(ctx)) {
      // post-image line where the first net shift happens
      let shiftAt = -1;
      let delta = 0;
      for (const app of f.applications) {
        const h = app.hunk;
        if (app.status === 'failed') continue;
        if (h.newLines !== h.oldLines && shiftAt < 0) shiftAt = h.newStart - 1 + h.newLines;
        delta += h.newLines - h.oldLines;
      }
      if (shiftAt < 0) continue;
      const below = f.facts.scope.lineUsers.filter((u) => !u.changed && u.line >= shiftAt);
      if (below.length === 0) continue;
      out.push(
        finding(
          'KLP230',
          `${f.path}: the patch shifts the lines below line ${shiftAt + 1}${delta ? ` (by ${delta > 0 ? '+' : ''}${delta} overall)` : ''}, and ${plural(below.length, 'unchanged function')} there use __LINE__-embedding macros (WARN, BUG, might_sleep, lockdep): ${list(below.map((u) => u.name + '()'))}. A binary diff may see them as changed. klp-build neutralises this with #line directives (fix-patch-lines); with kpatch-build, add new code at the end of the file or keep line counts, and check its "changed function" list.${f.confidence === 'hunks' ? ' Only functions the hunks show are listed.' : ''}`,
          fileRange(ctx, f),
          { file: f.path, data: { functions: below.map((u) => u.name), shiftAt } },
        ),
      );
    }
    return out;
  },
};
