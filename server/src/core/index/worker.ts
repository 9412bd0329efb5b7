/**
 * Index worker thread (bundled to out/indexWorker.js): scans the files the
 * main thread hands it, keeps the names each file calls until the link
 * message, then answers with API postings and bloom filters and forgets them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ScanSession, type FileRecord, type ScanJob } from './scan';

export type ToWorker = { t: 'scan'; seq: number; jobs: ScanJob[] } | { t: 'link'; api: string[] };
export type FromWorker =
  | { t: 'scanned'; seq: number; ids: number[]; recs: (FileRecord | null)[] }
  | { t: 'linked'; names: string[]; lists: Int32Array[]; bloomIds: number[]; blooms: Uint8Array[] }
  | { t: 'error'; message: string };

const port = parentPort;
if (port) {
  const session = new ScanSession(String((workerData as { root: string }).root));
  port.on('message', (m: ToWorker) => {
    try {
      if (m.t === 'scan') {
        const ids: number[] = [];
        const recs: (FileRecord | null)[] = [];
        for (const job of m.jobs) {
          ids.push(job.id);
          recs.push(session.scanFile(job));
        }
        port.postMessage({ t: 'scanned', seq: m.seq, ids, recs } satisfies FromWorker);
      } else if (m.t === 'link') {
        const r = session.link(m.api);
        port.postMessage({ t: 'linked', ...r } satisfies FromWorker);
      }
    } catch (e) {
      port.postMessage({ t: 'error', message: e instanceof Error ? e.message : String(e) } satisfies FromWorker);
    }
  });
}
