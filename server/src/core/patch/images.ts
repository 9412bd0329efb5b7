/**
 * Rebuilds the pre-image (before the whole series) and the post-image (after
 * it) of every file the patch touches, and remembers for each image line where
 * it appears in the patch document.
 *
 * With a kernel tree the hunks are applied to the real files: at the stated
 * line, else at the nearest line where the context matches (an offset), else
 * ignoring whitespace, else with jsdiff's fuzzy matching (context lines may
 * differ). Without a tree, or for a file whose hunks do not apply, the images
 * are sparse: only the lines the hunks show are known (confidence `hunks`).
 */
import { applyPatch, diffArrays, type StructuredPatch } from 'diff';
import type { Range } from '../text';
import { lineContentRange } from '../text';
import type { KernelTree } from '../tree/kernelTree';
import type { FileDiff, FileStatus, Hunk, InputProblem, PatchSet } from './model';
import { append } from '../arrays';

export type Confidence = 'tree' | 'hunks';

export type FileLanguage = 'c' | 'header' | 'asm' | 'kbuild' | 'kconfig' | 'rust' | 'dts' | 'other';

export function fileLanguage(path: string): FileLanguage {
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (/\.c$/.test(base)) return 'c';
  if (/\.h$/.test(base)) return 'header';
  if (/\.[sS]$/.test(base)) return 'asm';
  if (/^(Makefile|Kbuild)(\..*)?$/.test(base) || /\.mk$/.test(base)) return 'kbuild';
  if (/^Kconfig/.test(base)) return 'kconfig';
  if (/\.rs$/.test(base)) return 'rust';
  if (/\.dtsi?$/.test(base)) return 'dts';
  return 'other';
}

export type HunkStatus = 'exact' | 'offset' | 'whitespace' | 'fuzz' | 'failed';

export interface HunkApplication {
  diff: FileDiff;
  hunk: Hunk;
  status: HunkStatus;
  /** Lines between where the header put the hunk and where it landed. */
  offset: number;
  /** jsdiff fuzz factor that was needed (context lines that did not match). */
  fuzz: number;
  /** 1-based line of the file (as it was before this hunk) where the hunk's first old line matched. */
  appliedAt?: number;
}

/** One side of a file: the lines known on that side and their places in the patch document. */
export interface SideImage {
  /** False for the pre-image of a new file and the post-image of a deleted one. */
  exists: boolean;
  /** Every line is known (from the tree, or a new/deleted file shown whole). */
  complete: boolean;
  /** Line texts; `undefined` where the line is not known (sparse images). */
  lines: (string | undefined)[];
  /** Document line that shows this image line (as `-`/`+` or context), or -1. */
  docLine: Int32Array;
  /** 1 where the line is removed (pre-image) or added (post-image) by the series. */
  changed: Uint8Array;
  /** For sparse images: the hunk's "@@" section text at the first line of each hunk. */
  headings: Map<number, string>;
  /** Post-image only: the pre-image line each line was kept from, -1 for added lines (drives incremental parsing). */
  origLine?: Int32Array;
}

export interface FileChange {
  /** Path in the original tree (null for a created file). */
  oldPath: string | null;
  /** Path after the series (null for a deleted file). */
  newPath: string | null;
  /** newPath ?? oldPath: how the file is named in reports. */
  path: string;
  status: FileStatus;
  binary: boolean;
  language: FileLanguage;
  confidence: Confidence;
  diffs: FileDiff[];
  applications: HunkApplication[];
  pre: SideImage;
  post: SideImage;
  /** Document line of the file's first header ("diff --git", "---"), where file-level diagnostics go. */
  headerLine: number;
}

/** A reference to a line of the file as the series is applied: >= 0 an original line, < 0 an added one. */
type Ref = number;

class FileState {
  readonly orig: (string | undefined)[];
  cur: Ref[];
  /** Sparse images: the next original line to materialise after `cur`. */
  private tail: number;
  readonly added: { text: string; docLine: number }[] = [];
  readonly preCtxDoc = new Map<number, number>();
  readonly preDelDoc = new Map<number, number>();
  readonly refDoc = new Map<Ref, number>();
  readonly preHeadings = new Map<number, string>();
  readonly refHeadings = new Map<Ref, string>();
  readonly addedDel = new Set<Ref>();
  deleted = false;
  readonly applications: HunkApplication[] = [];
  readonly diffs: FileDiff[] = [];
  failed = false;

  constructor(
    readonly origPath: string | null,
    orig: (string | undefined)[] | undefined,
    readonly full: boolean,
    /** The original text was read from the kernel tree. */
    readonly fromTree = false,
  ) {
    this.orig = orig ?? [];
    this.cur = full ? this.orig.map((_l, i) => i) : [];
    this.tail = 0;
  }

  clone(): FileState {
    const c = new FileState(this.origPath, this.orig.slice(), this.full, this.fromTree);
    c.cur = this.cur.slice();
    c.tail = this.tail;
    append(c.added, this.added);
    for (const [k, v] of this.preCtxDoc) c.preCtxDoc.set(k, v);
    for (const [k, v] of this.preDelDoc) c.preDelDoc.set(k, v);
    for (const [k, v] of this.refDoc) c.refDoc.set(k, v);
    for (const [k, v] of this.preHeadings) c.preHeadings.set(k, v);
    for (const [k, v] of this.refHeadings) c.refHeadings.set(k, v);
    return c;
  }

  text(ref: Ref): string | undefined {
    return ref >= 0 ? this.orig[ref] : this.added[-ref - 1].text;
  }

  private materialise(upTo: number): void {
    if (this.full) return;
    while (this.cur.length <= upTo) this.cur.push(this.tail++);
  }

  /** Apply one hunk; `expected` is the 0-based position in `cur` the header asks for. */
  apply(diff: FileDiff, hunk: Hunk, expected: number, minPos: number): { app: HunkApplication; end: number } {
    const old = hunk.lines.filter((l) => l.kind !== '+');
    const app: HunkApplication = { diff, hunk, status: 'failed', offset: 0, fuzz: 0 };
    let at = -1;
    if (!this.full) {
      if (expected >= minPos) {
        this.materialise(expected + old.length - 1);
        at = expected;
        for (let j = 0; j < old.length; j++) {
          const t = this.text(this.cur[at + j]);
          if (t !== undefined && t !== old[j].text) {
            at = -1;
            break;
          }
        }
        if (at >= 0) for (let j = 0; j < old.length; j++) if (this.cur[at + j] >= 0) this.orig[this.cur[at + j]] = old[j].text;
      }
      if (at < 0) return { app, end: minPos };
      app.status = 'exact';
    } else {
      at = this.search(old.map((l) => l.text), expected, minPos, (a, b) => a === b);
      if (at >= 0) app.status = at === expected ? 'exact' : 'offset';
      else {
        at = this.search(old.map((l) => squash(l.text)), expected, minPos, (a, b) => squash(a) === b);
        if (at >= 0) app.status = 'whitespace';
      }
      if (at < 0) return this.applyFuzzy(hunk, expected, minPos, app);
      app.offset = at - expected;
    }
    app.appliedAt = at + 1;
    const end = this.commit(hunk, at, old.length);
    return { app, end };
  }

  /** Nearest position to `expected` (>= minPos) where `want` matches line by line; -1 if none. */
  private search(want: string[], expected: number, minPos: number, eq: (line: string, want: string) => boolean): number {
    const maxPos = this.cur.length - want.length;
    const matches = (p: number) => {
      for (let j = 0; j < want.length; j++) if (!eq(this.text(this.cur[p + j]) ?? '', want[j])) return false;
      return true;
    };
    const start = Math.min(Math.max(expected, minPos), Math.max(maxPos, minPos));
    for (let d = 0; ; d++) {
      const fwd = start + d;
      const back = start - d;
      const fwdOk = fwd <= maxPos;
      const backOk = d > 0 && back >= minPos && back <= maxPos;
      if (!fwdOk && !(back >= minPos)) return -1;
      if (fwdOk && matches(fwd)) return fwd;
      if (backOk && matches(back)) return back;
    }
  }

  /** Replace `oldCount` refs at `at` by the hunk's new side, recording document lines. Returns the end for the next hunk. */
  private commit(hunk: Hunk, at: number, oldCount: number): number {
    const next: Ref[] = [];
    let oi = 0;
    let trailingContext = 0;
    // The heading sits above each side's first line: the old side's first is the first line that is not added.
    let firstPre = true;
    let firstPost = true;
    for (const l of hunk.lines) {
      if (l.kind === '+') {
        const ref: Ref = -(this.added.length + 1);
        this.added.push({ text: l.text, docLine: l.docLine });
        if (firstPost && hunk.section) this.refHeadings.set(ref, hunk.section);
        firstPost = false;
        next.push(ref);
        trailingContext = 0;
      } else {
        const ref = this.cur[at + oi++];
        if (hunk.section) {
          if (firstPre && ref >= 0 && !this.preHeadings.has(ref)) this.preHeadings.set(ref, hunk.section);
          if ((firstPre || (firstPost && l.kind === ' ')) && !this.refHeadings.has(ref)) this.refHeadings.set(ref, hunk.section);
        }
        firstPre = false;
        if (l.kind === ' ') firstPost = false;
        if (l.kind === ' ') {
          if (ref >= 0 && !this.preCtxDoc.has(ref)) this.preCtxDoc.set(ref, l.docLine);
          this.refDoc.set(ref, l.docLine);
          next.push(ref);
          trailingContext++;
        } else {
          if (ref >= 0) this.preDelDoc.set(ref, l.docLine);
          else this.addedDel.add(ref);
          trailingContext = 0;
        }
      }
    }
    this.cur.splice(at, oldCount, ...next);
    return at + next.length - trailingContext;
  }

  /** Fuzzy application through jsdiff; the line mapping is recovered by aligning before and after. */
  private applyFuzzy(hunk: Hunk, expected: number, minPos: number, app: HunkApplication): { app: HunkApplication; end: number } {
    const before = this.cur.map((r) => this.text(r) ?? '');
    const structured: StructuredPatch = {
      oldFileName: 'a',
      newFileName: 'b',
      oldHeader: '',
      newHeader: '',
      hunks: [
        {
          oldStart: expected + 1,
          oldLines: hunk.lines.filter((l) => l.kind !== '+').length,
          newStart: expected + 1,
          newLines: hunk.lines.filter((l) => l.kind !== '-').length,
          lines: hunk.lines.map((l) => l.kind + l.text),
        },
      ],
    };
    const source = before.join('\n');
    for (let fuzz = 1; fuzz <= 2; fuzz++) {
      const result = applyPatch(source, structured, { fuzzFactor: fuzz, autoConvertLineEndings: false });
      if (result === false) continue;
      const after = result.split('\n');
      let p = 0;
      while (p < before.length && p < after.length && before[p] === after[p]) p++;
      let s = 0;
      while (s < before.length - p && s < after.length - p && before[before.length - 1 - s] === after[after.length - 1 - s]) s++;
      if (p < minPos) return { app, end: minPos };
      const oldRegion = before.slice(p, before.length - s);
      const newRegion = after.slice(p, after.length - s);
      const plus = hunk.lines.filter((l) => l.kind === '+');
      const minus = hunk.lines.filter((l) => l.kind === '-');
      const next: Ref[] = [];
      let oi = 0;
      for (const part of diffArrays(oldRegion, newRegion)) {
        for (const text of part.value) {
          if (part.added) {
            const k = plus.findIndex((l) => l.text === text);
            const docLine = k >= 0 ? plus.splice(k, 1)[0].docLine : -1;
            const ref: Ref = -(this.added.length + 1);
            this.added.push({ text, docLine });
            next.push(ref);
          } else if (part.removed) {
            const ref = this.cur[p + oi++];
            const k = minus.findIndex((l) => l.text === text);
            if (ref >= 0 && k >= 0) this.preDelDoc.set(ref, minus.splice(k, 1)[0].docLine);
          } else {
            next.push(this.cur[p + oi++]);
          }
        }
      }
      this.cur.splice(p, oldRegion.length, ...next);
      app.status = 'fuzz';
      app.fuzz = fuzz;
      app.appliedAt = p + 1;
      app.offset = p - expected;
      return { app, end: p + next.length };
    }
    return { app, end: minPos };
  }

  preImage(exists: boolean): SideImage {
    const n = this.orig.length;
    const docLine = new Int32Array(n).fill(-1);
    const changed = new Uint8Array(n);
    for (const [k, v] of this.preCtxDoc) if (k < n) docLine[k] = v;
    for (const [k, v] of this.preDelDoc) {
      if (k < n) {
        docLine[k] = v;
        changed[k] = 1;
      }
    }
    return { exists, complete: this.full, lines: this.orig, docLine, changed, headings: this.preHeadings };
  }

  postImage(exists: boolean): SideImage {
    const lines: (string | undefined)[] = this.cur.map((r) => this.text(r));
    const docLine = new Int32Array(lines.length).fill(-1);
    const changed = new Uint8Array(lines.length);
    const headings = new Map<number, string>();
    const origLine = new Int32Array(lines.length).fill(-1);
    this.cur.forEach((ref, i) => {
      if (ref >= 0) origLine[i] = ref;
      if (ref < 0) {
        docLine[i] = this.added[-ref - 1].docLine;
        changed[i] = 1;
      } else {
        const d = this.refDoc.get(ref);
        if (d !== undefined) docLine[i] = d;
      }
      const h = this.refHeadings.get(ref);
      if (h !== undefined) headings.set(i, h);
    });
    return { exists, complete: this.full, lines: exists ? lines : [], docLine: exists ? docLine : new Int32Array(0), changed: exists ? changed : new Uint8Array(0), headings, origLine };
  }
}

function squash(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

function emptyImage(): SideImage {
  return { exists: false, complete: true, lines: [], docLine: new Int32Array(0), changed: new Uint8Array(0), headings: new Map() };
}

export interface ImagesResult {
  files: FileChange[];
  problems: InputProblem[];
}

function hunkHeaderRange(set: PatchSet, hunk: Hunk): Range {
  return lineContentRange(set.lines, hunk.headerLine);
}

/** Apply every patch of the series, file by file; see the module comment. */
export function buildImages(set: PatchSet, tree?: KernelTree): ImagesResult {
  const problems: InputProblem[] = [];
  const firstPass = runSeries(set, tree, new Set(), problems);
  // Files whose hunks do not apply to the tree are analysed again from the hunks alone;
  // states are created in the same order in both passes, so they line up by index.
  const fallBack = new Set(firstPass.filter((s) => s.failed && s.fromTree).map((s) => s.origPath as string));
  let states = firstPass;
  if (fallBack.size > 0) {
    const second = runSeries(set, tree, fallBack, []);
    states = firstPass.map((s, i) => {
      if (!(s.fromTree && s.failed)) return s;
      const t = second[i];
      t.applications.length = 0;
      append(t.applications, s.applications);
      return t;
    });
  }
  return { files: states.map(toFileChange), problems };

  function toFileChange(s: FileState): FileChange {
    const first = s.diffs[0];
    const last = s.diffs[s.diffs.length - 1];
    const newPath = s.deleted ? null : (last.newPath ?? null);
    const created = s.origPath === null;
    const path = newPath ?? s.origPath ?? first.newPath ?? first.oldPath ?? '?';
    let status: FileStatus = 'modified';
    if (created) status = 'added';
    else if (s.deleted) status = 'deleted';
    else if (s.diffs.some((d) => d.status === 'copied')) status = 'copied';
    else if (newPath !== s.origPath) status = 'renamed';
    return {
      oldPath: s.origPath,
      newPath,
      path,
      status,
      binary: s.diffs.some((d) => d.binary),
      language: fileLanguage(path),
      confidence: s.fromTree || (created && tree !== undefined) ? 'tree' : 'hunks',
      diffs: s.diffs,
      applications: s.applications,
      pre: created ? emptyImage() : s.preImage(true),
      post: s.deleted ? emptyImage() : s.postImage(true),
      headerLine: first.headerLine,
    };
  }

  function runSeries(set: PatchSet, tree: KernelTree | undefined, forceSparse: Set<string>, problems: InputProblem[]): FileState[] {
    const byPath = new Map<string, FileState>();
    const all: FileState[] = [];
    for (const patch of set.patches) {
      for (const diff of patch.files) {
        let state: FileState;
        if (diff.status === 'added' || diff.oldPath === null) {
          const path = diff.newPath ?? '?';
          if (tree && tree.resolvePath(diff.newPath, diff.rawNewPath) && !byPath.has(path)) {
            problems.push({
              code: 'KLP002',
              severity: 'error',
              message: `${path} already exists in the kernel tree, but the patch creates it: the patch does not match this tree.`,
              range: lineContentRange(set.lines, diff.headerLine),
            });
          }
          state = new FileState(null, [], true);
          all.push(state);
          byPath.set(path, state);
        } else {
          const existing = byPath.get(diff.oldPath);
          if (existing && !existing.deleted) {
            state = diff.status === 'copied' ? existing.clone() : existing;
            if (state !== existing) all.push(state);
          } else {
            // A binary file is never read from the tree: its change is reported, not applied.
            state = openState(diff, diff.binary ? undefined : tree, forceSparse, problems, set);
            all.push(state);
          }
        }
        state.diffs.push(diff);
        if (diff.binary) continue;
        let delta = 0;
        let lastOffset = 0;
        let minPos = 0;
        for (const hunk of diff.hunks) {
          if (hunk.broken) {
            state.applications.push({ diff, hunk, status: 'failed', offset: 0, fuzz: 0 });
            continue;
          }
          const expected = (hunk.oldLines === 0 ? hunk.oldStart : hunk.oldStart - 1) + delta + lastOffset;
          const { app, end } = state.apply(diff, hunk, Math.max(0, expected), minPos);
          state.applications.push(app);
          if (app.status === 'failed') {
            state.failed = true;
            if (state.fromTree && tree) {
              problems.push({
                code: 'KLP002',
                severity: 'error',
                message:
                  `Hunk ${diff.hunks.indexOf(hunk) + 1} of ${diff.newPath ?? diff.oldPath} does not apply to the kernel tree at ${tree.root}` +
                  (tree.version ? ` (${tree.version.text})` : '') +
                  `: its context and removed lines are not found near line ${hunk.oldStart}. ` +
                  'Rebase the patch onto this tree, or point livepatchLens.kernelTree / --tree at the tree it was made for. The file is analysed from its hunks alone.',
                range: hunkHeaderRange(set, hunk),
              });
            } else if (!state.full) {
              problems.push({
                code: 'KLP002',
                severity: 'error',
                message: `Hunk ${diff.hunks.indexOf(hunk) + 1} of ${diff.newPath ?? diff.oldPath} contradicts an earlier hunk or patch of the series: its old lines differ from what the earlier hunks left at line ${hunk.oldStart}.`,
                range: hunkHeaderRange(set, hunk),
              });
            }
            continue;
          }
          if (app.status !== 'exact') {
            const where = `${diff.newPath ?? diff.oldPath}`;
            const what =
              app.status === 'offset'
                ? `applies ${Math.abs(app.offset)} line${Math.abs(app.offset) === 1 ? '' : 's'} ${app.offset > 0 ? 'below' : 'above'} where its header says (at line ${app.appliedAt})`
                : app.status === 'whitespace'
                  ? `applies only when whitespace is ignored (at line ${app.appliedAt}); the patch was probably whitespace-damaged in transit`
                  : `applies only with fuzz ${app.fuzz} (some context lines differ) at line ${app.appliedAt}; check that the surrounding code is the code the fix was written for`;
            problems.push({
              code: 'KLP003',
              severity: app.status === 'offset' ? 'information' : 'warning',
              message: `Hunk ${diff.hunks.indexOf(hunk) + 1} of ${where} ${what}.`,
              range: hunkHeaderRange(set, hunk),
            });
          }
          lastOffset = app.offset;
          delta += hunk.newLines - hunk.oldLines;
          minPos = end;
        }
        if (diff.status === 'deleted') {
          state.deleted = true;
          if (diff.oldPath) byPath.delete(diff.oldPath);
        } else if (diff.status === 'renamed' && diff.oldPath && diff.newPath) {
          byPath.delete(diff.oldPath);
          byPath.set(diff.newPath, state);
        } else if (diff.newPath) {
          byPath.set(diff.newPath, state);
        }
      }
    }
    return all;
  }
}

function openState(diff: FileDiff, tree: KernelTree | undefined, forceSparse: Set<string>, problems: InputProblem[], set: PatchSet): FileState {
  const path = diff.oldPath as string;
  if (tree && !forceSparse.has(path)) {
    const rel = tree.resolvePath(diff.oldPath, diff.rawOldPath);
    const file = rel ? tree.read(rel) : undefined;
    if (file) {
      // the tree's shared line array: a full image never writes to its original lines
      return new FileState(path, file.lines as string[], true, true);
    }
    problems.push({
      code: 'KLP007',
      severity: 'error',
      message: `${path} is not in the kernel tree at ${tree.root}: the patch was made for another tree, or the path needs a different -p level. The file is analysed from its hunks alone.`,
      range: lineContentRange(set.lines, diff.headerLine),
    });
  }
  // A deleted file is shown whole by its hunk: complete without a tree.
  if (diff.status === 'deleted' && diff.hunks.length === 1 && diff.hunks[0].oldStart <= 1 && !diff.hunks[0].broken) {
    const lines = diff.hunks[0].lines.filter((l) => l.kind !== '+').map((l) => l.text);
    return new FileState(path, lines, true);
  }
  return new FileState(path, undefined, false);
}
