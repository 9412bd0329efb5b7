/**
 * KLP014: a patch whose post-image compiles to the same code as before.
 * Whitespace, comments and blank lines change no function; blank lines moved
 * only shift the line numbers WARN()/BUG() embed, which kpatch-build discards
 * (kpatch_line_macro_change_only) and klp-build neutralises (fix-patch-lines);
 * build files, Kconfig and documentation hold nothing a livepatch replaces.
 * kpatch-build then stops with "no functional changes found" and klp-build
 * with "no changes detected", after the kernel was built twice. A file like
 * that inside a patch that does change code gets a note instead.
 */
import { finding, type Finding } from '../findings';
import { lineContentRange } from '../text';
import type { FileAnalysis } from '../analysis';
import type { Rule } from './index';
import { list } from './util';

/** Files no livepatch carries anything of. */
const NOTHING_TO_REPLACE: Record<string, string> = {
  kbuild: 'build rules only',
  kconfig: 'Kconfig only',
  dts: 'a device tree only',
  other: 'no source code',
};

/** Lines added minus lines removed across the file's hunks. */
function lineShift(f: FileAnalysis): number {
  let d = 0;
  for (const diff of f.diffs) for (const h of diff.hunks) d += h.newLines - h.oldLines;
  return d;
}

/** A changed line that is blank or only comment: `/* … */`, `// …`, or a block comment's inside (` * …`, `… */`). */
function commentOnly(text: string): boolean {
  const t = text.replace(/\/\*.*?\*\//g, '').trim();
  // ` * text` and ` */` (kernel comment style), not `*p = 0;`
  return t === '' || t.startsWith('//') || (t.startsWith('/*') && !t.includes('*/')) || /^\*(\s|\/|$)/.test(t) || (t.endsWith('*/') && !t.includes(';'));
}

/** Every added or removed line of the file is blank or comment. */
function onlyCommentLines(f: FileAnalysis): boolean {
  return f.diffs.every((d) => d.hunks.every((h) => h.lines.every((l) => l.kind === ' ' || commentOnly(l.text))));
}

/** Why `f` changes no compiled code, or undefined when it does (or when that cannot be told). */
export function noOpReason(f: FileAnalysis): string | undefined {
  if (f.binary || f.applications.some((a) => a.status === 'failed') || f.diffs.some((d) => d.hunks.some((h) => h.broken))) return undefined;
  if (f.language !== 'c' && f.language !== 'header') return NOTHING_TO_REPLACE[f.language];
  if (f.status === 'added' || f.status === 'deleted') return undefined;
  if (!f.entities.every((e) => e.change === 'changed' && e.aspects.length > 0 && e.aspects.every((a) => a === 'cosmetic'))) return undefined;
  // No entity changed: the lines must show it too (code the entity diff does not see counts as a change).
  if (!f.entities.length && !onlyCommentLines(f)) return undefined;
  const shift = lineShift(f);
  const what = f.entities.length ? `comments or whitespace only (in ${list(f.entities.map((e) => e.name))})` : 'comments, whitespace or blank lines outside any function only';
  return shift === 0 ? what : `${what}; the ${Math.abs(shift)} line${Math.abs(shift) === 1 ? '' : 's'} ${shift > 0 ? 'added' : 'removed'} only move the line numbers that WARN(), BUG() and might_sleep() embed`;
}

export const noFunctionalChangeRule: Rule = {
  id: 'no-functional-change',
  run(ctx) {
    const files = ctx.files.filter((f) => !f.binary);
    if (!files.length) return [];
    const why = files.map((f) => ({ f, why: noOpReason(f) }));
    const noop = why.filter((w): w is { f: FileAnalysis; why: string } => w.why !== undefined);
    if (noop.length === why.length) {
      const first = files[0];
      const each = noop.map((w) => `${w.f.path}: ${w.why}`).join('; ');
      const message =
        `The patch changes no compiled code (${each}), so there is nothing for a livepatch to replace: kpatch-build would stop with "ERROR: no functional changes found" ` +
        `and klp-build with "no changes detected", after building the kernel twice. Check that the fix is all there (a backport can lose its hunks), or leave this patch out of the livepatch.`;
      return [finding('KLP014', message, lineContentRange(ctx.set.lines, first.headerLine), { file: first.path, data: { files: noop.map((w) => w.f.path) } })];
    }
    const out: Finding[] = [];
    for (const w of noop)
      out.push(
        finding('KLP014', `${w.f.path} changes no compiled code (${w.why}): it adds nothing to the livepatch; the other files carry the change.`, lineContentRange(ctx.set.lines, w.f.headerLine), {
          file: w.f.path,
          severity: 'information',
          data: { files: [w.f.path] },
        }),
      );
    return out;
  },
};
