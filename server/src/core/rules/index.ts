/**
 * The rules that turn the entity diff and the facts into findings, one hazard
 * family per file. A rule is a pure function of the analysed patch; a rule
 * that throws is reported (KLP012) and the others still run.
 */
import type { PatchSet } from '../patch/model';
import type { KernelTree } from '../tree/kernelTree';
import type { FileAnalysis } from '../analysis';
import { finding, type Finding } from '../findings';
import { range } from '../text';
import { summaryRule } from './summary';
import { coverageRule } from './coverage';
import { dataStructureRule } from './dataStructure';
import { staticDataRule } from './staticData';
import { staticLocalRule } from './staticLocal';
import { onceMacroRule } from './onceMacro';
import { dataSemanticRule } from './dataSemantic';
import { shadowVariableRule } from './shadowVariable';
import { initCodeRule } from './initCode';
import { sharedSectionRule } from './sharedSection';
import { untraceableRule } from './untraceable';
import { staticKeyRule } from './staticKey';
import { staticCallRule } from './staticCall';
import { syscallRule } from './syscall';
import { specialSectionRule } from './specialSection';
import { lineMacroRule } from './lineMacro';
import { inlineRippleRule } from './inlineRipple';
import { siblingCallRule } from './siblingCall';
import { exportedSymbolRule } from './exportedSymbol';
import { symbolNamespaceRule } from './symbolNamespace';
import { symbolIdentityRule } from './symbolIdentity';
import { targetSymbolsRule } from './targetSymbols';
import type { SymbolTable } from '../symbols/table';
import { headerWideRule } from './headerWide';
import { moduleRule } from './module';
import { callbackRule } from './callback';
import { kpatchMacroRule } from './kpatchMacro';
import { kernelConfigRule } from './kernelConfig';
import { noFunctionalChangeRule } from './noFunctionalChange';
import { append } from '../arrays';

/** What the rules may ask of an indexed kernel tree (implemented by core/index TreeIndex). */
export type ObjectKind = 'vmlinux' | 'module' | 'not-built' | 'unknown';
export interface TreeFacts {
  exportOf(symbol: string): { file: string; line: number; macro: string; namespace?: string } | undefined;
  staticKey(name: string): { file: string; line: number; macro: string; where: ObjectKind } | undefined;
  staticCall(name: string): { file: string; line: number; where: ObjectKind } | undefined;
  inlineHelper(name: string): { file: string; line: number; keys: string[]; calls: string[] } | undefined;
  isFunctionMacro(name: string): { file: string; line: number } | undefined;
  callersOf(name: string): string[];
  includersOf(header: string, transitive?: boolean): string[];
  objectKind(cFile: string): ObjectKind;
  moduleName(cFile: string): string | undefined;
  kconfigType(symbol: string): string | undefined;
  configValue(symbol: string): string | undefined;
  readonly hasConfig: boolean;
}

/** The kernel and tool the livepatch is for. */
export interface Target {
  /** Kernel version, e.g. { major: 6, minor: 1 }; from the setting, else the tree's Makefile. */
  kernel?: { major: number; minor: number; text: string };
  /** x86_64, ppc64le, s390x, arm64... */
  arch: string;
  /** The tool that builds the livepatch: decides the macros fixes write (KPATCH_* or KLP_*). */
  tool: BuildTool;
}

export type BuildTool = 'kpatch-build' | 'klp-build';

export interface RuleContext {
  set: PatchSet;
  files: FileAnalysis[];
  tree?: KernelTree;
  /** The tree's index when it has been built (rules refine their findings with it). */
  index?: TreeFacts;
  target: Target;
  /** The target kernel's symbol table, when one was given: what the running kernel really has. */
  symbols?: SymbolTable;
}

export interface Rule {
  /** Short identifier, e.g. "summary", "static-key". */
  id: string;
  run(ctx: RuleContext): Finding[];
}

export const RULES: readonly Rule[] = [
  summaryRule,
  noFunctionalChangeRule,
  coverageRule,
  dataStructureRule,
  staticDataRule,
  staticLocalRule,
  onceMacroRule,
  dataSemanticRule,
  shadowVariableRule,
  initCodeRule,
  sharedSectionRule,
  untraceableRule,
  staticKeyRule,
  staticCallRule,
  syscallRule,
  specialSectionRule,
  lineMacroRule,
  inlineRippleRule,
  siblingCallRule,
  exportedSymbolRule,
  symbolNamespaceRule,
  symbolIdentityRule,
  targetSymbolsRule,
  headerWideRule,
  moduleRule,
  callbackRule,
  kpatchMacroRule,
  kernelConfigRule,
];

/**
 * With KLP_LENS_STRICT=1 (npm test sets it) a rule that throws is not turned into KLP012: the
 * exception goes up, so a crash on any test input fails that test.
 */
const STRICT = process.env.KLP_LENS_STRICT === '1';

/** Run every rule; a rule that throws becomes one KLP012 finding and the others still run. */
export function runRules(ctx: RuleContext, rules: readonly Rule[] = RULES, strict = STRICT && rules === RULES): Finding[] {
  const out: Finding[] = [];
  for (const rule of rules) {
    try {
      append(out, rule.run(ctx));
    } catch (e) {
      if (strict) throw e;
      const why = e instanceof Error ? e.message : String(e);
      out.push(
        finding('KLP012', `The "${rule.id}" check failed on this patch (${why}); its hazards are not reported. The other checks ran. Please report this with the patch.`, range(0, 0, 0, 0), {
          data: { rule: rule.id },
        }),
      );
    }
  }
  return out;
}
