/**
 * Every diagnostic code the tool can emit, with its category and default
 * severity. Each code has a page docs/hazards/<code>.md; a test checks that the
 * two stay in step. Hazard rules add their codes here too.
 */
import type { Severity } from './patch/model';

/** Categories of the CLI's JSON `category` field. Hazard categories follow the fixed vocabulary of the hazard issue. */
export type Category =
  | 'input'
  | 'summary'
  | 'data-structure'
  | 'static-data'
  | 'static-local'
  | 'once-macro'
  | 'dynamic-data-semantic'
  | 'shadow-variable'
  | 'init-code'
  | 'shared-section'
  | 'untraceable'
  | 'static-key'
  | 'static-call'
  | 'special-section'
  | 'line-macro'
  | 'inline-ripple'
  | 'sibling-call'
  | 'exported-symbol'
  | 'syscall'
  | 'symbol-namespace'
  | 'symbol-identity'
  | 'header-wide'
  | 'module'
  | 'callback'
  | 'kpatch-macro'
  | 'kernel-config';

export interface CodeInfo {
  code: string;
  category: Category;
  severity: Severity;
  title: string;
}

const table: CodeInfo[] = [
  { code: 'KLP001', category: 'input', severity: 'error', title: 'Malformed diff' },
  { code: 'KLP002', category: 'input', severity: 'error', title: 'Hunk does not apply to the kernel tree' },
  { code: 'KLP003', category: 'input', severity: 'information', title: 'Hunk applies with an offset or fuzz' },
  { code: 'KLP004', category: 'input', severity: 'warning', title: 'Binary change' },
  { code: 'KLP005', category: 'input', severity: 'warning', title: 'Input is not plain UTF-8 text' },
  { code: 'KLP006', category: 'input', severity: 'warning', title: 'No diff found' },
  { code: 'KLP007', category: 'input', severity: 'error', title: 'Patched file is missing from the kernel tree' },
  { code: 'KLP008', category: 'input', severity: 'error', title: 'Unsupported patch encoding or format' },
  { code: 'KLP009', category: 'input', severity: 'information', title: 'C code the parser could not read' },
  { code: 'KLP010', category: 'summary', severity: 'information', title: 'What the livepatch would replace' },
  { code: 'KLP011', category: 'input', severity: 'warning', title: 'Patch too large to analyse' },
];

export const CODES: ReadonlyMap<string, CodeInfo> = new Map(table.map((c) => [c.code, c]));

export function codeInfo(code: string): CodeInfo {
  const info = CODES.get(code);
  if (!info) throw new Error(`unknown diagnostic code ${code}`);
  return info;
}

/** Relative path of a code's documentation page inside the repository/extension. */
export function docsPath(code: string): string {
  return `docs/hazards/${code}.md`;
}
