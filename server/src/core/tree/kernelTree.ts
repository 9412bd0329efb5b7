/**
 * A kernel source tree on disk: detection, version, and cached reads of the
 * files a patch touches. Reads are synchronous (the CLI and the server both
 * read a handful of files per analysis) and confined to the tree's root.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import { decodeBytes, type DecodedText } from '../text';

export interface KernelVersion {
  version: number;
  patchlevel: number;
  sublevel: number;
  extra: string;
  /** "6.1.158" style. */
  text: string;
}

export interface TreeFile {
  text: string;
  decoded: DecodedText;
  /**
   * The lines (no EOL, no final empty line), split once and shared: the same
   * array object for as long as the file is unchanged on disk, so callers can
   * cache work keyed by it. Never mutate it.
   */
  readonly lines: readonly string[];
}

/** Largest source file the tree reader accepts (the biggest .c files in 6.1 are < 2 MiB). */
export const MAX_TREE_FILE_BYTES = 32 * 1024 * 1024;

export function parseKernelMakefile(makefile: string): KernelVersion | undefined {
  const get = (k: string) => new RegExp(`^${k}[ \\t]*=[ \\t]*(\\S*)`, 'm').exec(makefile)?.[1];
  const v = get('VERSION');
  const p = get('PATCHLEVEL');
  if (v === undefined || p === undefined || !/^\d+$/.test(v) || !/^\d+$/.test(p)) return undefined;
  const s = get('SUBLEVEL') ?? '0';
  const extra = get('EXTRAVERSION') ?? '';
  const sub = /^\d+$/.test(s) ? +s : 0;
  return { version: +v, patchlevel: +p, sublevel: sub, extra, text: `${v}.${p}.${sub}${extra}` };
}

/** Whether `p` is strictly below `root`. */
function inside(root: string, p: string): boolean {
  const r = relative(root, p);
  return r !== '' && r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r);
}

export class KernelTree {
  private cache = new Map<string, { mtimeMs: number; size: number; file: TreeFile | undefined }>();

  private constructor(
    readonly root: string,
    readonly version: KernelVersion | undefined,
    /** True when the folder has a kernel Makefile; false for a folder the user named anyway. */
    readonly isKernel: boolean,
  ) {}

  /** The folder if it looks like a Linux source tree (top Makefile with VERSION/PATCHLEVEL, Kconfig, kernel/). */
  static detect(dir: string): KernelTree | undefined {
    try {
      const root = resolve(dir);
      const mk = join(root, 'Makefile');
      if (!existsSync(mk) || !existsSync(join(root, 'Kconfig')) || !existsSync(join(root, 'kernel'))) return undefined;
      const version = parseKernelMakefile(readFileSync(mk, 'latin1').slice(0, 4096));
      if (!version) return undefined;
      return new KernelTree(root, version, true);
    } catch {
      return undefined;
    }
  }

  /** A folder the user explicitly named as the tree: accepted even without a kernel Makefile. */
  static open(dir: string): { tree?: KernelTree; error?: string } {
    const root = resolve(dir);
    let st;
    try {
      st = statSync(root);
    } catch {
      return { error: `kernel tree ${dir} does not exist` };
    }
    if (!st.isDirectory()) return { error: `kernel tree ${dir} is not a directory` };
    return { tree: KernelTree.detect(root) ?? new KernelTree(root, undefined, false) };
  }

  private realRoot: string | undefined;

  /**
   * Absolute path of a tree-relative path, or undefined if it would leave the
   * tree: an absolute path, `..`, a NUL byte, or a symlink (of the file or of
   * a folder on the way) that resolves outside the tree's real root.
   */
  private abs(rel: string): string | undefined {
    if (isAbsolute(rel) || rel.includes('\0')) return undefined;
    const p = normalize(join(this.root, rel));
    if (!inside(this.root, p)) return undefined;
    let real: string;
    try {
      this.realRoot ??= realpathSync(this.root);
      real = realpathSync(p);
    } catch {
      return undefined;
    }
    return inside(this.realRoot, real) ? real : undefined;
  }

  exists(rel: string): boolean {
    const p = this.abs(rel);
    if (!p) return false;
    try {
      return statSync(p).isFile();
    } catch {
      return false;
    }
  }

  /** Read a file of the tree (decoded, cached by mtime and size); undefined if absent or unreadable. */
  read(rel: string): TreeFile | undefined {
    const p = this.abs(rel);
    if (!p) return undefined;
    let st;
    try {
      st = statSync(p);
    } catch {
      return undefined;
    }
    if (!st.isFile() || st.size > MAX_TREE_FILE_BYTES) return undefined;
    const hit = this.cache.get(p);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.file;
    let file: TreeFile | undefined;
    try {
      const decoded = decodeBytes(readFileSync(p));
      const lines = decoded.text.split('\n');
      if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
      for (let k = 0; k < lines.length; k++) if (lines[k].endsWith('\r')) lines[k] = lines[k].slice(0, -1);
      file = { text: decoded.text, decoded, lines };
    } catch {
      file = undefined;
    }
    this.cache.set(p, { mtimeMs: st.mtimeMs, size: st.size, file });
    return file;
  }

  /**
   * Find the tree path for a path written in a patch: as given (already
   * stripped), else the raw path, else with more leading components removed
   * (what `patch -pN` guessing does).
   */
  resolvePath(stripped: string | null, raw: string | null): string | undefined {
    const candidates: string[] = [];
    if (stripped) candidates.push(stripped);
    if (raw && raw !== stripped) candidates.push(raw);
    const base = raw ?? stripped;
    if (base) {
      const parts = base.split('/');
      for (let k = 1; k < Math.min(parts.length, 4); k++) candidates.push(parts.slice(k).join('/'));
    }
    for (const c of candidates) if (this.exists(c)) return c.split(sep).join('/');
    return undefined;
  }
}
