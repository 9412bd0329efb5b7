/**
 * Finds the C entities of one side of a file in its tree-sitter tree:
 * functions (also macro-defined ones such as SYSCALL_DEFINEn), prototypes,
 * structs/unions/enums/typedefs, file-scope variables (also DEFINE_* data
 * macros), macros, includes, EXPORT_SYMBOL* lines, other file-scope macro
 * invocations (initcalls, __setup, module_param), and static locals of
 * functions.
 */
import type { Node, Tree } from '../syntax/parser';
import type { ParseSource } from '../syntax/source';
import { annotationsIn, FRAGMENT_FUNCTION, MACRO_FRAGMENT } from '../syntax/source';
import type { Annotation } from '../syntax/annotations';

export type EntityKind =
  | 'function'
  | 'syscall'
  | 'prototype'
  | 'struct'
  | 'union'
  | 'enum'
  | 'typedef'
  | 'variable'
  | 'static-local'
  | 'macro'
  | 'include'
  | 'export'
  | 'invocation'
  /** Changed code inside a function the analysis cannot name (a hunk without function context). */
  | 'fragment';

export interface Entity {
  kind: EntityKind;
  name: string;
  /** Identity across the two sides: kind family + name (+ "#n" for a repeated definition). */
  key: string;
  node: Node;
  /** Parse-text lines (inclusive). */
  startRow: number;
  endRow: number;
  /** Where the name is, in parse-text coordinates (row -1 when the name is synthetic). */
  nameRow: number;
  nameColumn: number;
  /** The header came from a hunk heading, not from the file (hunks-only analysis). */
  synthetic: boolean;
  /** Function whose static local this is. */
  scope?: string;
  /** Macro that defines it: SYSCALL_DEFINE3, DEFINE_STATIC_KEY_FALSE, EXPORT_SYMBOL_GPL, module_init... */
  definedBy?: string;
  /** Macro arguments for invocations and DEFINE_* data. */
  args?: string[];
  /** A declaration only (extern variable, DECLARE_* macro, prototype). */
  declarationOnly?: boolean;
  /** Storage-class specifiers and inline on the declaration: static, extern, inline, register... */
  storage: string[];
  annotations: Annotation[];
  /**
   * Further pieces of the same entity (hunks-only analysis: one function seen
   * through several hunks, each fragment wrapped under the hunk's heading).
   */
  extra?: { node: Node; startRow: number; endRow: number }[];
}

const FAMILY: Record<EntityKind, string> = {
  function: 'fn',
  syscall: 'sys',
  prototype: 'proto',
  struct: 'tag',
  union: 'tag',
  enum: 'tag',
  typedef: 'typedef',
  variable: 'var',
  'static-local': 'slocal',
  macro: 'macro',
  include: 'include',
  export: 'export',
  invocation: 'invoke',
  fragment: 'frag',
};

/** Splits a macro argument list at top-level commas. */
export function splitArgs(inner: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  let quote = '';
  for (let i = 0; i < inner.length; i++) {
    const ch = inner[i];
    if (quote) {
      cur += ch;
      if (ch === '\\') cur += inner[++i] ?? '';
      else if (ch === quote) quote = '';
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    if (ch === '(' || ch === '[' || ch === '{') depth++;
    if (ch === ')' || ch === ']' || ch === '}') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur.trim() !== '' || out.length > 0) out.push(cur.trim());
  return out;
}

/** The identifier a declarator declares (through pointers, arrays, parentheses, functions). */
export function declaratorName(node: Node | null): Node | null {
  let n: Node | null = node;
  for (let guard = 0; n && guard < 32; guard++) {
    switch (n.type) {
      case 'identifier':
      case 'field_identifier':
      case 'type_identifier':
      case 'primitive_type':
        return n;
      case 'parenthesized_declarator':
      case 'attributed_declarator': {
        n = n.namedChildren.find((c) => c !== null && c.type !== 'attribute_specifier' && c.type !== 'attribute_declaration') ?? null;
        break;
      }
      default: {
        const d = n.childForFieldName('declarator');
        if (!d) return null;
        n = d;
      }
    }
  }
  return null;
}

/** Whether a declarator (after pointers/parentheses) declares a function. */
function functionDeclarator(node: Node | null): Node | null {
  let n: Node | null = node;
  for (let guard = 0; n && guard < 32; guard++) {
    if (n.type === 'function_declarator') return n;
    if (n.type === 'identifier' || n.type === 'field_identifier' || n.type === 'type_identifier') return null;
    if (n.type === 'parenthesized_declarator') n = n.namedChildren[0] ?? null;
    else if (n.type === 'pointer_declarator' || n.type === 'attributed_declarator') n = n.childForFieldName('declarator') ?? n.namedChildren[n.namedChildren.length - 1] ?? null;
    else return null;
  }
  return null;
}

// the kernel's macros, and the livepatch tools' variants (the same system call, defined patchably)
const SYSCALL_MACRO = /^(COMPAT_|KLP_|KPATCH_)?SYSCALL_DEFINE\d$|^SYSCALL32_DEFINE\d$/;
const DATA_MACRO = /^(?!DEFINE_\w*EVENT\w*$|DECLARE_\w*EVENT\w*$)(DEFINE|DECLARE)_[A-Z0-9_]+$|^(LIST_HEAD|HLIST_HEAD|LLIST_HEAD|RAW_NOTIFIER_HEAD|ATOMIC_NOTIFIER_HEAD|BLOCKING_NOTIFIER_HEAD|SRCU_NOTIFIER_HEAD)$/;
const EXPORT_MACRO = /^EXPORT_(SYMBOL|PER_CPU_SYMBOL|STATIC_CALL|TRACEPOINT_SYMBOL)\w*$/;

/** The object a DEFINE_x or DECLARE_x macro names: per-CPU ones name it last. */
function dataMacroName(macro: string, args: string[]): string | undefined {
  const ids = args.map((a) => a.trim()).filter((a) => /^[A-Za-z_]\w*$/.test(a));
  if (/PER_CPU/.test(macro)) return ids[ids.length - 1];
  return ids[0];
}

const MACRO_CALL_TEXT = /^\s*(?:(?:static|extern)\s+)*([A-Za-z_]\w*)\s*\(([\s\S]*)\)\s*;?\s*$/;

export interface SideEntities {
  /** File-scope entities, then static locals as localsOf() finds them. */
  entities: Entity[];
  byKey: Map<string, Entity>;
  /** Static locals of a function (extracted on first request: only changed functions need them). */
  localsOf(fn: Entity): Entity[];
}

export function extractEntities(tree: Tree, src: ParseSource, docLineOf?: (imageLine: number) => number): SideEntities {
  const firstMappedRow = (from: number, to: number): number => {
    for (let r = from; r <= to; r++) if (src.toImage[r] >= 0) return r;
    return -1;
  };
  const entities: Entity[] = [];
  const counts = new Map<string, number>();
  const firstByBase = new Map<string, Entity>();
  const synthRows = new Set(src.wrappers.map((w) => w.headerLine));

  const add = (e: Omit<Entity, 'key' | 'startRow' | 'endRow' | 'annotations' | 'synthetic' | 'storage'> & { synthetic?: boolean; start?: Node }) => {
    const start = e.start ?? e.node;
    const base = `${FAMILY[e.kind]}:${e.scope ? e.scope + '::' : ''}${e.name}`;
    const n = (counts.get(base) ?? 0) + 1;
    counts.set(base, n);
    const startRow = start.startPosition.row;
    const endRow = e.node.endPosition.row - (e.node.endPosition.column === 0 && e.node.endPosition.row > startRow ? 1 : 0);
    const synthetic = e.synthetic ?? synthRows.has(e.nameRow);
    const first = firstByBase.get(base);
    if (first && (synthetic || first.synthetic) && first.kind === e.kind) {
      // The same function (or struct) seen again through another hunk: one entity, several pieces.
      (first.extra ??= []).push({ node: e.node, startRow, endRow });
      counts.set(base, n - 1);
      return first;
    }
    const { start: _start, ...fields } = e;
    const entity: Entity = {
      ...fields,
      key: n === 1 ? base : `${base}#${n}`,
      startRow,
      endRow,
      synthetic,
      annotations: annotationsIn(src, start.startIndex, headEnd(e.node)),
      storage: storageOf(e.node),
    };
    if (!firstByBase.has(base)) firstByBase.set(base, entity);
    entities.push(entity);
    return entity;
  };

  const visitTop = (node: Node) => {
    const children = node.children;
    for (let k = 0; k < children.length; k++) {
      const c = children[k];
      if (!c) continue;
      switch (c.type) {
        case 'function_definition':
          visitFunction(c);
          break;
        case 'declaration':
          visitDeclaration(c);
          break;
        case 'struct_specifier':
        case 'union_specifier':
        case 'enum_specifier':
          visitTag(c, c);
          break;
        case 'type_definition':
          visitTypedef(c);
          break;
        case 'expression_statement': {
          const next = children[k + 1];
          if (visitTopStatement(c, next?.type === 'compound_statement' ? next : undefined)) k++;
          break;
        }
        case 'preproc_def':
        case 'preproc_function_def': {
          const name = c.childForFieldName('name');
          if (name?.text === MACRO_FRAGMENT) {
            const first = firstMappedRow(c.startPosition.row, c.endPosition.row);
            const doc = first >= 0 && docLineOf ? docLineOf(src.toImage[first]) : -1;
            add({ kind: 'macro', name: doc >= 0 ? `unnamed macro at patch line ${doc + 1}` : 'unnamed macro', node: c, nameRow: -1, nameColumn: 0, synthetic: true });
          } else if (name) add({ kind: 'macro', name: name.text, node: c, nameRow: name.startPosition.row, nameColumn: name.startPosition.column });
          break;
        }
        case 'preproc_include': {
          const path = c.childForFieldName('path');
          if (path) add({ kind: 'include', name: path.text, node: c, nameRow: path.startPosition.row, nameColumn: path.startPosition.column });
          break;
        }
        case 'preproc_if':
        case 'preproc_ifdef':
        case 'preproc_else':
        case 'preproc_elif':
        case 'preproc_elifdef':
        case 'linkage_specification':
        case 'declaration_list':
        case 'ERROR':
          visitTop(c);
          break;
        default:
          break;
      }
    }
  };

  const visitFunction = (fn: Node) => {
    const decl = fn.childForFieldName('declarator');
    const nameNode = declaratorName(decl);
    const fdecl = functionDeclarator(decl);
    if (!nameNode) return;
    let name = nameNode.text;
    let kind: EntityKind = 'function';
    let definedBy: string | undefined;
    let args: string[] | undefined;
    const type = fn.childForFieldName('type');
    if (type?.type === 'type_identifier' && /^[A-Z][A-Z0-9_]+$/.test(type.text) && decl?.type === 'parenthesized_declarator') {
      // SYSCALL_DEFINE0(fork) { ... } read as type "SYSCALL_DEFINE0" and declarator "(fork)".
      definedBy = type.text;
      if (SYSCALL_MACRO.test(type.text)) kind = 'syscall';
      args = [name];
      add({ kind, name, node: fn, nameRow: nameNode.startPosition.row, nameColumn: nameNode.startPosition.column, definedBy, args });
      return;
    }
    if (SYSCALL_MACRO.test(name) || (/^[A-Z][A-Z0-9_]+$/.test(name) && fdecl)) {
      // SYSCALL_DEFINE0(getpid) { ... } parses as a function named after the macro.
      const params = fdecl?.childForFieldName('parameters');
      args = params ? splitArgs(params.text.slice(1, -1)) : [];
      definedBy = name;
      if (SYSCALL_MACRO.test(name)) kind = 'syscall';
      name = args[0] ?? name;
    }
    if (name === FRAGMENT_FUNCTION) {
      // A hunk without function context: name it by where it shows in the patch document.
      const body = fn.childForFieldName('body');
      const firstReal = body ? firstMappedRow(body.startPosition.row, body.endPosition.row) : -1;
      const doc = firstReal >= 0 && docLineOf ? docLineOf(src.toImage[firstReal]) : -1;
      if (body && firstReal >= 0) {
        add({ kind: 'fragment', name: doc >= 0 ? `unnamed function at patch line ${doc + 1}` : `unnamed function near line ${src.toImage[firstReal] + 1}`, node: fn, nameRow: -1, nameColumn: 0, synthetic: true });
      }
      return;
    }
    add({ kind, name, node: fn, nameRow: nameNode.startPosition.row, nameColumn: nameNode.startPosition.column, definedBy, args });
  };

  /** SYSCALL_DEFINE3(name, ...) { body } and BPF_CALL_2(...) { } parse as a call followed by a block. */
  const visitTopStatement = (stmt: Node, block: Node | undefined): boolean => {
    const m = MACRO_CALL_TEXT.exec(stmt.text);
    if (!m) return false;
    const macro = m[1];
    const args = splitArgs(m[2]);
    const call = stmt.namedChildren[0];
    const row = stmt.startPosition.row;
    const col = stmt.startPosition.column;
    if (block && /^[A-Z][A-Z0-9_]*$/.test(macro)) {
      const kind: EntityKind = SYSCALL_MACRO.test(macro) ? 'syscall' : 'function';
      const name = args[0] && /^[A-Za-z_]\w*$/.test(args[0]) ? args[0] : macro;
      const argNode = call?.childForFieldName('arguments')?.namedChildren[0];
      add({
        kind,
        name,
        node: block,
        start: stmt,
        nameRow: argNode ? argNode.startPosition.row : row,
        nameColumn: argNode ? argNode.startPosition.column : col,
        definedBy: macro,
        args,
      });
      return true;
    }
    visitMacroStatement(stmt, macro, args);
    return false;
  };

  const visitMacroStatement = (stmt: Node, macro: string, args: string[]) => {
    const row = stmt.startPosition.row;
    const col = stmt.startPosition.column;
    const firstArg = stmt.descendantsOfType('argument_list')[0]?.namedChildren[0];
    const argRow = firstArg ? firstArg.startPosition.row : row;
    const argCol = firstArg ? firstArg.startPosition.column : col;
    if (EXPORT_MACRO.test(macro) && args[0]) {
      add({ kind: 'export', name: args[0], node: stmt, nameRow: argRow, nameColumn: argCol, definedBy: macro, args });
    } else if (DATA_MACRO.test(macro)) {
      const name = dataMacroName(macro, args);
      if (name) {
        const at = stmt.descendantsOfType(['identifier', 'type_identifier']).find((n) => n !== null && n.text === name);
        add({
          kind: 'variable',
          name,
          node: stmt,
          nameRow: at ? at.startPosition.row : argRow,
          nameColumn: at ? at.startPosition.column : argCol,
          definedBy: macro,
          args,
          declarationOnly: macro.startsWith('DECLARE_'),
        });
      }
    } else {
      // module_init(foo_init), __setup("x=", fn) → __setup(fn), MODULE_DESCRIPTION("...") → MODULE_DESCRIPTION
      const id = args.find((a) => /^[A-Za-z_]\w*$/.test(a));
      const name = id ? `${macro}(${id})` : macro;
      add({ kind: 'invocation', name, node: stmt, nameRow: row, nameColumn: col, definedBy: macro, args });
    }
  };

  const visitDeclaration = (d: Node, scope?: string) => {
    const type = d.childForFieldName('type');
    // static DEFINE_MUTEX(x); static DEFINE_PER_CPU(int, x); LIST_HEAD(x);
    if (type && (type.type === 'type_identifier' || type.type === 'macro_type_specifier') && DATA_MACRO.test(type.text.split('(')[0].trim())) {
      const m = MACRO_CALL_TEXT.exec(d.text);
      if (m && DATA_MACRO.test(m[1])) {
        const args = splitArgs(m[2]);
        const name = dataMacroName(m[1], args);
        if (name) {
          const at = d.descendantsOfType(['identifier', 'type_identifier']).find((n) => n !== null && n.text === name);
          add({
            kind: scope ? 'static-local' : 'variable',
            name,
            scope,
            node: d,
            nameRow: at ? at.startPosition.row : d.startPosition.row,
            nameColumn: at ? at.startPosition.column : d.startPosition.column,
            definedBy: m[1],
            args,
            declarationOnly: m[1].startsWith('DECLARE_'),
          });
          return;
        }
      }
    }
    if (!scope && type && (type.type === 'struct_specifier' || type.type === 'union_specifier' || type.type === 'enum_specifier') && type.childForFieldName('body')) {
      visitTag(type, type);
    }
    const isExtern = d.children.some((c) => c?.type === 'storage_class_specifier' && c.text === 'extern');
    for (const decl of d.childrenForFieldName('declarator')) {
      if (!decl) continue;
      const nameNode = declaratorName(decl);
      if (!nameNode) continue;
      if (!scope && functionDeclarator(decl) && decl.type !== 'init_declarator') {
        add({ kind: 'prototype', name: nameNode.text, node: d, nameRow: nameNode.startPosition.row, nameColumn: nameNode.startPosition.column, declarationOnly: true });
      } else {
        add({
          kind: scope ? 'static-local' : 'variable',
          name: nameNode.text,
          scope,
          node: d,
          nameRow: nameNode.startPosition.row,
          nameColumn: nameNode.startPosition.column,
          declarationOnly: isExtern && decl.type !== 'init_declarator',
        });
      }
    }
  };

  const visitTag = (spec: Node, node: Node) => {
    const name = spec.childForFieldName('name');
    if (!name || !spec.childForFieldName('body')) return;
    const kind: EntityKind = spec.type === 'struct_specifier' ? 'struct' : spec.type === 'union_specifier' ? 'union' : 'enum';
    add({ kind, name: name.text, node, nameRow: name.startPosition.row, nameColumn: name.startPosition.column });
  };

  const visitTypedef = (td: Node) => {
    const type = td.childForFieldName('type');
    if (type && (type.type === 'struct_specifier' || type.type === 'union_specifier' || type.type === 'enum_specifier') && type.childForFieldName('name')) {
      visitTag(type, type);
    }
    for (const decl of td.childrenForFieldName('declarator')) {
      const nameNode = declaratorName(decl);
      if (nameNode) add({ kind: 'typedef', name: nameNode.text, node: td, nameRow: nameNode.startPosition.row, nameColumn: nameNode.startPosition.column });
    }
  };

  /** Static locals (and hidden statics of DEFINE_* macros) inside a function body. */
  const visitBody = (fn: Node, scope: string | undefined) => {
    const body = fn.type === 'compound_statement' ? fn : fn.childForFieldName('body');
    if (!body) return;
    for (const d of body.descendantsOfType('declaration')) {
      if (!d) continue;
      const isStatic = d.children.some((c) => c?.type === 'storage_class_specifier' && c.text === 'static');
      if (isStatic && scope) visitDeclaration(d, scope);
    }
  };

  visitTop(tree.rootNode);
  const byKey = new Map<string, Entity>();
  for (const e of entities) byKey.set(e.key, e);
  const locals = new Map<Entity, Entity[]>();
  const localsOf = (fn: Entity): Entity[] => {
    let found = locals.get(fn);
    if (found) return found;
    const before = entities.length;
    if (fn.kind === 'function' || fn.kind === 'syscall') for (const part of [fn.node, ...(fn.extra ?? []).map((x) => x.node)]) visitBody(part, fn.name);
    found = entities.slice(before);
    for (const e of found) byKey.set(e.key, e);
    locals.set(fn, found);
    return found;
  };
  return { entities, byKey, localsOf };
}

/** static / extern / inline... written on a declaration or definition. */
function storageOf(node: Node): string[] {
  const out: string[] = [];
  for (const c of node.children) if (c && (c.type === 'storage_class_specifier' || (c.type === 'type_qualifier' && c.text === 'inline'))) out.push(c.text);
  return out;
}

/** End of an entity's head (before a function body or struct body), for annotation lookup. */
export function headEnd(node: Node): number {
  const body = node.childForFieldName('body');
  return body ? body.startIndex : node.endIndex;
}
