/**
 * Struct members added or removed by a hunk that does not name its struct
 * (H01). `diff -u` without -p, and some mailers, drop the "@@" function
 * context; from the hunks alone the lines then sit in no entity, and the
 * layout change would go unreported. A hunk whose every code line is a member
 * declaration (a type and a name, no initialiser, no statement) and that adds
 * or removes such lines gets a data-structure warning; with the kernel tree
 * the whole file is parsed, the struct is named, and KLP101 says the rest.
 */
import { finding, type Finding } from '../findings';
import { lineContentRange } from '../text';
import type { FileAnalysis } from '../analysis';
import type { Hunk, HunkLine } from '../patch/model';
import type { RuleContext } from './index';
import { list } from './util';

/** `unsigned int users;`, `struct list_head node;`, `u8 a : 3, b : 5;`, `void (*fn)(int);`, `char name[16];` (optional trailing comment). */
const MEMBER = /^\s+(?!(return|goto|break|continue|case|default|else|do)\b)[A-Za-z_][\w ]*[\w*]\s*(\*+\s*)?[A-Za-z_][\w]*(\s*\[[^\]=]*\])*(\s*:\s*\d+)?(\s*,\s*\**\s*[A-Za-z_]\w*(\s*\[[^\]=]*\])*(\s*:\s*\d+)?)*(\s+__\w+(\([^)]*\))?)*\s*;\s*(\/\*.*\*\/|\/\/.*)?$/;
const FN_POINTER = /^\s+[A-Za-z_][\w\s*]*\(\s*\*\s*[A-Za-z_]\w*\s*\)\s*\([^;=]*\)\s*;\s*(\/\*.*\*\/|\/\/.*)?$/;
const NOISE = /^\s*(\/\/.*|\/\*.*|\*.*|#.*)?$/;

const isMember = (text: string) => MEMBER.test(text) || FN_POINTER.test(text);
const nameOf = (text: string) => /([A-Za-z_]\w*)\s*(\[[^\]]*\])*(\s*:\s*\d+)?\s*;/.exec(text.replace(/\(\s*\*\s*([A-Za-z_]\w*)\s*\)\s*\([^)]*\)/, '$1'))?.[1] ?? text.trim();

/** The member lines a context-free hunk adds and removes, when all its code is member declarations. */
function memberHunk(h: Hunk): { added: HunkLine[]; removed: HunkLine[] } | undefined {
  if (h.section.trim() !== '' || h.broken) return undefined;
  const code = h.lines.filter((l) => !NOISE.test(l.text));
  if (code.length < 3 || !code.every((l) => isMember(l.text))) return undefined;
  const added = code.filter((l) => l.kind === '+');
  const removed = code.filter((l) => l.kind === '-');
  return added.length || removed.length ? { added, removed } : undefined;
}

export function unnamedMemberFindings(ctx: RuleContext, f: FileAnalysis): Finding[] {
  if (f.confidence === 'tree') return [];
  const out: Finding[] = [];
  for (const d of f.diffs)
    for (const h of d.hunks) {
      const m = memberHunk(h);
      if (!m) continue;
      const first = (m.added[0] ?? m.removed[0]).docLine;
      const what = [m.added.length ? `adds ${list(m.added.map((l) => nameOf(l.text)))}` : '', m.removed.length ? `removes ${list(m.removed.map((l) => nameOf(l.text)))}` : ''].filter(Boolean).join(' and ');
      out.push(
        finding(
          'KLP101',
          `${f.path}: this hunk ${what} among member declarations of a struct this hunk does not name (it has no function context, and from the hunks alone the file around it is unknown). ` +
            `If it is a struct's layout, objects that already exist keep the old one: keep the type unchanged and hold the new state in a shadow variable. Give the kernel tree (or make the patch with git diff or diff -p) to name the struct and check its users.`,
          lineContentRange(ctx.set.lines, first),
          { file: f.path, severity: 'warning', data: { entity: `fragment:${h.headerLine}`, members: [...m.added, ...m.removed].map((l) => nameOf(l.text)), change: m.added.length ? 'added' : 'removed' } },
        ),
      );
    }
  return out;
}
