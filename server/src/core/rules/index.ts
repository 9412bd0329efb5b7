/**
 * The rules that turn the entity diff into findings, one hazard family per
 * file. Each rule is a pure function of the analysed patch.
 */
import type { PatchSet } from '../patch/model';
import type { KernelTree } from '../tree/kernelTree';
import type { FileAnalysis } from '../analysis';
import type { Finding } from '../findings';
import { summaryRule } from './summary';

export interface RuleContext {
  set: PatchSet;
  files: FileAnalysis[];
  tree?: KernelTree;
}

export interface Rule {
  /** Short identifier, e.g. "summary", "static-key". */
  id: string;
  run(ctx: RuleContext): Finding[];
}

export const RULES: readonly Rule[] = [summaryRule];
