/**
 * The kernel-tree index: cross-file facts about the tree a patch applies to,
 * answered by in-memory lookups at analysis time.
 *
 * - exports (EXPORT_SYMBOL*, with namespace), static keys and static calls
 *   and where their defining object links (vmlinux / module);
 * - inline helpers and function-like macros defined in headers, the static
 *   keys the helpers test and the names they call;
 * - who calls an "API name" (a header inline helper, a header function-like
 *   macro, an exported symbol) and who includes a file, directly or through
 *   headers;
 * - Kbuild placement of every .c (obj-y / obj-m / obj-$(CONFIG_X), composite
 *   objects), Kconfig symbol types and the tree's .config.
 *
 * Building scans the tree with byte-level text scanners (scan.ts) in worker
 * threads, in two phases: every file is lexed once, keeping the names it
 * calls in its worker; once all definitions are known, the API name set is
 * sent to the workers, which answer with postings (API name → file ids) and,
 * per file, a bloom filter of the other names it calls. The result is cached
 * on disk (cache.ts). An update rescans only files whose mtime or size
 * changed, plus — when new API names appear — the unchanged files whose bloom
 * filter says they may call one of them; a name that stops being an API name
 * is added to the bloom filter of the files that called it, so it is found
 * again if it comes back.
 *
 * Typical use: `TreeIndex.loadCached(tree)` at once (a few hundred ms for a
 * full tree), then `await TreeIndex.build(tree, { signal, onProgress })` in
 * the background to catch up with changed files, and swap the result in.
 */
import { availableParallelism, cpus, homedir } from 'node:os';
import { readFileSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import type { KernelTree } from '../tree/kernelTree';
import { locateAsset } from '../syntax/parser';
import { cacheFileName, packPostings, readCacheFile, serializeIndex, writeCacheFile, type IndexData, type IndexEntry } from './cache';
import { IncludeGraph } from './includes';
import { KbuildModel, strongest, type ObjectKind, type ObjectResolution } from './kbuild';
import { InlineBackend, WorkerBackend, concatSorted, type ScanBackend } from './pool';
import {
  bloomAdd,
  bloomHas,
  hashString,
  KIND_C,
  KIND_H,
  KIND_S,
  MAX_INDEX_FILE_BYTES,
  parseDotConfig,
  type ExportDef,
  type FileRecord,
  type HelperDef,
  type KconfigType,
  type KeyDef,
  type LinkResult,
  type NameDef,
  type ScanJob,
  type SourceRecord,
} from './scan';
import { checkSignal, listTreeFiles } from './walk';
import { CancelledError } from '../cancel';

export type { ObjectKind } from './kbuild';
export type { KconfigType } from './scan';

export interface Site {
  /** Tree-relative path with '/'. */
  file: string;
  /** 0-based. */
  line: number;
}
export interface ExportInfo extends Site {
  macro: string;
  namespace?: string;
}
export interface KeyInfo extends Site {
  macro: string;
  where: ObjectKind;
}
export interface StaticCallInfo extends Site {
  where: ObjectKind;
}
export interface InlineHelper extends Site {
  keys: string[];
  calls: string[];
}
export interface IndexProgress {
  phase: 'scan' | 'link' | 'save';
  done: number;
  total: number;
}

export interface BuildOptions {
  /** Where the cache file goes (default: defaultCacheDir()). */
  cacheDir?: string;
  /** Worker threads: 0 scans in the main thread; default: CPUs capped at 4 (the main thread for small updates). */
  workers?: number;
  onProgress?: (p: IndexProgress) => void;
  signal?: AbortSignal;
  /** A .config elsewhere than <root>/.config (an O= build directory). */
  configFile?: string;
  /** The worker bundle (default: out/indexWorker.js located next to the running bundle). */
  workerFile?: string;
}

export interface IndexStats {
  files: number;
  exports: number;
  keys: number;
  helpers: number;
  macros: number;
  buildMs: number;
  rescanned: number;
  fromCache: number;
  staticCalls: number;
  /** Files listed but not indexed (unreadable, binary, over 4 MiB). */
  skipped: number;
  /** API names with at least one caller. */
  calledNames: number;
  /** (API name, calling file) pairs. */
  callPostings: number;
  includeEdges: number;
  /** Objects named in Makefile/Kbuild object lists. */
  kbuildObjects: number;
  kconfigSymbols: number;
  /** Size of the cache file read or written; 0 when none. */
  cacheBytes: number;
  /** Why the cache could not be written, when it could not (the index is still usable). */
  cacheError?: string;
}

interface BuildInfo {
  buildMs: number;
  rescanned: number;
  fromCache: number;
  cacheBytes: number;
  cacheError?: string;
}

/** $XDG_CACHE_HOME/livepatch-lens, else ~/.cache/livepatch-lens. */
export function defaultCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'livepatch-lens');
}

/** The cache file of a tree root in a cache directory. */
export function indexCacheFile(root: string, cacheDir: string = defaultCacheDir()): string {
  return cacheFileName(cacheDir, root);
}

const ARCH_OF_CONFIG: [string, string][] = [
  ['X86', 'x86'], ['ARM64', 'arm64'], ['ARM', 'arm'], ['PPC', 'powerpc'], ['S390', 's390'], ['RISCV', 'riscv'],
  ['LOONGARCH', 'loongarch'], ['MIPS', 'mips'], ['SPARC', 'sparc'],
];

function readConfig(root: string, file?: string): Map<string, string> | undefined {
  try {
    const p = file ?? join(root, '.config');
    const buf = readFileSync(p);
    if (buf.length > MAX_INDEX_FILE_BYTES) return undefined;
    return parseDotConfig(buf.toString('latin1'));
  } catch {
    return undefined;
  }
}

function apiNames(entries: readonly IndexEntry[]): Set<string> {
  const api = new Set<string>();
  for (const e of entries) {
    const r = e.rec;
    if (!r || r.t !== 'src') continue;
    for (const x of r.exports) api.add(x.sym);
    for (const x of r.helpers) api.add(x.name);
    for (const x of r.macros) api.add(x.name);
  }
  return api;
}

/** True when both lists name the same files and the rescanned ones include what they included before. */
function sameIncludes(before: readonly IndexEntry[], after: readonly IndexEntry[], rescanned: ReadonlyMap<number, FileRecord | null>): boolean {
  if (before.length !== after.length) return false;
  for (let k = 0; k < before.length; k++) if (before[k].path !== after[k].path) return false;
  for (const [id, rec] of rescanned) {
    const a = before[id].rec;
    const x = a && a.t === 'src' ? a.includes : [];
    const y = rec && rec.t === 'src' ? rec.includes : [];
    if (x.length !== y.length || x.some((v, k) => v !== y[k])) return false;
  }
  return true;
}

const isSource = (e: IndexEntry) => e.kind === KIND_C || e.kind === KIND_H || e.kind === KIND_S;

function defaultWorkers(): number {
  const n = typeof availableParallelism === 'function' ? availableParallelism() : cpus().length;
  return Math.max(1, Math.min(4, n));
}

/** Below this many files to scan, the default is the main thread (starting workers costs ~50 ms). */
const INLINE_BELOW = 256;

interface Def<T> {
  id: number;
  def: T;
  rank: number;
}

export class TreeIndex {
  readonly fileCount: number;
  readonly hasConfig: boolean;

  /** File id → tree path and kind (ids are positions in path order). */
  private readonly paths: string[];
  private readonly kinds: Uint8Array;
  private readonly ids = new Map<string, number>();
  /** API name → k; its callers are postIds[postStart[k] .. postStart[k+1]). */
  private readonly postIndex = new Map<string, number>();
  private readonly postStart: Int32Array;
  private readonly postIds: Int32Array;
  private readonly exportsMap = new Map<string, Def<ExportDef>>();
  private readonly keysMap = new Map<string, Def<KeyDef>>();
  private readonly staticsMap = new Map<string, Def<NameDef>>();
  private readonly helpersMap = new Map<string, Def<HelperDef>>();
  private readonly macrosMap = new Map<string, Def<NameDef>>();
  private readonly kconfig = new Map<string, KconfigType>();
  private readonly config: Map<string, string> | undefined;
  private readonly kbuild: KbuildModel;
  private readonly includes: IncludeGraph;
  private readonly transitiveMemo = new Map<number, string[]>();
  private readonly kindMemo = new Map<string, ObjectResolution>();
  private readonly info: BuildInfo;
  private readonly arch: string;
  /** The architecture of the .config, when it names one. */
  private readonly configArch: string | undefined;
  private readonly resolving = new Set<string>();
  private skipped = 0;

  private constructor(
    readonly root: string,
    data: IndexData,
    config: Map<string, string> | undefined,
    info: BuildInfo,
  ) {
    // Only what queries need is kept: per-file records are dropped once their facts are in the maps.
    const entries = data.entries;
    this.fileCount = entries.length;
    this.config = config;
    this.hasConfig = config !== undefined;
    this.info = info;
    this.configArch = ARCH_OF_CONFIG.find(([sym]) => config?.get(sym) === 'y')?.[1];
    this.arch = this.configArch ?? 'x86';
    this.kbuild = new KbuildModel(config, (sym) => this.kconfig.get(sym));
    this.paths = new Array<string>(entries.length);
    this.kinds = new Uint8Array(entries.length);
    for (let id = 0; id < entries.length; id++) {
      this.paths[id] = entries[id].path;
      this.kinds[id] = entries[id].kind;
      this.ids.set(entries[id].path, id);
    }
    const { names, start, ids } = data.postings;
    for (let k = 0; k < names.length; k++) this.postIndex.set(names[k], k);
    this.postStart = start;
    this.postIds = ids;
    this.includes = new IncludeGraph(this.paths, this.ids);
    const adopt = data.includers !== undefined && data.includers.start.length === entries.length + 1;
    if (adopt) this.includes.adopt(data.includers!);
    for (let id = 0; id < entries.length; id++) {
      const r = entries[id].rec;
      if (!r) this.skipped++;
      else if (r.t === 'kconfig') {
        for (const s of r.syms) if (!this.kconfig.has(s.name)) this.kconfig.set(s.name, s.type);
      } else if (r.t === 'src') this.addSource(id, r, !adopt);
    }
    for (let id = 0; id < entries.length; id++) {
      const r = entries[id].rec;
      if (r && r.t === 'make') this.kbuild.add(entries[id].path, r);
    }
    this.includes.freeze();
  }

  private rank(path: string): number {
    if (path.startsWith('include/')) return 0;
    if (path.startsWith('arch/')) return path.startsWith(`arch/${this.arch}/`) ? 1 : 3;
    if (path.startsWith('tools/')) return 5;
    if (path.startsWith('scripts/') || path.startsWith('samples/')) return 4;
    return 2;
  }

  private addSource(id: number, r: SourceRecord, includes: boolean): void {
    const rank = this.rank(this.paths[id]);
    const put = <T>(map: Map<string, Def<T>>, name: string, def: T) => {
      const old = map.get(name);
      if (!old || rank < old.rank) map.set(name, { id, def, rank });
    };
    for (const x of r.exports) put(this.exportsMap, x.sym, x);
    for (const x of r.keys) put(this.keysMap, x.name, x);
    for (const x of r.statics) put(this.staticsMap, x.name, x);
    for (const x of r.helpers) put(this.helpersMap, x.name, x);
    for (const x of r.macros) put(this.macrosMap, x.name, x);
    if (includes && r.includes.length) this.includes.addFile(id, r.includes);
  }

  // -------------------------------------------------------------------------
  // Building and loading

  /** Load the cache if present, rescan what changed, save the cache. Rejects only when cancelled. */
  static async build(tree: KernelTree, opts: BuildOptions = {}): Promise<TreeIndex> {
    const t0 = performance.now();
    const { signal } = opts;
    checkSignal(signal);
    const root = tree.root;
    const cacheFile = cacheFileName(opts.cacheDir ?? defaultCacheDir(), root);
    const progress = (phase: IndexProgress['phase'], done: number, total: number) => {
      try {
        opts.onProgress?.({ phase, done, total });
      } catch {
        // a failing progress callback does not stop the build
      }
    };

    const listing = await listTreeFiles(root, signal);
    checkSignal(signal);
    const cached = readCacheFile(cacheFile, root);
    const old = cached?.data;
    const oldIds = new Map<string, number>();
    if (old) for (let k = 0; k < old.entries.length; k++) oldIds.set(old.entries[k].path, k);

    // reuse what did not change
    const entries: IndexEntry[] = new Array(listing.length);
    const oldToNew = new Int32Array(old?.entries.length ?? 0).fill(-1);
    const jobs: ScanJob[] = [];
    const sizes: number[] = [];
    let reused = 0;
    for (let id = 0; id < listing.length; id++) {
      const f = listing[id];
      const oid = oldIds.get(f.path);
      const prev = oid === undefined ? undefined : old!.entries[oid];
      if (prev && prev.mtimeMs === f.mtimeMs && prev.size === f.size && prev.kind === f.kind) {
        entries[id] = prev;
        oldToNew[oid!] = id;
        reused++;
      } else {
        entries[id] = { path: f.path, kind: f.kind, mtimeMs: f.mtimeMs, size: f.size, rec: null, bloom: null };
        jobs.push({ id, path: f.path, kind: f.kind });
        sizes.push(f.size);
      }
    }
    const removed = old ? old.entries.length - reused : 0;
    const oldApi = old && jobs.length ? apiNames(old.entries) : undefined;

    // scan and link, in workers when it pays; the main thread when they are missing or fail
    let outcome: ScanOutcome | undefined;
    const threads = opts.workers ?? defaultWorkers();
    const wantWorkers = threads > 0 && jobs.length > 0 && (opts.workers !== undefined || jobs.length >= INLINE_BELOW);
    let backend: ScanBackend | undefined;
    try {
      if (wantWorkers) {
        try {
          const file = opts.workerFile ?? locateAsset('indexWorker.js');
          backend = new WorkerBackend(file, root, Math.max(1, Math.min(threads, jobs.length)));
        } catch {
          backend = undefined;
        }
        if (backend) {
          try {
            outcome = await scanAndLink(backend, entries, jobs, sizes, oldApi, oldToNew, progress, signal);
          } catch (e) {
            if (e instanceof CancelledError || signal?.aborted) throw new CancelledError('tree index build');
            outcome = undefined;
          } finally {
            backend.close();
          }
        }
      }
      if (!outcome) {
        backend = new InlineBackend(root);
        outcome = await scanAndLink(backend, entries, jobs, sizes, oldApi, oldToNew, progress, signal);
      }
    } catch (e) {
      backend?.close();
      if (e instanceof CancelledError || signal?.aborted) throw new CancelledError('tree index build');
      throw e;
    }
    checkSignal(signal);

    // apply: new records, blooms, postings
    for (const [id, rec] of outcome.recs) entries[id] = { ...entries[id], rec, bloom: null };
    if (outcome.link) for (let k = 0; k < outcome.link.bloomIds.length; k++) entries[outcome.link.bloomIds[k]].bloom = outcome.link.blooms[k];
    let bloomsChanged = false;
    const lists = new Map<string, Int32Array[]>();
    // nothing scanned, nothing added or removed: the ids and postings are those of the cache
    const unchanged = old !== undefined && outcome.recs.size === 0 && removed === 0 && entries.length === old.entries.length;
    // API names: from the scan, or, when only removals happened, from what is left
    const api = outcome.api ?? (removed > 0 ? apiNames(entries) : undefined);
    if (old && !unchanged) {
      const { names, start, ids } = old.postings;
      for (let p = 0; p < names.length; p++) {
        const name = names[p];
        const keep = api === undefined || api.has(name);
        const h = keep ? 0 : hashString(name);
        const mapped: number[] = [];
        for (let k = start[p]; k < start[p + 1]; k++) {
          const nid = oldToNew[ids[k]];
          if (nid < 0 || outcome.recs.has(nid)) continue;
          if (keep) mapped.push(nid);
          else {
            const e = entries[nid];
            if (e.bloom) {
              // no longer an API name: remember that the file calls it, in case it becomes one again
              if (!bloomHas(e.bloom, h)) {
                e.bloom = e.bloom.slice();
                bloomAdd(e.bloom, h);
              }
              bloomsChanged = true;
            }
          }
        }
        if (mapped.length) lists.set(name, [Int32Array.from(mapped)]);
      }
    }
    if (outcome.link) {
      const { names, lists: got } = outcome.link;
      for (let k = 0; k < names.length; k++) {
        const l = lists.get(names[k]);
        if (l) l.push(got[k]);
        else lists.set(names[k], [got[k]]);
      }
    }
    const merged = new Map<string, Int32Array>();
    for (const [name, parts] of lists) merged.set(name, concatSorted(parts));

    const data: IndexData = { root, entries, postings: unchanged ? old!.postings : packPostings(merged) };
    // the resolved include graph stays valid while the file list and every file's includes are the same
    if (old?.includers && sameIncludes(old.entries, entries, outcome.recs)) data.includers = old.includers;
    const info: BuildInfo = { buildMs: 0, rescanned: outcome.recs.size, fromCache: entries.length - outcome.recs.size, cacheBytes: cached?.bytes ?? 0 };
    const index = new TreeIndex(root, data, readConfig(root, opts.configFile), info);
    data.includers = index.includes.packed;
    if (!old || outcome.recs.size > 0 || removed > 0 || bloomsChanged || !old.includers) {
      checkSignal(signal);
      progress('save', 0, 1);
      try {
        const bytes = serializeIndex(data);
        checkSignal(signal);
        writeCacheFile(cacheFile, bytes);
        info.cacheBytes = bytes.length;
      } catch (e) {
        if (e instanceof CancelledError) throw e;
        info.cacheError = e instanceof Error ? e.message : String(e);
      }
      progress('save', 1, 1);
    }
    info.buildMs = performance.now() - t0;
    return index;
  }

  /** The cached index of the tree, without looking at the files; undefined when absent, corrupt or for another root. */
  static loadCached(tree: KernelTree, cacheDir?: string, opts: { configFile?: string } = {}): TreeIndex | undefined {
    const t0 = performance.now();
    try {
      const cached = readCacheFile(cacheFileName(cacheDir ?? defaultCacheDir(), tree.root), tree.root, false);
      if (!cached) return undefined;
      const info: BuildInfo = { buildMs: 0, rescanned: 0, fromCache: cached.data.entries.length, cacheBytes: cached.bytes };
      const index = new TreeIndex(tree.root, cached.data, readConfig(tree.root, opts.configFile), info);
      info.buildMs = performance.now() - t0;
      return index;
    } catch {
      return undefined;
    }
  }

  // -------------------------------------------------------------------------
  // Queries (in-memory lookups)

  /** Tree-relative '/' path of a path given relative to the root, with './' or '\\', or absolute inside the root. */
  private norm(p: string): string {
    let s = p;
    if (isAbsolute(s)) {
      const r = relative(this.root, s);
      if (!r.startsWith('..') && !isAbsolute(r)) s = r;
    }
    if (sep !== '/' || s.includes('\\')) s = s.split('\\').join('/');
    while (s.startsWith('./')) s = s.slice(2);
    return s;
  }

  private site(id: number, line: number): Site {
    return { file: this.paths[id], line };
  }

  exportOf(symbol: string): ExportInfo | undefined {
    const d = this.exportsMap.get(symbol);
    if (!d) return undefined;
    const info: ExportInfo = { ...this.site(d.id, d.def.line), macro: d.def.macro };
    if (d.def.ns) info.namespace = d.def.ns;
    return info;
  }

  staticKey(name: string): KeyInfo | undefined {
    const d = this.keysMap.get(name);
    if (!d) return undefined;
    const file = this.paths[d.id];
    return { file, line: d.def.line, macro: d.def.macro, where: this.objectKind(file) };
  }

  staticCall(name: string): StaticCallInfo | undefined {
    const d = this.staticsMap.get(name);
    if (!d) return undefined;
    const file = this.paths[d.id];
    return { file, line: d.def.line, where: this.objectKind(file) };
  }

  inlineHelper(name: string): InlineHelper | undefined {
    const d = this.helpersMap.get(name);
    if (!d) return undefined;
    return { ...this.site(d.id, d.def.line), keys: [...d.def.keys], calls: [...d.def.calls] };
  }

  isFunctionMacro(name: string): Site | undefined {
    const d = this.macrosMap.get(name);
    return d ? this.site(d.id, d.def.line) : undefined;
  }

  /**
   * Files that call `name(` (or use the macro `name(`), sorted. Only API
   * names are indexed: inline helpers and function-like macros defined in
   * headers, and exported symbols; any other name has no callers here.
   * Declarations and definitions (`int name(`) are not calls.
   */
  callersOf(name: string): string[] {
    const k = this.postIndex.get(name);
    if (k === undefined) return [];
    const from = this.postStart[k];
    const out = new Array<string>(this.postStart[k + 1] - from);
    for (let j = 0; j < out.length; j++) out[j] = this.paths[this.postIds[from + j]];
    return out;
  }

  /**
   * Files that #include `header` (a tree path such as include/linux/lens.h,
   * or an include spec such as <linux/lens.h> or linux/lens.h), sorted.
   * Transitive: the .c files that include it directly or through other files.
   */
  includersOf(header: string, transitive = false): string[] {
    const targets = this.targetsOf(header);
    if (!targets.length) return [];
    if (!transitive) {
      if (targets.length === 1) {
        // ascending ids are paths in order
        const from = this.includes.direct(targets[0]);
        const out = new Array<string>(from.length);
        for (let k = 0; k < from.length; k++) out[k] = this.paths[from[k]];
        return out;
      }
      const ids = new Set<number>();
      for (const t of targets) for (const id of Array.from(this.includes.direct(t))) ids.add(id);
      return [...ids].sort((a, b) => a - b).map((id) => this.paths[id]);
    }
    if (targets.length === 1) {
      const hit = this.transitiveMemo.get(targets[0]);
      if (hit) return [...hit];
    }
    let out: string[];
    if (targets.length === 1) {
      out = [];
      const ids = this.includes.transitive(targets[0]);
      for (let k = 0; k < ids.length; k++) if (this.kinds[ids[k]] === KIND_C) out.push(this.paths[ids[k]]);
    } else {
      const ids = new Set<number>();
      for (const t of targets) for (const id of this.includes.transitive(t)) if (this.kinds[id] === KIND_C) ids.add(id);
      out = [...ids].sort((a, b) => a - b).map((id) => this.paths[id]);
    }
    if (targets.length === 1) this.transitiveMemo.set(targets[0], out);
    return [...out];
  }

  private targetsOf(header: string): number[] {
    const h = header.trim();
    const id = this.ids.get(this.norm(h));
    if (id !== undefined) return [id];
    const spec = /^[<"].*[>"]$/.test(h) ? `<${h.slice(1, -1)}>` : `<${this.norm(h)}>`;
    return this.includes.resolve('', spec);
  }

  /** Where the object of a .c (or .S) file links: see kbuild.ts for the rules and approximations. Headers: 'unknown'. */
  objectKind(cFile: string): ObjectKind {
    return this.resolveObject(cFile).kind;
  }

  /**
   * The module (KBUILD_MODNAME, '-' read as '_') the file's object links
   * into: when it is built as a module, or, without a .config, when its
   * tristate option would make it one. Undefined for vmlinux, not built,
   * unknown placement.
   */
  moduleName(cFile: string): string | undefined {
    return this.resolveObject(cFile).module;
  }

  private resolveObject(cFile: string): ObjectResolution {
    const p = this.norm(cFile);
    let r = this.kindMemo.get(p);
    if (r) return r;
    if (this.configArch && p.startsWith('arch/') && !p.startsWith(`arch/${this.configArch}/`)) r = { kind: 'not-built' };
    else {
      r = this.kbuild.resolveSource(p);
      const id = this.ids.get(p);
      if (r.kind === 'unknown' && id !== undefined && p.endsWith('.c') && !this.kbuild.isListed(p) && !this.resolving.has(p)) {
        // not listed, but #included by .c files that are (kernel/sched/build_policy.c includes rt.c, ...)
        this.resolving.add(p);
        try {
          let via: ObjectResolution | undefined;
          const from = this.includes.direct(id);
          for (let k = 0; k < from.length; k++) {
            if (this.kinds[from[k]] !== KIND_C) continue;
            const got = this.resolveObject(this.paths[from[k]]);
            via = via ? strongest(via, got) : got;
          }
          if (via) r = via;
        } finally {
          this.resolving.delete(p);
        }
      }
      if (r.kind === 'vmlinux' || r.kind === 'not-built') r = { kind: r.kind };
    }
    // answers computed inside an include cycle may be partial: only top-level ones are kept
    if (!this.resolving.size) this.kindMemo.set(p, r);
    return r;
  }

  /** Type of a Kconfig symbol (name without CONFIG_). */
  kconfigType(symbol: string): KconfigType | undefined {
    return this.kconfig.get(symbol.startsWith('CONFIG_') ? symbol.slice(7) : symbol);
  }

  /** Value in the .config ('y', 'm', a number, a string without quotes); undefined when unset or without a .config. */
  configValue(symbol: string): string | undefined {
    return this.config?.get(symbol.startsWith('CONFIG_') ? symbol.slice(7) : symbol);
  }

  /** True when the tree-relative file is in the index (indexed or skipped). */
  hasFile(path: string): boolean {
    return this.ids.has(this.norm(path));
  }

  stats(): IndexStats {
    const callPostings = this.postIds.length;
    const s: IndexStats = {
      files: this.fileCount,
      exports: this.exportsMap.size,
      keys: this.keysMap.size,
      helpers: this.helpersMap.size,
      macros: this.macrosMap.size,
      buildMs: Math.round(this.info.buildMs),
      rescanned: this.info.rescanned,
      fromCache: this.info.fromCache,
      staticCalls: this.staticsMap.size,
      skipped: this.skipped,
      calledNames: this.postIndex.size,
      callPostings,
      includeEdges: this.includes.edgeCount,
      kbuildObjects: this.kbuild.objectCount,
      kconfigSymbols: this.kconfig.size,
      cacheBytes: this.info.cacheBytes,
    };
    if (this.info.cacheError) s.cacheError = this.info.cacheError;
    return s;
  }
}

// ---------------------------------------------------------------------------

interface ScanOutcome {
  /** Records of every file scanned (changed files and bloom rescans), by new id. */
  recs: Map<number, FileRecord | null>;
  link: LinkResult | undefined;
  /** The API names; undefined when nothing was scanned (then they are the cached ones). */
  api: Set<string> | undefined;
}

async function scanAndLink(
  backend: ScanBackend,
  entries: IndexEntry[],
  jobs: ScanJob[],
  sizes: number[],
  oldApi: Set<string> | undefined,
  oldToNew: Int32Array,
  progress: (phase: IndexProgress['phase'], done: number, total: number) => void,
  signal: AbortSignal | undefined,
): Promise<ScanOutcome> {
  if (!jobs.length) return { recs: new Map(), link: undefined, api: undefined };
  let total = jobs.length;
  let done = 0;
  const onDone = (n: number) => progress('scan', (done += n), total);
  progress('scan', 0, total);
  const recs = await backend.scan(jobs, sizes, onDone, signal);
  const current = (id: number) => (recs.has(id) ? recs.get(id)! : entries[id].rec);
  const view = entries.map((e, id) => (recs.has(id) ? { ...e, rec: current(id) } : e));
  const api = apiNames(view);

  if (oldApi) {
    // new API names: unchanged files whose bloom filter may hold one of them are scanned again
    const added: number[] = [];
    for (const name of api) if (!oldApi.has(name)) added.push(hashString(name));
    if (added.length) {
      const reusedIds = new Set<number>();
      for (let k = 0; k < oldToNew.length; k++) if (oldToNew[k] >= 0) reusedIds.add(oldToNew[k]);
      const more: ScanJob[] = [];
      const moreSizes: number[] = [];
      for (const id of reusedIds) {
        const e = entries[id];
        if (!isSource(e) || !e.rec || recs.has(id)) continue;
        if (!e.bloom || added.some((h) => bloomHas(e.bloom!, h))) {
          more.push({ id, path: e.path, kind: e.kind });
          moreSizes.push(e.size);
        }
      }
      if (more.length) {
        total += more.length;
        const again = await backend.scan(more, moreSizes, onDone, signal);
        for (const [id, rec] of again) recs.set(id, rec);
      }
    }
  }
  checkSignal(signal);
  let link: LinkResult | undefined;
  if (recs.size) {
    progress('link', 0, 1);
    link = await backend.link([...api], signal);
    progress('link', 1, 1);
  }
  return { recs, link, api };
}
