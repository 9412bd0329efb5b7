/**
 * Reader of workspace model files (`*.klpmodel.json`): strict JSON, checked
 * against schemas/klpmodel.schema.json (the same schema VS Code uses for hover,
 * completion and squiggles) and then by checks a schema cannot express (CPU
 * numbers against `cpus`, `uniform` bounds, unique task names, duplicate keys).
 *
 * Never throws: every problem, including binary input, an empty file or a
 * huge one, comes back as a positioned error. Positions are 1-based lines and
 * columns (UTF-16 code units, a BOM not counted); `offset` indexes the text as
 * passed in (a leading BOM included).
 */
import Ajv, { type AnySchema, type ErrorObject, type ValidateFunction } from 'ajv';
// The UMD build (package main) loads its parts with a dynamic require that esbuild cannot follow: use the ESM build.
import { parseTree, printParseErrorCode, type Node as JsonNode, type ParseError } from 'jsonc-parser/lib/esm/main';
import schemaJson from '../../../../schemas/klpmodel.schema.json';
import type { ModelSpec } from './types';

export interface ModelFileError {
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units. */
  column: number;
  /** Offset in the text given to parseModelFile. */
  offset: number;
  length: number;
  message: string;
}

/**
 * A model as written in a file. With `extends`, `kernel`, `arch`, `cpus`,
 * `tasks` and `patch` may be missing (they come from the base profile);
 * without it `patch` may be missing (it comes from the patch being simulated).
 */
export type ModelFileSpec = ModelSpec & { extends?: string; seed?: number };

/** The schema of `*.klpmodel.json` files (schemas/klpmodel.schema.json). */
export const MODEL_FILE_SCHEMA: object = schemaJson;

/** Larger files are refused. */
export const MAX_MODEL_FILE_BYTES = 4 * 1024 * 1024;
/** At most this many errors are reported (the last one then says that more were left out). */
const MAX_ERRORS = 100;

// ---------------------------------------------------------------------------
// Positions

class Positions {
  private readonly starts: number[] = [0];
  /** `text` is the text without its BOM; `shift` is 1 when a BOM was stripped. */
  constructor(
    readonly text: string,
    private readonly shift: number,
  ) {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10) this.starts.push(i + 1);
      else if (c === 13) {
        if (text.charCodeAt(i + 1) === 10) i++;
        this.starts.push(i + 1);
      }
    }
  }

  error(offset: number, length: number, message: string): ModelFileError {
    offset = Math.max(0, Math.min(offset, this.text.length));
    length = Math.max(0, Math.min(length, this.text.length - offset));
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.starts[lo] + 1, offset: offset + this.shift, length, message };
  }

  /** An error on a node: the whole node when it fits on one line, else its first character. */
  nodeError(node: JsonNode, message: string): ModelFileError {
    const text = this.text.slice(node.offset, node.offset + node.length);
    const oneLine = !/[\r\n]/.test(text);
    return this.error(node.offset, oneLine ? node.length : 1, message);
  }
}

// ---------------------------------------------------------------------------
// Entry points

export function parseModelFile(text: string, file = '<model>'): { model?: ModelFileSpec; errors: ModelFileError[] } {
  try {
    return parseUnguarded(text, file);
  } catch (e) {
    // A bug of ours must not take the caller down: report it at the start of the file.
    const msg = e instanceof Error ? e.message : String(e);
    return { errors: [{ line: 1, column: 1, offset: 0, length: 0, message: `internal error while reading ${file}: ${msg}` }] };
  }
}

export function formatModelFileErrors(file: string, errors: ModelFileError[]): string {
  return errors.map((e) => `${file}:${e.line}:${e.column}: error: ${e.message}`).join('\n');
}

function parseUnguarded(input: string, file: string): { model?: ModelFileSpec; errors: ModelFileError[] } {
  if (typeof input !== 'string') input = String(input ?? '');
  // Size first: nothing below should touch a huge text.
  if (input.length > MAX_MODEL_FILE_BYTES / 3 && Buffer.byteLength(input, 'utf8') > MAX_MODEL_FILE_BYTES) {
    const mb = (Buffer.byteLength(input, 'utf8') / (1024 * 1024)).toFixed(1);
    return { errors: [{ line: 1, column: 1, offset: 0, length: 0, message: `${file} is too large (${mb} MB); a model file may be at most 4 MB` }] };
  }
  const shift = input.charCodeAt(0) === 0xfeff ? 1 : 0;
  const text = shift ? input.slice(1) : input;
  const pos = new Positions(text, shift);

  // Binary or otherwise non-text input: JSON never contains raw control characters.
  const ctl = firstControlChar(text);
  if (ctl >= 0) {
    const c = text.charCodeAt(ctl);
    const code = `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
    const message =
      c === 0 ? `${file} is not a text file (binary data: a NUL byte); a model file is JSON text` : `control character ${code} is not allowed in a JSON model file (escape it inside strings)`;
    return { errors: [pos.error(ctl, 1, message)] };
  }
  if (text.trim() === '') {
    return { errors: [pos.error(0, 0, `${file} is empty; a model file holds one JSON object`)] };
  }

  // The parser and the checks recurse: refuse absurd nesting before they overflow the stack.
  const deep = tooDeep(text);
  if (deep >= 0) return { errors: [pos.error(deep, 1, `nested too deeply (more than ${MAX_NESTING} levels of objects and lists)`)] };

  const parseErrors: ParseError[] = [];
  const root = parseTree(text, parseErrors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  if (parseErrors.length || !root) {
    // The parser recovers and goes on; the errors that follow one on the same line are mostly its echoes.
    const errors: ModelFileError[] = [];
    for (const e of parseErrors) {
      const err = syntaxError(pos, e);
      if (errors.length && errors[errors.length - 1].line === err.line) continue;
      errors.push(err);
    }
    if (!errors.length) errors.push(pos.error(0, 0, 'not a JSON document'));
    return { errors: finish(errors) };
  }
  if (root.type !== 'object') {
    return { errors: [pos.nodeError(root, `a model file holds one JSON object; found ${describeNodeType(root)}`)] };
  }

  const errors: ModelFileError[] = [];
  const value = nodeValue(root, pos, errors) as Record<string, unknown>;
  for (const e of validate(value, root, pos)) errors.push(e);
  for (const e of semanticErrors(value, root, pos)) errors.push(e);
  const all = finish(errors);
  return all.length ? { errors: all } : { model: value as unknown as ModelFileSpec, errors: [] };
}

/** Sorted by position, duplicates dropped, capped. */
function finish(errors: ModelFileError[]): ModelFileError[] {
  const seen = new Set<string>();
  const out = errors
    .filter((e) => {
      const k = `${e.offset}\0${e.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .sort((a, b) => a.offset - b.offset);
  if (out.length > MAX_ERRORS) {
    const last = out[MAX_ERRORS - 1];
    out.length = MAX_ERRORS - 1;
    out.push({ ...last, length: 0, message: 'too many errors; the rest are not shown' });
  }
  return out;
}

const MAX_NESTING = 256;

/** Offset of the bracket that opens level MAX_NESTING + 1, or -1. */
function tooDeep(text: string): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > MAX_NESTING) return i;
    } else if (c === 125 || c === 93) depth--;
  }
  return -1;
}

function firstControlChar(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && c !== 9 && c !== 10 && c !== 13) return i;
  }
  return -1;
}

// ---------------------------------------------------------------------------
// Syntax

function syntaxError(pos: Positions, e: ParseError): ModelFileError {
  const text = pos.text;
  const code = printParseErrorCode(e.error);
  const at = text[e.offset];
  if ((code === 'PropertyNameExpected' || code === 'ValueExpected') && (at === '}' || at === ']')) {
    let p = e.offset - 1;
    while (p >= 0 && /\s/.test(text[p])) p--;
    if (text[p] === ',') return pos.error(p, 1, `trailing comma before "${at}" (not allowed in JSON)`);
  }
  const found = e.offset >= text.length ? 'the end of the file' : e.length > 0 ? JSON.stringify(text.slice(e.offset, e.offset + Math.min(e.length, 20))) : '';
  const seen = found ? `, found ${found}` : '';
  const messages: Record<string, string> = {
    InvalidSymbol: `unexpected ${found || 'character'} (not JSON; strings need double quotes)`,
    InvalidNumberFormat: `invalid number ${found}`,
    PropertyNameExpected: `expected a property name in double quotes${seen}`,
    ValueExpected: `expected a value${seen}`,
    ColonExpected: `expected a colon after the property name${seen}`,
    CommaExpected: `expected a comma${seen}`,
    CloseBraceExpected: `expected "}" to close the object${seen}`,
    CloseBracketExpected: `expected "]" to close the list${seen}`,
    EndOfFileExpected: `expected the end of the file after the top-level object${seen}`,
    InvalidCommentToken: 'comments are not allowed (a model file is strict JSON)',
    UnexpectedEndOfComment: 'unterminated comment (comments are not allowed in JSON)',
    UnexpectedEndOfString: 'unterminated string',
    UnexpectedEndOfNumber: 'incomplete number',
    InvalidUnicode: 'invalid \\u escape in a string',
    InvalidEscapeCharacter: 'invalid escape character in a string',
    InvalidCharacter: 'invalid character in a string (control characters must be escaped)',
  };
  return pos.error(e.offset, Math.max(e.length, 0), messages[code] ?? `syntax error (${code})`);
}

/** The value of a node; `__proto__` keys become own properties (so the schema sees them); duplicate keys are reported. */
function nodeValue(node: JsonNode, pos: Positions, errors: ModelFileError[], path: (string | number)[] = []): unknown {
  switch (node.type) {
    case 'object': {
      const obj: Record<string, unknown> = {};
      const keys = new Map<string, JsonNode>();
      for (const prop of node.children ?? []) {
        const [keyNode, valueNode] = prop.children ?? [];
        if (!keyNode || !valueNode) continue;
        const key = String(keyNode.value);
        if (keys.has(key)) errors.push(pos.nodeError(keyNode, withPath(path, `duplicate key "${key}" (the later value wins in JSON; say it once)`)));
        keys.set(key, keyNode);
        Object.defineProperty(obj, key, { value: nodeValue(valueNode, pos, errors, [...path, key]), enumerable: true, writable: true, configurable: true });
      }
      return obj;
    }
    case 'array':
      return (node.children ?? []).map((c, i) => nodeValue(c, pos, errors, [...path, i]));
    case 'number':
      if (!Number.isFinite(node.value)) errors.push(pos.nodeError(node, withPath(path, 'number is too large')));
      return node.value;
    default:
      return node.value;
  }
}

function describeNodeType(node: JsonNode): string {
  switch (node.type) {
    case 'array':
      return 'an array';
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return node.value ? 'true' : 'false';
    case 'null':
      return 'null';
    default:
      return 'an object';
  }
}

// ---------------------------------------------------------------------------
// Schema

interface Validators {
  /** The model with each task's contents left out. */
  root: ValidateFunction;
  /** A task with its program's steps left out. */
  task: ValidateFunction;
  /** A step, with a forked child's steps left out. */
  segment: ValidateFunction;
}

let compiled: Validators | undefined;

/**
 * The schema is checked in pieces: the model, each task, each step. With
 * `allErrors`, ajv concatenates the errors of a called validator (a `$ref` to
 * a schema that has refs of its own, such as the recursive Segment) to the
 * caller's, which is quadratic in the error count: one program of 500,000 bad
 * steps took minutes and gigabytes. In pieces the cost is linear, and the
 * checking stops once enough errors are found.
 */
function validators(): Validators {
  if (!compiled) {
    const ajv = new Ajv({ allErrors: true, verbose: true, strictSchema: true, strictTypes: true, strictTuples: true, logger: false });
    // VS Code's annotations.
    ajv.addVocabulary(['markdownDescription', 'defaultSnippets', 'markdownEnumDescriptions', 'enumDescriptions']);
    const root = structuredClone(MODEL_FILE_SCHEMA) as SchemaNode;
    const defs = root.definitions as Record<string, SchemaNode>;
    const piece = (s: SchemaNode) => ({ ...s, definitions: defs });
    const task = structuredClone(defs.TaskSpec);
    const segment = structuredClone(defs.Segment);
    (root.properties as Record<string, SchemaNode>).tasks.items = true;
    (task.properties as Record<string, SchemaNode>).program.items = true;
    const fork = (segment.oneOf as SchemaNode[]).find((b) => (b.required as string[] | undefined)?.[0] === 'fork');
    ((fork!.properties as Record<string, SchemaNode>).fork.properties as Record<string, SchemaNode>).program.items = true;
    compiled = {
      root: ajv.compile(root as AnySchema),
      task: ajv.compile(piece(task) as AnySchema),
      segment: ajv.compile(piece(segment) as AnySchema),
    };
  }
  return compiled;
}

type SchemaNode = Record<string, unknown>;

/** Forked children nested deeper than this are not checked further. */
const MAX_FORK_DEPTH = 256;

function validate(value: Record<string, Json>, root: JsonNode, pos: Positions): ModelFileError[] {
  const v = validators();
  const out: ModelFileError[] = [];
  const enough = () => out.length > MAX_ERRORS;
  const run = (fn: ValidateFunction, data: Json, base: string[]) => {
    if (fn(data)) return;
    const prefix = base.map((p) => `/${p.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
    const raw = (fn.errors ?? []).map((e) => ({ ...e, instancePath: prefix + e.instancePath }));
    for (const err of schemaErrors(raw, value, root, pos)) out.push(err);
  };
  const program = (steps: Json, base: string[], depth: number) => {
    if (!Array.isArray(steps) || depth > MAX_FORK_DEPTH) return;
    for (let j = 0; j < steps.length && !enough(); j++) {
      const step = steps[j];
      run(v.segment, step, [...base, String(j)]);
      if (isObject(step) && isObject(step.fork)) program(step.fork.program, [...base, String(j), 'fork', 'program'], depth + 1);
    }
  };
  run(v.root, value, []);
  if (Array.isArray(value.tasks)) {
    for (let i = 0; i < value.tasks.length && !enough(); i++) {
      const task = value.tasks[i];
      run(v.task, task, ['tasks', String(i)]);
      if (isObject(task)) program(task.program, ['tasks', String(i), 'program'], 0);
    }
  }
  return out;
}

type Json = unknown;
interface BranchSchema {
  type?: string;
  const?: Json;
  title?: string;
  required?: string[];
  properties?: Record<string, unknown>;
  items?: unknown;
  $ref?: string;
}

interface Site {
  path: string[];
  schemaPath: string;
  branches: BranchSchema[];
  /** The branch the data is meant to be, or -1. */
  chosen: number;
  message?: string;
  /** The key the message is about (its key node is the position). */
  key?: string;
}

function splitPointer(p: string): string[] {
  if (!p) return [];
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function resolveRef(b: BranchSchema): BranchSchema {
  if (!b.$ref || !b.$ref.startsWith('#/')) return b;
  let cur: unknown = MODEL_FILE_SCHEMA;
  for (const part of splitPointer(b.$ref.slice(1))) cur = (cur as Record<string, unknown> | undefined)?.[part];
  return (cur as BranchSchema | undefined) ?? b;
}

function jsonType(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function isObject(v: Json): v is Record<string, Json> {
  return jsonType(v) === 'object';
}

function typeMatches(type: string, v: Json): boolean {
  const t = jsonType(v);
  if (type === 'integer') return t === 'number';
  return type === t;
}

/** A branch the data is meant to match: its type fits and, for an object with required keys, it has the first one. */
function candidate(b: BranchSchema, v: Json): boolean {
  if (b.type !== undefined && !typeMatches(b.type, v)) return false;
  if (b.const !== undefined && jsonType(b.const) !== jsonType(v)) return false;
  if (b.type === 'object' && b.required?.length && isObject(v) && !Object.prototype.hasOwnProperty.call(v, b.required[0])) return false;
  return true;
}

function orList(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

function describeValue(v: Json): string {
  switch (jsonType(v)) {
    case 'null':
      return 'null';
    case 'array':
      return 'a list';
    case 'object':
      return 'an object';
    case 'string': {
      const s = v as string;
      return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
    }
    default:
      return String(v);
  }
}

function siteFor(e: ErrorObject, value: Json): Site {
  const path = splitPointer(e.instancePath);
  const data = e.data !== undefined ? e.data : valueAt(value, path);
  const branches = (Array.isArray(e.schema) ? (e.schema as BranchSchema[]) : []).map(resolveRef);
  const site: Site = { path, schemaPath: e.schemaPath, branches, chosen: -1 };
  const passing = (e.params as { passingSchemas?: number[] | null }).passingSchemas;
  if (passing && passing.length > 1) {
    site.message = `matches more than one form (${passing.map((i) => branches[i]?.title ?? `#${i}`).join(', ')})`;
    return site;
  }
  const cands = branches.map((b, i) => (candidate(b, data) ? i : -1)).filter((i) => i >= 0);
  const titles = branches.map((b, i) => b.title ?? `form ${i + 1}`);
  const objectBranches = branches.filter((b) => b.type === 'object' && b.required?.length);
  const discriminated = objectBranches.length > 0 && objectBranches.length === branches.length;
  const keysOf = objectBranches.map((b) => b.required![0]);

  if (cands.length === 1 && branches[cands[0]].const === undefined) {
    site.chosen = cands[0];
    return site;
  }
  if (isObject(data) && objectBranches.length) {
    const present = keysOf.filter((k) => Object.prototype.hasOwnProperty.call(data, k));
    const known = new Set<string>();
    for (const b of objectBranches) for (const k of Object.keys(b.properties ?? {})) known.add(k);
    const unknown = Object.keys(data).filter((k) => !known.has(k));
    const expected = discriminated ? `one of ${keysOf.join(', ')}` : orList(titles);
    if (present.length > 1) {
      site.key = present[1];
      site.message = `${present.map((k) => `"${k}"`).join(' and ')} cannot be combined; expected exactly ${discriminated ? expected : `one of ${keysOf.join(', ')}`}`;
    } else if (unknown.length) {
      site.key = unknown[0];
      site.message = `unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}; expected ${expected}`;
    } else if (Object.keys(data).length === 0) {
      site.message = `empty object; expected ${discriminated ? `one of the keys ${keysOf.join(', ')}` : expected}`;
    } else {
      site.message = discriminated ? `has none of the keys ${keysOf.join(', ')} (expected exactly one)` : `expected ${expected}`;
    }
    return site;
  }
  site.message = discriminated
    ? `expected an object with one of the keys ${keysOf.join(', ')}; found ${describeValue(data)}`
    : `expected ${orList(titles)}; found ${describeValue(data)}`;
  return site;
}

function valueAt(value: Json, path: string[]): Json {
  let cur = value;
  for (const p of path) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isObject(cur)) cur = Object.prototype.hasOwnProperty.call(cur, p) ? cur[p] : undefined;
    else return undefined;
  }
  return cur;
}

/** Whether a site keeps an error found inside it (an error of its chosen branch, not of the others). */
function siteKeeps(site: Site, path: string[], schemaPath: string): boolean {
  if (site.chosen < 0) return false;
  const branch = site.branches[site.chosen];
  if (path.length === site.path.length) return schemaPath.startsWith(`${site.schemaPath}/${site.chosen}/`);
  if (branch.type === 'object') return Object.prototype.hasOwnProperty.call(branch.properties ?? {}, path[site.path.length]);
  return true;
}

/** Name of a place in the model: `tasks[2].program[0]`. */
export function propertyPath(path: (string | number)[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number' || /^\d+$/.test(p)) s += `[${p}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(p)) s += s ? `.${p}` : p;
    else s += `[${JSON.stringify(p)}]`;
  }
  return s;
}

function withPath(path: (string | number)[], message: string): string {
  const p = propertyPath(path);
  return p ? `${p}: ${message}` : message;
}

/** The node at a path (array indices as strings), or its nearest existing ancestor; `key` gives the property's key node instead. */
function nodeAt(root: JsonNode, path: string[], key?: string): JsonNode {
  let cur = root;
  for (const part of path) {
    const next = childNode(cur, part);
    if (!next) return cur;
    cur = next;
  }
  if (key !== undefined && cur.type === 'object') {
    const prop = propertyNode(cur, key);
    if (prop?.children?.[0]) return prop.children[0];
  }
  return cur;
}

function propertyNode(obj: JsonNode, key: string): JsonNode | undefined {
  let found: JsonNode | undefined;
  for (const prop of obj.children ?? []) if (prop.children?.[0]?.value === key) found = prop; // the last one wins, as in the value
  return found;
}

function childNode(node: JsonNode, part: string): JsonNode | undefined {
  if (node.type === 'array') return /^\d+$/.test(part) ? node.children?.[Number(part)] : undefined;
  if (node.type === 'object') return propertyNode(node, part)?.children?.[1];
  return undefined;
}

function typeName(t: string): string {
  switch (t) {
    case 'integer':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'string':
      return 'a string';
    case 'boolean':
      return 'true or false';
    case 'object':
      return 'an object';
    case 'array':
      return 'a list';
    case 'null':
      return 'null';
    default:
      return t;
  }
}

function schemaErrors(raw: ErrorObject[], value: Json, root: JsonNode, pos: Positions): ModelFileError[] {
  // Sites by path, so that an error is only checked against the sites on its own path.
  const sites = new Map<string, Site[]>();
  for (const e of raw) {
    if (e.keyword !== 'oneOf') continue;
    const site = siteFor(e, value);
    const k = site.path.join('/');
    const list = sites.get(k);
    if (list) list.push(site);
    else sites.set(k, [site]);
  }
  /** Whether every site enclosing `path` keeps an error there (a site does not judge itself or its peers at the same path). */
  const kept = (path: string[], schemaPath: string, isSite: boolean) => {
    for (let n = 0; n <= path.length; n++) {
      if (isSite && n === path.length) break;
      for (const s of sites.get(path.slice(0, n).join('/')) ?? []) if (!siteKeeps(s, path, schemaPath)) return false;
    }
    return true;
  };

  const out: ModelFileError[] = [];
  for (const list of sites.values()) {
    for (const s of list) {
      if (!s.message || !kept(s.path, s.schemaPath, true)) continue;
      out.push(pos.nodeError(nodeAt(root, s.path, s.key), withPath(s.path, s.message)));
    }
  }
  for (const e of raw) {
    if (e.keyword === 'oneOf' || e.keyword === 'if') continue;
    const path = splitPointer(e.instancePath);
    if (!kept(path, e.schemaPath, false)) continue;
    const err = ajvError(e, path, value, root, pos);
    if (err) out.push(err);
  }
  return out;
}

function ajvError(e: ErrorObject, path: string[], value: Json, root: JsonNode, pos: Positions): ModelFileError | undefined {
  const data = e.data !== undefined ? e.data : valueAt(value, path);
  const params = e.params as Record<string, unknown>;
  const at = (message: string, key?: string) => pos.nodeError(nodeAt(root, path, key), withPath(path, message));
  const last = path[path.length - 1];
  switch (e.keyword) {
    case 'required': {
      const missing = String(params.missingProperty);
      const why = e.schemaPath.includes('/else/') ? ' (required unless "extends" names a base profile)' : '';
      return at(`missing required property "${missing}"${why}`);
    }
    case 'additionalProperties': {
      const extra = String(params.additionalProperty);
      const allowed = Object.keys((e.parentSchema as BranchSchema | undefined)?.properties ?? {}).filter((k) => k !== '$schema');
      return at(`unknown key "${extra}"; expected one of ${allowed.join(', ')}`, extra);
    }
    case 'enum': {
      const allowed = ((params.allowedValues as Json[]) ?? []).map((v) => JSON.stringify(v));
      return at(`unknown value ${describeValue(data)}; expected one of ${allowed.join(', ')}`);
    }
    case 'const':
      return at(`expected ${JSON.stringify(params.allowedValue)}; found ${describeValue(data)}`);
    case 'type':
      return at(`expected ${orList(String(params.type).split(',').map(typeName))}; found ${describeValue(data)}`);
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return at(`must be ${String(params.comparison)} ${String(params.limit)}; found ${String(data)}`);
    case 'minItems': {
      const limit = Number(params.limit);
      if (limit === 1) return at(last === 'program' ? 'a program needs at least one step' : 'must not be empty');
      return at(`must have at least ${limit} items; found ${Array.isArray(data) ? data.length : 0}`);
    }
    case 'maxItems':
      return at(`must have at most ${String(params.limit)} items; found ${Array.isArray(data) ? data.length : '?'}`);
    case 'additionalItems':
      return at(`must have at most ${String(params.limit)} items`);
    case 'minLength':
      return at(Number(params.limit) === 1 ? 'must not be empty' : `must be at least ${String(params.limit)} characters long`);
    case 'uniqueItems': {
      const i = Math.max(Number(params.i), Number(params.j));
      const j = Math.min(Number(params.i), Number(params.j));
      const items = Array.isArray(data) ? data : [];
      const node = nodeAt(root, [...path, String(i)]);
      return pos.nodeError(node, withPath([...path, i], `duplicate of item ${j} (${describeValue(items[i])})`));
    }
    default:
      return at(e.message ?? `fails the "${e.keyword}" check`);
  }
}

// ---------------------------------------------------------------------------
// Checks the schema cannot express

function semanticErrors(model: Record<string, Json>, root: JsonNode, pos: Positions): ModelFileError[] {
  const out: ModelFileError[] = [];
  const err = (path: (string | number)[], message: string) => out.push(pos.nodeError(nodeAt(root, path.map(String)), withPath(path, message)));
  const isInt = (v: Json): v is number => typeof v === 'number' && Number.isInteger(v);
  const cpus = isInt(model.cpus) && model.cpus >= 1 ? model.cpus : undefined;
  const cpuRange = (n: number) => `the model has ${n} CPU${n === 1 ? '' : 's'} (0–${n - 1})`;

  // Offline CPUs are the highest-numbered ones.
  const offline = isInt(model.offlineCpus) && model.offlineCpus > 0 ? model.offlineCpus : 0;
  if (cpus !== undefined && offline >= cpus) err(['offlineCpus'], `must be less than cpus (${cpus}): at least one CPU stays online`);
  const online = cpus !== undefined && offline < cpus ? cpus - offline : undefined;
  const offlineNote = (c: number) => `CPU ${c} is offline (offlineCpus ${offline} takes CPU${offline === 1 ? ` ${cpus! - 1}` : `s ${online}–${cpus! - 1}`})`;

  const duration = typeof model.durationMs === 'number' ? model.durationMs : model.extends === undefined ? 120000 : undefined;
  if (duration !== undefined && typeof model.enableAtMs === 'number' && model.enableAtMs >= duration) {
    err(['enableAtMs'], `the patch is enabled at ${model.enableAtMs} ms, not before the end of the run (durationMs ${duration})`);
  }

  const checkDist = (d: Json, path: (string | number)[]) => {
    if (!isObject(d) || !Array.isArray(d.uniform) || d.uniform.length !== 2) return;
    const [min, max] = d.uniform;
    if (typeof min === 'number' && typeof max === 'number' && min > max) err([...path, 'uniform'], `min (${min}) is greater than max (${max})`);
  };
  const checkProgram = (program: Json, path: (string | number)[], depth: number) => {
    if (!Array.isArray(program) || depth > 64) return;
    program.forEach((seg, i) => {
      if (!isObject(seg)) return;
      const p = [...path, i];
      if ('user' in seg) checkDist(seg.user, [...p, 'user']);
      if ('ms' in seg) checkDist(seg.ms, [...p, 'ms']);
      if (isObject(seg.fork)) checkProgram(seg.fork.program, [...p, 'fork', 'program'], depth + 1);
    });
  };

  if (Array.isArray(model.tasks)) {
    const names = new Map<string, number>();
    model.tasks.forEach((task, i) => {
      if (!isObject(task)) return;
      if (typeof task.name === 'string') {
        const first = names.get(task.name);
        if (first !== undefined) err(['tasks', i, 'name'], `duplicate task name "${task.name}" (also tasks[${first}]); task names must be unique`);
        else names.set(task.name, i);
      }
      if (cpus !== undefined && isInt(task.cpu) && task.cpu >= cpus) err(['tasks', i, 'cpu'], `CPU ${task.cpu} does not exist: ${cpuRange(cpus)}`);
      else if (online !== undefined && isInt(task.cpu) && task.cpu >= online) err(['tasks', i, 'cpu'], `${offlineNote(task.cpu)}; a task cannot run there`);
      checkProgram(task.program, ['tasks', i, 'program'], 0);
    });
  }

  if (isObject(model.runner)) {
    const r = model.runner;
    if (isInt(r.cpu) && online !== undefined && r.cpu >= online) err(['runner', 'cpu'], cpus !== undefined && r.cpu >= cpus ? `CPU ${r.cpu} does not exist: ${cpuRange(cpus)}` : `${offlineNote(r.cpu)}; the attempts cannot run there`);
    const names = Array.isArray(model.tasks) ? model.tasks.map((t) => (isObject(t) ? t.name : undefined)) : undefined;
    if (typeof r.task === 'string' && names && model.extends === undefined && !names.includes(r.task)) err(['runner', 'task'], `no task is named "${r.task}"`);
  }

  if (Array.isArray(model.irqs) && cpus !== undefined) {
    model.irqs.forEach((irq, i) => {
      if (!isObject(irq) || !Array.isArray(irq.cpus)) return;
      irq.cpus.forEach((c, j) => {
        if (isInt(c) && c >= cpus) err(['irqs', i, 'cpus', j], `CPU ${c} does not exist: ${cpuRange(cpus)}`);
      });
    });
  }
  return out;
}
