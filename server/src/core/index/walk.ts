/**
 * The files of a kernel tree the index reads: C sources, headers, assembler
 * sources, Kbuild makefiles and Kconfig files, with their mtime and size.
 * Symbolic links are never followed (nothing outside the root is read);
 * hidden directories, Documentation/ and tools/testing/selftests/ are skipped.
 */
import { lstatSync, readdirSync, statSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { KIND_C, KIND_H, KIND_KCONFIG, KIND_MAKE, KIND_S, type FileKind } from './scan';
import { CancelledError } from '../cancel';

export interface TreeFileStat {
  /** Tree-relative, '/'-separated. */
  path: string;
  kind: FileKind;
  mtimeMs: number;
  size: number;
}

const SKIP_DIRS = new Set(['Documentation', 'tools/testing/selftests']);

export function fileKind(name: string): FileKind | undefined {
  const dot = name.lastIndexOf('.');
  const ext = dot >= 0 ? name.slice(dot) : '';
  if (ext === '.c') return name.endsWith('.mod.c') ? undefined : KIND_C;
  if (ext === '.h') return KIND_H;
  if (ext === '.S') return KIND_S;
  if (name === 'Makefile' || name === 'Kbuild') return KIND_MAKE;
  if (name === 'Kconfig' || name.startsWith('Kconfig.')) return KIND_KCONFIG;
  return undefined;
}


export function checkSignal(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError('tree index build');
}

const tick = () => new Promise<void>((r) => setImmediate(r));

/** Every indexable file under root, sorted by path. Yields to the event loop now and then; unreadable directories are skipped. */
export async function listTreeFiles(root: string, signal?: AbortSignal): Promise<TreeFileStat[]> {
  const out: TreeFileStat[] = [];
  const dirs: string[] = [''];
  let sinceYield = 0;
  while (dirs.length) {
    const rel = dirs.pop()!;
    const abs = rel ? join(root, rel) : root;
    let entries: Dirent[];
    try {
      entries = readdirSync(abs, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const d of entries) {
      const name = d.name;
      const path = rel ? `${rel}/${name}` : name;
      let isDir = d.isDirectory();
      let isFile = d.isFile();
      if (d.isSymbolicLink()) continue;
      if (!isDir && !isFile) {
        // file systems that do not report the type in readdir
        try {
          const st = lstatSync(join(abs, name));
          isDir = st.isDirectory();
          isFile = st.isFile();
        } catch {
          continue;
        }
      }
      if (isDir) {
        if (name.startsWith('.') || SKIP_DIRS.has(path)) continue;
        dirs.push(path);
        continue;
      }
      if (!isFile) continue;
      const kind = fileKind(name);
      if (kind === undefined) continue;
      try {
        const st = statSync(join(abs, name));
        out.push({ path, kind, mtimeMs: st.mtimeMs, size: st.size });
      } catch {
        // vanished or unreadable: not indexed
      }
    }
    if (++sinceYield >= 64) {
      sinceYield = 0;
      await tick();
      checkSignal(signal);
    }
  }
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}
