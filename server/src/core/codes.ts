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
  | 'kernel-config'
  | 'target-symbols';

export interface CodeInfo {
  code: string;
  category: Category;
  severity: Severity;
  title: string;
}

const table: CodeInfo[] = [
  { code: 'KLP001', category: 'input', severity: 'error', title: 'Malformed diff' },
  { code: 'KLP002', category: 'input', severity: 'error', title: 'Hunk does not apply to the kernel tree' },
  { code: 'KLP003', category: 'input', severity: 'information', title: 'Hunk applies with an offset, ignoring whitespace, or with fuzz' },
  { code: 'KLP004', category: 'input', severity: 'warning', title: 'Binary change' },
  { code: 'KLP005', category: 'input', severity: 'warning', title: 'Input is not plain UTF-8 text' },
  { code: 'KLP006', category: 'input', severity: 'warning', title: 'No diff found' },
  { code: 'KLP007', category: 'input', severity: 'error', title: 'Patched file is missing from the kernel tree' },
  { code: 'KLP008', category: 'input', severity: 'error', title: 'Unsupported patch encoding or format' },
  { code: 'KLP009', category: 'input', severity: 'information', title: 'C code the parser could not read' },
  { code: 'KLP010', category: 'summary', severity: 'information', title: 'What the livepatch would replace' },
  { code: 'KLP011', category: 'input', severity: 'warning', title: 'Input beyond a limit of the analysis' },
  { code: 'KLP012', category: 'input', severity: 'warning', title: 'A check failed on this patch' },
  { code: 'KLP013', category: 'summary', severity: 'information', title: 'Checks that need the kernel tree were not made' },
  { code: 'KLP014', category: 'summary', severity: 'error', title: 'No functional change: nothing for a livepatch to replace' },
  // data-structure
  { code: 'KLP101', category: 'data-structure', severity: 'error', title: 'Struct or union layout changes' },
  { code: 'KLP102', category: 'data-structure', severity: 'error', title: 'Enum values change' },
  { code: 'KLP103', category: 'data-structure', severity: 'error', title: 'Typedef changes' },
  // static-data
  { code: 'KLP110', category: 'static-data', severity: 'error', title: 'Initial value of existing data changes' },
  { code: 'KLP111', category: 'static-data', severity: 'error', title: 'Type, size or const-ness of existing data changes' },
  { code: 'KLP112', category: 'static-data', severity: 'error', title: 'Section or storage of existing data changes' },
  { code: 'KLP113', category: 'static-data', severity: 'information', title: 'New data starts fresh in the livepatch' },
  { code: 'KLP114', category: 'static-data', severity: 'warning', title: 'Data removed' },
  { code: 'KLP115', category: 'static-data', severity: 'warning', title: 'Trace event definition changes' },
  // static-local
  { code: 'KLP120', category: 'static-local', severity: 'warning', title: 'New static local variable' },
  { code: 'KLP121', category: 'static-local', severity: 'error', title: 'Static local variable removed or renamed' },
  { code: 'KLP122', category: 'static-local', severity: 'error', title: 'Static local variable changes type or initial value' },
  // once-macro
  { code: 'KLP130', category: 'once-macro', severity: 'information', title: 'Hidden static state starts fresh' },
  // dynamic-data-semantic
  { code: 'KLP140', category: 'dynamic-data-semantic', severity: 'warning', title: 'Paired operation changes its amount' },
  { code: 'KLP141', category: 'dynamic-data-semantic', severity: 'warning', title: 'Paired operation added or removed' },
  { code: 'KLP142', category: 'dynamic-data-semantic', severity: 'warning', title: 'Locking of shared data changes' },
  { code: 'KLP143', category: 'dynamic-data-semantic', severity: 'warning', title: 'Meaning of a shared field changes across functions' },
  { code: 'KLP144', category: 'dynamic-data-semantic', severity: 'warning', title: 'Flag or constant value changes' },
  // shadow-variable
  { code: 'KLP150', category: 'shadow-variable', severity: 'warning', title: 'Shadow variable allocated but never freed' },
  { code: 'KLP151', category: 'shadow-variable', severity: 'error', title: 'Shadow variable id used for different data' },
  { code: 'KLP152', category: 'shadow-variable', severity: 'warning', title: 'Shadow variable allocated with GFP_KERNEL in atomic context' },
  { code: 'KLP153', category: 'shadow-variable', severity: 'warning', title: 'Legacy kpatch shadow API' },
  // init-code
  { code: 'KLP160', category: 'init-code', severity: 'error', title: 'Init or exit code changes' },
  { code: 'KLP161', category: 'init-code', severity: 'error', title: 'Initcall or boot parameter handler changes' },
  { code: 'KLP162', category: 'init-code', severity: 'error', title: 'Init data changes' },
  { code: 'KLP163', category: 'init-code', severity: 'warning', title: 'Probe function changes' },
  // shared-section
  { code: 'KLP170', category: 'shared-section', severity: 'error', title: 'Function in a shared text section changes' },
  // untraceable
  { code: 'KLP180', category: 'untraceable', severity: 'error', title: 'notrace function changes' },
  { code: 'KLP181', category: 'untraceable', severity: 'warning', title: 'Inline function changes' },
  { code: 'KLP182', category: 'untraceable', severity: 'error', title: 'File that livepatch tools cannot patch' },
  // static-key
  { code: 'KLP190', category: 'static-key', severity: 'error', title: 'Jump label in patched code' },
  { code: 'KLP191', category: 'static-key', severity: 'warning', title: 'Tracepoint or dynamic debug in patched code' },
  { code: 'KLP192', category: 'static-key', severity: 'warning', title: 'Jump label reached through an inline helper' },
  { code: 'KLP193', category: 'static-key', severity: 'information', title: 'Static key state changed from patched code' },
  // static-call
  { code: 'KLP200', category: 'static-call', severity: 'error', title: 'Static call in patched code' },
  // syscall
  { code: 'KLP210', category: 'syscall', severity: 'warning', title: 'System call body changes, or a new system call' },
  // special-section
  { code: 'KLP220', category: 'special-section', severity: 'warning', title: 'Inline assembly in patched code' },
  // line-macro
  { code: 'KLP230', category: 'line-macro', severity: 'information', title: 'Line numbers shift under __LINE__ users' },
  // inline-ripple
  { code: 'KLP240', category: 'inline-ripple', severity: 'warning', title: 'Inline helper or macro changes: its callers change too' },
  { code: 'KLP241', category: 'inline-ripple', severity: 'warning', title: 'Inlining attribute changes' },
  // sibling-call
  { code: 'KLP250', category: 'sibling-call', severity: 'error', title: 'Sibling call on ppc64le' },
  // exported-symbol
  { code: 'KLP260', category: 'exported-symbol', severity: 'error', title: 'Exported function changes its signature' },
  { code: 'KLP261', category: 'exported-symbol', severity: 'error', title: 'New export' },
  { code: 'KLP262', category: 'exported-symbol', severity: 'warning', title: 'Export removed or changed' },
  { code: 'KLP263', category: 'exported-symbol', severity: 'warning', title: 'New #include in a file that exports symbols' },
  // symbol-namespace
  { code: 'KLP270', category: 'symbol-namespace', severity: 'warning', title: 'Symbol namespace the livepatch must import' },
  // symbol-identity
  { code: 'KLP280', category: 'symbol-identity', severity: 'error', title: 'Symbol binding changes (static and global)' },
  { code: 'KLP281', category: 'symbol-identity', severity: 'warning', title: 'Function removed' },
  { code: 'KLP282', category: 'symbol-identity', severity: 'information', title: 'New function' },
  { code: 'KLP283', category: 'symbol-identity', severity: 'warning', title: 'Function renamed' },
  { code: 'KLP284', category: 'symbol-identity', severity: 'information', title: 'Function pointer taken in patched code' },
  // header-wide
  { code: 'KLP290', category: 'header-wide', severity: 'warning', title: 'Header file changes' },
  // module
  { code: 'KLP300', category: 'module', severity: 'information', title: 'Patched code lives in a module' },
  // callback
  { code: 'KLP310', category: 'callback', severity: 'warning', title: 'Callbacks not paired' },
  { code: 'KLP311', category: 'callback', severity: 'information', title: 'Livepatch callbacks in the patch' },
  // kpatch-macro
  { code: 'KLP320', category: 'kpatch-macro', severity: 'warning', title: 'kpatch escape hatch in the patch' },
  // kernel-config
  { code: 'KLP330', category: 'kernel-config', severity: 'error', title: 'Kernel configuration blocks livepatch builds' },
  { code: 'KLP331', category: 'kernel-config', severity: 'information', title: 'Changed code is configured out' },
  // target-symbols (with the target's symbol table)
  { code: 'KLP340', category: 'target-symbols', severity: 'warning', title: 'Patched function has no symbol in the target kernel' },
  { code: 'KLP341', category: 'target-symbols', severity: 'warning', title: 'Patched function\'s name occurs more than once in the target' },
  { code: 'KLP342', category: 'target-symbols', severity: 'error', title: 'Patched global function is not in the target\'s symbol table' },
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
