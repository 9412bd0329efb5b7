/**
 * Where an object file ends up — vmlinux, a module, or nowhere — read from
 * the Kbuild object lists of every Makefile/Kbuild of the tree and, when the
 * tree has one, its .config.
 *
 * Approximations (deliberate; a source tree is not a build):
 * - Directory descent (`obj-$(CONFIG_X) += dir/`) is not followed: an object
 *   listed in obj-y of a directory that is only entered for a module, or not
 *   entered at all, still reads as vmlinux.
 * - Makefile conditionals other than `ifdef/ifndef CONFIG_X` and
 *   `ifeq/ifneq ($(CONFIG_X),value)` are ignored; their assignments count.
 * - Names with make variables (`$(BITS)`, `$(MODULE_NAME)-y`) are skipped.
 * - `lib-y`/`lib-m` objects go into lib.a, linked into vmlinux.
 *
 * (TreeIndex adds two rules of its own: a .c file no makefile lists but
 * other .c files #include — kernel/sched/fair.c style — lands where they do;
 * with a .config, files under another architecture's arch/ are not built.)
 */
import { posix } from 'node:path';
import type { KconfigType, MakeGuard, MakeRecord } from './scan';

export type ObjectKind = 'vmlinux' | 'module' | 'not-built' | 'unknown';

export interface ObjectResolution {
  kind: ObjectKind;
  /** Name of the module the object would link into (KBUILD_MODNAME: '-' → '_'), when a module is possible. */
  module?: string;
}

interface Listing {
  dir: string;
  base: string;
  cond: string;
  guards: MakeGuard[];
}

const VMLINUX: ObjectResolution = { kind: 'vmlinux' };
const NOT_BUILT: ObjectResolution = { kind: 'not-built' };
const UNKNOWN: ObjectResolution = { kind: 'unknown' };
const ORDER: Record<ObjectKind, number> = { vmlinux: 3, module: 2, unknown: 1, 'not-built': 0 };

/** Where an object lands when several listings (or includers) place it: vmlinux over module over unknown over not built. */
export function strongest(a: ObjectResolution, b: ObjectResolution): ObjectResolution {
  return ORDER[b.kind] > ORDER[a.kind] || (b.kind === a.kind && !a.module && b.module) ? b : a;
}

function modName(obj: string): string {
  return posix.basename(obj, '.o').replace(/-/g, '_');
}

export class KbuildModel {
  private objs = new Map<string, Listing[]>();
  private memo = new Map<string, ObjectResolution>();

  constructor(
    private readonly config: Map<string, string> | undefined,
    private readonly typeOf: (sym: string) => KconfigType | undefined,
  ) {}

  /** Add the object lists of the Makefile/Kbuild at `path` (tree-relative). */
  add(path: string, rec: MakeRecord): void {
    const dir = posix.dirname(path) === '.' ? '' : posix.dirname(path);
    for (const a of rec.assigns) {
      for (const o of a.objs) {
        const obj = posix.normalize(dir ? `${dir}/${o}` : o);
        if (obj.startsWith('../') || obj.startsWith('/')) continue;
        let list = this.objs.get(obj);
        if (!list) this.objs.set(obj, (list = []));
        list.push({ dir, base: a.base, cond: a.cond, guards: a.guards });
      }
    }
    this.memo.clear();
  }

  get objectCount(): number {
    return this.objs.size;
  }

  /** True when some Makefile/Kbuild lists the object of this source file. */
  isListed(file: string): boolean {
    return /\.[cS]$/.test(file) && this.objs.has(file.slice(0, -2) + '.o');
  }

  /** Resolution of a source file (.c or .S); headers and other files are 'unknown'. */
  resolveSource(file: string): ObjectResolution {
    if (!/\.[cS]$/.test(file)) return UNKNOWN;
    return this.resolve(file.slice(0, -2) + '.o', 0);
  }

  private resolve(obj: string, depth: number): ObjectResolution {
    const hit = this.memo.get(obj);
    if (hit) return hit;
    const listings = this.objs.get(obj);
    let res = UNKNOWN;
    if (listings && depth < 8) {
      res = NOT_BUILT;
      for (const l of listings) res = strongest(res, this.listing(l, obj, depth));
    }
    this.memo.set(obj, res);
    return res;
  }

  private guardsHold(guards: MakeGuard[]): boolean {
    if (!this.config) return true;
    for (const g of guards) {
      const v = this.config.get(g.sym) ?? '';
      if ((v === g.value) !== g.eq) return false;
    }
    return true;
  }

  private listing(l: Listing, obj: string, depth: number): ObjectResolution {
    if (!this.guardsHold(l.guards)) return NOT_BUILT;
    const cond = l.cond;
    if (l.base === 'obj' || l.base === 'lib') {
      const lib = l.base === 'lib';
      const module: ObjectResolution = lib ? VMLINUX : { kind: 'module', module: modName(obj) };
      if (cond === 'y') return VMLINUX;
      if (cond === 'm') return module;
      if (cond === 'n') return NOT_BUILT;
      if (!cond.startsWith('CONFIG_')) return UNKNOWN;
      const sym = cond.slice(7);
      if (this.config) {
        const v = this.config.get(sym);
        return v === 'y' ? VMLINUX : v === 'm' ? module : NOT_BUILT;
      }
      const type = this.typeOf(sym);
      if (type === 'bool' || lib) return VMLINUX;
      if (type === 'tristate') return { kind: 'unknown', module: modName(obj) };
      return UNKNOWN;
    }
    // a part of the composite object <base>.o of the Makefile's directory
    const parent = posix.normalize(l.dir ? `${l.dir}/${l.base}.o` : `${l.base}.o`);
    if (parent === obj) return UNKNOWN;
    if (cond === 'n') return NOT_BUILT;
    if (cond.startsWith('CONFIG_') && this.config) {
      const v = this.config.get(cond.slice(7));
      if (v !== 'y' && v !== 'm') return NOT_BUILT;
    }
    return this.resolve(parent, depth + 1);
  }
}
