/**
 * Parsed pre-images of kernel-tree files, kept between analyses. While an
 * author edits a patch, the files it applies to do not change: their parse
 * text, syntax tree and entities are reused, and only the post-image is parsed
 * again (incrementally). Keyed by the tree's shared line array, so an entry
 * goes stale exactly when the file changes on disk. Trees live on the wasm
 * heap: evicted entries are deleted, and dispose() deletes the rest.
 */
import type { Tree } from './parser';
import type { ParseSource } from './source';
import type { SideEntities } from '../entities/extract';

export interface CachedSide {
  src: ParseSource;
  tree: Tree;
  ents: SideEntities;
}

export class ParseCache {
  private entries = new Map<readonly string[], CachedSide>();
  constructor(private readonly capacity = 48) {}

  get(lines: readonly string[]): CachedSide | undefined {
    const hit = this.entries.get(lines);
    if (hit) {
      // most recently used last
      this.entries.delete(lines);
      this.entries.set(lines, hit);
    }
    return hit;
  }

  set(lines: readonly string[], side: CachedSide): void {
    this.entries.set(lines, side);
    while (this.entries.size > this.capacity) {
      const [oldest, entry] = this.entries.entries().next().value as [readonly string[], CachedSide];
      this.entries.delete(oldest);
      entry.tree.delete();
    }
  }

  /** Does this tree belong to the cache (and so must not be deleted by an analysis)? */
  owns(tree: Tree | undefined): boolean {
    if (!tree) return false;
    for (const e of this.entries.values()) if (e.tree === tree) return true;
    return false;
  }

  get size(): number {
    return this.entries.size;
  }

  dispose(): void {
    for (const e of this.entries.values()) e.tree.delete();
    this.entries.clear();
  }
}
