/**
 * Questions asked of an analysis by position in the patch document (hover,
 * code actions): which file, hunk and entities a document line belongs to.
 */
import type { PatchAnalysis, FileAnalysis } from './analysis';
import type { EntityChange } from './entities/diff';
import type { HunkApplication } from './patch/images';
import type { FileDiff, Hunk, Patch } from './patch/model';

export interface LineContext {
  patch?: Patch;
  file?: FileAnalysis;
  diff?: FileDiff;
  hunk?: Hunk;
  application?: HunkApplication;
  /** Entities whose span covers the line, innermost (shortest span) first. */
  entities: EntityChange[];
  /** The line is the file header line of `diff`. */
  onFileHeader: boolean;
}

export function lineContext(a: PatchAnalysis, line: number): LineContext {
  const ctx: LineContext = { entities: [], onFileHeader: false };
  ctx.patch = a.set.patches.find((p) => p.startLine <= line && line <= p.endLine);
  for (const f of a.files) {
    for (const d of f.diffs) {
      if (line < d.headerLine || line > d.endLine) continue;
      ctx.file = f;
      ctx.diff = d;
      ctx.onFileHeader = line === d.headerLine;
      ctx.hunk = d.hunks.find((h) => h.headerLine <= line && line <= h.endLine);
      if (ctx.hunk) ctx.application = f.applications.find((x) => x.hunk === ctx.hunk);
    }
  }
  if (ctx.file) {
    ctx.entities = ctx.file.entities
      .filter((e) => e.span.startLine <= line && line <= e.span.endLine)
      .sort((x, y) => x.span.endLine - x.span.startLine - (y.span.endLine - y.span.startLine));
  }
  return ctx;
}

/** All entities across files, in document order. */
export function allEntities(a: PatchAnalysis): { file: FileAnalysis; entity: EntityChange }[] {
  return a.files.flatMap((file) => file.entities.map((entity) => ({ file, entity }))).sort((x, y) => x.entity.range.start.line - y.entity.range.start.line);
}
