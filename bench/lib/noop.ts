/**
 * No-op variants of a real fix, for the no-functional-change verdict (KLP014):
 * its first C hunk's old text, changed in a way that compiles to the same code
 * (a blank line added above it, a comment line added inside it, a line's
 * indentation changed), as a one-hunk patch at the same place.
 */
import { parsePatch } from '../../server/src/core/patch/parse';
import { allFileDiffs } from '../../server/src/core/patch/model';

export interface NoOpVariant {
  kind: 'blank line' | 'comment' | 'whitespace';
  text: string;
}

function onePatch(path: string, start: number, section: string, before: string[], after: string[]): string {
  const body: string[] = [];
  let i = 0;
  let j = 0;
  // The variants differ from the old text in one place: common prefix, the change, common suffix.
  while (i < before.length && i < after.length && before[i] === after[i]) body.push(` ${before[i++]}`), j++;
  let bi = before.length;
  let aj = after.length;
  const tail: string[] = [];
  while (bi > i && aj > j && before[bi - 1] === after[aj - 1]) tail.unshift(` ${before[--bi]}`), aj--;
  for (let k = i; k < bi; k++) body.push(`-${before[k]}`);
  for (let k = j; k < aj; k++) body.push(`+${after[k]}`);
  body.push(...tail);
  return [`diff --git a/${path} b/${path}`, `--- a/${path}`, `+++ b/${path}`, `@@ -${start},${before.length} +${start},${after.length} @@${section ? ` ${section.trim()}` : ''}`, ...body, ''].join('\n');
}

/** The variants of `patch`'s first hunk in a .c file; none when it has no such hunk. */
export function noOpVariants(patch: string): NoOpVariant[] {
  const diff = allFileDiffs(parsePatch(patch)).find((d) => d.oldPath?.endsWith('.c') && d.newPath === d.oldPath && d.hunks.some((h) => !h.broken && h.oldLines > 2));
  const hunk = diff?.hunks.find((h) => !h.broken && h.oldLines > 2);
  if (!diff || !hunk) return [];
  const old = hunk.lines.filter((l) => l.kind !== '+').map((l) => l.text);
  const path = diff.oldPath!;
  const out: NoOpVariant[] = [{ kind: 'blank line', text: onePatch(path, hunk.oldStart, hunk.section, old, ['', ...old]) }];
  // A comment line after the first line that ends a statement or opens a block, indented like it.
  const at = old.findIndex((l) => /[;{]\s*$/.test(l) && !/^\s*(\/\/|\/\*|\*)/.test(l));
  if (at >= 0) {
    const indent = /^\s*/.exec(old[at + 1] ?? old[at])![0];
    out.push({ kind: 'comment', text: onePatch(path, hunk.oldStart, hunk.section, old, [...old.slice(0, at + 1), `${indent}/* checked by the livepatch review */`, ...old.slice(at + 1)]) });
  }
  const ws = old.findIndex((l) => /^\t+\S.*[;{]\s*$/.test(l));
  if (ws >= 0) out.push({ kind: 'whitespace', text: onePatch(path, hunk.oldStart, hunk.section, old, old.map((l, k) => (k === ws ? l.replace(/^\t+/, (t) => `${t}    `).replace(/;$/, ';  ') : l))) });
  return out;
}
