/**
 * __LINE__ shifts (H14): WARN/BUG/might_sleep/lockdep macros embed the line
 * number. A hunk that adds or removes lines moves every later line, so the
 * functions below that use these macros compile differently and look changed
 * to a binary diff. kpatch-build filters most such cases
 * (kpatch_line_macro_change_only) but not all; klp-build's fix-patch-lines
 * keeps line numbers stable with #line directives, and so does a patch that
 * carries them: `#line N` lines are counted.
 */
import { finding, type Finding } from '../findings';
import type { Rule } from './index';
import type { FileAnalysis } from '../analysis';
import { cFiles, fileRange, hunkOldStart, list, plural } from './util';
import { noOpReason } from './noFunctionalChange';

/** First post-image line after a hunk (by the document lines its lines show on). */
function postEnd(f: FileAnalysis, header: number, end: number): number {
  let last = -1;
  f.post.docLine.forEach((d, i) => {
    if (d > header && d <= end) last = i;
  });
  return last + 1;
}

function postStart(f: FileAnalysis, header: number, end: number): number {
  const d = f.post.docLine;
  for (let i = 0; i < d.length; i++) if (d[i] > header && d[i] <= end) return i;
  return Infinity;
}

export const lineMacroRule: Rule = {
  id: 'line-macro',
  run(ctx) {
    const out: Finding[] = [];
    // A patch that changes no code at all gets KLP014, which says the line shift is all it does.
    const files = ctx.files.filter((f) => !f.binary);
    if (files.length && files.every((f) => noOpReason(f) !== undefined)) return out;
    for (const f of cFiles(ctx)) {
      // where the numbering of the new file differs from the old one: after a hunk whose lines,
      // counting `#line N` directives (which renumber the next line), do not end in step with the old file
      const shifted: [number, number][] = [];
      let shift = 0;
      let delta = 0;
      const apps = f.applications.filter((a) => a.status !== 'failed').sort((a, b) => hunkOldStart(f, a.hunk) - hunkOldStart(f, b.hunk));
      apps.forEach((app, k) => {
        const h = app.hunk;
        let oldNo = hunkOldStart(f, h);
        let eff = oldNo + shift;
        for (const l of h.lines) {
          if (l.kind === '-') oldNo++;
          else if (l.kind === ' ') {
            oldNo++;
            eff++;
          } else {
            const directive = /^\s*#\s*line\s+(\d+)/.exec(l.text);
            eff = directive ? +directive[1] : eff + 1;
          }
        }
        shift = eff - oldNo;
        delta += h.newLines - h.oldLines;
        if (shift === 0) return;
        const end = postEnd(f, h.headerLine, h.endLine);
        const next = apps[k + 1];
        shifted.push([end, next ? postStart(f, next.hunk.headerLine, next.hunk.endLine) : Infinity]);
      });
      if (shifted.length === 0) continue;
      const shiftAt = shifted[0][0];
      const below = f.facts.scope.lineUsers.filter((u) => !u.changed && shifted.some(([a, b]) => u.line >= a && u.line < b));
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
