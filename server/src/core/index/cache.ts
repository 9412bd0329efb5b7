/**
 * The on-disk cache of a tree index: one binary file per tree.
 *
 *   magic "LLTIDX\n\0" | u32 schema | u32 0 | sha1(payload) | payload
 *   payload = varint n | n bytes of strings joined by NUL (UTF-8) | body
 *
 * The body refers to strings by their index in that table. Reading checks the
 * magic, schema, checksum and every bound: a truncated, corrupt, foreign or
 * other-schema file reads as `undefined`, never as an exception. Writing goes
 * to a temporary file renamed over the old one.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  KCONFIG_TYPES,
  KIND_KCONFIG,
  KIND_MAKE,
  type FileKind,
  type FileRecord,
  type KconfigRecord,
  type MakeRecord,
  type SourceRecord,
} from './scan';

export const CACHE_SCHEMA = 1;
const MAGIC = Buffer.from('LLTIDX\n\0', 'latin1');
const HEADER = 8 + 4 + 4 + 20;

export interface IndexEntry {
  path: string;
  kind: FileKind;
  mtimeMs: number;
  size: number;
  /** null: not indexed (unreadable, binary, larger than the limit). */
  rec: FileRecord | null;
  /** Source files: bloom filter of the names the file calls that are not API names. */
  bloom: Uint8Array | null;
}

/** API names and the files that call them: the ids of names[k] are ids[start[k] .. start[k+1]), ascending. */
export interface Postings {
  names: string[];
  start: Int32Array;
  ids: Int32Array;
}

/** Reverse include edges: the files that include file k are ids[start[k] .. start[k+1]), ascending. */
export interface PackedGraph {
  start: Int32Array;
  ids: Int32Array;
}

export interface IndexData {
  root: string;
  /** Sorted by path; an entry's position is its file id. */
  entries: IndexEntry[];
  postings: Postings;
  /** The resolved include graph of these entries, when known (it is recomputed from the records otherwise). */
  includers?: PackedGraph;
}

/** Pack lists of file ids by name. */
export function packPostings(lists: Map<string, ArrayLike<number>>): Postings {
  const names = [...lists.keys()];
  const start = new Int32Array(names.length + 1);
  let total = 0;
  for (let k = 0; k < names.length; k++) {
    start[k] = total;
    total += lists.get(names[k])!.length;
  }
  start[names.length] = total;
  const ids = new Int32Array(total);
  for (let k = 0; k < names.length; k++) ids.set(lists.get(names[k])!, start[k]);
  return { names, start, ids };
}

export function cacheFileName(cacheDir: string, root: string): string {
  const hash = createHash('sha1').update(root).digest('hex').slice(0, 16);
  const base = root.split(/[\\/]/).filter(Boolean).pop() ?? 'root';
  return join(cacheDir, `tree-${base.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40)}-${hash}.idx`);
}

// ---------------------------------------------------------------------------
// Writing

class Writer {
  buf = Buffer.allocUnsafe(1 << 20);
  pos = 0;
  private index = new Map<string, number>();
  readonly table: string[] = [];

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }
  uint(v: number): void {
    this.ensure(10);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }
  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }
  str(s: string): void {
    let k = this.index.get(s);
    if (k === undefined) {
      k = this.table.length;
      this.table.push(s);
      this.index.set(s, k);
    }
    this.uint(k);
  }
  strs(list: readonly string[]): void {
    this.uint(list.length);
    for (const s of list) this.str(s);
  }
  bytes(b: Uint8Array): void {
    this.uint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

function writeRecord(w: Writer, rec: FileRecord): void {
  if (rec.t === 'src') {
    w.strs(rec.includes);
    w.uint(rec.exports.length);
    for (const x of rec.exports) {
      w.str(x.sym);
      w.str(x.macro);
      w.str(x.ns);
      w.uint(x.line);
    }
    w.uint(rec.keys.length);
    for (const x of rec.keys) {
      w.str(x.name);
      w.str(x.macro);
      w.uint(x.line);
    }
    w.uint(rec.statics.length);
    for (const x of rec.statics) {
      w.str(x.name);
      w.uint(x.line);
    }
    w.uint(rec.helpers.length);
    for (const x of rec.helpers) {
      w.str(x.name);
      w.uint(x.line);
      w.strs(x.keys);
      w.strs(x.calls);
    }
    w.uint(rec.macros.length);
    for (const x of rec.macros) {
      w.str(x.name);
      w.uint(x.line);
    }
  } else if (rec.t === 'make') {
    w.uint(rec.assigns.length);
    for (const a of rec.assigns) {
      w.str(a.base);
      w.str(a.cond);
      w.strs(a.objs);
      w.uint(a.guards.length);
      for (const g of a.guards) {
        w.str(g.sym);
        w.u8(g.eq ? 1 : 0);
        w.str(g.value);
      }
    }
  } else {
    w.uint(rec.syms.length);
    for (const s of rec.syms) {
      w.str(s.name);
      w.u8(KCONFIG_TYPES.indexOf(s.type));
    }
  }
}

export function serializeIndex(data: IndexData): Buffer {
  const w = new Writer();
  w.str(data.root);
  w.uint(data.entries.length);
  for (const e of data.entries) {
    w.str(e.path);
    w.u8(e.kind);
    w.f64(e.mtimeMs);
    w.f64(e.size);
    w.u8((e.rec ? 1 : 0) | (e.bloom ? 2 : 0));
    if (e.rec) writeRecord(w, e.rec);
    if (e.bloom) w.bytes(e.bloom);
  }
  const { names, start, ids } = data.postings;
  w.uint(names.length);
  for (let k = 0; k < names.length; k++) {
    w.str(names[k]);
    w.uint(start[k + 1] - start[k]);
    let last = 0;
    for (let j = start[k]; j < start[k + 1]; j++) {
      w.uint(ids[j] - last);
      last = ids[j];
    }
  }
  const g = data.includers;
  if (g && g.start.length === data.entries.length + 1) {
    w.u8(1);
    for (let k = 0; k < data.entries.length; k++) {
      w.uint(g.start[k + 1] - g.start[k]);
      let last = 0;
      for (let j = g.start[k]; j < g.start[k + 1]; j++) {
        w.uint(g.ids[j] - last);
        last = g.ids[j];
      }
    }
  } else w.u8(0);
  const table = Buffer.from(w.table.join('\0'), 'utf8');
  const lenBytes = new Writer();
  lenBytes.uint(table.length);
  const payload = Buffer.concat([lenBytes.buf.subarray(0, lenBytes.pos), table, w.buf.subarray(0, w.pos)]);
  const header = Buffer.alloc(HEADER);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(CACHE_SCHEMA, 8);
  createHash('sha1').update(payload).digest().copy(header, 16);
  return Buffer.concat([header, payload]);
}

/** Write atomically: a temporary file in the same directory, renamed over the target. */
export function writeCacheFile(file: string, bytes: Uint8Array): void {
  const dir = join(file, '..');
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.tmp`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to clean
    }
    throw e;
  }
}

// ---------------------------------------------------------------------------
// Reading

class Corrupt extends Error {}

class Reader {
  pos: number;
  constructor(
    private readonly buf: Buffer,
    start: number,
    private readonly table: string[],
  ) {
    this.pos = start;
  }
  get left(): number {
    return this.buf.length - this.pos;
  }
  u8(): number {
    if (this.pos >= this.buf.length) throw new Corrupt();
    return this.buf[this.pos++];
  }
  uint(): number {
    let v = 0;
    let mul = 1;
    for (let k = 0; k < 8; k++) {
      if (this.pos >= this.buf.length) throw new Corrupt();
      const b = this.buf[this.pos++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 0x80;
    }
    throw new Corrupt();
  }
  /** A count of items each at least `min` bytes long: bounded by what is left. */
  count(min = 1): number {
    const n = this.uint();
    if (n * min > this.left) throw new Corrupt();
    return n;
  }
  f64(): number {
    if (this.pos + 8 > this.buf.length) throw new Corrupt();
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }
  str(): string {
    const k = this.uint();
    if (k >= this.table.length) throw new Corrupt();
    return this.table[k];
  }
  strs(): string[] {
    const n = this.count();
    const out = new Array<string>(n);
    for (let k = 0; k < n; k++) out[k] = this.str();
    return out;
  }
  bytes(): Uint8Array {
    const n = this.count();
    const out = new Uint8Array(n);
    out.set(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }
  /** Skip a byte string; its length. */
  skipBytes(): number {
    const n = this.count();
    this.pos += n;
    return n;
  }
}

function readRecord(r: Reader, kind: FileKind): FileRecord {
  if (kind === KIND_MAKE) {
    const rec: MakeRecord = { t: 'make', assigns: [] };
    const n = r.count(3);
    for (let k = 0; k < n; k++) {
      const base = r.str();
      const cond = r.str();
      const objs = r.strs();
      const guards = [];
      const g = r.count(3);
      for (let j = 0; j < g; j++) guards.push({ sym: r.str(), eq: r.u8() === 1, value: r.str() });
      rec.assigns.push({ base, cond, objs, guards });
    }
    return rec;
  }
  if (kind === KIND_KCONFIG) {
    const rec: KconfigRecord = { t: 'kconfig', syms: [] };
    const n = r.count(2);
    for (let k = 0; k < n; k++) {
      const name = r.str();
      const type = KCONFIG_TYPES[r.u8()];
      if (!type) throw new Corrupt();
      rec.syms.push({ name, type });
    }
    return rec;
  }
  const rec: SourceRecord = { t: 'src', includes: r.strs(), exports: [], keys: [], statics: [], helpers: [], macros: [] };
  let n = r.count(4);
  for (let k = 0; k < n; k++) rec.exports.push({ sym: r.str(), macro: r.str(), ns: r.str(), line: r.uint() });
  n = r.count(3);
  for (let k = 0; k < n; k++) rec.keys.push({ name: r.str(), macro: r.str(), line: r.uint() });
  n = r.count(2);
  for (let k = 0; k < n; k++) rec.statics.push({ name: r.str(), line: r.uint() });
  n = r.count(4);
  for (let k = 0; k < n; k++) rec.helpers.push({ name: r.str(), line: r.uint(), keys: r.strs(), calls: r.strs() });
  n = r.count(2);
  for (let k = 0; k < n; k++) rec.macros.push({ name: r.str(), line: r.uint() });
  return rec;
}

/**
 * Decode a cache file's bytes; undefined when it is not an intact cache of
 * this schema (for `root`, when given). Without `blooms`, bloom filters
 * (needed only to update the index) are skipped.
 */
export function deserializeIndex(buf: Buffer, root?: string, blooms = true): IndexData | undefined {
  try {
    if (buf.length < HEADER + 1) return undefined;
    if (!buf.subarray(0, 8).equals(MAGIC)) return undefined;
    if (buf.readUInt32LE(8) !== CACHE_SCHEMA) return undefined;
    const payload = buf.subarray(HEADER);
    const sum = createHash('sha1').update(payload).digest();
    if (!sum.equals(buf.subarray(16, 36))) return undefined;
    const head = new Reader(payload, 0, []);
    const tableLen = head.uint();
    if (tableLen > head.left) return undefined;
    const table = payload.toString('utf8', head.pos, head.pos + tableLen).split('\0');
    const r = new Reader(payload, head.pos + tableLen, table);
    const storedRoot = r.str();
    if (root !== undefined && storedRoot !== root) return undefined;
    const n = r.count(19);
    const entries: IndexEntry[] = new Array(n);
    let lastPath = '';
    for (let k = 0; k < n; k++) {
      const path = r.str();
      if (k > 0 && !(path > lastPath)) throw new Corrupt();
      lastPath = path;
      const kind = r.u8();
      if (kind > 4) throw new Corrupt();
      const mtimeMs = r.f64();
      const size = r.f64();
      const flags = r.u8();
      const rec = flags & 1 ? readRecord(r, kind as FileKind) : null;
      let bloom: Uint8Array | null = null;
      if (flags & 2) {
        const len = blooms ? (bloom = r.bytes()).length : r.skipBytes();
        if (len < 8 || (len & (len - 1)) !== 0) throw new Corrupt();
      }
      entries[k] = { path, kind: kind as FileKind, mtimeMs, size, rec, bloom };
    }
    const p = r.count(2);
    const names = new Array<string>(p);
    const start = new Int32Array(p + 1);
    let ids = new Int32Array(Math.max(1024, r.left >> 1));
    let at = 0;
    for (let k = 0; k < p; k++) {
      names[k] = r.str();
      start[k] = at;
      const m = r.count();
      if (at + m > ids.length) {
        const grown = new Int32Array(Math.max(ids.length * 2, at + m));
        grown.set(ids.subarray(0, at));
        ids = grown;
      }
      let last = 0;
      for (let j = 0; j < m; j++) {
        last += r.uint();
        if (last >= n) throw new Corrupt();
        ids[at++] = last;
      }
    }
    start[p] = at;
    const data: IndexData = { root: storedRoot, entries, postings: { names, start, ids: ids.slice(0, at) } };
    if (r.u8() === 1) {
      const gStart = new Int32Array(n + 1);
      let gIds = new Int32Array(Math.max(1024, r.left));
      let g = 0;
      for (let k = 0; k < n; k++) {
        gStart[k] = g;
        const m = r.count();
        if (g + m > gIds.length) throw new Corrupt();
        let last = 0;
        for (let j = 0; j < m; j++) {
          last += r.uint();
          if (last >= n) throw new Corrupt();
          gIds[g++] = last;
        }
      }
      gStart[n] = g;
      gIds = gIds.slice(0, g);
      data.includers = { start: gStart, ids: gIds };
    }
    if (r.left !== 0) return undefined;
    return data;
  } catch {
    return undefined;
  }
}

/** Read and decode a cache file; undefined when absent, unreadable or not an intact cache for root. */
export function readCacheFile(file: string, root: string, blooms = true): { data: IndexData; bytes: number } | undefined {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch {
    return undefined;
  }
  const data = deserializeIndex(buf, root, blooms);
  return data ? { data, bytes: buf.length } : undefined;
}
