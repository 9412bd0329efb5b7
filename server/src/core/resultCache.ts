/**
 * Per-file analysis results kept between analyses of a document that is
 * being edited. An edit usually touches one file of a patch; the entities,
 * facts and per-file findings of the other files are reused as they are.
 *
 * A file's result depends only on its own sections of the patch (their text
 * and where they start in the document, which fixes every range) and on its
 * pre-image: the hunks themselves, or for a kernel-tree file the file as read
 * from the tree (the tree's shared line array, a new one when the file changes
 * on disk). The key is exactly that. Rules run on every analysis: they see the
 * whole patch, the index and the target, none of which is cached here.
 */
import type { FileChange } from './patch/images';
import type { EntityChange } from './entities/diff';
import type { FactsMemo, FileFacts } from './facts';
import type { FunctionFacts } from './facts/extract';
import type { Finding } from './findings';

export interface FileResult {
  entities: EntityChange[];
  facts: FileFacts;
  /** Findings analyzeFile itself emitted for the file (KLP004, KLP009). */
  findings: Finding[];
}

export class FileResultCache {
  private readonly entries: Lru<FileResult>;
  /**
   * Facts of single functions, for the file an edit touches: its other
   * functions keep their text and place, so their facts are reused.
   */
  readonly functions: FactsMemo & { clear(): void } = new Lru<FunctionFacts>(4096);
  private ids = new WeakMap<object, number>();
  private nextId = 1;

  constructor(capacity = 64) {
    this.entries = new Lru<FileResult>(capacity);
  }

  /** The cache key of a file of a patch, or undefined when its result cannot be reused safely. */
  keyOf(fc: FileChange, docLines: readonly string[]): string | undefined {
    let pre: string;
    if (fc.confidence === 'hunks' || !fc.pre.exists) pre = 'hunks';
    else if (fc.pre.complete) {
      let id = this.ids.get(fc.pre.lines);
      if (id === undefined) this.ids.set(fc.pre.lines, (id = this.nextId++));
      pre = `tree#${id}`;
    } else return undefined;
    const parts = [fc.path, fc.confidence, pre];
    for (const d of fc.diffs) parts.push(String(d.headerLine), docLines.slice(d.headerLine, d.endLine + 1).join('\n'));
    return parts.join('\0');
  }

  get(key: string): FileResult | undefined {
    return this.entries.get(key);
  }

  set(key: string, result: FileResult): void {
    this.entries.set(key, result);
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
    this.functions.clear();
  }
}

/** A map that forgets its least recently used entries beyond `capacity`. */
class Lru<T> {
  private map = new Map<string, T>();
  constructor(private readonly capacity: number) {}
  get(key: string): T | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, v: T): void {
    this.map.set(key, v);
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as string);
  }
  get size(): number {
    return this.map.size;
  }
  clear(): void {
    this.map.clear();
  }
}
