/**
 * The patch document as parsed: a series of patches (one per mail of an mbox,
 * or one for a plain diff), each with its file diffs, hunks and lines. Every
 * element keeps its 0-based line in the patch document so later stages can put
 * a diagnostic exactly on a `+`/`-` line.
 */
import type { Range } from '../text';

export type Severity = 'error' | 'warning' | 'information' | 'hint';

/** A positioned problem found while reading the input (not a livepatch hazard). */
export interface InputProblem {
  code: string;
  severity: Severity;
  message: string;
  range: Range;
}

export type PatchFormat = 'mbox' | 'format-patch' | 'git-diff' | 'unified' | 'empty';

export interface MailHeader {
  from?: string;
  date?: string;
  subject?: string;
  messageId?: string;
  /** "[PATCH v2 3/7]" prefix parsed from the subject, if any. */
  series?: { version?: number; index?: number; total?: number };
  /** Lines of the header block (0-based, inclusive). */
  startLine: number;
  endLine: number;
  contentTransferEncoding?: string;
}

export type HunkLineKind = ' ' | '+' | '-';

export interface HunkLine {
  kind: HunkLineKind;
  /** The content without the one-character marker. */
  text: string;
  /** Line in the patch document. */
  docLine: number;
  /** 1-based line in the old (resp. new) file this line has according to the hunk header. */
  oldLine?: number;
  newLine?: number;
  /** A "\ No newline at end of file" marker follows this line. */
  noNewline: boolean;
}

export interface Hunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  /** Text after the closing "@@" (git's function context, often the enclosing function). */
  section: string;
  /** Line of the "@@" header in the patch document. */
  headerLine: number;
  lines: HunkLine[];
  /** Last document line belonging to this hunk. */
  endLine: number;
  /** The hunk's line counts did not match its header; it is not applied. */
  broken: boolean;
}

export type FileStatus = 'modified' | 'added' | 'deleted' | 'renamed' | 'copied';

export interface FileDiff {
  /** Path before, with the a/ prefix (or the strip level) removed; null for a new file. */
  oldPath: string | null;
  /** Path after; null for a deleted file. */
  newPath: string | null;
  /** Paths exactly as written in the patch. */
  rawOldPath: string | null;
  rawNewPath: string | null;
  status: FileStatus;
  oldMode?: string;
  newMode?: string;
  similarity?: number;
  binary: boolean;
  /** First line of this file's section ("diff --git", "Index:" or "---"). */
  headerLine: number;
  /** Last document line of this file's section. */
  endLine: number;
  hunks: Hunk[];
  /** Index of the patch (mail) of the series this diff belongs to. */
  patchIndex: number;
}

export interface Patch {
  index: number;
  header?: MailHeader;
  /** Commit message lines (0-based, inclusive), when the patch is a mail/commit. */
  message?: { startLine: number; endLine: number; text: string };
  diffstat?: { startLine: number; endLine: number };
  /** "-- " signature line, if any. */
  signatureLine?: number;
  files: FileDiff[];
  startLine: number;
  endLine: number;
}

export interface PatchSet {
  format: PatchFormat;
  patches: Patch[];
  problems: InputProblem[];
  /** Number of lines in the document. */
  lineCount: number;
  /** The document's lines (without EOL), for ranges and hover text. */
  lines: string[];
}

export function allFileDiffs(set: PatchSet): FileDiff[] {
  return set.patches.flatMap((p) => p.files);
}
