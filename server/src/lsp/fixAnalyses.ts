/**
 * The analyses a code action's edit needs (each with the syntax of one file),
 * kept for the last few (document version, file) pairs asked for. The edits of
 * several offers on one version share them: Neovim 0.7 cannot resolve, so every
 * code-action request computes all its edits at once. An edit of the document
 * or its close drops its entries.
 */
import type { PatchAnalysis } from '../core/analysis';

interface Entry {
  uri: string;
  analysis: Promise<PatchAnalysis>;
}

export class FixAnalyses {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly capacity = 4) {}

  get(uri: string, version: number, file: string | undefined, make: () => Promise<PatchAnalysis>): Promise<PatchAnalysis> {
    const key = JSON.stringify([uri, version, file ?? null]);
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit.analysis;
    }
    const e = { uri, analysis: make() };
    this.entries.set(key, e);
    while (this.entries.size > this.capacity) this.evict(this.entries.keys().next().value as string);
    return e.analysis;
  }

  /** Forget (and free) the kept analyses, of `uri` only when one is given. */
  drop(uri?: string): void {
    for (const [key, e] of [...this.entries]) if (uri === undefined || e.uri === uri) this.evict(key);
  }

  private evict(key: string): void {
    const e = this.entries.get(key);
    this.entries.delete(key);
    // Callers that already await it run first (their work after the await is synchronous), then it is freed.
    void e?.analysis.then((a) => a.dispose()).catch(() => undefined);
  }
}
