/**
 * Apply fixes to a patch until none is left for the chosen codes: analyse
 * (with syntax), take the first finding of those codes that a fix answers,
 * apply it, analyse the new text again (every fix moves lines), repeat. A fix
 * that refuses is remembered with its reason and not tried again. The CLI's
 * `klp-lens fix` runs this.
 */
import { analyzePatch, targetOf, type AnalyzeOptions } from '../analysis';
import type { Finding } from '../findings';
import { applyFix, fixesFor, FixError } from './index';

export interface AppliedFix {
  code: string;
  fix: string;
  title: string;
  notes: string[];
}

export interface RefusedFix {
  code: string;
  fix: string;
  title: string;
  reason: string;
  /** Where the finding was, in the text as it was then. */
  line: number;
}

export interface FixRun {
  text: string;
  applied: AppliedFix[];
  refused: RefusedFix[];
  /** Findings of the chosen codes still in the final text. */
  remaining: Finding[];
}

const key = (f: Finding, fixId: string) => `${fixId}|${f.code}|${f.file ?? ''}|${JSON.stringify(f.data ?? {})}`;

export async function fixPatch(text: string, codes: ReadonlySet<string>, options: AnalyzeOptions = {}, maxSteps = 100, generating = false): Promise<FixRun> {
  const applied: AppliedFix[] = [];
  const refused: RefusedFix[] = [];
  const tried = new Set<string>();
  let current = text;
  for (let step = 0; step < maxSteps; step++) {
    const a = await analyzePatch(current, { ...options, keepSyntax: true });
    let next: string | undefined;
    try {
      const ctx = { text: current, analysis: a, tree: options.tree, index: options.index, target: targetOf(options), generating };
      const candidates = a.findings.filter((f) => codes.has(f.code)).flatMap((f) => fixesFor(ctx, f).map((offer) => ({ f, offer })));
      candidates.sort((x, y) => (x.offer.fix.order ?? 0) - (y.offer.fix.order ?? 0));
      for (const { f, offer } of candidates) {
        const k = key(f, offer.fix.id);
        if (tried.has(k)) continue;
        tried.add(k);
        try {
          const r = applyFix(ctx, offer.fix, f);
          applied.push({ code: f.code, fix: offer.fix.id, title: offer.title, notes: r.notes });
          next = r.text;
          break;
        } catch (e) {
          if (!(e instanceof FixError)) throw e;
          refused.push({ code: f.code, fix: offer.fix.id, title: offer.title, reason: e.message, line: f.range.start.line });
        }
      }
    } finally {
      a.dispose();
    }
    if (next === undefined) break;
    current = next;
  }
  // what is left: findings of the chosen codes that a fix would still answer (informational ones need none)
  const last = await analyzePatch(current, { ...options, keepSyntax: true });
  try {
    const ctx = { text: current, analysis: last, tree: options.tree, index: options.index, target: targetOf(options) };
    return { text: current, applied, refused, remaining: last.findings.filter((f) => codes.has(f.code) && fixesFor(ctx, f).length > 0) };
  } finally {
    last.dispose();
  }
}
