/**
 * Fixes: for a finding, a rewrite of the patch that removes the hazard.
 *
 * A fix reads the analysis of the patch with its syntax kept (the post-image
 * trees), decides which lines of the code the patch produces must change
 * (PostEdit, through a PostEditor), and patch/rewriteFile turns those edits
 * back into hunks. One fix per file; each says which codes it answers. A fix
 * that cannot apply to a finding says why (a refusal), never a half edit.
 *
 * The front ends: the server offers fixes as code actions on their
 * diagnostics, the CLI's `klp-lens fix` applies them until none is left.
 */
import type { FileAnalysis, PatchAnalysis } from '../analysis';
import type { Finding } from '../findings';
import type { KernelTree } from '../tree/kernelTree';
import type { Target, TreeFacts } from '../rules';
import { applyDocChangesToText, FixError, rewriteFile, type DocChange, type PostEdit } from './patchEdit';
import { staticKeyFix } from './staticKey';
import { staticCallFix } from './staticCall';
import { syscallFix } from './syscall';
import { lineDirectivesFix } from './lineDirectives';
import { initCallbacksFix } from './initCallbacks';
import { shadowFieldFix, shadowLockFix } from './shadowField';
import { semanticMarkerFix } from './semanticMarker';
import { keepDeclarationFix } from './keepDeclaration';

export { FixError };

export interface FixContext {
  /** The patch document as it was analysed. */
  text: string;
  /** Analysed with `keepSyntax: true`: the post-image trees are alive. */
  analysis: PatchAnalysis;
  tree?: KernelTree;
  index?: TreeFacts;
  target: Target;
  /**
   * Fixing for a module klp-lens generates: fixes that kpatch-build or
   * klp-build would not need (a jump label on a vmlinux key, which those tools
   * carry as a special section) are offered too.
   */
  generating?: boolean;
}

/** What a fix does to the patch: post-image edits per file, and what it leaves to the author. */
export interface FixPlan {
  files: { file: FileAnalysis; edits: PostEdit[] }[];
  /** Said to the author with the result: what to check or finish by hand. */
  notes: string[];
}

export interface Fix {
  /** Stable id, e.g. "static-key-enabled" (the CLI and code actions carry it). */
  id: string;
  /** The diagnostic codes it answers. */
  codes: readonly string[];
  /** Large rewrites ask for a preview before they are applied. */
  preview?: boolean;
  /** Fixes that several others would undo run later when fixes are applied in a row (line numbering last). */
  order?: number;
  /** The title of the action for this finding, or undefined when the fix does not concern it. */
  title(ctx: FixContext, finding: Finding): string | undefined;
  /** The rewrite; throws FixError with the reason when it cannot be done. */
  plan(ctx: FixContext, finding: Finding): FixPlan;
}

export const FIXES: readonly Fix[] = [staticKeyFix, staticCallFix, syscallFix, lineDirectivesFix, initCallbacksFix, shadowFieldFix, shadowLockFix, keepDeclarationFix, semanticMarkerFix];

export const FIXABLE_CODES: ReadonlySet<string> = new Set(FIXES.flatMap((f) => f.codes));

export interface OfferedFix {
  fix: Fix;
  title: string;
}

/** The fixes that concern a finding (their plans are made only when one is chosen). */
export function fixesFor(ctx: FixContext, finding: Finding): OfferedFix[] {
  const out: OfferedFix[] = [];
  for (const fix of FIXES) {
    if (!fix.codes.includes(finding.code)) continue;
    const title = fix.title(ctx, finding);
    if (title) out.push({ fix, title });
  }
  return out;
}

export interface FixResult {
  /** The new patch. */
  text: string;
  /** The same as changes of the document (line ranges of the old text). */
  changes: DocChange[];
  notes: string[];
}

/** Plan and apply a fix; FixError when it cannot be done. */
export function applyFix(ctx: FixContext, fix: Fix, finding: Finding): FixResult {
  const plan = fix.plan(ctx, finding);
  if (plan.files.length === 0 || plan.files.every((f) => f.edits.length === 0)) throw new FixError('nothing to change');
  const changes = plan.files.filter((f) => f.edits.length).map((f) => rewriteFile(ctx.analysis.set, f.file, f.edits).change);
  const text = applyDocChangesToText(ctx.text, changes);
  return { text, changes, notes: plan.notes };
}
