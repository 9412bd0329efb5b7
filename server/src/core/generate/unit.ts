/**
 * One unit of a livepatch module: a patched C file's context in its own order
 * (includes, macros, types, `#if` structure) and the code the module carries:
 * the replaced functions renamed `livepatch_<name>`, new functions and data,
 * inline functions and statics the target does not have, the callbacks; for
 * everything else the target has, an `extern` declaration (references.ts
 * decides which). Copied text is kept as it is: storage classes, qualifiers,
 * sections and static locals survive.
 */
import type { FileAnalysis } from '../analysis';
import type { Side } from '../entities/diff';
import type { Entity } from '../entities/extract';
import type { Node } from '../syntax/parser';
import { declaratorName } from '../entities/extract';
import { externOf, externPrototype, identifiers, rawOf, renamed, replacementText } from './decls';
import { decide, outside, type Decision, type ReferenceContext } from './references';
import { renameSyscall, SYSCALL_PREAMBLE } from './syscall';
import { callbackOf, compatPreamble, TOOL_HEADERS } from './kpatch';
import type { ReplacedFunction } from './plan';

/** Parameters and local variables declared inside a function (they shadow file-scope names). */
function localNames(fn: Node): Set<string> {
  const out = new Set<string>();
  for (const d of fn.descendantsOfType(['parameter_declaration', 'declaration'])) {
    if (!d) continue;
    for (const decl of d.childrenForFieldName('declarator')) {
      const n = declaratorName(decl);
      if (n) out.add(n.text);
    }
  }
  return out;
}

const FILE_SCOPE = new Set(['function', 'syscall', 'variable', 'prototype', 'macro']);

export interface UnitCode {
  text: string;
  callbacks: Map<string, string>;
}

export class UnitBuilder {
  private readonly byName = new Map<string, Entity[]>();
  private readonly decisions = new Map<string, Decision>();
  private readonly byNode = new Map<number, Entity>();
  private readonly syscallAt = new Map<number, Entity>();
  private readonly declared = new Set<string>();
  private readonly callbackFns = new Map<string, { fn: string; hook: boolean }>();
  private readonly lines: string[] = [];
  private readonly renames: Map<string, string>;
  private readonly replacedSyscalls: Set<string>;
  private syscallPreamble = false;

  constructor(
    private readonly file: FileAnalysis,
    private readonly side: Side,
    private readonly replaced: ReplacedFunction[],
    private readonly ctx: ReferenceContext,
  ) {
    for (const e of side.ents.entities) {
      if (!FILE_SCOPE.has(e.kind)) continue;
      this.byName.set(e.name, [...(this.byName.get(e.name) ?? []), e]);
      this.byNode.set(e.node.id, e);
      if (e.kind === 'syscall') this.syscallAt.set(e.startRow, e);
    }
    this.renames = new Map(replaced.filter((r) => !r.syscall).map((r) => [r.name, r.newName]));
    this.replacedSyscalls = new Set(replaced.filter((r) => r.syscall).map((r) => r.name));
    for (const e of side.ents.entities) {
      const cb = e.kind === 'invocation' ? callbackOf(e.definedBy ?? '', e.args ?? []) : undefined;
      if (cb) this.callbackFns.set(cb.kind, { fn: cb.fn, hook: cb.hook });
    }
  }

  build(): UnitCode {
    this.reach();
    this.lines.push('// SPDX-License-Identifier: GPL-2.0', `/* Livepatch unit for ${this.file.path} (${this.ctx.object}): its context and the code the module carries. */`);
    this.lines.push(...compatPreamble(this.side.src.raw));
    this.emitChildren(this.side.tree!.rootNode);
    const callbacks = this.callbackWrappers();
    return { text: this.lines.join('\n') + '\n', callbacks };
  }

  // -- what the code reaches -------------------------------------------------

  private definitionOf(name: string): Entity | undefined {
    const all = this.byName.get(name) ?? [];
    return all.find((e) => e.kind === 'function' || e.kind === 'syscall') ?? all.find((e) => e.kind === 'variable' && !e.declarationOnly) ?? all.find((e) => e.kind === 'variable') ?? all.find((e) => e.kind === 'macro') ?? all[0];
  }

  private reach(): void {
    const queue: Node[] = [];
    for (const r of this.replaced) queue.push(r.entity.node);
    for (const name of this.ctx.added) {
      const def = this.definitionOf(name);
      if (def && (def.kind === 'function' || def.kind === 'variable')) {
        this.decisions.set(name, { kind: 'copy' });
        queue.push(def.node);
      }
    }
    for (const { fn } of this.callbackFns.values()) this.visit(fn, false, queue);
    const seen = new Set<number>();
    while (queue.length) {
      const n = queue.pop()!;
      if (seen.has(n.id)) continue;
      seen.add(n.id);
      const locals = localNames(n);
      for (const id of identifiers(n)) {
        if (locals.has(id.text)) continue;
        const called = id.parent?.type === 'call_expression' && id.parent.childForFieldName('function')?.id === id.id;
        this.visit(id.text, called, queue);
      }
    }
  }

  private visit(name: string, called: boolean, queue: Node[]): void {
    if (this.decisions.has(name)) return;
    const def = this.definitionOf(name);
    if (!def) {
      this.decisions.set(name, { kind: 'header' });
      outside(this.ctx, name, called);
      return;
    }
    if (def.kind === 'macro') {
      this.decisions.set(name, { kind: 'header' });
      for (const m of rawOf(this.side, def.node).matchAll(/\b[A-Za-z_]\w*\b/g)) if (m[0] !== name) this.visit(m[0], false, queue);
      return;
    }
    if (def.kind === 'prototype') {
      this.decisions.set(name, { kind: 'copy' });
      outside(this.ctx, name, called);
      return;
    }
    const d = this.replacedSyscalls.has(name) && def.kind === 'syscall' ? ({ kind: 'replace', to: name } as Decision) : decide(this.ctx, def);
    this.decisions.set(name, d);
    if (d.kind === 'copy') for (const e of this.byName.get(name) ?? []) if (e.kind !== 'prototype') queue.push(e.node);
  }

  // -- the unit's text, in the file's order -----------------------------------

  private emitChildren(node: Node): void {
    const consumed = new Set<number>();
    for (const c of node.namedChildren) {
      if (!c || consumed.has(c.id)) continue;
      const img = this.side.src.toImage[c.startPosition.row] ?? -1;
      if (img < 0 && !c.type.startsWith('preproc_')) continue; // synthetic lines
      this.emitItem(c, consumed);
    }
  }

  private emitItem(c: Node, consumed: Set<number>): void {
    switch (c.type) {
      case 'preproc_include': {
        const t = rawOf(this.side, c).trimEnd();
        if (!TOOL_HEADERS.test(t)) this.lines.push(t);
        return;
      }
      case 'preproc_def':
      case 'preproc_function_def': {
        const t = rawOf(this.side, c).trimEnd();
        if (!/\bCREATE_TRACE_POINTS\b/.test(t)) this.lines.push(t);
        return;
      }
      case 'preproc_call': {
        const t = rawOf(this.side, c).trimEnd();
        if (/^#\s*(undef|pragma)\b/.test(t)) this.lines.push(t);
        return;
      }
      case 'preproc_if':
      case 'preproc_ifdef':
      case 'preproc_elif':
      case 'preproc_else':
      case 'preproc_elifdef':
        this.lines.push(directiveLines(rawOf(this.side, c)));
        this.emitChildren(c);
        if (c.type === 'preproc_if' || c.type === 'preproc_ifdef') this.lines.push('#endif');
        return;
      case 'type_definition':
      case 'struct_specifier':
      case 'union_specifier':
      case 'enum_specifier':
        this.lines.push(rawOf(this.side, c).trimEnd() + (c.type === 'type_definition' ? '' : ';'));
        return;
      case 'function_definition':
        return this.emitFunction(c);
      case 'declaration':
        return this.emitDeclaration(c);
      case 'expression_statement':
        return this.emitStatement(c, consumed);
      default:
        return;
    }
  }

  private emitFunction(c: Node): void {
    const e = this.byNode.get(c.id);
    if (!e) return;
    if (e.kind === 'syscall') return this.emitSyscall(e, c.startIndex, c.endIndex);
    const d = this.decisions.get(e.name);
    if (!d || d.kind === 'header') return;
    if (d.kind === 'replace') {
      const text = renamed(this.side, c, this.renames);
      this.lines.push('', `/* replaces ${e.name}() */`, replacementText(c, text));
    } else if (d.kind === 'copy') {
      if (d.carried) this.lines.push('', `/* ${e.name}() has no symbol in the target (inlined everywhere): the module carries it */`);
      else this.lines.push('');
      this.lines.push(renamed(this.side, c, this.renames));
    } else if (!this.declared.has(e.name)) {
      this.declared.add(e.name);
      this.lines.push(externPrototype(this.side, c, d.asm));
    }
  }

  private emitSyscall(e: Entity, start: number, end: number): void {
    if (!this.replacedSyscalls.has(e.name)) return;
    if (!this.syscallPreamble) this.lines.push('', ...SYSCALL_PREAMBLE);
    this.syscallPreamble = true;
    const text = this.side.src.raw.slice(start, end);
    this.lines.push('', `/* replaces the system call ${e.name} (its arch entry wrappers) */`, renameSyscall(text, e.name));
  }

  private emitDeclaration(c: Node): void {
    const fd = c.descendantsOfType('function_declarator')[0];
    const declarator = c.childForFieldName('declarator');
    if (fd && !declarator?.type.includes('init')) return this.emitPrototype(c, declaratorName(declarator)?.text ?? '');
    const e = this.byNode.get(c.id);
    if (!e || e.kind !== 'variable') return;
    this.emitVariable(c, e);
  }

  private emitPrototype(c: Node, name: string): void {
    const d = this.decisions.get(name);
    if (!d || d.kind === 'header') return;
    if (d.kind === 'replace') {
      // callers before the definition see the replacement's prototype
      const text = renamed(this.side, c, this.renames);
      this.lines.push(text.replace(/\b(static|inline|__always_inline|__init|__exit)\s+/g, ''));
    } else if (d.kind === 'copy') this.lines.push(rawOf(this.side, c).trimEnd());
    else if (!this.declared.has(name)) {
      this.declared.add(name);
      this.lines.push(externPrototype(this.side, c, d.asm));
    }
  }

  private emitVariable(c: Node, e: Entity): void {
    const d = this.decisions.get(e.name);
    if (!d || d.kind === 'header' || d.kind === 'replace') return;
    if (d.kind === 'copy') {
      if (d.carried) this.lines.push(`/* ${e.name} has no symbol in the target: the module carries it */`);
      this.lines.push(rawOf(this.side, c).trimEnd());
      return;
    }
    if (this.declared.has(e.name)) return;
    this.declared.add(e.name);
    const ext = externOf(this.side, e, d.asm);
    if (ext) this.lines.push(ext);
    else this.ctx.problems.push({ severity: 'error', message: `${this.file.path}: the module's code uses ${e.name}, whose declaration (${rawOf(this.side, c).split('\n')[0].trim()}) cannot be turned into an extern one; declare it by hand.`, file: this.file.path });
  }

  private emitStatement(c: Node, consumed: Set<number>): void {
    const sys = this.syscallAt.get(c.startPosition.row);
    if (sys) {
      consumed.add(sys.node.id);
      return this.emitSyscall(sys, c.startIndex, sys.node.endIndex);
    }
    const e = this.byNode.get(c.id);
    if (e?.kind === 'variable') this.emitVariable(c, e);
  }

  // -- callbacks ----------------------------------------------------------------

  private callbackWrappers(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [kind, { fn, hook }] of this.callbackFns) {
      const wrapper = `livepatch_${this.ctx.slug}_${kind}`;
      out.set(kind, wrapper);
      const call = hook ? `${fn}()` : `${fn}(obj)`;
      this.lines.push('', kind === 'pre_patch' ? `int ${wrapper}(struct klp_object *obj)` : `void ${wrapper}(struct klp_object *obj)`, '{', kind === 'pre_patch' ? (hook ? `\t${call};\n\treturn 0;` : `\treturn ${call};`) : `\t${call};`, '}');
    }
    this.lines.push('');
    return out;
  }
}

/** A directive's lines: the first, and its backslash continuations. */
function directiveLines(raw: string): string {
  const lines = raw.split('\n');
  const out: string[] = [];
  for (const l of lines) {
    out.push(l.trimEnd());
    if (!l.trimEnd().endsWith('\\')) break;
  }
  return out.join('\n');
}
