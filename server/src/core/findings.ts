/**
 * A finding is what the CLI prints and the server turns into a diagnostic:
 * a code from codes.ts, a message that names the entity and says what to do,
 * the exact range in the patch document, and the other sites involved.
 */
import type { Range } from './text';
import type { Severity } from './patch/model';
import { codeInfo, type Category } from './codes';

export interface RelatedSite {
  message: string;
  range: Range;
  /** Another file (a path in the kernel tree) when the site is outside the patch document. */
  path?: string;
}

export interface Finding {
  code: string;
  category: Category;
  severity: Severity;
  message: string;
  range: Range;
  /** Path of the patched file the finding is about, if any. */
  file?: string;
  related?: RelatedSite[];
  /** Machine-readable details for code actions (entity key, symbol names...). */
  data?: Record<string, unknown>;
}

export function finding(code: string, message: string, range: Range, extra: Partial<Omit<Finding, 'code' | 'message' | 'range'>> = {}): Finding {
  const info = codeInfo(code);
  return { code, category: info.category, severity: extra.severity ?? info.severity, message, range, ...extra };
}

const ORDER: Record<Severity, number> = { error: 0, warning: 1, information: 2, hint: 3 };

export function sortFindings(list: Finding[]): Finding[] {
  return list.sort(
    (a, b) =>
      a.range.start.line - b.range.start.line ||
      a.range.start.character - b.range.start.character ||
      ORDER[a.severity] - ORDER[b.severity] ||
      // not localeCompare: its first call sets up ICU collation (~10 ms of a CLI run)
      (a.code < b.code ? -1 : a.code > b.code ? 1 : 0),
  );
}
