/**
 * KLP230: lines shift under __LINE__ users → `#line N` after each change that
 * moves the numbering, as klp-build's fix-patch-lines does: N is the old
 * file's number of the next line, so everything below keeps its original
 * __LINE__ and only the functions the patch really changes differ in the
 * object code. A change that keeps the count needs none; a change that ends
 * inside a multi-line macro (a line ending in `\`) cannot take a directive and
 * is reported in the notes.
 */
import type { Fix } from './index';
import { editableDiff, FixError } from './patchEdit';
import { fileOf, PostEditor } from './edit';
import { hunkOldStart } from '../rules/util';

export const lineDirectivesFix = {
  id: 'line-directives',
  codes: ['KLP230'],
  // every other fix moves lines: renumber last
  order: 100,
  title() {
    return 'Keep the line numbers below each change with #line directives';
  },
  plan(ctx, finding) {
    const f = fileOf(ctx, finding);
    editableDiff(f); // refuses series, broken or failed hunks
    const postOfDoc = new Map<number, number>();
    f.post.docLine.forEach((d, i) => {
      if (d >= 0) postOfDoc.set(d, i);
    });
    const ed = new PostEditor(f);
    const skipped: number[] = [];
    let shift = 0;
    const apps = [...f.applications].sort((a, b) => hunkOldStart(f, a.hunk) - hunkOldStart(f, b.hunk));
    for (const app of apps) {
      const h = app.hunk;
      let oldNo = hunkOldStart(f, h);
      let eff = oldNo + shift;
      const lines = h.lines;
      for (let k = 0; k < lines.length; ) {
        if (lines[k].kind === ' ') {
          oldNo++;
          eff++;
          k++;
          continue;
        }
        // a group of removed and added lines
        let lastPost = -1;
        for (; k < lines.length && lines[k].kind !== ' '; k++) {
          const l = lines[k];
          if (l.kind === '-') oldNo++;
          else {
            const directive = /^\s*#\s*line\s+(\d+)/.exec(l.text);
            eff = directive ? +directive[1] : eff + 1;
            lastPost = postOfDoc.get(l.docLine) ?? lastPost;
          }
        }
        if (eff === oldNo) continue;
        const next = k < lines.length ? postOfDoc.get(lines[k].docLine) : undefined;
        const before = lastPost >= 0 ? lastPost : next !== undefined ? next - 1 : -1;
        const prevText = before >= 0 ? f.post.lines[before] : undefined;
        if (prevText === undefined || /\\\s*$/.test(prevText)) {
          skipped.push(h.headerLine + 1);
          continue;
        }
        const directive = `#line ${oldNo}`;
        if (next !== undefined) ed.insertBefore(next, [directive]);
        else ed.insertAfter(before, [directive]);
        eff = oldNo;
      }
      shift = eff - oldNo;
    }
    if (ed.empty) throw new FixError(skipped.length ? `every change that shifts lines ends inside a multi-line macro (hunks at patch lines ${skipped.join(', ')})` : 'no change in the file shifts the lines below it');
    const notes = [`${f.path}: #line directives after each change keep the original line numbers below it (as klp-build's fix-patch-lines does).`];
    if (skipped.length) notes.push(`Not done for the changes inside multi-line macros (hunks at patch lines ${skipped.join(', ')}).`);
    return { files: [{ file: f, edits: ed.edits() }], notes };
  },
} satisfies Fix;
