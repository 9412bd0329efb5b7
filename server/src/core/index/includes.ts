/**
 * The include graph of a tree: `#include <x>` and `#include "x"` resolved to
 * files of the tree, and the reverse edges (who includes a file).
 *
 * `<p>` resolves to include/p, include/uapi/p, include/generated/p and, for a
 * file under arch/A/, arch/A/include/{,uapi/,generated/}p — for files
 * outside arch/, to every architecture's copy (the build's architecture is
 * not known from the source). `<asm/p>` also resolves to
 * include/asm-generic/p where the architecture has no asm/p of its own (the
 * build generates a wrapper). Files under tools/ use tools/include,
 * tools/arch/A/include and tools/lib first. `"p"` is looked up relative to
 * the including file's directory, then like `<p>`; include paths added by
 * makefiles (-I) are not known, so such includes may stay unresolved.
 */
import { posix } from 'node:path';
import type { PackedGraph } from './cache';

interface Roots {
  common: Map<string, number[]>;
  arch: Map<string, Map<string, number[]>>;
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) {
    if (!list.includes(v)) list.push(v);
  } else m.set(k, [v]);
}

/** Keys under which the file at `rest` (the part after an include/ directory) can be included. */
function keysOf(rest: string): string[] {
  const keys = [rest];
  let r = rest;
  if (r.startsWith('generated/')) keys.push((r = r.slice(10)));
  if (r.startsWith('uapi/')) keys.push(r.slice(5));
  return keys;
}

const RE_ARCH = /^(?:tools\/)?arch\/([^/]+)\//;

export class IncludeGraph {
  private kernel: Roots = { common: new Map(), arch: new Map() };
  private tools: Roots = { common: new Map(), arch: new Map() };
  private generic = new Map<string, number>();
  private memo = new Map<string, number[]>();
  private reverse = new Map<number, number[]>();
  private edges = 0;
  /** After freeze(): who includes file k is revIds[revStart[k] .. revStart[k+1]). */
  private revStart: Int32Array | undefined;
  private revIds: Int32Array | undefined;

  constructor(
    private readonly paths: readonly string[],
    private readonly idOf: ReadonlyMap<string, number>,
  ) {
    for (let id = 0; id < paths.length; id++) {
      const p = paths[id];
      let m: RegExpExecArray | null;
      if (p.startsWith('include/')) {
        const rest = p.slice(8);
        for (const k of keysOf(rest)) push(this.kernel.common, k, id);
        if (rest.startsWith('asm-generic/')) this.generic.set(`asm/${rest.slice(12)}`, id);
      } else if ((m = /^(tools\/)?arch\/([^/]+)\/include\/(.+)$/.exec(p))) {
        const roots = m[1] ? this.tools : this.kernel;
        for (const k of keysOf(m[3])) {
          let byArch = roots.arch.get(k);
          if (!byArch) roots.arch.set(k, (byArch = new Map()));
          push(byArch, m[2], id);
        }
      } else if (p.startsWith('tools/include/')) {
        for (const k of keysOf(p.slice(14))) push(this.tools.common, k, id);
      } else if (p.startsWith('tools/lib/')) {
        push(this.tools.common, p.slice(10), id);
      }
    }
  }

  /** Files an include of `spec` (`<p>` or `"p"`) in file `from` can mean. */
  resolve(from: string, spec: string): number[] {
    const quoted = spec.startsWith('"');
    const name = spec.slice(1, -1);
    if (!name) return [];
    if (quoted) {
      const dir = posix.dirname(from);
      const p = posix.normalize(dir === '.' ? name : `${dir}/${name}`);
      const id = this.idOf.get(p);
      if (id !== undefined) return [id];
    }
    const tools = from.startsWith('tools/');
    const arch = RE_ARCH.exec(from)?.[1];
    const key = `${tools ? 't' : 'k'}${arch ?? ''}\0${name}`;
    const hit = this.memo.get(key);
    if (hit) return hit;
    let out = tools ? this.lookup(this.tools, name, arch) : [];
    if (!out.length) out = this.lookup(this.kernel, name, tools ? undefined : arch);
    if (name.startsWith('asm/') && !tools) {
      const g = this.generic.get(name);
      if (g !== undefined && (!arch || !this.kernel.arch.get(name)?.has(arch))) out = out.includes(g) ? out : [...out, g];
    }
    this.memo.set(key, out);
    return out;
  }

  private lookup(roots: Roots, name: string, arch: string | undefined): number[] {
    const common = roots.common.get(name) ?? [];
    const byArch = roots.arch.get(name);
    if (!byArch) return common;
    const out = [...common];
    if (arch) out.push(...(byArch.get(arch) ?? []));
    else for (const ids of byArch.values()) out.push(...ids);
    return out;
  }

  /** Record the includes of file `from`. */
  addFile(from: number, specs: readonly string[]): void {
    const path = this.paths[from];
    for (const spec of specs) {
      for (const to of this.resolve(path, spec)) {
        if (to === from) continue;
        const list = this.reverse.get(to);
        if (!list) this.reverse.set(to, [from]);
        else if (list[list.length - 1] !== from) list.push(from);
        else continue;
        this.edges++;
      }
    }
  }

  /** Take reverse edges resolved before (by an earlier build of the same file list) instead of addFile calls. */
  adopt(g: PackedGraph): void {
    this.revStart = g.start;
    this.revIds = g.ids;
    this.edges = g.ids.length;
    this.reverse.clear();
  }

  /** The reverse edges, packed (after freeze or adopt). */
  get packed(): PackedGraph | undefined {
    return this.revStart && this.revIds ? { start: this.revStart, ids: this.revIds } : undefined;
  }

  /** Pack the reverse edges (after the last addFile) and drop what only building needed. */
  freeze(): void {
    if (this.revStart) return;
    const n = this.paths.length;
    const start = new Int32Array(n + 1);
    const ids = new Int32Array(this.edges);
    let at = 0;
    for (let k = 0; k < n; k++) {
      start[k] = at;
      const list = this.reverse.get(k);
      if (list) {
        list.sort((a, b) => a - b);
        ids.set(list, at);
        at += list.length;
      }
    }
    start[n] = at;
    this.revStart = start;
    this.revIds = ids;
    this.reverse.clear();
    this.memo.clear();
  }

  get edgeCount(): number {
    return this.edges;
  }

  /** Files that include `to` directly (ids, ascending). */
  direct(to: number): ArrayLike<number> {
    if (this.revStart && this.revIds) return this.revIds.subarray(this.revStart[to], this.revStart[to + 1]);
    return this.reverse.get(to) ?? [];
  }

  /** Every file that includes `to` directly or through other files (ids, ascending). */
  transitive(to: number): Int32Array {
    const seen = new Uint8Array(this.paths.length);
    seen[to] = 1;
    const queue = new Int32Array(this.paths.length);
    let head = 0;
    let tail = 0;
    queue[tail++] = to;
    while (head < tail) {
      const from = this.direct(queue[head++]);
      for (let k = 0; k < from.length; k++) {
        const id = from[k];
        if (!seen[id]) {
          seen[id] = 1;
          queue[tail++] = id;
        }
      }
    }
    return queue.slice(1, tail).sort();
  }
}
