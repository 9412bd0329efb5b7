/**
 * Text scanners of the kernel-tree index: a byte-level lexer for C, headers
 * and assembler sources (comments, strings and character literals skipped;
 * preprocessor lines understood), and line scanners for Kbuild makefiles,
 * Kconfig files and a .config.
 *
 * Everything here is plain data in, plain data out: it runs in the index
 * worker threads and, as a fallback, in the main thread. Nothing throws on
 * input: unreadable, binary or oversized files become `null` records.
 *
 * The C lexer never builds a string per token. Identifiers are hashed while
 * they are read (FNV-1a); only the names followed by `(` — calls, macro uses,
 * declarations — are interned, through an open-addressing table that compares
 * bytes against the names it already holds, so a name seen a million times is
 * allocated once per thread.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';

// ---------------------------------------------------------------------------
// Records

/** 0 .c, 1 .h, 2 .S, 3 Makefile/Kbuild, 4 Kconfig*. */
export type FileKind = 0 | 1 | 2 | 3 | 4;
export const KIND_C = 0;
export const KIND_H = 1;
export const KIND_S = 2;
export const KIND_MAKE = 3;
export const KIND_KCONFIG = 4;

export type KconfigType = 'bool' | 'tristate' | 'int' | 'hex' | 'string';
export const KCONFIG_TYPES: readonly KconfigType[] = ['bool', 'tristate', 'int', 'hex', 'string'];

export interface ExportDef {
  sym: string;
  macro: string;
  /** Namespace of EXPORT_SYMBOL_NS(_GPL), without quotes; '' when none. */
  ns: string;
  line: number;
}
export interface KeyDef {
  name: string;
  macro: string;
  line: number;
}
export interface NameDef {
  name: string;
  line: number;
}
export interface HelperDef {
  name: string;
  line: number;
  keys: string[];
  calls: string[];
}

export interface SourceRecord {
  t: 'src';
  /** Include directives as written: `<linux/x.h>` or `"x.h"`. */
  includes: string[];
  exports: ExportDef[];
  keys: KeyDef[];
  statics: NameDef[];
  /** Inline functions defined in a header (empty for .c/.S). */
  helpers: HelperDef[];
  /** Function-like macros defined in a header (empty for .c/.S). */
  macros: NameDef[];
}

/** A condition of a Makefile `ifdef`/`ifeq` block: CONFIG_<sym> compared with value ('' = unset). */
export interface MakeGuard {
  sym: string;
  eq: boolean;
  value: string;
}

/** `<base>-<cond> += objs`: base 'obj', 'lib' or a composite object's name; cond 'y', 'm', 'n', 'objs', 'CONFIG_X' or '?'. */
export interface MakeAssign {
  base: string;
  cond: string;
  objs: string[];
  guards: MakeGuard[];
}
export interface MakeRecord {
  t: 'make';
  assigns: MakeAssign[];
}
export interface KconfigRecord {
  t: 'kconfig';
  syms: { name: string; type: KconfigType }[];
}
export type FileRecord = SourceRecord | MakeRecord | KconfigRecord;

/** Files larger than this are not indexed (the largest real sources are < 2 MiB; bigger ones are generated tables). */
export const MAX_INDEX_FILE_BYTES = 4 * 1024 * 1024;

// ---------------------------------------------------------------------------
// Hashing (shared with the main thread: bloom filters are built in workers and probed in the main thread)

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

export function hashString(s: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ (s.charCodeAt(i) & 0xff), FNV_PRIME);
  return h;
}

function hash2(h: number): number {
  let x = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x | 1;
}

const BLOOM_K = 4;
/** Bits per element before rounding the filter up to a power of two. */
const BLOOM_BITS_PER_NAME = 12;

/** A bloom filter sized for `count` names (at least 8 bytes, a power of two). */
export function newBloom(count: number): Uint8Array {
  let bytes = 8;
  const want = Math.ceil((count * BLOOM_BITS_PER_NAME) / 8);
  while (bytes < want && bytes < 1 << 16) bytes <<= 1;
  return new Uint8Array(bytes);
}

export function bloomAdd(bloom: Uint8Array, h: number): void {
  const mask = bloom.length * 8 - 1;
  const h2 = hash2(h);
  for (let k = 0; k < BLOOM_K; k++) {
    const bit = (h + Math.imul(k, h2)) & mask;
    bloom[bit >>> 3] |= 1 << (bit & 7);
  }
}

export function bloomHas(bloom: Uint8Array, h: number): boolean {
  if (bloom.length === 0) return false;
  const mask = bloom.length * 8 - 1;
  const h2 = hash2(h);
  for (let k = 0; k < BLOOM_K; k++) {
    const bit = (h + Math.imul(k, h2)) & mask;
    if ((bloom[bit >>> 3] & (1 << (bit & 7))) === 0) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Interning of names read from bytes

export class Interner {
  readonly names: string[] = [];
  hashes = new Int32Array(1024);
  private table = new Int32Array(4096);
  private mask = 4095;

  get size(): number {
    return this.names.length;
  }

  /** Id of the name in buf[s, e) whose FNV-1a hash is h; added when new. */
  idOf(buf: Uint8Array, s: number, e: number, h: number): number {
    const len = e - s;
    let slot = h & this.mask;
    for (;;) {
      const v = this.table[slot];
      if (v === 0) break;
      const id = v - 1;
      if (this.hashes[id] === h) {
        const name = this.names[id];
        if (name.length === len) {
          let k = 0;
          while (k < len && name.charCodeAt(k) === buf[s + k]) k++;
          if (k === len) return id;
        }
      }
      slot = (slot + 1) & this.mask;
    }
    return this.insert(latin1(buf, s, e), h, slot);
  }

  /** Id of a name, or -1. */
  find(name: string): number {
    const h = hashString(name);
    let slot = h & this.mask;
    for (;;) {
      const v = this.table[slot];
      if (v === 0) return -1;
      if (this.hashes[v - 1] === h && this.names[v - 1] === name) return v - 1;
      slot = (slot + 1) & this.mask;
    }
  }

  add(name: string): number {
    const found = this.find(name);
    if (found >= 0) return found;
    const h = hashString(name);
    let slot = h & this.mask;
    while (this.table[slot] !== 0) slot = (slot + 1) & this.mask;
    return this.insert(name, h, slot);
  }

  private insert(name: string, h: number, slot: number): number {
    const id = this.names.length;
    this.names.push(name);
    if (id >= this.hashes.length) {
      const grown = new Int32Array(this.hashes.length * 2);
      grown.set(this.hashes);
      this.hashes = grown;
    }
    this.hashes[id] = h;
    this.table[slot] = id + 1;
    if ((id + 1) * 2 > this.mask) this.rehash();
    return id;
  }

  private rehash(): void {
    const size = (this.mask + 1) * 2;
    this.table = new Int32Array(size);
    this.mask = size - 1;
    for (let id = 0; id < this.names.length; id++) {
      let slot = this.hashes[id] & this.mask;
      while (this.table[slot] !== 0) slot = (slot + 1) & this.mask;
      this.table[slot] = id + 1;
    }
  }
}

function latin1(buf: Uint8Array, s: number, e: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + s, e - s).toString('latin1');
}

// ---------------------------------------------------------------------------
// Keywords (recognised from bytes, without building strings)

const F_TYPE = 1; // a type word: what follows it is declared, not called
const F_INLINE = 2; // marks the declaration inline
const F_STRUCT = 4; // struct/union/enum: the next word is a tag

/** Keywords: never a call when followed by '('; flags say what they do to the context. */
const KEYWORDS: [string, number][] = [
  ['if', 0], ['for', 0], ['while', 0], ['switch', 0], ['return', 0], ['sizeof', 0], ['typeof', 0],
  ['__typeof__', 0], ['__typeof', 0], ['_Alignof', 0], ['__alignof__', 0], ['alignof', 0], ['_Generic', 0],
  ['asm', 0], ['__asm__', 0], ['__asm', 0], ['volatile', 0], ['__volatile__', 0], ['__volatile', 0],
  ['__attribute__', 0], ['__attribute', 0], ['defined', 0], ['case', 0], ['do', 0], ['else', 0], ['goto', 0],
  ['static', 0], ['extern', 0], ['const', 0], ['__const', 0], ['register', 0], ['typedef', 0], ['restrict', 0],
  ['__restrict', 0], ['_Static_assert', 0], ['default', 0], ['break', 0], ['continue', 0],
  ['inline', F_INLINE], ['__inline', F_INLINE], ['__inline__', F_INLINE], ['__always_inline', F_INLINE],
  ['struct', F_TYPE | F_STRUCT], ['union', F_TYPE | F_STRUCT], ['enum', F_TYPE | F_STRUCT],
  ['void', F_TYPE], ['char', F_TYPE], ['short', F_TYPE], ['int', F_TYPE], ['long', F_TYPE], ['float', F_TYPE],
  ['double', F_TYPE], ['signed', F_TYPE], ['unsigned', F_TYPE], ['_Bool', F_TYPE], ['__signed__', F_TYPE],
];
const KW_SIZE = 1024;
const kwSlots = new Int16Array(KW_SIZE).fill(-1);
const kwHash: number[] = [];
const kwFlags: number[] = [];
for (let k = 0; k < KEYWORDS.length; k++) {
  const [word, flags] = KEYWORDS[k];
  const h = hashString(word);
  kwHash.push(h);
  kwFlags.push(flags);
  let slot = h & (KW_SIZE - 1);
  while (kwSlots[slot] !== -1) slot = (slot + 1) & (KW_SIZE - 1);
  kwSlots[slot] = k;
}

function keyword(buf: Uint8Array, s: number, e: number, h: number): number {
  let slot = h & (KW_SIZE - 1);
  for (;;) {
    const k = kwSlots[slot];
    if (k === -1) return -1;
    if (kwHash[k] === h) {
      const w = KEYWORDS[k][0];
      if (w.length === e - s) {
        let j = 0;
        while (j < w.length && w.charCodeAt(j) === buf[s + j]) j++;
        if (j === w.length) return k;
      }
    }
    slot = (slot + 1) & (KW_SIZE - 1);
  }
}

// ---------------------------------------------------------------------------
// Names the lexer reacts to (interned first, so their ids are 0..SPECIALS.length-1)

const SP_EXPORT = 1;
const SP_KEYDEF = 2;
const SP_KEYDEF_MAYBE = 3;
const SP_SCALL = 4;
const SP_KEYUSE = 5;
const SP_KEYUSE_2ND = 6;

export const SPECIALS: [string, number][] = [
  ['EXPORT_SYMBOL', SP_EXPORT], ['EXPORT_SYMBOL_GPL', SP_EXPORT], ['EXPORT_SYMBOL_NS', SP_EXPORT],
  ['EXPORT_SYMBOL_NS_GPL', SP_EXPORT], ['EXPORT_PER_CPU_SYMBOL', SP_EXPORT], ['EXPORT_PER_CPU_SYMBOL_GPL', SP_EXPORT],
  ['EXPORT_SYMBOL_GPL_FUTURE', SP_EXPORT], ['EXPORT_UNUSED_SYMBOL', SP_EXPORT], ['EXPORT_UNUSED_SYMBOL_GPL', SP_EXPORT],
  ['DEFINE_STATIC_KEY_FALSE', SP_KEYDEF], ['DEFINE_STATIC_KEY_TRUE', SP_KEYDEF],
  ['DEFINE_STATIC_KEY_FALSE_RO', SP_KEYDEF], ['DEFINE_STATIC_KEY_TRUE_RO', SP_KEYDEF],
  ['DEFINE_STATIC_KEY_ARRAY_FALSE', SP_KEYDEF], ['DEFINE_STATIC_KEY_ARRAY_TRUE', SP_KEYDEF],
  ['DEFINE_STATIC_KEY_MAYBE', SP_KEYDEF_MAYBE], ['DEFINE_STATIC_KEY_MAYBE_RO', SP_KEYDEF_MAYBE],
  ['DEFINE_STATIC_CALL', SP_SCALL], ['DEFINE_STATIC_CALL_NULL', SP_SCALL], ['DEFINE_STATIC_CALL_RET0', SP_SCALL],
  ['static_branch_likely', SP_KEYUSE], ['static_branch_unlikely', SP_KEYUSE], ['static_key_true', SP_KEYUSE],
  ['static_key_false', SP_KEYUSE], ['static_key_enabled', SP_KEYUSE], ['static_branch_maybe', SP_KEYUSE_2ND],
];

/** Specials before this index define something (exports, keys, static calls): never a declaration, even after a type-like word. */
const DEF_SPECIALS = SPECIALS.findIndex(([, k]) => k === SP_KEYUSE);
/** First letters of those (the lexer looks them up even where a declaration is expected). */
const SPECIAL_FIRST = new Uint8Array(256);
for (const [name] of SPECIALS.slice(0, DEF_SPECIALS)) SPECIAL_FIRST[name.charCodeAt(0)] = 1;

const RE_PLAIN_IDENT = /^\s*([A-Za-z_]\w*)\s*$/;
const RE_KEY_ARG = /^[\s&(*]*([A-Za-z_]\w*)\s*(->)?/;
const RE_STRUCT_KEY = /^\s*([A-Za-z_]\w*)\s*(?:__\w+\s*)*=\s*(STATIC_KEY_\w+)/;

/** Arguments of a macro use whose '(' is at k: top-level comma split, up to the matching ')' (bounded). */
function readArgs(buf: Uint8Array, k: number): string[] {
  const out: string[] = [];
  const n = buf.length;
  const lim = Math.min(n, k + 4096);
  let lvl = 0;
  let start = k + 1;
  for (let j = k + 1; j < lim; j++) {
    const d = buf[j];
    if (d === 40) lvl++;
    else if (d === 41) {
      if (lvl === 0) {
        out.push(latin1(buf, start, j));
        return out;
      }
      lvl--;
    } else if (d === 44 && lvl === 0) {
      out.push(latin1(buf, start, j));
      start = j + 1;
    } else if (d === 59 || d === 123 || d === 125) break;
  }
  return out;
}

// ---------------------------------------------------------------------------
// The C lexer

/** Receives the names a file calls (interned ids) while it is lexed. */
export interface CallSink {
  readonly interner: Interner;
  mark(id: number): void;
}

interface HelperBuild {
  name: string;
  line: number;
  keys: Set<string>;
  calls: Set<number>;
}

/**
 * Lex one C/header/assembler file. Calls — `name(` outside comments, strings
 * and declarations — go to the sink; definitions go to the record.
 *
 * A `name(` is a declaration rather than a call when the previous token is a
 * type word (an identifier that is not a statement keyword) or, at file
 * scope, a `*` after one: `int foo(`, `struct bar *foo(`, `static void
 * __init foo(` declare; `return foo(`, `= foo(`, `) foo(`, `static
 * DEFINE_MUTEX(` and every use inside a macro body call.
 *
 * Brace depth drives helper bodies; directives save and restore it (braces
 * in macro bodies do not count), and `#else`/`#elif` restart from the depth
 * of their `#if`, so alternative function headers do not unbalance the file.
 */
export function scanC(buf: Uint8Array, isHeader: boolean, sink: CallSink, asm = false): SourceRecord {
  const rec: SourceRecord = { t: 'src', includes: [], exports: [], keys: [], statics: [], helpers: [], macros: [] };
  const interner = sink.interner;
  const n = buf.length;
  let i = 0;
  let line = 0;
  let depth = 0;
  /** 0: call context, 1: after a type word, 2: after '*' after a type word. */
  let prev = 0;
  let lineStart = true;
  let inDir = false;
  let savedDepth = 0;
  let savedPrev = 0;
  const ifStack: number[] = [];
  // the declaration being read at file scope
  let paren0 = 0;
  let declInline = false;
  let declEq = false;
  let cand: string | null = null;
  let candLine = 0;
  let prevStruct = false;
  let helper: HelperBuild | null = null;

  const resetDecl = () => {
    declInline = false;
    declEq = false;
    cand = null;
    paren0 = 0;
  };
  const endHelper = () => {
    if (!helper) return;
    const calls: string[] = [];
    for (const id of helper.calls) calls.push(interner.names[id]);
    const same = rec.helpers.find((x) => x.name === helper!.name);
    if (same) {
      // #ifdef alternatives of one helper: one entry, the union of what they do
      for (const k of helper.keys) if (!same.keys.includes(k)) same.keys.push(k);
      for (const c of calls) if (!same.calls.includes(c)) same.calls.push(c);
    } else rec.helpers.push({ name: helper.name, line: helper.line, keys: [...helper.keys], calls });
    helper = null;
  };

  while (i < n) {
    const c = buf[i];
    if (c === 10) {
      line++;
      i++;
      if (inDir) {
        let p = i - 2;
        if (p >= 0 && buf[p] === 13) p--;
        if (!(p >= 0 && buf[p] === 92)) {
          inDir = false;
          depth = savedDepth;
          prev = savedPrev;
        }
      }
      lineStart = true;
      continue;
    }
    if (c === 32 || c === 9 || c === 13 || c === 12 || c === 11) {
      i++;
      continue;
    }
    if (c === 47) {
      const d = buf[i + 1];
      if (d === 42) {
        i += 2;
        while (i < n) {
          const x = buf[i];
          if (x === 42 && buf[i + 1] === 47) break;
          if (x === 10) line++;
          i++;
        }
        i += 2;
        continue;
      }
      if (d === 47) {
        i += 2;
        while (i < n && buf[i] !== 10) i++;
        continue;
      }
      prev = 0;
      prevStruct = false;
      lineStart = false;
      i++;
      continue;
    }
    const cls = IDCLASS[c];
    if (cls & 1) {
      // identifier
      const s = i;
      let h = Math.imul(FNV_OFFSET ^ c, FNV_PRIME);
      i++;
      while (i < n) {
        const d = buf[i];
        if ((IDCLASS[d] & 2) === 0) break;
        h = Math.imul(h ^ d, FNV_PRIME);
        i++;
      }
      const e = i;
      lineStart = false;
      let k = e;
      while (k < n && (buf[k] === 32 || buf[k] === 9)) k++;
      let isCall = k < n && buf[k] === 40;
      if (isCall && k > e) {
        // "type (*ptr)(...)" declares a pointer
        let q = k + 1;
        while (q < n && (buf[q] === 32 || buf[q] === 9)) q++;
        if (buf[q] === 42) isCall = false;
      }
      const kw = e - s <= 16 ? keyword(buf, s, e, h) : -1;
      if (kw >= 0) {
        const f = kwFlags[kw];
        if (f & F_INLINE && depth === 0 && !inDir && paren0 === 0) declInline = true;
        prev = f & F_TYPE ? 1 : 0;
        prevStruct = (f & F_STRUCT) !== 0;
        continue;
      }
      if (isCall) {
        let declLike = !asm && !inDir && (depth === 0 ? prev >= 1 : prev === 1);
        if (declLike && SPECIAL_FIRST[c] && e - s >= 13 && interner.idOf(buf, s, e, h) < DEF_SPECIALS) declLike = false;
        if (declLike) {
          if (depth === 0 && paren0 === 0 && cand === null) {
            cand = latin1(buf, s, e);
            candLine = line;
          }
        } else {
          const id = interner.idOf(buf, s, e, h);
          sink.mark(id);
          if (helper) helper.calls.add(id);
          if (id < SPECIALS.length) {
            const sp = SPECIALS[id][1];
            if (sp === SP_KEYUSE || sp === SP_KEYUSE_2ND) {
              if (helper) {
                const arg = readArgs(buf, k)[sp === SP_KEYUSE_2ND ? 1 : 0];
                const m = arg === undefined ? null : RE_KEY_ARG.exec(arg);
                if (m && !m[2]) helper.keys.add(m[1]);
              }
            } else if (!inDir) {
              const args = readArgs(buf, k);
              const macro = SPECIALS[id][0];
              if (sp === SP_EXPORT) {
                const m = args.length ? RE_PLAIN_IDENT.exec(args[0]) : null;
                if (m) {
                  const ns = args.length > 1 ? args[1].trim().replace(/^"(.*)"$/, '$1') : '';
                  rec.exports.push({ sym: m[1], macro, ns, line });
                }
              } else {
                const m = RE_PLAIN_IDENT.exec(args[sp === SP_KEYDEF_MAYBE ? 1 : 0] ?? '');
                if (m) {
                  if (sp === SP_SCALL) rec.statics.push({ name: m[1], line });
                  else rec.keys.push({ name: m[1], macro, line });
                }
              }
            }
          }
        }
        prev = 0;
        prevStruct = false;
        continue;
      }
      if (prevStruct && depth === 0 && !inDir && e - s >= 10 && buf[s] === 115 /* s */) {
        const tag = latin1(buf, s, e);
        if (tag === 'static_key' || tag === 'static_key_true' || tag === 'static_key_false') {
          const m = RE_STRUCT_KEY.exec(latin1(buf, e, Math.min(n, e + 256)));
          if (m) rec.keys.push({ name: m[1], macro: m[2], line });
        }
      }
      prev = 1;
      prevStruct = false;
      continue;
    }
    if (c === 35 && lineStart && !inDir) {
      // a preprocessor directive
      inDir = true;
      savedDepth = depth;
      savedPrev = prev;
      lineStart = false;
      i++;
      while (i < n && (buf[i] === 32 || buf[i] === 9)) i++;
      const s = i;
      while (i < n && IDCLASS[buf[i]] & 2) i++;
      const name = i - s <= 12 ? latin1(buf, s, i) : '';
      if (name === 'include' || name === 'include_next') {
        while (i < n && (buf[i] === 32 || buf[i] === 9)) i++;
        const open = buf[i];
        if (open === 60 || open === 34) {
          const close = open === 60 ? 62 : 34;
          let j = i + 1;
          while (j < n && buf[j] !== close && buf[j] !== 10) j++;
          if (buf[j] === close && j > i + 1) rec.includes.push(latin1(buf, i, j + 1));
          i = j < n && buf[j] === close ? j + 1 : j;
        }
      } else if (name === 'define') {
        while (i < n && (buf[i] === 32 || buf[i] === 9)) i++;
        const ms = i;
        while (i < n && IDCLASS[buf[i]] & 2) i++;
        if (isHeader && i > ms && buf[i] === 40 && IDCLASS[buf[ms]] & 1) rec.macros.push({ name: latin1(buf, ms, i), line });
        prev = 0;
      } else if (name === 'if' || name === 'ifdef' || name === 'ifndef') {
        ifStack.push(savedDepth);
      } else if (name === 'elif' || name === 'else') {
        if (ifStack.length) savedDepth = ifStack[ifStack.length - 1];
      } else if (name === 'endif') {
        ifStack.pop();
      }
      continue;
    }
    lineStart = false;
    if (c === 34 || c === 39) {
      i++;
      while (i < n) {
        const d = buf[i];
        if (d === 92) {
          if (buf[i + 1] === 10) line++;
          i += 2;
          continue;
        }
        if (d === c) {
          i++;
          break;
        }
        if (d === 10) break;
        i++;
      }
      prev = 0;
      prevStruct = false;
      continue;
    }
    if (cls & 2) {
      // a number (pp-number: digits, letters, '.', exponent signs)
      i++;
      while (i < n) {
        const d = buf[i];
        if (IDCLASS[d] & 2 || d === 46) i++;
        else if ((d === 43 || d === 45) && ((buf[i - 1] | 32) === 101 || (buf[i - 1] | 32) === 112)) i++;
        else break;
      }
      prev = 0;
      prevStruct = false;
      continue;
    }
    i++;
    prevStruct = false;
    switch (c) {
      case 123: // {
        if (!inDir && depth === 0 && paren0 === 0 && cand !== null && !declEq && isHeader && declInline && !helper) {
          helper = { name: cand, line: candLine, keys: new Set(), calls: new Set() };
        }
        depth++;
        prev = 0;
        break;
      case 125: // }
        if (depth > 0) depth--;
        if (depth === 0 && !inDir) {
          endHelper();
          resetDecl();
        }
        prev = 0;
        break;
      case 59: // ;
        if (depth === 0 && !inDir) resetDecl();
        prev = 0;
        break;
      case 40: // (
        if (depth === 0 && !inDir) paren0++;
        prev = 0;
        break;
      case 41: // )
        if (depth === 0 && !inDir && paren0 > 0) paren0--;
        prev = 0;
        break;
      case 61: // =
        if (depth === 0 && !inDir && paren0 === 0) declEq = true;
        prev = 0;
        break;
      case 42: // *
        prev = prev >= 1 ? 2 : 0;
        break;
      default:
        prev = 0;
    }
  }
  endHelper();
  return rec;
}

/** Bit 1: may start an identifier; bit 2: may continue one (digits have only bit 2). */
const IDCLASS = new Uint8Array(256);
for (let ch = 0; ch < 256; ch++) {
  if ((ch >= 65 && ch <= 90) || (ch >= 97 && ch <= 122) || ch === 95) IDCLASS[ch] = 3;
  else if (ch >= 48 && ch <= 57) IDCLASS[ch] = 2;
}

// ---------------------------------------------------------------------------
// Kbuild makefiles

const RE_ASSIGN =
  /^(?:override\s+|export\s+)?([A-Za-z0-9_][A-Za-z0-9_.\-/]*?)-(y|m|n|objs|\$\(CONFIG_[A-Za-z0-9_]+\)|\$\{CONFIG_[A-Za-z0-9_]+\}|\$\([^()]*\))\s*(?:\+|:|::|\?)?=\s*(.*)$/;
const RE_IFDEF = /^(ifdef|ifndef)\s+(CONFIG_[A-Za-z0-9_]+)\s*$/;
const RE_IFEQ = /^(ifeq|ifneq)\s*\(\s*"?\$[({](CONFIG_[A-Za-z0-9_]+)[)}]"?\s*,\s*"?([^)"\s]*)"?\s*\)\s*$/;

/** Variables whose `-y` lists are not objects linked into vmlinux or a module. */
const NOT_OBJECT_LISTS = new Set([
  'ccflags', 'asflags', 'ldflags', 'subdir-ccflags', 'subdir-asflags', 'ccflags-remove', 'asflags-remove',
  'always', 'extra', 'targets', 'hostprogs', 'userprogs', 'subdir', 'clean-files', 'head', 'core', 'drivers',
  'libs', 'net', 'init', 'virt', 'generic', 'generated', 'mandatory', 'header-test', 'no-header-test', 'hostprogs-always',
  'userprogs-always', 'dtb', 'always-y', 'mmu', 'platform',
]);

const RE_VAR = /^(?:override\s+|export\s+)?([A-Za-z0-9_.-]+)\s*(\+=|:=|::=|\?=|=)\s*(.*)$/;

/**
 * Expand the make references kbuild object lists use: `$(name)` of a
 * variable set earlier in the same makefile and `$(addprefix dir/, a.o b.o)`.
 * Anything else (`$(src)`, `$(CONFIG_X)`, `$(call ...)`) is left as written.
 */
function expandMake(value: string, vars: ReadonlyMap<string, string>, depth = 0): string {
  if (depth > 8 || !value.includes('$')) return value;
  let out = '';
  let i = 0;
  while (i < value.length) {
    const c = value[i];
    if (c !== '$' || (value[i + 1] !== '(' && value[i + 1] !== '{')) {
      out += c;
      i++;
      continue;
    }
    let lvl = 0;
    let j = i + 1;
    for (; j < value.length; j++) {
      const d = value[j];
      if (d === '(' || d === '{') lvl++;
      else if ((d === ')' || d === '}') && --lvl === 0) break;
    }
    if (j >= value.length) {
      out += value.slice(i);
      break;
    }
    const inner = value.slice(i + 2, j);
    const m = /^addprefix\s+([^,]*),([\s\S]*)$/.exec(inner);
    if (m) {
      const prefix = expandMake(m[1], vars, depth + 1).trim();
      out += expandMake(m[2], vars, depth + 1)
        .split(/\s+/)
        .filter(Boolean)
        .map((w) => prefix + w)
        .join(' ');
    } else if (/^[A-Za-z0-9_.-]+$/.test(inner) && !inner.startsWith('CONFIG_') && vars.has(inner)) {
      out += expandMake(vars.get(inner)!, vars, depth + 1);
    } else out += value.slice(i, j + 1);
    i = j + 1;
  }
  return out;
}

/**
 * Object lists of a Kbuild makefile: `obj-y`, `obj-m`, `obj-$(CONFIG_X)`,
 * `lib-y` and composite lists (`foo-y`, `foo-objs`, `foo-$(CONFIG_X)`), after
 * joining `\` continuations, dropping comments and expanding variables of the
 * same makefile and `$(addprefix)`. Assignments under `ifdef CONFIG_X` /
 * `ifeq ($(CONFIG_X),v)` blocks carry those conditions; other conditionals
 * are ignored (their assignments count unconditionally).
 */
export function scanMakefile(text: string): MakeRecord {
  const assigns: MakeAssign[] = [];
  const stack: (MakeGuard | null)[] = [];
  const vars = new Map<string, string>();
  for (const raw of text.replace(/\\\r?\n/g, ' ').split('\n')) {
    let t = raw;
    const hash = t.search(/(^|[^\\])#/);
    if (hash >= 0) t = t.slice(0, hash + (t[hash] === '#' ? 0 : 1));
    t = t.trim();
    if (!t) continue;
    let m: RegExpExecArray | null;
    if ((m = RE_IFDEF.exec(t))) {
      stack.push({ sym: m[2].slice(7), eq: m[1] === 'ifndef', value: '' });
      continue;
    }
    if ((m = RE_IFEQ.exec(t))) {
      stack.push({ sym: m[2].slice(7), eq: m[1] === 'ifeq', value: m[3] });
      continue;
    }
    if (/^if(n?def|n?eq)\b/.test(t)) {
      stack.push(null);
      continue;
    }
    if (/^else\b/.test(t)) {
      const top = stack.length ? stack[stack.length - 1] : null;
      // "else ifeq ..." chains are not followed: the rest of the block counts unconditionally
      if (stack.length) stack[stack.length - 1] = top && t === 'else' ? { ...top, eq: !top.eq } : null;
      continue;
    }
    if (/^endif\b/.test(t)) {
      stack.pop();
      continue;
    }
    const v = RE_VAR.exec(t);
    if (v) {
      const [, name, op, value] = v;
      const old = vars.get(name);
      if (op === '+=') vars.set(name, old === undefined ? value : `${old} ${value}`);
      else if (op === ':=' || op === '::=') vars.set(name, expandMake(value, vars));
      else if (op === '=' || old === undefined) vars.set(name, value);
    }
    m = RE_ASSIGN.exec(t);
    if (!m) continue;
    const base = m[1];
    if (NOT_OBJECT_LISTS.has(base) || base.endsWith('flags') || base.startsWith('CFLAGS') || base.startsWith('AFLAGS')) continue;
    let cond = m[2];
    if (cond.startsWith('$')) {
      const c = /^\$[({](CONFIG_[A-Za-z0-9_]+)[)}]$/.exec(cond);
      cond = c ? c[1] : '?';
    }
    const objs: string[] = [];
    for (const w of expandMake(m[3], vars).split(/\s+/)) {
      if (w.length > 2 && w.endsWith('.o') && !w.includes('$') && !w.includes('%')) objs.push(w.startsWith('./') ? w.slice(2) : w);
    }
    if (!objs.length) continue;
    const guards = stack.filter((g): g is MakeGuard => g !== null);
    assigns.push({ base, cond, objs, guards });
  }
  return { t: 'make', assigns };
}

// ---------------------------------------------------------------------------
// Kconfig

function indentWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    if (ch === ' ') w++;
    else if (ch === '\t') w = (Math.floor(w / 8) + 1) * 8;
    else break;
  }
  return w;
}

/** Types of the symbols a Kconfig file defines (`config`/`menuconfig` + `bool`/`tristate`/.../`def_bool`), help text skipped. */
export function scanKconfig(text: string): KconfigRecord {
  const syms: { name: string; type: KconfigType }[] = [];
  const typed = new Set<string>();
  let cur: string | null = null;
  let helpIndent = -1;
  for (const raw of text.split('\n')) {
    const lineText = raw.replace(/\r$/, '');
    if (helpIndent >= 0) {
      if (!lineText.trim()) continue;
      if (indentWidth(lineText) > helpIndent) continue;
      helpIndent = -1;
    }
    const t = lineText.trim();
    if (!t || t.startsWith('#')) continue;
    let m = /^(?:menuconfig|config)\s+([A-Za-z0-9_]+)\s*$/.exec(t);
    if (m) {
      cur = m[1];
      continue;
    }
    m = /^(?:def_)?(bool|boolean|tristate|int|hex|string)(?:\s|$)/.exec(t);
    if (m) {
      if (cur && !typed.has(cur)) {
        typed.add(cur);
        syms.push({ name: cur, type: m[1] === 'boolean' ? 'bool' : (m[1] as KconfigType) });
      }
      continue;
    }
    if (/^(help|---help---)$/.test(t)) {
      helpIndent = indentWidth(lineText);
      continue;
    }
    if (/^(choice|endchoice|menu|endmenu|if|endif|source|rsource|osource|orsource|comment|mainmenu)\b/.test(t)) cur = null;
  }
  return { t: 'kconfig', syms };
}

/** CONFIG_ values of a .config (names without the prefix; string values unquoted). */
export function parseDotConfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const m = /^CONFIG_([A-Za-z0-9_]+)=(.*?)\s*$/.exec(raw);
    if (!m) continue;
    let v = m[2];
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    out.set(m[1], v);
  }
  return out;
}

// ---------------------------------------------------------------------------
// A scanning session: the state one thread keeps between the scan and link phases

export interface ScanJob {
  id: number;
  path: string;
  kind: FileKind;
}

export interface LinkResult {
  /** API names some scanned file calls, and the ids of those files (ascending per name). */
  names: string[];
  lists: Int32Array[];
  /** Per scanned source file: a bloom filter of the names it calls that are not API names. */
  bloomIds: number[];
  blooms: Uint8Array[];
}

export class ScanSession implements CallSink {
  readonly interner = new Interner();
  private stamp = new Int32Array(1024);
  private seq = 0;
  private current: number[] = [];
  private calls = new Map<number, Int32Array>();

  constructor(private readonly root: string) {
    for (const [name] of SPECIALS) this.interner.add(name);
  }

  mark(id: number): void {
    if (id >= this.stamp.length) {
      let size = this.stamp.length * 2;
      while (size <= id) size *= 2;
      const grown = new Int32Array(size);
      grown.set(this.stamp);
      this.stamp = grown;
    }
    if (this.stamp[id] !== this.seq) {
      this.stamp[id] = this.seq;
      this.current.push(id);
    }
  }

  /** One read buffer for every file of the session (files over the size limit are not read). */
  private readBuf = Buffer.allocUnsafe(256 * 1024);

  /** Scan one file; null when it is unreadable, binary, too big or not a regular file. Never throws. */
  scanFile(job: ScanJob): FileRecord | null {
    let fd = -1;
    try {
      fd = openSync(join(this.root, job.path), 'r');
      const st = fstatSync(fd);
      if (!st.isFile() || st.size > MAX_INDEX_FILE_BYTES) return null;
      // read to the end: the file may have grown since it was listed
      let len = 0;
      for (;;) {
        if (len === this.readBuf.length) {
          if (len >= MAX_INDEX_FILE_BYTES + 1) return null;
          const grown = Buffer.allocUnsafe(Math.min(this.readBuf.length * 2, MAX_INDEX_FILE_BYTES + 1));
          this.readBuf.copy(grown, 0, 0, len);
          this.readBuf = grown;
        }
        const n = readSync(fd, this.readBuf, len, this.readBuf.length - len, null);
        if (n === 0) break;
        len += n;
      }
      return this.scanBytes(job, this.readBuf.subarray(0, len));
    } catch {
      return null;
    } finally {
      if (fd >= 0) {
        try {
          closeSync(fd);
        } catch {
          // already closed
        }
      }
    }
  }

  scanBytes(job: ScanJob, buf: Uint8Array): FileRecord | null {
    try {
      if (buf.length > MAX_INDEX_FILE_BYTES) return null;
      const probe = buf.subarray(0, 8192);
      if (probe.indexOf(0) >= 0) return null;
      if (job.kind === KIND_MAKE) return scanMakefile(latin1(buf, 0, buf.length));
      if (job.kind === KIND_KCONFIG) return scanKconfig(latin1(buf, 0, buf.length));
      this.seq++;
      if (this.seq === 0x7fffffff) {
        this.stamp.fill(0);
        this.seq = 1;
      }
      this.current = [];
      const rec = scanC(buf, job.kind === KIND_H, this, job.kind === KIND_S);
      this.calls.set(job.id, Int32Array.from(this.current));
      return rec;
    } catch {
      return null;
    }
  }

  /** Split the calls of every file scanned so far into API postings and bloom filters of the rest; then forget them. */
  link(api: Iterable<string>): LinkResult {
    const isApi = new Uint8Array(this.interner.size);
    for (const name of api) {
      const id = this.interner.find(name);
      if (id >= 0) isApi[id] = 1;
    }
    const postings = new Map<number, number[]>();
    const bloomIds: number[] = [];
    const blooms: Uint8Array[] = [];
    const hashes = this.interner.hashes;
    const ids = [...this.calls.keys()].sort((a, b) => a - b);
    for (const fileId of ids) {
      const list = this.calls.get(fileId)!;
      let other = 0;
      for (let k = 0; k < list.length; k++) {
        const id = list[k];
        if (isApi[id]) {
          let p = postings.get(id);
          if (!p) postings.set(id, (p = []));
          p.push(fileId);
        } else other++;
      }
      const bloom = newBloom(other);
      for (let k = 0; k < list.length; k++) if (!isApi[list[k]]) bloomAdd(bloom, hashes[list[k]]);
      bloomIds.push(fileId);
      blooms.push(bloom);
    }
    const names: string[] = [];
    const lists: Int32Array[] = [];
    for (const [id, files] of postings) {
      names.push(this.interner.names[id]);
      lists.push(Int32Array.from(files));
    }
    this.calls.clear();
    return { names, lists, bloomIds, blooms };
  }
}
