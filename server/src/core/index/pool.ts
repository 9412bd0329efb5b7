/**
 * Scanning backends: worker threads running out/indexWorker.js, or the main
 * thread (fallback when the worker bundle is missing, and for small jobs
 * where starting threads costs more than it saves). Both keep the names each
 * scanned file calls until `link`, which turns them into API postings.
 */
import { Worker } from 'node:worker_threads';
import { ScanSession, type FileRecord, type LinkResult, type ScanJob } from './scan';
import { checkSignal } from './walk';
import { CancelledError } from '../cancel';
import type { FromWorker, ToWorker } from './worker';
import { append } from '../arrays';

export interface ScanBackend {
  readonly threads: number;
  /** Scan jobs; `onDone(n)` after every n files. Rejects with CancelledError when the signal aborts. */
  scan(jobs: ScanJob[], sizes: number[], onDone: (n: number) => void, signal?: AbortSignal): Promise<Map<number, FileRecord | null>>;
  link(api: string[], signal?: AbortSignal): Promise<LinkResult>;
  close(): void;
}

const tick = () => new Promise<void>((r) => setImmediate(r));

export class InlineBackend implements ScanBackend {
  readonly threads = 0;
  private session: ScanSession;

  constructor(root: string) {
    this.session = new ScanSession(root);
  }

  async scan(jobs: ScanJob[], _sizes: number[], onDone: (n: number) => void, signal?: AbortSignal): Promise<Map<number, FileRecord | null>> {
    const out = new Map<number, FileRecord | null>();
    let last = performance.now();
    let pending = 0;
    for (const job of jobs) {
      checkSignal(signal);
      out.set(job.id, this.session.scanFile(job));
      pending++;
      if (performance.now() - last > 10) {
        // keep the event loop (an LSP server) responsive
        onDone(pending);
        pending = 0;
        await tick();
        last = performance.now();
      }
    }
    if (pending) onDone(pending);
    checkSignal(signal);
    return out;
  }

  async link(api: string[], signal?: AbortSignal): Promise<LinkResult> {
    checkSignal(signal);
    return this.session.link(api);
  }

  close(): void {
    // nothing held
  }
}

export function mergeLinks(parts: LinkResult[]): LinkResult {
  if (parts.length === 1) return parts[0];
  const byName = new Map<string, Int32Array[]>();
  const out: LinkResult = { names: [], lists: [], bloomIds: [], blooms: [] };
  for (const p of parts) {
    for (let k = 0; k < p.names.length; k++) {
      const l = byName.get(p.names[k]);
      if (l) l.push(p.lists[k]);
      else byName.set(p.names[k], [p.lists[k]]);
    }
    append(out.bloomIds, p.bloomIds);
    append(out.blooms, p.blooms);
  }
  for (const [name, lists] of byName) {
    out.names.push(name);
    out.lists.push(concatSorted(lists));
  }
  return out;
}

/** One sorted posting list from several (a single list is returned as it is). */
export function concatSorted(parts: Int32Array[]): Int32Array {
  if (parts.length === 1) return parts[0];
  const all = new Int32Array(parts.reduce((n, l) => n + l.length, 0));
  let at = 0;
  for (const l of parts) {
    all.set(l, at);
    at += l.length;
  }
  return all.sort();
}

type Handler = (w: number, m: FromWorker) => void;

export class WorkerBackend implements ScanBackend {
  private workers: Worker[] = [];
  private handler: Handler | undefined;
  private fail: ((e: Error) => void) | undefined;
  private closed = false;
  /** A failure seen while no operation was running: the next one rejects with it. */
  private broken: Error | undefined;

  constructor(file: string, root: string, readonly threads: number) {
    for (let k = 0; k < threads; k++) {
      const w = new Worker(file, { workerData: { root } });
      w.on('message', (m: FromWorker) => {
        if (m.t === 'error') this.failed(new Error(`index worker: ${m.message}`));
        else this.handler?.(k, m);
      });
      w.on('error', (e) => this.failed(e instanceof Error ? e : new Error(String(e))));
      w.on('exit', (code) => {
        if (!this.closed) this.failed(new Error(`index worker exited with code ${code}`));
      });
      this.workers.push(w);
    }
  }

  private failed(e: Error): void {
    if (this.fail) this.fail(e);
    else this.broken ??= e;
  }

  /** Run one operation: resolves through `done`, rejects on a worker failure or cancellation. */
  private run<T>(signal: AbortSignal | undefined, start: (done: (v: T) => void) => void, handler: Handler): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => finish(new CancelledError('tree index build'));
      const finish = (err: Error | undefined, value?: T) => {
        this.handler = undefined;
        this.fail = undefined;
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(value as T);
      };
      if (signal?.aborted) return finish(new CancelledError('tree index build'));
      if (this.broken) return finish(this.broken);
      signal?.addEventListener('abort', onAbort);
      this.fail = (e) => finish(e);
      this.handler = handler;
      start((v) => finish(undefined, v));
    });
  }

  scan(jobs: ScanJob[], sizes: number[], onDone: (n: number) => void, signal?: AbortSignal): Promise<Map<number, FileRecord | null>> {
    // chunks of about 2 MB or 256 files, handed to whichever worker is idle
    const chunks: ScanJob[][] = [];
    let cur: ScanJob[] = [];
    let bytes = 0;
    for (let k = 0; k < jobs.length; k++) {
      cur.push(jobs[k]);
      bytes += sizes[k] ?? 0;
      if (bytes >= 2 << 20 || cur.length >= 256) {
        chunks.push(cur);
        cur = [];
        bytes = 0;
      }
    }
    if (cur.length) chunks.push(cur);
    const out = new Map<number, FileRecord | null>();
    let next = 0;
    let busy = 0;
    let finished: ((v: Map<number, FileRecord | null>) => void) | undefined;
    const send = (w: number) => {
      if (next < chunks.length) {
        busy++;
        this.workers[w].postMessage({ t: 'scan', seq: next, jobs: chunks[next++] } satisfies ToWorker);
      }
    };
    return this.run<Map<number, FileRecord | null>>(
      signal,
      (done) => {
        finished = done;
        if (!chunks.length) return done(out);
        for (let w = 0; w < this.workers.length; w++) send(w);
      },
      (w, m) => {
        if (m.t !== 'scanned') return;
        busy--;
        for (let k = 0; k < m.ids.length; k++) out.set(m.ids[k], m.recs[k]);
        onDone(m.ids.length);
        send(w);
        if (busy === 0 && next >= chunks.length) finished?.(out);
      },
    );
  }

  link(api: string[], signal?: AbortSignal): Promise<LinkResult> {
    const parts: LinkResult[] = [];
    let finished: ((v: LinkResult) => void) | undefined;
    return this.run<LinkResult>(
      signal,
      (done) => {
        finished = done;
        for (const w of this.workers) w.postMessage({ t: 'link', api } satisfies ToWorker);
      },
      (_w, m) => {
        if (m.t !== 'linked') return;
        parts.push({ names: m.names, lists: m.lists, bloomIds: m.bloomIds, blooms: m.blooms });
        if (parts.length === this.workers.length) finished?.(mergeLinks(parts));
      },
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.workers) void w.terminate();
  }
}
