/**
 * Reads a patch document: an mbox of git format-patch mails, a single mail, the
 * output of `git diff`/`git show`/`git log -p`, or a plain `diff -u`/`diff -ruN`.
 *
 * Hand-written rather than jsdiff's parsePatch: the product of this stage is the
 * position of every line in the document, which parsePatch does not keep, and
 * malformed input must become positioned problems rather than one exception.
 * The parser never throws on any input; everything odd is an InputProblem.
 */
import { splitLines, range, lineContentRange } from '../text';
import type { FileDiff, FileStatus, Hunk, HunkLine, InputProblem, MailHeader, Patch, PatchFormat, PatchSet } from './model';
import type libmimeModule from 'libmime';

const MBOX_FROM = /^From \S+ +(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d+ \d\d:\d\d:\d\d \d{4}/;
const GIT_COMMIT = /^commit [0-9a-f]{7,64}(\s|$)/;
const HEADER_FIELD = /^([A-Za-z][A-Za-z0-9-]*):(?:[ \t](.*)|)$/;
const HUNK_HEADER = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(?: ?(.*))?$/;
const MAIL_START_FIELDS = /^(From|Subject|Date|Message-I[dD]|Return-Path|Received|To|Cc|Delivered-To|X-[A-Za-z-]+|MIME-Version|Content-Type|In-Reply-To|References|Reply-To|Sender|List-Id|Authentication-Results|DKIM-Signature|ARC-[A-Za-z-]+):/;

class Reader {
  readonly problems: InputProblem[] = [];
  constructor(readonly lines: string[]) {}

  problem(code: string, severity: InputProblem['severity'], message: string, line: number, startChar = 0, endChar?: number): void {
    const text = this.lines[line] ?? '';
    const r = endChar === undefined ? lineContentRange(this.lines, line, startChar) : range(line, startChar, line, endChar);
    if (text.length === 0) r.end.character = 0;
    this.problems.push({ code, severity, message, range: r });
  }
}

/** Parse a patch document. Never throws. */
export function parsePatch(text: string): PatchSet {
  const { lines } = splitLines(text);
  const rd = new Reader(lines);
  const segments = splitSegments(lines);
  const patches: Patch[] = [];
  let sawMailSeparator = false;
  let sawMail = false;
  let sawGit = false;

  for (const seg of segments) {
    if (seg.separator === 'mbox') sawMailSeparator = true;
    const patch = parseSegment(rd, seg.start, seg.end, patches.length, seg.separator);
    if (patch.header) sawMail = true;
    if (patch.files.some((f) => lines[f.headerLine]?.startsWith('diff --git '))) sawGit = true;
    // A preamble without any diff in front of a real series is not a patch of its own.
    if (patch.files.length === 0 && !patch.header && segments.length > 1) continue;
    patch.index = patches.length;
    for (const f of patch.files) f.patchIndex = patch.index;
    patches.push(patch);
  }

  const files = patches.reduce((n, p) => n + p.files.length, 0);
  let format: PatchFormat;
  if (files === 0) format = 'empty';
  else if (sawMailSeparator && patches.length > 1) format = 'mbox';
  else if (sawMail) format = 'format-patch';
  else if (sawGit) format = 'git-diff';
  else format = 'unified';

  if (files === 0 && !rd.problems.some((p) => p.severity === 'error')) {
    rd.problem('KLP006', 'warning', 'No diff found: expected a unified diff (git format-patch, git diff or diff -u output).', 0);
  }
  return { format, patches, problems: rd.problems, lineCount: lines.length, lines };
}

interface Segment {
  start: number;
  end: number; // exclusive
  separator: 'mbox' | 'commit' | 'none';
}

/** Split an mbox (or `git log -p` output) into one segment per mail/commit. */
function splitSegments(lines: string[]): Segment[] {
  const starts: { line: number; sep: Segment['separator'] }[] = [];
  // Hunk lines always start with ' ', '+', '-' or '\\', so they never look like a separator.
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const prevBlank = i === 0 || lines[i - 1] === '';
    if (prevBlank && MBOX_FROM.test(l)) starts.push({ line: i, sep: 'mbox' });
    else if (prevBlank && GIT_COMMIT.test(l) && /^(Author|Merge|Date):/.test(lines[i + 1] ?? '')) starts.push({ line: i, sep: 'commit' });
  }
  if (starts.length === 0) return [{ start: 0, end: lines.length, separator: 'none' }];
  const segs: Segment[] = [];
  if (starts[0].line > 0) segs.push({ start: 0, end: starts[0].line, separator: 'none' });
  for (let k = 0; k < starts.length; k++) {
    segs.push({ start: starts[k].line, end: k + 1 < starts.length ? starts[k + 1].line : lines.length, separator: starts[k].sep });
  }
  return segs;
}

function parseSubjectPrefix(subject: string): MailHeader['series'] {
  const m = /^\s*\[([^\]]*PATCH[^\]]*)\]/i.exec(subject);
  if (!m) return undefined;
  const series: NonNullable<MailHeader['series']> = {};
  const v = /\bv(\d+)\b/i.exec(m[1]);
  if (v) series.version = +v[1];
  const n = /\b(\d+)\/(\d+)\b/.exec(m[1]);
  if (n) {
    series.index = +n[1];
    series.total = +n[2];
  }
  return series;
}

let libmime: typeof libmimeModule | undefined;

/** libmime on first use: loading it builds iconv-lite's codec tables, which a patch without encoded words never needs. */
function mime(): typeof libmimeModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (libmime ??= require('libmime') as typeof libmimeModule);
}

/**
 * RFC 2047 encoded words in a header (=?charset?Q|B?...?=), in any charset:
 * libmime (with iconv-lite) decodes them; a word it cannot read stays as written.
 */
function decodeEncodedWords(s: string): string {
  if (!s.includes('=?')) return s;
  try {
    return mime().decodeWords(s);
  } catch {
    return s;
  }
}

function parseSegment(rd: Reader, start: number, end: number, index: number, separator: Segment['separator']): Patch {
  const lines = rd.lines;
  const patch: Patch = { index, files: [], startLine: start, endLine: Math.max(start, end - 1) };
  let i = start;
  if (separator === 'mbox' || separator === 'commit') i++;

  // Mail header block.
  if (i < end && (separator === 'mbox' || MAIL_START_FIELDS.test(lines[i]))) {
    const header: MailHeader = { startLine: separator === 'mbox' ? start : i, endLine: i };
    let lastField: string | undefined;
    const values = new Map<string, string>();
    for (; i < end; i++) {
      const l = lines[i];
      if (l === '') break;
      if ((l[0] === ' ' || l[0] === '\t') && lastField) {
        values.set(lastField, (values.get(lastField) ?? '') + ' ' + l.trim());
        continue;
      }
      const m = HEADER_FIELD.exec(l);
      if (!m) break;
      lastField = m[1].toLowerCase();
      if (!values.has(lastField)) values.set(lastField, m[2] ?? '');
    }
    header.endLine = Math.max(header.startLine, i - 1);
    if (values.has('from')) header.from = decodeEncodedWords(values.get('from')!);
    if (values.has('date')) header.date = values.get('date');
    if (values.has('subject')) {
      header.subject = decodeEncodedWords(values.get('subject')!);
      header.series = parseSubjectPrefix(header.subject);
    }
    if (values.has('message-id')) header.messageId = values.get('message-id');
    const cte = values.get('content-transfer-encoding');
    if (cte) header.contentTransferEncoding = cte.trim().toLowerCase();
    patch.header = header;
    if (header.contentTransferEncoding === 'quoted-printable' || header.contentTransferEncoding === 'base64') {
      const line = findHeaderLine(lines, header, 'content-transfer-encoding');
      rd.problem(
        'KLP008',
        'error',
        `This mail's body is ${header.contentTransferEncoding}-encoded, so its diff lines are not the real patch text. ` +
          'Save the patch decoded (git am, b4 am, or "git format-patch" output) and open that file.',
        line,
      );
      if (header.contentTransferEncoding === 'base64') return patch;
    }
    if (i < end && lines[i] === '') i++;
  } else if (separator === 'commit') {
    // `git show`/`git log -p` header: Author:/Date: lines, a blank line, the indented message.
    const header: MailHeader = { startLine: start, endLine: start };
    for (; i < end && lines[i] !== ''; i++) {
      const m = HEADER_FIELD.exec(lines[i]);
      if (m && m[1] === 'Author') header.from = m[2];
      if (m && m[1] === 'Date') header.date = m[2]?.trim();
    }
    header.endLine = i - 1;
    patch.header = header;
  }

  // Commit message, "---" separator and diffstat, until the first file header.
  const diffStart = findDiffStart(lines, i, end);
  if (patch.header && diffStart > i) {
    let msgEnd = diffStart;
    for (let k = i; k < diffStart; k++) {
      if (/^---\s*$/.test(lines[k])) {
        msgEnd = k;
        let s = k + 1;
        while (s < diffStart && lines[s] === '') s++;
        if (s < diffStart) patch.diffstat = { startLine: k, endLine: diffStart - 1 };
        break;
      }
    }
    const msgLines = lines.slice(i, msgEnd);
    if (separator === 'commit') for (let k = 0; k < msgLines.length; k++) msgLines[k] = msgLines[k].replace(/^ {4}/, '');
    if (patch.header.subject === undefined && separator === 'commit') {
      patch.header.subject = msgLines.find((l) => l.trim() !== '')?.trim();
    }
    patch.message = { startLine: i, endLine: Math.max(i, msgEnd - 1), text: msgLines.join('\n').trim() };
  }
  parseDiffs(rd, patch, diffStart, end);
  return patch;
}

function findHeaderLine(lines: string[], header: MailHeader, field: string): number {
  for (let k = header.startLine; k <= header.endLine; k++) if (lines[k].toLowerCase().startsWith(field + ':')) return k;
  return header.startLine;
}

function isFileHeaderStart(lines: string[], k: number): boolean {
  const l = lines[k];
  if (l.startsWith('diff --git ') || l.startsWith('diff --cc ') || l.startsWith('diff --combined ')) return true;
  if (/^diff\s+(-\S+\s+)*\S+\s+\S+\s*$/.test(l)) return true;
  if (l.startsWith('Index: ') && /^={10,}/.test(lines[k + 1] ?? '')) return true;
  if (l.startsWith('--- ') && (lines[k + 1] ?? '').startsWith('+++ ')) return true;
  return false;
}

function findDiffStart(lines: string[], from: number, end: number): number {
  for (let k = from; k < end; k++) if (isFileHeaderStart(lines, k) || HUNK_HEADER.test(lines[k])) return k;
  return end;
}

/** Undo git's C-style quoting of a path ("a/with space\t"). */
function unquote(p: string): string {
  if (!p.startsWith('"')) return p;
  const body = p.slice(1, p.endsWith('"') ? -1 : undefined);
  const bytes: number[] = [];
  for (let k = 0; k < body.length; k++) {
    const c = body[k];
    if (c !== '\\') {
      for (const b of Buffer.from(c, 'utf8')) bytes.push(b);
      continue;
    }
    const n = body[++k];
    if (n === undefined) break;
    if (/[0-7]/.test(n)) {
      const oct = body.slice(k, k + 3);
      bytes.push(parseInt(oct, 8));
      k += 2;
    } else {
      const map: Record<string, number> = { n: 10, t: 9, r: 13, '"': 34, '\\': 92, a: 7, b: 8, f: 12, v: 11 };
      bytes.push(map[n] ?? n.charCodeAt(0));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The two paths of "diff --git a/X b/Y". */
function gitHeaderPaths(rest: string): [string, string] | undefined {
  if (rest.startsWith('"')) {
    const m = /^("(?:[^"\\]|\\.)*")\s+(.*)$/.exec(rest);
    if (!m) return undefined;
    return [unquote(m[1]), unquote(m[2])];
  }
  // Same name on both sides (the common case, also with spaces in the name).
  const half = (rest.length - 1) / 2;
  if (Number.isInteger(half) && rest[half] === ' ') {
    const a = rest.slice(0, half);
    const b = rest.slice(half + 1);
    if (a.replace(/^[^/]*\//, '') === b.replace(/^[^/]*\//, '')) return [a, b];
  }
  const k = rest.lastIndexOf(' b/');
  if (k > 0) return [rest.slice(0, k), unquote(rest.slice(k + 1))];
  const parts = rest.split(/\s+/);
  if (parts.length === 2) return [parts[0], parts[1]];
  return undefined;
}

/** Path from a ---/+++ line: drop a tab-separated timestamp; /dev/null means "no file". */
function headerPath(raw: string): string | null {
  let p = raw;
  const tab = p.indexOf('\t');
  if (tab >= 0) p = p.slice(0, tab);
  else {
    // diff -u without tabs: "path  2024-01-01 00:00:00.000000000 +0000"
    const ts = /\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4}$/.exec(p);
    if (ts) p = p.slice(0, ts.index);
  }
  p = unquote(p.trim());
  if (p === '/dev/null') return null;
  return p;
}

/** Strip git's a/ b/ prefixes, or the first component of plain-diff paths (patch -p1). */
export function stripPaths(oldRaw: string | null, newRaw: string | null): [string | null, string | null] {
  const gitStyle = (oldRaw === null || oldRaw.startsWith('a/')) && (newRaw === null || newRaw.startsWith('b/')) && (oldRaw ?? newRaw) !== null;
  const strip1 = (p: string | null): string | null => {
    if (p === null) return null;
    const k = p.indexOf('/');
    return k >= 0 ? p.slice(k + 1) : p;
  };
  if (gitStyle) return [strip1(oldRaw), strip1(newRaw)];
  const both = [oldRaw, newRaw].filter((p): p is string => p !== null);
  // diff -ruN linux.orig/x linux/x: strip one level when every path has a directory.
  if (both.length > 0 && both.every((p) => p.includes('/') && !p.startsWith('/') && !p.startsWith('./'))) {
    const firsts = new Set(both.map((p) => p.slice(0, p.indexOf('/'))));
    const looksLikeTreeRoot = [...firsts].every((f) => !KERNEL_TOP_DIRS.has(f));
    if (looksLikeTreeRoot) return [strip1(oldRaw), strip1(newRaw)];
  }
  const dot = (p: string | null) => (p !== null && p.startsWith('./') ? p.slice(2) : p);
  return [dot(oldRaw), dot(newRaw)];
}

/** Top-level directories of a kernel tree: a path starting with one of them is already tree-relative. */
const KERNEL_TOP_DIRS = new Set([
  'arch', 'block', 'certs', 'crypto', 'Documentation', 'drivers', 'fs', 'include', 'init', 'io_uring', 'ipc', 'kernel',
  'lib', 'LICENSES', 'mm', 'net', 'rust', 'samples', 'scripts', 'security', 'sound', 'tools', 'usr', 'virt',
]);

interface FileBuilder {
  diff: FileDiff;
  isGit: boolean;
}

function newFile(line: number): FileDiff {
  return {
    oldPath: null,
    newPath: null,
    rawOldPath: null,
    rawNewPath: null,
    status: 'modified',
    binary: false,
    headerLine: line,
    endLine: line,
    hunks: [],
    patchIndex: 0,
  };
}

function parseDiffs(rd: Reader, patch: Patch, start: number, end: number): void {
  const lines = rd.lines;
  let cur: FileBuilder | undefined;
  let warnedStray = false;
  const finish = (last: number) => {
    if (!cur) return;
    const d = cur.diff;
    d.endLine = Math.max(d.headerLine, last);
    if (d.rawOldPath === null && d.rawNewPath === null) {
      rd.problem('KLP001', 'error', 'File header without file names: expected "--- a/PATH" and "+++ b/PATH" lines.', d.headerLine);
    } else {
      [d.oldPath, d.newPath] = stripPaths(d.rawOldPath, d.rawNewPath);
      if (d.status === 'modified') {
        if (d.oldPath === null) d.status = 'added';
        else if (d.newPath === null) d.status = 'deleted';
        else if (d.oldPath !== d.newPath) d.status = 'renamed';
      }
      patch.files.push(d);
    }
    cur = undefined;
  };

  let i = start;
  while (i < end) {
    const l = lines[i];
    if (l === '-- ' && !(lines[i + 1] ?? '').startsWith('+++ ')) {
      // Mail signature ("-- " then the git version): the diff is over.
      finish(i - 1);
      patch.signatureLine = i;
      break;
    }
    if (l.startsWith('diff --cc ') || l.startsWith('diff --combined ')) {
      finish(i - 1);
      rd.problem('KLP008', 'error', 'Combined diff of a merge commit (diff --cc): a livepatch needs an ordinary patch; export it with "git diff PARENT MERGE" or "git show --first-parent".', i);
      i++;
      while (i < end && !isFileHeaderStart(lines, i)) i++;
      continue;
    }
    if (l.startsWith('diff --git ')) {
      finish(i - 1);
      const d = newFile(i);
      const paths = gitHeaderPaths(l.slice('diff --git '.length));
      if (!paths) rd.problem('KLP001', 'error', 'Cannot read the two file names of this "diff --git" line.', i);
      else {
        d.rawOldPath = paths[0];
        d.rawNewPath = paths[1];
      }
      cur = { diff: d, isGit: true };
      i = parseExtendedHeaders(rd, cur, i + 1, end);
      continue;
    }
    if (/^diff\s/.test(l) && isFileHeaderStart(lines, i)) {
      // diff -ruN a b: the ---/+++ lines that follow carry the real names.
      finish(i - 1);
      const d = newFile(i);
      const parts = l.trim().split(/\s+/);
      d.rawOldPath = parts[parts.length - 2];
      d.rawNewPath = parts[parts.length - 1];
      cur = { diff: d, isGit: false };
      i = parseExtendedHeaders(rd, cur, i + 1, end);
      continue;
    }
    if (l.startsWith('Index: ') && /^={10,}/.test(lines[i + 1] ?? '')) {
      finish(i - 1);
      const d = newFile(i);
      d.rawOldPath = d.rawNewPath = l.slice(7).trim();
      cur = { diff: d, isGit: false };
      i = parseExtendedHeaders(rd, cur, i + 2, end);
      continue;
    }
    if (l.startsWith('--- ') && (lines[i + 1] ?? '').startsWith('+++ ')) {
      if (!cur || cur.diff.hunks.length > 0 || cur.diff.binary) {
        finish(i - 1);
        cur = { diff: newFile(i), isGit: false };
      }
      i = parseExtendedHeaders(rd, cur, i, end);
      continue;
    }
    if (l.startsWith('@@')) {
      if (!cur) {
        rd.problem('KLP001', 'error', 'Hunk outside of any file: a "--- a/PATH" / "+++ b/PATH" pair must come before "@@".', i);
        // Skip the orphan hunk's lines.
        i++;
        while (i < end && /^[-+ \\]/.test(lines[i])) i++;
        continue;
      }
      i = parseHunk(rd, cur.diff, i, end);
      cur.diff.endLine = i - 1;
      continue;
    }
    if (cur && (l.startsWith('+') || l.startsWith('-')) && !warnedStray && cur.diff.hunks.length > 0) {
      warnedStray = true;
      rd.problem('KLP001', 'warning', 'This line looks like part of a hunk but lies after the hunk ended: the "@@" line counts of the hunk above may be wrong, and these lines are ignored.', i);
    }
    i++;
  }
  finish(Math.min(end, lines.length) - 1);
}

/** Reads git's extended header lines and the ---/+++ pair; returns the index of the first line after them. */
function parseExtendedHeaders(rd: Reader, cur: FileBuilder, i: number, end: number): number {
  const lines = rd.lines;
  const d = cur.diff;
  for (; i < end; i++) {
    const l = lines[i];
    let m: RegExpExecArray | null;
    if ((m = /^old mode (\d+)/.exec(l))) d.oldMode = m[1];
    else if ((m = /^new mode (\d+)/.exec(l))) d.newMode = m[1];
    else if ((m = /^deleted file mode (\d+)/.exec(l))) {
      d.status = 'deleted';
      d.oldMode = m[1];
    } else if ((m = /^new file mode (\d+)/.exec(l))) {
      d.status = 'added';
      d.newMode = m[1];
    } else if ((m = /^(copy|rename) from (.*)$/.exec(l))) {
      d.status = m[1] === 'copy' ? 'copied' : 'renamed';
      d.rawOldPath = 'a/' + unquote(m[2]);
    } else if ((m = /^(copy|rename) to (.*)$/.exec(l))) {
      d.status = m[1] === 'copy' ? 'copied' : 'renamed';
      d.rawNewPath = 'b/' + unquote(m[2]);
    } else if ((m = /^rename (old|new) (.*)$/.exec(l))) {
      d.status = 'renamed';
      if (m[1] === 'old') d.rawOldPath = 'a/' + unquote(m[2]);
      else d.rawNewPath = 'b/' + unquote(m[2]);
    } else if ((m = /^(dis)?similarity index (\d+)%/.exec(l))) d.similarity = m[1] ? 100 - +m[2] : +m[2];
    else if (/^index [0-9a-f]+\.\.[0-9a-f]+/.test(l)) {
      /* blob ids: nothing to keep */
    } else if (/^Binary files .* differ$/.test(l) || /^Files .* differ$/.test(l)) {
      d.binary = true;
    } else if (l === 'GIT binary patch') {
      d.binary = true;
      // literal/delta blocks of base85 lines, each block ended by an empty line.
      i++;
      while (i < end && /^(literal|delta) \d+$/.test(lines[i])) {
        i++;
        while (i < end && lines[i] !== '') i++;
        if (i < end) i++;
      }
      i--;
    } else if (l.startsWith('--- ')) {
      const next = lines[i + 1] ?? '';
      if (!next.startsWith('+++ ')) {
        rd.problem('KLP001', 'error', 'A "--- " file line must be followed by a "+++ " line.', i);
        return i + 1;
      }
      const oldP = headerPath(l.slice(4));
      const newP = headerPath(next.slice(4));
      // The ---/+++ names are authoritative (/dev/null included); git's header only names the pair.
      d.rawOldPath = oldP;
      d.rawNewPath = newP;
      if (oldP === null && newP !== null) d.status = 'added';
      if (newP === null && oldP !== null) d.status = 'deleted';
      return i + 2;
    } else if (l.startsWith('@@')) return i;
    else if (isFileHeaderStart(lines, i)) return i;
    else return i; // end of header block (blank line, junk, signature)
  }
  return i;
}

function parseHunk(rd: Reader, d: FileDiff, i: number, end: number): number {
  const lines = rd.lines;
  const header = lines[i];
  const m = HUNK_HEADER.exec(header);
  if (!m) {
    const combined = header.startsWith('@@@');
    rd.problem(
      'KLP001',
      'error',
      combined
        ? 'Combined-diff hunk header ("@@@"): export an ordinary patch of the merge against one parent.'
        : `Malformed hunk header: expected "@@ -OLD[,COUNT] +NEW[,COUNT] @@", found "${header.slice(0, 60)}".`,
      i,
    );
    i++;
    while (i < end && /^[-+ \\]/.test(lines[i]) && !lines[i].startsWith('--- ')) i++;
    return i;
  }
  const hunk: Hunk = {
    oldStart: +m[1],
    oldLines: m[2] === undefined ? 1 : +m[2],
    newStart: +m[3],
    newLines: m[4] === undefined ? 1 : +m[4],
    section: (m[5] ?? '').trim(),
    headerLine: i,
    lines: [],
    endLine: i,
    broken: false,
  };
  let oldRem = hunk.oldLines;
  let newRem = hunk.newLines;
  let oldNo = hunk.oldStart;
  let newNo = hunk.newStart;
  let k = i + 1;
  for (; k < end && (oldRem > 0 || newRem > 0); k++) {
    const l = lines[k];
    const c = l.length === 0 ? ' ' : l[0];
    if (c === '\\') {
      const prev = hunk.lines[hunk.lines.length - 1];
      if (prev) prev.noNewline = true;
      continue;
    }
    let hl: HunkLine;
    if (c === ' ' && oldRem > 0 && newRem > 0) {
      hl = { kind: ' ', text: l.slice(1), docLine: k, oldLine: oldNo++, newLine: newNo++, noNewline: false };
      oldRem--;
      newRem--;
    } else if (c === '-' && oldRem > 0) {
      hl = { kind: '-', text: l.slice(1), docLine: k, oldLine: oldNo++, noNewline: false };
      oldRem--;
    } else if (c === '+' && newRem > 0) {
      hl = { kind: '+', text: l.slice(1), docLine: k, newLine: newNo++, noNewline: false };
      newRem--;
    } else break;
    hunk.lines.push(hl);
  }
  // A "\ No newline at end of file" right after the last counted line.
  while (k < end && lines[k].startsWith('\\')) {
    const prev = hunk.lines[hunk.lines.length - 1];
    if (prev) prev.noNewline = true;
    k++;
  }
  if (oldRem > 0 || newRem > 0) {
    hunk.broken = true;
    const hadOld = hunk.oldLines - oldRem;
    const hadNew = hunk.newLines - newRem;
    rd.problem(
      'KLP001',
      'error',
      `Hunk header promises ${hunk.oldLines} old and ${hunk.newLines} new lines, but the hunk ends after ${hadOld} and ${hadNew}` +
        (k < end ? ` (line ${k + 1} is not a diff line)` : ' (end of input)') +
        '. The patch was edited by hand or damaged in transit; regenerate it or fix the counts (e.g. "git apply --recount").',
      i,
    );
  }
  hunk.endLine = Math.max(i, k - 1);
  d.hunks.push(hunk);
  return k;
}

export type { FileStatus };
