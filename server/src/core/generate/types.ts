/** Types shared by the parts of module generation. */
import type { FileAnalysis, PatchAnalysis } from '../analysis';
import type { TreeFacts, Target } from '../rules';
import type { SymbolTable } from '../symbols/table';
import type { KernelTree } from '../tree/kernelTree';
import type { KlpSymbol, SymversEntry } from './klpReloc';

export interface GenerateProblem {
  severity: 'error' | 'warning' | 'note';
  message: string;
  /** The patched file and document line it is about, when there is one. */
  file?: string;
  line?: number;
}

/** One klp_func: the target's function and its replacement. */
export interface KlpFunc {
  object: string;
  file: string;
  /** The C name in the patched file. */
  name: string;
  oldName: string;
  newName: string;
  sympos: number;
  reason?: string;
}

export interface GeneratedModule {
  name: string;
  files: { path: string; text: string }[];
  /** Symbols the code may leave undefined and where they live: klp relocation candidates. */
  relocations: KlpSymbol[];
  problems: GenerateProblem[];
  functions: KlpFunc[];
  /** Hunks the tree image was built with at an offset or with fuzz (said in the README). */
  fuzzy: string[];
}

export interface GenerateContext {
  analysis: PatchAnalysis;
  tree?: KernelTree;
  index?: TreeFacts;
  target: Target;
}

export interface GenerateOptions {
  /** Module name; default from the patch subject, else its files and a hash. */
  name?: string;
  /** Exported symbols of the target kernel (the headers' Module.symvers). */
  symvers?: ReadonlyMap<string, SymversEntry>;
  /** The target kernel's symbol table (System.map, /proc/kallsyms or vmlinux). */
  symbols?: SymbolTable;
  /** Shown in the generated comments. */
  source?: string;
  generator: string;
  /** Fixes applied to the patch before generating (listed in the README). */
  applied?: { code: string; title: string; notes: string[] }[];
}

/** A unit: one patched C file's context and replacement code. */
export interface Unit {
  file: FileAnalysis;
  object: string;
  slug: string;
  text: string;
  funcs: KlpFunc[];
  /** Callback kind (pre_patch…) → the unit's wrapper function. */
  callbacks: Map<string, string>;
  /** Kbuild flags of the file's directory (CFLAGS_<unit>.o, CFLAGS_REMOVE_<unit>.o). */
  cflags: string[];
  cflagsRemove: string[];
}
